/* Unit tests of the timer wheel (core/trigger.h) with the real loop,
 * store, queue store and async queue of fake_core.h: the events' shapes,
 * the catch-up rule at start (the last missed slot only, or a window),
 * several slots reached late fired in order, a disabled trigger, and the
 * slots recorded in the store. The functions have a reserved concurrency
 * of 0, so events wait in the queue and nothing runs. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/trigger.h"
#include "fake_core.h"

static queue_store_t *g_qs;
static async_t *g_async;
static trigger_wheel_t *g_wheel;

static bool policy_cb(void *arg, const char *function, const char *qualifier, async_policy_t *out, char dl[512])
{
    (void)arg; (void)qualifier;
    async_policy_defaults(out);
    dl[0] = '\0';
    return router_find(g_router, function) != NULL;
}

static void setup(void)
{
    fake_core_setup();
    fake_core_reset();
    err_t err;
    char path[300];
    snprintf(path, sizeof path, "%s/queue.db", g_dir);
    g_qs = queue_store_open(g_loop, path, &err);
    cr_assert(g_qs, "%s", err.msg);
    async_limits_t lim = { .retry_scale = 0.001, .max_payload_bytes = 1048576,
                           .idempotency_window_ms = 86400000, .max_queued = 100000 };
    g_async = async_new(g_router, g_qs, &lim, policy_cb, NULL, &err);
    cr_assert(g_async, "%s", err.msg);
}

static void teardown(void)
{
    trigger_wheel_stop(g_wheel);
    async_stop(g_async);
    for (int i = 0; i < 500 && loop_pending_work(g_loop); i++) spin(2);
    async_free(g_async);
    trigger_wheel_free(g_wheel);
    g_wheel = NULL;
    queue_store_close(g_qs);
    fake_core_teardown();
}

TestSuite(trigger, .init = setup, .fini = teardown);

static void new_wheel(int64_t catchup_ms)
{
    err_t err;
    trigger_limits_t lim = { .catchup_ms = catchup_ms };
    g_wheel = trigger_wheel_new(g_loop, g_store, g_async, g_router, &lim, &err);
    cr_assert(g_wheel);
}

static router_fn_t *held_fn(const char *name)
{
    router_fn_t *fn = add_fn(name, 1, 30);
    fn->cfg.reserved_concurrency = 0;   /* its events wait */
    err_t err;
    cr_assert_eq(store_function_insert(g_store, name, "{}", "00", &err), 0, "%s", err.msg);
    return fn;
}

static trigger_spec_t spec(const char *fn, const char *name, const char *expr, int64_t created)
{
    trigger_spec_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.function, sizeof s.function, "%s", fn);
    snprintf(s.name, sizeof s.name, "%s", name);
    snprintf(s.expr, sizeof s.expr, "%s", expr);
    s.enabled = true;
    s.created_ms = s.since_ms = created;
    return s;
}

static int64_t now_s(void)
{
    return (int64_t)loop_wall_ms() / 1000 * 1000;
}

static trigger_stats_t stats(const char *fn, const char *name)
{
    trigger_stats_t st;
    cr_assert(trigger_find(g_wheel, fn, name, &st));
    return st;
}

#define WAIT_FOR(cond) \
    do { for (int w_ = 0; w_ < 1500 && !(cond); w_++) spin(2); } while (0)

/* ---- events ---- */

Test(trigger, event_shapes_carry_the_slot_time)
{
    trigger_spec_t s = spec("f", "t1", "@every 1s", 0);
    snprintf(s.payload, sizeof s.payload, "awesome \"fc\"");
    int64_t slot = 1518155340000;   /* 2018-02-09T05:49:00Z */
    char *j = trigger_event_json(&s, slot + 0);
    cr_assert_str_eq(j, "{\"triggerTime\":\"2018-02-09T05:49:00Z\",\"triggerName\":\"t1\",\"payload\":\"awesome \\\"fc\\\"\"}");
    free(j);
    s.format = TRIGGER_SCF;
    j = trigger_event_json(&s, slot);
    cr_assert_str_eq(j, "{\"Type\":\"Timer\",\"TriggerName\":\"t1\",\"Time\":\"2018-02-09T05:49:00Z\","
                        "\"Message\":\"awesome \\\"fc\\\"\"}");
    free(j);
    s.format = TRIGGER_EVENTBRIDGE;
    snprintf(s.payload, sizeof s.payload, "{\"a\":[1]}");
    j = trigger_event_json(&s, slot);
    char *again = trigger_event_json(&s, slot);
    char *next = trigger_event_json(&s, slot + 1000);
    cJSON *o = cJSON_Parse(j), *n = cJSON_Parse(next);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "time")->valuestring, "2018-02-09T05:49:00Z");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "detail-type")->valuestring, "Scheduled Event");
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "resources"), 0)->valuestring,
                     "arn:aws:events:us-east-1:000000000000:rule/t1");
    char *detail = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "detail"));
    cr_assert_str_eq(detail, "{\"a\":[1]}");
    free(detail);
    cr_assert_str_eq(j, again, "a slot's event is the same each time it is made (its id too)");
    cr_assert_str_neq(cJSON_GetObjectItem(o, "id")->valuestring, cJSON_GetObjectItem(n, "id")->valuestring);
    cJSON_Delete(o);
    cJSON_Delete(n);
    free(j);
    free(again);
    free(next);
}

Test(trigger, spec_check_names_the_field)
{
    err_t err;
    trigger_spec_t s = spec("f", "ok-name_1", "@every 1s", 0);
    cr_assert_eq(trigger_spec_check(&s, &err), 0, "%s", err.msg);
    snprintf(s.name, sizeof s.name, "bad name");
    cr_assert_eq(trigger_spec_check(&s, &err), -1);
    cr_assert(strncmp(err.msg, "Name: ", 6) == 0, "%s", err.msg);
    s = spec("f", "t", "whenever", 0);
    cr_assert_eq(trigger_spec_check(&s, &err), -1);
    cr_assert(strncmp(err.msg, "ScheduleExpression: ", 20) == 0, "%s", err.msg);
    s = spec("f", "t", "@every 1s", 0);
    snprintf(s.tz, sizeof s.tz, "Mars/Base");
    cr_assert_eq(trigger_spec_check(&s, &err), -1);
    cr_assert(strncmp(err.msg, "Timezone: ", 10) == 0, "%s", err.msg);
    s = spec("f", "t", "@every 1s", 0);
    s.format = TRIGGER_EVENTBRIDGE;
    snprintf(s.payload, sizeof s.payload, "[1]");
    cr_assert_eq(trigger_spec_check(&s, &err), -1);
    cr_assert(strncmp(err.msg, "Payload: ", 9) == 0, "%s", err.msg);
}

/* ---- the catch-up rule ---- */

typedef struct {
    int64_t slots[64];
    int n;
    bool done;
} listed_t;

static void listed_cb(void *arg, const err_t *err, const queue_event_t *events, size_t n, const char *next)
{
    (void)next;
    listed_t *l = arg;
    cr_assert_null(err);
    for (size_t i = 0; i < n && l->n < 64; i++) {
        cJSON *o = cJSON_ParseWithLength(events[i].payload, events[i].payload_len);
        struct tm tm = { 0 };
        strptime(cJSON_GetObjectItem(o, "triggerTime")->valuestring, "%Y-%m-%dT%H:%M:%SZ", &tm);
        l->slots[l->n++] = (int64_t)timegm(&tm) * 1000;
        cJSON_Delete(o);
    }
    l->done = true;
}

/* The slots the queue has for `fn`, in accept order. */
static listed_t queued(const char *fn)
{
    static listed_t l;
    memset(&l, 0, sizeof l);
    queue_query_t q = { .function = fn, .state = -1, .limit = 100 };
    queue_store_list(g_qs, &q, listed_cb, &l);
    WAIT_FOR(l.done);
    cr_assert(l.done);
    return l;
}

Test(trigger, start_fires_only_the_last_missed_slot_by_default)
{
    held_fn("f");
    new_wheel(0);
    int64_t now = now_s();
    err_t err;
    trigger_spec_t s = spec("f", "t", "@every 1s", now - 10000);
    cr_assert_eq(trigger_put(g_wheel, &s, now - 8000, &err), 0, "%s", err.msg);
    cr_assert_eq(trigger_wheel_start(g_wheel, &err), 0);
    WAIT_FOR(stats("f", "t").fires >= 1);
    trigger_stats_t st = stats("f", "t");
    cr_assert_geq(st.fires, 1);
    listed_t l = queued("f");
    int64_t first = l.slots[0];
    /* The last slot at or before the start, never one of the seven before it. */
    cr_assert(first >= now && first <= now + 1000, "first %lld, start %lld", (long long)first, (long long)now);
    cr_assert_eq(st.missed, (uint64_t)((first - (now - 8000)) / 1000 - 1));
}

Test(trigger, start_fires_every_missed_slot_of_the_window_in_order)
{
    held_fn("f");
    new_wheel(5000);
    int64_t now = now_s();
    err_t err;
    trigger_spec_t s = spec("f", "t", "@every 1s", now - 20000);
    cr_assert_eq(trigger_put(g_wheel, &s, now - 20000, &err), 0, "%s", err.msg);
    cr_assert_eq(trigger_wheel_start(g_wheel, &err), 0);
    WAIT_FOR(stats("f", "t").fires >= 6);
    trigger_stats_t st = stats("f", "t");
    cr_assert_geq(st.fires, 6, "the window's slots fire at once, late, one after the other");
    listed_t l = queued("f");
    int64_t from = l.slots[0];
    cr_assert(from >= now - 5000 && from <= now - 4000, "the window starts 5 s back: %lld vs %lld",
              (long long)from, (long long)now);
    for (int i = 1; i < l.n; i++) cr_assert_eq(l.slots[i], l.slots[i - 1] + 1000, "in order, none merged");
    cr_assert_eq(st.missed, (uint64_t)((from - (now - 20000)) / 1000 - 1));
    cr_assert_geq(st.max_lag_ms, 4000, "a caught-up slot is late, and says so");
}

Test(trigger, rare_slots_are_found_without_walking_from_the_last_fired)
{
    held_fn("f");
    new_wheel(0);
    int64_t now = now_s();
    err_t err;
    /* Once a minute, at second 0; last fired an hour ago. */
    trigger_spec_t s = spec("f", "t", "0 * * * * *", now - 3600000);
    cr_assert_eq(trigger_put(g_wheel, &s, now - 3600000 - now % 60000, &err), 0, "%s", err.msg);
    cr_assert_eq(trigger_wheel_start(g_wheel, &err), 0);
    WAIT_FOR(stats("f", "t").fires >= 1);
    listed_t l = queued("f");
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.slots[0], now - now % 60000, "the last minute's slot");
    cr_assert_eq(stats("f", "t").missed, 59);
    cr_assert_eq(stats("f", "t").next_slot_ms, now - now % 60000 + 60000);
}

static void stored_slot(const char *function, const char *name, const char *doc, int64_t l, void *arg)
{
    (void)function; (void)doc;
    if (strcmp(name, "on") == 0) *(int64_t *)arg = l;
}

Test(trigger, disabled_fires_nothing_and_fired_slots_are_recorded)
{
    held_fn("f");
    new_wheel(0);
    err_t err;
    int64_t now = now_s();
    trigger_spec_t off = spec("f", "off", "@every 1s", now - 5000);
    off.enabled = false;
    trigger_spec_t on = spec("f", "on", "@every 1s", now);
    cr_assert_eq(trigger_put(g_wheel, &off, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(trigger_put(g_wheel, &on, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(store_trigger_put(g_store, "f", "on", "{}", &err), 0, "%s", err.msg);
    cr_assert_eq(trigger_wheel_start(g_wheel, &err), 0);
    cr_assert_eq(stats("f", "off").next_slot_ms, -1);
    WAIT_FOR(stats("f", "on").fires >= 2);
    cr_assert_geq(stats("f", "on").fires, 2);
    cr_assert_eq(stats("f", "off").fires, 0);
    spin(50);
    /* The store has the last slot fired (on a worker, after the accept). */
    int64_t last = stats("f", "on").last_slot_ms;
    trigger_wheel_stop(g_wheel);
    WAIT_FOR(loop_pending_work(g_loop) == 0);
    spin(20);
    int64_t stored = 0;
    cr_assert_eq(store_trigger_each(g_store, stored_slot, &stored, &err), 0);
    cr_assert_geq(stored, last - 1000);
    cr_assert_gt(stored, 0);
    cr_assert_eq(trigger_count(g_wheel, "f"), 2);
    trigger_remove_function(g_wheel, "f");
    cr_assert_eq(trigger_count(g_wheel, NULL), 0);
}
