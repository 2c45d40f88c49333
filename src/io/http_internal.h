/* http_internal.h — what http.c (connections, I/O, timers), http_server.c
 * (listeners, accepting, the server's life), http_msg.c (llhttp callbacks,
 * exchanges), http_resp.c (response bytes),
 * http_stream.c and http_tls.c share. Not for other
 * modules: everything here may change with the implementation. The only
 * extra entry point is http_server_adopt_fd(), used by the fuzz target to
 * serve one end of a socketpair.
 */
#ifndef NIMBUS_HTTP_INTERNAL_H
#define NIMBUS_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "io/http.h"
#include "io/tls.h"
#include "llhttp.h"

/* Per-connection read buffer. Requests are parsed in place from it; big
 * Content-Length bodies bypass it (read straight into the body). */
#define HTTP_RBUF_SIZE 16384

typedef struct http_conn http_conn_t;
typedef struct http_listener http_listener_t;

enum http_ex_state {
    EX_READING,   /* headers complete, body still arriving (conn->cur) */
    EX_PENDING,   /* waiting for an answer (handed over, or an error not built yet) */
    EX_ANSWERED,  /* response bytes ready in out/out_body */
    EX_STREAMING, /* a streamed response begun and not ended: `out` grows */
};

struct http_exchange {
    http_request_t req;
    http_conn_t *conn;           /* NULL once the connection is gone */
    http_exchange_t *next;       /* connection FIFO, request order */
    uint8_t state;               /* enum http_ex_state */
    bool delivered;              /* handed to on_request (so it may be aborted) */
    bool want_continue;          /* owes the client "100 Continue" */
    bool is_head;                /* HEAD: never send a body */
    bool http10;                 /* HTTP/1.0 request */
    bool body_stream;            /* its body is handed over piece by piece */
    bool body_open;              /* ...and is still arriving (it is conn->cur) */
    bool stream_chunked;         /* streamed response: chunked (else until close) */
    bool stream_mute;            /* streamed response without a body (HEAD, 204, 304) */
    bool want_drain;             /* a write said "pause": tell on_drain when empty */
    bool lazy;                   /* its answer may wait for the pipelined one behind it */
    size_t cont_off;             /* bytes of "100 Continue" already written */
    size_t body_cap;             /* allocated size of req.body; 0 = req.body is `empty` */
    size_t body_limit;           /* this request's body limit */
    http_abort_fn on_abort;
    void *abort_arg;
    http_body_data_fn on_data;   /* streamed request body */
    http_body_end_fn on_end;
    void *body_arg;
    http_drain_fn on_drain;      /* streamed response */
    void *drain_arg;
    char *out;                   /* status line + headers (+ copied body); a
                                    stream's unsent bytes */
    size_t out_len;
    size_t out_cap;              /* allocated size of `out` (streams only) */
    char *out_body;              /* owned body, written after `out` */
    size_t out_body_len;
    http_header_t *trailer_block;  /* trailers + their strings, one allocation */
    char empty[1];               /* "" for bodyless requests */
    http_header_t hdrs[];        /* request headers, then all request strings */
};

/* A header being collected: offsets into conn->hb. */
typedef struct {
    size_t name_off, name_len, val_off, val_len;
} http_hent_t;

enum { SPAN_NONE, SPAN_URL, SPAN_FIELD, SPAN_VALUE };

struct http_conn {
    http_server_t *s;
    http_conn_t *prev, *next;    /* server's connection list */
    int fd;
    unsigned lid;                /* id of the listener that accepted it */
    http_listener_t *li;         /* that listener while it lives (its count), else NULL */
    bool shed;                   /* accepted into the fd reserve: its request gets 503 */
    void *lctx;                  /* that listener's ctx */
    llhttp_t parser;
    unsigned depth;              /* entry points on the stack; destroy waits for 0 */
    bool doomed;                 /* destroy once depth drops to 0 */
    bool failed;                 /* I/O error seen outside an entry point: close soon */
    bool kick;                   /* parse leftover input from a timer, outside the handler */
    bool read_closed;            /* no further requests will be read */
    bool read_eof;               /* the client half-closed */
    bool lingering;              /* output done, SHUT_WR sent, draining input */
    bool in_head;                /* between message begin and headers complete */
    bool req_in_progress;        /* a request has started but is not complete */
    bool body_paused;            /* the owner paused the streamed body being read */
    bool drain_due;              /* the head stream emptied while told to pause */
    bool zero_step;              /* llhttp may have a step to take with no input
                                    (a Content-Length body's end after a piece) */
    bool discarding;             /* the rest of an answered streamed body is dropped */
    bool kick_read;              /* TLS holds decrypted input epoll cannot announce */
    uint32_t events;

    http_exchange_t *q_head, *q_tail;  /* FIFO: every exchange not yet written */
    http_exchange_t *cur;        /* exchange whose body is arriving (the tail) */
    http_exchange_t *completed;  /* set by on_message_complete (or by headers
                                    complete, for a streamed body), delivered
                                    by the caller */
    const char *piece;           /* a piece of a streamed body to hand over */
    size_t piece_len;
    http_exchange_t *ended;      /* a streamed body that just ended */
    unsigned nunanswered;        /* delivered and not answered */
    unsigned nqueued;            /* exchanges in the FIFO (cur included) */
    size_t wr_off;               /* bytes of q_head's response already written */

    /* Scratch for the head (and trailers) being parsed; reused per request. */
    char *hb;
    size_t hb_len, hb_cap;
    http_hent_t *ents;
    size_t nents, cap_ents;
    int span;                    /* which span is open in hb */
    size_t span_start;
    size_t url_off, url_len;
    size_t fld_off, fld_len;
    size_t head_bytes;           /* head bytes seen in earlier reads */
    const char *chunk_base;      /* start of the bytes llhttp is executing */
    bool chunk_data;             /* the chunk being read has data (size > 0) */
    bool chunk_ended;            /* set by on_chunk_complete: check its CRLF */
    char last_byte;              /* the last byte given to llhttp before this run */
    int err_status;              /* set by a callback that failed: 4xx, or -1 = just close */

    loop_timer_t *timer;
    uint64_t timer_due;          /* ms, when `timer` fires */
    uint64_t now;                /* ms, cached at each entry point */
    uint64_t req_start;          /* first byte of the request in progress */
    uint64_t last_active;        /* last successful read or write */
    uint64_t linger_deadline;
    tls_conn_t *tls;             /* NULL: plain TCP */
    uint64_t hs_start;           /* TLS: accepted at, until its first request begins
                                    (the handshake counts against that request's time) */

    size_t rpos, rlen;
    char rbuf[HTTP_RBUF_SIZE];
};

struct http_listener {
    http_server_t *s;
    http_listener_t *next;
    int fd;
    unsigned id;
    void *ctx;
    loop_timer_t *retry;         /* re-enable accepting after EMFILE and friends */
    unsigned nconns;             /* live connections it accepted */
    unsigned max_conns;          /* more are closed at once; 0: no cap */
    tls_server_t *tls;           /* connections speak TLS (NULL: plain) */
};

struct http_server {
    loop_t *loop;
    http_server_config_t cfg;    /* defaults filled in */
    http_listener_t *listeners;
    http_conn_t *conns;
    size_t nconns;
    uint64_t accepted;           /* connections accepted, ever (metrics) */
    unsigned next_lid;
    bool shutting;
    void (*done)(void *arg);
    void *done_arg;
    loop_timer_t *done_timer;
};

/* http_msg.c */
void http_conn_parser_init(http_conn_t *c);
/* Run llhttp over p[0..n). Returns 0 (all consumed), 1 (something to hand
 * over: c->completed, c->piece or c->ended is set; *used says how far),
 * -1 (an error response was queued and reading stopped) or -2 (close the
 * connection at once). */
int http_conn_execute(http_conn_t *c, const char *p, size_t n, size_t *used);
/* Queue a server-generated error (400/408/413/431) in place of the request
 * being read, and stop reading. -1 on out-of-memory. */
int http_conn_fail_request(http_conn_t *c, int status);
/* Drop the request being read (client went away or shutdown). */
void http_conn_drop_partial(http_conn_t *c);
void http_exchange_free(http_exchange_t *ex);
/* Free the request body of `ex` (it is answered: the body need not wait
 * for the write); req.body becomes "". */
void http_exchange_body_release(http_exchange_t *ex);
/* `ex` is being answered: if its streamed body is still arriving, the
 * rest is read and dropped. */
void http_conn_detach_body(http_conn_t *c, http_exchange_t *ex);

/* http_resp.c */
/* Serialize the response of `ex` (state becomes EX_ANSWERED). Takes
 * `owned` in every case. -1 on out-of-memory. */
int http_exchange_build_response(http_exchange_t *ex, int status, const http_header_t *headers,
                                 size_t nheaders, const void *body, size_t len, char *owned);
/* Status line and headers of a streamed response into ex->out (state
 * becomes EX_STREAMING). -1 on out-of-memory. */
int http_exchange_build_stream_head(http_exchange_t *ex, int status, const http_header_t *headers,
                                    size_t nheaders);

/* http_stream.c: hand a piece or the end of a streamed body (c->piece,
 * c->ended) to its owner. */
void http_conn_give_body(http_conn_t *c);
/* Bytes of a stream not yet written (whole `out` unless it is the head). */
size_t http_stream_unsent(const http_exchange_t *ex);
/* http.c: flush, close, epoll mask and timer after a change from outside
 * an entry point (as http_respond does). */
void http_conn_touch(http_conn_t *c);
/* http.c: a connection for an accepted (or adopted) socket, served from
 * now on; NULL (err set) if it cannot be. */
http_conn_t *http_conn_new(http_server_t *s, int fd, http_listener_t *li, void *lctx, tls_server_t *tls,
                           err_t *err);
/* http.c: close a connection (now, or when the last entry point leaves);
 * its unanswered exchanges are aborted. */
void http_conn_destroy(http_conn_t *c);
/* http.c: after a change: flush, close, epoll mask, timer. */
void http_conn_update(http_conn_t *c);
/* http_server.c: during shutdown, call `done` once the last connection is
 * gone. */
void http_server_maybe_done(http_server_t *s);

/* http_tls.c: the transport under the HTTP code, plain or TLS. recv and
 * sendmsg as the socket calls are (-1 with EAGAIN: wait). A plain request
 * on a TLS port is queued its 400 here (and the connection goes plain to
 * send it). */
ssize_t http_conn_recv(http_conn_t *c, void *dst, size_t n);
ssize_t http_conn_sendv(http_conn_t *c, const struct iovec *iov, int n);
/* The epoll mask `ev` plus what a blocked TLS read or write waits for. */
uint32_t http_conn_tls_events(const http_conn_t *c, uint32_t ev);
/* Status asked of http_conn_fail_request for a plain request on a TLS
 * port: answered as 400 with nginx's words. */
#define HTTP_STATUS_PLAIN_ON_TLS 497

/* http_server.c: serve an already connected socket as if accepted by a listener
 * with ctx `listener_ctx` (used by the fuzz target). */
int http_server_adopt_fd(http_server_t *s, int fd, void *listener_ctx, err_t *err);

#endif
