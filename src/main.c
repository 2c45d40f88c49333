/* main.c — the `nimbus` binary: `serve` runs the platform, every other
 * subcommand is a client of its HTTP API (src/cli/). Only flag parsing for
 * `serve` lives here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "daemon/daemon.h"
#include "base/util.h"

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: nimbus serve [--listen HOST:PORT] [--data-dir DIR]\n"
            "                    [--max-zip-bytes N] [--max-unzipped-bytes N]\n"
            "                    [--max-invoke-bytes N] [--workers N] [--runtime-dir DIR]\n"
            "                    [--account-concurrency N] [--max-instances N]\n"
            "                    [--keep-alive SECONDS] [--throttle-wait-ms MS]\n"
            "                    [--sandbox | --insecure-no-sandbox] [--sandbox-pool N]\n"
            "                    [--user NAME]\n"
            "\n"
            "Run the Nimbus platform: the Lambda-compatible API on HOST:PORT\n"
            "(default 127.0.0.1:8080; port 0 picks a free one) with its state in DIR\n"
            "(default ./data). SIGTERM or SIGINT finishes in-flight calls, then exits 0.\n"
            "Limits: deployment package 50 MB zipped / 250 MB unzipped, invoke payload\n"
            "6 MB (6291456 bytes), as Lambda's. Concurrency: 1000 calls in flight per\n"
            "account, 100 instances per function; a call over a limit waits up to\n"
            "5000 ms for room, then gets 429. Idle instances are reclaimed after 120 s.\n"
            "Isolation (the default, --sandbox): every instance runs in its own namespaces\n"
            "with cgroup limits, seccomp and no privileges. As root, or rootless in user\n"
            "namespaces (cgroup limits then only where the user may create groups).\n"
            "--sandbox-pool N: sandboxes made ahead of calls, kept ready (default 4, 0 none;\n"
            "python and node also get one with the interpreter started).\n"
            "--insecure-no-sandbox runs them as plain processes, and says so in every\n"
            "REPORT. --user NAME: the daemon drops to NAME after start-up (the sandbox's\n"
            "spawner stays privileged).\n");
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || v == 0) return -1;
    *out = (size_t)v;
    return 0;
}

static int serve_main(int argc, char **argv)
{
    daemon_config_t cfg;
    daemon_config_defaults(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { serve_usage(stdout); return 0; }
        if (strcmp(a, "--sandbox") == 0 || strcmp(a, "--insecure-no-sandbox") == 0) {
            cfg.sandbox = a[2] == 's';
            continue;
        }
        if (!v) { fprintf(stderr, "nimbus serve: %s needs a value (see nimbus serve --help)\n", a); return 2; }
        i++;
        if (strcmp(a, "--listen") == 0) {
            const char *colon = strrchr(v, ':');
            char *end;
            long port = colon ? strtol(colon + 1, &end, 10) : -1;
            if (!colon || colon == v || (size_t)(colon - v) >= sizeof cfg.listen_host || !colon[1] || *end ||
                port < 0 || port > 65535) {
                fprintf(stderr, "nimbus serve: --listen wants HOST:PORT, got '%s'\n", v);
                return 2;
            }
            memcpy(cfg.listen_host, v, (size_t)(colon - v));
            cfg.listen_host[colon - v] = '\0';
            cfg.listen_port = (int)port;
        } else if (strcmp(a, "--runtime-dir") == 0) {
            snprintf(cfg.runtime_dir, sizeof cfg.runtime_dir, "%s", v);
        } else if (strcmp(a, "--user") == 0) {
            snprintf(cfg.user, sizeof cfg.user, "%s", v);
        } else if (strcmp(a, "--data-dir") == 0) {
            snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", v);
        } else if (strcmp(a, "--max-zip-bytes") == 0 || strcmp(a, "--max-unzipped-bytes") == 0 ||
                   strcmp(a, "--max-invoke-bytes") == 0) {
            size_t *dst = a[6] == 'z' ? &cfg.max_zip_bytes
                        : a[6] == 'u' ? &cfg.max_unzipped_bytes : &cfg.invoke_max_bytes;
            if (parse_size(v, dst) < 0) { fprintf(stderr, "nimbus serve: %s wants a positive number\n", a); return 2; }
        } else if (strcmp(a, "--account-concurrency") == 0 || strcmp(a, "--keep-alive") == 0 ||
                   strcmp(a, "--throttle-wait-ms") == 0 || strcmp(a, "--max-instances") == 0) {
            size_t n;
            if (parse_size(v, &n) < 0 || n > 100000000) {
                fprintf(stderr, "nimbus serve: %s wants a positive number\n", a);
                return 2;
            }
            int *dst = a[2] == 'a' ? &cfg.account_concurrency : a[2] == 'k' ? &cfg.keep_alive_s
                     : a[2] == 't' ? &cfg.throttle_wait_ms : &cfg.max_instances_per_fn;
            *dst = (int)n;
        } else if (strcmp(a, "--sandbox-pool") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 0 || n > 64) { fprintf(stderr, "nimbus serve: --sandbox-pool wants 0..64\n"); return 2; }
            cfg.sandbox_pool = (int)n;
        } else if (strcmp(a, "--workers") == 0) {
            size_t n;
            if (parse_size(v, &n) < 0 || n > 64) { fprintf(stderr, "nimbus serve: --workers wants 1..64\n"); return 2; }
            cfg.workers = (int)n;
        } else {
            fprintf(stderr, "nimbus serve: unknown option %s (see nimbus serve --help)\n", a);
            return 2;
        }
    }
    return daemon_serve(&cfg);
}

int main(int argc, char **argv)
{
    util_proctitle_init(argc, argv);
    if (argc < 2) {
        cli_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 && argc > 2) {
        if (strcmp(argv[2], "serve") == 0) { serve_usage(stdout); return 0; }
        return cli_main(argc - 1, argv + 1);   /* `nimbus help CMD` */
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        cli_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0) return serve_main(argc - 1, argv + 1);
    return cli_main(argc - 1, argv + 1);
}
