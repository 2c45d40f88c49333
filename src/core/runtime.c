/* runtime.c — the runtime table and how to start each. Owns the table
 * (Nimbus' own rows, the Lambda identifiers this host's interpreters serve,
 * the rows `--runtime-map` adds) and the runtime directory's path. Must
 * never grow a second list of runtimes elsewhere: whatever needs one reads
 * this table; and never change the table once threads run (it is filled on
 * first use and by runtime_map_add() at start-up, read lock-free after). */
#define _GNU_SOURCE
#include "core/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PYTHON_BOOTSTRAP "python/bootstrap.py"
#define NODE_BOOTSTRAP "node/bootstrap.js"
#define MAX_RUNTIMES 64
#define NAME_MAX_LEN 31     /* function_config_t.runtime holds 31 characters */

/* Nimbus' own rows, always there, in the order the "valid runtimes"
 * message lists them; the interpreters' versioned rows are found at first
 * use and go after provided.al2023 (python) and after python3 (node). */
static const runtime_t OWN[] = {
    { "provided", RUNTIME_API_LAMBDA, NULL, NULL, NULL, false, NULL, false },
    { "provided.al2", RUNTIME_API_LAMBDA, NULL, NULL, NULL, false, NULL, false },
    { "provided.al2023", RUNTIME_API_LAMBDA, NULL, NULL, NULL, false, NULL, false },
    /* -S: no site-packages scan at start (saves ~4 ms); the bootstrap adds
     * the task root and Debian's dist-packages itself. */
    { "python3", RUNTIME_API_LAMBDA, "/usr/bin/python3", PYTHON_BOOTSTRAP, NULL, true, "-S", true },
    { "nodejs", RUNTIME_API_LAMBDA, "/usr/bin/node", NODE_BOOTSTRAP, NULL, true, NULL, false },
    { "bash", RUNTIME_API_LAMBDA, "/bin/bash", "bash/bootstrap.sh", "AWS_Lambda_bash", false, NULL, false },
    { "provided.scf", RUNTIME_API_SCF, NULL, NULL, NULL, false, NULL, false },
    { "provided.fc", RUNTIME_API_FC, NULL, NULL, NULL, false, NULL, false },
};
#define N_OWN (sizeof OWN / sizeof OWN[0])

/* Identifiers Lambda no longer accepts for new functions, so a template
 * naming one gets Lambda's own "no longer supported" answer. */
static const char *const RETIRED[] = {
    "python2.7", "python3.6", "python3.7", "python3.8", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10",
    "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x", "ruby2.5", "ruby2.7", "java8",
    "go1.x", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", NULL,
};

static runtime_t g_rows[MAX_RUNTIMES];
static size_t g_n;
static const char *g_names[MAX_RUNTIMES + 1];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_dir[PATH_MAX];

static char *keep(const char *s)
{
    char *p = strdup(s);
    if (!p) abort();
    return p;
}

static void push(const runtime_t *rt)
{
    if (g_n >= MAX_RUNTIMES) return;
    g_rows[g_n] = *rt;
    g_names[g_n] = g_rows[g_n].name;
    g_names[++g_n] = NULL;
}

static bool executable(const char *path) { return access(path, X_OK) == 0; }

/* "AWS_Lambda_<name>", kept. */
static const char *exec_env_of(const char *name)
{
    char buf[64];
    snprintf(buf, sizeof buf, "AWS_Lambda_%s", name);
    return keep(buf);
}

/* The major version /usr/bin/node reports ("v20.20.2" -> 20), or -1. */
static int node_major(const char *node)
{
    int fd[2];
    if (!executable(node) || pipe2(fd, O_CLOEXEC) < 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = { (char *)node, (char *)"--version", NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, node, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    char out[32] = { 0 };
    if (rc == 0) {
        size_t got = 0;
        ssize_t k;
        while (got < sizeof out - 1 && (k = read(fd[0], out + got, sizeof out - 1 - got)) > 0) got += (size_t)k;
        while (waitpid(pid, &rc, 0) < 0 && errno == EINTR) {}
    }
    close(fd[0]);
    if (out[0] != 'v' || out[1] < '1' || out[1] > '9') return -1;
    return atoi(out + 1);
}

/* python3.X for each interpreter /usr/bin/python3.X, as "/usr/bin/python3"
 * when that is the same program (one start-ahead pool for both names). */
static void find_pythons(void)
{
    char python3[PATH_MAX] = "";
    if (!realpath("/usr/bin/python3", python3)) python3[0] = '\0';
    for (int minor = 9; minor <= 30; minor++) {
        char name[32], path[64], real[PATH_MAX];
        snprintf(name, sizeof name, "python3.%d", minor);
        snprintf(path, sizeof path, "/usr/bin/%s", name);
        if (!executable(path) || !realpath(path, real)) continue;
        bool same = python3[0] && strcmp(real, python3) == 0;
        push(&(runtime_t){ keep(name), RUNTIME_API_LAMBDA, same ? "/usr/bin/python3" : keep(path), PYTHON_BOOTSTRAP,
                           exec_env_of(name), true, "-S", true });
    }
}

static void fill(void)
{
    for (size_t i = 0; i < N_OWN; i++) {
        if (strcmp(OWN[i].name, "python3") == 0) find_pythons();
        runtime_t rt = OWN[i];
        int major = -1;
        if (strcmp(rt.name, "nodejs") == 0 && (major = node_major(rt.interpreter)) > 0) {
            char name[32];
            snprintf(name, sizeof name, "nodejs%d.x", major);
            push(&(runtime_t){ keep(name), RUNTIME_API_LAMBDA, rt.interpreter, NODE_BOOTSTRAP, exec_env_of(name),
                               true, NULL, false });
        }
        /* The aliases say which version they are, as Lambda's runtimes do. */
        if (strcmp(rt.name, "python3") == 0) {
            char real[PATH_MAX];
            const char *base = realpath(rt.interpreter, real) ? strrchr(real, '/') + 1 : NULL;
            if (base && strncmp(base, "python3.", 8) == 0) rt.exec_env = exec_env_of(base);
        } else if (strcmp(rt.name, "nodejs") == 0 && major > 0) {
            rt.exec_env = g_rows[g_n - 1].exec_env;
        }
        push(&rt);
    }
}

static void ensure(void) { pthread_once(&g_once, fill); }

const runtime_t *runtime_find(const char *name)
{
    if (!name) return NULL;
    ensure();
    for (size_t i = 0; i < g_n; i++)
        if (strcmp(g_rows[i].name, name) == 0) return &g_rows[i];
    return NULL;
}

const runtime_t *runtime_table(size_t *n)
{
    ensure();
    *n = g_n;
    return g_rows;
}

const char *const *runtime_names(void)
{
    ensure();
    return g_names;
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '.' || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

int runtime_map_add(const char *entry, bool sandboxed, err_t *err)
{
    ensure();
    const char *eq = strchr(entry, '=');
    if (!eq) return err_set(err, ERR_INVALID, "'%s' is not NAME=SPEC", entry);
    char name[NAME_MAX_LEN + 1];
    size_t nl = (size_t)(eq - entry);
    if (!name_ok(entry, nl))
        return err_set(err, ERR_INVALID, "'%.*s' is not a runtime name (1 to %d of a-z A-Z 0-9 . - _)", (int)nl,
                       entry, NAME_MAX_LEN);
    memcpy(name, entry, nl);
    name[nl] = '\0';
    if (runtime_find(name)) return err_set(err, ERR_INVALID, "runtime %s is in the table already", name);
    if (g_n >= MAX_RUNTIMES) return err_set(err, ERR_INVALID, "more than %d runtimes", MAX_RUNTIMES);
    const char *spec = eq + 1;
    const runtime_t *same = runtime_find(spec);
    if (same) {
        runtime_t rt = *same;
        rt.name = keep(name);
        if (rt.exec_env) rt.exec_env = exec_env_of(name);
        push(&rt);
        return 0;
    }
    char interp[PATH_MAX], boot[PATH_MAX], extra[8];
    int words = sscanf(spec, "%4095s %4095s %7s", interp, boot, extra);
    if (words != 2)
        return err_set(err, ERR_INVALID, "%s: '%s' is neither a runtime of this daemon nor 'INTERPRETER BOOTSTRAP'",
                       name, spec);
    char real[PATH_MAX];
    if (interp[0] != '/' || !executable(interp) || !realpath(interp, real))
        return err_set(err, ERR_INVALID, "%s: interpreter %s is not an executable absolute path", name, interp);
    if (sandboxed && strncmp(real, "/usr/", 5) != 0)
        return err_set(err, ERR_INVALID, "%s: interpreter %s is outside /usr, which a sandbox cannot see", name,
                       interp);
    if (boot[0] == '/' || strstr(boot, ".."))
        return err_set(err, ERR_INVALID, "%s: bootstrap %s must be a path under the runtime dir %s", name, boot,
                       g_dir);
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/%s", g_dir, boot);
    if (access(path, R_OK) < 0)
        return err_set(err, ERR_INVALID, "%s: bootstrap %s is not a readable file of the runtime dir %s", name, boot,
                       g_dir);
    runtime_t rt = { keep(name), RUNTIME_API_LAMBDA, keep(interp), keep(boot), exec_env_of(name), false, NULL, false };
    /* Nimbus' own bootstraps keep their start-ahead handshake and flags. */
    for (size_t i = 0; i < N_OWN; i++)
        if (OWN[i].bootstrap && strcmp(OWN[i].bootstrap, boot) == 0) {
            rt.prestart = OWN[i].prestart;
            rt.interpreter_flag = OWN[i].interpreter_flag;
            rt.zygote = OWN[i].zygote;
        }
    push(&rt);
    return 0;
}

/* "python3.12" -> 3, 12 after the language prefix; false without digits. */
static bool version_of(const char *name, size_t prefix, int *major, int *minor)
{
    const char *p = name + prefix;
    if (*p < '0' || *p > '9') return false;
    char *end;
    *major = (int)strtol(p, &end, 10);
    *minor = *end == '.' && end[1] >= '0' && end[1] <= '9' ? (int)strtol(end + 1, NULL, 10) : -1;
    return true;
}

const char *runtime_successor(const char *name)
{
    size_t i = 0;
    while (RETIRED[i] && strcmp(RETIRED[i], name) != 0) i++;
    if (!RETIRED[i]) return NULL;
    ensure();
    /* Lambda moves Go functions to the OS-only runtime. */
    if (strcmp(name, "go1.x") == 0) return runtime_find("provided.al2023") ? "provided.al2023" : NULL;
    size_t prefix = 0;
    while (name[prefix] >= 'a' && name[prefix] <= 'z') prefix++;
    if (strncmp(name, "dotnetcore", 10) == 0) prefix = 6;   /* dotnetcore3.1 -> dotnet8 */
    const char *best = NULL;
    int bmaj = -1, bmin = -2;
    for (size_t k = 0; k < g_n; k++) {
        int maj, min;
        if (strncmp(g_rows[k].name, name, prefix) != 0 || !version_of(g_rows[k].name, prefix, &maj, &min)) continue;
        if (maj > bmaj || (maj == bmaj && min > bmin)) {
            best = g_rows[k].name;
            bmaj = maj;
            bmin = min;
        }
    }
    return best;
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
    if (rt->interpreter_flag) argv[k++] = (char *)rt->interpreter_flag;
    argv[k++] = storage;
    argv[k] = NULL;
    return 0;
}
