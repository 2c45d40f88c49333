/* exec.h — run a command inside a live instance (`nimbus exec`): in its
 * cgroup, namespaces, root and working directory, as its user, confined as
 * its runtime is, with its environment (sandbox_exec in sandbox.h does the
 * starting; this module only relays the output).
 *
 * POST /nimbus/v1/functions/NAME/instances/ID/exec {"Command": [...],
 * "TimeoutSeconds": 30} answers {"ExitCode": n, "Output": "..."} (stdout
 * and stderr merged, at most 1 MiB kept, "Truncated": true beyond).
 * With "Stream": true it answers {"ExecId": id} once the command started,
 * and GET /nimbus/v1/execs/ID?offset=N long-polls the output from byte N:
 * {"Output", "Offset" (the next N), "Done", "ExitCode" once done,
 * "TimedOut": true when the timeout ended it}.
 * Streamed, "Stdin": true gives the command a pipe for stdin, fed by
 * POST /nimbus/v1/execs/ID/stdin[?end=true] (the body's bytes; end: then
 * its end of file); "Tty": true runs it on a terminal of its instance
 * ("Rows", "Columns", 24 x 80 by default), stdin too, resized by
 * POST /nimbus/v1/execs/ID/resize {"Rows", "Columns"}.
 */
#ifndef NIMBUS_EXEC_H
#define NIMBUS_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "io/http.h"
#include "io/loop.h"
#include "sandbox/sandbox.h"

/* What exec needs of an instance; read during exec_handle only. */
typedef struct {
    const char *id;               /* the instance's id, for messages */
    const sandbox_proc_t *proc;   /* its process tree */
    const char *env_block;        /* the environment it was given, NUL-separated, or NULL: used
                                     when its runtime was pre-started (its /proc environ is not it) */
    size_t env_len;
    bool starting;                /* its sandbox is still being built */
    bool stopping;                /* it exited or is stopping */
    const char *owner;            /* the account of its function: the only one that may read,
                                     feed, resize or end the command (a streamed exec) */
} exec_target_t;

/* POST .../instances/ID/exec */
void exec_handle(loop_t *loop, http_exchange_t *ex, const http_request_t *req, const exec_target_t *t);
/* GET /nimbus/v1/execs/ID?offset=N. `account`: the caller's (NULL without
 * credentials); an exec of another account's instance is answered as one
 * that does not exist. */
void exec_poll(loop_t *loop, http_exchange_t *ex, const char *id, const char *query, const char *account);
/* POST /nimbus/v1/execs/ID/WHAT: "stdin" or "resize"; `account` as for exec_poll. */
void exec_input(loop_t *loop, http_exchange_t *ex, const http_request_t *req, const char *id, const char *what,
                const char *account);

#endif
