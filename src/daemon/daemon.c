/* daemon.c — `nimbus serve`: assembles the parts (sandbox, loop, store,
 * core, transports, API), handles signals and the graceful drain.
 *
 * Wiring only: it owns the daemon_t and the order things start and stop
 * in. Must never: exit while a call it accepted is unanswered, or hold
 * logic a part could own.
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
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api/api.h"
#include "api/auth.h"
#include "api/event_config.h"
#include "base/log.h"
#include "base/util.h"
#include "core/function.h"
#include "core/logs.h"
#include "core/router.h"
#include "core/runtime.h"
#include "core/trigger.h"
#include "daemon/notify.h"
#include "io/fdlimit.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"
#include "sandbox/spawner.h"
#include "transport/fc.h"
#include "transport/runtime_api.h"

/* The same X-Nimbus-Idempotency-Key within it is one event. */
#define ASYNC_IDEMPOTENCY_WINDOW_MS (24LL * 3600 * 1000)

/* ---- signals and the drain ---- */

static void drain_check(loop_t *l, void *arg);

static void api_drained(void *arg)
{
    daemon_t *d = arg;
    /* Every accepted call is answered: no event starts any more (those
     * waiting stay in the queue store for the next start), end the
     * instances, then stop once they are gone and pending writes (logs,
     * the queue's) are done. */
    trigger_wheel_stop(d->triggers);
    if (d->async) async_stop(d->async);
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

/* SIGHUP: the TLS certificate and key read again (connections accepted
 * from now on get them); a bad pair leaves the one in force. */
static void reload_tls(daemon_t *d)
{
    err_t e = { 0 };
    if (!d->tls) log_info("SIGHUP received: no TLS certificate to reload");
    else if (tls_server_reload(d->tls, &e) < 0) log_warn("SIGHUP: keeping the TLS certificate in force: %s", e.msg);
    else log_info("SIGHUP received: TLS certificate %s reloaded", d->cfg.tls_cert);
}

static void signal_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    (void)events; (void)l;
    daemon_t *d = arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            reload_tls(d);
            continue;
        }
        if (d->core.stopping) continue;
        d->core.stopping = true;
        err_t e = { 0 };
        if (notify_send("STOPPING=1", &e) < 0) log_warn("%s", e.msg);
        log_write(LOG_LEVEL_INFO, "%s received, finishing in-flight calls", strsignal((int)si.ssi_signo));
        http_server_shutdown(d->server, api_drained, d);
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

/* The runtime table, found now (it asks node its version) rather than on
 * the first request's path; then --runtime-map: each line one row more,
 * before any thread reads the table. */
static int add_runtimes(daemon_t *d, err_t *err)
{
    size_t n;
    runtime_table(&n);
    char *save = NULL, list[sizeof d->cfg.runtime_map];
    snprintf(list, sizeof list, "%s", d->cfg.runtime_map);
    for (char *e = strtok_r(list, "\n", &save); e; e = strtok_r(NULL, "\n", &save))
        if (runtime_map_add(e, d->cfg.sandbox, err) < 0) return err_wrap(err, "--runtime-map %s", e);
    return 0;
}

static int setup(daemon_t *d, const auth_table_t *auth, int *sigfd, err_t *err)
{
    char path[700];
    if (mkdir_p(d->cfg.data_dir, err) < 0) return -1;
    if (!realpath(d->cfg.data_dir, path)) return err_sys(err, "data dir %s", d->cfg.data_dir);
    snprintf(d->cfg.data_dir, sizeof d->cfg.data_dir, "%s", path);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    *sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (*sigfd < 0) return err_sys(err, "signalfd");

    if (runtime_set_dir(d->cfg.runtime_dir[0] ? d->cfg.runtime_dir : NULL, err) < 0) return -1;
    if (add_runtimes(d, err) < 0) return -1;
    if (!(d->loop = loop_new(d->cfg.workers, err))) return -1;
    snprintf(path, sizeof path, "%s/nimbus.db", d->cfg.data_dir);
    if (!(d->store = store_open(path, err))) return err_wrap(err, "store %s", path);
    snprintf(path, sizeof path, "%s/code", d->cfg.data_dir);
    codestore_limits_t lim = { .max_zip_bytes = d->cfg.max_zip_bytes,
                               .max_unzipped_bytes = d->cfg.max_unzipped_bytes };
    if (!(d->code = codestore_open(path, &lim, err))) return err_wrap(err, "code store %s", path);
    if (!(d->logs = logs_new(d->loop, d->store, err))) return -1;
    if (!(d->rapi = runtime_api_new(d->loop, api_http_error, err))) return -1;

    core_ctx_t *c = &d->core;
    *c = (core_ctx_t){ .loop = d->loop, .logs = d->logs, .code = d->code, .sandbox = &sandbox_ops,
                       .code_released = api_code_released, .hooks_arg = &d->api };
    core_limits_defaults(&c->limits);
    c->limits.max_instances_per_fn = (unsigned)d->cfg.max_instances_per_fn;
    c->limits.account_concurrency = (unsigned)d->cfg.account_concurrency;
    c->limits.keep_alive_ms = (uint64_t)d->cfg.keep_alive_s * 1000u;
    c->limits.throttle_wait_ms = (uint64_t)d->cfg.throttle_wait_ms;
    c->limits.stream_max_bytes = d->cfg.stream_max_bytes;
    c->limits.log_call_max_bytes = d->cfg.log_call_max_bytes;
    c->limits.max_queue = (unsigned)d->cfg.max_queue;
    c->transports[RUNTIME_API_LAMBDA] = runtime_api_lambda(d->rapi);
    c->transports[RUNTIME_API_SCF] = runtime_api_scf(d->rapi);
    c->transports[RUNTIME_API_FC] = &fc_transport;
    if (!(d->router = router_new(c))) return err_set(err, ERR_SYS, "out of memory");
    /* Each account's own limit of calls in flight, from the credentials
     * file, before any function (and so any call) is loaded; the others
     * have --account-concurrency each. */
    for (size_t i = 0; auth && i < auth->naccounts; i++)
        if (router_account_set_limit(d->router, auth->accounts[i].id, auth->accounts[i].concurrency) < 0)
            return err_set(err, ERR_SYS, "out of memory");
    snprintf(path, sizeof path, "%s/queue.db", d->cfg.data_dir);
    if (!(d->queue = queue_store_open(d->loop, path, err))) return err_wrap(err, "queue store %s", path);
    async_limits_t al = { .retry_scale = d->cfg.async_retry_scale, .max_payload_bytes = d->cfg.async_max_payload,
                          .idempotency_window_ms = ASYNC_IDEMPOTENCY_WINDOW_MS,
                          .max_queued = (unsigned)d->cfg.async_max_queued };
    /* The policy of each event is the API's (EventInvokeConfig). */
    if (!(d->async = async_new(d->router, d->queue, &al, event_config_policy, &d->api, err))) return -1;
    trigger_limits_t tl = { .catchup_ms = (int64_t)d->cfg.timer_catchup_s * 1000 };
    if (!(d->triggers = trigger_wheel_new(d->loop, d->store, d->async, d->router, &tl, err))) return -1;

    d->api = (api_t){ .loop = d->loop, .router = d->router, .store = d->store, .code = d->code,
                      .logs = d->logs, .core = c, .async = d->async, .triggers = d->triggers,
                      .cfg = { .max_instances_per_fn = (unsigned)d->cfg.max_instances_per_fn,
                               .invoke_max_bytes = d->cfg.invoke_max_bytes,
                               .async_max_bytes = d->cfg.async_max_payload,
                               .max_zip_bytes = d->cfg.max_zip_bytes } };
    if (api_init(&d->api, err) < 0) return -1;
    http_server_config_t api = { .on_request = api_handle, .arg = &d->api, .body_limit = api_body_limit,
                                 .on_error = api_http_error, .shed_fd_reserve = true };
    if (!(d->server = http_server_new(d->loop, &api, err))) return -1;
    d->api.server = d->server;
    if (loop_add_fd(d->loop, *sigfd, EPOLLIN, signal_cb, d, err) < 0) return -1;
    /* The spawner's answers: instances whose sandbox is ready. */
    if (sandbox_event_fd() >= 0 &&
        loop_add_fd(d->loop, sandbox_event_fd(), EPOLLIN, sandbox_cb, d, err) < 0)
        return -1;
    /* After the servers exist: loading may start provisioned instances. */
    if (api_load(&d->api, err) < 0) return -1;
    /* With every function, version, alias and EventInvokeConfig known:
     * what the queue store has unfinished is delivered again. */
    if (async_start(d->async, err) < 0) return err_wrap(err, "async queue");
    if (trigger_wheel_start(d->triggers, err) < 0) return err_wrap(err, "timer triggers");
    logs_retention_t lr = { .retention_days = d->cfg.log_retention_days,
                            .total_max_bytes = (int64_t)d->cfg.log_max_bytes,
                            .every_ms = (uint64_t)d->cfg.log_sweep_s * 1000u };
    logs_retention_start(d->logs, d->router, &lr);
    int port = 0;
    d->api_fd = http_server_listen_tcp(d->server, d->cfg.listen_host, d->cfg.listen_port, NULL, &port, err);
    if (d->api_fd < 0) return -1;   /* its message already names the address */
    d->cfg.listen_port = port;
    d->api.cfg.public_port = port;   /* what FunctionUrl says */
    if (d->cfg.tls_cert[0] || d->cfg.tls_key[0]) {
        if (!d->cfg.tls_cert[0] || !d->cfg.tls_key[0])
            return err_set(err, ERR_INVALID, "--tls-cert and --tls-key go together");
        if (!(d->tls = tls_server_new(d->cfg.tls_cert, d->cfg.tls_key, err))) return -1;
        http_server_listener_tls(d->server, d->api_fd, d->tls);
        d->api.cfg.public_tls = true;
    }
    return 0;
}

/* The data dir is the daemon's alone: its own, 0700, and the files at its
 * top (the databases, the lock) 0600. Modes are mended; a directory of
 * another user is refused. The code trees below keep their 0755/0644:
 * sandboxed instances read them as another user, through the 0700 dir
 * no one else can enter. */
static int check_data_dir(const char *dir, err_t *err)
{
    struct stat st;
    if (lstat(dir, &st) < 0) return err_sys(err, "data dir %s", dir);
    if (!S_ISDIR(st.st_mode)) return err_set(err, ERR_INVALID, "data dir %s is not a directory", dir);
    if (st.st_uid != geteuid())
        return err_set(err, ERR_INVALID, "data dir %s belongs to uid %u, not to this daemon's uid %u: give it a "
                       "directory of its own (or chown it)", dir, (unsigned)st.st_uid, (unsigned)geteuid());
    if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) < 0) return err_sys(err, "chmod 700 %s", dir);
    DIR *dd = opendir(dir);
    if (!dd) return err_sys(err, "data dir %s", dir);
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(dd));) {
        if (fstatat(dirfd(dd), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) continue;
        if (st.st_uid != geteuid())
            rc = err_set(err, ERR_INVALID, "data dir %s holds %s of uid %u, not this daemon's: refusing to share it",
                         dir, e->d_name, (unsigned)st.st_uid);
        else if ((st.st_mode & 077) && fchmodat(dirfd(dd), e->d_name, st.st_mode & 0700, 0) < 0)
            rc = err_sys(err, "chmod 600 %s/%s", dir, e->d_name);
    }
    closedir(dd);
    return rc;
}

/* One daemon per data dir, decided before anything (the spawner included)
 * touches it. */
static int lock_data_dir(daemon_t *d, err_t *err)
{
    char path[700];
    if (mkdir_p(d->cfg.data_dir, err) < 0) return -1;
    if (!realpath(d->cfg.data_dir, path)) return err_sys(err, "data dir %s", d->cfg.data_dir);
    snprintf(d->cfg.data_dir, sizeof d->cfg.data_dir, "%s", path);
    if (check_data_dir(d->cfg.data_dir, err) < 0) return -1;
    d->lock_fd = notify_lock_data_dir(d->cfg.data_dir, err);
    return d->lock_fd < 0 ? -1 : 0;
}

/* The sandbox's spawner is forked here, first: before any thread, the
 * store or a listening socket exists (docs/design.md, decision 5). */
static int start_sandbox(daemon_t *d, err_t *err)
{
    char path[700], why[200];
    if (!d->cfg.sandbox) {
        log_warn("WARNING: --insecure-no-sandbox: functions run as plain processes of this user,\n"
                 "WARNING: with no isolation, no limits and access to everything it can reach.\n"
                 "WARNING: Never run code you do not trust this way.");
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
        log_info("not root: instances are sandboxed in user namespaces (rootless)");
    if (!info.cgroups)
        log_warn("WARNING: no cgroup this user may create: memory, CPU and process limits are not\n"
                 "WARNING: enforced, and Max Memory Used counts each runtime's own process only.");
    if (!info.tmp_disk)
        log_warn("/tmp is a tmpfs counted in each instance's memory (%s)", info.tmp_why);
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
    if (d->async) async_free(d->async);
    trigger_wheel_free(d->triggers);
    if (d->queue) queue_store_close(d->queue);
    if (d->logs) logs_free(d->logs);
    http_server_free(d->server);
    tls_server_free(d->tls);
    api_free(&d->api);
    router_free(d->router);
    runtime_api_free(d->rapi);
    loop_free(d->loop);
    codestore_close(d->code);
    store_close(d->store);
    spawner_stop();
}

/* Without credentials nothing is checked, so only this host may ask. */
static bool loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (!strcmp(host, "localhost")) return true;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

static int load_credentials(const daemon_config_t *cfg, auth_table_t **out, err_t *err)
{
    *out = NULL;
    if (cfg->credentials_file[0]) return auth_table_load(cfg->credentials_file, out, err);
    if (!loopback(cfg->listen_host))
        return err_set(err, ERR_INVALID, "refusing to listen on %s without --credentials: every request would be "
                       "accepted unchecked; listen on 127.0.0.1 or ::1, or give --credentials FILE (docs/security.md)",
                       cfg->listen_host);
    return 0;
}

int daemon_serve(const daemon_config_t *cfg)
{
    daemon_t d = { .cfg = *cfg, .api_fd = -1, .lock_fd = -1 };
    err_t err = { 0 };
    int sigfd = -1;
    notify_init();
    log_config_t lc = { .min_level = LOG_LEVEL_INFO };
    log_format_parse(d.cfg.log_format, &lc.format);   /* checked with the flags */
    log_configure(&lc);
    /* Region and account before anything can write an ARN. */
    auth_table_t *auth = NULL;
    if (util_site_set(d.cfg.region, d.cfg.account_id, &err) < 0 || load_credentials(&d.cfg, &auth, &err) < 0) {
        log_write_from(LOG_LEVEL_ERROR, "serve", "%s", err.msg);
        return 1;
    }
    /* Every fd the hard limit allows, before the spawner inherits it; the
     * top of it is a reserve (io/fdlimit.h). */
    unsigned long fd_before, fd_after;
    if (fdlimit_raise(&fd_before, &fd_after, &err) < 0) log_warn("%s", err.msg);
    else if (fd_after != fd_before) log_info("file descriptor limit raised from %lu to %lu", fd_before, fd_after);
    /* Every account a key names is served, before any thread reads it. */
    for (size_t i = 0; auth && i < auth->naccounts; i++) function_account_serve(auth->accounts[i].id);
    bool ok = lock_data_dir(&d, &err) == 0 && start_sandbox(&d, &err) == 0;
    if (ok) {
        /* What the daemon creates (its databases) is its own alone; the
         * code store sets its trees' modes itself. The spawner, forked
         * already, and instances started later keep the usual mask. */
        mode_t mask = umask(077);
        ok = setup(&d, auth, &sigfd, &err) == 0 && drop_user(&d, &err) == 0;
        umask(mask);
    }
    if (!ok) {
        log_write_from(LOG_LEVEL_ERROR, "serve", "%s", err.msg);
        teardown(&d);
        auth_table_free(auth);
        if (sigfd >= 0) close(sigfd);
        if (d.lock_fd >= 0) close(d.lock_fd);
        return 1;
    }
    d.api.auth = auth;
    if (!d.cfg.sandbox && !cgroup_available())
        log_warn("no usable memory cgroup: Max Memory Used counts the bootstrap process only");
    const char *scheme = d.tls ? "https" : "http";
    printf("nimbus: listening on %s://%s:%d\n", scheme, d.cfg.listen_host, d.cfg.listen_port);
    fflush(stdout);
    char ready[160];
    snprintf(ready, sizeof ready, "READY=1\nSTATUS=listening on %s://%s:%d", scheme, d.cfg.listen_host,
             d.cfg.listen_port);
    if (notify_send(ready, &err) < 0) log_warn("%s", err.msg);
    int rc = loop_run(d.loop, &err) < 0 ? 1 : 0;
    if (rc) log_write_from(LOG_LEVEL_ERROR, "serve", "%s", err.msg);
    teardown(&d);
    auth_table_free(auth);
    close(sigfd);
    close(d.lock_fd);
    return rc;
}
