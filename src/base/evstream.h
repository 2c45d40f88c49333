/* evstream.h — the AWS event stream encoding (application/vnd.amazon.eventstream),
 * as InvokeWithResponseStream answers with it.
 *
 * One message: a 12-byte prelude (total length, headers length, both
 * big-endian 32-bit, then the CRC32 of those 8 bytes), the headers (each:
 * 1-byte name length, name, 1-byte value type, then for strings — type 7 —
 * a big-endian 16-bit length and the bytes), the payload, and the CRC32 of
 * everything before it. Only string headers are written. Pure encoding:
 * no I/O.
 */
#ifndef NIMBUS_EVSTREAM_H
#define NIMBUS_EVSTREAM_H

#include <stddef.h>

#include "base/util.h"

typedef struct {
    const char *name;     /* at most 255 bytes */
    const char *value;    /* a string, at most 65535 bytes */
} evstream_header_t;

#define EVSTREAM_PRELUDE 12u
#define EVSTREAM_MAX_MESSAGE (16u * 1024u * 1024u)   /* what decoders accept */

/* Append one message to `out`. -1 (nothing appended) when a name or value
 * is too long or the message would pass EVSTREAM_MAX_MESSAGE. */
int evstream_append(buf_t *out, const evstream_header_t *headers, size_t nheaders,
                    const void *payload, size_t len);

/* The usual event: headers :event-type, :content-type and
 * :message-type "event". */
int evstream_append_event(buf_t *out, const char *event_type, const char *content_type,
                          const void *payload, size_t len);

#endif
