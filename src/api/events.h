/* events.h — Nimbus' native API over a function's asynchronous events and
 * dead letters:
 *
 *   GET    /nimbus/v1/functions/NAME/events?state=S&after=ID&limit=N
 *   GET    /nimbus/v1/functions/NAME/events/ID
 *   DELETE /nimbus/v1/functions/NAME/events/ID      cancel a waiting event
 *   GET    /nimbus/v1/functions/NAME/dlq?after=ID&limit=N
 *   POST   /nimbus/v1/functions/NAME/dlq/redrive    {} or {"RequestId": ID}
 *   DELETE /nimbus/v1/functions/NAME/dlq            purge
 *
 * Reads go to the queue store (answered on the loop when they return);
 * actions go to the async queue.
 */
#ifndef NIMBUS_API_EVENTS_H
#define NIMBUS_API_EVENTS_H

#include "api/api.h"

/* `function` is the decoded {name}; the function exists. `id` is NULL for
 * the collection. */
void events_list(api_t *d, http_exchange_t *ex, http_request_t *req, const char *function);
void events_get(api_t *d, http_exchange_t *ex, const char *function, const char *id);
void events_cancel(api_t *d, http_exchange_t *ex, const char *function, const char *id);
void events_dlq_list(api_t *d, http_exchange_t *ex, http_request_t *req, const char *function);
void events_dlq_redrive(api_t *d, http_exchange_t *ex, http_request_t *req, const char *function);
void events_dlq_purge(api_t *d, http_exchange_t *ex, const char *function);

#endif
