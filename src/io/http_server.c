/* http_server.c — the HTTP/1.1 server's listening sockets and its life:
 * listening (TCP, an inherited fd, an adopted connected socket), accepting
 * in batches (with a per-listener cap and shedding in the fd reserve),
 * closing listeners and their connections, creation, graceful shutdown and
 * free. Apart from http.c because none of it is on a request's path: the
 * connections it makes are http.c's from their first byte.
 */
#define _GNU_SOURCE
#include "io/http_internal.h"
#include "io/fdlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BATCH 64

/* ---- listeners ---- */

static void listener_retry_cb(loop_t *l, void *arg)
{
    http_listener_t *li = arg;
    li->retry = NULL;
    loop_mod_fd(l, li->fd, EPOLLIN, NULL);
}

static void listener_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    http_listener_t *li = arg;
    (void)events;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            /* Out of fds or memory: level-triggered epoll would spin, so
             * look away for a moment. */
            if (!li->retry) {
                loop_mod_fd(l, fd, 0, NULL);
                li->retry = loop_timer_add(l, 100, listener_retry_cb, li);
            }
            return;
        }
        if (li->max_conns && li->nconns >= li->max_conns) {
            /* Over its owner's cap for this socket: refused, unread. */
            close(cfd);
            continue;
        }
        li->s->accepted++;
        int one = 1;
        /* Fails harmlessly on AF_UNIX. */
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        http_conn_t *c = http_conn_new(li->s, cfd, li, li->ctx, li->tls, NULL);
        if (!c) close(cfd);
        /* Its fd is one of the last few: this server sheds it (503 to its
         * request) so the reserve stays for the work already running. */
        else if (li->s->cfg.shed_fd_reserve && fdlimit_in_reserve(cfd, fdlimit_reserve())) c->shed = true;
    }
}

static int listener_add(http_server_t *s, int fd, void *ctx, err_t *err)
{
    http_listener_t *li = calloc(1, sizeof *li);
    if (!li) {
        close(fd);
        return err_set(err, ERR_SYS, "out of memory");
    }
    *li = (http_listener_t){ .s = s, .fd = fd, .id = ++s->next_lid, .ctx = ctx };
    if (loop_add_fd(s->loop, fd, EPOLLIN, listener_cb, li, err) < 0) {
        close(fd);
        free(li);
        return -1;
    }
    li->next = s->listeners;
    s->listeners = li;
    return fd;
}

static void listener_close(http_server_t *s, http_listener_t *li)
{
    for (http_conn_t *c = s->conns; c; c = c->next)
        if (c->li == li) c->li = NULL;
    loop_del_fd(s->loop, li->fd);
    close(li->fd);
    if (li->retry) loop_timer_cancel(s->loop, li->retry);
    free(li);
}

int http_server_listen_tcp(http_server_t *s, const char *host, int port, void *listener_ctx,
                           int *bound_port, err_t *err)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0)
        return err_set(err, ERR_INVALID, "listen %s:%d: %s", host ? host : "*", port,
                       gai_strerror(rc));
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) break;
        int saved = errno;
        close(fd);
        fd = -1;
        errno = saved;
    }
    freeaddrinfo(res);
    if (fd < 0) return err_sys(err, "listen %s:%d", host ? host : "*", port);
    if (bound_port) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
            err_sys(err, "getsockname");
            close(fd);
            return -1;
        }
        *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                                : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return listener_add(s, fd, listener_ctx, err);
}

static int fd_make_nonblocking(int fd, err_t *err)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return err_sys(err, "fcntl(%d)", fd);
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl >= 0) fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC);
    return 0;
}

int http_server_listen_fd(http_server_t *s, int fd, void *listener_ctx, err_t *err)
{
    if (fd_make_nonblocking(fd, err) < 0) {
        close(fd);
        return -1;
    }
    return listener_add(s, fd, listener_ctx, err);
}

int http_server_adopt_fd(http_server_t *s, int fd, void *listener_ctx, err_t *err)
{
    if (fd_make_nonblocking(fd, err) < 0) return -1;
    return http_conn_new(s, fd, NULL, listener_ctx, NULL, err) ? 0 : -1;
}

void http_server_cap_listener(http_server_t *s, int fd, unsigned max_conns)
{
    for (http_listener_t *li = s->listeners; li; li = li->next)
        if (li->fd == fd) li->max_conns = max_conns;
}

int http_server_listener_tls(http_server_t *s, int fd, tls_server_t *tls)
{
    for (http_listener_t *li = s->listeners; li; li = li->next) {
        if (li->fd != fd) continue;
        li->tls = tls;
        return 0;
    }
    return -1;
}

/* Destroy every connection accepted through listener `lid` (all if
 * lid == 0 and `all`). Abort callbacks may run arbitrary code, so restart
 * the scan after each one instead of trusting a saved next pointer. */
static void conns_kill(http_server_t *s, unsigned lid, bool all)
{
    for (;;) {
        http_conn_t *c = s->conns;
        while (c && (c->doomed || (!all && c->lid != lid))) c = c->next;
        if (!c) return;
        http_conn_destroy(c);
    }
}

void http_server_unlisten(http_server_t *s, int fd)
{
    for (http_listener_t **pp = &s->listeners; *pp; pp = &(*pp)->next) {
        http_listener_t *li = *pp;
        if (li->fd != fd) continue;
        *pp = li->next;
        unsigned id = li->id;
        listener_close(s, li);
        conns_kill(s, id, false);
        return;
    }
}

/* ---- server ---- */

http_server_t *http_server_new(loop_t *loop, const http_server_config_t *cfg, err_t *err)
{
    if (!cfg || !cfg->on_request) {
        err_set(err, ERR_INVALID, "http server: on_request is required");
        return NULL;
    }
    http_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(err, ERR_SYS, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->cfg = *cfg;
    if (!s->cfg.max_header_bytes) s->cfg.max_header_bytes = 64 * 1024;
    if (!s->cfg.max_body_bytes) s->cfg.max_body_bytes = 6 * 1024 * 1024 + 1024;
    if (!s->cfg.idle_timeout_ms) s->cfg.idle_timeout_ms = 60000;
    if (!s->cfg.request_timeout_ms) s->cfg.request_timeout_ms = 30000;
    if (!s->cfg.max_pipeline) s->cfg.max_pipeline = 64;
    if (!s->cfg.stream_high_water) s->cfg.stream_high_water = 64 * 1024;
    if (!s->cfg.stream_max_buffer) s->cfg.stream_max_buffer = 8 * 1024 * 1024;
    return s;
}

void http_server_free(http_server_t *s)
{
    if (!s) return;
    while (s->listeners) {
        http_listener_t *li = s->listeners;
        s->listeners = li->next;
        listener_close(s, li);
    }
    s->done = NULL;
    conns_kill(s, 0, true);
    if (s->done_timer) loop_timer_cancel(s->loop, s->done_timer);
    free(s);
}

static void server_done_cb(loop_t *l, void *arg)
{
    http_server_t *s = arg;
    (void)l;
    s->done_timer = NULL;
    void (*done)(void *) = s->done;
    s->done = NULL;
    if (done) done(s->done_arg);
}

/* `done` runs from a timer, never inside shutdown or a connection's
 * callback, so it may free the server. */
void http_server_maybe_done(http_server_t *s)
{
    if (s->shutting && !s->nconns && s->done && !s->done_timer)
        s->done_timer = loop_timer_add(s->loop, 0, server_done_cb, s);
}

void http_server_shutdown(http_server_t *s, void (*done)(void *arg), void *arg)
{
    s->shutting = true;
    s->done = done;
    s->done_arg = arg;
    while (s->listeners) {
        http_listener_t *li = s->listeners;
        s->listeners = li->next;
        listener_close(s, li);
    }
    /* No user code runs below (conn_update only flushes and closes
     * connections with nothing unanswered), so `next` stays valid. */
    for (http_conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->doomed) continue;
        c->read_closed = true;
        if (!c->completed) http_conn_drop_partial(c);
        if (c->depth == 0) c->now = loop_now_ms();
        http_conn_update(c);
    }
    http_server_maybe_done(s);
}

size_t http_server_connection_count(const http_server_t *s) { return s->nconns; }
uint64_t http_server_accepted_count(const http_server_t *s) { return s->accepted; }
