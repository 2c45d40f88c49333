/* auth.h — who may call the API: the credentials file (access keys, their
 * secrets, accounts and roles) and the check of every request at the API's
 * edge, before any handler runs (docs/security.md).
 *
 * A request is authenticated by a SigV4 signature (Authorization header or
 * presigned query string, service "lambda", this daemon's region) or by a
 * console session (api/session.h); its key becomes req->principal. Without
 * a credentials file there is no table and nothing is checked (the daemon
 * then listens on loopback only: daemon/daemon.c).
 *
 * Must never: log or answer with a secret, compare one other than in
 * constant time, or tell an unknown key from a wrong secret at login.
 */
#ifndef NIMBUS_API_AUTH_H
#define NIMBUS_API_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/function.h"
#include "io/http.h"

typedef enum {
    AUTH_ROLE_INVOKE = 1,        /* invocations only (Invoke, streaming, InvokeAsync, URLs) */
    AUTH_ROLE_DEPLOY = 2,        /* everything but `nimbus exec` into instances */
    AUTH_ROLE_ADMIN = 3,         /* everything */
} auth_role_t;

typedef struct auth_key {
    char *id;                    /* the access key id (the file's section name) */
    char *secret;                /* the secret access key: never logged */
    char account[13];            /* its account: 12 digits */
    auth_role_t role;
    char cache_date[9];          /* the day cache_key was made for ("" none) */
    uint8_t cache_key[32];       /* the signing key of (secret, cache_date, region, "lambda") */
} auth_key_t;

typedef struct {
    char id[13];                 /* an account some key belongs to */
    unsigned concurrency;        /* its limit of calls in flight, from its [account ID]
                                    section's `concurrency`; 0: --account-concurrency */
    bool section;                /* it has an [account ID] section */
} auth_account_t;

/* The largest `concurrency` an [account ID] section may give. */
#define AUTH_MAX_CONCURRENCY 1000000u

typedef struct auth_table {
    auth_key_t *keys;            /* sorted by id */
    size_t nkeys;
    auth_account_t *accounts;    /* every account a key names, once (an [account ID]
                                    section names one a key must name too) */
    size_t naccounts;
    struct session_table *sessions; /* the console's logins (api/session.c) */
} auth_table_t;

/* Read the credentials file: refused (one line) when it is readable or
 * writable by group or others, or malformed ("PATH:LINE: ..."). */
int auth_table_load(const char *path, auth_table_t **out, err_t *err);
/* The same from text (the unit tests' way in). */
int auth_table_parse(const char *text, const char *where, auth_table_t **out, err_t *err);
void auth_table_free(auth_table_t *t);
/* InvalidSignatureException's message, as AWS words it (also a failed
 * console login's, so a login tells nothing more than a signature). */
extern const char AUTH_MSG_BAD_SIGNATURE[];

/* A key by id, or NULL. */
auth_key_t *auth_find_key(const auth_table_t *t, const char *id);
/* The key whose secret is `secret`, in constant time whatever `id` is
 * (an unknown id costs the same as a wrong secret); NULL when either is
 * wrong. */
auth_key_t *auth_check_secret(const auth_table_t *t, const char *id, const char *secret);

/* The edge: true when `req` may go on to its handler (req->principal set,
 * or no credentials configured); false after answering it (403 with AWS's
 * error, or 400 for a malformed signature). `now_s` is the wall clock. */
struct api;
bool auth_request(struct api *a, http_exchange_t *ex, http_request_t *req, int64_t now_s);

/* A request that is already known to carry a SigV4 signature, checked
 * alone (function URLs with AuthType AWS_IAM): the key, or NULL after
 * answering. */
auth_key_t *auth_verify_sigv4(auth_table_t *t, http_exchange_t *ex, const http_request_t *req, int64_t now_s);

/* The principal of a request (NULL when no credentials are configured). */
static inline const auth_key_t *auth_principal(const http_request_t *req) { return req->principal; }

/* Whether `who` (NULL: no credentials, everyone is the daemon's account)
 * owns the function `cfg`. */
bool auth_owns(const auth_key_t *who, const function_config_t *cfg);

#endif
