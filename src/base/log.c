/* log.c — placeholder: one line per message on stderr, "nimbus: " first. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

void log_write(log_level_t level, const char *fmt, ...)
{
    (void)level;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "nimbus: %s\n", line);
}
