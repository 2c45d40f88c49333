/* call.c — the life of a call: deadline, START / END / REPORT, the
 * outcome told to whoever made it.
 *
 * Owns call_t objects from call_new() until their outcome. The deadline is
 * fixed when the call arrives and covers waiting for an instance too (one
 * deadline, see docs/design.md). Must never: tell an outcome twice, keep
 * an instance whose call timed out, report a figure it did not measure, or
 * write an answer itself (that is the done callback's job, above the core).
 */
#include "core/call.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/errdoc.h"
#include "core/instance.h"
#include "core/logs.h"
#include "core/metrics.h"

#define LOG_KEEP_BYTES (64u * 1024u)  /* a call's own log kept for the tail */

static loop_t *loop_of(const call_t *c) { return router_ctx(c->router)->loop; }

/* Root=1-<8 hex epoch seconds>-<24 hex>;Parent=<16 hex>;Sampled=0, built
 * by hand: one per call, and snprintf cost as much as the two UUIDs. */
static void make_trace_id(char *out, size_t n)
{
    char u[37], v[37];
    util_uuid4(u);
    util_uuid4(v);
    char r24[24], p16[16], secs[16];
    size_t k = 0;
    for (size_t i = 0; u[i] && k < sizeof r24; i++) if (u[i] != '-') r24[k++] = u[i];
    k = 0;
    for (size_t i = 0; v[i] && k < sizeof p16; i++) if (v[i] != '-') p16[k++] = v[i];
    /* %08llx: at least 8 digits. */
    uint64_t t = loop_wall_ms() / 1000;
    size_t d = sizeof secs;
    do {
        secs[--d] = "0123456789abcdef"[t & 15];
        t >>= 4;
    } while (t || sizeof secs - d < 8);
    size_t len = 0;
    util_cat_lit(out, n, &len, "Root=1-");
    util_cat(out, n, &len, secs + d, sizeof secs - d);
    util_cat_lit(out, n, &len, "-");
    util_cat(out, n, &len, r24, sizeof r24);
    util_cat_lit(out, n, &len, ";Parent=");
    util_cat(out, n, &len, p16, sizeof p16);
    util_cat_lit(out, n, &len, ";Sampled=0");
}

call_t *call_new(router_t *r, router_fn_t *fn)
{
    call_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    util_uuid7(c->request_id, loop_wall_ms());
    c->router = r;
    c->fn = fn;
    router_fn_ref(fn);
    make_trace_id(c->trace_id, sizeof c->trace_id);
    return c;
}

static void call_free(call_t *c)
{
    loop_timer_cancel(loop_of(c), c->timer);
    loop_timer_cancel(loop_of(c), c->throttle_timer);
    free(c->payload);
    free(c->client_context);
    buf_free(&c->log);
    buf_free(&c->stream_buf);
    router_fn_unref(c->router, c->fn);
    free(c);
}

/* A line stored whatever the cap: the platform's own (START, errors, END,
 * REPORT) and the function's within it. */
static void record(call_t *c, const char *line, size_t len)
{
    logs_emit(router_ctx(c->router)->logs, c->fn->cfg.name, c->request_id, line, len);
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

size_t call_log_cap(const core_limits_t *l)
{
    return l->log_call_max_bytes ? l->log_call_max_bytes : CALL_LOG_MAX_DEFAULT;
}

void call_log(call_t *c, const char *line, size_t len)
{
    /* Each line costs its bytes and CALL_LOG_LINE_COST, as a CloudWatch
     * event counts 26 bytes besides its message: a flood of empty lines is
     * capped as surely as one of long ones. */
    size_t cost = len + CALL_LOG_LINE_COST;
    if (c->log_dropped || c->log_stored + cost > call_log_cap(&router_ctx(c->router)->limits)) {
        c->log_dropped += len + 1;
        c->log_dropped_lines++;
        return;
    }
    c->log_stored += cost;
    record(c, line, len);
}

void call_log_prepend(call_t *c, const char *lines, size_t len)
{
    if (!c->log_tail || !len) return;
    buf_t b = { 0 };
    buf_append(&b, lines, len);
    if (c->log.len) buf_append(&b, c->log.data, c->log.len);
    buf_free(&c->log);
    c->log = b;
}

const char *call_log_tail(const call_t *c, size_t max, size_t *len)
{
    size_t off = c->log.len > max ? c->log.len - max : 0;
    *len = c->log.len - off;
    return c->log.data ? c->log.data + off : "";
}

static void log_printf(call_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_printf(call_t *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    record(c, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* START, built by hand (every call writes it; so END and REPORT). */
static void log_start(call_t *c)
{
    char line[512];
    size_t n = 0;
    util_cat_lit(line, sizeof line, &n, "START RequestId: ");
    util_cat_str(line, sizeof line, &n, c->request_id);
    util_cat_lit(line, sizeof line, &n, " Version: ");
    util_cat_str(line, sizeof line, &n, c->fn->cfg.version);
    record(c, line, n);
}

void call_started(call_t *c, instance_t *in)
{
    const core_ctx_t *ctx = router_ctx(c->router);
    c->state = CALL_RUNNING;
    c->inst = in;
    c->start_ns = loop_now_ns();
    loop_timer_cancel(ctx->loop, c->throttle_timer);
    c->throttle_timer = NULL;
    router_call_started(c->router, c->fn);
    instance_output_window(in);
    ctx->sandbox->memory_reset(&in->proc);
    log_start(c);
}

/* A call that fails before it reached an instance (its instance's init
 * failed, or it timed out waiting) is logged as one that ran: START first,
 * then its error, END and REPORT, so `logs --request-id` finds them all.
 * True when it did (write_report then reports its wait). */
static bool start_if_queued(call_t *c)
{
    if (c->state != CALL_QUEUED) return false;
    log_start(c);
    return true;
}

/* END and REPORT, for a call that reached an instance (or, `waited`, one
 * that failed waiting for it), its Duration ending at end_ns. */
static void write_report_at(call_t *c, const char *status, bool waited, uint64_t end_ns)
{
    if (c->state != CALL_RUNNING && !waited) return;
    const core_ctx_t *ctx = router_ctx(c->router);
    instance_t *in = waited ? NULL : c->inst;
    /* Its output was read when it answered, timed out or exited. */
    uint64_t ns = end_ns - (waited ? c->arrive_ns : c->start_ns);
    double ms = (double)ns / 1e6;
    double init_ms = c->cold ? (double)c->init_ns / 1e6 : 0;
    /* Custom runtimes are billed for init too, rounded up to the ms. */
    long billed = (long)ceil(ms + init_ms);
    if (billed < 1) billed = 1;
    int64_t peak = in ? ctx->sandbox->memory_peak(&in->proc) : -1;
    if (c->log_dropped)
        log_printf(c, "[nimbus] RequestId: %s Log truncated: the function's output past %zu bytes was dropped "
                   "(%zu bytes in %zu lines; the per-call cap is --log-call-max-bytes)",
                   c->request_id, c->log_stored, c->log_dropped, c->log_dropped_lines);
    char line[512];
    size_t n = 0;
    util_cat_lit(line, sizeof line, &n, "END RequestId: ");
    util_cat_str(line, sizeof line, &n, c->request_id);
    record(c, line, n);
    n = 0;
    util_cat_lit(line, sizeof line, &n, "REPORT RequestId: ");
    util_cat_str(line, sizeof line, &n, c->request_id);
    util_cat_lit(line, sizeof line, &n, "\tDuration: ");
    util_cat_ms(line, sizeof line, &n, ns);
    util_cat_lit(line, sizeof line, &n, " ms\tBilled Duration: ");
    util_cat_u64(line, sizeof line, &n, (uint64_t)billed);
    util_cat_lit(line, sizeof line, &n, " ms\tMemory Size: ");
    util_cat_u64(line, sizeof line, &n, (uint64_t)c->fn->cfg.memory_mb);
    util_cat_lit(line, sizeof line, &n, " MB");
    if (peak >= 0) {
        util_cat_lit(line, sizeof line, &n, "\tMax Memory Used: ");
        util_cat_u64(line, sizeof line, &n, (uint64_t)((peak + 1048575) / 1048576));
        util_cat_lit(line, sizeof line, &n, " MB");
    }
    if (c->cold) {
        char init[48];
        snprintf(init, sizeof init, "\tInit Duration: %.2f ms", init_ms);
        util_cat_str(line, sizeof line, &n, init);
    }
    if (status) {
        util_cat_lit(line, sizeof line, &n, "\tStatus: ");
        util_cat_str(line, sizeof line, &n, status);
    }
    /* Said in every report, not just at start-up: these numbers come from
     * an instance with no isolation. */
    if (!ctx->sandbox->enabled()) util_cat_lit(line, sizeof line, &n, "\t(unsandboxed)");
    record(c, line, n);
}

static void write_report(call_t *c, const char *status, bool waited)
{
    write_report_at(c, status, waited, loop_now_ns());
}

/* Tell the outcome (if anyone waits) and free the call; with report_end_ns,
 * write its END and REPORT (Duration ending then) once the outcome is told. */
static void finish_reporting(call_t *c, const call_result_t *res, uint64_t report_end_ns)
{
    if (res) metrics_call_ended(c, res->outcome, res->error_type);
    if (c->state == CALL_QUEUED) pool_unqueue(&c->fn->pool, &c->link);
    if (c->transport_end) c->transport_end(c);
    if (c->inst && list_linked(&c->inst_link)) instance_call_gone(c->inst, c);
    call_done_fn done = c->done;
    c->done = NULL;
    if (done && res) {
        call_result_t r = *res;
        r.streamed = c->stream && c->stream_begun;
        done(c, &r);
    }
    if (report_end_ns) write_report_at(c, NULL, false, report_end_ns);
    bool was_running = c->state == CALL_RUNNING;
    router_fn_t *fn = c->fn;
    router_t *r = c->router;
    router_fn_ref(fn);
    c->state = CALL_DONE;
    call_free(c);
    /* Last: it may hand the freed concurrency to a waiting call. */
    if (was_running) router_call_ended(r, fn);
    router_fn_unref(r, fn);
}

static void finish(call_t *c, const call_result_t *res) { finish_reporting(c, res, 0); }

void call_complete(call_t *c, const char *body, size_t len, const char *content_type)
{
    call_result_t res = { .outcome = CALL_OK, .body = body, .len = len, .content_type = content_type };
    if (c->log_tail || c->state != CALL_RUNNING) {
        /* The answer carries the log's tail, REPORT included. */
        write_report(c, NULL, false);
        finish(c, &res);
        return;
    }
    /* Nobody waits for END and REPORT but the log: the caller is answered
     * first, then the peak is read and the lines written, in this same
     * turn of the loop, so a log query the answer prompts still finds them,
     * and before the instance is told its answer was taken (so it has not
     * run since: the peak is still this call's). Duration ends now. */
    finish_reporting(c, &res, loop_now_ns());
}

void call_complete_http(call_t *c, int status, const http_header_t *headers, size_t n, const char *body,
                        size_t len)
{
    write_report(c, NULL, false);
    call_result_t res = { .outcome = CALL_OK, .body = body, .len = len, .http_status = status,
                          .headers = headers, .nheaders = n };
    finish(c, &res);
}

void call_fail_function(call_t *c, const char *body, size_t len)
{
    write_report(c, "error", start_if_queued(c));
    call_result_t res = { .outcome = CALL_FUNCTION_ERROR, .body = body, .len = len,
                          .content_type = "application/json" };
    finish(c, &res);
}

void call_fail_init(call_t *c, const char *body, size_t len)
{
    /* Runtimes post init errors before any call exists, so their documents
     * say "requestId": "" (Lambda's own Python runtime does): the call that
     * gets one is named in it, so the error can be found by its id. */
    cJSON *doc = cJSON_ParseWithLength(body, len);
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(doc, "requestId");
    if (cJSON_IsString(rid) && !rid->valuestring[0]) {
        cJSON_ReplaceItemInObjectCaseSensitive(doc, "requestId", cJSON_CreateString(c->request_id));
        char *named = cJSON_PrintUnformatted(doc);
        cJSON_Delete(doc);
        if (named) {
            call_fail_function(c, named, strlen(named));
            free(named);
            return;
        }
    }
    cJSON_Delete(doc);
    call_fail_function(c, body, len);
}

void call_fail(call_t *c, const char *type, const char *fmt, ...)
{
    char msg[600], full[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "RequestId: %s Error: %s", c->request_id, msg);
    bool waited = start_if_queued(c);
    record(c, full, strlen(full));
    size_t len;
    char *doc = errdoc_function(type, full, &len);
    const char *status = strcmp(type, "Sandbox.Timedout") == 0 ? "timeout" : "error";
    write_report(c, status, waited);
    call_result_t res = { .outcome = CALL_FUNCTION_ERROR, .body = doc, .len = len,
                          .content_type = "application/json", .error_type = type };
    finish(c, &res);
    free(doc);
}

void call_reject(call_t *c, int status, const char *type, const char *msg)
{
    write_report(c, "error", false);
    call_result_t res = { .outcome = CALL_REJECTED, .status = status, .error_type = type, .message = msg };
    finish(c, &res);
}

void call_stream_begin(call_t *c, const char *content_type)
{
    if (c->stream_begun) return;
    c->stream_begun = true;
    snprintf(c->stream_ct, sizeof c->stream_ct, "%s",
             content_type && *content_type ? content_type : "application/octet-stream");
    if (c->stream && c->done) c->stream->begin(c, c->stream_ct);
}

size_t call_response_limit(const call_t *c)
{
    if (!c->stream) return CALL_BUFFERED_MAX;
    size_t max = router_ctx(c->router)->limits.stream_max_bytes;
    return max ? max : CALL_STREAM_MAX_DEFAULT;
}

int call_stream_data(call_t *c, const char *bytes, size_t len)
{
    if (len > call_response_limit(c) - c->stream_bytes) return -1;
    c->stream_bytes += len;
    if (!c->stream) {
        buf_append(&c->stream_buf, bytes, len);
        return 0;
    }
    /* A caller that went away: the function runs on, its bytes go nowhere. */
    if (!c->done) return 0;
    return c->stream->data(c, bytes, len);
}

void call_stream_resume(call_t *c)
{
    if (c->transport_resume) c->transport_resume(c);
}

void call_stream_complete(call_t *c)
{
    if (!c->stream) {
        call_complete(c, c->stream_buf.data ? c->stream_buf.data : "", c->stream_buf.len, c->stream_ct);
        return;
    }
    write_report(c, NULL, false);
    call_result_t res = { .outcome = CALL_OK, .body = "", .len = 0, .content_type = c->stream_ct };
    finish(c, &res);
}

void call_fail_oversize(call_t *c)
{
    /* Lambda's words. The size is not known: reading stopped at the cap. */
    char msg[200];
    snprintf(msg, sizeof msg, "Response payload size exceeded maximum allowed payload size (%zu bytes).",
             call_response_limit(c));
    size_t len;
    char *doc = errdoc_function("Function.ResponseSizeTooLarge", msg, &len);
    call_fail_function(c, doc, len);
    free(doc);
}

static void throttle(call_t *c, const char *reason)
{
    call_result_t res = { .outcome = CALL_THROTTLED, .status = 429, .reason = reason };
    finish(c, &res);
}

static void deadline_cb(loop_t *l, void *arg)
{
    (void)l;
    call_t *c = arg;
    c->timer = NULL;
    if (c->state == CALL_QUEUED) {
        /* Never reached an instance: held back by a limit, that is a 429. */
        const char *reason = router_call_throttle_reason(c->router, c);
        if (reason) { throttle(c, reason); return; }
    }
    instance_t *in = c->state == CALL_RUNNING ? c->inst : NULL;
    if (in) {
        /* The instance may be mid-handler: its state cannot be trusted, so
         * it ends with the call (never reused). Other calls it was running
         * end with it (Runtime.ExitError). */
        instance_drain_output(in);   /* its output so far is this call's */
        instance_call_gone(in, c);
        instance_kill(in);
    }
    call_fail(c, "Sandbox.Timedout", "Task timed out after %d.00 seconds", c->fn->cfg.timeout_s);
}

static void throttle_cb(loop_t *l, void *arg)
{
    (void)l;
    call_t *c = arg;
    c->throttle_timer = NULL;
    if (c->state != CALL_QUEUED) return;
    const char *reason = router_call_throttle_reason(c->router, c);
    /* Not over a limit, only waiting for an instance that is starting (one
     * no call ahead of it will take): it keeps waiting, up to its deadline. */
    if (reason) throttle(c, reason);
}

void call_abandon(call_t *c)
{
    c->done = NULL;
    /* Not started yet: nobody wants it any more. Running: let it finish so
     * the instance stays consistent; its outcome goes nowhere. */
    if (c->state == CALL_QUEUED) finish(c, NULL);
}

void call_submit(call_t *c)
{
    const core_ctx_t *ctx = router_ctx(c->router);
    if (!c->payload && !c->http) {
        /* Runtimes parse the event as JSON; an empty invoke means {}. A
         * forwarded HTTP request keeps its empty body. */
        c->payload = strdup("{}");
        if (!c->payload) abort();
        c->payload_len = 2;
    }
    c->arrive_ns = loop_now_ns();
    uint64_t timeout_ms = (uint64_t)c->fn->cfg.timeout_s * 1000u;
    c->deadline_ns = c->arrive_ns + timeout_ms * 1000000u;
    c->deadline_wall_ms = loop_wall_ms() + timeout_ms;
    c->timer = loop_timer_add(ctx->loop, timeout_ms, deadline_cb, c);
    c->state = CALL_QUEUED;
    /* Over the limits a call waits at most throttle_wait_ms (and never
     * past its deadline) before its 429. */
    if (ctx->limits.throttle_wait_ms < timeout_ms)
        c->throttle_timer = loop_timer_add(ctx->loop, ctx->limits.throttle_wait_ms, throttle_cb, c);
    router_enqueue(c->router, c);
}
