/* metrics.h — what the core counts about its calls and instances, for the
 * metrics page (GET /metrics) and the console's history.
 *
 * Every figure lives in the function version it is about (router_fn_t.
 * metrics) and is a plain integer the loop thread alone writes: a call's
 * end costs a few additions and a bin search, no lock, no allocation (but
 * a function's first call, which allocates its history), no system call.
 * The page is written on the loop thread too, so it reads them as they
 * are.
 *
 * The history is a ring of 10-second buckets over the last hour, one per
 * function (all its versions together), kept on its $LATEST state: counts
 * and the duration bins of each bucket, from which p50/p99 come. 360
 * buckets of about 100 bytes: ~37 KB per function that was ever called.
 */
#ifndef NIMBUS_CORE_METRICS_H
#define NIMBUS_CORE_METRICS_H

#include <stdint.h>

#include "base/prom.h"
#include "base/util.h"

struct router;
struct router_fn;
struct call;
struct instance;

/* How a call ended, as the metrics page names it. */
typedef enum {
    METRICS_SUCCESS,
    METRICS_FUNCTION_ERROR,  /* the function's error, an init error, an HTTP error status */
    METRICS_TIMEOUT,         /* Sandbox.Timedout */
    METRICS_THROTTLE,        /* a 429: never ran */
    METRICS_CRASH,           /* the runtime exited or dropped the call; the sandbox failed */
    METRICS_OOM,             /* Runtime.OutOfMemory */
    METRICS_OUTCOMES,
} metrics_outcome_t;

/* Why a call was throttled. */
typedef enum {
    METRICS_THR_RESERVED,    /* the function's reserved concurrency (0: always) */
    METRICS_THR_ACCOUNT,     /* the account's calls in flight (--account-concurrency) */
    METRICS_THR_INSTANCES,   /* the function's instance limit (--max-instances) */
    METRICS_THR_QUEUE_FULL,  /* the function's wait line was full */
    METRICS_THR_REASONS,
} metrics_throttle_t;

/* The parts of a cold start. */
typedef enum {
    METRICS_PHASE_SANDBOX,      /* spawn request -> process running */
    METRICS_PHASE_RUNTIME_INIT, /* process running -> runtime ready (first /next; FC's server up) */
    METRICS_PHASE_HANDLER_INIT, /* the handler's own init, where it is apart (see docs/metrics.md) */
    METRICS_PHASES,
} metrics_phase_t;

extern const char *const metrics_outcome_names[METRICS_OUTCOMES];
extern const char *const metrics_throttle_names[METRICS_THR_REASONS];
extern const char *const metrics_phase_names[METRICS_PHASES];

/* The history's buckets. */
#define METRICS_SLOT_MS 10000u
#define METRICS_SLOTS 360u

typedef struct {
    uint32_t slot;            /* wall time / 10 s of what it holds; another: stale */
    uint32_t invocations, errors, throttles, cold_starts;
    uint32_t bins[PROM_BINS]; /* durations of the calls that ran */
} metrics_bucket_t;

/* One version's counters (in router_fn_t). */
typedef struct {
    uint64_t outcomes[METRICS_OUTCOMES];
    uint64_t throttles[METRICS_THR_REASONS];
    uint64_t cold_starts;
    prom_hist_t duration;                 /* calls that ran: start -> end */
    prom_hist_t init[METRICS_PHASES];
    uint64_t last_wall_ms;                /* $LATEST: the last call of any version ended, 0 never */
    metrics_bucket_t *history;            /* $LATEST: METRICS_SLOTS buckets, or NULL (never called) */
} metrics_fn_t;

/* ---- hooks (loop thread) ---- */

/* A call ended with `outcome` (call.c's finish, once per call). */
void metrics_call_ended(const struct call *c, int outcome, const char *error_type);
/* A new call was refused at once (reserved concurrency 0, a full wait
 * line): router_refuse_reason said so. */
void metrics_call_refused(const struct router *r, struct router_fn *fn);
/* An instance became ready: its init phases. */
void metrics_instance_ready(const struct instance *in);
/* Free what a function's counters hold (its state is going). */
void metrics_fn_free(metrics_fn_t *m);

/* ---- reading ---- */

/* One point of a function's history: `step_s` seconds from `t0_s`. */
typedef struct {
    uint64_t t0_s;
    uint64_t invocations, errors, throttles, cold_starts;
    double p50_ms, p99_ms;    /* -1: no call ran */
} metrics_point_t;

/* The history of `latest` (all its versions) in `n` points of `step_s`
 * (a multiple of 10), the last one ending with the 10-second bucket that
 * holds `now_ms`. */
void metrics_history(const struct router_fn *latest, uint64_t now_ms, unsigned step_s, size_t n,
                     metrics_point_t *out);
/* Write every function's series (calls, throttles, cold starts, init
 * phases, durations, instances by state, concurrency) to `b` in the
 * exposition format. */
void metrics_write_functions(buf_t *b, struct router *r);

#endif
