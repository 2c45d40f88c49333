/* cgroup.h — one control group per instance, cgroup v1 or v2 behind one
 * interface.
 *
 * Today it measures (memory peak, reset per call) and ends process trees
 * (every process of the group, however it was forked or setsid'd). The
 * sandbox adds limits through the same handle. Groups are made under the
 * daemon's own group (read from /proc/self/cgroup), so a delegated subtree
 * works; on v2 the daemon's processes move to a leaf "nimbus-procs" of that
 * group first (v2 lets only a group without processes give its children
 * controllers; the root is the exception). Without a usable memory controller (not root, no delegation)
 * cgroup_available() is false and callers fall back to per-process figures.
 */
#ifndef NIMBUS_CGROUP_H
#define NIMBUS_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

typedef struct cgroup cgroup_t;

/* Probe once: is there a memory controller we may create groups in? */
bool cgroup_available(void);
/* "v1", "v2" or "none". */
const char *cgroup_version(void);

/* Create the group `name` (unique per instance) under Nimbus' parent. */
cgroup_t *cgroup_create(const char *name, err_t *err);
/* Move the calling process into the group (every hierarchy it spans). Async-signal-safe (open, write,
 * close only), so a freshly cloned child may call it before exec. */
int cgroup_enter_self(const cgroup_t *cg);
/* Its cgroup.procs files (every hierarchy it spans), opened for writing,
 * into `fds`: another process joins the group by writing "0" to each (the
 * zygote's fork, which cannot see /sys). How many (1..3), or -1. */
int cgroup_open_procs(const cgroup_t *cg, int fds[3]);
/* Move process `pid` (with its threads, not its children) into the group. */
int cgroup_enter(const cgroup_t *cg, pid_t pid);
/* Highest memory use of the group since creation or the last reset, bytes;
 * -1 if unknown. */
int64_t cgroup_memory_peak(const cgroup_t *cg);
/* Restart peak tracking from the current use (done at each call's start). */
int cgroup_memory_peak_reset(cgroup_t *cg);
/* SIGKILL every process in the group; returns how many were signalled
 * (v2, with cgroup.kill: 1). */
int cgroup_kill_all(const cgroup_t *cg);
/* Kill what is left, wait briefly for the group to empty, remove it. */
void cgroup_destroy(cgroup_t *cg);

/* ---- limits (the sandbox's spawner) ---- */

typedef struct {
    int64_t memory_bytes;    /* hard limit, no swap on top; 0 = none */
    int64_t cpu_quota_us;    /* CFS quota per period; 0 = none */
    int64_t cpu_period_us;   /* CFS period (100000 when 0) */
    int pids_max;            /* 0 = none */
} cgroup_limits_t;

/* The limits of a function with `memory_mb`: memory = MemorySize, CPU
 * proportional to memory (1769 MB = one full CPU, as Lambda), `pids_max`. */
void cgroup_limits_for(int memory_mb, int pids_max, cgroup_limits_t *out);
/* Like cgroup_create, with the limits applied on every controller there is
 * (v1: memory, cpu, pids hierarchies; v2: one group). A controller that is
 * missing is skipped; a limit that cannot be written is an error. */
cgroup_t *cgroup_create_limited(const char *name, const cgroup_limits_t *lim, err_t *err);
/* The same in two steps: the group on every controller there is, without
 * limits (made ahead of need), then the limits (0 or -1 with err). */
cgroup_t *cgroup_create_all(const char *name, err_t *err);
int cgroup_apply_limits(cgroup_t *cg, const cgroup_limits_t *lim, err_t *err);
/* Which limits are in force (bit 1 memory, 2 memory+swap, 4 cpu, 8 pids). */
unsigned cgroup_limits_applied(const cgroup_t *cg);
/* New fds for another process to read: the memory peak (O_RDWR where the
 * kernel allows, so a write resets it) and the OOM-kill counter file
 * (v1 memory.oom_control, v2 memory.events). -1 when missing. */
int cgroup_open_peak(const cgroup_t *cg);
int cgroup_open_oom_events(const cgroup_t *cg);
/* The same operations on such an fd. */
int64_t cgroup_fd_memory_peak(int fd);
int cgroup_fd_memory_peak_reset(int fd);
/* Processes the kernel's OOM killer killed in the group so far, -1 unknown. */
int64_t cgroup_fd_oom_kills(int fd);
/* The group's directories (memory or v2, then v1 cpu and pids; "" when
 * absent), for another process to name it. */
void cgroup_dirs(const cgroup_t *cg, char dirs[3][256]);
/* A handle on a group another process made, by those directories: only
 * for cgroup_enter_self (and cgroup_forget); it is not removed here. */
cgroup_t *cgroup_attach(const char dirs[3][256]);
void cgroup_forget(cgroup_t *cg);
/* Remove empty groups "nimbus-<16 hex>" left by a Nimbus that was killed
 * (the last 8 hex digits name its daemon's pid, which must be gone). */
void cgroup_sweep_stale(void);
/* Remove the empty groups named for daemon `owner` (gone, or done with
 * them); returns how many of them could not be removed (not empty yet). */
unsigned cgroup_sweep_owned(pid_t owner);
/* Remove the group without waiting: 0 and `cg` is freed when it was empty
 * (or gone), -1 (EBUSY) while processes remain; call again later. */
int cgroup_try_remove(cgroup_t *cg);

#endif
