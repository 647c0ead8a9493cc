"""Batched products as attention makes them: graphnet's GN_K_BATCH_GEMM (a compiled
``gn.ops.matmul`` of two 4-D tensors: one plan step) against torch.bmm / torch.matmul on
the same operands, each library timed in its own block of samples after a pause (their
pools spin after each call and would steal the other's cores).

    python bench/bench_batch_gemm.py [--threads 2] [--repeats 15]

Shapes (batch, heads, m, n, k): the scores Q K^T and the product with V of a transformer
block at d 128, 4 heads of 32, sequence 128, batch 32, and a few others. "vs torch" is
torch's time over graphnet's (above 1 graphnet is faster). graphnet is imported from
this checkout.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SHAPES = [(32, 4, 128, 128, 32), (32, 4, 128, 32, 128), (8, 4, 257, 257, 64), (2, 2, 512, 512, 64)]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-t", "--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15, help="timed samples per library")
    p.add_argument("--min-sample", type=float, default=0.05, help="seconds per sample")
    p.add_argument("--pause", type=float, default=0.3, help="idle seconds before each block")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    return p.parse_args()


def samples(fn, repeats, min_sample):
    """Per-call seconds of ``repeats`` samples, each of enough calls to last min_sample."""
    fn()
    t, calls = time.perf_counter(), 0
    while time.perf_counter() - t < min_sample:
        fn()
        calls += 1
    per_sample = max(1, calls)
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(per_sample):
            fn()
        out.append((time.perf_counter() - t) / per_sample)
    return out


def graphnet_call(a, b):
    import graphnet as gn
    from graphnet.engine.input_layer import placeholder
    pa = placeholder(a.shape, "float32", name="a")
    pb = placeholder(b.shape, "float32", name="b")
    fn = gn.function([pa, pb], [gn.ops.matmul(pa, pb)])
    return lambda: fn(a, b)


def torch_call(a, b):
    import torch
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    nb = a.shape[0] * a.shape[1]
    a3, b3 = ta.reshape(nb, *a.shape[2:]), tb.reshape(nb, *b.shape[2:])

    def run():
        with torch.no_grad():
            torch.bmm(a3, b3)
    return run


def summary(times):
    med = statistics.median(times)
    return med, (max(times) - min(times)) / med


def main():
    args = parse_args()
    import graphnet as gn
    gn.set_num_threads(args.threads)
    libraries = [("graphnet", graphnet_call)]
    if not args.no_torch:
        import torch
        torch.set_num_threads(args.threads)
        libraries.append(("torch.bmm", torch_call))
    print(f"graphnet from {os.path.dirname(gn.__file__)}, {args.threads} threads, "
          f"{args.repeats} samples of >= {args.min_sample} s each")
    print(f"{'shape (batch, heads, m, n, k)':32s}" +
          "".join(f"{name + ' ms':>16s}{'spread':>8s}" for name, _ in libraries) +
          ("" if args.no_torch else f"{'vs torch':>10s}"))
    rng = np.random.default_rng(0)
    for batch, heads, m, n, k in SHAPES:
        a = rng.standard_normal((batch, heads, m, k), dtype=np.float32)
        b = rng.standard_normal((batch, heads, k, n), dtype=np.float32)
        meds, cells = [], ""
        for _, make in libraries:
            fn = make(a, b)
            time.sleep(args.pause)
            med, spread = summary(samples(fn, args.repeats, args.min_sample))
            meds.append(med)
            cells += f"{med * 1e3:16.3f}{spread * 100:7.0f}%"
        ratio = "" if args.no_torch else f"{meds[1] / meds[0]:10.2f}"
        print(f"{str((batch, heads, m, n, k)):32s}{cells}{ratio}")


if __name__ == "__main__":
    main()
