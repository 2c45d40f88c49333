/* cli_project_sam.c — an AWS SAM template (Transform
 * AWS::Serverless-2016-10-31) as a deployment plan (see cli.h): its
 * AWS::Serverless::Function and AWS::Serverless::LayerVersion resources,
 * Globals.Function, Parameters' defaults, and the intrinsics Nimbus can
 * resolve on its own (Ref to a parameter, AWS::Region, AWS::AccountId, a
 * layer of the template; Sub over those).
 *
 * Must never: drop a property without a warning, or touch the network or
 * the file system (the plan is applied by cli_project.c).
 */
#define _GNU_SOURCE
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "core/function.h"

typedef struct {
    cli_plan_env_t *env;
    const cJSON *params;      /* Parameters */
    const cJSON *resources;   /* Resources */
    err_t *err;
} sam_t;

/* A Ref's value as text, or NULL (unresolvable); *layer set when it names
 * a LayerVersion of the template. */
static const char *sam_ref(sam_t *s, const char *name, bool *layer)
{
    *layer = false;
    if (!strcmp(name, "AWS::Region")) return s->env->region;
    if (!strcmp(name, "AWS::AccountId")) return s->env->account;
    if (!strcmp(name, "AWS::Partition")) return "aws";
    if (!strcmp(name, "AWS::URLSuffix")) return "amazonaws.com";
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(s->params, name);
    if (p) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "Default");
        return cJSON_IsString(d) ? d->valuestring : NULL;     /* numbers: sam_resolve */
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(s->resources, name);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "Type"));
    if (type && !strcmp(type, "AWS::Serverless::LayerVersion")) *layer = true;
    return NULL;
}

/* `v` with every intrinsic Nimbus can resolve replaced (a new tree), or
 * NULL when some part cannot be: then *why says which. Refs to layers of
 * the template stay {"Ref":L} when `layers_ok`. */
static cJSON *sam_resolve(sam_t *s, const cJSON *v, bool layers_ok, char *why, size_t cap)
{
    if (cJSON_IsObject(v) && v->child && !v->child->next && v->child->string) {
        const char *k = v->child->string;
        const cJSON *arg = v->child;
        if (!strcmp(k, "Ref") && cJSON_IsString(arg)) {
            bool layer;
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(s->params, arg->valuestring), "Default");
            if (cJSON_IsNumber(p) || cJSON_IsBool(p)) return cJSON_Duplicate(p, 1);
            const char *val = sam_ref(s, arg->valuestring, &layer);
            if (val) return cJSON_CreateString(val);
            if (layer && layers_ok) return cJSON_Duplicate(v, 1);
            snprintf(why, cap, "!Ref %s cannot be resolved by Nimbus", arg->valuestring);
            return NULL;
        }
        if (!strcmp(k, "Fn::Sub")) {
            const cJSON *tmpl = cJSON_IsArray(arg) ? cJSON_GetArrayItem(arg, 0) : arg;
            const cJSON *vars = cJSON_IsArray(arg) ? cJSON_GetArrayItem(arg, 1) : NULL;
            if (!cJSON_IsString(tmpl)) {
                snprintf(why, cap, "!Sub needs a string");
                return NULL;
            }
            buf_t out = {0};
            const char *p = tmpl->valuestring;
            while (*p) {
                if (p[0] == '$' && p[1] == '{' && p[2] == '!') {          /* ${!x}: a literal ${x} */
                    buf_append(&out, "${", 2);
                    p += 3;
                    continue;
                }
                const char *end = p[0] == '$' && p[1] == '{' ? strchr(p + 2, '}') : NULL;
                if (!end) {
                    buf_append(&out, p, 1);
                    p++;
                    continue;
                }
                char *name = strndup(p + 2, (size_t)(end - p - 2));
                if (!name) abort();
                const char *val = NULL;
                cJSON *resolved = NULL;
                const cJSON *var = cJSON_GetObjectItemCaseSensitive(vars, name);
                cJSON *ref = NULL;
                if (!var) {
                    ref = cJSON_CreateObject();
                    cJSON_AddStringToObject(ref, "Ref", name);
                }
                resolved = sam_resolve(s, var ? var : ref, false, why, cap);
                cJSON_Delete(ref);
                if (cJSON_IsNumber(resolved) || cJSON_IsBool(resolved)) {
                    char *t = cJSON_PrintUnformatted(resolved);
                    cJSON_Delete(resolved);
                    resolved = cJSON_CreateString(t);
                    free(t);
                }
                if (cJSON_IsString(resolved)) val = resolved->valuestring;
                if (!val) {
                    if (!resolved) snprintf(why, cap, "!Sub ${%s} cannot be resolved by Nimbus", name);
                    free(name);
                    cJSON_Delete(resolved);
                    buf_free(&out);
                    return NULL;
                }
                buf_append(&out, val, strlen(val));
                free(name);
                cJSON_Delete(resolved);
                p = end + 1;
            }
            cJSON *r = cJSON_CreateString(out.data ? out.data : "");
            buf_free(&out);
            return r;
        }
        if (!strncmp(k, "Fn::", 4) || !strcmp(k, "Condition")) {
            snprintf(why, cap, "%s%s cannot be resolved by Nimbus", strcmp(k, "Condition") ? "!" : "",
                     !strncmp(k, "Fn::", 4) ? k + 4 : k);
            return NULL;
        }
    }
    cJSON *copy = cJSON_IsArray(v) ? cJSON_CreateArray() : cJSON_IsObject(v) ? cJSON_CreateObject() : NULL;
    if (!copy) return cJSON_Duplicate(v, 1);
    for (const cJSON *c = v->child; c; c = c->next) {
        cJSON *r = sam_resolve(s, c, layers_ok, why, cap);
        if (!r) {
            cJSON_Delete(copy);
            return NULL;
        }
        if (cJSON_IsArray(copy)) cJSON_AddItemToArray(copy, r);
        else cJSON_AddItemToObject(copy, c->string, r);
    }
    return copy;
}

/* Globals under a function's own properties: maps merged, lists appended
 * (the globals first), scalars overridden — SAM's rule. */
static cJSON *sam_merge(const cJSON *global, const cJSON *local)
{
    if (!global) return cJSON_Duplicate(local, 1);
    if (!local) return cJSON_Duplicate(global, 1);
    if (cJSON_IsObject(global) && cJSON_IsObject(local)) {
        cJSON *o = cJSON_Duplicate(global, 1);
        for (const cJSON *c = local->child; c; c = c->next) {
            cJSON *m = sam_merge(cJSON_GetObjectItemCaseSensitive(global, c->string), c);
            cJSON_DeleteItemFromObjectCaseSensitive(o, c->string);
            cJSON_AddItemToObject(o, c->string, m);
        }
        return o;
    }
    if (cJSON_IsArray(global) && cJSON_IsArray(local)) {
        cJSON *a = cJSON_Duplicate(global, 1);
        for (const cJSON *c = local->child; c; c = c->next) cJSON_AddItemToArray(a, cJSON_Duplicate(c, 1));
        return a;
    }
    return cJSON_Duplicate(local, 1);
}

/* A resolved property, or NULL (absent, or unresolvable: then warned). */
static cJSON *sam_prop(sam_t *s, const char *res, const cJSON *props, const char *key, bool layers_ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(props, key);
    if (!v) return NULL;
    char why[200] = "";
    cJSON *r = sam_resolve(s, v, layers_ok, why, sizeof why);
    if (!r) cli_project_warnf(s->env, "%s.%s: %s, ignored", res, key, why);
    return r;
}

static int sam_bad(sam_t *s, const char *res, const char *prop, const char *what)
{
    return err_set(s->err, ERR_INVALID, "%s.%s: %s", res, prop, what);
}

/* A schedule event → a timer trigger body, or a warning. */
static void sam_event(sam_t *s, const char *fn, const char *ev_name, const cJSON *ev, const char *alias, cJSON *out)
{
    char res[300];
    snprintf(res, sizeof res, "%s.Events.%s", fn, ev_name);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "Type"));
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(ev, "Properties");
    bool v2 = type && !strcmp(type, "ScheduleV2");
    if (!type || (strcmp(type, "Schedule") && !v2)) {
        cli_project_warnf(s->env, "%s: events of Type %s are not supported by Nimbus, ignored", res,
                          type ? type : "(none)");
        return;
    }
    cJSON *t = cJSON_CreateObject();
    static const char *const known_v1[] = {"Schedule", "Input", "Enabled", "Name", "State", "Description", NULL};
    static const char *const known_v2[] = {"ScheduleExpression", "ScheduleExpressionTimezone", "Input", "State",
                                           "Name", "Description", NULL};
    for (const cJSON *c = props ? props->child : NULL; c; c = c->next) {
        const char *const *known = v2 ? known_v2 : known_v1;
        bool ok = false;
        for (size_t i = 0; known[i]; i++) ok = ok || !strcmp(known[i], c->string);
        if (!ok || !strcmp(c->string, "Description")) {
            if (!ok) cli_project_unsupported(s->env, res, c->string);
            continue;
        }
        cJSON *v = sam_prop(s, res, props, c->string, false);
        if (!v) continue;
        const char *str = cJSON_GetStringValue(v);
        if (!strcmp(c->string, "Schedule") || !strcmp(c->string, "ScheduleExpression")) {
            if (str) cJSON_AddStringToObject(t, "ScheduleExpression", str);
        } else if (!strcmp(c->string, "ScheduleExpressionTimezone")) {
            if (str) cJSON_AddStringToObject(t, "Timezone", str);
        } else if (!strcmp(c->string, "Input")) {
            if (str) cJSON_AddStringToObject(t, "Payload", str);
        } else if (!strcmp(c->string, "Name")) {
            if (str) cJSON_AddStringToObject(t, "Name", str);
        } else if (!strcmp(c->string, "Enabled")) {
            cJSON_AddBoolToObject(t, "Enabled", cJSON_IsTrue(v));
        } else if (!strcmp(c->string, "State")) {
            cJSON_AddBoolToObject(t, "Enabled", !str || strcmp(str, "DISABLED") != 0);
        }
        cJSON_Delete(v);
    }
    if (!cJSON_GetObjectItemCaseSensitive(t, "ScheduleExpression")) {
        cli_project_warnf(s->env, "%s: no %s, ignored", res, v2 ? "ScheduleExpression" : "Schedule");
        cJSON_Delete(t);
        return;
    }
    if (!cJSON_GetObjectItemCaseSensitive(t, "Name")) cJSON_AddStringToObject(t, "Name", ev_name);
    if (!cJSON_GetObjectItemCaseSensitive(t, "Enabled")) cJSON_AddTrueToObject(t, "Enabled");
    if (!cJSON_GetObjectItemCaseSensitive(t, "Timezone")) cJSON_AddStringToObject(t, "Timezone", "UTC");
    if (!cJSON_GetObjectItemCaseSensitive(t, "Payload")) cJSON_AddStringToObject(t, "Payload", "");
    cJSON_AddStringToObject(t, "Format", "eventbridge");
    cJSON_AddStringToObject(t, "Qualifier", alias ? alias : "$LATEST");
    cJSON_AddItemToArray(out, t);
}

static const char *const SAM_FN_PROPS[] = {
    "CodeUri", "Handler", "Runtime", "MemorySize", "Timeout", "Description", "Environment", "Layers",
    "ReservedConcurrentExecutions", "ProvisionedConcurrencyConfig", "AutoPublishAlias", "FunctionUrlConfig",
    "EphemeralStorage", "Events", "FunctionName", "Architectures", "PackageType", NULL,
};

static bool sam_known(const char *k)
{
    for (size_t i = 0; SAM_FN_PROPS[i]; i++)
        if (!strcmp(SAM_FN_PROPS[i], k)) return true;
    return false;
}

static long sam_num(sam_t *s, const char *res, const cJSON *props, const char *key, long def, long min, long max,
                    bool *bad)
{
    cJSON *v = sam_prop(s, res, props, key, false);
    if (!v) return def;
    double d = cJSON_IsNumber(v) ? v->valuedouble : cJSON_IsString(v) ? strtod(v->valuestring, NULL) : -1;
    cJSON_Delete(v);
    if (d < (double)min || d > (double)max || d != (double)(long)d) {
        char what[96];
        snprintf(what, sizeof what, "must be a whole number from %ld to %ld", min, max);
        sam_bad(s, res, key, what);
        *bad = true;
        return def;
    }
    return (long)d;
}

static cJSON *sam_function(sam_t *s, const char *res, const cJSON *own, const cJSON *globals)
{
    for (const cJSON *c = own ? own->child : NULL; c; c = c->next)
        if (!sam_known(c->string)) cli_project_unsupported(s->env, res, c->string);
    cJSON *props = own ? sam_merge(globals, own) : globals ? cJSON_Duplicate(globals, 1) : NULL;
    if (!cJSON_IsObject(props)) {
        cJSON_Delete(props);
        props = cJSON_CreateObject();
    }
    cJSON *f = cJSON_CreateObject();
    cJSON *cfg = cJSON_CreateObject();
    bool bad = false;
    cJSON_AddStringToObject(f, "Logical", res);

    cJSON *v = sam_prop(s, res, props, "FunctionName", false);
    cJSON_AddStringToObject(f, "FunctionName", cJSON_IsString(v) ? v->valuestring : res);
    cJSON_Delete(v);

    v = sam_prop(s, res, props, "PackageType", false);
    if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, "Zip") != 0)) {
        sam_bad(s, res, "PackageType", "only Zip packages are supported by Nimbus");
        bad = true;
    }
    cJSON_Delete(v);
    v = sam_prop(s, res, props, "CodeUri", false);
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        if (!bad) sam_bad(s, res, "CodeUri", cJSON_IsObject(v) ? "an S3 location is not supported by Nimbus "
                                                                 "(give a directory or a .zip)"
                                                               : "missing (a directory or a .zip)");
        bad = true;
    } else {
        char *path = cli_project_path(s->env, v->valuestring);
        cJSON_AddStringToObject(f, "Code", path);
        free(path);
    }
    cJSON_Delete(v);
    static const char *const strs[] = {"Runtime", "Handler"};
    for (size_t i = 0; i < 2 && !bad; i++) {
        v = sam_prop(s, res, props, strs[i], false);
        if (!cJSON_IsString(v) || !v->valuestring[0]) {
            sam_bad(s, res, strs[i], "missing");
            bad = true;
        } else {
            cJSON_AddStringToObject(cfg, strs[i], v->valuestring);
        }
        cJSON_Delete(v);
    }
    cJSON_AddNumberToObject(cfg, "MemorySize", (double)sam_num(s, res, props, "MemorySize",
        function_field("MemorySize")->def, 128, 10240, &bad));
    cJSON_AddNumberToObject(cfg, "Timeout", (double)sam_num(s, res, props, "Timeout",
        function_field("Timeout")->def, 1, 900, &bad));
    v = sam_prop(s, res, props, "Description", false);
    cJSON_AddStringToObject(cfg, "Description", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(v);

    cJSON *vars = cJSON_CreateObject();
    v = sam_prop(s, res, props, "Environment", false);
    for (const cJSON *c = v ? v->child : NULL; c; c = c->next) {
        if (strcmp(c->string, "Variables") != 0) {
            char r2[300];
            snprintf(r2, sizeof r2, "%s.Environment", res);
            cli_project_unsupported(s->env, r2, c->string);
            continue;
        }
        for (const cJSON *e = c->child; e; e = e->next) {
            if (cJSON_IsString(e)) cJSON_AddStringToObject(vars, e->string, e->valuestring);
            else if (cJSON_IsNumber(e) || cJSON_IsBool(e)) {
                char *t = cJSON_PrintUnformatted(e);
                cJSON_AddStringToObject(vars, e->string, t);
                free(t);
            }
        }
    }
    cJSON_Delete(v);
    cJSON_AddItemToObject(cJSON_AddObjectToObject(cfg, "Environment"), "Variables", vars);

    cJSON *layers = cJSON_CreateArray();
    v = sam_prop(s, res, props, "Layers", true);
    for (const cJSON *c = v ? v->child : NULL; c; c = c->next)
        if (cJSON_IsString(c) || cJSON_IsObject(c)) cJSON_AddItemToArray(layers, cJSON_Duplicate(c, 1));
    cJSON_Delete(v);
    cJSON_AddItemToObject(cfg, "Layers", layers);

    long eph = 512;
    v = sam_prop(s, res, props, "EphemeralStorage", false);
    if (v) eph = sam_num(s, res, v, "Size", 512, 512, 10240, &bad);
    cJSON_Delete(v);
    cJSON_AddItemToObject(cfg, "EphemeralStorage", cJSON_CreateObject());
    cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(cfg, "EphemeralStorage"), "Size", (double)eph);

    v = sam_prop(s, res, props, "Architectures", false);
    if (v && !(cJSON_GetArraySize(v) == 1 && !strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(v, 0)) ?: "",
                                                       "x86_64")))
        cli_project_warnf(s->env, "%s.Architectures: only x86_64 is supported by Nimbus, ignored", res);
    cJSON_Delete(v);
    cJSON_AddItemToObject(f, "Config", cfg);

    if (cJSON_GetObjectItemCaseSensitive(props, "ReservedConcurrentExecutions"))
        cJSON_AddNumberToObject(f, "ReservedConcurrentExecutions",
            (double)sam_num(s, res, props, "ReservedConcurrentExecutions", 0, 0, 100000, &bad));
    v = sam_prop(s, res, props, "AutoPublishAlias", false);
    const char *alias = cJSON_GetStringValue(v);
    if (alias) cJSON_AddStringToObject(f, "AutoPublishAlias", alias);
    cJSON_Delete(v);
    alias = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "AutoPublishAlias"));
    v = sam_prop(s, res, props, "ProvisionedConcurrencyConfig", false);
    if (v && !alias) {
        sam_bad(s, res, "ProvisionedConcurrencyConfig", "needs AutoPublishAlias");
        bad = true;
    } else if (v) {
        cJSON_AddNumberToObject(f, "ProvisionedConcurrentExecutions",
            (double)sam_num(s, res, v, "ProvisionedConcurrentExecutions", 0, 1, 100000, &bad));
    }
    cJSON_Delete(v);

    v = sam_prop(s, res, props, "FunctionUrlConfig", false);
    if (cJSON_IsObject(v)) {
        cJSON *url = cJSON_CreateObject();
        for (const cJSON *c = v->child; c; c = c->next) {
            if (!strcmp(c->string, "AuthType") || !strcmp(c->string, "Cors") || !strcmp(c->string, "InvokeMode"))
                cJSON_AddItemToObject(url, c->string, cJSON_Duplicate(c, 1));
            else {
                char r2[300];
                snprintf(r2, sizeof r2, "%s.FunctionUrlConfig", res);
                cli_project_unsupported(s->env, r2, c->string);
            }
        }
        if (!cJSON_GetObjectItemCaseSensitive(url, "AuthType")) cJSON_AddStringToObject(url, "AuthType", "NONE");
        cJSON_AddItemToObject(f, "Url", url);
    }
    cJSON_Delete(v);

    cJSON *triggers = cJSON_AddArrayToObject(f, "Triggers");
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(props, "Events");
    for (const cJSON *e = events ? events->child : NULL; e; e = e->next) sam_event(s, res, e->string, e, alias, triggers);
    cJSON_Delete(props);
    if (bad) {
        cJSON_Delete(f);
        return NULL;
    }
    return f;
}

static cJSON *sam_layer(sam_t *s, const char *res, const cJSON *props)
{
    static const char *const known[] = {"ContentUri", "LayerName", "Description", "CompatibleRuntimes",
                                        "LicenseInfo", "CompatibleArchitectures", "RetentionPolicy", NULL};
    for (const cJSON *c = props ? props->child : NULL; c; c = c->next) {
        bool ok = false;
        for (size_t i = 0; known[i]; i++) ok = ok || !strcmp(known[i], c->string);
        if (!ok) cli_project_unsupported(s->env, res, c->string);
    }
    cJSON *v = sam_prop(s, res, props, "ContentUri", false);
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        cJSON_Delete(v);
        sam_bad(s, res, "ContentUri", "missing (a directory or a .zip)");
        return NULL;
    }
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "Logical", res);
    char *path = cli_project_path(s->env, v->valuestring);
    cJSON_AddStringToObject(l, "Content", path);
    free(path);
    cJSON_Delete(v);
    v = sam_prop(s, res, props, "LayerName", false);
    cJSON_AddStringToObject(l, "LayerName", cJSON_IsString(v) ? v->valuestring : res);
    cJSON_Delete(v);
    cJSON *pub = cJSON_AddObjectToObject(l, "Publish");
    static const char *const pass[] = {"Description", "CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures"};
    for (size_t i = 0; i < 4; i++) {
        v = sam_prop(s, res, props, pass[i], false);
        if (v) cJSON_AddItemToObject(pub, pass[i], v);
    }
    return l;
}

cJSON *cli_project_sam(const cJSON *doc, cli_plan_env_t *env, err_t *err)
{
    sam_t s = {.env = env, .err = err, .params = cJSON_GetObjectItemCaseSensitive(doc, "Parameters"),
               .resources = cJSON_GetObjectItemCaseSensitive(doc, "Resources")};
    if (!cJSON_IsObject(s.resources) || !s.resources->child)
        return err_set(err, ERR_INVALID, "Resources: missing (a SAM template needs at least one resource)"),
               NULL;
    static const char *const top[] = {"AWSTemplateFormatVersion", "Transform", "Description", "Parameters",
                                      "Resources", "Globals", NULL};
    for (const cJSON *c = doc->child; c; c = c->next) {
        bool ok = false;
        for (size_t i = 0; top[i]; i++) ok = ok || !strcmp(top[i], c->string);
        if (!ok) cli_project_warnf(env, "%s: not supported by Nimbus, ignored", c->string);
    }
    const cJSON *globals = cJSON_GetObjectItemCaseSensitive(doc, "Globals");
    for (const cJSON *c = globals ? globals->child : NULL; c; c = c->next)
        if (strcmp(c->string, "Function") != 0) cli_project_unsupported(env, "Globals", c->string);
    const cJSON *gfn = cJSON_GetObjectItemCaseSensitive(globals, "Function");
    for (const cJSON *c = gfn ? gfn->child : NULL; c; c = c->next)
        if (!sam_known(c->string)) cli_project_unsupported(env, "Globals.Function", c->string);

    cJSON *plan = cJSON_CreateObject();
    cJSON *layers = cJSON_AddArrayToObject(plan, "Layers");
    cJSON *fns = cJSON_AddArrayToObject(plan, "Functions");
    for (const cJSON *r = s.resources->child; r; r = r->next) {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "Type"));
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(r, "Properties");
        for (const cJSON *c = r->child; c; c = c->next)
            if (strcmp(c->string, "Type") && strcmp(c->string, "Properties"))
                cli_project_unsupported(env, r->string, c->string);
        cJSON *item = NULL;
        if (type && !strcmp(type, "AWS::Serverless::Function")) {
            item = sam_function(&s, r->string, props, gfn);
            if (item) cJSON_AddItemToArray(fns, item);
        } else if (type && !strcmp(type, "AWS::Serverless::LayerVersion")) {
            item = sam_layer(&s, r->string, props);
            if (item) cJSON_AddItemToArray(layers, item);
        } else {
            cli_project_warnf(env, "%s: resources of Type %s are not supported by Nimbus, ignored", r->string,
                              type ? type : "(none)");
            continue;
        }
        if (!item) {
            cJSON_Delete(plan);
            return NULL;
        }
    }
    /* Two resources may not become one function. */
    for (const cJSON *a = fns->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "FunctionName")),
                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "FunctionName")))) {
                err_set(err, ERR_INVALID, "%s.FunctionName: the same as %s's", b->child->valuestring,
                        a->child->valuestring);
                cJSON_Delete(plan);
                return NULL;
            }
    return plan;
}
