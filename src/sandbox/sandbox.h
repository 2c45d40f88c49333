/* sandbox.h — start an instance's process tree and end it, and start a
 * command inside a live one (`nimbus exec`).
 *
 * The caller (the activator) says what to run; the sandbox makes the
 * process, its stdout/stderr pipes, its runtime-API listening socket and its
 * cgroup, and hands back fds the daemon's loop watches. The runtime-API
 * socket is made here, not by the caller, because in an isolated instance
 * it must live in the instance's own network namespace (docs/design.md,
 * decision 4); the address the runtime must call is returned in `api_addr`.
 *
 * Two modes, chosen once at start-up (sandbox_configure):
 *  - sandboxed (the spawner builds it, spawner.h; rootless: in a user
 *    namespace of its own): new pid, mount, ipc, uts,
 *    cgroup and (unless Network is "host") net namespaces; a read-only root
 *    with /usr, the code at /var/task and the runtime dir at /var/runtime;
 *    a size-limited /tmp; an unprivileged uid without capabilities,
 *    no_new_privs, a seccomp deny-list; cgroup limits (memory without swap,
 *    CPU in proportion to memory, pids). Paths given to the runtime (exe,
 *    argv, env) are already those inside the sandbox; code_dir is the host's.
 *  - unsandboxed (--insecure-no-sandbox): a plain child process in its own
 *    session and process group, in its own cgroup (accounting only) when
 *    one is available.
 */
#ifndef NIMBUS_SANDBOX_H
#define NIMBUS_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/cgroup.h"
#include "base/err.h"

typedef struct {
    const char *id;          /* instance id: names the cgroup */
    const char *code_dir;    /* extracted code: the task root and cwd */
    const char *opt_dir;     /* the merged tree of its layers, mounted read-only at
                                /opt (NULL or "" for none; unsandboxed: not mounted) */
    const char *exe;         /* program to exec (absolute path) */
    char *const *argv;       /* its argv */
    char *const *env;        /* environment, without AWS_LAMBDA_RUNTIME_API */
    int memory_mb;           /* function memory (for limits) */
    int tmp_mb;              /* size of /tmp (EphemeralStorage), 0 = 512 */
    bool net_host;           /* Network "host": no network namespace of its own */
    bool net_egress;         /* Network "egress": its namespace has a way out through
                                the host's NAT, never to the host (netns.h) */
    bool prestart;           /* the runtime may be one started ahead (runtime_t.prestart) */
    bool zygote;             /* and may be forked from an initialised interpreter (runtime_t.zygote) */
} sandbox_spec_t;

typedef struct {
    pid_t pid;               /* the instance's first process */
    int pidfd;               /* readable when it exits */
    int out_fd;              /* read end of its stdout+stderr, one pipe (non-blocking) */
    int err_fd;              /* always -1: stderr shares out_fd */
    int api_fd;              /* listening runtime-API socket (non-blocking) */
    char api_addr[32];       /* "127.0.0.1:PORT" as given to the runtime */
    cgroup_t *cg;            /* its cgroup, or NULL when unavailable (sandboxed: a
                                handle to join it, the spawner owns the group) */
    /* sandboxed: */
    bool sandboxed;
    bool own_net;            /* in a network namespace of its own */
    uint32_t handle;         /* the spawner's name for it */
    int status_fd;           /* its init's report of how the runtime ended */
    int peak_fd;             /* cgroup memory peak (-1 none) */
    int oom_fd;              /* cgroup OOM-kill counter (-1 none) */
    int64_t memory_limit;    /* bytes, 0 when no limit is in force */
    unsigned limits;         /* cgroup_limits_applied() bits */
    uint64_t spawn_ns;       /* from the request to the sandbox ready (runtime started) */
    bool pooled;             /* a pre-made init took it (namespaces made ahead) */
    bool prestarted;         /* and its runtime was already started (pre-started or zygote) */
    bool zygote;             /* its runtime was forked from the runtime's zygote */
    bool forked_ahead;       /* ... before the request (else at it: a burst beyond those made ahead) */
    bool zygote_down;        /* it could have been, but the zygote died or failed (being restarted) */
    /* The spawner's breakdown, microseconds, on the request's own path:
     * clone (0 when pooled), cgroup, waiting for the init, mounts,
     * privileges + seccomp, exec, the spawner's total. */
    uint32_t phase_us[7];
} sandbox_proc_t;

#define SANDBOX_UID 993       /* the sandbox user, inside (and on the host as root) */
#define SANDBOX_PIDS_MAX 512  /* processes and threads per instance */

/* Choose the mode (before the first spawn). */
void sandbox_configure(bool sandboxed);
bool sandbox_enabled(void);

/* How a start ended: err NULL when the instance runs, else why not. */
typedef void (*sandbox_done_fn)(void *arg, const err_t *err);
/* Start the instance. Returns 1 when it is started already (unsandboxed),
 * 0 when `done` will say (sandboxed: called from sandbox_dispatch once the
 * spawner answers), -1 with `err` when it cannot start. On failure nothing
 * is left behind. `spec` need not outlive the call; `p` must live until
 * `done`. */
int sandbox_start(const sandbox_spec_t *spec, sandbox_proc_t *p, sandbox_done_fn done, void *arg, err_t *err);
/* The same, waiting for the answer (tools and benchmarks; the daemon's
 * loop never waits). */
int sandbox_spawn(const sandbox_spec_t *spec, sandbox_proc_t *p, err_t *err);
/* The fd whose readability means answers are in (-1 unsandboxed), and
 * what to call then. */
int sandbox_event_fd(void);
void sandbox_dispatch(void);
/* Start runtimes like `spec`'s ahead of their requests from now on (its
 * exe, argv, prestart and network count; its code and environment are
 * not looked at): called when a function is loaded or created, so its
 * first cold start takes one. Never waits; nothing unsandboxed. */
void sandbox_warm(const sandbox_spec_t *spec);
/* Is the first runtime of `spec`'s kind, asked for by sandbox_warm, still
 * being started (a Node runtime that has not said it is warm, a Python
 * kind whose zygote is not up)? False once one was, once the spawner
 * gave up on starting it ahead, SANDBOX_WARMING_MAX_MS after the ask,
 * and for a kind never asked for. What a function's State says. */
bool sandbox_warming(const sandbox_spec_t *spec);
#define SANDBOX_WARMING_MAX_MS 5000
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
/* Did the kernel's OOM killer kill a process of the instance (its memory
 * limit was reached)? */
bool sandbox_oom_killed(const sandbox_proc_t *p);
/* A non-blocking TCP socket from which 127.0.0.1 is the instance's own
 * loopback (made in its network namespace when it has one). */
int sandbox_socket(sandbox_proc_t *p, err_t *err);

/* The same operations as a table, so the core can be given another
 * implementation (a unit test's fake sandbox) without knowing which. */
typedef struct sandbox_ops {
    bool (*enabled)(void);
    int (*start)(const sandbox_spec_t *spec, sandbox_proc_t *p, sandbox_done_fn done, void *arg, err_t *err);
    void (*kill)(sandbox_proc_t *p);
    void (*terminate)(sandbox_proc_t *p);
    int (*reap)(sandbox_proc_t *p, int *si_code, int *status);
    int64_t (*memory_peak)(const sandbox_proc_t *p);
    void (*memory_reset)(sandbox_proc_t *p);
    void (*release)(sandbox_proc_t *p);
    bool (*oom_killed)(const sandbox_proc_t *p);
    void (*warm)(const sandbox_spec_t *spec);   /* may be NULL */
    bool (*warming)(const sandbox_spec_t *spec);   /* may be NULL (never warming) */
} sandbox_ops_t;
/* This module's own implementation of the table. */
extern const sandbox_ops_t sandbox_ops;

/* ---- a command in a live instance (`nimbus exec`) ---- */

/* What the command's stdin is: /dev/null, a pipe, or a terminal (then its
 * stdout and stderr are that terminal too) of `rows` x `cols` (1..65535). */
typedef struct {
    bool stdin_pipe;
    bool tty;
    unsigned rows, cols;
} sandbox_exec_io_t;

typedef struct {
    int out_fd;              /* its stdout+stderr, read end (non-blocking); a tty: its master */
    int exit_fd;             /* readable once it ended: then sandbox_exec_status */
    int in_fd;               /* its stdin, write end (non-blocking), or -1; a tty: its master too */
    bool tty;
    /* the sandbox's own: */
    bool sandboxed;
    bool in_wanted;          /* a pipe or a terminal was asked for */
    bool ended;
    int code;                /* once ended */
    pid_t pid;               /* unsandboxed: the command, leader of its session */
    int kill_fd;             /* sandboxed: closing it kills the command (the spawner's helper watches it) */
} sandbox_exec_t;

/* Start `argv` (argv[0] looked up in PATH) inside the live instance `p`,
 * stdin as `io` says (NULL: /dev/null), stdout and stderr merged into
 * out_fd, in a session of its own (a terminal: the session's), with `env` (NULL: the instance's own environment, as its
 * /proc/<pid>/environ says) in the instance's working directory and cgroup.
 * Sandboxed, the spawner starts it inside the instance's namespaces and
 * root, as its user, with no capabilities, an empty bounding set,
 * no_new_privs and the instance's seccomp filter; unsandboxed it is a
 * plain child of this process. Returns 1 when it is started already
 * (unsandboxed), 0 when `done` will say (sandboxed, from sandbox_dispatch),
 * -1 with `err`. `x` must live until `done`; `done` with an error leaves
 * nothing to release. */
int sandbox_exec(const sandbox_proc_t *p, char *const *argv, char *const *env, const sandbox_exec_io_t *io,
                 sandbox_exec_t *x, sandbox_done_fn done, void *arg, err_t *err);
/* A terminal's new size (its foreground gets SIGWINCH); 0 or -1 with errno. */
int sandbox_exec_resize(sandbox_exec_t *x, unsigned rows, unsigned cols);
/* Once exit_fd is readable: 0 with its exit code (128 + the signal when
 * killed), or -1 while it runs. Never blocks. */
int sandbox_exec_status(sandbox_exec_t *x, int *code);
/* SIGKILL it, its process group and its session. Idempotent. */
void sandbox_exec_kill(sandbox_exec_t *x);
/* Done with it: kill what it left running, reap it (if it ended), close
 * its fds, in_fd too if still open (the caller takes them out of its loop
 * first). */
void sandbox_exec_release(sandbox_exec_t *x);
/* SIGKILL process group `sid` and every other process of session `sid`,
 * as /proc (or `procfd`, a directory fd on a /proc, when >= 0) names them. */
void sandbox_kill_session(int procfd, pid_t sid);
/* The environment process `pid` started with (/proc/<pid>/environ): a
 * NULL-terminated array in one allocation (free it), or NULL with errno. */
char **sandbox_environ_of(pid_t pid);

#endif
