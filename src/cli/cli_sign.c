/* cli_sign.c — the CLI's requests signed with SigV4 (service "lambda"), as
 * the AWS SDKs sign them, with the chosen profile's keys or
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
 *
 * Owns which keys and region a command signs with. Must never: print or
 * send the secret, or sign for a daemon without keys to sign with (an
 * unsigned request is what a loopback daemon without credentials takes).
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sigv4.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* An explicit --profile wins over the environment, the environment over
 * the default profile: the AWS CLI's order. */
static void pick_keys(const cli_ctx_t *ctx, const char **id, const char **secret, const char **region)
{
    const cli_profile_t *p = &ctx->profile;
    bool from_profile = p->access_key_id && p->secret_access_key && *p->access_key_id;
    if ((!ctx->profile_flag || !from_profile) && env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) {
        *id = env("AWS_ACCESS_KEY_ID");
        *secret = env("AWS_SECRET_ACCESS_KEY");
    } else if (from_profile) {
        *id = p->access_key_id;
        *secret = p->secret_access_key;
    }
    *region = p->region && *p->region ? p->region : env("AWS_REGION") ? env("AWS_REGION")
              : env("AWS_DEFAULT_REGION")                          ? env("AWS_DEFAULT_REGION")
                                                                     : "us-east-1";
}

int cli_sign(const cli_ctx_t *ctx, const cli_req_t *req, char *out[CLI_SIGN_HEADERS], err_t *err)
{
    const char *id = NULL, *secret = NULL, *region = NULL;
    pick_keys(ctx, &id, &secret, &region);
    if (!id || !secret) return 0;
    /* The host as curl will send it: the endpoint's authority. */
    const char *e = strstr(ctx->endpoint, "://");
    e = e ? e + 3 : ctx->endpoint;
    size_t hl = strcspn(e, "/?#");
    char host[256];
    if (hl == 0 || hl >= sizeof host) return err_set(err, ERR_INVALID, "bad endpoint '%s'", ctx->endpoint);
    memcpy(host, e, hl);
    host[hl] = '\0';
    /* The path as sent, its query apart. */
    const char *q = strchr(req->path, '?');
    char *path = q ? strndup(req->path, (size_t)(q - req->path)) : strdup(req->path);
    if (!path) abort();
    char amz[17], hex[65];
    sigv4_format_date((int64_t)time(NULL), amz);
    uint8_t h[32];
    util_sha256(req->body ? req->body : "", req->body ? req->body_len : 0, h);
    util_hex(h, 32, hex);
    sigv4_header_t hs[] = { { "host", host }, { "x-amz-date", amz }, { "x-amz-content-sha256", hex } };
    sigv4_request_t r = { .method = req->method, .path = path, .query = q ? q + 1 : "", .headers = hs,
                          .nheaders = 3, .payload_hash = hex };
    buf_t authz = { 0 };
    int rc = sigv4_sign(&r, id, secret, amz, region, "lambda", &authz, err);
    free(path);
    if (rc < 0) {
        buf_free(&authz);
        return -1;
    }
    buf_t b = { 0 };
    buf_appendf(&b, "Host: %s", host);
    out[0] = buf_steal(&b, NULL);
    buf_appendf(&b, "X-Amz-Date: %s", amz);
    out[1] = buf_steal(&b, NULL);
    buf_appendf(&b, "X-Amz-Content-Sha256: %s", hex);
    out[2] = buf_steal(&b, NULL);
    buf_appendf(&b, "Authorization: %s", authz.data);
    out[3] = buf_steal(&b, NULL);
    buf_free(&authz);
    return CLI_SIGN_HEADERS;
}
