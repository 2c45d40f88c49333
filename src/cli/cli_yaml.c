/* cli_yaml.c — YAML text to a cJSON document, on libyaml's parser events,
 * for the project files `nimbus deploy` reads (SAM's template.yaml,
 * Serverless Devs' s.yaml).
 *
 * Owns the mapping of YAML onto JSON: mappings become objects (keys are
 * scalars, a repeated key is an error, `<<` merges), sequences arrays, plain
 * scalars are typed the way the YAML 1.2 core schema types them (null, true/
 * false, numbers; everything else a string), quoted scalars are strings.
 * Anchors and aliases are expanded (a copy per alias, bounded so an alias
 * bomb is refused). CloudFormation's short intrinsic tags become their long
 * form: `!Ref X` → {"Ref":"X"}, `!GetAtt A.B` → {"Fn::GetAtt":["A","B"]},
 * `!Sub ...` and every other `!Name` → {"Fn::Name": ...}.
 *
 * Must never: print, guess past a syntax error (the error names its line),
 * or recurse without a depth bound.
 */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 200000

typedef struct {
    char *name;
    cJSON *node;       /* a copy of its node, kept apart from the tree (a
                          merged or refused node is freed from the tree) */
    size_t nodes;      /* how many nodes a copy of it adds */
} yaml_anchor_t;

typedef struct {
    yaml_parser_t p;
    yaml_anchor_t *anchors;
    size_t nanchors;
    size_t nodes;      /* nodes made so far, copies included */
    err_t *err;
} yaml_ctx_t;

static int yaml_fail(yaml_ctx_t *y, const yaml_mark_t *m, const char *fmt, const char *arg)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    return err_set(y->err, ERR_INVALID, "line %zu: %s", m->line + 1, msg);
}

static int yaml_next(yaml_ctx_t *y, yaml_event_t *ev)
{
    if (yaml_parser_parse(&y->p, ev)) return 0;
    const char *problem = y->p.problem ? y->p.problem : "not valid YAML";
    if (y->p.context)
        return err_set(y->err, ERR_INVALID, "line %zu: %s %s", y->p.problem_mark.line + 1, problem,
                       y->p.context);
    return err_set(y->err, ERR_INVALID, "line %zu: %s", y->p.problem_mark.line + 1, problem);
}

static size_t yaml_count(const cJSON *j)
{
    size_t n = 1;
    for (const cJSON *c = j ? j->child : NULL; c; c = c->next) n += yaml_count(c);
    return n;
}

/* A plain scalar's JSON type; quoted scalars never come here. */
static cJSON *yaml_plain(const char *s)
{
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return cJSON_CreateNull();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) return cJSON_CreateTrue();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) return cJSON_CreateFalse();
    /* Numbers: [-+]digits[.digits][e[-+]digits] only, so "1.2.3", "0x1f"
     * and "inf" stay text. */
    const char *q = s;
    if (*q == '-' || *q == '+') q++;
    if (*q < '0' || *q > '9') return cJSON_CreateString(s);
    while (*q >= '0' && *q <= '9') q++;
    if (*q == '.') {
        q++;
        while (*q >= '0' && *q <= '9') q++;
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '-' || *q == '+') q++;
        if (*q < '0' || *q > '9') return cJSON_CreateString(s);
        while (*q >= '0' && *q <= '9') q++;
    }
    if (*q) return cJSON_CreateString(s);
    errno = 0;
    double d = strtod(s, NULL);
    if (errno || !isfinite(d)) return cJSON_CreateString(s);
    return cJSON_CreateNumber(d);
}

/* `!Name value` in CloudFormation's long form; `value` is consumed. */
static cJSON *yaml_intrinsic(const char *tag, cJSON *value)
{
    const char *name = tag + 1;
    cJSON *o = cJSON_CreateObject();
    if (!strcmp(name, "Ref") || !strcmp(name, "Condition")) {
        cJSON_AddItemToObject(o, name, value);
    } else if (!strcmp(name, "GetAtt") && cJSON_IsString(value)) {
        /* "Resource.Attribute": the attribute may itself hold dots. */
        const char *dot = strchr(value->valuestring, '.');
        cJSON *arr = cJSON_CreateArray();
        if (dot) {
            char *res = strndup(value->valuestring, (size_t)(dot - value->valuestring));
            if (!res) abort();
            cJSON_AddItemToArray(arr, cJSON_CreateString(res));
            cJSON_AddItemToArray(arr, cJSON_CreateString(dot + 1));
            free(res);
        } else {
            cJSON_AddItemToArray(arr, cJSON_CreateString(value->valuestring));
        }
        cJSON_Delete(value);
        cJSON_AddItemToObject(o, "Fn::GetAtt", arr);
    } else {
        char key[80];
        snprintf(key, sizeof key, "Fn::%s", name);
        cJSON_AddItemToObject(o, key, value);
    }
    return o;
}

static cJSON *yaml_node(yaml_ctx_t *y, yaml_event_t *ev, int depth);

static int yaml_remember(yaml_ctx_t *y, const yaml_char_t *anchor, cJSON *node)
{
    if (!anchor) return 0;
    yaml_anchor_t *na = realloc(y->anchors, (y->nanchors + 1) * sizeof *na);
    if (!na) abort();
    y->anchors = na;
    na[y->nanchors].name = strdup((const char *)anchor);
    if (!na[y->nanchors].name) abort();
    na[y->nanchors].node = cJSON_Duplicate(node, 1);
    na[y->nanchors].nodes = yaml_count(node);
    y->nanchors++;
    return 0;
}

/* The local tag of a node ("!Ref"), or NULL for none or a standard one. */
static const char *yaml_local_tag(const yaml_char_t *tag)
{
    const char *t = (const char *)tag;
    return t && t[0] == '!' && t[1] && t[1] != '!' ? t : NULL;
}

/* Merge `src`'s members (an object, or an array of objects) into `dst`
 * where dst has no member of that name yet: YAML's `<<` key. */
static int yaml_merge(yaml_ctx_t *y, cJSON *dst, const cJSON *src, const yaml_mark_t *m)
{
    if (cJSON_IsArray(src)) {
        for (const cJSON *s = src->child; s; s = s->next)
            if (yaml_merge(y, dst, s, m) < 0) return -1;
        return 0;
    }
    if (!cJSON_IsObject(src)) return yaml_fail(y, m, "'<<' needs a mapping or a list of mappings%s", "");
    for (const cJSON *c = src->child; c; c = c->next)
        if (!cJSON_GetObjectItemCaseSensitive(dst, c->string))
            cJSON_AddItemToObject(dst, c->string, cJSON_Duplicate(c, 1));
    return 0;
}

static cJSON *yaml_mapping(yaml_ctx_t *y, int depth)
{
    cJSON *o = cJSON_CreateObject();
    /* `<<` values, merged once the mapping's own keys are known: those win. */
    cJSON *merges = cJSON_CreateArray();
    yaml_mark_t mm = {0};
    for (;;) {
        yaml_event_t kev;
        if (yaml_next(y, &kev) < 0) goto fail;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            if (yaml_merge(y, o, merges, &mm) < 0) goto fail;
            cJSON_Delete(merges);
            return o;
        }
        yaml_mark_t km = kev.start_mark;
        bool merge = false;
        char *key = NULL;
        if (kev.type == YAML_SCALAR_EVENT) {
            key = strdup((const char *)kev.data.scalar.value);
            if (!key) abort();
            merge = !strcmp(key, "<<") && kev.data.scalar.plain_implicit;
        } else if (kev.type == YAML_ALIAS_EVENT) {
            yaml_event_delete(&kev);
            yaml_fail(y, &km, "an alias as a mapping key is not supported%s", "");
            goto fail;
        } else {
            yaml_event_delete(&kev);
            yaml_fail(y, &km, "a mapping key must be a scalar%s", "");
            goto fail;
        }
        yaml_event_delete(&kev);
        yaml_event_t vev;
        if (yaml_next(y, &vev) < 0) {
            free(key);
            goto fail;
        }
        cJSON *v = yaml_node(y, &vev, depth + 1);
        if (!v) {
            free(key);
            goto fail;
        }
        int rc = 0;
        if (merge) {
            if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) {
                cJSON_Delete(v);
                rc = yaml_fail(y, &km, "'<<' needs a mapping or a list of mappings%s", "");
            } else {
                cJSON_AddItemToArray(merges, v);
                mm = km;
            }
        } else if (cJSON_GetObjectItemCaseSensitive(o, key)) {
            cJSON_Delete(v);
            rc = yaml_fail(y, &km, "duplicate key '%s'", key);
        } else {
            cJSON_AddItemToObject(o, key, v);
        }
        free(key);
        if (rc < 0) goto fail;
    }
fail:
    cJSON_Delete(merges);
    cJSON_Delete(o);
    return NULL;
}

static cJSON *yaml_sequence(yaml_ctx_t *y, int depth)
{
    cJSON *a = cJSON_CreateArray();
    for (;;) {
        yaml_event_t ev;
        if (yaml_next(y, &ev) < 0) break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return a;
        }
        cJSON *v = yaml_node(y, &ev, depth + 1);
        if (!v) break;
        cJSON_AddItemToArray(a, v);
    }
    cJSON_Delete(a);
    return NULL;
}

/* One node, starting at `ev` (consumed); NULL with y->err set. */
static cJSON *yaml_node(yaml_ctx_t *y, yaml_event_t *ev, int depth)
{
    yaml_mark_t m = ev->start_mark;
    if (depth > YAML_MAX_DEPTH) {
        yaml_event_delete(ev);
        yaml_fail(y, &m, "nested deeper than %s levels", "64");
        return NULL;
    }
    cJSON *node = NULL;
    char *anchor = NULL, *tag = NULL;
    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        for (size_t i = y->nanchors; i-- > 0;) {
            if (strcmp(y->anchors[i].name, name) != 0) continue;
            y->nodes += y->anchors[i].nodes;
            if (y->nodes > YAML_MAX_NODES) {
                yaml_fail(y, &m, "aliases expand to too many nodes%s", "");
            } else {
                node = cJSON_Duplicate(y->anchors[i].node, 1);
            }
            yaml_event_delete(ev);
            return node;
        }
        yaml_fail(y, &m, "unknown alias '*%s'", name);
        yaml_event_delete(ev);
        return NULL;
    }
    case YAML_SCALAR_EVENT: {
        const char *ltag = yaml_local_tag(ev->data.scalar.tag);
        const char *s = (const char *)ev->data.scalar.value;
        const char *std = (const char *)ev->data.scalar.tag;
        if (ev->data.scalar.plain_implicit && !std) node = yaml_plain(s);
        else if (std && !ltag && strcmp(std, YAML_STR_TAG) != 0) node = yaml_plain(s);
        else node = cJSON_CreateString(s);
        if (ltag) node = yaml_intrinsic(ltag, node);
        if (ev->data.scalar.anchor) anchor = strdup((const char *)ev->data.scalar.anchor);
        y->nodes++;
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool map = ev->type == YAML_MAPPING_START_EVENT;
        const yaml_char_t *a = map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
        const char *ltag = yaml_local_tag(map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
        if (a) anchor = strdup((const char *)a);
        if (ltag) tag = strdup(ltag);
        yaml_event_delete(ev);
        y->nodes++;
        node = map ? yaml_mapping(y, depth) : yaml_sequence(y, depth);
        if (node && tag) node = yaml_intrinsic(tag, node);
        if (node && y->nodes > YAML_MAX_NODES) {
            cJSON_Delete(node);
            node = NULL;
            yaml_fail(y, &m, "too many nodes%s", "");
        }
        if (node && anchor) yaml_remember(y, (yaml_char_t *)anchor, node);
        free(anchor);
        free(tag);
        return node;
    }
    default:
        yaml_fail(y, &m, "unexpected YAML event%s", "");
        break;
    }
    yaml_event_delete(ev);
    if (node && anchor) yaml_remember(y, (yaml_char_t *)anchor, node);
    free(anchor);
    return node;
}

cJSON *cli_yaml_parse(const char *text, size_t len, err_t *err)
{
    yaml_ctx_t y = {.err = err};
    if (!yaml_parser_initialize(&y.p)) abort();
    yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
    cJSON *doc = NULL;
    yaml_event_t ev;
    bool failed = false, stream_ended = false;
    /* stream start, then the first document (an empty stream is null). */
    while (!failed && !doc) {
        if (yaml_next(&y, &ev) < 0) {
            failed = true;
            break;
        }
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            doc = cJSON_CreateNull();
            stream_ended = true;
            break;
        }
        doc = yaml_node(&y, &ev, 0);
        if (!doc) failed = true;
    }
    if (doc && !failed && !stream_ended) {
        /* The rest must still be valid YAML: a syntax error further down is
         * not ignored because the document ended first. Later documents
         * are refused (a project file is one document). */
        for (;;) {
            if (yaml_next(&y, &ev) < 0) {
                failed = true;
                break;
            }
            yaml_event_type_t t = ev.type;
            yaml_mark_t m = ev.start_mark;
            yaml_event_delete(&ev);
            if (t == YAML_STREAM_END_EVENT || t == YAML_NO_EVENT) break;
            if (t == YAML_DOCUMENT_START_EVENT) {
                yaml_fail(&y, &m, "more than one YAML document%s", "");
                failed = true;
                break;
            }
        }
    }
    if (failed) {
        cJSON_Delete(doc);
        doc = NULL;
    }
    for (size_t i = 0; i < y.nanchors; i++) {
        free(y.anchors[i].name);
        cJSON_Delete(y.anchors[i].node);
    }
    free(y.anchors);
    yaml_parser_delete(&y.p);
    return doc;
}
