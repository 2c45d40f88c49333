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

static const char *str_of(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s ? s : "";
}

static int version_publish(cli_ctx_t *ctx, const char *name, const char *description, err_t *err)
{
    cJSON *body = cJSON_CreateObject();
    if (description) cJSON_AddStringToObject(body, "Description", description);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) abort();
    char *en = cli_escape(name);
    buf_t path = {0};
    buf_appendf(&path, "/2015-03-31/functions/%s/versions", en);
    free(en);
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    cli_req_t req = {.method = "POST", .path = path.data, .headers = hdrs, .body = text, .body_len = strlen(text)};
    cJSON *ans = cli_request_json(ctx, &req, err);
    free(text);
    buf_free(&path);
    if (!ans) return -1;
    if (ctx->output == CLI_OUTPUT_JSON)
        cli_print_json(ans);
    else
        printf("published %s version %s sha256 %s\n", name, str_of(ans, "Version"), str_of(ans, "CodeSha256"));
    cJSON_Delete(ans);
    return 0;
}

static int version_list(cli_ctx_t *ctx, const char *name, err_t *err)
{
    char *en = cli_escape(name);
    buf_t path = {0};
    buf_appendf(&path, "/2015-03-31/functions/%s/versions", en);
    free(en);
    cJSON *all = cJSON_CreateArray();
    int rc = cli_fetch_pages(ctx, path.data, "Versions", &CLI_PAGING_LAMBDA, 0, all, err);
    buf_free(&path);
    if (rc < 0) {
        cJSON_Delete(all);
        return -1;
    }
    if (ctx->output == CLI_OUTPUT_JSON) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "Versions", all);
        cli_print_json(o);
        cJSON_Delete(o);
        return 0;
    }
    enum { NCOL = 4, W = 256 };
    size_t n = (size_t)cJSON_GetArraySize(all);
    char (*cells)[NCOL][W] = calloc(n ? n : 1, sizeof *cells);
    const char **ptrs = calloc(n ? n * NCOL : 1, sizeof *ptrs);
    if (!cells || !ptrs) abort();
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, all) {
        snprintf(cells[i][0], W, "%s", str_of(v, "Version"));
        snprintf(cells[i][1], W, "%s", str_of(v, "LastModified"));
        snprintf(cells[i][2], W, "%.12s", str_of(v, "CodeSha256"));
        cli_clip(str_of(v, "Description"), 60, cells[i][3], W);
        for (int c = 0; c < NCOL; c++) ptrs[i * NCOL + (size_t)c] = cells[i][c];
        i++;
    }
    static const char *const head[NCOL] = {"VERSION", "LAST MODIFIED", "SHA256", "DESCRIPTION"};
    cli_table_print(stdout, head, NCOL, ptrs, n);
    free(cells);
    free(ptrs);
    cJSON_Delete(all);
    return 0;
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
    const char *sub = pos[0] ? pos[0] : "";
    bool publish = strcmp(sub, "publish") == 0, list = strcmp(sub, "list") == 0;
    if (!publish && !list)
        return cli_usage_fail(ctx, err, "expected publish or list%s%s", sub[0] ? ", not " : "", sub);
    if (!pos[1] || !pos[1][0]) return cli_usage_fail(ctx, err, "missing NAME");
    if (list && description) return cli_usage_fail(ctx, err, "--description is for publish");
    return publish ? version_publish(ctx, pos[1], description, err) : version_list(ctx, pos[1], err);
}
