/* spawner_zygote.c — the Python zygote's two ends in C (docs/zygote.md):
 * the spawner starting, watching and ending it, and an instance's init
 * asking it for a runtime.
 *
 * The zygote is exec'd as the runtime's own command (bootstrap.py) with
 * _NIMBUS_ZYGOTE_FD=3, from a fork of the spawner that has entered the
 * template root in a mount namespace of its own and has no network, IPC or
 * hostname of the host's. It stays root, with only the capabilities
 * entering an instance and giving up root there take (its bounding set is
 * cut to them before the exec). Its first message is the sandbox's
 * configuration: the sandbox user and the seccomp program every runtime
 * gets, as bytes; it answers 'R' once it has imported the runtime.
 *
 * Per instance the spawner hands it one end of a fresh socketpair (a
 * "line") and the init the other; the init sends its namespaces, output,
 * /dev/null, cgroup and environment down it, and hears back the runtime's
 * pid inside. The spawner never waits for the zygote.
 *
 * Must never: give the zygote anything of a function (only lines: the fork
 * reads the instance's message), or let a runtime start outside the
 * instance's cgroup and namespaces.
 */
#define _GNU_SOURCE
#include "sandbox/spawner_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ZY_MAX_FDS 9         /* four namespaces, output, /dev/null, up to three cgroup.procs */

/* What the zygote starts with: nothing about any function (as a pre-started runtime). */
static char *const ZYGOTE_ENV[] = { "PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin", "LANG=en_US.UTF-8", "TZ=:UTC",
                                    "LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime",
                                    "_NIMBUS_ZYGOTE_FD=3", NULL };

/* The capabilities its forks need before they give up root: setns (SYS_ADMIN,
 * SYS_CHROOT for the mount namespace), the credential change (SETUID,
 * SETGID), and emptying their bounding set (SETPCAP). */
static bool kept_cap(int cap)
{
    return cap == CAP_SYS_ADMIN || cap == CAP_SYS_CHROOT || cap == CAP_SETUID || cap == CAP_SETGID ||
           cap == CAP_SETPCAP;
}

__attribute__((noreturn)) static void zygote_child(const spawner_env_t *env, int sock, const char *exe,
                                                   char *const *argv)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* Its own pid namespace, as fd 4: it goes back there after each fork into an instance's. */
    int pidns = open("/proc/self/ns/pid", O_RDONLY);
    if (pidns < 0 || unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0 || spawner_enter_root() < 0)
        _exit(120);
    sethostname("nimbus", 6);
    int dn = open("/dev/null", O_RDWR);
    if (dn < 0 || dup2(dn, 0) < 0 || dup2(dn, 1) < 0 || dup2(dn, 2) < 0 || dup2(sock, 3) < 0 || dup2(pidns, 4) < 0)
        _exit(121);
    syscall(SYS_close_range, 5u, ~0u, 0);
    spawner_set_rlimits();
    for (int cap = 0; cap <= env->cap_last; cap++)
        if (!kept_cap(cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) _exit(122);
    /* As an exec'd runtime starts (spawner_init.c's runtime_main). */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    if (chdir("/") < 0) _exit(123);
    execve(exe, argv, ZYGOTE_ENV);
    _exit(127);
}

int zygote_start(zygote_t *z, const spawner_env_t *env, const char *exe, char *const *argv)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    /* Its configuration, sent before it runs (the socket buffers it). */
    size_t nf = env->filter.prog.len;
    size_t len = 20 + nf * sizeof(struct sock_filter);
    char *msg = malloc(len);
    if (!msg) { close(sv[0]); close(sv[1]); errno = ENOMEM; return -1; }
    uint32_t head[4] = { (uint32_t)env->uid, (uint32_t)env->gid, (uint32_t)env->cap_last, (uint32_t)nf };
    memcpy(msg, "NZC1", 4);
    memcpy(msg + 4, head, sizeof head);
    memcpy(msg + 20, env->filter.prog.filter, nf * sizeof(struct sock_filter));
    int rc = sp_send(sv[0], msg, len, NULL, 0);
    free(msg);
    if (rc < 0) { int e = errno; close(sv[0]); close(sv[1]); errno = e; return -1; }
    int pidfd = -1;
    long pid = syscall(SYS_clone, SIGCHLD | CLONE_PIDFD, NULL, &pidfd, NULL, 0);
    if (pid == 0) zygote_child(env, sv[1], exe, argv);
    int e = errno;
    close(sv[1]);
    if (pid < 0) { close(sv[0]); errno = e; return -1; }
    *z = (zygote_t){ .pid = (pid_t)pid, .pidfd = pidfd, .ctl = sv[0], .failures = z->failures, .lost = z->lost };
    return 0;
}

void zygote_stop(zygote_t *z, bool failed)
{
    if (z->pid <= 0) return;
    syscall(SYS_pidfd_send_signal, z->pidfd, SIGKILL, NULL, 0);
    close(z->pidfd);
    close(z->ctl);
    if (failed) { z->failures++; z->lost = true; }
    *z = (zygote_t){ .failures = z->failures, .lost = z->lost };
}

void zygote_event(zygote_t *z)
{
    char b;
    ssize_t k = recv(z->ctl, &b, 1, MSG_DONTWAIT);
    if (k == 1 && b == 'R' && !z->ready) {
        z->ready = true;
        z->failures = 0;
        return;
    }
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) return;
    zygote_stop(z, true);   /* its end, or it said something else */
}

int zygote_line(zygote_t *z)
{
    int lp[2];
    if (!z->ready) return -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, lp) < 0) return -1;
    char b = 'L';
    if (sp_send(z->ctl, &b, 1, &lp[1], 1) < 0) {
        close(lp[0]);
        close(lp[1]);
        zygote_stop(z, true);
        return -1;
    }
    close(lp[1]);
    return lp[0];
}

/* ======================= the init's side ======================= */

static int send_fds(int line, const void *msg, size_t len, const int *fds, int n)
{
    struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
    union {
        char b[CMSG_SPACE(sizeof(int) * ZY_MAX_FDS)];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (n > 0) {
        m.msg_control = u.b;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
    }
    ssize_t w;
    do w = sendmsg(line, &m, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    return w == (ssize_t)len ? 0 : -1;
}

pid_t zygote_fork(int line, int out_w, int devnull, const int *cgprocs, int ncg, int timeout_ms)
{
    /* First its pid namespace alone: the zygote forks into it (the fork
     * reads the rest). */
    int pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (pidns < 0) return -1;
    int rc = send_fds(line, "P", 1, &pidns, 1);
    close(pidns);
    if (rc < 0) return -1;
    /* The order _nimbus_zygote.py's NAMESPACES names them. */
    static const char *const ns[] = { "cgroup", "uts", "ipc", "net" };
    enum { NS_N = sizeof ns / sizeof ns[0] };
    int fds[ZY_MAX_FDS], n = 0;
    rc = -1;
    for (; n < NS_N; n++) {
        char p[32];
        snprintf(p, sizeof p, "/proc/self/ns/%s", ns[n]);
        if ((fds[n] = open(p, O_RDONLY | O_CLOEXEC)) < 0) goto out;
    }
    fds[n++] = out_w;
    fds[n++] = devnull;
    uint32_t k = (uint32_t)(ncg < 3 ? ncg : 3);
    for (uint32_t i = 0; i < k; i++) fds[n++] = cgprocs[i];
    char msg[8];
    memcpy(msg, "NZA1", 4);
    memcpy(msg + 4, &k, 4);
    rc = send_fds(line, msg, sizeof msg, fds, n);
out:;
    int e = errno;
    for (int i = 0; i < n && i < NS_N; i++) close(fds[i]);
    errno = e;
    return rc < 0 ? -1 : zygote_wait(line, timeout_ms);
}

int zygote_enter(int line)
{
    int mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (mnt < 0) return -1;
    int rc = send_fds(line, "M", 1, &mnt, 1);
    int e = errno;
    close(mnt);
    errno = e;
    return rc;
}

int zygote_go(int line, char *const *envp)
{
    size_t len = 1;
    for (size_t i = 0; envp[i]; i++) len += strlen(envp[i]) + 1;
    char *msg = malloc(len);
    if (!msg) return -1;
    msg[0] = 'G';
    char *q = msg + 1;
    for (size_t i = 0; envp[i]; i++) q = stpcpy(q, envp[i]) + 1;
    int rc = send_fds(line, msg, len, NULL, 0);
    free(msg);
    return rc;
}

pid_t zygote_wait(int line, int timeout_ms)
{
    struct pollfd pf = { .fd = line, .events = POLLIN };
    int r;
    do r = poll(&pf, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) { errno = ETIMEDOUT; return -1; }
    int32_t rep[2];
    ssize_t k = r > 0 ? recv(line, rep, sizeof rep, 0) : -1;
    if (k == 0 || (k < 0 && errno == ECONNRESET)) { errno = 0; return -1; }
    if (k != (ssize_t)sizeof rep) { errno = EIO; return -1; }
    if (rep[0]) { errno = rep[0]; return -1; }
    if (rep[1] <= 1) { errno = EIO; return -1; }
    return (pid_t)rep[1];
}
