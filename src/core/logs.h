/* logs.h — function logs: every line an instance prints, and the START /
 * END / REPORT lines of each call, stored per function and queryable by
 * request id and time.
 *
 * Lines are numbered in memory as they arrive and written to the store in
 * batches by a worker, so the call path never waits for disk. A query
 * merges what is stored with what is still on its way there, so nothing
 * printed is missing from an answer. Loop thread only.
 */
#ifndef NIMBUS_LOGS_H
#define NIMBUS_LOGS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/daemon.h"

logs_t *logs_new(daemon_t *d, err_t *err);
/* Write out everything pending (blocking) and free. */
void logs_free(logs_t *l);
/* Record one line (no newline) of `function`, in call `request_id` ("" for
 * none). */
void logs_emit(logs_t *l, const char *function, const char *request_id, const char *line,
               size_t len);
/* GET /nimbus/v1/functions/{name}/logs?request_id=&since=&until=&after=&limit= */
void logs_handle_query(logs_t *l, http_exchange_t *ex, const char *function, const char *query);
/* Remove a function's logs (DeleteFunction). */
void logs_delete_function(logs_t *l, const char *function);

#endif
