/* test_route.c — the route table, against the routes the daemon serves
 * today: the public API (Lambda control plane, invoke, concurrency,
 * provisioned concurrency, Nimbus' own /nimbus/v1 routes) and the runtime
 * API each instance sees (Lambda's, and Tencent SCF's on top of it).
 *
 * Where today's routers answer a wrong method only after looking up the
 * function (404 when it does not exist, else 404 or 405), the tables end a
 * path's rows with a "*" row for that; where they answer 405 (or 404) at
 * once, the table's own ROUTE_METHOD_NOT_ALLOWED says so. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/route.h"

/* The case tables below leave the fields a case does not need out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ---- handlers: never called, only told apart ---- */

#define H(n) \
    static void n(void *c, http_exchange_t *e, http_request_t *r, const route_params_t *p) \
    { \
        (void)c, (void)e, (void)r, (void)p; \
    }
H(h_invoke) H(h_list_functions) H(h_create_function) H(h_get_function) H(h_delete_function)
H(h_get_config) H(h_update_config) H(h_update_code) H(h_control_unknown)
H(h_publish) H(h_list_versions) H(h_list_aliases) H(h_create_alias) H(h_get_alias)
H(h_update_alias) H(h_delete_alias) H(h_versions_other)
H(h_get_concurrency) H(h_put_concurrency) H(h_delete_concurrency) H(h_concurrency_other)
H(h_get_provisioned) H(h_put_provisioned) H(h_delete_provisioned) H(h_provisioned_other)
H(h_instances) H(h_logs) H(h_exec) H(h_exec_poll) H(h_code) H(h_health)
H(h_next) H(h_init_error) H(h_response) H(h_error) H(h_ping) H(h_logs_api) H(h_telemetry)
H(h_not_found) H(h_scf_ready) H(h_scf_response) H(h_scf_error)

#define MIB (1024u * 1024u)
#define INVOKE_LIMIT (6291456u + 4096u)                 /* payload limit + headroom */
#define ZIP_LIMIT (52428800u / 3u * 4u + 8u + MIB)      /* base64 ZIP + settings */
#define RAPI_LIMIT (32u * MIB)

#define FN "/2015-03-31/functions"
#define S ROUTE_TRAILING_SLASH

static const route_t API_ROUTES[] = {
    { "POST", FN "/{name}/invocations", h_invoke, INVOKE_LIMIT, 0 },
    { "GET", FN, h_list_functions, ZIP_LIMIT, S },
    { "POST", FN, h_create_function, ZIP_LIMIT, S },
    { "GET", FN "/{name}", h_get_function, ZIP_LIMIT, S },
    { "DELETE", FN "/{name}", h_delete_function, ZIP_LIMIT, S },
    { "*", FN "/{name}", h_control_unknown, ZIP_LIMIT, S },
    { "GET", FN "/{name}/configuration", h_get_config, ZIP_LIMIT, 0 },
    { "PUT", FN "/{name}/configuration", h_update_config, ZIP_LIMIT, 0 },
    { "*", FN "/{name}/configuration", h_control_unknown, ZIP_LIMIT, 0 },
    { "PUT", FN "/{name}/code", h_update_code, ZIP_LIMIT, 0 },
    { "*", FN "/{name}/code", h_control_unknown, ZIP_LIMIT, 0 },
    { "POST", FN "/{name}/versions", h_publish, ZIP_LIMIT, 0 },
    { "GET", FN "/{name}/versions", h_list_versions, ZIP_LIMIT, 0 },
    { "*", FN "/{name}/versions", h_versions_other, ZIP_LIMIT, 0 },
    { "GET", FN "/{name}/aliases", h_list_aliases, ZIP_LIMIT, 0 },
    { "POST", FN "/{name}/aliases", h_create_alias, ZIP_LIMIT, 0 },
    { "*", FN "/{name}/aliases", h_versions_other, ZIP_LIMIT, 0 },
    { "GET", FN "/{name}/aliases/{alias}", h_get_alias, ZIP_LIMIT, 0 },
    { "PUT", FN "/{name}/aliases/{alias}", h_update_alias, ZIP_LIMIT, 0 },
    { "DELETE", FN "/{name}/aliases/{alias}", h_delete_alias, ZIP_LIMIT, 0 },
    { "*", FN "/{name}/aliases/{alias}", h_versions_other, ZIP_LIMIT, 0 },
    /* Anything else under a function: looked up, then "Unknown operation". */
    { "*", FN "/{name}/{rest*}", h_control_unknown, ZIP_LIMIT, 0 },

    { "GET", "/2017-10-31/functions/{name}/concurrency", h_get_concurrency, 0, 0 },
    { "PUT", "/2017-10-31/functions/{name}/concurrency", h_put_concurrency, 0, 0 },
    { "DELETE", "/2017-10-31/functions/{name}/concurrency", h_delete_concurrency, 0, 0 },
    { "*", "/2017-10-31/functions/{name}/concurrency", h_concurrency_other, 0, 0 },
    { "GET", "/2019-09-30/functions/{name}/concurrency", h_get_concurrency, 0, 0 },
    { "PUT", "/2019-09-30/functions/{name}/concurrency", h_put_concurrency, 0, 0 },
    { "DELETE", "/2019-09-30/functions/{name}/concurrency", h_delete_concurrency, 0, 0 },
    { "*", "/2019-09-30/functions/{name}/concurrency", h_concurrency_other, 0, 0 },
    { "GET", "/2019-09-30/functions/{name}/provisioned-concurrency", h_get_provisioned, 0, 0 },
    { "PUT", "/2019-09-30/functions/{name}/provisioned-concurrency", h_put_provisioned, 0, 0 },
    { "DELETE", "/2019-09-30/functions/{name}/provisioned-concurrency", h_delete_provisioned, 0, 0 },
    { "*", "/2019-09-30/functions/{name}/provisioned-concurrency", h_provisioned_other, 0, 0 },

    { "GET", "/nimbus/v1/functions/{name}/instances", h_instances, 0, 0 },
    { "GET", "/nimbus/v1/functions/{name}/logs", h_logs, 0, 0 },
    { "POST", "/nimbus/v1/functions/{name}/instances/{id}/exec", h_exec, 0, 0 },
    { "GET", "/nimbus/v1/execs/{id*}", h_exec_poll, 0, 0 },
    { "GET", "/nimbus/v1/code/{file*}", h_code, 0, 0 },
    { "*", "/nimbus/v1/health", h_health, 0, 0 },
};
static const route_table_t API = { API_ROUTES, sizeof API_ROUTES / sizeof API_ROUTES[0], MIB };

#define LAMBDA_RUNTIME_ROWS \
    { "GET", "/2018-06-01/runtime/invocation/next", h_next, 0, 0 }, \
    { "POST", "/2018-06-01/runtime/init/error", h_init_error, 0, 0 }, \
    { "POST", "/2018-06-01/runtime/invocation/{id}/response", h_response, 0, 0 }, \
    { "POST", "/2018-06-01/runtime/invocation/{id}/error", h_error, 0, 0 }, \
    { "*", "/2018-06-01/ping", h_ping, 0, 0 }, \
    /* Logs and Telemetry subscriptions: 202 to PUT, 404 to the rest. */ \
    { "PUT", "/2020-08-15/logs", h_logs_api, 0, 0 }, \
    { "*", "/2020-08-15/logs", h_not_found, 0, 0 }, \
    { "PUT", "/2022-07-01/telemetry", h_telemetry, 0, 0 }, \
    { "*", "/2022-07-01/telemetry", h_not_found, 0, 0 }

static const route_t LAMBDA_ROUTES[] = { LAMBDA_RUNTIME_ROWS };
static const route_table_t LAMBDA = { LAMBDA_ROUTES, sizeof LAMBDA_ROUTES / sizeof LAMBDA_ROUTES[0],
                                      RAPI_LIMIT };

/* An SCF instance serves Lambda's paths too, and its own unversioned ones. */
static const route_t SCF_ROUTES[] = {
    LAMBDA_RUNTIME_ROWS,
    { "POST", "/runtime/init/ready", h_scf_ready, 0, 0 },
    { "POST", "/runtime/init/error", h_init_error, 0, 0 },
    { "GET", "/runtime/invocation/next", h_next, 0, 0 },
    { "POST", "/runtime/invocation/response", h_scf_response, 0, 0 },
    { "POST", "/runtime/invocation/error", h_scf_error, 0, 0 },
};
static const route_table_t SCF = { SCF_ROUTES, sizeof SCF_ROUTES / sizeof SCF_ROUTES[0], RAPI_LIMIT };

/* ---- checking ---- */

typedef struct {
    const char *method, *path;
    route_status_t st;
    route_handler_fn h;     /* MATCHED: the row's handler; 405: the first row's */
    const char *k1, *v1, *k2, *v2;
    const char *allow;      /* 405 */
    size_t limit;
} rcase_t;

static void check_case(const route_table_t *t, const rcase_t *c)
{
    route_match_t m;
    route_params_t p;
    route_status_t st = route_match(t, c->method, c->path, &m, &p);
    cr_assert_eq(st, c->st, "%s %s: status %d, want %d", c->method, c->path, st, c->st);
    cr_assert_eq(m.status, st);
    if (c->h) {
        cr_assert(m.route, "%s %s: no route", c->method, c->path);
        cr_assert(m.route->handler == c->h, "%s %s: row %s", c->method, c->path, m.route->pattern);
    } else if (st == ROUTE_NOT_FOUND) {
        cr_assert_null(m.route);
    }
    if (st == ROUTE_MATCHED) {
        size_t want = (c->k1 ? 1u : 0u) + (c->k2 ? 1u : 0u);
        cr_assert_eq(p.n, want, "%s %s: %zu params", c->method, c->path, p.n);
        if (c->k1) cr_assert_str_eq(route_param(&p, c->k1), c->v1, "%s %s", c->method, c->path);
        if (c->k2) cr_assert_str_eq(route_param(&p, c->k2), c->v2, "%s %s", c->method, c->path);
    }
    cr_assert_str_eq(m.allow, c->allow ? c->allow : "", "%s %s", c->method, c->path);
    if (c->limit)
        cr_assert_eq(route_body_limit(t, c->method, c->path), c->limit, "%s %s", c->method, c->path);
}

#define OK ROUTE_MATCHED
#define NOPE ROUTE_NOT_FOUND
#define M405 ROUTE_METHOD_NOT_ALLOWED

Test(route, tables_are_well_formed)
{
    err_t e = { 0 };
    cr_assert_eq(route_table_check(&API, &e), 0, "%s", e.msg);
    cr_assert_eq(route_table_check(&LAMBDA, &e), 0, "%s", e.msg);
    cr_assert_eq(route_table_check(&SCF, &e), 0, "%s", e.msg);
}

Test(route, public_api_control_plane)
{
    static const rcase_t cases[] = {
        { "GET", FN, OK, h_list_functions, .limit = ZIP_LIMIT },
        { "GET", FN "/", OK, h_list_functions },
        { "POST", FN, OK, h_create_function, .limit = ZIP_LIMIT },
        { "POST", FN "/", OK, h_create_function },
        { "PUT", FN, M405, h_list_functions, .allow = "GET, POST", .limit = MIB },
        { "GET", FN "/hello", OK, h_get_function, "name", "hello", .limit = ZIP_LIMIT },
        { "GET", FN "/hello/", OK, h_get_function, "name", "hello" },
        { "GET", FN "/hello:prod", OK, h_get_function, "name", "hello:prod" },
        { "GET", FN "/hello%3Aprod", OK, h_get_function, "name", "hello:prod" },
        { "GET", FN "/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ahello", OK,
          h_get_function, "name", "arn:aws:lambda:us-east-1:000000000000:function:hello" },
        { "GET", FN "/arn:aws:lambda:us-east-1:000000000000:function:hello:7", OK, h_get_function,
          "name", "arn:aws:lambda:us-east-1:000000000000:function:hello:7" },
        { "DELETE", FN "/hello", OK, h_delete_function, "name", "hello" },
        { "POST", FN "/hello", OK, h_control_unknown, "name", "hello" },
        { "PATCH", FN "/hello/", OK, h_control_unknown, "name", "hello" },
        { "GET", FN "/hello/configuration", OK, h_get_config, "name", "hello", .limit = ZIP_LIMIT },
        { "PUT", FN "/hello/configuration", OK, h_update_config, "name", "hello" },
        { "POST", FN "/hello/configuration", OK, h_control_unknown, "name", "hello" },
        { "GET", FN "/hello/configuration/", OK, h_control_unknown, "name", "hello", "rest",
          "configuration/" },
        { "PUT", FN "/hello/code", OK, h_update_code, "name", "hello" },
        { "GET", FN "/hello/code", OK, h_control_unknown, "name", "hello" },
        { "POST", FN "/hello/versions", OK, h_publish, "name", "hello" },
        { "GET", FN "/hello/versions", OK, h_list_versions, "name", "hello" },
        { "DELETE", FN "/hello/versions", OK, h_versions_other, "name", "hello" },
        { "GET", FN "/hello/versions/", OK, h_control_unknown, "name", "hello", "rest", "versions/" },
        { "GET", FN "/hello/aliases", OK, h_list_aliases, "name", "hello" },
        { "POST", FN "/hello/aliases", OK, h_create_alias, "name", "hello" },
        { "PUT", FN "/hello/aliases", OK, h_versions_other, "name", "hello" },
        { "GET", FN "/hello/aliases/prod", OK, h_get_alias, "name", "hello", "alias", "prod" },
        { "PUT", FN "/hello/aliases/prod", OK, h_update_alias, "name", "hello", "alias", "prod" },
        { "DELETE", FN "/hello/aliases/pr%6Fd", OK, h_delete_alias, "name", "hello", "alias", "prod" },
        { "POST", FN "/hello/aliases/prod", OK, h_versions_other, "name", "hello", "alias", "prod" },
        { "GET", FN "/hello/aliases/", OK, h_control_unknown, "name", "hello", "rest", "aliases/" },
        { "GET", FN "/hello/aliasesX", OK, h_control_unknown, "name", "hello", "rest", "aliasesX" },
        { "GET", FN "/hello/aliases/prod/x", OK, h_control_unknown, "name", "hello", "rest",
          "aliases/prod/x" },
        { "GET", FN "/hello/policy", OK, h_control_unknown, "name", "hello", "rest", "policy" },
        /* No function name at all, or a prefix that only looks alike. */
        { "GET", FN "//configuration", NOPE, NULL, .limit = MIB },
        { "GET", FN "X", NOPE, NULL },
        { "GET", "/2015-03-31", NOPE, NULL },
        { "GET", "/", NOPE, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&API, &cases[i]);
}

Test(route, public_api_invoke)
{
    static const rcase_t cases[] = {
        { "POST", FN "/hello/invocations", OK, h_invoke, "name", "hello", .limit = INVOKE_LIMIT },
        /* The query (Qualifier) is not part of the path. */
        { "POST", FN "/hello/invocations?Qualifier=prod", OK, h_invoke, "name", "hello",
          .limit = INVOKE_LIMIT },
        { "POST", FN "/hello%3A3/invocations", OK, h_invoke, "name", "hello:3" },
        { "POST", FN "/arn:aws:lambda:us-east-1:000000000000:function:hello/invocations", OK,
          h_invoke, "name", "arn:aws:lambda:us-east-1:000000000000:function:hello" },
        /* Invoke needs POST: the table says so at once. */
        { "GET", FN "/hello/invocations", M405, h_invoke, .allow = "POST", .limit = MIB },
        { "PUT", FN "/hello/invocations", M405, h_invoke, .allow = "POST" },
        /* "invocations" as a function name is just a name. */
        { "GET", FN "/invocations", OK, h_get_function, "name", "invocations" },
        /* Two segments where the name goes: under the function, not an invoke. */
        { "POST", FN "/a/b/invocations", OK, h_control_unknown, "name", "a", "rest",
          "b/invocations" },
        { "POST", FN "//invocations", NOPE, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&API, &cases[i]);
}

Test(route, public_api_concurrency_and_nimbus_routes)
{
    static const rcase_t cases[] = {
        { "GET", "/2017-10-31/functions/hello/concurrency", OK, h_get_concurrency, "name", "hello",
          .limit = MIB },
        { "PUT", "/2017-10-31/functions/hello/concurrency", OK, h_put_concurrency, "name", "hello" },
        { "DELETE", "/2019-09-30/functions/hello/concurrency", OK, h_delete_concurrency, "name",
          "hello" },
        { "POST", "/2019-09-30/functions/hello/concurrency", OK, h_concurrency_other, "name",
          "hello" },
        { "GET", "/2017-10-31/functions/hello", NOPE, NULL },
        { "GET", "/2017-10-31/functions/a/b/concurrency", NOPE, NULL },
        { "GET", "/2019-09-30/functions/hello/provisioned-concurrency?Qualifier=1", OK,
          h_get_provisioned, "name", "hello" },
        { "PUT", "/2019-09-30/functions/hello/provisioned-concurrency", OK, h_put_provisioned,
          "name", "hello" },
        { "DELETE", "/2019-09-30/functions/hello/provisioned-concurrency", OK, h_delete_provisioned,
          "name", "hello" },
        { "POST", "/2019-09-30/functions/hello/provisioned-concurrency", OK, h_provisioned_other,
          "name", "hello" },

        { "GET", "/nimbus/v1/functions/hello/instances", OK, h_instances, "name", "hello",
          .limit = MIB },
        { "GET", "/nimbus/v1/functions/hello/logs?since=1&limit=5", OK, h_logs, "name", "hello" },
        { "POST", "/nimbus/v1/functions/hello/instances/i-3f2a/exec", OK, h_exec, "name", "hello",
          "id", "i-3f2a" },
        /* Today these fall through to 404 UnknownOperationException. */
        { "POST", "/nimbus/v1/functions/hello/instances", M405, h_instances, .allow = "GET" },
        { "GET", "/nimbus/v1/functions/hello/instances/i-1/exec", M405, h_exec, .allow = "POST" },
        { "GET", "/nimbus/v1/functions/hello/other", NOPE, NULL },
        { "GET", "/nimbus/v1/functions//instances", NOPE, NULL },
        /* Rest captures: raw, possibly empty, the slash before them required. */
        { "GET", "/nimbus/v1/execs/4b1c?offset=10", OK, h_exec_poll, "id", "4b1c" },
        { "GET", "/nimbus/v1/execs/", OK, h_exec_poll, "id", "" },
        { "GET", "/nimbus/v1/execs/a%20b/c", OK, h_exec_poll, "id", "a%20b/c" },
        { "GET", "/nimbus/v1/execs", NOPE, NULL },
        { "DELETE", "/nimbus/v1/execs/4b1c", M405, h_exec_poll, .allow = "GET" },
        { "GET",
          "/nimbus/v1/code/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.zip", OK,
          h_code, "file", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.zip" },
        { "GET", "/nimbus/v1/health", OK, h_health },
        { "POST", "/nimbus/v1/health", OK, h_health },
        { "GET", "/nimbus/v1/health/", NOPE, NULL },
        { "GET", "/nimbus/v2/health", NOPE, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&API, &cases[i]);
}

Test(route, lambda_runtime_api)
{
    static const rcase_t cases[] = {
        { "GET", "/2018-06-01/runtime/invocation/next", OK, h_next, .limit = RAPI_LIMIT },
        { "POST", "/2018-06-01/runtime/invocation/next", M405, h_next, .allow = "GET",
          .limit = RAPI_LIMIT },
        { "POST", "/2018-06-01/runtime/init/error", OK, h_init_error },
        { "GET", "/2018-06-01/runtime/init/error", M405, h_init_error, .allow = "POST" },
        { "POST", "/2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response", OK,
          h_response, "id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd" },
        { "POST", "/2018-06-01/runtime/invocation/8476a536/error", OK, h_error, "id", "8476a536" },
        { "GET", "/2018-06-01/runtime/invocation/8476a536/response", M405, h_response,
          .allow = "POST" },
        /* "next" in the id's place is an id (today: Invalid request ID). */
        { "POST", "/2018-06-01/runtime/invocation/next/response", OK, h_response, "id", "next" },
        { "POST", "/2018-06-01/runtime/invocation/x/response/more", NOPE, NULL },
        { "POST", "/2018-06-01/runtime/invocation//response", NOPE, NULL },
        { "GET", "/2018-06-01/runtime/invocation/next/", NOPE, NULL },
        { "GET", "/2018-06-01/runtime/other", NOPE, NULL, .limit = RAPI_LIMIT },
        { "GET", "/2018-06-01/ping", OK, h_ping },
        { "POST", "/2018-06-01/ping", OK, h_ping },
        { "PUT", "/2020-08-15/logs", OK, h_logs_api },
        { "GET", "/2020-08-15/logs", OK, h_not_found },
        { "PUT", "/2022-07-01/telemetry", OK, h_telemetry },
        { "POST", "/2022-07-01/telemetry", OK, h_not_found },
        /* A Lambda instance has no SCF paths. */
        { "GET", "/runtime/invocation/next", NOPE, NULL },
        { "POST", "/runtime/init/ready", NOPE, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&LAMBDA, &cases[i]);
}

Test(route, scf_runtime_api)
{
    static const rcase_t cases[] = {
        { "POST", "/runtime/init/ready", OK, h_scf_ready, .limit = RAPI_LIMIT },
        { "GET", "/runtime/init/ready", M405, h_scf_ready, .allow = "POST" },
        { "POST", "/runtime/init/error", OK, h_init_error },
        { "GET", "/runtime/invocation/next", OK, h_next },
        { "PUT", "/runtime/invocation/next", M405, h_next, .allow = "GET" },
        { "POST", "/runtime/invocation/response", OK, h_scf_response },
        { "POST", "/runtime/invocation/error", OK, h_scf_error },
        { "GET", "/runtime/invocation/error", M405, h_scf_error, .allow = "POST" },
        { "GET", "/runtime/other", NOPE, NULL },
        /* Lambda's paths still work on an SCF instance. */
        { "GET", "/2018-06-01/runtime/invocation/next", OK, h_next },
        { "POST", "/2018-06-01/runtime/invocation/r1/response", OK, h_response, "id", "r1" },
        { "GET", "/2018-06-01/ping", OK, h_ping },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&SCF, &cases[i]);
}

/* ---- captures that cannot be decoded ---- */

static void expect_bad(const char *method, const char *path, route_handler_fn h,
                       route_param_error_t why, const char *name, const char *raw)
{
    route_match_t m;
    route_params_t p;
    cr_assert_eq(route_match(&API, method, path, &m, &p), ROUTE_BAD_PARAM, "%s", path);
    cr_assert(m.route && m.route->handler == h, "%s", path);
    cr_assert_eq(m.bad.why, why, "%s: why %d", path, m.bad.why);
    cr_assert_eq(m.bad.name_len, strlen(name));
    cr_assert(!memcmp(m.bad.name, name, m.bad.name_len), "%s", path);
    cr_assert_eq(m.bad.raw_len, strlen(raw), "%s", path);
    cr_assert(!memcmp(m.bad.raw, raw, m.bad.raw_len), "%s", path);
    cr_assert_eq(p.n, 0);
}

Test(route, bad_captures_are_reported_with_their_row)
{
    expect_bad("POST", FN "/a%2Fb/invocations", h_invoke, ROUTE_PARAM_SLASH, "name", "a%2Fb");
    expect_bad("POST", FN "/a%2fb/invocations", h_invoke, ROUTE_PARAM_SLASH, "name", "a%2fb");
    expect_bad("GET", FN "/bad%zz", h_get_function, ROUTE_PARAM_MALFORMED, "name", "bad%zz");
    expect_bad("GET", FN "/bad%4", h_get_function, ROUTE_PARAM_MALFORMED, "name", "bad%4");
    expect_bad("GET", FN "/bad%", h_get_function, ROUTE_PARAM_MALFORMED, "name", "bad%");
    expect_bad("GET", FN "/nul%00x", h_get_function, ROUTE_PARAM_NUL, "name", "nul%00x");
    /* The first capture decodes; the second does not. */
    expect_bad("GET", FN "/hello/aliases/p%ZZ", h_get_alias, ROUTE_PARAM_MALFORMED, "alias", "p%ZZ");
    /* A bad capture keeps its row's body limit (the answer needs no body). */
    cr_assert_eq(route_body_limit(&API, "POST", FN "/a%2Fb/invocations"), INVOKE_LIMIT);

    /* Longer than the params buffer holds. */
    size_t n = ROUTE_PARAM_BYTES + 10;
    char *path = malloc(sizeof FN + n + 20);
    char *o = path + sprintf(path, FN "/");
    memset(o, 'f', n);
    strcpy(o + n, "/invocations");
    route_match_t m;
    route_params_t p;
    cr_assert_eq(route_match(&API, "POST", path, &m, &p), ROUTE_BAD_PARAM);
    cr_assert_eq(m.bad.why, ROUTE_PARAM_TOO_LONG);
    cr_assert_eq(m.bad.raw_len, n);
    free(path);
}

Test(route, long_captures_that_fit)
{
    /* Two captures close to the limit together. */
    char name[600], alias[400], path[1200];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    memset(alias, 'a', sizeof alias - 1);
    alias[sizeof alias - 1] = '\0';
    snprintf(path, sizeof path, FN "/%s/aliases/%s", name, alias);
    route_match_t m;
    route_params_t p;
    cr_assert_eq(route_match(&API, "GET", path, &m, &p), ROUTE_MATCHED);
    cr_assert_str_eq(route_param(&p, "name"), name);
    cr_assert_str_eq(route_param(&p, "alias"), alias);
    cr_assert_eq(p.v[0].len, strlen(name));
    cr_assert_eq(p.v[1].raw_len, strlen(alias));
}

Test(route, params_raw_and_lookup)
{
    route_match_t m;
    route_params_t p;
    const char *path = FN "/h%65llo/aliases/l%61test?x=%2F";
    cr_assert_eq(route_match(&API, "GET", path, &m, &p), ROUTE_MATCHED);
    cr_assert_eq(p.n, 2);
    cr_assert_eq(p.v[0].raw, path + strlen(FN "/"));
    cr_assert_eq(p.v[0].raw_len, 7);
    cr_assert_str_eq(p.v[0].value, "hello");
    cr_assert_eq(p.v[0].len, 5);
    cr_assert_str_eq(p.v[1].value, "latest");
    cr_assert_null(route_param(&p, "nam"));
    cr_assert_null(route_param(&p, "names"));
    cr_assert_null(route_param(NULL, "name"));
    /* Without params the route is still found. */
    cr_assert_eq(route_match(&API, "GET", path, &m, NULL), ROUTE_MATCHED);
    cr_assert(m.route->handler == h_get_alias);
    /* Literal segments compare as sent, never decoded. */
    cr_assert_eq(route_match(&API, "GET", "/2015-03-31/%66unctions", &m, NULL), ROUTE_NOT_FOUND);
    cr_assert_eq(route_match(&API, "get", FN, &m, NULL), ROUTE_METHOD_NOT_ALLOWED);
    cr_assert_eq(route_match(&API, "GET", NULL, &m, NULL), ROUTE_NOT_FOUND);
    cr_assert_eq(route_match(&API, "GET", "*", &m, NULL), ROUTE_NOT_FOUND);
    cr_assert_eq(route_match(&API, "GET", "", &m, NULL), ROUTE_NOT_FOUND);
}

Test(route, body_limit_from_the_request_head)
{
    http_request_t req = { .method = "POST", .path = FN "/hello/invocations" };
    cr_assert_eq(route_http_body_limit(&req, (void *)&API), INVOKE_LIMIT);
    req.path = FN;
    cr_assert_eq(route_http_body_limit(&req, (void *)&API), ZIP_LIMIT);
    req.path = "/nowhere";
    cr_assert_eq(route_http_body_limit(&req, (void *)&API), MIB);
    req.method = "GET";
    req.path = "/2018-06-01/runtime/invocation/next";
    cr_assert_eq(route_http_body_limit(&req, (void *)&LAMBDA), RAPI_LIMIT);
}

Test(route, path_first_then_method)
{
    static const route_t rows[] = {
        { "PUT", "/x/{a}", h_ping, 0, 0 },
        { "DELETE", "/x/new", h_exec, 0, 0 },   /* shadowed by /x/{a} above */
        { "GET", "/x/{a}", h_next, 5, 0 },
        { "PUT", "/x/{a}", h_error, 0, 0 },
        { "PATCH", "/z", h_ping, 0, 0 },
        { "GET", "/{b}/{c}", h_code, 0, 0 },
        { "*", "/x/{a}", h_health, 0, 0 },
    };
    route_table_t t = { rows, 6, 7 };   /* without the "*" row */
    route_match_t m;
    route_params_t p;
    cr_assert_eq(route_match(&t, "POST", "/x/new", &m, NULL), ROUTE_METHOD_NOT_ALLOWED);
    cr_assert_str_eq(m.allow, "PUT, GET");
    cr_assert_eq(m.route, &rows[0]);
    cr_assert_eq(route_match(&t, "DELETE", "/x/new", &m, NULL), ROUTE_METHOD_NOT_ALLOWED);
    /* Among a pattern's rows the first with the method wins. */
    cr_assert_eq(route_match(&t, "PUT", "/x/y", &m, &p), ROUTE_MATCHED);
    cr_assert_eq(m.route, &rows[0]);
    cr_assert_eq(route_match(&t, "GET", "/x/y", &m, &p), ROUTE_MATCHED);
    cr_assert_eq(m.route, &rows[2]);
    cr_assert_str_eq(route_param(&p, "a"), "y");
    cr_assert_null(route_param(&p, "b"));
    cr_assert_str_eq(m.allow, "");
    cr_assert_eq(route_body_limit(&t, "GET", "/x/y"), 5);
    cr_assert_eq(route_body_limit(&t, "PUT", "/x/y"), 7);
    cr_assert_eq(route_body_limit(&t, "POST", "/x/y"), 7);
    /* A later pattern that also fits does not take the owner's 405. */
    cr_assert_eq(route_match(&t, "GET", "/q/y", &m, &p), ROUTE_MATCHED);
    cr_assert_eq(m.route, &rows[5]);
    /* A "*" row of the same pattern takes every other method. */
    t.nroutes = 7;
    cr_assert_eq(route_match(&t, "POST", "/x/y", &m, &p), ROUTE_MATCHED);
    cr_assert_eq(m.route, &rows[6]);
    cr_assert_str_eq(route_param(&p, "a"), "y");
}

Test(route, broken_patterns_are_refused)
{
    static const char *bad[] = { "x/y", "", "/a/{", "/a/{}", "/a/b}", "/a/{x}{y}", "/a/{r*}/b",
                                 "/a/{x}/{x}", "/{a}/{b}/{c}/{d}/{e}", "/a/{x*y}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        route_t r = { "GET", bad[i], h_ping, 0, 0 };
        route_table_t t = { &r, 1, 0 };
        err_t e = { 0 };
        cr_assert_eq(route_table_check(&t, &e), -1, "pattern '%s' passed", bad[i]);
        cr_assert_neq(e.msg[0], '\0');
    }
    route_t nomethod = { NULL, "/a", h_ping, 0, 0 };
    route_table_t t = { &nomethod, 1, 0 };
    cr_assert_eq(route_table_check(&t, NULL), -1);
    route_t ok = { "*", "/{a}/{b}/{c}/{rest*}", h_ping, 0, ROUTE_TRAILING_SLASH };
    t = (route_table_t){ &ok, 1, 0 };
    cr_assert_eq(route_table_check(&t, NULL), 0);
}
