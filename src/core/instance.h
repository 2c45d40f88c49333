/* instance.h — one running copy of a function: its process tree, its
 * runtime-API endpoint and where it stands in the Runtime API's state
 * machine (Lambda's Started -> Ready -> Running -> Response -> Ready).
 *
 * The activator creates instances; their transport (core/transport.h)
 * moves them through their states; the router hands them calls. Loop
 * thread only.
 */
#ifndef NIMBUS_INSTANCE_H
#define NIMBUS_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/list.h"
#include "base/util.h"
#include "core/router.h"
#include "core/transport.h"
#include "sandbox/sandbox.h"

typedef enum {
    INST_STARTING,   /* spawned, not ready for calls yet (init) */
    INST_READY,      /* takes calls: each parked /next is a free slot */
    INST_STOPPING,   /* killed or retiring; waiting for the process to exit */
} instance_state_t;

/* An instance serves up to `capacity` calls at once (the function's
 * InstanceConcurrency, 1 by default). Each slot is, at any time, free (the
 * runtime asked for work: a parked /next, an idle connection), busy (a
 * running call), or returning (a call answered, its next request for work
 * on its way). The router counts free and returning slots, never guesses. */
struct instance {
    char id[40];               /* names its cgroup and log stream */
    router_fn_t *fn;           /* its function (holds a ref) */
    router_t *router;          /* its scheduler, and through it the core's context */
    uint64_t generation;       /* fn generation it was started on */
    char code_hex[65];         /* code it runs (kept until it exits) */
    char opt_hex[65];          /* the merged tree of its layers at /opt, "" for none (the same) */
    const struct runtime *rt;  /* its runtime */
    const transport_t *tp;     /* how it gets calls (its runtime's contract) */
    void *tp_state;            /* the transport's own state for it */
    instance_state_t state;
    sandbox_proc_t proc;
    unsigned capacity;         /* slots */
    unsigned n_free;           /* free slots (the transport holds what they are) */
    list_node_t calls;         /* running calls (call_t.inst_link) */
    unsigned n_busy;
    unsigned n_returning;      /* answered; their /next has not come back */
    unsigned n_expected;       /* slots never opened yet since it became ready
                                  (counted as coming, not as busy) */
    char (*answered)[37];      /* ids answered lately: a repeat answer is a 403 */
    unsigned n_answered_slots, answered_next;
    bool ready_seen;           /* it has asked for work at least once */
    bool reached_ready;        /* it became READY (else its end is an init failure) */
    bool provisioned;          /* started ahead of calls (provisioned concurrency):
                                  never reclaimed idle, its calls are not cold starts */
    bool init_error;           /* it posted /runtime/init/error */
    char *init_error_body;     /* what it posted there (malloc'd) */
    size_t init_error_len;
    char init_error_type[128];
    uint64_t spawn_ns;         /* when the activator started it */
    uint64_t init_ns;          /* spawn -> ready (Init Duration) */
    uint64_t runtime_up_ns;    /* when its contract saw the runtime up before the handler's init (FC), 0 */
    unsigned calls_served;
    buf_t out_line, err_line;  /* partial output lines */
    size_t out_stored;         /* output belonging to no one call (init, InstanceConcurrency > 1)
                                  stored since the last call started on it, against one call's cap */
    size_t out_dropped, out_dropped_lines; /* ... and what was dropped past it */
    buf_t init_log;            /* its output before it was ready (bounded): the log
                                  tail of the call an init failure fails */
    loop_timer_t *init_timer;  /* kills an instance stuck in init */
    loop_timer_t *kill_timer;  /* SIGKILL after the grace of a SIGTERM */
    loop_timer_t *keepalive_timer; /* armed while wholly idle: reclaim at expiry */
    bool exited;               /* its first process is gone; being released */
    bool spawning;             /* its sandbox is being built (no process, no fds yet) */
    char *env_block;           /* the environment it was given, NUL-separated (runtimes that
                                  may be pre-started only: their /proc environ is not it) */
    size_t env_len;
    list_node_t fn_link;       /* in fn->instances */
    list_node_t idle_link;     /* in fn->idle while READY with a parked /next */
    list_node_t all_link;      /* in the router's list of all instances */
};

/* The activator: start a new instance of fn (cold start). On failure the
 * error says why (missing bootstrap -> ERR_INVALID with Lambda's
 * Runtime.InvalidEntrypoint text). */
instance_t *instance_start(router_t *r, router_fn_t *fn, bool provisioned, err_t *err);
/* Tell the sandbox a function of `fn`'s runtime exists (loaded or
 * created), so it starts runtimes of it ahead of the first cold start.
 * Nothing for a runtime that may not start ahead, or Network host. */
void instance_warm(router_t *r, const router_fn_t *fn);
/* Is the first runtime of `cfg`'s kind (`fn` a function of it) still being
 * started ahead (sandbox_warming)? */
bool instance_warming(router_t *r, const router_fn_t *fn, const function_config_t *cfg);
/* No longer one of its version's provisioned instances. */
void instance_unprovision(instance_t *in);
/* Give a call to an instance with a free slot (through its transport). */
void instance_deliver(instance_t *in, call_t *c);

/* From its transport: */
/* A slot became free (a /next arrived, a connection is idle again). */
void instance_slot_opened(instance_t *in);
/* A free slot went away (the runtime hung up while waiting). */
void instance_slot_lost(instance_t *in);
/* The instance is ready for calls (first /next, SCF's init/ready, FC's
 * server answering). */
void instance_ready(instance_t *in);
/* It asked for work at least once (its init finished, as far as it knows). */
void instance_seen(instance_t *in);
/* Its init failed: the error type and the document the waiting call gets
 * (copied; NULL/0 for none). Does not end the instance. */
void instance_init_failed(instance_t *in, const char *type, const char *doc, size_t len);
/* A call on the instance was answered by its runtime. */
void instance_answered(instance_t *in, call_t *c);
/* True if `id` was answered by this instance lately. */
bool instance_was_answered(const instance_t *in, const char *id);
/* The running call with that request id, or NULL; the oldest running call. */
call_t *instance_find_call(const instance_t *in, const char *id);
call_t *instance_first_call(const instance_t *in);

/* A running call left the instance without an answer (timeout, or it
 * ended another way). */
void instance_call_gone(instance_t *in, call_t *c);
/* End an instance now (timeout, shutdown): SIGKILL its tree. */
void instance_kill(instance_t *in);
/* Ask the instance to stop (SIGTERM, then SIGKILL after a grace period). */
void instance_terminate(instance_t *in);
/* GET /nimbus/v1/functions/NAME/instances: {"Instances":[{Id, Version,
 * State, Pid, AgeMs, CallsServed, Busy, Capacity, MemoryBytes,
 * PeakMemoryBytes, InitDurationMs}]} as a malloc'd string. */
char *instance_list_json(router_fn_t *fn);
/* A live instance of fn (any version) by id; "" or "latest" picks the
 * most recently started ready one. NULL when none. */
instance_t *instance_find(router_fn_t *fn, const char *id);
/* Read output already waiting in its pipe (before END is written). */
void instance_drain_output(instance_t *in);
/* A call starts on the instance: output of no one call gets a fresh
 * window of one call's cap (and a line saying what the last one dropped). */
void instance_output_window(instance_t *in);
/* The core's context it lives in. */
core_ctx_t *instance_ctx(const instance_t *in);

#endif
