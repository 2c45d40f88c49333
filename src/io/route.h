/* route.h — a table of HTTP routes: method, path pattern, handler, body
 * limit. One table replaces a chain of prefix comparisons: the owner of a
 * server lists its routes once, asks the table for the body limit when the
 * request head is complete, and asks it again for the handler when the
 * request is complete.
 *
 * Patterns are matched segment by segment ('/' separates segments; the
 * query string, if the path carries one, is ignored):
 *
 *   literal      "functions"   the segment must be exactly this (no decoding)
 *   {name}       a non-empty segment, captured percent-decoded
 *   {name*}      only last: everything after the '/' before it, possibly
 *                empty, possibly with more '/', captured raw (not decoded)
 *
 * A row with ROUTE_TRAILING_SLASH also matches its path followed by one
 * '/'. The path is matched first, then the method: the first row (in table
 * order) whose pattern fits the path owns the request, and among the rows
 * with that same pattern string the first whose method fits wins; when
 * none does, the answer is 405 with their methods. So a literal pattern
 * that overlaps a capture ("/x/new" and "/x/{id}") goes first, and a "*"
 * row after a pattern's other rows catches its remaining methods.
 *
 * The table knows nothing of what its handlers do: `handler` is stored and
 * handed back, never called here. Matching allocates nothing: captures are
 * decoded into the caller's route_params_t.
 */
#ifndef NIMBUS_ROUTE_H
#define NIMBUS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "io/http.h"

#define ROUTE_MAX_PARAMS 4        /* captures per pattern */
#define ROUTE_PARAM_BYTES 1024    /* decoded captures of one match, NULs included */
#define ROUTE_ALLOW_BYTES 96      /* "GET, PUT, DELETE" of a 405 */

typedef struct route_params route_params_t;

/* What a route hands back to its owner; `ctx` is whatever the owner passes
 * to its own dispatch (the table never calls it). */
typedef void (*route_handler_fn)(void *ctx, http_exchange_t *ex, http_request_t *req,
                                 const route_params_t *params);

enum {
    ROUTE_TRAILING_SLASH = 1u << 0,   /* "/a/b/" matches "/a/b" too */
};

typedef struct {
    const char *method;        /* "GET", "POST", ... (exact, case-sensitive), or "*" for any */
    const char *pattern;       /* "/2015-03-31/functions/{name}/aliases/{alias}" */
    route_handler_fn handler;  /* opaque to the table */
    size_t body_limit;         /* largest body this route accepts; 0 -> the table's default */
    unsigned flags;            /* ROUTE_* */
} route_t;

typedef struct {
    const route_t *routes;
    size_t nroutes;
    size_t default_body_limit; /* for rows with 0, and for requests no row takes */
} route_table_t;

/* One capture. `name` points into the pattern and is not NUL-terminated. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;         /* decoded ({x}) or raw ({x*}), NUL-terminated, in `buf` */
    size_t len;
    const char *raw;           /* the segment as sent: points into the request path */
    size_t raw_len;
} route_param_t;

struct route_params {
    size_t n;                  /* captures, in pattern order */
    route_param_t v[ROUTE_MAX_PARAMS];
    char buf[ROUTE_PARAM_BYTES];
};

typedef enum {
    ROUTE_MATCHED,             /* `route` and the params are set */
    ROUTE_BAD_PARAM,           /* pattern and method matched, but a {x} capture
                                  cannot be decoded (see route_param_error_t):
                                  `route` and `bad` say which */
    ROUTE_METHOD_NOT_ALLOWED,  /* a pattern owns the path, but none of its rows
                                  takes this method: `route` is its first row,
                                  `allow` lists their methods */
    ROUTE_NOT_FOUND,           /* no row's pattern fits the path */
} route_status_t;

typedef enum {
    ROUTE_PARAM_OK,
    ROUTE_PARAM_MALFORMED,     /* a '%' not followed by two hex digits */
    ROUTE_PARAM_SLASH,         /* decodes to something containing '/' */
    ROUTE_PARAM_NUL,           /* decodes to something containing a NUL byte */
    ROUTE_PARAM_TOO_LONG,      /* the captures do not fit in ROUTE_PARAM_BYTES */
} route_param_error_t;

typedef struct {
    route_status_t status;
    const route_t *route;      /* see route_status_t; NULL for ROUTE_NOT_FOUND */
    /* ROUTE_BAD_PARAM: which capture and why. `raw` is the segment as sent. */
    struct {
        route_param_error_t why;
        const char *name;
        size_t name_len;
        const char *raw;
        size_t raw_len;
    } bad;
    char allow[ROUTE_ALLOW_BYTES];  /* ROUTE_METHOD_NOT_ALLOWED: "GET, POST", table
                                       order, no duplicates; else "" */
} route_match_t;

/* Match `method` + `path` (a request's raw, still percent-encoded path; a
 * '?' ends it). Fills `m` always and `params` (which may be NULL when only
 * the route is wanted) when the status is ROUTE_MATCHED; returns m->status.
 * Allocates nothing. */
route_status_t route_match(const route_table_t *t, const char *method, const char *path,
                           route_match_t *m, route_params_t *params);

/* The body limit for a request whose head is complete: that of the row
 * route_match would pick (ROUTE_MATCHED or ROUTE_BAD_PARAM), else the
 * table's default. */
size_t route_body_limit(const route_table_t *t, const char *method, const char *path);
/* The same as an http_body_limit_fn, for a server whose `arg` is the
 * table itself. */
size_t route_http_body_limit(const http_request_t *req, void *table);

/* A capture by name: its value, or NULL when the route has no such
 * capture. */
const char *route_param(const route_params_t *p, const char *name);

/* Check every row of a table: a method, a pattern starting with '/',
 * braces closed, names non-empty and unique within a row, at most
 * ROUTE_MAX_PARAMS captures, {x*} only last. Meant for start-up and tests
 * (route_match treats a broken pattern as one that never matches). */
int route_table_check(const route_table_t *t, err_t *err);

#endif
