/* fc.c — the daemon as client of a `provided.fc` instance's HTTP server.
 *
 * Owns the connections to each FC instance (one per busy slot, kept alive
 * and reused), the start-up probe, /initialize, /invoke and /pre-stop.
 * Responses are parsed with llhttp in response mode. Must never: block on a
 * connect, or answer a call that has already ended another way (timeout,
 * instance exit): a call's end detaches its connection first.
 */
#include "transport/fc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "llhttp.h"

#include "base/errdoc.h"
#include "core/call.h"
#include "core/instance.h"
#include "io/http.h"

#define PROBE_INTERVAL_MS 5
#define PRESTOP_TIMEOUT_MS 1000
#define LOST_GRACE_MS 250       /* a closed connection waits this long for the exit */

typedef enum { REQ_PROBE, REQ_INIT, REQ_INVOKE, REQ_PRESTOP } req_kind_t;

typedef struct fc_conn {
    struct fc_state *fs;
    int fd;
    bool connected;
    req_kind_t kind;
    call_t *call;              /* REQ_INVOKE: the call, until it ends */
    buf_t out;                 /* request bytes not yet written */
    size_t out_off;
    llhttp_t parser;
    buf_t hname, hval;         /* header being parsed */
    bool in_value;
    int status;
    char fc_status[8];         /* x-fc-status */
    char ctype[128];
    bool keep_headers;         /* an HTTP call: every response header goes back */
    buf_t rh;                  /* ... as "name\0value\0" pairs */
    size_t nrh;
    buf_t body;
    bool complete;
    struct fc_conn *next;      /* in fs->idle */
} fc_conn_t;

typedef struct fc_state {
    loop_t *loop;
    instance_t *in;
    int port;
    fc_conn_t *idle;                          /* connected, nothing in flight */
    loop_timer_t *probe_timer;
    loop_timer_t *prestop_timer;
    fc_conn_t *prestop;
    fc_conn_t *starting;                      /* the probe's (then /initialize's) connection */
    void (*prestop_then)(instance_t *);
} fc_state_t;

static llhttp_settings_t g_settings;
static bool g_settings_init;

static int pick_port(err_t *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return err_sys(err, "socket");
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    else
        err_sys(err, "pick a port for the function's server");
    close(fd);
    return port;
}

/* ---- response parsing ---- */

static fc_conn_t *conn_of(llhttp_t *p) { return p->data; }

static void end_header(fc_conn_t *c)
{
    if (!c->hname.len) return;
    const char *v = c->hval.data ? c->hval.data : "";
    if (strcasecmp(c->hname.data, "x-fc-status") == 0) snprintf(c->fc_status, sizeof c->fc_status, "%s", v);
    if (strcasecmp(c->hname.data, "content-type") == 0) snprintf(c->ctype, sizeof c->ctype, "%s", v);
    if (c->keep_headers) {
        buf_append(&c->rh, c->hname.data, c->hname.len + 1);
        buf_append(&c->rh, v, strlen(v) + 1);
        c->nrh++;
    }
    buf_reset(&c->hname);
    buf_reset(&c->hval);
}

static int on_hfield(llhttp_t *p, const char *at, size_t n)
{
    fc_conn_t *c = conn_of(p);
    if (c->in_value) { end_header(c); c->in_value = false; }
    buf_append(&c->hname, at, n);
    return 0;
}

static int on_hvalue(llhttp_t *p, const char *at, size_t n)
{
    fc_conn_t *c = conn_of(p);
    c->in_value = true;
    buf_append(&c->hval, at, n);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    fc_conn_t *c = conn_of(p);
    end_header(c);
    c->in_value = false;
    c->status = p->status_code;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    buf_append(&conn_of(p)->body, at, n);
    return 0;
}

static int on_complete(llhttp_t *p)
{
    conn_of(p)->complete = true;
    return HPE_PAUSED;   /* one response at a time */
}

static void settings_init(void)
{
    if (g_settings_init) return;
    llhttp_settings_init(&g_settings);
    g_settings.on_header_field = on_hfield;
    g_settings.on_header_value = on_hvalue;
    g_settings.on_headers_complete = on_headers_complete;
    g_settings.on_body = on_body;
    g_settings.on_message_complete = on_complete;
    g_settings_init = true;
}

/* ---- connections ---- */

static void conn_io(loop_t *l, int fd, uint32_t events, void *arg);

static void conn_close(fc_conn_t *c)
{
    loop_t *l = c->fs->loop;
    if (c->fd >= 0) {
        loop_del_fd(l, c->fd);
        close(c->fd);
    }
    buf_free(&c->out);
    buf_free(&c->hname);
    buf_free(&c->hval);
    buf_free(&c->body);
    buf_free(&c->rh);
    free(c);
}

static void call_ended(call_t *call)
{
    /* The call ended another way (timeout, instance exit): drop its
     * connection; whatever the server still sends is not wanted. */
    fc_conn_t *c = call->transport;
    call->transport = NULL;
    call->transport_end = NULL;
    if (c) conn_close(c);
}

static fc_conn_t *conn_new(fc_state_t *fs, err_t *err)
{
    fc_conn_t *c = calloc(1, sizeof *c);
    if (!c) { err_set(err, ERR_SYS, "out of memory"); return NULL; }
    c->fs = fs;
    /* Made inside the instance's network namespace when it has one: there
     * 127.0.0.1 is the instance's own loopback. */
    c->fd = sandbox_socket(&fs->in->proc, err);
    if (c->fd < 0) { free(c); return NULL; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)fs->port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        err_sys(err, "connect 127.0.0.1:%d", fs->port);
        close(c->fd);
        free(c);
        return NULL;
    }
    if (loop_add_fd(fs->loop, c->fd, EPOLLOUT, conn_io, c, err) < 0) {
        close(c->fd);
        free(c);
        return NULL;
    }
    return c;
}

static void conn_send(fc_conn_t *c, req_kind_t kind, const char *method, const char *path,
                      const http_header_t *h, size_t nh, const http_header_t *extra, size_t nextra,
                      const char *body, size_t len)
{
    settings_init();
    c->kind = kind;
    c->complete = false;
    c->status = 0;
    c->fc_status[0] = c->ctype[0] = '\0';
    buf_reset(&c->body);
    buf_reset(&c->rh);
    c->nrh = 0;
    buf_reset(&c->out);
    c->out_off = 0;
    llhttp_init(&c->parser, HTTP_RESPONSE, &g_settings);
    c->parser.data = c;
    bool host = false;
    for (size_t i = 0; i < nextra; i++) host = host || strcasecmp(extra[i].name, "Host") == 0;
    buf_appendf(&c->out, "%s %s HTTP/1.1\r\nContent-Length: %zu\r\n", method, path, len);
    if (!host) buf_appendf(&c->out, "Host: 127.0.0.1:%d\r\n", c->fs->port);
    for (size_t i = 0; i < nextra; i++) buf_appendf(&c->out, "%s: %s\r\n", extra[i].name, extra[i].value);
    for (size_t i = 0; i < nh; i++) buf_appendf(&c->out, "%s: %s\r\n", h[i].name, h[i].value);
    buf_append(&c->out, "\r\n", 2);
    if (len) buf_append(&c->out, body, len);
    loop_mod_fd(c->fs->loop, c->fd, EPOLLOUT, NULL);
}

static void finished(fc_conn_t *c, bool ok);

/* Servers that write headers and body separately (Python's http.server
 * does) would otherwise wait on Nagle for our delayed ACK: 40 ms a call.
 * The kernel clears the flag after use, so it is set while waiting. */
static void quickack(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

static void conn_io(loop_t *l, int fd, uint32_t events, void *arg)
{
    fc_conn_t *c = arg;
    if (!c->connected) {
        int e = 0;
        socklen_t el = sizeof e;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
        if (e || (events & (EPOLLERR | EPOLLHUP))) { finished(c, false); return; }
        c->connected = true;
        if (c->kind == REQ_PROBE) { finished(c, true); return; }
    }
    if ((events & EPOLLOUT) && c->out_off < c->out.len) {
        ssize_t w = send(fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) { finished(c, false); return; }
        if (w > 0) c->out_off += (size_t)w;
        if (c->out_off == c->out.len) {
            loop_mod_fd(l, fd, EPOLLIN, NULL);
            quickack(fd);
        }
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        char buf[65536];
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (k <= 0) {
            /* EOF: a response without length ends here. */
            if (k == 0 && llhttp_finish(&c->parser) == HPE_OK && c->complete) finished(c, true);
            else finished(c, false);
            return;
        }
        quickack(fd);
        llhttp_errno_t rc = llhttp_execute(&c->parser, buf, (size_t)k);
        if (rc != HPE_OK && rc != HPE_PAUSED) { finished(c, false); return; }
        if (c->complete) finished(c, true);
    }
}

/* ---- requests ---- */

/* Send one of FC's requests on `c` with FC's x-fc-* headers; `rid` NULL:
 * a request id of its own (/initialize, /pre-stop). An HTTP call sends
 * the client's request line and headers (`http`) under control path
 * /http-invoke. */
static void fc_request(fc_conn_t *c, req_kind_t kind, const char *method, const char *path, const char *rid,
                       const call_http_t *http, const char *body, size_t len)
{
    const function_config_t *cfg = &c->fs->in->fn->cfg;
    char mem[16], to[16], own[37];
    if (!rid) {
        util_uuid4(own);
        rid = own;
    }
    snprintf(mem, sizeof mem, "%d", cfg->memory_mb);
    snprintf(to, sizeof to, "%d", cfg->timeout_s);
    /* An event's type; an HTTP call keeps the client's own, if it sent one. */
    static const http_header_t octet = { "Content-Type", "application/octet-stream" };
    const http_header_t h[] = {
        { "x-fc-request-id", rid },
        { "x-fc-function-name", cfg->name },
        { "x-fc-function-handler", cfg->handler },
        { "x-fc-function-memory", mem },
        { "x-fc-function-timeout", to },
        { "x-fc-function-initializer", cfg->initializer ? "initializer" : "" },
        { "x-fc-region", NIMBUS_REGION },
        { "x-fc-account-id", NIMBUS_ACCOUNT },
        { "x-fc-qualifier", "LATEST" },
        { "x-fc-service-name", "nimbus" },
        { "x-fc-control-path", http ? "/http-invoke" : path },
    };
    size_t nh = sizeof h / sizeof h[0];
    if (!http) {
        conn_send(c, kind, method, path, h, nh, &octet, 1, body, len);
        return;
    }
    /* The client's own headers, but not the framing of its connection, and
     * never a forged x-fc-* (the platform's are the only ones). */
    static const char *const hop[] = { "connection", "keep-alive", "transfer-encoding", "content-length", "te",
                                       "upgrade", "expect", "proxy-connection", "trailer" };
    http_header_t *x = calloc(http->nheaders + 1, sizeof *x);
    if (!x) abort();
    size_t nx = 0;
    bool ctype = false;
    for (size_t i = 0; i < http->nheaders; i++) {
        const char *name = http->headers[i].name;
        bool skip = strncasecmp(name, "x-fc-", 5) == 0;
        for (size_t k = 0; !skip && k < sizeof hop / sizeof hop[0]; k++) skip = strcasecmp(name, hop[k]) == 0;
        if (skip) continue;
        ctype = ctype || strcasecmp(name, "Content-Type") == 0;
        x[nx++] = http->headers[i];
    }
    if (!ctype) x[nx++] = octet;
    c->keep_headers = true;
    conn_send(c, kind, http->method, http->target, h, nh, x, nx, body, len);
    free(x);
}

static void became_ready(fc_state_t *fs, fc_conn_t *c)
{
    instance_t *in = fs->in;
    c->next = fs->idle;
    fs->idle = c;
    instance_seen(in);
    /* Every slot is free: the server takes `capacity` calls at once. */
    for (unsigned i = 0; i < in->capacity; i++) instance_slot_opened(in);
    instance_ready(in);
}

static void init_failed(fc_state_t *fs, const char *type, const char *msg, const char *body, size_t len)
{
    instance_t *in = fs->in;
    if (len) {
        instance_init_failed(in, type, body, len);
    } else {
        size_t n;
        char *doc = errdoc_function(type, msg, &n);
        instance_init_failed(in, type, doc, n);
        free(doc);
    }
    instance_kill(in);
}

static void probe(loop_t *l, void *arg);

static void start_probe(fc_state_t *fs)
{
    fs->probe_timer = loop_timer_add(fs->loop, PROBE_INTERVAL_MS, probe, fs);
}

/* A call whose connection closed before its answer: it waits a moment for
 * the instance's exit, which ends it as Runtime.ExitError like any
 * runtime's; a server that lives on but dropped the call is not trusted
 * with another. */
typedef struct {
    fc_state_t *fs;
    call_t *call;
    loop_timer_t *timer;
} fc_lost_t;

static void lost_end(call_t *call)
{
    /* Ended another way first (the instance's exit, the deadline). */
    fc_lost_t *l = call->transport;
    call->transport = NULL;
    call->transport_end = NULL;
    loop_timer_cancel(l->fs->loop, l->timer);
    free(l);
}

static void lost_timeout(loop_t *lp, void *arg)
{
    (void)lp;
    fc_lost_t *l = arg;
    call_t *call = l->call;
    instance_t *in = l->fs->in;
    call->transport = NULL;
    call->transport_end = NULL;
    free(l);
    instance_answered(in, call);
    call_fail(call, "Runtime.ConnectionError",
              "the function's HTTP server closed the connection without a complete response");
    instance_kill(in);
}

static void connection_lost(fc_state_t *fs, call_t *call)
{
    fc_lost_t *l = calloc(1, sizeof *l);
    if (!l) abort();
    *l = (fc_lost_t){ .fs = fs, .call = call };
    call->transport = l;
    call->transport_end = lost_end;
    l->timer = loop_timer_add(fs->loop, LOST_GRACE_MS, lost_timeout, l);
}

static void finished(fc_conn_t *c, bool ok)
{
    fc_state_t *fs = c->fs;
    instance_t *in = fs->in;
    loop_t *l = fs->loop;
    bool failed_status = c->status >= 400 || strcmp(c->fc_status, "404") == 0;
    if (fs->starting == c) fs->starting = NULL;
    switch (c->kind) {
    case REQ_PROBE:
        if (!ok) {                      /* not listening yet */
            conn_close(c);
            if (!in->exited && in->state == INST_STARTING) start_probe(fs);
            return;
        }
        if (in->fn->cfg.initializer) {
            in->runtime_up_ns = loop_now_ns();   /* the handler's own init starts (metrics) */
            fc_request(c, REQ_INIT, "POST", "/initialize", NULL, NULL, NULL, 0);
            fs->starting = c;
            return;
        }
        became_ready(fs, c);
        return;
    case REQ_INIT:
        if (ok && !failed_status) { became_ready(fs, c); return; }
        char msg[128];
        snprintf(msg, sizeof msg, "Function initializer failed: HTTP status %d", c->status);
        init_failed(fs, "Runtime.InitializerError", msg, ok ? c->body.data : NULL, ok ? c->body.len : 0);
        conn_close(c);
        return;
    case REQ_PRESTOP: {
        void (*then)(instance_t *) = fs->prestop_then;
        fs->prestop = NULL;
        fs->prestop_then = NULL;
        loop_timer_cancel(l, fs->prestop_timer);
        fs->prestop_timer = NULL;
        conn_close(c);
        if (then) then(in);
        return;
    }
    case REQ_INVOKE:
        break;
    }
    call_t *call = c->call;
    c->call = NULL;
    if (call && !ok) {
        /* Closed mid-call: most likely the server died, and its exit
         * (with its status) is about to be seen. The call waits for it on
         * the instance; the slot is not given back. */
        conn_close(c);
        connection_lost(fs, call);
        return;
    }
    if (call) {
        call->transport = NULL;
        call->transport_end = NULL;
        instance_answered(in, call);
        if (call->http) {
            /* The server's answer goes back unchanged, whatever its status. */
            http_header_t *h = calloc(c->nrh + 1, sizeof *h);
            if (!h) abort();
            const char *p = c->rh.data;
            for (size_t i = 0; i < c->nrh; i++) {
                h[i].name = p;
                p += strlen(p) + 1;
                h[i].value = p;
                p += strlen(p) + 1;
            }
            call_complete_http(call, c->status, h, c->nrh, c->body.data ? c->body.data : "", c->body.len);
            free(h);
        } else if (failed_status) {
            if (c->body.len) call_fail_function(call, c->body.data, c->body.len);
            else call_fail(call, "Function.Error", "HTTP status %d, x-fc-status %s", c->status,
                             c->fc_status[0] ? c->fc_status : "-");
        } else {
            call_complete(call, c->body.data ? c->body.data : "", c->body.len,
                            c->ctype[0] ? c->ctype : "application/octet-stream");
        }
    }
    if (ok && llhttp_should_keep_alive(&c->parser) && !in->exited) {
        loop_mod_fd(l, c->fd, 0, NULL);
        c->next = fs->idle;
        fs->idle = c;
    } else {
        conn_close(c);
    }
    if (!in->exited && in->state == INST_READY) instance_slot_opened(in);   /* the slot is free */
}

static void probe(loop_t *l, void *arg)
{
    (void)l;
    fc_state_t *fs = arg;
    fs->probe_timer = NULL;
    err_t err;
    fc_conn_t *c = conn_new(fs, &err);
    if (!c) { start_probe(fs); return; }
    c->kind = REQ_PROBE;
    fs->starting = c;
}

/* In its own network namespace the server listens on its HttpPort;
 * sharing the host's, it needs a free port of its own. */
static int prepare(instance_t *in, envlist_t *env, err_t *err)
{
    fc_state_t *fs = calloc(1, sizeof *fs);
    if (!fs) return err_set(err, ERR_SYS, "out of memory");
    const core_ctx_t *ctx = instance_ctx(in);
    const function_config_t *c = &in->fn->cfg;
    fs->loop = ctx->loop;
    fs->in = in;
    if (ctx->sandbox->enabled() && c->network != FUNCTION_NETWORK_HOST) fs->port = c->http_port;
    else if ((fs->port = pick_port(err)) < 0) { free(fs); return -1; }
    in->tp_state = fs;
    envlist_addf(env, "FC_SERVER_PORT", "%d", fs->port);
    envlist_add(env, "FC_FUNCTION_NAME", c->name);
    envlist_add(env, "FC_FUNCTION_HANDLER", c->handler);
    envlist_addf(env, "FC_FUNCTION_MEMORY_SIZE", "%d", c->memory_mb);
    envlist_add(env, "FC_REGION", NIMBUS_REGION);
    return 0;
}

/* Start waiting for the server of a freshly started instance. */
static int attach(instance_t *in, err_t *err)
{
    (void)err;
    start_probe(in->tp_state);
    return 0;
}

/* A server that never listens must fail its call with a clear
 * FunctionNotStarted, so the start-up wait ends just before the call's own
 * deadline when that is shorter than the init limit. */
static uint64_t init_limit_ms(const instance_t *in, uint64_t dflt)
{
    uint64_t fn_ms = (uint64_t)in->fn->cfg.timeout_s * 1000u;
    return fn_ms - 100 < dflt ? fn_ms - 100 : dflt;
}

static void init_timed_out(instance_t *in)
{
    fc_state_t *fs = in->tp_state;
    if (in->init_error || !fs) return;
    char msg[200];
    snprintf(msg, sizeof msg,
             "The CA's http server cannot be started: no server listening on port %d after %llu ms",
             fs->port, (unsigned long long)((loop_now_ns() - in->spawn_ns) / 1000000u));
    size_t n;
    char *doc = errdoc_function("FunctionNotStarted", msg, &n);
    instance_init_failed(in, "FunctionNotStarted", doc, n);
    free(doc);
}

static void deliver(instance_t *in, call_t *c)
{
    fc_state_t *fs = in->tp_state;
    err_t err;
    fc_conn_t *conn = fs->idle;
    if (conn) fs->idle = conn->next;
    else conn = conn_new(fs, &err);
    if (!conn) {
        instance_answered(in, c);
        call_fail(c, "Runtime.ConnectionError", "%s", err.msg);
        instance_slot_opened(in);
        return;
    }
    conn->call = c;
    c->transport = conn;
    c->transport_end = call_ended;
    conn->keep_headers = false;
    fc_request(conn, REQ_INVOKE, "POST", "/invoke", c->request_id, c->http, c->payload, c->payload_len);
}

static void prestop_timeout(loop_t *l, void *arg)
{
    (void)l;
    fc_state_t *fs = arg;
    fs->prestop_timer = NULL;
    if (fs->prestop) {
        fc_conn_t *c = fs->prestop;
        c->status = 0;
        finished(c, false);   /* runs `then` */
    }
}

/* Before SIGTERM: GET /pre-stop, then `then` when it answered, failed or
 * took over a second. */
static void pre_stop(instance_t *in, void (*then)(instance_t *))
{
    fc_state_t *fs = in->tp_state;
    err_t err;
    fc_conn_t *c = fs && fs->port > 0 ? conn_new(fs, &err) : NULL;
    if (!c) { then(in); return; }
    fs->prestop = c;
    fs->prestop_then = then;
    fc_request(c, REQ_PRESTOP, "GET", "/pre-stop", NULL, NULL, NULL, 0);
    fs->prestop_timer = loop_timer_add(fs->loop, PRESTOP_TIMEOUT_MS, prestop_timeout, fs);
}

/* Free what the instance's FC side holds (instance exit). */
static void detach(instance_t *in)
{
    fc_state_t *fs = in->tp_state;
    if (!fs) return;
    loop_t *l = fs->loop;
    loop_timer_cancel(l, fs->probe_timer);
    loop_timer_cancel(l, fs->prestop_timer);
    while (fs->idle) {
        fc_conn_t *c = fs->idle;
        fs->idle = c->next;
        conn_close(c);
    }
    if (fs->prestop) conn_close(fs->prestop);
    /* A probe or /initialize still in flight holds fs: it must not outlive it. */
    if (fs->starting) conn_close(fs->starting);
    free(fs);
    in->tp_state = NULL;
}

const transport_t fc_transport = {
    .name = "fc",
    .prepare = prepare,
    .attach = attach,
    .init_limit_ms = init_limit_ms,
    .init_timed_out = init_timed_out,
    .deliver = deliver,
    .pre_stop = pre_stop,
    .detach = detach,
};
