/* cli_concurrency.c — `nimbus concurrency set|rm` (a function's reserved
 * concurrency: PutFunctionConcurrency, DeleteFunctionConcurrency) and
 * `nimbus provisioned set|rm|list` (instances kept ready for a version or
 * alias: the ProvisionedConcurrencyConfig operations).
 *
 * Must never: judge a number against limits only the server knows (the
 * account's concurrency, --max-instances): the API's message says them.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void cli_usage_concurrency(FILE *out)
{
    fputs("Usage: nimbus concurrency set NAME N\n"
          "       nimbus concurrency rm NAME\n"
          "\n"
          "Reserved concurrency: function NAME may run at most N calls at once, and those N\n"
          "are kept for it out of the account's concurrency (0 stops every call: a way to\n"
          "switch a function off). 'rm' gives it back to the shared pool.\n"
          "\n"
          "Options:\n"
          "  -o, --output FORMAT  table (the default) or json (the API's document)\n"
          "  --endpoint URL       Nimbus API (default $" CLI_ENDPOINT_ENV ", else " CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help           show this help\n",
          out);
}

void cli_usage_provisioned(FILE *out)
{
    fputs("Usage: nimbus provisioned set NAME --qualifier Q N\n"
          "       nimbus provisioned rm NAME --qualifier Q\n"
          "       nimbus provisioned list NAME\n"
          "\n"
          "Provisioned concurrency: N instances of a published version (or of the version\n"
          "an alias names) are started ahead of any call and kept ready, so calls to it\n"
          "meet no cold start. 'set' answers at once; 'list' shows READY when they are up.\n"
          "\n"
          "Options:\n"
          "  --qualifier Q        the version number or alias (not $LATEST)\n"
          "  -o, --output FORMAT  table (the default) or json (the API's documents)\n"
          "  --endpoint URL       Nimbus API (default $" CLI_ENDPOINT_ENV ", else " CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help           show this help\n",
          out);
}

/* One request with an optional JSON body (consumed); for a 2xx answer with
 * a body, its JSON in *out (NULL for 204). */
static int conc_call(cli_ctx_t *ctx, const char *method, const char *path, cJSON *body, cJSON **out, err_t *err)
{
    *out = NULL;
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (body && !text) abort();
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    cli_req_t req = {.method = method, .path = path, .headers = text ? hdrs : NULL,
                     .body = text, .body_len = text ? strlen(text) : 0};
    cli_resp_t resp;
    int rc = cli_http(ctx, &req, &resp, err);
    if (rc == 0) rc = cli_resp_check(&resp, err);
    if (rc == 0 && resp.body.len > 0) {
        *out = cli_resp_json(&resp, err);
        if (!*out) rc = -1;
    }
    cli_resp_free(&resp);
    free(text);
    return rc;
}

typedef struct {
    const char *pos[4];
    int npos;
    const char *qualifier;
} conc_args_t;

/* The common parse: positionals, --qualifier when `qualifier_ok`.
 * 1 for --help, 0 parsed, -1 usage error. */
static int conc_parse(cli_ctx_t *ctx, int argc, char **argv, bool qualifier_ok, conc_args_t *c, err_t *err)
{
    static const cli_opt_t with_q[] = {{"qualifier", true}, {NULL, false}};
    static const cli_opt_t none[] = {{NULL, false}};
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val;
    for (;;) {
        int opt = cli_args_next(ctx, &a, qualifier_ok ? with_q : none, &val, err);
        if (opt == CLI_ARG_END) return 0;
        if (opt == CLI_ARG_ERROR) return -1;
        if (opt == CLI_ARG_HELP) return 1;
        if (opt == CLI_ARG_POSITIONAL) {
            if (c->npos == 4) return cli_usage_fail(ctx, err, "unexpected argument '%s'", val);
            c->pos[c->npos++] = val;
        } else {
            c->qualifier = val;
        }
    }
}

/* pos[0] is the verb, pos[1] NAME, then `extra` more positionals. */
static int conc_want(cli_ctx_t *ctx, const conc_args_t *c, int extra, const char *what, err_t *err)
{
    if (c->npos < 2 || !c->pos[1][0]) return cli_usage_fail(ctx, err, "missing NAME");
    if (c->npos < 2 + extra) return cli_usage_fail(ctx, err, "missing %s", what);
    if (c->npos > 2 + extra) return cli_usage_fail(ctx, err, "unexpected argument '%s'", c->pos[2 + extra]);
    return 0;
}

int cli_cmd_concurrency(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    conc_args_t c = {0};
    int prc = conc_parse(ctx, argc, argv, false, &c, err);
    if (prc > 0) cli_usage_concurrency(stdout);
    if (prc != 0) return prc > 0 ? 0 : -1;
    static const char *const verbs[] = {"set", "rm", NULL};
    int verb = cli_verb(ctx, c.npos ? c.pos[0] : NULL, verbs, err);
    if (verb < 0) return -1;
    bool set = verb == 0;
    if (conc_want(ctx, &c, set ? 1 : 0, "N", err) < 0) return -1;
    long n = 0;
    if (set && cli_parse_long(ctx, "N", c.pos[2], 0, 1000000000, &n, err) < 0) return -1;

    buf_t path = {0};
    cli_path_add(&path, "/2017-10-31/functions/%s/concurrency", c.pos[1]);
    cJSON *body = NULL, *ans = NULL;
    if (set) {
        body = cJSON_CreateObject();
        cJSON_AddNumberToObject(body, "ReservedConcurrentExecutions", (double)n);
    }
    int rc = conc_call(ctx, set ? "PUT" : "DELETE", path.data, body, &ans, err);
    buf_free(&path);
    if (rc == 0 && ctx->output == CLI_OUTPUT_JSON && ans) {
        cli_print_json(ans);
    } else if (rc == 0 && ctx->output == CLI_OUTPUT_TABLE) {
        if (set)
            printf("%s: reserved concurrency %.0f\n", c.pos[1],
                   cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ans, "ReservedConcurrentExecutions")));
        else
            printf("%s: no reserved concurrency\n", c.pos[1]);
    }
    cJSON_Delete(ans);
    return rc;
}

/* The qualifier of a ProvisionedConcurrencyConfig's FunctionArn
 * ("arn:...:function:NAME:Q"): what comes after the last ':'. */
static const char *prov_qualifier(const cJSON *cfg)
{
    const char *arn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "FunctionArn"));
    const char *colon = arn ? strrchr(arn, ':') : NULL;
    return colon ? colon + 1 : "?";
}

static double num_of(const cJSON *o, const char *key)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void prov_row(const cJSON *it, char (*cells)[CLI_CELL], const void *arg)
{
    (void)arg;
    snprintf(cells[0], CLI_CELL, "%s", prov_qualifier(it));
    snprintf(cells[1], CLI_CELL, "%.0f", num_of(it, "RequestedProvisionedConcurrentExecutions"));
    snprintf(cells[2], CLI_CELL, "%.0f", num_of(it, "AllocatedProvisionedConcurrentExecutions"));
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "Status"));
    snprintf(cells[3], CLI_CELL, "%s", st ? st : "?");
}

static int prov_list(cli_ctx_t *ctx, const char *name, err_t *err)
{
    buf_t path = {0};
    cli_path_add(&path, "/2019-09-30/functions/%s/provisioned-concurrency?List=ALL", name);
    static const char *const head[] = {"QUALIFIER", "REQUESTED", "ALLOCATED", "STATUS"};
    int rc = cli_list_print(ctx, path.data, "ProvisionedConcurrencyConfigs", cli_json_out(ctx), head, 4, prov_row,
                            NULL, err);
    buf_free(&path);
    return rc;
}

int cli_cmd_provisioned(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    conc_args_t c = {0};
    int prc = conc_parse(ctx, argc, argv, true, &c, err);
    if (prc > 0) cli_usage_provisioned(stdout);
    if (prc != 0) return prc > 0 ? 0 : -1;
    static const char *const verbs[] = {"set", "rm", "list", NULL};
    int verb = cli_verb(ctx, c.npos ? c.pos[0] : NULL, verbs, err);
    if (verb < 0) return -1;
    bool set = verb == 0, list = verb == 2;
    if (conc_want(ctx, &c, set ? 1 : 0, "N", err) < 0) return -1;
    if (list) {
        if (c.qualifier) return cli_usage_fail(ctx, err, "--qualifier is for set and rm");
        return prov_list(ctx, c.pos[1], err);
    }
    if (!c.qualifier || !c.qualifier[0]) return cli_usage_fail(ctx, err, "missing --qualifier");
    long n = 0;
    if (set && cli_parse_long(ctx, "N", c.pos[2], 1, 1000000000, &n, err) < 0) return -1;

    buf_t path = {0};
    cli_path_add(&path, "/2019-09-30/functions/%s/provisioned-concurrency", c.pos[1]);
    cli_path_add(&path, "?Qualifier=%s", c.qualifier);
    cJSON *body = NULL, *ans = NULL;
    if (set) {
        body = cJSON_CreateObject();
        cJSON_AddNumberToObject(body, "ProvisionedConcurrentExecutions", (double)n);
    }
    int rc = conc_call(ctx, set ? "PUT" : "DELETE", path.data, body, &ans, err);
    buf_free(&path);
    if (rc == 0 && ctx->output == CLI_OUTPUT_JSON && ans) {
        cli_print_json(ans);
    } else if (rc == 0 && ctx->output == CLI_OUTPUT_TABLE) {
        if (set) {
            const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ans, "Status"));
            printf("%s:%s: provisioned concurrency %.0f (%s)\n", c.pos[1], c.qualifier,
                   num_of(ans, "RequestedProvisionedConcurrentExecutions"), st ? st : "?");
        } else {
            printf("%s:%s: no provisioned concurrency\n", c.pos[1], c.qualifier);
        }
    }
    cJSON_Delete(ans);
    return rc;
}
