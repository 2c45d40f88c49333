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

#include "base/errdoc.h"
#include "base/json.h"
#include "base/util.h"

/* Every answer of the API carries a request id, as Lambda's do: SDKs
 * surface it ($metadata.requestId) and users quote it. */
void api_respond_json(http_exchange_t *ex, int status, char *json)
{
    char rid[37];
    util_uuid4(rid);
    const http_header_t h[] = { { "Content-Type", "application/json" }, { "x-amzn-RequestId", rid } };
    if (!json) { http_respond(ex, status, h, 2, NULL, 0); return; }
    http_respond_owned(ex, status, h, 2, json, strlen(json));
}

void api_respond_empty(http_exchange_t *ex, int status)
{
    char rid[37];
    util_uuid4(rid);
    const http_header_t h[] = { { "x-amzn-RequestId", rid } };
    http_respond(ex, status, h, 1, NULL, 0);
}

void api_respond_doc(http_exchange_t *ex, int status, cJSON *doc)
{
    api_respond_json(ex, status, cJSON_PrintUnformatted(doc));
    cJSON_Delete(doc);
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
    char *body = errdoc_api(status, type, msg, &len);
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

void api_respond_precondition(http_exchange_t *ex)
{
    api_respond_error(ex, 412, "PreconditionFailedException",
                      "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id");
}

bool api_revision_stale(http_exchange_t *ex, const cJSON *body, const char *current)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(body, "RevisionId");
    if (!cJSON_IsString(r) || strcmp(r->valuestring, current) == 0) return false;
    api_respond_precondition(ex);
    return true;
}

void api_respond_unknown(http_exchange_t *ex, const http_request_t *req)
{
    api_respond_error(ex, 404, "UnknownOperationException", "Unknown operation %s %s", req->method, req->path);
}

void api_respond_err(http_exchange_t *ex, const err_t *err)
{
    switch (err->code) {
    case ERR_VALIDATION: api_respond_error(ex, 400, "ValidationException", "%s", err->msg); break;
    case ERR_INVALID:
    case ERR_ZIP: api_respond_error(ex, 400, "InvalidParameterValueException", "%s", err->msg); break;
    case ERR_NOT_FOUND: api_respond_error(ex, 404, "ResourceNotFoundException", "%s", err->msg); break;
    case ERR_CONFLICT: api_respond_error(ex, 409, "ResourceConflictException", "%s", err->msg); break;
    case ERR_DENIED: api_respond_error(ex, 403, "AccessDeniedException", "%s", err->msg); break;
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
    size_t len;
    char *body = errdoc_api_build("User", "message", "Rate Exceeded.", reason, &len);
    http_header_t h[] = { { "Content-Type", "application/json" },
                          { "x-amzn-ErrorType", "TooManyRequestsException" },
                          { "x-amzn-RequestId", rid }, { "Retry-After", "1" } };
    http_respond_owned(ex, 429, h, 4, body, len);
}

cJSON *api_body_object(http_exchange_t *ex, const http_request_t *req, bool empty_ok)
{
    if (!req->body_len && empty_ok) return cJSON_CreateObject();
    err_t e = { 0 };
    cJSON *o = json_parse_strict(req->body, req->body_len, &e);
    if (o && !cJSON_IsObject(o)) err_set(&e, ERR_INVALID, "the body is not a JSON object");
    if (o && cJSON_IsObject(o)) return o;
    cJSON_Delete(o);
    api_respond_error(ex, 400, "InvalidRequestContentException", "Could not parse request body into json: %s", e.msg);
    return NULL;
}

void api_http_error(const http_error_t *e, http_error_answer_t *a, void *arg)
{
    (void)arg;
    a->headers[a->nheaders++] = (http_header_t){ "Content-Type", "application/json" };
    if (e->status == 413)
        a->headers[a->nheaders++] = (http_header_t){ "x-amzn-ErrorType", "RequestTooLargeException" };
    if (e->status == 503) {
        /* Shed at the edge (out of fds): Lambda's service-side error, which
         * the SDKs retry. */
        a->headers[a->nheaders++] = (http_header_t){ "x-amzn-ErrorType", "ServiceException" };
        a->body = errdoc_api_build("Service", "Message", e->reason, NULL, &a->body_len);
        return;
    }
    a->body = errdoc_api_build("User", "Message", e->reason, NULL, &a->body_len);
}
