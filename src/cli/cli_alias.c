/* cli_alias.c — `nimbus alias create|update|list|rm`: a function's aliases
 * (CreateAlias, UpdateAlias, ListAliases, DeleteAlias), a name for a
 * version, with an optional share of the calls routed to a second one.
 *
 * Must never: change what the caller did not give on an update (the API
 * keeps an alias's weights and description when they are not sent), or
 * judge weights itself: the API's message says what is wrong.
 */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_usage_alias(FILE *out)
{
    fputs("Usage: nimbus alias create NAME ALIAS --version V [--weight V2=W]... [--description TEXT]\n"
          "       nimbus alias update NAME ALIAS [--version V] [--weight V2=W]... [--no-weights]\n"
          "                                      [--description TEXT]\n"
          "       nimbus alias list NAME\n"
          "       nimbus alias rm NAME ALIAS\n"
          "\n"
          "An alias names a version of function NAME (invoke NAME --qualifier ALIAS); with\n"
          "--weight it sends a share W (0.0 to 1.0) of the calls to a second version V2,\n"
          "the rest to --version. 'update' changes only what it is given: the weights stay\n"
          "unless --weight or --no-weights is given.\n"
          "\n"
          "Options:\n"
          "  --version V          the version the alias points at ($LATEST or a number)\n"
          "  --weight V2=W        route the share W of the calls to version V2\n"
          "  --no-weights         update: route every call to --version again\n"
          "  --description TEXT   the alias's description\n"
          "  -o, --output FORMAT  table (the default) or json (the API's documents)\n"
          "  --endpoint URL       Nimbus API (default $" CLI_ENDPOINT_ENV ", else " CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help           show this help\n",
          out);
}

enum { AOPT_VERSION, AOPT_WEIGHT, AOPT_NO_WEIGHTS, AOPT_DESCRIPTION };
static const cli_opt_t alias_opts[] = {
    [AOPT_VERSION] = {"version", true}, [AOPT_WEIGHT] = {"weight", true},
    [AOPT_NO_WEIGHTS] = {"no-weights", false}, [AOPT_DESCRIPTION] = {"description", true},
    {NULL, false},
};

typedef struct {
    const char *pos[3];
    int npos;
    const char *version, *description;
    cJSON *weights;           /* AdditionalVersionWeights, NULL: none given */
    bool no_weights;
} alias_args_t;

static int alias_add_weight(cli_ctx_t *ctx, alias_args_t *a, const char *kv, err_t *err)
{
    const char *eq = strchr(kv, '=');
    char *end = NULL;
    errno = 0;
    double w = eq ? strtod(eq + 1, &end) : 0;
    if (!eq || eq == kv || !eq[1] || *end || errno || !isfinite(w))
        return cli_usage_fail(ctx, err, "--weight expects VERSION=WEIGHT (e.g. 2=0.1), not '%s'", kv);
    char *version = strndup(kv, (size_t)(eq - kv));
    if (!version) abort();
    if (!a->weights) a->weights = cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(a->weights, version);
    cJSON_AddNumberToObject(a->weights, version, w);
    free(version);
    return 0;
}

static void alias_path(buf_t *p, const char *name, const char *alias)
{
    char *en = cli_escape(name);
    buf_appendf(p, "/2015-03-31/functions/%s/aliases", en);
    free(en);
    if (alias) {
        char *ea = cli_escape(alias);
        buf_appendf(p, "/%s", ea);
        free(ea);
    }
}

/* "2=0.1" for the alias's RoutingConfig, "-" when it has none. */
static void alias_weights_cell(const cJSON *alias, char *out, size_t cap)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(alias, "RoutingConfig"),
                                                      "AdditionalVersionWeights");
    size_t k = 0;
    out[0] = '\0';
    const cJSON *it;
    cJSON_ArrayForEach(it, w) {
        int n = snprintf(out + k, cap - k, "%s%s=%g", k ? "," : "", it->string, cJSON_GetNumberValue(it));
        if (n < 0 || (size_t)n >= cap - k) break;
        k += (size_t)n;
    }
    if (!out[0]) snprintf(out, cap, "-");
}

static const char *str_of(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s ? s : "";
}

static void alias_print(cli_ctx_t *ctx, const char *verb, const char *name, const cJSON *ans)
{
    if (ctx->output == CLI_OUTPUT_JSON) {
        cli_print_json(ans);
        return;
    }
    char w[256];
    alias_weights_cell(ans, w, sizeof w);
    printf("%s alias %s:%s -> version %s", verb, name, str_of(ans, "Name"), str_of(ans, "FunctionVersion"));
    if (strcmp(w, "-") != 0) printf(" (weights %s)", w);
    putchar('\n');
}

static int alias_put(cli_ctx_t *ctx, const alias_args_t *a, bool create, err_t *err)
{
    if (a->npos != 3) return cli_usage_fail(ctx, err, "missing NAME or ALIAS");
    if (create && !a->version) return cli_usage_fail(ctx, err, "missing --version");
    if (create && a->no_weights) return cli_usage_fail(ctx, err, "--no-weights is for update");
    if (a->no_weights && a->weights) return cli_usage_fail(ctx, err, "--weight and --no-weights contradict each other");
    cJSON *body = cJSON_CreateObject();
    if (create) cJSON_AddStringToObject(body, "Name", a->pos[2]);
    if (a->version) cJSON_AddStringToObject(body, "FunctionVersion", a->version);
    if (a->description) cJSON_AddStringToObject(body, "Description", a->description);
    if (a->weights || a->no_weights) {
        /* An empty AdditionalVersionWeights is how the API drops them. */
        cJSON *rc = cJSON_AddObjectToObject(body, "RoutingConfig");
        cJSON_AddItemToObject(rc, "AdditionalVersionWeights",
                              a->weights ? cJSON_Duplicate(a->weights, 1) : cJSON_CreateObject());
    }
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) abort();
    buf_t path = {0};
    alias_path(&path, a->pos[1], create ? NULL : a->pos[2]);
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    cli_req_t req = {.method = create ? "POST" : "PUT", .path = path.data, .headers = hdrs,
                     .body = text, .body_len = strlen(text)};
    cJSON *ans = cli_request_json(ctx, &req, err);
    free(text);
    buf_free(&path);
    if (!ans) return -1;
    alias_print(ctx, create ? "created" : "updated", a->pos[1], ans);
    cJSON_Delete(ans);
    return 0;
}

static int alias_list(cli_ctx_t *ctx, const alias_args_t *a, err_t *err)
{
    if (a->npos < 2) return cli_usage_fail(ctx, err, "missing NAME");
    if (a->npos > 2) return cli_usage_fail(ctx, err, "unexpected argument '%s'", a->pos[2]);
    buf_t path = {0};
    alias_path(&path, a->pos[1], NULL);
    cJSON *all = cJSON_CreateArray();
    int rc = cli_fetch_pages(ctx, path.data, "Aliases", &CLI_PAGING_LAMBDA, 0, all, err);
    buf_free(&path);
    if (rc < 0) {
        cJSON_Delete(all);
        return -1;
    }
    if (ctx->output == CLI_OUTPUT_JSON) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "Aliases", all);
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
    const cJSON *it;
    cJSON_ArrayForEach(it, all) {
        snprintf(cells[i][0], W, "%s", str_of(it, "Name"));
        snprintf(cells[i][1], W, "%s", str_of(it, "FunctionVersion"));
        alias_weights_cell(it, cells[i][2], W);
        cli_clip(str_of(it, "Description"), 60, cells[i][3], W);
        for (int c = 0; c < NCOL; c++) ptrs[i * NCOL + (size_t)c] = cells[i][c];
        i++;
    }
    static const char *const head[NCOL] = {"ALIAS", "VERSION", "WEIGHTS", "DESCRIPTION"};
    cli_table_print(stdout, head, NCOL, ptrs, n);
    free(cells);
    free(ptrs);
    cJSON_Delete(all);
    return 0;
}

static int alias_rm(cli_ctx_t *ctx, const alias_args_t *a, err_t *err)
{
    if (a->npos != 3) return cli_usage_fail(ctx, err, "missing NAME or ALIAS");
    buf_t path = {0};
    alias_path(&path, a->pos[1], a->pos[2]);
    cli_req_t req = {.method = "DELETE", .path = path.data};
    cli_resp_t resp;
    int rc = cli_http(ctx, &req, &resp, err);
    if (rc == 0) rc = cli_resp_check(&resp, err);
    cli_resp_free(&resp);
    buf_free(&path);
    if (rc == 0 && ctx->output == CLI_OUTPUT_TABLE) printf("deleted alias %s:%s\n", a->pos[1], a->pos[2]);
    return rc;
}

int cli_cmd_alias(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    alias_args_t a = {0};
    cli_args_t args;
    cli_args_init(&args, argc, argv);
    const char *val;
    int rc = 0;
    for (;;) {
        int opt = cli_args_next(ctx, &args, alias_opts, &val, err);
        if (opt == CLI_ARG_END) break;
        if (opt == CLI_ARG_ERROR) { rc = -1; goto out; }
        if (opt == CLI_ARG_HELP) { cli_usage_alias(stdout); goto out; }
        switch (opt) {
        case CLI_ARG_POSITIONAL:
            if (a.npos == 3) { rc = cli_usage_fail(ctx, err, "unexpected argument '%s'", val); goto out; }
            a.pos[a.npos++] = val;
            break;
        case AOPT_VERSION: a.version = val; break;
        case AOPT_WEIGHT:
            if (alias_add_weight(ctx, &a, val, err) < 0) { rc = -1; goto out; }
            break;
        case AOPT_NO_WEIGHTS: a.no_weights = true; break;
        case AOPT_DESCRIPTION: a.description = val; break;
        default: rc = cli_usage_fail(ctx, err, "internal: unhandled option"); goto out;
        }
    }
    const char *sub = a.npos ? a.pos[0] : "";
    bool create = strcmp(sub, "create") == 0, update = strcmp(sub, "update") == 0;
    bool list = strcmp(sub, "list") == 0, rm = strcmp(sub, "rm") == 0;
    if (!create && !update && !list && !rm) {
        rc = cli_usage_fail(ctx, err, "expected create, update, list or rm%s%s", sub[0] ? ", not " : "", sub);
        goto out;
    }
    if ((list || rm) && (a.version || a.weights || a.no_weights || a.description)) {
        rc = cli_usage_fail(ctx, err, "--version, --weight, --no-weights and --description are for create and update");
        goto out;
    }
    if (create || update) rc = alias_put(ctx, &a, create, err);
    else if (list) rc = alias_list(ctx, &a, err);
    else rc = alias_rm(ctx, &a, err);
out:
    cJSON_Delete(a.weights);
    return rc;
}
