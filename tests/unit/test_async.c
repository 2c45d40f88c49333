/* Unit tests of the async queue (core/async.h) driving the real router
 * with the fake sandbox and transport of fake_core.h: the test plays each
 * instance's runtime and answers the calls the dispatcher makes. Retry
 * delays are scaled by 0.001 (Lambda's 60 s wait is 60 ms here).
 *
 * The queue store is store/queue.h's: the real one when it is in the tree,
 * else the small in-memory one of fake_core.c, which keeps its rows across
 * a close and a reopen in the same process as a file would. The tests use
 * only queue.h, so they hold for both. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/async.h"
#include "fake_core.h"


/* ---- the world: a router, a queue store, the async queue ---- */

typedef struct {
    char name[65];
    async_policy_t p;
    char dead_letter[512];
} policy_row_t;

static policy_row_t g_pols[8];
static int g_npols;
static queue_store_t *g_qs;
static async_t *g_async;
static async_limits_t g_lim;

/* The EventInvokeConfig of function `name` (made with the defaults). */
static async_policy_t *policy(const char *name, char **dead_letter)
{
    int i = 0;
    while (i < g_npols && strcmp(g_pols[i].name, name) != 0) i++;
    if (i == g_npols) {
        cr_assert(g_npols < 8);
        snprintf(g_pols[i].name, sizeof g_pols[i].name, "%s", name);
        async_policy_defaults(&g_pols[i].p);
        g_npols++;
    }
    if (dead_letter) *dead_letter = g_pols[i].dead_letter;
    return &g_pols[i].p;
}

static bool policy_cb(void *arg, const char *function, const char *qualifier, async_policy_t *out, char dl[512])
{
    (void)arg;
    (void)qualifier;
    if (!router_find(g_router, function)) return false;
    char *d;
    *out = *policy(function, &d);
    snprintf(dl, 512, "%s", d);
    return true;
}

static void open_async(void)
{
    err_t err;
    char path[300];
    snprintf(path, sizeof path, "%s/queue.db", g_dir);
    g_qs = queue_store_open(g_loop, path, &err);
    cr_assert(g_qs, "%s", err.msg);
    g_async = async_new(g_router, g_qs, &g_lim, policy_cb, NULL, &err);
    cr_assert(g_async, "%s", err.msg);
}

static void start(void)
{
    err_t err;
    cr_assert_eq(async_start(g_async, &err), 0, "%s", err.msg);
}

/* The daemon goes away: nothing more is delivered, what ran is forgotten. */
static void close_async(void)
{
    async_stop(g_async);
    for (int i = 0; i < 200 && loop_pending_work(g_loop); i++) spin(2);
    async_free(g_async);
    queue_store_close(g_qs);
    g_async = NULL;
    g_qs = NULL;
}

static void setup(void)
{
    fake_core_setup();
    fake_core_reset();
    g_lim = (async_limits_t){ .retry_scale = 0.001, .max_payload_bytes = 1048576,
                              .idempotency_window_ms = 86400000, .max_queued = 100000 };
    open_async();
}

static void teardown(void)
{
    if (g_async) close_async();
    fake_core_teardown();
}

#define WAIT_FOR(cond) \
    do { for (int w_ = 0; w_ < 1000 && !(cond); w_++) spin(2); } while (0)

/* ---- accepting ---- */

typedef struct {
    int n;
    bool failed;
    err_code_t code;
    char id[37];
    bool duplicate;
} accepted_t;

static void accepted_cb(void *arg, const err_t *err, const char *id, bool duplicate)
{
    accepted_t *a = arg;
    a->n++;
    a->failed = err != NULL;
    a->code = err ? err->code : ERR_NONE;
    snprintf(a->id, sizeof a->id, "%s", id ? id : "");
    a->duplicate = duplicate;
}

static accepted_t accept_full(const char *fn, const char *payload, const char *key)
{
    accepted_t a = { 0 };
    async_event_t ev = { .function = fn, .payload = payload, .payload_len = payload ? strlen(payload) : 0,
                         .idempotency_key = key, .origin = "invoke" };
    async_accept(g_async, &ev, accepted_cb, &a);
    cr_assert_eq(a.n, 0, "told only once the store answers");
    WAIT_FOR(a.n);
    cr_assert_eq(a.n, 1);
    return a;
}

static void accept_event(const char *fn, const char *payload, char id[37])
{
    accepted_t a = accept_full(fn, payload, NULL);
    cr_assert(!a.failed);
    memcpy(id, a.id, 37);
}

/* ---- playing the runtimes ---- */

static int g_served;   /* deliveries answered (or taken) so far */

/* Every starting instance asks for work (and so becomes ready). */
static void ready_all(void)
{
    for (size_t i = 0; i < router_count(g_router); i++) {
        router_fn_t *fn = router_at(g_router, i);
        list_each(it, &fn->pool.instances) {
            instance_t *in = list_entry(it, instance_t, fn_link);
            if (in->state == INST_STARTING) open_slots(in, 1);
        }
    }
}

/* The next call handed to an instance, or NULL when none comes. */
static delivery_t *next_delivery(unsigned max_ms)
{
    for (unsigned i = 0; i < max_ms / 2 && g_ndeliv <= g_served; i++) {
        ready_all();
        if (g_ndeliv > g_served) break;
        spin(2);
    }
    return g_ndeliv > g_served ? &g_deliv[g_served++] : NULL;
}

static void finish_ok(delivery_t *d, const char *body)
{
    instance_t *in = d->in;
    answer(d, body);
    open_slots(in, 1);
}

static void finish_error(delivery_t *d, const char *doc)
{
    instance_t *in = d->in;
    instance_answered(in, d->c);
    call_fail_function(d->c, doc, strlen(doc));
    open_slots(in, 1);
}

/* ---- reading the store ---- */

typedef struct {
    bool done, found;
    queue_event_t ev;
    char payload[4096], result[4096];
    queue_attempt_t at[8];
    size_t nat;
} got_t;

static void got_cb(void *arg, const err_t *err, const queue_event_t *ev, const queue_attempt_t *at, size_t n)
{
    got_t *g = arg;
    g->done = true;
    if (err) return;
    g->found = true;
    g->ev = *ev;
    snprintf(g->payload, sizeof g->payload, "%.*s", (int)ev->payload_len, ev->payload ? ev->payload : "");
    snprintf(g->result, sizeof g->result, "%.*s", (int)ev->result_len, ev->result ? ev->result : "");
    g->ev.payload = g->ev.result = NULL;
    g->nat = n < 8 ? n : 8;
    if (g->nat) memcpy(g->at, at, g->nat * sizeof *at);
}

static got_t *stored(const char *id)
{
    static got_t g;
    memset(&g, 0, sizeof g);
    queue_store_get(g_qs, id, got_cb, &g);
    WAIT_FOR(g.done);
    cr_assert(g.done);
    return &g;
}

typedef struct {
    bool done;
    size_t n;
    char ids[64][37];
} listed_t;

static void listed_cb(void *arg, const err_t *err, const queue_event_t *events, size_t n, const char *next)
{
    (void)next;
    listed_t *l = arg;
    l->done = true;
    cr_assert_null(err);
    for (size_t i = 0; i < n && l->n < 64; i++) memcpy(l->ids[l->n++], events[i].id, 37);
}

static listed_t *in_state(const char *fn, queue_state_t state)
{
    static listed_t l;
    memset(&l, 0, sizeof l);
    queue_query_t q = { .function = fn, .state = (int)state, .limit = 64 };
    queue_store_list(g_qs, &q, listed_cb, &l);
    WAIT_FOR(l.done);
    return &l;
}

typedef struct {
    bool done, failed;
    size_t n;
} counted_t;

static void counted_cb(void *arg, const err_t *err, size_t n)
{
    counted_t *c = arg;
    c->done = true;
    c->failed = err != NULL;
    c->n = n;
}

static const char *ARN_SINK = "arn:aws:lambda:us-east-1:000000000000:function:sink";

/* The invocation record the sink function was called with. */
static cJSON *sink_record(void)
{
    delivery_t *d = next_delivery(1000);
    cr_assert(d, "the destination function was called");
    cr_assert_str_eq(d->c->fn->cfg.name, "sink");
    cJSON *rec = cJSON_ParseWithLength(d->c->payload, d->c->payload_len);
    cr_assert(rec, "%.*s", (int)d->c->payload_len, d->c->payload);
    finish_ok(d, "null");
    return rec;
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b) x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static double num_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
    cr_assert(cJSON_IsNumber(x), "%s.%s", a, b);
    return x->valuedouble;
}

static void planted_cb(void *arg, const err_t *err, const char *dup_id)
{
    (void)dup_id;
    cr_assert_null(err);
    (*(int *)arg)++;
}

TestSuite(async, .init = setup, .fini = teardown);

Test(async, events_beyond_a_reserved_concurrency_of_1_wait_and_all_run_in_order)
{
    router_fn_t *fn = add_fn("ordered", 1, 30);
    fn->cfg.reserved_concurrency = 1;
    g_ctx.limits.throttle_wait_ms = 20;   /* a call held back by a limit would be throttled at once */
    start();
    char ids[10][37], payload[32];
    for (int i = 0; i < 10; i++) {
        snprintf(payload, sizeof payload, "{\"n\":%d}", i);
        accept_event("ordered", payload, ids[i]);
    }
    async_stats_t st;
    for (int i = 0; i < 10; i++) {
        delivery_t *d = next_delivery(1000);
        cr_assert(d, "event %d delivered", i);
        snprintf(payload, sizeof payload, "{\"n\":%d}", i);
        cr_assert_str_eq(d->c->payload, payload, "in order");
        cr_assert_str_eq(d->c->request_id, ids[i], "the call has the event's request id");
        /* Well past the throttle wait: the others wait in the queue, not the pool. */
        spin(40);
        cr_assert_eq(g_ndeliv, g_served, "never two at once");
        cr_assert_eq(router_inflight(g_router), 1);
        cr_assert_eq(pool_queued(&fn->pool), 0);
        async_stats(g_async, "ordered", &st);
        cr_assert_eq(st.running, 1);
        cr_assert_eq(st.queued, (unsigned)(9 - i));
        finish_ok(d, "{\"ok\":true}");
    }
    cr_assert_eq(g_nprocs, 1, "one instance served them all");
    WAIT_FOR((async_stats(g_async, NULL, &st), st.succeeded == 10));
    cr_assert_eq(st.succeeded, 10);
    cr_assert_eq(st.accepted, 10);
    cr_assert_eq(st.queued + st.running + st.retrying, 0);
    for (int i = 0; i < 10; i++) {
        got_t *g = stored(ids[i]);
        cr_assert(g->found);
        cr_assert_eq(g->ev.state, QEV_SUCCEEDED);
        cr_assert_eq(g->ev.attempts, 1, "not one throttle");
        cr_assert_str_eq(g->result, "{\"ok\":true}");
    }
}

Test(async, a_failing_function_is_called_1_plus_max_retries_times_and_its_failure_record_goes_to_on_failure)
{
    add_fn("fails", 1, 30);
    add_fn("sink", 1, 30);
    policy("fails", NULL)->max_retry_attempts = 2;
    snprintf(policy("fails", NULL)->on_failure, 512, "%s", ARN_SINK);
    start();
    char id[37];
    accept_event("fails", "{\"order\":7}", id);
    const char *doc = "{\"errorType\":\"Boom\",\"errorMessage\":\"it broke\"}";
    uint64_t at[3];
    for (int i = 0; i < 3; i++) {
        delivery_t *d = next_delivery(2000);
        cr_assert(d, "attempt %d", i + 1);
        at[i] = loop_now_ms();
        cr_assert_str_eq(d->c->fn->cfg.name, "fails");
        cr_assert_str_eq(d->c->request_id, id, "every attempt has the event's request id");
        if (i < 2) {
            got_t *g = stored(id);
            cr_assert_eq(g->ev.state, QEV_RUNNING);
            cr_assert_eq(g->ev.attempts, i + 1);
        }
        finish_error(d, doc);
        if (i < 2) {
            got_t *g = stored(id);
            cr_assert_eq(g->ev.state, QEV_RETRYING);
            cr_assert_str_eq(g->ev.last_error, "Boom: it broke");
        }
    }
    /* Lambda's 60 s and 120 s, times 0.001. */
    cr_assert(at[1] - at[0] >= 60 && at[1] - at[0] < 1000, "first wait %llu ms", (unsigned long long)(at[1] - at[0]));
    cr_assert(at[2] - at[1] >= 120 && at[2] - at[1] < 1000, "second wait %llu ms", (unsigned long long)(at[2] - at[1]));
    cJSON *rec = sink_record();
    cr_assert_str_eq(str_at(rec, "version", NULL), "1.0");
    cr_assert_str_eq(str_at(rec, "requestContext", "requestId"), id);
    cr_assert_str_eq(str_at(rec, "requestContext", "condition"), "RetriesExhausted");
    cr_assert_str_eq(str_at(rec, "requestContext", "functionArn"),
                     "arn:aws:lambda:us-east-1:000000000000:function:fails:$LATEST");
    cr_assert_eq(num_at(rec, "requestContext", "approximateInvokeCount"), 3);
    cr_assert_eq(num_at(rec, "requestPayload", "order"), 7);
    cr_assert_eq(num_at(rec, "responseContext", "statusCode"), 200);
    cr_assert_str_eq(str_at(rec, "responseContext", "executedVersion"), "$LATEST");
    cr_assert_str_eq(str_at(rec, "responseContext", "functionError"), "Unhandled");
    cr_assert_str_eq(str_at(rec, "responsePayload", "errorType"), "Boom");
    const char *ts = str_at(rec, "timestamp", NULL);
    cr_assert(ts && strlen(ts) == 24 && ts[23] == 'Z', "%s", ts);
    cJSON_Delete(rec);
    cr_assert_null(next_delivery(300), "exactly 1 + MaximumRetryAttempts calls");
    got_t *g = stored(id);
    cr_assert_eq(g->ev.state, QEV_FAILED);
    cr_assert_eq(g->ev.attempts, 3);
    cr_assert_eq(g->nat, 3);
    cr_assert_str_eq(g->at[2].error_type, "Boom");
    cr_assert_str_eq(g->at[2].error_message, "it broke");
    cr_assert(strstr(g->ev.destination, "OnFailure arn:aws:lambda:us-east-1:000000000000:function:sink: accepted as "),
              "%s", g->ev.destination);
    async_stats_t st;
    async_stats(g_async, "fails", &st);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.retries, 2);
    cr_assert_eq(st.deliveries, 1);
}

Test(async, a_success_record_goes_to_on_success)
{
    add_fn("works", 1, 30);
    add_fn("sink", 1, 30);
    snprintf(policy("works", NULL)->on_success, 512, "%s", ARN_SINK);
    start();
    char id[37];
    accept_event("works", "{\"x\":1}", id);
    delivery_t *d = next_delivery(1000);
    cr_assert(d);
    finish_ok(d, "{\"answer\":42}");
    cJSON *rec = sink_record();
    cr_assert_str_eq(str_at(rec, "requestContext", "condition"), "Success");
    cr_assert_str_eq(str_at(rec, "requestContext", "requestId"), id);
    cr_assert_eq(num_at(rec, "requestContext", "approximateInvokeCount"), 1);
    cr_assert_eq(num_at(rec, "requestPayload", "x"), 1);
    cr_assert_eq(num_at(rec, "responsePayload", "answer"), 42);
    cr_assert_null(str_at(rec, "responseContext", "functionError"));
    cJSON_Delete(rec);
    got_t *g = stored(id);
    cr_assert_eq(g->ev.state, QEV_SUCCEEDED);
    cr_assert(strstr(g->ev.destination, "OnSuccess "), "%s", g->ev.destination);
    /* The record became an event of the sink's own, made by the destination. */
    const char *as = strstr(g->ev.destination, "accepted as ");
    cr_assert(as);
    char sink_id[37];
    snprintf(sink_id, sizeof sink_id, "%s", as + strlen("accepted as "));
    got_t *s = stored(sink_id);
    cr_assert(s->found);
    cr_assert_str_eq(s->ev.function, "sink");
    cr_assert_str_eq(s->ev.origin, "destination:arn:aws:lambda:us-east-1:000000000000:function:works:$LATEST");
}

Test(async, an_event_older_than_its_maximum_age_fails_with_event_age_exceeded_without_running)
{
    add_fn("late", 1, 30);
    add_fn("sink", 1, 30);
    policy("late", NULL)->max_event_age_s = 60;
    snprintf(policy("late", NULL)->on_failure, 512, "%s", ARN_SINK);
    /* Accepted two minutes ago, by a daemon that died before running it. */
    queue_event_t ev;
    memset(&ev, 0, sizeof ev);
    snprintf(ev.id, sizeof ev.id, "00000000-0000-4000-8000-00000000a9ed");
    snprintf(ev.function, sizeof ev.function, "late");
    ev.payload = "{\"old\":true}";
    ev.payload_len = strlen(ev.payload);
    ev.state = QEV_QUEUED;
    ev.created_ms = (int64_t)loop_wall_ms() - 120000;
    snprintf(ev.origin, sizeof ev.origin, "invoke");
    int stored_n = 0;
    queue_store_accept(g_qs, &ev, 0, planted_cb, &stored_n);
    WAIT_FOR(stored_n);
    cr_assert_eq(stored_n, 1);
    start();
    cJSON *rec = sink_record();
    cr_assert_str_eq(str_at(rec, "requestContext", "condition"), "EventAgeExceeded");
    cr_assert_str_eq(str_at(rec, "requestContext", "requestId"), ev.id);
    cr_assert_eq(num_at(rec, "requestContext", "approximateInvokeCount"), 0);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rec, "requestPayload"), "old")));
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(rec, "responseContext"), "it never ran");
    cJSON_Delete(rec);
    cr_assert_null(next_delivery(100));
    cr_assert_eq(g_ndeliv, 1, "only the destination ran");
    got_t *g = stored(ev.id);
    cr_assert_eq(g->ev.state, QEV_FAILED);
    cr_assert_eq(g->ev.attempts, 0);
}

Test(async, throttles_do_not_count_as_attempts)
{
    router_fn_t *fn = add_fn("busy", 1, 30);
    fn->cfg.reserved_concurrency = 2;
    policy("busy", NULL)->max_retry_attempts = 0;
    g_ctx.limits.throttle_wait_ms = 20;
    start();
    /* A synchronous call holds one of the two. */
    call_t *sync = call_new(g_router, fn);
    call_submit(sync);
    delivery_t *ds = next_delivery(1000);
    cr_assert(ds);
    cr_assert_eq(ds->c, sync);
    /* The event's call waits for a second instance... */
    char id[37];
    accept_event("busy", "{}", id);
    WAIT_FOR(pool_queued(&fn->pool) == 1);
    cr_assert_eq(pool_queued(&fn->pool), 1);
    /* ...when the reserved concurrency goes down to 1: its call is throttled. */
    fn->cfg.reserved_concurrency = 1;
    WAIT_FOR(pool_queued(&fn->pool) == 0);
    got_t *g = stored(id);
    cr_assert_eq(g->ev.state, QEV_QUEUED, "waiting again, as if it had never been tried");
    cr_assert_eq(g->ev.attempts, 0);
    cr_assert(strstr(g->ev.last_error, "ReservedFunctionConcurrentInvocationLimitExceeded"), "%s", g->ev.last_error);
    spin(50);
    cr_assert_eq(g_ndeliv, 1, "no room: it waits");
    /* The synchronous call ends: its room goes to the event. */
    finish_ok(ds, "{}");
    delivery_t *d = next_delivery(1000);
    cr_assert(d);
    cr_assert_str_eq(d->c->request_id, id);
    finish_error(d, "{\"errorType\":\"E\",\"errorMessage\":\"m\"}");
    WAIT_FOR(stored(id)->ev.state == QEV_DEAD);
    g = stored(id);
    cr_assert_eq(g->ev.state, QEV_DEAD, "MaximumRetryAttempts 0: one counted attempt and it failed");
    cr_assert_eq(g->ev.attempts, 1);
    cr_assert_eq(g->nat, 1);
    cr_assert_str_eq(g->ev.destination, "dead-letter list: RetriesExhausted");
}

Test(async, a_deleted_functions_events_go_to_the_dead_letter_list)
{
    router_fn_t *fn = add_fn("doomed", 1, 30);
    fn->cfg.reserved_concurrency = 1;
    policy("doomed", NULL)->max_retry_attempts = 0;
    start();
    char ids[3][37];
    for (int i = 0; i < 3; i++) accept_event("doomed", "{}", ids[i]);
    delivery_t *d = next_delivery(1000);
    cr_assert(d);
    router_remove(g_router, fn);
    async_function_deleted(g_async, "doomed");
    /* The waiting two at once; the running one when its call ends. */
    for (int i = 1; i < 3; i++) {
        got_t *g = stored(ids[i]);
        cr_assert_eq(g->ev.state, QEV_DEAD);
        cr_assert_eq(g->ev.attempts, 0);
        cr_assert_str_eq(g->ev.last_error,
                         "ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:000000000000:function:doomed");
    }
    finish_error(d, "{\"errorType\":\"E\",\"errorMessage\":\"m\"}");
    WAIT_FOR(stored(ids[0])->ev.state == QEV_DEAD);
    cr_assert_eq(stored(ids[0])->ev.state, QEV_DEAD);
    cr_assert_eq(in_state("doomed", QEV_DEAD)->n, 3);
    async_stats_t st;
    async_stats(g_async, "doomed", &st);
    cr_assert_eq(st.dead_letters, 3);
    cr_assert_eq(st.queued + st.running + st.retrying, 0);
}

Test(async, an_event_whose_call_waits_when_its_function_goes_is_a_dead_letter)
{
    router_fn_t *fn = add_fn("vanish", 1, 30);
    start();
    char id[37];
    accept_event("vanish", "{}", id);
    WAIT_FOR(pool_queued(&fn->pool) == 1);   /* its instance is starting */
    cr_assert_eq(pool_queued(&fn->pool), 1);
    router_remove(g_router, fn);             /* the router fails the call: 404 */
    got_t *g = stored(id);
    cr_assert_eq(g->ev.state, QEV_DEAD);
    cr_assert_eq(g->ev.attempts, 0, "it never ran");
    cr_assert(strstr(g->ev.last_error, "Function not found"), "%s", g->ev.last_error);
}

/* n events that fail once each (MaximumRetryAttempts 0): dead letters. */
static void make_dead_letters(const char *fn, int n, char ids[][37])
{
    for (int i = 0; i < n; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"dead\":%d}", i);
        accept_event(fn, payload, ids[i]);
        delivery_t *d = next_delivery(1000);
        cr_assert(d);
        finish_error(d, "{\"errorType\":\"E\",\"errorMessage\":\"m\"}");
        WAIT_FOR(stored(ids[i])->ev.state == QEV_DEAD);
        cr_assert_eq(stored(ids[i])->ev.state, QEV_DEAD);
    }
}

Test(async, redrive_runs_dead_letters_again_as_new_events)
{
    add_fn("again", 1, 30);
    policy("again", NULL)->max_retry_attempts = 0;
    start();
    char ids[3][37];
    make_dead_letters("again", 3, ids);
    cr_assert_eq(in_state("again", QEV_DEAD)->n, 3);
    /* One by its id. */
    counted_t c = { 0 };
    async_redrive(g_async, "again", ids[1], counted_cb, &c);
    WAIT_FOR(c.done);
    cr_assert(!c.failed);
    cr_assert_eq(c.n, 1);
    delivery_t *d = next_delivery(1000);
    cr_assert(d);
    cr_assert_str_eq(d->c->payload, "{\"dead\":1}");
    cr_assert_str_neq(d->c->request_id, ids[1], "a new request id");
    char new_id[37];
    memcpy(new_id, d->c->request_id, 37);
    finish_ok(d, "{}");
    WAIT_FOR(stored(new_id)->ev.state == QEV_SUCCEEDED);
    cr_assert_str_eq(stored(new_id)->ev.origin, "redrive");
    cr_assert(!stored(ids[1])->found, "the dead letter is gone from the list");
    cr_assert_eq(in_state("again", QEV_DEAD)->n, 2);
    /* An id that is not a dead letter. */
    memset(&c, 0, sizeof c);
    async_redrive(g_async, "again", new_id, counted_cb, &c);
    WAIT_FOR(c.done);
    cr_assert(c.failed);
    cr_assert_eq(c.n, 0);
    /* All of them. */
    memset(&c, 0, sizeof c);
    async_redrive(g_async, "again", NULL, counted_cb, &c);
    WAIT_FOR(c.done);
    cr_assert(!c.failed);
    cr_assert_eq(c.n, 2);
    for (int i = 0; i < 2; i++) {
        d = next_delivery(1000);
        cr_assert(d);
        cr_assert_str_eq(d->c->payload, i == 0 ? "{\"dead\":0}" : "{\"dead\":2}", "oldest first");
        finish_ok(d, "{}");
    }
    async_stats_t st;
    WAIT_FOR((async_stats(g_async, "again", &st), st.succeeded == 3));
    cr_assert_eq(st.succeeded, 3);
    cr_assert_eq(in_state("again", QEV_DEAD)->n, 0);
}

Test(async, purge_forgets_the_dead_letters)
{
    add_fn("purged", 1, 30);
    policy("purged", NULL)->max_retry_attempts = 0;
    start();
    char ids[2][37];
    make_dead_letters("purged", 2, ids);
    counted_t c = { 0 };
    async_purge(g_async, "purged", counted_cb, &c);
    WAIT_FOR(c.done);
    cr_assert(!c.failed);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(in_state("purged", QEV_DEAD)->n, 0);
    cr_assert(!stored(ids[0])->found);
}

Test(async, cancel_takes_a_waiting_event_out_and_refuses_a_running_one)
{
    router_fn_t *fn = add_fn("cancelled", 1, 30);
    fn->cfg.reserved_concurrency = 1;
    start();
    char first[37], second[37];
    accept_event("cancelled", "{\"n\":1}", first);
    accept_event("cancelled", "{\"n\":2}", second);
    delivery_t *d = next_delivery(1000);
    cr_assert(d);
    cr_assert_str_eq(d->c->request_id, first);
    err_t err;
    cr_assert_eq(async_cancel(g_async, "cancelled", first, &err), -1);
    cr_assert_eq(err.code, ERR_CONFLICT);
    cr_assert_eq(async_cancel(g_async, "other", second, &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND, "another function's id is unknown here");
    cr_assert_eq(async_cancel(g_async, "cancelled", "no-such-id", &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    cr_assert_eq(async_cancel(g_async, "cancelled", second, &err), 0, "%s", err.msg);
    cr_assert_eq(stored(second)->ev.state, QEV_CANCELLED);
    finish_ok(d, "{}");
    cr_assert_null(next_delivery(200), "the cancelled event never runs");
    cr_assert_eq(async_cancel(g_async, "cancelled", second, &err), -1, "cancelled once");
}

Test(async, restart_delivers_every_unfinished_event_again)
{
    router_fn_t *fn = add_fn("durable", 1, 30);
    fn->cfg.reserved_concurrency = 1;
    policy("durable", NULL)->max_retry_attempts = 0;
    start();
    char ids[3][37];
    for (int i = 0; i < 3; i++) accept_event("durable", "{}", ids[i]);
    delivery_t *d = next_delivery(1000);
    cr_assert(d);
    cr_assert_eq(stored(ids[0])->ev.state, QEV_RUNNING);
    /* The daemon dies with one event running and two queued. */
    close_async();
    finish_ok(d, "{}");   /* the old call ends unobserved */
    open_async();
    cr_assert_eq(stored(ids[0])->ev.state, QEV_RUNNING);
    start();
    for (int i = 0; i < 3; i++) {
        d = next_delivery(1000);
        cr_assert(d, "event %d delivered again", i);
        cr_assert_str_eq(d->c->request_id, ids[i]);
        finish_ok(d, "{}");
    }
    for (int i = 0; i < 3; i++) {
        WAIT_FOR(stored(ids[i])->ev.state == QEV_SUCCEEDED);
        cr_assert_eq(stored(ids[i])->ev.state, QEV_SUCCEEDED);
        /* MaximumRetryAttempts 0, yet the first one ran again: the attempt
         * the daemon died in did not count. */
        cr_assert_eq(stored(ids[i])->ev.attempts, 1);
    }
}

Test(async, a_url_destination_gets_the_record_posted_with_retries)
{
    int st[] = { 500, 200 };
    fake_hook_t *h = fake_hook_start(st, 2, 0);
    add_fn("hooked", 1, 30);
    snprintf(policy("hooked", NULL)->on_success, 512, "http://127.0.0.1:%d/done", fake_hook_port(h));
    start();
    char id[37];
    accept_event("hooked", "{\"q\":1}", id);
    delivery_t *d = next_delivery(1000);
    cr_assert(d);
    finish_ok(d, "\"fine\"");
    WAIT_FOR(fake_hook_count(h) == 2 && stored(id)->ev.state == QEV_SUCCEEDED);
    cr_assert_eq(fake_hook_count(h), 2, "a 500, then again after a backoff");
    got_t *g = stored(id);
    cr_assert_eq(g->ev.state, QEV_SUCCEEDED);
    cr_assert(strstr(g->ev.destination, "delivered (HTTP 200) after 2 tries"), "%s", g->ev.destination);
    char *body = fake_hook_body(h, 1), *head = fake_hook_head(h, 1);
    cJSON *rec = cJSON_Parse(body);
    cr_assert(rec, "%s", body);
    cr_assert_str_eq(str_at(rec, "requestContext", "condition"), "Success");
    cr_assert_str_eq(str_at(rec, "requestContext", "requestId"), id);
    cr_assert_str_eq(str_at(rec, "responsePayload", NULL), "fine");
    char want[80];
    snprintf(want, sizeof want, "\r\nX-Nimbus-Request-Id: %s\r\n", id);
    cr_assert(strcasestr(head, want), "%s", head);
    cJSON_Delete(rec);
    free(body);
    free(head);
    fake_hook_stop(h);
}

Test(async, a_url_delivery_that_finally_fails_is_a_dead_letter)
{
    int st[] = { 503 };
    fake_hook_t *h = fake_hook_start(st, 1, 0);
    add_fn("unheard", 1, 30);
    async_policy_t *p = policy("unheard", NULL);
    p->max_retry_attempts = 0;
    p->max_event_age_s = 1;   /* below the API's 60, so the retries end within the test */
    g_lim.retry_scale = 0.1;  /* backoff 100, 200, 400 ms... */
    close_async();
    open_async();
    snprintf(p->on_failure, 512, "http://127.0.0.1:%d/failed", fake_hook_port(h));
    start();
    char id[37];
    accept_event("unheard", "{}", id);
    delivery_t *d = next_delivery(1000);
    cr_assert(d);
    finish_error(d, "{\"errorType\":\"E\",\"errorMessage\":\"m\"}");
    WAIT_FOR(stored(id)->ev.state == QEV_DEAD);
    got_t *g = stored(id);
    cr_assert_eq(g->ev.state, QEV_DEAD);
    cr_assert(strstr(g->ev.destination, "OnFailure http://127.0.0.1:"), "%s", g->ev.destination);
    cr_assert(strstr(g->ev.destination, "(HTTP 503); kept in the dead-letter list"), "%s", g->ev.destination);
    int n = fake_hook_count(h);
    cr_assert(n >= 2 && n <= 5, "retried with backoff up to the event's age: %d tries", n);
    async_stats_t st2;
    async_stats(g_async, "unheard", &st2);
    cr_assert_eq(st2.delivery_failures, 1);
    cr_assert_eq(st2.dead_letters, 1);
    fake_hook_stop(h);
}

Test(async, accepts_beyond_the_payload_limit_fail_and_keys_make_one_event)
{
    add_fn("limits", 1, 30);
    g_lim.max_payload_bytes = 16;
    close_async();
    open_async();
    accepted_t a = accept_full("limits", "{\"too\":\"long for sixteen\"}", NULL);
    cr_assert(a.failed);
    cr_assert_eq(a.code, ERR_TOO_LARGE);
    a = accept_full("limits", "{}", "key-1");
    cr_assert(!a.failed);
    cr_assert(!a.duplicate);
    accepted_t b = accept_full("limits", "{}", "key-1");
    cr_assert(!b.failed);
    cr_assert(b.duplicate);
    cr_assert_str_eq(b.id, a.id, "the second answer names the first event");
    async_stats_t st;
    async_stats(g_async, "limits", &st);
    cr_assert_eq(st.accepted, 1);
    cr_assert_eq(st.queued, 1, "not started: it waits");
}

Test(async, never_more_calls_than_the_account_has_room_for)
{
    g_ctx.limits.account_concurrency = 2;
    g_ctx.limits.throttle_wait_ms = 20;
    router_fn_t *other = add_fn("sync-user", 1, 30);
    add_fn("queued", 1, 30);
    start();
    call_t *sync = call_new(g_router, other);
    call_submit(sync);
    delivery_t *ds = next_delivery(1000);
    cr_assert(ds);
    char ids[4][37];
    for (int i = 0; i < 4; i++) accept_event("queued", "", ids[i]);
    delivery_t *d1 = next_delivery(1000);
    cr_assert(d1);
    cr_assert_str_eq(d1->c->payload, "{}", "an empty event is {}");
    spin(50);
    cr_assert_eq(g_ndeliv, 2, "one for the synchronous call, one for the queue");
    cr_assert_eq(router_inflight(g_router), 2);
    finish_ok(ds, "{}");   /* the synchronous call's room goes to the queue */
    delivery_t *d2 = next_delivery(1000);
    cr_assert(d2);
    spin(50);
    cr_assert_eq(g_ndeliv, 3);
    cr_assert_eq(router_inflight(g_router), 2);
    finish_ok(d1, "{}");
    finish_ok(d2, "{}");
    for (int i = 0; i < 2; i++) {
        delivery_t *d = next_delivery(1000);
        cr_assert(d);
        finish_ok(d, "{}");
    }
    for (int i = 0; i < 4; i++) {
        WAIT_FOR(stored(ids[i])->ev.state == QEV_SUCCEEDED);
        cr_assert_eq(stored(ids[i])->ev.attempts, 1, "none was throttled");
    }
}

Test(async, a_full_account_holds_back_only_its_own_events)
{
    g_ctx.limits.throttle_wait_ms = 20;
    cr_assert_eq(router_account_set_limit(g_router, "111111111111", 1), 0);
    cr_assert_eq(router_account_set_limit(g_router, "222222222222", 1), 0);
    router_fn_t *sync_fn = add_fn_of("acct-a-sync", "111111111111", 1, 30);
    add_fn_of("acct-a-queued", "111111111111", 1, 30);
    router_fn_t *b = add_fn_of("acct-b-queued", "222222222222", 1, 30);
    start();
    call_t *sync = call_new(g_router, sync_fn);
    call_submit(sync);
    delivery_t *ds = next_delivery(1000);
    cr_assert(ds);
    /* A's events first: its function heads the queue's list, and a full
     * account must not stop the functions of another after it. */
    char a_ids[2][37], b_ids[2][37];
    for (int i = 0; i < 2; i++) accept_event("acct-a-queued", "", a_ids[i]);
    for (int i = 0; i < 2; i++) accept_event("acct-b-queued", "", b_ids[i]);
    delivery_t *d1 = next_delivery(1000);
    cr_assert(d1, "B's account has room while A's is full");
    cr_assert_eq(d1->c->fn, b);
    spin(50);
    cr_assert_eq(g_ndeliv, 2, "one each: A's synchronous call, B's first event");
    cr_assert_eq(router_account(g_router, "111111111111")->inflight, 1);
    cr_assert_eq(router_account(g_router, "222222222222")->inflight, 1);
    cr_assert_eq(pool_queued(&router_find(g_router, "acct-a-queued")->pool), 0, "A's events wait in the queue, not in a pool");
    finish_ok(d1, "{}");
    delivery_t *d2 = next_delivery(1000);
    cr_assert(d2);
    cr_assert_eq(d2->c->fn, b, "B's room goes to B's next event; A is still full");
    finish_ok(d2, "{}");
    finish_ok(ds, "{}");   /* A's room: its events, one at a time */
    for (int i = 0; i < 2; i++) {
        delivery_t *d = next_delivery(1000);
        cr_assert(d);
        cr_assert_str_eq(d->c->fn->cfg.name, "acct-a-queued");
        spin(20);
        cr_assert_eq(router_account(g_router, "111111111111")->inflight, 1, "never above A's limit");
        finish_ok(d, "{}");
    }
    for (int i = 0; i < 2; i++) {
        WAIT_FOR(stored(a_ids[i])->ev.state == QEV_SUCCEEDED && stored(b_ids[i])->ev.state == QEV_SUCCEEDED);
        cr_assert_eq(stored(a_ids[i])->ev.attempts, 1, "none was throttled");
        cr_assert_eq(stored(b_ids[i])->ev.attempts, 1, "none was throttled");
    }
}
