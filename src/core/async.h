/* async.h — the async queue: events accepted for asynchronous calls,
 * delivered as ordinary calls when there is room, retried, aged out, and
 * their outcome sent to a destination.
 *
 * One interface for everything that calls asynchronously: the Invoke API
 * (InvocationType Event, FC's Async, the legacy invoke-async), a
 * destination that is a function, a redrive of dead letters, and later the
 * timer trigger. An event accepted is an event never lost: async_accept's
 * callback says "accepted" only once the event is durable in the queue
 * store (store/queue.h), and after a crash every unfinished event is
 * delivered again (at-least-once).
 *
 * Delivery. A dispatcher hands events to the router as calls (call_new,
 * with a done callback of its own) with their own deadline, in order per
 * function, never more at once than the function may run (its reserved
 * concurrency, the instance limit) nor than the account has room for: a
 * waiting event is never a throttle, it waits in the queue as long as its
 * maximum age allows. Each attempt has its own START/END/REPORT lines
 * with the event's request id.
 *
 * Retries and age. A function error (Unhandled, a timeout, a crash, an
 * out-of-memory kill) is retried up to its MaximumRetryAttempts (0..2,
 * default 2) after 60 s and then 120 s (times async_limits_t.retry_scale,
 * which tests shrink); a throttle or a platform error is retried with
 * backoff (1 s doubling to 5 min, same scale) without counting as an
 * attempt, until MaximumEventAgeInSeconds (60..21600, default 21600). An
 * event past either limit fails: condition RetriesExhausted or
 * EventAgeExceeded; one whose function was deleted fails at once.
 *
 * Outcomes. A success goes to the OnSuccess destination if any; a failure
 * to OnFailure if any, else to the function's DeadLetterConfig target if
 * any, and always to the dead-letter list when neither took it. A
 * destination is a Nimbus function ARN (the invocation record is accepted
 * for it asynchronously), or an http(s) URL (a Nimbus extension: the
 * record is POSTed, retried with backoff up to the event's age; a delivery
 * that finally fails is itself kept as a dead letter). An event's end is
 * written only once its outcome is where it goes, so a crash on the way
 * delivers it again. The DeadLetterConfig target gets what Lambda's
 * dead-letter queue gets: the event itself (a URL also gets its id and
 * error as X-Nimbus-Request-Id, X-Nimbus-Error-Code and
 * X-Nimbus-Error-Message headers; every POST carries X-Nimbus-Request-Id).
 * The record is
 * Lambda's: {"version":"1.0","timestamp","requestContext":{"requestId",
 * "functionArn","condition","approximateInvokeCount"},"requestPayload",
 * "responseContext":{"statusCode","executedVersion","functionError"},
 * "responsePayload"}.
 *
 * Loop thread only.
 */
#ifndef NIMBUS_ASYNC_H
#define NIMBUS_ASYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/router.h"
#include "store/queue.h"

typedef struct async async_t;

typedef struct {
    double retry_scale;           /* multiplies every retry and backoff delay (1 = Lambda's) */
    size_t max_payload_bytes;     /* an async event's payload limit (Lambda: 1 MB = 1048576) */
    int64_t idempotency_window_ms;/* the same X-Nimbus-Idempotency-Key within it is one event (24 h) */
    unsigned max_queued;          /* events kept waiting over all functions; beyond, accepts fail */
} async_limits_t;

/* A function's (or an alias's, or a version's) asynchronous settings:
 * Lambda's FunctionEventInvokeConfig. Destinations are "" for none. */
typedef struct {
    int max_retry_attempts;       /* 0..2; default 2 */
    int max_event_age_s;          /* 60..21600; default 21600 */
    char on_success[512];
    char on_failure[512];
} async_policy_t;

void async_policy_defaults(async_policy_t *p);

/* The policy that applies to an event of `function` invoked with
 * `qualifier`: its alias's or version's EventInvokeConfig, else
 * $LATEST's... — the API layer owns EventInvokeConfig and answers this.
 * `dead_letter` gets the function's DeadLetterConfig.TargetArn ("" none).
 * Returns false when the function (or qualifier) no longer exists. */
typedef bool (*async_policy_fn)(void *arg, const char *function, const char *qualifier, async_policy_t *out,
                                char dead_letter[512]);

/* The queue sets the router's context's capacity_freed hook (it notices
 * room freed by any call's end, synchronous ones too) until async_free. */
async_t *async_new(router_t *r, queue_store_t *store, const async_limits_t *limits, async_policy_fn policy,
                   void *policy_arg, err_t *err);
/* Load what the store has unfinished and start delivering (start-up, after
 * the router has its functions). */
int async_start(async_t *a, err_t *err);
/* Stop delivering (shutdown): running attempts finish; nothing new starts. */
void async_stop(async_t *a);
/* After async_stop, once the loop has run what the store and the workers
 * still had to answer (loop_pending_work() == 0), and before the store is
 * closed: what would still answer later is dropped, its callback unrun. */
void async_free(async_t *a);

/* Accept an event for `fn` (already resolved and known to exist).
 * `done` runs once it is durable (err NULL; request_id is its id, or the
 * first event's when the idempotency key was seen: duplicate true) or
 * when it cannot be (err: ERR_TOO_LARGE over the payload limit, ERR_SYS
 * when the store cannot take it or max_queued events wait already — never
 * tell a caller it was accepted then). `done` never runs inside
 * async_accept. The payload is copied; an empty one is "{}". */
typedef struct {
    const char *function;
    const char *qualifier;        /* as invoked, "" or NULL for $LATEST */
    const char *payload;          /* NULL: "{}" */
    size_t payload_len;
    const char *idempotency_key;  /* NULL or "" for none */
    const char *origin;           /* "invoke", "destination:<arn>", "timer:<name>"... */
} async_event_t;
typedef void (*async_accepted_fn)(void *arg, const err_t *err, const char *request_id, bool duplicate);
void async_accept(async_t *a, const async_event_t *ev, async_accepted_fn done, void *arg);

/* Cancel a queued (or retrying) event of `function`; ERR_NOT_FOUND when
 * unknown, ERR_CONFLICT when it is running or finished. Only unfinished
 * events are in memory: a finished one is ERR_NOT_FOUND here as well (the
 * caller that must answer 409 for it looks it up with queue_store_get). */
int async_cancel(async_t *a, const char *function, const char *id, err_t *err);
/* Dead letters: run again (all of the function's, or the one `id` names;
 * each becomes a new event with a new request id), or forget them. Each
 * answers through `done` with how many were redriven / purged. */
typedef void (*async_count_fn)(void *arg, const err_t *err, size_t n);
void async_redrive(async_t *a, const char *function, const char *id, async_count_fn done, void *arg);
void async_purge(async_t *a, const char *function, async_count_fn done, void *arg);
/* A function was deleted: its waiting events fail to the dead-letter list. */
void async_function_deleted(async_t *a, const char *function);

/* For the API, metrics and tests. */
typedef struct {
    unsigned queued, running, retrying;   /* unfinished events now */
    uint64_t accepted, succeeded, failed, retries, dead_letters, deliveries, delivery_failures;
    int64_t oldest_ms;                     /* age of the oldest unfinished event, 0 none */
    /* Destination deliveries by where they went (async_destination_names)
     * and how: the same counts as deliveries / delivery_failures. */
    uint64_t dest_delivered[3], dest_failed[3];
} async_stats_t;
/* "on_success", "on_failure", "dead_letter_config". */
extern const char *const async_destination_names[3];
void async_stats(const async_t *a, const char *function /* NULL: all */, async_stats_t *out);
queue_store_t *async_store(const async_t *a);

#endif
