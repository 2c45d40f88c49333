/* nimbus_response.c — the response a handler fills, nimbus_remaining_ms,
 * and the growable buffers the whole library builds its requests with.
 *
 * Owns: nimbus_response's body and error strings (allocated here, emptied
 * between calls by nimbus_response_reset). Must never: do I/O, or fail in a
 * way the handler cannot see (an allocation failure marks the response, and
 * the call then fails with Runtime.OutOfMemory).
 */
#define _POSIX_C_SOURCE 200809L   /* strdup, clock_gettime under -std=c11 */
#include "nimbus_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- growable bytes ------------------------------------------------------ */

int nimbus_buf_reserve(nimbus_buf *b, size_t extra)
{
    if (extra > NIMBUS_BODY_MAX || b->len > NIMBUS_BODY_MAX) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int nimbus_buf_add(nimbus_buf *b, const void *data, size_t n)
{
    /* data may point into b itself ("append the body to itself"): find it
     * again after a realloc. */
    const char *src = data;
    int inside = b->p && src >= b->p && src < b->p + b->cap;
    size_t off = inside ? (size_t)(src - b->p) : 0;
    if (nimbus_buf_reserve(b, n) < 0) return -1;
    if (inside) src = b->p + off;
    if (n) memmove(b->p + b->len, src, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int nimbus_buf_vaddf(nimbus_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || nimbus_buf_reserve(b, (size_t)n) < 0) return -1;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int nimbus_buf_addf(nimbus_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = nimbus_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* JSON string literal of n bytes of s. Bytes >= 0x80 pass through: the
 * platform forwards the document byte for byte. */
int nimbus_buf_add_json(nimbus_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (nimbus_buf_reserve(b, n + 2) < 0 || nimbus_buf_add(b, "\"", 1) < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        size_t run = 0;   /* plain bytes are copied in one go */
        while (i + run < n && (unsigned char)s[i + run] >= 0x20 && s[i + run] != 0x7f &&
               s[i + run] != '"' && s[i + run] != '\\')
            run++;
        if (run) {
            if (nimbus_buf_add(b, s + i, run) < 0) return -1;
            i += run - 1;
            continue;
        }
        unsigned char ch = (unsigned char)s[i];
        char esc[7] = { '\\', 0, 0, 0, 0, 0, 0 };
        size_t k = 2;
        switch (ch) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[ch >> 4]; esc[5] = hex[ch & 15];
            k = 6;
        }
        if (nimbus_buf_add(b, esc, k) < 0) return -1;
    }
    return nimbus_buf_add(b, "\"", 1);
}

/* ---- the response the handler fills ---------------------------------------- */

static nimbus_buf res_view(const nimbus_response *res)
{
    nimbus_buf b = { res->body, res->body_len, res->body_cap };
    return b;
}

static int res_store(nimbus_response *res, const nimbus_buf *b, int rc)
{
    res->body = b->p;
    res->body_len = b->len;
    res->body_cap = b->cap;
    if (rc < 0) res->out_of_memory = 1;
    return rc;
}

int nimbus_response_set(nimbus_response *res, const void *data, size_t len, const char *content_type)
{
    if (content_type) snprintf(res->content_type, sizeof res->content_type, "%s", content_type);
    res->body_len = 0;
    return nimbus_response_append(res, data, len);
}

int nimbus_response_append(nimbus_response *res, const void *data, size_t len)
{
    nimbus_buf b = res_view(res);
    return res_store(res, &b, nimbus_buf_add(&b, data, len));
}

int nimbus_response_printf(nimbus_response *res, const char *fmt, ...)
{
    nimbus_buf b = res_view(res);
    va_list ap;
    va_start(ap, fmt);
    int rc = nimbus_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    return res_store(res, &b, rc);
}

int nimbus_response_json_string(nimbus_response *res, const char *s, size_t len)
{
    nimbus_buf b = res_view(res);
    return res_store(res, &b, nimbus_buf_add_json(&b, s, len));
}

int nimbus_response_error(nimbus_response *res, const char *type, const char *message)
{
    char *t = strdup(type && *type ? type : "Error");
    char *m = strdup(message ? message : "");
    if (!t || !m) {
        free(t);
        free(m);
        res->out_of_memory = 1;
        return -1;
    }
    free(res->error_type);
    free(res->error_message);
    res->error_type = t;
    res->error_message = m;
    return 0;
}

int nimbus_response_errorf(nimbus_response *res, const char *type, const char *fmt, ...)
{
    nimbus_buf m = { 0 };
    va_list ap;
    va_start(ap, fmt);
    int rc = nimbus_buf_vaddf(&m, fmt, ap);
    va_end(ap);
    if (rc == 0) rc = nimbus_response_error(res, type, m.p ? m.p : "");
    else res->out_of_memory = 1;
    free(m.p);
    return rc;
}

void nimbus_response_reset(nimbus_response *res)
{
    /* A buffer that grew for one big answer is not kept for ever. */
    if (res->body_cap > ((size_t)1 << 20)) {
        free(res->body);
        res->body = NULL;
        res->body_cap = 0;
    }
    res->body_len = 0;
    res->content_type[0] = '\0';
    free(res->error_type);
    free(res->error_message);
    res->error_type = res->error_message = NULL;
    res->out_of_memory = 0;
}

long long nimbus_remaining_ms(const nimbus_request *req)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return req->deadline_ms > now ? req->deadline_ms - now : 0;
}
