/* fake_core.h — the core without a daemon, for unit tests: a fake sandbox
 * (processes are eventfds and pipes; "exit" makes the pidfd readable), a
 * fake transport (deliveries are recorded; the test plays the runtime),
 * and around a router the real loop, log sink, SQLite store and code
 * store in a temporary directory. While src/store has no queue store,
 * fake_core.c has an in-memory one behind store/queue.h.
 *
 * What the integration tests can only see through wall-clock timing
 * (bursts, slots, limits, keep-alive, queues) is exact with these: how many
 * instances were started, which instance took which call. */
#ifndef NIMBUS_TEST_FAKE_CORE_H
#define NIMBUS_TEST_FAKE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/call.h"
#include "core/core.h"
#include "core/instance.h"
#include "core/router.h"
#include "store/codestore.h"
#include "store/store.h"

#define FAKE_MAXP 64
#define FAKE_MAXDELIV 1024

/* A process the fake sandbox "started". */
typedef struct {
    sandbox_proc_t *p;
    int out_w;          /* the "runtime's" stdout */
    int exit_code;      /* what reap reports */
    bool exited, killed, terminated, released;
} fake_proc_t;

/* A call the fake transport was given, in order. */
typedef struct {
    instance_t *in;
    call_t *c;
} delivery_t;

extern fake_proc_t g_procs[FAKE_MAXP];
extern int g_nprocs;
extern int64_t g_peak;          /* every instance's memory peak */
extern bool g_exit_on_term;     /* a runtime that obeys SIGTERM */
extern delivery_t g_deliv[FAKE_MAXDELIV];
extern int g_ndeliv;
extern int g_attached;

extern char g_dir[];            /* the world's temporary directory */
extern loop_t *g_loop;
extern store_t *g_store;
extern codestore_t *g_code;
extern core_ctx_t g_ctx;
extern router_t *g_router;

/* Make the world (a Criterion .init), and end it: every function removed,
 * every instance gone, everything freed (.fini). */
void fake_core_setup(void);
void fake_core_teardown(void);
/* The fake's counts and knobs back to their start. */
void fake_core_reset(void);

/* The process exits (its pidfd becomes readable). */
void fake_exit(fake_proc_t *f);
/* Let timers, exits and workers run for `ms`. */
void spin(unsigned ms);
/* A function of runtime "provided" with an executable bootstrap. */
router_fn_t *add_fn(const char *name, int concurrency, int timeout_s);
/* The same, owned by `owner` (an account id; "" the daemon's). */
router_fn_t *add_fn_of(const char *name, const char *owner, int concurrency, int timeout_s);
/* The runtime of instance `in` asks for work `n` times; the first makes it ready. */
void open_slots(instance_t *in, unsigned n);
/* The runtime answers the call of delivery d. */
void answer(delivery_t *d, const char *body);
/* The n-th live instance of fn. */
instance_t *nth_instance(router_fn_t *fn, int n);

/* ---- a webhook: a tiny HTTP/1.1 server on a thread of its own ----
 * What the core's outgoing POSTs reach. It answers the i-th request with
 * statuses[i] (the last one for every request after), after `delay_ms`,
 * and keeps every request it got. */
typedef struct fake_hook fake_hook_t;
fake_hook_t *fake_hook_start(const int *statuses, int n, unsigned delay_ms);
void fake_hook_stop(fake_hook_t *h);
int fake_hook_port(const fake_hook_t *h);
/* Requests so far; the i-th one's head (request line and headers) and body
 * (copies the caller frees). */
int fake_hook_count(fake_hook_t *h);
char *fake_hook_head(fake_hook_t *h, int i);
char *fake_hook_body(fake_hook_t *h, int i);

#endif
