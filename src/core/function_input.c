/* function_input.c — CreateFunction and UpdateFunctionConfiguration bodies
 * read by the field table: Lambda's validation rules, in Lambda's words.
 *
 * Three passes over the rows that take input: JSON types (a wrong type
 * fails at once), constraints (every broken one is reported together, as
 * Lambda does), then the refusals that come after them (unknown runtime,
 * reserved environment keys); only then is anything applied, so a refused
 * request changes nothing. Must never: accept a value its row's limits
 * refuse, or name a field's limit anywhere but in its row.
 */
#include "core/function_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "core/runtime.h"

#define ENV_MAX_BYTES 4096

/* Lambda refuses these in Environment.Variables: the platform sets them. */
static const char *const reserved_env[] = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION",
    "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", NULL,
};

/* ---- validation ----
 * Lambda reports every broken constraint of a request at once, as
 * "N validation error(s) detected: A; B". `verrs` collects them. */

typedef struct {
    int n;
    buf_t msg;
} verrs_t;

static void verr_add(verrs_t *v, const char *value, const char *field, const char *constraint)
{
    if (v->n++) buf_append(&v->msg, "; ", 2);
    if (value)
        buf_appendf(&v->msg, "Value '%s' at '%s' failed to satisfy constraint: %s", value, field,
                    constraint);
    else
        buf_appendf(&v->msg, "Value null at '%s' failed to satisfy constraint: %s", field,
                    constraint);
}

static void verr_len(verrs_t *v, const char *value, const char *field, size_t max)
{
    char c[96];
    snprintf(c, sizeof c, "Member must have length less than or equal to %zu", max);
    verr_add(v, value, field, c);
}

static void verr_range(verrs_t *v, double value, const char *field, int min, int max)
{
    char val[48], c[96];
    snprintf(val, sizeof val, "%.0f", value);
    if (value < min)
        snprintf(c, sizeof c, "Member must have value greater than or equal to %d", min);
    else
        snprintf(c, sizeof c, "Member must have value less than or equal to %d", max);
    verr_add(v, val, field, c);
}

/* A present, non-null member, or NULL. JSON null counts as absent, which is
 * what the SDKs send for unset optional members in some languages. */
static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
    return m && !cJSON_IsNull(m) ? m : NULL;
}

static bool env_key_valid(const char *k)
{
    /* Lambda's pattern [a-zA-Z]([a-zA-Z0-9_])+ : at least two characters. */
    size_t n = strlen(k);
    if (n < 2) return false;
    if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z'))) return false;
    for (size_t i = 1; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static bool env_key_reserved(const char *k)
{
    for (size_t i = 0; reserved_env[i]; i++)
        if (strcmp(reserved_env[i], k) == 0) return true;
    return false;
}

/* Parses Environment into a fresh list (replacing the whole map, as Lambda
 * does). Type errors fail at once; a key breaking the pattern is only
 * noted, for the constraint pass; the platform-level refusals (reserved
 * keys, size) are checked by the caller after that pass, as Lambda does. */
static int parse_env(const cJSON *envobj, function_env_t **out, size_t *nout, bool *bad_key_out,
                     err_t *err)
{
    *out = NULL;
    *nout = 0;
    if (!cJSON_IsObject(envobj))
        return err_set(err, ERR_INVALID, "Environment must be an object");
    const cJSON *vars = member(envobj, "Variables");
    if (!vars) return 0;
    if (!cJSON_IsObject(vars))
        return err_set(err, ERR_INVALID, "Environment.Variables must be an object of strings");
    size_t cap = (size_t)cJSON_GetArraySize(vars);
    function_env_t *env = cap ? calloc(cap, sizeof *env) : NULL;
    if (cap && !env) abort();
    size_t n = 0;
    bool bad_key = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, vars) {
        if (!cJSON_IsString(it) || !it->valuestring) {
            function_env_free(env, n);
            return err_set(err, ERR_INVALID,
                           "Environment.Variables: value of %.64s must be a string", it->string);
        }
        /* _HANDLER and _X_AMZN_TRACE_ID break the pattern too; the
         * reserved-key message says more, so they are left to it. */
        if (!env_key_valid(it->string) && !env_key_reserved(it->string)) bad_key = true;
        /* A repeated key keeps its first position and its last value. */
        size_t j;
        for (j = 0; j < n; j++)
            if (strcmp(env[j].key, it->string) == 0) break;
        if (j < n) {
            free(env[j].value);
            env[j].value = function_strdup(it->valuestring);
            continue;
        }
        env[n].key = function_strdup(it->string);
        env[n].value = function_strdup(it->valuestring);
        n++;
    }
    *bad_key_out = bad_key;
    *out = env;
    *nout = n;
    return 0;
}

static int check_env_platform(const function_env_t *env, size_t n, err_t *err)
{
    buf_t used = {0};
    for (size_t i = 0; i < n; i++) {
        if (env_key_reserved(env[i].key)) {
            if (used.len) buf_append(&used, ",", 1);
            buf_appendf(&used, "%s", env[i].key);
        }
    }
    if (used.len) {
        err_set(err, ERR_INVALID,
                "Lambda was unable to configure your environment variables because the "
                "environment variables you have provided contains reserved keys that are "
                "currently not supported for modification. Reserved keys used in this "
                "request: %s",
                used.data);
        buf_free(&used);
        return -1;
    }
    buf_free(&used);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += strlen(env[i].key) + strlen(env[i].value);
    if (total > ENV_MAX_BYTES) {
        /* Lambda quotes the map as JSON after this sentence; err_t's message
         * is one bounded line, so the quote is cut. */
        cJSON *m = cJSON_CreateObject();
        for (size_t i = 0; i < n; i++) cJSON_AddStringToObject(m, env[i].key, env[i].value);
        char *s = cJSON_PrintUnformatted(m);
        err_set(err, ERR_INVALID,
                "Lambda was unable to configure your environment variables because the "
                "environment variables you have provided exceeded the 4KB limit. String "
                "measured: %.160s%s",
                s ? s : "", s && strlen(s) > 160 ? "..." : "");
        free(s);
        cJSON_Delete(m);
        return -1;
    }
    return 0;
}

static int parse_architectures(const cJSON *a, err_t *err)
{
    if (!cJSON_IsArray(a)) return err_set(err, ERR_INVALID, "Architectures must be an array");
    if (cJSON_GetArraySize(a) != 1) return 0;   /* the constraint pass reports it */
    const cJSON *e = cJSON_GetArrayItem(a, 0);
    if (!cJSON_IsString(e)) return err_set(err, ERR_INVALID, "Architectures must hold strings");
    if (strcmp(e->valuestring, "arm64") == 0)
        return err_set(err, ERR_INVALID,
                       "Architecture arm64 is not supported: this Nimbus node runs x86_64");
    return 0;
}

static void check_architectures(const function_field_t *f, const cJSON *a, verrs_t *v)
{
    int n = cJSON_GetArraySize(a);
    if (n != 1) {
        verr_add(v, "[...]", f->check,
                 n < 1 ? "Member must have length greater than or equal to 1"
                       : "Member must have length less than or equal to 1");
        return;
    }
    const char *arch = cJSON_GetArrayItem(a, 0)->valuestring;
    if (strcmp(arch, f->def_str) == 0) return;
    char val[80];
    snprintf(val, sizeof val, "[%.64s]", arch);
    verr_add(v, val, f->check,
             "Member must satisfy constraint: [Member must satisfy enum value set: "
             "[x86_64, arm64]]");
}

/* What the type pass found for one row. */
typedef struct {
    bool present;            /* the member (for a sub-member: its object) is there */
    const cJSON *m;          /* the value; NULL when only the object is there */
    function_env_t *env;     /* ENV: the parsed map, owned until applied */
    size_t nenv;
    bool bad_key;            /* ENV: a key breaks Lambda's pattern */
} input_t;

static bool takes(const function_field_t *f, bool create)
{
    return (f->flags & FUNCTION_FIELD_INPUT) &&
           (create || !(f->flags & FUNCTION_FIELD_CREATE_ONLY));
}

static int choice_index(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(choices[i], s) == 0) return i;
    return -1;
}

/* The type pass: a member of the wrong JSON type fails the request at once. */
static int input_parse(const function_field_t *f, const cJSON *body, input_t *in, err_t *err)
{
    const cJSON *m = member(body, f->api);
    in->present = m != NULL;
    in->m = m;
    if (!m) return 0;
    if (f->type == FUNCTION_FIELD_ENV) return parse_env(m, &in->env, &in->nenv, &in->bad_key, err);
    if (f->type == FUNCTION_FIELD_ARCH) return parse_architectures(m, err);
    char key[64];
    snprintf(key, sizeof key, "%s", f->api);
    if (f->api_sub) {
        if (!cJSON_IsObject(m)) return err_set(err, ERR_INVALID, "%s must be an object", f->api);
        snprintf(key, sizeof key, "%s.%s", f->api, f->api_sub);
        m = in->m = member(m, f->api_sub);
        if (!m) return 0;
    }
    switch (f->type) {
    case FUNCTION_FIELD_INT:
        if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble) ||
            m->valuedouble != floor(m->valuedouble))
            return err_set(err, ERR_INVALID, "%s must be an integer", key);
        return 0;
    case FUNCTION_FIELD_BOOL:
        if (!cJSON_IsBool(m)) return err_set(err, ERR_INVALID, "%s must be a boolean", key);
        return 0;
    default:
        if (!cJSON_IsString(m) || !m->valuestring)
            return err_set(err, ERR_INVALID, "%s must be a string", key);
        return 0;
    }
}

static void check_string(const function_field_t *f, const char *s, verrs_t *v)
{
    size_t n = strlen(s);
    char c[96];
    if (n < (size_t)f->min) {
        snprintf(c, sizeof c, "Member must have length greater than or equal to %d", f->min);
        verr_add(v, s, f->check, c);
    }
    if (f->max && n > (size_t)f->max) verr_len(v, s, f->check, (size_t)f->max);
    if (f->pattern_ok && !f->pattern_ok(s)) {
        snprintf(c, sizeof c, "Member must satisfy regular expression pattern: %s", f->pattern);
        verr_add(v, s, f->check, c);
    }
}

/* The constraint pass: every broken constraint goes to `v`. */
static void input_check(const function_field_t *f, const input_t *in, verrs_t *v)
{
    if (!in->present) {
        if (f->flags & FUNCTION_FIELD_CREATE_ONLY) verr_add(v, NULL, f->check, "Member must not be null");
        return;
    }
    const cJSON *m = in->m;
    if (f->type == FUNCTION_FIELD_ENV) {
        if (in->bad_key)
            /* Lambda treats variables as sensitive: the message names no value. */
            buf_appendf(&v->msg, "%sValue at '%s' failed to satisfy constraint: Map keys must "
                                 "satisfy constraint: [Member must satisfy regular expression "
                                 "pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
                        v->n++ ? "; " : "", f->check);
        return;
    }
    if (f->type == FUNCTION_FIELD_ARCH) {
        check_architectures(f, m, v);
        return;
    }
    if (!m) {   /* its object without it */
        if (!(f->flags & FUNCTION_FIELD_SUB_OPTIONAL)) verr_add(v, NULL, f->check, "Member must not be null");
        return;
    }
    if (f->type == FUNCTION_FIELD_STRING) check_string(f, m->valuestring, v);
    if (f->type == FUNCTION_FIELD_INT && (m->valuedouble < f->min || m->valuedouble > f->max))
        verr_range(v, m->valuedouble, f->check, f->min, f->max);
    if (f->choices && choice_index(f->choices, m->valuestring) < 0) {
        buf_t c = {0};
        buf_appendf(&c, "Member must satisfy enum value set: [");
        for (size_t i = 0; f->choices[i]; i++) buf_appendf(&c, "%s%s", i ? ", " : "", f->choices[i]);
        buf_append(&c, "]", 1);
        verr_add(v, m->valuestring, f->check, c.data);
        buf_free(&c);
    }
}

/* Rows that take input, in `report` order. */
static size_t input_order(const function_field_t *fields, size_t nf, bool create,
                          size_t order[FUNCTION_FIELDS_MAX])
{
    size_t n = 0;
    for (size_t i = 0; i < nf; i++) {
        if (!takes(&fields[i], create)) continue;
        size_t j = n++;
        for (; j > 0 && fields[order[j - 1]].report > fields[i].report; j--) order[j] = order[j - 1];
        order[j] = i;
    }
    return n;
}

static const input_t *input_of(const input_t *ins, const char *api)
{
    size_t n;
    return &ins[function_field(api) - function_fields(&n)];
}

/* What passes Lambda's constraints but Nimbus or Lambda still refuses. */
static int input_refuse(const function_field_t *fields, size_t nf, const input_t *ins, bool create,
                        err_t *err)
{
    for (size_t i = 0; i < nf; i++) {
        const function_field_t *f = &fields[i];
        if (f->type == FUNCTION_FIELD_CONST && f->choices && ins[i].m &&
            strcmp(ins[i].m->valuestring, f->def_str) != 0)
            return err_set(err, ERR_INVALID, "%s %s is not supported by Nimbus; use %s", f->api,
                           ins[i].m->valuestring, f->def_str);
        char why[400];
        if (f->refuse && ins[i].m && f->refuse(f, ins[i].m->valuestring, why, sizeof why))
            return err_set(err, ERR_INVALID, "%s", why);
    }
    const input_t *rt = input_of(ins, "Runtime"), *handler = input_of(ins, "Handler");
    if (rt->m && !function_runtime_valid(rt->m->valuestring)) {
        /* One Lambda retired: its answer, naming this daemon's successor. */
        const char *next = runtime_successor(rt->m->valuestring);
        if (next)
            return err_set(err, ERR_INVALID,
                           "The runtime parameter of %s is no longer supported for creating or updating AWS "
                           "Lambda functions. We recommend you use the new runtime (%s) while creating or "
                           "updating functions.", rt->m->valuestring, next);
        buf_t list = {0};
        const char *const *names = runtime_names();
        for (size_t i = 0; names[i]; i++) buf_appendf(&list, "%s%s", i ? ", " : "", names[i]);
        err_set(err, ERR_INVALID,
                "Value %s at '%s' failed to satisfy constraint: Member must satisfy enum "
                "value set: [%s] or be a valid ARN",
                rt->m->valuestring, function_field("Runtime")->check, list.data);
        buf_free(&list);
        return -1;
    }
    if (create && (!rt->m || !handler->m))
        return err_set(err, ERR_INVALID, "Runtime and Handler are mandatory parameters for "
                                         "functions created with deployment packages.");
    const input_t *env = input_of(ins, "Environment");
    if (env->present && check_env_platform(env->env, env->nenv, err)) return -1;
    return 0;
}

static void input_apply(const function_field_t *f, input_t *in, function_config_t *c)
{
    const cJSON *m = in->m;
    switch (f->type) {
    case FUNCTION_FIELD_STRING: function_copy_string(function_member(f, c), f->size, m->valuestring); break;
    case FUNCTION_FIELD_INT: *(int *)function_member(f, c) = (int)m->valuedouble; break;
    case FUNCTION_FIELD_BOOL: *(bool *)function_member(f, c) = cJSON_IsTrue(m); break;
    case FUNCTION_FIELD_CHOICE: *(uint8_t *)function_member(f, c) = (uint8_t)choice_index(f->choices, m->valuestring); break;
    case FUNCTION_FIELD_ENV:
        function_env_free(c->env, c->nenv);
        c->env = in->env;
        c->nenv = in->nenv;
        in->env = NULL;
        in->nenv = 0;
        break;
    default: break;   /* checked, not kept */
    }
}

static const input_t *sub_input(const input_t *ins, const function_field_t *fields, size_t nf, const char *sub)
{
    for (size_t i = 0; i < nf; i++)
        if (fields[i].api_sub && strcmp(fields[i].api, "LoggingConfig") == 0 && strcmp(fields[i].api_sub, sub) == 0)
            return &ins[i];
    return NULL;
}

/* Lambda filters logs by level only in the JSON format: levels given for a
 * function whose format is (or becomes) Text are refused. */
static int check_log_levels(const function_config_t *c, const input_t *ins, const function_field_t *fields,
                            size_t nf, err_t *err)
{
    const input_t *fmt = sub_input(ins, fields, nf, "LogFormat");
    const char *format = fmt->m ? fmt->m->valuestring : fmt->present ? "Text" : c->log_format;
    if (strcmp(format, "JSON") == 0) return 0;
    if (sub_input(ins, fields, nf, "ApplicationLogLevel")->m || sub_input(ins, fields, nf, "SystemLogLevel")->m)
        return err_set(err, ERR_INVALID, "ApplicationLogLevel and SystemLogLevel can be set only when "
                                         "LoggingConfig.LogFormat is JSON");
    return 0;
}

int function_config_apply_json(function_config_t *c, const cJSON *body, bool create, err_t *err)
{
    if (!cJSON_IsObject(body)) return err_set(err, ERR_INVALID, "request body must be a JSON object");
    size_t nf;
    const function_field_t *fields = function_fields(&nf);
    input_t ins[FUNCTION_FIELDS_MAX];
    memset(ins, 0, sizeof ins);
    size_t order[FUNCTION_FIELDS_MAX];
    size_t n = input_order(fields, nf, create, order);
    verrs_t v = {0};
    int rc = -1;
    for (size_t k = 0; k < n; k++)
        if (input_parse(&fields[order[k]], body, &ins[order[k]], err)) goto out;
    for (size_t k = 0; k < n; k++) input_check(&fields[order[k]], &ins[order[k]], &v);
    if (v.n) {
        err_set(err, ERR_VALIDATION, "%d validation error%s detected: %s", v.n,
                v.n == 1 ? "" : "s", v.msg.data);
        goto out;
    }
    if (input_refuse(fields, nf, ins, create, err)) goto out;
    if (check_log_levels(c, ins, fields, nf, err)) goto out;
    /* Everything checked: apply. Sizes were validated against the fields. */
    for (size_t k = 0; k < n; k++) {
        const function_field_t *f = &fields[order[k]];
        if (ins[order[k]].m) input_apply(f, &ins[order[k]], c);
        else if (ins[order[k]].present && (f->flags & FUNCTION_FIELD_SUB_OPTIONAL) && f->type == FUNCTION_FIELD_STRING)
            function_copy_string(function_member(f, c), f->size, f->def_str ? f->def_str : "");
    }
    if (strcmp(c->log_format, "JSON") != 0) c->app_log_level[0] = c->system_log_level[0] = '\0';
    rc = 0;
out:
    for (size_t i = 0; i < nf; i++) function_env_free(ins[i].env, ins[i].nenv);
    buf_free(&v.msg);
    return rc;
}

