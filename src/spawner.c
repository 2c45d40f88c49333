/* spawner.c — the privileged helper process: builds each instance's
 * sandbox and ends it (spawner.h). The daemon's side of its socket is
 * spawner_client.c; the messages are spawner_proto.h.
 *
 * At start it makes a private mount namespace for itself and, once, a
 * template root there: a tmpfs holding read-only binds of /usr (and
 * /bin, /lib... as the host has them), the /etc essentials, device nodes,
 * the runtime dir at /var/runtime and the sandbox user's passwd entry,
 * then remounted read-only. Every instance's mount namespace is a copy of
 * that one, so per instance only the code (/var/task), /tmp and /proc are
 * mounted before pivot_root.
 *
 * An instance's first process (pid 1 of its pid namespace, "init") is a
 * fork of the spawner: it joins the cgroup, mounts, makes the runtime-API
 * socket in its network namespace, drops every privilege, installs the
 * seccomp filter, starts the runtime (vfork+exec), hands the socket back,
 * then only reaps, forwards SIGTERM and reports the runtime's end on a pipe
 * before exiting — which makes the kernel kill everything left in the
 * namespace. Must never: act on a path or pid the daemon names without
 * checking it (code dirs must be under the code store; instances are named
 * by handles it issued), or keep an instance alive after the daemon is gone.
 */
#define _GNU_SOURCE
#include "spawner.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "seccomp_filter.h"
#include "spawner_proto.h"

#define ROOT_DIR "/run/nimbus-sandbox"   /* the template root's mount point (spawner's ns only) */
#define API_PORT 9001
#define INIT_WAIT_MS 10000

static const char *const STAGES[] = { "", "join cgroup", "mount code", "mount /tmp", "pivot_root",
                                      "mount /proc", "network", "runtime API socket", "drop privileges",
                                      "seccomp", "chdir /var/task", "exec" };

/* ---- shared helpers ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ======================= the spawner process ======================= */

typedef struct {
    bool used, released, exited;
    uint16_t gen;
    pid_t pid;
    int pidfd;
    int netns;               /* opened on first need */
    cgroup_t *cg;
} slot_t;

static struct {
    spawner_config_t cfg;
    char data_dir[512], runtime_dir[512], code_root[600];
    int sock;
    int self_netns;
    int cap_last;
    seccomp_filter_t filter;
    slot_t *slots;
    size_t nslots;
    size_t pending;          /* released slots whose cgroup is not removed yet */
    unsigned seq;            /* instances started */
} S;

static char g_init_stack[64 * 1024] __attribute__((aligned(16)));

static int mkfile(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    ssize_t w = write(fd, text, strlen(text));
    close(fd);
    return w == (ssize_t)strlen(text) ? 0 : -1;
}

/* Bind `src` at `dst` read-only, without set-id or device files (the
 * remount is what makes a bind read-only). */
static int bind_ro(const char *src, const char *dst, unsigned long extra)
{
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0) return -1;
    return mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | extra, NULL);
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

static int build_template(err_t *err)
{
    char p[700];
    if (unshare(CLONE_NEWNS) < 0) return err_sys(err, "spawner: unshare mount namespace");
    /* Nothing the spawner or an instance mounts may reach the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return err_sys(err, "spawner: make / private");
    if (mkdir(ROOT_DIR, 0700) < 0 && errno != EEXIST) return err_sys(err, "mkdir %s", ROOT_DIR);
    if (mount("nimbus-root", ROOT_DIR, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") < 0)
        return err_sys(err, "spawner: tmpfs root");
    static const char *const dirs[] = { "usr", "etc", "dev", "proc", "tmp", "var", "var/task", "var/runtime",
                                        "opt", "root" };
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
             "sbx_user1051:x:%d:%d::/tmp:/usr/sbin/nologin\n"
             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
             SANDBOX_UID, SANDBOX_UID);
    if (write_file(ROOT_DIR "/etc/passwd", text) < 0) return err_sys(err, "write etc/passwd");
    snprintf(text, sizeof text, "root:x:0:\nsbx_user1051:x:%d:\nnogroup:x:65534:\n", SANDBOX_UID);
    if (write_file(ROOT_DIR "/etc/group", text) < 0) return err_sys(err, "write etc/group");
    if (write_file(ROOT_DIR "/etc/hostname", "nimbus\n") < 0) return err_sys(err, "write etc/hostname");
    static const char *const devs[] = { "null", "zero", "full", "random", "urandom" };
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
        char host[32];
        snprintf(host, sizeof host, "/dev/%s", devs[i]);
        snprintf(p, sizeof p, "%s/dev/%s", ROOT_DIR, devs[i]);
        if (mkfile(p, 0666) < 0 || mount(host, p, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC, NULL) < 0)
            return err_sys(err, "bind %s", host);
    }
    static const char *const links[][2] = { { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
                                            { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
                                            /* POSIX shared memory lives in the instance's /tmp */
                                            { "/tmp", "shm" } };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(p, sizeof p, "%s/dev/%s", ROOT_DIR, links[i][1]);
        if (symlink(links[i][0], p) < 0) return err_sys(err, "symlink %s", p);
    }
    if (bind_ro(S.runtime_dir, ROOT_DIR "/var/runtime", MS_NODEV) < 0 && errno != ENOENT)
        return err_sys(err, "bind runtime dir %s", S.runtime_dir);
    /* The whole root read-only: mount points stay usable. */
    if (mount(NULL, ROOT_DIR, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
        return err_sys(err, "remount root read-only");
    return 0;
}

/* ---- the instance's init (runs in the forked child) ---- */

typedef struct {
    const sp_req_t *req;
    char *const *argv, *const *envp;
    const char *exe;
    const char *code_dir;
    cgroup_t *cg;
    int out_w, status_w, sync;
    bool own_net;
    unsigned runtime_pid;      /* the pid the runtime gets in its namespace */
    uint64_t t_clone;
} init_ctx_t;

static volatile pid_t g_runtime_pid;
static volatile int g_exec_errno;

static void forward_term(int sig)
{
    if (g_runtime_pid > 0) kill(g_runtime_pid, sig);
}

typedef struct {
    const init_ctx_t *c;
    int devnull;
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
    dup2(a->c->out_w, 1);
    dup2(a->c->out_w, 2);
    /* Every other fd is O_CLOEXEC. */
    execve(a->c->exe, a->c->argv, a->c->envp);
    g_exec_errno = errno;
    _exit(127);
}

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

static int drop_privileges(void)
{
    for (int cap = 0; cap <= S.cap_last; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    gid_t g = S.cfg.gid;
    if (setgroups(1, &g) < 0 || setresgid(g, g, g) < 0 || setresuid(S.cfg.uid, S.cfg.uid, S.cfg.uid) < 0)
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

__attribute__((noreturn)) static void init_fail(const init_ctx_t *c, int stage, sp_ready_t *r)
{
    r->err = errno ? errno : EIO;
    r->stage = stage;
    sp_send(c->sync, r, sizeof *r, NULL, 0);
    _exit(127);
}

__attribute__((noreturn)) static void init_main(init_ctx_t *c)
{
    sp_ready_t r = { .t_run = now_ns() };
    char p[700];
    setsid();
    /* Show as what it is in ps (its comm), not as the spawner. */
    prctl(PR_SET_NAME, "nimbus-init", 0, 0, 0);
    util_proctitle_set("nimbus-init");   /* and not the daemon's argv in /proc/1/cmdline */
    /* Keep only what this instance needs: not the daemon's socket, nor
     * other instances' pidfds. */
    int keep[3] = { c->out_w, c->status_w, c->sync };
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (keep[j] < keep[i]) { int t = keep[i]; keep[i] = keep[j]; keep[j] = t; }
    unsigned lo = 3;
    for (int i = 0; i < 3; i++) {
        if ((unsigned)keep[i] > lo) syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0u, 0);
    if (c->cg && cgroup_enter_self(c->cg) < 0) init_fail(c, 1, &r);
    /* Its cgroup namespace starts at its own group. */
    unshare(CLONE_NEWCGROUP);
    /* ---- the root ---- */
    if (bind_ro(c->code_dir, ROOT_DIR "/var/task", MS_NODEV) < 0) init_fail(c, 2, &r);
    snprintf(p, sizeof p, "size=%um,mode=1777,uid=0,gid=0", c->req->tmp_mb ? c->req->tmp_mb : 512);
    if (mount("tmpfs", ROOT_DIR "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, p) < 0) init_fail(c, 3, &r);
    /* pivot_root with new and old root the same directory, then detach the
     * old one stacked beneath: no host mount remains in the namespace. */
    if (chdir(ROOT_DIR) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
        chdir("/") < 0)
        init_fail(c, 4, &r);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) init_fail(c, 5, &r);
    r.t_mounts = now_ns();
    /* ---- network ---- */
    if (c->own_net && lo_up() < 0) init_fail(c, 6, &r);
    int api = api_socket(c->own_net, &r.port);
    if (api < 0) init_fail(c, 7, &r);
    sethostname("nimbus", 6);
    /* The runtime API's address, under Lambda's name and SCF's two (this
     * process is a fork of the single-threaded spawner: it may allocate). */
    size_t ne = 0;
    while (c->envp[ne]) ne++;
    char **env = calloc(ne + 4, sizeof *env);
    static char api_env[64], scf_host[64], scf_port[64];
    if (!env) init_fail(c, 7, &r);
    memcpy(env, c->envp, ne * sizeof *env);
    snprintf(api_env, sizeof api_env, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%u", r.port);
    snprintf(scf_host, sizeof scf_host, "SCF_RUNTIME_API=127.0.0.1");
    snprintf(scf_port, sizeof scf_port, "SCF_RUNTIME_API_PORT=%u", r.port);
    env[ne] = api_env;
    env[ne + 1] = scf_host;
    env[ne + 2] = scf_port;
    c->envp = env;
    r.t_net = now_ns();
    /* The runtime's pid inside: the spawner's sequence, not always 2, so
     * pids in logs and in the function's own output tell instances apart. */
    int lp = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    if (lp >= 0) {
        char num[16];
        int k = snprintf(num, sizeof num, "%u", c->runtime_pid - 1);
        ssize_t wr = write(lp, num, (size_t)k);
        (void)wr;
        close(lp);
    }
    /* ---- privileges ---- */
    struct rlimit core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &core);
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && (nofile.rlim_max > 1024 || nofile.rlim_cur > 1024)) {
        nofile.rlim_cur = nofile.rlim_max = 1024;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (drop_privileges() < 0) init_fail(c, 8, &r);
    /* Die with the spawner (set after the credential change, which clears it). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (seccomp_filter_install(&S.filter) < 0) init_fail(c, 9, &r);
    if (chdir("/var/task") < 0) init_fail(c, 10, &r);
    r.t_priv = now_ns();
    /* ---- the runtime ---- */
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    struct sigaction sa = { .sa_handler = forward_term };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    exec_args_t ea = { .c = c, .devnull = devnull };
    pid_t pid = clone(runtime_main, g_init_stack + sizeof g_init_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &ea);
    if (pid < 0) init_fail(c, 11, &r);
    if (g_exec_errno) {
        errno = g_exec_errno;
        waitpid(pid, NULL, 0);
        init_fail(c, 11, &r);
    }
    g_runtime_pid = pid;
    r.t_exec = now_ns();
    sp_send(c->sync, &r, sizeof r, &api, 1);
    close(api);
    close(c->sync);
    close(c->out_w);
    if (devnull >= 0) close(devnull);
    /* Reap orphans until the runtime itself ends; its end is the
     * instance's end (returning kills the rest of the namespace). */
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) _exit(0);
        if (w != pid) continue;
        int32_t rep[2];
        if (WIFEXITED(st)) { rep[0] = CLD_EXITED; rep[1] = WEXITSTATUS(st); }
        else { rep[0] = WCOREDUMP(st) ? CLD_DUMPED : CLD_KILLED; rep[1] = WTERMSIG(st); }
        ssize_t wr = write(c->status_w, rep, sizeof rep);
        (void)wr;
        _exit(0);
    }
}

/* ---- requests ---- */

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
    s->pidfd = s->netns = -1;
    s->used = false;
    s->gen++;
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

static void reply_err(sp_resp_t *resp, int e, const char *fmt, const char *arg)
{
    resp->err = e ? e : EIO;
    snprintf(resp->msg, sizeof resp->msg, fmt, arg, strerror(resp->err));
    sp_send(S.sock, resp, sizeof *resp, NULL, 0);
}

static void do_spawn(const sp_req_t *req, size_t len)
{
    uint64_t t0 = now_ns();
    char p[128];
    sp_resp_t resp = { 0 };
    /* Unpack exe, argv, env. */
    const char *strs = (const char *)(req + 1), *end = (const char *)req + len;
    size_t nstr = 1 + (size_t)req->nargv + (size_t)req->nenv;
    if (req->nargv == 0 || req->nargv > 64 || req->nenv > 1024) { reply_err(&resp, EINVAL, "%sbad request: %s", ""); return; }
    char **ptrs = calloc(nstr + 2, sizeof *ptrs);
    if (!ptrs) { reply_err(&resp, ENOMEM, "%s%s", ""); return; }
    const char *q = strs;
    for (size_t i = 0; i < nstr; i++) {
        const char *z = q < end ? memchr(q, '\0', (size_t)(end - q)) : NULL;
        if (!z) { free(ptrs); reply_err(&resp, EINVAL, "%smalformed request: %s", ""); return; }
        ptrs[i] = (char *)q;
        q = z + 1;
    }
    char **argv = calloc(req->nargv + 1, sizeof *argv), **envp = calloc(req->nenv + 1, sizeof *envp);
    if (!argv || !envp) { free(ptrs); free(argv); free(envp); reply_err(&resp, ENOMEM, "%s%s", ""); return; }
    memcpy(argv, ptrs + 1, req->nargv * sizeof *argv);
    memcpy(envp, ptrs + 1 + req->nargv, req->nenv * sizeof *envp);
    char code_dir[512];
    snprintf(code_dir, sizeof code_dir, "%.*s", (int)sizeof req->code_dir - 1, req->code_dir);
    char id[64];
    snprintf(id, sizeof id, "%.*s", (int)sizeof req->id - 1, req->id);
    int out[2] = { -1, -1 }, status[2] = { -1, -1 }, sync[2] = { -1, -1 };
    int fds[FD_N];
    for (int i = 0; i < FD_N; i++) fds[i] = -1;
    cgroup_t *cg = NULL;
    int si = -1, pidfd = -1;
    if (!code_dir_ok(code_dir)) { errno = EACCES; reply_err(&resp, EACCES, "code dir %s: %s", code_dir); goto out; }
    for (const char *c = id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || *c == '-')) {
            reply_err(&resp, EINVAL, "instance id %s: %s", id);
            goto out;
        }
    si = slot_new();
    if (si < 0) { reply_err(&resp, ENOMEM, "%s%s", ""); goto out; }
    if (cgroup_available()) {
        cgroup_limits_t lim;
        cgroup_limits_for((int)req->memory_mb, SANDBOX_PIDS_MAX, &lim);
        err_t cerr;
        cg = cgroup_create_limited(id, &lim, &cerr);
        if (!cg) { resp.err = EIO; snprintf(resp.msg, sizeof resp.msg, "%s", cerr.msg); sp_send(S.sock, &resp, sizeof resp, NULL, 0); si = -1; goto out; }
        resp.limits = cgroup_limits_applied(cg);
        if (resp.limits & 1) resp.memory_limit = lim.memory_bytes;
    }
    uint64_t t_cg = now_ns();
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0) {
        reply_err(&resp, errno, "%spipes: %s", "");
        si = -1;
        goto out;
    }
    bool own_net = !(req->flags & SPF_NET_HOST);
    init_ctx_t ctx = { .req = req, .argv = argv, .envp = envp, .exe = ptrs[0], .code_dir = code_dir, .cg = cg,
                       .out_w = out[1], .status_w = status[1], .sync = sync[1], .own_net = own_net,
                       .runtime_pid = 100 + S.seq++ % 30000 };
    unsigned long flags = SIGCHLD | CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
                          (own_net ? CLONE_NEWNET : 0);
    /* A fork (no CLONE_VM): the init keeps running after the runtime's
     * exec, so it must not share the spawner's memory. */
    ctx.t_clone = now_ns();
    long pid = syscall(SYS_clone, flags, NULL, &pidfd, NULL, 0);
    if (pid == 0) init_main(&ctx);
    if (pid < 0) { reply_err(&resp, errno, "%sclone: %s", ""); si = -1; goto out; }
    close(out[1]); out[1] = -1;
    close(status[1]); status[1] = -1;
    close(sync[1]); sync[1] = -1;
    slot_t *s = &S.slots[si];
    s->used = true;
    s->released = s->exited = false;
    s->pid = (pid_t)pid;
    s->pidfd = pidfd;
    s->netns = -1;
    s->cg = cg;
    cg = NULL;
    /* Wait for the init's report (and the runtime-API socket). */
    sp_ready_t r = { .err = ETIMEDOUT, .stage = 0 };
    int nf = 0, api = -1;
    struct pollfd pf = { .fd = sync[0], .events = POLLIN };
    if (poll(&pf, 1, INIT_WAIT_MS) == 1) {
        ssize_t k = sp_recv(sync[0], &r, sizeof r, &api, &nf);
        if (k != (ssize_t)sizeof r) { r.err = EIO; r.stage = 0; }
        if (nf == 0) api = -1;
        if (r.err && api >= 0) { close(api); api = -1; }
        if (!r.err && api < 0) { r.err = EIO; r.stage = 7; }
    }
    if (r.err) {
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        s->released = true;
        S.pending++;
        errno = r.err;
        char what[96];
        snprintf(what, sizeof what, "sandbox: %s", STAGES[r.stage >= 0 && r.stage < 12 ? r.stage : 0]);
        if (r.stage == 11) snprintf(what, sizeof what, "exec %s", ptrs[0]);
        if (r.stage == 2) snprintf(what, sizeof what, "sandbox: mount code %s", code_dir);
        reply_err(&resp, r.err, "%s: %s", what);
        si = -1;
        goto out;
    }
    /* The runtime's pid on the host (the init's only child): what
     * diagnostics and `nimbus exec` look at. Signals go to the init. */
    resp.pid = (int32_t)pid;
    snprintf(p, sizeof p, "/proc/%ld/task/%ld/children", pid, pid);
    FILE *cf = fopen(p, "re");
    int child = 0;
    if (cf && fscanf(cf, "%d", &child) == 1 && child > 0) resp.pid = child;
    if (cf) fclose(cf);
    resp.handle = (uint32_t)si | ((uint32_t)s->gen << 16);
    resp.api_port = r.port;
    fds[FD_PIDFD] = pidfd;
    fds[FD_OUT] = out[0];
    fds[FD_STATUS] = status[0];
    fds[FD_API] = api;
    if (s->cg) {
        cgroup_dirs(s->cg, resp.cgdirs);
        fds[FD_PEAK] = cgroup_open_peak(s->cg);
        fds[FD_OOM] = cgroup_open_oom_events(s->cg);
    }
    uint64_t t_end = now_ns();
    resp.phase_us[0] = (uint32_t)((t_cg - t0) / 1000);
    resp.phase_us[1] = (uint32_t)((r.t_run - ctx.t_clone) / 1000);
    resp.phase_us[2] = (uint32_t)((r.t_mounts - r.t_run) / 1000);
    resp.phase_us[3] = (uint32_t)((r.t_net - r.t_mounts) / 1000);
    resp.phase_us[4] = (uint32_t)((r.t_priv - r.t_net) / 1000);
    resp.phase_us[5] = (uint32_t)((r.t_exec - r.t_priv) / 1000);
    resp.phase_us[6] = (uint32_t)((t_end - t0) / 1000);
    int list[FD_N], n = 0;
    for (int i = 0; i < FD_N; i++)
        if (fds[i] >= 0) { list[n++] = fds[i]; resp.fdmask |= 1u << i; }
    sp_send(S.sock, &resp, sizeof resp, list, n);
    si = -1;
    for (int i = 0; i < FD_N; i++)
        if (i != FD_PIDFD && fds[i] >= 0) close(fds[i]);
    out[0] = status[0] = -1;
out:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0) close(out[i]);
        if (status[i] >= 0) close(status[i]);
        if (sync[i] >= 0) close(sync[i]);
    }
    if (cg) cgroup_destroy(cg);
    (void)si;
    free(ptrs);
    free(argv);
    free(envp);
}

static void do_netsock(uint32_t handle)
{
    sp_resp_t resp = { 0 };
    slot_t *s = slot_get(handle);
    if (!s || s->released) { reply_err(&resp, ESRCH, "%sinstance: %s", ""); return; }
    if (s->netns < 0) {
        char p[64];
        snprintf(p, sizeof p, "/proc/%d/ns/net", (int)s->pid);
        s->netns = open(p, O_RDONLY | O_CLOEXEC);
        if (s->netns < 0) { reply_err(&resp, errno, "%sinstance network: %s", ""); return; }
    }
    if (setns(s->netns, CLONE_NEWNET) < 0) { reply_err(&resp, errno, "%ssetns: %s", ""); return; }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int e = errno;
    if (setns(S.self_netns, CLONE_NEWNET) < 0) _exit(1);   /* cannot go home: never serve from there */
    if (fd < 0) { reply_err(&resp, e, "%ssocket: %s", ""); return; }
    sp_send(S.sock, &resp, sizeof resp, &fd, 1);
    close(fd);
}

static void do_release(uint32_t handle)
{
    slot_t *s = slot_get(handle);
    if (!s || s->released) return;
    if (!s->exited) syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
    s->released = true;
    S.pending++;
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
}

__attribute__((noreturn)) static void spawner_main(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    char *buf = malloc(MAX_MSG);
    if (!buf || sfd < 0) _exit(1);
    for (;;) {
        struct pollfd pf[2] = { { .fd = S.sock, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
        int n = poll(pf, 2, S.pending ? 5 : -1);
        if (n < 0 && errno != EINTR) break;
        if (pf[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {}
        }
        reap_and_collect();
        if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t k = sp_recv(S.sock, buf, MAX_MSG, NULL, NULL);
        if (k <= 0) break;                    /* the daemon is gone */
        if ((size_t)k < sizeof(sp_req_t)) continue;
        sp_req_t *req = (sp_req_t *)buf;
        switch (req->type) {
        case SP_SPAWN: do_spawn(req, (size_t)k); break;
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
    shutdown_all();
    umount2(ROOT_DIR, MNT_DETACH);
    _exit(0);
}

/* ======================= starting it (the daemon) ======================= */

int spawner_start(const spawner_config_t *cfg, err_t *err)
{
    char why[160];
    if (!spawner_supported(why, sizeof why)) return err_set(err, ERR_SYS, "%s", why);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return err_sys(err, "spawner socketpair");
    /* A pipe to hear whether the template root was built. */
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0) { close(sv[0]); close(sv[1]); return err_sys(err, "pipe"); }
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]); close(sv[1]); close(ready[0]); close(ready[1]);
        return err_sys(err, "fork spawner");
    }
    if (pid == 0) {
        close(sv[0]);
        close(ready[0]);
        prctl(PR_SET_NAME, "nimbus-spawner", 0, 0, 0);
        util_proctitle_set("nimbus-spawner");
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGINT, SIG_IGN);    /* the daemon decides when to stop */
        signal(SIGTERM, SIG_IGN);
        int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (dn >= 0) { dup2(dn, 0); dup2(dn, 1); close(dn); }
        memset(&S, 0, sizeof S);
        S.cfg = *cfg;
        S.sock = sv[1];
        snprintf(S.data_dir, sizeof S.data_dir, "%s", cfg->data_dir);
        snprintf(S.runtime_dir, sizeof S.runtime_dir, "%s", cfg->runtime_dir);
        snprintf(S.code_root, sizeof S.code_root, "%s/code", S.data_dir);
        S.cfg.data_dir = S.data_dir;
        S.cfg.runtime_dir = S.runtime_dir;
        S.cap_last = CAP_LAST_CAP;
        FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
        if (f) { if (fscanf(f, "%d", &S.cap_last) != 1) S.cap_last = CAP_LAST_CAP; fclose(f); }
        S.self_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        err_t e = { 0 };
        char msg[sizeof e.msg + 1];
        int rc = seccomp_filter_build(&S.filter, &e);
        if (rc == 0) rc = build_template(&e);
        cgroup_available();        /* probe once, before any instance */
        cgroup_sweep_stale();
        msg[0] = rc == 0 ? 'K' : 'E';
        snprintf(msg + 1, sizeof msg - 1, "%s", rc == 0 ? "" : e.msg);
        ssize_t w = write(ready[1], msg, 1 + strlen(msg + 1));
        (void)w;
        close(ready[1]);
        if (rc != 0) _exit(1);
        spawner_main();
    }
    close(sv[1]);
    close(ready[1]);
    char msg[300];
    ssize_t k = read(ready[0], msg, sizeof msg - 1);
    close(ready[0]);
    if (k <= 0 || msg[0] != 'K') {
        msg[k > 0 ? k : 0] = '\0';
        close(sv[0]);
        waitpid(pid, NULL, 0);
        return err_set(err, ERR_SYS, "sandbox spawner: %s", k > 1 ? msg + 1 : "failed to start");
    }
    spawner_client_attach(sv[0], pid);
    return 0;
}

