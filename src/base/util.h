/* util.h — small encoders every module needs: request ids, base64,
 * SHA-256, timestamps, a growable byte buffer. Pure functions; no I/O
 * except reading the kernel's random source. */
#ifndef NIMBUS_UTIL_H
#define NIMBUS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* The region and account this daemon is (one node, one account): every
 * ARN it writes, the functions' environment and the refusal of ARNs that
 * name another. `nimbus serve --region / --account-id` set them once at
 * start-up, before any thread exists; a unit test sets them the same way.
 * Until then they are the defaults below. */
#define NIMBUS_DEFAULT_REGION "us-east-1"
#define NIMBUS_DEFAULT_ACCOUNT "000000000000"
/* Validates both (Lambda's patterns: a region like us-east-1 or
 * us-gov-west-1, `[a-z]{2}(-gov)?-[a-z]+-\d`; an account of 12 digits),
 * then sets both. Errors: ERR_INVALID naming the bad one. */
int util_site_set(const char *region, const char *account, err_t *err);
const char *util_region(void);
const char *util_account(void);
bool util_region_valid(const char *region);
bool util_account_valid(const char *account);
/* The names callers used when these were constants. */
#define NIMBUS_REGION (util_region())
#define NIMBUS_ACCOUNT (util_account())

/* A random (v4) UUID as 36 characters + NUL, e.g. for request ids. */
void util_uuid4(char out[37]);
/* A time-ordered (v7) UUID: unix_ms in the first 48 bits, 74 random bits after. Request ids use
 * it: the log store's index by request id then grows at its end, not at random pages (a random id
 * dirtied one index page per call in every log commit). */
void util_uuid7(char out[37], uint64_t unix_ms);
/* n-1 random lowercase letters and digits + NUL (a function URL's id). */
void util_random_id(char *out, size_t n);

/* Standard base64 with padding. Returns a malloc'd NUL-terminated string. */
char *util_base64_encode(const void *data, size_t len, size_t *out_len);
/* Decodes standard base64 (padding required, whitespace/newlines ignored).
 * Returns malloc'd bytes (NUL-terminated, not counted) or NULL with err
 * ERR_INVALID on bad input. */
char *util_base64_decode(const char *text, size_t len, size_t *out_len, err_t *err);

/* SHA-256 of data: raw 32 bytes, lowercase hex (64 + NUL), base64 (44 + NUL). */
void util_sha256(const void *data, size_t len, uint8_t out[32]);
void util_hex(const uint8_t *in, size_t n, char *out /* 2n+1 */);

/* Lambda's LastModified format: "2026-11-22T15:53:15.123+0000". */
void util_iso8601_ms(uint64_t wall_ms, char out[32]);

/* Growable byte buffer. All functions abort on out-of-memory: a daemon that
 * cannot grow a buffer has nothing useful left to do. */
typedef struct {
    char *data;   /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
} buf_t;
void buf_append(buf_t *b, const void *p, size_t n);
void buf_reserve(buf_t *b, size_t extra);  /* room for `extra` more bytes, grown once */
void buf_appendf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(buf_t *b);            /* len = 0, keep memory */
void buf_free(buf_t *b);
char *buf_steal(buf_t *b, size_t *len); /* hand over data (never NULL), reset b */

/* Text built into a fixed buffer without printf, for lines every call
 * writes (printf's format parsing was a tenth of the event loop's work):
 * each appends at buf[*len], cuts where snprintf would (cap - 1 bytes),
 * keeps buf NUL-terminated and advances *len. */
void util_cat(char *buf, size_t cap, size_t *len, const char *s, size_t n);
void util_cat_str(char *buf, size_t cap, size_t *len, const char *s);
void util_cat_u64(char *buf, size_t cap, size_t *len, uint64_t v);
/* ns as milliseconds with two decimals: what "%.2f" writes for ns / 1e6
 * (exactly so for any duration under a day; a call lasts 15 minutes at most). */
void util_cat_ms(char *buf, size_t cap, size_t *len, uint64_t ns);
/* v's decimal digits written at o (room for 20 needed, no NUL); returns
 * their end. */
char *util_put_u64(char *o, uint64_t v);
/* snprintf(dst, cap, "%s", src) without printf: src cut to fit. */
void util_copy(char *dst, size_t cap, const char *src);
#define util_cat_lit(buf, cap, len, lit) util_cat(buf, cap, len, "" lit, sizeof(lit) - 1)

/* A uniformly distributed double in [0, 1), from the kernel's randomness
 * (for weighted alias routing). */
double util_random_unit(void);

/* Process title: remember where main()'s argv strings are, then overwrite
 * them so /proc/<pid>/cmdline of a forked child (the spawner, an instance's
 * init) shows its role and not the daemon's command line (which names the
 * data directory). */
void util_proctitle_init(int argc, char **argv);
void util_proctitle_set(const char *title);

/* Percent-decode `in` (n bytes) into a malloc'd string; NULL if malformed. */
char *util_url_decode(const char *in, size_t n);
/* Value of `key` in an application/x-www-form-urlencoded query string,
 * decoded and malloc'd, or NULL when absent. */
char *util_query_param(const char *query, const char *key);

#endif
