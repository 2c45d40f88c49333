/* test_log.c — the daemon log: today's text byte for byte, JSON lines,
 * levels, a real fd, and whole records under concurrent writers. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/log.h"
#include "base/util.h"

static buf_t CAP;
static int NREC;
static log_level_t LAST;

static void capture(void *arg, log_level_t level, const char *rec, size_t len)
{
    cr_assert_eq(arg, &CAP);
    buf_append(&CAP, rec, len);
    NREC++;
    LAST = level;
}

static void capture_with(log_format_t f, log_level_t min, uint64_t (*clock)(void))
{
    buf_reset(&CAP);
    NREC = 0;
    log_config_t c = { .format = f, .min_level = min, .sink = capture, .sink_arg = &CAP,
                       .clock_ms = clock };
    log_configure(&c);
}

static void reset(void)
{
    log_configure(NULL);
    buf_free(&CAP);
}

static uint64_t fixed_clock(void) { return 1795362795123ull; }   /* 2026-11-22T15:53:15.123Z */

Test(log, text_is_todays_fprintf_text, .fini = reset)
{
    capture_with(LOG_FORMAT_TEXT, LOG_LEVEL_INFO, NULL);
    log_warn("lost %zu log lines: %s", (size_t)3, "disk full");
    cr_assert_str_eq(CAP.data, "nimbus: lost 3 log lines: disk full\n");
    cr_assert_eq(LAST, LOG_LEVEL_WARN);

    /* A caller's trailing newline (the fprintf habit) is not doubled. */
    buf_reset(&CAP);
    log_info("%s received, finishing in-flight calls\n", "Terminated");
    cr_assert_str_eq(CAP.data, "nimbus: Terminated received, finishing in-flight calls\n");

    buf_reset(&CAP);
    log_write_from(LOG_LEVEL_ERROR, "serve", "data dir %s: %s", "/x", "Permission denied");
    cr_assert_str_eq(CAP.data, "nimbus serve: data dir /x: Permission denied\n");

    /* Several lines, one record, the prefix on each: the start-up warning. */
    buf_reset(&CAP);
    NREC = 0;
    log_warn("WARNING: --insecure-no-sandbox: functions run as plain processes of this user,\n"
             "WARNING: with no isolation, no limits and access to everything it can reach.\n"
             "WARNING: Never run code you do not trust this way.\n");
    cr_assert_str_eq(CAP.data,
                     "nimbus: WARNING: --insecure-no-sandbox: functions run as plain processes of this user,\n"
                     "nimbus: WARNING: with no isolation, no limits and access to everything it can reach.\n"
                     "nimbus: WARNING: Never run code you do not trust this way.\n");
    cr_assert_eq(NREC, 1);

    buf_reset(&CAP);
    log_info("%s", "");
    cr_assert_str_eq(CAP.data, "nimbus: \n");
}

Test(log, levels_below_the_minimum_are_dropped, .fini = reset)
{
    capture_with(LOG_FORMAT_TEXT, LOG_LEVEL_WARN, NULL);
    log_debug("d");
    log_info("i");
    log_warn("w");
    log_error("e");
    cr_assert_str_eq(CAP.data, "nimbus: w\nnimbus: e\n");
    cr_assert_eq(NREC, 2);
    cr_assert(!log_enabled(LOG_LEVEL_INFO));
    cr_assert(log_enabled(LOG_LEVEL_ERROR));

    /* The default drops debug only. */
    log_configure(NULL);
    cr_assert(!log_enabled(LOG_LEVEL_DEBUG));
    cr_assert(log_enabled(LOG_LEVEL_INFO));
    capture_with(LOG_FORMAT_TEXT, LOG_LEVEL_DEBUG, NULL);
    log_debug("d");
    cr_assert_str_eq(CAP.data, "nimbus: d\n");
}

Test(log, json_lines, .fini = reset)
{
    capture_with(LOG_FORMAT_JSON, LOG_LEVEL_INFO, fixed_clock);
    log_warn("lost %d log lines: \"quoted\" \\ and\ttab", 2);
    cr_assert_str_eq(CAP.data,
                     "{\"time\":\"2026-11-22T15:53:15.123Z\",\"level\":\"warn\","
                     "\"msg\":\"lost 2 log lines: \\\"quoted\\\" \\\\ and\\ttab\"}\n");
    buf_reset(&CAP);
    log_write_from(LOG_LEVEL_ERROR, "serve", "two\nlines\n");
    cr_assert_str_eq(CAP.data,
                     "{\"time\":\"2026-11-22T15:53:15.123Z\",\"level\":\"error\",\"who\":\"serve\","
                     "\"msg\":\"two\\nlines\"}\n");

    /* Real time by default, and every record parses. */
    capture_with(LOG_FORMAT_JSON, LOG_LEVEL_DEBUG, NULL);
    log_debug("caf\xc3\xa9");
    cJSON *o = cJSON_Parse(CAP.data);
    cr_assert(o, "%s", CAP.data);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "level")->valuestring, "debug");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "msg")->valuestring, "caf\xc3\xa9");
    const char *t = cJSON_GetObjectItem(o, "time")->valuestring;
    cr_assert_eq(strlen(t), 24, "%s", t);
    cr_assert_eq(t[10], 'T');
    cr_assert_eq(t[23], 'Z');
    cJSON_Delete(o);
}

Test(log, long_message_whole, .fini = reset)
{
    capture_with(LOG_FORMAT_TEXT, LOG_LEVEL_INFO, NULL);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_info("<%s>", big);
    cr_assert_eq(CAP.len, 8 + 1 + 4999 + 1 + 1);
    cr_assert(!strncmp(CAP.data, "nimbus: <xxx", 12));
    cr_assert(!strcmp(CAP.data + CAP.len - 3, "x>\n"));
}

Test(log, keeps_errno, .fini = reset)
{
    capture_with(LOG_FORMAT_TEXT, LOG_LEVEL_INFO, NULL);
    errno = ENOSPC;
    log_error("x");
    cr_assert_eq(errno, ENOSPC);
}

Test(log, writes_to_its_fd, .fini = reset)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    log_config_t c = { .fd = p[1] };
    log_configure(&c);
    log_warn("WARNING: no cgroup this user may create");
    log_write_from(LOG_LEVEL_ERROR, "serve", "bad");
    char b[256];
    ssize_t n = read(p[0], b, sizeof b - 1);
    cr_assert_gt(n, 0);
    b[n] = '\0';
    cr_assert_str_eq(b, "nimbus: WARNING: no cgroup this user may create\nnimbus serve: bad\n");
    close(p[0]);
    close(p[1]);
}

Test(log, format_names)
{
    log_format_t f = LOG_FORMAT_TEXT;
    cr_assert_eq(log_format_parse("json", &f), 0);
    cr_assert_eq(f, LOG_FORMAT_JSON);
    cr_assert_eq(log_format_parse("text", &f), 0);
    cr_assert_eq(f, LOG_FORMAT_TEXT);
    cr_assert_eq(log_format_parse("JSON", &f), -1);
    cr_assert_eq(log_format_parse(NULL, &f), -1);
    cr_assert_str_eq(log_level_name(LOG_LEVEL_DEBUG), "debug");
    cr_assert_str_eq(log_level_name(LOG_LEVEL_INFO), "info");
    cr_assert_str_eq(log_level_name(LOG_LEVEL_WARN), "warn");
    cr_assert_str_eq(log_level_name(LOG_LEVEL_ERROR), "error");
}

#define THREADS 8
#define PER_THREAD 300

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++)
        log_info("worker %d line %d\nworker %d line %d continued", id, i, id, i);
    return NULL;
}

Test(log, concurrent_writers_never_interleave, .fini = reset)
{
    char path[] = "/tmp/nimbus-test-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    unlink(path);
    log_config_t c = { .fd = fd };
    log_configure(&c);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);

    off_t size = lseek(fd, 0, SEEK_END);
    char *all = malloc((size_t)size + 1);
    cr_assert_eq(pread(fd, all, (size_t)size, 0), size);
    all[size] = '\0';
    close(fd);
    /* Each record's two lines are adjacent, and every line is whole. */
    int next[THREADS] = { 0 };
    char *save = NULL;
    int lines = 0;
    for (char *l = strtok_r(all, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int id, n, id2, n2;
        cr_assert_eq(sscanf(l, "nimbus: worker %d line %d", &id, &n), 2, "%s", l);
        cr_assert(id >= 0 && id < THREADS);
        cr_assert_eq(n, next[id], "thread %d: line %d after %d", id, n, next[id]);
        char *l2 = strtok_r(NULL, "\n", &save);
        cr_assert(l2);
        cr_assert_eq(sscanf(l2, "nimbus: worker %d line %d continued", &id2, &n2), 2, "%s", l2);
        cr_assert(id2 == id && n2 == n, "%s / %s", l, l2);
        next[id]++;
        lines += 2;
    }
    cr_assert_eq(lines, THREADS * PER_THREAD * 2);
    free(all);
}
