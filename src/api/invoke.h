/* invoke.h — the Invoke API: synchronous calls, and asynchronous ones
 * handed to the async queue. */
#ifndef NIMBUS_API_INVOKE_H
#define NIMBUS_API_INVOKE_H

#include "api/api.h"

/* POST /2015-03-31/functions/{name}/invocations. `name` is the decoded
 * path segment (a name, name:qualifier or an ARN), `qualifier` the
 * ?Qualifier= value or NULL. */
void invoke_handle(api_t *a, http_exchange_t *ex, const char *name, const char *qualifier);
/* POST /2014-11-13/functions/{name}/invoke-async/ (Lambda's deprecated
 * InvokeAsync): an asynchronous call answered 202 {"Status":202}. */
void invoke_handle_legacy_async(api_t *a, http_exchange_t *ex, const char *name);

#endif
