/* layers.h — Lambda layers: PublishLayerVersion, GetLayerVersion,
 * GetLayerVersionByArn, ListLayers, ListLayerVersions, DeleteLayerVersion
 * (under /2018-10-31/layers), and the Layers of a function: resolved,
 * checked against the unzipped limit with the function's own code, and
 * merged into the one tree an instance sees at /opt.
 *
 * A layer is the account's that published it: its ARNs name that account,
 * and each account sees and touches only its own layers (one name may be
 * two accounts' layers), but a version its policy shares
 * (AddLayerVersionPermission) another account may get and use. Layer versions live in the store, not in memory:
 * every operation is a job on a worker. A deleted version stays working for the functions that
 * use it (their merged tree holds its files), as Lambda keeps a copy until
 * no function refers to it.
 */
#ifndef NIMBUS_LAYERS_H
#define NIMBUS_LAYERS_H

#include <cjson/cJSON.h>

#include "api/api.h"
#include "core/function.h"

/* The /2018-10-31/layers routes: `layer` and `version` are the captures
 * (NULL when the route has none). */
void layers_handle(api_t *d, http_exchange_t *ex, http_request_t *req, const char *layer, const char *version);
/* .../versions/{version}/policy[/{sid}]: AddLayerVersionPermission (POST),
 * GetLayerVersionPolicy (GET), RemoveLayerVersionPermission (DELETE with
 * `sid`). A statement lets one account (or "*": every account) use the
 * version: get it (GetLayerVersion, by ARN too), download its code and
 * name it in a function's Layers. */
void layers_policy_handle(api_t *d, http_exchange_t *ex, http_request_t *req, const char *layer, const char *version,
                          const char *sid);

/* On a worker, with the code lock held (control_code_lock): the `Layers`
 * member of a CreateFunction or UpdateFunctionConfiguration body applied to
 * `cfg` (absent: unchanged). Each ARN must name a layer version that
 * exists, at most 5, no layer twice; the same list the function has
 * already is kept as it is (deleted versions included). On success
 * cfg->opt_hex is their merged tree ("" for none). Only the layers of the
 * function's owner (cfg->owner) and versions other accounts' policies share
 * with it may be named: another account's ARN is otherwise ERR_DENIED, Lambda's AccessDeniedException for lambda:GetLayerVersion,
 * naming `user` (the caller's ARN; NULL or "": the owner's root). Errors:
 * ERR_VALIDATION, ERR_INVALID with Lambda's messages. *changed says
 * whether the list changed. */
int layers_apply(api_t *d, const cJSON *body, function_config_t *cfg, const char *user, bool *changed, err_t *err);

/* On a worker: 1 when code `hex` is a layer version's of `account`, or of
 * one another account's policy shares with it, else 0 (-1: the store
 * failed). */
int layers_code_owned(api_t *d, const char *account, const char *hex, err_t *err);

/* Lambda's limit on the function's unzipped code plus its layers'. */
int layers_check_size(api_t *d, const function_config_t *cfg, int64_t code_unzipped, err_t *err);

#endif
