/* test_cgroup.c — cgroup: limit arithmetic, limits written to the group's
 * files, entering a group, memory peak and its reset, killing a process tree,
 * OOM accounting, destroy, attach/forget, sweeping stale groups.
 *
 * Needs root and a memory controller (v1 or v2); skipped where there is none.
 * Every group is named "nimbus-<tag><our pid>": the shape cgroup_sweep_stale
 * looks for, with a live pid, so a sweep running in a parallel test (or a
 * daemon) leaves it alone, and a leftover of a crashed run is swept later.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/cgroup.h"

#define MB (1024LL * 1024)
#define KID_GONE INT32_MIN
#define MAX_MADE 6

/* What a test made, so the teardown undoes it after a failed assertion too
 * (and by itself, in case the module's own cleanup is what broke). */
typedef struct { pid_t pid; int fd; } kid_t;   /* fd: our end of a socketpair */
static cgroup_t *made[MAX_MADE];
static char made_dirs[MAX_MADE][3][256];
static kid_t kids[4];

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static bool read_text(const char *dir, const char *file, char *buf, size_t n)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r < 0) return false;
    buf[r] = '\0';
    return true;
}

/* The pids in `dir`/cgroup.procs (up to `max`); their number, -1 unreadable. */
static int procs(const char *dir, pid_t *out, int max)
{
    char buf[8192];
    if (!read_text(dir, "cgroup.procs", buf, sizeof buf)) return -1;
    int n = 0;
    for (char *s = buf, *end; n < max; s = end) {
        long v = strtol(s, &end, 10);
        if (end == s) break;
        out[n++] = (pid_t)v;
    }
    return n;
}

static bool procs_has(const char *dir, pid_t pid)
{
    pid_t p[256];
    int n = procs(dir, p, 256);
    for (int i = 0; i < n; i++)
        if (p[i] == pid) return true;
    return false;
}

static bool gone(const char *path)
{
    errno = 0;
    return access(path, F_OK) < 0 && errno == ENOENT;
}

static void teardown(void)
{
    for (size_t i = 0; i < 4; i++) {
        if (kids[i].pid <= 0) continue;
        kill(kids[i].pid, SIGKILL);
        waitpid(kids[i].pid, NULL, 0);
        close(kids[i].fd);
    }
    for (size_t i = 0; i < MAX_MADE; i++) cgroup_destroy(made[i]);
    for (size_t i = 0; i < MAX_MADE; i++) {
        for (int h = 2; h >= 0; h--) {   /* the memory (or v2) group last, as cgroup.c does */
            const char *d = made_dirs[i][h];
            for (int t = 0; d[0] && t < 100 && rmdir(d) < 0 && errno == EBUSY; t++) {
                pid_t p[256];
                for (int j = 0, n = procs(d, p, 256); j < n; j++)
                    if (p[j] > 0 && p[j] != getpid()) kill(p[j], SIGKILL);
                sleep_ms(10);
            }
        }
    }
    /* v2: cgroup.c's probe made "nimbus-<pid>" under our own group for this
     * process and never removes it; by now it is empty. */
    char line[512], p[700];
    FILE *f = strcmp(cgroup_version(), "v2") == 0 ? fopen("/proc/self/cgroup", "re") : NULL;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3) != 0) continue;
        line[strcspn(line, "\n")] = '\0';
        for (int u = 0; u < 2; u++) {
            snprintf(p, sizeof p, "/sys/fs/cgroup%s%s/nimbus-%d", u ? "/unified" : "",
                     strcmp(line + 3, "/") == 0 ? "" : line + 3, (int)getpid());
            rmdir(p);
        }
    }
    if (f) fclose(f);
}

TestSuite(cgroup, .fini = teardown, .timeout = 60);

static void need_cgroups(void)
{
    if (!cgroup_available())
        cr_skip_test("no usable memory cgroup controller (cgroup_version: %s)", cgroup_version());
}

static bool is_v1(void) { return strcmp(cgroup_version(), "v1") == 0; }

static void name_for(char out[32], unsigned tag, pid_t pid)
{
    snprintf(out, 32, "nimbus-%08x%08x", tag, (unsigned)pid);
}

static void track(cgroup_t *cg, char d[3][256])
{
    size_t i = 0;
    while (i < MAX_MADE && made_dirs[i][0][0]) i++;
    cr_assert_lt(i, MAX_MADE, "too many groups in one test");
    made[i] = cg;
    cgroup_dirs(cg, made_dirs[i]);
    memcpy(d, made_dirs[i], sizeof made_dirs[i]);
}

static void untrack(cgroup_t *cg)
{
    for (size_t i = 0; i < MAX_MADE; i++)
        if (made[i] == cg) made[i] = NULL;
}

/* Make the group `name` (limited when `lim`); its directories in `d`. */
static cgroup_t *make_named(const char *name, const cgroup_limits_t *lim, char d[3][256])
{
    err_t err = {0};
    cgroup_t *cg = lim ? cgroup_create_limited(name, lim, &err) : cgroup_create(name, &err);
    cr_assert_not_null(cg, "create %s: %s", name, err.msg);
    track(cg, d);
    return cg;
}

static cgroup_t *make(unsigned tag, const cgroup_limits_t *lim, char d[3][256])
{
    char name[32];
    name_for(name, tag, getpid());
    return make_named(name, lim, d);
}

static bool has_file(const char *dir, const char *file)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

/* The number in `dir/file` ("max" as INT64_MAX); fails the test if unreadable. */
static int64_t read_num(const char *dir, const char *file)
{
    char buf[128];
    cr_assert(read_text(dir, file, buf, sizeof buf), "read %s/%s: %s", dir, file, strerror(errno));
    return strncmp(buf, "max", 3) == 0 ? INT64_MAX : strtoll(buf, NULL, 10);
}

/* ---- a child in the group, driven over pipes ---- */

static void write_reply(int fd, int32_t v)
{
    if (write(fd, &v, sizeof v) != (ssize_t)sizeof v) _exit(1);
}

/* Enters `cg`, reports cgroup_enter_self's result, then obeys one-byte
 * commands, answering each: 'm' touch 32 MB and keep it, 'f' free it, 'o'
 * touch up to 512 MB (to be OOM-killed), 'g' fork a grandchild in a new
 * session (reply: its pid), 'p' fork until fork fails (reply: forks made, or
 * -1 if the failure was not EAGAIN). Only raw calls: no assertions here. */
static _Noreturn void kid_main(const cgroup_t *cg, int fd)
{
    write_reply(fd, cgroup_enter_self(cg));
    void *mem = NULL;
    char c;
    while (read(fd, &c, 1) == 1) {
        int32_t reply = 0;
        if (c == 'm' || c == 'o') {
            size_t len = (size_t)(c == 'm' ? 32 : 512) * MB;
            void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) {
                reply = -1;
            } else {
                for (size_t i = 0; i < len; i += 4096) ((volatile char *)p)[i] = 1;
                if (c == 'm') mem = p; else reply = -2;   /* 'o': should not get here */
            }
        } else if (c == 'f') {
            if (mem) munmap(mem, 32 * MB);
            mem = NULL;
        } else if (c == 'g') {
            pid_t g = fork();
            if (g == 0) {
                close(fd);
                setsid();
                for (;;) pause();
            }
            /* Answer once it has its own session, so the parent sees it. */
            for (int i = 0; g > 0 && i < 2000 && getsid(g) != g; i++) usleep(1000);
            reply = g;
        } else if (c == 'p') {
            for (reply = 0; reply < 64; reply++) {
                pid_t g = fork();
                if (g == 0) for (;;) pause();
                if (g < 0) { if (errno != EAGAIN) reply = -1; break; }
            }
        }
        write_reply(fd, reply);
    }
    _exit(0);
}

static kid_t *spawn_kid(const cgroup_t *cg)
{
    signal(SIGPIPE, SIG_IGN);   /* a command to a killed child must fail, not kill us */
    kid_t *k = NULL;
    for (size_t i = 0; i < 4 && !k; i++)
        if (kids[i].pid <= 0) k = &kids[i];
    cr_assert_not_null(k, "too many children in one test");
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(sp[0]);
        kid_main(cg, sp[1]);
    }
    close(sp[1]);
    *k = (kid_t){ pid, sp[0] };
    int32_t rc = 0;
    cr_assert_eq(read(k->fd, &rc, sizeof rc), (ssize_t)sizeof rc, "child died before entering");
    cr_assert_eq(rc, 0, "cgroup_enter_self failed in the child");
    return k;
}

/* Send a command; its reply, or KID_GONE when the child died first. */
static int32_t kid_do(kid_t *k, char c)
{
    int32_t r;
    if (write(k->fd, &c, 1) != 1) return KID_GONE;
    return read(k->fd, &r, sizeof r) == (ssize_t)sizeof r ? r : KID_GONE;
}

/* Reap the child, which must end within 5 s; true if SIGKILL ended it. */
static bool kid_killed(kid_t *k)
{
    int st = 0;
    pid_t w = 0;
    for (int i = 0; i < 500 && (w = waitpid(k->pid, &st, WNOHANG)) == 0; i++) sleep_ms(10);
    cr_assert_eq(w, k->pid, "child %d did not end", (int)k->pid);
    close(k->fd);
    k->pid = 0;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/* ---- limits ---- */

/* cgroup_limits_for(mb, pids): memory in bytes, quota proportional (at
 * least the kernel's 1 ms minimum), the pids limit; the limits back. */
static cgroup_limits_t limits(int mb, int pids)
{
    cgroup_limits_t l;
    cgroup_limits_for(mb, pids, &l);
    cr_assert_eq(l.memory_bytes, mb * MB, "%d MB", mb);
    cr_assert_eq(l.pids_max, pids);
    /* The kernel takes periods of 1 ms .. 1 s. */
    cr_assert(l.cpu_period_us >= 1000 && l.cpu_period_us <= 1000000, "period %lld", (long long)l.cpu_period_us);
    int64_t q = l.cpu_period_us * mb / 1769;
    cr_assert_eq(l.cpu_quota_us, q < 1000 ? 1000 : q, "%d MB: quota %lld", mb, (long long)l.cpu_quota_us);
    return l;
}

Test(cgroup, limits_for_cpu_proportional_to_memory)
{
    cgroup_limits_t l = limits(1769, 64);
    cr_assert_eq(l.cpu_quota_us, l.cpu_period_us, "1769 MB is one full CPU");
    l = limits(3538, 0);
    cr_assert_eq(l.cpu_quota_us, 2 * l.cpu_period_us, "3538 MB is two CPUs");
    l = limits(128, 16);
    cr_assert_lt(l.cpu_quota_us, l.cpu_period_us / 10);
    limits(10240, 8);   /* no int overflow */
    limits(1, 4);       /* the minimum quota */
}

Test(cgroup, create_limited_writes_limits)
{
    need_cgroups();
    cgroup_limits_t lim;
    cgroup_limits_for(128, 32, &lim);
    char d[3][256];
    cgroup_t *cg = make(0x11110001, &lim, d);
    unsigned ap = cgroup_limits_applied(cg);
    cr_assert(d[0][0] && access(d[0], F_OK) == 0, "group dir %s", d[0]);
    cr_assert(ap & 1, "memory limit not applied (bits %#x)", ap);
    if (is_v1()) {
        cr_assert_eq(read_num(d[0], "memory.limit_in_bytes"), 128 * MB);
        bool memsw = has_file(d[0], "memory.memsw.limit_in_bytes");
        cr_assert_eq(!!(ap & 2), memsw, "swap bit %#x vs memsw file %d", ap, memsw);
        if (memsw) cr_assert_eq(read_num(d[0], "memory.memsw.limit_in_bytes"), 128 * MB);
        /* As root, a mounted v1 cpu or pids hierarchy must be used. */
        if (geteuid() == 0 && access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", F_OK) == 0)
            cr_assert(d[1][0], "cpu hierarchy present but no cpu group");
        if (geteuid() == 0 && access("/sys/fs/cgroup/pids/cgroup.procs", F_OK) == 0)
            cr_assert(d[2][0], "pids hierarchy present but no pids group");
        cr_assert_eq(!!(ap & 4), d[1][0] != '\0', "cpu bit %#x, cpu dir '%s'", ap, d[1]);
        cr_assert_eq(!!(ap & 8), d[2][0] != '\0', "pids bit %#x, pids dir '%s'", ap, d[2]);
        if (d[1][0]) {
            cr_assert_eq(read_num(d[1], "cpu.cfs_period_us"), lim.cpu_period_us);
            cr_assert_eq(read_num(d[1], "cpu.cfs_quota_us"), lim.cpu_quota_us);
        }
        if (d[2][0]) cr_assert_eq(read_num(d[2], "pids.max"), 32);
    } else {
        cr_assert(!d[1][0] && !d[2][0], "v2 has one group");
        cr_assert_eq(read_num(d[0], "memory.max"), 128 * MB);
        bool swap = has_file(d[0], "memory.swap.max"), cpu = has_file(d[0], "cpu.max"),
             pids = has_file(d[0], "pids.max");
        cr_assert_eq(!!(ap & 2), swap);
        cr_assert_eq(!!(ap & 4), cpu);
        cr_assert_eq(!!(ap & 8), pids);
        if (swap) cr_assert_eq(read_num(d[0], "memory.swap.max"), 0);
        if (pids) cr_assert_eq(read_num(d[0], "pids.max"), 32);
        char buf[64], want[64];
        snprintf(want, sizeof want, "%lld %lld\n", (long long)lim.cpu_quota_us, (long long)lim.cpu_period_us);
        if (cpu) cr_assert(read_text(d[0], "cpu.max", buf, sizeof buf) && strcmp(buf, want) == 0, "cpu.max %s", buf);
    }
}

Test(cgroup, pids_limit_enforced)
{
    need_cgroups();
    cgroup_limits_t lim = { .pids_max = 4 };
    char d[3][256];
    cgroup_t *cg = make(0x11110003, &lim, d);
    if (!(cgroup_limits_applied(cg) & 8)) cr_skip_test("no pids controller here");
    /* The child is one of the 4: three forks succeed, the next gets EAGAIN. */
    cr_assert_eq(kid_do(spawn_kid(cg), 'p'), 3);
}

/* ---- membership, memory, killing ---- */

Test(cgroup, enter_self_moves_only_the_child)
{
    need_cgroups();
    cgroup_limits_t lim;
    cgroup_limits_for(256, 32, &lim);
    char d[3][256], p[64], buf[4096], name[32];
    cgroup_t *cg = make(0x22220001, &lim, d);
    kid_t *k = spawn_kid(cg);
    for (int i = 0; i < 3; i++) {
        if (!d[i][0]) continue;
        cr_assert(procs_has(d[i], k->pid), "child %d not in %s", (int)k->pid, d[i]);
        cr_assert_not(procs_has(d[i], getpid()), "the parent was moved into %s", d[i]);
    }
    snprintf(p, sizeof p, "/proc/%d", (int)k->pid);
    cr_assert(read_text(p, "cgroup", buf, sizeof buf));
    name_for(name, 0x22220001, getpid());
    cr_assert_not_null(strstr(buf, name), "/proc/%d/cgroup: %s", (int)k->pid, buf);
}

Test(cgroup, memory_peak_grows_and_resets)
{
    need_cgroups();
    char d[3][256];
    cgroup_t *cg = make(0x22220002, NULL, d);   /* plain: accounting only */
    kid_t *k = spawn_kid(cg);
    cr_assert_eq(cgroup_memory_peak_reset(cg), 0);
    int64_t p0 = cgroup_memory_peak(cg);
    cr_assert_geq(p0, 0);
    cr_assert_eq(kid_do(k, 'm'), 0);
    int64_t p1 = cgroup_memory_peak(cg);
    cr_assert_geq(p1, p0 + 30 * MB, "peak %lld -> %lld after touching 32 MB", (long long)p0, (long long)p1);

    /* A second fd (as another process would read it) sees the same peak. */
    int fd = cgroup_open_peak(cg);
    cr_assert_geq(fd, 0);
    cr_assert_geq(cgroup_fd_memory_peak(fd), 30 * MB);

    cr_assert_eq(kid_do(k, 'f'), 0);
    if (cgroup_memory_peak_reset(cg) < 0) {
        close(fd);
        cr_assert(!is_v1(), "v1 max_usage_in_bytes reset failed");
        cr_skip_test("memory.peak is not resettable on this kernel (v2 before 6.12)");
    }
    int64_t p2 = cgroup_memory_peak(cg);
    cr_assert_lt(p2, p1 - 16 * MB, "peak after free+reset %lld, before %lld", (long long)p2, (long long)p1);
    cr_assert_eq(cgroup_fd_memory_peak_reset(fd), 0);
    cr_assert_lt(cgroup_fd_memory_peak(fd), p1 - 16 * MB);
    close(fd);
    cr_assert_eq(cgroup_fd_memory_peak(-1), -1);
    cr_assert_eq(cgroup_fd_memory_peak_reset(-1), -1);
}

Test(cgroup, kill_all_ends_child_and_setsid_grandchild)
{
    need_cgroups();
    /* Become the grandchild's reaper, so we can see how it died. */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    cgroup_limits_t lim;
    cgroup_limits_for(256, 32, &lim);
    char d[3][256];
    cgroup_t *cg = make(0x22220003, &lim, d);
    kid_t *k = spawn_kid(cg);
    pid_t g = kid_do(k, 'g');
    cr_assert_gt(g, 0);
    cr_assert(procs_has(d[0], g), "grandchild not in the group");
    cr_assert_eq(getsid(g), g, "grandchild not in a session of its own");

    cr_assert_geq(cgroup_kill_all(cg), 1);
    cr_assert(kid_killed(k), "child not SIGKILLed");
    int gst = 0;
    pid_t w = -1;
    for (int i = 0; i < 500 && (w = waitpid(g, &gst, WNOHANG)) != g; i++) sleep_ms(10);   /* reparenting takes a moment */
    if (w != g) kill(g, SIGKILL);
    cr_assert_eq(w, g, "grandchild %d still alive after cgroup_kill_all", (int)g);
    cr_assert(WIFSIGNALED(gst) && WTERMSIG(gst) == SIGKILL, "grandchild status %#x", gst);
    pid_t left[8];
    int n = 1;
    for (int i = 0; i < 200 && (n = procs(d[0], left, 8)) != 0; i++) sleep_ms(10);
    cr_assert_eq(n, 0, "group not empty after kill");
}

Test(cgroup, oom_kill_counted)
{
    need_cgroups();
    /* Memory only: a CPU quota would slow the faults down. */
    cgroup_limits_t lim = { .memory_bytes = 32 * MB };
    char d[3][256];
    cgroup_t *cg = make(0x22220004, &lim, d);
    int fd = cgroup_open_oom_events(cg);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cgroup_fd_oom_kills(fd), 0);
    kid_t *k = spawn_kid(cg);
    cr_assert_eq(kid_do(k, 'o'), KID_GONE, "touched 512 MB under a 32 MB limit");
    cr_assert(kid_killed(k), "child not SIGKILLed");
    cr_assert_eq(cgroup_fd_oom_kills(fd), 1);
    close(fd);
    cr_assert_eq(cgroup_fd_oom_kills(-1), -1);
}

/* ---- lifetime ---- */

Test(cgroup, destroy_kills_and_removes)
{
    need_cgroups();
    cgroup_limits_t lim;
    cgroup_limits_for(128, 16, &lim);
    char d[3][256];
    cgroup_t *cg = make(0x33330001, &lim, d);
    kid_t *k = spawn_kid(cg);
    untrack(cg);
    cgroup_destroy(cg);   /* with the child still inside */
    for (int i = 0; i < 3; i++)
        if (d[i][0]) cr_assert(gone(d[i]), "%s still there", d[i]);
    cr_assert(kid_killed(k), "child not SIGKILLed");
}

Test(cgroup, try_remove_busy_then_gone)
{
    need_cgroups();
    char d[3][256];
    cgroup_t *cg = make(0x33330002, NULL, d);
    kid_t *k = spawn_kid(cg);
    cr_assert_eq(cgroup_try_remove(cg), -1, "removed while a process is inside");
    cr_assert_eq(access(d[0], F_OK), 0);
    kill(k->pid, SIGKILL);
    kid_killed(k);
    int rc = -1;
    for (int i = 0; i < 200 && (rc = cgroup_try_remove(cg)) != 0; i++) sleep_ms(10);
    cr_assert_eq(rc, 0);
    untrack(cg);   /* freed by cgroup_try_remove */
    cr_assert(gone(d[0]));
}

Test(cgroup, attach_enter_forget_keeps_group)
{
    need_cgroups();
    cgroup_limits_t lim;
    cgroup_limits_for(128, 16, &lim);
    char d[3][256];
    make(0x33330003, &lim, d);
    cgroup_t *att = cgroup_attach((const char (*)[256])d);
    cr_assert_not_null(att);
    kid_t *k = spawn_kid(att);   /* entering through the attached handle */
    cgroup_forget(att);
    for (int i = 0; i < 3; i++) {
        if (!d[i][0]) continue;
        cr_assert_eq(access(d[i], F_OK), 0, "forget removed %s", d[i]);
        cr_assert(procs_has(d[i], k->pid), "child not in %s", d[i]);
    }
    char none[3][256] = { "", "", "" };
    cr_assert_null(cgroup_attach((const char (*)[256])none));
}

Test(cgroup, sweep_stale_removes_only_dead_owners_empty_groups)
{
    need_cgroups();
    pid_t dead = fork();
    cr_assert_geq(dead, 0);
    if (dead == 0) _exit(0);
    cr_assert_eq(waitpid(dead, NULL, 0), dead);

    cgroup_limits_t lim;
    cgroup_limits_for(128, 16, &lim);
    char n[6][32], d[6][3][256];
    name_for(n[0], 0x44440001, dead);      /* stale: swept */
    name_for(n[1], 0x44440002, dead);      /* stale: swept */
    name_for(n[2], 0x44440003, getpid());  /* live owner: kept */
    name_for(n[3], 0x44440004, dead);      /* stale but busy: kept */
    /* Not the shape cgroup.c makes: kept. */
    snprintf(n[4], sizeof n[4], "nimbus-ABCDEF01%08x", (unsigned)dead);
    snprintf(n[5], sizeof n[5], "nimbus-44440005%08x-x", (unsigned)dead);
    cgroup_t *busy = NULL;
    for (int i = 0; i < 6; i++) {
        cgroup_t *cg = make_named(n[i], &lim, d[i]);
        if (i == 3) busy = cg;
    }
    spawn_kid(busy);

    cgroup_sweep_stale();

    for (int i = 0; i < 6; i++)
        for (int h = 0; h < 3; h++)
            if (d[i][h][0]) cr_assert_eq(gone(d[i][h]), i < 2, "%s: swept %d", d[i][h], gone(d[i][h]));
    /* Teardown destroys them all; the swept ones are simply gone already. */
}
