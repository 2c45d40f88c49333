/* test_json.c — strict parsing of request bodies (base/json.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"

static cJSON *strict(const char *s, err_t *e) { return json_parse_strict(s, strlen(s), e); }

Test(json, accepts_one_document)
{
    err_t e = { 0 };
    cJSON *o = strict(" {\"a\": [1, {\"b\": \"x\\\\u0000y\"}], \"c\": \"\\u0001\"}\r\n\t ", &e);
    cr_assert(o, "%s", e.msg);
    /* "\\u0000" is a backslash and the text u0000, not a NUL. */
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "a"), 1)->child->valuestring, "x\\u0000y");
    cJSON_Delete(o);
}

Test(json, refuses_trailing_data)
{
    err_t e = { 0 };
    cr_assert_null(strict("{\"a\":1}x", &e));
    cr_assert(strstr(e.msg, "after the JSON document (at byte 7)"), "%s", e.msg);
    cr_assert_null(strict("{\"a\":1} {\"b\":2}", &e));
    cr_assert_null(json_parse_document("[1]]", 4, &e));
    /* A NUL byte after the document is data too. */
    cr_assert_null(json_parse_document("{}\0{}", 5, &e));
    cJSON *o = json_parse_document("{}  \n", 5, &e);
    cr_assert(o);
    cJSON_Delete(o);
}

Test(json, refuses_duplicate_keys_at_any_depth)
{
    err_t e = { 0 };
    cr_assert_null(strict("{\"Runtime\":\"a\",\"x\":1,\"Runtime\":\"b\"}", &e));
    cr_assert(strstr(e.msg, "duplicate key \"Runtime\""), "%s", e.msg);
    cr_assert_null(strict("{\"E\":{\"V\":{\"K\":\"1\",\"K\":\"2\"}}}", &e));
    cr_assert_null(strict("[{\"a\":1,\"a\":1}]", &e));
    /* Many keys: sorted, not compared pairwise. */
    char big[40000];
    size_t n = 0;
    big[n++] = '{';
    for (int i = 0; i < 3000; i++) n += (size_t)snprintf(big + n, sizeof big - n, "%s\"k%d\":0", i ? "," : "", i);
    n += (size_t)snprintf(big + n, sizeof big - n, ",\"k17\":1}");
    cr_assert_null(json_parse_strict(big, n, &e));
    cr_assert(strstr(e.msg, "\"k17\""), "%s", e.msg);
    /* The same key in two objects is fine. */
    cJSON *o = strict("{\"a\":{\"k\":1},\"b\":{\"k\":1}}", &e);
    cr_assert(o, "%s", e.msg);
    cJSON_Delete(o);
}

Test(json, refuses_nul_in_strings)
{
    err_t e = { 0 };
    cr_assert_null(strict("{\"Runtime\":\"provided\\u0000x\"}", &e));
    cr_assert(strstr(e.msg, "\\u0000"), "%s", e.msg);
    cr_assert_null(strict("{\"k\\u0000\":1}", &e));
    cr_assert_null(json_parse_strict("{\"a\":\"x\0y\"}", 11, &e));
    cr_assert_null(strict("{\"a\":\"tab\there\"}", &e));
    /* The document check alone lets an escaped NUL through (Invoke). */
    cJSON *o = json_parse_document("{\"a\":\"\\u0000\"}", 14, &e);
    cr_assert(o);
    cJSON_Delete(o);
}

Test(json, refuses_empty_and_invalid)
{
    err_t e = { 0 };
    cr_assert_null(json_parse_strict("", 0, &e));
    cr_assert_null(strict("{\"a\":}", &e));
    cr_assert(strstr(e.msg, "not valid JSON"), "%s", e.msg);
}
