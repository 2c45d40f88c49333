/* test_logs.c — core/logs over a real loop (one worker) and a real SQLite
 * store: lines printed while a batch is being written are still stored
 * without anyone asking, and a query sees every line printed before it.
 * Lines that come while a batch is on the worker wait for a timer rather
 * than going at once: these tests hold that waiting to its promise. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/logs.h"
#include "io/loop.h"
#include "store/store.h"

static char dir[64];
static loop_t *lp;
static store_t *st;
static logs_t *lg;

static void setup(void)
{
    strcpy(dir, "/tmp/nimbus-logs-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/nimbus.db", dir);
    err_t err = { 0 };
    lp = loop_new(1, &err);
    cr_assert_not_null(lp, "%s", err.msg);
    st = store_open(path, &err);
    cr_assert_not_null(st, "%s", err.msg);
    lg = logs_new(lp, st, &err);
    cr_assert_not_null(lg, "%s", err.msg);
}

static void teardown(void)
{
    logs_free(lg);
    loop_free(lp);
    store_close(st);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(logs, .init = setup, .fini = teardown);

typedef struct {
    int emitted, total;
    bool query_at_end;        /* ask for the lines right after the last one */
    bool answered;
    size_t nres;
    bool in_order;
} emitter_t;

static void answer_cb(void *arg, const err_t *err, const store_log_t *lines, size_t n)
{
    emitter_t *e = arg;
    cr_assert_null(err, "%s", err ? err->msg : "");
    e->answered = true;
    e->nres = n;
    e->in_order = true;
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "line %zu", i);
        if (strcmp(lines[i].line, want) != 0) e->in_order = false;
    }
    loop_stop(lp);
}

static void emit_cb(loop_t *l, void *arg)
{
    emitter_t *e = arg;
    char line[32];
    int n = snprintf(line, sizeof line, "line %d", e->emitted++);
    logs_emit(lg, "fn", "req", line, (size_t)n);
    if (e->emitted < e->total) {
        loop_timer_add(l, 1, emit_cb, e);
        return;
    }
    if (e->query_at_end) {
        err_t err = { 0 };
        store_log_query_t q = { .function = "fn", .limit = 10000 };
        cr_assert_not_null(logs_query(lg, &q, answer_cb, e, &err), "%s", err.msg);
    } else {
        loop_stop(l);
    }
}

static void stop_cb(loop_t *l, void *arg) { (void)arg; loop_stop(l); }

static size_t stored(void)
{
    store_log_t *out;
    size_t n;
    err_t err = { 0 };
    store_log_query_t q = { .function = "fn", .limit = 10000 };
    cr_assert_eq(store_logs_query(st, &q, &out, &n, &err), 0, "%s", err.msg);
    store_logs_free(out, n);
    return n;
}

Test(logs, a_query_sees_every_line_printed_before_it)
{
    emitter_t e = { .total = 300, .query_at_end = true };
    loop_timer_add(lp, 1, emit_cb, &e);
    err_t err = { 0 };
    cr_assert_eq(loop_run(lp, &err), 0, "%s", err.msg);
    cr_assert(e.answered);
    cr_assert_eq(e.nres, 300);
    cr_assert(e.in_order);
}

Test(logs, lines_printed_during_a_batch_are_stored_unasked)
{
    /* A full batch (2000 lines) goes to the worker at once; the lines after
     * it arrive while it is being written, and nothing comes after them. */
    const size_t total = 2100;
    for (size_t i = 0; i < total; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "line %zu", i);
        logs_emit(lg, "fn", "req", line, (size_t)n);
    }
    /* Nobody asks: the lines still held must go to the store on their own.
     * Waits for them, up to 5 s (it is no measure of how fast). */
    err_t err = { 0 };
    for (int i = 0; i < 500 && stored() < total; i++) {
        loop_timer_add(lp, 10, stop_cb, NULL);
        cr_assert_eq(loop_run(lp, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(stored(), total);
}
