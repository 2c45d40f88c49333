/* url.c — Lambda's FunctionUrlConfig API: validation as Lambda does it, the
 * table of URLs in memory (by function and qualifier, and by id), writes
 * stored before they are applied and answered, and loading on start.
 *
 * Owns which URL ids exist and what each serves. Must never: answer a
 * write before the store has it, give one qualifier two URLs, or keep a
 * URL whose function or alias is gone.
 */
#include "api/url_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/control.h"
#include "base/log.h"
#include "base/util.h"
#include "core/function.h"

#define LATEST "$LATEST"
#define LIST_MAX 50
/* Lambda's pattern of a URL's Qualifier: an alias name, never a version. */
#define QUALIFIER_PATTERN "((?!^\\d+$)^[0-9a-zA-Z-_]+$)"

struct url_table {
    qtable_t t;
};

static void cfg_free(void *p)
{
    url_cfg_t *u = p;
    if (!u) return;
    url_cors_free(u->cors);
    free(u);
}

url_table_t *url_table_new(void)
{
    url_table_t *t = calloc(1, sizeof *t);
    if (t) t->t.free_entry = cfg_free;
    return t;
}

void url_table_free(url_table_t *t)
{
    if (!t) return;
    qtable_clear(&t->t);
    free(t);
}

void url_forget(api_t *d, const char *function, const char *qualifier)
{
    if (d->urls) qtable_drop(&d->urls->t, function, qualifier);
}

const url_cfg_t *url_find_id(const api_t *d, const char *id)
{
    /* Few URLs per daemon, and an id compare is short: a scan is enough. */
    const qtable_t *t = d->urls ? &d->urls->t : NULL;
    for (size_t i = 0; t && i < t->n; i++) {
        const url_cfg_t *u = (const url_cfg_t *)t->v[i];
        if (strcmp(u->id, id) == 0) return u;
    }
    return NULL;
}

/* ---- documents ---- */

static void function_url(const api_t *d, const char *id, char *buf, size_t n)
{
    snprintf(buf, n, "%s://%s.lambda-url.%s.localhost:%d/", d->cfg.public_tls ? "https" : "http", id,
             NIMBUS_REGION, d->cfg.public_port);
}

/* Lambda's FunctionUrlConfig (answer) or the stored document (!answer). */
static cJSON *to_json(const api_t *d, const url_cfg_t *u, bool answer, bool modified)
{
    const char *qualifier = u->key.qualifier;
    cJSON *o = cJSON_CreateObject();
    if (answer) {
        char url[200], arn[300];
        function_url(d, u->id, url, sizeof url);
        function_arn(u->key.function, strcmp(qualifier, LATEST) == 0 ? NULL : qualifier, arn, sizeof arn);
        cJSON_AddStringToObject(o, "FunctionUrl", url);
        cJSON_AddStringToObject(o, "FunctionArn", arn);
    } else {
        cJSON_AddStringToObject(o, "UrlId", u->id);
    }
    cJSON_AddStringToObject(o, "AuthType", u->iam ? "AWS_IAM" : "NONE");
    if (u->cors) cJSON_AddItemToObject(o, "Cors", url_cors_to_json(u->cors));
    cJSON_AddStringToObject(o, "CreationTime", u->created);
    if (modified || !answer) cJSON_AddStringToObject(o, "LastModifiedTime", u->modified);
    cJSON_AddStringToObject(o, "InvokeMode", u->stream ? "RESPONSE_STREAM" : "BUFFERED");
    return o;
}

static url_cfg_t *from_stored(const char *function, const char *qualifier, const char *doc)
{
    cJSON *o = cJSON_Parse(doc);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "UrlId");
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(o, "InvokeMode");
    const cJSON *cors = cJSON_GetObjectItemCaseSensitive(o, "Cors");
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(o, "AuthType");
    const char *created = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "CreationTime"));
    const char *modified = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "LastModifiedTime"));
    url_cfg_t *u = NULL;
    err_t err;
    if (cJSON_IsString(id) && strlen(id->valuestring) == URL_ID_LEN && (u = calloc(1, sizeof *u))) {
        snprintf(u->key.function, sizeof u->key.function, "%s", function);
        snprintf(u->key.qualifier, sizeof u->key.qualifier, "%s", qualifier);
        memcpy(u->id, id->valuestring, URL_ID_LEN + 1);
        u->stream = cJSON_IsString(mode) && strcmp(mode->valuestring, "RESPONSE_STREAM") == 0;
        u->iam = cJSON_IsString(auth) && strcmp(auth->valuestring, "AWS_IAM") == 0;
        snprintf(u->created, sizeof u->created, "%s", created ? created : "");
        snprintf(u->modified, sizeof u->modified, "%s", modified ? modified : u->created);
        if (cors && !(u->cors = url_cors_parse(cors, &err))) {
            cfg_free(u);
            u = NULL;
        }
    }
    cJSON_Delete(o);
    return u;
}

/* ---- validation ---- */

static void verr(buf_t *msg, int *n, const char *value, const char *field, const char *constraint)
{
    buf_appendf(msg, "%sValue %s%s%s at '%s' failed to satisfy constraint: %s", (*n)++ ? "; " : "",
                value ? "'" : "", value ? value : "null", value ? "'" : "", field, constraint);
}

/* A present, non-null member, or NULL (SDKs send null for unset members). */
static const cJSON *member(const cJSON *o, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
    return m && !cJSON_IsNull(m) ? m : NULL;
}

typedef struct {
    const char *auth;         /* NULL: not given */
    const char *mode;
    const cJSON *cors;
    url_cors_t *rules;        /* parsed cors */
} body_t;

/* Lambda's checks of a request body, all broken constraints in one
 * answer; then AWS_IAM refused when no credentials are configured (no
 * signature could be checked). Answers and returns -1 on error. */
static int parse_body(const api_t *d, http_exchange_t *ex, const http_request_t *req, bool create, body_t *b,
                      cJSON **doc)
{
    memset(b, 0, sizeof *b);
    *doc = api_body_object(ex, req, true);
    if (!*doc) return -1;
    const cJSON *auth = member(*doc, "AuthType"), *mode = member(*doc, "InvokeMode");
    buf_t msg = {0};
    int n = 0;
    if (auth && !cJSON_IsString(auth)) auth = NULL, verr(&msg, &n, "?", "authType", "Member must be a string");
    if (create && !auth && !n) verr(&msg, &n, NULL, "authType", "Member must not be null");
    if (auth && strcmp(auth->valuestring, "NONE") != 0 && strcmp(auth->valuestring, "AWS_IAM") != 0)
        verr(&msg, &n, auth->valuestring, "authType", "Member must satisfy enum value set: [AWS_IAM, NONE]");
    if (mode && (!cJSON_IsString(mode) || (strcmp(mode->valuestring, "BUFFERED") != 0 &&
                                           strcmp(mode->valuestring, "RESPONSE_STREAM") != 0)))
        verr(&msg, &n, cJSON_IsString(mode) ? mode->valuestring : "?", "invokeMode",
             "Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]");
    if (n) {
        api_respond_error(ex, 400, "ValidationException", "%d validation error%s detected: %s", n, n > 1 ? "s" : "",
                          msg.data);
        buf_free(&msg);
        return -1;
    }
    buf_free(&msg);
    b->auth = auth ? auth->valuestring : NULL;
    b->mode = mode ? mode->valuestring : NULL;
    if (b->auth && strcmp(b->auth, "AWS_IAM") == 0 && !d->auth) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                          "AuthType AWS_IAM needs credentials: this Nimbus has no credentials file to check a "
                          "request's signature against; use AuthType NONE");
        return -1;
    }
    b->cors = member(*doc, "Cors");
    if (b->cors) {
        err_t err;
        if (!(b->rules = url_cors_parse(b->cors, &err))) {
            api_respond_err(ex, &err);
            return -1;
        }
    }
    return 0;
}

/* The qualifier a URL may have: "" ($LATEST) or an existing alias.
 * Answers and returns false otherwise. */
static bool check_qualifier(http_exchange_t *ex, router_fn_t *latest, const char *q)
{
    if (!*q) return true;
    bool digits = true, ok = strlen(q) <= 128;
    for (const char *p = q; *p; p++) {
        if (*p < '0' || *p > '9') digits = false;
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_')) ok = false;
    }
    if (digits || !ok) {
        api_respond_error(ex, 400, "ValidationException",
                          "1 validation error detected: Value '%s' at 'qualifier' failed to satisfy constraint: "
                          "Member must satisfy regular expression pattern: " QUALIFIER_PATTERN, q);
        return false;
    }
    if (!router_find_alias(latest, q)) {
        api_respond_not_found(ex, latest->cfg.name, q);
        return false;
    }
    return true;
}

/* ---- writes ---- */

typedef struct {
    bool remove;
    bool created;             /* answer 201 */
    url_cfg_t *u;             /* the new entry (put), owned until applied */
    char function[65], qualifier[130];
    char *doc;
} job_t;

static int job_work(store_t *st, void *arg, err_t *err)
{
    job_t *j = arg;
    return j->remove ? store_url_delete(st, j->function, j->qualifier, err)
                     : store_url_put(st, j->function, j->qualifier, j->doc, err);
}

static void job_done(api_t *d, http_exchange_t *ex, void *arg, int rc)
{
    job_t *j = arg;
    if (rc == 0 && j->remove) {
        qtable_drop(&d->urls->t, j->function, j->qualifier);
        if (ex) api_respond_empty(ex, 204);
    } else if (rc == 0) {
        url_cfg_t *u = j->u;
        j->u = NULL;
        qtable_put(&d->urls->t, u);
        if (ex) api_respond_doc(ex, j->created ? 201 : 200, to_json(d, u, true, !j->created));
    }
    cfg_free(j->u);
    free(j->doc);
    free(j);
}

static void submit(api_t *d, http_exchange_t *ex, router_fn_t *latest, url_cfg_t *u, const url_cfg_t *cur,
                   bool created)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) { cfg_free(u); api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    j->created = created;
    j->remove = !u;
    j->u = u;
    const qkey_t *key = u ? &u->key : &cur->key;
    memcpy(j->function, key->function, sizeof j->function);
    memcpy(j->qualifier, key->qualifier, sizeof j->qualifier);
    if (u) {
        cJSON *o = to_json(d, u, false, true);
        j->doc = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    }
    api_write(d, ex, latest, job_work, job_done, j);
}

/* ---- the handlers ---- */

static void respond_no_url(http_exchange_t *ex)
{
    api_respond_error(ex, 404, "ResourceNotFoundException", "The resource you requested does not exist.");
}

static void create(api_t *d, http_exchange_t *ex, router_fn_t *latest, const char *q, body_t *b)
{
    url_cfg_t *u = calloc(1, sizeof *u);
    if (!u) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    snprintf(u->key.function, sizeof u->key.function, "%s", latest->cfg.name);
    snprintf(u->key.qualifier, sizeof u->key.qualifier, "%s", q);
    do util_random_id(u->id, sizeof u->id);
    while (url_find_id(d, u->id));
    u->stream = b->mode && strcmp(b->mode, "RESPONSE_STREAM") == 0;
    u->iam = b->auth && strcmp(b->auth, "AWS_IAM") == 0;
    u->cors = b->rules;
    b->rules = NULL;
    util_iso8601_ms(loop_wall_ms(), u->created);
    memcpy(u->modified, u->created, sizeof u->modified);
    submit(d, ex, latest, u, NULL, true);
}

static void update(api_t *d, http_exchange_t *ex, router_fn_t *latest, const url_cfg_t *cur, body_t *b)
{
    url_cfg_t *u = calloc(1, sizeof *u);
    if (!u) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    *u = *cur;
    /* Only what the request names changes. The old entry keeps its own
     * CORS rules until it is replaced (the write may fail): a copy. */
    u->cors = NULL;
    if (b->cors) {
        u->cors = b->rules;
        b->rules = NULL;
    } else if (cur->cors) {
        cJSON *c = url_cors_to_json(cur->cors);
        err_t err;
        u->cors = url_cors_parse(c, &err);
        cJSON_Delete(c);
    }
    if (b->mode) u->stream = strcmp(b->mode, "RESPONSE_STREAM") == 0;
    if (b->auth) u->iam = strcmp(b->auth, "AWS_IAM") == 0;
    util_iso8601_ms(loop_wall_ms(), u->modified);
    submit(d, ex, latest, u, NULL, false);
}

void url_config_handle(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest, const char *qual)
{
    const char *m = req->method;
    if (!check_qualifier(ex, latest, qual)) return;
    const char *q = *qual ? qual : LATEST;
    url_cfg_t *cur = qtable_find(&d->urls->t, latest->cfg.name, q);
    if (strcmp(m, "GET") == 0) {
        if (cur) api_respond_doc(ex, 200, to_json(d, cur, true, true));
        else respond_no_url(ex);
        return;
    }
    if (strcmp(m, "DELETE") == 0) {
        if (!cur) respond_no_url(ex);
        else if (!control_busy(ex, latest)) submit(d, ex, latest, NULL, cur, false);
        return;
    }
    bool is_create = strcmp(m, "POST") == 0;
    if (!is_create && strcmp(m, "PUT") != 0) {
        api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", m);
        return;
    }
    body_t b;
    cJSON *doc;
    if (parse_body(d, ex, req, is_create, &b, &doc) == 0) {
        char arn[300];
        function_arn(latest->cfg.name, *qual ? qual : NULL, arn, sizeof arn);
        if (is_create && cur) {
            api_respond_error(ex, 409, "ResourceConflictException",
                              "Failed to create function url config for [functionArn = %s]. Error message:  "
                              "FunctionUrlConfig exists for this Lambda function", arn);
        } else if (!is_create && !cur) {
            respond_no_url(ex);
        } else if (!control_busy(ex, latest)) {
            if (is_create) create(d, ex, latest, q, &b);
            else update(d, ex, latest, cur, &b);
        }
    }
    url_cors_free(b.rules);
    cJSON_Delete(doc);
}

static cJSON *list_item(const void *entry, void *arg)
{
    return to_json(arg, entry, true, true);
}

void url_config_list(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest)
{
    qtable_list_respond(ex, req, LIST_MAX, &d->urls->t, latest->cfg.name, "FunctionUrlConfigs", list_item, d);
}

/* ---- start-up ---- */

static void load_one(const char *function, const char *qualifier, const char *doc, void *arg)
{
    api_t *d = arg;
    router_fn_t *latest = router_find(d->router, function);
    url_cfg_t *u = NULL;
    if (!latest || (strcmp(qualifier, LATEST) != 0 && !router_find_alias(latest, qualifier)) ||
        !(u = from_stored(function, qualifier, doc))) {
        log_warn("skipping stored function URL %s:%s", function, qualifier);
        return;
    }
    qtable_put(&d->urls->t, u);
}

int url_load(api_t *d, err_t *err)
{
    return store_url_each(d->store, load_one, d, err);
}
