/* errdoc.h — error documents (placeholder until the builder lands). */
#ifndef NIMBUS_ERRDOC_H
#define NIMBUS_ERRDOC_H

#include <stddef.h>

/* {"errorType":type,"errorMessage":msg}, malloc'd; *len its length. */
char *errdoc_function(const char *type, const char *msg, size_t *len);

/* The Runtime API's own error answers: the same members, message first,
 * and a newline. */
char *errdoc_runtime_api(const char *type, const char *msg, size_t *len);

/* The control plane's error body: {"Type":"User"|"Service","message":...}
 * ("Message" for the exceptions whose SDK models spell it so). */
char *errdoc_control(int status, const char *type, const char *msg, size_t *len);

#endif
