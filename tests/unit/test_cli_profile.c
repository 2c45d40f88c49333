/* test_cli_profile.c — the client's configuration file (profiles in the
 * AWS CLI's INI shape) and the two-blank JSON the CLI prints. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char *CONFIG =
    "# a comment\n"
    "[default]\n"
    "endpoint = http://127.0.0.1:9000\n"
    "\n"
    "[profile staging]\n"
    "  endpoint_url=http://staging:8080  \n"
    "aws_access_key_id = AKIDEXAMPLE\n"
    "secret_access_key = s3cr3t=with=equals\n"
    "region = eu-west-1\n"
    "; another comment\n"
    "unknown_key = ignored\n";

Test(cli_profile, default_section)
{
    cli_profile_t p;
    err_t err;
    cr_assert_eq(cli_profile_parse(CONFIG, "cfg", "default", &p, &err), 0);
    cr_assert(p.found);
    cr_assert_str_eq(p.endpoint, "http://127.0.0.1:9000");
    cr_assert_null(p.access_key_id);
    cli_profile_free(&p);
}

Test(cli_profile, named_profile_with_aws_spellings)
{
    cli_profile_t p;
    err_t err;
    cr_assert_eq(cli_profile_parse(CONFIG, "cfg", "staging", &p, &err), 0);
    cr_assert(p.found);
    cr_assert_str_eq(p.endpoint, "http://staging:8080");
    cr_assert_str_eq(p.access_key_id, "AKIDEXAMPLE");
    cr_assert_str_eq(p.secret_access_key, "s3cr3t=with=equals");
    cr_assert_str_eq(p.region, "eu-west-1");
    cli_profile_free(&p);
}

Test(cli_profile, missing_profile_is_not_found)
{
    cli_profile_t p;
    err_t err;
    cr_assert_eq(cli_profile_parse(CONFIG, "cfg", "prod", &p, &err), 0);
    cr_assert_not(p.found);
    cr_assert_null(p.endpoint);
    cli_profile_free(&p);
}

Test(cli_profile, malformed_line_names_file_and_line)
{
    cli_profile_t p;
    err_t err;
    cr_assert_lt(cli_profile_parse("[default]\n\nendpoint\n", "my.cfg", "default", &p, &err), 0);
    cr_assert_str_eq(err.msg, "my.cfg:3: expected key = value");
    cr_assert_lt(cli_profile_parse("[default\n", "my.cfg", "default", &p, &err), 0);
    cr_assert_str_eq(err.msg, "my.cfg:1: a malformed section header");
}

Test(cli_profile, missing_file_is_empty)
{
    cli_profile_t p;
    err_t err;
    cr_assert_eq(cli_profile_load("/nonexistent/nimbus/config", "default", &p, &err), 0);
    cr_assert_not(p.found);
}

Test(cli_json, two_blank_indent)
{
    cJSON *j = cJSON_Parse("{\"a\":1,\"b\":[true,null,\"x\\\"y\"],\"c\":{},\"d\":[],\"e\":{\"f\":2.5}}");
    cr_assert_not_null(j);
    char *t = cli_json_text(j);
    cr_assert_str_eq(t, "{\n"
                        "  \"a\": 1,\n"
                        "  \"b\": [\n"
                        "    true,\n"
                        "    null,\n"
                        "    \"x\\\"y\"\n"
                        "  ],\n"
                        "  \"c\": {},\n"
                        "  \"d\": [],\n"
                        "  \"e\": {\n"
                        "    \"f\": 2.5\n"
                        "  }\n"
                        "}");
    free(t);
    cJSON_Delete(j);
}

Test(cli_json, scalar_and_escaped_key)
{
    cJSON *j = cJSON_Parse("{\"k\\n\":\"v\"}");
    char *t = cli_json_text(j);
    cr_assert_str_eq(t, "{\n  \"k\\n\": \"v\"\n}");
    free(t);
    cJSON_Delete(j);
    j = cJSON_CreateNumber(42);
    t = cli_json_text(j);
    cr_assert_str_eq(t, "42");
    free(t);
    cJSON_Delete(j);
}
