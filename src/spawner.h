/* spawner.h — the privileged helper that builds sandboxes (DESIGN
 * decision 5).
 *
 * `nimbus serve` forks the spawner first, while it is tiny and has no
 * threads. From then on only the spawner clones into namespaces, mounts,
 * writes cgroups, installs seccomp filters and changes credentials; the
 * daemon may drop to an ordinary user (`--user`). They talk over a
 * SOCK_SEQPACKET socketpair: small typed messages, fds handed back with
 * SCM_RIGHTS (the instance's pidfd, its runtime-API listening socket made
 * inside its network namespace, its output pipe, its exit-status pipe and
 * the cgroup files the daemon reads).
 *
 * Requests that need an answer (spawn, a socket in an instance's network
 * namespace) are made by one thread at a time (the loop thread); one-way
 * requests (signal, release) may come from any thread. The spawner ends
 * every instance and exits when the daemon's end of the socket closes.
 */
#ifndef NIMBUS_SPAWNER_H
#define NIMBUS_SPAWNER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "sandbox.h"

typedef struct {
    const char *data_dir;     /* absolute: code trees live in <data_dir>/code/<sha256>/tree */
    const char *runtime_dir;  /* absolute: bound read-only at /var/runtime */
    uid_t uid;                /* the sandbox user on the host (root spawner) */
    gid_t gid;
} spawner_config_t;

/* Can this process build sandboxes (root, or user namespaces)? If not,
 * `why` says what is missing. */
bool spawner_supported(char *why, size_t n);
/* Fork the spawner. Call before any thread exists. */
int spawner_start(const spawner_config_t *cfg, err_t *err);
/* Close the socket and wait for the spawner to end every instance and exit. */
void spawner_stop(void);

/* Daemon side, used by sandbox.c: */
int spawner_spawn(const sandbox_spec_t *spec, sandbox_proc_t *p, err_t *err);
/* One-way: signal the instance's first process (its pid namespace's init,
 * which forwards SIGTERM to the runtime; SIGKILL ends the namespace). */
void spawner_signal(uint32_t handle, int sig);
/* One-way: kill what is left, remove its cgroup, forget it. */
void spawner_release(uint32_t handle);
/* A non-blocking TCP socket created inside the instance's network
 * namespace (to connect to a server listening there). */
int spawner_net_socket(uint32_t handle, err_t *err);

#endif
