/* queue_sqlite.c — the async queue's durable half (queue.h): the loop
 * side, over the SQLite file that queue_sql.c owns.
 *
 * Owns the one writer and the order of writes. The loop thread only
 * gathers them: accepts and unwaited changes wait in `pending` while a
 * commit is in flight, and the next commit takes them all (group commit:
 * one fsync for every accept that arrived meanwhile). A commit holding an
 * accept is durable (synchronous=FULL); one holding only unwaited changes
 * is not fsync'd (the next durable commit syncs its frames too), so
 * deliveries do not pay an fsync each. Queries wait until every write
 * made before them has been committed, then run on a worker.
 * Must never: touch SQLite on the loop thread (except at start-up and
 * close, which block by contract), call an accept back as a success
 * before its commit returned, or have more than one commit in flight (the
 * order of writes is the order of calls).
 */
#include "store/queue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/queue_sql.h"

#define WHAT "queue store"
#define UNWAITED_DELAY_MS 5   /* unwaited changes alone wait this long for company */
#define RETRY_DELAY_MS 200    /* before writing them again after a failed commit */
#define UNWAITED_TRIES 3      /* commits an unwaited change may fail in before it is dropped */
#define LOAD_CHUNK 256        /* events in memory at once at start-up */
#define DEFAULT_LIMIT 100
#define MAX_LIMIT 10000

/* A commit on its way: owns its ops until its done runs, or until close
 * takes them back (then `orphaned`: done only frees it). */
typedef struct {
    queue_store_t *q;
    queue_op_t *ops;
    uint64_t last_seq;
    bool durable;
    bool orphaned;
    int rc;
    err_t err;
    uint64_t events;           /* events it inserted */
} commit_t;

typedef struct query {
    queue_store_t *q;
    struct query *next;
    uint64_t wait_seq;         /* runs once written_seq reaches it */
    bool is_get;
    char function[65], id[37], after[37];
    int state;
    size_t limit;
    queue_list_fn list_done;
    queue_get_fn get_done;
    void *arg;
    int rc;
    err_t err;
    queue_event_t *evs;
    size_t n;
    char next_id[37];
    queue_attempt_t *atts;
    size_t natts;
} query_t;

struct queue_store {
    loop_t *loop;
    queue_sql_t *sql;
    /* Work items on workers; close waits for them. Its own mutex: the loop
     * thread takes it and must never wait behind an fsync. */
    pthread_mutex_t busy_mu;
    pthread_cond_t busy_cv;
    unsigned busy;
    /* Loop thread only. */
    queue_op_t *pending, *pending_tail;
    bool pending_accept;
    commit_t *inflight;
    loop_timer_t *timer;
    uint64_t made_seq;         /* writes made */
    uint64_t written_seq;      /* writes whose commit returned */
    query_t *waiting, *waiting_tail;
    bool closing;
    uint64_t commits, events_written;
};

/* ---- open, load, stats ---- */

queue_store_t *queue_store_open(loop_t *loop, const char *path, err_t *err)
{
    queue_sql_t *sql = queue_sql_open(path, err);
    if (!sql) return NULL;
    queue_store_t *q = calloc(1, sizeof *q);
    if (!q) abort();
    q->loop = loop;
    q->sql = sql;
    pthread_mutex_init(&q->busy_mu, NULL);
    pthread_cond_init(&q->busy_cv, NULL);
    return q;
}

int queue_store_load(queue_store_t *q, queue_event_fn fn, void *arg, err_t *err)
{
    /* In chunks, so that a long queue is never all in memory at once. */
    int64_t after = 0;
    for (;;) {
        queue_event_t *evs;
        size_t n;
        if (queue_sql_load(q->sql, &after, LOAD_CHUNK, &evs, &n, err)) return err_wrap(err, "load events");
        for (size_t i = 0; i < n; i++) fn(&evs[i], arg);
        queue_sql_free_events(evs, n);
        if (n < LOAD_CHUNK) return 0;
    }
}

void queue_store_stats(const queue_store_t *q, uint64_t *commits, uint64_t *events_written)
{
    if (commits) *commits = q->commits;
    if (events_written) *events_written = q->events_written;
}

/* ---- the loop side ---- */

static void free_op(queue_op_t *op)
{
    free(op->ev.payload);
    free(op->ev.result);
    free(op);
}

static void busy_add(queue_store_t *q, int d)
{
    pthread_mutex_lock(&q->busy_mu);
    q->busy = (unsigned)((int)q->busy + d);
    if (q->busy == 0) pthread_cond_broadcast(&q->busy_cv);
    pthread_mutex_unlock(&q->busy_mu);
}

static void run_query(queue_store_t *q, query_t *qr)
{
    if (qr->is_get)
        qr->rc = queue_sql_get(q->sql, qr->id, &qr->evs, &qr->n, &qr->atts, &qr->natts, &qr->err);
    else
        qr->rc = queue_sql_list(q->sql, qr->function, qr->state, qr->after, qr->limit, &qr->evs, &qr->n,
                                qr->next_id, &qr->err);
}

static void query_work(void *arg)
{
    query_t *qr = arg;
    queue_store_t *q = qr->q;
    run_query(q, qr);
    busy_add(q, -1);   /* q may be gone after this: close waits for it */
}

/* Touches only the query: it may run after close, from loop_free. */
static void query_answer(query_t *qr)
{
    const err_t *e = qr->rc < 0 ? &qr->err : NULL;
    if (qr->is_get) {
        if (qr->get_done)
            qr->get_done(qr->arg, e, e ? NULL : qr->evs, e ? NULL : qr->atts, e ? 0 : qr->natts);
    } else if (qr->list_done) {
        qr->list_done(qr->arg, e, e ? NULL : qr->evs, e ? 0 : qr->n, e ? "" : qr->next_id);
    }
    queue_sql_free_events(qr->evs, qr->n);
    free(qr->atts);
    free(qr);
}

static void query_done(loop_t *l, void *arg)
{
    (void)l;
    query_answer(arg);
}

static void run_ready_queries(queue_store_t *q)
{
    if (q->closing) return;   /* close runs them itself */
    while (q->waiting && q->waiting->wait_seq <= q->written_seq) {
        query_t *qr = q->waiting;
        q->waiting = qr->next;
        if (!q->waiting) q->waiting_tail = NULL;
        busy_add(q, 1);
        loop_submit(q->loop, query_work, query_done, qr);
    }
}

static void commit_work(void *arg)
{
    commit_t *c = arg;
    queue_store_t *q = c->q;
    c->rc = queue_sql_write(q->sql, c->ops, c->durable, &c->events, &c->err);
    busy_add(q, -1);
}

static void flush(queue_store_t *q);
static void arm_timer(queue_store_t *q, uint64_t ms);

/* A commit returned (rc): answer its accepts; put back the unwaited
 * changes it failed to write, ahead of everything newer. */
static void finish(queue_store_t *q, queue_op_t *ops, uint64_t last_seq, bool durable, int rc,
                   const err_t *err, uint64_t events)
{
    if (rc == 0) {
        if (durable) q->commits++;
        q->events_written += events;
    }
    if (last_seq > q->written_seq) q->written_seq = last_seq;
    queue_op_t *retry = NULL, *rlast = NULL, *answer = NULL, **atail = &answer;
    for (queue_op_t *op = ops, *next; op; op = next) {
        next = op->next;
        op->next = NULL;
        if (op->kind == QOP_ACCEPT) {
            *atail = op;
            atail = &op->next;
        } else if (rc < 0 && ++op->tries < UNWAITED_TRIES) {
            if (rlast) rlast->next = op;
            else retry = op;
            rlast = op;
        } else {
            if (rc < 0) log_write(LOG_LEVEL_ERROR, "%s: dropped a change to event %s: %s", WHAT, op->ev.id,
                                  err->msg);
            free_op(op);
        }
    }
    if (retry) {
        rlast->next = q->pending;
        if (!q->pending) q->pending_tail = rlast;
        q->pending = retry;
    }
    /* Callbacks last: they may make new writes. */
    for (queue_op_t *op = answer, *next; op; op = next) {
        next = op->next;
        const err_t *e = rc < 0 ? err : op->rc < 0 ? &op->err : NULL;
        if (op->done) op->done(op->arg, e, e ? "" : op->dup_id);
        free_op(op);
    }
}

static void commit_done(loop_t *l, void *arg)
{
    (void)l;
    commit_t *c = arg;
    if (c->orphaned) {   /* close answered it already */
        free(c);
        return;
    }
    queue_store_t *q = c->q;
    /* Still in flight while its callbacks run: what they write waits and
     * goes out together, in one commit, just after. */
    finish(q, c->ops, c->last_seq, c->durable, c->rc, &c->err, c->events);
    q->inflight = NULL;
    bool failed = c->rc < 0;
    free(c);
    run_ready_queries(q);
    /* Changes put back after a failure wait a little before the next try;
     * an accept never waits. */
    if (failed && !q->pending_accept) arm_timer(q, RETRY_DELAY_MS);
    else flush(q);
}

static void flush(queue_store_t *q)
{
    if (q->inflight || !q->pending || q->closing) return;
    loop_timer_cancel(q->loop, q->timer);
    q->timer = NULL;
    commit_t *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->q = q;
    c->ops = q->pending;
    c->last_seq = q->made_seq;
    c->durable = q->pending_accept;
    q->pending = q->pending_tail = NULL;
    q->pending_accept = false;
    q->inflight = c;
    busy_add(q, 1);
    loop_submit(q->loop, commit_work, commit_done, c);
}

static void timer_cb(loop_t *l, void *arg)
{
    (void)l;
    queue_store_t *q = arg;
    q->timer = NULL;
    flush(q);
}

static void arm_timer(queue_store_t *q, uint64_t ms)
{
    if (!q->pending || q->inflight || q->timer || q->closing) return;
    q->timer = loop_timer_add(q->loop, ms, timer_cb, q);
}

static void enqueue(queue_store_t *q, queue_op_t *op)
{
    q->made_seq++;
    if (q->pending_tail) q->pending_tail->next = op;
    else q->pending = op;
    q->pending_tail = op;
    if (op->kind == QOP_ACCEPT) {
        q->pending_accept = true;
        flush(q);   /* while a commit is in flight, this waits for the next */
    } else {
        arm_timer(q, UNWAITED_DELAY_MS);
    }
}

static queue_op_t *new_op(queue_op_kind_t kind, const char *id)
{
    queue_op_t *op = calloc(1, sizeof *op);
    if (!op) abort();
    op->kind = kind;
    snprintf(op->ev.id, sizeof op->ev.id, "%s", id ? id : "");
    return op;
}

static char *mem_dup(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) abort();
    if (n) memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

void queue_store_accept(queue_store_t *q, const queue_event_t *ev, int64_t idem_window_ms,
                        queue_accept_fn done, void *arg)
{
    queue_op_t *op = new_op(QOP_ACCEPT, NULL);
    op->ev = *ev;
    op->ev.payload = mem_dup(ev->payload ? ev->payload : "", ev->payload ? ev->payload_len : 0);
    op->ev.payload_len = ev->payload ? ev->payload_len : 0;
    op->ev.result = ev->result ? mem_dup(ev->result, ev->result_len) : NULL;
    if (!op->ev.created_ms) op->ev.created_ms = (int64_t)loop_wall_ms();
    op->window_ms = idem_window_ms;
    op->done = done;
    op->arg = arg;
    enqueue(q, op);
}

void queue_store_set_state(queue_store_t *q, const char *id, queue_state_t state, int attempts,
                           int64_t next_ms, const char *last_error)
{
    queue_op_t *op = new_op(QOP_STATE, id);
    op->ev.state = state;
    op->ev.attempts = attempts;
    op->ev.next_ms = next_ms;
    op->keep_error = !last_error;
    snprintf(op->ev.last_error, sizeof op->ev.last_error, "%s", last_error ? last_error : "");
    enqueue(q, op);
}

void queue_store_set_result(queue_store_t *q, const char *id, const char *result, size_t len,
                            const char *destination)
{
    queue_op_t *op = new_op(QOP_RESULT, id);
    op->keep_result = !result;
    if (result) {
        op->ev.result = mem_dup(result, len);
        op->ev.result_len = len;
    }
    op->keep_destination = !destination;
    snprintf(op->ev.destination, sizeof op->ev.destination, "%s", destination ? destination : "");
    enqueue(q, op);
}

void queue_store_add_attempt(queue_store_t *q, const char *id, const queue_attempt_t *a)
{
    queue_op_t *op = new_op(QOP_ATTEMPT, id);
    op->att = *a;
    enqueue(q, op);
}

void queue_store_delete(queue_store_t *q, const char *id)
{
    enqueue(q, new_op(QOP_DELETE, id));
}

static query_t *new_query(queue_store_t *q, void *arg)
{
    query_t *qr = calloc(1, sizeof *qr);
    if (!qr) abort();
    qr->q = q;
    qr->arg = arg;
    qr->wait_seq = q->made_seq;
    return qr;
}

/* Runs once every write made before it is committed. */
static void submit_query(queue_store_t *q, query_t *qr)
{
    if (q->waiting_tail) q->waiting_tail->next = qr;
    else q->waiting = qr;
    q->waiting_tail = qr;
    if (qr->wait_seq <= q->written_seq) run_ready_queries(q);
    else flush(q);   /* without waiting for the unwaited-writes timer */
}

void queue_store_list(queue_store_t *q, const queue_query_t *query, queue_list_fn done, void *arg)
{
    query_t *qr = new_query(q, arg);
    qr->list_done = done;
    snprintf(qr->function, sizeof qr->function, "%s", query->function ? query->function : "");
    snprintf(qr->after, sizeof qr->after, "%s", query->after_id ? query->after_id : "");
    qr->state = query->state;
    qr->limit = query->limit ? query->limit : DEFAULT_LIMIT;
    if (qr->limit > MAX_LIMIT) qr->limit = MAX_LIMIT;   /* the marker says there is more */
    submit_query(q, qr);
}

void queue_store_get(queue_store_t *q, const char *id, queue_get_fn done, void *arg)
{
    query_t *qr = new_query(q, arg);
    qr->is_get = true;
    qr->get_done = done;
    snprintf(qr->id, sizeof qr->id, "%s", id ? id : "");
    submit_query(q, qr);
}

void queue_store_close(queue_store_t *q)
{
    if (!q) return;
    q->closing = true;   /* from here on nothing goes to a worker */
    loop_timer_cancel(q->loop, q->timer);
    q->timer = NULL;
    pthread_mutex_lock(&q->busy_mu);
    while (q->busy) pthread_cond_wait(&q->busy_cv, &q->busy_mu);
    pthread_mutex_unlock(&q->busy_mu);
    commit_t *c = q->inflight;
    if (c) {
        q->inflight = NULL;
        c->orphaned = true;
        finish(q, c->ops, c->last_seq, c->durable, c->rc, &c->err, c->events);
        c->ops = NULL;
    }
    /* What is left, here and now; callbacks may still add to it. */
    while (q->pending || q->waiting) {
        if (!q->pending) {
            query_t *qr = q->waiting;
            q->waiting = qr->next;
            if (!q->waiting) q->waiting_tail = NULL;
            run_query(q, qr);
            query_answer(qr);
            continue;
        }
        queue_op_t *ops = q->pending;
        bool durable = q->pending_accept;
        q->pending = q->pending_tail = NULL;
        q->pending_accept = false;
        err_t err = {0};
        uint64_t events = 0;
        int rc = queue_sql_write(q->sql, ops, durable, &events, &err);
        finish(q, ops, q->made_seq, durable, rc, &err, events);
    }
    queue_sql_close(q->sql);
    pthread_cond_destroy(&q->busy_cv);
    pthread_mutex_destroy(&q->busy_mu);
    free(q);
}
