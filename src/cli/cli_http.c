/* cli_http.c — one HTTP exchange with the daemon over libcurl (easy API),
 * and the reading of Lambda error answers (x-amzn-ErrorType + {Message}).
 *
 * Owns the CURL handle kept in cli_ctx_t, and the upload progress line (on
 * stderr, only when it is a terminal). Must never: print anything else, retry a request
 * (an invoke is not idempotent), or treat a non-2xx answer as a transport
 * failure — callers decide what a status means (deploy turns 409 into an
 * update).
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

char *cli_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    buf_t b = {0};
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            buf_append(&b, p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_append(&b, esc, 3);
        }
    }
    return buf_steal(&b, NULL);
}

void cli_resp_free(cli_resp_t *resp)
{
    buf_free(&resp->body);
    free(resp->log_result);
    resp->log_result = NULL;
}

static size_t cli_on_body(char *p, size_t size, size_t n, void *ud)
{
    cli_resp_t *resp = ud;
    buf_append(&resp->body, p, size * n);
    return size * n;
}

/* Copy a header value without surrounding blanks; `cut` stops it at the
 * first such character (the ":http://..." tail AWS may add to error types). */
static void cli_copy_value(char *dst, size_t cap, const char *v, size_t n, char cut)
{
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
        n--;
    if (cut) {
        const char *c = memchr(v, cut, n);
        if (c) n = (size_t)(c - v);
    }
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t cli_on_header(char *p, size_t size, size_t n, void *ud)
{
    cli_resp_t *resp = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new status line (after "100 Continue"): forget the previous block. */
        resp->error_type[0] = '\0';
        resp->function_error[0] = '\0';
        resp->request_id[0] = '\0';
        resp->executed_version[0] = '\0';
        resp->content_type[0] = '\0';
        free(resp->log_result);
        resp->log_result = NULL;
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon) return len;
    size_t name_len = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vlen = len - name_len - 1;
#define IS(h) (name_len == sizeof(h) - 1 && strncasecmp(p, h, name_len) == 0)
    if (IS("x-amzn-ErrorType")) {
        cli_copy_value(resp->error_type, sizeof resp->error_type, v, vlen, ':');
    } else if (IS("X-Amz-Function-Error")) {
        cli_copy_value(resp->function_error, sizeof resp->function_error, v, vlen, 0);
    } else if (IS("x-amzn-RequestId")) {
        cli_copy_value(resp->request_id, sizeof resp->request_id, v, vlen, 0);
    } else if (IS("X-Amz-Executed-Version")) {
        cli_copy_value(resp->executed_version, sizeof resp->executed_version, v, vlen, 0);
    } else if (IS("Content-Type")) {
        cli_copy_value(resp->content_type, sizeof resp->content_type, v, vlen, 0);
    } else if (IS("X-Amz-Log-Result")) {
        free(resp->log_result);
        resp->log_result = malloc(vlen + 1);
        if (!resp->log_result) abort();
        cli_copy_value(resp->log_result, vlen + 1, v, vlen, 0);
    }
#undef IS
    return len;
}

/* The upload progress line: shown only for a body that is still going up
 * after a second, so quick requests never flicker a line. */
typedef struct {
    bool tty;                 /* stderr is a terminal */
    struct timespec start;
    int shown;                /* last percentage printed, -1 none */
} cli_progress_t;

#define CLI_PROGRESS_AFTER_MS 1000

static int64_t cli_elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

static int cli_on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    if (cli_interrupted()) return 1;
    cli_progress_t *pr = ud;
    if (!pr->tty || ultotal <= 0 || cli_elapsed_ms(&pr->start) < CLI_PROGRESS_AFTER_MS) return 0;
    int pct = (int)(ulnow * 100 / ultotal);
    if (pct == pr->shown) return 0;
    pr->shown = pct;
    /* \r and erase-to-end: the line is rewritten in place. */
    fprintf(stderr, "\ruploading %.1f MB\xe2\x80\xa6 %d%%\033[K", (double)ultotal / (1024.0 * 1024.0), pct);
    fflush(stderr);
    return 0;
}

/* Take the progress line away before anything else is printed. */
static void cli_progress_end(const cli_progress_t *pr)
{
    if (pr->shown < 0) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

void cli_http_close(cli_ctx_t *ctx)
{
    if (ctx->curl) curl_easy_cleanup(ctx->curl);
    ctx->curl = NULL;
}

/* Turn a transport failure into the one line the user sees. Failing to
 * connect at all almost always means the daemon is not running. */
static int cli_transport_error(cli_ctx_t *ctx, CURL *h, CURLcode rc, const char *errbuf,
                               err_t *err)
{
    if (rc == CURLE_ABORTED_BY_CALLBACK && cli_interrupted())
        return err_set(err, ERR_INTERNAL, "interrupted");
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        if (os_errno) why = strerror((int)os_errno);
        /* fallthrough */
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return err_set(err, ERR_SYS, "cannot reach Nimbus at %s: %s (is `nimbus serve` running?)",
                       ctx->endpoint, why);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return err_set(err, ERR_INVALID, "bad endpoint '%s': %s", ctx->endpoint, why);
    case CURLE_OPERATION_TIMEDOUT:
        return err_set(err, ERR_SYS, "cannot reach Nimbus at %s: %s", ctx->endpoint, why);
    default:
        return err_set(err, ERR_SYS, "request to Nimbus at %s failed: %s", ctx->endpoint, why);
    }
}

/* Every answer of the daemon carries x-amzn-RequestId, and every error an
 * x-amzn-ErrorType: an answer without them came from something else (a web
 * server on the port, a proxy with no route), whose body would only
 * confuse. */
static int cli_check_nimbus(const cli_ctx_t *ctx, const cli_resp_t *resp, err_t *err)
{
    if (resp->request_id[0] && !(resp->status == 404 && !resp->error_type[0])) return 0;
    return err_set(err, ERR_INVALID, "%s is not a Nimbus endpoint (it answered HTTP %ld%s%s%s)", ctx->endpoint,
                   resp->status, resp->content_type[0] ? " with " : "", resp->content_type,
                   resp->request_id[0] ? " and no x-amzn-ErrorType" : " and no x-amzn-RequestId");
}

int cli_http(cli_ctx_t *ctx, const cli_req_t *req, cli_resp_t *resp, err_t *err)
{
    memset(resp, 0, sizeof *resp);
    if (cli_ctx_resolve(ctx, err) < 0) return -1;
    if (!ctx->curl) {
        ctx->curl = curl_easy_init();
        if (!ctx->curl) return err_set(err, ERR_INTERNAL, "cannot create a libcurl handle");
    } else {
        curl_easy_reset(ctx->curl);
    }
    CURL *h = ctx->curl;

    buf_t url = {0};
    size_t base_len = strlen(ctx->endpoint);
    while (base_len > 0 && ctx->endpoint[base_len - 1] == '/') base_len--;
    buf_append(&url, ctx->endpoint, base_len);
    buf_append(&url, req->path, strlen(req->path));

    /* curl would send "Expect: 100-continue" for big bodies and then wait;
     * an empty "Expect:" turns that off. */
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    for (const char *const *p = req->headers; p && *p; p++) hdrs = curl_slist_append(hdrs, *p);
    if (!hdrs) abort();
    char *sig[CLI_SIGN_HEADERS];
    int nsig = cli_sign(ctx, req, sig, err);
    if (nsig < 0) {
        curl_slist_free_all(hdrs);
        return -1;
    }
    for (int i = 0; i < nsig; i++) {
        hdrs = curl_slist_append(hdrs, sig[i]);
        free(sig[i]);
        if (!hdrs) abort();
    }

    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    if (ctx->ca_cert) curl_easy_setopt(h, CURLOPT_CAINFO, ctx->ca_cert);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "nimbus-cli");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cli_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, cli_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cli_on_progress);
    cli_progress_t progress = {.tty = req->body_len > 0 && isatty(STDERR_FILENO), .shown = -1};
    clock_gettime(CLOCK_MONOTONIC, &progress.start);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &progress);

    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body ? req->body_len : 0));
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    }

    CURLcode rc = curl_easy_perform(h);
    cli_progress_end(&progress);
    curl_slist_free_all(hdrs);
    buf_free(&url);
    if (rc != CURLE_OK) return cli_transport_error(ctx, h, rc, errbuf, err);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (!resp->body.data) buf_append(&resp->body, "", 0);
    if (cli_check_nimbus(ctx, resp, err) == 0) return 0;
    cli_resp_free(resp);   /* callers that see a failure need not */
    return -1;
}

cJSON *cli_resp_json(const cli_resp_t *resp, err_t *err)
{
    cJSON *j = cJSON_ParseWithLength(resp->body.data, resp->body.len);
    if (!j) err_set(err, ERR_INTERNAL, "the server answered HTTP %ld with a body that is not JSON",
                    resp->status);
    return j;
}

static const char *cli_json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

int cli_resp_check(const cli_resp_t *resp, err_t *err)
{
    if (resp->status >= 200 && resp->status < 300) return 0;

    err_code_t code = resp->status == 404   ? ERR_NOT_FOUND
                      : resp->status == 409 ? ERR_CONFLICT
                      : resp->status == 413 ? ERR_TOO_LARGE
                      : resp->status == 400 ? ERR_INVALID
                                            : ERR_INTERNAL;
    cJSON *j = cJSON_ParseWithLength(resp->body.data, resp->body.len);
    char type[128];
    snprintf(type, sizeof type, "%s", resp->error_type);
    const char *msg = NULL;
    if (cJSON_IsObject(j)) {
        /* Lambda's exceptions use "Message" or "message" depending on the type;
         * "errorMessage" is the runtime-API shape, seen through proxies. */
        msg = cli_json_str(j, "Message");
        if (!msg) msg = cli_json_str(j, "message");
        if (!msg) msg = cli_json_str(j, "errorMessage");
        if (!type[0]) {
            const char *t = cli_json_str(j, "__type");
            if (!t) t = cli_json_str(j, "code");
            if (!t) t = cli_json_str(j, "errorType");
            if (t) cli_copy_value(type, sizeof type, t, strlen(t), ':');
        }
    }
    if (!type[0]) snprintf(type, sizeof type, "HTTP %ld", resp->status);

    if (msg) {
        err_set(err, code, "%s: %s", type, msg);
    } else if (resp->body.len > 0 && !cJSON_IsObject(j)) {
        /* Not a Lambda error body (a proxy?): show its first line. */
        size_t n = strcspn(resp->body.data, "\r\n");
        if (n > 200) n = 200;
        err_set(err, code, "%s: %.*s", type, (int)n, resp->body.data);
    } else {
        err_set(err, code, "%s", type);
    }
    cJSON_Delete(j);
    return -1;
}

cJSON *cli_request_json(cli_ctx_t *ctx, const cli_req_t *req, err_t *err)
{
    cli_resp_t resp;
    if (cli_http(ctx, req, &resp, err) < 0) return NULL;
    cJSON *j = cli_resp_check(&resp, err) == 0 ? cli_resp_json(&resp, err) : NULL;
    cli_resp_free(&resp);
    return j;
}
