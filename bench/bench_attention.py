"""Attention speed and memory: graphnet's fused kernel (GN_K_ATTENTION), its unfused
einsum / softmax composite, and torch's scaled_dot_product_attention; the training step of
attention alone (forward and backward, GN_K_ATTENTION_BACKWARD) against torch's; then a
transformer block's inference against PyTorch eager. Each library is timed in its own block
of samples after a pause (their pools spin after each call and steal the other's cores).

    python bench/bench_attention.py [--threads 2] [--repeats 15] [--no-block] [--no-train]

attention: batch 1, 4 heads of 32, causal off, at sequence lengths --lengths (the unfused
composite up to --unfused-max); "arena MB" is the plan's memory (inputs and outputs
excluded): the fused kernels' grows linearly in the sequence, the composite's with its
square (the scores). Training: the gradients of sum(out * g) for q, k and v.
block: d 128, 4 heads of 32, FFN 256 (relu), LayerNorm after each residual, sequence
128, batch 32 (issue 18's shape), inference.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
from bench_batch_gemm import samples  # noqa: E402  (the same sampling for both scripts)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-t", "--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15, help="timed samples per library")
    p.add_argument("--min-sample", type=float, default=0.05, help="seconds per sample")
    p.add_argument("--pause", type=float, default=0.3, help="idle seconds before each block")
    p.add_argument("--lengths", default="256,1024,2048", help="comma list of lengths")
    p.add_argument("--unfused-max", type=int, default=2048,
                   help="longest sequence the unfused composite is run at")
    p.add_argument("--no-block", action="store_true", help="skip the transformer block")
    p.add_argument("--no-train", action="store_true", help="skip the training step")
    return p.parse_args()


def timed(fn, args):
    time.sleep(args.pause)
    times = samples(fn, args.repeats, args.min_sample)
    med = statistics.median(times)
    return med, (max(times) - min(times)) / med


def graphnet_attention(q, k, v, fused):
    import graphnet as gn
    from graphnet.engine.input_layer import placeholder
    from graphnet.ops.attention import _composite
    ph = [placeholder(a.shape, "float32", name=n) for a, n in zip((q, k, v), "qkv")]
    scale = 1.0 / np.sqrt(q.shape[-1])
    out = gn.ops.dot_product_attention(*ph) if fused else \
        _composite(*ph, None, None, scale, False, None)
    fn = gn.function(ph, [out])
    arena = fn.executable([a.shape for a in (q, k, v)]).plan.arena_bytes
    return (lambda: fn(q, k, v)), arena / 2 ** 20


def graphnet_attention_step(q, k, v, g):
    """The fused forward and backward: dq, dk, dv of sum(attention(q, k, v) * g)."""
    import graphnet as gn
    from graphnet.engine.input_layer import placeholder
    ph = [placeholder(a.shape, "float32", name=n) for a, n in zip((q, k, v), "qkv")]
    out = gn.ops.dot_product_attention(*ph)
    fn = gn.function(ph, gn.gradients(gn.ops.sum(out * g), ph))
    arena = fn.executable([a.shape for a in (q, k, v)]).plan.arena_bytes
    return (lambda: fn(q, k, v)), arena / 2 ** 20


def torch_attention_step(q, k, v, g):
    import torch
    tq, tk, tv = (torch.from_numpy(a).transpose(1, 2).contiguous().requires_grad_()
                  for a in (q, k, v))
    tg = torch.from_numpy(g).transpose(1, 2).contiguous()

    def run():
        for t in (tq, tk, tv):
            t.grad = None
        torch.nn.functional.scaled_dot_product_attention(tq, tk, tv).backward(tg)
    return run


def train_table(args):
    print("training step (forward + backward), batch 1, 4 heads of 32 (ms)")
    print(f"{'length':>8s}{'graphnet ms':>13s}{'spread':>8s}{'arena MB':>10s}"
          f"{'torch ms':>10s}{'spread':>8s}{'torch/graphnet':>16s}")
    rng = np.random.default_rng(2)
    for length in [int(x) for x in args.lengths.split(",")]:
        q, k, v, g = (rng.standard_normal((1, length, 4, 32), dtype=np.float32)
                      for _ in "qkvg")
        step, arena_mb = graphnet_attention_step(q, k, v, g)
        g_med, g_spread = timed(step, args)
        t_med, t_spread = timed(torch_attention_step(q, k, v, g), args)
        print(f"{length:8d}{g_med * 1e3:13.3f}{g_spread * 100:7.0f}%{arena_mb:10.2f}"
              f"{t_med * 1e3:10.3f}{t_spread * 100:7.0f}%{t_med / g_med:16.2f}")


def torch_attention(q, k, v):
    import torch
    tq, tk, tv = (torch.from_numpy(a).transpose(1, 2).contiguous() for a in (q, k, v))

    def run():
        with torch.no_grad():
            torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)
    return run


def attention_table(args):
    print("attention, batch 1, 4 heads of 32 (ms; spread = (max - min) / median)")
    print(f"{'length':>8s}{'fused ms':>11s}{'spread':>8s}{'arena MB':>10s}"
          f"{'unfused ms':>12s}{'spread':>8s}{'arena MB':>10s}{'torch ms':>10s}{'spread':>8s}"
          f"{'torch/fused':>12s}")
    rng = np.random.default_rng(0)
    for length in [int(x) for x in args.lengths.split(",")]:
        q, k, v = (rng.standard_normal((1, length, 4, 32), dtype=np.float32) for _ in "qkv")
        fused, fused_mb = graphnet_attention(q, k, v, True)
        f_med, f_spread = timed(fused, args)
        if length <= args.unfused_max:
            unfused, unfused_mb = graphnet_attention(q, k, v, False)
            u_med, u_spread = timed(unfused, args)
            unfused_text = f"{u_med * 1e3:12.3f}{u_spread * 100:7.0f}%{unfused_mb:10.2f}"
        else:
            unfused_text = f"{'-':>12s}{'-':>8s}{'-':>10s}"
        t_med, t_spread = timed(torch_attention(q, k, v), args)
        print(f"{length:8d}{f_med * 1e3:11.3f}{f_spread * 100:7.0f}%{fused_mb:10.2f}"
              f"{unfused_text}{t_med * 1e3:10.3f}{t_spread * 100:7.0f}%{t_med / f_med:12.2f}")


def graphnet_block(x):
    import graphnet as gn
    L = gn.layers
    inp = gn.Input(x.shape[1:])
    h = L.LayerNormalization(epsilon=1e-5)(inp + L.MultiHeadAttention(4, 32)(inp, inp))
    f = L.Dense(128)(L.Dense(256, activation="relu")(h))
    model = gn.Model(inp, L.LayerNormalization(epsilon=1e-5)(h + f))
    model.predict_on_batch(x)
    return lambda: model.predict_on_batch(x)


def torch_block(x):
    import torch
    layer = torch.nn.TransformerEncoderLayer(128, 4, dim_feedforward=256, dropout=0.0,
                                             batch_first=True).eval()
    tx = torch.from_numpy(x)

    def run():
        with torch.no_grad():
            layer(tx)
    return run


def main():
    args = parse_args()
    import graphnet as gn
    import torch
    gn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(f"graphnet from {os.path.dirname(gn.__file__)}, torch {torch.__version__}, "
          f"{args.threads} threads, {args.repeats} samples of >= {args.min_sample} s each")
    attention_table(args)
    if not args.no_train:
        train_table(args)
    if not args.no_block:
        x = np.random.default_rng(1).standard_normal((32, 128, 128), dtype=np.float32)
        g_med, g_spread = timed(graphnet_block(x), args)
        t_med, t_spread = timed(torch_block(x), args)
        print(f"transformer block inference: graphnet {g_med * 1e3:.2f} ms "
              f"({g_spread * 100:.0f}%), PyTorch eager {t_med * 1e3:.2f} ms "
              f"({t_spread * 100:.0f}%), torch/graphnet {t_med / g_med:.2f}")


if __name__ == "__main__":
    main()
