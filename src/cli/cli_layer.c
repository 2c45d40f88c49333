/* cli_layer.c — `nimbus layer publish|list|rm`: Lambda layers
 * (PublishLayerVersion, ListLayers, ListLayerVersions, DeleteLayerVersion).
 * `nimbus deploy --layer ARN` puts them on a function.
 *
 * Must never: print an ARN the daemon did not give.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void cli_usage_layer(FILE *out)
{
    fputs("Usage: nimbus layer publish NAME DIR|ZIP [--runtime R]... [--description TEXT]\n"
          "                              [--license TEXT] [--json]\n"
          "       nimbus layer list [NAME] [--json]\n"
          "       nimbus layer rm NAME VERSION\n"
          "\n"
          "Lambda layers: code and libraries functions share, extracted in order at /opt\n"
          "in their instances (python/, nodejs/node_modules/, bin/, lib/ are on the\n"
          "runtimes' search paths). 'publish' makes the next version of layer NAME from a\n"
          "directory (zipped for you) or a .zip and prints its version ARN, for\n"
          "`nimbus deploy --layer ARN`; 'list' lists layers (their latest version), or\n"
          "NAME's versions; 'rm' deletes a version (functions using it keep it).\n"
          "\n"
          "Options:\n"
          "  --runtime R         publish: a compatible runtime (repeatable)\n"
          "  --description TEXT  publish: the version's description\n"
          "  --license TEXT      publish: its license (an SPDX identifier, a URL...)\n"
          "  --json              print the API's JSON (= --output json)\n"
          "  --endpoint URL      Nimbus API (default $" CLI_ENDPOINT_ENV ", else " CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help          show this help\n",
          out);
}

enum { LOPT_RUNTIME, LOPT_DESCRIPTION, LOPT_LICENSE, LOPT_JSON };
static const cli_opt_t layer_opts[] = {
    [LOPT_RUNTIME] = {"runtime", true}, [LOPT_DESCRIPTION] = {"description", true},
    [LOPT_LICENSE] = {"license", true}, [LOPT_JSON] = {"json", false},
    {NULL, false},
};

typedef struct {
    const char *pos[4];
    int npos;
    cJSON *runtimes;          /* array, NULL: none given */
    const char *description, *license;
    bool json;
} layer_args_t;

static int layer_publish(cli_ctx_t *ctx, const layer_args_t *a, err_t *err)
{
    if (a->npos != 3) return cli_usage_fail(ctx, err, "usage: nimbus layer publish NAME DIR|ZIP");
    buf_t zip = {0};
    if (cli_load_package(a->pos[2], &zip, err) < 0) { buf_free(&zip); return -1; }
    char *b64 = util_base64_encode(zip.data, zip.len, NULL);
    buf_free(&zip);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(cJSON_AddObjectToObject(body, "Content"), "ZipFile", cJSON_CreateStringReference(b64));
    if (a->runtimes) cJSON_AddItemToObject(body, "CompatibleRuntimes", cJSON_Duplicate(a->runtimes, 1));
    if (a->description) cJSON_AddStringToObject(body, "Description", a->description);
    if (a->license) cJSON_AddStringToObject(body, "LicenseInfo", a->license);
    buf_t path = {0};
    cli_path_add(&path, "/2018-10-31/layers/%s/versions", a->pos[1]);
    cJSON *ans = cli_send_json(ctx, "POST", path.data, body, err);
    cJSON_Delete(body);
    free(b64);
    buf_free(&path);
    if (!ans) return -1;
    if (a->json) {
        cli_print_json(ans);
    } else {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(ans, "Content");
        printf("published %s (%.0f bytes) sha256 %s\n",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ans, "LayerVersionArn")),
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(content, "CodeSize")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(content, "CodeSha256")));
    }
    cJSON_Delete(ans);
    return 0;
}

static void runtimes_cell(const cJSON *v, char *out, size_t n)
{
    out[0] = '\0';
    size_t k = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(v, "CompatibleRuntimes")) {
        if (!cJSON_IsString(r)) continue;
        int w = snprintf(out + k, n - k, "%s%s", k ? "," : "", r->valuestring);
        if (w < 0 || (size_t)w >= n - k) break;
        k += (size_t)w;
    }
    if (!out[0]) snprintf(out, n, "-");
}

/* arg: the layer's name when listing its versions, NULL for all layers. */
static void layer_row(const cJSON *it, char (*cells)[CLI_CELL], const void *arg)
{
    const char *layer = arg;
    const cJSON *v = layer ? it : cJSON_GetObjectItemCaseSensitive(it, "LatestMatchingVersion");
    const char *name = layer ? layer : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "LayerName"));
    snprintf(cells[0], CLI_CELL, "%s", name ? name : "?");
    snprintf(cells[1], CLI_CELL, "%.0f", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "Version")));
    runtimes_cell(v, cells[2], CLI_CELL);
    const char *arn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "LayerVersionArn"));
    snprintf(cells[3], CLI_CELL, "%s", arn ? arn : "?");
}

static int layer_list(cli_ctx_t *ctx, const layer_args_t *a, err_t *err)
{
    if (a->npos > 2) return cli_usage_fail(ctx, err, "usage: nimbus layer list [NAME]");
    bool versions = a->npos == 2;
    buf_t path = {0};
    if (versions) cli_path_add(&path, "/2018-10-31/layers/%s/versions", a->pos[1]);
    else buf_appendf(&path, "/2018-10-31/layers");
    static const char *const head[] = {"LAYER", "VERSION", "RUNTIMES", "ARN"};
    int rc = cli_list_print(ctx, path.data, versions ? "LayerVersions" : "Layers", a->json, head, 4, layer_row,
                            versions ? a->pos[1] : NULL, err);
    buf_free(&path);
    return rc;
}

static int layer_rm(cli_ctx_t *ctx, const layer_args_t *a, err_t *err)
{
    if (a->npos != 3) return cli_usage_fail(ctx, err, "usage: nimbus layer rm NAME VERSION");
    long v;
    if (cli_parse_long(ctx, "VERSION", a->pos[2], 1, 1000000000, &v, err) < 0) return -1;
    buf_t path = {0};
    cli_path_add(&path, "/2018-10-31/layers/%s/versions", a->pos[1]);
    buf_appendf(&path, "/%ld", v);
    int rc = cli_send_ok(ctx, "DELETE", path.data, err);
    buf_free(&path);
    if (rc == 0 && a->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "LayerName", a->pos[1]);
        cJSON_AddNumberToObject(o, "Version", (double)v);
        cJSON_AddBoolToObject(o, "Deleted", true);
        cli_print_json(o);
        cJSON_Delete(o);
    } else if (rc == 0) {
        printf("deleted %s version %ld\n", a->pos[1], v);
    }
    return rc;
}

int cli_cmd_layer(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    layer_args_t a = {0};
    cli_args_t args;
    cli_args_init(&args, argc, argv);
    const char *val;
    int rc = 0;
    for (;;) {
        int opt = cli_args_next(ctx, &args, layer_opts, &val, err);
        if (opt == CLI_ARG_END) break;
        if (opt == CLI_ARG_ERROR) { rc = -1; goto out; }
        if (opt == CLI_ARG_HELP) { cli_usage_layer(stdout); goto out; }
        switch (opt) {
        case CLI_ARG_POSITIONAL:
            if (a.npos == 4) { rc = cli_usage_fail(ctx, err, "unexpected argument '%s'", val); goto out; }
            a.pos[a.npos++] = val;
            break;
        case LOPT_RUNTIME:
            if (!a.runtimes) a.runtimes = cJSON_CreateArray();
            cJSON_AddItemToArray(a.runtimes, cJSON_CreateString(val));
            break;
        case LOPT_DESCRIPTION: a.description = val; break;
        case LOPT_LICENSE: a.license = val; break;
        case LOPT_JSON: a.json = true; break;
        default: rc = cli_usage_fail(ctx, err, "internal: unhandled option"); goto out;
        }
    }
    a.json = a.json || cli_json_out(ctx);
    static const char *const verbs[] = {"publish", "list", "rm", NULL};
    int verb = cli_verb(ctx, a.npos ? a.pos[0] : NULL, verbs, err);
    if (verb == 0) rc = layer_publish(ctx, &a, err);
    else if (verb == 1) rc = layer_list(ctx, &a, err);
    else if (verb == 2) rc = layer_rm(ctx, &a, err);
    else rc = -1;
out:
    cJSON_Delete(a.runtimes);
    return rc;
}
