/* instance.h — one running copy of a function: its process tree, its
 * runtime-API endpoint and where it stands in the Runtime API's state
 * machine (Lambda's Started -> Ready -> Running -> Response -> Ready).
 *
 * The activator creates instances; the runtime API moves them through
 * their states; the router hands them calls. An instance serves one call at
 * a time. Loop thread only.
 */
#ifndef NIMBUS_INSTANCE_H
#define NIMBUS_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "list.h"
#include "router.h"
#include "sandbox.h"
#include "util.h"

typedef enum {
    INST_STARTING,   /* spawned, has not asked for work yet (init) */
    INST_IDLE,       /* parked in /next, in fn->idle */
    INST_BUSY,       /* serving `call` */
    INST_RETURNING,  /* answered; its next /next is on the way */
    INST_STOPPING,   /* killed or retiring; waiting for the process to exit */
} instance_state_t;

struct instance {
    char id[40];               /* "<fn>-<n>", names its cgroup and log stream */
    router_fn_t *fn;           /* its function (holds a ref) */
    router_t *router;          /* for callbacks from the loop */
    uint64_t generation;       /* fn generation it was started on */
    char code_hex[65];         /* code it runs (kept until it exits) */
    instance_state_t state;
    sandbox_proc_t proc;
    http_exchange_t *next_ex;  /* its parked /next, if any */
    call_t *call;              /* the call it serves (BUSY) */
    char last_id[37];          /* last call answered: a second answer is a 403 */
    bool ready_seen;           /* it has called /next at least once */
    bool init_error;           /* it posted /runtime/init/error */
    char *init_error_body;     /* what it posted there (malloc'd) */
    size_t init_error_len;
    char init_error_type[128];
    uint64_t spawn_ns;         /* when the activator started it */
    uint64_t init_ns;          /* spawn -> first /next (Init Duration) */
    unsigned calls_served;
    buf_t out_line, err_line;  /* partial output lines */
    loop_timer_t *init_timer;  /* kills an instance stuck in init */
    list_node_t fn_link;       /* in fn->instances */
    list_node_t idle_link;     /* in fn->idle while IDLE */
    list_node_t all_link;      /* in the router's list of all instances */
    loop_timer_t *kill_timer;  /* SIGKILL after the grace of a SIGTERM */
    bool exited;               /* its first process is gone; being released */
};

/* The activator: start a new instance of fn (cold start). On failure the
 * error says why (missing bootstrap -> ERR_INVALID with Lambda's
 * Runtime.InvalidEntrypoint text). */
instance_t *instance_start(router_t *r, router_fn_t *fn, err_t *err);
/* Give a call to an IDLE instance: answers its parked /next. */
void instance_deliver(router_t *r, instance_t *in, call_t *c);
/* End an instance now (timeout, retirement, shutdown): SIGKILL its tree. */
void instance_kill(router_t *r, instance_t *in);
/* Ask the instance to stop (SIGTERM, then SIGKILL after a grace period). */
void instance_terminate(router_t *r, instance_t *in);
/* Move to a state, keeping the function's counters and idle list true. */
void instance_set_state(instance_t *in, instance_state_t st);
/* Read whatever output is already in its pipes (before END is written). */
void instance_drain_output(router_t *r, instance_t *in);

#endif
