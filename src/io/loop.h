/* loop.h — the event loop: epoll for file descriptors, a timer heap, and a
 * small worker pool whose results come back on the loop thread through an
 * eventfd.
 *
 * One thread owns a loop_t and every callback below runs on that thread,
 * except a loop_work_fn, which runs on a worker and must not touch loop
 * state (it may only read/write what its `arg` owns). Nothing registered
 * here may block: blocking work (SQLite, fsync, ZIP extraction) goes through
 * loop_submit().
 */
#ifndef NIMBUS_LOOP_H
#define NIMBUS_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "base/err.h"

typedef struct loop loop_t;
typedef struct loop_timer loop_timer_t;

/* `events` is the epoll mask that fired (EPOLLIN, EPOLLOUT, EPOLLHUP, ...). */
typedef void (*loop_io_fn)(loop_t *l, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_fn)(loop_t *l, void *arg);
/* Runs on a worker thread. */
typedef void (*loop_work_fn)(void *arg);
/* Runs on the loop thread once the matching loop_work_fn has returned. */
typedef void (*loop_done_fn)(loop_t *l, void *arg);

/* Create a loop with `nworkers` worker threads (0 runs work inline on the
 * loop thread, which is only sensible in tests). */
loop_t *loop_new(int nworkers, err_t *err);
/* Stop workers (after finishing queued work) and free. Registered fds are
 * not closed: their owners close them. */
void loop_free(loop_t *l);

/* Watch `fd` for `events` (EPOLLIN/EPOLLOUT; edge-triggered is not used).
 * One registration per fd; registering again replaces the callback. */
int loop_add_fd(loop_t *l, int fd, uint32_t events, loop_io_fn fn, void *arg, err_t *err);
/* Change the event mask of a registered fd. */
int loop_mod_fd(loop_t *l, int fd, uint32_t events, err_t *err);
/* Stop watching `fd`. Safe to call from inside that fd's own callback and
 * before close(fd). Unknown fds are ignored. */
void loop_del_fd(loop_t *l, int fd);

/* One-shot timer firing `ms` milliseconds from now. The handle is valid
 * until the timer fires (after the callback returns it is freed) or is
 * cancelled. */
loop_timer_t *loop_timer_add(loop_t *l, uint64_t ms, loop_timer_fn fn, void *arg);
/* Cancel a pending timer; NULL is allowed. Never call it on a timer that
 * already fired. */
void loop_timer_cancel(loop_t *l, loop_timer_t *t);

/* Queue blocking work. `work(arg)` runs on a worker thread, then
 * `done(loop, arg)` on the loop thread (done may be NULL). FIFO per worker
 * pool; no ordering between concurrently running items. */
void loop_submit(loop_t *l, loop_work_fn work, loop_done_fn done, void *arg);
/* Number of submitted items whose done callback has not run yet. */
unsigned loop_pending_work(const loop_t *l);

/* Run until loop_stop(). Returns 0, or -1 if epoll itself failed. */
int loop_run(loop_t *l, err_t *err);
/* Make loop_run() return after the current iteration. Loop thread only. */
void loop_stop(loop_t *l);

/* Monotonic clock, in ns and ms; and wall clock in ms since the epoch. */
uint64_t loop_now_ns(void);
uint64_t loop_now_ms(void);
uint64_t loop_wall_ms(void);

#endif
