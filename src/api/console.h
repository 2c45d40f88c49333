/* console.h — the web console's files, served by the daemon at /console.
 *
 * The console (console/ at the top of the repo: a page, its script and its
 * style sheet) is compiled into the binary at build time
 * (scripts/embed_console.py makes the table below), so a daemon serves it
 * with nothing on disk and nothing fetched. It is a client of the public
 * API like the CLI: this module only hands out its files, it answers no
 * API call. docs/console.md says what the pages do.
 */
#ifndef NIMBUS_CONSOLE_H
#define NIMBUS_CONSOLE_H

#include <stddef.h>

#include "io/http.h"

typedef struct {
    const char *name;           /* "app.js": a file of console/, no folder */
    const char *content_type;   /* from its extension, charset included */
    const char *etag;           /* "\"<32 hex of its SHA-256>\"", strong */
    const unsigned char *data;
    size_t len;
} console_asset_t;

/* The generated table (sorted by name) and its length. */
extern const console_asset_t console_assets[];
extern const size_t console_nassets;

/* The asset called `name` ("" or NULL: index.html), or NULL. */
const console_asset_t *console_find(const char *name);

/* Answer GET /console[/NAME]: the file with its Content-Type, ETag,
 * Cache-Control (revalidate every time: the names carry no version) and a
 * Content-Security-Policy that allows only the console's own script, style
 * and API calls (no inline script, no other origin); 304 when the
 * request's If-None-Match has the ETag; 404 for a name it does not have. */
void console_serve(http_exchange_t *ex, const http_request_t *req, const char *name);

#endif
