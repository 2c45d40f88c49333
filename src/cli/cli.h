/* cli.h — the `nimbus` command-line client: every subcommand except `serve`.
 *
 * Each subcommand is a thin client of the daemon's HTTP API (the Lambda REST
 * API, /2015-03-31/..., plus /nimbus/v1/... for logs). The CLI owns flag
 * parsing, packaging a directory as a ZIP, and turning one HTTP exchange
 * into output. Errors travel as err_t up to cli_main, which prints exactly
 * one line `nimbus <cmd>: <message>` on stderr and returns the exit code:
 * 0 success, 1 failure, 2 bad command line.
 *
 * The first part of this header is the contract with src/main.c and the unit
 * tests; the second part is shared only between the src/cli/ files files.
 */
#ifndef NIMBUS_CLI_H
#define NIMBUS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "base/util.h"

#define CLI_DEFAULT_ENDPOINT "http://127.0.0.1:8080"
#define CLI_ENDPOINT_ENV "NIMBUS_ENDPOINT"
#define CLI_CA_CERT_ENV "NIMBUS_CA_CERT"   /* PEM file of CAs for an https endpoint */
#define CLI_PROFILE_ENV "NIMBUS_PROFILE"
#define CLI_CONFIG_ENV "NIMBUS_CONFIG"

/* The version of this build (CMake's project version), for --version. */
const char *cli_version(void);

/* Run one client subcommand; argv[0] is the subcommand name ("deploy",
 * "invoke", "list", "get", "delete", "logs", "init", "events", "dlq", ... or "help"). Returns the process
 * exit code. Prints only the command's output and at most one error line. */
int cli_main(int argc, char **argv);

/* `nimbus --help`: the list of all subcommands, `serve` included. */
void cli_usage(FILE *out);

/* Zip the tree under `dir` into `out` (appended), in memory. Entry names are
 * relative to `dir` ("bootstrap", "lib/x.py", "lib/" for directories),
 * sorted, dotfiles included; unix permission bits and mtimes are kept;
 * symlinks are stored as symlinks and never followed (only `dir` itself may
 * be a symlink). FIFOs, sockets and devices are refused with ERR_ZIP. */
int cli_zip_dir(const char *dir, buf_t *out, err_t *err);

/* Text helpers of `nimbus events` and `nimbus dlq` (pure, unit-tested). */
/* A state the events API knows: queued, running, retrying, succeeded,
 * failed, dead, cancelled. */
bool cli_event_state_ok(const char *s);
/* 1..max visible ASCII characters (no blanks, no control characters): a
 * value safe to send as one header, such as an idempotency key. */
bool cli_header_value_ok(const char *s, size_t max);
/* An age for a table: "42s", "3m05s", "2h10m", "4d03h" (negative: "0s"). */
void cli_format_age(int64_t ms, char *out, size_t cap);
/* `s` as one table cell: control characters become blanks, at most `max`
 * bytes kept without cutting a UTF-8 sequence, "..." appended when
 * clipped; never more than cap - 1 bytes. */
void cli_clip(const char *s, size_t max, char *out, size_t cap);
/* Columns aligned two blanks apart, the last one unpadded; `cells` is
 * nrow * ncol strings, row after row (ncol <= 16). */
void cli_table_print(FILE *out, const char *const *head, size_t ncol, const char *const *cells,
                     size_t nrow);
/* The events API's event objects as a table at `now_ms` (wall clock):
 * REQUEST ID, STATE (with_state), ATTEMPTS, AGE, LAST ERROR. */
void cli_events_table(FILE *out, const cJSON *events, int64_t now_ms, bool with_state);
/* One event (GET .../events/ID) as labelled lines, then its attempts. */
void cli_event_show(FILE *out, const cJSON *ev, int64_t now_ms);

/* `j` as JSON text indented by two blanks per level (malloc'd), no final
 * newline; pure, so the unit tests check it. */
char *cli_json_text(const cJSON *j);

/* One profile of the client's configuration file (cli_profile.c). */
typedef struct {
    char *endpoint;            /* endpoint = URL, or NULL */
    char *access_key_id;       /* what requests are signed with (cli_sign.c) */
    char *secret_access_key;
    char *region;
    char *ca_cert;             /* ca_cert = FILE (AWS CLI: ca_bundle), or NULL */
    bool found;                /* the file has a section for the profile */
} cli_profile_t;

/* The configuration file: $NIMBUS_CONFIG, else $XDG_CONFIG_HOME/nimbus/config,
 * else $HOME/.config/nimbus/config (malloc'd; NULL when none can be named). */
char *cli_config_path(void);
/* Read profile `name` from the INI text `text` ([default], [profile NAME]
 * or [NAME]; key = value; # and ; comments). `where` names the text in
 * errors ("FILE:LINE: ..."). */
int cli_profile_parse(const char *text, const char *where, const char *name, cli_profile_t *out, err_t *err);
/* Read profile `name` from the file at `path`; a missing file is no
 * profile (found false), not an error. */
int cli_profile_load(const char *path, const char *name, cli_profile_t *out, err_t *err);
void cli_profile_free(cli_profile_t *p);

/* ---- shared between src/cli/ files ---------------------------------------- */

/* --output (-o): how a command that prints data prints it. */
typedef enum { CLI_OUTPUT_TABLE, CLI_OUTPUT_JSON } cli_output_t;

typedef struct cli_ctx {
    const char *cmd;          /* subcommand name, prefixes every error line */
    cli_output_t output;      /* --output table|json (every subcommand; default table) */
    const char *endpoint;     /* base URL: --endpoint, else $NIMBUS_ENDPOINT, else the
                                 profile's, else the default (set by cli_ctx_resolve) */
    const char *endpoint_flag; /* --endpoint, or NULL */
    const char *ca_cert;      /* PEM file of CAs to trust for https: --ca-cert, else
                                 $NIMBUS_CA_CERT, else the profile's; NULL: the system's */
    const char *ca_cert_flag; /* --ca-cert, or NULL */
    const char *profile_flag; /* --profile, or NULL */
    bool resolved;            /* cli_ctx_resolve ran */
    cli_profile_t profile;    /* the chosen profile (its keys sign the requests) */
    bool usage_error;         /* the failure is the caller's command line: exit 2 */
    bool help_shown;          /* --help was given: the command printed its usage */
    void *curl;               /* CURL easy handle, created on first request and
                                 reused so --follow keeps its connection */
} cli_ctx_t;

/* One option a subcommand accepts. --endpoint, --profile, --output/-o and
 * --help/-h are handled by the parser itself for every subcommand. */
typedef struct {
    const char *name;         /* long name without "--"; NULL ends a table */
    bool has_arg;             /* takes a value: "--name V" or "--name=V" */
} cli_opt_t;

typedef struct {
    int argc;
    char **argv;
    int next;                 /* index of the next argv element to look at */
    bool only_positional;     /* seen "--" */
    char short_name[4];       /* one-letter aliases ("-t"), see cli_args_short */
    int short_index[4];
    int nshort;
} cli_args_t;

enum {
    CLI_ARG_END = -1,         /* nothing left */
    CLI_ARG_ERROR = -2,       /* err is set (usage error) */
    CLI_ARG_POSITIONAL = -3,  /* *val is a positional argument */
    CLI_ARG_HELP = -4,        /* --help or -h */
};

/* argv[0] is the subcommand name and is skipped. */
void cli_args_init(cli_args_t *a, int argc, char **argv);
/* "-c" is another name of option `index` of the table (at most 4 aliases). */
void cli_args_short(cli_args_t *a, char c, int index);
/* Next option (its index in `opts`, with *val its value or NULL), or one of
 * the CLI_ARG_* values. Options and positionals may be interleaved. */
int cli_args_next(cli_ctx_t *ctx, cli_args_t *a, const cli_opt_t *opts, const char **val,
                  err_t *err);

/* Record a command-line mistake: sets err (ERR_INVALID) and ctx->usage_error
 * so the edge exits 2 and points at `--help`. Returns -1. */
int cli_usage_fail(cli_ctx_t *ctx, err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Strict decimal integer in [min, max] for option `what`; usage error else. */
int cli_parse_long(cli_ctx_t *ctx, const char *what, const char *s, long min, long max,
                   long *out, err_t *err);

/* Read a whole file ("-" = stdin), binary-safe, appended to `out`. */
int cli_read_file(const char *path, buf_t *out, err_t *err);

/* Set by SIGINT once cli_catch_sigint() has been called; an HTTP request in
 * progress is then abandoned (cli_http answers ERR_INTERNAL "interrupted"). */
void cli_catch_sigint(void);
bool cli_interrupted(void);

/* One HTTP request to the daemon. */
typedef struct {
    const char *method;       /* "GET", "POST", "PUT", "DELETE" */
    const char *path;         /* already escaped, with query string: "/2015-03-31/..." */
    const char *const *headers; /* NULL-terminated "Name: value" list, or NULL */
    const void *body;         /* request body or NULL */
    size_t body_len;
} cli_req_t;

typedef struct {
    long status;              /* HTTP status code */
    buf_t body;               /* response body, byte-exact */
    char error_type[128];     /* x-amzn-ErrorType without any ":..." suffix, or "" */
    char function_error[64];  /* X-Amz-Function-Error, or "" */
    char request_id[64];      /* x-amzn-RequestId, or "" */
    char executed_version[64]; /* X-Amz-Executed-Version, or "" */
    char content_type[128];   /* Content-Type, or "" */
    char *log_result;         /* X-Amz-Log-Result (base64), malloc'd, or NULL */
} cli_resp_t;

/* Pick the endpoint and profile (flag > environment > profile > default);
 * cli_http calls it before its first request. Fails for a --profile or
 * $NIMBUS_PROFILE the configuration file does not have. */
int cli_ctx_resolve(cli_ctx_t *ctx, err_t *err);

/* Send `req` and collect the answer, whatever its status. Fails when no
 * HTTP answer came: "cannot reach Nimbus at URL: <why> (is `nimbus serve`
 * running?)", or when the answer is not one Nimbus gives (no
 * x-amzn-RequestId, or a 404 without x-amzn-ErrorType): "URL is not a
 * Nimbus endpoint". Free `resp` with cli_resp_free even on failure. */
int cli_http(cli_ctx_t *ctx, const cli_req_t *req, cli_resp_t *resp, err_t *err);
/* The headers that sign `req` with SigV4 (Host, X-Amz-Date,
 * X-Amz-Content-Sha256, Authorization: "Name: value", malloc'd) into out:
 * their count, 0 when there are no keys to sign with (cli_sign.c). */
#define CLI_SIGN_HEADERS 4
int cli_sign(const cli_ctx_t *ctx, const cli_req_t *req, char *out[CLI_SIGN_HEADERS], err_t *err);
void cli_resp_free(cli_resp_t *resp);
/* 0 for a 2xx answer; otherwise fills err with "<ErrorType>: <Message>" from
 * the Lambda error header/body and returns -1. */
int cli_resp_check(const cli_resp_t *resp, err_t *err);
/* The body parsed as JSON (caller deletes), or NULL with err set. */
cJSON *cli_resp_json(const cli_resp_t *resp, err_t *err);
/* One request whose answer must be 2xx JSON: the parsed document, or NULL
 * with err set (unreachable, an API error, or not JSON). */
cJSON *cli_request_json(cli_ctx_t *ctx, const cli_req_t *req, err_t *err);
/* Percent-encode one path segment or query value (everything but
 * unreserved characters). malloc'd; aborts on out-of-memory. */
char *cli_escape(const char *s);
/* Free the CURL handle kept in ctx. */
void cli_http_close(cli_ctx_t *ctx);
/* How an API pages: the query parameters for the page size and for where
 * to continue (the previous page's NextMarker), and the page size. */
typedef struct {
    const char *limit_param;    /* "limit" (Nimbus) or "MaxItems" (Lambda) */
    const char *marker_param;   /* "after" (Nimbus) or "Marker" (Lambda) */
    size_t page;                /* items asked for per page */
} cli_paging_t;
extern const cli_paging_t CLI_PAGING_NIMBUS, CLI_PAGING_LAMBDA;
/* GET `path` page after page and move the items of each page's `key` array
 * into `all`, at most `max` (0: all). */
int cli_fetch_pages(cli_ctx_t *ctx, const char *path, const char *key, const cli_paging_t *paging, size_t max,
                    cJSON *all, err_t *err);
/* Wall clock in ms (the API's CreatedMs are wall clock too). */
int64_t cli_now_ms(void);
/* `j` indented by two blanks, and a newline, on stdout. */
void cli_print_json(const cJSON *j);
/* `j` on one line, and a newline, on stdout: one item of a stream
 * (`nimbus logs --output json`). */
void cli_print_json_line(const cJSON *j);
/* True when the command's data goes out as JSON (--output json, --json). */
static inline bool cli_json_out(const cli_ctx_t *ctx) { return ctx->output == CLI_OUTPUT_JSON; }

/* ---- what the resource subcommands share (cli_common.c) ---- */
/* The index of `word` in the NULL-terminated `verbs`, or a usage error
 * "expected a, b or c[, not WORD]" (-1). */
int cli_verb(cli_ctx_t *ctx, const char *word, const char *const *verbs, err_t *err);
/* The same, with "missing a, b or c" for no word and "unknown action
 * 'WORD': a, b or c" for another. */
int cli_action(cli_ctx_t *ctx, const char *word, const char *const *verbs, err_t *err);
/* Append `fmt` (with one %s) to `p`, `name` percent-encoded into it. */
void cli_path_add(buf_t *p, const char *fmt, const char *name);
/* One request with `body` as JSON (none when NULL) whose answer must be
 * 2xx JSON: the parsed answer (caller deletes), or NULL with err set. */
cJSON *cli_send_json(cli_ctx_t *ctx, const char *method, const char *path, const cJSON *body, err_t *err);
/* One request without a body whose answer only has to be 2xx. */
int cli_send_ok(cli_ctx_t *ctx, const char *method, const char *path, err_t *err);
/* A string member of `o`, "" when it is missing or not a string. */
const char *cli_str(const cJSON *o, const char *key);
/* One table cell of cli_list_print. */
enum { CLI_CELL = 256 };
/* Fill the ncol cells of the table row of `item`. */
typedef void (*cli_row_fn)(const cJSON *item, char (*cells)[CLI_CELL], const void *arg);
/* GET the Lambda-paged list at `path`, every page, and print its `key`
 * items: as {"key": [...]} with `json`, else as a table of `head`. */
int cli_list_print(cli_ctx_t *ctx, const char *path, const char *key, bool json, const char *const *head,
                   size_t ncol, cli_row_fn row, const void *arg, err_t *err);

/* Subcommands: parse argv, act, print. Return the exit code when there is
 * nothing left to print (0, or 1 after invoke printed a function error), or
 * -1 with err set (ctx->usage_error marks command-line mistakes). */
int cli_cmd_deploy(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_invoke(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_list(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_get(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_delete(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_logs(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
/* `init` scaffolds a function from a template; it never calls the daemon. */
int cli_cmd_init(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
/* The template names, from cli_init.c's table, joined by `sep`. */
void cli_init_template_names(FILE *out, const char *sep);
int cli_cmd_instances(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_exec(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_events(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_dlq(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_trigger(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_url(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_layer(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_version(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_alias(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_concurrency(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
int cli_cmd_provisioned(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
/* A deployment package (a function's or a layer's) as ZIP bytes: a
 * directory zipped, or a .zip file as it is. */
int cli_load_package(const char *path, buf_t *zip, err_t *err);
/* The function's URL (of $LATEST), made with AuthType NONE when it has
 * none, printed as "url: <FunctionUrl>" (nimbus deploy --url). */
int cli_url_ensure(cli_ctx_t *ctx, const char *name, err_t *err);
/* The same URL, made if needed, returned (malloc'd) instead of printed. */
char *cli_url_ensure_get(cli_ctx_t *ctx, const char *name, err_t *err);

/* ---- project files: `nimbus deploy` with no NAME (cli_yaml.c, cli_project*.c) ---- */

/* YAML text as a JSON document (see cli_yaml.c for the mapping); NULL with
 * err "line N: <problem>" on a syntax error. */
cJSON *cli_yaml_parse(const char *text, size_t len, err_t *err);

/* What a template's translation needs besides the document. */
typedef struct {
    const char *dir;          /* the template's directory: code paths are relative to it */
    const char *region;       /* AWS::Region, or NULL when unknown */
    const char *account;      /* AWS::AccountId, or NULL when unknown */
    cJSON *warnings;          /* array: each "<Resource>.<Prop>: <why>" line is appended */
} cli_plan_env_t;

/* A template as a plan, the one shape both formats translate to:
 * {"Layers":[{"Logical","LayerName","Content","Publish":{...}}],
 *  "Functions":[{"Logical","FunctionName","Code","Bootstrap"?,"Config":{...},
 *   "ReservedConcurrentExecutions"?,"AutoPublishAlias"?,"ProvisionedConcurrentExecutions"?,
 *   "Url"?,"Triggers":[...]}]}.
 * Config holds every setting a template governs (unset ones at their
 * defaults), Layers entries are ARNs or {"Ref":"<layer's Logical>"}. Pure:
 * no I/O. NULL with err set for a template error. */
cJSON *cli_project_sam(const cJSON *doc, cli_plan_env_t *env, err_t *err);
cJSON *cli_project_fc(const cJSON *doc, cli_plan_env_t *env, err_t *err);
/* SAM (Transform/Resources) or Serverless Devs (resources/services), by
 * the document's own keys. */
cJSON *cli_project_plan(const cJSON *doc, cli_plan_env_t *env, err_t *err);
/* Append "<res>.<prop>: not supported by Nimbus, ignored" to env->warnings. */
void cli_project_unsupported(cli_plan_env_t *env, const char *res, const char *prop);
void cli_project_warnf(cli_plan_env_t *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* `path` relative to env->dir (kept when absolute), malloc'd. */
char *cli_project_path(const cli_plan_env_t *env, const char *path);
/* `nimbus deploy [--template FILE]`: read, plan, then create or update what
 * changed, one line per layer and function. */
int cli_project_deploy(cli_ctx_t *ctx, const char *template_path, err_t *err);

/* Per-subcommand usage text (for --help and `nimbus help CMD`). */
void cli_usage_deploy(FILE *out);
void cli_usage_invoke(FILE *out);
void cli_usage_list(FILE *out);
void cli_usage_get(FILE *out);
void cli_usage_delete(FILE *out);
void cli_usage_logs(FILE *out);
void cli_usage_init(FILE *out);
void cli_usage_instances(FILE *out);
void cli_usage_exec(FILE *out);
void cli_usage_events(FILE *out);
void cli_usage_dlq(FILE *out);
void cli_usage_trigger(FILE *out);
void cli_usage_url(FILE *out);
void cli_usage_layer(FILE *out);
void cli_usage_version(FILE *out);
void cli_usage_alias(FILE *out);
void cli_usage_concurrency(FILE *out);
void cli_usage_provisioned(FILE *out);

#endif
