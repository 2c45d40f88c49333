/* main.c — the `nimbus` binary: `serve` runs the platform, every other
 * subcommand is a client of its HTTP API (src/cli/). Only the dispatch
 * lives here: `serve`'s options are daemon/config's table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "base/util.h"

static int serve_main(int argc, char **argv)
{
    daemon_config_t cfg;
    bool help;
    err_t err;
    if (daemon_config_parse(&cfg, argc, argv, &help, &err) < 0) {
        fprintf(stderr, "nimbus serve: %s\n", err.msg);
        return 2;
    }
    if (help) {
        daemon_config_usage(stdout);
        return 0;
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
        if (strcmp(argv[2], "serve") == 0) { daemon_config_usage(stdout); return 0; }
        return cli_main(argc - 1, argv + 1);   /* `nimbus help CMD` */
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        cli_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("nimbus %s\n", cli_version());
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0) return serve_main(argc - 1, argv + 1);
    return cli_main(argc - 1, argv + 1);
}
