/* fuzz_function_json.c — libFuzzer target for function configuration JSON.
 *
 * Input: arbitrary bytes, parsed by cJSON and applied as a CreateFunction
 * body (to a fresh configuration) and as an UpdateFunctionConfiguration body
 * (to a complete one); the same bytes are also read as a stored document
 * (function_config_deserialize), as a damaged database row would be.
 *
 * Besides the sanitizers, it checks: a refusal is a caller error with a
 * message; an accepted body leaves every field inside Lambda's bounds; the
 * stored document reads back to the same document; what the API returns
 * for a function, CreateFunction accepts again and means the same thing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/function.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_function_json: invariant broken: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

static void check_terminated(const char *field, size_t cap, const char *what)
{
    if (strnlen(field, cap) >= cap) fail("field not NUL-terminated", what);
}

static void check_bounds(const function_config_t *c, bool create)
{
    check_terminated(c->name, sizeof c->name, "name");
    check_terminated(c->runtime, sizeof c->runtime, "runtime");
    check_terminated(c->handler, sizeof c->handler, "handler");
    check_terminated(c->description, sizeof c->description, "description");
    check_terminated(c->role, sizeof c->role, "role");
    if (c->memory_mb < 128 || c->memory_mb > 10240) fail("MemorySize out of bounds", NULL);
    if (c->timeout_s < 1 || c->timeout_s > 900) fail("Timeout out of bounds", NULL);
    if (c->instance_concurrency < 1 || c->instance_concurrency > 200) fail("InstanceConcurrency out of bounds", NULL);
    if (c->http_port < 1 || c->http_port > 65535) fail("HttpPort out of bounds", NULL);
    if (c->keep_alive_s < 0 || c->keep_alive_s > 86400) fail("KeepAliveSeconds out of bounds", NULL);
    if (c->ephemeral_mb < 512 || c->ephemeral_mb > 10240) fail("EphemeralStorage out of bounds", NULL);
    if (!function_runtime_valid(c->runtime)) fail("runtime not in the table", c->runtime);
    if (!c->handler[0] || strpbrk(c->handler, " \t\r\n\f\v")) fail("handler empty or with spaces", c->handler);
    if (create && !function_name_valid(c->name)) fail("invalid FunctionName accepted", c->name);
    size_t env_bytes = 0;
    for (size_t i = 0; i < c->nenv; i++) {
        if (!c->env[i].key || !c->env[i].value) fail("env entry without key or value", NULL);
        env_bytes += strlen(c->env[i].key) + strlen(c->env[i].value);
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->env[i].key, c->env[j].key) == 0) fail("env key repeated", c->env[i].key);
    }
    if (env_bytes > 4096) fail("environment over 4 KB accepted", NULL);
}

/* serialize -> deserialize -> serialize gives the same document. */
static void check_store_roundtrip(const function_config_t *c)
{
    char *s1 = function_config_serialize(c);
    function_config_t d;
    err_t err = {0};
    if (function_config_deserialize(&d, s1, &err) != 0) fail("stored document does not read back", err.msg);
    char *s2 = function_config_serialize(&d);
    if (strcmp(s1, s2) != 0) fail("stored document changes on a round trip", s1);
    free(s1);
    free(s2);
    function_config_free(&d);
}

/* GetFunctionConfiguration's answer, sent back as CreateFunction, gives the
 * same settings. */
static void check_api_roundtrip(const function_config_t *c)
{
    cJSON *api = function_config_to_api_json(c);
    if (!api) fail("no API JSON", NULL);
    char *text = cJSON_PrintUnformatted(api);
    cJSON_Delete(api);
    if (!text) fail("API JSON does not print", NULL);
    cJSON *back = cJSON_Parse(text);
    if (!back) fail("API JSON does not parse", text);
    function_config_t d;
    function_config_init(&d);
    err_t err = {0};
    if (function_config_apply_json(&d, back, true, &err) != 0) fail("API JSON refused by CreateFunction", err.msg);
    bool same = strcmp(c->name, d.name) == 0 && strcmp(c->runtime, d.runtime) == 0 &&
                strcmp(c->handler, d.handler) == 0 && strcmp(c->description, d.description) == 0 &&
                strcmp(c->role, d.role) == 0 && c->memory_mb == d.memory_mb &&
                c->timeout_s == d.timeout_s && c->instance_concurrency == d.instance_concurrency &&
                c->keep_alive_s == d.keep_alive_s && c->network == d.network &&
                c->ephemeral_mb == d.ephemeral_mb && c->nenv == d.nenv;
    for (size_t i = 0; same && i < c->nenv; i++)
        same = strcmp(c->env[i].key, d.env[i].key) == 0 && strcmp(c->env[i].value, d.env[i].value) == 0;
    if (same && strcmp(c->runtime, "provided.fc") == 0)
        same = c->http_port == d.http_port && c->initializer == d.initializer;
    if (!same) fail("API JSON means something else when sent back", text);
    free(text);
    cJSON_Delete(back);
    function_config_free(&d);
}

static void check_apply(const cJSON *body, bool create)
{
    function_config_t c;
    function_config_init(&c);
    if (!create) {
        /* What an existing function looks like before the update. */
        cJSON *base = cJSON_Parse("{\"FunctionName\":\"fz\",\"Runtime\":\"python3.11\","
                                  "\"Handler\":\"app.handler\",\"Environment\":{\"Variables\":"
                                  "{\"KEEP\":\"1\"}}}");
        err_t e0 = {0};
        if (function_config_apply_json(&c, base, true, &e0) != 0) fail("base configuration refused", e0.msg);
        cJSON_Delete(base);
    }
    err_t err = {0};
    if (function_config_apply_json(&c, body, create, &err) != 0) {
        if (err.code != ERR_INVALID && err.code != ERR_VALIDATION) fail("refusal is not a caller error", err.msg);
        if (!err.msg[0]) fail("refusal without a message", NULL);
    } else {
        check_bounds(&c, create);
        check_store_roundtrip(&c);
        check_api_roundtrip(&c);
    }
    function_config_free(&c);
}

static void check_stored(const uint8_t *data, size_t size)
{
    char *doc = malloc(size + 1);
    if (!doc) abort();
    memcpy(doc, data, size);
    doc[size] = '\0';
    function_config_t c;
    err_t err = {0};
    if (function_config_deserialize(&c, doc, &err) == 0) {
        /* Once read, a document is in its normal form. */
        char *s1 = function_config_serialize(&c);
        function_config_t d;
        if (function_config_deserialize(&d, s1, &err) != 0) fail("normalised document does not read back", err.msg);
        char *s2 = function_config_serialize(&d);
        if (strcmp(s1, s2) != 0) fail("normalised document changes on a round trip", s1);
        free(s1);
        free(s2);
        function_config_free(&d);
        function_config_free(&c);
    } else if (!err.msg[0]) {
        fail("refusal without a message", NULL);
    }
    free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *body = cJSON_ParseWithLength((const char *)data, size);
    check_apply(body, true);
    check_apply(body, false);
    cJSON_Delete(body);
    check_stored(data, size);
    return 0;
}
