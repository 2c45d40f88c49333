/* sandbox.c — instances' process trees: in a sandbox built by the spawner
 * (spawner.c), or, with --insecure-no-sandbox, as plain child processes;
 * and commands started in them (`nimbus exec`): by the spawner, or,
 * unsandboxed, as plain children too (a fork, which may allocate: exec is
 * rare and the daemon's size does not matter there).
 *
 * Unsandboxed, it uses clone(CLONE_VM|CLONE_VFORK) so starting a process costs the same
 * whatever the daemon's size (a fork would copy its page tables). The child
 * runs on its own small stack, only calls async-signal-safe functions, and
 * reports an exec failure through a shared variable the parent reads after
 * the vfork returns. Must never: allocate or lock in the child.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/loop.h"
#include "sandbox/spawner.h"

static bool g_sandboxed;

void sandbox_configure(bool sandboxed) { g_sandboxed = sandboxed; }
bool sandbox_enabled(void) { return g_sandboxed; }

typedef struct {
    const sandbox_spec_t *spec;
    int out_w;               /* write end for the child's stdout+stderr */
    const cgroup_t *cg;
    char *const *envp;
    volatile int child_errno; /* set by the child if exec fails */
    volatile int stage;      /* where it failed: 1 cgroup, 2 chdir, 3 exec */
} child_args_t;

static int child_main(void *arg)
{
    child_args_t *a = arg;
    /* Own session and process group: ending the instance ends its tree even
     * without a cgroup, and it never gets the daemon's terminal signals. */
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (a->cg && cgroup_enter_self(a->cg) < 0) { a->stage = 1; goto fail; }
    if (chdir(a->spec->code_dir) < 0) { a->stage = 2; goto fail; }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) { dup2(devnull, 0); close(devnull); }
    /* One pipe for both, as Lambda merges them into one log stream: order
     * between the two is kept, and draining it is one read. */
    dup2(a->out_w, 1);
    dup2(a->out_w, 2);
    /* Everything else the daemon holds is O_CLOEXEC. */
    execve(a->spec->exe, a->spec->argv, a->envp);
    a->stage = 3;
fail:
    a->child_errno = errno;
    _exit(127);
}

static int make_api_socket(sandbox_proc_t *p, err_t *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return err_sys(err, "runtime API socket");
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        err_sys(err, "runtime API socket");
        close(fd);
        return -1;
    }
    p->api_fd = fd;
    snprintf(p->api_addr, sizeof p->api_addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    return 0;
}

static int spawn_plain(const sandbox_spec_t *spec, sandbox_proc_t *p, err_t *err);

typedef struct {
    sandbox_done_fn done;
    void *arg;
} start_t;

static void started(void *arg, int rc, const err_t *err)
{
    start_t st = *(start_t *)arg;
    free(arg);
    st.done(st.arg, rc < 0 ? err : NULL);
}

int sandbox_start(const sandbox_spec_t *spec, sandbox_proc_t *p, sandbox_done_fn done, void *arg, err_t *err)
{
    memset(p, 0, sizeof *p);
    p->pidfd = p->out_fd = p->err_fd = p->api_fd = p->status_fd = p->peak_fd = p->oom_fd = -1;
    if (!g_sandboxed) {
        uint64_t t0 = loop_now_ns();
        int rc = spawn_plain(spec, p, err);
        p->spawn_ns = loop_now_ns() - t0;
        return rc < 0 ? -1 : 1;
    }
    start_t *st = malloc(sizeof *st);
    if (!st) return err_set(err, ERR_SYS, "out of memory");
    *st = (start_t){ .done = done, .arg = arg };
    if (spawner_spawn(spec, p, started, st, err) < 0) { free(st); return -1; }
    return 0;
}

void sandbox_warm(const sandbox_spec_t *spec)
{
    if (g_sandboxed) spawner_warm(spec);
}

bool sandbox_warming(const sandbox_spec_t *spec)
{
    return g_sandboxed && spawner_warming(spec);
}

typedef struct {
    bool finished;
    err_t err;
} wait_t;

static void wait_done(void *arg, const err_t *err)
{
    wait_t *w = arg;
    w->finished = true;
    if (err) w->err = *err;
}

int sandbox_spawn(const sandbox_spec_t *spec, sandbox_proc_t *p, err_t *err)
{
    wait_t w = { .finished = false };
    int rc = sandbox_start(spec, p, wait_done, &w, err);
    if (rc != 0) return rc < 0 ? -1 : 0;
    while (!w.finished) spawner_dispatch(true);
    if (w.err.msg[0]) { *err = w.err; return -1; }
    return 0;
}

int sandbox_event_fd(void) { return g_sandboxed ? spawner_answer_fd() : -1; }
void sandbox_dispatch(void) { spawner_dispatch(false); }

static int spawn_plain(const sandbox_spec_t *spec, sandbox_proc_t *p, err_t *err)
{
    int outp[2] = { -1, -1 };
    char **envp = NULL;
    char *stack = NULL;
    const size_t stack_size = 64 * 1024;

    if (make_api_socket(p, err) < 0) return -1;
    if (pipe2(outp, O_CLOEXEC) < 0) {
        err_sys(err, "pipe");
        goto fail;
    }
    if (cgroup_available()) {
        err_t cerr;
        p->cg = cgroup_create(spec->id, &cerr);  /* best effort: accounting only */
    }
    size_t n = 0;
    while (spec->env[n]) n++;
    envp = calloc(n + 4, sizeof *envp);
    /* The runtime API's address, under Lambda's name and SCF's two. */
    char api_env[64], scf_host[64], scf_port[64];
    snprintf(api_env, sizeof api_env, "AWS_LAMBDA_RUNTIME_API=%s", p->api_addr);
    snprintf(scf_host, sizeof scf_host, "SCF_RUNTIME_API=127.0.0.1");
    snprintf(scf_port, sizeof scf_port, "SCF_RUNTIME_API_PORT=%s", strchr(p->api_addr, ':') + 1);
    if (!envp) { err_set(err, ERR_SYS, "out of memory"); goto fail; }
    memcpy(envp, spec->env, n * sizeof *envp);
    envp[n] = api_env;
    envp[n + 1] = scf_host;
    envp[n + 2] = scf_port;
    stack = malloc(stack_size);
    if (!stack) { err_set(err, ERR_SYS, "out of memory"); goto fail; }

    child_args_t a = { .spec = spec, .out_w = outp[1], .cg = p->cg, .envp = envp };
    int pidfd = -1;
    pid_t pid = clone(child_main, stack + stack_size, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
                      &a, &pidfd);
    if (pid < 0) { err_sys(err, "clone"); goto fail; }
    p->pid = pid;
    p->pidfd = pidfd;
    if (a.stage) {
        /* The child already _exit()ed; collect it now. */
        siginfo_t si;
        waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
        errno = a.child_errno;
        const char *what = a.stage == 1 ? "join cgroup" : a.stage == 2 ? "chdir to code" : "exec";
        err_sys(err, "%s %s", what, a.stage == 3 ? spec->exe : spec->code_dir);
        close(pidfd);
        p->pidfd = -1;
        goto fail;
    }
    close(outp[1]);
    p->out_fd = outp[0];
    fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    free(stack);
    free(envp);
    return 0;
fail:
    for (int i = 0; i < 2; i++)
        if (outp[i] >= 0) close(outp[i]);
    if (p->api_fd >= 0) close(p->api_fd);
    p->api_fd = -1;
    if (p->cg) cgroup_destroy(p->cg);
    p->cg = NULL;
    free(stack);
    free(envp);
    return -1;
}

/* Sandboxed: the pid namespace's init. SIGKILL ends the namespace; it
 * forwards SIGTERM to the runtime. A daemon that dropped its privileges
 * may not signal it: the spawner does. */
static void signal_init(sandbox_proc_t *p, int sig)
{
    if (p->pidfd >= 0 && syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) == 0) return;
    if (errno == ESRCH) return;   /* already gone */
    spawner_signal(p->handle, sig);
}

void sandbox_kill(sandbox_proc_t *p)
{
    if (p->sandboxed) { signal_init(p, SIGKILL); return; }
    if (p->pid > 0) kill(-p->pid, SIGKILL);
    if (p->cg) cgroup_kill_all(p->cg);
}

void sandbox_terminate(sandbox_proc_t *p)
{
    if (p->sandboxed) { signal_init(p, SIGTERM); return; }
    if (p->pid > 0) kill(-p->pid, SIGTERM);
}

int sandbox_reap(sandbox_proc_t *p, int *si_code, int *status)
{
    if (p->sandboxed) {
        /* The init is the spawner's child, not ours: it reports how the
         * runtime ended on a pipe before exiting. Nothing there means the
         * init itself was killed (timeout, OOM, shutdown). */
        int32_t rep[2];
        if (p->status_fd >= 0 && read(p->status_fd, rep, sizeof rep) == (ssize_t)sizeof rep) {
            *si_code = rep[0];
            *status = rep[1];
        } else {
            *si_code = CLD_KILLED;
            *status = SIGKILL;
        }
        return 0;
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (p->pidfd < 0 || waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG) < 0) return -1;
    if (si.si_pid == 0) return -1;  /* not exited yet */
    *si_code = si.si_code;
    *status = si.si_status;
    return 0;
}

/* Without a cgroup: the first process' own high-water mark. Honest but
 * partial (children are not counted), and resettable via clear_refs. */
static int64_t proc_hwm(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    int64_t kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

int64_t sandbox_memory_peak(const sandbox_proc_t *p)
{
    if (p->sandboxed && p->peak_fd >= 0) return cgroup_fd_memory_peak(p->peak_fd);
    if (p->cg) {
        int64_t v = cgroup_memory_peak(p->cg);
        if (v >= 0) return v;
    }
    return proc_hwm(p->pid);
}

void sandbox_memory_reset(sandbox_proc_t *p)
{
    if (p->sandboxed && p->peak_fd >= 0) { cgroup_fd_memory_peak_reset(p->peak_fd); return; }
    if (p->cg && cgroup_memory_peak_reset(p->cg) == 0) return;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)p->pid);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t w = write(fd, "5", 1);   /* 5 = reset the peak RSS */
        (void)w;
        close(fd);
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

void sandbox_release(sandbox_proc_t *p)
{
    if (p->sandboxed) {
        /* The spawner kills what is left and removes the cgroup once empty,
         * without making this thread wait. */
        spawner_release(p->handle);
        close_fd(&p->pidfd);
        close_fd(&p->out_fd);
        close_fd(&p->err_fd);
        close_fd(&p->status_fd);
        close_fd(&p->peak_fd);
        close_fd(&p->oom_fd);
        cgroup_forget(p->cg);
        p->cg = NULL;
        return;
    }
    sandbox_kill(p);
    if (p->cg) cgroup_destroy(p->cg);
    p->cg = NULL;
    if (p->pidfd >= 0) close(p->pidfd);
    if (p->out_fd >= 0) close(p->out_fd);
    if (p->err_fd >= 0) close(p->err_fd);
    p->pidfd = p->out_fd = p->err_fd = -1;
}

bool sandbox_oom_killed(const sandbox_proc_t *p)
{
    /* The group is new with the instance: any OOM kill in it is its own. */
    return p->sandboxed && cgroup_fd_oom_kills(p->oom_fd) > 0;
}

int sandbox_socket(sandbox_proc_t *p, err_t *err)
{
    if (p->sandboxed && p->own_net) return spawner_net_socket(p->handle, err);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return err_sys(err, "socket");
    return fd;
}

const sandbox_ops_t sandbox_ops = {
    .enabled = sandbox_enabled,
    .start = sandbox_start,
    .kill = sandbox_kill,
    .terminate = sandbox_terminate,
    .reap = sandbox_reap,
    .memory_peak = sandbox_memory_peak,
    .memory_reset = sandbox_memory_reset,
    .release = sandbox_release,
    .oom_killed = sandbox_oom_killed,
    .warm = sandbox_warm,
    .warming = sandbox_warming,
};

/* ======================= nimbus exec ======================= */

void sandbox_kill_session(int procfd, pid_t sid)
{
    if (sid <= 0) return;
    kill(-sid, SIGKILL);
    /* A shell's jobs may have groups of their own in the same session. */
    int dfd = procfd >= 0 ? openat(procfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                          : open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "%s/stat", e->d_name);
        int fd = openat(dirfd(d), path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = '\0';
        /* "pid (comm) state ppid pgrp session ...": comm may hold ')' */
        char *rp = strrchr(buf, ')'), state;
        int ppid, pgrp, session;
        if (rp && sscanf(rp + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) == 4 && (session == sid || pgrp == sid))
            kill((pid_t)atoi(e->d_name), SIGKILL);
    }
    closedir(d);
}

char **sandbox_environ_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    char *blk = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 8192) {
            char *nb = realloc(blk, cap + 65536);
            if (!nb) { free(blk); close(fd); errno = ENOMEM; return NULL; }
            blk = nb;
            cap += 65536;
        }
        ssize_t k = read(fd, blk + len, cap - len - 1);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) { int e = errno; free(blk); close(fd); errno = e; return NULL; }
        if (k == 0) break;
        len += (size_t)k;
    }
    close(fd);
    if (len && blk[len - 1] != '\0') blk[len++] = '\0';   /* room was kept */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += blk[i] == '\0';
    /* One block: the pointers, then the strings. */
    char **env = malloc((n + 1) * sizeof *env + len);
    if (!env) { free(blk); errno = ENOMEM; return NULL; }
    char *strs = (char *)(env + n + 1);
    if (len) memcpy(strs, blk, len);
    free(blk);
    size_t k = 0;
    for (size_t i = 0; i < len && k < n; i += strlen(strs + i) + 1) env[k++] = strs + i;
    env[k] = NULL;
    return env;
}

/* Unsandboxed, in the fork: the instance is a plain process of this user,
 * so there is no boundary to cross, only its cgroup, working directory
 * and environment to take. */
__attribute__((noreturn)) static void plain_exec_child(const sandbox_proc_t *p, char *const *argv, char *const *env,
                                                       int out_w, int in_r, bool tty)
{
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (tty) ioctl(in_r, TIOCSCTTY, 0);   /* the session's terminal */
    if (in_r < 0) in_r = open("/dev/null", O_RDONLY);
    if (in_r >= 0) dup2(in_r, 0);
    dup2(out_w, 1);
    dup2(out_w, 2);
    const char *what = "join the instance's cgroup";
    if (p->cg && cgroup_enter_self(p->cg) < 0) goto fail;
    what = "read the instance's environment";
    if (!env && !(env = sandbox_environ_of(p->pid))) goto fail;
    char link[64], cwd[4096];
    snprintf(link, sizeof link, "/proc/%d/cwd", (int)p->pid);
    ssize_t n = readlink(link, cwd, sizeof cwd - 1);
    cwd[n > 0 ? n : 0] = '\0';
    what = "chdir";
    if (chdir(n > 0 ? cwd : "/") < 0) goto fail;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], "PATH=", 5) == 0) path = env[i] + 5;
    setenv("PATH", path, 1);   /* what execvpe searches */
    execvpe(argv[0], argv, env);
    if (errno == ENOENT) {   /* as a shell says it */
        dprintf(2, "nimbus exec: %s: command not found\n", argv[0]);
        _exit(127);
    }
    what = argv[0];
fail:
    dprintf(2, "nimbus exec: %s: %s\n", what, strerror(errno));
    _exit(126);
}

/* Unsandboxed: a terminal of the host's devpts (the daemon's own user's). */
static int plain_tty(const sandbox_exec_io_t *io, int *master, int *peer)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -1;
    struct winsize ws = { .ws_row = (unsigned short)io->rows, .ws_col = (unsigned short)io->cols };
    int pe = -1;
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ioctl(m, TIOCSWINSZ, &ws) < 0 ||
        (pe = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        int e = errno;
        close(m);
        errno = e;
        return -1;
    }
    *master = m;
    *peer = pe;
    return 0;
}

int sandbox_exec(const sandbox_proc_t *p, char *const *argv, char *const *env, const sandbox_exec_io_t *io,
                 sandbox_exec_t *x, sandbox_done_fn done, void *arg, err_t *err)
{
    memset(x, 0, sizeof *x);
    x->out_fd = x->exit_fd = x->kill_fd = x->in_fd = -1;
    bool tty = io && io->tty, in_pipe = io && !io->tty && io->stdin_pipe;
    if (tty && (io->rows - 1 > 65534u || io->cols - 1 > 65534u)) return err_set(err, ERR_INVALID, "terminal size out of range");
    x->tty = tty;
    x->in_wanted = tty || in_pipe;
    if (p->sandboxed) {
        start_t *st = malloc(sizeof *st);
        if (!st) return err_set(err, ERR_SYS, "out of memory");
        *st = (start_t){ .done = done, .arg = arg };
        if (spawner_exec(p->handle, argv, env, io, x, started, st, err) < 0) { free(st); return -1; }
        return 0;
    }
    int out[2] = { -1, -1 }, in[2] = { -1, -1 };
    if (tty ? plain_tty(io, &out[0], &out[1]) < 0 : pipe2(out, O_CLOEXEC) < 0) return err_sys(err, tty ? "terminal" : "pipe");
    if (tty && (in[1] = fcntl(out[0], F_DUPFD_CLOEXEC, 0)) < 0) in[1] = -1;
    if ((tty && in[1] < 0) || (in_pipe && pipe2(in, O_CLOEXEC) < 0)) {
        int e = errno;
        close(out[0]);
        close(out[1]);
        errno = e;
        return err_sys(err, "pipe");
    }
    pid_t pid = fork();
    if (pid == 0) plain_exec_child(p, argv, env, out[1], tty ? out[1] : in[0], tty);
    int e = errno;
    close(out[1]);
    if (in[0] >= 0) close(in[0]);
    int pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    if (pid > 0 && pidfd < 0) e = errno;
    if (pidfd < 0) {
        if (pid > 0) { kill(pid, SIGKILL); waitpid(pid, NULL, 0); }
        close(out[0]);
        if (in[1] >= 0) close(in[1]);
        errno = e;
        return err_sys(err, "fork");
    }
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    if (in[1] >= 0) fcntl(in[1], F_SETFL, O_NONBLOCK);
    x->out_fd = out[0];
    x->in_fd = in[1];
    x->exit_fd = pidfd;
    x->pid = pid;
    return 1;
}

int sandbox_exec_resize(sandbox_exec_t *x, unsigned rows, unsigned cols)
{
    if (!x->tty || x->in_fd < 0) { errno = ENOTTY; return -1; }
    if (rows - 1 > 65534u || cols - 1 > 65534u) { errno = EINVAL; return -1; }
    struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
    return ioctl(x->in_fd, TIOCSWINSZ, &ws);
}

int sandbox_exec_status(sandbox_exec_t *x, int *code)
{
    if (!x->ended && x->sandboxed) {
        /* The spawner's helper reports (si_code, status) when it ends. */
        int32_t rep[2];
        ssize_t k = read(x->exit_fd, rep, sizeof rep);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) return -1;
        if (k == (ssize_t)sizeof rep) x->code = rep[0] == CLD_EXITED ? rep[1] : 128 + rep[1];
        else x->code = 128 + SIGKILL;   /* the helper went without a word: killed with the instance */
        x->ended = true;
    } else if (!x->ended) {
        /* Not reaped (WNOWAIT) until released: its pid, which names its
         * group and session, stays its own while it may be killed. */
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PIDFD, (id_t)x->exit_fd, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
            if (errno == EINTR) return -1;
            si.si_code = CLD_KILLED;
            si.si_status = SIGKILL;
        } else if (si.si_pid == 0) {
            return -1;
        }
        x->code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
        x->ended = true;
    }
    *code = x->code;
    return 0;
}

void sandbox_exec_kill(sandbox_exec_t *x)
{
    if (x->sandboxed) {
        close_fd(&x->kill_fd);   /* the helper kills its group and session */
        return;
    }
    if (x->pid > 0) sandbox_kill_session(-1, x->pid);
}

void sandbox_exec_release(sandbox_exec_t *x)
{
    sandbox_exec_kill(x);
    if (!x->sandboxed && x->exit_fd >= 0) {
        /* Reap it: it ended (the caller saw its status), or, released
         * early, it was killed just now and is not waited for. */
        siginfo_t si;
        while (waitid(P_PIDFD, (id_t)x->exit_fd, &si, WEXITED | WNOHANG) < 0 && errno == EINTR) {}
    }
    close_fd(&x->out_fd);
    close_fd(&x->exit_fd);
    close_fd(&x->in_fd);
    x->pid = 0;
}
