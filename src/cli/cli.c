/* cli.c — the client's edge: subcommand dispatch, the option parser every
 * subcommand shares, help texts, and the one place where an err_t becomes a
 * line on stderr and an exit code.
 *
 * Must never: print anything from helpers (only cli_main prints errors), exit
 * the process (main.c owns that), or know the wire format of a subcommand.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

typedef struct {
    const char *name;
    int (*run)(cli_ctx_t *ctx, int argc, char **argv, err_t *err);
    void (*usage)(FILE *out);
} cli_command_t;

#ifndef NIMBUS_VERSION
#error "NIMBUS_VERSION comes from CMakeLists.txt's project(VERSION)"
#endif

const char *cli_version(void)
{
    return NIMBUS_VERSION;
}

static const cli_command_t cli_commands[] = {
    {"deploy", cli_cmd_deploy, cli_usage_deploy},
    {"invoke", cli_cmd_invoke, cli_usage_invoke},
    {"list", cli_cmd_list, cli_usage_list},
    {"get", cli_cmd_get, cli_usage_get},
    {"delete", cli_cmd_delete, cli_usage_delete},
    {"logs", cli_cmd_logs, cli_usage_logs},
    {"init", cli_cmd_init, cli_usage_init},
    {"instances", cli_cmd_instances, cli_usage_instances},
    {"exec", cli_cmd_exec, cli_usage_exec},
    {"events", cli_cmd_events, cli_usage_events},
    {"dlq", cli_cmd_dlq, cli_usage_dlq},
    {"trigger", cli_cmd_trigger, cli_usage_trigger},
    {"url", cli_cmd_url, cli_usage_url},
    {"layer", cli_cmd_layer, cli_usage_layer},
    {"version", cli_cmd_version, cli_usage_version},
    {"alias", cli_cmd_alias, cli_usage_alias},
    {"concurrency", cli_cmd_concurrency, cli_usage_concurrency},
    {"provisioned", cli_cmd_provisioned, cli_usage_provisioned},
};

static const cli_command_t *cli_find_command(const char *name)
{
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
        if (strcmp(cli_commands[i].name, name) == 0) return &cli_commands[i];
    return NULL;
}

/* The options the parser takes for every command, after each command's own. */
static void cli_usage_global(FILE *out)
{
    fputs("\n"
          "Global options (every command but serve):\n"
          "  --endpoint URL     the Nimbus API: this flag, else $" CLI_ENDPOINT_ENV ", else the\n"
          "                     profile's endpoint, else " CLI_DEFAULT_ENDPOINT "\n"
          "  --ca-cert FILE     trust the PEM certificates in FILE for an https endpoint:\n"
          "                     this flag, else $" CLI_CA_CERT_ENV ", else the profile's ca_cert,\n"
          "                     else the system's\n"
          "  --profile NAME     a profile of the configuration file (default $" CLI_PROFILE_ENV ",\n"
          "                     else 'default'): ~/.config/nimbus/config or $" CLI_CONFIG_ENV "\n"
          "  -o, --output FMT   json (two-blank indented; one object per line for logs)\n"
          "                     or table (the default)\n"
          "  -h, --help         show the command's usage\n",
          out);
}

void cli_usage(FILE *out)
{
    fputs("Usage: nimbus <command> [arguments] [options]\n"
          "\n"
          "Nimbus runs AWS Lambda-compatible functions on this machine.\n"
          "\n"
          "Commands:\n"
          "  serve [--listen HOST:PORT] [--data-dir DIR]\n"
          "        run the platform: the Lambda API and the function instances\n"
          "  init NAME --template ",
          out);
    cli_init_template_names(out, "|");
    fputs(" [--dir DIR]\n"
          "        create a function from a template, ready to deploy\n"
          "  deploy NAME DIR|ZIP [--runtime R --handler H] [--memory MB] [--timeout S]\n"
          "         [--env K=V]... [--env-unset K]... [--layer ARN]... [--url] [...]\n"
          "        create a function, or update its code (and the settings given)\n"
          "  invoke NAME [--payload JSON|@FILE|-] [--log] [--qualifier Q] [--dry-run]\n"
          "        call a function and print its result\n"
          "  invoke NAME --async [--payload JSON|@FILE|-] [--idempotency-key K]\n"
          "        queue an event for the function and print its request id\n"
          "  list\n"
          "        list functions\n"
          "  get NAME\n"
          "        show a function's configuration\n"
          "  delete NAME\n"
          "        delete a function\n"
          "  logs NAME [--request-id ID] [--since WHEN] [--tail N] [--follow] [--limit N]\n"
          "        print a function's log lines, each with its time (UTC)\n"
          "  instances NAME\n"
          "        list a function's live instances\n"
          "  exec NAME [--instance ID] [--timeout S] -- CMD [ARG...]\n"
          "        run a command inside one of a function's instances\n"
          "  events NAME [--state S] | events NAME ID | events cancel NAME ID\n"
          "        list a function's asynchronous events, show one, or cancel a queued one\n"
          "  dlq list NAME | dlq redrive NAME [--id ID] | dlq purge NAME\n"
          "        a function's dead letters: list them, run them again, or forget them\n"
          "  trigger add NAME --schedule EXPR [--name T] [--payload STR] [--format F] [--timezone TZ]\n"
          "  trigger list NAME | trigger enable|disable|rm NAME T\n"
          "        a function's timer triggers: each slot of the schedule is an asynchronous call\n"
          "  url create|get|delete NAME [--qualifier ALIAS]\n"
          "        a function's URL: an HTTP endpoint that calls it (payload format 2.0)\n"
          "  layer publish NAME DIR|ZIP [--runtime R]... | layer list [NAME]\n"
          "  layer rm NAME VERSION\n"
          "        Lambda layers: code functions share at /opt (deploy --layer ARN)\n"
          "  version publish NAME [--description TEXT] | version list NAME\n"
          "        a function's published versions: frozen copies of its code and settings\n"
          "  alias create NAME ALIAS --version V [--weight V2=W]... [--description TEXT]\n"
          "  alias update NAME ALIAS [--version V] [--weight V2=W]... [--no-weights]\n"
          "  alias list NAME | alias rm NAME ALIAS\n"
          "        names for versions, optionally splitting calls between two of them\n"
          "  concurrency set NAME N | concurrency rm NAME\n"
          "        a function's reserved concurrency\n"
          "  provisioned set NAME --qualifier Q N | provisioned rm NAME --qualifier Q\n"
          "  provisioned list NAME\n"
          "        instances of a version kept ready ahead of calls\n"
          "  help [COMMAND]\n"
          "        show this text or a command's usage\n"
          "\n"
          "  nimbus --version (-V) prints the version. 'nimbus COMMAND --help' lists a\n"
          "  command's options.\n",
          out);
    cli_usage_global(out);
}

/* ---- option parsing ---------------------------------------------------- */

void cli_args_init(cli_args_t *a, int argc, char **argv)
{
    a->argc = argc;
    a->argv = argv;
    a->next = 1;
    a->only_positional = false;
    a->nshort = 0;
}

void cli_args_short(cli_args_t *a, char c, int index)
{
    if (a->nshort == (int)sizeof a->short_name) abort();   /* a bug in the caller */
    a->short_name[a->nshort] = c;
    a->short_index[a->nshort++] = index;
}

int cli_usage_fail(cli_ctx_t *ctx, err_t *err, const char *fmt, ...)
{
    ctx->usage_error = true;
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = ERR_INVALID;
    err->sys_errno = 0;
    return -1;
}

int cli_args_next(cli_ctx_t *ctx, cli_args_t *a, const cli_opt_t *opts, const char **val,
                  err_t *err)
{
    *val = NULL;
    if (a->next >= a->argc) return CLI_ARG_END;
    const char *arg = a->argv[a->next++];

    if (a->only_positional || arg[0] != '-' || arg[1] == '\0') {
        *val = arg;   /* "-" alone is a positional (stdin) */
        return CLI_ARG_POSITIONAL;
    }
    if (strcmp(arg, "--") == 0) {
        a->only_positional = true;
        return cli_args_next(ctx, a, opts, val, err);
    }
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        ctx->help_shown = true;   /* cli_main adds the global options after the command's */
        return CLI_ARG_HELP;
    }
    if (strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0 || strncmp(arg, "--output=", 9) == 0) {
        const char *v = strncmp(arg, "--output=", 9) == 0 ? arg + 9 : NULL;
        if (!v && a->next < a->argc) v = a->argv[a->next++];
        if (!v || (strcmp(v, "json") != 0 && strcmp(v, "table") != 0)) {
            cli_usage_fail(ctx, err, "--output is json or table%s%s%s", v ? ", not '" : "", v ? v : "", v ? "'" : "");
            return CLI_ARG_ERROR;
        }
        ctx->output = strcmp(v, "json") == 0 ? CLI_OUTPUT_JSON : CLI_OUTPUT_TABLE;
        return cli_args_next(ctx, a, opts, val, err);
    }
    if (arg[1] != '-') {
        /* A one-letter alias of an option ("-t" for --template). */
        int si = -1;
        for (int i = 0; arg[2] == '\0' && i < a->nshort && si < 0; i++)
            if (a->short_name[i] == arg[1]) si = a->short_index[i];
        if (si < 0) {
            cli_usage_fail(ctx, err, "unknown option %s", arg);
            return CLI_ARG_ERROR;
        }
        if (!opts[si].has_arg) return si;
        if (a->next >= a->argc) {
            cli_usage_fail(ctx, err, "option %s needs a value", arg);
            return CLI_ARG_ERROR;
        }
        *val = a->argv[a->next++];
        return si;
    }

    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t name_len = eq ? (size_t)(eq - name) : strlen(name);

    bool is_endpoint = name_len == 8 && strncmp(name, "endpoint", 8) == 0;
    bool is_profile = name_len == 7 && strncmp(name, "profile", 7) == 0;
    bool is_ca_cert = name_len == 7 && strncmp(name, "ca-cert", 7) == 0;
    bool is_global = is_endpoint || is_profile || is_ca_cert;
    int index = -1;
    for (int i = 0; !is_global && opts && opts[i].name; i++) {
        if (strlen(opts[i].name) == name_len && strncmp(opts[i].name, name, name_len) == 0) {
            index = i;
            break;
        }
    }
    if (!is_global && index < 0) {
        cli_usage_fail(ctx, err, "unknown option --%.*s", (int)name_len, name);
        return CLI_ARG_ERROR;
    }

    bool has_arg = is_global || opts[index].has_arg;
    if (!has_arg) {
        if (eq) {
            cli_usage_fail(ctx, err, "option --%.*s takes no value", (int)name_len, name);
            return CLI_ARG_ERROR;
        }
        return index;
    }
    if (eq) {
        *val = eq + 1;
    } else if (a->next < a->argc) {
        /* The value is taken as is even when it starts with '-': "--payload -". */
        *val = a->argv[a->next++];
    } else {
        cli_usage_fail(ctx, err, "option --%.*s needs a value", (int)name_len, name);
        return CLI_ARG_ERROR;
    }
    if (is_endpoint) {
        if (**val == '\0') {
            cli_usage_fail(ctx, err, "--endpoint needs a URL");
            return CLI_ARG_ERROR;
        }
        ctx->endpoint_flag = *val;
        return cli_args_next(ctx, a, opts, val, err);
    }
    if (is_ca_cert) {
        if (**val == '\0') {
            cli_usage_fail(ctx, err, "--ca-cert needs a file");
            return CLI_ARG_ERROR;
        }
        ctx->ca_cert_flag = *val;
        return cli_args_next(ctx, a, opts, val, err);
    }
    if (is_profile) {
        if (**val == '\0') {
            cli_usage_fail(ctx, err, "--profile needs a name");
            return CLI_ARG_ERROR;
        }
        ctx->profile_flag = *val;
        return cli_args_next(ctx, a, opts, val, err);
    }
    return index;
}

int cli_parse_long(cli_ctx_t *ctx, const char *what, const char *s, long min, long max,
                   long *out, err_t *err)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno == ERANGE || v < min || v > max ||
        !(s[0] >= '0' && s[0] <= '9'))
        return cli_usage_fail(ctx, err, "%s must be a whole number from %ld to %ld, not '%s'",
                              what, min, max, s);
    *out = v;
    return 0;
}

/* ---- small shared helpers ---------------------------------------------- */

int cli_read_file(const char *path, buf_t *out, err_t *err)
{
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return err_sys(err, "%s", path);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            err_sys(err, "read %s", is_stdin ? "stdin" : path);
            if (!is_stdin) close(fd);
            return -1;
        }
        if (n == 0) break;
        buf_append(out, chunk, (size_t)n);
    }
    if (!is_stdin) close(fd);
    if (!out->data) buf_append(out, "", 0);   /* an empty file is still a body */
    return 0;
}

static volatile sig_atomic_t cli_sigint_seen;

static void cli_on_sigint(int sig)
{
    (void)sig;
    cli_sigint_seen = 1;
}

void cli_catch_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cli_on_sigint;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: the poll sleep must wake up at once. */
    sigaction(SIGINT, &sa, NULL);
}

bool cli_interrupted(void)
{
    return cli_sigint_seen != 0;
}

/* ---- the edge ----------------------------------------------------------- */

static int cli_help(int argc, char **argv)
{
    if (argc < 2) {
        cli_usage(stdout);
        return 0;
    }
    /* The generators of the man page and the completions (packaging/)
     * read every command's help through this list. */
    if (strcmp(argv[1], "--commands") == 0) {
        puts("serve");
        for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++) puts(cli_commands[i].name);
        return 0;
    }
    const cli_command_t *c = cli_find_command(argv[1]);
    if (!c) {
        if (strcmp(argv[1], "serve") == 0 || strcmp(argv[1], "help") == 0) {
            cli_usage(stdout);
            return 0;
        }
        fprintf(stderr, "nimbus help: unknown command '%s' (see 'nimbus --help')\n", argv[1]);
        return 2;
    }
    c->usage(stdout);
    cli_usage_global(stdout);
    return 0;
}

int cli_main(int argc, char **argv)
{
    if (argc < 1 || !argv || !argv[0]) {
        cli_usage(stderr);
        return 2;
    }
    if (strcmp(argv[0], "help") == 0) return cli_help(argc, argv);
    const cli_command_t *c = cli_find_command(argv[0]);
    if (!c) {
        fprintf(stderr, "nimbus: unknown command '%s' (see 'nimbus --help')\n", argv[0]);
        return 2;
    }

    /* The endpoint is chosen at the first request (cli_ctx_resolve), once
     * --endpoint and --profile, wherever they are, have been seen. */
    cli_ctx_t ctx = {
        .cmd = c->name,
        .endpoint = CLI_DEFAULT_ENDPOINT,
    };
    err_t err;
    err_clear(&err);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "nimbus %s: cannot initialise libcurl\n", ctx.cmd);
        return 1;
    }
    int rc = c->run(&ctx, argc, argv, &err);
    cli_http_close(&ctx);
    curl_global_cleanup();
    cli_profile_free(&ctx.profile);
    if (ctx.help_shown && rc == 0) cli_usage_global(stdout);

    /* A full disk or a closed pipe must not pass for success. */
    if (fflush(stdout) != 0 && rc >= 0) {
        err_sys(&err, "write to stdout");
        rc = -1;
    }
    if (rc >= 0) return rc;
    if (ctx.usage_error) {
        fprintf(stderr, "nimbus %s: %s (see 'nimbus %s --help')\n", ctx.cmd, err.msg, ctx.cmd);
        return 2;
    }
    fprintf(stderr, "nimbus %s: %s\n", ctx.cmd, err.msg);
    return 1;
}
