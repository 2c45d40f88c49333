/* sqldb.c — opening and migrating the store floor's SQLite files
 * (sqldb.h). Owns nothing once a call returns: the handle is the caller's.
 * Must never: leave a migration half applied (each step is one
 * transaction), or open a file written by a newer build.
 */
#include "store/sqldb.h"

#include <stdio.h>
#include <string.h>

int sqldb_error(sqlite3 *db, const char *what, const char *doing, err_t *err)
{
    int rc = err_set(err, ERR_SYS, "%s: %s: %s", what, doing, sqlite3_errmsg(db));
    if (err) err->sys_errno = sqlite3_system_errno(db);
    return rc;
}

int sqldb_exec(sqlite3 *db, const char *sql, const char *what, const char *doing, err_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(err, ERR_SYS, "%s: %s: %s", what, doing, msg ? msg : sqlite3_errmsg(db));
        if (err) err->sys_errno = sqlite3_system_errno(db);
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int user_version(sqlite3 *db, const char *what, int *out, err_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return sqldb_error(db, what, "read schema version", err);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return sqldb_error(db, what, "read schema version", err);
    return 0;
}

/* One transaction per step, so a crash mid-way leaves a consistent, older
 * version that the next open resumes. */
static int migrate(sqlite3 *db, const char *path, const char *what, const char *const *migrations, int n,
                   err_t *err)
{
    int v = 0;
    if (user_version(db, what, &v, err)) return -1;
    if (v > n)
        return err_set(err, ERR_INTERNAL,
                       "%s %s has schema version %d, newer than this build's %d; upgrade nimbus", what,
                       path, v, n);
    for (; v < n; v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", v + 1);
        if (strncmp(migrations[v], SQLDB_NO_TRANSACTION, strlen(SQLDB_NO_TRANSACTION)) == 0) {
            if (sqldb_exec(db, migrations[v], what, "migrate schema", err) ||
                sqldb_exec(db, bump, what, "set schema version", err))
                return err_wrap(err, "migration to version %d", v + 1);
            continue;
        }
        if (sqldb_exec(db, "BEGIN IMMEDIATE", what, "begin migration", err)) return -1;
        if (sqldb_exec(db, migrations[v], what, "migrate schema", err) ||
            sqldb_exec(db, bump, what, "set schema version", err) ||
            sqldb_exec(db, "COMMIT", what, "commit migration", err)) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return err_wrap(err, "migration to version %d", v + 1);
        }
    }
    return 0;
}

sqlite3 *sqldb_open(const char *path, const char *what, const char *const *migrations, int nmigrations,
                    err_t *err)
{
    sqlite3 *db = NULL;
    /* NOMUTEX: each owner serialises its handle with a mutex of its own. */
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        err_set(err, ERR_SYS, "%s: open %s: %s", what, path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    /* SQLite falls back to read-only when it cannot open for writing; a
     * store that cannot take writes must fail here, at start-up. */
    if (sqlite3_db_readonly(db, "main") == 1) {
        err_set(err, ERR_SYS, "%s: open %s: the file is read-only", what, path);
        sqlite3_close(db);
        return NULL;
    }
    /* synchronous=FULL: a write acknowledged to a client must survive power
     * loss; NORMAL in WAL mode may lose the last commits. */
    if (sqldb_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", what, "set pragmas", err) ||
        migrate(db, path, what, migrations, nmigrations, err)) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}
