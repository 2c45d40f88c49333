/* cli_version.c — `nimbus version publish|list NAME`: a function's published
 * versions (PublishVersion, ListVersionsByFunction), the numbers aliases and
 * provisioned concurrency point at.
 *
 * Must never: print a version number the daemon did not give.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void cli_usage_version(FILE *out)
{
    fputs("Usage: nimbus version publish NAME [--description TEXT]\n"
          "       nimbus version list NAME\n"
          "\n"
          "A version is a frozen copy of function NAME's code and configuration ($LATEST)\n"
          "with a number that never changes; aliases and provisioned concurrency point at\n"
          "versions. 'publish' makes the next one (or answers the last one when nothing\n"
          "changed since) and prints its number; 'list' shows $LATEST and every version.\n"
          "\n"
          "Options:\n"
          "  --description TEXT   publish: the version's description\n"
          "  -o, --output FORMAT  table (the default) or json (the API's documents)\n"
          "  --endpoint URL       Nimbus API (default $" CLI_ENDPOINT_ENV ", else " CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help           show this help\n",
          out);
}

static int version_publish(cli_ctx_t *ctx, const char *name, const char *description, err_t *err)
{
    cJSON *body = cJSON_CreateObject();
    if (description) cJSON_AddStringToObject(body, "Description", description);
    buf_t path = {0};
    cli_path_add(&path, "/2015-03-31/functions/%s/versions", name);
    cJSON *ans = cli_send_json(ctx, "POST", path.data, body, err);
    cJSON_Delete(body);
    buf_free(&path);
    if (!ans) return -1;
    if (ctx->output == CLI_OUTPUT_JSON)
        cli_print_json(ans);
    else
        printf("published %s version %s sha256 %s\n", name, cli_str(ans, "Version"),
               cli_str(ans, "CodeSha256"));
    cJSON_Delete(ans);
    return 0;
}

static void version_row(const cJSON *v, char (*cells)[CLI_CELL], const void *arg)
{
    (void)arg;
    snprintf(cells[0], CLI_CELL, "%s", cli_str(v, "Version"));
    snprintf(cells[1], CLI_CELL, "%s", cli_str(v, "LastModified"));
    snprintf(cells[2], CLI_CELL, "%.12s", cli_str(v, "CodeSha256"));
    cli_clip(cli_str(v, "Description"), 60, cells[3], CLI_CELL);
}

static int version_list(cli_ctx_t *ctx, const char *name, err_t *err)
{
    buf_t path = {0};
    cli_path_add(&path, "/2015-03-31/functions/%s/versions", name);
    static const char *const head[] = {"VERSION", "LAST MODIFIED", "SHA256", "DESCRIPTION"};
    int rc = cli_list_print(ctx, path.data, "Versions", cli_json_out(ctx), head, 4, version_row, NULL, err);
    buf_free(&path);
    return rc;
}

int cli_cmd_version(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    static const cli_opt_t opts[] = {{"description", true}, {NULL, false}};
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val, *pos[2] = {NULL, NULL}, *description = NULL;
    int npos = 0;
    for (;;) {
        int opt = cli_args_next(ctx, &a, opts, &val, err);
        if (opt == CLI_ARG_END) break;
        if (opt == CLI_ARG_ERROR) return -1;
        if (opt == CLI_ARG_HELP) {
            cli_usage_version(stdout);
            return 0;
        }
        if (opt == CLI_ARG_POSITIONAL) {
            if (npos == 2) return cli_usage_fail(ctx, err, "unexpected argument '%s'", val);
            pos[npos++] = val;
        } else {
            description = val;
        }
    }
    static const char *const verbs[] = {"publish", "list", NULL};
    int verb = cli_verb(ctx, pos[0], verbs, err);
    if (verb < 0) return -1;
    bool publish = verb == 0, list = verb == 1;
    if (!pos[1] || !pos[1][0]) return cli_usage_fail(ctx, err, "missing NAME");
    if (list && description) return cli_usage_fail(ctx, err, "--description is for publish");
    return publish ? version_publish(ctx, pos[1], description, err) : version_list(ctx, pos[1], err);
}
