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

#include "api/url.h"
#include "base/prom.h"
#include "core/trigger.h"
#include "sandbox/spawner.h"

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

/* The async queue, per function: depth, oldest event, retries, dead
 * letters, destination deliveries. */
static void write_async(buf_t *b, api_t *d)
{
    static const struct { const char *name, *type, *help; } F[] = {
        { "nimbus_async_queue_depth", "gauge", "Asynchronous events not finished, by state." },
        { "nimbus_async_oldest_event_age_seconds", "gauge", "Age of the oldest unfinished asynchronous event." },
        { "nimbus_async_events_total", "counter", "Asynchronous events accepted (durable)." },
        { "nimbus_async_retries_total", "counter", "Attempts of asynchronous events retried after a function error." },
        { "nimbus_async_dead_letters_total", "counter", "Asynchronous events kept in the dead-letter list." },
        { "nimbus_async_destination_deliveries_total", "counter",
          "Outcomes of asynchronous events sent to a destination, by destination and outcome." },
    };
    size_t n = router_count(d->router);
    async_stats_t *st = calloc(n ? n : 1, sizeof *st);
    if (!st) return;
    for (size_t i = 0; i < n; i++) async_stats(d->async, router_at(d->router, i)->cfg.name, &st[i]);
    for (size_t k = 0; k < sizeof F / sizeof F[0]; k++) {
        prom_family(b, F[k].name, F[k].type, F[k].help);
        for (size_t i = 0; i < n; i++) {
            prom_label_t l[3] = { { "function", router_at(d->router, i)->cfg.name }, { NULL, NULL }, { NULL, NULL } };
            const async_stats_t *s = &st[i];
            switch (k) {
            case 0: {
                static const char *const states[] = { "queued", "running", "retrying" };
                unsigned v[] = { s->queued, s->running, s->retrying };
                l[1].name = "state";
                for (unsigned j = 0; j < 3; j++) {
                    l[1].value = states[j];
                    prom_sample_u64(b, F[k].name, l, 2, v[j]);
                }
                break;
            }
            case 1: prom_sample(b, F[k].name, l, 1, (double)s->oldest_ms / 1e3); break;
            case 2: prom_sample_u64(b, F[k].name, l, 1, s->accepted); break;
            case 3: prom_sample_u64(b, F[k].name, l, 1, s->retries); break;
            case 4: prom_sample_u64(b, F[k].name, l, 1, s->dead_letters); break;
            default:
                l[1].name = "destination";
                l[2].name = "outcome";
                for (unsigned j = 0; j < 3; j++) {
                    l[1].value = async_destination_names[j];
                    l[2].value = "delivered";
                    prom_sample_u64(b, F[k].name, l, 3, s->dest_delivered[j]);
                    l[2].value = "failed";
                    prom_sample_u64(b, F[k].name, l, 3, s->dest_failed[j]);
                }
            }
        }
    }
    free(st);
}

typedef struct {
    buf_t *b;
    const char *family;
    bool missed;
} timer_walk_t;

static void timer_sample(void *arg, const trigger_spec_t *spec, const trigger_stats_t *stats)
{
    timer_walk_t *w = arg;
    prom_label_t l[] = { { "function", spec->function }, { "trigger", spec->name } };
    prom_sample_u64(w->b, w->family, l, 2, w->missed ? stats->missed : stats->fires);
}

/* Timer triggers: slots fired (accepted by the queue) and missed. */
static void write_timers(buf_t *b, api_t *d)
{
    timer_walk_t w = { b, "nimbus_timer_fires_total", false };
    prom_family(b, w.family, "counter", "Timer slots fired (their event accepted by the async queue).");
    for (size_t i = 0; d->triggers && i < router_count(d->router); i++)
        trigger_each(d->triggers, router_at(d->router, i)->cfg.name, timer_sample, &w);
    w = (timer_walk_t){ b, "nimbus_timer_missed_total", true };
    prom_family(b, w.family, "counter", "Timer slots skipped: missed while the daemon was down, or the function gone.");
    for (size_t i = 0; d->triggers && i < router_count(d->router); i++)
        trigger_each(d->triggers, router_at(d->router, i)->cfg.name, timer_sample, &w);
}

/* The daemon's own: connections, URL answers, the spawner, the store. */
static void write_daemon(buf_t *b, api_t *d)
{
    uint64_t url[5];
    url_answers_by_class(url);
    prom_family(b, "nimbus_url_requests_total", "counter", "Requests to function URLs, by the answer's status class.");
    for (unsigned i = 0; i < 5; i++) {
        char cls[4] = { (char)('1' + i), 'x', 'x', 0 };
        prom_label_t l[] = { { "code", cls } };
        prom_sample_u64(b, "nimbus_url_requests_total", l, 1, url[i]);
    }
    prom_family(b, "nimbus_account_concurrent_executions", "gauge", "Calls running now, all functions.");
    prom_sample_u64(b, "nimbus_account_concurrent_executions", NULL, 0, router_inflight(d->router));
    if (d->server) {
        prom_family(b, "nimbus_http_open_connections", "gauge", "Open connections to the API listener.");
        prom_sample_u64(b, "nimbus_http_open_connections", NULL, 0, http_server_connection_count(d->server));
        prom_family(b, "nimbus_http_connections_total", "counter", "Connections accepted by the API listener.");
        prom_sample_u64(b, "nimbus_http_connections_total", NULL, 0, http_server_accepted_count(d->server));
    }
    unsigned pending, waiting;
    prom_hist_t h;
    spawner_metrics(&pending, &waiting, &h);
    prom_family(b, "nimbus_spawner_requests", "gauge", "Requests to the sandbox spawner not answered yet, by state.");
    prom_label_t l[] = { { "state", "sent" } };
    prom_sample_u64(b, "nimbus_spawner_requests", l, 1, pending - waiting);
    l[0].value = "waiting";
    prom_sample_u64(b, "nimbus_spawner_requests", l, 1, waiting);
    prom_family(b, "nimbus_spawn_duration_seconds", "histogram",
                "Sandboxed instance starts: from the request to the spawner's answer.");
    prom_histogram(b, "nimbus_spawn_duration_seconds", NULL, 0, &h);
    prom_family(b, "nimbus_store_write_duration_seconds", "histogram", "SQLite writes, by kind.");
    for (unsigned k = 0; k < STORE_WRITE_KINDS; k++) {
        store_write_latency((store_write_kind_t)k, &h);
        prom_label_t kl[] = { { "kind", store_write_kind_names[k] } };
        prom_histogram(b, "nimbus_store_write_duration_seconds", kl, 1, &h);
    }
}

void metrics_page(api_t *d, http_exchange_t *ex)
{
    buf_t b = { 0 };
    metrics_write_functions(&b, d->router);
    if (d->async) write_async(&b, d);
    write_timers(&b, d);
    write_daemon(&b, d);
    write_process(&b);
    size_t len;
    char *body = buf_steal(&b, &len);
    http_header_t h[] = { { "Content-Type", "text/plain; version=0.0.4; charset=utf-8" } };
    http_respond_owned(ex, 200, h, 1, body, len);
}
