/* spawner_proto.h — what the spawner's files share: the messages the
 * daemon and the spawner exchange over their SOCK_SEQPACKET socketpairs,
 * the messages between the spawner and an instance's init, the
 * fd-passing helpers, and the spawner's internal entry points. Internal to
 * spawner.c and spawner_prestart.c (the spawner process), spawner_init.c (the template root and
 * each instance's init) and spawner_client.c (the daemon's side); nothing
 * else includes it.
 *
 * Two sockets join the daemon and the spawner: the spawn socket carries
 * SP_SPAWN, SP_EXEC and SP_WARM requests and their answers, tagged,
 * answered in whatever order they are ready (the daemon's loop reads
 * them; a warm order's answer comes when its kind's first runtime is warm);
 * the control socket carries the few requests the daemon waits for
 * (SP_NETSOCK) and one-way orders (SP_SIGNAL, SP_RELEASE) that any daemon
 * thread may send.
 */
#ifndef NIMBUS_SPAWNER_PROTO_H
#define NIMBUS_SPAWNER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/cgroup.h"
#include "base/err.h"
#include "sandbox/seccomp_filter.h"
#include "sandbox/spawner.h"

#define MAX_MSG (128 * 1024)

enum { SP_SPAWN = 1, SP_SIGNAL, SP_RELEASE, SP_NETSOCK, SP_EXEC, SP_WARM };

typedef struct {
    uint32_t type;
    uint32_t tag;            /* SP_SPAWN, SP_EXEC, SP_WARM: the daemon's name for the request, echoed in the answer */
    uint32_t handle;         /* the instance (all but SP_SPAWN) */
    int32_t sig;
    uint32_t memory_mb, tmp_mb, flags, nargv, nenv;
    uint32_t rows, cols;     /* SP_EXEC with SPF_EXEC_TTY: the terminal's size (1..65535 each) */
    char code_dir[512];
    char opt_dir[512];       /* SP_SPAWN: the merged tree of the function's layers, for /opt ("" none) */
    /* then, SP_SPAWN and SP_WARM (nenv 0): exe\0, argv[0..nargv)\0..., env[0..nenv)\0...;
     * SP_EXEC: argv[0..nargv)\0..., env[0..nenv)\0... (argv[0] looked up
     * in the PATH of env) */
} sp_req_t;

#define SPF_NET_HOST 1u
#define SPF_PRESTART 2u      /* the runtime may be started ahead (its exe and argv name nothing of the function) */
#define SPF_OWN_ENV 4u       /* SP_EXEC: no env given, the command gets the instance's own */
#define SPF_TMP_DISK 8u      /* set by the spawner alone: /tmp is a mount fd (ephemeral.h), with the
                                request or in an sp_tmp_t after it, not a tmpfs */
#define SPF_EXEC_STDIN 16u   /* SP_EXEC: the command's stdin is a pipe the daemon writes (else /dev/null) */
#define SPF_NET_EGRESS 64u   /* Network "egress": its namespace gets a way out (egress.h) */
#define SPF_ZYGOTE 128u      /* SP_SPAWN, SP_WARM: the runtime may be forked from its zygote (docs/zygote.md) */
#define SPF_EXEC_TTY 32u     /* SP_EXEC: stdin, stdout and stderr are a terminal of the instance's own
                                devpts; the daemon gets its master */

/* Counts a request may carry (the arrays of sp_req_view_t). */
#define SP_SPAWN_ARGV_MAX 64
#define SP_EXEC_ARGV_MAX 255
#define SP_ENV_MAX 1024

/* A request checked and unpacked: its fixed part copied out, its strings
 * pointing into the message it came from. */
typedef struct {
    sp_req_t hdr;
    const char *exe;                          /* SP_SPAWN and SP_WARM only */
    const char *argv[SP_EXEC_ARGV_MAX + 1];   /* NULL-terminated */
    const char *env[SP_ENV_MAX + 4];          /* NULL-terminated, with room for 3 more */
} sp_req_view_t;

/* Build a request: `hdr` (its nargv and nenv are set here from the
 * arrays), then exe (SP_SPAWN only, else NULL), argv and env
 * (NULL-terminated; env NULL: none). A malloc'd message and its length, or
 * NULL with errno (ENOMEM, or E2BIG past MAX_MSG or the counts). */
char *sp_req_encode(const sp_req_t *hdr, const char *exe, char *const *argv, char *const *env, size_t *len);
/* Decode one request of `len` bytes: the fixed part, a known type, counts
 * in range, every string NUL-terminated inside the message (and code_dir
 * inside its field). 0, or EINVAL when it is malformed. Pure: touches only
 * `buf` and `v`. */
int sp_req_decode(const void *buf, size_t len, sp_req_view_t *v);

enum { FD_PIDFD, FD_OUT, FD_STATUS, FD_API, FD_PEAK, FD_OOM, FD_N };
/* An SP_EXEC answer's fds: the command's output (read end), its exit
 * status (two int32, si_code and status, once it ended) and the kill pipe
 * (write end: a byte or its closing kills the command's process group and
 * session; closed by the daemon when it is done with the command); with
 * SPF_EXEC_STDIN its stdin (write end), with SPF_EXEC_TTY the terminal's
 * master as both FX_OUT and FX_IN. */
enum { FX_OUT, FX_STATUS, FX_KILL, FX_IN, FX_N };

/* Cold-start phases, microseconds, as the spawner reports them (on the
 * request's own path: what a pre-made init already did counts 0). */
enum { PH_CLONE, PH_CGROUP, PH_INIT_WAIT, PH_MOUNTS, PH_PRIV, PH_EXEC, PH_TOTAL, PH_N };

typedef struct {
    uint32_t type;           /* the request's (SP_SPAWN, SP_EXEC, SP_NETSOCK, SP_WARM) */
    int32_t err;             /* 0 or an errno */
    char msg[256];
    uint32_t tag;
    int32_t pid;
    uint32_t handle;
    uint32_t api_port;
    uint32_t fdmask;         /* which FD_* follow, in order */
    uint32_t limits;
    uint32_t pooled;         /* 1: a pre-made init took the request */
    uint32_t prestarted;     /* 1: and its runtime was already running (pre-started or forked) */
    uint32_t zygote;         /* 1: its runtime was forked from the zygote; 2: a zygote was wanted but
                                is down (the daemon says so once) */
    uint32_t forked_ahead;   /* 1: forked before the request (by a pre-started init), not at it */
    int64_t memory_limit;
    uint32_t phase_us[PH_N];
    char cgdirs[3][256];      /* its cgroup, for `nimbus exec` to join */
} sp_resp_t;

/* Decode an answer of `len` bytes into `out`: the right size, its strings
 * NUL-terminated, only known fd bits set. 0 or EINVAL. Pure. */
int sp_resp_decode(const void *buf, size_t len, sp_resp_t *out);
/* Place the `nf` fds received with an answer by its fdmask: got[i] is the
 * fd for bit i, or -1 (fds beyond the mask's count are left to close).
 * Returns how many were placed. */
int sp_resp_fds(uint32_t fdmask, const int *fds, int nf, int got[FD_N]);

/* init -> spawner, once: how the start went (with the runtime-API socket
 * when it went well). */
typedef struct {
    int32_t err, stage;
    uint32_t port;
    uint32_t zygote;         /* 1: the runtime is the zygote's fork; 2: the zygote failed it, exec'd instead */
    uint64_t t_run, t_prepared, t_request, t_mounts, t_priv, t_exec;
} sp_ready_t;

/* spawner -> init, after a request with SPF_TMP_DISK that came without
 * its /tmp: the mount fd (err 0) or why there is none. */
typedef struct {
    int32_t err;
} sp_tmp_t;

/* Send a message with up to FD_N fds; 0 or -1. */
int sp_send(int sock, const void *buf, size_t len, const int *fds, int nfds);
/* Receive one message: its length (0 at EOF, -1 error); fds go to fds[]
 * (closed when nfds is NULL). */
ssize_t sp_recv(int sock, void *buf, size_t len, int *fds, int *nfds);
/* The daemon's side, once the spawner is forked: its two sockets and pid. */
void spawner_client_attach(int spawn_sock, int ctl_sock, pid_t pid);

/* ---- spawner_init.c, used by the spawner process ---- */

/* What every init shares, set up once by the spawner at start. */
typedef struct {
    bool rootless;           /* in a user namespace of its own: the runtime gets a nested one */
    char code_root[600];     /* <data>/code: what a pre-started init sees at /.code */
    uid_t uid;               /* the sandbox user (rootless: the id inside) */
    gid_t gid;
    int cap_last;
    seccomp_filter_t filter;
    uint64_t net_ino;        /* the spawner's network namespace: an init still in it makes its own */
} spawner_env_t;

/* Give the spawner root in a user namespace of its own when it is not
 * root (rootless mode). */
int spawner_enter_userns(err_t *err);
/* Build the template root (in the spawner's own mount namespace). */
int spawner_build_root(const char *runtime_dir, uid_t sandbox_uid, err_t *err);
void spawner_unmount_root(void);
/* Close every fd from 3 up but these three (a fork of the spawner must
 * keep none of the daemon's sockets nor other instances' fds). */
void spawner_close_all_but(int a, int b, int c);
/* The resource limits of everything in an instance (no core files, at
 * most 1024 open files), set on the calling process. */
void spawner_set_rlimits(void);
/* Stage names of sp_ready_t.stage, for error messages. */
const char *spawner_stage_name(int stage);
enum { ST_EXEC = 12, ST_OPT = 13 };

/* A runtime to start before its request (python, node: their command
 * names nothing of the function). */
typedef struct {
    const char *exe;
    char *const *argv;
    int zline;               /* >= 0: not exec'd but forked by the zygote, asked on this line */
    /* Exec'd and saying when it is warm (a kind without a zygote: Node):
     * a socket pair in place of the configuration's pipe; [0] the
     * platform's end (the init writes the environment to it, the spawner
     * holds a copy and reads the runtime's "warm" byte), [1] the runtime's
     * (its fd 3). -1: a pipe, and no word. */
    int warm[2];
} spawner_prestart_t;

/* The instance's first process, in its new namespaces (a fork of the
 * spawner): prepares what needs no request (joining `cg`, loopback, the
 * runtime-API socket, /proc; with `pre`, the root and the runtime too),
 * waits on `sync` for the request, builds the rest and starts (or
 * configures) the runtime; reports on `sync`; then reaps until the runtime
 * ends. */
__attribute__((noreturn)) void spawner_init_main(const spawner_env_t *env, const cgroup_t *cg, int out_w,
                                                 int status_w, int sync, bool own_net,
                                                 const spawner_prestart_t *pre, unsigned runtime_pid);

/* pivot_root into the template root (from the spawner's mount namespace
 * or a copy of it); 0 or -1. */
int spawner_enter_root(void);

/* ---- spawner_zygote.c: the Python zygote (docs/zygote.md) ---- */

/* One zygote per runtime command that allows it (SPF_ZYGOTE): a process of
 * the spawner's, exec'd as the runtime with _NIMBUS_ZYGOTE_FD=3, which
 * forks a child into each instance that asks. */
typedef struct {
    pid_t pid;               /* 0: none */
    int pidfd, ctl;
    bool ready;              /* it said so: lines may go to it */
    bool lost;               /* it died or failed: the next answer says so (once) */
    int failures;            /* starts that never became ready, deaths */
} zygote_t;

/* Start it: exe and argv are the runtime's command. 0, or -1 with errno. */
int zygote_start(zygote_t *z, const spawner_env_t *env, const char *exe, char *const *argv);
/* Its ctl became readable: the ready byte, or its end (then it is gone). */
void zygote_event(zygote_t *z);
/* Kill it and forget it (reaped by the spawner's waitpid); `failed`
 * counts it as a failure and has the next answer say so. */
void zygote_stop(zygote_t *z, bool failed);
/* A line to it for one instance (the init's end; the zygote's end is sent
 * to it), or -1 (then it is stopped as failed). */
int zygote_line(zygote_t *z);
/* The init's side (spawner_init.c), in two steps. Fork: the zygote makes
 * a runtime in this instance (its pid, cgroup, uts, ipc and net namespaces,
 * `out_w`, `devnull`, the cgroup.procs fds), which waits: its pid inside
 * (> 0), or -1 with errno (0: no answer, the zygote or the fork is gone).
 * Enter: it enters this init's mount namespace (its root entered) and
 * confines itself (the sandbox user, no_new_privs, the seccomp filter):
 * 0 sent, or -1; then wait for its pid again (zygote_wait). A pre-started
 * init has it enter before its request, as a runtime pre-started by exec
 * has confined itself by then. Go: the code is mounted; it takes `envp`,
 * moves into /var/task and is the runtime (0 sent, or -1); then wait for
 * its pid once more. */
pid_t zygote_fork(int line, int out_w, int devnull, const int *cgprocs, int ncg, int timeout_ms);
int zygote_enter(int line);
int zygote_go(int line, char *const *envp);
pid_t zygote_wait(int line, int timeout_ms);

/* ---- spawner_prestart.c: the inits, and those made ahead ---- */

/* Pre-started inits kept per runtime command. Two: a burst's second cold
 * start (or the first two calls after a deploy) takes one too, while the
 * refill, made only in idle moments, catches up. Each is a whole idle
 * interpreter (node ~40 MB, python ~10 MB resident, nothing shared), so
 * not more. */
#define PRESTART_DEPTH 2
/* With a zygote (python) a pre-started runtime is a fork of it: cheap to
 * make (~1 ms of CPU, off any request's path) and mostly shared memory,
 * so more wait: a burst of four cold starts takes four. The array has
 * room for the larger. */
#define ZYGOTE_DEPTH 4
#define PRE_SLOTS ZYGOTE_DEPTH

/* An init the spawner made: in the pool, or serving a spawn request. */
typedef struct {
    pid_t pid;
    int pidfd, sync, out_r, status_r;
    bool own_net;
    bool egress;             /* its namespace has the way out of Network "egress" */
    int eslot;               /* that way's slot (egress.h), -1 none */
    cgroup_t *cg;            /* made with it, limits set at the request */
    uint64_t t_cloned;
    /* serving: */
    uint32_t tag;
    int slot;
    bool pooled, prestarted;
    uint64_t t0, t_cg, t_fwd, deadline;
    char exe[256], code_dir[512];
    uint32_t limits;
    int64_t memory_limit;
    uint32_t tmp_wait;       /* MB of the /tmp it waits for (ephemeral.h), 0 none */
    uint32_t zy_note;        /* 2: its kind's zygote is down (the answer says so) */
    /* pre-started by exec: */
    int warm_fd;             /* the spawner's copy of the platform's end, until the runtime spoke; -1 */
    bool warm;               /* its runtime said it is warm (or was given up on: WARM_WAIT_MS) */
} init_t;

/* A runtime command to keep PRESTART_DEPTH inits pre-started for (python,
 * node), once a request or a warm order (SP_WARM) has named it. */
typedef struct {
    char key[1024];          /* exe, then argv, separated by \x1f */
    char *exe;
    char **argv;
    bool egress;             /* for Network "egress" functions */
    init_t *ready[PRE_SLOTS];
    int nready;
    int failures;
    bool forkable;           /* SPF_ZYGOTE: its instances may be forks of a zygote */
    zygote_t zy;
    /* Taken by a request before they were warm: their runtimes still
     * starting (the spawner's end of each, until it says warm or closes). */
    int booting[PRE_SLOTS];
    uint64_t booting_until[PRE_SLOTS];
    int nbooting;
    /* Warm orders (their tags) answered once the kind is settled: its
     * first runtime was warm (a forkable kind's zygote up), or it was
     * given up on. */
    bool settled;
    uint32_t waiting[8];
    int nwaiting;
} prekind_t;

struct pollfd;

/* Before anything is made: the spawner's environment (kept, not copied)
 * and the pool's size (--sandbox-pool). */
void ahead_setup(const spawner_env_t *env, int pool_size);
/* A new init in its namespaces (a network namespace of its own with
 * `own_net`, with a way out with `egress`); with `pk`, its runtime started
 * ahead (by a fork of the kind's zygote when it is up). NULL with errno. */
init_t *init_clone(bool own_net, bool egress, prekind_t *pk);
/* Close an end of a pre-started runtime's socket, what it said read first. */
void warm_close(int fd);
/* Free what the spawner holds of an init (not its pidfd nor its cgroup). */
void init_close(init_t *in);
/* End an init that never became an instance (reaped by the spawner's waitpid). */
void init_discard(init_t *in);
void close_pair(int p[2]);
/* A pooled init of the kind, taken out of the pool, or NULL. */
init_t *pool_take(bool egress);
/* The kind's pre-started init for a request: the longest-waiting of the
 * warm ones, else the longest-waiting (NULL: none). */
init_t *prestart_take(prekind_t *pk);
/* An egress spawn came: keep egress inits ready too. */
void pool_note_egress(void);
/* The kind of a request that allows a pre-started runtime (made when
 * `create`), or NULL. */
prekind_t *prekind_for(const sp_req_view_t *v, bool create);
/* Something is to be made ahead, `nbusy` spawns being in flight. */
bool ahead_wanted(size_t nbusy);
/* Make one (an idle moment): false when there was none to make. */
bool ahead_refill(size_t nbusy);
/* The poll places of the pool's inits, the pre-started ones and the
 * zygotes: at most ahead_nfds(), filled by ahead_pollfds (which returns
 * how many), their events handled by ahead_collect. */
size_t ahead_nfds(void);
/* Milliseconds until a runtime's start is given up on (WARM_WAIT_MS), -1 none. */
int ahead_timeout_ms(void);
size_t ahead_pollfds(struct pollfd *pf);
void ahead_collect(const struct pollfd *pf);
/* A warm order's answer (tag) when `pk` is settled, else later: by
 * ahead_answer_warm, called after each turn of the spawner's loop, on `sock`. */
void prestart_answer_when_settled(prekind_t *pk, uint32_t tag, int sock);
void ahead_answer_warm(int sock);
/* End every init made ahead and every zygote. */
void ahead_shutdown(void);

/* ---- spawner_exec.c, in a fork of the spawner ---- */

/* Start the command of an SP_EXEC request in the instance whose init is
 * `init_pid` (the spawner's child): join `cg`, enter the namespaces, root
 * and working directory of the init's runtime, then fork the command (in
 * the instance's pid namespace) with the sandbox's uid, no capabilities, an
 * empty bounding set, no_new_privs and the seccomp filter. Its output goes
 * to `out_w`; its end is reported on `status_w`; `kill_r` readable or
 * closed kills it and what it started, after which this process exits.
 * `req` points into the spawner's copy of the message. */
/* `in_r` is the command's stdin: the pipe's read end (SPF_EXEC_STDIN), the
 * terminal (SPF_EXEC_TTY, then `out_w` is that terminal too), or -1
 * (/dev/null). */
__attribute__((noreturn)) void spawner_exec_main(const spawner_env_t *env, const cgroup_t *cg, pid_t init_pid,
                                                 const sp_req_view_t *req, int out_w, int status_w, int kill_r,
                                                 int in_r);

/* In the spawner, for an SP_EXEC with SPF_EXEC_TTY: a new terminal of the
 * instance whose init is `init_pid`, from the devpts that init mounted at
 * its /dev/pts (found through its root, following no link), of `rows` x
 * `cols`. 0 with its master and its other end (both O_CLOEXEC), or an
 * errno. */
int spawner_exec_tty(pid_t init_pid, unsigned rows, unsigned cols, int *master, int *peer);

#endif
