/* test_store.c — store (SQLite): schema version, functions, logs, reopen,
 * concurrent appends. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "store/store.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/nimbus-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/nimbus.db", dir);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static store_t *open_ok(void)
{
    err_t err = {0};
    store_t *s = store_open(path, &err);
    cr_assert_not_null(s, "open: %s", err.msg);
    return s;
}

static int pragma_int(const char *sql)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, schema_version_written_and_wal)
{
    store_t *s = open_ok();
    cr_assert_geq(store_schema_version(), 1);
    store_close(s);
    cr_assert_eq(pragma_int("PRAGMA user_version"), store_schema_version());

    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* Opening again does not re-run migrations (they would fail on
     * existing tables). */
    s = open_ok();
    store_close(s);
}

Test(store, newer_schema_refused)
{
    store_t *s = open_ok();
    store_close(s);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", store_schema_version() + 1);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    err_t err = {0};
    cr_assert_null(store_open(path, &err));
    cr_assert(strstr(err.msg, "newer"), "%s", err.msg);
}

Test(store, open_bad_path_fails)
{
    err_t err = {0};
    cr_assert_null(store_open("/nonexistent-dir/x/y.db", &err));
    cr_assert_neq(err.code, ERR_NONE);
}

typedef struct {
    int n;
    char names[8][16];
    char configs[8][64];
} collect_t;

static void collect(const char *name, const char *config, void *arg)
{
    collect_t *c = arg;
    cr_assert_lt(c->n, 8);
    snprintf(c->names[c->n], sizeof c->names[0], "%s", name);
    snprintf(c->configs[c->n], sizeof c->configs[0], "%s", config);
    c->n++;
}

Test(store, functions_crud)
{
    store_t *s = open_ok();
    err_t err = {0};
    cr_assert_eq(store_function_insert(s, "beta", "{\"b\":1}", "hexb", &err), 0, "%s", err.msg);
    cr_assert_eq(store_function_insert(s, "alpha", "{\"a\":1}", "hexa", &err), 0);
    cr_assert_eq(store_function_insert(s, "alpha", "{\"a\":2}", "hexa", &err), -1);
    cr_assert_eq(err.code, ERR_CONFLICT);

    cr_assert_eq(store_function_update(s, "alpha", "{\"a\":3}", "hexc", &err), 0);
    cr_assert_eq(store_function_update(s, "nope", "{}", "x", &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    cr_assert(strstr(err.msg, "function:nope"), "%s", err.msg);

    collect_t c = {0};
    cr_assert_eq(store_function_each(s, collect, &c, &err), 0);
    cr_assert_eq(c.n, 2);
    cr_assert_str_eq(c.names[0], "alpha");
    cr_assert_str_eq(c.configs[0], "{\"a\":3}");
    cr_assert_str_eq(c.names[1], "beta");

    cr_assert_eq(store_code_referenced(s, "hexc", &err), 1);
    cr_assert_eq(store_code_referenced(s, "hexa", &err), 0);
    cr_assert_eq(store_code_referenced(s, "hexb", &err), 1);

    cr_assert_eq(store_function_delete(s, "beta", &err), 0);
    cr_assert_eq(store_function_delete(s, "beta", &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    cr_assert_eq(store_code_referenced(s, "hexb", &err), 0);

    c.n = 0;
    cr_assert_eq(store_function_each(s, collect, &c, &err), 0);
    cr_assert_eq(c.n, 1);
    /* Insert after delete works again. */
    cr_assert_eq(store_function_insert(s, "beta", "{}", "hexb", &err), 0);
    store_close(s);
}

static void reenter(const char *name, const char *config, void *arg)
{
    /* The callback may use the store: each must not hold its lock. */
    err_t err = {0};
    cr_assert_eq(store_code_referenced(arg, "zzz", &err), 0);
    (void)name;
    (void)config;
}

Test(store, each_callback_may_reenter)
{
    store_t *s = open_ok();
    err_t err = {0};
    cr_assert_eq(store_function_insert(s, "f", "{}", "h", &err), 0);
    cr_assert_eq(store_function_each(s, reenter, s, &err), 0);
    store_close(s);
}

static void add_log(store_t *s, const char *fn, const char *req, int64_t ts, const char *line)
{
    store_log_t r = {0};
    snprintf(r.function, sizeof r.function, "%s", fn);
    snprintf(r.request_id, sizeof r.request_id, "%s", req);
    r.ts_ms = ts;
    r.line = (char *)line;
    err_t err = {0};
    cr_assert_eq(store_logs_append(s, &r, 1, &err), 0, "%s", err.msg);
    cr_assert_gt(r.id, 0);
}

Test(store, logs_append_and_query)
{
    store_t *s = open_ok();
    err_t err = {0};
    store_log_t recs[3] = {
        {.function = "f", .request_id = "r1", .ts_ms = 1000, .line = "START r1"},
        {.function = "f", .request_id = "r1", .ts_ms = 1001, .line = "hello \"world\" é"},
        {.function = "f", .request_id = "", .ts_ms = 1002, .line = ""},
    };
    cr_assert_eq(store_logs_append(s, recs, 3, &err), 0, "%s", err.msg);
    cr_assert_lt(recs[0].id, recs[1].id);
    cr_assert_lt(recs[1].id, recs[2].id);
    add_log(s, "g", "r9", 1500, "other function");
    add_log(s, "f", "r2", 2000, "second call");
    add_log(s, "f", "r2", 3000, "second call end");
    cr_assert_eq(store_logs_append(s, NULL, 0, &err), 0);

    store_log_t *out;
    size_t n;
    store_log_query_t q = {.function = "f"};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(out[0].line, "START r1");
    cr_assert_str_eq(out[1].line, "hello \"world\" é");
    cr_assert_str_eq(out[2].request_id, "");
    cr_assert_str_eq(out[2].line, "");
    cr_assert_str_eq(out[3].function, "f");
    cr_assert_eq(out[3].ts_ms, 2000);
    for (size_t i = 1; i < n; i++) cr_assert_lt(out[i - 1].id, out[i].id);
    int64_t third = out[2].id;
    store_logs_free(out, n);

    q = (store_log_query_t){.function = "f", .request_id = "r1"};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(out[1].request_id, "r1");
    store_logs_free(out, n);

    q = (store_log_query_t){.function = "f", .since_ms = 1002};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, 3);
    store_logs_free(out, n);

    q = (store_log_query_t){.function = "f", .since_ms = 1001, .until_ms = 2000};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(out[2].ts_ms, 2000);
    store_logs_free(out, n);

    q = (store_log_query_t){.function = "f", .after_id = third};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(out[0].line, "second call");
    store_logs_free(out, n);

    q = (store_log_query_t){.function = "f", .limit = 2};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(out[0].line, "START r1");
    store_logs_free(out, n);

    q = (store_log_query_t){.function = "none"};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, 0);
    store_logs_free(out, n);

    cr_assert_eq(store_logs_delete_function(s, "f", &err), 0);
    q = (store_log_query_t){.function = "f"};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, 0);
    store_logs_free(out, n);
    q = (store_log_query_t){.function = "g"};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, 1);
    store_logs_free(out, n);
    store_close(s);
}

Test(store, default_limit_is_1000)
{
    store_t *s = open_ok();
    err_t err = {0};
    static store_log_t recs[1200];
    for (int i = 0; i < 1200; i++) {
        snprintf(recs[i].function, sizeof recs[i].function, "f");
        recs[i].ts_ms = i;
        recs[i].line = "x";
    }
    cr_assert_eq(store_logs_append(s, recs, 1200, &err), 0);
    store_log_t *out;
    size_t n;
    store_log_query_t q = {.function = "f"};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, 1000);
    store_logs_free(out, n);
    store_close(s);
}

/* A batch is written many lines to a statement and the rest one by one:
 * every line is stored as given, with the id the store gave it written
 * back, in order, whatever part of the batch it was in. */
Test(store, logs_batch_ids_and_bytes_per_line)
{
    store_t *s = open_ok();
    err_t err = {0};
    enum { N = 16 * 3 + 5 };
    static store_log_t recs[N];
    static char lines[N][32];
    add_log(s, "f", "before", 1, "a line before the batch");
    for (int i = 0; i < N; i++) {
        snprintf(recs[i].function, sizeof recs[i].function, "%s", i % 2 ? "f" : "g");
        snprintf(recs[i].request_id, sizeof recs[i].request_id, "r%d", i);
        recs[i].ts_ms = 100 + i;
        snprintf(lines[i], sizeof lines[i], "line %d %.*s", i, i % 7, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
        recs[i].line = lines[i];
    }
    cr_assert_eq(store_logs_append(s, recs, N, &err), 0, "%s", err.msg);
    for (int i = 1; i < N; i++) cr_assert_eq(recs[i].id, recs[i - 1].id + 1, "line %d", i);
    for (int fi = 0; fi < 2; fi++) {
        store_log_t *out;
        size_t n;
        store_log_query_t q = {.function = fi ? "f" : "g", .limit = 1000};
        cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0, "%s", err.msg);
        size_t k = fi ? 1 : 0;   /* f's first line came before the batch */
        cr_assert_eq(n, k + (size_t)(fi ? N / 2 : N - N / 2));
        for (int i = fi; i < N; i += 2, k++) {
            cr_assert_eq(out[k].id, recs[i].id, "line %d", i);
            cr_assert_str_eq(out[k].line, lines[i]);
            cr_assert_str_eq(out[k].request_id, recs[i].request_id);
            cr_assert_eq(out[k].ts_ms, 100 + i);
        }
        store_logs_free(out, n);
    }
    /* Each chunk's byte count is its lines' bytes, and n their number
     * (the budgets use both): summed, every line of the batch and the one
     * before it. */
    store_close(s);
    int64_t bytes = (int64_t)strlen("a line before the batch");
    for (int i = 0; i < N; i++) bytes += (int64_t)strlen(lines[i]);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT sum(bytes), sum(n), count(*) FROM log_chunks", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int64(st, 0), bytes);
    cr_assert_eq(sqlite3_column_int(st, 1), N + 1);
    /* f's line before, then f's and g's lines of the batch: three chunks,
     * not a row a line. */
    cr_assert_eq(sqlite3_column_int(st, 2), 3);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

Test(store, reopen_keeps_data)
{
    store_t *s = open_ok();
    err_t err = {0};
    cr_assert_eq(store_function_insert(s, "keep", "{\"k\":true}", "abc", &err), 0);
    add_log(s, "keep", "r", 5, "persisted line");
    store_close(s);

    s = open_ok();
    collect_t c = {0};
    cr_assert_eq(store_function_each(s, collect, &c, &err), 0);
    cr_assert_eq(c.n, 1);
    cr_assert_str_eq(c.names[0], "keep");
    cr_assert_str_eq(c.configs[0], "{\"k\":true}");
    store_log_t *out;
    size_t n;
    store_log_query_t q = {.function = "keep"};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out[0].line, "persisted line");
    int64_t id = out[0].id;
    store_logs_free(out, n);
    /* Ids keep increasing across a reopen. */
    store_log_t r = {.function = "keep", .ts_ms = 6, .line = "later"};
    cr_assert_eq(store_logs_append(s, &r, 1, &err), 0);
    cr_assert_gt(r.id, id);
    store_close(s);
}

#define THREADS 4
#define BATCHES 50
#define PER_BATCH 10

typedef struct {
    store_t *s;
    int t;
} worker_arg_t;

static void *appender(void *p)
{
    worker_arg_t *a = p;
    for (int b = 0; b < BATCHES; b++) {
        store_log_t recs[PER_BATCH];
        char lines[PER_BATCH][32];
        memset(recs, 0, sizeof recs);
        for (int i = 0; i < PER_BATCH; i++) {
            snprintf(recs[i].function, sizeof recs[i].function, "f");
            snprintf(recs[i].request_id, sizeof recs[i].request_id, "t%d", a->t);
            snprintf(lines[i], sizeof lines[i], "t%d b%d i%d", a->t, b, i);
            recs[i].line = lines[i];
            recs[i].ts_ms = b;
        }
        err_t err = {0};
        if (store_logs_append(a->s, recs, PER_BATCH, &err) != 0) return (void *)1;
        for (int i = 1; i < PER_BATCH; i++)
            if (recs[i].id != recs[i - 1].id + 1) return (void *)2; /* one transaction */
    }
    return NULL;
}

Test(store, concurrent_appends)
{
    store_t *s = open_ok();
    pthread_t th[THREADS];
    worker_arg_t args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg_t){s, i};
        pthread_create(&th[i], NULL, appender, &args[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        cr_assert_null(rv, "thread %d failed: %p", i, rv);
    }
    err_t err = {0};
    store_log_t *out;
    size_t n;
    store_log_query_t q = {.function = "f", .limit = 100000};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, THREADS * BATCHES * PER_BATCH);
    store_logs_free(out, n);
    q = (store_log_query_t){.function = "f", .request_id = "t2", .limit = 100000};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0);
    cr_assert_eq(n, BATCHES * PER_BATCH);
    store_logs_free(out, n);
    store_close(s);
}

typedef struct {
    size_t n;
    char keys[8][80];
} child_collect_t;

static void collect_child(const char *function, const char *key, const char *doc, void *arg)
{
    child_collect_t *c = arg;
    (void)doc;
    if (c->n < 8) snprintf(c->keys[c->n++], sizeof c->keys[0], "%s/%s", function, key);
}

Test(store, function_urls_go_with_their_alias_and_function)
{
    store_t *s = open_ok();
    err_t err = {0};
    cr_assert_eq(store_function_insert(s, "f", "{}", "h", &err), 0);
    cr_assert_eq(store_alias_put(s, "f", "live", "{}", &err), 0);
    cr_assert_eq(store_url_put(s, "f", "$LATEST", "{\"UrlId\":\"a\"}", &err), 0, "%s", err.msg);
    cr_assert_eq(store_url_put(s, "f", "live", "{\"UrlId\":\"b\"}", &err), 0);
    cr_assert_eq(store_url_put(s, "f", "live", "{\"UrlId\":\"c\"}", &err), 0, "put replaces");
    child_collect_t c = {0};
    cr_assert_eq(store_url_each(s, collect_child, &c, &err), 0);
    cr_assert_eq(c.n, 2);
    cr_assert_str_eq(c.keys[0], "f/$LATEST");
    cr_assert_str_eq(c.keys[1], "f/live");
    /* The alias takes its URL with it. */
    cr_assert_eq(store_alias_delete(s, "f", "live", &err), 0);
    c.n = 0;
    cr_assert_eq(store_url_each(s, collect_child, &c, &err), 0);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(store_url_delete(s, "f", "live", &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    /* And the function all of them. */
    cr_assert_eq(store_function_delete(s, "f", &err), 0);
    c.n = 0;
    cr_assert_eq(store_url_each(s, collect_child, &c, &err), 0);
    cr_assert_eq(c.n, 0);
    store_close(s);
}

Test(store, tags_replace_and_go_with_their_function)
{
    store_t *s = open_ok();
    err_t err = {0};
    cr_assert_eq(store_function_insert(s, "f", "{}", "h", &err), 0);
    cr_assert_eq(store_function_insert(s, "g", "{}", "h", &err), 0);
    cr_assert_eq(store_tags_put(s, "f", "{\"a\":\"1\"}", &err), 0, "%s", err.msg);
    cr_assert_eq(store_tags_put(s, "f", "{\"b\":\"2\"}", &err), 0, "put replaces");
    cr_assert_eq(store_tags_put(s, "g", "{\"c\":\"3\"}", &err), 0);
    child_collect_t c = {0};
    cr_assert_eq(store_tags_each(s, collect_child, &c, &err), 0);
    cr_assert_eq(c.n, 2);
    cr_assert_str_eq(c.keys[0], "f/");
    cr_assert_str_eq(c.keys[1], "g/");
    /* NULL removes the row (untagging the last key); removing none is no error. */
    cr_assert_eq(store_tags_put(s, "g", NULL, &err), 0);
    cr_assert_eq(store_tags_put(s, "g", NULL, &err), 0);
    cr_assert_eq(store_function_delete(s, "f", &err), 0);
    c.n = 0;
    cr_assert_eq(store_tags_each(s, collect_child, &c, &err), 0);
    cr_assert_eq(c.n, 0, "the function's delete took its tags");
    store_close(s);
}

Test(store, policies_per_qualifier_go_with_their_version_alias_and_function)
{
    store_t *s = open_ok();
    err_t err = {0};
    char *doc = NULL;
    cr_assert_eq(store_function_insert(s, "f", "{}", "h", &err), 0);
    cr_assert_eq(store_version_insert(s, "f", 1, "{}", "h", &err), 0);
    cr_assert_eq(store_alias_put(s, "f", "live", "{}", &err), 0);
    cr_assert_eq(store_policy_get(s, "f", "$LATEST", &doc, &err), 0);
    cr_assert_null(doc, "no policy yet");
    cr_assert_eq(store_policy_put(s, "f", "$LATEST", "{\"n\":0}", &err), 0, "%s", err.msg);
    cr_assert_eq(store_policy_put(s, "f", "$LATEST", "{\"n\":1}", &err), 0, "put replaces");
    cr_assert_eq(store_policy_put(s, "f", "1", "{\"n\":2}", &err), 0);
    cr_assert_eq(store_policy_put(s, "f", "live", "{\"n\":3}", &err), 0);
    cr_assert_eq(store_policy_get(s, "f", "$LATEST", &doc, &err), 0);
    cr_assert_str_eq(doc, "{\"n\":1}");
    free(doc);
    /* A version and an alias take their policies with them. */
    cr_assert_eq(store_version_delete(s, "f", 1, &err), 0);
    cr_assert_eq(store_alias_delete(s, "f", "live", &err), 0);
    cr_assert_eq(store_policy_get(s, "f", "1", &doc, &err), 0);
    cr_assert_null(doc);
    cr_assert_eq(store_policy_get(s, "f", "live", &doc, &err), 0);
    cr_assert_null(doc);
    cr_assert_eq(store_policy_delete(s, "f", "live", &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    /* And the function all of them. */
    cr_assert_eq(store_function_delete(s, "f", &err), 0);
    cr_assert_eq(store_policy_get(s, "f", "$LATEST", &doc, &err), 0);
    cr_assert_null(doc);
    store_close(s);
}

static void collect_version(const char *layer, const char *key, const char *doc, void *arg)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s%s:%s=%s", n ? " " : "", layer, key, doc);
}

Test(store, layer_versions_numbered_never_reused_and_their_code_referenced)
{
    store_t *s = open_ok();
    err_t err = {0};
    int v = 0;
    const char *hex1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *hex2 = "2222222222222222222222222222222222222222222222222222222222222222";
    const char *opt = "3333333333333333333333333333333333333333333333333333333333333333";
    cr_assert_eq(store_layer_publish(s, "", "lib", "{\"n\":1}", hex1, &v, &err), 0, "%s", err.msg);
    cr_assert_eq(v, 1);
    cr_assert_eq(store_layer_publish(s, "", "lib", "{\"n\":2}", hex2, &v, &err), 0, "%s", err.msg);
    cr_assert_eq(v, 2);
    cr_assert_eq(store_layer_publish(s, "", "other", "{}", hex2, &v, &err), 0, "%s", err.msg);
    cr_assert_eq(v, 1);
    char *doc = NULL;
    cr_assert_eq(store_layer_version_get(s, "", "lib", 1, &doc, &err), 0, "%s", err.msg);
    cr_assert_str_eq(doc, "{\"n\":1}");
    free(doc);
    cr_assert_eq(store_layer_version_get(s, "", "lib", 3, &doc, &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    char all[256] = "";
    cr_assert_eq(store_layer_version_each(s, "", NULL, collect_version, all, &err), 0, "%s", err.msg);
    cr_assert_str_eq(all, "lib:2={\"n\":2} lib:1={\"n\":1} other:1={}");
    cr_assert_eq(store_code_referenced(s, hex1, &err), 1);

    char gone[65];
    cr_assert_eq(store_layer_version_delete(s, "", "lib", 1, gone, &err), 0, "%s", err.msg);
    cr_assert_str_eq(gone, hex1);
    cr_assert_eq(store_code_referenced(s, hex1, &err), 0);
    cr_assert_eq(store_layer_version_delete(s, "", "lib", 1, gone, &err), 0, "%s", err.msg);
    cr_assert_str_eq(gone, "");
    cr_assert_eq(store_layer_version_delete(s, "", "lib", 2, gone, &err), 0, "%s", err.msg);
    /* Every version gone: the next is still 3, after a reopen too. */
    store_close(s);
    s = open_ok();
    cr_assert_eq(store_layer_publish(s, "", "lib", "{}", hex1, &v, &err), 0, "%s", err.msg);
    cr_assert_eq(v, 3);
    /* A tree a stored configuration names (a function's merged layers) is in use. */
    cr_assert_eq(store_code_referenced(s, opt, &err), 0);
    char cfg[200];
    snprintf(cfg, sizeof cfg, "{\"name\":\"f\",\"opt_hex\":\"%s\"}", opt);
    cr_assert_eq(store_function_insert(s, "f", cfg, hex2, &err), 0, "%s", err.msg);
    cr_assert_eq(store_code_referenced(s, opt, &err), 1);
    store_close(s);
}

Test(store, layer_names_are_per_account)
{
    store_t *s = open_ok();
    err_t err = {0};
    int v = 0;
    const char *hex1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *hex2 = "2222222222222222222222222222222222222222222222222222222222222222";
    cr_assert_eq(store_layer_publish(s, "", "lib", "{\"a\":1}", hex1, &v, &err), 0, "%s", err.msg);
    cr_assert_eq(store_layer_publish(s, "", "lib", "{\"a\":2}", hex1, &v, &err), 0, "%s", err.msg);
    cr_assert_eq(v, 2);
    /* The same name in another account: its own layer, numbered from 1. */
    cr_assert_eq(store_layer_publish(s, "222222222222", "lib", "{\"b\":1}", hex2, &v, &err), 0, "%s", err.msg);
    cr_assert_eq(v, 1);
    char *doc = NULL;
    cr_assert_eq(store_layer_version_get(s, "222222222222", "lib", 1, &doc, &err), 0, "%s", err.msg);
    cr_assert_str_eq(doc, "{\"b\":1}");
    free(doc);
    cr_assert_eq(store_layer_version_get(s, "222222222222", "lib", 2, &doc, &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    cr_assert_eq(store_layer_version_get(s, "333333333333", "lib", 1, &doc, &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    char all[256] = "";
    cr_assert_eq(store_layer_version_each(s, "222222222222", NULL, collect_version, all, &err), 0, "%s", err.msg);
    cr_assert_str_eq(all, "lib:1={\"b\":1}");
    all[0] = '\0';
    cr_assert_eq(store_layer_version_each(s, "", "lib", collect_version, all, &err), 0, "%s", err.msg);
    cr_assert_str_eq(all, "lib:2={\"a\":2} lib:1={\"a\":1}");
    /* A delete in one account leaves the other's version alone. */
    char gone[65];
    cr_assert_eq(store_layer_version_delete(s, "222222222222", "lib", 2, gone, &err), 0, "%s", err.msg);
    cr_assert_str_eq(gone, "");
    cr_assert_eq(store_layer_version_delete(s, "222222222222", "lib", 1, gone, &err), 0, "%s", err.msg);
    cr_assert_str_eq(gone, hex2);
    cr_assert_eq(store_layer_version_get(s, "", "lib", 1, &doc, &err), 0, "%s", err.msg);
    free(doc);
    store_close(s);
}

static void collect_code(const char *account, const char *layer, const char *policy, void *arg)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s[%s]%s=%s", n ? " " : "", account, layer, policy);
}

Test(store, layer_version_policy_swapped_only_from_what_was_read)
{
    store_t *s = open_ok();
    err_t err = {0};
    int v = 0;
    const char *hex = "5555555555555555555555555555555555555555555555555555555555555555";
    cr_assert_eq(store_layer_publish(s, "222222222222", "lib", "{}", hex, &v, &err), 0, "%s", err.msg);
    cr_assert_eq(store_layer_publish(s, "", "lib", "{}", hex, &v, &err), 0, "%s", err.msg);
    char *pol = NULL;
    cr_assert_eq(store_layer_policy_get(s, "222222222222", "lib", 1, &pol, &err), 0, "%s", err.msg);
    cr_assert_str_eq(pol, "");
    free(pol);
    cr_assert_eq(store_layer_policy_swap(s, "222222222222", "lib", 1, "", "{\"p\":1}", &err), 0, "%s", err.msg);
    /* A writer that read the old policy loses: it must read again. */
    cr_assert_eq(store_layer_policy_swap(s, "222222222222", "lib", 1, "", "{\"p\":2}", &err), -1);
    cr_assert_eq(err.code, ERR_CONFLICT);
    cr_assert_eq(store_layer_policy_get(s, "222222222222", "lib", 1, &pol, &err), 0, "%s", err.msg);
    cr_assert_str_eq(pol, "{\"p\":1}");
    free(pol);
    cr_assert_eq(store_layer_policy_swap(s, "222222222222", "lib", 9, "", "{}", &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    cr_assert_eq(store_layer_policy_get(s, "333333333333", "lib", 1, &pol, &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    char all[256] = "";
    cr_assert_eq(store_layer_code_each(s, hex, collect_code, all, &err), 0, "%s", err.msg);
    cr_assert(strstr(all, "[222222222222]lib={\"p\":1}") && strstr(all, "[]lib="), "%s", all);
    /* The policy goes with its version. */
    char gone[65];
    cr_assert_eq(store_layer_version_delete(s, "222222222222", "lib", 1, gone, &err), 0, "%s", err.msg);
    cr_assert_eq(store_layer_policy_get(s, "222222222222", "lib", 1, &pol, &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    store_close(s);
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg ? msg : "");
}

/* Close `s`, run `sql` on the file as another program would, open it again. */
static store_t *edit_and_reopen(store_t *s, const char *sql)
{
    store_close(s);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    exec_ok(db, sql);
    sqlite3_close(db);
    return open_ok();
}

/* A store of schema 9 (layers without accounts) opened by this one: its
 * layers become the daemon's own account's (""), numbering kept. */
/* The log table of schemas 1 to 10, one row a line, in place of the
 * chunks of schema 11: for a file made as an older build left it. */
#define OLD_LOGS_TABLE                                                                                 \
    "DROP TABLE log_chunks; DROP TABLE log_requests; DROP TABLE log_seq;"                              \
    "CREATE TABLE logs (id INTEGER PRIMARY KEY AUTOINCREMENT, function TEXT NOT NULL,"                 \
    "  request_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, line TEXT NOT NULL, bytes INTEGER NOT NULL DEFAULT 0);" \
    "CREATE INDEX logs_function_id ON logs(function, id);"                                             \
    "CREATE INDEX logs_function_request ON logs(function, request_id);"

Test(store, layers_of_before_accounts_are_the_daemons)
{
    store_t *s = open_ok();
    store_close(s);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    exec_ok(db, "DROP TABLE layers; DROP TABLE layer_versions;"
                "CREATE TABLE layers (name TEXT PRIMARY KEY, last_version INTEGER NOT NULL);"
                "CREATE TABLE layer_versions (layer TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL,"
                "  code_hex TEXT NOT NULL, PRIMARY KEY(layer, version));"
                "CREATE INDEX layer_versions_code ON layer_versions(code_hex);"
                OLD_LOGS_TABLE
                "INSERT INTO layers VALUES('old', 4);"
                "INSERT INTO layer_versions VALUES('old', 4, '{\"o\":4}', "
                "'4444444444444444444444444444444444444444444444444444444444444444');"
                "PRAGMA user_version = 9;");
    sqlite3_close(db);
    cr_assert_geq(store_schema_version(), 10);
    s = open_ok();
    err_t err = {0};
    char *doc = NULL;
    cr_assert_eq(store_layer_version_get(s, "", "old", 4, &doc, &err), 0, "%s", err.msg);
    cr_assert_str_eq(doc, "{\"o\":4}");
    free(doc);
    cr_assert_eq(store_code_referenced(s, "4444444444444444444444444444444444444444444444444444444444444444", &err), 1);
    int v = 0;
    cr_assert_eq(store_layer_publish(s, "", "old", "{}", "4444444444444444444444444444444444444444444444444444444444444444",
                                     &v, &err), 0, "%s", err.msg);
    cr_assert_eq(v, 5);
    store_close(s);
    cr_assert_eq(pragma_int("PRAGMA user_version"), store_schema_version());
}

/* A file of schema 10 keeps its log lines when it becomes schema 11: each
 * old row a one-line chunk with its id, time and call; queries by call
 * find them; new lines take ids above the old table's counter, even above
 * lines deleted from its end. */
Test(store, old_log_rows_become_chunks)
{
    store_t *s = edit_and_reopen(open_ok(), OLD_LOGS_TABLE
        "INSERT INTO logs(function, request_id, ts_ms, line, bytes) VALUES"
        "  ('f', 'r1', 1000, 'START r1', 8), ('f', 'r1', 1001, 'tab\there \xc3\xa9', 11),"
        "  ('g', '', 1002, '', 0), ('f', 'r2', 1003, 'other call', 10), ('f', 'r3', 1004, 'gone', 4);"
        "DELETE FROM logs WHERE id = 5;"
        "PRAGMA user_version = 10;");
    err_t err = {0};
    store_log_t *out;
    size_t n;
    store_log_query_t q = {.function = "f"};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_assert_eq(out[0].id, 1);
    cr_assert_str_eq(out[0].line, "START r1");
    cr_assert_str_eq(out[0].request_id, "r1");
    cr_assert_eq(out[0].ts_ms, 1000);
    cr_assert_str_eq(out[1].line, "tab\there \xc3\xa9");
    cr_assert_eq(out[2].id, 4);
    store_logs_free(out, n);
    q = (store_log_query_t){.function = "f", .request_id = "r1"};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[1].id, 2);
    store_logs_free(out, n);
    q = (store_log_query_t){.function = "g"};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out[0].line, "");
    cr_assert_str_eq(out[0].request_id, "");
    store_logs_free(out, n);
    store_log_t r = {.function = "f", .request_id = "r9", .ts_ms = 2000, .line = "new"};
    cr_assert_eq(store_logs_append(s, &r, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(r.id, 6);
    store_close(s);
}

static int count_rows(const char *sql)
{
    return pragma_int(sql);
}

/* Lines of two functions interleaved, calls of several lines each: every
 * line comes back once, in order, from any cursor; a call is found whole
 * across the chunks it printed in; a chunk holds at most 64 lines, and a
 * line bigger than a chunk's bytes is a chunk of its own. */
Test(store, logs_chunks_split_and_cursors)
{
    store_t *s = open_ok();
    err_t err = {0};
    enum { N = 400 };
    static store_log_t recs[N];
    static char lines[N][40];
    char *big = malloc(40000);
    memset(big, 'x', 39999);
    big[39999] = '\0';
    for (int i = 0; i < N; i++) {
        snprintf(recs[i].function, sizeof recs[i].function, "%s", i % 4 == 3 ? "g" : "f");
        snprintf(recs[i].request_id, sizeof recs[i].request_id, "call-%d", (i / 12) % 5);
        recs[i].ts_ms = 5000 + i / 10;
        snprintf(lines[i], sizeof lines[i], "line %d", i);
        recs[i].line = i == 200 ? big : lines[i];
    }
    cr_assert_eq(store_logs_append(s, recs, N, &err), 0, "%s", err.msg);
    store_log_t *out;
    size_t n;
    store_log_query_t q = {.function = "f", .limit = 10000};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 300);
    for (size_t k = 0, i = 0; i < N; i++) {
        if (i % 4 == 3) continue;
        cr_assert_eq(out[k].id, recs[i].id);
        cr_assert_str_eq(out[k].line, recs[i].line);
        cr_assert_eq(out[k].ts_ms, recs[i].ts_ms);
        cr_assert_str_eq(out[k].request_id, recs[i].request_id);
        k++;
    }
    store_logs_free(out, n);
    for (int i = 0; i < N; i += 37) {
        q = (store_log_query_t){.function = "f", .after_id = recs[i].id, .limit = 5};
        cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0, "%s", err.msg);
        cr_assert_eq(n, 5);
        int j = i + 1;
        while (j % 4 == 3) j++;
        cr_assert_eq(out[0].id, recs[j].id, "after line %d", i);
        for (size_t k = 1; k < n; k++) cr_assert_gt(out[k].id, out[k - 1].id);
        store_logs_free(out, n);
    }
    q = (store_log_query_t){.function = "g", .request_id = "call-2", .limit = 10000};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0, "%s", err.msg);
    size_t want = 0;
    for (int i = 0; i < N; i++) want += i % 4 == 3 && strcmp(recs[i].request_id, "call-2") == 0;
    cr_assert_eq(n, want);
    for (size_t k = 0; k < n; k++) cr_assert_str_eq(out[k].request_id, "call-2");
    store_logs_free(out, n);
    q = (store_log_query_t){.function = "f", .since_ms = 5010, .until_ms = 5019, .limit = 10000};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 75);
    store_logs_free(out, n);
    store_close(s);
    cr_assert_eq(count_rows("SELECT max(n) FROM log_chunks"), 64);
    cr_assert_eq(count_rows("SELECT n FROM log_chunks WHERE bytes = 39999"), 1);
    cr_assert_eq(count_rows("SELECT count(*) FROM log_chunks WHERE last_id - first_id >= 4096"), 0);
    free(big);
}

/* A chunk whose blob does not parse is an error with a message, never a
 * read past its end. */
Test(store, logs_corrupt_chunk_is_an_error)
{
    store_t *s = open_ok();
    add_log(s, "f", "r1", 1, "fine");
    s = edit_and_reopen(s, "UPDATE log_chunks SET lines = CAST('0,0,2,99:r1short' AS BLOB)");
    err_t err = {0};
    store_log_t *out;
    size_t n;
    store_log_query_t q = {.function = "f"};
    cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), -1);
    cr_assert_eq(n, 0);
    cr_assert(strstr(err.msg, "does not parse"), "%s", err.msg);
    store_close(s);
}

/* The rows that find a call are written in groups (of 64, of 8, then one
 * by one): in a batch of 203 calls of two functions, two at a time and
 * some across a chunk's end, each call is found whole, and has one row per
 * chunk it printed in, none twice. */
Test(store, logs_many_calls_in_one_batch_each_found)
{
    store_t *s = open_ok();
    err_t err = {0};
    enum { CALLS = 203, N = CALLS * 3 };
    static store_log_t recs[N];
    static char lines[N][48];
    static char rid[CALLS][37];
    uint64_t t0 = 1764000000000ULL;
    for (int c = 0; c < CALLS; c++) util_uuid7(rid[c], t0 + (uint64_t)c);
    /* Calls c and c+1 interleave: START c, START c+1, body c, body c+1, END c, END c+1. */
    int i = 0;
    for (int c = 0; c < CALLS; c += 2) {
        int m = c + 1 < CALLS ? 2 : 1;
        for (int k = 0; k < 3; k++)
            for (int d = 0; d < m; d++, i++) {
                int cc = c + d;
                snprintf(recs[i].function, sizeof recs[i].function, "%s", cc % 3 ? "f" : "g");
                snprintf(recs[i].request_id, sizeof recs[i].request_id, "%s", rid[cc]);
                recs[i].ts_ms = (int64_t)t0 + cc;
                snprintf(lines[i], sizeof lines[i], "%s %d", k == 0 ? "START" : k == 1 ? "body" : "END", cc);
                recs[i].line = lines[i];
            }
    }
    cr_assert_eq(i, N);
    cr_assert_eq(store_logs_append(s, recs, N, &err), 0, "%s", err.msg);
    for (int c = 0; c < CALLS; c++) {
        store_log_t *out;
        size_t n;
        store_log_query_t q = {.function = c % 3 ? "f" : "g", .request_id = rid[c]};
        cr_assert_eq(store_logs_query(s, &q, &out, &n, &err), 0, "%s", err.msg);
        cr_assert_eq(n, 3u, "call %d", c);
        char want[48];
        for (int k = 0; k < 3; k++) {
            snprintf(want, sizeof want, "%s %d", k == 0 ? "START" : k == 1 ? "body" : "END", c);
            cr_assert_str_eq(out[k].line, want, "call %d", c);
            cr_assert_str_eq(out[k].request_id, rid[c]);
        }
        cr_assert(out[0].id < out[1].id && out[1].id < out[2].id);
        store_logs_free(out, n);
    }
    store_close(s);
    /* Rows: for each call, the chunks its three lines are in, each once. */
    int calls_rows = count_rows("SELECT count(*) FROM log_requests");
    int pairs = count_rows("SELECT count(*) FROM (SELECT DISTINCT r.request_id, c.first_id FROM log_requests r "
                           "JOIN log_chunks c ON c.function = r.function AND c.first_id = r.first_id)");
    cr_assert_eq(calls_rows, pairs);
    cr_assert_gt(calls_rows, CALLS, "some calls are in two chunks");
    cr_assert_lt(calls_rows, 2 * CALLS);
}

/* Retention deletes whole chunks, oldest first, and with them the rows
 * that found their calls; what it keeps is still found by call. */
Test(store, logs_retention_drops_chunks_and_their_calls)
{
    store_t *s = open_ok();
    err_t err = {0};
    char rid[10][37];
    uint64_t t0 = 1764000000000ULL;
    for (int c = 0; c < 10; c++) {
        util_uuid7(rid[c], t0 + (uint64_t)c * 1000);
        store_log_t r[3];
        for (int k = 0; k < 3; k++) {
            r[k] = (store_log_t){.ts_ms = (int64_t)(t0 + (uint64_t)c * 1000) + k, .line = "a line of twenty b"};
            snprintf(r[k].function, sizeof r[k].function, "f");
            snprintf(r[k].request_id, sizeof r[k].request_id, "%s", rid[c]);
        }
        cr_assert_eq(store_logs_append(s, r, 3, &err), 0, "%s", err.msg);   /* a chunk a call */
    }
    /* By age: the first three calls are older than the cut. */
    store_log_rule_t rule = {.function = "f", .min_ts_ms = (int64_t)(t0 + 2500)};
    store_log_retained_t out;
    cr_assert_eq(store_logs_retain(s, &rule, 1, 0, &out, &err), 0, "%s", err.msg);
    cr_assert_eq(out.by_age, 9);
    /* By size: 3 lines of 18 bytes + 64 each a call; room for two calls. */
    rule = (store_log_rule_t){.function = "f", .max_bytes = 2 * 3 * (18 + 64)};
    cr_assert_eq(store_logs_retain(s, &rule, 1, 0, &out, &err), 0, "%s", err.msg);
    cr_assert_eq(out.by_function_size, 15);
    cr_assert_eq(out.bytes, 2 * 3 * (18 + 64));
    for (int c = 0; c < 10; c++) {
        store_log_t *lines;
        size_t n;
        store_log_query_t q = {.function = "f", .request_id = rid[c]};
        cr_assert_eq(store_logs_query(s, &q, &lines, &n, &err), 0, "%s", err.msg);
        cr_assert_eq(n, c >= 8 ? 3u : 0u, "call %d", c);
        store_logs_free(lines, n);
    }
    store_close(s);
    cr_assert_eq(count_rows("SELECT count(*) FROM log_requests"), 2, "the deleted calls' rows went too");
}
