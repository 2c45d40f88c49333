/* function.c — a function's configuration: the field table, and from it
 * the defaults, the API's FunctionConfiguration JSON and the document the
 * store keeps (function_input.c reads requests by the same table).
 *
 * Owns the meaning of every configuration field: each is one row of
 * FIELDS, and every mapping walks the rows; no field is named outside the
 * table but where its shape is special. Must never touch the store, the
 * code store, instances or HTTP: it turns JSON into a function_config_t
 * and back, nothing else.
 */
#include "core/function_internal.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "core/runtime.h"

#define STORE_DOC_VERSION 1
#define LATEST "$LATEST"   /* the live function's version */

char *function_strdup(const char *s)
{
    char *p = strdup(s);
    if (!p) abort();
    return p;
}

bool function_copy_string(char *dst, size_t n, const char *s)
{
    size_t len = strlen(s);
    if (len >= n) return false;
    memcpy(dst, s, len + 1);
    return true;
}

/* ---- the field table ---- */

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* [a-zA-Z0-9-_]+ over the characters; an empty name is the length rule's. */
static bool name_pattern_ok(const char *s)
{
    for (; *s; s++)
        if (!name_char(*s)) return false;
    return true;
}

static bool has_space(const char *s)
{
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')
            return true;
    return false;
}

/* [^\s]+ */
static bool handler_pattern_ok(const char *s)
{
    return *s && !has_space(s);
}

/* (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|(https?://.+)|() : Lambda's ARN
 * pattern, a URL, or nothing; what the ARN names is the refusal's to say. */
static bool target_pattern_ok(const char *s)
{
    return function_target_parse(s, (char[65]){ 0 }, (char[130]){ 0 }) != FUNCTION_TARGET_INVALID ||
           strncmp(s, "arn:", 4) == 0;
}

static bool target_refuse(const function_field_t *f, const char *s, char *why, size_t n)
{
    char name[65], qual[130];
    if (strncmp(s, "arn:", 4) == 0 && function_arn_place(s, why, n) != FUNCTION_ARN_LOCAL) return true;
    switch (function_target_parse(s, name, qual)) {
    case FUNCTION_TARGET_UNSUPPORTED:
        snprintf(why, n, "%s.%s %s is not supported by Nimbus: use a Nimbus function's ARN or an http(s) URL",
                 f->api, f->api_sub, s);
        return true;
    case FUNCTION_TARGET_INVALID:
        snprintf(why, n, "The provided target arn %s is invalid: it names no function", s);
        return true;
    default: return false;
    }
}

/* Lambda's Role pattern, arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+ :
 * Nimbus has no IAM, but a Role that could never name one is refused as
 * Lambda refuses it. */
static bool role_pattern_ok(const char *s)
{
    if (strncmp(s, "arn:", 4) != 0) return false;
    s += 4;
    if (strncmp(s, "aws", 3) == 0)
        for (s += 3; (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '-'; s++) {}
    if (strncmp(s, ":iam::", 6) != 0) return false;
    s += 6;
    for (int i = 0; i < 12; i++, s++)
        if (*s < '0' || *s > '9') return false;
    if (strncmp(s, ":role", 5) != 0) return false;
    s += 5;
    if (*s == '/') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (!name_char(*s) && !strchr("+=,.@/", *s)) return false;
    return true;
}

/* What a function given no Role runs as: a role of this daemon's account.
 * Per thread, so callers on any thread may copy it at once. */
static const char *default_role(void)
{
    static __thread char role[64];
    snprintf(role, sizeof role, "arn:aws:iam::%s:role/nimbus", util_account());
    return role;
}

static const char *const NETWORK_CHOICES[] = { "none", "host", "egress", NULL };
static const char *const PACKAGE_CHOICES[] = { "Image", "Zip", NULL };
static const char *const LOG_FORMATS[] = { "JSON", "Text", NULL };
static const char *const APP_LOG_LEVELS[] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", NULL };
static const char *const SYSTEM_LOG_LEVELS[] = { "DEBUG", "INFO", "WARN", NULL };

/* LogGroup's pattern, [\.\-_/#A-Za-z0-9]+ (its length is the row's). */
static bool log_group_pattern_ok(const char *s)
{
    for (; *s; s++)
        if (!name_char(*s) && *s != '.' && *s != '/' && *s != '#') return false;
    return true;
}

/* In Lambda's enum order; the member is true for the second. */
static const char *const TRACING_CHOICES[] = { "Active", "PassThrough", NULL };

#define MEMBER(m) .offset = offsetof(function_config_t, m), .size = sizeof(((function_config_t *)0)->m)
#define API FUNCTION_FIELD_IN_API
#define STORE FUNCTION_FIELD_IN_STORE
#define INPUT FUNCTION_FIELD_INPUT

/* In FunctionConfiguration's member order; rows kept only in the stored
 * document sit beside their kin. `report` is the order Lambda names broken
 * constraints in, which is not the document's. */
static const function_field_t FIELDS[] = {
    { .api = "FunctionName", .store = "name", .check = "functionName", .report = 3,
      .type = FUNCTION_FIELD_STRING, MEMBER(name),
      .flags = API | STORE | INPUT | FUNCTION_FIELD_CREATE_ONLY, .min = 1, .max = 64,
      .pattern = "[a-zA-Z0-9-_]+", .pattern_ok = name_pattern_ok },
    { .api = "FunctionArn", .type = FUNCTION_FIELD_ARN, .flags = API },
    { .api = "Runtime", .store = "runtime", .check = "runtime", .report = 4,
      .type = FUNCTION_FIELD_STRING, MEMBER(runtime), .flags = API | STORE | INPUT },
    { .api = "Role", .store = "role", .check = "role", .report = 7, .type = FUNCTION_FIELD_STRING,
      MEMBER(role), .flags = API | STORE | INPUT, .def_of = default_role, .min = 1, .max = 256,
      .pattern = "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
      .pattern_ok = role_pattern_ok },
    { .api = "Handler", .store = "handler", .check = "handler", .report = 5,
      .type = FUNCTION_FIELD_STRING, MEMBER(handler), .flags = API | STORE | INPUT, .max = 128,
      .pattern = "[^\\s]+", .pattern_ok = handler_pattern_ok },
    { .api = "CodeSize", .store = "code_size", .type = FUNCTION_FIELD_INT64, MEMBER(code_size),
      .flags = API | STORE },
    { .api = "Description", .store = "description", .check = "description", .report = 6,
      .type = FUNCTION_FIELD_STRING, MEMBER(description), .flags = API | STORE | INPUT, .max = 256 },
    { .api = "Timeout", .store = "timeout_s", .check = "timeout", .report = 9,
      .type = FUNCTION_FIELD_INT, MEMBER(timeout_s), .flags = API | STORE | INPUT, .def = 3,
      .min = 1, .max = 900 },
    { .api = "MemorySize", .store = "memory_mb", .check = "memorySize", .report = 8,
      .type = FUNCTION_FIELD_INT, MEMBER(memory_mb), .flags = API | STORE | INPUT, .def = 128,
      .min = 128, .max = 10240 },
    { .api = "LastModified", .store = "last_modified", .type = FUNCTION_FIELD_STRING,
      MEMBER(last_modified), .flags = API | STORE },
    { .api = "CodeSha256", .store = "code_sha256", .type = FUNCTION_FIELD_STRING,
      MEMBER(code_sha256), .flags = API | STORE },
    { .store = "code_hex", .type = FUNCTION_FIELD_STRING, MEMBER(code_hex), .flags = STORE },
    { .api = "Version", .store = "version", .type = FUNCTION_FIELD_STRING, MEMBER(version),
      .flags = API | STORE | FUNCTION_FIELD_EMPTY_SHOWS_DEFAULT, .def_str = LATEST },
    { .api = "DeadLetterConfig", .api_sub = "TargetArn", .store = "dead_letter_arn",
      .check = "deadLetterConfig.targetArn", .report = 17, .type = FUNCTION_FIELD_STRING,
      MEMBER(dead_letter_arn),
      .flags = API | STORE | INPUT | FUNCTION_FIELD_API_IF_SET | FUNCTION_FIELD_STORE_IF_SET |
               FUNCTION_FIELD_SUB_OPTIONAL,
      .max = 350, .pattern = "(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|(https?://.+)|()",
      .pattern_ok = target_pattern_ok, .refuse = target_refuse },
    { .api = "Environment", .api_sub = "Variables", .store = "env",
      .check = "environment.variables", .report = 1, .type = FUNCTION_FIELD_ENV,
      .flags = API | STORE | INPUT },
    { .api = "RevisionId", .store = "revision_id", .type = FUNCTION_FIELD_STRING,
      MEMBER(revision_id), .flags = API | STORE },
    { .api = "State", .type = FUNCTION_FIELD_CONST, .flags = API, .def_str = "Active" },
    { .api = "LastUpdateStatus", .type = FUNCTION_FIELD_CONST, .flags = API,
      .def_str = "Successful" },
    { .api = "PackageType", .check = "packageType", .report = 16, .type = FUNCTION_FIELD_CONST,
      .flags = API | INPUT, .def_str = "Zip", .choices = PACKAGE_CHOICES },
    { .api = "Architectures", .check = "architectures", .report = 2, .type = FUNCTION_FIELD_ARCH,
      .flags = API | INPUT, .def_str = "x86_64" },
    { .api = "EphemeralStorage", .api_sub = "Size", .store = "ephemeral_mb",
      .check = "ephemeralStorage.size", .report = 15, .type = FUNCTION_FIELD_INT,
      MEMBER(ephemeral_mb), .flags = API | STORE | INPUT, .def = 512, .min = 512, .max = 10240 },
    { .api = "Network", .store = "network_host", .check = "network", .report = 14,
      .type = FUNCTION_FIELD_CHOICE, MEMBER(network), .flags = API | STORE | INPUT,
      .choices = NETWORK_CHOICES },
    /* Stored and shown as given; Nimbus traces nothing either way. */
    { .api = "TracingConfig", .api_sub = "Mode", .store = "tracing_pass_through",
      .check = "tracingConfig.mode", .report = 18, .type = FUNCTION_FIELD_CHOICE,
      MEMBER(tracing_pass_through),
      .flags = API | STORE | INPUT | FUNCTION_FIELD_STORE_IF_SET | FUNCTION_FIELD_SUB_OPTIONAL,
      .def = 1, .choices = TRACING_CHOICES },
    /* LoggingConfig: stored and shown as Lambda does; Nimbus' own log has
     * one format (docs/logs.md). */
    { .api = "LoggingConfig", .api_sub = "LogFormat", .store = "log_format",
      .check = "loggingConfig.logFormat", .report = 19, .type = FUNCTION_FIELD_STRING,
      MEMBER(log_format), .flags = API | STORE | INPUT | FUNCTION_FIELD_STORE_IF_SET | FUNCTION_FIELD_SUB_OPTIONAL,
      .def_str = "Text", .choices = LOG_FORMATS },
    { .api = "LoggingConfig", .api_sub = "ApplicationLogLevel", .store = "app_log_level",
      .check = "loggingConfig.applicationLogLevel", .report = 20, .type = FUNCTION_FIELD_STRING,
      MEMBER(app_log_level),
      .flags = API | STORE | INPUT | FUNCTION_FIELD_API_IF_SET | FUNCTION_FIELD_STORE_IF_SET |
               FUNCTION_FIELD_SUB_OPTIONAL, .choices = APP_LOG_LEVELS },
    { .api = "LoggingConfig", .api_sub = "SystemLogLevel", .store = "system_log_level",
      .check = "loggingConfig.systemLogLevel", .report = 21, .type = FUNCTION_FIELD_STRING,
      MEMBER(system_log_level),
      .flags = API | STORE | INPUT | FUNCTION_FIELD_API_IF_SET | FUNCTION_FIELD_STORE_IF_SET |
               FUNCTION_FIELD_SUB_OPTIONAL, .choices = SYSTEM_LOG_LEVELS },
    { .api = "LoggingConfig", .api_sub = "LogGroup", .store = "log_group",
      .check = "loggingConfig.logGroup", .report = 22, .type = FUNCTION_FIELD_STRING, MEMBER(log_group),
      .flags = API | STORE | INPUT | FUNCTION_FIELD_API_IF_SET | FUNCTION_FIELD_STORE_IF_SET |
               FUNCTION_FIELD_SUB_OPTIONAL,
      .min = 1, .max = 512, .pattern = "[\\.\\-_/#A-Za-z0-9]+", .pattern_ok = log_group_pattern_ok },
    /* Nimbus' retention of the function's log lines (docs/logs.md): 0 is
     * the daemon's --log-retention-days, and no budget of its own. */
    { .api = "LogRetentionInDays", .store = "log_retention_days", .check = "logRetentionInDays",
      .report = 23, .type = FUNCTION_FIELD_INT, MEMBER(log_retention_days),
      .flags = API | STORE | INPUT | FUNCTION_FIELD_API_IF_SET | FUNCTION_FIELD_STORE_IF_SET,
      .min = 0, .max = 3653 },
    { .api = "LogMaxBytes", .store = "log_max_bytes", .check = "logMaxBytes", .report = 24,
      .type = FUNCTION_FIELD_INT, MEMBER(log_max_bytes),
      .flags = API | STORE | INPUT | FUNCTION_FIELD_API_IF_SET | FUNCTION_FIELD_STORE_IF_SET,
      .min = 0, .max = 2000000000 },
    { .api = "InstanceConcurrency", .store = "instance_concurrency", .check = "instanceConcurrency",
      .report = 10, .type = FUNCTION_FIELD_INT, MEMBER(instance_concurrency),
      .flags = API | STORE | INPUT, .def = 1, .min = 1, .max = 200 },
    { .api = "KeepAliveSeconds", .store = "keep_alive_s", .check = "keepAliveSeconds", .report = 12,
      .type = FUNCTION_FIELD_INT, MEMBER(keep_alive_s),
      .flags = API | STORE | INPUT | FUNCTION_FIELD_API_IF_SET, .min = 0, .max = 86400 },
    { .api = "HttpPort", .store = "http_port", .check = "httpPort", .report = 11,
      .type = FUNCTION_FIELD_INT, MEMBER(http_port),
      .flags = API | STORE | INPUT | FUNCTION_FIELD_API_IF_FC, .def = 9000, .min = 1, .max = 65535 },
    { .api = "Initializer", .store = "initializer", .check = "initializer", .report = 13,
      .type = FUNCTION_FIELD_BOOL, MEMBER(initializer),
      .flags = API | STORE | INPUT | FUNCTION_FIELD_API_IF_FC },
    { .store = "reserved_concurrency", .type = FUNCTION_FIELD_INT, MEMBER(reserved_concurrency),
      .flags = STORE, .def = -1 },
    { .store = "last_version", .type = FUNCTION_FIELD_INT, MEMBER(last_version), .flags = STORE },
    { .store = "published_revision", .type = FUNCTION_FIELD_STRING, MEMBER(published_revision),
      .flags = STORE },
    { .store = "provisioned", .type = FUNCTION_FIELD_INT, MEMBER(provisioned), .flags = STORE },
    { .store = "provisioned_qualifier", .type = FUNCTION_FIELD_STRING,
      MEMBER(provisioned_qualifier), .flags = STORE },
    { .store = "opt_hex", .type = FUNCTION_FIELD_STRING, MEMBER(opt_hex),
      .flags = STORE | FUNCTION_FIELD_STORE_IF_SET },
    { .store = "owner", .type = FUNCTION_FIELD_STRING, MEMBER(owner),
      .flags = STORE | FUNCTION_FIELD_STORE_IF_SET },
};
#define N_FIELDS (sizeof FIELDS / sizeof FIELDS[0])
_Static_assert(N_FIELDS <= FUNCTION_FIELDS_MAX, "FUNCTION_FIELDS_MAX is too small");

#undef MEMBER
#undef API
#undef STORE
#undef INPUT

const function_field_t *function_fields(size_t *n)
{
    *n = N_FIELDS;
    return FIELDS;
}

const function_field_t *function_field(const char *api)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (FIELDS[i].api && strcmp(FIELDS[i].api, api) == 0) return &FIELDS[i];
    return NULL;
}

const char *const *function_runtimes(void)
{
    return runtime_names();
}

bool function_runtime_valid(const char *runtime)
{
    return runtime_find(runtime) != NULL;
}

int function_name_parse(const char *in, char *name, size_t nn, char *qual, size_t qn)
{
    const char *p = in;
    const char *fn = strstr(in, "function:");
    if (fn && (strncmp(in, "arn:", 4) == 0 || (fn - in == 13 && in[12] == ':'))) p = fn + 9;
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    size_t nl = 0;
    util_cat(name, nn, &nl, p, len);
    util_copy(qual, qn, colon ? colon + 1 : "");
    if (len == 0 || len >= nn) return -1;
    if (colon && (!colon[1] || strlen(colon + 1) >= qn)) return -1;
    return function_name_valid(name) ? 0 : -1;
}

bool function_name_valid(const char *name)
{
    const function_field_t *f = function_field("FunctionName");
    if (!name) return false;
    size_t n = strlen(name);
    return n >= (size_t)f->min && n <= (size_t)f->max && f->pattern_ok(name);
}

void function_arn(const char *name, const char *qualifier, char *buf, size_t n)
{
    char account[13];
    function_owner(name, account);
    /* Built by hand: every call's event names its function's ARN. */
    size_t len = 0;
    util_cat_lit(buf, n, &len, "arn:aws:lambda:");
    util_cat_str(buf, n, &len, NIMBUS_REGION);
    util_cat_lit(buf, n, &len, ":");
    util_cat_str(buf, n, &len, account);
    util_cat_lit(buf, n, &len, ":function:");
    util_cat_str(buf, n, &len, name);
    if (qualifier && *qualifier) {
        util_cat_lit(buf, n, &len, ":");
        util_cat_str(buf, n, &len, qualifier);
    }
}

/* The region and account `in` states: an ARN's fourth and fifth parts,
 * or the account of "<account>:function:...". Empty when not stated. */
static void stated_place(const char *in, char region[32], char account[16])
{
    region[0] = account[0] = '\0';
    if (strncmp(in, "arn:", 4) == 0) {
        const char *p = in;
        for (int i = 0; i < 3 && p; i++) p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
        const char *q = p ? strchr(p, ':') : NULL;
        if (!q) return;
        snprintf(region, 32, "%.*s", (int)(q - p), p);
        const char *r = strchr(q + 1, ':');
        if (r) snprintf(account, 16, "%.*s", (int)(r - q - 1), q + 1);
        return;
    }
    const char *colon = strchr(in, ':');
    if (colon && colon - in == 12 && strncmp(colon, ":function:", 10) == 0) snprintf(account, 16, "%.12s", in);
}

function_arn_place_t function_arn_place(const char *in, char *msg, size_t n)
{
    char region[32], account[16];
    stated_place(in, region, account);
    if (region[0] && strcmp(region, util_region()) != 0) {
        snprintf(msg, n, "Functions from '%s' are not reachable in this region ('%s')", region, util_region());
        return FUNCTION_ARN_OTHER_REGION;
    }
    if (account[0] && !function_account_served(account)) {
        /* Lambda's words for a resource no policy lets this caller reach;
         * Nimbus is one account, so nothing ever can. */
        snprintf(msg, n, "User is not authorized to perform this action on resource: %s because it belongs to "
                         "account %s, and this Nimbus daemon serves account %s alone", in, account, util_account());
        return FUNCTION_ARN_OTHER_ACCOUNT;
    }
    return FUNCTION_ARN_LOCAL;
}

void function_layer_arn(const char *layer, int version, char *buf, size_t n)
{
    /* function_arn's region and account, whatever they are: its prefix up
     * to the resource, then the layer's. */
    char fn[160];
    function_arn("x", NULL, fn, sizeof fn);
    size_t keep = strlen(fn) - strlen("function:x");
    if (version > 0) snprintf(buf, n, "%.*slayer:%s:%d", (int)keep, fn, layer, version);
    else snprintf(buf, n, "%.*slayer:%s", (int)keep, fn, layer);
}

/* [a-zA-Z0-9$_-]+, 1..128: a version or an alias, as Lambda spells qualifiers. */
static bool qualifier_ok(const char *q)
{
    size_t n = strlen(q);
    if (n < 1 || n > 128) return false;
    for (; *q; q++)
        if (!name_char(*q) && *q != '$') return false;
    return true;
}

function_target_t function_target_parse(const char *s, char name[65], char qualifier[130])
{
    name[0] = qualifier[0] = '\0';
    if (!*s) return FUNCTION_TARGET_NONE;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return FUNCTION_TARGET_INVALID;
    if (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) {
        const char *host = s + (s[4] == 's' ? 8 : 7);
        return *host && *host != '/' ? FUNCTION_TARGET_URL : FUNCTION_TARGET_INVALID;
    }
    /* arn:<partition>:<service>:<region>:<account>:<resource> */
    if (strncmp(s, "arn:", 4) != 0) return FUNCTION_TARGET_INVALID;
    const char *part[6];
    size_t len[6];
    const char *p = s;
    for (int i = 0; i < 6; i++) {
        part[i] = p;
        const char *colon = i < 5 ? strchr(p, ':') : NULL;
        len[i] = colon ? (size_t)(colon - p) : strlen(p);
        if (i < 5 && !colon) return FUNCTION_TARGET_INVALID;
        p = colon ? colon + 1 : p + len[i];
    }
    if (len[1] < 3 || strncmp(part[1], "aws", 3) != 0 || !len[2]) return FUNCTION_TARGET_INVALID;
    if (len[2] != 6 || strncmp(part[2], "lambda", 6) != 0) return FUNCTION_TARGET_UNSUPPORTED;
    char why[8];
    if (function_arn_place(s, why, sizeof why) != FUNCTION_ARN_LOCAL) return FUNCTION_TARGET_INVALID;
    const char *res = part[5];
    if (strncmp(res, "function:", 9) != 0) return FUNCTION_TARGET_INVALID;
    res += 9;
    const char *colon = strchr(res, ':');
    size_t nl = colon ? (size_t)(colon - res) : strlen(res);
    if (nl == 0 || nl > 64) return FUNCTION_TARGET_INVALID;
    memcpy(name, res, nl);
    name[nl] = '\0';
    if (!function_name_valid(name)) {
        name[0] = '\0';
        return FUNCTION_TARGET_INVALID;
    }
    if (colon) {
        if (!qualifier_ok(colon + 1)) {
            name[0] = '\0';
            return FUNCTION_TARGET_INVALID;
        }
        snprintf(qualifier, 130, "%s", colon + 1);
    }
    return FUNCTION_TARGET_FUNCTION;
}

void function_config_init(function_config_t *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_FIELDS; i++) {
        const function_field_t *f = &FIELDS[i];
        switch (f->type) {
        case FUNCTION_FIELD_STRING:
            if (f->def_of || f->def_str)
                function_copy_string(function_member(f, c), f->size, f->def_of ? f->def_of() : f->def_str);
            break;
        case FUNCTION_FIELD_INT: *(int *)function_member(f, c) = f->def; break;
        case FUNCTION_FIELD_INT64: *(int64_t *)function_member(f, c) = f->def; break;
        case FUNCTION_FIELD_BOOL: *(bool *)function_member(f, c) = f->def != 0; break;
        case FUNCTION_FIELD_CHOICE: *(uint8_t *)function_member(f, c) = (uint8_t)f->def; break;
        default: break;   /* no member, or env: empty */
        }
    }
}

void function_env_free(function_env_t *env, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(env[i].key);
        free(env[i].value);
    }
    free(env);
}

void function_config_free(function_config_t *c)
{
    function_env_free(c->env, c->nenv);
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
            dst->env[i].key = function_strdup(src->env[i].key);
            dst->env[i].value = function_strdup(src->env[i].value);
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

/* ---- FunctionConfiguration ---- */

static bool speaks_fc(const function_config_t *c)
{
    const runtime_t *rt = runtime_find(c->runtime);
    return rt && rt->api == RUNTIME_API_FC;
}

static cJSON *env_object(const function_config_t *c)
{
    cJSON *vars = cJSON_CreateObject();
    for (size_t i = 0; i < c->nenv; i++) cJSON_AddStringToObject(vars, c->env[i].key, c->env[i].value);
    return vars;
}

/* Whether a row holds something other than its default (INT, STRING). */
static bool row_is_set(const function_field_t *f, const function_config_t *c)
{
    if (f->type == FUNCTION_FIELD_STRING) {
        const char *s = function_cmember(f, c);
        return f->def_str ? strcmp(s, f->def_str) != 0 : *s != '\0';
    }
    if (f->type == FUNCTION_FIELD_BOOL || f->type == FUNCTION_FIELD_CHOICE)
        return *(const bool *)function_cmember(f, c) != (f->def != 0);
    return *(const int *)function_cmember(f, c) != f->def;
}

/* The API value of a row, or NULL when the API leaves it out. */
static cJSON *api_value(const function_field_t *f, const function_config_t *c)
{
    if ((f->flags & FUNCTION_FIELD_API_IF_SET) && !row_is_set(f, c)) return NULL;
    if ((f->flags & FUNCTION_FIELD_API_IF_FC) && !speaks_fc(c)) return NULL;
    switch (f->type) {
    case FUNCTION_FIELD_STRING: {
        const char *s = function_cmember(f, c);
        return cJSON_CreateString((f->flags & FUNCTION_FIELD_EMPTY_SHOWS_DEFAULT) && !*s ? f->def_str : s);
    }
    case FUNCTION_FIELD_INT: return cJSON_CreateNumber(*(const int *)function_cmember(f, c));
    case FUNCTION_FIELD_INT64: return cJSON_CreateNumber((double)*(const int64_t *)function_cmember(f, c));
    case FUNCTION_FIELD_BOOL: return cJSON_CreateBool(*(const bool *)function_cmember(f, c));
    case FUNCTION_FIELD_CHOICE: return cJSON_CreateString(f->choices[*(const uint8_t *)function_cmember(f, c)]);
    case FUNCTION_FIELD_ENV: return c->nenv ? env_object(c) : NULL;
    case FUNCTION_FIELD_CONST: return cJSON_CreateString(f->def_str);
    case FUNCTION_FIELD_ARCH: {
        cJSON *a = cJSON_CreateArray();
        cJSON_AddItemToArray(a, cJSON_CreateString(f->def_str));
        return a;
    }
    case FUNCTION_FIELD_ARN: {
        char arn[256];
        bool latest = strcmp(c->version, LATEST) == 0 || !c->version[0];
        function_arn(c->name, latest ? NULL : c->version, arn, sizeof arn);
        return cJSON_CreateString(arn);
    }
    }
    return NULL;
}

/* Layers: a list of objects, the one member no row describes; shown and
 * stored only when there are some. */
static cJSON *layers_json(const function_config_t *c, bool store)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < c->nlayers; i++) {
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "Arn", c->layers[i].arn);
        cJSON_AddNumberToObject(l, "CodeSize", (double)c->layers[i].code_size);
        /* Not the layer's code key: the merged tree (opt_hex) is what the
         * function holds on to, and a key named here would keep a deleted
         * layer version's own copy forever. */
        if (store) cJSON_AddNumberToObject(l, "Unzipped", (double)c->layers[i].unzipped);
        cJSON_AddItemToArray(a, l);
    }
    return a;
}

static bool store_read_layers(const cJSON *a, function_config_t *c)
{
    if (!a) return true;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > FUNCTION_MAX_LAYERS) return false;
    const cJSON *l;
    cJSON_ArrayForEach(l, a) {
        function_layer_t *x = &c->layers[c->nlayers];
        const cJSON *arn = cJSON_GetObjectItemCaseSensitive(l, "Arn");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(l, "CodeSize"), *unz = cJSON_GetObjectItemCaseSensitive(l, "Unzipped");
        if (!cJSON_IsString(arn) || !cJSON_IsNumber(size) || !cJSON_IsNumber(unz) ||
            !function_copy_string(x->arn, sizeof x->arn, arn->valuestring))
            return false;
        x->code_size = (int64_t)size->valuedouble;
        x->unzipped = (int64_t)unz->valuedouble;
        c->nlayers++;
    }
    return true;
}

cJSON *function_config_to_api_json(const function_config_t *c)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < N_FIELDS; i++) {
        const function_field_t *f = &FIELDS[i];
        if (!(f->flags & FUNCTION_FIELD_IN_API)) continue;
        cJSON *val = api_value(f, c);
        if (!val) continue;
        if (f->api_sub) {
            /* Rows with one parent (LoggingConfig) share its object. */
            cJSON *parent = cJSON_GetObjectItemCaseSensitive(o, f->api);
            cJSON_AddItemToObject(parent ? parent : cJSON_AddObjectToObject(o, f->api), f->api_sub, val);
        } else {
            cJSON_AddItemToObject(o, f->api, val);
        }
    }
    /* What Lambda shows of a LoggingConfig left to its defaults: the
     * function's own log group, and INFO levels in the JSON format. */
    cJSON *lc = cJSON_GetObjectItemCaseSensitive(o, "LoggingConfig");
    if (lc && strcmp(c->log_format, "JSON") == 0) {
        if (!c->app_log_level[0]) cJSON_AddStringToObject(lc, "ApplicationLogLevel", "INFO");
        if (!c->system_log_level[0]) cJSON_AddStringToObject(lc, "SystemLogLevel", "INFO");
    }
    if (lc && !c->log_group[0]) {
        char group[80];
        snprintf(group, sizeof group, "/aws/lambda/%s", c->name);
        cJSON_AddStringToObject(lc, "LogGroup", group);
    }
    if (c->nlayers) cJSON_AddItemToObject(o, "Layers", layers_json(c, false));
    return o;
}

/* ---- the stored document ----
 * Keys are Nimbus's own and stable; "v" lets a later build read an older
 * document. Environment is an array of [key, value] pairs so order
 * survives any JSON library. A key missing from a document keeps its
 * default, so a document from before a field existed still loads. */

static cJSON *store_value(const function_field_t *f, const function_config_t *c)
{
    switch (f->type) {
    case FUNCTION_FIELD_STRING: return cJSON_CreateString(function_cmember(f, c));
    case FUNCTION_FIELD_INT: return cJSON_CreateNumber(*(const int *)function_cmember(f, c));
    case FUNCTION_FIELD_INT64: return cJSON_CreateNumber((double)*(const int64_t *)function_cmember(f, c));
    case FUNCTION_FIELD_BOOL: return cJSON_CreateBool(*(const bool *)function_cmember(f, c));
    case FUNCTION_FIELD_CHOICE: {
        /* The first two as the bool older documents (and daemons) know. */
        uint8_t v = *(const uint8_t *)function_cmember(f, c);
        return v <= 1 ? cJSON_CreateBool(v) : cJSON_CreateNumber(v);
    }
    case FUNCTION_FIELD_ENV: {
        cJSON *env = cJSON_CreateArray();
        for (size_t i = 0; i < c->nenv; i++) {
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateString(c->env[i].key));
            cJSON_AddItemToArray(pair, cJSON_CreateString(c->env[i].value));
            cJSON_AddItemToArray(env, pair);
        }
        return env;
    }
    default: return NULL;
    }
}

char *function_config_serialize(const function_config_t *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "v", STORE_DOC_VERSION);
    for (size_t i = 0; i < N_FIELDS; i++) {
        const function_field_t *f = &FIELDS[i];
        if (!(f->flags & FUNCTION_FIELD_IN_STORE)) continue;
        if ((f->flags & FUNCTION_FIELD_STORE_IF_SET) && !row_is_set(f, c)) continue;
        cJSON_AddItemToObject(o, f->store, store_value(f, c));
    }
    if (c->nlayers) cJSON_AddItemToObject(o, "layers", layers_json(c, true));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) abort();
    return s;
}

static bool store_read_env(const cJSON *env, function_config_t *c)
{
    if (!cJSON_IsArray(env)) return false;
    size_t n = (size_t)cJSON_GetArraySize(env);
    if (n) {
        c->env = calloc(n, sizeof *c->env);
        if (!c->env) abort();
    }
    const cJSON *pair;
    cJSON_ArrayForEach(pair, env) {
        const cJSON *k = cJSON_GetArrayItem(pair, 0), *v = cJSON_GetArrayItem(pair, 1);
        if (!cJSON_IsArray(pair) || !cJSON_IsString(k) || !cJSON_IsString(v)) return false;
        c->env[c->nenv].key = function_strdup(k->valuestring);
        c->env[c->nenv].value = function_strdup(v->valuestring);
        c->nenv++;
    }
    return true;
}

static bool store_read(const function_field_t *f, const cJSON *o, function_config_t *c)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, f->store);
    if (!m) return !(f->flags & FUNCTION_FIELD_CREATE_ONLY);
    switch (f->type) {
    case FUNCTION_FIELD_STRING: return cJSON_IsString(m) && function_copy_string(function_member(f, c), f->size, m->valuestring);
    case FUNCTION_FIELD_INT:
        /* A number out of range is a damaged document, not a value to wrap. */
        if (!cJSON_IsNumber(m) || !(m->valuedouble >= INT_MIN && m->valuedouble <= INT_MAX)) return false;
        *(int *)function_member(f, c) = (int)m->valuedouble;
        return true;
    case FUNCTION_FIELD_INT64:
        if (!cJSON_IsNumber(m) || !(m->valuedouble >= -9.2e18 && m->valuedouble <= 9.2e18)) return false;
        *(int64_t *)function_member(f, c) = (int64_t)m->valuedouble;
        return true;
    case FUNCTION_FIELD_BOOL: *(bool *)function_member(f, c) = cJSON_IsTrue(m); return true;
    case FUNCTION_FIELD_CHOICE: {
        /* Documents from before a third choice stored a bool (the column's
         * name, network_host, is theirs): false and true are 0 and 1. */
        size_t nch = 0;
        while (f->choices[nch]) nch++;
        int v = cJSON_IsNumber(m) ? m->valueint : cJSON_IsTrue(m) ? 1 : 0;
        if (v < 0 || (size_t)v >= nch) return false;
        *(uint8_t *)function_member(f, c) = (uint8_t)v;
        return true;
    }
    case FUNCTION_FIELD_ENV: return store_read_env(m, c);
    default: return true;
    }
}

int function_config_deserialize(function_config_t *c, const char *json, err_t *err)
{
    function_config_init(c);
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return err_set(err, ERR_INTERNAL, "stored function config is not a JSON object");
    }
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(o, "v");
    bool ok = !ver || (cJSON_IsNumber(ver) && ver->valuedouble <= STORE_DOC_VERSION);
    for (size_t i = 0; ok && i < N_FIELDS; i++)
        if (FIELDS[i].flags & FUNCTION_FIELD_IN_STORE) ok = store_read(&FIELDS[i], o, c);
    if (ok) ok = store_read_layers(cJSON_GetObjectItemCaseSensitive(o, "layers"), c);
    cJSON_Delete(o);
    if (!ok) {
        function_config_free(c);
        return err_set(err, ERR_INTERNAL, "stored function config is malformed");
    }
    return 0;
}
