/* exec.c — `nimbus exec`: a command started in an instance's world.
 *
 * The daemon forks; the child joins the instance's cgroup, then each of its
 * namespaces that differs from the daemon's (user first, mount last; rootless,
 * the init's user namespace first and the runtime's nested one last), forks
 * again so the command lands inside the pid namespace, takes the
 * instance's root and working directory, its uid/gid and no_new_privs, and
 * execs with the instance's environment. Output comes back through a pipe
 * the loop reads; the answer goes when the command exits or times out.
 * Must never: block the loop, or leave the command running past its timeout.
 */
#define _GNU_SOURCE
#include "api/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/util.h"

#define OUTPUT_MAX (1024u * 1024u)

typedef struct exec_job {
    api_t *d;
    http_exchange_t *ex;       /* NULL once the client went away (or streaming) */
    bool stream;               /* output is fetched with exec_poll */
    char id[37];
    http_exchange_t *poll;     /* a parked GET waiting for output */
    size_t poll_off;
    loop_timer_t *poll_timer;
    loop_timer_t *reap_timer;  /* forget a finished stream nobody fetched */
    struct exec_job *next;     /* in the list of streamed jobs */
    pid_t pid;
    int pidfd, out_fd;
    buf_t out;
    bool truncated, out_eof, exited;
    int status;
    loop_timer_t *timer;
} exec_job_t;

static exec_job_t *g_streams;   /* streamed jobs, by id (few at a time) */

static void stream_forget(exec_job_t *j)
{
    for (exec_job_t **pp = &g_streams; *pp; pp = &(*pp)->next)
        if (*pp == j) { *pp = j->next; break; }
    loop_timer_cancel(j->d->loop, j->poll_timer);
    loop_timer_cancel(j->d->loop, j->reap_timer);
    buf_free(&j->out);
    free(j);
}

/* Answer the parked poll with what it has not seen; true when that was
 * the end (the job may then be forgotten). */
static bool poll_answer(exec_job_t *j)
{
    http_exchange_t *ex = j->poll;
    j->poll = NULL;
    loop_timer_cancel(j->d->loop, j->poll_timer);
    j->poll_timer = NULL;
    size_t off = j->poll_off <= j->out.len ? j->poll_off : j->out.len;
    bool done = j->exited && j->out_eof;
    cJSON *o = cJSON_CreateObject();
    char *chunk = strndup(j->out.data ? j->out.data + off : "", j->out.len - off);
    cJSON_AddStringToObject(o, "Output", chunk ? chunk : "");
    free(chunk);
    cJSON_AddNumberToObject(o, "Offset", (double)j->out.len);
    cJSON_AddBoolToObject(o, "Done", done && off == j->out.len);
    if (done) {
        int code = WIFEXITED(j->status) ? WEXITSTATUS(j->status) : 128 + WTERMSIG(j->status);
        cJSON_AddNumberToObject(o, "ExitCode", code);
    }
    api_respond_json(ex, 200, cJSON_PrintUnformatted(o));
    cJSON_Delete(o);
    return done;
}

/* New output or the end: wake a parked poll. May free j. */
static void stream_progress(exec_job_t *j)
{
    if (j->poll && (j->out.len > j->poll_off || (j->exited && j->out_eof)) && poll_answer(j)) stream_forget(j);
}

static void job_finish(exec_job_t *j)
{
    if (j->exited && j->out_eof) {
        loop_timer_cancel(j->d->loop, j->timer);
        j->timer = NULL;
    }
    if (j->stream) {
        stream_progress(j);   /* last: it may free j */
        return;
    }
    if (!j->exited || !j->out_eof) return;
    if (j->ex) {
        cJSON *o = cJSON_CreateObject();
        int code = WIFEXITED(j->status) ? WEXITSTATUS(j->status) : 128 + WTERMSIG(j->status);
        cJSON_AddNumberToObject(o, "ExitCode", code);
        cJSON_AddStringToObject(o, "Output", j->out.data ? j->out.data : "");
        if (j->truncated) cJSON_AddBoolToObject(o, "Truncated", true);
        api_respond_json(j->ex, 200, cJSON_PrintUnformatted(o));
        cJSON_Delete(o);
    }
    buf_free(&j->out);
    free(j);
}

static void out_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    exec_job_t *j = arg;
    char buf[65536];
    ssize_t k = read(fd, buf, sizeof buf);
    if (k > 0) {
        size_t keep = j->out.len < OUTPUT_MAX ? OUTPUT_MAX - j->out.len : 0;
        if ((size_t)k > keep) j->truncated = true;
        buf_append(&j->out, buf, (size_t)k < keep ? (size_t)k : keep);
        if (j->stream) stream_progress(j);
        return;
    }
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) return;
    loop_del_fd(l, fd);
    close(fd);
    j->out_eof = true;
    job_finish(j);
}

static void exit_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    exec_job_t *j = arg;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0) return;
    j->status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status;
    loop_del_fd(l, fd);
    close(fd);
    j->exited = true;
    job_finish(j);
}

static void timeout_cb(loop_t *l, void *arg)
{
    (void)l;
    exec_job_t *j = arg;
    j->timer = NULL;
    kill(-j->pid, SIGKILL);   /* its process group: the command and what it started */
    kill(j->pid, SIGKILL);
}

static void gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((exec_job_t *)arg)->ex = NULL;
}

/* ---- in the child (single-threaded after fork) ---- */

static void die(const char *what)
{
    dprintf(2, "nimbus exec: %s: %s\n", what, strerror(errno));
    _exit(126);
}

static bool same_ns(const char *a, const char *b)
{
    struct stat x, y;
    if (stat(a, &x) < 0 || stat(b, &y) < 0) return true;   /* kernel without it: nothing to join */
    return x.st_ino == y.st_ino && x.st_dev == y.st_dev;
}

static void enter_namespaces(pid_t target)
{
    /* Rootless, the runtime is in a user namespace nested in the init's,
     * which owns the other namespaces: join the outer one first (this
     * process owns it, so has every right there), then the others, then
     * the runtime's own, last. As root there is no user namespace to join. */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)target);
    int user_fd = -1, outer_fd = -1;
    if (!same_ns(path, "/proc/self/ns/user")) {
        user_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (user_fd < 0) die(path);
        outer_fd = ioctl(user_fd, NS_GET_PARENT);
        if (outer_fd >= 0) {
            struct stat a, b;
            if (fstat(outer_fd, &a) == 0 && stat("/proc/self/ns/user", &b) == 0 && a.st_ino == b.st_ino &&
                a.st_dev == b.st_dev) {
                close(outer_fd);   /* its parent is ours: one level only */
                outer_fd = -1;
            }
        }
        if (outer_fd >= 0 && setns(outer_fd, CLONE_NEWUSER) < 0) die("the instance's user namespace");
    }
    /* mount last: pid applies to the next fork. */
    static const struct { const char *name; int flag; } ns[] = {
        { "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
        { "net", CLONE_NEWNET },       { "pid", CLONE_NEWPID }, { "mnt", CLONE_NEWNS },
    };
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        char self[64];
        snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)target, ns[i].name);
        snprintf(self, sizeof self, "/proc/self/ns/%s", ns[i].name);
        if (same_ns(path, self)) continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, ns[i].flag) < 0) die(path);
        close(fd);
    }
    if (user_fd >= 0 && setns(user_fd, CLONE_NEWUSER) < 0) die("the runtime's user namespace");
}

/* The target's ids (as the reader's user namespace names them), and its
 * pid in its own pid namespace (the last of NSpid). */
static void read_ids(pid_t target, uid_t *uid, gid_t *gid, pid_t *inner)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)target);
    FILE *f = fopen(path, "re");
    if (!f) die(path);
    unsigned u, g;
    while (fgets(line, sizeof line, f)) {
        if (uid && sscanf(line, "Uid: %*u %u", &u) == 1) *uid = u;
        if (gid && sscanf(line, "Gid: %*u %u", &g) == 1) *gid = g;
        if (inner && strncmp(line, "NSpid:", 6) == 0) {
            char *last = strrchr(line, '\t');
            *inner = last ? (pid_t)atoi(last + 1) : target;
        }
    }
    fclose(f);
}

static char **read_environ(pid_t target)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)target);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    buf_t b = { 0 };
    char chunk[8192];
    ssize_t k;
    while ((k = read(fd, chunk, sizeof chunk)) > 0) buf_append(&b, chunk, (size_t)k);
    close(fd);
    size_t n = 0;
    for (size_t i = 0; i < b.len; i++) n += b.data[i] == '\0';
    char **env = calloc(n + 1, sizeof *env);
    if (!env) _exit(126);
    size_t k2 = 0;
    for (size_t i = 0; i < b.len && k2 < n; i += strlen(b.data + i) + 1) env[k2++] = b.data + i;
    return env;
}

/* What a pre-started runtime was given (its /proc environ is what it
 * started with), with the runtime API's address as the init adds it. */
static char **given_environ(const instance_t *in)
{
    size_t n = 0;
    for (size_t i = 0; i < in->env_len; i++) n += in->env_block[i] == '\0';
    char **env = calloc(n + 4, sizeof *env);
    static char api[64], scf_host[64], scf_port[64];
    if (!env) _exit(126);
    size_t k = 0;
    for (size_t i = 0; i < in->env_len && k < n; i += strlen(in->env_block + i) + 1) env[k++] = in->env_block + i;
    const char *colon = strrchr(in->proc.api_addr, ':');
    snprintf(api, sizeof api, "AWS_LAMBDA_RUNTIME_API=%s", in->proc.api_addr);
    snprintf(scf_host, sizeof scf_host, "SCF_RUNTIME_API=127.0.0.1");
    snprintf(scf_port, sizeof scf_port, "SCF_RUNTIME_API_PORT=%s", colon ? colon + 1 : "");
    env[k++] = api;
    env[k++] = scf_host;
    env[k++] = scf_port;
    return env;
}

static void child(const instance_t *in, char **argv, int out_w)
{
    pid_t target = in->proc.pid;
    setsid();
    dup2(out_w, 1);
    dup2(out_w, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    if (in->proc.cg && cgroup_enter_self(in->proc.cg) < 0) die("join the instance's cgroup");
    char **env = in->proc.prestarted ? given_environ(in) : read_environ(target);
    pid_t inner = target;
    read_ids(target, NULL, NULL, &inner);
    char cwd[512] = "/";
    char link[64];
    snprintf(link, sizeof link, "/proc/%d/cwd", (int)target);
    ssize_t n = readlink(link, cwd, sizeof cwd - 1);
    cwd[n > 0 ? n : 1] = '\0';
    char rootp[64];
    snprintf(rootp, sizeof rootp, "/proc/%d/root", (int)target);
    int rootfd = open(rootp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) die(rootp);
    enter_namespaces(target);
    /* Its ids as this (possibly nested) user namespace names them, read
     * from the instance's own /proc (its mount namespace is ours now). */
    uid_t uid = getuid();
    gid_t gid = getgid();
    read_ids(inner, &uid, &gid, NULL);
    if (fchdir(rootfd) < 0 || chroot(".") < 0) die("enter the instance's root");
    if (chdir(cwd) < 0 && chdir("/") < 0) die("chdir");
    /* The pid namespace applies to children: the command is one. */
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p > 0) {
        int st;
        while (waitpid(p, &st, 0) < 0 && errno == EINTR) {}
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    if (setgroups(0, NULL) < 0 && errno != EPERM) die("setgroups");
    if (setgid(gid) < 0 || setuid(uid) < 0) die("drop to the instance's user");
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    execvpe(argv[0], argv, env);
    die(argv[0]);
}

static void reap_cb(loop_t *l, void *arg)
{
    (void)l;
    exec_job_t *j = arg;
    j->reap_timer = NULL;
    if (j->poll) { http_respond(j->poll, 410, NULL, 0, NULL, 0); j->poll = NULL; }
    stream_forget(j);
}

static void poll_timeout_cb(loop_t *l, void *arg)
{
    (void)l;
    exec_job_t *j = arg;
    j->poll_timer = NULL;
    if (j->poll && poll_answer(j)) stream_forget(j);   /* nothing new: an empty chunk, poll again */
}

static void poll_gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    exec_job_t *j = arg;
    j->poll = NULL;
    loop_timer_cancel(j->d->loop, j->poll_timer);
    j->poll_timer = NULL;
}

void exec_poll(api_t *d, http_exchange_t *ex, const char *id, const char *query)
{
    exec_job_t *j = g_streams;
    while (j && strcmp(j->id, id) != 0) j = j->next;
    if (!j) {
        api_respond_error(ex, 404, "ResourceNotFoundException", "Exec not found: %s", id);
        return;
    }
    if (j->poll) {
        api_respond_error(ex, 409, "ResourceConflictException", "Exec %s is already being read", id);
        return;
    }
    char *off = util_query_param(query, "offset");
    j->poll_off = off ? (size_t)strtoull(off, NULL, 10) : 0;
    free(off);
    j->poll = ex;
    http_exchange_on_abort(ex, poll_gone, j);
    bool done = j->exited && j->out_eof;
    if (j->out.len > j->poll_off || done) {
        if (poll_answer(j)) stream_forget(j);   /* the end, fetched: the job is over */
        return;
    }
    j->poll_timer = loop_timer_add(d->loop, 20000, poll_timeout_cb, j);
}

void exec_handle(api_t *d, http_exchange_t *ex, http_request_t *req, instance_t *in)
{
    if (in->exited || in->state == INST_STOPPING) {
        api_respond_error(ex, 409, "ResourceConflictException", "Instance %s is stopping", in->id);
        return;
    }
    if (in->spawning) {
        api_respond_error(ex, 409, "ResourceConflictException", "Instance %s is starting", in->id);
        return;
    }
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(body, "Command");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(body, "TimeoutSeconds");
    bool stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "Stream"));
    int n = cJSON_IsArray(cmd) ? cJSON_GetArraySize(cmd) : 0;
    char **argv = n > 0 && n < 256 ? calloc((size_t)n + 1, sizeof *argv) : NULL;
    for (int i = 0; argv && i < n; i++) {
        const cJSON *a = cJSON_GetArrayItem(cmd, i);
        if (!cJSON_IsString(a)) { free(argv); argv = NULL; break; }
        argv[i] = a->valuestring;
    }
    if (!argv) {
        cJSON_Delete(body);
        api_respond_error(ex, 400, "InvalidParameterValueException", "Command must be a non-empty array of strings");
        return;
    }
    double timeout = cJSON_IsNumber(to) && to->valuedouble > 0 && to->valuedouble <= 3600 ? to->valuedouble : 30;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        free(argv);
        cJSON_Delete(body);
        api_respond_error(ex, 500, "ServiceException", "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        child(in, argv, p[1]);
    }
    free(argv);
    cJSON_Delete(body);
    close(p[1]);
    int pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    if (pid < 0 || pidfd < 0) {
        if (pid > 0) { kill(pid, SIGKILL); waitpid(pid, NULL, 0); }
        close(p[0]);
        api_respond_error(ex, 500, "ServiceException", "fork: %s", strerror(errno));
        return;
    }
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    exec_job_t *j = calloc(1, sizeof *j);
    if (!j) abort();
    *j = (exec_job_t){ .d = d, .ex = ex, .pid = pid, .pidfd = pidfd, .out_fd = p[0] };
    err_t err;
    if (loop_add_fd(d->loop, p[0], EPOLLIN, out_cb, j, &err) < 0 ||
        loop_add_fd(d->loop, pidfd, EPOLLIN, exit_cb, j, &err) < 0)
        abort();   /* epoll_ctl on fresh fds only fails out of memory */
    j->timer = loop_timer_add(d->loop, (uint64_t)(timeout * 1000), timeout_cb, j);
    if (stream) {
        j->stream = true;
        j->ex = NULL;
        util_uuid4(j->id);
        j->next = g_streams;
        g_streams = j;
        /* Whatever happens to the reader, the job goes away eventually. */
        j->reap_timer = loop_timer_add(d->loop, (uint64_t)(timeout * 1000) + 60000, reap_cb, j);
        char *s = NULL;
        if (asprintf(&s, "{\"ExecId\":\"%s\"}", j->id) < 0) s = NULL;
        api_respond_json(ex, 201, s);
        return;
    }
    http_exchange_on_abort(ex, gone, j);
}
