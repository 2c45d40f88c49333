/* test_http.c — the HTTP/1.1 server against raw client sockets on
 * 127.0.0.1. Everything runs on the test thread: the client side uses
 * non-blocking sockets and steps the loop (pump) while it waits. */
#define _GNU_SOURCE   /* memmem */
#include <criterion/criterion.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/errdoc.h"
#include "io/http.h"
#include "io/loop.h"

enum { MODE_ECHO, MODE_HOLD };

static struct {
    loop_t *loop;
    http_server_t *srv;
    int port, port_b, fd_a, fd_b;
    int mode;
    http_exchange_t *held[16];
    int nheld;
    int nreq;
    int aborted;
    int done_called;
    char method[16], target[256], path[256], query[256], hval[64], trailer[64], host[128];
    size_t ntrailers;
    char *body;
    size_t body_len;
    bool body_nul;
    void *ctx;
    size_t limit_small;
} T;

static int CTX_A, CTX_B;

/* ---- server side ---- */

static void on_abort(http_exchange_t *ex, void *arg)
{
    (void)arg;
    for (int i = 0; i < T.nheld; i++)
        if (T.held[i] == ex) T.held[i] = NULL;
    T.aborted++;
}

static void copy(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "(null)");
}

static void on_req(http_exchange_t *ex, http_request_t *req, void *arg)
{
    (void)arg;
    T.nreq++;
    copy(T.method, sizeof T.method, req->method);
    copy(T.target, sizeof T.target, req->target);
    copy(T.path, sizeof T.path, req->path);
    copy(T.query, sizeof T.query, req->query);
    copy(T.hval, sizeof T.hval, http_request_header(req, "x-val"));
    copy(T.host, sizeof T.host, http_request_header(req, "Host"));
    copy(T.trailer, sizeof T.trailer, http_request_trailer(req, "x-checksum"));
    T.ntrailers = req->ntrailers;
    free(T.body);
    T.body = malloc(req->body_len + 1);
    memcpy(T.body, req->body, req->body_len + 1);
    T.body_len = req->body_len;
    T.body_nul = req->body != NULL && req->body[req->body_len] == '\0';
    T.ctx = req->listener_ctx;

    if (T.mode == MODE_HOLD) {
        T.held[T.nheld++] = ex;
        http_exchange_on_abort(ex, on_abort, NULL);
        return;
    }
    if (!strcmp(req->path, "/status/204")) {
        http_respond(ex, 204, NULL, 0, "x", 1);
    } else if (!strcmp(req->path, "/take")) {
        size_t n;
        char *b = http_request_take_body(ex, &n);
        cr_assert_eq(req->body_len, 0);
        cr_assert_str_eq(req->body, "");
        http_respond_owned(ex, 200, NULL, 0, b, n);
    } else if (!strcmp(req->path, "/evil")) {
        http_header_t h[] = { { "X-Evil", "a\r\nInjected: 1" }, { "X-Good", "ok" } };
        http_respond(ex, 200, h, 2, "e", 1);
    } else if (!strcmp(req->path, "/close")) {
        http_header_t h[] = { { "Connection", "close" } };
        http_respond(ex, 200, h, 1, "c", 1);
    } else {
        http_header_t h[] = { { "X-Path", req->path }, { "Content-Type", "text/plain" } };
        http_respond(ex, 200, h, 2, req->body, req->body_len);
    }
}

static size_t body_limit(const http_request_t *req, void *arg)
{
    (void)arg;
    return !strcmp(req->path, "/small") ? T.limit_small : 1000;
}

static void start(http_server_config_t cfg)
{
    err_t e = { 0 };
    T.loop = loop_new(0, &e);
    cr_assert(T.loop, "%s", e.msg);
    cfg.on_request = on_req;
    T.srv = http_server_new(T.loop, &cfg, &e);
    cr_assert(T.srv, "%s", e.msg);
    T.fd_a = http_server_listen_tcp(T.srv, "127.0.0.1", 0, &CTX_A, &T.port, &e);
    cr_assert(T.fd_a >= 0, "%s", e.msg);
    cr_assert(T.port > 0);
}

static void teardown(void)
{
    if (T.srv) http_server_free(T.srv);
    if (T.loop) loop_free(T.loop);
    free(T.body);
}

static void stop_cb(loop_t *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

/* Run the loop for about `ms` milliseconds (0: one iteration). */
static void pump(unsigned ms)
{
    loop_timer_add(T.loop, ms, stop_cb, NULL);
    loop_run(T.loop, NULL);
}

static bool pump_until(int *counter, int want, unsigned ms)
{
    uint64_t end = loop_now_ms() + ms;
    while (*counter < want && loop_now_ms() < end) pump(1);
    return *counter >= want;
}

/* ---- client side ---- */

typedef struct {
    int fd;
    size_t len;
    char buf[1 << 21];
} cli_t;

typedef struct {
    int status;
    char head[8192];
    char *body;
    size_t body_len;
} resp_t;

static cli_t *cli_open(int port)
{
    cli_t *c = malloc(sizeof *c);
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return c;
}

static void cli_close(cli_t *c)
{
    if (c->fd >= 0) close(c->fd);
    free(c);
}

static void cli_sendn(cli_t *c, const void *p, size_t n)
{
    const char *s = p;
    uint64_t end = loop_now_ms() + 5000;
    while (n) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            s += w;
            n -= (size_t)w;
            continue;
        }
        cr_assert(w < 0 && errno == EAGAIN, "send: %s", strerror(errno));
        cr_assert(loop_now_ms() < end, "send timed out");
        pump(1);
    }
}

static void cli_send(cli_t *c, const char *s) { cli_sendn(c, s, strlen(s)); }

static const char *resp_header(const resp_t *r, const char *name)
{
    static char val[512];
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (!strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') v++;
            size_t vl = strcspn(v, "\r");
            snprintf(val, sizeof val, "%.*s", (int)vl, v);
            return val;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/* Take one complete response off the client buffer, if there is one. */
static bool try_parse(cli_t *c, resp_t *r, bool head_req)
{
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return false;
    size_t hlen = (size_t)(end - c->buf) + 4;
    cr_assert(hlen < sizeof r->head);
    memcpy(r->head, c->buf, hlen);
    r->head[hlen] = '\0';
    cr_assert_eq(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1, "bad status line: %s", r->head);
    size_t blen = 0;
    const char *cl = resp_header(r, "Content-Length");
    if (cl && !head_req) blen = strtoul(cl, NULL, 10);
    if (c->len < hlen + blen) return false;
    r->body = malloc(blen + 1);
    memcpy(r->body, c->buf + hlen, blen);
    r->body[blen] = '\0';
    r->body_len = blen;
    memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
    c->len -= hlen + blen;
    return true;
}

/* 0: got a response; -1: timeout; -2: EOF; -3: socket error. */
static int cli_resp_ex(cli_t *c, resp_t *r, unsigned ms, bool head_req)
{
    uint64_t end = loop_now_ms() + ms;
    memset(r, 0, sizeof *r);
    for (;;) {
        if (try_parse(c, r, head_req)) return 0;
        cr_assert(c->len < sizeof c->buf);
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n == 0) return -2;
        if (errno != EAGAIN) return -3;
        if (loop_now_ms() >= end) return -1;
        pump(1);
    }
}

static int cli_resp(cli_t *c, resp_t *r) { return cli_resp_ex(c, r, 2000, false); }

/* Wait for the server to close: 0 on EOF or reset, -1 on timeout or data. */
static int cli_wait_eof(cli_t *c, unsigned ms)
{
    uint64_t end = loop_now_ms() + ms;
    for (;;) {
        char b[256];
        ssize_t n = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return 0;
        if (n > 0) return -1;
        if (loop_now_ms() >= end) return -1;
        pump(1);
    }
}

/* Pump for `ms` and check the client received nothing meanwhile. */
static void cli_expect_silence(cli_t *c, unsigned ms)
{
    pump(ms);
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
    cr_assert(n < 0 && errno == EAGAIN, "unexpected bytes or close (n=%zd)", n);
}

static void expect_ok(cli_t *c, const char *body)
{
    resp_t r;
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.head);
    cr_assert_str_eq(r.body, body);
    free(r.body);
}

/* An error answer of the server itself, then the connection closes. */
static void expect_error(cli_t *c, int status, const char *body)
{
    resp_t r;
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_eq(r.status, status, "%s", r.head);
    cr_assert_str_eq(resp_header(&r, "Connection"), "close");
    cr_assert_str_eq(resp_header(&r, "Content-Type"), "application/json");
    if (body) cr_assert_str_eq(r.body, body);
    else cr_assert(strstr(r.body, "\"Type\":\"User\""), "%s", r.body);
    free(r.body);
    cr_assert_eq(cli_wait_eof(c, 2000), 0);
}

/* The server's own errors in Lambda's shape, as the API layer configures
 * them: the tests below were written against these answers. */
static void lambda_error(const http_error_t *e, http_error_answer_t *a, void *arg)
{
    (void)arg;
    a->headers[a->nheaders++] = (http_header_t){ "Content-Type", "application/json" };
    if (e->status == 413)
        a->headers[a->nheaders++] = (http_header_t){ "x-amzn-ErrorType", "RequestTooLargeException" };
    a->body = errdoc_api_build("User", "Message", e->reason, NULL, &a->body_len);
}

static http_server_config_t cfg0(void) { return (http_server_config_t){ .on_error = lambda_error }; }

/* ---- tests ---- */

Test(http, get_and_post, .fini = teardown)
{
    start(cfg0());
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: t\r\nX-Val:   v w  \r\n\r\n");
    resp_t r;
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert(!strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17));
    cr_assert_str_eq(resp_header(&r, "Content-Length"), "0");
    cr_assert_str_eq(resp_header(&r, "X-Path"), "/a/b");
    cr_assert_null(resp_header(&r, "Connection"));
    free(r.body);
    cr_assert_str_eq(T.method, "GET");
    cr_assert_str_eq(T.target, "/a/b?x=1&y=2");
    cr_assert_str_eq(T.path, "/a/b");
    cr_assert_str_eq(T.query, "x=1&y=2");
    cr_assert_str_eq(T.hval, "v w");
    cr_assert_eq(T.body_len, 0);
    cr_assert(T.body_nul);

    cli_send(c, "POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    expect_ok(c, "hello");
    cr_assert_str_eq(T.method, "POST");
    cr_assert_str_eq(T.query, "");
    cr_assert_str_eq(T.body, "hello");
    cr_assert(T.body_nul);
    cli_close(c);
}

Test(http, keep_alive_three_requests, .fini = teardown)
{
    start(cfg0());
    cli_t *c = cli_open(T.port);
    for (int i = 0; i < 3; i++) {
        char req[128], body[8];
        snprintf(body, sizeof body, "r%d", i);
        snprintf(req, sizeof req, "POST /k HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n%s",
                 body);
        cli_send(c, req);
        expect_ok(c, body);
        cr_assert_eq(http_server_connection_count(T.srv), 1);
    }
    cr_assert_eq(T.nreq, 3);
    cli_close(c);
}

Test(http, pipelined_answered_out_of_order, .fini = teardown)
{
    start(cfg0());
    T.mode = MODE_HOLD;
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(pump_until(&T.nheld, 2, 2000));
    http_respond(T.held[1], 200, NULL, 0, "second", 6);
    cli_expect_silence(c, 20);   /* #2 must wait for #1 */
    http_respond(T.held[0], 200, NULL, 0, "first", 5);
    expect_ok(c, "first");
    expect_ok(c, "second");
    cli_close(c);
}

/* http_respond_lazy's tests: a client sends POST /1 with `behind` right
 * after it; once `held` requests are handed over, #1 is answered lazily
 * with "first". */
static cli_t *lazy_first(const char *behind, int held)
{
    start(cfg0());
    T.mode = MODE_HOLD;
    cli_t *c = cli_open(T.port);
    char req[512];
    snprintf(req, sizeof req, "POST /1 HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx%s", behind);
    cli_send(c, req);
    cr_assert(pump_until(&T.nheld, held, 2000));
    http_respond_lazy(T.held[0], 200, NULL, 0, "first", 5);
    return c;
}

/* http_respond_lazy: an answer whose client already sent its next request
 * waits for that one's answer and goes out with it... */
Test(http, lazy_answer_rides_with_the_pipelined_next, .fini = teardown)
{
    cli_t *c = lazy_first("GET /2 HTTP/1.1\r\nHost: t\r\n\r\n", 2);
    cli_expect_silence(c, 30);   /* the client is waiting for #2, not #1 */
    http_respond(T.held[1], 200, NULL, 0, "second", 6);
    expect_ok(c, "first");
    expect_ok(c, "second");
    /* The same connection goes on as before. */
    T.nheld = 0;
    cli_send(c, "GET /3 HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(pump_until(&T.nheld, 1, 2000));
    http_respond(T.held[0], 200, NULL, 0, "third", 5);
    expect_ok(c, "third");
    cli_close(c);
}

/* ...and is written at once when nothing follows it: a client that waits
 * for it before sending more never waits longer. */
Test(http, lazy_answer_alone_goes_at_once, .fini = teardown)
{
    cli_t *c = lazy_first("", 1);
    expect_ok(c, "first");
    cli_close(c);
}

/* A next request only partly sent (its client may be waiting for the
 * earlier answer before sending the rest, or for a 100 Continue) does not
 * hold the lazy answer back. */
Test(http, lazy_answer_not_held_by_a_partial_next, .fini = teardown)
{
    cli_t *c = lazy_first("POST /2 HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n", 1);
    expect_ok(c, "first");
    cli_send(c, "body");
    cr_assert(pump_until(&T.nheld, 2, 2000));
    http_respond(T.held[1], 200, NULL, 0, "second", 6);
    resp_t r;
    /* the interim 100 Continue, then the answer */
    cr_assert_eq(cli_resp(c, &r), 0);
    if (r.status == 100) {
        free(r.body);
        cr_assert_eq(cli_resp(c, &r), 0);
    }
    cr_assert_eq(r.status, 200, "%s", r.head);
    cr_assert_str_eq(r.body, "second");
    free(r.body);
    cli_close(c);
}

Test(http, chunked_body_across_reads, .fini = teardown)
{
    start(cfg0());
    cli_t *c = cli_open(T.port);
    cli_send(c, "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    pump(2);
    cli_send(c, "lo\r\n6\r\n wor");
    pump(2);
    cli_send(c, "ld\r\n0\r\n\r\n");
    expect_ok(c, "hello world");
    cr_assert_eq(T.body_len, 11);
    cr_assert(T.body_nul);
    cr_assert_eq(T.ntrailers, 0);
    cli_close(c);
}

/* Only CRLF may follow a chunk's data (the bundled llhttp takes any two
 * bytes), also when it comes split across reads. */
Test(http, chunk_data_must_end_in_crlf, .fini = teardown)
{
    start(cfg0());
    static const char *const bad[] = { "2\r\n{}XX0\r\n\r\n", "2\r\n{}\rX0\r\n\r\n", "2\r\n{}X\n0\r\n\r\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cli_t *c = cli_open(T.port);
        cli_send(c, "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
        cli_send(c, bad[i]);
        expect_error(c, 400, NULL);
        cli_close(c);
    }
    cr_assert_eq(T.nreq, 0);
    cli_t *c = cli_open(T.port);
    cli_send(c, "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r");
    pump(2);
    cli_send(c, "X0\r\n\r\n");
    expect_error(c, 400, NULL);
    cli_close(c);
    c = cli_open(T.port);
    cli_send(c, "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r");
    pump(2);
    cli_send(c, "\n1\r\nc\r\n0\r\n\r\n");
    expect_ok(c, "abc");
    cli_close(c);
}

Test(http, chunked_body_with_trailers, .fini = teardown)
{
    start(cfg0());
    cli_t *c = cli_open(T.port);
    cli_send(c, "POST /c HTTP/1.1\r\nHost: t\r\nTrailer: X-Checksum\r\n"
                "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: sum1\r\n"
                "X-Other: 2\r\n\r\n");
    expect_ok(c, "abc");
    cr_assert_str_eq(T.trailer, "sum1");
    cr_assert_eq(T.ntrailers, 2);
    /* The connection still works after trailers. */
    cli_send(c, "GET /again HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_ok(c, "");
    cr_assert_eq(T.ntrailers, 0);
    cli_close(c);
}

Test(http, expect_100_continue, .fini = teardown)
{
    start(cfg0());
    cli_t *c = cli_open(T.port);
    cli_send(c, "POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    resp_t r;
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_eq(r.status, 100);
    cr_assert_str_eq(r.head, "HTTP/1.1 100 Continue\r\n\r\n");
    free(r.body);
    cr_assert_eq(T.nreq, 0);
    cli_send(c, "hello");
    expect_ok(c, "hello");
    cli_close(c);
}

Test(http, expect_100_continue_over_limit_gets_413, .fini = teardown)
{
    http_server_config_t cfg = cfg0();
    cfg.max_body_bytes = 10;
    start(cfg);
    cli_t *c = cli_open(T.port);
    cli_send(c, "POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                "Content-Length: 50\r\n\r\n");
    expect_error(c, 413, NULL);
    cr_assert_eq(T.nreq, 0);
    cli_close(c);
}

Test(http, headers_too_large_431, .fini = teardown)
{
    http_server_config_t cfg = cfg0();
    cfg.max_header_bytes = 1024;
    start(cfg);
    char big[2100];
    memset(big, 'a', sizeof big);
    big[sizeof big - 1] = '\0';

    cli_t *c = cli_open(T.port);
    char req[2300];
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", big);
    cli_send(c, req);
    expect_error(c, 431, "{\"Type\":\"User\",\"Message\":\"Request header fields too large\"}");
    cli_close(c);

    /* Counted across reads too, whitespace included. */
    c = cli_open(T.port);
    cli_send(c, "GET / HTTP/1.1\r\nHost: t\r\nX-A:");
    for (int i = 0; i < 3; i++) {
        char sp[400];
        memset(sp, ' ', sizeof sp - 1);
        sp[sizeof sp - 1] = '\0';
        cli_send(c, sp);
        pump(2);
    }
    expect_error(c, 431, NULL);
    cli_close(c);
    cr_assert_eq(T.nreq, 0);
}

Test(http, content_length_over_limit_413, .fini = teardown)
{
    http_server_config_t cfg = cfg0();
    cfg.max_body_bytes = 100;
    start(cfg);
    cli_t *c = cli_open(T.port);
    cli_send(c, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789");
    resp_t r;
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_eq(r.status, 413);
    cr_assert_str_eq(resp_header(&r, "x-amzn-ErrorType"), "RequestTooLargeException");
    cr_assert_str_eq(resp_header(&r, "Connection"), "close");
    cr_assert_str_eq(r.body, "{\"Type\":\"User\",\"Message\":\"Request must be smaller than 100 "
                             "bytes for the operation\"}");
    free(r.body);
    /* The rest of the body may still come: the server drains, then closes. */
    char rest[990];
    memset(rest, 'z', sizeof rest);
    cli_sendn(c, rest, sizeof rest);
    cr_assert_eq(cli_wait_eof(c, 2000), 0);
    cr_assert_eq(T.nreq, 0);
    cli_close(c);
}

Test(http, chunked_over_limit_413, .fini = teardown)
{
    http_server_config_t cfg = cfg0();
    cfg.max_body_bytes = 100;
    start(cfg);
    cli_t *c = cli_open(T.port);
    char chunk[61];
    memset(chunk, 'q', 60);
    chunk[60] = '\0';
    char req[512];
    snprintf(req, sizeof req,
             "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3c\r\n%s\r\n",
             chunk);
    cli_send(c, req);
    cli_expect_silence(c, 10);   /* 60 bytes are within the limit */
    cli_send(c, "3c\r\n");       /* the next chunk's size alone breaks it */
    expect_error(c, 413, "{\"Type\":\"User\",\"Message\":\"Request must be smaller than 100 "
                         "bytes for the operation\"}");
    cr_assert_eq(T.nreq, 0);
    cli_close(c);
}

Test(http, garbage_400, .fini = teardown)
{
    start(cfg0());
    cli_t *c = cli_open(T.port);
    cli_send(c, "GARBAGE!!\r\n\r\n");
    expect_error(c, 400, "{\"Type\":\"User\",\"Message\":\"Could not parse request\"}");
    cli_close(c);

    c = cli_open(T.port);
    cli_send(c, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n");
    expect_error(c, 400, NULL);
    cli_close(c);

    /* A good request answered before the bad one is still answered first. */
    c = cli_open(T.port);
    cli_send(c, "GET /ok HTTP/1.1\r\nHost: t\r\n\r\nBAD / HTTP/9\r\n\r\n");
    expect_ok(c, "");
    expect_error(c, 400, NULL);
    cli_close(c);
    cr_assert_eq(T.nreq, 1);
}

Test(http, body_limit_callback, .fini = teardown)
{
    http_server_config_t cfg = cfg0();
    cfg.body_limit = body_limit;
    T.limit_small = 10;
    start(cfg);
    cli_t *c = cli_open(T.port);
    cli_send(c, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n"
                "01234567890123456789");
    expect_error(c, 413, "{\"Type\":\"User\",\"Message\":\"Request must be smaller than 10 "
                         "bytes for the operation\"}");
    cli_close(c);
    c = cli_open(T.port);
    cli_send(c, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n01234567890123456789");
    expect_ok(c, "01234567890123456789");
    cli_close(c);
}

Test(http, idle_timeout_closes, .fini = teardown)
{
    http_server_config_t cfg = cfg0();
    cfg.idle_timeout_ms = 50;
    start(cfg);
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_ok(c, "");
    uint64_t t0 = loop_now_ms();
    cr_assert_eq(cli_wait_eof(c, 2000), 0);
    cr_assert_geq(loop_now_ms() - t0, 40);
    pump(2);
    cr_assert_eq(http_server_connection_count(T.srv), 0);
    cli_close(c);
}

Test(http, request_timeout_408, .fini = teardown)
{
    http_server_config_t cfg = cfg0();
    cfg.request_timeout_ms = 50;
    start(cfg);
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET / HTTP/1.1\r\nHost:");
    uint64_t t0 = loop_now_ms();
    expect_error(c, 408, "{\"Type\":\"User\",\"Message\":\"Request timed out\"}");
    cr_assert_geq(loop_now_ms() - t0, 40);
    cr_assert_eq(T.nreq, 0);
    cli_close(c);
}

Test(http, unanswered_exchange_never_times_out, .fini = teardown)
{
    http_server_config_t cfg = cfg0();
    cfg.idle_timeout_ms = 20;
    cfg.request_timeout_ms = 20;
    start(cfg);
    T.mode = MODE_HOLD;
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(pump_until(&T.nheld, 1, 2000));
    cli_expect_silence(c, 120);
    cr_assert_eq(http_server_connection_count(T.srv), 1);
    http_respond(T.held[0], 200, NULL, 0, "late", 4);
    expect_ok(c, "late");
    cli_close(c);
}

Test(http, client_reset_aborts_pending_exchange, .fini = teardown)
{
    start(cfg0());
    T.mode = MODE_HOLD;
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(pump_until(&T.nheld, 1, 2000));
    struct linger lg = { 1, 0 };   /* close with RST */
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c->fd);
    c->fd = -1;
    cr_assert(pump_until(&T.aborted, 1, 2000));
    cr_assert_null(T.held[0]);
    cr_assert_eq(http_server_connection_count(T.srv), 0);
    cli_close(c);
}

Test(http, half_close_still_gets_response, .fini = teardown)
{
    start(cfg0());
    T.mode = MODE_HOLD;
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET /h HTTP/1.1\r\nHost: t\r\n\r\n");
    shutdown(c->fd, SHUT_WR);
    cr_assert(pump_until(&T.nheld, 1, 2000));
    pump(5);
    cr_assert_eq(T.aborted, 0);
    http_respond(T.held[0], 200, NULL, 0, "bye", 3);
    expect_ok(c, "bye");
    cr_assert_eq(cli_wait_eof(c, 2000), 0);
    cli_close(c);
}

Test(http, listener_ctx_delivered, .fini = teardown)
{
    start(cfg0());
    err_t e = { 0 };
    T.fd_b = http_server_listen_tcp(T.srv, "127.0.0.1", 0, &CTX_B, &T.port_b, &e);
    cr_assert(T.fd_b >= 0, "%s", e.msg);
    cli_t *a = cli_open(T.port), *b = cli_open(T.port_b);
    cli_send(b, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_ok(b, "");
    cr_assert_eq(T.ctx, &CTX_B);
    cli_send(a, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_ok(a, "");
    cr_assert_eq(T.ctx, &CTX_A);
    cli_close(a);
    cli_close(b);
}

Test(http, unlisten_closes_its_connections, .fini = teardown)
{
    start(cfg0());
    err_t e = { 0 };
    T.fd_b = http_server_listen_tcp(T.srv, "127.0.0.1", 0, &CTX_B, &T.port_b, &e);
    cr_assert(T.fd_b >= 0);
    T.mode = MODE_HOLD;
    cli_t *a = cli_open(T.port), *a2 = cli_open(T.port), *b = cli_open(T.port_b);
    cli_send(a, "GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(pump_until(&T.nheld, 1, 2000));
    pump(5);   /* let a2 and b be accepted */
    cr_assert_eq(http_server_connection_count(T.srv), 3);

    http_server_unlisten(T.srv, T.fd_a);
    cr_assert_eq(T.aborted, 1);
    cr_assert_eq(http_server_connection_count(T.srv), 1);
    cr_assert_eq(cli_wait_eof(a, 2000), 0);
    cr_assert_eq(cli_wait_eof(a2, 2000), 0);
    /* The listening socket is gone too. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)T.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_neq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);

    T.mode = MODE_ECHO;
    cli_send(b, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_ok(b, "");
    cli_close(a);
    cli_close(a2);
    cli_close(b);
}

static void on_done(void *arg)
{
    (void)arg;
    T.done_called++;
}

/* Shutting down, nothing is held back any longer: the lazy answer goes at
 * once, its follower when answered, then the connection closes. */
Test(http, lazy_answer_goes_out_at_shutdown, .fini = teardown)
{
    cli_t *c = lazy_first("GET /2 HTTP/1.1\r\nHost: t\r\n\r\n", 2);
    cli_expect_silence(c, 20);
    http_server_shutdown(T.srv, on_done, NULL);
    expect_ok(c, "first");
    http_respond(T.held[1], 200, NULL, 0, "second", 6);
    expect_ok(c, "second");
    cr_assert_eq(cli_wait_eof(c, 2000), 0);
    cli_close(c);
    cr_assert(pump_until(&T.done_called, 1, 2000));
}

Test(http, graceful_shutdown_waits_for_pending, .fini = teardown)
{
    start(cfg0());
    T.mode = MODE_HOLD;
    cli_t *busy = cli_open(T.port), *idle = cli_open(T.port);
    cli_send(busy, "GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(pump_until(&T.nheld, 1, 2000));
    pump(5);
    cr_assert_eq(http_server_connection_count(T.srv), 2);

    http_server_shutdown(T.srv, on_done, NULL);
    cr_assert_eq(cli_wait_eof(idle, 2000), 0);   /* idle one goes at once */
    cli_expect_silence(busy, 20);
    cr_assert_eq(T.done_called, 0);
    cr_assert_eq(T.aborted, 0);

    http_respond(T.held[0], 200, NULL, 0, "last", 4);
    resp_t r;
    cr_assert_eq(cli_resp(busy, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "last");
    cr_assert_str_eq(resp_header(&r, "Connection"), "close");
    free(r.body);
    cr_assert_eq(cli_wait_eof(busy, 2000), 0);
    cli_close(busy);
    cli_close(idle);
    cr_assert(pump_until(&T.done_called, 1, 2000));
    cr_assert_eq(http_server_connection_count(T.srv), 0);
    /* No new connections once shut down. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)T.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_neq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
}

Test(http, max_pipeline_pauses_reading, .fini = teardown)
{
    http_server_config_t cfg = cfg0();
    cfg.max_pipeline = 2;
    start(cfg);
    T.mode = MODE_HOLD;
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET /0 HTTP/1.1\r\nHost: t\r\n\r\nGET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /2 HTTP/1.1\r\nHost: t\r\n\r\nGET /3 HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(pump_until(&T.nheld, 2, 2000));
    pump(10);
    cr_assert_eq(T.nheld, 2);
    http_respond(T.held[0], 200, NULL, 0, "0", 1);
    http_respond(T.held[1], 200, NULL, 0, "1", 1);
    cr_assert(pump_until(&T.nheld, 4, 2000));
    cr_assert_str_eq(T.path, "/3");
    http_respond(T.held[3], 200, NULL, 0, "3", 1);
    http_respond(T.held[2], 200, NULL, 0, "2", 1);
    expect_ok(c, "0");
    expect_ok(c, "1");
    expect_ok(c, "2");
    expect_ok(c, "3");
    cli_close(c);
}

Test(http, bodyless_statuses_and_head, .fini = teardown)
{
    start(cfg0());
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET /status/204 HTTP/1.1\r\nHost: t\r\n\r\n");
    resp_t r;
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_eq(r.status, 204);
    cr_assert_null(resp_header(&r, "Content-Length"));
    free(r.body);

    cli_send(c, "HEAD /h HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    cr_assert_eq(cli_resp_ex(c, &r, 2000, true), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(resp_header(&r, "Content-Length"), "5");
    free(r.body);
    /* Had the HEAD answer carried a body, this would not parse. */
    cli_send(c, "GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_str_eq(resp_header(&r, "X-Path"), "/after");
    free(r.body);
    cli_close(c);
}

Test(http, connection_close_and_http10, .fini = teardown)
{
    start(cfg0());
    resp_t r;
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_str_eq(resp_header(&r, "Connection"), "close");
    free(r.body);
    cr_assert_eq(cli_wait_eof(c, 2000), 0);
    cli_close(c);

    c = cli_open(T.port);
    cli_send(c, "GET / HTTP/1.0\r\n\r\n");
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert(!strncmp(r.head, "HTTP/1.1 200", 12));
    cr_assert_str_eq(resp_header(&r, "Connection"), "close");
    free(r.body);
    cr_assert_eq(cli_wait_eof(c, 2000), 0);
    cli_close(c);

    c = cli_open(T.port);
    cli_send(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_str_eq(resp_header(&r, "Connection"), "keep-alive");
    free(r.body);
    cli_send(c, "GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cr_assert_eq(cli_resp(c, &r), 0);
    free(r.body);
    cli_close(c);

    /* The handler may ask to close, too. */
    c = cli_open(T.port);
    cli_send(c, "GET /close HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_str_eq(resp_header(&r, "Connection"), "close");
    free(r.body);
    cr_assert_eq(cli_wait_eof(c, 2000), 0);
    cli_close(c);
}

Test(http, take_body_and_owned_response, .fini = teardown)
{
    start(cfg0());
    cli_t *c = cli_open(T.port);
    cli_send(c, "POST /take HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nmine");
    expect_ok(c, "mine");
    cli_send(c, "POST /take HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_ok(c, "");
    cli_close(c);
}

Test(http, large_body_round_trip, .fini = teardown)
{
    start(cfg0());
    size_t n = 1 << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    cli_t *c = cli_open(T.port);
    char head[128];
    snprintf(head, sizeof head, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
    cli_send(c, head);
    cli_sendn(c, big, n);
    resp_t r;
    cr_assert_eq(cli_resp_ex(c, &r, 5000, false), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, n);
    cr_assert_eq(memcmp(r.body, big, n), 0);
    cr_assert_eq(T.body_len, n);
    cr_assert(T.body_nul);
    free(r.body);
    free(big);
    cli_close(c);
}

Test(http, request_split_byte_by_byte, .fini = teardown)
{
    start(cfg0());
    cli_t *c = cli_open(T.port);
    const char *req =
        "POST /slow?q=1 HTTP/1.1\r\nHost: t\r\nX-Val: abc\r\nContent-Length: 3\r\n\r\nxyz";
    for (const char *p = req; *p; p++) {
        cli_sendn(c, p, 1);
        pump(0);
    }
    expect_ok(c, "xyz");
    cr_assert_str_eq(T.path, "/slow");
    cr_assert_str_eq(T.query, "q=1");
    cr_assert_str_eq(T.hval, "abc");
    cli_close(c);
}

Test(http, response_header_injection_dropped, .fini = teardown)
{
    start(cfg0());
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET /evil HTTP/1.1\r\nHost: t\r\n\r\n");
    resp_t r;
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_null(resp_header(&r, "Injected"));
    cr_assert_null(resp_header(&r, "X-Evil"));
    cr_assert_str_eq(resp_header(&r, "X-Good"), "ok");
    free(r.body);
    cli_close(c);
}

Test(http, reason_phrases)
{
    cr_assert_str_eq(http_reason(200), "OK");
    cr_assert_str_eq(http_reason(404), "Not Found");
    cr_assert_str_eq(http_reason(413), "Content Too Large");
    cr_assert_str_eq(http_reason(799), "Unknown");
}

Test(http, write_error_aborts_others_later_not_inside_respond, .fini = teardown)
{
    start(cfg0());
    T.mode = MODE_HOLD;
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(pump_until(&T.nheld, 2, 2000));
    struct linger lg = { 1, 0 };
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c->fd);
    c->fd = -1;
    usleep(10000);   /* the RST is in; the loop has not seen it */
    http_respond(T.held[0], 200, NULL, 0, "x", 1);   /* this write fails */
    cr_assert_eq(T.aborted, 0, "abort ran inside http_respond");
    cr_assert(pump_until(&T.aborted, 1, 2000));
    cr_assert_null(T.held[1]);
    cr_assert_eq(http_server_connection_count(T.srv), 0);
    cli_close(c);
}

Test(http, server_free_aborts_pending, .fini = teardown)
{
    start(cfg0());
    T.mode = MODE_HOLD;
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(pump_until(&T.nheld, 1, 2000));
    http_server_free(T.srv);
    T.srv = NULL;
    cr_assert_eq(T.aborted, 1);
    char b;
    cr_assert_eq(recv(c->fd, &b, 1, 0), 0);
    cli_close(c);
}

Test(http, handler_close_drops_half_received_next_request, .fini = teardown)
{
    http_server_config_t cfg = cfg0();
    cfg.request_timeout_ms = 5000;
    start(cfg);
    T.mode = MODE_HOLD;
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
                "POST /2 HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    cr_assert(pump_until(&T.nheld, 1, 2000));
    pump(5);
    http_header_t h[] = { { "Connection", "close" } };
    http_respond(T.held[0], 200, h, 1, "bye", 3);
    resp_t r;
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_str_eq(r.body, "bye");
    cr_assert_str_eq(resp_header(&r, "Connection"), "close");
    free(r.body);
    cr_assert_eq(cli_wait_eof(c, 500), 0);   /* at once, not after a 408 */
    cr_assert_eq(T.nreq, 1);
    cli_close(c);
}

/* ---- the owner's error shape (on_error) and the default ---- */

static struct {
    int calls;
    int status;
    char reason[128];
    size_t limit;
    bool had_req;
    char method[16], path[64], header[32];
    void *arg;
} E;

static int ERR_ARG;

static void recording_error(const http_error_t *e, http_error_answer_t *a, void *arg)
{
    E.calls++;
    E.status = e->status;
    snprintf(E.reason, sizeof E.reason, "%s", e->reason);
    E.limit = e->body_limit;
    E.had_req = e->req != NULL;
    if (e->req) {
        snprintf(E.method, sizeof E.method, "%s", e->req->method);
        snprintf(E.path, sizeof E.path, "%s", e->req->path);
        const char *h = http_request_header(e->req, "X-Val");
        snprintf(E.header, sizeof E.header, "%s", h ? h : "");
    }
    E.arg = arg;
    snprintf(a->scratch, sizeof a->scratch, "oops-%d", e->status);
    a->headers[a->nheaders++] = (http_header_t){ "X-Oops", a->scratch };
    /* The framing stays the server's whatever the owner says. */
    a->headers[a->nheaders++] = (http_header_t){ "Content-Length", "99999" };
    a->body = strdup("custom");
    a->body_len = 6;
}

/* A server error with the default answer: plain text, no vendor header. */
static void expect_plain_error(cli_t *c, int status, const char *body)
{
    resp_t r;
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_eq(r.status, status, "%s", r.head);
    cr_assert_str_eq(resp_header(&r, "Content-Type"), "text/plain; charset=utf-8");
    cr_assert_str_eq(resp_header(&r, "Connection"), "close");
    cr_assert_null(resp_header(&r, "x-amzn-ErrorType"));
    cr_assert_str_eq(r.body, body);
    free(r.body);
    cr_assert_eq(cli_wait_eof(c, 2000), 0);
}

Test(http, default_errors_are_plain_text, .fini = teardown)
{
    http_server_config_t cfg = { .max_body_bytes = 100, .max_header_bytes = 1024,
                                 .request_timeout_ms = 50 };
    start(cfg);
    cli_t *c = cli_open(T.port);
    cli_send(c, "GARBAGE!!\r\n\r\n");
    expect_plain_error(c, 400, "Could not parse request\n");
    cli_close(c);

    c = cli_open(T.port);
    cli_send(c, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n");
    expect_plain_error(c, 413, "Request must be smaller than 100 bytes for the operation\n");
    cli_close(c);

    c = cli_open(T.port);
    char req[2300], big[2100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", big);
    cli_send(c, req);
    expect_plain_error(c, 431, "Request header fields too large\n");
    cli_close(c);

    c = cli_open(T.port);
    cli_send(c, "GET / HTTP/1.1\r\nHost:");
    expect_plain_error(c, 408, "Request timed out\n");
    cli_close(c);
    cr_assert_eq(T.nreq, 0);
}

Test(http, lambda_shaped_413_byte_for_byte, .fini = teardown)
{
    http_server_config_t cfg = cfg0();
    cfg.max_body_bytes = 100;
    start(cfg);
    cli_t *c = cli_open(T.port);
    cli_send(c, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n");
    resp_t r;
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_str_eq(r.head, "HTTP/1.1 413 Content Too Large\r\n"
                             "Content-Type: application/json\r\n"
                             "x-amzn-ErrorType: RequestTooLargeException\r\n"
                             "Content-Length: 84\r\n"
                             "Connection: close\r\n\r\n");
    cr_assert_str_eq(r.body, "{\"Type\":\"User\",\"Message\":\"Request must be smaller than 100 "
                             "bytes for the operation\"}");
    free(r.body);
    cli_close(c);
}

Test(http, on_error_hook_gets_status_reason_request_and_arg, .fini = teardown)
{
    memset(&E, 0, sizeof E);
    http_server_config_t cfg = { .on_error = recording_error, .arg = &ERR_ARG,
                                 .body_limit = body_limit, .max_header_bytes = 1024 };
    T.limit_small = 10;
    start(cfg);
    cli_t *c = cli_open(T.port);
    cli_send(c, "PUT /small?q=1 HTTP/1.1\r\nHost: t\r\nX-Val: v\r\nContent-Length: 20\r\n\r\n");
    resp_t r;
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_eq(r.status, 413);
    cr_assert_str_eq(resp_header(&r, "X-Oops"), "oops-413");
    cr_assert_str_eq(resp_header(&r, "Content-Length"), "6");
    cr_assert_str_eq(resp_header(&r, "Connection"), "close");
    cr_assert_null(resp_header(&r, "Content-Type"));
    cr_assert_str_eq(r.body, "custom");
    free(r.body);
    cr_assert_eq(cli_wait_eof(c, 2000), 0);
    cli_close(c);
    cr_assert_eq(E.calls, 1);
    cr_assert_eq(E.status, 413);
    cr_assert_str_eq(E.reason, "Request must be smaller than 10 bytes for the operation");
    cr_assert_eq(E.limit, 10);
    cr_assert(E.had_req);
    cr_assert_str_eq(E.method, "PUT");
    cr_assert_str_eq(E.path, "/small");
    cr_assert_str_eq(E.header, "v");
    cr_assert_eq(E.arg, &ERR_ARG);

    /* Headers too large: no request head to show. */
    c = cli_open(T.port);
    char req[2300], big[2100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", big);
    cli_send(c, req);
    cr_assert_eq(cli_resp(c, &r), 0);
    cr_assert_eq(r.status, 431);
    cr_assert_str_eq(resp_header(&r, "X-Oops"), "oops-431");
    free(r.body);
    cli_close(c);
    cr_assert_eq(E.calls, 2);
    cr_assert_str_eq(E.reason, "Request header fields too large");
    cr_assert(!E.had_req);
    cr_assert_eq(T.nreq, 0);
}

/* ---- request targets and transfer codings (RFC 9112, 3.2 and 6.1) ---- */

Test(http, absolute_form_takes_host_from_target, .fini = teardown)
{
    start(cfg0());
    cli_t *c = cli_open(T.port);
    cli_send(c, "GET http://fn.lambda-url.example:9/a/b?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    expect_ok(c, "");
    cr_assert_str_eq(T.path, "/a/b");
    cr_assert_str_eq(T.query, "x=1");
    cr_assert_str_eq(T.host, "fn.lambda-url.example:9");
    /* Without a path: "/"; HTTP/1.0 without a Host header gets one. */
    cli_send(c, "GET HTTPS://h2 HTTP/1.1\r\nHost: other\r\n\r\n");
    expect_ok(c, "");
    cr_assert_str_eq(T.path, "/");
    cr_assert_str_eq(T.host, "h2");
    cli_close(c);
    c = cli_open(T.port);
    cli_send(c, "GET http://h3/p HTTP/1.0\r\n\r\n");
    expect_ok(c, "");
    cr_assert_str_eq(T.host, "h3");
    cli_close(c);
    cr_assert_eq(T.nreq, 3);
}

Test(http, bad_request_targets_400, .fini = teardown)
{
    static const char *const bad[] = {
        "GET ftp://h/a HTTP/1.1\r\nHost: t\r\n\r\n",       /* not http(s) */
        "GET http:///a HTTP/1.1\r\nHost: t\r\n\r\n",       /* no authority */
        "GET http://u:p@h/a HTTP/1.1\r\nHost: t\r\n\r\n",  /* userinfo */
        "GET h:80 HTTP/1.1\r\nHost: t\r\n\r\n",            /* authority form, not CONNECT */
        "GET * HTTP/1.1\r\nHost: t\r\n\r\n",               /* asterisk, not OPTIONS */
    };
    start(cfg0());
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cli_t *c = cli_open(T.port);
        cli_send(c, bad[i]);
        expect_error(c, 400, "{\"Type\":\"User\",\"Message\":\"Could not parse request\"}");
        cli_close(c);
    }
    cr_assert_eq(T.nreq, 0);
    cli_t *c = cli_open(T.port);
    cli_send(c, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_ok(c, "");
    cli_close(c);
}

Test(http, unknown_transfer_coding_501, .fini = teardown)
{
    static const char *const codings[] = { "gzip, chunked", "deflate,chunked", "identity, chunked",
                                           "x-custom ,  chunked" };
    start(cfg0());
    for (size_t i = 0; i < sizeof codings / sizeof *codings; i++) {
        cli_t *c = cli_open(T.port);
        char req[256];
        snprintf(req, sizeof req,
                 "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: %s\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                 codings[i]);
        cli_send(c, req);
        expect_error(c, 501, "{\"Type\":\"User\",\"Message\":\"Transfer-Encoding not implemented\"}");
        cli_close(c);
    }
    /* A coding in a header line of its own counts the same. */
    cli_t *c = cli_open(T.port);
    cli_send(c, "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n"
                "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    expect_error(c, 501, NULL);
    cli_close(c);
    c = cli_open(T.port);
    cli_send(c, "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
                "5\r\nhello\r\n0\r\n\r\n");
    expect_error(c, 400, NULL);
    cli_close(c);
    cr_assert_eq(T.nreq, 0);
    /* Plain chunked, in any case, still works. */
    c = cli_open(T.port);
    cli_send(c, "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    expect_ok(c, "hello");
    cli_close(c);
}
