/* evstream.c — AWS event stream messages (see evstream.h): framing and
 * CRCs, nothing else. Must never: write a header it cannot frame (a too
 * long name or value is refused whole), or do I/O.
 */
#include "base/evstream.h"

#include <stdint.h>
#include <string.h>

#include <zlib.h>

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t crc(uint32_t c, const void *p, size_t n)
{
    /* zlib's crc32 takes uInt lengths: feed large payloads in pieces. */
    const unsigned char *b = p;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = (uint32_t)crc32(c, b, k);
        b += k;
        n -= k;
    }
    return c;
}

int evstream_append(buf_t *out, const evstream_header_t *headers, size_t nheaders,
                    const void *payload, size_t len)
{
    size_t hlen = 0;
    for (size_t i = 0; i < nheaders; i++) {
        size_t nl = strlen(headers[i].name), vl = strlen(headers[i].value);
        if (nl == 0 || nl > 255 || vl > 65535) return -1;
        hlen += 1 + nl + 1 + 2 + vl;
    }
    size_t total = EVSTREAM_PRELUDE + hlen + len + 4;
    if (total > EVSTREAM_MAX_MESSAGE) return -1;

    size_t start = out->len;
    unsigned char prelude[EVSTREAM_PRELUDE];
    put_be32(prelude, (uint32_t)total);
    put_be32(prelude + 4, (uint32_t)hlen);
    put_be32(prelude + 8, crc(0, prelude, 8));
    buf_append(out, prelude, sizeof prelude);
    for (size_t i = 0; i < nheaders; i++) {
        size_t nl = strlen(headers[i].name), vl = strlen(headers[i].value);
        unsigned char b[3];
        b[0] = (unsigned char)nl;
        buf_append(out, b, 1);
        buf_append(out, headers[i].name, nl);
        b[0] = 7;   /* string */
        b[1] = (unsigned char)(vl >> 8);
        b[2] = (unsigned char)vl;
        buf_append(out, b, 3);
        buf_append(out, headers[i].value, vl);
    }
    if (len) buf_append(out, payload, len);
    unsigned char tail[4];
    put_be32(tail, crc(0, out->data + start, out->len - start));
    buf_append(out, tail, 4);
    return 0;
}

int evstream_append_event(buf_t *out, const char *event_type, const char *content_type,
                          const void *payload, size_t len)
{
    evstream_header_t h[] = { { ":event-type", event_type },
                              { ":content-type", content_type },
                              { ":message-type", "event" } };
    return evstream_append(out, h, 3, payload, len);
}
