/* cgroup.c — per-instance control groups on cgroup v1 (memory controller
 * hierarchy) or v2 (unified). Owns the group directories and the fds of the
 * files read on the warm path (peak memory), opened once so a read is one
 * pread. Must never: touch groups it did not create.
 */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef enum { CG_UNKNOWN, CG_NONE, CG_V1, CG_V2 } cg_mode_t;

struct cgroup {
    char dir[512];     /* the group's directory */
    char procs[540];   /* its cgroup.procs, written by cgroup_enter_self */
    int peak_fd;       /* memory.max_usage_in_bytes (v1) / memory.peak (v2) */
};

static cg_mode_t g_mode = CG_UNKNOWN;
static char g_parent[512]; /* Nimbus' parent group directory */

/* Find our own group of `controller` ("memory" for v1, "" for v2) in
 * /proc/self/cgroup, so groups nest under whatever we were started in. */
static int self_group(const char *controller, char *out, size_t n)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f) return -1;
    char line[1024];
    int found = -1;
    while (fgets(line, sizeof line, f)) {
        char *a = strchr(line, ':');
        char *b = a ? strchr(a + 1, ':') : NULL;
        if (!b) continue;
        *a = *b = '\0';
        char *path = b + 1;
        path[strcspn(path, "\n")] = '\0';
        bool match;
        if (!*controller) {
            match = strcmp(line, "0") == 0 && a[1] == '\0';
        } else {
            match = false;
            for (char *tok = strtok(a + 1, ","); tok; tok = strtok(NULL, ","))
                if (strcmp(tok, controller) == 0) match = true;
        }
        if (match) {
            snprintf(out, n, "%s", path);
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

static int write_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t w = write(fd, s, strlen(s));
    close(fd);
    return w == (ssize_t)strlen(s) ? 0 : -1;
}

static bool try_parent(const char *base)
{
    char probe[600];
    snprintf(probe, sizeof probe, "%s/nimbus-probe-%d", base, (int)getpid());
    if (mkdir(probe, 0755) < 0 && errno != EEXIST) return false;
    rmdir(probe);
    return true;
}

static void probe(void)
{
    if (g_mode != CG_UNKNOWN) return;
    g_mode = CG_NONE;
    char rel[400];
    /* v1 first: on a hybrid host (this one) memory lives there. */
    if (access("/sys/fs/cgroup/memory/memory.max_usage_in_bytes", F_OK) == 0 &&
        self_group("memory", rel, sizeof rel) == 0) {
        snprintf(g_parent, sizeof g_parent, "/sys/fs/cgroup/memory%s",
                 strcmp(rel, "/") == 0 ? "" : rel);
        if (try_parent(g_parent)) { g_mode = CG_V1; return; }
    }
    if (self_group("", rel, sizeof rel) == 0) {
        const char *roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
        for (size_t i = 0; i < 2; i++) {
            char ctl[600];
            snprintf(ctl, sizeof ctl, "%s%s/cgroup.controllers", roots[i],
                     strcmp(rel, "/") == 0 ? "" : rel);
            FILE *f = fopen(ctl, "re");
            if (!f) continue;
            char buf[256] = "";
            if (!fgets(buf, sizeof buf, f)) buf[0] = '\0';
            fclose(f);
            if (!strstr(buf, "memory")) continue;
            snprintf(g_parent, sizeof g_parent, "%s%s", roots[i], strcmp(rel, "/") == 0 ? "" : rel);
            /* v2: a group with processes cannot enable controllers for its
             * children, so make a leaf-free "nimbus" subtree and enable
             * memory in it. */
            char sub[600], ctrl[640];
            snprintf(sub, sizeof sub, "%s/nimbus-%d", g_parent, (int)getpid());
            if (mkdir(sub, 0755) < 0 && errno != EEXIST) continue;
            snprintf(ctrl, sizeof ctrl, "%s/cgroup.subtree_control", sub);
            if (write_str(ctrl, "+memory") < 0) { rmdir(sub); continue; }
            snprintf(g_parent, sizeof g_parent, "%s", sub);
            g_mode = CG_V2;
            return;
        }
    }
}

bool cgroup_available(void)
{
    probe();
    return g_mode == CG_V1 || g_mode == CG_V2;
}

const char *cgroup_version(void)
{
    probe();
    return g_mode == CG_V1 ? "v1" : g_mode == CG_V2 ? "v2" : "none";
}

cgroup_t *cgroup_create(const char *name, err_t *err)
{
    if (!cgroup_available()) {
        err_set(err, ERR_SYS, "no usable memory cgroup controller");
        return NULL;
    }
    cgroup_t *cg = calloc(1, sizeof *cg);
    if (!cg) { err_set(err, ERR_SYS, "out of memory"); return NULL; }
    cg->peak_fd = -1;
    snprintf(cg->dir, sizeof cg->dir, "%s/%s", g_parent, name);
    snprintf(cg->procs, sizeof cg->procs, "%s/cgroup.procs", cg->dir);
    if (mkdir(cg->dir, 0755) < 0 && errno != EEXIST) {
        err_sys(err, "mkdir %s", cg->dir);
        free(cg);
        return NULL;
    }
    char p[600];
    snprintf(p, sizeof p, "%s/%s", cg->dir,
             g_mode == CG_V1 ? "memory.max_usage_in_bytes" : "memory.peak");
    cg->peak_fd = open(p, O_RDWR | O_CLOEXEC);
    if (cg->peak_fd < 0) cg->peak_fd = open(p, O_RDONLY | O_CLOEXEC);
    return cg;
}

int cgroup_enter_self(const cgroup_t *cg)
{
    int fd = open(cg->procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t w = write(fd, "0", 1);
    close(fd);
    return w == 1 ? 0 : -1;
}

int64_t cgroup_memory_peak(const cgroup_t *cg)
{
    if (!cg || cg->peak_fd < 0) return -1;
    char buf[64];
    ssize_t r = pread(cg->peak_fd, buf, sizeof buf - 1, 0);
    if (r <= 0) return -1;
    buf[r] = '\0';
    return strtoll(buf, NULL, 10);
}

int cgroup_memory_peak_reset(cgroup_t *cg)
{
    if (!cg || cg->peak_fd < 0) return -1;
    /* v1: writing 0 resets max_usage to the current usage. v2 (>= 6.12):
     * any write to memory.peak resets it for this fd. */
    return pwrite(cg->peak_fd, "0", 1, 0) == 1 ? 0 : -1;
}

int cgroup_kill_all(const cgroup_t *cg)
{
    if (!cg) return 0;
    if (g_mode == CG_V2) {
        char p[600];
        snprintf(p, sizeof p, "%s/cgroup.kill", cg->dir);
        if (write_str(p, "1") == 0) return 1;
    }
    FILE *f = fopen(cg->procs, "re");
    if (!f) return 0;
    int n = 0, pid;
    while (fscanf(f, "%d", &pid) == 1) {
        if (pid > 0 && kill(pid, SIGKILL) == 0) n++;
    }
    fclose(f);
    return n;
}

void cgroup_destroy(cgroup_t *cg)
{
    if (!cg) return;
    if (cg->peak_fd >= 0) close(cg->peak_fd);
    /* Processes take a moment to leave after SIGKILL; rmdir fails with
     * EBUSY until they have. Bounded: at most ~200 ms. */
    for (int i = 0; i < 200; i++) {
        if (rmdir(cg->dir) == 0 || errno == ENOENT) break;
        cgroup_kill_all(cg);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    free(cg);
}
