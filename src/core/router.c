/* router.c — the name table and the scheduler of every function's pool.
 *
 * Owns: router_fn_t objects (a sorted array for lookups and ListFunctions
 * order) and the decisions "which instance serves this call" and "start
 * another instance". Must never: do I/O on the call path, or start more
 * instances than calls that would otherwise wait.
 */
#include "core/router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/log.h"
#include "base/util.h"
#include "core/call.h"
#include "core/instance.h"
#include "store/codestore.h"

struct router {
    core_ctx_t *ctx;
    router_fn_t **fns;   /* sorted by name */
    size_t nfns, cap;
    list_node_t all;     /* every live instance (instance_t.all_link) */
    unsigned n_instances;
    unsigned inflight;   /* calls running, all functions of every account */
    router_account_t **accounts; /* each its own allocation: functions point at them */
    size_t naccounts;
};

router_t *router_new(core_ctx_t *ctx)
{
    router_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->ctx = ctx;
    list_init(&r->all);
    return r;
}

core_ctx_t *router_ctx(const router_t *r) { return r->ctx; }

/* ---- accounts ---- */

router_account_t *router_account(router_t *r, const char *id)
{
    if (!id || !*id) id = util_account();
    for (size_t i = 0; i < r->naccounts; i++)
        if (strcmp(r->accounts[i]->id, id) == 0) return r->accounts[i];
    router_account_t **p = realloc(r->accounts, (r->naccounts + 1) * sizeof *p);
    if (!p) return NULL;
    r->accounts = p;
    router_account_t *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    snprintf(a->id, sizeof a->id, "%s", id);
    r->accounts[r->naccounts++] = a;
    return a;
}

int router_account_set_limit(router_t *r, const char *id, unsigned limit)
{
    router_account_t *a = router_account(r, id);
    if (!a) return -1;
    a->limit = limit;
    return 0;
}

unsigned router_account_limit(const router_t *r, const router_account_t *a)
{
    return a->limit ? a->limit : r->ctx->limits.account_concurrency;
}

router_account_t *router_account_at(router_t *r, size_t i) { return i < r->naccounts ? r->accounts[i] : NULL; }

bool router_account_full(const router_t *r, const router_fn_t *fn)
{
    return fn->account->inflight >= router_account_limit(r, fn->account);
}

static void fail_queue_not_found(router_t *r, router_fn_t *fn);
static void retire_all(router_t *r, router_fn_t *fn);
static router_fn_t *fn_new(router_t *r, const function_config_t *cfg);
static void schedule(router_t *r, router_fn_t *fn);

static size_t lower_bound(const router_t *r, const char *name, bool *found)
{
    size_t lo = 0, hi = r->nfns;
    *found = false;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->fns[mid]->cfg.name, name);
        if (c == 0) { *found = true; return mid; }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

router_fn_t *router_find(router_t *r, const char *name)
{
    bool found;
    size_t i = lower_bound(r, name, &found);
    return found ? r->fns[i] : NULL;
}

size_t router_count(const router_t *r) { return r->nfns; }
router_fn_t *router_at(router_t *r, size_t i) { return i < r->nfns ? r->fns[i] : NULL; }

size_t router_index_after(const router_t *r, const char *marker)
{
    bool found;
    size_t i = lower_bound(r, marker, &found);
    return found ? i + 1 : i;
}

static void set_code_dir(router_t *r, router_fn_t *fn)
{
    codestore_tree_path(r->ctx->code, fn->cfg.code_hex, fn->code_dir, sizeof fn->code_dir);
    fn->opt_dir[0] = '\0';
    if (fn->cfg.opt_hex[0]) codestore_tree_path(r->ctx->code, fn->cfg.opt_hex, fn->opt_dir, sizeof fn->opt_dir);
}

router_fn_t *router_add(router_t *r, const function_config_t *cfg)
{
    bool found;
    size_t i = lower_bound(r, cfg->name, &found);
    if (found) return NULL;
    if (r->nfns == r->cap) {
        size_t n = r->cap ? r->cap * 2 : 16;
        router_fn_t **p = realloc(r->fns, n * sizeof *p);
        if (!p) return NULL;
        r->fns = p;
        r->cap = n;
    }
    router_fn_t *fn = fn_new(r, cfg);   /* its one ref: the name table's */
    if (!fn) return NULL;
    function_owner_set(cfg->name, cfg->owner);
    memmove(r->fns + i + 1, r->fns + i, (r->nfns - i) * sizeof *r->fns);
    r->fns[i] = fn;
    r->nfns++;
    instance_warm(r, fn);   /* its runtime ready before its first call (loaded at start, or created) */
    return fn;
}

/* After an update every idle instance runs the old generation: retire
 * them now; busy ones go when their call ends (stale on their next /next). */
static void retire_idle(router_t *r, router_fn_t *fn)
{
    list_each(n, &fn->pool.idle) instance_terminate(list_entry(n, instance_t, idle_link));
}

void router_update(router_t *r, router_fn_t *fn, const function_config_t *cfg)
{
    function_config_free(&fn->cfg);
    function_config_copy(&fn->cfg, cfg);
    set_code_dir(r, fn);
    fn->generation++;
    fn->updated = true;
    instance_warm(r, fn);   /* its runtime may have changed */
    retire_idle(r, fn);
    /* Starting instances run the old code too; they retire on their first
     * /next. Calls waiting for them need new ones. */
    router_schedule(r, fn);
}

cJSON *router_config_json(router_t *r, const router_fn_t *fn, const function_config_t *c)
{
    cJSON *o = function_config_to_api_json(c);
    if (!o || !instance_warming(r, fn, c)) return o;
    /* Lambda's words for a function whose resources are being made. */
    static const char why[] = "The function is being created.";
    if (fn->updated && strcmp(c->version, "$LATEST") == 0) {
        cJSON_ReplaceItemInObjectCaseSensitive(o, "LastUpdateStatus", cJSON_CreateString("InProgress"));
        cJSON_AddStringToObject(o, "LastUpdateStatusReason", why);
        cJSON_AddStringToObject(o, "LastUpdateStatusReasonCode", "Creating");
    } else {
        cJSON_ReplaceItemInObjectCaseSensitive(o, "State", cJSON_CreateString("Pending"));
        cJSON_AddStringToObject(o, "StateReason", why);
        cJSON_AddStringToObject(o, "StateReasonCode", "Creating");
    }
    return o;
}

void router_remove(router_t *r, router_fn_t *fn)
{
    bool found;
    size_t i = lower_bound(r, fn->cfg.name, &found);
    if (!found || r->fns[i] != fn) return;
    function_owner_set(fn->cfg.name, NULL);
    memmove(r->fns + i, r->fns + i + 1, (r->nfns - i - 1) * sizeof *r->fns);
    r->nfns--;
    fn->deleted = true;
    fail_queue_not_found(r, fn);
    retire_all(r, fn);
    while (fn->nversions) router_remove_version(r, fn->versions[fn->nversions - 1]);
    while (fn->naliases) router_remove_alias(fn, fn->aliases[fn->naliases - 1].name);
    router_fn_unref(r, fn);
}

void router_fn_ref(router_fn_t *fn) { fn->refs++; }

void router_fn_unref(router_t *r, router_fn_t *fn)
{
    (void)r;
    if (--fn->refs > 0) return;
    for (size_t i = 0; i < fn->naliases; i++) free(fn->aliases[i].doc);
    free(fn->aliases);
    free(fn->versions);
    function_config_free(&fn->cfg);
    metrics_fn_free(&fn->metrics);
    router_fn_t *latest = fn->latest;
    free(fn);
    if (latest) router_fn_unref(r, latest);
}

/* ---- versions ---- */

static router_fn_t *fn_new(router_t *r, const function_config_t *cfg)
{
    router_fn_t *fn = calloc(1, sizeof *fn);
    if (!fn) return NULL;
    /* Its owner's counter, found once here rather than on every call. */
    if (!(fn->account = router_account(r, cfg->owner))) { free(fn); return NULL; }
    function_config_copy(&fn->cfg, cfg);
    pool_init(&fn->pool);
    fn->refs = 1;
    set_code_dir(r, fn);
    return fn;
}

router_fn_t *router_find_version(router_fn_t *latest, const char *version)
{
    for (size_t i = 0; i < latest->nversions; i++)
        if (strcmp(latest->versions[i]->cfg.version, version) == 0) return latest->versions[i];
    return NULL;
}

router_fn_t *router_add_version(router_t *r, router_fn_t *latest, const function_config_t *cfg)
{
    router_fn_t **p = realloc(latest->versions, (latest->nversions + 1) * sizeof *p);
    if (!p) return NULL;
    latest->versions = p;
    router_fn_t *v = fn_new(r, cfg);
    if (!v) return NULL;
    v->latest = latest;
    v->account = latest->account;   /* a version's calls are its function's owner's */
    /* A version's calls may outlive its function's deletion and still count
     * into the function's figures (metrics): the version keeps it alive. */
    router_fn_ref(latest);
    /* Ascending by number (loaded in order; published ones are the newest). */
    size_t i = latest->nversions;
    int num = atoi(cfg->version);
    while (i > 0 && atoi(latest->versions[i - 1]->cfg.version) > num) {
        latest->versions[i] = latest->versions[i - 1];
        i--;
    }
    latest->versions[i] = v;
    latest->nversions++;
    router_schedule(r, v);   /* provisioned instances, if any */
    return v;
}

static void fail_queue_not_found(router_t *r, router_fn_t *fn)
{
    char arn[200], msg[260];
    function_arn(fn->cfg.name, strcmp(fn->cfg.version, "$LATEST") ? fn->cfg.version : NULL, arn, sizeof arn);
    snprintf(msg, sizeof msg, "Function not found: %s", arn);
    list_each(n, &fn->pool.queue) call_reject(list_entry(n, call_t, link), 404, "ResourceNotFoundException", msg);
}

static void retire_all(router_t *r, router_fn_t *fn)
{
    list_each(n, &fn->pool.instances) {
        instance_t *in = list_entry(n, instance_t, fn_link);
        /* Busy ones finish their calls first (stale on their next /next). */
        if (in->state == INST_STARTING || in->n_busy == 0) instance_terminate(in);
    }
}

void router_remove_version(router_t *r, router_fn_t *v)
{
    router_fn_t *latest = v->latest;
    size_t i = 0;
    while (i < latest->nversions && latest->versions[i] != v) i++;
    if (i == latest->nversions) return;
    memmove(latest->versions + i, latest->versions + i + 1, (latest->nversions - i - 1) * sizeof *latest->versions);
    latest->nversions--;
    v->deleted = true;
    v->cfg.provisioned = 0;
    fail_queue_not_found(r, v);
    retire_all(r, v);
    router_fn_unref(r, v);
}

/* ---- aliases ---- */

router_alias_t *router_find_alias(router_fn_t *latest, const char *name)
{
    for (size_t i = 0; i < latest->naliases; i++)
        if (strcmp(latest->aliases[i].name, name) == 0) return &latest->aliases[i];
    return NULL;
}

bool router_put_alias(router_fn_t *latest, const char *doc)
{
    cJSON *o = cJSON_Parse(doc);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "Name");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(o, "FunctionVersion");
    if (!cJSON_IsString(name) || !cJSON_IsString(ver)) { cJSON_Delete(o); return false; }
    router_alias_t a = { .extra_weight = 0 };
    snprintf(a.name, sizeof a.name, "%s", name->valuestring);
    snprintf(a.version, sizeof a.version, "%s", ver->valuestring);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "RoutingConfig"),
                                                      "AdditionalVersionWeights");
    if (w && w->child && cJSON_IsNumber(w->child)) {
        snprintf(a.extra_version, sizeof a.extra_version, "%s", w->child->string);
        a.extra_weight = w->child->valuedouble;
    }
    cJSON_Delete(o);
    a.doc = strdup(doc);
    if (!a.doc) return false;
    router_alias_t *old = router_find_alias(latest, a.name);
    if (old) {
        free(old->doc);
        *old = a;
        return true;
    }
    router_alias_t *p = realloc(latest->aliases, (latest->naliases + 1) * sizeof *p);
    if (!p) { free(a.doc); return false; }
    latest->aliases = p;
    size_t i = latest->naliases;   /* keep them in name order (ListAliases) */
    while (i > 0 && strcmp(p[i - 1].name, a.name) > 0) { p[i] = p[i - 1]; i--; }
    p[i] = a;
    latest->naliases++;
    return true;
}

void router_remove_alias(router_fn_t *latest, const char *name)
{
    router_alias_t *a = router_find_alias(latest, name);
    if (!a) return;
    free(a->doc);
    size_t i = (size_t)(a - latest->aliases);
    memmove(a, a + 1, (latest->naliases - i - 1) * sizeof *a);
    latest->naliases--;
}

const char *router_alias_using(const router_fn_t *latest, const char *version)
{
    for (size_t i = 0; i < latest->naliases; i++)
        if (strcmp(latest->aliases[i].version, version) == 0 || strcmp(latest->aliases[i].extra_version, version) == 0)
            return latest->aliases[i].name;
    return NULL;
}

router_fn_t *router_resolve(router_t *r, router_fn_t *latest, const char *q)
{
    (void)r;
    if (!q || !*q || strcmp(q, "$LATEST") == 0) return latest;
    if (strspn(q, "0123456789") == strlen(q)) return router_find_version(latest, q);
    router_alias_t *a = router_find_alias(latest, q);
    if (!a) return NULL;
    const char *v = a->version;
    if (a->extra_version[0] && util_random_unit() < a->extra_weight) v = a->extra_version;
    return strcmp(v, "$LATEST") == 0 ? latest : router_find_version(latest, v);
}

/* ---- provisioned instances ---- */

unsigned router_provisioned_ready(const router_fn_t *v)
{
    unsigned n = 0;
    list_each(it, &v->pool.instances) {
        instance_t *in = list_entry(it, instance_t, fn_link);
        if (in->provisioned && in->state == INST_READY) n++;
    }
    return n;
}

void router_set_provisioned(router_t *r, router_fn_t *v, int n)
{
    v->cfg.provisioned = n;
    unsigned keep = (unsigned)n;
    list_each(it, &v->pool.instances) {
        instance_t *in = list_entry(it, instance_t, fn_link);
        if (!in->provisioned || in->state == INST_STOPPING) continue;
        if (keep) keep--;
        else instance_unprovision(in);   /* an ordinary instance now: keep-alive applies */
    }
    router_schedule(r, v);
}

/* Start what is missing of fn's provisioned instances (after a change, or a
 * crash of one). */
static void provision(router_t *r, router_fn_t *fn)
{
    unsigned have = 0;
    list_each(it, &fn->pool.instances) {
        instance_t *in = list_entry(it, instance_t, fn_link);
        if (in->provisioned && in->state != INST_STOPPING) have++;
    }
    while (have < (unsigned)fn->cfg.provisioned) {
        err_t err;
        if (!instance_start(r, fn, true, &err)) {
            log_warn("cannot start a provisioned instance of %s:%s: %s", fn->cfg.name, fn->cfg.version, err.msg);
            return;
        }
        have++;
    }
}

void router_enqueue(router_t *r, call_t *c)
{
    pool_push(&c->fn->pool, &c->link);
    router_schedule(r, c->fn);
}

static call_t *dequeue(router_fn_t *fn)
{
    list_node_t *n = pool_pop(&fn->pool);
    return n ? list_entry(n, call_t, link) : NULL;
}

static unsigned max_instances(const router_t *r, const router_fn_t *fn)
{
    unsigned max = r->ctx->limits.max_instances_per_fn;
    if (fn->cfg.reserved_concurrency >= 0 && (unsigned)fn->cfg.reserved_concurrency < max)
        max = (unsigned)fn->cfg.reserved_concurrency;
    return max;
}

/* May one more call of fn run now? */
static bool can_run(const router_t *r, const router_fn_t *fn)
{
    if (fn->cfg.reserved_concurrency >= 0 && pool_inflight(&fn->pool) >= (unsigned)fn->cfg.reserved_concurrency)
        return false;
    if (router_account_full(r, fn)) {
        fn->account->starved = true;
        return false;
    }
    return true;
}

const char *router_throttle_reason(const router_t *r, const router_fn_t *fn)
{
    bool reserved = fn->cfg.reserved_concurrency >= 0;
    if (reserved && pool_inflight(&fn->pool) >= (unsigned)fn->cfg.reserved_concurrency)
        return "ReservedFunctionConcurrentInvocationLimitExceeded";
    if (router_account_full(r, fn)) return "ConcurrentInvocationLimitExceeded";
    /* No room for another instance and none on its way: over the
     * function's instance limit. */
    if (pool_instances(&fn->pool) >= max_instances(r, fn) && pool_starting(&fn->pool) == 0 && pool_returning(&fn->pool) == 0)
        return reserved ? "ReservedFunctionConcurrentInvocationLimitExceeded" : "ConcurrentInvocationLimitExceeded";
    return NULL;
}

const char *router_call_throttle_reason(const router_t *r, const call_t *c)
{
    const router_fn_t *fn = c->fn;
    const char *reason = router_throttle_reason(r, fn);
    if (reason || pool_instances(&fn->pool) < max_instances(r, fn)) return reason;
    /* Instances are on their way, but no other may start and more calls
     * wait ahead of this one than they will take: it is over the limit as
     * surely as with none coming. (A burst whose scale-out outlasts the
     * wait would otherwise keep its surplus waiting until the deadline.) */
    unsigned coming = pool_starting(&fn->pool) * (unsigned)fn->cfg.instance_concurrency + pool_returning(&fn->pool);
    unsigned ahead = 0;
    for (const list_node_t *n = fn->pool.queue.next; n != &fn->pool.queue && n != &c->link && ahead < coming; n = n->next)
        ahead++;
    if (ahead < coming) return NULL;
    return fn->cfg.reserved_concurrency >= 0 ? "ReservedFunctionConcurrentInvocationLimitExceeded"
                                             : "ConcurrentInvocationLimitExceeded";
}

unsigned router_inflight(const router_t *r) { return r->inflight; }

const char *router_refuse_reason(const router_t *r, const router_fn_t *fn)
{
    if (fn->cfg.reserved_concurrency == 0) return "ReservedFunctionConcurrentInvocationLimitExceeded";
    if (pool_queued(&fn->pool) >= r->ctx->limits.max_queue) return "ConcurrentInvocationLimitExceeded";
    return NULL;
}

void router_call_started(router_t *r, router_fn_t *fn)
{
    r->inflight++;
    fn->account->inflight++;
    pool_call_started(&fn->pool);
}

/* Room freed on a starved account: each of its functions and versions
 * with waiting calls gets a turn, in name order. Other accounts' calls
 * never waited on this one's limit. */
static void schedule_account(router_t *r, const router_account_t *a)
{
    for (size_t i = 0; i < r->nfns; i++) {
        router_fn_t *fn = r->fns[i];
        if (fn->account != a) continue;
        if (pool_queued(&fn->pool)) router_schedule(r, fn);
        for (size_t k = 0; k < fn->nversions; k++)
            if (pool_queued(&fn->versions[k]->pool)) router_schedule(r, fn->versions[k]);
    }
}

void router_call_ended(router_t *r, router_fn_t *fn)
{
    router_account_t *a = fn->account;
    r->inflight--;
    a->inflight--;
    pool_call_ended(&fn->pool);
    if (a->starved && !router_account_full(r, fn)) {
        a->starved = false;
        schedule_account(r, a);
    } else if (pool_queued(&fn->pool)) {
        router_schedule(r, fn);
    }
    if (r->ctx->capacity_freed) r->ctx->capacity_freed(r->ctx->capacity_arg, fn);
}

void router_schedule(router_t *r, router_fn_t *fn)
{
    /* A call failed or delivered here may hold fn's last reference (a
     * deleted function's): fn must outlive the loops below. */
    router_fn_ref(fn);
    schedule(r, fn);
    router_fn_unref(r, fn);
}

static void schedule(router_t *r, router_fn_t *fn)
{
    if (fn->cfg.provisioned > 0 && !fn->deleted && !r->ctx->stopping) provision(r, fn);
    /* Warm path: most recently parked instance first, so the others cool
     * down and can be reclaimed. */
    while (pool_queued(&fn->pool) && !list_empty(&fn->pool.idle) && can_run(r, fn)) {
        instance_t *in = list_entry(fn->pool.idle.prev, instance_t, idle_link);
        call_t *c = dequeue(fn);
        instance_deliver(in, c);
    }
    if (fn->deleted || r->ctx->stopping) return;
    /* Cold path: one new instance per call that nothing on its way will
     * take, all started now, in parallel. */
    unsigned coming = pool_starting(&fn->pool) * (unsigned)fn->cfg.instance_concurrency + pool_returning(&fn->pool);
    while (pool_queued(&fn->pool) > coming && pool_instances(&fn->pool) < max_instances(r, fn) && can_run(r, fn)) {
        err_t err;
        instance_t *in = instance_start(r, fn, false, &err);
        if (!in) {
            /* Nothing would ever serve the head call: fail it with the
             * reason (e.g. no bootstrap). */
            router_start_failed(r, fn, &err);
            continue;
        }
        coming++;
    }
}

call_t *router_take_unserved(router_fn_t *fn)
{
    unsigned coming = pool_starting(&fn->pool) * (unsigned)fn->cfg.instance_concurrency + pool_returning(&fn->pool);
    return pool_queued(&fn->pool) > coming ? dequeue(fn) : NULL;
}

void router_start_failed(router_t *r, router_fn_t *fn, const err_t *err)
{
    call_t *c = router_take_unserved(fn);
    if (!c) return;
    if (err->code == ERR_SYS && (err->sys_errno == EMFILE || err->sys_errno == ENFILE)) {
        /* Out of descriptors (ours, the spawner's or the system's): the
         * platform is overloaded, the function is not at fault and never
         * ran. A 5xx the SDKs retry. */
        char msg[400];
        snprintf(msg, sizeof msg, "Service overloaded: no file descriptor left to start an instance (%s); "
                 "the function did not run, try again later", err->msg);
        call_reject(c, 503, "ServiceException", msg);
        return;
    }
    call_fail(c, err->code == ERR_INVALID ? "Runtime.InvalidEntrypoint" : "Sandbox.Failure", "%s", err->msg);
}

void router_instance_ready(router_t *r, instance_t *in)
{
    /* A slot just freed: the oldest waiting call takes it. */
    while (in->n_free && in->state == INST_READY && can_run(r, in->fn)) {
        call_t *c = dequeue(in->fn);
        if (!c) return;
        instance_deliver(in, c);
    }
}

bool router_code_in_use(const router_t *r, const char *hex)
{
    for (size_t i = 0; i < r->nfns; i++) {
        router_fn_t *fn = r->fns[i];
        if (strcmp(fn->cfg.code_hex, hex) == 0 || strcmp(fn->cfg.opt_hex, hex) == 0) return true;
        for (size_t k = 0; k < fn->nversions; k++)
            if (strcmp(fn->versions[k]->cfg.code_hex, hex) == 0 || strcmp(fn->versions[k]->cfg.opt_hex, hex) == 0)
                return true;
    }
    list_each(n, &r->all) {
        instance_t *in = list_entry(n, instance_t, all_link);
        if (strcmp(in->code_hex, hex) == 0 || strcmp(in->opt_hex, hex) == 0) return true;
    }
    return false;
}

void router_instance_added(router_t *r, instance_t *in)
{
    list_push_back(&r->all, &in->all_link);
    r->n_instances++;
}

void router_instance_removed(router_t *r, instance_t *in)
{
    list_remove(&in->all_link);
    r->n_instances--;
}

unsigned router_instance_count(const router_t *r) { return r->n_instances; }

void router_stop_all(router_t *r)
{
    list_each(n, &r->all) instance_terminate(list_entry(n, instance_t, all_link));
}

void router_free(router_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nfns; i++) {
        router_fn_t *fn = r->fns[i];
        for (size_t k = 0; k < fn->nversions; k++) router_fn_unref(r, fn->versions[k]);
        fn->nversions = 0;
        router_fn_unref(r, fn);
    }
    free(r->fns);
    for (size_t i = 0; i < r->naccounts; i++) free(r->accounts[i]);
    free(r->accounts);
    free(r);
}
