/* qtable.h — a table of a function's documents keyed by function and
 * qualifier ($LATEST, a version number or an alias), sorted so that one
 * function's entries are together (listing, paging, forgetting a function).
 *
 * Each entry is a malloc'd struct whose first member is a qkey_t; the table
 * owns its entries and frees them with its `free_entry`. Loop thread only.
 */
#ifndef NIMBUS_API_QTABLE_H
#define NIMBUS_API_QTABLE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "io/http.h"

typedef struct {
    char function[65];
    char qualifier[130];
} qkey_t;

typedef struct {
    qkey_t **v;
    size_t n, cap;
    void (*free_entry)(void *entry);   /* NULL: free() */
} qtable_t;

void *qtable_find(const qtable_t *t, const char *function, const char *qualifier);
/* Insert, or replace (and free) the entry with the same key. */
void qtable_put(qtable_t *t, void *entry);
/* Remove (and free) the entry of (function, qualifier), or every entry of
 * the function when qualifier is NULL. */
void qtable_drop(qtable_t *t, const char *function, const char *qualifier);
void qtable_clear(qtable_t *t);

/* One page of a function's entries, as Lambda's List* operations page:
 * the marker is the last qualifier of the page before. Each entry becomes
 * an item of `arr` through to_json; returns the NextMarker (the last
 * listed qualifier, valid until the table changes) or NULL when the
 * function has no more entries. */
const char *qtable_page(const qtable_t *t, const char *function, const char *marker, long max, cJSON *arr,
                        cJSON *(*to_json)(const void *entry, void *arg), void *arg);

/* A List* operation's Marker and MaxItems (1..ceiling, default ceiling)
 * from the query; on a bad MaxItems answers Lambda's ValidationException
 * and returns -1. *marker is malloc'd or NULL. */
int qtable_page_params(http_exchange_t *ex, const http_request_t *req, long ceiling, char **marker, long *max);

/* A whole List* operation over the function's entries: the page the
 * request's Marker and MaxItems ask for, answered as {key: [...],
 * NextMarker} (or the ValidationException of a bad MaxItems). */
void qtable_list_respond(http_exchange_t *ex, const http_request_t *req, long ceiling, const qtable_t *t,
                         const char *function, const char *key, cJSON *(*to_json)(const void *entry, void *arg),
                         void *arg);

#endif
