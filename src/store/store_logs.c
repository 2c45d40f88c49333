/* store_logs.c — function log lines on the store's connection (store.h,
 * store_logs_*), kept in chunks.
 *
 * Why chunks: a warm call prints at least three lines (START, END,
 * REPORT), and a row per line with an index on its call cost more CPU than
 * the rest of the daemon's per-call work together. A row of log_chunks
 * holds up to STORE_LOG_CHUNK_LINES consecutive lines of one function from
 * one batch; log_requests holds one small row per (call, chunk it printed
 * in), which is all a query by request id needs.
 *
 * Every line still has its own id, given in the order lines were printed
 * across all functions (the batch's order), so cursors (`after`) work as
 * with one row per line. A chunk's lines span at most
 * STORE_LOG_CHUNK_SPAN ids, which lets a query seek the primary key.
 *
 * A chunk's `lines` blob is, for each line in order, the header
 * "<id - first_id>,<ts - ts_min>,<request id bytes>,<line bytes>:" in
 * decimal, then the request id, then the line. It is text SQL can write
 * too (schema 11 turns each old row into a one-line chunk).
 *
 * Must never: give two lines one id, return a line twice or out of id
 * order, or trust a blob's lengths without checking them.
 */
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "base/util.h"
#include "io/loop.h"
#include "store/sqldb.h"
#include "store/store_internal.h"

#define DEFAULT_LOG_LIMIT 1000
/* A chunk's bytes of lines, past which the next line starts a new chunk:
 * keeps a query's decoding and a retention step's granularity small. */
#define CHUNK_BYTES (16 * 1024)

/* A call's rows are written in groups: one statement of 64 rows costs
 * about half of 64 statements of one (each statement's step, reset and
 * cursors), and they are half of a batch's time. */
#define REQ_INSERT "INSERT OR IGNORE INTO log_requests(function, request_id, first_id) VALUES"
#define V1 "(?,?,?)"
#define V8 V1 "," V1 "," V1 "," V1 "," V1 "," V1 "," V1 "," V1
#define REQ_GROUP 64

#define STR_(x) #x
#define STR(x) STR_(x)

enum {
    LS_SEQ_READ,
    LS_SEQ_WRITE,
    LS_CHUNK_INSERT,
    LS_REQ_INSERT,
    LS_REQ_INSERT_8,
    LS_REQ_INSERT_64,
    LS_QUERY,
    LS_QUERY_REQ,
    LS_DELETE_CHUNKS,
    LS_DELETE_REQS,
    LS_COUNT
};
_Static_assert(LS_COUNT <= STORE_LOG_STMTS, "store_logs_state_t has room for every statement");

static const char *const sql[LS_COUNT] = {
    [LS_SEQ_READ] = "SELECT next FROM log_seq",
    [LS_SEQ_WRITE] = "UPDATE log_seq SET next = ?1",
    [LS_CHUNK_INSERT] = "INSERT INTO log_chunks(function, first_id, last_id, n, ts_min, ts_max, bytes, lines) "
                        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [LS_REQ_INSERT] = REQ_INSERT "(?1, ?2, ?3)",
    [LS_REQ_INSERT_8] = REQ_INSERT V8,
    [LS_REQ_INSERT_64] = REQ_INSERT V8 "," V8 "," V8 "," V8 "," V8 "," V8 "," V8 "," V8,
    /* ?2 after: a chunk that starts more than a span below it ends at or
     * below it, so the key's range starts there. `lines` is read last: a
     * chunk out of the time range never has its blob read. */
    [LS_QUERY] = "SELECT first_id, ts_min, lines FROM log_chunks "
                 "WHERE function = ?1 AND first_id > ?2 - " STR(STORE_LOG_CHUNK_SPAN) " AND last_id > ?2 "
                 "AND ts_max >= ?3 AND (?4 = 0 OR ts_min <= ?4) ORDER BY first_id",
    [LS_QUERY_REQ] = "SELECT c.first_id, c.ts_min, c.lines FROM log_requests r JOIN log_chunks c "
                     "ON c.function = r.function AND c.first_id = r.first_id "
                     "WHERE r.function = ?1 AND r.request_id = ?5 AND c.last_id > ?2 "
                     "AND c.ts_max >= ?3 AND (?4 = 0 OR c.ts_min <= ?4) ORDER BY c.first_id",
    [LS_DELETE_CHUNKS] = "DELETE FROM log_chunks WHERE function = ?1",
    [LS_DELETE_REQS] = "DELETE FROM log_requests WHERE function = ?1",
};

static sqlite3_stmt *ls_stmt(sqlite3 *db, store_logs_state_t *ls, int which, err_t *err)
{
    if (!ls->st[which] &&
        sqlite3_prepare_v3(db, sql[which], -1, SQLITE_PREPARE_PERSISTENT, &ls->st[which], NULL) != SQLITE_OK) {
        sqldb_error(db, "store", "prepare log statement", err);
        return NULL;
    }
    sqlite3_reset(ls->st[which]);
    sqlite3_clear_bindings(ls->st[which]);
    return ls->st[which];
}

static int step_done(sqlite3 *db, sqlite3_stmt *st, err_t *err, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sqldb_error(db, "store", what, err);
}

/* ---- the blob ---- */

/* One line's header (four numbers of at most 20 digits: it fits), then
 * its request id and text. */
static void buf_line(buf_t *b, uint64_t did, uint64_t dts, const char *rid, size_t rlen, const char *line,
                     size_t llen)
{
    char head[96];
    size_t n = 0;
    util_cat_u64(head, sizeof head, &n, did);
    util_cat_lit(head, sizeof head, &n, ",");
    util_cat_u64(head, sizeof head, &n, dts);
    util_cat_lit(head, sizeof head, &n, ",");
    util_cat_u64(head, sizeof head, &n, rlen);
    util_cat_lit(head, sizeof head, &n, ",");
    util_cat_u64(head, sizeof head, &n, llen);
    util_cat_lit(head, sizeof head, &n, ":");
    buf_append(b, head, n);
    buf_append(b, rid, rlen);
    buf_append(b, line, llen);
}

static const char *get_u64(const char *p, const char *end, char stop, uint64_t *v)
{
    uint64_t x = 0;
    const char *start = p;
    while (p < end && *p >= '0' && *p <= '9' && p - start < 19) x = x * 10 + (uint64_t)(*p++ - '0');
    if (p == start || p >= end || *p != stop) return NULL;
    *v = x;
    return p + 1;
}

/* One line of a blob: advances *pp, NULL at the end; *bad on a blob that
 * does not parse. */
typedef struct {
    uint64_t did, dts;
    const char *rid, *line;
    size_t rlen, llen;
} line_t;

static bool next_line(const char **pp, const char *end, line_t *l, bool *bad)
{
    const char *p = *pp;
    if (p >= end) return false;
    uint64_t rlen, llen;
    if (!(p = get_u64(p, end, ',', &l->did)) || !(p = get_u64(p, end, ',', &l->dts)) ||
        !(p = get_u64(p, end, ',', &rlen)) || !(p = get_u64(p, end, ':', &llen)) ||
        rlen > (uint64_t)(end - p) || llen > (uint64_t)(end - p) - rlen || rlen > 36) {
        *bad = true;
        return false;
    }
    l->rid = p;
    l->rlen = (size_t)rlen;
    l->line = p + rlen;
    l->llen = (size_t)llen;
    *pp = p + rlen + llen;
    return true;
}

/* ---- append ---- */

/* A chunk being filled: lines of one function, in batch order. */
typedef struct {
    const char *function;
    size_t first;            /* index into the batch of its first line */
    size_t idx[STORE_LOG_CHUNK_LINES]; /* its lines' indexes */
    size_t n, bytes;
    int64_t ts_min, ts_max;
} chunk_t;

/* The rows of log_requests not written yet: at most a group. */
typedef struct {
    struct { const char *function, *rid; int64_t first_id; } v[REQ_GROUP];
    size_t n;
} req_rows_t;

/* Writes rows->v[k..k+n) (n is 64, 8 or 1) in one statement. */
static int write_rows(sqlite3 *db, store_logs_state_t *ls, const req_rows_t *rows, size_t k, size_t n,
                      err_t *err)
{
    int which = n == REQ_GROUP ? LS_REQ_INSERT_64 : n == 8 ? LS_REQ_INSERT_8 : LS_REQ_INSERT;
    sqlite3_stmt *st = ls_stmt(db, ls, which, err);
    if (!st) return -1;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, (int)(3 * i + 1), rows->v[k + i].function, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, (int)(3 * i + 2), rows->v[k + i].rid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, (int)(3 * i + 3), rows->v[k + i].first_id);
    }
    return step_done(db, st, err, "append log requests");
}

/* Every row left, in groups of 8, then one by one. */
static int write_rows_left(sqlite3 *db, store_logs_state_t *ls, req_rows_t *rows, err_t *err)
{
    for (size_t k = 0, n; k < rows->n; k += n) {
        n = rows->n - k >= 8 ? 8 : 1;
        if (write_rows(db, ls, rows, k, n, err) < 0) return -1;
    }
    rows->n = 0;
    return 0;
}

static int write_chunk(sqlite3 *db, store_logs_state_t *ls, store_log_t *recs, chunk_t *c, buf_t *b,
                       req_rows_t *rows, err_t *err)
{
    int64_t first_id = recs[c->idx[0]].id;
    buf_reset(b);
    for (size_t k = 0; k < c->n; k++) {
        const store_log_t *r = &recs[c->idx[k]];
        const char *line = r->line ? r->line : "";
        buf_line(b, (uint64_t)(r->id - first_id), (uint64_t)(r->ts_ms - c->ts_min), r->request_id,
                 strlen(r->request_id), line, strlen(line));
    }
    sqlite3_stmt *st = ls_stmt(db, ls, LS_CHUNK_INSERT, err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, c->function, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, first_id);
    sqlite3_bind_int64(st, 3, recs[c->idx[c->n - 1]].id);
    sqlite3_bind_int64(st, 4, (int64_t)c->n);
    sqlite3_bind_int64(st, 5, c->ts_min);
    sqlite3_bind_int64(st, 6, c->ts_max);
    sqlite3_bind_int64(st, 7, (int64_t)c->bytes);
    sqlite3_bind_blob(st, 8, b->data ? b->data : "", (int)b->len, SQLITE_STATIC);
    if (step_done(db, st, err, "append log chunk") < 0) return -1;
    /* One row per call in the chunk (the first of its lines there). */
    for (size_t k = 0; k < c->n; k++) {
        const char *rid = recs[c->idx[k]].request_id;
        if (!*rid) continue;
        bool seen = false;
        for (size_t j = k; j-- > 0 && !seen;) seen = strcmp(recs[c->idx[j]].request_id, rid) == 0;
        if (seen) continue;
        if (rows->n == REQ_GROUP) {
            if (write_rows(db, ls, rows, 0, REQ_GROUP, err) < 0) return -1;
            rows->n = 0;
        }
        rows->v[rows->n].function = c->function;
        rows->v[rows->n].rid = rid;
        rows->v[rows->n++].first_id = first_id;
    }
    c->n = 0;
    return 0;
}

/* Whether line i (len bytes) no longer fits chunk c. */
static bool chunk_full(const chunk_t *c, size_t i, size_t len)
{
    return c->n == STORE_LOG_CHUNK_LINES || (c->n && c->bytes + len > CHUNK_BYTES) ||
           i - c->first >= STORE_LOG_CHUNK_SPAN;
}

static int append_locked(sqlite3 *db, store_logs_state_t *ls, store_log_t *recs, size_t n, err_t *err)
{
    sqlite3_stmt *st;
    if (!ls->next_id) {
        if (!(st = ls_stmt(db, ls, LS_SEQ_READ, err))) return -1;
        int rc = sqlite3_step(st);
        int64_t next = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (rc != SQLITE_ROW || next < 1) return sqldb_error(db, "store", "read the next log id", err);
        ls->next_id = next;
    }
    /* Ids in batch order, whatever chunk a line goes to. */
    for (size_t i = 0; i < n; i++) recs[i].id = ls->next_id + (int64_t)i;

    /* One open chunk per function of the batch; a full one is written and
     * begins again empty. */
    chunk_t *open = NULL;
    size_t nopen = 0, cap = 0, last = 0;
    buf_t b = {0};
    req_rows_t rows;
    rows.n = 0;
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++) {
        const store_log_t *r = &recs[i];
        size_t len = r->line ? strlen(r->line) : 0;
        size_t j = nopen && strcmp(open[last].function, r->function) == 0 ? last : nopen;
        for (size_t k = 0; j == nopen && k < nopen; k++)
            if (strcmp(open[k].function, r->function) == 0) j = k;
        if (j == nopen) {
            if (nopen == cap) {
                cap = cap ? cap * 2 : 4;
                chunk_t *p = realloc(open, cap * sizeof *p);
                if (!p) abort();
                open = p;
            }
            open[nopen++] = (chunk_t){ .function = r->function };
        }
        chunk_t *c = &open[j];
        if (c->n && chunk_full(c, i, len)) ret = write_chunk(db, ls, recs, c, &b, &rows, err);
        if (c->n == 0) {
            c->first = i;
            c->bytes = 0;
            c->ts_min = c->ts_max = r->ts_ms;
        }
        c->idx[c->n++] = i;
        c->bytes += len;
        if (r->ts_ms < c->ts_min) c->ts_min = r->ts_ms;
        if (r->ts_ms > c->ts_max) c->ts_max = r->ts_ms;
        last = j;
    }
    for (size_t j = 0; j < nopen && ret == 0; j++)
        if (open[j].n) ret = write_chunk(db, ls, recs, &open[j], &b, &rows, err);
    if (ret == 0) ret = write_rows_left(db, ls, &rows, err);
    buf_free(&b);
    free(open);
    if (ret == 0) {
        if (!(st = ls_stmt(db, ls, LS_SEQ_WRITE, err))) return -1;
        sqlite3_bind_int64(st, 1, ls->next_id + (int64_t)n);
        ret = step_done(db, st, err, "write the next log id");
    }
    if (ret == 0) ls->next_id += (int64_t)n;
    return ret;
}

int store_logs_append(store_t *s, store_log_t *recs, size_t n, err_t *err)
{
    if (n == 0) return 0;
    uint64_t t0 = loop_now_ns();
    sqlite3 *db = store_lock(s);
    store_logs_state_t *ls = store_logs_state(s);
    /* Log lines are not acknowledged to anyone: commit them without an
     * fsync (WAL + NORMAL). The next FULL commit of a function write syncs
     * the WAL, these frames included. Saves an fdatasync per batch. */
    sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    int ret = sqldb_exec(db, "BEGIN IMMEDIATE", "store", "begin log append", err);
    if (ret == 0) ret = append_locked(db, ls, recs, n, err);
    if (ret == 0) ret = sqldb_exec(db, "COMMIT", "store", "commit log append", err);
    if (ret != 0 && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    store_unlock(s);
    store_write_observe(STORE_WRITE_LOGS, loop_now_ns() - t0);
    return ret;
}

/* ---- query ---- */

static void add_rec(store_log_t **recs, size_t *n, size_t *cap, const char *function, int64_t id, int64_t ts,
                    const line_t *l)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        store_log_t *p = realloc(*recs, *cap * sizeof *p);
        if (!p) abort();
        *recs = p;
    }
    store_log_t *r = &(*recs)[(*n)++];
    memset(r, 0, sizeof *r);
    r->id = id;
    snprintf(r->function, sizeof r->function, "%s", function);
    memcpy(r->request_id, l->rid, l->rlen);
    r->ts_ms = ts;
    r->line = malloc(l->llen + 1);
    if (!r->line) abort();
    memcpy(r->line, l->line, l->llen);
    r->line[l->llen] = '\0';
}

int store_logs_query(store_t *s, const store_log_query_t *q, store_log_t **out, size_t *n, err_t *err)
{
    *out = NULL;
    *n = 0;
    if (!q->function) return err_set(err, ERR_INVALID, "log query needs a function");
    size_t limit = q->limit ? q->limit : DEFAULT_LOG_LIMIT;
    size_t rlen = q->request_id ? strlen(q->request_id) : 0;
    store_log_t *recs = NULL;
    size_t cnt = 0, cap = 0;
    int ret = 0;
    sqlite3 *db = store_lock(s);
    sqlite3_stmt *st = ls_stmt(db, store_logs_state(s), q->request_id ? LS_QUERY_REQ : LS_QUERY, err);
    if (!st) {
        store_unlock(s);
        return -1;
    }
    sqlite3_bind_text(st, 1, q->function, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, q->after_id);
    sqlite3_bind_int64(st, 3, q->since_ms);
    sqlite3_bind_int64(st, 4, q->until_ms);
    if (q->request_id) sqlite3_bind_text(st, 5, q->request_id, -1, SQLITE_STATIC);
    int rc = SQLITE_DONE;
    bool bad = false;
    while (cnt < limit && !bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t first_id = sqlite3_column_int64(st, 0), ts_min = sqlite3_column_int64(st, 1);
        const char *p = sqlite3_column_blob(st, 2);
        const char *end = p + sqlite3_column_bytes(st, 2);
        line_t l;
        while (cnt < limit && p && next_line(&p, end, &l, &bad)) {
            int64_t id = first_id + (int64_t)l.did, ts = ts_min + (int64_t)l.dts;
            if (id <= q->after_id || ts < q->since_ms || (q->until_ms && ts > q->until_ms)) continue;
            if (q->request_id && (l.rlen != rlen || memcmp(l.rid, q->request_id, rlen) != 0)) continue;
            add_rec(&recs, &cnt, &cap, q->function, id, ts, &l);
        }
    }
    if (bad) {
        ret = err_set(err, ERR_INTERNAL, "store: query logs: a stored chunk of %s does not parse", q->function);
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        ret = sqldb_error(db, "store", "query logs", err);
    }
    sqlite3_reset(st);
    store_unlock(s);
    if (ret < 0) {
        store_logs_free(recs, cnt);
        recs = NULL;
        cnt = 0;
    }
    *out = recs;
    *n = cnt;
    return ret;
}

void store_logs_free(store_log_t *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) free(recs[i].line);
    free(recs);
}

int store_logs_delete_function(store_t *s, const char *function, err_t *err)
{
    sqlite3 *db = store_lock(s);
    store_logs_state_t *ls = store_logs_state(s);
    int ret = sqldb_exec(db, "BEGIN IMMEDIATE", "store", "begin delete logs", err);
    for (int which = LS_DELETE_CHUNKS; ret == 0 && which <= LS_DELETE_REQS; which++) {
        sqlite3_stmt *st = ls_stmt(db, ls, which, err);
        if (!st) ret = -1;
        else {
            sqlite3_bind_text(st, 1, function, -1, SQLITE_STATIC);
            ret = step_done(db, st, err, "delete logs");
        }
    }
    if (ret == 0) ret = sqldb_exec(db, "COMMIT", "store", "commit delete logs", err);
    if (ret != 0 && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    store_unlock(s);
    return ret;
}
