/* http.h — HTTP/1.1 server on llhttp, driven by the event loop.
 *
 * One http_server_t serves any number of listening sockets; each socket
 * carries an opaque `listener_ctx` that every request accepted through it
 * reports back (so an owner serving one socket per client knows which
 * client is calling, with no token).
 *
 * Requests are handed to `on_request` as soon as they are complete; the
 * handler answers now or later (long poll, a call waiting for its result)
 * with http_respond*(). Pipelined requests are all handed over as they
 * arrive, and their responses are written in request order whatever order
 * the handler answers in.
 *
 * Limits and their answers: request line + headers over max_header_bytes ->
 * 431; a body over the limit -> 413; unparseable input -> 400; with
 * shed_fd_reserve, a connection whose fd falls in the process's fd reserve
 * (io/fdlimit.h) -> 503 to its first request; after each error response
 * the connection is closed. A listener may be capped
 * (http_server_cap_listener): connections past its cap are closed unread. The server knows no API's
 * error shape: these answers are plain text unless the owner supplies its
 * own through `on_error`. A connection with no request in
 * progress is closed after idle_timeout_ms; a request whose bytes have not
 * all arrived request_timeout_ms after its first byte gets 408 and a close.
 * A connection with an unanswered request is never timed out by this layer
 * (its owner holds the deadline). `Expect: 100-continue` is answered with
 * "100 Continue" when the body is within limits.
 *
 * Streamed responses (http_respond_stream_*): the head goes out at once
 * with `Transfer-Encoding: chunked` (HTTP/1.0 clients: no framing, the
 * connection closes at the end), each write becomes one chunk as soon as
 * the responses ahead of it are written. A stream behind an earlier
 * unanswered request is buffered until its turn. Buffering is bounded:
 * a write that leaves more than `stream_high_water` bytes unsent returns 1
 * (the writer should pause until its drain callback), and one that would
 * leave more than `stream_max_buffer` unsent is refused (-1): the
 * connection is closed and the exchange aborted (its abort callback runs,
 * later, from the loop). A client that leaves mid-stream aborts it too.
 *
 * Streamed request bodies: when `stream_body` says so for a request (asked
 * once its head is complete), on_request runs at once with an empty body,
 * and the body arrives through http_exchange_on_body() as it is read
 * (chunked framing removed, either framing), its trailers set on the
 * request before `on_end`. The body limit does not apply to such a body
 * (its owner counts). A client that leaves before the end aborts the
 * exchange. The owner may answer before the body is all in; the rest is
 * then read and dropped.
 *
 * Must never: block, call the handler for a request it has already answered
 * with an error, call any of the owner's callbacks from inside llhttp, or
 * write responses out of order.
 */
#ifndef NIMBUS_HTTP_H
#define NIMBUS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "io/loop.h"
#include "io/tls.h"

typedef struct http_server http_server_t;
typedef struct http_exchange http_exchange_t;   /* one request and its response */

typedef struct {
    const char *name;
    const char *value;
} http_header_t;

typedef struct {
    const char *method;       /* "GET", "POST", ... */
    const char *target;       /* raw request target, "/a/b?x=1" (or absolute,
                                 "http://h/a/b?x=1": then the Host header
                                 reads "h", whatever the client sent) */
    const char *path;         /* raw (still percent-encoded) path, no query */
    const char *query;        /* raw query without '?', "" if none */
    http_header_t *headers;   /* in arrival order, names as sent */
    size_t nheaders;
    http_header_t *trailers;  /* trailer fields of a chunked body, if any */
    size_t ntrailers;
    char *body;               /* decoded body (chunked framing removed); always
                                 followed by a NUL byte not counted in body_len;
                                 never NULL */
    size_t body_len;
    bool keep_alive;          /* what the client asked for */
    void *listener_ctx;       /* ctx of the listening socket that accepted it */
    const void *principal;    /* who sent it, as the server's owner decided (the API's
                                 edge sets it for its handlers); never read here */
} http_request_t;

/* Called on the loop thread for every complete request. `req` and the
 * memory it points to stay valid until the exchange is answered or
 * aborted. */
typedef void (*http_handler_fn)(http_exchange_t *ex, http_request_t *req, void *arg);

/* Called (once) when the connection of an unanswered exchange dies. After
 * it returns the exchange is gone: never answer it. */
typedef void (*http_abort_fn)(http_exchange_t *ex, void *arg);

/* Called once the request headers are complete, to choose that request's
 * body limit (e.g. 6 MB + margin for an invoke, more for CreateFunction).
 * `req` has method/target/path/query/headers set, no body yet. */
typedef size_t (*http_body_limit_fn)(const http_request_t *req, void *arg);

/* An error the server answers by itself (the request never reaches
 * on_request). */
typedef struct {
    int status;                  /* 400, 408, 413, 431, 501 or 503 */
    const char *reason;          /* one line, no newline:
                                    400 "Could not parse request"
                                    400 "The plain HTTP request was sent to HTTPS port"
                                    408 "Request timed out"
                                    413 "Request must be smaller than <limit> bytes for the operation"
                                    431 "Request header fields too large"
                                    503 "Service overloaded: out of file descriptors
                                         (limit <n>); try again later"
                                    501 "Transfer-Encoding not implemented" */
    size_t body_limit;           /* the body limit of the request (the one broken, for 413) */
    const http_request_t *req;   /* the request's head when it was complete (method,
                                    path, headers; no body), else NULL */
} http_error_t;

#define HTTP_ERROR_MAX_HEADERS 4

/* What on_error fills in. It starts empty (no header, no body). */
typedef struct {
    http_header_t headers[HTTP_ERROR_MAX_HEADERS];  /* copied as soon as on_error
                                                       returns: static strings or
                                                       `scratch` will do */
    size_t nheaders;
    char *body;                  /* malloc'd, the server frees it; NULL = empty */
    size_t body_len;
    char scratch[256];           /* room for header values made on the spot */
} http_error_answer_t;

/* Build the answer of a server-generated error. Content-Length and
 * Connection are the server's (it closes after every such answer). */
typedef void (*http_error_fn)(const http_error_t *e, http_error_answer_t *ans, void *arg);

/* Asked once a request's head is complete: true hands its body over piece
 * by piece (http_exchange_on_body) instead of whole. */
typedef bool (*http_stream_body_fn)(const http_request_t *req, void *arg);

/* Pieces of a streamed request body, in order; `data` is valid only
 * during the call. */
typedef void (*http_body_data_fn)(http_exchange_t *ex, const char *data, size_t len, void *arg);
/* The body is complete; req->trailers are set. */
typedef void (*http_body_end_fn)(http_exchange_t *ex, http_request_t *req, void *arg);
/* A streamed response that was told to pause has sent all it buffered. */
typedef void (*http_drain_fn)(http_exchange_t *ex, void *arg);

typedef struct {
    http_handler_fn on_request;      /* required */
    void *arg;                       /* passed to on_request, body_limit and on_error */
    http_body_limit_fn body_limit;   /* optional; NULL means max_body_bytes */
    http_error_fn on_error;          /* optional; NULL answers "Content-Type: text/plain;
                                        charset=utf-8" and the reason plus a newline */
    size_t max_header_bytes;         /* 0 -> 64 KiB */
    size_t max_body_bytes;           /* 0 -> 6 MiB + 1 KiB */
    unsigned idle_timeout_ms;        /* 0 -> 60 s */
    unsigned request_timeout_ms;     /* 0 -> 30 s */
    unsigned max_pipeline;           /* unanswered requests per connection before
                                        reading pauses; 0 -> 64 */
    http_stream_body_fn stream_body; /* optional; NULL: every body arrives whole */
    size_t stream_high_water;        /* unsent bytes of a streamed response over
                                        which a write says "pause"; 0 -> 64 KiB */
    size_t stream_max_buffer;        /* unsent bytes over which a write is refused
                                        and the exchange aborted; 0 -> 8 MiB */
    bool shed_fd_reserve;            /* answer 503 on connections accepted into the
                                        fd reserve (the public edge), so the reserve
                                        stays for the work already running */
} http_server_config_t;

http_server_t *http_server_new(loop_t *loop, const http_server_config_t *cfg, err_t *err);
/* Close every listener and connection (aborting unanswered exchanges) and
 * free. */
void http_server_free(http_server_t *s);

/* Bind and listen on host:port (port 0 picks one) and serve it. Returns the
 * listening fd; *bound_port (if not NULL) gets the real port. */
int http_server_listen_tcp(http_server_t *s, const char *host, int port, void *listener_ctx,
                           int *bound_port, err_t *err);
/* Speak TLS on listener `fd` (from listen_tcp/listen_fd) from now on: each
 * connection accepted afterwards is served with `tls`'s certificate as it
 * is at the accept; same limits and timeouts, the handshake counting
 * against the first request's request_timeout_ms. `tls` must outlive the
 * listener. -1 when `fd` is no listener of `s`. */
int http_server_listener_tls(http_server_t *s, int fd, tls_server_t *tls);
/* Serve an already listening socket (made non-blocking here). The server
 * owns the fd from now on. */
int http_server_listen_fd(http_server_t *s, int fd, void *listener_ctx, err_t *err);
/* At most `max_conns` live connections through listening socket `fd`
 * (0: no cap); those past it are accepted and closed at once. */
void http_server_cap_listener(http_server_t *s, int fd, unsigned max_conns);
/* Stop serving a listening socket: close it and every connection accepted
 * through it, aborting their unanswered exchanges. */
void http_server_unlisten(http_server_t *s, int fd);

/* Graceful shutdown: stop accepting on every listener, close idle
 * connections, let unanswered exchanges be answered and written, then close
 * their connections. `done(arg)` runs once no connection is left. */
void http_server_shutdown(http_server_t *s, void (*done)(void *arg), void *arg);
/* Open connections (all listeners). */
size_t http_server_connection_count(const http_server_t *s);
/* Connections accepted since it started (all listeners). */
uint64_t http_server_accepted_count(const http_server_t *s);

/* Answer an exchange. The server adds Content-Length (and Connection: close
 * when it will close). `headers` and `body` are copied. Returns -1 only if
 * the exchange was already answered (a bug in the caller). */
int http_respond(http_exchange_t *ex, int status, const http_header_t *headers, size_t nheaders,
                 const void *body, size_t len);
/* Same, but takes ownership of a malloc'd `body` (freed by the server). */
int http_respond_owned(http_exchange_t *ex, int status, const http_header_t *headers,
                       size_t nheaders, char *body, size_t len);

/* The same as http_respond for an answer the client need not see before
 * the answer to its next request: when that next request has already
 * arrived on the connection (HTTP/1.1 pipelining) and waits for its own
 * answer, this one is held and written with it, in one write; otherwise it
 * is written at once, as http_respond's. A client that waits for it before
 * sending more never sees a difference. */
int http_respond_lazy(http_exchange_t *ex, int status, const http_header_t *headers, size_t nheaders,
                      const void *body, size_t len);

/* Begin a streamed answer: status and headers now (Content-Length and
 * Transfer-Encoding are the server's), the body through stream_write.
 * 0, or -1 if the exchange was already answered (a bug in the caller). */
int http_respond_stream_begin(http_exchange_t *ex, int status, const http_header_t *headers,
                              size_t nheaders);
/* Send `len` bytes (copied) as one chunk; len 0 sends nothing. Returns 0;
 * 1: taken, but more than stream_high_water bytes wait to be sent: pause
 * until the drain callback; -1: not taken (not streaming, the client is
 * gone, or over stream_max_buffer: the exchange is being aborted). */
int http_respond_stream_write(http_exchange_t *ex, const void *data, size_t len);
/* End the stream (the last chunk). After it the exchange is the server's:
 * never touch it again. -1 if it was not streaming. */
int http_respond_stream_end(http_exchange_t *ex);
/* Be told when a paused stream has sent everything it buffered. */
void http_exchange_on_drain(http_exchange_t *ex, http_drain_fn fn, void *arg);

/* Where a streamed request body goes (call it from on_request). Pieces
 * that came before are not replayed: none do, since on_request runs
 * before any piece is handed over. */
void http_exchange_on_body(http_exchange_t *ex, http_body_data_fn on_data, http_body_end_fn on_end,
                           void *arg);
/* Stop (true) or resume (false) handing over and reading a streamed
 * request body: no piece comes while paused, and the client is held back
 * by TCP. */
void http_exchange_pause_body(http_exchange_t *ex, bool paused);

/* Take ownership of the request body (a malloc'd, NUL-terminated buffer);
 * the request's body becomes "" afterwards. Saves a copy of large
 * payloads. */
char *http_request_take_body(http_exchange_t *ex, size_t *len);

/* Case-insensitive lookup in headers (first match), or NULL. */
const char *http_request_header(const http_request_t *req, const char *name);
/* Case-insensitive lookup in trailers, or NULL. */
const char *http_request_trailer(const http_request_t *req, const char *name);

/* Register the abort callback of an unanswered exchange. */
void http_exchange_on_abort(http_exchange_t *ex, http_abort_fn fn, void *arg);
/* The request of an exchange (valid until answered/aborted). */
http_request_t *http_exchange_request(http_exchange_t *ex);

/* The client's IP address as text ("127.0.0.1", "::1") into buf (>= 46
 * bytes); -1 and "" when the connection is gone or is not IP. */
int http_exchange_peer(const http_exchange_t *ex, char *buf, size_t n);

/* Standard reason phrase for a status code ("Not Found"). */
const char *http_reason(int status);

#endif
