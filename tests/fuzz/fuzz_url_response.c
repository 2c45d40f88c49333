/* fuzz_url_response.c — libFuzzer target for what a function sends back
 * through a function URL.
 *
 * Input: arbitrary bytes, read (1) as a buffered result by
 * url_response_from_result, (2) as a streamed result fed to
 * url_prelude_feed in chunks whose sizes come from the input's first byte,
 * and (3) split at NUL bytes into a request's path, query, header names
 * and values and body, made into an event by url_event_build: the event is
 * always one valid JSON object (whatever bytes the client sent).
 *
 * Besides the sanitizers, it checks: a refusal carries a message and leaves
 * the answer empty; an accepted answer has a status in 100..599 and no
 * header that could break the HTTP head (a CR, LF or an empty name), and
 * never one of the server's framing headers; the prelude says how much of
 * a chunk it used, never more than the chunk, and is complete exactly once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "api/url_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_url_response: invariant broken: %s\n", what);
    abort();
}

static void check_answer(const url_response_t *r)
{
    if (r->status < 100 || r->status > 599) fail("status out of range");
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *n = r->headers[i].name, *v = r->headers[i].value;
        if (!*n) fail("empty header name");
        if (strpbrk(n, "\r\n: ") || strpbrk(v, "\r\n")) fail("header breaks the HTTP head");
        if (!strcasecmp(n, "content-length") || !strcasecmp(n, "transfer-encoding") ||
            !strcasecmp(n, "connection"))
            fail("a framing header got through");
    }
    if (r->body_len && !r->body) fail("body length without a body");
}

static void check_event(const uint8_t *data, size_t size)
{
    /* Fields separated by NUL: path, query, then name/value pairs; what is
     * left after the last NUL is the body. */
    char *copy = malloc(size + 1);
    if (!copy) abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *fields[20];
    size_t nf = 0, at = 0;
    while (nf < 20) {
        char *nul = memchr(copy + at, '\0', size - at);
        if (!nul) break;
        fields[nf++] = copy + at;
        at = (size_t)(nul - copy) + 1;
    }
    http_header_t h[9];
    size_t nh = 0;
    for (size_t i = 2; i + 1 < nf && nh < 9; i += 2) h[nh++] = (http_header_t){ fields[i], fields[i + 1] };
    http_request_t req = { .method = "POST", .headers = h, .nheaders = nh, .body = copy + at,
                           .body_len = size - at };
    url_request_t ur = { .req = &req, .raw_path = nf > 0 ? fields[0] : "/", .raw_query = nf > 1 ? fields[1] : "",
                         .url_id = "abc", .domain = "d", .account = "1", .source_ip = "::1",
                         .request_id = "r", .time_ms = 1 };
    err_t err = {0};
    size_t len = 0;
    char *ev = url_event_build(&ur, &len, &err);
    if (!ev) fail("no event");
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(ev, len, &end, 0);
    if (!cJSON_IsObject(doc) || end != ev + len) fail("the event is not one JSON object");
    cJSON_Delete(doc);
    free(ev);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_event(data, size);
    url_response_t r;
    err_t err = {0};
    if (url_response_from_result((const char *)data, size, &r, &err) == 0) {
        check_answer(&r);
    } else {
        if (!err.msg[0]) fail("refusal without a message");
        if (r.nheaders || r.body) fail("refusal left an answer");
    }
    url_response_free(&r);

    size_t step = size ? (size_t)data[0] % 17 + 1 : 1, off = 0;
    url_prelude_t *p = url_prelude_new();
    int rc = 0;
    while (off < size) {
        size_t n = size - off < step ? size - off : step, used = 0;
        err_clear(&err);
        rc = url_prelude_feed(p, (const char *)data + off, n, &used, &r, &err);
        if (used > n) fail("prelude used more than the chunk");
        if (rc == 1) {
            check_answer(&r);
            url_response_free(&r);
            break;
        }
        if (rc < 0) {
            if (!err.msg[0]) fail("malformed prelude without a message");
            break;
        }
        if (used != n) fail("an incomplete prelude did not take the whole chunk");
        off += n;
    }
    url_prelude_free(p);
    return 0;
}
