/* metrics_history.c — the console's view of the core's history rings: a
 * summary of the last hour per function, and one function's points.
 *
 * Owns these two JSON shapes (docs/metrics.md). Must never: allocate per
 * bucket, or answer points the ring no longer holds as zeros of another
 * time (the core checks each bucket's slot).
 */
#define _GNU_SOURCE
#include "api/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "api/auth.h"
#include "base/util.h"

#define MAX_POINTS (METRICS_SLOTS)

/* "2026-11-22T15:53:10Z" */
static void iso_utc(uint64_t s, char out[32])
{
    time_t t = (time_t)s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void add_ms(cJSON *o, const char *key, double ms)
{
    if (ms < 0) cJSON_AddNullToObject(o, key);
    else cJSON_AddNumberToObject(o, key, ms);
}

void metrics_functions_summary(api_t *d, http_exchange_t *ex)
{
    uint64_t now = loop_wall_ms();
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "Functions");
    metrics_point_t hour;
    const auth_key_t *who = auth_principal(http_exchange_request(ex));
    for (size_t i = 0; i < router_count(d->router); i++) {
        const router_fn_t *fn = router_at(d->router, i);
        if (!auth_owns(who, &fn->cfg)) continue;   /* an account sees its own functions only */
        /* The whole ring as one point of an hour (its 360 buckets). */
        metrics_history(fn, now, METRICS_SLOTS * (METRICS_SLOT_MS / 1000u), 1, &hour);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "FunctionName", fn->cfg.name);
        if (fn->metrics.last_wall_ms) {
            char t[32];
            iso_utc(fn->metrics.last_wall_ms / 1000u, t);
            cJSON_AddStringToObject(e, "LastInvoked", t);
        } else {
            cJSON_AddNullToObject(e, "LastInvoked");
        }
        cJSON_AddNumberToObject(e, "Invocations1h", (double)hour.invocations);
        cJSON_AddNumberToObject(e, "Errors1h", (double)hour.errors);
        cJSON_AddNumberToObject(e, "Throttles1h", (double)hour.throttles);
        cJSON_AddNumberToObject(e, "ColdStarts1h", (double)hour.cold_starts);
        cJSON_AddItemToArray(arr, e);
    }
    api_respond_doc(ex, 200, o);
}

/* A whole number in [lo, hi] from the query, `dflt` when absent; -1 bad. */
static long param(const char *query, const char *key, long dflt, long lo, long hi)
{
    char *v = util_query_param(query, key);
    if (!v) return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    bool ok = *v && !*end && x >= lo && x <= hi;
    free(v);
    return ok ? x : -1;
}

void metrics_function_history(api_t *d, http_exchange_t *ex, router_fn_t *latest, const char *query)
{
    (void)d;
    long minutes = param(query, "minutes", 60, 1, 60);
    long step = param(query, "step", 10, 10, 3600);
    if (minutes < 0) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                          "minutes must be a whole number from 1 to 60");
        return;
    }
    if (step < 0 || step % 10) {
        api_respond_error(ex, 400, "InvalidParameterValueException",
                          "step must be a multiple of 10 seconds, at most 3600");
        return;
    }
    size_t n = (size_t)((minutes * 60 + step - 1) / step);
    if (n > MAX_POINTS) n = MAX_POINTS;
    metrics_point_t *pts = calloc(n, sizeof *pts);
    if (!pts) {
        api_respond_error(ex, 500, "ServiceException", "out of memory");
        return;
    }
    metrics_history(latest, loop_wall_ms(), (unsigned)step, n, pts);
    cJSON *o = cJSON_CreateObject();
    char t[32];
    cJSON_AddStringToObject(o, "FunctionName", latest->cfg.name);
    cJSON_AddNumberToObject(o, "Step", (double)step);
    iso_utc(pts[0].t0_s, t);
    cJSON_AddStringToObject(o, "Start", t);
    cJSON *arr = cJSON_AddArrayToObject(o, "Points");
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        iso_utc(pts[i].t0_s, t);
        cJSON_AddStringToObject(e, "Time", t);
        cJSON_AddNumberToObject(e, "Invocations", (double)pts[i].invocations);
        cJSON_AddNumberToObject(e, "Errors", (double)pts[i].errors);
        cJSON_AddNumberToObject(e, "Throttles", (double)pts[i].throttles);
        cJSON_AddNumberToObject(e, "ColdStarts", (double)pts[i].cold_starts);
        add_ms(e, "DurationP50Ms", pts[i].p50_ms);
        add_ms(e, "DurationP99Ms", pts[i].p99_ms);
        cJSON_AddItemToArray(arr, e);
    }
    free(pts);
    api_respond_doc(ex, 200, o);
}
