/* http.c — the HTTP/1.1 server's connections: reading,
 * writing, timeouts. Listening sockets, accepting and the server's life
 * (new, shutdown, free) live in http_server.c; message parsing in
 * http_msg.c; response bytes in http_resp.c.
 *
 * Each connection keeps a FIFO of exchanges in request order; only the
 * head is ever written, so responses leave in order whatever order the
 * handler answers in. Every way into a connection (I/O event, timer,
 * http_respond) goes through an "entry" that counts depth, so nothing frees
 * a connection while a frame above still uses it; the last frame out
 * applies the outcome (flush, close, new epoll mask, timer).
 *
 * Streamed responses (http_stream.c) are written from the same FIFO: a
 * stream at the head is written as its bytes come and stays there until
 * it ends; a streamed request body is handed over between llhttp runs.
 *
 * Must never: block, call on_request from inside llhttp or from inside
 * http_respond (pipelined leftovers resume from a timer), call an abort
 * callback from inside http_respond, or write a response before the ones
 * ahead of it.
 */
#define _GNU_SOURCE
#include "io/http_internal.h"
#include "io/fdlimit.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CONTINUE_100 "HTTP/1.1 100 Continue\r\n\r\n"
#define CONTINUE_LEN (sizeof CONTINUE_100 - 1)
#define LINGER_MS 1000u      /* how long to drain input after our last byte */
#define IOV_BATCH 64

/* ---- connection lifetime ---- */

/* Free the connection now. Abort callbacks run last, when nothing of the
 * connection is left for them to trip over. */
static void conn_free_now(http_conn_t *c)
{
    http_server_t *s = c->s;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    if (c->li) c->li->nconns--;
    loop_del_fd(s->loop, c->fd);
    tls_conn_free(c->tls);
    close(c->fd);
    if (c->timer) loop_timer_cancel(s->loop, c->timer);
    http_exchange_t *q = c->q_head;
    free(c->hb);
    free(c->ents);
    free(c);

    while (q) {
        http_exchange_t *next = q->next;
        q->conn = NULL;
        q->next = NULL;
        if (q->delivered && (q->state == EX_PENDING || q->state == EX_STREAMING)) {
            /* Without an abort callback the handler may still answer it
             * later; keep it until then (http_respond frees it). */
            if (q->on_abort) {
                q->on_abort(q, q->abort_arg);
                http_exchange_free(q);
            }
        } else {
            http_exchange_free(q);
        }
        q = next;
    }
    http_server_maybe_done(s);
}

void http_conn_destroy(http_conn_t *c)
{
    if (c->depth) {
        c->doomed = true;
        return;
    }
    conn_free_now(c);
}

static void conn_enter(http_conn_t *c)
{
    c->depth++;
    c->now = loop_now_ms();
}

static void conn_leave(http_conn_t *c)
{
    if (--c->depth) return;
    if (c->doomed) conn_free_now(c);
    else http_conn_update(c);
}

/* ---- writing ---- */

static bool continue_pending(const http_exchange_t *ex)
{
    return ex->want_continue && ex->cont_off < CONTINUE_LEN &&
           (ex->state == EX_READING || ex->body_open || ex->cont_off > 0);
}

/* The answer at the head waits for the pipelined request behind it to be
 * answered (http_respond_lazy): the client sent that request without
 * waiting, so it is waiting for that answer, not this one. */
static bool head_held(const http_conn_t *c)
{
    const http_exchange_t *ex = c->q_head;
    return ex && ex->lazy && ex->state == EX_ANSWERED && c->wr_off == 0 && ex->next &&
           ex->next->state == EX_PENDING && ex->next->delivered && !c->s->shutting;
}

static bool output_pending(const http_conn_t *c)
{
    const http_exchange_t *ex = c->q_head;
    if (head_held(c)) return false;
    return ex && (ex->state == EX_ANSWERED || continue_pending(ex) ||
                  (ex->state == EX_STREAMING && ex->out_len > c->wr_off));
}

static bool would_block(void) { return errno == EAGAIN || errno == EWOULDBLOCK; }

/* Write what can be written: the head's interim 100, then every answered
 * response at the head of the FIFO in one sendmsg. 0, or -1 on a dead
 * socket. */
static int conn_flush(http_conn_t *c)
{
    for (;;) {
        http_exchange_t *ex = c->q_head;
        if (!ex || head_held(c)) return 0;
        if (continue_pending(ex)) {
            struct iovec one = { (char *)&CONTINUE_100[ex->cont_off], CONTINUE_LEN - ex->cont_off };
            ssize_t w = http_conn_sendv(c, &one, 1);
            if (w < 0) {
                if (errno == EINTR) continue;
                return would_block() ? 0 : -1;
            }
            ex->cont_off += (size_t)w;
            c->last_active = c->now;
            continue;
        }
        if (ex->state != EX_ANSWERED && ex->state != EX_STREAMING) return 0;
        if (ex->state == EX_STREAMING && ex->out_len == c->wr_off) return 0;
        if (ex->out_len + ex->out_body_len == c->wr_off) {
            /* A stream that ended with all its bytes already sent. */
            c->wr_off = 0;
            c->q_head = ex->next;
            if (!c->q_head) c->q_tail = NULL;
            c->nqueued--;
            http_exchange_free(ex);
            continue;
        }

        struct iovec iov[IOV_BATCH];
        int n = 0;
        size_t skip = c->wr_off;
        for (http_exchange_t *e = ex; e && (e->state == EX_ANSWERED || e->state == EX_STREAMING) &&
                                      n + 2 <= IOV_BATCH;
             e = e->next) {
            if (e != ex && continue_pending(e)) break;
            if (e->state == EX_STREAMING) {
                /* What a stream has so far; nothing behind it may go yet. */
                if (skip < e->out_len) iov[n++] = (struct iovec){ e->out + skip, e->out_len - skip };
                break;
            }
            if (skip < e->out_len) {
                iov[n++] = (struct iovec){ e->out + skip, e->out_len - skip };
                skip = 0;
            } else {
                skip -= e->out_len;
            }
            if (e->out_body_len) {
                iov[n++] = (struct iovec){ e->out_body + skip, e->out_body_len - skip };
            }
            skip = 0;
        }
        ssize_t w = http_conn_sendv(c, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return would_block() ? 0 : -1;
        }
        c->last_active = c->now;
        size_t left = (size_t)w, total = 0;
        for (int i = 0; i < n; i++) total += iov[i].iov_len;
        while (left) {
            http_exchange_t *h = c->q_head;
            size_t rest = h->out_len + h->out_body_len - c->wr_off;
            if (left < rest) {
                c->wr_off += left;
                break;
            }
            if (h->state == EX_STREAMING) {
                /* All it had is out; it stays at the head until it ends. */
                h->out_len = 0;
                c->wr_off = 0;
                if (h->want_drain) c->drain_due = true;
                return 0;
            }
            left -= rest;
            c->wr_off = 0;
            c->q_head = h->next;
            if (!c->q_head) c->q_tail = NULL;
            c->nqueued--;
            http_exchange_free(h);
        }
        /* A short write means the socket buffer is full: wait for EPOLLOUT
         * instead of paying for a write that returns EAGAIN. */
        if ((size_t)w < total) return 0;
    }
}

/* ---- reading ---- */

/* Reading pauses at a request boundary while max_pipeline exchanges wait,
 * answered or not: a client that pipelines without reading its responses
 * must not make us queue them without bound. */
static bool conn_full(const http_conn_t *c)
{
    return c->nqueued - (c->cur ? 1u : 0u) >= c->s->cfg.max_pipeline;
}

/* Whether input may be read and parsed now. A streamed body already
 * handed over is read to its end even once no further request will be
 * (read_closed), and whatever the pipeline holds, unless its owner paused
 * it. */
static bool conn_can_read(const http_conn_t *c)
{
    if (c->doomed || c->failed || c->lingering) return false;
    if (c->cur && c->cur->body_open) return !c->body_paused;
    return !c->read_closed && !conn_full(c);
}

static void conn_deliver(http_conn_t *c)
{
    http_server_t *s = c->s;
    http_exchange_t *ex = c->completed;
    c->completed = NULL;
    ex->state = EX_PENDING;
    ex->delivered = true;
    c->nunanswered++;
    if (!ex->req.keep_alive || c->parser.method == HTTP_CONNECT || s->shutting)
        c->read_closed = true;
    s->cfg.on_request(ex, &ex->req, s->cfg.arg);
}

/* Parse buffered input, handing over each request as it completes, until
 * the buffer is empty, reading stops, or the pipeline is full. */
static void conn_handover(http_conn_t *c)
{
    if (c->completed) conn_deliver(c);
    else http_conn_give_body(c);
}

static void conn_parse(http_conn_t *c)
{
    while (conn_can_read(c) && (c->rpos < c->rlen || c->zero_step)) {
        c->zero_step = false;
        size_t used = 0;
        int r = http_conn_execute(c, c->rbuf + c->rpos, c->rlen - c->rpos, &used);
        if (r == -2) {
            http_conn_destroy(c);
            return;
        }
        c->rpos += used;
        if (r < 0) return;
        if (r == 1) conn_handover(c);
    }
}

static void conn_on_eof(http_conn_t *c)
{
    c->read_eof = true;
    if (c->lingering || (c->cur && c->cur->body_open)) {
        /* A streamed body its owner holds will never end: abort it. */
        http_conn_destroy(c);
        return;
    }
    /* Requests already received are still answered; a partial one never
     * will be complete. */
    c->read_closed = true;
    http_conn_drop_partial(c);
}

static void conn_read(http_conn_t *c)
{
    char *dst;
    size_t room;
    bool direct = false;
    http_exchange_t *ex = c->cur;
    /* A large Content-Length body goes straight into its final buffer, in
     * reads as big as what is left of it, never past its end. */
    if (!c->lingering && ex && ex->body_cap && c->rpos == c->rlen &&
        !(c->parser.flags & F_CHUNKED) && ex->body_cap - 1 - ex->req.body_len >= HTTP_RBUF_SIZE) {
        dst = ex->req.body + ex->req.body_len;
        room = ex->body_cap - 1 - ex->req.body_len;
        direct = true;
    } else {
        if (c->rpos == c->rlen || c->lingering) {
            c->rpos = c->rlen = 0;
        } else if (c->rpos > 0 && c->rlen == sizeof c->rbuf) {
            memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
            c->rlen -= c->rpos;
            c->rpos = 0;
        }
        dst = c->rbuf + c->rlen;
        room = sizeof c->rbuf - c->rlen;
        if (!room) return;
    }
    ssize_t n = http_conn_recv(c, dst, room);
    if (n < 0) {
        if (errno == EINTR || would_block()) return;
        http_conn_destroy(c);
        return;
    }
    if (n == 0) {
        conn_on_eof(c);
        return;
    }
    c->last_active = c->now;
    if (c->lingering) return;
    if (direct) {
        size_t used;
        int r = http_conn_execute(c, dst, (size_t)n, &used);
        if (r == -2) http_conn_destroy(c);
        else if (r == 1) conn_handover(c);
        return;
    }
    c->rlen += (size_t)n;
    conn_parse(c);
}

/* ---- state after each event: flush, close, epoll mask, timer ---- */

/* Nothing more to read or write: close. If the client may still be
 * sending, half-close and drain for a while first, so our last response is
 * not destroyed by the RST that unread input would trigger. */
static void conn_finish(http_conn_t *c)
{
    if (c->read_eof) {
        http_conn_destroy(c);
        return;
    }
    shutdown(c->fd, SHUT_WR);
    c->lingering = true;
    c->rpos = c->rlen = 0;
    unsigned ms = c->s->cfg.idle_timeout_ms < LINGER_MS ? c->s->cfg.idle_timeout_ms : LINGER_MS;
    c->linger_deadline = c->now + ms;
}

/* When this connection must be looked at by the clock, or 0. */
static uint64_t conn_deadline(const http_conn_t *c)
{
    const http_server_config_t *cfg = &c->s->cfg;
    if (c->lingering) return c->linger_deadline;
    if (c->hs_start) return c->hs_start + cfg->request_timeout_ms;   /* TLS: no request yet */
    if (c->nunanswered) return 0;   /* the handler owns the deadline */
    if (c->req_in_progress) return c->req_start + cfg->request_timeout_ms;
    return c->last_active + cfg->idle_timeout_ms;
}

static void conn_timer_cb(loop_t *l, void *arg);

static void conn_arm(http_conn_t *c, uint64_t due)
{
    if (!due) return;   /* a pending timer finds nothing to do and is not renewed */
    if (c->timer && c->timer_due <= due) return;   /* it re-arms itself when it fires */
    if (c->timer) loop_timer_cancel(c->s->loop, c->timer);
    c->timer = loop_timer_add(c->s->loop, due > c->now ? due - c->now : 0, conn_timer_cb, c);
    c->timer_due = due;
}

void http_conn_update(http_conn_t *c)
{
    if (c->depth || c->doomed) return;
    c->depth++;
    if (!c->failed && !c->lingering) {
        if (output_pending(c) && conn_flush(c) < 0) c->failed = true;
        if (!c->failed && c->read_closed && !c->q_head) conn_finish(c);
    }
    c->depth--;
    if (c->doomed) {
        conn_free_now(c);
        return;
    }
    bool can_read = conn_can_read(c);
    if (can_read && (c->rpos < c->rlen || c->zero_step)) c->kick = true;
    if (can_read && c->tls && tls_conn_pending(c->tls)) c->kick_read = true;

    uint32_t ev = 0;
    if (c->lingering) ev = EPOLLIN;
    else if (!c->failed) {
        if (can_read) ev |= EPOLLIN;
        if (output_pending(c)) ev |= EPOLLOUT;
        ev = http_conn_tls_events(c, ev);
    }
    if (ev != c->events) {
        loop_mod_fd(c->s->loop, c->fd, ev, NULL);
        c->events = ev;
    }
    conn_arm(c, c->failed || c->kick || c->kick_read || c->drain_due ? c->now : conn_deadline(c));
}

static void conn_timeout(http_conn_t *c)
{
    if (c->lingering || !c->req_in_progress) {
        http_conn_destroy(c);   /* idle (nothing unanswered) or done draining */
        return;
    }
    if (http_conn_fail_request(c, 408) < 0) http_conn_destroy(c);
}

static void conn_timer_cb(loop_t *l, void *arg)
{
    http_conn_t *c = arg;
    (void)l;
    c->timer = NULL;   /* the loop frees it after we return */
    conn_enter(c);
    if (c->failed) {
        http_conn_destroy(c);
    } else {
        if (c->drain_due) {
            c->drain_due = false;
            http_exchange_t *h = c->q_head;
            if (h && h->state == EX_STREAMING && h->want_drain && h->out_len == 0) {
                h->want_drain = false;
                if (h->on_drain) h->on_drain(h, h->drain_arg);
            }
        }
        if (c->kick && !c->doomed) {
            c->kick = false;
            conn_parse(c);
        }
        if (c->kick_read && !c->doomed && !c->failed) {
            c->kick_read = false;
            conn_read(c);
        }
        if (!c->doomed && !c->failed) {
            uint64_t due = conn_deadline(c);
            if (due && c->now >= due) conn_timeout(c);
        }
    }
    conn_leave(c);
}

static void conn_io_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    http_conn_t *c = arg;
    (void)l;
    (void)fd;
    conn_enter(c);
    if (events & (EPOLLERR | EPOLLHUP)) {
        http_conn_destroy(c);   /* reset, or both directions gone */
    } else {
        /* TLS: a read may wait for the socket to take bytes, a write for
         * bytes to come; either event goes to both then. */
        uint32_t tw = c->tls ? tls_conn_wants(c->tls) : 0;
        if ((events & EPOLLIN) || ((events & EPOLLOUT) && (tw & EPOLLOUT))) conn_read(c);
        if ((events & (EPOLLOUT | ((tw & EPOLLIN) ? EPOLLIN : 0))) && !c->doomed && !c->failed &&
            !c->lingering && conn_flush(c) < 0)
            http_conn_destroy(c);
    }
    conn_leave(c);
}

http_conn_t *http_conn_new(http_server_t *s, int fd, http_listener_t *li, void *lctx, tls_server_t *tls,
                             err_t *err)
{
    http_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        err_set(err, ERR_SYS, "out of memory");
        return NULL;
    }
    c->s = s;
    c->fd = fd;
    c->lid = li ? li->id : 0;
    c->li = li;
    c->lctx = lctx;
    http_conn_parser_init(c);
    if (tls && !(c->tls = tls_conn_new(tls, fd, err))) {
        free(c);
        return NULL;
    }
    if (loop_add_fd(s->loop, fd, EPOLLIN, conn_io_cb, c, err) < 0) {
        tls_conn_free(c->tls);
        free(c);
        return NULL;
    }
    c->events = EPOLLIN;
    c->now = c->last_active = loop_now_ms();
    if (c->tls) c->hs_start = c->now;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (li) li->nconns++;
    http_conn_update(c);
    return c;
}

/* ---- answering ---- */

static int respond(http_exchange_t *ex, int status, const http_header_t *headers, size_t nheaders,
                   const void *body, size_t len, char *owned, bool lazy)
{
    if (!ex || !ex->delivered || ex->state != EX_PENDING) {
        free(owned);
        return -1;
    }
    if (!body) len = 0;
    http_conn_t *c = ex->conn;
    if (!c) {   /* its connection died and nobody asked to hear about it */
        free(owned);
        http_exchange_free(ex);
        return 0;
    }
    c->nunanswered--;
    ex->lazy = lazy;
    http_conn_detach_body(c, ex);
    if (http_exchange_build_response(ex, status, headers, nheaders, body, len, owned) < 0) {
        /* Out of memory: this answer is lost, so the connection must go. */
        ex->state = EX_ANSWERED;
        c->failed = true;
    }
    http_conn_touch(c);
    return 0;
}

void http_conn_touch(http_conn_t *c)
{
    /* Inside an entry point the outermost frame flushes (and batches). */
    if (c->depth == 0) {
        c->now = loop_now_ms();
        http_conn_update(c);
    }
}

int http_respond(http_exchange_t *ex, int status, const http_header_t *headers, size_t nheaders,
                 const void *body, size_t len)
{
    return respond(ex, status, headers, nheaders, body, len, NULL, false);
}

int http_respond_lazy(http_exchange_t *ex, int status, const http_header_t *headers, size_t nheaders,
                      const void *body, size_t len)
{
    return respond(ex, status, headers, nheaders, body, len, NULL, true);
}

int http_respond_owned(http_exchange_t *ex, int status, const http_header_t *headers,
                       size_t nheaders, char *body, size_t len)
{
    if (!body) return respond(ex, status, headers, nheaders, NULL, 0, NULL, false);
    return respond(ex, status, headers, nheaders, body, len, body, false);
}

char *http_request_take_body(http_exchange_t *ex, size_t *len)
{
    http_request_t *req = &ex->req;
    char *b;
    size_t n = req->body_len;
    if (ex->body_cap) {
        b = req->body;
    } else {
        b = malloc(1);
        if (!b) abort();   /* as buf_t does: nothing sensible is left to do */
        b[0] = '\0';
        n = 0;
    }
    ex->body_cap = 0;
    req->body = ex->empty;
    req->body_len = 0;
    if (len) *len = n;
    return b;
}

void http_exchange_on_abort(http_exchange_t *ex, http_abort_fn fn, void *arg)
{
    ex->on_abort = fn;
    ex->abort_arg = arg;
}

http_request_t *http_exchange_request(http_exchange_t *ex) { return &ex->req; }

int http_exchange_peer(const http_exchange_t *ex, char *buf, size_t n)
{
    /* Asked for, not stored: most requests never need it, and getpeername
     * costs a syscall. */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (n) buf[0] = '\0';
    if (!ex->conn || getpeername(ex->conn->fd, (struct sockaddr *)&ss, &sl) < 0) return -1;
    const void *a = NULL;
    if (ss.ss_family == AF_INET) a = &((struct sockaddr_in *)&ss)->sin_addr;
    else if (ss.ss_family == AF_INET6) a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (!a || !inet_ntop(ss.ss_family, a, buf, (socklen_t)n)) return -1;
    return 0;
}
