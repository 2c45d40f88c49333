/* echo_server.c — the benchmark baseline: the cheapest HTTP/1.1 round trip this machine can do.
 *
 * One thread, one level-triggered epoll loop, 127.0.0.1 only. Every request, whatever its method
 * and path, gets `200 OK` with the request body echoed back; connections are kept alive and
 * pipelined requests are answered in order. Bodies must be framed by Content-Length (a chunked
 * request gets 501 and the connection is closed): that is all loadgen sends.
 *
 * It must never do anything a real server would do on top of that (logging, allocation per
 * request, timers): the point is to measure the floor Nimbus is compared against.
 *
 * Usage: echo_server PORT   (0 = pick a free port; the first stdout line is `PORT <n>`)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEADER  (64 * 1024)
#define MAX_BODY    (8 * 1024 * 1024)
#define MAX_EVENTS  256

struct conn {
    int fd;
    char *in;                 /* received bytes not yet consumed by a complete request */
    size_t in_len, in_cap;
    char *out;                /* response bytes not yet accepted by the kernel */
    size_t out_off, out_len, out_cap;
    int want_out;             /* EPOLLOUT currently registered */
    int close_after;          /* close once `out` drains (Connection: close or protocol error) */
};

static int g_ep;

static int buf_reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *p = realloc(*buf, n);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static void conn_free(struct conn *c)
{
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Case-insensitive search for header `name` in the header block [h, end); returns a pointer to
 * its value (leading blanks skipped) or NULL. The block starts after the request line. */
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

static int append_out(struct conn *c, const char *data, size_t len)
{
    if (buf_reserve(&c->out, &c->out_cap, c->out_len + len) < 0)
        return -1;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

static int append_status(struct conn *c, const char *status, const char *body, size_t blen)
{
    char head[160];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n%s\r\n", status, blen,
                     c->close_after ? "Connection: close\r\n" : "");
    if (append_out(c, head, (size_t)n) < 0 || append_out(c, body, blen) < 0)
        return -1;
    return 0;
}

/* Turn every complete request in `in` into a response in `out`. Returns -1 on out of memory. */
static int conn_parse(struct conn *c)
{
    size_t off = 0;
    while (!c->close_after && off < c->in_len) {
        const char *start = c->in + off;
        size_t avail = c->in_len - off;
        const char *hend = memmem(start, avail, "\r\n\r\n", 4);
        if (!hend) {
            if (avail > MAX_HEADER) {
                c->close_after = 1;
                return append_status(c, "431 Request Header Fields Too Large", "", 0);
            }
            break;
        }
        size_t hlen = (size_t)(hend - start) + 4;
        size_t vlen;
        const char *v = header_find(start, hend + 2, "Transfer-Encoding", &vlen);
        if (v) {
            c->close_after = 1;
            return append_status(c, "501 Not Implemented", "", 0);
        }
        size_t blen = 0;
        v = header_find(start, hend + 2, "Content-Length", &vlen);
        if (v) {
            char num[24];
            char *e;
            if (vlen == 0 || vlen >= sizeof num) {
                c->close_after = 1;
                return append_status(c, "400 Bad Request", "", 0);
            }
            memcpy(num, v, vlen);
            num[vlen] = 0;
            errno = 0;
            unsigned long long n = strtoull(num, &e, 10);
            if (*e || errno || n > MAX_BODY) {
                c->close_after = 1;
                return append_status(c, n > MAX_BODY ? "413 Payload Too Large" : "400 Bad Request", "", 0);
            }
            blen = (size_t)n;
        }
        if (avail < hlen + blen)
            break;
        v = header_find(start, hend + 2, "Connection", &vlen);
        if (v && vlen == 5 && strncasecmp(v, "close", 5) == 0)
            c->close_after = 1;
        if (append_status(c, "200 OK", start + hlen, blen) < 0)
            return -1;
        off += hlen + blen;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return 0;
}

/* Push `out` to the kernel. Returns 1 if the connection must be closed now. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return 1;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->close_after)
            return 1;
    }
    int want = c->out_len > 0;
    if (want != c->want_out) {
        /* While output is stuck, stop reading: a client that does not read cannot make us buffer
         * without bound. */
        struct epoll_event ev = { .events = want ? EPOLLOUT : EPOLLIN, .data.ptr = c };
        if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
            return 1;
        c->want_out = want;
    }
    return 0;
}

static void conn_on_readable(struct conn *c)
{
    for (;;) {
        if (buf_reserve(&c->in, &c->in_cap, c->in_len + 16384) < 0) {
            conn_free(c);
            return;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_free(c);
            return;
        }
        if (n == 0) {
            conn_free(c);
            return;
        }
        c->in_len += (size_t)n;
        if (c->in_len < c->in_cap)
            break;          /* short read: the socket is drained, save a syscall */
    }
    if (conn_parse(c) < 0 || conn_flush(c))
        conn_free(c);
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;         /* EAGAIN, or EMFILE and friends: try again on the next event */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT   (0 = any free port)\n", argv[0]);
        return 2;
    }
    char *e;
    long port = strtol(argv[1], &e, 10);
    if (*e || port < 0 || port > 65535) {
        fprintf(stderr, "echo_server: bad port '%s'\n", argv[1]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        perror("echo_server: socket");
        return 1;
    }
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0) {
        perror("echo_server: bind/listen");
        return 1;
    }
    socklen_t sl = sizeof sa;
    if (getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
        perror("echo_server: getsockname");
        return 1;
    }
    printf("PORT %u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);

    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) {
        perror("echo_server: epoll_create1");
        return 1;
    }
    /* The listener is the one event whose data.ptr is NULL. */
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        perror("echo_server: epoll_ctl");
        return 1;
    }

    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(g_ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("echo_server: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                accept_all(lfd);
            } else if (evs[i].events & EPOLLOUT) {
                if (conn_flush(c))
                    conn_free(c);
                else if (!c->want_out && c->in_len && (conn_parse(c) < 0 || conn_flush(c)))
                    conn_free(c);       /* requests that queued up while output was stuck */
            } else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                conn_on_readable(c);
            }
        }
    }
}
