/* cli_exec.c — `nimbus exec NAME [--instance ID] [--timeout S] -- CMD...`:
 * run CMD inside a live instance of NAME and print what it wrote; exit with
 * its exit code. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void cli_usage_exec(FILE *out)
{
    fputs("Usage: nimbus exec NAME [--instance ID] [--timeout S] -- CMD [ARG...]\n"
          "\n"
          "Run CMD inside a live instance of function NAME: in its sandbox (namespaces,\n"
          "root, cgroup), as its user, in its working directory, with its environment.\n"
          "Prints the command's output (stdout and stderr) and exits with its code.\n"
          "\n"
          "Options:\n"
          "  --instance ID    which instance (see `nimbus instances NAME`); default: the\n"
          "                   most recently started ready one\n"
          "  --timeout S      kill the command after S seconds (default 30)\n"
          "  --endpoint URL   Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help       show this help\n",
          out);
}

int cli_cmd_exec(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    enum { OPT_INSTANCE, OPT_TIMEOUT };
    static const cli_opt_t opts[] = { [OPT_INSTANCE] = { "instance", true }, [OPT_TIMEOUT] = { "timeout", true },
                                      { NULL, false } };
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val, *name = NULL, *instance = "latest";
    long timeout = 30;
    cJSON *cmd = cJSON_CreateArray();
    for (;;) {
        int opt = cli_args_next(ctx, &a, opts, &val, err);
        if (opt == CLI_ARG_END) break;
        if (opt == CLI_ARG_ERROR) { cJSON_Delete(cmd); return -1; }
        if (opt == CLI_ARG_HELP) { cJSON_Delete(cmd); cli_usage_exec(stdout); return 0; }
        if (opt == CLI_ARG_POSITIONAL) {
            if (!name) name = val;
            else cJSON_AddItemToArray(cmd, cJSON_CreateString(val));
        } else if (opt == OPT_INSTANCE) {
            instance = val;
        } else if (cli_parse_long(ctx, "--timeout", val, 1, 3600, &timeout, err) < 0) {
            cJSON_Delete(cmd);
            return -1;
        }
    }
    if (!name || !*name) { cJSON_Delete(cmd); return cli_usage_fail(ctx, err, "missing NAME"); }
    if (cJSON_GetArraySize(cmd) == 0) { cJSON_Delete(cmd); return cli_usage_fail(ctx, err, "missing CMD (after --)"); }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "Command", cmd);
    cJSON_AddNumberToObject(body, "TimeoutSeconds", (double)timeout);
    cJSON_AddBoolToObject(body, "Stream", true);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    char *ename = cli_escape(name), *eid = cli_escape(instance);
    buf_t path = { 0 };
    buf_appendf(&path, "/nimbus/v1/functions/%s/instances/%s/exec", ename, eid);
    free(ename);
    free(eid);
    static const char *const hdrs[] = { "Content-Type: application/json", NULL };
    cli_req_t req = { .method = "POST", .path = path.data, .headers = hdrs, .body = text, .body_len = strlen(text) };
    cJSON *j = cli_request_json(ctx, &req, err);
    buf_free(&path);
    free(text);
    if (!j) return -1;
    const cJSON *idj = cJSON_GetObjectItemCaseSensitive(j, "ExecId");
    char *exec_id = cJSON_IsString(idj) ? strdup(idj->valuestring) : NULL;
    cJSON_Delete(j);
    if (!exec_id) return err_set(err, ERR_INTERNAL, "the server did not start the command");
    /* Stream: each poll returns what the command wrote since `offset`, as
     * soon as there is some (or after a while, empty). */
    double offset = 0;
    int exit_code = -1;
    for (;;) {
        buf_t p2 = { 0 };
        buf_appendf(&p2, "/nimbus/v1/execs/%s?offset=%.0f", exec_id, offset);
        cli_req_t get = { .method = "GET", .path = p2.data };
        j = cli_request_json(ctx, &get, err);
        buf_free(&p2);
        if (!j) { free(exec_id); return -1; }
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(j, "Output");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(j, "Offset");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "ExitCode");
        if (cJSON_IsString(out)) fputs(out->valuestring, stdout);
        fflush(stdout);
        if (cJSON_IsNumber(off)) offset = off->valuedouble;
        bool done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "Done"));
        if (done) exit_code = cJSON_IsNumber(code) ? (int)code->valuedouble : 1;
        cJSON_Delete(j);
        if (done) break;
    }
    free(exec_id);
    /* The command's own exit code, as `docker exec` does. */
    exit(exit_code);
}
