/* policy.h — Lambda's resource-based policies on functions: AddPermission
 * (POST), GetPolicy (GET) on /2015-03-31/functions/{name}/policy and
 * RemovePermission (DELETE .../policy/{StatementId}), per qualifier (the
 * function itself, a version or an alias).
 *
 * A policy is the IAM document Lambda builds from the permissions added
 * ({"Version":"2012-10-17","Id":"default","Statement":[...]}), at most
 * 20 KB, with a RevisionId that changes on every write. Policies are
 * stored, one document per function and qualifier, and go with their
 * function, version or alias. With credentials they are enforced for
 * invocations from another account (api/tenancy.h).
 */
#ifndef NIMBUS_API_POLICY_H
#define NIMBUS_API_POLICY_H

#include "api/api.h"
#include "io/route.h"

/* .../functions/{name}/policy (ctx = api_t *): GET, POST; others 405. */
void policy_route(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p);
/* .../functions/{name}/policy/{sid}: DELETE; others 405. */
void policy_statement_route(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p);

#endif
