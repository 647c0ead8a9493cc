/* Standalone checks of the thread pool (csrc/threadpool.c) through gn_parallel itself:
 * every part of every task runs exactly once, whoever runs it (the caller takes parts
 * no worker has started), for many tiny tasks back to back, after idle spells long
 * enough for the workers to sleep, from several application threads at once, with a
 * barrier inside the task, and nested. Exit status 1 on failure. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include "graphnet.h"
#include "threadpool.h"

#define PARTS_MAX 8

typedef struct {
    int runs[PARTS_MAX]; /* times each part ran */
    int nt_seen;         /* the nt the parts were given (all alike) */
    int mismatched_nt;
} count_task_t;

static void count_part(void *arg, int tid, int nt) {
    count_task_t *t = arg;
    if (tid < PARTS_MAX) __atomic_add_fetch(&t->runs[tid], 1, __ATOMIC_RELAXED);
    int expected = 0;
    if (!__atomic_compare_exchange_n(&t->nt_seen, &expected, nt, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED) && expected != nt)
        __atomic_store_n(&t->mismatched_nt, 1, __ATOMIC_RELAXED);
}

/* Run one task of nt parts; 1 when a part ran other than once or beyond what it got. */
static int one_task(int nt) {
    count_task_t t = {{0}, 0, 0};
    gn_parallel(nt, count_part, &t);
    const int got = t.nt_seen;
    if (t.mismatched_nt || got < 1 || got > nt) return 1;
    for (int p = 0; p < PARTS_MAX; p++)
        if (t.runs[p] != (p < got ? 1 : 0)) return 1;
    return 0;
}

static long failures;

static void expect(int ok, const char *what) {
    if (!ok) {
        failures++;
        fprintf(stderr, "FAIL: %s\n", what);
    }
}

static void many_tiny_tasks(void) {
    long bad = 0;
    for (int i = 0; i < 200000; i++) bad += one_task(2 + i % 3);
    expect(bad == 0, "200000 tiny tasks: every part once");
}

static void tasks_after_idle(void) {
    const unsigned long before = gn_pool_sleeps();
    long bad = 0;
    for (int i = 0; i < 10; i++) {
        const struct timespec idle = {0, 20000000}; /* 20 ms: 200x the spin time */
        nanosleep(&idle, NULL);
        bad += one_task(3);
    }
    expect(bad == 0, "tasks after idle spells: every part once");
    expect(gn_pool_sleeps() > before, "workers slept during the idle spells");
}

static void *app_thread(void *arg) {
    long *bad = arg;
    for (int i = 0; i < 20000; i++) *bad += one_task(2 + i % 2);
    return NULL;
}

static void several_app_threads(void) {
    pthread_t th[4];
    long bad[4] = {0};
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, app_thread, &bad[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    expect(bad[0] + bad[1] + bad[2] + bad[3] == 0,
           "4 application threads at once: every part once");
}

typedef struct {
    int before[PARTS_MAX];
    int wrong;
} barrier_task_t;

static void barrier_part(void *arg, int tid, int nt) {
    barrier_task_t *t = arg;
    __atomic_store_n(&t->before[tid], tid + 1, __ATOMIC_RELAXED);
    gn_barrier(nt);
    for (int p = 0; p < nt; p++)
        if (__atomic_load_n(&t->before[p], __ATOMIC_RELAXED) != p + 1)
            __atomic_store_n(&t->wrong, 1, __ATOMIC_RELAXED);
    gn_barrier(nt); /* nobody leaves while another still reads */
}

static void barrier_tasks(void) {
    int wrong = 0;
    for (int i = 0; i < 20000; i++) {
        barrier_task_t t = {{0}, 0};
        gn_parallel(3, barrier_part, &t);
        wrong |= t.wrong;
    }
    expect(!wrong, "a barrier sees every part's write before it");
}

static void nested_part(void *arg, int tid, int nt) {
    (void)tid, (void)nt;
    int *bad = arg;
    __atomic_add_fetch(bad, one_task(3), __ATOMIC_RELAXED);
    if (!gn_in_parallel()) __atomic_store_n(bad, 1000, __ATOMIC_RELAXED);
}

static void nested_tasks(void) {
    int bad = 0;
    for (int i = 0; i < 5000; i++) gn_parallel(2, nested_part, &bad);
    expect(bad == 0, "tasks inside a task run alone, every part once");
}

int main(void) {
    many_tiny_tasks();
    tasks_after_idle();
    several_app_threads();
    barrier_tasks();
    nested_tasks();
    many_tiny_tasks();
    if (failures) {
        fprintf(stderr, "%ld check(s) failed\n", failures);
        return 1;
    }
    printf("threadpool: all checks passed\n");
    return 0;
}
