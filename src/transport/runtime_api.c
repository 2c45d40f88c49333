/* runtime_api.c — the Lambda Runtime API, as each instance sees it on its
 * own socket: /next (long poll), /response, /error, /init/error, with
 * Lambda's codes and bodies (docs/design.md, "Runtime API status codes"); and Tencent
 * SCF's variant of it. Both are transports (core/transport.h).
 *
 * Owns the runtime-API HTTP server and, per instance, its parked /next
 * requests (the instance's free slots), and each streamed /response
 * (`Lambda-Runtime-Function-Response-Mode: streaming`): its body is read
 * as it comes and handed to the call piece by piece, held back (TCP) while
 * the caller cannot take more, cut off at the caller's cap, and its error
 * trailers turned into a function error. Moves instances through their
 * states and ends calls through the core. Must never: accept an answer for
 * a call that is not one of the instance's running calls, or let an
 * instance on replaced code take a new call, or read a /response past its
 * cap before failing its call.
 */
#include "transport/runtime_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/errdoc.h"
#include "base/util.h"
#include "core/call.h"
#include "core/instance.h"
#include "io/http.h"
#include "io/route.h"


/* Runtime API connections an instance may hold beyond one per slot. */
#define RAPI_CONNS_PER_INSTANCE 16u

static const http_header_t JSON_CT[] = { { "Content-Type", "application/json" } };

struct rapi {
    http_server_t *server;
    transport_t lambda, scf;
};

/* One instance's side: its socket and its parked /next requests. */
typedef struct {
    rapi_t *api;
    instance_t *in;
    bool scf;                  /* speaks SCF's paths */
    bool init_ready;           /* SCF: it posted /runtime/init/ready */
    int fd;                    /* its listening socket, served by api->server */
    http_exchange_t **parked;  /* parked /next requests: its free slots */
    unsigned n_parked;
} rapi_inst_t;

static void reply_json(http_exchange_t *ex, int status, const char *type, const char *msg)
{
    size_t n;
    char *body = errdoc_runtime(type, msg, &n);
    http_respond_owned(ex, status, JSON_CT, 1, body, n);
}

static void reply_accepted(http_exchange_t *ex)
{
    static const char ok[] = "{\"status\":\"OK\"}\n";
    /* A runtime that pipelined its next /next behind this is waiting for
     * the event, not for this: the 202 goes out with the event. */
    http_respond_lazy(ex, 202, JSON_CT, 1, ok, sizeof ok - 1);
}

static void send_event(rapi_inst_t *st, call_t *c, http_exchange_t *ex)
{
    instance_t *in = st->in;
    router_fn_t *fn = in->fn;
    char deadline[32], arn[200];
    size_t dl = 0;
    util_cat_u64(deadline, sizeof deadline, &dl, c->deadline_wall_ms);
    function_arn(fn->cfg.name, c->qualifier[0] ? c->qualifier : NULL, arn, sizeof arn);
    http_header_t h[7];
    size_t n = 0;
    h[n++] = (http_header_t){ "Content-Type", "application/json" };
    h[n++] = (http_header_t){ "Lambda-Runtime-Aws-Request-Id", c->request_id };
    h[n++] = (http_header_t){ "Lambda-Runtime-Deadline-Ms", deadline };
    h[n++] = (http_header_t){ "Lambda-Runtime-Invoked-Function-Arn", arn };
    h[n++] = (http_header_t){ "Lambda-Runtime-Trace-Id", c->trace_id };
    if (c->client_context) h[n++] = (http_header_t){ "Lambda-Runtime-Client-Context", c->client_context };
    if (st->scf) h[n++] = (http_header_t){ "Request_Id", c->request_id };
    http_respond(ex, 200, h, n, c->payload, c->payload_len);
}

static void parked_aborted(http_exchange_t *ex, void *arg)
{
    rapi_inst_t *st = arg;
    if (st->in->exited) return;
    /* The runtime hung up while waiting: that slot is gone. */
    for (unsigned i = 0; i < st->n_parked; i++) {
        if (st->parked[i] != ex) continue;
        st->parked[i] = st->parked[--st->n_parked];
        instance_slot_lost(st->in);
        return;
    }
}

static void deliver(instance_t *in, call_t *c)
{
    rapi_inst_t *st = in->tp_state;
    /* Most recent /next first: its connection is the warmest. */
    http_exchange_t *ex = st->parked[--st->n_parked];
    send_event(st, c, ex);
}

static void handle_next(http_exchange_t *ex, rapi_inst_t *st)
{
    instance_t *in = st->in;
    if (in->capacity == 1 && in->n_busy == 1) {
        /* /next again before answering: the same event again (RIE and SCF
         * both do this). */
        send_event(st, instance_first_call(in), ex);
        return;
    }
    if (st->n_parked + in->n_busy >= in->capacity) {
        reply_json(ex, 403, "InvalidStateTransition",
                   "State transition from Ready to Ready failed for runtime. Error: more /next requests than InstanceConcurrency");
        return;
    }
    /* Parked even when stopping, so the exchange ends with the instance.
     * Parked before the instance is declared ready, so the scheduler sees
     * this free slot and does not start another instance for the call
     * that is waiting for it. */
    st->parked[st->n_parked++] = ex;
    http_exchange_on_abort(ex, parked_aborted, st);
    instance_slot_opened(in);
    instance_seen(in);
    /* SCF runtimes say when they are ready; no event before that. */
    if (in->state == INST_STARTING && (!st->scf || st->init_ready)) instance_ready(in);
}

/* The running call `id` names, or an answer (400/403) and NULL. */
static call_t *current_call(http_exchange_t *ex, instance_t *in, const char *id, const char *to)
{
    call_t *c = instance_find_call(in, id);
    if (c) return c;
    if (instance_was_answered(in, id)) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "State transition from RuntimeResponseSent to %s failed for runtime. Error: State transition is not allowed",
                 to);
        reply_json(ex, 403, "InvalidStateTransition", msg);
        return NULL;
    }
    reply_json(ex, 400, "InvalidRequestID", "Invalid request ID");
    return NULL;
}

static void call_answered(instance_t *in, call_t *c) { instance_answered(in, c); }

/* ---- streamed responses ---- */

/* One /response being read. Every /response body is read as it comes,
 * so that one over its cap is cut off (answered 413, the call failed) at
 * the byte that breaks it, whatever its framing: a body read whole would
 * have to arrive whole first, and one over the HTTP layer's limit would be
 * refused without the call ever hearing of it. Lives until its body ends,
 * its connection dies, or it is cut off. */
typedef struct {
    rapi_inst_t *st;
    call_t *c;                 /* NULL once the call ended another way */
    http_exchange_t *ex;
    bool buffered;             /* not streaming mode: gathered in `body`,
                                  CALL_BUFFERED_MAX whoever the caller is */
    buf_t body;
} rstream_t;

static void rs_free(rstream_t *rs)
{
    buf_free(&rs->body);
    free(rs);
}

static void rs_release_call(rstream_t *rs)
{
    if (!rs->c) return;
    rs->c->transport = NULL;
    rs->c->transport_end = NULL;
    rs->c->transport_resume = NULL;
    rs->c = NULL;
}

/* The call ended first (deadline, instance gone): read the rest for nobody. */
static void rs_call_ended(call_t *c)
{
    rstream_t *rs = c->transport;
    rs_release_call(rs);
    http_exchange_pause_body(rs->ex, false);
}

static void rs_resume(call_t *c)
{
    rstream_t *rs = c->transport;
    http_exchange_pause_body(rs->ex, false);
}

static void rs_aborted(http_exchange_t *ex, void *arg)
{
    (void)ex;
    rstream_t *rs = arg;
    call_t *c = rs->c;
    instance_t *in = rs->st->in;
    rs_release_call(rs);
    /* An instance that exited fails its calls itself (Runtime.ExitError). */
    if (c && !in->exited) {
        call_answered(in, c);
        call_fail(c, "Runtime.TruncatedResponse", "The runtime closed its streamed response before its end");
    }
    rs_free(rs);
}

/* Over the cap: the call fails now, the runtime hears 413 now, and the
 * rest of the body is read and dropped. */
static void rs_oversize(rstream_t *rs, http_exchange_t *ex)
{
    call_t *c = rs->c;
    instance_t *in = rs->st->in;
    rs_release_call(rs);
    /* As RIE: a buffered response has the buffered cap, whoever the
     * caller is. */
    if (rs->buffered) c->stream = NULL;
    char msg[160];
    snprintf(msg, sizeof msg, "Exceeded maximum allowed payload size (%zu bytes).", call_response_limit(c));
    call_answered(in, c);
    call_fail_oversize(c);
    reply_json(ex, 413, "RequestEntityTooLarge", msg);
    rs_free(rs);
}

static void rs_data(http_exchange_t *ex, const char *data, size_t len, void *arg)
{
    rstream_t *rs = arg;
    call_t *c = rs->c;
    if (!c) return;
    if (rs->buffered) {
        if (len > CALL_BUFFERED_MAX - rs->body.len) rs_oversize(rs, ex);
        else buf_append(&rs->body, data, len);
        return;
    }
    int r = call_stream_data(c, data, len);
    if (r == 1) http_exchange_pause_body(ex, true);
    else if (r < 0) rs_oversize(rs, ex);
}

/* A response that failed (midway, for a stream) says so in its trailers:
 * true when it did, and the call has failed with its document. */
static bool trailer_error(http_request_t *req, call_t *c)
{
    const char *etype = http_request_trailer(req, "Lambda-Runtime-Function-Error-Type");
    if (!etype) return false;
    const char *eb = http_request_trailer(req, "Lambda-Runtime-Function-Error-Body");
    size_t len = 0;
    char *doc = eb ? util_base64_decode(eb, strlen(eb), &len, NULL) : NULL;
    if (!doc) doc = errdoc_function(etype, "streamed response failed", &len);
    call_fail_function(c, doc, len);
    free(doc);
    return true;
}

static void rs_end(http_exchange_t *ex, http_request_t *req, void *arg)
{
    rstream_t *rs = arg;
    call_t *c = rs->c;
    instance_t *in = rs->st->in;
    rs_release_call(rs);
    if (c) {
        call_answered(in, c);
        if (trailer_error(req, c)) {
            /* failed as its trailers say */
        } else if (rs->buffered) {
            /* The caller is waiting: answer it before the runtime. */
            call_complete(c, rs->body.data ? rs->body.data : "", rs->body.len,
                          http_request_header(req, "Content-Type"));
        } else {
            call_stream_complete(c);
        }
    }
    rs_free(rs);
    reply_accepted(ex);
}

static void read_response(http_exchange_t *ex, http_request_t *req, rapi_inst_t *st, call_t *c, bool buffered)
{
    rstream_t *rs = calloc(1, sizeof *rs);
    if (!rs) {
        reply_json(ex, 500, "InternalServerError", "out of memory");
        return;
    }
    *rs = (rstream_t){ .st = st, .c = c, .ex = ex, .buffered = buffered };
    c->transport = rs;
    c->transport_end = rs_call_ended;
    c->transport_resume = rs_resume;
    http_exchange_on_abort(ex, rs_aborted, rs);
    if (buffered) {
        /* A length over the cap is refused before a byte of it is read. */
        const char *cl = http_request_header(req, "Content-Length");
        unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
        if (n > CALL_BUFFERED_MAX) { rs_oversize(rs, ex); return; }
        if (n) buf_reserve(&rs->body, (size_t)n);
        /* No body at all: no piece and no end will come. */
        if (!n && !http_request_header(req, "Transfer-Encoding")) { rs_end(ex, req, rs); return; }
    }
    http_exchange_on_body(ex, rs_data, rs_end, rs);
    if (!buffered) call_stream_begin(c, http_request_header(req, "Content-Type"));
}

static bool path_is(const char *path, const char *pre, const char *suf)
{
    size_t n = strlen(path), np = strlen(pre), ns = strlen(suf);
    return n > np + ns && strncmp(path, pre, np) == 0 && strcmp(path + n - ns, suf) == 0;
}

/* Asked when a request's head is complete: a /response has its body
 * handed over as it comes (see rstream_t). */
static bool stream_body(const http_request_t *req, void *arg)
{
    (void)arg;
    return strcmp(req->method, "POST") == 0 &&
           (path_is(req->path, "/2018-06-01/runtime/invocation/", "/response") ||
            strcmp(req->path, "/runtime/invocation/response") == 0);
}

static char *error_doc(const char *type, const char *msg, size_t *len) { return errdoc_function(type, msg, len); }

/* A buffered /response or /error over the cap: 413 to the runtime, and the
 * caller told the size (Function.ResponseSizeTooLarge), not handed it. */
static void refuse_oversize(http_exchange_t *ex, instance_t *in, call_t *c)
{
    char msg[160];
    snprintf(msg, sizeof msg, "Exceeded maximum allowed payload size (%u bytes).", CALL_BUFFERED_MAX);
    call_answered(in, c);
    /* As RIE: the buffered cap, whoever the caller is. */
    c->stream = NULL;
    /* Before the runtime's answer: answering ends the exchange. */
    call_fail_oversize(c);
    reply_json(ex, 413, "RequestEntityTooLarge", msg);
}

static void handle_response(http_exchange_t *ex, http_request_t *req, instance_t *in,
                            const char *id)
{
    call_t *c = current_call(ex, in, id, "InvocationResponse");
    if (!c) return;
    const char *mode = http_request_header(req, "Lambda-Runtime-Function-Response-Mode");
    if (mode && strcasecmp(mode, "streaming") != 0) {
        reply_json(ex, 400, "InvalidFunctionResponseMode", "Invalid function response mode");
        call_answered(in, c);
        call_fail(c, "Runtime.InvalidResponseModeHeader", "Invalid function response mode");
        return;
    }
    read_response(ex, req, in->tp_state, c, mode == NULL);
}

/* Remove "errorCause" from an error.cause+json document (docs/design.md,
 * "Runtime API errors"); NULL if it is not a JSON object. */
static char *strip_error_cause(const char *body, size_t len, size_t *out_len)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(o)) { cJSON_Delete(o); return NULL; }
    cJSON_DeleteItemFromObjectCaseSensitive(o, "errorCause");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    *out_len = strlen(s);
    return s;
}

static void handle_error(http_exchange_t *ex, http_request_t *req, instance_t *in,
                         const char *id)
{
    call_t *c = current_call(ex, in, id, "InvocationErrorResponse");
    if (!c) return;
    /* An error document is a response too: the same cap. */
    if (req->body_len > CALL_BUFFERED_MAX) {
        refuse_oversize(ex, in, c);
        return;
    }
    const char *ct = http_request_header(req, "Content-Type");
    const char *etype = http_request_header(req, "Lambda-Runtime-Function-Error-Type");
    size_t len = req->body_len;
    char *doc = NULL;
    if (ct && strncasecmp(ct, "application/vnd.aws.lambda.error.cause+json", 43) == 0) {
        doc = strip_error_cause(req->body, req->body_len, &len);
        if (!doc) doc = error_doc(etype ? etype : "Runtime.Unknown", "Invalid error body", &len);
    } else if (len == 0) {
        doc = error_doc(etype ? etype : "Runtime.Unknown", "Unknown application error occurred", &len);
    }
    call_answered(in, c);
    call_fail_function(c, doc ? doc : req->body, len);
    free(doc);
    reply_accepted(ex);
}

static void handle_init_error(http_exchange_t *ex, http_request_t *req, instance_t *in)
{
    if (in->ready_seen) {
        reply_json(ex, 403, "InvalidStateTransition",
                   "State transition from Ready to InitError failed for runtime. Error: State transition is not allowed");
        return;
    }
    const char *etype = http_request_header(req, "Lambda-Runtime-Function-Error-Type");
    if (!etype) etype = "Runtime.Unknown";
    if (req->body_len) {
        instance_init_failed(in, etype, req->body, req->body_len);
    } else {
        size_t len;
        char *doc = error_doc(etype, "Runtime failed to initialise", &len);
        instance_init_failed(in, etype, doc, len);
        free(doc);
    }
    reply_accepted(ex);
}

static void not_found(http_exchange_t *ex)
{
    static const http_header_t h[] = { { "Content-Type", "text/plain; charset=utf-8" } };
    static const char body[] = "404 page not found\n";
    http_respond(ex, 404, h, 1, body, sizeof body - 1);
}

/* ---- one handler per row of the tables ---- */

static void h_next(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)req; (void)p;
    handle_next(ex, ctx);
}

static void h_init_error(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)p;
    handle_init_error(ex, req, ((rapi_inst_t *)ctx)->in);
}

/* The request id as sent (a runtime that mangles it gets 400). */
static void request_id(const char *raw, size_t len, char rid[64])
{
    size_t n = len < 64 ? len : 0;
    memcpy(rid, raw, n);
    rid[n] = '\0';
}

static void h_response(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char rid[64];
    request_id(p->v[0].raw, p->v[0].raw_len, rid);
    handle_response(ex, req, ((rapi_inst_t *)ctx)->in, rid);
}

static void h_error(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char rid[64];
    request_id(p->v[0].raw, p->v[0].raw_len, rid);
    handle_error(ex, req, ((rapi_inst_t *)ctx)->in, rid);
}

static void h_ping(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)ctx; (void)req; (void)p;
    static const char pong[] = "pong";
    http_respond(ex, 200, NULL, 0, pong, 4);
}

/* Logs and Telemetry subscriptions are not offered; answering 202 keeps
 * extensions that try them from crashing (as RIE does). */
static void h_logs_api(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)ctx; (void)req; (void)p;
    reply_json(ex, 202, "Logs.NotSupported", "Logs API is not supported");
}

static void h_telemetry(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)ctx; (void)req; (void)p;
    reply_json(ex, 202, "Telemetry.NotSupported", "Telemetry API is not supported");
}

static void h_not_found(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)ctx; (void)req; (void)p;
    not_found(ex);
}

/* Tencent SCF's variant (docs/design.md, "SCF runtime API"): no version
 * prefix, no request id in the answer's path. An SCF instance serves one
 * call at a time, so "the" call is its running one. */
static void h_scf_ready(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)req; (void)p;
    rapi_inst_t *st = ctx;
    instance_t *in = st->in;
    if (!st->init_ready) {
        st->init_ready = true;
        instance_seen(in);
        /* Ready with a slot to give; else its first /next makes it so
         * (ready without a slot would look like no capacity at all). */
        if (in->state == INST_STARTING && in->n_free) instance_ready(in);
    }
    reply_accepted(ex);
}

static void scf_answer(rapi_inst_t *st, http_exchange_t *ex, http_request_t *req, bool ok)
{
    call_t *c = instance_first_call(st->in);
    if (!c) { reply_json(ex, 400, "InvalidRequestID", "No invocation in progress"); return; }
    if (ok) handle_response(ex, req, st->in, c->request_id);
    else handle_error(ex, req, st->in, c->request_id);
}

static void h_scf_response(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)p;
    scf_answer(ctx, ex, req, true);
}

static void h_scf_error(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)p;
    scf_answer(ctx, ex, req, false);
}

/* The bodies read whole (/error, /init/error); /response bodies are read
 * as they come and capped by their call (see rstream_t). */
#define BODY_LIMIT (32u * 1024u * 1024u)

#define LAMBDA_ROWS \
    { "GET", "/2018-06-01/runtime/invocation/next", h_next, 0, 0 }, \
    { "POST", "/2018-06-01/runtime/init/error", h_init_error, 0, 0 }, \
    { "POST", "/2018-06-01/runtime/invocation/{id}/response", h_response, 0, 0 }, \
    { "POST", "/2018-06-01/runtime/invocation/{id}/error", h_error, 0, 0 }, \
    { "*", "/2018-06-01/ping", h_ping, 0, 0 }, \
    { "PUT", "/2020-08-15/logs", h_logs_api, 0, 0 }, \
    { "*", "/2020-08-15/logs", h_not_found, 0, 0 }, \
    { "PUT", "/2022-07-01/telemetry", h_telemetry, 0, 0 }, \
    { "*", "/2022-07-01/telemetry", h_not_found, 0, 0 }

static const route_t LAMBDA_ROUTES[] = { LAMBDA_ROWS };
static const route_t SCF_ROUTES[] = {
    LAMBDA_ROWS,
    { "POST", "/runtime/init/ready", h_scf_ready, 0, 0 },
    { "POST", "/runtime/init/error", h_init_error, 0, 0 },
    { "GET", "/runtime/invocation/next", h_next, 0, 0 },
    { "POST", "/runtime/invocation/response", h_scf_response, 0, 0 },
    { "POST", "/runtime/invocation/error", h_scf_error, 0, 0 },
};
static const route_table_t LAMBDA_TABLE = { LAMBDA_ROUTES, sizeof LAMBDA_ROUTES / sizeof LAMBDA_ROUTES[0],
                                            BODY_LIMIT };
static const route_table_t SCF_TABLE = { SCF_ROUTES, sizeof SCF_ROUTES / sizeof SCF_ROUTES[0], BODY_LIMIT };

static size_t body_limit(const http_request_t *req, void *arg)
{
    (void)req; (void)arg;
    return BODY_LIMIT;
}

static void handle(http_exchange_t *ex, http_request_t *req, void *arg)
{
    (void)arg;
    rapi_inst_t *st = req->listener_ctx;
    if (st->in->exited) { reply_json(ex, 500, "InternalServerError", "Internal Server Error"); return; }
    route_match_t m;
    route_params_t params;
    switch (route_match(st->scf ? &SCF_TABLE : &LAMBDA_TABLE, req->method, req->path, &m, &params)) {
    case ROUTE_MATCHED:
        m.route->handler(st, ex, req, &params);
        return;
    case ROUTE_BAD_PARAM: {
        /* An id that does not decode names no running call; ids are taken
         * as sent, so the answer is the one for an unknown id. */
        char rid[64];
        request_id(m.bad.raw, m.bad.raw_len, rid);
        if (m.route->handler == h_response) handle_response(ex, req, st->in, rid);
        else if (m.route->handler == h_error) handle_error(ex, req, st->in, rid);
        else not_found(ex);
        return;
    }
    case ROUTE_METHOD_NOT_ALLOWED:
        http_respond(ex, 405, NULL, 0, NULL, 0);
        return;
    case ROUTE_NOT_FOUND:
        not_found(ex);
        return;
    }
}

/* ---- the transport ---- */

static int attach(instance_t *in, err_t *err)
{
    rapi_t *api = in->tp->self;
    rapi_inst_t *st = calloc(1, sizeof *st);
    http_exchange_t **parked = calloc(in->capacity, sizeof *parked);
    if (!st || !parked) {
        free(st);
        free(parked);
        return err_set(err, ERR_SYS, "out of memory");
    }
    *st = (rapi_inst_t){ .api = api, .in = in, .scf = in->tp == &api->scf, .fd = in->proc.api_fd,
                         .parked = parked };
    /* The socket names the instance: a request's instance is known from
     * the socket it came through, never from anything the runtime says. */
    if (http_server_listen_fd(api->server, st->fd, st, err) < 0) {
        close(st->fd);
        in->proc.api_fd = -1;
        free(parked);
        free(st);
        return -1;
    }
    /* A runtime needs a connection per slot and one to answer on; a few
     * more for extensions. Past the cap it is refused: one instance must
     * not spend the daemon's descriptors. */
    http_server_cap_listener(api->server, st->fd, RAPI_CONNS_PER_INSTANCE + in->capacity);
    in->tp_state = st;
    return 0;
}

static void detach(instance_t *in)
{
    rapi_inst_t *st = in->tp_state;
    if (!st) return;
    /* Closes its runtime-API connections; the parked /next's abort sees
     * `exited` and does nothing. */
    st->n_parked = 0;
    http_server_unlisten(st->api->server, st->fd);
    in->proc.api_fd = -1;
    free(st->parked);
    free(st);
    in->tp_state = NULL;
}

/* Where an SCF function runs, in the variables SCF sets for it: the
 * region, and the account as its APPID and UIN. */
static int scf_prepare(instance_t *in, envlist_t *env, err_t *err)
{
    (void)in; (void)err;
    envlist_add(env, "TENCENTCLOUD_REGION", NIMBUS_REGION);
    envlist_add(env, "TENCENTCLOUD_APPID", NIMBUS_ACCOUNT);
    envlist_add(env, "TENCENTCLOUD_UIN", NIMBUS_ACCOUNT);
    return 0;
}

rapi_t *runtime_api_new(loop_t *loop, http_error_fn on_error, err_t *err)
{
    rapi_t *api = calloc(1, sizeof *api);
    if (!api) { err_set(err, ERR_SYS, "out of memory"); return NULL; }
    http_server_config_t cfg = { .on_request = handle, .arg = api, .body_limit = body_limit,
                                 .on_error = on_error, .stream_body = stream_body,
                                 /* a runtime may wait in /next for hours */
                                 .idle_timeout_ms = 24u * 3600u * 1000u };
    if (!(api->server = http_server_new(loop, &cfg, err))) { free(api); return NULL; }
    api->lambda = (transport_t){ .name = "lambda", .self = api, .attach = attach, .deliver = deliver,
                                 .detach = detach };
    api->scf = api->lambda;
    api->scf.name = "scf";
    api->scf.prepare = scf_prepare;
    return api;
}

void runtime_api_free(rapi_t *api)
{
    if (!api) return;
    http_server_free(api->server);
    free(api);
}

const transport_t *runtime_api_lambda(rapi_t *api) { return &api->lambda; }
const transport_t *runtime_api_scf(rapi_t *api) { return &api->scf; }
