/* nimbus_internal.h — shared between the library's own files, never
 * installed. Every symbol here is prefixed nimbus_ because the static
 * library is linked into the user's program, next to the user's names. */
#ifndef NIMBUS_INTERNAL_H
#define NIMBUS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "nimbus_runtime.h"

#define NIMBUS_BODY_MAX ((size_t)256 << 20)   /* sanity cap: Lambda's own limit is 6 MB */

/* Growable bytes, NUL-terminated once anything was added. The functions
 * return 0, or -1 when memory ran out (or past NIMBUS_BODY_MAX); the
 * buffer is then unchanged. */
typedef struct {
    char *p;
    size_t len, cap;
} nimbus_buf;

int nimbus_buf_reserve(nimbus_buf *b, size_t extra);
int nimbus_buf_add(nimbus_buf *b, const void *data, size_t n);
int nimbus_buf_vaddf(nimbus_buf *b, const char *fmt, va_list ap);
int nimbus_buf_addf(nimbus_buf *b, const char *fmt, ...) NIMBUS_PRINTF(2, 3);
/* n bytes of s as a JSON string literal, quotes included. */
int nimbus_buf_add_json(nimbus_buf *b, const char *s, size_t n);

/* Empty a response before the next call (keeps a small body buffer). */
void nimbus_response_reset(nimbus_response *res);

#endif
