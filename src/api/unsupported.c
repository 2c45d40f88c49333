/* unsupported.c — the Lambda operations Nimbus cannot serve, named in a
 * clear refusal.
 *
 * A request no row of the public table takes is looked up here before it
 * is answered as an unknown operation: when its method and path are one
 * of Lambda's operations that cannot exist on this platform (event source
 * mappings read AWS services; code signing, capacity providers, durable
 * executions and the like need parts of AWS Nimbus does not have), the
 * client gets 400 InvalidParameterValueException naming the operation, a
 * shape every SDK parses, instead of a 404 that reads as "no such
 * function". docs/lambda-operations.md says why for each. Must never:
 * take a request a real row serves (it is asked only after the table
 * missed), or answer one that is not in its list.
 */
#include "api/unsupported.h"

#include <string.h>

#include "io/route.h"

#define TS ROUTE_TRAILING_SLASH

static void h_none(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)ctx; (void)ex; (void)req; (void)p;
}

/* Method and path as the API reference gives them, and the operation. */
static const struct {
    const char *method, *pattern, *op;
    unsigned flags;
} OPS[] = {
    { "POST", "/2015-03-31/event-source-mappings", "CreateEventSourceMapping", TS },
    { "GET", "/2015-03-31/event-source-mappings", "ListEventSourceMappings", TS },
    { "GET", "/2015-03-31/event-source-mappings/{id}", "GetEventSourceMapping", TS },
    { "PUT", "/2015-03-31/event-source-mappings/{id}", "UpdateEventSourceMapping", TS },
    { "DELETE", "/2015-03-31/event-source-mappings/{id}", "DeleteEventSourceMapping", TS },
    { "POST", "/2020-04-22/code-signing-configs", "CreateCodeSigningConfig", TS },
    { "GET", "/2020-04-22/code-signing-configs", "ListCodeSigningConfigs", TS },
    { "GET", "/2020-04-22/code-signing-configs/{arn}", "GetCodeSigningConfig", 0 },
    { "PUT", "/2020-04-22/code-signing-configs/{arn}", "UpdateCodeSigningConfig", 0 },
    { "DELETE", "/2020-04-22/code-signing-configs/{arn}", "DeleteCodeSigningConfig", 0 },
    { "GET", "/2020-04-22/code-signing-configs/{arn}/functions", "ListFunctionsByCodeSigningConfig", 0 },
    { "PUT", "/2020-06-30/functions/{name}/code-signing-config", "PutFunctionCodeSigningConfig", 0 },
    { "GET", "/2020-06-30/functions/{name}/code-signing-config", "GetFunctionCodeSigningConfig", 0 },
    { "DELETE", "/2020-06-30/functions/{name}/code-signing-config", "DeleteFunctionCodeSigningConfig", 0 },
    { "GET", "/2021-07-20/functions/{name}/runtime-management-config", "GetRuntimeManagementConfig", 0 },
    { "PUT", "/2021-07-20/functions/{name}/runtime-management-config", "PutRuntimeManagementConfig", 0 },
    { "GET", "/2024-08-31/functions/{name}/recursion-config", "GetFunctionRecursionConfig", 0 },
    { "PUT", "/2024-08-31/functions/{name}/recursion-config", "PutFunctionRecursionConfig", 0 },
    { "POST", "/2025-11-30/capacity-providers", "CreateCapacityProvider", TS },
    { "GET", "/2025-11-30/capacity-providers", "ListCapacityProviders", TS },
    { "GET", "/2025-11-30/capacity-providers/{name}", "GetCapacityProvider", 0 },
    { "PUT", "/2025-11-30/capacity-providers/{name}", "UpdateCapacityProvider", 0 },
    { "DELETE", "/2025-11-30/capacity-providers/{name}", "DeleteCapacityProvider", 0 },
    { "GET", "/2025-11-30/capacity-providers/{name}/function-versions", "ListFunctionVersionsByCapacityProvider", 0 },
    { "GET", "/2025-11-30/functions/{name}/function-scaling-config", "GetFunctionScalingConfig", 0 },
    { "PUT", "/2025-11-30/functions/{name}/function-scaling-config", "PutFunctionScalingConfig", 0 },
    { "GET", "/2025-12-01/functions/{name}/durable-executions", "ListDurableExecutionsByFunction", 0 },
    { "GET", "/2025-12-01/durable-executions/{arn}", "GetDurableExecution", 0 },
    { "GET", "/2025-12-01/durable-executions/{arn}/history", "GetDurableExecutionHistory", 0 },
    { "GET", "/2025-12-01/durable-executions/{arn}/state", "GetDurableExecutionState", 0 },
    { "POST", "/2025-12-01/durable-executions/{arn}/checkpoint", "CheckpointDurableExecution", 0 },
    { "POST", "/2025-12-01/durable-executions/{arn}/stop", "StopDurableExecution", 0 },
    { "POST", "/2025-12-01/durable-execution-callbacks/{id}/fail", "SendDurableExecutionCallbackFailure", 0 },
    { "POST", "/2025-12-01/durable-execution-callbacks/{id}/heartbeat", "SendDurableExecutionCallbackHeartbeat", 0 },
    { "POST", "/2025-12-01/durable-execution-callbacks/{id}/succeed", "SendDurableExecutionCallbackSuccess", 0 },
    { "GET", "/2026-07-09/resource-policy/{arn}", "GetResourcePolicy", 0 },
    { "PUT", "/2026-07-09/resource-policy/{arn}", "PutResourcePolicy", 0 },
    { "DELETE", "/2026-07-09/resource-policy/{arn}", "DeleteResourcePolicy", 0 },
};
#define NOPS (sizeof OPS / sizeof OPS[0])

static route_t g_routes[NOPS];
static route_table_t g_table;

static const route_table_t *table(void)
{
    /* Built once, on the loop thread, from the list above. */
    if (!g_table.nroutes) {
        for (size_t i = 0; i < NOPS; i++)
            g_routes[i] = (route_t){ OPS[i].method, OPS[i].pattern, h_none, 0, OPS[i].flags };
        g_table = (route_table_t){ g_routes, NOPS, 0 };
    }
    return &g_table;
}

const char *unsupported_operation(const char *method, const char *path)
{
    route_match_t m;
    route_status_t st = route_match(table(), method, path, &m, NULL);
    if ((st != ROUTE_MATCHED && st != ROUTE_BAD_PARAM) || !m.route) return NULL;
    return OPS[m.route - g_routes].op;
}

bool unsupported_answer(http_exchange_t *ex, const http_request_t *req)
{
    const char *op = unsupported_operation(req->method, req->path);
    if (!op) return false;
    api_respond_error(ex, 400, "InvalidParameterValueException",
                      "%s is not supported by Nimbus", op);
    return true;
}

int unsupported_check(err_t *err) { return route_table_check(table(), err); }
