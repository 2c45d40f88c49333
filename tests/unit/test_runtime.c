/* test_runtime.c — the runtime table: Nimbus' rows, the Lambda identifiers
 * this host's interpreters serve, rows added by --runtime-map, and the
 * answers for identifiers Lambda retired. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/function.h"
#include "core/runtime.h"

static int apply(function_config_t *c, const char *json, err_t *err)
{
    cJSON *j = cJSON_Parse(json);
    cr_assert_not_null(j, "bad test JSON: %s", json);
    err_clear(err);
    int rc = function_config_apply_json(c, j, true, err);
    cJSON_Delete(j);
    return rc;
}

/* A runtime dir with one extra bootstrap, as a user's would be. */
static void runtime_dir_with(const char *file, char dir[64])
{
    snprintf(dir, 64, "/tmp/nimbus-rt-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/python", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/python/bootstrap.py", dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    err_t err;
    cr_assert_eq(runtime_set_dir(dir, &err), 0, "%s", err.msg);
}

Test(runtime, versioned_rows_are_this_hosts_interpreters)
{
    size_t n;
    const runtime_t *t = runtime_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(t[i].name, "python3.", 8) == 0) {
            char path[64];
            snprintf(path, sizeof path, "/usr/bin/%s", t[i].name);
            cr_assert_eq(access(path, X_OK), 0, "%s listed without %s", t[i].name, path);
            char exec_env[64];
            snprintf(exec_env, sizeof exec_env, "AWS_Lambda_%s", t[i].name);
            cr_assert_str_eq(t[i].exec_env, exec_env);
            cr_assert_str_eq(t[i].interpreter_flag, "-S");
            cr_assert(t[i].prestart);
        }
    }
    /* Every python3.X the host has is served. */
    for (int minor = 9; minor <= 30; minor++) {
        char name[32], path[64];
        snprintf(name, sizeof name, "python3.%d", minor);
        snprintf(path, sizeof path, "/usr/bin/%s", name);
        if (access(path, X_OK) == 0) cr_assert_not_null(runtime_find(name), "%s", name);
        else cr_assert_null(runtime_find(name), "%s", name);
    }
    /* Node: the identifier of the major version /usr/bin/node is. */
    FILE *p = popen("/usr/bin/node --version 2>/dev/null", "r");
    char v[32] = "";
    if (p) {
        if (!fgets(v, sizeof v, p)) v[0] = '\0';
        pclose(p);
    }
    if (v[0] == 'v') {
        char name[32];
        snprintf(name, sizeof name, "nodejs%d.x", atoi(v + 1));
        const runtime_t *rt = runtime_find(name);
        cr_assert_not_null(rt, "%s", name);
        cr_assert_str_eq(rt->interpreter, "/usr/bin/node");
        cr_assert_str_eq(runtime_find("nodejs")->exec_env, rt->exec_env);
    }
    /* Nimbus' own rows are always there. */
    for (const char *own = "provided\0provided.al2\0provided.al2023\0python3\0nodejs\0bash\0provided.scf\0"
                           "provided.fc\0";
         *own; own += strlen(own) + 1)
        cr_assert_not_null(runtime_find(own), "%s", own);
}

Test(runtime, map_serves_a_name_as_another)
{
    err_t err;
    cr_assert_eq(runtime_map_add("python3.99=python3", true, &err), 0, "%s", err.msg);
    const runtime_t *rt = runtime_find("python3.99"), *base = runtime_find("python3");
    cr_assert_not_null(rt);
    cr_assert_str_eq(rt->interpreter, base->interpreter);
    cr_assert_str_eq(rt->bootstrap, base->bootstrap);
    cr_assert_str_eq(rt->exec_env, "AWS_Lambda_python3.99");
    cr_assert_eq(rt->prestart, base->prestart);
    cr_assert_eq(runtime_map_add("go1.x=provided.al2023", true, &err), 0, "%s", err.msg);
    cr_assert_null(runtime_find("go1.x")->bootstrap);
    cr_assert_null(runtime_find("go1.x")->exec_env);
    /* Listed last, in the order added, and valid for CreateFunction. */
    size_t n;
    const runtime_t *t = runtime_table(&n);
    cr_assert_str_eq(t[n - 2].name, "python3.99");
    cr_assert_str_eq(t[n - 1].name, "go1.x");
    cr_assert(function_runtime_valid("python3.99"));
    const char *const *names = runtime_names();
    cr_assert_str_eq(names[n - 1], "go1.x");
    cr_assert_null(names[n]);
}

Test(runtime, map_with_an_interpreter_and_a_bootstrap)
{
    char dir[64];
    runtime_dir_with("mine.sh", dir);
    err_t err;
    cr_assert_eq(runtime_map_add("shell1.0=/bin/sh mine.sh", false, &err), 0, "%s", err.msg);
    const runtime_t *rt = runtime_find("shell1.0");
    cr_assert_eq(rt->api, RUNTIME_API_LAMBDA);
    cr_assert_str_eq(rt->bootstrap, "mine.sh");
    cr_assert_not(rt->prestart);
    char exe[600], store[700], *argv[8];
    cr_assert_eq(runtime_command(rt, "/code", true, exe, sizeof exe, argv, store, sizeof store, &err), 0, "%s",
                 err.msg);
    cr_assert_str_eq(exe, "/bin/sh");
    cr_assert_str_eq(argv[0], "/bin/sh");
    cr_assert_str_eq(argv[1], "/var/runtime/mine.sh");
    cr_assert_null(argv[2]);
    /* Nimbus' python bootstrap under another interpreter keeps its handshake and -S. */
    cr_assert_eq(runtime_map_add("python3.98=/usr/bin/python3 python/bootstrap.py", true, &err), 0, "%s", err.msg);
    rt = runtime_find("python3.98");
    cr_assert(rt->prestart);
    cr_assert_str_eq(rt->interpreter_flag, "-S");
}

Test(runtime, map_refusals_name_what_is_wrong)
{
    char dir[64];
    runtime_dir_with("mine.sh", dir);
    err_t err;
    struct {
        const char *entry, *says;
    } bad[] = {
        { "nothing", "is not NAME=SPEC" },
        { "=python3", "is not a runtime name" },
        { "a b=python3", "is not a runtime name" },
        { "python3=python3", "in the table already" },
        { "x1=cobol", "neither a runtime of this daemon nor 'INTERPRETER BOOTSTRAP'" },
        { "x2=/no/such/interp mine.sh", "not an executable absolute path" },
        { "x3=sh mine.sh", "not an executable absolute path" },
        { "x4=/bin/sh ../etc/passwd", "must be a path under the runtime dir" },
        { "x5=/bin/sh missing.sh", "not a readable file of the runtime dir" },
        { "x6=/bin/sh mine.sh extra", "neither a runtime" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(runtime_map_add(bad[i].entry, false, &err), -1, "%s", bad[i].entry);
        cr_assert_eq(err.code, ERR_INVALID);
        cr_assert(strstr(err.msg, bad[i].says), "%s: %s", bad[i].entry, err.msg);
    }
    /* A sandbox sees /usr and nothing else of the host. */
    char interp[128];
    snprintf(interp, sizeof interp, "%s/interp", dir);
    FILE *f = fopen(interp, "w");
    fclose(f);
    chmod(interp, 0755);
    char entry[300];
    snprintf(entry, sizeof entry, "x7=%s mine.sh", interp);
    cr_assert_eq(runtime_map_add(entry, true, &err), -1);
    cr_assert(strstr(err.msg, "outside /usr"), "%s", err.msg);
    cr_assert_eq(runtime_map_add(entry, false, &err), 0, "%s", err.msg);
}

Test(runtime, lambdas_retired_identifiers_get_lambdas_answer)
{
    function_config_t c;
    function_config_init(&c);
    err_t err;
    /* The newest python of this table is what Lambda's answer recommends. */
    const char *newest = NULL;
    int best = -1;
    for (const char *const *r = runtime_names(); *r; r++)
        if (strncmp(*r, "python3.", 8) == 0 && atoi(*r + 8) > best) {
            best = atoi(*r + 8);
            newest = *r;
        }
    cr_assert_not_null(newest);
    cr_assert_str_eq(runtime_successor("python3.8"), newest);
    cr_assert_eq(apply(&c, "{\"FunctionName\":\"f\",\"Runtime\":\"python3.6\",\"Handler\":\"h\"}", &err), -1);
    cr_assert_eq(err.code, ERR_INVALID);
    char want[300];
    snprintf(want, sizeof want,
             "The runtime parameter of python3.6 is no longer supported for creating or updating AWS Lambda "
             "functions. We recommend you use the new runtime (%s) while creating or updating functions.",
             newest);
    cr_assert_str_eq(err.msg, want);
    cr_assert_str_eq(runtime_successor("go1.x"), "provided.al2023");
    cr_assert_not_null(runtime_successor("nodejs16.x"));
    cr_assert_eq(strncmp(runtime_successor("nodejs16.x"), "nodejs", 6), 0);
    cr_assert(strchr(runtime_successor("nodejs16.x"), '.'), "%s", runtime_successor("nodejs16.x"));
    /* No ruby here: the answer is the list of what this daemon serves. */
    cr_assert_null(runtime_successor("ruby2.7"));
    cr_assert_eq(apply(&c, "{\"FunctionName\":\"f\",\"Runtime\":\"ruby2.7\",\"Handler\":\"h\"}", &err), -1);
    cr_assert(strstr(err.msg, "Value ruby2.7 at 'runtime' failed to satisfy constraint: Member must satisfy enum "
                              "value set: [provided, ") == err.msg, "%s", err.msg);
    /* Not retired, not known: the list too. */
    cr_assert_null(runtime_successor("java21"));
    cr_assert_null(runtime_successor("python3.11"));
    function_config_free(&c);
}
