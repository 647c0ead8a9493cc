"""Where a team pays: one thread against two per kernel and size, for the cost rule.

The kernels run small problems on the calling thread (threadpool.h, gn_team_for: each
thread needs GN_GRAIN_MACS multiply-adds of a GEMM, GN_GRAIN_ELEMENTS elements of a
cheap elementwise op). To see where two threads start to pay, time a build in which every
kernel takes the team, made in a copy of the tree:

    cp -r graphnet csrc setup.py pyproject.toml /tmp/grain && cd /tmp/grain
    CFLAGS="-DGN_GRAIN_MACS=1 -DGN_GRAIN_ELEMENTS=1" python setup.py -q build_ext --inplace
    python /path/to/bench/bench_team_grain.py --root /tmp/grain

Each size is timed as the best of --rounds rounds of --calls calls, one and two threads
interleaved (the best, not the median: on a shared machine the median measures the other
processes; the best is what the team costs when it has the cores). "2 / 1" below 1: two
threads are faster.
"""
import argparse
import os
import sys
import time

import numpy as np

GEMM_SHAPES = [(16, 16, 64), (32, 32, 64), (1, 256, 256), (32, 64, 64), (8, 128, 128),
               (64, 64, 64), (1, 512, 512), (32, 128, 128), (64, 64, 128), (128, 10, 512)]
ELEMENT_SIZES = [2048, 4096, 8192, 16384, 32768, 65536]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   help="the tree whose graphnet to time (default: this checkout)")
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--calls", type=int, default=200)
    args = p.parse_args(argv)
    for name in ("rounds", "calls"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def best_per_call(lib, fn, rounds, calls):
    """Best seconds per call on one and on two threads, rounds interleaved."""
    best = {1: float("inf"), 2: float("inf")}
    for _ in range(rounds):
        for nt in (1, 2):
            lib.gn_set_num_threads(nt)
            for _ in range(20):
                fn()
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            best[nt] = min(best[nt], (time.perf_counter() - start) / calls)
    return best[1], best[2]


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, args.root)
    from graphnet._gn_c import ffi, lib
    ptr = lambda x: ffi.from_buffer("float[]", x)  # noqa: E731
    rng = np.random.default_rng(0)
    print(f"graphnet from {args.root}; best of {args.rounds} rounds of {args.calls} calls\n")
    print("| GEMM m x n x k | multiply-adds | 1 thread µs | 2 threads µs | 2 / 1 |")
    print("|---|---:|---:|---:|---:|")
    for m, n, k in GEMM_SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        pa, pb, pc = ptr(a), ptr(b), ptr(c)
        t1, t2 = best_per_call(lib, lambda: lib.gn_sgemm(0, 0, m, n, k, 1.0, pa, k, pb, n,
                                                         0.0, pc, n), args.rounds, args.calls)
        print(f"| {m}x{n}x{k} | {m * n * k:,} | {t1 * 1e6:.2f} | {t2 * 1e6:.2f} | "
              f"{t2 / t1:.2f} |")
    print("\n| elements | relu 2 / 1 | exp 2 / 1 | add 2 / 1 | sum 2 / 1 | relu 1 thread µs |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in ELEMENT_SIZES:
        x = rng.standard_normal(size, dtype=np.float32)
        y, z = np.empty_like(x), np.empty_like(x)
        px, py, pz = ptr(x), ptr(y), ptr(z)
        shape, stride = ffi.new("int64_t[1]", [size]), ffi.new("int64_t[1]", [1])
        cases = [lambda: lib.gn_unary(lib.GN_U_RELU, size, px, py, 0.0, 0.0),
                 lambda: lib.gn_unary(lib.GN_U_EXP, size, px, py, 0.0, 0.0),
                 lambda: lib.gn_binary(lib.GN_B_ADD, 1, shape, px, stride, py, stride, pz),
                 lambda: lib.gn_reduce(lib.GN_R_SUM, 1, size, 1, px, py)]
        times = [best_per_call(lib, fn, args.rounds, args.calls) for fn in cases]
        print(f"| {size:,} | " + " | ".join(f"{t2 / t1:.2f}" for t1, t2 in times)
              + f" | {times[0][0] * 1e6:.2f} |")


if __name__ == "__main__":
    main()
