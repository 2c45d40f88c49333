/* http_msg.c — HTTP/1.1 requests: the llhttp callbacks that turn bytes into
 * exchanges, and the exchanges' lives until they are answered.
 *
 * Owns: how a request head is collected (pieces of method/url/headers may
 * arrive over many reads, so they are copied into the connection's scratch
 * buffer and become one allocation per exchange at headers-complete), body
 * limits, trailers, streamed bodies paused out of llhttp piece by piece,
 * and the reasons of the errors the server answers itself (their shape is
 * the owner's, through on_error). The bytes of a response are
 * http_resp.c's. Must never: do I/O, call the request handler (http.c
 * delivers completed requests outside llhttp), or know any API's error
 * format.
 */
#include "io/http_internal.h"
#include "io/fdlimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static http_conn_t *conn_of(llhttp_t *p) { return p->data; }

static int cb_fail(http_conn_t *c, int status)
{
    c->err_status = status;
    return -1;
}

static int hb_reserve(http_conn_t *c, size_t extra)
{
    if (c->hb_len + extra <= c->hb_cap) return 0;
    size_t n = c->hb_cap ? c->hb_cap : 1024;
    while (n < c->hb_len + extra) n *= 2;
    char *p = realloc(c->hb, n);
    if (!p) return -1;
    c->hb = p;
    c->hb_cap = n;
    return 0;
}

/* Append a piece of url/field/value. The head limit counts raw bytes from
 * the start of the message (so whitespace and line ends count too), which
 * the span positions inside the current read tell us exactly. */
static int span_append(http_conn_t *c, int kind, const char *at, size_t n)
{
    size_t max = c->s->cfg.max_header_bytes;
    if (c->span != kind) {
        c->span = kind;
        c->span_start = c->hb_len;
    }
    if (c->in_head) {
        if (c->head_bytes + (size_t)(at + n - c->chunk_base) > max) return cb_fail(c, 431);
    } else if (c->hb_len + n > max) {   /* trailers */
        return cb_fail(c, 431);
    }
    if (hb_reserve(c, n + 1) < 0) return cb_fail(c, -1);
    memcpy(c->hb + c->hb_len, at, n);
    c->hb_len += n;
    return 0;
}

static int span_close(http_conn_t *c, int kind, size_t *off, size_t *len)
{
    if (c->span != kind) c->span_start = c->hb_len;   /* empty span: no piece came */
    if (hb_reserve(c, 1) < 0) return -1;
    *off = c->span_start;
    *len = c->hb_len - c->span_start;
    c->hb[c->hb_len++] = '\0';
    c->span = SPAN_NONE;
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    c->in_head = true;
    c->head_bytes = 0;
    c->req_in_progress = true;
    c->req_start = c->hs_start ? c->hs_start : c->now;
    c->hs_start = 0;
    c->hb_len = 0;
    c->nents = 0;
    c->span = SPAN_NONE;
    c->url_off = c->url_len = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    return span_append(conn_of(p), SPAN_URL, at, n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    return span_append(conn_of(p), SPAN_FIELD, at, n);
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    return span_append(conn_of(p), SPAN_VALUE, at, n);
}

static int on_url_complete(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    return span_close(c, SPAN_URL, &c->url_off, &c->url_len) < 0 ? cb_fail(c, -1) : 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    return span_close(c, SPAN_FIELD, &c->fld_off, &c->fld_len) < 0 ? cb_fail(c, -1) : 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    size_t off, len;
    if (span_close(c, SPAN_VALUE, &off, &len) < 0) return cb_fail(c, -1);
    /* llhttp skips leading whitespace but hands over trailing whitespace. */
    while (len && (c->hb[off + len - 1] == ' ' || c->hb[off + len - 1] == '\t')) len--;
    c->hb[off + len] = '\0';
    if (c->nents == c->cap_ents) {
        size_t n = c->cap_ents ? c->cap_ents * 2 : 16;
        http_hent_t *e = realloc(c->ents, n * sizeof *e);
        if (!e) return cb_fail(c, -1);
        c->ents = e;
        c->cap_ents = n;
    }
    c->ents[c->nents++] = (http_hent_t){ c->fld_off, c->fld_len, off, len };
    return 0;
}

/* Where the path of a request target starts and how long it is: origin
 * form "/a?b" gives "/a"; absolute form "http://h/a?b" also gives "/a". */
static void target_path(const char *t, size_t tlen, size_t *off, size_t *len)
{
    size_t start = 0;
    if (t[0] != '/' && t[0] != '*') {
        const char *sch = strstr(t, "://");
        if (sch) {
            const char *slash = strchr(sch + 3, '/');
            const char *q = strchr(sch + 3, '?');
            start = slash && (!q || slash < q) ? (size_t)(slash - t) : tlen;
        }
    }
    size_t end = start;
    while (end < tlen && t[end] != '?') end++;
    *off = start;
    *len = end - start;
}

/* The request target's form (RFC 9112, 3.2): origin ("/p?q"), absolute
 * ("http://host/p?q", whose host replaces the Host header, as nginx does),
 * asterisk ("*", OPTIONS only). Returns 0 when acceptable, with the
 * authority of an absolute form at aoff, alen bytes (0 otherwise). A
 * target of any other shape, or an absolute one of another scheme or with
 * userinfo, is a 400: it must not reach the routes as some other path. */
static int target_form(const char *t, size_t tlen, int method, size_t *aoff, size_t *alen)
{
    *aoff = *alen = 0;
    if (tlen && t[0] == '/') return 0;
    if (tlen == 1 && t[0] == '*') return method == HTTP_OPTIONS ? 0 : -1;
    const char *sch = strstr(t, "://");
    if (!sch) return -1;
    size_t slen = (size_t)(sch - t);
    if (!((slen == 4 && !strncasecmp(t, "http", 4)) || (slen == 5 && !strncasecmp(t, "https", 5))))
        return -1;
    size_t a = slen + 3, e = a;
    while (e < tlen && t[e] != '/' && t[e] != '?' && t[e] != '#') e++;
    if (e == a || memchr(t + a, '@', e - a)) return -1;
    *aoff = a;
    *alen = e - a;
    return 0;
}

/* Transfer-Encoding (RFC 9112, 6.1): llhttp knows chunked, and frames a
 * body by it when it comes last, but says nothing of codings before it.
 * Nimbus decodes none ("gzip, chunked" would hand the handler gzip bytes
 * as if plain): any coding but one final "chunked" is 501 Not Implemented,
 * "chunked" twice a 400. Returns the status to answer, 0 for none. */
static int transfer_codings(const http_request_t *req)
{
    int nchunked = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcasecmp(req->headers[i].name, "Transfer-Encoding")) continue;
        const char *v = req->headers[i].value;
        while (*v) {
            while (*v == ' ' || *v == '\t' || *v == ',') v++;
            if (!*v) break;
            const char *e = v;
            while (*e && *e != ',') e++;
            size_t n = (size_t)(e - v);
            while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
            if (n == 7 && !strncasecmp(v, "chunked", 7)) nchunked++;
            else return 501;
            v = e;
        }
    }
    return nchunked > 1 ? 400 : 0;
}

static void fifo_append(http_conn_t *c, http_exchange_t *ex)
{
    ex->next = NULL;
    if (c->q_tail) c->q_tail->next = ex;
    else c->q_head = ex;
    c->q_tail = ex;
    c->nqueued++;
}

static int on_headers_complete(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    http_server_t *s = c->s;
    c->in_head = false;

    const char *target = c->hb + c->url_off;
    size_t poff, plen;
    target_path(target, c->url_len, &poff, &plen);
    size_t aoff, alen;
    if (target_form(target, c->url_len, p->method, &aoff, &alen) < 0) return cb_fail(c, 400);
    /* An absolute-form target without a path means "/". */
    bool slash = plen == 0 && target[0] != '/' && target[0] != '*' && target[0] != '?';
    size_t pbytes = (slash ? 1 : plen) + 1;

    /* Room for a Host header when an absolute form brings one and the
     * request had none (HTTP/1.0). */
    size_t nh = c->nents, nslots = nh + (alen ? 1 : 0);
    http_exchange_t *ex =
        malloc(sizeof *ex + nslots * sizeof(http_header_t) + c->hb_len + pbytes + alen + 1);
    if (!ex) return cb_fail(c, -1);
    memset(ex, 0, sizeof *ex);
    char *str = (char *)(ex->hdrs + nslots);
    memcpy(str, c->hb, c->hb_len);
    char *path = str + c->hb_len;
    if (slash) {
        memcpy(path, "/", 2);
    } else {
        memcpy(path, str + c->url_off + poff, plen);
        path[plen] = '\0';
    }
    for (size_t i = 0; i < nh; i++) {
        ex->hdrs[i].name = str + c->ents[i].name_off;
        ex->hdrs[i].value = str + c->ents[i].val_off;
    }
    if (alen) {
        /* RFC 9112, 3.2.2: the target's host, not the Host header. */
        char *host = path + pbytes;
        memcpy(host, str + c->url_off + aoff, alen);
        host[alen] = '\0';
        bool had = false;
        for (size_t i = 0; i < nh; i++)
            if (!strcasecmp(ex->hdrs[i].name, "Host")) { ex->hdrs[i].value = host; had = true; }
        if (!had) ex->hdrs[nh++] = (http_header_t){ "Host", host };
    }

    http_request_t *req = &ex->req;
    req->method = llhttp_method_name((llhttp_method_t)p->method);
    req->target = str + c->url_off;
    const char *q = strchr(req->target, '?');
    req->query = q ? q + 1 : "";
    req->path = path;
    req->headers = ex->hdrs;
    req->nheaders = nh;
    req->body = ex->empty;
    req->keep_alive = llhttp_should_keep_alive(p) != 0;
    req->listener_ctx = c->lctx;
    req->principal = NULL;
    ex->conn = c;
    ex->state = EX_READING;
    ex->is_head = p->method == HTTP_HEAD;
    ex->http10 = p->http_major == 0 || (p->http_major == 1 && p->http_minor == 0);

    /* The scratch now holds trailers, if any come. */
    c->hb_len = 0;
    c->nents = 0;

    ex->body_limit = s->cfg.body_limit ? s->cfg.body_limit(req, s->cfg.arg) : s->cfg.max_body_bytes;
    fifo_append(c, ex);
    c->cur = ex;
    if (c->shed) return cb_fail(c, 503);

    int te = (p->flags & F_TRANSFER_ENCODING) ? transfer_codings(req) : 0;
    if (te) return cb_fail(c, te);
    bool chunked = (p->flags & F_CHUNKED) != 0;
    if (s->cfg.stream_body && s->cfg.stream_body(req, s->cfg.arg)) {
        ex->body_stream = true;
        ex->body_open = true;
    } else if (!chunked && (p->flags & F_CONTENT_LENGTH)) {
        if (p->content_length > ex->body_limit || p->content_length >= SIZE_MAX / 2)
            return cb_fail(c, 413);
        if (p->content_length > 0) {
            /* One allocation for the whole body, and room for its NUL. */
            req->body = malloc((size_t)p->content_length + 1);
            if (!req->body) {
                req->body = ex->empty;
                return cb_fail(c, -1);
            }
            ex->body_cap = (size_t)p->content_length + 1;
        }
    }
    bool has_body = chunked || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
    if (has_body && !ex->http10) {
        const char *e = http_request_header(req, "Expect");
        if (e && strcasecmp(e, "100-continue") == 0) ex->want_continue = true;
    }
    if (ex->body_stream) {
        /* Handed over now, its body after it as it comes. */
        c->completed = ex;
        return HPE_PAUSED;
    }
    return 0;
}

static int body_reserve(http_exchange_t *ex, size_t need)
{
    if (need <= ex->body_cap) return 0;
    size_t n = ex->body_cap * 2;
    if (n < need) n = need;
    if (n < 1024) n = 1024;
    if (n > ex->body_limit + 1 && need <= ex->body_limit + 1) n = ex->body_limit + 1;
    char *b = realloc(ex->body_cap ? ex->req.body : NULL, n);
    if (!b) return -1;
    ex->req.body = b;
    ex->body_cap = n;
    return 0;
}

/* Chunk sizes are known before their bytes: refuse an oversized body at the
 * first chunk that breaks the limit, and size the buffer once per chunk. */
static int on_chunk_header(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    http_exchange_t *ex = c->cur;
    c->chunk_data = p->content_length > 0;
    if (!ex || ex->body_stream || p->content_length == 0) return 0;
    if (p->content_length > ex->body_limit - ex->req.body_len) return cb_fail(c, 413);
    if (body_reserve(ex, ex->req.body_len + (size_t)p->content_length + 1) < 0)
        return cb_fail(c, -1);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    http_conn_t *c = conn_of(p);
    http_exchange_t *ex = c->cur;
    if (!ex && c->discarding) return 0;
    if (!ex) return cb_fail(c, -1);
    if (ex->body_stream) {
        if (n == 0) return 0;   /* an empty span at the end of the input */
        /* Out of llhttp before the owner sees it (see http_conn_execute). */
        c->piece = at;
        c->piece_len = n;
        return HPE_PAUSED;
    }
    if (n > ex->body_limit - ex->req.body_len) return cb_fail(c, 413);
    /* Bytes read straight into the body (see conn_read) are already there. */
    if (!(ex->body_cap && at == ex->req.body + ex->req.body_len)) {
        if (body_reserve(ex, ex->req.body_len + n + 1) < 0) return cb_fail(c, -1);
        memcpy(ex->req.body + ex->req.body_len, at, n);
    }
    ex->req.body_len += n;
    return 0;
}

/* The llhttp this is built with takes any two bytes after a chunk's data
 * as its CRLF ("2\r\n{}XX0\r\n\r\n" is a whole body), a way to make us
 * and a proxy in front disagree on where a request ends. Stop here and let
 * http_conn_execute look at the two bytes just consumed. */
static int on_chunk_complete(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    if (!c->chunk_data) return 0;     /* the last chunk: its CRLF ends the size line */
    c->chunk_data = false;
    c->chunk_ended = true;
    return HPE_PAUSED;
}

/* The two bytes before `pos` (the first may be the previous run's last). */
static bool chunk_crlf_ok(const http_conn_t *c, const char *run, const char *pos)
{
    char first = pos - run >= 2 ? pos[-2] : c->last_byte;
    return pos - run >= 1 && first == '\r' && pos[-1] == '\n';
}

static int on_message_complete(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    http_exchange_t *ex = c->cur;
    if (!ex && c->discarding) {
        c->discarding = false;
        c->req_in_progress = false;
        c->nents = 0;
        c->hb_len = 0;
        return 0;
    }
    if (!ex) return cb_fail(c, -1);
    if (ex->body_cap) ex->req.body[ex->req.body_len] = '\0';
    if (c->nents) {
        size_t n = c->nents;
        http_header_t *t = malloc(n * sizeof *t + c->hb_len);
        if (!t) return cb_fail(c, -1);
        char *str = (char *)(t + n);
        memcpy(str, c->hb, c->hb_len);
        for (size_t i = 0; i < n; i++) {
            t[i].name = str + c->ents[i].name_off;
            t[i].value = str + c->ents[i].val_off;
        }
        ex->trailer_block = t;
        ex->req.trailers = t;
        ex->req.ntrailers = n;
        c->nents = 0;
        c->hb_len = 0;
    }
    /* The body is all here: a "100 Continue" not yet begun is moot. */
    if (ex->cont_off == 0) ex->want_continue = false;
    c->cur = NULL;
    c->req_in_progress = false;
    if (ex->body_stream) {
        ex->body_open = false;
        c->ended = ex;
        return HPE_PAUSED;
    }
    c->completed = ex;
    /* Stop right after this message so the caller can deliver it and knows
     * exactly where the next one starts. */
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_url_complete = on_url_complete,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
};

void http_conn_parser_init(http_conn_t *c)
{
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
}

int http_conn_execute(http_conn_t *c, const char *p, size_t n, size_t *used)
{
    const char *start = p;
    for (;;) {
        c->chunk_base = p;
        llhttp_errno_t e = llhttp_execute(&c->parser, p, n);
        if (e == HPE_OK) {
            if (c->in_head) {
                c->head_bytes += n;
                if (c->head_bytes > c->s->cfg.max_header_bytes) {
                    *used = (size_t)(p + n - start);
                    return http_conn_fail_request(c, 431) < 0 ? -2 : -1;
                }
            }
            if (n) c->last_byte = p[n - 1];
            *used = (size_t)(p + n - start);
            return 0;
        }
        if (e == HPE_PAUSED && c->chunk_ended) {
            const char *pos = llhttp_get_error_pos(&c->parser);
            c->chunk_ended = false;
            if (!chunk_crlf_ok(c, p, pos)) {
                c->err_status = 400;
                e = HPE_INVALID_CHUNK_SIZE;
            } else {
                llhttp_resume(&c->parser);
                c->last_byte = pos[-1];
                n -= (size_t)(pos - p);
                p = pos;
                continue;
            }
        }
        if (e == HPE_PAUSED) {
            const char *pos = llhttp_get_error_pos(&c->parser);
            *used = (size_t)(pos - start);
            if (pos > p) c->last_byte = pos[-1];
            llhttp_resume(&c->parser);
            /* Paused on a body's last byte, its end has not been seen yet:
             * no further byte will come to drive llhttp to it. */
            if (c->piece && pos == p + n) c->zero_step = true;
            return 1;
        }
        if (e == HPE_PAUSED_UPGRADE) {
            /* We never switch protocols: ignoring Upgrade means the next
             * bytes are HTTP/1.1 again (CONNECT stops reading before). */
            const char *pos = llhttp_get_error_pos(&c->parser);
            llhttp_resume_after_upgrade(&c->parser);
            if (pos > p) c->last_byte = pos[-1];
            n -= (size_t)(pos - p);
            p = pos;
            continue;
        }
        int st = c->err_status ? c->err_status : 400;
        c->err_status = 0;
        *used = n;
        /* A streamed body's owner holds the exchange: no answer of ours
         * may take its place, so the connection goes (an abort). */
        if (st < 0 || (c->cur && c->cur->delivered)) return -2;
        return http_conn_fail_request(c, st) < 0 ? -2 : -1;
    }
}

void http_exchange_body_release(http_exchange_t *ex)
{
    if (ex->body_cap) free(ex->req.body);
    ex->body_cap = 0;
    ex->req.body = ex->empty;
    ex->req.body_len = 0;
}

void http_exchange_free(http_exchange_t *ex)
{
    if (!ex) return;
    http_exchange_body_release(ex);
    free(ex->trailer_block);
    free(ex->out);
    free(ex->out_body);
    free(ex);
}

void http_conn_drop_partial(http_conn_t *c)
{
    http_exchange_t *ex = c->cur;
    /* A streamed body its owner holds is read to its end (or aborted). */
    if (ex && ex->delivered) return;
    c->req_in_progress = false;
    c->in_head = false;
    if (!ex) return;
    c->cur = NULL;
    /* The exchange being read is always the FIFO's tail. */
    http_exchange_t *prev = NULL;
    for (http_exchange_t *e = c->q_head; e && e != ex; e = e->next) prev = e;
    if (prev) prev->next = NULL;
    else c->q_head = NULL;
    c->q_tail = prev;
    c->nqueued--;
    if (c->q_head == NULL) c->wr_off = 0;
    http_exchange_free(ex);
}

void http_conn_detach_body(http_conn_t *c, http_exchange_t *ex)
{
    if (!ex->body_open) return;
    ex->body_open = false;
    c->body_paused = false;
    if (c->cur == ex) {
        c->cur = NULL;
        c->discarding = true;
    }
}

int http_conn_fail_request(http_conn_t *c, int status)
{
    http_exchange_t *ex = c->cur;
    c->cur = NULL;
    c->read_closed = true;
    c->req_in_progress = false;
    c->in_head = false;
    if (ex) {
        http_exchange_body_release(ex);
        /* A 100 Continue half written must still be completed first. */
        if (ex->cont_off == 0) ex->want_continue = false;
        ex->state = EX_PENDING;
    } else {
        ex = calloc(1, sizeof *ex);
        if (!ex) return -1;
        ex->conn = c;
        ex->req.body = ex->empty;
        ex->state = EX_PENDING;
        fifo_append(c, ex);
    }
    char reason[96];
    size_t limit = ex->body_limit ? ex->body_limit : c->s->cfg.max_body_bytes;
    switch (status) {
    case 408: snprintf(reason, sizeof reason, "Request timed out"); break;
    case 413:
        snprintf(reason, sizeof reason, "Request must be smaller than %zu bytes for the operation",
                 limit);
        break;
    case 431: snprintf(reason, sizeof reason, "Request header fields too large"); break;
    case 503:
        snprintf(reason, sizeof reason, "Service overloaded: out of file descriptors (limit %lu); try again later",
                 fdlimit_max());
        break;
    case 501: snprintf(reason, sizeof reason, "Transfer-Encoding not implemented"); break;
    case HTTP_STATUS_PLAIN_ON_TLS:
        snprintf(reason, sizeof reason, "The plain HTTP request was sent to HTTPS port");
        status = 400;
        break;
    default: snprintf(reason, sizeof reason, "Could not parse request"); status = 400; break;
    }
    http_error_t e = { .status = status, .reason = reason, .body_limit = limit,
                       .req = ex->req.method ? &ex->req : NULL };
    http_error_answer_t ans = { .nheaders = 0 };
    if (c->s->cfg.on_error) {
        c->s->cfg.on_error(&e, &ans, c->s->cfg.arg);
        if (ans.nheaders > HTTP_ERROR_MAX_HEADERS) ans.nheaders = HTTP_ERROR_MAX_HEADERS;
    } else {
        /* No vendor's shape: what any HTTP client can show a person. */
        ans.headers[0] = (http_header_t){ "Content-Type", "text/plain; charset=utf-8" };
        ans.nheaders = 1;
        size_t n = strlen(reason);
        if ((ans.body = malloc(n + 2))) {
            memcpy(ans.body, reason, n);
            memcpy(ans.body + n, "\n", 2);
            ans.body_len = n + 1;
        }
    }
    return http_exchange_build_response(ex, status, ans.headers, ans.nheaders, ans.body,
                                        ans.body ? ans.body_len : 0, ans.body);
}

/* ---- small public helpers ---- */

const char *http_request_header(const http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (!strcasecmp(req->headers[i].name, name)) return req->headers[i].value;
    return NULL;
}

const char *http_request_trailer(const http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->ntrailers; i++)
        if (!strcasecmp(req->trailers[i].name, name)) return req->trailers[i].value;
    return NULL;
}
