/* Collectives: the processes of a data-parallel run summing a buffer in the middle of a
 * plan (synchronized batch statistics, gradient buckets started while the backward pass
 * goes on). The transport is the host's (MPI through mpi4py),
 * registered once as a function pointer; without one this process is the only one. */
#include <string.h>
#include "graphnet.h"

static gn_allreduce_fn registered_allreduce = NULL;

void gn_set_allreduce(gn_allreduce_fn fn) { registered_allreduce = fn; }

void gn_allreduce_sum(int64_t n, const float *x, float *y, int wait) {
    if (y != x) memmove(y, x, sizeof(float) * (size_t)n);
    if (registered_allreduce != NULL && n > 0) registered_allreduce(y, n, wait);
}
