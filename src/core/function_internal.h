/* function_internal.h — what function.c and function_input.c share. Not a
 * contract: nothing outside the function module includes it. */
#ifndef NIMBUS_FUNCTION_INTERNAL_H
#define NIMBUS_FUNCTION_INTERNAL_H

#include "core/function.h"

/* At least the number of rows in the field table (checked at build time),
 * so a pass over the rows can keep its state on the stack. */
#define FUNCTION_FIELDS_MAX 48

/* strdup that aborts when memory runs out. */
char *function_strdup(const char *s);
/* Copies s into a fixed member of n bytes; false if it does not fit. */
bool function_copy_string(char *dst, size_t n, const char *s);
void function_env_free(function_env_t *env, size_t n);

/* The member a row names. */
static inline void *function_member(const function_field_t *f, function_config_t *c)
{
    return (char *)c + f->offset;
}

static inline const void *function_cmember(const function_field_t *f, const function_config_t *c)
{
    return (const char *)c + f->offset;
}

#endif
