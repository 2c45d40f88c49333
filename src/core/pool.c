/* pool.c — the counters of one function version's pool.
 *
 * Owns every change of n_instances, n_starting, n_returning, n_queued and
 * inflight. Must never let one go below zero: that would be an accounting
 * bug elsewhere, so it aborts rather than schedule on a wrapped count.
 */
#include "core/pool.h"

#include <stdlib.h>

static void sub(unsigned *v, unsigned n)
{
    if (*v < n) abort();
    *v -= n;
}

void pool_init(pool_t *p)
{
    list_init(&p->instances);
    list_init(&p->idle);
    list_init(&p->queue);
    p->n_instances = p->n_starting = p->n_returning = p->n_queued = p->inflight = 0;
}

void pool_instance_add(pool_t *p, list_node_t *n)
{
    list_push_back(&p->instances, n);
    p->n_instances++;
}

void pool_instance_remove(pool_t *p, list_node_t *n)
{
    if (!list_linked(n)) return;
    list_remove(n);
    sub(&p->n_instances, 1);
}

void pool_starting_add(pool_t *p, int delta)
{
    if (delta < 0) sub(&p->n_starting, (unsigned)-delta);
    else p->n_starting += (unsigned)delta;
}

void pool_returning_add(pool_t *p, unsigned n) { p->n_returning += n; }
void pool_returning_sub(pool_t *p, unsigned n) { sub(&p->n_returning, n); }

void pool_idle_set(pool_t *p, list_node_t *n, bool idle)
{
    if (idle && !list_linked(n)) list_push_back(&p->idle, n);
    if (!idle) list_remove(n);
}

void pool_push(pool_t *p, list_node_t *n)
{
    list_push_back(&p->queue, n);
    p->n_queued++;
}

list_node_t *pool_pop(pool_t *p)
{
    list_node_t *n = list_first(&p->queue);
    if (!n) return NULL;
    list_remove(n);
    sub(&p->n_queued, 1);
    return n;
}

void pool_unqueue(pool_t *p, list_node_t *n)
{
    if (!list_linked(n)) return;
    list_remove(n);
    sub(&p->n_queued, 1);
}

void pool_call_started(pool_t *p) { p->inflight++; }
void pool_call_ended(pool_t *p) { sub(&p->inflight, 1); }
