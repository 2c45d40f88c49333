/* url_cors.c — a function URL's Cors configuration: validated with
 * Lambda's limits and messages, written back as GetFunctionUrlConfig shows
 * it, and applied to requests (preflights answered by the platform, the
 * access-control-* headers added to the function's answers).
 *
 * Must never decide on an Origin it was not configured for: an origin not
 * in AllowOrigins gets no access-control-* header at all, and the browser
 * refuses the answer.
 */
#include "api/url_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

typedef struct {
    char **items;
    size_t n;
} strlist_t;

struct url_cors {
    bool allow_credentials;
    strlist_t allow_headers, allow_methods, allow_origins, expose_headers;
    int max_age;
};

/* A list member: its JSON name, Lambda's field path in messages, limits. */
typedef struct {
    const char *json;
    const char *path;
    size_t max_items, min_len, max_len;
    size_t off;
} list_field_t;

static const list_field_t LISTS[] = {
    {"AllowHeaders", "cors.allowHeaders", 100, 0, 1024, offsetof(url_cors_t, allow_headers)},
    {"AllowMethods", "cors.allowMethods", 6, 0, 6, offsetof(url_cors_t, allow_methods)},
    {"AllowOrigins", "cors.allowOrigins", 100, 1, 253, offsetof(url_cors_t, allow_origins)},
    {"ExposeHeaders", "cors.exposeHeaders", 100, 0, 1024, offsetof(url_cors_t, expose_headers)},
};

static strlist_t *list_of(const url_cors_t *c, const list_field_t *f)
{
    return (strlist_t *)((char *)c + f->off);
}

static void list_free(strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void url_cors_free(url_cors_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < sizeof(LISTS) / sizeof(LISTS[0]); i++) list_free(list_of(c, &LISTS[i]));
    free(c);
}

/* Lambda prints a list in its messages as "[a, b]". */
static void print_list(buf_t *b, const cJSON *arr)
{
    buf_append(b, "[", 1);
    const cJSON *it;
    bool first = true;
    cJSON_ArrayForEach(it, arr) {
        if (!first) buf_append(b, ", ", 2);
        first = false;
        buf_appendf(b, "%.300s", it->valuestring);
        if (b->len > 400) {
            buf_append(b, "...", 3);
            break;
        }
    }
    buf_append(b, "]", 1);
}

/* One "Value '...' at 'path' failed to satisfy constraint: ..." clause. */
static void violation(buf_t *msgs, int *count, const char *value, const char *path, const char *constraint)
{
    buf_appendf(msgs, "%sValue '%s' at '%s' failed to satisfy constraint: %s", *count ? "; " : "", value, path,
                constraint);
    (*count)++;
}

static void check_list(const cJSON *arr, const list_field_t *f, buf_t *msgs, int *count)
{
    buf_t shown = {0};
    print_list(&shown, arr);
    char constraint[256];
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n > f->max_items) {
        snprintf(constraint, sizeof(constraint), "Member must have length less than or equal to %zu", f->max_items);
        violation(msgs, count, shown.data, f->path, constraint);
    }
    bool too_long = false, too_short = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        size_t len = strlen(it->valuestring);
        if (len > f->max_len) too_long = true;
        if (len < f->min_len) too_short = true;
    }
    if (too_long || too_short) {
        char a[80] = "", b[80] = "";
        if (too_long) snprintf(a, sizeof(a), "Member must have length less than or equal to %zu", f->max_len);
        if (too_short) snprintf(b, sizeof(b), "Member must have length greater than or equal to %zu", f->min_len);
        snprintf(constraint, sizeof(constraint), "Member must satisfy constraint: [%s%s%s]", a,
                 too_long && too_short ? ", " : "", b);
        violation(msgs, count, shown.data, f->path, constraint);
    }
    buf_free(&shown);
}

url_cors_t *url_cors_parse(const cJSON *cors, err_t *err)
{
    if (!cors || cJSON_IsNull(cors)) return NULL;
    if (!cJSON_IsObject(cors)) {
        err_set(err, ERR_INVALID, "Cors must be an object");
        return NULL;
    }
    url_cors_t *c = calloc(1, sizeof(*c));
    if (!c) abort();
    buf_t msgs = {0};
    int count = 0;

    const cJSON *cred = cJSON_GetObjectItemCaseSensitive(cors, "AllowCredentials");
    if (cred && !cJSON_IsNull(cred)) {
        if (!cJSON_IsBool(cred)) {
            err_set(err, ERR_INVALID, "Cors.AllowCredentials must be a boolean");
            goto fail;
        }
        c->allow_credentials = cJSON_IsTrue(cred);
    }
    for (size_t i = 0; i < sizeof(LISTS) / sizeof(LISTS[0]); i++) {
        const list_field_t *f = &LISTS[i];
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(cors, f->json);
        if (!arr || cJSON_IsNull(arr)) continue;
        const cJSON *it;
        bool strings = cJSON_IsArray(arr);
        if (strings)
            cJSON_ArrayForEach(it, arr) if (!cJSON_IsString(it)) strings = false;
        if (!strings) {
            err_set(err, ERR_INVALID, "Cors.%s must be a list of strings", f->json);
            goto fail;
        }
        check_list(arr, f, &msgs, &count);
        strlist_t *l = list_of(c, f);
        l->items = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(char *));
        if (!l->items) abort();
        cJSON_ArrayForEach(it, arr) {
            l->items[l->n] = strdup(it->valuestring);
            if (!l->items[l->n]) abort();
            l->n++;
        }
    }
    const cJSON *age = cJSON_GetObjectItemCaseSensitive(cors, "MaxAge");
    if (age && !cJSON_IsNull(age)) {
        if (!cJSON_IsNumber(age) || age->valuedouble != (double)(long long)age->valuedouble) {
            err_set(err, ERR_INVALID, "Cors.MaxAge must be an integer");
            goto fail;
        }
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)age->valuedouble);
        if (age->valuedouble > 86400)
            violation(&msgs, &count, v, "cors.maxAge", "Member must have value less than or equal to 86400");
        else if (age->valuedouble < 0)
            violation(&msgs, &count, v, "cors.maxAge", "Member must have value greater than or equal to 0");
        else
            c->max_age = (int)age->valuedouble;
    }
    if (count) {
        err_set(err, ERR_VALIDATION, "%d validation error%s detected: %s", count, count > 1 ? "s" : "",
                msgs.data);
        goto fail;
    }
    buf_free(&msgs);
    return c;
fail:
    buf_free(&msgs);
    url_cors_free(c);
    return NULL;
}

cJSON *url_cors_to_json(const url_cors_t *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "AllowCredentials", c && c->allow_credentials);
    for (size_t i = 0; i < sizeof(LISTS) / sizeof(LISTS[0]); i++) {
        cJSON *arr = cJSON_AddArrayToObject(o, LISTS[i].json);
        if (!c) continue;
        const strlist_t *l = list_of(c, &LISTS[i]);
        for (size_t j = 0; j < l->n; j++) cJSON_AddItemToArray(arr, cJSON_CreateString(l->items[j]));
    }
    cJSON_AddNumberToObject(o, "MaxAge", c ? c->max_age : 0);
    return o;
}

/* ---- applying it ---------------------------------------------------------- */

static const char *req_header(const http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

static bool list_has(const strlist_t *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcasecmp(l->items[i], s) == 0) return true;
    return false;
}

/* The Access-Control-Allow-Origin value for `origin`, or NULL when the
 * origin is not allowed. A wildcard is answered as "*" unless credentials
 * are allowed (browsers refuse "*" with credentials: the origin is echoed). */
static const char *allowed_origin(const url_cors_t *c, const char *origin)
{
    if (!origin || !*origin) return NULL;
    if (list_has(&c->allow_origins, "*")) return c->allow_credentials ? origin : "*";
    return list_has(&c->allow_origins, origin) ? origin : NULL;
}

static void join(buf_t *b, const strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (i) buf_append(b, ",", 1);
        buf_appendf(b, "%s", l->items[i]);
    }
}

static void remove_header(url_response_t *r, const char *name)
{
    size_t o = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) {
            free((char *)r->headers[i].name);
            free((char *)r->headers[i].value);
        } else {
            r->headers[o++] = r->headers[i];
        }
    }
    r->nheaders = o;
}

static void set_header(url_response_t *r, const char *name, const char *value)
{
    remove_header(r, name);
    url_response_add_header(r, name, value);
}

static void set_list(url_response_t *r, const char *name, const strlist_t *l)
{
    if (!l->n) return;
    buf_t b = {0};
    join(&b, l);
    set_header(r, name, b.data);
    buf_free(&b);
}

static bool names_origin(const char *vary)
{
    if (strcmp(vary, "*") == 0) return true;
    for (const char *p = vary; *p; p++)
        if (strncasecmp(p, "origin", 6) == 0) return true;
    return false;
}

/* An echoed origin makes the answer depend on Origin: say so to caches,
 * keeping whatever else the function's Vary names. */
static void add_vary_origin(url_response_t *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, "Vary") != 0) continue;
        if (names_origin(r->headers[i].value)) return;
        buf_t b = {0};
        buf_appendf(&b, "%s, Origin", r->headers[i].value);
        free((char *)r->headers[i].value);
        r->headers[i].value = buf_steal(&b, NULL);
        return;
    }
    url_response_add_header(r, "Vary", "Origin");
}

/* The headers every allowed answer carries (preflight or not). */
static void common_headers(const url_cors_t *c, const char *allow, url_response_t *r)
{
    set_header(r, "Access-Control-Allow-Origin", allow);
    if (c->allow_credentials) set_header(r, "Access-Control-Allow-Credentials", "true");
    if (strcmp(allow, "*") != 0) add_vary_origin(r);
}

bool url_cors_preflight(const url_cors_t *c, const http_request_t *req, url_response_t *out)
{
    if (!c || !req->method || strcmp(req->method, "OPTIONS") != 0) return false;
    const char *origin = req_header(req, "Origin");
    if (!origin || !req_header(req, "Access-Control-Request-Method")) return false;
    memset(out, 0, sizeof(*out));
    out->status = 200;
    const char *allow = allowed_origin(c, origin);
    if (!allow) return true;
    common_headers(c, allow, out);
    set_list(out, "Access-Control-Allow-Methods", &c->allow_methods);
    set_list(out, "Access-Control-Allow-Headers", &c->allow_headers);
    set_list(out, "Access-Control-Expose-Headers", &c->expose_headers);
    if (c->max_age > 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", c->max_age);
        set_header(out, "Access-Control-Max-Age", v);
    }
    return true;
}

void url_cors_apply(const url_cors_t *c, const http_request_t *req, url_response_t *resp)
{
    if (!c) return;
    const char *allow = allowed_origin(c, req_header(req, "Origin"));
    if (!allow) return;
    common_headers(c, allow, resp);
    set_list(resp, "Access-Control-Expose-Headers", &c->expose_headers);
}
