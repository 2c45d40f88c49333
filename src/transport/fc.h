/* fc.h — Alibaba Function Compute's custom-runtime contract (runtime
 * `provided.fc`) as a transport (core/transport.h): the instance runs an
 * HTTP server and the daemon is its client.
 *
 * The daemon waits for the server's port to open (start-up), calls
 * `POST /initialize` once when the function sets Initializer, then one
 * `POST /invoke` per call with FC's x-fc-* headers, each call on its own
 * keep-alive connection (a slot, as InstanceConcurrency allows), and
 * `GET /pre-stop` before the instance is reclaimed. Loop thread only.
 */
#ifndef NIMBUS_FC_H
#define NIMBUS_FC_H

#include "core/transport.h"

extern const transport_t fc_transport;

#endif
