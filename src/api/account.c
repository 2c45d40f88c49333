/* account.c — GetAccountSettings: the daemon's limits and its usage, from
 * the router (functions, reserved concurrency) and the code store (its caps,
 * the bytes it holds and may still hold).
 *
 * Owns nothing but the answer. Must never: report a limit the daemon does
 * not enforce as if it did, or read the disk on the loop thread (the code
 * store is measured on a worker).
 */
#include "api/account.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    api_t *d;
    http_exchange_t *ex;      /* NULL once the client went away */
    int64_t used, free_bytes;
    int rc;
    err_t err;
} job_t;

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
        size_t n = router_count(d->router);
        int64_t reserved = 0;
        for (size_t i = 0; i < n; i++) {
            int r = router_at(d->router, i)->cfg.reserved_concurrency;
            if (r > 0) reserved += r;
        }
        int64_t unreserved = (int64_t)d->cfg.account_concurrency - reserved;
        const codestore_limits_t *lim = codestore_limits(d->code);
        cJSON *o = cJSON_CreateObject();
        cJSON *al = cJSON_AddObjectToObject(o, "AccountLimit");
        cJSON_AddNumberToObject(al, "TotalCodeSize", (double)(j->used + j->free_bytes));
        cJSON_AddNumberToObject(al, "CodeSizeUnzipped", (double)lim->max_unzipped_bytes);
        cJSON_AddNumberToObject(al, "CodeSizeZipped", (double)lim->max_zip_bytes);
        cJSON_AddNumberToObject(al, "ConcurrentExecutions", d->cfg.account_concurrency);
        cJSON_AddNumberToObject(al, "UnreservedConcurrentExecutions", (double)(unreserved > 0 ? unreserved : 0));
        cJSON *au = cJSON_AddObjectToObject(o, "AccountUsage");
        cJSON_AddNumberToObject(au, "TotalCodeSize", (double)j->used);
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
    http_exchange_on_abort(ex, gone, j);
    loop_submit(d->loop, work, done, j);
}
