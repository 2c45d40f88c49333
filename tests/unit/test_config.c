/* test_config.c — `nimbus serve`'s option table: defaults, flag parsing and
 * --help made from it; and README.md and docs/ held to the tables that
 * own every default (serve's options, the function fields). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/cli.h"
#include "core/function.h"
#include "daemon/config.h"

static const void *member_of(const daemon_option_t *o, const daemon_config_t *c)
{
    return (const char *)c + o->offset;
}

static int parse(daemon_config_t *c, const char *a1, const char *a2, err_t *err)
{
    char *argv[] = { (char *)"serve", (char *)a1, (char *)a2, NULL };
    bool help;
    err_clear(err);
    int rc = daemon_config_parse(c, a2 ? 3 : a1 ? 2 : 1, argv, &help, err);
    cr_assert_not(help);
    return rc;
}

Test(config, defaults_come_from_the_table)
{
    daemon_config_t c;
    memset(&c, 0x5a, sizeof c);
    daemon_config_defaults(&c);
    size_t n;
    const daemon_option_t *o = daemon_config_options(&n);
    for (size_t i = 0; i < n; i++, o++) {
        switch (o->type) {
        case DAEMON_OPTION_LIST:
        case DAEMON_OPTION_FILE:
        case DAEMON_OPTION_STRING: cr_assert_str_eq(member_of(o, &c), o->def_str, "%s", o->flag); break;
        case DAEMON_OPTION_SIZE: cr_assert_eq(*(const size_t *)member_of(o, &c), (size_t)o->def); break;
        case DAEMON_OPTION_INT: cr_assert_eq(*(const int *)member_of(o, &c), o->def, "%s", o->flag); break;
        case DAEMON_OPTION_DOUBLE: cr_assert_eq(*(const double *)member_of(o, &c), o->ddef, "%s", o->flag); break;
        case DAEMON_OPTION_FLAG:
            if (o->def) cr_assert_eq(*(const bool *)member_of(o, &c), o->sets, "%s", o->flag);
            else cr_assert_neq(*(const bool *)member_of(o, &c), o->sets, "%s", o->flag);
            break;
        case DAEMON_OPTION_LISTEN: {
            char addr[96];
            snprintf(addr, sizeof addr, "%s:%d", c.listen_host, c.listen_port);
            cr_assert_str_eq(addr, o->def_str);
            break;
        }
        }
    }
    /* Parsing nothing gives the defaults. */
    daemon_config_t p;
    err_t err;
    cr_assert_eq(parse(&p, NULL, NULL, &err), 0);
    cr_assert(memcmp(&p, &c, sizeof c) == 0);
}

Test(config, every_flag_sets_its_member)
{
    size_t n;
    const daemon_option_t *o = daemon_config_options(&n);
    for (size_t i = 0; i < n; i++, o++) {
        if (!o->flag) continue;
        daemon_config_t c;
        err_t err;
        char v[32];
        switch (o->type) {
        case DAEMON_OPTION_FLAG:
            cr_assert_eq(parse(&c, o->flag, NULL, &err), 0, "%s: %s", o->flag, err.msg);
            cr_assert_eq(*(const bool *)member_of(o, &c), o->sets);
            break;
        case DAEMON_OPTION_STRING:
            if (o->valid) {
                /* A setting with a shape takes its example and refuses the rest. */
                cr_assert_neq(strcmp(o->example, o->def_str), 0, "%s", o->flag);
                cr_assert(o->valid(o->def_str), "%s", o->flag);
                cr_assert_eq(parse(&c, o->flag, o->example, &err), 0, "%s", err.msg);
                cr_assert_str_eq(member_of(o, &c), o->example);
                cr_assert_eq(parse(&c, o->flag, "/x/y", &err), -1, "%s", o->flag);
                cr_assert_eq(err.code, ERR_INVALID);
                cr_assert(strstr(err.msg, o->flag) && strstr(err.msg, o->wants), "%s", err.msg);
                break;
            }
            cr_assert_eq(parse(&c, o->flag, "/x/y", &err), 0, "%s", err.msg);
            cr_assert_str_eq(member_of(o, &c), "/x/y");
            break;
        case DAEMON_OPTION_FILE: {
            /* The file is read: an empty one sets nothing, a missing one fails. */
            char path[] = "/tmp/nimbus-config-XXXXXX";
            int fd = mkstemp(path);
            cr_assert_geq(fd, 0);
            close(fd);
            cr_assert_eq(parse(&c, o->flag, path, &err), 0, "%s", err.msg);
            cr_assert_str_eq(member_of(o, &c), path);
            unlink(path);
            cr_assert_eq(parse(&c, o->flag, path, &err), -1, "%s", o->flag);
            cr_assert(strstr(err.msg, path), "%s", err.msg);
            break;
        }
        case DAEMON_OPTION_LIST:
            cr_assert_eq(parse(&c, o->flag, "a=b c", &err), 0, "%s", err.msg);
            cr_assert_str_eq(member_of(o, &c), "a=b c");
            cr_assert_eq(parse(&c, o->flag, "", &err), -1, "%s", o->flag);
            cr_assert(strstr(err.msg, o->flag), "%s", err.msg);
            break;
        case DAEMON_OPTION_SIZE:
            cr_assert_eq(parse(&c, o->flag, "12345", &err), 0, "%s", err.msg);
            cr_assert_eq(*(const size_t *)member_of(o, &c), 12345);
            cr_assert_eq(parse(&c, o->flag, "0", &err), -1);
            cr_assert_eq(parse(&c, o->flag, "-1", &err), -1);
            cr_assert_eq(parse(&c, o->flag, "1k", &err), -1);
            cr_assert(strstr(err.msg, o->flag), "%s", err.msg);
            break;
        case DAEMON_OPTION_INT:
            snprintf(v, sizeof v, "%lld", o->max);
            cr_assert_eq(parse(&c, o->flag, v, &err), 0, "%s", err.msg);
            cr_assert_eq(*(const int *)member_of(o, &c), o->max);
            snprintf(v, sizeof v, "%lld", o->min);
            cr_assert_eq(parse(&c, o->flag, v, &err), 0, "%s", err.msg);
            cr_assert_eq(*(const int *)member_of(o, &c), o->min);
            snprintf(v, sizeof v, "%lld", o->max + 1);
            cr_assert_eq(parse(&c, o->flag, v, &err), -1, "%s %s", o->flag, v);
            snprintf(v, sizeof v, "%lld", o->min - 1);
            cr_assert_eq(parse(&c, o->flag, v, &err), -1, "%s %s", o->flag, v);
            cr_assert_eq(err.code, ERR_INVALID);
            cr_assert(strstr(err.msg, o->flag), "%s", err.msg);
            break;
        case DAEMON_OPTION_DOUBLE:
            cr_assert_eq(parse(&c, o->flag, "0.001", &err), 0, "%s", err.msg);
            cr_assert_eq(*(const double *)member_of(o, &c), 0.001);
            snprintf(v, sizeof v, "%g", o->dmax);
            cr_assert_eq(parse(&c, o->flag, v, &err), 0, "%s", err.msg);
            cr_assert_eq(*(const double *)member_of(o, &c), o->dmax);
            for (const char *bad = "0\0-1\0x\0" "1e9\0\0"; *bad; bad += strlen(bad) + 1)
                cr_assert_eq(parse(&c, o->flag, bad, &err), -1, "%s %s", o->flag, bad);
            cr_assert(strstr(err.msg, o->flag), "%s", err.msg);
            break;
        case DAEMON_OPTION_LISTEN:
            cr_assert_eq(parse(&c, o->flag, "0.0.0.0:0", &err), 0, "%s", err.msg);
            cr_assert_str_eq(c.listen_host, "0.0.0.0");
            cr_assert_eq(c.listen_port, 0);
            cr_assert_eq(parse(&c, o->flag, "[::1]:9", &err), 0, "%s", err.msg);
            cr_assert_str_eq(c.listen_host, "[::1]");
            for (const char *bad = "nocolon\0:1\0h:\0h:70000\0h:x\0"; *bad; bad += strlen(bad) + 1)
                cr_assert_eq(parse(&c, o->flag, bad, &err), -1, "%s", bad);
            cr_assert_str_eq(err.msg, "--listen wants HOST:PORT, got 'h:x'");
            break;
        }
    }
}

Test(config, region_and_account_take_lambdas_shapes)
{
    daemon_config_t c;
    err_t err;
    for (const char *ok = "us-east-1\0eu-west-3\0us-gov-west-1\0ap-southeast-2\0cn-north-1\0"; *ok; ok += strlen(ok) + 1) {
        cr_assert_eq(parse(&c, "--region", ok, &err), 0, "%s: %s", ok, err.msg);
        cr_assert_str_eq(c.region, ok);
    }
    for (const char *bad = "US-EAST-1\0us-east\0us-east-12\0u-east-1\0useast1\0us--1\0us-east-1x\0"; *bad;
         bad += strlen(bad) + 1) {
        cr_assert_eq(parse(&c, "--region", bad, &err), -1, "%s", bad);
        cr_assert(strstr(err.msg, "--region wants a region like us-east-1"), "%s", err.msg);
    }
    cr_assert_eq(parse(&c, "--account-id", "123456789012", &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.account_id, "123456789012");
    for (const char *bad = "12345678901\0" "1234567890123\0" "12345678901a\0"; *bad; bad += strlen(bad) + 1)
        cr_assert_eq(parse(&c, "--account-id", bad, &err), -1, "%s", bad);
    /* The defaults are Lambda's shapes too, and what the ARNs say until set. */
    daemon_config_defaults(&c);
    cr_assert(util_region_valid(c.region) && util_account_valid(c.account_id));
    cr_assert_str_eq(c.region, "us-east-1");
    cr_assert_eq(strlen(c.account_id), 12);
}

Test(config, runtime_map_repeats)
{
    char *argv[] = { (char *)"serve", (char *)"--runtime-map", (char *)"python3.13=python3.11",
                     (char *)"--runtime-map", (char *)"ruby3.3=/usr/bin/ruby ruby/bootstrap.rb", NULL };
    daemon_config_t c;
    bool help;
    err_t err;
    cr_assert_eq(daemon_config_parse(&c, 5, argv, &help, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.runtime_map, "python3.13=python3.11\nruby3.3=/usr/bin/ruby ruby/bootstrap.rb");
}

Test(config, parse_errors_and_help)
{
    daemon_config_t c;
    err_t err;
    cr_assert_eq(parse(&c, "--bogus", "1", &err), -1);
    cr_assert_str_eq(err.msg, "unknown option --bogus (see nimbus serve --help)");
    cr_assert_eq(parse(&c, "--keep-alive", NULL, &err), -1);
    cr_assert_str_eq(err.msg, "--keep-alive needs a value (see nimbus serve --help)");
    cr_assert_eq(parse(&c, "--workers", "65", &err), -1);
    cr_assert_str_eq(err.msg, "--workers wants 1..64");
    cr_assert_eq(parse(&c, "--keep-alive", "0", &err), -1);
    cr_assert_str_eq(err.msg, "--keep-alive wants a positive number");
    cr_assert_eq(parse(&c, "--insecure-no-sandbox", "--sandbox", &err), 0);
    cr_assert(c.sandbox);
    for (int i = 0; i < 2; i++) {
        char *argv[] = { (char *)"serve", (char *)"--workers", (char *)"2",
                         (char *)(i ? "-h" : "--help"), (char *)"--bogus", NULL };
        bool help = false;
        cr_assert_eq(daemon_config_parse(&c, 5, argv, &help, &err), 0);
        cr_assert(help);
    }
}

/* --config: every setting by its flag's name, the flags over the file. */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

Test(config, settings_file_under_the_flags)
{
    char path[] = "/tmp/nimbus-config-XXXXXX";
    close(mkstemp(path));
    write_file(path, "# the daemon's settings\n"
                     "\n"
                     "listen = 0.0.0.0:9001\n"
                     "  keep-alive = 60   # a minute\n"
                     "region = \"eu-west-3\"\n"
                     "sandbox = false\n"
                     "runtime-map = python3.13=python3.11\n"
                     "runtime-map = ruby3.3=/usr/bin/ruby ruby/bootstrap.rb\n"
                     "data-dir = /var/lib/nimbus#not a comment\n");
    daemon_config_t c;
    bool help;
    err_t err;
    char *argv[] = { (char *)"serve", (char *)"--keep-alive", (char *)"5", (char *)"--config", path, NULL };
    cr_assert_eq(daemon_config_parse(&c, 5, argv, &help, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.listen_host, "0.0.0.0");
    cr_assert_eq(c.listen_port, 9001);
    cr_assert_eq(c.keep_alive_s, 5);   /* the flag wins, wherever it is */
    cr_assert_str_eq(c.region, "eu-west-3");
    cr_assert_not(c.sandbox);
    cr_assert_str_eq(c.data_dir, "/var/lib/nimbus#not a comment");
    cr_assert_str_eq(c.runtime_map, "python3.13=python3.11\nruby3.3=/usr/bin/ruby ruby/bootstrap.rb");
    /* A list given as a flag replaces the file's; a flag flag overrides it. */
    char *argv2[] = { (char *)"serve", (char *)"--config", path, (char *)"--runtime-map", (char *)"a=b",
                      (char *)"--sandbox", NULL };
    cr_assert_eq(daemon_config_parse(&c, 6, argv2, &help, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.runtime_map, "a=b");
    cr_assert(c.sandbox);

    struct { const char *text, *msg; } bad[] = {
        { "keep-alive 60\n", ":1: wants name = value, got 'keep-alive 60'" },
        { "\nbogus = 1\n", ":2: unknown setting 'bogus' (the names are nimbus serve's options without --)" },
        { "--listen = 1.2.3.4:5\n", ":1: unknown setting '--listen'" },
        { "keep-alive = 0\n", ":1: --keep-alive wants a positive number" },
        { "workers = 2\nworkers = 3\n", ":2: workers is already set on line 1" },
        { "sandbox = true\ninsecure-no-sandbox = true\n", ":2: insecure-no-sandbox is already set on line 1" },
        { "sandbox = maybe\n", ":1: sandbox wants true or false, got 'maybe'" },
        { "region = \"eu-west-3\n", ":1: region: a quote is not closed" },
        { "config = /etc/x\n", ":1: config cannot be set in a settings file" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        char *a[] = { (char *)"serve", (char *)"--config", path, NULL };
        cr_assert_eq(daemon_config_parse(&c, 3, a, &help, &err), -1, "%s", bad[i].text);
        cr_assert_eq(err.code, ERR_INVALID);
        cr_assert_eq(strncmp(err.msg, path, strlen(path)), 0, "%s", err.msg);
        cr_assert(strstr(err.msg, bad[i].msg), "%s: %s", bad[i].text, err.msg);
    }
    unlink(path);
}

static char *usage_text(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    daemon_config_usage(f);
    fclose(f);
    return text;
}

Test(config, usage_states_every_flag_and_default)
{
    char *text = usage_text();
    /* Words in the usage may wrap: compare with runs of blanks as one space. */
    char *flat = calloc(1, strlen(text) + 1), *q = flat;
    for (const char *p = text; *p; p++) {
        if ((*p == ' ' || *p == '\n') && q > flat && q[-1] == ' ') continue;
        *q++ = *p == '\n' ? ' ' : *p;
    }
    size_t n;
    const daemon_option_t *o = daemon_config_options(&n);
    for (size_t i = 0; i < n; i++, o++) {
        if (!o->flag) continue;
        char line[160], def[128];
        snprintf(line, sizeof line, "  %s%s%s ", o->flag, o->arg ? " " : "", o->arg ? o->arg : "");
        cr_assert(strstr(text, line), "usage lacks %s", line);
        daemon_option_default_text(o, def, sizeof def);
        if (!def[0]) continue;
        snprintf(line, sizeof line, "(default: %s)", def);
        cr_assert(strstr(flat, line), "usage lacks %s", line);
    }
    for (const char *p = text; *p;) {
        size_t w = strcspn(p, "\n");
        cr_assert_leq(w, 79, "usage line too long: %.*s", (int)w, p);
        p += w + (p[w] == '\n');
    }
    free(flat);
    free(text);
}

/* The client's default endpoint is where `nimbus serve` listens by default. */
Test(config, cli_endpoint_is_the_listen_default)
{
    char want[128];
    snprintf(want, sizeof want, "http://%s", daemon_config_option("--listen")->def_str);
    cr_assert_str_eq(CLI_DEFAULT_ENDPOINT, want);
}

/* ---- the documentation ----
 * Where README.md or a file in docs/ names a setting ("`--sandbox-pool N`",
 * "`InstanceConcurrency`") and states a default in the same clause
 * ("default 4"), that default must be the table's. */

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, k, m);
    fclose(m);
    fclose(f);
    return buf;
}

/* The word after "default " in the clause that starts at `p` (*len bytes),
 * or NULL. The clause ends at a sentence's end, a closing parenthesis, a
 * blank line or another backquoted name. */
static const char *stated_default(const char *p, size_t *len)
{
    for (const char *q = p; *q && q < p + 200; q++) {
        if ((q[0] == '.' && (q[1] == ' ' || q[1] == '\n')) || *q == ')' ||
            (q[0] == '\n' && q[1] == '\n') || *q == '`')
            return NULL;
        if (strncmp(q, "default ", 8) == 0) {
            q += 8;
            size_t w = strcspn(q, " ,;)\n`");
            if (w > 0 && q[w - 1] == '.') w--;
            *len = w;
            return w ? q : NULL;
        }
    }
    return NULL;
}

typedef struct {
    const char *file;
    int checked;
} doc_t;

/* Every "`name`" or "`name ARG`" in `text` whose clause states a default.
 * A size may be stated in MB ("default 6 MB"). */
static void check_name(doc_t *d, const char *text, const char *name, const char *want,
                       long long want_mb)
{
    char needle[80];
    snprintf(needle, sizeof needle, "`%s", name);
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) {
        char next = p[strlen(needle)];
        if (next != '`' && next != ' ') continue;
        const char *after = strchr(p + 1, '`');
        size_t w;
        const char *said = after ? stated_default(after + 1, &w) : NULL;
        if (!said) continue;
        d->checked++;
        if (w > 2 && strncmp(said, "./", 2) == 0) {   /* ./data is data */
            said += 2;
            w -= 2;
        }
        bool ok = (strlen(want) == w && strncmp(said, want, w) == 0) ||
                  (want_mb > 0 && atoll(said) == want_mb && strncmp(said + w, " MB", 3) == 0);
        cr_expect(ok, "%s says %s defaults to %.*s; the table says %s", d->file, name, (int)w,
                  said, want);
    }
}

static void check_doc(doc_t *d, const char *text)
{
    size_t n;
    const daemon_option_t *o = daemon_config_options(&n);
    for (size_t i = 0; i < n; i++, o++) {
        if (!o->flag || o->type == DAEMON_OPTION_FLAG) continue;
        char want[128];
        if (o->type == DAEMON_OPTION_SIZE || o->type == DAEMON_OPTION_INT)
            snprintf(want, sizeof want, "%lld", o->def);
        else
            daemon_option_default_text(o, want, sizeof want);
        long long mb = o->type == DAEMON_OPTION_SIZE && o->def % (1024 * 1024) == 0
                           ? o->def / (1024 * 1024) : 0;
        check_name(d, text, o->flag, want, mb);
    }
    const function_field_t *f = function_fields(&n);
    for (size_t i = 0; i < n; i++, f++) {
        if (!f->api || !(f->flags & FUNCTION_FIELD_INPUT) || !f->size) continue;
        char want[128];
        if (f->type == FUNCTION_FIELD_INT) snprintf(want, sizeof want, "%d", f->def);
        else if (f->type == FUNCTION_FIELD_STRING)
            snprintf(want, sizeof want, "%s", f->def_of ? f->def_of() : f->def_str ? f->def_str : "");
        else if (f->type == FUNCTION_FIELD_CHOICE) snprintf(want, sizeof want, "%s", f->choices[f->def]);
        else snprintf(want, sizeof want, "%s", f->def ? "true" : "false");
        check_name(d, text, f->api, want, 0);
    }
}

/* The repository's root, from this file's path (tests/unit/test_config.c). */
static void repo_root(char *out, size_t n)
{
    snprintf(out, n, "%s", __FILE__);
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(out, '/');
        if (!slash) {
            snprintf(out, n, ".");
            return;
        }
        *slash = '\0';
    }
    if (!out[0]) snprintf(out, n, ".");
}

Test(config, docs_state_the_tables_defaults)
{
    char root[4096], path[4200];
    repo_root(root, sizeof root);
    int files = 0, checked = 0;
    snprintf(path, sizeof path, "%s/README.md", root);
    char *text = read_all(path);
    cr_assert_not_null(text, "cannot read %s", path);
    doc_t d = { "README.md", 0 };
    check_doc(&d, text);
    free(text);
    files++;
    checked += d.checked;
    snprintf(path, sizeof path, "%s/docs", root);
    DIR *dir = opendir(path);
    for (struct dirent *e; dir && (e = readdir(dir));) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 3, ".md") != 0) continue;
        snprintf(path, sizeof path, "%s/docs/%s", root, e->d_name);
        text = read_all(path);
        if (!text) continue;
        doc_t dd = { e->d_name, 0 };
        check_doc(&dd, text);
        free(text);
        files++;
        checked += dd.checked;
    }
    if (dir) closedir(dir);
    /* README.md states --sandbox-pool's: a check that finds nothing is broken. */
    cr_assert_gt(checked, 0, "no stated default found in %d files", files);
}
