/* account.h — Lambda's GetAccountSettings (GET /2016-08-19/account-settings):
 * this daemon's own limits and what is used of them.
 *
 * AccountLimit: ConcurrentExecutions is --account-concurrency,
 * UnreservedConcurrentExecutions what no function has reserved of it,
 * CodeSizeZipped and CodeSizeUnzipped the code store's caps on one
 * package, TotalCodeSize the space the code store may fill (what it holds
 * plus what its file system has free). AccountUsage: FunctionCount (the
 * functions, not their versions) and TotalCodeSize, the bytes of the ZIPs
 * the code store holds (each distinct package once).
 */
#ifndef NIMBUS_API_ACCOUNT_H
#define NIMBUS_API_ACCOUNT_H

#include "api/api.h"
#include "io/route.h"

/* The route handler (ctx = api_t *): GET only. */
void account_route(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p);

#endif
