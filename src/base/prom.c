/* prom.c — the exposition writer and the shared histogram bins.
 *
 * Owns the text of a metrics page; must never do I/O or know which
 * metrics exist.
 */
#include "base/prom.h"

#include <stdio.h>
#include <string.h>

#define US 1000ull
#define MS 1000000ull
#define S 1000000000ull

const uint64_t prom_bounds_ns[PROM_BOUNDS] = {
    100 * US, 250 * US, 500 * US, 1 * MS, 2500 * US, 5 * MS, 10 * MS, 25 * MS, 50 * MS, 100 * MS,
    250 * MS, 500 * MS, 1 * S, 2500 * MS, 5 * S, 10 * S, 30 * S, 60 * S, 300 * S, 900 * S,
};

unsigned prom_bin_of(uint64_t ns)
{
    unsigned lo = 0, hi = PROM_BOUNDS;   /* the answer is in [lo, hi] */
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (ns <= prom_bounds_ns[mid]) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

void prom_ahist_observe(prom_ahist_t *h, uint64_t ns)
{
    atomic_fetch_add_explicit(&h->bins[prom_bin_of(ns)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void prom_ahist_read(prom_ahist_t *h, prom_hist_t *out)
{
    for (unsigned i = 0; i < PROM_BINS; i++) out->bins[i] = atomic_load_explicit(&h->bins[i], memory_order_relaxed);
    out->sum_ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

double prom_bins_quantile(const uint32_t *bins, double q)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < PROM_BINS; i++) total += bins[i];
    if (!total) return -1;
    double rank = q * (double)total;
    uint64_t below = 0;
    for (unsigned i = 0; i < PROM_BINS; i++) {
        if (!bins[i] || (double)(below + bins[i]) < rank) {
            below += bins[i];
            continue;
        }
        if (i == PROM_BOUNDS) return (double)prom_bounds_ns[PROM_BOUNDS - 1];
        double lo = i ? (double)prom_bounds_ns[i - 1] : 0, hi = (double)prom_bounds_ns[i];
        return lo + (hi - lo) * ((rank - (double)below) / (double)bins[i]);
    }
    return (double)prom_bounds_ns[PROM_BOUNDS - 1];
}

static void escape_help(buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') buf_append(b, "\\\\", 2);
        else if (*s == '\n') buf_append(b, "\\n", 2);
        else buf_append(b, s, 1);
    }
}

void prom_escape(buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') buf_append(b, "\\\\", 2);
        else if (*s == '"') buf_append(b, "\\\"", 2);
        else if (*s == '\n') buf_append(b, "\\n", 2);
        else buf_append(b, s, 1);
    }
}

void prom_family(buf_t *b, const char *name, const char *type, const char *help)
{
    buf_appendf(b, "# HELP %s ", name);
    escape_help(b, help);
    buf_appendf(b, "\n# TYPE %s %s\n", name, type);
}

/* name{a="x",b="y"[,le="..."]} */
static void series(buf_t *b, const char *name, const char *suffix, const prom_label_t *l, size_t nl, const char *le)
{
    buf_appendf(b, "%s%s", name, suffix);
    if (!nl && !le) return;
    buf_append(b, "{", 1);
    for (size_t i = 0; i < nl; i++) {
        buf_appendf(b, "%s%s=\"", i ? "," : "", l[i].name);
        prom_escape(b, l[i].value);
        buf_append(b, "\"", 1);
    }
    if (le) buf_appendf(b, "%sle=\"%s\"", nl ? "," : "", le);
    buf_append(b, "}", 1);
}

void prom_sample_u64(buf_t *b, const char *name, const prom_label_t *l, size_t nl, uint64_t v)
{
    series(b, name, "", l, nl, NULL);
    buf_appendf(b, " %llu\n", (unsigned long long)v);
}

void prom_sample(buf_t *b, const char *name, const prom_label_t *l, size_t nl, double v)
{
    series(b, name, "", l, nl, NULL);
    buf_appendf(b, " %.17g\n", v);
}

void prom_histogram(buf_t *b, const char *name, const prom_label_t *l, size_t nl, const prom_hist_t *h)
{
    uint64_t cum = 0;
    char le[32];
    for (unsigned i = 0; i < PROM_BINS; i++) {
        cum += h->bins[i];
        if (i < PROM_BOUNDS) snprintf(le, sizeof le, "%g", (double)prom_bounds_ns[i] / 1e9);
        else snprintf(le, sizeof le, "+Inf");
        series(b, name, "_bucket", l, nl, le);
        buf_appendf(b, " %llu\n", (unsigned long long)cum);
    }
    series(b, name, "_sum", l, nl, NULL);
    buf_appendf(b, " %.9f\n", (double)h->sum_ns / 1e9);
    series(b, name, "_count", l, nl, NULL);
    buf_appendf(b, " %llu\n", (unsigned long long)cum);
}
