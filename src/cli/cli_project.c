/* cli_project.c — `nimbus deploy` with no NAME: find and read the project
 * file (template.yaml, template.yml, s.yaml, s.yml, or --template FILE),
 * turn it into a plan (cli_project_sam.c, cli_project_fc.c), then make the
 * daemon match it: layers first, then each function — created, or updated
 * in only what differs from what GetFunction answers (CodeSha256 and each
 * setting), then its reserved concurrency, alias and version, provisioned
 * concurrency, URL and timer triggers.
 *
 * Must never: deploy anything when the template has an error (the whole
 * plan is made before the first request), print a partial result on
 * failure, or touch a trigger, URL or alias the template does not govern.
 */
#define _GNU_SOURCE
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

void cli_project_warnf(cli_plan_env_t *env, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) abort();
    va_end(ap);
    cJSON_AddItemToArray(env->warnings, cJSON_CreateString(s));
    free(s);
}

void cli_project_unsupported(cli_plan_env_t *env, const char *res, const char *prop)
{
    cli_project_warnf(env, "%s.%s: not supported by Nimbus, ignored", res, prop);
}

char *cli_project_path(const cli_plan_env_t *env, const char *path)
{
    char *s = NULL;
    if (path[0] == '/' || !env->dir || !env->dir[0] || !strcmp(env->dir, ".")) s = strdup(path);
    else if (asprintf(&s, "%s/%s", env->dir, path) < 0) s = NULL;
    if (!s) abort();
    return s;
}

cJSON *cli_project_plan(const cJSON *doc, cli_plan_env_t *env, err_t *err)
{
    if (!cJSON_IsObject(doc)) return err_set(err, ERR_INVALID, "not a mapping of sections"), NULL;
    if (cJSON_GetObjectItemCaseSensitive(doc, "Resources") || cJSON_GetObjectItemCaseSensitive(doc, "Transform"))
        return cli_project_sam(doc, env, err);
    if (cJSON_GetObjectItemCaseSensitive(doc, "resources") || cJSON_GetObjectItemCaseSensitive(doc, "services"))
        return cli_project_fc(doc, env, err);
    return err_set(err, ERR_INVALID, "neither a SAM template (Resources) nor an s.yaml (resources)"), NULL;
}

/* ---- talking to the daemon ------------------------------------------------ */

/* One request with a JSON body (or none). 0 with *out (NULL for an empty
 * answer), 1 for a 404 when `allow404`, -1 with err. */
static int pj_req(cli_ctx_t *ctx, const char *method, const char *path, const cJSON *body, bool allow404,
                  cJSON **out, err_t *err)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    cli_req_t req = {.method = method, .path = path, .headers = body ? hdrs : NULL, .body = text,
                     .body_len = text ? strlen(text) : 0};
    cli_resp_t resp;
    int rc = cli_http(ctx, &req, &resp, err);
    free(text);
    if (out) *out = NULL;
    if (rc == 0 && allow404 && resp.status == 404) {
        cli_resp_free(&resp);
        return 1;
    }
    if (rc == 0) rc = cli_resp_check(&resp, err);
    if (rc == 0 && out && resp.body.len) {
        *out = cli_resp_json(&resp, err);
        if (!*out) rc = -1;
    }
    cli_resp_free(&resp);
    return rc;
}

static char *pj_path(const char *fmt, const char *name, const char *tail)
{
    char *e = cli_escape(name), *p = NULL;
    if (asprintf(&p, fmt, e, tail ? tail : "") < 0) abort();
    free(e);
    return p;
}

static const char *pj_str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* ---- packages ------------------------------------------------------------- */

/* `zip` with a `bootstrap` (0755) replacing any it had: customRuntimeConfig's
 * command. A fixed mtime keeps the CodeSha256 of an unchanged tree. */
static la_ssize_t pj_zip_write(struct archive *a, void *ud, const void *p, size_t n)
{
    buf_append(ud, p, n);
    return (la_ssize_t)n;
}

static int pj_add_bootstrap(buf_t *zip, const char *script, err_t *err)
{
    struct archive *in = archive_read_new(), *out = archive_write_new();
    buf_t res = {0};
    int rc = -1;
    archive_read_support_format_zip(in);
    archive_write_set_format_zip(out);
    if (archive_read_open_memory(in, zip->data, zip->len) != ARCHIVE_OK ||
        archive_write_open(out, &res, NULL, pj_zip_write, NULL) != ARCHIVE_OK)
        goto fail;
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
        if (!strcmp(archive_entry_pathname(e), "bootstrap")) continue;
        if (archive_write_header(out, e) != ARCHIVE_OK) goto fail;
        const void *blk;
        size_t n;
        la_int64_t off;
        while ((r = archive_read_data_block(in, &blk, &n, &off)) == ARCHIVE_OK)
            if (archive_write_data(out, blk, n) < 0) goto fail;
        if (r != ARCHIVE_EOF) goto fail;
    }
    if (r != ARCHIVE_EOF) goto fail;
    e = archive_entry_new();
    archive_entry_set_pathname(e, "bootstrap");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_size(e, (la_int64_t)strlen(script));
    archive_entry_set_mtime(e, 315532800, 0);      /* 1980-01-01, ZIP's epoch */
    r = archive_write_header(out, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK || archive_write_data(out, script, strlen(script)) < 0) goto fail;
    if (archive_write_close(out) != ARCHIVE_OK) goto fail;
    buf_free(zip);
    *zip = res;
    res = (buf_t){0};
    rc = 0;
fail:
    if (rc < 0)
        err_set(err, ERR_ZIP, "adding the bootstrap: %s",
                archive_error_string(out) ? archive_error_string(out)
                : archive_error_string(in) ? archive_error_string(in) : "unknown error");
    archive_read_free(in);
    archive_write_free(out);
    buf_free(&res);
    return rc;
}

/* The package as ZIP bytes (with its bootstrap when the plan writes one)
 * and its CodeSha256 as the API spells it (base64 of the SHA-256). */
static int pj_package(const char *path, const char *bootstrap, buf_t *zip, char **sha, err_t *err)
{
    if (cli_load_package(path, zip, err) < 0) return -1;
    if (bootstrap && pj_add_bootstrap(zip, bootstrap, err) < 0) return -1;
    uint8_t d[32];
    util_sha256(zip->data, zip->len, d);
    *sha = util_base64_encode(d, sizeof d, NULL);
    return 0;
}

/* ---- applying the plan ---------------------------------------------------- */

typedef struct {
    cli_ctx_t *ctx;
    cJSON *layer_arns;        /* Logical → LayerVersionArn, once published */
    cJSON *report;            /* [{Resource, Name, Action, Changes}] */
    err_t *err;
} pj_t;

static void pj_report(pj_t *p, const char *kind, const char *name, const char *action, cJSON *changes)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "Resource", kind);
    cJSON_AddStringToObject(r, "Name", name);
    cJSON_AddStringToObject(r, "Action", action);
    cJSON_AddItemToObject(r, "Changes", changes ? changes : cJSON_CreateArray());
    cJSON_AddItemToArray(p->report, r);
}

/* A layer of the template: published when its content differs from the
 * newest version's (or there is none). */
static int pj_layer(pj_t *p, const cJSON *l)
{
    const char *name = pj_str(l, "LayerName");
    buf_t zip = {0};
    char *sha = NULL, *path = pj_path("/2018-10-31/layers/%s/versions%s", name, "?MaxItems=1");
    cJSON *list = NULL, *ver = NULL;
    int rc = -1;
    if (pj_package(pj_str(l, "Content"), NULL, &zip, &sha, p->err) < 0) goto out;
    if (pj_req(p->ctx, "GET", path, NULL, true, &list, p->err) < 0) goto out;
    const cJSON *newest = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "LayerVersions"), 0);
    const char *arn = pj_str(newest, "LayerVersionArn");
    if (arn) {
        char num[32];
        snprintf(num, sizeof num, "/%.0f", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(newest, "Version")));
        free(path);
        path = pj_path("/2018-10-31/layers/%s/versions%s", name, num);
        if (pj_req(p->ctx, "GET", path, NULL, false, &ver, p->err) < 0) goto out;
        const char *cur = pj_str(cJSON_GetObjectItemCaseSensitive(ver, "Content"), "CodeSha256");
        if (cur && !strcmp(cur, sha)) {
            cJSON_AddStringToObject(p->layer_arns, pj_str(l, "Logical"), arn);
            pj_report(p, "layer", arn, "unchanged", NULL);
            rc = 0;
            goto out;
        }
        cJSON_Delete(ver);
        ver = NULL;
    }
    cJSON *body = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(l, "Publish"), 1);
    char *b64 = util_base64_encode(zip.data, zip.len, NULL);
    cJSON_AddItemToObject(cJSON_AddObjectToObject(body, "Content"), "ZipFile", cJSON_CreateStringReference(b64));
    free(path);
    path = pj_path("/2018-10-31/layers/%s/versions%s", name, NULL);
    rc = pj_req(p->ctx, "POST", path, body, false, &ver, p->err);
    cJSON_Delete(body);
    free(b64);
    if (rc == 0 && !(arn = pj_str(ver, "LayerVersionArn")))
        rc = err_set(p->err, ERR_INTERNAL, "the server's answer has no LayerVersionArn");
    if (rc == 0) {
        cJSON_AddStringToObject(p->layer_arns, pj_str(l, "Logical"), arn);
        pj_report(p, "layer", arn, "published", NULL);
    }
out:
    if (rc < 0) err_wrap(p->err, "%s", pj_str(l, "Logical"));
    cJSON_Delete(list);
    cJSON_Delete(ver);
    buf_free(&zip);
    free(sha);
    free(path);
    return rc;
}

/* The plan's Layers with the template's own layers replaced by the ARNs
 * just published or found. */
static cJSON *pj_layers(pj_t *p, const cJSON *plan_layers)
{
    cJSON *a = cJSON_CreateArray();
    for (const cJSON *l = plan_layers ? plan_layers->child : NULL; l; l = l->next) {
        const char *ref = pj_str(l, "Ref");
        const char *arn = ref ? pj_str(p->layer_arns, ref) : cJSON_GetStringValue(l);
        if (arn) cJSON_AddItemToArray(a, cJSON_CreateString(arn));
    }
    return a;
}

/* What the daemon has for setting `k`, in the plan's shape. */
static cJSON *pj_current(const cJSON *cur, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cur, k);
    if (!strcmp(k, "Environment")) {
        cJSON *e = cJSON_CreateObject();
        const cJSON *vars = cJSON_GetObjectItemCaseSensitive(v, "Variables");
        cJSON_AddItemToObject(e, "Variables", vars ? cJSON_Duplicate(vars, 1) : cJSON_CreateObject());
        return e;
    }
    if (!strcmp(k, "Layers")) {
        cJSON *a = cJSON_CreateArray();
        for (const cJSON *l = v ? v->child : NULL; l; l = l->next)
            cJSON_AddItemToArray(a, cJSON_CreateString(pj_str(l, "Arn") ? pj_str(l, "Arn") : ""));
        return a;
    }
    if (!strcmp(k, "Description") && !v) return cJSON_CreateString("");
    return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
}

static int pj_alias(pj_t *p, const char *fn, const char *alias, bool changed, cJSON *changes)
{
    char *tail = NULL;
    char *ea = cli_escape(alias);
    if (asprintf(&tail, "/aliases/%s", ea) < 0) abort();
    free(ea);
    char *apath = pj_path("/2015-03-31/functions/%s%s", fn, tail), *vpath = NULL;
    free(tail);
    cJSON *cur = NULL, *ver = NULL, *body = NULL;
    int rc = pj_req(p->ctx, "GET", apath, NULL, true, &cur, p->err);
    if (rc < 0 || (rc == 0 && !changed)) goto out;
    vpath = pj_path("/2015-03-31/functions/%s%s", fn, "/versions");
    body = cJSON_CreateObject();
    if ((rc = pj_req(p->ctx, "POST", vpath, body, false, &ver, p->err)) < 0) goto out;
    const char *v = pj_str(ver, "Version");
    if (!v) {
        rc = err_set(p->err, ERR_INTERNAL, "the server's answer has no Version");
        goto out;
    }
    if (cur && !strcmp(pj_str(cur, "FunctionVersion") ?: "", v)) goto out;
    cJSON_Delete(body);
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "FunctionVersion", v);
    if (!cur) {
        cJSON_AddStringToObject(body, "Name", alias);
        free(vpath);
        vpath = pj_path("/2015-03-31/functions/%s%s", fn, "/aliases");
        rc = pj_req(p->ctx, "POST", vpath, body, false, NULL, p->err);
    } else {
        rc = pj_req(p->ctx, "PUT", apath, body, false, NULL, p->err);
    }
    char what[160];
    snprintf(what, sizeof what, "alias %s -> %s", alias, v);
    if (rc == 0) cJSON_AddItemToArray(changes, cJSON_CreateString(what));
out:
    cJSON_Delete(cur);
    cJSON_Delete(ver);
    cJSON_Delete(body);
    free(apath);
    free(vpath);
    return rc < 0 ? -1 : 0;
}

static int pj_provisioned(pj_t *p, const char *fn, const char *alias, long want, cJSON *changes)
{
    char *ea = cli_escape(alias), *tail = NULL;
    if (asprintf(&tail, "/provisioned-concurrency?Qualifier=%s", ea) < 0) abort();
    free(ea);
    char *path = pj_path("/2019-09-30/functions/%s%s", fn, tail);
    free(tail);
    cJSON *cur = NULL;
    int rc = pj_req(p->ctx, "GET", path, NULL, true, &cur, p->err);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(cur, "RequestedProvisionedConcurrentExecutions");
    if (rc >= 0 && !(rc == 0 && cJSON_IsNumber(n) && (long)n->valuedouble == want)) {
        cJSON *body = cJSON_CreateObject();
        cJSON_AddNumberToObject(body, "ProvisionedConcurrentExecutions", (double)want);
        rc = pj_req(p->ctx, "PUT", path, body, false, NULL, p->err);
        cJSON_Delete(body);
        if (rc == 0) cJSON_AddItemToArray(changes, cJSON_CreateString("ProvisionedConcurrencyConfig"));
    }
    cJSON_Delete(cur);
    free(path);
    return rc < 0 ? -1 : 0;
}

static int pj_reserved(pj_t *p, const char *fn, const cJSON *got, const cJSON *want, cJSON *changes)
{
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(got, "Concurrency"),
                                                        "ReservedConcurrentExecutions");
    if ((!want && !have) || (want && have && want->valuedouble == have->valuedouble)) return 0;
    char *path = pj_path("/2017-10-31/functions/%s%s", fn, "/concurrency");
    cJSON *body = want ? cJSON_CreateObject() : NULL;
    if (body) cJSON_AddNumberToObject(body, "ReservedConcurrentExecutions", want->valuedouble);
    int rc = pj_req(p->ctx, want ? "PUT" : "DELETE", path, body, false, NULL, p->err);
    cJSON_Delete(body);
    free(path);
    if (rc == 0) cJSON_AddItemToArray(changes, cJSON_CreateString("ReservedConcurrentExecutions"));
    return rc;
}

/* The function's URL (of the alias when there is one) as the template says:
 * made, changed, or removed. */
static int pj_url(pj_t *p, const char *fn, const char *alias, const cJSON *want, cJSON *changes, char **url)
{
    char *tail = NULL;
    if (alias) {
        char *ea = cli_escape(alias);
        if (asprintf(&tail, "/url?Qualifier=%s", ea) < 0) abort();
        free(ea);
    }
    char *path = pj_path("/2021-10-31/functions/%s%s", fn, tail ? tail : "/url");
    free(tail);
    cJSON *cur = NULL;
    int rc = pj_req(p->ctx, "GET", path, NULL, true, &cur, p->err);
    const char *method = NULL;
    if (rc == 1 && want) method = "POST";
    else if (rc == 0 && !want) method = "DELETE";
    else if (rc == 0) {
        static const char *const keys[] = {"AuthType", "InvokeMode", "Cors"};
        for (size_t i = 0; i < 3 && !method; i++) {
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(want, keys[i]);
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(cur, keys[i]);
            if (i == 1 && !w) continue;
            if (!w && (!h || !h->child)) continue;
            if (!w || !h || !cJSON_Compare(w, h, true)) method = "PUT";
        }
    }
    if (rc >= 0 && method) {
        rc = pj_req(p->ctx, method, path, !strcmp(method, "DELETE") ? NULL : want, false, NULL, p->err);
        if (rc == 0) cJSON_AddItemToArray(changes, cJSON_CreateString(!strcmp(method, "DELETE") ? "url removed" : "url"));
    }
    if (rc >= 0 && want) {
        cJSON_Delete(cur);
        cur = NULL;
        rc = pj_req(p->ctx, "GET", path, NULL, false, &cur, p->err);
        if (rc == 0 && pj_str(cur, "FunctionUrl")) *url = strdup(pj_str(cur, "FunctionUrl"));
    }
    cJSON_Delete(cur);
    free(path);
    return rc < 0 ? -1 : 0;
}

/* The function's timer triggers made to match the plan's: added, changed
 * (Enabled and Payload in place; anything else by removing and adding),
 * removed. */
static int pj_triggers(pj_t *p, const char *fn, const cJSON *want, cJSON *changes)
{
    char *base = pj_path("/nimbus/v1/functions/%s/triggers%s", fn, NULL);
    cJSON *list = NULL;
    int rc = pj_req(p->ctx, "GET", base, NULL, false, &list, p->err);
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(list, "Triggers");
    for (const cJSON *h = have ? have->child : NULL; rc == 0 && h; h = h->next) {
        const char *name = pj_str(h, "Name");
        const cJSON *w = NULL;
        for (w = want ? want->child : NULL; w; w = w->next)
            if (!strcmp(pj_str(w, "Name"), name ?: "")) break;
        static const char *const fixed[] = {"ScheduleExpression", "Timezone", "Format", "Qualifier"};
        bool same = w != NULL;
        for (size_t i = 0; same && i < 4; i++) same = !strcmp(pj_str(w, fixed[i]) ?: "", pj_str(h, fixed[i]) ?: "");
        char *e = cli_escape(name ?: ""), *tp = NULL;
        if (asprintf(&tp, "%s/%s", base, e) < 0) abort();
        free(e);
        char what[200];
        if (!same) {
            rc = pj_req(p->ctx, "DELETE", tp, NULL, false, NULL, p->err);
            snprintf(what, sizeof what, "trigger %s removed", name);
            if (rc == 0 && !w) cJSON_AddItemToArray(changes, cJSON_CreateString(what));
        } else {
            const cJSON *we = cJSON_GetObjectItemCaseSensitive(w, "Enabled");
            bool en_same = cJSON_IsTrue(we) == cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "Enabled"));
            bool pl_same = !strcmp(pj_str(w, "Payload") ?: "", pj_str(h, "Payload") ?: "");
            if (!en_same || !pl_same) {
                cJSON *body = cJSON_CreateObject();
                cJSON_AddBoolToObject(body, "Enabled", cJSON_IsTrue(we));
                cJSON_AddStringToObject(body, "Payload", pj_str(w, "Payload") ?: "");
                rc = pj_req(p->ctx, "PATCH", tp, body, false, NULL, p->err);
                cJSON_Delete(body);
                snprintf(what, sizeof what, "trigger %s", name);
                if (rc == 0) cJSON_AddItemToArray(changes, cJSON_CreateString(what));
            }
        }
        free(tp);
    }
    for (const cJSON *w = want ? want->child : NULL; rc == 0 && w; w = w->next) {
        bool kept = false;
        for (const cJSON *h = have ? have->child : NULL; h && !kept; h = h->next) {
            if (strcmp(pj_str(w, "Name"), pj_str(h, "Name") ?: "")) continue;
            kept = true;
            static const char *const fixed[] = {"ScheduleExpression", "Timezone", "Format", "Qualifier"};
            for (size_t i = 0; i < 4; i++) kept = kept && !strcmp(pj_str(w, fixed[i]) ?: "", pj_str(h, fixed[i]) ?: "");
        }
        if (kept) continue;
        rc = pj_req(p->ctx, "POST", base, w, false, NULL, p->err);
        char what[200];
        snprintf(what, sizeof what, "trigger %s", pj_str(w, "Name"));
        if (rc == 0) cJSON_AddItemToArray(changes, cJSON_CreateString(what));
    }
    cJSON_Delete(list);
    free(base);
    return rc;
}

static int pj_function(pj_t *p, const cJSON *f)
{
    const char *name = pj_str(f, "FunctionName");
    const char *alias = pj_str(f, "AutoPublishAlias");
    char *path = pj_path("/2015-03-31/functions/%s%s", name, NULL), *sha = NULL, *b64 = NULL, *url = NULL;
    buf_t zip = {0};
    cJSON *got = NULL, *answer = NULL, *changes = cJSON_CreateArray();
    cJSON *cfg = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(f, "Config"), 1);
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "Layers", pj_layers(p, cJSON_GetObjectItemCaseSensitive(cfg, "Layers")));
    int rc = -1;
    if (pj_package(pj_str(f, "Code"), pj_str(f, "Bootstrap"), &zip, &sha, p->err) < 0) goto out;
    b64 = util_base64_encode(zip.data, zip.len, NULL);
    int st = pj_req(p->ctx, "GET", path, NULL, true, &got, p->err);
    if (st < 0) goto out;
    bool created = st == 1, changed = created;
    if (created) {
        cJSON *body = cJSON_Duplicate(cfg, 1);
        cJSON_AddStringToObject(body, "FunctionName", name);
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(body, "Layers")) == 0)
            cJSON_DeleteItemFromObjectCaseSensitive(body, "Layers");
        cJSON_AddItemToObject(cJSON_AddObjectToObject(body, "Code"), "ZipFile", cJSON_CreateStringReference(b64));
        int r = pj_req(p->ctx, "POST", "/2015-03-31/functions", body, false, &answer, p->err);
        cJSON_Delete(body);
        if (r < 0) goto out;
    } else {
        const cJSON *cur = cJSON_GetObjectItemCaseSensitive(got, "Configuration");
        if (strcmp(pj_str(cur, "CodeSha256") ?: "", sha) != 0) {
            cJSON *body = cJSON_CreateObject();
            cJSON_AddItemToObject(body, "ZipFile", cJSON_CreateStringReference(b64));
            char *cp = pj_path("/2015-03-31/functions/%s%s", name, "/code");
            int r = pj_req(p->ctx, "PUT", cp, body, false, NULL, p->err);
            cJSON_Delete(body);
            free(cp);
            if (r < 0) goto out;
            cJSON_AddItemToArray(changes, cJSON_CreateString("code"));
        }
        cJSON *diff = cJSON_CreateObject();
        for (const cJSON *c = cfg->child; c; c = c->next) {
            cJSON *h = pj_current(cur, c->string);
            bool same = !strcmp(c->string, "EphemeralStorage")
                ? cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "Size")) ==
                  cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(h, "Size"))
                : cJSON_Compare(c, h, true);
            cJSON_Delete(h);
            if (same) continue;
            cJSON_AddItemToObject(diff, c->string, cJSON_Duplicate(c, 1));
            cJSON_AddItemToArray(changes, cJSON_CreateString(c->string));
        }
        if (diff->child) {
            char *cp = pj_path("/2015-03-31/functions/%s%s", name, "/configuration");
            int r = pj_req(p->ctx, "PUT", cp, diff, false, NULL, p->err);
            free(cp);
            if (r < 0) {
                cJSON_Delete(diff);
                goto out;
            }
        }
        cJSON_Delete(diff);
        changed = cJSON_GetArraySize(changes) > 0;
    }
    if (pj_reserved(p, name, got, cJSON_GetObjectItemCaseSensitive(f, "ReservedConcurrentExecutions"), changes) < 0)
        goto out;
    if (alias && pj_alias(p, name, alias, changed, changes) < 0) goto out;
    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(f, "ProvisionedConcurrentExecutions");
    if (alias && prov && pj_provisioned(p, name, alias, (long)prov->valuedouble, changes) < 0) goto out;
    if (pj_url(p, name, alias, cJSON_GetObjectItemCaseSensitive(f, "Url"), changes, &url) < 0) goto out;
    if (pj_triggers(p, name, cJSON_GetObjectItemCaseSensitive(f, "Triggers"), changes) < 0) goto out;
    if (created) {
        cJSON_Delete(changes);
        changes = NULL;
    }
    pj_report(p, "function", name, created ? "created" : cJSON_GetArraySize(changes) ? "updated" : "unchanged",
              changes);
    changes = NULL;
    if (url) cJSON_AddStringToObject(cJSON_GetArrayItem(p->report, cJSON_GetArraySize(p->report) - 1), "Url", url);
    rc = 0;
out:
    if (rc < 0) err_wrap(p->err, "%s", pj_str(f, "Logical"));
    cJSON_Delete(changes);
    cJSON_Delete(got);
    cJSON_Delete(answer);
    cJSON_Delete(cfg);
    buf_free(&zip);
    free(sha);
    free(b64);
    free(url);
    free(path);
    return rc;
}

/* AWS::Region and AWS::AccountId, read off an ARN the daemon gives (a
 * function's, else a layer's); left NULL when it has neither yet. */
static void pj_region(cli_ctx_t *ctx, char *region, char *account, size_t cap)
{
    static const char *const probes[][2] = {{"/2015-03-31/functions?MaxItems=1", "Functions"},
                                            {"/2018-10-31/layers?MaxItems=1", "Layers"}};
    for (size_t i = 0; i < 2 && !region[0]; i++) {
        err_t e = {0};
        cJSON *j = NULL;
        if (pj_req(ctx, "GET", probes[i][0], NULL, false, &j, &e) < 0) continue;
        const cJSON *it = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, probes[i][1]), 0);
        const char *arn = pj_str(it, i == 0 ? "FunctionArn" : "LayerArn");
        /* arn:aws:lambda:REGION:ACCOUNT:... */
        if (arn && !strncmp(arn, "arn:aws:lambda:", 15)) {
            const char *r = arn + 15, *a = strchr(r, ':'), *end = a ? strchr(a + 1, ':') : NULL;
            if (end && (size_t)(a - r) < cap && (size_t)(end - a - 1) < cap) {
                snprintf(region, cap, "%.*s", (int)(a - r), r);
                snprintf(account, cap, "%.*s", (int)(end - a - 1), a + 1);
            }
        }
        cJSON_Delete(j);
    }
}

static const char *const PROJECT_FILES[] = {"template.yaml", "template.yml", "s.yaml", "s.yml", NULL};

int cli_project_deploy(cli_ctx_t *ctx, const char *template_path, err_t *err)
{
    const char *file = template_path;
    for (size_t i = 0; !file && PROJECT_FILES[i]; i++)
        if (access(PROJECT_FILES[i], F_OK) == 0) file = PROJECT_FILES[i];
    if (!file) {
        ctx->usage_error = true;
        return err_set(err, ERR_INVALID, "no NAME given and no template.yaml, template.yml, s.yaml or s.yml "
                                         "here (or --template FILE)");
    }
    buf_t text = {0};
    if (cli_read_file(file, &text, err) < 0) return -1;
    int rc = -1;
    char region[64] = "", account[64] = "", *dir = strdup(file);
    if (!dir) abort();
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else strcpy(dir, ".");
    cli_plan_env_t env = {.dir = dir, .warnings = cJSON_CreateArray()};
    cJSON *plan = NULL;
    pj_t p = {.ctx = ctx, .layer_arns = cJSON_CreateObject(), .report = cJSON_CreateArray(), .err = err};
    cJSON *doc = cli_yaml_parse(text.data ? text.data : "", text.len, err);
    if (!doc) {
        err_wrap(err, "%s", file);
        goto out;
    }
    if (text.data && (strstr(text.data, "AWS::Region") || strstr(text.data, "AWS::AccountId"))) {
        pj_region(ctx, region, account, sizeof region);
        env.region = region[0] ? region : NULL;
        env.account = account[0] ? account : NULL;
    }
    plan = cli_project_plan(doc, &env, err);
    if (!plan) {
        err_wrap(err, "%s", file);
        goto out;
    }
    for (const cJSON *w = env.warnings->child; w; w = w->next)
        fprintf(stderr, "nimbus %s: warning: %s\n", ctx->cmd, w->valuestring);
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(plan, "Layers"))
        if (pj_layer(&p, l) < 0) goto out;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(plan, "Functions"))
        if (pj_function(&p, l) < 0) goto out;
    if (ctx->output == CLI_OUTPUT_JSON) {
        cli_print_json(p.report);
    } else {
        const cJSON *r;
        cJSON_ArrayForEach(r, p.report) {
            printf("%s %s %s", pj_str(r, "Action"), pj_str(r, "Resource"), pj_str(r, "Name"));
            const cJSON *ch = cJSON_GetObjectItemCaseSensitive(r, "Changes");
            for (const cJSON *c = ch ? ch->child : NULL; c; c = c->next)
                printf("%s%s%s", c == ch->child ? " (" : ", ", c->valuestring, c->next ? "" : ")");
            if (pj_str(r, "Url")) printf(" url %s", pj_str(r, "Url"));
            putchar('\n');
        }
    }
    rc = 0;
out:
    cJSON_Delete(doc);
    cJSON_Delete(plan);
    cJSON_Delete(env.warnings);
    cJSON_Delete(p.layer_arns);
    cJSON_Delete(p.report);
    buf_free(&text);
    free(dir);
    return rc;
}
