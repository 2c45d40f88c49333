/* runtime_api.h — the Runtime API an instance pulls its calls from
 * (`/2018-06-01/runtime/...`; Tencent SCF's `/runtime/...` variant), as two
 * transports (core/transport.h).
 *
 * Every instance has its own listening socket, served by one HTTP server
 * with the instance as the listener's context: a request's instance is
 * known from the socket it came through, never from anything the runtime
 * says.
 */
#ifndef NIMBUS_RUNTIME_API_H
#define NIMBUS_RUNTIME_API_H

#include "core/transport.h"
#include "io/http.h"
#include "io/loop.h"

typedef struct rapi rapi_t;

/* `on_error` shapes the answers the HTTP server gives itself (400, 408,
 * 413, 431): the same as the public API's, so the owner passes it. */
rapi_t *runtime_api_new(loop_t *loop, http_error_fn on_error, err_t *err);
/* Closes every instance's socket and connection. */
void runtime_api_free(rapi_t *api);
const transport_t *runtime_api_lambda(rapi_t *api);
const transport_t *runtime_api_scf(rapi_t *api);

#endif
