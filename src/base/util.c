/* util.c — small encoders shared by every module: UUIDs, base64, SHA-256,
 * timestamps, buf_t, URL decoding.
 *
 * Owns no state but the region and account (set once at start-up, read
 * everywhere after). Must never do I/O beyond reading getrandom(), and
 * never print: failures are returned (or, for out-of-memory in buf_t,
 * abort).
 */
#include "base/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

static void fill_random_sys(void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            /* getrandom() only fails on a kernel without it (pre-3.17) or on
             * bad arguments; neither is recoverable for a daemon that needs
             * unguessable ids. */
            abort();
        }
        b += r;
        n -= (size_t)r;
    }
}

/* Every call takes a request id and a trace id: serve them from a per-thread
 * pool of kernel randomness, so the warm path makes one getrandom() per ~200
 * calls instead of three per call. Bytes are used once and wiped. A child
 * made by fork() must not reuse its parent's pool: an atfork handler empties
 * it (the daemon's own children exec at once, but tests and the CLI fork). */
static __thread uint8_t g_pool[4096];
static __thread size_t g_avail;
static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void) { g_avail = 0; }
static void pool_init(void) { pthread_atfork(NULL, NULL, pool_forget); }

static void fill_random(void *p, size_t n)
{
    if (n > sizeof g_pool) { fill_random_sys(p, n); return; }
    pthread_once(&g_pool_once, pool_init);
    if (g_avail < n) {
        fill_random_sys(g_pool, sizeof g_pool);
        g_avail = sizeof g_pool;
    }
    uint8_t *src = g_pool + sizeof g_pool - g_avail;
    memcpy(p, src, n);
    memset(src, 0, n);
    g_avail -= n;
}

double util_random_unit(void)
{
    uint64_t x;
    fill_random(&x, sizeof x);
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);   /* 53 random bits */
}

void util_random_id(char *out, size_t n)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    size_t o = 0;
    while (o + 1 < n) {
        uint8_t b[32];
        fill_random(b, sizeof b);
        /* 252 = 7 * 36: bytes above it are dropped, so no letter is likelier. */
        for (size_t i = 0; i < sizeof b && o + 1 < n; i++)
            if (b[i] < 252) out[o++] = alnum[b[i] % 36];
    }
    if (n) out[o] = '\0';
}

static void uuid_format(char out[37], const uint8_t u[16])
{
    static const char hx[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hx[u[i] >> 4];
        out[o++] = hx[u[i] & 15];
    }
    out[o] = '\0';
}

void util_uuid4(char out[37])
{
    uint8_t u[16];
    fill_random(u, sizeof u);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    uuid_format(out, u);
}

void util_uuid7(char out[37], uint64_t unix_ms)
{
    uint8_t u[16];
    fill_random(u, sizeof u);
    for (int i = 0; i < 6; i++) u[i] = (uint8_t)(unix_ms >> (40 - 8 * i));   /* 48-bit ms, big-endian */
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x70); /* version 7 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    uuid_format(out, u);
}

/* ---- base64 ----
 * Written by hand rather than with EVP_DecodeBlock: that call cannot tell
 * how many padding bytes it decoded (it returns a multiple of 3) and accepts
 * things we want to reject, so every caller would have to patch it up. */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *util_base64_encode(const void *data, size_t len, size_t *out_len)
{
    const uint8_t *in = data;
    size_t n = 4 * ((len + 2) / 3);
    char *out = malloc(n + 1);
    if (!out) abort();
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    return out;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static bool b64_space(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

char *util_base64_decode(const char *text, size_t len, size_t *out_len, err_t *err)
{
    /* Count significant characters first so the quartet structure (and
     * where padding may appear) is known before decoding. */
    size_t sig = 0;
    for (size_t i = 0; i < len; i++)
        if (!b64_space((unsigned char)text[i])) sig++;
    if (sig % 4 != 0) {
        err_set(err, ERR_INVALID, "invalid base64: length %zu is not a multiple of 4", sig);
        return NULL;
    }
    char *out = malloc(sig / 4 * 3 + 1);
    if (!out) abort();
    size_t o = 0, seen = 0;
    int quad[4], q = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (b64_space(c)) continue;
        seen++;
        int v;
        if (c == '=') {
            /* Padding only in the last two positions of the last quartet. */
            if (seen + 2 <= sig || q < 2) goto bad;
            pad++;
            v = 0;
        } else {
            if (pad) goto bad; /* data after padding */
            v = b64_value(c);
            if (v < 0) goto bad;
        }
        quad[q++] = v;
        if (q == 4) {
            uint32_t w = (uint32_t)quad[0] << 18 | (uint32_t)quad[1] << 12 |
                         (uint32_t)quad[2] << 6 | (uint32_t)quad[3];
            out[o++] = (char)(w >> 16);
            if (pad < 2) out[o++] = (char)(w >> 8);
            if (pad < 1) out[o++] = (char)w;
            q = 0;
        }
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    return out;
bad:
    free(out);
    err_set(err, ERR_INVALID, "invalid base64 input");
    return NULL;
}

void util_sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 32;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
        abort(); /* only fails on allocation failure inside OpenSSL */
}

void util_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void util_iso8601_ms(uint64_t wall_ms, char out[32])
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char head[24];
    strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.20s.%03u+0000", head, (unsigned)(wall_ms % 1000));
}

/* ---- buf_t ---- */

void buf_reserve(buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1) abort();
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) abort();
    b->data = p;
    b->cap = cap;
}

void buf_append(buf_t *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void util_cat(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    if (!cap) return;
    if (*len >= cap - 1) {
        buf[cap - 1] = '\0';
        return;
    }
    if (n > cap - 1 - *len) n = cap - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

void util_cat_str(char *buf, size_t cap, size_t *len, const char *s) { util_cat(buf, cap, len, s, strlen(s)); }

void util_cat_ms(char *buf, size_t cap, size_t *len, uint64_t ns)
{
    /* The exact hundredths rounded half up agree with printf's rounding of
     * the double but at a tie (x.xx5 ms exactly), where the double decides. */
    if (ns % 10000 == 5000) {
        char ms[40];
        snprintf(ms, sizeof ms, "%.2f", (double)ns / 1e6);
        util_cat_str(buf, cap, len, ms);
        return;
    }
    uint64_t h = (ns + 5000) / 10000;
    char frac[3] = { '.', (char)('0' + h / 10 % 10), (char)('0' + h % 10) };
    util_cat_u64(buf, cap, len, h / 100);
    util_cat(buf, cap, len, frac, sizeof frac);
}

void util_copy(char *dst, size_t cap, const char *src)
{
    size_t len = 0;
    util_cat_str(dst, cap, &len, src);
}

char *util_put_u64(char *o, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(o, tmp + i, sizeof tmp - i);
    return o + (sizeof tmp - i);
}

void util_cat_u64(char *buf, size_t cap, size_t *len, uint64_t v)
{
    char tmp[20];
    util_cat(buf, cap, len, tmp, (size_t)(util_put_u64(tmp, v) - tmp));
}

void buf_appendf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    if ((size_t)n < sizeof small) {
        buf_append(b, small, (size_t)n);
        return;
    }
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *buf_steal(buf_t *b, size_t *len)
{
    if (!b->data) {
        buf_reserve(b, 0);
        b->data[0] = '\0';
    }
    char *p = b->data;
    if (len) *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---- URL decoding ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* plus_is_space: form encoding ('+' means ' ') versus a path segment. A
 * decoded NUL is malformed: the result is a C string and a hidden NUL would
 * let "name%00suffix" look like "name" to later checks. */
static char *url_decode(const char *in, size_t n, bool plus_is_space)
{
    char *out = malloc(n + 1);
    if (!out) abort();
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            if (n - i < 3) goto bad;
            int h = hex_value(in[i + 1]), l = hex_value(in[i + 2]);
            if (h < 0 || l < 0) goto bad;
            c = (char)(h << 4 | l);
            if (c == '\0') goto bad;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == '\0') {
            goto bad;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

char *util_url_decode(const char *in, size_t n)
{
    return url_decode(in, n, false);
}

char *util_query_param(const char *query, const char *key)
{
    if (!query || !key) return NULL;
    if (*query == '?') query++;
    size_t klen = strlen(key);
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        if (!end) end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *kend = eq ? eq : end;
        char *k = url_decode(p, (size_t)(kend - p), true);
        bool match = k && strlen(k) == klen && memcmp(k, key, klen) == 0;
        free(k);
        if (match) {
            if (!eq) {
                char *v = malloc(1);
                if (!v) abort();
                v[0] = '\0';
                return v;
            }
            return url_decode(eq + 1, (size_t)(end - eq - 1), true);
        }
        p = *end ? end + 1 : end;
    }
    return NULL;
}

static char *g_title;       /* argv[0]'s bytes, through the end of the last argument */
static size_t g_title_len;

void util_proctitle_init(int argc, char **argv)
{
    if (argc < 1 || !argv[0]) return;
    char *end = argv[0] + strlen(argv[0]) + 1;
    /* Only the run of arguments that sit back to back (they always do). */
    for (int i = 1; i < argc && argv[i] == end; i++) end = argv[i] + strlen(argv[i]) + 1;
    g_title = argv[0];
    g_title_len = (size_t)(end - argv[0]);
}

void util_proctitle_set(const char *title)
{
    if (!g_title || g_title_len < 2) return;
    memset(g_title, 0, g_title_len);
    size_t n = strlen(title);
    memcpy(g_title, title, n < g_title_len - 1 ? n : g_title_len - 1);
}

/* ---- the region and account ---- */

static char g_region[32] = NIMBUS_DEFAULT_REGION;
static char g_account[13] = NIMBUS_DEFAULT_ACCOUNT;

static const char *lower_run(const char *p)
{
    while (*p >= 'a' && *p <= 'z') p++;
    return p;
}

bool util_region_valid(const char *s)
{
    if (!s || strlen(s) >= sizeof g_region) return false;
    /* [a-z]{2}(-gov)?-[a-z]+-\d */
    if (lower_run(s) != s + 2) return false;
    const char *p = s + 2;
    if (strncmp(p, "-gov-", 5) == 0 && *lower_run(p + 5) == '-' && lower_run(p + 5) != p + 5) p += 4;
    if (*p++ != '-') return false;
    const char *q = lower_run(p);
    if (q == p || *q++ != '-') return false;
    return q[0] >= '0' && q[0] <= '9' && q[1] == '\0';
}

bool util_account_valid(const char *s)
{
    if (!s || strlen(s) != 12) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

int util_site_set(const char *region, const char *account, err_t *err)
{
    if (!util_region_valid(region))
        return err_set(err, ERR_INVALID, "region '%s' is not a region name (like us-east-1 or us-gov-west-1)",
                       region ? region : "");
    if (!util_account_valid(account))
        return err_set(err, ERR_INVALID, "account '%s' is not an account id (12 digits)", account ? account : "");
    snprintf(g_region, sizeof g_region, "%s", region);
    snprintf(g_account, sizeof g_account, "%s", account);
    return 0;
}

const char *util_region(void) { return g_region; }
const char *util_account(void) { return g_account; }
