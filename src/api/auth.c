/* auth.c — the credentials file and the API's edge check: SigV4 (header or
 * presigned), the console's session cookie, the key's role.
 *
 * Owns AWS's authentication answers (MissingAuthenticationTokenException,
 * UnrecognizedClientException, InvalidSignatureException with AWS's
 * messages, IncompleteSignatureException, AccessDeniedException). Must
 * never: put a secret in a message or a log line, or let a request whose
 * body was not the one signed reach a handler.
 */
#define _GNU_SOURCE
#include "api/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "api/session.h"
#include "base/sigv4.h"
#include "base/util.h"

#define SKEW_S (15 * 60)         /* AWS's clock skew window */
#define SERVICE "lambda"

const char AUTH_MSG_BAD_SIGNATURE[] =
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details.";
static const char MSG_BAD_TOKEN[] = "The security token included in the request is invalid.";

/* ---- the credentials file ---- */

void auth_table_free(auth_table_t *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nkeys; i++) {
        free(t->keys[i].id);
        if (t->keys[i].secret) OPENSSL_cleanse(t->keys[i].secret, strlen(t->keys[i].secret));
        free(t->keys[i].secret);
        OPENSSL_cleanse(t->keys[i].cache_key, sizeof t->keys[i].cache_key);
    }
    free(t->keys);
    free(t->accounts);
    session_table_free(t->sessions);
    free(t);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const auth_key_t *)a)->id, ((const auth_key_t *)b)->id);
}

auth_key_t *auth_find_key(const auth_table_t *t, const char *id)
{
    if (!t->nkeys) return NULL;
    auth_key_t k = { .id = (char *)id };
    return bsearch(&k, t->keys, t->nkeys, sizeof k, key_cmp);
}

static auth_account_t *account_of(auth_table_t *t, const char *id, bool add)
{
    for (size_t i = 0; i < t->naccounts; i++)
        if (strcmp(t->accounts[i].id, id) == 0) return &t->accounts[i];
    if (!add) return NULL;
    auth_account_t *n = realloc(t->accounts, (t->naccounts + 1) * sizeof *n);
    if (!n) abort();
    t->accounts = n;
    auth_account_t *a = &n[t->naccounts++];
    memset(a, 0, sizeof *a);
    snprintf(a->id, sizeof a->id, "%s", id);
    return a;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

/* AWS's access key ids: 16 to 128 word characters. */
static bool key_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 16 || n > 128) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return false;
    return true;
}

static int finish_key(auth_table_t *t, const char *where, int line, err_t *err)
{
    if (!t->nkeys) return 0;
    auth_key_t *k = &t->keys[t->nkeys - 1];
    if (!k->secret || !k->account[0] || !k->role)
        return err_set(err, ERR_INVALID, "%s:%d: key %s needs secret_access_key, account_id and role", where, line,
                       k->id);
    account_of(t, k->account, true);
    return 0;
}

/* A setting of an [account ID] section. */
static int parse_account_setting(auth_account_t *a, const char *key, const char *val, const char *where, int line,
                                 err_t *err)
{
    if (strcmp(key, "concurrency") != 0)
        return err_set(err, ERR_INVALID, "%s:%d: unknown setting '%s' of an account (concurrency)", where, line, key);
    char *end;
    errno = 0;
    unsigned long v = strtoul(val, &end, 10);
    if (!*val || *end || errno || v < 1 || v > AUTH_MAX_CONCURRENCY || val[0] == '-' || val[0] == '+')
        return err_set(err, ERR_INVALID, "%s:%d: concurrency wants a whole number from 1 to %u, got '%s'", where, line,
                       AUTH_MAX_CONCURRENCY, val);
    a->concurrency = (unsigned)v;
    return 0;
}

/* An [account ID] section for an account no key names is a typo, most
 * likely, and would limit nothing: refused. So is one without a limit. */
static int check_accounts(const auth_table_t *t, const char *where, err_t *err)
{
    for (size_t i = 0; i < t->naccounts; i++) {
        const auth_account_t *a = &t->accounts[i];
        bool named = false;
        for (size_t k = 0; k < t->nkeys && !named; k++) named = strcmp(t->keys[k].account, a->id) == 0;
        if (!named) return err_set(err, ERR_INVALID, "%s: [account %s] names an account no key belongs to", where, a->id);
        if (a->section && !a->concurrency)
            return err_set(err, ERR_INVALID, "%s: [account %s] sets no concurrency", where, a->id);
    }
    return 0;
}

int auth_table_parse(const char *text, const char *where, auth_table_t **out, err_t *err)
{
    auth_table_t *t = calloc(1, sizeof *t);
    char *copy = strdup(text);
    if (!t || !copy) abort();
    int lineno = 0, section_line = 0, rc = 0;
    enum { NONE, KEY, ACCOUNT } in = NONE;
    auth_account_t *acct = NULL;   /* the [account ID] section being read */
    for (char *line = copy, *next; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';') continue;
        if (*s == '[') {
            size_t n = strlen(s);
            if (n < 3 || s[n - 1] != ']') { rc = err_set(err, ERR_INVALID, "%s:%d: a malformed section header", where, lineno); break; }
            if (in == KEY && finish_key(t, where, section_line, err) < 0) { rc = -1; break; }
            s[n - 1] = '\0';
            char *name = trim(s + 1);
            section_line = lineno;
            /* "[account 111122223333]": settings of an account, not a key
             * (a key id has no space, so the two never meet). */
            if (!strncmp(name, "account", 7) && (name[7] == ' ' || name[7] == '\t')) {
                char *id = trim(name + 8);
                if (!util_account_valid(id)) { rc = err_set(err, ERR_INVALID, "%s:%d: [account ID] wants 12 digits, got '%s'", where, lineno, id); break; }
                if (account_of(t, id, false) && account_of(t, id, false)->section) {
                    rc = err_set(err, ERR_INVALID, "%s:%d: account %s has a section twice", where, lineno, id);
                    break;
                }
                acct = account_of(t, id, true);
                acct->section = true;
                in = ACCOUNT;
                continue;
            }
            if (!key_id_valid(name)) { rc = err_set(err, ERR_INVALID, "%s:%d: '%s' is not an access key id (16 to 128 letters and digits)", where, lineno, name); break; }
            bool twice = false;   /* (not sorted yet: no bsearch) */
            for (size_t i = 0; i < t->nkeys; i++) twice = twice || strcmp(t->keys[i].id, name) == 0;
            if (twice) {
                rc = err_set(err, ERR_INVALID, "%s:%d: key %s appears twice", where, lineno, name);
                break;
            }
            auth_key_t *n2 = realloc(t->keys, (t->nkeys + 1) * sizeof *n2);
            if (!n2) abort();
            t->keys = n2;
            memset(&t->keys[t->nkeys], 0, sizeof t->keys[0]);
            t->keys[t->nkeys].id = strdup(name);
            if (!t->keys[t->nkeys].id) abort();
            t->nkeys++;
            in = KEY;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) { rc = err_set(err, ERR_INVALID, "%s:%d: expected key = value", where, lineno); break; }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        for (char *c = key; *c; c++) *c = (char)tolower((unsigned char)*c);
        if (in == NONE) { rc = err_set(err, ERR_INVALID, "%s:%d: '%s' before any [ACCESS_KEY_ID] section", where, lineno, key); break; }
        if (in == ACCOUNT) {
            if (parse_account_setting(acct, key, val, where, lineno, err) < 0) { rc = -1; break; }
            continue;
        }
        auth_key_t *k = &t->keys[t->nkeys - 1];
        if (!strcmp(key, "secret_access_key") || !strcmp(key, "aws_secret_access_key")) {
            if (strlen(val) < 16) { rc = err_set(err, ERR_INVALID, "%s:%d: a secret access key has at least 16 characters", where, lineno); break; }
            free(k->secret);
            if (!(k->secret = strdup(val))) abort();
        } else if (!strcmp(key, "account_id")) {
            if (!util_account_valid(val)) { rc = err_set(err, ERR_INVALID, "%s:%d: account_id wants 12 digits, got '%s'", where, lineno, val); break; }
            snprintf(k->account, sizeof k->account, "%s", val);
        } else if (!strcmp(key, "role")) {
            k->role = !strcmp(val, "admin") ? AUTH_ROLE_ADMIN : !strcmp(val, "deploy") ? AUTH_ROLE_DEPLOY
                      : !strcmp(val, "invoke") ? AUTH_ROLE_INVOKE : 0;
            if (!k->role) rc = err_set(err, ERR_INVALID, "%s:%d: role wants admin, deploy or invoke, got '%s'", where, lineno, val);
        } else {
            rc = err_set(err, ERR_INVALID, "%s:%d: unknown setting '%s' of a key (secret_access_key, account_id, role)",
                         where, lineno, key);
        }
    }
    if (rc == 0 && in == KEY) rc = finish_key(t, where, section_line, err);
    if (rc == 0 && !t->nkeys) rc = err_set(err, ERR_INVALID, "%s: no access key in the file", where);
    if (rc == 0) rc = check_accounts(t, where, err);
    OPENSSL_cleanse(copy, strlen(text));
    free(copy);
    if (rc < 0) { auth_table_free(t); return -1; }
    qsort(t->keys, t->nkeys, sizeof *t->keys, key_cmp);
    if (!(t->sessions = session_table_new())) abort();
    *out = t;
    return 0;
}

int auth_table_load(const char *path, auth_table_t **out, err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_sys(err, "credentials file %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0) { close(fd); return err_sys(err, "credentials file %s", path); }
    if (st.st_mode & 077) {
        close(fd);
        return err_set(err, ERR_INVALID, "credentials file %s is open to group or others (mode %04o): "
                       "chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
    }
    buf_t b = { 0 };
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) buf_append(&b, chunk, (size_t)n);
    int e = errno;
    close(fd);
    OPENSSL_cleanse(chunk, sizeof chunk);
    if (n < 0) { buf_free(&b); errno = e; return err_sys(err, "credentials file %s", path); }
    if (!b.data) buf_append(&b, "", 0);
    int rc = auth_table_parse(b.data, path, out, err);
    OPENSSL_cleanse(b.data, b.len);
    buf_free(&b);
    return rc;
}

auth_key_t *auth_check_secret(const auth_table_t *t, const char *id, const char *secret)
{
    auth_key_t *k = id ? auth_find_key(t, id) : NULL;
    /* Hashes make the lengths equal; a missing key is compared against a
     * fixed string so it takes the same time as a wrong secret. */
    uint8_t want[32], got[32];
    const char *ref = k && k->secret ? k->secret : "nimbus-no-such-key-compared-all-the-same";
    util_sha256(ref, strlen(ref), want);
    util_sha256(secret ? secret : "", secret ? strlen(secret) : 0, got);
    bool same = CRYPTO_memcmp(want, got, 32) == 0;
    return k && same ? k : NULL;
}

bool auth_owns(const auth_key_t *who, const function_config_t *cfg)
{
    if (!who) return true;
    const char *owner = cfg->owner[0] ? cfg->owner : util_account();
    return strcmp(owner, who->account) == 0;
}

/* ---- SigV4 ---- */

static void deny(http_exchange_t *ex, int status, const char *type, const char *msg)
{
    api_respond_error(ex, status, type, "%s", msg);
}

/* AWS's words for a date outside the window: 15 minutes either way for a
 * signed header, X-Amz-Expires after the date for a presigned URL. */
static bool date_in_window(http_exchange_t *ex, const char *amz, int64_t t, int64_t now, long expires)
{
    char a[17], b[17];
    sigv4_format_date(now, a);
    if (expires && now > t + expires) {
        sigv4_format_date(now - expires, b);
        api_respond_error(ex, 403, "InvalidSignatureException", "Signature expired: %s is now earlier than %s (%s - %ld sec.)",
                          amz, b, a, expires);
        return false;
    }
    if (!expires && now - t > SKEW_S) {
        sigv4_format_date(now - SKEW_S, b);
        api_respond_error(ex, 403, "InvalidSignatureException", "Signature expired: %s is now earlier than %s (%s - 15 min.)",
                          amz, b, a);
        return false;
    }
    if (t - now > SKEW_S) {
        sigv4_format_date(now + SKEW_S, b);
        api_respond_error(ex, 403, "InvalidSignatureException",
                          "Signature not yet current: %s is still later than %s (%s + 15 min.)", amz, b, a);
        return false;
    }
    return true;
}

static void body_hash(const http_request_t *req, char hex[65])
{
    if (req->body_len == 0) {
        memcpy(hex, SIGV4_EMPTY_SHA256, 65);
        return;
    }
    uint8_t h[32];
    util_sha256(req->body, req->body_len, h);
    util_hex(h, 32, hex);
}

static bool signed_host(const char *list)
{
    for (const char *s = list; *s;) {
        size_t n = strcspn(s, ";");
        if (n == 4 && strncmp(s, "host", 4) == 0) return true;
        s += n;
        if (*s) s++;
    }
    return false;
}

auth_key_t *auth_verify_sigv4(auth_table_t *t, http_exchange_t *ex, const http_request_t *req, int64_t now_s)
{
    sigv4_auth_t a;
    err_t err;
    const char *authz = http_request_header(req, "Authorization");
    if (sigv4_parse_query(req->query, &a, &err) < 0) {
        deny(ex, 400, "IncompleteSignatureException", err.msg);
        return NULL;
    }
    if (!a.presigned) {
        if (!authz) {
            deny(ex, 403, "MissingAuthenticationTokenException", "Missing Authentication Token");
            return NULL;
        }
        if (sigv4_parse_authorization(authz, &a, &err) < 0) {
            deny(ex, 400, "IncompleteSignatureException", err.msg);
            return NULL;
        }
    }
    /* Temporary credentials would need an STS to check them against:
     * refused as an unknown token. */
    if (http_request_header(req, "X-Amz-Security-Token") || (a.presigned && strstr(req->query, "X-Amz-Security-Token="))) {
        deny(ex, 403, "UnrecognizedClientException", MSG_BAD_TOKEN);
        return NULL;
    }
    auth_key_t *k = auth_find_key(t, a.access_key);
    if (!k) {
        deny(ex, 403, "UnrecognizedClientException", MSG_BAD_TOKEN);
        return NULL;
    }
    const char *amz = a.presigned ? a.amz_date : http_request_header(req, "X-Amz-Date");
    int64_t when;
    if (!amz) {
        deny(ex, 400, "IncompleteSignatureException",
             "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
        return NULL;
    }
    if (sigv4_parse_date(amz, &when) < 0) {
        api_respond_error(ex, 400, "IncompleteSignatureException", "Date must be in ISO-8601 'basic format'. Got '%s'.",
                          amz);
        return NULL;
    }
    if (strncmp(amz, a.date, 8) != 0) {
        api_respond_error(ex, 403, "InvalidSignatureException",
                          "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                          "'%s' != '%.8s', from '%s'.", a.date, amz, amz);
        return NULL;
    }
    if (strcmp(a.region, util_region()) != 0) {
        api_respond_error(ex, 403, "InvalidSignatureException", "Credential should be scoped to a valid region, not '%s'. ",
                          a.region);
        return NULL;
    }
    if (strcmp(a.service, SERVICE) != 0) {
        deny(ex, 403, "InvalidSignatureException", "Credential should be scoped to correct service: '" SERVICE "'. ");
        return NULL;
    }
    if (!signed_host(a.signed_headers)) {
        deny(ex, 400, "IncompleteSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
             "Authorization.");
        return NULL;
    }
    if (!date_in_window(ex, amz, when, now_s, a.presigned ? a.expires : 0)) return NULL;

    char actual[65];
    body_hash(req, actual);
    const char *claimed = http_request_header(req, "X-Amz-Content-Sha256");
    const char *payload = actual;
    if (claimed && strcmp(claimed, SIGV4_UNSIGNED_PAYLOAD) == 0) payload = SIGV4_UNSIGNED_PAYLOAD;
    else if (claimed && !sigv4_equal(claimed, actual)) {
        /* The body is not the one that was signed. */
        deny(ex, 403, "InvalidSignatureException", AUTH_MSG_BAD_SIGNATURE);
        return NULL;
    }

    sigv4_header_t stack[64], *hs = stack;
    if (req->nheaders > 64 && !(hs = malloc(req->nheaders * sizeof *hs))) abort();
    for (size_t i = 0; i < req->nheaders; i++) hs[i] = (sigv4_header_t){ req->headers[i].name, req->headers[i].value };
    sigv4_request_t r = { .method = req->method, .path = req->path, .query = req->query, .headers = hs,
                          .nheaders = req->nheaders, .signed_headers = a.signed_headers, .payload_hash = payload };
    buf_t creq = { 0 };
    bool ok = sigv4_canonical_request(&r, &creq, &err) == 0;
    if (ok) {
        /* One HMAC chain per key and day, then one HMAC per request. */
        if (strcmp(k->cache_date, a.date) != 0) {
            sigv4_signing_key(k->secret, a.date, a.region, SERVICE, k->cache_key);
            memcpy(k->cache_date, a.date, 9);
        }
        char scope[128], sig[65];
        sigv4_scope(a.date, a.region, SERVICE, scope);
        sigv4_signature(k->cache_key, amz, scope, creq.data, creq.len, sig, NULL);
        ok = sigv4_equal(sig, a.signature);
        if (!ok && a.presigned && !claimed) {
            /* A presigned URL may sign the payload as UNSIGNED-PAYLOAD. */
            r.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
            ok = sigv4_canonical_request(&r, &creq, &err) == 0;
            if (ok) sigv4_signature(k->cache_key, amz, scope, creq.data, creq.len, sig, NULL);
            ok = ok && sigv4_equal(sig, a.signature);
        }
    }
    buf_free(&creq);
    if (hs != stack) free(hs);
    if (!ok) {
        deny(ex, 403, "InvalidSignatureException", AUTH_MSG_BAD_SIGNATURE);
        return NULL;
    }
    return k;
}

/* ---- the edge ---- */

static bool prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static bool suffix(const char *s, const char *x)
{
    size_t n = strlen(s), m = strlen(x);
    return n >= m && strcmp(s + n - m, x) == 0;
}

/* What anyone may ask without a key: the health check, the console's
 * login and its static page, a function URL (its AuthType decides). */
static bool public_request(const http_request_t *req)
{
    const char *p = req->path;
    bool get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    if (!strcmp(p, "/nimbus/v1/health")) return get;
    if (!strcmp(p, "/nimbus/v1/session")) return true;   /* the session checks its own cookie */
    if (prefix(p, "/nimbus/url/")) return true;
    if (get && (!strcmp(p, "/") || !strcmp(p, "/console") || prefix(p, "/console/") || !strcmp(p, "/favicon.ico")))
        return true;
    return false;
}

static bool invoke_operation(const http_request_t *req)
{
    if (strcmp(req->method, "POST") != 0) return false;
    const char *p = req->path;
    return (prefix(p, "/2015-03-31/functions/") && suffix(p, "/invocations")) ||
           (prefix(p, "/2021-11-15/functions/") && suffix(p, "/response-streaming-invocations")) ||
           (prefix(p, "/2014-11-13/functions/") && (suffix(p, "/invoke-async") || suffix(p, "/invoke-async/")));
}

static bool admin_operation(const http_request_t *req)
{
    const char *p = req->path;
    return prefix(p, "/nimbus/v1/execs/") || (prefix(p, "/nimbus/v1/functions/") && suffix(p, "/exec"));
}

bool auth_request(struct api *d, http_exchange_t *ex, http_request_t *req, int64_t now_s)
{
    auth_table_t *t = d->auth;
    if (!t || public_request(req)) return true;
    const auth_key_t *k = NULL;
    const char *cookie = http_request_header(req, "Cookie");
    if (!http_request_header(req, "Authorization") && !strstr(req->query, "X-Amz-Signature=") && cookie &&
        strstr(cookie, SESSION_COOKIE "=")) {
        if (!(k = session_authenticate(t, ex, req, now_s))) return false;
    } else if (!(k = auth_verify_sigv4(t, ex, req, now_s))) {
        return false;
    }
    req->principal = k;
    if ((k->role == AUTH_ROLE_INVOKE && !invoke_operation(req)) ||
        (k->role == AUTH_ROLE_DEPLOY && admin_operation(req))) {
        api_respond_error(ex, 403, "AccessDeniedException",
                          "User: arn:aws:iam::%s:user/%s is not authorized to perform %s %s: the key's role is %s",
                          k->account, k->id, req->method, req->path,
                          k->role == AUTH_ROLE_INVOKE ? "invoke" : "deploy");
        return false;
    }
    return true;
}
