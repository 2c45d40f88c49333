/* invoke.h — one call of a function, from the Invoke API request to the
 * answer: its deadline (fixed on arrival, DESIGN decision 7), its log lines
 * and its report.
 */
#ifndef NIMBUS_INVOKE_H
#define NIMBUS_INVOKE_H

#include <stdbool.h>
#include <stdint.h>

#include "io/http.h"
#include "base/list.h"
#include "core/router.h"
#include "base/util.h"

typedef enum {
    CALL_QUEUED,     /* waiting for an instance */
    CALL_RUNNING,    /* delivered to `inst` */
    CALL_DONE,
} call_state_t;

struct call {
    char request_id[37];
    router_fn_t *fn;            /* holds a ref */
    router_t *router;           /* for timer and abort callbacks */
    http_exchange_t *ex;        /* the caller; NULL once it went away */
    call_state_t state;
    char *payload;              /* event bytes (malloc'd) */
    size_t payload_len;
    char *client_context;       /* decoded X-Amz-Client-Context, or NULL */
    char trace_id[96];          /* Lambda-Runtime-Trace-Id */
    char qualifier[130];        /* as invoked (version or alias), "" for none */
    bool log_tail;              /* X-Amz-Log-Type: Tail */
    uint64_t arrive_ns;         /* monotonic, when the request arrived */
    uint64_t deadline_ns;       /* monotonic deadline */
    uint64_t deadline_wall_ms;  /* the same, as epoch ms for the runtime */
    uint64_t start_ns;          /* delivered to the instance */
    instance_t *inst;           /* while RUNNING */
    uint64_t init_ns;           /* Init Duration if this call cold-started */
    bool cold;
    loop_timer_t *timer;        /* fires at the deadline */
    loop_timer_t *throttle_timer; /* while QUEUED: end of the wait for room (429) */
    buf_t log;                  /* this call's log (tail kept for Tail) */
    list_node_t link;           /* in fn->queue while QUEUED */
    list_node_t inst_link;      /* in inst->calls while RUNNING */
    void *transport;            /* how it reached its instance, when that is not
                                   the runtime API (provided.fc's connection) */
    void (*transport_end)(call_t *c); /* told when the call ends any other way */
};

/* HTTP handler for POST /2015-03-31/functions/{name}/invocations. `name`
 * is the decoded function name, `qualifier` may be NULL. */
void invoke_handle(daemon_t *d, http_exchange_t *ex, const char *name, const char *qualifier);

/* Outcomes, called by the runtime API and the router. Each ends the call:
 * answers the caller (if still there), writes END and REPORT, frees it. */
void invoke_complete(router_t *r, call_t *c, const char *body, size_t len, const char *content_type);
/* A function error: the runtime's error document, passed through as is. */
void invoke_fail_function(router_t *r, call_t *c, const char *body, size_t len);
/* A platform-detected error: {"errorType":type,"errorMessage":"RequestId: <id> Error: <msg>"}. */
void invoke_fail(router_t *r, call_t *c, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A call refused before running (e.g. its function was deleted). */
void invoke_reject(router_t *r, call_t *c, int status, const char *type, const char *msg);

/* Add a log line of this call (also stored under the function's logs). */
void invoke_log(router_t *r, call_t *c, const char *line, size_t len);
/* Mark the call delivered: START line, memory peak reset. */
void invoke_started(router_t *r, call_t *c, instance_t *in);

#endif
