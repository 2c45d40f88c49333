/* triggers.h — the native timer-trigger API:
 *   GET|POST /nimbus/v1/functions/NAME/triggers
 *   GET|PATCH|DELETE /nimbus/v1/functions/NAME/triggers/TRIGGER
 * in Lambda's PascalCase style (Name, ScheduleExpression, Timezone,
 * Payload, Format, Qualifier, Enabled, CreationTime, LastFiredSlot,
 * NextSlot and the counters).
 *
 * A write is stored on a worker, then applied to the timer wheel
 * (core/trigger.h) and answered; one write at a time per function.
 */
#ifndef NIMBUS_API_TRIGGERS_H
#define NIMBUS_API_TRIGGERS_H

#include "api/api.h"
#include "core/router.h"

/* `trigger` NULL: the collection (GET lists, POST adds); else one trigger
 * (GET, PATCH, DELETE). Other methods 405. */
void triggers_handle(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest,
                     const char *trigger);
/* The function is gone: its triggers too (the store removed their rows). */
void triggers_forget(api_t *d, const char *function);
/* Start-up (blocking): every stored trigger whose function exists. */
int triggers_load(api_t *d, err_t *err);

#endif
