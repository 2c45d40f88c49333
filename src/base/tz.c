/* tz.c — IANA time zones from TZif files, and the civil calendar.
 *
 * Owns the parse of a TZif file (RFC 8536: version 2+ files are read from
 * their 64-bit section, version 1 from the 32-bit one), of the POSIX TZ
 * string in its footer, and a process-wide cache of loaded zones (by name,
 * under one mutex; a loaded zone is never written again, so readers need no
 * lock). Must never call tzset/localtime (process-global state another
 * thread may be changing), never read outside /usr/share/zoneinfo, and never
 * print.
 */
#include "base/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define MAX_FILE (256 * 1024)
#define MAX_OFFSET (26 * 3600)       /* RFC 8536 keeps offsets within -25h..+26h */
#define MAX_TIME ((int64_t)1 << 60)  /* |transition| bound, so t + offset never overflows */
#define DAY 86400

/* One rule of a POSIX TZ string: the day DST starts or ends, and the local
 * time of day (seconds, may be negative or past 24h) it happens at. */
typedef struct {
    char kind;   /* 'J': Julian day 1-365, Feb 29 never counted; 'D': day 0-365; 'M': Mm.w.d */
    int a, b, c; /* J/D: a = day; M: a = month, b = week 1-5 (5 = last), c = weekday */
    int32_t time;
} tz_rule_t;

struct tz {
    char *name;
    int refs;          /* under g_lock, for shared zones */
    bool shared;       /* in the cache */
    bool builtin;      /* the static UTC */
    tz_t *next;        /* cache list */
    int64_t *trans;    /* transition instants, ascending */
    uint8_t *idx;      /* type in force from each transition */
    int ntrans;
    int32_t *offs;     /* utoff of each local time type */
    int ntypes;
    bool has_rule;     /* footer holds a POSIX TZ string */
    bool has_dst;
    int32_t std_off, dst_off;
    tz_rule_t start, end;
};

static int32_t g_utc_off;
static tz_t g_utc = {.name = "UTC", .builtin = true, .offs = &g_utc_off, .ntypes = 1};
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static tz_t *g_zones;

/* ---- civil calendar ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days are counted in 400-year eras starting on March 1, so the leap day is
 * the last day of its "year" and month lengths follow a fixed pattern. */
int64_t tz_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = floor_div(days, 146097);
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int tz_days_in_month(int64_t y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

int tz_weekday(int64_t days) { return (int)((days % 7 + 7 + 4) % 7); } /* 1970-01-01 was a Thursday */

/* ---- POSIX TZ strings (the TZif footer) ---- */

static const char *parse_abbr(const char *p)
{
    const char *s = p;
    if (*p == '<') {
        for (p++; *p && *p != '>'; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                  *p == '+' || *p == '-'))
                return NULL;
        return *p == '>' && p - s >= 4 ? p + 1 : NULL;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) p++;
    return p - s >= 3 ? p : NULL;
}

static const char *parse_num(const char *p, int max, int *out)
{
    if (*p < '0' || *p > '9') return NULL;
    int v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > max) return NULL;
    }
    *out = v;
    return p;
}

/* [+-]hh[:mm[:ss]] in seconds; hours up to max_h. */
static const char *parse_hms(const char *p, int max_h, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    if (!(p = parse_num(p, max_h, &h))) return NULL;
    if (*p == ':') {
        if (!(p = parse_num(p + 1, 59, &m))) return NULL;
        if (*p == ':' && !(p = parse_num(p + 1, 59, &s))) return NULL;
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *parse_rule(const char *p, tz_rule_t *r)
{
    if (*p == 'J') {
        r->kind = 'J';
        if (!(p = parse_num(p + 1, 365, &r->a)) || r->a < 1) return NULL;
    } else if (*p == 'M') {
        r->kind = 'M';
        if (!(p = parse_num(p + 1, 12, &r->a)) || r->a < 1 || *p != '.') return NULL;
        if (!(p = parse_num(p + 1, 5, &r->b)) || r->b < 1 || *p != '.') return NULL;
        if (!(p = parse_num(p + 1, 6, &r->c))) return NULL;
    } else {
        r->kind = 'D';
        if (!(p = parse_num(p, 365, &r->a))) return NULL;
    }
    r->time = 2 * 3600;
    if (*p == '/' && !(p = parse_hms(p + 1, 167, &r->time))) return NULL;
    return p;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3": POSIX counts offsets west of UTC. */
static int parse_posix(tz_t *z, const char *s)
{
    int32_t off;
    const char *p = parse_abbr(s);
    if (!p || !(p = parse_hms(p, 24, &off))) return -1;
    z->std_off = -off;
    z->has_rule = true;
    if (!*p) return 0;
    if (!(p = parse_abbr(p))) return -1;
    z->has_dst = true;
    z->dst_off = z->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, 24, &off))) return -1;
        z->dst_off = -off;
    }
    if (!*p) { /* no rules: the United States' since 2007, as the C library assumes */
        z->start = (tz_rule_t){'M', 3, 2, 0, 7200};
        z->end = (tz_rule_t){'M', 11, 1, 0, 7200};
        return 0;
    }
    if (*p != ',' || !(p = parse_rule(p + 1, &z->start))) return -1;
    if (*p != ',' || !(p = parse_rule(p + 1, &z->end))) return -1;
    return *p ? -1 : 0;
}

static int64_t rule_day(const tz_rule_t *r, int64_t y)
{
    int64_t jan1 = tz_days_from_civil(y, 1, 1);
    if (r->kind == 'J') return jan1 + r->a - 1 + (is_leap(y) && r->a >= 60);
    if (r->kind == 'D') return jan1 + r->a;
    int64_t first = tz_days_from_civil(y, r->a, 1);
    int day = (r->c - tz_weekday(first) + 7) % 7 + 7 * (r->b - 1);
    while (day >= tz_days_in_month(y, r->a)) day -= 7;
    return first + day;
}

typedef struct {
    int64_t at;
    int32_t to, from;
} tz_event_t;

/* The span at t by the footer's rule alone: the transitions of the years
 * around t, sorted, and the last one at or before t. */
static void rule_span(const tz_t *z, int64_t t, tz_span_t *out)
{
    if (!z->has_dst) {
        *out = (tz_span_t){INT64_MIN, INT64_MAX, z->std_off, z->std_off};
        return;
    }
    int64_t y;
    int m, d;
    tz_civil_from_days(floor_div(t, DAY), &y, &m, &d);
    tz_event_t ev[6];
    int n = 0;
    for (int64_t yy = y - 1; yy <= y + 1; yy++) {
        /* An end first: where one year's end meets the next year's start
         * (DST all year), the start must win. */
        ev[n++] = (tz_event_t){rule_day(&z->end, yy) * DAY + z->end.time - z->dst_off, z->std_off, z->dst_off};
        ev[n++] = (tz_event_t){rule_day(&z->start, yy) * DAY + z->start.time - z->std_off, z->dst_off, z->std_off};
    }
    for (int i = 1; i < n; i++) /* insertion sort, stable */
        for (int j = i; j > 0 && ev[j - 1].at > ev[j].at; j--) {
            tz_event_t tmp = ev[j];
            ev[j] = ev[j - 1];
            ev[j - 1] = tmp;
        }
    int k = -1;
    for (int i = 0; i < n; i++)
        if (ev[i].at <= t) k = i;
    if (k < 0) {
        *out = (tz_span_t){INT64_MIN, ev[0].at, ev[0].from, ev[0].from};
        return;
    }
    int64_t end = INT64_MAX;
    for (int i = k + 1; i < n; i++)
        if (ev[i].at > t) { end = ev[i].at; break; }
    *out = (tz_span_t){ev[k].at, end, ev[k].to, ev[k].from};
}

void tz_span_at(const tz_t *z, int64_t t, tz_span_t *out)
{
    int n = z->ntrans;
    if (n > 0 && t < z->trans[0]) {
        *out = (tz_span_t){INT64_MIN, z->trans[0], z->offs[0], z->offs[0]};
        return;
    }
    if (n == 0 || t >= z->trans[n - 1]) {
        int64_t base = n ? z->trans[n - 1] : INT64_MIN;
        int32_t off = n ? z->offs[z->idx[n - 1]] : z->offs[0];
        int32_t prev = n >= 2 ? z->offs[z->idx[n - 2]] : z->offs[0];
        if (!z->has_rule) {
            *out = (tz_span_t){base, INT64_MAX, off, prev};
            return;
        }
        rule_span(z, t, out);
        if (out->start < base) { /* the rule's span began before the file's last transition */
            out->start = base;
            out->prev_utoff = prev;
        }
        return;
    }
    int lo = 0, hi = n - 1; /* trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t) lo = mid;
        else hi = mid;
    }
    *out = (tz_span_t){z->trans[lo], z->trans[hi], z->offs[z->idx[lo]],
                       lo ? z->offs[z->idx[lo - 1]] : z->offs[0]};
}

int32_t tz_utoff(const tz_t *z, int64_t t)
{
    tz_span_t s;
    tz_span_at(z, t, &s);
    return s.utoff;
}

int64_t tz_local_to_utc(const tz_t *z, int64_t local, bool *exact)
{
    if (local < -MAX_TIME) local = -MAX_TIME;
    if (local > MAX_TIME) local = MAX_TIME;
    /* No offset exceeds 26 h, so the first instant that could read `local`
     * is after local - 27 h; walk the spans from there. */
    tz_span_t s;
    tz_span_at(z, local - 27 * 3600, &s);
    for (int i = 0; i < 64; i++) {
        int64_t lo = s.start == INT64_MIN ? INT64_MIN : s.start + s.utoff;
        int64_t hi = s.end == INT64_MAX ? INT64_MAX : s.end + s.utoff;
        if (local >= lo && local < hi) {
            if (exact) *exact = true;
            return local - s.utoff;
        }
        if (local < lo) { /* jumped over */
            if (exact) *exact = false;
            return s.start;
        }
        if (s.end == INT64_MAX) break;
        tz_span_at(z, s.end, &s);
    }
    if (exact) *exact = false;
    return local - s.utoff;
}

/* ---- TZif ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int64_t be64(const uint8_t *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

static void tz_destroy(tz_t *z)
{
    if (!z || z->builtin) return;
    free(z->name);
    free(z->trans);
    free(z->idx);
    free(z->offs);
    free(z);
}

static tz_t *bad_file(tz_t *z, err_t *err, const char *why)
{
    err_set(err, ERR_INVALID, "time zone '%.100s': its zone file is not usable (%s)", z->name, why);
    tz_destroy(z);
    return NULL;
}

tz_t *tz_from_tzif(const char *name, const void *data, size_t len, err_t *err)
{
    const uint8_t *p = data;
    tz_t *z = calloc(1, sizeof *z);
    if (!z || !(z->name = strdup(name ? name : ""))) abort();
    if (len < 44 || memcmp(p, "TZif", 4) != 0) return bad_file(z, err, "no TZif header");
    int version = p[4] ? p[4] - '0' : 1;
    if (version < 1 || version > 9) return bad_file(z, err, "unknown TZif version");
    int tsize = 4;
    for (int pass = 0;; pass++) {
        if (len < 44 || memcmp(p, "TZif", 4) != 0) return bad_file(z, err, "second header missing");
        uint32_t isut = be32(p + 20), isstd = be32(p + 24), leap = be32(p + 28);
        uint32_t timecnt = be32(p + 32), typecnt = be32(p + 36), charcnt = be32(p + 40);
        if (timecnt > 65536 || typecnt == 0 || typecnt > 256 || charcnt > 65536 || leap > 65536 ||
            (isut && isut != typecnt) || (isstd && isstd != typecnt))
            return bad_file(z, err, "bad counts");
        uint64_t body = (uint64_t)timecnt * (tsize + 1) + typecnt * 6u + charcnt +
                        (uint64_t)leap * (tsize + 4) + isstd + isut;
        if (len - 44 < body) return bad_file(z, err, "truncated");
        if (version >= 2 && pass == 0) { /* skip the 32-bit section for the 64-bit one */
            p += 44 + body;
            len -= 44 + body;
            tsize = 8;
            continue;
        }
        if (leap) return bad_file(z, err, "leap-second zones (right/...) are not supported");
        const uint8_t *q = p + 44;
        z->ntrans = (int)timecnt;
        z->ntypes = (int)typecnt;
        z->trans = malloc(sizeof *z->trans * (timecnt + 1));
        z->idx = malloc(timecnt + 1);
        z->offs = malloc(sizeof *z->offs * typecnt);
        if (!z->trans || !z->idx || !z->offs) abort();
        for (uint32_t i = 0; i < timecnt; i++, q += tsize) {
            z->trans[i] = tsize == 8 ? be64(q) : (int32_t)be32(q);
            if (z->trans[i] < -MAX_TIME || z->trans[i] > MAX_TIME || (i && z->trans[i] <= z->trans[i - 1]))
                return bad_file(z, err, "transitions out of order");
        }
        for (uint32_t i = 0; i < timecnt; i++, q++) {
            if (*q >= typecnt) return bad_file(z, err, "bad type index");
            z->idx[i] = *q;
        }
        for (uint32_t i = 0; i < typecnt; i++, q += 6) {
            int32_t off = (int32_t)be32(q);
            if (off < -MAX_OFFSET || off > MAX_OFFSET) return bad_file(z, err, "offset out of range");
            z->offs[i] = off;
        }
        p += 44 + body;
        len -= 44 + body;
        break;
    }
    if (version >= 2 && len > 0) {
        /* Footer: "\n" POSIX-TZ "\n"; an empty string means "no rule". */
        if (p[0] != '\n') return bad_file(z, err, "bad footer");
        const uint8_t *nl = memchr(p + 1, '\n', len - 1);
        if (!nl) return bad_file(z, err, "bad footer");
        size_t n = (size_t)(nl - p - 1);
        if (n > 0) {
            char tzs[128];
            if (n >= sizeof tzs || memchr(p + 1, '\0', n)) return bad_file(z, err, "footer too long");
            memcpy(tzs, p + 1, n);
            tzs[n] = '\0';
            if (parse_posix(z, tzs) != 0) return bad_file(z, err, "bad POSIX TZ rule in the footer");
            if (z->std_off < -MAX_OFFSET || z->std_off > MAX_OFFSET || z->dst_off < -MAX_OFFSET ||
                z->dst_off > MAX_OFFSET)
                return bad_file(z, err, "offset out of range");
        }
    }
    return z;
}

/* Zone names are paths under the zoneinfo directory: letters, digits and
 * "_+-", parts joined by '/', none of them "." or "..". */
static bool valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 255 || n[0] == '/' || n[len - 1] == '/') return false;
    for (const char *part = n; *part;) {
        const char *e = strchr(part, '/');
        size_t plen = e ? (size_t)(e - part) : strlen(part);
        if (plen == 0 || (plen == 1 && part[0] == '.') || (plen == 2 && part[0] == '.' && part[1] == '.'))
            return false;
        for (size_t i = 0; i < plen; i++) {
            char c = part[i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '+' || c == '-' || c == '.'))
                return false;
        }
        part += plen + (e != NULL);
    }
    return true;
}

static tz_t *read_zone(const char *name, err_t *err)
{
    char path[sizeof ZONEINFO_DIR + 258];
    snprintf(path, sizeof path, "%s/%s", ZONEINFO_DIR, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        bool missing = fd >= 0 || e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG || e == ELOOP;
        if (fd >= 0) close(fd);
        if (missing) {
            err_set(err, ERR_INVALID, "unknown time zone '%s'", name);
        } else {
            errno = e;
            err_sys(err, "time zone '%s': open %s", name, path);
        }
        return NULL;
    }
    if (st.st_size > MAX_FILE) {
        close(fd);
        err_set(err, ERR_INVALID, "time zone '%s': its zone file is not usable (too large)", name);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    if (!buf) abort();
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    tz_t *z = tz_from_tzif(name, buf, got, err);
    free(buf);
    return z;
}

tz_t *tz_load(const char *name, err_t *err)
{
    if (!name || !*name || strcmp(name, "UTC") == 0) return &g_utc;
    if (!valid_name(name)) {
        err_set(err, ERR_INVALID, "time zone name '%.100s' is not valid (an IANA name such as Europe/Paris)", name);
        for (char *p = err ? err->msg : NULL; p && *p; p++) /* echoed: keep it one printable line */
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
        return NULL;
    }
    pthread_mutex_lock(&g_lock);
    for (tz_t *z = g_zones; z; z = z->next)
        if (strcmp(z->name, name) == 0) {
            z->refs++;
            pthread_mutex_unlock(&g_lock);
            return z;
        }
    pthread_mutex_unlock(&g_lock);

    /* Read outside the lock; a thread that raced us to the same name wins. */
    tz_t *fresh = read_zone(name, err);
    if (!fresh) return NULL;
    pthread_mutex_lock(&g_lock);
    for (tz_t *z = g_zones; z; z = z->next)
        if (strcmp(z->name, name) == 0) {
            z->refs++;
            pthread_mutex_unlock(&g_lock);
            tz_destroy(fresh);
            return z;
        }
    fresh->shared = true;
    fresh->refs = 1;
    fresh->next = g_zones;
    g_zones = fresh;
    pthread_mutex_unlock(&g_lock);
    return fresh;
}

void tz_free(tz_t *z)
{
    if (!z || z->builtin) return;
    if (!z->shared) {
        tz_destroy(z);
        return;
    }
    pthread_mutex_lock(&g_lock);
    bool last = --z->refs == 0;
    if (last)
        for (tz_t **pp = &g_zones; *pp; pp = &(*pp)->next)
            if (*pp == z) {
                *pp = z->next;
                break;
            }
    pthread_mutex_unlock(&g_lock);
    if (last) tz_destroy(z);
}

const char *tz_name(const tz_t *z) { return z->name; }
