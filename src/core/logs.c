/* logs.c — function logs: numbering, batching to the store, queries.
 *
 * Lines are appended to an in-memory batch and written by a worker, one
 * batch at a time (so the store assigns ids in the order lines were
 * printed). A query waits until every line printed before it arrived is
 * stored, then runs on a worker: answers are complete and cursors
 * (`after`) never skip or repeat a line. Must never: block the loop on
 * SQLite, or drop a line silently (a failed write is reported on stderr,
 * the only place left to say it).
 */
#include "core/logs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "store/store.h"
#include "base/util.h"

#define BATCH_MAX 2000
#define FLUSH_DELAY_MS 20

typedef struct query {
    logs_t *l;
    http_exchange_t *ex;      /* NULL once the client went away */
    uint64_t wait_seq;        /* run once flushed_seq reaches this */
    store_log_query_t q;
    char function[65], request_id[37];
    store_log_t *res;
    size_t nres;
    err_t err;
    int rc;
    struct query *next;
} query_t;

typedef struct {
    logs_t *l;
    store_log_t *recs;
    size_t n;
    err_t err;
    int rc;
} batch_t;

struct logs {
    daemon_t *d;
    store_log_t *pending;     /* lines not yet handed to a worker */
    size_t npending, cap;
    bool inflight;            /* a batch is being written */
    uint64_t emitted_seq;     /* lines emitted so far */
    uint64_t flushed_seq;     /* lines stored so far */
    loop_timer_t *timer;
    query_t *waiting;         /* queries waiting for a flush */
};

logs_t *logs_new(daemon_t *d, err_t *err)
{
    logs_t *l = calloc(1, sizeof *l);
    if (!l) { err_set(err, ERR_SYS, "out of memory"); return NULL; }
    l->d = d;
    return l;
}

static void flush(logs_t *l);

static void batch_work(void *arg)
{
    batch_t *b = arg;
    b->rc = store_logs_append(b->l->d->store, b->recs, b->n, &b->err);
}

static void query_work(void *arg)
{
    query_t *q = arg;
    q->rc = store_logs_query(q->l->d->store, &q->q, &q->res, &q->nres, &q->err);
}

static void query_abort(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((query_t *)arg)->ex = NULL;
}

static void query_done(loop_t *lp, void *arg)
{
    (void)lp;
    query_t *q = arg;
    if (q->ex) {
        if (q->rc < 0) {
            daemon_respond_err(q->ex, &q->err);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON *ev = cJSON_AddArrayToObject(o, "events");
            int64_t last = q->q.after_id;
            for (size_t i = 0; i < q->nres; i++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "id", (double)q->res[i].id);
                cJSON_AddNumberToObject(e, "timestamp", (double)q->res[i].ts_ms);
                cJSON_AddStringToObject(e, "requestId", q->res[i].request_id);
                cJSON_AddStringToObject(e, "message", q->res[i].line ? q->res[i].line : "");
                cJSON_AddItemToArray(ev, e);
                last = q->res[i].id;
            }
            cJSON_AddNumberToObject(o, "lastId", (double)last);
            daemon_respond_json(q->ex, 200, cJSON_PrintUnformatted(o));
            cJSON_Delete(o);
        }
    }
    store_logs_free(q->res, q->nres);
    free(q);
}

static void run_ready_queries(logs_t *l)
{
    query_t **pp = &l->waiting;
    while (*pp) {
        query_t *q = *pp;
        if (q->wait_seq <= l->flushed_seq) {
            *pp = q->next;
            loop_submit(l->d->loop, query_work, query_done, q);
        } else {
            pp = &q->next;
        }
    }
}

static void batch_done(loop_t *lp, void *arg)
{
    (void)lp;
    batch_t *b = arg;
    logs_t *l = b->l;
    if (b->rc < 0) fprintf(stderr, "nimbus: lost %zu log lines: %s\n", b->n, b->err.msg);
    l->flushed_seq += b->n;
    store_logs_free(b->recs, b->n);
    free(b);
    l->inflight = false;
    run_ready_queries(l);
    if (l->npending) flush(l);
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
    loop_submit(l->d->loop, batch_work, batch_done, b);
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
    if (l->npending == l->cap) {
        size_t n = l->cap ? l->cap * 2 : 256;
        store_log_t *p = realloc(l->pending, n * sizeof *p);
        if (!p) abort();
        l->pending = p;
        l->cap = n;
    }
    store_log_t *r = &l->pending[l->npending++];
    memset(r, 0, sizeof *r);
    snprintf(r->function, sizeof r->function, "%s", function);
    snprintf(r->request_id, sizeof r->request_id, "%s", request_id);
    r->ts_ms = (int64_t)loop_wall_ms();
    r->line = strndup(line, len);
    if (!r->line) abort();
    l->emitted_seq++;
    if (l->npending >= BATCH_MAX) flush(l);
    else if (!l->timer && !l->inflight) l->timer = loop_timer_add(l->d->loop, FLUSH_DELAY_MS, timer_cb, l);
}

static int64_t param_i64(const char *query, const char *key, int64_t dflt)
{
    char *v = util_query_param(query, key);
    if (!v) return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    int64_t r = (*v && !*end) ? (int64_t)x : -1;
    free(v);
    return r;
}

void logs_handle_query(logs_t *l, http_exchange_t *ex, const char *function, const char *query)
{
    query_t *q = calloc(1, sizeof *q);
    if (!q) { daemon_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    q->l = l;
    q->ex = ex;
    snprintf(q->function, sizeof q->function, "%s", function);
    q->q.function = q->function;
    char *rid = util_query_param(query, "request_id");
    if (rid && *rid) {
        snprintf(q->request_id, sizeof q->request_id, "%s", rid);
        q->q.request_id = q->request_id;
    }
    free(rid);
    q->q.since_ms = param_i64(query, "since", 0);
    q->q.until_ms = param_i64(query, "until", 0);
    q->q.after_id = param_i64(query, "after", 0);
    int64_t lim = param_i64(query, "limit", 1000);
    if (q->q.since_ms < 0 || q->q.until_ms < 0 || q->q.after_id < 0 || lim < 1 || lim > 10000) {
        free(q);
        daemon_respond_error(ex, 400, "InvalidParameterValueException",
                             "since, until and after must be non-negative integers; limit 1..10000");
        return;
    }
    q->q.limit = (size_t)lim;
    http_exchange_on_abort(ex, query_abort, q);
    q->wait_seq = l->emitted_seq;
    q->next = l->waiting;
    l->waiting = q;
    if (q->wait_seq <= l->flushed_seq) run_ready_queries(l);
    else {
        loop_timer_cancel(l->d->loop, l->timer);
        l->timer = NULL;
        flush(l);
    }
}

typedef struct {
    logs_t *l;
    char function[65];
} del_job_t;

static void del_work(void *arg)
{
    del_job_t *j = arg;
    err_t e;
    if (store_logs_delete_function(j->l->d->store, j->function, &e) < 0)
        fprintf(stderr, "nimbus: cannot delete logs of %s: %s\n", j->function, e.msg);
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
    loop_submit(l->d->loop, del_work, del_done, j);
}

void logs_free(logs_t *l)
{
    if (!l) return;
    loop_timer_cancel(l->d->loop, l->timer);
    if (l->npending) {
        err_t e;
        if (store_logs_append(l->d->store, l->pending, l->npending, &e) < 0)
            fprintf(stderr, "nimbus: lost %zu log lines: %s\n", l->npending, e.msg);
        store_logs_free(l->pending, l->npending);
    }
    while (l->waiting) {
        query_t *q = l->waiting;
        l->waiting = q->next;
        free(q);
    }
    free(l);
}
