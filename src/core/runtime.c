/* runtime.c — the runtime table and how to start each. Owns nothing at
 * run time but the runtime directory's path. Must never grow a second list
 * of runtimes elsewhere: whatever needs one reads this table. */
#include "core/runtime.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* Every Runtime identifier Nimbus accepts, in the order the "valid
 * runtimes" message lists them. The one list: validation, that message and
 * what to exec all read it. */
static const runtime_t RUNTIMES[] = {
    { "provided", RUNTIME_API_LAMBDA, NULL, NULL, NULL, false },
    { "provided.al2", RUNTIME_API_LAMBDA, NULL, NULL, NULL, false },
    { "provided.al2023", RUNTIME_API_LAMBDA, NULL, NULL, NULL, false },
    /* -S: no site-packages scan at start (saves ~4 ms); the bootstrap adds
     * the task root and Debian's dist-packages itself. */
    { "python3.11", RUNTIME_API_LAMBDA, "/usr/bin/python3", "python/bootstrap.py", "AWS_Lambda_python3.11", true },
    { "python3", RUNTIME_API_LAMBDA, "/usr/bin/python3", "python/bootstrap.py", "AWS_Lambda_python3.11", true },
    { "nodejs20.x", RUNTIME_API_LAMBDA, "/usr/bin/node", "node/bootstrap.js", "AWS_Lambda_nodejs20.x", true },
    { "nodejs", RUNTIME_API_LAMBDA, "/usr/bin/node", "node/bootstrap.js", "AWS_Lambda_nodejs20.x", true },
    { "bash", RUNTIME_API_LAMBDA, "/bin/bash", "bash/bootstrap.sh", "AWS_Lambda_bash", false },
    { "provided.scf", RUNTIME_API_SCF, NULL, NULL, NULL, false },
    { "provided.fc", RUNTIME_API_FC, NULL, NULL, NULL, false },
};
#define N_RUNTIMES (sizeof RUNTIMES / sizeof RUNTIMES[0])

/* The names alone, for callers that want a plain list; filled once from
 * RUNTIMES, never written by hand. */
static const char *g_names[N_RUNTIMES + 1];
static pthread_once_t g_names_once = PTHREAD_ONCE_INIT;

static void names_fill(void)
{
    for (size_t i = 0; i < N_RUNTIMES; i++) g_names[i] = RUNTIMES[i].name;
    g_names[N_RUNTIMES] = NULL;
}

static char g_dir[PATH_MAX];

const runtime_t *runtime_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < N_RUNTIMES; i++)
        if (strcmp(RUNTIMES[i].name, name) == 0) return &RUNTIMES[i];
    return NULL;
}

const runtime_t *runtime_table(size_t *n)
{
    *n = N_RUNTIMES;
    return RUNTIMES;
}

const char *const *runtime_names(void)
{
    pthread_once(&g_names_once, names_fill);
    return g_names;
}

int runtime_set_dir(const char *dir, err_t *err)
{
    char exe[PATH_MAX], cand[PATH_MAX + 32];
    if (dir) {
        if (!realpath(dir, g_dir)) return err_sys(err, "runtime dir %s", dir);
        return 0;
    }
    /* Beside the build: <repo>/build/nimbus -> <repo>/runtimes. */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(cand, sizeof cand, "%s/../runtimes", exe);
        if (realpath(cand, g_dir) && access(g_dir, R_OK) == 0) return 0;
        snprintf(cand, sizeof cand, "%s/../share/nimbus/runtimes", exe);
        if (realpath(cand, g_dir) && access(g_dir, R_OK) == 0) return 0;
    }
    snprintf(g_dir, sizeof g_dir, "/usr/local/share/nimbus/runtimes");
    return 0;
}

const char *runtime_dir(void) { return g_dir; }

int runtime_command(const runtime_t *rt, const char *code_dir, bool sandboxed, char *exe, size_t exe_len,
                    char *argv[8], char *storage, size_t storage_len, err_t *err)
{
    if (!rt->bootstrap) {
        snprintf(exe, exe_len, "%s/bootstrap", code_dir);
        if (access(exe, X_OK) < 0)
            return err_set(err, ERR_INVALID,
                           "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]");
        /* In a sandbox the code is at /var/task (checked above on the host). */
        if (sandboxed) snprintf(exe, exe_len, "/var/task/bootstrap");
        snprintf(storage, storage_len, "%s", exe);
        argv[0] = storage;
        argv[1] = NULL;
        return 0;
    }
    snprintf(exe, exe_len, "%s", rt->interpreter);
    int n = snprintf(storage, storage_len, "%s/%s", g_dir, rt->bootstrap);
    if (n < 0 || (size_t)n >= storage_len) return err_set(err, ERR_SYS, "runtime path too long");
    if (access(storage, R_OK) < 0)
        return err_sys(err, "runtime %s: bootstrap %s", rt->name, storage);
    if (access(exe, X_OK) < 0) return err_sys(err, "runtime %s: interpreter %s", rt->name, exe);
    /* The runtime dir is mounted read-only at /var/runtime in a sandbox. */
    if (sandboxed) snprintf(storage, storage_len, "/var/runtime/%s", rt->bootstrap);
    size_t k = 0;
    argv[k++] = (char *)rt->interpreter;
    if (strcmp(rt->interpreter, "/usr/bin/python3") == 0) argv[k++] = (char *)"-S";
    argv[k++] = storage;
    argv[k] = NULL;
    return 0;
}
