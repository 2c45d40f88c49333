/* logs.c — function logs: numbering, batching to the store, queries.
 *
 * Lines are appended to an in-memory batch and written by a worker, one
 * batch at a time (so the store assigns ids in the order lines were
 * printed). A query waits until every line printed before it arrived is
 * stored, then runs on a worker: answers are complete and cursors
 * (`after`) never skip or repeat a line. Must never: block the loop on
 * SQLite, or drop a line silently (a failed write goes to the daemon's
 * log, the only place left to say it).
 */
#include "core/logs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "store/store.h"

#define BATCH_MAX 2000
#define FLUSH_DELAY_MS 20
/* Lines held in memory, waiting for the store or being written: past it,
 * new lines are dropped (and counted, and said in the daemon's log) until
 * the store catches up. Each call's own cap keeps one call far below it;
 * this bounds many calls at once. */
#define BUFFER_MAX_BYTES (64u * 1024u * 1024u)

struct logs_query {
    logs_t *l;
    uint64_t wait_seq;        /* run once flushed_seq reaches this */
    store_log_query_t q;
    char function[65], request_id[37];
    store_log_t *res;
    size_t nres;
    err_t err;
    int rc;
    logs_query_done_fn done;  /* NULL once cancelled */
    void *arg;
    struct logs_query *next;
};

typedef struct {
    logs_t *l;
    store_log_t *recs;
    size_t n;
    err_t err;
    int rc;
} batch_t;

struct logs {
    loop_t *loop;
    store_t *store;
    store_log_t *pending;     /* lines not yet handed to a worker */
    size_t npending, cap;
    bool inflight;            /* a batch is being written */
    size_t held_bytes;        /* what pending and the batch in flight hold */
    size_t inflight_bytes;    /* ... of which the batch in flight */
    uint64_t dropped;         /* lines dropped since the last time it was said */
    uint64_t emitted_seq;     /* lines emitted so far */
    uint64_t flushed_seq;     /* lines stored so far */
    loop_timer_t *timer;
    logs_query_t *waiting;    /* queries waiting for a flush */
    router_t *router;         /* retention: the functions and their settings */
    logs_retention_t ret;
    loop_timer_t *sweep_timer;
    struct sweep *sweep;      /* the sweep on a worker, if any */
};

/* One retention pass: the rules copied from the router on the loop, run
 * by a worker. `l` is NULL once logs_free went first. */
typedef struct sweep {
    logs_t *l;
    store_t *store;
    store_log_rule_t *rules;
    char (*names)[65];
    size_t n;
    int64_t total_max;
    store_log_retained_t out;
    err_t err;
    int rc;
} sweep_t;

logs_t *logs_new(loop_t *loop, store_t *store, err_t *err)
{
    logs_t *l = calloc(1, sizeof *l);
    if (!l) { err_set(err, ERR_SYS, "out of memory"); return NULL; }
    l->loop = loop;
    l->store = store;
    return l;
}

static void flush(logs_t *l);

static void batch_work(void *arg)
{
    batch_t *b = arg;
    b->rc = store_logs_append(b->l->store, b->recs, b->n, &b->err);
}

static void query_work(void *arg)
{
    logs_query_t *q = arg;
    q->rc = store_logs_query(q->l->store, &q->q, &q->res, &q->nres, &q->err);
}

static void query_done(loop_t *lp, void *arg)
{
    (void)lp;
    logs_query_t *q = arg;
    if (q->done) q->done(q->arg, q->rc < 0 ? &q->err : NULL, q->res, q->nres);
    store_logs_free(q->res, q->nres);
    free(q);
}

static void run_ready_queries(logs_t *l)
{
    logs_query_t **pp = &l->waiting;
    while (*pp) {
        logs_query_t *q = *pp;
        if (q->wait_seq <= l->flushed_seq) {
            *pp = q->next;
            loop_submit(l->loop, query_work, query_done, q);
        } else {
            pp = &q->next;
        }
    }
}

static void timer_cb(loop_t *lp, void *arg);

/* Whether a query waits for a line not stored yet. */
static bool query_waits(const logs_t *l)
{
    for (const logs_query_t *q = l->waiting; q; q = q->next)
        if (q->wait_seq > l->flushed_seq) return true;
    return false;
}

static void batch_done(loop_t *lp, void *arg)
{
    (void)lp;
    batch_t *b = arg;
    logs_t *l = b->l;
    if (b->rc < 0) log_write(LOG_LEVEL_ERROR, "lost %zu log lines: %s", b->n, b->err.msg);
    l->held_bytes -= l->inflight_bytes;
    l->inflight_bytes = 0;
    if (l->dropped) {
        log_write(LOG_LEVEL_WARN, "dropped %llu function log lines: more than %u bytes of them were waiting "
                  "for the log store", (unsigned long long)l->dropped, BUFFER_MAX_BYTES);
        l->dropped = 0;
    }
    l->flushed_seq += b->n;
    store_logs_free(b->recs, b->n);
    free(b);
    l->inflight = false;
    run_ready_queries(l);
    /* Under load a batch ends with the next one already waiting. Writing it
     * at once would make each batch small, and a batch's fixed cost (its
     * transaction, its WAL frames for the same index pages) is most of a
     * small one's: wait FLUSH_DELAY_MS like the first line does, unless a
     * query waits for these lines or the batch is big already (in lines, or
     * in bytes: waiting must never bring the held lines near their cap). */
    if (!l->npending) return;
    if (l->npending >= BATCH_MAX / 2 || l->held_bytes >= BUFFER_MAX_BYTES / 8 || query_waits(l)) flush(l);
    else if (!l->timer) l->timer = loop_timer_add(l->loop, FLUSH_DELAY_MS, timer_cb, l);
}

static void flush(logs_t *l)
{
    if (l->inflight || !l->npending) return;
    batch_t *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->l = l;
    b->recs = l->pending;
    b->n = l->npending;
    l->pending = NULL;
    l->npending = l->cap = 0;
    l->inflight = true;
    l->inflight_bytes = l->held_bytes;
    loop_submit(l->loop, batch_work, batch_done, b);
}

static void timer_cb(loop_t *lp, void *arg)
{
    (void)lp;
    logs_t *l = arg;
    l->timer = NULL;
    flush(l);
}

void logs_emit(logs_t *l, const char *function, const char *request_id, const char *line, size_t len)
{
    size_t cost = len + 1 + sizeof(store_log_t);
    if (l->held_bytes + cost > BUFFER_MAX_BYTES) {
        l->dropped++;
        return;
    }
    l->held_bytes += cost;
    if (l->npending == l->cap) {
        size_t n = l->cap ? l->cap * 2 : 256;
        store_log_t *p = realloc(l->pending, n * sizeof *p);
        if (!p) abort();
        l->pending = p;
        l->cap = n;
    }
    store_log_t *r = &l->pending[l->npending++];
    memset(r, 0, sizeof *r);
    util_copy(r->function, sizeof r->function, function);
    util_copy(r->request_id, sizeof r->request_id, request_id);
    r->ts_ms = (int64_t)loop_wall_ms();
    r->line = malloc(len + 1);
    if (!r->line) abort();
    memcpy(r->line, line, len);
    r->line[len] = '\0';
    l->emitted_seq++;
    if (l->npending >= BATCH_MAX) flush(l);
    else if (!l->timer && !l->inflight) l->timer = loop_timer_add(l->loop, FLUSH_DELAY_MS, timer_cb, l);
}

logs_query_t *logs_query(logs_t *l, const store_log_query_t *query, logs_query_done_fn done, void *arg,
                         err_t *err)
{
    logs_query_t *q = calloc(1, sizeof *q);
    if (!q) { err_set(err, ERR_SYS, "out of memory"); return NULL; }
    q->l = l;
    q->q = *query;
    snprintf(q->function, sizeof q->function, "%s", query->function);
    q->q.function = q->function;
    if (query->request_id) {
        snprintf(q->request_id, sizeof q->request_id, "%s", query->request_id);
        q->q.request_id = q->request_id;
    }
    q->done = done;
    q->arg = arg;
    q->wait_seq = l->emitted_seq;
    q->next = l->waiting;
    l->waiting = q;
    if (q->wait_seq <= l->flushed_seq) run_ready_queries(l);
    else {
        loop_timer_cancel(l->loop, l->timer);
        l->timer = NULL;
        flush(l);
    }
    return q;
}

void logs_query_cancel(logs_query_t *q) { q->done = NULL; }

typedef struct {
    logs_t *l;
    char function[65];
} del_job_t;

static void del_work(void *arg)
{
    del_job_t *j = arg;
    err_t e;
    if (store_logs_delete_function(j->l->store, j->function, &e) < 0)
        log_write(LOG_LEVEL_ERROR, "cannot delete logs of %s: %s", j->function, e.msg);
}

static void del_done(loop_t *lp, void *arg)
{
    (void)lp;
    free(arg);
}

void logs_delete_function(logs_t *l, const char *function)
{
    del_job_t *j = calloc(1, sizeof *j);
    if (!j) return;
    j->l = l;
    snprintf(j->function, sizeof j->function, "%s", function);
    loop_submit(l->loop, del_work, del_done, j);
}

static void sweep_arm(logs_t *l);

static void sweep_work(void *arg)
{
    sweep_t *w = arg;
    w->rc = store_logs_retain(w->store, w->rules, w->n, w->total_max, &w->out, &w->err);
}

static void sweep_done(loop_t *lp, void *arg)
{
    (void)lp;
    sweep_t *w = arg;
    logs_t *l = w->l;
    if (w->rc < 0) log_write(LOG_LEVEL_ERROR, "log retention: %s", w->err.msg);
    else if (w->out.by_age + w->out.by_function_size + w->out.by_total_size)
        log_write(LOG_LEVEL_INFO,
                  "log retention: %lld lines deleted (%lld by age, %lld over a function's budget, %lld over "
                  "--log-max-bytes); the store is %lld bytes, was %lld",
                  (long long)(w->out.by_age + w->out.by_function_size + w->out.by_total_size),
                  (long long)w->out.by_age, (long long)w->out.by_function_size,
                  (long long)w->out.by_total_size, (long long)w->out.file_after, (long long)w->out.file_before);
    free(w->rules);
    free(w->names);
    free(w);
    if (!l) return;
    l->sweep = NULL;
    sweep_arm(l);
}

static void sweep_cb(loop_t *lp, void *arg)
{
    (void)lp;
    logs_t *l = arg;
    l->sweep_timer = NULL;
    size_t n = router_count(l->router);
    sweep_t *w = calloc(1, sizeof *w);
    if (!w) abort();
    w->l = l;
    w->store = l->store;
    w->total_max = l->ret.total_max_bytes;
    w->rules = calloc(n ? n : 1, sizeof *w->rules);
    w->names = calloc(n ? n : 1, sizeof *w->names);
    if (!w->rules || !w->names) abort();
    int64_t now = (int64_t)loop_wall_ms();
    for (size_t i = 0; i < n; i++) {
        const router_fn_t *fn = router_at(l->router, i);
        int days = fn->cfg.log_retention_days ? fn->cfg.log_retention_days : l->ret.retention_days;
        snprintf(w->names[w->n], sizeof w->names[0], "%s", fn->cfg.name);
        w->rules[w->n] = (store_log_rule_t){ .function = w->names[w->n],
                                             .min_ts_ms = days ? now - (int64_t)days * 86400000 : 0,
                                             .max_bytes = fn->cfg.log_max_bytes };
        w->n++;
    }
    l->sweep = w;
    loop_submit(l->loop, sweep_work, sweep_done, w);
}

static void sweep_arm(logs_t *l)
{
    if (l->ret.every_ms) l->sweep_timer = loop_timer_add(l->loop, l->ret.every_ms, sweep_cb, l);
}

void logs_retention_start(logs_t *l, router_t *r, const logs_retention_t *cfg)
{
    l->router = r;
    l->ret = *cfg;
    loop_timer_cancel(l->loop, l->sweep_timer);
    l->sweep_timer = NULL;
    sweep_arm(l);
}

void logs_free(logs_t *l)
{
    if (!l) return;
    loop_timer_cancel(l->loop, l->timer);
    loop_timer_cancel(l->loop, l->sweep_timer);
    if (l->sweep) l->sweep->l = NULL;   /* its end frees it, and only it */
    if (l->npending) {
        err_t e;
        if (store_logs_append(l->store, l->pending, l->npending, &e) < 0)
            log_write(LOG_LEVEL_ERROR, "lost %zu log lines: %s", l->npending, e.msg);
        store_logs_free(l->pending, l->npending);
    }
    while (l->waiting) {
        logs_query_t *q = l->waiting;
        l->waiting = q->next;
        free(q);
    }
    free(l);
}
