/* cli_project_fc.c — a Serverless Devs project file (s.yaml) for Alibaba
 * FC as a deployment plan (see cli.h): FC 3.0's `fc3` component
 * (resources.<name>.props) and the older `devsapp/fc` one
 * (services.<name>.props with service/function/triggers), with `vars` and
 * `${vars.x}` substitution.
 *
 * A custom runtime becomes provided.fc: customRuntimeConfig's command and
 * args are written as the package's `bootstrap` (the command provided.fc
 * runs), its port as HttpPort. Timer triggers keep FC's event format.
 *
 * Must never: drop a property without a warning, or touch the network or
 * the file system.
 */
#define _GNU_SOURCE
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "core/function.h"

typedef struct {
    cli_plan_env_t *env;
    const cJSON *vars;
    err_t *err;
} fc_t;

/* `v` with ${vars.x} substituted (a new tree). A string that is one ${...}
 * whole takes the variable's own value (a number stays a number). */
static cJSON *fc_subst(fc_t *f, const cJSON *v, const char *where)
{
    if (cJSON_IsString(v)) {
        const char *p = v->valuestring;
        size_t n = strlen(p);
        if (n > 8 && !strncmp(p, "${vars.", 7) && p[n - 1] == '}' && !strchr(p + 2, '$')) {
            char *name = strndup(p + 7, n - 8);
            if (!name) abort();
            const cJSON *val = cJSON_GetObjectItemCaseSensitive(f->vars, name);
            free(name);
            if (val) return cJSON_Duplicate(val, 1);
        }
        buf_t out = {0};
        while (*p) {
            const char *end = p[0] == '$' && p[1] == '{' ? strchr(p, '}') : NULL;
            if (!end) {
                buf_append(&out, p++, 1);
                continue;
            }
            const cJSON *val = NULL;
            if (!strncmp(p, "${vars.", 7)) {
                char *name = strndup(p + 7, (size_t)(end - p - 7));
                if (!name) abort();
                val = cJSON_GetObjectItemCaseSensitive(f->vars, name);
                free(name);
            }
            char *text = cJSON_IsString(val) ? strdup(val->valuestring) : val ? cJSON_PrintUnformatted(val) : NULL;
            if (!text) {
                cli_project_warnf(f->env, "%s: %.*s cannot be resolved by Nimbus, kept as it is", where,
                                  (int)(end - p + 1), p);
                buf_append(&out, p, (size_t)(end - p + 1));
            } else {
                buf_append(&out, text, strlen(text));
                free(text);
            }
            p = end + 1;
        }
        cJSON *r = cJSON_CreateString(out.data ? out.data : "");
        buf_free(&out);
        return r;
    }
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v)) return cJSON_Duplicate(v, 1);
    cJSON *copy = cJSON_IsArray(v) ? cJSON_CreateArray() : cJSON_CreateObject();
    for (const cJSON *c = v->child; c; c = c->next) {
        cJSON *r = fc_subst(f, c, where);
        if (cJSON_IsArray(copy)) cJSON_AddItemToArray(copy, r);
        else cJSON_AddItemToObject(copy, c->string, r);
    }
    return copy;
}

/* FC's runtime names onto Nimbus': custom runtimes are provided.fc; FC's
 * Python and Node.js run on ours. NULL when there is none. */
static const char *fc_runtime(const char *rt)
{
    if (!strcmp(rt, "custom") || !strncmp(rt, "custom.debian", 13)) return "provided.fc";
    if (!strncmp(rt, "python3", 7)) return "python3";
    if (!strncmp(rt, "nodejs", 6)) return "nodejs";
    return NULL;
}

/* A shell word: single-quoted, ' as '\''. */
static void fc_quote(buf_t *b, const char *s)
{
    buf_append(b, "'", 1);
    for (; *s; s++) {
        if (*s == '\'') buf_append(b, "'\\''", 4);
        else buf_append(b, s, 1);
    }
    buf_append(b, "'", 1);
}

static long fc_num(fc_t *f, const char *res, const cJSON *props, const char *key, long def, long min, long max,
                   bool *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(props, key);
    if (!v) return def;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (d < (double)min || d > (double)max || d != (double)(long)d) {
        err_set(f->err, ERR_INVALID, "%s.%s: must be a whole number from %ld to %ld", res, key, min, max);
        *bad = true;
        return def;
    }
    return (long)d;
}

static void fc_trigger(fc_t *f, const char *res, const cJSON *t, cJSON *fn, cJSON *out)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "triggerName"));
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "triggerType"));
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(t, "triggerConfig");
    char where[300];
    snprintf(where, sizeof where, "%s.triggers.%s", res, name ? name : "?");
    for (const cJSON *c = t->child; c; c = c->next)
        if (strcmp(c->string, "triggerName") && strcmp(c->string, "triggerType") && strcmp(c->string, "triggerConfig")
            && strcmp(c->string, "description") && !(!strcmp(c->string, "qualifier") &&
                                                      !strcmp(cJSON_GetStringValue(c) ?: "", "LATEST")))
            cli_project_unsupported(f->env, where, c->string);
    if (type && !strcmp(type, "timer")) {
        cJSON *tr = cJSON_CreateObject();
        for (const cJSON *c = cfg ? cfg->child : NULL; c; c = c->next) {
            if (!strcmp(c->string, "cronExpression") && cJSON_IsString(c))
                cJSON_AddStringToObject(tr, "ScheduleExpression", c->valuestring);
            else if (!strcmp(c->string, "payload") && cJSON_IsString(c))
                cJSON_AddStringToObject(tr, "Payload", c->valuestring);
            else if (!strcmp(c->string, "enable"))
                cJSON_AddBoolToObject(tr, "Enabled", !cJSON_IsFalse(c));
            else {
                char w2[340];
                snprintf(w2, sizeof w2, "%s.triggerConfig", where);
                cli_project_unsupported(f->env, w2, c->string);
            }
        }
        if (!cJSON_GetObjectItemCaseSensitive(tr, "ScheduleExpression")) {
            cli_project_warnf(f->env, "%s: no triggerConfig.cronExpression, ignored", where);
            cJSON_Delete(tr);
            return;
        }
        cJSON_AddStringToObject(tr, "Name", name ? name : "timer");
        if (!cJSON_GetObjectItemCaseSensitive(tr, "Enabled")) cJSON_AddTrueToObject(tr, "Enabled");
        cJSON_AddStringToObject(tr, "Timezone", "UTC");
        if (!cJSON_GetObjectItemCaseSensitive(tr, "Payload")) cJSON_AddStringToObject(tr, "Payload", "");
        cJSON_AddStringToObject(tr, "Format", "fc");
        cJSON_AddStringToObject(tr, "Qualifier", "$LATEST");
        cJSON_AddItemToArray(out, tr);
    } else if (type && !strcmp(type, "http")) {
        for (const cJSON *c = cfg ? cfg->child : NULL; c; c = c->next) {
            if (!strcmp(c->string, "authType") && !strcmp(cJSON_GetStringValue(c) ?: "", "anonymous")) continue;
            if (!strcmp(c->string, "disableURLInternet") && cJSON_IsFalse(c)) continue;
            char w2[340];
            snprintf(w2, sizeof w2, "%s.triggerConfig", where);
            cli_project_unsupported(f->env, w2, c->string);
        }
        if (cJSON_GetObjectItemCaseSensitive(fn, "Url")) {
            cli_project_warnf(f->env, "%s: a second http trigger, ignored (a function has one URL)", where);
            return;
        }
        cJSON *url = cJSON_AddObjectToObject(fn, "Url");
        cJSON_AddStringToObject(url, "AuthType", "NONE");
    } else {
        cli_project_warnf(f->env, "%s: triggers of type %s are not supported by Nimbus, ignored", where,
                          type ? type : "(none)");
    }
}

/* FC 3.0 props (the older component's are brought to this shape first). */
static cJSON *fc_function(fc_t *f, const char *res, const cJSON *props)
{
    static const char *const known[] = {"functionName", "runtime", "code", "handler", "memorySize", "timeout",
                                        "instanceConcurrency", "environmentVariables", "customRuntimeConfig",
                                        "triggers", "description", "diskSize", "layers", NULL};
    for (const cJSON *c = props->child; c; c = c->next) {
        bool ok = false;
        for (size_t i = 0; known[i]; i++) ok = ok || !strcmp(known[i], c->string);
        if (!ok) cli_project_unsupported(f->env, res, c->string);
    }
    bool bad = false;
    cJSON *fn = cJSON_CreateObject();
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(fn, "Logical", res);
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(props, "functionName"));
    cJSON_AddStringToObject(fn, "FunctionName", name && name[0] ? name : res);
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(props, "code"));
    const char *rt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(props, "runtime"));
    const char *ours = rt ? fc_runtime(rt) : NULL;
    if (!code || !code[0]) {
        err_set(f->err, ERR_INVALID, "%s.code: missing (a directory or a .zip)", res);
        bad = true;
    } else if (!rt) {
        err_set(f->err, ERR_INVALID, "%s.runtime: missing", res);
        bad = true;
    } else if (!ours) {
        err_set(f->err, ERR_INVALID, "%s.runtime: %s is not supported by Nimbus", res, rt);
        bad = true;
    }
    if (bad) {
        cJSON_Delete(cfg);
        cJSON_Delete(fn);
        return NULL;
    }
    char *path = cli_project_path(f->env, code);
    cJSON_AddStringToObject(fn, "Code", path);
    free(path);
    cJSON_AddStringToObject(cfg, "Runtime", ours);
    const char *handler = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(props, "handler"));
    cJSON_AddStringToObject(cfg, "Handler", handler && handler[0] ? handler : "index.handler");
    cJSON_AddNumberToObject(cfg, "MemorySize", (double)fc_num(f, res, props, "memorySize",
        function_field("MemorySize")->def, 128, 32768, &bad));
    cJSON_AddNumberToObject(cfg, "Timeout", (double)fc_num(f, res, props, "timeout",
        function_field("Timeout")->def, 1, 86400, &bad));
    cJSON_AddNumberToObject(cfg, "InstanceConcurrency", (double)fc_num(f, res, props, "instanceConcurrency",
        function_field("InstanceConcurrency")->def, 1, 200, &bad));
    const char *desc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(props, "description"));
    cJSON_AddStringToObject(cfg, "Description", desc ? desc : "");
    cJSON *vars = cJSON_CreateObject();
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(props, "environmentVariables");
    for (const cJSON *e = env ? env->child : NULL; e; e = e->next) {
        if (cJSON_IsString(e)) {
            cJSON_AddStringToObject(vars, e->string, e->valuestring);
        } else {
            char *t = cJSON_PrintUnformatted(e);
            cJSON_AddStringToObject(vars, e->string, t);
            free(t);
        }
    }
    cJSON_AddItemToObject(cJSON_AddObjectToObject(cfg, "Environment"), "Variables", vars);
    /* FC's diskSize (512 or 10240 MB) is the size of its /tmp. */
    long disk = fc_num(f, res, props, "diskSize", 512, 512, 10240, &bad);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(cfg, "EphemeralStorage"), "Size", (double)disk);
    cJSON *layers = cJSON_AddArrayToObject(cfg, "Layers");
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(props, "layers");
    for (const cJSON *l = ls ? ls->child : NULL; l; l = l->next) {
        if (cJSON_IsString(l) && !strncmp(l->valuestring, "arn:aws:lambda:", 15))
            cJSON_AddItemToArray(layers, cJSON_CreateString(l->valuestring));
        else
            cli_project_warnf(f->env, "%s.layers: %s is not a Nimbus layer ARN, ignored", res,
                              cJSON_GetStringValue(l) ?: "(not a string)");
    }

    const cJSON *crc = cJSON_GetObjectItemCaseSensitive(props, "customRuntimeConfig");
    if (crc && strcmp(ours, "provided.fc") != 0) {
        cli_project_warnf(f->env, "%s.customRuntimeConfig: only for custom runtimes, ignored", res);
    } else if (crc) {
        buf_t b = {0};
        buf_appendf(&b, "#!/bin/sh\n# Written by nimbus deploy from %s.customRuntimeConfig.\ncd /var/task || exit 1\nexec", res);
        const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(crc, "command");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(crc, "args");
        size_t words = 0;
        const cJSON *lists[] = {cmd, args};
        for (size_t i = 0; i < 2; i++)
            for (const cJSON *w = lists[i] ? lists[i]->child : NULL; w; w = w->next)
                if (cJSON_IsString(w)) {
                    buf_append(&b, " ", 1);
                    fc_quote(&b, w->valuestring);
                    words++;
                }
        buf_append(&b, "\n", 1);
        if (cJSON_GetArraySize(cmd) > 0 && words) cJSON_AddStringToObject(fn, "Bootstrap", b.data);
        buf_free(&b);
        for (const cJSON *c = crc->child; c; c = c->next)
            if (strcmp(c->string, "command") && strcmp(c->string, "args") && strcmp(c->string, "port")) {
                char w2[300];
                snprintf(w2, sizeof w2, "%s.customRuntimeConfig", res);
                cli_project_unsupported(f->env, w2, c->string);
            }
        cJSON_AddNumberToObject(cfg, "HttpPort", (double)fc_num(f, res, crc, "port",
            function_field("HttpPort")->def, 1, 65535, &bad));
    } else if (!strcmp(ours, "provided.fc")) {
        cJSON_AddNumberToObject(cfg, "HttpPort", function_field("HttpPort")->def);
    }
    cJSON_AddItemToObject(fn, "Config", cfg);
    cJSON *triggers = cJSON_AddArrayToObject(fn, "Triggers");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(props, "triggers");
    for (const cJSON *t = ts ? ts->child : NULL; t; t = t->next) fc_trigger(f, res, t, fn, triggers);
    if (bad) {
        cJSON_Delete(fn);
        return NULL;
    }
    return fn;
}

/* devsapp/fc's props (service, function, triggers with name/type/config)
 * in fc3's shape. */
static cJSON *fc_from_v2(fc_t *f, const char *res, const cJSON *props)
{
    cJSON *out = cJSON_CreateObject();
    for (const cJSON *c = props->child; c; c = c->next) {
        if (!strcmp(c->string, "function")) {
            for (const cJSON *k = c->child; k; k = k->next) {
                const char *key = !strcmp(k->string, "name") ? "functionName"
                                  : !strcmp(k->string, "codeUri") ? "code" : k->string;
                cJSON_AddItemToObject(out, key, cJSON_Duplicate(k, 1));
            }
        } else if (!strcmp(c->string, "triggers")) {
            cJSON *ts = cJSON_AddArrayToObject(out, "triggers");
            for (const cJSON *t = c->child; t; t = t->next) {
                cJSON *nt = cJSON_CreateObject();
                for (const cJSON *k = t->child; k; k = k->next) {
                    const char *key = !strcmp(k->string, "name") ? "triggerName"
                                      : !strcmp(k->string, "type") ? "triggerType"
                                      : !strcmp(k->string, "config") ? "triggerConfig" : k->string;
                    cJSON_AddItemToObject(nt, key, cJSON_Duplicate(k, 1));
                }
                cJSON_AddItemToArray(ts, nt);
            }
        } else if (!strcmp(c->string, "service")) {
            for (const cJSON *k = c->child; k; k = k->next)
                if (strcmp(k->string, "name") && strcmp(k->string, "description")) {
                    char w[300];
                    snprintf(w, sizeof w, "%s.service", res);
                    cli_project_unsupported(f->env, w, k->string);
                }
        } else {
            cli_project_unsupported(f->env, res, c->string);
        }
    }
    return out;
}

cJSON *cli_project_fc(const cJSON *doc, cli_plan_env_t *env, err_t *err)
{
    fc_t f = {.env = env, .err = err, .vars = cJSON_GetObjectItemCaseSensitive(doc, "vars")};
    const cJSON *resources = cJSON_GetObjectItemCaseSensitive(doc, "resources");
    bool v2 = false;
    if (!resources) {
        resources = cJSON_GetObjectItemCaseSensitive(doc, "services");
        v2 = true;
    }
    if (!cJSON_IsObject(resources) || !resources->child)
        return err_set(err, ERR_INVALID, "resources: missing (an s.yaml needs at least one resource)"), NULL;
    for (const cJSON *c = doc->child; c; c = c->next)
        if (strcmp(c->string, "edition") && strcmp(c->string, "name") && strcmp(c->string, "access") &&
            strcmp(c->string, "vars") && strcmp(c->string, v2 ? "services" : "resources"))
            cli_project_warnf(env, "%s: not supported by Nimbus, ignored", c->string);
    cJSON *plan = cJSON_CreateObject();
    cJSON_AddArrayToObject(plan, "Layers");
    cJSON *fns = cJSON_AddArrayToObject(plan, "Functions");
    for (const cJSON *r = resources->child; r; r = r->next) {
        const char *comp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "component"));
        if (!comp || (strcmp(comp, "fc3") && strncmp(comp, "fc3@", 4) && strcmp(comp, "devsapp/fc") &&
                      strncmp(comp, "devsapp/fc@", 11))) {
            cli_project_warnf(env, "%s: component %s is not supported by Nimbus, ignored", r->string,
                              comp ? comp : "(none)");
            continue;
        }
        for (const cJSON *c = r->child; c; c = c->next)
            if (strcmp(c->string, "component") && strcmp(c->string, "props"))
                cli_project_unsupported(env, r->string, c->string);
        cJSON *props = fc_subst(&f, cJSON_GetObjectItemCaseSensitive(r, "props"), r->string);
        if (cJSON_IsObject(props) && strncmp(comp, "devsapp/", 8) == 0) {
            cJSON *p3 = fc_from_v2(&f, r->string, props);
            cJSON_Delete(props);
            props = p3;
        }
        /* region names FC's region to deploy to; Nimbus is one place. */
        if (cJSON_IsObject(props) && cJSON_GetObjectItemCaseSensitive(props, "region")) {
            cli_project_unsupported(env, r->string, "region");
            cJSON_DeleteItemFromObjectCaseSensitive(props, "region");
        }
        cJSON *fn = cJSON_IsObject(props) ? fc_function(&f, r->string, props) : NULL;
        if (!cJSON_IsObject(props)) err_set(err, ERR_INVALID, "%s.props: missing", r->string);
        cJSON_Delete(props);
        if (!fn) {
            cJSON_Delete(plan);
            return NULL;
        }
        cJSON_AddItemToArray(fns, fn);
    }
    return plan;
}
