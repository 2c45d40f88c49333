/* Unit tests of the core without a daemon: the scheduler (router), its
 * instances and calls, driven through a fake sandbox (processes are
 * eventfds and pipes; "exit" makes the pidfd readable) and a fake transport
 * (deliveries are recorded; the test plays the runtime). The loop, the log
 * sink, the SQLite store and the code store are the real ones.
 *
 * What the integration tests can only see through wall-clock timing
 * (bursts, slots, limits, keep-alive) is exact here: how many instances were
 * started, which instance took which call, what was reported. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/call.h"
#include "core/core.h"
#include "core/instance.h"
#include "core/logs.h"
#include "core/router.h"
#include "core/transport.h"
#include "store/codestore.h"
#include "store/store.h"

#define MAXP 64

/* ---- the fake sandbox ---- */

typedef struct {
    sandbox_proc_t *p;
    int out_w;          /* the "runtime's" stdout */
    int exit_code;      /* what reap reports */
    bool exited, killed, terminated, released;
} fake_proc_t;

static fake_proc_t g_procs[MAXP];
static int g_nprocs;
static int64_t g_peak = 50 * 1048576;    /* every instance's memory peak */
static bool g_exit_on_term = true;       /* a runtime that obeys SIGTERM */

static fake_proc_t *proc_of(const sandbox_proc_t *p)
{
    for (int i = 0; i < g_nprocs; i++)
        if (g_procs[i].p == p) return &g_procs[i];
    return NULL;
}

static void fake_exit(fake_proc_t *f)
{
    uint64_t one = 1;
    if (f->exited) return;
    f->exited = true;
    if (write(f->p->pidfd, &one, sizeof one) != sizeof one) abort();
}

static bool fake_enabled(void) { return true; }

static int fake_start(const sandbox_spec_t *spec, sandbox_proc_t *p, sandbox_done_fn done, void *arg, err_t *err)
{
    (void)spec; (void)done; (void)arg;
    cr_assert(g_nprocs < MAXP);
    int pipefd[2];
    if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) < 0) return err_sys(err, "pipe");
    memset(p, 0, sizeof *p);
    p->pid = 100000 + g_nprocs;
    p->pidfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->out_fd = pipefd[0];
    p->err_fd = -1;
    p->api_fd = -1;
    p->status_fd = p->peak_fd = p->oom_fd = -1;
    g_procs[g_nprocs++] = (fake_proc_t){ .p = p, .out_w = pipefd[1] };
    return 1;   /* started already, like an unsandboxed spawn */
}

static void fake_kill(sandbox_proc_t *p)
{
    fake_proc_t *f = proc_of(p);
    if (!f || f->exited) return;
    f->killed = true;
    fake_exit(f);
}

static void fake_terminate(sandbox_proc_t *p)
{
    fake_proc_t *f = proc_of(p);
    f->terminated = true;
    if (g_exit_on_term && !f->exited) {
        f->killed = true;
        fake_exit(f);
    }
}

static int fake_reap(sandbox_proc_t *p, int *code, int *status)
{
    fake_proc_t *f = proc_of(p);
    *code = f->killed ? CLD_KILLED : CLD_EXITED;
    *status = f->killed ? SIGKILL : f->exit_code;
    return 0;
}

static int64_t fake_peak(const sandbox_proc_t *p) { (void)p; return g_peak; }
static void fake_reset(sandbox_proc_t *p) { (void)p; }
static bool fake_oom(const sandbox_proc_t *p) { (void)p; return false; }

static void fake_release(sandbox_proc_t *p)
{
    /* On a worker, like the real one: only fds. */
    fake_proc_t *f = proc_of(p);
    if (p->pidfd >= 0) close(p->pidfd);
    if (p->out_fd >= 0) close(p->out_fd);
    if (f->out_w >= 0) close(f->out_w);
    p->pidfd = p->out_fd = f->out_w = -1;
    f->released = true;
}

static const sandbox_ops_t FAKE_SANDBOX = {
    .enabled = fake_enabled, .start = fake_start, .kill = fake_kill, .terminate = fake_terminate,
    .reap = fake_reap, .memory_peak = fake_peak, .memory_reset = fake_reset, .release = fake_release,
    .oom_killed = fake_oom,
};

/* ---- the fake transport: deliveries are recorded ---- */

typedef struct {
    instance_t *in;
    call_t *c;
} delivery_t;

static delivery_t g_deliv[256];
static int g_ndeliv;
static int g_attached;

static int fake_attach(instance_t *in, err_t *err) { (void)in; (void)err; g_attached++; return 0; }
static void fake_deliver(instance_t *in, call_t *c) { g_deliv[g_ndeliv++] = (delivery_t){ in, c }; }

static const transport_t FAKE_TRANSPORT = { .name = "fake", .attach = fake_attach, .deliver = fake_deliver };

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

static char g_dir[] = "/tmp/nimbus-sched-XXXXXX";
static loop_t *g_loop;
static store_t *g_store;
static codestore_t *g_code;
static core_ctx_t g_ctx;
static router_t *g_router;
static const char HEX[] = "00000000000000000000000000000000000000000000000000000000000000aa";

static void setup(void)
{
    err_t err;
    cr_assert(mkdtemp(g_dir));
    char path[256];
    g_loop = loop_new(1, &err);
    cr_assert(g_loop, "%s", err.msg);
    snprintf(path, sizeof path, "%s/nimbus.db", g_dir);
    g_store = store_open(path, &err);
    cr_assert(g_store, "%s", err.msg);
    snprintf(path, sizeof path, "%s/code", g_dir);
    codestore_limits_t lim = { .max_zip_bytes = 1 << 20, .max_unzipped_bytes = 1 << 20 };
    g_code = codestore_open(path, &lim, &err);
    cr_assert(g_code, "%s", err.msg);
    /* A code tree with an executable bootstrap: what runtime "provided" needs. */
    char tree[400], boot[450];
    codestore_tree_path(g_code, HEX, tree, sizeof tree);
    snprintf(path, sizeof path, "%s/code/%s", g_dir, HEX);
    cr_assert(mkdir(path, 0700) == 0 && mkdir(tree, 0700) == 0);
    snprintf(boot, sizeof boot, "%s/bootstrap", tree);
    int fd = open(boot, O_CREAT | O_WRONLY, 0755);
    cr_assert(fd >= 0);
    close(fd);

    g_ctx = (core_ctx_t){ .loop = g_loop, .code = g_code, .sandbox = &FAKE_SANDBOX };
    g_ctx.logs = logs_new(g_loop, g_store, &err);
    cr_assert(g_ctx.logs);
    core_limits_defaults(&g_ctx.limits);
    g_ctx.limits.max_instances_per_fn = 100;
    g_ctx.limits.account_concurrency = 1000;
    g_ctx.limits.keep_alive_ms = 120000;
    g_ctx.limits.throttle_wait_ms = 5000;
    g_ctx.limits.max_queue = 10000;
    for (int i = 0; i < RUNTIME_API_COUNT; i++) g_ctx.transports[i] = &FAKE_TRANSPORT;
    g_router = router_new(&g_ctx);
    cr_assert(g_router);
}

static void stop_cb(loop_t *l, void *arg) { (void)arg; loop_stop(l); }

/* Let timers, exits and workers run for `ms`. */
static void spin(unsigned ms)
{
    err_t err;
    loop_timer_add(g_loop, ms, stop_cb, NULL);
    cr_assert(loop_run(g_loop, &err) == 0);
}

static void teardown(void)
{
    /* Calls still waiting are failed (their function goes), running ones
     * end with their instances. */
    while (router_count(g_router)) router_remove(g_router, router_at(g_router, 0));
    g_ctx.stopping = true;
    router_stop_all(g_router);
    for (int i = 0; i < 200 && (router_instance_count(g_router) || loop_pending_work(g_loop)); i++) spin(5);
    cr_assert_eq(router_instance_count(g_router), 0);
    router_free(g_router);
    logs_free(g_ctx.logs);
    loop_free(g_loop);
    codestore_close(g_code);
    store_close(g_store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    cr_assert(system(cmd) == 0);
}

static router_fn_t *add_fn(const char *name, int concurrency, int timeout_s)
{
    function_config_t cfg;
    function_config_init(&cfg);
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    snprintf(cfg.runtime, sizeof cfg.runtime, "provided");
    snprintf(cfg.handler, sizeof cfg.handler, "x");
    memcpy(cfg.code_hex, HEX, sizeof cfg.code_hex);
    cfg.instance_concurrency = concurrency;
    cfg.timeout_s = timeout_s;
    router_fn_t *fn = router_add(g_router, &cfg);
    function_config_free(&cfg);
    cr_assert(fn);
    return fn;
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

/* The runtime of instance `in` asks for work `n` times; the first makes it ready. */
static void open_slots(instance_t *in, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        instance_slot_opened(in);
        instance_seen(in);
        if (in->state == INST_STARTING) instance_ready(in);
    }
}

/* The runtime answers call c. */
static void answer(delivery_t *d, const char *body)
{
    instance_answered(d->in, d->c);
    call_complete(d->c, body, strlen(body), "application/json");
}

static instance_t *nth_instance(router_fn_t *fn, int n)
{
    int i = 0;
    list_each(it, &fn->pool.instances) {
        if (i++ == n) return list_entry(it, instance_t, fn_link);
    }
    return NULL;
}

static void reset_counts(void)
{
    g_nprocs = g_ndeliv = g_nout = g_attached = 0;
    g_exit_on_term = true;
    g_peak = 50 * 1048576;
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
