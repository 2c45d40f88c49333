/* exec.h — run a command inside a live instance (`nimbus exec`): in its
 * namespaces, root, working directory and cgroup, as its user, with its
 * environment — whatever the instance is in, read from /proc/<pid>, so the
 * same code serves a sandboxed and an unsandboxed instance.
 *
 * POST /nimbus/v1/functions/NAME/instances/ID/exec {"Command": [...],
 * "TimeoutSeconds": 30} answers {"ExitCode": n, "Output": "..."} (stdout
 * and stderr merged, at most 1 MiB kept, "Truncated": true beyond).
 * With "Stream": true it answers at once {"ExecId": id}, and
 * GET /nimbus/v1/execs/ID?offset=N long-polls the output from byte N:
 * {"Output", "Offset" (the next N), "Done", "ExitCode" once done}.
 */
#ifndef NIMBUS_EXEC_H
#define NIMBUS_EXEC_H

#include "api/api.h"
#include "core/instance.h"

void exec_handle(api_t *d, http_exchange_t *ex, http_request_t *req, instance_t *in);
/* GET /nimbus/v1/execs/ID?offset=N */
void exec_poll(api_t *d, http_exchange_t *ex, const char *id, const char *query);

#endif
