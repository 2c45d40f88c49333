/* store_layers.c — Lambda layers in the store (store.h): each layer's
 * highest version ever published, and each live version's document and
 * code key. Tables from the store's migrations (store_sqlite.c).
 *
 * Rare writes and reads: statements are prepared per call, on the
 * connection store_sqlite.c owns, under its mutex. Every statement names
 * the account (schema 10): one account's layer is never another's. Must
 * never: give a version number twice for one layer.
 */
#include "store/store_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqldb.h"

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql, err_t *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqldb_error(db, "store", "prepare layer statement", err);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* One statement in store_bind's shape, the account as ?5 (NULL: a
 * statement without one), no rows wanted. */
static int run1(sqlite3 *db, const char *sql, const char *account, const char *a, int n, const char *doc,
                const char *hex, err_t *err, const char *what)
{
    sqlite3_stmt *st = prepare(db, sql, err);
    if (!st) return -1;
    store_bind(st, a, NULL, n, doc, hex);
    if (account) sqlite3_bind_text(st, 5, account, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqldb_error(db, "store", what, err);
}

int store_layer_publish(store_t *s, const char *account, const char *layer, const char *doc_json,
                        const char *code_hex, int *version, err_t *err)
{
    sqlite3 *db = store_lock(s);
    int ret = run1(db, "BEGIN IMMEDIATE", NULL, NULL, STORE_UNBOUND, NULL, NULL, err, "begin publish layer");
    if (ret == 0)
        ret = run1(db, "INSERT INTO layers(account, name, last_version) VALUES(?5, ?1, 1) "
                       "ON CONFLICT(account, name) DO UPDATE SET last_version = last_version + 1",
                   account, layer, STORE_UNBOUND, NULL, NULL, err, "publish layer");
    sqlite3_stmt *st =
        ret == 0 ? prepare(db, "SELECT last_version FROM layers WHERE account = ?2 AND name = ?1", err) : NULL;
    if (ret == 0 && !st) ret = -1;
    if (st) {
        sqlite3_bind_text(st, 1, layer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) *version = sqlite3_column_int(st, 0);
        else ret = sqldb_error(db, "store", "publish layer", err);
        sqlite3_finalize(st);
    }
    if (ret == 0)
        ret = run1(db, "INSERT INTO layer_versions(account, layer, version, doc, code_hex) VALUES(?5, ?1, ?2, ?3, ?4)",
                   account, layer, *version, doc_json, code_hex, err, "publish layer version");
    if (ret == 0) ret = run1(db, "COMMIT", NULL, NULL, STORE_UNBOUND, NULL, NULL, err, "commit publish layer");
    if (ret != 0 && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    store_unlock(s);
    return ret;
}

/* A layer version's key, as every statement on one numbers it: ?1 the
 * layer, ?2 the version, ?3 the account. */
static void bind_version(sqlite3_stmt *st, const char *account, const char *layer, int version)
{
    sqlite3_bind_text(st, 1, layer, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_text(st, 3, account, -1, SQLITE_STATIC);
}

/* One column of a layer version of `account`'s (the doc, or its policy),
 * copied out; ERR_NOT_FOUND when there is no such version. */
static int layer_version_column(store_t *s, const char *sql, const char *what, const char *account,
                                const char *layer, int version, char **out, err_t *err)
{
    *out = NULL;
    sqlite3 *db = store_lock(s);
    int ret = -1;
    sqlite3_stmt *st = prepare(db, sql, err);
    if (st) {
        bind_version(st, account, layer, version);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) { *out = store_col_dup(st, 0); ret = 0; }
        else if (rc == SQLITE_DONE) err_set(err, ERR_NOT_FOUND, "layer version %s:%d not found", layer, version);
        else sqldb_error(db, "store", what, err);
        sqlite3_finalize(st);
    }
    store_unlock(s);
    return ret;
}

int store_layer_version_get(store_t *s, const char *account, const char *layer, int version, char **doc_json,
                            err_t *err)
{
    return layer_version_column(s, "SELECT doc FROM layer_versions WHERE account = ?3 AND layer = ?1 AND version = ?2",
                                "get layer version", account, layer, version, doc_json, err);
}

int store_layer_version_delete(store_t *s, const char *account, const char *layer, int version, char code_hex[65],
                               err_t *err)
{
    code_hex[0] = '\0';
    sqlite3 *db = store_lock(s);
    int ret = -1;
    sqlite3_stmt *st = prepare(db,
                               "DELETE FROM layer_versions WHERE account = ?3 AND layer = ?1 AND version = ?2 "
                               "RETURNING code_hex",
                               err);
    if (st) {
        bind_version(st, account, layer, version);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(code_hex, 65, "%s", t ? (const char *)t : "");
            rc = sqlite3_step(st);
        }
        if (rc == SQLITE_DONE) ret = 0;
        else sqldb_error(db, "store", "delete layer version", err);
        sqlite3_finalize(st);
    }
    store_unlock(s);
    return ret;
}

int store_layer_version_each(store_t *s, const char *account, const char *layer, store_child_fn fn, void *arg,
                             err_t *err)
{
    store_rows_t rows = { 0 };
    int ret = 0, rc = SQLITE_DONE;
    sqlite3 *db = store_lock(s);
    sqlite3_stmt *st = prepare(db, layer ? "SELECT layer, version, doc FROM layer_versions "
                                           "WHERE account = ?2 AND layer = ?1 ORDER BY layer, version DESC"
                                         : "SELECT layer, version, doc FROM layer_versions "
                                           "WHERE account = ?2 ORDER BY layer, version DESC",
                               err);
    if (!st) ret = -1;
    if (st && layer) sqlite3_bind_text(st, 1, layer, -1, SQLITE_STATIC);
    if (st) sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
    if (st) rc = store_rows_read(st, 3, 0, &rows);
    if (st && rc != SQLITE_DONE) ret = sqldb_error(db, "store", "list layer versions", err);
    sqlite3_finalize(st);
    store_unlock(s);
    /* Rows copied out first: `fn` runs without the mutex. */
    for (size_t i = 0; ret == 0 && i < rows.n; i++)
        fn(store_row(&rows, i, 0), store_row(&rows, i, 1), store_row(&rows, i, 2), arg);
    store_rows_free(&rows);
    return ret;
}

int store_layer_policy_get(store_t *s, const char *account, const char *layer, int version, char **policy,
                           err_t *err)
{
    return layer_version_column(s,
                                "SELECT policy FROM layer_versions WHERE account = ?3 AND layer = ?1 AND version = ?2",
                                "get layer version policy", account, layer, version, policy, err);
}

int store_layer_policy_swap(store_t *s, const char *account, const char *layer, int version, const char *expect,
                            const char *policy, err_t *err)
{
    sqlite3 *db = store_lock(s);
    int ret = -1;
    /* The row's policy as it was (or nothing when the version is gone), so
     * a failed swap says which. */
    sqlite3_stmt *st = prepare(db,
                               "UPDATE layer_versions SET policy = CASE WHEN policy = ?4 THEN ?5 ELSE policy END "
                               "WHERE account = ?3 AND layer = ?1 AND version = ?2 RETURNING policy = ?5",
                               err);
    if (st) {
        bind_version(st, account, layer, version);
        sqlite3_bind_text(st, 4, expect, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, policy, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            bool done = sqlite3_column_int(st, 0) != 0;
            rc = sqlite3_step(st);
            if (rc != SQLITE_DONE) sqldb_error(db, "store", "set layer version policy", err);
            else if (done) ret = 0;
            else err_set(err, ERR_CONFLICT, "the policy of layer version %s:%d changed meanwhile", layer, version);
        } else if (rc == SQLITE_DONE) {
            err_set(err, ERR_NOT_FOUND, "layer version %s:%d not found", layer, version);
        } else {
            sqldb_error(db, "store", "set layer version policy", err);
        }
        sqlite3_finalize(st);
    }
    store_unlock(s);
    return ret;
}

int store_layer_code_each(store_t *s, const char *code_hex, store_child_fn fn, void *arg, err_t *err)
{
    store_rows_t rows = { 0 };
    int ret = 0, rc = SQLITE_DONE;
    sqlite3 *db = store_lock(s);
    sqlite3_stmt *st = prepare(db, "SELECT account, layer, policy FROM layer_versions WHERE code_hex = ?1", err);
    if (!st) ret = -1;
    if (st) sqlite3_bind_text(st, 1, code_hex, -1, SQLITE_STATIC);
    if (st) rc = store_rows_read(st, 3, 0, &rows);
    if (st && rc != SQLITE_DONE) ret = sqldb_error(db, "store", "layer versions of code", err);
    sqlite3_finalize(st);
    store_unlock(s);
    for (size_t i = 0; ret == 0 && i < rows.n; i++)
        fn(store_row(&rows, i, 0), store_row(&rows, i, 1), store_row(&rows, i, 2), arg);
    store_rows_free(&rows);
    return ret;
}
