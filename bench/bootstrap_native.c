/* bootstrap_native.c — the fastest possible Lambda custom runtime (`provided`): an echo function.
 *
 * It speaks the Lambda Runtime API over ONE blocking keep-alive TCP connection (TCP_NODELAY) to
 * $AWS_LAMBDA_RUNTIME_API: GET .../invocation/next, then POST .../invocation/<id>/response with the
 * event body echoed back and the next GET .../invocation/next pipelined right behind it (HTTP/1.1
 * pipelining, one send() for both), then read the 202 and the next event, forever. With
 * ECHO_PIPELINE=0 it waits for each 202 before the next GET instead, as the AWS runtime interface
 * clients do. Raw sockets, no libcurl, no allocation on the steady path.
 *
 * With AWS_LAMBDA_MAX_CONCURRENCY=N > 1 (an instance with InstanceConcurrency N) it serves N calls
 * at once from one epoll loop over N connections, as an event-driven server would.
 *
 * It exists so the benchmark measures Nimbus, not the runtime.
 *
 * With ECHO_HOLD_MS=N in its environment it holds each call N ms before answering, so a burst of
 * calls needs one instance per call (bench/burst.py's scale-out case).
 *
 * It must never guess: anything it does not understand (a non-200 /next, a non-2xx on /response,
 * a malformed or chunked reply) is fatal — one line on stderr and exit(1), as a real runtime that
 * lost its platform would. A connection the server closed between requests is simply reopened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER   (64 * 1024)
#define MAX_BODY     (7 * 1024 * 1024)    /* Lambda caps payloads at 6 MB; leave room */
#define REQID_MAX    128

static struct {
    char host[256];
    char port[16];
    int fd;
    char *buf;                /* response bytes; a response is consumed from its start */
    size_t len, cap;
} rt = { .fd = -1 };

/* The parsed head of one response; pointers are into rt.buf. */
struct resp {
    int status;
    size_t head_len;
    size_t body_len;
    int close;                /* server said Connection: close */
    char reqid[REQID_MAX];
    char ctype[128];
};

__attribute__((format(printf, 1, 2), noreturn))
static void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bootstrap_native: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void rt_disconnect(void)
{
    if (rt.fd >= 0)
        close(rt.fd);
    rt.fd = -1;
    rt.len = 0;
}

/* The address is parsed, not resolved: getaddrinfo would drag NSS into a static binary, and the
 * platform always hands out a numeric address. Only "localhost" gets a name lookup of sorts. */
static void rt_parse_addr(struct sockaddr_in *sa)
{
    char *e;
    unsigned long port = strtoul(rt.port, &e, 10);
    if (*e || port == 0 || port > 65535)
        fatal("bad port '%s' in AWS_LAMBDA_RUNTIME_API", rt.port);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)port);
    const char *h = strcmp(rt.host, "localhost") == 0 ? "127.0.0.1" : rt.host;
    if (inet_pton(AF_INET, h, &sa->sin_addr) != 1)
        fatal("AWS_LAMBDA_RUNTIME_API host '%s' is not an IPv4 address", rt.host);
}

/* Connect, retrying briefly: the platform may still be setting the listener up. */
static void rt_connect(void)
{
    struct sockaddr_in sa;
    rt_parse_addr(&sa);
    int err = 0;
    for (int attempt = 0; attempt < 50; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            fatal("socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            rt.fd = fd;
            rt.len = 0;
            return;
        }
        err = errno;
        close(fd);
        if (err != ECONNREFUSED && err != EINTR && err != EAGAIN)
            break;
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    fatal("cannot connect to runtime API %s:%s: %s", rt.host, rt.port, strerror(err));
}

/* Send all of iov on fd. Returns 0, or -1 if the connection is gone (the caller reconnects).
 * A non-blocking socket whose buffer is full (concurrent mode) is waited on briefly. */
static int sendv_fd(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct timespec ts = { 0, 100000 };
                nanosleep(&ts, NULL);
                continue;
            }
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int rt_sendv(struct iovec *iov, int n) { return sendv_fd(rt.fd, iov, n); }

/* Read more bytes into rt.buf. Returns bytes read, 0 on EOF, -1 on error. */
static ssize_t rt_fill(void)
{
    if (rt.cap - rt.len < 16384) {
        size_t n = rt.cap ? rt.cap * 2 : 65536;
        if (n > MAX_HEADER + MAX_BODY + 65536)
            fatal("response from runtime API too large");
        char *p = realloc(rt.buf, n);
        if (!p)
            fatal("out of memory");
        rt.buf = p;
        rt.cap = n;
    }
    for (;;) {
        ssize_t r = recv(rt.fd, rt.buf + rt.len, rt.cap - rt.len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0)
            rt.len += (size_t)r;
        return r;
    }
}

static void copy_value(char *dst, size_t cap, const char *v, size_t vlen, const char *what)
{
    if (vlen >= cap)
        fatal("%s header too long (%zu bytes)", what, vlen);
    memcpy(dst, v, vlen);
    dst[vlen] = 0;
}

/* Parse the head in b[0, head_len). */
static void parse_head(const char *b, struct resp *r, const char *hend)
{
    if (r->head_len < 12 || memcmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ')
        fatal("malformed status line from runtime API");
    r->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    int have_len = 0;
    const char *p = memchr(b, '\n', (size_t)(hend - b)) + 1;
    while (p < hend + 2) {
        const char *eol = memchr(p, '\n', (size_t)(hend + 2 - p));
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon)
            fatal("malformed header line from runtime API");
        size_t nlen = (size_t)(colon - p);
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        const char *ve = eol;
        while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vlen = (size_t)(ve - v);
#define IS(name) (nlen == sizeof(name) - 1 && strncasecmp(p, name, nlen) == 0)
        if (IS("Content-Length")) {
            char num[24], *e;
            copy_value(num, sizeof num, v, vlen, "Content-Length");
            errno = 0;
            unsigned long long n = strtoull(num, &e, 10);
            if (!vlen || *e || errno || n > MAX_BODY)
                fatal("bad Content-Length '%s' from runtime API", num);
            r->body_len = (size_t)n;
            have_len = 1;
        } else if (IS("Transfer-Encoding")) {
            fatal("runtime API sent Transfer-Encoding; only Content-Length is supported");
        } else if (IS("Connection")) {
            r->close = vlen == 5 && strncasecmp(v, "close", 5) == 0;
        } else if (IS("Lambda-Runtime-Aws-Request-Id")) {
            copy_value(r->reqid, sizeof r->reqid, v, vlen, "Lambda-Runtime-Aws-Request-Id");
        } else if (IS("Content-Type")) {
            copy_value(r->ctype, sizeof r->ctype, v, vlen, "Content-Type");
        }
#undef IS
        p = eol + 1;
    }
    if (!have_len && r->status != 204 && r->status != 304)
        fatal("runtime API response (status %d) without Content-Length", r->status);
}

/* Read one whole response from the front of rt.buf (reading more as needed) into r; the body is
 * at rt.buf + r->head_len and bytes past it (a pipelined response) stay buffered for rt_consume.
 * Returns 0, or -1 when the connection closed before any byte of it arrived (a stale keep-alive
 * connection: the caller reconnects and sends again). */
static int rt_read(struct resp *r)
{
    const char *hend = rt.len ? memmem(rt.buf, rt.len, "\r\n\r\n", 4) : NULL;
    ssize_t n = 1;
    while (!hend) {
        n = rt_fill();
        if (n <= 0)
            break;
        hend = memmem(rt.buf, rt.len, "\r\n\r\n", 4);
        if (!hend && rt.len > MAX_HEADER)
            fatal("response head from runtime API too large");
    }
    if (!hend) {
        if (rt.len == 0)
            return -1;
        fatal("runtime API connection lost mid-response: %s", n < 0 ? strerror(errno) : "EOF");
    }
    memset(r, 0, sizeof *r);
    r->head_len = (size_t)(hend - rt.buf) + 4;
    parse_head(rt.buf, r, hend);
    while (rt.len < r->head_len + r->body_len) {
        n = rt_fill();
        if (n <= 0)
            fatal("runtime API connection lost mid-body: %s", n < 0 ? strerror(errno) : "EOF");
    }
    return 0;
}

/* Drop the response r from the front of rt.buf, keeping what came after it. */
static void rt_consume(const struct resp *r)
{
    size_t used = r->head_len + r->body_len;
    memmove(rt.buf, rt.buf + used, rt.len - used);
    rt.len -= used;
}

/* Send the n pieces of iov (one request, or a /response with the next /next pipelined behind it)
 * and read the first response into r. A connection the server closed is reopened and everything
 * sent again, but only if no byte of the response had arrived. */
static void rt_send_read(struct iovec *iov, int n, struct resp *r)
{
    struct iovec copy[4];
    for (int attempt = 0;; attempt++) {
        if (attempt == 3)
            fatal("runtime API keeps closing the connection");
        if (rt.fd < 0)
            rt_connect();
        rt.len = 0;
        memcpy(copy, iov, (size_t)n * sizeof *iov);
        if (rt_sendv(copy, n) < 0 || rt_read(r) < 0) {
            rt_disconnect();
            continue;
        }
        return;
    }
}

/* The head of the /response echoing event r (len bytes) back, into buf; its length. */
static size_t post_head(char *buf, size_t cap, const struct resp *r, const char *api, size_t len)
{
    int n = snprintf(buf, cap,
                     "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: %s\r\n"
                     "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                     r->reqid, api, r->ctype[0] ? r->ctype : "application/json", len);
    if (n < 0 || (size_t)n >= cap)
        fatal("response head too long");
    return (size_t)n;
}

/* ---- AWS_LAMBDA_MAX_CONCURRENCY=N > 1: one process, N calls at once ----
 *
 * N keep-alive connections, one per slot, all served by one epoll loop: on each event the
 * /response goes out with the next /next pipelined behind it, and the connection then expects a
 * 2xx and the next event. The process only sleeps when no connection has anything to read, as an
 * event-driven server does, which is what sets it apart from N one-call instances. */
struct cconn {
    int fd;
    char *buf;
    size_t len, cap;
    int expect_post;          /* the next response answers a /response */
};

static void cc_sendall(int fd, struct iovec *iov, int n)
{
    if (sendv_fd(fd, iov, n) < 0)
        fatal("send to runtime API: %s", strerror(errno));
}

/* Every whole response buffered on c: a /response's 2xx is checked, an event is answered. */
static void cc_process(struct cconn *c, const char *api, const char *next_req, size_t nl)
{
    size_t off = 0;
    for (;;) {
        const char *b = c->buf + off;
        size_t have = c->len - off;
        const char *hend = memmem(b, have, "\r\n\r\n", 4);
        if (!hend)
            break;
        struct resp r;
        memset(&r, 0, sizeof r);
        r.head_len = (size_t)(hend - b) + 4;
        parse_head(b, &r, hend);
        if (have < r.head_len + r.body_len)
            break;
        if (r.close)
            fatal("runtime API closed a connection (Connection: close) in concurrent mode");
        if (c->expect_post) {
            if (r.status < 200 || r.status > 299)
                fatal("POST /runtime/invocation/.../response answered %d", r.status);
            c->expect_post = 0;
        } else {
            if (r.status != 200 || !r.reqid[0])
                fatal("GET /runtime/invocation/next answered %d", r.status);
            char post[768];
            size_t pl = post_head(post, sizeof post, &r, api, r.body_len);
            struct iovec iov[3] = { { post, pl }, { (char *)b + r.head_len, r.body_len },
                                    { (char *)next_req, nl } };
            cc_sendall(c->fd, iov, 3);
            c->expect_post = 1;
        }
        off += r.head_len + r.body_len;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
}

static int serve_concurrent(long n, const char *api, const char *next_req, size_t nl)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        fatal("epoll_create1: %s", strerror(errno));
    struct cconn *cs = calloc((size_t)n, sizeof *cs);
    if (!cs)
        fatal("out of memory");
    for (long i = 0; i < n; i++) {
        rt.fd = -1;
        rt_connect();
        cs[i].fd = rt.fd;
        cs[i].cap = 65536;
        if (!(cs[i].buf = malloc(cs[i].cap)))
            fatal("out of memory");
        struct iovec iov = { (char *)next_req, nl };
        cc_sendall(cs[i].fd, &iov, 1);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cs[i] };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0)
            fatal("epoll_ctl: %s", strerror(errno));
    }
    rt.fd = -1;
    struct epoll_event evs[64];
    for (;;) {
        int k = epoll_wait(ep, evs, 64, -1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            fatal("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < k; i++) {
            struct cconn *c = evs[i].data.ptr;
            if (c->cap - c->len < 16384) {
                if (c->cap > MAX_HEADER + MAX_BODY + 65536)
                    fatal("response from runtime API too large");
                char *p = realloc(c->buf, c->cap * 2);
                if (!p)
                    fatal("out of memory");
                c->buf = p;
                c->cap *= 2;
            }
            ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0)
                fatal("runtime API connection lost: %s", r < 0 ? strerror(errno) : "EOF");
            c->len += (size_t)r;
            cc_process(c, api, next_req, nl);
        }
    }
}

int main(void)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api || !*api)
        fatal("AWS_LAMBDA_RUNTIME_API is not set");
    const char *colon = strrchr(api, ':');
    if (!colon || colon == api || (size_t)(colon - api) >= sizeof rt.host || !colon[1] ||
        strlen(colon + 1) >= sizeof rt.port)
        fatal("AWS_LAMBDA_RUNTIME_API must be host:port, got '%s'", api);
    memcpy(rt.host, api, (size_t)(colon - api));
    rt.host[colon - api] = 0;
    strcpy(rt.port, colon + 1);

    char next_req[512];
    int nl = snprintf(next_req, sizeof next_req,
                      "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s\r\n"
                      "User-Agent: nimbus-bench-bootstrap/1\r\n\r\n", api);
    if (nl < 0 || (size_t)nl >= sizeof next_req)
        fatal("AWS_LAMBDA_RUNTIME_API too long");

    const char *hold = getenv("ECHO_HOLD_MS");
    long hold_ms = hold ? strtol(hold, NULL, 10) : 0;
    const char *mc = getenv("AWS_LAMBDA_MAX_CONCURRENCY");
    long slots = mc ? strtol(mc, NULL, 10) : 1;
    if (slots > 1) {
        if (hold_ms > 0)
            fatal("ECHO_HOLD_MS is not supported with AWS_LAMBDA_MAX_CONCURRENCY > 1");
        return serve_concurrent(slots, api, next_req, (size_t)nl);
    }
    /* ECHO_PIPELINE=0: wait for each 202 before asking for the next event, as the AWS runtime
     * interface clients do; by default the /next goes out right behind the /response. */
    const char *pl_env = getenv("ECHO_PIPELINE");
    int pipeline = !(pl_env && strcmp(pl_env, "0") == 0);
    char *event = NULL;       /* the event body, copied out of rt.buf before the POST reuses it */
    size_t event_cap = 0;
    struct resp r;
    struct iovec next_iov = { next_req, (size_t)nl };
    rt_send_read(&next_iov, 1, &r);
    for (;;) {
        if (r.status != 200)
            fatal("GET /runtime/invocation/next answered %d", r.status);
        if (!r.reqid[0])
            fatal("GET /runtime/invocation/next: no Lambda-Runtime-Aws-Request-Id");
        size_t elen = r.body_len;
        if (elen > event_cap) {
            char *p = realloc(event, elen);
            if (!p)
                fatal("out of memory");
            event = p;
            event_cap = elen;
        }
        if (elen)
            memcpy(event, rt.buf + r.head_len, elen);
        rt_consume(&r);
        if (rt.len)
            fatal("runtime API sent bytes past the event");
        if (r.close)
            rt_disconnect();

        if (hold_ms > 0) {
            struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
            nanosleep(&ts, NULL);
        }
        char post[768];
        size_t pl = post_head(post, sizeof post, &r, api, elen);
        char reqid[REQID_MAX];
        memcpy(reqid, r.reqid, sizeof reqid);
        struct iovec iov[3] = { { post, pl }, { event, elen }, { next_req, (size_t)nl } };
        int niov = 1 + (elen > 0);
        if (pipeline)
            iov[niov++] = next_iov;
        rt_send_read(iov, niov, &r);
        if (r.status < 200 || r.status > 299)
            fatal("POST /runtime/invocation/%s/response answered %d", reqid, r.status);
        int closed = r.close;
        rt_consume(&r);
        if (closed)
            rt_disconnect();   /* a pipelined /next behind it was not read: ask again */
        if (!pipeline || rt.fd < 0) {
            if (rt.len)
                fatal("runtime API sent bytes past the response");
            rt_send_read(&next_iov, 1, &r);
        } else if (rt_read(&r) < 0) {
            fatal("runtime API closed the connection before answering the pipelined /next");
        }
    }
}
