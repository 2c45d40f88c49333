/* log.c — the daemon log: formats a record (text or JSON) and writes it
 * whole.
 *
 * Owns the destination and its lock. Must never: write one record in
 * several write(2) calls (lines of concurrent workers would interleave),
 * change errno for its caller, or fail loudly (a log that cannot be written
 * has nowhere to say so).
 */
#define _GNU_SOURCE
#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/errdoc.h"
#include "base/util.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static log_config_t g_cfg = { .format = LOG_FORMAT_TEXT, .min_level = LOG_LEVEL_INFO, .fd = 2 };
/* Read without the lock by log_enabled(), so kept apart and atomic. */
static int g_min_level = LOG_LEVEL_INFO;

void log_configure(const log_config_t *cfg)
{
    pthread_mutex_lock(&g_lock);
    if (cfg) {
        g_cfg = *cfg;
    } else {
        g_cfg = (log_config_t){ .format = LOG_FORMAT_TEXT, .min_level = LOG_LEVEL_INFO };
    }
    if (g_cfg.fd == 0) g_cfg.fd = 2;
    __atomic_store_n(&g_min_level, (int)g_cfg.min_level, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&g_lock);
}

bool log_enabled(log_level_t level)
{
    return (int)level >= __atomic_load_n(&g_min_level, __ATOMIC_RELAXED);
}

const char *log_level_name(log_level_t level)
{
    switch (level) {
    case LOG_LEVEL_DEBUG: return "debug";
    case LOG_LEVEL_INFO: return "info";
    case LOG_LEVEL_WARN: return "warn";
    case LOG_LEVEL_ERROR: return "error";
    }
    return "info";
}

int log_format_parse(const char *s, log_format_t *out)
{
    if (!s) return -1;
    if (strcmp(s, "text") == 0) *out = LOG_FORMAT_TEXT;
    else if (strcmp(s, "json") == 0) *out = LOG_FORMAT_JSON;
    else return -1;
    return 0;
}

static uint64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void put_time(buf_t *b, uint64_t ms)
{
    time_t sec = (time_t)(ms / 1000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char t[40];
    size_t n = strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
    buf_append(b, "\"", 1);
    buf_append(b, t, n);
    buf_appendf(b, ".%03uZ\"", (unsigned)(ms % 1000u));
}

/* "nimbus[ who]: " before each line; a final newline in msg ends the last
 * line rather than starting an empty one. */
static void format_text(buf_t *b, const char *who, const char *msg, size_t len)
{
    const char *p = msg, *end = msg + len;
    do {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        buf_append(b, "nimbus", 6);
        if (who) {
            buf_append(b, " ", 1);
            buf_append(b, who, strlen(who));
        }
        buf_append(b, ": ", 2);
        buf_append(b, p, (size_t)(le - p));
        buf_append(b, "\n", 1);
        p = nl ? nl + 1 : end;
    } while (p < end);
}

static void format_json(buf_t *b, uint64_t ms, log_level_t level, const char *who, const char *msg)
{
    buf_append(b, "{\"time\":", 8);
    put_time(b, ms);
    buf_append(b, ",\"level\":\"", 10);
    const char *ln = log_level_name(level);
    buf_append(b, ln, strlen(ln));
    buf_append(b, "\"", 1);
    if (who) {
        buf_append(b, ",\"who\":", 7);
        errdoc_json_string(b, who);
    }
    buf_append(b, ",\"msg\":", 7);
    errdoc_json_string(b, msg);
    buf_append(b, "}\n", 2);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void log_vwrite(log_level_t level, const char *who, const char *fmt, va_list ap)
{
    if (!log_enabled(level)) return;
    int saved = errno;
    char small[512], *big = NULL;
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(small, sizeof small, fmt, aq);
    va_end(aq);
    const char *text = small;
    size_t len = n > 0 ? (size_t)n : 0;
    if (len >= sizeof small) {
        big = malloc(len + 1);
        if (!big) abort();
        vsnprintf(big, len + 1, fmt, ap);
        text = big;
    }
    /* A trailing newline is the caller's habit from fprintf, not content. */
    if (len && text[len - 1] == '\n') len--;

    buf_t rec = { 0 };
    pthread_mutex_lock(&g_lock);
    if (g_cfg.format == LOG_FORMAT_JSON) {
        char *m = strndup(text, len);
        if (!m) abort();
        format_json(&rec, g_cfg.clock_ms ? g_cfg.clock_ms() : realtime_ms(), level, who, m);
        free(m);
    } else {
        format_text(&rec, who, text, len);
    }
    if (g_cfg.sink) g_cfg.sink(g_cfg.sink_arg, level, rec.data, rec.len);
    else write_all(g_cfg.fd, rec.data, rec.len);
    pthread_mutex_unlock(&g_lock);
    buf_free(&rec);
    free(big);
    errno = saved;
}

void log_write(log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, NULL, fmt, ap);
    va_end(ap);
}

void log_write_from(log_level_t level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, who, fmt, ap);
    va_end(ap);
}
