/* session.c — the console's sessions: login with a key and its secret, a
 * cookie signed with a key made at start, a CSRF token per session, logout.
 *
 * Owns the cookie's format ("<nonce>.<expiry>.<hmac>") and the table of
 * live sessions (a logged-out one is gone from it, so its cookie no longer
 * works even before it expires). Must never: answer a wrong secret
 * differently from an unknown key, or set a cookie a script can read.
 */
#define _GNU_SOURCE
#include "api/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "api/api.h"
#include "base/sigv4.h"
#include "base/util.h"

#define MAX_SESSIONS 4096

typedef struct {
    char nonce[33];              /* hex; "" for a free slot */
    char csrf[33];
    const auth_key_t *key;
    int64_t expires;
} session_t;

struct session_table {
    uint8_t mac_key[32];         /* made at start: signs every cookie */
    session_t *v;
    size_t n;
};

static void random_hex(char out[33])
{
    uint8_t r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k <= 0) abort();   /* the kernel's randomness cannot fail here */
        got += (size_t)k;
    }
    util_hex(r, sizeof r, out);
}

struct session_table *session_table_new(void)
{
    struct session_table *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    char a[33], b[33];
    random_hex(a);
    random_hex(b);
    memcpy(s->mac_key, a, 16);
    memcpy(s->mac_key + 16, b, 16);
    return s;
}

void session_table_free(struct session_table *s)
{
    if (!s) return;
    OPENSSL_cleanse(s->mac_key, sizeof s->mac_key);
    free(s->v);
    free(s);
}

static void mac(const struct session_table *s, const char *nonce, int64_t expires, const char *key_id, char hex[65])
{
    char text[256];
    int n = snprintf(text, sizeof text, "%s.%lld.%s", nonce, (long long)expires, key_id);
    uint8_t h[32];
    unsigned len = 32;
    HMAC(EVP_sha256(), s->mac_key, 32, (const unsigned char *)text, (size_t)n, h, &len);
    util_hex(h, 32, hex);
}

/* The cookie's value in a Cookie header, copied into out; false if none. */
static bool cookie_value(const char *header, char *out, size_t cap)
{
    const size_t nl = strlen(SESSION_COOKIE);
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == ';') p++;
        if (strncmp(p, SESSION_COOKIE, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t n = strcspn(v, ";");
            while (n && v[n - 1] == ' ') n--;
            if (n >= cap) return false;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

/* The live session a cookie names, or NULL. */
static session_t *lookup(auth_table_t *t, const http_request_t *req, int64_t now)
{
    const char *h = http_request_header(req, "Cookie");
    char v[256];
    if (!h || !cookie_value(h, v, sizeof v)) return NULL;
    char *dot1 = strchr(v, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || dot1 - v != 32) return NULL;
    *dot1 = *dot2 = '\0';
    char *end;
    long long exp = strtoll(dot1 + 1, &end, 10);
    if (*end || exp < now) return NULL;
    struct session_table *s = t->sessions;
    for (size_t i = 0; i < s->n; i++) {
        session_t *e = &s->v[i];
        if (!e->nonce[0] || !sigv4_equal(e->nonce, v)) continue;
        char want[65];
        mac(s, e->nonce, e->expires, e->key->id, want);
        if (e->expires != exp || e->expires < now || !sigv4_equal(want, dot2 + 1)) return NULL;
        return e;
    }
    return NULL;
}

const auth_key_t *session_authenticate(auth_table_t *t, http_exchange_t *ex, const http_request_t *req, int64_t now_s)
{
    session_t *e = lookup(t, req, now_s);
    if (!e) {
        api_respond_error(ex, 403, "AccessDeniedException", "The session has ended or was never opened: log in again");
        return NULL;
    }
    const char *csrf = http_request_header(req, SESSION_CSRF_HEADER);
    if (!csrf || !sigv4_equal(csrf, e->csrf)) {
        api_respond_error(ex, 403, "AccessDeniedException",
                          "A request with the session cookie needs the session's " SESSION_CSRF_HEADER " header");
        return NULL;
    }
    return e->key;
}

static session_t *add(struct session_table *s, const auth_key_t *k, int64_t now)
{
    session_t *free_slot = NULL;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].nonce[0] && s->v[i].expires < now) s->v[i].nonce[0] = '\0';
        if (!s->v[i].nonce[0] && !free_slot) free_slot = &s->v[i];
    }
    if (!free_slot) {
        if (s->n == MAX_SESSIONS) {
            /* The oldest login makes room. */
            free_slot = &s->v[0];
            for (size_t i = 1; i < s->n; i++)
                if (s->v[i].expires < free_slot->expires) free_slot = &s->v[i];
        } else {
            session_t *nv = realloc(s->v, (s->n + 1) * sizeof *nv);
            if (!nv) abort();
            s->v = nv;
            free_slot = &s->v[s->n++];
        }
    }
    random_hex(free_slot->nonce);
    random_hex(free_slot->csrf);
    free_slot->key = k;
    free_slot->expires = now + SESSION_LIFETIME_S;
    return free_slot;
}

static void answer(http_exchange_t *ex, int status, cJSON *doc, const char *cookie)
{
    char rid[37];
    util_uuid4(rid);
    char *body = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    http_header_t h[4] = { { "Content-Type", "application/json" }, { "x-amzn-RequestId", rid },
                           { "Cache-Control", "no-store" } };
    size_t nh = 3;
    if (cookie) h[nh++] = (http_header_t){ "Set-Cookie", cookie };
    if (body) http_respond_owned(ex, status, h, nh, body, strlen(body));
    else http_respond(ex, status, h, nh, NULL, 0);
}

static cJSON *session_doc(const session_t *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "AccountId", e->key->account);
    cJSON_AddStringToObject(o, "AccessKeyId", e->key->id);
    cJSON_AddStringToObject(o, "Csrf", e->csrf);
    return o;
}

void session_route(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)p;
    api_t *d = ctx;
    auth_table_t *t = d->auth;
    int64_t now = (int64_t)time(NULL);
    bool get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST"), del = !strcmp(req->method, "DELETE");
    if (!get && !post && !del) {
        api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", req->method);
        return;
    }
    if (!t) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "AuthRequired", false);
        answer(ex, 200, o, NULL);
        return;
    }
    if (get) {
        session_t *e = lookup(t, req, now);
        if (!e) {
            api_respond_error(ex, 401, "UnauthorizedException", "Log in with an access key and its secret");
            return;
        }
        answer(ex, 200, session_doc(e), NULL);
        return;
    }
    if (del) {
        session_t *e = lookup(t, req, now);
        if (e) {
            OPENSSL_cleanse(e, sizeof *e);
            e->nonce[0] = '\0';
        }
        answer(ex, 204, NULL, d->cfg.public_tls ? SESSION_COOKIE "=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict; Secure"
                                               : SESSION_COOKIE "=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict");
        return;
    }
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "AccessKeyId");
    const cJSON *secret = cJSON_GetObjectItemCaseSensitive(body, "SecretAccessKey");
    if (!cJSON_IsString(id) || !cJSON_IsString(secret)) {
        cJSON_Delete(body);
        api_respond_error(ex, 400, "InvalidRequestContentException",
                          "The body must be {\"AccessKeyId\": \"...\", \"SecretAccessKey\": \"...\"}");
        return;
    }
    const auth_key_t *k = auth_check_secret(t, id->valuestring, secret->valuestring);
    OPENSSL_cleanse(secret->valuestring, strlen(secret->valuestring));
    cJSON_Delete(body);
    if (!k) {
        api_respond_error(ex, 403, "InvalidSignatureException", "%s", AUTH_MSG_BAD_SIGNATURE);
        return;
    }
    session_t *e = add(t->sessions, k, now);
    char m[65], cookie[400];
    mac(t->sessions, e->nonce, e->expires, k->id, m);
    /* Over TLS the cookie is never sent back in the clear. */
    snprintf(cookie, sizeof cookie, SESSION_COOKIE "=%s.%lld.%s; Max-Age=%d; Path=/; HttpOnly; SameSite=Strict%s",
             e->nonce, (long long)e->expires, m, SESSION_LIFETIME_S, d->cfg.public_tls ? "; Secure" : "");
    answer(ex, 200, session_doc(e), cookie);
}
