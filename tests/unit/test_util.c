/* test_util.c — util: uuid, base64, sha256, timestamps, buf_t, URL decoding. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

Test(util, uuid4_format_and_uniqueness)
{
    char a[37], b[37];
    util_uuid4(a);
    util_uuid4(b);
    cr_assert_eq(strlen(a), 36);
    cr_assert_neq(strcmp(a, b), 0);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            cr_assert_eq(a[i], '-');
        else
            cr_assert(strchr("0123456789abcdef", a[i]) != NULL, "char %d = %c", i, a[i]);
    }
    cr_assert_eq(a[14], '4');
    cr_assert(strchr("89ab", a[19]) != NULL);
}

/* Request ids: RFC 9562 version 7 — the millisecond time first, so ids made later sort later (the
 * log store's request-id index grows at its end), and still 74 random bits. */
Test(util, uuid7_is_time_ordered_with_random_bits)
{
    char a[37], b[37], c[37];
    uint64_t ms = 0x0192abcdef12ull;
    util_uuid7(a, ms);
    util_uuid7(b, ms);
    util_uuid7(c, ms + 1);
    cr_assert_eq(strlen(a), 36);
    cr_assert_eq(strncmp(a, "0192abcd-ef12-7", 15), 0, "%s", a);
    cr_assert(strchr("89ab", a[19]) != NULL, "%s", a);
    cr_assert_neq(strcmp(a, b), 0);
    cr_assert_lt(strcmp(a, c), 0, "%s !< %s", a, c);
    cr_assert_lt(strcmp(b, c), 0, "%s !< %s", b, c);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            cr_assert_eq(a[i], '-');
        else
            cr_assert(strchr("0123456789abcdef", a[i]) != NULL, "char %d = %c", i, a[i]);
    }
}

Test(util, random_id_is_lowercase_alnum_and_covers_the_alphabet)
{
    char id[33], seen[256] = {0};
    for (int k = 0; k < 200; k++) {
        util_random_id(id, sizeof id);
        cr_assert_eq(strlen(id), 32);
        for (int i = 0; i < 32; i++) {
            cr_assert(strchr("abcdefghijklmnopqrstuvwxyz0123456789", id[i]) != NULL, "char %c", id[i]);
            seen[(unsigned char)id[i]] = 1;
        }
    }
    int n = 0;
    for (int c = 0; c < 256; c++) n += seen[c];
    cr_assert_eq(n, 36, "6400 draws reach all 36 characters");
}

static void check_b64(const char *plain, const char *enc)
{
    size_t n;
    char *e = util_base64_encode(plain, strlen(plain), &n);
    cr_assert_str_eq(e, enc);
    cr_assert_eq(n, strlen(enc));
    err_t err = {0};
    size_t m;
    char *d = util_base64_decode(enc, strlen(enc), &m, &err);
    cr_assert_not_null(d, "decode %s: %s", enc, err.msg);
    cr_assert_eq(m, strlen(plain));
    cr_assert_eq(memcmp(d, plain, m), 0);
    cr_assert_eq(d[m], '\0');
    free(e);
    free(d);
}

Test(util, base64_rfc4648_vectors)
{
    check_b64("", "");
    check_b64("f", "Zg==");
    check_b64("fo", "Zm8=");
    check_b64("foo", "Zm9v");
    check_b64("foob", "Zm9vYg==");
    check_b64("fooba", "Zm9vYmE=");
    check_b64("foobar", "Zm9vYmFy");
}

Test(util, base64_binary_round_trip)
{
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len < 40; len++) {
        size_t n, m;
        char *e = util_base64_encode(data, len, &n);
        err_t err = {0};
        char *d = util_base64_decode(e, n, &m, &err);
        cr_assert_not_null(d);
        cr_assert_eq(m, len);
        cr_assert_eq(memcmp(d, data, len), 0);
        free(e);
        free(d);
    }
    size_t n, m;
    char *e = util_base64_encode(data, sizeof data, &n);
    err_t err = {0};
    char *d = util_base64_decode(e, n, &m, &err);
    cr_assert_eq(m, sizeof data);
    cr_assert_eq(memcmp(d, data, m), 0);
    free(e);
    free(d);
}

Test(util, base64_ignores_whitespace)
{
    const char *t = "Zm9v\nYmFy\r\n YQ==\n";
    err_t err = {0};
    size_t m;
    char *d = util_base64_decode(t, strlen(t), &m, &err);
    cr_assert_not_null(d);
    cr_assert_eq(m, 7);
    cr_assert_str_eq(d, "foobara");
    free(d);
}

Test(util, base64_rejects_bad_input)
{
    const char *bad[] = {
        "Zm9",      /* not a multiple of 4 */
        "Zg=",      /* padding missing */
        "Zg",       /* padding missing */
        "Z===",     /* too much padding */
        "====",     /* only padding */
        "Zg==Zg==", /* padding in the middle */
        "Zm=v",     /* data after padding */
        "Zm9v!A==", /* bad character */
        "Zm9v-_==", /* url-safe alphabet is not standard base64 */
        "Zg\x00=",  /* NUL */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err_t err = {0};
        size_t m = 99;
        size_t len = i == 9 ? 4 : strlen(bad[i]);
        char *d = util_base64_decode(bad[i], len, &m, &err);
        cr_assert_null(d, "accepted %s", bad[i]);
        cr_assert_eq(err.code, ERR_INVALID);
    }
}

Test(util, sha256_known_vectors)
{
    uint8_t d[32];
    char hex[65];
    util_sha256("abc", 3, d);
    util_hex(d, 32, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    util_sha256("", 0, d);
    util_hex(d, 32, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    char *b = util_base64_encode(d, 32, NULL);
    cr_assert_str_eq(b, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    cr_assert_eq(strlen(b), 44);
    free(b);
}

Test(util, iso8601_ms)
{
    char out[32];
    util_iso8601_ms(0, out);
    cr_assert_str_eq(out, "1970-01-01T00:00:00.000+0000");
    util_iso8601_ms(1700000000123ULL, out);
    cr_assert_str_eq(out, "2023-11-14T22:13:20.123+0000");
    util_iso8601_ms(1700000000007ULL, out);
    cr_assert_str_eq(out, "2023-11-14T22:13:20.007+0000");
}

Test(util, buf_grows_and_steals)
{
    buf_t b = {0};
    char *empty = buf_steal(&b, NULL);
    cr_assert_not_null(empty);
    cr_assert_str_eq(empty, "");
    free(empty);

    for (int i = 0; i < 1000; i++) buf_appendf(&b, "%d,", i);
    cr_assert(strncmp(b.data, "0,1,2,", 6) == 0);
    cr_assert_eq(strlen(b.data), b.len);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_reset(&b);
    cr_assert_eq(b.len, 0);
    buf_appendf(&b, "<%s>", big);
    cr_assert_eq(b.len, 601);
    buf_append(&b, "\0z", 2);
    cr_assert_eq(b.len, 603);
    size_t len;
    char *s = buf_steal(&b, &len);
    cr_assert_eq(len, 603);
    cr_assert_eq(s[601], '\0');
    cr_assert_eq(s[602], 'z');
    cr_assert_eq(s[603], '\0');
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    free(s);
    buf_append(&b, "abc", 3);
    cr_assert_str_eq(b.data, "abc");
    buf_free(&b);
    cr_assert_null(b.data);
}

/* The builders the hot log lines use write what snprintf would, cut where
 * it would. */
Test(util, cat_writes_and_cuts_as_snprintf)
{
    char b[12], want[12];
    size_t n = 0;
    util_cat_lit(b, sizeof b, &n, "ab");
    util_cat_u64(b, sizeof b, &n, 0);
    util_cat_str(b, sizeof b, &n, "cd");
    cr_assert_str_eq(b, "ab0cd");
    cr_assert_eq(n, 5);
    util_cat_u64(b, sizeof b, &n, 18446744073709551615ull);
    snprintf(want, sizeof want, "ab0cd%llu", 18446744073709551615ull);
    cr_assert_str_eq(b, want);
    cr_assert_eq(n, sizeof b - 1);
    util_cat_lit(b, sizeof b, &n, "more");
    cr_assert_str_eq(b, want);
    util_copy(b, sizeof b, "0123456789abcdef");
    cr_assert_str_eq(b, "0123456789a");
    util_copy(b, sizeof b, "");
    cr_assert_str_eq(b, "");
}

Test(util, cat_ms_is_printf_2f_of_ns_in_ms)
{
    static const uint64_t fixed[] = { 0, 1, 4999, 5000, 5001, 9999, 10000, 15000, 25000, 125000, 1005000,
                                      2675000, 999995000, 900000000000ull, 123456785000ull, 86399999995000ull };
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] + 20000; i++) {
        uint64_t ns;
        if (i < sizeof fixed / sizeof fixed[0]) {
            ns = fixed[i];
        } else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            ns = i % 2 ? x % 100000000000ull : (x % 100000000ull) / 10000 * 10000 + 5000;  /* ties too */
        }
        char got[64], want[64];
        size_t n = 0;
        util_cat_ms(got, sizeof got, &n, ns);
        snprintf(want, sizeof want, "%.2f", (double)ns / 1e6);
        cr_assert_str_eq(got, want, "ns=%llu", (unsigned long long)ns);
    }
}

Test(util, url_decode)
{
    char *s = util_url_decode("my%3Afunc%2fx+y", 15);
    cr_assert_str_eq(s, "my:func/x+y");
    free(s);
    cr_assert_null(util_url_decode("abc%", 4));
    cr_assert_null(util_url_decode("abc%4", 5));
    cr_assert_null(util_url_decode("abc%zz", 6));
    cr_assert_null(util_url_decode("a%00b", 5));
    /* n bounds the input: the % after it is not read */
    s = util_url_decode("ab%41", 2);
    cr_assert_str_eq(s, "ab");
    free(s);
}

Test(util, query_param)
{
    const char *q = "Qualifier=%24LATEST&MaxItems=10&flag&x=a+b%26c&empty=";
    char *v = util_query_param(q, "Qualifier");
    cr_assert_str_eq(v, "$LATEST");
    free(v);
    v = util_query_param(q, "MaxItems");
    cr_assert_str_eq(v, "10");
    free(v);
    v = util_query_param(q, "flag");
    cr_assert_str_eq(v, "");
    free(v);
    v = util_query_param(q, "x");
    cr_assert_str_eq(v, "a b&c");
    free(v);
    v = util_query_param(q, "empty");
    cr_assert_str_eq(v, "");
    free(v);
    cr_assert_null(util_query_param(q, "Max"));
    cr_assert_null(util_query_param(q, "missing"));
    cr_assert_null(util_query_param("", "a"));
    cr_assert_null(util_query_param(NULL, "a"));
    v = util_query_param("?a=1", "a");
    cr_assert_str_eq(v, "1");
    free(v);
}
