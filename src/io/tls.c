/* tls.c — OpenSSL under the HTTP server (tls.h): the server context and
 * its reload, and one connection's non-blocking reads and writes.
 *
 * Owns every OpenSSL call of the daemon's listeners. Must never: block
 * (sockets are non-blocking; a read or write that cannot go on reports
 * EAGAIN and what it waits for), print (errors travel as values), or keep
 * OpenSSL's error queue across calls (one connection's failure must not be
 * read as another's).
 */
#define _GNU_SOURCE
#include "io/tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define TLS_RECORD_MAX 16384       /* plaintext of one record */
#define TLS_HANDSHAKE_RECORD 0x16  /* content type of a ClientHello's record */

struct tls_server {
    SSL_CTX *ctx;                  /* the pair in force; each SSL holds a reference */
    char *cert_file, *key_file;
};

struct tls_conn {
    SSL *ssl;
    int fd;
    bool started;                  /* the first byte was a TLS record's */
    bool plain;                    /* ...or it was not */
    uint32_t read_wants, write_wants;
};

/* OpenSSL's reason for the last failure, and an empty queue after it. */
static int ssl_err(err_t *err, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return err_set(err, ERR_INVALID, "%s %s: %s", what, file, buf);
}

/* Only "http/1.1" is served; a client that offers no ALPN or others
 * (h2 alone) is not told a protocol and gets HTTP/1.1 all the same. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    (void)ssl; (void)arg;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *ctx_load(const char *cert_file, const char *key_file, err_t *err)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_err(err, "TLS", "context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* No renegotiation (TLS 1.2's can be started by the client at any
     * time and would make a read write); an EOF without close_notify is an
     * ordinary end, as HTTP/1.1 clients close. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* A write that returns EAGAIN is retried with the same bytes, maybe
     * gathered into another buffer, maybe with more behind them. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        ssl_err(err, "TLS certificate", cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        ssl_err(err, "TLS key", key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, "TLS key does not match the certificate:", key_file);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

tls_server_t *tls_server_new(const char *cert_file, const char *key_file, err_t *err)
{
    tls_server_t *t = calloc(1, sizeof *t);
    if (!t || !(t->cert_file = strdup(cert_file)) || !(t->key_file = strdup(key_file))) {
        tls_server_free(t);
        err_set(err, ERR_SYS, "out of memory");
        return NULL;
    }
    if (!(t->ctx = ctx_load(cert_file, key_file, err))) {
        tls_server_free(t);
        return NULL;
    }
    return t;
}

int tls_server_reload(tls_server_t *t, err_t *err)
{
    SSL_CTX *ctx = ctx_load(t->cert_file, t->key_file, err);
    if (!ctx) return -1;
    SSL_CTX_free(t->ctx);   /* open connections hold their own reference */
    t->ctx = ctx;
    return 0;
}

void tls_server_free(tls_server_t *t)
{
    if (!t) return;
    SSL_CTX_free(t->ctx);
    free(t->cert_file);
    free(t->key_file);
    free(t);
}

void tls_server_fingerprint(const tls_server_t *t, uint8_t out[32])
{
    unsigned len = 0;
    memset(out, 0, 32);
    X509 *x = SSL_CTX_get0_certificate(t->ctx);
    if (x) X509_digest(x, EVP_sha256(), out, &len);
}

tls_conn_t *tls_conn_new(tls_server_t *t, int fd, err_t *err)
{
    tls_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        err_set(err, ERR_SYS, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    if (!(c->ssl = SSL_new(t->ctx)) || SSL_set_fd(c->ssl, fd) != 1) {
        ssl_err(err, "TLS", "connection");
        tls_conn_free(c);
        return NULL;
    }
    SSL_set_accept_state(c->ssl);
    c->fd = fd;
    return c;
}

void tls_conn_free(tls_conn_t *c)
{
    if (!c) return;
    SSL_free(c->ssl);   /* no close_notify: the socket is closed with it */
    free(c);
}

/* errno for an SSL call that did not complete, and what it waits for. */
static ssize_t ssl_blocked(tls_conn_t *c, int r, uint32_t *wants, uint32_t other)
{
    int e = SSL_get_error(c->ssl, r);
    int saved = errno;
    ERR_clear_error();
    switch (e) {
    case SSL_ERROR_WANT_READ: *wants = other == EPOLLIN ? EPOLLIN : 0; errno = EAGAIN; return -1;
    case SSL_ERROR_WANT_WRITE: *wants = other == EPOLLOUT ? EPOLLOUT : 0; errno = EAGAIN; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_SYSCALL: errno = saved ? saved : ECONNRESET; return -1;
    default: errno = EPROTO; return -1;
    }
}

ssize_t tls_conn_read(tls_conn_t *c, void *buf, size_t n)
{
    c->read_wants = 0;
    if (!c->started) {
        /* Looked at, not taken: a plain request stays whole for its 400. */
        unsigned char b;
        ssize_t k = recv(c->fd, &b, 1, MSG_PEEK);
        if (k <= 0) return k;
        if (b != TLS_HANDSHAKE_RECORD) {
            c->plain = true;
            errno = EPROTO;
            return -1;
        }
        c->started = true;
    }
    size_t got = 0;
    ERR_clear_error();
    int r = SSL_read_ex(c->ssl, buf, n, &got);
    if (r == 1) return (ssize_t)got;
    return ssl_blocked(c, r, &c->read_wants, EPOLLOUT);
}

ssize_t tls_conn_writev(tls_conn_t *c, const struct iovec *iov, int n)
{
    c->write_wants = 0;
    char stage[TLS_RECORD_MAX];
    size_t total = 0, off = 0;
    int i = 0;
    while (i < n) {
        if (off == iov[i].iov_len) { i++; off = 0; continue; }
        const char *p = (const char *)iov[i].iov_base + off;
        size_t len = iov[i].iov_len - off;
        if (len < sizeof stage && i + 1 < n) {
            /* Small pieces (a head, then its body) go out as one record. */
            size_t k = 0, o = off;
            for (int j = i; j < n && k < sizeof stage; j++, o = 0) {
                size_t take = iov[j].iov_len - o;
                if (take > sizeof stage - k) take = sizeof stage - k;
                memcpy(stage + k, (const char *)iov[j].iov_base + o, take);
                k += take;
            }
            p = stage;
            len = k;
        }
        size_t w = 0;
        ERR_clear_error();
        if (SSL_write_ex(c->ssl, p, len, &w) != 1) {
            uint32_t wants = 0;
            ssize_t r = ssl_blocked(c, 0, &wants, EPOLLIN);
            c->write_wants = wants;
            if (total) return (ssize_t)total;
            return r == 0 ? (errno = EPIPE, -1) : r;
        }
        total += w;
        while (w) {   /* advance over what went */
            size_t left = iov[i].iov_len - off;
            if (w < left) { off += w; w = 0; }
            else { w -= left; i++; off = 0; }
        }
    }
    return (ssize_t)total;
}

bool tls_conn_pending(const tls_conn_t *c) { return SSL_pending(c->ssl) > 0; }

uint32_t tls_conn_wants(const tls_conn_t *c) { return c->read_wants | c->write_wants; }

bool tls_conn_established(const tls_conn_t *c) { return c->started && SSL_is_init_finished(c->ssl); }

bool tls_conn_plain(const tls_conn_t *c) { return c->plain; }
