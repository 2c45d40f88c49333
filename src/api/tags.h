/* tags.h — Lambda's tags: TagResource (POST), UntagResource (DELETE) and
 * ListTags (GET) on /2017-03-31/tags/{ARN}, the Tags a CreateFunction may
 * carry and the Tags GetFunction shows.
 *
 * Tags belong to a function, never to one of its versions or aliases (a
 * qualified ARN is refused, as Lambda does). A function has at most 50;
 * a key is 1 to 128 characters and may not start with "aws:" (any case),
 * a value at most 256. They are stored (one document per function) before
 * they are applied, and go with their function.
 */
#ifndef NIMBUS_API_TAGS_H
#define NIMBUS_API_TAGS_H

#include <cjson/cJSON.h>

#include "api/api.h"
#include "io/route.h"

typedef struct tag_table tag_table_t;

tag_table_t *tag_table_new(void);
void tag_table_free(tag_table_t *t);

/* The route handler of /2017-03-31/tags/{arn} (ctx = api_t *): POST, GET,
 * DELETE; other methods 405. */
void tags_route(void *ctx, http_exchange_t *ex, http_request_t *req, const route_params_t *p);

/* CreateFunction's Tags (worker side, any thread): checked as TagResource
 * checks them. *doc is the document to store (malloc'd), NULL when the
 * body has none. -1 with err (ERR_INVALID, ERR_VALIDATION) when refused. */
int tags_parse_create(const cJSON *body, char **doc, err_t *err);
/* Store the tags of a function just inserted (worker; doc NULL: none). If
 * the store refuses them, the function's row is removed again, so a create
 * is all or nothing. */
int tags_store_created(store_t *s, const char *function, const char *doc, err_t *err);
/* The create is durable: its tags are the function's (loop thread; takes
 * `doc`, NULL for none). */
void tags_created(api_t *d, const char *function, char *doc);
/* GetFunction's "Tags": a new object (empty when the function has none). */
cJSON *tags_json(const api_t *d, const char *function);
/* DeleteFunction: the store removed them with the function's row. */
void tags_forget(api_t *d, const char *function);
/* Start-up: load the stored tags (blocking). */
int tags_load(api_t *d, err_t *err);

#endif
