/* notify.h — what `nimbus serve` tells the service manager that started it
 * (systemd's notify protocol, sd_notify(3)), and the lock that keeps one
 * daemon per data directory. */
#ifndef NIMBUS_DAEMON_NOTIFY_H
#define NIMBUS_DAEMON_NOTIFY_H

#include "base/err.h"

/* Take NOTIFY_SOCKET from the environment and remove it there, so that no
 * process the daemon starts inherits it. Call once, before any fork. */
void notify_init(void);
/* Send `state` ("READY=1", "STOPPING=1", newline-separated assignments) as
 * one datagram to the socket notify_init() found; nothing when there was
 * none. 0, or -1 with err (the daemon carries on: a manager that cannot
 * hear us times the start out itself). */
int notify_send(const char *state, err_t *err);

/* Hold `dir`/nimbus.lock (flock, exclusive) for the life of this process and
 * whatever it forks, with this pid written in it. A second daemon gets
 * ERR_CONFLICT: "data dir DIR is in use by nimbus serve (pid N)". A holder
 * that has just died (its children release the lock a moment later) is
 * waited for, up to 2 s. Returns the lock's fd, or -1 with err. */
int notify_lock_data_dir(const char *dir, err_t *err);

#endif
