/* json.c — strict parsing of outside JSON (json.h).
 *
 * cJSON does the parsing; this file checks what cJSON lets through, on the
 * raw text (NULs and control characters, trailing bytes) and on the tree
 * (duplicate keys). Must never: accept a body whose meaning depends on
 * which of two keys or which part of a string a reader sees.
 */
#include "base/json.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static cJSON *parse_one(const char *text, size_t len, size_t *used, err_t *err)
{
    if (!text || !len) {
        err_set(err, ERR_INVALID, "the body is empty");
        return NULL;
    }
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!doc) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        err_set(err, ERR_INVALID, "not valid JSON (at byte %zu)", off);
        return NULL;
    }
    size_t k = (size_t)(end - text);
    while (k < len && json_space(text[k])) k++;
    if (k < len) {
        cJSON_Delete(doc);
        err_set(err, ERR_INVALID, "unexpected data after the JSON document (at byte %zu)", k);
        return NULL;
    }
    *used = (size_t)(end - text);
    return doc;
}

cJSON *json_parse_document(const char *text, size_t len, err_t *err)
{
    size_t used;
    return parse_one(text, len, &used, err);
}

/* The text cJSON accepted is valid JSON up to control characters, so a
 * backslash only ever appears inside a string and starts an escape. */
static int scan_strings(const char *t, size_t n, err_t *err)
{
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!in) {
            if (c == '"') in = true;
            else if (c < 0x20 && !json_space((char)c))
                return err_set(err, ERR_INVALID, "a control character outside a string (at byte %zu)", i);
            continue;
        }
        if (c == '"') {
            in = false;
        } else if (c < 0x20) {
            return err_set(err, ERR_INVALID, "an unescaped control character in a string (at byte %zu)", i);
        } else if (c == '\\' && i + 1 < n) {
            if (t[i + 1] == 'u' && i + 5 < n && !memcmp(t + i + 2, "0000", 4))
                return err_set(err, ERR_INVALID, "a string holds \\u0000 (at byte %zu)", i);
            i++;
        }
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every object of the tree, each key once. Sorted copies of the names
 * keep a body of many keys from costing their square. */
static int check_keys(const cJSON *node, err_t *err)
{
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node)) return 0;
    size_t n = 0;
    for (const cJSON *c = node->child; c; c = c->next) {
        if (check_keys(c, err)) return -1;
        n++;
    }
    if (!cJSON_IsObject(node) || n < 2) return 0;
    const char **names = malloc(n * sizeof *names);
    if (!names) abort();
    size_t k = 0;
    for (const cJSON *c = node->child; c; c = c->next) names[k++] = c->string ? c->string : "";
    qsort(names, n, sizeof *names, cmp_names);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = err_set(err, ERR_INVALID, "duplicate key \"%.64s\" in an object", names[i]);
    free(names);
    return rc;
}

cJSON *json_parse_strict(const char *text, size_t len, err_t *err)
{
    size_t used;
    cJSON *doc = parse_one(text, len, &used, err);
    if (!doc) return NULL;
    if (scan_strings(text, used, err) || check_keys(doc, err)) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}
