/* triggers.c — the native timer-trigger API: the request bodies and their
 * validation, the documents, the write jobs (stored on a worker, then
 * applied to the timer wheel and answered) and the load at start.
 *
 * Owns how a trigger looks to a client and in the store. Must never:
 * answer a write before the store has it, keep a trigger whose function is
 * gone, or decide when a slot fires (the wheel does).
 */
#include "api/triggers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/control.h"
#include "base/log.h"
#include "base/util.h"
#include "core/trigger.h"

#define LATEST "$LATEST"

/* ---- documents ---- */

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char t[32];
    if (ms <= 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    trigger_time_text(ms, t);
    cJSON_AddStringToObject(o, key, t);
}

static cJSON *to_json(const trigger_spec_t *s, const trigger_stats_t *st)
{
    cJSON *o = cJSON_CreateObject();
    char created[32];
    util_iso8601_ms((uint64_t)s->created_ms, created);
    cJSON_AddStringToObject(o, "Name", s->name);
    cJSON_AddStringToObject(o, "FunctionName", s->function);
    cJSON_AddStringToObject(o, "ScheduleExpression", s->expr);
    cJSON_AddStringToObject(o, "Timezone", s->tz[0] ? s->tz : "UTC");
    cJSON_AddStringToObject(o, "Payload", s->payload);
    cJSON_AddStringToObject(o, "Format", trigger_format_name(s->format));
    cJSON_AddStringToObject(o, "Qualifier", s->qualifier[0] ? s->qualifier : LATEST);
    cJSON_AddBoolToObject(o, "Enabled", s->enabled);
    cJSON_AddStringToObject(o, "CreationTime", created);
    add_time(o, "LastFiredSlot", st ? st->last_slot_ms : 0);
    add_time(o, "NextSlot", st ? st->next_slot_ms : 0);
    cJSON_AddNumberToObject(o, "Fires", st ? (double)st->fires : 0);
    cJSON_AddNumberToObject(o, "Missed", st ? (double)st->missed : 0);
    cJSON_AddNumberToObject(o, "Failures", st ? (double)st->failures : 0);
    cJSON_AddNumberToObject(o, "LastLagMs", st ? (double)st->last_lag_ms : 0);
    cJSON_AddNumberToObject(o, "MaxLagMs", st ? (double)st->max_lag_ms : 0);
    return o;
}

/* The stored document: the spec, lower-case keys, times in epoch ms. */
static char *stored_doc(const trigger_spec_t *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "schedule", s->expr);
    cJSON_AddStringToObject(o, "timezone", s->tz);
    cJSON_AddStringToObject(o, "payload", s->payload);
    cJSON_AddStringToObject(o, "format", trigger_format_name(s->format));
    cJSON_AddStringToObject(o, "qualifier", s->qualifier);
    cJSON_AddBoolToObject(o, "enabled", s->enabled);
    cJSON_AddNumberToObject(o, "created", (double)s->created_ms);
    cJSON_AddNumberToObject(o, "since", (double)s->since_ms);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) abort();
    return text;
}

static bool copy_str(const cJSON *o, const char *key, char *dst, size_t n)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(m) || strlen(m->valuestring) >= n) return false;
    memcpy(dst, m->valuestring, strlen(m->valuestring) + 1);
    return true;
}

static bool from_stored(trigger_spec_t *s, const char *json)
{
    cJSON *o = cJSON_Parse(json);
    char format[16];
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(o, "enabled");
    const cJSON *cr = cJSON_GetObjectItemCaseSensitive(o, "created");
    const cJSON *si = cJSON_GetObjectItemCaseSensitive(o, "since");
    bool ok = o && copy_str(o, "schedule", s->expr, sizeof s->expr) && copy_str(o, "timezone", s->tz, sizeof s->tz) &&
              copy_str(o, "payload", s->payload, sizeof s->payload) && copy_str(o, "format", format, sizeof format) &&
              copy_str(o, "qualifier", s->qualifier, sizeof s->qualifier) && cJSON_IsBool(en) &&
              cJSON_IsNumber(cr) && cJSON_IsNumber(si) && trigger_format_parse(format, &s->format) == 0;
    if (ok) {
        s->enabled = cJSON_IsTrue(en);
        s->created_ms = (int64_t)cr->valuedouble;
        s->since_ms = (int64_t)si->valuedouble;
    }
    cJSON_Delete(o);
    return ok;
}

/* ---- request bodies ---- */

/* A present, non-null member, or NULL. */
static const cJSON *member(const cJSON *o, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
    return m && !cJSON_IsNull(m) ? m : NULL;
}

static int bad(http_exchange_t *ex, const char *fmt, const char *field, const char *extra)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, field, extra ? extra : "");
    api_respond_error(ex, 400, "InvalidParameterValueException", "%s", msg);
    return -1;
}

/* A string member into dst (at most n - 1 bytes); -1 after answering. */
static int take_str(http_exchange_t *ex, const cJSON *o, const char *key, char *dst, size_t n, bool required)
{
    const cJSON *m = member(o, key);
    if (!m) return required ? bad(ex, "%s: is required%s", key, NULL) : 0;
    if (!cJSON_IsString(m)) return bad(ex, "%s: must be a string%s", key, NULL);
    if (strlen(m->valuestring) >= n) {
        char lim[48];
        snprintf(lim, sizeof lim, " (at most %zu bytes)", n - 1);
        return bad(ex, "%s: is too long%s", key, lim);
    }
    memcpy(dst, m->valuestring, strlen(m->valuestring) + 1);
    return 0;
}

static int take_bool(http_exchange_t *ex, const cJSON *o, const char *key, bool *dst)
{
    const cJSON *m = member(o, key);
    if (!m) return 0;
    if (!cJSON_IsBool(m)) return bad(ex, "%s: must be true or false%s", key, NULL);
    *dst = cJSON_IsTrue(m);
    return 0;
}

static cJSON *parse_object(http_exchange_t *ex, http_request_t *req)
{
    return api_body_object(ex, req, false);
}

/* A POST body into a new spec; -1 after answering. */
static int create_spec(api_t *d, http_exchange_t *ex, const cJSON *o, router_fn_t *latest, trigger_spec_t *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->function, sizeof s->function, "%s", latest->cfg.name);
    s->enabled = true;
    s->created_ms = s->since_ms = (int64_t)loop_wall_ms();
    char format[32] = "fc";
    if (take_str(ex, o, "Name", s->name, sizeof s->name, false) < 0 ||
        take_str(ex, o, "ScheduleExpression", s->expr, sizeof s->expr, true) < 0 ||
        take_str(ex, o, "Timezone", s->tz, sizeof s->tz, false) < 0 ||
        take_str(ex, o, "Payload", s->payload, sizeof s->payload, false) < 0 ||
        take_str(ex, o, "Format", format, sizeof format, false) < 0 ||
        take_str(ex, o, "Qualifier", s->qualifier, sizeof s->qualifier, false) < 0 ||
        take_bool(ex, o, "Enabled", &s->enabled) < 0)
        return -1;
    if (!s->name[0]) {
        char id[37];
        util_uuid4(id);
        snprintf(s->name, sizeof s->name, "timer-%.8s", id);
    }
    if (strcmp(s->tz, "UTC") == 0) s->tz[0] = '\0';
    if (strcmp(s->qualifier, LATEST) == 0) s->qualifier[0] = '\0';
    if (trigger_format_parse(format, &s->format) < 0)
        return bad(ex, "%s: '%s' is not one of fc, scf, eventbridge", "Format", format);
    err_t err = { 0 };
    if (trigger_spec_check(s, &err) < 0) {
        api_respond_error(ex, 400, "InvalidParameterValueException", "%s", err.msg);
        return -1;
    }
    if (s->qualifier[0] && !router_find_version(latest, s->qualifier) && !router_find_alias(latest, s->qualifier)) {
        api_respond_not_found(ex, latest->cfg.name, s->qualifier);
        return -1;
    }
    if (trigger_find(d->triggers, s->function, s->name, NULL)) {
        api_respond_error(ex, 409, "ResourceConflictException", "Trigger already exists: %s/%s", s->function,
                          s->name);
        return -1;
    }
    return 0;
}

/* ---- write jobs ---- */

typedef struct {
    bool remove;
    int status;
    trigger_spec_t spec;
    char *doc;
} job_t;

static int job_work(store_t *st, void *arg, err_t *err)
{
    job_t *j = arg;
    return j->remove ? store_trigger_delete(st, j->spec.function, j->spec.name, err)
                     : store_trigger_put(st, j->spec.function, j->spec.name, j->doc, err);
}

static void respond_one(api_t *d, http_exchange_t *ex, int status, const char *function, const char *name)
{
    trigger_stats_t st;
    const trigger_spec_t *s = trigger_find(d->triggers, function, name, &st);
    if (!s) {
        api_respond_error(ex, 404, "ResourceNotFoundException", "Trigger not found: %s/%s", function, name);
        return;
    }
    api_respond_doc(ex, status, to_json(s, &st));
}

static void job_done(api_t *d, http_exchange_t *ex, void *arg, int rc)
{
    job_t *j = arg;
    router_fn_t *latest = router_find(d->router, j->spec.function);
    err_t err = { 0 };
    if (rc < 0) {
        /* Not stored (api_write answered): nothing to apply. */
    } else if (!latest) {
        /* The function went meanwhile, and the row with it. */
        if (ex) api_respond_not_found(ex, j->spec.function, NULL);
    } else if (j->remove) {
        trigger_remove(d->triggers, j->spec.function, j->spec.name, &err);
        if (ex) api_respond_empty(ex, 204);
    } else if (trigger_put(d->triggers, &j->spec, 0, &err) < 0) {
        if (ex) api_respond_err(ex, &err);
    } else if (ex) {
        respond_one(d, ex, j->status, j->spec.function, j->spec.name);
    }
    free(j->doc);
    free(j);
}

static void submit(api_t *d, http_exchange_t *ex, router_fn_t *latest, const trigger_spec_t *s, bool remove,
                   int status)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    j->remove = remove;
    j->status = status;
    j->spec = *s;
    if (!remove) j->doc = stored_doc(s);
    api_write(d, ex, latest, job_work, job_done, j);
}

/* ---- the handlers ---- */

static void list_one(void *arg, const trigger_spec_t *spec, const trigger_stats_t *stats)
{
    cJSON_AddItemToArray(arg, to_json(spec, stats));
}

static void patch(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest, const trigger_spec_t *cur)
{
    cJSON *o = parse_object(ex, req);
    if (!o) return;
    static const char *const fixed[] = { "Name", "ScheduleExpression", "Timezone", "Format", "Qualifier" };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (member(o, fixed[i])) {
            bad(ex, "%s: cannot be changed; remove the trigger and add it again%s", fixed[i], NULL);
            cJSON_Delete(o);
            return;
        }
    trigger_spec_t s = *cur;
    int rc = take_bool(ex, o, "Enabled", &s.enabled);
    if (rc == 0) rc = take_str(ex, o, "Payload", s.payload, sizeof s.payload, false);
    cJSON_Delete(o);
    if (rc < 0) return;
    err_t err = { 0 };
    if (trigger_spec_check(&s, &err) < 0) {
        api_respond_error(ex, 400, "InvalidParameterValueException", "%s", err.msg);
        return;
    }
    /* Enabled again: its slots count from now, not from when it stopped. */
    if (s.enabled && !cur->enabled) s.since_ms = (int64_t)loop_wall_ms();
    if (!control_busy(ex, latest)) submit(d, ex, latest, &s, false, 200);
}

void triggers_handle(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest, const char *trigger)
{
    const char *m = req->method;
    const char *name = latest->cfg.name;
    if (!trigger) {
        if (strcmp(m, "GET") == 0) {
            cJSON *o = cJSON_CreateObject();
            trigger_each(d->triggers, name, list_one, cJSON_AddArrayToObject(o, "Triggers"));
            api_respond_doc(ex, 200, o);
        } else if (strcmp(m, "POST") == 0) {
            cJSON *o = parse_object(ex, req);
            trigger_spec_t s;
            if (o && create_spec(d, ex, o, latest, &s) == 0 && !control_busy(ex, latest))
                submit(d, ex, latest, &s, false, 201);
            cJSON_Delete(o);
        } else {
            api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", m);
        }
        return;
    }
    const trigger_spec_t *cur = trigger_find(d->triggers, name, trigger, NULL);
    bool get = strcmp(m, "GET") == 0, del = strcmp(m, "DELETE") == 0, pat = strcmp(m, "PATCH") == 0;
    if (!get && !del && !pat) {
        api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", m);
    } else if (!cur) {
        api_respond_error(ex, 404, "ResourceNotFoundException", "Trigger not found: %s/%s", name, trigger);
    } else if (get) {
        respond_one(d, ex, 200, name, trigger);
    } else if (del) {
        if (!control_busy(ex, latest)) submit(d, ex, latest, cur, true, 204);
    } else {
        patch(d, ex, req, latest, cur);
    }
}

void triggers_forget(api_t *d, const char *function)
{
    if (d->triggers) trigger_remove_function(d->triggers, function);
}

/* ---- start-up ---- */

static void load_one(const char *function, const char *name, const char *doc, int64_t last, void *arg)
{
    api_t *d = arg;
    trigger_spec_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.function, sizeof s.function, "%s", function);
    snprintf(s.name, sizeof s.name, "%s", name);
    err_t err = { 0 };
    if (!router_find(d->router, function) || !from_stored(&s, doc) || trigger_put(d->triggers, &s, last, &err) < 0)
        log_warn("skipping stored trigger %s/%s%s%s", function, name, err.msg[0] ? ": " : "", err.msg);
}

int triggers_load(api_t *d, err_t *err)
{
    if (!d->triggers) return 0;
    return store_trigger_each(d->store, load_one, d, err);
}
