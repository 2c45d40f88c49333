/* spawner_init.c — the sandbox's root and each instance's first process,
 * run by the spawner (spawner.c) and its forks.
 *
 * The template root is built once, in the spawner's private mount
 * namespace: a tmpfs holding read-only binds of /usr (and /bin, /lib... as
 * the host has them), the /etc essentials, device nodes, the runtime dir
 * at /var/runtime and the sandbox user's passwd entry, then remounted
 * read-only. Every instance's mount namespace is a copy of that one, so per
 * instance only the code (/var/task) and /tmp are mounted before
 * pivot_root.
 *
 * An instance's first process ("init", pid 1 of its pid namespace) is a
 * fork of the spawner made before its request is known: it brings up its
 * loopback, makes the runtime-API socket and mounts its /proc, then waits.
 * Given the request it mounts the code and /tmp, enters the root, drops
 * every privilege, installs the seccomp filter and starts the runtime
 * (vfork+exec), hands the socket back, then only reaps, forwards SIGTERM
 * and reports the runtime's end on a pipe before exiting — which makes the
 * kernel kill everything left in the namespace.
 *
 * Rootless (the daemon is not root), the spawner is root of a user
 * namespace of its own; the runtime gets a nested one in which it is the
 * sandbox user and which has no rights over the rest.
 *
 * Must never: act on a request it has not checked, or give the runtime a
 * capability, a host mount, or an fd it did not ask for.
 */
#define _GNU_SOURCE
#include "sandbox/spawner_proto.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/loop.h"

#define ROOT_DIR "/run/nimbus-sandbox"   /* the template root's mount point (spawner's ns only) */
#define API_PORT 9001
#define ZYGOTE_WAIT_MS 3000   /* a fork that has not reported by then fails the start */

static const char *const STAGES[] = { "", "join cgroup", "network", "runtime API socket", "mount /proc", "request",
                                      "mount code", "mount /tmp", "pivot_root", "user namespace",
                                      "drop privileges", "seccomp", "exec", "mount layers at /opt" };

const char *spawner_stage_name(int stage)
{
    return stage > 0 && stage < (int)(sizeof STAGES / sizeof STAGES[0]) ? STAGES[stage] : "start";
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    ssize_t w = write(fd, text, strlen(text));
    close(fd);
    return w == (ssize_t)strlen(text) ? 0 : -1;
}

/* ======================= rootless ======================= */

/* Map `inside` to the caller's own ids in the parent namespace: the one
 * mapping an unprivileged process may write for itself. */
static int map_self(unsigned inside, uid_t uid, gid_t gid)
{
    char text[64];
    if (write_file("/proc/self/setgroups", "deny") < 0 && errno != ENOENT) return -1;
    snprintf(text, sizeof text, "%u %u 1\n", inside, (unsigned)uid);
    if (write_file("/proc/self/uid_map", text) < 0) return -1;
    snprintf(text, sizeof text, "%u %u 1\n", inside, (unsigned)gid);
    return write_file("/proc/self/gid_map", text);
}

int spawner_enter_userns(err_t *err)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER) < 0) return err_sys(err, "user namespace");
    if (map_self(0, uid, gid) < 0) return err_sys(err, "user namespace: map ids");
    return 0;
}

/* ======================= the template root ======================= */

static int mkfile(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

/* The flags a bind remount must keep: in a user namespace the kernel
 * refuses to clear those the original mount has (they are locked). */
static unsigned long kept_flags(const char *path)
{
    struct statvfs sv;
    if (statvfs(path, &sv) < 0) return 0;
    unsigned long f = 0;
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

/* Bind `src` at `dst` read-only, without set-id or device files (the
 * remount is what makes a bind read-only). */
static int bind_ro(const char *src, const char *dst, unsigned long extra)
{
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0) return -1;
    return mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | extra | kept_flags(dst), NULL);
}

/* A read-only view of `src` at `root``at` whose mountinfo names no host path
 * (`root` is the template root's path as seen now: ROOT_DIR, or "" inside it).
 * A bind shows, in the instance's /proc/self/mountinfo, the path of its
 * source within its file system (the data dir, the checkout); an overlay
 * shows its own "/" and, in its options, its lower dir as it was given.
 * So the source is bound at the template's /.stage first (a fixed path that
 * says nothing about the host), the overlay made from there, and the stage
 * taken away again. Without an upper dir an overlay wants two lower ones:
 * the second is the template's empty /.empty. A kernel without overlayfs
 * (ENODEV) gets the plain bind. */
static int mount_neutral_ro(const char *src, const char *root, const char *at)
{
    char stage[128], dst[128], opts[300];
    snprintf(stage, sizeof stage, "%s/.stage", root);
    snprintf(dst, sizeof dst, "%s%s", root, at);
    snprintf(opts, sizeof opts, "lowerdir=%s:%s/.empty", stage, root);
    if (mount(src, stage, NULL, MS_BIND, NULL) < 0) return -1;
    int rc = mount("nimbus", dst, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, opts);
    int saved = errno;
    if (umount2(stage, MNT_DETACH) < 0 && rc == 0) return -1;
    if (rc < 0 && saved == ENODEV) return bind_ro(src, dst, MS_NODEV);
    errno = saved;
    return rc;
}

/* Bind a host path into the template if it exists, as a file or a dir. */
static int bind_host(const char *host, const char *rel, unsigned long extra)
{
    struct stat st;
    char dst[600];
    if (stat(host, &st) < 0) return 0;   /* not on this host: nothing to show */
    snprintf(dst, sizeof dst, "%s/%s", ROOT_DIR, rel);
    if (S_ISDIR(st.st_mode) ? mkdir(dst, 0755) : mkfile(dst, 0644)) {
        if (errno != EEXIST) return -1;
    }
    return bind_ro(host, dst, extra);
}

static int populate_etc(err_t *err, uid_t uid)
{
    static const char *const etc[] = { "resolv.conf", "hosts", "nsswitch.conf", "host.conf", "gai.conf",
                                       "protocols", "services", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
                                       "localtime", "mime.types", "ssl", "ca-certificates", "alternatives",
                                       "pki", "crypto-policies" };
    for (size_t i = 0; i < sizeof etc / sizeof etc[0]; i++) {
        char host[64], rel[64];
        snprintf(host, sizeof host, "/etc/%s", etc[i]);
        snprintf(rel, sizeof rel, "etc/%s", etc[i]);
        if (bind_host(host, rel, MS_NODEV) < 0) return err_sys(err, "bind %s", host);
    }
    /* The sandbox's own users: nobody from the host is listed. */
    char text[512];
    snprintf(text, sizeof text,
             "root:x:0:0:root:/root:/usr/sbin/nologin\n"
             "sbx_user1051:x:%u:%u::/tmp:/usr/sbin/nologin\n"
             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
             (unsigned)uid, (unsigned)uid);
    if (write_file(ROOT_DIR "/etc/passwd", text) < 0) return err_sys(err, "write etc/passwd");
    snprintf(text, sizeof text, "root:x:0:\nsbx_user1051:x:%u:\nnogroup:x:65534:\n", (unsigned)uid);
    if (write_file(ROOT_DIR "/etc/group", text) < 0) return err_sys(err, "write etc/group");
    if (write_file(ROOT_DIR "/etc/hostname", "nimbus\n") < 0) return err_sys(err, "write etc/hostname");
    return 0;
}

static int populate_dev(err_t *err)
{
    char p[700];
    static const char *const devs[] = { "null", "zero", "full", "random", "urandom" };
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
        char host[32];
        snprintf(host, sizeof host, "/dev/%s", devs[i]);
        snprintf(p, sizeof p, "%s/dev/%s", ROOT_DIR, devs[i]);
        if (mkfile(p, 0666) < 0 || mount(host, p, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC | kept_flags(p), NULL) < 0)
            return err_sys(err, "bind %s", host);
    }
    static const char *const links[][2] = { { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
                                            { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
                                            { "pts/ptmx", "ptmx" },
                                            /* POSIX shared memory lives in the instance's /tmp */
                                            { "/tmp", "shm" } };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(p, sizeof p, "%s/dev/%s", ROOT_DIR, links[i][1]);
        if (symlink(links[i][0], p) < 0) return err_sys(err, "symlink %s", p);
    }
    return 0;
}

int spawner_build_root(const char *runtime_dir, uid_t sandbox_uid, err_t *err)
{
    char p[700];
    if (unshare(CLONE_NEWNS) < 0) return err_sys(err, "spawner: unshare mount namespace");
    /* Nothing the spawner or an instance mounts may reach the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return err_sys(err, "spawner: make / private");
    if (mkdir(ROOT_DIR, 0700) < 0 && errno != EEXIST) {
        /* Rootless, /run is not ours: any directory of the host will do as
         * the mount point, since the mount is only seen here. */
        if (errno != EACCES && errno != EPERM && errno != EROFS) return err_sys(err, "mkdir %s", ROOT_DIR);
        if (mount("nimbus-run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755") < 0 ||
            mkdir(ROOT_DIR, 0700) < 0)
            return err_sys(err, "mkdir %s", ROOT_DIR);
    }
    if (mount("nimbus-root", ROOT_DIR, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") < 0)
        return err_sys(err, "spawner: tmpfs root");
    /* .code: where a pre-started init sees the code store until its
     * request names the code (then it is unmounted). */
    /* .stage, .empty: where mount_neutral_ro stages a source for a
     * moment, and the empty layer under it. */
    static const char *const dirs[] = { "usr", "etc", "dev", "dev/pts", "proc", "tmp", "var", "var/task",
                                        "var/runtime", "opt", "root", ".code", ".stage", ".empty" };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", ROOT_DIR, dirs[i]);
        if (mkdir(p, 0755) < 0) return err_sys(err, "mkdir %s", p);
    }
    if (bind_ro("/usr", ROOT_DIR "/usr", MS_NODEV) < 0) return err_sys(err, "bind /usr");
    /* usrmerge hosts have /bin -> usr/bin etc.: the same links; else binds. */
    static const char *const top[] = { "bin", "sbin", "lib", "lib32", "lib64", "libx32" };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
        char host[64], link[256];
        snprintf(host, sizeof host, "/%s", top[i]);
        snprintf(p, sizeof p, "%s/%s", ROOT_DIR, top[i]);
        ssize_t n = readlink(host, link, sizeof link - 1);
        if (n > 0) {
            link[n] = '\0';
            if (symlink(link, p) < 0) return err_sys(err, "symlink %s", p);
        } else if (bind_host(host, top[i], MS_NODEV) < 0) {
            return err_sys(err, "bind %s", host);
        }
    }
    if (populate_etc(err, sandbox_uid) < 0 || populate_dev(err) < 0) return -1;
    if (mount_neutral_ro(runtime_dir, ROOT_DIR, "/var/runtime") < 0 && errno != ENOENT)
        return err_sys(err, "bind runtime dir %s", runtime_dir);
    /* The whole root read-only: mount points stay usable. */
    if (mount(NULL, ROOT_DIR, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
        return err_sys(err, "remount root read-only");
    return 0;
}

void spawner_unmount_root(void) { umount2(ROOT_DIR, MNT_DETACH); }

/* ======================= the instance's init ======================= */

static char g_init_stack[64 * 1024] __attribute__((aligned(16)));
static volatile pid_t g_runtime_pid;
static volatile int g_exec_errno;

static void forward_term(int sig)
{
    if (g_runtime_pid > 0) kill(g_runtime_pid, sig);
}

typedef struct {
    const char *exe;
    char *const *argv, *const *envp;
    int out_w, devnull;
    int cfg_r;                       /* pre-started: where its configuration will come (as fd 3) */
    const spawner_env_t *env;
} exec_args_t;

static int runtime_main(void *arg)
{
    exec_args_t *a = arg;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    dup2(a->devnull, 0);
    dup2(a->out_w, 1);
    dup2(a->out_w, 2);
    if (a->cfg_r >= 0) {
        /* Pre-started, the init keeps its privileges for the request's
         * mounts: the runtime gives up its own here (raw calls: this is a
         * vfork child; they change this task's credentials only). */
        gid_t g = a->env->gid;
        if (dup2(a->cfg_r, 3) < 0 || syscall(SYS_setgroups, 1, &g) < 0 || syscall(SYS_setresgid, g, g, g) < 0 ||
            syscall(SYS_setresuid, a->env->uid, a->env->uid, a->env->uid) < 0 ||
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 ||
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_filter_install(&a->env->filter) < 0 ||
            chdir("/var/task") < 0)
            goto fail;
    }
    /* Every other fd is O_CLOEXEC. */
    execve(a->exe, a->argv, a->envp);
fail:
    g_exec_errno = errno;
    _exit(127);
}

/* Start the runtime (vfork+exec); its pid, or -1 with errno. */
static pid_t start_runtime(exec_args_t *ea)
{
    struct sigaction sa = { .sa_handler = forward_term };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    g_exec_errno = 0;
    pid_t pid = clone(runtime_main, g_init_stack + sizeof g_init_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, ea);
    if (pid < 0) return -1;
    if (g_exec_errno) {
        errno = g_exec_errno;
        waitpid(pid, NULL, 0);
        return -1;
    }
    g_runtime_pid = pid;
    return pid;
}

void spawner_set_rlimits(void)
{
    struct rlimit core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &core);
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && (nofile.rlim_max > 1024 || nofile.rlim_cur > 1024)) {
        nofile.rlim_cur = nofile.rlim_max = 1024;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
}

/* pivot_root with new and old root the same directory, then detach the
 * old one stacked beneath: no host mount remains in the namespace. */
static int enter_root(void)
{
    if (chdir(ROOT_DIR) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
        chdir("/") < 0)
        return -1;
    return 0;
}

int spawner_enter_root(void) { return enter_root(); }

static int lo_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
    return rc;
}

/* An init the spawner cloned in its own network namespace (spawner_prestart.c's
 * init_clone leaves it to the init but for egress) makes its own before
 * anything of the instance exists. */
static int init_own_net(const spawner_env_t *env)
{
    struct stat st;
    if (!env->net_ino || stat("/proc/self/ns/net", &st) < 0) return env->net_ino ? -1 : 0;
    return (uint64_t)st.st_ino == env->net_ino ? unshare(CLONE_NEWNET) : 0;
}

static int api_socket(bool own_net, uint32_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(own_net ? API_PORT : 0) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* No exec can give back a capability outside the bounding set. Dropping it
 * does not touch the capabilities this process holds now. */
static int drop_bounding_set(const spawner_env_t *env)
{
    for (int cap = 0; cap <= env->cap_last; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    return 0;
}

static int drop_privileges(const spawner_env_t *env)
{
    if (env->rootless) {
        /* A nested user namespace in which the runtime is the sandbox
         * user: it owns nothing the init set up (mounts, network, pid
         * namespace), so it can change none of it. It starts with a full
         * bounding set: drop it here (as root it went before the request,
         * see spawner_init_main). */
        if (unshare(CLONE_NEWUSER) < 0 || map_self(env->uid, 0, 0) < 0 || drop_bounding_set(env) < 0) return -1;
    }
    gid_t g = env->gid;
    if ((!env->rootless && setgroups(1, &g) < 0) || setresgid(g, g, g) < 0 ||
        setresuid(env->uid, env->uid, env->uid) < 0)
        return -1;
    /* setresuid from root to non-root cleared the permitted and effective
     * sets; ambient ones must go too. */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
    /* Non-dumpable: the runtime (same uid) cannot read this process'
     * memory or /proc files, which hold the spawner's. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    return 0;
}

typedef struct {
    int sync;
    sp_ready_t r;
} init_state_t;

__attribute__((noreturn)) static void init_fail(init_state_t *st, int stage)
{
    st->r.err = errno ? errno : EIO;
    st->r.stage = stage;
    sp_send(st->sync, &st->r, sizeof st->r, NULL, 0);
    _exit(127);
}

/* Keep only these fds (-1: none): not the daemon's sockets, nor other instances'. */
static void close_all_but6(int a, int b, int c, int d, int e, int f)
{
    int keep[6] = { a, b, c, d, e, f };
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            if (keep[j] < keep[i]) { int t = keep[i]; keep[i] = keep[j]; keep[j] = t; }
    unsigned lo = 3;
    for (int i = 0; i < 6; i++) {
        if (keep[i] < 0) continue;
        if ((unsigned)keep[i] > lo) syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0u, 0);
}

void spawner_close_all_but(int a, int b, int c) { close_all_but6(a, b, c, -1, -1, -1); }

/* The environment a pre-started runtime runs with until its request:
 * nothing about any function. */
static char *const PRESTART_ENV[] = { "PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin", "LANG=en_US.UTF-8", "TZ=:UTC",
                                      "LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime",
                                      "_NIMBUS_PRESTART_FD=3", NULL };

/* Pre-started (by exec or by the zygote): the root entered before the
 * request, with the code store in view at /.code until the request's code
 * is mounted from it. */
static int enter_ahead(const spawner_env_t *env)
{
    return bind_ro(env->code_root, ROOT_DIR "/.code", MS_NODEV) < 0 || enter_root() < 0 ? -1 : 0;
}

/* Pre-started by exec: the runtime started in the root entered ahead,
 * waiting on `*cfg_w` (the spawner's socket pair when it waits for the
 * runtime's word, else a pipe). */
static pid_t prestart(const spawner_env_t *env, const spawner_prestart_t *pre, int out_w, int devnull, int *cfg_w)
{
    int cfg[2] = { pre->warm[1], pre->warm[0] };
    if (cfg[0] < 0 && pipe2(cfg, O_CLOEXEC) < 0) return -1;
    exec_args_t ea = { .exe = pre->exe, .argv = pre->argv, .envp = PRESTART_ENV, .out_w = out_w,
                       .devnull = devnull, .cfg_r = cfg[0], .env = env };
    pid_t pid = start_runtime(&ea);
    close(cfg[0]);
    *cfg_w = cfg[1];
    return pid;
}

/* The runtime's pid inside: the spawner's sequence, not always 2, so pids
 * in logs and in the function's own output tell instances apart. */
static void set_next_pid(unsigned pid)
{
    int lp = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    if (lp < 0) return;
    char num[16];
    int n = snprintf(num, sizeof num, "%u", pid - 1);
    ssize_t wr = write(lp, num, (size_t)n);
    (void)wr;
    close(lp);
}

/* The instance's /tmp at `at`: the spawner's file system of its own
 * (SPF_TMP_DISK: `fd`, or, -1, the one it sends when made), else a tmpfs
 * of `opts`. */
static int mount_tmp(const sp_req_t *req, int sync, int fd, const char *at, const char *opts)
{
    if (!(req->flags & SPF_TMP_DISK)) return mount("tmpfs", at, "tmpfs", MS_NOSUID | MS_NODEV, opts);
    if (fd < 0) {
        sp_tmp_t m;
        int got[FD_N], nf = 0;
        ssize_t r = sp_recv(sync, &m, sizeof m, got, &nf);
        for (int i = 1; i < nf; i++) close(got[i]);
        if (r != (ssize_t)sizeof m || m.err || nf < 1) {
            if (nf > 0) close(got[0]);
            errno = r == (ssize_t)sizeof m && m.err ? m.err : EIO;
            return -1;
        }
        fd = got[0];
    }
    int rc = move_mount(fd, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Its configuration, NUL-separated (what the runtime reads from fd 3). */
static int send_env(int fd, char *const *envp)
{
    for (size_t i = 0; envp[i]; i++) {
        const char *q = envp[i];
        size_t left = strlen(q) + 1;
        while (left) {
            ssize_t w = write(fd, q, left);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return -1;
            q += w;
            left -= (size_t)w;
        }
    }
    return 0;
}

__attribute__((noreturn)) void spawner_init_main(const spawner_env_t *env, const cgroup_t *cg, int out_w,
                                                 int status_w, int sync, bool own_net,
                                                 const spawner_prestart_t *pre, unsigned runtime_pid)
{
    init_state_t st = { .sync = sync, .r = { .t_run = loop_now_ns() } };
    sp_ready_t *r = &st.r;
    char p[700];
    setsid();
    /* Show as what it is in ps (its comm), not as the spawner. */
    prctl(PR_SET_NAME, "nimbus-init", 0, 0, 0);
    util_proctitle_set("nimbus-init");   /* and not the daemon's argv in /proc/1/cmdline */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* Pre-started by the zygote: its runtime is a fork of it, made now, in
     * the instance's cgroup and namespaces and confined, waiting until the
     * request's mounts are done. */
    bool zpre = pre && pre->zline >= 0;
    int zline = zpre ? pre->zline : -1;
    close_all_but6(out_w, status_w, sync, zline, pre ? pre->warm[0] : -1, pre ? pre->warm[1] : -1);

    /* ---- what needs no request ---- */
    if (cg && cgroup_enter_self(cg) < 0) init_fail(&st, 1);
    /* Its cgroup namespace starts at its own group. */
    unshare(CLONE_NEWCGROUP);
    if (own_net && (init_own_net(env) < 0 || lo_up() < 0)) init_fail(&st, 2);
    int api = api_socket(own_net, &r->port);
    if (api < 0) init_fail(&st, 3);
    sethostname("nimbus", 6);
    /* Its own /proc, mounted while the host's is still in view (a user
     * namespace may only mount a proc it could already see). */
    if (mount("proc", ROOT_DIR "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) init_fail(&st, 4);
    /* Its own terminals, for `nimbus exec -t` (the spawner opens them
     * through this init's root): none of another instance's, and none the
     * sandbox user may make or open itself (ptmx and every terminal are
     * root's alone; the command gets its terminal as an open fd). Without
     * one, only exec -t fails. */
    (void)mount("devpts", ROOT_DIR "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0000,mode=0600");
    /* The bounding set now, off the request's path (41 prctl calls). Not
     * rootless: the runtime's nested user namespace starts with a full one,
     * so it is dropped there, after that namespace is made. */
    if (!env->rootless && drop_bounding_set(env) < 0) init_fail(&st, 10);
    spawner_set_rlimits();
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* Its cgroup's procs files, while /sys is in view: a runtime forked by
     * the zygote joins the group through them (docs/zygote.md). */
    int cgprocs[3], ncg = 0;
    if ((!pre || zpre) && cg && (ncg = cgroup_open_procs(cg, cgprocs)) < 0) ncg = 0;
    int cfg_w = -1;
    pid_t pid = -1;
    struct sigaction sa_term = { .sa_handler = forward_term };
    sigemptyset(&sa_term.sa_mask);
    bool inside = pre != NULL;       /* pre-started: the root entered before the request */
    bool exec_pre = pre && !zpre;    /* ... and its runtime started by exec */
    if (pre) set_next_pid(runtime_pid);
    if (inside && enter_ahead(env) < 0) init_fail(&st, 8);
    if (exec_pre && (pid = prestart(env, pre, out_w, devnull, &cfg_w)) < 0) init_fail(&st, ST_EXEC);
    if (zpre) {
        /* Forked, then in this root and confined, as a runtime pre-started
         * by exec is by now: the request's path keeps only the go. */
        if ((pid = zygote_fork(zline, out_w, devnull, cgprocs, ncg, ZYGOTE_WAIT_MS)) <= 0) init_fail(&st, ST_EXEC);
        sigaction(SIGTERM, &sa_term, NULL);
        g_runtime_pid = pid;
        if (zygote_enter(zline) < 0 || zygote_wait(zline, ZYGOTE_WAIT_MS) != pid) init_fail(&st, ST_EXEC);
    }
    r->t_prepared = loop_now_ns();

    /* ---- the request ---- */
    char *buf = malloc(MAX_MSG);
    if (!buf) init_fail(&st, 5);
    int rfds[FD_N], nrf = 0;
    ssize_t k = sp_recv(sync, buf, MAX_MSG, rfds, &nrf);
    if (k <= 0) _exit(0);             /* the spawner let it go unused */
    r->t_request = loop_now_ns();
    static sp_req_view_t view;
    if (sp_req_decode(buf, (size_t)k, &view) != 0 || view.hdr.type != SP_SPAWN) { errno = EINVAL; init_fail(&st, 5); }
    const sp_req_t *req = &view.hdr;
    /* With SPF_ZYGOTE its first fd is a line to the zygote; then its /tmp,
     * when the spawner had one made. */
    int fi = 0;
    if ((req->flags & SPF_ZYGOTE) && !pre && nrf > 0) zline = rfds[fi++];
    int tmpfd = nrf > fi ? rfds[fi++] : -1;
    for (int i = fi; i < nrf; i++) close(rfds[i]);
    /* execve's types; the strings are this process' own copy */
    char **argv = (char **)view.argv, **envp = (char **)view.env;
    const char *exe = view.exe;

    /* ---- the root ---- */
    snprintf(p, sizeof p, "size=%um,mode=1777", req->tmp_mb ? req->tmp_mb : 512);
    if (inside) {
        /* Already inside: the request's code from the store, then the store
         * out of view for good. */
        size_t n = strlen(env->code_root);
        char src[700];
        if (strncmp(req->code_dir, env->code_root, n) != 0) { errno = EACCES; init_fail(&st, 6); }
        snprintf(src, sizeof src, "/.code%s", req->code_dir + n);
        if (mount_neutral_ro(src, "", "/var/task") < 0) init_fail(&st, 6);
        if (req->opt_dir[0]) {
            if (strncmp(req->opt_dir, env->code_root, n) != 0) { errno = EACCES; init_fail(&st, ST_OPT); }
            snprintf(src, sizeof src, "/.code%s", req->opt_dir + n);
            if (mount_neutral_ro(src, "", "/opt") < 0) init_fail(&st, ST_OPT);
        }
        if (umount2("/.code", MNT_DETACH) < 0) init_fail(&st, 6);
        if (mount_tmp(req, sync, tmpfd, "/tmp", p) < 0) init_fail(&st, 7);
    } else {
        if (mount_neutral_ro(req->code_dir, ROOT_DIR, "/var/task") < 0) init_fail(&st, 6);
        if (req->opt_dir[0] && mount_neutral_ro(req->opt_dir, ROOT_DIR, "/opt") < 0) init_fail(&st, ST_OPT);
        if (mount_tmp(req, sync, tmpfd, ROOT_DIR "/tmp", p) < 0) init_fail(&st, 7);
        if (enter_root() < 0) init_fail(&st, 8);
    }
    r->t_mounts = loop_now_ns();

    /* The runtime API's address, under Lambda's name and SCF's two. */
    static char api_env[64], scf_host[64], scf_port[64];
    size_t ne = req->nenv;
    snprintf(api_env, sizeof api_env, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%u", r->port);
    snprintf(scf_host, sizeof scf_host, "SCF_RUNTIME_API=127.0.0.1");
    snprintf(scf_port, sizeof scf_port, "SCF_RUNTIME_API_PORT=%u", r->port);
    envp[ne] = api_env;
    envp[ne + 1] = scf_host;
    envp[ne + 2] = scf_port;
    envp[ne + 3] = NULL;
    if (!pre) set_next_pid(runtime_pid);
    /* Forked by the zygote: made now if not before (joining the cgroup is
     * the slow part) and told to enter this root and confine itself, then
     * told to go on (the environment); it does both while this init gives
     * up its own privileges. */
    bool late = zline >= 0 && !zpre;
    if (late) {
        if ((pid = zygote_fork(zline, out_w, devnull, cgprocs, ncg, ZYGOTE_WAIT_MS)) > 0) g_runtime_pid = pid;
        else if (errno == ETIMEDOUT) init_fail(&st, ST_EXEC);   /* it may yet fork one: not a second */
        if (pid > 0) sigaction(SIGTERM, &sa_term, NULL);
    }
    bool asked = zline >= 0 && pid > 0 && (!late || zygote_enter(zline) == 0) && zygote_go(zline, envp) == 0;
    for (int i = 0; i < ncg; i++) close(cgprocs[i]);

    /* ---- privileges ---- */
    if (drop_privileges(env) < 0) init_fail(&st, env->rootless ? 9 : 10);
    /* Die with the spawner (set after the credential change, which clears it). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (seccomp_filter_install(&env->filter) < 0) init_fail(&st, 11);
    if (chdir("/var/task") < 0) init_fail(&st, 8);
    r->t_priv = loop_now_ns();

    /* ---- the runtime ---- */
    if (exec_pre) {
        /* It waits for its configuration: give it, and check it is still there. */
        int ws;
        if (send_env(cfg_w, envp) < 0 || waitpid(pid, &ws, WNOHANG) != 0) { errno = ESRCH; init_fail(&st, ST_EXEC); }
        /* Its end of file: on a socket pair the spawner still holds the
         * same end (for the runtime's word), so closing would not be one. */
        shutdown(cfg_w, SHUT_WR);
        warm_close(cfg_w);
    } else {
        if (asked) {
            pid_t got = zygote_wait(zline, ZYGOTE_WAIT_MS);
            if (late && got == pid) got = zygote_wait(zline, ZYGOTE_WAIT_MS);   /* entered, then gone on */
            if (got < 0 && errno == ETIMEDOUT) init_fail(&st, ST_EXEC);   /* it may yet go on: not a second */
            if (got != pid) pid = -1;   /* failed (it exits): exec one instead */
        } else {
            pid = -1;
        }
        if (zline >= 0) {
            close(zline);
            r->zygote = pid > 0 ? 1 : 2;   /* else: the exec below, as without a zygote */
        }
        exec_args_t ea = { .exe = exe, .argv = argv, .envp = envp, .out_w = out_w, .devnull = devnull, .cfg_r = -1,
                           .env = env };
        if (pid <= 0 && (pid = start_runtime(&ea)) < 0) init_fail(&st, ST_EXEC);
    }
    r->t_exec = loop_now_ns();
    sp_send(sync, r, sizeof *r, &api, 1);
    close(api);
    close(sync);
    close(out_w);
    if (devnull >= 0) close(devnull);
    free(buf);
    /* Reap orphans until the runtime itself ends; its end is the
     * instance's end (returning kills the rest of the namespace). */
    for (;;) {
        int ws;
        pid_t w = waitpid(-1, &ws, 0);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) _exit(0);
        if (w != pid) continue;
        int32_t rep[2];
        if (WIFEXITED(ws)) { rep[0] = CLD_EXITED; rep[1] = WEXITSTATUS(ws); }
        else { rep[0] = WCOREDUMP(ws) ? CLD_DUMPED : CLD_KILLED; rep[1] = WTERMSIG(ws); }
        ssize_t wr = write(status_w, rep, sizeof rep);
        (void)wr;
        _exit(0);
    }
}
