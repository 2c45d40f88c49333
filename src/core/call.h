/* call.h — one call of a function, from its arrival to its outcome: its
 * deadline (fixed on arrival, and covering the wait for an instance), its
 * log lines and its REPORT.
 *
 * Whoever makes a call (the Invoke API, later the async queue) gives it a
 * `done` callback; the core tells it the outcome exactly once and never
 * writes an answer itself. Loop thread only.
 */
#ifndef NIMBUS_CALL_H
#define NIMBUS_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/list.h"
#include "base/util.h"
#include "core/router.h"
#include "io/http.h"

typedef enum {
    CALL_QUEUED,     /* waiting for an instance */
    CALL_RUNNING,    /* delivered to `inst` */
    CALL_DONE,
} call_state_t;

typedef enum {
    CALL_OK,             /* the function's answer: body, len, content_type */
    CALL_FUNCTION_ERROR, /* an error document (the function's or the platform's) */
    CALL_REJECTED,       /* never ran: status, error_type, message (e.g. function deleted) */
    CALL_THROTTLED,      /* never ran: over a limit; reason is Lambda's throttle Reason */
} call_outcome_t;

/* A call that forwards a client's whole HTTP request to the instance's own
 * server (FC's HTTP functions, through an HTTP trigger): the transport
 * sends this request line and these headers with the payload as body,
 * and answers with call_complete_http. Set by the caller, valid until
 * `done`. */
typedef struct {
    const char *method;
    const char *target;            /* path and query, still encoded */
    const http_header_t *headers;  /* the client's, as sent */
    size_t nheaders;
} call_http_t;

typedef struct {
    call_outcome_t outcome;
    const char *body;
    size_t len;
    const char *content_type;
    int status;
    const char *error_type;
    const char *message;
    const char *reason;
    /* CALL_OK of a call_http_t call: the server's own status and headers. */
    int http_status;
    const http_header_t *headers;
    size_t nheaders;
} call_result_t;

typedef void (*call_done_fn)(call_t *c, const call_result_t *res);

struct call {
    char request_id[37];
    router_fn_t *fn;            /* holds a ref */
    router_t *router;
    call_state_t state;
    call_done_fn done;          /* told the outcome once; NULL: nobody waits any more */
    void *owner;                /* the done callback's own state */
    char *payload;              /* event bytes (malloc'd) */
    size_t payload_len;
    char *client_context;       /* decoded X-Amz-Client-Context, or NULL */
    char trace_id[96];          /* Lambda-Runtime-Trace-Id */
    char qualifier[130];        /* as invoked (version or alias), "" for none */
    bool log_tail;              /* keep the call's own log for the answer */
    const call_http_t *http;    /* forward this HTTP request (NULL: an event call) */
    uint64_t arrive_ns;         /* monotonic, when the call arrived */
    uint64_t deadline_ns;       /* monotonic deadline */
    uint64_t deadline_wall_ms;  /* the same, as epoch ms for the runtime */
    uint64_t start_ns;          /* delivered to the instance */
    instance_t *inst;           /* while RUNNING */
    uint64_t init_ns;           /* Init Duration if this call cold-started */
    bool cold;
    loop_timer_t *timer;        /* fires at the deadline */
    loop_timer_t *throttle_timer; /* while QUEUED: end of the wait for room (429) */
    buf_t log;                  /* this call's log (a bounded tail, when log_tail) */
    list_node_t link;           /* in its pool's queue while QUEUED */
    list_node_t inst_link;      /* in inst->calls while RUNNING */
    void *transport;            /* the transport's state for this call, if any */
    void (*transport_end)(call_t *c); /* told when the call ends any way but through it */
};

/* A new call of fn with a fresh request id and trace id, not yet queued.
 * The caller sets payload (NULL means "{}"), done and owner and the
 * optional fields, then submits it. NULL when out of memory. */
call_t *call_new(router_t *r, router_fn_t *fn);
/* Fix its deadline (from the function's timeout, now) and queue it. */
void call_submit(call_t *c);
/* Nobody waits for the outcome any more (the caller went away): a waiting
 * call ends now without running, a running one finishes unobserved. */
void call_abandon(call_t *c);

/* Outcomes, from transports and the scheduler. Each ends the call: writes
 * END and REPORT if it ran, tells `done`, frees it. */
void call_complete(call_t *c, const char *body, size_t len, const char *content_type);
/* The answer of a call_http_t call: the server's status, headers, body. */
void call_complete_http(call_t *c, int status, const http_header_t *headers, size_t n, const char *body,
                        size_t len);
/* A function error: the runtime's error document, passed through as is. */
void call_fail_function(call_t *c, const char *body, size_t len);
/* A platform-detected error: {"errorType":type,"errorMessage":"RequestId: <id> Error: <msg>"};
 * the result's error_type is `type` (e.g. Sandbox.Timedout). */
void call_fail(call_t *c, const char *type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A call refused before running (e.g. its function was deleted). */
void call_reject(call_t *c, int status, const char *type, const char *msg);

/* Add a log line of this call (also stored under the function's logs). */
void call_log(call_t *c, const char *line, size_t len);
/* Mark the call delivered to `in`: START line, memory peak reset. */
void call_started(call_t *c, instance_t *in);
/* The last `max` bytes of the call's own log (log_tail calls). */
const char *call_log_tail(const call_t *c, size_t max, size_t *len);

#endif
