/* session.h — the console's logins: `POST /nimbus/v1/session` with an
 * access key and its secret gives a signed, expiring cookie and a CSRF
 * token; a request with that cookie and the token in X-Nimbus-Csrf is the
 * key's (docs/security.md, "Console sessions").
 *
 * Sessions live in memory (a restart logs everyone out: the signing key
 * is made anew at each start). Must never: accept a cookie without its
 * CSRF header, or tell an unknown key from a wrong secret.
 */
#ifndef NIMBUS_API_SESSION_H
#define NIMBUS_API_SESSION_H

#include <stdint.h>

#include "api/auth.h"
#include "io/http.h"
#include "io/route.h"

#define SESSION_COOKIE "nimbus_session"
#define SESSION_CSRF_HEADER "X-Nimbus-Csrf"
#define SESSION_LIFETIME_S (12 * 3600)

struct session_table *session_table_new(void);
void session_table_free(struct session_table *s);

/* The key of a request that carries the session cookie: NULL after
 * answering 403 (no such session, expired, logged out, or the CSRF header
 * missing or wrong). */
const auth_key_t *session_authenticate(auth_table_t *t, http_exchange_t *ex, const http_request_t *req, int64_t now_s);

/* GET (who am I), POST (log in), DELETE (log out) /nimbus/v1/session;
 * ctx = api_t *. */
void session_route(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p);

#endif
