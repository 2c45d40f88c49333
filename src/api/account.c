/* account.c — GetAccountSettings: the caller's account's limits and usage,
 * from the router (its limit of calls in flight, its functions, their
 * reserved concurrency and packages) and the code store (its caps, the
 * bytes it holds and may still hold); and the account rule of
 * PutFunctionConcurrency.
 *
 * Owns nothing but the answers. Must never: report a limit the daemon does
 * not enforce as if it did, show one account another's figures, or read the
 * disk on the loop thread (the code store is measured on a worker).
 */
#include "api/account.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"

#define UNRESERVED_MIN 100u   /* Lambda's floor of an account's unreserved concurrency */

typedef struct {
    api_t *d;
    http_exchange_t *ex;      /* NULL once the client went away */
    char account[13];         /* the caller's ("" no credentials: the daemon's one account, every function) */
    int64_t used, free_bytes;
    int rc;
    err_t err;
} job_t;

unsigned account_unreserved_min(unsigned limit) { return limit < UNRESERVED_MIN ? limit : UNRESERVED_MIN; }

/* What the functions of `acct` (NULL: every function) reserve, leaving out
 * `except`; and how many there are. Versions reserve nothing of their own. */
static int64_t reserved_of(router_t *r, const router_account_t *acct, const router_fn_t *except, size_t *count)
{
    int64_t reserved = 0;
    size_t n = 0;
    for (size_t i = 0; i < router_count(r); i++) {
        const router_fn_t *fn = router_at(r, i);
        if (acct && fn->account != acct) continue;
        n++;
        if (fn != except && fn->cfg.reserved_concurrency > 0) reserved += fn->cfg.reserved_concurrency;
    }
    if (count) *count = n;
    return reserved;
}

bool account_check_reserve(api_t *d, http_exchange_t *ex, const router_fn_t *fn, int value)
{
    unsigned limit = router_account_limit(d->router, fn->account);
    if (value > (int64_t)limit) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                          "Specified ReservedConcurrentExecutions for function (%d) is above the account's concurrency limit of [%u].",
                          value, limit);
        return false;
    }
    /* Lowering or removing a reservation is always allowed, even on an
     * account whose limit was cut below what it has reserved. */
    if (value <= 0) return true;
    int64_t others = reserved_of(d->router, fn->account, fn, NULL);
    unsigned min = account_unreserved_min(limit);
    if ((int64_t)limit - others - value < (int64_t)min) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                          "Specified ReservedConcurrentExecutions for function decreases account's "
                          "UnreservedConcurrentExecution below its minimum value of [%u].", min);
        return false;
    }
    return true;
}

static int cfg_cmp(const void *a, const void *b)
{
    return strcmp((*(const function_config_t *const *)a)->code_hex, (*(const function_config_t *const *)b)->code_hex);
}

/* The ZIP bytes of acct's functions and versions, each distinct package
 * once (they are stored once). Memory only: the sizes are in their
 * configurations. -1 without memory. */
static int64_t code_of(router_t *r, const router_account_t *acct)
{
    size_t n = 0;
    for (size_t i = 0; i < router_count(r); i++) {
        const router_fn_t *fn = router_at(r, i);
        if (fn->account == acct) n += 1 + fn->nversions;
    }
    const function_config_t **cfgs = calloc(n ? n : 1, sizeof *cfgs);
    if (!cfgs) return -1;
    size_t k = 0;
    for (size_t i = 0; i < router_count(r); i++) {
        const router_fn_t *fn = router_at(r, i);
        if (fn->account != acct) continue;
        cfgs[k++] = &fn->cfg;
        for (size_t v = 0; v < fn->nversions; v++) cfgs[k++] = &fn->versions[v]->cfg;
    }
    qsort(cfgs, n, sizeof *cfgs, cfg_cmp);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (!i || strcmp(cfgs[i]->code_hex, cfgs[i - 1]->code_hex) != 0) total += cfgs[i]->code_size;
    free(cfgs);
    return total;
}

static void gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((job_t *)arg)->ex = NULL;
}

static void work(void *arg)
{
    job_t *j = arg;
    j->rc = codestore_usage(j->d->code, &j->used, &j->free_bytes, &j->err);
}

static void done(loop_t *l, void *arg)
{
    (void)l;
    job_t *j = arg;
    api_t *d = j->d;
    if (j->ex && j->rc < 0) {
        api_respond_err(j->ex, &j->err);
    } else if (j->ex) {
        router_account_t *acct = router_account(d->router, j->account);
        int64_t used = j->used;
        if (acct && j->account[0]) used = code_of(d->router, acct);
        if (!acct || used < 0) {
            api_respond_error(j->ex, 500, "ServiceException", "out of memory");
            free(j);
            return;
        }
        size_t n;
        int64_t reserved = reserved_of(d->router, j->account[0] ? acct : NULL, NULL, &n);
        unsigned limit = router_account_limit(d->router, acct);
        int64_t unreserved = (int64_t)limit - reserved;
        const codestore_limits_t *lim = codestore_limits(d->code);
        cJSON *o = cJSON_CreateObject();
        cJSON *al = cJSON_AddObjectToObject(o, "AccountLimit");
        cJSON_AddNumberToObject(al, "TotalCodeSize", (double)(j->used + j->free_bytes));
        cJSON_AddNumberToObject(al, "CodeSizeUnzipped", (double)lim->max_unzipped_bytes);
        cJSON_AddNumberToObject(al, "CodeSizeZipped", (double)lim->max_zip_bytes);
        cJSON_AddNumberToObject(al, "ConcurrentExecutions", limit);
        cJSON_AddNumberToObject(al, "UnreservedConcurrentExecutions", (double)(unreserved > 0 ? unreserved : 0));
        cJSON *au = cJSON_AddObjectToObject(o, "AccountUsage");
        cJSON_AddNumberToObject(au, "TotalCodeSize", (double)used);
        cJSON_AddNumberToObject(au, "FunctionCount", (double)n);
        api_respond_doc(j->ex, 200, o);
    }
    free(j);
}

void account_route(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p)
{
    (void)p;
    api_t *d = ctx;
    if (strcmp(req->method, "GET") != 0) {
        api_respond_error(ex, 405, "MethodNotAllowedException", "Method %s not allowed here", req->method);
        return;
    }
    job_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_respond_error(ex, 500, "ServiceException", "out of memory");
        return;
    }
    j->d = d;
    j->ex = ex;
    const auth_key_t *k = auth_principal(req);
    if (k) memcpy(j->account, k->account, sizeof j->account);
    http_exchange_on_abort(ex, gone, j);
    loop_submit(d->loop, work, done, j);
}
