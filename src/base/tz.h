/* tz.h — IANA time zones, read from the system's compiled zone files.
 *
 * The C library's zones are process-global (TZ + tzset), and the daemon has
 * worker threads, so Nimbus reads /usr/share/zoneinfo/<name> itself: the
 * TZif file's 64-bit transitions, then the POSIX TZ rule in its footer for
 * every instant after the last one (most zones list transitions only up to
 * 2037 and leave the rest to that rule). A loaded zone is immutable and
 * shared: loads of one name return the same object (reference-counted), and
 * any thread may read it.
 *
 * Times here are seconds. "Local" seconds are a wall-clock reading counted
 * as if it were UTC: local = utc + utoff.
 */
#ifndef NIMBUS_TZ_H
#define NIMBUS_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct tz tz_t;

/* The zone called `name` ("Europe/Paris"); NULL, "" and "UTC" give UTC
 * without reading a file. ERR_INVALID for a name that is malformed (a ".."
 * part, a leading '/', characters a zone name never has), unknown
 * ("unknown time zone 'Mars/Base'"), or whose file is not a usable TZif. */
tz_t *tz_load(const char *name, err_t *err);
/* A zone from TZif bytes (what tz_load reads), not shared; for tests and
 * fuzzing. `name` is only remembered. */
tz_t *tz_from_tzif(const char *name, const void *data, size_t len, err_t *err);
/* Drop a reference; NULL is ignored. */
void tz_free(tz_t *z);
const char *tz_name(const tz_t *z);   /* as loaded; "UTC" for UTC */

/* The stretch of time around an instant over which one UTC offset holds. */
typedef struct {
    int64_t start;      /* first second of the span (INT64_MIN: since ever) */
    int64_t end;        /* first second after it (INT64_MAX: for ever) */
    int32_t utoff;      /* seconds east of UTC during the span */
    int32_t prev_utoff; /* the offset just before `start` (== utoff when none) */
} tz_span_t;

/* The span holding instant `t` (UTC seconds). */
void tz_span_at(const tz_t *z, int64_t t, tz_span_t *out);
/* The offset at `t`: local = t + tz_utoff(z, t). */
int32_t tz_utoff(const tz_t *z, int64_t t);
/* The first instant whose wall clock reads `local`. A reading the clocks
 * jumped over (a spring-forward gap) has none: then the instant the gap
 * ended, with *exact = false. */
int64_t tz_local_to_utc(const tz_t *z, int64_t local, bool *exact);

/* Proleptic Gregorian calendar arithmetic, day 0 = 1970-01-01. */
int64_t tz_days_from_civil(int64_t y, int m, int d);
void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
int tz_days_in_month(int64_t y, int m);
int tz_weekday(int64_t days);          /* 0 = Sunday */

#endif
