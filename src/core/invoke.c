/* invoke.c — the Invoke API and the life of a call: deadline, START / END
 * / REPORT, the answer to the caller.
 *
 * Owns call_t objects from the request until the answer. The deadline is
 * fixed when the request arrives and covers waiting for an instance too
 * (DESIGN decision 7). Must never: answer a call twice, keep an instance
 * whose call timed out, or report a figure it did not measure.
 */
#include "core/invoke.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/instance.h"
#include "core/logs.h"
#include "sandbox/sandbox.h"

#define LOG_TAIL_BYTES 4096u
#define LOG_KEEP_BYTES (64u * 1024u)  /* a call's own log kept for the tail */

static void throttle(router_t *r, call_t *c, const char *reason);

static void call_free(router_t *r, call_t *c)
{
    loop_timer_cancel(router_daemon(r)->loop, c->timer);
    loop_timer_cancel(router_daemon(r)->loop, c->throttle_timer);
    free(c->payload);
    free(c->client_context);
    buf_free(&c->log);
    router_fn_unref(r, c->fn);
    free(c);
}

void invoke_log(router_t *r, call_t *c, const char *line, size_t len)
{
    logs_emit(router_daemon(r)->logs, c->fn->cfg.name, c->request_id, line, len);
    if (!c->log_tail) return;
    /* Keep only a bounded tail: drop the oldest half when over. */
    if (c->log.len + len + 1 > LOG_KEEP_BYTES && c->log.len > LOG_KEEP_BYTES / 2) {
        size_t drop = c->log.len - LOG_KEEP_BYTES / 2;
        memmove(c->log.data, c->log.data + drop, c->log.len - drop);
        c->log.len -= drop;
    }
    buf_append(&c->log, line, len);
    buf_append(&c->log, "\n", 1);
}

static void log_printf(router_t *r, call_t *c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void log_printf(router_t *r, call_t *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    invoke_log(r, c, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void invoke_started(router_t *r, call_t *c, instance_t *in)
{
    c->state = CALL_RUNNING;
    c->inst = in;
    c->start_ns = loop_now_ns();
    loop_timer_cancel(router_daemon(r)->loop, c->throttle_timer);
    c->throttle_timer = NULL;
    router_call_started(r, c->fn);
    sandbox_memory_reset(&in->proc);
    log_printf(r, c, "START RequestId: %s Version: %s", c->request_id, c->fn->cfg.version);
}

/* END and REPORT, for a call that reached an instance. */
static void write_report(router_t *r, call_t *c, const char *status)
{
    if (c->state != CALL_RUNNING) return;
    instance_t *in = c->inst;
    /* Its output was read when it answered, timed out or exited. */
    double ms = (double)(loop_now_ns() - c->start_ns) / 1e6;
    double init_ms = c->cold ? (double)c->init_ns / 1e6 : 0;
    /* Custom runtimes are billed for init too, rounded up to the ms. */
    long billed = (long)ceil(ms + init_ms);
    if (billed < 1) billed = 1;
    int64_t peak = in ? sandbox_memory_peak(&in->proc) : -1;
    char mem[48] = "";
    if (peak >= 0) snprintf(mem, sizeof mem, "\tMax Memory Used: %lld MB",
                            (long long)((peak + 1048575) / 1048576));
    char init[48] = "";
    if (c->cold) snprintf(init, sizeof init, "\tInit Duration: %.2f ms", init_ms);
    char st[48] = "";
    if (status) snprintf(st, sizeof st, "\tStatus: %s", status);
    /* Said in every report, not just at start-up: these numbers come from
     * an instance with no isolation. */
    if (!sandbox_enabled()) snprintf(st + strlen(st), sizeof st - strlen(st), "\t(unsandboxed)");
    log_printf(r, c, "END RequestId: %s", c->request_id);
    log_printf(r, c, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %ld ms\tMemory Size: %d MB%s%s%s",
               c->request_id, ms, billed, c->fn->cfg.memory_mb, mem, init, st);
}

/* Answer the caller (if still there) and free the call. */
static void finish(router_t *r, call_t *c, const char *body, size_t len, const char *ctype,
                   bool function_error)
{
    if (c->state == CALL_QUEUED && list_linked(&c->link)) {
        list_remove(&c->link);
        c->fn->n_queued--;
    }
    if (c->transport_end) c->transport_end(c);
    if (c->inst && list_linked(&c->inst_link)) {
        list_remove(&c->inst_link);
        c->inst->n_busy--;
    }
    if (c->ex) {
        http_header_t h[6];
        size_t n = 0;
        h[n++] = (http_header_t){ "Content-Type", ctype ? ctype : "application/json" };
        h[n++] = (http_header_t){ "X-Amz-Executed-Version", c->fn->cfg.version };
        h[n++] = (http_header_t){ "x-amzn-RequestId", c->request_id };
        if (function_error) h[n++] = (http_header_t){ "X-Amz-Function-Error", "Unhandled" };
        char *tail = NULL;
        if (c->log_tail) {
            size_t off = c->log.len > LOG_TAIL_BYTES ? c->log.len - LOG_TAIL_BYTES : 0;
            tail = util_base64_encode(c->log.data ? c->log.data + off : "", c->log.len - off, NULL);
            h[n++] = (http_header_t){ "X-Amz-Log-Result", tail };
        }
        http_respond(c->ex, 200, h, n, body, len);
        free(tail);
    }
    bool was_running = c->state == CALL_RUNNING;
    router_fn_t *fn = c->fn;
    router_fn_ref(fn);
    c->state = CALL_DONE;
    call_free(r, c);
    /* Last: it may hand the freed concurrency to a waiting call. */
    if (was_running) router_call_ended(r, fn);
    router_fn_unref(r, fn);
}

void invoke_complete(router_t *r, call_t *c, const char *body, size_t len, const char *content_type)
{
    write_report(r, c, NULL);
    finish(r, c, body, len, content_type, false);
}

void invoke_fail_function(router_t *r, call_t *c, const char *body, size_t len)
{
    write_report(r, c, "error");
    finish(r, c, body, len, "application/json", true);
}

void invoke_fail(router_t *r, call_t *c, const char *type, const char *fmt, ...)
{
    char msg[600], full[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "RequestId: %s Error: %s", c->request_id, msg);
    invoke_log(r, c, full, strlen(full));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "errorType", type);
    cJSON_AddStringToObject(o, "errorMessage", full);
    char *doc = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    const char *status = strcmp(type, "Sandbox.Timedout") == 0 ? "timeout" : "error";
    write_report(r, c, status);
    finish(r, c, doc, strlen(doc), "application/json", true);
    free(doc);
}

void invoke_reject(router_t *r, call_t *c, int status, const char *type, const char *msg)
{
    write_report(r, c, "error");
    if (c->ex) {
        daemon_respond_error(c->ex, status, type, "%s", msg);
        c->ex = NULL;
    }
    finish(r, c, NULL, 0, NULL, false);
}

static void deadline_cb(loop_t *l, void *arg)
{
    (void)l;
    call_t *c = arg;
    router_t *r = c->router;
    c->timer = NULL;
    if (c->state == CALL_QUEUED) {
        /* Never reached an instance: held back by a limit, that is a 429. */
        const char *reason = router_throttle_reason(r, c->fn);
        if (reason) { throttle(r, c, reason); return; }
    }
    instance_t *in = c->state == CALL_RUNNING ? c->inst : NULL;
    if (in) {
        /* The instance may be mid-handler: its state cannot be trusted, so
         * it ends with the call (never reused). Other calls it was running
         * end with it (Runtime.ExitError). */
        instance_drain_output(r, in);   /* its output so far is this call's */
        list_remove(&c->inst_link);
        in->n_busy--;
        instance_kill(r, in);
    }
    invoke_fail(r, c, "Sandbox.Timedout", "Task timed out after %d.00 seconds", c->fn->cfg.timeout_s);
}

/* Lambda's throttle answer: 429 TooManyRequestsException with its Reason
 * and Retry-After. The call never ran. */
static void respond_throttled(http_exchange_t *ex, const char *reason)
{
    char rid[37];
    util_uuid4(rid);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Type", "User");
    cJSON_AddStringToObject(o, "message", "Rate Exceeded.");
    cJSON_AddStringToObject(o, "Reason", reason);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    http_header_t h[] = { { "Content-Type", "application/json" },
                          { "x-amzn-ErrorType", "TooManyRequestsException" },
                          { "x-amzn-RequestId", rid }, { "Retry-After", "1" } };
    http_respond_owned(ex, 429, h, 4, body, strlen(body));
}

static void throttle(router_t *r, call_t *c, const char *reason)
{
    if (c->ex) {
        respond_throttled(c->ex, reason);
        c->ex = NULL;
    }
    finish(r, c, NULL, 0, NULL, false);
}

static void throttle_cb(loop_t *l, void *arg)
{
    (void)l;
    call_t *c = arg;
    c->throttle_timer = NULL;
    if (c->state != CALL_QUEUED) return;
    const char *reason = router_throttle_reason(c->router, c->fn);
    /* Not over a limit, only waiting for an instance that is starting: it
     * keeps waiting, up to its own deadline. */
    if (reason) throttle(c->router, c, reason);
}

static void caller_gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    call_t *c = arg;
    c->ex = NULL;
    /* Not started yet: nobody wants it any more. Running: let it finish so
     * the instance stays consistent; its answer goes nowhere. */
    if (c->state == CALL_QUEUED) finish(c->router, c, NULL, 0, NULL, false);
}

/* Split the Invoke path's name into function name and qualifier. Accepts
 * name, name:qualifier, arn:aws:lambda:region:account:function:name[:q],
 * account:function:name[:q] (lambda-api.md §3.1). */
static int parse_function_name(const char *in, char *name, size_t nn, char *qual, size_t qn)
{
    const char *p = in;
    const char *fn = strstr(in, "function:");
    if (fn && (strncmp(in, "arn:", 4) == 0 || (fn - in == 13 && in[12] == ':'))) p = fn + 9;
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    if (len == 0 || len >= nn) return -1;
    memcpy(name, p, len);
    name[len] = '\0';
    qual[0] = '\0';
    if (colon) {
        if (strlen(colon + 1) >= qn || !colon[1]) return -1;
        snprintf(qual, qn, "%s", colon + 1);
    }
    return function_name_valid(name) ? 0 : -1;
}

static void make_trace_id(char *out, size_t n)
{
    char u[37], v[37];
    util_uuid4(u);
    util_uuid4(v);
    /* Root=1-<8 hex epoch seconds>-<24 hex>;Parent=<16 hex>;Sampled=0 */
    char r24[25], p16[17];
    size_t k = 0;
    for (size_t i = 0; u[i] && k < 24; i++) if (u[i] != '-') r24[k++] = u[i];
    r24[k] = '\0';
    k = 0;
    for (size_t i = 0; v[i] && k < 16; i++) if (v[i] != '-') p16[k++] = v[i];
    p16[k] = '\0';
    snprintf(out, n, "Root=1-%08llx-%s;Parent=%s;Sampled=0",
             (unsigned long long)(loop_wall_ms() / 1000), r24, p16);
}

void invoke_handle(daemon_t *d, http_exchange_t *ex, const char *path_name, const char *qualifier)
{
    http_request_t *req = http_exchange_request(ex);
    char name[180], qual[140];
    if (parse_function_name(path_name, name, sizeof name, qual, sizeof qual) < 0) {
        daemon_respond_error(ex, 400, "ValidationException",
                             "1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
                             path_name);
        return;
    }
    if (qualifier && *qualifier) {
        if (qual[0] && strcmp(qual, qualifier) != 0) {
            daemon_respond_error(ex, 400, "InvalidParameterValueException",
                                 "The derived qualifier from the function name does not match the specified qualifier.");
            return;
        }
        snprintf(qual, sizeof qual, "%s", qualifier);
    }
    router_fn_t *latest = router_find(d->router, name);
    /* A version, or an alias's (weighted) pick of one. */
    router_fn_t *fn = latest ? router_resolve(d->router, latest, qual) : NULL;
    if (!fn) {
        daemon_respond_not_found(ex, name, qual[0] ? qual : NULL);
        return;
    }
    const char *type = http_request_header(req, "X-Amz-Invocation-Type");
    const char *fc = http_request_header(req, "x-fc-invocation-type");
    if (!type && fc) type = strcasecmp(fc, "Async") == 0 ? "Event" : strcasecmp(fc, "Sync") == 0 ? "RequestResponse" : fc;
    if (!type) type = "RequestResponse";
    if (strcmp(type, "Event") == 0) {
        daemon_respond_error(ex, 400, "InvalidParameterValueException",
                             "InvocationType Event is not supported by this Nimbus build yet; use RequestResponse");
        return;
    }
    if (strcmp(type, "RequestResponse") != 0 && strcmp(type, "DryRun") != 0) {
        daemon_respond_error(ex, 400, "InvalidParameterValueException",
                             "1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]",
                             type);
        return;
    }
    if (req->body_len > d->cfg.invoke_max_bytes) {
        daemon_respond_error(ex, 413, "RequestEntityTooLargeException",
                             "Request must be smaller than %zu bytes for the InvokeFunction operation",
                             d->cfg.invoke_max_bytes);
        return;
    }
    if (req->body_len) {
        cJSON *doc = cJSON_ParseWithLength(req->body, req->body_len);
        if (!doc) {
            daemon_respond_error(ex, 400, "InvalidRequestContentException",
                                 "Could not parse request body into json: Could not parse payload into json");
            return;
        }
        cJSON_Delete(doc);
    }
    char *client_context = NULL;
    const char *cc = http_request_header(req, "X-Amz-Client-Context");
    if (cc && *cc) {
        size_t cl;
        client_context = util_base64_decode(cc, strlen(cc), &cl, NULL);
        if (!client_context) {
            daemon_respond_error(ex, 400, "InvalidRequestContentException",
                                 "Client context must be a valid Base64-encoded JSON object.");
            return;
        }
    }
    if (strcmp(type, "DryRun") == 0) {
        free(client_context);
        http_respond(ex, 204, NULL, 0, NULL, 0);
        return;
    }
    if (d->stopping) {
        free(client_context);
        daemon_respond_error(ex, 503, "ServiceException", "Nimbus is shutting down");
        return;
    }

    if (fn->cfg.reserved_concurrency == 0 || fn->n_queued >= (unsigned)d->cfg.max_queue) {
        /* Throttled outright: nothing may run, or the wait line is full. */
        free(client_context);
        respond_throttled(ex, fn->cfg.reserved_concurrency == 0 ? "ReservedFunctionConcurrentInvocationLimitExceeded"
                                                                : "ConcurrentInvocationLimitExceeded");
        return;
    }
    call_t *c = calloc(1, sizeof *c);
    if (!c) { free(client_context); daemon_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    util_uuid4(c->request_id);
    c->router = d->router;
    c->fn = fn;
    snprintf(c->qualifier, sizeof c->qualifier, "%s", qual);
    router_fn_ref(fn);
    c->ex = ex;
    c->client_context = client_context;
    const char *lt = http_request_header(req, "X-Amz-Log-Type");
    c->log_tail = lt && strcmp(lt, "Tail") == 0;
    make_trace_id(c->trace_id, sizeof c->trace_id);
    if (req->body_len) {
        c->payload = http_request_take_body(ex, &c->payload_len);
    } else {
        /* Runtimes parse the event as JSON; an empty invoke means {}. */
        c->payload = strdup("{}");
        c->payload_len = 2;
    }
    c->arrive_ns = loop_now_ns();
    uint64_t timeout_ms = (uint64_t)fn->cfg.timeout_s * 1000u;
    c->deadline_ns = c->arrive_ns + timeout_ms * 1000000u;
    c->deadline_wall_ms = loop_wall_ms() + timeout_ms;
    c->timer = loop_timer_add(d->loop, timeout_ms, deadline_cb, c);
    http_exchange_on_abort(ex, caller_gone, c);
    c->state = CALL_QUEUED;
    /* Over the limits a call waits at most --throttle-wait-ms (and never
     * past its deadline) before its 429. */
    uint64_t wait = (uint64_t)d->cfg.throttle_wait_ms;
    if (wait < timeout_ms) c->throttle_timer = loop_timer_add(d->loop, wait, throttle_cb, c);
    router_enqueue(d->router, c);
}
