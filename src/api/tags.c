/* tags.c — Lambda's tags on functions: TagResource, UntagResource and
 * ListTags, CreateFunction's Tags, GetFunction's Tags; the table of tags in
 * memory (by function name), writes stored before they are applied.
 *
 * Owns which tags a function has. Must never: answer a write the store did
 * not take, tag a version or an alias, or keep the tags of a function that
 * is gone.
 */
#include "api/tags.h"

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/control.h"
#include "api/qtable.h"
#include "base/log.h"
#include "base/util.h"
#include "core/function.h"

#define MAX_TAGS 50
#define MAX_KEY 128
#define MAX_VALUE 256
/* Lambda's pattern of a tag operation's resource, as its message quotes it. */
#define ARN_PATTERN "arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}(-gov)?-[a-z]+-\\d{1}:\\d{12}:function:" \
                    "[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?"

/* The (function, "") entries of a qtable: tags are per function only. */
typedef struct {
    qkey_t key;
    cJSON *tags;              /* an object: key -> string value */
} entry_t;

struct tag_table {
    qtable_t q;
};

static void entry_free(void *entry)
{
    entry_t *e = entry;
    cJSON_Delete(e->tags);
    free(e);
}

tag_table_t *tag_table_new(void)
{
    tag_table_t *t = calloc(1, sizeof(tag_table_t));
    if (t) t->q.free_entry = entry_free;
    return t;
}

void tag_table_free(tag_table_t *t)
{
    if (!t) return;
    qtable_clear(&t->q);
    free(t);
}

/* ---- the table ---- */

static const cJSON *find(const tag_table_t *t, const char *function)
{
    const entry_t *e = t ? qtable_find(&t->q, function, "") : NULL;
    return e ? e->tags : NULL;
}

/* Takes `tags` (NULL or empty: the function has none). */
static void put(tag_table_t *t, const char *function, cJSON *tags)
{
    if (!tags || !tags->child) {
        cJSON_Delete(tags);
        qtable_drop(&t->q, function, "");
        return;
    }
    entry_t *e = qtable_find(&t->q, function, "");
    if (e) {
        cJSON_Delete(e->tags);
        e->tags = tags;
        return;
    }
    e = calloc(1, sizeof *e);
    if (!e) abort();
    snprintf(e->key.function, sizeof e->key.function, "%s", function);
    e->tags = tags;
    qtable_put(&t->q, e);
}

void tags_forget(api_t *d, const char *function)
{
    if (d->tags) put(d->tags, function, NULL);
}

cJSON *tags_json(const api_t *d, const char *function)
{
    const cJSON *t = find(d->tags, function);
    return t ? cJSON_Duplicate(t, true) : cJSON_CreateObject();
}

/* ---- validation ---- */

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) n++;
    return n;
}

/* A function's whole set of tags, as it would be after the request. */
static int check_tags(const cJSON *tags, err_t *err)
{
    int n = cJSON_GetArraySize(tags);
    if (n > MAX_TAGS)
        return err_set(err, ERR_INVALID, "Number of tags exceeds resource tag limit. A function has at most %d tags; "
                       "this request would leave it %d.", MAX_TAGS, n);
    for (const cJSON *e = tags->child; e; e = e->next) {
        size_t k = utf8_chars(e->string);
        if (k < 1 || k > MAX_KEY)
            return err_set(err, ERR_INVALID, "The tag key '%.140s' is not valid: a key is 1 to %d characters long.",
                           e->string, MAX_KEY);
        if (strncasecmp(e->string, "aws:", 4) == 0)
            return err_set(err, ERR_INVALID, "The tag key '%.140s' is not valid: keys starting with 'aws:' are "
                           "reserved for AWS use.", e->string);
        if (!cJSON_IsString(e))
            return err_set(err, ERR_VALIDATION, "1 validation error detected: Value at 'tags' failed to satisfy "
                           "constraint: Map value of '%.140s' must be a string", e->string);
        if (utf8_chars(e->valuestring) > MAX_VALUE)
            return err_set(err, ERR_INVALID, "The value of tag key '%.140s' is not valid: a value is at most %d "
                           "characters long.", e->string, MAX_VALUE);
    }
    return 0;
}

/* The request's Tags, merged into a copy of `cur` (NULL: none yet). */
static cJSON *merged(const cJSON *cur, const cJSON *add, err_t *err)
{
    if (!cJSON_IsObject(add)) {
        err_set(err, ERR_VALIDATION, "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
                "Member must be a map of strings to strings");
        return NULL;
    }
    cJSON *out = cur ? cJSON_Duplicate(cur, true) : cJSON_CreateObject();
    for (const cJSON *e = add->child; e; e = e->next) {
        cJSON *v = cJSON_Duplicate(e, false);
        if (cJSON_GetObjectItemCaseSensitive(out, e->string)) cJSON_ReplaceItemInObjectCaseSensitive(out, e->string, v);
        else cJSON_AddItemToObject(out, e->string, v);
    }
    if (check_tags(out, err) < 0) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

int tags_parse_create(const cJSON *body, char **doc, err_t *err)
{
    *doc = NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "Tags");
    if (!t || cJSON_IsNull(t)) return 0;
    cJSON *m = merged(NULL, t, err);
    if (!m) return -1;
    if (m->child) *doc = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return 0;
}

int tags_store_created(store_t *s, const char *function, const char *doc, err_t *err)
{
    if (!doc || store_tags_put(s, function, doc, err) == 0) return 0;
    err_t ignored;
    store_function_delete(s, function, &ignored);
    return -1;
}

void tags_created(api_t *d, const char *function, char *doc)
{
    if (doc) put(d->tags, function, cJSON_Parse(doc));
    free(doc);
}

/* ---- the resource ---- */

static bool arn_matches(const char *arn)
{
    static regex_t re;
    static bool compiled;
    if (!compiled) {
        /* The documented pattern in POSIX form (\d is [0-9]). */
        if (regcomp(&re, "^arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:function:"
                         "[a-zA-Z0-9_-]+(:([$]LATEST|[a-zA-Z0-9_-]+))?$", REG_EXTENDED | REG_NOSUB) != 0)
            return false;
        compiled = true;
    }
    return regexec(&re, arn, 0, NULL, 0) == 0;
}

/* The function a tag request's ARN names; NULL after answering (a pattern
 * Lambda refuses: 400; a version or an alias: 400; a function this daemon
 * does not have, in its region and account: 404). */
static router_fn_t *resource(api_t *d, http_exchange_t *ex, const char *arn)
{
    if (strlen(arn) > 256 || !arn_matches(arn)) {
        api_respond_error(ex, 400, "ValidationException",
                          "1 validation error detected: Value '%.300s' at 'resource' failed to satisfy constraint: "
                          "Member must satisfy regular expression pattern: " ARN_PATTERN, arn);
        return NULL;
    }
    char name[140], qual[140], own[300];
    function_name_parse(arn, name, sizeof name, qual, sizeof qual);
    if (qual[0]) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                          "Tags on function aliases and versions are not supported. Please specify a function ARN.");
        return NULL;
    }
    /* Another region's or account's ARN names none of this daemon's functions. */
    function_arn(name, NULL, own, sizeof own);
    router_fn_t *fn = strcmp(own, arn) == 0 ? router_find(d->router, name) : NULL;
    if (!fn) api_respond_error(ex, 404, "ResourceNotFoundException", "Function not found: %.300s", arn);
    return fn;
}

/* ---- writes ---- */

typedef struct {
    char function[65];
    cJSON *next;              /* the tags after the write (owned until applied) */
    char *doc;                /* its stored form; NULL: no tags left */
} job_t;

static int job_work(store_t *s, void *arg, err_t *err)
{
    job_t *j = arg;
    return store_tags_put(s, j->function, j->doc, err);
}

static void job_done(api_t *d, http_exchange_t *ex, void *arg, int rc)
{
    job_t *j = arg;
    if (rc == 0) {
        put(d->tags, j->function, j->next);
        j->next = NULL;
        if (ex) api_respond_empty(ex, 204);
    }
    cJSON_Delete(j->next);
    free(j->doc);
    free(j);
}

static void submit(api_t *d, http_exchange_t *ex, router_fn_t *fn, cJSON *next)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) {
        cJSON_Delete(next);
        api_respond_error(ex, 500, "ServiceException", "out of memory");
        return;
    }
    snprintf(j->function, sizeof j->function, "%s", fn->cfg.name);
    j->next = next;
    if (next->child) j->doc = cJSON_PrintUnformatted(next);
    api_write(d, ex, fn, job_work, job_done, j);
}

static void tag(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *fn)
{
    cJSON *body = api_body_object(ex, req, false);
    if (!body) return;
    const cJSON *add = cJSON_GetObjectItemCaseSensitive(body, "Tags");
    err_t err;
    cJSON *next = NULL;
    if (!add || cJSON_IsNull(add))
        api_respond_error(ex, 400, "ValidationException", "1 validation error detected: Value null at 'tags' failed "
                          "to satisfy constraint: Member must not be null");
    else if (!(next = merged(find(d->tags, fn->cfg.name), add, &err)))
        api_respond_err(ex, &err);
    else if (control_busy(ex, fn))
        cJSON_Delete(next);
    else
        submit(d, ex, fn, next);
    cJSON_Delete(body);
}

/* Every tagKeys of the query string, decoded, removed. */
static void untag(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *fn)
{
    const cJSON *cur = find(d->tags, fn->cfg.name);
    cJSON *next = cur ? cJSON_Duplicate(cur, true) : cJSON_CreateObject();
    int keys = 0;
    for (const char *q = req->query ? req->query : ""; *q;) {
        const char *end = strchr(q, '&');
        size_t len = end ? (size_t)(end - q) : strlen(q);
        if (len > 8 && strncmp(q, "tagKeys=", 8) == 0) {
            char *k = util_url_decode(q + 8, len - 8);
            if (k) cJSON_DeleteItemFromObjectCaseSensitive(next, k);
            free(k);
            keys++;
        }
        q += len + (end ? 1 : 0);
    }
    if (!keys) {
        cJSON_Delete(next);
        api_respond_error(ex, 400, "ValidationException", "1 validation error detected: Value null at 'tagKeys' "
                          "failed to satisfy constraint: Member must not be null");
        return;
    }
    if (control_busy(ex, fn)) {
        cJSON_Delete(next);
        return;
    }
    submit(d, ex, fn, next);
}

void tags_route(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    api_t *d = ctx;
    const char *m = req->method;
    bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0, del = strcmp(m, "DELETE") == 0;
    if (!get && !post && !del) {
        api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", m);
        return;
    }
    router_fn_t *fn = resource(d, ex, route_param(p, "arn"));
    if (!fn) return;
    if (get) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "Tags", tags_json(d, fn->cfg.name));
        api_respond_doc(ex, 200, o);
    } else if (post) {
        tag(d, ex, req, fn);
    } else {
        untag(d, ex, req, fn);
    }
}

/* ---- start-up ---- */

static void load_one(const char *function, const char *key, const char *doc, void *arg)
{
    (void)key;
    api_t *d = arg;
    cJSON *t = cJSON_Parse(doc);
    if (!router_find(d->router, function) || !cJSON_IsObject(t)) {
        log_warn("skipping stored tags of %s", function);
        cJSON_Delete(t);
        return;
    }
    put(d->tags, function, t);
}

int tags_load(api_t *d, err_t *err)
{
    return store_tags_each(d->store, load_one, d, err);
}
