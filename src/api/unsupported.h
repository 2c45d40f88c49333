/* unsupported.h — Lambda operations that cannot exist on Nimbus (event
 * source mappings, code signing, capacity providers, durable executions,
 * ...): recognised by method and path, and refused by name. */
#ifndef NIMBUS_UNSUPPORTED_H
#define NIMBUS_UNSUPPORTED_H

#include <stdbool.h>

#include "api/api.h"

/* The operation `method` `path` is, if it is one Nimbus refuses; else NULL. */
const char *unsupported_operation(const char *method, const char *path);
/* When `req` is such an operation: answer 400 InvalidParameterValueException
 * "<Operation> is not supported by Nimbus" and return true. */
bool unsupported_answer(http_exchange_t *ex, const http_request_t *req);
/* Start-up: check the list's patterns. */
int unsupported_check(err_t *err);

#endif
