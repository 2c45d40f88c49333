/* http_resp.c — the bytes of every HTTP response: the status line, the
 * caller's headers filtered, and the framing (Content-Length, chunked
 * streams, Connection, bodyless statuses, HEAD); the reason phrases.
 *
 * Apart from http_msg.c because it is the other direction: http_msg.c
 * turns a client's bytes into exchanges, this file turns an answer into
 * the bytes written for it, and neither needs the other's internals
 * beyond the exchange itself. Must never: do I/O, emit a header that
 * could split a response (CR, LF, or a bad name), or let a caller's
 * Content-Length, Transfer-Encoding or Connection frame a response.
 */
#define _GNU_SOURCE   /* strcasestr */
#include "io/http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

typedef enum { HEADER_SKIP, HEADER_CONNECTION, HEADER_WRITE } header_kind_t;

/* What becomes of a caller's header: skipped (one that could split the
 * response, or framing, which is ours), a Connection (honoured, not
 * copied), or written with the lengths given. One pass over each string:
 * three responses a call go through here, twice each. */
static header_kind_t header_kind(const http_header_t *h, size_t *name_len, size_t *value_len)
{
    if (!h->name || !h->value || !h->name[0]) return HEADER_SKIP;
    size_t n = strcspn(h->name, "\r\n: \t");
    if (h->name[n]) return HEADER_SKIP;
    size_t v = strcspn(h->value, "\r\n");
    if (h->value[v]) return HEADER_SKIP;
    if ((n == 14 && !strcasecmp(h->name, "Content-Length")) || (n == 17 && !strcasecmp(h->name, "Transfer-Encoding")))
        return HEADER_SKIP;
    if (n == 10 && !strcasecmp(h->name, "Connection")) return HEADER_CONNECTION;
    *name_len = n;
    *value_len = v;
    return HEADER_WRITE;
}

static char *put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

/* The bytes put_head writes for the caller's headers; *client_close when
 * one of them is a Connection: close. Framing is ours alone, but a
 * handler's Connection: close is honoured. */
static size_t head_len(const http_header_t *headers, size_t nheaders, bool *client_close)
{
    size_t hlen = 0;
    for (size_t i = 0; i < nheaders; i++) {
        size_t nl, vl;
        switch (header_kind(&headers[i], &nl, &vl)) {
        case HEADER_SKIP: break;
        case HEADER_CONNECTION:
            if (strcasestr(headers[i].value, "close")) *client_close = true;
            break;
        case HEADER_WRITE: hlen += nl + 2 + vl + 2; break;
        }
    }
    return hlen;
}

/* The status line and the caller's headers, but for the framing ones
 * (Content-Length, Transfer-Encoding, Connection) this file writes. */
static char *put_head(char *o, int status, const char *reason, size_t rlen, const http_header_t *headers,
                      size_t nheaders)
{
    o = put(o, "HTTP/1.1 ", 9);
    *o++ = (char)('0' + status / 100);
    *o++ = (char)('0' + status / 10 % 10);
    *o++ = (char)('0' + status % 10);
    *o++ = ' ';
    o = put(o, reason, rlen);
    o = put(o, "\r\n", 2);
    for (size_t i = 0; i < nheaders; i++) {
        size_t nl, vl;
        if (header_kind(&headers[i], &nl, &vl) != HEADER_WRITE) continue;
        o = put(o, headers[i].name, nl);
        o = put(o, ": ", 2);
        o = put(o, headers[i].value, vl);
        o = put(o, "\r\n", 2);
    }
    return o;
}

int http_exchange_build_response(http_exchange_t *ex, int status, const http_header_t *headers,
                                 size_t nheaders, const void *body, size_t len, char *owned)
{
    http_conn_t *c = ex->conn;
    if (status < 100 || status > 999) status = 500;
    bool bodyless = status < 200 || status == 204 || status == 304;
    bool send_body = !bodyless && !ex->is_head && len > 0;

    bool client_close = false;
    size_t hlen = head_len(headers, nheaders, &client_close);
    if (client_close && c) {
        /* No further request will be read, so one half received is moot. */
        c->read_closed = true;
        http_conn_drop_partial(c);
    }
    /* Say close only on the connection's last response. */
    bool will_close = c && c->read_closed && ex->next == NULL;
    bool say_keep = !will_close && ex->http10;

    const char *reason = http_reason(status);
    size_t rlen = strlen(reason);
    size_t cap = 13 + rlen + 2 + hlen + 16 + 20 + 2 + 24 + 2 + 1;
    if (send_body && !owned) cap += len;
    char *out = malloc(cap);
    if (!out) {
        free(owned);
        return -1;
    }
    char *o = put_head(out, status, reason, rlen, headers, nheaders);
    if (!bodyless) {
        o = put(o, "Content-Length: ", 16);
        o = util_put_u64(o, len);
        o = put(o, "\r\n", 2);
    }
    if (will_close) o = put(o, "Connection: close\r\n", 19);
    else if (say_keep) o = put(o, "Connection: keep-alive\r\n", 24);
    o = put(o, "\r\n", 2);
    if (send_body && !owned) o = put(o, body, len);

    ex->out = out;
    ex->out_len = (size_t)(o - out);
    if (send_body && owned) {
        ex->out_body = owned;
        ex->out_body_len = len;
    } else {
        free(owned);
    }
    ex->state = EX_ANSWERED;
    /* The request is done with; its body need not wait for the write. */
    http_exchange_body_release(ex);
    return 0;
}

/* The head of a streamed response. Framing: chunked for HTTP/1.1, none
 * for HTTP/1.0 (the end of the body is the close); no body at all for
 * HEAD and bodyless statuses. */
int http_exchange_build_stream_head(http_exchange_t *ex, int status, const http_header_t *headers,
                                    size_t nheaders)
{
    http_conn_t *c = ex->conn;
    if (status < 100 || status > 999) status = 500;
    bool bodyless = status < 200 || status == 204 || status == 304;
    ex->stream_mute = bodyless || ex->is_head;
    ex->stream_chunked = !ex->stream_mute && !ex->http10;
    bool client_close = false;
    size_t hlen = head_len(headers, nheaders, &client_close);
    /* Without chunks, only the close can end the body. */
    if (!ex->stream_mute && ex->http10) client_close = true;
    if (client_close && c) {
        c->read_closed = true;
        http_conn_drop_partial(c);
    }
    bool will_close = c && c->read_closed && (ex->next == NULL || (!ex->stream_mute && ex->http10));
    bool say_keep = !will_close && ex->http10;
    const char *reason = http_reason(status);
    size_t rlen = strlen(reason);
    size_t cap = 13 + rlen + 2 + hlen + 28 + 24 + 2 + 256;
    char *out = malloc(cap);
    if (!out) return -1;
    char *o = put_head(out, status, reason, rlen, headers, nheaders);
    if (ex->stream_chunked) o = put(o, "Transfer-Encoding: chunked\r\n", 28);
    if (will_close) o = put(o, "Connection: close\r\n", 19);
    else if (say_keep) o = put(o, "Connection: keep-alive\r\n", 24);
    o = put(o, "\r\n", 2);
    ex->out = out;
    ex->out_len = (size_t)(o - out);
    ex->out_cap = cap;
    ex->state = EX_STREAMING;
    http_exchange_body_release(ex);
    return 0;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
