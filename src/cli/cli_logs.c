/* cli_logs.c — `nimbus logs`: read a function's log lines from
 * GET /nimbus/v1/functions/NAME/logs, once or (--follow) by polling with
 * after=lastId every 250 ms until SIGINT. Each line is printed after its
 * time (ISO-8601 UTC, milliseconds), as `aws logs tail` does; with
 * --output json each is one JSON object on its own line.
 *
 * Must never: print a line twice or out of order, print a partial --tail
 * (the newest N need every page first), or treat Ctrl-C during --follow as
 * a failure.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGS_POLL_MS 250

void cli_usage_logs(FILE *out)
{
    fputs("Usage: nimbus logs NAME [options]\n"
          "\n"
          "Print the log lines of function NAME, oldest first.\n"
          "\n"
          "Options:\n"
          "  --request-id ID      only the lines of one invocation\n"
          "  --since WHEN         only lines newer than WHEN: a duration back from now\n"
          "                       (30s, 10m, 2h, 1d, 1h30m) or epoch milliseconds\n"
          "  --tail N             only the newest N lines (with --follow: then the new ones)\n"
          "  --follow             keep printing new lines until interrupted (Ctrl-C); starts\n"
          "                       at the newest line unless --since or --tail says otherwise\n"
          "  --limit N            at most N lines, the oldest (per poll with --follow)\n"
          "  --json               one JSON object per line: id, timestamp (epoch ms), time,\n"
          "                       requestId, message (= --output json)\n"
          "\n"
          "Each line starts with its time, ISO-8601 in UTC with milliseconds.\n"
          "  --endpoint URL       Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help           show this help\n",
          out);
}

enum { OPT_REQUEST_ID, OPT_SINCE, OPT_FOLLOW, OPT_LIMIT, OPT_TAIL, OPT_JSON };
static const cli_opt_t logs_opts[] = {
    [OPT_REQUEST_ID] = {"request-id", true}, [OPT_SINCE] = {"since", true},
    [OPT_FOLLOW] = {"follow", false},        [OPT_LIMIT] = {"limit", true},
    [OPT_TAIL] = {"tail", true},             [OPT_JSON] = {"json", false},
    {NULL, false},
};

typedef struct {
    const char *name;
    const char *request_id;
    long long since_ms;      /* -1 = not given */
    long limit;              /* 0 = not given */
    long tail;               /* 0 = not given */
    bool follow;
} logs_args_t;

static long long logs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "1700000000000" (epoch ms) or a duration "30s", "10m", "2h", "1d",
 * "500ms", "1h30m" meaning now minus that. -1 when malformed. */
static long long logs_parse_since(const char *s)
{
    if (!*s) return -1;
    const char *p = s;
    while (*p >= '0' && *p <= '9') p++;
    if (*p == '\0') {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        return errno == ERANGE ? -1 : v;
    }
    long long total = 0;
    p = s;
    while (*p) {
        if (!(*p >= '0' && *p <= '9')) return -1;
        long long n = 0;
        while (*p >= '0' && *p <= '9') {
            n = n * 10 + (*p++ - '0');
            if (n > 1000000000LL) return -1;
        }
        long long unit;
        if (strncmp(p, "ms", 2) == 0) unit = 1, p += 2;
        else if (*p == 's') unit = 1000, p++;
        else if (*p == 'm') unit = 60 * 1000, p++;
        else if (*p == 'h') unit = 3600 * 1000, p++;
        else if (*p == 'd') unit = 86400 * 1000, p++;
        else return -1;
        total += n * unit;
    }
    long long since = logs_now_ms() - total;
    return since < 0 ? 0 : since;
}

static int logs_parse(cli_ctx_t *ctx, int argc, char **argv, logs_args_t *l, err_t *err)
{
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val;
    for (;;) {
        int opt = cli_args_next(ctx, &a, logs_opts, &val, err);
        switch (opt) {
        case CLI_ARG_END: goto done;
        case CLI_ARG_ERROR: return -1;
        case CLI_ARG_HELP: return 1;
        case CLI_ARG_POSITIONAL:
            if (l->name) return cli_usage_fail(ctx, err, "unexpected argument '%s'", val);
            l->name = val;
            break;
        case OPT_REQUEST_ID: l->request_id = val; break;
        case OPT_FOLLOW: l->follow = true; break;
        case OPT_SINCE:
            l->since_ms = logs_parse_since(val);
            if (l->since_ms < 0)
                return cli_usage_fail(ctx, err,
                                      "--since expects a duration like 30s, 10m, 2h or epoch "
                                      "milliseconds, not '%s'", val);
            break;
        case OPT_LIMIT:
            if (cli_parse_long(ctx, "--limit", val, 1, 1000000, &l->limit, err) < 0) return -1;
            break;
        case OPT_TAIL:
            if (cli_parse_long(ctx, "--tail", val, 1, 1000000, &l->tail, err) < 0) return -1;
            break;
        case OPT_JSON: ctx->output = CLI_OUTPUT_JSON; break;
        default: return cli_usage_fail(ctx, err, "internal: unhandled option");
        }
    }
done:
    if (!l->name || !l->name[0]) return cli_usage_fail(ctx, err, "missing NAME");
    if (l->tail && l->limit) return cli_usage_fail(ctx, err, "--tail and --limit exclude each other");
    return 0;
}

/* One line, as text after its time or as one JSON object. */
static void logs_print(const cli_ctx_t *ctx, cJSON *ev)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(ev, "message");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(ev, "timestamp");
    if (!cJSON_IsString(m)) return;
    char iso[32] = "-";
    if (cJSON_IsNumber(ts) && ts->valuedouble >= 0) util_iso8601_ms((uint64_t)ts->valuedouble, iso);
    if (cli_json_out(ctx)) {
        if (!cJSON_GetObjectItemCaseSensitive(ev, "time")) cJSON_AddStringToObject(ev, "time", iso);
        cli_print_json_line(ev);
        return;
    }
    size_t n = strlen(m->valuestring);
    fputs(iso, stdout);
    putchar(' ');
    fwrite(m->valuestring, 1, n, stdout);
    if (n == 0 || m->valuestring[n - 1] != '\n') putchar('\n');
}

/* One request. *after is the cursor (-1 = none yet) and is advanced to the
 * answer's lastId; the page's events are moved into `out`, *count says how
 * many. */
static int logs_fetch(cli_ctx_t *ctx, const logs_args_t *l, long limit, long long *after, cJSON *out, int *count,
                      err_t *err)
{
    buf_t path = {0};
    char *ename = cli_escape(l->name);
    buf_appendf(&path, "/nimbus/v1/functions/%s/logs", ename);
    free(ename);
    char sep = '?';
    if (l->request_id) {
        char *eid = cli_escape(l->request_id);
        buf_appendf(&path, "%crequest_id=%s", sep, eid);
        free(eid);
        sep = '&';
    }
    /* After the first answer the cursor alone says where to go on. */
    if (*after >= 0) {
        buf_appendf(&path, "%cafter=%lld", sep, *after);
        sep = '&';
    } else if (l->since_ms >= 0) {
        buf_appendf(&path, "%csince=%lld", sep, l->since_ms);
        sep = '&';
    }
    if (limit) buf_appendf(&path, "%climit=%ld", sep, limit);

    cli_resp_t resp;
    cli_req_t req = {.method = "GET", .path = path.data};
    int rc = cli_http(ctx, &req, &resp, err);
    buf_free(&path);
    cJSON *j = NULL;
    if (rc == 0 && cli_resp_check(&resp, err) == 0) j = cli_resp_json(&resp, err);
    cli_resp_free(&resp);
    if (!j) return -1;

    cJSON *events = cJSON_GetObjectItemCaseSensitive(j, "events");
    if (!cJSON_IsArray(events)) {
        cJSON_Delete(j);
        return err_set(err, ERR_INTERNAL, "the server's logs answer has no events array");
    }
    *count = 0;
    cJSON *ev;
    while ((ev = cJSON_DetachItemFromArray(events, 0)) != NULL) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
        if (cJSON_IsNumber(id) && (long long)id->valuedouble > *after)
            *after = (long long)id->valuedouble;
        cJSON_AddItemToArray(out, ev);
        (*count)++;
    }
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(j, "lastId");
    if (cJSON_IsNumber(last) && (long long)last->valuedouble > *after)
        *after = (long long)last->valuedouble;
    cJSON_Delete(j);
    return 0;
}

/* Print and drop the lines in `batch`. */
static int logs_flush(const cli_ctx_t *ctx, cJSON *batch, err_t *err)
{
    cJSON *ev;
    while ((ev = cJSON_DetachItemFromArray(batch, 0)) != NULL) {
        logs_print(ctx, ev);
        cJSON_Delete(ev);
    }
    if (fflush(stdout) != 0) return err_sys(err, "write to stdout");
    return 0;
}

/* Read every page from the cursor on; keep the newest `keep` lines in
 * `batch` (0: none, the lines are only skipped). For --tail, and for
 * --follow's start at the newest line. */
static int logs_skip_to_end(cli_ctx_t *ctx, const logs_args_t *l, long keep, long long *after, cJSON *batch,
                            err_t *err)
{
    for (;;) {
        long long before = *after;
        int count = 0;
        if (logs_fetch(ctx, l, 10000, after, batch, &count, err) < 0) return -1;
        while (cJSON_GetArraySize(batch) > keep) cJSON_DeleteItemFromArray(batch, 0);
        if (count == 0 || *after <= before) return 0;
    }
}

static void logs_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);   /* EINTR from SIGINT simply ends the wait early */
}

int cli_cmd_logs(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    logs_args_t l = {.since_ms = -1};
    int prc = logs_parse(ctx, argc, argv, &l, err);
    if (prc != 0) {
        if (prc > 0) cli_usage_logs(stdout);
        return prc > 0 ? 0 : -1;
    }

    if (l.follow) cli_catch_sigint();
    long long after = -1;
    cJSON *batch = cJSON_CreateArray();
    int rc = 0;
    /* --tail N: the newest N, which only the last page shows; --follow
     * alone starts at the newest line, as `tail -f` with nothing before. */
    if (l.tail || (l.follow && l.since_ms < 0)) {
        rc = logs_skip_to_end(ctx, &l, l.tail, &after, batch, err);
        if (rc == 0) rc = logs_flush(ctx, batch, err);
        if (rc < 0 || !l.follow) goto out;
    }
    for (;;) {
        long long before = after;
        int count = 0;
        if (logs_fetch(ctx, &l, l.limit, &after, batch, &count, err) < 0 ||
            logs_flush(ctx, batch, err) < 0) {
            rc = l.follow && cli_interrupted() ? 0 : -1;
            goto out;
        }
        if (l.follow) {
            if (cli_interrupted()) goto out;
            /* Wait only when caught up, so a backlog drains at full speed. */
            if (count == 0) logs_sleep_ms(LOGS_POLL_MS);
            if (cli_interrupted()) goto out;
            continue;
        }
        /* Without --limit, read on until the server has nothing newer, so a
         * server-side page size never silently cuts the output. */
        if (l.limit || count == 0 || after <= before) goto out;
    }
out:
    cJSON_Delete(batch);
    return rc;
}
