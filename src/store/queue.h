/* queue.h — the async queue's durable half: every event accepted for an
 * asynchronous call, its attempts and its end, in a SQLite file of its own
 * (queue.db beside nimbus.db, so the queue's fsyncs never wait behind log
 * batches). A PostgreSQL backend implements the same interface later.
 *
 * Two kinds of write:
 *  - an accept (queue_store_accept) is durable before its callback runs:
 *    committed and fsync'd. Accepts arriving while a commit is in flight
 *    are written together in the next one (group commit: many callers, one
 *    fsync);
 *  - every other change (attempt started or ended, state, dead letters) is
 *    written in the next commit without anyone waiting for it. If the
 *    daemon dies before it is stored, the event is simply delivered again
 *    after restart (at-least-once).
 * Both kinds go through one writer at a time on a worker (loop_submit);
 * the loop thread never touches SQLite. Queries run on a worker and see
 * every write made before them (they wait for the writes in flight).
 * Callbacks run on the loop thread.
 */
#ifndef NIMBUS_QUEUE_H
#define NIMBUS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/loop.h"

typedef struct queue_store queue_store_t;

typedef enum {
    QEV_QUEUED,      /* waiting for its first attempt */
    QEV_RUNNING,     /* an attempt is running */
    QEV_RETRYING,    /* an attempt failed; the next waits until next_ms */
    QEV_SUCCEEDED,   /* an attempt succeeded */
    QEV_FAILED,      /* retries or age exhausted; its failure went to a destination */
    QEV_DEAD,        /* failed and kept in the function's dead-letter list */
    QEV_CANCELLED,   /* cancelled while queued */
} queue_state_t;

/* "queued", "running", ... (the API's spelling); queue_state_parse is its
 * inverse (-1 when unknown). */
const char *queue_state_name(queue_state_t s);
int queue_state_parse(const char *name);

typedef struct {
    char id[37];             /* the request id the caller was given */
    char function[65];
    char qualifier[130];     /* as invoked ("" for $LATEST) */
    char *payload;           /* the event (malloc'd, NUL-terminated) */
    size_t payload_len;
    queue_state_t state;
    int attempts;            /* attempts started so far */
    int64_t created_ms;      /* wall clock of the accept */
    int64_t next_ms;         /* not before (retries) */
    char idempotency_key[129]; /* "" for none */
    char last_error[512];    /* "errorType: message" of the last failed attempt */
    char *result;            /* the last attempt's answer (success or error document), or NULL */
    size_t result_len;
    char destination[512];   /* where its outcome went ("" none), and how that went */
    char origin[130];        /* who made it: "invoke", "destination:<arn>", "timer:<name>", "redrive" */
} queue_event_t;

/* One attempt of an event (for `nimbus events` and the API). */
typedef struct {
    int n;                   /* 1, 2, ... */
    int64_t start_ms;
    double duration_ms;
    char error_type[128];    /* "" when it succeeded */
    char error_message[512];
} queue_attempt_t;

/* Opens (creating, migrating) the file; a file that cannot be written
 * (read-only) is refused here rather than failing every accept later. */
queue_store_t *queue_store_open(loop_t *loop, const char *path, err_t *err);
/* Write out everything pending (blocking) and close. Waits for the commit
 * or query running on a worker; every accept still owed an answer gets it
 * from within this call, and waiting queries are answered too. Call it
 * on the loop thread, before loop_free. */
void queue_store_close(queue_store_t *q);

/* Durable insert. `done` runs on the loop once the event is committed and
 * fsync'd (err NULL), or could not be (err set: the caller must not say
 * the event was accepted). With a non-empty idempotency key already used
 * within `idem_window_ms`, nothing is inserted and `dup_id` names the first
 * event (else ""). The event is copied. Keys are per function (the same key
 * for two functions makes two events); a key is remembered from the
 * first event's created_ms, even after that event is deleted. created_ms 0
 * is taken as now. An id already stored fails that accept alone
 * (ERR_CONFLICT). */
typedef void (*queue_accept_fn)(void *arg, const err_t *err, const char *dup_id);
void queue_store_accept(queue_store_t *q, const queue_event_t *ev, int64_t idem_window_ms,
                        queue_accept_fn done, void *arg);

/* Changes written without waiting (see above). A NULL last_error,
 * result or destination leaves the stored one as it is ("" clears). A
 * change to an unknown id changes nothing. add_attempt with an `n` already
 * stored replaces it (an attempt written when it starts, again when it
 * ends). */
void queue_store_set_state(queue_store_t *q, const char *id, queue_state_t state, int attempts,
                           int64_t next_ms, const char *last_error);
void queue_store_set_result(queue_store_t *q, const char *id, const char *result, size_t len,
                            const char *destination);
void queue_store_add_attempt(queue_store_t *q, const char *id, const queue_attempt_t *a);
/* Remove an event and its attempts (purge, or finished events past their
 * retention). */
void queue_store_delete(queue_store_t *q, const char *id);

/* Start-up (blocking, before the loop runs): fn for every event that is not
 * finished (queued, running, retrying), oldest first. An event that was
 * running when the daemon died comes back as it was stored: it is
 * delivered again. Oldest first is the order of the accepts. `ev` is
 * valid during the call only (copy the payload). */
typedef void (*queue_event_fn)(const queue_event_t *ev, void *arg);
int queue_store_load(queue_store_t *q, queue_event_fn fn, void *arg, err_t *err);

/* Queries, on a worker, answered on the loop. */
typedef struct {
    const char *function;    /* required */
    int state;               /* a queue_state_t, or -1 for any */
    const char *after_id;    /* paging: events after this one ("" / NULL from the start) */
    size_t limit;            /* 0 -> 100; at most 10000 */
} queue_query_t;
/* `events` and `n`: the page (payloads and results included), oldest
 * (first accepted) first; `next`: the id to continue after, "" at the end.
 * Valid during the call only. An after_id that is not one of the
 * function's events is ERR_INVALID. */
typedef void (*queue_list_fn)(void *arg, const err_t *err, const queue_event_t *events, size_t n,
                              const char *next);
void queue_store_list(queue_store_t *q, const queue_query_t *query, queue_list_fn done, void *arg);
/* One event with its attempts; err ERR_NOT_FOUND when unknown. */
typedef void (*queue_get_fn)(void *arg, const err_t *err, const queue_event_t *ev,
                             const queue_attempt_t *attempts, size_t nattempts);
void queue_store_get(queue_store_t *q, const char *id, queue_get_fn done, void *arg);

/* For tests and benchmarks: `commits` counts the durable (fsync'd)
 * commits so far, `events_written` the events they inserted; fsyncs per
 * 1,000 events = 1000 * commits / events_written. (Commits of unwaited
 * changes alone are not fsync'd and not counted.) */
void queue_store_stats(const queue_store_t *q, uint64_t *commits, uint64_t *events_written);

#endif
