/* answer.c — the API's answers: Lambda's error shapes, JSON documents, the
 * throttle.
 *
 * Owns how an error looks on the wire to an SDK (which exceptions carry
 * "Message" and which "message", the request id header). Must never be
 * called from below the API layer.
 */
#include "api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/errdoc.h"
#include "base/util.h"

void api_respond_json(http_exchange_t *ex, int status, char *json)
{
    static const http_header_t h[] = { { "Content-Type", "application/json" } };
    if (!json) { http_respond(ex, status, h, 1, NULL, 0); return; }
    http_respond_owned(ex, status, h, 1, json, strlen(json));
}

void api_respond_error(http_exchange_t *ex, int status, const char *type, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char rid[37];
    util_uuid4(rid);
    size_t len;
    char *body = errdoc_control(status, type, msg, &len);
    http_header_t h[] = { { "Content-Type", "application/json" }, { "x-amzn-ErrorType", type },
                          { "x-amzn-RequestId", rid } };
    http_respond_owned(ex, status, h, 3, body, len);
}

void api_respond_not_found(http_exchange_t *ex, const char *name, const char *qualifier)
{
    char arn[400];
    function_arn(name, qualifier, arn, sizeof arn);
    api_respond_error(ex, 404, "ResourceNotFoundException", "Function not found: %s", arn);
}

void api_respond_err(http_exchange_t *ex, const err_t *err)
{
    switch (err->code) {
    case ERR_VALIDATION: api_respond_error(ex, 400, "ValidationException", "%s", err->msg); break;
    case ERR_INVALID:
    case ERR_ZIP: api_respond_error(ex, 400, "InvalidParameterValueException", "%s", err->msg); break;
    case ERR_NOT_FOUND: api_respond_error(ex, 404, "ResourceNotFoundException", "%s", err->msg); break;
    case ERR_CONFLICT: api_respond_error(ex, 409, "ResourceConflictException", "%s", err->msg); break;
    case ERR_TOO_LARGE:
        /* Lambda answers an oversized deployment package with 400. */
        api_respond_error(ex, 400, "InvalidParameterValueException", "%s", err->msg);
        break;
    default: api_respond_error(ex, 500, "ServiceException", "%s", err->msg); break;
    }
}

void api_respond_throttled(http_exchange_t *ex, const char *reason)
{
    char rid[37];
    util_uuid4(rid);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Type", "User");
    cJSON_AddStringToObject(o, "message", "Rate Exceeded.");
    cJSON_AddStringToObject(o, "Reason", reason);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    http_header_t h[] = { { "Content-Type", "application/json" },
                          { "x-amzn-ErrorType", "TooManyRequestsException" },
                          { "x-amzn-RequestId", rid }, { "Retry-After", "1" } };
    http_respond_owned(ex, 429, h, 4, body, strlen(body));
}
