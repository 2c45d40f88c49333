/* test_errdoc.c — the error documents: member order, escaping, and the same
 * bytes as the cJSON-built documents they replace. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/errdoc.h"

/* What the builders replaced: cJSON objects printed unformatted. */
static char *cjson_doc(const char *k1, const char *v1, const char *k2, const char *v2)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, k1, v1);
    cJSON_AddStringToObject(o, k2, v2);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void check_str(char *got, size_t len, const char *want)
{
    cr_assert_str_eq(got, want);
    cr_assert_eq(len, strlen(want));
    free(got);
}

Test(errdoc, runtime_answer_order_and_newline)
{
    size_t n;
    char *s = errdoc_runtime("InvalidRequestID", "Invalid request ID", &n);
    check_str(s, n, "{\"errorMessage\":\"Invalid request ID\",\"errorType\":\"InvalidRequestID\"}\n");
    /* A message with a quote no longer breaks the document. */
    s = errdoc_runtime("InvalidStateTransition", "from \"Ready\" to \\Ready", &n);
    check_str(s, n,
              "{\"errorMessage\":\"from \\\"Ready\\\" to \\\\Ready\","
              "\"errorType\":\"InvalidStateTransition\"}\n");
    s = errdoc_runtime("T", "a\"b\n", NULL);
    cJSON *o = cJSON_Parse(s);
    free(s);
    cr_assert(o);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "errorMessage")->valuestring, "a\"b\n");
    cJSON_Delete(o);
}

Test(errdoc, function_error_matches_cjson)
{
    const char *msgs[] = { "Task timed out after 3.00 seconds",
                           "RequestId: 1-2 Error: \"quoted\" \\ back\\slash",
                           "tab\there\r\nnew line \b \f \x01 \x1f \x7f",
                           "UTF-8: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                           "" };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        size_t n;
        char *got = errdoc_function("Sandbox.Timedout", msgs[i], &n);
        char *want = cjson_doc("errorType", "Sandbox.Timedout", "errorMessage", msgs[i]);
        cr_assert_str_eq(got, want, "message %zu", i);
        cr_assert_eq(n, strlen(want));
        free(got);
        free(want);
    }
}

Test(errdoc, every_byte_escaped_as_cjson)
{
    /* Each byte 1..255 alone, and all of them in one string. */
    char all[256];
    for (int c = 1; c < 256; c++) {
        char one[2] = { (char)c, 0 };
        all[c - 1] = (char)c;
        buf_t b = { 0 };
        errdoc_json_string(&b, one);
        cJSON *s = cJSON_CreateString(one);
        char *want = cJSON_PrintUnformatted(s);
        cr_assert_str_eq(b.data, want, "byte 0x%02x", c);
        cJSON_Delete(s);
        free(want);
        buf_free(&b);
    }
    all[255] = '\0';
    char *got = errdoc_function("T", all, NULL);
    char *want = cjson_doc("errorType", "T", "errorMessage", all);
    cr_assert_str_eq(got, want);
    free(got);
    free(want);
}

Test(errdoc, control_characters_spelled)
{
    buf_t b = { 0 };
    errdoc_json_string(&b, "\x01\b\f\n\r\t\x1f\"\\/\x7f");
    cr_assert_str_eq(b.data, "\"\\u0001\\b\\f\\n\\r\\t\\u001f\\\"\\\\/\x7f\"");
    buf_reset(&b);
    errdoc_json_string(&b, NULL);
    cr_assert_str_eq(b.data, "\"\"");
    buf_free(&b);
}

Test(errdoc, api_member_spelling_and_type)
{
    cr_assert_str_eq(errdoc_api_member("ResourceNotFoundException"), "Message");
    cr_assert_str_eq(errdoc_api_member("ServiceException"), "Message");
    cr_assert_str_eq(errdoc_api_member("InvalidRuntimeException"), "Message");
    cr_assert_str_eq(errdoc_api_member("InvalidParameterValueException"), "message");
    cr_assert_str_eq(errdoc_api_member("ResourceConflictException"), "message");
    cr_assert_str_eq(errdoc_api_member("ValidationException"), "message");
    cr_assert_str_eq(errdoc_api_member(NULL), "message");

    size_t n;
    char *s = errdoc_api(404, "ResourceNotFoundException",
                         "Function not found: arn:aws:lambda:us-east-1:000000000000:function:x", &n);
    check_str(s, n,
              "{\"Type\":\"User\",\"Message\":\"Function not found: "
              "arn:aws:lambda:us-east-1:000000000000:function:x\"}");
    s = errdoc_api(409, "ResourceConflictException", "Function already exist: f", &n);
    check_str(s, n, "{\"Type\":\"User\",\"message\":\"Function already exist: f\"}");
    s = errdoc_api(500, "ServiceException", "disk \"full\"", &n);
    check_str(s, n, "{\"Type\":\"Service\",\"Message\":\"disk \\\"full\\\"\"}");
    /* Type follows the status, not the exception. */
    s = errdoc_api(503, "TooManyRequestsException", "x", &n);
    check_str(s, n, "{\"Type\":\"Service\",\"message\":\"x\"}");

    /* Byte for byte what the cJSON-built answer was. */
    char *want = cjson_doc("Type", "User", "message", "Unknown operation GET /x\n\"y\"");
    s = errdoc_api(404, "UnknownOperationException", "Unknown operation GET /x\n\"y\"", NULL);
    cr_assert_str_eq(s, want);
    free(s);
    free(want);
}

Test(errdoc, api_build_with_reason)
{
    size_t n;
    char *s = errdoc_api_build("User", "message", "Rate Exceeded.",
                               "ReservedFunctionConcurrentInvocationLimitExceeded", &n);
    check_str(s, n,
              "{\"Type\":\"User\",\"message\":\"Rate Exceeded.\","
              "\"Reason\":\"ReservedFunctionConcurrentInvocationLimitExceeded\"}");
    s = errdoc_api_build("User", "Message", "Request header fields too large", NULL, &n);
    check_str(s, n, "{\"Type\":\"User\",\"Message\":\"Request header fields too large\"}");
    s = errdoc_api_build("User", "message", "m", "a\"b", NULL);
    cr_assert_str_eq(s, "{\"Type\":\"User\",\"message\":\"m\",\"Reason\":\"a\\\"b\"}");
    free(s);
}
