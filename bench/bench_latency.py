"""Per-call latency: graphnet's thread pool against ONNX Runtime's and PyTorch's.

Two tests, both at batch 1 and on the same number of threads (2 by default):

* tail: mnist_mlp ``predict`` at batch 1, each library in its own process (graphnet's
  ``predict_on_batch``, ONNX Runtime on the model exported from torch, PyTorch eager with
  gradients off), every call timed on its own: p50 / p99 / p99.9 / max over ``--calls``
  calls, for each of ``--runs`` rounds of fresh processes (libraries interleaved);
* blocks: one process that also runs PyTorch and numpy. ``--blocks`` blocks, each after a
  ``--pause`` of idleness, of ``--block-calls`` calls of each case: the products
  128x10x512 and 1x512x784 (graphnet's gn_sgemm, numpy's matmul, torch.matmul) and
  mnist_mlp predict at batch 1 (graphnet, PyTorch). Per block, each library's median per
  call; for graphnet also the block's ratio to its own median over blocks, and the pool
  sleeps and moves (a worker leaving the caller's core) during the block.

    python bench/bench_latency.py [--calls 20000] [--runs 3] [--threads 2]
                                  [--blocks 20] [--block-calls 300] [--pause 0.3]
                                  [--test tail|blocks|both]

Targets (issue 15): every graphnet block within 1.15x of graphnet's median over blocks;
graphnet's p99 at most ONNX Runtime's.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if os.path.isdir(os.path.join(ROOT, "graphnet")):
    sys.path.insert(0, ROOT)  # run from a checkout without installing
sys.path.insert(0, HERE)

LIBRARIES = ("graphnet", "ONNX Runtime", "PyTorch")
#: the modules a library's own process must not load (bench_mnist_mlp imports both
#: torch and onnxruntime when it can): None in sys.modules makes their import fail
OTHERS = {"graphnet": ("torch", "onnxruntime"), "ONNX Runtime": ("torch",),
          "PyTorch": ("onnxruntime",)}
PRODUCTS = ((128, 10, 512), (1, 512, 784))
BLOCK_TARGET = 1.15
WARMUP_CALLS = 500


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def non_negative_float(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--test", choices=("tail", "blocks", "both"), default="both")
    p.add_argument("--threads", type=positive_int, default=2,
                   help="threads of every library (default 2)")
    p.add_argument("--calls", type=positive_int, default=20000,
                   help="timed calls per library per round of the tail test")
    p.add_argument("--runs", type=positive_int, default=3,
                   help="rounds of the tail test, each a fresh process per library")
    p.add_argument("--blocks", type=positive_int, default=20)
    p.add_argument("--block-calls", type=positive_int, default=300,
                   help="timed calls per case per library in each block")
    p.add_argument("--pause", type=non_negative_float, default=0.3,
                   help="idle seconds before each block")
    p.add_argument("--child", choices=LIBRARIES, help=argparse.SUPPRESS)
    p.add_argument("--onnx-file", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def per_call_ns(fn, calls):
    """Nanoseconds of each of ``calls`` calls of fn."""
    times = np.empty(calls, np.int64)
    clock = time.perf_counter_ns
    for i in range(calls):
        start = clock()
        fn()
        times[i] = clock() - start
    return times


# -- the models ---------------------------------------------------------------------------
def graphnet_mlp():
    """mnist_mlp with the weights every process builds alike (seed 0)."""
    import graphnet as gn
    from bench_mnist_mlp import graphnet_model
    gn.utils.set_random_seed(0)
    return graphnet_model()


def torch_mlp(threads):
    import torch
    from bench_mnist_mlp import torch_model
    torch.set_num_threads(threads)
    return torch_model(graphnet_mlp().get_weights()).eval()


def batch1_input():
    return np.random.default_rng(1).random((1, 784), dtype=np.float32)


def predict_fn(library, threads, onnx_file):
    """A no-argument callable running mnist_mlp at batch 1 in ``library``."""
    x = batch1_input()
    if library == "graphnet":
        import graphnet as gn
        gn.set_num_threads(threads)
        model = graphnet_mlp()
        return lambda: model.predict_on_batch(x)
    if library == "ONNX Runtime":
        from bench_mnist_mlp import ort_session
        session = ort_session(onnx_file, threads)
        feed = {"pixels": x}
        return lambda: session.run(None, feed)
    import torch
    tmodel, xt = torch_mlp(threads), torch.from_numpy(x)
    torch.set_grad_enabled(False)  # for the whole thread, as a server would
    return lambda: tmodel(xt)


# -- tail: one library per process ----------------------------------------------------------
def child_main(args):
    for name in OTHERS[args.child]:
        sys.modules[name] = None
    fn = predict_fn(args.child, args.threads, args.onnx_file)
    for _ in range(WARMUP_CALLS):
        fn()
    times = per_call_ns(fn, args.calls)
    p50, p99, p999 = np.percentile(times, [50, 99, 99.9])
    print(json.dumps({"p50": p50, "p99": p99, "p99.9": p999, "max": int(times.max())}))


def export_and_check(path, threads):
    """Export the torch model to ONNX at ``path`` and check the three libraries agree."""
    import onnxruntime  # noqa: F401  (a clear ImportError here, not in a child)
    from bench_mnist_mlp import export_onnx
    import graphnet as gn
    x = batch1_input()
    gn.set_num_threads(threads)
    want = graphnet_mlp().predict_on_batch(x)
    tmodel = torch_mlp(threads)
    export_onnx(tmodel, path)
    import torch
    with torch.no_grad():
        np.testing.assert_allclose(tmodel(torch.from_numpy(x)).numpy(), want, atol=1e-5)
    np.testing.assert_allclose(predict_fn("ONNX Runtime", threads, path)()[0], want,
                               atol=1e-5)


def run_child(library, args, onnx_file):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", library,
           "--calls", str(args.calls), "--threads", str(args.threads),
           "--onnx-file", onnx_file]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the {library} process failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(values):
    return f"{min(values) / 1e3:,.1f}-{max(values) / 1e3:,.1f}"


def tail_test(args):
    print(f"\n## tail: mnist_mlp predict, batch 1, {args.calls:,} calls per process, "
          f"{args.runs} rounds\n")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = os.path.join(tmp, "mnist_mlp.onnx")
        export_and_check(onnx_file, args.threads)
        rounds = []
        for r in range(args.runs):
            order = LIBRARIES[r % 3:] + LIBRARIES[:r % 3]  # who goes first rotates
            rounds.append({lib: run_child(lib, args, onnx_file) for lib in order})
    print("| round | library | p50 µs | p99 µs | p99.9 µs | max µs |")
    print("|---:|---|---:|---:|---:|---:|")
    for r, row in enumerate(rounds):
        for lib in LIBRARIES:
            q = row[lib]
            print(f"| {r + 1} | {lib} | {q['p50'] / 1e3:,.1f} | {q['p99'] / 1e3:,.1f} | "
                  f"{q['p99.9'] / 1e3:,.1f} | {q['max'] / 1e3:,.0f} |")
    print("\nspread over rounds (min-max, µs):\n")
    print("| library | p50 | p99 | p99.9 |")
    print("|---|---:|---:|---:|")
    for lib in LIBRARIES:
        cells = [spread([row[lib][q] for row in rounds]) for q in ("p50", "p99", "p99.9")]
        print(f"| {lib} | " + " | ".join(cells) + " |")
    wins = sum(row["graphnet"]["p99"] <= row["ONNX Runtime"]["p99"] for row in rounds)
    print(f"\ngraphnet p99 <= ONNX Runtime p99 in {wins} of {len(rounds)} rounds")


# -- blocks: every library in one process ------------------------------------------------
def product_fns(m, n, k, threads):
    """gn_sgemm, numpy and torch computing the same m x n x k product."""
    import torch
    from graphnet._gn_c import ffi, lib
    rng = np.random.default_rng(m * n + k)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c, c_np = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    # from_buffer keeps each array alive as long as the pointer (the closure's only hold)
    pa, pb, pc = (ffi.from_buffer("float[]", x) for x in (a, b, c))
    ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty((m, n))
    fns = {"graphnet": lambda: lib.gn_sgemm(0, 0, m, n, k, 1.0, pa, k, pb, n, 0.0, pc, n),
           "numpy": lambda: np.matmul(a, b, out=c_np),
           "PyTorch": lambda: torch.matmul(ta, tb, out=tc)}
    for fn in fns.values():
        fn()
    np.testing.assert_allclose(c, c_np, rtol=1e-4, atol=1e-3)
    return fns


def block_cases(threads):
    cases = {f"{m}x{n}x{k}": product_fns(m, n, k, threads) for m, n, k in PRODUCTS}
    cases["predict, batch 1"] = {lib: predict_fn(lib, threads, None)
                                 for lib in ("graphnet", "PyTorch")}
    return cases


def blocks_test(args):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))  # numpy's BLAS reads it at import
    import torch
    import graphnet as gn
    from graphnet._gn_c import lib
    torch.set_num_threads(args.threads)
    gn.set_num_threads(args.threads)
    cases = block_cases(args.threads)
    medians = {case: {name: [] for name in fns} for case, fns in cases.items()}
    pool = {case: [] for case in cases}
    for _ in range(args.blocks):
        for case, fns in cases.items():
            for name, fn in fns.items():
                time.sleep(args.pause)
                sleeps, moves = lib.gn_pool_sleeps(), lib.gn_pool_moves()
                times = per_call_ns(fn, args.block_calls)
                medians[case][name].append(float(np.median(times)))
                if name == "graphnet":
                    pool[case].append((lib.gn_pool_sleeps() - sleeps,
                                       lib.gn_pool_moves() - moves))
    print(f"\n## blocks: {args.blocks} blocks of {args.block_calls} calls per case and "
          f"library, each after {args.pause} s idle, PyTorch and numpy in the same "
          f"process\n")
    worst = 0.0
    for case, per_lib in medians.items():
        gmed = statistics.median(per_lib["graphnet"])
        ratios = [m / gmed for m in per_lib["graphnet"]]
        worst = max(worst, max(ratios))
        others = [name for name in per_lib if name != "graphnet"]
        print(f"### {case}: graphnet median over blocks {gmed / 1e3:,.1f} µs, blocks "
              f"{min(ratios):.2f}-{max(ratios):.2f}x of it; "
              + "; ".join(f"{o} median {statistics.median(per_lib[o]) / 1e3:,.1f} µs "
                          f"(blocks {spread(per_lib[o])})" for o in others) + "\n")
        print("| block | graphnet µs | / graphnet median | pool sleeps | moves | "
              + " | ".join(f"{o} µs" for o in others) + " |")
        print("|---:|---:|---:|---:|---:|" + "---:|" * len(others))
        for b, g in enumerate(per_lib["graphnet"]):
            sleeps, moves = pool[case][b]
            print(f"| {b + 1} | {g / 1e3:,.1f} | {ratios[b]:.2f} | {sleeps} | {moves} | "
                  + " | ".join(f"{per_lib[o][b] / 1e3:,.1f}" for o in others) + " |")
        print()
    verdict = "within" if worst <= BLOCK_TARGET else "NOT within"
    print(f"worst graphnet block: {worst:.2f}x of its median ({verdict} {BLOCK_TARGET}x)")


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        child_main(args)
        return
    from bench_mnist_mlp import load_average, machine_line
    print(machine_line(args.threads))
    load_before = load_average()
    if args.test in ("tail", "both"):
        tail_test(args)
    if args.test in ("blocks", "both"):
        blocks_test(args)
    if load_before is not None:
        print(f"\n1-minute load average: {load_before:.2f} before, {load_average():.2f} after")


if __name__ == "__main__":
    main()
