/* qtable.c — the (function, qualifier) table of a function's documents
 * (EventInvokeConfig, function URLs; tags under the qualifier ""), and
 * Lambda's paging over it.
 *
 * Must never: keep two entries with one key, or page out of order.
 */
#include "api/qtable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/util.h"

static int key_cmp(const qkey_t *e, const char *function, const char *qualifier)
{
    int c = strcmp(e->function, function);
    return c ? c : strcmp(e->qualifier, qualifier);
}

/* Index of the first entry >= (function, qualifier). */
static size_t lower_bound(const qtable_t *t, const char *function, const char *qualifier)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key_cmp(t->v[mid], function, qualifier) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void entry_free(qtable_t *t, qkey_t *e)
{
    if (t->free_entry) t->free_entry(e);
    else free(e);
}

void *qtable_find(const qtable_t *t, const char *function, const char *qualifier)
{
    size_t i = lower_bound(t, function, qualifier);
    return i < t->n && key_cmp(t->v[i], function, qualifier) == 0 ? t->v[i] : NULL;
}

void qtable_put(qtable_t *t, void *entry)
{
    qkey_t *e = entry;
    size_t i = lower_bound(t, e->function, e->qualifier);
    if (i < t->n && key_cmp(t->v[i], e->function, e->qualifier) == 0) {
        if (t->v[i] != e) entry_free(t, t->v[i]);
        t->v[i] = e;
        return;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
        if (!t->v) abort();
    }
    memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof *t->v);
    t->v[i] = e;
    t->n++;
}

void qtable_drop(qtable_t *t, const char *function, const char *qualifier)
{
    for (size_t i = lower_bound(t, function, qualifier ? qualifier : ""); i < t->n;) {
        qkey_t *e = t->v[i];
        if (strcmp(e->function, function) != 0 || (qualifier && strcmp(e->qualifier, qualifier) != 0)) break;
        entry_free(t, e);
        memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof *t->v);
        t->n--;
    }
}

void qtable_clear(qtable_t *t)
{
    for (size_t i = 0; i < t->n; i++) entry_free(t, t->v[i]);
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}

const char *qtable_page(const qtable_t *t, const char *function, const char *marker, long max, cJSON *arr,
                        cJSON *(*to_json)(const void *entry, void *arg), void *arg)
{
    size_t i = lower_bound(t, function, marker && *marker ? marker : "");
    if (marker && *marker && i < t->n && key_cmp(t->v[i], function, marker) == 0) i++;
    for (long k = 0; i < t->n && strcmp(t->v[i]->function, function) == 0 && k < max; i++, k++)
        cJSON_AddItemToArray(arr, to_json(t->v[i], arg));
    if (i < t->n && i > 0 && strcmp(t->v[i]->function, function) == 0) return t->v[i - 1]->qualifier;
    return NULL;
}

int qtable_page_params(http_exchange_t *ex, const http_request_t *req, long ceiling, char **marker, long *max)
{
    *marker = util_query_param(req->query, "Marker");
    *max = ceiling;
    char *v = util_query_param(req->query, "MaxItems");
    if (!v) return 0;
    char *end;
    long m = strtol(v, &end, 10);
    if (!*v || *end || m < 1 || m > ceiling) {
        char limit[64];
        snprintf(limit, sizeof limit, m < 1 ? "greater than or equal to 1" : "less than or equal to %ld", ceiling);
        api_respond_error(ex, 400, "ValidationException",
                          "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: "
                          "Member must have value %s", v, limit);
        free(v);
        free(*marker);
        *marker = NULL;
        return -1;
    }
    free(v);
    *max = m;
    return 0;
}

void qtable_list_respond(http_exchange_t *ex, const http_request_t *req, long ceiling, const qtable_t *t,
                         const char *function, const char *key, cJSON *(*to_json)(const void *entry, void *arg),
                         void *arg)
{
    char *marker;
    long max;
    if (qtable_page_params(ex, req, ceiling, &marker, &max) < 0) return;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, key);
    const char *next = qtable_page(t, function, marker, max, arr, to_json, arg);
    if (next) cJSON_AddStringToObject(o, "NextMarker", next);
    api_respond_doc(ex, 200, o);
    free(marker);
}
