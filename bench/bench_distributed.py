"""Data-parallel mnist_cnn training (bench_mnist_cnn.graphnet_model) over MPI.

    GRAPHNET_NUM_THREADS=1 mpirun -n 2 python bench/bench_distributed.py   # 2 ranks x 1
    GRAPHNET_NUM_THREADS=2 python bench/bench_distributed.py               # 1 x 2
    GRAPHNET_NUM_THREADS=1 python bench/bench_distributed.py               # 1 x 1

Prints (rank 0) the training throughput in samples/s at the global batch, and under
MPI the allreduce time per step (the gradient buffer, bucketed as fit does) against
mpi4py's own Allreduce of one buffer of the same bytes, with the bandwidth each reaches,
and the allreduce's share of a step.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mnist_cnn import graphnet_model  # noqa: E402

import graphnet as gn  # noqa: E402

PER_RANK_BATCH, STEPS, REPEATS = 64, 20, 20


def main():
    ranks = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
    strategy = None
    if ranks > 1:
        strategy = gn.distribution.DataParallel()
        gn.distribution.set_distribution(strategy)
    batch = PER_RANK_BATCH if strategy else PER_RANK_BATCH * 2
    rng = np.random.default_rng(0)
    n = batch * max(ranks, 1) * STEPS
    x = rng.random((n, 28, 28, 1), dtype="float32")
    y = rng.integers(0, 10, size=(n,)).astype("float32")
    model = graphnet_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x[:batch * max(ranks, 1) * 2], y[:batch * max(ranks, 1) * 2], batch_size=batch,
              verbose=0)   # compiles the plans
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    rank = strategy.rank if strategy else 0
    threads = os.environ.get("GRAPHNET_NUM_THREADS", "default")
    if rank == 0:
        print(f"{max(ranks, 1)} rank(s) x {threads} thread(s): {n / seconds:.0f} samples/s "
              f"(global batch {batch * max(ranks, 1)}, {STEPS} steps)")
    if strategy:
        bench_allreduce(strategy, model, seconds / STEPS)


def bench_allreduce(strategy, model, step_seconds):
    """The step's gradient allreduce (one float32 buffer, summed in place in buckets)
    against mpi4py's one Allreduce of the same bytes, and its share of a step."""
    from mpi4py import MPI
    size = sum(int(np.prod(w.shape)) for w in model.trainable_weights) + 1
    flat, plain = np.ones(size, "float32"), np.ones(size, "float32")
    timings = {}
    for name, run in (("graphnet", lambda: strategy.allreduce_sum(flat)),
                      ("mpi4py Allreduce", lambda: strategy.comm.Allreduce(
                          MPI.IN_PLACE, plain, op=MPI.SUM))):
        samples = []
        for _ in range(REPEATS):
            strategy.comm.Barrier()
            start = time.perf_counter()
            run()
            samples.append(time.perf_counter() - start)
        timings[name] = samples
    if strategy.rank == 0:
        for name, samples in timings.items():
            median = float(np.median(samples))
            print(f"allreduce of {flat.nbytes / 1e6:.2f} MB, {name}: median "
                  f"{median * 1e3:.2f} ms/step (min {min(samples) * 1e3:.2f}, max "
                  f"{max(samples) * 1e3:.2f}), {flat.nbytes / median / 1e9:.2f} GB/s")
        share = float(np.median(timings["graphnet"])) / step_seconds
        print(f"allreduce share of a training step ({step_seconds * 1e3:.1f} ms): "
              f"{share:.0%}, none of it overlapped with the backward pass")


if __name__ == "__main__":
    main()
