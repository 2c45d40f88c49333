/* metrics.h — the metrics the daemon shows:
 *   GET /metrics                                   Prometheus' text format (docs/metrics.md)
 *   GET /nimbus/v1/metrics/functions               the last hour of every function, summed
 *   GET /nimbus/v1/functions/NAME/metrics?minutes=&step=   one function's history in points
 * All answered on the loop thread from the counters in memory.
 */
#ifndef NIMBUS_API_METRICS_H
#define NIMBUS_API_METRICS_H

#include "api/api.h"

void metrics_page(api_t *d, http_exchange_t *ex);
void metrics_functions_summary(api_t *d, http_exchange_t *ex);
void metrics_function_history(api_t *d, http_exchange_t *ex, router_fn_t *latest, const char *query);

#endif
