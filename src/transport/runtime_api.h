/* runtime_api.h — the Runtime API an instance pulls its calls from
 * (`/2018-06-01/runtime/...`, ../shared/reference/lambda-api.md §1).
 *
 * Every instance has its own listening socket, served by the daemon's
 * `rapi` HTTP server with the instance as the listener's context: a
 * request's instance is known from the socket it came through, never from
 * anything the runtime says.
 */
#ifndef NIMBUS_RUNTIME_API_H
#define NIMBUS_RUNTIME_API_H

#include "daemon/daemon.h"
#include "core/instance.h"
#include "core/invoke.h"

/* The rapi server's request handler (arg = daemon_t *). */
void runtime_api_handle(http_exchange_t *ex, http_request_t *req, void *arg);
/* Body limit of runtime-API requests (arg = daemon_t *). */
size_t runtime_api_body_limit(const http_request_t *req, void *arg);
/* Answer a parked /next with call c's event and headers. */
void runtime_api_send_event(instance_t *in, call_t *c, http_exchange_t *next_ex);

#endif
