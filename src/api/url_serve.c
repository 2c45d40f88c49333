/* url_serve.c — the HTTP trigger: a request on a function URL becomes a
 * synchronous call of the function the URL names (through its alias, if
 * it has one), and the call's outcome becomes the HTTP answer.
 *
 * Lambda functions get payload format 2.0 (api/url_event.h); FC's HTTP
 * functions (runtime API "fc") get the client's request itself and answer
 * it themselves. CORS preflights are answered here, from the URL's Cors.
 *
 * Owns the client's exchange for as long as the call runs. Must never:
 * answer twice, answer a client that went away, or let a function's
 * headers break the framing of our own answer.
 */
#define _GNU_SOURCE
#include "api/url_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/auth.h"
#include "api/tenancy.h"
#include "base/util.h"
#include "core/call.h"
#include "core/runtime.h"

#define LATEST "$LATEST"

bool url_host_id(const http_request_t *req, char id[33])
{
    const char *host = http_request_header(req, "Host");
    if (!host) return false;
    static const char tag[] = ".lambda-url.";
    for (size_t i = 0; i < URL_ID_LEN; i++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)host[i]);
        if (!ch || !(isdigit(ch) || (ch >= 'a' && ch <= 'z'))) return false;
        id[i] = (char)ch;
    }
    id[URL_ID_LEN] = '\0';
    return strncasecmp(host + URL_ID_LEN, tag, sizeof tag - 1) == 0;
}

/* ---- answers ---- */

/* Headers our own framing owns: a function may not set them. */
static bool framing_header(const char *name)
{
    static const char *const h[] = { "content-length", "transfer-encoding", "connection", "keep-alive" };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        if (strcasecmp(name, h[i]) == 0) return true;
    return false;
}

/* The answer's headers (caller frees the array, not the strings): the
 * function's own but for framing, CORS, and the request id if any. */
static http_header_t *answer_headers(const http_request_t *req, const url_cfg_t *u, const char *request_id,
                                     url_response_t *r, size_t *count)
{
    if (u && u->cors) url_cors_apply(u->cors, req, r);
    http_header_t *h = calloc(r->nheaders + 1, sizeof *h);
    if (!h) abort();
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (!framing_header(r->headers[i].name)) h[n++] = r->headers[i];
    if (request_id) h[n++] = (http_header_t){ "x-amzn-RequestId", request_id };
    *count = n;
    return h;
}

/* Answers by status class (1xx..5xx), for the metrics page. Loop thread. */
static uint64_t g_answers[5];

static void count_answer(int status)
{
    if (status >= 100 && status <= 599) g_answers[status / 100 - 1]++;
}

void url_answers_by_class(uint64_t out[5]) { memcpy(out, g_answers, sizeof g_answers); }

static void respond(http_exchange_t *ex, const http_request_t *req, const url_cfg_t *u, const char *request_id,
                    url_response_t *r)
{
    count_answer(r->status);
    size_t n;
    http_header_t *h = answer_headers(req, u, request_id, r, &n);
    http_respond_owned(ex, r->status, h, n, r->body, r->body_len);
    r->body = NULL;
    r->body_len = 0;
    free(h);
    url_response_free(r);
}

static void respond_error(http_exchange_t *ex, const http_request_t *req, const url_cfg_t *u,
                          const char *request_id, url_error_t e)
{
    url_response_t r;
    url_response_error(e, &r);
    respond(ex, req, u, request_id, &r);
}

/* ---- a call through a URL ---- */

typedef struct {
    api_t *d;
    http_exchange_t *ex;      /* NULL once the client went away */
    char id[URL_ID_LEN + 1];  /* the URL: looked up again at the answer */
    call_http_t http;         /* an FC HTTP function's request */
    char *target;
    /* RESPONSE_STREAM */
    url_prelude_t *prelude;   /* reading the HTTP integration prelude */
    bool head_sent;           /* the answer's head went out: bytes follow as they come */
    bool refused;             /* answered already (a malformed prelude): the rest is dropped */
} url_call_t;

static void url_call_free(url_call_t *uc)
{
    url_prelude_free(uc->prelude);
    free(uc->target);
    free(uc);
}

/* What a forwarded call keeps of its request once the client left: its
 * request went out already, the transport only asks whether it is one. */
static const call_http_t GONE = { "GET", "/", NULL, 0 };

static void client_gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    call_t *c = arg;
    url_call_t *uc = c->owner;
    c->owner = NULL;
    if (c->http) c->http = &GONE;
    url_call_free(uc);
    call_abandon(c);
}

/* ---- RESPONSE_STREAM: the answer as the function streams it ---- */

/* The head of a streamed answer: the prelude's status and headers (or 200
 * and the stream's content type), CORS, the request id. */
static void stream_head(url_call_t *uc, call_t *c, url_response_t *r)
{
    const http_request_t *req = http_exchange_request(uc->ex);
    size_t n;
    http_header_t *h = answer_headers(req, url_find_id(uc->d, uc->id), c->request_id, r, &n);
    count_answer(r->status);
    http_respond_stream_begin(uc->ex, r->status, h, n);
    free(h);
    url_response_free(r);
    uc->head_sent = true;
}

static void sink_begin(call_t *c, const char *content_type)
{
    url_call_t *uc = c->owner;
    if (!uc) return;
    if (strcmp(content_type, URL_PRELUDE_CONTENT_TYPE) == 0) {
        if (!(uc->prelude = url_prelude_new())) abort();
        return;
    }
    url_response_t r = { .status = 200 };
    url_response_add_header(&r, "content-type", content_type);
    stream_head(uc, c, &r);
}

static int sink_data(call_t *c, const char *bytes, size_t len)
{
    url_call_t *uc = c->owner;
    if (!uc || uc->refused) return 0;
    if (!uc->head_sent) {
        size_t used;
        url_response_t r;
        err_t err;
        int rc = url_prelude_feed(uc->prelude, bytes, len, &used, &r, &err);
        if (rc == 0) return 0;
        if (rc < 0) {
            /* Nothing was sent yet: the client gets the 502 of a bad answer,
             * and the exchange is gone once answered. */
            uc->refused = true;
            http_exchange_on_drain(uc->ex, NULL, NULL);
            respond_error(uc->ex, http_exchange_request(uc->ex), url_find_id(uc->d, uc->id), c->request_id,
                          URL_ERR_BAD_RESPONSE);
            uc->ex = NULL;
            return 0;
        }
        stream_head(uc, c, &r);
        bytes += used;
        len -= used;
        if (!len) return 0;
    }
    /* -1: the client is being dropped; its abort follows. */
    return http_respond_stream_write(uc->ex, bytes, len) == 1 ? 1 : 0;
}

static const call_stream_t SINK = { sink_begin, sink_data };

static void drained(http_exchange_t *ex, void *arg)
{
    (void)ex;
    call_stream_resume(arg);
}

/* The end of a call whose answer was streamed: the head went out (or the
 * client had its 502 already) — an error now can only end the stream. */
static bool stream_end(url_call_t *uc, call_t *c, const call_result_t *res)
{
    if (uc->refused) return true;
    if (!uc->head_sent) {
        /* A stream that ended inside its prelude is no answer. */
        if (!res->streamed || res->outcome != CALL_OK) return false;
        respond_error(uc->ex, http_exchange_request(uc->ex), url_find_id(uc->d, uc->id), c->request_id,
                      URL_ERR_BAD_RESPONSE);
        return true;
    }
    http_respond_stream_end(uc->ex);
    return true;
}

/* A whole HTTP integration response (prelude + body) as the answer. */
static int buffered_prelude(const char *body, size_t len, url_response_t *r)
{
    url_prelude_t *p = url_prelude_new();
    if (!p) abort();
    size_t used = 0;
    err_t err;
    int rc = url_prelude_feed(p, body, len, &used, r, &err);
    url_prelude_free(p);
    if (rc != 1) {
        if (rc == 0) url_response_free(r);
        return -1;
    }
    r->body_len = len - used;
    r->body = malloc(r->body_len + 1);
    if (!r->body) abort();
    memcpy(r->body, body + used, r->body_len);
    r->body[r->body_len] = '\0';
    return 0;
}

static void answer(call_t *c, const call_result_t *res)
{
    url_call_t *uc = c->owner;
    c->owner = NULL;
    if (!uc) return;
    /* The call is ending: its source can no longer be resumed. */
    if (c->stream && uc->ex) http_exchange_on_drain(uc->ex, NULL, NULL);
    if (c->stream && stream_end(uc, c, res)) {
        url_call_free(uc);
        return;
    }
    http_exchange_t *ex = uc->ex;
    const http_request_t *req = http_exchange_request(ex);
    /* The URL's CORS as it is now (it may have changed meanwhile). */
    const url_cfg_t *u = url_find_id(uc->d, uc->id);
    url_response_t r;
    err_t err;
    switch (res->outcome) {
    case CALL_OK:
        if (c->http) {
            memset(&r, 0, sizeof r);
            r.status = res->http_status;
            r.headers = calloc(res->nheaders + 1, sizeof *r.headers);
            if (!r.headers) abort();
            for (size_t i = 0; i < res->nheaders; i++) {
                r.headers[i].name = strdup(res->headers[i].name);
                r.headers[i].value = strdup(res->headers[i].value);
            }
            r.nheaders = res->nheaders;
            r.body = malloc(res->len + 1);
            if (!r.body) abort();
            memcpy(r.body, res->body, res->len);
            r.body_len = res->len;
            respond(ex, req, u, c->request_id, &r);
        } else if (res->content_type && strcmp(res->content_type, URL_PRELUDE_CONTENT_TYPE) == 0) {
            /* A streaming function called through a BUFFERED URL: its
             * prelude, then the body, all at once. */
            if (buffered_prelude(res->body, res->len, &r) == 0) respond(ex, req, u, c->request_id, &r);
            else respond_error(ex, req, u, c->request_id, URL_ERR_BAD_RESPONSE);
        } else if (url_response_from_result(res->body, res->len, &r, &err) == 0) {
            respond(ex, req, u, c->request_id, &r);
        } else {
            respond_error(ex, req, u, c->request_id, URL_ERR_BAD_RESPONSE);
        }
        break;
    case CALL_FUNCTION_ERROR:
        respond_error(ex, req, u, c->request_id,
                      res->error_type && strcmp(res->error_type, "Sandbox.Timedout") == 0 ? URL_ERR_TIMEOUT
                                                                                          : URL_ERR_FUNCTION);
        break;
    case CALL_THROTTLED:
        respond_error(ex, req, u, c->request_id, URL_ERR_THROTTLED);
        break;
    case CALL_REJECTED:
        respond_error(ex, req, u, c->request_id, res->status == 404 ? URL_ERR_NOT_FOUND : URL_ERR_FUNCTION);
        break;
    }
    url_call_free(uc);
}

/* The payload 2.0 event of this request (NULL: err). */
static char *event_payload(const char *request_id, http_exchange_t *ex, http_request_t *req, const url_cfg_t *u,
                           const char *raw_path, bool by_host, size_t *len, err_t *err)
{
    char ip[64], domain[160];
    http_exchange_peer(ex, ip, sizeof ip);
    if (by_host) {
        /* The host name the client used, without its port. */
        snprintf(domain, sizeof domain, "%s", http_request_header(req, "Host"));
        char *colon = strrchr(domain, ':');
        if (colon) *colon = '\0';
    } else {
        snprintf(domain, sizeof domain, "%s.lambda-url.%s.localhost", u->id, NIMBUS_REGION);
    }
    url_request_t r = { .req = req, .raw_path = raw_path, .raw_query = req->query, .url_id = u->id,
                        .domain = domain, .account = NIMBUS_ACCOUNT, .source_ip = ip,
                        .request_id = request_id, .time_ms = (int64_t)loop_wall_ms() };
    return url_event_build(&r, len, err);
}

static void serve_granted(api_t *d, http_exchange_t *ex, http_request_t *req);

/* AuthType AWS_IAM: the request is SigV4-signed (service "lambda") by a
 * key of the function's account, or of one its policy allows
 * lambda:InvokeFunctionUrl. Unsigned: 403 {"Message":"Forbidden"}, as
 * Lambda's URLs answer. false: answered, or waiting for the policy. */
static void serve_denied(api_t *d, http_exchange_t *ex, http_request_t *req);

static bool iam_allows(api_t *d, http_exchange_t *ex, http_request_t *req, const url_cfg_t *u, router_fn_t *latest)
{
    bool presigned = strstr(req->query, "X-Amz-Signature=") != NULL;
    if (!d->auth || (!http_request_header(req, "Authorization") && !presigned)) {
        respond_error(ex, req, u, NULL, URL_ERR_FORBIDDEN);
        return false;
    }
    auth_key_t *who = auth_verify_sigv4(d->auth, ex, req, (int64_t)time(NULL));
    if (!who) return false;
    req->principal = who;
    return tenancy_check_url(d, ex, req, who, &latest->cfg, serve_granted, serve_denied);
}

static void serve(api_t *d, http_exchange_t *ex, http_request_t *req, const char *id, const char *raw_path,
                  bool by_host, bool granted);

/* The URL a request was for: its id, and its rawPath (by host name, the
 * whole path; else what follows /nimbus/url/<id>). */
static bool request_url(http_request_t *req, char id[33], const char **raw_path)
{
    if (url_host_id(req, id)) {
        *raw_path = req->path;
        return true;
    }
    const char *s = req->path + strlen("/nimbus/url/"), *rest = strchr(s, '/');
    size_t n = rest ? (size_t)(rest - s) : strlen(s);
    snprintf(id, 33, "%.*s", (int)(n < 32 ? n : 32), s);
    *raw_path = rest && *rest ? rest : "/";
    return false;
}

/* The owner's policy allowed the caller: serve the request again. */
static void serve_granted(api_t *d, http_exchange_t *ex, http_request_t *req)
{
    char id[33];
    const char *raw;
    bool by_host = request_url(req, id, &raw);
    serve(d, ex, req, id, raw, by_host, true);
}

/* A signed caller of an account the owner's policy does not allow: the
 * same 403 {"Message":"Forbidden"} as an unsigned one (with the URL's CORS
 * headers, if it still exists). */
static void serve_denied(api_t *d, http_exchange_t *ex, http_request_t *req)
{
    char id[33];
    const char *raw;
    request_url(req, id, &raw);
    respond_error(ex, req, url_find_id(d, id), NULL, URL_ERR_FORBIDDEN);
}

void url_serve(api_t *d, http_exchange_t *ex, http_request_t *req, const char *id, const char *raw_path,
               bool by_host)
{
    serve(d, ex, req, id, raw_path, by_host, false);
}

static void serve(api_t *d, http_exchange_t *ex, http_request_t *req, const char *id, const char *raw_path,
                  bool by_host, bool granted)
{
    const url_cfg_t *u = url_find_id(d, id);
    if (!u) {
        respond_error(ex, req, NULL, NULL, URL_ERR_NOT_FOUND);
        return;
    }
    url_response_t pre;
    if (u->cors && url_cors_preflight(u->cors, req, &pre)) {
        respond(ex, req, NULL, NULL, &pre);
        return;
    }
    router_fn_t *latest = router_find(d->router, u->key.function);
    router_fn_t *fn = latest ? router_resolve(d->router, latest, strcmp(u->key.qualifier, LATEST) ? u->key.qualifier : "")
                             : NULL;
    if (!fn) {
        respond_error(ex, req, u, NULL, URL_ERR_NOT_FOUND);
        return;
    }
    if (u->iam && !granted && !iam_allows(d, ex, req, u, latest)) return;
    if (req->body_len > d->cfg.invoke_max_bytes) {
        respond_error(ex, req, u, NULL, URL_ERR_TOO_LARGE);
        return;
    }
    if (d->core->stopping || router_refuse_reason(d->router, fn)) {
        if (!d->core->stopping) metrics_call_refused(d->router, fn);
        respond_error(ex, req, u, NULL, URL_ERR_THROTTLED);
        return;
    }
    /* A runtime the table no longer has (a --runtime-map entry dropped) fails at the call. */
    const runtime_t *rt = runtime_find(fn->cfg.runtime);
    bool forward = rt && rt->api == RUNTIME_API_FC;
    char rid[37];
    char *event = NULL;
    size_t event_len = 0;
    util_uuid4(rid);
    if (!forward) {
        err_t err;
        if (!(event = event_payload(rid, ex, req, u, raw_path, by_host, &event_len, &err))) {
            api_respond_error(ex, 500, "ServiceException", "%s", err.msg);
            return;
        }
    }
    call_t *c = call_new(d->router, fn);
    url_call_t *uc = c ? calloc(1, sizeof *uc) : NULL;
    if (!uc) abort();
    memcpy(c->request_id, rid, sizeof rid);
    uc->d = d;
    uc->ex = ex;
    memcpy(uc->id, u->id, sizeof uc->id);
    if (strcmp(u->key.qualifier, LATEST) != 0) snprintf(c->qualifier, sizeof c->qualifier, "%s", u->key.qualifier);
    if (forward) {
        /* FC's HTTP function: its own server answers the request itself. */
        if (asprintf(&uc->target, "%s%s%s", raw_path, *req->query ? "?" : "", req->query) < 0) abort();
        uc->http = (call_http_t){ .method = req->method, .target = uc->target, .headers = req->headers,
                                  .nheaders = req->nheaders };
        c->http = &uc->http;
        if (req->body_len) c->payload = http_request_take_body(ex, &c->payload_len);
    } else {
        c->payload = event;
        c->payload_len = event_len;
    }
    c->done = answer;
    c->owner = uc;
    if (u->stream && !forward) {
        c->stream = &SINK;
        http_exchange_on_drain(ex, drained, c);
    }
    http_exchange_on_abort(ex, client_gone, c);
    call_submit(c);
}
