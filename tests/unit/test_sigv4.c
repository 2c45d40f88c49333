/* test_sigv4.c — base/sigv4 against the vectors of AWS's Signature Version
 * 4 test suite (AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1, service
 * "service"), and the parsing both halves rely on. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/sigv4.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define DATE "20150830T123600Z"
#define SCOPE "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "

static void check_sign(const char *method, const char *path, const char *query, const sigv4_header_t *h, size_t n,
                       const char *want)
{
    sigv4_request_t r = { .method = method, .path = path, .query = query, .headers = h, .nheaders = n,
                          .payload_hash = SIGV4_EMPTY_SHA256 };
    buf_t a = { 0 };
    err_t err;
    cr_assert_eq(sigv4_sign(&r, "AKIDEXAMPLE", SECRET, DATE, "us-east-1", "service", &a, &err), 0, "%s", err.msg);
    cr_assert_str_eq(a.data, want);
    buf_free(&a);
}

#define HOST { "Host", "example.amazonaws.com" }
#define XDATE { "X-Amz-Date", DATE }

Test(sigv4, suite_get_vanilla)
{
    sigv4_header_t h[] = { HOST, XDATE };
    check_sign("GET", "/", "", h, 2,
               SIGV4_ALGORITHM " " SCOPE "SignedHeaders=host;x-amz-date, "
               "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

Test(sigv4, suite_get_vanilla_string_to_sign)
{
    sigv4_header_t h[] = { HOST, XDATE };
    sigv4_request_t r = { .method = "GET", .path = "/", .query = "", .headers = h, .nheaders = 2,
                          .signed_headers = "host;x-amz-date", .payload_hash = SIGV4_EMPTY_SHA256 };
    buf_t creq = { 0 }, sts = { 0 };
    err_t err;
    cr_assert_eq(sigv4_canonical_request(&r, &creq, &err), 0);
    cr_assert_str_eq(creq.data, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                                "host;x-amz-date\n" SIGV4_EMPTY_SHA256);
    uint8_t key[32];
    char sig[65], scope[128];
    sigv4_scope("20150830", "us-east-1", "service", scope);
    sigv4_signing_key(SECRET, "20150830", "us-east-1", "service", key);
    sigv4_signature(key, DATE, scope, creq.data, creq.len, sig, &sts);
    cr_assert_str_eq(sts.data, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
                               "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    cr_assert_str_eq(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    buf_free(&creq);
    buf_free(&sts);
}

Test(sigv4, suite_post_vanilla)
{
    sigv4_header_t h[] = { HOST, XDATE };
    check_sign("POST", "/", "", h, 2,
               SIGV4_ALGORITHM " " SCOPE "SignedHeaders=host;x-amz-date, "
               "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

Test(sigv4, suite_query_order_key_case)
{
    sigv4_header_t h[] = { HOST, XDATE };
    check_sign("GET", "/", "Param2=value2&Param1=value1", h, 2,
               SIGV4_ALGORITHM " " SCOPE "SignedHeaders=host;x-amz-date, "
               "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

Test(sigv4, suite_header_value_case)
{
    sigv4_header_t h[] = { HOST, { "My-Header1", "VALUE1" }, XDATE };
    check_sign("POST", "/", "", h, 3,
               SIGV4_ALGORITHM " " SCOPE "SignedHeaders=host;my-header1;x-amz-date, "
               "Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d");
}

Test(sigv4, suite_header_value_trim)
{
    sigv4_header_t h[] = { HOST, { "My-Header1", " value1" }, { "My-Header2", "\"a   b   c\"" }, XDATE };
    check_sign("GET", "/", "", h, 4,
               SIGV4_ALGORITHM " " SCOPE "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
               "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

Test(sigv4, suite_header_key_duplicate_joined_in_order)
{
    sigv4_header_t h[] = { HOST, { "My-Header1", "value2" }, { "My-Header1", "value2" },
                           { "My-Header1", "value1" }, XDATE };
    check_sign("GET", "/", "", h, 5,
               SIGV4_ALGORITHM " " SCOPE "SignedHeaders=host;my-header1;x-amz-date, "
               "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
}

Test(sigv4, suite_get_unreserved)
{
    sigv4_header_t h[] = { HOST, XDATE };
    check_sign("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", h, 2,
               SIGV4_ALGORITHM " " SCOPE "SignedHeaders=host;x-amz-date, "
               "Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
}

Test(sigv4, suite_normalize_path_special_character_double_encoded)
{
    sigv4_header_t h[] = { HOST, XDATE };
    check_sign("GET", "/example/$delete", "", h, 2,
               SIGV4_ALGORITHM " " SCOPE "SignedHeaders=host;x-amz-date, "
               "Signature=a853c9b21b528b19643d00910d35b83a10c366a10833ceefb45edd6c80e40f27");
}

Test(sigv4, lambda_path_is_encoded_once_more_and_normalized)
{
    sigv4_header_t h[] = { { "host", "x" } };
    sigv4_request_t r = { .method = "GET", .path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1/.//x/../y/",
                          .query = "b=%20c&a=1&X-Amz-Signature=zz&a=0", .headers = h, .nheaders = 1,
                          .signed_headers = "host", .payload_hash = SIGV4_UNSIGNED_PAYLOAD };
    buf_t c = { 0 };
    err_t err;
    cr_assert_eq(sigv4_canonical_request(&r, &c, &err), 0);
    cr_assert_str_eq(c.data, "GET\n/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A1/y/\n"
                             "a=0&a=1&b=%20c\nhost:x\n\nhost\nUNSIGNED-PAYLOAD");
    buf_free(&c);
}

Test(sigv4, a_signed_header_missing_from_the_request_fails)
{
    sigv4_header_t h[] = { HOST };
    sigv4_request_t r = { .method = "GET", .path = "/", .query = "", .headers = h, .nheaders = 1,
                          .signed_headers = "host;x-amz-date", .payload_hash = SIGV4_EMPTY_SHA256 };
    buf_t c = { 0 };
    err_t err;
    cr_assert_eq(sigv4_canonical_request(&r, &c, &err), -1);
    cr_assert(strstr(err.msg, "x-amz-date"));
    buf_free(&c);
}

Test(sigv4, authorization_header_parses_back)
{
    sigv4_auth_t a;
    err_t err;
    cr_assert_eq(sigv4_parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/lambda/aws4_request,"
                                           " SignedHeaders=host;x-amz-date, Signature=abc", &a, &err), 0, "%s", err.msg);
    cr_assert_str_eq(a.access_key, "AKID");
    cr_assert_str_eq(a.date, "20150830");
    cr_assert_str_eq(a.region, "us-east-1");
    cr_assert_str_eq(a.service, "lambda");
    cr_assert_str_eq(a.signed_headers, "host;x-amz-date");
    cr_assert_str_eq(a.signature, "abc");
    cr_assert_eq(sigv4_parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/lambda/aws4_request",
                                           &a, &err), -1);
    cr_assert(strstr(err.msg, "SignedHeaders"));
    cr_assert_eq(sigv4_parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/lambda/x, "
                                           "SignedHeaders=host, Signature=a", &a, &err), -1);
    cr_assert_eq(sigv4_parse_authorization("Basic dXNlcjpwYXNz", &a, &err), -1);
}

Test(sigv4, presigned_query_parses)
{
    sigv4_auth_t a;
    err_t err;
    cr_assert_eq(sigv4_parse_query("a=1", &a, &err), 0);
    cr_assert(!a.presigned);
    cr_assert_eq(sigv4_parse_query("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1"
                                   "%2Flambda%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60"
                                   "&X-Amz-SignedHeaders=host&X-Amz-Signature=ff", &a, &err), 0, "%s", err.msg);
    cr_assert(a.presigned);
    cr_assert_eq(a.expires, 60);
    cr_assert_str_eq(a.amz_date, DATE);
    cr_assert_str_eq(a.access_key, "AKID");
    cr_assert_eq(sigv4_parse_query("X-Amz-Signature=ff&X-Amz-Algorithm=AWS4-HMAC-SHA256", &a, &err), -1);
}

Test(sigv4, dates_round_trip_and_compare_in_constant_time)
{
    int64_t t;
    cr_assert_eq(sigv4_parse_date(DATE, &t), 0);
    cr_assert_eq(t, 1440938160);
    char out[17];
    sigv4_format_date(t, out);
    cr_assert_str_eq(out, DATE);
    cr_assert_eq(sigv4_parse_date("20150830123600Z", &t), -1);
    cr_assert(sigv4_equal("abc", "abc"));
    cr_assert(!sigv4_equal("abc", "abd"));
    cr_assert(!sigv4_equal("abc", "abcd"));
}
