/* store_sqlite.c — the store (store.h) on SQLite in WAL mode.
 *
 * Owns the database file: its schema, its migrations and every statement
 * run against it. One connection, guarded by one mutex, because calls come
 * from several worker threads and SQLite serialises writers anyway.
 * Must never: be called from the loop thread (it blocks on fsync), call
 * back into user code while holding the mutex, or leave a transaction open
 * when a call returns.
 */
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "base/util.h"
#include "io/loop.h"
#include "store/sqldb.h"
#include "store/store_internal.h"


/* Migrations, in order (see sqldb.h). */
static const char *const migrations[] = {
    /* 1: functions and logs */
    "CREATE TABLE functions ("
    "  name TEXT PRIMARY KEY,"
    "  config TEXT NOT NULL,"
    "  code_hex TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE INDEX functions_code ON functions(code_hex);"
    "CREATE TABLE logs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  function TEXT NOT NULL,"
    "  request_id TEXT NOT NULL,"
    "  ts_ms INTEGER NOT NULL,"
    "  line TEXT NOT NULL);"
    "CREATE INDEX logs_function_id ON logs(function, id);"
    "CREATE INDEX logs_function_request ON logs(function, request_id);",
    /* 2: published versions and aliases */
    "CREATE TABLE versions ("
    "  function TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  config TEXT NOT NULL,"
    "  code_hex TEXT NOT NULL,"
    "  PRIMARY KEY(function, version));"
    "CREATE INDEX versions_code ON versions(code_hex);"
    "CREATE TABLE aliases ("
    "  function TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  PRIMARY KEY(function, name));",
    /* 3: asynchronous invocation settings, per function and qualifier */
    "CREATE TABLE event_configs ("
    "  function TEXT NOT NULL,"
    "  qualifier TEXT NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  PRIMARY KEY(function, qualifier));",
    /* 4: function URLs, per function and qualifier ($LATEST or an alias) */
    "CREATE TABLE function_urls ("
    "  function TEXT NOT NULL,"
    "  qualifier TEXT NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  PRIMARY KEY(function, qualifier));",
    /* 5: timer triggers, and the last slot each fired for */
    "CREATE TABLE triggers ("
    "  function TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  last_slot_ms INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(function, name));",
    /* 6: tags (one document per function) and resource policies (per
     * function and qualifier) */
    "CREATE TABLE function_tags ("
    "  function TEXT PRIMARY KEY,"
    "  doc TEXT NOT NULL);"
    "CREATE TABLE policies ("
    "  function TEXT NOT NULL,"
    "  qualifier TEXT NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  PRIMARY KEY(function, qualifier));",
    /* 7: Lambda layers: each name's highest version ever published (never
     * reused), and each live version with the code tree it references */
    "CREATE TABLE layers ("
    "  name TEXT PRIMARY KEY,"
    "  last_version INTEGER NOT NULL);"
    "CREATE TABLE layer_versions ("
    "  layer TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  code_hex TEXT NOT NULL,"
    "  PRIMARY KEY(layer, version));"
    "CREATE INDEX layer_versions_code ON layer_versions(code_hex);",
    /* 8: each log line's size in bytes, so retention by size sums a column
     * instead of reading every line */
    "ALTER TABLE logs ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;"
    "UPDATE logs SET bytes = length(CAST(line AS BLOB));",
    /* 9: pages freed by deleted log lines go back to the file system
     * (store_logs_retain runs incremental_vacuum); changing auto_vacuum
     * on a file with tables takes one VACUUM */
    SQLDB_NO_TRANSACTION "PRAGMA auto_vacuum = INCREMENTAL; VACUUM;",
    /* 10: a layer belongs to the account that published it, and one name
     * may be two accounts' layers: the account joins both keys ('' is the
     * daemon's own --account-id, as a function's owner is, so the rows of
     * before are its); each version's permissions policy ('' none) */
    "CREATE TABLE layers_new ("
    "  account TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  last_version INTEGER NOT NULL,"
    "  PRIMARY KEY(account, name));"
    "INSERT INTO layers_new(account, name, last_version) SELECT '', name, last_version FROM layers;"
    "DROP TABLE layers;"
    "ALTER TABLE layers_new RENAME TO layers;"
    "CREATE TABLE layer_versions_new ("
    "  account TEXT NOT NULL,"
    "  layer TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  code_hex TEXT NOT NULL,"
    "  policy TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY(account, layer, version));"
    "INSERT INTO layer_versions_new(account, layer, version, doc, code_hex) "
    "  SELECT '', layer, version, doc, code_hex FROM layer_versions;"
    "DROP TABLE layer_versions;"
    "ALTER TABLE layer_versions_new RENAME TO layer_versions;"
    "CREATE INDEX layer_versions_code ON layer_versions(code_hex);",
    /* 11: log lines in chunks (store_logs.c): a row holds up to
     * STORE_LOG_CHUNK_LINES lines of one function, and a call is found by
     * one small row per chunk it printed in, not by an index entry per
     * line. Line ids keep counting from where the old table's did; each
     * old row becomes a chunk of one line. */
    "CREATE TABLE log_chunks ("
    "  function TEXT NOT NULL,"
    "  first_id INTEGER NOT NULL,"
    "  last_id INTEGER NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  ts_min INTEGER NOT NULL,"
    "  ts_max INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  lines BLOB NOT NULL,"
    "  PRIMARY KEY(function, first_id)) WITHOUT ROWID;"
    "CREATE INDEX log_chunks_id ON log_chunks(first_id);"
    "CREATE TABLE log_requests ("
    "  function TEXT NOT NULL,"
    "  request_id TEXT NOT NULL,"
    "  first_id INTEGER NOT NULL,"
    "  PRIMARY KEY(function, request_id, first_id)) WITHOUT ROWID;"
    "CREATE TABLE log_seq (one INTEGER PRIMARY KEY CHECK(one = 0), next INTEGER NOT NULL);"
    "INSERT INTO log_seq SELECT 0, max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'logs'), 0),"
    "  coalesce((SELECT max(id) FROM logs), 0)) + 1;"
    "INSERT INTO log_chunks SELECT function, id, id, 1, ts_ms, ts_ms, length(CAST(line AS BLOB)),"
    "  CAST(printf('0,0,%d,%d:', length(CAST(request_id AS BLOB)), length(CAST(line AS BLOB)))"
    "  || request_id || line AS BLOB) FROM logs;"
    "INSERT INTO log_requests SELECT function, request_id, id FROM logs WHERE request_id <> '';"
    "DROP TABLE logs;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof *migrations))

enum {
    ST_FN_INSERT,
    ST_FN_UPDATE,
    ST_FN_DELETE,
    ST_FN_EACH,
    ST_CODE_REF,
    ST_VER_INSERT,
    ST_VER_UPDATE,
    ST_VER_DELETE,
    ST_VER_EACH,
    ST_VER_DELETE_ALL,
    ST_ALIAS_PUT,
    ST_ALIAS_DELETE,
    ST_ALIAS_EACH,
    ST_ALIAS_DELETE_ALL,
    ST_EVCFG_PUT,
    ST_EVCFG_DELETE,
    ST_EVCFG_EACH,
    ST_EVCFG_DELETE_ALL,
    ST_URL_PUT,
    ST_URL_DELETE,
    ST_URL_EACH,
    ST_URL_DELETE_ALL,
    ST_TRIG_PUT,
    ST_TRIG_DELETE,
    ST_TRIG_EACH,
    ST_TRIG_MARK,
    ST_TRIG_DELETE_ALL,
    ST_TAGS_PUT,
    ST_TAGS_EACH,
    ST_TAGS_DELETE_ALL,
    ST_POLICY_PUT,
    ST_POLICY_GET,
    ST_POLICY_DELETE,
    ST_POLICY_DELETE_ALL,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_COUNT
};


static const char *const statements[ST_COUNT] = {
    [ST_FN_INSERT] = "INSERT INTO functions(name, config, code_hex, updated_ms) "
                     "VALUES(?1, ?2, ?3, ?4)",
    [ST_FN_UPDATE] = "UPDATE functions SET config = ?2, code_hex = ?3, "
                     "updated_ms = ?4 WHERE name = ?1",
    [ST_FN_DELETE] = "DELETE FROM functions WHERE name = ?1",
    [ST_FN_EACH] = "SELECT name, config FROM functions ORDER BY name",
    /* A tree is in use while a function, a version or a layer version
     * runs it, or a stored configuration names it (the merged tree of a
     * function's layers, at /opt). */
    [ST_CODE_REF] = "SELECT 1 FROM functions WHERE code_hex = ?1 "
                    "UNION ALL SELECT 1 FROM versions WHERE code_hex = ?1 "
                    "UNION ALL SELECT 1 FROM layer_versions WHERE code_hex = ?1 "
                    "UNION ALL SELECT 1 FROM functions WHERE instr(config, ?1) > 0 "
                    "UNION ALL SELECT 1 FROM versions WHERE instr(config, ?1) > 0 LIMIT 1",
    [ST_VER_INSERT] = "INSERT INTO versions(function, version, config, code_hex) VALUES(?1, ?2, ?3, ?4)",
    [ST_VER_UPDATE] = "UPDATE versions SET config = ?3 WHERE function = ?1 AND version = ?2",
    [ST_VER_DELETE] = "DELETE FROM versions WHERE function = ?1 AND version = ?2",
    [ST_VER_EACH] = "SELECT function, version, config FROM versions ORDER BY function, version",
    [ST_VER_DELETE_ALL] = "DELETE FROM versions WHERE function = ?1",
    [ST_ALIAS_PUT] = "INSERT OR REPLACE INTO aliases(function, name, doc) VALUES(?1, ?2, ?3)",
    [ST_ALIAS_DELETE] = "DELETE FROM aliases WHERE function = ?1 AND name = ?2",
    [ST_ALIAS_EACH] = "SELECT function, name, doc FROM aliases ORDER BY function, name",
    [ST_ALIAS_DELETE_ALL] = "DELETE FROM aliases WHERE function = ?1",
    [ST_EVCFG_PUT] = "INSERT OR REPLACE INTO event_configs(function, qualifier, doc) VALUES(?1, ?2, ?3)",
    [ST_EVCFG_DELETE] = "DELETE FROM event_configs WHERE function = ?1 AND qualifier = ?2",
    [ST_EVCFG_EACH] = "SELECT function, qualifier, doc FROM event_configs ORDER BY function, qualifier",
    [ST_EVCFG_DELETE_ALL] = "DELETE FROM event_configs WHERE function = ?1",
    [ST_URL_PUT] = "INSERT OR REPLACE INTO function_urls(function, qualifier, doc) VALUES(?1, ?2, ?3)",
    [ST_URL_DELETE] = "DELETE FROM function_urls WHERE function = ?1 AND qualifier = ?2",
    [ST_URL_EACH] = "SELECT function, qualifier, doc FROM function_urls ORDER BY function, qualifier",
    [ST_URL_DELETE_ALL] = "DELETE FROM function_urls WHERE function = ?1",
    /* A put keeps the slot already fired: only mark_slots moves it. */
    [ST_TRIG_PUT] = "INSERT INTO triggers(function, name, doc) VALUES(?1, ?2, ?3) "
                    "ON CONFLICT(function, name) DO UPDATE SET doc = excluded.doc",
    [ST_TRIG_DELETE] = "DELETE FROM triggers WHERE function = ?1 AND name = ?2",
    [ST_TRIG_EACH] = "SELECT function, name, doc, last_slot_ms FROM triggers ORDER BY function, name",
    [ST_TRIG_MARK] = "UPDATE triggers SET last_slot_ms = ?3 WHERE function = ?1 AND name = ?2 "
                     "AND last_slot_ms < ?3",
    [ST_TRIG_DELETE_ALL] = "DELETE FROM triggers WHERE function = ?1",
    /* ?2 is the (unused) key of child_write's binding. */
    [ST_TAGS_PUT] = "INSERT OR REPLACE INTO function_tags(function, doc) VALUES(?1, ?3)",
    [ST_TAGS_EACH] = "SELECT function, '', doc FROM function_tags ORDER BY function",
    [ST_TAGS_DELETE_ALL] = "DELETE FROM function_tags WHERE function = ?1",
    [ST_POLICY_PUT] = "INSERT OR REPLACE INTO policies(function, qualifier, doc) VALUES(?1, ?2, ?3)",
    [ST_POLICY_GET] = "SELECT doc FROM policies WHERE function = ?1 AND qualifier = ?2",
    [ST_POLICY_DELETE] = "DELETE FROM policies WHERE function = ?1 AND qualifier = ?2",
    [ST_POLICY_DELETE_ALL] = "DELETE FROM policies WHERE function = ?1",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

struct store {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *st[ST_COUNT];
    store_logs_state_t logs;
};

store_logs_state_t *store_logs_state(store_t *s) { return &s->logs; }

int store_schema_version(void)
{
    return SCHEMA_VERSION;
}

static int db_error(store_t *s, err_t *err, const char *what)
{
    return sqldb_error(s->db, "store", what, err);
}

/* Takes a kept statement, ready for new bindings. */
static sqlite3_stmt *stmt(store_t *s, int which)
{
    sqlite3_stmt *st = s->st[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* Runs a statement that returns no rows; resets it so it holds no lock. */
static int step_done(store_t *s, sqlite3_stmt *st, err_t *err, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_error(s, err, what);
    return 0;
}

store_t *store_open(const char *path, err_t *err)
{
    store_t *s = calloc(1, sizeof *s);
    if (!s) abort();
    pthread_mutex_init(&s->mu, NULL);
    s->db = sqldb_open(path, "store", migrations, SCHEMA_VERSION, err);
    if (!s->db) goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            err_set(err, ERR_INTERNAL, "store: prepare statement %d: %s", i,
                    sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(store_t *s)
{
    if (!s) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
    for (int i = 0; i < STORE_LOG_STMTS; i++) sqlite3_finalize(s->logs.st[i]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int not_found(err_t *err, const char *name)
{
    return err_set(err, ERR_NOT_FOUND, "Function not found: arn:aws:lambda:%s:%s:function:%s",
            NIMBUS_REGION, NIMBUS_ACCOUNT, name);
}

int store_function_insert(store_t *s, const char *name, const char *config_json,
                          const char *code_hex, err_t *err)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_FN_INSERT);
    store_bind(st, name, config_json, STORE_UNBOUND, code_hex, NULL);
    sqlite3_bind_int64(st, 4, now_ms());
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    int ret = 0;
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        ret = err_set(err, ERR_CONFLICT, "Function already exist: %s", name);
    else if (rc != SQLITE_DONE)
        ret = db_error(s, err, "insert function");
    pthread_mutex_unlock(&s->mu);
    return ret;
}

int store_function_update(store_t *s, const char *name, const char *config_json,
                          const char *code_hex, err_t *err)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_FN_UPDATE);
    store_bind(st, name, config_json, STORE_UNBOUND, code_hex, NULL);
    sqlite3_bind_int64(st, 4, now_ms());
    int ret = step_done(s, st, err, "update function");
    if (ret == 0 && sqlite3_changes(s->db) == 0) ret = not_found(err, name);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

int store_function_delete(store_t *s, const char *name, err_t *err)
{
    /* The function, its versions, aliases, settings and triggers go
     * together. */
    pthread_mutex_lock(&s->mu);
    int ret = step_done(s, stmt(s, ST_BEGIN), err, "begin delete");
    sqlite3_stmt *st = stmt(s, ST_FN_DELETE);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (ret == 0) ret = step_done(s, st, err, "delete function");
    if (ret == 0 && sqlite3_changes(s->db) == 0) ret = not_found(err, name);
    static const int children[] = { ST_VER_DELETE_ALL, ST_ALIAS_DELETE_ALL, ST_EVCFG_DELETE_ALL,
                                    ST_URL_DELETE_ALL, ST_TRIG_DELETE_ALL, ST_TAGS_DELETE_ALL,
                                    ST_POLICY_DELETE_ALL };
    for (size_t k = 0; ret == 0 && k < sizeof children / sizeof *children; k++) {
        st = stmt(s, children[k]);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        ret = step_done(s, st, err, "delete versions, aliases, settings, URLs and triggers");
    }
    if (ret == 0) ret = step_done(s, stmt(s, ST_COMMIT), err, "commit delete");
    if (ret != 0 && !sqlite3_get_autocommit(s->db)) step_done(s, stmt(s, ST_ROLLBACK), NULL, "rollback");
    pthread_mutex_unlock(&s->mu);
    return ret;
}

/* One statement with (text function, int-or-text key, text doc[, text hex]). */
static int child_write(store_t *s, int which, const char *function, int version, const char *key,
                       const char *doc, const char *hex, err_t *err, const char *what)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, which);
    store_bind(st, function, key, version, doc, hex);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    int ret = 0;
    if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT)
        ret = err_set(err, ERR_CONFLICT, "%s %s:%s already exists", what, function, key ? key : "");
    else if (rc != SQLITE_DONE)
        ret = db_error(s, err, what);
    else if (sqlite3_changes(s->db) == 0)
        ret = err_set(err, ERR_NOT_FOUND, "%s not found", what);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

int store_version_insert(store_t *s, const char *function, int version, const char *config_json,
                         const char *code_hex, err_t *err)
{
    return child_write(s, ST_VER_INSERT, function, version, NULL, config_json, code_hex, err, "version");
}

int store_version_update(store_t *s, const char *function, int version, const char *config_json, err_t *err)
{
    return child_write(s, ST_VER_UPDATE, function, version, NULL, config_json, NULL, err, "version");
}

/* A version or an alias goes with its asynchronous settings, its
 * function URL and its resource policy, in one transaction. */
static int child_delete(store_t *s, int which, const char *function, int version, const char *key, err_t *err,
                        const char *what)
{
    char num[16];
    if (!key) {
        snprintf(num, sizeof num, "%d", version);
    }
    pthread_mutex_lock(&s->mu);
    int ret = step_done(s, stmt(s, ST_BEGIN), err, "begin delete");
    sqlite3_stmt *st = stmt(s, which);
    store_bind(st, function, key, version, NULL, NULL);
    if (ret == 0) ret = step_done(s, st, err, what);
    if (ret == 0 && sqlite3_changes(s->db) == 0) ret = err_set(err, ERR_NOT_FOUND, "%s not found", what);
    static const struct {
        int which;
        const char *what;
    } settings[] = { { ST_EVCFG_DELETE, "delete asynchronous settings" },
                     { ST_URL_DELETE, "delete function URL" },
                     { ST_POLICY_DELETE, "delete resource policy" } };
    for (size_t k = 0; ret == 0 && k < sizeof settings / sizeof *settings; k++) {
        st = stmt(s, settings[k].which);
        store_bind(st, function, key ? key : num, STORE_UNBOUND, NULL, NULL);
        ret = step_done(s, st, err, settings[k].what);
    }
    if (ret == 0) ret = step_done(s, stmt(s, ST_COMMIT), err, "commit delete");
    if (ret != 0 && !sqlite3_get_autocommit(s->db)) step_done(s, stmt(s, ST_ROLLBACK), NULL, "rollback");
    pthread_mutex_unlock(&s->mu);
    return ret;
}

int store_version_delete(store_t *s, const char *function, int version, err_t *err)
{
    return child_delete(s, ST_VER_DELETE, function, version, NULL, err, "version");
}

int store_alias_put(store_t *s, const char *function, const char *alias, const char *doc_json, err_t *err)
{
    return child_write(s, ST_ALIAS_PUT, function, 0, alias, doc_json, NULL, err, "alias");
}

int store_alias_delete(store_t *s, const char *function, const char *alias, err_t *err)
{
    return child_delete(s, ST_ALIAS_DELETE, function, 0, alias, err, "alias");
}

int store_event_config_put(store_t *s, const char *function, const char *qualifier, const char *doc_json,
                           err_t *err)
{
    return child_write(s, ST_EVCFG_PUT, function, 0, qualifier, doc_json, NULL, err, "event invoke config");
}

int store_event_config_delete(store_t *s, const char *function, const char *qualifier, err_t *err)
{
    return child_write(s, ST_EVCFG_DELETE, function, 0, qualifier, NULL, NULL, err, "event invoke config");
}

int store_url_put(store_t *s, const char *function, const char *qualifier, const char *doc_json, err_t *err)
{
    return child_write(s, ST_URL_PUT, function, 0, qualifier, doc_json, NULL, err, "function URL");
}

int store_url_delete(store_t *s, const char *function, const char *qualifier, err_t *err)
{
    return child_write(s, ST_URL_DELETE, function, 0, qualifier, NULL, NULL, err, "function URL");
}

/* One kept statement on (?1 function) alone, under the mutex. */
static int run_for_function(store_t *s, int which, const char *function, err_t *err, const char *what)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, which);
    store_bind(st, function, NULL, STORE_UNBOUND, NULL, NULL);
    int ret = step_done(s, st, err, what);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

int store_tags_put(store_t *s, const char *function, const char *doc_json, err_t *err)
{
    if (doc_json) return child_write(s, ST_TAGS_PUT, function, 0, "", doc_json, NULL, err, "tags");
    return run_for_function(s, ST_TAGS_DELETE_ALL, function, err, "delete tags");
}

int store_policy_put(store_t *s, const char *function, const char *qualifier, const char *doc_json, err_t *err)
{
    return child_write(s, ST_POLICY_PUT, function, 0, qualifier, doc_json, NULL, err, "resource policy");
}

int store_policy_delete(store_t *s, const char *function, const char *qualifier, err_t *err)
{
    return child_write(s, ST_POLICY_DELETE, function, 0, qualifier, NULL, NULL, err, "resource policy");
}

int store_policy_get(store_t *s, const char *function, const char *qualifier, char **doc_json, err_t *err)
{
    *doc_json = NULL;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_POLICY_GET);
    sqlite3_bind_text(st, 1, function, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, qualifier, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) *doc_json = store_col_dup(st, 0);
    else if (rc != SQLITE_DONE) ret = db_error(s, err, "read resource policy");
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

/* Copies a kept statement's rows out (store_rows_read), so callbacks run
 * without the mutex: they may well call back into the store. */
static int rows_of(store_t *s, int which, int cols, int with_num, store_rows_t *rows, err_t *err,
                   const char *what)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, which);
    int rc = store_rows_read(st, cols, with_num, rows);
    sqlite3_reset(st);
    int ret = rc == SQLITE_DONE ? 0 : db_error(s, err, what);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

static int child_each(store_t *s, int which, store_child_fn fn, void *arg, err_t *err)
{
    store_rows_t rows;
    int ret = rows_of(s, which, 3, 0, &rows, err, "list versions, aliases or settings");
    for (size_t i = 0; ret == 0 && i < rows.n; i++)
        fn(store_row(&rows, i, 0), store_row(&rows, i, 1), store_row(&rows, i, 2), arg);
    store_rows_free(&rows);
    return ret;
}

int store_version_each(store_t *s, store_child_fn fn, void *arg, err_t *err)
{
    return child_each(s, ST_VER_EACH, fn, arg, err);
}

int store_alias_each(store_t *s, store_child_fn fn, void *arg, err_t *err)
{
    return child_each(s, ST_ALIAS_EACH, fn, arg, err);
}

int store_event_config_each(store_t *s, store_child_fn fn, void *arg, err_t *err)
{
    return child_each(s, ST_EVCFG_EACH, fn, arg, err);
}

int store_url_each(store_t *s, store_child_fn fn, void *arg, err_t *err)
{
    return child_each(s, ST_URL_EACH, fn, arg, err);
}

int store_tags_each(store_t *s, store_child_fn fn, void *arg, err_t *err)
{
    return child_each(s, ST_TAGS_EACH, fn, arg, err);
}

int store_function_each(store_t *s, store_function_fn fn, void *arg, err_t *err)
{
    store_rows_t rows;
    int ret = rows_of(s, ST_FN_EACH, 2, 0, &rows, err, "list functions");
    for (size_t i = 0; ret == 0 && i < rows.n; i++) fn(store_row(&rows, i, 0), store_row(&rows, i, 1), arg);
    store_rows_free(&rows);
    return ret;
}

int store_code_referenced(store_t *s, const char *code_hex, err_t *err)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_CODE_REF);
    sqlite3_bind_text(st, 1, code_hex, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_error(s, err, "code lookup");
    pthread_mutex_unlock(&s->mu);
    return ret;
}

/* ---- timer triggers ---- */

int store_trigger_put(store_t *s, const char *function, const char *name, const char *doc_json, err_t *err)
{
    return child_write(s, ST_TRIG_PUT, function, 0, name, doc_json, NULL, err, "trigger");
}

int store_trigger_delete(store_t *s, const char *function, const char *name, err_t *err)
{
    return child_write(s, ST_TRIG_DELETE, function, 0, name, NULL, NULL, err, "trigger");
}

int store_trigger_each(store_t *s, store_trigger_fn fn, void *arg, err_t *err)
{
    store_rows_t rows;
    int ret = rows_of(s, ST_TRIG_EACH, 3, 1, &rows, err, "list triggers");
    for (size_t i = 0; ret == 0 && i < rows.n; i++)
        fn(store_row(&rows, i, 0), store_row(&rows, i, 1), store_row(&rows, i, 2), rows.num[i], arg);
    store_rows_free(&rows);
    return ret;
}

int store_trigger_mark_slots(store_t *s, const store_trigger_slot_t *v, size_t n, err_t *err)
{
    if (n == 0) return 0;
    pthread_mutex_lock(&s->mu);
    /* A mark lost to a power cut only makes the next start offer that slot
     * again, and the async queue's idempotency key makes it the same event:
     * no fsync needed here (as for log lines). */
    sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    int ret = step_done(s, stmt(s, ST_BEGIN), err, "begin trigger marks");
    for (size_t i = 0; ret == 0 && i < n; i++) {
        sqlite3_stmt *st = stmt(s, ST_TRIG_MARK);
        sqlite3_bind_text(st, 1, v[i].function, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, v[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, v[i].slot_ms);
        ret = step_done(s, st, err, "mark trigger slot");
    }
    if (ret == 0) ret = step_done(s, stmt(s, ST_COMMIT), err, "commit trigger marks");
    if (ret != 0 && !sqlite3_get_autocommit(s->db)) step_done(s, stmt(s, ST_ROLLBACK), NULL, "rollback");
    sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->mu);
    return ret;
}
/* ---- the connection, for the store's other files (store_internal.h) ---- */

sqlite3 *store_lock(store_t *s)
{
    pthread_mutex_lock(&s->mu);
    return s->db;
}

void store_unlock(store_t *s) { pthread_mutex_unlock(&s->mu); }
