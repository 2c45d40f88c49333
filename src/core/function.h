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
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/err.h"

/* Network's values: the index of each in the field's choices. */
enum { FUNCTION_NETWORK_NONE = 0, FUNCTION_NETWORK_HOST = 1, FUNCTION_NETWORK_EGRESS = 2 };

typedef struct {
    char *key;
    char *value;
} function_env_t;

/* A layer version a function uses (Layers), as GetFunctionConfiguration
 * shows it, and the unzipped size of its tree (and, while its Layers are
 * being resolved, its code store key: not kept in the stored document). */
#define FUNCTION_MAX_LAYERS 5
typedef struct {
    char arn[160];           /* arn:aws:lambda:<region>:<account>:layer:<name>:<version> */
    int64_t code_size;       /* its ZIP's bytes */
    int64_t unzipped;        /* its tree's bytes */
    char hex[65];
} function_layer_t;

/* The members a configuration has. Limits, defaults and the names each
 * document uses for them are in the field table (function_fields()). */
typedef struct {
    char name[65];           /* FunctionName */
    char runtime[32];        /* Runtime: a name in the runtime table (core/runtime.h) */
    char handler[129];       /* Handler: free-form for "provided" */
    char description[257];   /* Description */
    char role[257];          /* Role: checked against Lambda's pattern and echoed; Nimbus has no IAM */
    char log_format[8];      /* LoggingConfig.LogFormat: Text (the default) or JSON */
    char app_log_level[8];   /* LoggingConfig.ApplicationLogLevel ("" unset; JSON only) */
    char system_log_level[8]; /* LoggingConfig.SystemLogLevel ("" unset; JSON only) */
    char log_group[513];     /* LoggingConfig.LogGroup ("": /aws/lambda/<name>) */
    int log_retention_days;  /* LogRetentionInDays: lines older go (0: the daemon's setting) */
    int log_max_bytes;       /* LogMaxBytes: its lines' byte budget, oldest go first (0: none) */
    bool tracing_pass_through; /* TracingConfig.Mode: PassThrough (the default) or Active;
                                  echoed, Nimbus has no tracing */
    int memory_mb;           /* MemorySize */
    int timeout_s;           /* Timeout */
    function_env_t *env;     /* Environment.Variables, in the caller's order */
    size_t nenv;
    char code_sha256[45];    /* CodeSha256: base64 of the ZIP's SHA-256 */
    char code_hex[65];       /* hex of the same digest: the code store key */
    int64_t code_size;       /* CodeSize: bytes of the ZIP */
    char last_modified[32];  /* LastModified: "YYYY-MM-DDThh:mm:ss.mmm+0000" */
    char revision_id[37];    /* RevisionId: a new UUID on every change */
    char version[16];        /* Version: "$LATEST" for the live function */
    /* Nimbus extensions (FC-style): */
    int instance_concurrency; /* InstanceConcurrency: calls one instance serves at once */
    int http_port;           /* HttpPort, provided.fc: the port the function's HTTP
                                server listens on inside its instance */
    bool initializer;        /* Initializer, provided.fc: POST /initialize once per instance */
    int keep_alive_s;        /* KeepAliveSeconds: idle instance reclaimed after it;
                                0 = the server's --keep-alive */
    int reserved_concurrency; /* PutFunctionConcurrency; -1 = none reserved */
    uint8_t network;         /* Network, FUNCTION_NETWORK_*: "none" (loopback only, in
                                its own namespace), "host" (the host's network) or
                                "egress" (its own namespace, outbound through NAT,
                                never the host: docs/network.md) */
    int ephemeral_mb;        /* EphemeralStorage.Size: /tmp in MB */
    int last_version;        /* $LATEST: highest version ever published (never reused) */
    char published_revision[37]; /* $LATEST: RevisionId when last published */
    int provisioned;         /* a version: provisioned instances kept warm (0 = none) */
    char provisioned_qualifier[130]; /* the qualifier it was configured on (version or alias) */
    char dead_letter_arn[512]; /* DeadLetterConfig.TargetArn: where an asynchronous call's
                                  failure goes when no OnFailure destination takes it ("" none) */
    function_layer_t layers[FUNCTION_MAX_LAYERS]; /* Layers, in order (the API layer resolves them) */
    size_t nlayers;
    char opt_hex[65];        /* the code store key of their merged tree, mounted at /opt ("" none) */
    char owner[13];          /* the account that created it ("" = the daemon's --account-id):
                                stored, never an input */
} function_config_t;

/* ---- the field table ----
 * One row per field: its API member, its key in the stored document, where
 * it lives in function_config_t, its default and its limits. Validation,
 * FunctionConfiguration, the stored document and function_config_init() are
 * all driven by it; a new field is a new row. */

typedef enum {
    FUNCTION_FIELD_STRING,   /* char[size]; limits are lengths */
    FUNCTION_FIELD_INT,      /* int; limits are values */
    FUNCTION_FIELD_INT64,    /* int64_t */
    FUNCTION_FIELD_BOOL,     /* bool */
    FUNCTION_FIELD_CHOICE,   /* uint8_t: the index of one of `choices` (stored as a
                                number; a stored bool, as older documents have, is 0/1) */
    FUNCTION_FIELD_ENV,      /* env/nenv: Environment.Variables */
    FUNCTION_FIELD_CONST,    /* no member: the API shows def_str; input checked
                                against choices, if any */
    FUNCTION_FIELD_ARN,      /* no member: FunctionArn, from name and version */
    FUNCTION_FIELD_ARCH,     /* no member: Architectures, always [def_str] */
} function_field_type_t;

enum {
    FUNCTION_FIELD_IN_API = 1 << 0,     /* FunctionConfiguration shows it */
    FUNCTION_FIELD_IN_STORE = 1 << 1,   /* the stored document keeps it */
    FUNCTION_FIELD_INPUT = 1 << 2,      /* Create/UpdateFunctionConfiguration accept it */
    FUNCTION_FIELD_CREATE_ONLY = 1 << 3, /* only CreateFunction, which requires it; the
                                            stored document must have it too */
    FUNCTION_FIELD_API_IF_SET = 1 << 4, /* shown only when not the default */
    FUNCTION_FIELD_API_IF_FC = 1 << 5,  /* shown only for a runtime with FC's contract */
    FUNCTION_FIELD_EMPTY_SHOWS_DEFAULT = 1 << 6, /* the API shows def_str for "" */
    FUNCTION_FIELD_STORE_IF_SET = 1 << 7, /* the stored document has it only when not the
                                             default, so documents without it stay as they were */
    FUNCTION_FIELD_SUB_OPTIONAL = 1 << 8, /* its object may come without the sub-member:
                                             that sets the default ("DeadLetterConfig": {}) */
};

typedef struct function_field {
    const char *api;         /* API member ("MemorySize"), or NULL: stored only */
    const char *api_sub;     /* the member inside `api`'s object ("Size"), or NULL */
    const char *store;       /* key in the stored document, or NULL */
    const char *check;       /* its name in validation messages ("memorySize") */
    int report;              /* its place in Lambda's list of broken constraints
                                (1 first; 0 = not an input) */
    function_field_type_t type;
    unsigned flags;          /* FUNCTION_FIELD_* */
    size_t offset, size;     /* the member in function_config_t (0, 0: none) */
    int def;                 /* default: INT, BOOL, CHOICE (an index into choices) */
    const char *def_str;     /* default: STRING; the value: CONST, ARCH */
    const char *(*def_of)(void); /* STRING: the default when a setting makes it (Role's
                                    names the account), instead of def_str */
    int min, max;            /* INT: values; STRING: lengths (max 0 = unchecked) */
    const char *const *choices; /* CHOICE, CONST: accepted strings, NULL-terminated */
    const char *pattern;     /* STRING: the pattern as Lambda's message quotes it */
    bool (*pattern_ok)(const char *value);
    /* STRING: a value that passes the constraints but Nimbus still refuses
     * (InvalidParameterValueException); true with the message in `why`. */
    bool (*refuse)(const struct function_field *f, const char *value, char *why, size_t n);
} function_field_t;

/* The table: *n rows, in FunctionConfiguration's member order. */
const function_field_t *function_fields(size_t *n);
/* The row whose API member is `api` ("MemorySize", "EphemeralStorage"), or NULL. */
const function_field_t *function_field(const char *api);

/* Every member at its default from the field table. */
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

/* The runtime table's names (runtime_names()), and whether `runtime` is one. */
const char *const *function_runtimes(void);
bool function_runtime_valid(const char *runtime);
bool function_name_valid(const char *name);
/* A function as a path or a caller names it: "name", "name:qualifier",
 * "arn:aws:lambda:<region>:<account>:function:name[:qualifier]" or
 * "<account>:function:name[:qualifier]". Fills `name` and `qual` ("" for
 * none) as far as they go, and returns 0 when the name is a valid function
 * name (and fits) and a qualifier, if a colon announces one, is not empty;
 * else -1. */
int function_name_parse(const char *in, char *name, size_t nn, char *qual, size_t qn);

/* "arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]" into buf,
 * with this daemon's region and the function's owner (function_owner). */
void function_arn(const char *name, const char *qualifier, char *buf, size_t n);

/* ---- accounts (function_owner.c) ----
 * With credentials one daemon serves many accounts (api/auth.h): each
 * function belongs to the account that created it, and every ARN of it
 * names that account. Function names stay unique per daemon. The owner of
 * each name is kept here so function_arn, called with a name alone from
 * any thread, names the right account; the router keeps it current. */
/* An account the daemon serves beside --account-id (start-up, before any
 * thread). */
void function_account_serve(const char *account);
/* --account-id or one served. */
bool function_account_served(const char *account);
/* The owner of `name` ("" or NULL: the daemon's own account). */
void function_owner_set(const char *name, const char *account);
/* The owner of `name` into out (the daemon's account when none is set). */
void function_owner(const char *name, char out[13]);
/* "arn:aws:lambda:<region>:<account>:layer:<name>[:<version>]" (version 0: the layer's) into buf. */
void function_layer_arn(const char *layer, int version, char *buf, size_t n);

/* Whether a function as a caller names it (what function_name_parse takes,
 * or a destination's ARN) is this daemon's: a plain name always is; an ARN
 * or "<account>:function:..." when the region and account it states (if
 * any) are this daemon's. Otherwise `msg` gets Lambda's answer:
 * another region is a 404 ResourceNotFoundException "Functions from
 * 'eu-west-1' are not reachable in this region ('us-east-1')", another
 * account a 403 AccessDeniedException. */
typedef enum {
    FUNCTION_ARN_LOCAL,
    FUNCTION_ARN_OTHER_REGION,
    FUNCTION_ARN_OTHER_ACCOUNT,
} function_arn_place_t;
function_arn_place_t function_arn_place(const char *in, char *msg, size_t n);

/* Where an asynchronous call's outcome may go (EventInvokeConfig's
 * destinations, DeadLetterConfig.TargetArn): a Nimbus function by its ARN,
 * arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>], or an
 * http:// or https:// URL (a Nimbus extension). A function ARN of another
 * region or account (function_arn_place) is INVALID: it names no function
 * of this daemon. */
typedef enum {
    FUNCTION_TARGET_NONE,         /* "" */
    FUNCTION_TARGET_FUNCTION,     /* `name` (and `qualifier`, "" for none) are set */
    FUNCTION_TARGET_URL,
    FUNCTION_TARGET_UNSUPPORTED,  /* another service's ARN (SQS, SNS, EventBridge, S3, ...) */
    FUNCTION_TARGET_INVALID,      /* neither an ARN nor a URL, or a Lambda ARN naming no function */
} function_target_t;
function_target_t function_target_parse(const char *s, char name[65], char qualifier[130]);

/* Mark a change: new RevisionId and LastModified = now. */
void function_config_touch(function_config_t *c);

#endif
