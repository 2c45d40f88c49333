/* api.h — the public HTTP API (Lambda's control plane and Invoke, Nimbus'
 * own /nimbus/v1 routes): the parts its handlers reach, and the answers.
 *
 * The API layer is the only place where an outcome becomes an HTTP answer
 * to a client: the core reports outcomes as values and callbacks, the HTTP
 * server knows nothing of Lambda's error shapes.
 */
#ifndef NIMBUS_API_H
#define NIMBUS_API_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/async.h"
#include "core/core.h"
#include "core/logs.h"
#include "core/router.h"
#include "io/http.h"
#include "io/loop.h"
#include "io/route.h"
#include "store/codestore.h"
#include "store/store.h"

typedef struct {
    unsigned max_instances_per_fn;  /* provisioned concurrency's ceiling */
    size_t invoke_max_bytes;        /* synchronous payload limit */
    size_t async_max_bytes;         /* asynchronous payload limit */
    size_t max_zip_bytes;           /* a deployment package */
    int public_port;                /* the listener's port, for FunctionUrl */
    bool public_tls;                /* the listener speaks TLS: the URLs given are https */
} api_config_t;

typedef struct api {
    api_config_t cfg;
    loop_t *loop;
    router_t *router;
    store_t *store;
    codestore_t *code;
    logs_t *logs;
    core_ctx_t *core;               /* for `stopping` */
    async_t *async;                 /* the async queue (InvocationType Event), or NULL */
    struct event_configs *event_configs; /* EventInvokeConfig in memory (api/event_config.c) */
    struct trigger_wheel *triggers; /* the timer triggers (core/trigger.h), or NULL */
    struct url_table *urls;         /* function URLs (api/url.c) */
    struct tag_table *tags;         /* functions' tags (api/tags.c) */
    struct auth_table *auth;        /* the credentials (api/auth.h), or NULL: nothing checked */
    struct grant_cache *grants;     /* what other accounts' policies grant (api/tenancy.c) */
    size_t url_body_limit;          /* a request to a function URL */
    http_server_t *server;          /* the public listener's server (its connections, for metrics) */
    route_t *routes;                /* the public routes, with their body limits */
    route_table_t table;
} api_t;

/* Build the route table (after cfg is set); api_free releases it. */
int api_init(api_t *a, err_t *err);
void api_free(api_t *a);

/* The public server's request handler and body limit (arg = api_t *). */
void api_handle(http_exchange_t *ex, http_request_t *req, void *arg);
size_t api_body_limit(const http_request_t *req, void *arg);

/* Load every stored function, version, alias and EventInvokeConfig
 * (start-up, blocking). */
int api_load(api_t *a, err_t *err);
/* core_ctx_t.code_released: remove a code tree nothing uses any more. */
void api_code_released(void *arg, const char *hex);

/* ---- writes ---- */

/* A write of a function's stored documents: `work` runs on a worker (the
 * store's calls may block), then `done` on the loop thread. A failed work
 * is answered here (api_respond_err); `done` then gets ex NULL, as when
 * the client went away, and rc < 0. The function is marked updating
 * meanwhile (one write at a time: see control_busy). `done` always runs
 * once and owns `arg`. */
typedef int (*api_work_fn)(store_t *s, void *arg, err_t *err);
typedef void (*api_done_fn)(api_t *d, http_exchange_t *ex, void *arg, int rc);
void api_write(api_t *d, http_exchange_t *ex, router_fn_t *latest, api_work_fn work, api_done_fn done, void *arg);

/* ---- answers ---- */

/* A Lambda-style error: status, x-amzn-ErrorType, x-amzn-RequestId and
 * {"Type":"User"|"Service","Message"/"message":...}. */
void api_respond_error(http_exchange_t *ex, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 404 ResourceNotFoundException "Function not found: <its ARN>". */
void api_respond_not_found(http_exchange_t *ex, const char *name, const char *qualifier);
/* A RevisionId that is not the resource's current one: 412
 * PreconditionFailedException with Lambda's message. */
void api_respond_precondition(http_exchange_t *ex);
/* When `body` has a RevisionId other than `current`: answer that, true. */
bool api_revision_stale(http_exchange_t *ex, const cJSON *body, const char *current);
/* A method and path no operation has: 404 UnknownOperationException, as
 * Lambda answers an unknown route. */
void api_respond_unknown(http_exchange_t *ex, const http_request_t *req);
/* The request body as one JSON object, read strictly (base/json.h: one
 * document, no duplicate key, no NUL in a string); an empty body is {}
 * when `empty_ok`. NULL once 400 InvalidRequestContentException "Could not
 * parse request body into json: <why>" is answered. */
cJSON *api_body_object(http_exchange_t *ex, const http_request_t *req, bool empty_ok);
/* An err_t, mapped to the status and type of its class. */
void api_respond_err(http_exchange_t *ex, const err_t *err);
/* A JSON document (takes ownership of `json`; NULL for an empty body),
 * with a fresh x-amzn-RequestId like every answer here. */
void api_respond_json(http_exchange_t *ex, int status, char *json);
/* An answer without a body (204, 202): only the request id. */
void api_respond_empty(http_exchange_t *ex, int status);
/* The same for a cJSON document, printed compactly and deleted. */
void api_respond_doc(http_exchange_t *ex, int status, cJSON *doc);
/* The answers the HTTP servers give themselves (400, 408, 413, 431), in the
 * shape Lambda's clients parse (http_server_config_t.on_error): the public
 * API's and the runtime API's alike. */
void api_http_error(const http_error_t *e, http_error_answer_t *ans, void *arg);
/* Lambda's throttle: 429 TooManyRequestsException with Reason and Retry-After. */
void api_respond_throttled(http_exchange_t *ex, const char *reason);

#endif
