/* json.h — reading JSON that comes from outside (request bodies), more
 * strictly than cJSON alone.
 *
 * cJSON stops at the end of the first value and ignores what follows, keeps
 * every duplicate key (a lookup finds the first), and decodes "\u0000"
 * into a NUL that silently ends the C string. A body is one document or it
 * is refused; these checks say why, in one line, for the error answer.
 */
#ifndef NIMBUS_JSON_H
#define NIMBUS_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "base/err.h"

/* One JSON document, nothing after it but whitespace, no object with a key
 * twice, no NUL in any string (escaped or raw) and no raw control character
 * inside one. NULL with err set (ERR_INVALID) otherwise. */
cJSON *json_parse_strict(const char *text, size_t len, err_t *err);
/* One JSON document and nothing after it but whitespace: the check an
 * Invoke payload gets (it is passed on as sent, so the rest is the
 * function's business). */
cJSON *json_parse_document(const char *text, size_t len, err_t *err);

#endif
