/* prom.h — the Prometheus text exposition format (version 0.0.4), written
 * by hand, and the duration histogram every metric of ours shares.
 *
 * A histogram here counts each observation in one bin (not cumulatively):
 * recording is an index search and two additions, with no lock and no
 * system call, so it can sit on the warm path. The writer makes the bins
 * cumulative (_bucket{le=...}, `+Inf` last), and adds _sum and _count, when
 * the page is written. Histograms updated from several threads use the
 * atomic variant (relaxed increments); the loop thread's own use the plain
 * one.
 *
 * The writer only appends text to a buffer: HELP and TYPE lines once per
 * family, label values escaped as the format says (\\, \", \n). Pure
 * functions; no I/O.
 */
#ifndef NIMBUS_PROM_H
#define NIMBUS_PROM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

/* Upper bounds of the finite bins, in ns: 100 us .. 15 min. A warm call
 * takes tens of microseconds, a cold one milliseconds to seconds, a call
 * at Lambda's longest timeout 15 minutes. The last bin is +Inf. */
#define PROM_BOUNDS 20
#define PROM_BINS (PROM_BOUNDS + 1)
extern const uint64_t prom_bounds_ns[PROM_BOUNDS];

/* The bin an observation of `ns` falls in: the first bound >= ns. */
unsigned prom_bin_of(uint64_t ns);

typedef struct {
    uint64_t bins[PROM_BINS];  /* observations per bin (not cumulative) */
    uint64_t sum_ns;           /* the sum of all observations */
} prom_hist_t;

static inline void prom_hist_observe(prom_hist_t *h, uint64_t ns)
{
    h->bins[prom_bin_of(ns)]++;
    h->sum_ns += ns;
}

typedef struct {
    _Atomic uint64_t bins[PROM_BINS];
    _Atomic uint64_t sum_ns;
} prom_ahist_t;

/* Any thread: relaxed increments (the scrape may see one observation's
 * bin before its sum; it never sees a torn count). */
void prom_ahist_observe(prom_ahist_t *h, uint64_t ns);
/* A copy to write out. */
void prom_ahist_read(prom_ahist_t *h, prom_hist_t *out);

/* The q-quantile (0..1) of `total` observations in `bins` (not
 * cumulative), interpolated linearly inside its bin as Prometheus'
 * histogram_quantile does, in ns; -1 when there are none. An
 * observation in the +Inf bin answers the highest finite bound. */
double prom_bins_quantile(const uint32_t *bins, double q);

/* One label: name (a valid label name, not escaped) and value (escaped). */
typedef struct {
    const char *name;
    const char *value;
} prom_label_t;

/* `# HELP name help` and `# TYPE name type` ("counter", "gauge",
 * "histogram"); once per family, before its samples. */
void prom_family(buf_t *b, const char *name, const char *type, const char *help);
/* `name{labels} value`: an integer (counters, counts) or a real number. */
void prom_sample_u64(buf_t *b, const char *name, const prom_label_t *l, size_t nl, uint64_t v);
void prom_sample(buf_t *b, const char *name, const prom_label_t *l, size_t nl, double v);
/* name_bucket{labels,le="..."} for every bound and +Inf (cumulative),
 * name_sum (seconds) and name_count. */
void prom_histogram(buf_t *b, const char *name, const prom_label_t *l, size_t nl, const prom_hist_t *h);
/* A label value as the format wants it (backslash, quote, newline). */
void prom_escape(buf_t *b, const char *value);

#endif
