/* events.c — the native events and dead-letter API: a function's
 * asynchronous events by state, one event with its attempts, cancelling a
 * waiting one; its dead letters listed, redriven and purged.
 *
 * Owns how an event looks to a client (Nimbus' JSON, Lambda's error
 * shapes). Must never: touch the queue store but through its queries, or
 * answer a client that went away (each request's state outlives the
 * exchange until its answer comes back).
 */
#define _GNU_SOURCE
#include "api/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/util.h"
#include "store/queue.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000

/* A request waiting for the queue store or the async queue. */
typedef struct {
    http_exchange_t *ex;          /* NULL once the client went away */
    char function[65];
    const char *key;              /* the answer's member: "Events", "DeadLetters", "Purged"... */
    char id[64];                  /* the event asked for */
    char after[64];               /* paging: the id to list after */
} pending_t;

static void pending_abort(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((pending_t *)arg)->ex = NULL;
}

static pending_t *pending_new(http_exchange_t *ex, const char *function, const char *key)
{
    pending_t *p = calloc(1, sizeof *p);
    if (!p) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return NULL; }
    p->ex = ex;
    p->key = key;
    snprintf(p->function, sizeof p->function, "%s", function);
    http_exchange_on_abort(ex, pending_abort, p);
    return p;
}

static bool have_queue(api_t *d, http_exchange_t *ex)
{
    if (d->async) return true;
    api_respond_error(ex, 503, "ServiceException", "the async queue is not running");
    return false;
}

/* ---- documents ---- */

static void add_event_fields(cJSON *o, const queue_event_t *ev)
{
    cJSON_AddStringToObject(o, "RequestId", ev->id);
    cJSON_AddStringToObject(o, "Qualifier", ev->qualifier[0] ? ev->qualifier : "$LATEST");
    cJSON_AddStringToObject(o, "State", queue_state_name(ev->state));
    cJSON_AddNumberToObject(o, "Attempts", ev->attempts);
    cJSON_AddNumberToObject(o, "CreatedMs", (double)ev->created_ms);
    cJSON_AddNumberToObject(o, "NextAttemptMs", (double)ev->next_ms);
    cJSON_AddStringToObject(o, "LastError", ev->last_error);
    cJSON_AddStringToObject(o, "Origin", ev->origin);
}

static cJSON *string_or_null(const char *s, size_t len)
{
    if (!s) return cJSON_CreateNull();
    /* cJSON strings end at a NUL: copy exactly len bytes. */
    char *copy = malloc(len + 1);
    if (!copy) abort();
    memcpy(copy, s, len);
    copy[len] = '\0';
    cJSON *v = cJSON_CreateString(copy);
    free(copy);
    return v;
}

/* ---- paging parameters ---- */

/* after= and limit=; answers 400 and returns -1 when malformed. */
static int page_params(http_exchange_t *ex, const char *query, queue_query_t *q, char **after)
{
    char *lim = util_query_param(query, "limit");
    *after = util_query_param(query, "after");
    long n = PAGE_DEFAULT;
    if (lim) {
        char *end;
        n = strtol(lim, &end, 10);
        if (!*lim || *end || n < 1 || n > PAGE_MAX) n = -1;
    }
    free(lim);
    if (n < 0 || (*after && strlen(*after) > 36)) {
        free(*after);
        *after = NULL;
        api_respond_error(ex, 400, "InvalidParameterValueException", "limit must be 1..%d; after a request id",
                          PAGE_MAX);
        return -1;
    }
    q->limit = (size_t)n;
    q->after_id = *after;
    return 0;
}

/* ---- lists ---- */

static void list_answer(void *arg, const err_t *err, const queue_event_t *events, size_t n, const char *next)
{
    pending_t *p = arg;
    if (p->ex && err) {
        api_respond_err(p->ex, err);
    } else if (p->ex) {
        bool dlq = strcmp(p->key, "DeadLetters") == 0;
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(o, p->key);
        for (size_t i = 0; i < n; i++) {
            cJSON *e = cJSON_CreateObject();
            add_event_fields(e, &events[i]);
            if (dlq) cJSON_AddItemToObject(e, "Payload", string_or_null(events[i].payload ? events[i].payload : "",
                                                                         events[i].payload_len));
            cJSON_AddItemToArray(arr, e);
        }
        if (next && *next) cJSON_AddStringToObject(o, "NextMarker", next);
        api_respond_doc(p->ex, 200, o);
    }
    free(p);
}

static void list(api_t *d, http_exchange_t *ex, http_request_t *req, const char *function, int state,
                 const char *key)
{
    queue_query_t q = { .state = state };
    char *after;
    if (page_params(ex, req->query, &q, &after) < 0) return;
    pending_t *p = pending_new(ex, function, key);
    if (p) {
        /* The query's strings live as long as the request does. */
        snprintf(p->after, sizeof p->after, "%s", after ? after : "");
        q.function = p->function;
        q.after_id = p->after;
        queue_store_list(async_store(d->async), &q, list_answer, p);
    }
    free(after);
}

void events_list(api_t *d, http_exchange_t *ex, http_request_t *req, const char *function)
{
    if (!have_queue(d, ex)) return;
    char *state = util_query_param(req->query, "state");
    int s = -1;
    if (state && *state && (s = queue_state_parse(state)) < 0) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                          "state must be one of queued, running, retrying, succeeded, failed, dead, cancelled");
        free(state);
        return;
    }
    free(state);
    list(d, ex, req, function, s, "Events");
}

void events_dlq_list(api_t *d, http_exchange_t *ex, http_request_t *req, const char *function)
{
    if (have_queue(d, ex)) list(d, ex, req, function, QEV_DEAD, "DeadLetters");
}

/* ---- one event ---- */

static void get_answer(void *arg, const err_t *err, const queue_event_t *ev, const queue_attempt_t *attempts,
                       size_t nattempts)
{
    pending_t *p = arg;
    if (!p->ex) {
        free(p);
        return;
    }
    /* An id of another function's event is not this function's. */
    if ((err && err->code == ERR_NOT_FOUND) || (!err && strcmp(ev->function, p->function) != 0)) {
        api_respond_error(p->ex, 404, "ResourceNotFoundException", "Event not found: %s", p->id);
    } else if (err) {
        api_respond_err(p->ex, err);
    } else {
        cJSON *o = cJSON_CreateObject();
        add_event_fields(o, ev);
        cJSON_AddItemToObject(o, "Payload", string_or_null(ev->payload ? ev->payload : "", ev->payload_len));
        cJSON_AddItemToObject(o, "Result", string_or_null(ev->result, ev->result_len));
        cJSON_AddStringToObject(o, "Destination", ev->destination);
        cJSON *arr = cJSON_AddArrayToObject(o, "AttemptsDetail");
        for (size_t i = 0; i < nattempts; i++) {
            const queue_attempt_t *a = &attempts[i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "N", a->n);
            cJSON_AddNumberToObject(e, "StartMs", (double)a->start_ms);
            cJSON_AddNumberToObject(e, "DurationMs", a->duration_ms);
            cJSON_AddStringToObject(e, "ErrorType", a->error_type);
            cJSON_AddStringToObject(e, "ErrorMessage", a->error_message);
            cJSON_AddItemToArray(arr, e);
        }
        api_respond_doc(p->ex, 200, o);
    }
    free(p);
}

void events_get(api_t *d, http_exchange_t *ex, const char *function, const char *id)
{
    if (!have_queue(d, ex)) return;
    pending_t *p = pending_new(ex, function, "Event");
    if (!p) return;
    snprintf(p->id, sizeof p->id, "%s", id);
    queue_store_get(async_store(d->async), p->id, get_answer, p);
}

static void cancel_answer(void *arg, const err_t *err, const queue_event_t *ev, const queue_attempt_t *attempts,
                          size_t nattempts)
{
    (void)attempts; (void)nattempts;
    pending_t *p = arg;
    if (!p->ex) {
        free(p);
        return;
    }
    if ((err && err->code == ERR_NOT_FOUND) || (!err && strcmp(ev->function, p->function) != 0))
        api_respond_error(p->ex, 404, "ResourceNotFoundException", "Event not found: %s", p->id);
    else if (err)
        api_respond_err(p->ex, err);
    else
        api_respond_error(p->ex, 409, "ResourceConflictException", "Event %s is %s: only a waiting event can be "
                          "cancelled", p->id, queue_state_name(ev->state));
    free(p);
}

void events_cancel(api_t *d, http_exchange_t *ex, const char *function, const char *id)
{
    if (!have_queue(d, ex)) return;
    err_t err;
    if (async_cancel(d->async, function, id, &err) < 0) {
        if (err.code == ERR_NOT_FOUND) {
            /* Not waiting in memory: finished (409), or unknown (404) — the
             * store knows which. */
            pending_t *p = pending_new(ex, function, "Event");
            if (!p) return;
            snprintf(p->id, sizeof p->id, "%s", id);
            queue_store_get(async_store(d->async), p->id, cancel_answer, p);
        } else if (err.code == ERR_CONFLICT)
            api_respond_error(ex, 409, "ResourceConflictException", "%s", err.msg);
        else
            api_respond_err(ex, &err);
        return;
    }
    api_respond_empty(ex, 204);
}

/* ---- dead letters: redrive and purge ---- */

static void count_answer(void *arg, const err_t *err, size_t n)
{
    pending_t *p = arg;
    if (p->ex && err) {
        if (err->code == ERR_NOT_FOUND) api_respond_error(p->ex, 404, "ResourceNotFoundException", "%s", err->msg);
        else api_respond_err(p->ex, err);
    } else if (p->ex) {
        char *s = NULL;
        if (asprintf(&s, "{\"%s\":%zu}", p->key, n) < 0) s = NULL;
        api_respond_json(p->ex, 200, s);
    }
    free(p);
}

void events_dlq_redrive(api_t *d, http_exchange_t *ex, http_request_t *req, const char *function)
{
    if (!have_queue(d, ex)) return;
    cJSON *body = api_body_object(ex, req, true);
    if (!body) return;
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(body, "RequestId");
    if (!cJSON_IsObject(body) || (rid && !cJSON_IsNull(rid) && (!cJSON_IsString(rid) || !*rid->valuestring))) {
        cJSON_Delete(body);
        api_respond_error(ex, 400, "InvalidRequestContentException",
                          "the body must be {} or {\"RequestId\": \"<id of a dead letter>\"}");
        return;
    }
    pending_t *p = pending_new(ex, function, "Redriven");
    if (p && cJSON_IsString(rid)) snprintf(p->id, sizeof p->id, "%s", rid->valuestring);
    cJSON_Delete(body);
    if (p) async_redrive(d->async, p->function, p->id[0] ? p->id : NULL, count_answer, p);
}

void events_dlq_purge(api_t *d, http_exchange_t *ex, const char *function)
{
    if (!have_queue(d, ex)) return;
    pending_t *p = pending_new(ex, function, "Purged");
    if (p) async_purge(d->async, p->function, count_answer, p);
}
