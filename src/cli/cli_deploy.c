/* cli_deploy.c — `nimbus deploy`: package the code (zip a directory, or take
 * a .zip as is), look the function up (GetFunctionConfiguration), then
 * CreateFunction for a new one, or UpdateFunctionCode (+
 * UpdateFunctionConfiguration with only the flags given) for an existing
 * one, so one command both creates and redeploys. Before anything is
 * uploaded it checks what the server would refuse later: a package over the
 * zipped size limit, a provided* runtime without a bootstrap.
 *
 * With no NAME it hands over to cli_project.c (a project file).
 *
 * Must never: change settings the caller did not give on an update, send a
 * package it has refused, or print more than its one result.
 */
#include "cli/cli.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/function.h"
#include "core/runtime.h"

/* "  --memory MB          memory size in MB (default 128 on create)": the
 * default from the function field table. */
static void deploy_usage_default(FILE *out, const char *opt, const char *what, const char *api)
{
    int col = fprintf(out, "  %-20s %s", opt, what);
    char def[48];
    int w = snprintf(def, sizeof def, "(default %d on create)", function_field(api)->def);
    if (col + 1 + w > 79) fprintf(out, "\n%23s%s\n", "", def);
    else fprintf(out, " %s\n", def);
}

void cli_usage_deploy(FILE *out)
{
    fputs("Usage: nimbus deploy NAME DIR|ZIP [--runtime R --handler H] [options]\n"
          "       nimbus deploy [-t|--template FILE]\n"
          "\n"
          "Create function NAME from a directory (zipped for you, permissions kept)\n"
          "or a .zip file; --runtime and --handler are required then. If NAME exists,\n"
          "its code is updated and its settings are kept: only the options given\n"
          "change them (--env adds or replaces variables, --env-unset removes one).\n"
          "Refused before anything is uploaded: a package over the server's zipped\n"
          "size limit (50 MB by default), a provided* runtime whose package has no\n"
          "executable bootstrap at its root (unless the function has layers, which\n"
          "may bring /opt/bootstrap). An upload that takes over a second shows its\n"
          "progress on stderr when stderr is a terminal.\n"
          "Without NAME: deploy what the project file describes (FILE, else ./template.yaml,\n"
          "template.yml, s.yaml or s.yml: AWS SAM or Serverless Devs), only what changed.\n"
          "\n"
          "Options:\n"
          "  --runtime R          runtime: ",
          out);
    /* The runtime table's names, wrapped under the description column. */
    int col = 32;
    const char *const *names = runtime_names();
    for (size_t i = 0; names[i]; i++) {
        int w = (int)strlen(names[i]) + (names[i + 1] ? 1 : 0);
        if (i && col + 1 + w > 79) {
            fprintf(out, "\n%23s", "");
            col = 23;
        } else if (i) {
            fputc(' ', out);
            col++;
        }
        col += fprintf(out, "%s%s", names[i], names[i + 1] ? "," : "");
    }
    fputs("\n"
          "  --handler H          handler, e.g. main.handler\n",
          out);
    deploy_usage_default(out, "--memory MB", "memory size in MB", "MemorySize");
    deploy_usage_default(out, "--timeout S", "timeout in seconds", "Timeout");
    fputs("  --env K=V            set environment variable K (repeat for more); on an\n"
          "                       update the others the function has are kept\n"
          "  --env-unset K        remove environment variable K (repeatable)\n"
          "  --description TEXT   description\n",
          out);
    deploy_usage_default(out, "--instance-concurrency N", "calls one instance serves at once (Nimbus)",
                         "InstanceConcurrency");
    fputs("  --keep-alive S       idle instances reclaimed after S seconds (Nimbus;\n"
          "                       default: the server's --keep-alive)\n",
          out);
    deploy_usage_default(out, "--http-port N", "provided.fc: the port its server listens on",
                         "HttpPort");
    fputs("  --initializer        provided.fc: call POST /initialize once per instance\n"
          "  --layer ARN          a layer version for /opt (repeat, in order; given on an\n"
          "                       update, the list replaces the function's)\n"
          "  --network MODE       none: loopback only (the default); egress: outbound\n"
          "                       through NAT, never the host (docs/network.md)\n"
          "  --url                give the function a URL (if it has none) and print it\n"
          "  -o, --output FORMAT  table (a line, the default) or json (the configuration)\n"
          "  -t, --template FILE  the project file to deploy (docs/cli-projects.md)\n"
          "  --endpoint URL       Nimbus API (default $" CLI_ENDPOINT_ENV ", else "
          CLI_DEFAULT_ENDPOINT ")\n"
          "  -h, --help           show this help\n",
          out);
}

typedef struct {
    const char *name;
    const char *code_path;
    const char *runtime;
    const char *handler;
    const char *description;
    long memory;         /* 0 = not given */
    long timeout;        /* 0 = not given */
    long concurrency;    /* InstanceConcurrency, 0 = not given */
    long keep_alive;     /* KeepAliveSeconds, -1 = not given */
    long http_port;      /* HttpPort, 0 = not given */
    bool initializer;    /* Initializer: true */
    bool url;            /* then make sure it has a function URL */
    const char *network; /* Network, NULL = not given */
    const char *template_path; /* --template: a project file */
    bool any_opt;        /* an option for NAME DIR was given */
    cJSON *env;          /* Variables object, NULL = not given */
    cJSON *env_unset;    /* array of names to remove, NULL = not given */
    cJSON *layers;       /* Layers array, NULL = not given */
} deploy_args_t;

enum { OPT_RUNTIME, OPT_HANDLER, OPT_MEMORY, OPT_TIMEOUT, OPT_ENV, OPT_DESCRIPTION, OPT_CONC, OPT_KEEPALIVE,
       OPT_HTTP_PORT, OPT_INITIALIZER, OPT_URL, OPT_LAYER, OPT_ENV_UNSET, OPT_NETWORK, OPT_TEMPLATE };
static const cli_opt_t deploy_opts[] = {
    [OPT_RUNTIME] = {"runtime", true},   [OPT_HANDLER] = {"handler", true},
    [OPT_MEMORY] = {"memory", true},     [OPT_TIMEOUT] = {"timeout", true},
    [OPT_ENV] = {"env", true},           [OPT_DESCRIPTION] = {"description", true},
    [OPT_CONC] = {"instance-concurrency", true}, [OPT_KEEPALIVE] = {"keep-alive", true},
    [OPT_HTTP_PORT] = {"http-port", true},       [OPT_INITIALIZER] = {"initializer", false},
    [OPT_URL] = {"url", false},          [OPT_LAYER] = {"layer", true},
    [OPT_ENV_UNSET] = {"env-unset", true}, [OPT_NETWORK] = {"network", true},
    [OPT_TEMPLATE] = {"template", true},
    {NULL, false},
};

/* The server's range for a field, so the CLI refuses what it would. */
static long field_min(const char *api) { return function_field(api)->min; }
static long field_max(const char *api) { return function_field(api)->max; }

static int deploy_add_env(cli_ctx_t *ctx, deploy_args_t *d, const char *kv, err_t *err)
{
    /* Split at the first '=' only: values may contain '=' themselves. */
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return cli_usage_fail(ctx, err, "--env expects KEY=VALUE, not '%s'", kv);
    size_t klen = (size_t)(eq - kv);
    char *key = strndup(kv, klen);
    if (!key) abort();
    if (!d->env) d->env = cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(d->env, key);   /* the last one wins */
    cJSON_AddStringToObject(d->env, key, eq + 1);
    free(key);
    return 0;
}

/* Returns 1 when --help was asked, 0 when parsed, -1 on a usage error. */
static int deploy_parse(cli_ctx_t *ctx, int argc, char **argv, deploy_args_t *d, err_t *err)
{
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    cli_args_short(&a, 't', OPT_TEMPLATE);   /* SAM CLI's short form */
    const char *val;
    int npos = 0;
    for (;;) {
        int opt = cli_args_next(ctx, &a, deploy_opts, &val, err);
        switch (opt) {
        case CLI_ARG_END: goto done;
        case CLI_ARG_ERROR: return -1;
        case CLI_ARG_HELP: return 1;
        case CLI_ARG_POSITIONAL:
            if (npos == 0) d->name = val;
            else if (npos == 1) d->code_path = val;
            else return cli_usage_fail(ctx, err, "unexpected argument '%s'", val);
            npos++;
            break;
        case OPT_TEMPLATE: d->template_path = val; continue;
        case OPT_RUNTIME: d->runtime = val; break;
        case OPT_HANDLER: d->handler = val; break;
        case OPT_DESCRIPTION: d->description = val; break;
        case OPT_MEMORY:
            if (cli_parse_long(ctx, "--memory", val, field_min("MemorySize"), field_max("MemorySize"), &d->memory, err) < 0) return -1;
            break;
        case OPT_TIMEOUT:
            if (cli_parse_long(ctx, "--timeout", val, field_min("Timeout"), field_max("Timeout"), &d->timeout, err) < 0)
                return -1;
            break;
        case OPT_ENV:
            if (deploy_add_env(ctx, d, val, err) < 0) return -1;
            break;
        case OPT_CONC:
            if (cli_parse_long(ctx, "--instance-concurrency", val, field_min("InstanceConcurrency"), field_max("InstanceConcurrency"), &d->concurrency, err) < 0) return -1;
            break;
        case OPT_KEEPALIVE:
            if (cli_parse_long(ctx, "--keep-alive", val, field_min("KeepAliveSeconds"), field_max("KeepAliveSeconds"), &d->keep_alive, err) < 0) return -1;
            break;
        case OPT_HTTP_PORT:
            if (cli_parse_long(ctx, "--http-port", val, field_min("HttpPort"), field_max("HttpPort"), &d->http_port, err) < 0) return -1;
            break;
        case OPT_INITIALIZER: d->initializer = true; break;
        case OPT_URL: d->url = true; break;
        case OPT_LAYER:
            if (!d->layers) d->layers = cJSON_CreateArray();
            cJSON_AddItemToArray(d->layers, cJSON_CreateString(val));
            break;
        case OPT_ENV_UNSET:
            if (!val[0] || strchr(val, '='))
                return cli_usage_fail(ctx, err, "--env-unset expects a variable name, not '%s'", val);
            if (!d->env_unset) d->env_unset = cJSON_CreateArray();
            cJSON_AddItemToArray(d->env_unset, cJSON_CreateString(val));
            break;
        case OPT_NETWORK:
            /* host is the API's alone: an explicit admin's choice (docs/network.md). */
            if (strcmp(val, "none") != 0 && strcmp(val, "egress") != 0)
                return cli_usage_fail(ctx, err, "--network is none or egress, not '%s'", val);
            d->network = val;
            break;
        default: return cli_usage_fail(ctx, err, "internal: unhandled option");
        }
        if (opt >= 0) d->any_opt = true;
    }
done:
    if (!d->name || d->template_path) {
        if (d->name || d->any_opt)
            return cli_usage_fail(ctx, err, "a project file (--template, or none given) takes no NAME, DIR or "
                                            "function options");
        return 2;
    }
    if (!d->name || !d->name[0]) return cli_usage_fail(ctx, err, "missing NAME and DIR|ZIP");
    if (!d->code_path || !d->code_path[0]) return cli_usage_fail(ctx, err, "missing DIR|ZIP");
    if (d->runtime && !d->runtime[0]) return cli_usage_fail(ctx, err, "--runtime needs a value");
    if (d->handler && !d->handler[0]) return cli_usage_fail(ctx, err, "--handler needs a value");
    const cJSON *k;
    cJSON_ArrayForEach(k, d->env_unset) {
        if (cJSON_GetObjectItemCaseSensitive(d->env, k->valuestring))
            return cli_usage_fail(ctx, err, "--env %s=... and --env-unset %s contradict each other",
                                  k->valuestring, k->valuestring);
    }
    return 0;
}

/* The deployment package, as the ZIP bytes the API wants. */
int cli_load_package(const char *path, buf_t *zip, err_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0) return err_sys(err, "%s", path);
    if (S_ISDIR(st.st_mode)) return cli_zip_dir(path, zip, err);
    if (!S_ISREG(st.st_mode))
        return err_set(err, ERR_INVALID, "%s: not a directory or a .zip file", path);
    if (cli_read_file(path, zip, err) < 0) return -1;
    size_t n = strlen(path);
    bool zip_name = n >= 4 && strcasecmp(path + n - 4, ".zip") == 0;
    bool zip_magic = zip->len >= 4 && memcmp(zip->data, "PK", 2) == 0 &&
                     (memcmp(zip->data + 2, "\3\4", 2) == 0 || memcmp(zip->data + 2, "\5\6", 2) == 0);
    if (!zip_name && !zip_magic)
        return err_set(err, ERR_INVALID, "%s: not a directory or a .zip file", path);
    return 0;
}

/* The settings given on the command line; `env` is the whole Variables
 * object to send (NULL: leave the function's as they are). */
static void deploy_add_settings(cJSON *o, const deploy_args_t *d, const cJSON *env)
{
    if (d->runtime) cJSON_AddStringToObject(o, "Runtime", d->runtime);
    if (d->handler) cJSON_AddStringToObject(o, "Handler", d->handler);
    if (d->memory) cJSON_AddNumberToObject(o, "MemorySize", (double)d->memory);
    if (d->timeout) cJSON_AddNumberToObject(o, "Timeout", (double)d->timeout);
    if (env) {
        cJSON *e = cJSON_AddObjectToObject(o, "Environment");
        cJSON_AddItemToObject(e, "Variables", cJSON_Duplicate(env, 1));
    }
    if (d->description) cJSON_AddStringToObject(o, "Description", d->description);
    if (d->concurrency) cJSON_AddNumberToObject(o, "InstanceConcurrency", (double)d->concurrency);
    if (d->keep_alive >= 0) cJSON_AddNumberToObject(o, "KeepAliveSeconds", (double)d->keep_alive);
    if (d->http_port) cJSON_AddNumberToObject(o, "HttpPort", (double)d->http_port);
    if (d->initializer) cJSON_AddBoolToObject(o, "Initializer", true);
    if (d->layers) cJSON_AddItemToObject(o, "Layers", cJSON_Duplicate(d->layers, 1));
    if (d->network) cJSON_AddStringToObject(o, "Network", d->network);
}

/* The Variables to send on an update: the function's own, then --env on
 * top, minus --env-unset. NULL when neither flag was given. */
static cJSON *deploy_merged_env(const deploy_args_t *d, const cJSON *current)
{
    if (!d->env && !d->env_unset) return NULL;
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(current, "Environment"), "Variables");
    cJSON *out = cJSON_IsObject(vars) ? cJSON_Duplicate(vars, 1) : cJSON_CreateObject();
    const cJSON *it;
    cJSON_ArrayForEach(it, d->env) {
        cJSON_DeleteItemFromObjectCaseSensitive(out, it->string);
        cJSON_AddItemToObject(out, it->string, cJSON_Duplicate(it, 1));
    }
    cJSON_ArrayForEach(it, d->env_unset) cJSON_DeleteItemFromObjectCaseSensitive(out, it->valuestring);
    return out;
}

static bool deploy_changes_config(const deploy_args_t *d)
{
    return d->runtime || d->handler || d->memory || d->timeout || d->env || d->env_unset || d->description ||
           d->concurrency || d->keep_alive >= 0 || d->http_port || d->initializer || d->layers || d->network;
}

/* ---- checks before the upload -------------------------------------------- */

#define DEPLOY_MB (1024.0 * 1024.0)

/* Lambda's limit on a package uploaded directly, and the daemon's default
 * --max-zip-bytes. */
#define DEPLOY_ZIP_LIMIT 52428800L

/* A package over the default limit is refused unless this server says it
 * takes more (GetAccountSettings' AccountLimit.CodeSizeZipped): asked only
 * then, so a usual deploy costs no extra request. */
static int deploy_check_size(cli_ctx_t *ctx, size_t len, err_t *err)
{
    if (len <= (size_t)DEPLOY_ZIP_LIMIT) return 0;
    double limit = (double)DEPLOY_ZIP_LIMIT;
    cli_req_t req = {.method = "GET", .path = "/2016-08-19/account-settings"};
    cli_resp_t resp;
    if (cli_http(ctx, &req, &resp, err) < 0) {
        cli_resp_free(&resp);
        return -1;
    }
    cJSON *j = resp.status == 200 ? cJSON_ParseWithLength(resp.body.data, resp.body.len) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "AccountLimit"),
                                                      "CodeSizeZipped");
    if (cJSON_IsNumber(v) && v->valuedouble > 0) limit = v->valuedouble;
    cJSON_Delete(j);
    cli_resp_free(&resp);
    if ((double)len <= limit) return 0;
    return err_set(err, ERR_TOO_LARGE,
                   "the package is %.1f MB zipped, over the server's limit of %.1f MB (%.0f bytes); "
                   "nothing was uploaded", (double)len / DEPLOY_MB, limit / DEPLOY_MB, limit);
}

/* Is there a `bootstrap` file at the root of the ZIP? Its mode is not
 * judged: the daemon makes a root-level bootstrap executable on extraction
 * (ZIPs made on Windows carry no unix mode). */
static int deploy_zip_has_bootstrap(const buf_t *zip, bool *found, err_t *err)
{
    *found = false;
    struct archive *a = archive_read_new();
    if (!a) abort();
    archive_read_support_format_zip(a);
    if (archive_read_open_memory(a, zip->data, zip->len) != ARCHIVE_OK) {
        err_set(err, ERR_ZIP, "not a readable ZIP: %s", archive_error_string(a));
        archive_read_free(a);
        return -1;
    }
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *n = archive_entry_pathname(e);
        if (n && strncmp(n, "./", 2) == 0) n += 2;
        mode_t type = archive_entry_filetype(e);
        if (n && strcmp(n, "bootstrap") == 0 && (type == AE_IFREG || type == AE_IFLNK)) {
            *found = true;
            break;
        }
    }
    if (r != ARCHIVE_OK && r != ARCHIVE_EOF && !*found) {
        err_set(err, ERR_ZIP, "not a readable ZIP: %s", archive_error_string(a));
        archive_read_free(a);
        return -1;
    }
    archive_read_free(a);
    return 0;
}

/* A provided* runtime runs the package's own `bootstrap`, or a layer's
 * /opt/bootstrap: without either the function could never start. */
static int deploy_check_bootstrap(const char *code_path, const buf_t *zip, const char *runtime, bool has_layers,
                                  err_t *err)
{
    if (!runtime || strncmp(runtime, "provided", 8) != 0 || has_layers) return 0;
    struct stat st;
    if (stat(code_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        int dfd = open(code_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) return err_sys(err, "%s", code_path);
        struct stat b;
        bool there = fstatat(dfd, "bootstrap", &b, 0) == 0 && S_ISREG(b.st_mode);
        bool exec = there && faccessat(dfd, "bootstrap", X_OK, 0) == 0 && (b.st_mode & 0111);
        close(dfd);
        if (!there)
            return err_set(err, ERR_INVALID,
                           "runtime %s runs the package's bootstrap, and %s has no bootstrap file at its root; "
                           "nothing was uploaded", runtime, code_path);
        if (!exec)
            return err_set(err, ERR_INVALID, "%s/bootstrap is not executable (chmod +x it); nothing was uploaded",
                           code_path);
        return 0;
    }
    bool found;
    if (deploy_zip_has_bootstrap(zip, &found, err) < 0) return -1;
    if (!found)
        return err_set(err, ERR_INVALID,
                       "runtime %s runs the package's bootstrap, and %s has no bootstrap at its root; "
                       "nothing was uploaded", runtime, code_path);
    return 0;
}

/* ---- the requests ---------------------------------------------------------- */

/* Send `body` (consumed) as JSON; the answer, whatever its status, is left
 * in *resp for the caller to judge. */
static int deploy_send(cli_ctx_t *ctx, const char *method, const char *path, cJSON *body,
                       cli_resp_t *resp, err_t *err)
{
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) abort();
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    cli_req_t req = {.method = method, .path = path, .headers = hdrs,
                     .body = text, .body_len = strlen(text)};
    int rc = cli_http(ctx, &req, resp, err);
    free(text);
    return rc;
}

/* `body` (consumed) sent; the 2xx answer's JSON in *out, or -1. */
static int deploy_call(cli_ctx_t *ctx, const char *method, const char *path, cJSON *body, cJSON **out,
                       err_t *err)
{
    cli_resp_t resp;
    int rc = deploy_send(ctx, method, path, body, &resp, err);
    if (rc == 0) rc = cli_resp_check(&resp, err);
    if (rc == 0) {
        *out = cli_resp_json(&resp, err);
        if (!*out) rc = -1;
    }
    cli_resp_free(&resp);
    return rc;
}

/* GetFunctionConfiguration: 1 with *out set when the function exists, 0
 * when it does not, -1 on any other failure. */
static int deploy_lookup(cli_ctx_t *ctx, const char *name, cJSON **out, err_t *err)
{
    char *ename = cli_escape(name);
    buf_t path = {0};
    buf_appendf(&path, "/2015-03-31/functions/%s/configuration", ename);
    free(ename);
    cli_req_t req = {.method = "GET", .path = path.data};
    cli_resp_t resp;
    int rc = cli_http(ctx, &req, &resp, err);
    buf_free(&path);
    if (rc == 0 && resp.status == 404 &&
        (!resp.error_type[0] || strcmp(resp.error_type, "ResourceNotFoundException") == 0)) {
        rc = 0;
    } else if (rc == 0 && cli_resp_check(&resp, err) == 0) {
        *out = cli_resp_json(&resp, err);
        rc = *out ? 1 : -1;
    } else {
        rc = -1;
    }
    cli_resp_free(&resp);
    return rc;
}

static int deploy_update(cli_ctx_t *ctx, const deploy_args_t *d, const cJSON *current, const char *b64,
                         cJSON **out, err_t *err)
{
    char *ename = cli_escape(d->name);
    buf_t path = {0};
    int rc = -1;

    cJSON *code = cJSON_CreateObject();
    cJSON_AddItemToObject(code, "ZipFile", cJSON_CreateStringReference(b64));
    buf_appendf(&path, "/2015-03-31/functions/%s/code", ename);
    if (deploy_call(ctx, "PUT", path.data, code, out, err) < 0) goto out;
    if (!deploy_changes_config(d)) {
        rc = 0;
        goto out;
    }
    cJSON_Delete(*out);
    *out = NULL;
    cJSON *env = deploy_merged_env(d, current);
    cJSON *conf = cJSON_CreateObject();
    deploy_add_settings(conf, d, env);
    cJSON_Delete(env);
    buf_reset(&path);
    buf_appendf(&path, "/2015-03-31/functions/%s/configuration", ename);
    rc = deploy_call(ctx, "PUT", path.data, conf, out, err);
out:
    buf_free(&path);
    free(ename);
    return rc;
}

static int deploy_create(cli_ctx_t *ctx, const deploy_args_t *d, const char *b64, cJSON **out, err_t *err)
{
    cJSON *create = cJSON_CreateObject();
    cJSON_AddStringToObject(create, "FunctionName", d->name);
    deploy_add_settings(create, d, d->env);
    cJSON *code = cJSON_AddObjectToObject(create, "Code");
    /* A reference, not a copy: the package can be tens of megabytes. */
    cJSON_AddItemToObject(code, "ZipFile", cJSON_CreateStringReference(b64));
    return deploy_call(ctx, "POST", "/2015-03-31/functions", create, out, err);
}

static const char *deploy_str(const cJSON *o, const char *key, const char *fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

static long deploy_num(const cJSON *o, const char *key, long fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : fallback;
}

int cli_cmd_deploy(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    deploy_args_t d = {0};
    d.keep_alive = -1;
    buf_t zip = {0};
    char *b64 = NULL;
    cJSON *answer = NULL, *current = NULL;
    int rc = deploy_parse(ctx, argc, argv, &d, err);
    if (rc == 2) return cli_project_deploy(ctx, d.template_path, err);
    if (rc != 0) {
        if (rc > 0) cli_usage_deploy(stdout);
        rc = rc > 0 ? 0 : -1;
        goto out;
    }
    rc = -1;
    if (cli_load_package(d.code_path, &zip, err) < 0) goto out;
    if (deploy_check_size(ctx, zip.len, err) < 0) goto out;

    int exists = deploy_lookup(ctx, d.name, &current, err);
    if (exists < 0) goto out;
    if (!exists && (!d.runtime || !d.handler)) {
        cli_usage_fail(ctx, err, "%s is a new function: --runtime and --handler are required", d.name);
        goto out;
    }
    const char *runtime = d.runtime ? d.runtime : deploy_str(current, "Runtime", NULL);
    bool has_layers = d.layers ? cJSON_GetArraySize(d.layers) > 0
                               : cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(current, "Layers")) > 0;
    if (deploy_check_bootstrap(d.code_path, &zip, runtime, has_layers, err) < 0) goto out;

    b64 = util_base64_encode(zip.data, zip.len, NULL);
    buf_free(&zip);
    if (exists ? deploy_update(ctx, &d, current, b64, &answer, err) < 0
               : deploy_create(ctx, &d, b64, &answer, err) < 0)
        goto out;

    if (cli_json_out(ctx)) {
        /* One document: the FunctionConfiguration, with its URL (--url). */
        char *u = d.url ? cli_url_ensure_get(ctx, d.name, err) : NULL;
        if (d.url && !u) goto out;
        if (u) cJSON_AddStringToObject(answer, "FunctionUrl", u);
        free(u);
        cli_print_json(answer);
        rc = 0;
        goto out;
    }
    printf("deployed %s (runtime %s, handler %s, %ld MB, %ld s) sha256 %s\n",
           deploy_str(answer, "FunctionName", d.name), deploy_str(answer, "Runtime", "?"),
           deploy_str(answer, "Handler", "?"), deploy_num(answer, "MemorySize", d.memory),
           deploy_num(answer, "Timeout", d.timeout), deploy_str(answer, "CodeSha256", "?"));
    rc = 0;
    if (d.url) rc = cli_url_ensure(ctx, d.name, err);
out:
    cJSON_Delete(answer);
    cJSON_Delete(current);
    cJSON_Delete(d.env);
    cJSON_Delete(d.env_unset);
    cJSON_Delete(d.layers);
    free(b64);
    buf_free(&zip);
    return rc;
}
