/* graphnet's thread pool (see threadpool.h): one slot per worker, on its own cache
 * line; the caller writes a task into the slots it needs and bumps their sequence
 * numbers, runs thread 0 itself, then waits for each slot's done number. */
#define _GNU_SOURCE /* sched_getaffinity */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "graphnet.h"
#include "internal.h"
#include "threadpool.h"

#define LOAD(p) __atomic_load_n(p, __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n(p, v, __ATOMIC_SEQ_CST)

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

typedef struct {
    unsigned long seq;  /* bumped by the caller for each task given to this worker */
    unsigned long done; /* set to seq by the worker when it has finished the task */
    gn_task_fn fn;
    void *ctx;
    int nt;
    unsigned long fpmode; /* the caller's floating-point mode, which the task runs in */
    int sleeping;       /* the worker is (about to be) asleep on the condition */
} __attribute__((aligned(64))) slot_t;

static slot_t slots[GN_TEAM_MAX];
static int started;   /* workers running: slots 1 .. started */
static int busy;      /* a task holds the team */
static int held;      /* gn_pool_hold: the team counts as busy */
static unsigned bar_count, bar_gen;
static long spin_ns = -1;
static unsigned long sleeps; /* times a worker went to sleep (gn_pool_sleeps) */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int tls_tid;
static __thread int tls_in_task;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long spin_limit_ns(void) {
    if (spin_ns < 0) {
        const char *env = getenv("GRAPHNET_SPIN_US");
        long us = env ? atol(env) : 100;
        spin_ns = (us < 0 ? 0 : us) * 1000L;
    }
    return spin_ns;
}

/* Spin until *p != seen for the spin limit, then sleep on the pool's condition. */
static unsigned long wait_change(slot_t *s, unsigned long seen) {
    const long limit = spin_limit_ns();
    long long t0 = 0;
    unsigned long v;
    for (unsigned k = 1; (v = LOAD(&s->seq)) == seen; k++) {
        cpu_relax();
        if (k % 64) continue;
        if (!t0) { /* the spin's clock starts at the first check */
            t0 = now_ns();
            continue;
        }
        if (now_ns() - t0 < limit) continue;
        pthread_mutex_lock(&sleep_lock);
        __atomic_add_fetch(&sleeps, 1, __ATOMIC_RELAXED);
        STORE(&s->sleeping, 1);
        while (LOAD(&s->seq) == seen) pthread_cond_wait(&sleep_cond, &sleep_lock);
        STORE(&s->sleeping, 0);
        pthread_mutex_unlock(&sleep_lock);
        t0 = 0;
    }
    return v;
}

static void *worker_main(void *arg) {
    slot_t *s = arg;
    tls_tid = (int)(s - slots);
    tls_in_task = 1; /* a worker's own gn_parallel calls run alone */
    unsigned long seen = LOAD(&s->done);
    for (;;) {
        seen = wait_change(s, seen);
        if (gn_fpmode_get() != s->fpmode) gn_fpmode_set(s->fpmode);
        s->fn(s->ctx, tls_tid, s->nt);
        STORE(&s->done, seen);
    }
    return NULL;
}

static void reset_after_fork(void) {
    /* the child has only the forking thread: workers are started again on demand */
    for (int i = 0; i < GN_TEAM_MAX; i++) slots[i].seq = slots[i].done = 0, slots[i].sleeping = 0;
    started = 0;
    busy = 0;
    bar_count = bar_gen = 0;
    pthread_mutex_init(&sleep_lock, NULL);
    pthread_cond_init(&sleep_cond, NULL);
    pthread_mutex_init(&start_lock, NULL);
}

/* Start workers until slots 1 .. want - 1 run; returns the threads a task can use. */
static int ensure_workers(int want) {
    if (want <= started + 1) return want;
    pthread_mutex_lock(&start_lock);
    if (started == 0) pthread_atfork(NULL, NULL, reset_after_fork);
    sigset_t all, old;
    sigfillset(&all); /* workers take no signals: Python handles them on its thread */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (started + 1 < want) {
        pthread_t th;
        slot_t *s = &slots[started + 1];
        s->done = s->seq;
        if (pthread_create(&th, &attr, worker_main, s) != 0) break;
        started++;
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_unlock(&start_lock);
    return want <= started + 1 ? want : started + 1;
}

int gn_in_parallel(void) { return tls_in_task; }

unsigned long gn_pool_sleeps(void) { return LOAD(&sleeps); }

void gn_pool_hold(int hold) { STORE(&held, hold != 0); }

void gn_parallel(int nt, gn_task_fn fn, void *ctx) {
    if (nt > GN_TEAM_MAX) nt = GN_TEAM_MAX;
    int expected = 0;
    if (nt <= 1 || tls_in_task || LOAD(&held) ||
        !__atomic_compare_exchange_n(&busy, &expected, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        const int tid = tls_tid, in_task = tls_in_task;
        tls_tid = 0, tls_in_task = 1;
        fn(ctx, 0, 1);
        tls_tid = tid, tls_in_task = in_task;
        return;
    }
    nt = ensure_workers(nt);
    const unsigned long fpmode = gn_fpmode_get();
    for (int t = 1; t < nt; t++) {
        slot_t *s = &slots[t];
        s->fn = fn, s->ctx = ctx, s->nt = nt, s->fpmode = fpmode;
        STORE(&s->seq, s->seq + 1);
    }
    for (int t = 1; t < nt; t++) {
        if (LOAD(&slots[t].sleeping)) {
            pthread_mutex_lock(&sleep_lock);
            pthread_cond_broadcast(&sleep_cond);
            pthread_mutex_unlock(&sleep_lock);
            break;
        }
    }
    tls_in_task = 1, tls_tid = 0;
    fn(ctx, 0, nt);
    tls_in_task = 0;
    for (int t = 1; t < nt; t++) {
        const unsigned long want = slots[t].seq;
        for (unsigned k = 1; LOAD(&slots[t].done) != want; k++) {
            cpu_relax();
            if (k % 4096 == 0) sched_yield(); /* the worker may have lost its core */
        }
    }
    STORE(&busy, 0);
}

void gn_barrier(int nt) {
    if (nt <= 1) return;
    const unsigned gen = LOAD(&bar_gen);
    if (__atomic_add_fetch(&bar_count, 1, __ATOMIC_SEQ_CST) == (unsigned)nt) {
        STORE(&bar_count, 0);
        STORE(&bar_gen, gen + 1);
        return;
    }
    for (unsigned k = 1; LOAD(&bar_gen) == gen; k++) {
        cpu_relax();
        if (k % 4096 == 0) sched_yield();
    }
}

typedef struct {
    gn_range_fn fn;
    void *ctx;
    int64_t n;
} range_task_t;

static void run_range(void *arg, int tid, int nt) {
    const range_task_t *r = arg;
    const int64_t lo = r->n * tid / nt, hi = r->n * (tid + 1) / nt;
    if (lo < hi) r->fn(r->ctx, lo, hi, tid);
}

void gn_parallel_for(int nt, int64_t n, gn_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (nt > n) nt = (int)n;
    if (nt <= 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    range_task_t r = {fn, ctx, n};
    gn_parallel(nt, run_range, &r);
}

int gn_available_threads(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
