/* cli_instances.c — `nimbus instances NAME [--json]`: the live instances of
 * a function (all its versions), one line each. One request; prints nothing
 * on error but the one error line. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void cli_usage_instances(FILE *out)
{
    fputs("Usage: nimbus instances NAME [--json]\n"
          "\n"
          "List the live instances of function NAME (every version):\n"
          "ID VERSION STATE PID AGE CALLS BUSY PEAK-MEMORY.\n"
          "\n"
          "Options:\n"
          "  --json           print the API's JSON instead (= --output json)\n"
          "  --endpoint URL   Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help       show this help\n",
          out);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

int cli_cmd_instances(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    static const cli_opt_t opts[] = { { "json", false }, { NULL, false } };
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val, *name = NULL;
    bool json = false;
    for (;;) {
        int opt = cli_args_next(ctx, &a, opts, &val, err);
        if (opt == CLI_ARG_END) break;
        if (opt == CLI_ARG_ERROR) return -1;
        if (opt == CLI_ARG_HELP) { cli_usage_instances(stdout); return 0; }
        if (opt == CLI_ARG_POSITIONAL) {
            if (name) return cli_usage_fail(ctx, err, "unexpected argument '%s'", val);
            name = val;
        } else {
            json = true;
        }
    }
    json = json || cli_json_out(ctx);
    if (!name || !*name) return cli_usage_fail(ctx, err, "missing NAME");
    char *ename = cli_escape(name);
    buf_t path = {0};
    buf_appendf(&path, "/nimbus/v1/functions/%s/instances", ename);
    free(ename);
    cli_req_t req = {.method = "GET", .path = path.data};
    cJSON *j = cli_request_json(ctx, &req, err);
    buf_free(&path);
    if (!j) return -1;
    if (json) {
        cli_print_json(j);
        cJSON_Delete(j);
        return 0;
    }
    printf("%-18s %-8s %-9s %-8s %8s %6s %4s %9s\n", "ID", "VERSION", "STATE", "PID", "AGE", "CALLS",
           "BUSY", "PEAK-MEM");
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "Instances")) {
        printf("%-18s %-8s %-9s %-8.0f %7.1fs %6.0f %4.0f %6.1f MB%s\n", str(e, "Id"), str(e, "Version"),
               str(e, "State"), num(e, "Pid"), num(e, "AgeMs") / 1000.0, num(e, "CallsServed"),
               num(e, "Busy"), num(e, "PeakMemoryBytes") / 1048576.0,
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "Provisioned")) ? " (provisioned)" : "");
    }
    cJSON_Delete(j);
    return 0;
}
