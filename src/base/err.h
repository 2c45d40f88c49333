/* err.h — errors as values.
 *
 * Every fallible call takes an `err_t *` and, on failure, fills it with a
 * code and a one-line message, then returns -1 (or NULL). Only the edge (the
 * HTTP layer answering a client, or the CLI printing one line) turns an
 * err_t into output. Deep code never prints.
 */
#ifndef NIMBUS_ERR_H
#define NIMBUS_ERR_H

#include <stdarg.h>

/* Error classes. They map 1:1 onto what the edge answers: an HTTP status and
 * a Lambda error type for the API, an exit code for the CLI. */
typedef enum {
    ERR_NONE = 0,
    ERR_INVALID,      /* bad input from the caller: 400 InvalidParameterValueException */
    ERR_VALIDATION,   /* a field breaks its declared constraint: 400 ValidationException */
    ERR_NOT_FOUND,    /* 404 ResourceNotFoundException */
    ERR_CONFLICT,     /* 409 ResourceConflictException */
    ERR_TOO_LARGE,    /* 413 RequestTooLargeException */
    ERR_ZIP,          /* 400 InvalidParameterValueException: unusable deployment package */
    ERR_SYS,          /* an OS call failed: 500 ServiceException */
    ERR_INTERNAL,     /* a bug or an impossible state: 500 ServiceException */
    ERR_DENIED,       /* another account's resource the caller may not use: 403 AccessDeniedException */
} err_code_t;

typedef struct {
    err_code_t code; /* class of the failure, ERR_NONE when none */
    int sys_errno;   /* errno at the failure when code == ERR_SYS, else 0 */
    char msg[512];   /* one line, no trailing newline */
} err_t;

/* Fill `e` (if not NULL) and return -1, so callers can `return err_set(...)`. */
int err_set(err_t *e, err_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, for a failed system call: appends ": strerror(errno)" and keeps errno. */
int err_sys(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix an existing message with context ("deploy hello: <old message>"). */
int err_wrap(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(err_t *e);

#endif
