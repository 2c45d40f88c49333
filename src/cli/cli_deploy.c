/* cli_deploy.c — `nimbus deploy`: package the code (zip a directory, or take
 * a .zip as is), CreateFunction, and on 409 fall back to UpdateFunctionCode +
 * UpdateFunctionConfiguration, so one command both creates and redeploys.
 *
 * With no NAME it hands over to cli_project.c (a project file).
 *
 * Must never: change settings the caller did not give on an update (only
 * Runtime and Handler are always sent), or print more than one line.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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
    fputs("Usage: nimbus deploy NAME DIR|ZIP --runtime R --handler H [options]\n"
          "       nimbus deploy [-t|--template FILE]\n"
          "\n"
          "Create function NAME from a directory (zipped for you, permissions kept)\n"
          "or a .zip file. If NAME exists, its code and configuration are updated.\n"
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
    fputs("  --env K=V            environment variable; repeat for more\n"
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
          "  --url                give the function a URL (if it has none) and print it\n"
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
    const char *template_path; /* --template: a project file */
    bool any_opt;        /* an option for NAME DIR was given */
    cJSON *env;          /* Variables object, NULL = not given */
    cJSON *layers;       /* Layers array, NULL = not given */
} deploy_args_t;

enum { OPT_RUNTIME, OPT_HANDLER, OPT_MEMORY, OPT_TIMEOUT, OPT_ENV, OPT_DESCRIPTION, OPT_CONC, OPT_KEEPALIVE,
       OPT_HTTP_PORT, OPT_INITIALIZER, OPT_URL, OPT_LAYER, OPT_TEMPLATE };
static const cli_opt_t deploy_opts[] = {
    [OPT_RUNTIME] = {"runtime", true},   [OPT_HANDLER] = {"handler", true},
    [OPT_MEMORY] = {"memory", true},     [OPT_TIMEOUT] = {"timeout", true},
    [OPT_ENV] = {"env", true},           [OPT_DESCRIPTION] = {"description", true},
    [OPT_CONC] = {"instance-concurrency", true}, [OPT_KEEPALIVE] = {"keep-alive", true},
    [OPT_HTTP_PORT] = {"http-port", true},       [OPT_INITIALIZER] = {"initializer", false},
    [OPT_URL] = {"url", false},          [OPT_LAYER] = {"layer", true},
    [OPT_TEMPLATE] = {"template", true},
    {NULL, false},
};

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
            if (cli_parse_long(ctx, "--memory", val, 1, 1L << 20, &d->memory, err) < 0) return -1;
            break;
        case OPT_TIMEOUT:
            if (cli_parse_long(ctx, "--timeout", val, 1, 1L << 20, &d->timeout, err) < 0)
                return -1;
            break;
        case OPT_ENV:
            if (deploy_add_env(ctx, d, val, err) < 0) return -1;
            break;
        case OPT_CONC:
            if (cli_parse_long(ctx, "--instance-concurrency", val, 1, 200, &d->concurrency, err) < 0) return -1;
            break;
        case OPT_KEEPALIVE:
            if (cli_parse_long(ctx, "--keep-alive", val, 0, 86400, &d->keep_alive, err) < 0) return -1;
            break;
        case OPT_HTTP_PORT:
            if (cli_parse_long(ctx, "--http-port", val, 1, 65535, &d->http_port, err) < 0) return -1;
            break;
        case OPT_INITIALIZER: d->initializer = true; break;
        case OPT_URL: d->url = true; break;
        case OPT_LAYER:
            if (!d->layers) d->layers = cJSON_CreateArray();
            cJSON_AddItemToArray(d->layers, cJSON_CreateString(val));
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
    if (!d->runtime || !d->runtime[0]) return cli_usage_fail(ctx, err, "missing --runtime");
    if (!d->handler || !d->handler[0]) return cli_usage_fail(ctx, err, "missing --handler");
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

static void deploy_add_settings(cJSON *o, const deploy_args_t *d)
{
    cJSON_AddStringToObject(o, "Runtime", d->runtime);
    cJSON_AddStringToObject(o, "Handler", d->handler);
    if (d->memory) cJSON_AddNumberToObject(o, "MemorySize", (double)d->memory);
    if (d->timeout) cJSON_AddNumberToObject(o, "Timeout", (double)d->timeout);
    if (d->env) {
        cJSON *env = cJSON_AddObjectToObject(o, "Environment");
        cJSON_AddItemToObject(env, "Variables", cJSON_Duplicate(d->env, 1));
    }
    if (d->description) cJSON_AddStringToObject(o, "Description", d->description);
    if (d->concurrency) cJSON_AddNumberToObject(o, "InstanceConcurrency", (double)d->concurrency);
    if (d->keep_alive >= 0) cJSON_AddNumberToObject(o, "KeepAliveSeconds", (double)d->keep_alive);
    if (d->http_port) cJSON_AddNumberToObject(o, "HttpPort", (double)d->http_port);
    if (d->initializer) cJSON_AddBoolToObject(o, "Initializer", true);
    if (d->layers) cJSON_AddItemToObject(o, "Layers", cJSON_Duplicate(d->layers, 1));
}

/* Send `body` (consumed) as JSON; the answer, whatever its status, is left
 * in *resp for the caller to judge (a 409 on create means "update"). */
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

static int deploy_expect_ok(cli_resp_t *resp, cJSON **out, err_t *err)
{
    int rc = cli_resp_check(resp, err);
    if (rc == 0) {
        *out = cli_resp_json(resp, err);
        if (!*out) rc = -1;
    }
    cli_resp_free(resp);
    return rc;
}

static int deploy_update(cli_ctx_t *ctx, const deploy_args_t *d, const char *b64, cJSON **out,
                         err_t *err)
{
    char *ename = cli_escape(d->name);
    buf_t path = {0};
    cli_resp_t resp;
    cJSON *answer = NULL;
    int rc = -1;

    cJSON *code = cJSON_CreateObject();
    cJSON_AddItemToObject(code, "ZipFile", cJSON_CreateStringReference(b64));
    buf_appendf(&path, "/2015-03-31/functions/%s/code", ename);
    if (deploy_send(ctx, "PUT", path.data, code, &resp, err) < 0) {
        cli_resp_free(&resp);
        goto out;
    }
    if (deploy_expect_ok(&resp, &answer, err) < 0) goto out;
    cJSON_Delete(answer);

    cJSON *conf = cJSON_CreateObject();
    deploy_add_settings(conf, d);
    buf_reset(&path);
    buf_appendf(&path, "/2015-03-31/functions/%s/configuration", ename);
    if (deploy_send(ctx, "PUT", path.data, conf, &resp, err) < 0) {
        cli_resp_free(&resp);
        goto out;
    }
    rc = deploy_expect_ok(&resp, out, err);
out:
    buf_free(&path);
    free(ename);
    return rc;
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
    cJSON *answer = NULL;
    /* -t is --template (SAM CLI's short form). */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) abort();
    for (int i = 0; i < argc; i++) args[i] = strcmp(argv[i], "-t") == 0 && i > 0 ? "--template" : argv[i];
    int rc = deploy_parse(ctx, argc, args, &d, err);
    free(args);
    if (rc == 2) return cli_project_deploy(ctx, d.template_path, err);
    if (rc != 0) {
        cJSON_Delete(d.env);
        cJSON_Delete(d.layers);
        if (rc > 0) cli_usage_deploy(stdout);
        return rc > 0 ? 0 : -1;
    }

    rc = -1;
    if (cli_load_package(d.code_path, &zip, err) < 0) goto out;
    b64 = util_base64_encode(zip.data, zip.len, NULL);
    buf_free(&zip);

    cJSON *create = cJSON_CreateObject();
    cJSON_AddStringToObject(create, "FunctionName", d.name);
    deploy_add_settings(create, &d);
    cJSON *code = cJSON_AddObjectToObject(create, "Code");
    /* A reference, not a copy: the package can be tens of megabytes. */
    cJSON_AddItemToObject(code, "ZipFile", cJSON_CreateStringReference(b64));

    cli_resp_t resp;
    if (deploy_send(ctx, "POST", "/2015-03-31/functions", create, &resp, err) < 0) {
        cli_resp_free(&resp);
        goto out;
    }
    if (resp.status == 409 &&
        (!resp.error_type[0] || strcmp(resp.error_type, "ResourceConflictException") == 0)) {
        cli_resp_free(&resp);
        if (deploy_update(ctx, &d, b64, &answer, err) < 0) goto out;
    } else if (deploy_expect_ok(&resp, &answer, err) < 0) {
        goto out;
    }

    printf("deployed %s (runtime %s, handler %s, %ld MB, %ld s) sha256 %s\n",
           deploy_str(answer, "FunctionName", d.name), deploy_str(answer, "Runtime", d.runtime),
           deploy_str(answer, "Handler", d.handler), deploy_num(answer, "MemorySize", d.memory),
           deploy_num(answer, "Timeout", d.timeout), deploy_str(answer, "CodeSha256", "?"));
    rc = 0;
    if (d.url) rc = cli_url_ensure(ctx, d.name, err);
out:
    cJSON_Delete(answer);
    cJSON_Delete(d.env);
    cJSON_Delete(d.layers);
    free(b64);
    buf_free(&zip);
    return rc;
}
