/* cli_events.c — `nimbus events`: a function's asynchronous events (the
 * async queue seen from outside), one event with its attempts, and the
 * cancelling of a queued one; and the text helpers `nimbus dlq` shares
 * (ages, clipped one-line cells, aligned tables, paging through NextMarker).
 *
 * Must never: print a partial list (every page arrives before the first
 * line), let a server string break the table (every cell is one clipped
 * line), or guess at a state the server did not send.
 */
#include "cli/cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cli_usage_events(FILE *out)
{
    fputs("Usage: nimbus events NAME [--state S] [--limit N] [--json]\n"
          "       nimbus events NAME ID [--json]\n"
          "       nimbus events cancel NAME ID\n"
          "\n"
          "The asynchronous events of function NAME (nimbus invoke --async, destinations,\n"
          "redrives), oldest first: REQUEST ID, STATE, ATTEMPTS, AGE, LAST ERROR.\n"
          "With an ID: that event, its payload, result, destination and every attempt.\n"
          "'cancel' removes a queued or retrying event before it runs (not a running one).\n"
          "\n"
          "Options:\n"
          "  --state S        only events in state S: queued, running, retrying, succeeded,\n"
          "                   failed, dead or cancelled\n"
          "  --limit N        show at most the N oldest events\n"
          "  --json           print the API's JSON instead (= --output json)\n"
          "  --endpoint URL   Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help       show this help\n",
          out);
}

/* ---- pure helpers (cli.h) ------------------------------------------------ */

static const char *const cli_event_states[] = {"queued", "running", "retrying", "succeeded",
                                               "failed", "dead", "cancelled"};

bool cli_event_state_ok(const char *s)
{
    for (size_t i = 0; i < sizeof cli_event_states / sizeof cli_event_states[0]; i++)
        if (strcmp(s, cli_event_states[i]) == 0) return true;
    return false;
}

bool cli_header_value_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return false;
    return true;
}

void cli_format_age(int64_t ms, char *out, size_t cap)
{
    if (ms < 0) ms = 0;   /* a server clock ahead of ours */
    int64_t s = ms / 1000;
    if (s < 60) snprintf(out, cap, "%llds", (long long)s);
    else if (s < 3600) snprintf(out, cap, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(out, cap, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else snprintf(out, cap, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

void cli_clip(const char *s, size_t max, char *out, size_t cap)
{
    if (cap == 0) return;
    if (max + 4 > cap) max = cap > 4 ? cap - 4 : 0;
    size_t o = 0, i = 0;
    while (s[i] && o < max) {
        unsigned char c = (unsigned char)s[i];
        /* Never cut a UTF-8 sequence: take it whole or stop before it. */
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
        size_t k = 1;
        while (k < len && ((unsigned char)s[i + k] & 0xc0) == 0x80) k++;
        if (k < len) len = 1, c = '?';   /* a broken sequence: one placeholder byte */
        if (o + len > max) break;
        if (len == 1) {
            out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (c >= 0x80 ? '?' : (char)c);
        } else {
            memcpy(out + o, s + i, len);
            o += len;
        }
        i += len;
    }
    if (s[i]) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* Display width of a clipped cell: UTF-8 continuation bytes take no column. */
static size_t cli_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) w++;
    return w;
}

void cli_table_print(FILE *out, const char *const *head, size_t ncol, const char *const *cells, size_t nrow)
{
    size_t width[16] = {0};
    if (ncol > 16) ncol = 16;
    for (size_t c = 0; c < ncol; c++) width[c] = cli_width(head[c]);
    for (size_t r = 0; r < nrow; r++)
        for (size_t c = 0; c < ncol; c++) {
            size_t w = cli_width(cells[r * ncol + c]);
            if (w > width[c]) width[c] = w;
        }
    for (size_t r = 0; r <= nrow; r++) {
        const char *const *row = r == 0 ? head : cells + (r - 1) * ncol;
        /* No trailing blanks: padding stops at the row's last non-empty cell. */
        size_t used = ncol;
        while (used > 0 && !row[used - 1][0]) used--;
        for (size_t c = 0; c < used; c++) {
            fputs(row[c], out);
            if (c + 1 < used)
                for (size_t w = cli_width(row[c]); w < width[c] + 2; w++) fputc(' ', out);
        }
        fputc('\n', out);
    }
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jnum(const cJSON *o, const char *k, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) return false;
    *out = v->valuedouble;
    return true;
}

enum { CELL = 128 };

void cli_events_table(FILE *out, const cJSON *events, int64_t now_ms, bool with_state)
{
    static const char *const head_state[] = {"REQUEST ID", "STATE", "ATTEMPTS", "AGE", "LAST ERROR"};
    static const char *const head_plain[] = {"REQUEST ID", "ATTEMPTS", "AGE", "LAST ERROR"};
    size_t ncol = with_state ? 5 : 4;
    size_t n = (size_t)cJSON_GetArraySize(events);
    /* One clipped copy of every cell; pointers into it for the printer. */
    char (*text)[CELL] = calloc(n * ncol + 1, CELL);
    const char **cells = calloc(n * ncol + 1, sizeof *cells);
    if (!text || !cells) abort();
    size_t r = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, events) {
        char (*row)[CELL] = text + r * ncol;
        size_t c = 0;
        const char *id = jstr(e, "RequestId");
        cli_clip(id ? id : "-", 64, row[c++], CELL);
        if (with_state) {
            const char *st = jstr(e, "State");
            cli_clip(st ? st : "-", 16, row[c++], CELL);
        }
        double v;
        if (jnum(e, "Attempts", &v)) snprintf(row[c++], CELL, "%.0f", v);
        else snprintf(row[c++], CELL, "-");
        if (jnum(e, "CreatedMs", &v)) cli_format_age(now_ms - (int64_t)v, row[c++], CELL);
        else snprintf(row[c++], CELL, "-");
        const char *le = jstr(e, "LastError");
        cli_clip(le && le[0] ? le : "-", 80, row[c++], CELL);
        for (size_t k = 0; k < ncol; k++) cells[r * ncol + k] = row[k];
        r++;
    }
    cli_table_print(out, with_state ? head_state : head_plain, ncol, cells, r);
    free(cells);
    free(text);
}

static void show_line(FILE *out, const char *label, const char *value)
{
    fprintf(out, "%-12s %s\n", label, value);
}

/* A payload or a result: one clipped line, with its size when clipped. */
static void show_blob(FILE *out, const char *label, const char *value)
{
    char clip[1100];
    cli_clip(value, 1000, clip, sizeof clip);
    size_t n = strlen(value);
    if (n > 1000) {
        char line[1200];
        snprintf(line, sizeof line, "%s (%zu bytes; --json shows all)", clip, n);
        show_line(out, label, line);
    } else {
        show_line(out, label, clip);
    }
}

static void show_when(FILE *out, const char *label, double ms, int64_t now_ms, bool future)
{
    char iso[32], age[32], line[96];
    util_iso8601_ms((uint64_t)ms, iso);
    int64_t d = future ? (int64_t)ms - now_ms : now_ms - (int64_t)ms;
    cli_format_age(d, age, sizeof age);
    snprintf(line, sizeof line, future ? "%s (in %s)" : "%s (%s ago)", iso, age);
    show_line(out, label, line);
}

void cli_event_show(FILE *out, const cJSON *ev, int64_t now_ms)
{
    char cell[CELL];
    const char *s;
    double v;
    s = jstr(ev, "RequestId");
    cli_clip(s ? s : "-", 64, cell, sizeof cell);
    show_line(out, "RequestId", cell);
    s = jstr(ev, "State");
    cli_clip(s ? s : "-", 16, cell, sizeof cell);
    show_line(out, "State", cell);
    s = jstr(ev, "Qualifier");
    cli_clip(s && s[0] ? s : "$LATEST", 100, cell, sizeof cell);
    show_line(out, "Qualifier", cell);
    if (jnum(ev, "Attempts", &v)) {
        snprintf(cell, sizeof cell, "%.0f", v);
        show_line(out, "Attempts", cell);
    }
    if (jnum(ev, "CreatedMs", &v)) show_when(out, "Created", v, now_ms, false);
    s = jstr(ev, "State");
    if (s && (strcmp(s, "retrying") == 0 || strcmp(s, "queued") == 0) && jnum(ev, "NextAttemptMs", &v) &&
        (int64_t)v > now_ms)
        show_when(out, "NextAttempt", v, now_ms, true);
    if ((s = jstr(ev, "Origin")) && s[0]) {
        cli_clip(s, 100, cell, sizeof cell);
        show_line(out, "Origin", cell);
    }
    if ((s = jstr(ev, "LastError")) && s[0]) {
        cli_clip(s, 120, cell, sizeof cell);
        show_line(out, "LastError", cell);
    }
    if ((s = jstr(ev, "Destination")) && s[0]) {
        cli_clip(s, 120, cell, sizeof cell);
        show_line(out, "Destination", cell);
    }
    if ((s = jstr(ev, "Payload"))) show_blob(out, "Payload", s);
    if ((s = jstr(ev, "Result"))) show_blob(out, "Result", s);

    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(ev, "AttemptsDetail");
    size_t n = cJSON_IsArray(attempts) ? (size_t)cJSON_GetArraySize(attempts) : 0;
    if (n == 0) return;
    static const char *const head[] = {"ATTEMPT", "STARTED", "DURATION", "ERROR"};
    char (*text)[CELL] = calloc(n * 4, CELL);
    const char **cells = calloc(n * 4, sizeof *cells);
    if (!text || !cells) abort();
    size_t r = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, attempts) {
        char (*row)[CELL] = text + r * 4;
        if (jnum(a, "N", &v)) snprintf(row[0], CELL, "%.0f", v);
        else snprintf(row[0], CELL, "-");
        if (jnum(a, "StartMs", &v)) util_iso8601_ms((uint64_t)v, row[1]);
        else snprintf(row[1], CELL, "-");
        if (jnum(a, "DurationMs", &v)) snprintf(row[2], CELL, "%.2f ms", v);
        else snprintf(row[2], CELL, "-");
        const char *et = jstr(a, "ErrorType"), *em = jstr(a, "ErrorMessage");
        char both[CELL * 4];
        if (et && et[0]) snprintf(both, sizeof both, "%s%s%s", et, em && em[0] ? ": " : "", em ? em : "");
        else snprintf(both, sizeof both, "-");
        cli_clip(both, 100, row[3], CELL);
        for (size_t k = 0; k < 4; k++) cells[r * 4 + k] = row[k];
        r++;
    }
    fputc('\n', out);
    cli_table_print(out, head, 4, cells, r);
    free(cells);
    free(text);
}

/* ---- paging (cli.h, shared with dlq) ------------------------------------- */

const cli_paging_t CLI_PAGING_NIMBUS = { "limit", "after", 100 };
const cli_paging_t CLI_PAGING_LAMBDA = { "MaxItems", "Marker", 50 };

int cli_fetch_pages(cli_ctx_t *ctx, const char *path, const char *key, const cli_paging_t *paging, size_t max,
                    cJSON *all, err_t *err)
{
    char *marker = NULL;
    int rc = -1;
    size_t have = 0;
    for (;;) {
        size_t want = max && max - have < paging->page ? max - have : paging->page;
        buf_t p = {0};
        buf_appendf(&p, "%s%c%s=%zu", path, strchr(path, '?') ? '&' : '?', paging->limit_param, want);
        if (marker) {
            char *em = cli_escape(marker);
            buf_appendf(&p, "&%s=%s", paging->marker_param, em);
            free(em);
        }
        cli_req_t req = {.method = "GET", .path = p.data};
        cJSON *page = cli_request_json(ctx, &req, err);
        buf_free(&p);
        if (!page) goto out;

        cJSON *items = cJSON_GetObjectItemCaseSensitive(page, key);
        if (!cJSON_IsArray(items)) {
            cJSON_Delete(page);
            err_set(err, ERR_INTERNAL, "the server's answer has no %s array", key);
            goto out;
        }
        cJSON *it;
        while ((!max || have < max) && (it = cJSON_DetachItemFromArray(items, 0)) != NULL) {
            cJSON_AddItemToArray(all, it);
            have++;
        }
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(page, "NextMarker");
        char *next_marker = cJSON_IsString(next) && next->valuestring[0] ? strdup(next->valuestring) : NULL;
        cJSON_Delete(page);
        if (!next_marker || (max && have >= max)) {
            free(next_marker);
            break;
        }
        if (marker && strcmp(marker, next_marker) == 0) {
            free(next_marker);
            err_set(err, ERR_INTERNAL, "the server returned the same NextMarker twice");
            goto out;
        }
        free(marker);
        marker = next_marker;
    }
    rc = 0;
out:
    free(marker);
    return rc;
}

int64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* cJSON_Print indents with tabs; the CLI's JSON is indented as the AWS
 * CLI's and `python3 -m json.tool --indent 2` are: two blanks per level,
 * "key": value, an empty object or array as {} or []. Scalars are
 * cJSON's own text (its number and string escaping). */
static void json_write(buf_t *b, const cJSON *j, int depth)
{
    bool obj = cJSON_IsObject(j);
    if (!obj && !cJSON_IsArray(j)) {
        char *t = cJSON_PrintUnformatted(j);
        if (!t) abort();
        buf_append(b, t, strlen(t));
        free(t);
        return;
    }
    if (!j->child) {
        buf_append(b, obj ? "{}" : "[]", 2);
        return;
    }
    buf_append(b, obj ? "{" : "[", 1);
    for (const cJSON *c = j->child; c; c = c->next) {
        buf_appendf(b, "\n%*s", 2 * (depth + 1), "");
        if (obj) {
            cJSON *key = cJSON_CreateString(c->string ? c->string : "");
            char *k = cJSON_PrintUnformatted(key);
            cJSON_Delete(key);
            if (!k) abort();
            buf_appendf(b, "%s: ", k);
            free(k);
        }
        json_write(b, c, depth + 1);
        if (c->next) buf_append(b, ",", 1);
    }
    buf_appendf(b, "\n%*s%s", 2 * depth, "", obj ? "}" : "]");
}

char *cli_json_text(const cJSON *j)
{
    buf_t b = {0};
    json_write(&b, j, 0);
    return buf_steal(&b, NULL);
}

void cli_print_json(const cJSON *j)
{
    char *text = cli_json_text(j);
    puts(text);
    free(text);
}

void cli_print_json_line(const cJSON *j)
{
    char *text = cJSON_PrintUnformatted(j);
    if (!text) abort();
    puts(text);
    free(text);
}

/* ---- the command ----------------------------------------------------------- */

enum { EOPT_STATE, EOPT_LIMIT, EOPT_JSON };
static const cli_opt_t events_opts[] = {
    [EOPT_STATE] = {"state", true}, [EOPT_LIMIT] = {"limit", true}, [EOPT_JSON] = {"json", false},
    {NULL, false},
};

/* The event's path: /nimbus/v1/functions/NAME/events[/ID]. */
static void events_path(buf_t *p, const char *name, const char *id)
{
    char *en = cli_escape(name);
    buf_appendf(p, "/nimbus/v1/functions/%s/events", en);
    free(en);
    if (id) {
        char *ei = cli_escape(id);
        buf_appendf(p, "/%s", ei);
        free(ei);
    }
}

static int events_list(cli_ctx_t *ctx, const char *name, const char *state, long limit, bool json,
                       err_t *err)
{
    buf_t p = {0};
    events_path(&p, name, NULL);
    if (state) buf_appendf(&p, "?state=%s", state);
    cJSON *all = cJSON_CreateArray();
    int rc = cli_fetch_pages(ctx, p.data, "Events", &CLI_PAGING_NIMBUS, (size_t)limit, all, err);
    buf_free(&p);
    if (rc == 0) {
        if (json) cli_print_json(all);
        else cli_events_table(stdout, all, cli_now_ms(), true);
    }
    cJSON_Delete(all);
    return rc;
}

static int events_show(cli_ctx_t *ctx, const char *name, const char *id, bool json, err_t *err)
{
    buf_t p = {0};
    events_path(&p, name, id);
    cli_req_t req = {.method = "GET", .path = p.data};
    cJSON *ev = cli_request_json(ctx, &req, err);
    buf_free(&p);
    if (!ev) return -1;
    if (json) cli_print_json(ev);
    else cli_event_show(stdout, ev, cli_now_ms());
    cJSON_Delete(ev);
    return 0;
}

static int events_cancel(cli_ctx_t *ctx, const char *name, const char *id, bool json, err_t *err)
{
    buf_t p = {0};
    events_path(&p, name, id);
    cli_resp_t resp;
    cli_req_t req = {.method = "DELETE", .path = p.data};
    int rc = cli_http(ctx, &req, &resp, err);
    buf_free(&p);
    if (rc == 0) rc = cli_resp_check(&resp, err);
    cli_resp_free(&resp);
    if (rc < 0) return -1;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "RequestId", id);
        cJSON_AddStringToObject(o, "State", "cancelled");
        cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("cancelled %s\n", id);
    }
    return 0;
}

int cli_cmd_events(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val, *pos[4] = {0}, *state = NULL;
    size_t npos = 0;
    long limit = 0;
    bool json = false, limited = false;
    for (;;) {
        int opt = cli_args_next(ctx, &a, events_opts, &val, err);
        if (opt == CLI_ARG_END) break;
        switch (opt) {
        case CLI_ARG_ERROR: return -1;
        case CLI_ARG_HELP: cli_usage_events(stdout); return 0;
        case CLI_ARG_POSITIONAL:
            if (npos == 3) return cli_usage_fail(ctx, err, "unexpected argument '%s'", val);
            pos[npos++] = val;
            break;
        case EOPT_STATE:
            if (!cli_event_state_ok(val))
                return cli_usage_fail(ctx, err, "--state must be queued, running, retrying, succeeded, "
                                                "failed, dead or cancelled, not '%s'", val);
            state = val;
            break;
        case EOPT_LIMIT:
            if (cli_parse_long(ctx, "--limit", val, 1, 1000000, &limit, err) < 0) return -1;
            limited = true;
            break;
        case EOPT_JSON: ctx->output = CLI_OUTPUT_JSON; break;
        default: return cli_usage_fail(ctx, err, "internal: unhandled option");
        }
    }
    json = cli_json_out(ctx);
    /* "cancel" is a valid function name too: it is the verb only when it
     * comes with a NAME and an ID after it. */
    bool cancel = npos == 3 && strcmp(pos[0], "cancel") == 0;
    if (npos == 3 && !cancel) return cli_usage_fail(ctx, err, "unexpected argument '%s'", pos[2]);
    if (npos == 0 || !pos[0][0]) return cli_usage_fail(ctx, err, "missing NAME");
    const char *name = cancel ? pos[1] : pos[0];
    const char *id = cancel ? pos[2] : pos[1];
    if (!name[0]) return cli_usage_fail(ctx, err, "missing NAME");
    if (id && !id[0]) return cli_usage_fail(ctx, err, "the request ID is empty");
    if (id && (state || limited))
        return cli_usage_fail(ctx, err, "--state and --limit are for the list, not one event");
    if (cancel) return events_cancel(ctx, name, id, json, err);
    if (id) return events_show(ctx, name, id, json, err);
    return events_list(ctx, name, state, limit, json, err);
}
