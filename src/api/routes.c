/* routes.c — which handler serves a public API request, and Nimbus' own
 * /nimbus/v1 routes (instances, logs, exec, code, health).
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

#include <cjson/cJSON.h>

#include "api/control.h"
#include "api/exec.h"
#include "api/invoke.h"
#include "api/version.h"
#include "base/util.h"
#include "core/instance.h"
#include "sandbox/cgroup.h"

static const char FN_PREFIX[] = "/2015-03-31/functions";

size_t api_body_limit(const http_request_t *req, void *arg)
{
    api_t *d = arg;
    const char *p = req->path;
    size_t plen = strlen(p);
    if (plen > 12 && strcmp(p + plen - 12, "/invocations") == 0) return d->cfg.invoke_max_bytes + 4096;
    if (strncmp(p, FN_PREFIX, sizeof FN_PREFIX - 1) == 0)
        return d->cfg.max_zip_bytes / 3 * 4 + 8 + 1024 * 1024;  /* base64 ZIP + settings */
    return 1024 * 1024;
}

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
    api_respond_json(lr->ex, 200, cJSON_PrintUnformatted(o));
    cJSON_Delete(o);
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

/* Nimbus' own per-function routes, /nimbus/v1/functions/NAME/SUB: the
 * name is decoded and looked up once for all of them. Returns false when
 * SUB is none of them. */
static bool native_function_route(api_t *d, http_exchange_t *ex, http_request_t *req, const char *name,
                                  const char *sub)
{
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    const char *tail = strncmp(sub, "/instances/", 11) == 0 ? strchr(sub + 11, '/') : NULL;
    bool exec = post && tail && strcmp(tail, "/exec") == 0;
    bool list = get && strcmp(sub, "/instances") == 0, logs = get && strcmp(sub, "/logs") == 0;
    if (!exec && !list && !logs) return false;
    char *raw = strndup(name, (size_t)(sub - name));
    char *dec = raw ? util_url_decode(raw, strlen(raw)) : NULL;
    router_fn_t *fn = dec ? router_find(d->router, dec) : NULL;
    if (!fn) {
        api_respond_not_found(ex, dec ? dec : "", NULL);
    } else if (exec) {
        char iid[64];
        snprintf(iid, sizeof iid, "%.*s", (int)(tail - (sub + 11)), sub + 11);
        instance_t *in = instance_find(fn, iid);
        if (in) exec_handle(d, ex, req, in);
        else api_respond_error(ex, 404, "ResourceNotFoundException", "Instance not found: %s", iid);
    } else if (list) {
        api_respond_json(ex, 200, instance_list_json(fn));
    } else {
        logs_handle_query(d, ex, dec, req->query);
    }
    free(raw);
    free(dec);
    return true;
}

void api_handle(http_exchange_t *ex, http_request_t *req, void *arg)
{
    api_t *d = arg;
    const char *p = req->path;
    if (strncmp(p, FN_PREFIX, sizeof FN_PREFIX - 1) == 0 &&
        (p[sizeof FN_PREFIX - 1] == '/' || p[sizeof FN_PREFIX - 1] == '\0')) {
        const char *rest = p + sizeof FN_PREFIX - 1;
        size_t rl = strlen(rest);
        static const char inv[] = "/invocations";
        if (rl > sizeof inv && strcmp(rest + rl - (sizeof inv - 1), inv) == 0 && rest[0] == '/') {
            if (strcmp(req->method, "POST") != 0) {
                api_respond_error(ex, 405, "MethodNotAllowedException", "Invoke needs POST");
                return;
            }
            char *seg = strndup(rest + 1, rl - 1 - (sizeof inv - 1));
            char *name = seg ? util_url_decode(seg, strlen(seg)) : NULL;
            char *qual = util_query_param(req->query, "Qualifier");
            if (name && !strchr(name, '/')) invoke_handle(d, ex, name, qual);
            else api_respond_error(ex, 404, "ResourceNotFoundException", "Function not found");
            free(seg);
            free(name);
            free(qual);
            return;
        }
        control_handle(d, ex, req, rest);
        return;
    }
    static const char PC[] = "/2019-12-02/functions/";
    if (strncmp(p, PC, sizeof PC - 1) == 0) {
        const char *seg = p + sizeof PC - 1, *slash = strchr(seg, '/');
        if (slash && strcmp(slash, "/provisioned-concurrency") == 0) {
            char *raw = strndup(seg, (size_t)(slash - seg));
            char *name = raw ? util_url_decode(raw, strlen(raw)) : NULL;
            if (name) version_handle_provisioned(d, ex, req, name);
            else api_respond_error(ex, 404, "ResourceNotFoundException", "Function not found");
            free(raw);
            free(name);
            return;
        }
    }
    /* Concurrency lives under two other API dates. */
    static const char C1[] = "/2017-10-31/functions/", C2[] = "/2019-09-30/functions/";
    if (strncmp(p, C1, sizeof C1 - 1) == 0 || strncmp(p, C2, sizeof C2 - 1) == 0) {
        const char *seg = p + sizeof C1 - 1, *slash = strchr(seg, '/');
        if (slash && strcmp(slash, "/concurrency") == 0) {
            char *name = strndup(seg, (size_t)(slash - seg));
            if (name) control_handle_concurrency(d, ex, req, name);
            else api_respond_error(ex, 500, "ServiceException", "out of memory");
            free(name);
            return;
        }
    }
    static const char NATIVE_PRE[] = "/nimbus/v1/functions/";
    if (strncmp(p, NATIVE_PRE, sizeof NATIVE_PRE - 1) == 0) {
        const char *name = p + sizeof NATIVE_PRE - 1, *slash = strchr(name, '/');
        if (slash && native_function_route(d, ex, req, name, slash)) return;
    }
    static const char EXEC_PRE[] = "/nimbus/v1/execs/";
    if (strncmp(p, EXEC_PRE, sizeof EXEC_PRE - 1) == 0 && strcmp(req->method, "GET") == 0) {
        exec_poll(d, ex, p + sizeof EXEC_PRE - 1, req->query);
        return;
    }
    static const char CODE_PRE[] = "/nimbus/v1/code/";
    if (strncmp(p, CODE_PRE, sizeof CODE_PRE - 1) == 0 && strcmp(req->method, "GET") == 0) {
        control_get_code(d, ex, p + sizeof CODE_PRE - 1);
        return;
    }
    if (strcmp(p, "/nimbus/v1/health") == 0) {
        char *s = NULL;
        if (asprintf(&s, "{\"status\":\"%s\",\"functions\":%zu,\"instances\":%u,\"inflight\":%u,\"cgroup\":\"%s\"}",
                     d->core->stopping ? "stopping" : "ok", router_count(d->router),
                     router_instance_count(d->router), router_inflight(d->router), cgroup_version()) < 0)
            s = NULL;
        api_respond_json(ex, 200, s);
        return;
    }
    api_respond_error(ex, 404, "UnknownOperationException", "Unknown operation %s %s", req->method, p);
}


int api_load(api_t *d, err_t *err)
{
    if (control_load(d, err) < 0) return err_wrap(err, "loading functions");
    if (version_load(d, err) < 0) return err_wrap(err, "loading versions and aliases");
    return 0;
}

void api_code_released(void *arg, const char *hex) { control_collect_code(arg, hex); }
