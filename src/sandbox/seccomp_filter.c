/* seccomp_filter.c — the sandbox's deny-list, compiled with libseccomp to a BPF
 * program once, installed per instance with one prctl. Owns the list of
 * denied calls. Must never: allow by omission what the list names, or
 * build the filter in a freshly cloned child (libseccomp allocates).
 */
#define _GNU_SOURCE
#include "sandbox/seccomp_filter.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>

#include <linux/seccomp.h>

static const char *const DENIED[] = {
    /* file systems and the root */
    "mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "quotactl", "quotactl_fd",
    /* other processes */
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    /* the kernel's privileged interfaces */
    "bpf", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "create_module", "get_kernel_syms", "query_module", "uselib", "lookup_dcookie", "nfsservctl",
    "perf_event_open", "userfaultfd", "syslog", "iopl", "ioperm", "vhangup", "acct",
    "reboot", "swapon", "swapoff", "fanotify_init",
    /* keyrings */
    "keyctl", "add_key", "request_key",
    /* namespaces */
    "unshare", "setns",
    /* the clock */
    "clock_settime", "clock_adjtime", "settimeofday", "adjtimex", "stime",
    /* file handles bypass path checks (the "shocker" escape) */
    "open_by_handle_at", "name_to_handle_at",
    /* io_uring runs work outside this filter's view */
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    NULL,
};

const char *const *seccomp_denied_names(void) { return DENIED; }

/* The socket families an instance may create. What the runtimes use:
 * AF_UNIX (local IPC, syslog, the C library's name service), AF_INET and
 * AF_INET6 (the runtime API on loopback, and egress when allowed), and
 * AF_NETLINK for NETLINK_ROUTE alone (getifaddrs, getaddrinfo's
 * AI_ADDRCONFIG, Node's os.networkInterfaces). Every other family reaches
 * code no function needs, and some reach past the network namespace
 * (AF_VSOCK talks to the VM host whatever the namespace). */
static bool family_allowed(int call, int fam)
{
    if (call == SCMP_SYS(socketpair)) return fam == AF_UNIX;   /* the only family that has pairs */
    return fam == AF_UNIX || fam == AF_INET || fam == AF_INET6 || fam == AF_NETLINK;
}

/* Deny socket()/socketpair() of every family but the allowed ones. With a
 * default-allow filter, "not in the set" is one rule per other family (a
 * rule's comparisons are ANDed, rules are ORed) and one for every number at
 * or above AF_MAX. The per-family rules compare the low 32 bits (the kernel
 * reads an int); the last rule compares all 64, so a family with bits above
 * the int also fails — safe, and no C library passes one. */
static int deny_socket_families(scmp_filter_ctx ctx, int call)
{
    int rc = 0;
    for (int fam = 0; fam < AF_MAX && rc == 0; fam++)
        if (!family_allowed(call, fam))
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)fam));
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1, SCMP_A0(SCMP_CMP_GE, AF_MAX, 0));
    return rc;
}

/* The families' allowed parts: netlink for NETLINK_ROUTE only (audit,
 * uevents, netfilter, crypto, ... are kernel interfaces no function
 * needs), and no SOCK_PACKET over AF_INET (the kernel turns that into an
 * AF_PACKET socket). */
static int deny_socket_protocols(scmp_filter_ctx ctx)
{
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 2,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, AF_NETLINK),
                              SCMP_A2(SCMP_CMP_NE, NETLINK_ROUTE, 0));
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 2,
                                       SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, AF_INET),
                                       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_PACKET));
    return rc;
}

int seccomp_filter_build(seccomp_filter_t *f, err_t *err)
{
    memset(f, 0, sizeof *f);
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return err_set(err, ERR_SYS, "seccomp_init failed");
    int rc = 0;
    for (size_t i = 0; DENIED[i] && rc == 0; i++) {
        int nr = seccomp_syscall_resolve_name(DENIED[i]);
        if (nr == __NR_SCMP_ERROR) continue;          /* unknown name (unit-tested: none in DENIED) */
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    /* clone with any namespace flag: one rule per flag (a rule's
     * comparisons are ANDed; separate rules are ORed). */
    static const unsigned long NS_FLAGS[] = { CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                                              CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWTIME };
    for (size_t i = 0; i < sizeof NS_FLAGS / sizeof NS_FLAGS[0] && rc == 0; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS[i], NS_FLAGS[i]));
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* Keep the terminal's input queue out of reach (TIOCSTI). */
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                                       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, 0x5412u));
    if (rc == 0) rc = deny_socket_families(ctx, SCMP_SYS(socket));
    if (rc == 0) rc = deny_socket_families(ctx, SCMP_SYS(socketpair));
    if (rc == 0) rc = deny_socket_protocols(ctx);
    if (rc < 0) {
        seccomp_release(ctx);
        return err_set(err, ERR_SYS, "seccomp rule: %s", strerror(-rc));
    }
    /* libseccomp 2.5 exports to an fd only: a memfd, read back. */
    int fd = memfd_create("nimbus-seccomp", MFD_CLOEXEC);
    if (fd < 0) { seccomp_release(ctx); return err_sys(err, "memfd_create"); }
    rc = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    off_t len = lseek(fd, 0, SEEK_END);
    if (rc < 0 || len <= 0 || len % (off_t)sizeof(struct sock_filter) != 0) {
        close(fd);
        return err_set(err, ERR_SYS, "seccomp export failed");
    }
    struct sock_filter *prog = malloc((size_t)len);
    if (!prog || pread(fd, prog, (size_t)len, 0) != len) {
        free(prog);
        close(fd);
        return err_set(err, ERR_SYS, "seccomp export read failed");
    }
    close(fd);
    f->prog.filter = prog;
    f->prog.len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
    return 0;
}

int seccomp_filter_install(const seccomp_filter_t *f)
{
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &f->prog, 0, 0);
}

void seccomp_filter_free(seccomp_filter_t *f)
{
    free(f->prog.filter);
    f->prog.filter = NULL;
    f->prog.len = 0;
}
