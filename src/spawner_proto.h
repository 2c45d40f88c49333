/* spawner_proto.h — the messages the daemon and the spawner exchange
 * over their SOCK_SEQPACKET socketpair, and the fd-passing helpers both
 * sides use. Internal to spawner.c (the spawner) and spawner_client.c (the
 * daemon's side); nothing else includes it.
 */
#ifndef NIMBUS_SPAWNER_PROTO_H
#define NIMBUS_SPAWNER_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_MSG (128 * 1024)

enum { SP_SPAWN = 1, SP_SIGNAL, SP_RELEASE, SP_NETSOCK };

typedef struct {
    uint32_t type;
    uint32_t handle;
    int32_t sig;
    uint32_t memory_mb, tmp_mb, flags, nargv, nenv;
    char id[64];
    char code_dir[512];
    /* then: exe\0, argv[0..nargv)\0..., env[0..nenv)\0... */
} sp_req_t;

#define SPF_NET_HOST 1u

enum { FD_PIDFD, FD_OUT, FD_STATUS, FD_API, FD_PEAK, FD_OOM, FD_N };

typedef struct {
    int32_t err;             /* 0 or an errno */
    char msg[256];
    int32_t pid;
    uint32_t handle;
    uint32_t api_port;
    uint32_t fdmask;         /* which FD_* follow, in order */
    uint32_t limits;
    int64_t memory_limit;
    uint32_t phase_us[7];
    char cgdirs[3][256];      /* its cgroup, for `nimbus exec` to join */
} sp_resp_t;

/* init -> spawner, once: how the start went. */
typedef struct {
    int32_t err, stage;
    uint32_t port;
    uint64_t t_run, t_mounts, t_net, t_priv, t_exec;
} sp_ready_t;

/* Send a message with up to FD_N fds; 0 or -1. */
int sp_send(int sock, const void *buf, size_t len, const int *fds, int nfds);
/* Receive one message: its length (0 at EOF, -1 error); fds go to fds[]
 * (closed when nfds is NULL). */
ssize_t sp_recv(int sock, void *buf, size_t len, int *fds, int *nfds);
/* The daemon's side, once the spawner is forked: its socket and pid. */
void spawner_client_attach(int sock, pid_t pid);

#endif
