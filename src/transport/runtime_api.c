/* runtime_api.c — the Lambda Runtime API, as each instance sees it on its
 * own socket: /next (long poll), /response, /error, /init/error, with the
 * codes and bodies of lambda-api.md §1.7.
 *
 * Owns nothing long-lived: it moves instances through their states and ends
 * calls through invoke.c. Must never: accept an answer for a call that is
 * not the instance's current one, or let an instance on replaced code take
 * a new call.
 */
#include "transport/runtime_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/logs.h"
#include "core/router.h"
#include "core/runtime.h"

#define RESPONSE_MAX 6291556u   /* 6 MiB + 100, as Lambda's RAPID */

static const http_header_t JSON_CT[] = { { "Content-Type", "application/json" } };

static void reply_json(http_exchange_t *ex, int status, const char *type, const char *msg)
{
    char body[512];
    int n = snprintf(body, sizeof body, "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}\n", msg, type);
    http_respond(ex, status, JSON_CT, 1, body, (size_t)n);
}

static void reply_accepted(http_exchange_t *ex)
{
    static const char ok[] = "{\"status\":\"OK\"}\n";
    http_respond(ex, 202, JSON_CT, 1, ok, sizeof ok - 1);
}

void runtime_api_send_event(instance_t *in, call_t *c, http_exchange_t *ex)
{
    router_fn_t *fn = in->fn;
    char deadline[32], arn[200];
    snprintf(deadline, sizeof deadline, "%llu", (unsigned long long)c->deadline_wall_ms);
    function_arn(fn->cfg.name, c->qualifier[0] ? c->qualifier : NULL, arn, sizeof arn);
    http_header_t h[7];
    size_t n = 0;
    h[n++] = (http_header_t){ "Content-Type", "application/json" };
    h[n++] = (http_header_t){ "Lambda-Runtime-Aws-Request-Id", c->request_id };
    h[n++] = (http_header_t){ "Lambda-Runtime-Deadline-Ms", deadline };
    h[n++] = (http_header_t){ "Lambda-Runtime-Invoked-Function-Arn", arn };
    h[n++] = (http_header_t){ "Lambda-Runtime-Trace-Id", c->trace_id };
    if (c->client_context) h[n++] = (http_header_t){ "Lambda-Runtime-Client-Context", c->client_context };
    if (in->rt->api == RUNTIME_API_SCF) h[n++] = (http_header_t){ "Request_Id", c->request_id };
    http_respond(ex, 200, h, n, c->payload, c->payload_len);
}

static void handle_next(daemon_t *d, http_exchange_t *ex, instance_t *in)
{
    if (in->capacity == 1 && in->n_busy == 1) {
        /* /next again before answering: the same event again (RIE and SCF
         * both do this). */
        runtime_api_send_event(in, list_entry(in->calls.next, call_t, inst_link), ex);
        return;
    }
    if (in->n_parked + in->n_busy >= in->capacity) {
        reply_json(ex, 403, "InvalidStateTransition",
                   "State transition from Ready to Ready failed for runtime. Error: more /next requests than InstanceConcurrency");
        return;
    }
    /* Parked even when stopping, so the exchange ends with the instance.
     * Parked before the instance is declared ready, so the scheduler sees
     * this free slot and does not start another instance for the call
     * that is waiting for it. */
    instance_park(d->router, in, ex);
    in->ready_seen = true;
    /* SCF runtimes say when they are ready; no event before that. */
    if (in->state == INST_STARTING && (in->rt->api != RUNTIME_API_SCF || in->init_ready))
        instance_ready(d->router, in);
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

static char *error_doc(const char *type, const char *msg, size_t *len)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "errorType", type);
    cJSON_AddStringToObject(o, "errorMessage", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    *len = strlen(s);
    return s;
}

static void handle_response(daemon_t *d, http_exchange_t *ex, http_request_t *req, instance_t *in,
                            const char *id)
{
    call_t *c = current_call(ex, in, id, "InvocationResponse");
    if (!c) return;
    const char *mode = http_request_header(req, "Lambda-Runtime-Function-Response-Mode");
    if (mode && strcasecmp(mode, "streaming") != 0) {
        reply_json(ex, 400, "InvalidFunctionResponseMode", "Invalid function response mode");
        call_answered(in, c);
        invoke_fail(d->router, c, "Runtime.InvalidResponseModeHeader", "Invalid function response mode");
        return;
    }
    if (req->body_len > RESPONSE_MAX) {
        char msg[160];
        snprintf(msg, sizeof msg, "Exceeded maximum allowed payload size (%u bytes).", RESPONSE_MAX);
        reply_json(ex, 413, "RequestEntityTooLarge", msg);
        snprintf(msg, sizeof msg,
                 "Response payload size (%zu bytes) exceeded maximum allowed payload size (%u bytes).",
                 req->body_len, RESPONSE_MAX);
        size_t len;
        char *doc = error_doc("Function.ResponseSizeTooLarge", msg, &len);
        call_answered(in, c);
        invoke_fail_function(d->router, c, doc, len);
        free(doc);
        return;
    }
    /* A streamed response that failed midway says so in its trailers. */
    const char *etype = http_request_trailer(req, "Lambda-Runtime-Function-Error-Type");
    if (etype) {
        const char *eb = http_request_trailer(req, "Lambda-Runtime-Function-Error-Body");
        size_t len = 0;
        char *doc = eb ? util_base64_decode(eb, strlen(eb), &len, NULL) : NULL;
        if (!doc) doc = error_doc(etype, "streamed response failed", &len);
        call_answered(in, c);
        invoke_fail_function(d->router, c, doc, len);
        free(doc);
        reply_accepted(ex);
        return;
    }
    const char *ct = http_request_header(req, "Content-Type");
    call_answered(in, c);
    /* The caller is waiting: answer it before the runtime. */
    invoke_complete(d->router, c, req->body, req->body_len, ct);
    reply_accepted(ex);
}

/* Remove "errorCause" from an error.cause+json document (lambda-api.md
 * §1.5); NULL if it is not a JSON object. */
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

static void handle_error(daemon_t *d, http_exchange_t *ex, http_request_t *req, instance_t *in,
                         const char *id)
{
    call_t *c = current_call(ex, in, id, "InvocationErrorResponse");
    if (!c) return;
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
    invoke_fail_function(d->router, c, doc ? doc : req->body, len);
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
    in->init_error = true;
    snprintf(in->init_error_type, sizeof in->init_error_type, "%s", etype ? etype : "Runtime.Unknown");
    free(in->init_error_body);
    in->init_error_body = NULL;
    in->init_error_len = 0;
    if (req->body_len) {
        in->init_error_body = http_request_take_body(ex, &in->init_error_len);
    } else {
        in->init_error_body = error_doc(in->init_error_type, "Runtime failed to initialise", &in->init_error_len);
    }
    reply_accepted(ex);
}

static void not_found(http_exchange_t *ex);
static void method_not_allowed(http_exchange_t *ex);

/* Tencent SCF's custom-runtime API: no version prefix, no request id in
 * the answer's path (lambda-api.md §5). An SCF instance serves one call at
 * a time, so "the" call is its running one. */
static void handle_scf(daemon_t *d, http_exchange_t *ex, http_request_t *req, instance_t *in,
                       const char *rest, bool get, bool post)
{
    if (strcmp(rest, "init/ready") == 0) {
        if (!post) { method_not_allowed(ex); return; }
        if (!in->init_ready) {
            in->init_ready = true;
            in->ready_seen = true;
            /* Ready with a slot to give; else its first /next makes it so
             * (ready without a slot would look like no capacity at all). */
            if (in->state == INST_STARTING && in->n_parked) instance_ready(d->router, in);
        }
        reply_accepted(ex);
        return;
    }
    if (strcmp(rest, "init/error") == 0) {
        if (!post) { method_not_allowed(ex); return; }
        handle_init_error(ex, req, in);
        return;
    }
    if (strcmp(rest, "invocation/next") == 0) {
        if (!get) { method_not_allowed(ex); return; }
        handle_next(d, ex, in);
        return;
    }
    bool resp = strcmp(rest, "invocation/response") == 0, error = strcmp(rest, "invocation/error") == 0;
    if (resp || error) {
        if (!post) { method_not_allowed(ex); return; }
        call_t *c = in->n_busy ? list_entry(in->calls.next, call_t, inst_link) : NULL;
        if (!c) { reply_json(ex, 400, "InvalidRequestID", "No invocation in progress"); return; }
        if (resp) handle_response(d, ex, req, in, c->request_id);
        else handle_error(d, ex, req, in, c->request_id);
        return;
    }
    not_found(ex);
}

size_t runtime_api_body_limit(const http_request_t *req, void *arg)
{
    (void)req; (void)arg;
    /* Room above RESPONSE_MAX so an oversized answer reaches the handler and
     * the caller learns why (Function.ResponseSizeTooLarge). */
    return 32u * 1024u * 1024u;
}

static void not_found(http_exchange_t *ex)
{
    static const http_header_t h[] = { { "Content-Type", "text/plain; charset=utf-8" } };
    static const char body[] = "404 page not found\n";
    http_respond(ex, 404, h, 1, body, sizeof body - 1);
}

static void method_not_allowed(http_exchange_t *ex)
{
    http_respond(ex, 405, NULL, 0, NULL, 0);
}

void runtime_api_handle(http_exchange_t *ex, http_request_t *req, void *arg)
{
    daemon_t *d = arg;
    instance_t *in = req->listener_ctx;
    const char *p = req->path;
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    static const char pre[] = "/2018-06-01/runtime/";
    if (in->exited) { reply_json(ex, 500, "InternalServerError", "Internal Server Error"); return; }

    if (strncmp(p, pre, sizeof pre - 1) == 0) {
        const char *rest = p + sizeof pre - 1;
        if (strcmp(rest, "invocation/next") == 0) {
            if (!get) { method_not_allowed(ex); return; }
            handle_next(d, ex, in);
            return;
        }
        if (strcmp(rest, "init/error") == 0) {
            if (!post) { method_not_allowed(ex); return; }
            handle_init_error(ex, req, in);
            return;
        }
        if (strncmp(rest, "invocation/", 11) == 0) {
            const char *id = rest + 11, *slash = strchr(id, '/');
            if (slash && !strchr(slash + 1, '/') &&
                (strcmp(slash + 1, "response") == 0 || strcmp(slash + 1, "error") == 0)) {
                if (!post) { method_not_allowed(ex); return; }
                char rid[64];
                size_t n = (size_t)(slash - id);
                if (n >= sizeof rid) n = 0;
                memcpy(rid, id, n);
                rid[n] = '\0';
                if (slash[1] == 'r') handle_response(d, ex, req, in, rid);
                else handle_error(d, ex, req, in, rid);
                return;
            }
        }
        not_found(ex);
        return;
    }
    if (in->rt->api == RUNTIME_API_SCF && strncmp(p, "/runtime/", 9) == 0) {
        handle_scf(d, ex, req, in, p + 9, get, post);
        return;
    }
    if (strcmp(p, "/2018-06-01/ping") == 0) {
        static const char pong[] = "pong";
        http_respond(ex, 200, NULL, 0, pong, 4);
        return;
    }
    /* Logs and Telemetry subscriptions are not offered; answering 202 keeps
     * extensions that try them from crashing (as RIE does). */
    if (strcmp(p, "/2020-08-15/logs") == 0 && strcmp(req->method, "PUT") == 0) {
        reply_json(ex, 202, "Logs.NotSupported", "Logs API is not supported");
        return;
    }
    if (strcmp(p, "/2022-07-01/telemetry") == 0 && strcmp(req->method, "PUT") == 0) {
        reply_json(ex, 202, "Telemetry.NotSupported", "Telemetry API is not supported");
        return;
    }
    not_found(ex);
}
