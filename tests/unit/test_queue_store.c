/* test_queue_store.c — the async queue's store (store/queue.h) on a real
 * loop with workers and a real file: durability of accepts (reopen and
 * load), group commit, idempotency, unwaited writes seen by queries,
 * paging, start-up load, close, and what a full disk or a failed file
 * system does to accepts (an error, never a success). The perf suite
 * prints accepts/s and events per commit at 1, 16 and 64 concurrent
 * accepts.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "base/util.h"
#include "io/loop.h"
#include "store/queue.h"

#ifndef EXT4_IOC_SHUTDOWN
#define EXT4_IOC_SHUTDOWN _IOR('X', 125, uint32_t)
#endif
#define EXT4_GOING_FLAGS_NOLOGFLUSH 0x2

static char dir[64];
static char path[160];
static char mnt[128];        /* a file system mounted for the test, "" none */
static loop_t *loop;
static queue_store_t *qs;
static int outstanding;      /* callbacks still expected before the loop stops */
static bool timed_out;

static void sh(const char *fmt, const char *arg)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, fmt, arg, arg, arg);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void setup(void)
{
    strcpy(dir, "/tmp/nimbus-qstore-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/queue.db", dir);
    mnt[0] = '\0';
    err_t err = {0};
    loop = loop_new(2, &err);
    cr_assert_not_null(loop, "%s", err.msg);
    qs = NULL;
}

static void teardown(void)
{
    queue_store_close(qs);
    qs = NULL;
    loop_free(loop);
    if (mnt[0]) umount2(mnt, MNT_DETACH);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "chattr -i '%s' 2>/dev/null; rm -rf '%s'", path, dir);
    cr_assert_eq(system(cmd), 0);
}

static queue_store_t *open_at(const char *p)
{
    err_t err = {0};
    queue_store_t *q = queue_store_open(loop, p, &err);
    cr_assert_not_null(q, "open: %s", err.msg);
    return q;
}

static void reopen(void)
{
    queue_store_close(qs);
    qs = open_at(path);
}

static void on_timeout(loop_t *l, void *arg)
{
    (void)arg;
    timed_out = true;
    loop_stop(l);
}

/* Runs the loop until `outstanding` callbacks came back. */
static void run(void)
{
    if (outstanding == 0) return;
    timed_out = false;
    loop_timer_t *t = loop_timer_add(loop, 30000, on_timeout, NULL);
    err_t err = {0};
    cr_assert_eq(loop_run(loop, &err), 0, "%s", err.msg);
    cr_assert(!timed_out, "timed out with %d callbacks outstanding", outstanding);
    loop_timer_cancel(loop, t);
}

static void one_done(void)
{
    if (--outstanding == 0) loop_stop(loop);
}

/* ---- accepts ---- */

typedef struct {
    int called;
    bool ok;
    err_t err;
    char dup[37];
    bool stored_before;      /* the row was in the file when the callback ran */
    char id[37];
} acc_t;

static bool row_in_file(const char *id)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE id = ?1", -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n == 1;
}

static void on_accept(void *arg, const err_t *err, const char *dup_id)
{
    acc_t *a = arg;
    a->called++;
    a->ok = err == NULL;
    if (err) a->err = *err;
    snprintf(a->dup, sizeof a->dup, "%s", dup_id ? dup_id : "(null)");
    if (a->ok && !a->dup[0]) a->stored_before = row_in_file(a->id);
    one_done();
}

static queue_event_t mkev(const char *id, const char *function, const char *payload)
{
    queue_event_t ev;
    memset(&ev, 0, sizeof ev);
    snprintf(ev.id, sizeof ev.id, "%s", id);
    snprintf(ev.function, sizeof ev.function, "%s", function);
    ev.payload = (char *)payload;
    ev.payload_len = strlen(payload);
    ev.state = QEV_QUEUED;
    ev.created_ms = (int64_t)loop_wall_ms();
    snprintf(ev.origin, sizeof ev.origin, "invoke");
    return ev;
}

static void accept_async(const queue_event_t *ev, int64_t window, acc_t *a)
{
    memset(a, 0, sizeof *a);
    snprintf(a->id, sizeof a->id, "%s", ev->id);
    outstanding++;
    queue_store_accept(qs, ev, window, on_accept, a);
}

static void accept_ok(const queue_event_t *ev)
{
    acc_t a;
    accept_async(ev, 0, &a);
    run();
    cr_assert_eq(a.called, 1);
    cr_assert(a.ok, "accept %s: %s", ev->id, a.err.msg);
}

/* ---- load, list, get ---- */

#define MAXROWS 400
typedef struct {
    char id[37];
    char function[65];
    queue_state_t state;
    int attempts;
    char last_error[512];
    char payload[64];
    char result[64];
    bool has_result;
    char destination[512];
} row_t;

static row_t rows[MAXROWS];
static size_t nrows;
static char next_marker[37];
static bool query_failed;
static err_t query_err;

static void copy_row(row_t *r, const queue_event_t *ev)
{
    snprintf(r->id, sizeof r->id, "%s", ev->id);
    snprintf(r->function, sizeof r->function, "%s", ev->function);
    r->state = ev->state;
    r->attempts = ev->attempts;
    snprintf(r->last_error, sizeof r->last_error, "%s", ev->last_error);
    snprintf(r->payload, sizeof r->payload, "%s", ev->payload);
    cr_assert_eq(strlen(ev->payload), ev->payload_len);
    r->has_result = ev->result != NULL;
    snprintf(r->result, sizeof r->result, "%s", ev->result ? ev->result : "");
    snprintf(r->destination, sizeof r->destination, "%s", ev->destination);
}

static void on_load(const queue_event_t *ev, void *arg)
{
    (void)arg;
    cr_assert_lt(nrows, MAXROWS);
    copy_row(&rows[nrows++], ev);
}

static void load_all(void)
{
    nrows = 0;
    err_t err = {0};
    cr_assert_eq(queue_store_load(qs, on_load, NULL, &err), 0, "%s", err.msg);
}

static void on_list(void *arg, const err_t *err, const queue_event_t *events, size_t n, const char *next)
{
    (void)arg;
    query_failed = err != NULL;
    if (err) query_err = *err;
    nrows = 0;
    for (size_t i = 0; i < n; i++) copy_row(&rows[nrows++], &events[i]);
    snprintf(next_marker, sizeof next_marker, "%s", next ? next : "(null)");
    one_done();
}

static void list(const char *function, int state, const char *after, size_t limit)
{
    queue_query_t q = { .function = function, .state = state, .after_id = after, .limit = limit };
    outstanding++;
    queue_store_list(qs, &q, on_list, NULL);
    run();
}

static queue_attempt_t got_attempts[8];
static size_t got_natts;

static void on_get(void *arg, const err_t *err, const queue_event_t *ev, const queue_attempt_t *attempts,
                   size_t n)
{
    (void)arg;
    query_failed = err != NULL;
    nrows = 0;
    got_natts = 0;
    if (err) {
        query_err = *err;
    } else {
        copy_row(&rows[nrows++], ev);
        for (size_t i = 0; i < n && i < 8; i++) got_attempts[got_natts++] = attempts[i];
    }
    one_done();
}

static void get(const char *id)
{
    outstanding++;
    queue_store_get(qs, id, on_get, NULL);
    run();
}

static uint64_t commits(void)
{
    uint64_t c, e;
    queue_store_stats(qs, &c, &e);
    return c;
}

static uint64_t written(void)
{
    uint64_t c, e;
    queue_store_stats(qs, &c, &e);
    return e;
}

TestSuite(queue_store, .init = setup, .fini = teardown, .timeout = 60);

Test(queue_store, state_names_round_trip)
{
    for (int s = QEV_QUEUED; s <= QEV_CANCELLED; s++)
        cr_assert_eq(queue_state_parse(queue_state_name((queue_state_t)s)), s);
    cr_assert_str_eq(queue_state_name(QEV_RETRYING), "retrying");
    cr_assert_eq(queue_state_parse("dead"), QEV_DEAD);
    cr_assert_eq(queue_state_parse("bogus"), -1);
    cr_assert_eq(queue_state_parse(NULL), -1);
}

Test(queue_store, schema_versioned_wal_and_newer_refused)
{
    qs = open_at(path);
    queue_store_close(qs);
    qs = NULL;
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    cr_assert_geq(v, 1);
    sqlite3_finalize(st);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    err_t err = {0};
    cr_assert_null(queue_store_open(loop, path, &err));
    cr_assert(strstr(err.msg, "newer"), "%s", err.msg);
}

Test(queue_store, accept_is_durable_before_its_callback)
{
    qs = open_at(path);
    queue_event_t ev = mkev("11111111-1111-4111-8111-111111111111", "report", "{\"day\":\"2026-12-01\"}");
    snprintf(ev.qualifier, sizeof ev.qualifier, "prod");
    ev.next_ms = 1234;
    snprintf(ev.origin, sizeof ev.origin, "timer:nightly");
    acc_t a;
    accept_async(&ev, 0, &a);
    cr_assert_eq(a.called, 0, "an accept never answers before its commit");
    run();
    cr_assert(a.ok, "%s", a.err.msg);
    cr_assert_str_eq(a.dup, "");
    cr_assert(a.stored_before, "the event was not in the file when the callback said accepted");
    cr_assert_eq(commits(), 1);
    cr_assert_eq(written(), 1);

    /* Another process's view: close, reopen, load. */
    queue_store_close(qs);
    qs = open_at(path);
    load_all();
    cr_assert_eq(nrows, 1);
    cr_assert_str_eq(rows[0].id, ev.id);
    cr_assert_str_eq(rows[0].function, "report");
    cr_assert_str_eq(rows[0].payload, "{\"day\":\"2026-12-01\"}");
    cr_assert_eq(rows[0].state, QEV_QUEUED);
    cr_assert_not(rows[0].has_result);
    get(ev.id);
    cr_assert_not(query_failed, "%s", query_err.msg);
}

static void on_load_full(const queue_event_t *ev, void *arg)
{
    queue_event_t *out = arg;
    *out = *ev;
    out->payload = malloc(ev->payload_len + 1);
    cr_assert_not_null(out->payload);
    memcpy(out->payload, ev->payload, ev->payload_len + 1);
}

Test(queue_store, every_field_survives_reopen)
{
    qs = open_at(path);
    queue_event_t ev = mkev("22222222-2222-4222-8222-222222222222", "f", "a\0b");
    ev.payload_len = 3;   /* binary payloads are kept as they are */
    snprintf(ev.qualifier, sizeof ev.qualifier, "7");
    ev.state = QEV_RETRYING;
    ev.attempts = 2;
    ev.created_ms = 1700000000123;
    ev.next_ms = 1700000060123;
    snprintf(ev.idempotency_key, sizeof ev.idempotency_key, "key-1");
    snprintf(ev.last_error, sizeof ev.last_error, "Unhandled: boom");
    snprintf(ev.origin, sizeof ev.origin, "redrive");
    accept_ok(&ev);
    reopen();
    queue_event_t got;
    memset(&got, 0, sizeof got);
    err_t err = {0};
    cr_assert_eq(queue_store_load(qs, on_load_full, &got, &err), 0, "%s", err.msg);
    cr_assert_str_eq(got.id, ev.id);
    cr_assert_str_eq(got.qualifier, "7");
    cr_assert_eq(got.payload_len, 3);
    cr_assert_eq(memcmp(got.payload, "a\0b", 3), 0);
    cr_assert_eq(got.state, QEV_RETRYING);
    cr_assert_eq(got.attempts, 2);
    cr_assert_eq(got.created_ms, 1700000000123);
    cr_assert_eq(got.next_ms, 1700000060123);
    cr_assert_str_eq(got.idempotency_key, "key-1");
    cr_assert_str_eq(got.last_error, "Unhandled: boom");
    cr_assert_str_eq(got.origin, "redrive");
    cr_assert_null(got.result);
    free(got.payload);
}

Test(queue_store, group_commit_many_accepts_few_commits)
{
    qs = open_at(path);
    enum { N = 300 };
    static acc_t acc[N];
    static char ids[N][37];
    for (int i = 0; i < N; i++) {
        util_uuid4(ids[i]);
        queue_event_t ev = mkev(ids[i], "burst", "{}");
        accept_async(&ev, 0, &acc[i]);
    }
    run();
    for (int i = 0; i < N; i++) {
        cr_assert_eq(acc[i].called, 1);
        cr_assert(acc[i].ok, "%d: %s", i, acc[i].err.msg);
        cr_assert(acc[i].stored_before, "%d answered before it was stored", i);
    }
    /* The first accept starts a commit alone; the rest arrive while it is
     * in flight and share the next one. */
    cr_assert_eq(written(), N);
    cr_assert_leq(commits(), 3, "%llu commits for %d accepts", (unsigned long long)commits(), N);
    list("burst", -1, NULL, 1000);
    cr_assert_eq(nrows, N);
    for (int i = 0; i < N; i++) cr_assert_str_eq(rows[i].id, ids[i], "accept order is kept");
}

/* Concurrent callers: each accept answered makes the next one, `conc` in
 * flight at any time, until `total`. */
typedef struct {
    int conc, total, issued, answered, failed;
    char last_err[512];
} perf_t;

static void perf_next(perf_t *p);

static void perf_done(void *arg, const err_t *err, const char *dup_id)
{
    (void)dup_id;
    perf_t *p = arg;
    p->answered++;
    if (err) {
        p->failed++;
        snprintf(p->last_err, sizeof p->last_err, "%s", err->msg);
    }
    if (p->issued < p->total) perf_next(p);
    one_done();
}

static void perf_next(perf_t *p)
{
    char id[37];
    util_uuid4(id);
    char payload[128];
    snprintf(payload, sizeof payload, "{\"n\":%d,\"pad\":\"%s\"}", p->issued, "0123456789abcdef0123456789");
    queue_event_t ev = mkev(id, "bench", payload);
    p->issued++;
    outstanding++;
    queue_store_accept(qs, &ev, 86400000, perf_done, p);
}

static void perf_run(int conc, int total, double *per_s, double *per_commit)
{
    uint64_t c0 = commits(), e0 = written();
    perf_t p = { .conc = conc, .total = total };
    uint64_t t0 = loop_now_ns();
    for (int i = 0; i < conc && p.issued < total; i++) perf_next(&p);
    run();
    uint64_t t1 = loop_now_ns();
    cr_assert_eq(p.failed, 0, "%s", p.last_err);
    cr_assert_eq(p.answered, total);
    uint64_t c = commits() - c0, e = written() - e0;
    cr_assert_eq(e, (uint64_t)total);
    *per_s = total / ((double)(t1 - t0) / 1e9);
    *per_commit = (double)e / (double)c;
}

Test(queue_store, concurrent_accepts_share_fsyncs)
{
    qs = open_at(path);
    double rate, per;
    perf_run(64, 2000, &rate, &per);
    /* Each commit takes what arrived during the one before: ~64. */
    cr_assert_geq(per, 16.0, "%.1f events per commit at 64 concurrent accepts", per);
    perf_run(1, 50, &rate, &per);
    cr_assert_eq(per, 1.0);
}

Test(queue_store, idempotency_key_returns_first_id)
{
    qs = open_at(path);
    int64_t day = 24 * 3600 * 1000;
    queue_event_t a = mkev("aaaaaaaa-0000-4000-8000-000000000001", "f", "{\"n\":1}");
    queue_event_t b = mkev("aaaaaaaa-0000-4000-8000-000000000002", "f", "{\"n\":2}");
    snprintf(a.idempotency_key, sizeof a.idempotency_key, "order-42");
    snprintf(b.idempotency_key, sizeof b.idempotency_key, "order-42");
    /* In the same commit: the second sees the first. */
    acc_t ra, rb;
    accept_async(&a, day, &ra);
    accept_async(&b, day, &rb);
    run();
    cr_assert(ra.ok && rb.ok);
    cr_assert_str_eq(ra.dup, "");
    cr_assert_str_eq(rb.dup, a.id);
    /* In a later commit, and after a reopen. */
    reopen();
    queue_event_t c = mkev("aaaaaaaa-0000-4000-8000-000000000003", "f", "{\"n\":3}");
    snprintf(c.idempotency_key, sizeof c.idempotency_key, "order-42");
    acc_t rc;
    accept_async(&c, day, &rc);
    run();
    cr_assert(rc.ok, "%s", rc.err.msg);
    cr_assert_str_eq(rc.dup, a.id);
    /* The same key for another function is another event. */
    queue_event_t d = mkev("aaaaaaaa-0000-4000-8000-000000000004", "g", "{}");
    snprintf(d.idempotency_key, sizeof d.idempotency_key, "order-42");
    acc_t rd;
    accept_async(&d, day, &rd);
    run();
    cr_assert_str_eq(rd.dup, "");
    /* Past the window, the key makes a new event (and is its key now). */
    queue_event_t e = mkev("aaaaaaaa-0000-4000-8000-000000000005", "f", "{}");
    snprintf(e.idempotency_key, sizeof e.idempotency_key, "order-42");
    e.created_ms = a.created_ms + day + 1;
    acc_t re;
    accept_async(&e, day, &re);
    run();
    cr_assert_str_eq(re.dup, "");
    /* A deleted event's key still holds. */
    queue_store_delete(qs, e.id);
    queue_event_t f = mkev("aaaaaaaa-0000-4000-8000-000000000006", "f", "{}");
    snprintf(f.idempotency_key, sizeof f.idempotency_key, "order-42");
    f.created_ms = e.created_ms + 1000;
    acc_t rf;
    accept_async(&f, day, &rf);
    run();
    cr_assert_str_eq(rf.dup, e.id);

    list("f", -1, NULL, 0);
    cr_assert_eq(nrows, 1, "f: a (e deleted), never b, c or f; got %zu", nrows);
    cr_assert_str_eq(rows[0].id, a.id);
    list("g", -1, NULL, 0);
    cr_assert_eq(nrows, 1);
    cr_assert_eq(written(), 2, "since the reopen: d and e only");
}

Test(queue_store, duplicate_id_fails_that_accept_alone)
{
    qs = open_at(path);
    queue_event_t a = mkev("bbbbbbbb-0000-4000-8000-000000000001", "f", "{}");
    queue_event_t b = mkev("bbbbbbbb-0000-4000-8000-000000000002", "f", "{}");
    acc_t r1, r2, r3;
    accept_async(&a, 0, &r1);
    accept_async(&a, 0, &r2);
    accept_async(&b, 0, &r3);
    run();
    cr_assert(r1.ok);
    cr_assert_not(r2.ok);
    cr_assert_eq(r2.err.code, ERR_CONFLICT, "%s", r2.err.msg);
    cr_assert(r3.ok, "%s", r3.err.msg);
    list("f", -1, NULL, 0);
    cr_assert_eq(nrows, 2);
}

Test(queue_store, unwaited_writes_seen_by_the_next_query)
{
    qs = open_at(path);
    queue_event_t ev = mkev("cccccccc-0000-4000-8000-000000000001", "f", "{\"x\":1}");
    accept_ok(&ev);
    /* No waiting between the writes and the query: it must see them all. */
    queue_store_set_state(qs, ev.id, QEV_RUNNING, 1, 0, NULL);
    queue_attempt_t a1 = { .n = 1, .start_ms = 1000 };
    queue_store_add_attempt(qs, ev.id, &a1);
    a1.duration_ms = 12.5;
    snprintf(a1.error_type, sizeof a1.error_type, "Unhandled");
    snprintf(a1.error_message, sizeof a1.error_message, "boom");
    queue_store_add_attempt(qs, ev.id, &a1);   /* the end replaces the start */
    queue_store_set_state(qs, ev.id, QEV_RETRYING, 1, 99999, "Unhandled: boom");
    queue_store_set_state(qs, ev.id, QEV_RUNNING, 2, 0, NULL);
    queue_attempt_t a2 = { .n = 2, .start_ms = 2000, .duration_ms = 3.25 };
    queue_store_add_attempt(qs, ev.id, &a2);
    queue_store_set_result(qs, ev.id, "{\"ok\":true}", 11, NULL);
    queue_store_set_state(qs, ev.id, QEV_SUCCEEDED, 2, 0, NULL);
    queue_store_set_result(qs, ev.id, NULL, 0, "arn:aws:lambda:us-east-1:000000000000:function:sink: delivered");
    get(ev.id);
    cr_assert_not(query_failed, "%s", query_err.msg);
    cr_assert_eq(rows[0].state, QEV_SUCCEEDED);
    cr_assert_eq(rows[0].attempts, 2);
    cr_assert_str_eq(rows[0].last_error, "Unhandled: boom", "NULL keeps the last error");
    cr_assert(rows[0].has_result);
    cr_assert_str_eq(rows[0].result, "{\"ok\":true}", "NULL keeps the result");
    cr_assert_str_eq(rows[0].destination, "arn:aws:lambda:us-east-1:000000000000:function:sink: delivered");
    cr_assert_eq(got_natts, 2);
    cr_assert_eq(got_attempts[0].n, 1);
    cr_assert_eq(got_attempts[0].start_ms, 1000);
    cr_assert_float_eq(got_attempts[0].duration_ms, 12.5, 1e-9);
    cr_assert_str_eq(got_attempts[0].error_type, "Unhandled");
    cr_assert_str_eq(got_attempts[0].error_message, "boom");
    cr_assert_eq(got_attempts[1].n, 2);
    cr_assert_str_eq(got_attempts[1].error_type, "");
    /* The same from a list, and the unwaited writes did not fsync. */
    list("f", QEV_SUCCEEDED, NULL, 0);
    cr_assert_eq(nrows, 1);
    cr_assert_eq(commits(), 1, "only the accept's commit is fsync'd");

    /* Deleting takes the event and its attempts. */
    queue_store_delete(qs, ev.id);
    get(ev.id);
    cr_assert(query_failed);
    cr_assert_eq(query_err.code, ERR_NOT_FOUND);
    get("no-such-id");
    cr_assert_eq(query_err.code, ERR_NOT_FOUND);
}

static const queue_state_t cycle[] = { QEV_QUEUED,    QEV_RUNNING, QEV_RETRYING, QEV_SUCCEEDED,
                                       QEV_FAILED,    QEV_DEAD,    QEV_CANCELLED };

Test(queue_store, list_pages_and_filters_by_state)
{
    qs = open_at(path);
    enum { N = 25 };
    static acc_t acc[N];
    static char ids[N][37];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "dddddddd-0000-4000-8000-%012d", i);
        queue_event_t ev = mkev(ids[i], i % 5 == 4 ? "other" : "f", "{}");
        accept_async(&ev, 0, &acc[i]);
    }
    run();
    for (int i = 0; i < N; i++) queue_store_set_state(qs, ids[i], i % 2 ? QEV_DEAD : QEV_QUEUED, 0, 0, NULL);
    /* f has the 20 with i % 5 != 4, in accept order, by pages of 8. */
    char after[37] = "";
    int seen = 0, pages = 0;
    for (;;) {
        list("f", -1, after, 8);
        cr_assert_not(query_failed, "%s", query_err.msg);
        pages++;
        for (size_t k = 0; k < nrows; k++) {
            while (seen % 5 == 4) seen++;
            cr_assert_str_eq(rows[k].id, ids[seen]);
            seen++;
        }
        if (!next_marker[0]) break;
        cr_assert_eq(nrows, 8);
        cr_assert_str_eq(next_marker, rows[nrows - 1].id);
        snprintf(after, sizeof after, "%s", next_marker);
    }
    cr_assert_eq(pages, 3);
    cr_assert_eq(nrows, 4);
    /* Exactly a page's worth left: no marker. */
    list("f", -1, ids[13], 8);
    cr_assert_eq(nrows, 8);
    cr_assert_str_eq(next_marker, "");

    list("f", QEV_DEAD, NULL, 0);
    cr_assert_eq(nrows, 10);   /* odd i, not i % 5 == 4 */
    for (size_t k = 0; k < nrows; k++) cr_assert_eq(rows[k].state, QEV_DEAD);
    list("f", QEV_DEAD, NULL, 3);
    cr_assert_eq(nrows, 3);
    cr_assert_str_eq(next_marker, ids[5]);
    list("f", QEV_DEAD, next_marker, 3);
    cr_assert_str_eq(rows[0].id, ids[7]);
    list("f", QEV_RUNNING, NULL, 0);
    cr_assert_eq(nrows, 0);
    cr_assert_str_eq(next_marker, "");
    list("nobody", -1, NULL, 0);
    cr_assert_eq(nrows, 0);
    /* A marker that is not one of f's events. */
    list("f", -1, ids[4], 8);
    cr_assert(query_failed);
    cr_assert_eq(query_err.code, ERR_INVALID);
}

Test(queue_store, load_returns_unfinished_oldest_first)
{
    qs = open_at(path);
    enum { N = 700 };   /* more than one chunk of the load */
    static acc_t acc[N];
    static char ids[N][37];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "eeeeeeee-0000-4000-8000-%012d", i);
        char payload[32];
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        queue_event_t ev = mkev(ids[i], "f", payload);
        /* created_ms is not the order: accept order is. */
        ev.created_ms = 1000000 - i;
        accept_async(&ev, 0, &acc[i]);
    }
    run();
    for (int i = 0; i < N; i++) {
        queue_state_t s = cycle[i % 7];
        if (s != QEV_QUEUED) queue_store_set_state(qs, ids[i], s, 1, 0, NULL);
    }
    queue_store_close(qs);
    qs = open_at(path);
    load_all();
    size_t want = 0;
    for (int i = 0; i < N; i++) {
        queue_state_t s = cycle[i % 7];
        if (s != QEV_QUEUED && s != QEV_RUNNING && s != QEV_RETRYING) continue;
        cr_assert_lt(want, nrows);
        cr_assert_str_eq(rows[want].id, ids[i]);
        cr_assert_eq(rows[want].state, s, "a running event comes back as it was stored");
        want++;
    }
    cr_assert_eq(nrows, want);
    cr_assert_eq(want, 300);
}

Test(queue_store, close_writes_what_is_pending)
{
    qs = open_at(path);
    queue_event_t a = mkev("ffffffff-0000-4000-8000-000000000001", "f", "{}");
    queue_event_t b = mkev("ffffffff-0000-4000-8000-000000000002", "f", "{}");
    queue_event_t c = mkev("ffffffff-0000-4000-8000-000000000003", "f", "{}");
    accept_ok(&a);
    accept_ok(&b);
    /* Unwaited changes, an accept in flight and one pending behind it:
     * close without running the loop. */
    queue_store_set_state(qs, a.id, QEV_SUCCEEDED, 1, 0, NULL);
    queue_store_set_result(qs, a.id, "done", 4, "");
    queue_store_delete(qs, b.id);
    acc_t rc;
    accept_async(&c, 0, &rc);
    queue_event_t d = mkev("ffffffff-0000-4000-8000-000000000004", "f", "{}");
    acc_t rd;
    accept_async(&d, 0, &rd);
    queue_store_close(qs);
    qs = NULL;
    cr_assert_eq(rc.called, 1, "close answers every accept");
    cr_assert(rc.ok, "%s", rc.err.msg);
    cr_assert_eq(rd.called, 1);
    cr_assert(rd.ok, "%s", rd.err.msg);
    outstanding = 0;

    qs = open_at(path);
    load_all();
    cr_assert_eq(nrows, 2, "a finished, b deleted: c and d are left");
    cr_assert_str_eq(rows[0].id, c.id);
    cr_assert_str_eq(rows[1].id, d.id);
    get(a.id);
    cr_assert_eq(rows[0].state, QEV_SUCCEEDED);
    cr_assert_str_eq(rows[0].result, "done");
    get(b.id);
    cr_assert_eq(query_err.code, ERR_NOT_FOUND);
}

/* ---- a disk that cannot take the write ---- */

static void fill_disk(const char *file)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    static char block[4096];
    memset(block, 'x', sizeof block);
    while (write(fd, block, sizeof block) > 0) {}
    cr_assert_eq(errno, ENOSPC);
    /* tmpfs may still take a partial page: fill it byte by byte. */
    while (write(fd, block, 1) > 0) {}
    close(fd);
}

Test(queue_store, full_disk_fails_the_accept)
{
    snprintf(mnt, sizeof mnt, "%s/small", dir);
    sh("mkdir -p '%s' && mount -t tmpfs -o size=512k tmpfs '%s'", mnt);
    snprintf(path, sizeof path, "%s/queue.db", mnt);
    qs = open_at(path);
    queue_event_t ok = mkev("99999999-0000-4000-8000-000000000001", "f", "{}");
    accept_ok(&ok);

    char filler[200];
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    fill_disk(filler);
    static char big[128 * 1024];
    memset(big, 'p', sizeof big - 1);
    queue_event_t ev = mkev("99999999-0000-4000-8000-000000000002", "f", big);
    queue_event_t ev2 = mkev("99999999-0000-4000-8000-000000000003", "f", "{}");
    acc_t r, r2;
    accept_async(&ev, 0, &r);
    accept_async(&ev2, 0, &r2);   /* in the same commit: it fails with it */
    run();
    cr_assert_eq(r.called, 1);
    cr_assert_not(r.ok, "a full disk must never be told accepted");
    cr_assert_eq(r.err.code, ERR_SYS);
    cr_assert(strstr(r.err.msg, "full"), "%s", r.err.msg);
    cr_log_info("full disk: %s", r.err.msg);
    cr_assert_not(r2.ok);
    get(ev.id);
    cr_assert_eq(query_err.code, ERR_NOT_FOUND);

    /* Room again: the same store takes writes again. */
    cr_assert_eq(unlink(filler), 0);
    accept_ok(&ev);
    get(ev.id);
    cr_assert_not(query_failed, "%s", query_err.msg);
    cr_assert_eq(strlen(rows[0].payload), sizeof rows[0].payload - 1);
}

Test(queue_store, failed_file_system_fails_the_accept)
{
    /* ext4 on a loop device, shut down under the open store: what a disk
     * error with errors=remount-ro does to it. */
    char img[160];
    snprintf(img, sizeof img, "%s/fs.img", dir);
    snprintf(mnt, sizeof mnt, "%s/ext", dir);
    sh("truncate -s 16M '%s' && mkfs.ext4 -q -F '%s' >/dev/null 2>&1", img);
    /* A machine without loop devices cannot stage this failure at all. */
    if (system("losetup -f >/dev/null 2>&1") != 0) cr_skip_test("no loop device to mount a file system on");
    sh("mkdir -p '%s' && mount -o loop '%s/../fs.img' '%s'", mnt);
    snprintf(path, sizeof path, "%s/queue.db", mnt);
    qs = open_at(path);
    queue_event_t ok = mkev("88888888-0000-4000-8000-000000000001", "f", "{}");
    accept_ok(&ok);

    int fd = open(mnt, O_RDONLY | O_DIRECTORY);
    cr_assert_geq(fd, 0);
    uint32_t flags = EXT4_GOING_FLAGS_NOLOGFLUSH;
    cr_assert_eq(ioctl(fd, EXT4_IOC_SHUTDOWN, &flags), 0, "shutdown: %s", strerror(errno));
    close(fd);

    queue_event_t ev = mkev("88888888-0000-4000-8000-000000000002", "f", "{}");
    acc_t r;
    accept_async(&ev, 0, &r);
    run();
    cr_assert_eq(r.called, 1);
    cr_assert_not(r.ok, "a failed file system must never be told accepted");
    cr_assert_eq(r.err.code, ERR_SYS);
    cr_log_info("failed file system: %s", r.err.msg);
    /* Unwaited writes fail quietly and close still returns. */
    queue_store_set_state(qs, ok.id, QEV_RUNNING, 1, 0, NULL);
    queue_store_close(qs);
    qs = NULL;
}

Test(queue_store, read_only_file_refused_at_open)
{
    qs = open_at(path);
    queue_event_t ok = mkev("77777777-0000-4000-8000-000000000001", "f", "{}");
    accept_ok(&ok);
    queue_store_close(qs);
    qs = NULL;
    sh("chattr +i '%s'", path);
    err_t err = {0};
    cr_assert_null(queue_store_open(loop, path, &err), "a store that cannot be written must not open");
    cr_assert_eq(err.code, ERR_SYS);
    cr_assert(strstr(err.msg, "read-only"), "%s", err.msg);
}

/* ---- throughput (printed, not asserted) ---- */

TestSuite(queue_store_perf, .init = setup, .fini = teardown, .timeout = 120);

Test(queue_store_perf, accepts_per_second)
{
    qs = open_at(path);
    static const int conc[] = { 1, 16, 64 };
    static const int total[] = { 1000, 8000, 20000 };
    for (int i = 0; i < 3; i++) {
        double rate, per;
        perf_run(conc[i], total[i], &rate, &per);
        fprintf(stderr, "queue_store: %2d concurrent accepts: %8.0f accepts/s, %6.1f events/commit, "
                        "%6.1f fsyncs per 1000 events\n",
                conc[i], rate, per, 1000.0 / per);
    }
}
