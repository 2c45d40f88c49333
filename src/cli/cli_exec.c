/* cli_exec.c — `nimbus exec NAME [ID] [-i] [-t] [--timeout S] -- CMD...`:
 * run CMD inside a live instance of NAME, relay its output, and (when
 * stdin is not a terminal, or with -i) our stdin to it; with -t on a
 * terminal of the instance, ours in raw mode meanwhile (restored at every
 * exit and on the signals that end us) and its size following ours.
 * Exits with the command's exit code, 124 when --timeout ended it.
 *
 * Two threads: this one long-polls the output; a second reads stdin and
 * posts it (and, with -t, each new window size), with its own connection.
 * Must never: leave the user's terminal in raw mode.
 */
#define _GNU_SOURCE
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define EXIT_TIMEOUT 124   /* timeout(1)'s */

void cli_usage_exec(FILE *out)
{
    fputs("Usage: nimbus exec NAME [ID] [-i] [-t] [--timeout S] -- CMD [ARG...]\n"
          "\n"
          "Run CMD inside a live instance of function NAME: in its sandbox (namespaces,\n"
          "root, cgroup), as its user, in its working directory, with its environment.\n"
          "Prints the command's output (stdout and stderr) and exits with its code\n"
          "(127: no such command, 126: it could not be run, 124: --timeout ended it).\n"
          "Our stdin is the command's when it is not a terminal (a pipe, a file), or\n"
          "with -i; else the command reads an empty stdin.\n"
          "\n"
          "Options:\n"
          "  ID, --instance ID  which instance (see `nimbus instances NAME`); default:\n"
          "                     the most recently started ready one\n"
          "  -i, --interactive  pass stdin to the command even when it is a terminal\n"
          "  -t, --tty          run the command on a terminal inside the instance (needs\n"
          "                     a terminal here; -it for an interactive shell)\n"
          "  --timeout S        kill the command after S seconds (default 30, at most 3600)\n"
          "  -o, --output json  print {\"ExitCode\", \"Output\", \"TimedOut\"} once it ended\n"
          "  --endpoint URL     Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help         show this help\n"
          "\n"
          "Examples:\n"
          "  nimbus exec hello -- ls -l /var/task\n"
          "  echo hi | nimbus exec hello -- cat\n"
          "  nimbus exec hello -it -- sh\n",
          out);
}

/* ---- the user's terminal ---- */

static struct termios g_saved;
static volatile sig_atomic_t g_raw;   /* g_saved is to be put back */
static int g_winch[2] = { -1, -1 };   /* SIGWINCH -> the input thread */

static void term_restore(void)
{
    if (g_raw) {
        tcsetattr(STDIN_FILENO, TCSANOW, &g_saved);
        g_raw = 0;
    }
}

static void on_fatal(int sig)
{
    term_restore();   /* tcsetattr is async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_winch(int sig)
{
    (void)sig;
    int e = errno;
    if (write(g_winch[1], "w", 1) < 0) {}
    errno = e;
}

static int term_raw(err_t *err)
{
    if (tcgetattr(STDIN_FILENO, &g_saved) < 0) return err_sys(err, "the terminal");
    static const int fatal[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE };
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], on_fatal);
    atexit(term_restore);
    struct termios raw = g_saved;
    cfmakeraw(&raw);
    g_raw = 1;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0) {
        g_raw = 0;
        return err_sys(err, "the terminal");
    }
    return 0;
}

static void term_size(unsigned *rows, unsigned *cols)
{
    struct winsize ws = { 0 };
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col)
        ioctl(STDIN_FILENO, TIOCGWINSZ, &ws);
    *rows = ws.ws_row ? ws.ws_row : 24;
    *cols = ws.ws_col ? ws.ws_col : 80;
}

/* ---- input: stdin and window sizes, posted from a thread of its own ---- */

typedef struct {
    cli_ctx_t ctx;            /* a copy, with a connection of its own */
    char *stdin_path;         /* /nimbus/v1/execs/ID/stdin */
    char *resize_path;
    bool tty;
} input_t;

/* POST; false when the command takes no more (ended, or its stdin closed). */
static bool post(input_t *in, const char *path, const char *type, const char *body, size_t len)
{
    const char *hdrs[] = { type, NULL };
    cli_req_t req = { .method = "POST", .path = path, .headers = hdrs, .body = body, .body_len = len };
    cli_resp_t resp = { 0 };
    err_t err = { 0 };
    int rc = cli_http(&in->ctx, &req, &resp, &err);
    bool ok = rc == 0 && resp.status >= 200 && resp.status < 300;
    cli_resp_free(&resp);
    return ok;
}

static void post_size(input_t *in)
{
    unsigned rows, cols;
    term_size(&rows, &cols);
    char body[64];
    int n = snprintf(body, sizeof body, "{\"Rows\":%u,\"Columns\":%u}", rows, cols);
    post(in, in->resize_path, "Content-Type: application/json", body, (size_t)n);
}

static void *input_main(void *arg)
{
    input_t *in = arg;
    char buf[65536];
    bool reading = true;
    buf_t end = { 0 };
    buf_appendf(&end, "%s?end=true", in->stdin_path);
    while (reading || in->tty) {
        struct pollfd pf[2] = { { .fd = reading ? STDIN_FILENO : -1, .events = POLLIN },
                                { .fd = in->tty ? g_winch[0] : -1, .events = POLLIN } };
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pf[1].revents) {
            char w[64];
            if (read(g_winch[0], w, sizeof w) > 0) post_size(in);
        }
        if (!pf[0].revents) continue;
        ssize_t k = read(STDIN_FILENO, buf, sizeof buf);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        /* Our end of input is the command's (a terminal: what ^D types). */
        bool more = k > 0 ? post(in, in->stdin_path, "Content-Type: application/octet-stream", buf, (size_t)k)
                          : post(in, end.data, "Content-Type: application/octet-stream", "", 0);
        if (k <= 0 || !more) reading = false;
        if (!more && !in->tty) break;
    }
    buf_free(&end);
    return NULL;
}

/* ---- the command ---- */

typedef struct {
    const char *name, *instance;
    bool interactive, tty;
    long timeout;
    cJSON *cmd;
} exec_args_t;

/* -i, -t, -it and -ti are ours (the shared parser knows long options
 * only): taken out of argv before it, up to `--`. */
static int take_short_flags(int argc, char **argv, exec_args_t *x)
{
    int k = 0;
    bool dashdash = false;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!dashdash && strcmp(s, "--") == 0) dashdash = true;
        if (!dashdash && i > 0 && s[0] == '-' && s[1] && s[1] != '-' && strspn(s + 1, "it") == strlen(s + 1)) {
            if (strchr(s, 'i')) x->interactive = true;
            if (strchr(s, 't')) x->tty = true;
            continue;
        }
        argv[k++] = argv[i];
    }
    return k;
}

static int parse(cli_ctx_t *ctx, int argc, char **argv, exec_args_t *x, err_t *err)
{
    enum { OPT_INSTANCE, OPT_TIMEOUT, OPT_INTERACTIVE, OPT_TTY };
    static const cli_opt_t opts[] = { [OPT_INSTANCE] = { "instance", true }, [OPT_TIMEOUT] = { "timeout", true },
                                      [OPT_INTERACTIVE] = { "interactive", false }, [OPT_TTY] = { "tty", false },
                                      { NULL, false } };
    bool dashdash = false;
    for (int i = 1; i < argc; i++) dashdash |= strcmp(argv[i], "--") == 0;
    argc = take_short_flags(argc, argv, x);
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    const char *val;
    bool id_given = false;
    for (;;) {
        int opt = cli_args_next(ctx, &a, opts, &val, err);
        if (opt == CLI_ARG_END) break;
        if (opt == CLI_ARG_ERROR) return -1;
        if (opt == CLI_ARG_HELP) return 1;
        if (opt == CLI_ARG_POSITIONAL) {
            /* With a `--`: NAME [ID] before it, the command after it. */
            if (!x->name) {
                x->name = val;
            } else if (dashdash && !a.only_positional && !id_given) {
                x->instance = val;
                id_given = true;
            } else if (dashdash && !a.only_positional) {
                return cli_usage_fail(ctx, err, "unexpected argument '%s' before --", val);
            } else {
                cJSON_AddItemToArray(x->cmd, cJSON_CreateString(val));
            }
        } else if (opt == OPT_INSTANCE) {
            x->instance = val;
        } else if (opt == OPT_INTERACTIVE) {
            x->interactive = true;
        } else if (opt == OPT_TTY) {
            x->tty = true;
        } else if (cli_parse_long(ctx, "--timeout", val, 1, 3600, &x->timeout, err) < 0) {
            return -1;
        }
    }
    if (!x->name || !*x->name) return cli_usage_fail(ctx, err, "missing NAME");
    if (cJSON_GetArraySize(x->cmd) == 0) return cli_usage_fail(ctx, err, "missing CMD (after --)");
    return 0;
}

/* Start it; the exec's id, or NULL with err. */
static char *start(cli_ctx_t *ctx, const exec_args_t *x, bool send_in, bool tty, err_t *err)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(body, "Command", x->cmd);
    cJSON_AddNumberToObject(body, "TimeoutSeconds", (double)x->timeout);
    cJSON_AddBoolToObject(body, "Stream", true);
    if (tty) {
        unsigned rows, cols;
        term_size(&rows, &cols);
        cJSON_AddBoolToObject(body, "Tty", true);
        cJSON_AddNumberToObject(body, "Rows", rows);
        cJSON_AddNumberToObject(body, "Columns", cols);
    } else if (send_in) {
        cJSON_AddBoolToObject(body, "Stdin", true);
    }
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    char *ename = cli_escape(x->name), *eid = cli_escape(x->instance);
    buf_t path = { 0 };
    buf_appendf(&path, "/nimbus/v1/functions/%s/instances/%s/exec", ename, eid);
    free(ename);
    free(eid);
    static const char *const hdrs[] = { "Content-Type: application/json", NULL };
    cli_req_t req = { .method = "POST", .path = path.data, .headers = hdrs, .body = text, .body_len = strlen(text) };
    cJSON *j = cli_request_json(ctx, &req, err);
    buf_free(&path);
    free(text);
    if (!j) return NULL;
    const cJSON *idj = cJSON_GetObjectItemCaseSensitive(j, "ExecId");
    char *id = cJSON_IsString(idj) ? strdup(idj->valuestring) : NULL;
    cJSON_Delete(j);
    if (!id) err_set(err, ERR_INTERNAL, "the server did not start the command");
    return id;
}

int cli_cmd_exec(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    exec_args_t x = { .instance = "latest", .timeout = 30, .cmd = cJSON_CreateArray() };
    int rc = parse(ctx, argc, argv, &x, err);
    if (rc != 0) {
        cJSON_Delete(x.cmd);
        if (rc > 0) cli_usage_exec(stdout);
        return rc > 0 ? 0 : -1;
    }
    bool json = ctx->output == CLI_OUTPUT_JSON;
    bool tty = x.tty && !json;
    if (tty && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
        fputs("nimbus exec: -t: stdin and stdout are not both a terminal; running without one\n", stderr);
        tty = false;
    }
    bool send_in = tty || x.interactive || !isatty(STDIN_FILENO);
    char *id = start(ctx, &x, send_in, tty, err);
    cJSON_Delete(x.cmd);
    if (!id) return -1;

    input_t in = { .ctx = *ctx, .tty = tty };
    in.ctx.curl = NULL;
    buf_t p = { 0 };
    buf_appendf(&p, "/nimbus/v1/execs/%s/stdin", id);
    in.stdin_path = buf_steal(&p, NULL);
    buf_appendf(&p, "/nimbus/v1/execs/%s/resize", id);
    in.resize_path = buf_steal(&p, NULL);
    if (tty) {
        if (pipe2(g_winch, O_CLOEXEC | O_NONBLOCK) < 0 || term_raw(err) < 0) { free(id); return -1; }
        signal(SIGWINCH, on_winch);
    }
    pthread_t th;
    if (send_in && pthread_create(&th, NULL, input_main, &in) != 0) {
        term_restore();
        free(id);
        return err_set(err, ERR_SYS, "cannot start the input thread");
    }

    /* Each poll returns what the command wrote since `offset`, as soon as
     * there is some (or after a while, empty). */
    double offset = 0;
    int code = -1;
    bool timed_out = false;
    buf_t all = { 0 };
    for (;;) {
        buf_appendf(&p, "/nimbus/v1/execs/%s?offset=%.0f", id, offset);
        cli_req_t get = { .method = "GET", .path = p.data };
        cJSON *j = cli_request_json(ctx, &get, err);
        buf_reset(&p);
        if (!j) {
            term_restore();
            return -1;   /* exits with the input thread still blocked: nothing of it is kept */
        }
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(j, "Output");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(j, "Offset");
        const cJSON *cj = cJSON_GetObjectItemCaseSensitive(j, "ExitCode");
        if (cJSON_IsString(out) && json) buf_append(&all, out->valuestring, strlen(out->valuestring));
        else if (cJSON_IsString(out)) fwrite(out->valuestring, 1, strlen(out->valuestring), stdout);
        fflush(stdout);
        if (cJSON_IsNumber(off)) offset = off->valuedouble;
        bool done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "Done"));
        if (done) {
            code = cJSON_IsNumber(cj) ? (int)cj->valuedouble : 1;
            timed_out = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "TimedOut"));
        }
        cJSON_Delete(j);
        if (done) break;
    }
    term_restore();
    if (json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(doc, "ExitCode", code);
        cJSON_AddStringToObject(doc, "Output", all.data ? all.data : "");
        cJSON_AddBoolToObject(doc, "TimedOut", timed_out);
        cli_print_json(doc);
        cJSON_Delete(doc);
    }
    if (timed_out) fprintf(stderr, "nimbus exec: command ended by --timeout after %ld s\n", x.timeout);
    fflush(stdout);
    fflush(stderr);
    /* The command's own exit code, as `docker exec` does; at once, whatever
     * the input thread is blocked on. */
    _exit(timed_out ? EXIT_TIMEOUT : code);
}
