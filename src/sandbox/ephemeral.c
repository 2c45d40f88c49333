/* ephemeral.c — instances' /tmp file systems (ephemeral.h): the pool of
 * made-ahead mounts per size, the templates, and the workers (forks of the
 * spawner) whose jobs make them.
 *
 * A job: an O_TMPFILE under <data>/ephemeral (never a name on disk), the
 * size's template copied into it (only its allocated blocks: a few hundred
 * KB) or, the first time, mke2fs run on it and a copy kept as the template;
 * a free loop device configured on it (direct I/O: no second copy of the
 * data in the host's page cache; autoclear: the device goes with its last
 * user); ext4 mounted from it detached (fsmount), its root made 1777 and
 * emptied; the mount fd sent back to the spawner.
 *
 * Jobs are made by workers (`nimbus-tmp`, EPHEMERAL_WORKERS processes
 * forked from the spawner at start for this alone), each taking one job
 * after another from one queue socket: the spawner sends a job's socket
 * (and the template) on it, whichever worker is free takes it and answers
 * on that socket. A process forked per job (as before) cost a copy of the
 * spawner's address space (every library the daemon links) and its
 * teardown for every /tmp, on the same CPUs a burst's cold starts wait
 * for. Where no worker is left (all gone) the spawner forks a job per
 * /tmp itself, as it also does when the queue is full.
 *
 * Mount options: no journal and no barriers (nothing in /tmp outlives the
 * instance, so a flush to the host's disk buys nothing); minixdf, so
 * statfs counts the whole Size as the file system's size; noinit_itable,
 * since the file's unwritten blocks already read as zeros. No resize
 * inode: nothing grows a /tmp, and its reserved descriptor blocks were
 * two thirds of the template (128 KB of 384), copied and written back
 * for every instance.
 *
 * Must never: block the spawner on a job, reuse a file system, or leave a
 * file or a device that no mount or fd of ours holds.
 */
#define _GNU_SOURCE
#include "sandbox/ephemeral.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/spawner_proto.h"

#define KINDS 8           /* sizes with a template and a pool */
#define READY_MAX 16      /* made ahead, per size */
#define JOBS_MAX EPHEMERAL_JOBS_MAX
#define FAILURES_MAX 3    /* refills stop after these in a row (a job for a waiting init still runs) */

typedef struct {
    uint32_t mb;          /* 0: unused */
    int tmpl;             /* the unlinked template file, -1 until a job made it */
    int ready[READY_MAX];
    int nready, inflight, failures;
    uint64_t used;        /* last take, for replacing the least used size */
} kind_t;

typedef struct {
    pid_t pid;            /* 0: a worker's (ends with the worker) */
    int sock;
    uint32_t mb;
} job_t;

/* A job asked of the workers, with its socket (and the template, if any). */
typedef struct {
    uint32_t mb;
    int32_t with_tmpl;
} fork_req_t;

/* What a job answers (with the mount fd, then a new template fd if it made one). */
typedef struct {
    int32_t err, stage;
    uint32_t mb;
} job_msg_t;

enum { JS_FILE = 1, JS_MKFS, JS_COPY, JS_LOOP, JS_MOUNT, JS_ROOT };
static const char *const JOB_STAGES[] = { "", "create image", "mke2fs", "copy template", "loop device",
                                          "mount ext4", "prepare root" };

static struct {
    bool enabled;
    int dirfd;
    char mke2fs[64];
    uint32_t default_mb;
    int target;           /* made ahead of the default size */
    uint64_t clock;
    kind_t kinds[KINDS];
    job_t jobs[JOBS_MAX];
    int njobs;
    uint32_t owed[256];   /* sizes taken while JOBS_MAX jobs ran: a job each, in order */
    int nowed;
    pid_t workers[EPHEMERAL_WORKERS];
    int nworkers;
    int queue_sock;       /* the workers' queue, non-blocking; -1 none: the spawner forks its jobs itself */
} E = { .dirfd = -1, .queue_sock = -1 };

bool ephemeral_enabled(void) { return E.enabled; }

/* ---- a job (a fork of the spawner) ---- */

/* Copy the allocated extents of `in` into `out` (sparse), `size` bytes. */
static int copy_sparse(int in, int out, off_t size)
{
    off_t pos = 0;
    while (pos < size) {
        off_t d = lseek(in, pos, SEEK_DATA);
        if (d < 0) break;   /* ENXIO: only a hole is left */
        off_t h = lseek(in, d, SEEK_HOLE);
        if (h < 0) h = size;
        off_t a = d, b = d;
        while (a < h) {
            ssize_t k = copy_file_range(in, &a, out, &b, (size_t)(h - a), 0);
            if (k <= 0) return -1;
        }
        pos = h;
    }
    return ftruncate(out, size);
}

/* A file with no name in the directory (or a name unlinked at once where
 * the file system has no O_TMPFILE). */
static int new_file(void)
{
    int fd = openat(E.dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
    static unsigned seq;
    char name[64];
    snprintf(name, sizeof name, "i-%08x-%x.img", (unsigned)getpid(), seq++);
    fd = openat(E.dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) unlinkat(E.dirfd, name, 0);
    return fd;
}

static int run_mke2fs(int fd, uint32_t mb)
{
    char blocks[32];
    snprintf(blocks, sizeof blocks, "%u", mb * 256u);
    char *argv[] = { E.mke2fs, "-q", "-F", "-t", "ext4", "-b", "4096", "-m", "0", "-O", "^has_journal,^resize_inode",
                     "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=0:0",
                     "/proc/self/fd/3", blocks, NULL };
    char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int dn = open("/dev/null", O_RDWR);
        if (fd == 3) fcntl(3, F_SETFD, 0);
        else dup2(fd, 3);
        if (dn >= 0) { dup2(dn, 0); dup2(dn, 1); dup2(dn, 2); }
        execve(E.mke2fs, argv, envp);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { errno = EIO; return -1; }
    return 0;
}

/* A free loop device on `file`; its fd (the mount takes its own hold). */
static int loop_attach(int file, char *dev, size_t n)
{
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) return -1;
    uint32_t flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
    /* Jobs at once are all told the same free device: the ones that lose
     * it (EBUSY) walk on to the next numbers (made when missing) instead
     * of all asking again; now and then they ask afresh, after a pause
     * that differs per job. */
    unsigned seed = (unsigned)getpid();
    int nr = -1;
    for (int tries = 0; tries < 200; tries++) {
        if (tries % 16 == 0) {
            if (tries) {
                struct timespec ts = { 0, (long)(rand_r(&seed) % 1000) * 1000L };
                nanosleep(&ts, NULL);
            }
            if ((nr = ioctl(ctl, LOOP_CTL_GET_FREE)) < 0) break;
        } else {
            nr++;
        }
        snprintf(dev, n, "/dev/loop%d", nr);
        int lf = open(dev, O_RDWR | O_CLOEXEC);
        if (lf < 0 && (errno == ENOENT || errno == ENXIO)) {
            if (ioctl(ctl, LOOP_CTL_ADD, nr) < 0 && errno != EEXIST) continue;
            lf = open(dev, O_RDWR | O_CLOEXEC);
        }
        if (lf < 0) { if (errno == ENOENT || errno == ENXIO) continue; break; }
        struct loop_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.fd = (uint32_t)file;
        cfg.block_size = 4096;
        cfg.info.lo_flags = flags;
        if (ioctl(lf, LOOP_CONFIGURE, &cfg) == 0) { close(ctl); return lf; }
        int e = errno;
        close(lf);
        /* EBUSY: another process has that device. EINVAL with direct I/O:
         * the backing file system cannot do it. */
        if (e == EINVAL && (flags & LO_FLAGS_DIRECT_IO)) { flags &= ~(uint32_t)LO_FLAGS_DIRECT_IO; nr--; continue; }
        if (e != EBUSY) { errno = e; break; }
    }
    int e = errno;
    close(ctl);
    errno = e ? e : EBUSY;
    return -1;
}

static int mount_ext4(const char *dev)
{
    int fs = fsopen("ext4", FSOPEN_CLOEXEC);
    if (fs < 0) return -1;
    int m = -1;
    if (fsconfig(fs, FSCONFIG_SET_STRING, "source", dev, 0) == 0 &&
        fsconfig(fs, FSCONFIG_SET_FLAG, "minixdf", NULL, 0) == 0 &&
        fsconfig(fs, FSCONFIG_SET_FLAG, "noinit_itable", NULL, 0) == 0 &&
        fsconfig(fs, FSCONFIG_SET_FLAG, "nobarrier", NULL, 0) == 0 &&
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
        m = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    int e = errno;
    close(fs);
    errno = e;
    return m;
}

/* Make one /tmp of `mb`: 0 with *mnt (and *made_tmpl when there was no
 * template), or the stage that failed with errno. */
static int job_make(uint32_t mb, int tmpl, int *mnt, int *made_tmpl)
{
    off_t size = (off_t)mb << 20;
    int img = new_file();
    if (img < 0) return JS_FILE;
    if (tmpl >= 0) {
        if (copy_sparse(tmpl, img, size) < 0) return JS_COPY;
    } else {
        if (ftruncate(img, size) < 0) return JS_FILE;
        if (run_mke2fs(img, mb) < 0) return JS_MKFS;
        int t = new_file();
        if (t < 0 || copy_sparse(img, t, size) < 0) return JS_COPY;
        *made_tmpl = t;
    }
    char dev[32];
    int lf = loop_attach(img, dev, sizeof dev);
    if (lf < 0) return JS_LOOP;
    close(img);
    int m = mount_ext4(dev);
    close(lf);
    if (m < 0) return JS_MOUNT;
    int root = openat(m, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0 || fchmod(root, 01777) < 0) return JS_ROOT;
    unlinkat(root, "lost+found", AT_REMOVEDIR);   /* Lambda's /tmp starts empty */
    close(root);
    *mnt = m;
    return 0;
}

/* One job: make the file system and answer on `sock`. The caller closes
 * `sock` and `tmpl`; every fd a failed stage left open is closed by the
 * caller too (a job's process or a worker between jobs). */
static void job_run(int sock, uint32_t mb, int tmpl)
{
    int mnt = -1, made = -1;
    job_msg_t msg = { .mb = mb };
    errno = 0;
    msg.stage = job_make(mb, tmpl, &mnt, &made);
    msg.err = msg.stage ? (errno ? errno : EIO) : 0;
    int fds[2] = { mnt, made }, nf = msg.stage ? 0 : (made >= 0 ? 2 : 1);
    sp_send(sock, &msg, sizeof msg, fds, nf);
    if (mnt >= 0) close(mnt);
    if (made >= 0) close(made);
}

__attribute__((noreturn)) static void job_main(int sock, uint32_t mb, int tmpl)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    prctl(PR_SET_NAME, "nimbus-tmp", 0, 0, 0);
    /* None of the spawner's other fds (instances', inits', the daemon's). */
    spawner_close_all_but(sock, tmpl >= 0 ? tmpl : sock, E.dirfd);
    job_run(sock, mb, tmpl);
    _exit(0);
}

/* A worker: takes jobs from the spawner's queue socket (shared by every
 * worker: each message, with its fds, goes to one of them) and makes them
 * one after another until the spawner goes. A process per job cost its
 * fork and its exit (copying and tearing down the address space the
 * spawner has, with every library the daemon links: measured, a third
 * of the CPU the /tmp file systems of a 100-instance burst took), and a
 * burst's CPU is what its cold starts wait for. Between jobs it closes
 * every fd but its queue and the directory: nothing of one job stays for
 * the next. */
__attribute__((noreturn)) static void worker_main(int sock)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    prctl(PR_SET_NAME, "nimbus-tmp", 0, 0, 0);
    for (;;) {
        spawner_close_all_but(sock, E.dirfd, sock);
        fork_req_t q;
        int fds[FD_N], nf = 0;
        ssize_t r = sp_recv(sock, &q, sizeof q, fds, &nf);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) _exit(0);
        /* A malformed request: its job socket closes unanswered (below),
         * which the spawner counts as that job failed. */
        if (r != (ssize_t)sizeof q || nf < 1 + (q.with_tmpl != 0)) continue;
        job_run(fds[0], q.mb, q.with_tmpl ? fds[1] : -1);
    }
}

/* The workers, forked now while the spawner has no instance: `n`, or fewer
 * if a fork fails (none: the spawner forks its jobs itself). */
static void workers_start(int n)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return;
    int started = 0;
    for (int i = 0; i < n && i < EPHEMERAL_WORKERS; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(sv[0]);
            worker_main(sv[1]);
        }
        if (pid > 0) E.workers[started++] = pid;
    }
    close(sv[1]);
    int fl = fcntl(sv[0], F_GETFL);
    if (!started || fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0) {
        for (int i = 0; i < started; i++) kill(E.workers[i], SIGKILL);
        close(sv[0]);
        return;
    }
    E.nworkers = started;
    E.queue_sock = sv[0];
}

/* ---- the spawner's side ---- */

static kind_t *kind_find(uint32_t mb)
{
    for (int i = 0; i < KINDS; i++)
        if (E.kinds[i].mb == mb) return &E.kinds[i];
    return NULL;
}

static void kind_clear(kind_t *k)
{
    for (int i = 0; i < k->nready; i++) close(k->ready[i]);
    if (k->tmpl >= 0) close(k->tmpl);
    memset(k, 0, sizeof *k);
    k->tmpl = -1;
}

/* The kind of `mb`, made (in place of the least used one without jobs) when new. */
static kind_t *kind_get(uint32_t mb)
{
    kind_t *k = kind_find(mb), *old = NULL;
    if (k) return k;
    for (int i = 0; i < KINDS; i++) {
        kind_t *c = &E.kinds[i];
        if (c->inflight || c->mb == E.default_mb) continue;
        if (!c->mb) { old = c; break; }
        if (!old || c->used < old->used) old = c;
    }
    if (!old) return NULL;
    kind_clear(old);
    old->mb = mb;
    return old;
}

/* A job for `mb`, with its kind's template when there is one. */
static int job_start(uint32_t mb)
{
    kind_t *k = kind_find(mb);
    if (E.njobs == JOBS_MAX) { errno = EAGAIN; return -1; }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    pid_t pid = -1;
    if (E.queue_sock >= 0) {
        fork_req_t q = { .mb = mb, .with_tmpl = k && k->tmpl >= 0 };
        int fds[2] = { sv[1], q.with_tmpl ? k->tmpl : -1 };
        if (sp_send(E.queue_sock, &q, sizeof q, fds, q.with_tmpl ? 2 : 1) == 0) {
            pid = 0;
        } else if (errno != EAGAIN) {
            /* Every worker is gone: fork jobs here from now on. */
            close(E.queue_sock);
            E.queue_sock = -1;
        }
    }
    if (pid < 0) {
        pid = fork();
        if (pid == 0) {
            close(sv[0]);
            job_main(sv[1], mb, k ? k->tmpl : -1);
        }
    }
    int e = errno;
    close(sv[1]);
    if (pid < 0) { close(sv[0]); errno = e; return -1; }
    E.jobs[E.njobs++] = (job_t){ .pid = pid, .sock = sv[0], .mb = mb };
    if (k) k->inflight++;
    return 0;
}

/* A job's answer, or its end without one. */
static int job_finish(job_t *j, int *mnt, int *err, int *stage)
{
    job_msg_t msg;
    int fds[FD_N], nf = 0;
    ssize_t r = sp_recv(j->sock, &msg, sizeof msg, fds, &nf);
    close(j->sock);
    *mnt = -1;
    *stage = 0;
    kind_t *k = kind_find(j->mb);
    if (k) k->inflight--;
    if (r != (ssize_t)sizeof msg || msg.mb != j->mb) {
        for (int i = 0; i < nf; i++) close(fds[i]);
        *err = EIO;
        return -1;
    }
    if (msg.err || nf < 1) {
        for (int i = 0; i < nf; i++) close(fds[i]);
        *err = msg.err ? msg.err : EIO;
        *stage = msg.stage;
        return -1;
    }
    *mnt = fds[0];
    if (nf > 1) {
        if (k && k->tmpl < 0) k->tmpl = fds[1];
        else close(fds[1]);
    }
    return 0;
}

static void pool_put(uint32_t mb, int fd)
{
    kind_t *k = kind_find(mb);
    int want = mb == E.default_mb ? E.target : 1;
    if (!k || k->nready >= want || k->nready >= READY_MAX) { close(fd); return; }
    k->ready[k->nready++] = fd;
}

int ephemeral_take(uint32_t mb)
{
    /* No kind when every one has jobs running: a job without a template. */
    kind_t *k = kind_get(mb);
    if (k) k->used = ++E.clock;
    if (k && k->nready) return k->ready[--k->nready];
    /* None ready: one is made for this caller now, or when a job ends. */
    if (job_start(mb) < 0 && E.nowed < (int)(sizeof E.owed / sizeof E.owed[0])) E.owed[E.nowed++] = mb;
    errno = EAGAIN;
    return -1;
}

int ephemeral_pollfds(struct pollfd *pf, int max)
{
    int n = 0;
    for (int i = 0; i < E.njobs && n < max; i++) pf[n++] = (struct pollfd){ .fd = E.jobs[i].sock, .events = POLLIN };
    return n;
}

void ephemeral_collect(const struct pollfd *pf, int n, ephemeral_done_fn done)
{
    for (int i = 0; i < n; i++) {
        if (!pf[i].revents) continue;
        int at = -1;
        for (int j = 0; j < E.njobs; j++)
            if (E.jobs[j].sock == pf[i].fd) at = j;
        if (at < 0) continue;
        job_t job = E.jobs[at];
        E.jobs[at] = E.jobs[--E.njobs];
        int mnt, err, stage;
        int rc = job_finish(&job, &mnt, &err, &stage);
        kind_t *k = kind_find(job.mb);
        if (rc == 0 && k) k->failures = 0;
        if (rc < 0 && k) k->failures++;
        if (!done(job.mb, mnt, rc == 0 ? 0 : err) && mnt >= 0) pool_put(job.mb, mnt);
    }
    while (E.nowed && job_start(E.owed[0]) == 0) memmove(E.owed, E.owed + 1, --E.nowed * sizeof E.owed[0]);
}

bool ephemeral_refill_wanted(void)
{
    if (!E.enabled || E.njobs >= JOBS_MAX) return false;
    for (int i = 0; i < KINDS; i++) {
        kind_t *k = &E.kinds[i];
        int want = k->mb == E.default_mb ? E.target : 1;
        if (k->mb && k->failures < FAILURES_MAX && k->nready + k->inflight < want) return true;
    }
    return false;
}

void ephemeral_refill(void)
{
    for (int i = 0; i < KINDS; i++) {
        kind_t *k = &E.kinds[i];
        int want = k->mb == E.default_mb ? E.target : 1;
        if (k->mb && k->failures < FAILURES_MAX && k->nready + k->inflight < want) {
            if (job_start(k->mb) < 0) k->failures++;
            return;
        }
    }
}

void ephemeral_shutdown(void)
{
    for (int i = 0; i < E.njobs; i++) {
        if (E.jobs[i].pid > 0) kill(E.jobs[i].pid, SIGKILL);
        close(E.jobs[i].sock);
    }
    E.njobs = 0;
    for (int i = 0; i < E.nworkers; i++) kill(E.workers[i], SIGKILL);
    if (E.queue_sock >= 0) close(E.queue_sock);
    E.nworkers = 0;
    E.queue_sock = -1;
    for (int i = 0; i < KINDS; i++) kind_clear(&E.kinds[i]);
}

/* ---- start ---- */

/* Files a Nimbus on this data dir left where the file system has no
 * O_TMPFILE: "i-<its spawner's pid>-N.img", removed once that pid is gone. */
static void sweep(void)
{
    int fd = openat(E.dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) { if (fd >= 0) close(fd); return; }
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned pid;
        if (sscanf(e->d_name, "i-%8x-", &pid) != 1) continue;
        if (pid > 0 && (pid_t)pid != getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
            unlinkat(E.dirfd, e->d_name, 0);
    }
    closedir(d);
}

bool ephemeral_setup(const char *data_dir, uint32_t default_mb, int ready, char *why, size_t n)
{
    for (int i = 0; i < KINDS; i++) E.kinds[i].tmpl = -1;
    E.default_mb = default_mb;
    /* At least 4 even without inits made ahead: one takes 5-30 ms to make,
     * longer than cold starts in a row are apart. */
    E.target = ready > 4 ? (ready < READY_MAX ? ready : READY_MAX) : 4;
    static const char *const mk[] = { "/usr/sbin/mke2fs", "/sbin/mke2fs" };
    for (size_t i = 0; i < sizeof mk / sizeof mk[0] && !E.mke2fs[0]; i++)
        if (access(mk[i], X_OK) == 0) snprintf(E.mke2fs, sizeof E.mke2fs, "%s", mk[i]);
    if (!E.mke2fs[0]) { snprintf(why, n, "no mke2fs (e2fsprogs)"); return false; }
    if (access("/dev/loop-control", R_OK | W_OK) < 0) {
        snprintf(why, n, "/dev/loop-control: %s", strerror(errno));
        return false;
    }
    char dir[600];
    snprintf(dir, sizeof dir, "%s/ephemeral", data_dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) { snprintf(why, n, "mkdir %s: %s", dir, strerror(errno)); return false; }
    E.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (E.dirfd < 0) { snprintf(why, n, "%s: %s", dir, strerror(errno)); return false; }
    sweep();
    /* The probe: one made now, waited for (the daemon is not serving yet),
     * which also makes the default size's template. */
    kind_t *k = kind_get(default_mb);
    if (!k || job_start(default_mb) < 0) { snprintf(why, n, "fork: %s", strerror(errno)); return false; }
    job_t job = E.jobs[--E.njobs];
    struct pollfd pf = { .fd = job.sock, .events = POLLIN };
    int mnt = -1, err = ETIMEDOUT, stage = 0;
    if (poll(&pf, 1, 20000) == 1) job_finish(&job, &mnt, &err, &stage);
    else { kill(job.pid, SIGKILL); close(job.sock); k->inflight--; }
    if (mnt < 0) {
        snprintf(why, n, "%s: %s", JOB_STAGES[stage > 0 && stage <= JS_ROOT ? stage : 0], strerror(err));
        kind_clear(k);
        close(E.dirfd);
        E.dirfd = -1;
        return false;
    }
    E.enabled = true;
    pool_put(default_mb, mnt);
    workers_start(EPHEMERAL_WORKERS);   /* without them, the spawner forks its jobs itself */
    return true;
}
