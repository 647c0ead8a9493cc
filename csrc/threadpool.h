/* graphnet's own thread pool: what the kernels use instead of OpenMP.
 *
 * A task of nt parts runs part 0 on the calling thread; the workers take the other
 * parts as they come, and the caller takes every part no worker has started by the time
 * its own is done. So a worker the OS is slow to run (asleep, preempted, or placed on
 * the caller's core) costs the call at most the time of one part on one thread, never
 * a wait for that worker: a part may run on any thread, after any other part.
 *
 * Workers spin for a short while after each task (GRAPHNET_SPIN_US, 100 us by default)
 * so the kernels of one plan, run back to back, hand work over without a system call;
 * while they spin they yield their core every few microseconds to any other runnable
 * thread, then they sleep, so an idle graphnet takes no core from the program or another
 * library's threads. OpenMP's default instead spins for milliseconds (stealing the cores
 * of PyTorch's team in the same process) or, with OMP_WAIT_POLICY=PASSIVE, sleeps at
 * once and pays a wake-up (~40 us on a VM) at every kernel.
 *
 * One team runs at a time: a task started while the team is busy (from a worker, or
 * from a second application thread) runs on the calling thread alone, with nt = 1, so
 * every task must be correct for any thread count.
 */
#ifndef GRAPHNET_THREADPOOL_H
#define GRAPHNET_THREADPOOL_H
#include <stdint.h>
#include "graphnet.h"

/* Most threads in one task, the caller included. */
#define GN_TEAM_MAX 64

/* Body of a parallel task: thread tid of nt (0 is the caller). */
typedef void (*gn_task_fn)(void *ctx, int tid, int nt);

/* Run fn(ctx, tid, nt') once for each tid in 0 .. nt' - 1, nt' <= nt, each on whichever
 * thread of the team takes it, and return when all are done; nt' is what the team can
 * give (1 inside another task or when the team is busy). */
void gn_parallel(int nt, gn_task_fn fn, void *ctx);

/* Body of a parallel loop: iterations [lo, hi) of thread tid. */
typedef void (*gn_range_fn)(void *ctx, int64_t lo, int64_t hi, int tid);

/* Split [0, n) into nt contiguous chunks of n * tid / nt .. (static schedule), one per
 * thread; fn is called directly, with no task, when nt <= 1. */
void gn_parallel_for(int nt, int64_t n, gn_range_fn fn, void *ctx);

/* Wait until every part of the running task arrives (nt is the task's nt). A task that
 * calls it has all its parts running at once (each waits here for the others), so the
 * caller cannot take over an unstarted part: keep barriers to tasks long enough that a
 * late worker does not matter. */
void gn_barrier(int nt);

/* Whether the calling thread is running a task (its own gn_parallel runs alone). */
int gn_in_parallel(void);

/* ---- the cost rule ------------------------------------------------------------------
 * A kernel wakes the team only when every thread it wakes gets at least one grain of
 * work; smaller problems run on the calling thread. Measured on an AMD EPYC (Zen 4)
 * 2-vCPU VM, one against two threads, best of 40 rounds (bench/bench_team_grain.py,
 * bench/RESULTS.md "thread pool latency"): a cheap elementwise op or sum over n floats
 * ran slower on two threads up to n = 4096, 0.86-1.00x the time at 8192, 0.74-0.91x at
 * 16384 (exp: 0.6x from 4096); a GEMM of 16 K-65 K multiply-adds ran 1.2-1.6x slower on
 * two threads, 131 K 0.85-1.18x (a wash), 262 K 0.53-1.05x, 655 K 0.56-0.72x. So two
 * threads need 16384 elements or 262144 multiply-adds: grains of 8192 and 131072 (ops
 * calling libm per element divide the elements' grain by their cost). */
#ifndef GN_GRAIN_ELEMENTS /* -DGN_GRAIN_ELEMENTS=1 -DGN_GRAIN_MACS=1: every kernel on the */
#define GN_GRAIN_ELEMENTS 8192 /* team, the build bench/bench_team_grain.py measures */
#endif
#ifndef GN_GRAIN_MACS
#define GN_GRAIN_MACS 131072
#endif

/* Threads for `work` units of which each thread needs `grain`: min(gn_get_num_threads(),
 * work / grain), and 1 below two grains. */
static inline int gn_team_for(double work, double grain) {
    const int threads = gn_get_num_threads();
    const double fit = work / grain;
    return fit >= (double)threads ? threads : fit >= 2.0 ? (int)fit : 1;
}

#endif
