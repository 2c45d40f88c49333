/* http_internal.h — what http.c (connections, I/O, timers) and http_msg.c
 * (llhttp callbacks, exchanges, response bytes) share. Not for other
 * modules: everything here may change with the implementation. The only
 * extra entry point is http_server_adopt_fd(), used by the fuzz target to
 * serve one end of a socketpair.
 */
#ifndef NIMBUS_HTTP_INTERNAL_H
#define NIMBUS_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "io/http.h"
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
    size_t cont_off;             /* bytes of "100 Continue" already written */
    size_t body_cap;             /* allocated size of req.body; 0 = req.body is `empty` */
    size_t body_limit;           /* this request's body limit */
    http_abort_fn on_abort;
    void *abort_arg;
    char *out;                   /* status line + headers (+ copied body) */
    size_t out_len;
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
    uint32_t events;

    http_exchange_t *q_head, *q_tail;  /* FIFO: every exchange not yet written */
    http_exchange_t *cur;        /* exchange whose body is arriving (the tail) */
    http_exchange_t *completed;  /* set by on_message_complete, delivered by the caller */
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
    int err_status;              /* set by a callback that failed: 4xx, or -1 = just close */

    loop_timer_t *timer;
    uint64_t timer_due;          /* ms, when `timer` fires */
    uint64_t now;                /* ms, cached at each entry point */
    uint64_t req_start;          /* first byte of the request in progress */
    uint64_t last_active;        /* last successful read or write */
    uint64_t linger_deadline;

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
};

struct http_server {
    loop_t *loop;
    http_server_config_t cfg;    /* defaults filled in */
    http_listener_t *listeners;
    http_conn_t *conns;
    size_t nconns;
    unsigned next_lid;
    bool shutting;
    void (*done)(void *arg);
    void *done_arg;
    loop_timer_t *done_timer;
};

/* http_msg.c */
void http_conn_parser_init(http_conn_t *c);
/* Run llhttp over p[0..n). Returns 0 (all consumed), 1 (a request completed:
 * c->completed is set, *used says how far), -1 (an error response was
 * queued and reading stopped) or -2 (close the connection at once). */
int http_conn_execute(http_conn_t *c, const char *p, size_t n, size_t *used);
/* Queue a server-generated error (400/408/413/431) in place of the request
 * being read, and stop reading. -1 on out-of-memory. */
int http_conn_fail_request(http_conn_t *c, int status);
/* Drop the request being read (client went away or shutdown). */
void http_conn_drop_partial(http_conn_t *c);
/* Serialize the response of `ex` (state becomes EX_ANSWERED). Takes
 * `owned` in every case. -1 on out-of-memory. */
int http_exchange_build_response(http_exchange_t *ex, int status, const http_header_t *headers,
                                 size_t nheaders, const void *body, size_t len, char *owned);
void http_exchange_free(http_exchange_t *ex);

/* http.c: serve an already connected socket as if accepted by a listener
 * with ctx `listener_ctx` (used by the fuzz target). */
int http_server_adopt_fd(http_server_t *s, int fd, void *listener_ctx, err_t *err);

#endif
