/* http_stream.c — the HTTP server's streams: responses written as their
 * bytes come (chunked, or until close for HTTP/1.0), and request bodies
 * handed to their owner piece by piece.
 *
 * Owns the bytes a streamed response has not sent yet (bounded: the
 * writer is told to pause over stream_high_water and refused over
 * stream_max_buffer) and the hand-over of a streamed body's pieces and
 * end. Writing itself stays in http.c (one FIFO per connection, written
 * from its head only), so a stream behind an unanswered request waits its
 * turn like any response. Must never: call an abort callback (a refused
 * write marks the connection failed; the loop aborts it later), hand a
 * piece to an exchange that has been answered, or send a chunk of length
 * zero before the end.
 */
#include "io/http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t http_stream_unsent(const http_exchange_t *ex)
{
    const http_conn_t *c = ex->conn;
    return c && c->q_head == ex ? ex->out_len - c->wr_off : ex->out_len;
}

int http_respond_stream_begin(http_exchange_t *ex, int status, const http_header_t *headers,
                              size_t nheaders)
{
    if (!ex || !ex->delivered || ex->state != EX_PENDING) return -1;
    http_conn_t *c = ex->conn;
    if (!c) {
        /* Its connection is gone and nobody asked to hear of it: writes
         * are refused, the end frees it. */
        ex->state = EX_STREAMING;
        return 0;
    }
    http_conn_detach_body(c, ex);
    if (http_exchange_build_stream_head(ex, status, headers, nheaders) < 0) {
        ex->state = EX_STREAMING;
        c->failed = true;   /* the loop aborts it: no answer is possible */
    }
    http_conn_touch(c);
    return 0;
}

/* Room for `extra` more bytes at the end of a stream's buffer, first
 * dropping what the socket already took. */
static int out_reserve(http_exchange_t *ex, size_t extra)
{
    http_conn_t *c = ex->conn;
    if (c->q_head == ex && c->wr_off) {
        memmove(ex->out, ex->out + c->wr_off, ex->out_len - c->wr_off);
        ex->out_len -= c->wr_off;
        c->wr_off = 0;
    }
    if (ex->out_len + extra <= ex->out_cap) return 0;
    size_t n = ex->out_cap ? ex->out_cap * 2 : 1024;
    while (n < ex->out_len + extra) n *= 2;
    char *p = realloc(ex->out, n);
    if (!p) return -1;
    ex->out = p;
    ex->out_cap = n;
    return 0;
}

int http_respond_stream_write(http_exchange_t *ex, const void *data, size_t len)
{
    if (!ex || ex->state != EX_STREAMING) return -1;
    http_conn_t *c = ex->conn;
    if (!c || c->failed || c->doomed) return -1;
    if (ex->stream_mute || len == 0) return 0;
    http_server_t *s = c->s;
    char size[24] = "";
    size_t framing = 0;
    if (ex->stream_chunked) framing = (size_t)snprintf(size, sizeof size, "%zx\r\n", len) + 2;
    if (http_stream_unsent(ex) + len + framing > s->cfg.stream_max_buffer) {
        /* The client does not read: it loses the stream, the daemon keeps
         * its memory. */
        c->failed = true;
        http_conn_touch(c);
        return -1;
    }
    if (out_reserve(ex, len + framing) < 0) {
        c->failed = true;
        http_conn_touch(c);
        return -1;
    }
    char *o = ex->out + ex->out_len;
    if (ex->stream_chunked) {
        memcpy(o, size, framing - 2);
        o += framing - 2;
    }
    memcpy(o, data, len);
    o += len;
    if (ex->stream_chunked) {
        memcpy(o, "\r\n", 2);
        o += 2;
    }
    ex->out_len = (size_t)(o - ex->out);
    http_conn_touch(c);
    if (http_stream_unsent(ex) > s->cfg.stream_high_water) {
        ex->want_drain = true;
        return 1;
    }
    return 0;
}

int http_respond_stream_end(http_exchange_t *ex)
{
    if (!ex || ex->state != EX_STREAMING) return -1;
    http_conn_t *c = ex->conn;
    if (!c) {
        http_exchange_free(ex);
        return 0;
    }
    if (ex->stream_chunked && !c->failed) {
        static const char last[] = "0\r\n\r\n";
        if (out_reserve(ex, sizeof last - 1) < 0) {
            c->failed = true;
        } else {
            memcpy(ex->out + ex->out_len, last, sizeof last - 1);
            ex->out_len += sizeof last - 1;
        }
    }
    ex->want_drain = false;
    ex->state = EX_ANSWERED;
    c->nunanswered--;
    http_conn_touch(c);
    return 0;
}

void http_exchange_on_drain(http_exchange_t *ex, http_drain_fn fn, void *arg)
{
    ex->on_drain = fn;
    ex->drain_arg = arg;
}

void http_exchange_on_body(http_exchange_t *ex, http_body_data_fn on_data, http_body_end_fn on_end,
                           void *arg)
{
    ex->on_data = on_data;
    ex->on_end = on_end;
    ex->body_arg = arg;
}

void http_exchange_pause_body(http_exchange_t *ex, bool paused)
{
    http_conn_t *c = ex->conn;
    if (!c || c->cur != ex || !ex->body_open) return;
    c->body_paused = paused;
    /* Resuming parses what is already buffered from a timer (conn_update
     * sees leftovers), never from inside the caller. */
    http_conn_touch(c);
}

void http_conn_give_body(http_conn_t *c)
{
    if (c->piece) {
        const char *p = c->piece;
        size_t n = c->piece_len;
        http_exchange_t *ex = c->cur;
        c->piece = NULL;
        c->piece_len = 0;
        if (ex && ex->body_open && ex->on_data) ex->on_data(ex, p, n, ex->body_arg);
        return;
    }
    http_exchange_t *ex = c->ended;
    if (!ex) return;
    c->ended = NULL;
    c->body_paused = false;
    if (ex->state == EX_PENDING && ex->on_end) ex->on_end(ex, &ex->req, ex->body_arg);
}
