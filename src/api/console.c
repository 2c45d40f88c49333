/* console.c — serves the embedded console files (console.h).
 *
 * Owns the headers that make the console safe to open: a strict
 * Content-Security-Policy (script, style and fetches from this origin only,
 * no inline script, not framed), nosniff, no referrer. Must never serve a
 * file that is not in the embedded table (no path ever reaches the file
 * system) nor answer an API request.
 */
#define _GNU_SOURCE
#include "api/console.h"

#include <string.h>

#include "api/api.h"

/* 'self' alone for scripts and styles: the page has no inline script or
 * style attribute, so an injected one (a function's log line, a payload
 * shown back) can never run. img-src data: is for nothing but the
 * browser's own favicon probe being quiet. */
#define CONSOLE_CSP "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " \
                    "img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

const console_asset_t *console_find(const char *name)
{
    if (!name || !*name) name = "index.html";
    for (size_t i = 0; i < console_nassets; i++)
        if (strcmp(console_assets[i].name, name) == 0) return &console_assets[i];
    return NULL;
}

/* Does If-None-Match (a list, or "*") name this ETag? Weak tags compare
 * by their opaque part, as RFC 9110 says for If-None-Match. */
static int etag_matches(const char *inm, const char *etag)
{
    size_t n = strlen(etag);
    for (const char *p = inm; *p;) {
        p += strspn(p, " \t,");
        if (*p == '*') return 1;
        if (strncmp(p, "W/", 2) == 0) p += 2;
        if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
            return 1;
        p += strcspn(p, ",");
    }
    return 0;
}

void console_serve(http_exchange_t *ex, const http_request_t *req, const char *name)
{
    const console_asset_t *a = console_find(name);
    if (!a) {
        api_respond_error(ex, 404, "ResourceNotFoundException", "No console file: %.200s", name);
        return;
    }
    const http_header_t h[] = {
        { "Content-Type", a->content_type },
        { "ETag", a->etag },
        { "Cache-Control", "no-cache" },
        { "Content-Security-Policy", CONSOLE_CSP },
        { "X-Content-Type-Options", "nosniff" },
        { "Referrer-Policy", "no-referrer" },
        { "X-Frame-Options", "DENY" },
    };
    size_t nh = sizeof h / sizeof h[0];
    const char *inm = http_request_header(req, "If-None-Match");
    if (inm && etag_matches(inm, a->etag)) {
        http_respond(ex, 304, h + 1, nh - 1, NULL, 0);
        return;
    }
    http_respond(ex, 200, h, nh, (const char *)a->data, a->len);
}
