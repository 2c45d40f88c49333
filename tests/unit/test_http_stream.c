/* test_http_stream.c — the HTTP server's streams against raw client
 * sockets on 127.0.0.1: chunked responses written as they come, in
 * pipeline order, bounded buffering and its pause/drain, a client that
 * leaves mid-stream; streamed request bodies (Content-Length and chunked,
 * split at every byte boundary), their trailers, pausing them. Everything
 * runs on the test thread, stepping the loop while the client waits. */
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

#include "io/http.h"
#include "io/loop.h"

static struct {
    loop_t *loop;
    http_server_t *srv;
    int port;
    http_exchange_t *held[8];
    int nheld;
    int aborted, drained, ended, nreq;
    bool stream_bodies;      /* stream_body says yes to every request */
    bool pause_on_data;      /* pause the body after each piece */
    char body[4096];
    size_t body_len;
    size_t pieces;
    char trailer[64];
    http_exchange_t *body_ex;
} T;

static void stop_cb(loop_t *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

static void pump(unsigned ms)
{
    loop_timer_add(T.loop, ms, stop_cb, NULL);
    loop_run(T.loop, NULL);
}

static void on_abort(http_exchange_t *ex, void *arg)
{
    (void)arg;
    for (int i = 0; i < T.nheld; i++)
        if (T.held[i] == ex) T.held[i] = NULL;
    if (T.body_ex == ex) T.body_ex = NULL;
    T.aborted++;
}

static void on_drain(http_exchange_t *ex, void *arg)
{
    (void)ex;
    (void)arg;
    T.drained++;
}

static void on_data(http_exchange_t *ex, const char *d, size_t n, void *arg)
{
    (void)arg;
    cr_assert(T.body_len + n <= sizeof T.body);
    memcpy(T.body + T.body_len, d, n);
    T.body_len += n;
    T.pieces++;
    if (T.pause_on_data) http_exchange_pause_body(ex, true);
}

static void on_end(http_exchange_t *ex, http_request_t *req, void *arg)
{
    (void)arg;
    const char *t = http_request_trailer(req, "x-sum");
    snprintf(T.trailer, sizeof T.trailer, "%s", t ? t : "");
    T.ended++;
    T.body_ex = NULL;
    http_respond(ex, 200, NULL, 0, T.body, T.body_len);
}

static void on_req(http_exchange_t *ex, http_request_t *req, void *arg)
{
    (void)arg;
    T.nreq++;
    if (T.stream_bodies) {
        cr_assert_eq(req->body_len, 0);
        T.body_ex = ex;
        http_exchange_on_abort(ex, on_abort, NULL);
        http_exchange_on_body(ex, on_data, on_end, NULL);
        return;
    }
    if (!strcmp(req->path, "/plain")) {
        http_respond(ex, 200, NULL, 0, "plain", 5);
        return;
    }
    T.held[T.nheld++] = ex;
    http_exchange_on_abort(ex, on_abort, NULL);
    http_exchange_on_drain(ex, on_drain, NULL);
}

static bool stream_body(const http_request_t *req, void *arg)
{
    (void)req;
    (void)arg;
    return T.stream_bodies;
}

static void start(http_server_config_t cfg)
{
    memset(&T, 0, sizeof T);
    err_t e = { 0 };
    T.loop = loop_new(0, &e);
    cr_assert(T.loop, "%s", e.msg);
    cfg.on_request = on_req;
    cfg.stream_body = stream_body;
    T.srv = http_server_new(T.loop, &cfg, &e);
    cr_assert(T.srv, "%s", e.msg);
    cr_assert(http_server_listen_tcp(T.srv, "127.0.0.1", 0, NULL, &T.port, &e) >= 0, "%s", e.msg);
}

static void teardown(void)
{
    if (T.srv) http_server_free(T.srv);
    if (T.loop) loop_free(T.loop);
    T.srv = NULL;
    T.loop = NULL;
}

static int cli_open(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)T.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void cli_send(int fd, const void *p, size_t n)
{
    const char *s = p;
    uint64_t end = loop_now_ms() + 5000;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
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

/* Read what arrives within `ms` (or until `want` is seen) into buf. */
static size_t cli_read(int fd, char *buf, size_t cap, size_t have, const char *want, unsigned ms)
{
    uint64_t end = loop_now_ms() + ms;
    while (loop_now_ms() < end) {
        if (want && memmem(buf, have, want, strlen(want))) break;
        ssize_t n = recv(fd, buf + have, cap - 1 - have, MSG_DONTWAIT);
        if (n > 0) {
            have += (size_t)n;
            continue;
        }
        if (n == 0) break;
        pump(1);
    }
    buf[have] = '\0';
    return have;
}

static void wait_for(int *counter, int want)
{
    uint64_t end = loop_now_ms() + 3000;
    while (*counter < want && loop_now_ms() < end) pump(1);
    cr_assert_geq(*counter, want);
}

TestSuite(http_stream, .fini = teardown, .timeout = 30);

Test(http_stream, chunks_leave_as_written)
{
    start((http_server_config_t){ 0 });
    int fd = cli_open(0);
    cli_send(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n", 28);
    wait_for(&T.nreq, 1);
    http_header_t h[] = { { "Content-Type", "text/plain" }, { "Content-Length", "99" } };
    cr_assert_eq(http_respond_stream_begin(T.held[0], 200, h, 2), 0);
    cr_assert_eq(http_respond_stream_write(T.held[0], "hello ", 6), 0);
    char buf[4096];
    size_t n = cli_read(fd, buf, sizeof buf, 0, "hello \r\n", 2000);
    /* The first chunk is out before the stream ends. */
    cr_assert(strstr(buf, "HTTP/1.1 200 OK\r\n"), "%s", buf);
    cr_assert(strstr(buf, "Transfer-Encoding: chunked\r\n"), "%s", buf);
    cr_assert_null(strstr(buf, "Content-Length"), "%s", buf);
    cr_assert(strstr(buf, "\r\n\r\n6\r\nhello \r\n"), "%s", buf);
    cr_assert_eq(http_respond_stream_write(T.held[0], "", 0), 0);   /* no early last chunk */
    cr_assert_eq(http_respond_stream_write(T.held[0], "world, streamed", 15), 0);
    cr_assert_eq(http_respond_stream_end(T.held[0]), 0);
    n = cli_read(fd, buf, sizeof buf, n, "0\r\n\r\n", 2000);
    cr_assert(strstr(buf, "6\r\nhello \r\nf\r\nworld, streamed\r\n0\r\n\r\n"), "%s", buf);
    /* Kept alive: the next request is answered on the same connection. */
    cli_send(fd, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", 32);
    n = cli_read(fd, buf, sizeof buf, n, "\r\n\r\nplain", 2000);
    cr_assert(strstr(buf, "Content-Length: 5\r\n\r\nplain"), "%s", buf);
    close(fd);
}

Test(http_stream, http10_streams_until_close)
{
    start((http_server_config_t){ 0 });
    int fd = cli_open(0);
    cli_send(fd, "GET /s HTTP/1.0\r\n\r\n", 19);
    wait_for(&T.nreq, 1);
    http_respond_stream_begin(T.held[0], 200, NULL, 0);
    http_respond_stream_write(T.held[0], "abc", 3);
    http_respond_stream_write(T.held[0], "def", 3);
    http_respond_stream_end(T.held[0]);
    char buf[4096];
    size_t n = cli_read(fd, buf, sizeof buf, 0, NULL, 1000);
    cr_assert(n > 0);
    cr_assert(strstr(buf, "Connection: close\r\n"), "%s", buf);
    cr_assert_null(strstr(buf, "chunked"), "%s", buf);
    cr_assert(strstr(buf, "\r\n\r\nabcdef") && !strstr(buf, "abcdef0"), "%s", buf);
    char c;
    cr_assert_eq(recv(fd, &c, 1, 0), 0, "the close ends the body");
    close(fd);
}

Test(http_stream, head_request_gets_no_body)
{
    start((http_server_config_t){ 0 });
    int fd = cli_open(0);
    cli_send(fd, "HEAD /s HTTP/1.1\r\nHost: x\r\n\r\n", 29);
    wait_for(&T.nreq, 1);
    http_respond_stream_begin(T.held[0], 200, NULL, 0);
    cr_assert_eq(http_respond_stream_write(T.held[0], "abc", 3), 0);
    http_respond_stream_end(T.held[0]);
    cli_send(fd, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", 32);
    char buf[4096];
    cli_read(fd, buf, sizeof buf, 0, "plain", 2000);
    cr_assert_null(strstr(buf, "abc"), "%s", buf);
    cr_assert_null(strstr(buf, "chunked"), "%s", buf);
    cr_assert(strstr(buf, "plain"), "%s", buf);
    close(fd);
}

Test(http_stream, stream_waits_behind_unanswered_request)
{
    start((http_server_config_t){ 0 });
    int fd = cli_open(0);
    cli_send(fd, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n", 56);
    wait_for(&T.nreq, 2);
    /* The second streams first; nothing of it may leave before the first. */
    http_respond_stream_begin(T.held[1], 200, NULL, 0);
    http_respond_stream_write(T.held[1], "second", 6);
    char buf[4096];
    size_t n = cli_read(fd, buf, sizeof buf, 0, NULL, 200);
    cr_assert_eq(n, 0, "%s", buf);
    http_respond(T.held[0], 200, NULL, 0, "first", 5);
    n = cli_read(fd, buf, sizeof buf, 0, "second\r\n", 2000);
    char *a = strstr(buf, "first"), *b = strstr(buf, "6\r\nsecond\r\n");
    cr_assert(a && b && a < b, "%s", buf);
    http_respond_stream_end(T.held[1]);
    n = cli_read(fd, buf, sizeof buf, n, "0\r\n\r\n", 2000);
    cr_assert(strstr(buf, "second\r\n0\r\n\r\n"), "%s", buf);
    close(fd);
}

Test(http_stream, slow_reader_pauses_writer_then_drains)
{
    start((http_server_config_t){ .stream_high_water = 4096, .stream_max_buffer = 1 << 24 });
    int fd = cli_open(4096);
    cli_send(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n", 28);
    wait_for(&T.nreq, 1);
    http_respond_stream_begin(T.held[0], 200, NULL, 0);
    static char block[16384];
    memset(block, 'x', sizeof block);
    int r = 0, writes = 0;
    /* The client reads nothing: the socket fills, the writer is told to pause. */
    while ((r = http_respond_stream_write(T.held[0], block, sizeof block)) == 0 && writes < 1000) {
        writes++;
        pump(0);
    }
    cr_assert_eq(r, 1, "a write over the high-water mark says pause");
    cr_assert_eq(T.drained, 0);
    static char sink[1 << 20];
    uint64_t end = loop_now_ms() + 5000;
    while (!T.drained && loop_now_ms() < end) {
        recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        pump(1);
    }
    cr_assert_eq(T.drained, 1, "drain is told once everything buffered is sent");
    http_respond_stream_end(T.held[0]);
    close(fd);
}

Test(http_stream, unread_stream_over_the_limit_is_aborted)
{
    start((http_server_config_t){ .stream_high_water = 1024, .stream_max_buffer = 256 * 1024 });
    int fd = cli_open(4096);
    cli_send(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n", 28);
    wait_for(&T.nreq, 1);
    http_respond_stream_begin(T.held[0], 200, NULL, 0);
    static char block[65536];
    int r = 0;
    for (int i = 0; i < 200 && r >= 0; i++) r = http_respond_stream_write(T.held[0], block, sizeof block);
    cr_assert_eq(r, -1, "a write over stream_max_buffer is refused");
    cr_assert_eq(T.aborted, 0, "never aborted from inside the write");
    wait_for(&T.aborted, 1);
    cr_assert_null(T.held[0]);
    cr_assert_eq(http_server_connection_count(T.srv), 0);
    close(fd);
}

Test(http_stream, client_leaving_mid_stream_aborts)
{
    start((http_server_config_t){ 0 });
    int fd = cli_open(0);
    cli_send(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n", 28);
    wait_for(&T.nreq, 1);
    http_respond_stream_begin(T.held[0], 200, NULL, 0);
    http_respond_stream_write(T.held[0], "part", 4);
    char buf[1024];
    cli_read(fd, buf, sizeof buf, 0, "part", 2000);
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);   /* reset */
    uint64_t end = loop_now_ms() + 3000;
    while (!T.aborted && loop_now_ms() < end) {
        if (T.held[0]) http_respond_stream_write(T.held[0], "more", 4);
        pump(5);
    }
    cr_assert_eq(T.aborted, 1);
    cr_assert_null(T.held[0]);
}

/* ---- streamed request bodies ---- */

static void send_split(const char *req, size_t len, size_t cut)
{
    int fd = cli_open(0);
    cli_send(fd, req, cut);
    pump(2);
    cli_send(fd, req + cut, len - cut);
    char buf[8192];
    cli_read(fd, buf, sizeof buf, 0, "\r\n\r\n", 2000);
    close(fd);
}

static void check_split_everywhere(const char *req, const char *want_body, const char *want_trailer)
{
    size_t len = strlen(req);
    for (size_t cut = 1; cut < len; cut++) {
        T.body_len = 0;
        T.ended = 0;
        T.nreq = 0;
        T.trailer[0] = '\0';
        send_split(req, len, cut);
        uint64_t end = loop_now_ms() + 3000;
        while (!T.ended && loop_now_ms() < end) pump(1);
        cr_assert_eq(T.ended, 1, "cut %zu: %zu bytes, %d requests", cut, T.body_len, T.nreq);
        cr_assert_eq(T.nreq, 1, "cut %zu", cut);
        cr_assert_eq(T.body_len, strlen(want_body), "cut %zu: %zu bytes", cut, T.body_len);
        cr_assert_eq(memcmp(T.body, want_body, T.body_len), 0, "cut %zu", cut);
        cr_assert_str_eq(T.trailer, want_trailer, "cut %zu", cut);
    }
}

Test(http_stream, chunked_body_split_at_every_byte)
{
    start((http_server_config_t){ .max_body_bytes = 4 });   /* no limit on a streamed body */
    T.stream_bodies = true;
    check_split_everywhere("POST /r HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                           "Trailer: x-sum\r\n\r\n"
                           "5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nx-sum: 42\r\n\r\n",
                           "hello world!", "42");
}

Test(http_stream, content_length_body_split_at_every_byte)
{
    start((http_server_config_t){ .max_body_bytes = 4 });
    T.stream_bodies = true;
    check_split_everywhere("POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
                           "hello world", "");
}

Test(http_stream, handler_runs_before_the_body_arrives)
{
    start((http_server_config_t){ 0 });
    T.stream_bodies = true;
    int fd = cli_open(0);
    const char *head = "POST /r HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    cli_send(fd, head, strlen(head));
    wait_for(&T.nreq, 1);
    cr_assert_eq(T.body_len, 0);
    cli_send(fd, "3\r\nabc\r\n", 8);
    uint64_t end = loop_now_ms() + 2000;
    while (T.body_len < 3 && loop_now_ms() < end) pump(1);
    cr_assert_eq(T.body_len, 3, "a piece arrives before the body ends");
    cr_assert_eq(T.ended, 0);
    cli_send(fd, "0\r\n\r\n", 5);
    wait_for(&T.ended, 1);
    char buf[1024];
    cli_read(fd, buf, sizeof buf, 0, "abc", 2000);
    cr_assert(strstr(buf, "Content-Length: 3\r\n\r\nabc"), "%s", buf);
    close(fd);
}

Test(http_stream, paused_body_hands_nothing_over)
{
    start((http_server_config_t){ 0 });
    T.stream_bodies = true;
    T.pause_on_data = true;
    int fd = cli_open(0);
    const char *req = "POST /r HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n";
    cli_send(fd, req, strlen(req));
    wait_for(&T.nreq, 1);
    pump(50);
    cr_assert_eq(T.pieces, 1, "paused after the first piece");
    for (int i = 2; i <= 3; i++) {
        http_exchange_pause_body(T.body_ex, false);
        uint64_t end = loop_now_ms() + 2000;
        while (T.pieces < (size_t)i && loop_now_ms() < end) pump(1);
        cr_assert_eq(T.pieces, (size_t)i);
        pump(20);
        cr_assert_eq(T.pieces, (size_t)i);
    }
    http_exchange_pause_body(T.body_ex, false);
    wait_for(&T.ended, 1);
    cr_assert_eq(T.body_len, 3);
    cr_assert_eq(memcmp(T.body, "abc", 3), 0);
    close(fd);
}

Test(http_stream, client_leaving_mid_body_aborts)
{
    start((http_server_config_t){ 0 });
    T.stream_bodies = true;
    int fd = cli_open(0);
    const char *req = "POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly some";
    cli_send(fd, req, strlen(req));
    wait_for(&T.nreq, 1);
    close(fd);
    wait_for(&T.aborted, 1);
    cr_assert_eq(T.ended, 0);
}
