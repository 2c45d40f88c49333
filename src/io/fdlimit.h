/* fdlimit.h — the process's file descriptor limit and the reserve kept at
 * its top.
 *
 * The daemon raises its soft limit to the hard one at start (before the
 * spawner is forked, so both have it). Whatever the limit, its top
 * `fdlimit_reserve()` descriptors are kept for what must not fail under
 * load: instances being started (their pidfd, pipes, sockets), their
 * Runtime API connections, the store. The public HTTP edge stops taking
 * connections before it would eat into the reserve (it answers 503), and a
 * cold start needs a few dozen free (else its call is refused with 503). So
 * at exhaustion the platform refuses work it has not begun rather than
 * failing work it has (a call blamed on its function).
 *
 * The edge's check rests on the kernel handing out the lowest free
 * descriptor: an fd numbered k means 0..k-1 are all in use, so a connection
 * numbered in the reserve is one the edge must not keep. It costs nothing
 * and never refuses while the reserve is untouched. The cold start's check
 * counts for real (holes left by closed connections count as free).
 */
#ifndef NIMBUS_FDLIMIT_H
#define NIMBUS_FDLIMIT_H

#include <stdbool.h>

#include "base/err.h"

/* Raise RLIMIT_NOFILE's soft limit to its hard limit. `before`/`after`
 * (either may be NULL) get the soft limit as it was and as it is now. */
int fdlimit_raise(unsigned long *before, unsigned long *after, err_t *err);
/* The soft limit (read once, then as fdlimit_raise left it). */
unsigned long fdlimit_max(void);
/* The size of the reserve: an eighth of the limit, at least 32, at most 1024. */
unsigned long fdlimit_reserve(void);
/* fd (just handed out) lies within the top `reserve` of the limit. */
bool fdlimit_in_reserve(int fd, unsigned long reserve);
/* At least `n` (at most FDLIMIT_ROOM_MAX) more fds can be opened now:
 * n dups and n closes. */
#define FDLIMIT_ROOM_MAX 64u
bool fdlimit_room(unsigned n);

#endif
