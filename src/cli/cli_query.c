/* cli_query.c — `nimbus list`, `nimbus get`, `nimbus delete`: the read and
 * delete side of the control plane, each one request (list: one per page).
 *
 * Must never: hide a server error behind partial output (list prints only
 * after every page arrived).
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void cli_usage_list(FILE *out)
{
    fputs("Usage: nimbus list [--json]\n"
          "\n"
          "List all functions: NAME RUNTIME MEMORY TIMEOUT LAST-MODIFIED.\n"
          "\n"
          "Options:\n"
          "  --json           print the FunctionConfiguration array as JSON instead\n"
          "                   (= --output json)\n"
          "  --endpoint URL   Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help       show this help\n",
          out);
}

void cli_usage_get(FILE *out)
{
    fputs("Usage: nimbus get NAME\n"
          "\n"
          "Print function NAME as JSON (GetFunction: Configuration, Code, ...).\n"
          "\n"
          "Options:\n"
          "  --endpoint URL   Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help       show this help\n",
          out);
}

void cli_usage_delete(FILE *out)
{
    fputs("Usage: nimbus delete NAME\n"
          "\n"
          "Delete function NAME with all its versions and aliases.\n"
          "\n"
          "Options:\n"
          "  --endpoint URL   Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help       show this help\n",
          out);
}

/* Parse a command that takes exactly one NAME and, optionally, flags from
 * `opts` (reported through *flags as a bit per option index).
 * Returns 1 for --help, 0 when parsed, -1 on a usage error. */
static int query_parse(cli_ctx_t *ctx, int argc, char **argv, const cli_opt_t *opts,
                       bool want_name, const char **name, unsigned *flags, err_t *err)
{
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val;
    for (;;) {
        int opt = cli_args_next(ctx, &a, opts, &val, err);
        if (opt == CLI_ARG_END) break;
        if (opt == CLI_ARG_ERROR) return -1;
        if (opt == CLI_ARG_HELP) return 1;
        if (opt == CLI_ARG_POSITIONAL) {
            if (!want_name || *name) return cli_usage_fail(ctx, err, "unexpected argument '%s'", val);
            *name = val;
        } else {
            *flags |= 1u << opt;
        }
    }
    if (want_name && (!*name || !(*name)[0])) return cli_usage_fail(ctx, err, "missing NAME");
    return 0;
}

/* ---- list -------------------------------------------------------------- */

static const char *query_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

static void query_num(const cJSON *o, const char *key, const char *unit, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(v)) snprintf(out, cap, "%ld %s", (long)v->valuedouble, unit);
    else snprintf(out, cap, "-");
}

static void query_print_table(const cJSON *fns)
{
    enum { NCOL = 5 };
    static const char *const head[NCOL] = {"NAME", "RUNTIME", "MEMORY", "TIMEOUT", "LAST-MODIFIED"};
    int n = cJSON_GetArraySize(fns);
    size_t width[NCOL];
    for (int c = 0; c < NCOL; c++) width[c] = strlen(head[c]);

    /* Two passes: widths first, so the columns line up. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            printf("%-*s  %-*s  %-*s  %-*s  %s\n", (int)width[0], head[0], (int)width[1],
                   head[1], (int)width[2], head[2], (int)width[3], head[3], head[4]);
        for (int i = 0; i < n; i++) {
            const cJSON *f = cJSON_GetArrayItem(fns, i);
            char mem[32], tmo[32];
            query_num(f, "MemorySize", "MB", mem, sizeof mem);
            query_num(f, "Timeout", "s", tmo, sizeof tmo);
            const char *col[NCOL] = {query_str(f, "FunctionName"), query_str(f, "Runtime"), mem,
                                     tmo, query_str(f, "LastModified")};
            if (pass == 0) {
                for (int c = 0; c < NCOL; c++)
                    if (strlen(col[c]) > width[c]) width[c] = strlen(col[c]);
            } else {
                printf("%-*s  %-*s  %-*s  %-*s  %s\n", (int)width[0], col[0], (int)width[1],
                       col[1], (int)width[2], col[2], (int)width[3], col[3], col[4]);
            }
        }
    }
}

/* Fetch every page into `all`. */
static int query_list_all(cli_ctx_t *ctx, cJSON *all, err_t *err)
{
    return cli_fetch_pages(ctx, "/2015-03-31/functions/", "Functions", &CLI_PAGING_LAMBDA, 0, all, err);
}

int cli_cmd_list(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    static const cli_opt_t opts[] = {{"json", false}, {NULL, false}};
    const char *unused = NULL;
    unsigned flags = 0;
    int prc = query_parse(ctx, argc, argv, opts, false, &unused, &flags, err);
    if (prc != 0) {
        if (prc > 0) cli_usage_list(stdout);
        return prc > 0 ? 0 : -1;
    }

    cJSON *all = cJSON_CreateArray();
    if (query_list_all(ctx, all, err) < 0) {
        cJSON_Delete(all);
        return -1;
    }
    if ((flags & 1u) || cli_json_out(ctx)) {
        cli_print_json(all);
    } else {
        query_print_table(all);
    }
    cJSON_Delete(all);
    return 0;
}

/* ---- get / delete ------------------------------------------------------ */

int cli_cmd_get(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    const char *name = NULL;
    unsigned flags = 0;
    int prc = query_parse(ctx, argc, argv, NULL, true, &name, &flags, err);
    if (prc != 0) {
        if (prc > 0) cli_usage_get(stdout);
        return prc > 0 ? 0 : -1;
    }

    char *ename = cli_escape(name);
    buf_t path = {0};
    buf_appendf(&path, "/2015-03-31/functions/%s", ename);
    free(ename);
    cli_req_t req = {.method = "GET", .path = path.data};
    cJSON *j = cli_request_json(ctx, &req, err);
    buf_free(&path);
    if (!j) return -1;
    /* GetFunction's document is the data: JSON whatever --output says. */
    cli_print_json(j);
    cJSON_Delete(j);
    return 0;
}

int cli_cmd_delete(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    const char *name = NULL;
    unsigned flags = 0;
    int prc = query_parse(ctx, argc, argv, NULL, true, &name, &flags, err);
    if (prc != 0) {
        if (prc > 0) cli_usage_delete(stdout);
        return prc > 0 ? 0 : -1;
    }

    char *ename = cli_escape(name);
    buf_t path = {0};
    buf_appendf(&path, "/2015-03-31/functions/%s", ename);
    free(ename);
    cli_resp_t resp;
    cli_req_t req = {.method = "DELETE", .path = path.data};
    int rc = cli_http(ctx, &req, &resp, err);
    buf_free(&path);
    if (rc == 0) rc = cli_resp_check(&resp, err);
    cli_resp_free(&resp);
    if (rc < 0) return -1;
    if (cli_json_out(ctx)) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "FunctionName", name);
        cJSON_AddBoolToObject(o, "Deleted", true);
        cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("deleted %s\n", name);
    }
    return 0;
}
