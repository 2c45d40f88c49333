/* core.c — the core's defaults. */
#include "core/core.h"

void core_limits_defaults(core_limits_t *l)
{
    l->max_instances_per_fn = 100;
    l->account_concurrency = 1000;
    l->keep_alive_ms = 120000;
    l->throttle_wait_ms = 5000;
    l->max_queue = 10000;
    l->init_timeout_ms = 10000;   /* Lambda's init phase limit */
    l->term_grace_ms = 2000;
}
