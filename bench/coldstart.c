/* coldstart.c — how long does a fully sandboxed cold start take, next to the floor measured in
 * the same run?
 *
 *   coldstart BOOTSTRAP [N]      (root: it starts the real spawner)
 *
 * BOOTSTRAP is a Lambda custom runtime (bench/bootstrap_native). A cold start is timed from the
 * request to start it until its first `GET /2018-06-01/runtime/invocation/next` has arrived on its
 * runtime-API socket, for three ways of starting it, interleaved round-robin (N each):
 *   fork+exec   vfork + execve of the binary, the API socket on the host's loopback;
 *   unshare     /usr/bin/unshare --fork --pid --mount-proc --ipc --uts --mount -- BINARY (the
 *               same namespaces minus net, without limits or a root of its own);
 *   sandbox     sandbox_spawn() through the spawner: every namespace, cgroup limits, root,
 *               seccomp, dropped privileges — exactly what `nimbus serve` does.
 * Then the spawner's throughput: instances built back to back (without waiting for the runtime).
 * Output: one `key=value` line per row (parsed by bench/sandbox.py).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "sandbox/sandbox.h"
#include "sandbox/spawner.h"

extern char **environ;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

/* Accept the runtime's connection and read until its /next request line is
 * in. A connection that closes with nothing sent (one a sample killed before
 * it wrote, left in the backlog) is passed over. */
static int wait_next(int lfd, int timeout_ms)
{
    double end = now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(end - now_ms());
        struct pollfd pf = { .fd = lfd, .events = POLLIN };
        if (left <= 0 || poll(&pf, 1, left) != 1) return -1;
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) return -1;
        char buf[4096];
        size_t len = 0;
        for (;;) {
            struct pollfd q = { .fd = c, .events = POLLIN };
            if (poll(&q, 1, timeout_ms) != 1) break;
            ssize_t k = recv(c, buf + len, sizeof buf - 1 - len, 0);
            if (k <= 0) break;
            len += (size_t)k;
            buf[len] = '\0';
            if (strstr(buf, "\r\n\r\n")) {
                close(c);
                return strstr(buf, "/runtime/invocation/next") ? 0 : -1;
            }
        }
        close(c);
        if (len) return -1;
    }
}

static int host_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
        return -1;
    *port = ntohs(sa.sin_port);
    return fd;
}

/* fork+exec or unshare: spawn `argv` with the API address, time to its /next. */
static double plain_start(char **argv, int lfd, int port)
{
    char api[64];
    snprintf(api, sizeof api, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", port);
    char *envp[] = { api, (char *)"PATH=/usr/bin:/bin", NULL };
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    /* A process group of its own, killed whole: unshare's child (the
     * bootstrap, pid 1 of its namespace) must not outlive the sample and
     * connect into the next one. */
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    pid_t pid;
    double t0 = now_ms();
    int rc = posix_spawn(&pid, argv[0], &fa, &at, argv, envp);
    posix_spawnattr_destroy(&at);
    if (rc != 0) return -1;
    int ok = wait_next(lfd, 10000);
    double t = now_ms() - t0;
    posix_spawn_file_actions_destroy(&fa);
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return ok == 0 ? t : -1;
}

static char *g_sb_argv[] = { (char *)"/var/task/bootstrap", NULL };
static char *g_sb_env[] = { (char *)"PATH=/usr/bin:/bin", (char *)"_HANDLER=x", NULL };

static int spawn_one(const char *dir, int i, sandbox_proc_t *p, err_t *err)
{
    char id[64];
    snprintf(id, sizeof id, "nimbus-bench-%d-%d", (int)getpid(), i);
    sandbox_spec_t spec = { .id = id, .code_dir = dir, .exe = "/var/task/bootstrap", .argv = g_sb_argv,
                            .env = g_sb_env, .memory_mb = 128, .tmp_mb = 512 };
    return sandbox_spawn(&spec, p, err);
}

typedef struct {
    int done, failed;
} tp_t;

static void tp_done(void *arg, const err_t *err)
{
    tp_t *t = arg;
    t->done++;
    if (err) t->failed++;
}

static void end_instance(sandbox_proc_t *p)
{
    sandbox_kill(p);
    struct pollfd pf = { .fd = p->pidfd, .events = POLLIN };
    poll(&pf, 1, 5000);
    close(p->api_fd);
    sandbox_release(p);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: coldstart BOOTSTRAP [N]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 200;
    if (n < 5) n = 5;
    if (geteuid() != 0) {
        fprintf(stderr, "coldstart: needs root (it starts the sandbox's spawner)\n");
        return 2;
    }
    char bin[4096];
    if (!realpath(argv[1], bin)) { perror(argv[1]); return 1; }

    /* A code store with the bootstrap in it, as the daemon would have. */
    char base[] = "/tmp/nimbus-coldstart-XXXXXX";
    if (!mkdtemp(base)) { perror("mkdtemp"); return 1; }
    chmod(base, 0755);
    static const char hex[] = "00000000000000000000000000000000000000000000000000000000c01d57a7";
    char dir[600], path[700], cmd[8192];
    snprintf(dir, sizeof dir, "%s/code/%s/tree", base, hex);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/bootstrap' && chmod -R a+rX '%s'", dir, bin, dir, base);
    if (system(cmd) != 0) { fprintf(stderr, "coldstart: cannot prepare %s\n", dir); return 1; }
    snprintf(path, sizeof path, "%s/runtimes", base);
    mkdir(path, 0755);

    int port, lfd = host_listener(&port);
    if (lfd < 0) { perror("listen"); return 1; }
    char *fork_argv[] = { bin, NULL };
    char *unshare_argv[] = { (char *)"/usr/bin/unshare", (char *)"--fork", (char *)"--kill-child", (char *)"--pid", (char *)"--mount-proc",
                             (char *)"--ipc", (char *)"--uts", (char *)"--mount", (char *)"--", bin, NULL };
    double *tf = calloc((size_t)n, sizeof *tf), *tu = calloc((size_t)n, sizeof *tu);
    int fails = 0;
    /* Twice through the spawner: with its pool of inits made ahead (what
     * `nimbus serve` runs, default 4) and without (every namespace made on
     * the request's path). The floor rows interleave with the first. */
    static const int pools[2] = { 4, 0 };
    static const char *const rows[2] = { "sandbox", "sandbox_nopool" };
    for (int c = 0; c < 2; c++) {
        err_t err = { 0 };
        spawner_config_t sc = { .data_dir = base, .runtime_dir = path, .uid = SANDBOX_UID, .gid = SANDBOX_UID,
                                .pool = pools[c] };
        if (spawner_start(&sc, NULL, &err) < 0) { fprintf(stderr, "coldstart: %s\n", err.msg); return 1; }
        sandbox_configure(true);
        double *ts = calloc((size_t)n, sizeof *ts), *tready = calloc((size_t)n, sizeof *tready);
        double *ph[7];
        for (int k = 0; k < 7; k++) ph[k] = calloc((size_t)n, sizeof(double));
        usleep(50000);   /* let the pool fill, as it would between calls */
        for (int i = 0; i < n; i++) {
            if (c == 0) {
                tf[i] = plain_start(fork_argv, lfd, port);
                tu[i] = plain_start(unshare_argv, lfd, port);
                if (tf[i] < 0 || tu[i] < 0) {
                    fprintf(stderr, "coldstart: %s start %d: no /next\n", tf[i] < 0 ? "fork+exec" : "unshare", i);
                    fails++;
                }
            } else {
                usleep(4000);   /* the same pause between starts as the first pass */
            }
            sandbox_proc_t p;
            double t0 = now_ms();
            if (spawn_one(dir, i, &p, &err) < 0) { fprintf(stderr, "coldstart: spawn: %s\n", err.msg); return 1; }
            tready[i] = now_ms() - t0;
            int ok = wait_next(p.api_fd, 10000);
            ts[i] = now_ms() - t0;
            for (int k = 0; k < 7; k++) ph[k][i] = p.phase_us[k] / 1000.0;
            if (ok < 0) {
                fprintf(stderr, "coldstart: %s start %d: no /next\n", rows[c], i);
                fails++;
            }
            end_instance(&p);
        }
        if (c == 0) {
            printf("row=fork+exec p50=%.3f p99=%.3f\n", pct(tf, n, 0.5), pct(tf, n, 0.99));
            printf("row=unshare p50=%.3f p99=%.3f\n", pct(tu, n, 0.5), pct(tu, n, 0.99));
        }
        printf("row=%s p50=%.3f p99=%.3f\n", rows[c], pct(ts, n, 0.5), pct(ts, n, 0.99));
        printf("row=%s_ready p50=%.3f p99=%.3f\n", rows[c], pct(tready, n, 0.5), pct(tready, n, 0.99));
        static const char *const names[] = { "clone", "cgroup", "init_wait", "mounts", "privileges", "exec",
                                             "spawner_total" };
        for (int k = 0; k < 7; k++)
            printf("phase=%s:%s p50=%.3f p99=%.3f\n", rows[c], names[k], pct(ph[k], n, 0.5), pct(ph[k], n, 0.99));
        for (int k = 0; k < 7; k++) free(ph[k]);
        free(ts);
        free(tready);

        /* Throughput: n requests sent at once; the spawner works on several
         * together (each init mounts while it serves the next request). */
        sandbox_proc_t *ps = calloc((size_t)n, sizeof *ps);
        tp_t tp = { 0 };
        double t0 = now_ms();
        for (int i = 0; i < n; i++) {
            char id[64];
            snprintf(id, sizeof id, "nimbus-bench-t%d-%d-%d", (int)getpid(), c, i);
            sandbox_spec_t spec = { .id = id, .code_dir = dir, .exe = "/var/task/bootstrap", .argv = g_sb_argv,
                                    .env = g_sb_env, .memory_mb = 128, .tmp_mb = 512 };
            if (sandbox_start(&spec, &ps[i], tp_done, &tp, &err) < 0) { tp.failed++; tp.done++; }
        }
        while (tp.done < n) spawner_dispatch(true);
        double el = now_ms() - t0;
        int built = n - tp.failed;
        printf("throughput=%s instances=%d seconds=%.3f per_second=%.1f\n", rows[c], built, el / 1e3,
               built / (el / 1e3));
        for (int i = 0; i < n; i++)
            if (ps[i].pidfd >= 0) end_instance(&ps[i]);
        free(ps);
        spawner_stop();
    }
    printf("failures=%d n=%d\n", fails, n);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) fprintf(stderr, "coldstart: could not remove %s\n", base);
    return fails ? 1 : 0;
}
