/* log.h — the daemon's one diagnostics channel: a line per event, with a
 * level, to stderr (or wherever start-up says).
 *
 * Text format (the default) prints exactly what the daemon always printed:
 *
 *   nimbus: <message>            log_write / log_info / ...
 *   nimbus <who>: <message>      log_write_from(level, "serve", ...)
 *
 * and a message of several lines gets the prefix on each line. The level
 * is not printed in text; a warning that must stand out says "WARNING: "
 * in its message. JSON format prints one object per line, members in this
 * order:
 *
 *   {"time":"2026-11-22T15:53:15.123Z","level":"warn","who":"serve","msg":"..."}
 *
 * ("who" only when given; "time" is UTC with milliseconds).
 *
 * Thread-safe: workers may log; each record is one write(2), so records
 * never interleave. Not for a forked child before exec (another thread may
 * hold the lock at fork time): a child writes to its fd directly.
 *
 * Only the daemon's edges and its long-lived services log; a function
 * that can fail returns an err_t instead.
 */
#ifndef NIMBUS_LOG_H
#define NIMBUS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Not LOG_LEVEL_INFO & co: <syslog.h> defines those as macros. */
typedef enum {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
} log_level_t;

typedef enum {
    LOG_FORMAT_TEXT,   /* "nimbus: message" */
    LOG_FORMAT_JSON,   /* one JSON object per line */
} log_format_t;

/* Receives each record (all its lines, newline-terminated) instead of the
 * fd; runs with the log's lock held, so it must not log. For tests. */
typedef void (*log_sink_fn)(void *arg, log_level_t level, const char *record, size_t len);

typedef struct {
    log_format_t format;       /* LOG_FORMAT_TEXT by default */
    log_level_t min_level;     /* records below it are dropped; LOG_LEVEL_INFO by default */
    int fd;                    /* destination; 0 -> 2 (stderr) */
    log_sink_fn sink;          /* if set, records go here and not to fd */
    void *sink_arg;
    uint64_t (*clock_ms)(void);/* wall clock (ms since the epoch) for JSON "time";
                                  NULL -> CLOCK_REALTIME */
} log_config_t;

/* Set the destination, once at start-up (before workers exist) or in a
 * test. NULL restores the defaults: text, info and up, stderr. */
void log_configure(const log_config_t *cfg);

/* Would a record at `level` be written? (Skip building costly messages.) */
bool log_enabled(log_level_t level);

void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, naming the part that speaks ("nimbus serve: ..."). */
void log_write_from(log_level_t level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(log_level_t level, const char *who, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)

/* "debug", "info", "warn", "error". */
const char *log_level_name(log_level_t level);
/* "text" or "json" (what a --log-format flag takes): 0, or -1 when
 * neither. */
int log_format_parse(const char *s, log_format_t *out);

#endif
