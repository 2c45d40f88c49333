/* errdoc.h — the JSON error documents Nimbus sends, built in one place with
 * proper string escaping.
 *
 * Three shapes, each with its members in the order clients have always
 * received them:
 *
 *   runtime API answer to a runtime   {"errorMessage":M,"errorType":T}\n
 *   a function error, as its caller   {"errorType":T,"errorMessage":M}
 *     gets it (invoke result, init
 *     error, platform-detected error)
 *   control-plane error body          {"Type":"User","message":M}
 *                                     {"Type":"Service","Message":M}
 *                                     (+ ,"Reason":R when throttling)
 *
 * Strings are escaped exactly as cJSON prints them (so switching a builder
 * to these changes no byte for messages cJSON already escaped): '"' and
 * '\\' and the control characters below 0x20 are escaped ("\b", "\f",
 * "\n", "\r", "\t", else "\u00XX" in lowercase hex); every other byte,
 * UTF-8 included, is copied as it is. A NULL string is written as "".
 *
 * Pure functions. Out of memory aborts, as buf_t does.
 */
#ifndef NIMBUS_ERRDOC_H
#define NIMBUS_ERRDOC_H

#include <stddef.h>

#include "base/util.h"

/* Append `s` to `b` as a JSON string, quotes included. */
void errdoc_json_string(buf_t *b, const char *s);

/* {"errorMessage":msg,"errorType":type} and a newline: the runtime API's
 * own answers to a runtime (400 InvalidRequestID, 403
 * InvalidStateTransition, ...). Returns a malloc'd string; *len (if not
 * NULL) gets its length. */
char *errdoc_runtime(const char *type, const char *msg, size_t *len);

/* {"errorType":type,"errorMessage":msg}, no newline: a function's error
 * document as the invoker receives it. */
char *errdoc_function(const char *type, const char *msg, size_t *len);

/* The control plane's member name for the message of `exception`: the
 * service's models spell it "Message" for ResourceNotFoundException,
 * ServiceException and InvalidRuntimeException, "message" for every other
 * exception. */
const char *errdoc_api_member(const char *exception);

/* {"Type":"User"|"Service",<member>:msg}: "Service" when status >= 500;
 * the member as errdoc_api_member(exception). */
char *errdoc_api(int status, const char *exception, const char *msg, size_t *len);

/* The general form: {"Type":kind,<member>:msg} and, when `reason` is not
 * NULL, ,"Reason":reason (the throttling answer:
 * errdoc_api_build("User", "message", "Rate Exceeded.", reason, ...)). */
char *errdoc_api_build(const char *kind, const char *member, const char *msg,
                       const char *reason, size_t *len);

#endif
