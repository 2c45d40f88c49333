/* test_function.c — function: validation rules and messages, API JSON,
 * the stored document's round trip. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/function.h"
#include "base/util.h"

/* Applies `json` to a fresh config; returns the result and leaves the
 * error in *err. */
static int apply(function_config_t *c, const char *json, bool create, err_t *err)
{
    cJSON *b = cJSON_Parse(json);
    cr_assert_not_null(b, "bad test JSON: %s", json);
    err_clear(err);
    int rc = function_config_apply_json(c, b, create, err);
    cJSON_Delete(b);
    return rc;
}

static void expect_error(const char *json, bool create, err_code_t code, const char *msg)
{
    function_config_t c;
    function_config_init(&c);
    err_t err;
    int rc = apply(&c, json, create, &err);
    cr_assert_eq(rc, -1, "accepted %s", json);
    cr_assert_eq(err.code, code, "%s: code %d, message: %s", json, err.code, err.msg);
    if (msg) cr_assert_str_eq(err.msg, msg, "for %s", json);
    function_config_free(&c);
}

#define BASE "\"FunctionName\":\"f\",\"Runtime\":\"provided\",\"Handler\":\"h\""

Test(function, create_defaults)
{
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(apply(&c, "{" BASE "}", true, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.name, "f");
    cr_assert_str_eq(c.runtime, "provided");
    cr_assert_str_eq(c.handler, "h");
    cr_assert_eq(c.memory_mb, 128);
    cr_assert_eq(c.timeout_s, 3);
    cr_assert_str_eq(c.version, "$LATEST");
    cr_assert_str_eq(c.role, "arn:aws:iam::000000000000:role/nimbus");
    cr_assert_eq(c.nenv, 0);
    function_config_free(&c);
}

Test(function, memory_size_bounds)
{
    expect_error("{" BASE ",\"MemorySize\":64}", true, ERR_VALIDATION,
                 "1 validation error detected: Value '64' at 'memorySize' failed to satisfy "
                 "constraint: Member must have value greater than or equal to 128");
    expect_error("{" BASE ",\"MemorySize\":10241}", true, ERR_VALIDATION,
                 "1 validation error detected: Value '10241' at 'memorySize' failed to satisfy "
                 "constraint: Member must have value less than or equal to 10240");
    expect_error("{" BASE ",\"MemorySize\":\"256\"}", true, ERR_INVALID,
                 "MemorySize must be an integer");
    expect_error("{" BASE ",\"MemorySize\":256.5}", true, ERR_INVALID, NULL);
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(apply(&c, "{" BASE ",\"MemorySize\":128}", true, &err), 0);
    cr_assert_eq(apply(&c, "{\"MemorySize\":10240}", false, &err), 0);
    cr_assert_eq(c.memory_mb, 10240);
    function_config_free(&c);
}

Test(function, timeout_bounds)
{
    expect_error("{" BASE ",\"Timeout\":0}", true, ERR_VALIDATION,
                 "1 validation error detected: Value '0' at 'timeout' failed to satisfy "
                 "constraint: Member must have value greater than or equal to 1");
    expect_error("{" BASE ",\"Timeout\":901}", true, ERR_VALIDATION,
                 "1 validation error detected: Value '901' at 'timeout' failed to satisfy "
                 "constraint: Member must have value less than or equal to 900");
    expect_error("{\"Timeout\":true}", false, ERR_INVALID, "Timeout must be an integer");
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(apply(&c, "{" BASE ",\"Timeout\":900}", true, &err), 0);
    cr_assert_eq(c.timeout_s, 900);
    cr_assert_eq(apply(&c, "{\"Timeout\":1}", false, &err), 0);
    cr_assert_eq(c.timeout_s, 1);
    function_config_free(&c);
}

Test(function, two_validation_errors_reported_together)
{
    expect_error("{" BASE ",\"Timeout\":0,\"MemorySize\":1}", true, ERR_VALIDATION,
                 "2 validation errors detected: Value '1' at 'memorySize' failed to satisfy "
                 "constraint: Member must have value greater than or equal to 128; Value '0' at "
                 "'timeout' failed to satisfy constraint: Member must have value greater than or "
                 "equal to 1");
}

Test(function, function_name_rules)
{
    char long_name[80];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    char json[256];
    snprintf(json, sizeof json, "{\"FunctionName\":\"%s\",\"Runtime\":\"provided\",\"Handler\":\"h\"}",
             long_name);
    char want[256];
    snprintf(want, sizeof want,
             "1 validation error detected: Value '%s' at 'functionName' failed to satisfy "
             "constraint: Member must have length less than or equal to 64",
             long_name);
    expect_error(json, true, ERR_VALIDATION, want);
    expect_error("{\"FunctionName\":\"bad name\",\"Runtime\":\"provided\",\"Handler\":\"h\"}", true,
                 ERR_VALIDATION,
                 "1 validation error detected: Value 'bad name' at 'functionName' failed to "
                 "satisfy constraint: Member must satisfy regular expression pattern: "
                 "[a-zA-Z0-9-_]+");
    expect_error("{\"Runtime\":\"provided\",\"Handler\":\"h\"}", true, ERR_VALIDATION,
                 "1 validation error detected: Value null at 'functionName' failed to satisfy "
                 "constraint: Member must not be null");
    expect_error("{\"FunctionName\":7,\"Runtime\":\"provided\",\"Handler\":\"h\"}", true,
                 ERR_INVALID, "FunctionName must be a string");
    expect_error("{\"FunctionName\":\"arn:aws:lambda:us-east-1:000000000000:function:f\","
                 "\"Runtime\":\"provided\",\"Handler\":\"h\"}",
                 true, ERR_VALIDATION, NULL);

    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    cr_assert(function_name_valid(long_name));
    cr_assert(function_name_valid("My_func-1"));
    cr_assert_not(function_name_valid(""));
    cr_assert_not(function_name_valid("a.b"));
    cr_assert_not(function_name_valid("a:b"));
    cr_assert_not(function_name_valid(NULL));
    long_name[64] = 'a';
    long_name[65] = '\0';
    cr_assert_not(function_name_valid(long_name));
}

Test(function, handler_description_role_lengths)
{
    char h[140];
    memset(h, 'h', 129);
    h[129] = '\0';
    char json[1024];
    snprintf(json, sizeof json, "{\"Handler\":\"%s\"}", h);
    expect_error(json, false, ERR_VALIDATION, NULL);
    h[128] = '\0';
    snprintf(json, sizeof json, "{\"Handler\":\"%s\"}", h);
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(apply(&c, json, false, &err), 0, "%s", err.msg);
    cr_assert_eq(strlen(c.handler), 128);

    char d[300];
    memset(d, 'd', 257);
    d[257] = '\0';
    snprintf(json, sizeof json, "{\"Description\":\"%s\"}", d);
    expect_error(json, false, ERR_VALIDATION, NULL);
    d[256] = '\0';
    snprintf(json, sizeof json, "{\"Description\":\"%s\"}", d);
    cr_assert_eq(apply(&c, json, false, &err), 0);
    cr_assert_eq(strlen(c.description), 256);

    cr_assert_eq(apply(&c, "{\"Role\":\"arn:aws:iam::123456789012:role/x\"}", false, &err), 0);
    cr_assert_str_eq(c.role, "arn:aws:iam::123456789012:role/x");
    function_config_free(&c);
    expect_error("{\"Handler\":\"a b\"}", false, ERR_VALIDATION, NULL);
}

Test(function, runtime_unknown_lists_valid_ones)
{
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(apply(&c, "{\"FunctionName\":\"f\",\"Runtime\":\"cobol9\",\"Handler\":\"h\"}", true,
                       &err),
                 -1);
    cr_assert_eq(err.code, ERR_INVALID);
    cr_assert(strstr(err.msg, "Value cobol9 at 'runtime' failed to satisfy constraint: Member "
                              "must satisfy enum value set: [") == err.msg,
              "%s", err.msg);
    for (const char *const *r = function_runtimes(); *r; r++) {
        char item[40];
        snprintf(item, sizeof item, "%s", *r);
        cr_assert(strstr(err.msg, item), "%s missing from %s", *r, err.msg);
    }
    cr_assert(strstr(err.msg, "provided.al2023, python3.11"), "%s", err.msg);
    cr_assert(strstr(err.msg, "] or be a valid ARN"), "%s", err.msg);
    cr_assert(function_runtime_valid("provided.al2023"));
    cr_assert(function_runtime_valid("nodejs20.x"));
    cr_assert_not(function_runtime_valid("python2.7"));
    cr_assert_not(function_runtime_valid(NULL));
    function_config_free(&c);
}

Test(function, create_requires_runtime_and_handler)
{
    expect_error("{\"FunctionName\":\"f\",\"Handler\":\"h\"}", true, ERR_INVALID, NULL);
    expect_error("{\"FunctionName\":\"f\",\"Runtime\":\"provided\"}", true, ERR_INVALID, NULL);
    expect_error("[1]", true, ERR_INVALID, NULL);
    /* update needs neither */
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(apply(&c, "{}", false, &err), 0);
    function_config_free(&c);
}

Test(function, env_vars_and_replace_on_update)
{
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(apply(&c,
                       "{" BASE ",\"Environment\":{\"Variables\":{\"MyEnv\":\"4=4\",\"B_2\":\"x\","
                       "\"EMPTY\":\"\"}}}",
                       true, &err),
                 0, "%s", err.msg);
    cr_assert_eq(c.nenv, 3);
    cr_assert_str_eq(c.env[0].key, "MyEnv");
    cr_assert_str_eq(c.env[0].value, "4=4");
    cr_assert_str_eq(c.env[1].key, "B_2");
    cr_assert_str_eq(c.env[2].value, "");

    /* Update with Environment replaces the whole map. */
    cr_assert_eq(apply(&c, "{\"Environment\":{\"Variables\":{\"ONLY\":\"1\"}}}", false, &err), 0);
    cr_assert_eq(c.nenv, 1);
    cr_assert_str_eq(c.env[0].key, "ONLY");
    /* Update without Environment keeps it. */
    cr_assert_eq(apply(&c, "{\"Timeout\":5}", false, &err), 0);
    cr_assert_eq(c.nenv, 1);
    /* Empty map clears it. */
    cr_assert_eq(apply(&c, "{\"Environment\":{\"Variables\":{}}}", false, &err), 0);
    cr_assert_eq(c.nenv, 0);
    function_config_free(&c);

    expect_error("{\"Environment\":{\"Variables\":{\"A1\":5}}}", false, ERR_INVALID, NULL);
    expect_error("{\"Environment\":{\"Variables\":[]}}", false, ERR_INVALID, NULL);
    expect_error("{\"Environment\":{\"Variables\":{\"1ABC\":\"x\"}}}", false, ERR_VALIDATION,
                 "1 validation error detected: Value at 'environment.variables' failed to "
                 "satisfy constraint: Map keys must satisfy constraint: [Member must satisfy "
                 "regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]");
    expect_error("{\"Environment\":{\"Variables\":{\"A-B\":\"x\"}}}", false, ERR_VALIDATION, NULL);
}

Test(function, env_reserved_keys_rejected)
{
    expect_error("{\"Environment\":{\"Variables\":{\"OK_1\":\"x\",\"AWS_REGION\":\"eu-west-1\"}}}",
                 false, ERR_INVALID,
                 "Lambda was unable to configure your environment variables because the "
                 "environment variables you have provided contains reserved keys that are "
                 "currently not supported for modification. Reserved keys used in this request: "
                 "AWS_REGION");
    expect_error("{\"Environment\":{\"Variables\":{\"_HANDLER\":\"x\"}}}", false, ERR_INVALID,
                 NULL);
    expect_error("{\"Environment\":{\"Variables\":{\"LAMBDA_TASK_ROOT\":\"/\"}}}", false,
                 ERR_INVALID, NULL);
    function_config_t c;
    function_config_init(&c);
    err_t err;
    /* Not reserved: TZ-like user vars and near misses. */
    cr_assert_eq(apply(&c, "{\"Environment\":{\"Variables\":{\"AWS_REGIONS\":\"x\",\"PATH\":\"/x\"}}}",
                       false, &err),
                 0, "%s", err.msg);
    function_config_free(&c);
}

Test(function, env_4kb_limit)
{
    /* keys + values exactly 4096 bytes: accepted; one more: refused. */
    size_t vlen = 4096 - 3;
    char *val = malloc(vlen + 2);
    memset(val, 'v', vlen + 1);
    val[vlen] = '\0';
    char *json = malloc(vlen + 100);
    sprintf(json, "{\"Environment\":{\"Variables\":{\"BIG\":\"%s\"}}}", val);
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(apply(&c, json, false, &err), 0, "%s", err.msg);
    function_config_free(&c);
    val[vlen] = 'v';
    val[vlen + 1] = '\0';
    sprintf(json, "{\"Environment\":{\"Variables\":{\"BIG\":\"%s\"}}}", val);
    function_config_init(&c);
    cr_assert_eq(apply(&c, json, false, &err), -1);
    cr_assert_eq(err.code, ERR_INVALID);
    cr_assert(strstr(err.msg, "Lambda was unable to configure your environment variables because "
                              "the environment variables you have provided exceeded the 4KB "
                              "limit. String measured: {\"BIG\":\"vvv") == err.msg,
              "%s", err.msg);
    function_config_free(&c);
    free(val);
    free(json);
}

Test(function, failed_update_leaves_config_alone)
{
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(apply(&c, "{" BASE ",\"Environment\":{\"Variables\":{\"KEEP\":\"1\"}}}", true,
                       &err),
                 0);
    cr_assert_eq(apply(&c, "{\"Timeout\":10,\"Environment\":{\"Variables\":{\"AWS_REGION\":\"x\"}}}",
                       false, &err),
                 -1);
    cr_assert_eq(c.timeout_s, 3);
    cr_assert_eq(c.nenv, 1);
    cr_assert_str_eq(c.env[0].key, "KEEP");
    function_config_free(&c);
}

Test(function, architectures)
{
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(apply(&c, "{" BASE ",\"Architectures\":[\"x86_64\"]}", true, &err), 0);
    function_config_free(&c);
    expect_error("{\"Architectures\":[\"arm64\"]}", false, ERR_INVALID, NULL);
    expect_error("{\"Architectures\":[\"mips\"]}", false, ERR_VALIDATION, NULL);
    expect_error("{\"PackageType\":\"Image\"}", false, ERR_INVALID, NULL);
    expect_error("{\"PackageType\":\"Tar\"}", false, ERR_VALIDATION, NULL);
}

static function_config_t sample(void)
{
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(apply(&c,
                       "{\"FunctionName\":\"hello\",\"Runtime\":\"python3.11\",\"Handler\":"
                       "\"app.handler\",\"Description\":\"d \\\"q\\\" \\u00e9\",\"MemorySize\":256,"
                       "\"Timeout\":30,\"Environment\":{\"Variables\":{\"Z_LAST\":\"z\",\"A_FIRST\":"
                       "\"a=b=c\",\"M_MID\":\"line\\nbreak\"}}}",
                       true, &err),
                 0, "%s", err.msg);
    strcpy(c.code_sha256, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    strcpy(c.code_hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    c.code_size = 123456789;
    function_config_touch(&c);
    return c;
}

Test(function, serialize_round_trip)
{
    function_config_t c = sample();
    char *doc = function_config_serialize(&c);
    function_config_t d;
    err_t err;
    cr_assert_eq(function_config_deserialize(&d, doc, &err), 0, "%s", err.msg);
    cr_assert_str_eq(d.name, c.name);
    cr_assert_str_eq(d.runtime, c.runtime);
    cr_assert_str_eq(d.handler, c.handler);
    cr_assert_str_eq(d.description, c.description);
    cr_assert_str_eq(d.role, c.role);
    cr_assert_eq(d.memory_mb, 256);
    cr_assert_eq(d.timeout_s, 30);
    cr_assert_str_eq(d.code_sha256, c.code_sha256);
    cr_assert_str_eq(d.code_hex, c.code_hex);
    cr_assert_eq(d.code_size, 123456789);
    cr_assert_str_eq(d.last_modified, c.last_modified);
    cr_assert_str_eq(d.revision_id, c.revision_id);
    cr_assert_str_eq(d.version, "$LATEST");
    cr_assert_eq(d.nenv, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(d.env[i].key, c.env[i].key);
        cr_assert_str_eq(d.env[i].value, c.env[i].value);
    }
    cr_assert_str_eq(d.env[0].key, "Z_LAST");
    cr_assert_str_eq(d.env[1].value, "a=b=c");
    /* Serialising again gives the same document. */
    char *doc2 = function_config_serialize(&d);
    cr_assert_str_eq(doc, doc2);
    free(doc);
    free(doc2);

    function_config_t e;
    function_config_copy(&e, &c);
    cr_assert_eq(e.nenv, 3);
    cr_assert_neq(e.env, c.env);
    cr_assert_str_eq(e.env[2].value, "line\nbreak");
    function_config_free(&e);
    function_config_free(&d);
    function_config_free(&c);
}

Test(function, deserialize_rejects_garbage)
{
    function_config_t d;
    err_t err;
    cr_assert_eq(function_config_deserialize(&d, "not json", &err), -1);
    cr_assert_eq(function_config_deserialize(&d, "{}", &err), -1);
    cr_assert_eq(function_config_deserialize(&d, "{\"name\":\"f\",\"env\":[[\"A\"]]}", &err), -1);
    cr_assert_eq(function_config_deserialize(&d, "{\"name\":\"f\",\"v\":99}", &err), -1);
    char big[200];
    snprintf(big, sizeof big, "{\"name\":\"%070d\"}", 1);
    cr_assert_eq(function_config_deserialize(&d, big, &err), -1);
}

Test(function, touch_changes_revision_and_time)
{
    function_config_t c;
    function_config_init(&c);
    function_config_touch(&c);
    char rev[37];
    strcpy(rev, c.revision_id);
    cr_assert_eq(strlen(c.revision_id), 36);
    cr_assert_eq(strlen(c.last_modified), 28);
    cr_assert(strstr(c.last_modified, "+0000"));
    function_config_touch(&c);
    cr_assert_str_neq(rev, c.revision_id);
}

Test(function, api_json)
{
    function_config_t c = sample();
    cJSON *j = function_config_to_api_json(&c);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "FunctionName")->valuestring, "hello");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "FunctionArn")->valuestring,
                     "arn:aws:lambda:us-east-1:000000000000:function:hello");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "Runtime")->valuestring, "python3.11");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "Handler")->valuestring, "app.handler");
    cr_assert_eq(cJSON_GetObjectItem(j, "CodeSize")->valuedouble, 123456789);
    cr_assert_eq(cJSON_GetObjectItem(j, "MemorySize")->valueint, 256);
    cr_assert_eq(cJSON_GetObjectItem(j, "Timeout")->valueint, 30);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "Version")->valuestring, "$LATEST");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "State")->valuestring, "Active");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "LastUpdateStatus")->valuestring, "Successful");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "PackageType")->valuestring, "Zip");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "CodeSha256")->valuestring, c.code_sha256);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "RevisionId")->valuestring, c.revision_id);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "LastModified")->valuestring, c.last_modified);
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "Architectures"), 0)->valuestring,
                     "x86_64");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "EphemeralStorage"), "Size")->valueint,
                 512);
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "TracingConfig"), "Mode")->valuestring,
        "PassThrough");
    cJSON *vars = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "Environment"), "Variables");
    cr_assert_str_eq(cJSON_GetObjectItem(vars, "A_FIRST")->valuestring, "a=b=c");
    cJSON_Delete(j);

    /* No variables: no Environment member. */
    function_config_free(&c);
    cr_assert_eq(c.nenv, 0);
    j = function_config_to_api_json(&c);
    cr_assert_null(cJSON_GetObjectItem(j, "Environment"));
    cJSON_Delete(j);

    strcpy(c.version, "3");
    j = function_config_to_api_json(&c);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "FunctionArn")->valuestring,
                     "arn:aws:lambda:us-east-1:000000000000:function:hello:3");
    cJSON_Delete(j);
}

Test(function, arn)
{
    char buf[128];
    function_arn("f", NULL, buf, sizeof buf);
    cr_assert_str_eq(buf, "arn:aws:lambda:us-east-1:000000000000:function:f");
    function_arn("f", "$LATEST", buf, sizeof buf);
    cr_assert_str_eq(buf, "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST");
}

/* ---- the region and account: settings, in every ARN, refused when another's ---- */

Test(function, arns_follow_the_region_and_account_set)
{
    err_t err;
    cr_assert_eq(util_site_set("eu-west-3", "123456789012", &err), 0, "%s", err.msg);
    char buf[128];
    function_arn("f", "live", buf, sizeof buf);
    cr_assert_str_eq(buf, "arn:aws:lambda:eu-west-3:123456789012:function:f:live");
    function_config_t c;
    function_config_init(&c);
    cr_assert_str_eq(c.role, "arn:aws:iam::123456789012:role/nimbus");
    strcpy(c.name, "g");
    cJSON *j = function_config_to_api_json(&c);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "FunctionArn")->valuestring, "arn:aws:lambda:eu-west-3:123456789012:function:g");
    cJSON_Delete(j);
    function_config_free(&c);
    /* A refused setting changes neither. */
    cr_assert_eq(util_site_set("eu-west-3", "1234", &err), -1);
    cr_assert_eq(err.code, ERR_INVALID);
    cr_assert_eq(util_site_set("Europe", "123456789012", &err), -1);
    cr_assert(strstr(err.msg, "region 'Europe'"), "%s", err.msg);
    cr_assert_str_eq(util_region(), "eu-west-3");
    cr_assert_str_eq(util_account(), "123456789012");
}

Test(function, arns_of_another_region_or_account_are_not_this_daemons)
{
    err_t err;
    cr_assert_eq(util_site_set("eu-west-3", "123456789012", &err), 0, "%s", err.msg);
    char msg[400];
    const char *local[] = { "f", "f:1", "arn:aws:lambda:eu-west-3:123456789012:function:f",
                            "arn:aws:lambda:eu-west-3:123456789012:function:f:live", "123456789012:function:f",
                            "arn:aws:lambda:::function:f", NULL };
    for (const char *const *p = local; *p; p++)
        cr_assert_eq(function_arn_place(*p, msg, sizeof msg), FUNCTION_ARN_LOCAL, "%s", *p);
    cr_assert_eq(function_arn_place("arn:aws:lambda:us-east-1:123456789012:function:f", msg, sizeof msg),
                 FUNCTION_ARN_OTHER_REGION);
    cr_assert_str_eq(msg, "Functions from 'us-east-1' are not reachable in this region ('eu-west-3')");
    cr_assert_eq(function_arn_place("arn:aws:lambda:eu-west-3:000000000000:function:f:1", msg, sizeof msg),
                 FUNCTION_ARN_OTHER_ACCOUNT);
    cr_assert(strstr(msg, "arn:aws:lambda:eu-west-3:000000000000:function:f:1") && strstr(msg, "123456789012"),
              "%s", msg);
    cr_assert_eq(function_arn_place("000000000000:function:f", msg, sizeof msg), FUNCTION_ARN_OTHER_ACCOUNT);
    /* As destinations: none of this daemon's functions. */
    char name[65], q[130];
    cr_assert_eq(function_target_parse("arn:aws:lambda:eu-west-3:123456789012:function:sink", name, q),
                 FUNCTION_TARGET_FUNCTION);
    cr_assert_eq(function_target_parse("arn:aws:lambda:us-east-1:123456789012:function:sink", name, q),
                 FUNCTION_TARGET_INVALID);
    cr_assert_eq(function_target_parse("arn:aws:lambda:eu-west-3:000000000000:function:sink", name, q),
                 FUNCTION_TARGET_INVALID);
    function_config_t c;
    function_config_init(&c);
    cr_assert_eq(apply(&c, "{\"DeadLetterConfig\":{\"TargetArn\":\"arn:aws:lambda:us-east-1:123456789012:function:d\"}}",
                       false, &err), -1);
    cr_assert_eq(err.code, ERR_INVALID);
    cr_assert_str_eq(err.msg, "Functions from 'us-east-1' are not reachable in this region ('eu-west-3')");
    function_config_free(&c);
}

/* ---- the field table ---- */

#include "core/runtime.h"

static const function_field_t *rows(size_t *n) { return function_fields(n); }

static void *member_of(const function_field_t *f, function_config_t *c)
{
    return (char *)c + f->offset;
}

static bool has_member(const function_field_t *f) { return f->size > 0; }

/* A value for every field that is not its default and passes its limits. */
static function_config_t every_field_set(void)
{
    function_config_t c;
    function_config_init(&c);
    size_t n;
    const function_field_t *f = rows(&n);
    for (size_t i = 0; i < n; i++, f++) {
        switch (f->type) {
        case FUNCTION_FIELD_STRING:
            snprintf(member_of(f, &c), f->size, "v%zu", i);
            break;
        case FUNCTION_FIELD_INT:
            *(int *)member_of(f, &c) = f->max > f->def ? f->max : f->def + 7;
            break;
        case FUNCTION_FIELD_INT64: *(int64_t *)member_of(f, &c) = 5000000000LL; break;
        case FUNCTION_FIELD_BOOL:
        case FUNCTION_FIELD_CHOICE: *(bool *)member_of(f, &c) = !f->def; break;
        default: break;
        }
    }
    strcpy(c.runtime, "provided.fc");   /* so the FC-only members show */
    strcpy(c.dead_letter_arn, "https://dlq.example/x");   /* a target Nimbus delivers to */
    strcpy(c.role, "arn:aws:iam::123456789012:role/v");   /* Lambda's Role pattern */
    strcpy(c.log_format, "JSON");                          /* LoggingConfig's enums */
    strcpy(c.app_log_level, "DEBUG");
    strcpy(c.system_log_level, "WARN");
    strcpy(c.log_group, "/v/group");
    c.env = calloc(2, sizeof *c.env);
    c.env[0].key = strdup("ZZ");
    c.env[0].value = strdup("1");
    c.env[1].key = strdup("AA");
    c.env[1].value = strdup("two");
    c.nenv = 2;
    return c;
}

static void assert_same_members(const function_config_t *a, const function_config_t *b)
{
    size_t n;
    const function_field_t *f = rows(&n);
    for (size_t i = 0; i < n; i++, f++) {
        if (!has_member(f)) continue;
        const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;
        if (f->type == FUNCTION_FIELD_STRING)
            cr_assert_str_eq(pa, pb, "%s", f->store);
        else
            cr_assert(memcmp(pa, pb, f->size) == 0, "%s differs", f->store ? f->store : f->api);
    }
    cr_assert_eq(a->nenv, b->nenv);
    for (size_t i = 0; i < a->nenv; i++) {
        cr_assert_str_eq(a->env[i].key, b->env[i].key);
        cr_assert_str_eq(a->env[i].value, b->env[i].value);
    }
}

Test(function_fields, defaults_come_from_the_table)
{
    function_config_t c;
    memset(&c, 0x5a, sizeof c);
    function_config_init(&c);
    size_t n;
    const function_field_t *f = rows(&n);
    for (size_t i = 0; i < n; i++, f++) {
        if (!has_member(f)) continue;
        const char *p = (const char *)&c + f->offset;
        switch (f->type) {
        case FUNCTION_FIELD_STRING:
            cr_assert_str_eq(p, f->def_of ? f->def_of() : f->def_str ? f->def_str : "", "%s", f->store);
            break;
        case FUNCTION_FIELD_INT: cr_assert_eq(*(const int *)p, f->def, "%s", f->store); break;
        case FUNCTION_FIELD_INT64: cr_assert_eq(*(const int64_t *)p, f->def, "%s", f->store); break;
        case FUNCTION_FIELD_BOOL:
        case FUNCTION_FIELD_CHOICE: cr_assert_eq(*(const bool *)p, f->def != 0, "%s", f->store); break;
        default: break;
        }
    }
    cr_assert_eq(c.nenv, 0);
    cr_assert_null(c.env);
    /* What a function created with nothing but its name, runtime and handler shows. */
    cJSON *j = function_config_to_api_json(&c);
    cr_assert_eq(cJSON_GetObjectItem(j, "MemorySize")->valueint, function_field("MemorySize")->def);
    cr_assert_eq(cJSON_GetObjectItem(j, "Timeout")->valueint, function_field("Timeout")->def);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "EphemeralStorage"), "Size")->valueint,
                 function_field("EphemeralStorage")->def);
    cr_assert_eq(cJSON_GetObjectItem(j, "InstanceConcurrency")->valueint,
                 function_field("InstanceConcurrency")->def);
    cJSON_Delete(j);
}

Test(function_fields, rows_are_well_formed)
{
    size_t n;
    const function_field_t *f = rows(&n);
    for (size_t i = 0; i < n; i++, f++) {
        cr_assert(f->api || f->store, "row %zu has no name", i);
        if (f->type == FUNCTION_FIELD_STRING && f->max)
            cr_assert_lt((size_t)f->max, f->size, "%s: limit %d does not fit its member", f->api, f->max);
        if (f->def_str && f->type == FUNCTION_FIELD_STRING)
            cr_assert_lt(strlen(f->def_str), f->size, "%s", f->store);
        if (f->flags & FUNCTION_FIELD_INPUT) {
            cr_assert_not_null(f->check, "%s", f->api);
            cr_assert_gt(f->report, 0, "%s", f->api);
            for (size_t k = 0; k < n; k++)
                cr_assert(k == i || rows(&n)[k].report != f->report, "%s shares its report place", f->api);
        }
        if (f->type == FUNCTION_FIELD_INT && (f->flags & FUNCTION_FIELD_INPUT))
            cr_assert(f->def >= f->min && f->def <= f->max, "%s: default outside its limits", f->api);
        if (f->type == FUNCTION_FIELD_CHOICE) cr_assert(f->choices && f->choices[0] && f->choices[1]);
    }
}

Test(function_fields, every_field_round_trips_through_the_stored_document)
{
    function_config_t c = every_field_set();
    char *doc = function_config_serialize(&c);
    cJSON *o = cJSON_Parse(doc);
    size_t n;
    const function_field_t *f = rows(&n);
    for (size_t i = 0; i < n; i++, f++)
        if (f->flags & FUNCTION_FIELD_IN_STORE)
            cr_assert_not_null(cJSON_GetObjectItem(o, f->store), "%s missing from %s", f->store, doc);
    cJSON_Delete(o);
    function_config_t d;
    err_t err;
    cr_assert_eq(function_config_deserialize(&d, doc, &err), 0, "%s", err.msg);
    assert_same_members(&c, &d);
    free(doc);
    function_config_free(&d);
    function_config_free(&c);
}

/* A stored document exactly as the build before the field table wrote it
 * (its own key order): data directories from then load unchanged. */
Test(function_fields, documents_from_before_the_table_load)
{
    const char *old =
        "{\"v\":1,\"name\":\"f\",\"runtime\":\"provided.fc\",\"handler\":\"h\",\"description\":\"d\","
        "\"role\":\"r\",\"memory_mb\":256,\"timeout_s\":10,\"env\":[[\"BB\",\"1\"],[\"AA\",\"2\"]],"
        "\"code_sha256\":\"abc=\",\"code_hex\":\"ab\",\"code_size\":77,"
        "\"last_modified\":\"2024-01-01T00:00:00.000+0000\","
        "\"revision_id\":\"11111111-2222-3333-4444-555555555555\",\"version\":\"$LATEST\","
        "\"instance_concurrency\":4,\"http_port\":8000,\"initializer\":true,\"keep_alive_s\":30,"
        "\"reserved_concurrency\":5,\"network_host\":true,\"ephemeral_mb\":1024,\"last_version\":3,"
        "\"published_revision\":\"pr\",\"provisioned\":2,\"provisioned_qualifier\":\"q\"}";
    function_config_t c;
    err_t err;
    cr_assert_eq(function_config_deserialize(&c, old, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.runtime, "provided.fc");
    cr_assert_eq(c.memory_mb, 256);
    cr_assert_eq(c.timeout_s, 10);
    cr_assert_eq(c.nenv, 2);
    cr_assert_str_eq(c.env[1].key, "AA");
    cr_assert_eq(c.code_size, 77);
    cr_assert_eq(c.instance_concurrency, 4);
    cr_assert_eq(c.http_port, 8000);
    cr_assert(c.initializer);
    cr_assert_eq(c.keep_alive_s, 30);
    cr_assert_eq(c.reserved_concurrency, 5);
    cr_assert_eq(c.network, FUNCTION_NETWORK_HOST);   /* a stored bool of older documents */
    cr_assert_eq(c.ephemeral_mb, 1024);
    cr_assert_eq(c.last_version, 3);
    cr_assert_str_eq(c.published_revision, "pr");
    cr_assert_eq(c.provisioned, 2);
    cr_assert_str_eq(c.provisioned_qualifier, "q");
    /* Written again: the same keys and values. */
    char *doc = function_config_serialize(&c);
    cJSON *a = cJSON_Parse(old), *b = cJSON_Parse(doc);
    cr_assert_eq(cJSON_GetArraySize(a), cJSON_GetArraySize(b));
    cJSON *it;
    cJSON_ArrayForEach(it, a)
        cr_assert(cJSON_Compare(it, cJSON_GetObjectItem(b, it->string), true), "%s", it->string);
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(doc);
    function_config_free(&c);
}

static const cJSON *api_member(const cJSON *j, const function_field_t *f)
{
    const cJSON *m = cJSON_GetObjectItem(j, f->api);
    return m && f->api_sub ? cJSON_GetObjectItem(m, f->api_sub) : m;
}

Test(function_fields, api_json_shows_every_row_in_table_order)
{
    function_config_t c = every_field_set();
    cJSON *j = function_config_to_api_json(&c);
    size_t n;
    const function_field_t *f = rows(&n);
    const cJSON *next = j->child;
    const char *parent = NULL;
    for (size_t i = 0; i < n; i++, f++) {
        if (!(f->flags & FUNCTION_FIELD_IN_API)) continue;
        /* Rows of one object's members (LoggingConfig) follow each other
         * and share it. */
        if (!(f->api_sub && parent && strcmp(parent, f->api) == 0)) {
            cr_assert_not_null(next, "%s missing", f->api);
            cr_assert_str_eq(next->string, f->api);
            next = next->next;
        }
        parent = f->api_sub ? f->api : NULL;
        const cJSON *m = api_member(j, f);
        cr_assert_not_null(m, "%s.%s", f->api, f->api_sub);
        const char *p = (const char *)&c + f->offset;
        switch (f->type) {
        case FUNCTION_FIELD_STRING: cr_assert_str_eq(m->valuestring, p, "%s", f->api); break;
        case FUNCTION_FIELD_INT: cr_assert_eq(m->valuedouble, *(const int *)p, "%s", f->api); break;
        case FUNCTION_FIELD_INT64: cr_assert_eq(m->valuedouble, (double)*(const int64_t *)p); break;
        case FUNCTION_FIELD_BOOL: cr_assert_eq(cJSON_IsTrue(m), *(const bool *)p, "%s", f->api); break;
        case FUNCTION_FIELD_CHOICE:
            cr_assert_str_eq(m->valuestring, f->choices[*(const bool *)p], "%s", f->api);
            break;
        case FUNCTION_FIELD_CONST: cr_assert_str_eq(m->valuestring, f->def_str, "%s", f->api); break;
        default: break;
        }
    }
    cr_assert_null(next, "%s is in no row", next ? next->string : "");
    cJSON_Delete(j);
    function_config_free(&c);
}

/* Every input field, given through the API, lands in its member and comes
 * back out of FunctionConfiguration as given. */
Test(function_fields, every_input_round_trips_through_the_api)
{
    function_config_t want = every_field_set();
    cJSON *body = function_config_to_api_json(&want);
    /* Only what the API accepts; PackageType and Architectures as shown. */
    function_config_t c;
    function_config_init(&c);
    err_t err;
    cr_assert_eq(function_config_apply_json(&c, body, true, &err), 0, "%s", err.msg);
    cJSON *back = function_config_to_api_json(&c);
    size_t n;
    const function_field_t *f = rows(&n);
    for (size_t i = 0; i < n; i++, f++) {
        if (!(f->flags & FUNCTION_FIELD_INPUT)) continue;
        cr_assert(cJSON_Compare(api_member(body, f), api_member(back, f), true), "%s", f->api);
        if (has_member(f))
            cr_assert(memcmp((char *)&c + f->offset, (char *)&want + f->offset, f->size) == 0,
                      "%s", f->api);
    }
    cJSON_Delete(back);
    cJSON_Delete(body);
    function_config_free(&c);
    function_config_free(&want);
}

/* Each integer's limits, from its row, give Lambda's messages. */
Test(function_fields, integer_limits_come_from_the_table)
{
    size_t n;
    const function_field_t *f = rows(&n);
    for (size_t i = 0; i < n; i++, f++) {
        if (f->type != FUNCTION_FIELD_INT || !(f->flags & FUNCTION_FIELD_INPUT)) continue;
        for (int side = 0; side < 2; side++) {
            int bad = side ? f->max + 1 : f->min - 1;
            char json[128], want[256];
            if (f->api_sub)
                snprintf(json, sizeof json, "{\"%s\":{\"%s\":%d}}", f->api, f->api_sub, bad);
            else
                snprintf(json, sizeof json, "{\"%s\":%d}", f->api, bad);
            snprintf(want, sizeof want,
                     "1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: "
                     "Member must have value %s than or equal to %d",
                     bad, f->check, side ? "less" : "greater", side ? f->max : f->min);
            expect_error(json, false, ERR_VALIDATION, want);
        }
    }
}

Test(function_fields, runtimes_are_the_runtime_table)
{
    size_t n, k = 0;
    const runtime_t *t = runtime_table(&n);
    for (const char *const *r = function_runtimes(); *r; r++, k++) {
        cr_assert_lt(k, n);
        cr_assert_str_eq(*r, t[k].name);
        cr_assert_eq(runtime_find(*r), &t[k]);
        cr_assert(function_runtime_valid(*r));
    }
    cr_assert_eq(k, n);
    cr_assert_null(runtime_find(NULL));
}

Test(function, names_as_paths_and_arns_give_them)
{
    char name[65], qual[130];
    cr_assert_eq(function_name_parse("hello", name, sizeof name, qual, sizeof qual), 0);
    cr_assert_str_eq(name, "hello");
    cr_assert_str_eq(qual, "");
    cr_assert_eq(function_name_parse("hello:live", name, sizeof name, qual, sizeof qual), 0);
    cr_assert_str_eq(qual, "live");
    cr_assert_eq(function_name_parse("arn:aws:lambda:us-east-1:000000000000:function:hello:7", name, sizeof name,
                                     qual, sizeof qual), 0);
    cr_assert_str_eq(name, "hello");
    cr_assert_str_eq(qual, "7");
    cr_assert_eq(function_name_parse("000000000000:function:hello", name, sizeof name, qual, sizeof qual), 0);
    cr_assert_str_eq(name, "hello");
    cr_assert_eq(function_name_parse("hello:", name, sizeof name, qual, sizeof qual), -1, "empty qualifier");
    cr_assert_str_eq(name, "hello", "filled even when refused");
    cr_assert_eq(function_name_parse("bad name", name, sizeof name, qual, sizeof qual), -1);
    cr_assert_eq(function_name_parse("", name, sizeof name, qual, sizeof qual), -1);
    cr_assert_eq(function_name_parse(":x", name, sizeof name, qual, sizeof qual), -1);
    char longname[100];
    memset(longname, 'a', 80);
    longname[80] = '\0';
    cr_assert_eq(function_name_parse(longname, name, sizeof name, qual, sizeof qual), -1, "does not fit");
}

Test(function, layers_shown_and_stored_in_order)
{
    function_config_t c = sample();
    char *plain = function_config_serialize(&c);
    cr_assert_null(strstr(plain, "layers"), "a function without layers stores none: %s", plain);
    cJSON *api = function_config_to_api_json(&c);
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(api, "Layers"));
    cJSON_Delete(api);
    free(plain);
    c.nlayers = 2;
    function_layer_arn("b", 3, c.layers[0].arn, sizeof c.layers[0].arn);
    c.layers[0].code_size = 10;
    c.layers[0].unzipped = 100;
    strcpy(c.layers[0].hex, "aa");
    function_layer_arn("a", 1, c.layers[1].arn, sizeof c.layers[1].arn);
    c.layers[1].code_size = 20;
    c.layers[1].unzipped = 200;
    strcpy(c.opt_hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b856");
    cr_assert_str_eq(c.layers[0].arn, "arn:aws:lambda:" NIMBUS_DEFAULT_REGION ":" NIMBUS_DEFAULT_ACCOUNT ":layer:b:3");
    api = function_config_to_api_json(&c);
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(api, "Layers"));
    char want[400];
    snprintf(want, sizeof want, "[{\"Arn\":\"%s\",\"CodeSize\":10},{\"Arn\":\"%s\",\"CodeSize\":20}]",
             c.layers[0].arn, c.layers[1].arn);
    cr_assert_str_eq(text, want);
    free(text);
    cJSON_Delete(api);
    char *doc = function_config_serialize(&c);
    cr_assert_null(strstr(doc, "\"aa\""), "no layer's code key in the stored document: %s", doc);
    function_config_t d;
    err_t err;
    cr_assert_eq(function_config_deserialize(&d, doc, &err), 0, "%s", err.msg);
    cr_assert_eq(d.nlayers, 2);
    cr_assert_str_eq(d.layers[1].arn, c.layers[1].arn);
    cr_assert_eq(d.layers[1].unzipped, 200);
    cr_assert_str_eq(d.opt_hex, c.opt_hex);
    free(doc);
    function_config_free(&d);
    function_config_free(&c);
}
