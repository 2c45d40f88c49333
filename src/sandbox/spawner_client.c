/* spawner_client.c — the daemon's side of the spawner (spawner.h): spawn
 * and exec requests and their answers, the control requests, and stopping
 * it. Answers are read by the daemon's loop (spawner_dispatch) and matched
 * to their request by tag. Must never: be called from two threads
 * at once for a request that waits for an answer (the loop thread makes
 * them).
 */
#define _GNU_SOURCE
#include "sandbox/spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/cgroup.h"
#include "io/loop.h"
#include "sandbox/spawner_proto.h"

typedef struct {
    uint32_t tag;
    sandbox_proc_t *p;       /* a spawn's instance, or NULL */
    sandbox_exec_t *x;       /* an exec's command, or NULL */
    spawner_done_fn done;
    void *arg;
    uint64_t t0;
    bool net_host;
    bool warm;               /* a warm order (its answer only settles its kind) */
    char *msg;               /* the request while it waits to be sent (NULL once sent) */
    size_t len;
} pending_t;

/* Requests sent and not answered yet, at most: more would fill the
 * socket's buffer, and a daemon blocked sending while the spawner is
 * blocked sending answers would be a deadlock. The rest wait here, in
 * order, and go as answers come back. */
#define MAX_INFLIGHT 32
#define MAX_INFLIGHT_BYTES (96 * 1024)

static int g_sock = -1, g_ctl = -1;
static pid_t g_pid = -1;
static pending_t *g_pending;
static size_t g_npending, g_cap;
static uint32_t g_next_tag;
static prom_hist_t g_spawn_latency;   /* loop thread only, like the rest */

/* The runtime kinds warm orders were sent for: the spawner keeps at most
 * 8 kinds, so a few more than that covers every answer it can give. */
typedef struct {
    char key[1024];
    uint64_t t_asked;
    bool settled;
} warm_kind_t;
static warm_kind_t g_kinds[16];
static int g_nkinds;

void spawner_metrics(unsigned *pending, unsigned *waiting, prom_hist_t *latency)
{
    unsigned w = 0, n = 0;
    for (size_t i = 0; i < g_npending; i++) {
        if (g_pending[i].warm) continue;   /* not a spawn: it waits for a runtime's warm-up */
        w += g_pending[i].msg != NULL;
        n++;
    }
    *pending = n;
    *waiting = w;
    *latency = g_spawn_latency;
}

/* Not root: can this process make a user namespace? Tried in a
 * throwaway child, so this process stays as it is. */
static int try_userns(void)
{
    pid_t p = fork();
    if (p < 0) return errno;
    if (p == 0) _exit(unshare(CLONE_NEWUSER) < 0 ? (errno & 0x7f) : 0);
    int st;
    if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st)) return EIO;
    return WEXITSTATUS(st);
}

bool spawner_supported(char *why, size_t n)
{
    if (geteuid() == 0) return true;
    int e = try_userns();
    if (e == 0) return true;
    snprintf(why, n, "not root, and user namespaces are unavailable (%s)", strerror(e));
    return false;
}

/* Take entry i out, keeping the others in order (requests go FIFO). */
static pending_t take_pending(size_t i)
{
    pending_t q = g_pending[i];
    memmove(g_pending + i, g_pending + i + 1, (g_npending - i - 1) * sizeof *g_pending);
    g_npending--;
    free(q.msg);
    q.msg = NULL;
    return q;
}

static void fail_all_pending(const char *msg)
{
    /* Every request still out gets its answer: the spawner is gone. */
    while (g_npending) {
        pending_t q = take_pending(g_npending - 1);
        err_t err = { 0 };
        err_set(&err, ERR_SYS, "%s", msg);
        q.done(q.arg, -1, &err);
    }
}

/* Send waiting requests while the window allows (those sent, msg NULL,
 * are what is in flight). Returns -1 with errno when a send failed (the
 * spawner is gone). */
static int pump(void)
{
    size_t inflight = 0, bytes = 0;
    for (size_t i = 0; i < g_npending; i++) {
        pending_t *q = &g_pending[i];
        if (q->msg) {
            if (inflight && (inflight >= MAX_INFLIGHT || bytes + q->len > MAX_INFLIGHT_BYTES)) break;
            if (sp_send(g_sock, q->msg, q->len, NULL, 0) < 0) return -1;
            free(q->msg);
            q->msg = NULL;
        }
        inflight++;
        bytes += q->len;
    }
    return 0;
}

void spawner_stop(void)
{
    if (g_sock < 0) return;
    close(g_sock);
    close(g_ctl);
    g_sock = g_ctl = -1;
    /* It ends every instance before exiting: wait, so nothing of them
     * outlives the daemon. */
    waitpid(g_pid, NULL, 0);
    g_pid = -1;
    /* The daemon is tearing down: whoever asked is gone too, so requests
     * still out are dropped, not answered. */
    while (g_npending) take_pending(g_npending - 1);
    free(g_pending);
    g_pending = NULL;
    g_cap = 0;
}

void spawner_client_attach(int spawn_sock, int ctl_sock, pid_t pid)
{
    g_sock = spawn_sock;
    g_ctl = ctl_sock;
    g_pid = pid;
}

int spawner_answer_fd(void) { return g_sock; }

/* Queue a built request (`buf`, taken) and send what the window allows. */
static int enqueue(char *buf, size_t len, pending_t q, err_t *err)
{
    if (g_npending == g_cap) {
        size_t n = g_cap ? g_cap * 2 : 16;
        pending_t *nq = realloc(g_pending, n * sizeof *nq);
        if (!nq) { free(buf); return err_set(err, ERR_SYS, "out of memory"); }
        g_pending = nq;
        g_cap = n;
    }
    sp_req_t *req = (sp_req_t *)buf;
    req->tag = ++g_next_tag;
    q.tag = req->tag;
    q.t0 = loop_now_ns();
    q.msg = buf;
    q.len = len;
    g_pending[g_npending++] = q;
    if (pump() < 0) {
        int e = errno;
        /* Ours is the last, still unsent: take it back; `done` is not called. */
        take_pending(g_npending - 1);
        errno = e;
        return err_sys(err, "sandbox spawner");
    }
    return 0;
}

int spawner_spawn(const sandbox_spec_t *spec, sandbox_proc_t *p, spawner_done_fn done, void *arg, err_t *err)
{
    if (g_sock < 0) return err_set(err, ERR_SYS, "the sandbox spawner is not running");
    sp_req_t req = { .type = SP_SPAWN, .memory_mb = (uint32_t)spec->memory_mb,
                     .tmp_mb = (uint32_t)(spec->tmp_mb > 0 ? spec->tmp_mb : 512),
                     .flags = (spec->net_host ? SPF_NET_HOST : 0) | (spec->prestart ? SPF_PRESTART : 0) |
                              (spec->net_egress ? SPF_NET_EGRESS : 0) | (spec->zygote ? SPF_ZYGOTE : 0) };
    snprintf(req.code_dir, sizeof req.code_dir, "%s", spec->code_dir);
    snprintf(req.opt_dir, sizeof req.opt_dir, "%s", spec->opt_dir ? spec->opt_dir : "");
    size_t len;
    char *buf = sp_req_encode(&req, spec->exe, spec->argv, spec->env, &len);
    if (!buf && errno == E2BIG) return err_set(err, ERR_INVALID, "environment too large for the sandbox");
    if (!buf) return err_set(err, ERR_SYS, "out of memory");
    return enqueue(buf, len, (pending_t){ .p = p, .done = done, .arg = arg, .net_host = spec->net_host }, err);
}

int spawner_exec(uint32_t handle, char *const *argv, char *const *env, const sandbox_exec_io_t *io,
                 sandbox_exec_t *x, spawner_done_fn done, void *arg, err_t *err)
{
    if (g_sock < 0) return err_set(err, ERR_SYS, "the sandbox spawner is not running");
    if (!argv[0]) return err_set(err, ERR_INVALID, "command: no words");
    sp_req_t req = { .type = SP_EXEC, .handle = handle, .flags = env ? 0 : SPF_OWN_ENV };
    if (io && io->tty) {
        if (io->rows - 1 > 65534u || io->cols - 1 > 65534u) return err_set(err, ERR_INVALID, "terminal size out of range");
        req.flags |= SPF_EXEC_TTY;
        req.rows = io->rows;
        req.cols = io->cols;
    } else if (io && io->stdin_pipe) {
        req.flags |= SPF_EXEC_STDIN;
    }
    size_t len;
    char *buf = sp_req_encode(&req, NULL, argv, env, &len);
    if (!buf && errno == E2BIG) return err_set(err, ERR_INVALID, "command and environment too large");
    if (!buf) return err_set(err, ERR_SYS, "out of memory");
    return enqueue(buf, len, (pending_t){ .x = x, .done = done, .arg = arg }, err);
}

/* Fill `x` from a successful exec answer and its fds; -1 when incomplete. */
static int take_exec_answer(const sp_resp_t *resp, const int *fds, int nf, sandbox_exec_t *x, err_t *err)
{
    int got[FD_N];
    int k = sp_resp_fds(resp->fdmask, fds, nf, got);
    for (int i = k; i < nf; i++) close(fds[i]);
    for (int i = FX_N; i < FD_N; i++) if (got[i] >= 0) { close(got[i]); got[i] = -1; }
    if (got[FX_OUT] < 0 || got[FX_STATUS] < 0 || got[FX_KILL] < 0 || (x->in_wanted && got[FX_IN] < 0)) {
        /* Closing the kill pipe, if it came, ends the command. */
        for (int i = 0; i < FX_N; i++) if (got[i] >= 0) close(got[i]);
        return err_set(err, ERR_SYS, "sandbox spawner sent an incomplete exec answer");
    }
    fcntl(got[FX_OUT], F_SETFL, O_NONBLOCK);
    fcntl(got[FX_STATUS], F_SETFL, O_NONBLOCK);
    if (got[FX_IN] >= 0) fcntl(got[FX_IN], F_SETFL, O_NONBLOCK);
    x->in_fd = got[FX_IN];
    x->sandboxed = true;
    x->out_fd = got[FX_OUT];
    x->exit_fd = got[FX_STATUS];
    x->kill_fd = got[FX_KILL];
    x->pid = resp->pid;
    return 0;
}

/* Fill `p` from a successful answer and its fds; -1 when incomplete. */
static int take_answer(const sp_resp_t *resp, const int *fds, int nf, bool truncated, const pending_t *q,
                       err_t *err)
{
    sandbox_proc_t *p = q->p;
    int got[FD_N];
    int k = sp_resp_fds(resp->fdmask, fds, nf, got);
    for (int i = k; i < nf; i++) close(fds[i]);
    p->sandboxed = true;
    p->own_net = !q->net_host;
    p->handle = resp->handle;
    p->pid = resp->pid;
    p->pidfd = got[FD_PIDFD];
    p->out_fd = got[FD_OUT];
    p->status_fd = got[FD_STATUS];
    p->api_fd = got[FD_API];
    p->peak_fd = got[FD_PEAK];
    p->oom_fd = got[FD_OOM];
    p->memory_limit = resp->memory_limit;
    p->limits = resp->limits;
    p->pooled = resp->pooled != 0;
    p->prestarted = resp->prestarted != 0;
    p->zygote = resp->zygote == 1;
    p->forked_ahead = p->zygote && resp->forked_ahead;
    p->zygote_down = resp->zygote == 2;
    memcpy(p->phase_us, resp->phase_us, sizeof p->phase_us);
    p->cg = resp->cgdirs[0][0] ? cgroup_attach(resp->cgdirs) : NULL;
    snprintf(p->api_addr, sizeof p->api_addr, "127.0.0.1:%u", resp->api_port);
    if (p->pidfd < 0 || p->out_fd < 0 || p->api_fd < 0 || p->status_fd < 0) {
        for (int i = 0; i < FD_N; i++) if (got[i] >= 0) close(got[i]);
        p->pidfd = p->out_fd = p->api_fd = p->status_fd = p->peak_fd = p->oom_fd = -1;
        cgroup_forget(p->cg);
        p->cg = NULL;
        spawner_release(resp->handle);
        if (truncated) {
            /* Not the spawner's fault: the daemon had no fd left for them. */
            errno = EMFILE;
            return err_sys(err, "the daemon could not take the instance's descriptors");
        }
        return err_set(err, ERR_SYS, "sandbox spawner sent an incomplete instance");
    }
    fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(p->status_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

void spawner_dispatch(bool wait)
{
    while (g_sock >= 0) {
        /* The socket stays blocking (a burst of requests may fill it while
         * the spawner is busy): ask poll whether an answer is there. */
        struct pollfd pf = { .fd = g_sock, .events = POLLIN };
        int n = poll(&pf, 1, wait ? -1 : 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        sp_resp_t raw, resp;
        int fds[FD_N], nf = 0;
        ssize_t k = sp_recv(g_sock, &raw, sizeof raw, fds, &nf);
        if (k < 0 && errno == EINTR) continue;
        bool truncated = k > 0 && errno == EMFILE;
        if (k <= 0 || sp_resp_decode(&raw, (size_t)k, &resp) != 0) {
            for (int i = 0; i < nf; i++) close(fds[i]);
            if (k > 0) continue;   /* not an answer: ignore it */
            fail_all_pending("the sandbox spawner is gone");
            return;
        }
        size_t i = 0;
        while (i < g_npending && (g_pending[i].tag != resp.tag || g_pending[i].msg)) i++;
        if (i == g_npending) {
            /* Nobody asked (cannot happen): do not leak what it holds. */
            /* An exec's fds close with them (its kill pipe too: the command ends). */
            for (int j = 0; j < nf; j++) close(fds[j]);
            if (!resp.err && resp.type == SP_SPAWN) spawner_release(resp.handle);
            continue;
        }
        pending_t q = take_pending(i);
        if (q.p) q.p->spawn_ns = loop_now_ns() - q.t0;
        if (q.p) prom_hist_observe(&g_spawn_latency, q.p->spawn_ns);
        err_t err = { 0 };
        int rc = 0;
        if (resp.err) {
            for (int j = 0; j < nf; j++) close(fds[j]);
            rc = err_set(&err, ERR_SYS, "%s", resp.msg);
            err.sys_errno = resp.err;   /* EMFILE there is an overload here too */
        } else if (q.warm) {
            for (int j = 0; j < nf; j++) close(fds[j]);
        } else if (q.x) {
            rc = take_exec_answer(&resp, fds, nf, q.x, &err);
        } else {
            rc = take_answer(&resp, fds, nf, truncated, &q, &err);
        }
        q.done(q.arg, rc, rc < 0 ? &err : NULL);
        wait = false;   /* one came: take the rest that are there, without waiting */
        if (pump() < 0) {
            fail_all_pending("the sandbox spawner is gone");
            return;
        }
    }
}

static void one_way(uint32_t type, uint32_t handle, int sig)
{
    if (g_ctl < 0) return;
    sp_req_t req = { .type = type, .handle = handle, .sig = sig };
    sp_send(g_ctl, &req, sizeof req, NULL, 0);
}

/* The kind's name as the spawner tells kinds apart (network, command);
 * false when it does not fit (the kind is then not tracked). */
static bool kind_key(const sandbox_spec_t *spec, char *key, size_t n)
{
    size_t k = (size_t)snprintf(key, n, "%c%s", spec->net_egress ? 'e' : '-', spec->exe);
    for (int i = 0; k < n && spec->argv[i]; i++)
        k += (size_t)snprintf(key + k, n - k, "\x1f%s", spec->argv[i]);
    return k < n;
}

static warm_kind_t *kind_find(const char *key)
{
    for (int i = 0; i < g_nkinds; i++)
        if (strcmp(g_kinds[i].key, key) == 0) return &g_kinds[i];
    return NULL;
}

static void warm_answered(void *arg, int rc, const err_t *err)
{
    (void)rc;
    (void)err;   /* given up on or not: either way nothing is left to wait for */
    g_kinds[(intptr_t)arg].settled = true;
}

void spawner_warm(const sandbox_spec_t *spec)
{
    char key[sizeof g_kinds[0].key];
    if (g_sock < 0 || !spec->prestart || spec->net_host || !kind_key(spec, key, sizeof key)) return;
    if (kind_find(key) || g_nkinds == (int)(sizeof g_kinds / sizeof *g_kinds)) return;
    sp_req_t req = { .type = SP_WARM,
                     .flags = SPF_PRESTART | (spec->net_egress ? SPF_NET_EGRESS : 0) |
                              (spec->zygote ? SPF_ZYGOTE : 0) };
    size_t len;
    char *buf = sp_req_encode(&req, spec->exe, spec->argv, NULL, &len);
    if (!buf) return;   /* only an order ahead of need: the first start makes the kind instead */
    warm_kind_t *wk = &g_kinds[g_nkinds];
    snprintf(wk->key, sizeof wk->key, "%s", key);
    wk->t_asked = loop_now_ns();
    wk->settled = false;
    err_t err;
    if (enqueue(buf, len, (pending_t){ .warm = true, .done = warm_answered, .arg = (void *)(intptr_t)g_nkinds },
                &err) == 0)
        g_nkinds++;
}

bool spawner_warming(const sandbox_spec_t *spec)
{
    char key[sizeof g_kinds[0].key];
    if (!spec->prestart || spec->net_host || !kind_key(spec, key, sizeof key)) return false;
    const warm_kind_t *wk = kind_find(key);
    return wk && !wk->settled && loop_now_ns() - wk->t_asked < (uint64_t)SANDBOX_WARMING_MAX_MS * 1000000u;
}

void spawner_signal(uint32_t handle, int sig) { one_way(SP_SIGNAL, handle, sig); }
void spawner_release(uint32_t handle) { one_way(SP_RELEASE, handle, 0); }

int spawner_net_socket(uint32_t handle, err_t *err)
{
    if (g_ctl < 0) return err_set(err, ERR_SYS, "the sandbox spawner is not running");
    sp_req_t req = { .type = SP_NETSOCK, .handle = handle };
    if (sp_send(g_ctl, &req, sizeof req, NULL, 0) < 0) return err_sys(err, "sandbox spawner");
    sp_resp_t raw, resp;
    int fds[FD_N], nf = 0;
    ssize_t k = sp_recv(g_ctl, &raw, sizeof raw, fds, &nf);
    bool ok = k > 0 && sp_resp_decode(&raw, (size_t)k, &resp) == 0;
    if (!ok || resp.err) {
        for (int i = 0; i < nf; i++) close(fds[i]);
        if (!ok) return err_set(err, ERR_SYS, "the sandbox spawner is gone");
        errno = resp.err;
        return err_set(err, ERR_SYS, "%s", resp.msg);
    }
    if (nf < 1) return err_set(err, ERR_SYS, "sandbox spawner sent no socket");
    for (int i = 1; i < nf; i++) close(fds[i]);
    return fds[0];
}
