/* nimbus_runtime.c — libnimbus-runtime: the Lambda Runtime API client that
 * turns a C handler into a `bootstrap` for runtime `provided`. (What the
 * handler fills is in nimbus_response.c.)
 *
 * Owns: one keep-alive HTTP/1.1 connection per worker thread (plain
 * sockets, TCP_NODELAY), the worker threads, and the loop GET /next →
 * handler → POST /response|/error.
 *
 * Must never: depend on anything but libc and pthreads (the bootstrap is
 * linked statically and runs in an empty sandbox), resolve host names
 * (getaddrinfo drags NSS into a static binary: the API address is numeric),
 * put a timeout on /next (it is a long poll), or exit the process itself —
 * nimbus_runtime_run returns and main() decides.
 */
#define _GNU_SOURCE
#include "nimbus_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define API_PREFIX "/2018-06-01/runtime"
#define HEAD_MAX (64 * 1024)             /* a header block larger than this is refused */
#define HDRS_MAX 64
#define MAX_WORKERS 1024

/* ---- configuration, read once ------------------------------------------- */

static struct {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[160];              /* Host header */
    const char *function_name, *function_version, *log_group, *log_stream;
    int memory_mb;
    int workers;
} g_cfg;

static void nr_log(const char *fmt, ...) NIMBUS_PRINTF(1, 2);
static void nr_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nimbus-runtime: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v ? v : dflt;
}

/* AWS_LAMBDA_RUNTIME_API is "host:port" with a numeric host ("localhost"
 * accepted, "[v6]:port" too). */
static int cfg_load(void)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api || !*api) {
        nr_log("AWS_LAMBDA_RUNTIME_API is not set: run this bootstrap under Nimbus or AWS Lambda");
        return -1;
    }
    snprintf(g_cfg.host, sizeof g_cfg.host, "%s", api);
    char host[128];
    const char *colon = strrchr(api, ':');
    size_t hlen = colon ? (size_t)(colon - api) : 0;
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || hlen == 0 || hlen >= sizeof host || !colon[1] || *end || port <= 0 || port > 65535) {
        nr_log("AWS_LAMBDA_RUNTIME_API must be host:port, not '%s'", api);
        return -1;
    }
    memcpy(host, api, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
    memset(&g_cfg.addr, 0, sizeof g_cfg.addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&g_cfg.addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&g_cfg.addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((unsigned short)port);
        g_cfg.addr_len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((unsigned short)port);
        g_cfg.addr_len = sizeof *v6;
    } else {
        nr_log("AWS_LAMBDA_RUNTIME_API host must be an IP address, not '%s'", host);
        return -1;
    }
    g_cfg.function_name = env_or("AWS_LAMBDA_FUNCTION_NAME", "");
    g_cfg.function_version = env_or("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    g_cfg.log_group = env_or("AWS_LAMBDA_LOG_GROUP_NAME", "");
    g_cfg.log_stream = env_or("AWS_LAMBDA_LOG_STREAM_NAME", "");
    g_cfg.memory_mb = atoi(env_or("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0"));
    long n = strtol(env_or("AWS_LAMBDA_MAX_CONCURRENCY", "1"), NULL, 10);
    g_cfg.workers = n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
    return 0;
}

/* ---- one HTTP/1.1 connection ----------------------------------------------- */

typedef struct {
    int fd;                      /* -1 when not connected */
    nimbus_buf in;                   /* received bytes; in.p[in_off..in.len) not consumed yet */
    size_t in_off;
    nimbus_buf out;                  /* request head being sent */
    nimbus_buf head;                 /* last response's header block, lines NUL-terminated */
    nimbus_buf body;                 /* last response's body, NUL-terminated */
    int status;                  /* last response's status code */
    int nhdrs;
    struct { const char *name, *value; } hdrs[HDRS_MAX];
    char why[160];               /* why the last exchange failed */
    int err;                     /* errno of that failure, 0 for "closed" */
    int owed;                    /* a pipelined GET /next was sent; its response is still to be read */
} nr_conn;

static void conn_init(nr_conn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void conn_close(nr_conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->in.len = c->in_off = 0;
    c->owed = 0;
}

static void conn_free(nr_conn *c)
{
    conn_close(c);
    free(c->in.p);
    free(c->out.p);
    free(c->head.p);
    free(c->body.p);
}

static int conn_fail(nr_conn *c, const char *what, int e)
{
    c->err = e;
    snprintf(c->why, sizeof c->why, "%s: %s", what, e ? strerror(e) : "connection closed");
    return -1;
}

static int conn_open(nr_conn *c)
{
    int fd = socket(g_cfg.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return conn_fail(c, "socket", errno);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    while (connect(fd, (struct sockaddr *)&g_cfg.addr, g_cfg.addr_len) < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        close(fd);
        return conn_fail(c, "connect", e);
    }
    c->fd = fd;
    c->in.len = c->in_off = 0;
    return 0;
}

/* Read more bytes into c->in. 1 = got some, 0 = peer closed, -1 = error. */
static int conn_fill(nr_conn *c)
{
    if (c->in_off > 0 && c->in_off == c->in.len) c->in.len = c->in_off = 0;
    if (c->in.cap - c->in.len < 16384 + 1) {
        if (c->in_off > 0) {   /* slide the unread tail to the front first */
            memmove(c->in.p, c->in.p + c->in_off, c->in.len - c->in_off);
            c->in.len -= c->in_off;
            c->in_off = 0;
        }
        if (nimbus_buf_reserve(&c->in, 65536) < 0) return conn_fail(c, "receive buffer", ENOMEM);
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len - 1, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            return 1;
        }
        if (n == 0) return 0;
        if (errno != EINTR) return conn_fail(c, "recv", errno);
    }
}

/* Send c->out[0, split), the body, then c->out[split, len) (a request
 * pipelined behind this one), in one sendmsg when the socket takes it. */
static int conn_send(nr_conn *c, const void *body, size_t body_len, size_t split)
{
    struct iovec iov[3] = { { c->out.p, split }, { (void *)body, body_len }, { c->out.p + split, c->out.len - split } };
    struct msghdr m = { .msg_iov = iov, .msg_iovlen = 3 };
    while (m.msg_iovlen > 0) {
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return conn_fail(c, "send", errno);
        }
        size_t left = (size_t)n;
        while (m.msg_iovlen > 0 && left >= m.msg_iov->iov_len) {
            left -= m.msg_iov->iov_len;
            m.msg_iov++;
            m.msg_iovlen--;
        }
        if (m.msg_iovlen > 0) {
            m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + left;
            m.msg_iov->iov_len -= left;
        }
    }
    return 0;
}

static const char *conn_header(const nr_conn *c, const char *name)
{
    for (int i = 0; i < c->nhdrs; i++)
        if (strcasecmp(c->hdrs[i].name, name) == 0) return c->hdrs[i].value;
    return NULL;
}

/* Split the header block (copied into c->head) into name/value pairs. */
static int conn_parse_head(nr_conn *c, const char *raw, size_t len)
{
    c->head.len = 0;
    if (nimbus_buf_add(&c->head, raw, len) < 0) return conn_fail(c, "header buffer", ENOMEM);
    char *p = c->head.p, *end = c->head.p + c->head.len;
    char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol || strncmp(p, "HTTP/1.", 7) != 0 || eol - p < 12)
        return conn_fail(c, "bad status line from the Runtime API", EPROTO);
    c->status = atoi(p + 9);
    c->nhdrs = 0;
    for (p = eol + 1; p < end; p = eol + 1) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        char *stop = eol;
        if (stop > p && stop[-1] == '\r') stop--;
        *stop = '\0';
        char *colon = strchr(p, ':');
        if (!colon || c->nhdrs == HDRS_MAX) continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        char *t = v + strlen(v);
        while (t > v && (t[-1] == ' ' || t[-1] == '\t')) *--t = '\0';
        c->hdrs[c->nhdrs].name = p;
        c->hdrs[c->nhdrs].value = v;
        c->nhdrs++;
        if (eol == end) break;
    }
    return 0;
}

/* Take n body bytes: what is buffered first, then straight from the socket. */
static int conn_take(nr_conn *c, size_t n)
{
    if (nimbus_buf_reserve(&c->body, n) < 0) return conn_fail(c, "response body", ENOMEM);
    size_t have = c->in.len - c->in_off;
    size_t k = have < n ? have : n;
    memcpy(c->body.p + c->body.len, c->in.p + c->in_off, k);
    c->body.len += k;
    c->in_off += k;
    n -= k;
    while (n > 0) {
        ssize_t r = recv(c->fd, c->body.p + c->body.len, n, 0);
        if (r == 0) return conn_fail(c, "response body", 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return conn_fail(c, "recv", errno);
        }
        c->body.len += (size_t)r;
        n -= (size_t)r;
    }
    c->body.p[c->body.len] = '\0';
    return 0;
}

/* A line (without CRLF) from the buffer, for chunk sizes and trailers. */
static char *conn_line(nr_conn *c)
{
    for (;;) {
        char *s = c->in.p + c->in_off;
        char *nl = memchr(s, '\n', c->in.len - c->in_off);
        if (nl) {
            *nl = '\0';
            if (nl > s && nl[-1] == '\r') nl[-1] = '\0';
            c->in_off = (size_t)(nl + 1 - c->in.p);
            return s;
        }
        if (c->in.len - c->in_off > HEAD_MAX) {
            conn_fail(c, "chunk line too long", EPROTO);
            return NULL;
        }
        int r = conn_fill(c);
        if (r == 0) conn_fail(c, "chunked body", 0);
        if (r <= 0) return NULL;
    }
}

/* Nimbus never sends chunked replies, but a proxy in front of it might. */
static int conn_read_chunked(nr_conn *c)
{
    for (;;) {
        char *line = conn_line(c);
        if (!line) return -1;
        char *end = NULL;
        unsigned long long size = strtoull(line, &end, 16);
        if (end == line || size > NIMBUS_BODY_MAX - c->body.len) return conn_fail(c, "bad chunk size", EPROTO);
        if (size == 0) break;
        if (conn_take(c, (size_t)size) < 0) return -1;
        line = conn_line(c);   /* CRLF after the chunk data */
        if (!line) return -1;
    }
    for (;;) {   /* trailers end with an empty line */
        char *line = conn_line(c);
        if (!line) return -1;
        if (!*line) return 0;
    }
}

/* Read one response. Returns 0, -1 on error, or -2 when the peer closed the
 * connection before sending a single byte (an idle keep-alive connection
 * the server dropped: the request can be repeated on a new one). */
static int conn_read_response(nr_conn *c, int *must_close)
{
    c->body.len = 0;
    if (nimbus_buf_reserve(&c->body, 0) < 0) return conn_fail(c, "response body", ENOMEM);
    c->body.p[0] = '\0';
    for (;;) {
        char *start = c->in.p ? c->in.p + c->in_off : NULL;
        size_t have = c->in.len - c->in_off;
        char *eoh = start ? memmem(start, have, "\r\n\r\n", 4) : NULL;
        if (eoh) {
            size_t hlen = (size_t)(eoh - start) + 2;
            if (conn_parse_head(c, start, hlen) < 0) return -1;
            c->in_off += hlen + 2;
            if (c->status >= 100 && c->status < 200) continue;   /* 100 Continue and friends */
            break;
        }
        if (have > HEAD_MAX) return conn_fail(c, "response header too large", EPROTO);
        int r = conn_fill(c);
        if (r < 0) return have == 0 && c->err == ECONNRESET ? -2 : -1;
        if (r == 0) {
            conn_fail(c, have == 0 ? "recv" : "response header", 0);
            return have == 0 ? -2 : -1;
        }
    }
    const char *conn = conn_header(c, "Connection");
    const char *te = conn_header(c, "Transfer-Encoding");
    const char *cl = conn_header(c, "Content-Length");
    *must_close = conn && strcasecmp(conn, "close") == 0;
    if (c->status == 204 || c->status == 304) return 0;
    if (te && strcasestr(te, "chunked")) return conn_read_chunked(c);
    if (cl) {
        char *end = NULL;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end == cl || *end || n > NIMBUS_BODY_MAX) return conn_fail(c, "bad Content-Length", EPROTO);
        return conn_take(c, (size_t)n);
    }
    *must_close = 1;   /* the body runs to the end of the connection */
    for (;;) {
        size_t have = c->in.len - c->in_off;
        if (nimbus_buf_add(&c->body, c->in.p + c->in_off, have) < 0) return conn_fail(c, "response body", ENOMEM);
        c->in_off += have;
        int r = conn_fill(c);
        if (r == 0) return 0;
        if (r < 0) return -1;
    }
}

/* A request head: request line, Host, User-Agent, `headers` (extra
 * "Name: value\r\n" text or NULL), Content-Length unless a GET, the blank
 * line. Non-zero when out of memory. */
static int add_request_head(nimbus_buf *out, const char *method, const char *path, const char *headers,
                            size_t body_len)
{
    int bad = nimbus_buf_addf(out, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: nimbus-runtime-c/%s\r\n%s",
                              method, path, g_cfg.host, NIMBUS_RUNTIME_VERSION, headers ? headers : "");
    if (!bad && strcmp(method, "GET") != 0) bad = nimbus_buf_addf(out, "Content-Length: %zu\r\n", body_len);
    return bad || nimbus_buf_add(out, "\r\n", 2) < 0;
}

/* One request/response. `headers` is extra "Name: value\r\n" text or NULL.
 * Retried once on a new connection when a reused one turns out to be
 * closed (server-side keep-alive timeout): nothing was answered, so nothing
 * can be answered twice. With then_next, a GET /next goes out right behind
 * the request, in the same write, and its response is left to read
 * (c->owed): the daemon then sends this request's 202 with the next event,
 * so the worker wakes once per call instead of twice. */
static int conn_exchange(nr_conn *c, const char *method, const char *path, const char *headers,
                         const void *body, size_t body_len, int then_next)
{
    for (int attempt = 0;; attempt++) {
        int fresh = 0;
        if (c->fd < 0) {
            if (conn_open(c) < 0) return -1;
            fresh = 1;
        }
        c->out.len = 0;
        int bad = add_request_head(&c->out, method, path, headers, body_len);
        size_t split = c->out.len;
        if (!bad && then_next) bad = add_request_head(&c->out, "GET", API_PREFIX "/invocation/next", NULL, 0);
        if (bad) return conn_fail(c, "request", ENOMEM);

        /* A failed send may still leave an answer to read (a server that
         * refuses a too-large body answers, then closes). */
        int sent = conn_send(c, body, body_len, split);
        int must_close = 0;
        int r = conn_read_response(c, &must_close);
        if (r == 0) {
            /* A close after this answer means the /next behind it was not read. */
            if (must_close) conn_close(c);
            else c->owed = then_next && sent == 0;
            return 0;
        }
        conn_close(c);
        if ((r == -2 || sent < 0) && !fresh && attempt == 0) continue;
        return -1;
    }
}

/* ---- the call loop ----------------------------------------------------------- */

typedef struct {
    nimbus_handler handler;
    nr_conn conn;
    nimbus_response res;
    nimbus_buf event;        /* the event body, kept while the handler runs */
    nimbus_buf ids;          /* request id and the other strings of the request */
    nimbus_buf doc;          /* error document being built */
    nimbus_buf hdrs;         /* extra request headers being built */
    nimbus_buf path;         /* /response or /error path being built */
} nr_worker;

/* Request ids go into a path: anything but [A-Za-z0-9-._~] is escaped. */
static int add_path_segment(nimbus_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '.' || ch == '_' || ch == '~';
        if (plain ? nimbus_buf_add(b, s, 1) < 0 : nimbus_buf_addf(b, "%%%02X", ch) < 0) return -1;
    }
    return 0;
}

/* A header value must stay on one line. */
static int add_header_value(nimbus_buf *b, const char *s)
{
    for (; *s; s++) {
        char ch = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '_' : *s;
        if (nimbus_buf_add(b, &ch, 1) < 0) return -1;
    }
    return 0;
}

static int build_error_doc(nimbus_buf *doc, nimbus_buf *hdrs, const char *type, const char *msg)
{
    doc->len = hdrs->len = 0;
    int bad = nimbus_buf_add(doc, "{\"errorMessage\":", 16) || nimbus_buf_add_json(doc, msg, strlen(msg)) ||
              nimbus_buf_add(doc, ",\"errorType\":", 13) || nimbus_buf_add_json(doc, type, strlen(type)) ||
              nimbus_buf_add(doc, ",\"stackTrace\":[]}", 17);
    bad = bad || nimbus_buf_add(hdrs, "Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: ", 68) ||
          add_header_value(hdrs, type) || nimbus_buf_add(hdrs, "\r\n", 2);
    return bad ? -1 : 0;
}

/* The next call: the response to the /next pipelined behind the last
 * answer, else a GET /next, retrying a short while if the API is
 * momentarily unreachable. */
static int worker_next(nr_worker *w)
{
    if (w->conn.owed) {
        int must_close = 0;
        w->conn.owed = 0;
        if (conn_read_response(&w->conn, &must_close) == 0) {
            if (must_close) conn_close(&w->conn);
            if (w->conn.status == 200 && conn_header(&w->conn, "Lambda-Runtime-Aws-Request-Id")) return 0;
        } else {
            conn_close(&w->conn);
        }
    }
    for (int tries = 0;; tries++) {
        if (conn_exchange(&w->conn, "GET", API_PREFIX "/invocation/next", NULL, NULL, 0, 0) == 0) {
            if (w->conn.status == 200 && conn_header(&w->conn, "Lambda-Runtime-Aws-Request-Id")) return 0;
            snprintf(w->conn.why, sizeof w->conn.why, "GET /next answered %d without a request", w->conn.status);
        }
        if (tries == 5) {
            nr_log("cannot get the next call from %s: %s", g_cfg.host, w->conn.why);
            return -1;
        }
        usleep(20000u << tries);
    }
}

static const char *hdr_or_empty(const nr_conn *c, const char *name)
{
    const char *v = conn_header(c, name);
    return v ? v : "";
}

static int worker_call(nr_worker *w)
{
    nr_conn *c = &w->conn;
    /* The next exchange reuses c->body and c->head: keep what the handler
     * sees in the worker's own buffers. */
    nimbus_buf swap = w->event;
    w->event = c->body;
    c->body = swap;
    nimbus_buf tmp = w->ids;
    w->ids = c->head;
    c->head = tmp;
    if (c->body.cap > ((size_t)1 << 20)) {   /* the last big event is not kept twice */
        free(c->body.p);
        c->body = (nimbus_buf){ 0 };
    }
    const char *dl = conn_header(c, "Lambda-Runtime-Deadline-Ms");
    nimbus_request req = {
        .request_id = hdr_or_empty(c, "Lambda-Runtime-Aws-Request-Id"),
        .body = w->event.p,
        .body_len = w->event.len,
        .deadline_ms = dl ? strtoll(dl, NULL, 10) : 0,
        .function_arn = hdr_or_empty(c, "Lambda-Runtime-Invoked-Function-Arn"),
        .function_name = g_cfg.function_name,
        .function_version = g_cfg.function_version,
        .memory_mb = g_cfg.memory_mb,
        .trace_id = hdr_or_empty(c, "Lambda-Runtime-Trace-Id"),
        .client_context = hdr_or_empty(c, "Lambda-Runtime-Client-Context"),
        .cognito_identity = hdr_or_empty(c, "Lambda-Runtime-Cognito-Identity"),
        .content_type = hdr_or_empty(c, "Content-Type"),
        .log_group_name = g_cfg.log_group,
        .log_stream_name = g_cfg.log_stream,
    };
    if (g_cfg.workers == 1) {
        if (*req.trace_id) setenv("_X_AMZN_TRACE_ID", req.trace_id, 1);
        else unsetenv("_X_AMZN_TRACE_ID");
    }

    nimbus_response_reset(&w->res);
    int rc = w->handler(&req, &w->res);
    nimbus_response *res = &w->res;
    char msg[64];
    const char *etype = NULL, *emsg = NULL;
    if (res->out_of_memory) {
        etype = "Runtime.OutOfMemory";
        emsg = "the response could not be allocated";
    } else if (res->error_type) {
        etype = res->error_type;
        emsg = res->error_message;
    } else if (rc != 0) {
        snprintf(msg, sizeof msg, "handler returned %d", rc);
        etype = "HandlerError";
        emsg = msg;
    }
    if (etype) fprintf(stderr, "[ERROR] %s: %s\n", etype, emsg);
    fflush(stdout);   /* the call's log must be complete before its result */
    fflush(stderr);

    w->path.len = 0;
    int bad = nimbus_buf_add(&w->path, API_PREFIX "/invocation/", sizeof API_PREFIX "/invocation/" - 1) ||
              add_path_segment(&w->path, req.request_id) ||
              nimbus_buf_add(&w->path, etype ? "/error" : "/response", etype ? 6 : 9);
    int sent = -1;
    if (etype) {
        bad = bad || build_error_doc(&w->doc, &w->hdrs, etype, emsg);
        if (!bad) sent = conn_exchange(c, "POST", w->path.p, w->hdrs.p, w->doc.p, w->doc.len, 1);
    } else {
        w->hdrs.len = 0;
        bad = bad || nimbus_buf_add(&w->hdrs, "Content-Type: ", 14) ||
              add_header_value(&w->hdrs, res->content_type[0] ? res->content_type : "application/json") ||
              nimbus_buf_add(&w->hdrs, "\r\n", 2);
        if (!bad) sent = conn_exchange(c, "POST", w->path.p, w->hdrs.p, res->body, res->body_len, 1);
    }
    if (bad) {
        nr_log("out of memory posting the result of %s", req.request_id);
        return 0;   /* the platform times the call out; the next may fare better */
    }
    if (sent < 0) {
        nr_log("cannot post the result of %s: %s", req.request_id, c->why);
        return -1;
    }
    /* 413 (too large) and 4xx state errors are settled on the platform's side:
     * the caller gets its error; this instance carries on. */
    if (c->status != 202 && c->status != 200)
        nr_log("posting the result of %s: HTTP %d %.*s", req.request_id, c->status,
               (int)(c->body.len > 300 ? 300 : c->body.len), c->body.p ? c->body.p : "");
    return 0;
}

static int worker_loop(nr_worker *w)
{
    for (;;) {
        if (worker_next(w) < 0) return -1;
        if (worker_call(w) < 0) return -1;
    }
}

static void worker_free(nr_worker *w)
{
    conn_free(&w->conn);
    nimbus_response_reset(&w->res);
    free(w->res.body);
    free(w->event.p);
    free(w->ids.p);
    free(w->doc.p);
    free(w->hdrs.p);
    free(w->path.p);
}

/* N > 1: the first worker to fail wakes the caller of nimbus_runtime_run,
 * which returns; the process ends with main() and takes the others along. */
static pthread_mutex_t g_fail_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_fail_cond = PTHREAD_COND_INITIALIZER;
static int g_failed;

static void *worker_thread(void *arg)
{
    nr_worker *w = arg;
    worker_loop(w);
    pthread_mutex_lock(&g_fail_lock);
    g_failed = 1;
    pthread_cond_signal(&g_fail_cond);
    pthread_mutex_unlock(&g_fail_lock);
    return NULL;
}

int nimbus_runtime_run(nimbus_handler handler)
{
    if (!handler) {
        nr_log("nimbus_runtime_run: handler is NULL");
        return 1;
    }
    if (cfg_load() < 0) return 1;
    if (g_cfg.workers == 1) {
        nr_worker w = { .handler = handler };
        conn_init(&w.conn);
        worker_loop(&w);
        worker_free(&w);
        return 1;
    }
    /* Workers are never freed: they live until the process ends. */
    nr_worker *ws = calloc((size_t)g_cfg.workers, sizeof *ws);
    if (!ws) {
        nr_log("out of memory starting %d workers", g_cfg.workers);
        return 1;
    }
    int started = 0;
    for (int i = 0; i < g_cfg.workers; i++) {
        ws[i].handler = handler;
        conn_init(&ws[i].conn);
        pthread_t t;
        int e = pthread_create(&t, NULL, worker_thread, &ws[i]);
        if (e != 0) {
            nr_log("cannot start worker thread %d of %d: %s", i + 1, g_cfg.workers, strerror(e));
            break;
        }
        pthread_detach(t);
        started++;
    }
    if (started == 0) return 1;
    pthread_mutex_lock(&g_fail_lock);
    while (!g_failed) pthread_cond_wait(&g_fail_cond, &g_fail_lock);
    pthread_mutex_unlock(&g_fail_lock);
    return 1;
}

int nimbus_runtime_init_error(const char *type, const char *message)
{
    type = type && *type ? type : "Runtime.InitError";
    message = message ? message : "";
    fprintf(stderr, "[ERROR] %s: %s\n", type, message);
    fflush(stdout);
    fflush(stderr);
    if (cfg_load() < 0) return 1;
    nr_conn c;
    conn_init(&c);
    nimbus_buf doc = { 0 }, hdrs = { 0 };
    if (build_error_doc(&doc, &hdrs, type, message) < 0)
        nr_log("out of memory reporting the init error");
    else if (conn_exchange(&c, "POST", API_PREFIX "/init/error", hdrs.p, doc.p, doc.len, 0) < 0)
        nr_log("cannot report the init error: %s", c.why);
    else if (c.status != 202 && c.status != 200)
        nr_log("reporting the init error: HTTP %d", c.status);
    free(doc.p);
    free(hdrs.p);
    conn_free(&c);
    return 1;
}
