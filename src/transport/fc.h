/* fc.h — Alibaba Function Compute's custom-runtime contract (runtime
 * `provided.fc`, lambda-api.md §6): the instance runs an HTTP server and the
 * daemon is its client.
 *
 * The daemon waits for the server's port to open (start-up), calls
 * `POST /initialize` once when the function sets Initializer, then one
 * `POST /invoke` per call with FC's x-fc-* headers, each call on its own
 * keep-alive connection (a slot, as InstanceConcurrency allows), and
 * `GET /pre-stop` before the instance is reclaimed. Loop thread only.
 */
#ifndef NIMBUS_FC_H
#define NIMBUS_FC_H

#include "core/instance.h"
#include "core/invoke.h"

/* Pick the port the instance's server must listen on (FC_SERVER_PORT).
 * Without a network namespace of its own each instance needs a distinct
 * one; returns it or -1. */
int fc_pick_port(err_t *err);
/* Start waiting for the server of a freshly spawned instance. */
int fc_instance_started(router_t *r, instance_t *in, err_t *err);
/* Send a call to the instance (a free slot was taken for it). */
void fc_invoke(router_t *r, instance_t *in, call_t *c);
/* Before SIGTERM: GET /pre-stop, then `then(in)` when it answered, failed
 * or took over a second. */
void fc_pre_stop(router_t *r, instance_t *in, void (*then)(router_t *, instance_t *));
/* Free what the instance's FC side holds (instance exit). */
void fc_instance_gone(router_t *r, instance_t *in);

#endif
