/* event_config.h — Lambda's asynchronous invocation settings:
 * PutFunctionEventInvokeConfig, UpdateFunctionEventInvokeConfig,
 * GetFunctionEventInvokeConfig, DeleteFunctionEventInvokeConfig and
 * ListFunctionEventInvokeConfigs, one FunctionEventInvokeConfig per
 * function and qualifier ($LATEST, a version, an alias); and the policy the
 * async queue asks for when it runs an event.
 *
 * Kept in memory here, stored in the main store: a write is stored on a
 * worker, then applied and answered, one write at a time per function.
 */
#ifndef NIMBUS_API_EVENT_CONFIG_H
#define NIMBUS_API_EVENT_CONFIG_H

#include <stdbool.h>

#include "api/api.h"
#include "core/async.h"
#include "core/router.h"

typedef struct event_configs event_configs_t;

event_configs_t *event_config_new(void);
void event_config_free(event_configs_t *t);

/* .../event-invoke-config?Qualifier=Q of `latest`: PUT (Put), POST
 * (Update), GET, DELETE; `qual` is the qualifier the name or ?Qualifier=
 * gave ("" for $LATEST). Other methods 405. */
void event_config_handle(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest,
                         const char *qual);
/* GET .../event-invoke-config/list?Marker=&MaxItems= */
void event_config_list(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest);

/* The function (qualifier NULL: with all its qualifiers), a version or an
 * alias is gone: so is its configuration (the store removes its row with
 * it). */
void event_config_forget(api_t *d, const char *function, const char *qualifier);

/* An async_policy_fn (arg = api_t *): the event's qualifier's
 * configuration, else (an alias) its version's, else $LATEST's, over the
 * defaults; the function's (version's) DeadLetterConfig target. False
 * when the function or the qualifier no longer exists. */
bool event_config_policy(void *arg, const char *function, const char *qualifier, async_policy_t *out,
                         char dead_letter[512]);

/* Start-up (blocking): every stored configuration whose function and
 * qualifier exist. */
int event_config_load(api_t *d, err_t *err);

#endif
