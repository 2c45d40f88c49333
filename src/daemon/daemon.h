/* daemon.h — the running platform (`nimbus serve`): the parts every
 * handler reaches, and their settings. One per process, owned by the loop
 * thread. */
#ifndef NIMBUS_DAEMON_H
#define NIMBUS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "store/codestore.h"
#include "io/http.h"
#include "io/loop.h"
#include "store/store.h"

typedef struct logs logs_t;
typedef struct router router_t;

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
    http_server_t *api;          /* the public API (control plane + invoke) */
    http_server_t *rapi;         /* every instance's runtime-API socket */
    store_t *store;
    codestore_t *code;
    logs_t *logs;
    router_t *router;
    bool stopping;               /* SIGTERM received: no new calls */
    int api_fd;                  /* public listening socket */
} daemon_t;

/* Defaults for every setting. */
void daemon_config_defaults(daemon_config_t *c);
/* Run `nimbus serve` until SIGTERM/SIGINT and a graceful drain. Returns
 * the process exit code. */
int daemon_serve(const daemon_config_t *cfg);

/* Answer an exchange with a Lambda-style error: status, x-amzn-ErrorType,
 * x-amzn-RequestId and {"Type":"User","Message"/"message":...}. */
void daemon_respond_error(http_exchange_t *ex, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 404 ResourceNotFoundException "Function not found: <its ARN>" for
 * `name` (and `qualifier`, or NULL). */
void daemon_respond_not_found(http_exchange_t *ex, const char *name, const char *qualifier);
/* Answer with an err_t, mapped to the status and type of its class. */
void daemon_respond_err(http_exchange_t *ex, const err_t *err);
/* Answer with a JSON document (takes ownership of `json`, may be NULL for
 * an empty body). */
void daemon_respond_json(http_exchange_t *ex, int status, char *json);

#endif
