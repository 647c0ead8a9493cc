"""Data-parallel mnist_cnn training (bench_mnist_cnn.graphnet_model) over MPI.

    GRAPHNET_NUM_THREADS=1 mpirun -n 2 python bench/bench_distributed.py   # 2 ranks x 1
    GRAPHNET_NUM_THREADS=2 python bench/bench_distributed.py               # 1 x 2
    GRAPHNET_NUM_THREADS=1 python bench/bench_distributed.py               # 1 x 1

Prints (rank 0) the training throughput in samples/s at the global batch (median of 5
fits of 20 steps), and under MPI the buckets' allreduce time per step during fit with the
share of it hidden behind the gradient plan, then the same buckets summed alone against
mpi4py's own Allreduce of one buffer of the same bytes, with the bandwidth each reaches.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mnist_cnn import graphnet_model  # noqa: E402

import graphnet as gn  # noqa: E402

PER_RANK_BATCH, STEPS, FITS, REPEATS = 64, 20, 5, 20


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
    if strategy:
        strategy.background.busy = strategy.background.waited = 0.0
    rates = []
    for _ in range(FITS):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        rates.append(n / (time.perf_counter() - start))
    rank = strategy.rank if strategy else 0
    threads = os.environ.get("GRAPHNET_NUM_THREADS", "default")
    if rank == 0:
        print(f"{max(ranks, 1)} rank(s) x {threads} thread(s): median {np.median(rates):.0f} "
              f"samples/s (min {min(rates):.0f}, max {max(rates):.0f}; {FITS} fits of "
              f"{STEPS} steps at global batch {batch * max(ranks, 1)})")
    if strategy:
        report_overlap(strategy, FITS * STEPS, batch * max(ranks, 1) * STEPS * FITS /
                       sum(n / r for r in rates))
        bench_allreduce(strategy, model)


def report_overlap(strategy, steps, samples_per_second):
    """The buckets' sums during the timed fits: their time per step, and the share of it
    hidden behind the gradient plan (background.py's busy and waited)."""
    if strategy.rank != 0:
        return
    sums = strategy.background
    step_ms = PER_RANK_BATCH * strategy.num_ranks / samples_per_second * 1e3
    print(f"bucket allreduce during fit: {sums.busy / steps * 1e3:.2f} ms/step of a "
          f"{step_ms:.1f} ms step, {sums.waited / steps * 1e3:.2f} ms/step waited after "
          f"the plan: {sums.overlap():.0%} overlapped")


def bench_allreduce(strategy, model):
    """The step's buckets summed alone through graphnet's transport (the background
    thread, as in fit) against mpi4py's one Allreduce of a buffer of the same bytes."""
    from mpi4py import MPI
    from graphnet.distribution.step import buckets_of
    sizes = [int(np.prod(w.shape)) for w in reversed(model.trainable_weights)]
    buckets = [np.ones(sum(sizes[i] for i in b), "float32") for b in buckets_of(sizes)]
    plain = np.ones(sum(sizes), "float32")

    def graphnet_sums():
        for bucket in buckets:
            strategy.sum_in_place(bucket, wait=False)
        strategy.background.wait()
    timings = {}
    for name, run in (("graphnet buckets", graphnet_sums), ("mpi4py Allreduce", lambda:
                      strategy.comm.Allreduce(MPI.IN_PLACE, plain, op=MPI.SUM))):
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
            print(f"allreduce of {plain.nbytes / 1e6:.2f} MB ({len(buckets)} buckets), "
                  f"{name}: median {median * 1e3:.2f} ms (min {min(samples) * 1e3:.2f}, "
                  f"max {max(samples) * 1e3:.2f}), {plain.nbytes / median / 1e9:.2f} GB/s")


if __name__ == "__main__":
    main()
