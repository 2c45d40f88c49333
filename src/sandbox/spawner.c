/* spawner.c — the privileged helper process: builds each instance's
 * sandbox and ends it (spawner.h). The daemon's side of its sockets is
 * spawner_client.c, the root and the instance's init are spawner_init.c,
 * the inits it makes (and those made ahead) spawner_prestart.c, the
 * messages spawner_proto.h.
 *
 * One thread, one poll loop over: the spawn socket, the control socket,
 * SIGCHLD, the sync socket of every init it made (those serving a
 * request and those kept ready in the pool) and the sockets of the jobs
 * making instances' /tmp file systems (ephemeral.h). A spawn takes a pre-made init
 * (or clones one), makes its cgroup, moves it in and hands it the request,
 * then goes on with the next message; the answer goes to the daemon when
 * that init reports. An exec forks a helper that enters the instance and
 * answers at once. When nothing is waiting, it refills the pool.
 *
 * Must never: act on a path or pid the daemon names without checking it
 * (code dirs must be under the code store; instances are named by handles
 * it issued), or keep an instance alive after the daemon is gone.
 */
#define _GNU_SOURCE
#include "sandbox/spawner.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdarg.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/cgroup.h"
#include "sandbox/egress.h"
#include "sandbox/ephemeral.h"
#include "io/loop.h"
#include "sandbox/spawner_proto.h"

#define INIT_WAIT_MS 10000
#define POOL_IDLE_MS 2
/* A runtime just started is still in its own start when its answer goes
 * (the handler's import, its first /next: 1-3 ms for Python here); a
 * refill then takes a CPU from it on a 2-core host. The first refill
 * after an answer waits this long (measured: /next reached the daemon
 * 0.4-2 ms after the handler's import with 2, 0.3-0.5 ms with 8). */
#define ANSWER_QUIET_MS 8

/* An instance the daemon knows, by handle. */
typedef struct {
    bool used, released, exited;
    uint16_t gen;
    pid_t pid;
    int pidfd;
    int netns;               /* opened on first need */
    int eslot;               /* its egress slot (egress.h), -1 none */
    cgroup_t *cg;
} slot_t;

static struct {
    spawner_config_t cfg;
    char data_dir[512], runtime_dir[512], code_root[600];
    int sock, ctl;
    int self_netns;
    spawner_env_t env;
    slot_t *slots;
    size_t nslots;
    size_t pending;          /* released slots whose cgroup is not removed yet */
    init_t **busy;           /* inits serving a request */
    size_t nbusy, cap_busy;
    char tmp_why[200];       /* why /tmp is a tmpfs (ephemeral storage unavailable) */
    pid_t daemon_pid;        /* the daemon that forked it: its groups carry this pid */
    uint64_t t_answer;       /* when the last spawn was answered (ANSWER_QUIET_MS) */
} S;

/* ---- slots ---- */

static slot_t *slot_get(uint32_t handle)
{
    size_t i = handle & 0xffffu;
    if (i >= S.nslots || !S.slots[i].used || S.slots[i].gen != (handle >> 16)) return NULL;
    return &S.slots[i];
}

static int slot_new(void)
{
    for (size_t i = 0; i < S.nslots; i++)
        if (!S.slots[i].used) return (int)i;
    if (S.nslots >= 0xffff) return -1;
    size_t n = S.nslots ? S.nslots * 2 : 64;
    if (n > 0xffff) n = 0xffff;
    slot_t *s = realloc(S.slots, n * sizeof *s);
    if (!s) return -1;
    memset(s + S.nslots, 0, (n - S.nslots) * sizeof *s);
    S.slots = s;
    int i = (int)S.nslots;
    S.nslots = n;
    return i;
}

static void slot_free(slot_t *s)
{
    if (s->pidfd >= 0) close(s->pidfd);
    if (s->netns >= 0) close(s->netns);
    egress_release(s->eslot);
    s->pidfd = s->netns = s->eslot = -1;
    s->used = false;
    s->gen++;
}

/* ---- pre-started runtimes (spawner_prestart.c) ---- */

static void answer_err(uint32_t tag, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A daemon's order to keep runtimes of this command ready (SP_WARM: a
 * function of it was loaded or created), before any request of it;
 * answered once the kind's first runtime is warm (or given up on). */
static void do_warm(const sp_req_view_t *v)
{
    prekind_t *pk = prekind_for(v, true);
    if (pk) prestart_answer_when_settled(pk, v->hdr.tag, S.sock);
    else answer_err(v->hdr.tag, ENOSPC, "runtimes of this command are not started ahead here");
}

/* ---- answers ---- */

static void answer_err(uint32_t tag, int e, const char *fmt, ...)
{
    sp_resp_t resp = { .err = e ? e : EIO, .tag = tag };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(resp.msg, sizeof resp.msg, fmt, ap);
    va_end(ap);
    sp_send(S.sock, &resp, sizeof resp, NULL, 0);
}

/* Check that `dir` is <data>/code/<64 hex>/tree: the daemon names code,
 * the spawner decides what that may be. */
static bool code_dir_ok(const char *dir)
{
    size_t n = strlen(S.code_root);
    if (strncmp(dir, S.code_root, n) != 0 || dir[n] != '/') return false;
    const char *h = dir + n + 1;
    for (int i = 0; i < 64; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'))) return false;
    return strcmp(h + 64, "/tree") == 0;
}

static void busy_remove(size_t i)
{
    S.busy[i] = S.busy[--S.nbusy];
}

/* The init of busy[i] reported (fail 0), or failed to (fail: an errno):
 * answer the daemon. */
static void spawn_finish(size_t i, int fail)
{
    init_t *in = S.busy[i];
    busy_remove(i);
    S.t_answer = loop_now_ns();
    slot_t *s = &S.slots[in->slot];
    sp_ready_t r = { .err = fail, .stage = 5 };
    int api = -1, nf = 0;
    if (!fail) {
        ssize_t k = sp_recv(in->sync, &r, sizeof r, &api, &nf);
        if (k != (ssize_t)sizeof r) { r.err = EIO; r.stage = 0; }
        if (nf == 0) api = -1;
        if (r.err && api >= 0) { close(api); api = -1; }
        if (!r.err && api < 0) { r.err = EIO; r.stage = 3; }
    }
    if (r.err) {
        syscall(SYS_pidfd_send_signal, in->pidfd, SIGKILL, NULL, 0);
        s->released = true;   /* the slot goes once the init is reaped and its cgroup empty */
        S.pending++;
        if (r.stage == ST_EXEC) answer_err(in->tag, r.err, "exec %s: %s", in->exe, strerror(r.err));
        else if (r.stage == 6) answer_err(in->tag, r.err, "sandbox: mount code %s: %s", in->code_dir, strerror(r.err));
        else answer_err(in->tag, r.err, "sandbox: %s: %s", spawner_stage_name(r.stage), strerror(r.err));
        in->pidfd = -1;       /* the slot owns it */
        init_close(in);
        return;
    }
    sp_resp_t resp = { .type = SP_SPAWN, .tag = in->tag, .api_port = r.port, .limits = in->limits,
                       .memory_limit = in->memory_limit, .pooled = in->pooled,
                       .prestarted = in->prestarted || r.zygote == 1, .zygote = r.zygote ? r.zygote : in->zy_note,
                       .forked_ahead = r.zygote == 1 && in->prestarted };
    /* The runtime's pid on the host (the init's only child): what
     * diagnostics and `nimbus exec` look at. Signals go to the init. */
    resp.pid = (int32_t)in->pid;
    char p[128];
    snprintf(p, sizeof p, "/proc/%d/task/%d/children", (int)in->pid, (int)in->pid);
    FILE *cf = fopen(p, "re");
    int child = 0;
    if (cf && fscanf(cf, "%d", &child) == 1 && child > 0) resp.pid = child;
    if (cf) fclose(cf);
    resp.handle = (uint32_t)in->slot | ((uint32_t)s->gen << 16);
    int fds[FD_N];
    for (int k = 0; k < FD_N; k++) fds[k] = -1;
    fds[FD_PIDFD] = in->pidfd;
    fds[FD_OUT] = in->out_r;
    fds[FD_STATUS] = in->status_r;
    fds[FD_API] = api;
    if (s->cg) {
        cgroup_dirs(s->cg, resp.cgdirs);
        fds[FD_PEAK] = cgroup_open_peak(s->cg);
        fds[FD_OOM] = cgroup_open_oom_events(s->cg);
    }
    uint64_t t_end = loop_now_ns();
    /* On the request's own path: what a pre-made init did before counts 0. */
    uint64_t begin = r.t_request > r.t_prepared ? r.t_request : r.t_prepared;
    uint64_t t_after_clone = in->pooled ? in->t0 : in->t_cloned;   /* making it (its cgroup's dirs, clone) */
    resp.phase_us[PH_CLONE] = (uint32_t)((t_after_clone - in->t0) / 1000);
    resp.phase_us[PH_CGROUP] = (uint32_t)((in->t_cg - t_after_clone) / 1000);
    resp.phase_us[PH_INIT_WAIT] = begin > in->t_fwd ? (uint32_t)((begin - in->t_fwd) / 1000) : 0;
    resp.phase_us[PH_MOUNTS] = (uint32_t)((r.t_mounts - begin) / 1000);
    resp.phase_us[PH_PRIV] = (uint32_t)((r.t_priv - r.t_mounts) / 1000);
    resp.phase_us[PH_EXEC] = (uint32_t)((r.t_exec - r.t_priv) / 1000);
    resp.phase_us[PH_TOTAL] = (uint32_t)((t_end - in->t0) / 1000);
    int list[FD_N], n = 0;
    for (int k = 0; k < FD_N; k++)
        if (fds[k] >= 0) { list[n++] = fds[k]; resp.fdmask |= 1u << k; }
    sp_send(S.sock, &resp, sizeof resp, list, n);
    /* The spawner keeps the pidfd (in the slot); the rest are the daemon's. */
    for (int k = 0; k < FD_N; k++)
        if (k != FD_PIDFD && fds[k] >= 0) close(fds[k]);
    in->pidfd = in->out_r = in->status_r = -1;
    init_close(in);
    /* Replace the /tmp it took as soon as the answer is out: one is made in
     * another process, so the spawner only forks. Waiting for an idle
     * moment, as the inits do, would leave none made in a run of cold starts. */
    if (ephemeral_refill_wanted()) ephemeral_refill();
}

/* A /tmp a job made: to the first init waiting for that size. */
static bool tmp_done(uint32_t mb, int fd, int err)
{
    for (size_t i = 0; i < S.nbusy; i++) {
        init_t *in = S.busy[i];
        if (in->tmp_wait != mb) continue;
        in->tmp_wait = 0;
        sp_tmp_t m = { .err = fd >= 0 ? 0 : (err ? err : EIO) };
        sp_send(in->sync, &m, sizeof m, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
        if (fd >= 0) close(fd);
        return true;
    }
    return false;
}

/* `raw` is the request as it came (decoded in `v`): what the init is given,
 * with SPF_TMP_DISK set here alone. */
static void do_spawn(const sp_req_view_t *v, void *raw, size_t len)
{
    uint64_t t0 = loop_now_ns();
    const sp_req_t *req = &v->hdr;
    char code_dir[512];
    snprintf(code_dir, sizeof code_dir, "%s", req->code_dir);
    if (!code_dir_ok(code_dir)) { answer_err(req->tag, EACCES, "code dir %s: %s", code_dir, strerror(EACCES)); return; }
    if (req->opt_dir[0] && !code_dir_ok(req->opt_dir)) {
        answer_err(req->tag, EACCES, "layers dir %s: %s", req->opt_dir, strerror(EACCES));
        return;
    }
    if (S.nbusy == S.cap_busy) {
        size_t n = S.cap_busy ? S.cap_busy * 2 : 64;
        init_t **b = realloc(S.busy, n * sizeof *b);
        if (!b) { answer_err(req->tag, ENOMEM, "sandbox: out of memory"); return; }
        S.busy = b;
        S.cap_busy = n;
    }
    sp_req_t fwd;
    memcpy(&fwd, raw, sizeof fwd);
    fwd.flags = (fwd.flags & ~SPF_TMP_DISK) | (ephemeral_enabled() ? SPF_TMP_DISK : 0);
    memcpy(raw, &fwd, sizeof fwd);
    int si = slot_new();
    if (si < 0) { answer_err(req->tag, ENOMEM, "sandbox: too many instances"); return; }
    bool own_net = !(req->flags & SPF_NET_HOST);
    bool egress = own_net && (req->flags & SPF_NET_EGRESS);
    char why[200];
    if (egress && egress_prepare(why, sizeof why) < 0) {
        answer_err(req->tag, EOPNOTSUPP, "Network egress: %s", why);
        return;
    }
    if (egress) pool_note_egress();
    init_t *in = NULL;
    prekind_t *pk = prekind_for(v, true);
    /* Its runtime: a fork of the zygote (into any init), else one started
     * ahead, else exec'd by the init. */
    bool prestarted = pk && pk->nready > 0;
    if (prestarted) in = prestart_take(pk);
    int zline = !prestarted && pk && pk->forkable && own_net ? zygote_line(&pk->zy) : -1;
    if (!in && own_net) in = pool_take(egress);
    bool pooled = in != NULL;
    if (!in && !(in = init_clone(own_net, egress, NULL))) {
        answer_err(req->tag, errno, "sandbox: %s: %s", egress ? "network egress" : "clone", strerror(errno));
        if (zline >= 0) close(zline);
        return;
    }
    fwd.flags = (fwd.flags & ~SPF_ZYGOTE) | (zline >= 0 ? SPF_ZYGOTE : 0);
    memcpy(raw, &fwd, sizeof fwd);
    /* Its zygote died or failed: this start says so (once), the daemon logs it. */
    in->zy_note = 0;
    if (pk && pk->forkable && zline < 0 && pk->zy.lost) { in->zy_note = 2; pk->zy.lost = false; }
    in->pooled = pooled;
    in->prestarted = prestarted;
    in->t0 = t0;
    in->tag = req->tag;
    in->slot = si;
    snprintf(in->code_dir, sizeof in->code_dir, "%s", code_dir);
    snprintf(in->exe, sizeof in->exe, "%s", v->exe);
    cgroup_t *cg = in->cg;
    in->cg = NULL;
    if (cg) {
        cgroup_limits_t lim;
        cgroup_limits_for((int)req->memory_mb, SANDBOX_PIDS_MAX, &lim);
        err_t cerr;
        if (cgroup_apply_limits(cg, &lim, &cerr) < 0) {
            answer_err(req->tag, EIO, "%s", cerr.msg);
            cgroup_destroy(cg);
            init_discard(in);
            if (zline >= 0) close(zline);
            return;
        }
        in->limits = cgroup_limits_applied(cg);
        if (in->limits & 1) in->memory_limit = lim.memory_bytes;
    }
    in->t_cg = loop_now_ns();
    slot_t *s = &S.slots[si];
    s->used = true;
    s->released = s->exited = false;
    s->pid = in->pid;
    s->pidfd = in->pidfd;
    s->netns = -1;
    s->eslot = in->eslot;
    in->eslot = -1;   /* the slot's now */
    s->cg = cg;
    in->t_fwd = loop_now_ns();
    in->deadline = in->t_fwd + (uint64_t)INIT_WAIT_MS * 1000000u;
    /* Its /tmp: a made one, or one being made, which the init waits for. */
    uint32_t tmp_mb = req->tmp_mb ? req->tmp_mb : 512;
    int tmpfd = (fwd.flags & SPF_TMP_DISK) ? ephemeral_take(tmp_mb) : -1;
    in->tmp_wait = (fwd.flags & SPF_TMP_DISK) && tmpfd < 0 ? tmp_mb : 0;
    S.busy[S.nbusy++] = in;
    int sfds[2], nsf = 0;
    if (zline >= 0) sfds[nsf++] = zline;
    if (tmpfd >= 0) sfds[nsf++] = tmpfd;
    int rc = sp_send(in->sync, raw, len, sfds, nsf);
    if (tmpfd >= 0) close(tmpfd);
    if (zline >= 0) close(zline);
    if (rc < 0) spawn_finish(S.nbusy - 1, errno);
}

/* A command in a live instance: a fork enters it and starts the command
 * (spawner_exec.c). The answer goes at once; whatever then fails is the
 * command's output and exit code. The spawner keeps nothing of it: the
 * helper is reaped as any child, and it ends when the daemon closes the
 * kill pipe (or goes away). */
static void do_exec(const sp_req_view_t *v)
{
    const sp_req_t *req = &v->hdr;
    slot_t *s = slot_get(req->handle);
    if (!s || s->released || s->exited) { answer_err(req->tag, ESRCH, "the instance is gone"); return; }
    int out[2] = { -1, -1 }, status[2] = { -1, -1 }, kill_p[2] = { -1, -1 }, in[2] = { -1, -1 };
    if (req->flags & SPF_EXEC_TTY) {
        /* The terminal is its output and its input: the master for the
         * daemon, the other end for the command. */
        int e = spawner_exec_tty(s->pid, req->rows, req->cols, &out[0], &out[1]);
        if (e) { answer_err(req->tag, e, "a terminal in the instance: %s", strerror(e)); return; }
    }
    if ((out[0] < 0 && pipe2(out, O_CLOEXEC) < 0) || pipe2(status, O_CLOEXEC) < 0 || pipe2(kill_p, O_CLOEXEC) < 0 ||
        ((req->flags & SPF_EXEC_STDIN) && pipe2(in, O_CLOEXEC) < 0) ||
        ((req->flags & SPF_EXEC_TTY) && (in[1] = fcntl(out[0], F_DUPFD_CLOEXEC, 0)) < 0)) {
        int e = errno;
        close_pair(out);
        close_pair(status);
        close_pair(kill_p);
        close_pair(in);
        answer_err(req->tag, e, "pipe: %s", strerror(e));
        return;
    }
    int in_r = (req->flags & SPF_EXEC_TTY) ? out[1] : in[0];
    pid_t pid = fork();
    if (pid == 0) spawner_exec_main(&S.env, s->cg, s->pid, v, out[1], status[1], kill_p[0], in_r);
    int e = errno;
    close(out[1]);
    close(status[1]);
    close(kill_p[0]);
    if (in[0] >= 0) close(in[0]);
    if (pid < 0) {
        close(out[0]);
        close(status[0]);
        close(kill_p[1]);
        if (in[1] >= 0) close(in[1]);
        answer_err(req->tag, e, "fork: %s", strerror(e));
        return;
    }
    sp_resp_t resp = { .type = SP_EXEC, .tag = req->tag, .pid = (int32_t)pid, .handle = req->handle };
    int fds[FX_N];
    fds[FX_OUT] = out[0];
    fds[FX_STATUS] = status[0];
    fds[FX_KILL] = kill_p[1];
    fds[FX_IN] = in[1];
    int nf = in[1] >= 0 ? FX_N : FX_IN;
    resp.fdmask = (1u << nf) - 1;
    sp_send(S.sock, &resp, sizeof resp, fds, nf);
    for (int i = 0; i < nf; i++) close(fds[i]);   /* the daemon's now (or, unsent, the helper sees the kill pipe close) */
}

static void do_netsock(uint32_t handle)
{
    sp_resp_t resp = { .type = SP_NETSOCK };
    slot_t *s = slot_get(handle);
    int e;
    if (!s || s->released) { e = ESRCH; goto fail; }
    if (s->netns < 0) {
        char p[64];
        snprintf(p, sizeof p, "/proc/%d/ns/net", (int)s->pid);
        s->netns = open(p, O_RDONLY | O_CLOEXEC);
        if (s->netns < 0) { e = errno; goto fail; }
    }
    if (setns(s->netns, CLONE_NEWNET) < 0) { e = errno; goto fail; }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    e = errno;
    if (setns(S.self_netns, CLONE_NEWNET) < 0) _exit(1);   /* cannot go home: never serve from there */
    if (fd < 0) goto fail;
    sp_send(S.ctl, &resp, sizeof resp, &fd, 1);
    close(fd);
    return;
fail:
    resp.err = e;
    snprintf(resp.msg, sizeof resp.msg, "instance network: %s", strerror(e));
    sp_send(S.ctl, &resp, sizeof resp, NULL, 0);
}

static void do_release(uint32_t handle)
{
    slot_t *s = slot_get(handle);
    if (!s || s->released) return;
    if (!s->exited) syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
    s->released = true;
    S.pending++;
}

static void do_control(const sp_req_t *req)
{
    switch (req->type) {
    case SP_NETSOCK: do_netsock(req->handle); break;
    case SP_RELEASE: do_release(req->handle); break;
    case SP_SIGNAL: {
        slot_t *s = slot_get(req->handle);
        if (s && !s->exited && (req->sig == SIGTERM || req->sig == SIGKILL))
            syscall(SYS_pidfd_send_signal, s->pidfd, req->sig, NULL, 0);
        break;
    }
    default: break;
    }
}

static void reap_and_collect(void)
{
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
        for (size_t i = 0; i < S.nslots; i++)
            if (S.slots[i].used && S.slots[i].pid == w) S.slots[i].exited = true;
    }
    if (!S.pending) return;
    for (size_t i = 0; i < S.nslots; i++) {
        slot_t *s = &S.slots[i];
        if (!s->used || !s->released || !s->exited) continue;
        if (s->cg) {
            cgroup_kill_all(s->cg);
            if (cgroup_try_remove(s->cg) < 0) continue;   /* still emptying */
            s->cg = NULL;
        }
        slot_free(s);
        S.pending--;
    }
}

static void shutdown_all(void)
{
    ephemeral_shutdown();
    egress_teardown();
    ahead_shutdown();
    while (S.nbusy) {
        init_t *in = S.busy[--S.nbusy];
        in->pidfd = -1;   /* the slot's */
        init_close(in);
    }
    for (size_t i = 0; i < S.nslots; i++)
        if (S.slots[i].used && !S.slots[i].exited)
            syscall(SYS_pidfd_send_signal, S.slots[i].pidfd, SIGKILL, NULL, 0);
    for (size_t i = 0; i < S.nslots; i++) {
        slot_t *s = &S.slots[i];
        if (!s->used) continue;
        if (!s->exited) {
            siginfo_t si;
            waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED);
        }
        if (s->cg) cgroup_destroy(s->cg);
        s->cg = NULL;
        slot_free(s);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    /* The daemon is gone or done (it closed its sockets): every group
     * named for it (those it was handed and had not removed — all of them
     * after a kill -9 —, pooled inits', exec helpers') is stale now. A
     * group whose last process has just died may refuse removal for a
     * moment: retry for up to 2 s. */
    for (int i = 0; i < 100 && cgroup_sweep_owned(S.daemon_pid) > 0; i++) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
        usleep(20000);
    }
}

/* Read one message from a daemon socket; false when the daemon is gone. */
static bool serve_socket(int fd, char *buf)
{
    int fds[FD_N], nf = 0;
    ssize_t k = sp_recv(fd, buf, MAX_MSG, fds, &nf);
    for (int i = 0; i < nf; i++) close(fds[i]);   /* the daemon sends none */
    if (k <= 0) return k < 0 && (errno == EAGAIN || errno == EINTR);
    static sp_req_view_t v;
    if (sp_req_decode(buf, (size_t)k, &v) != 0) {
        /* An answer is owed to a tagged request, even a malformed one. */
        sp_req_t h;
        if (fd == S.sock && (size_t)k >= sizeof h) {
            memcpy(&h, buf, sizeof h);
            answer_err(h.tag, EINVAL, "sandbox: malformed request");
        }
        return true;
    }
    if (fd == S.sock && v.hdr.type == SP_SPAWN) do_spawn(&v, buf, (size_t)k);
    else if (fd == S.sock && v.hdr.type == SP_EXEC) do_exec(&v);
    else if (fd == S.sock && v.hdr.type == SP_WARM) do_warm(&v);
    else if (fd == S.ctl) do_control(&v.hdr);
    return true;
}

__attribute__((noreturn)) static void spawner_main(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    char *buf = malloc(MAX_MSG);
    struct pollfd *pf = NULL;
    size_t cap = 0;
    if (!buf || sfd < 0) _exit(1);
    for (;;) {
        size_t need = 3 + S.nbusy + ahead_nfds() + EPHEMERAL_JOBS_MAX;
        if (need > cap) {
            cap = need * 2;
            pf = realloc(pf, cap * sizeof *pf);
            if (!pf) _exit(1);
        }
        pf[0] = (struct pollfd){ .fd = S.sock, .events = POLLIN };
        pf[1] = (struct pollfd){ .fd = S.ctl, .events = POLLIN };
        pf[2] = (struct pollfd){ .fd = sfd, .events = POLLIN };
        size_t nb = S.nbusy;
        for (size_t i = 0; i < nb; i++) pf[3 + i] = (struct pollfd){ .fd = S.busy[i]->sync, .events = POLLIN };
        /* The pool's inits, the pre-started ones, the zygotes (spawner_prestart.c). */
        size_t ahead0 = 3 + nb;
        size_t tmp0 = ahead0 + ahead_pollfds(pf + ahead0);
        int ntmp = ephemeral_pollfds(pf + tmp0, EPHEMERAL_JOBS_MAX);
        need = tmp0 + (size_t)ntmp;
        int timeout = -1;
        uint64_t now = loop_now_ns();
        for (size_t i = 0; i < nb; i++) {
            int ms = S.busy[i]->deadline > now ? (int)((S.busy[i]->deadline - now) / 1000000u) + 1 : 0;
            if (timeout < 0 || ms < timeout) timeout = ms;
        }
        if (S.pending && (timeout < 0 || timeout > 5)) timeout = 5;
        /* A runtime started ahead that has not said it is warm is given up on in time. */
        int am = ahead_timeout_ms();
        if (am >= 0 && (timeout < 0 || am < timeout)) timeout = am;
        /* Refill once idle for a moment: an answer just sent wakes the
         * daemon, which the scheduler may put on this CPU; a clone right
         * away would keep it waiting (measured: 1-2 ms per cold start). */
        bool tmp_wanted = ephemeral_refill_wanted();
        uint64_t quiet = S.t_answer + ANSWER_QUIET_MS * 1000000ull;
        if (ahead_wanted(S.nbusy) || tmp_wanted) {
            int idle = quiet > now ? (int)((quiet - now) / 1000000u) + 1 : POOL_IDLE_MS;
            if (idle < POOL_IDLE_MS) idle = POOL_IDLE_MS;
            if (timeout < 0 || timeout > idle) timeout = idle;
        }
        int n = poll(pf, need, timeout);
        if (n < 0 && errno != EINTR) break;
        /* Nothing waiting: make an init ahead of time, else a /tmp. */
        if (n == 0 && loop_now_ns() >= quiet && !ahead_refill(S.nbusy) && tmp_wanted) ephemeral_refill();
        if (n <= 0) { reap_and_collect(); now = loop_now_ns(); }
        if (pf[2].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {}
            reap_and_collect();
        }
        /* Inits that reported, from the end (finishing one moves the last into its place). */
        now = loop_now_ns();
        for (size_t i = nb; i-- > 0;) {
            if (i >= S.nbusy || S.busy[i]->sync != pf[3 + i].fd) continue;
            if (pf[3 + i].revents) spawn_finish(i, 0);
            else if (S.busy[i]->deadline <= now) spawn_finish(i, ETIMEDOUT);
        }
        ahead_collect(pf + ahead0);
        ephemeral_collect(pf + tmp0, ntmp, tmp_done);
        if ((pf[1].revents & (POLLIN | POLLHUP | POLLERR)) && !serve_socket(S.ctl, buf)) break;
        if ((pf[0].revents & (POLLIN | POLLHUP | POLLERR)) && !serve_socket(S.sock, buf)) break;
        ahead_answer_warm(S.sock);
    }
    shutdown_all();
    spawner_unmount_root();
    _exit(0);
}

/* ======================= starting it (the daemon) ======================= */

static int spawner_setup(const spawner_config_t *cfg, bool *rootless, err_t *err)
{
    memset(&S, 0, sizeof S);
    S.cfg = *cfg;
    snprintf(S.data_dir, sizeof S.data_dir, "%s", cfg->data_dir);
    snprintf(S.runtime_dir, sizeof S.runtime_dir, "%s", cfg->runtime_dir);
    snprintf(S.code_root, sizeof S.code_root, "%s/code", S.data_dir);
    S.cfg.data_dir = S.data_dir;
    S.cfg.runtime_dir = S.runtime_dir;
    S.env.uid = cfg->uid;
    snprintf(S.env.code_root, sizeof S.env.code_root, "%s", S.code_root);
    S.env.gid = cfg->gid;
    S.env.rootless = geteuid() != 0;
    ahead_setup(&S.env, cfg->pool);
    *rootless = S.env.rootless;
    S.env.cap_last = CAP_LAST_CAP;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f) { if (fscanf(f, "%d", &S.env.cap_last) != 1) S.env.cap_last = CAP_LAST_CAP; fclose(f); }
    if (S.env.rootless && spawner_enter_userns(err) < 0) return -1;
    S.self_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    struct stat nst;
    if (S.self_netns >= 0 && fstat(S.self_netns, &nst) == 0) S.env.net_ino = (uint64_t)nst.st_ino;
    if (seccomp_filter_build(&S.env.filter, err) < 0) return -1;
    if (spawner_build_root(S.runtime_dir, S.env.uid, err) < 0) return -1;
    cgroup_available();        /* probe once, before any instance */
    cgroup_sweep_stale();
    if (S.env.rootless) snprintf(S.tmp_why, sizeof S.tmp_why, "rootless: loop devices need root");
    else ephemeral_setup(S.data_dir, 512, cfg->pool, S.tmp_why, sizeof S.tmp_why);
    return 0;
}

int spawner_start(const spawner_config_t *cfg, spawner_info_t *info, err_t *err)
{
    char why[160];
    if (!spawner_supported(why, sizeof why)) return err_set(err, ERR_SYS, "%s", why);
    int sv[2], cv[2] = { -1, -1 };
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return err_sys(err, "spawner socketpair");
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cv) < 0) {
        close(sv[0]); close(sv[1]);
        return err_sys(err, "spawner socketpair");
    }
    /* A pipe to hear whether the template root was built. */
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0) {
        close(sv[0]); close(sv[1]); close(cv[0]); close(cv[1]);
        return err_sys(err, "pipe");
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]); close(sv[1]); close(cv[0]); close(cv[1]); close(ready[0]); close(ready[1]);
        return err_sys(err, "fork spawner");
    }
    if (pid == 0) {
        close(sv[0]);
        close(cv[0]);
        close(ready[0]);
        prctl(PR_SET_NAME, "nimbus-spawner", 0, 0, 0);
        util_proctitle_set("nimbus-spawner");
        S.daemon_pid = getppid();   /* the pid its groups are named for */
        /* No PR_SET_PDEATHSIG: killed with the daemon it could not clean
         * up. The daemon's end of its sockets closing (EOF: a kill -9 of
         * the daemon too) ends its loop, and it kills its instances and
         * removes their groups before it exits (shutdown_all). */
        signal(SIGPIPE, SIG_IGN);
        signal(SIGINT, SIG_IGN);    /* the daemon decides when to stop */
        signal(SIGTERM, SIG_IGN);
        int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (dn >= 0) { dup2(dn, 0); dup2(dn, 1); close(dn); }
        err_t e = { 0 };
        bool rootless = false;
        int rc = spawner_setup(cfg, &rootless, &e);
        S.sock = sv[1];
        S.ctl = cv[1];
        /* 'K', then r (rootless), c (cgroups) and t (/tmp on disk) when they
         * apply, then '|' and why /tmp is not. */
        char msg[sizeof e.msg + sizeof S.tmp_why + 8];
        if (rc == 0)
            snprintf(msg, sizeof msg, "K%s%s%s|%s", rootless ? "r" : "", cgroup_available() ? "c" : "",
                     ephemeral_enabled() ? "t" : "", ephemeral_enabled() ? "" : S.tmp_why);
        else snprintf(msg, sizeof msg, "E%s", e.msg);
        ssize_t w = write(ready[1], msg, strlen(msg));
        (void)w;
        close(ready[1]);
        if (rc != 0) _exit(1);
        spawner_main();
    }
    close(sv[1]);
    close(cv[1]);
    close(ready[1]);
    char msg[600];
    ssize_t k = read(ready[0], msg, sizeof msg - 1);
    close(ready[0]);
    msg[k > 0 ? k : 0] = '\0';
    if (k <= 0 || msg[0] != 'K') {
        close(sv[0]);
        close(cv[0]);
        waitpid(pid, NULL, 0);
        return err_set(err, ERR_SYS, "sandbox spawner: %s", k > 1 ? msg + 1 : "failed to start");
    }
    if (info) {
        char *tw = strchr(msg, '|');
        if (tw) *tw++ = '\0';
        info->rootless = strchr(msg + 1, 'r') != NULL;
        info->cgroups = strchr(msg + 1, 'c') != NULL;
        info->tmp_disk = strchr(msg + 1, 't') != NULL;
        snprintf(info->tmp_why, sizeof info->tmp_why, "%s", tw ? tw : "");
    }
    spawner_client_attach(sv[0], cv[0], pid);
    return 0;
}
