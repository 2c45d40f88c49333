/* daemon.c — `nimbus serve`: assembles the parts, routes the public API,
 * handles signals and the graceful drain.
 *
 * Owns the daemon_t, the public HTTP routing table and the answers' error
 * shapes (the edge: only here and in the HTTP layer do errors become
 * output). Must never: exit while a call it accepted is unanswered.
 */
#define _GNU_SOURCE
#include "daemon/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "sandbox/cgroup.h"
#include "api/control.h"
#include "api/exec.h"
#include "core/instance.h"
#include "core/invoke.h"
#include "core/logs.h"
#include "core/router.h"
#include "core/runtime.h"
#include "transport/runtime_api.h"
#include "sandbox/sandbox.h"
#include "sandbox/spawner.h"
#include "base/util.h"
#include "api/version.h"

void daemon_config_defaults(daemon_config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8080;
    snprintf(c->data_dir, sizeof c->data_dir, "data");
    c->max_zip_bytes = 52428800;
    c->max_unzipped_bytes = 262144000;
    c->invoke_max_bytes = 6291456;
    c->max_instances_per_fn = 100;
    c->account_concurrency = 1000;
    c->keep_alive_s = 120;
    c->throttle_wait_ms = 5000;
    c->max_queue = 10000;
    c->workers = 4;
    c->sandbox = true;   /* secure by default; --insecure-no-sandbox opts out */
    c->sandbox_pool = 4;
}

/* ---- answers ---- */

void daemon_respond_json(http_exchange_t *ex, int status, char *json)
{
    static const http_header_t h[] = { { "Content-Type", "application/json" } };
    if (!json) { http_respond(ex, status, h, 1, NULL, 0); return; }
    http_respond_owned(ex, status, h, 1, json, strlen(json));
}

void daemon_respond_error(http_exchange_t *ex, int status, const char *type, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char rid[37];
    util_uuid4(rid);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Type", status >= 500 ? "Service" : "User");
    /* The SDK models name the member "Message" for some exceptions and
     * "message" for others (lambda-api.md §3.2); send both spellings' owner
     * what it expects. */
    bool capital = strcmp(type, "ResourceNotFoundException") == 0 || strcmp(type, "ServiceException") == 0 ||
                   strcmp(type, "InvalidRuntimeException") == 0;
    cJSON_AddStringToObject(o, capital ? "Message" : "message", msg);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    http_header_t h[] = { { "Content-Type", "application/json" }, { "x-amzn-ErrorType", type },
                          { "x-amzn-RequestId", rid } };
    http_respond_owned(ex, status, h, 3, body, strlen(body));
}

void daemon_respond_not_found(http_exchange_t *ex, const char *name, const char *qualifier)
{
    char arn[400];
    function_arn(name, qualifier, arn, sizeof arn);
    daemon_respond_error(ex, 404, "ResourceNotFoundException", "Function not found: %s", arn);
}

void daemon_respond_err(http_exchange_t *ex, const err_t *err)
{
    switch (err->code) {
    case ERR_VALIDATION: daemon_respond_error(ex, 400, "ValidationException", "%s", err->msg); break;
    case ERR_INVALID:
    case ERR_ZIP: daemon_respond_error(ex, 400, "InvalidParameterValueException", "%s", err->msg); break;
    case ERR_NOT_FOUND: daemon_respond_error(ex, 404, "ResourceNotFoundException", "%s", err->msg); break;
    case ERR_CONFLICT: daemon_respond_error(ex, 409, "ResourceConflictException", "%s", err->msg); break;
    case ERR_TOO_LARGE:
        /* Lambda answers an oversized deployment package with 400. */
        daemon_respond_error(ex, 400, "InvalidParameterValueException", "%s", err->msg);
        break;
    default: daemon_respond_error(ex, 500, "ServiceException", "%s", err->msg); break;
    }
}

/* ---- routing ---- */

static const char FN_PREFIX[] = "/2015-03-31/functions";

static size_t api_body_limit(const http_request_t *req, void *arg)
{
    daemon_t *d = arg;
    const char *p = req->path;
    size_t plen = strlen(p);
    if (plen > 12 && strcmp(p + plen - 12, "/invocations") == 0) return d->cfg.invoke_max_bytes + 4096;
    if (strncmp(p, FN_PREFIX, sizeof FN_PREFIX - 1) == 0)
        return d->cfg.max_zip_bytes / 3 * 4 + 8 + 1024 * 1024;  /* base64 ZIP + settings */
    return 1024 * 1024;
}

/* Nimbus' own per-function routes, /nimbus/v1/functions/NAME/SUB: the
 * name is decoded and looked up once for all of them. Returns false when
 * SUB is none of them. */
static bool native_function_route(daemon_t *d, http_exchange_t *ex, http_request_t *req, const char *name,
                                  const char *sub)
{
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    const char *tail = strncmp(sub, "/instances/", 11) == 0 ? strchr(sub + 11, '/') : NULL;
    bool exec = post && tail && strcmp(tail, "/exec") == 0;
    bool list = get && strcmp(sub, "/instances") == 0, logs = get && strcmp(sub, "/logs") == 0;
    if (!exec && !list && !logs) return false;
    char *raw = strndup(name, (size_t)(sub - name));
    char *dec = raw ? util_url_decode(raw, strlen(raw)) : NULL;
    router_fn_t *fn = dec ? router_find(d->router, dec) : NULL;
    if (!fn) {
        daemon_respond_not_found(ex, dec ? dec : "", NULL);
    } else if (exec) {
        char iid[64];
        snprintf(iid, sizeof iid, "%.*s", (int)(tail - (sub + 11)), sub + 11);
        instance_t *in = instance_find(fn, iid);
        exec_target_t t = { .id = in ? in->id : NULL, .proc = in ? &in->proc : NULL,
                            .env_block = in ? in->env_block : NULL, .env_len = in ? in->env_len : 0,
                            .starting = in && in->spawning,
                            .stopping = in && (in->exited || in->state == INST_STOPPING) };
        if (in) exec_handle(d->loop, ex, req, &t);
        else daemon_respond_error(ex, 404, "ResourceNotFoundException", "Instance not found: %s", iid);
    } else if (list) {
        daemon_respond_json(ex, 200, instance_list_json(fn));
    } else {
        logs_handle_query(d->logs, ex, dec, req->query);
    }
    free(raw);
    free(dec);
    return true;
}

static void api_handle(http_exchange_t *ex, http_request_t *req, void *arg)
{
    daemon_t *d = arg;
    const char *p = req->path;
    if (strncmp(p, FN_PREFIX, sizeof FN_PREFIX - 1) == 0 &&
        (p[sizeof FN_PREFIX - 1] == '/' || p[sizeof FN_PREFIX - 1] == '\0')) {
        const char *rest = p + sizeof FN_PREFIX - 1;
        size_t rl = strlen(rest);
        static const char inv[] = "/invocations";
        if (rl > sizeof inv && strcmp(rest + rl - (sizeof inv - 1), inv) == 0 && rest[0] == '/') {
            if (strcmp(req->method, "POST") != 0) {
                daemon_respond_error(ex, 405, "MethodNotAllowedException", "Invoke needs POST");
                return;
            }
            char *seg = strndup(rest + 1, rl - 1 - (sizeof inv - 1));
            char *name = seg ? util_url_decode(seg, strlen(seg)) : NULL;
            char *qual = util_query_param(req->query, "Qualifier");
            if (name && !strchr(name, '/')) invoke_handle(d, ex, name, qual);
            else daemon_respond_error(ex, 404, "ResourceNotFoundException", "Function not found");
            free(seg);
            free(name);
            free(qual);
            return;
        }
        control_handle(d, ex, req, rest);
        return;
    }
    static const char PC[] = "/2019-12-02/functions/";
    if (strncmp(p, PC, sizeof PC - 1) == 0) {
        const char *seg = p + sizeof PC - 1, *slash = strchr(seg, '/');
        if (slash && strcmp(slash, "/provisioned-concurrency") == 0) {
            char *raw = strndup(seg, (size_t)(slash - seg));
            char *name = raw ? util_url_decode(raw, strlen(raw)) : NULL;
            if (name) version_handle_provisioned(d, ex, req, name);
            else daemon_respond_error(ex, 404, "ResourceNotFoundException", "Function not found");
            free(raw);
            free(name);
            return;
        }
    }
    /* Concurrency lives under two other API dates. */
    static const char C1[] = "/2017-10-31/functions/", C2[] = "/2019-09-30/functions/";
    if (strncmp(p, C1, sizeof C1 - 1) == 0 || strncmp(p, C2, sizeof C2 - 1) == 0) {
        const char *seg = p + sizeof C1 - 1, *slash = strchr(seg, '/');
        if (slash && strcmp(slash, "/concurrency") == 0) {
            char *name = strndup(seg, (size_t)(slash - seg));
            if (name) control_handle_concurrency(d, ex, req, name);
            else daemon_respond_error(ex, 500, "ServiceException", "out of memory");
            free(name);
            return;
        }
    }
    static const char NATIVE_PRE[] = "/nimbus/v1/functions/";
    if (strncmp(p, NATIVE_PRE, sizeof NATIVE_PRE - 1) == 0) {
        const char *name = p + sizeof NATIVE_PRE - 1, *slash = strchr(name, '/');
        if (slash && native_function_route(d, ex, req, name, slash)) return;
    }
    static const char EXEC_PRE[] = "/nimbus/v1/execs/";
    if (strncmp(p, EXEC_PRE, sizeof EXEC_PRE - 1) == 0 && strcmp(req->method, "GET") == 0) {
        exec_poll(d->loop, ex, p + sizeof EXEC_PRE - 1, req->query);
        return;
    }
    static const char CODE_PRE[] = "/nimbus/v1/code/";
    if (strncmp(p, CODE_PRE, sizeof CODE_PRE - 1) == 0 && strcmp(req->method, "GET") == 0) {
        control_get_code(d, ex, p + sizeof CODE_PRE - 1);
        return;
    }
    if (strcmp(p, "/nimbus/v1/health") == 0) {
        char *s = NULL;
        if (asprintf(&s, "{\"status\":\"%s\",\"functions\":%zu,\"instances\":%u,\"inflight\":%u,\"cgroup\":\"%s\"}",
                     d->stopping ? "stopping" : "ok", router_count(d->router),
                     router_instance_count(d->router), router_inflight(d->router), cgroup_version()) < 0)
            s = NULL;
        daemon_respond_json(ex, 200, s);
        return;
    }
    daemon_respond_error(ex, 404, "UnknownOperationException", "Unknown operation %s %s", req->method, p);
}

/* ---- signals and the drain ---- */

static void drain_check(loop_t *l, void *arg);

static void api_drained(void *arg)
{
    daemon_t *d = arg;
    /* Every accepted call is answered: end the instances, then stop once
     * they are gone and pending writes (logs) are done. */
    router_stop_all(d->router);
    loop_timer_add(d->loop, 10, drain_check, d);
}

static void drain_check(loop_t *l, void *arg)
{
    daemon_t *d = arg;
    if (router_instance_count(d->router) == 0 && loop_pending_work(l) == 0) {
        loop_stop(l);
        return;
    }
    loop_timer_add(l, 10, drain_check, d);
}

static void sandbox_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    (void)l; (void)fd; (void)events; (void)arg;
    sandbox_dispatch();
}

static void signal_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    (void)events; (void)l;
    daemon_t *d = arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (d->stopping) continue;
        d->stopping = true;
        fprintf(stderr, "nimbus: %s received, finishing in-flight calls\n", strsignal((int)si.ssi_signo));
        http_server_shutdown(d->api, api_drained, d);
    }
}

static uid_t g_run_uid;
static gid_t g_run_gid;

static int mkdir_p(const char *dir, err_t *err)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST) return err_sys(err, "mkdir %s", tmp);
        *p = '/';
    }
    if (mkdir(tmp, 0700) < 0 && errno != EEXIST) return err_sys(err, "mkdir %s", tmp);
    return 0;
}

static int setup(daemon_t *d, int *sigfd, err_t *err)
{
    char path[700];
    if (mkdir_p(d->cfg.data_dir, err) < 0) return -1;
    if (!realpath(d->cfg.data_dir, path)) return err_sys(err, "data dir %s", d->cfg.data_dir);
    snprintf(d->cfg.data_dir, sizeof d->cfg.data_dir, "%s", path);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    *sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (*sigfd < 0) return err_sys(err, "signalfd");

    if (runtime_set_dir(d->cfg.runtime_dir[0] ? d->cfg.runtime_dir : NULL, err) < 0) return -1;
    if (!(d->loop = loop_new(d->cfg.workers, err))) return -1;
    snprintf(path, sizeof path, "%s/nimbus.db", d->cfg.data_dir);
    if (!(d->store = store_open(path, err))) return err_wrap(err, "store %s", path);
    snprintf(path, sizeof path, "%s/code", d->cfg.data_dir);
    codestore_limits_t lim = { .max_zip_bytes = d->cfg.max_zip_bytes,
                               .max_unzipped_bytes = d->cfg.max_unzipped_bytes };
    if (!(d->code = codestore_open(path, &lim, err))) return err_wrap(err, "code store %s", path);
    if (!(d->logs = logs_new(d, err))) return -1;
    if (!(d->router = router_new(d))) return err_set(err, ERR_SYS, "out of memory");

    http_server_config_t api = { .on_request = api_handle, .arg = d, .body_limit = api_body_limit };
    if (!(d->api = http_server_new(d->loop, &api, err))) return -1;
    http_server_config_t rapi = { .on_request = runtime_api_handle, .arg = d,
                                  .body_limit = runtime_api_body_limit,
                                  /* a runtime may wait in /next for hours */
                                  .idle_timeout_ms = 24u * 3600u * 1000u };
    if (!(d->rapi = http_server_new(d->loop, &rapi, err))) return -1;
    if (loop_add_fd(d->loop, *sigfd, EPOLLIN, signal_cb, d, err) < 0) return -1;
    /* The spawner's answers: instances whose sandbox is ready. */
    if (sandbox_event_fd() >= 0 &&
        loop_add_fd(d->loop, sandbox_event_fd(), EPOLLIN, sandbox_cb, d, err) < 0)
        return -1;
    /* After the servers exist: loading may start provisioned instances. */
    if (control_load(d, err) < 0) return err_wrap(err, "loading functions");
    if (version_load(d, err) < 0) return err_wrap(err, "loading versions and aliases");
    int port = 0;
    d->api_fd = http_server_listen_tcp(d->api, d->cfg.listen_host, d->cfg.listen_port, NULL, &port, err);
    if (d->api_fd < 0) return err_wrap(err, "listen %s:%d", d->cfg.listen_host, d->cfg.listen_port);
    d->cfg.listen_port = port;
    return 0;
}

/* The sandbox's spawner is forked here, first: before any thread, the
 * store or a listening socket exists (DESIGN decision 5). */
static int start_sandbox(daemon_t *d, err_t *err)
{
    char path[700], why[200];
    if (!d->cfg.sandbox) {
        fprintf(stderr,
                "nimbus: WARNING: --insecure-no-sandbox: functions run as plain processes of this user,\n"
                "nimbus: WARNING: with no isolation, no limits and access to everything it can reach.\n"
                "nimbus: WARNING: Never run code you do not trust this way.\n");
        sandbox_configure(false);
        return 0;
    }
    if (!spawner_supported(why, sizeof why))
        return err_set(err, ERR_SYS,
                       "cannot sandbox instances: %s; run as root or where user namespaces are allowed, "
                       "or pass --insecure-no-sandbox to run functions without isolation", why);
    if (mkdir_p(d->cfg.data_dir, err) < 0) return -1;
    if (!realpath(d->cfg.data_dir, path)) return err_sys(err, "data dir %s", d->cfg.data_dir);
    snprintf(d->cfg.data_dir, sizeof d->cfg.data_dir, "%s", path);
    if (runtime_set_dir(d->cfg.runtime_dir[0] ? d->cfg.runtime_dir : NULL, err) < 0) return -1;
    spawner_config_t sc = { .data_dir = d->cfg.data_dir, .runtime_dir = runtime_dir(),
                            .uid = SANDBOX_UID, .gid = SANDBOX_UID, .pool = d->cfg.sandbox_pool };
    spawner_info_t info;
    if (spawner_start(&sc, &info, err) < 0) return -1;
    sandbox_configure(true);
    if (info.rootless)
        fprintf(stderr, "nimbus: not root: instances are sandboxed in user namespaces (rootless)\n");
    if (!info.cgroups)
        fprintf(stderr,
                "nimbus: WARNING: no cgroup this user may create: memory, CPU and process limits are not\n"
                "nimbus: WARNING: enforced, and Max Memory Used counts each runtime's own process only.\n");
    return 0;
}

/* --user: the daemon gives up root once everything privileged is open;
 * the spawner keeps building sandboxes. Its data becomes the user's. */
static int chown_cb(const char *p, const struct stat *st, int type, struct FTW *f)
{
    (void)st; (void)type; (void)f;
    if (lchown(p, g_run_uid, g_run_gid) < 0) return -1;
    return 0;
}

static int drop_user(daemon_t *d, err_t *err)
{
    if (!d->cfg.user[0]) return 0;
    struct passwd *pw = getpwnam(d->cfg.user);
    if (!pw) return err_set(err, ERR_INVALID, "--user %s: no such user", d->cfg.user);
    g_run_uid = pw->pw_uid;
    g_run_gid = pw->pw_gid;
    if (nftw(d->cfg.data_dir, chown_cb, 16, FTW_PHYS) != 0) return err_sys(err, "chown %s", d->cfg.data_dir);
    if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        return err_sys(err, "drop to user %s", d->cfg.user);
    /* Its files were chowned, but the directories above them are not
     * ours to change: say so now rather than at the first deployment. */
    if (access(d->cfg.data_dir, R_OK | W_OK | X_OK) < 0)
        return err_sys(err, "--user %s cannot use the data dir %s (each directory above it must be searchable "
                       "by that user)", d->cfg.user, d->cfg.data_dir);
    if (access(runtime_dir(), R_OK | X_OK) < 0)
        return err_sys(err, "--user %s cannot read the runtime dir %s", d->cfg.user, runtime_dir());
    return 0;
}

static void teardown(daemon_t *d)
{
    if (d->logs) logs_free(d->logs);
    http_server_free(d->api);
    http_server_free(d->rapi);
    router_free(d->router);
    loop_free(d->loop);
    codestore_close(d->code);
    store_close(d->store);
    spawner_stop();
}

int daemon_serve(const daemon_config_t *cfg)
{
    daemon_t d = { .cfg = *cfg, .api_fd = -1 };
    err_t err = { 0 };
    int sigfd = -1;
    if (start_sandbox(&d, &err) < 0 || setup(&d, &sigfd, &err) < 0 || drop_user(&d, &err) < 0) {
        fprintf(stderr, "nimbus serve: %s\n", err.msg);
        teardown(&d);
        if (sigfd >= 0) close(sigfd);
        return 1;
    }
    if (!d.cfg.sandbox && !cgroup_available())
        fprintf(stderr, "nimbus: no usable memory cgroup: Max Memory Used counts the bootstrap process only\n");
    printf("nimbus: listening on http://%s:%d\n", d.cfg.listen_host, d.cfg.listen_port);
    fflush(stdout);
    int rc = loop_run(d.loop, &err) < 0 ? 1 : 0;
    if (rc) fprintf(stderr, "nimbus serve: %s\n", err.msg);
    teardown(&d);
    close(sigfd);
    return rc;
}
