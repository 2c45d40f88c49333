/* control.h — the Lambda control plane: CreateFunction, GetFunction,
 * GetFunctionConfiguration, ListFunctions, UpdateFunctionCode,
 * UpdateFunctionConfiguration, DeleteFunction (lambda-api.md §3.3).
 *
 * Reads are answered from the router's memory. Writes run on a worker
 * (decode, hash and extract the ZIP, write SQLite) and are applied to the
 * router on the loop thread when durable, then answered.
 */
#ifndef NIMBUS_CONTROL_H
#define NIMBUS_CONTROL_H

#include "api/api.h"
#include "core/router.h"

/* Route a request under /2015-03-31/functions. `rest` is the path after
 * "/2015-03-31/functions" ("", "/", "/NAME", "/NAME/code", ...). */
void control_handle(api_t *d, http_exchange_t *ex, http_request_t *req, const char *rest);
/* Remove the code tree `hex` if no function and no live instance uses it
 * any more (runs the check and removal on a worker). */
void control_collect_code(api_t *d, const char *hex);
/* PutFunctionConcurrency (PUT /2017-10-31/functions/NAME/concurrency),
 * GetFunctionConcurrency (GET /2019-09-30/...), DeleteFunctionConcurrency
 * (DELETE /2017-10-31/...). `seg` is the raw NAME path segment. */
void control_handle_concurrency(api_t *d, http_exchange_t *ex, http_request_t *req, const char *seg);
/* GET /nimbus/v1/code/<hex>.zip: the stored ZIP (GetFunction's
 * Code.Location). */
void control_get_code(api_t *d, http_exchange_t *ex, const char *hex);
/* One write at a time per function: answers Lambda's 409 "update in
 * progress" and returns true when one is running. */
bool control_busy(http_exchange_t *ex, const router_fn_t *fn);
/* Load every stored function into the router (start-up, blocking). */
int control_load(api_t *d, err_t *err);

#endif
