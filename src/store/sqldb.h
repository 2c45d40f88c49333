/* sqldb.h — what every SQLite file of the store floor shares: opening it
 * the one way we trust (WAL, synchronous=FULL, extended result codes, a
 * busy timeout) and bringing its schema up to date from a list of
 * migrations, the version kept in PRAGMA user_version.
 *
 * A file's migrations are its own: migrations[i] takes the schema from
 * version i to i + 1. Never edit a shipped entry; append a new one.
 * Blocking: workers and start-up only, never the loop thread.
 */
#ifndef NIMBUS_SQLDB_H
#define NIMBUS_SQLDB_H

#include <sqlite3.h>

#include "base/err.h"

/* A migration that starts with this runs outside a transaction (VACUUM
 * cannot run inside one). It must be safe to run again: a crash before its
 * version is recorded runs it once more at the next open. */
#define SQLDB_NO_TRANSACTION "-- outside a transaction\n"

/* Open (creating) `path` and migrate it to `nmigrations`. `what` names the
 * file in error messages ("store", "queue store"). A file whose schema is
 * newer than this build's is refused. NULL on failure, nothing left open. */
sqlite3 *sqldb_open(const char *path, const char *what, const char *const *migrations, int nmigrations,
                    err_t *err);

/* Run SQL that returns no rows; on failure err says "<what>: <doing>: <sqlite's message>". */
int sqldb_exec(sqlite3 *db, const char *sql, const char *what, const char *doing, err_t *err);

/* err_set for SQLite's last error on `db`, keeping the OS errno (ENOSPC,
 * EIO...) when there is one. */
int sqldb_error(sqlite3 *db, const char *what, const char *doing, err_t *err);

#endif
