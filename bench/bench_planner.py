"""The arena planner's time on long plans, and the whole compile time of a 20,000-kernel plan.

* Planner: ``graphnet.compiler.memory.plan_arena`` on 1k, 10k and 100k buffers with seeded
  live ranges shaped like a training step's (most buffers read by the next step or two,
  some for tens of steps, a fifth of the forward half's activations kept for the backward
  half, weight gradients kept to the end; sizes log-uniform from 0 bytes to 4 MiB), beside
  the quadratic planner graphnet had before issue 15 (``quadratic_plan_arena`` below) up
  to ``--old-max`` buffers. Prints each one's time (CPU seconds, the median of
  ``--repeats``), its arena, and the peak of live bytes (no placement can go below it).
* Compile: ``gn.function`` over a chain of small Dense layers (tanh) each followed by an
  elementwise ``exp(y) * x`` (one GEMM and one fused elementwise kernel per pair), compiled
  for one input shape: CPU and wall seconds of compile_plan plus the Executable, after a
  full garbage collection (building 10,000 layers leaves them in reference cycles, and
  collecting them took 0.8-1 s inside the compile whenever the collector's turn fell there).
* ``--passes``: that compile ``--repeats`` times in this process, each pass's CPU seconds
  (``CompileReport.seconds``) as the median and the range over the repeats.

    python bench/bench_planner.py [--sizes 1000,10000,100000] [--old-max 10000]
                                  [--repeats 3] [--kernels 20000] [--passes]
"""
import argparse
import gc
import os
import statistics
import sys
import time
from types import SimpleNamespace

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_mnist_mlp import gn, load_average, machine_line  # noqa: E402
from graphnet.compiler import CompileReport, compile_plan  # noqa: E402
from graphnet.compiler.memory import plan_arena, reserved_bytes  # noqa: E402
from graphnet.runtime.executor import Executable  # noqa: E402


def quadratic_plan_arena(buffers):
    """graphnet/compiler/memory.py before issue 15, kept as the baseline: largest first, each
    at the lowest offset clear of every placed buffer live with it, found by scanning all
    placed buffers (O(n^2))."""
    placed = []
    for b in sorted(buffers, key=lambda b: (-b.nbytes, b.first)):
        size = reserved_bytes(b.nbytes)
        busy = sorted((p.offset, p.offset + reserved_bytes(p.nbytes)) for p in placed
                      if p.first <= b.last and b.first <= p.last)
        offset = 0
        for start, end in busy:
            if offset + size <= start:
                break
            offset = max(offset, end)
        b.offset = offset
        placed.append(b)
    return max((p.offset + reserved_bytes(p.nbytes) for p in placed), default=0)


def training_like_live_ranges(n, seed=0):
    """(firsts, lasts, nbytes) of ``n`` buffers over about ``n`` steps, seeded."""
    rng = np.random.default_rng(seed)
    steps = n
    firsts = np.sort(rng.integers(0, steps, n))
    kind = rng.random(n)
    spans = rng.geometric(0.5, n)                                  # read by the next 1-3 steps
    spans = np.where(kind > 0.85, rng.integers(4, 64, n), spans)   # read for a while
    lasts = np.minimum(firsts + spans, steps - 1)
    forward = firsts < steps // 2
    saved = forward & (kind < 0.2)
    lasts = np.where(saved, steps - 1 - firsts, lasts)             # read by its backward step
    weight_grads = ~forward & (kind < 0.05)
    lasts = np.where(weight_grads, steps - 1, lasts)               # read by the update
    nbytes = np.floor(2.0 ** rng.uniform(0, 22, n)).astype(np.int64)
    nbytes[kind > 0.99] = 0
    return firsts.tolist(), lasts.tolist(), nbytes.tolist()


def buffers_of(firsts, lasts, nbytes):
    return [SimpleNamespace(first=f, last=last, nbytes=b, offset=0)
            for f, last, b in zip(firsts, lasts, nbytes)]


def peak_live_bytes(firsts, lasts, nbytes):
    change = np.zeros(max(lasts) + 2, dtype=np.int64)
    sizes = np.array([reserved_bytes(b) for b in nbytes], dtype=np.int64)
    np.add.at(change, firsts, sizes)
    np.add.at(change, np.array(lasts) + 1, -sizes)
    return int(np.cumsum(change).max())


def cpu_seconds(fn, repeats):
    """Median CPU seconds of ``repeats`` calls and the last call's result."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        result = fn()
        times.append(time.process_time() - start)
    return statistics.median(times), result


def bench_planner(sizes, old_max, repeats):
    print(f"{'buffers':>8} {'new s':>8} {'old s':>8} {'new arena':>13} {'old arena':>13} "
          f"{'peak live':>13}")
    for n in sizes:
        ranges = training_like_live_ranges(n)
        new_s, (new_arena, _) = cpu_seconds(lambda: plan_arena(buffers_of(*ranges)), repeats)
        old_s, old_arena = "-", "-"
        if n <= old_max:
            seconds, arena = cpu_seconds(lambda: quadratic_plan_arena(buffers_of(*ranges)), 1)
            old_s, old_arena = f"{seconds:.3f}", str(arena)
        print(f"{n:8d} {new_s:8.3f} {old_s:>8} {new_arena:13d} {old_arena:>13} "
              f"{peak_live_bytes(*ranges):13d}", flush=True)


def chain_function(kernels):
    """A gn.function of ``kernels`` kernels: Dense(8, tanh) then exp(y) * x, repeated."""
    x = inputs = gn.Input((8,))
    for _ in range(kernels // 2):
        y = gn.layers.Dense(8, activation="tanh")(x)
        x = gn.ops.multiply(gn.ops.exp(y), x)
    return gn.function(inputs, x)


def bench_compile(kernels):
    fn = chain_function(kernels)
    gc.collect()   # the layers built above are in reference cycles: not the compile's work
    wall, cpu = time.perf_counter(), time.process_time()
    exe = fn.executable([(2, 8)])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"compile of a {exe.plan.kernel_count}-kernel plan: {cpu:.2f} s CPU, {wall:.2f} s "
          f"wall ({len(exe.plan.slots)} slots, arena {exe.plan.arena_bytes} bytes)")


def bench_passes(kernels, repeats):
    """Each pass's CPU seconds over ``repeats`` compiles of the chain: median and range."""
    fn = chain_function(kernels)
    gc.collect()
    runs = []
    for _ in range(repeats):
        report = CompileReport()
        start = time.process_time()
        plan, weights, _ = compile_plan(fn.input_nodes, fn.output_nodes, [(2, 8)], report,
                                        training=fn.training, updates=fn.updates)
        with report.timed("executable"):
            Executable(plan, weights, written=[var for var, _ in fn.updates])
        total = time.process_time() - start
        report.seconds["other (gc, glue)"] = total - sum(report.seconds.values())
        report.seconds["total"] = total
        runs.append(report.seconds)
    print(f"passes of the {plan.kernel_count}-kernel compile, CPU s over {repeats} runs:")
    print(f"{'pass':<28} {'median':>8} {'min':>8} {'max':>8}")
    for name in runs[0]:
        values = [run[name] for run in runs]
        print(f"{name:<28} {statistics.median(values):8.3f} {min(values):8.3f} "
              f"{max(values):8.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="buffer counts, comma-separated")
    parser.add_argument("--old-max", type=int, default=10000,
                        help="largest buffer count the quadratic planner is timed on")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kernels", type=int, default=20000,
                        help="kernels of the compiled chain (0: skip)")
    parser.add_argument("--passes", action="store_true",
                        help="per-pass CPU seconds of --repeats compiles of the chain")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(n < 1 for n in sizes) or args.repeats < 1 or args.kernels < 0:
        parser.error(f"--sizes must be positive, --repeats at least 1 and --kernels at least "
                     f"0; got {sizes}, {args.repeats}, {args.kernels}")
    print(machine_line(gn.get_num_threads()))
    print(f"load average at start: {load_average()}")
    if args.passes:
        if not args.kernels:
            parser.error("--passes times the chain's compile: --kernels must be above 0")
        bench_passes(args.kernels, args.repeats)
        return
    bench_planner(sizes, args.old_max, args.repeats)
    if args.kernels:
        bench_compile(args.kernels)


if __name__ == "__main__":
    main()
