/* sigv4.c — AWS Signature Version 4: canonical request, string to sign,
 * signing key, signature; the parsing of Authorization headers and of
 * presigned query strings.
 *
 * Owns the byte-exact forms AWS's clients produce (the JS SDK's
 * @smithy/signature-v4 and botocore agree on them). Must never: compare
 * secrets or signatures with memcmp/strcmp, or allocate per header on the
 * warm path more than the canonical request's one buffer.
 */
#define _GNU_SOURCE
#include "base/sigv4.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Percent-encode every byte but the unreserved ones (and '/' if asked):
 * AWS's UriEncode, uppercase hex. */
static void uri_encode(buf_t *b, const char *s, size_t n, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    buf_reserve(b, n * 3);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            b->data[b->len++] = (char)c;
        } else {
            b->data[b->len++] = '%';
            b->data[b->len++] = hex[c >> 4];
            b->data[b->len++] = hex[c & 15];
        }
    }
    b->data[b->len] = '\0';
}

/* The canonical URI: dot and empty segments removed (RFC 3986 5.2.4, and
 * consecutive slashes as one), then the raw path encoded once more. */
static void canonical_uri(buf_t *b, const char *path)
{
    if (!path || !*path) {
        buf_append(b, "/", 1);
        return;
    }
    size_t n = strlen(path);
    /* Segment starts and lengths kept on a small stack of offsets. */
    size_t cap = 16, nseg = 0;
    size_t stack_off[16], stack_len[16];
    size_t *off = stack_off, *len = stack_len;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && path[j] != '/') j++;
        size_t l = j - i;
        if (l == 0 || (l == 1 && path[i] == '.')) {
            /* skipped */
        } else if (l == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (nseg) nseg--;
        } else {
            if (nseg == cap) {
                size_t *no = malloc(cap * 2 * sizeof *no), *nl = malloc(cap * 2 * sizeof *nl);
                if (!no || !nl) abort();
                memcpy(no, off, cap * sizeof *no);
                memcpy(nl, len, cap * sizeof *nl);
                if (off != stack_off) { free(off); free(len); }
                off = no, len = nl, cap *= 2;
            }
            off[nseg] = i, len[nseg] = l, nseg++;
        }
        i = j + 1;
    }
    if (path[0] == '/') buf_append(b, "/", 1);
    for (size_t k = 0; k < nseg; k++) {
        if (k) buf_append(b, "/", 1);
        uri_encode(b, path + off[k], len[k], false);
    }
    if (nseg && path[n - 1] == '/') buf_append(b, "/", 1);
    if (off != stack_off) { free(off); free(len); }
}

typedef struct {
    char *key, *value;           /* encoded the canonical way */
} qpair_t;

static int qpair_cmp(const void *a, const void *b)
{
    const qpair_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

/* Percent-decode in place semantics into a new string; '+' stays '+' (AWS's
 * clients never send '+' for a space). NULL when malformed. */
static char *decode(const char *s, size_t n) { return util_url_decode(s, n); }

static char *encode_str(const char *s)
{
    buf_t b = { 0 };
    uri_encode(&b, s, strlen(s), false);
    if (!b.data) buf_append(&b, "", 0);
    return buf_steal(&b, NULL);
}

/* The canonical query: every parameter decoded and encoded again, sorted
 * by name then value; X-Amz-Signature left out. */
static void canonical_query(buf_t *b, const char *query)
{
    if (!query || !*query) return;
    size_t cap = 8, np = 0;
    qpair_t *p = malloc(cap * sizeof *p);
    if (!p) abort();
    for (const char *s = query; *s;) {
        const char *amp = strchr(s, '&');
        size_t n = amp ? (size_t)(amp - s) : strlen(s);
        if (n) {
            const char *eq = memchr(s, '=', n);
            size_t kn = eq ? (size_t)(eq - s) : n;
            char *k = decode(s, kn);
            char *v = eq ? decode(eq + 1, n - kn - 1) : strdup("");
            if (k && v && strcasecmp(k, "X-Amz-Signature") != 0) {
                if (np == cap) {
                    p = realloc(p, (cap *= 2) * sizeof *p);
                    if (!p) abort();
                }
                p[np].key = encode_str(k);
                p[np].value = encode_str(v);
                np++;
            }
            free(k);
            free(v);
        }
        if (!amp) break;
        s = amp + 1;
    }
    qsort(p, np, sizeof *p, qpair_cmp);
    for (size_t i = 0; i < np; i++) {
        buf_appendf(b, "%s%s=%s", i ? "&" : "", p[i].key, p[i].value);
        free(p[i].key);
        free(p[i].value);
    }
    free(p);
}

/* A header value as signed: leading and trailing blanks cut, every run
 * of blanks inside made one space. */
static void header_value(buf_t *b, const char *v)
{
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    bool blank = false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            blank = true;
            continue;
        }
        if (blank) buf_append(b, " ", 1);
        blank = false;
        buf_append(b, &c, 1);
    }
}

static int header_cmp(const void *a, const void *b)
{
    return strcasecmp(((const sigv4_header_t *)a)->name, ((const sigv4_header_t *)b)->name);
}

/* Every header of `name` (its values joined with ','); false when none. */
static bool canonical_header(buf_t *b, const sigv4_request_t *r, const char *name, size_t nlen)
{
    bool found = false;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strlen(r->headers[i].name) != nlen || strncasecmp(r->headers[i].name, name, nlen) != 0) continue;
        if (!found) {
            for (size_t k = 0; k < nlen; k++) {
                char c = (char)tolower((unsigned char)name[k]);
                buf_append(b, &c, 1);
            }
            buf_append(b, ":", 1);
        } else {
            buf_append(b, ",", 1);
        }
        header_value(b, r->headers[i].value);
        found = true;
    }
    if (found) buf_append(b, "\n", 1);
    return found;
}

static int build(const sigv4_request_t *r, const char *signed_headers, buf_t *out, err_t *err)
{
    buf_reset(out);
    buf_appendf(out, "%s\n", r->method);
    canonical_uri(out, r->path);
    buf_append(out, "\n", 1);
    canonical_query(out, r->query);
    buf_append(out, "\n", 1);
    if (!*signed_headers) return err_set(err, ERR_INVALID, "no signed headers");
    for (const char *s = signed_headers; *s;) {
        const char *semi = strchr(s, ';');
        size_t n = semi ? (size_t)(semi - s) : strlen(s);
        if (!n || !canonical_header(out, r, s, n))
            return err_set(err, ERR_INVALID, "signed header '%.*s' is not in the request", (int)n, s);
        if (!semi) break;
        s = semi + 1;
    }
    buf_appendf(out, "\n%s\n%s", signed_headers, r->payload_hash);
    return 0;
}

int sigv4_canonical_request(const sigv4_request_t *r, buf_t *out, err_t *err)
{
    return build(r, r->signed_headers ? r->signed_headers : "", out, err);
}

void sigv4_scope(const char *date8, const char *region, const char *service, char out[128])
{
    snprintf(out, 128, "%.8s/%.32s/%.32s/aws4_request", date8, region, service);
}

static void hmac(const uint8_t *key, size_t klen, const void *data, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, data, n, out, &len);
}

void sigv4_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                       uint8_t key[32])
{
    size_t sl = strlen(secret);
    uint8_t *k0 = malloc(sl + 4);
    if (!k0) abort();
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, sl);
    uint8_t a[32], b[32];
    hmac(k0, sl + 4, date8, strlen(date8), a);
    OPENSSL_cleanse(k0, sl + 4);
    free(k0);
    hmac(a, 32, region, strlen(region), b);
    hmac(b, 32, service, strlen(service), a);
    hmac(a, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
}

void sigv4_signature(const uint8_t key[32], const char *amz_date, const char *scope, const char *creq,
                     size_t creq_len, char hex[65], buf_t *sts)
{
    uint8_t h[32];
    char hh[65];
    util_sha256(creq, creq_len, h);
    util_hex(h, 32, hh);
    char text[400];
    int n = snprintf(text, sizeof text, SIGV4_ALGORITHM "\n%.16s\n%.127s\n%s", amz_date, scope, hh);
    if (sts) {
        buf_reset(sts);
        buf_append(sts, text, (size_t)n);
    }
    hmac(key, 32, text, (size_t)n, h);
    util_hex(h, 32, hex);
}

/* "AKID/YYYYMMDD/region/service/aws4_request" into a. */
static int parse_credential(const char *s, size_t n, sigv4_auth_t *a, err_t *err)
{
    const char *parts[5];
    size_t lens[5], np = 0;
    const char *p = s, *end = s + n;
    while (np < 5) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        /* The key id is everything up to the last four parts. */
        parts[np] = p;
        lens[np] = slash ? (size_t)(slash - p) : (size_t)(end - p);
        np++;
        if (!slash) break;
        p = slash + 1;
    }
    if (np != 5 || memchr(p, '/', (size_t)(end - p)) || lens[4] != 12 || memcmp(parts[4], "aws4_request", 12) != 0)
        return err_set(err, ERR_INVALID, "Credential should be scoped with a valid terminator: 'aws4_request', "
                       "not '%.*s'.", (int)(np ? lens[np - 1] : 0), np ? parts[np - 1] : "");
    if (!lens[0] || lens[0] >= sizeof a->access_key || lens[1] != 8 || !lens[2] || lens[2] >= sizeof a->region ||
        !lens[3] || lens[3] >= sizeof a->service)
        return err_set(err, ERR_INVALID, "Credential is malformed: '%.*s'.", (int)n, s);
    memcpy(a->access_key, parts[0], lens[0]);
    a->access_key[lens[0]] = '\0';
    memcpy(a->date, parts[1], 8);
    a->date[8] = '\0';
    memcpy(a->region, parts[2], lens[2]);
    a->region[lens[2]] = '\0';
    memcpy(a->service, parts[3], lens[3]);
    a->service[lens[3]] = '\0';
    return 0;
}

static int copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int sigv4_parse_authorization(const char *value, sigv4_auth_t *a, err_t *err)
{
    memset(a, 0, sizeof *a);
    size_t al = strlen(SIGV4_ALGORITHM);
    while (*value == ' ') value++;
    if (strncmp(value, SIGV4_ALGORITHM, al) != 0 || (value[al] != ' ' && value[al] != '\0'))
        return err_set(err, ERR_INVALID, "Unsupported authorization type: the Authorization header must be "
                       "'%s Credential=..., SignedHeaders=..., Signature=...'", SIGV4_ALGORITHM);
    bool cred = false, sh = false, sig = false;
    for (const char *p = value + al; *p;) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        const char *end = p + strcspn(p, ",");
        size_t n = (size_t)(end - p);
        while (n && p[n - 1] == ' ') n--;
        const char *eq = memchr(p, '=', n);
        if (eq) {
            size_t kn = (size_t)(eq - p), vn = n - kn - 1;
            const char *v = eq + 1;
            if (kn == 10 && memcmp(p, "Credential", 10) == 0) {
                if (parse_credential(v, vn, a, err) < 0) return -1;
                cred = true;
            } else if (kn == 13 && memcmp(p, "SignedHeaders", 13) == 0) {
                if (copy_field(a->signed_headers, sizeof a->signed_headers, v, vn) < 0)
                    return err_set(err, ERR_INVALID, "SignedHeaders is too long");
                sh = true;
            } else if (kn == 9 && memcmp(p, "Signature", 9) == 0) {
                if (copy_field(a->signature, sizeof a->signature, v, vn) < 0) a->signature[0] = '\0';
                sig = true;
            }
        }
        p = end;
    }
    if (!cred || !sh || !sig)
        return err_set(err, ERR_INVALID, "Authorization header requires '%s' parameter. Authorization=%s",
                       !cred ? "Credential" : !sh ? "SignedHeaders" : "Signature", SIGV4_ALGORITHM);
    return 0;
}

int sigv4_parse_query(const char *query, sigv4_auth_t *a, err_t *err)
{
    memset(a, 0, sizeof *a);
    char *sig = util_query_param(query, "X-Amz-Signature");
    if (!sig) return 0;
    a->presigned = true;
    char *alg = util_query_param(query, "X-Amz-Algorithm");
    char *cred = util_query_param(query, "X-Amz-Credential");
    char *date = util_query_param(query, "X-Amz-Date");
    char *exp = util_query_param(query, "X-Amz-Expires");
    char *sh = util_query_param(query, "X-Amz-SignedHeaders");
    int rc = 0;
    char *end = NULL;
    long e = exp ? strtol(exp, &end, 10) : -1;
    if (!alg || strcmp(alg, SIGV4_ALGORITHM) != 0)
        rc = err_set(err, ERR_INVALID, "X-Amz-Algorithm only supports \"%s\"", SIGV4_ALGORITHM);
    else if (!cred || !date || !sh || !exp)
        rc = err_set(err, ERR_INVALID, "AWS query-string parameters must include 'X-Amz-Algorithm', "
                     "'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders' and "
                     "'X-Amz-Signature'. Re-examine the query-string parameters.");
    else if (parse_credential(cred, strlen(cred), a, err) < 0)
        rc = -1;
    else if (!*exp || *end || e < 1 || e > 604800)
        rc = err_set(err, ERR_INVALID, "X-Amz-Expires must be between 1 and 604800 seconds");
    else if (copy_field(a->signed_headers, sizeof a->signed_headers, sh, strlen(sh)) < 0 ||
             copy_field(a->amz_date, sizeof a->amz_date, date, strlen(date)) < 0)
        rc = err_set(err, ERR_INVALID, "X-Amz-Date or X-Amz-SignedHeaders is malformed");
    if (rc == 0) {
        a->expires = e;
        if (copy_field(a->signature, sizeof a->signature, sig, strlen(sig)) < 0) a->signature[0] = '\0';
    }
    free(sig);
    free(alg);
    free(cred);
    free(date);
    free(exp);
    free(sh);
    return rc;
}

int sigv4_parse_date(const char *s, int64_t *epoch_s)
{
    if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') return -1;
    for (int i = 0; i < 15; i++)
        if (i != 8 && !isdigit((unsigned char)s[i])) return -1;
    struct tm tm = { 0 };
    tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
    tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
    tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
    tm.tm_hour = (s[9] - '0') * 10 + (s[10] - '0');
    tm.tm_min = (s[11] - '0') * 10 + (s[12] - '0');
    tm.tm_sec = (s[13] - '0') * 10 + (s[14] - '0');
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    *epoch_s = (int64_t)timegm(&tm);
    return 0;
}

void sigv4_format_date(int64_t epoch_s, char out[17])
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

bool sigv4_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb) return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}

int sigv4_sign(const sigv4_request_t *r, const char *access_key, const char *secret, const char *amz_date,
               const char *region, const char *service, buf_t *authz, err_t *err)
{
    /* Every header given, by lowercase name, sorted, each name once. */
    sigv4_header_t *hs = malloc((r->nheaders ? r->nheaders : 1) * sizeof *hs);
    if (!hs) abort();
    memcpy(hs, r->headers, r->nheaders * sizeof *hs);
    qsort(hs, r->nheaders, sizeof *hs, header_cmp);
    buf_t names = { 0 };
    for (size_t i = 0; i < r->nheaders; i++) {
        if (i && strcasecmp(hs[i].name, hs[i - 1].name) == 0) continue;
        if (names.len) buf_append(&names, ";", 1);
        for (const char *c = hs[i].name; *c; c++) {
            char l = (char)tolower((unsigned char)*c);
            buf_append(&names, &l, 1);
        }
    }
    free(hs);
    if (!names.data) buf_append(&names, "", 0);
    buf_t creq = { 0 };
    int rc = build(r, names.data, &creq, err);
    if (rc == 0) {
        char scope[128], sig[65], date8[9];
        uint8_t key[32];
        snprintf(date8, sizeof date8, "%.8s", amz_date);
        sigv4_scope(date8, region, service, scope);
        sigv4_signing_key(secret, date8, region, service, key);
        sigv4_signature(key, amz_date, scope, creq.data, creq.len, sig, NULL);
        OPENSSL_cleanse(key, sizeof key);
        buf_reset(authz);
        buf_appendf(authz, SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s", access_key, scope,
                    names.data, sig);
    }
    buf_free(&names);
    buf_free(&creq);
    return rc;
}
