/* ephemeral.h — each instance's /tmp as storage of its own, not memory:
 * a fresh ext4 file system of EphemeralStorage.Size MB on a sparse file
 * under <data>/ephemeral, attached to a loop device and mounted detached
 * (a mount fd), which the instance's init moves onto its /tmp.
 *
 * A tmpfs is charged to the memory cgroup of the task that writes it and
 * cannot be reclaimed without swap: a 128 MB function writing 200 MB to
 * /tmp is killed. Pages of a disk file system are charged too, but they
 * are page cache the kernel writes back and reclaims at the limit, so
 * /tmp is bounded by its own size alone (ENOSPC), whichever cgroup version
 * the host has.
 *
 * Making one takes milliseconds (loop device, ext4 mount), so the spawner
 * keeps a few made ahead per size ("the pool") and a cold start only takes
 * one. Each is made by a worker process (a child of the spawner, one job
 * at a time: ephemeral.c), so the spawner's loop never waits for one; an init whose size has none ready
 * waits for its job. Every file is unlinked as soon as its loop device
 * holds it: when the last mount of it goes (the instance's namespace ends,
 * or the spawner dies with its pool) the kernel frees the device and the
 * file, so nothing outlives an instance, even after kill -9. The
 * file system of one size is made once (mke2fs) and kept as an unlinked
 * template only the spawner holds; each instance gets a copy of it.
 *
 * Used only by the spawner process (spawner.c). Not rootless (loop
 * devices and ext4 mounts need real root): there, and where the probe at
 * start fails, /tmp stays a tmpfs and ephemeral_enabled() is false.
 *
 * Must never: hand one instance a file system another has used, keep a
 * name on disk longer than it takes to attach it, or run while the spawner
 * waits on it.
 */
#ifndef NIMBUS_EPHEMERAL_H
#define NIMBUS_EPHEMERAL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Probe (make one /tmp of `default_mb` and keep it) and sweep what a
 * Nimbus killed with this data dir left. `ready` (at least 4) kept made
 * ahead of the default size, one of each other size in use. false with
 * `why` when /tmp must stay a tmpfs. */
bool ephemeral_setup(const char *data_dir, uint32_t default_mb, int ready, char *why, size_t n);
bool ephemeral_enabled(void);

/* A made /tmp of `mb` (a detached mount fd, the caller's), or -1: none is
 * ready, and one is being made for the caller (ephemeral_collect gives it). */
int ephemeral_take(uint32_t mb);

/* Jobs at once: making one mostly waits (RCU grace periods, I/O), so
 * many overlap well even on few CPUs. */
#define EPHEMERAL_JOBS_MAX 32
/* The processes that make them, each one job at a time (ephemeral.c). */
#define EPHEMERAL_WORKERS 8

/* The jobs' sockets, for the spawner's poll: at most `max` in pf; how many. */
int ephemeral_pollfds(struct pollfd *pf, int max);
/* A job is done: `fd` is a mount fd of `mb`, or -1 with `err`. Return true
 * when the caller took it (a waiting init), false to pool it (or drop it,
 * on error). */
typedef bool (*ephemeral_done_fn)(uint32_t mb, int fd, int err);
/* Handle the jobs whose sockets `pf` (from ephemeral_pollfds) marked. */
void ephemeral_collect(const struct pollfd *pf, int n, ephemeral_done_fn done);
/* Is a made-ahead /tmp missing (and may one be made now)? Make one. */
bool ephemeral_refill_wanted(void);
void ephemeral_refill(void);
/* Close the pool and the templates (the kernel frees their devices). */
void ephemeral_shutdown(void);

#endif
