/* test_schedule.c — schedule expressions and time zones: next-fire tables
 * for every form, DST in both directions, month ends, the footer rules that
 * govern far-future dates, and every refusal.
 *
 * The expected slots were computed apart from this code: by a Python script
 * walking local calendar days with the standard library's zoneinfo and
 * calendar modules (a wall time exists when its UTC round trip gives it
 * back; a repeated one counts at fold=0, its first occurrence), and checked
 * by hand against a calendar. They are literals here. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/schedule.h"
#include "base/tz.h"

/* "2026-05-05T10:00:00Z" -> epoch ms, by the C library (not by tz.c). */
static int64_t ms(const char *iso)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cr_assert(end && !*end, "bad literal %s", iso);
    return (int64_t)timegm(&tm) * 1000;
}

static void iso(int64_t t, char out[32])
{
    if (t < 0) {
        snprintf(out, 32, "-1");
        return;
    }
    time_t s = (time_t)(t / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

typedef struct {
    const char *expr, *tz, *after;
    const char *want[8]; /* successive slots, NULL-terminated */
} row_t;

static schedule_t *parse_ok(const char *expr, const char *tz, int64_t anchor)
{
    err_t err = {0};
    schedule_t *s = schedule_parse(expr, tz, anchor, &err);
    cr_assert_not_null(s, "parse %s (%s): %s", expr, tz ? tz : "", err.msg);
    return s;
}

/* Each row: the slots that follow `after`, each one the next after the last. */
static void check_rows(const row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const row_t *r = &rows[i];
        schedule_t *s = parse_ok(r->expr, r->tz, 0);
        int64_t t = ms(r->after);
        for (int k = 0; r->want[k]; k++) {
            int64_t got = schedule_next(s, t);
            char g[32];
            iso(got, g);
            cr_expect_eq(got, ms(r->want[k]), "%s in %s after %s: slot %d is %s, want %s", r->expr,
                         r->tz[0] ? r->tz : "UTC", r->after, k + 1, g, r->want[k]);
            if (got != ms(r->want[k])) break;
            t = got;
        }
        schedule_free(s);
    }
}

#define CHECK(rows) check_rows(rows, sizeof rows / sizeof rows[0])

Test(schedule, eventbridge_cron_fields_lists_ranges_steps)
{
    static const row_t rows[] = {
        {"cron(0 12 * * ? *)", "", "2026-01-01T12:00:00Z", {"2026-01-02T12:00:00Z", "2026-01-03T12:00:00Z", "2026-01-04T12:00:00Z"}},
        {"cron(0/15 * * * ? *)", "", "2026-05-05T23:40:00Z", {"2026-05-05T23:45:00Z", "2026-05-06T00:00:00Z", "2026-05-06T00:15:00Z"}},
        {"cron(5/20 10 * * ? *)", "", "2026-05-05T10:30:00Z", {"2026-05-05T10:45:00Z", "2026-05-06T10:05:00Z", "2026-05-06T10:25:00Z"}},
        {"cron(0 18 ? * MON-FRI *)", "", "2026-05-08T18:00:00Z", {"2026-05-11T18:00:00Z", "2026-05-12T18:00:00Z", "2026-05-13T18:00:00Z"}},
        {"cron(0 8 1 * ? *)", "", "2026-01-15T00:00:00Z", {"2026-02-01T08:00:00Z", "2026-03-01T08:00:00Z", "2026-04-01T08:00:00Z"}},
        {"cron(0 0 1 JAN,JUL ? 2030/5)", "", "2026-01-01T00:00:00Z", {"2030-01-01T00:00:00Z", "2030-07-01T00:00:00Z", "2035-01-01T00:00:00Z"}},
    };
    CHECK(rows);
}

/* EventBridge numbers the week SUN=1 ... SAT=7: 2-6 is Monday to Friday. */
Test(schedule, eventbridge_day_of_week_numbering)
{
    static const row_t rows[] = {
        {"cron(0 10 ? * 2-6 *)", "", "2026-05-08T11:00:00Z", {"2026-05-11T10:00:00Z", "2026-05-12T10:00:00Z", "2026-05-13T10:00:00Z"}},
    };
    CHECK(rows);
}

Test(schedule, eventbridge_L_last_day_and_last_weekday_of_week)
{
    static const row_t rows[] = {
        {"cron(0 9 L * ? *)", "", "2024-01-31T09:00:00Z", {"2024-02-29T09:00:00Z", "2024-03-31T09:00:00Z", "2024-04-30T09:00:00Z"}},
        /* 2100 is not a leap year */
        {"cron(0 9 L 2 ? *)", "", "2099-03-01T00:00:00Z", {"2100-02-28T09:00:00Z", "2101-02-28T09:00:00Z", "2102-02-28T09:00:00Z"}},
        /* 6L: the last Friday; 5L: the last Thursday (EventBridge numbering) */
        {"cron(15 10 ? * 6L 2026-2027)", "", "2026-01-01T00:00:00Z", {"2026-01-30T10:15:00Z", "2026-02-27T10:15:00Z", "2026-03-27T10:15:00Z", "2026-04-24T10:15:00Z"}},
        {"cron(15 10 ? * 5L *)", "", "2026-01-01T00:00:00Z", {"2026-01-29T10:15:00Z", "2026-02-26T10:15:00Z", "2026-03-26T10:15:00Z"}},
        {"cron(15 10 ? * FRIL *)", "", "2026-01-01T00:00:00Z", {"2026-01-30T10:15:00Z"}},
    };
    CHECK(rows);
}

Test(schedule, eventbridge_W_nearest_weekday_and_LW)
{
    static const row_t rows[] = {
        /* Feb 15 and Mar 15 2026 are Sundays (-> Monday), Aug 15 a Saturday (-> Friday) */
        {"cron(0 9 15W * ? *)", "", "2026-02-01T00:00:00Z", {"2026-02-16T09:00:00Z", "2026-03-16T09:00:00Z", "2026-04-15T09:00:00Z", "2026-05-15T09:00:00Z", "2026-06-15T09:00:00Z", "2026-07-15T09:00:00Z", "2026-08-14T09:00:00Z"}},
        /* Aug 1 2026 is a Saturday: the nearest weekday in the month is Monday the 3rd */
        {"cron(0 9 1W * ? *)", "", "2026-07-15T00:00:00Z", {"2026-08-03T09:00:00Z", "2026-09-01T09:00:00Z", "2026-10-01T09:00:00Z"}},
        /* May 31 2026 is a Sunday -> Friday 29th; June has no 31st */
        {"cron(0 9 31W * ? *)", "", "2026-05-01T00:00:00Z", {"2026-05-29T09:00:00Z", "2026-07-31T09:00:00Z", "2026-08-31T09:00:00Z"}},
        {"cron(0 9 LW * ? *)", "", "2026-01-01T00:00:00Z", {"2026-01-30T09:00:00Z", "2026-02-27T09:00:00Z", "2026-03-31T09:00:00Z", "2026-04-30T09:00:00Z", "2026-05-29T09:00:00Z"}},
    };
    CHECK(rows);
}

Test(schedule, eventbridge_hash_nth_weekday)
{
    static const row_t rows[] = {
        {"cron(0 9 ? * 3#2 *)", "", "2026-01-01T00:00:00Z", {"2026-01-13T09:00:00Z", "2026-02-10T09:00:00Z", "2026-03-10T09:00:00Z"}},
        /* a fifth Monday exists only in some months */
        {"cron(0 9 ? * MON#5 *)", "", "2026-01-01T00:00:00Z", {"2026-03-30T09:00:00Z", "2026-06-29T09:00:00Z", "2026-08-31T09:00:00Z"}},
    };
    CHECK(rows);
}

Test(schedule, month_ends_and_leap_years)
{
    static const row_t rows[] = {
        {"cron(0 0 31 * ? *)", "", "2026-01-31T00:00:00Z", {"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"}},
        {"cron(0 0 29 2 ? *)", "", "2026-01-01T00:00:00Z", {"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
        {"cron(0 0 29 2 ? *)", "", "2096-03-01T00:00:00Z", {"2104-02-29T00:00:00Z", "2108-02-29T00:00:00Z"}},
    };
    CHECK(rows);
}

Test(schedule, fc_six_fields_seconds_first)
{
    static const row_t rows[] = {
        {"*/10 * * * * *", "", "2026-05-05T10:00:05Z", {"2026-05-05T10:00:10Z", "2026-05-05T10:00:20Z", "2026-05-05T10:00:30Z"}},
        {"0 0 4 * * *", "", "2026-05-05T10:00:00Z", {"2026-05-06T04:00:00Z", "2026-05-07T04:00:00Z"}},
        {"30 15 10 ? * MON-FRI", "", "2026-05-08T10:15:30Z", {"2026-05-11T10:15:30Z", "2026-05-12T10:15:30Z"}},
        /* FC numbers the week SUN=0; 7 is Sunday too */
        {"0 0 12 * * 0", "", "2026-05-05T00:00:00Z", {"2026-05-10T12:00:00Z", "2026-05-17T12:00:00Z"}},
        {"0 0 12 * * 7", "", "2026-05-05T00:00:00Z", {"2026-05-10T12:00:00Z", "2026-05-17T12:00:00Z"}},
        {"0 30 9 * * ?", "Asia/Shanghai", "2026-05-05T00:00:00Z", {"2026-05-05T01:30:00Z", "2026-05-06T01:30:00Z"}},
    };
    CHECK(rows);
}

Test(schedule, classic_five_fields)
{
    static const row_t rows[] = {
        {"*/5 * * * *", "", "2026-05-05T10:02:00Z", {"2026-05-05T10:05:00Z", "2026-05-05T10:10:00Z", "2026-05-05T10:15:00Z"}},
        {"0 9 * * 1-5", "", "2026-05-08T09:00:00Z", {"2026-05-11T09:00:00Z", "2026-05-12T09:00:00Z"}},
        {"0 9 * * 5-7", "", "2026-05-04T09:00:00Z", {"2026-05-08T09:00:00Z", "2026-05-09T09:00:00Z", "2026-05-10T09:00:00Z"}},
        {"@daily", "", "2026-05-05T10:00:00Z", {"2026-05-06T00:00:00Z"}},
    };
    CHECK(rows);
}

/* Both day fields restricted: a day matches if either does. A field that
 * starts with '*' leaves the other to decide alone. */
Test(schedule, classic_dom_or_dow_rule)
{
    static const row_t rows[] = {
        /* the 13th or any Friday */
        {"0 0 13 * 5", "", "2026-02-01T00:00:00Z", {"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-06T00:00:00Z"}},
        /* Mondays that are the 1st, 11th, 21st or 31st */
        {"0 0 */10 * 1", "", "2026-02-01T00:00:00Z", {"2026-05-11T00:00:00Z", "2026-06-01T00:00:00Z", "2026-08-31T00:00:00Z"}},
    };
    CHECK(rows);
}

Test(schedule, scf_seven_fields)
{
    static const row_t rows[] = {
        {"0 0 2 1 * * *", "", "2026-05-05T00:00:00Z", {"2026-06-01T02:00:00Z", "2026-07-01T02:00:00Z"}},
        {"0 15 10 * * MON-FRI *", "", "2026-05-08T11:00:00Z", {"2026-05-11T10:15:00Z", "2026-05-12T10:15:00Z"}},
        {"0 0 12 * * * 2027", "", "2026-05-05T00:00:00Z", {"2027-01-01T12:00:00Z", "2027-01-02T12:00:00Z"}},
        /* SCF numbers the week SUN=0: 5L is the last Friday */
        {"0 0 12 ? * 5L *", "", "2026-05-05T00:00:00Z", {"2026-05-29T12:00:00Z", "2026-06-26T12:00:00Z"}},
        {"0 0 0 13 * 5 *", "", "2026-02-01T00:00:00Z", {"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-06T00:00:00Z"}},
    };
    CHECK(rows);
}

/* Paris: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET. */
Test(schedule, dst_europe_paris_2026)
{
    static const row_t rows[] = {
        /* 02:30 does not exist on Mar 29: skipped */
        {"cron(30 2 * * ? *)", "Europe/Paris", "2026-03-27T12:00:00Z", {"2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z", "2026-04-01T00:30:00Z"}},
        /* 02:30 happens twice on Oct 25: once, at 02:30 CEST */
        {"cron(30 2 * * ? *)", "Europe/Paris", "2026-10-24T12:00:00Z", {"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z"}},
        /* every half hour: the repeated 02:00 and 02:30 CET are not fired again */
        {"cron(0/30 * * * ? *)", "Europe/Paris", "2026-10-25T00:15:00Z", {"2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z", "2026-10-25T02:30:00Z", "2026-10-25T03:00:00Z"}},
        /* seconds across the spring gap: 01:59:40 CET, then 03:00:00 CEST */
        {"*/20 * * * * *", "Europe/Paris", "2026-03-29T00:59:30Z", {"2026-03-29T00:59:40Z", "2026-03-29T01:00:00Z", "2026-03-29T01:00:20Z"}},
    };
    CHECK(rows);
}

/* New York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST. */
Test(schedule, dst_america_new_york_2026)
{
    static const row_t rows[] = {
        {"cron(30 2 * * ? *)", "America/New_York", "2026-03-07T12:00:00Z", {"2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z", "2026-03-11T06:30:00Z"}},
        {"0 0 3 * * *", "America/New_York", "2026-03-07T12:00:00Z", {"2026-03-08T07:00:00Z", "2026-03-09T07:00:00Z", "2026-03-10T07:00:00Z"}},
        {"cron(30 1 * * ? *)", "America/New_York", "2026-10-31T12:00:00Z", {"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "2026-11-03T06:30:00Z"}},
        {"cron(0/15 * * * ? *)", "America/New_York", "2026-11-01T05:40:00Z", {"2026-11-01T05:45:00Z", "2026-11-01T07:00:00Z", "2026-11-01T07:15:00Z"}},
    };
    CHECK(rows);
}

/* A fall-back repeat already fired (first occurrence) before `after` is not
 * fired again when the search starts inside the repeated hour. */
Test(schedule, dst_repeat_not_refired_from_inside_second_pass)
{
    schedule_t *s = parse_ok("cron(30 1 * * ? *)", "America/New_York", 0);
    /* 01:10 EST, the second pass, after 01:30 EDT fired */
    cr_expect_eq(schedule_next(s, ms("2026-11-01T06:10:00Z")), ms("2026-11-02T06:30:00Z"));
    schedule_free(s);
}

/* Past 2037 the zone files list no transitions: the footer's rule decides. */
Test(schedule, far_future_dates_use_the_footer_rule)
{
    static const row_t rows[] = {
        {"cron(0 12 * * ? *)", "Europe/Paris", "2040-06-30T12:00:00Z", {"2040-07-01T10:00:00Z", "2040-07-02T10:00:00Z"}},
        /* 2040-03-25 is the last Sunday of March: 02:30 skipped */
        {"cron(30 2 * * ? *)", "Europe/Paris", "2040-03-24T12:00:00Z", {"2040-03-26T00:30:00Z", "2040-03-27T00:30:00Z"}},
        {"cron(30 1 * * ? *)", "America/New_York", "2040-11-03T12:00:00Z", {"2040-11-04T05:30:00Z", "2040-11-05T06:30:00Z", "2040-11-06T06:30:00Z"}},
        /* southern hemisphere: DST across the new year */
        {"cron(0 9 ? * 2#1 *)", "Australia/Sydney", "2040-03-01T00:00:00Z", {"2040-03-04T22:00:00Z", "2040-04-01T23:00:00Z", "2040-05-06T23:00:00Z"}},
        {"cron(30 2 * * ? *)", "Australia/Sydney", "2040-10-05T00:00:00Z", {"2040-10-05T16:30:00Z", "2040-10-07T15:30:00Z", "2040-10-08T15:30:00Z"}},
        {"cron(30 2 * * ? *)", "Australia/Sydney", "2040-03-31T00:00:00Z", {"2040-03-31T15:30:00Z", "2040-04-01T16:30:00Z", "2040-04-02T16:30:00Z"}},
    };
    CHECK(rows);
}

/* Lord Howe moves its clocks by 30 minutes; Kolkata is +05:30 all year. */
Test(schedule, half_hour_offsets_and_shifts)
{
    static const row_t rows[] = {
        {"cron(15 2 * * ? *)", "Australia/Lord_Howe", "2026-10-03T00:00:00Z", {"2026-10-04T15:15:00Z", "2026-10-05T15:15:00Z", "2026-10-06T15:15:00Z"}},
        {"cron(45 1 * * ? *)", "Australia/Lord_Howe", "2026-04-04T00:00:00Z", {"2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z", "2026-04-06T15:15:00Z"}},
        {"cron(0 9 * * ? *)", "Asia/Kolkata", "2026-05-05T00:00:00Z", {"2026-05-05T03:30:00Z"}},
    };
    CHECK(rows);
}

Test(schedule, no_slot_left_gives_minus_one)
{
    const char *cases[][3] = {
        {"cron(0 0 30 2 ? *)", "", "2026-01-01T00:00:00Z"},
        {"cron(0 0 30 2 ? *)", "Europe/Paris", "2026-01-01T00:00:00Z"},
        {"cron(0 0 1 1 ? 2025)", "", "2026-01-01T00:00:00Z"},
        {"0 0 0 31 4 * *", "America/New_York", "2026-01-01T00:00:00Z"},
        {"cron(0 0 1 1 ? *)", "", "2199-01-01T00:00:00Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        schedule_t *s = parse_ok(cases[i][0], cases[i][1], 0);
        cr_expect_eq(schedule_next(s, ms(cases[i][2])), -1, "%s in '%s'", cases[i][0], cases[i][1]);
        schedule_free(s);
    }
    schedule_t *s = parse_ok("cron(0 0 1 1 ? 2199)", "", 0);
    cr_expect_eq(schedule_next(s, ms("2026-01-01T00:00:00Z")), ms("2199-01-01T00:00:00Z"));
    schedule_free(s);
}

/* Slots count from the anchor, truncated to its second; the first is the
 * anchor itself when `after` is before it. */
Test(schedule, rate_slots_count_from_the_anchor)
{
    int64_t anchor = ms("2026-05-05T10:00:00Z") + 700;
    schedule_t *s = parse_ok("rate(5 minutes)", "", anchor);
    cr_expect_eq(schedule_kind(s), SCHEDULE_RATE);
    cr_expect_eq(schedule_next(s, ms("2026-05-05T09:00:00Z")), ms("2026-05-05T10:00:00Z"));
    cr_expect_eq(schedule_next(s, ms("2026-05-05T10:00:00Z")), ms("2026-05-05T10:05:00Z"));
    cr_expect_eq(schedule_next(s, ms("2026-05-05T10:07:12Z") + 500), ms("2026-05-05T10:10:00Z"));
    cr_expect_eq(schedule_next(s, ms("2026-05-05T10:09:59Z") + 999), ms("2026-05-05T10:10:00Z"));
    cr_expect_eq(schedule_next(s, ms("2026-05-05T10:10:00Z")), ms("2026-05-05T10:15:00Z"));
    schedule_free(s);
    s = parse_ok("rate(1 hour)", "", anchor);
    cr_expect_eq(schedule_next(s, ms("2026-05-06T09:30:00Z")), ms("2026-05-06T10:00:00Z"));
    schedule_free(s);
    s = parse_ok("rate(7 days)", "", anchor);
    cr_expect_eq(schedule_next(s, anchor), ms("2026-05-12T10:00:00Z"));
    schedule_free(s);
}

/* rate(1 day) is 24 hours, whatever the zone's clocks do. */
Test(schedule, rate_ignores_dst)
{
    schedule_t *s = parse_ok("rate(1 day)", "Europe/Paris", ms("2026-03-28T12:00:00Z"));
    cr_expect_eq(schedule_next(s, ms("2026-03-28T12:00:00Z")), ms("2026-03-29T12:00:00Z"));
    cr_expect_str_eq(schedule_tz(s), "Europe/Paris");
    schedule_free(s);
}

Test(schedule, every_go_durations)
{
    int64_t anchor = ms("2026-05-05T10:00:00Z");
    const struct { const char *expr; int64_t secs; } cases[] = {
        {"@every 1h30m", 5400}, {"@every 4m", 240}, {"@every 90s", 90}, {"@every 2h", 7200},
        {"@every 1.5h", 5400},  {"@every 1m30s", 90}, {"@every 1s", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        schedule_t *s = parse_ok(cases[i].expr, "", anchor);
        cr_expect_eq(schedule_kind(s), SCHEDULE_RATE);
        int64_t first = schedule_next(s, anchor);
        cr_expect_eq(first, anchor + cases[i].secs * 1000, "%s", cases[i].expr);
        cr_expect_eq(schedule_next(s, first), anchor + 2 * cases[i].secs * 1000, "%s", cases[i].expr);
        schedule_free(s);
    }
}

Test(schedule, at_fires_once_in_its_zone)
{
    schedule_t *s = parse_ok("at(2026-12-24T18:00:00)", "Europe/Paris", 0);
    cr_expect_eq(schedule_kind(s), SCHEDULE_AT);
    int64_t slot = ms("2026-12-24T17:00:00Z");
    cr_expect_eq(schedule_next(s, ms("2026-01-01T00:00:00Z")), slot);
    cr_expect_eq(schedule_next(s, slot - 1), slot);
    cr_expect_eq(schedule_next(s, slot), -1);
    cr_expect_eq(schedule_next(s, ms("2027-01-01T00:00:00Z")), -1);
    schedule_free(s);
    s = parse_ok("at(2026-12-24T18:00:00)", NULL, 0);
    cr_expect_eq(schedule_next(s, 0), ms("2026-12-24T18:00:00Z"));
    schedule_free(s);
}

/* An at() in the spring gap fires when the gap ends; one in the repeated
 * hour fires at its first occurrence. */
Test(schedule, at_across_dst)
{
    schedule_t *s = parse_ok("at(2026-03-29T02:30:00)", "Europe/Paris", 0);
    cr_expect_eq(schedule_next(s, 0), ms("2026-03-29T01:00:00Z"));
    schedule_free(s);
    s = parse_ok("at(2026-11-01T01:30:00)", "America/New_York", 0);
    cr_expect_eq(schedule_next(s, 0), ms("2026-11-01T05:30:00Z"));
    schedule_free(s);
}

Test(schedule, accessors_keep_what_was_given)
{
    schedule_t *s = parse_ok("  cron(0 12 * * ? *) ", NULL, 0);
    cr_expect_eq(schedule_kind(s), SCHEDULE_CRON);
    cr_expect_str_eq(schedule_expr(s), "  cron(0 12 * * ? *) ");
    cr_expect_str_eq(schedule_tz(s), "UTC");
    schedule_free(s);
    s = parse_ok("0 0 4 * * *", "", 0);
    cr_expect_str_eq(schedule_tz(s), "UTC");
    schedule_free(s);
    s = parse_ok("0 0 4 * * *", "America/New_York", 0);
    cr_expect_str_eq(schedule_tz(s), "America/New_York");
    schedule_free(s);
}

/* Slots are whole seconds and strictly after `after`, even mid-second. */
Test(schedule, next_is_strictly_after_and_whole_seconds)
{
    schedule_t *s = parse_ok("* * * * * *", "", 0);
    int64_t t = ms("2026-05-05T10:00:00Z");
    cr_expect_eq(schedule_next(s, t), t + 1000);
    cr_expect_eq(schedule_next(s, t + 1), t + 1000);
    cr_expect_eq(schedule_next(s, t - 1), t);
    schedule_free(s);
}

Test(schedule, every_refusal_names_the_problem)
{
    const struct { const char *expr, *tz, *says; } bad[] = {
        {"", NULL, "empty"},
        {"   ", NULL, "empty"},
        {"cron(0 12 * * *)", NULL,
         "cron(0 12 * * *): EventBridge cron needs 6 fields (minutes hours day-of-month month day-of-week year), got 5"},
        {"cron(0 12 * * * *)", NULL, "'?' in exactly one of day-of-month and day-of-week"},
        {"cron(0 12 ? * ? *)", NULL, "'?' in exactly one of day-of-month and day-of-week"},
        {"cron(0 12 * * ? *", NULL, "closing ')'"},
        {"cron(61 12 * * ? *)", NULL, "minutes: '61' is out of range 0-59"},
        {"cron(0 24 * * ? *)", NULL, "hours: '24' is out of range 0-23"},
        {"cron(0 12 32 * ? *)", NULL, "day-of-month: '32' is out of range 1-31"},
        {"cron(0 12 ? * 0 *)", NULL, "day-of-week: '0' is out of range 1-7"},
        {"cron(0 12 * 13 ? *)", NULL, "month: '13' is out of range 1-12"},
        {"cron(0 12 * * ? 2200)", NULL, "year: '2200' is out of range 1970-2199"},
        {"cron(0 12 * FOO ? *)", NULL, "month: 'FOO' is not a known value"},
        {"cron(0 12 ? * FUNDAY *)", NULL, "day-of-week: 'FUNDAY' is not a known value"},
        {"cron(0/0 12 * * ? *)", NULL, "step after / must be a whole number >= 1"},
        {"cron(0 20-10 * * ? *)", NULL, "range '20-10' runs backwards"},
        {"cron(0 L * * ? *)", NULL, "hours: 'L': L, W and # are allowed only in day-of-month and day-of-week"},
        {"cron(0 12 ? * 3#6 *)", NULL, "# takes a weekday and a week 1-5"},
        {"cron(0 12 ? * 3#1,6#3 *)", NULL, "an item with # must be alone"},
        {"cron(0 12 1-5W * ? *)", NULL, "W takes one day"},
        {"cron(0 ? * * ? *)", NULL, "hours: '?' is allowed only in day-of-month and day-of-week"},
        {"cron(0 12 1,,2 * ? *)", NULL, "an empty item"},
        {"cron(0 12 5x * ? *)", NULL, "'5x' is not a value, range or step"},
        {"0 12 * *", NULL, "got 4 fields"},
        {"0 0 0 0 12 * * *", NULL, "got 8 fields"},
        {"hello", NULL, "not a schedule"},
        {"0 0 12 * * 8", NULL, "day-of-week: '8' is out of range 0-7"},
        {"60 * * * * *", NULL, "seconds: '60' is out of range 0-59"},
        {"rate(5)", NULL, "rate needs a whole number and a unit"},
        {"rate(0 minutes)", NULL, "must be 1 or more"},
        {"rate(1 minutes)", NULL, "a value of 1 takes the singular unit 'minute'"},
        {"rate(5 minute)", NULL, "a value above 1 takes the plural unit 'minutes'"},
        {"rate(2 weeks)", NULL, "unit 'weeks' is not minute(s), hour(s) or day(s)"},
        {"rate(99999999999 days)", NULL, "longer than 100 years"},
        {"rate(-5 minutes)", NULL, "rate needs a whole number and a unit"},
        {"@every", NULL, "@every needs a duration"},
        {"@every 4d", NULL, "unit 'd' is not h, m or s"},
        {"@every 100ms", NULL, "unit 'ms' is not h, m or s"},
        {"@every 0s", NULL, "at least 1s"},
        {"@every 1.5s", NULL, "whole seconds"},
        {"@every 10", NULL, "has no unit"},
        {"@every h", NULL, "not a duration"},
        {"@fortnightly", NULL, "unknown shorthand"},
        {"at(2026-12-24 18:00:00)", NULL, "yyyy-mm-ddThh:mm:ss"},
        {"at(2026-02-29T10:00:00)", NULL, "day 29 does not exist in FEB 2026"},
        {"at(2026-13-01T10:00:00)", NULL, "month 13 is out of range"},
        {"at(2026-12-24T24:00:00)", NULL, "not a time of day"},
        {"at(1969-12-31T23:00:00)", NULL, "year 1969 is out of range"},
        {"cron(0 12 * * ? *)", "Mars/Base", "unknown time zone 'Mars/Base'"},
        {"cron(0 12 * * ? *)", "Europe", "unknown time zone 'Europe'"},
        {"cron(0 12 * * ? *)", "../../etc/passwd", "is not valid"},
        {"cron(0 12 * * ? *)", "/etc/localtime", "is not valid"},
        {"cron(0 12 * * ? *)", "Europe/../Paris", "is not valid"},
        {"cron(0 12 * * ? *)", "Europe/Paris ", "is not valid"},
        /* what is echoed stays one line */
        {"cron(0 12\n* *)", NULL, "got 4"},
        {"cron(0 12 * * ? *)", "Europe/\nParis", "is not valid"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_t err = {0};
        schedule_t *s = schedule_parse(bad[i].expr, bad[i].tz, 0, &err);
        cr_expect_null(s, "'%s' was accepted", bad[i].expr);
        if (s) {
            schedule_free(s);
            continue;
        }
        cr_expect_eq(err.code, ERR_INVALID, "'%s'", bad[i].expr);
        cr_expect(strstr(err.msg, bad[i].says) != NULL, "'%s': message \"%s\" lacks \"%s\"", bad[i].expr, err.msg,
                  bad[i].says);
        cr_expect(strchr(err.msg, '\n') == NULL, "'%s': message is not one line", bad[i].expr);
    }
}

/* The timer wheel asks for 1,000 schedules' next slots all day long: a
 * day's worth of slots must come out of plain stepping, each exactly once. */
Test(schedule, a_day_of_slots_for_1000_schedules)
{
    static const struct { const char *expr, *tz; int per_day, count; } mix[] = {
        {"rate(1 minute)", "", 1440, 100},
        {"cron(0/5 * * * ? *)", "", 288, 100},
        {"*/30 * * * * *", "Asia/Shanghai", 2880, 10},
        {"0 * * * *", "America/New_York", 24, 390},
        {"cron(0 9 * * ? *)", "Europe/Paris", 1, 200},
        {"0 0 12 ? * 2#1 *", "Australia/Sydney", 1, 100}, /* 2026-05-05 is the first Tuesday */
        {"at(2026-05-05T18:00:00)", "Asia/Kolkata", 1, 100},
    };
    int64_t day = ms("2026-05-05T00:00:00Z");
    long want = 0, got = 0;
    int made = 0;
    for (size_t m = 0; m < sizeof mix / sizeof mix[0]; m++) {
        for (int i = 0; i < mix[m].count; i++, made++) {
            /* Sydney is UTC+10 in May: its noon falls on 02:00Z of the same day */
            schedule_t *s = parse_ok(mix[m].expr, mix[m].tz, day);
            for (int64_t t = day; (t = schedule_next(s, t)) >= 0 && t <= day + 86400 * 1000LL;) got++;
            want += mix[m].per_day;
            schedule_free(s);
        }
    }
    cr_expect_eq(made, 1000);
    cr_expect_eq(got, want);
}

/* ---- time zones ---- */

Test(tz, offsets_at_instants)
{
    err_t err = {0};
    tz_t *paris = tz_load("Europe/Paris", &err);
    cr_assert_not_null(paris, "%s", err.msg);
    cr_expect_eq(tz_utoff(paris, ms("2026-01-15T12:00:00Z") / 1000), 3600);
    cr_expect_eq(tz_utoff(paris, ms("2026-07-15T12:00:00Z") / 1000), 7200);
    cr_expect_eq(tz_utoff(paris, ms("2026-03-29T00:59:59Z") / 1000), 3600);
    cr_expect_eq(tz_utoff(paris, ms("2026-03-29T01:00:00Z") / 1000), 7200);
    cr_expect_eq(tz_utoff(paris, ms("2099-07-15T12:00:00Z") / 1000), 7200);
    cr_expect_eq(tz_utoff(paris, ms("2099-12-15T12:00:00Z") / 1000), 3600);
    tz_span_t sp;
    tz_span_at(paris, ms("2026-06-01T00:00:00Z") / 1000, &sp);
    cr_expect_eq(sp.start, ms("2026-03-29T01:00:00Z") / 1000);
    cr_expect_eq(sp.end, ms("2026-10-25T01:00:00Z") / 1000);
    cr_expect_eq(sp.utoff, 7200);
    cr_expect_eq(sp.prev_utoff, 3600);
    tz_span_at(paris, ms("2050-06-01T00:00:00Z") / 1000, &sp); /* the footer's rule */
    cr_expect_eq(sp.start, ms("2050-03-27T01:00:00Z") / 1000);
    cr_expect_eq(sp.end, ms("2050-10-30T01:00:00Z") / 1000);
    /* the same zone loaded twice is one shared object */
    tz_t *again = tz_load("Europe/Paris", &err);
    cr_expect_eq(again, paris);
    tz_free(again);
    tz_free(paris);
    tz_t *utc = tz_load(NULL, &err);
    cr_expect_str_eq(tz_name(utc), "UTC");
    cr_expect_eq(tz_utoff(utc, 0), 0);
    tz_free(utc);
}

/* A TZif file with no transitions, only a footer: every instant comes from
 * the POSIX rule (what zone files leave for dates past 2037). */
static size_t tzif_footer_only(uint8_t *out, const char *posix, int32_t off)
{
    uint8_t *p = out;
    for (int pass = 0; pass < 2; pass++) {
        memcpy(p, "TZif2", 5);
        memset(p + 5, 0, 39);
        p[39] = 1; /* typecnt */
        p[43] = 4; /* charcnt */
        p += 44;
        p[0] = (uint8_t)(off >> 24), p[1] = (uint8_t)(off >> 16), p[2] = (uint8_t)(off >> 8), p[3] = (uint8_t)off;
        p[4] = 0, p[5] = 0;
        memcpy(p + 6, "XXX", 4);
        p += 10;
    }
    size_t n = strlen(posix);
    *p++ = '\n';
    memcpy(p, posix, n);
    p += n;
    *p++ = '\n';
    return (size_t)(p - out);
}

Test(tz, posix_rule_from_the_footer)
{
    uint8_t buf[256];
    err_t err = {0};
    size_t n = tzif_footer_only(buf, "EST5EDT,M3.2.0,M11.1.0", -18000);
    tz_t *z = tz_from_tzif("test", buf, n, &err);
    cr_assert_not_null(z, "%s", err.msg);
    /* New York's 2030 changes: Mar 10 07:00Z and Nov 3 06:00Z */
    cr_expect_eq(tz_utoff(z, ms("2030-03-10T06:59:59Z") / 1000), -18000);
    cr_expect_eq(tz_utoff(z, ms("2030-03-10T07:00:00Z") / 1000), -14400);
    cr_expect_eq(tz_utoff(z, ms("2030-11-03T05:59:59Z") / 1000), -14400);
    cr_expect_eq(tz_utoff(z, ms("2030-11-03T06:00:00Z") / 1000), -18000);
    bool exact;
    cr_expect_eq(tz_local_to_utc(z, ms("2030-03-10T02:30:00Z") / 1000, &exact), ms("2030-03-10T07:00:00Z") / 1000);
    cr_expect(!exact);
    cr_expect_eq(tz_local_to_utc(z, ms("2030-11-03T01:30:00Z") / 1000, &exact), ms("2030-11-03T05:30:00Z") / 1000);
    cr_expect(exact);
    tz_free(z);

    /* southern hemisphere with a time past 24h: Chile's "<-04>4<-03>,M9.1.6/24,M4.1.6/24" */
    n = tzif_footer_only(buf, "<-04>4<-03>,M9.1.6/24,M4.1.6/24", -14400);
    z = tz_from_tzif("test", buf, n, &err);
    cr_assert_not_null(z, "%s", err.msg);
    cr_expect_eq(tz_utoff(z, ms("2030-01-15T12:00:00Z") / 1000), -10800);
    cr_expect_eq(tz_utoff(z, ms("2030-06-15T12:00:00Z") / 1000), -14400);
    /* 2030-09-07 is the first Saturday of September: 24:00 local (-04) is Sep 8 04:00Z */
    cr_expect_eq(tz_utoff(z, ms("2030-09-08T03:59:59Z") / 1000), -14400);
    cr_expect_eq(tz_utoff(z, ms("2030-09-08T04:00:00Z") / 1000), -10800);
    tz_free(z);

    n = tzif_footer_only(buf, "<+0330>-3:30", 12600);
    z = tz_from_tzif("test", buf, n, &err);
    cr_assert_not_null(z, "%s", err.msg);
    cr_expect_eq(tz_utoff(z, ms("2030-06-15T12:00:00Z") / 1000), 12600);
    tz_free(z);
}

Test(tz, unusable_files_are_refused)
{
    uint8_t buf[256];
    err_t err = {0};
    cr_expect_null(tz_from_tzif("x", "not a zone", 10, &err));
    cr_expect(strstr(err.msg, "not usable") != NULL, "%s", err.msg);
    size_t n = tzif_footer_only(buf, "EST5EDT,M3.2.0", -18000);
    cr_expect_null(tz_from_tzif("x", buf, n, &err));
    cr_expect(strstr(err.msg, "POSIX TZ rule") != NULL, "%s", err.msg);
    n = tzif_footer_only(buf, "EST5", -18000);
    cr_expect_null(tz_from_tzif("x", buf, n - 30, &err));
    cr_expect(strstr(err.msg, "not usable") != NULL, "%s", err.msg);
    cr_expect_null(tz_load("right/UTC", &err)); /* leap seconds, or absent */
    cr_expect_eq(err.code, ERR_INVALID);
}

Test(tz, civil_calendar)
{
    cr_expect_eq(tz_days_from_civil(1970, 1, 1), 0);
    cr_expect_eq(tz_days_from_civil(2000, 3, 1), 11017);
    cr_expect_eq(tz_days_from_civil(2100, 3, 1) - tz_days_from_civil(2100, 2, 1), 28);
    cr_expect_eq(tz_days_from_civil(2024, 3, 1) - tz_days_from_civil(2024, 2, 1), 29);
    int64_t y;
    int m, d;
    tz_civil_from_days(tz_days_from_civil(2199, 12, 31), &y, &m, &d);
    cr_expect(y == 2199 && m == 12 && d == 31);
    tz_civil_from_days(-1, &y, &m, &d);
    cr_expect(y == 1969 && m == 12 && d == 31);
    cr_expect_eq(tz_weekday(0), 4); /* 1970-01-01 was a Thursday */
    cr_expect_eq(tz_weekday(tz_days_from_civil(2026, 5, 5)), 2);
}

/* Worker threads parse and free schedules in shared zones at once: the
 * cache hands out one zone per name and frees it with its last user. */
static void *parse_many(void *arg)
{
    static const char *const zones[] = {"Europe/Paris", "America/New_York", "Asia/Kolkata", "Europe/Paris"};
    long *bad = arg;
    for (int i = 0; i < 300; i++) {
        err_t err = {0};
        schedule_t *s = schedule_parse("cron(30 2 * * ? *)", zones[i % 4], 0, &err);
        if (!s || schedule_next(s, 1774569600000LL /* 2026-03-27T00:00Z */) <= 0) (*bad)++;
        schedule_free(s);
    }
    return NULL;
}

Test(tz, shared_zones_across_threads)
{
    pthread_t th[8];
    long bad[8] = {0};
    for (int i = 0; i < 8; i++) cr_assert_eq(pthread_create(&th[i], NULL, parse_many, &bad[i]), 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(bad[i], 0, "thread %d", i);
    }
}
