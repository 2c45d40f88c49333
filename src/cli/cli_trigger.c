/* cli_trigger.c — `nimbus trigger add|list|enable|disable|rm`: a
 * function's timer triggers, through /nimbus/v1/functions/NAME/triggers.
 *
 * Must never: change a trigger the user did not name, or print a partial
 * list as if it were whole.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void cli_usage_trigger(FILE *out)
{
    fputs("Usage: nimbus trigger add NAME --schedule EXPR [--name T] [--payload STR]\n"
          "                        [--format fc|scf|eventbridge] [--timezone TZ] [--qualifier Q]\n"
          "                        [--disabled]\n"
          "       nimbus trigger list NAME [--json]\n"
          "       nimbus trigger enable|disable|rm NAME T\n"
          "\n"
          "Timer triggers of function NAME: each slot of the schedule is an asynchronous\n"
          "call whose event carries the slot's time (FC's triggerTime, SCF's Time,\n"
          "EventBridge's time). 'add' prints the new trigger's name; 'list' shows NAME,\n"
          "SCHEDULE, TIMEZONE, FORMAT, ENABLED, NEXT SLOT, LAST FIRED, FIRES and MISSED.\n"
          "\n"
          "Options:\n"
          "  --schedule EXPR  rate(5 minutes), cron(0 12 * * ? *), at(2026-12-24T18:00:00),\n"
          "                   0 0 4 * * * (FC, seconds first), @every 4m, */5 * * * *\n"
          "  --name T         the trigger's name (default timer-<random>)\n"
          "  --payload STR    FC's payload, SCF's Message, EventBridge's detail (a JSON object)\n"
          "  --format F       the event's shape: fc (default), scf or eventbridge\n"
          "  --timezone TZ    an IANA zone for cron and at() (default UTC)\n"
          "  --qualifier Q    call this version or alias (default $LATEST)\n"
          "  --disabled       add it disabled\n"
          "  --json           list: print the API's JSON instead (= --output json, which\n"
          "                   every action honours)\n"
          "  --endpoint URL   Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help       show this help\n",
          out);
}

enum { TOPT_SCHEDULE, TOPT_NAME, TOPT_PAYLOAD, TOPT_FORMAT, TOPT_TIMEZONE, TOPT_QUALIFIER, TOPT_DISABLED, TOPT_JSON };
static const cli_opt_t trigger_opts[] = {
    [TOPT_SCHEDULE] = {"schedule", true}, [TOPT_NAME] = {"name", true},         [TOPT_PAYLOAD] = {"payload", true},
    [TOPT_FORMAT] = {"format", true},     [TOPT_TIMEZONE] = {"timezone", true}, [TOPT_QUALIFIER] = {"qualifier", true},
    [TOPT_DISABLED] = {"disabled", false}, [TOPT_JSON] = {"json", false},       {NULL, false},
};

static void trigger_path(buf_t *p, const char *fn, const char *trigger)
{
    cli_path_add(p, "/nimbus/v1/functions/%s/triggers", fn);
    if (trigger) cli_path_add(p, "/%s", trigger);
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

static void list_table(const cJSON *triggers)
{
    static const char *const head[] = {"NAME", "SCHEDULE", "TIMEZONE", "FORMAT", "ENABLED",
                                       "NEXT SLOT", "LAST FIRED", "FIRES", "MISSED"};
    enum { NCOL = sizeof head / sizeof *head };
    size_t n = (size_t)cJSON_GetArraySize(triggers);
    const char **cells = calloc(n * NCOL + 1, sizeof *cells);
    char (*nums)[2][24] = calloc(n + 1, sizeof *nums);
    if (!cells || !nums) abort();
    size_t r = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, triggers) {
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(t, "Enabled");
        snprintf(nums[r][0], sizeof nums[r][0], "%.0f", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(t, "Fires")));
        snprintf(nums[r][1], sizeof nums[r][1], "%.0f", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(t, "Missed")));
        const char **row = &cells[r * NCOL];
        row[0] = str_of(t, "Name");
        row[1] = str_of(t, "ScheduleExpression");
        row[2] = str_of(t, "Timezone");
        row[3] = str_of(t, "Format");
        row[4] = cJSON_IsTrue(en) ? "yes" : "no";
        row[5] = str_of(t, "NextSlot");
        row[6] = str_of(t, "LastFiredSlot");
        row[7] = nums[r][0];
        row[8] = nums[r][1];
        r++;
    }
    cli_table_print(stdout, head, NCOL, cells, r);
    free(cells);
    free(nums);
}

int cli_cmd_trigger(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val, *verb = NULL, *fn = NULL, *trig = NULL;
    const char *opt_val[TOPT_JSON + 1] = {0};
    bool disabled = false, json = false;
    for (;;) {
        int opt = cli_args_next(ctx, &a, trigger_opts, &val, err);
        if (opt == CLI_ARG_END) break;
        switch (opt) {
        case CLI_ARG_ERROR: return -1;
        case CLI_ARG_HELP: cli_usage_trigger(stdout); return 0;
        case CLI_ARG_POSITIONAL:
            if (!verb) verb = val;
            else if (!fn) fn = val;
            else if (!trig) trig = val;
            else return cli_usage_fail(ctx, err, "unexpected argument '%s'", val);
            break;
        case TOPT_DISABLED: disabled = true; break;
        case TOPT_JSON: json = true; ctx->output = CLI_OUTPUT_JSON; break;
        default:
            if (opt < 0 || opt > TOPT_QUALIFIER) return cli_usage_fail(ctx, err, "internal: unhandled option");
            opt_val[opt] = val;
        }
    }
    static const char *const verbs[] = {"add", "list", "enable", "disable", "rm", NULL};
    int v = cli_action(ctx, verb, verbs, err);
    if (v < 0) return -1;
    bool add = v == 0, list = v == 1, enable = v == 2, disable = v == 3, rm = v == 4;
    if (!fn || !fn[0]) return cli_usage_fail(ctx, err, "missing NAME (the function)");
    bool any_add_opt = disabled;
    for (int i = 0; i <= TOPT_QUALIFIER; i++) any_add_opt = any_add_opt || opt_val[i];
    if (!add && any_add_opt) return cli_usage_fail(ctx, err, "--schedule, --name, --payload, --format, --timezone, "
                                                             "--qualifier and --disabled are for add");
    if (!list && json) return cli_usage_fail(ctx, err, "--json is for list");
    if ((add || list) && trig) return cli_usage_fail(ctx, err, "unexpected argument '%s'", trig);
    if ((rm || enable || disable) && (!trig || !trig[0])) return cli_usage_fail(ctx, err, "missing T (the trigger)");
    if (add && (!opt_val[TOPT_SCHEDULE] || !opt_val[TOPT_SCHEDULE][0]))
        return cli_usage_fail(ctx, err, "add needs --schedule EXPR");

    buf_t p = {0};
    trigger_path(&p, fn, add || list ? NULL : trig);
    int rc = -1;
    if (list) {
        cli_req_t req = {.method = "GET", .path = p.data};
        cJSON *j = cli_request_json(ctx, &req, err);
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "Triggers");
        if (j && !cJSON_IsArray(arr)) {
            err_set(err, ERR_INTERNAL, "the server's answer has no Triggers list");
        } else if (j) {
            if (cli_json_out(ctx)) cli_print_json(arr);
            else list_table(arr);
            rc = 0;
        }
        cJSON_Delete(j);
        buf_free(&p);
        return rc;
    }
    if (rm) {
        if (cli_send_ok(ctx, "DELETE", p.data, err) == 0) {
            if (cli_json_out(ctx)) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "Name", trig);
                cJSON_AddBoolToObject(o, "Removed", true);
                cli_print_json(o);
                cJSON_Delete(o);
            } else {
                printf("removed %s\n", trig);
            }
            rc = 0;
        }
        buf_free(&p);
        return rc;
    }
    cJSON *body = cJSON_CreateObject();
    if (add) {
        static const char *const keys[] = {[TOPT_SCHEDULE] = "ScheduleExpression", [TOPT_NAME] = "Name",
                                           [TOPT_PAYLOAD] = "Payload", [TOPT_FORMAT] = "Format",
                                           [TOPT_TIMEZONE] = "Timezone", [TOPT_QUALIFIER] = "Qualifier"};
        for (int i = 0; i <= TOPT_QUALIFIER; i++)
            if (opt_val[i]) cJSON_AddStringToObject(body, keys[i], opt_val[i]);
        if (disabled) cJSON_AddFalseToObject(body, "Enabled");
    } else {
        cJSON_AddBoolToObject(body, "Enabled", enable);
    }
    cJSON *j = cli_send_json(ctx, add ? "POST" : "PATCH", p.data, body, err);
    if (j) {
        if (cli_json_out(ctx)) cli_print_json(j);
        else if (add) printf("%s\n", str_of(j, "Name"));
        else printf("%s %s\n", enable ? "enabled" : "disabled", trig);
        rc = 0;
    }
    cJSON_Delete(j);
    cJSON_Delete(body);
    buf_free(&p);
    return rc;
}
