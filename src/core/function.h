/* function.h — a function's configuration: what CreateFunction and
 * UpdateFunctionConfiguration set, what GetFunctionConfiguration returns.
 *
 * Owns validation (Lambda's constraints and messages) and the JSON forms:
 * the API's FunctionConfiguration, and the document the store keeps. Knows
 * nothing of instances, HTTP or SQLite.
 */
#ifndef NIMBUS_FUNCTION_H
#define NIMBUS_FUNCTION_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/err.h"

typedef struct {
    char *key;
    char *value;
} function_env_t;

typedef struct {
    char name[65];           /* [A-Za-z0-9_-]{1,64} */
    char runtime[32];        /* one of function_runtimes() */
    char handler[129];       /* free-form for "provided"; <= 128 chars */
    char description[257];
    char role[257];          /* accepted and echoed; Nimbus has no IAM */
    int memory_mb;           /* 128..10240, default 128 */
    int timeout_s;           /* 1..900, default 3 */
    function_env_t *env;     /* Environment.Variables, in the caller's order */
    size_t nenv;
    char code_sha256[45];    /* base64 of the ZIP's SHA-256 (Lambda's CodeSha256) */
    char code_hex[65];       /* hex of the same digest: the code store key */
    int64_t code_size;       /* bytes of the ZIP */
    char last_modified[32];  /* "YYYY-MM-DDThh:mm:ss.mmm+0000" */
    char revision_id[37];    /* a new UUID on every change */
    char version[16];        /* "$LATEST" for the live function */
    /* Nimbus extensions (FC-style), in the API as InstanceConcurrency,
     * HttpPort and Initializer: */
    int instance_concurrency; /* calls one instance serves at once, 1..200, default 1 */
    int http_port;           /* provided.fc: the port the function's HTTP server
                                listens on inside its instance, default 9000 */
    bool initializer;        /* provided.fc: call POST /initialize once per instance */
    int keep_alive_s;        /* KeepAliveSeconds: idle instance reclaimed after it;
                                0 = the server's --keep-alive */
    int reserved_concurrency; /* PutFunctionConcurrency; -1 = none reserved */
    bool network_host;       /* Network: "host" (the host's network) or "none"
                                (default: loopback only, in its own namespace) */
    int ephemeral_mb;        /* EphemeralStorage.Size: /tmp in MB, 512..10240 */
    int last_version;        /* $LATEST: highest version ever published (never reused) */
    char published_revision[37]; /* $LATEST: RevisionId when last published */
    int provisioned;         /* a version: provisioned instances kept warm (0 = none) */
    char provisioned_qualifier[130]; /* the qualifier it was configured on (version or alias) */
} function_config_t;

/* Defaults: memory 128, timeout 3, version $LATEST, empty strings. */
void function_config_init(function_config_t *c);
void function_config_free(function_config_t *c);
/* Deep copy; dst must not hold an env (init or free it first). */
void function_config_copy(function_config_t *dst, const function_config_t *src);

/* Apply a CreateFunction (create=true) or UpdateFunctionConfiguration
 * (create=false) JSON body to `c`. Only fields present are changed. With
 * create, FunctionName is required and Runtime/Handler are required for a
 * Zip package. Code is not handled here. On error `c` may be partly changed,
 * so callers apply to a copy. Errors: ERR_VALIDATION (Lambda's
 * "1 validation error detected: Value '64' at 'memorySize' failed to satisfy
 * constraint: ..."), ERR_INVALID (unknown runtime, listing the valid ones;
 * reserved environment keys; env over 4 KB). */
int function_config_apply_json(function_config_t *c, const cJSON *body, bool create, err_t *err);

/* Lambda's FunctionConfiguration object for `c` (caller frees). */
cJSON *function_config_to_api_json(const function_config_t *c);
/* The document the store keeps, and back. */
char *function_config_serialize(const function_config_t *c);
int function_config_deserialize(function_config_t *c, const char *json, err_t *err);

/* NULL-terminated list of accepted runtime identifiers. */
const char *const *function_runtimes(void);
bool function_runtime_valid(const char *runtime);
bool function_name_valid(const char *name);

/* "arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]" into buf. */
void function_arn(const char *name, const char *qualifier, char *buf, size_t n);

/* Mark a change: new RevisionId and LastModified = now. */
void function_config_touch(function_config_t *c);

#endif
