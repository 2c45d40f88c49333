/* nimbus_runtime.h — write a Nimbus (or AWS Lambda) function in C.
 *
 * A function is a program named `bootstrap`, deployed with runtime
 * `provided` (also `provided.al2`, `provided.al2023`). Its main() calls
 * nimbus_runtime_run() with a handler; the library then speaks the Lambda
 * Runtime API with the platform for ever: it fetches a call, runs the
 * handler, and posts what the handler put in the response.
 *
 *     #include <nimbus_runtime.h>
 *
 *     static int handler(const nimbus_request *req, nimbus_response *res)
 *     {
 *         return nimbus_response_printf(res, "{\"bytes\":%zu}", req->body_len);
 *     }
 *
 *     int main(void) { return nimbus_runtime_run(handler); }
 *
 * Build it statically so the bootstrap needs nothing from the instance:
 *     cc -O2 -static main.c -lnimbus-runtime -lpthread -o bootstrap
 *
 * Everything done in main() before nimbus_runtime_run() is the function's
 * initialisation, and whatever it leaves in static variables survives from
 * one call to the next while the instance stays warm. If initialisation
 * fails, `return nimbus_runtime_init_error("MyInit.Error", "why");` from
 * main(): the caller then gets that error.
 *
 * Threads: with AWS_LAMBDA_MAX_CONCURRENCY=N (N > 1; set by Nimbus for a
 * function with "InstanceConcurrency": N) the library runs N threads, each
 * with its own connection, and the handler is called from all of them at
 * once. The handler must then be thread-safe: guard shared state with a
 * mutex or atomics. Each thread has its own request and response, so what
 * the handler does to `req` and `res` needs no locking. With N = 1 (the
 * default) the handler is only ever called from the thread that called
 * nimbus_runtime_run().
 *
 * Logs: stdout and stderr go to the call's log; the library flushes both
 * after every call, before the result is posted.
 *
 * Dependencies: none but libc and pthreads (the Runtime API is spoken over
 * a plain socket). C99 or later; usable from C++.
 */
#ifndef NIMBUS_RUNTIME_H
#define NIMBUS_RUNTIME_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define NIMBUS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define NIMBUS_PRINTF(fmt, args)
#endif

#define NIMBUS_RUNTIME_VERSION "1.0.0"

/* One call, as the handler sees it. Every pointer stays valid until the
 * handler returns (copy what you keep); strings are NUL-terminated and never
 * NULL (absent values are ""). */
typedef struct {
    const char *request_id;       /* Lambda-Runtime-Aws-Request-Id: the caller's x-amzn-RequestId */
    const char *body;             /* the event, body_len bytes; body[body_len] is '\0' */
    size_t body_len;
    long long deadline_ms;        /* when the call times out, Unix epoch milliseconds */
    const char *function_arn;     /* ARN the caller invoked (with qualifier if any) */
    const char *function_name;    /* AWS_LAMBDA_FUNCTION_NAME */
    const char *function_version; /* AWS_LAMBDA_FUNCTION_VERSION, e.g. "$LATEST" */
    int memory_mb;                /* AWS_LAMBDA_FUNCTION_MEMORY_SIZE */
    const char *trace_id;         /* Lambda-Runtime-Trace-Id (X-Ray header value) */
    const char *client_context;   /* Lambda-Runtime-Client-Context (decoded JSON), or "" */
    /* Added after the fields above; also filled on every call. */
    const char *cognito_identity; /* Lambda-Runtime-Cognito-Identity (JSON), or "" */
    const char *content_type;     /* the event's Content-Type, normally "application/json" */
    const char *log_group_name;   /* AWS_LAMBDA_LOG_GROUP_NAME */
    const char *log_stream_name;  /* AWS_LAMBDA_LOG_STREAM_NAME */
} nimbus_request;

/* What the handler answers. The library owns it and empties it before each
 * call; read the fields if useful, but change them only with the functions
 * below. A fresh response is a success with an empty body. */
typedef struct {
    char *body;              /* result bytes (malloc'd by the library), body_len long */
    size_t body_len;
    size_t body_cap;
    char content_type[128];  /* "" means application/json */
    char *error_type;        /* non-NULL once nimbus_response_error() was called */
    char *error_message;
    int out_of_memory;       /* a function below could not allocate: the call fails */
} nimbus_response;

/* Replace the body with `len` bytes of `data` (any bytes: binary is sent as
 * is) and set the Content-Type (NULL keeps the current one; the default is
 * application/json, use "application/octet-stream" for binary). Returns 0,
 * or -1 when memory ran out (the call then fails with Runtime.OutOfMemory). */
int nimbus_response_set(nimbus_response *res, const void *data, size_t len, const char *content_type);

/* Append bytes / formatted text to the body. On a fresh response the first
 * call sets the body. Return 0 or -1 as above. */
int nimbus_response_append(nimbus_response *res, const void *data, size_t len);
int nimbus_response_printf(nimbus_response *res, const char *fmt, ...) NIMBUS_PRINTF(2, 3);

/* Append `len` bytes of `s` as a quoted JSON string literal (quotes,
 * backslashes and control characters escaped; other bytes as they are). */
int nimbus_response_json_string(nimbus_response *res, const char *s, size_t len);

/* Fail the call: the caller gets X-Amz-Function-Error: Unhandled and
 * {"errorMessage": message, "errorType": type, "stackTrace": []}, whatever
 * the handler returns and whatever body was set. type NULL = "Error". */
int nimbus_response_error(nimbus_response *res, const char *type, const char *message);
int nimbus_response_errorf(nimbus_response *res, const char *type, const char *fmt, ...)
    NIMBUS_PRINTF(3, 4);

/* Milliseconds left before the call's deadline (0 once it has passed). */
long long nimbus_remaining_ms(const nimbus_request *req);

/* The handler: fill `res` and return 0. A non-zero return without an error
 * set fails the call with errorType "HandlerError". */
typedef int (*nimbus_handler)(const nimbus_request *req, nimbus_response *res);

/* Serve calls for ever (see the top of this file). Returns only when it
 * cannot go on: AWS_LAMBDA_RUNTIME_API unset or unusable, or the platform
 * unreachable; the value (1) is meant to be main()'s exit status, and the
 * reason has been printed on stderr. */
int nimbus_runtime_run(nimbus_handler handler);

/* Report a failed initialisation (before nimbus_runtime_run) to the
 * platform, which answers the pending call with this error. Returns 1, the
 * exit status main() should return with. */
int nimbus_runtime_init_error(const char *type, const char *message);

#ifdef __cplusplus
}
#endif

#endif
