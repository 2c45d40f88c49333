/* store_metrics.c — how long the store's writes take, for the metrics
 * page: one histogram per kind of write, observed by the worker that
 * wrote (relaxed atomics, no lock).
 *
 * Owns only these counters. Must never: time a read, or be reset while
 * the daemon runs.
 */
#include "store/store.h"

const char *const store_write_kind_names[STORE_WRITE_KINDS] = { "control", "logs", "queue" };

static prom_ahist_t g_latency[STORE_WRITE_KINDS];

void store_write_observe(store_write_kind_t kind, uint64_t ns) { prom_ahist_observe(&g_latency[kind], ns); }

void store_write_latency(store_write_kind_t kind, prom_hist_t *out) { prom_ahist_read(&g_latency[kind], out); }
