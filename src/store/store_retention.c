/* store_retention.c — log retention on the store's connection (store.h,
 * store_logs_retain): by age, by each function's byte budget, by the
 * budget of all lines together, and the space given back.
 *
 * Lines go a chunk at a time (store_logs.c), oldest first. Deletes go
 * in slices of SLICE chunks, each its own transaction with the store's
 * mutex taken for it alone, so a sweep of millions of lines never holds
 * up a function write or a log batch for long. Sizes come from each
 * chunk's `bytes` and `n`, never from reading the lines. Must never:
 * delete a line newer than one it keeps of the same function, or run on
 * the loop thread.
 */
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "store/sqldb.h"
#include "store/store_internal.h"

#define SLICE 5000

static int64_t file_size(sqlite3 *db)
{
    const char *path = sqlite3_db_filename(db, "main");
    if (!path || !*path) return 0;
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct stat st;
    int64_t n = stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
    if (stat(wal, &st) == 0) n += (int64_t)st.st_size;
    return n;
}

/* One statement that returns one integer (or none: *out = 0). */
static int one_int(store_t *s, const char *sql, const char *fn, int64_t arg, int64_t *out, err_t *err)
{
    sqlite3 *db = store_lock(s);
    sqlite3_stmt *st;
    int ret = 0;
    *out = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        ret = sqldb_error(db, "store", "log retention", err);
    } else {
        int k = 1;
        if (fn) sqlite3_bind_text(st, k++, fn, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, k, arg);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
        else if (rc != SQLITE_DONE) ret = sqldb_error(db, "store", "log retention", err);
        sqlite3_finalize(st);
    }
    store_unlock(s);
    return ret;
}

/* The functions that lost chunks in a sweep: their log_requests rows
 * that point at no chunk go at the end. */
typedef struct {
    char (*name)[65];
    size_t n, cap;
} touched_t;

static void touch(touched_t *t, const char *fn)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->name[i], fn) == 0) return;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        void *p = realloc(t->name, t->cap * sizeof *t->name);
        if (!p) abort();
        t->name = p;
    }
    snprintf(t->name[t->n++], sizeof *t->name, "%s", fn);
}

/* Run a DELETE of at most SLICE chunks again and again until it deletes
 * fewer; *deleted counts their lines. `sql` binds ?1 the function (when
 * `fn`) and the next parameter `arg`, and returns each chunk's function
 * and line count. */
static int delete_sliced(store_t *s, const char *sql, const char *fn, int64_t arg, int64_t *deleted,
                         touched_t *t, err_t *err)
{
    for (;;) {
        sqlite3 *db = store_lock(s);
        sqlite3_stmt *st;
        int ret = 0, changed = 0, rc = SQLITE_DONE;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
            ret = sqldb_error(db, "store", "log retention", err);
        } else {
            int k = 1;
            if (fn) sqlite3_bind_text(st, k++, fn, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, k++, arg);
            sqlite3_bind_int(st, k, SLICE);
            /* Not acknowledged to anyone, as log appends: no fsync. */
            sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                touch(t, (const char *)sqlite3_column_text(st, 0));
                *deleted += sqlite3_column_int64(st, 1);
                changed++;
            }
            if (rc != SQLITE_DONE) ret = sqldb_error(db, "store", "log retention", err);
            sqlite3_finalize(st);
            sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
        }
        store_unlock(s);
        if (ret < 0) return -1;
        if (changed < SLICE) return 0;
    }
}

/* The first id at and below which a set of chunks (one function's, or
 * all) is over `max` bytes, newest kept first: 0 when all of it fits. */
static int boundary(store_t *s, const char *fn, int64_t max, int64_t *id, err_t *err)
{
    /* A running sum from the newest chunk back; the first chunk whose sum
     * passes the budget goes, with everything older. */
    static const char *const SQL_FN =
        "SELECT first_id FROM (SELECT first_id, sum(bytes + " "64" " * n) OVER (ORDER BY first_id DESC) AS run "
        "FROM log_chunks WHERE function = ?1) WHERE run > ?2 ORDER BY first_id DESC LIMIT 1";
    static const char *const SQL_ALL =
        "SELECT first_id FROM (SELECT first_id, sum(bytes + " "64" " * n) OVER (ORDER BY first_id DESC) AS run "
        "FROM log_chunks) WHERE run > ?1 ORDER BY first_id DESC LIMIT 1";
    _Static_assert(STORE_LOG_ROW_COST == 64, "the SQL above spells STORE_LOG_ROW_COST");
    return one_int(s, fn ? SQL_FN : SQL_ALL, fn, max, id, err);
}

/* Drop `fn`'s log_requests rows that point below its oldest chunk left.
 * Such a row's call began (its request id is a UUIDv7: its first 48 bits
 * are the call's start in ms) no later than its lines were written, so no
 * later than the oldest chunk left began: only the ids below that
 * instant's UUIDv7 prefix are looked at, not all of the function's. A
 * request id of another form that is left behind points at nothing and
 * costs a row, never a wrong answer. */
static int drop_orphans(store_t *s, const char *fn, err_t *err)
{
    char bound[16] = "g";   /* above every hex digit and '-': all of them */
    int64_t min_first = INT64_MAX;
    sqlite3 *db = store_lock(s);
    sqlite3_stmt *st;
    int ret = 0;
    if (sqlite3_prepare_v2(db, "SELECT first_id, ts_min FROM log_chunks WHERE function = ?1 ORDER BY first_id "
                           "LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
        ret = sqldb_error(db, "store", "log retention", err);
    } else {
        sqlite3_bind_text(st, 1, fn, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            min_first = sqlite3_column_int64(st, 0);
            uint64_t ms = (uint64_t)sqlite3_column_int64(st, 1) + 1;
            snprintf(bound, sizeof bound, "%08" PRIx64 "-%04" PRIx64, (ms >> 16) & 0xffffffffu, ms & 0xffffu);
        } else if (rc != SQLITE_DONE) {
            ret = sqldb_error(db, "store", "log retention", err);
        }
        sqlite3_finalize(st);
    }
    store_unlock(s);
    while (ret == 0) {
        db = store_lock(s);
        int changed = 0;
        if (sqlite3_prepare_v2(db, "DELETE FROM log_requests WHERE function = ?1 AND (request_id, first_id) IN "
                               "(SELECT request_id, first_id FROM log_requests WHERE function = ?1 "
                               "AND request_id < ?2 AND first_id < ?3 LIMIT ?4)", -1, &st, NULL) != SQLITE_OK) {
            ret = sqldb_error(db, "store", "log retention", err);
        } else {
            sqlite3_bind_text(st, 1, fn, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, bound, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, min_first);
            sqlite3_bind_int(st, 4, SLICE);
            sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
            if (sqlite3_step(st) != SQLITE_DONE) ret = sqldb_error(db, "store", "log retention", err);
            else changed = sqlite3_changes(db);
            sqlite3_finalize(st);
            sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
        }
        store_unlock(s);
        if (changed < SLICE) break;
    }
    return ret;
}

static int retain(store_t *s, const store_log_rule_t *rules, size_t n, int64_t total_max,
                  store_log_retained_t *out, touched_t *t, err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const store_log_rule_t *r = &rules[i];
        if (r->min_ts_ms > 0 &&
            delete_sliced(s, "DELETE FROM log_chunks WHERE function = ?1 AND first_id IN (SELECT first_id FROM "
                             "log_chunks WHERE function = ?1 AND ts_max < ?2 ORDER BY first_id LIMIT ?3) "
                             "RETURNING function, n", r->function, r->min_ts_ms, &out->by_age, t, err) < 0)
            return -1;
        int64_t id = 0;
        if (r->max_bytes > 0 && boundary(s, r->function, r->max_bytes, &id, err) < 0) return -1;
        if (id > 0 &&
            delete_sliced(s, "DELETE FROM log_chunks WHERE function = ?1 AND first_id IN (SELECT first_id FROM "
                             "log_chunks WHERE function = ?1 AND first_id <= ?2 ORDER BY first_id LIMIT ?3) "
                             "RETURNING function, n", r->function, id, &out->by_function_size, t, err) < 0)
            return -1;
    }
    int64_t id = 0;
    if (total_max > 0 && boundary(s, NULL, total_max, &id, err) < 0) return -1;
    if (id > 0 &&
        delete_sliced(s, "DELETE FROM log_chunks WHERE (function, first_id) IN (SELECT function, first_id FROM "
                         "log_chunks WHERE first_id <= ?1 ORDER BY first_id LIMIT ?2) RETURNING function, n",
                      NULL, id, &out->by_total_size, t, err) < 0)
        return -1;
    for (size_t i = 0; i < t->n; i++)
        if (drop_orphans(s, t->name[i], err) < 0) return -1;
    return one_int(s, "SELECT coalesce(sum(bytes + 64 * n), 0) + 0 * ?1 FROM log_chunks", NULL, 0, &out->bytes, err);
}

int store_logs_retain(store_t *s, const store_log_rule_t *rules, size_t n, int64_t total_max,
                      store_log_retained_t *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    sqlite3 *db = store_lock(s);
    out->file_before = file_size(db);
    store_unlock(s);
    touched_t t = {0};
    int ret = retain(s, rules, n, total_max, out, &t, err);
    free(t.name);
    if (ret < 0) return -1;
    db = store_lock(s);
    if (out->by_age + out->by_function_size + out->by_total_size > 0) {
        /* The freed pages leave the file (auto_vacuum=INCREMENTAL, schema
         * 9); in WAL mode the file is cut when the WAL is checkpointed. */
        if (sqldb_exec(db, "PRAGMA incremental_vacuum", "store", "give log space back", err) < 0 ||
            sqldb_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", "store", "checkpoint", err) < 0)
            ret = -1;
    }
    out->file_after = file_size(db);
    store_unlock(s);
    return ret;
}
