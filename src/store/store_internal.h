/* store_internal.h — what the store's files share (store_sqlite.c owns
 * the connection; store_layers.c runs its own statements on it). Nothing
 * outside src/store includes it.
 */
#ifndef NIMBUS_STORE_INTERNAL_H
#define NIMBUS_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store/store.h"

/* The one connection, with the store's mutex held until store_unlock. */
sqlite3 *store_lock(store_t *s);
void store_unlock(store_t *s);

#endif
