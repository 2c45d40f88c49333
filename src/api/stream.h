/* stream.h — InvokeWithResponseStream: a synchronous call whose response
 * reaches the caller as it comes, as an AWS event stream. */
#ifndef NIMBUS_API_STREAM_H
#define NIMBUS_API_STREAM_H

#include "api/api.h"

/* POST /2021-11-15/functions/{name}/response-streaming-invocations.
 * `name` is the decoded path segment (a name, name:qualifier or an ARN),
 * `qualifier` the ?Qualifier= value or NULL. */
void stream_invoke_handle(api_t *a, http_exchange_t *ex, const char *name, const char *qualifier);

#endif
