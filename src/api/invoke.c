/* invoke.c — the Invoke API (POST /2015-03-31/functions/{name}/invocations,
 * and the legacy POST /2014-11-13/functions/{name}/invoke-async/): the
 * request checked as Lambda checks it; a synchronous call made and
 * submitted, its outcome written as Lambda's answer; an asynchronous one
 * (InvocationType Event, FC's x-fc-invocation-type: Async) handed to the
 * async queue and answered 202 once the event is durable.
 *
 * Owns the caller's exchange for as long as the call (or the accept) runs.
 * Must never: answer twice, answer a caller that went away, or say 202
 * before the queue store has the event.
 */
#include "api/invoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "base/json.h"
#include "base/util.h"
#include "core/call.h"

#define LOG_TAIL_BYTES 4096u

/* The call's outcome, as Lambda answers it. */
static void answer(call_t *c, const call_result_t *res)
{
    http_exchange_t *ex = c->owner;
    c->owner = NULL;
    if (!ex) return;
    if (res->outcome == CALL_REJECTED) {
        api_respond_error(ex, res->status, res->error_type, "%s", res->message);
        return;
    }
    if (res->outcome == CALL_THROTTLED) {
        api_respond_throttled(ex, res->reason);
        return;
    }
    http_header_t h[6];
    size_t n = 0;
    /* Lambda's Invoke answers application/json whatever the runtime posted
     * (a function URL keeps the function's own: url_serve.c). */
    h[n++] = (http_header_t){ "Content-Type", "application/json" };
    h[n++] = (http_header_t){ "X-Amz-Executed-Version", c->fn->cfg.version };
    h[n++] = (http_header_t){ "x-amzn-RequestId", c->request_id };
    if (res->outcome == CALL_FUNCTION_ERROR) h[n++] = (http_header_t){ "X-Amz-Function-Error", "Unhandled" };
    char *tail = NULL;
    if (c->log_tail) {
        size_t len;
        const char *t = call_log_tail(c, LOG_TAIL_BYTES, &len);
        tail = util_base64_encode(t, len, NULL);
        h[n++] = (http_header_t){ "X-Amz-Log-Result", tail };
    }
    http_respond(ex, 200, h, n, res->body, res->len);
    free(tail);
}

static void caller_gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    call_t *c = arg;
    c->owner = NULL;
    call_abandon(c);
}


/* ---- asynchronous: the event handed to the queue ---- */

#define IDEMPOTENCY_HEADER "X-Nimbus-Idempotency-Key"
#define IDEMPOTENCY_MAX 128

typedef struct {
    http_exchange_t *ex;       /* NULL once the caller went away */
    bool legacy;               /* InvokeAsync: {"Status":202} */
    char name[65];
    char qualifier[140];
    char key[IDEMPOTENCY_MAX + 1];
} accept_t;

static void accept_gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((accept_t *)arg)->ex = NULL;
}

static void accepted(void *arg, const err_t *err, const char *request_id, bool duplicate)
{
    (void)duplicate;   /* the first event's id is the answer either way */
    accept_t *a = arg;
    http_exchange_t *ex = a->ex;
    if (!ex) {
        free(a);
        return;
    }
    if (err && err->code == ERR_TOO_LARGE) {
        api_respond_error(ex, 413, "RequestEntityTooLargeException", "%s", err->msg);
    } else if (err && err->code == ERR_NOT_FOUND) {
        api_respond_not_found(ex, a->name, a->qualifier[0] ? a->qualifier : NULL);
    } else if (err) {
        /* Not durable, so not accepted: never a 202. */
        api_respond_error(ex, 500, "ServiceException", "The event could not be queued: %s", err->msg);
    } else {
        http_header_t h[] = { { "x-amzn-RequestId", request_id }, { "Content-Type", "application/json" } };
        static const char status[] = "{\"Status\":202}";
        if (a->legacy) http_respond(ex, 202, h, 2, status, sizeof status - 1);
        else http_respond(ex, 202, h, 1, NULL, 0);
    }
    free(a);
}

static void invoke_async(api_t *d, http_exchange_t *ex, http_request_t *req, const char *name, const char *qual,
                         bool legacy)
{
    if (!d->async) {
        api_respond_error(ex, 503, "ServiceException", "The async queue is not running");
        return;
    }
    if (req->body_len > d->cfg.async_max_bytes) {
        api_respond_error(ex, 413, "RequestEntityTooLargeException",
                          "Request must be smaller than %zu bytes for the %s operation", d->cfg.async_max_bytes,
                          legacy ? "InvokeAsync" : "InvokeFunction");
        return;
    }
    const char *key = http_request_header(req, IDEMPOTENCY_HEADER);
    if (key && strlen(key) > IDEMPOTENCY_MAX) {
        api_respond_error(ex, 400, "InvalidParameterValueException", "%s must be at most %d characters",
                          IDEMPOTENCY_HEADER, IDEMPOTENCY_MAX);
        return;
    }
    if (d->core->stopping) {
        api_respond_error(ex, 503, "ServiceException", "Nimbus is shutting down");
        return;
    }
    accept_t *a = calloc(1, sizeof *a);
    if (!a) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    a->ex = ex;
    a->legacy = legacy;
    util_copy(a->name, sizeof a->name, name);
    util_copy(a->qualifier, sizeof a->qualifier, qual);
    util_copy(a->key, sizeof a->key, key ? key : "");
    http_exchange_on_abort(ex, accept_gone, a);
    /* Its strings live until the answer; the payload is copied by the queue. */
    async_event_t ev = { .function = a->name, .qualifier = a->qualifier,
                         .payload = req->body_len ? req->body : NULL, .payload_len = req->body_len,
                         .idempotency_key = a->key, .origin = "invoke" };
    async_accept(d->async, &ev, accepted, a);
}

/* ---- the Invoke API ---- */

int invoke_parse(api_t *d, http_exchange_t *ex, const char *path_name, const char *qualifier, invoke_kind_t kind,
                 invoke_req_t *r)
{
    http_request_t *req = http_exchange_request(ex);
    memset(r, 0, sizeof *r);
    if (function_name_parse(path_name, r->name, sizeof r->name, r->qual, sizeof r->qual) < 0) {
        api_respond_error(ex, 400, "ValidationException",
                             "1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
                             path_name);
        return -1;
    }
    if (qualifier && *qualifier) {
        if (r->qual[0] && strcmp(r->qual, qualifier) != 0) {
            api_respond_error(ex, 400, "InvalidParameterValueException",
                                 "The derived qualifier from the function name does not match the specified qualifier.");
            return -1;
        }
        util_copy(r->qual, sizeof r->qual, qualifier);
    }
    router_fn_t *latest = router_find(d->router, r->name);
    /* A version, or an alias's (weighted) pick of one. */
    r->fn = latest ? router_resolve(d->router, latest, r->qual) : NULL;
    if (!r->fn) {
        api_respond_not_found(ex, r->name, r->qual[0] ? r->qual : NULL);
        return -1;
    }
    const char *type = kind == INVOKE_LEGACY_ASYNC ? "Event" : http_request_header(req, "X-Amz-Invocation-Type");
    const char *fc = kind == INVOKE_API ? http_request_header(req, "x-fc-invocation-type") : NULL;
    if (!type && fc) type = strcasecmp(fc, "Async") == 0 ? "Event" : strcasecmp(fc, "Sync") == 0 ? "RequestResponse" : fc;
    if (!type) type = "RequestResponse";
    r->event = strcmp(type, "Event") == 0;
    r->dry_run = strcmp(type, "DryRun") == 0;
    /* InvokeWithResponseStream has no Event. */
    bool stream = kind == INVOKE_STREAM;
    if ((r->event && stream) || (!r->event && !r->dry_run && strcmp(type, "RequestResponse") != 0)) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                             "1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
                             type, stream ? "RequestResponse, DryRun" : "Event, RequestResponse, DryRun");
        return -1;
    }
    if (!r->event && req->body_len > d->cfg.invoke_max_bytes) {
        api_respond_error(ex, 413, "RequestEntityTooLargeException",
                             "Request must be smaller than %zu bytes for the %s operation",
                             d->cfg.invoke_max_bytes, stream ? "InvokeWithResponseStream" : "InvokeFunction");
        return -1;
    }
    if (req->body_len) {
        err_t pe = { 0 };
        cJSON *doc = json_parse_document(req->body, req->body_len, &pe);
        if (!doc) {
            api_respond_error(ex, 400, "InvalidRequestContentException",
                                 "Could not parse request body into json: Could not parse payload into json: %s", pe.msg);
            return -1;
        }
        cJSON_Delete(doc);
    }
    const char *cc = http_request_header(req, "X-Amz-Client-Context");
    if (cc && *cc) {
        size_t cl;
        r->client_context = util_base64_decode(cc, strlen(cc), &cl, NULL);
        if (!r->client_context) {
            api_respond_error(ex, 400, "InvalidRequestContentException",
                                 "Client context must be a valid Base64-encoded JSON object.");
            return -1;
        }
    }
    if (r->dry_run) {
        invoke_req_free(r);
        api_respond_empty(ex, 204);
        return -1;
    }
    return 0;
}

void invoke_req_free(invoke_req_t *r)
{
    free(r->client_context);
    r->client_context = NULL;
}

call_t *invoke_call(api_t *d, http_exchange_t *ex, invoke_req_t *r)
{
    http_request_t *req = http_exchange_request(ex);
    if (d->core->stopping) {
        invoke_req_free(r);
        api_respond_error(ex, 503, "ServiceException", "Nimbus is shutting down");
        return NULL;
    }
    const char *refused = router_refuse_reason(d->router, r->fn);
    if (refused) {
        /* Throttled outright: nothing may run, or the wait line is full. */
        metrics_call_refused(d->router, r->fn);
        invoke_req_free(r);
        api_respond_throttled(ex, refused);
        return NULL;
    }
    call_t *c = call_new(d->router, r->fn);
    if (!c) {
        invoke_req_free(r);
        api_respond_error(ex, 500, "ServiceException", "out of memory");
        return NULL;
    }
    util_copy(c->qualifier, sizeof c->qualifier, r->qual);
    c->client_context = r->client_context;
    r->client_context = NULL;
    const char *lt = http_request_header(req, "X-Amz-Log-Type");
    c->log_tail = lt && strcmp(lt, "Tail") == 0;
    if (req->body_len) c->payload = http_request_take_body(ex, &c->payload_len);
    return c;
}

static void handle(api_t *d, http_exchange_t *ex, const char *path_name, const char *qualifier, bool legacy)
{
    invoke_req_t r;
    if (invoke_parse(d, ex, path_name, qualifier, legacy ? INVOKE_LEGACY_ASYNC : INVOKE_API, &r) < 0) return;
    if (r.event) {
        /* Lambda passes ClientContext to synchronous calls only. */
        invoke_req_free(&r);
        invoke_async(d, ex, http_exchange_request(ex), r.name, r.qual, legacy);
        return;
    }
    call_t *c = invoke_call(d, ex, &r);
    if (!c) return;
    c->done = answer;
    c->owner = ex;
    http_exchange_on_abort(ex, caller_gone, c);
    call_submit(c);
}

void invoke_handle(api_t *d, http_exchange_t *ex, const char *name, const char *qualifier)
{
    handle(d, ex, name, qualifier, false);
}

void invoke_handle_legacy_async(api_t *d, http_exchange_t *ex, const char *name)
{
    handle(d, ex, name, NULL, true);
}
