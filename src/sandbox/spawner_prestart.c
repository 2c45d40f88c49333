/* spawner_prestart.c — the inits the spawner makes, and those it makes
 * ahead of their requests (spawner_proto.h): the pool of bare inits, the
 * runtimes pre-started per runtime command and the Python zygote of each
 * command that allows one (docs/zygote.md). Part of the spawner process:
 * one thread, called from spawner.c's poll loop, which hands over the
 * fds to poll (ahead_pollfds) and what they said (ahead_collect), and asks
 * for a refill only in idle moments (ahead_refill).
 *
 * Must never: make an init ahead while a spawn is in flight (its mounts
 * would compete with the request's), or keep trying ahead of time on a
 * host where it keeps failing (requests still clone their own).
 */
#define _GNU_SOURCE
#include "sandbox/spawner_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/cgroup.h"
#include "sandbox/egress.h"
#include "io/loop.h"

#define POOL_MAX 64
#define PRESTART_KINDS 8     /* runtime commands kept pre-started */
/* A runtime that has not said it is warm by then never will (Node's
 * warm-up gives up after 2 s): it stops holding the next start back. */
#define WARM_WAIT_MS 3000

static struct {
    const spawner_env_t *env; /* the spawner's (spawner.c) */
    int pool_size;           /* --sandbox-pool */
    unsigned seq;            /* inits made: names their cgroup and their runtime's pid */
    init_t *pool[POOL_MAX];
    int npool, pool_failures; /* the pool holds both kinds: init_t.egress */
    bool egress_wanted;      /* an egress spawn came: keep egress inits ready too */
    prekind_t pre[PRESTART_KINDS];
    int npre;
    int npool_polled, npre_polled; /* the layout ahead_pollfds gave */
} P;

void ahead_setup(const spawner_env_t *env, int pool_size)
{
    memset(&P, 0, sizeof P);
    P.env = env;
    P.pool_size = pool_size;
}

/* ---- inits ---- */

void init_close(init_t *in)
{
    if (in->warm_fd >= 0) warm_close(in->warm_fd);
    if (in->sync >= 0) close(in->sync);
    if (in->out_r >= 0) close(in->out_r);
    if (in->status_r >= 0) close(in->status_r);
    free(in);
}

/* End an init that never became an instance (reaped by reap_and_collect). */
void init_discard(init_t *in)
{
    syscall(SYS_pidfd_send_signal, in->pidfd, SIGKILL, NULL, 0);
    close(in->pidfd);
    if (in->cg) cgroup_destroy(in->cg);
    egress_release(in->eslot);
    init_close(in);
}

void close_pair(int p[2])
{
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0) close(p[i]);
}

init_t *init_clone(bool own_net, bool egress, prekind_t *pk)
{
    init_t *in = calloc(1, sizeof *in);
    if (!in) return NULL;
    in->eslot = -1;
    in->warm_fd = -1;
    int out[2] = { -1, -1 }, status[2] = { -1, -1 }, sync[2] = { -1, -1 }, warm[2] = { -1, -1 };
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0)
        goto fail;
    /* Exec'd ahead without a zygote (Node): its configuration comes on a
     * socket, on which it says when its start is over (docs/zygote.md). */
    if (pk && !pk->forkable && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, warm) < 0) goto fail;
    /* Its cgroup, named by the spawner (the last 8 hex digits are the
     * daemon's pid, as cgroup_sweep_stale expects). Made here, entered by
     * the init itself: moving a process between cgroups waits for an RCU
     * grace period (milliseconds here), which the init spends in its own
     * time, not the spawner's. Limits come with the request. */
    if (cgroup_available()) {
        char name[32];
        err_t cerr;
        snprintf(name, sizeof name, "nimbus-%08x%08x", 0x80000000u | (P.seq & 0x7fffffffu), (unsigned)getppid());
        if (!(in->cg = cgroup_create_all(name, &cerr))) {
            errno = EIO;
            goto fail;
        }
    }
    /* A network namespace costs the creator a millisecond or so (every
     * pernet subsystem's setup): the init makes its own on its time (see
     * init_own_net), unless egress must attach its veth pair to it now. */
    bool net_now = own_net && (egress || !P.env->net_ino);
    unsigned long flags = SIGCHLD | CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
                          (net_now ? CLONE_NEWNET : 0);
    /* Pre-started: by a fork of the kind's zygote when it is up, else by exec. */
    int zline = pk && pk->forkable ? zygote_line(&pk->zy) : -1;
    in->own_net = own_net;
    in->pidfd = -1;
    /* A fork (no CLONE_VM): the init keeps running after the runtime's
     * exec, so it must not share the spawner's memory. */
    long pid = syscall(SYS_clone, flags, NULL, &in->pidfd, NULL, 0);
    if (pid == 0) {
        spawner_prestart_t pre = { pk ? pk->exe : NULL, pk ? pk->argv : NULL, zline, { warm[0], warm[1] } };
        spawner_init_main(P.env, in->cg, out[1], status[1], sync[1], own_net, pk ? &pre : NULL,
                          100 + P.seq % 30000);
    }
    if (zline >= 0) close(zline);
    if (pid < 0) goto fail;
    P.seq++;
    close(out[1]);
    close(status[1]);
    close(sync[1]);
    if (warm[1] >= 0) close(warm[1]);
    in->warm_fd = warm[0];   /* the init has its own copy, for the environment */
    in->warm = warm[0] < 0;  /* no word to wait for */
    in->t_cloned = loop_now_ns();
    in->pid = (pid_t)pid;
    in->sync = sync[0];
    in->out_r = out[0];
    in->status_r = status[0];
    /* Its way out, made now from here (the spawner's namespace) while the
     * init sets up the rest: pooled, this costs a request nothing. */
    if (egress && (in->eslot = egress_attach(in->pid)) < 0) {
        int e = errno;
        init_discard(in);
        errno = e;
        return NULL;
    }
    in->egress = egress;
    return in;
fail:;
    int e = errno;
    close_pair(out);
    close_pair(status);
    close_pair(sync);
    close_pair(warm);
    if (in->cg) cgroup_destroy(in->cg);
    free(in);
    errno = e;
    return NULL;
}

static int pool_count(bool egress)
{
    int n = 0;
    for (int i = 0; i < P.npool; i++) n += P.pool[i]->egress == egress;
    return n;
}

/* A pooled init of the kind, taken out of the pool, or NULL. */
init_t *pool_take(bool egress)
{
    for (int i = P.npool; i-- > 0;) {
        init_t *in = P.pool[i];
        if (in->egress != egress) continue;
        P.pool[i] = P.pool[--P.npool];
        return in;
    }
    return NULL;
}

static void pool_refill(void)
{
    init_t *in = init_clone(true, pool_count(false) >= P.pool_size, NULL);
    if (!in) { P.pool_failures++; return; }
    P.pool[P.npool++] = in;
}

/* An init in the pool spoke or hung up: it failed before any request. */
static void pool_drop(int i)
{
    init_discard(P.pool[i]);
    P.pool[i] = P.pool[--P.npool];
    P.pool_failures++;
}

static bool pool_wanted(size_t nbusy)
{
    /* Only while no spawn is in flight: making one competes with the
     * inits' own mounts (the kernel's mount lock) and delays answers.
     * After three failures, something about this host: stop trying ahead
     * of time (requests still clone their own). */
    return nbusy == 0 && P.npool < POOL_MAX && P.pool_failures < 3 &&
           (pool_count(false) < P.pool_size || (P.egress_wanted && pool_count(true) < P.pool_size));
}

/* ---- pre-started runtimes ---- */

/* The kind of a request that allows a pre-started runtime (made when
 * `create`), or NULL. */
prekind_t *prekind_for(const sp_req_view_t *v, bool create)
{
    const sp_req_t *req = &v->hdr;
    if (!(req->flags & SPF_PRESTART) || (req->flags & SPF_NET_HOST) || P.env->rootless || P.pool_size <= 0)
        return NULL;
    bool egress = (req->flags & SPF_NET_EGRESS) != 0;
    char key[1024];
    size_t k = (size_t)snprintf(key, sizeof key, "%s", egress ? "egress\x1f" : "");
    for (uint32_t i = 0; i <= req->nargv; i++) {
        int w = snprintf(key + k, sizeof key - k, "%s%s", i ? "\x1f" : "", i ? v->argv[i - 1] : v->exe);
        if (w < 0 || (size_t)w >= sizeof key - k) return NULL;
        k += (size_t)w;
    }
    for (int i = 0; i < P.npre; i++)
        if (strcmp(P.pre[i].key, key) == 0) return &P.pre[i];
    if (!create || P.npre == PRESTART_KINDS) return NULL;
    prekind_t *pk = &P.pre[P.npre];
    memset(pk, 0, sizeof *pk);
    snprintf(pk->key, sizeof pk->key, "%s", key);
    pk->egress = egress;
    pk->forkable = (req->flags & SPF_ZYGOTE) != 0;
    pk->argv = calloc(req->nargv + 1, sizeof *pk->argv);
    pk->exe = strdup(v->exe);
    bool ok = pk->exe && pk->argv;
    for (uint32_t i = 0; ok && i < req->nargv; i++) ok = (pk->argv[i] = strdup(v->argv[i])) != NULL;
    if (!ok) {
        for (uint32_t i = 0; pk->argv && i < req->nargv; i++) free(pk->argv[i]);
        free(pk->argv);
        free(pk->exe);
        return NULL;
    }
    P.npre++;
    return pk;
}

static int prestarts_booting(void);

/* A kind with a zygote up keeps ZYGOTE_DEPTH pre-started by it (a fork
 * each, its pages shared with the zygote), else one by exec: what serves
 * while its zygote is being (re)started. */
static int prestart_depth(const prekind_t *pk)
{
    return !pk->forkable ? PRESTART_DEPTH : pk->zy.ready ? ZYGOTE_DEPTH : 1;
}

static prekind_t *prestart_wanted(size_t nbusy)
{
    if (nbusy) return NULL;
    /* Not while a call waits on a runtime still in its start (taken before
     * it was warm): a Node start is tens of ms of CPU, and on few cores a
     * second one at once makes the first, and that call, take longer.
     * Ready ones still starting do not hold the next back: starting a
     * deploy's two one after the other made its second call wait for most
     * of the second's start (measured: 88-115 ms, against 10-30). */
    bool exec_ok = prestarts_booting() == 0;
    for (int i = 0; i < P.npre; i++) {
        prekind_t *pk = &P.pre[i];
        bool by_fork = pk->forkable && pk->zy.ready;
        if (pk->nready < prestart_depth(pk) && pk->failures < 3 && (by_fork || exec_ok)) return pk;
    }
    return NULL;
}

/* A kind whose zygote is to be (re)started. After 5 failures in a row,
 * something about this host: its starts exec (or take pre-started ones). */
static prekind_t *zygote_wanted(size_t nbusy)
{
    if (nbusy) return NULL;
    for (int i = 0; i < P.npre; i++)
        if (P.pre[i].forkable && P.pre[i].zy.pid == 0 && P.pre[i].zy.failures < 5) return &P.pre[i];
    return NULL;
}

static void zygote_refill(prekind_t *pk)
{
    if (zygote_start(&pk->zy, P.env, pk->exe, pk->argv) < 0) { pk->zy.failures++; pk->zy.lost = true; }
}

/* Out of the kind's ready list at `d`, the order of the rest kept (oldest first). */
static init_t *prestart_remove(prekind_t *pk, int d)
{
    init_t *in = pk->ready[d];
    memmove(pk->ready + d, pk->ready + d + 1, (size_t)(pk->nready - d - 1) * sizeof *pk->ready);
    pk->nready--;
    return in;
}

/* The oldest warm one: what waited longest has most likely finished its
 * start even when it has not said so yet, and taking the newest (as a
 * stack) served most calls from a runtime still in its warm-up, behind
 * its whole start (docs/zygote.md, "Measured"). A runtime taken before it
 * was warm is watched until it is, and holds back the next start. */
init_t *prestart_take(prekind_t *pk)
{
    if (!pk->nready) return NULL;
    int d = 0;
    while (d < pk->nready && !pk->ready[d]->warm) d++;
    init_t *in = prestart_remove(pk, d < pk->nready ? d : 0);
    if (in->warm_fd >= 0 && in->warm) {
        warm_close(in->warm_fd);
        in->warm_fd = -1;
    } else if (in->warm_fd >= 0) {
        if (pk->nbooting < PRE_SLOTS) {
            pk->booting[pk->nbooting] = in->warm_fd;
            pk->booting_until[pk->nbooting++] = in->t_cloned + (uint64_t)WARM_WAIT_MS * 1000000u;
        } else {
            warm_close(in->warm_fd);
        }
        in->warm_fd = -1;
    }
    return in;
}

/* Runtimes exec'd ahead that requests took before they were warm: a call
 * waits on each. */
static int prestarts_booting(void)
{
    int n = 0;
    for (int i = 0; i < P.npre; i++) n += P.pre[i].nbooting;
    return n;
}


/* Close the spawner's copy of a runtime's socket, its word read first: a
 * unix socket closed with unread data resets its peer, and the runtime
 * would read that reset in place of its environment's end of file. */
void warm_close(int fd)
{
    char c[8];
    while (recv(fd, c, sizeof c, MSG_DONTWAIT) > 0) {}
    close(fd);
}

static void booting_remove(prekind_t *pk, int b)
{
    warm_close(pk->booting[b]);
    pk->booting[b] = pk->booting[--pk->nbooting];
    pk->booting_until[b] = pk->booting_until[pk->nbooting];
}

/* Give up on runtimes that took longer than WARM_WAIT_MS to say so. */
static void booting_expire(uint64_t now)
{
    for (int i = 0; i < P.npre; i++) {
        prekind_t *pk = &P.pre[i];
        for (int b = pk->nbooting; b-- > 0;)
            if (pk->booting_until[b] <= now) booting_remove(pk, b);
        for (int d = 0; d < pk->nready; d++) {
            init_t *in = pk->ready[d];
            if (!in->warm && in->t_cloned + (uint64_t)WARM_WAIT_MS * 1000000u <= now) in->warm = true;
        }
    }
}

int ahead_timeout_ms(void)
{
    uint64_t now = loop_now_ns(), first = 0;
    for (int i = 0; i < P.npre; i++) {
        const prekind_t *pk = &P.pre[i];
        for (int b = 0; b < pk->nbooting; b++)
            if (!first || pk->booting_until[b] < first) first = pk->booting_until[b];
        for (int d = 0; d < pk->nready; d++) {
            uint64_t t = pk->ready[d]->t_cloned + (uint64_t)WARM_WAIT_MS * 1000000u;
            if (!pk->ready[d]->warm && (!first || t < first)) first = t;
        }
    }
    if (!first) return -1;
    return first > now ? (int)((first - now) / 1000000u) + 1 : 0;
}

static void prestart_refill(prekind_t *pk)
{
    init_t *in = init_clone(true, pk->egress, pk);
    if (in) pk->ready[pk->nready++] = in;
    else pk->failures++;
}

/* ---- in the spawner's loop ---- */

void pool_note_egress(void)
{
    P.egress_wanted = true;
}

bool ahead_wanted(size_t nbusy)
{
    return pool_wanted(nbusy) || zygote_wanted(nbusy) || prestart_wanted(nbusy);
}

/* One thing made ahead, the pool first: true when there was one to make. */
bool ahead_refill(size_t nbusy)
{
    prekind_t *pk;
    if (pool_wanted(nbusy)) pool_refill();
    else if ((pk = zygote_wanted(nbusy))) zygote_refill(pk);
    else if ((pk = prestart_wanted(nbusy))) prestart_refill(pk);
    else return false;
    return true;
}

size_t ahead_nfds(void)
{
    return (size_t)P.npool + (size_t)P.npre * (3 * PRE_SLOTS + 1);
}

size_t ahead_pollfds(struct pollfd *pf)
{
    P.npool_polled = P.npool;
    P.npre_polled = P.npre;
    for (int i = 0; i < P.npool; i++) pf[i] = (struct pollfd){ .fd = P.pool[i]->sync, .events = POLLIN };
    /* Pre-started inits (PRE_SLOTS places per kind, -1 when empty: poll skips it). */
    size_t pre0 = (size_t)P.npool;
    for (int i = 0; i < P.npre; i++)
        for (int d = 0; d < PRE_SLOTS; d++)
            pf[pre0 + (size_t)(i * PRE_SLOTS + d)] =
                (struct pollfd){ .fd = d < P.pre[i].nready ? P.pre[i].ready[d]->sync : -1, .events = POLLIN };
    /* Their runtimes' word that they are warm, then those of runtimes
     * taken before they were (PRE_SLOTS places per kind each). */
    size_t warm0 = pre0 + (size_t)P.npre * PRE_SLOTS, boot0 = warm0 + (size_t)P.npre * PRE_SLOTS;
    for (int i = 0; i < P.npre; i++)
        for (int d = 0; d < PRE_SLOTS; d++) {
            const prekind_t *pk = &P.pre[i];
            pf[warm0 + (size_t)(i * PRE_SLOTS + d)] =
                (struct pollfd){ .fd = d < pk->nready ? pk->ready[d]->warm_fd : -1, .events = POLLIN };
            pf[boot0 + (size_t)(i * PRE_SLOTS + d)] =
                (struct pollfd){ .fd = d < pk->nbooting ? pk->booting[d] : -1, .events = POLLIN };
        }
    /* Zygotes (one place per kind). */
    size_t zy0 = boot0 + (size_t)P.npre * PRE_SLOTS;
    for (int i = 0; i < P.npre; i++)
        pf[zy0 + (size_t)i] = (struct pollfd){ .fd = P.pre[i].zy.pid ? P.pre[i].zy.ctl : -1, .events = POLLIN };
    return zy0 + (size_t)P.npre;
}

void ahead_collect(const struct pollfd *pf)
{
    /* The layout as given: anything made since (an idle refill) was not polled. */
    size_t pre0 = (size_t)P.npool_polled, warm0 = pre0 + (size_t)P.npre_polled * PRE_SLOTS;
    size_t boot0 = warm0 + (size_t)P.npre_polled * PRE_SLOTS, zy0 = boot0 + (size_t)P.npre_polled * PRE_SLOTS;
    for (int i = P.npool; i-- > 0;) {
        size_t k = (size_t)i;
        if (k < pre0 && pf[k].revents && P.pool[i]->sync == pf[k].fd) pool_drop(i);
    }
    /* A pre-started init that spoke before its request failed (or its runtime did). */
    for (int i = 0; i < P.npre_polled; i++) {
        prekind_t *pk = &P.pre[i];
        for (int d = PRE_SLOTS; d-- > 0;) {
            size_t k = pre0 + (size_t)(i * PRE_SLOTS + d);
            if (pf[k].fd < 0 || !pf[k].revents || d >= pk->nready || pk->ready[d]->sync != pf[k].fd) continue;
            init_discard(prestart_remove(pk, d));
            pk->failures++;
        }
    }
    /* A runtime's word: warm (one byte), or its end closed (it died, or
     * spoke out of turn). The places are matched by fd: a discard above
     * moved the rest. */
    for (int i = 0; i < P.npre_polled; i++) {
        prekind_t *pk = &P.pre[i];
        for (int d = 0; d < PRE_SLOTS; d++) {
            size_t k = warm0 + (size_t)(i * PRE_SLOTS + d);
            if (pf[k].fd < 0 || !pf[k].revents) continue;
            for (int j = 0; j < pk->nready; j++) {
                init_t *in = pk->ready[j];
                if (in->warm_fd != pf[k].fd) continue;
                /* Kept open after the word: its end of file later is the
                 * runtime's end, noticed before a request takes it. */
                char c;
                ssize_t r = read(in->warm_fd, &c, 1);
                if (r == 1 && !in->warm) in->warm = true;
                else {
                    init_discard(prestart_remove(pk, j));
                    pk->failures++;
                }
                break;
            }
        }
        for (int d = PRE_SLOTS; d-- > 0;) {
            size_t k = boot0 + (size_t)(i * PRE_SLOTS + d);
            if (pf[k].fd < 0 || !pf[k].revents) continue;
            for (int b = 0; b < pk->nbooting; b++)
                if (pk->booting[b] == pf[k].fd) {
                    booting_remove(pk, b);
                    pk->settled = true;   /* the call that took it has its runtime */
                    break;
                }
        }
    }
    booting_expire(loop_now_ns());
    for (int i = 0; i < P.npre_polled; i++) {
        size_t k = zy0 + (size_t)i;
        if (pf[k].fd >= 0 && pf[k].revents && P.pre[i].zy.pid && P.pre[i].zy.ctl == pf[k].fd)
            zygote_event(&P.pre[i].zy);
    }
}

/* ---- warm orders' answers ---- */

/* A forkable kind is ready when its zygote is up (a fork is then a few
 * ms away); another when one of its runtimes said it is warm, or one taken
 * before it was did. Given up: no more starts ahead will be tried. */
static bool kind_settled(prekind_t *pk)
{
    if (pk->settled) return true;
    bool ready = pk->forkable && pk->zy.ready;
    for (int d = 0; !ready && !pk->forkable && d < pk->nready; d++) ready = pk->ready[d]->warm;
    bool gave_up = pk->failures >= 3 && (!pk->forkable || pk->zy.failures >= 5);
    pk->settled = ready || gave_up;
    return pk->settled;
}

static void answer_warm(uint32_t tag, int sock, bool ready)
{
    sp_resp_t resp = { .type = SP_WARM, .tag = tag, .err = ready ? 0 : ECHILD };
    if (!ready) snprintf(resp.msg, sizeof resp.msg, "its runtime could not be started ahead");
    sp_send(sock, &resp, sizeof resp, NULL, 0);
}

void prestart_answer_when_settled(prekind_t *pk, uint32_t tag, int sock)
{
    /* One order per kind is what a daemon sends; more than the list holds
     * are answered at once rather than kept waiting without end. */
    if (kind_settled(pk) || pk->nwaiting == (int)(sizeof pk->waiting / sizeof *pk->waiting))
        answer_warm(tag, sock, true);
    else pk->waiting[pk->nwaiting++] = tag;
}

void ahead_answer_warm(int sock)
{
    for (int i = 0; i < P.npre; i++) {
        prekind_t *pk = &P.pre[i];
        if (!pk->nwaiting || !kind_settled(pk)) continue;
        bool ready = !(pk->failures >= 3 && (!pk->forkable || pk->zy.failures >= 5));
        while (pk->nwaiting) answer_warm(pk->waiting[--pk->nwaiting], sock, ready);
    }
}

void ahead_shutdown(void)
{
    while (P.npool) init_discard(P.pool[--P.npool]);
    for (int i = 0; i < P.npre; i++) {
        while (P.pre[i].nready) init_discard(P.pre[i].ready[--P.pre[i].nready]);
        while (P.pre[i].nbooting) booting_remove(&P.pre[i], P.pre[i].nbooting - 1);
        zygote_stop(&P.pre[i].zy, false);
    }
}
