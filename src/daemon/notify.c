/* notify.c — systemd's readiness protocol without libsystemd, and the data
 * directory's lock.
 *
 * The protocol is one datagram of "NAME=VALUE" lines on the AF_UNIX socket
 * NOTIFY_SOCKET names: a path, or an abstract name written with a leading
 * '@' (sd_notify(3)). Must never: block the daemon on the manager, or let
 * a child inherit NOTIFY_SOCKET (an instance could claim to be the daemon).
 */
#define _GNU_SOURCE
#include "daemon/notify.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_un g_addr;
static socklen_t g_addr_len;   /* 0: no manager listens */

void notify_init(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    size_t n = s ? strlen(s) : 0;
    if (n >= 2 && n < sizeof g_addr.sun_path && (s[0] == '/' || s[0] == '@')) {
        memset(&g_addr, 0, sizeof g_addr);
        g_addr.sun_family = AF_UNIX;
        memcpy(g_addr.sun_path, s, n);
        if (s[0] == '@') g_addr.sun_path[0] = '\0';
        /* An abstract name is exactly its n bytes; a path ends at its NUL. */
        g_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (s[0] == '/'));
    }
    unsetenv("NOTIFY_SOCKET");
}

int notify_send(const char *state, err_t *err)
{
    if (!g_addr_len) return 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return err_sys(err, "notify socket");
    ssize_t w;
    do w = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&g_addr, g_addr_len);
    while (w < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    if (w < 0) return err_sys(err, "notify %s", g_addr.sun_path[0] ? g_addr.sun_path : g_addr.sun_path + 1);
    return 0;
}

/* The pid the lock file names, or 0. */
static long lock_holder(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    long pid = strtol(buf, NULL, 10);
    return pid > 0 ? pid : 0;
}

/* Whether process `pid` has ended (gone, or a zombie not yet reaped). */
static bool process_ended(long pid)
{
    if (kill((pid_t)pid, 0) < 0) return errno == ESRCH;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');   /* the name may hold anything */
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

int notify_lock_data_dir(const char *dir, err_t *err)
{
    char path[700];
    snprintf(path, sizeof path, "%s/nimbus.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return err_sys(err, "lock %s", path);
    for (int tries = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; tries++) {
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) {
            err_sys(err, "lock %s", path);
            close(fd);
            return -1;
        }
        long pid = lock_holder(fd);
        /* The pid it names is gone: what still holds the lock is what it
         * forked (the spawner), ending with it. */
        bool gone = pid > 0 && process_ended(pid);
        if (!gone || tries >= 40) {
            if (pid > 0)
                err_set(err, ERR_CONFLICT, "data dir %s is in use by nimbus serve (pid %ld)", dir, pid);
            else
                err_set(err, ERR_CONFLICT, "data dir %s is in use by another nimbus serve", dir);
            close(fd);
            return -1;
        }
        nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        err_sys(err, "write %s", path);
        close(fd);
        return -1;
    }
    return fd;
}
