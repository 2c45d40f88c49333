/* write.c — a write of a function's stored documents (an EventInvokeConfig,
 * a function URL...): stored on a worker, then applied and answered on the
 * loop thread, one write at a time per function.
 *
 * Owns the exchange while the store works. Must never: apply or answer a
 * write the store did not take, or answer a client that went away.
 */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    api_t *d;
    http_exchange_t *ex;        /* NULL once the client went away */
    char function[65];
    api_work_fn work;
    api_done_fn done;
    void *arg;
    int rc;
    err_t err;
} write_t;

static void gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((write_t *)arg)->ex = NULL;
}

static void work(void *arg)
{
    write_t *w = arg;
    uint64_t t0 = loop_now_ns();
    w->rc = w->work(w->d->store, w->arg, &w->err);
    store_write_observe(STORE_WRITE_CONTROL, loop_now_ns() - t0);
}

static void done(loop_t *l, void *arg)
{
    (void)l;
    write_t *w = arg;
    /* Looked up again: the function may have gone meanwhile. */
    router_fn_t *latest = router_find(w->d->router, w->function);
    if (latest) latest->updating = false;
    http_exchange_t *ex = w->ex;
    if (w->rc < 0 && ex) {
        api_respond_err(ex, &w->err);
        ex = NULL;
    }
    w->done(w->d, ex, w->arg, w->rc);
    free(w);
}

void api_write(api_t *d, http_exchange_t *ex, router_fn_t *latest, api_work_fn fn, api_done_fn cb, void *arg)
{
    write_t *w = calloc(1, sizeof *w);
    if (!w) {
        api_respond_error(ex, 500, "ServiceException", "out of memory");
        cb(d, NULL, arg, -1);
        return;
    }
    *w = (write_t){ .d = d, .ex = ex, .work = fn, .done = cb, .arg = arg };
    memcpy(w->function, latest->cfg.name, sizeof w->function);
    http_exchange_on_abort(ex, gone, w);
    latest->updating = true;
    loop_submit(d->loop, work, done, w);
}
