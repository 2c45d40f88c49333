/* layers.c — Lambda layers (layers.h): the layer API and a function's
 * Layers.
 *
 * Owns the layer versions' documents and their answers. Every operation
 * is a job: parsed on the loop thread, run against the store and the code
 * store on a worker (which also builds the answer), answered back on the
 * loop thread. A layer is its publisher's account's: every operation
 * reads and writes the caller's account's layers only, and another
 * account's layer ARN is refused as Lambda refuses a layer version no
 * permission shares (Nimbus has no AddLayerVersionPermission). Must never:
 * answer before the store has a publish or a delete, reuse a version
 * number, let a function use a layer version that does not exist, or show
 * or touch another account's layer.
 */
#include "api/layers.h"
#include "api/layers_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/auth.h"
#include "api/control.h"
#include "base/json.h"
#include "base/util.h"

#define LAYER_NAME_PATTERN "(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"
#define LAYER_ARN_PATTERN "arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+"
#define MAX_RUNTIMES 15
#define MAX_ARCHS 2
#define PAGE_MAX 50

typedef enum { L_PUBLISH, L_GET, L_DELETE, L_LIST_VERSIONS, L_LIST, L_POLICY_ADD, L_POLICY_GET, L_POLICY_REMOVE } lkind_t;

typedef struct {
    api_t *d;
    lkind_t kind;
    http_exchange_t *ex;       /* NULL once the client went away */
    char layer[141];
    int version;
    char account[13];          /* the account whose layer it is: the caller's, or (L_GET) one that may share it */
    char skey[13];             /* that account in the store: "" for the daemon's own */
    char caller[13];           /* L_GET of another account's version: the caller, whom its policy must name */
    char user[200];            /* ... and its ARN, for the refusal */
    char sid[101];             /* L_POLICY_REMOVE: the statement */
    char *want_rev;            /* L_POLICY_*: the RevisionId precondition (NULL: none) */
    layers_answer_t ans;       /* L_POLICY_*: the answer */
    char *body;
    size_t body_len;
    char *runtime, *arch, *marker;  /* list filters and paging (NULL: none) */
    long max_items;
    char host[256];            /* for Content.Location */
    int status;
    cJSON *doc;                /* the answer */
    char gone_hex[65];         /* code a delete let go */
    err_t err;
    int rc;
} ljob_t;

/* ---- names and ARNs ---- */

static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n < 1 || n > max) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_'))
            return false;
    return true;
}

/* As a function's owner is, the daemon's own account is "" in the store. */
const char *layers_store_key(const char *account) { return strcmp(account, util_account()) == 0 ? "" : account; }
#define store_key layers_store_key
#define layer_arn layers_arn

void layers_arn(const char *account, const char *layer, int version, char *buf, size_t n)
{
    if (version > 0) snprintf(buf, n, "arn:aws:lambda:%s:%s:layer:%s:%d", util_region(), account, layer, version);
    else snprintf(buf, n, "arn:aws:lambda:%s:%s:layer:%s", util_region(), account, layer);
}

/* "arn:aws:lambda:<region>:<account>:layer:<name>[:<version>]" of this
 * daemon's region: the account it names, the name (and *version, 0 for
 * none). Another region's ARN is not ours: -1. */
static int parse_arn(const char *arn, char account[13], char name[141], int *version)
{
    char prefix[100];
    snprintf(prefix, sizeof prefix, "arn:aws:lambda:%s:", util_region());
    size_t pl = strlen(prefix);
    if (strncmp(arn, prefix, pl) != 0) return -1;
    const char *a = arn + pl;
    if (strspn(a, "0123456789") != 12 || strncmp(a + 12, ":layer:", 7) != 0) return -1;
    memcpy(account, a, 12);
    account[12] = '\0';
    const char *p = a + 12 + 7, *colon = strchr(p, ':');
    size_t nl = colon ? (size_t)(colon - p) : strlen(p);
    if (nl == 0 || nl > 140) return -1;
    memcpy(name, p, nl);
    name[nl] = '\0';
    if (!name_ok(name, 140)) return -1;
    *version = 0;
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || v < 1 || v > 1000000000) return -1;
        *version = (int)v;
    }
    return 0;
}

/* A LayerName capture: a name (of `account`, the caller's) or a layer's
 * ARN (`account` set to the one it names). */
static int layer_name(const char *in, char account[13], char name[141])
{
    int v;
    if (strncmp(in, "arn:", 4) == 0) return parse_arn(in, account, name, &v) == 0 && v == 0 ? 0 : -1;
    if (!name_ok(in, 140)) return -1;
    snprintf(name, 141, "%s", in);
    return 0;
}

/* ---- documents ----
 * The stored document: Description, LicenseInfo, CompatibleRuntimes,
 * CompatibleArchitectures and CreatedDate as Lambda names them, and the
 * code: CodeSha256, CodeSize, Unzipped, Hex. */

static const char *doc_str(const cJSON *doc, const char *k)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, k);
    return cJSON_IsString(m) ? m->valuestring : NULL;
}

static double doc_num(const cJSON *doc, const char *k)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, k);
    return cJSON_IsNumber(m) ? m->valuedouble : 0;
}

static void copy_member(cJSON *to, const cJSON *doc, const char *k)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, k);
    if (m) cJSON_AddItemToObject(to, k, cJSON_Duplicate(m, true));
}

/* LayerVersionsListItem (list) or GetLayerVersion's answer (whole). */
static cJSON *version_view(const char *account, const char *layer, int version, const cJSON *doc, bool whole,
                           const char *host)
{
    cJSON *o = cJSON_CreateObject();
    char arn[220];
    if (whole) {
        cJSON *c = cJSON_AddObjectToObject(o, "Content");
        char loc[400];
        snprintf(loc, sizeof loc, "http://%s/nimbus/v1/code/%s.zip", host[0] ? host : "127.0.0.1",
                 doc_str(doc, "Hex") ? doc_str(doc, "Hex") : "");
        cJSON_AddStringToObject(c, "Location", loc);
        copy_member(c, doc, "CodeSha256");
        copy_member(c, doc, "CodeSize");
        layer_arn(account, layer, 0, arn, sizeof arn);
        cJSON_AddStringToObject(o, "LayerArn", arn);
    }
    layer_arn(account, layer, version, arn, sizeof arn);
    cJSON_AddStringToObject(o, "LayerVersionArn", arn);
    copy_member(o, doc, "Description");
    copy_member(o, doc, "CreatedDate");
    cJSON_AddNumberToObject(o, "Version", version);
    copy_member(o, doc, "CompatibleRuntimes");
    copy_member(o, doc, "LicenseInfo");
    copy_member(o, doc, "CompatibleArchitectures");
    return o;
}

static bool list_has(const cJSON *doc, const char *k, const char *want)
{
    if (!want) return true;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, k))
        if (cJSON_IsString(e) && strcmp(e->valuestring, want) == 0) return true;
    return false;
}

/* ---- PublishLayerVersion ---- */

/* An optional list of strings of at most `max` members, each one of
 * `choices` (NULL: any non-empty string). */
static int check_list(const cJSON *m, const char *check, int max, const char *const *choices, err_t *err)
{
    if (!m || cJSON_IsNull(m)) return 0;
    if (!cJSON_IsArray(m)) return err_set(err, ERR_VALIDATION, "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must be a list", check);
    if (cJSON_GetArraySize(m) > max)
        return err_set(err, ERR_VALIDATION,
                       "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d",
                       check, max);
    const cJSON *e;
    cJSON_ArrayForEach(e, m) {
        bool ok = cJSON_IsString(e) && e->valuestring[0] && strlen(e->valuestring) <= 64;
        if (ok && choices) {
            ok = false;
            for (size_t i = 0; choices[i]; i++) ok = ok || strcmp(choices[i], e->valuestring) == 0;
        }
        if (!ok)
            return err_set(err, ERR_VALIDATION,
                           "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set",
                           cJSON_IsString(e) ? e->valuestring : "?", check);
    }
    return 0;
}

static int check_string(const cJSON *m, const char *check, size_t max, err_t *err)
{
    if (!m || cJSON_IsNull(m)) return 0;
    if (!cJSON_IsString(m)) return err_set(err, ERR_VALIDATION, "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must be a string", check);
    if (strlen(m->valuestring) > max)
        return err_set(err, ERR_VALIDATION,
                       "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %zu",
                       check, max);
    return 0;
}

static int publish(ljob_t *j)
{
    static const char *const ARCHS[] = { "x86_64", "arm64", NULL };
    err_t pe = { 0 };
    cJSON *body = json_parse_strict(j->body, j->body_len, &pe);
    int rc = -1;
    char *zip = NULL, *docs = NULL;
    cJSON *doc = NULL;
    if (!cJSON_IsObject(body)) {
        err_set(&j->err, ERR_INVALID, "Could not parse request body into json: %s",
                body ? "the body is not a JSON object" : pe.msg);
        goto out;
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(body, "Content");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(body, "Description");
    const cJSON *lic = cJSON_GetObjectItemCaseSensitive(body, "LicenseInfo");
    const cJSON *rts = cJSON_GetObjectItemCaseSensitive(body, "CompatibleRuntimes");
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(body, "CompatibleArchitectures");
    if (!cJSON_IsObject(content)) {
        err_set(&j->err, ERR_VALIDATION,
                "1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null");
        goto out;
    }
    if (check_string(desc, "description", 256, &j->err) || check_string(lic, "licenseInfo", 512, &j->err) ||
        check_list(rts, "compatibleRuntimes", MAX_RUNTIMES, NULL, &j->err) ||
        check_list(archs, "compatibleArchitectures", MAX_ARCHS, ARCHS, &j->err))
        goto out;
    const cJSON *zf = cJSON_GetObjectItemCaseSensitive(content, "ZipFile");
    if (!cJSON_IsString(zf)) {
        err_set(&j->err, ERR_INVALID,
                "Please provide a layer archive: Content.ZipFile (base64) is required; S3 content is not supported by Nimbus");
        goto out;
    }
    size_t len;
    zip = util_base64_decode(zf->valuestring, strlen(zf->valuestring), &len, &j->err);
    if (!zip) { err_set(&j->err, ERR_INVALID, "Could not unzip uploaded file: ZipFile is not valid base64"); goto out; }
    codestore_entry_t e;
    control_code_lock();
    if (codestore_put(j->d->code, zip, len, &e, &j->err) == 0) {
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "Description", cJSON_IsString(desc) ? desc->valuestring : "");
        if (cJSON_IsString(lic)) cJSON_AddStringToObject(doc, "LicenseInfo", lic->valuestring);
        if (cJSON_IsArray(rts)) cJSON_AddItemToObject(doc, "CompatibleRuntimes", cJSON_Duplicate(rts, true));
        if (cJSON_IsArray(archs)) cJSON_AddItemToObject(doc, "CompatibleArchitectures", cJSON_Duplicate(archs, true));
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char created[32];
        util_iso8601_ms((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, created);
        cJSON_AddStringToObject(doc, "CreatedDate", created);
        cJSON_AddStringToObject(doc, "CodeSha256", e.sha256_b64);
        cJSON_AddNumberToObject(doc, "CodeSize", (double)e.zip_size);
        cJSON_AddNumberToObject(doc, "Unzipped", (double)e.unzipped_size);
        cJSON_AddStringToObject(doc, "Hex", e.hex);
        docs = cJSON_PrintUnformatted(doc);
        rc = store_layer_publish(j->d->store, j->skey, j->layer, docs, e.hex, &j->version, &j->err);
        /* A ZIP nothing references after all is the collector's. */
        if (rc < 0) memcpy(j->gone_hex, e.hex, sizeof j->gone_hex);
    }
    control_code_unlock();
    if (rc == 0) {
        j->status = 201;
        j->doc = version_view(j->account, j->layer, j->version, doc, true, j->host);
    }
out:
    cJSON_Delete(body);
    cJSON_Delete(doc);
    free(zip);
    free(docs);
    return rc;
}

/* ---- reads and delete ---- */

typedef struct {
    ljob_t *j;
    cJSON *arr;
    long n;
    bool more;
    char last[160];            /* the last item's layer (ListLayers) or version */
    char seen[141];            /* ListLayers: a layer already listed */
} list_ctx_t;

static void list_version(const char *layer, const char *key, const char *docs, void *arg)
{
    list_ctx_t *lc = arg;
    ljob_t *j = lc->j;
    int v = atoi(key);
    if (lc->more) return;
    if (j->kind == L_LIST && strcmp(lc->seen, layer) == 0) return;   /* its newest match is listed */
    if (j->kind == L_LIST && j->marker && strcmp(layer, j->marker) <= 0) return;
    if (j->kind == L_LIST_VERSIONS && j->marker && v >= atoi(j->marker)) return;
    cJSON *doc = cJSON_Parse(docs);
    bool match = list_has(doc, "CompatibleRuntimes", j->runtime) && list_has(doc, "CompatibleArchitectures", j->arch);
    if (match && lc->n >= j->max_items) {
        lc->more = true;
    } else if (match) {
        if (j->kind == L_LIST) {
            cJSON *o = cJSON_CreateObject();
            char arn[220];
            layer_arn(j->account, layer, 0, arn, sizeof arn);
            cJSON_AddStringToObject(o, "LayerName", layer);
            cJSON_AddStringToObject(o, "LayerArn", arn);
            cJSON_AddItemToObject(o, "LatestMatchingVersion", version_view(j->account, layer, v, doc, false, ""));
            cJSON_AddItemToArray(lc->arr, o);
            snprintf(lc->seen, sizeof lc->seen, "%s", layer);
            snprintf(lc->last, sizeof lc->last, "%s", layer);
        } else {
            cJSON_AddItemToArray(lc->arr, version_view(j->account, layer, v, doc, false, ""));
            snprintf(lc->last, sizeof lc->last, "%d", v);
        }
        lc->n++;
    }
    cJSON_Delete(doc);
}

static int list(ljob_t *j)
{
    list_ctx_t lc = { .j = j };
    j->doc = cJSON_CreateObject();
    lc.arr = cJSON_AddArrayToObject(j->doc, j->kind == L_LIST ? "Layers" : "LayerVersions");
    if (store_layer_version_each(j->d->store, j->skey, j->kind == L_LIST ? NULL : j->layer, list_version, &lc,
                                 &j->err) < 0)
        return -1;
    if (lc.more) cJSON_AddStringToObject(j->doc, "NextMarker", lc.last);
    j->status = 200;
    return 0;
}

static int get_version(ljob_t *j)
{
    if (j->caller[0]) {
        /* Another account's version: only when its policy shares it with the caller. */
        char *pol = NULL;
        bool ok = store_layer_policy_get(j->d->store, j->skey, j->layer, j->version, &pol, &j->err) == 0 &&
                  layers_policy_grants(pol, j->caller);
        free(pol);
        if (!ok && j->err.code != ERR_NONE && j->err.code != ERR_NOT_FOUND) return -1;
        if (!ok) {
            char arn[260];
            layer_arn(j->account, j->layer, j->version, arn, sizeof arn);
            return err_set(&j->err, ERR_DENIED, LAYERS_DENIED_FMT, j->user, "GetLayerVersion", arn, "GetLayerVersion");
        }
    }
    char *docs;
    if (store_layer_version_get(j->d->store, j->skey, j->layer, j->version, &docs, &j->err) < 0) {
        if (j->err.code == ERR_NOT_FOUND) err_set(&j->err, ERR_NOT_FOUND, "The resource you requested does not exist.");
        return -1;
    }
    cJSON *doc = cJSON_Parse(docs);
    free(docs);
    j->doc = version_view(j->account, j->layer, j->version, doc, true, j->host);
    cJSON_Delete(doc);
    j->status = 200;
    return 0;
}

static void ljob_work(void *arg)
{
    ljob_t *j = arg;
    switch (j->kind) {
    case L_PUBLISH: j->rc = publish(j); break;
    case L_GET: j->rc = get_version(j); break;
    case L_DELETE:
        /* Lambda's delete succeeds whether or not the version exists. */
        j->rc = store_layer_version_delete(j->d->store, j->skey, j->layer, j->version, j->gone_hex, &j->err);
        j->status = 204;
        break;
    case L_LIST:
    case L_LIST_VERSIONS: j->rc = list(j); break;
    case L_POLICY_ADD:
    case L_POLICY_GET:
    case L_POLICY_REMOVE: {
        char arn[260];
        layer_arn(j->account, j->layer, j->version, arn, sizeof arn);
        if (j->kind == L_POLICY_ADD)
            j->rc = layers_policy_add(j->d->store, j->skey, j->layer, j->version, arn, j->body, j->body_len,
                                      j->want_rev, &j->ans, &j->err);
        else if (j->kind == L_POLICY_GET)
            j->rc = layers_policy_get(j->d->store, j->skey, j->layer, j->version, &j->ans, &j->err);
        else
            j->rc = layers_policy_remove(j->d->store, j->skey, j->layer, j->version, j->sid, j->want_rev, &j->ans,
                                         &j->err);
        j->status = j->ans.status;
        j->doc = j->ans.doc;
        break;
    }
    }
}

static void ljob_done(loop_t *l, void *arg)
{
    (void)l;
    ljob_t *j = arg;
    if (j->ex) {
        if (j->rc < 0) api_respond_err(j->ex, &j->err);
        else if (j->ans.type) api_respond_error(j->ex, j->ans.status, j->ans.type, "%s", j->ans.msg);
        else if (j->status == 204) api_respond_empty(j->ex, 204);
        else { api_respond_doc(j->ex, j->status, j->doc); j->doc = NULL; }
    }
    if (j->gone_hex[0]) control_collect_code(j->d, j->gone_hex);
    cJSON_Delete(j->doc);
    free(j->body);
    free(j->runtime);
    free(j->arch);
    free(j->marker);
    free(j->want_rev);
    free(j);
}

static void ljob_abort(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((ljob_t *)arg)->ex = NULL;
}

/* ---- the routes ---- */

static void bad_name(http_exchange_t *ex, const char *in)
{
    api_respond_error(ex, 400, "ValidationException",
                      "1 validation error detected: Value '%s' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern: " LAYER_NAME_PATTERN,
                      in);
}

static int parse_version(const char *s)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    return s && *s && !*end && v >= 1 && v <= 1000000000 ? (int)v : -1;
}

/* MaxItems (1..50, default 50); -1 after answering. */
static long max_items(http_exchange_t *ex, const char *query)
{
    char *m = util_query_param(query, "MaxItems");
    if (!m) return PAGE_MAX;
    char *end;
    long v = strtol(m, &end, 10);
    bool ok = *m && !*end && v >= 1 && v <= PAGE_MAX;
    if (!ok)
        api_respond_error(ex, 400, "ValidationException",
                          "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value %s",
                          m, v < 1 ? "greater than or equal to 1" : "less than or equal to 50");
    free(m);
    return ok ? v : -1;
}

/* The caller's ARN in an AccessDeniedException ("" without credentials:
 * the daemon's account's root). */
static void user_arn(const http_request_t *req, char *buf, size_t n)
{
    const auth_key_t *k = auth_principal(req);
    if (k) snprintf(buf, n, "arn:aws:iam::%s:user/%s", k->account, k->id);
    else snprintf(buf, n, "arn:aws:iam::%s:root", util_account());
}

/* Another account's layer, named by its ARN: refused as Lambda refuses a
 * layer version its publisher did not share. */
static void denied(http_exchange_t *ex, const http_request_t *req, const ljob_t *j, const char *named)
{
    static const char *const ACTION[] = { [L_PUBLISH] = "PublishLayerVersion", [L_GET] = "GetLayerVersion",
                                          [L_DELETE] = "DeleteLayerVersion",
                                          [L_LIST_VERSIONS] = "ListLayerVersions", [L_LIST] = "ListLayers",
                                          [L_POLICY_ADD] = "AddLayerVersionPermission",
                                          [L_POLICY_GET] = "GetLayerVersionPolicy",
                                          [L_POLICY_REMOVE] = "RemoveLayerVersionPermission" };
    char user[200], arn[260];
    user_arn(req, user, sizeof user);
    bool one = j->kind != L_PUBLISH && j->kind != L_LIST_VERSIONS && j->kind != L_LIST;
    layer_arn(named, j->layer, one ? j->version : 0, arn, sizeof arn);
    api_respond_error(ex, 403, "AccessDeniedException", LAYERS_DENIED_FMT, user, ACTION[j->kind], arn,
                      ACTION[j->kind]);
}

static void start(api_t *d, http_exchange_t *ex, http_request_t *req, const char *layer, const char *version,
                  const char *sid, bool policy);

void layers_handle(api_t *d, http_exchange_t *ex, http_request_t *req, const char *layer, const char *version)
{
    start(d, ex, req, layer, version, NULL, false);
}

void layers_policy_handle(api_t *d, http_exchange_t *ex, http_request_t *req, const char *layer, const char *version,
                          const char *sid)
{
    start(d, ex, req, layer, version, sid, true);
}

static void start(api_t *d, http_exchange_t *ex, http_request_t *req, const char *layer, const char *version,
                  const char *sid, bool policy)
{
    const char *m = req->method;
    ljob_t *j = calloc(1, sizeof *j);
    if (!j) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    j->d = d;
    j->ex = ex;
    const auth_key_t *who = auth_principal(req);
    snprintf(j->account, sizeof j->account, "%s", who ? who->account : util_account());
    snprintf(j->skey, sizeof j->skey, "%s", store_key(j->account));
    char named[13];            /* the account a name or an ARN names */
    memcpy(named, j->account, sizeof named);
    const char *host = http_request_header(req, "Host");
    snprintf(j->host, sizeof j->host, "%s", host ? host : "");
    if (!layer) {
        /* GET /2018-10-31/layers: ListLayers, or GetLayerVersionByArn. */
        char *find = util_query_param(req->query, "find");
        if (find && strcmp(find, "LayerVersion") == 0) {
            char *arn = util_query_param(req->query, "Arn");
            if (!arn || parse_arn(arn, named, j->layer, &j->version) < 0 || j->version == 0) {
                api_respond_error(ex, 400, "ValidationException",
                                  "1 validation error detected: Value '%s' at 'arn' failed to satisfy constraint: Member must satisfy regular expression pattern: " LAYER_ARN_PATTERN,
                                  arn ? arn : "");
                free(arn);
                free(find);
                free(j);
                return;
            }
            free(arn);
            j->kind = L_GET;
        } else {
            j->kind = L_LIST;
        }
        free(find);
    } else {
        if (layer_name(layer, named, j->layer) < 0) { bad_name(ex, layer); free(j); return; }
        if (version) {
            j->version = parse_version(version);
            if (j->version < 0) {
                api_respond_error(ex, 400, "ValidationException",
                                  "1 validation error detected: Value '%s' at 'versionNumber' failed to satisfy constraint: Member must be a number greater than or equal to 1",
                                  version);
                free(j);
                return;
            }
            if (policy) j->kind = sid ? L_POLICY_REMOVE : strcmp(m, "POST") == 0 ? L_POLICY_ADD : L_POLICY_GET;
            else j->kind = strcmp(m, "DELETE") == 0 ? L_DELETE : L_GET;
        } else {
            j->kind = strcmp(m, "POST") == 0 ? L_PUBLISH : L_LIST_VERSIONS;
        }
    }
    if (sid && (!*sid || strlen(sid) > 100 ||
                strspn(sid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != strlen(sid))) {
        api_respond_error(ex, 400, "ValidationException",
                          "1 validation error detected: Value '%.100s' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
                          sid);
        free(j);
        return;
    }
    if (strcmp(named, j->account) != 0 && j->kind == L_GET) {
        /* Another account's version: its policy may share it (read on the worker). */
        memcpy(j->caller, j->account, sizeof j->caller);
        user_arn(req, j->user, sizeof j->user);
        memcpy(j->account, named, sizeof j->account);
        snprintf(j->skey, sizeof j->skey, "%s", store_key(named));
    } else if (strcmp(named, j->account) != 0) {
        denied(ex, req, j, named);
        free(j);
        return;
    }
    if (sid) snprintf(j->sid, sizeof j->sid, "%s", sid);
    if (policy && j->kind != L_POLICY_GET) j->want_rev = util_query_param(req->query, "RevisionId");
    if (j->want_rev && !*j->want_rev) { free(j->want_rev); j->want_rev = NULL; }
    if (j->kind == L_LIST || j->kind == L_LIST_VERSIONS) {
        if ((j->max_items = max_items(ex, req->query)) < 0) { free(j); return; }
        j->runtime = util_query_param(req->query, "CompatibleRuntime");
        j->arch = util_query_param(req->query, "CompatibleArchitecture");
        j->marker = util_query_param(req->query, "Marker");
        if (j->marker && !*j->marker) { free(j->marker); j->marker = NULL; }
    }
    if (j->kind == L_PUBLISH || j->kind == L_POLICY_ADD) j->body = http_request_take_body(ex, &j->body_len);
    http_exchange_on_abort(ex, ljob_abort, j);
    loop_submit(d->loop, ljob_work, ljob_done, j);
}

/* ---- a function's Layers ---- */

static bool arn_part(const char **p, bool digits, size_t exact)
{
    const char *s = *p;
    for (; **p && **p != ':'; (*p)++) {
        char c = **p;
        bool ok = (c >= '0' && c <= '9') || (!digits && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'));
        if (!ok) return false;
    }
    size_t n = (size_t)(*p - s);
    return n && (!exact || n == exact);
}

/* LAYER_ARN_PATTERN, whole: a layer version's ARN, of any partition,
 * region and account (which of them is this daemon's is asked after). */
static bool layer_version_arn_shaped(const char *s)
{
    if (strncmp(s, "arn:", 4) != 0) return false;
    s += 4;
    if (!arn_part(&s, false, 0) || strncmp(s, ":lambda:", 8) != 0) return false;
    s += 8;
    if (!arn_part(&s, false, 0) || *s++ != ':' || !arn_part(&s, true, 12) || strncmp(s, ":layer:", 7) != 0)
        return false;
    s += 7;
    const char *name = s;
    for (; *s && *s != ':'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
            return false;
    if (s == name || *s++ != ':') return false;
    return arn_part(&s, true, 0) && !*s;
}

static bool same_list(const function_config_t *cfg, const cJSON *arr)
{
    if ((size_t)cJSON_GetArraySize(arr) != cfg->nlayers) return false;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
        if (!cJSON_IsString(e) || strcmp(e->valuestring, cfg->layers[i++].arn) != 0) return false;
    return true;
}

int layers_apply(api_t *d, const cJSON *body, function_config_t *cfg, const char *user, bool *changed, err_t *err)
{
    const char *owner = cfg->owner[0] ? cfg->owner : util_account();
    *changed = false;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "Layers");
    if (!arr || cJSON_IsNull(arr)) return 0;
    if (!cJSON_IsArray(arr))
        return err_set(err, ERR_VALIDATION, "1 validation error detected: Value at 'layers' failed to satisfy constraint: Member must be a list");
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        size_t n = cJSON_IsString(e) ? strlen(e->valuestring) : 0;
        bool shaped = n >= 1 && n <= 140 && layer_version_arn_shaped(e->valuestring);
        if (!shaped)
            return err_set(err, ERR_VALIDATION,
                           "1 validation error detected: Value '[%s]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 140, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: " LAYER_ARN_PATTERN ", Member must not be null]",
                           cJSON_IsString(e) ? e->valuestring : "null");
    }
    if (cJSON_GetArraySize(arr) > FUNCTION_MAX_LAYERS)
        return err_set(err, ERR_INVALID, "Cannot reference more than %d layers.", FUNCTION_MAX_LAYERS);
    if (same_list(cfg, arr)) return 0;

    function_layer_t got[FUNCTION_MAX_LAYERS];
    char names[FUNCTION_MAX_LAYERS][141];
    char hexes[FUNCTION_MAX_LAYERS][65];
    size_t n = 0;
    cJSON_ArrayForEach(e, arr) {
        int v;
        char account[13];
        if (parse_arn(e->valuestring, account, names[n], &v) < 0 || v == 0)
            return err_set(err, ERR_INVALID, "Layer version %s does not exist.", e->valuestring);
        if (strcmp(account, owner) != 0) {
            /* Another account's: only a version its policy shares with the owner. */
            char *pol = NULL;
            int prc = store_layer_policy_get(d->store, store_key(account), names[n], v, &pol, err);
            bool ok = prc == 0 && layers_policy_grants(pol, owner);
            free(pol);
            if (prc < 0 && err->code != ERR_NOT_FOUND) return -1;
            if (!ok) {
                char me[200];
                if (user && *user) snprintf(me, sizeof me, "%s", user);
                else snprintf(me, sizeof me, "arn:aws:iam::%s:root", owner);
                return err_set(err, ERR_DENIED, LAYERS_DENIED_FMT, me, "GetLayerVersion", e->valuestring,
                               "GetLayerVersion");
            }
        }
        for (size_t k = 0; k < n; k++)
            if (strcmp(names[k], names[n]) == 0)
                return err_set(err, ERR_INVALID, "Two different versions of the same layer are not allowed.");
        char *docs;
        if (store_layer_version_get(d->store, store_key(account), names[n], v, &docs, err) < 0) {
            if (err->code == ERR_NOT_FOUND) err_set(err, ERR_INVALID, "Layer version %s does not exist.", e->valuestring);
            return -1;
        }
        cJSON *doc = cJSON_Parse(docs);
        free(docs);
        function_layer_t *x = &got[n];
        memset(x, 0, sizeof *x);
        layer_arn(account, names[n], v, x->arn, sizeof x->arn);
        x->code_size = (int64_t)doc_num(doc, "CodeSize");
        x->unzipped = (int64_t)doc_num(doc, "Unzipped");
        snprintf(x->hex, sizeof x->hex, "%s", doc_str(doc, "Hex") ? doc_str(doc, "Hex") : "");
        memcpy(hexes[n], x->hex, sizeof hexes[n]);
        cJSON_Delete(doc);
        n++;
    }
    char opt[65] = "";
    if (n && codestore_merge(d->code, (const char(*)[65])hexes, n, opt, err) < 0) return -1;
    memcpy(cfg->layers, got, n * sizeof *got);
    cfg->nlayers = n;
    memcpy(cfg->opt_hex, opt, sizeof cfg->opt_hex);
    *changed = true;
    return 0;
}

int layers_check_size(api_t *d, const function_config_t *cfg, int64_t code_unzipped, err_t *err)
{
    if (!cfg->nlayers) return 0;
    int64_t total = code_unzipped;
    for (size_t i = 0; i < cfg->nlayers; i++) total += cfg->layers[i].unzipped;
    size_t max = codestore_max_unzipped(d->code);
    if (total > (int64_t)max)
        return err_set(err, ERR_INVALID,
                       "Function code combined with layers exceeds the maximum allowed size of %zu bytes. The actual size is %lld bytes.",
                       max, (long long)total);
    return 0;
}

typedef struct {
    const char *skey, *account;
    bool found;
} code_find_t;

static void code_of(const char *skey, const char *layer, const char *policy, void *arg)
{
    (void)layer;
    code_find_t *f = arg;
    f->found = f->found || strcmp(skey, f->skey) == 0 || layers_policy_grants(policy, f->account);
}

int layers_code_owned(api_t *d, const char *account, const char *hex, err_t *err)
{
    code_find_t f = { .skey = store_key(account), .account = account };
    if (store_layer_code_each(d->store, hex, code_of, &f, err) < 0) return -1;
    return f.found ? 1 : 0;
}
