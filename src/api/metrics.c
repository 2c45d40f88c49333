/* metrics.c — GET /metrics: the whole page in Prometheus' text format
 * (version 0.0.4), gathered on the loop thread from the counters each
 * floor keeps (docs/metrics.md lists every metric).
 *
 * Owns which families the page has and their names. Must never: change a
 * counter, or block (the process figures are two small reads of /proc).
 */
#define _GNU_SOURCE
#include "api/metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/prom.h"

/* The daemon's own resident memory and open descriptors, read now. */
static void write_process(buf_t *b)
{
    char s[128] = "";
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, s, sizeof s - 1);
        s[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    unsigned long long size = 0, rss = 0;
    if (sscanf(s, "%llu %llu", &size, &rss) == 2) {
        prom_family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        prom_sample_u64(b, "process_resident_memory_bytes", NULL, 0, rss * (unsigned long long)sysconf(_SC_PAGESIZE));
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        uint64_t n = 0;
        for (struct dirent *e; (e = readdir(d));)
            if (e->d_name[0] != '.') n++;
        closedir(d);
        prom_family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
        prom_sample_u64(b, "process_open_fds", NULL, 0, n - 1);   /* not the one reading it */
    }
}

void metrics_page(api_t *d, http_exchange_t *ex)
{
    buf_t b = { 0 };
    metrics_write_functions(&b, d->router);
    write_process(&b);
    size_t len;
    char *body = buf_steal(&b, &len);
    http_header_t h[] = { { "Content-Type", "text/plain; version=0.0.4; charset=utf-8" } };
    http_respond_owned(ex, 200, h, 1, body, len);
}
