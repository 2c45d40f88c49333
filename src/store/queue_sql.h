/* queue_sql.h — inside the queue store (queue.h): the SQLite file and every
 * statement run against it, apart from the loop side that batches writes
 * and answers callers (queue_sqlite.c). Not for use outside src/store.
 *
 * Every call here blocks (a worker, start-up or close) and takes the
 * connection's mutex itself.
 */
#ifndef NIMBUS_QUEUE_SQL_H
#define NIMBUS_QUEUE_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/queue.h"

typedef struct queue_sql queue_sql_t;

typedef enum { QOP_ACCEPT, QOP_STATE, QOP_RESULT, QOP_ATTEMPT, QOP_DELETE } queue_op_kind_t;

/* One write, an accept or an unwaited change. `ev` carries what it sets:
 * all of it for an accept, the id and the changed fields otherwise. */
typedef struct queue_op {
    struct queue_op *next;
    queue_op_kind_t kind;
    int tries;                 /* commits it failed in */
    queue_event_t ev;
    bool keep_error;           /* QOP_STATE: last_error was NULL, leave it */
    bool keep_result;          /* QOP_RESULT: result was NULL, leave it */
    bool keep_destination;     /* QOP_RESULT: destination was NULL, leave it */
    queue_attempt_t att;       /* QOP_ATTEMPT */
    int64_t window_ms;         /* QOP_ACCEPT: the idempotency window */
    queue_accept_fn done;
    void *arg;
    int rc;                    /* QOP_ACCEPT, this accept alone failed (a duplicate id): -1, err */
    err_t err;
    char dup_id[37];           /* QOP_ACCEPT: the first event of its key, "" none */
} queue_op_t;

queue_sql_t *queue_sql_open(const char *path, err_t *err);
void queue_sql_close(queue_sql_t *s);

/* One transaction for the whole list, all of it or none; `durable` makes
 * it fsync (synchronous=FULL) before it returns. `events`: the events it
 * inserted. Per-accept outcomes land in each op (rc, err, dup_id). */
int queue_sql_write(queue_sql_t *s, queue_op_t *ops, bool durable, uint64_t *events, err_t *err);

/* Up to `max` unfinished events after seq *after (0: from the start),
 * oldest first; *after moves to the last one. */
int queue_sql_load(queue_sql_t *s, int64_t *after, size_t max, queue_event_t **evs, size_t *n, err_t *err);
/* A page of a function's events (state -1: any); next_id "" at the end. */
int queue_sql_list(queue_sql_t *s, const char *function, int state, const char *after_id, size_t limit,
                   queue_event_t **evs, size_t *n, char next_id[37], err_t *err);
/* One event (*evs, *n == 1) and its attempts; ERR_NOT_FOUND when unknown. */
int queue_sql_get(queue_sql_t *s, const char *id, queue_event_t **evs, size_t *n, queue_attempt_t **atts,
                  size_t *natts, err_t *err);
void queue_sql_free_events(queue_event_t *evs, size_t n);

#endif
