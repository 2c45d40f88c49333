/* instance_internal.h — what instance.c (an instance's life) and
 * instance_output.c (its output pipes read into log lines) share. Not a
 * contract: nothing outside src/core/instance*.c includes it.
 */
#ifndef NIMBUS_INSTANCE_INTERNAL_H
#define NIMBUS_INSTANCE_INTERNAL_H

#include "core/instance.h"
#include "io/loop.h"

/* The line saying what the last output window dropped, if anything was. */
void instance_output_report(instance_t *in);
/* Emit its partial lines (text without a final newline) as whole ones. */
void instance_output_flush(instance_t *in);
/* The loop's callback for its stdout and stderr pipes (level-triggered):
 * reads a bounded amount per wake-up; at EOF stops watching the pipe. */
void instance_output_cb(loop_t *l, int fd, uint32_t events, void *arg);

#endif
