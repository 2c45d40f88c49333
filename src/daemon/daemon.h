/* daemon.h — the running platform (`nimbus serve`): the parts every
 * handler reaches, and their settings. One per process, owned by the loop
 * thread. */
#ifndef NIMBUS_DAEMON_H
#define NIMBUS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/config.h"
#include "store/codestore.h"
#include "io/http.h"
#include "io/loop.h"
#include "store/store.h"

typedef struct logs logs_t;
typedef struct router router_t;

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
