/* control.h — the Lambda control plane: CreateFunction, GetFunction,
 * GetFunctionConfiguration, ListFunctions, UpdateFunctionCode,
 * UpdateFunctionConfiguration, DeleteFunction, and reserved concurrency.
 * The route table (routes.c) says which request each serves.
 *
 * Reads are answered from the router's memory. Writes run on a worker
 * (decode, hash and extract the ZIP, write SQLite) and are applied to the
 * router on the loop thread when durable, then answered.
 */
#ifndef NIMBUS_CONTROL_H
#define NIMBUS_CONTROL_H

#include "api/api.h"
#include "core/router.h"

/* The function a decoded {name} capture names (plain, name:qualifier or an
 * ARN); its qualifier goes to `qual` (?Qualifier= wins). NULL after
 * answering 404. */
router_fn_t *control_find(api_t *d, http_exchange_t *ex, http_request_t *req, const char *name, char *qual,
                          size_t qn);
/* ListFunctions, CreateFunction. */
void control_list(api_t *d, http_exchange_t *ex, http_request_t *req);
void control_create(api_t *d, http_exchange_t *ex);
/* GetFunction (config_only false) and GetFunctionConfiguration, of the
 * version or alias `qual` names ("" for $LATEST). */
void control_get(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *fn, const char *qual,
                 bool config_only);
/* DeleteFunction: the whole function, or (qual) one version. */
void control_delete(api_t *d, http_exchange_t *ex, router_fn_t *fn, const char *qual);
/* UpdateFunctionCode (code) or UpdateFunctionConfiguration. */
void control_update(api_t *d, http_exchange_t *ex, router_fn_t *fn, bool code);
/* Remove the code tree `hex` if no function and no live instance uses it
 * any more (runs the check and removal on a worker). */
void control_collect_code(api_t *d, const char *hex);
/* Held by a worker from "code stored" to "row written" (and by the
 * collector from "unreferenced?" to "removed"), so that no collection
 * removes a tree a concurrent write just reused. */
void control_code_lock(void);
void control_code_unlock(void);
/* PutFunctionConcurrency (PUT), GetFunctionConcurrency (GET),
 * DeleteFunctionConcurrency (DELETE); other methods 405. */
void control_concurrency(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *fn);
/* GET /nimbus/v1/code/<hex>.zip: the stored ZIP (GetFunction's
 * Code.Location). */
void control_get_code(api_t *d, http_exchange_t *ex, const char *hex);
/* One write at a time per function: answers Lambda's 409 "update in
 * progress" and returns true when one is running. */
bool control_busy(http_exchange_t *ex, const router_fn_t *fn);
/* Load every stored function into the router (start-up, blocking). */
int control_load(api_t *d, err_t *err);

#endif
