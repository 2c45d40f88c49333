/* config.c — `nimbus serve`'s option table, and from it the defaults, the
 * flag parsing, the settings file (--config) and the --help text.
 *
 * Owns every setting's flag, default and limits. Must never: state a
 * default or a limit outside OPTIONS (the usage is generated, and a unit
 * test holds README.md and docs/ to the table), or print (main.c does).
 */
#include "daemon/config.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

/* Large enough to mean "no limit", small enough for an int of milliseconds. */
#define UNBOUNDED 100000000

static bool log_format_valid(const char *v)
{
    log_format_t f;
    return log_format_parse(v, &f) == 0;
}

#define MEMBER(m) .offset = offsetof(daemon_config_t, m), .size = sizeof(((daemon_config_t *)0)->m)

static const daemon_option_t OPTIONS[] = {
    { "--config", "FILE", "read settings from FILE first: `name = value` lines, each name a flag of this "
      "list without --; a flag given here wins over the file", DAEMON_OPTION_FILE, MEMBER(config_file),
      .def_str = "" },
    { "--listen", "HOST:PORT", "the API's address; port 0 picks a free one",
      DAEMON_OPTION_LISTEN, .offset = 0, .size = 0, .def_str = "127.0.0.1:8080" },
    { "--data-dir", "DIR", "where functions, their code and their logs are kept",
      DAEMON_OPTION_STRING, MEMBER(data_dir), .def_str = "data" },
    { "--max-zip-bytes", "N", "largest deployment package, zipped, as Lambda's",
      DAEMON_OPTION_SIZE, MEMBER(max_zip_bytes), .def = 52428800 },
    { "--max-unzipped-bytes", "N", "largest deployment package, extracted, as Lambda's",
      DAEMON_OPTION_SIZE, MEMBER(max_unzipped_bytes), .def = 262144000 },
    { "--max-invoke-bytes", "N", "largest invoke payload, as Lambda's",
      DAEMON_OPTION_SIZE, MEMBER(invoke_max_bytes), .def = 6291456 },
    { "--max-stream-bytes", "N", "largest streamed response (InvokeWithResponseStream), as Lambda's",
      DAEMON_OPTION_SIZE, MEMBER(stream_max_bytes), .def = 209715200 },
    { "--log-call-max-bytes", "N", "what one call's output may store in its function's log (each line "
      "counts its bytes and 26); past it the rest is read and dropped, and one line says so",
      DAEMON_OPTION_SIZE, MEMBER(log_call_max_bytes), .def = 10485760 },
    { "--log-retention-days", "DAYS", "log lines older than this are deleted, unless the function's "
      "LogRetentionInDays says otherwise (0: kept by age forever, as CloudWatch's default)",
      DAEMON_OPTION_INT, MEMBER(log_retention_days), .def = 0, .min = 0, .max = 3653 },
    { "--log-max-bytes", "N", "all functions' log lines together; past it the oldest go first "
      "(each line counts its bytes and 64)", DAEMON_OPTION_SIZE, MEMBER(log_max_bytes), .def = 1073741824 },
    { "--log-sweep", "SECONDS", "how often log retention runs, on a worker",
      DAEMON_OPTION_INT, MEMBER(log_sweep_s), .def = 60, .min = 1, .max = UNBOUNDED },
    { "--account-concurrency", "N", "calls in flight at once, all functions of one account "
      "together: each account's limit, unless its [account ID] section in --credentials sets its own concurrency",
      DAEMON_OPTION_INT, MEMBER(account_concurrency), .def = 1000, .min = 1, .max = UNBOUNDED },
    { "--max-instances", "N", "instances of one function at once",
      DAEMON_OPTION_INT, MEMBER(max_instances_per_fn), .def = 100, .min = 1, .max = UNBOUNDED },
    { "--keep-alive", "SECONDS", "an idle instance is reclaimed after this",
      DAEMON_OPTION_INT, MEMBER(keep_alive_s), .def = 120, .min = 1, .max = UNBOUNDED },
    { "--throttle-wait-ms", "MS", "how long a call over a limit waits for room before its 429",
      DAEMON_OPTION_INT, MEMBER(throttle_wait_ms), .def = 5000, .min = 1, .max = UNBOUNDED },
    { NULL, NULL, NULL, DAEMON_OPTION_INT, MEMBER(max_queue), .def = 10000, .min = 1,
      .max = UNBOUNDED },
    { "--workers", "N", "threads for blocking work: SQLite, ZIP extraction, fsync",
      DAEMON_OPTION_INT, MEMBER(workers), .def = 4, .min = 1, .max = 64 },
    { "--runtime-dir", "DIR", "Nimbus' language bootstraps", DAEMON_OPTION_STRING,
      MEMBER(runtime_dir), .def_str = "",
      .def_help = "runtimes/ beside the binary, else the installed share/nimbus/runtimes" },
    { "--sandbox", NULL, "every instance in its own namespaces, with cgroup limits, seccomp "
      "and no privileges; as root, or rootless in user namespaces (cgroup limits then only "
      "where the user may create groups)", DAEMON_OPTION_FLAG, MEMBER(sandbox), .def = 1,
      .sets = true },
    { "--insecure-no-sandbox", NULL, "instances as plain processes; every REPORT says so",
      DAEMON_OPTION_FLAG, MEMBER(sandbox), .sets = false },
    { "--sandbox-pool", "N", "sandboxes made ahead of calls (0: none); python and node also "
      "get one with the interpreter started", DAEMON_OPTION_INT, MEMBER(sandbox_pool), .def = 4,
      .min = 0, .max = 64 },
    { "--user", "NAME", "after start-up the daemon drops to NAME; the sandbox's spawner stays "
      "privileged", DAEMON_OPTION_STRING, MEMBER(user), .def_str = "",
      .def_help = "stay the starting user" },
    { "--async-max-payload", "BYTES", "largest payload of an asynchronous call (InvocationType Event), "
      "as Lambda's", DAEMON_OPTION_SIZE, MEMBER(async_max_payload), .def = 1048576 },
    { "--async-retry-scale", "X", "multiplies every retry and backoff delay of asynchronous calls "
      "(1 = Lambda's 1 and 2 minutes; tests shrink it)", DAEMON_OPTION_DOUBLE, MEMBER(async_retry_scale),
      .ddef = 1.0, .dmax = 1000.0 },
    { "--async-max-queued", "N", "asynchronous events kept waiting, all functions together; beyond, "
      "an accept fails", DAEMON_OPTION_INT, MEMBER(async_max_queued), .def = 100000, .min = 1,
      .max = UNBOUNDED },
    { "--timer-catchup", "SECONDS", "at start, timer slots missed while stopped fire once when no older "
      "than this; the others are skipped and counted (0: only the last one missed)",
      DAEMON_OPTION_INT, MEMBER(timer_catchup_s), .def = 0, .min = 0, .max = UNBOUNDED },
    { "--region", "REGION", "the region this daemon is: every ARN it writes names it, functions see it in "
      "AWS_REGION, and an ARN of another region is refused", DAEMON_OPTION_STRING, MEMBER(region),
      .def_str = NIMBUS_DEFAULT_REGION, .valid = util_region_valid,
      .wants = "a region like us-east-1 or us-gov-west-1", .example = "eu-west-3" },
    { "--account-id", "ID", "the account this daemon is: every ARN it writes names it, and an ARN of "
      "another account is refused", DAEMON_OPTION_STRING, MEMBER(account_id),
      .def_str = NIMBUS_DEFAULT_ACCOUNT, .valid = util_account_valid, .wants = "an account id of 12 digits",
      .example = "123456789012" },
    { "--log-format", "FORMAT", "the daemon's own log lines on stderr: text, or json (one object a line: "
      "time, level, msg)", DAEMON_OPTION_STRING, MEMBER(log_format), .def_str = "text",
      .valid = log_format_valid, .wants = "text or json", .example = "json" },
    { "--credentials", "FILE", "the access keys (secret, account, role) every request is checked against with "
      "SigV4 (docs/security.md); without it the daemon listens on loopback only and checks nothing",
      DAEMON_OPTION_STRING, MEMBER(credentials_file), .def_str = "", .def_help = "none: loopback only" },
    { "--runtime-map", "NAME=SPEC", "serve Runtime NAME as SPEC says: the name of a runtime this daemon "
      "has (python3.13=python3.11), or an interpreter and a bootstrap under the runtime dir "
      "(ruby3.3=/usr/bin/ruby ruby/bootstrap.rb); repeat for more (docs/runtimes.md)",
      DAEMON_OPTION_LIST, MEMBER(runtime_map), .def_str = "", .def_help = "the runtimes found at start" },
    { "--tls-cert", "FILE", "serve the API and function URLs over TLS (1.2 and up) with this PEM "
      "certificate chain, with --tls-key; SIGHUP reads both again (docs/tls.md)", DAEMON_OPTION_STRING,
      MEMBER(tls_cert), .def_str = "", .def_help = "plain HTTP" },
    { "--tls-key", "FILE", "the PEM private key of --tls-cert", DAEMON_OPTION_STRING, MEMBER(tls_key),
      .def_str = "", .def_help = "none" },
};
#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

#undef MEMBER

const daemon_option_t *daemon_config_options(size_t *n)
{
    *n = N_OPTIONS;
    return OPTIONS;
}

const daemon_option_t *daemon_config_option(const char *flag)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (OPTIONS[i].flag && strcmp(OPTIONS[i].flag, flag) == 0) return &OPTIONS[i];
    return NULL;
}

void daemon_option_default_text(const daemon_option_t *o, char *buf, size_t n)
{
    if (o->def_help) {
        snprintf(buf, n, "%s", o->def_help);
        return;
    }
    switch (o->type) {
    case DAEMON_OPTION_LISTEN:
    case DAEMON_OPTION_LIST:
    case DAEMON_OPTION_FILE:
    case DAEMON_OPTION_STRING: snprintf(buf, n, "%s", o->def_str); break;
    case DAEMON_OPTION_SIZE:
        if (o->def % (1024 * 1024) == 0)
            snprintf(buf, n, "%lld bytes = %lld MB", o->def, o->def / (1024 * 1024));
        else
            snprintf(buf, n, "%lld", o->def);
        break;
    case DAEMON_OPTION_INT: snprintf(buf, n, "%lld", o->def); break;
    case DAEMON_OPTION_FLAG: snprintf(buf, n, "%s", ""); break;
    case DAEMON_OPTION_DOUBLE: snprintf(buf, n, "%g", o->ddef); break;
    }
}

static void *member_of(const daemon_option_t *o, daemon_config_t *c) { return (char *)c + o->offset; }

static int set_listen(daemon_config_t *c, const char *v, err_t *err)
{
    const char *colon = strrchr(v, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof c->listen_host || !colon[1] || *end ||
        port < 0 || port > 65535)
        return err_set(err, ERR_INVALID, "--listen wants HOST:PORT, got '%s'", v);
    memcpy(c->listen_host, v, (size_t)(colon - v));
    c->listen_host[colon - v] = '\0';
    c->listen_port = (int)port;
    return 0;
}

static int set_option(const daemon_option_t *o, daemon_config_t *c, const char *v, err_t *err)
{
    char *end;
    switch (o->type) {
    case DAEMON_OPTION_LISTEN: return set_listen(c, v, err);
    case DAEMON_OPTION_STRING:
        if (o->valid && !o->valid(v)) return err_set(err, ERR_INVALID, "%s wants %s, got '%s'", o->flag, o->wants, v);
        snprintf(member_of(o, c), o->size, "%s", v);
        return 0;
    case DAEMON_OPTION_FILE:
        if (strlen(v) >= o->size) return err_set(err, ERR_INVALID, "%s: path too long", o->flag);
        snprintf(member_of(o, c), o->size, "%s", v);
        return 0;
    case DAEMON_OPTION_LIST: {
        char *list = member_of(o, c);
        size_t used = strlen(list), len = strlen(v);
        if (!len || strchr(v, '\n')) return err_set(err, ERR_INVALID, "%s wants %s, got '%s'", o->flag, o->arg, v);
        if (used + len + 2 > o->size) return err_set(err, ERR_INVALID, "%s: too many (%zu bytes at most)", o->flag, o->size);
        snprintf(list + used, o->size - used, "%s%s", used ? "\n" : "", v);
        return 0;
    }
    case DAEMON_OPTION_SIZE: {
        unsigned long long n = strtoull(v, &end, 10);
        if (!*v || *v == '-' || *end || n == 0)
            return err_set(err, ERR_INVALID, "%s wants a positive number", o->flag);
        *(size_t *)member_of(o, c) = (size_t)n;
        return 0;
    }
    case DAEMON_OPTION_INT: {
        long long n = strtoll(v, &end, 10);
        if (!*v || *end || n < o->min || n > o->max) {
            if (o->min == 1 && o->max == UNBOUNDED)
                return err_set(err, ERR_INVALID, "%s wants a positive number", o->flag);
            return err_set(err, ERR_INVALID, "%s wants %lld..%lld", o->flag, o->min, o->max);
        }
        *(int *)member_of(o, c) = (int)n;
        return 0;
    }
    case DAEMON_OPTION_FLAG: *(bool *)member_of(o, c) = o->sets; return 0;
    case DAEMON_OPTION_DOUBLE: {
        double x = strtod(v, &end);
        if (!*v || *end || !(x > 0) || x > o->dmax)
            return err_set(err, ERR_INVALID, "%s wants a number above 0, at most %g", o->flag, o->dmax);
        *(double *)member_of(o, c) = x;
        return 0;
    }
    }
    return 0;
}

void daemon_config_defaults(daemon_config_t *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const daemon_option_t *o = &OPTIONS[i];
        switch (o->type) {
        case DAEMON_OPTION_LISTEN: set_listen(c, o->def_str, NULL); break;
        case DAEMON_OPTION_LIST:
        case DAEMON_OPTION_FILE:
        case DAEMON_OPTION_STRING: snprintf(member_of(o, c), o->size, "%s", o->def_str); break;
        case DAEMON_OPTION_SIZE: *(size_t *)member_of(o, c) = (size_t)o->def; break;
        case DAEMON_OPTION_INT: *(int *)member_of(o, c) = (int)o->def; break;
        case DAEMON_OPTION_FLAG:
            if (o->def) *(bool *)member_of(o, c) = o->sets;
            break;
        case DAEMON_OPTION_DOUBLE: *(double *)member_of(o, c) = o->ddef; break;
        }
    }
}

/* ---- the settings file ---- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

/* The value after '=': a double-quoted string taken as it is, else up to
 * a '#' that follows a blank. NULL when a quote is not closed or text
 * follows it. */
static char *file_value(char *v)
{
    v = trim(v);
    if (*v == '"') {
        char *end = strchr(v + 1, '"');
        if (!end) return NULL;
        *end = '\0';
        char *rest = trim(end + 1);
        if (*rest && *rest != '#') return NULL;
        return v + 1;
    }
    for (char *p = v; *p; p++)
        if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    return trim(v);
}

static int file_flag(const daemon_option_t *o, daemon_config_t *c, const char *v, err_t *err)
{
    bool on;
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0 || strcmp(v, "1") == 0) on = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "off") == 0 || strcmp(v, "0") == 0) on = false;
    else return err_set(err, ERR_INVALID, "%s wants true or false, got '%s'", o->flag + 2, v);
    *(bool *)member_of(o, c) = on ? o->sets : !o->sets;
    return 0;
}

int daemon_config_load(daemon_config_t *c, const char *path, err_t *err)
{
    FILE *f = fopen(path, "re");
    if (!f) return err_sys(err, "config %s", path);
    int seen[N_OPTIONS] = { 0 };   /* the line each setting was given on */
    char *line = NULL;
    size_t cap = 0;
    int no = 0, rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        no++;
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = err_set(err, ERR_INVALID, "%s:%d: wants name = value, got '%.80s'", path, no, s);
            break;
        }
        *eq = '\0';
        char *key = trim(s), flag[80];
        snprintf(flag, sizeof flag, "--%s", key);
        const daemon_option_t *o = strncmp(key, "--", 2) ? daemon_config_option(flag) : NULL;
        if (!o) {
            rc = err_set(err, ERR_INVALID, "%s:%d: unknown setting '%.60s' (the names are nimbus serve's "
                         "options without --)", path, no, key);
            break;
        }
        size_t i = (size_t)(o - OPTIONS);
        if (o->type == DAEMON_OPTION_FILE) {
            rc = err_set(err, ERR_INVALID, "%s:%d: %s cannot be set in a settings file", path, no, key);
            break;
        }
        if (seen[i] && o->type != DAEMON_OPTION_LIST) {
            rc = err_set(err, ERR_INVALID, "%s:%d: %s is already set on line %d", path, no, key, seen[i]);
            break;
        }
        /* --sandbox and --insecure-no-sandbox are one setting. */
        for (size_t k = 0; k < N_OPTIONS; k++)
            if (OPTIONS[k].type == DAEMON_OPTION_FLAG && o->type == DAEMON_OPTION_FLAG &&
                OPTIONS[k].offset == o->offset)
                seen[k] = seen[k] ? seen[k] : no;
        seen[i] = seen[i] ? seen[i] : no;
        char *v = file_value(eq + 1);
        err_t e = { 0 };
        if (!v) rc = err_set(&e, ERR_INVALID, "%s: a quote is not closed, or text follows it", key);
        else if (o->type == DAEMON_OPTION_FLAG) rc = file_flag(o, c, v, &e);
        else rc = set_option(o, c, v, &e);
        if (rc) rc = err_set(err, ERR_INVALID, "%s:%d: %s", path, no, e.msg);
    }
    if (rc == 0 && ferror(f)) rc = err_sys(err, "read %s", path);
    free(line);
    fclose(f);
    return rc;
}

/* ---- the command line ---- */

int daemon_config_parse(daemon_config_t *c, int argc, char **argv, bool *help, err_t *err)
{
    daemon_config_defaults(c);
    *help = false;
    /* First --help and the file, so that every other flag goes over it. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = true;
            return 0;
        }
        const daemon_option_t *o = daemon_config_option(a);
        if (!o || o->type == DAEMON_OPTION_FLAG) continue;
        if (i + 1 >= argc) break;   /* said below, in order */
        i++;
        if (o->type == DAEMON_OPTION_FILE && set_option(o, c, argv[i], err)) return -1;
    }
    if (c->config_file[0] && daemon_config_load(c, c->config_file, err) < 0) return -1;
    bool replaced[N_OPTIONS] = { false };   /* a list given as a flag starts afresh */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const daemon_option_t *o = daemon_config_option(a);
        if (!o) return err_set(err, ERR_INVALID, "unknown option %s (see nimbus serve --help)", a);
        if (o->type != DAEMON_OPTION_FLAG && i + 1 >= argc)
            return err_set(err, ERR_INVALID, "%s needs a value (see nimbus serve --help)", a);
        if (o->type == DAEMON_OPTION_LIST && !replaced[o - OPTIONS]) {
            replaced[o - OPTIONS] = true;
            *(char *)member_of(o, c) = '\0';
        }
        if (set_option(o, c, o->type == DAEMON_OPTION_FLAG ? NULL : argv[++i], err)) return -1;
    }
    return 0;
}

/* ---- --help ---- */

#define USAGE_WIDTH 79
#define USAGE_HELP_COL 28

/* Words of `text` from column `col` on, wrapped at USAGE_WIDTH with
 * continuation lines starting at `indent`. NBSP joins words that must stay
 * on one line; it prints as a space. */
#define NBSP '\x1f'

static void usage_wrap(FILE *out, const char *text, int col, int indent)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        size_t w = strcspn(p, " ");
        if (!w) break;
        if (col > indent && col + 1 + (int)w > USAGE_WIDTH) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        for (size_t k = 0; k < w; k++) fputc(p[k] == NBSP ? ' ' : p[k], out);
        col += (int)w;
        p += w;
    }
    fputc('\n', out);
}

void daemon_config_usage(FILE *out)
{
    buf_t line = {0};
    fputs("usage: nimbus serve", out);
    int col = (int)strlen("usage: nimbus serve");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const daemon_option_t *o = &OPTIONS[i];
        if (!o->flag) continue;
        char item[96];
        snprintf(item, sizeof item, "[%s%s%s]", o->flag, o->arg ? " " : "", o->arg ? o->arg : "");
        if (col + 1 + (int)strlen(item) > USAGE_WIDTH) {
            fprintf(out, "\n%*s", 19, "");
            col = 19;
        }
        col += fprintf(out, " %s", item);
    }
    fputs("\n\n"
          "Run the Nimbus platform: the Lambda-compatible API, the functions' instances,\n"
          "and their state in the data directory. SIGTERM or SIGINT finishes in-flight\n"
          "calls, then exits 0. A call over a concurrency limit waits for room up to\n"
          "--throttle-wait-ms, then gets 429.\n"
          "\n"
          "Every option may be given in the --config file instead, one a line, its name\n"
          "without -- (keep-alive = 60; a flag's value is true or false; # comments).\n"
          "\n"
          "Options:\n",
          out);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const daemon_option_t *o = &OPTIONS[i];
        if (!o->flag) continue;
        char def[128];
        daemon_option_default_text(o, def, sizeof def);
        buf_reset(&line);
        buf_appendf(&line, "%s", o->help);
        if (o->type == DAEMON_OPTION_FLAG && o->def) buf_appendf(&line, " (the%cdefault)", NBSP);
        else if (def[0] && strlen(def) < 40) {
            buf_appendf(&line, " (default:%c", NBSP);
            for (const char *d = def; *d; d++) buf_appendf(&line, "%c", *d == ' ' ? NBSP : *d);
            buf_appendf(&line, ")");
        } else if (def[0]) {
            buf_appendf(&line, " (default: %s)", def);
        }
        int w = fprintf(out, "  %s%s%s", o->flag, o->arg ? " " : "", o->arg ? o->arg : "");
        if (w >= USAGE_HELP_COL) {
            fprintf(out, "\n%*s", USAGE_HELP_COL, "");
        } else {
            fprintf(out, "%*s", USAGE_HELP_COL - w, "");
        }
        usage_wrap(out, line.data, USAGE_HELP_COL, USAGE_HELP_COL);
    }
    buf_free(&line);
}
