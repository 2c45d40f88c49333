/* cgroup.h — one control group per instance, cgroup v1 or v2 behind one
 * interface.
 *
 * Today it measures (memory peak, reset per call) and ends process trees
 * (every process of the group, however it was forked or setsid'd). The
 * sandbox adds limits through the same handle. Groups are made under the
 * daemon's own group (read from /proc/self/cgroup), so a delegated subtree
 * works. Without a usable memory controller (not root, no delegation)
 * cgroup_available() is false and callers fall back to per-process figures.
 */
#ifndef NIMBUS_CGROUP_H
#define NIMBUS_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

typedef struct cgroup cgroup_t;

/* Probe once: is there a memory controller we may create groups in? */
bool cgroup_available(void);
/* "v1", "v2" or "none". */
const char *cgroup_version(void);

/* Create the group `name` (unique per instance) under Nimbus' parent. */
cgroup_t *cgroup_create(const char *name, err_t *err);
/* Move the calling process into the group. Async-signal-safe (open, write,
 * close only), so a freshly cloned child may call it before exec. */
int cgroup_enter_self(const cgroup_t *cg);
/* Highest memory use of the group since creation or the last reset, bytes;
 * -1 if unknown. */
int64_t cgroup_memory_peak(const cgroup_t *cg);
/* Restart peak tracking from the current use (done at each call's start). */
int cgroup_memory_peak_reset(cgroup_t *cg);
/* SIGKILL every process in the group; returns how many were signalled. */
int cgroup_kill_all(const cgroup_t *cg);
/* Kill what is left, wait briefly for the group to empty, remove it. */
void cgroup_destroy(cgroup_t *cg);

#endif
