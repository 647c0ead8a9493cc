"""Data-parallel mnist_cnn training (bench_mnist_cnn.graphnet_model) over MPI.

    GRAPHNET_NUM_THREADS=1 mpirun -n 2 python bench/bench_distributed.py   # 2 ranks x 1
    GRAPHNET_NUM_THREADS=2 python bench/bench_distributed.py               # 1 x 2
    GRAPHNET_NUM_THREADS=1 python bench/bench_distributed.py               # 1 x 1

Prints (rank 0) the training throughput in samples/s at the global batch, and under
MPI the allreduce time per step (the gradient buffers, bucketed as fit does) against
mpi4py's own Allreduce of one buffer of the same bytes, with the bandwidth each reaches.
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
        bench_allreduce(strategy, model)


def bench_allreduce(strategy, model):
    from mpi4py import MPI
    grads = [np.ones(w.shape, "float32") for w in model.trainable_weights]
    nbytes = sum(g.nbytes for g in grads)
    flat = np.ones(nbytes // 4, "float32")
    timings = {}
    for name, run in (("graphnet (bucketed)", lambda: strategy.allreduce_sum(grads)),
                      ("mpi4py Allreduce", lambda: strategy.comm.Allreduce(
                          MPI.IN_PLACE, flat, op=MPI.SUM))):
        strategy.comm.Barrier()
        start = time.perf_counter()
        for _ in range(REPEATS):
            run()
        timings[name] = (time.perf_counter() - start) / REPEATS
    if strategy.rank == 0:
        for name, seconds in timings.items():
            print(f"allreduce of {nbytes / 1e6:.2f} MB, {name}: {seconds * 1e3:.2f} ms/step, "
                  f"{nbytes / seconds / 1e9:.2f} GB/s")


if __name__ == "__main__":
    main()
