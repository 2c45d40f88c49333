/* fuzz_schedule.c — libFuzzer target for schedule expressions and zone files.
 *
 * Input, first byte even: byte 1 picks the time zone (a few real ones, an
 * invalid name, or — past the list — a name taken from the input), then
 * 8 bytes seed an instant, and the rest is the expression. The harness
 * parses it and walks a few next() calls from instants around 1970, now,
 * 2037, 2199 and the seeded one. First byte odd: the rest is a TZif file,
 * whose spans and wall-time conversions are probed at the same instants.
 *
 * Besides the sanitizers (and libFuzzer's timeout, which catches a search
 * that loops), it checks: a refusal is ERR_INVALID with a one-line message;
 * an accepted expression is kept as given; every slot is a whole second,
 * strictly after the instant asked about, and the slot after a slot is
 * later still; a cron slot is never past 2200; spans hold the instant they
 * were asked for; a wall time converted exactly reads back the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/schedule.h"
#include "base/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_schedule: invariant broken: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static const char *const ZONES[] = {NULL, "", "UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe",
                                    "Asia/Kolkata", "America/Santiago", "Pacific/Apia", "../etc/passwd",
                                    "Mars/Base"};
#define NZONES (sizeof ZONES / sizeof ZONES[0])

static const int64_t PROBES[] = {
    -86400000LL * 400, -1, 0, 1767225600000LL /* 2026 */, 1774746000000LL /* Paris spring 2026 */,
    2145916800000LL /* 2038 */, 7258032000000LL /* 2199-12-31 */, 7258118400000LL /* 2200 */,
    INT64_MAX / 2, INT64_MIN / 2,
};
#define NPROBES (sizeof PROBES / sizeof PROBES[0])
#define END_MS ((7258118400LL + 2 * 86400) * 1000)

static void check_next(const schedule_t *s, int64_t after, const char *expr)
{
    int64_t prev = after;
    for (int i = 0; i < 3; i++) {
        int64_t t = schedule_next(s, prev);
        if (t == -1) return;
        if (t <= prev) fail("slot not after the instant", expr);
        if (t % 1000) fail("slot not a whole second", expr);
        if (schedule_kind(s) == SCHEDULE_CRON && t >= END_MS) fail("cron slot past 2200", expr);
        if (schedule_kind(s) == SCHEDULE_AT && i > 0) fail("at() fired twice", expr);
        prev = t;
    }
}

static void fuzz_expr(const uint8_t *data, size_t size)
{
    if (size < 10) return;
    char name[64];
    const char *tz;
    size_t pick = data[0];
    data++, size--;
    if (pick < NZONES) {
        tz = ZONES[pick];
    } else { /* a name from the input: its first byte is its length */
        size_t n = data[0] % sizeof name;
        if (n + 1 > size) return;
        memcpy(name, data + 1, n);
        name[n] = '\0';
        if (memchr(name, '\0', n)) return;
        tz = name;
        data += n + 1, size -= n + 1;
    }
    if (size < 8) return;
    int64_t seed;
    memcpy(&seed, data, 8);
    data += 8, size -= 8;
    char *expr = malloc(size + 1);
    if (!expr) abort();
    memcpy(expr, data, size);
    expr[size] = '\0';
    if (strlen(expr) != size) { /* an embedded NUL: not a C string */
        free(expr);
        return;
    }
    err_t err = {0};
    schedule_t *s = schedule_parse(expr, tz, seed, &err);
    if (!s) {
        if (err.code != ERR_INVALID && !(err.code == ERR_SYS && tz == name)) fail("unexpected error class", err.msg);
        if (!err.msg[0]) fail("refusal without a message", expr);
        if (strchr(err.msg, '\n')) fail("message of more than one line", err.msg);
        free(expr);
        return;
    }
    if (strcmp(schedule_expr(s), expr) != 0) fail("expression not kept as given", expr);
    if (!schedule_tz(s) || !schedule_tz(s)[0]) fail("no zone name", expr);
    for (size_t i = 0; i < NPROBES; i++) check_next(s, PROBES[i], expr);
    check_next(s, seed, expr);
    schedule_free(s);
    free(expr);
}

static void fuzz_tzif(const uint8_t *data, size_t size)
{
    err_t err = {0};
    tz_t *z = tz_from_tzif("fuzz", data, size, &err);
    if (!z) {
        if (err.code != ERR_INVALID || !err.msg[0]) fail("bad zone refused without ERR_INVALID and a message", err.msg);
        return;
    }
    for (size_t i = 0; i < NPROBES; i++) {
        int64_t t = PROBES[i] / 1000;
        tz_span_t sp;
        tz_span_at(z, t, &sp);
        if (t < sp.start || t >= sp.end) fail("span does not hold its instant", NULL);
        if (sp.utoff != tz_utoff(z, t)) fail("offset differs from the span's", NULL);
        bool exact;
        int64_t u = tz_local_to_utc(z, t, &exact);
        if (exact && u + tz_utoff(z, u) != t) fail("wall time does not read back", NULL);
    }
    tz_free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    if (data[0] & 1) fuzz_tzif(data + 1, size - 1);
    else fuzz_expr(data + 1, size - 1);
    return 0;
}
