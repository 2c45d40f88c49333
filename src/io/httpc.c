/* httpc.c — blocking HTTP(S) POSTs on libcurl, for worker threads.
 *
 * Owns one curl handle per thread that posts (made on its first POST,
 * cleaned up when the thread ends), so a worker keeps its connections
 * alive between POSTs. Must never: run on the loop thread (httpc_post_submit
 * is how the loop asks), follow a redirect, speak anything but http(s), or
 * let libcurl raise signals in a threaded daemon.
 */
#include "io/httpc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "base/util.h"

#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_MAX_ANSWER (64u * 1024u)
#define CONNECT_TIMEOUT_MS 5000u

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static CURLcode g_init_rc = CURLE_FAILED_INIT;

static void handle_free(void *h) { curl_easy_cleanup(h); }

static void global_init(void)
{
    g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_key_create(&g_key, handle_free) != 0) g_init_rc = CURLE_FAILED_INIT;
}

static CURL *thread_handle(void)
{
    CURL *h = pthread_getspecific(g_key);
    if (h) {
        curl_easy_reset(h);   /* options go; its connections stay */
        return h;
    }
    h = curl_easy_init();
    if (h && pthread_setspecific(g_key, h) != 0) {
        curl_easy_cleanup(h);
        return NULL;
    }
    return h;
}

typedef struct {
    buf_t b;
    size_t max;
} sink_t;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    sink_t *s = arg;
    size_t len = size * n;
    if (s->b.len < s->max) buf_append(&s->b, p, len < s->max - s->b.len ? len : s->max - s->b.len);
    return len;
}

static bool is_http(const char *url)
{
    return url && (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
}

int httpc_post(const httpc_request_t *req, httpc_response_t *resp, err_t *err)
{
    memset(resp, 0, sizeof *resp);
    if (!is_http(req->url)) return err_set(err, ERR_INVALID, "not an http(s) URL: %s", req->url ? req->url : "");
    pthread_once(&g_once, global_init);
    if (g_init_rc != CURLE_OK) return err_set(err, ERR_SYS, "libcurl: %s", curl_easy_strerror(g_init_rc));
    CURL *h = thread_handle();
    if (!h) return err_set(err, ERR_SYS, "libcurl: cannot make a handle");

    struct curl_slist *hdrs = NULL, *more;
    char line[1024];
    snprintf(line, sizeof line, "Content-Type: %s", req->content_type ? req->content_type : "application/json");
    hdrs = curl_slist_append(hdrs, line);
    /* No "Expect: 100-continue" round trip before a large body. */
    if (hdrs && (more = curl_slist_append(hdrs, "Expect:"))) hdrs = more;
    for (size_t i = 0; hdrs && i < req->nheaders; i++) {
        snprintf(line, sizeof line, "%s: %s", req->headers[i].name, req->headers[i].value);
        if ((more = curl_slist_append(hdrs, line))) hdrs = more;
    }
    if (!hdrs) return err_set(err, ERR_SYS, "out of memory");

    sink_t sink = { .max = req->max_answer ? req->max_answer : DEFAULT_MAX_ANSWER };
    uint64_t timeout = req->timeout_ms ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->len : 0));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "nimbus");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout < CONNECT_TIMEOUT_MS ? timeout : CONNECT_TIMEOUT_MS));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        buf_free(&sink.b);
        return err_set(err, ERR_SYS, "POST %s: %s", req->url, curl_easy_strerror(rc));
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = (int)status;
    resp->body = buf_steal(&sink.b, &resp->len);
    return 0;
}

void httpc_response_free(httpc_response_t *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

/* ---- on a worker ---- */

typedef struct {
    httpc_request_t req;      /* pointing into the copies below */
    char *url, *content_type, *body;
    httpc_header_t *headers;
    httpc_response_t resp;
    err_t err;
    int rc;
    httpc_done_fn done;
    void *arg;
} job_t;

static char *dup_or_abort(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p) abort();
    return p;
}

static void job_run(void *arg)
{
    job_t *j = arg;
    j->rc = httpc_post(&j->req, &j->resp, &j->err);
}

static void job_done(loop_t *l, void *arg)
{
    (void)l;
    job_t *j = arg;
    if (j->done) j->done(j->arg, j->rc < 0 ? &j->err : NULL, &j->resp);
    httpc_response_free(&j->resp);
    for (size_t i = 0; i < j->req.nheaders; i++) {
        free((char *)j->headers[i].name);
        free((char *)j->headers[i].value);
    }
    free(j->headers);
    free(j->url);
    free(j->content_type);
    free(j->body);
    free(j);
}

void httpc_post_submit(loop_t *l, const httpc_request_t *req, httpc_done_fn done, void *arg)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) abort();
    j->req = *req;
    j->url = dup_or_abort(req->url);
    j->req.url = j->url;
    if (req->content_type) j->req.content_type = j->content_type = dup_or_abort(req->content_type);
    j->body = malloc(req->len + 1);
    if (!j->body) abort();
    if (req->len) memcpy(j->body, req->body, req->len);
    j->req.body = j->body;
    if (req->nheaders) {
        j->headers = calloc(req->nheaders, sizeof *j->headers);
        if (!j->headers) abort();
        for (size_t i = 0; i < req->nheaders; i++) {
            j->headers[i].name = dup_or_abort(req->headers[i].name);
            j->headers[i].value = dup_or_abort(req->headers[i].value);
        }
    }
    j->req.headers = j->headers;
    j->done = done;
    j->arg = arg;
    loop_submit(l, job_run, job_done, j);
}
