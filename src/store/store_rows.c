/* store_rows.c — the helpers the store's files share (store_internal.h):
 * copying a statement's rows out, and binding the common parameter shape.
 *
 * Must never: take the store's mutex (callers hold it), or step a
 * statement it was not handed.
 */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

char *store_col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);
    char *p = malloc((size_t)n + 1);
    if (!p) abort();
    if (n) memcpy(p, t, (size_t)n);
    p[n] = '\0';
    return p;
}

int store_rows_read(sqlite3_stmt *st, int cols, int with_num, store_rows_t *rows)
{
    memset(rows, 0, sizeof *rows);
    rows->cols = cols;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows->n == rows->cap) {
            rows->cap = rows->cap ? rows->cap * 2 : 16;
            rows->text = realloc(rows->text, rows->cap * (size_t)cols * sizeof *rows->text);
            if (!rows->text) abort();
            if (with_num) {
                rows->num = realloc(rows->num, rows->cap * sizeof *rows->num);
                if (!rows->num) abort();
            }
        }
        for (int c = 0; c < cols; c++) rows->text[rows->n * (size_t)cols + (size_t)c] = store_col_dup(st, c);
        if (with_num) rows->num[rows->n] = sqlite3_column_int64(st, cols);
        rows->n++;
    }
    return rc;
}

void store_rows_free(store_rows_t *rows)
{
    for (size_t i = 0; i < rows->n * (size_t)rows->cols; i++) free(rows->text[i]);
    free(rows->text);
    free(rows->num);
    memset(rows, 0, sizeof *rows);
}

void store_bind(sqlite3_stmt *st, const char *a, const char *key, int num, const char *doc, const char *hex)
{
    if (a) sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (key) sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    else if (num != STORE_UNBOUND) sqlite3_bind_int(st, 2, num);
    if (doc) sqlite3_bind_text(st, 3, doc, -1, SQLITE_STATIC);
    if (hex) sqlite3_bind_text(st, 4, hex, -1, SQLITE_STATIC);
}
