/* version.c — versions, aliases and provisioned concurrency: validation,
 * the API's JSON, and the write jobs (stored on a worker, then applied to
 * the router). Must never: change a published version's code or settings,
 * reuse a version number, or delete a version an alias still points at.
 */
#include "api/version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/control.h"
#include "api/event_config.h"
#include "api/url.h"
#include "core/function.h"
#include "base/log.h"
#include "base/util.h"

typedef enum { V_PUBLISH, V_DELETE, V_ALIAS_PUT, V_ALIAS_DELETE, V_PROVISIONED } vjob_kind_t;

typedef struct {
    api_t *d;
    vjob_kind_t kind;
    http_exchange_t *ex;       /* NULL once the client went away */
    char name[65];             /* the function */
    char key[130];             /* version number or alias name */
    int status;                /* success status to answer */
    function_config_t cfg;     /* V_PUBLISH: the new version; V_PROVISIONED: the version */
    function_config_t latest;  /* V_PUBLISH: $LATEST with last_version bumped */
    char *doc;                 /* V_ALIAS_PUT: the alias document */
    err_t err;
    int rc;
} vjob_t;

static void vjob_abort(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((vjob_t *)arg)->ex = NULL;
}

static void vjob_work(void *arg)
{
    vjob_t *j = arg;
    store_t *st = j->d->store;
    switch (j->kind) {
    case V_PUBLISH: {
        char *doc = function_config_serialize(&j->cfg);
        j->rc = store_version_insert(st, j->name, atoi(j->key), doc, j->cfg.code_hex, &j->err);
        free(doc);
        if (j->rc == 0) {
            doc = function_config_serialize(&j->latest);
            j->rc = store_function_update(st, j->name, doc, j->latest.code_hex, &j->err);
            free(doc);
        }
        break;
    }
    case V_DELETE: j->rc = store_version_delete(st, j->name, atoi(j->key), &j->err); break;
    case V_ALIAS_PUT: j->rc = store_alias_put(st, j->name, j->key, j->doc, &j->err); break;
    case V_ALIAS_DELETE: j->rc = store_alias_delete(st, j->name, j->key, &j->err); break;
    case V_PROVISIONED: {
        char *doc = function_config_serialize(&j->cfg);
        j->rc = store_version_update(st, j->name, atoi(j->cfg.version), doc, &j->err);
        free(doc);
        break;
    }
    }
}

/* A ProvisionedConcurrencyConfig: Get's and Put's answer, and (with its
 * FunctionArn) an item of List's. */
static cJSON *provisioned_json(const router_fn_t *v, bool with_arn)
{
    unsigned ready = router_provisioned_ready(v);
    int want = v->cfg.provisioned;
    cJSON *o = cJSON_CreateObject();
    if (with_arn) {
        char arn[300];
        function_arn(v->cfg.name, v->cfg.provisioned_qualifier[0] ? v->cfg.provisioned_qualifier : v->cfg.version,
                     arn, sizeof arn);
        cJSON_AddStringToObject(o, "FunctionArn", arn);
    }
    cJSON_AddNumberToObject(o, "RequestedProvisionedConcurrentExecutions", want);
    cJSON_AddNumberToObject(o, "AvailableProvisionedConcurrentExecutions", want);
    cJSON_AddNumberToObject(o, "AllocatedProvisionedConcurrentExecutions", ready);
    cJSON_AddStringToObject(o, "Status", ready >= (unsigned)want ? "READY" : "IN_PROGRESS");
    char ts[32];
    util_iso8601_ms(loop_wall_ms(), ts);
    cJSON_AddStringToObject(o, "LastModified", ts);
    return o;
}

static void provisioned_answer(http_exchange_t *ex, int status, const router_fn_t *v)
{
    api_respond_doc(ex, status, provisioned_json(v, false));
}

/* A MaxItems query parameter: absent → dflt; outside 1..max → -1. */
static long max_items(const char *query, long dflt, long max)
{
    char *v = util_query_param(query, "MaxItems");
    if (!v) return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    bool ok = *v && !*end && n >= 1 && n <= max;
    free(v);
    return ok ? n : -1;
}

/* ListProvisionedConcurrencyConfigs: the function's versions that have
 * provisioned instances, in version order; the marker is the version
 * number the next page starts after. */
static void provisioned_list(http_exchange_t *ex, http_request_t *req, router_fn_t *latest)
{
    long maxi = max_items(req->query, 50, 50);
    if (maxi < 0) {
        api_respond_error(ex, 400, "ValidationException",
                          "1 validation error detected: Value at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50");
        return;
    }
    char *marker = util_query_param(req->query, "Marker");
    int after = marker && *marker ? atoi(marker) : 0;
    free(marker);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "ProvisionedConcurrencyConfigs");
    long k = 0;
    for (size_t i = 0; i < latest->nversions; i++) {
        const router_fn_t *v = latest->versions[i];
        if (v->cfg.provisioned <= 0 || atoi(v->cfg.version) <= after) continue;
        if (k == maxi) {
            char next[16];
            snprintf(next, sizeof next, "%d", after);
            cJSON_AddStringToObject(o, "NextMarker", next);
            break;
        }
        cJSON_AddItemToArray(arr, provisioned_json(v, true));
        after = atoi(v->cfg.version);
        k++;
    }
    api_respond_doc(ex, 200, o);
}

static void config_answer(api_t *d, http_exchange_t *ex, int status, const router_fn_t *latest,
                          const function_config_t *c)
{
    api_respond_doc(ex, status, router_config_json(d->router, latest, c));
}

static void vjob_done(loop_t *l, void *arg)
{
    (void)l;
    vjob_t *j = arg;
    api_t *d = j->d;
    router_fn_t *latest = router_find(d->router, j->name);
    if (latest) latest->updating = false;
    if (j->rc < 0) {
        if (j->ex) api_respond_err(j->ex, &j->err);
    } else if (!latest) {
        if (j->ex) api_respond_not_found(j->ex, j->name, NULL);
    } else {
        switch (j->kind) {
        case V_PUBLISH:
            latest->cfg.last_version = j->latest.last_version;
            memcpy(latest->cfg.published_revision, j->latest.published_revision, sizeof latest->cfg.published_revision);
            router_add_version(d->router, latest, &j->cfg);
            if (j->ex) config_answer(d, j->ex, 201, latest, &j->cfg);
            break;
        case V_DELETE: {
            router_fn_t *v = router_find_version(latest, j->key);
            char hex[65] = "", opt[65] = "";
            if (v) {
                memcpy(hex, v->cfg.code_hex, sizeof hex);
                memcpy(opt, v->cfg.opt_hex, sizeof opt);
                router_remove_version(d->router, v);
            }
            event_config_forget(d, j->name, j->key);
            if (j->ex) api_respond_empty(j->ex, 204);
            if (hex[0]) control_collect_code(d, hex);
            if (opt[0]) control_collect_code(d, opt);
            break;
        }
        case V_ALIAS_PUT:
            router_put_alias(latest, j->doc);
            if (j->ex) api_respond_json(j->ex, j->status, strdup(j->doc));
            break;
        case V_ALIAS_DELETE:
            router_remove_alias(latest, j->key);
            event_config_forget(d, j->name, j->key);
            url_forget(d, j->name, j->key);
            if (j->ex) api_respond_empty(j->ex, 204);
            break;
        case V_PROVISIONED: {
            router_fn_t *v = router_find_version(latest, j->cfg.version);
            if (v) {
                snprintf(v->cfg.provisioned_qualifier, sizeof v->cfg.provisioned_qualifier, "%s",
                         j->cfg.provisioned_qualifier);
                router_set_provisioned(d->router, v, j->cfg.provisioned);
            }
            if (j->ex && j->status == 204) api_respond_empty(j->ex, 204);
            else if (j->ex && v) provisioned_answer(j->ex, j->status, v);
            break;
        }
        }
    }
    function_config_free(&j->cfg);
    function_config_free(&j->latest);
    free(j->doc);
    free(j);
}

static vjob_t *vjob_new(api_t *d, http_exchange_t *ex, vjob_kind_t kind, router_fn_t *latest, const char *key)
{
    vjob_t *j = calloc(1, sizeof *j);
    if (!j) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return NULL; }
    j->d = d;
    j->kind = kind;
    j->ex = ex;
    snprintf(j->name, sizeof j->name, "%s", latest->cfg.name);
    snprintf(j->key, sizeof j->key, "%s", key ? key : "");
    function_config_init(&j->cfg);
    function_config_init(&j->latest);
    http_exchange_on_abort(ex, vjob_abort, j);
    return j;
}

static void vjob_submit(vjob_t *j, router_fn_t *latest)
{
    latest->updating = true;   /* one write at a time per function */
    loop_submit(j->d->loop, vjob_work, vjob_done, j);
}


/* ---- versions ---- */

static void publish(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest)
{
    cJSON *body = api_body_object(ex, req, true);
    if (!body) return;
    if (api_revision_stale(ex, body, latest->cfg.revision_id)) {
        cJSON_Delete(body);
        return;
    }
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(body, "CodeSha256");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(body, "Description");
    if (cJSON_IsString(sha) && strcmp(sha->valuestring, latest->cfg.code_sha256) != 0) {
        api_respond_error(ex, 412, "PreconditionFailedException",
                             "CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.",
                             sha->valuestring, latest->cfg.code_sha256);
        cJSON_Delete(body);
        return;
    }
    /* Nothing changed since the last publish: Lambda answers with that
     * version instead of making an identical one. */
    if (latest->nversions && strcmp(latest->cfg.published_revision, latest->cfg.revision_id) == 0) {
        config_answer(d, ex, 201, latest, &latest->versions[latest->nversions - 1]->cfg);
        cJSON_Delete(body);
        return;
    }
    vjob_t *j = vjob_new(d, ex, V_PUBLISH, latest, NULL);
    if (!j) { cJSON_Delete(body); return; }
    int n = latest->cfg.last_version + 1;
    snprintf(j->key, sizeof j->key, "%d", n);
    function_config_free(&j->cfg);
    function_config_copy(&j->cfg, &latest->cfg);
    snprintf(j->cfg.version, sizeof j->cfg.version, "%d", n);
    if (cJSON_IsString(desc)) snprintf(j->cfg.description, sizeof j->cfg.description, "%s", desc->valuestring);
    j->cfg.provisioned = 0;
    j->cfg.provisioned_qualifier[0] = '\0';
    function_config_free(&j->latest);
    function_config_copy(&j->latest, &latest->cfg);
    j->latest.last_version = n;
    memcpy(j->latest.published_revision, latest->cfg.revision_id, sizeof j->latest.published_revision);
    cJSON_Delete(body);
    vjob_submit(j, latest);
}

static void list_versions(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest)
{
    char *marker = util_query_param(req->query, "Marker");
    char *max = util_query_param(req->query, "MaxItems");
    size_t start = marker ? (size_t)strtoul(marker, NULL, 10) : 0;
    long maxi = max ? strtol(max, NULL, 10) : 50;
    if (maxi < 1 || maxi > 50) maxi = 50;
    size_t total = latest->nversions + 1, i = start;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "Versions");
    for (long k = 0; i < total && k < maxi; i++, k++) {
        const function_config_t *c = i == 0 ? &latest->cfg : &latest->versions[i - 1]->cfg;
        cJSON_AddItemToArray(arr, router_config_json(d->router, latest, c));
    }
    if (i < total) {
        char next[32];
        snprintf(next, sizeof next, "%zu", i);
        cJSON_AddStringToObject(o, "NextMarker", next);
    }
    api_respond_doc(ex, 200, o);
    free(marker);
    free(max);
}

router_fn_t *version_for_read(api_t *d, http_exchange_t *ex, router_fn_t *latest, const char *q)
{
    (void)d;
    if (!q || !*q || strcmp(q, "$LATEST") == 0) return latest;
    router_fn_t *v = NULL;
    if (strspn(q, "0123456789") == strlen(q)) {
        v = router_find_version(latest, q);
    } else {
        router_alias_t *a = router_find_alias(latest, q);
        if (a) v = strcmp(a->version, "$LATEST") == 0 ? latest : router_find_version(latest, a->version);
    }
    if (!v) api_respond_not_found(ex, latest->cfg.name, q);
    return v;
}

void version_delete(api_t *d, http_exchange_t *ex, router_fn_t *latest, const char *q)
{
    if (strcmp(q, "$LATEST") == 0 || strspn(q, "0123456789") != strlen(q)) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                             "Deletion of aliases or $LATEST through DeleteFunction is not allowed; use DeleteAlias, or delete the whole function without a Qualifier");
        return;
    }
    if (!router_find_version(latest, q)) { api_respond_not_found(ex, latest->cfg.name, q); return; }
    const char *alias = router_alias_using(latest, q);
    if (alias) {
        api_respond_error(ex, 409, "ResourceConflictException",
                             "Unable to delete version because the following aliases reference it: [%s]", alias);
        return;
    }
    if (control_busy(ex, latest)) return;
    vjob_t *j = vjob_new(d, ex, V_DELETE, latest, q);
    if (j) vjob_submit(j, latest);
}

/* ---- aliases ---- */

static bool alias_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len < 1 || len > 128 || strspn(n, "0123456789") == len) return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Validate a CreateAlias/UpdateAlias body and build the stored document.
 * `old` is the alias being updated (NULL on create). Answers and returns
 * NULL on error. */
static char *alias_doc(http_exchange_t *ex, router_fn_t *latest, const cJSON *body, const char *name,
                       const router_alias_t *old)
{
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(body, "FunctionVersion");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(body, "Description");
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(body, "RoutingConfig");
    const char *version = cJSON_IsString(ver) ? ver->valuestring : old ? old->version : NULL;
    if (!version) {
        api_respond_error(ex, 400, "ValidationException",
                             "1 validation error detected: Value null at 'functionVersion' failed to satisfy constraint: Member must not be null");
        return NULL;
    }
    if (strcmp(version, "$LATEST") != 0 && !router_find_version(latest, version)) {
        api_respond_not_found(ex, latest->cfg.name, version);
        return NULL;
    }
    cJSON *doc = cJSON_CreateObject();
    char arn[300], rid[37];
    function_arn(latest->cfg.name, name, arn, sizeof arn);
    util_uuid4(rid);
    cJSON_AddStringToObject(doc, "AliasArn", arn);
    cJSON_AddStringToObject(doc, "Name", name);
    cJSON_AddStringToObject(doc, "FunctionVersion", version);
    cJSON *old_doc = old ? cJSON_Parse(old->doc) : NULL;
    const cJSON *old_desc = cJSON_GetObjectItemCaseSensitive(old_doc, "Description");
    cJSON_AddStringToObject(doc, "Description", cJSON_IsString(desc) ? desc->valuestring
                                                : cJSON_IsString(old_desc) ? old_desc->valuestring : "");
    cJSON_AddStringToObject(doc, "RevisionId", rid);
    const cJSON *weights = rc ? cJSON_GetObjectItemCaseSensitive(rc, "AdditionalVersionWeights") : NULL;
    if (!rc && old && old->extra_version[0]) {   /* update without RoutingConfig keeps it */
        cJSON *r = cJSON_AddObjectToObject(doc, "RoutingConfig");
        cJSON *w = cJSON_AddObjectToObject(r, "AdditionalVersionWeights");
        cJSON_AddNumberToObject(w, old->extra_version, old->extra_weight);
    } else if (weights && weights->child) {
        const cJSON *w = weights->child;
        const char *bad = NULL;
        if (w->next) bad = "AdditionalVersionWeights may name only one version";
        else if (!cJSON_IsNumber(w) || !isfinite(w->valuedouble) || w->valuedouble < 0 || w->valuedouble > 1)
            bad = "Weights must be between 0.0 and 1.0";
        else if (strcmp(version, "$LATEST") == 0 || strcmp(w->string, "$LATEST") == 0)
            bad = "$LATEST is not supported for an alias pointing to more than 1 version";
        else if (strcmp(w->string, version) == 0)
            bad = "The additional version must differ from FunctionVersion";
        else if (!router_find_version(latest, w->string))
            bad = "The additional version does not exist";
        if (bad) {
            cJSON_Delete(doc);
            cJSON_Delete(old_doc);
            api_respond_error(ex, 400, "InvalidParameterValueException", "%s", bad);
            return NULL;
        }
        cJSON *r = cJSON_AddObjectToObject(doc, "RoutingConfig");
        cJSON_AddItemToObject(r, "AdditionalVersionWeights", cJSON_Duplicate(weights, true));
    }
    char *s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    cJSON_Delete(old_doc);
    return s;
}

/* UpdateAlias's RevisionId against the alias's own. */
static bool alias_stale(http_exchange_t *ex, const router_alias_t *a, const cJSON *body)
{
    cJSON *doc = cJSON_Parse(a->doc);
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(doc, "RevisionId");
    bool stale = api_revision_stale(ex, body, cJSON_IsString(cur) ? cur->valuestring : "");
    cJSON_Delete(doc);
    return stale;
}

static void aliases(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest, const char *alias)
{
    const char *m = req->method;
    if (!alias && strcmp(m, "GET") == 0) {   /* ListAliases */
        long maxi = max_items(req->query, 50, 10000);
        if (maxi < 0) {
            api_respond_error(ex, 400, "ValidationException",
                              "1 validation error detected: Value at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000");
            return;
        }
        if (maxi > 50) maxi = 50;   /* Lambda returns at most 50 per page */
        char *fv = util_query_param(req->query, "FunctionVersion");
        char *marker = util_query_param(req->query, "Marker");
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(o, "Aliases");
        const char *last = NULL;
        long k = 0;
        /* In name order; the marker is the last name a page had. */
        for (size_t i = 0; i < latest->naliases; i++) {
            const router_alias_t *a = &latest->aliases[i];
            if (fv && *fv && strcmp(fv, a->version) != 0) continue;
            if (marker && *marker && strcmp(a->name, marker) <= 0) continue;
            if (k == maxi) {
                cJSON_AddStringToObject(o, "NextMarker", last);
                break;
            }
            cJSON_AddItemToArray(arr, cJSON_Parse(a->doc));
            last = a->name;
            k++;
        }
        api_respond_doc(ex, 200, o);
        free(fv);
        free(marker);
        return;
    }
    router_alias_t *a = alias ? router_find_alias(latest, alias) : NULL;
    if (alias && !a) {
        char arn[300];
        function_arn(latest->cfg.name, alias, arn, sizeof arn);
        api_respond_error(ex, 404, "ResourceNotFoundException", "Alias not found: %s", arn);
        return;
    }
    if (alias && strcmp(m, "GET") == 0) { api_respond_json(ex, 200, strdup(a->doc)); return; }
    if (alias && strcmp(m, "DELETE") == 0) {
        if (control_busy(ex, latest)) return;
        vjob_t *j = vjob_new(d, ex, V_ALIAS_DELETE, latest, alias);
        if (j) vjob_submit(j, latest);
        return;
    }
    bool create = !alias && strcmp(m, "POST") == 0, update = alias && strcmp(m, "PUT") == 0;
    if (!create && !update) {
        api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", m);
        return;
    }
    cJSON *body = api_body_object(ex, req, false);
    if (!body) return;
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(body, "Name");
    char name[130];   /* a copy: the body is freed before the job uses it */
    snprintf(name, sizeof name, "%s", create ? (cJSON_IsString(nm) ? nm->valuestring : "") : alias);
    if (create && (!alias_name_ok(name) || strlen(nm->valuestring) > 128)) {
        api_respond_error(ex, 400, "ValidationException",
                             "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
                             name);
        cJSON_Delete(body);
        return;
    }
    if (create && router_find_alias(latest, name)) {
        char arn[300];
        function_arn(latest->cfg.name, name, arn, sizeof arn);
        api_respond_error(ex, 409, "ResourceConflictException", "Alias already exists: %s", arn);
        cJSON_Delete(body);
        return;
    }
    if (control_busy(ex, latest)) { cJSON_Delete(body); return; }
    if (update && alias_stale(ex, a, body)) { cJSON_Delete(body); return; }
    char *doc = alias_doc(ex, latest, body, name, update ? a : NULL);
    cJSON_Delete(body);
    if (!doc) return;
    vjob_t *j = vjob_new(d, ex, V_ALIAS_PUT, latest, name);
    if (!j) { free(doc); return; }
    j->doc = doc;
    j->status = create ? 201 : 200;
    vjob_submit(j, latest);
}

void version_publish(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest)
{
    if (!control_busy(ex, latest)) publish(d, ex, req, latest);
}

void version_list(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest)
{
    list_versions(d, ex, req, latest);
}

void version_aliases(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest, const char *alias)
{
    aliases(d, ex, req, latest, alias);
}

/* ---- provisioned concurrency ---- */

void version_handle_provisioned(api_t *d, http_exchange_t *ex, http_request_t *req, const char *name)
{
    /* The name may be an ARN or name:qualifier, as for every operation. */
    char plain[300], qual[140];
    function_name_parse(name, plain, sizeof plain, qual, sizeof qual);
    router_fn_t *latest = function_name_valid(plain) ? router_find(d->router, plain) : NULL;
    if (!latest) { api_respond_not_found(ex, plain, NULL); return; }
    char *list = util_query_param(req->query, "List");
    bool all = list && strcmp(list, "ALL") == 0;
    free(list);
    if (all && strcmp(req->method, "GET") == 0) { provisioned_list(ex, req, latest); return; }
    char *q = util_query_param(req->query, "Qualifier");
    if (!q || !*q || strcmp(q, "$LATEST") == 0) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                             "Provisioned Concurrency Configs cannot be applied to unpublished function versions.");
        free(q);
        return;
    }
    router_fn_t *v = version_for_read(d, ex, latest, q);
    if (!v) { free(q); return; }
    if (v == latest) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                             "Provisioned Concurrency Configs cannot be applied to unpublished function versions.");
        free(q);
        return;
    }
    const char *m = req->method;
    if (strcmp(m, "GET") == 0) {
        if (v->cfg.provisioned <= 0)
            api_respond_error(ex, 404, "ProvisionedConcurrencyConfigNotFoundException",
                                 "No Provisioned Concurrency Config found for this function");
        else
            provisioned_answer(ex, 200, v);
        free(q);
        return;
    }
    int n = 0;
    if (strcmp(m, "PUT") == 0) {
        cJSON *body = api_body_object(ex, req, false);
        if (!body) return;
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "ProvisionedConcurrentExecutions");
        bool ok = cJSON_IsNumber(p) && p->valuedouble == floor(p->valuedouble) && p->valuedouble >= 1 &&
                  p->valuedouble <= d->cfg.max_instances_per_fn;
        n = ok ? (int)p->valuedouble : 0;
        cJSON_Delete(body);
        if (!ok) {
            api_respond_error(ex, 400, "InvalidParameterValueException",
                                 "ProvisionedConcurrentExecutions must be an integer from 1 to %d",
                                 d->cfg.max_instances_per_fn);
            free(q);
            return;
        }
    } else if (strcmp(m, "DELETE") == 0) {
        if (v->cfg.provisioned <= 0) {
            api_respond_error(ex, 404, "ProvisionedConcurrencyConfigNotFoundException",
                                 "No Provisioned Concurrency Config found for this function");
            free(q);
            return;
        }
    } else {
        api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", m);
        free(q);
        return;
    }
    if (control_busy(ex, latest)) { free(q); return; }
    vjob_t *j = vjob_new(d, ex, V_PROVISIONED, latest, NULL);
    if (!j) { free(q); return; }
    function_config_free(&j->cfg);
    function_config_copy(&j->cfg, &v->cfg);
    j->cfg.provisioned = n;
    snprintf(j->cfg.provisioned_qualifier, sizeof j->cfg.provisioned_qualifier, "%s", n ? q : "");
    j->status = n ? 202 : 204;
    free(q);
    vjob_submit(j, latest);
}

/* ---- start-up ---- */

typedef struct {
    api_t *d;
} load_t;

static void load_version(const char *function, const char *key, const char *doc, void *arg)
{
    load_t *lt = arg;
    router_fn_t *latest = router_find(lt->d->router, function);
    function_config_t c;
    err_t e;
    if (!latest || function_config_deserialize(&c, doc, &e) < 0) {
        log_warn("skipping stored version %s:%s", function, key);
        return;
    }
    router_add_version(lt->d->router, latest, &c);
    function_config_free(&c);
}

static void load_alias(const char *function, const char *key, const char *doc, void *arg)
{
    load_t *lt = arg;
    router_fn_t *latest = router_find(lt->d->router, function);
    if (!latest || !router_put_alias(latest, doc))
        log_warn("skipping stored alias %s:%s", function, key);
}

int version_load(api_t *d, err_t *err)
{
    load_t lt = { .d = d };
    if (store_version_each(d->store, load_version, &lt, err) < 0) return -1;
    return store_alias_each(d->store, load_alias, &lt, err);
}
