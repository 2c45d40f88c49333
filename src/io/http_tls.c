/* http_tls.c — the seam between the HTTP connection code (http.c) and its
 * transport: plain TCP, or TLS (tls.h) on a listener given a certificate.
 * Above it, http.c reads and writes bytes as if every socket were plain;
 * what a TLS read or write waits for beyond its own direction (a handshake
 * read that must write, a write that must read) is added to the epoll mask
 * here.
 *
 * Must never: consume a plain request's bytes before it is refused (the
 * refusal is an HTTP answer, written plain), or block.
 */
#define _GNU_SOURCE
#include "io/http_internal.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

ssize_t http_conn_recv(http_conn_t *c, void *dst, size_t n)
{
    if (!c->tls) return recv(c->fd, dst, n, 0);
    ssize_t r = tls_conn_read(c->tls, dst, n);
    if (r < 0 && tls_conn_plain(c->tls)) {
        /* Refused as nginx does: a 400 the client can read, in plain. */
        tls_conn_free(c->tls);
        c->tls = NULL;
        c->hs_start = 0;
        if (http_conn_fail_request(c, HTTP_STATUS_PLAIN_ON_TLS) < 0) {
            errno = ENOMEM;
            return -1;
        }
        errno = EAGAIN;
    }
    return r;
}

ssize_t http_conn_sendv(http_conn_t *c, const struct iovec *iov, int n)
{
    if (c->tls) return tls_conn_writev(c->tls, iov, n);
    struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
    return sendmsg(c->fd, &mh, MSG_NOSIGNAL);
}

uint32_t http_conn_tls_events(const http_conn_t *c, uint32_t ev)
{
    return c->tls ? ev | tls_conn_wants(c->tls) : ev;
}
