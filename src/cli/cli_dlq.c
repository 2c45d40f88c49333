/* cli_dlq.c — `nimbus dlq list|redrive|purge NAME`: a function's built-in
 * dead-letter list (events whose retries or age ran out with no other
 * failure destination, and destination deliveries that finally failed).
 *
 * Must never: purge or redrive anything the user did not name (no default
 * function, no guessing from a partial id), or print a partial list.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void cli_usage_dlq(FILE *out)
{
    fputs("Usage: nimbus dlq list NAME [--limit N] [--json]\n"
          "       nimbus dlq redrive NAME [--id ID]\n"
          "       nimbus dlq purge NAME\n"
          "\n"
          "The dead letters of function NAME: asynchronous events that failed with no\n"
          "other failure destination, oldest first (REQUEST ID, ATTEMPTS, AGE, LAST ERROR).\n"
          "'redrive' queues them again, each as a new event with a new request id (all of\n"
          "them, or the one --id names) and prints how many; 'purge' forgets them all.\n"
          "\n"
          "Options:\n"
          "  --limit N        list: show at most the N oldest\n"
          "  --json           list: print the API's JSON instead (= --output json, which\n"
          "                   redrive and purge honour too)\n"
          "  --id ID          redrive: only this dead letter\n"
          "  --endpoint URL   Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help       show this help\n",
          out);
}

enum { DOPT_LIMIT, DOPT_JSON, DOPT_ID };
static const cli_opt_t dlq_opts[] = {
    [DOPT_LIMIT] = {"limit", true}, [DOPT_JSON] = {"json", false}, [DOPT_ID] = {"id", true},
    {NULL, false},
};

static void dlq_path(buf_t *p, const char *name, const char *tail)
{
    cli_path_add(p, "/nimbus/v1/functions/%s/dlq", name);
    buf_appendf(p, "%s", tail);
}

/* The count a redrive or purge answered with, as a whole number. */
static int dlq_count(const cJSON *j, const char *key, long *out, err_t *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0)
        return err_set(err, ERR_INTERNAL, "the server's answer has no %s count", key);
    *out = (long)v->valuedouble;
    return 0;
}

int cli_cmd_dlq(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val, *verb = NULL, *name = NULL, *id = NULL;
    long limit = 0;
    bool json = false, limited = false;
    for (;;) {
        int opt = cli_args_next(ctx, &a, dlq_opts, &val, err);
        if (opt == CLI_ARG_END) break;
        switch (opt) {
        case CLI_ARG_ERROR: return -1;
        case CLI_ARG_HELP: cli_usage_dlq(stdout); return 0;
        case CLI_ARG_POSITIONAL:
            if (!verb) verb = val;
            else if (!name) name = val;
            else return cli_usage_fail(ctx, err, "unexpected argument '%s'", val);
            break;
        case DOPT_LIMIT:
            if (cli_parse_long(ctx, "--limit", val, 1, 1000000, &limit, err) < 0) return -1;
            limited = true;
            break;
        case DOPT_JSON: json = true; ctx->output = CLI_OUTPUT_JSON; break;
        case DOPT_ID:
            if (!val[0]) return cli_usage_fail(ctx, err, "--id needs a request id");
            id = val;
            break;
        default: return cli_usage_fail(ctx, err, "internal: unhandled option");
        }
    }
    bool json_out = cli_json_out(ctx);
    static const char *const verbs[] = {"list", "redrive", "purge", NULL};
    int v = cli_action(ctx, verb, verbs, err);
    if (v < 0) return -1;
    bool is_list = v == 0, is_redrive = v == 1;
    if (!name || !name[0]) return cli_usage_fail(ctx, err, "missing NAME");
    if (!is_list && (limited || json)) return cli_usage_fail(ctx, err, "--limit and --json are for list");
    if (!is_redrive && id) return cli_usage_fail(ctx, err, "--id is for redrive");

    buf_t p = {0};
    int rc = -1;
    if (is_list) {
        dlq_path(&p, name, "");
        cJSON *all = cJSON_CreateArray();
        rc = cli_fetch_pages(ctx, p.data, "DeadLetters", &CLI_PAGING_NIMBUS, (size_t)limit, all, err);
        if (rc == 0) {
            if (json_out) cli_print_json(all);
            else cli_events_table(stdout, all, cli_now_ms(), false);
        }
        cJSON_Delete(all);
        buf_free(&p);
        return rc;
    }

    cJSON *body = NULL;
    if (is_redrive) {
        dlq_path(&p, name, "/redrive");
        body = cJSON_CreateObject();
        if (id) cJSON_AddStringToObject(body, "RequestId", id);
    } else {
        dlq_path(&p, name, "");
    }
    cJSON *j = cli_send_json(ctx, is_redrive ? "POST" : "DELETE", p.data, body, err);
    long n = 0;
    if (j && dlq_count(j, is_redrive ? "Redriven" : "Purged", &n, err) == 0) {
        if (json_out) cli_print_json(j);
        else printf("%s %ld\n", is_redrive ? "redriven" : "purged", n);
        rc = 0;
    }
    cJSON_Delete(j);
    cJSON_Delete(body);
    buf_free(&p);
    return rc;
}
