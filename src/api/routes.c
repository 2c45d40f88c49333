/* routes.c — which handler serves a public API request, and Nimbus' own
 * /nimbus/v1 routes (instances, logs, exec, code, health; events and dead
 * letters are events.c's).
 *
 * Owns the public URL space. Must never: answer a known path with "not
 * found" when only the method is wrong, or look a function up twice for
 * one request.
 */
#define _GNU_SOURCE
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "api/account.h"
#include "api/console.h"
#include "api/auth.h"
#include "api/control.h"
#include "api/event_config.h"
#include "api/events.h"
#include "api/exec.h"
#include "api/invoke.h"
#include "api/triggers.h"
#include "api/unsupported.h"
#include "api/policy.h"
#include "api/session.h"
#include "api/tags.h"
#include "api/tenancy.h"
#include "api/layers.h"
#include "api/metrics.h"
#include "api/url.h"
#include "api/stream.h"
#include "api/version.h"
#include "base/util.h"
#include "core/instance.h"
#include "io/route.h"
#include "sandbox/cgroup.h"

/* ---- GET /nimbus/v1/functions/NAME/logs ---- */

static int64_t param_i64(const char *query, const char *key, int64_t dflt)
{
    char *v = util_query_param(query, key);
    if (!v) return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    int64_t r = (*v && !*end) ? (int64_t)x : -1;
    free(v);
    return r;
}

typedef struct {
    http_exchange_t *ex;
    logs_query_t *q;
    int64_t after;
} logs_req_t;

static void logs_gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    logs_req_t *lr = arg;
    logs_query_cancel(lr->q);
    free(lr);
}

static void logs_answer(void *arg, const err_t *err, const store_log_t *res, size_t n)
{
    logs_req_t *lr = arg;
    if (err) {
        api_respond_err(lr->ex, err);
        free(lr);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *ev = cJSON_AddArrayToObject(o, "events");
    int64_t last = lr->after;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "id", (double)res[i].id);
        cJSON_AddNumberToObject(e, "timestamp", (double)res[i].ts_ms);
        cJSON_AddStringToObject(e, "requestId", res[i].request_id);
        cJSON_AddStringToObject(e, "message", res[i].line ? res[i].line : "");
        cJSON_AddItemToArray(ev, e);
        last = res[i].id;
    }
    cJSON_AddNumberToObject(o, "lastId", (double)last);
    api_respond_doc(lr->ex, 200, o);
    free(lr);
}

static void logs_handle_query(api_t *d, http_exchange_t *ex, const char *function, const char *query)
{
    store_log_query_t q = { .function = function };
    char *rid = util_query_param(query, "request_id");
    if (rid && *rid) q.request_id = rid;
    q.since_ms = param_i64(query, "since", 0);
    q.until_ms = param_i64(query, "until", 0);
    q.after_id = param_i64(query, "after", 0);
    int64_t lim = param_i64(query, "limit", 1000);
    if (q.since_ms < 0 || q.until_ms < 0 || q.after_id < 0 || lim < 1 || lim > 10000) {
        free(rid);
        api_respond_error(ex, 400, "InvalidParameterValueException",
                          "since, until and after must be non-negative integers; limit 1..10000");
        return;
    }
    q.limit = (size_t)lim;
    logs_req_t *lr = calloc(1, sizeof *lr);
    err_t err;
    if (!lr) { free(rid); api_respond_error(ex, 500, "ServiceException", "out of memory"); return; }
    lr->ex = ex;
    lr->after = q.after_id;
    lr->q = logs_query(d->logs, &q, logs_answer, lr, &err);
    free(rid);
    if (!lr->q) { free(lr); api_respond_err(ex, &err); return; }
    http_exchange_on_abort(ex, logs_gone, lr);
}

/* ---- handlers: one per row of the table ---- */

#define NAME(p) route_param((p), "name")

/* The function the {name} capture names, and its qualifier; NULL after
 * answering 404. */
static router_fn_t *named(api_t *d, http_exchange_t *ex, http_request_t *req, const route_params_t *p,
                          char qual[140])
{
    return control_find(d, ex, req, NAME(p), qual, 140);
}

static void h_invoke(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char *qual = util_query_param(req->query, "Qualifier");
    invoke_handle(ctx, ex, NAME(p), qual);
    free(qual);
}

static void h_stream_invoke(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char *qual = util_query_param(req->query, "Qualifier");
    stream_invoke_handle(ctx, ex, NAME(p), qual);
    free(qual);
}

static void h_invoke_method(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)ctx; (void)req; (void)p;
    api_respond_error(ex, 405, "MethodNotAllowedException", "Invoke needs POST");
}

static void h_invoke_async(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)req;
    invoke_handle_legacy_async(ctx, ex, NAME(p));
}

static void h_list(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)p;
    control_list(ctx, ex, req);
}

static void h_create(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)req; (void)p;
    control_create(ctx, ex);
}

static void h_method(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)ctx; (void)p;
    api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", req->method);
}

static void h_get(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) control_get(ctx, ex, req, fn, qual, false);
}

static void h_get_config(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) control_get(ctx, ex, req, fn, qual, true);
}

static void h_delete(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) control_delete(ctx, ex, fn, qual);
}

static void h_update_code(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) control_update(ctx, ex, fn, true);
}

static void h_update_config(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) control_update(ctx, ex, fn, false);
}

/* A path under a function that no operation has: an unknown operation,
 * as Lambda answers it whether or not the function exists (a missing
 * function is only ever said by an operation that names one). */
static void h_unknown(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)ctx; (void)p;
    api_respond_unknown(ex, req);
}

static void h_publish(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) version_publish(ctx, ex, req, fn);
}

static void h_versions(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) version_list(ctx, ex, req, fn);
}

static void h_versions_method(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    if (named(ctx, ex, req, p, qual)) h_method(ctx, ex, req, p);
}

static void h_aliases(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) version_aliases(ctx, ex, req, fn, route_param(p, "alias"));
}

static void h_concurrency(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) control_concurrency(ctx, ex, req, fn);
}

static void h_provisioned(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    version_handle_provisioned(ctx, ex, req, NAME(p));
}

static void h_event_config(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) event_config_handle(ctx, ex, req, fn, qual);
}

static void h_url(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) url_config_handle(ctx, ex, req, fn, qual);
}

static void h_url_list(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) url_config_list(ctx, ex, req, fn);
}

/* /nimbus/url/<id>[/...]: a function URL by path; what follows the id is
 * the function's rawPath, still encoded. */
static void h_url_path(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    const char *id = route_param(p, "id");
    const char *rest = req->path + strlen("/nimbus/url/");
    rest = strchr(rest, '/');
    url_serve(ctx, ex, req, id, rest && *rest ? rest : "/", false);
}

static void h_event_config_list(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    char qual[140];
    router_fn_t *fn = named(ctx, ex, req, p, qual);
    if (fn) event_config_list(ctx, ex, req, fn);
}

static router_fn_t *native_fn(api_t *d, http_exchange_t *ex, const route_params_t *p)
{
    router_fn_t *fn = router_find(d->router, NAME(p));
    if (!fn) api_respond_not_found(ex, NAME(p), NULL);
    return fn;
}

static void h_instances(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)req;
    router_fn_t *fn = native_fn(ctx, ex, p);
    if (fn) api_respond_json(ex, 200, instance_list_json(fn));
}

static void h_logs(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    if (native_fn(ctx, ex, p)) logs_handle_query(ctx, ex, NAME(p), req->query);
}

static void h_exec(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    router_fn_t *fn = native_fn(ctx, ex, p);
    if (!fn) return;
    /* Instance ids are taken as sent (they are hex). */
    char iid[64];
    const route_param_t *id = &p->v[1];
    snprintf(iid, sizeof iid, "%.*s", (int)id->raw_len, id->raw);
    instance_t *in = instance_find(fn, iid);
    if (!in) {
        api_respond_error(ex, 404, "ResourceNotFoundException", "Instance not found: %s", iid);
        return;
    }
    exec_target_t t = { .id = in->id, .proc = &in->proc, .env_block = in->env_block, .env_len = in->env_len,
                        .starting = in->spawning, .stopping = in->exited || in->state == INST_STOPPING,
                        .owner = fn->cfg.owner[0] ? fn->cfg.owner : util_account() };
    exec_handle(((api_t *)ctx)->loop, ex, req, &t);
}

/* The caller's account, or NULL without credentials (everyone's). */
static const char *caller_account(const http_request_t *req)
{
    const auth_key_t *who = auth_principal(req);
    return who ? who->account : NULL;
}

static void h_exec_poll(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    exec_poll(((api_t *)ctx)->loop, ex, route_param(p, "id"), req->query, caller_account(req));
}

static void h_exec_input(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    exec_input(((api_t *)ctx)->loop, ex, req, route_param(p, "id"), route_param(p, "what"), caller_account(req));
}

static void h_events(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    if (native_fn(ctx, ex, p)) events_list(ctx, ex, req, NAME(p));
}

static void h_event(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    if (!native_fn(ctx, ex, p)) return;
    if (strcmp(req->method, "DELETE") == 0) events_cancel(ctx, ex, NAME(p), route_param(p, "id"));
    else events_get(ctx, ex, NAME(p), route_param(p, "id"));
}

static void h_dlq(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    if (!native_fn(ctx, ex, p)) return;
    if (strcmp(req->method, "DELETE") == 0) events_dlq_purge(ctx, ex, NAME(p));
    else events_dlq_list(ctx, ex, req, NAME(p));
}

static void h_dlq_redrive(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    if (native_fn(ctx, ex, p)) events_dlq_redrive(ctx, ex, req, NAME(p));
}

static void h_triggers(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    router_fn_t *fn = native_fn(ctx, ex, p);
    if (fn) triggers_handle(ctx, ex, req, fn, route_param(p, "trigger"));
}

static void h_code(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)req;
    control_get_code(ctx, ex, route_param(p, "file"));
}

static void h_health(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)req; (void)p;
    api_t *d = ctx;
    char *s = NULL;
    if (asprintf(&s, "{\"status\":\"%s\",\"functions\":%zu,\"instances\":%u,\"inflight\":%u,\"cgroup\":\"%s\"}",
                 d->core->stopping ? "stopping" : "ok", router_count(d->router),
                 router_instance_count(d->router), router_inflight(d->router), cgroup_version()) < 0)
        s = NULL;
    api_respond_json(ex, 200, s);
}

/* The async queue's counts of the caller's functions only: each one's,
 * summed (the figures of functions since deleted are the daemon's). */
static void async_stats_of(api_t *d, const auth_key_t *who, async_stats_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t oldest = 0;
    for (size_t i = 0; i < router_count(d->router); i++) {
        const router_fn_t *fn = router_at(d->router, i);
        if (!auth_owns(who, &fn->cfg)) continue;
        async_stats_t one;
        async_stats(d->async, fn->cfg.name, &one);
        out->queued += one.queued;
        out->running += one.running;
        out->retrying += one.retrying;
        out->accepted += one.accepted;
        out->succeeded += one.succeeded;
        out->failed += one.failed;
        out->retries += one.retries;
        out->dead_letters += one.dead_letters;
        out->deliveries += one.deliveries;
        out->delivery_failures += one.delivery_failures;
        for (size_t k = 0; k < 3; k++) {
            out->dest_delivered[k] += one.dest_delivered[k];
            out->dest_failed[k] += one.dest_failed[k];
        }
        if (one.oldest_ms > oldest) oldest = one.oldest_ms;
    }
    out->oldest_ms = oldest;
}

/* GET /nimbus/v1/async[?function=NAME]: the async queue's counts, and the
 * queue store's commits (fsync'd) and events written. With accounts a
 * caller sees its own functions' counts: another account's function is
 * counted as one that does not exist (zeros); the queue store's figures,
 * every account's, are the daemon's own account's to see. */
static void h_async_stats(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)p;
    api_t *d = ctx;
    if (!d->async) {
        api_respond_error(ex, 503, "ServiceException", "the async queue is not running");
        return;
    }
    const auth_key_t *who = auth_principal(req);
    char *fn = util_query_param(req->query, "function");
    async_stats_t st;
    if (fn && *fn) {
        const router_fn_t *f = who && function_name_valid(fn) ? router_find(d->router, fn) : NULL;
        if (f && !auth_owns(who, &f->cfg)) memset(&st, 0, sizeof st);
        else async_stats(d->async, fn, &st);
    } else if (who) {
        async_stats_of(d, who, &st);
    } else {
        async_stats(d->async, NULL, &st);
    }
    free(fn);
    uint64_t commits = 0, written = 0;
    bool store_figures = !who || strcmp(who->account, util_account()) == 0;
    if (store_figures) queue_store_stats(async_store(d->async), &commits, &written);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "Queued", st.queued);
    cJSON_AddNumberToObject(o, "Running", st.running);
    cJSON_AddNumberToObject(o, "Retrying", st.retrying);
    cJSON_AddNumberToObject(o, "Accepted", (double)st.accepted);
    cJSON_AddNumberToObject(o, "Succeeded", (double)st.succeeded);
    cJSON_AddNumberToObject(o, "Failed", (double)st.failed);
    cJSON_AddNumberToObject(o, "Retries", (double)st.retries);
    cJSON_AddNumberToObject(o, "DeadLetters", (double)st.dead_letters);
    cJSON_AddNumberToObject(o, "Deliveries", (double)st.deliveries);
    cJSON_AddNumberToObject(o, "DeliveryFailures", (double)st.delivery_failures);
    cJSON_AddNumberToObject(o, "OldestAgeMs", (double)st.oldest_ms);
    if (store_figures) {
        cJSON_AddNumberToObject(o, "Commits", (double)commits);
        cJSON_AddNumberToObject(o, "EventsWritten", (double)written);
    }
    api_respond_doc(ex, 200, o);
}

static void h_metrics(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)req; (void)p;
    metrics_page(ctx, ex);
}

static void h_metrics_functions(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)req; (void)p;
    metrics_functions_summary(ctx, ex);
}

static void h_fn_metrics(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    router_fn_t *fn = native_fn(ctx, ex, p);
    if (fn) metrics_function_history(ctx, ex, fn, req->query);
}

static void h_layers(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    layers_handle(ctx, ex, req, route_param(p, "layer"), route_param(p, "version"));
}

static void h_layer_policy(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    layers_policy_handle(ctx, ex, req, route_param(p, "layer"), route_param(p, "version"), route_param(p, "sid"));
}

/* GET /console[/FILE]: the web console's embedded files (api/console.c). */
static void h_console(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)ctx;
    console_serve(ex, req, route_param(p, "file"));
}

/* ---- the table ---- */

#define FN "/2015-03-31/functions"
#define TS ROUTE_TRAILING_SLASH
enum { L_DEFAULT, L_INVOKE, L_ZIP };   /* body limits, set from the settings */

static const struct {
    route_t r;
    int limit;
} ROUTES[] = {
    { { "POST", FN "/{name}/invocations", h_invoke, 0, 0 }, L_INVOKE },
    { { "*", FN "/{name}/invocations", h_invoke_method, 0, 0 }, L_INVOKE },
    { { "POST", "/2021-11-15/functions/{name}/response-streaming-invocations", h_stream_invoke, 0, 0 }, L_INVOKE },
    { { "*", "/2021-11-15/functions/{name}/response-streaming-invocations", h_invoke_method, 0, 0 }, L_INVOKE },
    /* Lambda's deprecated InvokeAsync, under its own API date. */
    { { "POST", "/2014-11-13/functions/{name}/invoke-async", h_invoke_async, 0, TS }, L_INVOKE },
    { { "*", "/2014-11-13/functions/{name}/invoke-async", h_invoke_method, 0, TS }, L_INVOKE },
    { { "GET", FN, h_list, 0, TS }, L_ZIP },
    { { "POST", FN, h_create, 0, TS }, L_ZIP },
    { { "*", FN, h_method, 0, TS }, L_ZIP },
    { { "GET", FN "/{name}", h_get, 0, TS }, L_ZIP },
    { { "DELETE", FN "/{name}", h_delete, 0, TS }, L_ZIP },
    { { "*", FN "/{name}", h_unknown, 0, TS }, L_ZIP },
    { { "GET", FN "/{name}/configuration", h_get_config, 0, 0 }, L_ZIP },
    { { "PUT", FN "/{name}/configuration", h_update_config, 0, 0 }, L_ZIP },
    { { "*", FN "/{name}/configuration", h_unknown, 0, 0 }, L_ZIP },
    { { "PUT", FN "/{name}/code", h_update_code, 0, 0 }, L_ZIP },
    { { "*", FN "/{name}/code", h_unknown, 0, 0 }, L_ZIP },
    { { "POST", FN "/{name}/versions", h_publish, 0, 0 }, L_ZIP },
    { { "GET", FN "/{name}/versions", h_versions, 0, 0 }, L_ZIP },
    { { "*", FN "/{name}/versions", h_versions_method, 0, 0 }, L_ZIP },
    { { "*", FN "/{name}/aliases", h_aliases, 0, 0 }, L_ZIP },
    { { "*", FN "/{name}/aliases/{alias}", h_aliases, 0, 0 }, L_ZIP },
    { { "*", FN "/{name}/policy", policy_route, 0, 0 }, L_DEFAULT },
    { { "*", FN "/{name}/policy/{sid}", policy_statement_route, 0, 0 }, L_DEFAULT },
    { { "*", FN "/{name}/{rest*}", h_unknown, 0, 0 }, L_ZIP },
    /* Reserved concurrency lives under two other API dates. */
    { { "*", "/2017-10-31/functions/{name}/concurrency", h_concurrency, 0, 0 }, L_DEFAULT },
    { { "*", "/2019-09-30/functions/{name}/concurrency", h_concurrency, 0, 0 }, L_DEFAULT },
    { { "*", "/2019-09-30/functions/{name}/provisioned-concurrency", h_provisioned, 0, 0 }, L_DEFAULT },
    { { "GET", "/2019-09-25/functions/{name}/event-invoke-config/list", h_event_config_list, 0, 0 }, L_DEFAULT },
    { { "*", "/2019-09-25/functions/{name}/event-invoke-config", h_event_config, 0, 0 }, L_DEFAULT },
    { { "*", "/2017-03-31/tags/{arn}", tags_route, 0, 0 }, L_DEFAULT },
    { { "*", "/2016-08-19/account-settings", account_route, 0, TS }, L_DEFAULT },
    { { "GET", "/2018-10-31/layers", h_layers, 0, TS }, L_DEFAULT },
    { { "*", "/2018-10-31/layers", h_method, 0, TS }, L_DEFAULT },
    { { "GET", "/2018-10-31/layers/{layer}/versions", h_layers, 0, TS }, L_DEFAULT },
    { { "POST", "/2018-10-31/layers/{layer}/versions", h_layers, 0, TS }, L_ZIP },
    { { "*", "/2018-10-31/layers/{layer}/versions", h_method, 0, TS }, L_DEFAULT },
    { { "GET", "/2018-10-31/layers/{layer}/versions/{version}", h_layers, 0, 0 }, L_DEFAULT },
    { { "DELETE", "/2018-10-31/layers/{layer}/versions/{version}", h_layers, 0, 0 }, L_DEFAULT },
    { { "*", "/2018-10-31/layers/{layer}/versions/{version}", h_method, 0, 0 }, L_DEFAULT },
    { { "POST", "/2018-10-31/layers/{layer}/versions/{version}/policy", h_layer_policy, 0, 0 }, L_DEFAULT },
    { { "GET", "/2018-10-31/layers/{layer}/versions/{version}/policy", h_layer_policy, 0, 0 }, L_DEFAULT },
    { { "*", "/2018-10-31/layers/{layer}/versions/{version}/policy", h_method, 0, 0 }, L_DEFAULT },
    { { "DELETE", "/2018-10-31/layers/{layer}/versions/{version}/policy/{sid}", h_layer_policy, 0, 0 }, L_DEFAULT },
    { { "*", "/2018-10-31/layers/{layer}/versions/{version}/policy/{sid}", h_method, 0, 0 }, L_DEFAULT },
    { { "*", "/2021-10-31/functions/{name}/url", h_url, 0, 0 }, L_DEFAULT },
    { { "GET", "/2021-10-31/functions/{name}/urls", h_url_list, 0, 0 }, L_DEFAULT },
    { { "*", "/2021-10-31/functions/{name}/urls", h_method, 0, 0 }, L_DEFAULT },
    { { "*", "/nimbus/url/{id}", h_url_path, 0, TS }, L_INVOKE },
    { { "*", "/nimbus/url/{id}/{rest*}", h_url_path, 0, 0 }, L_INVOKE },
    { { "GET", "/nimbus/v1/functions/{name}/instances", h_instances, 0, 0 }, L_DEFAULT },
    { { "GET", "/nimbus/v1/functions/{name}/logs", h_logs, 0, 0 }, L_DEFAULT },
    { { "GET", "/nimbus/v1/functions/{name}/events", h_events, 0, 0 }, L_DEFAULT },
    { { "GET", "/nimbus/v1/functions/{name}/events/{id}", h_event, 0, 0 }, L_DEFAULT },
    { { "DELETE", "/nimbus/v1/functions/{name}/events/{id}", h_event, 0, 0 }, L_DEFAULT },
    { { "GET", "/nimbus/v1/functions/{name}/dlq", h_dlq, 0, 0 }, L_DEFAULT },
    { { "DELETE", "/nimbus/v1/functions/{name}/dlq", h_dlq, 0, 0 }, L_DEFAULT },
    { { "POST", "/nimbus/v1/functions/{name}/dlq/redrive", h_dlq_redrive, 0, 0 }, L_DEFAULT },
    { { "POST", "/nimbus/v1/functions/{name}/instances/{id}/exec", h_exec, 0, 0 }, L_DEFAULT },
    { { "*", "/nimbus/v1/functions/{name}/triggers", h_triggers, 0, TS }, L_DEFAULT },
    { { "*", "/nimbus/v1/functions/{name}/triggers/{trigger}", h_triggers, 0, 0 }, L_DEFAULT },
    { { "POST", "/nimbus/v1/execs/{id}/{what}", h_exec_input, 0, 0 }, L_DEFAULT },
    { { "GET", "/nimbus/v1/execs/{id*}", h_exec_poll, 0, 0 }, L_DEFAULT },
    { { "GET", "/nimbus/v1/code/{file*}", h_code, 0, 0 }, L_DEFAULT },
    { { "*", "/nimbus/v1/health", h_health, 0, 0 }, L_DEFAULT },
    { { "*", "/nimbus/v1/session", session_route, 0, 0 }, L_DEFAULT },
    { { "GET", "/nimbus/v1/async", h_async_stats, 0, 0 }, L_DEFAULT },
    { { "GET", "/console", h_console, 0, TS }, L_DEFAULT },
    { { "*", "/console", h_method, 0, TS }, L_DEFAULT },
    { { "GET", "/console/{file*}", h_console, 0, 0 }, L_DEFAULT },
    { { "*", "/console/{file*}", h_method, 0, 0 }, L_DEFAULT },
    { { "GET", "/nimbus/v1/functions/{name}/metrics", h_fn_metrics, 0, 0 }, L_DEFAULT },
    { { "GET", "/nimbus/v1/metrics/functions", h_metrics_functions, 0, 0 }, L_DEFAULT },
    { { "GET", "/metrics", h_metrics, 0, 0 }, L_DEFAULT },
};
#define NROUTES (sizeof ROUTES / sizeof ROUTES[0])

int api_init(api_t *d, err_t *err)
{
    size_t invoke_max = d->cfg.invoke_max_bytes > d->cfg.async_max_bytes ? d->cfg.invoke_max_bytes
                                                                          : d->cfg.async_max_bytes;
    size_t limits[] = { [L_DEFAULT] = 1024 * 1024, [L_INVOKE] = invoke_max + 4096,
                        /* a base64 ZIP and its settings */
                        [L_ZIP] = d->cfg.max_zip_bytes / 3 * 4 + 8 + 1024 * 1024 };
    d->routes = calloc(NROUTES, sizeof *d->routes);
    if (!d->routes) return err_set(err, ERR_SYS, "out of memory");
    if (!(d->event_configs = event_config_new())) return err_set(err, ERR_SYS, "out of memory");
    if (!(d->urls = url_table_new())) return err_set(err, ERR_SYS, "out of memory");
    if (!(d->tags = tag_table_new())) return err_set(err, ERR_SYS, "out of memory");
    d->url_body_limit = limits[L_INVOKE];
    for (size_t i = 0; i < NROUTES; i++) {
        d->routes[i] = ROUTES[i].r;
        d->routes[i].body_limit = limits[ROUTES[i].limit];
    }
    d->table = (route_table_t){ d->routes, NROUTES, limits[L_DEFAULT] };
    if (unsupported_check(err) < 0) return -1;
    return route_table_check(&d->table, err);
}

void api_free(api_t *d)
{
    free(d->routes);
    d->routes = NULL;
    event_config_free(d->event_configs);
    d->event_configs = NULL;
    url_table_free(d->urls);
    d->urls = NULL;
    tag_table_free(d->tags);
    d->tags = NULL;
    tenancy_free(d);
}

size_t api_body_limit(const http_request_t *req, void *arg)
{
    api_t *d = arg;
    char id[33];
    if (url_host_id(req, id)) return d->url_body_limit;
    return route_body_limit(&d->table, req->method, req->path);
}

static void route(api_t *d, http_exchange_t *ex, http_request_t *req, bool checked);

/* A request another account's policy was read for: it may go on. */
static void route_granted(api_t *d, http_exchange_t *ex, http_request_t *req) { route(d, ex, req, true); }

void api_handle(http_exchange_t *ex, http_request_t *req, void *arg)
{
    api_t *d = arg;
    char id[33];
    if (url_host_id(req, id)) {
        /* A function URL by host name: the whole path is the function's. */
        url_serve(d, ex, req, id, req->path, true);
        return;
    }
    /* Every other request is checked before it is routed. */
    if (!auth_request(d, ex, req, (int64_t)time(NULL))) return;
    route(d, ex, req, false);
}

static void route(api_t *d, http_exchange_t *ex, http_request_t *req, bool checked)
{
    route_match_t m;
    route_params_t params;
    switch (route_match(&d->table, req->method, req->path, &m, &params)) {
    case ROUTE_MATCHED: {
        /* An ARN of another region or account names no function here. */
        const char *name = route_param(&params, "name");
        char why[400];
        switch (name ? function_arn_place(name, why, sizeof why) : FUNCTION_ARN_LOCAL) {
        case FUNCTION_ARN_OTHER_REGION: api_respond_error(ex, 404, "ResourceNotFoundException", "%s", why); return;
        case FUNCTION_ARN_OTHER_ACCOUNT: api_respond_error(ex, 403, "AccessDeniedException", "%s", why); return;
        case FUNCTION_ARN_LOCAL: break;
        }
        /* With accounts: the caller's function, or one it may invoke. */
        route_handler_fn h = m.route->handler;
        if (!checked && !tenancy_check(d, ex, req, name ? name : route_param(&params, "arn"),
                                       h == h_invoke || h == h_stream_invoke || h == h_invoke_async, route_granted))
            return;
        m.route->handler(d, ex, req, &params);
        return;
    }
    case ROUTE_BAD_PARAM:
        /* A name that cannot be decoded names no function. */
        if (m.route->handler == h_invoke || m.route->handler == h_invoke_method ||
            m.route->handler == h_stream_invoke)
            api_respond_error(ex, 404, "ResourceNotFoundException", "Function not found");
        else
            api_respond_not_found(ex, strndupa(m.bad.raw, m.bad.raw_len), NULL);
        return;
    case ROUTE_METHOD_NOT_ALLOWED:
    case ROUTE_NOT_FOUND:
        break;
    }
    /* An operation of Lambda's that cannot exist here is refused by name;
     * everything else is no operation at all. */
    if (!unsupported_answer(ex, req)) api_respond_unknown(ex, req);
}

int api_load(api_t *d, err_t *err)
{
    if (control_load(d, err) < 0) return err_wrap(err, "loading functions");
    if (version_load(d, err) < 0) return err_wrap(err, "loading versions and aliases");
    if (event_config_load(d, err) < 0) return err_wrap(err, "loading event invoke configs");
    if (triggers_load(d, err) < 0) return err_wrap(err, "loading timer triggers");
    if (url_load(d, err) < 0) return err_wrap(err, "loading function URLs");
    if (tags_load(d, err) < 0) return err_wrap(err, "loading tags");
    return 0;
}

void api_code_released(void *arg, const char *hex) { control_collect_code(arg, hex); }
