/* tls.h — TLS for the HTTP server's listeners (OpenSSL), non-blocking,
 * driven by the same epoll loop as plain sockets.
 *
 * A tls_server_t is one certificate and key (a PEM chain and a PEM key) and
 * the settings every connection gets: TLS 1.2 at least, no renegotiation,
 * ALPN "http/1.1" only, no compression, no session tickets kept across a
 * reload. tls_server_reload() reads the files again: connections accepted
 * afterwards get the new certificate, those open keep theirs, and a bad new
 * file leaves the old one in force.
 *
 * A tls_conn_t wraps one accepted socket. Its read and write act like
 * recv/send: bytes, 0 at the peer's close, or -1 with errno (EAGAIN: wait
 * for the directions tls_conn_wants() names). The handshake happens inside
 * the first reads. A first byte that cannot start a TLS record makes the
 * read fail with EPROTO and tls_conn_plain() true: a plain HTTP request on
 * the TLS port, nothing of it consumed, for the caller to refuse in plain.
 */
#ifndef NIMBUS_TLS_H
#define NIMBUS_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/err.h"

typedef struct tls_server tls_server_t;
typedef struct tls_conn tls_conn_t;

/* Load `cert_file` (the certificate chain, leaf first) and `key_file`. */
tls_server_t *tls_server_new(const char *cert_file, const char *key_file, err_t *err);
/* Read both files again; on failure `err` says why and the old pair stays. */
int tls_server_reload(tls_server_t *t, err_t *err);
/* Connections still open keep what they use alive. */
void tls_server_free(tls_server_t *t);
/* SHA-256 of the certificate in force (DER), 32 bytes. */
void tls_server_fingerprint(const tls_server_t *t, uint8_t out[32]);

/* Serve TLS on `fd` (a connected non-blocking socket, still the caller's). */
tls_conn_t *tls_conn_new(tls_server_t *t, int fd, err_t *err);
void tls_conn_free(tls_conn_t *c);
ssize_t tls_conn_read(tls_conn_t *c, void *buf, size_t n);
/* Writes the iovecs in order, as much as the socket takes. */
ssize_t tls_conn_writev(tls_conn_t *c, const struct iovec *iov, int n);
/* Decrypted bytes (or a record) already buffered: readable without epoll. */
bool tls_conn_pending(const tls_conn_t *c);
/* EPOLLIN/EPOLLOUT that the blocked read or write waits for beyond its own
 * direction (a read in the handshake may wait to write, a write to read). */
uint32_t tls_conn_wants(const tls_conn_t *c);
bool tls_conn_established(const tls_conn_t *c);
/* The first bytes were not TLS (see above). */
bool tls_conn_plain(const tls_conn_t *c);

#endif
