/* spawner_client.c — the daemon's side of the spawner (spawner.h): the
 * request/answer calls the activator and fc.c make, and stopping it. Must
 * never: be called from two threads at once for a request that waits for
 * an answer (the loop thread makes them). */
#define _GNU_SOURCE
#include "spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "spawner_proto.h"


static int g_sock = -1;
static pid_t g_pid = -1;

bool spawner_supported(char *why, size_t n)
{
    if (geteuid() == 0) return true;
    snprintf(why, n, "the sandbox needs root (user-namespace mode is not implemented yet)");
    return false;
}

void spawner_stop(void)
{
    if (g_sock < 0) return;
    close(g_sock);
    g_sock = -1;
    /* It ends every instance before exiting: wait, so nothing of them
     * outlives the daemon. */
    waitpid(g_pid, NULL, 0);
    g_pid = -1;
}

void spawner_client_attach(int sock, pid_t pid)
{
    g_sock = sock;
    g_pid = pid;
}

static int request(const void *req, size_t len, sp_resp_t *resp, int *fds, int *nfds, err_t *err)
{
    if (g_sock < 0) return err_set(err, ERR_SYS, "the sandbox spawner is not running");
    if (sp_send(g_sock, req, len, NULL, 0) < 0) return err_sys(err, "sandbox spawner");
    ssize_t k = sp_recv(g_sock, resp, sizeof *resp, fds, nfds);
    if (k != (ssize_t)sizeof *resp) {
        for (int i = 0; i < *nfds; i++) close(fds[i]);
        return err_set(err, ERR_SYS, "the sandbox spawner is gone");
    }
    if (resp->err) {
        for (int i = 0; i < *nfds; i++) close(fds[i]);
        errno = resp->err;
        return err_set(err, ERR_SYS, "%s", resp->msg);
    }
    return 0;
}

int spawner_spawn(const sandbox_spec_t *spec, sandbox_proc_t *p, err_t *err)
{
    size_t len = sizeof(sp_req_t) + strlen(spec->exe) + 1;
    uint32_t nargv = 0, nenv = 0;
    for (; spec->argv[nargv]; nargv++) len += strlen(spec->argv[nargv]) + 1;
    for (; spec->env[nenv]; nenv++) len += strlen(spec->env[nenv]) + 1;
    if (len > MAX_MSG) return err_set(err, ERR_INVALID, "environment too large for the sandbox");
    char *buf = calloc(1, len);
    if (!buf) return err_set(err, ERR_SYS, "out of memory");
    sp_req_t *req = (sp_req_t *)buf;
    req->type = SP_SPAWN;
    req->memory_mb = (uint32_t)spec->memory_mb;
    req->tmp_mb = (uint32_t)(spec->tmp_mb > 0 ? spec->tmp_mb : 512);
    req->flags = spec->net_host ? SPF_NET_HOST : 0;
    req->nargv = nargv;
    req->nenv = nenv;
    snprintf(req->id, sizeof req->id, "%s", spec->id);
    snprintf(req->code_dir, sizeof req->code_dir, "%s", spec->code_dir);
    char *q = (char *)(req + 1);
    q = stpcpy(q, spec->exe) + 1;
    for (uint32_t i = 0; i < nargv; i++) q = stpcpy(q, spec->argv[i]) + 1;
    for (uint32_t i = 0; i < nenv; i++) q = stpcpy(q, spec->env[i]) + 1;
    sp_resp_t resp;
    int fds[FD_N], nf = 0;
    int rc = request(buf, len, &resp, fds, &nf, err);
    free(buf);
    if (rc < 0) return -1;
    int got[FD_N], k = 0;
    for (int i = 0; i < FD_N; i++) got[i] = (resp.fdmask & (1u << i)) && k < nf ? fds[k++] : -1;
    p->sandboxed = true;
    p->own_net = !spec->net_host;
    p->handle = resp.handle;
    p->pid = resp.pid;
    p->pidfd = got[FD_PIDFD];
    p->out_fd = got[FD_OUT];
    p->status_fd = got[FD_STATUS];
    p->api_fd = got[FD_API];
    p->peak_fd = got[FD_PEAK];
    p->oom_fd = got[FD_OOM];
    p->memory_limit = resp.memory_limit;
    p->limits = resp.limits;
    memcpy(p->phase_us, resp.phase_us, sizeof p->phase_us);
    p->cg = cgroup_attach(resp.cgdirs);
    snprintf(p->api_addr, sizeof p->api_addr, "127.0.0.1:%u", resp.api_port);
    if (p->pidfd < 0 || p->out_fd < 0 || p->api_fd < 0 || p->status_fd < 0) {
        for (int i = 0; i < FD_N; i++) if (got[i] >= 0) close(got[i]);
        cgroup_forget(p->cg);
        p->cg = NULL;
        spawner_release(resp.handle);
        return err_set(err, ERR_SYS, "sandbox spawner sent an incomplete instance");
    }
    fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(p->status_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

static void one_way(uint32_t type, uint32_t handle, int sig)
{
    if (g_sock < 0) return;
    sp_req_t req = { .type = type, .handle = handle, .sig = sig };
    sp_send(g_sock, &req, sizeof req, NULL, 0);
}

void spawner_signal(uint32_t handle, int sig) { one_way(SP_SIGNAL, handle, sig); }
void spawner_release(uint32_t handle) { one_way(SP_RELEASE, handle, 0); }

int spawner_net_socket(uint32_t handle, err_t *err)
{
    sp_req_t req = { .type = SP_NETSOCK, .handle = handle };
    sp_resp_t resp;
    int fds[FD_N], nf = 0;
    if (request(&req, sizeof req, &resp, fds, &nf, err) < 0) return -1;
    if (nf < 1) return err_set(err, ERR_SYS, "sandbox spawner sent no socket");
    for (int i = 1; i < nf; i++) close(fds[i]);
    return fds[0];
}
