/* Unit tests of io/httpc against a real HTTP server on this machine (the
 * webhook of fake_core.h: a socket server on its own thread). */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_core.h"
#include "io/httpc.h"
#include "io/loop.h"

static void url_of(const fake_hook_t *h, char *out, size_t n)
{
    snprintf(out, n, "http://127.0.0.1:%d/hook", fake_hook_port(h));
}

Test(httpc, a_post_reaches_the_server_with_its_body_and_headers)
{
    int st[] = { 201 };
    fake_hook_t *h = fake_hook_start(st, 1, 0);
    char url[64];
    url_of(h, url, sizeof url);
    httpc_header_t hd[] = { { "X-Test", "yes" } };
    const char body[] = "{\"a\":1}";
    httpc_request_t req = { .url = url, .headers = hd, .nheaders = 1, .body = body, .len = strlen(body),
                            .timeout_ms = 5000 };
    httpc_response_t resp;
    err_t err;
    cr_assert_eq(httpc_post(&req, &resp, &err), 0, "%s", err.msg);
    cr_assert_eq(resp.status, 201);
    cr_assert_str_eq(resp.body, "ok");
    cr_assert_eq(fake_hook_count(h), 1);
    char *head = fake_hook_head(h, 0), *got = fake_hook_body(h, 0);
    cr_assert(strncmp(head, "POST /hook HTTP/1.1\r\n", 21) == 0, "%s", head);
    cr_assert(strcasestr(head, "\r\nContent-Type: application/json\r\n"), "%s", head);
    cr_assert(strcasestr(head, "\r\nX-Test: yes\r\n"), "%s", head);
    cr_assert_str_eq(got, body);
    free(head);
    free(got);
    httpc_response_free(&resp);
    /* A second POST from the same thread (its handle is reused). */
    cr_assert_eq(httpc_post(&req, &resp, &err), 0, "%s", err.msg);
    cr_assert_eq(resp.status, 201);
    httpc_response_free(&resp);
    cr_assert_eq(fake_hook_count(h), 2);
    fake_hook_stop(h);
}

Test(httpc, an_error_status_is_an_answer_not_a_failure)
{
    int st[] = { 503 };
    fake_hook_t *h = fake_hook_start(st, 1, 0);
    char url[64];
    url_of(h, url, sizeof url);
    httpc_request_t req = { .url = url, .body = "x", .len = 1, .content_type = "text/plain" };
    httpc_response_t resp;
    err_t err;
    cr_assert_eq(httpc_post(&req, &resp, &err), 0, "%s", err.msg);
    cr_assert_eq(resp.status, 503);
    char *head = fake_hook_head(h, 0);
    cr_assert(strcasestr(head, "\r\nContent-Type: text/plain\r\n"), "%s", head);
    free(head);
    httpc_response_free(&resp);
    fake_hook_stop(h);
}

Test(httpc, a_server_slower_than_the_timeout_is_an_error_in_time)
{
    int st[] = { 200 };
    fake_hook_t *h = fake_hook_start(st, 1, 3000);
    char url[64];
    url_of(h, url, sizeof url);
    httpc_request_t req = { .url = url, .body = "{}", .len = 2, .timeout_ms = 200 };
    httpc_response_t resp;
    err_t err;
    uint64_t t0 = loop_now_ms();
    cr_assert_eq(httpc_post(&req, &resp, &err), -1);
    uint64_t took = loop_now_ms() - t0;
    cr_assert_eq(err.code, ERR_SYS);
    cr_assert(strstr(err.msg, "POST http://127.0.0.1:"), "%s", err.msg);
    cr_assert(took >= 190 && took < 2000, "took %llu ms", (unsigned long long)took);
    cr_assert_eq(resp.status, 0);
    fake_hook_stop(h);
}

Test(httpc, nobody_listening_is_an_error)
{
    /* A port that was just free. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    httpc_request_t req = { .url = url, .body = "{}", .len = 2, .timeout_ms = 2000 };
    httpc_response_t resp;
    err_t err;
    cr_assert_eq(httpc_post(&req, &resp, &err), -1);
    cr_assert_eq(err.code, ERR_SYS);
}

Test(httpc, only_http_and_https_urls)
{
    httpc_response_t resp;
    err_t err;
    const char *bad[] = { "file:///etc/passwd", "ftp://127.0.0.1/", "gopher://x", "127.0.0.1:80", "" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        httpc_request_t req = { .url = bad[i], .body = "{}", .len = 2 };
        cr_assert_eq(httpc_post(&req, &resp, &err), -1, "%s", bad[i]);
        cr_assert_eq(err.code, ERR_INVALID, "%s", bad[i]);
    }
}

/* ---- on a loop's worker ---- */

typedef struct {
    int calls;
    int status;
    char body[16];
    err_code_t code;
    pthread_t thread;
} seen_t;

static void seen_cb(void *arg, const err_t *err, const httpc_response_t *resp)
{
    seen_t *s = arg;
    s->calls++;
    s->thread = pthread_self();
    s->code = err ? err->code : ERR_NONE;
    s->status = err ? 0 : resp->status;
    if (!err) snprintf(s->body, sizeof s->body, "%s", resp->body);
}

static void stop_cb(loop_t *l, void *arg) { (void)arg; loop_stop(l); }

Test(httpc, submitted_it_runs_on_a_worker_and_answers_on_the_loop)
{
    int st[] = { 202 };
    fake_hook_t *h = fake_hook_start(st, 1, 0);
    char url[64];
    url_of(h, url, sizeof url);
    err_t err;
    loop_t *l = loop_new(1, &err);
    cr_assert(l, "%s", err.msg);
    seen_t s = { 0 };
    char body[] = "{\"k\":\"v\"}";
    httpc_header_t hd[] = { { "X-Nimbus-Request-Id", "abc" } };
    httpc_request_t req = { .url = url, .headers = hd, .nheaders = 1, .body = body, .len = strlen(body) };
    httpc_post_submit(l, &req, seen_cb, &s);
    memset(body, 'x', sizeof body - 1);   /* the request was copied */
    for (int i = 0; i < 300 && !s.calls; i++) {
        loop_timer_add(l, 10, stop_cb, NULL);
        cr_assert_eq(loop_run(l, &err), 0);
    }
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(s.code, ERR_NONE);
    cr_assert_eq(s.status, 202);
    cr_assert_str_eq(s.body, "ok");
    cr_assert(pthread_equal(s.thread, pthread_self()), "the answer comes on the loop's thread");
    char *got = fake_hook_body(h, 0), *head = fake_hook_head(h, 0);
    cr_assert_str_eq(got, "{\"k\":\"v\"}");
    cr_assert(strcasestr(head, "\r\nX-Nimbus-Request-Id: abc\r\n"), "%s", head);
    free(got);
    free(head);
    loop_free(l);
    fake_hook_stop(h);
}
