/* pool.h — one function version's instances and waiting calls, and the
 * counters the scheduler decides on.
 *
 * Only these functions change the counters, so each count has one place
 * where it moves and can be checked: instances alive, instances still in
 * init (starting), slots answered whose next request for work is on its way
 * (returning), calls waiting (queued) and calls running (in flight).
 * Memory only, loop thread only.
 */
#ifndef NIMBUS_POOL_H
#define NIMBUS_POOL_H

#include <stdbool.h>

#include "base/list.h"

typedef struct pool {
    list_node_t instances;    /* every live instance (instance_t.fn_link) */
    list_node_t idle;         /* instances with a free slot (instance_t.idle_link) */
    list_node_t queue;        /* calls waiting for a slot (call_t.link) */
    /* Read them through the functions below; only pool.c writes them. */
    unsigned n_instances, n_starting, n_returning, n_queued, inflight;
} pool_t;

void pool_init(pool_t *p);

/* Instances. */
void pool_instance_add(pool_t *p, list_node_t *fn_link);
void pool_instance_remove(pool_t *p, list_node_t *fn_link);
void pool_starting_add(pool_t *p, int delta);
/* Slots that will ask for work soon (answered, or opened at readiness). */
void pool_returning_add(pool_t *p, unsigned n);
void pool_returning_sub(pool_t *p, unsigned n);
/* Keep an instance in or out of the idle list (most recent last). */
void pool_idle_set(pool_t *p, list_node_t *idle_link, bool idle);

/* Calls. */
void pool_push(pool_t *p, list_node_t *call_link);
/* The oldest waiting call's link, taken off the queue, or NULL. */
list_node_t *pool_pop(pool_t *p);
/* Take a waiting call off the queue (it ended while waiting). */
void pool_unqueue(pool_t *p, list_node_t *call_link);
void pool_call_started(pool_t *p);
void pool_call_ended(pool_t *p);

static inline unsigned pool_instances(const pool_t *p) { return p->n_instances; }
static inline unsigned pool_starting(const pool_t *p) { return p->n_starting; }
static inline unsigned pool_returning(const pool_t *p) { return p->n_returning; }
static inline unsigned pool_queued(const pool_t *p) { return p->n_queued; }
static inline unsigned pool_inflight(const pool_t *p) { return p->inflight; }

#endif
