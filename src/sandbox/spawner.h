/* spawner.h — the privileged helper that builds sandboxes (docs/design.md,
 * decision 5).
 *
 * `nimbus serve` forks the spawner first, while it is tiny and has no
 * threads. From then on only the spawner clones into namespaces, mounts,
 * writes cgroups, installs seccomp filters and changes credentials; the
 * daemon may drop to an ordinary user (`--user`). They talk over a
 * SOCK_SEQPACKET socketpairs: small typed messages, fds handed back with
 * SCM_RIGHTS (the instance's pidfd, its runtime-API listening socket made
 * inside its network namespace, its output pipe, its exit-status pipe and
 * the cgroup files the daemon reads).
 *
 * Spawn requests are answered when the instance is ready, in any order:
 * the daemon's loop is never held up by a cold start, and the spawner
 * builds several at once (each instance's init does its own mounts while
 * the spawner serves the next request). The spawner keeps a few inits made
 * ahead of requests (`pool`): their namespaces, loopback and runtime-API
 * socket exist before a call needs them; for runtimes that allow it
 * (spawn requests with `prestart`), one per runtime command has the runtime
 * itself started and waiting for its environment. Exec requests (a command
 * in a live instance) are answered at once: a helper the spawner forks
 * enters the instance and starts the command as confined as the runtime;
 * the daemon gets the command's output, its exit status and a pipe whose
 * closing kills it. A socket in an instance's network
 * namespace is asked for by one thread at a time (the loop thread);
 * one-way requests (signal, release) may come from any thread. The spawner
 * ends every instance and exits when the daemon's end of the sockets close.
 *
 * Not root, the spawner makes itself root of a user namespace and builds
 * the same sandboxes there (rootless mode); cgroups are used only where
 * the user may create them.
 */
#ifndef NIMBUS_SPAWNER_H
#define NIMBUS_SPAWNER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/prom.h"
#include "sandbox/sandbox.h"

typedef struct {
    const char *data_dir;     /* absolute: code trees live in <data_dir>/code/<sha256>/tree */
    const char *runtime_dir;  /* absolute: bound read-only at /var/runtime */
    uid_t uid;                /* the sandbox user: on the host as root, inside when rootless */
    gid_t gid;
    int pool;                 /* inits made ahead of requests and kept ready (0: none) */
} spawner_config_t;

typedef struct {
    bool rootless;            /* not root: sandboxes in a user namespace */
    bool cgroups;             /* instances get cgroups (limits and accounting) */
    bool tmp_disk;            /* /tmp is a file system of its own per instance, not memory */
    char tmp_why[200];        /* when not: why */
} spawner_info_t;

/* Can this process build sandboxes (root, or user namespaces)? If not,
 * `why` says what is missing. */
bool spawner_supported(char *why, size_t n);
/* Fork the spawner. Call before any thread exists. */
int spawner_start(const spawner_config_t *cfg, spawner_info_t *info, err_t *err);
/* Close the sockets and wait for the spawner to end every instance and exit;
 * spawn requests still out are dropped (their `done` is never called). */
void spawner_stop(void);

/* ---- the daemon's side, used by sandbox.c ---- */

/* How a spawn ended: rc 0 (p is filled) or -1 with err. */
typedef void (*spawner_done_fn)(void *arg, int rc, const err_t *err);
/* Ask for an instance. Does not wait: `done` is called from
 * spawner_dispatch() once the instance is ready or failed. -1 when the
 * request could not be sent (then `done` is never called). */
int spawner_spawn(const sandbox_spec_t *spec, sandbox_proc_t *p, spawner_done_fn done, void *arg, err_t *err);
/* The socket spawn answers arrive on, for the daemon's loop (-1 none). */
int spawner_answer_fd(void);
/* Handle the answers that have arrived (with `wait`, block until at least
 * one has), calling their `done`. */
void spawner_dispatch(bool wait);
/* Ask for a command in the live instance `handle` (sandbox_exec): the
 * spawner enters the instance and starts it confined as the instance is.
 * `env` NULL: the instance's own environment. Does not wait: `done` is
 * called from spawner_dispatch() with `x` filled (rc 0) or not (-1). -1
 * when the request could not be sent (then `done` is never called). */
int spawner_exec(uint32_t handle, char *const *argv, char *const *env, const sandbox_exec_io_t *io,
                 sandbox_exec_t *x, spawner_done_fn done, void *arg, err_t *err);
/* Keep runtimes of this command (spec's exe, argv, prestart and network;
 * nothing of the function) started ahead from now on, before any spawn
 * names it. Nothing for a spec without prestart or with Network host.
 * The first order for a kind is answered (through spawner_dispatch) once
 * its first runtime is warm, or the spawner gave up on it; until then
 * spawner_warming says so. Loop thread only, as spawns. */
void spawner_warm(const sandbox_spec_t *spec);
bool spawner_warming(const sandbox_spec_t *spec);
/* One-way: signal the instance's first process (its pid namespace's init,
 * which forwards SIGTERM to the runtime; SIGKILL ends the namespace). */
void spawner_signal(uint32_t handle, int sig);
/* One-way: kill what is left, remove its cgroup, forget it. */
void spawner_release(uint32_t handle);
/* A non-blocking TCP socket created inside the instance's network
 * namespace (to connect to a server listening there). */
int spawner_net_socket(uint32_t handle, err_t *err);
/* For the metrics page (loop thread): requests out or waiting to be sent,
 * and the spawns' latency (request -> answer read). */
void spawner_metrics(unsigned *pending, unsigned *waiting, prom_hist_t *latency);

#endif
