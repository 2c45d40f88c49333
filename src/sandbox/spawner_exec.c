/* spawner_exec.c — `nimbus exec` on the spawner's side: the helper, a fork
 * of the spawner, that enters a live instance, starts a command there as
 * confined as the instance's own runtime, and watches it
 * (spawner_exec_main in spawner_proto.h).
 *
 * The helper joins the instance's cgroup, takes the runtime's root, working
 * directory and (when the daemon gave none) environment
 * while the host's /proc still names it, then enters its namespaces.
 * Rootless, the runtime's user namespace is nested in the one the spawner
 * is root of, which owns every other namespace of the instance: those come
 * first, the nested one last. The helper forks the command, which lands in
 * the instance's pid namespace and gives everything up before its exec: the
 * bounding set (full again after entering a user namespace), supplementary
 * groups, uid/gid to the sandbox user, every capability, then no_new_privs
 * and the seccomp filter. The helper stays outside the pid namespace,
 * reports the command's end on the status pipe and, when the kill pipe
 * speaks or closes (the daemon's timeout, the daemon done, the daemon
 * gone), kills the command's process group and session, then exits. It
 * keeps the command unreaped until then, so the pid naming that group and
 * session cannot pass to another process meanwhile.
 *
 * Must never: let the command run with a capability, without the filter,
 * or as any user but the sandbox's; keep an fd of the spawner's; outlive
 * the kill pipe.
 */
#define _GNU_SOURCE
#include "sandbox/spawner_proto.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_CANNOT 126   /* as a shell says: found, but it could not be run */
#define EXIT_NOT_FOUND 127

typedef struct {
    int out_w, status_w, kill_r;
} exec_fds_t;

static void report(int status_w, int32_t code, int32_t status)
{
    int32_t rep[2] = { code, status };
    ssize_t w = write(status_w, rep, sizeof rep);
    (void)w;
}

/* Before the command exists: why not goes to its output, 126 to its status. */
__attribute__((noreturn)) static void helper_fail(const exec_fds_t *f, const char *what)
{
    dprintf(f->out_w, "nimbus exec: %s: %s\n", what, strerror(errno));
    report(f->status_w, CLD_EXITED, EXIT_CANNOT);
    _exit(EXIT_CANNOT);
}

/* In the command, whose stderr is the output pipe already. */
__attribute__((noreturn)) static void command_fail(const char *what)
{
    dprintf(2, "nimbus exec: %s: %s\n", what, strerror(errno));
    _exit(EXIT_CANNOT);
}

/* Its exec failed: 127 when there is no such command, else 126, as a shell. */
__attribute__((noreturn)) static void exec_failed(const char *cmd)
{
    if (errno == ENOENT) {
        dprintf(2, "nimbus exec: %s: command not found\n", cmd);
        _exit(EXIT_NOT_FOUND);
    }
    command_fail(cmd);
}

/* Close every fd from 3 up but these (-1: none). */
static void close_all_but(int a, int b, int c, int d)
{
    int keep[4] = { a, b, c, d };
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (keep[j] < keep[i]) { int t = keep[i]; keep[i] = keep[j]; keep[j] = t; }
    unsigned lo = 3;
    for (int i = 0; i < 4; i++) {
        if (keep[i] < 0) continue;
        if ((unsigned)keep[i] > lo) syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
        if ((unsigned)keep[i] + 1 > lo) lo = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0u, 0);
}

/* The runtime: the init's first child (orphans it reaps come after it). */
static pid_t runtime_of(pid_t init)
{
    char p[80];
    snprintf(p, sizeof p, "/proc/%d/task/%d/children", (int)init, (int)init);
    FILE *f = fopen(p, "re");
    int child = 0;
    if (f) {
        if (fscanf(f, "%d", &child) != 1) child = 0;
        fclose(f);
    }
    return child > 0 ? (pid_t)child : init;
}

int spawner_exec_tty(pid_t init_pid, unsigned rows, unsigned cols, int *master, int *peer)
{
    /* The runtime's root, the init's as well: the init itself may not be
     * looked into (rootless, it is not dumpable to a user namespace). */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/root", (int)runtime_of(init_pid));
    int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return errno;
    /* Inside that root only, through no link: what the instance's own
     * processes could have put on the way is never followed. */
    struct open_how how = { .flags = O_RDWR | O_NOCTTY | O_CLOEXEC,
                            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
    int m = (int)syscall(SYS_openat2, root, "dev/pts/ptmx", &how, sizeof how);
    int e = errno;
    close(root);
    if (m < 0) return e == ENOENT ? ENOTTY : e;
    struct statfs fs;
    int unlock = 0;
    struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
    if (fstatfs(m, &fs) < 0 || fs.f_type != DEVPTS_SUPER_MAGIC) { close(m); return ENOTTY; }
    int p = -1;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCSWINSZ, &ws) < 0 ||
        (p = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        e = errno;
        close(m);
        return e;
    }
    *master = m;
    *peer = p;
    return 0;
}

static bool same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

static void enter_namespaces(const exec_fds_t *f, pid_t target)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)target);
    int user_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (user_fd < 0) helper_fail(f, path);
    if (same_file(user_fd, "/proc/self/ns/user")) {
        close(user_fd);   /* as root: the runtime has no user namespace of its own */
        user_fd = -1;
    } else {
        /* Nested one level in ours (rootless), or deeper: the outer one first. */
        int outer = ioctl(user_fd, NS_GET_PARENT);
        if (outer >= 0 && !same_file(outer, "/proc/self/ns/user") && setns(outer, CLONE_NEWUSER) < 0)
            helper_fail(f, "the instance's user namespace");
        if (outer >= 0) close(outer);
    }
    /* mount last: the others are named through this /proc. pid applies to
     * the next fork. */
    static const struct { const char *name; int flag; } ns[] = {
        { "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
        { "net", CLONE_NEWNET },       { "pid", CLONE_NEWPID }, { "mnt", CLONE_NEWNS },
    };
    int fds[sizeof ns / sizeof ns[0]];
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        char self[64];
        snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)target, ns[i].name);
        snprintf(self, sizeof self, "/proc/self/ns/%s", ns[i].name);
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) helper_fail(f, path);
        if (same_file(fds[i], self)) {   /* Network "host": the spawner's own */
            close(fds[i]);
            fds[i] = -1;
        }
    }
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        if (fds[i] < 0) continue;
        if (setns(fds[i], ns[i].flag) < 0) helper_fail(f, ns[i].name);
        close(fds[i]);
    }
    if (user_fd >= 0 && setns(user_fd, CLONE_NEWUSER) < 0) helper_fail(f, "the runtime's user namespace");
    if (user_fd >= 0) close(user_fd);
}

/* The command, in the instance's pid namespace: give up everything, exec. */
__attribute__((noreturn)) static void command(const spawner_env_t *env, char *const *argv, char *const *envp,
                                              int out_w, int in_r, bool tty)
{
    setsid();   /* its session: what a kill ends */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    static const int reset[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU };
    for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++) signal(reset[i], SIG_DFL);
    /* A terminal: the session's own, so ^C and a resize reach its foreground. */
    if (tty && ioctl(in_r, TIOCSCTTY, 0) < 0) command_fail("the terminal");
    if (in_r < 0) in_r = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in_r < 0 || dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0) _exit(EXIT_CANNOT);
    syscall(SYS_close_range, 3u, ~0u, 0u);
    for (int cap = 0; cap <= env->cap_last; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) command_fail("drop the bounding set");
    gid_t g = env->gid;
    /* Rootless, setgroups is denied in the runtime's namespace (it has none). */
    if (!env->rootless && setgroups(1, &g) < 0) command_fail("setgroups");
    if (setresgid(g, g, g) < 0 || setresuid(env->uid, env->uid, env->uid) < 0) command_fail("drop to the sandbox user");
    /* Rootless, the uid was the sandbox's already in that namespace, so the
     * change cleared nothing: clear every set by hand. */
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) < 0) command_fail("drop capabilities");
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) command_fail("no_new_privs");
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (size_t i = 0; envp[i]; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0) path = envp[i] + 5;
    if (setenv("PATH", path, 1) < 0) command_fail("PATH");   /* what execvpe searches */
    if (seccomp_filter_install(&env->filter) < 0) command_fail("seccomp");
    execvpe(argv[0], argv, envp);
    exec_failed(argv[0]);
}

__attribute__((noreturn)) void spawner_exec_main(const spawner_env_t *env, const cgroup_t *cg, pid_t init_pid,
                                                 const sp_req_view_t *req, int out_w, int status_w, int kill_r,
                                                 int in_r)
{
    exec_fds_t f = { out_w, status_w, kill_r };
    prctl(PR_SET_NAME, "nimbus-exec", 0, 0, 0);
    util_proctitle_set("nimbus-exec");
    close_all_but(out_w, status_w, kill_r, in_r);
    /* The host's /proc, kept: it names the command and its session after
     * the mount namespace is the instance's. */
    int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) helper_fail(&f, "/proc");
    if (cg && cgroup_enter_self(cg) < 0) helper_fail(&f, "join the instance's cgroup");
    pid_t target = runtime_of(init_pid);
    char *const *envp = (char *const *)req->env;
    if (req->hdr.flags & SPF_OWN_ENV) {
        char **own = sandbox_environ_of(target);
        if (!own) helper_fail(&f, "the instance's environment");
        envp = own;
    }
    char link[64], cwd[4096];
    snprintf(link, sizeof link, "/proc/%d/cwd", (int)target);
    ssize_t n = readlink(link, cwd, sizeof cwd - 1);
    cwd[n > 0 ? n : 0] = '\0';
    snprintf(link, sizeof link, "/proc/%d/root", (int)target);
    int rootfd = open(link, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) helper_fail(&f, "the instance's root");
    spawner_set_rlimits();   /* the instance's own (prlimit on the runtime may lack CAP_SYS_RESOURCE) */
    enter_namespaces(&f, target);
    if (fchdir(rootfd) < 0 || chroot(".") < 0) helper_fail(&f, "enter the instance's root");
    close(rootfd);
    if ((n <= 0 || chdir(cwd) < 0) && chdir("/") < 0) helper_fail(&f, "chdir");
    /* Set after the credential change of entering a user namespace (which
     * clears it): with the spawner gone, the helper goes too (the command
     * then dies with the instance, whose init goes with the spawner). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() == 1) _exit(EXIT_CANNOT);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    pid_t cmd = fork();
    if (cmd < 0) helper_fail(&f, "fork");
    if (cmd == 0) {
        close(procfd);
        close(status_w);
        close(kill_r);
        command(env, (char *const *)req->argv, envp, out_w, in_r, (req->hdr.flags & SPF_EXEC_TTY) != 0);
    }
    close(out_w);
    if (in_r >= 0 && in_r != out_w) close(in_r);
    int pidfd = (int)syscall(SYS_pidfd_open, cmd, 0);
    bool ended = false;
    siginfo_t si;
    for (;;) {
        struct pollfd pf[2] = { { .fd = kill_r, .events = POLLIN }, { .fd = ended ? -1 : pidfd, .events = POLLIN } };
        if (pidfd < 0) break;   /* cannot watch it: end it now rather than lose it */
        int k = poll(pf, 2, -1);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) break;
        if (pf[1].revents && !ended) {
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)cmd, &si, WEXITED | WNOWAIT | WNOHANG) == 0 && si.si_pid == cmd) {
                report(status_w, si.si_code, si.si_status);
                ended = true;
            }
        }
        if (pf[0].revents) break;   /* a kill, or the daemon done or gone */
    }
    sandbox_kill_session(procfd, cmd);
    if (!ended) {
        memset(&si, 0, sizeof si);
        while (waitid(P_PID, (id_t)cmd, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR) {}
        report(status_w, si.si_code, si.si_status);
    }
    while (waitpid(cmd, NULL, 0) < 0 && errno == EINTR) {}
    _exit(0);
}
