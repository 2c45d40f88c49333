/* schedule.c — schedule expressions: parse, and the next slot after an instant.
 *
 * Owns the grammar of every form in schedule.h and the search for the next
 * matching wall time. A cron search steps field by field (year, month, day,
 * hour, minute, second), one stretch of constant UTC offset at a time (the
 * zone's spans), so DST needs no special case beyond "a repeated wall time
 * counts once". Must never loop over seconds, never read the clock (every
 * instant comes from the caller), and never print.
 */
#include "base/schedule.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/tz.h"

#define YEAR_MIN 1970
#define YEAR_MAX 2199
#define NONE INT64_MAX
#define MAX_INTERVAL (36500LL * 86400) /* rate/@every: at most 100 years */
/* 2200-01-01T00:00:00Z plus two days, past any zone's offset: no slot after it. */
#define END_S (7258118400LL + 2 * 86400)

typedef enum { D_EVENTBRIDGE, D_FC, D_UNIX, D_SCF } dialect_t;
typedef enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_YEAR } field_t;

typedef struct {
    uint64_t sec, min;     /* bit n: second / minute n */
    uint32_t hour;         /* bit n: hour n */
    uint32_t dom;          /* bit d: day d of the month */
    uint32_t dom_w;        /* bit d: the weekday nearest day d (`dW`) */
    bool dom_last;         /* `L`: the month's last day */
    bool dom_lastwd;       /* `LW`: the month's last weekday */
    uint16_t mon;          /* bit m: month m (1-12) */
    uint8_t dow;           /* bit w: weekday w (0 = Sunday) */
    uint8_t dow_last;      /* bit w: the month's last weekday w (`nL`) */
    int nth_wd, nth_k;     /* `w#k`: the k-th weekday w of the month; k = 0: none */
    bool dom_star, dow_star; /* field unrestricted: the other decides alone */
    bool dom_only;         /* days are the dom bits alone: the search may jump to the next one */
    uint64_t year[4];      /* bit y - 1970 */
} cron_t;

struct schedule {
    schedule_kind_t kind;
    char *expr;
    tz_t *tz;
    int64_t anchor_s, interval_s; /* rate, @every */
    int64_t at_s;                 /* at() */
    cron_t cron;
};

static const char *const FIELD_NAME[] = {"seconds", "minutes", "hours", "day-of-month", "month",
                                         "day-of-week", "year"};
static const char *const MONTHS[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const DAYS[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Messages name the expression (cut to a readable length) first. */
static schedule_t *fail(err_t *err, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static schedule_t *fail(err_t *err, const char *expr, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = strlen(expr);
    err_set(err, ERR_INVALID, "%.*s%s: %s", n > 80 ? 77 : (int)n, expr, n > 80 ? "..." : "", msg);
    /* The expression is echoed: keep the message one printable line. */
    for (char *p = err ? err->msg : NULL; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return NULL;
}

/* ---- cron fields ---- */

typedef struct {
    dialect_t d;
    field_t f;
    int lo, hi;        /* values a number may take */
    int star_lo;       /* where `*` starts (DOW outside EventBridge: 0-6, though 7 is Sunday too) */
    int star_hi;
} fspec_t;

static void fspec_init(fspec_t *fs, dialect_t d, field_t f)
{
    static const int lo[] = {0, 0, 0, 1, 1, 0, YEAR_MIN}, hi[] = {59, 59, 23, 31, 12, 7, YEAR_MAX};
    fs->d = d;
    fs->f = f;
    fs->lo = lo[f];
    fs->hi = hi[f];
    if (f == F_DOW && d == D_EVENTBRIDGE) fs->lo = 1;
    fs->star_lo = fs->lo;
    fs->star_hi = f == F_DOW && d != D_EVENTBRIDGE ? 6 : fs->hi;
}

/* A 256-bit set: field values during the parse (years offset by 1970). */
typedef struct {
    uint64_t w[4];
} bits_t;

static void bits_add(bits_t *b, int v) { b->w[v >> 6] |= 1ULL << (v & 63); }

/* The weekday (0 = Sunday) a day-of-week number stands for. */
static int to_weekday(const fspec_t *fs, int v) { return fs->d == D_EVENTBRIDGE ? v - 1 : v % 7; }

static void add_value(const fspec_t *fs, bits_t *b, int v)
{
    if (fs->f == F_DOW) bits_add(b, to_weekday(fs, v));
    else bits_add(b, fs->f == F_YEAR ? v - YEAR_MIN : v);
}

/* A number or (month, day-of-week) a name; *end just past it. */
static int parse_value(const fspec_t *fs, const char *s, const char **end, int *out, char *why, size_t wn)
{
    if (*s >= '0' && *s <= '9') {
        long v = 0;
        const char *p = s;
        while (*p >= '0' && *p <= '9' && p - s < 5) v = v * 10 + (*p++ - '0');
        if (*p >= '0' && *p <= '9') v = 99999;
        *end = p;
        if (v < fs->lo || v > fs->hi) {
            snprintf(why, wn, "'%.*s' is out of range %d-%d", (int)(p - s), s, fs->lo, fs->hi);
            return -1;
        }
        *out = (int)v;
        return 0;
    }
    const char *const *names = fs->f == F_MON ? MONTHS : fs->f == F_DOW ? DAYS : NULL;
    int count = fs->f == F_MON ? 12 : 7;
    for (int i = 0; names && i < count; i++)
        if (strncasecmp(s, names[i], 3) == 0) {
            *end = s + 3;
            *out = fs->f == F_MON ? i + 1 : fs->d == D_EVENTBRIDGE ? i + 1 : i;
            return 0;
        }
    const char *p = s;
    while (*p && *p != '-' && *p != '/' && *p != '#') p++;
    snprintf(why, wn, "'%.*s' is not a %s value", (int)(p - s), s, names ? "known" : "number");
    return -1;
}

static int parse_uint(const char *s, const char **end, int max, int *out)
{
    if (*s < '0' || *s > '9') return -1;
    long v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > max) return -1;
    }
    *end = s;
    *out = (int)v;
    return 0;
}

/* One comma-separated item: `*`, `?`, a value, a range, a step, or one of
 * the day specials. */
static int parse_item(const fspec_t *fs, const char *it, bits_t *b, cron_t *c, char *why, size_t wn)
{
    size_t n = strlen(it);
    bool dom = fs->f == F_DOM, dow = fs->f == F_DOW;
    if (n == 0) return snprintf(why, wn, "an empty item"), -1;
    if (strcmp(it, "?") == 0) {
        if (!dom && !dow) return snprintf(why, wn, "'?' is allowed only in day-of-month and day-of-week"), -1;
        for (int v = fs->star_lo; v <= fs->star_hi; v++) add_value(fs, b, v);
        return 0;
    }
    const char *p;
    int v, k;
    if (dom && (strcmp(it, "L") == 0 || strcmp(it, "LW") == 0)) {
        if (it[1]) c->dom_lastwd = true;
        else c->dom_last = true;
        return 0;
    }
    if (dom && n >= 2 && it[n - 1] == 'W') {
        if (parse_value(fs, it, &p, &v, why, wn) != 0) return -1;
        if (p != it + n - 1) return snprintf(why, wn, "'%s': W takes one day, as in 15W", it), -1;
        c->dom_w |= 1u << v;
        return 0;
    }
    if (dow && strcmp(it, "L") == 0) {
        bits_add(b, 6);
        return 0;
    }
    if (dow && n >= 2 && it[n - 1] == 'L') {
        if (parse_value(fs, it, &p, &v, why, wn) != 0) return -1;
        if (p != it + n - 1) return snprintf(why, wn, "'%s': L takes one weekday, as in 6L", it), -1;
        c->dow_last |= (uint8_t)(1u << to_weekday(fs, v));
        return 0;
    }
    if (dow && strchr(it, '#')) {
        if (parse_value(fs, it, &p, &v, why, wn) != 0) return -1;
        if (*p != '#' || parse_uint(p + 1, &p, 9, &k) != 0 || *p || k < 1 || k > 5)
            return snprintf(why, wn, "'%s': # takes a weekday and a week 1-5, as in 3#2", it), -1;
        c->nth_wd = to_weekday(fs, v);
        c->nth_k = k;
        return 0;
    }
    if (!dom && !dow && (strchr(it, '#') || strcmp(it, "L") == 0 || strcmp(it, "LW") == 0 ||
                         (it[0] >= '0' && it[0] <= '9' && (it[n - 1] == 'L' || it[n - 1] == 'W'))))
        return snprintf(why, wn, "'%s': L, W and # are allowed only in day-of-month and day-of-week", it), -1;
    int a, z, step = 1;
    if (it[0] == '*') {
        a = fs->star_lo;
        z = fs->star_hi;
        p = it + 1;
    } else {
        if (parse_value(fs, it, &p, &a, why, wn) != 0) return -1;
        z = a;
        if (*p == '-') {
            if (parse_value(fs, p + 1, &p, &z, why, wn) != 0) return -1;
            if (z < a) return snprintf(why, wn, "range '%s' runs backwards", it), -1;
        } else if (*p == '/') {
            z = fs->star_hi; /* "5/15": from 5 to the field's end */
        }
    }
    if (*p == '/') {
        if (parse_uint(p + 1, &p, 9999, &step) != 0 || step < 1)
            return snprintf(why, wn, "'%s': the step after / must be a whole number >= 1", it), -1;
    }
    if (*p) return snprintf(why, wn, "'%s' is not a value, range or step", it), -1;
    for (int x = a; x <= z; x += step) add_value(fs, b, x);
    return 0;
}

static int parse_field(const fspec_t *fs, const char *text, cron_t *c, bits_t *out, char *why, size_t wn)
{
    memset(out, 0, sizeof *out);
    if (fs->f == F_DOW && strchr(text, '#') && strchr(text, ','))
        return snprintf(why, wn, "'%s': an item with # must be alone in the field", text), -1;
    char item[64];
    for (const char *s = text;;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n >= sizeof item) return snprintf(why, wn, "item '%.20s...' is too long", s), -1;
        memcpy(item, s, n);
        item[n] = '\0';
        if (parse_item(fs, item, out, c, why, wn) != 0) return -1;
        if (!e) return 0;
        s = e + 1;
    }
}

/* `fields` hold n whitespace-separated words of the expression. */
static schedule_t *parse_cron(schedule_t *s, dialect_t d, char **fields, int n, err_t *err)
{
    static const field_t ORDER[][7] = {
        [D_EVENTBRIDGE] = {F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_YEAR},
        [D_FC] = {F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW},
        [D_UNIX] = {F_MIN, F_HOUR, F_DOM, F_MON, F_DOW},
        [D_SCF] = {F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_YEAR},
    };
    cron_t *c = &s->cron;
    memset(c, 0, sizeof *c);
    c->sec = 1; /* second 0, unless a seconds field says otherwise */
    memset(c->year, 0xff, sizeof c->year);
    c->dom_star = c->dow_star = true;
    const char *dom_text = "*", *dow_text = "*";
    for (int i = 0; i < n; i++) {
        fspec_t fs;
        fspec_init(&fs, d, ORDER[d][i]);
        bits_t b;
        char why[200];
        if (parse_field(&fs, fields[i], c, &b, why, sizeof why) != 0)
            return fail(err, s->expr, "%s: %s", FIELD_NAME[fs.f], why);
        bool star = fields[i][0] == '*' || fields[i][0] == '?';
        switch (fs.f) {
        case F_SEC: c->sec = b.w[0]; break;
        case F_MIN: c->min = b.w[0]; break;
        case F_HOUR: c->hour = (uint32_t)b.w[0]; break;
        case F_DOM: c->dom = (uint32_t)b.w[0]; c->dom_star = star; dom_text = fields[i]; break;
        case F_MON: c->mon = (uint16_t)b.w[0]; break;
        case F_DOW: c->dow = (uint8_t)b.w[0]; c->dow_star = star; dow_text = fields[i]; break;
        case F_YEAR: memcpy(c->year, b.w, sizeof c->year); break;
        }
    }
    if (d == D_EVENTBRIDGE && (strcmp(dom_text, "?") == 0) == (strcmp(dow_text, "?") == 0))
        return fail(err, s->expr, "EventBridge cron needs '?' in exactly one of day-of-month and day-of-week "
                                  "(got '%s' and '%s')", dom_text, dow_text);
    c->dom_only = c->dow_star && c->dow == 0x7f && !c->dow_last && !c->nth_k && !c->dom_last &&
                  !c->dom_lastwd && !c->dom_w;
    s->kind = SCHEDULE_CRON;
    return s;
}

/* ---- cron search ---- */

static int next_bit64(uint64_t m, int from)
{
    if (from >= 64) return -1;
    m &= ~0ULL << from;
    return m ? __builtin_ctzll(m) : -1;
}

static int next_year(const cron_t *c, int64_t y)
{
    for (int i = (int)(y - YEAR_MIN); i >= 0 && i <= YEAR_MAX - YEAR_MIN; i = (i | 63) + 1) {
        int b = next_bit64(c->year[i >> 6], i & 63);
        if (b >= 0) return YEAR_MIN + (i & ~63) + b <= YEAR_MAX ? YEAR_MIN + (i & ~63) + b : -1;
    }
    return -1;
}

/* Day d of a month of mlen days, whose first day is weekday wd1. */
static bool day_ok(const cron_t *c, int d, int mlen, int wd1)
{
    int wd = (wd1 + d - 1) % 7;
    bool dom = (c->dom >> d & 1) != 0 || (c->dom_last && d == mlen);
    if (!dom && c->dom_lastwd) {
        int wl = (wd1 + mlen - 1) % 7, last = wl == 6 ? mlen - 1 : wl == 0 ? mlen - 2 : mlen;
        dom = d == last;
    }
    for (uint32_t w = c->dom_w; !dom && w; w &= w - 1) {
        int n = __builtin_ctz(w);
        if (n > mlen) continue; /* no such day this month: no nearest weekday either */
        int wn = (wd1 + n - 1) % 7;
        /* The nearest weekday stays in the month: the 1st on a Saturday
         * moves to Monday the 3rd, a last day on a Sunday to Friday. */
        int near = wn == 6 ? (n == 1 ? 3 : n - 1) : wn == 0 ? (n == mlen ? n - 2 : n + 1) : n;
        dom = d == near;
    }
    bool dow = (c->dow >> wd & 1) != 0 || ((c->dow_last >> wd & 1) && d + 7 > mlen) ||
               (c->nth_k && wd == c->nth_wd && (d - 1) / 7 + 1 == c->nth_k);
    if (c->dom_star || c->dow_star) return dom && dow;
    return dom || dow;
}

static int64_t wall(int64_t y, int m, int d, int h, int mi, int s)
{
    return (tz_days_from_civil(y, m, 1) + d - 1) * 86400 + h * 3600 + mi * 60 + s;
}

/* The first wall time in [lo, hi) the fields match, or NONE. Each pass
 * either returns or moves to the next candidate of the first field that
 * fails, resetting the fields below it. */
static int64_t cron_search(const cron_t *c, int64_t lo, int64_t hi)
{
    int64_t days = floor_div(lo, 86400), y;
    int rem = (int)(lo - days * 86400), m, d;
    tz_civil_from_days(days, &y, &m, &d);
    int h = rem / 3600, mi = rem / 60 % 60, s = rem % 60;
    for (;;) {
        if (y < YEAR_MIN) y = YEAR_MIN, m = 1, d = 1, h = mi = s = 0;
        if (m > 12) y++, m = 1;
        if (y > YEAR_MAX || wall(y, m, d, h, mi, s) >= hi) return NONE;
        int ny = next_year(c, y);
        if (ny < 0) return NONE;
        if (ny != y) {
            y = ny, m = 1, d = 1, h = mi = s = 0;
            continue;
        }
        int nm = m <= 12 ? next_bit64(c->mon, m) : -1;
        if (nm < 0 || nm > 12) {
            y++, m = 1, d = 1, h = mi = s = 0;
            continue;
        }
        if (nm != m) {
            m = nm, d = 1, h = mi = s = 0;
            continue;
        }
        int mlen = tz_days_in_month(y, m);
        if (d > mlen) {
            m++, d = 1, h = mi = s = 0;
            continue;
        }
        if (c->dom_only) {
            int nd = next_bit64(c->dom, d);
            if (nd < 0 || nd > mlen) {
                m++, d = 1, h = mi = s = 0;
                continue;
            }
            if (nd != d) {
                d = nd, h = mi = s = 0;
                continue;
            }
        } else if (!day_ok(c, d, mlen, tz_weekday(tz_days_from_civil(y, m, 1)))) {
            d++, h = mi = s = 0;
            continue;
        }
        int nh = next_bit64(c->hour, h);
        if (nh < 0) {
            d++, h = mi = s = 0;
            continue;
        }
        if (nh != h) h = nh, mi = s = 0;
        int nmi = next_bit64(c->min, mi);
        if (nmi < 0) {
            h++, mi = s = 0;
            continue;
        }
        if (nmi != mi) mi = nmi, s = 0;
        int ns = next_bit64(c->sec, s);
        if (ns < 0) {
            mi++, s = 0;
            continue;
        }
        int64_t w = wall(y, m, d, h, mi, ns);
        return w < hi ? w : NONE;
    }
}

/* Walk the zone's spans from t0: in each, the wall clock runs evenly, so
 * the first matching wall time in its range is the answer, unless the
 * clocks went back at the span's start and that wall time was already
 * shown before (then it fired at its first occurrence). Wall times a
 * spring-forward gap skips lie in no span's range: never matched.
 *
 * So the wall times searched only grow from one span to the next, and the
 * first match at or after a span's start, wherever it falls, bounds the
 * answer from below: spans that end before that wall time can be jumped
 * over (no offset exceeds 26 h), and no match at all means no slot. */
static int64_t cron_next(const schedule_t *sc, int64_t t0)
{
    tz_span_t sp;
    tz_span_at(sc->tz, t0, &sp);
    for (;;) {
        int64_t from = (sp.start > t0 ? sp.start : t0) + sp.utoff;
        int64_t hi = sp.end >= END_S ? INT64_MAX : sp.end + sp.utoff;
        int64_t repeat_end = sp.start != INT64_MIN && sp.prev_utoff > sp.utoff ? sp.start + sp.prev_utoff : 0;
        if (from < repeat_end) from = repeat_end;
        int64_t w = cron_search(&sc->cron, from, INT64_MAX);
        if (w == NONE) return -1;
        if (w < hi) return w - sp.utoff;
        if (sp.end >= END_S || sp.end <= t0) return -1;
        t0 = w - 27 * 3600 > sp.end ? w - 27 * 3600 : sp.end;
        tz_span_at(sc->tz, t0, &sp);
    }
}

/* ---- the other forms ---- */

/* "5 minutes" inside rate(...). */
static schedule_t *parse_rate(schedule_t *s, const char *in, err_t *err)
{
    static const struct { const char *one, *many; int64_t secs; } UNITS[] = {
        {"minute", "minutes", 60}, {"hour", "hours", 3600}, {"day", "days", 86400}};
    const char *p = in;
    int64_t v = 0;
    if (*p < '0' || *p > '9') return fail(err, s->expr, "rate needs a whole number and a unit, as in rate(5 minutes)");
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > MAX_INTERVAL) return fail(err, s->expr, "the rate is longer than 100 years");
    }
    if (*p != ' ') return fail(err, s->expr, "rate needs a whole number and a unit, as in rate(5 minutes)");
    while (*p == ' ') p++;
    if (v < 1) return fail(err, s->expr, "the rate's value must be 1 or more");
    for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++) {
        bool one = strcmp(p, UNITS[i].one) == 0, many = strcmp(p, UNITS[i].many) == 0;
        if (!one && !many) continue;
        if (v == 1 && many) return fail(err, s->expr, "a value of 1 takes the singular unit '%s'", UNITS[i].one);
        if (v > 1 && one) return fail(err, s->expr, "a value above 1 takes the plural unit '%s'", UNITS[i].many);
        if (v > MAX_INTERVAL / UNITS[i].secs) return fail(err, s->expr, "the rate is longer than 100 years");
        s->interval_s = v * UNITS[i].secs;
        s->kind = SCHEDULE_RATE;
        return s;
    }
    return fail(err, s->expr, "unit '%.20s' is not minute(s), hour(s) or day(s)", p);
}

/* Go's duration syntax ("1h30m", "90s", "1.5h"), in whole seconds. */
static schedule_t *parse_every(schedule_t *s, const char *p, err_t *err)
{
    if (!*p) return fail(err, s->expr, "@every needs a duration, as in @every 4m or @every 1h30m");
    int64_t ms = 0;
    while (*p) {
        int64_t whole = 0, frac = 0, scale = 1;
        const char *num = p;
        while (*p >= '0' && *p <= '9') {
            whole = whole * 10 + (*p++ - '0');
            if (whole > MAX_INTERVAL) return fail(err, s->expr, "the interval is longer than 100 years");
        }
        if (*p == '.')
            for (p++; *p >= '0' && *p <= '9'; p++)
                if (scale < 1000000000) frac = frac * 10 + (*p - '0'), scale *= 10;
        if (p == num || (p == num + 1 && *num == '.'))
            return fail(err, s->expr, "'%.20s' is not a duration such as 4m or 1h30m", num);
        int64_t unit = *p == 'h' ? 3600000 : *p == 'm' && p[1] != 's' ? 60000 : *p == 's' ? 1000 : 0;
        if (!unit) {
            const char *u = p;
            while (*u && !(*u >= '0' && *u <= '9')) u++;
            return fail(err, s->expr, *p ? "unit '%.*s' is not h, m or s" : "'%.*s' has no unit (h, m or s)",
                        *p ? (int)(u - p) : 20, *p ? p : num);
        }
        p++;
        ms += whole * unit + frac * unit / scale;
        if (ms > MAX_INTERVAL * 1000) return fail(err, s->expr, "the interval is longer than 100 years");
    }
    if (ms < 1000) return fail(err, s->expr, "the interval must be at least 1s");
    if (ms % 1000) return fail(err, s->expr, "the interval must be whole seconds");
    s->interval_s = ms / 1000;
    s->kind = SCHEDULE_RATE;
    return s;
}

/* "2026-12-24T18:00:00" inside at(...): a wall time in the schedule's zone. */
static schedule_t *parse_at(schedule_t *s, const char *p, err_t *err)
{
    static const char SHAPE[] = "dddd-dd-ddTdd:dd:dd";
    bool ok = strlen(p) == sizeof SHAPE - 1;
    for (size_t i = 0; ok && i < sizeof SHAPE - 1; i++)
        ok = SHAPE[i] == 'd' ? p[i] >= '0' && p[i] <= '9' : p[i] == SHAPE[i];
    if (!ok) return fail(err, s->expr, "at() needs a date and time as yyyy-mm-ddThh:mm:ss");
    int y = atoi(p), mo = atoi(p + 5), d = atoi(p + 8), h = atoi(p + 11), mi = atoi(p + 14), sec = atoi(p + 17);
    if (y < YEAR_MIN || y > YEAR_MAX) return fail(err, s->expr, "year %d is out of range %d-%d", y, YEAR_MIN, YEAR_MAX);
    if (mo < 1 || mo > 12) return fail(err, s->expr, "month %02d is out of range 01-12", mo);
    if (d < 1 || d > tz_days_in_month(y, mo))
        return fail(err, s->expr, "day %02d does not exist in %s %d", d, MONTHS[mo - 1], y);
    if (h > 23 || mi > 59 || sec > 59)
        return fail(err, s->expr, "time %.8s is not a time of day (00:00:00-23:59:59)", p + 11);
    s->at_s = tz_local_to_utc(s->tz, wall(y, mo, d, h, mi, sec), NULL);
    s->kind = SCHEDULE_AT;
    return s;
}

/* Split at whitespace, in place; returns the word count (words past max are
 * counted, not stored). */
static int split(char *text, char **words, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *p = strtok_r(text, " \t\r\n", &save); p; p = strtok_r(NULL, " \t\r\n", &save)) {
        if (n < max) words[n] = p;
        n++;
    }
    return n;
}

/* The text between "name(" and a final ")", trimmed; NULL if it is not there. */
static char *inside(char *text, const char *name)
{
    size_t n = strlen(name), len = strlen(text);
    if (strncmp(text, name, n) != 0 || text[n] != '(') return NULL;
    if (len < n + 2 || text[len - 1] != ')') return text + len; /* empty: caller reports */
    text[len - 1] = '\0';
    char *p = text + n + 1;
    while (*p == ' ' || *p == '\t') p++;
    for (char *e = p + strlen(p); e > p && (e[-1] == ' ' || e[-1] == '\t'); e--) e[-1] = '\0';
    return p;
}

static schedule_t *parse_expr(schedule_t *s, char *text, err_t *err)
{
    static const struct { const char *name, *cron; } MACROS[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}};
    char *words[8], *in;
    size_t len = strlen(text);
    if (strncmp(text, "rate(", 5) == 0 || strncmp(text, "cron(", 5) == 0 || strncmp(text, "at(", 3) == 0) {
        if (text[len - 1] != ')') return fail(err, s->expr, "missing the closing ')'");
    }
    if ((in = inside(text, "rate"))) return parse_rate(s, in, err);
    if ((in = inside(text, "at"))) return parse_at(s, in, err);
    if ((in = inside(text, "cron"))) {
        int n = split(in, words, 8);
        if (n != 6)
            return fail(err, s->expr, "EventBridge cron needs 6 fields (minutes hours day-of-month month "
                                      "day-of-week year), got %d", n);
        return parse_cron(s, D_EVENTBRIDGE, words, n, err);
    }
    if (strncmp(text, "@every", 6) == 0 && (text[6] == ' ' || text[6] == '\t' || !text[6])) {
        char *p = text + 6;
        while (*p == ' ' || *p == '\t') p++;
        return parse_every(s, p, err);
    }
    if (text[0] == '@') {
        for (size_t i = 0; i < sizeof MACROS / sizeof MACROS[0]; i++)
            if (strcmp(text, MACROS[i].name) == 0) {
                char copy[16];
                snprintf(copy, sizeof copy, "%s", MACROS[i].cron);
                int n = split(copy, words, 8);
                return parse_cron(s, D_UNIX, words, n, err);
            }
        return fail(err, s->expr, "unknown shorthand (known: @every D, @yearly, @monthly, @weekly, @daily, @hourly)");
    }
    int n = split(text, words, 8);
    if (n == 5) return parse_cron(s, D_UNIX, words, n, err);
    if (n == 6) return parse_cron(s, D_FC, words, n, err);
    if (n == 7) return parse_cron(s, D_SCF, words, n, err);
    return fail(err, s->expr, "not a schedule: expected rate(...), cron(...), at(...), @every D, or a cron of "
                              "5 fields (minute hour day-of-month month day-of-week), 6 (FC: seconds first) "
                              "or 7 (SCF: seconds first, year last); got %d field%s", n, n == 1 ? "" : "s");
}

schedule_t *schedule_parse(const char *expr, const char *tz, int64_t anchor_ms, err_t *err)
{
    if (!expr) expr = "";
    schedule_t *s = calloc(1, sizeof *s);
    if (!s || !(s->expr = strdup(expr))) abort();
    /* No slot before 1970, and every slot's ms must fit in int64. */
    if (anchor_ms < 0) anchor_ms = 0;
    if (anchor_ms > INT64_MAX / 4) anchor_ms = INT64_MAX / 4;
    s->anchor_s = anchor_ms / 1000;
    if (!(s->tz = tz_load(tz, err))) {
        schedule_free(s);
        return NULL;
    }
    /* Work on a trimmed copy; the expression is kept as given. */
    const char *b = expr;
    while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n') b++;
    size_t n = strlen(b);
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\t' || b[n - 1] == '\r' || b[n - 1] == '\n')) n--;
    if (n == 0) {
        err_set(err, ERR_INVALID, "the schedule expression is empty");
        schedule_free(s);
        return NULL;
    }
    if (n > 512) {
        err_set(err, ERR_INVALID, "the schedule expression is longer than 512 characters");
        schedule_free(s);
        return NULL;
    }
    char text[513];
    memcpy(text, b, n);
    text[n] = '\0';
    if (!parse_expr(s, text, err)) {
        schedule_free(s);
        return NULL;
    }
    return s;
}

int64_t schedule_next(const schedule_t *s, int64_t after_ms)
{
    int64_t t0 = floor_div(after_ms, 1000) + 1; /* the first whole second after after_ms */
    switch (s->kind) {
    case SCHEDULE_AT:
        return s->at_s >= t0 ? s->at_s * 1000 : -1;
    case SCHEDULE_RATE: {
        if (t0 <= s->anchor_s) return s->anchor_s * 1000;
        int64_t k = (t0 - s->anchor_s + s->interval_s - 1) / s->interval_s;
        __int128 slot = (__int128)s->anchor_s + (__int128)k * s->interval_s;
        return slot * 1000 > INT64_MAX ? -1 : (int64_t)(slot * 1000);
    }
    case SCHEDULE_CRON:
        if (t0 >= END_S) return -1;
        if (t0 < -2 * 86400) t0 = -2 * 86400; /* nothing matches before 1970 */
        int64_t r = cron_next(s, t0);
        return r < 0 ? -1 : r * 1000;
    }
    return -1;
}

schedule_kind_t schedule_kind(const schedule_t *s) { return s->kind; }
const char *schedule_expr(const schedule_t *s) { return s->expr; }
const char *schedule_tz(const schedule_t *s) { return tz_name(s->tz); }

void schedule_free(schedule_t *s)
{
    if (!s) return;
    tz_free(s->tz);
    free(s->expr);
    free(s);
}
