/* schedule.h — schedule expressions: when a timer trigger fires.
 *
 * One parser for the forms the platforms use (EventBridge's rate/cron/at,
 * Alibaba FC's seconds-first cron and @every, Tencent SCF's 7-field cron,
 * classic 5-field cron), evaluated in an IANA time zone. A parsed schedule
 * is immutable: any thread may call schedule_next on it.
 *
 * DST, as EventBridge Scheduler documents it: a cron or at() wall time the
 * clocks skip (spring forward) does not exist, so a cron slot there is
 * skipped (an at() fires when the gap ends); a wall time that happens twice
 * (fall back) is one slot, at its first occurrence. rate and @every count
 * elapsed time and ignore the zone's clock changes.
 */
#ifndef NIMBUS_SCHEDULE_H
#define NIMBUS_SCHEDULE_H

#include <stdint.h>

#include "base/err.h"

typedef struct schedule schedule_t;
typedef enum { SCHEDULE_RATE, SCHEDULE_CRON, SCHEDULE_AT } schedule_kind_t;

/* Parse a schedule expression. Forms accepted:
 *   rate(N unit)      EventBridge: minute|minutes|hour|hours|day|days (singular only for 1, as EventBridge
 *                     insists; give a clear error otherwise), N >= 1. Slots: anchor_ms + k*interval.
 *   @every D          FC: Go-style duration, e.g. 4m, 1h30m, 90s, 2h (units h m s; >= 1s). Slots as rate.
 *   cron(M H DOM MON DOW Y)  EventBridge 6 fields: minutes hours day-of-month month day-of-week year;
 *                     exactly one of DOM/DOW is `?`; `L` (last day of month / `6L` last Friday), `W`
 *                     (nearest weekday, `15W`, `LW`), `#` (`3#2` second Tuesday), names JAN-DEC and SUN-SAT,
 *                     DOW 1-7 = SUN-SAT (EventBridge numbering!), ranges, lists, steps `*\/5`, `1-30/3`,
 *                     year 1970-2199.
 *   S M H DOM MON DOW FC 6 fields, seconds first (FC, like robfig/cron): DOW 0-6 = SUN-SAT (7 also Sunday),
 *                     `?` allowed as `*`.
 *   M H DOM MON DOW   classic 5-field cron (SCF, Unix); DOW 0-7; Unix rule: when both DOM and DOW are
 *                     restricted a day matches if EITHER matches.
 *   S M H DOM MON DOW Y  SCF's 7-field form (seconds first, year last).
 *   at(YYYY-MM-DDThh:mm:ss)  once, in the schedule's time zone.
 * `tz` is an IANA name ("Europe/Paris", "America/New_York") or NULL/"" for UTC; cron and at() fields are
 * wall-clock times in that zone. anchor_ms: the epoch ms rate/@every slots count from (the trigger's
 * creation time); ignored by other kinds.
 * On error: NULL and err (ERR_INVALID) with a one-line message that says what is wrong and where, e.g.
 * "cron(0 12 * * *): EventBridge cron needs 6 fields (minutes hours day-of-month month day-of-week year), got 5"
 * or "unknown time zone 'Mars/Base'". The caller prefixes the field name.
 *
 * Details beyond the list above: a DOW number with `L` or `#` is in the form's own numbering
 * (EventBridge `6L` and SCF/FC `5L` are both the last Friday; a name, `FRIL`, works in both); `L`
 * alone in DOW is Saturday; `L`, `W` and `#` are accepted in every cron form; a `#` item must be alone
 * in its field. In the forms other than EventBridge a DOM or DOW field that starts with `*` or `?`
 * counts as unrestricted (so the other one decides alone). @yearly (@annually), @monthly, @weekly,
 * @daily (@midnight) and @hourly are the classic 5-field
 * shorthands. rate/@every slots are whole seconds: the anchor is truncated to its second. */
schedule_t *schedule_parse(const char *expr, const char *tz, int64_t anchor_ms, err_t *err);
/* The first slot strictly after after_ms (epoch ms), or -1 when there is none (an at() in the past, a cron
 * with no match before year 2200). Slots are whole seconds. Must be fast: the timer wheel calls it for
 * 1,000 schedules; never loop over every second of a year (step field by field: year, month, day,
 * hour, minute, second). */
int64_t schedule_next(const schedule_t *s, int64_t after_ms);
schedule_kind_t schedule_kind(const schedule_t *s);
/* The expression and time zone as given (for answers). */
const char *schedule_expr(const schedule_t *s);
const char *schedule_tz(const schedule_t *s);   /* "UTC" when none was given */
void schedule_free(schedule_t *s);

#endif
