/* core.h — what the core is given by whoever assembles it (the daemon, or a
 * unit test): the loop, the log sink, the code store, the sandbox and the
 * transports, the limits, and the callbacks up to the layers above.
 *
 * The core never reaches for anything else: no daemon, no HTTP server, no
 * control plane. A test builds a core_ctx_t with a fake sandbox and a fake
 * transport and drives the scheduler and instances exactly.
 */
#ifndef NIMBUS_CORE_H
#define NIMBUS_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/runtime.h"
#include "io/loop.h"
#include "sandbox/sandbox.h"
#include "store/codestore.h"

typedef struct logs logs_t;
typedef struct transport transport_t;
struct router_fn;

/* The scheduler's limits (set once at start). */
typedef struct {
    unsigned max_instances_per_fn; /* instances of one function (or its reserved concurrency) */
    unsigned account_concurrency;  /* calls in flight over all functions of one account, unless
                                      the router was given the account's own (router_account_set_limit) */
    uint64_t keep_alive_ms;        /* idle instance reclaimed after, unless the function says */
    uint64_t throttle_wait_ms;     /* a call over a limit waits this long for room, then 429 */
    unsigned max_queue;            /* waiting calls per function before an immediate 429 */
    uint64_t init_timeout_ms;      /* an instance's init phase limit */
    uint64_t term_grace_ms;        /* SIGTERM -> SIGKILL */
    size_t stream_max_bytes;       /* a streamed response's cap; 0 -> CALL_STREAM_MAX_DEFAULT */
    size_t log_call_max_bytes;     /* a call's stored output; 0 -> CALL_LOG_MAX_DEFAULT */
} core_limits_t;

typedef struct core_ctx {
    loop_t *loop;
    logs_t *logs;                  /* where every log line goes */
    codestore_t *code;             /* where a function's code tree is */
    const sandbox_ops_t *sandbox;  /* how instances are made and ended */
    const transport_t *transports[RUNTIME_API_COUNT]; /* one per contract */
    core_limits_t limits;
    bool stopping;                 /* shutting down: no new instances, calls or reuse */
    /* A code tree may have lost its last user (a function or a live
     * instance): the control plane decides whether to remove it. */
    void (*code_released)(void *arg, const char *hex);
    void *hooks_arg;
    /* A call of `fn` stopped running: its concurrency is free again, and
     * whoever holds calls back until there is room (the async queue, which
     * sets this) may look again. Called after the router's own waiting
     * calls had their turn; NULL for nobody. Must not end calls. */
    void (*capacity_freed)(void *arg, struct router_fn *fn);
    void *capacity_arg;
} core_ctx_t;

/* The limits that are the core's own (init phase, stop grace); the
 * scheduler's limits are always given by whoever makes the context. */
void core_limits_defaults(core_limits_t *l);

#endif
