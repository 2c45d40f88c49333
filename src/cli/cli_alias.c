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
    cli_path_add(p, "/2015-03-31/functions/%s/aliases", name);
    if (alias) cli_path_add(p, "/%s", alias);
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

static void alias_print(cli_ctx_t *ctx, const char *verb, const char *name, const cJSON *ans)
{
    if (ctx->output == CLI_OUTPUT_JSON) {
        cli_print_json(ans);
        return;
    }
    char w[256];
    alias_weights_cell(ans, w, sizeof w);
    printf("%s alias %s:%s -> version %s", verb, name, cli_str(ans, "Name"), cli_str(ans, "FunctionVersion"));
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
    buf_t path = {0};
    alias_path(&path, a->pos[1], create ? NULL : a->pos[2]);
    cJSON *ans = cli_send_json(ctx, create ? "POST" : "PUT", path.data, body, err);
    cJSON_Delete(body);
    buf_free(&path);
    if (!ans) return -1;
    alias_print(ctx, create ? "created" : "updated", a->pos[1], ans);
    cJSON_Delete(ans);
    return 0;
}

static void alias_row(const cJSON *it, char (*cells)[CLI_CELL], const void *arg)
{
    (void)arg;
    snprintf(cells[0], CLI_CELL, "%s", cli_str(it, "Name"));
    snprintf(cells[1], CLI_CELL, "%s", cli_str(it, "FunctionVersion"));
    alias_weights_cell(it, cells[2], CLI_CELL);
    cli_clip(cli_str(it, "Description"), 60, cells[3], CLI_CELL);
}

static int alias_list(cli_ctx_t *ctx, const alias_args_t *a, err_t *err)
{
    if (a->npos < 2) return cli_usage_fail(ctx, err, "missing NAME");
    if (a->npos > 2) return cli_usage_fail(ctx, err, "unexpected argument '%s'", a->pos[2]);
    buf_t path = {0};
    alias_path(&path, a->pos[1], NULL);
    static const char *const head[] = {"ALIAS", "VERSION", "WEIGHTS", "DESCRIPTION"};
    int rc = cli_list_print(ctx, path.data, "Aliases", cli_json_out(ctx), head, 4, alias_row, NULL, err);
    buf_free(&path);
    return rc;
}

static int alias_rm(cli_ctx_t *ctx, const alias_args_t *a, err_t *err)
{
    if (a->npos != 3) return cli_usage_fail(ctx, err, "missing NAME or ALIAS");
    buf_t path = {0};
    alias_path(&path, a->pos[1], a->pos[2]);
    int rc = cli_send_ok(ctx, "DELETE", path.data, err);
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
    static const char *const verbs[] = {"create", "update", "list", "rm", NULL};
    int verb = cli_verb(ctx, a.npos ? a.pos[0] : NULL, verbs, err);
    if (verb < 0) {
        rc = -1;
        goto out;
    }
    bool create = verb == 0, update = verb == 1, list = verb == 2, rm = verb == 3;
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
