/* sandbox.h — start an instance's process tree and end it.
 *
 * The caller (the activator) says what to run; the sandbox makes the
 * process, its stdout/stderr pipes, its runtime-API listening socket and its
 * cgroup, and hands back fds the daemon's loop watches. The runtime-API
 * socket is made here, not by the caller, because in an isolated instance
 * it must live in the instance's own network namespace (DESIGN decision 4);
 * the address the runtime must call is returned in `api_addr`.
 *
 * Today an instance is a plain child process in its own session and
 * process group, in its own cgroup when one is available; isolation
 * (namespaces, mounts, seccomp, limits) is added behind this same interface.
 */
#ifndef NIMBUS_SANDBOX_H
#define NIMBUS_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "err.h"

typedef struct {
    const char *id;          /* instance id: names the cgroup */
    const char *code_dir;    /* extracted code: the task root and cwd */
    const char *exe;         /* program to exec (absolute path) */
    char *const *argv;       /* its argv */
    char *const *env;        /* environment, without AWS_LAMBDA_RUNTIME_API */
    int memory_mb;           /* function memory (for limits) */
} sandbox_spec_t;

typedef struct {
    pid_t pid;               /* the instance's first process */
    int pidfd;               /* readable when it exits */
    int out_fd;              /* read end of its stdout+stderr, one pipe (non-blocking) */
    int err_fd;              /* always -1: stderr shares out_fd */
    int api_fd;              /* listening runtime-API socket (non-blocking) */
    char api_addr[32];       /* "127.0.0.1:PORT" as given to the runtime */
    cgroup_t *cg;            /* its cgroup, or NULL when unavailable */
} sandbox_proc_t;

/* Start the instance. On failure nothing is left behind. */
int sandbox_spawn(const sandbox_spec_t *spec, sandbox_proc_t *p, err_t *err);
/* SIGKILL the whole tree (cgroup, else process group). Idempotent; does
 * not reap. */
void sandbox_kill(sandbox_proc_t *p);
/* SIGTERM the process group (graceful stop request). */
void sandbox_terminate(sandbox_proc_t *p);
/* After the first process exited: collect its status. Returns the wait
 * status as waitid() reported it: si_code CLD_EXITED with *status = exit
 * code, or CLD_KILLED/CLD_DUMPED with *status = signal. */
int sandbox_reap(sandbox_proc_t *p, int *si_code, int *status);
/* Peak memory of the tree since the last reset, bytes (-1 unknown), and
 * the reset done at each call's start. */
int64_t sandbox_memory_peak(const sandbox_proc_t *p);
void sandbox_memory_reset(sandbox_proc_t *p);
/* Kill what remains and free the cgroup and fds (blocking for up to a few
 * hundred ms while the cgroup empties: call from a worker). Does not close
 * api_fd (the HTTP server owns it once served). */
void sandbox_release(sandbox_proc_t *p);

#endif
