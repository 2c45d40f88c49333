/* fuzz_http.c — libFuzzer target for the HTTP server.
 *
 * Input: byte 0 picks how the handler answers (at once, later in order,
 * later in reverse, mixed) and how the rest is cut into writes; the rest is
 * what a client sends over one end of a socketpair served by the real
 * server. Requests for /b... have their bodies streamed (and dropped) and
 * are answered with a streamed, chunked response. After the input the client half-closes and the loop runs until
 * the server has closed the connection.
 *
 * Besides the sanitizers, it checks the output: everything the client
 * received must parse as HTTP/1.1 responses, handler answers must come back
 * in request order, every delivered request is answered or aborted, at
 * most one server error comes and it comes last, and nothing hangs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/http.h"
#include "io/http_internal.h"
#include "llhttp.h"
#include "io/loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HELD 64

static loop_t *L;
static http_server_t *S;

static struct {
    int policy;
    unsigned seq;                 /* requests delivered */
    unsigned aborted;
    http_exchange_t *held[MAX_HELD];
    unsigned held_seq[MAX_HELD];
    int nheld;
    char *out;                    /* what the client received */
    size_t out_len, out_cap;
} F;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_http: invariant broken: %s\nserver sent %zu bytes:\n", what,
                F.out_len);
        for (size_t i = 0; i < F.out_len; i++) {
            unsigned char ch = (unsigned char)F.out[i];
            if (ch == '\n' || (ch >= 32 && ch < 127)) fputc(ch, stderr);
            else if (ch != '\r') fprintf(stderr, "\\x%02x", ch);
        }
        abort();
    }
}

static void answer(http_exchange_t *ex, unsigned seq)
{
    http_request_t *req = http_exchange_request(ex);
    char sq[16];
    snprintf(sq, sizeof sq, "%u", seq);
    bool head = !strcmp(req->method, "HEAD");
    http_header_t h[3] = { { "X-Seq", sq }, { "X-H", head ? "head" : "1" }, { "X-Bad", "a\r\nb" } };
    if (req->path[0] == '/' && req->path[1] == 'b') {
        check(http_respond_stream_begin(ex, seq % 3 ? 200 : 204, h, 3) == 0, "stream begin");
        http_respond_stream_write(ex, sq, strlen(sq));
        http_respond_stream_write(ex, "", 0);
        http_respond_stream_write(ex, req->path, strlen(req->path));
        check(http_respond_stream_end(ex) == 0, "stream end");
        return;
    }
    switch (seq % 4) {
    case 0:
        check(req->body != NULL && req->body[req->body_len] == '\0', "body NUL-terminated");
        http_respond(ex, 200, h, 3, req->body, req->body_len);
        break;
    case 1: {
        size_t n;
        char *b = http_request_take_body(ex, &n);
        check(b != NULL && b[n] == '\0' && req->body_len == 0, "take_body");
        http_respond_owned(ex, 201, h, 2, b, n);
        break;
    }
    case 2: http_respond(ex, 204, h, 2, "ignored", 7); break;
    default: http_respond(ex, 404, h, 2, NULL, 0); break;
    }
}

static void on_abort(http_exchange_t *ex, void *arg)
{
    (void)arg;
    for (int i = 0; i < F.nheld; i++)
        if (F.held[i] == ex) {
            F.held[i] = NULL;
            F.aborted++;
            return;
        }
    check(0, "abort of an unknown exchange");
}

static void on_request(http_exchange_t *ex, http_request_t *req, void *arg)
{
    (void)arg;
    (void)req;
    unsigned seq = F.seq++;
    bool now = F.policy == 0 || (F.policy == 3 && seq % 2);
    if (now || F.nheld == MAX_HELD) {
        answer(ex, seq);
        return;
    }
    http_exchange_on_abort(ex, on_abort, NULL);
    F.held_seq[F.nheld] = seq;
    F.held[F.nheld++] = ex;
}

static void answer_held(void)
{
    int n = F.nheld;
    F.nheld = 0;   /* answers may not add more, but keep it simple and safe */
    for (int k = 0; k < n; k++) {
        int i = F.policy == 2 ? n - 1 - k : k;
        if (F.held[i]) answer(F.held[i], F.held_seq[i]);
    }
}

static size_t body_limit(const http_request_t *req, void *arg)
{
    (void)arg;
    return req->path[0] == '/' && req->path[1] == 's' ? 16 : 2048;
}

static bool stream_body(const http_request_t *req, void *arg)
{
    (void)arg;
    return req->path[0] == '/' && req->path[1] == 'b';
}

static void stop_cb(loop_t *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

static void step(void)
{
    loop_timer_add(L, 0, stop_cb, NULL);
    loop_run(L, NULL);
}

static void drain(int fd)
{
    for (;;) {
        if (F.out_cap - F.out_len < 4096) {
            F.out_cap = F.out_cap ? F.out_cap * 2 : 65536;
            F.out = realloc(F.out, F.out_cap);
        }
        ssize_t n = recv(fd, F.out + F.out_len, F.out_cap - F.out_len, MSG_DONTWAIT);
        if (n <= 0) return;
        F.out_len += (size_t)n;
    }
}

static int init(void)
{
    err_t e;
    L = loop_new(0, &e);
    http_server_config_t cfg = {
        .on_request = on_request, .body_limit = body_limit, .stream_body = stream_body,
        .max_header_bytes = 1024, .max_body_bytes = 2048,
        /* Timeouts out of reach: the run must not depend on speed. */
        .idle_timeout_ms = 60000, .request_timeout_ms = 60000,
        .max_pipeline = 4,
    };
    S = http_server_new(L, &cfg, &e);
    return L && S ? 0 : -1;
}

/* ---- checking the output with llhttp's response parser ---- */

static struct {
    bool field_is_h, field_is_seq, is_handler, is_head, in_msg;
    char seq[16];
    size_t seq_len;
    long last_seq;
    unsigned handler, errors, finals;
    bool error_seen;
} R;

static int r_begin(llhttp_t *p)
{
    (void)p;
    R.in_msg = true;
    return 0;
}

static int r_complete(llhttp_t *p)
{
    (void)p;
    R.in_msg = false;
    return 0;
}

static int r_field(llhttp_t *p, const char *at, size_t n)
{
    (void)p;
    R.field_is_h = n == 3 && !strncasecmp(at, "X-H", 3);
    R.field_is_seq = n == 5 && !strncasecmp(at, "X-Seq", 5);
    return 0;
}

static int r_value(llhttp_t *p, const char *at, size_t n)
{
    (void)p;
    if (R.field_is_h) {
        R.is_handler = true;
        R.is_head = n == 4 && !strncmp(at, "head", 4);
    }
    if (R.field_is_seq && n < sizeof R.seq) {
        memcpy(R.seq, at, n);
        R.seq_len = n;
    }
    check(memchr(at, '\r', n) == NULL && memchr(at, '\n', n) == NULL, "CR/LF in a header");
    return 0;
}

static int r_headers_complete(llhttp_t *p)
{
    if (p->status_code < 200) return 0;   /* 100 Continue */
    R.finals++;
    check(!R.error_seen, "a response after the server's error response");
    if (R.is_handler) {
        R.seq[R.seq_len] = '\0';
        long s = strtol(R.seq, NULL, 10);
        check(s == R.last_seq + 1, "responses out of request order");
        R.last_seq = s;
        R.handler++;
    } else {
        check(p->status_code == 400 || p->status_code == 408 || p->status_code == 413 ||
                  p->status_code == 431 || p->status_code == 501,
              "unexpected server status");
        R.errors++;
        R.error_seen = true;
        /* Stop here: if the request that failed was HEAD, this answer
         * rightly has no body, and check_output sees that at the end. */
        R.is_handler = R.is_head = false;
        R.seq_len = 0;
        return HPE_PAUSED;
    }
    bool head = R.is_head;
    R.is_handler = R.is_head = false;
    R.seq_len = 0;
    return head ? 1 : 0;   /* a HEAD answer has Content-Length but no body */
}

static void check_output(void)
{
    static const llhttp_settings_t st = {
        .on_header_field = r_field,
        .on_header_value = r_value,
        .on_headers_complete = r_headers_complete,
        .on_message_begin = r_begin,
        .on_message_complete = r_complete,
    };
    memset(&R, 0, sizeof R);
    R.last_seq = -1;
    llhttp_t p;
    llhttp_init(&p, HTTP_RESPONSE, &st);
    const char *at = F.out, *end = F.out + F.out_len;
    while (at < end) {
        llhttp_errno_t e = llhttp_execute(&p, at, (size_t)(end - at));
        if (e == HPE_PAUSED) {   /* at the end of an error answer's head */
            at = llhttp_get_error_pos(&p);
            if (at == end) R.in_msg = false;   /* bodyless: the failed request was HEAD */
            llhttp_resume(&p);
            continue;
        }
        check(e == HPE_OK, "server output is not valid HTTP");
        break;
    }
    /* The server has closed the connection by now (every run ends so):
     * that end is the frame of a response delimited by close (an HTTP/1.0
     * client's stream), and llhttp says whether the last one was one. A
     * response cut short of its Content-Length or last chunk still fails. */
    if (R.in_msg) check(llhttp_finish(&p) == HPE_OK, "a truncated response");
    check(!R.in_msg, "a truncated or unframed response");
    check(R.handler + F.aborted == F.seq, "a request neither answered nor aborted");
    check(R.errors <= 1, "more than one error response");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L && init() < 0) abort();
    if (size < 1) return 0;
    memset(&F.held, 0, sizeof F.held);
    F.policy = data[0] & 3;
    F.seq = F.aborted = 0;
    F.nheld = 0;
    F.out_len = 0;
    size_t cut = 1 + (size_t)((data[0] >> 2) * 37 % 300);
    data++;
    size--;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) abort();
    if (http_server_adopt_fd(S, sv[0], &F, NULL) < 0) abort();

    size_t off = 0;
    int spins = 0;
    while (off < size) {
        size_t n = size - off < cut ? size - off : cut;
        ssize_t w = send(sv[1], data + off, n, MSG_NOSIGNAL);
        if (w > 0) off += (size_t)w;
        else if (w < 0 && errno != EAGAIN) break;   /* the server closed on us */
        step();
        drain(sv[1]);
        answer_held();
        check(++spins < 100000, "server stopped reading for good");
    }
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; http_server_connection_count(S) > 0; i++) {
        check(i < 10000, "connection never closed");
        step();
        drain(sv[1]);
        answer_held();
    }
    drain(sv[1]);
    close(sv[1]);
    check(F.nheld == 0, "held exchanges left");
    check_output();
    return 0;
}
