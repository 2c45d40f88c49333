/* transport.h — how calls reach an instance and answers come back: one
 * interface, implemented once per contract (the Lambda runtime API and
 * Tencent SCF's variant of it in transport/runtime_api.c; Alibaba FC's HTTP
 * server contract in transport/fc.c).
 *
 * The core never asks which contract an instance speaks; it calls these.
 * A transport tells the core what happened through the instance and call
 * functions (instance_slot_opened, instance_ready, call_complete, ...).
 * Every member may be NULL where a contract has nothing to do.
 */
#ifndef NIMBUS_TRANSPORT_H
#define NIMBUS_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

typedef struct instance instance_t;
typedef struct call call_t;
typedef struct envlist envlist_t;
typedef struct transport transport_t;

struct transport {
    const char *name;
    void *self;                         /* the transport's own state */
    /* Before the sandbox is made: take what the instance needs (FC: the
     * port its server must listen on) and add to its environment. */
    int (*prepare)(instance_t *in, envlist_t *env, err_t *err);
    /* The sandbox is up and its runtime started: begin talking to it
     * (serve its runtime-API socket; wait for its server). */
    int (*attach)(instance_t *in, err_t *err);
    /* The init phase may last at most this long for this instance. */
    uint64_t (*init_limit_ms)(const instance_t *in, uint64_t dflt);
    /* The init phase ran out: record why if the contract says more than
     * "timed out" (instance_init_failed). */
    void (*init_timed_out)(instance_t *in);
    /* Hand call c to one of the instance's free slots (the core has taken
     * the slot: instance_t.n_free is already one less). */
    void (*deliver)(instance_t *in, call_t *c);
    /* A graceful stop of a ready instance: tell the runtime, then call
     * `then` (at once when the contract has no such hook). */
    void (*pre_stop)(instance_t *in, void (*then)(instance_t *));
    /* The instance's process is gone: drop its connections and state. */
    void (*detach)(instance_t *in);
};

/* An instance's environment as it is being built (NAME=VALUE strings). */
struct envlist {
    char *items[64 + 256 + 1];
    unsigned n;
};
void envlist_add(envlist_t *e, const char *key, const char *value);
void envlist_addf(envlist_t *e, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void envlist_free(envlist_t *e);

#endif
