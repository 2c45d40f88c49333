/* event_config.c — FunctionEventInvokeConfig: Lambda's validation and
 * documents, the table in memory (sorted by function and qualifier), the
 * write jobs (stored on a worker, then applied to the table and answered),
 * and the policy the async queue reads for each event.
 *
 * Owns what an asynchronous call's retries, age and destinations are. Must
 * never: answer a write before the store has it, accept a destination
 * Nimbus cannot deliver to, or keep the configuration of a qualifier that
 * is gone.
 */
#include "api/event_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/control.h"
#include "api/qtable.h"
#include "base/log.h"
#include "base/util.h"
#include "core/function.h"

#define LATEST "$LATEST"
#define DEST_MAX 350          /* Lambda's length limit of a Destination */
#define RETRY_MIN 0
#define RETRY_MAX 2
#define AGE_MIN 60
#define AGE_MAX 21600
#define LIST_MAX 50           /* MaxItems' ceiling, as Lambda's */

/* Lambda's pattern for a Destination, and Nimbus' URLs beside it. */
#define DEST_PATTERN "^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)|https?://.+"

typedef struct {
    qkey_t key;               /* function, and "$LATEST", a version number or an alias */
    bool has_retry, has_age;  /* shown (and applied) only when given */
    int retry, age;
    char on_success[DEST_MAX + 1];
    char on_failure[DEST_MAX + 1];
    double last_modified;     /* epoch seconds, as Lambda shows it */
} evcfg_t;

struct event_configs {
    qtable_t t;               /* of evcfg_t */
};

event_configs_t *event_config_new(void)
{
    return calloc(1, sizeof(event_configs_t));
}

void event_config_free(event_configs_t *t)
{
    if (!t) return;
    qtable_clear(&t->t);
    free(t);
}

static evcfg_t *find(const event_configs_t *t, const char *function, const char *qualifier)
{
    return qtable_find(&t->t, function, qualifier);
}

/* A copy of e goes into the table. */
static void put(event_configs_t *t, const evcfg_t *e)
{
    evcfg_t *c = malloc(sizeof *c);
    if (!c) abort();
    *c = *e;
    qtable_put(&t->t, c);
}

void event_config_forget(api_t *d, const char *function, const char *qualifier)
{
    if (d->event_configs) qtable_drop(&d->event_configs->t, function, qualifier);
}

/* ---- documents ---- */

static cJSON *destination_json(const char *dest)
{
    cJSON *o = cJSON_CreateObject();
    if (*dest) cJSON_AddStringToObject(o, "Destination", dest);
    return o;
}

/* Lambda's FunctionEventInvokeConfig (with_arn) or the stored document. */
static cJSON *to_json(const evcfg_t *e, bool with_arn)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "LastModified", e->last_modified);
    if (with_arn) {
        char arn[300];
        function_arn(e->key.function, e->key.qualifier, arn, sizeof arn);
        cJSON_AddStringToObject(o, "FunctionArn", arn);
    }
    if (e->has_retry) cJSON_AddNumberToObject(o, "MaximumRetryAttempts", e->retry);
    if (e->has_age) cJSON_AddNumberToObject(o, "MaximumEventAgeInSeconds", e->age);
    cJSON *dc = cJSON_AddObjectToObject(o, "DestinationConfig");
    cJSON_AddItemToObject(dc, "OnSuccess", destination_json(e->on_success));
    cJSON_AddItemToObject(dc, "OnFailure", destination_json(e->on_failure));
    return o;
}

/* A present, non-null member, or NULL (SDKs send null for unset members). */
static const cJSON *member(const cJSON *o, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
    return m && !cJSON_IsNull(m) ? m : NULL;
}

/* What a request body gives, before it is applied. */
typedef struct {
    const cJSON *retry, *age, *dc;
    const cJSON *dest[2];     /* OnSuccess, OnFailure: the Destination string, if given */
    bool given[2];            /* the OnSuccess / OnFailure object is there */
} body_t;

static const char *const DEST_NAME[2] = { "OnSuccess", "OnFailure" };
static const char *const DEST_CHECK[2] = { "destinationConfig.onSuccess.destination",
                                           "destinationConfig.onFailure.destination" };

static void verr(buf_t *msg, int *n, const char *value, const char *field, const char *constraint)
{
    buf_appendf(msg, "%sValue '%s' at '%s' failed to satisfy constraint: %s", (*n)++ ? "; " : "", value, field,
                constraint);
}

static void check_range(buf_t *msg, int *n, const cJSON *m, const char *field, int min, int max)
{
    if (!m || (m->valuedouble >= min && m->valuedouble <= max)) return;
    char val[48], c[96];
    snprintf(val, sizeof val, "%.0f", m->valuedouble);
    if (m->valuedouble < min) snprintf(c, sizeof c, "Member must have value greater than or equal to %d", min);
    else snprintf(c, sizeof c, "Member must have value less than or equal to %d", max);
    verr(msg, n, val, field, c);
}

/* Lambda's ARN pattern, or a URL (the parse's INVALID covers what neither). */
static bool dest_pattern_ok(const char *s)
{
    char name[65], q[130];
    function_target_t t = function_target_parse(s, name, q);
    if (t != FUNCTION_TARGET_INVALID) return true;
    /* A Lambda ARN that is not a function's still fits the pattern: the
     * semantic check names it. */
    return strncmp(s, "arn:aws", 7) == 0 && strchr(s + 4, ':') && strchr(strchr(s + 4, ':') + 1, ':');
}

static bool is_int(const cJSON *m)
{
    return cJSON_IsNumber(m) && isfinite(m->valuedouble) && m->valuedouble == floor(m->valuedouble);
}

/* Types, then every broken constraint together, then "nothing given", as
 * Lambda reports them. Answers and returns -1 on error. */
static int parse_body(http_exchange_t *ex, const cJSON *o, body_t *b)
{
    memset(b, 0, sizeof *b);
    if (!cJSON_IsObject(o)) {
        api_respond_error(ex, 400, "InvalidRequestContentException", "Could not parse request body into json");
        return -1;
    }
    b->retry = member(o, "MaximumRetryAttempts");
    b->age = member(o, "MaximumEventAgeInSeconds");
    b->dc = member(o, "DestinationConfig");
    const char *bad = NULL;
    if (b->retry && !is_int(b->retry)) bad = "MaximumRetryAttempts must be an integer";
    else if (b->age && !is_int(b->age)) bad = "MaximumEventAgeInSeconds must be an integer";
    else if (b->dc && !cJSON_IsObject(b->dc)) bad = "DestinationConfig must be an object";
    for (int k = 0; !bad && b->dc && k < 2; k++) {
        const cJSON *side = member(b->dc, DEST_NAME[k]);
        if (!side) continue;
        if (!cJSON_IsObject(side)) { bad = k ? "DestinationConfig.OnFailure must be an object"
                                             : "DestinationConfig.OnSuccess must be an object"; break; }
        b->given[k] = true;
        b->dest[k] = member(side, "Destination");
        if (b->dest[k] && !cJSON_IsString(b->dest[k]))
            bad = k ? "DestinationConfig.OnFailure.Destination must be a string"
                    : "DestinationConfig.OnSuccess.Destination must be a string";
    }
    if (bad) {
        api_respond_error(ex, 400, "InvalidParameterValueException", "%s", bad);
        return -1;
    }
    buf_t msg = { 0 };
    int n = 0;
    for (int k = 0; k < 2; k++) {
        if (!b->dest[k]) continue;
        const char *s = b->dest[k]->valuestring;
        if (strlen(s) > DEST_MAX) verr(&msg, &n, s, DEST_CHECK[k], "Member must have length less than or equal to 350");
        else if (!dest_pattern_ok(s))
            verr(&msg, &n, s, DEST_CHECK[k], "Member must satisfy regular expression pattern: " DEST_PATTERN);
    }
    check_range(&msg, &n, b->age, "maximumEventAgeInSeconds", AGE_MIN, AGE_MAX);
    check_range(&msg, &n, b->retry, "maximumRetryAttempts", RETRY_MIN, RETRY_MAX);
    if (n) {
        api_respond_error(ex, 400, "ValidationException", "%d validation error%s detected: %s", n, n == 1 ? "" : "s",
                          msg.data);
        buf_free(&msg);
        return -1;
    }
    buf_free(&msg);
    if (!b->retry && !b->age && !b->dc) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                          "You must specify at least one of error handling or destination setting.");
        return -1;
    }
    return 0;
}

/* What Nimbus can deliver to: another function that exists, or a URL.
 * Answers and returns -1 when a destination is refused. */
static int check_destinations(api_t *d, http_exchange_t *ex, const router_fn_t *latest, const body_t *b)
{
    for (int k = 0; k < 2; k++) {
        if (!b->dest[k]) continue;
        const char *s = b->dest[k]->valuestring;
        char name[65], q[130];
        switch (function_target_parse(s, name, q)) {
        case FUNCTION_TARGET_NONE:
        case FUNCTION_TARGET_URL: break;
        case FUNCTION_TARGET_UNSUPPORTED:
            api_respond_error(ex, 400, "InvalidParameterValueException",
                              "The destination %s is not supported by Nimbus: use a Nimbus function's ARN or an http(s) URL",
                              s);
            return -1;
        case FUNCTION_TARGET_INVALID:
            api_respond_error(ex, 400, "InvalidParameterValueException", "The destination ARN %s is invalid.", s);
            return -1;
        case FUNCTION_TARGET_FUNCTION: {
            if (strcmp(name, latest->cfg.name) == 0) {
                api_respond_error(ex, 400, "InvalidParameterValueException",
                                  "You can't specify the function as a destination for itself.");
                return -1;
            }
            router_fn_t *target = router_find(d->router, name);
            if (!target || (q[0] && strcmp(q, LATEST) != 0 && !router_find_version(target, q) &&
                            !router_find_alias(target, q))) {
                api_respond_error(ex, 400, "InvalidParameterValueException", "The destination ARN %s is invalid.", s);
                return -1;
            }
            break;
        }
        }
    }
    return 0;
}

static void apply_body(evcfg_t *e, const body_t *b)
{
    if (b->retry) { e->has_retry = true; e->retry = (int)b->retry->valuedouble; }
    if (b->age) { e->has_age = true; e->age = (int)b->age->valuedouble; }
    char *dest[2] = { e->on_success, e->on_failure };
    for (int k = 0; k < 2; k++)
        if (b->given[k]) snprintf(dest[k], DEST_MAX + 1, "%s", b->dest[k] ? b->dest[k]->valuestring : "");
    e->last_modified = (double)loop_wall_ms() / 1000.0;
}

/* The stored document, as written by to_json(e, false). */
static bool from_stored(evcfg_t *e, const char *json)
{
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) { cJSON_Delete(o); return false; }
    const cJSON *lm = member(o, "LastModified"), *r = member(o, "MaximumRetryAttempts"),
                *a = member(o, "MaximumEventAgeInSeconds"), *dc = member(o, "DestinationConfig");
    e->last_modified = cJSON_IsNumber(lm) ? lm->valuedouble : 0;
    if (is_int(r) && r->valuedouble >= RETRY_MIN && r->valuedouble <= RETRY_MAX) {
        e->has_retry = true;
        e->retry = (int)r->valuedouble;
    }
    if (is_int(a) && a->valuedouble >= AGE_MIN && a->valuedouble <= AGE_MAX) {
        e->has_age = true;
        e->age = (int)a->valuedouble;
    }
    char *dest[2] = { e->on_success, e->on_failure };
    for (int k = 0; k < 2; k++) {
        const cJSON *s = member(member(dc, DEST_NAME[k]), "Destination");
        if (cJSON_IsString(s)) snprintf(dest[k], DEST_MAX + 1, "%s", s->valuestring);
    }
    cJSON_Delete(o);
    return true;
}

/* ---- writes ---- */

typedef struct {
    bool remove;
    evcfg_t e;
    char *doc;                /* the stored document (put) */
} job_t;

static int job_work(store_t *st, void *arg, err_t *err)
{
    job_t *j = arg;
    return j->remove ? store_event_config_delete(st, j->e.key.function, j->e.key.qualifier, err)
                     : store_event_config_put(st, j->e.key.function, j->e.key.qualifier, j->doc, err);
}

static void respond_doc(http_exchange_t *ex, int status, const evcfg_t *e)
{
    cJSON *o = to_json(e, true);
    api_respond_doc(ex, status, o);
}

static void job_done(api_t *d, http_exchange_t *ex, void *arg, int rc)
{
    job_t *j = arg;
    if (rc == 0 && j->remove) {
        qtable_drop(&d->event_configs->t, j->e.key.function, j->e.key.qualifier);
        if (ex) api_respond_empty(ex, 204);
    } else if (rc == 0) {
        put(d->event_configs, &j->e);
        if (ex) respond_doc(ex, 200, &j->e);
    }
    free(j->doc);
    free(j);
}

static void submit(api_t *d, http_exchange_t *ex, router_fn_t *latest, const evcfg_t *e, bool remove)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    j->remove = remove;
    j->e = *e;
    if (!remove) {
        cJSON *o = to_json(e, false);
        j->doc = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    }
    api_write(d, ex, latest, job_work, job_done, j);
}

/* ---- the handlers ---- */

static void respond_no_config(http_exchange_t *ex, const char *function, const char *qualifier)
{
    char arn[300];
    function_arn(function, qualifier, arn, sizeof arn);
    api_respond_error(ex, 404, "ResourceNotFoundException", "The function %s doesn't have an EventInvokeConfig", arn);
}

/* Whether `qualifier` names $LATEST, a version or an alias of latest. */
static bool qualifier_exists(router_fn_t *latest, const char *qualifier)
{
    return strcmp(qualifier, LATEST) == 0 || router_find_version(latest, qualifier) ||
           router_find_alias(latest, qualifier);
}

void event_config_handle(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest, const char *qual)
{
    const char *q = qual && *qual ? qual : LATEST;
    const char *m = req->method;
    const char *name = latest->cfg.name;
    evcfg_t *cur = find(d->event_configs, name, q);
    if (strcmp(m, "GET") == 0) {
        if (cur) respond_doc(ex, 200, cur);
        else respond_no_config(ex, name, q);
        return;
    }
    if (strcmp(m, "DELETE") == 0) {
        if (!cur) { respond_no_config(ex, name, q); return; }
        if (control_busy(ex, latest)) return;
        submit(d, ex, latest, cur, true);
        return;
    }
    bool update = strcmp(m, "POST") == 0;
    if (!update && strcmp(m, "PUT") != 0) {
        api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", m);
        return;
    }
    cJSON *body = api_body_object(ex, req, true);
    if (!body) return;
    body_t b;
    if (parse_body(ex, body, &b) < 0) { cJSON_Delete(body); return; }
    if (!qualifier_exists(latest, q)) {
        api_respond_not_found(ex, name, q);
    } else if (update && !cur) {
        respond_no_config(ex, name, q);
    } else if (check_destinations(d, ex, latest, &b) == 0 && !control_busy(ex, latest)) {
        evcfg_t e;
        if (update) {
            e = *cur;
        } else {
            memset(&e, 0, sizeof e);
            snprintf(e.key.function, sizeof e.key.function, "%s", name);
            snprintf(e.key.qualifier, sizeof e.key.qualifier, "%s", q);
        }
        apply_body(&e, &b);
        submit(d, ex, latest, &e, false);
    }
    cJSON_Delete(body);
}

static cJSON *list_item(const void *entry, void *arg)
{
    (void)arg;
    return to_json(entry, true);
}

void event_config_list(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest)
{
    qtable_list_respond(ex, req, LIST_MAX, &d->event_configs->t, latest->cfg.name, "FunctionEventInvokeConfigs",
                        list_item, NULL);
}

/* ---- the policy ---- */

static void apply_policy(const evcfg_t *e, async_policy_t *out)
{
    if (e->has_retry) out->max_retry_attempts = e->retry;
    if (e->has_age) out->max_event_age_s = e->age;
    snprintf(out->on_success, sizeof out->on_success, "%s", e->on_success);
    snprintf(out->on_failure, sizeof out->on_failure, "%s", e->on_failure);
}

bool event_config_policy(void *arg, const char *function, const char *qualifier, async_policy_t *out,
                         char dead_letter[512])
{
    api_t *d = arg;
    async_policy_defaults(out);
    dead_letter[0] = '\0';
    router_fn_t *latest = router_find(d->router, function);
    if (!latest) return false;
    const char *q = qualifier && *qualifier ? qualifier : LATEST;
    router_fn_t *v = latest;
    const char *version = NULL;   /* an alias's version */
    if (strcmp(q, LATEST) != 0) {
        router_alias_t *a = NULL;
        v = router_find_version(latest, q);
        if (!v && (a = router_find_alias(latest, q))) {
            version = a->version;
            v = strcmp(version, LATEST) == 0 ? latest : router_find_version(latest, version);
        }
        if (!v) return false;
    }
    /* A version's dead-letter target is its own, fixed when published. */
    snprintf(dead_letter, 512, "%s", v->cfg.dead_letter_arn);
    const evcfg_t *e = find(d->event_configs, function, q);
    if (!e && version) e = find(d->event_configs, function, version);
    if (!e) e = find(d->event_configs, function, LATEST);
    if (e) apply_policy(e, out);
    return true;
}

/* ---- start-up ---- */

static void load_one(const char *function, const char *qualifier, const char *doc, void *arg)
{
    api_t *d = arg;
    router_fn_t *latest = router_find(d->router, function);
    evcfg_t e;
    memset(&e, 0, sizeof e);
    snprintf(e.key.function, sizeof e.key.function, "%s", function);
    snprintf(e.key.qualifier, sizeof e.key.qualifier, "%s", qualifier);
    if (!latest || !qualifier_exists(latest, qualifier) || !from_stored(&e, doc)) {
        log_warn("skipping stored event invoke config %s:%s", function, qualifier);
        return;
    }
    put(d->event_configs, &e);
}

int event_config_load(api_t *d, err_t *err)
{
    return store_event_config_each(d->store, load_one, d, err);
}
