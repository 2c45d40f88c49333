/* test_seccomp.c — seccomp_filter: the compiled program, the deny-list, and
 * the installed filter's effect in a forked child (denied calls fail with
 * EPERM, clone3 with ENOSYS, ordinary calls and plain fork/clone/threads
 * still work; sockets only of the allowed families).
 *
 * The filter is built in the parent (libseccomp allocates) and installed in
 * a forked child after PR_SET_NO_NEW_PRIVS, as the spawner does. The child
 * only makes raw calls and sends its results back over a pipe; the parent
 * asserts. Arguments are chosen so that each probe, were it not filtered,
 * would fail harmlessly with another errno (checked by running the same
 * probes unfiltered), so an EPERM seen is the filter's doing.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/seccomp_filter.h"

static seccomp_filter_t filter;

static void build(void)
{
    err_t err = {0};
    cr_assert_eq(seccomp_filter_build(&filter, &err), 0, "build: %s", err.msg);
}

static void teardown(void) { seccomp_filter_free(&filter); }

TestSuite(seccomp, .fini = teardown, .timeout = 60);

/* ---- the program and the list ---- */

Test(seccomp, build_gives_a_seccomp_program)
{
    build();
    cr_assert_not_null(filter.prog.filter);
    const char *const *names = seccomp_denied_names();
    unsigned resolved = 0;
    for (size_t i = 0; names[i]; i++)
        if (seccomp_syscall_resolve_name(names[i]) >= 0) resolved++;
    /* At least one comparison per denied call on this architecture. */
    cr_assert_geq(filter.prog.len, resolved, "%u instructions for %u calls", filter.prog.len, resolved);
    /* libseccomp starts by checking the architecture, and the program must
     * hold both answers: EPERM for the list, ENOSYS for clone3. */
    const struct sock_filter *p = filter.prog.filter;
    cr_assert_eq(p[0].code, BPF_LD | BPF_W | BPF_ABS);
    cr_assert_eq(p[0].k, offsetof(struct seccomp_data, arch));
    bool eperm = false, enosys = false;
    for (unsigned i = 0; i < filter.prog.len; i++) {
        if (BPF_CLASS(p[i].code) != BPF_RET) continue;
        if (p[i].k == (SECCOMP_RET_ERRNO | EPERM)) eperm = true;
        if (p[i].k == (SECCOMP_RET_ERRNO | ENOSYS)) enosys = true;
    }
    cr_assert(eperm && enosys, "EPERM return %d, ENOSYS return %d", eperm, enosys);
    cr_assert_eq(BPF_CLASS(p[filter.prog.len - 1].code), BPF_RET, "program does not end in a return");

    seccomp_filter_free(&filter);
    cr_assert_null(filter.prog.filter);
    cr_assert_eq(filter.prog.len, 0);
    seccomp_filter_free(&filter);   /* twice is harmless */
}

Test(seccomp, denied_names_list)
{
    static const char *const want[] = {
        "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen",
        "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "kexec_load", "kexec_file_load",
        "init_module", "finit_module", "delete_module", "perf_event_open", "userfaultfd",
        "keyctl", "add_key", "request_key", "unshare", "setns", "clock_settime", "clock_adjtime",
        "settimeofday", "adjtimex", "reboot", "swapon", "swapoff", "acct", "open_by_handle_at",
        "io_uring_setup", "io_uring_enter", "io_uring_register",
    };
    const char *const *names = seccomp_denied_names();
    cr_assert_not_null(names);
    size_t n = 0;
    while (names[n]) n++;
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++) found = strcmp(names[i], want[w]) == 0;
        cr_assert(found, "%s is not denied", want[w]);
    }
    for (size_t i = 0; i < n; i++) {
        /* The build skips names libseccomp does not know: a typo would
         * silently allow the call. (Calls missing on this architecture
         * resolve to a negative pseudo number, not to an error.) */
        cr_assert_neq(seccomp_syscall_resolve_name(names[i]), __NR_SCMP_ERROR, "unknown name %s", names[i]);
        for (size_t j = i + 1; j < n; j++) cr_assert_str_neq(names[i], names[j], "duplicate");
    }
}

/* ---- probes in a child ---- */

typedef struct { long ret; int err; } res_t;
typedef struct {
    const char *what;
    long (*fn)(long);
    long arg;
    int want;        /* errno expected under the filter; 0 = must succeed */
    bool control;    /* also run unfiltered: must not fail with `want` there */
} probe_t;

static long p_mount(long a) { return syscall(SYS_mount, "none", "/nonexistent-nimbus/x", "tmpfs", 0UL, NULL); }
static long p_umount2(long a) { return syscall(SYS_umount2, "/nonexistent-nimbus/x", 0); }
static long p_ptrace(long a) { return syscall(SYS_ptrace, a, a == PTRACE_TRACEME ? 0 : INT_MAX, 0, 0); }
static long p_setns(long a) { return syscall(SYS_setns, -1, 0); }
static long p_keyctl(long a) { return syscall(SYS_keyctl, 0x7fff, 0, 0, 0, 0); }   /* no such op */
static long p_bpf(long a) { return syscall(SYS_bpf, 0x7fff, NULL, 0); }           /* no such cmd */
static long p_reboot(long a) { return syscall(SYS_reboot, 0, 0, 0, NULL); }       /* bad magic */
static long p_init_module(long a) { return syscall(SYS_init_module, NULL, 0UL, ""); }
static long p_kexec_load(long a) { return syscall(SYS_kexec_load, 0UL, 1000UL, NULL, 0UL); }
static long p_unshare(long a) { return syscall(SYS_unshare, a); }

static long p_clock_settime(long a)
{
    struct timespec ts = { 1, 0 };
    return syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts);   /* never settable */
}

/* TIOCSTI on a pipe (ENOTTY unfiltered); `a` adds bits above the 32 the
 * kernel looks at, which the filter must mask away too. */
static long p_tiocsti(long a)
{
    int fds[2];
    if (pipe(fds) < 0) return -2;
    char c = 'x';
    long r = syscall(SYS_ioctl, fds[0], (unsigned long)a | TIOCSTI, &c);
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    errno = e;
    return r;
}

/* Raw clone, fork-like (no new stack). Unfiltered, the child just leaves. */
static long p_clone(long flags)
{
    long r = syscall(SYS_clone, flags | SIGCHLD, 0L, NULL, NULL, 0L);
    if (r == 0) _exit(0);
    int e = errno;
    if (r > 0) waitpid((pid_t)r, NULL, 0);
    errno = e;
    return r;
}

static long p_clone3(long a)
{
    uint64_t args[8] = { 0, 0, 0, 0, SIGCHLD, 0, 0, 0 };   /* struct clone_args, v0 */
    long r = syscall(SYS_clone3, args, sizeof args);
    if (r == 0) _exit(0);
    int e = errno;
    if (r > 0) waitpid((pid_t)r, NULL, 0);
    errno = e;
    return r;
}

static long p_any(long nr) { return syscall(nr, -1L, -1L, -1L, -1L, -1L, -1L); }

static long p_getpid(long a) { return syscall(SYS_getpid) == getpid() && getpid() > 0 ? 0 : -1; }

static long p_file(long a)
{
    char path[] = "/tmp/nimbus-seccomp-XXXXXX", buf[8] = "";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    unlink(path);
    long ok = write(fd, "hello", 5) == 5 && lseek(fd, 0, SEEK_SET) == 0 && read(fd, buf, 5) == 5 &&
              memcmp(buf, "hello", 5) == 0;
    close(fd);
    return ok ? 0 : -1;
}

static long p_loopback(long a)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s = -1;
    char ch = 0;
    long ok = l >= 0 && c >= 0 && bind(l, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(l, 1) == 0 &&
              getsockname(l, (struct sockaddr *)&sa, &sl) == 0 &&
              connect(c, (struct sockaddr *)&sa, sizeof sa) == 0 && (s = accept(l, NULL, NULL)) >= 0 &&
              write(c, "z", 1) == 1 && read(s, &ch, 1) == 1 && ch == 'z';
    close(s);
    close(c);
    close(l);
    return ok ? 0 : -1;
}

static long p_fork(long a)
{
    pid_t p = fork();
    if (p == 0) _exit(7);
    int st = 0;
    return p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : -1;
}

static long p_clone_plain(long a)
{
    long r = syscall(SYS_clone, (long)SIGCHLD, 0L, NULL, NULL, 0L);
    if (r == 0) _exit(5);
    int st = 0;
    return r > 0 && waitpid((pid_t)r, &st, 0) == r && WIFEXITED(st) && WEXITSTATUS(st) == 5 ? 0 : -1;
}

static void *thread_fn(void *arg) { return arg; }

/* glibc tries clone3 first and falls back to clone on ENOSYS. */
static long p_thread(long a)
{
    pthread_t t;
    void *out = NULL;
    if (pthread_create(&t, NULL, thread_fn, (void *)42) != 0) return -1;
    return pthread_join(t, &out) == 0 && out == (void *)42 ? 0 : -1;
}

static long p_fionread(long a)
{
    int fds[2], n = -1;
    if (pipe(fds) < 0) return -1;
    long ok = write(fds[1], "ab", 2) == 2 && ioctl(fds[0], FIONREAD, &n) == 0 && n == 2;
    close(fds[0]);
    close(fds[1]);
    return ok ? 0 : -1;
}

/* Read `n` bytes, waiting at most 20 s in all; bytes read, -1 on timeout. */
static ssize_t read_timed(int fd, void *buf, size_t n)
{
    size_t have = 0;
    for (int waited = 0; have < n; ) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        int pr = poll(&pfd, 1, 100);
        if (pr == 0 && (waited += 100) >= 20000) return -1;
        if (pr < 0 && errno != EINTR) return -1;
        if (pr <= 0) continue;
        ssize_t r = read(fd, (char *)buf + have, n - have);
        if (r <= 0) break;
        have += (size_t)r;
    }
    return (ssize_t)have;
}

/* Fork a child that (with `filtered`) sets no_new_privs and installs the
 * filter, runs the probes and writes back the install result and one res_t
 * per probe. */
static void run_probes(const probe_t *p, size_t n, bool filtered, res_t *out)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        setsid();   /* no controlling terminal: vhangup and TIOCSTI reach nothing */
        int rc = 0;
        if (filtered) {
            rc = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            if (rc == 0) rc = seccomp_filter_install(&filter);
        }
        res_t r[128];
        for (size_t i = 0; rc == 0 && i < n; i++) {
            errno = 0;
            r[i].ret = p[i].fn(p[i].arg);
            r[i].err = r[i].ret < 0 ? errno : 0;
        }
        if (write(fds[1], &rc, sizeof rc) != (ssize_t)sizeof rc) _exit(2);
        if (rc == 0 && write(fds[1], r, n * sizeof r[0]) != (ssize_t)(n * sizeof r[0])) _exit(3);
        _exit(0);
    }
    close(fds[1]);
    int rc = -1;
    ssize_t got = read_timed(fds[0], &rc, sizeof rc);
    size_t want = n * sizeof *out;
    ssize_t have = got == (ssize_t)sizeof rc && rc == 0 ? read_timed(fds[0], out, want) : 0;
    close(fds[0]);
    if (got < 0 || have < 0) kill(pid, SIGKILL);   /* hung (e.g. stopped): fail, don't time out */
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "probe child status %#x (signal %d)", st,
              WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    cr_assert_eq(got, (ssize_t)sizeof rc);
    cr_assert_eq(rc, 0, "no_new_privs/seccomp_filter_install failed in the child");
    cr_assert_eq(have, (ssize_t)want, "short results");
}

static void check_denied(const probe_t *p, size_t n)
{
    build();
    res_t r[128];
    cr_assert_leq(n, 128);
    run_probes(p, n, true, r);
    for (size_t i = 0; i < n; i++)
        cr_expect(r[i].ret == -1 && r[i].err == p[i].want, "%s: ret %ld errno %d (%s), want errno %d",
                  p[i].what, r[i].ret, r[i].err, strerror(r[i].err), p[i].want);
    /* The same probes unfiltered must not give the same answer. */
    probe_t c[128] = {0};
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i].control) c[m++] = p[i];
    run_probes(c, m, false, r);
    for (size_t i = 0; i < m; i++)
        cr_expect(!(r[i].ret == -1 && r[i].err == c[i].want), "%s fails with errno %d even unfiltered: the probe proves nothing",
                  c[i].what, c[i].want);
}

Test(seccomp, denied_calls_fail_with_eperm)
{
    /* Unfiltered, these would succeed (or change the child) or depend on
     * the kernel's configuration, so they have no control run: ptrace
     * TRACEME, unshare, namespace clones, init_module/kexec_load (EPERM
     * anyway where modules or kexec are locked down). The unshares come
     * and TRACEME come last: unfiltered they would change what the rest
     * sees. */
    const probe_t p[] = {
        { "mount", p_mount, 0, EPERM, true },
        { "umount2", p_umount2, 0, EPERM, true },
        { "ptrace(ATTACH)", p_ptrace, PTRACE_ATTACH, EPERM, true },
        { "setns", p_setns, 0, EPERM, true },
        { "keyctl", p_keyctl, 0, EPERM, true },
        { "bpf", p_bpf, 0, EPERM, true },
        { "clock_settime", p_clock_settime, 0, EPERM, true },
        { "reboot", p_reboot, 0, EPERM, true },
        { "init_module", p_init_module, 0, EPERM, false },
        { "kexec_load", p_kexec_load, 0, EPERM, false },
        { "ioctl(TIOCSTI)", p_tiocsti, 0, EPERM, true },
        { "ioctl(TIOCSTI | 1 << 32)", p_tiocsti, 1L << 32, EPERM, true },
        { "clone(CLONE_NEWNS)", p_clone, CLONE_NEWNS, EPERM, false },
        { "clone(CLONE_NEWUTS)", p_clone, CLONE_NEWUTS, EPERM, false },
        { "clone(CLONE_NEWIPC)", p_clone, CLONE_NEWIPC, EPERM, false },
        { "clone(CLONE_NEWUSER)", p_clone, CLONE_NEWUSER, EPERM, false },
        { "clone(CLONE_NEWPID)", p_clone, CLONE_NEWPID, EPERM, false },
        { "clone(CLONE_NEWNET)", p_clone, CLONE_NEWNET, EPERM, false },
        { "clone(CLONE_NEWCGROUP)", p_clone, CLONE_NEWCGROUP, EPERM, false },
        { "clone(CLONE_NEWNS | CLONE_NEWPID | CLONE_FS)", p_clone, CLONE_NEWNS | CLONE_NEWPID | CLONE_FS, EPERM, false },
        { "clone3", p_clone3, 0, ENOSYS, false },
        { "unshare(CLONE_NEWUSER)", p_unshare, CLONE_NEWUSER, EPERM, false },
        { "unshare(CLONE_NEWNS)", p_unshare, CLONE_NEWNS, EPERM, false },
        /* Last: unfiltered, a traced child would stop at its next signal. */
        { "ptrace(TRACEME)", p_ptrace, PTRACE_TRACEME, EPERM, false },
    };
    check_denied(p, sizeof p / sizeof p[0]);
}

/* Every listed call present on this architecture, with all-ones arguments
 * (harmless were it let through: bad pointers, fds and flags). */
Test(seccomp, every_listed_call_is_denied)
{
    probe_t p[128];
    size_t n = 0;
    for (const char *const *s = seccomp_denied_names(); *s; s++) {
        int nr = seccomp_syscall_resolve_name(*s);
        if (nr < 0) continue;   /* not on this architecture */
        cr_assert_lt(n, 128);
        p[n++] = (probe_t){ *s, p_any, nr, EPERM, false };
    }
    cr_assert_gt(n, 40);
    check_denied(p, n);
}

Test(seccomp, ordinary_calls_still_work)
{
    build();
    const probe_t p[] = {
        { "getpid", p_getpid, 0, 0, false },
        { "open/write/read a temp file", p_file, 0, 0, false },
        { "TCP on loopback", p_loopback, 0, 0, false },
        { "fork", p_fork, 0, 0, false },
        { "clone(SIGCHLD)", p_clone_plain, 0, 0, false },
        { "pthread_create", p_thread, 0, 0, false },
        { "ioctl(FIONREAD)", p_fionread, 0, 0, false },
    };
    size_t n = sizeof p / sizeof p[0];
    res_t r[8];
    run_probes(p, n, true, r);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(r[i].ret, 0, "%s under the filter: ret %ld errno %d (%s)", p[i].what, r[i].ret, r[i].err,
                     strerror(r[i].err));
}

Test(seccomp, install_without_no_new_privs_needs_privilege)
{
    /* The filter refuses to go on without no_new_privs unless the caller
     * has CAP_SYS_ADMIN: the spawner must set it. Shown in a child. */
    build();
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int rc = seccomp_filter_install(&filter);
        int e = errno;
        if (geteuid() == 0) _exit(rc == 0 && syscall(SYS_bpf, 0x7fff, NULL, 0) == -1 && errno == EPERM ? 0 : 1);
        _exit(rc == -1 && e == EACCES ? 0 : 1);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

/* ---- socket families: an allow-list ---- */

/* socket(family, any type, protocol) — `a` packs family (low 32 bits plus
 * anything above), protocol (bits 48..55) and SOCK_PACKET-ness (bit 56).
 * 0 when some type works; else -1 with the most telling errno: one that
 * is not EAFNOSUPPORT (the family exists but wants another type or
 * privilege), or EAFNOSUPPORT when every type said so. */
#define SOCK_ARG(fam, proto) (((long)(proto) << 48) | (long)(unsigned)(fam))
#define SOCK_ARG_PACKET (1L << 56)

static long p_socket(long a)
{
    long fam = a & 0xffffffffffffL;   /* the family with whatever was put above its int */
    long proto = (a >> 48) & 0xff;
    static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET };
    const int *t = types;
    size_t nt = sizeof types / sizeof types[0];
    static const int packet[] = { SOCK_PACKET };
    if (a & SOCK_ARG_PACKET) { t = packet; nt = 1; }
    int best = EAFNOSUPPORT;
    for (size_t i = 0; i < nt; i++) {
        long fd = syscall(SYS_socket, fam, (long)t[i], proto);
        if (fd >= 0) { close((int)fd); return 0; }
        if (errno != EAFNOSUPPORT) best = errno;
    }
    errno = best;
    return -1;
}

static long p_socketpair(long fam)
{
    int sv[2];
    long r = syscall(SYS_socketpair, fam, (long)SOCK_STREAM, 0L, sv);
    if (r < 0) r = syscall(SYS_socketpair, fam, (long)SOCK_DGRAM, 0L, sv);
    if (r == 0) { close(sv[0]); close(sv[1]); }
    return r;
}

static bool allowed_family(int fam) { return fam == AF_UNIX || fam == AF_INET || fam == AF_INET6 || fam == AF_NETLINK; }

/* Every family outside the list, netlink's other protocols, AF_INET's
 * SOCK_PACKET and families past AF_MAX fail with EAFNOSUPPORT. The kernel
 * itself says EAFNOSUPPORT for a family it was built without, so the
 * control run proves the filter only for the families this kernel has
 * (AF_PACKET, AF_VSOCK, AF_XDP, ... : any other answer unfiltered) —
 * those are the ones that matter, and there must be some. */
Test(seccomp, socket_families_outside_the_allow_list_fail_with_eafnosupport)
{
    static char names[AF_MAX + 64][40];
    probe_t p[128];
    size_t n = 0;
    for (int fam = 0; fam < AF_MAX; fam++) {
        if (allowed_family(fam)) continue;
        snprintf(names[n], sizeof names[n], "socket(family %d)", fam);
        p[n] = (probe_t){ names[n], p_socket, SOCK_ARG(fam, 0), EAFNOSUPPORT, true };
        n++;
    }
    static const int netlink[] = { 2 /* USERSOCK */, 4 /* SOCK_DIAG */, 9 /* AUDIT */, 12 /* NETFILTER */,
                                   15 /* KOBJECT_UEVENT */, 16 /* GENERIC */, 21 /* CRYPTO */ };
    for (size_t i = 0; i < sizeof netlink / sizeof netlink[0]; i++) {
        snprintf(names[n], sizeof names[n], "socket(AF_NETLINK, protocol %d)", netlink[i]);
        p[n] = (probe_t){ names[n], p_socket, SOCK_ARG(AF_NETLINK, netlink[i]), EAFNOSUPPORT, true };
        n++;
    }
    p[n++] = (probe_t){ "socket(AF_INET, SOCK_PACKET)", p_socket, SOCK_ARG(AF_INET, 0) | SOCK_ARG_PACKET,
                        EAFNOSUPPORT, true };
    p[n++] = (probe_t){ "socket(AF_VSOCK | 1 << 32)", p_socket, SOCK_ARG(AF_VSOCK, 0) | (1L << 32), EAFNOSUPPORT, true };
    p[n++] = (probe_t){ "socket(AF_MAX)", p_socket, SOCK_ARG(AF_MAX, 0), EAFNOSUPPORT, false };
    p[n++] = (probe_t){ "socket(-1)", p_socket, SOCK_ARG(-1, 0), EAFNOSUPPORT, false };
    p[n++] = (probe_t){ "socketpair(AF_INET)", p_socketpair, AF_INET, EAFNOSUPPORT, true };
    p[n++] = (probe_t){ "socketpair(AF_INET6)", p_socketpair, AF_INET6, EAFNOSUPPORT, true };
    p[n++] = (probe_t){ "socketpair(AF_NETLINK)", p_socketpair, AF_NETLINK, EAFNOSUPPORT, true };
    p[n++] = (probe_t){ "socketpair(AF_VSOCK)", p_socketpair, AF_VSOCK, EAFNOSUPPORT, true };

    /* Which of these the kernel has: they keep their control run. */
    res_t r[128];
    cr_assert_leq(n, 128);
    run_probes(p, n, false, r);
    size_t proved = 0;
    for (size_t i = 0; i < n; i++) {
        p[i].control = p[i].control && !(r[i].ret == -1 && r[i].err == EAFNOSUPPORT);
        if (p[i].control) proved++;
    }
    cr_assert_geq(proved, 4, "only %zu of the probes reach a family this kernel has", proved);
    check_denied(p, n);
}

static long p_getifaddrs_lo(long a)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0) return -1;
    long found = -1;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
        if (strcmp(i->ifa_name, "lo") == 0) found = 0;
    freeifaddrs(ifa);
    return found;
}

Test(seccomp, allowed_socket_families_still_work)
{
    build();
    const probe_t p[] = {
        { "socket(AF_UNIX)", p_socket, SOCK_ARG(AF_UNIX, 0), 0, false },
        { "socket(AF_INET)", p_socket, SOCK_ARG(AF_INET, 0), 0, false },
        { "socket(AF_INET6)", p_socket, SOCK_ARG(AF_INET6, 0), 0, false },
        { "socket(AF_NETLINK, NETLINK_ROUTE)", p_socket, SOCK_ARG(AF_NETLINK, 0), 0, false },
        { "socketpair(AF_UNIX)", p_socketpair, AF_UNIX, 0, false },
        { "getifaddrs (netlink route)", p_getifaddrs_lo, 0, 0, false },
    };
    size_t n = sizeof p / sizeof p[0];
    res_t r[8];
    run_probes(p, n, true, r);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(r[i].ret, 0, "%s under the filter: ret %ld errno %d (%s)", p[i].what, r[i].ret, r[i].err,
                     strerror(r[i].err));
}
