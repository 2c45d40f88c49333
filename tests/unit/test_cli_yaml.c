/* The YAML loader of `nimbus deploy`'s project files (cli_yaml.c), and the
 * translation of small templates into plans (cli_project_sam.c, _fc.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "cli/cli.h"

static cJSON *parse(const char *y)
{
    err_t e = {0};
    cJSON *j = cli_yaml_parse(y, strlen(y), &e);
    cr_assert(j, "parse failed: %s", e.msg);
    return j;
}

static void expect_json(const char *yaml, const char *json)
{
    cJSON *got = parse(yaml), *want = cJSON_Parse(json);
    cr_assert(want, "bad expectation %s", json);
    char *g = cJSON_PrintUnformatted(got);
    cr_expect(cJSON_Compare(got, want, true), "%s\n  gave %s\n  want %s", yaml, g, json);
    free(g);
    cJSON_Delete(got);
    cJSON_Delete(want);
}

static void expect_error(const char *yaml, const char *msg)
{
    err_t e = {0};
    cJSON *j = cli_yaml_parse(yaml, strlen(yaml), &e);
    cr_expect_null(j, "%s parsed", yaml);
    cJSON_Delete(j);
    cr_expect(strstr(e.msg, msg), "%s: error '%s' lacks '%s'", yaml, e.msg, msg);
}

Test(cli_yaml, scalars_are_typed_as_the_core_schema_says)
{
    expect_json("a: 1\nb: -2.5\nc: true\nd: False\ne: ~\nf:\ng: null\nh: text\ni: '1'\nj: \"true\"\nk: 1.2.3\n"
                "l: 0x1f\nm: python3.11\n",
                "{\"a\":1,\"b\":-2.5,\"c\":true,\"d\":false,\"e\":null,\"f\":null,\"g\":null,\"h\":\"text\","
                "\"i\":\"1\",\"j\":\"true\",\"k\":\"1.2.3\",\"l\":\"0x1f\",\"m\":\"python3.11\"}");
    expect_json("s: !!str 12\n", "{\"s\":\"12\"}");
}

Test(cli_yaml, block_and_flow_collections)
{
    expect_json("list:\n  - a\n  - {x: 1, y: [2, 3]}\nmap:\n  k: |\n    line1\n    line2\n",
                "{\"list\":[\"a\",{\"x\":1,\"y\":[2,3]}],\"map\":{\"k\":\"line1\\nline2\\n\"}}");
    expect_json("", "null");
    expect_json("--- [1]\n", "[1]");
}

Test(cli_yaml, anchors_aliases_and_merge_keys)
{
    expect_json("base: &b {m: 128, t: 3}\nf1: *b\nf2:\n  <<: *b\n  t: 9\n",
                "{\"base\":{\"m\":128,\"t\":3},\"f1\":{\"m\":128,\"t\":3},\"f2\":{\"t\":9,\"m\":128}}");
    expect_json("a: &x hello\nb: *x\n", "{\"a\":\"hello\",\"b\":\"hello\"}");
    expect_error("a: *nope\n", "unknown alias '*nope'");
}

Test(cli_yaml, cloudformation_short_tags_become_their_long_form)
{
    expect_json("a: !Ref MyLayer\nb: !Sub '${AWS::Region}-x'\nc: !GetAtt Fn.Arn\nd: !GetAtt [Fn, Arn]\n"
                "e: !Join [',', [a, b]]\n",
                "{\"a\":{\"Ref\":\"MyLayer\"},\"b\":{\"Fn::Sub\":\"${AWS::Region}-x\"},"
                "\"c\":{\"Fn::GetAtt\":[\"Fn\",\"Arn\"]},\"d\":{\"Fn::GetAtt\":[\"Fn\",\"Arn\"]},"
                "\"e\":{\"Fn::Join\":[\",\",[\"a\",\"b\"]]}}");
}

Test(cli_yaml, errors_name_their_line)
{
    expect_error("a: 1\nb: [1, 2\nc: 3\n", "line ");
    expect_error("a: 1\nb:\n  c: 1\n  c: 2\n", "line 4: duplicate key 'c'");
    expect_error("a: 1\n\tb: 2\n", "line 2");
    expect_error("a: 1\n---\nb: 2\n", "more than one YAML document");
    expect_error("? [a]\n: 1\n", "a mapping key must be a scalar");
}

Test(cli_yaml, an_alias_bomb_is_refused)
{
    const char *y = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n";
    expect_error(y, "too many nodes");
}

static cJSON *plan_of(const char *yaml, cJSON **warnings)
{
    cJSON *doc = parse(yaml);
    err_t e = {0};
    cli_plan_env_t env = {.dir = "/proj", .region = "eu-west-1", .account = "123456789012",
                          .warnings = cJSON_CreateArray()};
    cJSON *plan = cli_project_plan(doc, &env, &e);
    cJSON_Delete(doc);
    cr_assert(plan, "plan failed: %s", e.msg);
    *warnings = env.warnings;
    return plan;
}

Test(cli_project, sam_globals_parameters_and_intrinsics)
{
    cJSON *w;
    cJSON *plan = plan_of(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Parameters:\n  Stage: {Type: String, Default: prod}\n"
        "Globals:\n  Function:\n    Timeout: 9\n    Environment: {Variables: {A: global, B: global}}\n"
        "Resources:\n"
        "  Dep:\n    Type: AWS::Serverless::LayerVersion\n    Properties: {ContentUri: layer/}\n"
        "  Hello:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src\n"
        "      Handler: app.handler\n      Runtime: python3.11\n      Layers: [!Ref Dep]\n"
        "      Policies: AWSLambdaBasicExecutionRole\n"
        "      Environment: {Variables: {B: !Sub '${Stage}-${AWS::Region}', C: !GetAtt X.Arn}}\n", &w);
    const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(plan, "Functions"), 0);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(f, "FunctionName")), "Hello");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(f, "Code")), "/proj/src");
    const cJSON *cfg = cJSON_GetObjectItem(f, "Config");
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cfg, "Timeout")), 9);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cfg, "MemorySize")), 128);
    /* C's !GetAtt cannot be resolved: the whole Environment is warned and
     * dropped, never half applied. */
    char *ws = cJSON_PrintUnformatted(w);
    cr_expect(strstr(ws, "Hello.Policies: not supported by Nimbus, ignored"), "%s", ws);
    cr_expect(strstr(ws, "Hello.Environment: !GetAtt cannot be resolved by Nimbus, ignored"), "%s", ws);
    free(ws);
    const cJSON *layers = cJSON_GetObjectItem(cfg, "Layers");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(layers, 0), "Ref")), "Dep");
    cJSON_Delete(plan);
    cJSON_Delete(w);
    plan = plan_of("Transform: AWS::Serverless-2016-10-31\nParameters:\n  Stage: {Default: prod}\n"
                   "Globals:\n  Function:\n    Environment: {Variables: {A: global, B: global}}\n"
                   "Resources:\n  H:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                   "      {CodeUri: s, Handler: a.b, Runtime: python3.11, MemorySize: 256,\n"
                   "       Environment: {Variables: {B: !Sub '${Stage}-${AWS::Region}-${AWS::AccountId}'}}}\n", &w);
    cfg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(plan, "Functions"), 0), "Config");
    const cJSON *vars = cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "Environment"), "Variables");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(vars, "A")), "global");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(vars, "B")), "prod-eu-west-1-123456789012");
    cr_expect_eq(cJSON_GetArraySize(w), 0);
    cJSON_Delete(plan);
    cJSON_Delete(w);
}

Test(cli_project, sam_template_errors)
{
    static const char *const cases[][2] = {
        {"Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {Handler: a.b, Runtime: python3.11}\n",
         "F.CodeUri: missing"},
        {"Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n"
         "      {CodeUri: s, Handler: a.b, Runtime: x, ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 1}}\n",
         "needs AutoPublishAlias"},
        {"Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: s, Handler: a.b, Runtime: x, "
         "MemorySize: 5}\n", "F.MemorySize: must be a whole number"},
        {"Resources: {}\n", "Resources: missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *doc = parse(cases[i][0]);
        err_t e = {0};
        cli_plan_env_t env = {.dir = ".", .warnings = cJSON_CreateArray()};
        cJSON *plan = cli_project_plan(doc, &env, &e);
        cr_expect_null(plan, "case %zu planned", i);
        cr_expect(strstr(e.msg, cases[i][1]), "case %zu: '%s' lacks '%s'", i, e.msg, cases[i][1]);
        cJSON_Delete(plan);
        cJSON_Delete(doc);
        cJSON_Delete(env.warnings);
    }
}

Test(cli_project, s_yaml_custom_runtime_vars_and_triggers)
{
    cJSON *w;
    cJSON *plan = plan_of(
        "edition: 3.0.0\nvars: {region: cn-hangzhou, mem: 256, fn: web}\n"
        "resources:\n  app:\n    component: fc3\n    props:\n      region: ${vars.region}\n"
        "      functionName: ${vars.fn}-app\n      runtime: custom.debian10\n      code: ./code\n"
        "      memorySize: ${vars.mem}\n      instanceConcurrency: 4\n      nasConfig: auto\n"
        "      customRuntimeConfig: {command: [python3], args: [server.py], port: 9000}\n"
        "      triggers:\n        - {triggerName: tick, triggerType: timer, triggerConfig: "
        "{cronExpression: '*/2 * * * * *', payload: hi, enable: true}}\n"
        "        - {triggerName: web, triggerType: http, triggerConfig: {authType: anonymous}}\n", &w);
    const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(plan, "Functions"), 0);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(f, "FunctionName")), "web-app");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(f, "Code")), "/proj/./code");
    const cJSON *cfg = cJSON_GetObjectItem(f, "Config");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cfg, "Runtime")), "provided.fc");
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cfg, "MemorySize")), 256);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cfg, "InstanceConcurrency")), 4);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cfg, "HttpPort")), 9000);
    cr_expect(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(f, "Bootstrap")), "exec 'python3' 'server.py'\n"));
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(f, "Triggers"), 0);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(t, "ScheduleExpression")), "*/2 * * * * *");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(t, "Format")), "fc");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(t, "Payload")), "hi");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "Url"), "AuthType")), "NONE");
    char *ws = cJSON_PrintUnformatted(w);
    cr_expect(strstr(ws, "app.nasConfig: not supported by Nimbus, ignored"), "%s", ws);
    cr_expect(strstr(ws, "app.region: not supported by Nimbus, ignored"), "%s", ws);
    free(ws);
    cJSON_Delete(plan);
    cJSON_Delete(w);
}

Test(cli_project, sam_globals_lists_are_appended_once_and_unknown_globals_warn_once)
{
    cJSON *w;
    cJSON *plan = plan_of("Transform: AWS::Serverless-2016-10-31\n"
                          "Globals:\n  Function:\n    Layers: [arn:aws:lambda:r:1:layer:g:1]\n    Tracing: Active\n"
                          "    CodeUri: s\n    Handler: a.b\n    Runtime: python3.11\n"
                          "Resources:\n  A:\n    Type: AWS::Serverless::Function\n"
                          "  B:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                          "      Layers: [arn:aws:lambda:r:1:layer:b:1]\n", &w);
    const cJSON *fns = cJSON_GetObjectItem(plan, "Functions");
    const cJSON *la = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(fns, 0), "Config"), "Layers");
    const cJSON *lb = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(fns, 1), "Config"), "Layers");
    cr_expect_eq(cJSON_GetArraySize(la), 1);
    cr_expect_eq(cJSON_GetArraySize(lb), 2);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(lb, 0)), "arn:aws:lambda:r:1:layer:g:1");
    cr_expect_eq(cJSON_GetArraySize(w), 1);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(w, 0)),
                     "Globals.Function.Tracing: not supported by Nimbus, ignored");
    cJSON_Delete(plan);
    cJSON_Delete(w);
}
