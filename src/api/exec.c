/* exec.c — `nimbus exec`: a command started in an instance's world, its
 * output relayed to the caller.
 *
 * The daemon crosses no boundary itself: it asks the sandbox
 * (sandbox_exec) for the command, and a sandboxed instance's command is
 * started by the privileged spawner, inside the instance and confined as
 * its runtime is (uid, no capabilities, empty bounding set, no_new_privs,
 * its seccomp filter), so this works the same when the daemon runs as
 * another user (--user) or rootless. With --insecure-no-sandbox the
 * instance is a plain child process of the daemon's own user: there is no
 * boundary to cross, and the command is a plain fork+exec of the daemon in
 * the instance's cgroup, working directory and environment.
 *
 * What comes back is three things the loop watches: the output pipe
 * (stdout and stderr merged, the first 1 MiB kept), a readiness for the
 * exit status, and a way to kill the command with its process group and
 * session (at the timeout, and when the answer is done, so nothing it
 * started is left running). The answer goes once the command ended and its
 * output reached its end.
 * Must never: block the loop, or leave the command running past its timeout.
 */
#define _GNU_SOURCE
#include "api/exec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/util.h"
#include "api/api.h"

#define OUTPUT_MAX (1024u * 1024u)
/* After the kill at the timeout: how long output may still be held open by
 * something outside the command's session before it is no longer read. */
#define KILL_GRACE_MS 1000

typedef struct exec_job {
    loop_t *loop;
    http_exchange_t *ex;       /* NULL once the client went away (or streaming, once told the id) */
    bool stream;               /* output is fetched with exec_poll */
    char id[37];
    http_exchange_t *poll;     /* a parked GET waiting for output */
    size_t poll_off;
    loop_timer_t *poll_timer;
    loop_timer_t *reap_timer;  /* forget a finished stream nobody fetched */
    struct exec_job *next;     /* in the list of streamed jobs */
    double timeout;            /* seconds */
    sandbox_exec_t x;
    bool running;              /* started, not released: its fds are the loop's */
    buf_t out;
    bool truncated, out_eof, exited;
    int code;                  /* exit code, once exited */
    loop_timer_t *timer;       /* the timeout, then the grace after its kill */
} exec_job_t;

static exec_job_t *g_streams;   /* streamed jobs, by id (few at a time) */

static void close_out(exec_job_t *j)
{
    if (j->x.out_fd >= 0) {
        loop_del_fd(j->loop, j->x.out_fd);
        close(j->x.out_fd);
        j->x.out_fd = -1;
    }
    j->out_eof = true;
}

/* Take it out of the loop and let the sandbox end what is left of it. */
static void job_release(exec_job_t *j)
{
    if (!j->running) return;
    j->running = false;
    loop_timer_cancel(j->loop, j->timer);
    j->timer = NULL;
    if (j->x.out_fd >= 0) loop_del_fd(j->loop, j->x.out_fd);
    if (!j->exited && j->x.exit_fd >= 0) loop_del_fd(j->loop, j->x.exit_fd);
    sandbox_exec_release(&j->x);
}

static void stream_forget(exec_job_t *j)
{
    for (exec_job_t **pp = &g_streams; *pp; pp = &(*pp)->next)
        if (*pp == j) { *pp = j->next; break; }
    job_release(j);
    loop_timer_cancel(j->loop, j->poll_timer);
    loop_timer_cancel(j->loop, j->reap_timer);
    buf_free(&j->out);
    free(j);
}

/* Answer the parked poll with what it has not seen; true when that was
 * the end (the job may then be forgotten). */
static bool poll_answer(exec_job_t *j)
{
    http_exchange_t *ex = j->poll;
    j->poll = NULL;
    loop_timer_cancel(j->loop, j->poll_timer);
    j->poll_timer = NULL;
    size_t off = j->poll_off <= j->out.len ? j->poll_off : j->out.len;
    bool done = j->exited && j->out_eof;
    cJSON *o = cJSON_CreateObject();
    char *chunk = strndup(j->out.data ? j->out.data + off : "", j->out.len - off);
    cJSON_AddStringToObject(o, "Output", chunk ? chunk : "");
    free(chunk);
    cJSON_AddNumberToObject(o, "Offset", (double)j->out.len);
    /* The chunk runs to the end: with the command over, the reader has it all. */
    cJSON_AddBoolToObject(o, "Done", done);
    if (done) cJSON_AddNumberToObject(o, "ExitCode", j->code);
    api_respond_doc(ex, 200, o);
    return done;
}

/* New output or the end: wake a parked poll. May free j. */
static void stream_progress(exec_job_t *j)
{
    if (j->poll && (j->out.len > j->poll_off || (j->exited && j->out_eof)) && poll_answer(j)) stream_forget(j);
}

static void job_finish(exec_job_t *j)
{
    if (j->exited && j->out_eof) job_release(j);   /* and what it left behind is killed */
    if (j->stream) {
        stream_progress(j);   /* last: it may free j */
        return;
    }
    if (!j->exited || !j->out_eof) return;
    if (j->ex) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "ExitCode", j->code);
        cJSON_AddStringToObject(o, "Output", j->out.data ? j->out.data : "");
        if (j->truncated) cJSON_AddBoolToObject(o, "Truncated", true);
        api_respond_doc(j->ex, 200, o);
    }
    buf_free(&j->out);
    free(j);
}

static void out_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    (void)l;
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
    close_out(j);
    job_finish(j);
}

static void exit_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    exec_job_t *j = arg;
    if (sandbox_exec_status(&j->x, &j->code) < 0) return;
    loop_del_fd(l, fd);   /* the sandbox closes it at the release */
    j->exited = true;
    job_finish(j);
}

static void grace_cb(loop_t *l, void *arg)
{
    (void)l;
    exec_job_t *j = arg;
    j->timer = NULL;
    /* Killed a second ago and still not at its end: whatever holds the
     * output open left the command's session; stop waiting for it. */
    if (!j->exited) {
        loop_del_fd(j->loop, j->x.exit_fd);
        j->exited = true;
        j->code = 128 + 9;
    }
    close_out(j);
    job_finish(j);
}

static void timeout_cb(loop_t *l, void *arg)
{
    exec_job_t *j = arg;
    j->timer = loop_timer_add(l, KILL_GRACE_MS, grace_cb, j);
    sandbox_exec_kill(&j->x);   /* the command, its process group and its session */
}

static void gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((exec_job_t *)arg)->ex = NULL;
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
    loop_timer_cancel(j->loop, j->poll_timer);
    j->poll_timer = NULL;
}

void exec_poll(loop_t *loop, http_exchange_t *ex, const char *id, const char *query)
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
    j->poll_timer = loop_timer_add(loop, 20000, poll_timeout_cb, j);
}

/* The command runs: watch it, and answer a streaming request. */
static void job_started(exec_job_t *j)
{
    j->running = true;
    err_t err;
    if (loop_add_fd(j->loop, j->x.out_fd, EPOLLIN, out_cb, j, &err) < 0 ||
        loop_add_fd(j->loop, j->x.exit_fd, EPOLLIN, exit_cb, j, &err) < 0)
        abort();   /* epoll_ctl on fresh fds only fails out of memory */
    j->timer = loop_timer_add(j->loop, (uint64_t)(j->timeout * 1000), timeout_cb, j);
    if (!j->stream) return;
    util_uuid4(j->id);
    j->next = g_streams;
    g_streams = j;
    /* Whatever happens to the reader, the job goes away eventually. */
    j->reap_timer = loop_timer_add(j->loop, (uint64_t)(j->timeout * 1000) + 60000, reap_cb, j);
    if (!j->ex) return;   /* the client left before it learnt the id: the reap ends it */
    char *s = NULL;
    if (asprintf(&s, "{\"ExecId\":\"%s\"}", j->id) < 0) s = NULL;
    api_respond_json(j->ex, 201, s);
    j->ex = NULL;
}

/* The spawner's answer (sandboxed). */
static void started(void *arg, const err_t *err)
{
    exec_job_t *j = arg;
    if (err) {
        if (j->ex) api_respond_error(j->ex, 500, "ServiceException", "%s", err->msg);
        free(j);
        return;
    }
    job_started(j);
}

/* What a pre-started runtime was given (its /proc environ is what it
 * started with), with the runtime API's address as the init adds it.
 * One allocation: the array, then the three added strings. */
static char **given_environ(const exec_target_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->env_len; i++) n += t->env_block[i] == '\0';
    enum { ADDED = 3, LEN = 64 };
    char **env = malloc((n + ADDED + 1) * sizeof *env + ADDED * LEN);
    if (!env) return NULL;
    char *api = (char *)(env + n + ADDED + 1), *scf_host = api + LEN, *scf_port = api + 2 * LEN;
    size_t k = 0;
    for (size_t i = 0; i < t->env_len && k < n; i += strlen(t->env_block + i) + 1) env[k++] = (char *)t->env_block + i;
    const char *addr = t->proc->api_addr, *colon = strrchr(addr, ':');
    snprintf(api, LEN, "AWS_LAMBDA_RUNTIME_API=%s", addr);
    snprintf(scf_host, LEN, "SCF_RUNTIME_API=127.0.0.1");
    snprintf(scf_port, LEN, "SCF_RUNTIME_API_PORT=%s", colon ? colon + 1 : "");
    env[k++] = api;
    env[k++] = scf_host;
    env[k++] = scf_port;
    env[k] = NULL;
    return env;
}

void exec_handle(loop_t *loop, http_exchange_t *ex, const http_request_t *req, const exec_target_t *t)
{
    if (t->stopping) {
        api_respond_error(ex, 409, "ResourceConflictException", "Instance %s is stopping", t->id);
        return;
    }
    if (t->starting) {
        api_respond_error(ex, 409, "ResourceConflictException", "Instance %s is starting", t->id);
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
    /* NULL: the instance's own, as its /proc/<pid>/environ says. */
    char **env = t->proc->prestarted && t->env_block ? given_environ(t) : NULL;
    exec_job_t *j = calloc(1, sizeof *j);
    if (!j) abort();
    j->loop = loop;
    j->ex = ex;
    j->stream = stream;
    j->timeout = timeout;
    err_t err = { 0 };
    int rc = (t->proc->prestarted && t->env_block && !env) ? err_set(&err, ERR_SYS, "out of memory")
                                                           : sandbox_exec(t->proc, argv, env, &j->x, started, j, &err);
    /* Both copied what they need already. */
    free(env);
    free(argv);
    cJSON_Delete(body);
    if (rc < 0) {
        free(j);
        api_respond_error(ex, 500, "ServiceException", "%s", err.msg);
        return;
    }
    /* Until the spawner answers (sandboxed), or the command's end. */
    if (rc == 0 || !stream) http_exchange_on_abort(ex, gone, j);
    if (rc == 1) job_started(j);
}
