/* instance_output.c — an instance's output: its stdout and stderr pipes
 * read into lines, each line given to the call it belongs to (one call
 * running) or to the function's log under the instance, within one call's
 * cap per window, and what a failed init printed kept for its call's tail.
 *
 * Apart from instance.c because it is its own concern with its own
 * limits: instance.c decides an instance's life (start, slots, keep-alive,
 * end) and calls in here at the few points where output must be read
 * (a call answered, the instance gone); nothing here changes an
 * instance's state or counters. Loop thread only. Must never: keep the
 * loop reading one pipe without end, or drop a line without a line
 * saying so.
 */
#include "core/instance_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/call.h"
#include "core/logs.h"

#define MAX_LINE (256u * 1024u)  /* longer output lines are split */
#define WAKE_READS 16            /* 64 KB reads of a pipe per wake-up (1 MB) */
#define DRAIN_READS 64           /* ... when a call ends: what it printed first (4 MB) */

/* What a failed init leaves for its call's tail (Lambda's is 4 KB). */
#define INIT_LOG_BYTES (16u * 1024u)

/* The line saying what the last window dropped, if anything was. */
void instance_output_report(instance_t *in)
{
    if (!in->out_dropped) return;
    char line[256];
    int k = snprintf(line, sizeof line,
                     "[nimbus] Log truncated: the instance's output past %zu bytes was dropped (%zu bytes in "
                     "%zu lines; the per-call cap is --log-call-max-bytes)",
                     in->out_stored, in->out_dropped, in->out_dropped_lines);
    logs_emit(instance_ctx(in)->logs, in->fn->cfg.name, "", line, k > 0 && (size_t)k < sizeof line ? (size_t)k : 0);
    in->out_dropped = in->out_dropped_lines = 0;
}

void instance_output_window(instance_t *in)
{
    instance_output_report(in);
    in->out_stored = 0;
}

static void emit_line(instance_t *in, const char *p, size_t n)
{
    if (n && p[n - 1] == '\r') n--;
    /* One call running: the line is its. Several (InstanceConcurrency > 1):
     * the runtime tags lines with the request id itself, as Lambda's do;
     * they go to the function's log under the instance. */
    if (in->n_busy == 1) {
        call_log(instance_first_call(in), p, n);
        return;
    }
    if (!in->reached_ready && in->init_log.len + n + 1 <= INIT_LOG_BYTES) {
        buf_append(&in->init_log, p, n);
        buf_append(&in->init_log, "\n", 1);
    }
    /* Counted as call_log counts a call's lines. */
    size_t cost = n + CALL_LOG_LINE_COST;
    if (in->out_dropped || in->out_stored + cost > call_log_cap(&instance_ctx(in)->limits)) {
        in->out_dropped += n + 1;
        in->out_dropped_lines++;
        return;
    }
    in->out_stored += cost;
    logs_emit(instance_ctx(in)->logs, in->fn->cfg.name, "", p, n);
}

static void consume(instance_t *in, buf_t *pending, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (nl && pending->len == 0) {
            emit_line(in, p, take);           /* common case: no copy */
        } else {
            buf_append(pending, p, take);
            if (nl || pending->len >= MAX_LINE) {
                emit_line(in, pending->data, pending->len);
                buf_reset(pending);
            }
        }
        if (!nl) break;
        p += take + 1;
        n -= take + 1;
    }
}

/* Read what is in one pipe now, at most `max_reads` full buffers: a
 * function that writes without end must not keep the loop from everything
 * else (the fd is level-triggered, so the rest is read on the next turn).
 * Returns false at EOF/error. */
static bool read_pipe(instance_t *in, int fd, buf_t *pending, int max_reads)
{
    char buf[65536];
    for (int i = 0; i < max_reads; i++) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k > 0) {
            consume(in, pending, buf, (size_t)k);
            if ((size_t)k < sizeof buf) return true;
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) return true;
        return false;
    }
    return true;
}

void instance_output_flush(instance_t *in)
{
    if (in->out_line.len) emit_line(in, in->out_line.data, in->out_line.len);
    if (in->err_line.len) emit_line(in, in->err_line.data, in->err_line.len);
    buf_reset(&in->out_line);
    buf_reset(&in->err_line);
}

/* Read what the instance wrote before the event being handled (e.g.
 * before posting its answer): it is in the pipe, but epoll may report the
 * pipe after the socket, so ask the pipe itself. One read() per call end;
 * an earlier attempt to skip it when epoll had not reported the pipe lost
 * lines from 1-3% of calls' logs. */
void instance_drain_output(instance_t *in)
{
    if (in->proc.out_fd >= 0) read_pipe(in, in->proc.out_fd, &in->out_line, DRAIN_READS);
    if (in->proc.err_fd >= 0) read_pipe(in, in->proc.err_fd, &in->err_line, DRAIN_READS);
}

void instance_output_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    instance_t *in = arg;
    buf_t *pending = fd == in->proc.out_fd ? &in->out_line : &in->err_line;
    if (!read_pipe(in, fd, pending, WAKE_READS)) loop_del_fd(l, fd);  /* EOF: the pidfd tells the rest */
}
