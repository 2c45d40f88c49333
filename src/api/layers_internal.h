/* layers_internal.h — what the two files of the layers module share:
 * layers.c (the API, a function's Layers) and layers_policy.c (each
 * version's permissions policy). Not a contract: layers.h is.
 */
#ifndef NIMBUS_LAYERS_INTERNAL_H
#define NIMBUS_LAYERS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "store/store.h"

/* Lambda's refusal of another account's layer: caller, action, resource, action. */
#define LAYERS_DENIED_FMT                                                                                     \
    "User: %s is not authorized to perform: lambda:%s on resource: %s because no resource-based policy allows " \
    "the lambda:%s action"

/* The store's key for `account`: the daemon's own is "" (schema 10). */
const char *layers_store_key(const char *account);
/* "arn:aws:lambda:<region>:<account>:layer:<name>[:<version>]" (version 0: the layer's). */
void layers_arn(const char *account, const char *layer, int version, char *buf, size_t n);

/* Whether a stored policy ("" none) lets `account` use the version (lambda:GetLayerVersion). */
bool layers_policy_grants(const char *stored, const char *account);

/* What a policy operation answers: a document (status 200/201) or nothing
 * (204), or Lambda's error (type and message). */
typedef struct {
    int status;
    const char *type;          /* NULL: success */
    char msg[400];
    cJSON *doc;
} layers_answer_t;

/* On a worker, against the version `layer`:`version` of the store key
 * `skey` (its ARN `version_arn`): AddLayerVersionPermission with the
 * request body, GetLayerVersionPolicy, RemoveLayerVersionPermission of
 * statement `sid`. `want_rev`: the RevisionId precondition, or NULL.
 * -1 only when the store failed (err). */
int layers_policy_add(store_t *s, const char *skey, const char *layer, int version, const char *version_arn,
                      const char *body, size_t len, const char *want_rev, layers_answer_t *a, err_t *err);
int layers_policy_get(store_t *s, const char *skey, const char *layer, int version, layers_answer_t *a, err_t *err);
int layers_policy_remove(store_t *s, const char *skey, const char *layer, int version, const char *sid,
                         const char *want_rev, layers_answer_t *a, err_t *err);

#endif
