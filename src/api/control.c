/* control.c — the Lambda control plane.
 *
 * Reads come from the router's memory. A write is a job: parsed and
 * validated, its ZIP decoded, hashed and extracted, and the row written on a
 * worker; applied to the router and answered on the loop thread once
 * durable. One write at a time per function (a second gets Lambda's 409
 * "update in progress"). Must never: answer before the store has the write,
 * or remove a code tree a function or a live instance still uses.
 */
#include "api/control.h"
#include "api/account.h"
#include "api/auth.h"
#include "api/tenancy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/function.h"
#include "core/logs.h"
#include "core/router.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"
#include "api/event_config.h"
#include "api/triggers.h"
#include "api/tags.h"
#include "api/layers.h"
#include "api/url.h"
#include "api/version.h"

/* Held by workers from "code stored" to "row written" and from "code
 * unreferenced?" to "code removed", so a collection never deletes a tree a
 * concurrent deploy of the same ZIP just reused. */
static pthread_mutex_t g_code_mu = PTHREAD_MUTEX_INITIALIZER;

void control_code_lock(void) { pthread_mutex_lock(&g_code_mu); }
void control_code_unlock(void) { pthread_mutex_unlock(&g_code_mu); }

typedef enum { JOB_CREATE, JOB_UPDATE_CODE, JOB_UPDATE_CONFIG, JOB_DELETE, JOB_GET_ZIP, JOB_CONCURRENCY } job_kind_t;

typedef struct {
    api_t *d;
    job_kind_t kind;
    http_exchange_t *ex;         /* NULL once the client went away */
    char *body;                  /* request body (owned) */
    size_t body_len;
    char name[65];
    function_config_t cfg;       /* result (create/update) or base copy (update) */
    char old_hex[65];            /* code replaced/freed by this job */
    char old_opt[65];            /* the same for the merged tree of its layers */
    int64_t unzipped;            /* the stored ZIP's unzipped bytes */
    char *zip;                   /* JOB_GET_ZIP result */
    size_t zip_len;
    err_t err;
    int rc;
    int reserved;                /* JOB_CONCURRENCY: the new value, -1 to delete */
    bool stale;                  /* the caller's RevisionId is not the current one */
    bool dry_run;                /* UpdateFunctionCode DryRun: validated, nothing changed */
    bool publish;                /* Publish: a version made in the same write */
    function_config_t ver;       /* publish: the new version */
    char *tags;                  /* JOB_CREATE: its Tags, stored (api/tags.h), or NULL */
    char owner[13];              /* JOB_CREATE: the caller's account ("" without credentials) */
    bool no_host;                /* create/update config: a non-admin caller, who may not ask for
                                    Network host (it reaches the daemon: docs/network.md) */
    char caller[160];            /* ... its ARN, for the 403 */
    char user[160];              /* the caller's ARN ("" without credentials): a layer it may not use */
    char account[13];            /* JOB_GET_ZIP: the caller's account, whose layers' code it may read
                                    ("" without credentials: any) */
    bool host_denied;            /* ... and asked for it: 403 */
} job_t;

static void job_abort(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((job_t *)arg)->ex = NULL;
}

/* ---- worker side ---- */

/* Decode Code.ZipFile / ZipFile and store it; fills cfg's code fields. */
static int put_zip(job_t *j, const cJSON *zipfile)
{
    if (!cJSON_IsString(zipfile))
        return err_set(&j->err, ERR_INVALID, "Please provide a deployment package: ZipFile (base64) is required; S3 and image code are not supported");
    size_t len;
    const char *b64 = zipfile->valuestring;
    char *zip = util_base64_decode(b64, strlen(b64), &len, &j->err);
    if (!zip) return err_set(&j->err, ERR_INVALID, "Could not unzip uploaded file: ZipFile is not valid base64");
    codestore_entry_t e;
    int rc = codestore_put(j->d->code, zip, len, &e, &j->err);
    free(zip);
    if (rc < 0) return -1;
    memcpy(j->cfg.code_hex, e.hex, sizeof e.hex);
    memcpy(j->cfg.code_sha256, e.sha256_b64, sizeof e.sha256_b64);
    j->cfg.code_size = e.zip_size;
    j->unzipped = e.unzipped_size;
    return 0;
}

static int save(job_t *j, bool insert)
{
    char *doc = function_config_serialize(&j->cfg);
    int rc = insert ? store_function_insert(j->d->store, j->cfg.name, doc, j->cfg.code_hex, &j->err)
                    : store_function_update(j->d->store, j->cfg.name, doc, j->cfg.code_hex, &j->err);
    free(doc);
    return rc;
}

/* Publish: true: the version of what was just saved, stored with it;
 * $LATEST's row then records the number (never reused) and the revision
 * it was published at, as PublishVersion does. */
static int publish_saved(job_t *j)
{
    int n = j->cfg.last_version + 1;
    function_config_free(&j->ver);
    function_config_copy(&j->ver, &j->cfg);
    snprintf(j->ver.version, sizeof j->ver.version, "%d", n);
    j->ver.provisioned = 0;
    j->ver.provisioned_qualifier[0] = '\0';
    char *doc = function_config_serialize(&j->ver);
    int rc = store_version_insert(j->d->store, j->cfg.name, n, doc, j->cfg.code_hex, &j->err);
    free(doc);
    if (rc < 0) return -1;
    j->cfg.last_version = n;
    memcpy(j->cfg.published_revision, j->cfg.revision_id, sizeof j->cfg.published_revision);
    return save(j, false);
}

/* RevisionId, when the caller gives one, must be the function's current
 * one (one write at a time per function, so it cannot change meanwhile). */
static bool revision_stale(job_t *j, const cJSON *body)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(body, "RevisionId");
    return cJSON_IsString(r) && strcmp(r->valuestring, j->cfg.revision_id) != 0;
}

static bool flag(const cJSON *body, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, key));
}

static int do_write(job_t *j)
{
    if (j->kind == JOB_DELETE) return store_function_delete(j->d->store, j->name, &j->err);
    if (j->kind == JOB_CONCURRENCY) {
        /* A limit, not something instances run with: stored, and no new
         * generation of instances. */
        j->cfg.reserved_concurrency = j->reserved;
        return save(j, false);
    }
    err_t pe = { 0 };
    cJSON *body = json_parse_strict(j->body, j->body_len, &pe);
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return err_set(&j->err, ERR_INVALID, "Could not parse request body into json: %s",
                       body ? "the body is not a JSON object" : pe.msg);
    }
    int rc = -1;
    if ((j->kind == JOB_UPDATE_CODE || j->kind == JOB_UPDATE_CONFIG) && revision_stale(j, body)) {
        j->stale = true;
        goto out;
    }
    const cJSON *net = cJSON_GetObjectItemCaseSensitive(body, "Network");
    if (j->no_host && cJSON_IsString(net) && !strcmp(net->valuestring, "host")) {
        j->host_denied = true;
        goto out;
    }
    j->publish = j->kind != JOB_UPDATE_CONFIG && flag(body, "Publish");
    if (j->kind == JOB_CREATE) {
        if (function_config_apply_json(&j->cfg, body, true, &j->err) < 0) goto out;
        memcpy(j->cfg.owner, j->owner, sizeof j->owner);
        if (tags_parse_create(body, &j->tags, &j->err) < 0) goto out;
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(body, "Code");
        pthread_mutex_lock(&g_code_mu);
        function_config_touch(&j->cfg);
        bool changed;
        rc = put_zip(j, cJSON_GetObjectItemCaseSensitive(code, "ZipFile"));
        if (rc == 0) rc = layers_apply(j->d, body, &j->cfg, j->user, &changed, &j->err);
        if (rc == 0) rc = layers_check_size(j->d, &j->cfg, j->unzipped, &j->err);
        if (rc == 0) rc = save(j, true);
        if (rc == 0) rc = tags_store_created(j->d->store, j->cfg.name, j->tags, &j->err);
        if (rc == 0 && j->publish) rc = publish_saved(j) < 0 ? 1 : 0;
        pthread_mutex_unlock(&g_code_mu);
        if (rc < 0 && j->cfg.code_hex[0]) memcpy(j->old_hex, j->cfg.code_hex, sizeof j->old_hex);
        if (rc < 0) memcpy(j->old_opt, j->cfg.opt_hex, sizeof j->old_opt);
    } else if (j->kind == JOB_UPDATE_CODE) {
        j->dry_run = flag(body, "DryRun");
        memcpy(j->old_hex, j->cfg.code_hex, sizeof j->old_hex);
        pthread_mutex_lock(&g_code_mu);
        rc = put_zip(j, cJSON_GetObjectItemCaseSensitive(body, "ZipFile"));
        if (rc == 0) rc = layers_check_size(j->d, &j->cfg, j->unzipped, &j->err);
        if (rc == 0 && j->dry_run) {
            /* Decoded, hashed, extracted within the limits: the answer is
             * the configuration as it would be; the tree just made goes
             * again unless something uses it. */
            memcpy(j->old_hex, j->cfg.code_hex, sizeof j->old_hex);
        } else if (rc == 0) {
            function_config_touch(&j->cfg);
            rc = save(j, false);
            if (rc == 0 && j->publish) rc = publish_saved(j) < 0 ? 1 : 0;
        }
        pthread_mutex_unlock(&g_code_mu);
    } else {
        if (function_config_apply_json(&j->cfg, body, false, &j->err) < 0) goto out;
        char before[65];
        memcpy(before, j->cfg.opt_hex, sizeof before);
        bool changed = false;
        pthread_mutex_lock(&g_code_mu);
        rc = layers_apply(j->d, body, &j->cfg, j->user, &changed, &j->err);
        if (rc == 0 && changed)
            rc = layers_check_size(j->d, &j->cfg, codestore_tree_size(j->d->code, j->cfg.code_hex), &j->err);
        if (rc == 0) {
            function_config_touch(&j->cfg);
            rc = save(j, false);
        }
        pthread_mutex_unlock(&g_code_mu);
        /* The merged tree let go: the old one once stored, else the new one. */
        if (changed) {
            const char *gone = rc == 0 ? before : j->cfg.opt_hex, *kept = rc == 0 ? j->cfg.opt_hex : before;
            if (strcmp(gone, kept) != 0) memcpy(j->old_opt, gone, sizeof j->old_opt);
        }
    }
out:
    cJSON_Delete(body);
    return rc;
}

static void job_work(void *arg)
{
    job_t *j = arg;
    if (j->kind == JOB_GET_ZIP) {
        /* Not the code of one of the caller's functions: one of its layers', or as if absent. */
        int own = j->account[0] ? layers_code_owned(j->d, j->account, j->name, &j->err) : 1;
        if (own < 0) { j->rc = -1; return; }
        if (!own) { j->rc = err_set(&j->err, ERR_NOT_FOUND, "Code not found: %s", j->name); return; }
        char path[700];
        codestore_zip_path(j->d->code, j->name, path, sizeof path);
        FILE *f = fopen(path, "rb");
        if (!f) { j->rc = err_set(&j->err, ERR_NOT_FOUND, "Code not found: %s", j->name); return; }
        buf_t b = { 0 };
        char chunk[65536];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, k);
        fclose(f);
        j->zip = buf_steal(&b, &j->zip_len);
        j->rc = 0;
        return;
    }
    j->rc = do_write(j);
}

/* ---- loop side ---- */

/* `c` of `fn` (its $LATEST; NULL: a configuration not served, as a dry
 * run's) as Lambda's document. */
static void respond_config(api_t *d, http_exchange_t *ex, int status, const router_fn_t *fn,
                           const function_config_t *c)
{
    api_respond_doc(ex, status, fn ? router_config_json(d->router, fn, c) : function_config_to_api_json(c));
}

static void respond_concurrency(http_exchange_t *ex, int status, int reserved)
{
    cJSON *o = cJSON_CreateObject();
    if (reserved >= 0) cJSON_AddNumberToObject(o, "ReservedConcurrentExecutions", reserved);
    api_respond_doc(ex, status, o);
}

static void job_done(loop_t *l, void *arg)
{
    (void)l;
    job_t *j = arg;
    api_t *d = j->d;
    router_fn_t *fn = router_find(d->router, j->kind == JOB_CREATE ? j->cfg.name : j->name);
    if (fn && j->kind != JOB_CREATE) fn->updating = false;

    if (j->kind == JOB_GET_ZIP) {
        if (j->ex && j->rc == 0) {
            static const http_header_t h[] = { { "Content-Type", "application/zip" } };
            http_respond_owned(j->ex, 200, h, 1, j->zip, j->zip_len);
            j->zip = NULL;
        } else if (j->ex) {
            api_respond_err(j->ex, &j->err);
        }
    } else if (j->stale) {
        if (j->ex) api_respond_precondition(j->ex);
    } else if (j->host_denied) {
        if (j->ex)
            api_respond_error(j->ex, 403, "AccessDeniedException",
                              "User: %s is not authorized to perform %s with Network host: "
                              "only an admin key may give a function the host's network",
                              j->caller,
                              j->kind == JOB_CREATE ? "CreateFunction" : "UpdateFunctionConfiguration");
    } else if (j->rc < 0) {
        if (j->ex) {
            if (j->err.code == ERR_CONFLICT && j->kind == JOB_CREATE)
                api_respond_error(j->ex, 409, "ResourceConflictException", "Function already exist: %s", j->cfg.name);
            else if (j->err.code == ERR_NOT_FOUND)
                api_respond_not_found(j->ex, j->name, NULL);
            else
                api_respond_err(j->ex, &j->err);
        }
    } else if (j->kind == JOB_CREATE) {
        fn = router_add(d->router, &j->cfg);
        tags_created(d, j->cfg.name, j->tags);
        j->tags = NULL;
        if (fn && j->ver.version[0] && j->rc == 0 && j->publish) router_add_version(d->router, fn, &j->ver);
        if (j->rc > 0 && j->ex) api_respond_err(j->ex, &j->err);
        else if (j->ex) respond_config(d, j->ex, 201, fn, j->publish ? &j->ver : &j->cfg);
    } else if (j->kind == JOB_CONCURRENCY) {
        if (fn) {
            fn->cfg.reserved_concurrency = j->reserved;
            router_schedule(d->router, fn);
        }
        if (j->ex && j->reserved < 0) api_respond_empty(j->ex, 204);
        else if (j->ex) respond_concurrency(j->ex, 200, j->reserved);
    } else if (j->kind == JOB_DELETE) {
        tenancy_policy_changed(d, j->name);   /* its policies went with it */
        if (fn) {
            memcpy(j->old_hex, fn->cfg.code_hex, sizeof j->old_hex);
            memcpy(j->old_opt, fn->cfg.opt_hex, sizeof j->old_opt);
            /* Its versions' code (and layers' trees) go too, once nothing runs it. */
            size_t nv = fn->nversions;
            char (*hexes)[65] = nv ? calloc(2 * nv, sizeof *hexes) : NULL;
            for (size_t i = 0; hexes && i < nv; i++) {
                memcpy(hexes[2 * i], fn->versions[i]->cfg.code_hex, 65);
                memcpy(hexes[2 * i + 1], fn->versions[i]->cfg.opt_hex, 65);
            }
            router_remove(d->router, fn);
            for (size_t i = 0; hexes && i < 2 * nv; i++) control_collect_code(d, hexes[i]);
            free(hexes);
        }
        logs_delete_function(d->logs, j->name);
        /* Its asynchronous settings and URLs went with its row; its
         * waiting events fail to the dead-letter list. */
        event_config_forget(d, j->name, NULL);
        triggers_forget(d, j->name);
        url_forget(d, j->name, NULL);
        tags_forget(d, j->name);
        if (d->async) async_function_deleted(d->async, j->name);
        if (j->ex) api_respond_empty(j->ex, 204);
    } else if (j->dry_run) {
        if (j->ex) respond_config(d, j->ex, 200, NULL, &j->cfg);
    } else {
        if (fn) router_update(d->router, fn, &j->cfg);
        if (fn && j->rc == 0 && j->publish) router_add_version(d->router, fn, &j->ver);
        if (j->rc > 0 && j->ex) api_respond_err(j->ex, &j->err);   /* saved, not published */
        else if (j->ex) respond_config(d, j->ex, 200, fn, j->publish ? &j->ver : &j->cfg);
    }
    if (j->old_hex[0]) control_collect_code(d, j->old_hex);
    if (j->old_opt[0]) control_collect_code(d, j->old_opt);
    function_config_free(&j->cfg);
    function_config_free(&j->ver);
    free(j->body);
    free(j->zip);
    free(j->tags);
    free(j);
}

static job_t *job_new(api_t *d, http_exchange_t *ex, job_kind_t kind, const char *name)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->d = d;
    j->kind = kind;
    j->ex = ex;
    function_config_init(&j->cfg);
    function_config_init(&j->ver);
    if (name) snprintf(j->name, sizeof j->name, "%s", name);
    const auth_key_t *k = auth_principal(http_exchange_request(ex));
    if (k) snprintf(j->user, sizeof j->user, "arn:aws:iam::%s:user/%s", k->account, k->id);
    http_exchange_on_abort(ex, job_abort, j);
    return j;
}

static void submit(job_t *j)
{
    if (j->kind != JOB_GET_ZIP && j->kind != JOB_CREATE) {
        router_fn_t *fn = router_find(j->d->router, j->name);
        if (fn) fn->updating = true;
    }
    j->body = http_request_take_body(j->ex, &j->body_len);
    loop_submit(j->d->loop, job_work, job_done, j);
}

bool control_busy(http_exchange_t *ex, const router_fn_t *fn)
{
    if (!fn->updating) return false;
    char arn[200];
    function_arn(fn->cfg.name, NULL, arn, sizeof arn);
    api_respond_error(ex, 409, "ResourceConflictException",
                         "The operation cannot be performed at this time. An update is in progress for resource: %s", arn);
    return true;
}

/* A write on an existing function: Lambda's 409 while another is in
 * progress, else a job starting from a copy of its configuration. NULL
 * after answering. */
static job_t *write_job(api_t *d, http_exchange_t *ex, router_fn_t *fn, job_kind_t kind)
{
    if (control_busy(ex, fn)) return NULL;
    job_t *j = job_new(d, ex, kind, fn->cfg.name);
    if (!j) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return NULL; }
    function_config_free(&j->cfg);
    function_config_copy(&j->cfg, &fn->cfg);
    return j;
}

/* ---- collection of unused code ---- */

typedef struct {
    api_t *d;
    char hex[65];
} collect_t;

static void collect_work(void *arg)
{
    collect_t *c = arg;
    err_t e;
    pthread_mutex_lock(&g_code_mu);
    if (store_code_referenced(c->d->store, c->hex, &e) == 0) codestore_remove(c->d->code, c->hex, &e);
    pthread_mutex_unlock(&g_code_mu);
}

static void collect_done(loop_t *l, void *arg)
{
    (void)l;
    free(arg);
}

void control_collect_code(api_t *d, const char *hex)
{
    if (!hex[0] || router_code_in_use(d->router, hex)) return;
    collect_t *c = calloc(1, sizeof *c);
    if (!c) return;
    c->d = d;
    snprintf(c->hex, sizeof c->hex, "%s", hex);
    loop_submit(d->loop, collect_work, collect_done, c);
}

/* ---- reads ---- */

static void get_function(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *fn)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "Configuration", router_config_json(d->router, fn->latest ? fn->latest : fn, &fn->cfg));
    cJSON *code = cJSON_AddObjectToObject(o, "Code");
    cJSON_AddStringToObject(code, "RepositoryType", "S3");
    const char *host = http_request_header(req, "Host");
    char loc[400];
    snprintf(loc, sizeof loc, "%s://%s/nimbus/v1/code/%s.zip", d->cfg.public_tls ? "https" : "http",
             host ? host : "127.0.0.1", fn->cfg.code_hex);
    cJSON_AddStringToObject(code, "Location", loc);
    cJSON_AddItemToObject(o, "Tags", tags_json(d, fn->cfg.name));
    if (fn->cfg.reserved_concurrency >= 0) {
        cJSON *conc = cJSON_AddObjectToObject(o, "Concurrency");
        cJSON_AddNumberToObject(conc, "ReservedConcurrentExecutions", fn->cfg.reserved_concurrency);
    }
    api_respond_doc(ex, 200, o);
}

/* ListFunctions with FunctionVersion=ALL: every function's $LATEST and
 * its versions, in name then version order. The marker "name:k" says the
 * next page starts at the k-th entry (0 = $LATEST) of that function. */
static void list_all_versions(api_t *d, http_exchange_t *ex, const auth_key_t *who, const char *marker, long maxi)
{
    size_t i = 0, k = 0;
    if (marker && *marker) {
        const char *colon = strrchr(marker, ':');
        char name[80];
        snprintf(name, sizeof name, "%.*s", colon ? (int)(colon - marker) : (int)strlen(marker), marker);
        router_fn_t *fn = router_find(d->router, name);
        if (fn && colon) {
            i = router_index_after(d->router, name) - 1;
            k = (size_t)strtoul(colon + 1, NULL, 10);
        } else {
            i = router_index_after(d->router, name);   /* gone meanwhile: the next one */
        }
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "Functions");
    long n = 0;
    for (; i < router_count(d->router); i++, k = 0) {
        router_fn_t *fn = router_at(d->router, i);
        if (!auth_owns(who, &fn->cfg)) continue;
        for (; k <= fn->nversions; k++) {
            if (n == maxi) {
                char next[100];
                snprintf(next, sizeof next, "%s:%zu", fn->cfg.name, k);
                cJSON_AddStringToObject(o, "NextMarker", next);
                api_respond_doc(ex, 200, o);
                return;
            }
            const function_config_t *c = k == 0 ? &fn->cfg : &fn->versions[k - 1]->cfg;
            cJSON_AddItemToArray(arr, router_config_json(d->router, fn, c));
            n++;
        }
    }
    api_respond_doc(ex, 200, o);
}

static void list_functions(api_t *d, http_exchange_t *ex, http_request_t *req)
{
    char *marker = util_query_param(req->query, "Marker");
    char *max = util_query_param(req->query, "MaxItems");
    long maxi = 50;
    if (max) {
        char *end;
        maxi = strtol(max, &end, 10);
        if (!*max || *end || maxi < 1 || maxi > 10000) {
            api_respond_error(ex, 400, "InvalidParameterValueException", "MaxItems must be between 1 and 10000");
            free(marker);
            free(max);
            return;
        }
        if (maxi > 50) maxi = 50;   /* Lambda returns at most 50 per page */
    }
    char *fv = util_query_param(req->query, "FunctionVersion");
    bool all = fv && strcmp(fv, "ALL") == 0;
    if (fv && !all) {
        api_respond_error(ex, 400, "ValidationException",
                          "1 validation error detected: Value '%s' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]",
                          fv);
        free(fv);
        free(marker);
        free(max);
        return;
    }
    free(fv);
    if (all) {
        list_all_versions(d, ex, auth_principal(req), marker, maxi);
        free(marker);
        free(max);
        return;
    }
    size_t i = marker && *marker ? router_index_after(d->router, marker) : 0;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "Functions");
    /* An account lists only its own functions. */
    const auth_key_t *who = auth_principal(req);
    long k = 0;
    size_t last = 0;
    for (; i < router_count(d->router); i++) {
        const router_fn_t *fn = router_at(d->router, i);
        const function_config_t *c = &fn->cfg;
        if (!auth_owns(who, c)) continue;
        if (k == maxi) break;
        cJSON_AddItemToArray(arr, router_config_json(d->router, fn, c));
        last = i;
        k++;
    }
    if (i < router_count(d->router))
        cJSON_AddStringToObject(o, "NextMarker", router_at(d->router, last)->cfg.name);
    api_respond_doc(ex, 200, o);
    free(marker);
    free(max);
}

router_fn_t *control_find(api_t *d, http_exchange_t *ex, http_request_t *req, const char *seg, char *qual,
                          size_t qn)
{
    char name[300];
    /* Leniently: "name:" is the function, a bad name is one not found. */
    function_name_parse(seg, name, sizeof name, qual, qn);
    router_fn_t *fn = function_name_valid(name) ? router_find(d->router, name) : NULL;
    if (!fn) { api_respond_not_found(ex, name, NULL); return NULL; }
    char *qparam = util_query_param(req->query, "Qualifier");
    if (qparam) snprintf(qual, qn, "%s", qparam);
    free(qparam);
    return fn;
}

void control_list(api_t *d, http_exchange_t *ex, http_request_t *req) { list_functions(d, ex, req); }

/* Network host is an admin's choice; without credentials everyone is. */
static void deny_host_unless_admin(job_t *j, const auth_key_t *k)
{
    if (!k || k->role == AUTH_ROLE_ADMIN) return;
    j->no_host = true;
    snprintf(j->caller, sizeof j->caller, "arn:aws:iam::%s:user/%s", k->account, k->id);
}

void control_create(api_t *d, http_exchange_t *ex)
{
    job_t *j = job_new(d, ex, JOB_CREATE, NULL);
    if (!j) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    const auth_key_t *k = auth_principal(http_exchange_request(ex));
    if (k) memcpy(j->owner, k->account, sizeof j->owner);
    deny_host_unless_admin(j, k);
    submit(j);
}

void control_get(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *fn, const char *qual,
                 bool config_only)
{
    router_fn_t *v = version_for_read(d, ex, fn, qual);
    if (!v) return;
    if (config_only) respond_config(d, ex, 200, v->latest ? v->latest : v, &v->cfg);
    else get_function(d, ex, req, v);
}

void control_delete(api_t *d, http_exchange_t *ex, router_fn_t *fn, const char *qual)
{
    if (qual[0]) { version_delete(d, ex, fn, qual); return; }
    job_t *j = write_job(d, ex, fn, JOB_DELETE);
    if (j) submit(j);
}

void control_update(api_t *d, http_exchange_t *ex, router_fn_t *fn, bool code)
{
    job_t *j = write_job(d, ex, fn, code ? JOB_UPDATE_CODE : JOB_UPDATE_CONFIG);
    if (!j) return;
    const auth_key_t *k = auth_principal(http_exchange_request(ex));
    if (!code) deny_host_unless_admin(j, k);
    submit(j);
}

void control_concurrency(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *fn)
{
    const char *m = req->method;
    if (strcmp(m, "GET") == 0) { respond_concurrency(ex, 200, fn->cfg.reserved_concurrency); return; }
    int value = -1;
    if (strcmp(m, "PUT") == 0) {
        cJSON *body = api_body_object(ex, req, false);
        if (!body) return;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "ReservedConcurrentExecutions");
        bool ok = cJSON_IsNumber(v) && v->valuedouble == (double)(int)v->valuedouble;
        value = ok ? (int)v->valuedouble : -1;
        cJSON_Delete(body);
        if (!ok || value < 0) {
            api_respond_error(ex, 400, "ValidationException",
                                 "1 validation error detected: Value at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0");
            return;
        }
        /* Against its owner's account: its limit, and Lambda's floor of
         * what the account's functions leave unreserved. */
        if (!account_check_reserve(d, ex, fn, value)) return;
    } else if (strcmp(m, "DELETE") != 0) {
        api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", m);
        return;
    }
    job_t *j = write_job(d, ex, fn, JOB_CONCURRENCY);
    if (!j) return;
    j->reserved = value;
    submit(j);
}

/* With accounts, code is the caller's to read when one of its functions
 * (or their versions) runs it, or one of its layer versions holds it
 * (asked on the worker): code is shared by content, so another account's
 * identical ZIP is the caller's too, which tells it nothing it had not. */
static bool code_of_account(api_t *d, const auth_key_t *who, const char *hex)
{
    for (size_t i = 0; i < router_count(d->router); i++) {
        const router_fn_t *fn = router_at(d->router, i);
        if (!auth_owns(who, &fn->cfg)) continue;
        if (strcmp(fn->cfg.code_hex, hex) == 0) return true;
        for (size_t v = 0; v < fn->nversions; v++)
            if (strcmp(fn->versions[v]->cfg.code_hex, hex) == 0) return true;
    }
    return false;
}

void control_get_code(api_t *d, http_exchange_t *ex, const char *hex)
{
    size_t n = strlen(hex);
    if (n != 68 || strcmp(hex + 64, ".zip") != 0 || strspn(hex, "0123456789abcdef") != 64) {
        api_respond_error(ex, 404, "ResourceNotFoundException", "Code not found");
        return;
    }
    job_t *j = job_new(d, ex, JOB_GET_ZIP, NULL);
    if (!j) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    memcpy(j->name, hex, 64);
    j->name[64] = '\0';
    const auth_key_t *who = auth_principal(http_exchange_request(ex));
    if (who && !code_of_account(d, who, j->name)) memcpy(j->account, who->account, sizeof j->account);
    loop_submit(d->loop, job_work, job_done, j);
}

typedef struct {
    api_t *d;
    int failed;
    err_t *err;
} load_ctx_t;

static void load_one(const char *name, const char *json, void *arg)
{
    load_ctx_t *lc = arg;
    function_config_t c;
    function_config_init(&c);
    err_t e;
    if (function_config_deserialize(&c, json, &e) < 0) {
        log_warn("skipping stored function %s: %s", name, e.msg);
        lc->failed++;
    } else {
        router_add(lc->d->router, &c);
    }
    function_config_free(&c);
}

int control_load(api_t *d, err_t *err)
{
    load_ctx_t lc = { .d = d, .err = err };
    return store_function_each(d->store, load_one, &lc, err);
}
