/* function.c — a function's configuration: Lambda's validation rules and
 * messages, the API's FunctionConfiguration JSON, and the document the
 * store keeps.
 *
 * Owns the meaning of every configuration field. Must never touch the
 * store, the code store, instances or HTTP: it turns JSON into a validated
 * function_config_t and back, nothing else.
 */
#include "core/function.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"

#define DEFAULT_ROLE "arn:aws:iam::" NIMBUS_ACCOUNT ":role/nimbus"
#define ENV_MAX_BYTES 4096
#define STORE_DOC_VERSION 1

/* Runtimes Nimbus can start. Keep in step with the sandbox's launchers. */
static const char *const runtimes[] = {
    "provided", "provided.al2", "provided.al2023", "python3.11", "python3",
    "nodejs20.x", "nodejs", "bash", "provided.scf", "provided.fc", NULL,
};

/* Lambda refuses these in Environment.Variables: the platform sets them. */
static const char *const reserved_env[] = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION",
    "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", NULL,
};

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p) abort();
    return p;
}

/* Copies s into a fixed field; false if it does not fit. */
static bool copy_field(char *dst, size_t n, const char *s)
{
    size_t len = strlen(s);
    if (len >= n) return false;
    memcpy(dst, s, len + 1);
    return true;
}

const char *const *function_runtimes(void)
{
    return runtimes;
}

bool function_runtime_valid(const char *runtime)
{
    if (!runtime) return false;
    for (size_t i = 0; runtimes[i]; i++)
        if (strcmp(runtimes[i], runtime) == 0) return true;
    return false;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

bool function_name_valid(const char *name)
{
    if (!name) return false;
    size_t n = strlen(name);
    if (n < 1 || n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(name[i])) return false;
    return true;
}

void function_arn(const char *name, const char *qualifier, char *buf, size_t n)
{
    if (qualifier && *qualifier)
        snprintf(buf, n, "arn:aws:lambda:%s:%s:function:%s:%s", NIMBUS_REGION, NIMBUS_ACCOUNT,
                 name, qualifier);
    else
        snprintf(buf, n, "arn:aws:lambda:%s:%s:function:%s", NIMBUS_REGION, NIMBUS_ACCOUNT, name);
}

void function_config_init(function_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->memory_mb = 128;
    c->timeout_s = 3;
    c->instance_concurrency = 1;
    c->http_port = 9000;
    c->reserved_concurrency = -1;
    c->ephemeral_mb = 512;
    strcpy(c->role, DEFAULT_ROLE);
    strcpy(c->version, "$LATEST");
}

static void env_free(function_env_t *env, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(env[i].key);
        free(env[i].value);
    }
    free(env);
}

void function_config_free(function_config_t *c)
{
    env_free(c->env, c->nenv);
    c->env = NULL;
    c->nenv = 0;
}

void function_config_copy(function_config_t *dst, const function_config_t *src)
{
    *dst = *src;
    dst->env = NULL;
    dst->nenv = 0;
    if (src->nenv) {
        dst->env = calloc(src->nenv, sizeof *dst->env);
        if (!dst->env) abort();
        for (size_t i = 0; i < src->nenv; i++) {
            dst->env[i].key = xstrdup(src->env[i].key);
            dst->env[i].value = xstrdup(src->env[i].value);
        }
        dst->nenv = src->nenv;
    }
}

void function_config_touch(function_config_t *c)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    util_iso8601_ms(ms, c->last_modified);
    util_uuid4(c->revision_id);
}

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

static int want_string(const cJSON *m, const char *key, const char **out, err_t *err)
{
    if (!m) {
        *out = NULL;
        return 0;
    }
    if (!cJSON_IsString(m) || !m->valuestring)
        return err_set(err, ERR_INVALID, "%s must be a string", key);
    *out = m->valuestring;
    return 0;
}

static int want_int(const cJSON *m, const char *key, bool *present, double *out, err_t *err)
{
    *present = false;
    if (!m) return 0;
    if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble) ||
        m->valuedouble != floor(m->valuedouble))
        return err_set(err, ERR_INVALID, "%s must be an integer", key);
    *present = true;
    *out = m->valuedouble;
    return 0;
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

static bool has_space(const char *s)
{
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')
            return true;
    return false;
}

/* Parses Environment into a fresh list (replacing the whole map, as Lambda
 * does). Type errors fail at once; constraint breaches go to `v`; the
 * platform-level refusals (reserved keys, size) are checked by the caller
 * after the constraint pass, as Lambda does. */
static int parse_env(const cJSON *envobj, function_env_t **out, size_t *nout, verrs_t *v,
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
            env_free(env, n);
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
            env[j].value = xstrdup(it->valuestring);
            continue;
        }
        env[n].key = xstrdup(it->string);
        env[n].value = xstrdup(it->valuestring);
        n++;
    }
    if (bad_key)
        /* Lambda treats variables as sensitive: the message names no value. */
        buf_appendf(&v->msg, "%sValue at 'environment.variables' failed to satisfy constraint: "
                             "Map keys must satisfy constraint: [Member must satisfy regular "
                             "expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
                    v->n++ ? "; " : "");
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

static int check_architectures(const cJSON *a, verrs_t *v, err_t *err)
{
    if (!cJSON_IsArray(a)) return err_set(err, ERR_INVALID, "Architectures must be an array");
    int n = cJSON_GetArraySize(a);
    if (n != 1) {
        verr_add(v, "[...]", "architectures",
                 n < 1 ? "Member must have length greater than or equal to 1"
                       : "Member must have length less than or equal to 1");
        return 0;
    }
    const cJSON *e = cJSON_GetArrayItem(a, 0);
    if (!cJSON_IsString(e)) return err_set(err, ERR_INVALID, "Architectures must hold strings");
    if (strcmp(e->valuestring, "x86_64") == 0) return 0;
    if (strcmp(e->valuestring, "arm64") == 0)
        return err_set(err, ERR_INVALID,
                       "Architecture arm64 is not supported: this Nimbus node runs x86_64");
    char val[80];
    snprintf(val, sizeof val, "[%.64s]", e->valuestring);
    verr_add(v, val, "architectures",
             "Member must satisfy constraint: [Member must satisfy enum value set: "
             "[x86_64, arm64]]");
    return 0;
}

int function_config_apply_json(function_config_t *c, const cJSON *body, bool create, err_t *err)
{
    if (!cJSON_IsObject(body)) return err_set(err, ERR_INVALID, "request body must be a JSON object");

    const char *name = NULL, *runtime = NULL, *handler = NULL, *desc = NULL, *role = NULL;
    const char *pkg = NULL;
    bool has_mem, has_timeout, has_conc, has_port, has_ka;
    double mem = 0, timeout = 0, conc = 0, port = 0, ka = 0;
    if ((create && want_string(member(body, "FunctionName"), "FunctionName", &name, err)) ||
        want_string(member(body, "Runtime"), "Runtime", &runtime, err) ||
        want_string(member(body, "Handler"), "Handler", &handler, err) ||
        want_string(member(body, "Description"), "Description", &desc, err) ||
        want_string(member(body, "Role"), "Role", &role, err) ||
        want_string(member(body, "PackageType"), "PackageType", &pkg, err) ||
        want_int(member(body, "MemorySize"), "MemorySize", &has_mem, &mem, err) ||
        want_int(member(body, "Timeout"), "Timeout", &has_timeout, &timeout, err) ||
        want_int(member(body, "InstanceConcurrency"), "InstanceConcurrency", &has_conc, &conc, err) ||
        want_int(member(body, "HttpPort"), "HttpPort", &has_port, &port, err) ||
        want_int(member(body, "KeepAliveSeconds"), "KeepAliveSeconds", &has_ka, &ka, err))
        return -1;
    const cJSON *init = member(body, "Initializer");
    if (init && !cJSON_IsBool(init)) return err_set(err, ERR_INVALID, "Initializer must be a boolean");
    const char *network = NULL;
    if (want_string(member(body, "Network"), "Network", &network, err)) return -1;
    bool has_eph = false;
    double eph = 0;
    const cJSON *ephobj = member(body, "EphemeralStorage");
    if (ephobj && !cJSON_IsObject(ephobj)) return err_set(err, ERR_INVALID, "EphemeralStorage must be an object");
    if (ephobj && want_int(member(ephobj, "Size"), "EphemeralStorage.Size", &has_eph, &eph, err)) return -1;

    verrs_t v = {0};
    function_env_t *env = NULL;
    size_t nenv = 0;
    const cJSON *envobj = member(body, "Environment");
    if (envobj && parse_env(envobj, &env, &nenv, &v, err)) goto fail;
    const cJSON *arch = member(body, "Architectures");
    if (arch && check_architectures(arch, &v, err)) goto fail;

    if (create) {
        if (!name) {
            verr_add(&v, NULL, "functionName", "Member must not be null");
        } else {
            size_t n = strlen(name);
            if (n < 1)
                verr_add(&v, name, "functionName",
                         "Member must have length greater than or equal to 1");
            if (n > 64) verr_len(&v, name, "functionName", 64);
            bool chars = true;
            for (size_t i = 0; i < n; i++) chars = chars && name_char(name[i]);
            if (!chars)
                verr_add(&v, name, "functionName",
                         "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+");
        }
    }
    if (handler) {
        if (strlen(handler) > 128) verr_len(&v, handler, "handler", 128);
        if (!*handler || has_space(handler))
            verr_add(&v, handler, "handler",
                     "Member must satisfy regular expression pattern: [^\\s]+");
    }
    if (desc && strlen(desc) > 256) verr_len(&v, desc, "description", 256);
    if (role && strlen(role) > 256) verr_len(&v, role, "role", 256);
    if (role && !*role)
        verr_add(&v, role, "role", "Member must have length greater than or equal to 1");
    if (has_mem && (mem < 128 || mem > 10240)) verr_range(&v, mem, "memorySize", 128, 10240);
    if (has_timeout && (timeout < 1 || timeout > 900)) verr_range(&v, timeout, "timeout", 1, 900);
    if (has_conc && (conc < 1 || conc > 200)) verr_range(&v, conc, "instanceConcurrency", 1, 200);
    if (has_port && (port < 1 || port > 65535)) verr_range(&v, port, "httpPort", 1, 65535);
    if (has_ka && (ka < 0 || ka > 86400)) verr_range(&v, ka, "keepAliveSeconds", 0, 86400);
    if (network && strcmp(network, "none") != 0 && strcmp(network, "host") != 0)
        verr_add(&v, network, "network", "Member must satisfy enum value set: [none, host]");
    if (ephobj && !has_eph) verr_add(&v, NULL, "ephemeralStorage.size", "Member must not be null");
    if (has_eph && (eph < 512 || eph > 10240)) verr_range(&v, eph, "ephemeralStorage.size", 512, 10240);
    if (pkg && strcmp(pkg, "Zip") != 0 && strcmp(pkg, "Image") != 0)
        verr_add(&v, pkg, "packageType", "Member must satisfy enum value set: [Image, Zip]");

    if (v.n) {
        err_set(err, ERR_VALIDATION, "%d validation error%s detected: %s", v.n,
                v.n == 1 ? "" : "s", v.msg.data);
        goto fail;
    }

    if (pkg && strcmp(pkg, "Image") == 0) {
        err_set(err, ERR_INVALID, "PackageType Image is not supported by Nimbus; use Zip");
        goto fail;
    }
    if (runtime && !function_runtime_valid(runtime)) {
        buf_t list = {0};
        for (size_t i = 0; runtimes[i]; i++)
            buf_appendf(&list, "%s%s", i ? ", " : "", runtimes[i]);
        err_set(err, ERR_INVALID,
                "Value %s at 'runtime' failed to satisfy constraint: Member must satisfy enum "
                "value set: [%s] or be a valid ARN",
                runtime, list.data);
        buf_free(&list);
        goto fail;
    }
    if (create && (!runtime || !handler)) {
        err_set(err, ERR_INVALID, "Runtime and Handler are mandatory parameters for functions "
                                  "created with deployment packages.");
        goto fail;
    }
    if (envobj && check_env_platform(env, nenv, err)) goto fail;

    /* Everything checked: apply. Sizes were validated against the fields. */
    if (name) copy_field(c->name, sizeof c->name, name);
    if (runtime) copy_field(c->runtime, sizeof c->runtime, runtime);
    if (handler) copy_field(c->handler, sizeof c->handler, handler);
    if (desc) copy_field(c->description, sizeof c->description, desc);
    if (role) copy_field(c->role, sizeof c->role, role);
    if (has_mem) c->memory_mb = (int)mem;
    if (has_timeout) c->timeout_s = (int)timeout;
    if (has_conc) c->instance_concurrency = (int)conc;
    if (has_port) c->http_port = (int)port;
    if (has_ka) c->keep_alive_s = (int)ka;
    if (init) c->initializer = cJSON_IsTrue(init);
    if (network) c->network_host = strcmp(network, "host") == 0;
    if (has_eph) c->ephemeral_mb = (int)eph;
    if (envobj) {
        env_free(c->env, c->nenv);
        c->env = env;
        c->nenv = nenv;
    }
    buf_free(&v.msg);
    return 0;

fail:
    env_free(env, nenv);
    buf_free(&v.msg);
    return -1;
}

cJSON *function_config_to_api_json(const function_config_t *c)
{
    char arn[256];
    bool latest = strcmp(c->version, "$LATEST") == 0 || !c->version[0];
    function_arn(c->name, latest ? NULL : c->version, arn, sizeof arn);

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "FunctionName", c->name);
    cJSON_AddStringToObject(o, "FunctionArn", arn);
    cJSON_AddStringToObject(o, "Runtime", c->runtime);
    cJSON_AddStringToObject(o, "Role", c->role);
    cJSON_AddStringToObject(o, "Handler", c->handler);
    cJSON_AddNumberToObject(o, "CodeSize", (double)c->code_size);
    cJSON_AddStringToObject(o, "Description", c->description);
    cJSON_AddNumberToObject(o, "Timeout", c->timeout_s);
    cJSON_AddNumberToObject(o, "MemorySize", c->memory_mb);
    cJSON_AddStringToObject(o, "LastModified", c->last_modified);
    cJSON_AddStringToObject(o, "CodeSha256", c->code_sha256);
    cJSON_AddStringToObject(o, "Version", c->version[0] ? c->version : "$LATEST");
    if (c->nenv) {
        cJSON *env = cJSON_AddObjectToObject(o, "Environment");
        cJSON *vars = cJSON_AddObjectToObject(env, "Variables");
        for (size_t i = 0; i < c->nenv; i++)
            cJSON_AddStringToObject(vars, c->env[i].key, c->env[i].value);
    }
    cJSON_AddStringToObject(o, "RevisionId", c->revision_id);
    cJSON_AddStringToObject(o, "State", "Active");
    cJSON_AddStringToObject(o, "LastUpdateStatus", "Successful");
    cJSON_AddStringToObject(o, "PackageType", "Zip");
    cJSON *arch = cJSON_AddArrayToObject(o, "Architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("x86_64"));
    cJSON *eph = cJSON_AddObjectToObject(o, "EphemeralStorage");
    cJSON_AddNumberToObject(eph, "Size", c->ephemeral_mb);
    cJSON_AddStringToObject(o, "Network", c->network_host ? "host" : "none");
    cJSON *tr = cJSON_AddObjectToObject(o, "TracingConfig");
    cJSON_AddStringToObject(tr, "Mode", "PassThrough");
    cJSON_AddNumberToObject(o, "InstanceConcurrency", c->instance_concurrency);
    if (c->keep_alive_s) cJSON_AddNumberToObject(o, "KeepAliveSeconds", c->keep_alive_s);
    if (strcmp(c->runtime, "provided.fc") == 0) {
        cJSON_AddNumberToObject(o, "HttpPort", c->http_port);
        cJSON_AddBoolToObject(o, "Initializer", c->initializer);
    }
    return o;
}

/* ---- the stored document ----
 * Field names are Nimbus's own and stable; "v" lets a later build read an
 * older document. Environment is an array of [key, value] pairs so order
 * survives any JSON library. */

char *function_config_serialize(const function_config_t *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "v", STORE_DOC_VERSION);
    cJSON_AddStringToObject(o, "name", c->name);
    cJSON_AddStringToObject(o, "runtime", c->runtime);
    cJSON_AddStringToObject(o, "handler", c->handler);
    cJSON_AddStringToObject(o, "description", c->description);
    cJSON_AddStringToObject(o, "role", c->role);
    cJSON_AddNumberToObject(o, "memory_mb", c->memory_mb);
    cJSON_AddNumberToObject(o, "timeout_s", c->timeout_s);
    cJSON *env = cJSON_AddArrayToObject(o, "env");
    for (size_t i = 0; i < c->nenv; i++) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(c->env[i].key));
        cJSON_AddItemToArray(pair, cJSON_CreateString(c->env[i].value));
        cJSON_AddItemToArray(env, pair);
    }
    cJSON_AddStringToObject(o, "code_sha256", c->code_sha256);
    cJSON_AddStringToObject(o, "code_hex", c->code_hex);
    cJSON_AddNumberToObject(o, "code_size", (double)c->code_size);
    cJSON_AddStringToObject(o, "last_modified", c->last_modified);
    cJSON_AddStringToObject(o, "revision_id", c->revision_id);
    cJSON_AddStringToObject(o, "version", c->version);
    cJSON_AddNumberToObject(o, "instance_concurrency", c->instance_concurrency);
    cJSON_AddNumberToObject(o, "http_port", c->http_port);
    cJSON_AddBoolToObject(o, "initializer", c->initializer);
    cJSON_AddNumberToObject(o, "keep_alive_s", c->keep_alive_s);
    cJSON_AddNumberToObject(o, "reserved_concurrency", c->reserved_concurrency);
    cJSON_AddBoolToObject(o, "network_host", c->network_host);
    cJSON_AddNumberToObject(o, "ephemeral_mb", c->ephemeral_mb);
    cJSON_AddNumberToObject(o, "last_version", c->last_version);
    cJSON_AddStringToObject(o, "published_revision", c->published_revision);
    cJSON_AddNumberToObject(o, "provisioned", c->provisioned);
    cJSON_AddStringToObject(o, "provisioned_qualifier", c->provisioned_qualifier);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) abort();
    return s;
}

static bool doc_string(const cJSON *o, const char *key, char *dst, size_t n, bool required)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!m) return !required;
    return cJSON_IsString(m) && copy_field(dst, n, m->valuestring);
}

static bool doc_number(const cJSON *o, const char *key, double *out)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!m) return true;
    if (!cJSON_IsNumber(m)) return false;
    *out = m->valuedouble;
    return true;
}

int function_config_deserialize(function_config_t *c, const char *json, err_t *err)
{
    function_config_init(c);
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return err_set(err, ERR_INTERNAL, "stored function config is not a JSON object");
    }
    double ver = 1, mem = c->memory_mb, to = c->timeout_s, size = 0;
    double conc = c->instance_concurrency, port = c->http_port, ka = 0, rc = -1, lv = 0, prov = 0;
    bool ok = doc_number(o, "v", &ver) && ver <= STORE_DOC_VERSION &&
              doc_string(o, "name", c->name, sizeof c->name, true) &&
              doc_string(o, "runtime", c->runtime, sizeof c->runtime, false) &&
              doc_string(o, "handler", c->handler, sizeof c->handler, false) &&
              doc_string(o, "description", c->description, sizeof c->description, false) &&
              doc_string(o, "role", c->role, sizeof c->role, false) &&
              doc_number(o, "memory_mb", &mem) && doc_number(o, "timeout_s", &to) &&
              doc_string(o, "code_sha256", c->code_sha256, sizeof c->code_sha256, false) &&
              doc_string(o, "code_hex", c->code_hex, sizeof c->code_hex, false) &&
              doc_number(o, "code_size", &size) &&
              doc_string(o, "last_modified", c->last_modified, sizeof c->last_modified, false) &&
              doc_string(o, "revision_id", c->revision_id, sizeof c->revision_id, false) &&
              doc_string(o, "version", c->version, sizeof c->version, false) &&
              doc_number(o, "instance_concurrency", &conc) && doc_number(o, "http_port", &port) &&
              doc_number(o, "keep_alive_s", &ka) && doc_number(o, "reserved_concurrency", &rc) &&
              doc_number(o, "last_version", &lv) && doc_number(o, "provisioned", &prov) &&
              doc_string(o, "published_revision", c->published_revision, sizeof c->published_revision, false) &&
              doc_string(o, "provisioned_qualifier", c->provisioned_qualifier, sizeof c->provisioned_qualifier, false);
    c->last_version = (int)lv;
    c->provisioned = (int)prov;
    c->keep_alive_s = (int)ka;
    c->reserved_concurrency = (int)rc;
    const cJSON *init = cJSON_GetObjectItemCaseSensitive(o, "initializer");
    c->initializer = cJSON_IsTrue(init);
    c->network_host = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "network_host"));
    double ephd = c->ephemeral_mb;
    ok = ok && doc_number(o, "ephemeral_mb", &ephd);
    c->ephemeral_mb = (int)ephd;
    c->instance_concurrency = (int)conc;
    c->http_port = (int)port;
    c->memory_mb = (int)mem;
    c->timeout_s = (int)to;
    c->code_size = (int64_t)size;

    const cJSON *env = cJSON_GetObjectItemCaseSensitive(o, "env");
    if (ok && env) {
        ok = cJSON_IsArray(env);
        size_t n = ok ? (size_t)cJSON_GetArraySize(env) : 0;
        if (n) {
            c->env = calloc(n, sizeof *c->env);
            if (!c->env) abort();
        }
        const cJSON *pair;
        cJSON_ArrayForEach(pair, env) {
            const cJSON *k = cJSON_GetArrayItem(pair, 0), *v = cJSON_GetArrayItem(pair, 1);
            if (!cJSON_IsArray(pair) || !cJSON_IsString(k) || !cJSON_IsString(v)) {
                ok = false;
                break;
            }
            c->env[c->nenv].key = xstrdup(k->valuestring);
            c->env[c->nenv].value = xstrdup(v->valuestring);
            c->nenv++;
        }
    }
    cJSON_Delete(o);
    if (!ok) {
        function_config_free(c);
        return err_set(err, ERR_INTERNAL, "stored function config is malformed");
    }
    return 0;
}
