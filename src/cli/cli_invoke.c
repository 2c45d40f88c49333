/* cli_invoke.c — `nimbus invoke`: one Invoke call, the function's answer on
 * stdout byte for byte, the log tail (with --log) on stderr; with --async,
 * the event is queued and only its request id is printed.
 *
 * Must never: alter the response body (no reformatting, no added newline
 * unless stdout is a terminal), print anything besides the body (or the
 * request id), the log tail and at most one error line, or retry (invokes
 * are not idempotent; an idempotency key is the caller's to give).
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_usage_invoke(FILE *out)
{
    fputs("Usage: nimbus invoke NAME [options]\n"
          "\n"
          "Invoke function NAME and write its response to stdout exactly as returned.\n"
          "Exits 1 (after printing the error document) if the function failed.\n"
          "With --async the event is queued durably and its request id printed; follow it\n"
          "with 'nimbus events NAME ID'.\n"
          "\n"
          "Options:\n"
          "  --payload JSON|@FILE|-   event: inline JSON, a file, or stdin (default {})\n"
          "  --log                    write the last 4 KB of the execution log to stderr\n"
          "  --qualifier Q            version or alias to invoke\n"
          "  --async                  queue the event (InvocationType Event), print its request id\n"
          "  --idempotency-key K      with --async: the same K within 24 h is one event (the\n"
          "                           first one's request id is printed again)\n"
          "  --dry-run                only check that the call would be allowed (DryRun)\n"
          "  -o json                  one JSON document instead: StatusCode, FunctionError,\n"
          "                           ExecutedVersion, RequestId, LogResult and the result\n"
          "                           as Payload (parsed when it is JSON)\n"
          "  --endpoint URL           Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help               show this help\n",
          out);
}

enum { OPT_PAYLOAD, OPT_LOG, OPT_QUALIFIER, OPT_ASYNC, OPT_DRY_RUN, OPT_IDEM_KEY };
static const cli_opt_t invoke_opts[] = {
    [OPT_PAYLOAD] = {"payload", true}, [OPT_LOG] = {"log", false},
    [OPT_QUALIFIER] = {"qualifier", true}, [OPT_ASYNC] = {"async", false},
    [OPT_DRY_RUN] = {"dry-run", false}, [OPT_IDEM_KEY] = {"idempotency-key", true},
    {NULL, false},
};

typedef struct {
    const char *name;
    const char *payload;     /* as given: JSON text, "@file" or "-"; NULL = "{}" */
    const char *qualifier;
    const char *idempotency_key;
    bool log;
    bool async;
    bool dry_run;
} invoke_args_t;

static int invoke_parse(cli_ctx_t *ctx, int argc, char **argv, invoke_args_t *v, err_t *err)
{
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val;
    for (;;) {
        int opt = cli_args_next(ctx, &a, invoke_opts, &val, err);
        switch (opt) {
        case CLI_ARG_END: goto done;
        case CLI_ARG_ERROR: return -1;
        case CLI_ARG_HELP: return 1;
        case CLI_ARG_POSITIONAL:
            if (v->name) return cli_usage_fail(ctx, err, "unexpected argument '%s'", val);
            v->name = val;
            break;
        case OPT_PAYLOAD: v->payload = val; break;
        case OPT_LOG: v->log = true; break;
        case OPT_QUALIFIER: v->qualifier = val; break;
        case OPT_ASYNC: v->async = true; break;
        case OPT_DRY_RUN: v->dry_run = true; break;
        case OPT_IDEM_KEY: v->idempotency_key = val; break;
        default: return cli_usage_fail(ctx, err, "internal: unhandled option");
        }
    }
done:
    if (!v->name || !v->name[0]) return cli_usage_fail(ctx, err, "missing NAME");
    if (v->async && v->dry_run)
        return cli_usage_fail(ctx, err, "--async and --dry-run exclude each other");
    if (v->idempotency_key && !v->async)
        return cli_usage_fail(ctx, err, "--idempotency-key needs --async");
    if (v->idempotency_key && !cli_header_value_ok(v->idempotency_key, 128))
        return cli_usage_fail(ctx, err, "--idempotency-key must be 1 to 128 printable characters");
    /* Lambda sends no log tail for an event: it has not run yet. */
    if (v->async && v->log) return cli_usage_fail(ctx, err, "--log needs a synchronous invoke, not --async");
    if (v->payload && strcmp(v->payload, "@") == 0)
        return cli_usage_fail(ctx, err, "--payload @FILE needs a file name");
    if (v->qualifier && !v->qualifier[0])
        return cli_usage_fail(ctx, err, "--qualifier needs a value");
    return 0;
}

static int invoke_load_payload(const invoke_args_t *v, buf_t *out, err_t *err)
{
    if (!v->payload) {
        buf_append(out, "{}", 2);
        return 0;
    }
    if (strcmp(v->payload, "-") == 0) return cli_read_file("-", out, err);
    if (v->payload[0] == '@') return cli_read_file(v->payload + 1, out, err);
    buf_append(out, v->payload, strlen(v->payload));
    return 0;
}

static int invoke_write_all(FILE *f, const char *p, size_t n, err_t *err)
{
    if (n && fwrite(p, 1, n, f) != n) return err_sys(err, "write output");
    return 0;
}

int cli_cmd_invoke(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    invoke_args_t v = {0};
    int prc = invoke_parse(ctx, argc, argv, &v, err);
    if (prc != 0) {
        if (prc > 0) cli_usage_invoke(stdout);
        return prc > 0 ? 0 : -1;
    }

    int rc = -1;
    buf_t payload = {0}, path = {0}, idem = {0};
    cli_resp_t resp = {0};
    if (invoke_load_payload(&v, &payload, err) < 0) goto out;

    char *ename = cli_escape(v.name);
    buf_appendf(&path, "/2015-03-31/functions/%s/invocations", ename);
    free(ename);
    if (v.qualifier) {
        char *eq = cli_escape(v.qualifier);
        buf_appendf(&path, "?Qualifier=%s", eq);
        free(eq);
    }

    const char *hdrs[5];
    int nh = 0;
    hdrs[nh++] = v.async     ? "X-Amz-Invocation-Type: Event"
                 : v.dry_run ? "X-Amz-Invocation-Type: DryRun"
                             : "X-Amz-Invocation-Type: RequestResponse";
    hdrs[nh++] = "Content-Type: application/json";
    if (v.log) hdrs[nh++] = "X-Amz-Log-Type: Tail";
    if (v.idempotency_key) {
        buf_appendf(&idem, "X-Nimbus-Idempotency-Key: %s", v.idempotency_key);
        hdrs[nh++] = idem.data;
    }
    hdrs[nh] = NULL;

    cli_req_t req = {.method = "POST", .path = path.data, .headers = hdrs,
                     .body = payload.data, .body_len = payload.len};
    if (cli_http(ctx, &req, &resp, err) < 0) goto out;
    if (cli_resp_check(&resp, err) < 0) goto out;

    if (v.async) {
        /* Only a 202 means the event is durably queued; anything else that
         * looks like success must not pass for it. */
        if (resp.status != 202) {
            err_set(err, ERR_INTERNAL, "the server answered HTTP %ld, not 202, to an asynchronous invoke",
                    resp.status);
            goto out;
        }
        if (!resp.request_id[0]) {
            err_set(err, ERR_INTERNAL, "the server queued the event but sent no x-amzn-RequestId");
            goto out;
        }
        if (cli_json_out(ctx)) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "StatusCode", (double)resp.status);
            cJSON_AddStringToObject(o, "RequestId", resp.request_id);
            cli_print_json(o);
            cJSON_Delete(o);
        } else {
            printf("%s\n", resp.request_id);
        }
        rc = 0;
        goto out;
    }

    if (cli_json_out(ctx)) {
        /* The AWS CLI's invoke answer (StatusCode, FunctionError,
         * ExecutedVersion, LogResult) with the result itself as Payload:
         * parsed when it is JSON, else a string. */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "StatusCode", (double)resp.status);
        if (resp.function_error[0]) cJSON_AddStringToObject(o, "FunctionError", resp.function_error);
        if (resp.executed_version[0]) cJSON_AddStringToObject(o, "ExecutedVersion", resp.executed_version);
        if (resp.request_id[0]) cJSON_AddStringToObject(o, "RequestId", resp.request_id);
        if (v.log && resp.log_result && resp.log_result[0]) cJSON_AddStringToObject(o, "LogResult", resp.log_result);
        cJSON *pl = cJSON_ParseWithLength(resp.body.data, resp.body.len);
        if (!pl) {
            buf_t s = {0};
            buf_append(&s, resp.body.data, resp.body.len);
            buf_append(&s, "", 1);
            pl = cJSON_CreateString(s.data);
            buf_free(&s);
        }
        if (!v.dry_run) cJSON_AddItemToObject(o, "Payload", pl);
        else cJSON_Delete(pl);
        cli_print_json(o);
        cJSON_Delete(o);
        rc = resp.function_error[0] ? 1 : 0;
        goto out;
    }

    if (invoke_write_all(stdout, resp.body.data, resp.body.len, err) < 0) goto out;
    /* A terminal gets a clean prompt; pipes and files get the exact bytes. */
    if (resp.body.len && resp.body.data[resp.body.len - 1] != '\n' && isatty(STDOUT_FILENO))
        putchar('\n');

    if (v.log && resp.log_result && resp.log_result[0]) {
        size_t n = 0;
        err_t derr;
        char *log = util_base64_decode(resp.log_result, strlen(resp.log_result), &n, &derr);
        if (!log) {
            err_set(err, ERR_INTERNAL, "the server sent an X-Amz-Log-Result that is not base64");
            goto out;
        }
        /* Body first, then the log, even when both go to one terminal. */
        fflush(stdout);
        int wrc = invoke_write_all(stderr, log, n, err);
        free(log);
        if (wrc < 0) goto out;
        fflush(stderr);
    }
    rc = resp.function_error[0] ? 1 : 0;
out:
    cli_resp_free(&resp);
    buf_free(&payload);
    buf_free(&path);
    buf_free(&idem);
    return rc;
}
