/* metrics.c — the core's counters: a call's end, a refusal, an instance's
 * init phases; the history ring; the functions' part of the metrics page.
 *
 * Owns metrics_fn_t's contents. Must never: take a lock, allocate or make
 * a system call on a call's path (the history's one allocation is at a
 * function's first call), or count a call twice.
 */
#include "core/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "core/call.h"
#include "core/instance.h"
#include "core/router.h"

const char *const metrics_outcome_names[METRICS_OUTCOMES] = {
    "success", "function_error", "timeout", "throttle", "crash", "oom",
};
const char *const metrics_throttle_names[METRICS_THR_REASONS] = {
    "reserved_concurrency", "account_concurrency", "instance_limit", "queue_full",
};
const char *const metrics_phase_names[METRICS_PHASES] = { "sandbox", "runtime_init", "handler_init" };

static metrics_outcome_t classify(int outcome, const char *type)
{
    switch (outcome) {
    case CALL_OK: return METRICS_SUCCESS;
    case CALL_THROTTLED: return METRICS_THROTTLE;
    default: break;
    }
    if (!type) return METRICS_FUNCTION_ERROR;
    if (strcmp(type, "Sandbox.Timedout") == 0) return METRICS_TIMEOUT;
    if (strcmp(type, "Runtime.OutOfMemory") == 0) return METRICS_OOM;
    if (strcmp(type, "Runtime.ExitError") == 0 || strcmp(type, "Runtime.ConnectionError") == 0 ||
        strcmp(type, "Sandbox.Failure") == 0)
        return METRICS_CRASH;
    return METRICS_FUNCTION_ERROR;
}

/* Which limit holds a waiting call back, in the order the router checks
 * them (router_throttle_reason). */
static metrics_throttle_t throttle_kind(const router_t *r, const router_fn_t *fn)
{
    if (fn->cfg.reserved_concurrency >= 0 && pool_inflight(&fn->pool) >= (unsigned)fn->cfg.reserved_concurrency)
        return METRICS_THR_RESERVED;
    if (router_account_full(r, fn)) return METRICS_THR_ACCOUNT;   /* its owner's account */
    return METRICS_THR_INSTANCES;
}

static router_fn_t *latest_of(router_fn_t *fn) { return fn->latest ? fn->latest : fn; }

/* This 10-second slot's bucket of `latest`, emptied if it held an older
 * slot; NULL without memory (the history then misses the call). */
static metrics_bucket_t *bucket_now(router_fn_t *latest, uint64_t wall_ms)
{
    metrics_fn_t *m = &latest->metrics;
    m->last_wall_ms = wall_ms;
    if (!m->history && !(m->history = calloc(METRICS_SLOTS, sizeof *m->history))) return NULL;
    uint32_t slot = (uint32_t)(wall_ms / METRICS_SLOT_MS);
    metrics_bucket_t *b = &m->history[slot % METRICS_SLOTS];
    if (b->slot != slot) {
        memset(b, 0, sizeof *b);
        b->slot = slot;
    }
    return b;
}

static void count_throttle(router_fn_t *fn, metrics_throttle_t why)
{
    fn->metrics.outcomes[METRICS_THROTTLE]++;
    fn->metrics.throttles[why]++;
    metrics_bucket_t *b = bucket_now(latest_of(fn), loop_wall_ms());
    if (b) b->throttles++;
}

void metrics_call_ended(const call_t *c, int outcome, const char *error_type)
{
    router_fn_t *fn = c->fn;
    metrics_outcome_t o = classify(outcome, error_type);
    if (o == METRICS_THROTTLE) {
        count_throttle(fn, throttle_kind(c->router, fn));
        return;
    }
    /* Refused for another reason (its function deleted while it waited):
     * no outcome of a call. */
    if (outcome == CALL_REJECTED && c->state != CALL_RUNNING) return;
    metrics_fn_t *m = &fn->metrics;
    m->outcomes[o]++;
    if (c->cold) m->cold_starts++;
    bool ran = c->state == CALL_RUNNING;
    uint64_t ns = ran ? loop_now_ns() - c->start_ns : 0;
    if (ran) prom_hist_observe(&m->duration, ns);
    metrics_bucket_t *b = bucket_now(latest_of(fn), loop_wall_ms());
    if (!b) return;
    b->invocations++;
    if (o != METRICS_SUCCESS) b->errors++;
    if (c->cold) b->cold_starts++;
    if (ran) b->bins[prom_bin_of(ns)]++;
}

void metrics_call_refused(const router_t *r, router_fn_t *fn)
{
    (void)r;
    count_throttle(fn, fn->cfg.reserved_concurrency == 0 ? METRICS_THR_RESERVED : METRICS_THR_QUEUE_FULL);
}

void metrics_instance_ready(const instance_t *in)
{
    metrics_fn_t *m = &in->fn->metrics;
    uint64_t sandbox = in->proc.spawn_ns;
    uint64_t after = in->init_ns > sandbox ? in->init_ns - sandbox : 0;   /* process running -> ready */
    prom_hist_observe(&m->init[METRICS_PHASE_SANDBOX], sandbox);
    if (in->runtime_up_ns) {
        /* The contract told the runtime's start (FC: its server answers)
         * from the handler's own init (FC: /initialize). */
        uint64_t up = in->runtime_up_ns - in->spawn_ns;
        uint64_t rt = up > sandbox ? up - sandbox : 0;
        prom_hist_observe(&m->init[METRICS_PHASE_RUNTIME_INIT], rt);
        prom_hist_observe(&m->init[METRICS_PHASE_HANDLER_INIT], after > rt ? after - rt : 0);
    } else if (in->proc.prestarted) {
        /* The interpreter was started ahead, off this start's path: what
         * is left after the sandbox is loading the handler. */
        prom_hist_observe(&m->init[METRICS_PHASE_HANDLER_INIT], after);
    } else {
        /* Lambda's runtimes load the handler before their first /next:
         * one phase, told as the runtime's. */
        prom_hist_observe(&m->init[METRICS_PHASE_RUNTIME_INIT], after);
    }
}

void metrics_fn_free(metrics_fn_t *m)
{
    free(m->history);
    m->history = NULL;
}

/* ---- the history ---- */

void metrics_history(const router_fn_t *latest, uint64_t now_ms, unsigned step_s, size_t n, metrics_point_t *out)
{
    unsigned per = step_s / (METRICS_SLOT_MS / 1000u);        /* buckets per point */
    uint64_t slot_s = METRICS_SLOT_MS / 1000u;
    /* The last point ends with the bucket now fills: the points cover the
     * last n * step_s seconds, on 10-second boundaries. */
    uint64_t first = (now_ms / METRICS_SLOT_MS + 1 - (uint64_t)n * per) * slot_s;
    const metrics_bucket_t *h = latest->metrics.history;
    uint32_t oldest = (uint32_t)(now_ms / METRICS_SLOT_MS) - (METRICS_SLOTS - 1);
    for (size_t i = 0; i < n; i++) {
        metrics_point_t *p = &out[i];
        memset(p, 0, sizeof *p);
        p->t0_s = first + i * step_s;
        uint32_t bins[PROM_BINS] = { 0 };
        for (unsigned k = 0; h && k < per; k++) {
            uint32_t slot = (uint32_t)(p->t0_s / slot_s) + k;
            const metrics_bucket_t *b = &h[slot % METRICS_SLOTS];
            if (slot < oldest || b->slot != slot) continue;
            p->invocations += b->invocations;
            p->errors += b->errors;
            p->throttles += b->throttles;
            p->cold_starts += b->cold_starts;
            for (unsigned j = 0; j < PROM_BINS; j++) bins[j] += b->bins[j];
        }
        double p50 = prom_bins_quantile(bins, 0.5), p99 = prom_bins_quantile(bins, 0.99);
        p->p50_ms = p50 < 0 ? -1 : p50 / 1e6;
        p->p99_ms = p99 < 0 ? -1 : p99 / 1e6;
    }
}

/* ---- the page ---- */

static void write_fn(buf_t *b, const router_fn_t *fn, const char *family)
{
    const metrics_fn_t *m = &fn->metrics;
    prom_label_t l[3] = { { "function", fn->cfg.name }, { "version", fn->cfg.version }, { NULL, NULL } };
    if (strcmp(family, "nimbus_invocations_total") == 0) {
        l[2].name = "outcome";
        for (unsigned i = 0; i < METRICS_OUTCOMES; i++) {
            l[2].value = metrics_outcome_names[i];
            prom_sample_u64(b, family, l, 3, m->outcomes[i]);
        }
    } else if (strcmp(family, "nimbus_throttles_total") == 0) {
        l[2].name = "reason";
        for (unsigned i = 0; i < METRICS_THR_REASONS; i++) {
            l[2].value = metrics_throttle_names[i];
            prom_sample_u64(b, family, l, 3, m->throttles[i]);
        }
    } else if (strcmp(family, "nimbus_cold_starts_total") == 0) {
        prom_sample_u64(b, family, l, 2, m->cold_starts);
    } else if (strcmp(family, "nimbus_invocation_duration_seconds") == 0) {
        prom_histogram(b, family, l, 2, &m->duration);
    } else if (strcmp(family, "nimbus_init_duration_seconds") == 0) {
        l[2].name = "phase";
        for (unsigned i = 0; i < METRICS_PHASES; i++) {
            l[2].value = metrics_phase_names[i];
            prom_histogram(b, family, l, 3, &m->init[i]);
        }
    } else if (strcmp(family, "nimbus_instances") == 0) {
        static const char *const st[] = { "starting", "idle", "busy", "stopping" };
        uint64_t n[4] = { 0 };
        list_each(it, &fn->pool.instances) {
            const instance_t *in = list_entry(it, instance_t, fn_link);
            n[in->state == INST_STARTING ? 0 : in->state == INST_STOPPING ? 3 : in->n_busy ? 2 : 1]++;
        }
        l[2].name = "state";
        for (unsigned i = 0; i < 4; i++) {
            l[2].value = st[i];
            prom_sample_u64(b, family, l, 3, n[i]);
        }
    } else if (strcmp(family, "nimbus_concurrent_executions") == 0) {
        prom_sample_u64(b, family, l, 2, pool_inflight(&fn->pool));
    } else if (strcmp(family, "nimbus_queued_calls") == 0) {
        prom_sample_u64(b, family, l, 2, pool_queued(&fn->pool));
    }
}

/* A version with nothing to say is left out (bounded pages for functions
 * with many versions); $LATEST is always there. */
static bool active(const router_fn_t *fn)
{
    const metrics_fn_t *m = &fn->metrics;
    if (!fn->latest || pool_instances(&fn->pool) || m->cold_starts) return true;
    for (unsigned i = 0; i < METRICS_OUTCOMES; i++)
        if (m->outcomes[i]) return true;
    return false;
}

void metrics_write_functions(buf_t *b, router_t *r)
{
    static const struct { const char *name, *type, *help; } F[] = {
        { "nimbus_invocations_total", "counter", "Calls that ended, by outcome." },
        { "nimbus_throttles_total", "counter", "Calls throttled (429), by the limit that held them back." },
        { "nimbus_cold_starts_total", "counter", "Calls that started a new instance." },
        { "nimbus_invocation_duration_seconds", "histogram", "Duration of calls that ran, from delivery to answer." },
        { "nimbus_init_duration_seconds", "histogram", "Cold start phases of new instances." },
        { "nimbus_instances", "gauge", "Live instances by state." },
        { "nimbus_concurrent_executions", "gauge", "Calls running now." },
        { "nimbus_queued_calls", "gauge", "Calls waiting for an instance or for room under a limit." },
    };
    for (size_t k = 0; k < sizeof F / sizeof F[0]; k++) {
        prom_family(b, F[k].name, F[k].type, F[k].help);
        for (size_t i = 0; i < router_count(r); i++) {
            const router_fn_t *fn = router_at(r, i);
            write_fn(b, fn, F[k].name);
            for (size_t v = 0; v < fn->nversions; v++)
                if (active(fn->versions[v])) write_fn(b, fn->versions[v], F[k].name);
        }
    }
}
