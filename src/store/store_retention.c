/* store_retention.c — log retention on the store's connection (store.h,
 * store_logs_retain): by age, by each function's byte budget, by the
 * budget of all lines together, and the space given back.
 *
 * Deletes go in slices of SLICE rows, each its own transaction with the
 * store's mutex taken for it alone, so a sweep of millions of lines never
 * holds up a function write or a log batch for long. Sizes come from the
 * `bytes` column (schema 8), never from reading the lines. Must never:
 * delete a line newer than one it keeps of the same function, or run on
 * the loop thread.
 */
#include "store/store.h"

#include <stdio.h>
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

/* Run a DELETE of at most SLICE rows again and again until it deletes
 * fewer; *deleted counts them. `sql` binds ?1 the function (when `fn`) and
 * the next parameter `arg`. */
static int delete_sliced(store_t *s, const char *sql, const char *fn, int64_t arg, int64_t *deleted,
                         err_t *err)
{
    for (;;) {
        sqlite3 *db = store_lock(s);
        sqlite3_stmt *st;
        int ret = 0, changed = 0;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
            ret = sqldb_error(db, "store", "log retention", err);
        } else {
            int k = 1;
            if (fn) sqlite3_bind_text(st, k++, fn, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, k++, arg);
            sqlite3_bind_int(st, k, SLICE);
            /* Not acknowledged to anyone, as log appends: no fsync. */
            sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
            if (sqlite3_step(st) != SQLITE_DONE) ret = sqldb_error(db, "store", "log retention", err);
            else changed = sqlite3_changes(db);
            sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
            sqlite3_finalize(st);
        }
        store_unlock(s);
        if (ret < 0) return -1;
        *deleted += changed;
        if (changed < SLICE) return 0;
    }
}

/* The id at and below which a set of lines (one function's, or all) is
 * over `max` bytes, newest kept first: 0 when all of it fits. */
static int boundary(store_t *s, const char *fn, int64_t max, int64_t *id, err_t *err)
{
    /* A running sum from the newest line back; the first line whose sum
     * passes the budget goes, with everything older. */
    static const char *const SQL_FN =
        "SELECT id FROM (SELECT id, sum(bytes + " "64" ") OVER (ORDER BY id DESC) AS run FROM logs "
        "WHERE function = ?1) WHERE run > ?2 ORDER BY id DESC LIMIT 1";
    static const char *const SQL_ALL =
        "SELECT id FROM (SELECT id, sum(bytes + " "64" ") OVER (ORDER BY id DESC) AS run FROM logs) "
        "WHERE run > ?1 ORDER BY id DESC LIMIT 1";
    _Static_assert(STORE_LOG_ROW_COST == 64, "the SQL above spells STORE_LOG_ROW_COST");
    return one_int(s, fn ? SQL_FN : SQL_ALL, fn, max, id, err);
}

int store_logs_retain(store_t *s, const store_log_rule_t *rules, size_t n, int64_t total_max,
                      store_log_retained_t *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    sqlite3 *db = store_lock(s);
    out->file_before = file_size(db);
    store_unlock(s);
    for (size_t i = 0; i < n; i++) {
        const store_log_rule_t *r = &rules[i];
        if (r->min_ts_ms > 0 &&
            delete_sliced(s, "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE function = ?1 "
                             "AND ts_ms < ?2 ORDER BY id LIMIT ?3)", r->function, r->min_ts_ms, &out->by_age, err) < 0)
            return -1;
        int64_t id = 0;
        if (r->max_bytes > 0 && boundary(s, r->function, r->max_bytes, &id, err) < 0) return -1;
        if (id > 0 &&
            delete_sliced(s, "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE function = ?1 "
                             "AND id <= ?2 ORDER BY id LIMIT ?3)", r->function, id, &out->by_function_size, err) < 0)
            return -1;
    }
    int64_t id = 0;
    if (total_max > 0 && boundary(s, NULL, total_max, &id, err) < 0) return -1;
    if (id > 0 &&
        delete_sliced(s, "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE id <= ?1 ORDER BY id LIMIT ?2)",
                      NULL, id, &out->by_total_size, err) < 0)
        return -1;
    if (one_int(s, "SELECT coalesce(sum(bytes + 64), 0) + 0 * ?1 FROM logs", NULL, 0, &out->bytes, err) < 0)
        return -1;
    db = store_lock(s);
    int ret = 0;
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
