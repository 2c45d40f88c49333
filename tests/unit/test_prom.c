/* test_prom.c — the exposition writer (the text format's escaping, HELP/TYPE
 * lines, cumulative buckets ending in +Inf, _sum/_count), the shared bins,
 * the quantile the console's p50/p99 come from, and the history ring's
 * reading (a bucket of another time is never counted). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/prom.h"
#include "core/metrics.h"
#include "core/router.h"

Test(prom, label_values_escaped)
{
    buf_t b = { 0 };
    prom_label_t l[] = { { "function", "a\"b\\c\nd" }, { "version", "$LATEST" } };
    prom_sample_u64(&b, "x_total", l, 2, 7);
    cr_assert_str_eq(b.data, "x_total{function=\"a\\\"b\\\\c\\nd\",version=\"$LATEST\"} 7\n");
    buf_reset(&b);
    prom_sample_u64(&b, "y", NULL, 0, 0);
    cr_assert_str_eq(b.data, "y 0\n");
    buf_free(&b);
}

Test(prom, family_lines_escape_help_but_not_quotes)
{
    buf_t b = { 0 };
    prom_family(&b, "x_total", "counter", "a \"b\" \\ c\nd");
    cr_assert_str_eq(b.data, "# HELP x_total a \"b\" \\\\ c\\nd\n# TYPE x_total counter\n");
    buf_free(&b);
}

Test(prom, bins_are_first_bound_at_or_above)
{
    cr_assert_eq(prom_bin_of(0), 0);
    cr_assert_eq(prom_bin_of(100000), 0);          /* 100 us: le="0.0001" holds it */
    cr_assert_eq(prom_bin_of(100001), 1);
    cr_assert_eq(prom_bin_of(1000000000ull), 12);  /* 1 s */
    cr_assert_eq(prom_bin_of(900ull * 1000000000ull), PROM_BOUNDS - 1);
    cr_assert_eq(prom_bin_of(900ull * 1000000000ull + 1), PROM_BOUNDS);   /* +Inf */
    for (unsigned i = 1; i < PROM_BOUNDS; i++) cr_assert_lt(prom_bounds_ns[i - 1], prom_bounds_ns[i]);
}

Test(prom, histogram_cumulative_with_inf_sum_count)
{
    prom_hist_t h = { 0 };
    prom_hist_observe(&h, 50000);        /* 0.05 ms */
    prom_hist_observe(&h, 3000000);      /* 3 ms -> le 0.005 */
    prom_hist_observe(&h, 3000000);
    prom_hist_observe(&h, 2000ull * 1000000000ull);   /* past the last bound */
    buf_t b = { 0 };
    prom_label_t l[] = { { "function", "f" } };
    prom_histogram(&b, "d_seconds", l, 1, &h);
    cr_assert(strstr(b.data, "d_seconds_bucket{function=\"f\",le=\"0.0001\"} 1\n"));
    cr_assert(strstr(b.data, "d_seconds_bucket{function=\"f\",le=\"0.0025\"} 1\n"));
    cr_assert(strstr(b.data, "d_seconds_bucket{function=\"f\",le=\"0.005\"} 3\n"));
    cr_assert(strstr(b.data, "d_seconds_bucket{function=\"f\",le=\"900\"} 3\n"));
    cr_assert(strstr(b.data, "d_seconds_bucket{function=\"f\",le=\"+Inf\"} 4\n"));
    cr_assert(strstr(b.data, "d_seconds_sum{function=\"f\"} 2000.006050000\n"));
    cr_assert(strstr(b.data, "d_seconds_count{function=\"f\"} 4\n"));
    /* +Inf is the last bucket line. */
    char *inf = strstr(b.data, "le=\"+Inf\"");
    cr_assert(inf && inf > strstr(b.data, "le=\"900\""));
    buf_free(&b);
}

Test(prom, atomic_histogram_reads_what_was_observed)
{
    static prom_ahist_t a;
    prom_ahist_observe(&a, 1000000);
    prom_ahist_observe(&a, 1000000);
    prom_hist_t h;
    prom_ahist_read(&a, &h);
    cr_assert_eq(h.bins[3], 2);
    cr_assert_eq(h.sum_ns, 2000000);
}

Test(prom, quantile_interpolates_inside_the_bin)
{
    uint32_t bins[PROM_BINS] = { 0 };
    cr_assert_eq(prom_bins_quantile(bins, 0.5), -1);
    /* 10 calls in (1 ms, 2.5 ms]: the median is half-way, 1.75 ms. */
    bins[4] = 10;
    cr_assert_float_eq(prom_bins_quantile(bins, 0.5), 1750000.0, 1);
    cr_assert_float_eq(prom_bins_quantile(bins, 1.0), 2500000.0, 1);
    /* 99 fast, 1 slow (bin (0.5 s, 1 s]): p99 is still fast, p50 too. */
    memset(bins, 0, sizeof bins);
    bins[0] = 99;
    bins[12] = 1;
    cr_assert_leq(prom_bins_quantile(bins, 0.99), 100000.0);
    bins[0] = 98;
    bins[12] = 2;
    cr_assert_gt(prom_bins_quantile(bins, 0.99), 500000000.0);
    /* Everything past the last bound answers that bound. */
    memset(bins, 0, sizeof bins);
    bins[PROM_BOUNDS] = 3;
    cr_assert_float_eq(prom_bins_quantile(bins, 0.5), (double)prom_bounds_ns[PROM_BOUNDS - 1], 1);
}

/* ---- the history ring ---- */

static void put(router_fn_t *fn, uint32_t slot, uint32_t inv, uint32_t err)
{
    metrics_bucket_t *b = &fn->metrics.history[slot % METRICS_SLOTS];
    memset(b, 0, sizeof *b);
    b->slot = slot;
    b->invocations = inv;
    b->errors = err;
    b->bins[5] = inv;   /* (2.5 ms, 5 ms] */
}

Test(metrics_history, points_sum_their_buckets_and_skip_other_times)
{
    router_fn_t fn;
    memset(&fn, 0, sizeof fn);
    fn.metrics.history = calloc(METRICS_SLOTS, sizeof *fn.metrics.history);
    uint64_t now_ms = 1764660000000ull + 4321;     /* 4.3 s into a 10-second slot */
    uint32_t now = (uint32_t)(now_ms / METRICS_SLOT_MS);
    put(&fn, now, 2, 1);
    put(&fn, now - 1, 3, 0);
    put(&fn, now - 6, 5, 0);
    /* An hour and more ago: its ring position is reused by a slot not yet seen. */
    put(&fn, now - METRICS_SLOTS - 2, 100, 100);
    metrics_point_t p[6];
    metrics_history(&fn, now_ms, 10, 6, p);
    cr_assert_eq(p[5].t0_s, (uint64_t)now * 10);
    cr_assert_eq(p[0].t0_s, (uint64_t)(now - 5) * 10);
    cr_assert_eq(p[5].invocations, 2);
    cr_assert_eq(p[5].errors, 1);
    cr_assert_eq(p[4].invocations, 3);
    cr_assert_eq(p[0].invocations, 0);
    cr_assert_eq(p[0].p50_ms, -1);
    cr_assert(p[5].p50_ms > 2.5 && p[5].p50_ms <= 5.0);
    /* One point of a minute holds the last six buckets: not the one of now - 6. */
    metrics_history(&fn, now_ms, 60, 1, p);
    cr_assert_eq(p[0].invocations, 5);
    /* The whole hour: every bucket but the stale one. */
    metrics_history(&fn, now_ms, METRICS_SLOTS * 10, 1, p);
    cr_assert_eq(p[0].invocations, 10);
    cr_assert_eq(p[0].errors, 1);
    free(fn.metrics.history);
}

Test(metrics_history, never_called_is_all_zero)
{
    router_fn_t fn;
    memset(&fn, 0, sizeof fn);
    metrics_point_t p[3];
    metrics_history(&fn, 1764660000000ull, 10, 3, p);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(p[i].invocations + p[i].errors + p[i].throttles + p[i].cold_starts, 0);
        cr_assert_eq(p[i].p99_ms, -1);
    }
}
