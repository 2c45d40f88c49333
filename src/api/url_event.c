/* url_event.c — Lambda's payload 2.0 for function URLs: the event made from
 * an HTTP request, the HTTP answer made from a function's result (and from a
 * streamed result's prelude), and the answers the platform gives itself.
 *
 * Owns only these conversions (CORS is url_cors.c). Must never touch the
 * loop, the router or a socket, and never let a function's result put a
 * CR, LF or NUL into the HTTP head: everything here is fed outside input.
 */
#include "api/url_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/util.h"

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) abort();
    return d;
}

/* ---- request → event ----------------------------------------------------- */

/* Append a string literal. */
#define PUT(b, lit) buf_append((b), (lit), sizeof(lit) - 1)

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode (and '+' → ' ' when `plus`), malloc'd. A malformed escape
 * is kept as it is: the raw forms are in the event too. */
static char *pct_decode(const char *s, size_t n, bool plus)
{
    char *out = malloc(n + 1);
    if (!out) abort();
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (plus && s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static bool is_text_type(const char *ct)
{
    if (!ct) return false;
    while (*ct == ' ') ct++;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
    if (n > 5 && strncasecmp(ct, "text/", 5) == 0) return true;
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/* Valid UTF-8 (no overlongs, surrogates or NUL): a JSON string can carry it
 * unchanged. */
static bool is_utf8_text(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0) return false;
        if (c < 0x80) { i++; continue; }
        size_t k;
        unsigned min, cp;
        if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (i + k >= n) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += k + 1;
    }
    return true;
}

/* s[0..n) as text an event's JSON can carry: as it is when it is UTF-8,
 * else read as Latin-1 (HTTP's old rule for header bytes) and re-encoded. */
static void append_safe(buf_t *b, const char *s, size_t n)
{
    if (is_utf8_text((const unsigned char *)s, n)) {
        buf_append(b, s, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            buf_append(b, &s[i], 1);
        } else {
            char two[2] = { (char)(0xC0 | (c >> 6)), (char)(0x80 | (c & 0x3F)) };
            buf_append(b, two, 2);
        }
    }
}

/* A JSON string of valid UTF-8 s[0..n). The event is written straight
 * into its buffer, not built as a tree: it is made for every request. */
static void put_json(buf_t *b, const char *s, size_t n)
{
    PUT(b, "\"");
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char u[8];
        const char *esc = NULL;
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20) snprintf(u, sizeof u, "\\u%04x", c), esc = u;
        if (!esc) continue;
        buf_append(b, s + run, i - run);
        buf_append(b, esc, strlen(esc));
        run = i + 1;
    }
    buf_append(b, s + run, n - run);
    PUT(b, "\"");
}

/* "key": then a string made safe (scratch is reused). */
static void put_member(buf_t *b, buf_t *scratch, const char *key, const char *value, bool comma)
{
    if (comma) PUT(b, ",");
    put_json(b, key, strlen(key));
    PUT(b, ":");
    buf_reset(scratch);
    append_safe(scratch, value, strlen(value));
    put_json(b, scratch->data ? scratch->data : "", scratch->len);
}

/* Every Cookie header's cookies, split at ";" and trimmed. */
static size_t put_cookies(buf_t *b, buf_t *scratch, const char *v, size_t count)
{
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ';') v++;
        const char *end = strchr(v, ';');
        if (!end) end = v + strlen(v);
        const char *t = end;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if (t > v) {
            buf_append(b, count++ ? "," : "[", 1);
            buf_reset(scratch);
            append_safe(scratch, v, (size_t)(t - v));
            put_json(b, scratch->data, scratch->len);
        }
        v = end;
    }
    return count;
}

/* "headers": names lower-cased, a repeated header's values joined with
 * "," in order (Lambda's rule), Cookie left out (it is "cookies"). */
static void put_headers(buf_t *b, buf_t *scratch, const http_request_t *req)
{
    buf_t name = { 0 };
    PUT(b, "\"headers\":{");
    bool first = true;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *n = req->headers[i].name;
        bool seen = strcasecmp(n, "cookie") == 0;
        for (size_t j = 0; j < i && !seen; j++) seen = strcasecmp(req->headers[j].name, n) == 0;
        if (seen) continue;
        buf_reset(&name);
        for (const char *c = n; *c; c++) {
            char l = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
            buf_append(&name, &l, 1);
        }
        buf_reset(scratch);
        append_safe(scratch, name.data, name.len);
        if (!first) PUT(b, ",");
        first = false;
        put_json(b, scratch->data, scratch->len);
        PUT(b, ":");
        buf_reset(scratch);
        bool more = false;
        for (size_t j = i; j < req->nheaders; j++) {
            if (strcasecmp(req->headers[j].name, n) != 0) continue;
            const char *v = req->headers[j].value ? req->headers[j].value : "";
            if (more) PUT(scratch, ",");
            append_safe(scratch, v, strlen(v));
            more = true;
        }
        put_json(b, scratch->data ? scratch->data : "", scratch->len);
    }
    PUT(b, "}");
    buf_free(&name);
}

/* "queryStringParameters": keys and values decoded ('+' a space), a
 * repeated key's values joined with "," in order. */
static void put_query(buf_t *b, buf_t *scratch, const char *q)
{
    size_t n = 0, cap = 0;
    char **kv = NULL;                  /* key, value, key, value... */
    for (const char *p = q; *p;) {
        const char *end = strchr(p, '&');
        if (!end) end = p + strlen(p);
        if (end > p) {
            const char *eq = memchr(p, '=', (size_t)(end - p));
            const char *kend = eq ? eq : end;
            if (n + 2 > cap) {
                cap = cap ? cap * 2 : 16;
                kv = realloc(kv, cap * sizeof *kv);
                if (!kv) abort();
            }
            kv[n++] = pct_decode(p, (size_t)(kend - p), true);
            kv[n++] = eq ? pct_decode(eq + 1, (size_t)(end - eq - 1), true) : xstrdup("");
        }
        p = *end ? end + 1 : end;
    }
    PUT(b, ",\"queryStringParameters\":{");
    for (size_t i = 0; i < n; i += 2) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j += 2) seen = strcmp(kv[j], kv[i]) == 0;
        if (seen) continue;
        if (i) PUT(b, ",");
        buf_reset(scratch);
        append_safe(scratch, kv[i], strlen(kv[i]));
        put_json(b, scratch->data ? scratch->data : "", scratch->len);
        PUT(b, ":");
        buf_reset(scratch);
        for (size_t j = i; j < n; j += 2) {
            if (strcmp(kv[j], kv[i]) != 0) continue;
            if (j != i) PUT(scratch, ",");
            append_safe(scratch, kv[j + 1], strlen(kv[j + 1]));
        }
        put_json(b, scratch->data ? scratch->data : "", scratch->len);
    }
    PUT(b, "}");
    for (size_t i = 0; i < n; i++) free(kv[i]);
    free(kv);
}

/* "12/Mar/2020:19:03:58 +0000", in English whatever the locale. */
static void clf_time(int64_t ms, char out[32])
{
    static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 32, "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday, mon[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *url_event_build(const url_request_t *r, size_t *len, err_t *err)
{
    (void)err;   /* memory runs out by abort, as everywhere */
    const http_request_t *req = r->req;
    const char *raw_path = r->raw_path && *r->raw_path ? r->raw_path : "/";
    const char *raw_query = r->raw_query ? r->raw_query : "";
    buf_t b = { 0 }, sc = { 0 };
    /* One allocation for a usual request: the head's size, the body's
     * (base64 at worst), the event's own members. */
    size_t head = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        head += strlen(req->headers[i].name) + (req->headers[i].value ? strlen(req->headers[i].value) : 0) + 8;
    buf_reserve(&b, 768 + head + 2 * strlen(raw_path) + 3 * strlen(raw_query) + req->body_len / 3 * 4 + 8);
    buf_reserve(&sc, 256);
    PUT(&b, "{\"version\":\"2.0\",\"routeKey\":\"$default\"");
    put_member(&b, &sc, "rawPath", raw_path, true);
    put_member(&b, &sc, "rawQueryString", raw_query, true);
    const char *content_type = NULL, *user_agent = "";
    size_t ncookies = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name, *v = req->headers[i].value ? req->headers[i].value : "";
        if (strcasecmp(name, "cookie") == 0) {
            if (!ncookies) PUT(&b, ",\"cookies\":");
            size_t before = ncookies;
            ncookies = put_cookies(&b, &sc, v, ncookies);
            /* A Cookie header with no cookie in it: nothing was opened. */
            if (!before && !ncookies) b.len -= sizeof ",\"cookies\":" - 1;
        } else {
            if (!content_type && strcasecmp(name, "content-type") == 0) content_type = v;
            if (!*user_agent && strcasecmp(name, "user-agent") == 0) user_agent = v;
        }
    }
    if (ncookies) PUT(&b, "]");
    PUT(&b, ",");
    put_headers(&b, &sc, req);
    if (*raw_query) put_query(&b, &sc, raw_query);

    PUT(&b, ",\"requestContext\":{");
    put_member(&b, &sc, "accountId", r->account ? r->account : "", false);
    put_member(&b, &sc, "apiId", r->url_id ? r->url_id : "", true);
    put_member(&b, &sc, "domainName", r->domain ? r->domain : "", true);
    put_member(&b, &sc, "domainPrefix", r->url_id ? r->url_id : "", true);
    PUT(&b, ",\"http\":{");
    put_member(&b, &sc, "method", req->method ? req->method : "", false);
    char *path = pct_decode(raw_path, strlen(raw_path), false);
    put_member(&b, &sc, "path", path, true);
    free(path);
    put_member(&b, &sc, "protocol", "HTTP/1.1", true);
    put_member(&b, &sc, "sourceIp", r->source_ip ? r->source_ip : "", true);
    put_member(&b, &sc, "userAgent", user_agent, true);
    PUT(&b, "}");
    put_member(&b, &sc, "requestId", r->request_id ? r->request_id : "", true);
    buf_appendf(&b, ",\"routeKey\":\"$default\",\"stage\":\"$default\"");
    char when[32];
    clf_time(r->time_ms, when);
    put_member(&b, &sc, "time", when, true);
    buf_appendf(&b, ",\"timeEpoch\":%lld}", (long long)r->time_ms);

    bool b64 = false;
    if (req->body_len > 0) {
        PUT(&b, ",\"body\":");
        if (is_text_type(content_type) && is_utf8_text((const unsigned char *)req->body, req->body_len)) {
            put_json(&b, req->body, req->body_len);
        } else {
            size_t n;
            char *enc = util_base64_encode(req->body, req->body_len, &n);
            put_json(&b, enc, n);
            free(enc);
            b64 = true;
        }
    }
    buf_appendf(&b, ",\"isBase64Encoded\":%s}", b64 ? "true" : "false");
    buf_free(&sc);
    return buf_steal(&b, len);
}

/* ---- result → HTTP answer ------------------------------------------------ */

/* The JSON document that is all of text[0..len) (whitespace around it
 * allowed), or NULL. */
static cJSON *parse_exact(const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *doc = len ? cJSON_ParseWithLengthOpts(text, len, &end, 0) : NULL;
    if (!doc) return NULL;
    for (; end < text + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            cJSON_Delete(doc);
            return NULL;
        }
    }
    return doc;
}

void url_response_add_header(url_response_t *r, const char *name, const char *value)
{
    http_header_t *h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));
    if (!h) abort();
    r->headers = h;
    h[r->nheaders].name = xstrdup(name);
    h[r->nheaders].value = xstrdup(value);
    r->nheaders++;
}

void url_response_free(url_response_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nheaders; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static void set_body(url_response_t *r, const char *data, size_t n)
{
    free(r->body);
    r->body = malloc(n + 1);
    if (!r->body) abort();
    if (n) memcpy(r->body, data, n);
    r->body[n] = '\0';
    r->body_len = n;
}

static bool is_token(const char *s)
{
    if (!*s) return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 32 || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c)) return false;
    }
    return true;
}

static bool is_field_value(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n') return false;
    return true;
}

/* Headers a function may not set: the server frames the answer itself. */
static bool is_framing(const char *name)
{
    return strcasecmp(name, "content-length") == 0 || strcasecmp(name, "transfer-encoding") == 0 ||
           strcasecmp(name, "connection") == 0;
}

/* headers {name: string|number|bool} and cookies [string] of a result or a
 * prelude into `out`. */
static int take_head(const cJSON *doc, url_response_t *out, err_t *err)
{
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(doc, "headers");
    if (hs && !cJSON_IsNull(hs)) {
        if (!cJSON_IsObject(hs)) return err_set(err, ERR_INVALID, "headers is not an object");
        const cJSON *h;
        cJSON_ArrayForEach(h, hs) {
            char num[64];
            const char *v;
            if (cJSON_IsString(h)) v = h->valuestring;
            else if (cJSON_IsBool(h)) v = cJSON_IsTrue(h) ? "true" : "false";
            else if (cJSON_IsNumber(h)) {
                double d = h->valuedouble;
                if (d == (double)(long long)d) snprintf(num, sizeof(num), "%lld", (long long)d);
                else snprintf(num, sizeof(num), "%.17g", d);
                v = num;
            } else if (cJSON_IsNull(h)) continue;
            else return err_set(err, ERR_INVALID, "header %.100s is not a string", h->string);
            if (!is_token(h->string)) return err_set(err, ERR_INVALID, "bad header name %.100s", h->string);
            if (!is_field_value(v)) return err_set(err, ERR_INVALID, "bad value of header %.100s", h->string);
            if (is_framing(h->string)) continue;
            url_response_add_header(out, h->string, v);
        }
    }
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(doc, "cookies");
    if (cs && !cJSON_IsNull(cs)) {
        if (!cJSON_IsArray(cs)) return err_set(err, ERR_INVALID, "cookies is not a list");
        const cJSON *c;
        cJSON_ArrayForEach(c, cs) {
            if (!cJSON_IsString(c)) return err_set(err, ERR_INVALID, "a cookie is not a string");
            if (!is_field_value(c->valuestring)) return err_set(err, ERR_INVALID, "bad cookie");
            url_response_add_header(out, "set-cookie", c->valuestring);
        }
    }
    return 0;
}

static int take_status(const cJSON *sc, url_response_t *out, err_t *err)
{
    /* The range first: casting an out-of-range double to int is undefined. */
    if (!cJSON_IsNumber(sc) || !(sc->valuedouble >= 100 && sc->valuedouble <= 599) ||
        sc->valuedouble != (double)(int)sc->valuedouble)
        return err_set(err, ERR_INVALID, "statusCode is not an HTTP status");
    out->status = (int)sc->valuedouble;
    return 0;
}

int url_response_from_result(const char *result, size_t len, url_response_t *out, err_t *err)
{
    memset(out, 0, sizeof(*out));
    cJSON *doc = parse_exact(result, len);
    if (!doc) return err_set(err, ERR_INVALID, "the function's result is not JSON");
    const cJSON *sc = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "statusCode") : NULL;
    if (!sc) {
        /* Lambda's inference: any JSON without a statusCode is the body. */
        out->status = 200;
        url_response_add_header(out, "content-type", "application/json");
        set_body(out, result, len);
        cJSON_Delete(doc);
        return 0;
    }
    if (take_status(sc, out, err) < 0 || take_head(doc, out, err) < 0) goto bad;
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(doc, "body");
    const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(doc, "isBase64Encoded");
    if (cJSON_IsString(body)) {
        if (cJSON_IsTrue(b64)) {
            size_t n;
            char *raw = util_base64_decode(body->valuestring, strlen(body->valuestring), &n, err);
            if (!raw) {
                err_wrap(err, "body is not base64");
                goto bad;
            }
            free(out->body);
            out->body = raw;
            out->body_len = n;
        } else {
            set_body(out, body->valuestring, strlen(body->valuestring));
        }
    } else if (body && !cJSON_IsNull(body)) {
        char *text = cJSON_PrintUnformatted(body);
        if (!text) abort();
        set_body(out, text, strlen(text));
        free(text);
    }
    cJSON_Delete(doc);
    return 0;
bad:
    cJSON_Delete(doc);
    url_response_free(out);
    return -1;
}

void url_response_error(url_error_t e, url_response_t *out)
{
    static const struct { int status; const char *body; } answers[] = {
        [URL_ERR_FUNCTION] = {502, "Internal Server Error"},
        [URL_ERR_THROTTLED] = {429, "{\"Message\":\"Rate Exceeded.\"}"},
        [URL_ERR_TIMEOUT] = {502, "Internal Server Error"},
        [URL_ERR_BAD_RESPONSE] = {502, "Internal Server Error"},
        [URL_ERR_TOO_LARGE] = {413, "{\"Message\":\"Request must be smaller than 6291456 bytes for the "
                                    "InvokeFunction operation\"}"},
        [URL_ERR_NOT_FOUND] = {404, "{\"Message\":\"Not Found\"}"},
        [URL_ERR_FORBIDDEN] = {403, "{\"Message\":\"Forbidden\"}"},
    };
    memset(out, 0, sizeof(*out));
    if ((unsigned)e >= sizeof(answers) / sizeof(answers[0])) e = URL_ERR_FUNCTION;
    out->status = answers[e].status;
    url_response_add_header(out, "content-type", "application/json");
    set_body(out, answers[e].body, strlen(answers[e].body));
}

/* ---- RESPONSE_STREAM prelude ----------------------------------------------- */

struct url_prelude {
    buf_t buf;        /* the prelude's bytes so far */
};

url_prelude_t *url_prelude_new(void)
{
    url_prelude_t *p = calloc(1, sizeof(*p));
    if (!p) abort();
    return p;
}

void url_prelude_free(url_prelude_t *p)
{
    if (!p) return;
    buf_free(&p->buf);
    free(p);
}

int url_prelude_feed(url_prelude_t *p, const char *data, size_t len, size_t *used,
                     url_response_t *out, err_t *err)
{
    size_t before = p->buf.len;
    *used = len;
    /* The JSON text holds no NUL byte, so its first NUL starts the
     * 8-byte separator. */
    buf_append(&p->buf, data, len);
    const char *all = p->buf.data ? p->buf.data : "";
    const char *nul = memchr(all, '\0', p->buf.len);
    if (!nul) {
        if (p->buf.len > URL_PRELUDE_MAX)
            return err_set(err, ERR_TOO_LARGE, "the response prelude is over %d bytes", URL_PRELUDE_MAX);
        return 0;
    }
    size_t json_len = (size_t)(nul - all), have = p->buf.len - json_len;
    for (size_t i = 0; i < have && i < 8; i++)
        if (nul[i] != '\0') return err_set(err, ERR_INVALID, "the response prelude's separator is not 8 NUL bytes");
    if (have < 8) return 0;
    size_t total = json_len + 8;
    *used = total - before;
    memset(out, 0, sizeof(*out));
    cJSON *doc = parse_exact(all, json_len);
    if (!doc || !cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return err_set(err, ERR_INVALID, "the response prelude is not a JSON object");
    }
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(doc, "statusCode");
    out->status = 200;
    if ((sc && take_status(sc, out, err) < 0) || take_head(doc, out, err) < 0) {
        cJSON_Delete(doc);
        url_response_free(out);
        return -1;
    }
    cJSON_Delete(doc);
    return 1;
}
