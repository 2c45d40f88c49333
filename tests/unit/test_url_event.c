/* test_url_event.c — function URL payload 2.0: the request event, the
 * result → HTTP answer (with Lambda's inference), the platform's own
 * answers, the streamed prelude, and CORS. Expected documents are the
 * Lambda Developer Guide's examples ("Invoking Lambda function URLs",
 * "Cors"). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "api/url_event.h"

#define ARR(...) ((http_header_t[]){__VA_ARGS__})
#define NH(a) (sizeof(a) / sizeof((a)[0]))

static http_request_t request(const char *method, http_header_t *h, size_t n, const char *body, size_t len)
{
    http_request_t r = {0};
    r.method = method;
    r.headers = h;
    r.nheaders = n;
    r.body = (char *)(body ? body : "");
    r.body_len = len;
    return r;
}

static cJSON *event_of(const http_request_t *req, const char *path, const char *query)
{
    url_request_t u = {
        .req = req, .raw_path = path, .raw_query = query, .url_id = "abcdefghijklmnopqrstuvwxyz012345",
        .domain = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.localhost", .account = "123456789012",
        .source_ip = "123.123.123.123", .request_id = "id", .time_ms = 1584039838390,
    };
    err_t err = {0};
    size_t len = 0;
    char *text = url_event_build(&u, &len, &err);
    cr_assert(text, "%s", err.msg);
    cr_assert_eq(len, strlen(text));
    cJSON *doc = cJSON_Parse(text);
    cr_assert(doc, "not JSON: %s", text);
    free(text);
    return doc;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    cr_assert(cJSON_IsString(v), "%s is not a string", k);
    return v->valuestring;
}

static const cJSON *obj(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* The DG's "Request payload format" example, sent for real. */
Test(url_event, developer_guide_request_example)
{
    http_header_t *h = ARR({"Header1", "value1"}, {"header2", "value1"}, {"Header2", "value2"},
                           {"Cookie", "cookie1; cookie2"}, {"User-Agent", "agent"},
                           {"Content-Type", "text/plain"});
    const char *body = "Hello from client!";
    http_request_t req = request("POST", h, 6, body, strlen(body));
    cJSON *ev = event_of(&req, "/my/path", "parameter1=value1&parameter1=value2&parameter2=value");
    cr_assert_str_eq(str(ev, "version"), "2.0");
    cr_assert_str_eq(str(ev, "routeKey"), "$default");
    cr_assert_str_eq(str(ev, "rawPath"), "/my/path");
    cr_assert_str_eq(str(ev, "rawQueryString"), "parameter1=value1&parameter1=value2&parameter2=value");
    const cJSON *cookies = obj(ev, "cookies");
    cr_assert_eq(cJSON_GetArraySize(cookies), 2);
    cr_assert_str_eq(cJSON_GetArrayItem(cookies, 0)->valuestring, "cookie1");
    cr_assert_str_eq(cJSON_GetArrayItem(cookies, 1)->valuestring, "cookie2");
    const cJSON *hs = obj(ev, "headers");
    cr_assert_str_eq(str(hs, "header1"), "value1");
    cr_assert_str_eq(str(hs, "header2"), "value1,value2");
    cr_assert_null(obj(hs, "cookie"));
    cr_assert_null(obj(hs, "Header1"));
    const cJSON *q = obj(ev, "queryStringParameters");
    cr_assert_str_eq(str(q, "parameter1"), "value1,value2");
    cr_assert_str_eq(str(q, "parameter2"), "value");
    const cJSON *ctx = obj(ev, "requestContext");
    cr_assert_str_eq(str(ctx, "accountId"), "123456789012");
    cr_assert_str_eq(str(ctx, "apiId"), "abcdefghijklmnopqrstuvwxyz012345");
    cr_assert_str_eq(str(ctx, "domainPrefix"), "abcdefghijklmnopqrstuvwxyz012345");
    cr_assert_str_eq(str(ctx, "domainName"), "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.localhost");
    cr_assert_str_eq(str(ctx, "requestId"), "id");
    cr_assert_str_eq(str(ctx, "routeKey"), "$default");
    cr_assert_str_eq(str(ctx, "stage"), "$default");
    cr_assert_str_eq(str(ctx, "time"), "12/Mar/2020:19:03:58 +0000");
    cr_assert_eq(obj(ctx, "timeEpoch")->valuedouble, 1584039838390.0);
    cr_assert_null(obj(ctx, "authorizer"), "AuthType NONE has no authorizer");
    const cJSON *http = obj(ctx, "http");
    cr_assert_str_eq(str(http, "method"), "POST");
    cr_assert_str_eq(str(http, "path"), "/my/path");
    cr_assert_str_eq(str(http, "protocol"), "HTTP/1.1");
    cr_assert_str_eq(str(http, "sourceIp"), "123.123.123.123");
    cr_assert_str_eq(str(http, "userAgent"), "agent");
    cr_assert_str_eq(str(ev, "body"), "Hello from client!");
    cr_assert(cJSON_IsFalse(obj(ev, "isBase64Encoded")));
    cJSON_Delete(ev);
}

Test(url_event, no_query_no_body_no_cookies)
{
    http_request_t req = request("GET", ARR({"Host", "x"}), 1, NULL, 0);
    cJSON *ev = event_of(&req, "/", "");
    cr_assert_str_eq(str(ev, "rawQueryString"), "");
    cr_assert_null(obj(ev, "queryStringParameters"));
    cr_assert_null(obj(ev, "body"));
    cr_assert_null(obj(ev, "cookies"));
    cr_assert(cJSON_IsFalse(obj(ev, "isBase64Encoded")));
    cr_assert_str_eq(str(obj(obj(ev, "requestContext"), "http"), "userAgent"), "");
    cr_assert_str_eq(str(obj(ev, "headers"), "host"), "x");
    cJSON_Delete(ev);
}

Test(url_event, path_and_query_decoding)
{
    http_request_t req = request("GET", NULL, 0, NULL, 0);
    cJSON *ev = event_of(&req, "/a%20b/c%2Fd", "name=Jane%20Doe&x=a+b&flag&&bad=%zz");
    cr_assert_str_eq(str(ev, "rawPath"), "/a%20b/c%2Fd");
    cr_assert_str_eq(str(obj(obj(ev, "requestContext"), "http"), "path"), "/a b/c/d");
    const cJSON *q = obj(ev, "queryStringParameters");
    cr_assert_str_eq(str(q, "name"), "Jane Doe");
    cr_assert_str_eq(str(q, "x"), "a b");
    cr_assert_str_eq(str(q, "flag"), "");
    cr_assert_str_eq(str(q, "bad"), "%zz");
    cr_assert_eq(cJSON_GetArraySize(q), 4);
    cJSON_Delete(ev);
}

static void check_body(const char *ctype, const char *body, size_t len, bool want_b64, const char *want)
{
    http_header_t h[1] = {{"Content-Type", ctype}};
    http_request_t req = request("POST", h, ctype ? 1 : 0, body, len);
    cJSON *ev = event_of(&req, "/", "");
    cr_assert_eq(cJSON_IsTrue(obj(ev, "isBase64Encoded")), want_b64, "content type %s", ctype);
    cr_assert_str_eq(str(ev, "body"), want, "content type %s", ctype);
    cJSON_Delete(ev);
}

Test(url_event, body_text_or_base64_by_content_type)
{
    check_body("text/plain", "hi", 2, false, "hi");
    check_body("text/html; charset=utf-8", "<p>é</p>", strlen("<p>é</p>"), false, "<p>é</p>");
    check_body("application/json", "{\"a\":1}", 7, false, "{\"a\":1}");
    check_body("Application/JSON; charset=UTF-8", "[]", 2, false, "[]");
    check_body("application/octet-stream", "\x00\x01\xff", 3, true, "AAH/");
    check_body("image/png", "\x89PNG", 4, true, "iVBORw==");
    check_body("application/x-www-form-urlencoded", "a=1", 3, true, "YT0x");
    check_body(NULL, "hi", 2, true, "aGk=");
    check_body("text/plain", "\xff\xfe", 2, true, "//4=");       /* not UTF-8 */
    check_body("text/plain", "a\0b", 3, true, "YQBi");          /* a NUL */
}

Test(url_event, non_utf8_header_bytes_stay_json)
{
    http_request_t req = request("GET", ARR({"X-Latin", "caf\xe9"}), 1, NULL, 0);
    cJSON *ev = event_of(&req, "/", "");
    cr_assert_str_eq(str(obj(ev, "headers"), "x-latin"), "caf\xc3\xa9");
    cJSON_Delete(ev);
}

/* ---- responses ---------------------------------------------------------- */

static const char *hdr(const url_response_t *r, const char *name, int nth)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0 && nth-- == 0) return r->headers[i].value;
    return NULL;
}

static void result(const char *text, url_response_t *out)
{
    err_t err = {0};
    cr_assert_eq(url_response_from_result(text, strlen(text), out, &err), 0, "%s: %s", text, err.msg);
}

static void refused(const char *text)
{
    url_response_t r;
    err_t err = {0};
    cr_assert_eq(url_response_from_result(text, strlen(text), &r, &err), -1, "accepted: %s", text);
    cr_assert_neq(err.msg[0], '\0');
    cr_assert_eq(r.nheaders, 0);
    cr_assert_null(r.body);
}

Test(url_event, developer_guide_custom_response)
{
    url_response_t r;
    result("{\"statusCode\":201,\"headers\":{\"Content-Type\":\"application/json\",\"My-Custom-Header\":"
           "\"Custom Value\"},\"body\":\"{ \\\"message\\\": \\\"Hello, world!\\\" }\",\"isBase64Encoded\":false}",
           &r);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(hdr(&r, "content-type", 0), "application/json");
    cr_assert_str_eq(hdr(&r, "my-custom-header", 0), "Custom Value");
    cr_assert_str_eq(r.body, "{ \"message\": \"Hello, world!\" }");
    cr_assert_eq(r.body_len, strlen(r.body));
    url_response_free(&r);
}

Test(url_event, developer_guide_cookies_become_set_cookie_each)
{
    url_response_t r;
    result("{\"statusCode\":201,\"headers\":{\"Content-Type\":\"application/json\"},\"body\":\"x\","
           "\"cookies\":[\"Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT\",\"Cookie_2=Value2; Max-Age=78000\"],"
           "\"isBase64Encoded\":false}",
           &r);
    cr_assert_str_eq(hdr(&r, "set-cookie", 0), "Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT");
    cr_assert_str_eq(hdr(&r, "set-cookie", 1), "Cookie_2=Value2; Max-Age=78000");
    cr_assert_null(hdr(&r, "set-cookie", 2));
    url_response_free(&r);
}

/* "Example output for a string response" and "... for a JSON response". */
Test(url_event, inference_without_status_code)
{
    const char *outs[] = {"\"Hello, world!\"", "{\n  \"message\": \"Hello, world!\"\n}", "42", "[1,2]", "null",
                          "true", "{\"headers\":{\"a\":\"b\"},\"body\":\"no status\"}"};
    for (size_t i = 0; i < NH(outs); i++) {
        url_response_t r;
        result(outs[i], &r);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(hdr(&r, "content-type", 0), "application/json");
        cr_assert_eq(r.nheaders, 1, "%s", outs[i]);
        cr_assert_eq(r.body_len, strlen(outs[i]));
        cr_assert_str_eq(r.body, outs[i]);
        url_response_free(&r);
    }
    url_response_t r;
    result("\"Hello, world!\"", &r);
    cr_assert_eq(r.body_len, 15, "the DG's content-length");
    url_response_free(&r);
}

Test(url_event, base64_body_and_other_body_kinds)
{
    url_response_t r;
    result("{\"statusCode\":200,\"body\":\"AAH/\",\"isBase64Encoded\":true}", &r);
    cr_assert_eq(r.body_len, 3);
    cr_assert(memcmp(r.body, "\x00\x01\xff", 3) == 0);
    url_response_free(&r);
    result("{\"statusCode\":404}", &r);
    cr_assert_eq(r.status, 404);
    cr_assert_eq(r.body_len, 0);
    cr_assert_eq(r.nheaders, 0);
    url_response_free(&r);
    result("{\"statusCode\":200,\"body\":{\"a\":[1]}}", &r);
    cr_assert_str_eq(r.body, "{\"a\":[1]}");
    url_response_free(&r);
    result("{\"statusCode\":200,\"headers\":{\"X-N\":5,\"X-B\":true,\"Content-Length\":\"99\","
           "\"Transfer-Encoding\":\"chunked\",\"X-Null\":null},\"body\":\"ok\"}",
           &r);
    cr_assert_str_eq(hdr(&r, "x-n", 0), "5");
    cr_assert_str_eq(hdr(&r, "x-b", 0), "true");
    cr_assert_null(hdr(&r, "content-length", 0));
    cr_assert_null(hdr(&r, "transfer-encoding", 0));
    cr_assert_null(hdr(&r, "x-null", 0));
    url_response_free(&r);
}

Test(url_event, invalid_results_are_refused)
{
    refused("");
    refused("not json");
    refused("{\"statusCode\":200} trailing");
    refused("{\"statusCode\":\"200\"}");
    refused("{\"statusCode\":99}");
    refused("{\"statusCode\":600}");
    refused("{\"statusCode\":2e103}");
    refused("{\"statusCode\":-1e300}");
    refused("{\"statusCode\":200.5}");
    refused("{\"statusCode\":200,\"headers\":[]}");
    refused("{\"statusCode\":200,\"headers\":{\"X\":{}}}");
    refused("{\"statusCode\":200,\"headers\":{\"X\":\"a\\r\\nInjected: 1\"}}");
    refused("{\"statusCode\":200,\"headers\":{\"Bad Name\":\"v\"}}");
    refused("{\"statusCode\":200,\"cookies\":\"a=b\"}");
    refused("{\"statusCode\":200,\"cookies\":[\"a=b\\nX: y\"]}");
    refused("{\"statusCode\":200,\"body\":\"***\",\"isBase64Encoded\":true}");
}

Test(url_event, platform_answers)
{
    struct { url_error_t e; int status; const char *body; } want[] = {
        {URL_ERR_FUNCTION, 502, "Internal Server Error"},
        {URL_ERR_TIMEOUT, 502, "Internal Server Error"},
        {URL_ERR_BAD_RESPONSE, 502, "Internal Server Error"},
        {URL_ERR_THROTTLED, 429, "{\"Message\":\"Rate Exceeded.\"}"},
        {URL_ERR_TOO_LARGE, 413, "{\"Message\":\"Request must be smaller than 6291456 bytes for the InvokeFunction operation\"}"},
        {URL_ERR_NOT_FOUND, 404, "{\"Message\":\"Not Found\"}"},
        {URL_ERR_FORBIDDEN, 403, "{\"Message\":\"Forbidden\"}"},
    };
    for (size_t i = 0; i < NH(want); i++) {
        url_response_t r;
        url_response_error(want[i].e, &r);
        cr_assert_eq(r.status, want[i].status);
        cr_assert_str_eq(r.body, want[i].body);
        cr_assert_eq(r.body_len, strlen(want[i].body));
        cr_assert_str_eq(hdr(&r, "content-type", 0), "application/json");
        url_response_free(&r);
    }
}

/* ---- prelude ----------------------------------------------------------------- */

static const char PRELUDE[] = "{\"statusCode\":201,\"headers\":{\"Content-Type\":\"text/plain\"},"
                              "\"cookies\":[\"a=1\"]}\0\0\0\0\0\0\0\0body";

Test(url_event, prelude_in_one_chunk)
{
    url_prelude_t *p = url_prelude_new();
    url_response_t r;
    err_t err = {0};
    size_t used = 0, n = sizeof(PRELUDE) - 1;
    cr_assert_eq(url_prelude_feed(p, PRELUDE, n, &used, &r, &err), 1, "%s", err.msg);
    cr_assert_eq(used, n - 4);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(hdr(&r, "content-type", 0), "text/plain");
    cr_assert_str_eq(hdr(&r, "set-cookie", 0), "a=1");
    cr_assert_eq(r.body_len, 0);
    url_response_free(&r);
    url_prelude_free(p);
}

Test(url_event, prelude_byte_by_byte)
{
    url_prelude_t *p = url_prelude_new();
    url_response_t r;
    err_t err = {0};
    size_t n = sizeof(PRELUDE) - 1, i, used = 0;
    int rc = 0;
    for (i = 0; i < n; i++) {
        rc = url_prelude_feed(p, PRELUDE + i, 1, &used, &r, &err);
        if (rc != 0) break;
        cr_assert_eq(used, 1);
    }
    cr_assert_eq(rc, 1, "%s", err.msg);
    cr_assert_eq(i, n - 5, "complete at the last NUL");
    cr_assert_eq(used, 1);
    cr_assert_eq(r.status, 201);
    url_response_free(&r);
    url_prelude_free(p);
}

Test(url_event, prelude_defaults_and_errors)
{
    url_response_t r;
    err_t err = {0};
    size_t used;
    url_prelude_t *p = url_prelude_new();
    cr_assert_eq(url_prelude_feed(p, "{}\0\0\0\0\0\0\0\0", 10, &used, &r, &err), 1);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(used, 10);
    url_response_free(&r);
    url_prelude_free(p);

    const struct { const char *d; size_t n; } bad[] = {
        {"{}\0\0\0x", 6}, {"[1]\0\0\0\0\0\0\0\0", 11}, {"nope\0\0\0\0\0\0\0\0", 12},
        {"{\"statusCode\":\"x\"}\0\0\0\0\0\0\0\0", 26},
    };
    for (size_t i = 0; i < NH(bad); i++) {
        p = url_prelude_new();
        cr_assert_eq(url_prelude_feed(p, bad[i].d, bad[i].n, &used, &r, &err), -1, "case %zu", i);
        url_prelude_free(p);
    }
    p = url_prelude_new();
    char *big = malloc(URL_PRELUDE_MAX + 2);
    memset(big, ' ', URL_PRELUDE_MAX + 1);
    cr_assert_eq(url_prelude_feed(p, big, URL_PRELUDE_MAX + 1, &used, &r, &err), -1);
    free(big);
    url_prelude_free(p);
}

/* ---- CORS ---------------------------------------------------------------------- */

static url_cors_t *cors(const char *json, err_t *err)
{
    cJSON *doc = cJSON_Parse(json);
    cr_assert(doc, "%s", json);
    url_cors_t *c = url_cors_parse(doc, err);
    cJSON_Delete(doc);
    return c;
}

Test(url_cors, parse_and_answer_as_get_does)
{
    err_t err = {0};
    url_cors_t *c = cors("{\"AllowOrigins\":[\"https://example.com\"],\"MaxAge\":300}", &err);
    cr_assert(c, "%s", err.msg);
    cJSON *j = url_cors_to_json(c);
    char *t = cJSON_PrintUnformatted(j);
    cr_assert_str_eq(t, "{\"AllowCredentials\":false,\"AllowHeaders\":[],\"AllowMethods\":[],"
                        "\"AllowOrigins\":[\"https://example.com\"],\"ExposeHeaders\":[],\"MaxAge\":300}");
    free(t);
    cJSON_Delete(j);
    url_cors_free(c);
    cr_assert_null(url_cors_parse(NULL, &err));
}

Test(url_cors, limits_with_lambda_messages)
{
    err_t err = {0};
    cr_assert_null(cors("{\"AllowMethods\":[\"GET\",\"PUT\",\"POST\",\"HEAD\",\"PATCH\",\"DELETE\",\"*\"]}", &err));
    cr_assert_eq(err.code, ERR_VALIDATION);
    cr_assert_str_eq(err.msg, "1 validation error detected: Value '[GET, PUT, POST, HEAD, PATCH, DELETE, *]' at "
                              "'cors.allowMethods' failed to satisfy constraint: Member must have length less "
                              "than or equal to 6");
    cr_assert_null(cors("{\"AllowMethods\":[\"OPTIONS\"],\"MaxAge\":86401}", &err));
    cr_assert_str_eq(err.msg, "2 validation errors detected: Value '[OPTIONS]' at 'cors.allowMethods' failed to "
                              "satisfy constraint: Member must satisfy constraint: [Member must have length less "
                              "than or equal to 6]; Value '86401' at 'cors.maxAge' failed to satisfy constraint: "
                              "Member must have value less than or equal to 86400");
    cr_assert_null(cors("{\"AllowOrigins\":[\"\"]}", &err));
    cr_assert(strstr(err.msg, "Member must have length greater than or equal to 1"), "%s", err.msg);
    cr_assert_null(cors("{\"MaxAge\":-1}", &err));
    cr_assert(strstr(err.msg, "Member must have value greater than or equal to 0"), "%s", err.msg);
    cr_assert_null(cors("{\"AllowHeaders\":\"x\"}", &err));
    cr_assert_eq(err.code, ERR_INVALID);
    cr_assert_null(cors("{\"AllowCredentials\":\"yes\"}", &err));
    cr_assert_eq(err.code, ERR_INVALID);
    cr_assert_null(cors("[]", &err));
}

Test(url_cors, preflight_answered_by_the_platform)
{
    err_t err = {0};
    url_cors_t *c = cors("{\"AllowOrigins\":[\"https://www.example.com\"],\"AllowMethods\":[\"GET\",\"POST\"],"
                         "\"AllowHeaders\":[\"X-Custom-Header\"],\"MaxAge\":300,\"AllowCredentials\":true}",
                         &err);
    cr_assert(c, "%s", err.msg);
    http_request_t req = request("OPTIONS", ARR({"Origin", "https://www.example.com"},
                                                 {"Access-Control-Request-Method", "POST"}), 2, NULL, 0);
    url_response_t r;
    cr_assert(url_cors_preflight(c, &req, &r));
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(hdr(&r, "access-control-allow-origin", 0), "https://www.example.com");
    cr_assert_str_eq(hdr(&r, "access-control-allow-methods", 0), "GET,POST");
    cr_assert_str_eq(hdr(&r, "access-control-allow-headers", 0), "X-Custom-Header");
    cr_assert_str_eq(hdr(&r, "access-control-max-age", 0), "300");
    cr_assert_str_eq(hdr(&r, "access-control-allow-credentials", 0), "true");
    cr_assert_str_eq(hdr(&r, "vary", 0), "Origin");
    url_response_free(&r);

    http_request_t other = request("OPTIONS", ARR({"Origin", "https://evil.example"},
                                                   {"Access-Control-Request-Method", "POST"}), 2, NULL, 0);
    cr_assert(url_cors_preflight(c, &other, &r));
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.nheaders, 0, "an origin not allowed gets no CORS header");
    url_response_free(&r);

    http_request_t plain = request("OPTIONS", ARR({"Origin", "https://www.example.com"}), 1, NULL, 0);
    cr_assert_not(url_cors_preflight(c, &plain, &r), "no Access-Control-Request-Method: not a preflight");
    cr_assert_not(url_cors_preflight(NULL, &req, &r), "no Cors config: the function answers");
    url_cors_free(c);
}

Test(url_cors, headers_on_a_normal_answer_override_the_function)
{
    err_t err = {0};
    url_cors_t *c = cors("{\"AllowOrigins\":[\"*\"],\"ExposeHeaders\":[\"X-A\",\"X-B\"]}", &err);
    cr_assert(c, "%s", err.msg);
    http_request_t req = request("GET", ARR({"origin", "http://localhost:60905"}), 1, NULL, 0);
    url_response_t r;
    result("{\"statusCode\":200,\"headers\":{\"Access-Control-Allow-Origin\":\"https://other\",\"X-A\":\"1\"}}", &r);
    url_cors_apply(c, &req, &r);
    cr_assert_str_eq(hdr(&r, "access-control-allow-origin", 0), "*");
    cr_assert_null(hdr(&r, "access-control-allow-origin", 1));
    cr_assert_str_eq(hdr(&r, "access-control-expose-headers", 0), "X-A,X-B");
    cr_assert_str_eq(hdr(&r, "x-a", 0), "1");
    cr_assert_null(hdr(&r, "vary", 0));
    url_response_free(&r);

    http_request_t none = request("GET", NULL, 0, NULL, 0);
    result("{\"statusCode\":200}", &r);
    url_cors_apply(c, &none, &r);
    cr_assert_eq(r.nheaders, 0, "no Origin, no CORS headers");
    url_response_free(&r);
    url_cors_free(c);
}
