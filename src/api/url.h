/* url.h — function URLs: Lambda's FunctionUrlConfig API
 * (Create/Get/Update/Delete/ListFunctionUrlConfigs under /2021-10-31) and
 * the HTTP trigger that serves each URL.
 *
 * A function URL belongs to a function and a qualifier ($LATEST or an
 * alias, never a version number) and has a random 32-character id. It is
 * reachable two ways on the public listener: by host name,
 * http://<id>.lambda-url.<region>.localhost:<port>/ (what FunctionUrl
 * says; browsers and curl send *.localhost to loopback), and by path,
 * /nimbus/url/<id>/... for clients that cannot choose a host name. What
 * follows the URL's own prefix is the function's rawPath and
 * rawQueryString.
 *
 * A call through a URL is an ordinary synchronous call of the function
 * (or of the version its alias picks): Lambda's payload format 2.0 in and
 * out (api/url_event.h), CORS answered by the platform, or for an FC HTTP
 * function (runtime provided.fc) the whole request forwarded to the
 * instance's server and its answer sent back unchanged.
 */
#ifndef NIMBUS_API_URL_H
#define NIMBUS_API_URL_H

#include <stdbool.h>

#include "api/api.h"
#include "core/router.h"

typedef struct url_table url_table_t;

url_table_t *url_table_new(void);
void url_table_free(url_table_t *t);

/* .../functions/NAME/url[?Qualifier=Q]: POST create, GET, PUT update,
 * DELETE; other methods 405. `qual` is the qualifier the name or the query
 * gave ("" for none). */
void url_config_handle(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest, const char *qual);
/* GET .../functions/NAME/urls: ListFunctionUrlConfigs (Marker, MaxItems). */
void url_config_list(api_t *d, http_exchange_t *ex, http_request_t *req, router_fn_t *latest);
/* The function (qualifier NULL: every qualifier) or its alias is gone:
 * forget its URLs (the store removed their rows with it). */
void url_forget(api_t *d, const char *function, const char *qualifier);
/* Start-up: load the stored URLs (blocking). */
int url_load(api_t *d, err_t *err);

/* The URL id a request's Host names (<id>.lambda-url.…), into id[33];
 * false when the host is not a function URL's. */
bool url_host_id(const http_request_t *req, char id[33]);
/* Serve a request on the URL `id`: `raw_path` is what follows its prefix
 * ("/" at least, still percent-encoded); by_host: it came by host name
 * (url_host_id), else by path. */
void url_serve(api_t *d, http_exchange_t *ex, http_request_t *req, const char *id, const char *raw_path,
               bool by_host);

/* What url_serve needs of a URL, looked up by id (NULL: none). The
 * pointer is valid until the next write to the table. */
typedef struct url_cfg url_cfg_t;
const url_cfg_t *url_find_id(const api_t *d, const char *id);
/* What the URLs answered since start, by status class: out[0] 1xx .. out[4] 5xx. */
void url_answers_by_class(uint64_t out[5]);

#endif
