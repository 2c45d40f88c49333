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
 * started is left running); streamed, also its stdin (a pipe, or the
 * master of a terminal the command runs on). The answer goes once the
 * command ended and its output reached its end.
 *
 * Streamed, nothing is dropped: output a poll has acknowledged (by asking
 * for a later offset) is let go, and with 1 MiB unacknowledged the output
 * is not read until a poll takes some, so a command that writes faster
 * than its reader waits for it. Input is written as the command reads it:
 * a POST of stdin is answered once its bytes are all in the pipe.
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
    char owner[13];            /* the account of the instance's function */
    http_exchange_t *poll;     /* a parked GET waiting for output */
    size_t poll_off;
    loop_timer_t *poll_timer;
    loop_timer_t *reap_timer;  /* forget a finished stream nobody fetched */
    struct exec_job *next;     /* in the list of streamed jobs */
    double timeout;            /* seconds */
    sandbox_exec_t x;
    bool running;              /* started, not released: its fds are the loop's */
    buf_t out;                 /* streamed: from out_base on, what no poll acknowledged yet */
    size_t out_base;
    bool out_watched;          /* out_fd is in the loop (not while 1 MiB waits for a poll) */
    bool truncated, out_eof, exited;
    bool timed_out;            /* the timeout killed it */
    int code;                  /* exit code, once exited */
    loop_timer_t *timer;       /* the timeout, then the grace after its kill */
    /* its stdin (Stdin or Tty): */
    bool has_in;               /* in_fd is ours to write until the end */
    bool in_watched;           /* in_fd is in the loop, waiting to be writable */
    http_exchange_t *in_post;  /* a POST .../stdin, answered once its bytes are written */
    buf_t in;
    size_t in_off;
    bool in_end;               /* after those bytes, the end of its input */
} exec_job_t;

static exec_job_t *g_streams;   /* streamed jobs, by id (few at a time) */

static void out_cb(loop_t *l, int fd, uint32_t events, void *arg);

static void out_watch(exec_job_t *j, bool on)
{
    if (on == j->out_watched || j->x.out_fd < 0) return;
    err_t err;
    if (on && loop_add_fd(j->loop, j->x.out_fd, EPOLLIN, out_cb, j, &err) < 0) abort();   /* out of memory only */
    if (!on) loop_del_fd(j->loop, j->x.out_fd);
    j->out_watched = on;
}

static void close_out(exec_job_t *j)
{
    out_watch(j, false);
    if (j->x.out_fd >= 0) {
        close(j->x.out_fd);
        j->x.out_fd = -1;
    }
    j->out_eof = true;
}

/* Answer a parked POST of stdin (and let go of its bytes). */
static void in_answer(exec_job_t *j, int status, const char *why)
{
    http_exchange_t *ex = j->in_post;
    j->in_post = NULL;
    buf_free(&j->in);
    j->in_off = 0;
    if (!ex) return;
    if (status == 204) api_respond_empty(ex, 204);
    else api_respond_error(ex, status, "ResourceConflictException", "Exec %s: %s", j->id, why);
}

/* No more input: the command reads its end (a terminal stays open: it is
 * the output too, and its end is the user's ^D). */
static void in_close(exec_job_t *j)
{
    if (j->in_watched) loop_del_fd(j->loop, j->x.in_fd);
    j->in_watched = false;
    j->has_in = false;
    if (!j->x.tty && j->x.in_fd >= 0) {
        close(j->x.in_fd);
        j->x.in_fd = -1;
    }
}

/* Take it out of the loop and let the sandbox end what is left of it. */
static void job_release(exec_job_t *j)
{
    if (!j->running) return;
    j->running = false;
    loop_timer_cancel(j->loop, j->timer);
    j->timer = NULL;
    out_watch(j, false);
    if (!j->exited && j->x.exit_fd >= 0) loop_del_fd(j->loop, j->x.exit_fd);
    in_answer(j, 409, "the command ended");
    in_close(j);
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
    buf_free(&j->in);
    free(j);
}

/* How much of p[0..n) ends on a whole UTF-8 character: a chunk never
 * splits one (the rest comes with the next). */
static size_t utf8_whole(const char *p, size_t n)
{
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = (unsigned char)p[n - back];
        if ((c & 0xC0) == 0x80) continue;   /* a continuation byte */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back && need <= 4 ? n - back : n;
    }
    return n;
}

/* Answer the parked poll with what it has not seen; true when that was
 * the end (the job may then be forgotten). */
static bool poll_answer(exec_job_t *j)
{
    http_exchange_t *ex = j->poll;
    j->poll = NULL;
    loop_timer_cancel(j->loop, j->poll_timer);
    j->poll_timer = NULL;
    size_t end = j->out_base + j->out.len;
    size_t off = j->poll_off < j->out_base ? j->out_base : j->poll_off < end ? j->poll_off : end;
    bool done = j->exited && j->out_eof;
    const char *p = j->out.data ? j->out.data + (off - j->out_base) : "";
    size_t n = end - off;
    if (!done) n = utf8_whole(p, n);
    cJSON *o = cJSON_CreateObject();
    char *chunk = strndup(p, n);
    cJSON_AddStringToObject(o, "Output", chunk ? chunk : "");
    free(chunk);
    cJSON_AddNumberToObject(o, "Offset", (double)(off + n));
    /* The chunk runs to the end: with the command over, the reader has it all. */
    cJSON_AddBoolToObject(o, "Done", done);
    if (done) cJSON_AddNumberToObject(o, "ExitCode", j->code);
    if (done && j->timed_out) cJSON_AddBoolToObject(o, "TimedOut", true);
    api_respond_doc(ex, 200, o);
    return done;
}

/* A poll for `off` on: what comes before it was read, let it go (and read
 * the output again if it waited for room). */
static void stream_ack(exec_job_t *j, size_t off)
{
    if (off <= j->out_base) return;
    size_t drop = off - j->out_base < j->out.len ? off - j->out_base : j->out.len;
    if (drop == 0) return;
    memmove(j->out.data, j->out.data + drop, j->out.len - drop);
    j->out.len -= drop;
    j->out.data[j->out.len] = '\0';
    j->out_base += drop;
    if (j->running && !j->out_eof && j->out.len < OUTPUT_MAX) out_watch(j, true);
}

/* New output or the end: wake a parked poll. May free j. */
static void stream_progress(exec_job_t *j)
{
    if (j->poll && (j->out_base + j->out.len > j->poll_off || (j->exited && j->out_eof)) && poll_answer(j))
        stream_forget(j);
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
        if (j->timed_out) cJSON_AddBoolToObject(o, "TimedOut", true);
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
    size_t room = j->out.len < OUTPUT_MAX ? OUTPUT_MAX - j->out.len : 0;
    if (j->stream && room == 0) { out_watch(j, false); return; }
    /* Streamed, only what fits: the rest waits in the pipe for a poll. */
    ssize_t k = read(fd, buf, j->stream && room < sizeof buf ? room : sizeof buf);
    if (k > 0) {
        if ((size_t)k > room) j->truncated = true;
        buf_append(&j->out, buf, (size_t)k < room ? (size_t)k : room);
        if (j->stream && j->out.len >= OUTPUT_MAX) out_watch(j, false);
        if (j->stream) stream_progress(j);
        return;
    }
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) return;
    /* The end, or EIO: a terminal whose every other end closed. */
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
    j->timed_out = true;
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
    if (j->poll) {
        api_respond_error(j->poll, 410, "ResourceNotFoundException", "The exec %s is gone", j->id);
        j->poll = NULL;
    }
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

static exec_job_t *stream_find(http_exchange_t *ex, const char *id, const char *account);

void exec_poll(loop_t *loop, http_exchange_t *ex, const char *id, const char *query, const char *account)
{
    exec_job_t *j = stream_find(ex, id, account);
    if (!j) return;
    if (j->poll) {
        api_respond_error(ex, 409, "ResourceConflictException", "Exec %s is already being read", id);
        return;
    }
    char *off = util_query_param(query, "offset");
    j->poll_off = off ? (size_t)strtoull(off, NULL, 10) : 0;
    free(off);
    stream_ack(j, j->poll_off);
    j->poll = ex;
    http_exchange_on_abort(ex, poll_gone, j);
    bool done = j->exited && j->out_eof;
    if (j->out_base + j->out.len > j->poll_off || done) {
        if (poll_answer(j)) stream_forget(j);   /* the end, fetched: the job is over */
        return;
    }
    j->poll_timer = loop_timer_add(loop, 20000, poll_timeout_cb, j);
}

static void in_flush(exec_job_t *j);

static void in_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    in_flush(arg);
}

/* Write what the parked POST brought; answer it once all is in. */
static void in_flush(exec_job_t *j)
{
    while (j->in_off < j->in.len) {
        ssize_t k = write(j->x.in_fd, j->in.data + j->in_off, j->in.len - j->in_off);
        if (k > 0) { j->in_off += (size_t)k; continue; }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EAGAIN) {
            err_t err;
            if (!j->in_watched && loop_add_fd(j->loop, j->x.in_fd, EPOLLOUT, in_cb, j, &err) < 0) abort();
            j->in_watched = true;
            return;
        }
        /* EPIPE: nothing reads it any more (the command closed it or ended). */
        in_answer(j, 409, "the command's stdin is closed");
        in_close(j);
        return;
    }
    if (j->in_watched) loop_del_fd(j->loop, j->x.in_fd);
    j->in_watched = false;
    if (j->in_end) {
        /* A terminal's end of input is what ^D types (at a line's start). */
        if (j->x.tty && write(j->x.in_fd, "\x04", 1) < 0) {}
        in_close(j);
    }
    in_answer(j, 204, NULL);
}

static void in_gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    exec_job_t *j = arg;
    j->in_post = NULL;   /* what was written stays written; the rest is dropped */
    if (j->in_watched) loop_del_fd(j->loop, j->x.in_fd);
    j->in_watched = false;
    buf_free(&j->in);
    j->in_off = 0;
    j->in_end = false;
}

/* A streamed job by id, of `account`'s instance (NULL: any): another
 * account's is not found, so its ids tell nothing. */
static exec_job_t *stream_find(http_exchange_t *ex, const char *id, const char *account)
{
    exec_job_t *j = g_streams;
    while (j && (strcmp(j->id, id) != 0 || (account && strcmp(j->owner, account) != 0))) j = j->next;
    if (!j) api_respond_error(ex, 404, "ResourceNotFoundException", "Exec not found: %s", id);
    return j;
}

static void exec_stdin(exec_job_t *j, http_exchange_t *ex, const http_request_t *req)
{
    if (j->in_post) {
        api_respond_error(ex, 409, "ResourceConflictException", "Exec %s: stdin is already being written", j->id);
        return;
    }
    if (!j->has_in || !j->running) {
        api_respond_error(ex, 409, "ResourceConflictException", "Exec %s: %s", j->id,
                          !j->running ? "the command ended" : j->x.in_wanted ? "its stdin was ended"
                                                                             : "it was started without Stdin");
        return;
    }
    char *end = util_query_param(req->query, "end");
    j->in_end = end && (strcmp(end, "true") == 0 || strcmp(end, "1") == 0);
    free(end);
    buf_append(&j->in, req->body ? req->body : "", req->body_len);
    j->in_off = 0;
    j->in_post = ex;
    http_exchange_on_abort(ex, in_gone, j);
    in_flush(j);
}

static void exec_resize(exec_job_t *j, http_exchange_t *ex, const http_request_t *req)
{
    cJSON *body = api_body_object(ex, req, false);
    if (!body) return;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(body, "Rows");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "Columns");
    bool ok = cJSON_IsNumber(r) && cJSON_IsNumber(c) && r->valuedouble >= 1 && r->valuedouble <= 65535 &&
              c->valuedouble >= 1 && c->valuedouble <= 65535;
    unsigned rows = ok ? (unsigned)r->valuedouble : 0, cols = ok ? (unsigned)c->valuedouble : 0;
    cJSON_Delete(body);
    if (!ok) {
        api_respond_error(ex, 400, "InvalidParameterValueException", "Rows and Columns must be numbers from 1 to 65535");
        return;
    }
    if (!j->x.tty) {
        api_respond_error(ex, 409, "ResourceConflictException", "Exec %s has no terminal (start it with Tty)", j->id);
        return;
    }
    if (!j->running) {
        api_respond_error(ex, 409, "ResourceConflictException", "Exec %s: the command ended", j->id);
        return;
    }
    if (sandbox_exec_resize(&j->x, rows, cols) < 0) {
        api_respond_error(ex, 500, "ServiceException", "resize: %s", strerror(errno));
        return;
    }
    api_respond_empty(ex, 204);
}

void exec_input(loop_t *loop, http_exchange_t *ex, const http_request_t *req, const char *id, const char *what,
                const char *account)
{
    (void)loop;
    bool in = strcmp(what, "stdin") == 0, rs = strcmp(what, "resize") == 0;
    if (!in && !rs) {
        api_respond_error(ex, 404, "ResourceNotFoundException", "No such exec operation: %s", what);
        return;
    }
    exec_job_t *j = stream_find(ex, id, account);
    if (!j) return;
    if (in) exec_stdin(j, ex, req);
    else exec_resize(j, ex, req);
}

/* The command runs: watch it, and answer a streaming request. */
static void job_started(exec_job_t *j)
{
    j->running = true;
    j->has_in = j->x.in_fd >= 0;
    err_t err;
    out_watch(j, true);
    if (loop_add_fd(j->loop, j->x.exit_fd, EPOLLIN, exit_cb, j, &err) < 0)
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
    cJSON *body = api_body_object(ex, req, false);
    if (!body) return;
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(body, "Command");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(body, "TimeoutSeconds");
    bool stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "Stream"));
    sandbox_exec_io_t io = { .stdin_pipe = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "Stdin")),
                             .tty = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "Tty")), .rows = 24, .cols = 80 };
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(body, "Rows");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(body, "Columns");
    const char *bad = (io.stdin_pipe || io.tty) && !stream ? "Stdin and Tty need \"Stream\": true" : NULL;
    if (rows || cols) {
        if (!io.tty) bad = "Rows and Columns need \"Tty\": true";
        else if (!cJSON_IsNumber(rows) || !cJSON_IsNumber(cols) || rows->valuedouble < 1 || rows->valuedouble > 65535 ||
                 cols->valuedouble < 1 || cols->valuedouble > 65535)
            bad = "Rows and Columns must be numbers from 1 to 65535";
        else
            io.rows = (unsigned)rows->valuedouble, io.cols = (unsigned)cols->valuedouble;
    }
    if (bad) {
        cJSON_Delete(body);
        api_respond_error(ex, 400, "InvalidParameterValueException", "%s", bad);
        return;
    }
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
    snprintf(j->owner, sizeof j->owner, "%s", t->owner ? t->owner : "");
    j->timeout = timeout;
    err_t err = { 0 };
    int rc = (t->proc->prestarted && t->env_block && !env) ? err_set(&err, ERR_SYS, "out of memory")
                                                           : sandbox_exec(t->proc, argv, env, &io, &j->x, started, j, &err);
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
