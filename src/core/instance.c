/* instance.c — instances: the activator's cold start, the state counters
 * the router schedules on, keep-alive, and the end of an instance. Their
 * output (pipes read into log lines) is instance_output.c's.
 *
 * Owns each instance_t from instance_start() until its process has exited
 * and its resources are released (on a worker: emptying a cgroup may wait).
 * Must never: reuse an instance after its call timed out or its process
 * exited, or leave a process of its tree running after it is gone.
 */
#include "core/instance_internal.h"
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/errdoc.h"
#include "core/call.h"
#include "core/logs.h"
#include "core/metrics.h"
#include "core/runtime.h"
#include "io/fdlimit.h"

#define START_FDS_FREE 24u       /* free fds a cold start needs (see instance_start) */

static unsigned long g_instance_seq;

/* Keep fn's counters and idle list in step: the router's scheduling reads
 * only these. fn->n_starting counts instances in init; fn->n_returning
 * counts slots whose /next is on its way. */

core_ctx_t *instance_ctx(const instance_t *in) { return router_ctx(in->router); }
static const sandbox_ops_t *sb(const instance_t *in) { return instance_ctx(in)->sandbox; }
static loop_t *loop_of(const instance_t *in) { return instance_ctx(in)->loop; }

static void keepalive_cb(loop_t *l, void *arg)
{
    (void)l;
    instance_t *in = arg;
    in->keepalive_timer = NULL;
    /* Idle for its whole keep-alive: reclaim it (scale to zero). */
    if (in->state == INST_READY && in->n_busy == 0 && in->n_returning == 0) instance_terminate(in);
}

/* Arm the keep-alive while the instance does nothing at all (ready, no
 * call running, none answered and coming back); disarm otherwise. A call
 * longer than the keep-alive is never cut: the timer only runs while idle. */
static void keepalive_update(instance_t *in)
{
    loop_t *l = loop_of(in);
    bool idle = in->state == INST_READY && in->n_busy == 0 && in->n_returning == 0 && !in->provisioned;
    if (idle && !in->keepalive_timer) {
        uint64_t ms = in->fn->cfg.keep_alive_s > 0 ? (uint64_t)in->fn->cfg.keep_alive_s * 1000u
                                                   : instance_ctx(in)->limits.keep_alive_ms;
        in->keepalive_timer = loop_timer_add(l, ms, keepalive_cb, in);
    } else if (!idle && in->keepalive_timer) {
        loop_timer_cancel(l, in->keepalive_timer);
        in->keepalive_timer = NULL;
    }
}

static void idle_update(instance_t *in)
{
    pool_idle_set(&in->fn->pool, &in->idle_link, in->state == INST_READY && in->n_free > 0);
    keepalive_update(in);
}

static void set_state(instance_t *in, instance_state_t st)
{
    pool_t *p = &in->fn->pool;
    if (in->state == st) return;
    if (in->state == INST_STARTING) pool_starting_add(p, -1);
    if (st == INST_STARTING) pool_starting_add(p, 1);
    if (st == INST_STOPPING) {
        pool_returning_sub(p, in->n_returning + in->n_expected);
        in->n_returning = in->n_expected = 0;
    }
    in->state = st;
    idle_update(in);
}

void instance_answered(instance_t *in, call_t *c)
{
    /* What it printed before answering belongs to this call: read it while
     * the call is still the instance's. */
    instance_drain_output(in);
    /* Text without a final newline (print(x, end="")) is this call's too. */
    instance_output_flush(in);
    list_remove(&c->inst_link);
    in->n_busy--;
    memcpy(in->answered[in->answered_next], c->request_id, 37);
    in->answered_next = (in->answered_next + 1) % in->n_answered_slots;
    if (in->state == INST_READY) {
        in->n_returning++;
        pool_returning_add(&in->fn->pool, 1);
    }
    keepalive_update(in);
}

bool instance_was_answered(const instance_t *in, const char *id)
{
    for (unsigned i = 0; i < in->n_answered_slots; i++)
        if (id[0] && strcmp(in->answered[i], id) == 0) return true;
    return false;
}

call_t *instance_find_call(const instance_t *in, const char *id)
{
    list_each(n, &in->calls) {
        call_t *c = list_entry(n, call_t, inst_link);
        if (strcmp(c->request_id, id) == 0) return c;
    }
    return NULL;
}

call_t *instance_first_call(const instance_t *in)
{
    return list_empty(&in->calls) ? NULL : list_entry(in->calls.next, call_t, inst_link);
}

void instance_call_gone(instance_t *in, call_t *c)
{
    list_remove(&c->inst_link);
    in->n_busy--;
}

void instance_seen(instance_t *in) { in->ready_seen = true; }

void instance_init_failed(instance_t *in, const char *type, const char *doc, size_t len)
{
    in->init_error = true;
    snprintf(in->init_error_type, sizeof in->init_error_type, "%s", type);
    free(in->init_error_body);
    in->init_error_body = NULL;
    in->init_error_len = 0;
    if (doc && len) {
        in->init_error_body = malloc(len + 1);
        if (!in->init_error_body) abort();
        memcpy(in->init_error_body, doc, len);
        in->init_error_body[len] = '\0';
        in->init_error_len = len;
    }
}

/* Started on code or settings since replaced, or its function or the
 * daemon is going away. */
static bool stale(const instance_t *in)
{
    return in->generation != in->fn->generation || in->fn->deleted || instance_ctx(in)->stopping;
}

void instance_slot_lost(instance_t *in)
{
    if (in->exited || in->n_free == 0) return;
    /* Its slot is gone until it asks again (then it counts as new). */
    in->n_free--;
    idle_update(in);
}

void instance_slot_opened(instance_t *in)
{
    pool_t *p = &in->fn->pool;
    if (in->n_returning) {
        in->n_returning--;
        pool_returning_sub(p, 1);
    } else if (in->n_expected) {
        in->n_expected--;
        pool_returning_sub(p, 1);
    }
    in->n_free++;
    if (in->state != INST_READY) return;
    if (stale(in)) {
        /* Its code or settings were replaced (or it is going away): it
         * finished its call, it takes no other. */
        instance_terminate(in);
        return;
    }
    idle_update(in);
    router_instance_ready(in->router, in);
}

void instance_ready(instance_t *in)
{
    in->init_ns = loop_now_ns() - in->spawn_ns;
    loop_timer_cancel(loop_of(in), in->init_timer);
    in->init_timer = NULL;
    in->reached_ready = true;        /* its init worked, whatever follows */
    metrics_instance_ready(in);
    if (stale(in)) {
        /* Started on replaced code: it never serves. The calls that were
         * counting on it need a fresh instance. */
        instance_terminate(in);
        router_schedule(in->router, in->fn);
        return;
    }
    set_state(in, INST_READY);
    /* Its other slots' first requests for work are on their way (a runtime
     * with N pullers opens them one after another): count them as
     * returning, or the router would start instances for calls these
     * slots are about to take. */
    unsigned open = in->n_free + in->n_busy;
    if (in->capacity > open) {
        in->n_expected = in->capacity - open;
        pool_returning_add(&in->fn->pool, in->n_expected);
    }
    router_schedule(in->router, in->fn);
}

/* ---- end of an instance ---- */

typedef struct {
    instance_t *in;
    bool heap;
} release_job_t;

static void release_work(void *arg)
{
    release_job_t *j = arg;
    sb(j->in)->release(&j->in->proc);
}

static void release_done(loop_t *l, void *arg)
{
    (void)l;
    release_job_t *j = arg;
    instance_t *in = j->in;
    router_t *r = in->router;
    core_ctx_t *ctx = router_ctx(r);
    char hex[65], opt[65];
    memcpy(hex, in->code_hex, sizeof hex);
    memcpy(opt, in->opt_hex, sizeof opt);
    instance_output_report(in);
    router_instance_removed(r, in);
    router_fn_unref(r, in->fn);
    buf_free(&in->out_line);
    buf_free(&in->init_log);
    buf_free(&in->err_line);
    free(in->init_error_body);
    free(in->env_block);
    free(in->answered);
    free(in);
    if (j->heap) free(j);
    /* The last instance on replaced code lets its tree go. */
    if (ctx->code_released) ctx->code_released(ctx->hooks_arg, hex);
    if (ctx->code_released && opt[0]) ctx->code_released(ctx->hooks_arg, opt);
}

static void exit_status_text(int code, int status, char *out, size_t n)
{
    if (code == CLD_EXITED && status == 0) snprintf(out, n, "Runtime exited without providing a reason");
    else if (code == CLD_EXITED) snprintf(out, n, "Runtime exited with error: exit status %d", status);
    else snprintf(out, n, "Runtime exited with error: signal: %s", strsignal(status));
}

static void unwatch(instance_t *in)
{
    loop_t *l = loop_of(in);
    loop_del_fd(l, in->proc.pidfd);
    loop_del_fd(l, in->proc.out_fd);
    loop_del_fd(l, in->proc.err_fd);
}

static void instance_exited(instance_t *in)
{
    router_fn_t *fn = in->fn;
    loop_t *l = loop_of(in);
    in->exited = true;
    instance_drain_output(in);
    instance_output_flush(in);
    /* Kill the rest of its tree while the leader's pid still names the
     * process group (it is a zombie until reaped below). */
    sb(in)->kill(&in->proc);
    int code = CLD_EXITED, status = 0;
    sb(in)->reap(&in->proc, &code, &status);
    char why[200];
    exit_status_text(code, status, why, sizeof why);
    /* The cgroup's OOM killer ended it: its memory limit, not a crash. */
    const char *etype = "Runtime.ExitError";
    if (sb(in)->oom_killed(&in->proc)) {
        etype = "Runtime.OutOfMemory";
        size_t k = strlen(why);
        snprintf(why + k, sizeof why - k, ". Runtime.OutOfMemory: memory limit of %d MB exceeded", fn->cfg.memory_mb);
    }

    unwatch(in);
    loop_timer_cancel(l, in->init_timer);
    loop_timer_cancel(l, in->kill_timer);
    loop_timer_cancel(l, in->keepalive_timer);
    in->init_timer = in->kill_timer = in->keepalive_timer = NULL;

    /* Never became ready (even if killed while starting): an init failure. */
    bool was_starting = !in->reached_ready;
    set_state(in, INST_STOPPING);
    pool_instance_remove(&fn->pool, &in->fn_link);
    in->n_free = 0;

    while (!list_empty(&in->calls)) {
        call_t *c = instance_first_call(in);
        instance_call_gone(in, c);
        call_fail(c, etype, "%s", why);
    }
    /* After its calls: their transport state goes with the transport's. */
    if (in->tp->detach) in->tp->detach(in);
    call_t *head;
    if (was_starting && (head = router_take_unserved(fn))) {
        /* Init failed and nothing else on its way would serve the oldest
         * waiting call: that call gets the init error, and what init
         * printed (the traceback) heads its log tail. */
        call_log_prepend(head, in->init_log.data, in->init_log.len);
        if (in->init_error && in->init_error_len)
            call_fail_init(head, in->init_error_body, in->init_error_len);
        else if (in->init_error)
            call_fail(head, in->init_error_type[0] ? in->init_error_type : "Runtime.Unknown", "%s", why);
        else
            call_fail(head, etype, "%s", why);
    }

    release_job_t *j = malloc(sizeof *j);
    if (!j) abort();
    *j = (release_job_t){ .in = in, .heap = true };
    loop_submit(l, release_work, release_done, j);
    router_schedule(in->router, fn);
}

static void pidfd_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    (void)l; (void)fd; (void)events;
    instance_exited(arg);
}

static void init_timeout_cb(loop_t *l, void *arg)
{
    (void)l;
    instance_t *in = arg;
    in->init_timer = NULL;
    logs_emit(instance_ctx(in)->logs, in->fn->cfg.name, "", "INIT_REPORT Status: timeout", 27);
    if (in->tp->init_timed_out) in->tp->init_timed_out(in);
    instance_kill(in);
}

static void kill_timer_cb(loop_t *l, void *arg)
{
    (void)l;
    instance_t *in = arg;
    in->kill_timer = NULL;
    sb(in)->kill(&in->proc);
}

void instance_kill(instance_t *in)
{
    if (in->exited) return;
    set_state(in, INST_STOPPING);
    sb(in)->kill(&in->proc);
}

static void terminate_now(instance_t *in)
{
    if (in->exited || in->kill_timer) return;
    sb(in)->terminate(&in->proc);
    in->kill_timer = loop_timer_add(loop_of(in), instance_ctx(in)->limits.term_grace_ms, kill_timer_cb, in);
}

void instance_terminate(instance_t *in)
{
    if (in->exited || in->kill_timer || in->state == INST_STOPPING) return;
    bool was_ready = in->state == INST_READY;
    set_state(in, INST_STOPPING);
    /* The runtime may hear it is about to be stopped (FC's pre-stop). */
    if (was_ready && in->tp->pre_stop) in->tp->pre_stop(in, terminate_now);
    else terminate_now(in);
}

/* ---- the activator ---- */

void envlist_add(envlist_t *e, const char *k, const char *v)
{
    if (e->n + 1 >= sizeof e->items / sizeof e->items[0]) return;
    size_t len = strlen(k) + strlen(v) + 2;
    char *s = malloc(len);
    if (!s) abort();
    snprintf(s, len, "%s=%s", k, v);
    e->items[e->n++] = s;
    e->items[e->n] = NULL;
}

void envlist_addf(envlist_t *e, const char *k, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    envlist_add(e, k, buf);
}

void envlist_free(envlist_t *e)
{
    for (unsigned i = 0; i < e->n; i++) free(e->items[i]);
    e->n = 0;
}

static void build_env(const router_fn_t *fn, const runtime_t *rt, const instance_t *in, envlist_t *e)
{
    const function_config_t *c = &fn->cfg;
    bool sandboxed = sb(in)->enabled();
    /* Layers: sandboxed their merged tree is /opt; unsandboxed it stays
     * where the code store has it, and the runtimes find it through
     * NIMBUS_OPT_DIR ("" for none: the host's /opt is not the function's). */
    const char *opt = sandboxed ? "/opt" : fn->opt_dir;
    const char *task = sandboxed ? "/var/task" : fn->code_dir;
    if (opt[0]) envlist_addf(e, "PATH", "/usr/local/bin:/usr/bin:/bin:%s/bin", opt);
    else envlist_add(e, "PATH", "/usr/local/bin:/usr/bin:/bin:/opt/bin");
    if (opt[0]) envlist_addf(e, "LD_LIBRARY_PATH", "%s/lib:%s/lib", task, opt);
    else envlist_addf(e, "LD_LIBRARY_PATH", "%s/lib", task);
    envlist_add(e, "NIMBUS_OPT_DIR", opt);
    envlist_add(e, "LANG", "en_US.UTF-8");
    envlist_add(e, "TZ", ":UTC");
    envlist_add(e, "_HANDLER", c->handler);
    /* Sandboxed, the code and the runtime dir are mounted at Lambda's paths. */
    envlist_add(e, "LAMBDA_TASK_ROOT", task);
    envlist_add(e, "LAMBDA_RUNTIME_DIR", rt->bootstrap && !sandboxed ? runtime_dir() : "/var/runtime");
    if (rt->exec_env) envlist_add(e, "AWS_EXECUTION_ENV", rt->exec_env);
    envlist_add(e, "AWS_LAMBDA_FUNCTION_NAME", c->name);
    envlist_add(e, "AWS_LAMBDA_FUNCTION_VERSION", c->version);
    envlist_addf(e, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "%d", c->memory_mb);
    envlist_addf(e, "AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/%s", c->name);
    char day[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y/%m/%d", &tm);
    envlist_addf(e, "AWS_LAMBDA_LOG_STREAM_NAME", "%s/[%s]%s", day, c->version, in->id);
    envlist_add(e, "AWS_REGION", NIMBUS_REGION);
    envlist_add(e, "AWS_DEFAULT_REGION", NIMBUS_REGION);
    envlist_add(e, "AWS_LAMBDA_INITIALIZATION_TYPE", in->provisioned ? "provisioned-concurrency" : "on-demand");
}

static void build_env_user(const router_fn_t *fn, envlist_t *e)
{
    const function_config_t *c = &fn->cfg;
    if (c->instance_concurrency > 1) {
        /* The name AWS' own runtime clients read to pull calls concurrently. */
        envlist_addf(e, "AWS_LAMBDA_MAX_CONCURRENCY", "%d", c->instance_concurrency);
    }
    for (size_t i = 0; i < c->nenv; i++) envlist_add(e, c->env[i].key, c->env[i].value);
}

/* The sandbox is up: watch the instance's exit and output, and let its
 * transport attach. On failure nothing is watched and its process is
 * released. */
static int watch(instance_t *in, err_t *err)
{
    loop_t *l = loop_of(in);
    if (loop_add_fd(l, in->proc.pidfd, EPOLLIN, pidfd_cb, in, err) < 0 ||
        loop_add_fd(l, in->proc.out_fd, EPOLLIN, instance_output_cb, in, err) < 0 ||
        (in->proc.err_fd >= 0 && loop_add_fd(l, in->proc.err_fd, EPOLLIN, instance_output_cb, in, err) < 0)) {
        unwatch(in);
        if (in->proc.api_fd >= 0) close(in->proc.api_fd);
        in->proc.api_fd = -1;
        sb(in)->release(&in->proc);
        return -1;
    }
    return 0;
}

/* Its runtime runs: the init phase (and its limit) starts, and its
 * transport begins talking to it. */
static void start_init_clock(instance_t *in)
{
    const core_ctx_t *ctx = instance_ctx(in);
    uint64_t init_ms = ctx->limits.init_timeout_ms;
    if (in->tp->init_limit_ms) init_ms = in->tp->init_limit_ms(in, init_ms);
    in->init_timer = loop_timer_add(ctx->loop, init_ms, init_timeout_cb, in);
    err_t err;
    if (in->tp->attach && in->tp->attach(in, &err) < 0) {
        logs_emit(ctx->logs, in->fn->cfg.name, "", err.msg, strlen(err.msg));
        instance_kill(in);   /* reaped and released through its pidfd: an init failure */
    }
}

static void instance_free_unstarted(instance_t *in)
{
    if (in->tp_state && in->tp->detach) in->tp->detach(in);
    free(in->env_block);
    free(in->answered);
    free(in);
}

/* The sandbox could not be built, or the instance was ended before it
 * was: it goes without ever having run. The oldest waiting call that
 * nothing else would serve gets the reason. */
static void spawn_failed(instance_t *in, const err_t *err)
{
    router_fn_t *fn = in->fn;
    core_ctx_t *ctx = instance_ctx(in);
    bool ended = in->state == INST_STOPPING;   /* ended while starting: nobody waits on it */
    in->exited = true;
    loop_timer_cancel(ctx->loop, in->kill_timer);
    loop_timer_cancel(ctx->loop, in->keepalive_timer);
    in->kill_timer = in->keepalive_timer = NULL;
    set_state(in, INST_STOPPING);
    pool_instance_remove(&fn->pool, &in->fn_link);
    if (in->tp_state && in->tp->detach) in->tp->detach(in);
    if (err && !ended) router_start_failed(in->router, fn, err);
    if (err) logs_emit(ctx->logs, fn->cfg.name, "", err->msg, strlen(err->msg));
    release_job_t j = { .in = in };
    router_t *r = in->router;
    /* The instance's reference may be fn's last (DeleteFunction while its
     * first cold start was in the spawner): hold one until fn's waiting
     * calls have had their turn. */
    router_fn_ref(fn);
    release_done(ctx->loop, &j);
    router_schedule(r, fn);
    router_fn_unref(r, fn);
}

/* The spawner answered (sandboxed starts). */
static void spawned_cb(void *arg, const err_t *err)
{
    instance_t *in = arg;
    err_t werr;
    in->spawning = false;
    if (err) { spawn_failed(in, err); return; }
    /* Said once per outage: the starts go on without the zygote meanwhile. */
    static bool zygote_said;
    if (in->proc.zygote_down && !zygote_said)
        log_warn("sandbox: the %s zygote died or failed; cold starts exec the runtime until it is restarted",
                 in->rt->name);
    if (in->proc.zygote_down || in->proc.zygote) zygote_said = in->proc.zygote_down;
    if (in->state == INST_STOPPING) {
        /* Ended while its sandbox was being built (shutdown, deletion, new
         * code): it never runs. */
        if (in->proc.api_fd >= 0) close(in->proc.api_fd);
        in->proc.api_fd = -1;
        sb(in)->release(&in->proc);
        spawn_failed(in, NULL);
        return;
    }
    if (watch(in, &werr) < 0) { spawn_failed(in, &werr); return; }
    start_init_clock(in);
}

/* Lambda's second place for a custom runtime's bootstrap: /opt/bootstrap,
 * from a layer, when the function's code has none. */
static bool opt_bootstrap(const router_fn_t *fn, const runtime_t *rt, bool sandboxed, char *exe, size_t exe_len,
                          char *argv[8], char *storage, size_t storage_len)
{
    char p[600];
    if (rt->bootstrap || !fn->opt_dir[0]) return false;
    snprintf(p, sizeof p, "%s/bootstrap", fn->code_dir);
    if (access(p, X_OK) == 0) return false;
    snprintf(exe, exe_len, "%s/bootstrap", fn->opt_dir);
    if (access(exe, X_OK) < 0) return false;
    if (sandboxed) snprintf(exe, exe_len, "/opt/bootstrap");
    snprintf(storage, storage_len, "%s", exe);
    argv[0] = storage;
    argv[1] = NULL;
    return true;
}

/* The spec of the runtime kind `fn` at `cfg` would be started from ahead
 * (exe and argv in the caller's buffers); false when it has none. */
static bool warm_spec(core_ctx_t *ctx, const router_fn_t *fn, const function_config_t *cfg, sandbox_spec_t *spec,
                      char *exe, size_t exe_len, char **argv, char *argstore, size_t arg_len)
{
    const runtime_t *rt = runtime_find(cfg->runtime);
    if (!rt || !rt->prestart || !ctx->sandbox->enabled() || cfg->network == FUNCTION_NETWORK_HOST) return false;
    err_t err;
    /* The command names nothing of the function (that is what prestart
     * means), so its code dir only has to exist for runtime_command. */
    if (runtime_command(rt, fn->code_dir, true, exe, exe_len, argv, argstore, arg_len, &err) < 0) return false;
    *spec = (sandbox_spec_t){ .exe = exe, .argv = argv, .prestart = true, .zygote = rt->zygote,
                              .net_egress = cfg->network == FUNCTION_NETWORK_EGRESS };
    return true;
}

void instance_warm(router_t *r, const router_fn_t *fn)
{
    core_ctx_t *ctx = router_ctx(r);
    char exe[600], argstore[700];
    char *argv[8];
    sandbox_spec_t spec;
    if (ctx->sandbox->warm && warm_spec(ctx, fn, &fn->cfg, &spec, exe, sizeof exe, argv, argstore, sizeof argstore))
        ctx->sandbox->warm(&spec);
}

bool instance_warming(router_t *r, const router_fn_t *fn, const function_config_t *cfg)
{
    core_ctx_t *ctx = router_ctx(r);
    char exe[600], argstore[700];
    char *argv[8];
    sandbox_spec_t spec;
    return ctx->sandbox->warming &&
           warm_spec(ctx, fn, cfg, &spec, exe, sizeof exe, argv, argstore, sizeof argstore) &&
           ctx->sandbox->warming(&spec);
}

instance_t *instance_start(router_t *r, router_fn_t *fn, bool provisioned, err_t *err)
{
    core_ctx_t *ctx = router_ctx(r);
    const runtime_t *rt = runtime_find(fn->cfg.runtime);
    if (!rt) {
        err_set(err, ERR_INVALID, "Runtime %s is not supported", fn->cfg.runtime);
        return NULL;
    }
    const transport_t *tp = ctx->transports[rt->api];
    if (!tp) {
        err_set(err, ERR_INTERNAL, "no transport for runtime %s", rt->name);
        return NULL;
    }
    char exe[600], argstore[700];
    char *argv[8];
    if (opt_bootstrap(fn, rt, ctx->sandbox->enabled(), exe, sizeof exe, argv, argstore, sizeof argstore)) {
        /* a custom runtime from a layer */
    } else if (runtime_command(rt, fn->code_dir, ctx->sandbox->enabled(), exe, sizeof exe, argv, argstore,
                               sizeof argstore, err) < 0) {
        return NULL;
    }
    /* An instance takes about 8 descriptors here (pidfd, pipes, its API
     * socket, cgroup files) and its runtime's connections later: start it
     * only with room for that and more, so the running ones keep theirs. */
    if (!fdlimit_room(START_FDS_FREE)) {
        err_set(err, ERR_SYS, "fewer than %u of the daemon's %lu file descriptors free", START_FDS_FREE,
                fdlimit_max());
        err->sys_errno = EMFILE;
        return NULL;
    }
    instance_t *in = calloc(1, sizeof *in);
    if (!in) { err_set(err, ERR_SYS, "out of memory"); return NULL; }
    snprintf(in->id, sizeof in->id, "%08lx%08x", ++g_instance_seq, (unsigned)getpid());
    in->fn = fn;
    in->router = r;
    in->rt = rt;
    in->tp = tp;
    in->provisioned = provisioned;
    in->capacity = (unsigned)(fn->cfg.instance_concurrency > 0 ? fn->cfg.instance_concurrency : 1);
    in->n_answered_slots = 2 * in->capacity;
    in->answered = calloc(in->n_answered_slots, sizeof *in->answered);
    list_init(&in->calls);
    if (!in->answered) {
        free(in);
        err_set(err, ERR_SYS, "out of memory");
        return NULL;
    }
    in->generation = fn->generation;
    memcpy(in->code_hex, fn->cfg.code_hex, sizeof in->code_hex);
    memcpy(in->opt_hex, fn->cfg.opt_hex, sizeof in->opt_hex);
    in->state = INST_STOPPING;   /* set_state below counts the transition */

    envlist_t env = { .n = 0 };
    build_env(fn, rt, in, &env);
    if (tp->prepare && tp->prepare(in, &env, err) < 0) {
        envlist_free(&env);
        instance_free_unstarted(in);
        return NULL;
    }
    build_env_user(fn, &env);
    char cgname[64];
    snprintf(cgname, sizeof cgname, "nimbus-%s", in->id);
    sandbox_spec_t spec = { .id = cgname, .code_dir = fn->code_dir, .opt_dir = fn->opt_dir, .exe = exe, .argv = argv,
                            .env = env.items, .memory_mb = fn->cfg.memory_mb,
                            .tmp_mb = fn->cfg.ephemeral_mb, .net_host = fn->cfg.network == FUNCTION_NETWORK_HOST,
                            .net_egress = fn->cfg.network == FUNCTION_NETWORK_EGRESS,
                            .prestart = rt->prestart, .zygote = rt->zygote };
    if (rt->prestart) {
        /* `nimbus exec` gives a command the instance's environment: a
         * pre-started runtime's /proc environ is the one it started with. */
        buf_t b = { 0 };
        for (size_t i = 0; i < env.n; i++) buf_append(&b, env.items[i], strlen(env.items[i]) + 1);
        in->env_block = buf_steal(&b, &in->env_len);
    }
    in->spawn_ns = loop_now_ns();
    in->spawning = true;
    int rc = ctx->sandbox->start(&spec, &in->proc, spawned_cb, in, err);
    envlist_free(&env);
    if (rc == 1) {
        /* Started already (unsandboxed): watch it now, or end it. */
        in->spawning = false;
        if (watch(in, err) < 0) rc = -1;
    }
    if (rc < 0) { instance_free_unstarted(in); return NULL; }
    router_fn_ref(fn);
    pool_instance_add(&fn->pool, &in->fn_link);
    set_state(in, INST_STARTING);
    router_instance_added(r, in);
    if (!in->spawning) start_init_clock(in);
    return in;
}

void instance_deliver(instance_t *in, call_t *c)
{
    in->n_free--;
    idle_update(in);
    list_push_back(&in->calls, &c->inst_link);
    in->n_busy++;
    keepalive_update(in);
    if (in->calls_served++ == 0 && !in->provisioned) {
        c->cold = true;
        c->init_ns = in->init_ns;
    }
    call_started(c, in);
    in->tp->deliver(in, c);
}

static void add_instances(cJSON *arr, const router_fn_t *f, uint64_t now)
{
    static const char *const names[] = { "Starting", "Ready", "Stopping" };
    list_each(n, &f->pool.instances) {
        instance_t *in = list_entry(n, instance_t, fn_link);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "Id", in->id);
        cJSON_AddStringToObject(e, "Version", f->cfg.version);
        cJSON_AddBoolToObject(e, "Provisioned", in->provisioned);
        cJSON_AddStringToObject(e, "State", names[in->state]);
        cJSON_AddNumberToObject(e, "Pid", in->proc.pid);
        cJSON_AddNumberToObject(e, "AgeMs", (double)((now - in->spawn_ns) / 1000000u));
        cJSON_AddNumberToObject(e, "CallsServed", in->calls_served);
        cJSON_AddNumberToObject(e, "Busy", in->n_busy);
        cJSON_AddNumberToObject(e, "Capacity", in->capacity);
        cJSON_AddNumberToObject(e, "PeakMemoryBytes", (double)sb(in)->memory_peak(&in->proc));
        if (in->ready_seen) cJSON_AddNumberToObject(e, "InitDurationMs", (double)in->init_ns / 1e6);
        /* Cold-start phases: the sandbox built, then the runtime's own init
         * (interpreter start + handler import) until its first /next. */
        cJSON_AddNumberToObject(e, "SandboxMs", (double)in->proc.spawn_ns / 1e6);
        if (in->ready_seen) cJSON_AddNumberToObject(e, "RuntimeInitMs", (double)(in->init_ns - in->proc.spawn_ns) / 1e6);
        if (in->proc.sandboxed) {
            /* The spawner's side of SandboxMs, on the request's own path. */
            static const char *const ph[] = { "CloneMs", "CgroupMs", "InitWaitMs", "MountsMs", "PrivilegesMs",
                                              "ExecMs", "SpawnerMs" };
            cJSON *b = cJSON_AddObjectToObject(e, "SandboxPhases");
            for (size_t k = 0; k < sizeof ph / sizeof ph[0]; k++)
                cJSON_AddNumberToObject(b, ph[k], in->proc.phase_us[k] / 1000.0);
            cJSON_AddBoolToObject(b, "Pooled", in->proc.pooled);
            cJSON_AddBoolToObject(b, "Prestarted", in->proc.prestarted);
            cJSON_AddBoolToObject(b, "ForkedAhead", in->proc.forked_ahead);
        }
        /* How its runtime came to be: forked from the runtime's zygote,
         * a pre-started one, or exec'd for this instance. */
        cJSON_AddStringToObject(e, "StartedFrom", in->proc.zygote ? "zygote" : in->proc.prestarted ? "prestart" : "exec");
        cJSON_AddItemToArray(arr, e);
    }
}

char *instance_list_json(router_fn_t *fn)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "Instances");
    uint64_t now = loop_now_ns();
    /* $LATEST's instances, then each published version's. */
    add_instances(arr, fn, now);
    for (size_t k = 0; k < fn->nversions; k++) add_instances(arr, fn->versions[k], now);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

instance_t *instance_find(router_fn_t *fn, const char *id)
{
    instance_t *best = NULL;
    for (size_t k = 0; k <= fn->nversions; k++) {
        router_fn_t *f = k == 0 ? fn : fn->versions[k - 1];
        list_each(n, &f->pool.instances) {
            instance_t *in = list_entry(n, instance_t, fn_link);
            if (in->exited || in->spawning) continue;
            if (id[0] && strcmp(id, "latest") != 0) {
                if (strcmp(in->id, id) == 0) return in;
            } else if (in->state == INST_READY && (!best || in->spawn_ns > best->spawn_ns)) {
                best = in;
            }
        }
    }
    return best;
}

void instance_unprovision(instance_t *in)
{
    in->provisioned = false;
    keepalive_update(in);
}
