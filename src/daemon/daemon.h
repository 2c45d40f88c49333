/* daemon.h — the running platform (`nimbus serve`): its settings, and the
 * parts it assembles. One per process; nothing below the daemon sees it. */
#ifndef NIMBUS_DAEMON_H
#define NIMBUS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"
#include "core/async.h"
#include "store/queue.h"
#include "daemon/config.h"
#include "transport/runtime_api.h"

typedef struct daemon {
    daemon_config_t cfg;
    loop_t *loop;
    http_server_t *server;       /* the public API (control plane + invoke) */
    rapi_t *rapi;                /* every instance's runtime-API socket */
    store_t *store;
    queue_store_t *queue;        /* the async queue's own store (queue.db) */
    async_t *async;              /* the async queue */
    struct trigger_wheel *triggers; /* the timer triggers, firing into the async queue */
    codestore_t *code;
    logs_t *logs;
    router_t *router;
    core_ctx_t core;             /* what the core is given */
    api_t api;                   /* what the API handlers are given */
    int api_fd;                  /* public listening socket */
    tls_server_t *tls;           /* its certificate when it speaks TLS (--tls-cert), else NULL */
    int lock_fd;                 /* the data dir's nimbus.lock, held until exit */
} daemon_t;

/* Run `nimbus serve` until SIGTERM/SIGINT and a graceful drain. Returns
 * the process exit code. */
int daemon_serve(const daemon_config_t *cfg);

#endif
