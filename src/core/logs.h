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

#include "core/router.h"
#include "io/loop.h"
#include "store/store.h"

typedef struct logs logs_t;
typedef struct logs_query logs_query_t;

logs_t *logs_new(loop_t *loop, store_t *store, err_t *err);
/* Write out everything pending (blocking) and free. */
void logs_free(logs_t *l);
/* Record one line (no newline) of `function`, in call `request_id` ("" for
 * none). */
void logs_emit(logs_t *l, const char *function, const char *request_id, const char *line,
               size_t len);
/* The lines `q` selects (copied), once every line emitted before now is
 * stored: `done` gets them (or the store's error) on the loop thread. */
typedef void (*logs_query_done_fn)(void *arg, const err_t *err, const store_log_t *lines, size_t n);
logs_query_t *logs_query(logs_t *l, const store_log_query_t *q, logs_query_done_fn done, void *arg,
                         err_t *err);
/* The asker went away: `done` is not called. */
void logs_query_cancel(logs_query_t *q);
/* Remove a function's logs (DeleteFunction). */
void logs_delete_function(logs_t *l, const char *function);

/* Retention, run on a worker every `every_ms`, one sweep at a time: each
 * function's LogRetentionInDays (else `retention_days`; 0 keeps lines by
 * age forever) and LogMaxBytes, then `total_max_bytes` over all lines; the
 * space goes back to the file system. */
typedef struct {
    int retention_days;
    int64_t total_max_bytes;   /* 0: no overall budget */
    uint64_t every_ms;
} logs_retention_t;
void logs_retention_start(logs_t *l, router_t *r, const logs_retention_t *cfg);

#endif
