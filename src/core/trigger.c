/* trigger.c — the timer wheel: every trigger in memory, a heap of the
 * slots due, one loop timer for the earliest, the events fired into the
 * async queue, and the fired slots recorded in the store.
 *
 * Owns when a slot fires and what its event says. Must never: fire a slot
 * twice or out of order for one trigger, put the run time in an event
 * instead of the slot's, record a slot as fired before the queue has its
 * event durable, or touch the store on the loop thread.
 */
#include "core/trigger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base/log.h"
#include "base/schedule.h"
#include "base/util.h"

#define RETRY_DEFAULT_MS 1000
/* Counting the slots skipped at start walks the schedule; past this many
 * the count stops (a per-second schedule down for weeks). */
#define SKIP_COUNT_MAX 1000000

typedef struct trig trig_t;
struct trig {
    trigger_spec_t spec;
    schedule_t *sched;
    int64_t slot;             /* the next slot to fire, -1 none */
    int64_t due;              /* when to try it: the slot, or a retry's time */
    long heap;                /* index in the heap, -1 when not in it */
    bool inflight;            /* its slot is with the async queue */
    bool removed;             /* gone while in flight: freed when the accept answers */
    trigger_wheel_t *w;
    trigger_stats_t st;
    trig_t *next_zombie;
};

typedef struct {
    char function[65];
    char name[TRIGGER_NAME_MAX + 1];
    int64_t slot_ms;
} mark_t;

/* One batch of fired slots on its way to the store. */
typedef struct {
    trigger_wheel_t *w;
    store_t *store;
    mark_t *v;
    size_t n;
} mark_job_t;

struct trigger_wheel {
    loop_t *loop;
    store_t *store;
    async_t *async;
    router_t *router;
    trigger_limits_t lim;
    trig_t **v;               /* sorted by (function, name) */
    size_t n, cap;
    trig_t **heap;            /* min-heap on due */
    size_t nheap, heapcap;
    loop_timer_t *timer;
    int64_t timer_at;         /* wall ms the timer is set for */
    bool started, stopped;
    mark_t *marks;            /* slots fired, not yet handed to a job */
    size_t nmarks, markcap;
    bool marking;             /* a mark job is on a worker */
    trig_t *zombies;          /* removed while in flight */
};

/* ---- small helpers ---- */

static int64_t wall_ms(void)
{
    return (int64_t)loop_wall_ms();
}

static int64_t whole_second(int64_t ms)
{
    return ms - ((ms % 1000) + 1000) % 1000;
}

const char *trigger_format_name(trigger_format_t f)
{
    switch (f) {
    case TRIGGER_SCF: return "scf";
    case TRIGGER_EVENTBRIDGE: return "eventbridge";
    case TRIGGER_FC: break;
    }
    return "fc";
}

int trigger_format_parse(const char *s, trigger_format_t *out)
{
    static const trigger_format_t all[] = { TRIGGER_FC, TRIGGER_SCF, TRIGGER_EVENTBRIDGE };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (s && strcmp(s, trigger_format_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

void trigger_time_text(int64_t ms, char out[32])
{
    time_t t = (time_t)(whole_second(ms) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The key that makes a slot one event however often it is offered. Long
 * names would pass the queue's key size: then their digest stands in. */
static void slot_key(const trigger_spec_t *s, int64_t slot, char out[129])
{
    char full[300];
    int n = snprintf(full, sizeof full, "timer:%s:%s:%lld", s->function, s->name, (long long)slot);
    if (n > 0 && (size_t)n < 129) {
        memcpy(out, full, (size_t)n + 1);
        return;
    }
    uint8_t d[32];
    util_sha256(full, strlen(full), d);
    int k = snprintf(out, 129, "timer:");
    for (int i = 0; i < 32; i++) k += snprintf(out + k, 129 - (size_t)k, "%02x", d[i]);
}

/* An id that is the same each time a slot is offered (a redelivery keeps
 * it), UUID-shaped as EventBridge's. */
static void slot_uuid(const trigger_spec_t *s, int64_t slot, char out[37])
{
    char key[129];
    slot_key(s, slot, key);
    uint8_t d[32];
    util_sha256(key, strlen(key), d);
    d[6] = (uint8_t)((d[6] & 0x0f) | 0x50);   /* name-based */
    d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2],
             d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]);
}

char *trigger_event_json(const trigger_spec_t *s, int64_t slot_ms)
{
    char when[32];
    trigger_time_text(slot_ms, when);
    cJSON *o = cJSON_CreateObject();
    if (s->format == TRIGGER_SCF) {
        cJSON_AddStringToObject(o, "Type", "Timer");
        cJSON_AddStringToObject(o, "TriggerName", s->name);
        cJSON_AddStringToObject(o, "Time", when);
        cJSON_AddStringToObject(o, "Message", s->payload);
    } else if (s->format == TRIGGER_EVENTBRIDGE) {
        char id[37], arn[200];
        slot_uuid(s, slot_ms, id);
        snprintf(arn, sizeof arn, "arn:aws:events:%s:%s:rule/%s", NIMBUS_REGION, NIMBUS_ACCOUNT, s->name);
        cJSON_AddStringToObject(o, "version", "0");
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "detail-type", "Scheduled Event");
        cJSON_AddStringToObject(o, "source", "aws.events");
        cJSON_AddStringToObject(o, "account", NIMBUS_ACCOUNT);
        cJSON_AddStringToObject(o, "time", when);
        cJSON_AddStringToObject(o, "region", NIMBUS_REGION);
        cJSON *res = cJSON_AddArrayToObject(o, "resources");
        cJSON_AddItemToArray(res, cJSON_CreateString(arn));
        /* The check let only an object through. */
        cJSON *detail = s->payload[0] ? cJSON_Parse(s->payload) : NULL;
        cJSON_AddItemToObject(o, "detail", cJSON_IsObject(detail) ? detail : cJSON_CreateObject());
        if (detail && !cJSON_IsObject(detail)) cJSON_Delete(detail);
    } else {
        cJSON_AddStringToObject(o, "triggerTime", when);
        cJSON_AddStringToObject(o, "triggerName", s->name);
        cJSON_AddStringToObject(o, "payload", s->payload);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) abort();
    return text;
}

/* ---- checking a spec ---- */

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TRIGGER_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

int trigger_spec_check(const trigger_spec_t *s, err_t *err)
{
    if (!name_ok(s->name))
        return err_set(err, ERR_INVALID, "Name: '%s' must be 1 to %d letters, digits, '-' or '_'", s->name,
                       TRIGGER_NAME_MAX);
    err_t e = { 0 };
    /* The expression alone first, so a bad zone is not blamed on it. */
    schedule_t *sc = schedule_parse(s->expr, NULL, s->created_ms, &e);
    if (!sc) return err_set(err, ERR_INVALID, "ScheduleExpression: %s", e.msg);
    schedule_free(sc);
    if (s->tz[0]) {
        sc = schedule_parse(s->expr, s->tz, s->created_ms, &e);
        if (!sc) return err_set(err, ERR_INVALID, "Timezone: %s", e.msg);
        schedule_free(sc);
    }
    if (s->format == TRIGGER_EVENTBRIDGE && s->payload[0]) {
        cJSON *d = cJSON_Parse(s->payload);
        bool ok = cJSON_IsObject(d);
        cJSON_Delete(d);
        if (!ok) return err_set(err, ERR_INVALID, "Payload: the eventbridge format's payload is its detail, a JSON object");
    }
    return 0;
}

/* ---- the table (sorted) ---- */

static int key_cmp(const trig_t *t, const char *function, const char *name)
{
    int c = strcmp(t->spec.function, function);
    return c ? c : strcmp(t->spec.name, name);
}

static size_t lower_bound(const trigger_wheel_t *w, const char *function, const char *name)
{
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key_cmp(w->v[mid], function, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static trig_t *find(const trigger_wheel_t *w, const char *function, const char *name)
{
    size_t i = lower_bound(w, function, name);
    return i < w->n && key_cmp(w->v[i], function, name) == 0 ? w->v[i] : NULL;
}

/* ---- the heap ---- */

static void heap_set(trigger_wheel_t *w, size_t i, trig_t *t)
{
    w->heap[i] = t;
    t->heap = (long)i;
}

static void heap_up(trigger_wheel_t *w, size_t i)
{
    trig_t *t = w->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (w->heap[p]->due <= t->due) break;
        heap_set(w, i, w->heap[p]);
        i = p;
    }
    heap_set(w, i, t);
}

static void heap_down(trigger_wheel_t *w, size_t i)
{
    trig_t *t = w->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->nheap) break;
        if (c + 1 < w->nheap && w->heap[c + 1]->due < w->heap[c]->due) c++;
        if (w->heap[c]->due >= t->due) break;
        heap_set(w, i, w->heap[c]);
        i = c;
    }
    heap_set(w, i, t);
}

static void heap_push(trigger_wheel_t *w, trig_t *t)
{
    if (w->nheap == w->heapcap) {
        w->heapcap = w->heapcap ? w->heapcap * 2 : 64;
        w->heap = realloc(w->heap, w->heapcap * sizeof *w->heap);
        if (!w->heap) abort();
    }
    heap_set(w, w->nheap++, t);
    heap_up(w, w->nheap - 1);
}

static void heap_remove(trigger_wheel_t *w, trig_t *t)
{
    if (t->heap < 0) return;
    size_t i = (size_t)t->heap;
    t->heap = -1;
    trig_t *last = w->heap[--w->nheap];
    if (i == w->nheap) return;
    heap_set(w, i, last);
    heap_up(w, i);
    heap_down(w, (size_t)last->heap);
}

/* ---- the timer ---- */

static void wheel_run(loop_t *l, void *arg);

static void arm(trigger_wheel_t *w)
{
    if (!w->started || w->stopped) return;
    if (w->nheap == 0) {
        loop_timer_cancel(w->loop, w->timer);
        w->timer = NULL;
        return;
    }
    int64_t at = w->heap[0]->due;
    if (w->timer && w->timer_at == at) return;
    loop_timer_cancel(w->loop, w->timer);
    int64_t delay = at - wall_ms();
    w->timer_at = at;
    w->timer = loop_timer_add(w->loop, delay > 0 ? (uint64_t)delay : 0, wheel_run, w);
}

/* Where a trigger goes next: its slot into the heap, or nowhere. */
static void schedule_slot(trigger_wheel_t *w, trig_t *t)
{
    heap_remove(w, t);
    if (!t->spec.enabled || t->inflight || t->slot < 0 || !w->started || w->stopped) return;
    t->due = t->slot;
    heap_push(w, t);
}

/* The slot after the last fired, or after it was (re-)enabled. */
static int64_t slot_after(const trig_t *t, int64_t fired)
{
    int64_t from = whole_second(t->spec.since_ms);
    if (fired > from) from = fired;
    return schedule_next(t->sched, from);
}

/* ---- recording fired slots ---- */

static void mark_work(void *arg)
{
    mark_job_t *j = arg;
    store_trigger_slot_t *v = calloc(j->n, sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < j->n; i++) v[i] = (store_trigger_slot_t){ j->v[i].function, j->v[i].name, j->v[i].slot_ms };
    err_t err = { 0 };
    if (store_trigger_mark_slots(j->store, v, j->n, &err) < 0) log_warn("recording fired timer slots: %s", err.msg);
    free(v);
}

static void mark_flush(trigger_wheel_t *w);

static void mark_done(loop_t *l, void *arg)
{
    (void)l;
    mark_job_t *j = arg;
    trigger_wheel_t *w = j->w;
    free(j->v);
    free(j);
    w->marking = false;
    mark_flush(w);
}

static void mark_flush(trigger_wheel_t *w)
{
    if (w->marking || w->nmarks == 0) return;
    mark_job_t *j = calloc(1, sizeof *j);
    if (!j) abort();
    j->w = w;
    j->store = w->store;
    j->v = w->marks;
    j->n = w->nmarks;
    w->marks = NULL;
    w->nmarks = w->markcap = 0;
    w->marking = true;
    loop_submit(w->loop, mark_work, mark_done, j);
}

static void mark_add(trigger_wheel_t *w, const trig_t *t, int64_t slot)
{
    if (w->nmarks == w->markcap) {
        w->markcap = w->markcap ? w->markcap * 2 : 64;
        w->marks = realloc(w->marks, w->markcap * sizeof *w->marks);
        if (!w->marks) abort();
    }
    mark_t *m = &w->marks[w->nmarks++];
    snprintf(m->function, sizeof m->function, "%s", t->spec.function);
    snprintf(m->name, sizeof m->name, "%s", t->spec.name);
    m->slot_ms = slot;
    mark_flush(w);
}

/* ---- firing ---- */

static void trig_free(trig_t *t)
{
    schedule_free(t->sched);
    free(t);
}

static void accepted(void *arg, const err_t *err, const char *request_id, bool duplicate)
{
    (void)request_id; (void)duplicate;
    trig_t *t = arg;
    trigger_wheel_t *w = t->w;
    t->inflight = false;
    if (t->removed) {
        /* Unlinked from the zombies by whoever frees the rest. */
        for (trig_t **p = &w->zombies; *p; p = &(*p)->next_zombie)
            if (*p == t) {
                *p = t->next_zombie;
                break;
            }
        trig_free(t);
        return;
    }
    if (err) {
        /* Late, never dropped: the same slot again shortly. */
        t->st.failures++;
        log_warn("timer %s/%s: slot %lld not accepted: %s", t->spec.function, t->spec.name,
                 (long long)t->slot, err->msg);
        if (t->spec.enabled && !w->stopped) {
            t->due = wall_ms() + (w->lim.retry_ms > 0 ? w->lim.retry_ms : RETRY_DEFAULT_MS);
            heap_push(w, t);
        }
        arm(w);
        return;
    }
    int64_t fired = t->slot;
    t->st.fires++;
    t->st.last_slot_ms = fired;
    mark_add(w, t, fired);
    t->slot = slot_after(t, fired);
    schedule_slot(w, t);
    arm(w);
}

static void fire(trigger_wheel_t *w, trig_t *t, int64_t now)
{
    if (!router_find(w->router, t->spec.function)) {
        /* Its function is gone (its triggers follow): nothing to run. */
        t->st.missed++;
        t->slot = slot_after(t, t->slot);
        schedule_slot(w, t);
        return;
    }
    int64_t lag = now - t->slot;
    t->st.last_lag_ms = lag;
    if (lag > t->st.max_lag_ms) t->st.max_lag_ms = lag;
    char key[129], origin[80];
    slot_key(&t->spec, t->slot, key);
    snprintf(origin, sizeof origin, "timer:%s", t->spec.name);
    char *payload = trigger_event_json(&t->spec, t->slot);
    async_event_t ev = { .function = t->spec.function, .qualifier = t->spec.qualifier, .payload = payload,
                         .payload_len = strlen(payload), .idempotency_key = key, .origin = origin };
    t->inflight = true;
    async_accept(w->async, &ev, accepted, t);
    free(payload);
}

static void wheel_run(loop_t *l, void *arg)
{
    (void)l;
    trigger_wheel_t *w = arg;
    w->timer = NULL;
    int64_t now = wall_ms();
    while (w->nheap > 0 && w->heap[0]->due <= now) {
        trig_t *t = w->heap[0];
        heap_remove(w, t);
        fire(w, t, now);
    }
    arm(w);
}

/* ---- start-up: what was missed while down ---- */

/* The last slot in (from, now], -1 none: widening windows back from now,
 * so a schedule with rare slots is not walked from `from` one by one. */
static int64_t last_slot_by(const schedule_t *s, int64_t from, int64_t now)
{
    for (int64_t d = 1000;; d *= 2) {
        int64_t lo = now - d < from ? from : now - d;
        int64_t n = schedule_next(s, lo);
        if (n >= 0 && n <= now) {
            for (int64_t x; (x = schedule_next(s, n)) >= 0 && x <= now;) n = x;
            return n;
        }
        if (lo == from) return -1;
    }
}

/* Plans a trigger loaded at start: the first slot it fires, and the slots
 * before it skipped and counted. */
static void plan_missed(trigger_wheel_t *w, trig_t *t, int64_t now)
{
    int64_t from = whole_second(t->spec.since_ms);
    if (t->st.last_slot_ms > from) from = t->st.last_slot_ms;
    int64_t first;
    if (w->lim.catchup_ms > 0) {
        int64_t edge = whole_second(now - w->lim.catchup_ms) - 1000;
        first = schedule_next(t->sched, edge > from ? edge : from);
    } else {
        first = last_slot_by(t->sched, from, now);
        if (first < 0) first = schedule_next(t->sched, from);
    }
    uint64_t skipped = 0;
    for (int64_t x = schedule_next(t->sched, from); x >= 0 && (first < 0 || x < first) && x <= now;
         x = schedule_next(t->sched, x))
        if (++skipped >= SKIP_COUNT_MAX) break;
    if (skipped) {
        t->st.missed += skipped;
        log_info("timer %s/%s: %llu slot(s) missed while stopped are skipped", t->spec.function, t->spec.name,
                 (unsigned long long)skipped);
    }
    t->slot = first;
}

int trigger_wheel_start(trigger_wheel_t *w, err_t *err)
{
    (void)err;
    int64_t now = wall_ms();
    w->started = true;
    for (size_t i = 0; i < w->n; i++) {
        trig_t *t = w->v[i];
        if (!t->spec.enabled) continue;
        plan_missed(w, t, now);
        schedule_slot(w, t);
    }
    arm(w);
    return 0;
}

/* ---- the wheel ---- */

trigger_wheel_t *trigger_wheel_new(loop_t *l, store_t *store, async_t *async, router_t *router,
                                   const trigger_limits_t *lim, err_t *err)
{
    (void)err;
    trigger_wheel_t *w = calloc(1, sizeof *w);
    if (!w) abort();
    w->loop = l;
    w->store = store;
    w->async = async;
    w->router = router;
    if (lim) w->lim = *lim;
    return w;
}

void trigger_wheel_stop(trigger_wheel_t *w)
{
    if (!w || w->stopped) return;
    w->stopped = true;
    loop_timer_cancel(w->loop, w->timer);
    w->timer = NULL;
    while (w->nheap) heap_remove(w, w->heap[0]);
}

void trigger_wheel_free(trigger_wheel_t *w)
{
    if (!w) return;
    if (!w->stopped) trigger_wheel_stop(w);
    for (size_t i = 0; i < w->n; i++) trig_free(w->v[i]);
    while (w->zombies) {
        trig_t *z = w->zombies;
        w->zombies = z->next_zombie;
        trig_free(z);
    }
    free(w->v);
    free(w->heap);
    free(w->marks);
    free(w);
}

int trigger_put(trigger_wheel_t *w, const trigger_spec_t *spec, int64_t last_slot_ms, err_t *err)
{
    if (trigger_spec_check(spec, err) < 0) return -1;
    schedule_t *sc = schedule_parse(spec->expr, spec->tz[0] ? spec->tz : NULL, whole_second(spec->created_ms), err);
    if (!sc) return -1;
    trig_t *t = find(w, spec->function, spec->name);
    if (t) {
        bool was_enabled = t->spec.enabled;
        schedule_free(t->sched);
        t->sched = sc;
        t->spec = *spec;
        /* An accept in flight finds its next slot itself. */
        if (!t->inflight && (!was_enabled || !spec->enabled)) {
            t->slot = spec->enabled ? slot_after(t, t->st.last_slot_ms) : -1;
            schedule_slot(w, t);
            arm(w);
        }
        return 0;
    }
    t = calloc(1, sizeof *t);
    if (!t) abort();
    t->spec = *spec;
    t->sched = sc;
    t->w = w;
    t->heap = -1;
    t->st.last_slot_ms = last_slot_ms;
    t->slot = -1;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->v = realloc(w->v, w->cap * sizeof *w->v);
        if (!w->v) abort();
    }
    size_t i = lower_bound(w, spec->function, spec->name);
    memmove(&w->v[i + 1], &w->v[i], (w->n - i) * sizeof *w->v);
    w->v[i] = t;
    w->n++;
    /* Before the start, the start plans it with the missed slots' rule. */
    if (w->started && spec->enabled) {
        t->slot = slot_after(t, last_slot_ms);
        schedule_slot(w, t);
        arm(w);
    }
    return 0;
}

static void unlink_at(trigger_wheel_t *w, size_t i)
{
    trig_t *t = w->v[i];
    memmove(&w->v[i], &w->v[i + 1], (w->n - i - 1) * sizeof *w->v);
    w->n--;
    heap_remove(w, t);
    if (t->inflight) {
        t->removed = true;
        t->next_zombie = w->zombies;
        w->zombies = t;
    } else {
        trig_free(t);
    }
}

int trigger_remove(trigger_wheel_t *w, const char *function, const char *name, err_t *err)
{
    size_t i = lower_bound(w, function, name);
    if (i >= w->n || key_cmp(w->v[i], function, name) != 0)
        return err_set(err, ERR_NOT_FOUND, "Trigger not found: %s/%s", function, name);
    unlink_at(w, i);
    arm(w);
    return 0;
}

void trigger_remove_function(trigger_wheel_t *w, const char *function)
{
    size_t i = lower_bound(w, function, "");
    while (i < w->n && strcmp(w->v[i]->spec.function, function) == 0) unlink_at(w, i);
    arm(w);
}

static void stats_of(const trig_t *t, trigger_stats_t *out)
{
    *out = t->st;
    out->next_slot_ms = t->spec.enabled ? t->slot : -1;
}

const trigger_spec_t *trigger_find(const trigger_wheel_t *w, const char *function, const char *name,
                                   trigger_stats_t *stats)
{
    const trig_t *t = find(w, function, name);
    if (t && stats) stats_of(t, stats);
    return t ? &t->spec : NULL;
}

void trigger_each(const trigger_wheel_t *w, const char *function, trigger_each_fn fn, void *arg)
{
    for (size_t i = lower_bound(w, function, ""); i < w->n && strcmp(w->v[i]->spec.function, function) == 0; i++) {
        trigger_stats_t st;
        stats_of(w->v[i], &st);
        fn(arg, &w->v[i]->spec, &st);
    }
}

size_t trigger_count(const trigger_wheel_t *w, const char *function)
{
    if (!function) return w->n;
    size_t n = 0;
    for (size_t i = lower_bound(w, function, ""); i < w->n && strcmp(w->v[i]->spec.function, function) == 0; i++)
        n++;
    return n;
}
