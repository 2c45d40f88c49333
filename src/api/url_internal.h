/* url_internal.h — a function URL's configuration as url.c keeps it and
 * url_serve.c reads it. Only the two files of the URL module include it. */
#ifndef NIMBUS_API_URL_INTERNAL_H
#define NIMBUS_API_URL_INTERNAL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "api/qtable.h"
#include "api/url.h"
#include "api/url_event.h"

#define URL_ID_LEN 32

struct url_cfg {
    qkey_t key;               /* function, and "$LATEST" or an alias */
    char id[URL_ID_LEN + 1];
    bool stream;              /* InvokeMode RESPONSE_STREAM */
    bool iam;                 /* AuthType AWS_IAM: callers sign (url_serve.c) */
    url_cors_t *cors;         /* NULL: no CORS configuration */
    char created[32];         /* ISO-8601, as Lambda shows it */
    char modified[32];
};

#endif
