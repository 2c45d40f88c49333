/* sigv4.h — AWS Signature Version 4 (AWS4-HMAC-SHA256), both halves: the
 * client's signing (the CLI) and the server's verification (the API edge).
 *
 * The algorithm as AWS documents it (docs/security.md says it in our own
 * words): a canonical request (method, canonical URI, canonical query,
 * canonical headers, signed header names, payload hash), a string to sign
 * (algorithm, X-Amz-Date, credential scope, SHA-256 of the canonical
 * request), a signing key made by an HMAC-SHA256 chain from "AWS4"+secret
 * over the date, region, service and "aws4_request", and the signature,
 * the hex HMAC of the string to sign under that key.
 *
 * The canonical URI is the non-S3 one every other service (Lambda too)
 * uses: the path as sent, its dot segments and empty segments removed,
 * then percent-encoded once more (so "%3A" on the wire is "%253A" here).
 *
 * Pure functions on OpenSSL's HMAC and SHA-256; no I/O, no clock. Must
 * never: compare signatures other than in constant time (sigv4_equal), or
 * keep a secret anywhere but the caller's memory.
 */
#ifndef NIMBUS_SIGV4_H
#define NIMBUS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/util.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct {
    const char *name;            /* any case */
    const char *value;           /* as sent */
} sigv4_header_t;

/* One request as the signer and the verifier both see it. */
typedef struct {
    const char *method;          /* "GET" */
    const char *path;            /* as sent: still percent-encoded, no query */
    const char *query;           /* as sent, without '?'; "" for none */
    const sigv4_header_t *headers;
    size_t nheaders;
    const char *signed_headers;  /* "host;x-amz-date": lowercase names, ';'-separated,
                                    sorted; NULL when signing: every header given */
    const char *payload_hash;    /* lowercase hex SHA-256 of the body, or UNSIGNED-PAYLOAD */
} sigv4_request_t;

/* The parts of a signature: from an Authorization header or from the
 * X-Amz-* parameters of a presigned URL. */
typedef struct {
    char access_key[129];
    char date[9];                /* YYYYMMDD of the credential scope */
    char region[33];
    char service[33];
    char signed_headers[1024];
    char signature[65];          /* lowercase hex */
    char amz_date[17];           /* X-Amz-Date (presigned only; headers carry it otherwise) */
    long expires;                /* X-Amz-Expires seconds (presigned only), else 0 */
    bool presigned;
} sigv4_auth_t;

/* The canonical request into `out` (replacing its contents); a query's
 * X-Amz-Signature is left out (a presigned URL carries its own). -1 with
 * ERR_INVALID when a signed header is not in the request, or the list of
 * signed headers is empty. */
int sigv4_canonical_request(const sigv4_request_t *r, buf_t *out, err_t *err);

/* The scope "YYYYMMDD/region/service/aws4_request" into out. */
void sigv4_scope(const char *date8, const char *region, const char *service, char out[128]);

/* The signing key of a secret for a day, region and service. */
void sigv4_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                       uint8_t key[32]);

/* The hex signature of a canonical request under `key`, with its
 * X-Amz-Date and scope; `sts` (if not NULL) gets the string to sign. */
void sigv4_signature(const uint8_t key[32], const char *amz_date, const char *scope, const char *creq,
                     size_t creq_len, char hex[65], buf_t *sts);

/* Parse "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=a;b, Signature=hex". -1 with a message saying what is
 * missing (IncompleteSignature in AWS's terms). */
int sigv4_parse_authorization(const char *value, sigv4_auth_t *a, err_t *err);
/* The same from a query string's X-Amz-Algorithm, -Credential, -Date,
 * -Expires, -SignedHeaders and -Signature. 0 and a->presigned false when
 * the query has no X-Amz-Signature at all. */
int sigv4_parse_query(const char *query, sigv4_auth_t *a, err_t *err);

/* "YYYYMMDDTHHMMSSZ" <-> seconds since the epoch (UTC). Parse: -1 when
 * malformed. */
int sigv4_parse_date(const char *amz_date, int64_t *epoch_s);
void sigv4_format_date(int64_t epoch_s, char out[17]);

/* Constant-time equality of two NUL-terminated strings (the time depends
 * on the lengths only). */
bool sigv4_equal(const char *a, const char *b);

/* Sign a request (the client's half): the Authorization header's value
 * into `authz`. The request's headers must include host and x-amz-date
 * (and whatever else is to be signed: every header given is). */
int sigv4_sign(const sigv4_request_t *r, const char *access_key, const char *secret, const char *amz_date,
               const char *region, const char *service, buf_t *authz, err_t *err);

#endif
