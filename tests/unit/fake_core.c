/* fake_core.c — the core without a daemon, for unit tests: see fake_core.h. */
#define _GNU_SOURCE
#include "fake_core.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/logs.h"
#include "core/transport.h"
#include "store/queue.h"
/* ---- the fake sandbox ---- */

fake_proc_t g_procs[FAKE_MAXP];
int g_nprocs;
int64_t g_peak = 50 * 1048576;    /* every instance's memory peak */
bool g_exit_on_term = true;       /* a runtime that obeys SIGTERM */

static fake_proc_t *proc_of(const sandbox_proc_t *p)
{
    for (int i = 0; i < g_nprocs; i++)
        if (g_procs[i].p == p) return &g_procs[i];
    return NULL;
}

void fake_exit(fake_proc_t *f)
{
    uint64_t one = 1;
    if (f->exited) return;
    f->exited = true;
    if (write(f->p->pidfd, &one, sizeof one) != sizeof one) abort();
}

static bool fake_enabled(void) { return true; }

static int fake_start(const sandbox_spec_t *spec, sandbox_proc_t *p, sandbox_done_fn done, void *arg, err_t *err)
{
    (void)spec; (void)done; (void)arg;
    cr_assert(g_nprocs < FAKE_MAXP);
    int pipefd[2];
    if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) < 0) return err_sys(err, "pipe");
    memset(p, 0, sizeof *p);
    p->pid = 100000 + g_nprocs;
    p->pidfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->out_fd = pipefd[0];
    p->err_fd = -1;
    p->api_fd = -1;
    p->status_fd = p->peak_fd = p->oom_fd = -1;
    g_procs[g_nprocs++] = (fake_proc_t){ .p = p, .out_w = pipefd[1] };
    return 1;   /* started already, like an unsandboxed spawn */
}

static void fake_kill(sandbox_proc_t *p)
{
    fake_proc_t *f = proc_of(p);
    if (!f || f->exited) return;
    f->killed = true;
    fake_exit(f);
}

static void fake_terminate(sandbox_proc_t *p)
{
    fake_proc_t *f = proc_of(p);
    f->terminated = true;
    if (g_exit_on_term && !f->exited) {
        f->killed = true;
        fake_exit(f);
    }
}

static int fake_reap(sandbox_proc_t *p, int *code, int *status)
{
    fake_proc_t *f = proc_of(p);
    *code = f->killed ? CLD_KILLED : CLD_EXITED;
    *status = f->killed ? SIGKILL : f->exit_code;
    return 0;
}

static int64_t fake_peak(const sandbox_proc_t *p) { (void)p; return g_peak; }
static void fake_reset(sandbox_proc_t *p) { (void)p; }
static bool fake_oom(const sandbox_proc_t *p) { (void)p; return false; }

static void fake_release(sandbox_proc_t *p)
{
    /* On a worker, like the real one: only fds. */
    fake_proc_t *f = proc_of(p);
    if (p->pidfd >= 0) close(p->pidfd);
    if (p->out_fd >= 0) close(p->out_fd);
    if (f->out_w >= 0) close(f->out_w);
    p->pidfd = p->out_fd = f->out_w = -1;
    f->released = true;
}

static const sandbox_ops_t FAKE_SANDBOX = {
    .enabled = fake_enabled, .start = fake_start, .kill = fake_kill, .terminate = fake_terminate,
    .reap = fake_reap, .memory_peak = fake_peak, .memory_reset = fake_reset, .release = fake_release,
    .oom_killed = fake_oom,
};

/* ---- the fake transport: deliveries are recorded ---- */

delivery_t g_deliv[FAKE_MAXDELIV];
int g_ndeliv;
int g_attached;

static int fake_attach(instance_t *in, err_t *err) { (void)in; (void)err; g_attached++; return 0; }
static void fake_deliver(instance_t *in, call_t *c)
{
    cr_assert(g_ndeliv < FAKE_MAXDELIV);
    g_deliv[g_ndeliv++] = (delivery_t){ in, c };
}

static const transport_t FAKE_TRANSPORT = { .name = "fake", .attach = fake_attach, .deliver = fake_deliver };

/* ---- the world ---- */

char g_dir[] = "/tmp/nimbus-sched-XXXXXX";
loop_t *g_loop;
store_t *g_store;
codestore_t *g_code;
core_ctx_t g_ctx;
router_t *g_router;
static const char HEX[] = "00000000000000000000000000000000000000000000000000000000000000aa";

void fake_core_setup(void)
{
    err_t err;
    cr_assert(mkdtemp(g_dir));
    char path[256];
    g_loop = loop_new(1, &err);
    cr_assert(g_loop, "%s", err.msg);
    snprintf(path, sizeof path, "%s/nimbus.db", g_dir);
    g_store = store_open(path, &err);
    cr_assert(g_store, "%s", err.msg);
    snprintf(path, sizeof path, "%s/code", g_dir);
    codestore_limits_t lim = { .max_zip_bytes = 1 << 20, .max_unzipped_bytes = 1 << 20 };
    g_code = codestore_open(path, &lim, &err);
    cr_assert(g_code, "%s", err.msg);
    /* A code tree with an executable bootstrap: what runtime "provided" needs. */
    char tree[400], boot[450];
    codestore_tree_path(g_code, HEX, tree, sizeof tree);
    snprintf(path, sizeof path, "%s/code/%s", g_dir, HEX);
    cr_assert(mkdir(path, 0700) == 0 && mkdir(tree, 0700) == 0);
    snprintf(boot, sizeof boot, "%s/bootstrap", tree);
    int fd = open(boot, O_CREAT | O_WRONLY, 0755);
    cr_assert(fd >= 0);
    close(fd);

    g_ctx = (core_ctx_t){ .loop = g_loop, .code = g_code, .sandbox = &FAKE_SANDBOX };
    g_ctx.logs = logs_new(g_loop, g_store, &err);
    cr_assert(g_ctx.logs);
    core_limits_defaults(&g_ctx.limits);
    g_ctx.limits.max_instances_per_fn = 100;
    g_ctx.limits.account_concurrency = 1000;
    g_ctx.limits.keep_alive_ms = 120000;
    g_ctx.limits.throttle_wait_ms = 5000;
    g_ctx.limits.max_queue = 10000;
    for (int i = 0; i < RUNTIME_API_COUNT; i++) g_ctx.transports[i] = &FAKE_TRANSPORT;
    g_router = router_new(&g_ctx);
    cr_assert(g_router);
}

static void stop_cb(loop_t *l, void *arg) { (void)arg; loop_stop(l); }

/* Let timers, exits and workers run for `ms`. */
void spin(unsigned ms)
{
    err_t err;
    loop_timer_add(g_loop, ms, stop_cb, NULL);
    cr_assert(loop_run(g_loop, &err) == 0);
}

void fake_core_teardown(void)
{
    /* Calls still waiting are failed (their function goes), running ones
     * end with their instances. */
    while (router_count(g_router)) router_remove(g_router, router_at(g_router, 0));
    g_ctx.stopping = true;
    router_stop_all(g_router);
    for (int i = 0; i < 200 && (router_instance_count(g_router) || loop_pending_work(g_loop)); i++) spin(5);
    cr_assert_eq(router_instance_count(g_router), 0);
    router_free(g_router);
    logs_free(g_ctx.logs);
    loop_free(g_loop);
    codestore_close(g_code);
    store_close(g_store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    cr_assert(system(cmd) == 0);
}

router_fn_t *add_fn(const char *name, int concurrency, int timeout_s)
{
    return add_fn_of(name, "", concurrency, timeout_s);
}

router_fn_t *add_fn_of(const char *name, const char *owner, int concurrency, int timeout_s)
{
    function_config_t cfg;
    function_config_init(&cfg);
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    snprintf(cfg.runtime, sizeof cfg.runtime, "provided");
    snprintf(cfg.handler, sizeof cfg.handler, "x");
    memcpy(cfg.code_hex, HEX, sizeof cfg.code_hex);
    cfg.instance_concurrency = concurrency;
    cfg.timeout_s = timeout_s;
    snprintf(cfg.owner, sizeof cfg.owner, "%s", owner);
    router_fn_t *fn = router_add(g_router, &cfg);
    function_config_free(&cfg);
    cr_assert(fn);
    return fn;
}

/* The runtime of instance `in` asks for work `n` times; the first makes it ready. */
void open_slots(instance_t *in, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        instance_slot_opened(in);
        instance_seen(in);
        if (in->state == INST_STARTING) instance_ready(in);
    }
}

/* The runtime answers call c. */
void answer(delivery_t *d, const char *body)
{
    instance_answered(d->in, d->c);
    call_complete(d->c, body, strlen(body), "application/json");
}

instance_t *nth_instance(router_fn_t *fn, int n)
{
    int i = 0;
    list_each(it, &fn->pool.instances) {
        if (i++ == n) return list_entry(it, instance_t, fn_link);
    }
    return NULL;
}

void fake_core_reset(void)
{
    g_nprocs = g_ndeliv = g_attached = 0;
    g_exit_on_term = true;
    g_peak = 50 * 1048576;
}


/* ---- the webhook ---- */

#define HOOK_MAX 256

struct fake_hook {
    int fd;
    int port;
    int statuses[16];
    int nstatuses;
    unsigned delay_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    volatile bool stop;
    int n;
    char *heads[HOOK_MAX], *bodies[HOOK_MAX];
};

/* Read one request from c: its head and body (by Content-Length). */
static bool hook_read(int c, char **head, char **body)
{
    char buf[1 << 16];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len == sizeof buf - 1) return false;
        ssize_t k = read(c, buf + len, sizeof buf - 1 - len);
        if (k <= 0) return false;
        len += (size_t)k;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t hlen = (size_t)(end - buf) + 4;
    size_t clen = 0;
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (cl && cl < end) clen = strtoul(cl + 17, NULL, 10);
    char *b = malloc(clen + 1);
    cr_assert(b);
    size_t have = len - hlen < clen ? len - hlen : clen;
    memcpy(b, buf + hlen, have);
    while (have < clen) {
        ssize_t k = read(c, b + have, clen - have);
        if (k <= 0) { free(b); return false; }
        have += (size_t)k;
    }
    b[clen] = '\0';
    *head = strndup(buf, hlen);
    *body = b;
    return true;
}

static void *hook_main(void *arg)
{
    fake_hook_t *h = arg;
    while (!h->stop) {
        struct pollfd p = { .fd = h->fd, .events = POLLIN };
        if (poll(&p, 1, 20) <= 0) continue;
        int c = accept(h->fd, NULL, NULL);
        if (c < 0) continue;
        char *head, *body;
        if (!hook_read(c, &head, &body)) { close(c); continue; }
        pthread_mutex_lock(&h->mu);
        int i = h->n++;
        if (i < HOOK_MAX) {
            h->heads[i] = head;
            h->bodies[i] = body;
        } else {
            free(head);
            free(body);
        }
        int status = h->statuses[i < h->nstatuses ? i : h->nstatuses - 1];
        pthread_mutex_unlock(&h->mu);
        for (unsigned w = 0; w < h->delay_ms && !h->stop; w += 10) usleep(10000);
        char ans[200];
        int n = snprintf(ans, sizeof ans, "HTTP/1.1 %d Whatever\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", status);
        if (write(c, ans, (size_t)n) != n) { /* the client went away */ }
        close(c);
    }
    return NULL;
}

fake_hook_t *fake_hook_start(const int *statuses, int n, unsigned delay_ms)
{
    fake_hook_t *h = calloc(1, sizeof *h);
    cr_assert(h && n > 0 && n <= 16);
    memcpy(h->statuses, statuses, (size_t)n * sizeof *statuses);
    h->nstatuses = n;
    h->delay_ms = delay_ms;
    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(h->fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    cr_assert(bind(h->fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    cr_assert(listen(h->fd, 64) == 0);
    cr_assert(getsockname(h->fd, (struct sockaddr *)&sa, &sl) == 0);
    h->port = ntohs(sa.sin_port);
    pthread_mutex_init(&h->mu, NULL);
    cr_assert(pthread_create(&h->thread, NULL, hook_main, h) == 0);
    return h;
}

void fake_hook_stop(fake_hook_t *h)
{
    h->stop = true;
    pthread_join(h->thread, NULL);
    close(h->fd);
    for (int i = 0; i < HOOK_MAX; i++) {
        free(h->heads[i]);
        free(h->bodies[i]);
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
}

int fake_hook_port(const fake_hook_t *h) { return h->port; }

int fake_hook_count(fake_hook_t *h)
{
    pthread_mutex_lock(&h->mu);
    int n = h->n;
    pthread_mutex_unlock(&h->mu);
    return n;
}

static char *hook_copy(fake_hook_t *h, char **arr, int i)
{
    pthread_mutex_lock(&h->mu);
    char *s = i >= 0 && i < HOOK_MAX && arr[i] ? strdup(arr[i]) : NULL;
    pthread_mutex_unlock(&h->mu);
    return s;
}

char *fake_hook_head(fake_hook_t *h, int i) { return hook_copy(h, h->heads, i); }
char *fake_hook_body(fake_hook_t *h, int i) { return hook_copy(h, h->bodies, i); }

#if !__has_include("../../src/store/queue_sqlite.c")
/* ---- an in-memory queue store (store/queue.h), only while src/store has none ----
 * It leaves out queue_state_name, queue_state_parse and queue_store_stats
 * on purpose: when the real store is linked as well, a test of it that
 * calls them pulls it in, and the duplicate symbols fail the link loudly
 * instead of testing this one. */

typedef struct {
    queue_event_t ev;
    queue_attempt_t at[16];
    size_t nat;
} fq_row_t;

static fq_row_t *g_rows;   /* the "file": kept across close and open */
static size_t g_nrows;

struct queue_store {
    loop_t *loop;
};

static fq_row_t *fq_find(const char *id)
{
    for (size_t i = 0; i < g_nrows; i++)
        if (strcmp(g_rows[i].ev.id, id) == 0) return &g_rows[i];
    return NULL;
}

queue_store_t *queue_store_open(loop_t *loop, const char *path, err_t *err)
{
    (void)path;
    (void)err;
    queue_store_t *q = calloc(1, sizeof *q);
    cr_assert(q);
    q->loop = loop;
    return q;
}

void queue_store_close(queue_store_t *q) { free(q); }

static void fq_noop(void *arg) { (void)arg; }

typedef struct {
    queue_accept_fn done;
    void *arg;
    char dup[37];
} fq_accept_t;

static void fq_accepted(loop_t *l, void *arg)
{
    (void)l;
    fq_accept_t *a = arg;
    a->done(a->arg, NULL, a->dup);
    free(a);
}

void queue_store_accept(queue_store_t *q, const queue_event_t *ev, int64_t idem_window_ms, queue_accept_fn done,
                        void *arg)
{
    fq_accept_t *a = calloc(1, sizeof *a);
    cr_assert(a);
    a->done = done;
    a->arg = arg;
    for (size_t i = 0; ev->idempotency_key[0] && i < g_nrows; i++)
        if (strcmp(g_rows[i].ev.idempotency_key, ev->idempotency_key) == 0 &&
            ev->created_ms - g_rows[i].ev.created_ms < idem_window_ms)
            memcpy(a->dup, g_rows[i].ev.id, 37);
    if (!a->dup[0]) {
        g_rows = realloc(g_rows, (g_nrows + 1) * sizeof *g_rows);
        cr_assert(g_rows);
        fq_row_t *r = &g_rows[g_nrows++];
        memset(r, 0, sizeof *r);
        r->ev = *ev;
        r->ev.payload = strndup(ev->payload, ev->payload_len);
        r->ev.result = NULL;
        r->ev.result_len = 0;
    }
    loop_submit(q->loop, fq_noop, fq_accepted, a);
}

void queue_store_set_state(queue_store_t *q, const char *id, queue_state_t state, int attempts, int64_t next_ms,
                           const char *last_error)
{
    (void)q;
    fq_row_t *r = fq_find(id);
    if (!r) return;
    r->ev.state = state;
    r->ev.attempts = attempts;
    r->ev.next_ms = next_ms;
    snprintf(r->ev.last_error, sizeof r->ev.last_error, "%s", last_error ? last_error : "");
}

void queue_store_set_result(queue_store_t *q, const char *id, const char *result, size_t len, const char *destination)
{
    (void)q;
    fq_row_t *r = fq_find(id);
    if (!r) return;
    free(r->ev.result);
    r->ev.result = result ? strndup(result, len) : NULL;
    r->ev.result_len = result ? len : 0;
    snprintf(r->ev.destination, sizeof r->ev.destination, "%s", destination ? destination : "");
}

void queue_store_add_attempt(queue_store_t *q, const char *id, const queue_attempt_t *a)
{
    (void)q;
    fq_row_t *r = fq_find(id);
    if (r && r->nat < 16) r->at[r->nat++] = *a;
}

void queue_store_delete(queue_store_t *q, const char *id)
{
    (void)q;
    fq_row_t *r = fq_find(id);
    if (!r) return;
    free(r->ev.payload);
    free(r->ev.result);
    size_t i = (size_t)(r - g_rows);
    memmove(r, r + 1, (g_nrows - i - 1) * sizeof *r);
    g_nrows--;
}

int queue_store_load(queue_store_t *q, queue_event_fn fn, void *arg, err_t *err)
{
    (void)q;
    (void)err;
    for (size_t i = 0; i < g_nrows; i++) {
        queue_state_t s = g_rows[i].ev.state;
        if (s == QEV_QUEUED || s == QEV_RUNNING || s == QEV_RETRYING) fn(&g_rows[i].ev, arg);
    }
    return 0;
}

typedef struct {
    queue_query_t q;
    char function[65], after[37];
    queue_list_fn done;
    void *arg;
} fq_list_t;

static void fq_listed(loop_t *l, void *arg)
{
    (void)l;
    fq_list_t *w = arg;
    size_t limit = w->q.limit ? w->q.limit : 100, n = 0, i = 0;
    queue_event_t *page = calloc(limit, sizeof *page);
    cr_assert(page);
    if (w->after[0]) {
        fq_row_t *r = fq_find(w->after);
        i = r ? (size_t)(r - g_rows) + 1 : g_nrows;
    }
    char next[37] = "";
    for (; i < g_nrows; i++) {
        const queue_event_t *e = &g_rows[i].ev;
        if (strcmp(e->function, w->function) != 0 || (w->q.state >= 0 && (int)e->state != w->q.state)) continue;
        if (n == limit) {
            memcpy(next, page[n - 1].id, 37);
            break;
        }
        page[n++] = *e;
    }
    w->done(w->arg, NULL, page, n, next);
    free(page);
    free(w);
}

void queue_store_list(queue_store_t *q, const queue_query_t *query, queue_list_fn done, void *arg)
{
    fq_list_t *w = calloc(1, sizeof *w);
    cr_assert(w);
    w->q = *query;
    snprintf(w->function, sizeof w->function, "%s", query->function);
    snprintf(w->after, sizeof w->after, "%s", query->after_id ? query->after_id : "");
    w->done = done;
    w->arg = arg;
    loop_submit(q->loop, fq_noop, fq_listed, w);
}

typedef struct {
    char id[37];
    queue_get_fn done;
    void *arg;
} fq_get_t;

static void fq_got(loop_t *l, void *arg)
{
    (void)l;
    fq_get_t *g = arg;
    fq_row_t *r = fq_find(g->id);
    if (r) {
        g->done(g->arg, NULL, &r->ev, r->at, r->nat);
    } else {
        err_t err;
        err_set(&err, ERR_NOT_FOUND, "no event %s", g->id);
        g->done(g->arg, &err, NULL, NULL, 0);
    }
    free(g);
}

void queue_store_get(queue_store_t *q, const char *id, queue_get_fn done, void *arg)
{
    fq_get_t *g = calloc(1, sizeof *g);
    cr_assert(g);
    snprintf(g->id, sizeof g->id, "%s", id);
    g->done = done;
    g->arg = arg;
    loop_submit(q->loop, fq_noop, fq_got, g);
}
#endif
