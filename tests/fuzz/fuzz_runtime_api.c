/* fuzz_runtime_api.c — libFuzzer target for the Runtime API (transport/runtime_api.c).
 *
 * The seam: the real core (router, pools, instances, calls, logs) with a
 * fake sandbox whose "instance" is only a listening socket on loopback, so
 * the real runtime API serves it; the fuzzer plays the runtime inside, over
 * a TCP connection to that socket. No daemon, no process.
 *
 * Input: byte 0 picks the contract (bit 0: SCF's paths), how many calls are
 * waiting (bits 1-2: 0..3) and the function's InstanceConcurrency (bit 3:
 * 1 or 3). The rest is what the runtime sends, cut into writes at each
 * "@@" (the loop runs between writes); "$ID" in a write becomes the request
 * id of the instance's first running call, so /response and /error reach
 * past the id check. After the last write the client half-closes, then the
 * instance "exits" and the loop runs until it is gone.
 *
 * Besides the sanitizers, it checks: every call is told its outcome exactly
 * once; what the runtime received parses as HTTP/1.1 responses; afterwards
 * no instance and no call is left.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/call.h"
#include "core/core.h"
#include "core/instance.h"
#include "core/logs.h"
#include "core/router.h"
#include "core/transport.h"
#include "io/loop.h"
#include "store/codestore.h"
#include "store/store.h"
#include "transport/runtime_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_runtime_api: invariant broken: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

/* ---- a fake sandbox: an instance is a listening socket and two fds ---- */

#define MAXP 16
static struct {
    sandbox_proc_t *p;
    int out_w;
    int port;
    bool exited, killed;
} P[MAXP];
static int NP;

static int find(const sandbox_proc_t *p)
{
    for (int i = 0; i < NP; i++)
        if (P[i].p == p) return i;
    return -1;
}

static void proc_exit(int i)
{
    uint64_t one = 1;
    if (P[i].exited) return;
    P[i].exited = true;
    if (write(P[i].p->pidfd, &one, sizeof one) != sizeof one) abort();
}

static bool f_enabled(void) { return true; }

static int f_start(const sandbox_spec_t *spec, sandbox_proc_t *p, sandbox_done_fn done, void *arg, err_t *err)
{
    (void)spec; (void)done; (void)arg;
    if (NP == MAXP) return err_set(err, ERR_SYS, "fake sandbox full");
    int pipefd[2];
    if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) < 0) return err_sys(err, "pipe");
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 16) < 0 ||
        getsockname(l, (struct sockaddr *)&sa, &sl) < 0)
        abort();
    memset(p, 0, sizeof *p);
    p->pid = 200000 + NP;
    p->pidfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->out_fd = pipefd[0];
    p->err_fd = p->status_fd = p->peak_fd = p->oom_fd = -1;
    p->api_fd = l;
    P[NP++] = (typeof(P[0])){ .p = p, .out_w = pipefd[1], .port = ntohs(sa.sin_port) };
    return 1;   /* started already, like an unsandboxed spawn */
}

static void f_kill(sandbox_proc_t *p)
{
    int i = find(p);
    if (i < 0 || P[i].exited) return;
    P[i].killed = true;
    proc_exit(i);
}

static void f_terminate(sandbox_proc_t *p) { f_kill(p); }

static int f_reap(sandbox_proc_t *p, int *code, int *status)
{
    int i = find(p);
    *code = i >= 0 && P[i].killed ? CLD_KILLED : CLD_EXITED;
    *status = i >= 0 && P[i].killed ? SIGKILL : 0;
    return 0;
}

static int64_t f_peak(const sandbox_proc_t *p) { (void)p; return 1 << 20; }
static void f_reset(sandbox_proc_t *p) { (void)p; }
static bool f_oom(const sandbox_proc_t *p) { (void)p; return false; }

static void f_release(sandbox_proc_t *p)
{
    int i = find(p);
    if (p->pidfd >= 0) close(p->pidfd);
    if (p->out_fd >= 0) close(p->out_fd);
    if (i >= 0 && P[i].out_w >= 0) close(P[i].out_w);
    p->pidfd = p->out_fd = -1;
    if (i >= 0) P[i].out_w = -1;
}

static const sandbox_ops_t FAKE = {
    .enabled = f_enabled, .start = f_start, .kill = f_kill, .terminate = f_terminate, .reap = f_reap,
    .memory_peak = f_peak, .memory_reset = f_reset, .release = f_release, .oom_killed = f_oom,
};

/* ---- the world, made once ---- */

static char DIR_[] = "/tmp/nimbus-fuzz-rapi-XXXXXX";
static const char HEX[] = "00000000000000000000000000000000000000000000000000000000000000bb";
static loop_t *L;
static core_ctx_t CTX;
static router_t *R;
static rapi_t *API;

static void stop_cb(loop_t *l, void *arg) { (void)arg; loop_stop(l); }

static void spin(unsigned ms)
{
    err_t err;
    loop_timer_add(L, ms, stop_cb, NULL);
    if (loop_run(L, &err) != 0) fail("loop_run", err.msg);
}

static void world(void)
{
    err_t err;
    char path[300], tree[400];
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(DIR_)) abort();
    if (!(L = loop_new(1, &err))) fail("loop", err.msg);
    snprintf(path, sizeof path, "%s/nimbus.db", DIR_);
    store_t *st = store_open(path, &err);
    if (!st) fail("store", err.msg);
    snprintf(path, sizeof path, "%s/code", DIR_);
    codestore_limits_t lim = { .max_zip_bytes = 1 << 20, .max_unzipped_bytes = 1 << 20 };
    codestore_t *code = codestore_open(path, &lim, &err);
    if (!code) fail("codestore", err.msg);
    /* A code tree with a bootstrap: what runtime "provided" needs. */
    codestore_tree_path(code, HEX, tree, sizeof tree);
    snprintf(path, sizeof path, "%s/code/%s", DIR_, HEX);
    if (mkdir(path, 0700) < 0 || mkdir(tree, 0700) < 0) abort();
    snprintf(path, sizeof path, "%s/bootstrap", tree);
    int fd = open(path, O_CREAT | O_WRONLY, 0755);
    if (fd < 0) abort();
    close(fd);
    if (!(API = runtime_api_new(L, NULL, &err))) fail("runtime_api_new", err.msg);
    CTX = (core_ctx_t){ .loop = L, .code = code, .sandbox = &FAKE };
    if (!(CTX.logs = logs_new(L, st, &err))) fail("logs", err.msg);
    core_limits_defaults(&CTX.limits);
    CTX.limits.max_instances_per_fn = 4;
    CTX.limits.account_concurrency = 100;
    CTX.limits.keep_alive_ms = 60000;
    CTX.limits.throttle_wait_ms = 60000;
    CTX.limits.max_queue = 100;
    for (int i = 0; i < RUNTIME_API_COUNT; i++) CTX.transports[i] = runtime_api_lambda(API);
    CTX.transports[RUNTIME_API_SCF] = runtime_api_scf(API);
    if (!(R = router_new(&CTX))) fail("router", NULL);
}

static router_fn_t *add_fn(const char *name, const char *runtime, int concurrency)
{
    function_config_t cfg;
    function_config_init(&cfg);
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    snprintf(cfg.runtime, sizeof cfg.runtime, "%s", runtime);
    snprintf(cfg.handler, sizeof cfg.handler, "x");
    memcpy(cfg.code_hex, HEX, sizeof cfg.code_hex);
    cfg.instance_concurrency = concurrency;
    cfg.timeout_s = 60;    /* the input ends the calls, never the clock */
    router_fn_t *fn = router_add(R, &cfg);
    function_config_free(&cfg);
    if (!fn) fail("router_add", name);
    return fn;
}

/* ---- calls ---- */

static int n_done[4];

static void on_done(call_t *c, const call_result_t *res)
{
    (void)res;
    int i = (int)(intptr_t)c->owner;
    if (++n_done[i] != 1) fail("a call was told its outcome twice", c->request_id);
}

/* ---- the runtime's side ---- */

static char *out;
static size_t out_len, out_cap;

static void drain(int s)
{
    for (;;) {
        if (out_cap - out_len < 65536) {
            out_cap = out_cap ? out_cap * 2 : 1 << 17;
            if (!(out = realloc(out, out_cap))) abort();
        }
        ssize_t n = recv(s, out + out_len, out_cap - out_len, MSG_DONTWAIT);
        if (n <= 0) return;
        out_len += (size_t)n;
    }
}

/* Send one write with "$ID" replaced by the first running call's id. */
static void send_piece(int s, instance_t *in, const char *p, size_t n)
{
    call_t *c = in && !in->exited ? instance_first_call(in) : NULL;
    const char *id = c ? c->request_id : "none";
    char *buf = malloc(n * 37 + 1);
    if (!buf) abort();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 3 <= n && memcmp(p + i, "$ID", 3) == 0) {
            memcpy(buf + k, id, strlen(id));
            k += strlen(id);
            i += 2;
        } else {
            buf[k++] = p[i];
        }
    }
    for (size_t off = 0; off < k; ) {
        ssize_t w = send(s, buf + off, k - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) { off += (size_t)w; continue; }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { drain(s); spin(1); continue; }
        break;   /* the server closed: the rest is not read */
    }
    free(buf);
}

/* Every response the runtime got starts with a status line of ours. */
static void check_output(void)
{
    if (out_len && (out_len < 12 || memcmp(out, "HTTP/1.1 ", 9) != 0)) fail("output is not an HTTP/1.1 response", NULL);
}

static instance_t *first_instance(router_fn_t *fn)
{
    list_each(it, &fn->pool.instances) return list_entry(it, instance_t, fn_link);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L) world();
    if (size < 1) return 0;
    bool scf = data[0] & 1;
    int ncalls = (data[0] >> 1) & 3;
    int conc = data[0] & 8 ? 3 : 1;
    static unsigned gen;
    char name[64];
    snprintf(name, sizeof name, "fz%u", gen++);
    router_fn_t *fn = add_fn(name, scf ? "provided.scf" : "provided", scf ? 1 : conc);
    router_fn_ref(fn);
    NP = 0;
    memset(n_done, 0, sizeof n_done);
    out_len = 0;

    /* One call at least starts the instance; the others wait for slots. */
    int nsub = ncalls ? ncalls : 1;
    for (int i = 0; i < nsub; i++) {
        call_t *c = call_new(R, fn);
        if (!c) abort();
        c->done = on_done;
        c->owner = (void *)(intptr_t)i;
        call_submit(c);
    }
    spin(1);
    /* Calls over the instance's slots start more instances: the input
     * speaks to the first one; the others end with their exits. */
    instance_t *in = first_instance(fn);
    int me = in ? find(&in->proc) : -1;
    if (me < 0) fail("no instance started", NULL);

    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                              .sin_port = htons((uint16_t)P[me].port) };
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) fail("connect", strerror(errno));

    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    while (p < end) {
        const char *sep = memmem(p, (size_t)(end - p), "@@", 2);
        size_t n = sep ? (size_t)(sep - p) : (size_t)(end - p);
        send_piece(s, in, p, n);
        spin(1);
        drain(s);
        p += n + (sep ? 2 : 0);
    }
    shutdown(s, SHUT_WR);
    spin(2);
    drain(s);
    close(s);
    check_output();

    /* The instance exits; every call ends, the instance goes. */
    for (int i = 0; i < NP; i++) proc_exit(i);
    router_remove(R, fn);
    for (int i = 0; i < 400 && (router_instance_count(R) || loop_pending_work(L) || router_inflight(R)); i++)
        spin(1);
    if (router_instance_count(R)) fail("an instance outlived its exit", NULL);
    for (int i = 0; i < nsub; i++)
        if (n_done[i] != 1) fail("a call was never told its outcome", NULL);
    router_fn_unref(R, fn);
    return 0;
}
