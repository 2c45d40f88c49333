/* queue_sql.c — the queue store's SQLite file (queue_sql.h): its schema,
 * its statements, one connection under one mutex.
 *
 * Must never: be called from the loop thread, leave a transaction open
 * when a call returns, or call user code (it has none to call).
 */
#include "store/queue_sql.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/loop.h"
#include "store/sqldb.h"
#include "store/store.h"

#define WHAT "queue store"
#define PRUNE_EVERY_MS 60000  /* how often expired idempotency keys are forgotten */

/* Migrations, in order (see sqldb.h). States are stored by name, so the
 * enum may grow without rewriting rows. */
static const char *const migrations[] = {
    /* 1: events, their attempts, idempotency keys */
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY,"          /* accept order: 'oldest first' and paging */
    "  id TEXT NOT NULL UNIQUE,"
    "  function TEXT NOT NULL,"
    "  qualifier TEXT NOT NULL,"
    "  payload BLOB NOT NULL,"
    "  state TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  next_ms INTEGER NOT NULL,"
    "  idem_key TEXT NOT NULL,"
    "  last_error TEXT NOT NULL,"
    "  result BLOB,"
    "  destination TEXT NOT NULL,"
    "  origin TEXT NOT NULL);"
    "CREATE INDEX events_function ON events(function, seq);"
    "CREATE INDEX events_function_state ON events(function, state, seq);"
    "CREATE INDEX events_unfinished ON events(seq) WHERE state IN ('queued','running','retrying');"
    "CREATE TABLE attempts ("
    "  event_id TEXT NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  duration_ms REAL NOT NULL,"
    "  error_type TEXT NOT NULL,"
    "  error_message TEXT NOT NULL,"
    "  PRIMARY KEY(event_id, n)) WITHOUT ROWID;"
    /* Apart from events so that purging an event does not forget its key. */
    "CREATE TABLE idempotency ("
    "  function TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(function, key)) WITHOUT ROWID;"
    "CREATE INDEX idempotency_age ON idempotency(created_ms);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof *migrations))

#define EVENT_COLS                                                                                    \
    "id, function, qualifier, payload, state, attempts, created_ms, next_ms, idem_key, last_error, " \
    "result, destination, origin, seq"

enum {
    ST_INSERT,
    ST_IDEM_GET,
    ST_IDEM_PUT,
    ST_IDEM_PRUNE,
    ST_SET_STATE,
    ST_SET_RESULT,
    ST_ATTEMPT_PUT,
    ST_DELETE_EVENT,
    ST_DELETE_ATTEMPTS,
    ST_SEQ_OF,
    ST_LIST,
    ST_LIST_STATE,
    ST_LOAD,
    ST_GET,
    ST_ATTEMPTS,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_COUNT
};

static const char *const statements[ST_COUNT] = {
    [ST_INSERT] = "INSERT INTO events(id, function, qualifier, payload, state, attempts, created_ms, "
                  "next_ms, idem_key, last_error, result, destination, origin) "
                  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_IDEM_GET] = "SELECT id, created_ms FROM idempotency WHERE function = ?1 AND key = ?2",
    [ST_IDEM_PUT] = "INSERT OR REPLACE INTO idempotency(function, key, id, created_ms) "
                    "VALUES(?1, ?2, ?3, ?4)",
    [ST_IDEM_PRUNE] = "DELETE FROM idempotency WHERE created_ms < ?1",
    [ST_SET_STATE] = "UPDATE events SET state = ?2, attempts = ?3, next_ms = ?4, "
                     "last_error = COALESCE(?5, last_error) WHERE id = ?1",
    [ST_SET_RESULT] = "UPDATE events SET result = COALESCE(?2, result), "
                      "destination = COALESCE(?3, destination) WHERE id = ?1",
    [ST_ATTEMPT_PUT] = "INSERT OR REPLACE INTO attempts(event_id, n, start_ms, duration_ms, error_type, "
                       "error_message) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_DELETE_EVENT] = "DELETE FROM events WHERE id = ?1",
    [ST_DELETE_ATTEMPTS] = "DELETE FROM attempts WHERE event_id = ?1",
    [ST_SEQ_OF] = "SELECT seq FROM events WHERE id = ?1 AND function = ?2",
    /* Two shapes so each uses its own index. */
    [ST_LIST] = "SELECT " EVENT_COLS " FROM events WHERE function = ?1 AND seq > ?2 "
                "ORDER BY seq LIMIT ?3",
    [ST_LIST_STATE] = "SELECT " EVENT_COLS " FROM events WHERE function = ?1 AND state = ?4 "
                      "AND seq > ?2 ORDER BY seq LIMIT ?3",
    [ST_LOAD] = "SELECT " EVENT_COLS " FROM events WHERE state IN ('queued','running','retrying') "
                "AND seq > ?1 ORDER BY seq LIMIT ?2",
    [ST_GET] = "SELECT " EVENT_COLS " FROM events WHERE id = ?1",
    [ST_ATTEMPTS] = "SELECT n, start_ms, duration_ms, error_type, error_message FROM attempts "
                    "WHERE event_id = ?1 ORDER BY n",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

struct queue_sql {
    pthread_mutex_t mu;        /* every use of db and st */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    int sync_full;             /* the synchronous setting now: 1 FULL, 0 NORMAL */
    int64_t last_prune_ms;
    int64_t max_window_ms;     /* the widest idempotency window asked for */
};

static const char *const state_names[] = {
    [QEV_QUEUED] = "queued",       [QEV_RUNNING] = "running", [QEV_RETRYING] = "retrying",
    [QEV_SUCCEEDED] = "succeeded", [QEV_FAILED] = "failed",   [QEV_DEAD] = "dead",
    [QEV_CANCELLED] = "cancelled",
};
#define NSTATES ((int)(sizeof state_names / sizeof *state_names))

const char *queue_state_name(queue_state_t s)
{
    return (int)s >= 0 && (int)s < NSTATES ? state_names[s] : "unknown";
}

int queue_state_parse(const char *name)
{
    for (int i = 0; name && i < NSTATES; i++)
        if (strcmp(name, state_names[i]) == 0) return i;
    return -1;
}

/* ---- helpers: callers hold q->mu ---- */

static sqlite3_stmt *stmt(queue_sql_t *q, int which)
{
    sqlite3_stmt *st = q->st[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static int step_done(queue_sql_t *q, sqlite3_stmt *st, const char *doing, err_t *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) sqldb_error(q->db, WHAT, doing, err);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s) sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

static int set_sync(queue_sql_t *q, bool full, err_t *err)
{
    if (q->sync_full == (int)full) return 0;
    if (sqldb_exec(q->db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", WHAT,
                   "set synchronous", err))
        return -1;
    q->sync_full = full;
    return 0;
}

/* Forget keys past the widest window seen, now and then. */
static int prune_keys(queue_sql_t *q, int64_t now, int64_t window, err_t *err)
{
    if (window > q->max_window_ms) q->max_window_ms = window;
    if (q->max_window_ms <= 0 || now - q->last_prune_ms < PRUNE_EVERY_MS) return 0;
    q->last_prune_ms = now;
    sqlite3_stmt *st = stmt(q, ST_IDEM_PRUNE);
    sqlite3_bind_int64(st, 1, now - q->max_window_ms);
    return step_done(q, st, "forget idempotency keys", err);
}

/* -1 fails the whole commit; a duplicate id fails this accept alone. */
static int write_accept(queue_sql_t *q, queue_op_t *op, uint64_t *events, err_t *err)
{
    const queue_event_t *ev = &op->ev;
    bool keyed = ev->idempotency_key[0] != '\0';
    if (keyed) {
        sqlite3_stmt *st = stmt(q, ST_IDEM_GET);
        bind_text(st, 1, ev->function);
        bind_text(st, 2, ev->idempotency_key);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_int64(st, 1) >= ev->created_ms - op->window_ms) {
            snprintf(op->dup_id, sizeof op->dup_id, "%s", (const char *)sqlite3_column_text(st, 0));
            sqlite3_reset(st);
            return 0;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqldb_error(q->db, WHAT, "look up key", err);
    }
    sqlite3_stmt *st = stmt(q, ST_INSERT);
    bind_text(st, 1, ev->id);
    bind_text(st, 2, ev->function);
    bind_text(st, 3, ev->qualifier);
    sqlite3_bind_blob(st, 4, ev->payload ? ev->payload : "", (int)ev->payload_len, SQLITE_STATIC);
    bind_text(st, 5, queue_state_name(ev->state));
    sqlite3_bind_int(st, 6, ev->attempts);
    sqlite3_bind_int64(st, 7, ev->created_ms);
    sqlite3_bind_int64(st, 8, ev->next_ms);
    bind_text(st, 9, ev->idempotency_key);
    bind_text(st, 10, ev->last_error);
    if (ev->result) sqlite3_bind_blob(st, 11, ev->result, (int)ev->result_len, SQLITE_STATIC);
    bind_text(st, 12, ev->destination);
    bind_text(st, 13, ev->origin);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        op->rc = err_set(&op->err, ERR_CONFLICT, "%s: event %s already exists", WHAT, ev->id);
        return 0;
    }
    if (rc != SQLITE_DONE) return sqldb_error(q->db, WHAT, "insert event", err);
    (*events)++;
    if (!keyed) return 0;
    st = stmt(q, ST_IDEM_PUT);
    bind_text(st, 1, ev->function);
    bind_text(st, 2, ev->idempotency_key);
    bind_text(st, 3, ev->id);
    sqlite3_bind_int64(st, 4, ev->created_ms);
    if (step_done(q, st, "record key", err)) return -1;
    return prune_keys(q, ev->created_ms, op->window_ms, err);
}

static int write_op(queue_sql_t *q, queue_op_t *op, uint64_t *events, err_t *err)
{
    const queue_event_t *ev = &op->ev;
    sqlite3_stmt *st;
    switch (op->kind) {
    case QOP_ACCEPT:
        return write_accept(q, op, events, err);
    case QOP_STATE:
        st = stmt(q, ST_SET_STATE);
        bind_text(st, 1, ev->id);
        bind_text(st, 2, queue_state_name(ev->state));
        sqlite3_bind_int(st, 3, ev->attempts);
        sqlite3_bind_int64(st, 4, ev->next_ms);
        bind_text(st, 5, op->keep_error ? NULL : ev->last_error);
        return step_done(q, st, "set state", err);
    case QOP_RESULT:
        st = stmt(q, ST_SET_RESULT);
        bind_text(st, 1, ev->id);
        if (!op->keep_result)
            sqlite3_bind_blob(st, 2, ev->result ? ev->result : "", (int)ev->result_len, SQLITE_STATIC);
        bind_text(st, 3, op->keep_destination ? NULL : ev->destination);
        return step_done(q, st, "set result", err);
    case QOP_ATTEMPT:
        st = stmt(q, ST_ATTEMPT_PUT);
        bind_text(st, 1, ev->id);
        sqlite3_bind_int(st, 2, op->att.n);
        sqlite3_bind_int64(st, 3, op->att.start_ms);
        sqlite3_bind_double(st, 4, op->att.duration_ms);
        bind_text(st, 5, op->att.error_type);
        bind_text(st, 6, op->att.error_message);
        return step_done(q, st, "record attempt", err);
    case QOP_DELETE:
        st = stmt(q, ST_DELETE_ATTEMPTS);
        bind_text(st, 1, ev->id);
        if (step_done(q, st, "delete attempts", err)) return -1;
        st = stmt(q, ST_DELETE_EVENT);
        bind_text(st, 1, ev->id);
        return step_done(q, st, "delete event", err);
    }
    return err_set(err, ERR_INTERNAL, "%s: unknown write %d", WHAT, (int)op->kind);
}

/* One transaction for the whole list; all of it or none. */
static int write_batch(queue_sql_t *q, queue_op_t *ops, bool durable, uint64_t *events, err_t *err)
{
    if (set_sync(q, durable, err) || step_done(q, stmt(q, ST_BEGIN), "begin", err)) goto fail;
    for (queue_op_t *op = ops; op; op = op->next)
        if (write_op(q, op, events, err)) goto fail;
    if (step_done(q, stmt(q, ST_COMMIT), "commit", err)) goto fail;
    return 0;
fail:
    if (!sqlite3_get_autocommit(q->db)) step_done(q, stmt(q, ST_ROLLBACK), "rollback", NULL);
    *events = 0;
    return -1;
}

static void copy_col(char *dst, size_t n, sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

static char *blob_dup(sqlite3_stmt *st, int i, size_t *len)
{
    const void *b = sqlite3_column_blob(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    char *p = malloc(n + 1);
    if (!p) abort();
    if (n) memcpy(p, b, n);
    p[n] = '\0';
    *len = n;
    return p;
}

/* A row of EVENT_COLS; returns its seq. */
static int64_t read_event(sqlite3_stmt *st, queue_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    copy_col(ev->id, sizeof ev->id, st, 0);
    copy_col(ev->function, sizeof ev->function, st, 1);
    copy_col(ev->qualifier, sizeof ev->qualifier, st, 2);
    ev->payload = blob_dup(st, 3, &ev->payload_len);
    int s = queue_state_parse((const char *)sqlite3_column_text(st, 4));
    ev->state = s < 0 ? QEV_QUEUED : (queue_state_t)s;
    ev->attempts = sqlite3_column_int(st, 5);
    ev->created_ms = sqlite3_column_int64(st, 6);
    ev->next_ms = sqlite3_column_int64(st, 7);
    copy_col(ev->idempotency_key, sizeof ev->idempotency_key, st, 8);
    copy_col(ev->last_error, sizeof ev->last_error, st, 9);
    if (sqlite3_column_type(st, 10) != SQLITE_NULL) ev->result = blob_dup(st, 10, &ev->result_len);
    copy_col(ev->destination, sizeof ev->destination, st, 11);
    copy_col(ev->origin, sizeof ev->origin, st, 12);
    return sqlite3_column_int64(st, 13);
}

void queue_sql_free_events(queue_event_t *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(evs[i].payload);
        free(evs[i].result);
    }
    free(evs);
}

/* Steps `st` into a growing array, at most `max` rows. */
static int read_events(queue_sql_t *q, sqlite3_stmt *st, size_t max, queue_event_t **out, size_t *n,
                       int64_t *last_seq, err_t *err)
{
    queue_event_t *evs = NULL;
    size_t cnt = 0, cap = 0;
    int rc = SQLITE_DONE;
    while (cnt < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            evs = realloc(evs, cap * sizeof *evs);
            if (!evs) abort();
        }
        int64_t seq = read_event(st, &evs[cnt++]);
        if (last_seq) *last_seq = seq;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        queue_sql_free_events(evs, cnt);
        return sqldb_error(q->db, WHAT, "read events", err);
    }
    *out = evs;
    *n = cnt;
    return 0;
}

static int list_locked(queue_sql_t *q, const char *function, int state, const char *after_id, size_t limit,
                       queue_event_t **evs, size_t *n, char next_id[37], err_t *err)
{
    int64_t after = 0;
    if (after_id && after_id[0]) {
        sqlite3_stmt *st = stmt(q, ST_SEQ_OF);
        bind_text(st, 1, after_id);
        bind_text(st, 2, function);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) after = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return err_set(err, ERR_INVALID, "Invalid marker: no event %s of %s", after_id, function);
        if (rc != SQLITE_ROW) return sqldb_error(q->db, WHAT, "find marker", err);
    }
    sqlite3_stmt *st = stmt(q, state >= 0 ? ST_LIST_STATE : ST_LIST);
    bind_text(st, 1, function);
    sqlite3_bind_int64(st, 2, after);
    /* One more than asked, to know whether there is a next page. */
    sqlite3_bind_int64(st, 3, (int64_t)limit + 1);
    if (state >= 0) bind_text(st, 4, queue_state_name((queue_state_t)state));
    if (read_events(q, st, limit + 1, evs, n, NULL, err)) return -1;
    if (*n > limit) {
        free((*evs)[limit].payload);
        free((*evs)[limit].result);
        *n = limit;
        snprintf(next_id, 37, "%s", (*evs)[limit - 1].id);
    }
    return 0;
}

int queue_sql_list(queue_sql_t *q, const char *function, int state, const char *after_id, size_t limit,
                   queue_event_t **evs, size_t *n, char next_id[37], err_t *err)
{
    *evs = NULL;
    *n = 0;
    next_id[0] = '\0';
    if (!function || !function[0]) return err_set(err, ERR_INVALID, "an event query needs a function");
    if (limit == 0) return err_set(err, ERR_INVALID, "an event query needs a limit");
    pthread_mutex_lock(&q->mu);
    int rc = list_locked(q, function, state, after_id, limit, evs, n, next_id, err);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

static int attempts_locked(queue_sql_t *q, const char *id, queue_attempt_t **atts, size_t *natts, err_t *err)
{
    sqlite3_stmt *st = stmt(q, ST_ATTEMPTS);
    bind_text(st, 1, id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*natts == cap) {
            cap = cap ? cap * 2 : 4;
            *atts = realloc(*atts, cap * sizeof **atts);
            if (!*atts) abort();
        }
        queue_attempt_t *a = &(*atts)[(*natts)++];
        memset(a, 0, sizeof *a);
        a->n = sqlite3_column_int(st, 0);
        a->start_ms = sqlite3_column_int64(st, 1);
        a->duration_ms = sqlite3_column_double(st, 2);
        copy_col(a->error_type, sizeof a->error_type, st, 3);
        copy_col(a->error_message, sizeof a->error_message, st, 4);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return sqldb_error(q->db, WHAT, "read attempts", err);
    return 0;
}

int queue_sql_get(queue_sql_t *q, const char *id, queue_event_t **evs, size_t *n, queue_attempt_t **atts,
                  size_t *natts, err_t *err)
{
    *evs = NULL;
    *atts = NULL;
    *n = *natts = 0;
    pthread_mutex_lock(&q->mu);
    sqlite3_stmt *st = stmt(q, ST_GET);
    bind_text(st, 1, id);
    int rc = read_events(q, st, 1, evs, n, NULL, err);
    if (rc == 0 && *n == 0) rc = err_set(err, ERR_NOT_FOUND, "Event not found: %s", id);
    if (rc == 0) rc = attempts_locked(q, id, atts, natts, err);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int queue_sql_load(queue_sql_t *q, int64_t *after, size_t max, queue_event_t **evs, size_t *n, err_t *err)
{
    *evs = NULL;
    *n = 0;
    pthread_mutex_lock(&q->mu);
    sqlite3_stmt *st = stmt(q, ST_LOAD);
    sqlite3_bind_int64(st, 1, *after);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    int rc = read_events(q, st, max, evs, n, after, err);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int queue_sql_write(queue_sql_t *q, queue_op_t *ops, bool durable, uint64_t *events, err_t *err)
{
    *events = 0;
    pthread_mutex_lock(&q->mu);
    uint64_t t0 = loop_now_ns();
    int rc = write_batch(q, ops, durable, events, err);
    store_write_observe(STORE_WRITE_QUEUE, loop_now_ns() - t0);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

queue_sql_t *queue_sql_open(const char *path, err_t *err)
{
    queue_sql_t *q = calloc(1, sizeof *q);
    if (!q) abort();
    pthread_mutex_init(&q->mu, NULL);
    q->sync_full = 1;
    q->db = sqldb_open(path, WHAT, migrations, SCHEMA_VERSION, err);
    if (!q->db) goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(q->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL) !=
            SQLITE_OK) {
            err_set(err, ERR_INTERNAL, "%s: prepare statement %d: %s", WHAT, i, sqlite3_errmsg(q->db));
            goto fail;
        }
    }
    return q;
fail:
    queue_sql_close(q);
    return NULL;
}

void queue_sql_close(queue_sql_t *q)
{
    if (!q) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(q->st[i]);
    sqlite3_close(q->db);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
