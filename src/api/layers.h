/* layers.h — Lambda layers: PublishLayerVersion, GetLayerVersion,
 * GetLayerVersionByArn, ListLayers, ListLayerVersions, DeleteLayerVersion
 * (under /2018-10-31/layers), and the Layers of a function: resolved,
 * checked against the unzipped limit with the function's own code, and
 * merged into the one tree an instance sees at /opt.
 *
 * Layer versions live in the store, not in memory: every operation is a
 * job on a worker. A deleted version stays working for the functions that
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

/* On a worker, with the code lock held (control_code_lock): the `Layers`
 * member of a CreateFunction or UpdateFunctionConfiguration body applied to
 * `cfg` (absent: unchanged). Each ARN must name a layer version that
 * exists, at most 5, no layer twice; the same list the function has
 * already is kept as it is (deleted versions included). On success
 * cfg->opt_hex is their merged tree ("" for none). Errors: ERR_VALIDATION,
 * ERR_INVALID with Lambda's messages. *changed says whether the list
 * changed. */
int layers_apply(api_t *d, const cJSON *body, function_config_t *cfg, bool *changed, err_t *err);

/* Lambda's limit on the function's unzipped code plus its layers'. */
int layers_check_size(api_t *d, const function_config_t *cfg, int64_t code_unzipped, err_t *err);

#endif
