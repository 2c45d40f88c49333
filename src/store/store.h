/* store.h — durable metadata: functions, their versions, aliases,
 * asynchronous settings, function URLs, timer triggers, tags, resource
 * policies and layers, and their logs.
 *
 * The interface a backend implements (SQLite in WAL mode now, in
 * store_sqlite.c and store_layers.c; PostgreSQL later). Calls block on disk I/O, so the daemon
 * makes them only from worker threads (loop_submit); they are thread-safe.
 * The schema carries a version number and is migrated forward on open.
 * Must never: be called on the loop thread's hot path.
 */
#ifndef NIMBUS_STORE_H
#define NIMBUS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/prom.h"

typedef struct store store_t;

/* Open (creating and migrating) the store at `path`. */
store_t *store_open(const char *path, err_t *err);
void store_close(store_t *s);
/* The schema version this build writes. */
int store_schema_version(void);

/* Functions: `config_json` is function_config_serialize()'s document and
 * `code_hex` the code store key it references. */
int store_function_insert(store_t *s, const char *name, const char *config_json,
                          const char *code_hex, err_t *err);          /* ERR_CONFLICT if it exists */
int store_function_update(store_t *s, const char *name, const char *config_json,
                          const char *code_hex, err_t *err);          /* ERR_NOT_FOUND if absent */
int store_function_delete(store_t *s, const char *name, err_t *err);  /* ERR_NOT_FOUND if absent */
typedef void (*store_function_fn)(const char *name, const char *config_json, void *arg);
/* Calls fn for every function, in name order. */
int store_function_each(store_t *s, store_function_fn fn, void *arg, err_t *err);
/* 1 if any function, version or layer version references code `code_hex`
 * (its own code, or a tree its stored document names), 0 if none, -1 on
 * error. */
int store_code_referenced(store_t *s, const char *code_hex, err_t *err);

/* Published versions (immutable configuration + code) and aliases, keyed by
 * function. A function's delete removes its versions and aliases too;
 * store_code_referenced() counts versions' code as referenced. */
int store_version_insert(store_t *s, const char *function, int version, const char *config_json,
                         const char *code_hex, err_t *err);           /* ERR_CONFLICT if it exists */
/* Rewrite a version's stored document (its code never changes). */
int store_version_update(store_t *s, const char *function, int version, const char *config_json,
                         err_t *err);                                 /* ERR_NOT_FOUND */
int store_version_delete(store_t *s, const char *function, int version, err_t *err);
/* Insert or replace an alias document. */
int store_alias_put(store_t *s, const char *function, const char *alias, const char *doc_json,
                    err_t *err);
int store_alias_delete(store_t *s, const char *function, const char *alias, err_t *err);
/* fn(function, key, doc, arg) for every version (key = the number) or alias
 * (key = its name), in function then key order. */
typedef void (*store_child_fn)(const char *function, const char *key, const char *doc, void *arg);
int store_version_each(store_t *s, store_child_fn fn, void *arg, err_t *err);
int store_alias_each(store_t *s, store_child_fn fn, void *arg, err_t *err);

/* Asynchronous invocation settings (Lambda's FunctionEventInvokeConfig),
 * one document per function and qualifier ("$LATEST", a version number or
 * an alias). Deleting the function, the version or the alias deletes its
 * document too. */
int store_event_config_put(store_t *s, const char *function, const char *qualifier, const char *doc_json,
                           err_t *err);                               /* insert or replace */
int store_event_config_delete(store_t *s, const char *function, const char *qualifier,
                              err_t *err);                            /* ERR_NOT_FOUND */
/* fn(function, qualifier, doc, arg) for every document, in function then
 * qualifier order. */
int store_event_config_each(store_t *s, store_child_fn fn, void *arg, err_t *err);

/* Function URLs (Lambda's FunctionUrlConfig), one document per function
 * and qualifier ("$LATEST" or an alias). Deleting the function or the
 * alias deletes its document too. */
int store_url_put(store_t *s, const char *function, const char *qualifier, const char *doc_json,
                  err_t *err);                                        /* insert or replace */
int store_url_delete(store_t *s, const char *function, const char *qualifier,
                     err_t *err);                                     /* ERR_NOT_FOUND */
/* fn(function, qualifier, doc, arg) for every document. */
int store_url_each(store_t *s, store_child_fn fn, void *arg, err_t *err);

/* Timer triggers, one document per function and trigger name, with the
 * last slot (epoch ms) each fired for (0: none yet). Deleting the function
 * deletes its triggers. */
int store_trigger_put(store_t *s, const char *function, const char *name, const char *doc_json,
                      err_t *err);                                    /* insert, or replace the doc */
int store_trigger_delete(store_t *s, const char *function, const char *name,
                         err_t *err);                                 /* ERR_NOT_FOUND */
typedef void (*store_trigger_fn)(const char *function, const char *name, const char *doc,
                                 int64_t last_slot_ms, void *arg);
/* fn for every trigger, in function then name order. */
int store_trigger_each(store_t *s, store_trigger_fn fn, void *arg, err_t *err);
typedef struct {
    const char *function, *name;
    int64_t slot_ms;
} store_trigger_slot_t;
/* Record slots as fired, in one transaction; a slot never moves back (an
 * older one than the stored is ignored), and a trigger gone is no error. */
int store_trigger_mark_slots(store_t *s, const store_trigger_slot_t *v, size_t n, err_t *err);
/* Tags (Lambda's TagResource), one document per function: a JSON object
 * of tag keys and values. Deleting the function deletes its tags. */
int store_tags_put(store_t *s, const char *function, const char *doc_json,
                   err_t *err);                                       /* replace; NULL removes */
/* fn(function, "", doc, arg) for every function with tags. */
int store_tags_each(store_t *s, store_child_fn fn, void *arg, err_t *err);

/* Resource policies (Lambda's AddPermission), one document per function
 * and qualifier ("$LATEST" for the function itself, a version number or
 * an alias). Deleting the function, the version or the alias deletes its
 * policy too. */
int store_policy_put(store_t *s, const char *function, const char *qualifier, const char *doc_json,
                     err_t *err);                                     /* insert or replace */
int store_policy_delete(store_t *s, const char *function, const char *qualifier,
                        err_t *err);                                  /* ERR_NOT_FOUND */
/* The document (malloc'd) into *doc_json, or NULL when there is none. */
int store_policy_get(store_t *s, const char *function, const char *qualifier, char **doc_json,
                     err_t *err);
/* Lambda layers. A layer is its account and name and the highest version
 * ever published under them (numbers start at 1 and are never reused, even
 * once every version is deleted); each version keeps a document and the
 * code store key of its ZIP, which store_code_referenced() counts as in
 * use. `account` is the publisher's, "" for the daemon's own --account-id
 * (what layers stored before accounts belong to); one name in two accounts
 * is two layers. */
/* Publish the next version of `layer` (*version set). */
int store_layer_publish(store_t *s, const char *account, const char *layer, const char *doc_json,
                        const char *code_hex, int *version, err_t *err);
/* *doc_json malloc'd (free it); ERR_NOT_FOUND when there is no such version. */
int store_layer_version_get(store_t *s, const char *account, const char *layer, int version, char **doc_json,
                            err_t *err);
/* Delete a version; code_hex gets its code key ("" when it did not exist: still 0). */
int store_layer_version_delete(store_t *s, const char *account, const char *layer, int version, char code_hex[65],
                               err_t *err);
/* fn(layer, version number, doc, arg) for every version of the account's
 * `layer` (NULL: of every layer of the account), in layer name order,
 * newest version first. */
int store_layer_version_each(store_t *s, const char *account, const char *layer, store_child_fn fn, void *arg,
                             err_t *err);
/* A version's permissions policy (AddLayerVersionPermission): one document
 * ("" for none), gone with its version. *policy malloc'd; ERR_NOT_FOUND
 * when there is no such version. */
int store_layer_policy_get(store_t *s, const char *account, const char *layer, int version, char **policy,
                           err_t *err);
/* The policy set to `policy` if it is still `expect` (compare and set, so
 * two writers never lose a statement): ERR_CONFLICT when it changed
 * meanwhile, ERR_NOT_FOUND when the version is gone. */
int store_layer_policy_swap(store_t *s, const char *account, const char *layer, int version, const char *expect,
                            const char *policy, err_t *err);
/* fn(account, layer, policy, arg) for every layer version whose code is `code_hex`. */
int store_layer_code_each(store_t *s, const char *code_hex, store_child_fn fn, void *arg, err_t *err);

/* Log lines. */
typedef struct {
    int64_t id;             /* assigned by the store, increasing */
    char function[65];
    char request_id[37];    /* "" for lines outside any call (instance start-up) */
    int64_t ts_ms;          /* wall clock, ms since the epoch */
    char *line;             /* without trailing newline */
} store_log_t;

typedef struct {
    const char *function;   /* required */
    const char *request_id; /* NULL: any */
    int64_t since_ms;       /* 0: from the start */
    int64_t until_ms;       /* 0: no end */
    int64_t after_id;       /* only ids > after_id (for following) */
    size_t limit;           /* 0 -> 1000 */
} store_log_query_t;

/* Append lines in one transaction (ids are written back into recs). */
int store_logs_append(store_t *s, store_log_t *recs, size_t n, err_t *err);
/* Matching lines in id order; *out is malloc'd, free with store_logs_free. */
int store_logs_query(store_t *s, const store_log_query_t *q, store_log_t **out, size_t *n,
                     err_t *err);
void store_logs_free(store_log_t *recs, size_t n);
/* Remove every log line of a function (on DeleteFunction). */
int store_logs_delete_function(store_t *s, const char *function, err_t *err);

/* ---- write latency (for the metrics page) ----
 * Each SQLite write, timed where it runs (a worker): the control plane's
 * writes (through the API's one write path), log batches, the async
 * queue's commits. Relaxed atomics: any thread may observe or read. */
typedef enum { STORE_WRITE_CONTROL, STORE_WRITE_LOGS, STORE_WRITE_QUEUE, STORE_WRITE_KINDS } store_write_kind_t;
extern const char *const store_write_kind_names[STORE_WRITE_KINDS]; /* "control", "logs", "queue" */
void store_write_observe(store_write_kind_t kind, uint64_t ns);
void store_write_latency(store_write_kind_t kind, prom_hist_t *out);
/* Log retention (store_retention.c): what one function keeps. */
typedef struct {
    const char *function;
    int64_t min_ts_ms;      /* lines older than this go (0: none by age) */
    int64_t max_bytes;      /* its lines together (0: no budget of its own) */
} store_log_rule_t;

typedef struct {
    int64_t by_age, by_function_size, by_total_size; /* lines deleted by each rule */
    int64_t bytes;          /* what the lines left count (bytes + STORE_LOG_ROW_COST each) */
    int64_t file_before, file_after; /* the database file's size in bytes, and its WAL's */
} store_log_retained_t;

/* What a line counts against a byte budget besides its bytes: roughly its
 * share of its chunk's row and of the rows that find its call. */
#define STORE_LOG_ROW_COST 64

/* Apply `rules` (by age, then each function's budget), then `total_max`
 * over every line (0: none), oldest lines first; give the freed pages back
 * to the file system. Deletes in small transactions, so other writers wait
 * for one slice at a time. */
int store_logs_retain(store_t *s, const store_log_rule_t *rules, size_t n, int64_t total_max,
                      store_log_retained_t *out, err_t *err);

#endif
