/* errdoc.c — the error documents of the runtime API, of function errors
 * and of the control plane.
 *
 * Owns their member order and string escaping. Must never: build a
 * document by pasting a message into a format string (a quote in a message
 * would break the JSON), or reorder members (clients compare bytes).
 */
#include "base/errdoc.h"

#include <string.h>

void errdoc_json_string(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    buf_append(b, "\"", 1);
    if (s) {
        const unsigned char *p = (const unsigned char *)s, *run = p;
        for (; *p; p++) {
            if (*p >= 0x20 && *p != '"' && *p != '\\') continue;
            buf_append(b, run, (size_t)(p - run));
            run = p + 1;
            char esc[6] = { '\\', 0 };
            size_t n = 2;
            switch (*p) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            default:
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                n = 6;
                break;
            }
            buf_append(b, esc, n);
        }
        buf_append(b, run, (size_t)(p - run));
    }
    buf_append(b, "\"", 1);
}

/* {"<k1>":v1,"<k2>":v2 — the member names are ours, never escaped. */
static void member(buf_t *b, const char *key, const char *value, bool first)
{
    buf_append(b, first ? "{\"" : ",\"", 2);
    buf_append(b, key, strlen(key));
    buf_append(b, "\":", 2);
    errdoc_json_string(b, value);
}

static char *finish(buf_t *b, const char *tail, size_t *len)
{
    buf_append(b, tail, strlen(tail));
    size_t n;
    char *s = buf_steal(b, &n);
    if (len) *len = n;
    return s;
}

char *errdoc_runtime(const char *type, const char *msg, size_t *len)
{
    buf_t b = { 0 };
    member(&b, "errorMessage", msg, true);
    member(&b, "errorType", type, false);
    return finish(&b, "}\n", len);
}

char *errdoc_function(const char *type, const char *msg, size_t *len)
{
    buf_t b = { 0 };
    member(&b, "errorType", type, true);
    member(&b, "errorMessage", msg, false);
    return finish(&b, "}", len);
}

const char *errdoc_api_member(const char *exception)
{
    static const char *const capital[] = { "ResourceNotFoundException", "ServiceException",
                                           "InvalidRuntimeException" };
    for (size_t i = 0; exception && i < sizeof capital / sizeof capital[0]; i++)
        if (strcmp(exception, capital[i]) == 0) return "Message";
    return "message";
}

char *errdoc_api_build(const char *kind, const char *member_name, const char *msg,
                       const char *reason, size_t *len)
{
    buf_t b = { 0 };
    member(&b, "Type", kind, true);
    member(&b, member_name, msg, false);
    if (reason) member(&b, "Reason", reason, false);
    return finish(&b, "}", len);
}

char *errdoc_api(int status, const char *exception, const char *msg, size_t *len)
{
    return errdoc_api_build(status >= 500 ? "Service" : "User", errdoc_api_member(exception), msg,
                            NULL, len);
}
