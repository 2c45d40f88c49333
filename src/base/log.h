/* log.h — the daemon's own log (placeholder until the log facility lands). */
#ifndef NIMBUS_LOG_H
#define NIMBUS_LOG_H

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
