/* config.h — the settings of `nimbus serve`.
 *
 * One table of options (daemon_config_options()) is the only place a
 * setting's flag, default and limits are written: the defaults, the flag
 * parsing and the `nimbus serve --help` text are all made from it.
 */
#ifndef NIMBUS_DAEMON_CONFIG_H
#define NIMBUS_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/err.h"

/* The defaults are in the option table; the comments name the flags. */
typedef struct {
    char listen_host[64];        /* --listen HOST */
    int listen_port;             /* --listen PORT (0 picks one) */
    char data_dir[512];          /* --data-dir */
    size_t max_zip_bytes;        /* --max-zip-bytes: deployment package, zipped */
    size_t max_unzipped_bytes;   /* --max-unzipped-bytes: deployment package, extracted */
    size_t invoke_max_bytes;     /* --max-invoke-bytes: sync payload limit */
    size_t stream_max_bytes;     /* --max-stream-bytes: a streamed response's cap */
    size_t log_call_max_bytes;   /* --log-call-max-bytes: one call's stored output */
    int log_retention_days;      /* --log-retention-days: lines kept by age (0: forever) */
    size_t log_max_bytes;        /* --log-max-bytes: all log lines together */
    int log_sweep_s;             /* --log-sweep: how often retention runs */
    int max_instances_per_fn;    /* --max-instances: instances per function */
    int account_concurrency;     /* --account-concurrency: calls in flight, per account */
    int keep_alive_s;            /* --keep-alive: idle instance reclaimed after it */
    int throttle_wait_ms;        /* --throttle-wait-ms: how long a call over the limits
                                    waits for room before its 429 */
    int max_queue;               /* waiting calls per function before an immediate 429 (no flag) */
    int workers;                 /* --workers: threads for blocking work */
    char runtime_dir[512];       /* --runtime-dir: language bootstraps ("" = found at start) */
    bool sandbox;                /* --sandbox / --insecure-no-sandbox */
    int sandbox_pool;            /* --sandbox-pool: sandboxes made ahead of calls */
    char user[64];               /* --user: drop to this user after start-up ("" = stay) */
    size_t async_max_payload;    /* --async-max-payload: an asynchronous event's payload limit */
    double async_retry_scale;    /* --async-retry-scale: multiplies every async retry delay */
    int async_max_queued;        /* --async-max-queued: events waiting over all functions */
    int timer_catchup_s;         /* --timer-catchup: missed timer slots this recent fire at start */
    char region[32];             /* --region: the region of every ARN and of the functions' environment */
    char account_id[16];         /* --account-id: the account of every ARN */
    char runtime_map[4096];      /* --runtime-map NAME=SPEC, repeatable: the entries, one a line,
                                    added to the runtime table at start (core/runtime.h) */
    char log_format[8];          /* --log-format: "text" or "json" */
    char config_file[512];       /* --config: the settings file read under the flags ("" = none) */
    char credentials_file[512];  /* --credentials: access keys checked with SigV4 ("" = none: loopback only) */
    char tls_cert[512];          /* --tls-cert: PEM chain of the API listener ("" = plain HTTP) */
    char tls_key[512];           /* --tls-key: its PEM private key */
} daemon_config_t;

typedef enum {
    DAEMON_OPTION_LISTEN,        /* HOST:PORT into listen_host and listen_port */
    DAEMON_OPTION_STRING,        /* char[size] */
    DAEMON_OPTION_SIZE,          /* size_t, at least 1 */
    DAEMON_OPTION_INT,           /* int, min..max */
    DAEMON_OPTION_FLAG,          /* bool, takes no value: the flag sets `sets` */
    DAEMON_OPTION_DOUBLE,        /* double, > 0 and at most dmax */
    DAEMON_OPTION_LIST,          /* char[size], repeatable: each value appended as a line */
    DAEMON_OPTION_FILE,          /* char[size]: a file of settings, read before the other flags */
} daemon_option_type_t;

typedef struct daemon_option {
    const char *flag;            /* "--keep-alive", or NULL: a setting with no flag */
    const char *arg;             /* the value's name in the usage ("SECONDS"); NULL for a FLAG */
    const char *help;            /* what it does, for --help */
    daemon_option_type_t type;
    size_t offset, size;         /* the member of daemon_config_t */
    long long def;               /* default: SIZE, INT; FLAG: 1 when it is the default */
    const char *def_str;         /* default: STRING, LISTEN */
    const char *def_help;        /* the default in words, when it is not a value
                                    ("found at start"), or NULL */
    long long min, max;          /* INT */
    bool sets;                   /* FLAG: the value it sets */
    double ddef, dmax;           /* DOUBLE: default and largest value */
    /* STRING: the values it takes, or NULL for any; `wants` says which in
     * the refusal ("--region wants <wants>"), `example` is one (not the default). */
    bool (*valid)(const char *value);
    const char *wants, *example;
} daemon_option_t;

/* The table, *n rows, in --help's order. */
const daemon_option_t *daemon_config_options(size_t *n);
/* The row of `flag` ("--keep-alive"), or NULL. */
const daemon_option_t *daemon_config_option(const char *flag);
/* The default of `o` as --help states it ("127.0.0.1:8080", "6291456 bytes = 6 MB",
 * def_help's words); "" for a FLAG and a setting without one. */
void daemon_option_default_text(const daemon_option_t *o, char *buf, size_t n);

/* Every setting at its default. */
void daemon_config_defaults(daemon_config_t *c);
/* `nimbus serve`'s arguments (argv[0] is "serve") over the defaults into
 * `c`: first the file --config names, then every other flag, so a flag
 * wins over the file (a repeatable one given as a flag replaces the
 * file's list). *help is set, and parsing stops, at --help or -h. Errors:
 * ERR_INVALID, a one-line message naming the flag, or the file and line. */
int daemon_config_parse(daemon_config_t *c, int argc, char **argv, bool *help, err_t *err);
/* The settings file `path` over `c`: `name = value` lines, the names
 * those of the flags without "--" (`keep-alive = 60`); a value may be in
 * double quotes; a FLAG takes true or false (`sandbox = false` is
 * --insecure-no-sandbox); a repeatable one may repeat, no other; blank
 * lines and `#` comments (also after a value, following a blank) are
 * skipped. Errors: ERR_INVALID "PATH:LINE: ...", ERR_SYS when unreadable. */
int daemon_config_load(daemon_config_t *c, const char *path, err_t *err);
/* `nimbus serve --help`. */
void daemon_config_usage(FILE *out);

#endif
