/* tenancy.h — accounts apart: a request names a function; is it the
 * caller's, or one another account's resource policy lets it invoke?
 * (docs/security.md, "Accounts").
 *
 * Names stay unique per daemon; each function has an owning account
 * (function_config_t.owner). A plain name of another account's function
 * is answered as Lambda answers a function that does not exist (404); an
 * ARN naming the owner's account is 403 AccessDeniedException, unless the
 * operation is an invocation and the owner's policy allows the caller's
 * account (lambda:InvokeFunction; lambda:InvokeFunctionUrl for URLs).
 * Policies are read on a worker and what they grant is kept in memory
 * until a policy of that function changes.
 *
 * Must never: answer "exists" for another account's function to a plain
 * name, or keep a grant past a change of the policy it came from.
 */
#ifndef NIMBUS_API_TENANCY_H
#define NIMBUS_API_TENANCY_H

#include <stdbool.h>

#include "api/api.h"
#include "api/auth.h"

/* The check of a request whose route names function `name` (as the
 * caller wrote it). true: go on now. false: answered, or being checked
 * (the policy is read on a worker); then `resume(d, ex, req)` runs once
 * the grant is known, to route the request again. */
typedef void (*tenancy_resume_fn)(api_t *d, http_exchange_t *ex, http_request_t *req);
bool tenancy_check(api_t *d, http_exchange_t *ex, http_request_t *req, const char *name, bool invoke,
                   tenancy_resume_fn resume);

/* A function URL with AuthType AWS_IAM: the signed caller `who` may call
 * it when it owns `fn` or the owner's policy allows lambda:InvokeFunctionUrl
 * (same rules, same resume). A refusal is the URL's to answer (Lambda's
 * URLs say 403 {"Message":"Forbidden"}, not the API's error): `deny(d, ex,
 * req)` answers it, now or once the policy is read. */
bool tenancy_check_url(api_t *d, http_exchange_t *ex, http_request_t *req, const auth_key_t *who,
                       const function_config_t *fn, tenancy_resume_fn resume, tenancy_resume_fn deny);

/* A policy of `function` was written: forget what it granted. */
void tenancy_policy_changed(api_t *d, const char *function);
void tenancy_free(api_t *d);

#endif
