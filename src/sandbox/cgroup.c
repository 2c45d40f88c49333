/* cgroup.c — per-instance control groups on cgroup v1 (the memory, cpu and
 * pids hierarchies) or v2 (unified). Owns the group directories, their
 * limits and the fds of the files read on the warm path (peak memory),
 * opened once so a read is one pread. Must never: touch groups it did not
 * create.
 */
#include "sandbox/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef enum { CG_UNKNOWN, CG_NONE, CG_V1, CG_V2 } cg_mode_t;

struct cgroup {
    char dir[512];     /* the group's directory (v1: in the memory hierarchy) */
    char procs[540];   /* its cgroup.procs, written by cgroup_enter_self */
    char extra[2][512];      /* v1: the group in the cpu and pids hierarchies ("" none) */
    char extra_procs[2][540];
    int peak_fd;       /* memory.max_usage_in_bytes (v1) / memory.peak (v2) */
    unsigned applied;  /* cgroup_limits_applied() */
};

static cg_mode_t g_mode = CG_UNKNOWN;
static char g_parent[512]; /* Nimbus' parent group directory */
static char g_v1_extra[2][512]; /* v1 cpu and pids parents ("" when unusable) */
static unsigned g_v2_ctrl;      /* v2: controllers enabled for children (4 cpu, 8 pids) */

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

/* v2: give the children of `dir` the controllers (memory needed, cpu and
 * pids when there). */
static bool v2_enable(const char *dir)
{
    char ctrl[640];
    snprintf(ctrl, sizeof ctrl, "%s/cgroup.subtree_control", dir);
    if (write_str(ctrl, "+memory") < 0) return false;
    if (write_str(ctrl, "+cpu") == 0) g_v2_ctrl |= 4;
    if (write_str(ctrl, "+pids") == 0) g_v2_ctrl |= 8;
    return true;
}

/* v2's "no internal processes" rule: a group (but the root) that holds
 * processes cannot give its children controllers. Move the processes of
 * `dir` into a leaf beside the instances' groups, as a delegated group's
 * owner is expected to (they are ours: the daemon, the spawner). */
static bool v2_make_room(const char *dir)
{
    char leaf[600], from[640], to[640];
    snprintf(leaf, sizeof leaf, "%s/nimbus-procs", dir);
    if (mkdir(leaf, 0755) < 0 && errno != EEXIST) return false;
    snprintf(from, sizeof from, "%s/cgroup.procs", dir);
    snprintf(to, sizeof to, "%s/cgroup.procs", leaf);
    FILE *f = fopen(from, "re");
    if (!f) return false;
    char line[32];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (write_str(to, line) < 0 && errno != ESRCH) { fclose(f); return false; }
    }
    fclose(f);
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
        if (try_parent(g_parent)) {
            g_mode = CG_V1;
            static const char *const ctl[2] = { "cpu", "pids" };
            for (int i = 0; i < 2; i++) {
                char base[600];
                snprintf(base, sizeof base, "/sys/fs/cgroup/%s", ctl[i]);
                if (self_group(ctl[i], rel, sizeof rel) < 0 || access(base, F_OK) < 0) continue;
                snprintf(g_v1_extra[i], sizeof g_v1_extra[i], "%s%s", base, strcmp(rel, "/") == 0 ? "" : rel);
                if (!try_parent(g_v1_extra[i])) g_v1_extra[i][0] = '\0';
            }
            return;
        }
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
            char own[600];
            snprintf(own, sizeof own, "%s%s", roots[i], strcmp(rel, "/") == 0 ? "" : rel);
            /* Instances' groups are made beside ours, in the group we were
             * started in (delegated to us, or the root). */
            if (!v2_enable(own) && !(v2_make_room(own) && v2_enable(own))) continue;
            snprintf(g_parent, sizeof g_parent, "%s", own);
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

static int enter(const char *procs, const char *pid)
{
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = strlen(pid);
    ssize_t w = write(fd, pid, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static int enter_all(const cgroup_t *cg, const char *pid)
{
    if (enter(cg->procs, pid) < 0) return -1;
    for (int i = 0; i < 2; i++)
        if (cg->extra[i][0] && enter(cg->extra_procs[i], pid) < 0) return -1;
    return 0;
}

/* "0" names the writer: no formatting, so a vfork child may call it. */
int cgroup_enter_self(const cgroup_t *cg) { return enter_all(cg, "0"); }

int cgroup_open_procs(const cgroup_t *cg, int fds[3])
{
    int n = 0;
    if ((fds[n] = open(cg->procs, O_WRONLY | O_CLOEXEC)) < 0) return -1;
    n++;
    for (int i = 0; i < 2; i++) {
        if (!cg->extra[i][0]) continue;
        if ((fds[n] = open(cg->extra_procs[i], O_WRONLY | O_CLOEXEC)) < 0) {
            while (n) close(fds[--n]);
            return -1;
        }
        n++;
    }
    return n;
}

int cgroup_enter(const cgroup_t *cg, pid_t pid)
{
    char num[16];
    snprintf(num, sizeof num, "%d", (int)pid);
    return enter_all(cg, num);
}

int64_t cgroup_fd_memory_peak(int fd)
{
    if (fd < 0) return -1;
    char buf[64];
    ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
    if (r <= 0) return -1;
    buf[r] = '\0';
    return strtoll(buf, NULL, 10);
}

int cgroup_fd_memory_peak_reset(int fd)
{
    /* v1: writing 0 resets max_usage to the current usage. v2 (>= 6.12):
     * any write to memory.peak resets it for this fd. */
    return fd >= 0 && pwrite(fd, "0", 1, 0) == 1 ? 0 : -1;
}

int64_t cgroup_memory_peak(const cgroup_t *cg) { return cg ? cgroup_fd_memory_peak(cg->peak_fd) : -1; }

int cgroup_memory_peak_reset(cgroup_t *cg) { return cg ? cgroup_fd_memory_peak_reset(cg->peak_fd) : -1; }

static int kill_procs(const char *procs)
{
    FILE *f = fopen(procs, "re");
    if (!f) return 0;
    int n = 0, pid;
    while (fscanf(f, "%d", &pid) == 1) {
        if (pid > 0 && kill(pid, SIGKILL) == 0) n++;
    }
    fclose(f);
    return n;
}

int cgroup_kill_all(const cgroup_t *cg)
{
    if (!cg) return 0;
    if (g_mode == CG_V2) {
        char p[600];
        snprintf(p, sizeof p, "%s/cgroup.kill", cg->dir);
        if (write_str(p, "1") == 0) return 1;
    }
    return kill_procs(cg->procs);
}

void cgroup_destroy(cgroup_t *cg)
{
    if (!cg) return;
    if (cg->peak_fd >= 0) close(cg->peak_fd);
    /* Processes take a moment to leave after SIGKILL; rmdir fails with
     * EBUSY until they have. Bounded: at most ~200 ms. */
    cg->peak_fd = -1;
    for (int i = 0; i < 200; i++) {
        if (cgroup_try_remove(cg) == 0) return;
        cgroup_kill_all(cg);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    free(cg);
}

int cgroup_try_remove(cgroup_t *cg)
{
    if (cg->peak_fd >= 0) close(cg->peak_fd);
    cg->peak_fd = -1;
    /* The memory (or v2) group goes last: it names the group while the
     * others are removed. */
    for (int i = 0; i < 2; i++) {
        if (!cg->extra[i][0]) continue;
        if (rmdir(cg->extra[i]) < 0 && errno != ENOENT) return -1;
        cg->extra[i][0] = '\0';
    }
    if (rmdir(cg->dir) < 0 && errno != ENOENT) return -1;
    free(cg);
    return 0;
}

/* ---- limits ---- */

void cgroup_limits_for(int memory_mb, int pids_max, cgroup_limits_t *out)
{
    memset(out, 0, sizeof *out);
    out->memory_bytes = (int64_t)memory_mb * 1024 * 1024;
    /* A 1 s period: a short call runs at full speed on what the function
     * saved while idle; only sustained use is held to its share. */
    out->cpu_period_us = 1000000;
    out->cpu_quota_us = out->cpu_period_us * memory_mb / 1769;
    if (out->cpu_quota_us < 1000) out->cpu_quota_us = 1000;   /* the kernel's minimum */
    out->pids_max = pids_max;
}

static int write_in(const char *dir, const char *file, const char *val)
{
    char p[640];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return write_str(p, val);
}

static int apply_v1(cgroup_t *cg, const cgroup_limits_t *lim, err_t *err)
{
    char v[64];
    if (lim->memory_bytes > 0) {
        snprintf(v, sizeof v, "%lld", (long long)lim->memory_bytes);
        if (write_in(cg->dir, "memory.limit_in_bytes", v) < 0) return err_sys(err, "memory limit in %s", cg->dir);
        cg->applied |= 1;
        /* No swap on top of the limit, where the kernel accounts swap. */
        if (write_in(cg->dir, "memory.memsw.limit_in_bytes", v) == 0) cg->applied |= 2;
    }
    if (cg->extra[0][0] && lim->cpu_quota_us > 0) {
        snprintf(v, sizeof v, "%lld", (long long)(lim->cpu_period_us ? lim->cpu_period_us : 100000));
        if (write_in(cg->extra[0], "cpu.cfs_period_us", v) < 0) return err_sys(err, "cpu period in %s", cg->extra[0]);
        snprintf(v, sizeof v, "%lld", (long long)lim->cpu_quota_us);
        if (write_in(cg->extra[0], "cpu.cfs_quota_us", v) < 0) return err_sys(err, "cpu quota in %s", cg->extra[0]);
        /* Unused quota carries over up to one more quota (kernels >= 5.14). */
        write_in(cg->extra[0], "cpu.cfs_burst_us", v);
        cg->applied |= 4;
    }
    if (cg->extra[1][0] && lim->pids_max > 0) {
        snprintf(v, sizeof v, "%d", lim->pids_max);
        if (write_in(cg->extra[1], "pids.max", v) < 0) return err_sys(err, "pids limit in %s", cg->extra[1]);
        cg->applied |= 8;
    }
    return 0;
}

static int apply_v2(cgroup_t *cg, const cgroup_limits_t *lim, err_t *err)
{
    char v[64];
    if (lim->memory_bytes > 0) {
        snprintf(v, sizeof v, "%lld", (long long)lim->memory_bytes);
        if (write_in(cg->dir, "memory.max", v) < 0) return err_sys(err, "memory limit in %s", cg->dir);
        cg->applied |= 1;
        if (write_in(cg->dir, "memory.swap.max", "0") == 0) cg->applied |= 2;
        /* One OOM kill ends the whole instance, as the pid namespace would. */
        write_in(cg->dir, "memory.oom.group", "1");
    }
    if ((g_v2_ctrl & 4) && lim->cpu_quota_us > 0) {
        snprintf(v, sizeof v, "%lld %lld", (long long)lim->cpu_quota_us,
                 (long long)(lim->cpu_period_us ? lim->cpu_period_us : 100000));
        if (write_in(cg->dir, "cpu.max", v) < 0) return err_sys(err, "cpu limit in %s", cg->dir);
        snprintf(v, sizeof v, "%lld", (long long)lim->cpu_quota_us);
        write_in(cg->dir, "cpu.max.burst", v);
        cg->applied |= 4;
    }
    if ((g_v2_ctrl & 8) && lim->pids_max > 0) {
        snprintf(v, sizeof v, "%d", lim->pids_max);
        if (write_in(cg->dir, "pids.max", v) < 0) return err_sys(err, "pids limit in %s", cg->dir);
        cg->applied |= 8;
    }
    return 0;
}

cgroup_t *cgroup_create_all(const char *name, err_t *err)
{
    cgroup_t *cg = cgroup_create(name, err);
    if (!cg) return NULL;
    if (g_mode == CG_V1) {
        for (int i = 0; i < 2; i++) {
            if (!g_v1_extra[i][0]) continue;
            snprintf(cg->extra[i], sizeof cg->extra[i], "%s/%s", g_v1_extra[i], name);
            snprintf(cg->extra_procs[i], sizeof cg->extra_procs[i], "%s/cgroup.procs", cg->extra[i]);
            if (mkdir(cg->extra[i], 0755) < 0 && errno != EEXIST) {
                err_sys(err, "mkdir %s", cg->extra[i]);
                cg->extra[i][0] = '\0';
                cgroup_destroy(cg);
                return NULL;
            }
        }
    }
    return cg;
}

int cgroup_apply_limits(cgroup_t *cg, const cgroup_limits_t *lim, err_t *err)
{
    return g_mode == CG_V1 ? apply_v1(cg, lim, err) : apply_v2(cg, lim, err);
}

cgroup_t *cgroup_create_limited(const char *name, const cgroup_limits_t *lim, err_t *err)
{
    cgroup_t *cg = cgroup_create_all(name, err);
    if (cg && cgroup_apply_limits(cg, lim, err) < 0) {
        cgroup_destroy(cg);
        return NULL;
    }
    return cg;
}

unsigned cgroup_limits_applied(const cgroup_t *cg) { return cg ? cg->applied : 0; }

static int open_in(const cgroup_t *cg, const char *file, int flags)
{
    char p[640];
    snprintf(p, sizeof p, "%s/%s", cg->dir, file);
    return open(p, flags | O_CLOEXEC);
}

int cgroup_open_peak(const cgroup_t *cg)
{
    const char *f = g_mode == CG_V1 ? "memory.max_usage_in_bytes" : "memory.peak";
    int fd = open_in(cg, f, O_RDWR);
    return fd >= 0 ? fd : open_in(cg, f, O_RDONLY);
}

int cgroup_open_oom_events(const cgroup_t *cg)
{
    return open_in(cg, g_mode == CG_V1 ? "memory.oom_control" : "memory.events", O_RDONLY);
}

int64_t cgroup_fd_oom_kills(int fd)
{
    if (fd < 0) return -1;
    char buf[512];
    ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
    if (r <= 0) return -1;
    buf[r] = '\0';
    /* "oom_kill N" in both v1's memory.oom_control and v2's memory.events. */
    for (char *line = buf; line && *line; ) {
        if (strncmp(line, "oom_kill ", 9) == 0) return strtoll(line + 9, NULL, 10);
        line = strchr(line, '\n');
        if (line) line++;
    }
    return -1;
}

void cgroup_dirs(const cgroup_t *cg, char dirs[3][256])
{
    snprintf(dirs[0], 256, "%s", cg->dir);
    snprintf(dirs[1], 256, "%s", cg->extra[0]);
    snprintf(dirs[2], 256, "%s", cg->extra[1]);
}

cgroup_t *cgroup_attach(const char dirs[3][256])
{
    if (!dirs[0][0]) return NULL;
    cgroup_t *cg = calloc(1, sizeof *cg);
    if (!cg) return NULL;
    cg->peak_fd = -1;
    snprintf(cg->dir, sizeof cg->dir, "%s", dirs[0]);
    snprintf(cg->procs, sizeof cg->procs, "%s/cgroup.procs", cg->dir);
    for (int i = 0; i < 2; i++) {
        if (!dirs[i + 1][0]) continue;
        snprintf(cg->extra[i], sizeof cg->extra[i], "%s", dirs[i + 1]);
        snprintf(cg->extra_procs[i], sizeof cg->extra_procs[i], "%s/cgroup.procs", cg->extra[i]);
    }
    return cg;
}

void cgroup_forget(cgroup_t *cg)
{
    if (!cg) return;
    if (cg->peak_fd >= 0) close(cg->peak_fd);
    free(cg);
}

/* owner 0: groups of any daemon that is gone; else those of `owner`. */
static unsigned sweep_dir(const char *parent, pid_t owner_wanted)
{
    unsigned left = 0;
    DIR *d = parent[0] ? opendir(parent) : NULL;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, "nimbus-", 7) != 0 || strlen(n) != 7 + 16 || strspn(n + 7, "0123456789abcdef") != 16)
            continue;
        pid_t owner = (pid_t)strtol(n + 7 + 8, NULL, 16);
        if (owner_wanted ? owner != owner_wanted : owner <= 0 || kill(owner, 0) == 0 || errno != ESRCH) continue;
        char p[700];
        snprintf(p, sizeof p, "%s/%s", parent, n);
        if (rmdir(p) < 0 && errno != ENOENT) left++;   /* still in use: harmless */
    }
    closedir(d);
    return left;
}

void cgroup_sweep_stale(void)
{
    if (!cgroup_available()) return;
    sweep_dir(g_parent, 0);
    sweep_dir(g_v1_extra[0], 0);
    sweep_dir(g_v1_extra[1], 0);
}

unsigned cgroup_sweep_owned(pid_t owner)
{
    if (!cgroup_available() || owner <= 0) return 0;
    return sweep_dir(g_parent, owner) + sweep_dir(g_v1_extra[0], owner) + sweep_dir(g_v1_extra[1], owner);
}
