/* async_accept.c — events coming into the async queue: accepts (the
 * Invoke API's, a destination's, a timer's), and dead letters redriven as
 * new events or purged.
 *
 * Owns the accepts and the dead-letter walks in flight. Must never: put an
 * event in memory (or tell anyone it was accepted) before the store says
 * it is durable, or forget a dead letter whose copy was not accepted.
 */
#include "core/async_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* ---- accept ---- */

typedef struct {
    async_op_t op;
    aev_t *e;                 /* the new event, not yet in memory's tables */
    char function[65];
    async_accepted_fn done;
    void *arg;
    err_t err;                /* refused before the store saw it */
    loop_timer_t *timer;      /* ...and told on the next turn */
} accept_op_t;

static void accepted_cb(void *arg, const err_t *err, const char *dup_id)
{
    accept_op_t *op = arg;
    async_t *a = op->op.a;
    async_op_done(&op->op);
    if (!a) {
        async_ev_free(op->e);
        free(op);
        return;
    }
    a->naccepting--;
    aev_t *e = op->e;
    if (err || (dup_id && *dup_id)) {
        async_ev_free(e);
        if (op->done) op->done(op->arg, err, err ? NULL : dup_id, !err);
        free(op);
        return;
    }
    char id[37];
    memcpy(id, e->id, sizeof id);
    async_ev_enqueue(a, e, op->function);
    if (op->done) op->done(op->arg, NULL, id, false);
    free(op);
}

static void refused_cb(loop_t *l, void *arg)
{
    (void)l;
    accept_op_t *op = arg;
    op->timer = NULL;
    async_op_done(&op->op);
    if (op->done) op->done(op->arg, &op->err, NULL, false);
    free(op);
}

static void refused_orphan(async_op_t *op)
{
    accept_op_t *ao = (accept_op_t *)op;
    loop_timer_cancel(op->a->loop, ao->timer);
    async_op_done(op);
    free(ao);
}

void async_accept_event(async_t *a, const async_event_t *ev, bool internal, async_accepted_fn done, void *arg)
{
    accept_op_t *op = calloc(1, sizeof *op);
    if (!op) abort();
    op->done = done;
    op->arg = arg;
    snprintf(op->function, sizeof op->function, "%s", ev->function);
    /* Runtimes parse the event as JSON: an empty one is {}. */
    bool empty = !ev->payload || ev->payload_len == 0;
    const char *payload = empty ? "{}" : ev->payload;
    size_t len = empty ? 2 : ev->payload_len;
    int refused = 0;
    if (!internal && a->lim.max_payload_bytes && len > a->lim.max_payload_bytes)
        refused = err_set(&op->err, ERR_TOO_LARGE, "%zu byte payload is too large for the Event invocation type (limit %zu bytes)",
                          len, a->lim.max_payload_bytes);
    else if (!internal && a->lim.max_queued && a->nids + a->naccepting >= a->lim.max_queued)
        refused = err_set(&op->err, ERR_SYS, "the async queue is full: %u events wait", a->lim.max_queued);
    if (refused) {
        /* Told on the next turn, like every other answer of the store. */
        async_op_add(a, &op->op, refused_orphan);
        op->timer = loop_timer_add(a->loop, 0, refused_cb, op);
        return;
    }
    aev_t *e = async_ev_new(ev->qualifier, payload, len);
    e->created_ms = (int64_t)loop_wall_ms();
    util_uuid7(e->id, (uint64_t)e->created_ms);
    op->e = e;
    queue_event_t q;
    memset(&q, 0, sizeof q);
    memcpy(q.id, e->id, sizeof q.id);
    snprintf(q.function, sizeof q.function, "%s", ev->function);
    snprintf(q.qualifier, sizeof q.qualifier, "%s", e->qualifier);
    q.payload = e->payload;
    q.payload_len = len;
    q.state = QEV_QUEUED;
    q.created_ms = e->created_ms;
    snprintf(q.idempotency_key, sizeof q.idempotency_key, "%s", ev->idempotency_key ? ev->idempotency_key : "");
    snprintf(q.origin, sizeof q.origin, "%s", ev->origin && *ev->origin ? ev->origin : "invoke");
    a->naccepting++;
    async_op_add(a, &op->op, NULL);
    queue_store_accept(a->store, &q, q.idempotency_key[0] ? a->lim.idempotency_window_ms : 0, accepted_cb, op);
}

void async_accept(async_t *a, const async_event_t *ev, async_accepted_fn done, void *arg)
{
    async_accept_event(a, ev, false, done, arg);
}

/* ---- dead letters: redrive, purge ---- */

#define DLQ_PAGE 100

typedef struct dlq_walk dlq_walk_t;

/* One dead letter of the page being redriven. */
typedef struct {
    dlq_walk_t *w;
    char id[37];
} dlq_copy_t;

/* A walk over a function's dead letters, a page at a time. The letters
 * done with are deleted at the end, so paging never starts after a row
 * that is gone. */
struct dlq_walk {
    async_op_t op;
    char function[65];
    bool purge;
    char only[37];            /* redrive one: its id ("" all) */
    int64_t before_ms;        /* redrive: letters older than the redrive (its copies die later) */
    char after[37];           /* the page to list next starts after it */
    bool more;                /* there is a page after this one */
    bool listing;             /* the store has a query of ours */
    dlq_copy_t *copies;       /* this page's copies on their way */
    size_t ncopies;
    unsigned accepting;
    char (*done_ids)[37];     /* letters to delete at the end */
    size_t ndone, cap;
    err_t err;
    bool failed;
    async_count_fn done;
    void *arg;
};

static void walk_free(dlq_walk_t *w)
{
    free(w->copies);
    free(w->done_ids);
    free(w);
}

static void walk_orphan(async_op_t *op)
{
    dlq_walk_t *w = (dlq_walk_t *)op;
    async_op_done(op);
    op->a = NULL;
    /* Copies' accepts are orphaned too and never answer; a query of the
     * store still will, and frees it then. */
    if (!w->listing) walk_free(w);
}

static void walk_keep(dlq_walk_t *w, const char *id)
{
    if (w->ndone == w->cap) {
        size_t n = w->cap ? w->cap * 2 : 64;
        char (*p)[37] = realloc(w->done_ids, n * sizeof *p);
        if (!p) abort();
        w->done_ids = p;
        w->cap = n;
    }
    snprintf(w->done_ids[w->ndone++], 37, "%s", id);
}

static void walk_end(dlq_walk_t *w)
{
    async_t *a = w->op.a;
    for (size_t i = 0; i < w->ndone; i++) queue_store_delete(a->store, w->done_ids[i]);
    async_op_done(&w->op);
    if (w->done) w->done(w->arg, w->failed ? &w->err : NULL, w->ndone);
    walk_free(w);
}

static void walk_list(dlq_walk_t *w);

/* This page's copies are all durable (or refused): the next page. */
static void walk_next(dlq_walk_t *w)
{
    if (w->accepting) return;
    free(w->copies);
    w->copies = NULL;
    w->ncopies = 0;
    if (w->more && !w->failed) walk_list(w);
    else walk_end(w);
}

static void copy_accepted(void *arg, const err_t *err, const char *request_id, bool duplicate)
{
    (void)request_id;
    (void)duplicate;
    dlq_copy_t *c = arg;
    dlq_walk_t *w = c->w;
    w->accepting--;
    if (err) {
        if (!w->failed) w->err = *err;
        w->failed = true;
    } else {
        walk_keep(w, c->id);
    }
    walk_next(w);
}

static void redrive_one(dlq_walk_t *w, const queue_event_t *ev, dlq_copy_t *slot)
{
    slot->w = w;
    memcpy(slot->id, ev->id, sizeof slot->id);
    async_event_t copy = { .function = ev->function, .qualifier = ev->qualifier, .payload = ev->payload,
                           .payload_len = ev->payload_len, .origin = "redrive" };
    w->accepting++;
    async_accept_event(w->op.a, &copy, true, copy_accepted, slot);
}

static void page_listed(void *arg, const err_t *err, const queue_event_t *events, size_t n, const char *next)
{
    dlq_walk_t *w = arg;
    w->listing = false;
    if (!w->op.a) {
        walk_free(w);
        return;
    }
    if (err) {
        w->err = *err;
        w->failed = true;
        walk_end(w);
        return;
    }
    w->more = next && *next;
    if (w->more) snprintf(w->after, sizeof w->after, "%s", next);
    if (w->purge) {
        for (size_t i = 0; i < n; i++) walk_keep(w, events[i].id);
        walk_next(w);
        return;
    }
    w->copies = calloc(n ? n : 1, sizeof *w->copies);
    if (!w->copies) abort();
    /* Counted first, so copies answered at once do not end the page. */
    w->accepting++;
    for (size_t i = 0; i < n; i++) {
        if (events[i].state != QEV_DEAD || events[i].created_ms >= w->before_ms) continue;
        redrive_one(w, &events[i], &w->copies[w->ncopies++]);
    }
    w->accepting--;
    walk_next(w);
}

static void walk_list(dlq_walk_t *w)
{
    queue_query_t q = { .function = w->function, .state = QEV_DEAD, .after_id = w->after, .limit = DLQ_PAGE };
    w->listing = true;
    queue_store_list(w->op.a->store, &q, page_listed, w);
}

static void one_found(void *arg, const err_t *err, const queue_event_t *ev, const queue_attempt_t *attempts,
                      size_t nattempts)
{
    (void)attempts;
    (void)nattempts;
    dlq_walk_t *w = arg;
    w->listing = false;
    if (!w->op.a) {
        walk_free(w);
        return;
    }
    if (!err && (ev->state != QEV_DEAD || strcmp(ev->function, w->function) != 0))
        err_set(&w->err, ERR_NOT_FOUND, "No dead letter %s of function %s", w->only, w->function);
    else if (err)
        w->err = *err;
    if (err || w->err.code) {
        w->failed = true;
        walk_end(w);
        return;
    }
    w->copies = calloc(1, sizeof *w->copies);
    if (!w->copies) abort();
    w->ncopies = 1;
    redrive_one(w, ev, &w->copies[0]);
}

static dlq_walk_t *walk_new(async_t *a, const char *function, async_count_fn done, void *arg)
{
    dlq_walk_t *w = calloc(1, sizeof *w);
    if (!w) abort();
    snprintf(w->function, sizeof w->function, "%s", function);
    w->done = done;
    w->arg = arg;
    w->before_ms = (int64_t)loop_wall_ms() + 1;
    async_op_add(a, &w->op, walk_orphan);
    return w;
}

void async_redrive(async_t *a, const char *function, const char *id, async_count_fn done, void *arg)
{
    dlq_walk_t *w = walk_new(a, function, done, arg);
    if (id && *id) {
        snprintf(w->only, sizeof w->only, "%s", id);
        w->listing = true;
        queue_store_get(a->store, id, one_found, w);
        return;
    }
    walk_list(w);
}

void async_purge(async_t *a, const char *function, async_count_fn done, void *arg)
{
    dlq_walk_t *w = walk_new(a, function, done, arg);
    w->purge = true;
    walk_list(w);
}
