/* test_evstream.c — the AWS event stream framing against messages built by
 * an independent encoder (Python's struct + zlib.crc32), and the empty
 * message every event-stream implementation's test vectors start with. */
#include <criterion/criterion.h>

#include <string.h>

#include "base/evstream.h"

/* 00000010 00000000 05c248eb 7d98c8ff: prelude CRC, message CRC. */
static const char EMPTY[] = "\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2\x48\xeb\x7d\x98\xc8\xff";

static const char CHUNK[] =
    "\x00\x00\x00\x6f\x00\x00\x00\x5a\xf5\xfe\x87\x1f\x0b\x3a\x65\x76\x65\x6e\x74\x2d\x74\x79\x70\x65"
    "\x07\x00\x0c\x50\x61\x79\x6c\x6f\x61\x64\x43\x68\x75\x6e\x6b\x0d\x3a\x63\x6f\x6e\x74\x65\x6e\x74"
    "\x2d\x74\x79\x70\x65\x07\x00\x18\x61\x70\x70\x6c\x69\x63\x61\x74\x69\x6f\x6e\x2f\x6f\x63\x74\x65"
    "\x74\x2d\x73\x74\x72\x65\x61\x6d\x0d\x3a\x6d\x65\x73\x73\x61\x67\x65\x2d\x74\x79\x70\x65\x07\x00"
    "\x05\x65\x76\x65\x6e\x74\x68\x65\x6c\x6c\x6f\x29\xe7\x12\x60";

Test(evstream, empty_message_matches_the_reference_bytes)
{
    buf_t b = { 0 };
    cr_assert_eq(evstream_append(&b, NULL, 0, NULL, 0), 0);
    cr_assert_eq(b.len, 16);
    cr_assert_eq(memcmp(b.data, EMPTY, 16), 0);
    buf_free(&b);
}

Test(evstream, payload_chunk_matches_an_independent_encoder)
{
    buf_t b = { 0 };
    cr_assert_eq(evstream_append_event(&b, "PayloadChunk", "application/octet-stream", "hello", 5), 0);
    cr_assert_eq(b.len, sizeof CHUNK - 1);
    cr_assert_eq(memcmp(b.data, CHUNK, b.len), 0);
    /* Messages follow each other in one buffer. */
    cr_assert_eq(evstream_append(&b, NULL, 0, NULL, 0), 0);
    cr_assert_eq(b.len, sizeof CHUNK - 1 + 16);
    cr_assert_eq(memcmp(b.data + sizeof CHUNK - 1, EMPTY, 16), 0);
    buf_free(&b);
}

Test(evstream, refuses_what_it_cannot_frame)
{
    buf_t b = { 0 };
    char name[300];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    evstream_header_t h[] = { { name, "v" } };
    cr_assert_eq(evstream_append(&b, h, 1, "x", 1), -1);
    evstream_header_t empty[] = { { "", "v" } };
    cr_assert_eq(evstream_append(&b, empty, 1, "x", 1), -1);
    cr_assert_eq(b.len, 0, "nothing appended");
    buf_free(&b);
}
