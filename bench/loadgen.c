/* loadgen.c — closed-loop HTTP/1.1 load client for the Nimbus benchmark.
 *
 * One thread, one epoll loop, N keep-alive connections, each with exactly one POST outstanding:
 * a new request leaves the moment the previous response on that connection is complete, so the
 * offered load adapts to the server (closed loop) and latency is the true round trip. Each
 * request's latency is taken with CLOCK_MONOTONIC from its first send() to its last byte.
 *
 * Output (stdout, one line):
 *   requests=<n> errors=<n> rps=<x> p50_us=<x> p99_us=<x> max_us=<x>
 * `requests` counts successful (200, or the --expect-status given: 202 for asynchronous invokes)
 * requests started after the warmup and completed within the measured window; `errors` counts
 * responses with another status, broken or refused connections, malformed
 * responses and requests older than --timeout, in the same window. A breakdown goes to stderr.
 *
 * It must never hang: every connect has a timeout, every request has a timeout, the loop ends at
 * warmup + duration, and an alarm() kills the process if something still goes wrong.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_RESP_HEADER (64 * 1024)
#define MAX_RESP        (16 * 1024 * 1024)

enum conn_state { C_IDLE, C_CONNECTING, C_BUSY, C_BACKOFF };

struct conn {
    int fd;
    enum conn_state state;
    int64_t t_start;          /* when the current request was first sent (ns) */
    int64_t t_wake;           /* C_CONNECTING: connect deadline; C_BACKOFF: next attempt */
    size_t sent;              /* bytes of the request accepted by the kernel */
    char *in;                 /* bytes of the current response */
    size_t in_len, in_cap;
    size_t hdr_len;           /* 0 until the header block is complete */
    int status;
    int framing;              /* FR_LENGTH, FR_CHUNKED or FR_CLOSE */
    size_t body_len;          /* FR_LENGTH: declared body length */
    size_t chunk_pos;         /* FR_CHUNKED: parse position inside `in` */
    int keep_alive;
    int fails;                /* consecutive connect failures, for backoff */
};

enum { FR_LENGTH, FR_CHUNKED, FR_CLOSE };

enum err_kind { E_STATUS, E_CONNECT, E_IO, E_PROTO, E_TIMEOUT, E_NKINDS };
static const char *const err_names[E_NKINDS] = { "status", "connect", "io", "protocol", "timeout" };

static struct {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *req;
    size_t req_len;
    int64_t t_measure;        /* requests started before this are warmup */
    int64_t t_end;
    int64_t connect_timeout;
    int64_t req_timeout;
    int ep;
    uint64_t *lat;            /* latencies of the measured successful requests, ns */
    size_t lat_len, lat_cap;
    uint64_t errors[E_NKINDS];
    uint64_t warm_ok, warm_err;
    int expect_status;        /* the status that counts as success (200 unless --expect-status) */
    int last_status;          /* the most recent unexpected status, for the stderr report */
} g;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *msg)
{
    fprintf(stderr, "loadgen: %s\n", msg);
    exit(1);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "loadgen: overall deadline passed, giving up\n";
    ssize_t r = write(2, m, sizeof m - 1);
    (void)r;
    _exit(3);
}

static void record_ok(struct conn *c, int64_t t)
{
    if (c->t_start < g.t_measure) {
        g.warm_ok++;
        return;
    }
    if (t > g.t_end)
        return;             /* finished after the window closed: neither counted nor timed */
    if (g.lat_len == g.lat_cap) {
        size_t n = g.lat_cap ? g.lat_cap * 2 : 65536;
        uint64_t *p = realloc(g.lat, n * sizeof *p);
        if (!p)
            die("out of memory");
        g.lat = p;
        g.lat_cap = n;
    }
    g.lat[g.lat_len++] = (uint64_t)(t - c->t_start);
}

static void record_err(struct conn *c, enum err_kind k, int64_t t)
{
    if (c->state == C_BUSY && c->t_start < g.t_measure) {
        g.warm_err++;
        return;
    }
    if (c->state != C_BUSY && t < g.t_measure) {
        g.warm_err++;
        return;
    }
    if (t > g.t_end)
        return;
    g.errors[k]++;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->in_len = 0;
    c->hdr_len = 0;
}

static void conn_start_connect(struct conn *c, int64_t t);

/* Connection lost or unusable: count it, then reconnect (with backoff if connects keep failing,
 * so a dead server costs errors, not a busy loop). */
static void conn_fail(struct conn *c, enum err_kind k, int64_t t)
{
    record_err(c, k, t);
    conn_close(c);
    if (k == E_CONNECT)
        c->fails++;
    if (c->fails > 0) {
        int64_t backoff = 10000000LL << (c->fails > 6 ? 6 : c->fails - 1);   /* 10 ms .. 640 ms */
        c->state = C_BACKOFF;
        c->t_wake = t + backoff;
    } else {
        conn_start_connect(c, t);
    }
}

static void conn_set_events(struct conn *c, uint32_t ev)
{
    struct epoll_event e = { .events = ev, .data.ptr = c };
    if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
        die("epoll_ctl MOD failed");
}

static void conn_send(struct conn *c, int64_t t)
{
    if (c->sent == 0) {
        c->t_start = t;
        c->in_len = 0;
        c->hdr_len = 0;
    }
    c->state = C_BUSY;
    while (c->sent < g.req_len) {
        ssize_t n = send(c->fd, g.req + c->sent, g.req_len - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn_set_events(c, EPOLLIN | EPOLLOUT);
                return;
            }
            conn_fail(c, E_IO, t);
            return;
        }
        c->sent += (size_t)n;
    }
}

static void conn_start_connect(struct conn *c, int64_t t)
{
    c->fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket() failed");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->sent = 0;
    c->in_len = 0;
    c->hdr_len = 0;
    int r = connect(c->fd, (struct sockaddr *)&g.addr, g.addrlen);
    if (r < 0 && errno != EINPROGRESS) {
        c->state = C_CONNECTING;
        conn_fail(c, E_CONNECT, t);
        return;
    }
    struct epoll_event e = { .events = r == 0 ? EPOLLIN : EPOLLOUT, .data.ptr = c };
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
        die("epoll_ctl ADD failed");
    if (r == 0) {
        c->fails = 0;
        conn_send(c, t);
    } else {
        c->state = C_CONNECTING;
        c->t_wake = t + g.connect_timeout;
    }
}

/* Case-insensitive header lookup in the block [h, end) (status line included, skipped). */
static const char *header_find(const char *h, const char *end, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = memchr(h, '\n', (size_t)(end - h));
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol < end ? eol : NULL;
    }
    return NULL;
}

static int value_is(const char *v, size_t vlen, const char *word)
{
    return v && vlen == strlen(word) && strncasecmp(v, word, vlen) == 0;
}

/* Parse the header block once it is complete. Returns 1 = need more, 0 = ok, -1 = malformed. */
static int resp_parse_head(struct conn *c)
{
    const char *hend = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!hend)
        return c->in_len > MAX_RESP_HEADER ? -1 : 1;
    c->hdr_len = (size_t)(hend - c->in) + 4;
    if (c->hdr_len < 12 || memcmp(c->in, "HTTP/1.", 7) != 0 || c->in[8] != ' ')
        return -1;
    c->status = (c->in[9] - '0') * 100 + (c->in[10] - '0') * 10 + (c->in[11] - '0');
    if (c->status < 100 || c->status > 999)
        return -1;
    const char *end = hend + 2;
    size_t vlen;
    const char *v = header_find(c->in, end, "Connection", &vlen);
    c->keep_alive = c->in[7] == '1' ? !value_is(v, vlen, "close") : value_is(v, vlen, "keep-alive");
    v = header_find(c->in, end, "Transfer-Encoding", &vlen);
    if (v) {
        if (!value_is(v, vlen, "chunked"))
            return -1;
        c->framing = FR_CHUNKED;
        c->chunk_pos = c->hdr_len;
        return 0;
    }
    v = header_find(c->in, end, "Content-Length", &vlen);
    if (v) {
        char num[24];
        char *e;
        if (vlen == 0 || vlen >= sizeof num)
            return -1;
        memcpy(num, v, vlen);
        num[vlen] = 0;
        errno = 0;
        unsigned long long n = strtoull(num, &e, 10);
        if (*e || errno || n > MAX_RESP)
            return -1;
        c->framing = FR_LENGTH;
        c->body_len = (size_t)n;
        return 0;
    }
    if (c->status == 204 || c->status == 304 || c->status < 200) {
        c->framing = FR_LENGTH;
        c->body_len = 0;
        return 0;
    }
    c->framing = FR_CLOSE;
    c->keep_alive = 0;
    return 0;
}

/* Walk chunks from chunk_pos. Returns 1 = need more, 0 = complete, -1 = malformed. */
static int resp_parse_chunks(struct conn *c)
{
    for (;;) {
        const char *p = c->in + c->chunk_pos;
        size_t avail = c->in_len - c->chunk_pos;
        const char *eol = memmem(p, avail, "\r\n", 2);
        if (!eol)
            return avail > 1024 ? -1 : 1;
        char *e;
        errno = 0;
        unsigned long long sz = strtoull(p, &e, 16);
        if (e == p || errno || sz > MAX_RESP || (e != eol && *e != ';' && *e != ' '))
            return -1;
        if (sz == 0) {
            /* Trailers end at an empty line. */
            const char *t = eol + 2;
            size_t tav = (size_t)(c->in + c->in_len - t);
            if (tav >= 2 && t[0] == '\r' && t[1] == '\n')
                return 0;
            return memmem(t, tav, "\r\n\r\n", 4) ? 0 : (tav > MAX_RESP_HEADER ? -1 : 1);
        }
        size_t need = (size_t)(eol - p) + 2 + (size_t)sz + 2;
        if (avail < need)
            return 1;
        if (p[need - 2] != '\r' || p[need - 1] != '\n')
            return -1;
        c->chunk_pos += need;
    }
}

static void resp_done(struct conn *c, int64_t t)
{
    if (c->status == g.expect_status) {
        record_ok(c, t);
    } else {
        g.last_status = c->status;
        record_err(c, E_STATUS, t);
    }
    c->sent = 0;
    if (!c->keep_alive) {
        conn_close(c);
        if (t < g.t_end)
            conn_start_connect(c, t);
        else
            c->state = C_IDLE;
        return;
    }
    if (t < g.t_end)
        conn_send(c, t);
    else
        c->state = C_IDLE;
}

static void conn_on_readable(struct conn *c, int64_t t)
{
    for (;;) {
        if (c->in_cap - c->in_len < 16384) {
            size_t n = c->in_cap ? c->in_cap * 2 : 32768;
            if (n > MAX_RESP + MAX_RESP_HEADER) {
                conn_fail(c, E_PROTO, t);
                return;
            }
            char *p = realloc(c->in, n);
            if (!p)
                die("out of memory");
            c->in = p;
            c->in_cap = n;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_fail(c, E_IO, t);
            return;
        }
        if (n == 0) {
            if (c->state == C_BUSY && c->hdr_len && c->framing == FR_CLOSE) {
                resp_done(c, t);        /* body framed by EOF; keep_alive is 0, so it reconnects */
                return;
            }
            /* A keep-alive connection closed before (or in the middle of) a response. */
            conn_fail(c, E_IO, t);
            return;
        }
        c->in_len += (size_t)n;
        if (c->in_len < c->in_cap)
            break;
    }
    if (c->state != C_BUSY)
        return;         /* bytes nobody asked for; ignored */
    if (!c->hdr_len) {
        int r = resp_parse_head(c);
        if (r < 0) {
            conn_fail(c, E_PROTO, t);
            return;
        }
        if (r > 0)
            return;
    }
    int r;
    if (c->framing == FR_LENGTH)
        r = c->in_len >= c->hdr_len + c->body_len ? 0 : 1;
    else if (c->framing == FR_CHUNKED)
        r = resp_parse_chunks(c);
    else
        r = 1;
    if (r < 0) {
        conn_fail(c, E_PROTO, t);
        return;
    }
    if (r > 0)
        return;
    if (c->framing == FR_LENGTH && c->in_len > c->hdr_len + c->body_len) {
        conn_fail(c, E_PROTO, t);       /* bytes past the response: we never pipeline */
        return;
    }
    resp_done(c, t);
}

static void conn_on_event(struct conn *c, uint32_t ev, int64_t t)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            conn_fail(c, E_CONNECT, t);
            return;
        }
        c->fails = 0;
        conn_set_events(c, EPOLLIN);
        conn_send(c, t);
        return;
    }
    if (c->state != C_BUSY && c->state != C_IDLE)
        return;
    if ((ev & EPOLLOUT) && c->state == C_BUSY && c->sent < g.req_len) {
        conn_send(c, t);
        if (c->fd < 0)
            return;
        if (c->sent == g.req_len)
            conn_set_events(c, EPOLLIN);
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
        conn_on_readable(c, t);
}

/* Connect timeouts, backoff expiries and request timeouts. Returns ms until the next one. */
static int run_timers(struct conn *cs, int n, int64_t t)
{
    int64_t next = g.t_end;
    for (int i = 0; i < n; i++) {
        struct conn *c = &cs[i];
        if (c->state == C_CONNECTING) {
            if (t >= c->t_wake)
                conn_fail(c, E_CONNECT, t);
        } else if (c->state == C_BACKOFF) {
            if (t >= c->t_wake)
                conn_start_connect(c, t);
        } else if (c->state == C_BUSY && t - c->t_start >= g.req_timeout) {
            conn_fail(c, E_TIMEOUT, t);
        }
        if (c->state == C_CONNECTING || c->state == C_BACKOFF) {
            if (c->t_wake < next)
                next = c->t_wake;
        } else if (c->state == C_BUSY && c->t_start + g.req_timeout < next) {
            next = c->t_start + g.req_timeout;
        }
    }
    int64_t ms = (next - t + 999999) / 1000000;
    return ms < 0 ? 0 : ms > 1000 ? 1000 : (int)ms;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile, in µs. */
static double pct_us(double p)
{
    if (!g.lat_len)
        return 0;
    size_t rank = (size_t)(p * (double)g.lat_len + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > g.lat_len)
        rank = g.lat_len;
    return g.lat[rank - 1] / 1000.0;
}

static double parse_seconds(const char *s, const char *opt)
{
    char *e;
    double v = strtod(s, &e);
    if (*e || v < 0 || v > 86400) {
        fprintf(stderr, "loadgen: bad value for %s: '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --url http://HOST:PORT/PATH [--connections N] [--duration S] [--warmup S]\n"
            "               [--body STRING] [--header 'K: V']... [--timeout S] [--connect-timeout S]\n"
            "               [--expect-status CODE]\n");
    exit(2);
}

/* Accepts http://host[:port][/path] only; the host must resolve to an IPv4/IPv6 address. */
static void parse_url(const char *url, char *host, size_t hcap, char *port, size_t pcap, const char **path)
{
    if (strncmp(url, "http://", 7) != 0)
        die("only http:// URLs are supported");
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    *path = slash ? slash : "/";
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    const char *colon = memchr(h, ':', hl);
    size_t namel = colon ? (size_t)(colon - h) : hl;
    if (namel == 0 || namel >= hcap)
        die("bad host in URL");
    memcpy(host, h, namel);
    host[namel] = 0;
    if (colon) {
        size_t pl = hl - namel - 1;
        if (pl == 0 || pl >= pcap)
            die("bad port in URL");
        memcpy(port, colon + 1, pl);
        port[pl] = 0;
    } else {
        snprintf(port, pcap, "80");
    }
}

int main(int argc, char **argv)
{
    const char *url = NULL, *body = "";
    long nconn = 1;
    double duration = 5, warmup = 0, timeout = 10, ctimeout = 2;
    char **headers = calloc((size_t)argc, sizeof *headers);
    int nheaders = 0;
    static const struct option opts[] = {
        { "url", required_argument, NULL, 'u' },
        { "connections", required_argument, NULL, 'c' },
        { "duration", required_argument, NULL, 'd' },
        { "warmup", required_argument, NULL, 'w' },
        { "body", required_argument, NULL, 'b' },
        { "header", required_argument, NULL, 'H' },
        { "timeout", required_argument, NULL, 't' },
        { "connect-timeout", required_argument, NULL, 'T' },
        { "expect-status", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    if (!headers)
        die("out of memory");
    int o;
    g.expect_status = 200;
    while ((o = getopt_long(argc, argv, "u:c:d:w:b:H:t:T:S:h", opts, NULL)) != -1) {
        switch (o) {
        case 'u': url = optarg; break;
        case 'c': {
            char *e;
            nconn = strtol(optarg, &e, 10);
            if (*e || nconn < 1 || nconn > 10000)
                die("--connections must be 1..10000");
            break;
        }
        case 'd': duration = parse_seconds(optarg, "--duration"); break;
        case 'w': warmup = parse_seconds(optarg, "--warmup"); break;
        case 'b': body = optarg; break;
        case 'H':
            if (!strchr(optarg, ':') || strpbrk(optarg, "\r\n"))
                die("--header wants 'Name: value'");
            headers[nheaders++] = optarg;
            break;
        case 't': timeout = parse_seconds(optarg, "--timeout"); break;
        case 'T': ctimeout = parse_seconds(optarg, "--connect-timeout"); break;
        case 'S': {
            char *e;
            long st = strtol(optarg, &e, 10);
            if (*e || st < 200 || st > 299)
                die("--expect-status must be a 2xx code");
            g.expect_status = (int)st;
            break;
        }
        default: usage();
        }
    }
    if (!url || optind != argc || duration <= 0 || timeout <= 0 || ctimeout <= 0)
        usage();

    char host[256], port[16];
    const char *path;
    parse_url(url, host, sizeof host, port, sizeof port, &path);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
    int gr = getaddrinfo(host, port, &hints, &ai);
    if (gr != 0) {
        fprintf(stderr, "loadgen: cannot resolve %s:%s: %s\n", host, port, gai_strerror(gr));
        return 1;
    }
    memcpy(&g.addr, ai->ai_addr, ai->ai_addrlen);
    g.addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);

    /* The request never changes, so it is built once. */
    size_t blen = strlen(body);
    size_t cap = 256 + strlen(path) + strlen(host) + strlen(port) + blen;
    for (int i = 0; i < nheaders; i++)
        cap += strlen(headers[i]) + 2;
    g.req = malloc(cap);
    if (!g.req)
        die("out of memory");
    size_t len = (size_t)snprintf(g.req, cap, "POST %s HTTP/1.1\r\nHost: %s:%s\r\n", path, host, port);
    for (int i = 0; i < nheaders; i++)
        len += (size_t)snprintf(g.req + len, cap - len, "%s\r\n", headers[i]);
    len += (size_t)snprintf(g.req + len, cap - len, "Content-Length: %zu\r\n\r\n", blen);
    memcpy(g.req + len, body, blen);
    g.req_len = len + blen;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(warmup + duration + ctimeout + 10));

    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.ep < 0)
        die("epoll_create1 failed");
    g.connect_timeout = (int64_t)(ctimeout * 1e9);
    g.req_timeout = (int64_t)(timeout * 1e9);
    int64_t t0 = now_ns();
    g.t_measure = t0 + (int64_t)(warmup * 1e9);
    g.t_end = g.t_measure + (int64_t)(duration * 1e9);

    struct conn *cs = calloc((size_t)nconn, sizeof *cs);
    if (!cs)
        die("out of memory");
    for (long i = 0; i < nconn; i++) {
        cs[i].fd = -1;
        conn_start_connect(&cs[i], t0);
    }

    struct epoll_event evs[256];
    int wait_ms = 0;
    for (;;) {
        int n = epoll_wait(g.ep, evs, 256, wait_ms);
        if (n < 0 && errno != EINTR)
            die("epoll_wait failed");
        int64_t t = now_ns();
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd >= 0)
                conn_on_event(c, evs[i].events, t);
        }
        if (t >= g.t_end)
            break;
        wait_ms = run_timers(cs, (int)nconn, t);
    }
    /* Requests still in flight at the end are dropped unless already overdue. */
    int64_t t = now_ns();
    for (long i = 0; i < nconn; i++) {
        if (cs[i].state == C_BUSY && cs[i].t_start >= g.t_measure && t - cs[i].t_start >= g.req_timeout)
            g.errors[E_TIMEOUT]++;
        conn_close(&cs[i]);
        free(cs[i].in);
    }
    free(cs);
    free(headers);
    free(g.req);
    close(g.ep);

    if (g.lat_len)
        qsort(g.lat, g.lat_len, sizeof *g.lat, cmp_u64);
    uint64_t nerr = 0;
    for (int k = 0; k < E_NKINDS; k++)
        nerr += g.errors[k];
    double maxus = g.lat_len ? g.lat[g.lat_len - 1] / 1000.0 : 0;
    printf("requests=%zu errors=%llu rps=%.1f p50_us=%.1f p99_us=%.1f max_us=%.1f\n", g.lat_len,
           (unsigned long long)nerr, (double)g.lat_len / duration, pct_us(0.50), pct_us(0.99), maxus);
    fflush(stdout);
    if (nerr || g.warm_err) {
        fprintf(stderr, "loadgen: errors:");
        for (int k = 0; k < E_NKINDS; k++)
            if (g.errors[k])
                fprintf(stderr, " %s=%llu", err_names[k], (unsigned long long)g.errors[k]);
        if (g.last_status)
            fprintf(stderr, " (last unexpected status %d)", g.last_status);
        if (g.warm_err)
            fprintf(stderr, " warmup_errors=%llu", (unsigned long long)g.warm_err);
        fprintf(stderr, "\n");
    }
    if (warmup > 0)
        fprintf(stderr, "loadgen: warmup requests=%llu\n", (unsigned long long)g.warm_ok);
    free(g.lat);
    return 0;
}
