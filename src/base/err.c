/* err.c — formatting for err_t. Owns nothing else. */
#include "base/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int err_set(err_t *e, err_code_t code, const char *fmt, ...)
{
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    e->sys_errno = 0;
    return -1;
}

int err_sys(err_t *e, const char *fmt, ...)
{
    int saved = errno;
    if (!e) return -1;
    char head[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    snprintf(e->msg, sizeof e->msg, "%s: %s", head, strerror(saved));
    e->code = ERR_SYS;
    e->sys_errno = saved;
    errno = saved;
    return -1;
}

int err_wrap(err_t *e, const char *fmt, ...)
{
    if (!e) return -1;
    char head[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s: %s", head, old);
    return -1;
}

void err_clear(err_t *e)
{
    if (!e) return;
    e->code = ERR_NONE;
    e->sys_errno = 0;
    e->msg[0] = '\0';
}
