/* url_event.h — a function URL's HTTP request as Lambda's payload 2.0
 * event, the function's result as the HTTP answer, the answers the
 * platform gives by itself, the prelude of a streamed HTTP answer, and CORS.
 *
 * Pure functions over memory: no loop, no router, no store. The URL request
 * handler calls them; everything here is unit-tested and fuzzed alone.
 *
 * What the converters follow (Lambda's function URL behaviour):
 *   - request headers lower-cased, repeated ones joined with ","; `cookie`
 *     headers split at ";" into `cookies` and left out of `headers`;
 *   - `queryStringParameters` decoded, repeated keys joined with ",",
 *     absent when there is no query;
 *   - the body as text when the content type is text (`text/...`,
 *     `application/json`) and the bytes are UTF-8 without NUL, else base64
 *     with `isBase64Encoded: true`; absent when empty;
 *   - a result that is JSON but not an object with `statusCode` is sent as
 *     it is: 200, `content-type: application/json`, the result as the body.
 */
#ifndef NIMBUS_API_URL_EVENT_H
#define NIMBUS_API_URL_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "io/http.h"

/* ---- request → event ---------------------------------------------------- */

typedef struct {
    const http_request_t *req;   /* method, headers (as sent), body */
    const char *raw_path;        /* after the URL's own prefix, still percent-encoded, "/" at least */
    const char *raw_query;       /* as sent, without '?'; "" when none */
    const char *url_id;          /* 32 lowercase letters/digits: apiId and domainPrefix */
    const char *domain;          /* the host name of the URL: domainName */
    const char *account;         /* the function owner's account id */
    const char *source_ip;       /* the client's address */
    const char *request_id;      /* the call's id */
    int64_t time_ms;             /* arrival, epoch ms */
} url_request_t;

/* The payload 2.0 event as malloc'd JSON text (*len its length). NULL only
 * when memory runs out (err ERR_INTERNAL). */
char *url_event_build(const url_request_t *r, size_t *len, err_t *err);

/* ---- result → HTTP answer ------------------------------------------------ */

typedef struct {
    int status;
    http_header_t *headers;      /* malloc'd array of malloc'd names/values; one
                                    `set-cookie` per cookie */
    size_t nheaders;
    char *body;                  /* malloc'd (NUL-terminated, not counted), decoded
                                    when the result had isBase64Encoded; NULL = empty */
    size_t body_len;
} url_response_t;

/* The function's result bytes → the HTTP answer (out is overwritten).
 * 0: `out` is the answer. -1: the result is no valid response (not JSON; a
 * statusCode that is not an integer in 100..599; headers or cookies that
 * are not strings or would break the HTTP head; a body that is not the
 * base64 it claims): err says why, `out` is empty, and the client gets
 * url_response_error(URL_ERR_BAD_RESPONSE). The server's own framing
 * headers (content-length, transfer-encoding, connection) are dropped. */
int url_response_from_result(const char *result, size_t len, url_response_t *out, err_t *err);

/* The answers the platform gives by itself.
 *   URL_ERR_FUNCTION, URL_ERR_TIMEOUT, URL_ERR_BAD_RESPONSE  502 "Internal Server Error"
 *   URL_ERR_THROTTLED     429 {"Message":"Rate Exceeded."}
 *   URL_ERR_TOO_LARGE     413 {"Message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}
 *   URL_ERR_NOT_FOUND     404 {"Message":"Not Found"}
 *   URL_ERR_FORBIDDEN     403 {"Message":"Forbidden"}
 * all with content-type application/json. */
typedef enum {
    URL_ERR_FUNCTION,      /* the function failed (unhandled error, crash, out of memory) */
    URL_ERR_THROTTLED,     /* a concurrency limit refused the call */
    URL_ERR_TIMEOUT,       /* the call passed its timeout */
    URL_ERR_BAD_RESPONSE,  /* url_response_from_result refused the result */
    URL_ERR_TOO_LARGE,     /* the request body is over the invoke payload limit */
    URL_ERR_NOT_FOUND,     /* no URL by that id or path */
    URL_ERR_FORBIDDEN,     /* the URL's AuthType refuses the caller */
} url_error_t;
void url_response_error(url_error_t e, url_response_t *out);

/* Add a header (both strings copied). */
void url_response_add_header(url_response_t *r, const char *name, const char *value);
void url_response_free(url_response_t *r);   /* frees the members; r reusable */

/* ---- RESPONSE_STREAM prelude ----------------------------------------------
 * A streamed result of content type
 * application/vnd.awslambda.http-integration-response starts with a JSON
 * object {statusCode, headers, cookies} followed by 8 NUL bytes; the body
 * follows. Feed the bytes as they come. */
#define URL_PRELUDE_CONTENT_TYPE "application/vnd.awslambda.http-integration-response"
#define URL_PRELUDE_MAX (64 * 1024)   /* a longer prelude is malformed */

typedef struct url_prelude url_prelude_t;
url_prelude_t *url_prelude_new(void);
/* 1: the prelude is complete; `out` has its status (200 when absent) and
 * headers, no body; *used = the bytes of `data` that were prelude (the
 * rest is body). 0: more is needed (*used = len). -1: malformed (err).
 * Do not feed again after 1 or -1. */
int url_prelude_feed(url_prelude_t *p, const char *data, size_t len, size_t *used,
                     url_response_t *out, err_t *err);
void url_prelude_free(url_prelude_t *p);

/* ---- CORS (url_cors.c) ------------------------------------------------------
 * Lambda's Cors object {AllowCredentials, AllowHeaders[], AllowMethods[],
 * AllowOrigins[], ExposeHeaders[], MaxAge}. */
typedef struct url_cors url_cors_t;

/* NULL (or JSON null) `cors` → NULL and no error. A bad document → NULL and
 * err: ERR_INVALID for a wrong type, ERR_VALIDATION with Lambda's
 * "N validation error(s) detected: ..." for a broken limit (lists of at most
 * 100 items, AllowMethods 6; items of at most 1024 characters, AllowMethods
 * 6, AllowOrigins 1..253; MaxAge 0..86400). */
url_cors_t *url_cors_parse(const cJSON *cors, err_t *err);
/* As GetFunctionUrlConfig answers it: every member, defaults filled. */
cJSON *url_cors_to_json(const url_cors_t *c);
void url_cors_free(url_cors_t *c);

/* An OPTIONS request with Origin and Access-Control-Request-Method, on a URL
 * with a Cors config, is answered by the platform and never reaches the
 * function: `out` gets 200 and, when the origin is allowed, the
 * access-control-* headers; true. False when `c` is NULL or the request is
 * no preflight: the call goes to the function. */
bool url_cors_preflight(const url_cors_t *c, const http_request_t *req, url_response_t *out);
/* The CORS headers of the config for the request's Origin (when allowed)
 * added to the function's answer, replacing the same headers the function
 * set (the configuration takes precedence). */
void url_cors_apply(const url_cors_t *c, const http_request_t *req, url_response_t *resp);

#endif
