/* cli_profile.c — the client's configuration file: named profiles, each an
 * endpoint and credentials, in the INI shape of the AWS CLI's
 * ~/.aws/config ("[default]", "[profile staging]", "key = value"), and the
 * choice of endpoint and profile a command runs with.
 *
 * Owns the file's path rules and its parsing. Must never: print, send the
 * secret anywhere (only signatures made with it leave: cli_sign.c), or
 * fail a command because there is no file at all (a missing file is an
 * empty one; only a profile asked for by name must exist).
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *cli_config_path(void)
{
    const char *p = getenv(CLI_CONFIG_ENV);
    if (p && *p) return strdup(p);
    buf_t b = {0};
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    /* The XDG base-directory rule: a relative XDG_CONFIG_HOME is ignored. */
    if (xdg && xdg[0] == '/') buf_appendf(&b, "%s/nimbus/config", xdg);
    else if (home && *home) buf_appendf(&b, "%s/.config/nimbus/config", home);
    else return NULL;
    return buf_steal(&b, NULL);
}

void cli_profile_free(cli_profile_t *p)
{
    free(p->endpoint);
    free(p->access_key_id);
    free(p->secret_access_key);
    free(p->region);
    free(p->ca_cert);
    memset(p, 0, sizeof *p);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

/* The profile a section header names: "[default]" and "[profile default]"
 * are both "default"; "[profile  x ]" is "x". NULL when malformed. */
static char *section_name(char *line)
{
    size_t n = strlen(line);
    if (n < 2 || line[n - 1] != ']') return NULL;
    line[n - 1] = '\0';
    char *s = trim(line + 1);
    if (strncmp(s, "profile", 7) == 0 && (s[7] == ' ' || s[7] == '\t')) s = trim(s + 8);
    return *s ? s : NULL;
}

static int set_value(char **slot, const char *v)
{
    free(*slot);
    *slot = strdup(v);
    if (!*slot) abort();
    return 0;
}

int cli_profile_parse(const char *text, const char *where, const char *name, cli_profile_t *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    char *copy = strdup(text);
    if (!copy) abort();
    bool in_it = false;
    int lineno = 0, rc = 0;
    for (char *line = copy, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';') continue;
        if (*s == '[') {
            char *sec = section_name(s);
            if (!sec) { rc = err_set(err, ERR_INVALID, "%s:%d: a malformed section header", where, lineno); break; }
            in_it = strcmp(sec, name) == 0;
            if (in_it) out->found = true;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) { rc = err_set(err, ERR_INVALID, "%s:%d: expected key = value", where, lineno); break; }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        if (!in_it) continue;
        for (char *k = key; *k; k++) *k = (char)tolower((unsigned char)*k);
        /* The AWS CLI's spellings are accepted too, so a copied block works. */
        if (!strcmp(key, "endpoint") || !strcmp(key, "endpoint_url")) set_value(&out->endpoint, val);
        else if (!strcmp(key, "access_key_id") || !strcmp(key, "aws_access_key_id")) set_value(&out->access_key_id, val);
        else if (!strcmp(key, "secret_access_key") || !strcmp(key, "aws_secret_access_key"))
            set_value(&out->secret_access_key, val);
        else if (!strcmp(key, "region")) set_value(&out->region, val);
        else if (!strcmp(key, "ca_cert") || !strcmp(key, "ca_bundle")) set_value(&out->ca_cert, val);
        /* Other keys are ignored, as the AWS CLI ignores keys it does not use. */
    }
    free(copy);
    if (rc < 0) cli_profile_free(out);
    return rc;
}

int cli_profile_load(const char *path, const char *name, cli_profile_t *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    buf_t b = {0};
    err_t ferr;
    if (cli_read_file(path, &b, &ferr) < 0) {
        buf_free(&b);
        if (ferr.sys_errno == ENOENT || ferr.sys_errno == ENOTDIR) return 0;
        *err = ferr;
        return -1;
    }
    int rc = cli_profile_parse(b.data, path, name, out, err);
    buf_free(&b);
    return rc;
}

int cli_ctx_resolve(cli_ctx_t *ctx, err_t *err)
{
    if (ctx->resolved) return 0;
    ctx->resolved = true;
    const char *env_profile = getenv(CLI_PROFILE_ENV);
    const char *name = ctx->profile_flag ? ctx->profile_flag
                       : env_profile && *env_profile ? env_profile : "default";
    bool named = strcmp(name, "default") != 0 || ctx->profile_flag || (env_profile && *env_profile);
    char *path = cli_config_path();
    if (path && cli_profile_load(path, name, &ctx->profile, err) < 0) {
        free(path);
        return -1;
    }
    if (named && !ctx->profile.found) {
        err_set(err, ERR_NOT_FOUND, "no profile '%s' in %s", name, path ? path : "(no configuration file: HOME is unset)");
        free(path);
        return -1;
    }
    free(path);
    const char *env = getenv(CLI_ENDPOINT_ENV);
    ctx->endpoint = ctx->endpoint_flag                       ? ctx->endpoint_flag
                    : env && *env                            ? env
                    : ctx->profile.endpoint && *ctx->profile.endpoint ? ctx->profile.endpoint
                                                             : CLI_DEFAULT_ENDPOINT;
    const char *ca = getenv(CLI_CA_CERT_ENV);
    ctx->ca_cert = ctx->ca_cert_flag ? ctx->ca_cert_flag
                   : ca && *ca ? ca
                   : ctx->profile.ca_cert && *ctx->profile.ca_cert ? ctx->profile.ca_cert : NULL;
    return 0;
}
