"""Composed keras.ops functions (graphnet/ops/math_api.py and friends) against numpy and
PyTorch on one array, side by side in one process.

Each function is compiled once into a plan over a (rows, cols) float32 input, then timed
per call (the plan's run only, no Python tracing): the median and range over ``--rounds``
rounds of ``--calls`` calls, with the plan's kernel steps (1 when the fusion pass made the
composition one fused elementwise kernel; comparisons and WHERE stop it).

    python bench/bench_numpy_ops.py [--rows 256] [--cols 1024] [--calls 50] [--rounds 5]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if os.path.isdir(os.path.join(ROOT, "graphnet")):
    sys.path.insert(0, ROOT)  # run from a checkout without installing

# name: (graphnet function of x, numpy function, torch function or None)
CASES = {
    "sinh": (lambda o, x: o.sinh(x), np.sinh, "sinh"),
    "arcsinh": (lambda o, x: o.arcsinh(x), np.arcsinh, "asinh"),
    "log2": (lambda o, x: o.log2(o.abs(x) + 1.0), lambda x: np.log2(np.abs(x) + 1), None),
    "logaddexp": (lambda o, x: o.logaddexp(x, -x), lambda x: np.logaddexp(x, -x), None),
    "squareplus": (lambda o, x: o.squareplus(x),
                   lambda x: (x + np.sqrt(x * x + 4)) / 2, None),
    "soft_shrink": (lambda o, x: o.soft_shrink(x), None, "softshrink"),
    "erfc": (lambda o, x: o.erfc(x), None, "erfc"),
    "sort": (lambda o, x: o.sort(x[:, :32], axis=-1), lambda x: np.sort(x[:, :32], -1), "sort"),
}


def _median_and_range(fn, calls, rounds):
    per_call = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        per_call.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(per_call), min(per_call), max(per_call)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--cols", type=int, default=1024)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import graphnet as gn
    from graphnet.graph.scope import layer_call_scope
    from graphnet.graph.tensor import placeholder
    from graphnet.runtime.function import Function
    try:
        import torch
        torch.set_num_threads(gn.get_num_threads())   # the same team size for both
    except ImportError:
        torch = None
    x = np.random.default_rng(0).uniform(-3, 3, (args.rows, args.cols)).astype("float32")
    print(f"input ({args.rows}, {args.cols}) float32; microseconds per call, median "
          f"[range] over {args.rounds} rounds of {args.calls} calls")
    print("| function | plan steps | graphnet | numpy | torch |")
    print("|---|---|---|---|---|")
    for name, (build, np_fn, torch_name) in CASES.items():
        with layer_call_scope():
            holder = placeholder((None, args.cols), "float32", name="x")
            function = Function([holder], [build(gn.ops, holder)])
        steps = len(function.executable([x.shape]).plan.steps)
        cells = [_median_and_range(lambda: function(x), args.calls, args.rounds)]
        cells.append(_median_and_range(lambda: np_fn(x), args.calls, args.rounds)
                     if np_fn else None)
        if torch is not None and torch_name:
            tx = torch.from_numpy(x)
            torch_fn = getattr(torch, torch_name, None) or getattr(torch.nn.functional,
                                                                  torch_name)
            if name == "sort":
                cells.append(_median_and_range(lambda: torch.sort(tx[:, :32], -1),
                                               args.calls, args.rounds))
            else:
                cells.append(_median_and_range(lambda: torch_fn(tx), args.calls, args.rounds))
        else:
            cells.append(None)
        shown = ["-" if c is None else f"{c[0]:.0f} [{c[1]:.0f}-{c[2]:.0f}]" for c in cells]
        print(f"| {name} | {steps} | " + " | ".join(shown) + " |")


if __name__ == "__main__":
    main()
