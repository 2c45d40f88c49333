/* daemon.h — the running platform (`nimbus serve`): its settings, and the
 * parts it assembles. One per process; nothing below the daemon sees it. */
#ifndef NIMBUS_DAEMON_H
#define NIMBUS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"
#include "transport/runtime_api.h"

typedef struct {
    char listen_host[64];        /* --listen host (default 127.0.0.1) */
    int listen_port;             /* --listen port (default 8080; 0 picks one) */
    char data_dir[512];          /* --data-dir (default ./data) */
    size_t max_zip_bytes;        /* --max-zip-bytes, default 50 MB */
    size_t max_unzipped_bytes;   /* --max-unzipped-bytes, default 250 MB */
    size_t invoke_max_bytes;     /* sync payload limit, 6 MB (6291456) */
    int max_instances_per_fn;    /* default 100 */
    int account_concurrency;     /* --account-concurrency: calls in flight, all functions (1000) */
    int keep_alive_s;            /* --keep-alive: idle instance reclaimed after (120 s) */
    int throttle_wait_ms;        /* --throttle-wait-ms: how long a call over the limits
                                    waits for room before its 429 (5000) */
    int max_queue;               /* waiting calls per function before an immediate 429 */
    int workers;                 /* worker threads for blocking work */
    char runtime_dir[512];       /* --runtime-dir: language bootstraps ("" = default) */
    bool sandbox;                /* instances in sandboxes (--sandbox / --insecure-no-sandbox) */
    int sandbox_pool;            /* --sandbox-pool: sandboxes made ahead of calls (4) */
    char user[64];               /* --user: drop to this user after start-up ("" = stay) */
} daemon_config_t;

typedef struct daemon {
    daemon_config_t cfg;
    loop_t *loop;
    http_server_t *server;       /* the public API (control plane + invoke) */
    rapi_t *rapi;                /* every instance's runtime-API socket */
    store_t *store;
    codestore_t *code;
    logs_t *logs;
    router_t *router;
    core_ctx_t core;             /* what the core is given */
    api_t api;                   /* what the API handlers are given */
    int api_fd;                  /* public listening socket */
} daemon_t;

/* Defaults for every setting. */
void daemon_config_defaults(daemon_config_t *c);
/* Run `nimbus serve` until SIGTERM/SIGINT and a graceful drain. Returns
 * the process exit code. */
int daemon_serve(const daemon_config_t *cfg);

#endif
