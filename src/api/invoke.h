/* invoke.h — the Invoke API: synchronous calls, and asynchronous ones
 * handed to the async queue. */
#ifndef NIMBUS_API_INVOKE_H
#define NIMBUS_API_INVOKE_H

#include "api/api.h"
#include "core/call.h"

/* POST /2015-03-31/functions/{name}/invocations. `name` is the decoded
 * path segment (a name, name:qualifier or an ARN), `qualifier` the
 * ?Qualifier= value or NULL. */
void invoke_handle(api_t *a, http_exchange_t *ex, const char *name, const char *qualifier);
/* POST /2014-11-13/functions/{name}/invoke-async/ (Lambda's deprecated
 * InvokeAsync): an asynchronous call answered 202 {"Status":202}. */
void invoke_handle_legacy_async(api_t *a, http_exchange_t *ex, const char *name);

/* ---- what Invoke and InvokeWithResponseStream share ---- */

typedef enum { INVOKE_API, INVOKE_LEGACY_ASYNC, INVOKE_STREAM } invoke_kind_t;

typedef struct {
    router_fn_t *fn;             /* the version to run (an alias's pick) */
    char name[180], qual[140];   /* as named */
    bool event;                  /* InvocationType Event (FC: Async) */
    bool dry_run;
    char *client_context;        /* decoded X-Amz-Client-Context, or NULL */
} invoke_req_t;

/* The request checked as Lambda checks it: the function and qualifier,
 * the invocation type (Event only for INVOKE_API and the legacy
 * InvokeAsync), the synchronous payload limit, JSON, the client context.
 * 0, or -1 after answering (a DryRun is answered 204 here). */
int invoke_parse(api_t *d, http_exchange_t *ex, const char *path_name, const char *qualifier, invoke_kind_t kind,
                 invoke_req_t *r);
void invoke_req_free(invoke_req_t *r);
/* A synchronous call of the parsed request (not yet submitted: the caller
 * sets done, owner, stream), or NULL after answering (shutting down,
 * throttled). Takes r's client context. */
call_t *invoke_call(api_t *d, http_exchange_t *ex, invoke_req_t *r);

#endif
