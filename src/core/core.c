/* core.c — the limits only the core knows. The daemon's settings (its
 * option table) give the rest; nothing here repeats them. */
#include "core/core.h"

void core_limits_defaults(core_limits_t *l)
{
    l->init_timeout_ms = 10000;   /* Lambda's init phase limit */
    l->term_grace_ms = 2000;      /* between SIGTERM and SIGKILL */
}
