/* async.c — the async queue in memory and its dispatcher.
 *
 * Owns every unfinished event (one queue per function, in accept order),
 * the decision "this event may become a call now", each attempt's outcome
 * (a retry, a backoff, or the end) and every state change written to the
 * queue store. Accepts, redrives and purges are async_accept.c's; where
 * an outcome goes is async_route.c's.
 *
 * Must never: throttle an event (a waiting event is not a throttle: it
 * stays queued), submit more calls than the function and the account have
 * room for, wait on the store, or say an event was accepted before the
 * store says it is durable.
 */
#include "core/async_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/util.h"
#include "core/function.h"

#define TICK_MS 1000u           /* look again at events waiting for room */
#define RETRY1_MS 60000u        /* Lambda's waits before the 1st and 2nd retry */
#define RETRY2_MS 120000u
#define BACKOFF_FIRST_MS 1000u  /* throttles and platform errors: 1 s doubling... */
#define BACKOFF_MAX_MS 300000u  /* ...to 5 min */
#define ID_BUCKETS_MIN 1024u

static void dispatch(async_t *a);

/* ---- small things ---- */

char *async_strdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p) abort();
    return p;
}

char *async_memdup(const void *p, size_t n)
{
    char *q = malloc(n + 1);
    if (!q) abort();
    if (n) memcpy(q, p, n);
    q[n] = '\0';
    return q;
}

void async_set_last_error(aev_t *e, const char *msg)
{
    free(e->last_error);
    e->last_error = msg ? async_strdup(msg) : NULL;
}

uint64_t async_scaled(const async_t *a, uint64_t ms)
{
    double v = (double)ms * a->lim.retry_scale;
    return v <= 0 ? 0 : (uint64_t)(v + 0.5);
}

uint64_t async_backoff_ms(const async_t *a, int n)
{
    uint64_t ms = BACKOFF_FIRST_MS;
    for (int i = 1; i < n && ms < BACKOFF_MAX_MS; i++) ms *= 2;
    return async_scaled(a, ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS);
}

void async_policy_defaults(async_policy_t *p)
{
    memset(p, 0, sizeof *p);
    p->max_retry_attempts = 2;
    p->max_event_age_s = 21600;
}

void async_op_add(async_t *a, async_op_t *op, void (*orphan)(async_op_t *op))
{
    op->a = a;
    op->orphan = orphan;
    list_push_back(&a->ops, &op->link);
}

void async_op_done(async_op_t *op) { list_remove(&op->link); }

/* ---- the tables: functions by name, events by id ---- */

static size_t fn_lower_bound(const async_t *a, const char *name, bool *found)
{
    size_t lo = 0, hi = a->nfns;
    *found = false;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(a->fns[mid]->name, name);
        if (c == 0) { *found = true; return mid; }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

afn_t *async_fn_find(const async_t *a, const char *name)
{
    bool found;
    size_t i = fn_lower_bound(a, name, &found);
    return found ? a->fns[i] : NULL;
}

afn_t *async_fn_get(async_t *a, const char *name)
{
    bool found;
    size_t i = fn_lower_bound(a, name, &found);
    if (found) return a->fns[i];
    if (a->nfns == a->cap) {
        size_t n = a->cap ? a->cap * 2 : 16;
        afn_t **p = realloc(a->fns, n * sizeof *p);
        if (!p) abort();
        a->fns = p;
        a->cap = n;
    }
    afn_t *f = calloc(1, sizeof *f);
    if (!f) abort();
    snprintf(f->name, sizeof f->name, "%s", name);
    f->a = a;
    list_init(&f->ready);
    list_init(&f->all);
    memmove(a->fns + i + 1, a->fns + i, (a->nfns - i) * sizeof *a->fns);
    a->fns[i] = f;
    a->nfns++;
    return f;
}

static size_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

aev_t *async_ev_find(const async_t *a, const char *id)
{
    for (aev_t *e = a->ids[id_hash(id) & (a->nbuckets - 1)]; e; e = e->hnext)
        if (strcmp(e->id, id) == 0) return e;
    return NULL;
}

static void ids_put(async_t *a, aev_t *e)
{
    if (a->nids >= a->nbuckets) {
        size_t n = a->nbuckets * 2;
        aev_t **b = calloc(n, sizeof *b);
        if (!b) abort();
        for (size_t i = 0; i < a->nbuckets; i++) {
            for (aev_t *x = a->ids[i], *nx; x; x = nx) {
                nx = x->hnext;
                size_t k = id_hash(x->id) & (n - 1);
                x->hnext = b[k];
                b[k] = x;
            }
        }
        free(a->ids);
        a->ids = b;
        a->nbuckets = n;
    }
    size_t k = id_hash(e->id) & (a->nbuckets - 1);
    e->hnext = a->ids[k];
    a->ids[k] = e;
    a->nids++;
}

static void ids_del(async_t *a, aev_t *e)
{
    for (aev_t **p = &a->ids[id_hash(e->id) & (a->nbuckets - 1)]; *p; p = &(*p)->hnext) {
        if (*p == e) {
            *p = e->hnext;
            a->nids--;
            return;
        }
    }
}

/* ---- events ---- */

/* The counter an event is in: queued, running (also while routing) or retrying. */
static unsigned *bucket(aev_t *e)
{
    if (e->phase == AEV_RUNNING || e->phase == AEV_ROUTING) return &e->fn->n_running;
    return e->state == QEV_QUEUED ? &e->fn->n_queued : &e->fn->n_retrying;
}

void async_ev_move(aev_t *e, aev_phase_t phase, queue_state_t state)
{
    (*bucket(e))--;
    e->phase = phase;
    e->state = state;
    (*bucket(e))++;
}

aev_t *async_ev_new(const char *qualifier, const char *payload, size_t len)
{
    aev_t *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->qualifier = async_strdup(qualifier);
    e->payload = async_memdup(payload, len);
    e->payload_len = len;
    e->state = QEV_QUEUED;
    snprintf(e->executed_version, sizeof e->executed_version, "$LATEST");
    return e;
}

void async_ev_free(aev_t *e)
{
    free(e->qualifier);
    free(e->payload);
    free(e->last_error);
    free(e->result);
    free(e->route_target);
    free(e);
}

/* A new unfinished event joins its function's queue (not yet due). */
static void ev_insert(async_t *a, aev_t *e, const char *function)
{
    e->fn = async_fn_get(a, function);
    e->seq = ++a->seq;
    e->phase = AEV_DELAYED;
    (*bucket(e))++;
    list_push_back(&e->fn->all, &e->all_link);
    ids_put(a, e);
}

/* Due: into the ready list at its place in accept order. New events go at
 * the end; a retry is older than most of what waits, so look from the head. */
static void ready_push(async_t *a, aev_t *e)
{
    afn_t *f = e->fn;
    list_node_t *pos = &f->ready;
    if (!list_empty(&f->ready) && list_entry(f->ready.prev, aev_t, link)->seq > e->seq) {
        pos = f->ready.next;
        while (pos != &f->ready && list_entry(pos, aev_t, link)->seq < e->seq) pos = pos->next;
    }
    list_push_back(pos, &e->link);   /* before pos */
    e->phase = AEV_WAITING;
    a->nready++;
    if (!list_linked(&f->active_link)) list_push_back(&a->active, &f->active_link);
}

static void ready_remove(async_t *a, aev_t *e)
{
    if (!list_linked(&e->link)) return;
    list_remove(&e->link);
    a->nready--;
    if (list_empty(&e->fn->ready)) list_remove(&e->fn->active_link);
}

static void kick(async_t *a);

void async_ev_enqueue(async_t *a, aev_t *e, const char *function)
{
    ev_insert(a, e, function);
    ASYNC_COUNT(a, e->fn, accepted);
    ready_push(a, e);
    kick(a);
}

static void kick_cb(loop_t *l, void *arg)
{
    (void)l;
    async_t *a = arg;
    a->kick = NULL;
    dispatch(a);
}

/* A dispatch soon, after what runs now: never from inside a call's end. */
static void kick(async_t *a)
{
    if (!a->started || a->stopped || a->kick) return;
    a->kick = loop_timer_add(a->loop, 0, kick_cb, a);
}

static void due_cb(loop_t *l, void *arg)
{
    (void)l;
    aev_t *e = arg;
    e->timer = NULL;
    ready_push(e->fn->a, e);
    kick(e->fn->a);
}

/* Wait `ms` (a retry or a backoff). While stopped no timer runs: the
 * stored next_ms is what a restart goes by. */
static void ev_delay(async_t *a, aev_t *e, uint64_t ms)
{
    e->next_ms = (int64_t)loop_wall_ms() + (int64_t)ms;
    async_ev_store_state(a, e);
    if (a->stopped) return;
    e->timer = loop_timer_add(a->loop, ms, due_cb, e);
}

void async_ev_store_state(async_t *a, const aev_t *e)
{
    queue_store_set_state(a->store, e->id, e->state, e->attempts, e->next_ms, e->last_error);
}

bool async_ev_policy(async_t *a, const aev_t *e, async_policy_t *pol, char dead_letter[512])
{
    async_policy_defaults(pol);
    dead_letter[0] = '\0';
    router_fn_t *latest = router_find(a->r, e->fn->name);
    if (!latest || latest->deleted) return false;
    if (!a->policy) return true;
    return a->policy(a->policy_arg, e->fn->name, e->qualifier, pol, dead_letter);
}

void async_ev_finish(async_t *a, aev_t *e, queue_state_t final, const char *destination)
{
    queue_store_set_result(a->store, e->id, e->result, e->result_len, destination);
    queue_store_set_state(a->store, e->id, final, e->attempts, 0, e->last_error);
    if (final == QEV_DEAD) ASYNC_COUNT(a, e->fn, dead_letters);
    (*bucket(e))--;
    ready_remove(a, e);
    if (e->timer) loop_timer_cancel(a->loop, e->timer);
    e->timer = NULL;
    list_remove(&e->unstarted_link);
    list_remove(&e->all_link);
    ids_del(a, e);
    if (e->call) {
        e->call->owner = NULL;
        e->call = NULL;
    }
    /* Its attempt's submit is still on the stack: freed when that returns. */
    if (a->submitting == e) e->zombie = true;
    else async_ev_free(e);
}

/* ---- attempts ---- */

/* Again after a backoff, without an attempt counted. */
static void retry_later(async_t *a, aev_t *e, const char *why)
{
    e->backoffs++;
    async_set_last_error(e, why);
    async_ev_move(e, AEV_DELAYED, e->attempts ? QEV_RETRYING : QEV_QUEUED);
    ev_delay(a, e, async_backoff_ms(a, e->backoffs));
}

/* The attempt just made did not count: a throttle, a platform error, a stop. */
static void backoff(async_t *a, aev_t *e, const char *why)
{
    if (e->attempts > 0) e->attempts--;
    retry_later(a, e, why);
}

static void take_result(aev_t *e, const call_result_t *res, bool failed)
{
    free(e->result);
    e->result = res->body ? async_memdup(res->body, res->len) : NULL;
    e->result_len = res->body ? res->len : 0;
    e->function_error = failed;
}

/* What a function error document says (errorType, errorMessage). */
static void error_of(const call_result_t *res, char *type, size_t tn, char *msg, size_t mn)
{
    snprintf(type, tn, "Unhandled");
    msg[0] = '\0';
    cJSON *doc = res->body ? cJSON_ParseWithLength(res->body, res->len) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "errorType");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "errorMessage");
    if (cJSON_IsString(t) && t->valuestring[0]) snprintf(type, tn, "%s", t->valuestring);
    if (cJSON_IsString(m)) snprintf(msg, mn, "%s", m->valuestring);
    cJSON_Delete(doc);
}

static void attempt_done(call_t *c, const call_result_t *res)
{
    aev_t *e = c->owner;
    if (!e) return;
    async_t *a = e->fn->a;
    e->call = NULL;
    list_remove(&e->unstarted_link);
    char why[700];
    if (res->outcome == CALL_THROTTLED) {
        snprintf(why, sizeof why, "TooManyRequestsException: Rate Exceeded. (%s)", res->reason ? res->reason : "");
        backoff(a, e, why);
        return;
    }
    if (res->outcome == CALL_REJECTED) {
        snprintf(why, sizeof why, "%s: %s", res->error_type ? res->error_type : "ServiceException",
                 res->message ? res->message : "");
        if (res->status == 404) {
            /* Its function (or qualifier) went while the call waited. */
            if (e->attempts > 0) e->attempts--;
            async_route_dead(a, e, why);
        } else {
            backoff(a, e, why);
        }
        return;
    }
    queue_attempt_t at = { .n = e->attempts, .start_ms = e->attempt_start_ms };
    if (c->start_ns) at.duration_ms = (double)(loop_now_ns() - c->start_ns) / 1e6;
    snprintf(e->executed_version, sizeof e->executed_version, "%s", c->fn->cfg.version);
    if (res->outcome == CALL_OK) {
        e->backoffs = 0;
        queue_store_add_attempt(a->store, e->id, &at);
        take_result(e, res, false);
        async_route_success(a, e);
        return;
    }
    error_of(res, at.error_type, sizeof at.error_type, at.error_message, sizeof at.error_message);
    snprintf(why, sizeof why, "%s: %s", at.error_type, at.error_message);
    /* The platform failed, not the function (no sandbox, or the daemon is
     * going down and ended it): not an attempt, deliver it again. */
    if (strcmp(at.error_type, "Sandbox.Failure") == 0 || a->stopped || router_ctx(a->r)->stopping) {
        backoff(a, e, why);
        return;
    }
    e->backoffs = 0;
    queue_store_add_attempt(a->store, e->id, &at);
    take_result(e, res, true);
    queue_store_set_result(a->store, e->id, e->result, e->result_len, "");
    async_set_last_error(e, why);
    async_policy_t pol;
    char dl[512];
    if (!async_ev_policy(a, e, &pol, dl)) {
        async_route_dead(a, e, why);
        return;
    }
    if (e->attempts > pol.max_retry_attempts) {
        async_route_failure(a, e, "RetriesExhausted");
        return;
    }
    ASYNC_COUNT(a, e->fn, retries);
    async_ev_move(e, AEV_DELAYED, QEV_RETRYING);
    ev_delay(a, e, async_scaled(a, e->attempts == 1 ? RETRY1_MS : RETRY2_MS));
}

/* One attempt of e as a call of fn. True when its call waits in the pool
 * (it takes room on the account without being in flight yet). */
static bool start_attempt(async_t *a, aev_t *e, router_fn_t *fn)
{
    call_t *c = call_new(a->r, fn);
    if (!c) {
        retry_later(a, e, "ServiceException: out of memory");
        return false;
    }
    /* Every attempt logs its START/END/REPORT under the event's id. */
    memcpy(c->request_id, e->id, sizeof c->request_id);
    c->payload = async_memdup(e->payload, e->payload_len);
    c->payload_len = e->payload_len;
    snprintf(c->qualifier, sizeof c->qualifier, "%s", e->qualifier);
    c->done = attempt_done;
    c->owner = e;
    e->attempts++;
    e->next_ms = 0;
    e->attempt_start_ms = (int64_t)loop_wall_ms();
    e->call = c;
    async_ev_move(e, AEV_RUNNING, QEV_RUNNING);
    async_ev_store_state(a, e);
    a->submitting = e;
    call_submit(c);
    a->submitting = NULL;
    if (e->zombie) {
        async_ev_free(e);
        return false;
    }
    if (e->call && e->call->state == CALL_QUEUED) {
        list_push_back(&a->unstarted, &e->unstarted_link);
        return true;
    }
    return false;
}

/* Calls of ours still waiting in a pool: they hold room on their owner's
 * account that its inflight count does not show yet; each account's
 * `held` is set from them at every dispatch. Each leaves the list once. */
static void count_unstarted(async_t *a)
{
    for (size_t i = 0; router_account_at(a->r, i); i++) router_account_at(a->r, i)->held = 0;
    list_each(it, &a->unstarted) {
        aev_t *e = list_entry(it, aev_t, unstarted_link);
        if (e->call && e->call->state == CALL_QUEUED) e->call->fn->account->held++;
        else list_remove(&e->unstarted_link);
    }
}

/* How many calls of fn may be running or waiting for an instance at once:
 * the router's own limits (reserved concurrency, instances per function),
 * so that no call of ours is ever over one. */
static unsigned fn_capacity(const router_t *r, const router_fn_t *fn)
{
    unsigned per = fn->cfg.instance_concurrency > 0 ? (unsigned)fn->cfg.instance_concurrency : 1;
    uint64_t cap = (uint64_t)router_ctx(r)->limits.max_instances_per_fn * per;
    if (fn->cfg.reserved_concurrency >= 0 && (uint64_t)fn->cfg.reserved_concurrency < cap)
        cap = (uint64_t)fn->cfg.reserved_concurrency;
    return cap > UINT_MAX ? UINT_MAX : (unsigned)cap;
}

static void not_found(const aev_t *e, char *out, size_t n)
{
    char arn[300];
    function_arn(e->fn->name, e->qualifier[0] ? e->qualifier : NULL, arn, sizeof arn);
    snprintf(out, n, "ResourceNotFoundException: Function not found: %s", arn);
}

typedef enum { DISPATCH_EMPTY, DISPATCH_FN_FULL, DISPATCH_ACCOUNT_FULL } dispatch_t;

/* Start f's due events, oldest first, while there is room. */
static dispatch_t dispatch_fn(async_t *a, afn_t *f)
{
    int64_t now = (int64_t)loop_wall_ms();
    for (;;) {
        list_node_t *n = list_first(&f->ready);
        if (!n) return DISPATCH_EMPTY;
        aev_t *e = list_entry(n, aev_t, link);
        router_fn_t *latest = router_find(a->r, f->name);
        router_fn_t *fn = latest ? router_resolve(a->r, latest, e->qualifier) : NULL;
        async_policy_t pol;
        char dl[512], why[400];
        if (!fn || fn->deleted || !async_ev_policy(a, e, &pol, dl)) {
            ready_remove(a, e);
            not_found(e, why, sizeof why);
            async_route_dead(a, e, why);
            continue;
        }
        if (now - e->created_ms >= (int64_t)pol.max_event_age_s * 1000) {
            ready_remove(a, e);
            async_route_failure(a, e, "EventAgeExceeded");
            continue;
        }
        router_account_t *acct = fn->account;   /* the owner's: other accounts' room is theirs */
        if (acct->inflight + acct->held >= router_account_limit(a->r, acct)) return DISPATCH_ACCOUNT_FULL;
        if (pool_inflight(&fn->pool) + pool_queued(&fn->pool) >= fn_capacity(a->r, fn)) return DISPATCH_FN_FULL;
        ready_remove(a, e);
        if (start_attempt(a, e, fn)) acct->held++;
    }
}

static void tick_cb(loop_t *l, void *arg)
{
    (void)l;
    async_t *a = arg;
    a->tick = NULL;
    dispatch(a);
}

static void dispatch(async_t *a)
{
    if (!a->started || a->stopped || router_ctx(a->r)->stopping) return;
    count_unstarted(a);
    /* Only f itself can leave the active list while f is dispatched (its
     * events' ends reach other functions only through the store). A full
     * account stops only its own functions: the others' accounts may have
     * room. */
    bool account_full = false;
    list_each(it, &a->active) {
        afn_t *f = list_entry(it, afn_t, active_link);
        if (dispatch_fn(a, f) == DISPATCH_ACCOUNT_FULL) account_full = true;
    }
    /* An account's room, when scarce, goes to each function in turn. */
    list_node_t *first = list_first(&a->active);
    if (account_full && first && first->next != &a->active) {
        list_remove(first);
        list_push_back(&a->active, first);
    }
    /* Room is mostly noticed as calls end (capacity_freed); this also
     * covers limits raised and events aging while they wait. */
    if (a->nready && !a->tick) a->tick = loop_timer_add(a->loop, TICK_MS, tick_cb, a);
}

/* From the router: some call ended. Nothing to do unless events wait. */
static void capacity_freed(void *arg, struct router_fn *fn)
{
    (void)fn;
    async_t *a = arg;
    if (a->nready) kick(a);
}

/* ---- start, stop ---- */

async_t *async_new(router_t *r, queue_store_t *store, const async_limits_t *limits, async_policy_fn policy,
                   void *policy_arg, err_t *err)
{
    async_t *a = calloc(1, sizeof *a);
    if (!a) { err_set(err, ERR_SYS, "out of memory"); return NULL; }
    a->ids = calloc(ID_BUCKETS_MIN, sizeof *a->ids);
    if (!a->ids) { free(a); err_set(err, ERR_SYS, "out of memory"); return NULL; }
    a->nbuckets = ID_BUCKETS_MIN;
    a->r = r;
    a->loop = router_ctx(r)->loop;
    a->store = store;
    a->lim = *limits;
    a->policy = policy;
    a->policy_arg = policy_arg;
    list_init(&a->active);
    list_init(&a->unstarted);
    list_init(&a->ops);
    core_ctx_t *ctx = router_ctx(r);
    ctx->capacity_freed = capacity_freed;
    ctx->capacity_arg = a;
    return a;
}

static void load_one(const queue_event_t *q, void *arg)
{
    async_t *a = arg;
    if (async_ev_find(a, q->id)) return;   /* accepted in this run already */
    aev_t *e = async_ev_new(q->qualifier, q->payload ? q->payload : "{}", q->payload ? q->payload_len : 2);
    memcpy(e->id, q->id, sizeof e->id);
    e->created_ms = q->created_ms;
    e->attempts = q->attempts;
    e->state = q->state;
    e->next_ms = q->next_ms;
    if (q->last_error[0]) e->last_error = async_strdup(q->last_error);
    if (q->result) {
        e->result = async_memdup(q->result, q->result_len);
        e->result_len = q->result_len;
        e->function_error = q->state == QEV_RETRYING;
    }
    if (e->qualifier[0]) snprintf(e->executed_version, sizeof e->executed_version, "%s", e->qualifier);
    bool was_running = q->state == QEV_RUNNING;
    if (was_running) {
        /* The attempt the daemon died in does not count: it runs again. */
        if (e->attempts > 0) e->attempts--;
        e->state = e->attempts ? QEV_RETRYING : QEV_QUEUED;
        e->next_ms = 0;
    }
    ev_insert(a, e, q->function);
    if (was_running) async_ev_store_state(a, e);
    int64_t now = (int64_t)loop_wall_ms();
    if (e->next_ms > now) e->timer = loop_timer_add(a->loop, (uint64_t)(e->next_ms - now), due_cb, e);
    else ready_push(a, e);
}

int async_start(async_t *a, err_t *err)
{
    if (queue_store_load(a->store, load_one, a, err) < 0) return -1;
    a->started = true;
    a->stopped = false;
    kick(a);
    return 0;
}

void async_stop(async_t *a)
{
    a->stopped = true;
    loop_timer_cancel(a->loop, a->kick);
    loop_timer_cancel(a->loop, a->tick);
    a->kick = a->tick = NULL;
    for (size_t i = 0; i < a->nfns; i++) {
        list_each(it, &a->fns[i]->all) {
            aev_t *e = list_entry(it, aev_t, all_link);
            if (e->phase != AEV_DELAYED || !e->timer) continue;
            loop_timer_cancel(a->loop, e->timer);
            e->timer = NULL;
        }
    }
}

void async_free(async_t *a)
{
    if (!a) return;
    core_ctx_t *ctx = router_ctx(a->r);
    if (ctx->capacity_arg == a) {
        ctx->capacity_freed = NULL;
        ctx->capacity_arg = NULL;
    }
    async_stop(a);
    list_each(it, &a->ops) {
        async_op_t *op = list_entry(it, async_op_t, link);
        if (op->orphan) {
            op->orphan(op);
        } else {
            async_op_done(op);
            op->a = NULL;
        }
    }
    for (size_t i = 0; i < a->nfns; i++) {
        list_each(it, &a->fns[i]->all) {
            aev_t *e = list_entry(it, aev_t, all_link);
            if (e->call) {
                /* Nobody waits for it now; a running one finishes unobserved. */
                call_t *c = e->call;
                c->owner = NULL;
                call_abandon(c);
            }
            async_ev_free(e);
        }
        free(a->fns[i]);
    }
    free(a->fns);
    free(a->ids);
    free(a);
}

/* ---- acting on events ---- */

int async_cancel(async_t *a, const char *function, const char *id, err_t *err)
{
    aev_t *e = async_ev_find(a, id);
    if (!e || strcmp(e->fn->name, function) != 0)
        return err_set(err, ERR_NOT_FOUND, "No unfinished event %s of function %s", id, function);
    if (e->phase == AEV_RUNNING || e->phase == AEV_ROUTING)
        return err_set(err, ERR_CONFLICT, "The event %s is running and cannot be cancelled", id);
    async_ev_finish(a, e, QEV_CANCELLED, "cancelled");
    return 0;
}

void async_function_deleted(async_t *a, const char *function)
{
    afn_t *f = async_fn_find(a, function);
    if (!f) return;
    /* Running ones end with their calls (the router fails the waiting
     * calls of a removed function with 404). */
    list_each(it, &f->all) {
        aev_t *e = list_entry(it, aev_t, all_link);
        if (e->phase != AEV_WAITING && e->phase != AEV_DELAYED) continue;
        char why[400];
        not_found(e, why, sizeof why);
        async_route_dead(a, e, why);
    }
}

void async_stats(const async_t *a, const char *function, async_stats_t *out)
{
    const afn_t *one = function ? async_fn_find(a, function) : NULL;
    unsigned queued = 0, running = 0, retrying = 0;
    int64_t oldest = 0;
    for (size_t i = 0; i < a->nfns; i++) {
        const afn_t *f = a->fns[i];
        if (function && f != one) continue;
        queued += f->n_queued;
        running += f->n_running;
        retrying += f->n_retrying;
        list_node_t *h = list_first(&f->all);
        if (h) {
            int64_t c = list_entry(h, aev_t, all_link)->created_ms;
            if (!oldest || c < oldest) oldest = c;
        }
    }
    if (function) {
        if (one) *out = one->totals;
        else memset(out, 0, sizeof *out);
    } else {
        *out = a->totals;
    }
    out->queued = queued;
    out->running = running;
    out->retrying = retrying;
    int64_t age = oldest ? (int64_t)loop_wall_ms() - oldest : 0;
    out->oldest_ms = age > 0 ? age : 0;
}

queue_store_t *async_store(const async_t *a) { return a->store; }
