/* account.h — Lambda's GetAccountSettings (GET /2016-08-19/account-settings):
 * the caller's account's limits and what it uses of them, and the account
 * rule of PutFunctionConcurrency.
 *
 * With credentials each account is apart (docs/security.md, "Accounts"):
 * ConcurrentExecutions is its own limit of calls in flight (its [account ID]
 * section's concurrency, else --account-concurrency),
 * UnreservedConcurrentExecutions that less what its own functions reserved,
 * FunctionCount its own functions (not their versions), and
 * AccountUsage.TotalCodeSize the ZIPs of its own functions and versions
 * (each distinct package once; layers are not yet any account's). Without
 * credentials the daemon is one account: every function counts, and
 * TotalCodeSize is what the code store holds. CodeSizeZipped,
 * CodeSizeUnzipped and AccountLimit.TotalCodeSize are the code store's
 * caps and space (docs/account-tags-policies.md).
 */
#ifndef NIMBUS_API_ACCOUNT_H
#define NIMBUS_API_ACCOUNT_H

#include "api/api.h"
#include "io/route.h"

/* The route handler (ctx = api_t *): GET only. */
void account_route(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p);

/* The least of an account's limit that no function may reserve: Lambda's
 * 100, or the whole limit when that is 100 or less (Lambda answers "[10]"
 * to an account limited to 10). */
unsigned account_unreserved_min(unsigned limit);

/* Lambda's checks of a PutFunctionConcurrency of `value` on fn against
 * its owner's account: not above the account's limit, and leaving at
 * least account_unreserved_min of it unreserved by the account's other
 * functions and this one. True when it may be stored; false after
 * answering 400 InvalidParameterValueException. */
bool account_check_reserve(api_t *d, http_exchange_t *ex, const router_fn_t *fn, int value);

#endif
