/* cli_url.c — `nimbus url create|get|delete NAME`: a function's URL
 * (Lambda's FunctionUrlConfig), and what `nimbus deploy --url` uses.
 *
 * Must never: create a second URL when asked for the one there is, or
 * print a URL the daemon did not give.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void cli_usage_url(FILE *out)
{
    fputs("Usage: nimbus url create NAME [--qualifier ALIAS] [--invoke-mode MODE]\n"
          "                               [--cors-origin ORIGIN]... [--json]\n"
          "       nimbus url get NAME [--qualifier ALIAS] [--json]\n"
          "       nimbus url delete NAME [--qualifier ALIAS]\n"
          "\n"
          "A function URL: an HTTP endpoint that calls function NAME (its $LATEST, or the\n"
          "alias --qualifier names) with each request, in Lambda's payload format 2.0,\n"
          "for plain curl or a browser. 'create' and 'get' print the URL; 'delete' removes it.\n"
          "\n"
          "Options:\n"
          "  --qualifier ALIAS   the alias the URL calls (default: $LATEST)\n"
          "  --invoke-mode MODE  create: BUFFERED (default) or RESPONSE_STREAM\n"
          "  --cors-origin O     create: allow browser calls from origin O (repeatable; * for any)\n"
          "  --json              print the API's JSON instead of the URL (= --output json)\n"
          "  --endpoint URL      Nimbus API (default $" CLI_ENDPOINT_ENV ", else " CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help          show this help\n",
          out);
}

enum { UOPT_QUALIFIER, UOPT_MODE, UOPT_ORIGIN, UOPT_JSON };
static const cli_opt_t url_opts[] = {
    [UOPT_QUALIFIER] = {"qualifier", true}, [UOPT_MODE] = {"invoke-mode", true},
    [UOPT_ORIGIN] = {"cors-origin", true}, [UOPT_JSON] = {"json", false},
    {NULL, false},
};

static void url_path(buf_t *p, const char *name, const char *qualifier)
{
    cli_path_add(p, "/2021-10-31/functions/%s/url", name);
    if (qualifier) cli_path_add(p, "?Qualifier=%s", qualifier);
}

static int print_url(const cJSON *j, bool json, err_t *err)
{
    if (json) {
        cli_print_json(j);
        return 0;
    }
    const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "FunctionUrl"));
    if (!u) return err_set(err, ERR_INTERNAL, "the server's answer has no FunctionUrl");
    printf("%s\n", u);
    return 0;
}

/* POST the configuration; the answer document (caller deletes) or NULL. */
static cJSON *create(cli_ctx_t *ctx, const char *name, const char *qualifier, const char *mode, cJSON *origins,
                     err_t *err)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "AuthType", "NONE");
    if (mode) cJSON_AddStringToObject(body, "InvokeMode", mode);
    if (origins && cJSON_GetArraySize(origins) > 0) {
        cJSON *cors = cJSON_AddObjectToObject(body, "Cors");
        cJSON_AddItemToObject(cors, "AllowOrigins", cJSON_Duplicate(origins, true));
    }
    buf_t p = {0};
    url_path(&p, name, qualifier);
    cJSON *j = cli_send_json(ctx, "POST", p.data, body, err);
    buf_free(&p);
    cJSON_Delete(body);
    return j;
}

char *cli_url_ensure_get(cli_ctx_t *ctx, const char *name, err_t *err)
{
    buf_t p = {0};
    url_path(&p, name, NULL);
    cli_req_t req = {.method = "GET", .path = p.data};
    cli_resp_t resp = {0};
    int rc = cli_http(ctx, &req, &resp, err);
    cJSON *j = NULL;
    if (rc == 0 && resp.status == 404) j = create(ctx, name, NULL, NULL, NULL, err);
    else if (rc == 0 && cli_resp_check(&resp, err) == 0) j = cli_resp_json(&resp, err);
    (void)rc;
    const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "FunctionUrl"));
    if (j && !u) err_set(err, ERR_INTERNAL, "the server's answer has no FunctionUrl");
    char *url = u ? strdup(u) : NULL;
    if (u && !url) abort();
    cJSON_Delete(j);
    cli_resp_free(&resp);
    buf_free(&p);
    return url;
}

int cli_url_ensure(cli_ctx_t *ctx, const char *name, err_t *err)
{
    char *u = cli_url_ensure_get(ctx, name, err);
    if (!u) return -1;
    printf("url: %s\n", u);
    free(u);
    return 0;
}

int cli_cmd_url(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val, *verb = NULL, *name = NULL, *qualifier = NULL, *mode = NULL;
    bool json = false;
    cJSON *origins = cJSON_CreateArray();
    int rc = -1;
    for (;;) {
        int opt = cli_args_next(ctx, &a, url_opts, &val, err);
        if (opt == CLI_ARG_END) break;
        switch (opt) {
        case CLI_ARG_ERROR: goto out;
        case CLI_ARG_HELP: cli_usage_url(stdout); rc = 0; goto out;
        case CLI_ARG_POSITIONAL:
            if (!verb) verb = val;
            else if (!name) name = val;
            else { cli_usage_fail(ctx, err, "unexpected argument '%s'", val); goto out; }
            break;
        case UOPT_QUALIFIER: qualifier = val; break;
        case UOPT_MODE:
            if (strcmp(val, "BUFFERED") != 0 && strcmp(val, "RESPONSE_STREAM") != 0) {
                cli_usage_fail(ctx, err, "--invoke-mode is BUFFERED or RESPONSE_STREAM, not '%s'", val);
                goto out;
            }
            mode = val;
            break;
        case UOPT_ORIGIN: cJSON_AddItemToArray(origins, cJSON_CreateString(val)); break;
        case UOPT_JSON: json = true; ctx->output = CLI_OUTPUT_JSON; break;
        default: cli_usage_fail(ctx, err, "internal: unhandled option"); goto out;
        }
    }
    static const char *const verbs[] = {"create", "get", "delete", NULL};
    int v = cli_action(ctx, verb, verbs, err);
    if (v < 0) goto out;
    bool is_create = v == 0, is_get = v == 1, is_delete = v == 2;
    if (!name || !name[0]) { cli_usage_fail(ctx, err, "missing NAME"); goto out; }
    if (!is_create && (mode || cJSON_GetArraySize(origins) > 0)) {
        cli_usage_fail(ctx, err, "--invoke-mode and --cors-origin are for create");
        goto out;
    }
    if (is_delete && json) { cli_usage_fail(ctx, err, "--json is for create and get"); goto out; }
    cJSON *j = NULL;
    if (is_create) {
        j = create(ctx, name, qualifier, mode, origins, err);
    } else {
        buf_t p = {0};
        url_path(&p, name, qualifier);
        if (is_get) j = cli_send_json(ctx, "GET", p.data, NULL, err);
        else if (cli_send_ok(ctx, "DELETE", p.data, err) == 0) rc = 0;
        buf_free(&p);
    }
    if (j) rc = print_url(j, cli_json_out(ctx), err);
    cJSON_Delete(j);
out:
    cJSON_Delete(origins);
    return rc;
}
