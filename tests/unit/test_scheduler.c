/* Unit tests of the core without a daemon: the scheduler (router), its
 * instances and calls, driven through the fake sandbox and transport of
 * fake_core.h. The loop, the log sink, the SQLite store and the code store
 * are the real ones.
 *
 * What the integration tests can only see through wall-clock timing
 * (bursts, slots, limits, keep-alive) is exact here: how many instances were
 * started, which instance took which call, what was reported. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_core.h"

/* ---- outcomes ---- */

typedef struct {
    call_outcome_t outcome;
    char body[512];
    char reason[96];
    char log[4096];
    char request_id[37];
} outcome_t;

static outcome_t g_out[256];
static int g_nout;

static void record(call_t *c, const call_result_t *res)
{
    outcome_t *o = &g_out[g_nout++];
    o->outcome = res->outcome;
    snprintf(o->body, sizeof o->body, "%.*s", (int)res->len, res->body ? res->body : "");
    snprintf(o->reason, sizeof o->reason, "%s", res->reason ? res->reason : "");
    size_t n;
    const char *t = call_log_tail(c, sizeof o->log - 1, &n);
    memcpy(o->log, t, n);
    o->log[n] = '\0';
    memcpy(o->request_id, c->request_id, 37);
}

/* ---- the world ---- */

static void setup(void) { fake_core_setup(); }
static void teardown(void) { fake_core_teardown(); }

static void reset_counts(void)
{
    fake_core_reset();
    g_nout = 0;
}

static call_t *submit(router_fn_t *fn)
{
    call_t *c = call_new(g_router, fn);
    cr_assert(c);
    c->log_tail = true;
    c->done = record;
    call_submit(c);
    return c;
}

TestSuite(scheduler, .init = setup, .fini = teardown);

Test(scheduler, a_burst_starts_one_instance_per_waiting_call)
{
    reset_counts();
    router_fn_t *fn = add_fn("burst", 1, 30);
    for (int i = 0; i < 10; i++) submit(fn);
    cr_assert_eq(g_nprocs, 10, "10 waiting calls, %d instances started", g_nprocs);
    cr_assert_eq(pool_starting(&fn->pool), 10);
    cr_assert_eq(pool_queued(&fn->pool), 10);
    cr_assert_eq(g_ndeliv, 0);
    for (int i = 0; i < 10; i++) open_slots(nth_instance(fn, i), 1);
    cr_assert_eq(g_ndeliv, 10);
    cr_assert_eq(pool_queued(&fn->pool), 0);
    cr_assert_eq(pool_starting(&fn->pool), 0);
    cr_assert_eq(router_inflight(g_router), 10);
    for (int i = 0; i < 10; i++)
        for (int k = i + 1; k < 10; k++) cr_assert_neq(g_deliv[i].in, g_deliv[k].in, "one call per instance");
    for (int i = 0; i < 10; i++) answer(&g_deliv[i], "{\"ok\":true}");
    cr_assert_eq(g_nout, 10);
    cr_assert_eq(router_inflight(g_router), 0);
    cr_assert_eq(g_out[0].outcome, CALL_OK);
    cr_assert_str_eq(g_out[0].body, "{\"ok\":true}");
    /* Still 10 instances, no more: a burst never overshoots. */
    cr_assert_eq(g_nprocs, 10);
    cr_assert_eq(pool_instances(&fn->pool), 10);
}

Test(scheduler, a_warm_instance_takes_the_next_call_without_a_start)
{
    reset_counts();
    router_fn_t *fn = add_fn("warm", 1, 30);
    submit(fn);
    instance_t *in = nth_instance(fn, 0);
    open_slots(in, 1);
    answer(&g_deliv[0], "1");
    cr_assert_eq(pool_returning(&fn->pool), 1, "answered: its next /next is coming");
    /* A call arriving now waits for that slot instead of starting another. */
    submit(fn);
    cr_assert_eq(g_nprocs, 1);
    cr_assert_eq(g_ndeliv, 1);
    open_slots(in, 1);
    cr_assert_eq(g_ndeliv, 2);
    cr_assert_eq(g_deliv[1].in, in);
    answer(&g_deliv[1], "2");
    cr_assert_eq(g_nprocs, 1);
    cr_assert(strstr(g_out[0].log, "Init Duration: "), "the first call is a cold start: %s", g_out[0].log);
    cr_assert_null(strstr(g_out[1].log, "Init Duration"), "the second is warm: %s", g_out[1].log);
    cr_assert_eq(in->calls_served, 2);
}

Test(scheduler, slots_of_one_instance_serve_concurrent_calls)
{
    reset_counts();
    router_fn_t *fn = add_fn("slots", 4, 30);
    for (int i = 0; i < 5; i++) submit(fn);
    /* One starting instance covers 4 calls: the fifth needs a second. */
    cr_assert_eq(g_nprocs, 2);
    instance_t *a = nth_instance(fn, 0);
    open_slots(a, 1);
    /* Ready with one slot open: it takes one call, its other 3 are expected. */
    cr_assert_eq(g_ndeliv, 1);
    cr_assert_eq(pool_returning(&fn->pool), 3);
    open_slots(a, 3);
    cr_assert_eq(g_ndeliv, 4);
    for (int i = 0; i < 4; i++) cr_assert_eq(g_deliv[i].in, a);
    cr_assert_eq(a->n_busy, 4);
    open_slots(nth_instance(fn, 1), 1);
    cr_assert_eq(g_ndeliv, 5);
    cr_assert_eq(g_deliv[4].in, nth_instance(fn, 1));
    cr_assert_eq(pool_queued(&fn->pool), 0);
    for (int i = 0; i < 5; i++) answer(&g_deliv[i], "{}");
    cr_assert_eq(g_nout, 5);
}

Test(scheduler, max_instances_holds_calls_until_a_slot_frees)
{
    reset_counts();
    g_ctx.limits.max_instances_per_fn = 3;
    router_fn_t *fn = add_fn("capped", 1, 30);
    for (int i = 0; i < 5; i++) submit(fn);
    cr_assert_eq(g_nprocs, 3);
    for (int i = 0; i < 3; i++) open_slots(nth_instance(fn, i), 1);
    cr_assert_eq(g_ndeliv, 3);
    cr_assert_eq(pool_queued(&fn->pool), 2);
    answer(&g_deliv[0], "{}");
    open_slots(g_deliv[0].in, 1);
    cr_assert_eq(g_ndeliv, 4, "a freed slot takes the oldest waiting call");
    cr_assert_eq(g_deliv[3].in, g_deliv[0].in);
    cr_assert_eq(g_nprocs, 3, "never above the limit");
}

Test(scheduler, reserved_concurrency_refuses_and_throttles_with_lambdas_reason)
{
    reset_counts();
    g_ctx.limits.throttle_wait_ms = 20;
    router_fn_t *fn = add_fn("reserved", 1, 30);
    fn->cfg.reserved_concurrency = 0;
    cr_assert_str_eq(router_refuse_reason(g_router, fn), "ReservedFunctionConcurrentInvocationLimitExceeded");
    fn->cfg.reserved_concurrency = 2;
    cr_assert_null(router_refuse_reason(g_router, fn));
    for (int i = 0; i < 3; i++) submit(fn);
    cr_assert_eq(g_nprocs, 2, "reserved concurrency caps instances too");
    for (int i = 0; i < 2; i++) open_slots(nth_instance(fn, i), 1);
    cr_assert_eq(g_ndeliv, 2);
    spin(60);
    cr_assert_eq(g_nout, 1);
    cr_assert_eq(g_out[0].outcome, CALL_THROTTLED);
    cr_assert_str_eq(g_out[0].reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
    for (int i = 0; i < 2; i++) answer(&g_deliv[i], "{}");
}

Test(scheduler, calls_beyond_the_instances_on_their_way_are_throttled_while_they_start)
{
    /* A burst past the limit whose instances are still starting when the
     * wait ends: the surplus gets its 429 then, not at its deadline. */
    reset_counts();
    g_ctx.limits.throttle_wait_ms = 20;
    router_fn_t *fn = add_fn("slowstart", 1, 30);
    fn->cfg.reserved_concurrency = 2;
    for (int i = 0; i < 3; i++) submit(fn);
    cr_assert_eq(g_nprocs, 2);
    spin(60);
    cr_assert_eq(g_nout, 1, "only the call no instance on its way will take is throttled");
    cr_assert_eq(g_out[0].outcome, CALL_THROTTLED);
    cr_assert_str_eq(g_out[0].reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
    for (int i = 0; i < 2; i++) open_slots(nth_instance(fn, i), 1);
    cr_assert_eq(g_ndeliv, 2, "the two calls ahead still get the instances they waited for");
    for (int i = 0; i < 2; i++) answer(&g_deliv[i], "{}");
    cr_assert_eq(g_nout, 3);
    cr_assert_eq(g_out[1].outcome, CALL_OK);
    cr_assert_eq(g_out[2].outcome, CALL_OK);
}

Test(scheduler, account_concurrency_is_shared_by_all_functions)
{
    reset_counts();
    g_ctx.limits.account_concurrency = 2;
    g_ctx.limits.throttle_wait_ms = 1000;
    router_fn_t *a = add_fn("acct-a", 1, 30), *b = add_fn("acct-b", 1, 30);
    submit(a);
    submit(a);
    open_slots(nth_instance(a, 0), 1);
    open_slots(nth_instance(a, 1), 1);
    cr_assert_eq(router_inflight(g_router), 2);
    submit(b);
    cr_assert_eq(g_nprocs, 2, "no room on the account: no start for b");
    cr_assert_str_eq(router_throttle_reason(g_router, b), "ConcurrentInvocationLimitExceeded");
    answer(&g_deliv[0], "{}");
    /* The freed concurrency goes to b's waiting call: its instance starts. */
    cr_assert_eq(g_nprocs, 3);
    open_slots(nth_instance(b, 0), 1);
    cr_assert_eq(g_ndeliv, 3);
    answer(&g_deliv[1], "{}");
    answer(&g_deliv[2], "{}");
    cr_assert_eq(g_nout, 3);
}

Test(scheduler, each_account_has_its_own_limit_and_counts_only_its_functions)
{
    reset_counts();
    g_ctx.limits.account_concurrency = 1000;
    g_ctx.limits.throttle_wait_ms = 1000;
    cr_assert_eq(router_account_set_limit(g_router, "111111111111", 1), 0);
    cr_assert_eq(router_account_set_limit(g_router, "222222222222", 2), 0);
    router_fn_t *a = add_fn_of("pa-a", "111111111111", 1, 30), *a2 = add_fn_of("pa-a2", "111111111111", 1, 30);
    router_fn_t *b = add_fn_of("pa-b", "222222222222", 1, 30), *own = add_fn("pa-own", 1, 30);
    router_account_t *acc_a = router_account(g_router, "111111111111");
    router_account_t *acc_b = router_account(g_router, "222222222222");
    cr_assert(a->account == acc_a && a2->account == acc_a && b->account == acc_b, "each points at its owner's");
    cr_assert(own->account == router_account(g_router, ""), "no owner: the daemon's account");
    cr_assert_eq(router_account_limit(g_router, own->account), 1000, "the default limit");

    submit(a);
    open_slots(nth_instance(a, 0), 1);
    cr_assert_eq(acc_a->inflight, 1);
    submit(a2);
    cr_assert_eq(g_nprocs, 1, "A is at its limit of 1: no start for its other function");
    cr_assert_str_eq(router_throttle_reason(g_router, a2), "ConcurrentInvocationLimitExceeded");
    /* B's calls run beside A's full account, up to B's own limit. */
    submit(b);
    submit(b);
    cr_assert_eq(g_nprocs, 3);
    open_slots(nth_instance(b, 0), 1);
    open_slots(nth_instance(b, 1), 1);
    cr_assert_eq(g_ndeliv, 3);
    cr_assert_eq(acc_b->inflight, 2);
    cr_assert_eq(acc_a->inflight, 1, "B's calls count against B only");
    cr_assert_eq(router_inflight(g_router), 3, "the daemon's total is every account's");
    submit(b);
    cr_assert_eq(g_nprocs, 3, "B at its limit of 2");
    cr_assert_str_eq(router_throttle_reason(g_router, b), "ConcurrentInvocationLimitExceeded");
    submit(own);
    cr_assert_eq(g_nprocs, 4, "the daemon's account has room of its own");
    open_slots(nth_instance(own, 0), 1);
    cr_assert_eq(g_ndeliv, 4);

    /* A's call ends: the room goes to A's waiting call, not to B's. */
    answer(&g_deliv[0], "{}");
    cr_assert_eq(acc_a->inflight, 0);
    cr_assert_eq(g_nprocs, 5, "a2's instance starts");
    cr_assert_eq(pool_queued(&b->pool), 1, "B's third call still waits on B's limit");
    open_slots(nth_instance(a2, 0), 1);
    cr_assert_eq(g_ndeliv, 5);
    cr_assert_eq(acc_a->inflight, 1);
    /* One of B's ends: its waiting call takes that instance's freed slot. */
    answer(&g_deliv[1], "{}");
    open_slots(g_deliv[1].in, 1);
    cr_assert_eq(g_ndeliv, 6);
    cr_assert_eq(acc_b->inflight, 2);
    for (int i = 2; i < 6; i++) answer(&g_deliv[i], "{}");
    cr_assert_eq(g_nout, 6);
    cr_assert_eq(acc_a->inflight + acc_b->inflight + own->account->inflight, 0);
    cr_assert_eq(router_inflight(g_router), 0);
}

Test(scheduler, an_idle_instance_is_reclaimed_after_its_keep_alive)
{
    reset_counts();
    g_ctx.limits.keep_alive_ms = 30;
    router_fn_t *fn = add_fn("idle", 1, 30);
    submit(fn);
    instance_t *in = nth_instance(fn, 0);
    open_slots(in, 1);
    spin(80);
    cr_assert(!g_procs[0].terminated, "busy: its keep-alive does not run");
    answer(&g_deliv[0], "{}");
    open_slots(in, 1);
    spin(15);
    cr_assert(!g_procs[0].terminated, "idle for less than its keep-alive");
    for (int i = 0; i < 40 && router_instance_count(g_router); i++) spin(5);
    cr_assert(g_procs[0].terminated);
    cr_assert_eq(router_instance_count(g_router), 0, "scaled to zero");
    cr_assert_eq(pool_instances(&fn->pool), 0);
}

Test(scheduler, a_call_past_its_deadline_times_out_and_ends_its_instance)
{
    reset_counts();
    router_fn_t *fn = add_fn("slow", 1, 1);
    submit(fn);
    open_slots(nth_instance(fn, 0), 1);
    for (int i = 0; i < 300 && g_nout == 0; i++) spin(5);
    cr_assert_eq(g_nout, 1);
    cr_assert_eq(g_out[0].outcome, CALL_FUNCTION_ERROR);
    cr_assert(strstr(g_out[0].body, "\"errorType\":\"Sandbox.Timedout\""), "%s", g_out[0].body);
    cr_assert(strstr(g_out[0].body, "Task timed out after 1.00 seconds"), "%s", g_out[0].body);
    cr_assert(g_procs[0].killed, "a timed-out instance is never reused");
    cr_assert(strstr(g_out[0].log, "Status: timeout"), "%s", g_out[0].log);
}

Test(scheduler, the_report_line_has_lambdas_fields_and_measured_memory)
{
    reset_counts();
    g_peak = 37 * 1048576 + 5;   /* rounds up to 38 MB */
    router_fn_t *fn = add_fn("report", 1, 30);
    call_t *c = submit(fn);
    char rid[37];
    memcpy(rid, c->request_id, 37);
    open_slots(nth_instance(fn, 0), 1);
    answer(&g_deliv[0], "{}");
    const char *log = g_out[0].log;
    char start[128], end[128];
    snprintf(start, sizeof start, "START RequestId: %s Version: $LATEST\n", rid);
    snprintf(end, sizeof end, "END RequestId: %s\n", rid);
    cr_assert(strncmp(log, start, strlen(start)) == 0, "%s", log);
    cr_assert(strstr(log, end), "%s", log);
    const char *rep = strstr(log, "REPORT RequestId: ");
    cr_assert(rep, "%s", log);
    double dur, init;
    long billed;
    int mem, used;
    char id[37];
    int n = sscanf(rep, "REPORT RequestId: %36s\tDuration: %lf ms\tBilled Duration: %ld ms\tMemory Size: %d MB\t"
                        "Max Memory Used: %d MB\tInit Duration: %lf ms",
                   id, &dur, &billed, &mem, &used, &init);
    cr_assert_eq(n, 6, "%s", rep);
    cr_assert_str_eq(id, rid);
    cr_assert_eq(mem, 128);
    cr_assert_eq(used, 38);
    cr_assert(billed >= 1 && billed >= (long)(dur + init), "billed %ld for %.2f + %.2f", billed, dur, init);
    cr_assert_null(strstr(rep, "unsandboxed"));
}

Test(scheduler, an_instance_that_dies_in_init_fails_the_call_it_was_for)
{
    reset_counts();
    router_fn_t *fn = add_fn("crash", 1, 30);
    submit(fn);
    cr_assert_eq(g_nprocs, 1);
    g_procs[0].exit_code = 3;
    fake_exit(&g_procs[0]);
    for (int i = 0; i < 100 && g_nout == 0; i++) spin(5);
    cr_assert_eq(g_nout, 1);
    cr_assert_eq(g_out[0].outcome, CALL_FUNCTION_ERROR);
    cr_assert(strstr(g_out[0].body, "Runtime.ExitError"), "%s", g_out[0].body);
    cr_assert(strstr(g_out[0].body, "Runtime exited with error: exit status 3"), "%s", g_out[0].body);
    cr_assert_eq(g_nprocs, 1, "nothing else waits: no retry start");
}

Test(scheduler, an_update_retires_idle_instances_and_new_calls_start_fresh)
{
    reset_counts();
    router_fn_t *fn = add_fn("update", 1, 30);
    submit(fn);
    instance_t *old = nth_instance(fn, 0);
    open_slots(old, 1);
    answer(&g_deliv[0], "{}");
    open_slots(old, 1);
    function_config_t cfg;
    function_config_init(&cfg);
    function_config_copy(&cfg, &fn->cfg);
    cfg.memory_mb = 256;
    router_update(g_router, fn, &cfg);
    function_config_free(&cfg);
    cr_assert(g_procs[0].terminated, "the idle instance on old settings goes at once");
    submit(fn);
    cr_assert_eq(g_nprocs, 2, "the next call cold-starts on the new settings");
}
