/* loop.c — epoll loop, timer min-heap, eventfd-fed worker pool.
 *
 * Owns: the epoll fd, the per-fd callback table (indexed by fd, as Redis'
 * ae does: fds are small integers), the timer heap, the worker threads and
 * their two queues. Must never: block in a callback, or let a worker touch
 * anything but its own work item.
 */
#include "io/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    loop_io_fn fn;
    void *arg;
    uint32_t events;
    bool used;
} fd_slot_t;

struct loop_timer {
    uint64_t due_ns;  /* absolute monotonic deadline */
    uint64_t seq;     /* tie-break so equal deadlines fire in creation order */
    size_t idx;       /* position in the heap, for O(log n) cancel */
    loop_timer_fn fn;
    void *arg;
};

typedef struct work_item {
    loop_work_fn work;
    loop_done_fn done;
    void *arg;
    struct work_item *next;
} work_item_t;

typedef struct {
    work_item_t *head, *tail;
} work_queue_t;

struct loop {
    int epfd;
    bool stopping;
    fd_slot_t *fds;       /* indexed by fd */
    size_t nfds;

    loop_timer_t **heap;  /* min-heap on (due_ns, seq) */
    size_t nheap, capheap;
    uint64_t timer_seq;

    /* Worker pool: `todo` is filled by the loop and drained by workers;
     * `done` is filled by workers and drained by the loop when `evfd`
     * becomes readable. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    work_queue_t todo, done;
    bool quit;
    int evfd;
    pthread_t *threads;
    int nthreads;
    unsigned pending;
};

uint64_t loop_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t loop_now_ms(void) { return loop_now_ns() / 1000000ull; }

uint64_t loop_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

static void queue_push(work_queue_t *q, work_item_t *w)
{
    w->next = NULL;
    if (q->tail) q->tail->next = w;
    else q->head = w;
    q->tail = w;
}

static work_item_t *queue_pop_all(work_queue_t *q)
{
    work_item_t *h = q->head;
    q->head = q->tail = NULL;
    return h;
}

static void *worker_main(void *p)
{
    loop_t *l = p;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->todo.head && !l->quit) pthread_cond_wait(&l->cv, &l->mu);
        if (!l->todo.head && l->quit) break;
        work_item_t *w = l->todo.head;
        l->todo.head = w->next;
        if (!l->todo.head) l->todo.tail = NULL;
        pthread_mutex_unlock(&l->mu);

        w->work(w->arg);

        pthread_mutex_lock(&l->mu);
        bool was_empty = l->done.head == NULL;
        queue_push(&l->done, w);
        pthread_mutex_unlock(&l->mu);
        /* Wake the loop only for the first finished item: it drains the
         * whole queue. Written outside the lock so the loop thread never
         * waits on a worker's syscall. The counter only saturates at
         * 2^64-2; a failed write means the loop is gone. */
        if (was_empty) {
            uint64_t one = 1;
            ssize_t r = write(l->evfd, &one, sizeof one);
            (void)r;
        }
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void run_done(loop_t *l)
{
    uint64_t n;
    ssize_t r = read(l->evfd, &n, sizeof n);
    (void)r;
    pthread_mutex_lock(&l->mu);
    work_item_t *w = queue_pop_all(&l->done);
    pthread_mutex_unlock(&l->mu);
    while (w) {
        work_item_t *next = w->next;
        l->pending--;
        if (w->done) w->done(l, w->arg);
        free(w);
        w = next;
    }
}

static void evfd_cb(loop_t *l, int fd, uint32_t events, void *arg)
{
    (void)fd; (void)events; (void)arg;
    run_done(l);
}

loop_t *loop_new(int nworkers, err_t *err)
{
    loop_t *l = calloc(1, sizeof *l);
    if (!l) { err_set(err, ERR_SYS, "out of memory"); return NULL; }
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->epfd < 0 || l->evfd < 0) {
        err_sys(err, "epoll/eventfd");
        goto fail;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (loop_add_fd(l, l->evfd, EPOLLIN, evfd_cb, NULL, err) < 0) goto fail;
    if (nworkers > 0) {
        l->threads = calloc((size_t)nworkers, sizeof *l->threads);
        if (!l->threads) { err_set(err, ERR_SYS, "out of memory"); goto fail; }
        for (int i = 0; i < nworkers; i++) {
            if (pthread_create(&l->threads[i], NULL, worker_main, l) != 0) {
                err_set(err, ERR_SYS, "cannot start worker thread");
                goto fail;
            }
            l->nthreads++;
        }
    }
    return l;
fail:
    loop_free(l);
    return NULL;
}

void loop_free(loop_t *l)
{
    if (!l) return;
    if (l->nthreads) {
        pthread_mutex_lock(&l->mu);
        l->quit = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        for (int i = 0; i < l->nthreads; i++) pthread_join(l->threads[i], NULL);
    }
    free(l->threads);
    /* Items finished but never delivered still own their args; run their
     * done callbacks so owners can free them. */
    if (l->evfd >= 0 && l->pending) run_done(l);
    for (size_t i = 0; i < l->nheap; i++) free(l->heap[i]);
    free(l->heap);
    free(l->fds);
    if (l->epfd >= 0) close(l->epfd);
    if (l->evfd >= 0) close(l->evfd);
    free(l);
}

static int grow_fds(loop_t *l, int fd, err_t *err)
{
    if ((size_t)fd < l->nfds) return 0;
    size_t n = l->nfds ? l->nfds : 64;
    while (n <= (size_t)fd) n *= 2;
    fd_slot_t *p = realloc(l->fds, n * sizeof *p);
    if (!p) return err_set(err, ERR_SYS, "out of memory");
    memset(p + l->nfds, 0, (n - l->nfds) * sizeof *p);
    l->fds = p;
    l->nfds = n;
    return 0;
}

int loop_add_fd(loop_t *l, int fd, uint32_t events, loop_io_fn fn, void *arg, err_t *err)
{
    if (grow_fds(l, fd, err) < 0) return -1;
    struct epoll_event ev = { .events = events, .data.fd = fd };
    int op = l->fds[fd].used ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, fd, &ev) < 0) return err_sys(err, "epoll_ctl(%d)", fd);
    l->fds[fd] = (fd_slot_t){ .fn = fn, .arg = arg, .events = events, .used = true };
    return 0;
}

int loop_mod_fd(loop_t *l, int fd, uint32_t events, err_t *err)
{
    if ((size_t)fd >= l->nfds || !l->fds[fd].used)
        return err_set(err, ERR_INTERNAL, "fd %d not registered", fd);
    if (l->fds[fd].events == events) return 0;
    struct epoll_event ev = { .events = events, .data.fd = fd };
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) return err_sys(err, "epoll_ctl(%d)", fd);
    l->fds[fd].events = events;
    return 0;
}

void loop_del_fd(loop_t *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used) return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->fds[fd] = (fd_slot_t){ 0 };
}

/* ---- timer heap ---- */

static bool timer_less(const loop_timer_t *a, const loop_timer_t *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_swap(loop_t *l, size_t i, size_t j)
{
    loop_timer_t *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->heap[i]->idx = i;
    l->heap[j]->idx = j;
}

static void heap_up(loop_t *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_less(l->heap[i], l->heap[p])) break;
        heap_swap(l, i, p);
        i = p;
    }
}

static void heap_down(loop_t *l, size_t i)
{
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->nheap && timer_less(l->heap[a], l->heap[m])) m = a;
        if (b < l->nheap && timer_less(l->heap[b], l->heap[m])) m = b;
        if (m == i) break;
        heap_swap(l, i, m);
        i = m;
    }
}

static void heap_remove(loop_t *l, size_t i)
{
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
}

loop_timer_t *loop_timer_add(loop_t *l, uint64_t ms, loop_timer_fn fn, void *arg)
{
    if (l->nheap == l->capheap) {
        size_t n = l->capheap ? l->capheap * 2 : 64;
        loop_timer_t **p = realloc(l->heap, n * sizeof *p);
        if (!p) return NULL;
        l->heap = p;
        l->capheap = n;
    }
    loop_timer_t *t = malloc(sizeof *t);
    if (!t) return NULL;
    *t = (loop_timer_t){ .due_ns = loop_now_ns() + ms * 1000000ull, .seq = l->timer_seq++,
                         .idx = l->nheap, .fn = fn, .arg = arg };
    l->heap[l->nheap++] = t;
    heap_up(l, t->idx);
    return t;
}

void loop_timer_cancel(loop_t *l, loop_timer_t *t)
{
    if (!t) return;
    heap_remove(l, t->idx);
    free(t);
}

static int next_timeout_ms(loop_t *l)
{
    if (!l->nheap) return -1;
    uint64_t now = loop_now_ns(), due = l->heap[0]->due_ns;
    if (due <= now) return 0;
    /* Round up so we never wake a hair early and spin. */
    return (int)((due - now + 999999ull) / 1000000ull);
}

static void run_timers(loop_t *l)
{
    uint64_t now = loop_now_ns();
    while (l->nheap && l->heap[0]->due_ns <= now && !l->stopping) {
        loop_timer_t *t = l->heap[0];
        heap_remove(l, 0);
        t->fn(l, t->arg);
        free(t);
    }
}

void loop_submit(loop_t *l, loop_work_fn work, loop_done_fn done, void *arg)
{
    if (!l->nthreads) {   /* inline mode */
        work(arg);
        if (done) done(l, arg);
        return;
    }
    work_item_t *w = malloc(sizeof *w);
    if (!w) abort();   /* losing queued work silently is worse than dying */
    *w = (work_item_t){ .work = work, .done = done, .arg = arg };
    l->pending++;
    pthread_mutex_lock(&l->mu);
    queue_push(&l->todo, w);
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

unsigned loop_pending_work(const loop_t *l) { return l->pending; }

int loop_run(loop_t *l, err_t *err)
{
    struct epoll_event evs[256];
    l->stopping = false;
    while (!l->stopping) {
        int n = epoll_wait(l->epfd, evs, 256, next_timeout_ms(l));
        if (n < 0) {
            if (errno == EINTR) continue;
            return err_sys(err, "epoll_wait");
        }
        for (int i = 0; i < n && !l->stopping; i++) {
            int fd = evs[i].data.fd;
            /* A callback earlier in this batch may have removed this fd. */
            if ((size_t)fd >= l->nfds || !l->fds[fd].used) continue;
            fd_slot_t s = l->fds[fd];
            s.fn(l, fd, evs[i].events, s.arg);
        }
        run_timers(l);
    }
    return 0;
}

void loop_stop(loop_t *l) { l->stopping = true; }
