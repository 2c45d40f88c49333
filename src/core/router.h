/* router.h — functions in memory, and their instance pools.
 *
 * The router resolves a name to the live state of a function (its current
 * configuration, its instances, the calls waiting for one) and decides, on
 * every change, what happens next: a waiting call goes to an idle instance
 * (warm start), or the activator starts one more instance if fewer are on
 * their way than calls are waiting (cold start; one per waiting call, all in
 * parallel), within the per-function limit. Everything here is memory; no
 * I/O on this path. Loop thread only.
 *
 * Must never: reach above the core (answers go through each call's done
 * callback, code collection through ctx->code_released).
 */
#ifndef NIMBUS_ROUTER_H
#define NIMBUS_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "core/function.h"
#include "core/metrics.h"
#include "core/pool.h"

typedef struct router router_t;
typedef struct instance instance_t;
typedef struct call call_t;

/* An alias: a name for one version, or a weighted split between two. */
typedef struct {
    char name[129];
    char version[16];          /* FunctionVersion: "$LATEST" or "N" */
    char extra_version[16];    /* RoutingConfig's additional version, "" if none */
    double extra_weight;       /* its share of calls, 0..1 */
    char *doc;                 /* the AliasConfiguration JSON as stored (malloc'd) */
} router_alias_t;

/* One account's concurrency (docs/security.md, "Accounts"): its limit of
 * calls in flight and the calls of its functions running now. Every
 * function state points at its owner's (router_fn_t.account), so the warm
 * path checks and counts in O(1): no lookup, lock or allocation per call.
 * Made once per account (the first function of it, or the daemon filling
 * in the limits at start) and kept until the router goes. */
typedef struct router_account {
    char id[13];
    unsigned limit;            /* its limit of calls in flight; 0: limits.account_concurrency */
    unsigned inflight;         /* calls of its functions running */
    unsigned held;             /* the async queue's calls of it still waiting in a pool
                                  (counted by core/async.c at each dispatch) */
    bool starved;              /* a call waited on its limit: when one of its calls
                                  ends, its functions' queues get a turn */
} router_account_t;

typedef struct router_fn {
    function_config_t cfg;    /* the configuration ($LATEST's, or a version's: immutable) */
    struct router_fn *latest; /* a version: its function's $LATEST state (not a ref) */
    struct router_fn **versions; /* $LATEST: published versions, ascending (each holds a ref) */
    size_t nversions;
    router_alias_t *aliases;  /* $LATEST: its aliases, by name */
    size_t naliases;
    char code_dir[512];       /* extracted tree of cfg.code_hex */
    char opt_dir[512];        /* merged tree of its layers (cfg.opt_hex), "" for none */
    uint64_t generation;      /* bumped by every code/config update: older
                                 instances finish their call and retire */
    pool_t pool;              /* its instances, waiting calls and their counts */
    unsigned refs;            /* instances + calls pointing here */
    bool deleted;             /* gone from the name table; freed at refs 0 */
    bool updating;            /* a write is in progress (Lambda answers 409) */
    bool updated;             /* $LATEST: its runtime was last asked for by an update, not
                                 its creation (what a runtime still warming reports) */
    metrics_fn_t metrics;     /* its counters (core/metrics.h) */
    router_account_t *account; /* its owner's (cfg.owner; "" the daemon's --account-id) */
} router_fn_t;

/* The router schedules with what `ctx` gives it (kept, not copied: the
 * owner sets ctx->stopping at shutdown). */
router_t *router_new(core_ctx_t *ctx);
/* Ends every instance (SIGKILL) and frees all state. */
void router_free(router_t *r);

/* Lookup by exact name (NULL when unknown). */
router_fn_t *router_find(router_t *r, const char *name);
/* Add a function (takes a copy of cfg). Name must be new. */
router_fn_t *router_add(router_t *r, const function_config_t *cfg);
/* Replace a function's configuration (code and/or settings). Instances on
 * the old generation finish their calls and are retired; idle ones go
 * now. */
void router_update(router_t *r, router_fn_t *fn, const function_config_t *cfg);
/* Remove from the name table. Waiting calls are failed with 404, running
 * ones finish, instances are retired. */
void router_remove(router_t *r, router_fn_t *fn);
/* The Lambda configuration document of `c` (`fn`'s $LATEST or one of
 * its versions, `fn` that function's $LATEST), with what its runtime's
 * start says: while the sandbox still starts the first runtime of its
 * kind, State "Pending" (reason code "Creating") after a creation or a
 * daemon start, LastUpdateStatus "InProgress" after an update; calls are
 * served meanwhile (they wait for that runtime, as they would without the
 * state). */
cJSON *router_config_json(router_t *r, const router_fn_t *fn, const function_config_t *c);
/* A published version of `latest` by number string ("3"), or NULL. */
router_fn_t *router_find_version(router_fn_t *latest, const char *version);
/* Add a published version (copy of cfg, cfg.version = its number). */
router_fn_t *router_add_version(router_t *r, router_fn_t *latest, const function_config_t *cfg);
/* Remove a version: its waiting calls fail, its instances retire. */
void router_remove_version(router_t *r, router_fn_t *version);
/* Aliases of `latest`. */
router_alias_t *router_find_alias(router_fn_t *latest, const char *name);
/* Add or replace an alias from its stored document; false if malformed. */
bool router_put_alias(router_fn_t *latest, const char *doc);
void router_remove_alias(router_fn_t *latest, const char *name);
/* True when an alias points at `version` (its main or its extra version). */
const char *router_alias_using(const router_fn_t *latest, const char *version);
/* Resolve an invoke's qualifier: NULL/"" /$LATEST, a version number, or an
 * alias (a weighted draw between its versions). NULL when unknown. */
router_fn_t *router_resolve(router_t *r, router_fn_t *latest, const char *qualifier);
/* Set a version's provisioned instances (0 removes); the router starts or
 * releases instances to match, and replaces crashed ones. */
void router_set_provisioned(router_t *r, router_fn_t *version, int n);
/* Provisioned instances of a version that are ready for calls. */
unsigned router_provisioned_ready(const router_fn_t *version);

/* Functions in name order: the i-th, or NULL past the end. */
router_fn_t *router_at(router_t *r, size_t i);
size_t router_count(const router_t *r);
/* Index of the first function whose name is > marker (for paging). */
size_t router_index_after(const router_t *r, const char *marker);

/* Take or drop a reference on a function's state. */
void router_fn_ref(router_fn_t *fn);
void router_fn_unref(router_t *r, router_fn_t *fn);

/* Queue a call and run the scheduler. */
void router_enqueue(router_t *r, call_t *c);
/* Run the scheduler for fn: hand waiting calls to idle instances and start
 * instances for the rest. */
void router_schedule(router_t *r, router_fn_t *fn);
/* An instance of fn failed to start: the oldest waiting call, taken off
 * the queue, when nothing starting or coming back would serve it; else
 * NULL (the call keeps waiting). */
call_t *router_take_unserved(router_fn_t *fn);
/* The same call, failed with why the start failed (missing bootstrap:
 * Runtime.InvalidEntrypoint, else Sandbox.Failure), if there is one. */
void router_start_failed(router_t *r, router_fn_t *fn, const err_t *err);
/* An instance has a free slot (a /next was parked): give it waiting calls. */
void router_instance_ready(router_t *r, instance_t *in);
/* True when the code tree `hex` is used by a function or a live instance. */
bool router_code_in_use(const router_t *r, const char *hex);
/* Live instances over all functions. */
unsigned router_instance_count(const router_t *r);
/* SIGTERM every instance (shutdown). */
void router_stop_all(router_t *r);
/* Instances register here while they live (any function, even deleted). */
void router_instance_added(router_t *r, instance_t *in);
void router_instance_removed(router_t *r, instance_t *in);

/* What the router was given (for the instances and calls it owns). */
core_ctx_t *router_ctx(const router_t *r);

/* Accounts: the one of `id` ("" or NULL: the daemon's --account-id), made
 * with the default limit if new; NULL only without memory. */
router_account_t *router_account(router_t *r, const char *id);
/* Set an account's limit of calls in flight (0: back to the default). Calls
 * already running go on; new ones wait for room. */
int router_account_set_limit(router_t *r, const char *id, unsigned limit);
/* The limit that applies to `a`. */
unsigned router_account_limit(const router_t *r, const router_account_t *a);
/* Every account known, in the order made: the i-th, or NULL past the end. */
router_account_t *router_account_at(router_t *r, size_t i);

/* Concurrency accounting: a call started running / stopped running. Limits:
 * the owner account's calls in flight (router_account_t), the function's
 * reserved concurrency, and at most --max-instances per function (or the
 * reserved concurrency, when lower). */
void router_call_started(router_t *r, router_fn_t *fn);
void router_call_ended(router_t *r, router_fn_t *fn);
/* Why a waiting call of fn cannot run now — Lambda's throttle Reason
 * ("ReservedFunctionConcurrentInvocationLimitExceeded",
 * "ConcurrentInvocationLimitExceeded") — or NULL when it is only waiting
 * for an instance that is on its way. */
const char *router_throttle_reason(const router_t *r, const router_fn_t *fn);
/* The same for one waiting call of fn: also over the limit when the
 * instances on their way are all taken by calls ahead of it in line and no
 * other instance may start. */
const char *router_call_throttle_reason(const router_t *r, const call_t *c);
/* Calls in flight over all functions (every account). */
unsigned router_inflight(const router_t *r);
/* True when fn's account has as many calls in flight as its limit. */
bool router_account_full(const router_t *r, const router_fn_t *fn);
/* Why a new call of fn is refused at once (Lambda's throttle Reason:
 * reserved concurrency 0, or the function's wait line is full), or NULL
 * when it may queue. */
const char *router_refuse_reason(const router_t *r, const router_fn_t *fn);

#endif
