/* seccomp_filter.h — the sandbox's system-call deny-list.
 *
 * In the spirit of Docker's default profile, as a deny-list: everything is
 * allowed but what lets a process reach outside its sandbox or the kernel's
 * privileged interfaces (mounts, ptrace, BPF, kexec, modules, keyrings,
 * namespace creation, clock setting, reboot, swap, accounting, userfaultfd,
 * perf events, file handles, ...), which fail with EPERM. clone3 fails with
 * ENOSYS (its flags cannot be inspected; libc falls back to clone, whose
 * namespace flags are checked).
 *
 * Sockets are an allow-list: socket() only for AF_UNIX, AF_INET, AF_INET6
 * and AF_NETLINK with NETLINK_ROUTE, socketpair() only for AF_UNIX; any
 * other family or netlink protocol (AF_VSOCK, AF_PACKET, AF_ALG, AF_XDP,
 * NETLINK_AUDIT, ...), and AF_INET's SOCK_PACKET, fails with EAFNOSUPPORT,
 * as on a kernel built without it, so programs take their usual fallback.
 *
 * (Named seccomp_filter, not seccomp: <seccomp.h> is libseccomp's.)
 *
 * The filter is compiled once (libseccomp, in the spawner at start-up) to a
 * classic BPF program; installing it in each instance is then one prctl.
 */
#ifndef NIMBUS_SECCOMP_FILTER_H
#define NIMBUS_SECCOMP_FILTER_H

#include <linux/filter.h>

#include "base/err.h"

typedef struct {
    struct sock_fprog prog;   /* filter (malloc'd) and length */
} seccomp_filter_t;

/* Compile the deny-list for the native architecture. */
int seccomp_filter_build(seccomp_filter_t *f, err_t *err);
/* Install it on the calling thread (needs no_new_privs or CAP_SYS_ADMIN).
 * Async-signal-safe: one prctl. */
int seccomp_filter_install(const seccomp_filter_t *f);
void seccomp_filter_free(seccomp_filter_t *f);
/* Names of the denied system calls (NULL-terminated), for tests and docs. */
const char *const *seccomp_denied_names(void);

#endif
