/* trigger.h — timer triggers: schedules on functions, each slot fired as
 * an event into the async queue.
 *
 * The wheel keeps every trigger in memory, ordered by the next slot due
 * (a binary heap), and one loop timer for the earliest of them. On a slot
 * it builds the event in the trigger's format (FC, SCF or EventBridge),
 * with the slot's own time, never the time it runs, and hands it to
 * async_accept with the idempotency key timer:<function>:<trigger>:<slot
 * ms>; once the queue has it durable, the slot is recorded as fired in the
 * store (on a worker, batched). So a slot accepted twice across a crash is
 * one event, and a restart goes on from the last slot recorded.
 *
 * Slots of one trigger are fired one at a time, in order: a slot the loop
 * reaches late is fired late with its own time, never dropped and never
 * merged with the next. A disabled trigger fires nothing; enabling it
 * starts from then. At start, the slots missed while the daemon was down
 * are fired once when no older than trigger_limits_t.catchup_ms (0: only
 * the last one missed); the others are skipped and counted (missed).
 *
 * Loop thread only. The store is touched only from workers.
 */
#ifndef NIMBUS_TRIGGER_H
#define NIMBUS_TRIGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/async.h"
#include "core/router.h"
#include "io/loop.h"
#include "store/store.h"

typedef struct trigger_wheel trigger_wheel_t;

/* The event's shape: which platform's timer event the function gets. */
typedef enum { TRIGGER_FC, TRIGGER_SCF, TRIGGER_EVENTBRIDGE } trigger_format_t;

#define TRIGGER_NAME_MAX 64
#define TRIGGER_PAYLOAD_MAX 8192

/* One trigger as configured. */
typedef struct {
    char function[65];
    char name[TRIGGER_NAME_MAX + 1];  /* [A-Za-z0-9_-], 1..64 */
    char expr[256];                   /* the schedule expression (base/schedule.h) */
    char tz[64];                      /* IANA zone, "" for UTC */
    char payload[TRIGGER_PAYLOAD_MAX + 1]; /* FC's payload, SCF's Message, EventBridge's detail (an object) */
    trigger_format_t format;
    char qualifier[130];              /* "" for $LATEST */
    bool enabled;
    int64_t created_ms;               /* epoch ms; rate and @every slots count from it */
    int64_t since_ms;                 /* slots count after it: the creation, or the last enable */
} trigger_spec_t;

/* What a trigger did, for the API. */
typedef struct {
    int64_t last_slot_ms;             /* the last slot fired (accepted by the queue), 0 none */
    int64_t next_slot_ms;             /* the next slot it will fire, -1 none (disabled, or no more) */
    uint64_t fires;                   /* slots accepted */
    uint64_t missed;                  /* slots skipped: missed while down, or the function gone */
    uint64_t failures;                /* accepts refused (each retried) */
    int64_t last_lag_ms, max_lag_ms;  /* fire time minus slot time */
} trigger_stats_t;

typedef struct {
    int64_t catchup_ms;               /* at start, missed slots this recent fire; 0: only the last */
    int64_t retry_ms;                 /* a refused accept is tried again after this (0: 1000) */
} trigger_limits_t;

trigger_wheel_t *trigger_wheel_new(loop_t *l, store_t *store, async_t *async, router_t *router,
                                   const trigger_limits_t *lim, err_t *err);
/* Plan every trigger put so far (the missed slots' rule applies to them)
 * and start the timer: after the triggers are loaded and the queue runs. */
int trigger_wheel_start(trigger_wheel_t *w, err_t *err);
/* Fire nothing more (shutdown); accepts in flight still finish. */
void trigger_wheel_stop(trigger_wheel_t *w);
/* After async_free (which drops callbacks still to come). */
void trigger_wheel_free(trigger_wheel_t *w);

/* Check a spec's fields; ERR_INVALID with a message naming the field
 * ("ScheduleExpression: ...", "Timezone: ...", "Name: ...", "Payload: ..."). */
int trigger_spec_check(const trigger_spec_t *spec, err_t *err);
/* Add a trigger, or replace the one of that function and name (its slots
 * and counters kept). `last_slot_ms`: the slot the store says it fired
 * last (0 none), used only for a new one. The spec must pass the check. */
int trigger_put(trigger_wheel_t *w, const trigger_spec_t *spec, int64_t last_slot_ms, err_t *err);
/* ERR_NOT_FOUND when there is no such trigger. */
int trigger_remove(trigger_wheel_t *w, const char *function, const char *name, err_t *err);
/* The function is gone, and its triggers with it (the store's rows too). */
void trigger_remove_function(trigger_wheel_t *w, const char *function);

/* A trigger and its counters; NULL when unknown. */
const trigger_spec_t *trigger_find(const trigger_wheel_t *w, const char *function, const char *name,
                                   trigger_stats_t *stats);
/* fn for each trigger of `function`, in name order. */
typedef void (*trigger_each_fn)(void *arg, const trigger_spec_t *spec, const trigger_stats_t *stats);
void trigger_each(const trigger_wheel_t *w, const char *function, trigger_each_fn fn, void *arg);
size_t trigger_count(const trigger_wheel_t *w, const char *function /* NULL: all */);

/* "fc", "scf", "eventbridge". */
const char *trigger_format_name(trigger_format_t f);
int trigger_format_parse(const char *s, trigger_format_t *out);
/* The event a slot of `spec` sends (malloc'd JSON, NUL-terminated). */
char *trigger_event_json(const trigger_spec_t *spec, int64_t slot_ms);
/* Epoch ms as RFC 3339 UTC with seconds: "2026-12-02T05:49:00Z". */
void trigger_time_text(int64_t ms, char out[32]);

#endif
