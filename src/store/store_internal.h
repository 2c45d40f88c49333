/* store_internal.h — what the store's files share (store_sqlite.c owns
 * the connection; store_layers.c runs its own statements on it; the row
 * and binding helpers are in store_rows.c). Nothing outside src/store
 * includes it.
 */
#ifndef NIMBUS_STORE_INTERNAL_H
#define NIMBUS_STORE_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"

/* Log chunks (store_logs.c): a chunk holds at most this many lines, and
 * their ids lie within this many of its first (plain numbers: SQL spells
 * them too). */
#define STORE_LOG_CHUNK_LINES 64
#define STORE_LOG_CHUNK_SPAN 4096

/* What store_logs.c keeps on the store: its statements, prepared on first
 * use (store_close finalizes them), and the next line id (0: not read
 * yet). Only touched with the store's mutex held. */
#define STORE_LOG_STMTS 12
typedef struct {
    sqlite3_stmt *st[STORE_LOG_STMTS];
    int64_t next_id;
} store_logs_state_t;
store_logs_state_t *store_logs_state(store_t *s);

/* The one connection, with the store's mutex held until store_unlock. */
sqlite3 *store_lock(store_t *s);
void store_unlock(store_t *s);

/* A malloc'd copy of a column's text, "" for NULL; aborts when out of
 * memory. */
char *store_col_dup(sqlite3_stmt *st, int i);

/* The rows a statement returned, copied out so a callback can see them
 * after the mutex is released (it may well call back into the store). */
typedef struct {
    size_t n, cap;
    int cols;     /* text columns a row */
    char **text;  /* n * cols */
    int64_t *num; /* with a number column: one a row */
} store_rows_t;

/* Steps `st` to its end, copying columns [0, cols) as text and, with
 * `with_num`, column `cols` as an integer. Returns the last step's code:
 * SQLITE_DONE when every row was read. The caller resets or finalizes. */
int store_rows_read(sqlite3_stmt *st, int cols, int with_num, store_rows_t *rows);

static inline const char *store_row(const store_rows_t *r, size_t i, int col)
{
    return r->text[i * (size_t)r->cols + (size_t)col];
}

void store_rows_free(store_rows_t *rows);

/* `num` for store_bind when ?2 stays unbound. */
#define STORE_UNBOUND INT_MIN

/* The store's one parameter shape: ?1 `a`, ?2 `key` as text or else `num`
 * as an integer (unless STORE_UNBOUND), ?3 `doc`, ?4 `hex`. A NULL text
 * leaves its parameter unbound. */
void store_bind(sqlite3_stmt *st, const char *a, const char *key, int num, const char *doc, const char *hex);

#endif
