/* route.c — matching request paths against a route table.
 *
 * Owns the pattern syntax and the percent-decoding of captured segments.
 * Must never: allocate on the match path (every request goes through it,
 * the warm invoke included), call a route's handler, or accept a capture
 * whose decoded value could be mistaken for more than one segment.
 */
#include "io/route.h"

#include <string.h>

/* The pattern's next segment: [s, *end). memchr, not a byte loop: every
 * request's path is matched this way, a segment at a time. */
static const char *seg_end(const char *s, const char *limit)
{
    const char *e = memchr(s, '/', (size_t)(limit - s));
    return e ? e : limit;
}

typedef struct {
    const char *name;
    size_t name_len;
    bool rest;          /* {x*} */
    const char *raw;
    size_t raw_len;
} capture_t;

/* A capture segment "{name}" or "{name*}": its name, or false when the
 * segment is a literal. */
static bool is_capture(const char *s, const char *e, const char **name, size_t *len, bool *rest)
{
    if (e - s < 3 || s[0] != '{' || e[-1] != '}') return false;
    *rest = e[-2] == '*';
    *name = s + 1;
    *len = (size_t)(e - s) - 2 - (*rest ? 1 : 0);
    return true;
}

/* Does `path` [p, pend) have the shape of `pattern`? Captures go to `caps`
 * (raw); *ncaps counts them. */
static bool shape_match(const route_t *r, const char *p, const char *pend, capture_t *caps,
                        size_t *ncaps)
{
    const char *q = r->pattern;
    const char *qend = q + strlen(q);
    size_t n = 0;
    if (q == qend || *q != '/' || p == pend || *p != '/') return false;
    for (;;) {
        /* Both at a '/'. */
        q++;
        p++;
        const char *qe = seg_end(q, qend), *pe = seg_end(p, pend);
        const char *name;
        size_t nlen;
        bool rest;
        if (is_capture(q, qe, &name, &nlen, &rest)) {
            if (n == ROUTE_MAX_PARAMS) return false;
            if (rest) {
                if (qe != qend) return false;
                caps[n++] = (capture_t){ name, nlen, true, p, (size_t)(pend - p) };
                *ncaps = n;
                return true;
            }
            if (pe == p) return false;
            caps[n++] = (capture_t){ name, nlen, false, p, (size_t)(pe - p) };
        } else if ((size_t)(qe - q) != (size_t)(pe - p) || memcmp(q, p, (size_t)(qe - q)) != 0) {
            return false;
        }
        q = qe;
        p = pe;
        if (q == qend) {
            bool slash_ok = (r->flags & ROUTE_TRAILING_SLASH) && pend - p == 1;
            if (p != pend && !slash_ok) return false;
            *ncaps = n;
            return true;
        }
        if (p == pend) return false;
    }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode raw [s, s+n) into out (room bytes, NUL included). */
static route_param_error_t decode(const char *s, size_t n, bool rest, char *out, size_t room,
                                  size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!rest && c == '%') {
            if (n - i < 3) return ROUTE_PARAM_MALFORMED;
            int h = hex_digit(s[i + 1]), l = hex_digit(s[i + 2]);
            if (h < 0 || l < 0) return ROUTE_PARAM_MALFORMED;
            c = (char)(h << 4 | l);
            if (c == '\0') return ROUTE_PARAM_NUL;
            if (c == '/') return ROUTE_PARAM_SLASH;
            i += 2;
        }
        if (o + 1 >= room) return ROUTE_PARAM_TOO_LONG;
        out[o++] = c;
    }
    if (o >= room) return ROUTE_PARAM_TOO_LONG;
    out[o] = '\0';
    *len = o;
    return ROUTE_PARAM_OK;
}

static bool method_ok(const route_t *r, const char *method)
{
    return r->method && (strcmp(r->method, "*") == 0 || strcmp(r->method, method) == 0);
}

/* Add a method to the Allow list unless it is there already. */
static void allow_add(char *allow, const char *method)
{
    size_t ml = strlen(method), al = strlen(allow);
    for (const char *a = allow; *a;) {
        const char *e = strchr(a, ',');
        size_t l = e ? (size_t)(e - a) : strlen(a);
        if (l == ml && memcmp(a, method, ml) == 0) return;
        a = e ? e + 2 : a + l;
    }
    size_t need = (al ? 2 : 0) + ml;
    if (al + need + 1 > ROUTE_ALLOW_BYTES) return;   /* never cut a method in half */
    if (al) memcpy(allow + al, ", ", 2), al += 2;
    memcpy(allow + al, method, ml + 1);
}

route_status_t route_match(const route_table_t *t, const char *method, const char *path,
                           route_match_t *m, route_params_t *params)
{
    memset(m, 0, sizeof *m);
    m->status = ROUTE_NOT_FOUND;
    if (!path || !method) return m->status;
    const char *pend = strchr(path, '?');
    if (!pend) pend = path + strlen(path);

    /* The first row whose pattern fits the path owns it; only rows with
     * that same pattern are then asked about the method. */
    const route_t *owner = NULL;
    capture_t caps[ROUTE_MAX_PARAMS];
    size_t ncaps = 0;
    for (size_t i = 0; i < t->nroutes; i++) {
        const route_t *r = &t->routes[i];
        if (!r->pattern) continue;
        if (!owner) {
            if (!shape_match(r, path, pend, caps, &ncaps)) continue;
            owner = r;
        } else if (r->pattern != owner->pattern && strcmp(r->pattern, owner->pattern) != 0) {
            continue;
        }
        if (!method_ok(r, method)) {
            if (r->method) allow_add(m->allow, r->method);
            continue;
        }
        m->route = r;
        m->allow[0] = '\0';
        route_params_t scratch;
        route_params_t *pp = params ? params : &scratch;
        pp->n = 0;
        size_t used = 0;
        for (size_t k = 0; k < ncaps; k++) {
            size_t len = 0;
            route_param_error_t why = decode(caps[k].raw, caps[k].raw_len, caps[k].rest,
                                             pp->buf + used, sizeof pp->buf - used, &len);
            if (why != ROUTE_PARAM_OK) {
                m->status = ROUTE_BAD_PARAM;
                m->bad.why = why;
                m->bad.name = caps[k].name;
                m->bad.name_len = caps[k].name_len;
                m->bad.raw = caps[k].raw;
                m->bad.raw_len = caps[k].raw_len;
                pp->n = 0;
                return m->status;
            }
            pp->v[k] = (route_param_t){ caps[k].name, caps[k].name_len, pp->buf + used, len,
                                        caps[k].raw, caps[k].raw_len };
            used += len + 1;
        }
        pp->n = ncaps;
        m->status = ROUTE_MATCHED;
        return m->status;
    }
    if (owner) {
        m->route = owner;
        m->status = ROUTE_METHOD_NOT_ALLOWED;
    }
    return m->status;
}

size_t route_body_limit(const route_table_t *t, const char *method, const char *path)
{
    route_match_t m;
    route_params_t p;   /* a bad capture still picks its row's limit */
    route_status_t st = route_match(t, method, path, &m, &p);
    if ((st == ROUTE_MATCHED || st == ROUTE_BAD_PARAM) && m.route->body_limit)
        return m.route->body_limit;
    return t->default_body_limit;
}

size_t route_http_body_limit(const http_request_t *req, void *table)
{
    return route_body_limit(table, req->method, req->path);
}

const char *route_param(const route_params_t *p, const char *name)
{
    if (!p || !name) return NULL;
    size_t nl = strlen(name);
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].name_len == nl && memcmp(p->v[i].name, name, nl) == 0) return p->v[i].value;
    return NULL;
}

int route_table_check(const route_table_t *t, err_t *err)
{
    for (size_t i = 0; i < t->nroutes; i++) {
        const route_t *r = &t->routes[i];
        const char *q = r->pattern;
        if (!r->method || !r->method[0])
            return err_set(err, ERR_INVALID, "route %zu (%s): no method", i, q ? q : "(null)");
        if (!q || q[0] != '/')
            return err_set(err, ERR_INVALID, "route %zu (%s): pattern must start with '/'", i,
                           q ? q : "(null)");
        const char *qend = q + strlen(q);
        const char *names[ROUTE_MAX_PARAMS];
        size_t lens[ROUTE_MAX_PARAMS], n = 0;
        while (q < qend) {
            q++;
            const char *e = seg_end(q, qend);
            const char *name;
            size_t nl;
            bool rest;
            bool cap = is_capture(q, e, &name, &nl, &rest);
            if (!cap && (memchr(q, '{', (size_t)(e - q)) || memchr(q, '}', (size_t)(e - q))))
                return err_set(err, ERR_INVALID, "route %zu (%s): stray brace", i, r->pattern);
            if (cap) {
                if (nl == 0 || memchr(name, '{', nl) || memchr(name, '}', nl) || memchr(name, '*', nl))
                    return err_set(err, ERR_INVALID, "route %zu (%s): bad capture name", i,
                                   r->pattern);
                if (rest && e != qend)
                    return err_set(err, ERR_INVALID, "route %zu (%s): {x*} must be last", i,
                                   r->pattern);
                if (n == ROUTE_MAX_PARAMS)
                    return err_set(err, ERR_INVALID, "route %zu (%s): more than %d captures", i,
                                   r->pattern, ROUTE_MAX_PARAMS);
                for (size_t k = 0; k < n; k++)
                    if (lens[k] == nl && memcmp(names[k], name, nl) == 0)
                        return err_set(err, ERR_INVALID, "route %zu (%s): capture named twice", i,
                                       r->pattern);
                names[n] = name;
                lens[n++] = nl;
            }
            q = e;
        }
    }
    return 0;
}
