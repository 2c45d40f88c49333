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
    const char *interpreter_flag; /* one argument before the bootstrap ("-S"), or NULL */
    bool zygote;               /* its instances may be forks of one initialised interpreter (the
                                  sandbox's zygote, docs/zygote.md): python */
} runtime_t;

/* The table is Nimbus' own runtimes (provided*, provided.scf, provided.fc,
 * bash, and the aliases python3 and nodejs), then each Lambda identifier
 * this host has an interpreter for (python3.X for each /usr/bin/python3.X,
 * nodejsN.x for the major version of /usr/bin/node), found on first use;
 * then what runtime_map_add() added. */

/* The runtime of that name (NULL is no name), or NULL. */
const runtime_t *runtime_find(const char *name);
/* Every runtime, `*n` rows, in the order messages and usage texts list them. */
const runtime_t *runtime_table(size_t *n);
/* Their names in the same order, NULL-terminated (static storage). */
const char *const *runtime_names(void);

/* Add one row, from `--runtime-map NAME=SPEC` (once at start-up, before any
 * thread; after runtime_set_dir). SPEC is either a runtime already in the
 * table (NAME is served exactly as it is, e.g. python3.13=python3.11), or
 * "INTERPRETER BOOTSTRAP": an absolute interpreter and a bootstrap file
 * relative to the runtime dir that speaks the Lambda Runtime API (Nimbus'
 * own bootstraps keep their start-ahead handshake). `sandboxed`: the
 * interpreter must be under /usr, the only host tree a sandbox sees.
 * Errors: ERR_INVALID, naming what is wrong. */
int runtime_map_add(const char *entry, bool sandboxed, err_t *err);

/* For an identifier Lambda has retired ("python3.8", "nodejs16.x",
 * "go1.x"): the newest runtime of the table Lambda would recommend instead
 * (the same language's, or provided.al2023 for Go), or NULL when `name` is
 * not a retired identifier or the table has no successor for it. */
const char *runtime_successor(const char *name);

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
