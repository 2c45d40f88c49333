/* policy.c — AddPermission, GetPolicy and RemovePermission: a request
 * checked as Lambda checks it, the statement built as Lambda builds it, the
 * policy read, changed and written on a worker (one write at a time per
 * function), then answered.
 *
 * Owns the policy documents; they live in the store only (a read is a
 * store read on a worker), so a policy can never outlive its version or
 * alias in memory. Must never: answer a write the store did not take, keep
 * two statements with one Sid in a policy, or let a stale RevisionId
 * through.
 */
#include "api/policy.h"
#include "api/tenancy.h"

#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/control.h"
#include "base/util.h"
#include "core/function.h"

#define LATEST "$LATEST"
#define POLICY_MAX 20480
#define QUALIFIER_PATTERN "(|[a-zA-Z0-9$_-]+)"

/* ---- the request ---- */

typedef struct {
    const char *member;       /* in the body */
    const char *check;        /* its name in Lambda's messages */
    const char *re;           /* POSIX form of the pattern, NULL: none */
    const char *shown;        /* the pattern as Lambda's message quotes it */
    int min, max;             /* lengths (max 0: unchecked) */
    bool required;
} field_t;

enum { F_SID, F_ACTION, F_PRINCIPAL, F_SOURCE_ARN, F_SOURCE_ACCOUNT, F_TOKEN, F_ORG, F_AUTH, F_REVISION, NFIELDS };

static const field_t FIELDS[NFIELDS] = {
    [F_SID] = { "StatementId", "statementId", "^[a-zA-Z0-9_-]+$", "([a-zA-Z0-9-_]+)", 1, 100, true },
    [F_ACTION] = { "Action", "action", "^(lambda:[*]|lambda:[a-zA-Z]+|[*])$", "(lambda:[*]|lambda:[a-zA-Z]+|[*])", 0, 0,
                   true },
    [F_PRINCIPAL] = { "Principal", "principal", "^[^[:space:]]+$", "[^\\s]+", 0, 0, true },
    [F_SOURCE_ARN] = { "SourceArn", "sourceArn",
                       "^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9-])+:([a-z]{2}(-gov)?-[a-z]+-[0-9])?:([0-9]{12})?:(.*)$",
                       "arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)", 0, 0,
                       false },
    [F_SOURCE_ACCOUNT] = { "SourceAccount", "sourceAccount", "^[0-9]{12}$", "\\d{12}", 0, 12, false },
    [F_TOKEN] = { "EventSourceToken", "eventSourceToken", "^[a-zA-Z0-9._-]+$", "[a-zA-Z0-9._\\-]+", 0, 256, false },
    [F_ORG] = { "PrincipalOrgID", "principalOrgID", "^o-[a-z0-9]{10,32}$", "^o-[a-z0-9]{10,32}$", 12, 34, false },
    [F_AUTH] = { "FunctionUrlAuthType", "functionUrlAuthType", "^(NONE|AWS_IAM)$", NULL, 0, 0, false },
    [F_REVISION] = { "RevisionId", "revisionId", NULL, NULL, 0, 0, false },
};

static bool matches(int f, const char *v)
{
    static regex_t re[NFIELDS];
    static bool compiled[NFIELDS];
    if (!FIELDS[f].re) return true;
    if (!compiled[f]) {
        if (regcomp(&re[f], FIELDS[f].re, REG_EXTENDED | REG_NOSUB) != 0) return false;
        compiled[f] = true;
    }
    return regexec(&re[f], v, 0, NULL, 0) == 0;
}

static void verr(buf_t *msg, int *n, const char *value, const field_t *f, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void verr(buf_t *msg, int *n, const char *value, const field_t *f, const char *fmt, ...)
{
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    buf_appendf(msg, "%sValue %s%.200s%s at '%s' failed to satisfy constraint: %s", (*n)++ ? "; " : "",
                value ? "'" : "", value ? value : "null", value ? "'" : "", f->check, why);
}

/* Every broken constraint of an AddPermission body in one answer, as
 * Lambda gives them; v[] gets each member's string (NULL: absent). */
static int check_body(http_exchange_t *ex, const cJSON *body, const char *v[NFIELDS])
{
    buf_t msg = { 0 };
    int n = 0;
    for (int i = 0; i < NFIELDS; i++) {
        const field_t *f = &FIELDS[i];
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, f->member);
        v[i] = cJSON_GetStringValue(m);
        if (!m || cJSON_IsNull(m)) {
            if (f->required) verr(&msg, &n, NULL, f, "Member must not be null");
            continue;
        }
        if (!v[i]) {
            verr(&msg, &n, "?", f, "Member must be a string");
            continue;
        }
        size_t len = strlen(v[i]);
        if (f->max && len > (size_t)f->max)
            verr(&msg, &n, v[i], f, "Member must have length less than or equal to %d", f->max);
        else if (len < (size_t)f->min)
            verr(&msg, &n, v[i], f, "Member must have length greater than or equal to %d", f->min);
        else if (i == F_AUTH && !matches(i, v[i]))
            verr(&msg, &n, v[i], f, "Member must satisfy enum value set: [NONE, AWS_IAM]");
        else if (!matches(i, v[i]))
            verr(&msg, &n, v[i], f, "Member must satisfy regular expression pattern: %s", f->shown);
    }
    if (n)
        api_respond_error(ex, 400, "ValidationException", "%d validation error%s detected: %s", n, n > 1 ? "s" : "",
                          msg.data);
    buf_free(&msg);
    return n ? -1 : 0;
}

/* Principal as the statement names it: a service, an account's root, an
 * IAM ARN, or everyone. NULL: not a principal Lambda accepts. */
static cJSON *principal_json(const char *p)
{
    size_t n = strlen(p);
    static const char svc[] = ".amazonaws.com";
    cJSON *o = NULL;
    if (strcmp(p, "*") == 0) return cJSON_CreateString("*");
    if (n > sizeof svc - 1 && strcmp(p + n - (sizeof svc - 1), svc) == 0) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Service", p);
    } else if (n == 12 && strspn(p, "0123456789") == 12) {
        char arn[64];
        snprintf(arn, sizeof arn, "arn:aws:iam::%s:root", p);
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "AWS", arn);
    } else if (strncmp(p, "arn:aws", 7) == 0 && strstr(p, ":iam::")) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "AWS", p);
    }
    return o;
}

/* The statement AddPermission adds, in Lambda's member order. */
static cJSON *statement(const char *v[NFIELDS], cJSON *principal, const char *resource)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "Sid", v[F_SID]);
    cJSON_AddStringToObject(s, "Effect", "Allow");
    cJSON_AddItemToObject(s, "Principal", principal);
    cJSON_AddStringToObject(s, "Action", v[F_ACTION]);
    cJSON_AddStringToObject(s, "Resource", resource);
    static const struct {
        int field;
        const char *op, *key;
    } conds[] = {
        { F_AUTH, "StringEquals", "lambda:FunctionUrlAuthType" },
        { F_ORG, "StringEquals", "aws:PrincipalOrgID" },
        { F_SOURCE_ACCOUNT, "StringEquals", "AWS:SourceAccount" },
        { F_TOKEN, "StringEquals", "lambda:EventSourceToken" },
        { F_SOURCE_ARN, "ArnLike", "AWS:SourceArn" },
    };
    cJSON *c = NULL;
    for (size_t i = 0; i < sizeof conds / sizeof *conds; i++) {
        if (!v[conds[i].field]) continue;
        if (!c) c = cJSON_AddObjectToObject(s, "Condition");
        cJSON *op = cJSON_GetObjectItemCaseSensitive(c, conds[i].op);
        if (!op) op = cJSON_AddObjectToObject(c, conds[i].op);
        cJSON_AddStringToObject(op, conds[i].key, v[conds[i].field]);
    }
    return s;
}

/* ---- the qualifier ---- */

/* The key of the policy a request's qualifier names ("$LATEST" for the
 * function itself), and the RevisionId a policy not written yet is checked
 * against (the function's, the version's or the alias's, as Lambda's
 * policies share their resource's). false after answering. */
static bool target(http_exchange_t *ex, router_fn_t *latest, const char *q, bool adding, char key[130],
                   char rev[37])
{
    if (!*q || strcmp(q, LATEST) == 0) {
        if (adding && *q) {
            api_respond_error(ex, 400, "InvalidParameterValueException",
                              "We currently do not support adding policies for $LATEST.");
            return false;
        }
        snprintf(key, 130, "%s", LATEST);
        snprintf(rev, 37, "%s", latest->cfg.revision_id);
        return true;
    }
    if (strlen(q) > 128 || strspn(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789$_-") != strlen(q)) {
        api_respond_error(ex, 400, "ValidationException",
                          "1 validation error detected: Value '%.200s' at 'qualifier' failed to satisfy constraint: "
                          "Member must satisfy regular expression pattern: " QUALIFIER_PATTERN, q);
        return false;
    }
    rev[0] = '\0';
    if (strspn(q, "0123456789") == strlen(q)) {
        router_fn_t *v = router_find_version(latest, q);
        if (!v) { api_respond_not_found(ex, latest->cfg.name, q); return false; }
        snprintf(rev, 37, "%s", v->cfg.revision_id);
    } else {
        router_alias_t *a = router_find_alias(latest, q);
        if (!a) { api_respond_not_found(ex, latest->cfg.name, q); return false; }
        cJSON *doc = cJSON_Parse(a->doc);
        const char *r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "RevisionId"));
        snprintf(rev, 37, "%s", r ? r : "");
        cJSON_Delete(doc);
    }
    snprintf(key, 130, "%s", q);
    return true;
}

/* ---- the work, on a worker ---- */

typedef enum { P_GET, P_ADD, P_REMOVE } kind_t;

typedef struct {
    api_t *d;
    http_exchange_t *ex;      /* P_GET: NULL once the client went away */
    kind_t kind;
    char function[65], key[130], base_rev[37], sid[101];
    char *want_rev;           /* the RevisionId precondition, or NULL */
    cJSON *stmt;              /* P_ADD: the statement to add */
    int status;               /* a refusal's answer (0: none) */
    const char *type;
    char msg[400];
    char *answer;             /* P_ADD: the statement; P_GET: the policy */
    char rev[37];             /* P_GET: its RevisionId */
    int rc;
    err_t err;
} job_t;

static int refuse(job_t *j, int status, const char *type, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int refuse(job_t *j, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->msg, sizeof j->msg, fmt, ap);
    va_end(ap);
    j->status = status;
    j->type = type;
    return 0;
}

static bool stale(const job_t *j, const char *rev)
{
    return j->want_rev && strcmp(j->want_rev, rev ? rev : "") != 0;
}

static int refuse_stale(job_t *j)
{
    return refuse(j, 412, "PreconditionFailedException", "The Revision Id provided does not match the latest "
                  "Revision Id. Call the GetPolicy API to retrieve the latest Revision Id");
}

/* The statement with Sid `sid` in a policy's Statement array, or NULL. */
static cJSON *find_sid(const cJSON *statements, const char *sid)
{
    cJSON *s;
    cJSON_ArrayForEach(s, statements) {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "Sid"));
        if (id && strcmp(id, sid) == 0) return s;
    }
    return NULL;
}

static int save(store_t *s, job_t *j, cJSON *doc, err_t *err)
{
    char rid[37];
    util_uuid4(rid);
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "RevisionId");
    cJSON_AddStringToObject(doc, "RevisionId", rid);
    char *text = cJSON_PrintUnformatted(doc);
    int rc = store_policy_put(s, j->function, j->key, text, err);
    free(text);
    return rc;
}

static int add(store_t *s, job_t *j, cJSON *doc, err_t *err)
{
    const char *rev = doc ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "RevisionId")) : j->base_rev;
    if (stale(j, rev)) return refuse_stale(j);
    cJSON *pol = cJSON_GetObjectItemCaseSensitive(doc, "Policy");
    cJSON *statements = cJSON_GetObjectItemCaseSensitive(pol, "Statement");
    if (find_sid(statements, j->sid))
        return refuse(j, 409, "ResourceConflictException", "The statement id (%s) provided already exists. Please "
                      "provide a new statement id, or remove the existing statement.", j->sid);
    cJSON_AddItemToArray(statements, cJSON_Duplicate(j->stmt, true));
    char *text = cJSON_PrintUnformatted(pol);
    size_t len = strlen(text);
    free(text);
    if (len > POLICY_MAX)
        return refuse(j, 400, "PolicyLengthExceededException", "The final policy size (%zu) is bigger than the limit "
                      "(%d).", len, POLICY_MAX);
    if (save(s, j, doc, err) < 0) return -1;
    j->answer = cJSON_PrintUnformatted(j->stmt);
    return 0;
}

static int remove_statement(store_t *s, job_t *j, cJSON *doc, err_t *err)
{
    if (!doc) return refuse(j, 404, "ResourceNotFoundException", "No policy is associated with the given resource.");
    cJSON *statements = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "Policy"), "Statement");
    cJSON *st = find_sid(statements, j->sid);
    if (!st)
        return refuse(j, 404, "ResourceNotFoundException", "Statement %s is not found in resource policy.", j->sid);
    if (stale(j, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "RevisionId")))) return refuse_stale(j);
    cJSON_Delete(cJSON_DetachItemViaPointer(statements, st));
    if (!statements->child) return store_policy_delete(s, j->function, j->key, err);
    return save(s, j, doc, err);
}

static int run(store_t *s, void *arg, err_t *err)
{
    job_t *j = arg;
    char *text;
    if (store_policy_get(s, j->function, j->key, &text, err) < 0) return -1;
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (j->kind == P_ADD && !doc) {
        /* A first permission makes the policy. */
        doc = cJSON_CreateObject();
        cJSON *pol = cJSON_AddObjectToObject(doc, "Policy");
        cJSON_AddStringToObject(pol, "Version", "2012-10-17");
        cJSON_AddStringToObject(pol, "Id", "default");
        cJSON_AddArrayToObject(pol, "Statement");
        cJSON_AddStringToObject(doc, "RevisionId", j->base_rev);
    }
    int rc = 0;
    if (j->kind == P_ADD) {
        rc = add(s, j, doc, err);
    } else if (j->kind == P_REMOVE) {
        rc = remove_statement(s, j, doc, err);
    } else if (!doc) {
        rc = refuse(j, 404, "ResourceNotFoundException", "The resource you requested does not exist.");
    } else {
        j->answer = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(doc, "Policy"));
        const char *r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "RevisionId"));
        snprintf(j->rev, sizeof j->rev, "%s", r ? r : "");
    }
    cJSON_Delete(doc);
    return rc;
}

/* ---- answers, on the loop thread ---- */

static void job_free(job_t *j)
{
    cJSON_Delete(j->stmt);
    free(j->want_rev);
    free(j->answer);
    free(j);
}

static void answer(http_exchange_t *ex, job_t *j)
{
    if (j->status) {
        api_respond_error(ex, j->status, j->type, "%s", j->msg);
    } else if (j->kind == P_ADD) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Statement", j->answer);
        api_respond_doc(ex, 201, o);
    } else if (j->kind == P_REMOVE) {
        api_respond_empty(ex, 204);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Policy", j->answer);
        cJSON_AddStringToObject(o, "RevisionId", j->rev);
        api_respond_doc(ex, 200, o);
    }
}

static void write_done(api_t *d, http_exchange_t *ex, void *arg, int rc)
{
    job_t *j = arg;
    tenancy_policy_changed(d, j->function);
    if (ex && rc == 0) answer(ex, j);
    job_free(j);
}

static void read_gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((job_t *)arg)->ex = NULL;
}

static void read_work(void *arg)
{
    job_t *j = arg;
    j->rc = run(j->d->store, j, &j->err);
}

static void read_done(loop_t *l, void *arg)
{
    (void)l;
    job_t *j = arg;
    if (j->ex && j->rc < 0) api_respond_err(j->ex, &j->err);
    else if (j->ex) answer(j->ex, j);
    job_free(j);
}

static job_t *job_new(api_t *d, kind_t kind, router_fn_t *latest, const char *key, const char *base_rev)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->d = d;
    j->kind = kind;
    snprintf(j->function, sizeof j->function, "%s", latest->cfg.name);
    snprintf(j->key, sizeof j->key, "%s", key);
    snprintf(j->base_rev, sizeof j->base_rev, "%s", base_rev);
    return j;
}

/* ---- the handlers ---- */

static void add_permission(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest, const char *q)
{
    char key[130], rev[37];
    if (!target(ex, latest, q, true, key, rev)) return;
    cJSON *body = api_body_object(ex, req, false);
    if (!body) return;
    const char *v[NFIELDS];
    cJSON *principal = NULL;
    job_t *j = NULL;
    if (check_body(ex, body, v) == 0) {
        if (!(principal = principal_json(v[F_PRINCIPAL]))) {
            api_respond_error(ex, 400, "InvalidParameterValueException",
                              "The provided principal was invalid. Please check the principal and try again.");
        } else if (!control_busy(ex, latest)) {
            char arn[300];
            function_arn(latest->cfg.name, strcmp(key, LATEST) == 0 ? NULL : key, arn, sizeof arn);
            if (!(j = job_new(d, P_ADD, latest, key, rev))) {
                cJSON_Delete(principal);
                api_respond_error(ex, 500, "ServiceException", "out of memory");
            } else {
                snprintf(j->sid, sizeof j->sid, "%s", v[F_SID]);
                if (v[F_REVISION]) j->want_rev = strdup(v[F_REVISION]);
                j->stmt = statement(v, principal, arn);
            }
        } else {
            cJSON_Delete(principal);
        }
    }
    cJSON_Delete(body);
    if (j) api_write(d, ex, latest, run, write_done, j);
}

static void get_policy(api_t *d, http_exchange_t *ex, router_fn_t *latest, const char *q)
{
    char key[130], rev[37];
    if (!target(ex, latest, q, false, key, rev)) return;
    job_t *j = job_new(d, P_GET, latest, key, rev);
    if (!j) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    j->ex = ex;
    http_exchange_on_abort(ex, read_gone, j);
    loop_submit(d->loop, read_work, read_done, j);
}

void policy_route(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    api_t *d = ctx;
    char qual[140];
    router_fn_t *latest = control_find(d, ex, req, route_param(p, "name"), qual, sizeof qual);
    if (!latest) return;
    if (strcmp(req->method, "GET") == 0) get_policy(d, ex, latest, qual);
    else if (strcmp(req->method, "POST") == 0) add_permission(d, ex, req, latest, qual);
    else api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", req->method);
}

void policy_statement_route(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    api_t *d = ctx;
    char qual[140], key[130], rev[37];
    router_fn_t *latest = control_find(d, ex, req, route_param(p, "name"), qual, sizeof qual);
    if (!latest) return;
    if (strcmp(req->method, "DELETE") != 0) {
        api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", req->method);
        return;
    }
    const char *sid = route_param(p, "sid");
    size_t n = strlen(sid);
    if (n < 1 || n > 100 || strspn(sid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != n) {
        api_respond_error(ex, 400, "ValidationException",
                          "1 validation error detected: Value '%.200s' at 'statementId' failed to satisfy constraint: "
                          "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)", sid);
        return;
    }
    if (!target(ex, latest, qual, false, key, rev) || control_busy(ex, latest)) return;
    job_t *j = job_new(d, P_REMOVE, latest, key, rev);
    if (!j) { api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    snprintf(j->sid, sizeof j->sid, "%s", sid);
    j->want_rev = util_query_param(req->query, "RevisionId");
    api_write(d, ex, latest, run, write_done, j);
}
