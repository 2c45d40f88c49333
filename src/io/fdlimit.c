/* fdlimit.c — RLIMIT_NOFILE raised once, and the reserve at its top
 * (see fdlimit.h). Owns nothing but the cached limit. Must never: lower a
 * limit, or be the reason a descriptor is not closed. */
#include "io/fdlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

static unsigned long g_max;   /* 0: not read yet */

static unsigned long clamp_ul(rlim_t v)
{
    /* RLIM_INFINITY is not an fd number: the kernel's own cap is 2^20
     * unless raised, far more than a loop serves. */
    return v == RLIM_INFINITY || v > (1ul << 30) ? (1ul << 30) : (unsigned long)v;
}

int fdlimit_raise(unsigned long *before, unsigned long *after, err_t *err)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return err_sys(err, "getrlimit(RLIMIT_NOFILE)");
    if (before) *before = clamp_ul(rl.rlim_cur);
    if (rl.rlim_cur != rl.rlim_max) {
        struct rlimit up = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &up) < 0) return err_sys(err, "setrlimit(RLIMIT_NOFILE)");
        rl = up;
    }
    g_max = clamp_ul(rl.rlim_cur);
    if (after) *after = g_max;
    return 0;
}

unsigned long fdlimit_max(void)
{
    if (!g_max) {
        struct rlimit rl;
        g_max = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? clamp_ul(rl.rlim_cur) : 1024;
    }
    return g_max;
}

unsigned long fdlimit_reserve(void)
{
    unsigned long r = fdlimit_max() / 8;
    return r < 32 ? 32 : r > 1024 ? 1024 : r;
}

bool fdlimit_in_reserve(int fd, unsigned long reserve)
{
    unsigned long max = fdlimit_max();
    return fd >= 0 && (max <= reserve || (unsigned long)fd >= max - reserve);
}

bool fdlimit_room(unsigned n)
{
    int fds[FDLIMIT_ROOM_MAX];
    unsigned got = 0;
    bool ok = true;
    if (n > FDLIMIT_ROOM_MAX) n = FDLIMIT_ROOM_MAX;
    while (got < n) {
        int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            /* No stderr to copy says nothing about the limit. */
            ok = errno != EMFILE && errno != ENFILE;
            break;
        }
        fds[got++] = fd;
    }
    for (unsigned i = 0; i < got; i++) close(fds[i]);
    return ok;
}
