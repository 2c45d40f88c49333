/* httpc.h — a small HTTP(S) client: one blocking POST with a timeout, on
 * libcurl (http and https only, no redirects followed).
 *
 * httpc_post blocks: it is for a worker thread (loop_submit), never the
 * loop thread. httpc_post_submit does exactly that: the POST runs on one
 * of the loop's workers and its answer comes back on the loop thread.
 * Each worker thread keeps one connection cache, so POSTs to the same
 * server reuse their connection.
 */
#ifndef NIMBUS_HTTPC_H
#define NIMBUS_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/loop.h"

typedef struct {
    const char *name;
    const char *value;
} httpc_header_t;

typedef struct {
    const char *url;              /* http:// or https:// */
    const char *content_type;     /* NULL: application/json */
    const httpc_header_t *headers;/* more request headers */
    size_t nheaders;
    const void *body;
    size_t len;
    uint64_t timeout_ms;          /* the whole exchange; 0: 30 s */
    size_t max_answer;            /* answer bytes kept (the rest is read and dropped); 0: 64 KB */
} httpc_request_t;

typedef struct {
    int status;                   /* the HTTP status (0 when there was no answer) */
    char *body;                   /* the answer (malloc'd, NUL-terminated, at most max_answer) */
    size_t len;
} httpc_response_t;

/* POST req on this thread. 0 with resp filled when the server answered
 * (whatever the status); -1 with err when it could not be reached, the
 * exchange failed or took longer than the timeout (ERR_SYS), or the URL
 * is not http(s) (ERR_INVALID). resp->body is the caller's to free
 * (httpc_response_free). Worker threads only. */
int httpc_post(const httpc_request_t *req, httpc_response_t *resp, err_t *err);
void httpc_response_free(httpc_response_t *resp);

/* The same on a worker of `l`; `done` runs on the loop thread with the
 * outcome (err NULL when the server answered; resp valid during the call
 * only). The request is copied. */
typedef void (*httpc_done_fn)(void *arg, const err_t *err, const httpc_response_t *resp);
void httpc_post_submit(loop_t *l, const httpc_request_t *req, httpc_done_fn done, void *arg);

#endif
