/* test_store_trigger.c — the store's timer triggers: put keeps the fired
 * slot, marks only move forward, a reopen keeps both, and deleting the
 * function takes its triggers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/nimbus-strig-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/nimbus.db", dir);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(store_trigger, .init = setup, .fini = teardown);

typedef struct {
    int n;
    char names[8][80];
    char docs[8][80];
    int64_t last[8];
} seen_t;

static void collect(const char *function, const char *name, const char *doc, int64_t last, void *arg)
{
    seen_t *s = arg;
    if (s->n >= 8) return;
    snprintf(s->names[s->n], sizeof s->names[0], "%s/%s", function, name);
    snprintf(s->docs[s->n], sizeof s->docs[0], "%s", doc);
    s->last[s->n] = last;
    s->n++;
}

static seen_t list(store_t *s)
{
    seen_t seen = {0};
    err_t err = {0};
    cr_assert_eq(store_trigger_each(s, collect, &seen, &err), 0, "%s", err.msg);
    return seen;
}

Test(store_trigger, put_mark_reopen_delete)
{
    err_t err = {0};
    store_t *s = store_open(path, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(store_function_insert(s, "f", "{}", "00", &err), 0, "%s", err.msg);
    cr_assert_eq(store_function_insert(s, "g", "{}", "00", &err), 0, "%s", err.msg);
    cr_assert_eq(store_trigger_put(s, "f", "b", "{\"v\":1}", &err), 0, "%s", err.msg);
    cr_assert_eq(store_trigger_put(s, "f", "a", "{\"v\":2}", &err), 0, "%s", err.msg);
    cr_assert_eq(store_trigger_put(s, "g", "a", "{\"v\":3}", &err), 0, "%s", err.msg);

    store_trigger_slot_t marks[] = { { "f", "a", 5000 }, { "f", "b", 7000 }, { "f", "gone", 1 } };
    cr_assert_eq(store_trigger_mark_slots(s, marks, 3, &err), 0, "%s", err.msg);
    /* An older slot never moves the mark back. */
    store_trigger_slot_t older = { "f", "a", 4000 };
    cr_assert_eq(store_trigger_mark_slots(s, &older, 1, &err), 0, "%s", err.msg);
    /* Replacing the document keeps the slot. */
    cr_assert_eq(store_trigger_put(s, "f", "a", "{\"v\":9}", &err), 0, "%s", err.msg);

    seen_t seen = list(s);
    cr_assert_eq(seen.n, 3);
    cr_assert_str_eq(seen.names[0], "f/a");
    cr_assert_str_eq(seen.docs[0], "{\"v\":9}");
    cr_assert_eq(seen.last[0], 5000);
    cr_assert_str_eq(seen.names[1], "f/b");
    cr_assert_eq(seen.last[1], 7000);
    cr_assert_str_eq(seen.names[2], "g/a");
    cr_assert_eq(seen.last[2], 0);

    cr_assert_eq(store_trigger_delete(s, "f", "nope", &err), -1);
    cr_assert_eq(err.code, ERR_NOT_FOUND);
    cr_assert_eq(store_trigger_delete(s, "f", "b", &err), 0, "%s", err.msg);
    store_close(s);

    s = store_open(path, &err);
    cr_assert_not_null(s, "%s", err.msg);
    seen = list(s);
    cr_assert_eq(seen.n, 2);
    cr_assert_eq(seen.last[0], 5000);
    cr_assert_eq(store_function_delete(s, "f", &err), 0, "%s", err.msg);
    seen = list(s);
    cr_assert_eq(seen.n, 1);
    cr_assert_str_eq(seen.names[0], "g/a");
    store_close(s);
}
