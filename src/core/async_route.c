/* async_route.c — where a finished event's outcome goes: Lambda's
 * invocation record to the OnSuccess or OnFailure destination, the event
 * itself to the function's DeadLetterConfig target, or the built-in
 * dead-letter list. A destination is a Nimbus function (the record is
 * accepted for it as a new event) or an http(s) URL (the record is POSTed
 * from a worker, retried with backoff up to the event's maximum age).
 *
 * Owns the deliveries in flight. Must never: write an event's end before
 * its outcome is where it goes (the destination's accept is durable, the
 * URL answered 2xx, or the event is kept as a dead letter) — so a crash on
 * the way delivers it again; run HTTP on the loop thread; or drop an
 * outcome whose delivery failed (the event becomes a dead letter).
 */
#include "core/async_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/function.h"
#include "io/httpc.h"

#define POST_TIMEOUT_MS 10000u

/* ---- the invocation record ---- */

static void iso_utc(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* JSON as JSON; anything else as a string, as Lambda shows a payload. */
static cJSON *payload_json(const char *p, size_t n)
{
    cJSON *j = cJSON_ParseWithLength(p, n);
    return j ? j : cJSON_CreateString(p);
}

static void event_arn(const aev_t *e, char *out, size_t n)
{
    function_arn(e->fn->name, e->qualifier[0] ? e->qualifier : "$LATEST", out, n);
}

static char *record(const aev_t *e, const char *condition, size_t *len)
{
    char ts[32], arn[300];
    iso_utc((int64_t)loop_wall_ms(), ts);
    event_arn(e, arn, sizeof arn);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", "1.0");
    cJSON_AddStringToObject(o, "timestamp", ts);
    cJSON *rc = cJSON_AddObjectToObject(o, "requestContext");
    cJSON_AddStringToObject(rc, "requestId", e->id);
    cJSON_AddStringToObject(rc, "functionArn", arn);
    cJSON_AddStringToObject(rc, "condition", condition);
    cJSON_AddNumberToObject(rc, "approximateInvokeCount", e->attempts);
    cJSON_AddItemToObject(o, "requestPayload", payload_json(e->payload, e->payload_len));
    /* Only when the function ran (an event too old to run has no answer). */
    if (e->attempts > 0) {
        cJSON *resp = cJSON_AddObjectToObject(o, "responseContext");
        cJSON_AddNumberToObject(resp, "statusCode", 200);
        cJSON_AddStringToObject(resp, "executedVersion", e->executed_version);
        if (e->function_error) cJSON_AddStringToObject(resp, "functionError", "Unhandled");
        if (e->result) cJSON_AddItemToObject(o, "responsePayload", payload_json(e->result, e->result_len));
        else cJSON_AddNullToObject(o, "responsePayload");
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) abort();
    *len = strlen(s);
    return s;
}

/* ---- the end of a delivery ---- */

const char *const async_destination_names[3] = { "on_success", "on_failure", "dead_letter_config" };

/* Which of async_destination_names the event's outcome is going to. */
static int dest_kind(const aev_t *e)
{
    return strcmp(e->route_label, "OnSuccess") == 0 ? 0 : strcmp(e->route_label, "OnFailure") == 0 ? 1 : 2;
}

static void delivered(async_t *a, aev_t *e, const char *how)
{
    char dest[512];
    snprintf(dest, sizeof dest, "%s %s: %s", e->route_label, e->route_target, how);
    ASYNC_COUNT(a, e->fn, deliveries);
    ASYNC_COUNT(a, e->fn, dest_delivered[dest_kind(e)]);
    async_ev_finish(a, e, e->route_ok, dest);
}

static void delivery_failed(async_t *a, aev_t *e, const char *why)
{
    char dest[512];
    snprintf(dest, sizeof dest, "%s %s: %s; kept in the dead-letter list", e->route_label, e->route_target, why);
    ASYNC_COUNT(a, e->fn, delivery_failures);
    ASYNC_COUNT(a, e->fn, dest_failed[dest_kind(e)]);
    async_ev_finish(a, e, QEV_DEAD, dest);
}

/* ---- to a function ---- */

static void function_accepted(void *arg, const err_t *err, const char *request_id, bool duplicate)
{
    (void)duplicate;
    aev_t *e = arg;
    async_t *a = e->fn->a;
    char how[200];
    if (err) {
        snprintf(how, sizeof how, "not accepted: %s", err->msg);
        delivery_failed(a, e, how);
        return;
    }
    snprintf(how, sizeof how, "accepted as %s", request_id);
    delivered(a, e, how);
}

/* "arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]" */
static bool parse_function_arn(const char *arn, char name[65], char qualifier[130])
{
    const char *p = strstr(arn, ":function:");
    if (strncmp(arn, "arn:", 4) != 0 || !p) return false;
    p += strlen(":function:");
    const char *colon = strchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    if (n == 0 || n >= 65) return false;
    memcpy(name, p, n);
    name[n] = '\0';
    snprintf(qualifier, 130, "%s", colon ? colon + 1 : "");
    return true;
}

static void to_function(async_t *a, aev_t *e, char *body, size_t len)
{
    char name[65], qualifier[130], why[400];
    router_fn_t *latest = NULL;
    /* A destination kept from before --region or --account-id changed
     * names no function of this daemon any more. */
    if (function_arn_place(e->route_target, why, sizeof why) != FUNCTION_ARN_LOCAL) {
        free(body);
        delivery_failed(a, e, why);
        return;
    }
    if (parse_function_arn(e->route_target, name, qualifier)) latest = router_find(a->r, name);
    if (!latest || !router_resolve(a->r, latest, qualifier)) {
        free(body);
        delivery_failed(a, e, "no such function");
        return;
    }
    char origin[330], arn[300];
    event_arn(e, arn, sizeof arn);
    snprintf(origin, sizeof origin, "destination:%s", arn);
    async_event_t ev = { .function = name, .qualifier = qualifier, .payload = body, .payload_len = len,
                         .origin = origin };
    /* The accept copies the record. Until it is durable the event stays
     * unfinished: a crash now delivers it again. */
    async_accept_event(a, &ev, true, function_accepted, e);
    free(body);
}

/* ---- to a URL ---- */

struct async_delivery {
    async_op_t op;
    aev_t *e;
    char *body;
    size_t len;
    bool as_event;            /* DeadLetterConfig: the event itself, its error in headers */
    char condition[32];
    int tries;
    int64_t until_ms;         /* the event's maximum age: no try starts after it */
    loop_timer_t *timer;      /* the next try */
    bool posting;             /* a worker has it */
};

static void delivery_free(async_delivery_t *d)
{
    free(d->body);
    free(d);
}

static void delivery_orphan(async_op_t *op)
{
    async_delivery_t *d = (async_delivery_t *)op;
    async_t *a = op->a;
    async_op_done(op);
    if (d->timer) loop_timer_cancel(a->loop, d->timer);
    d->timer = NULL;
    op->a = NULL;
    d->e = NULL;
    /* A worker that has it frees it when it is done. */
    if (!d->posting) delivery_free(d);
}

static void post(async_t *a, async_delivery_t *d);

static void retry_cb(loop_t *l, void *arg)
{
    (void)l;
    async_delivery_t *d = arg;
    d->timer = NULL;
    /* Stopped: the event stays unfinished in the store and is delivered
     * again after a restart. */
    if (!d->op.a->stopped) post(d->op.a, d);
}

static void posted(void *arg, const err_t *err, const httpc_response_t *resp)
{
    async_delivery_t *d = arg;
    d->posting = false;
    async_t *a = d->op.a;
    if (!a) {
        delivery_free(d);
        return;
    }
    aev_t *e = d->e;
    char how[600];
    if (!err && resp->status >= 200 && resp->status < 300) {
        snprintf(how, sizeof how, "delivered (HTTP %d) after %d %s", resp->status, d->tries, d->tries == 1 ? "try" : "tries");
        async_op_done(&d->op);
        e->delivery = NULL;
        delivery_free(d);
        delivered(a, e, how);
        return;
    }
    if (err) snprintf(how, sizeof how, "%s", err->msg);
    else snprintf(how, sizeof how, "HTTP %d", resp->status);
    if (a->stopped) return;   /* as in retry_cb */
    uint64_t wait = async_backoff_ms(a, d->tries);
    if ((int64_t)loop_wall_ms() + (int64_t)wait < d->until_ms) {
        d->timer = loop_timer_add(a->loop, wait, retry_cb, d);
        return;
    }
    char why[700];
    snprintf(why, sizeof why, "failed after %d %s (%s)", d->tries, d->tries == 1 ? "try" : "tries", how);
    async_op_done(&d->op);
    e->delivery = NULL;
    delivery_free(d);
    delivery_failed(a, e, why);
}

static void post(async_t *a, async_delivery_t *d)
{
    aev_t *e = d->e;
    httpc_header_t h[3];
    size_t nh = 0;
    h[nh++] = (httpc_header_t){ "X-Nimbus-Request-Id", e->id };
    if (d->as_event) {
        h[nh++] = (httpc_header_t){ "X-Nimbus-Error-Code", d->condition };
        h[nh++] = (httpc_header_t){ "X-Nimbus-Error-Message", e->last_error ? e->last_error : "" };
    }
    httpc_request_t req = { .url = e->route_target, .headers = h, .nheaders = nh, .body = d->body, .len = d->len,
                            .timeout_ms = POST_TIMEOUT_MS, .max_answer = 4096 };
    d->tries++;
    d->posting = true;
    httpc_post_submit(a->loop, &req, posted, d);
}

static void to_url(async_t *a, aev_t *e, char *body, size_t len, bool as_event, const char *condition)
{
    async_delivery_t *d = calloc(1, sizeof *d);
    if (!d) abort();
    d->e = e;
    d->body = body;
    d->len = len;
    d->as_event = as_event;
    snprintf(d->condition, sizeof d->condition, "%s", condition);
    async_policy_t pol;
    char dl[512];
    if (!async_ev_policy(a, e, &pol, dl)) async_policy_defaults(&pol);
    d->until_ms = e->created_ms + (int64_t)pol.max_event_age_s * 1000;
    e->delivery = d;
    async_op_add(a, &d->op, delivery_orphan);
    post(a, d);
}

/* ---- routing ---- */

static bool is_url(const char *t) { return strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0; }

/* Send the outcome (`body`, taken) to `target`; ok: the state once there. */
static void route(async_t *a, aev_t *e, const char *label, const char *target, char *body, size_t len,
                  queue_state_t ok, bool as_event, const char *condition)
{
    e->route_label = label;
    free(e->route_target);
    e->route_target = async_strdup(target);
    e->route_ok = ok;
    /* Counted as running until it is where it goes. */
    async_ev_move(e, AEV_ROUTING, e->state);
    if (is_url(target)) {
        to_url(a, e, body, len, as_event, condition);
    } else if (strncmp(target, "arn:", 4) == 0 && strstr(target, ":function:")) {
        to_function(a, e, body, len);
    } else {
        free(body);
        delivery_failed(a, e, "not a destination Nimbus supports");
    }
}

void async_route_success(async_t *a, aev_t *e)
{
    ASYNC_COUNT(a, e->fn, succeeded);
    async_policy_t pol;
    char dl[512];
    /* A function deleted since: nobody to tell. */
    if (!async_ev_policy(a, e, &pol, dl) || !pol.on_success[0]) {
        async_ev_finish(a, e, QEV_SUCCEEDED, "");
        return;
    }
    size_t len;
    char *body = record(e, "Success", &len);
    route(a, e, "OnSuccess", pol.on_success, body, len, QEV_SUCCEEDED, false, "Success");
}

void async_route_failure(async_t *a, aev_t *e, const char *condition)
{
    async_policy_t pol;
    char dl[512];
    if (!async_ev_policy(a, e, &pol, dl)) {
        async_route_dead(a, e, condition);
        return;
    }
    ASYNC_COUNT(a, e->fn, failed);
    if (!e->last_error && strcmp(condition, "EventAgeExceeded") == 0) {
        char why[128];
        snprintf(why, sizeof why, "EventAgeExceeded: older than %d seconds", pol.max_event_age_s);
        async_set_last_error(e, why);
    }
    if (pol.on_failure[0]) {
        size_t len;
        char *body = record(e, condition, &len);
        route(a, e, "OnFailure", pol.on_failure, body, len, QEV_FAILED, false, condition);
    } else if (dl[0]) {
        /* As Lambda's dead-letter queue gets it: the event as it came. */
        char *body = async_memdup(e->payload, e->payload_len);
        route(a, e, "DeadLetterConfig", dl, body, e->payload_len, QEV_FAILED, true, condition);
    } else {
        char dest[64];
        snprintf(dest, sizeof dest, "dead-letter list: %s", condition);
        async_ev_finish(a, e, QEV_DEAD, dest);
    }
}

void async_route_dead(async_t *a, aev_t *e, const char *why)
{
    ASYNC_COUNT(a, e->fn, failed);
    if (why && (!e->last_error || strncmp(why, "ResourceNotFoundException", 25) == 0)) async_set_last_error(e, why);
    char dest[600];
    snprintf(dest, sizeof dest, "dead-letter list: %s", why ? why : "failed");
    async_ev_finish(a, e, QEV_DEAD, dest);
}
