/* call.h — one call of a function, from its arrival to its outcome: its
 * deadline (fixed on arrival, and covering the wait for an instance), its
 * log lines and its REPORT.
 *
 * Whoever makes a call (the Invoke API, later the async queue) gives it a
 * `done` callback; the core tells it the outcome exactly once and never
 * writes an answer itself. Loop thread only.
 *
 * Streamed responses: a runtime may answer in pieces (the runtime API's
 * streaming mode). A caller that takes them as they come sets `stream`;
 * its `begin` and `data` see the bytes, and `done` still comes once, last,
 * with `streamed` set (a mid-stream failure arrives there as a function
 * error, after the bytes already sent). A caller without `stream` gets the
 * whole body in `done`, as from a buffered runtime, up to
 * CALL_BUFFERED_MAX; a streaming caller's cap is limits.stream_max_bytes.
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

/* The sizes a response may have (Lambda's): buffered, and streamed unless
 * the daemon says otherwise (core_limits_t.stream_max_bytes). */
#define CALL_BUFFERED_MAX 6291556u              /* 6 MiB + 100 */
#define CALL_STREAM_MAX_DEFAULT (200u * 1024u * 1024u)
/* A call's stored output, by default (--log-call-max-bytes). */
#define CALL_LOG_MAX_DEFAULT (10u * 1024u * 1024u)
/* What a line costs against the cap besides its bytes (CloudWatch counts
 * 26 bytes per event the same way). */
#define CALL_LOG_LINE_COST 26u

/* What a caller that takes a response as it comes gives its call. */
typedef struct {
    /* The function began a streamed response; content_type as the runtime
     * sent it (never NULL). Told once, before any data. */
    void (*begin)(call_t *c, const char *content_type);
    /* Bytes of it, in order. 0: go on; 1: hold the source back until the
     * caller calls call_stream_resume(c). */
    int (*data)(call_t *c, const char *bytes, size_t len);
} call_stream_t;

typedef struct {
    call_outcome_t outcome;
    bool streamed;      /* the body went through call_t.stream already (body/len
                           then hold only an error document, if any) */
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
    size_t log_stored;          /* what the function's lines stored cost (call_log) */
    size_t log_dropped;         /* bytes of its output dropped past the cap, and lines */
    size_t log_dropped_lines;
    list_node_t link;           /* in its pool's queue while QUEUED */
    list_node_t inst_link;      /* in inst->calls while RUNNING */
    void *transport;            /* the transport's state for this call, if any */
    void (*transport_end)(call_t *c); /* told when the call ends any way but through it */
    const call_stream_t *stream;  /* the caller takes a streamed response as it comes */
    bool stream_begun;            /* the runtime began a streamed response */
    size_t stream_bytes;          /* bytes of it so far */
    char stream_ct[128];          /* its content type */
    buf_t stream_buf;             /* all of it, for a caller without `stream` */
    void (*transport_resume)(call_t *c); /* the caller can take more bytes again */
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
/* An instance's init error document given to a call it failed: the same,
 * with an empty "requestId" filled with the call's. */
void call_fail_init(call_t *c, const char *body, size_t len);
/* A platform-detected error: {"errorType":type,"errorMessage":"RequestId: <id> Error: <msg>"};
 * the result's error_type is `type` (e.g. Sandbox.Timedout). */
void call_fail(call_t *c, const char *type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A call refused before running (e.g. its function was deleted). */
void call_reject(call_t *c, int status, const char *type, const char *msg);

/* A streamed response, from transports: begin (content type, NULL for
 * application/octet-stream), data as it comes, then call_stream_complete
 * (or a failure: call_fail_function / call_fail). call_stream_data says 0
 * (go on), 1 (pause the source: the transport's transport_resume hook is
 * called when the caller can take more) or -1 (over this caller's size
 * cap: nothing was taken; end the call with call_fail_oversize). */
void call_stream_begin(call_t *c, const char *content_type);
int call_stream_data(call_t *c, const char *bytes, size_t len);
void call_stream_complete(call_t *c);
/* The cap of this call's response: streamed or buffered. */
size_t call_response_limit(const call_t *c);
/* End a call whose response passed its cap: Function.ResponseSizeTooLarge
 * in Lambda's words (the cap, not the size: reading stops at the cap). */
void call_fail_oversize(call_t *c);
/* From the caller: it can take bytes again after a data() that said 1. */
void call_stream_resume(call_t *c);

/* Add a line the function printed in this call (stored under the function's
 * logs) while the call's output is within its cap (call_log_cap); past it,
 * lines are counted and dropped, and one platform line before END says
 * where the output was cut and how much went. */
void call_log(call_t *c, const char *line, size_t len);
/* What one call's output may store: the limit, else CALL_LOG_MAX_DEFAULT. */
size_t call_log_cap(const core_limits_t *l);
/* Put already stored lines (an instance's init output) before the call's
 * own in its kept tail (log_tail calls); stores nothing. */
void call_log_prepend(call_t *c, const char *lines, size_t len);
/* Mark the call delivered to `in`: START line, memory peak reset. */
void call_started(call_t *c, instance_t *in);
/* The last `max` bytes of the call's own log (log_tail calls). */
const char *call_log_tail(const call_t *c, size_t max, size_t *len);

#endif
