/* errdoc.c — placeholder. */
#include "base/errdoc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

char *errdoc_function(const char *type, const char *msg, size_t *len)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "errorType", type);
    cJSON_AddStringToObject(o, "errorMessage", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) abort();
    if (len) *len = strlen(s);
    return s;
}

char *errdoc_runtime_api(const char *type, const char *msg, size_t *len)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "errorMessage", msg);
    cJSON_AddStringToObject(o, "errorType", type);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) abort();
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) abort();
    t[n] = '\n';
    t[n + 1] = '\0';
    if (len) *len = n + 1;
    return t;
}

char *errdoc_control(int status, const char *type, const char *msg, size_t *len)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Type", status >= 500 ? "Service" : "User");
    bool capital = strcmp(type, "ResourceNotFoundException") == 0 || strcmp(type, "ServiceException") == 0 ||
                   strcmp(type, "InvalidRuntimeException") == 0;
    cJSON_AddStringToObject(o, capital ? "Message" : "message", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) abort();
    if (len) *len = strlen(s);
    return s;
}
