/* version.h — published versions, aliases and provisioned concurrency
 * (Lambda's PublishVersion, ListVersionsByFunction, CreateAlias, GetAlias,
 * ListAliases, UpdateAlias, DeleteAlias, Put/Get/DeleteProvisionedConcurrencyConfig,
 * and the Qualifier of GetFunction / GetFunctionConfiguration / DeleteFunction).
 *
 * A version is an immutable copy of $LATEST's configuration and code with a
 * number that is never reused; an alias names one version or splits calls
 * between two by weight. Writes are stored on a worker, then applied to the
 * router and answered, like the rest of the control plane.
 */
#ifndef NIMBUS_VERSION_H
#define NIMBUS_VERSION_H

#include "api/api.h"
#include "core/router.h"

/* PublishVersion (one write at a time) and ListVersionsByFunction. */
void version_publish(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest);
void version_list(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest);
/* .../aliases (alias NULL: ListAliases, CreateAlias) and .../aliases/A
 * (GetAlias, UpdateAlias, DeleteAlias); other methods 405. */
void version_aliases(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest, const char *alias);
/* GET /2015-03-31/functions/NAME[/configuration]?Qualifier=Q: the version
 * (or the alias's version) Q names, or NULL after answering 404. */
router_fn_t *version_for_read(api_t *d, http_exchange_t *ex, router_fn_t *latest, const char *qualifier);
/* DELETE /2015-03-31/functions/NAME?Qualifier=N: delete one version. */
void version_delete(api_t *d, http_exchange_t *ex, router_fn_t *latest, const char *qualifier);
/* .../functions/NAME/provisioned-concurrency?Qualifier=Q (`name` decoded). */
void version_handle_provisioned(api_t *d, http_exchange_t *ex, http_request_t *req, const char *name);
/* Start-up: load stored versions and aliases into the router (blocking). */
int version_load(api_t *d, err_t *err);

#endif
