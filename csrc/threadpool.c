/* graphnet's thread pool (see threadpool.h).
 *
 * A task is published as one word, `claim`: its generation, its part count nt and the
 * next part nobody has taken. The caller runs part 0, then takes every part still
 * untaken; workers take parts by compare-and-swap on the same word. So the caller only
 * ever waits for parts a running thread has started, never for a worker the OS has not
 * run: on a 2-vCPU VM a worker woken while the other core is busy is placed on the
 * caller's core, where the old pool (a fixed part per worker) had every call wait for
 * it (and the worker then spun its 100 us there, slept, and was woken onto the same core
 * at the next call): 128x10x512 blocks ran 216-246 us per call against 13 us, with one
 * pool sleep per call. Spinning workers also yield every few microseconds, so a worker
 * sharing a core with another library's thread gives the core back, and move to another
 * core when they find themselves on the caller's (worker_give). */
#define _GNU_SOURCE /* sched_getaffinity, sched_setaffinity, sched_getcpu */
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

/* claim = generation << 16 | nt << 8 | next part (nt <= GN_TEAM_MAX < 256) */
#define PART_BITS 8
#define PART_MASK 0xffu
#define GEN_SHIFT (2 * PART_BITS)

/* A spinning thread gives its core to any other runnable thread this often. */
#define YIELD_NS 5000

static uint64_t claim __attribute__((aligned(64)));
static unsigned finished __attribute__((aligned(64))); /* parts of the task done */
static struct {
    gn_task_fn fn;
    void *ctx;
    unsigned long fpmode; /* the caller's floating-point mode, which every part runs in */
} __attribute__((aligned(64))) task;
static int started;   /* workers running */
static int busy;      /* a task holds the team */
static int held;      /* gn_pool_hold: the team counts as busy */
static int sleepers;  /* workers asleep (or about to be) on sleep_cond */
static unsigned bar_count, bar_gen;
static long spin_ns = -1;
static unsigned long sleeps; /* times a worker went to sleep (gn_pool_sleeps) */
static unsigned long moves;  /* times a worker left the caller's core (gn_pool_moves) */
static int caller_cpu = -1;  /* the core of the thread that gave the last task */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int tls_in_task;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long spin_limit_ns(void) {
    long ns = __atomic_load_n(&spin_ns, __ATOMIC_RELAXED);
    if (ns < 0) { /* every worker reads the same variable: who stores first does not matter */
        const char *env = getenv("GRAPHNET_SPIN_US");
        const long us = env ? atol(env) : 100;
        ns = (us < 0 ? 0 : us) * 1000L;
        __atomic_store_n(&spin_ns, ns, __ATOMIC_RELAXED);
    }
    return ns;
}

/* Gives the core away, every YIELD_NS of a spin-wait: sched_yield, which returns at once
 * when nothing else wants this core. */
static void yield_core(void) { sched_yield(); }

/* One step of a spin-wait: a pause, and every YIELD_NS `give` (yield_core or, for a
 * worker, worker_give). *last is 0 at the wait's start. */
static void relax(unsigned k, long long *last, void (*give)(void)) {
    cpu_relax();
    if (k % 64) return;
    const long long t = now_ns();
    if (!*last) {
        *last = t;
    } else if (t - *last >= YIELD_NS) {
        give();
        *last = now_ns();
    }
}

/* The cores a worker may run on: the affinity it started with (its creator's). */
static __thread cpu_set_t tls_allowed;

/* A spinning worker on the core of the thread that gave the last task moves off it: the
 * OS puts a woken thread there when the other cores are busy (a few ms after PyTorch's
 * team ran, or beside another process), and keeps it there while it keeps running (a
 * running thread is "cache hot" to the load balancer), where it can only take the core
 * from the caller, who runs its parts anyway. Excluding the core from its affinity for
 * a moment moves it to another allowed core; the affinity is then restored at once, so
 * the OS stays free to place it anywhere later. */
static void worker_give(void) {
    const int cpu = sched_getcpu();
    if (cpu < 0 || cpu != LOAD(&caller_cpu) || CPU_COUNT(&tls_allowed) < 2 ||
        !CPU_ISSET(cpu, &tls_allowed)) {
        sched_yield();
        return;
    }
    cpu_set_t others = tls_allowed;
    CPU_CLR(cpu, &others);
    if (sched_setaffinity(0, sizeof others, &others) != 0) {
        sched_yield();
        return;
    }
    __atomic_add_fetch(&moves, 1, __ATOMIC_RELAXED);
    sched_setaffinity(0, sizeof tls_allowed, &tls_allowed);
}

static int word_nt(uint64_t w) { return (int)((w >> PART_BITS) & PART_MASK); }
static int word_part(uint64_t w) { return (int)(w & PART_MASK); }
static int has_parts(uint64_t w) { return word_part(w) < word_nt(w); }

/* Take the next part of the task whose claim word was *w; -1 when every part is taken.
 * *w becomes the word last seen. */
static int take_part(uint64_t *w) {
    uint64_t v = *w;
    while (has_parts(v)) {
        if (__atomic_compare_exchange_n(&claim, &v, v + 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            *w = v + 1;
            return word_part(v);
        }
    }
    *w = v;
    return -1;
}

/* Run a part taken from the current task (its fields are stable until it finishes). */
static void run_part(int part, int nt) {
    if (gn_fpmode_get() != task.fpmode) gn_fpmode_set(task.fpmode);
    task.fn(task.ctx, part, nt);
    __atomic_add_fetch(&finished, 1, __ATOMIC_RELEASE);
}

/* Spin until a task has an untaken part; after the spin limit without a task, sleep on
 * the pool's condition until the next task is published, then spin again (a woken worker
 * that finds every part taken, by a caller that did not wait for it, stays awake for the
 * next task rather than make that caller wake it again). Returns the claim word seen. */
static uint64_t wait_for_parts(void) {
    const long limit = spin_limit_ns();
    uint64_t v = LOAD(&claim), gen = v >> GEN_SHIFT;
    long long t0 = now_ns(), last_yield = 0;
    for (unsigned k = 1; !has_parts(v = LOAD(&claim)); k++) {
        relax(k, &last_yield, worker_give);
        if (v >> GEN_SHIFT != gen) { /* a task came and went: the program is still busy */
            gen = v >> GEN_SHIFT;
            t0 = now_ns();
        }
        if (k % 64 || now_ns() - t0 < limit) continue;
        pthread_mutex_lock(&sleep_lock);
        __atomic_add_fetch(&sleeps, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
        while (LOAD(&claim) >> GEN_SHIFT == gen) pthread_cond_wait(&sleep_cond, &sleep_lock);
        __atomic_sub_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&sleep_lock);
        t0 = now_ns();
    }
    return v;
}

static void *worker_main(void *arg) {
    (void)arg;
    tls_in_task = 1; /* a worker's own gn_parallel calls run alone */
    if (sched_getaffinity(0, sizeof tls_allowed, &tls_allowed) != 0) CPU_ZERO(&tls_allowed);
    for (;;) {
        uint64_t w = wait_for_parts();
        for (int part; (part = take_part(&w)) >= 0;) run_part(part, word_nt(w));
    }
    return NULL;
}

/* Wake up to n sleeping workers for a task just published. */
static void wake_workers(int n) {
    if (!LOAD(&sleepers)) return;
    pthread_mutex_lock(&sleep_lock);
    const int asleep = LOAD(&sleepers);
    for (int i = 0; i < n && i < asleep; i++) pthread_cond_signal(&sleep_cond);
    pthread_mutex_unlock(&sleep_lock);
}

static void reset_after_fork(void) {
    /* the child has only the forking thread: workers are started again on demand */
    claim = 0;
    finished = 0;
    started = busy = sleepers = 0;
    bar_count = bar_gen = 0;
    pthread_mutex_init(&sleep_lock, NULL);
    pthread_cond_init(&sleep_cond, NULL);
    pthread_mutex_init(&start_lock, NULL);
}

/* Start workers until want - 1 run; returns the threads a task can use. */
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
        if (pthread_create(&th, &attr, worker_main, NULL) != 0) break;
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
unsigned long gn_pool_moves(void) { return LOAD(&moves); }

static void run_alone(gn_task_fn fn, void *ctx) {
    const int in_task = tls_in_task;
    tls_in_task = 1;
    fn(ctx, 0, 1);
    tls_in_task = in_task;
}

void gn_parallel(int nt, gn_task_fn fn, void *ctx) {
    if (nt > GN_TEAM_MAX) nt = GN_TEAM_MAX;
    int expected = 0;
    if (nt <= 1 || tls_in_task || LOAD(&held) ||
        !__atomic_compare_exchange_n(&busy, &expected, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        run_alone(fn, ctx);
        return;
    }
    nt = ensure_workers(nt);
    if (nt <= 1) { /* no worker could be started */
        STORE(&busy, 0);
        run_alone(fn, ctx);
        return;
    }
    task.fn = fn, task.ctx = ctx, task.fpmode = gn_fpmode_get();
    STORE(&caller_cpu, sched_getcpu());
    __atomic_store_n(&finished, 0, __ATOMIC_RELAXED);
    const uint64_t gen = (LOAD(&claim) >> GEN_SHIFT) + 1;
    uint64_t w = gen << GEN_SHIFT | (uint64_t)nt << PART_BITS | 1; /* part 0 taken */
    STORE(&claim, w);
    wake_workers(nt - 1);
    tls_in_task = 1;
    run_part(0, nt);
    for (int part; (part = take_part(&w)) >= 0;) run_part(part, nt);
    long long last_yield = 0;
    for (unsigned k = 1; __atomic_load_n(&finished, __ATOMIC_ACQUIRE) != (unsigned)nt; k++)
        relax(k, &last_yield, yield_core);
    tls_in_task = 0;
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
    long long last_yield = 0;
    for (unsigned k = 1; LOAD(&bar_gen) == gen; k++) relax(k, &last_yield, yield_core);
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
