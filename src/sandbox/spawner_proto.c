/* spawner_proto.c — what both ends of the spawner's sockets share: fd
 * passing, and decoding messages from bytes. The decoders are pure (no
 * system call, no allocation), so a malformed message from either side is
 * refused before anything acts on it (and they can be fuzzed alone). */
#define _GNU_SOURCE
#include "sandbox/spawner_proto.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int sp_send(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union {
        char b[CMSG_SPACE(sizeof(int) * FD_N)];
        struct cmsghdr align;
    } u;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > 0) {
        memset(&u, 0, sizeof u);
        m.msg_control = u.b;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t w;
    do w = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    return w == (ssize_t)len ? 0 : -1;
}

/* Returns the message length (0 at EOF, -1 error); fds received go to fds[].
 * Fewer fds than were sent (the receiver at its fd limit: the kernel
 * drops what does not fit) leaves errno EMFILE on a message that came. */
ssize_t sp_recv(int sock, void *buf, size_t len, int *fds, int *nfds)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    union {
        char b[CMSG_SPACE(sizeof(int) * FD_N)];
        struct cmsghdr align;
    } u;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
    int mine[FD_N];
    if (!fds) fds = mine;
    ssize_t r;
    do r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); r >= 0 && c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (n < FD_N) fds[n++] = fd;
            else close(fd);
        }
    }
    if (nfds) *nfds = n;
    else for (int i = 0; i < n; i++) close(fds[i]);
    if (r > 0) errno = (m.msg_flags & MSG_CTRUNC) ? EMFILE : 0;
    return r;
}


/* Point strs[0..n) at the next n NUL-terminated strings from *q; false
 * when one runs past end. */
static bool take_strings(const char **q, const char *end, const char **strs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *z = *q < end ? memchr(*q, '\0', (size_t)(end - *q)) : NULL;
        if (!z) return false;
        strs[i] = *q;
        *q = z + 1;
    }
    return true;
}

char *sp_req_encode(const sp_req_t *hdr, const char *exe, char *const *argv, char *const *env, size_t *len)
{
    size_t n = sizeof *hdr + (exe ? strlen(exe) + 1 : 0);
    uint32_t nargv = 0, nenv = 0;
    for (; argv && argv[nargv]; nargv++) n += strlen(argv[nargv]) + 1;
    for (; env && env[nenv]; nenv++) n += strlen(env[nenv]) + 1;
    if (n > MAX_MSG || nargv > SP_EXEC_ARGV_MAX || nenv > SP_ENV_MAX) { errno = E2BIG; return NULL; }
    char *buf = malloc(n);
    if (!buf) return NULL;
    sp_req_t h = *hdr;
    h.nargv = nargv;
    h.nenv = nenv;
    memcpy(buf, &h, sizeof h);
    char *q = buf + sizeof h;
    if (exe) q = stpcpy(q, exe) + 1;
    for (uint32_t i = 0; i < nargv; i++) q = stpcpy(q, argv[i]) + 1;
    for (uint32_t i = 0; i < nenv; i++) q = stpcpy(q, env[i]) + 1;
    *len = n;
    return buf;
}

int sp_req_decode(const void *buf, size_t len, sp_req_view_t *v)
{
    if (!buf || len < sizeof(sp_req_t) || len > MAX_MSG) return EINVAL;
    memcpy(&v->hdr, buf, sizeof v->hdr);
    v->exe = NULL;
    v->argv[0] = NULL;
    v->env[0] = NULL;
    const sp_req_t *h = &v->hdr;
    switch (h->type) {
    case SP_SIGNAL:
    case SP_RELEASE:
    case SP_NETSOCK:
        return 0;   /* the fixed part is all */
    case SP_WARM:
        if (h->nenv) return EINVAL;
        /* the command as a spawn names it */
        __attribute__((fallthrough));
    case SP_SPAWN:
        if (h->nargv == 0 || h->nargv > SP_SPAWN_ARGV_MAX) return EINVAL;
        if (!memchr(h->code_dir, '\0', sizeof h->code_dir)) return EINVAL;
        if (!memchr(h->opt_dir, '\0', sizeof h->opt_dir)) return EINVAL;
        break;
    case SP_EXEC:
        if (h->nargv == 0 || h->nargv > SP_EXEC_ARGV_MAX) return EINVAL;
        if (h->flags & ~(SPF_OWN_ENV | SPF_EXEC_STDIN | SPF_EXEC_TTY)) return EINVAL;
        if ((h->flags & SPF_EXEC_STDIN) && (h->flags & SPF_EXEC_TTY)) return EINVAL;
        if ((h->flags & SPF_EXEC_TTY) ? h->rows - 1 > 65534u || h->cols - 1 > 65534u : h->rows || h->cols)
            return EINVAL;
        break;
    default:
        return EINVAL;
    }
    if (h->nenv > SP_ENV_MAX) return EINVAL;
    const char *q = (const char *)buf + sizeof(sp_req_t), *end = (const char *)buf + len;
    if ((h->type == SP_SPAWN || h->type == SP_WARM) && !take_strings(&q, end, &v->exe, 1)) return EINVAL;
    if (!take_strings(&q, end, v->argv, h->nargv) || !take_strings(&q, end, v->env, h->nenv)) return EINVAL;
    if (q != end) return EINVAL;   /* nothing unaccounted for */
    v->argv[h->nargv] = NULL;
    v->env[h->nenv] = NULL;
    return 0;
}

int sp_resp_decode(const void *buf, size_t len, sp_resp_t *out)
{
    if (!buf || len != sizeof *out) return EINVAL;
    memcpy(out, buf, sizeof *out);
    if (!memchr(out->msg, '\0', sizeof out->msg)) return EINVAL;
    for (int i = 0; i < 3; i++)
        if (!memchr(out->cgdirs[i], '\0', sizeof out->cgdirs[i])) return EINVAL;
    if (out->fdmask >> FD_N) return EINVAL;
    if (out->err < 0) return EINVAL;
    return 0;
}

int sp_resp_fds(uint32_t fdmask, const int *fds, int nf, int got[FD_N])
{
    int k = 0;
    for (int i = 0; i < FD_N; i++) got[i] = (fdmask & (1u << i)) && k < nf ? fds[k++] : -1;
    return k;
}
