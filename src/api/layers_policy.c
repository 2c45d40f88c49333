/* layers_policy.c — a layer version's permissions policy:
 * AddLayerVersionPermission, GetLayerVersionPolicy,
 * RemoveLayerVersionPermission, and what a policy grants (layers.h).
 *
 * Owns the policy's document: {"RevisionId", "Policy": {"Version", "Id",
 * "Statement": [...]}} in the layer version's row, each statement Lambda's
 * ({"Sid", "Effect": "Allow", "Principal", "Action":
 * "lambda:GetLayerVersion", "Resource"}). A write reads the policy, changes
 * it and swaps it in only if it is still the one read, so two writers never
 * lose a statement. Must never: keep two statements with one Sid, let a
 * stale RevisionId write, or grant an account no statement names.
 */
#include "api/layers_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"

#define ACTION "lambda:GetLayerVersion"
#define PRINCIPAL_PATTERN "\\d{12}|\\*|arn:(aws[a-zA-Z-]*):iam::\\d{12}:root"
#define SID_PATTERN "([a-zA-Z0-9-_]+)"
#define SWAP_TRIES 8

static int answer_error(layers_answer_t *a, int status, const char *type, const char *fmt, const char *arg)
{
    a->status = status;
    a->type = type;
    snprintf(a->msg, sizeof a->msg, fmt, arg);
    return 0;
}

static int stale(layers_answer_t *a)
{
    return answer_error(a, 412, "PreconditionFailedException",
                        "The Revision Id provided does not match the latest Revision Id. Call the "
                        "GetLayerVersionPolicy API to retrieve the latest Revision Id%s", "");
}

static bool principal_names(const cJSON *p, const char *account)
{
    if (cJSON_IsString(p)) return strcmp(p->valuestring, "*") == 0;
    const char *aws = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "AWS"));
    char root[64];
    snprintf(root, sizeof root, "arn:aws:iam::%s:root", account);
    return aws && (strcmp(aws, root) == 0 || strcmp(aws, "*") == 0);
}

bool layers_policy_grants(const char *stored, const char *account)
{
    if (!stored || !*stored) return false;
    cJSON *doc = cJSON_Parse(stored);
    bool ok = false;
    const cJSON *st;
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "Policy"),
                                                            "Statement"))
    {
        const char *eff = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "Effect"));
        const char *act = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "Action"));
        if (eff && act && !strcmp(eff, "Allow") && !strcmp(act, ACTION) &&
            principal_names(cJSON_GetObjectItemCaseSensitive(st, "Principal"), account)) {
            ok = true;
            break;
        }
    }
    cJSON_Delete(doc);
    return ok;
}

/* The stored policy (NULL: none), or -1 after answering 404 / the store failing. */
static int read_policy(store_t *s, const char *skey, const char *layer, int version, char **raw, cJSON **doc,
                       layers_answer_t *a, err_t *err)
{
    *doc = NULL;
    if (store_layer_policy_get(s, skey, layer, version, raw, err) < 0) {
        if (err->code != ERR_NOT_FOUND) return -1;
        answer_error(a, 404, "ResourceNotFoundException", "The resource you requested does not exist.%s", "");
        return 1;
    }
    if (**raw) *doc = cJSON_Parse(*raw);
    return 0;
}

static const char *revision(const cJSON *doc)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "RevisionId"));
}

/* A member that must be a string matching `ok`, or Lambda's validation error. */
static const char *member(const cJSON *body, const char *key, const char *check, size_t max, bool (*ok)(const char *),
                          const char *pattern, layers_answer_t *a)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, key);
    if (!m || cJSON_IsNull(m)) {
        snprintf(a->msg, sizeof a->msg,
                 "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null",
                 check);
    } else if (!cJSON_IsString(m)) {
        snprintf(a->msg, sizeof a->msg,
                 "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must be a string",
                 check);
    } else if (strlen(m->valuestring) > max || !*m->valuestring) {
        snprintf(a->msg, sizeof a->msg,
                 "1 validation error detected: Value '%.100s' at '%s' failed to satisfy constraint: Member must have "
                 "length %s %zu",
                 m->valuestring, check, *m->valuestring ? "less than or equal to" : "greater than or equal to",
                 *m->valuestring ? max : (size_t)1);
    } else if (!ok(m->valuestring)) {
        snprintf(a->msg, sizeof a->msg,
                 "1 validation error detected: Value '%.100s' at '%s' failed to satisfy constraint: Member must "
                 "satisfy regular expression pattern: %s",
                 m->valuestring, check, pattern);
    } else {
        return m->valuestring;
    }
    a->status = 400;
    a->type = "ValidationException";
    return NULL;
}

#define SID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

static bool sid_ok(const char *s) { return strspn(s, SID_CHARS) == strlen(s); }

/* A statement's Sid ("" for none). */
static const char *sid_of(const cJSON *st)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "Sid"));
    return v ? v : "";
}
static bool action_ok(const char *s) { return strcmp(s, ACTION) == 0; }

static bool account_id(const char *s) { return strspn(s, "0123456789") == 12 && !s[12]; }

static bool principal_ok(const char *s)
{
    if (!strcmp(s, "*") || account_id(s)) return true;
    if (strncmp(s, "arn:aws", 7) != 0) return false;
    const char *p = s + 7;
    p += strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-");
    if (strncmp(p, ":iam::", 6) != 0) return false;
    p += 6;
    return strspn(p, "0123456789") == 12 && !strcmp(p + 12, ":root");
}

int layers_policy_add(store_t *s, const char *skey, const char *layer, int version, const char *version_arn,
                      const char *body, size_t len, const char *want_rev, layers_answer_t *a, err_t *err)
{
    err_t pe = { 0 };
    cJSON *req = json_parse_strict(body ? body : "", len, &pe);
    int ret = 0;
    if (!cJSON_IsObject(req)) {
        answer_error(a, 400, "InvalidParameterValueException", "Could not parse request body into json: %s",
                     req ? "the body is not a JSON object" : pe.msg);
        goto out;
    }
    const char *sid = member(req, "StatementId", "statementId", 100, sid_ok, SID_PATTERN, a);
    const char *action = sid ? member(req, "Action", "action", 22, action_ok, ACTION, a) : NULL;
    const char *principal = action ? member(req, "Principal", "principal", 200, principal_ok, PRINCIPAL_PATTERN, a)
                                   : NULL;
    if (!principal) goto out;
    if (cJSON_GetObjectItemCaseSensitive(req, "OrganizationId")) {
        /* A statement for an organization's accounts would grant none here. */
        answer_error(a, 400, "InvalidParameterValueException",
                     "OrganizationId is not supported: Nimbus has no AWS Organizations; name an account id or *%s", "");
        goto out;
    }
    for (int tries = 0; tries < SWAP_TRIES; tries++) {
        char *raw = NULL;
        cJSON *doc = NULL;
        int rc = read_policy(s, skey, layer, version, &raw, &doc, a, err);
        if (rc != 0) { free(raw); ret = rc < 0 ? -1 : 0; goto out; }
        if (want_rev && (!doc || !revision(doc) || strcmp(revision(doc), want_rev) != 0)) {
            free(raw);
            cJSON_Delete(doc);
            stale(a);
            goto out;
        }
        if (!doc) {
            doc = cJSON_CreateObject();
            cJSON *pol = cJSON_AddObjectToObject(doc, "Policy");
            cJSON_AddStringToObject(pol, "Version", "2012-10-17");
            cJSON_AddStringToObject(pol, "Id", "default");
            cJSON_AddArrayToObject(pol, "Statement");
        }
        cJSON *list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "Policy"), "Statement");
        const cJSON *e;
        bool dup = false;
        cJSON_ArrayForEach(e, list) dup = dup || !strcmp(sid_of(e), sid);
        if (dup) {
            free(raw);
            cJSON_Delete(doc);
            answer_error(a, 409, "ResourceConflictException",
                         "The statement id (%s) provided already exists. Please provide a new statement id, or remove "
                         "the existing statement.", sid);
            goto out;
        }
        cJSON *st = cJSON_CreateObject();
        cJSON_AddStringToObject(st, "Sid", sid);
        cJSON_AddStringToObject(st, "Effect", "Allow");
        if (!strcmp(principal, "*")) {
            cJSON_AddStringToObject(st, "Principal", "*");
        } else {
            char root[64];
            snprintf(root, sizeof root, "arn:aws:iam::%.12s:root",
                     account_id(principal) ? principal : strstr(principal, "::") + 2);
            cJSON_AddStringToObject(cJSON_AddObjectToObject(st, "Principal"), "AWS", root);
        }
        cJSON_AddStringToObject(st, "Action", ACTION);
        cJSON_AddStringToObject(st, "Resource", version_arn);
        cJSON_AddItemToArray(list, cJSON_Duplicate(st, true));
        char rid[37];
        util_uuid4(rid);
        cJSON_DeleteItemFromObjectCaseSensitive(doc, "RevisionId");
        cJSON_AddStringToObject(doc, "RevisionId", rid);
        char *next = cJSON_PrintUnformatted(doc);
        rc = store_layer_policy_swap(s, skey, layer, version, raw, next, err);
        free(next);
        free(raw);
        cJSON_Delete(doc);
        if (rc == 0) {
            char *text = cJSON_PrintUnformatted(st);
            a->status = 201;
            a->doc = cJSON_CreateObject();
            cJSON_AddStringToObject(a->doc, "Statement", text);
            cJSON_AddStringToObject(a->doc, "RevisionId", rid);
            free(text);
        }
        cJSON_Delete(st);
        if (rc == 0) goto out;
        if (err->code == ERR_NOT_FOUND) {
            answer_error(a, 404, "ResourceNotFoundException", "The resource you requested does not exist.%s", "");
            goto out;
        }
        if (err->code != ERR_CONFLICT) { ret = -1; goto out; }
        /* Another write came between: read it again. */
    }
    answer_error(a, 409, "ResourceConflictException", "The policy of %s is being changed; retry", version_arn);
out:
    cJSON_Delete(req);
    return ret;
}

int layers_policy_get(store_t *s, const char *skey, const char *layer, int version, layers_answer_t *a, err_t *err)
{
    char *raw = NULL;
    cJSON *doc = NULL;
    int rc = read_policy(s, skey, layer, version, &raw, &doc, a, err);
    free(raw);
    if (rc != 0) return rc < 0 ? -1 : 0;
    if (!doc) {
        answer_error(a, 404, "ResourceNotFoundException", "No policy is associated with the given resource.%s", "");
        return 0;
    }
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(doc, "Policy"));
    a->status = 200;
    a->doc = cJSON_CreateObject();
    cJSON_AddStringToObject(a->doc, "Policy", text ? text : "{}");
    cJSON_AddStringToObject(a->doc, "RevisionId", revision(doc) ? revision(doc) : "");
    free(text);
    cJSON_Delete(doc);
    return 0;
}

int layers_policy_remove(store_t *s, const char *skey, const char *layer, int version, const char *sid,
                         const char *want_rev, layers_answer_t *a, err_t *err)
{
    for (int tries = 0; tries < SWAP_TRIES; tries++) {
        char *raw = NULL;
        cJSON *doc = NULL;
        int rc = read_policy(s, skey, layer, version, &raw, &doc, a, err);
        if (rc != 0) { free(raw); return rc < 0 ? -1 : 0; }
        cJSON *list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "Policy"), "Statement");
        int at = -1, i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, list) {
            if (at < 0 && !strcmp(sid_of(e), sid)) at = i;
            i++;
        }
        if (!doc || at < 0) {
            free(raw);
            cJSON_Delete(doc);
            if (!doc)
                answer_error(a, 404, "ResourceNotFoundException", "No policy is associated with the given resource.%s",
                             "");
            else
                answer_error(a, 404, "ResourceNotFoundException", "Statement %s is not found in resource policy.", sid);
            return 0;
        }
        if (want_rev && (!revision(doc) || strcmp(revision(doc), want_rev) != 0)) {
            free(raw);
            cJSON_Delete(doc);
            return stale(a);
        }
        cJSON_DeleteItemFromArray(list, at);
        char *next = NULL;
        if (cJSON_GetArraySize(list) > 0) {
            char rid[37];
            util_uuid4(rid);
            cJSON_DeleteItemFromObjectCaseSensitive(doc, "RevisionId");
            cJSON_AddStringToObject(doc, "RevisionId", rid);
            next = cJSON_PrintUnformatted(doc);
        }
        /* The last statement gone: no policy at all, as Lambda has none then. */
        rc = store_layer_policy_swap(s, skey, layer, version, raw, next ? next : "", err);
        free(next);
        free(raw);
        cJSON_Delete(doc);
        if (rc == 0) {
            a->status = 204;
            return 0;
        }
        if (err->code == ERR_NOT_FOUND)
            return answer_error(a, 404, "ResourceNotFoundException", "The resource you requested does not exist.%s",
                                "");
        if (err->code != ERR_CONFLICT) return -1;
    }
    return answer_error(a, 409, "ResourceConflictException", "The policy of layer %s is being changed; retry", layer);
}
