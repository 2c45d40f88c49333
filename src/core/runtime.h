/* runtime.h — what runs inside an instance for each Runtime identifier.
 *
 * `provided*` runtimes run the function's own `bootstrap`; language runtimes
 * (python, node, bash) run Nimbus' bootstrap for that language from the
 * runtime directory (`--runtime-dir`, default `runtimes/` beside the build,
 * else /usr/local/share/nimbus/runtimes), which loads the user's handler.
 * The contract each speaks with the daemon: the Lambda Runtime API, except
 * `provided.scf` (Tencent SCF's paths) and `provided.fc` (an HTTP server the
 * daemon calls, Alibaba FC's contract).
 */
#ifndef NIMBUS_RUNTIME_H
#define NIMBUS_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

typedef enum {
    RUNTIME_API_LAMBDA,   /* pulls calls from /2018-06-01/runtime/... */
    RUNTIME_API_SCF,      /* pulls from /runtime/..., announces /runtime/init/ready */
    RUNTIME_API_FC,       /* serves HTTP; the daemon POSTs /invoke to it */
    RUNTIME_API_COUNT
} runtime_api_kind_t;

typedef struct runtime {
    const char *name;          /* "python3.11" */
    runtime_api_kind_t api;
    const char *interpreter;   /* absolute path, or NULL: exec the bootstrap itself */
    const char *bootstrap;     /* relative to the runtime dir, or NULL: the
                                  function's own <code>/bootstrap */
    const char *exec_env;      /* AWS_EXECUTION_ENV value, or NULL (provided) */
    bool prestart;             /* may start before its call is known (the spawner keeps one
                                  waiting): its bootstrap reads the environment from fd 3
                                  when _NIMBUS_PRESTART_FD is set */
} runtime_t;

/* The runtime of that name (NULL is no name), or NULL. */
const runtime_t *runtime_find(const char *name);
/* Every runtime, `*n` rows, in the order messages and usage texts list them. */
const runtime_t *runtime_table(size_t *n);
/* Their names in the same order, NULL-terminated (static storage). */
const char *const *runtime_names(void);

/* Where language bootstraps live. Set once at start-up (NULL = default). */
int runtime_set_dir(const char *dir, err_t *err);
const char *runtime_dir(void);

/* The program and argv to start an instance of `rt` whose code is in
 * `code_dir`: fills exe (absolute) and argv (NULL-terminated, pointing into
 * `storage`); `sandboxed`: the paths given are those inside a sandbox (the
 * code at /var/task, the runtime dir at /var/runtime). Errors: ERR_INVALID
 * when the function's bootstrap is missing or not executable (Lambda's
 * Runtime.InvalidEntrypoint text), ERR_SYS when Nimbus' own runtime files
 * are missing. */
int runtime_command(const runtime_t *rt, const char *code_dir, bool sandboxed, char *exe, size_t exe_len,
                    char *argv[8], char *storage, size_t storage_len, err_t *err);

#endif
