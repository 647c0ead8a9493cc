/* graphnet's own thread pool: what the kernels use instead of OpenMP.
 *
 * Workers spin for a short while after each task (GRAPHNET_SPIN_US, 100 us by default)
 * so the kernels of one plan, run back to back, hand work over without a system call;
 * then they sleep, so an idle graphnet takes no core from the program or another
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

/* Most threads in one task, the caller included. */
#define GN_TEAM_MAX 64

/* Body of a parallel task: thread tid of nt (0 is the caller). */
typedef void (*gn_task_fn)(void *ctx, int tid, int nt);

/* Run fn(ctx, tid, nt') on nt' <= nt threads and return when all are done; nt' is
 * what the team can give (1 inside another task or when the team is busy). */
void gn_parallel(int nt, gn_task_fn fn, void *ctx);

/* Body of a parallel loop: iterations [lo, hi) of thread tid. */
typedef void (*gn_range_fn)(void *ctx, int64_t lo, int64_t hi, int tid);

/* Split [0, n) into nt contiguous chunks of n * tid / nt .. (static schedule), one per
 * thread; fn is called directly, with no task, when nt <= 1. */
void gn_parallel_for(int nt, int64_t n, gn_range_fn fn, void *ctx);

/* Wait until every thread of the running task arrives (nt is the task's nt). */
void gn_barrier(int nt);

/* Whether the calling thread is running a task (its own gn_parallel runs alone). */
int gn_in_parallel(void);

#endif
