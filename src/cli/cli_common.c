/* cli_common.c — what the resource subcommands (version, alias, layer,
 * concurrency, trigger, dlq, url) share: picking the verb, building a path
 * around an escaped name, one request with a JSON body, one request whose
 * answer only has to be 2xx, and a paged list printed as JSON or a table.
 *
 * Must never: print anything but the command's output (errors go back as
 * err_t), or judge a value the API judges.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

/* "a, b or c" */
static void verbs_join(const char *const *verbs, char *out, size_t cap)
{
    size_t k = 0, n = 0;
    while (verbs[n]) n++;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(out + k, cap - k, "%s%s", sep, verbs[i]);
        if (w < 0 || (size_t)w >= cap - k) break;
        k += (size_t)w;
    }
}

static int verb_index(const char *word, const char *const *verbs)
{
    for (int i = 0; word && verbs[i]; i++)
        if (strcmp(word, verbs[i]) == 0) return i;
    return -1;
}

int cli_verb(cli_ctx_t *ctx, const char *word, const char *const *verbs, err_t *err)
{
    int i = verb_index(word, verbs);
    if (i >= 0) return i;
    char list[160];
    verbs_join(verbs, list, sizeof list);
    const char *w = word ? word : "";
    return cli_usage_fail(ctx, err, "expected %s%s%s", list, w[0] ? ", not " : "", w);
}

int cli_action(cli_ctx_t *ctx, const char *word, const char *const *verbs, err_t *err)
{
    int i = verb_index(word, verbs);
    if (i >= 0) return i;
    char list[160];
    verbs_join(verbs, list, sizeof list);
    if (!word) return cli_usage_fail(ctx, err, "missing %s", list);
    return cli_usage_fail(ctx, err, "unknown action '%s': %s", word, list);
}

void cli_path_add(buf_t *p, const char *fmt, const char *name)
{
    char *e = cli_escape(name);
    buf_appendf(p, fmt, e);
    free(e);
}

cJSON *cli_send_json(cli_ctx_t *ctx, const char *method, const char *path, const cJSON *body, err_t *err)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    if (body && !text) abort();
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    cli_req_t req = {.method = method, .path = path, .headers = text ? hdrs : NULL, .body = text,
                     .body_len = text ? strlen(text) : 0};
    cJSON *ans = cli_request_json(ctx, &req, err);
    free(text);
    return ans;
}

int cli_send_ok(cli_ctx_t *ctx, const char *method, const char *path, err_t *err)
{
    cli_req_t req = {.method = method, .path = path};
    cli_resp_t resp;
    int rc = cli_http(ctx, &req, &resp, err);
    if (rc == 0) rc = cli_resp_check(&resp, err);
    cli_resp_free(&resp);
    return rc;
}

const char *cli_str(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s ? s : "";
}

int cli_list_print(cli_ctx_t *ctx, const char *path, const char *key, bool json, const char *const *head,
                   size_t ncol, cli_row_fn row, const void *arg, err_t *err)
{
    cJSON *all = cJSON_CreateArray();
    if (cli_fetch_pages(ctx, path, key, &CLI_PAGING_LAMBDA, 0, all, err) < 0) {
        cJSON_Delete(all);
        return -1;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, key, all);
        cli_print_json(o);
        cJSON_Delete(o);
        return 0;
    }
    size_t n = (size_t)cJSON_GetArraySize(all);
    char (*cells)[CLI_CELL] = calloc(n ? n * ncol : 1, sizeof *cells);
    const char **ptrs = calloc(n ? n * ncol : 1, sizeof *ptrs);
    if (!cells || !ptrs) abort();
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, all) {
        row(it, &cells[i * ncol], arg);
        for (size_t c = 0; c < ncol; c++) ptrs[i * ncol + c] = cells[i * ncol + c];
        i++;
    }
    cli_table_print(stdout, head, ncol, ptrs, n);
    free(cells);
    free(ptrs);
    cJSON_Delete(all);
    return 0;
}
