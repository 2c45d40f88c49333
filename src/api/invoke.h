/* invoke.h — the Invoke API. */
#ifndef NIMBUS_API_INVOKE_H
#define NIMBUS_API_INVOKE_H

#include "api/api.h"

/* POST /2015-03-31/functions/{name}/invocations. `name` is the decoded
 * path segment (a name, name:qualifier or an ARN), `qualifier` the
 * ?Qualifier= value or NULL. */
void invoke_handle(api_t *a, http_exchange_t *ex, const char *name, const char *qualifier);

#endif
