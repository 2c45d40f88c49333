/* async_internal.h — what the async queue's files share: async.c (the
 * queue, the dispatcher, the attempts), async_accept.c (events coming in:
 * accepts, redrives; purges) and async_route.c (outcomes going out: the
 * invocation record, destinations, dead letters). Not a contract: nothing
 * outside src/core/async*.c includes it.
 */
#ifndef NIMBUS_ASYNC_INTERNAL_H
#define NIMBUS_ASYNC_INTERNAL_H

#include "base/list.h"
#include "core/async.h"
#include "core/call.h"

/* Where an unfinished event is. */
typedef enum {
    AEV_WAITING,   /* due: in its function's ready list */
    AEV_DELAYED,   /* a retry or a backoff: its timer makes it due */
    AEV_RUNNING,   /* an attempt is a call */
    AEV_ROUTING,   /* finished running; its outcome is on its way to a destination */
} aev_phase_t;

typedef struct afn afn_t;
typedef struct async_delivery async_delivery_t;

/* An unfinished event in memory: only what delivering it needs (the store
 * keeps the rest), so a long queue stays small. */
typedef struct aev {
    char id[37];
    afn_t *fn;                 /* its function's queue */
    char *qualifier;           /* malloc'd, "" for $LATEST */
    char *payload;             /* malloc'd, NUL-terminated */
    size_t payload_len;
    queue_state_t state;       /* as stored */
    int attempts;              /* attempts that counted */
    int64_t created_ms;
    int64_t next_ms;
    char *last_error;          /* malloc'd "type: message", or NULL */
    uint64_t seq;              /* accept order: the order it is delivered in */
    aev_phase_t phase;
    int backoffs;              /* throttles and platform errors in a row */
    loop_timer_t *timer;       /* DELAYED: when it is due */
    call_t *call;              /* RUNNING */
    int64_t attempt_start_ms;
    /* The last attempt that ran, for the invocation record. */
    char *result;              /* malloc'd answer, or NULL */
    size_t result_len;
    char executed_version[16];
    bool function_error;       /* the last attempt failed */
    bool zombie;               /* finished while its attempt was being submitted */
    /* ROUTING: where its outcome is going. */
    const char *route_label;   /* "OnSuccess", "OnFailure", "DeadLetterConfig" */
    char *route_target;        /* malloc'd ARN or URL */
    queue_state_t route_ok;    /* its final state once delivered */
    async_delivery_t *delivery;/* to a URL: the POST and its retries */
    list_node_t link;          /* WAITING: in fn->ready */
    list_node_t all_link;      /* in fn->all, oldest first */
    list_node_t unstarted_link;/* RUNNING and its call still waits for an instance */
    struct aev *hnext;         /* the id table's chain */
} aev_t;

struct afn {
    char name[65];
    async_t *a;
    list_node_t ready;         /* due events in accept order */
    list_node_t all;           /* every unfinished event */
    list_node_t active_link;   /* in async.active while ready is not empty */
    unsigned n_queued, n_running, n_retrying;
    async_stats_t totals;      /* its cumulative counters */
};

/* Something the store or a worker answers later. async_free orphans what
 * is still in flight (a = NULL): its callback then only frees it. */
typedef struct async_op {
    list_node_t link;
    async_t *a;
    void (*orphan)(struct async_op *op); /* at async_free; NULL: only a = NULL */
} async_op_t;

/* Both counters of a cumulative figure: the function's and the total. */
#define ASYNC_COUNT(a, f, field) ((a)->totals.field++, (f)->totals.field++)

struct async {
    router_t *r;
    loop_t *loop;
    queue_store_t *store;
    async_limits_t lim;
    async_policy_fn policy;
    void *policy_arg;
    afn_t **fns;               /* sorted by name */
    size_t nfns, cap;
    aev_t **ids;               /* id table: chained, power-of-two buckets */
    size_t nbuckets, nids;
    list_node_t active;        /* afn_t with due events */
    list_node_t unstarted;     /* aev_t whose call is queued in a pool */
    list_node_t ops;           /* async_op_t in flight */
    unsigned nready;           /* due events over all functions */
    unsigned naccepting;       /* accepts not yet durable */
    uint64_t seq;
    bool started, stopped;
    aev_t *submitting;         /* the event whose call is being submitted */
    loop_timer_t *kick;        /* a dispatch is due */
    loop_timer_t *tick;        /* while events wait for room: look again */
    async_stats_t totals;
};

/* async.c */
aev_t *async_ev_new(const char *qualifier, const char *payload, size_t len);
void async_ev_free(aev_t *e);
/* A new durable event joins its function's queue, due now. */
void async_ev_enqueue(async_t *a, aev_t *e, const char *function);
afn_t *async_fn_get(async_t *a, const char *name);
/* Change where an event is, keeping its function's counters right. */
void async_ev_move(aev_t *e, aev_phase_t phase, queue_state_t state);
afn_t *async_fn_find(const async_t *a, const char *name);
aev_t *async_ev_find(const async_t *a, const char *id);
/* The policy now in force for e; false when its function is gone. */
bool async_ev_policy(async_t *a, const aev_t *e, async_policy_t *pol, char dead_letter[512]);
/* An unfinished event leaves memory: its final state (and where its
 * outcome went) is written, its counters move. */
void async_ev_finish(async_t *a, aev_t *e, queue_state_t final, const char *destination);
/* The state now written for it (unfinished states). */
void async_ev_store_state(async_t *a, const aev_t *e);
void async_op_add(async_t *a, async_op_t *op, void (*orphan)(async_op_t *op));
void async_op_done(async_op_t *op);
/* Memory that must be there (out of memory aborts, as buf_t does). */
char *async_strdup(const char *s);
char *async_memdup(const void *p, size_t n);
void async_set_last_error(aev_t *e, const char *msg);
/* A delay of Lambda's, scaled for tests. */
uint64_t async_scaled(const async_t *a, uint64_t ms);
/* Throttle / platform-error backoff: 1 s doubling to 5 min, scaled. */
uint64_t async_backoff_ms(const async_t *a, int n);

/* async_accept.c */
/* Accept an event; `internal` ones (destinations, redrives) skip the
 * payload and queue limits. */
void async_accept_event(async_t *a, const async_event_t *ev, bool internal, async_accepted_fn done, void *arg);

/* async_route.c */
void async_route_success(async_t *a, aev_t *e);
void async_route_failure(async_t *a, aev_t *e, const char *condition);
/* Straight to the dead-letter list (its function is gone). */
void async_route_dead(async_t *a, aev_t *e, const char *why);

#endif
