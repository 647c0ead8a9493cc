"""One transformer block (keras-io's TransformerBlock): graphnet vs PyTorch eager vs ONNX
Runtime (graphnet's own ONNX export), inference and an Adam training step.

    python bench/bench_transformer.py [--threads 2] [--repeats 15] [--activation relu]
                                      [--profile] [--skip-train]

The block is issue 18's shape: d 128, 4 heads of 32, FFN 256 (ReLU as keras-io's, or
GELU), LayerNorm after each residual (epsilon 1e-6), sequence 128, batch 32. All three
libraries run the same weights (graphnet's, copied into PyTorch's nn.MultiheadAttention
and Linear modules) and are checked to agree before timing. Each library is timed in its
own block of samples after a pause (their thread pools spin after each call and steal
one another's cores); the spread is (max - min) / median over the samples. The training
step is MSE against a fixed target with Adam (Keras's defaults: lr 1e-3, eps 1e-7).
``--profile`` prints graphnet's per-kernel times for both plans.
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
from bench_attention import timed  # noqa: E402  (the same pause and sampling)
from bench_mnist_mlp import cpu_model, load_average, ort_session  # noqa: E402

import graphnet as gn  # noqa: E402

D, HEADS, KEY_DIM, FFN, SEQ, BATCH, EPS = 128, 4, 32, 256, 128, 32, 1e-6


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-t", "--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15, help="timed samples per library")
    p.add_argument("--min-sample", type=float, default=0.1, help="seconds per sample")
    p.add_argument("--pause", type=float, default=0.5, help="idle seconds before each block")
    p.add_argument("--activation", choices=("relu", "gelu"), default="relu",
                   help="the FFN's activation (keras-io's is relu)")
    p.add_argument("--profile", action="store_true", help="graphnet's per-kernel times")
    p.add_argument("--skip-train", action="store_true", help="time inference only")
    return p.parse_args()


# -- the block ----------------------------------------------------------------------------
def graphnet_block(activation):
    """keras-io's TransformerBlock as a functional model (dropout left out: rate 0)."""
    L = gn.layers
    inp = gn.Input((SEQ, D))
    attn = L.MultiHeadAttention(HEADS, KEY_DIM)(inp, inp)
    out1 = L.LayerNormalization(epsilon=EPS)(inp + attn)
    ffn = L.Dense(D)(L.Dense(FFN, activation=activation)(out1))
    return gn.Model(inp, L.LayerNormalization(epsilon=EPS)(out1 + ffn))


class TorchBlock:
    """The same block in PyTorch with graphnet's weights (Keras layout)."""

    def __init__(self, weights, activation):
        import torch
        nn = torch.nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.att = nn.MultiheadAttention(D, HEADS, batch_first=True)
                self.ln1 = nn.LayerNorm(D, eps=EPS)
                self.ff1, self.ff2 = nn.Linear(D, FFN), nn.Linear(FFN, D)
                self.act = nn.ReLU() if activation == "relu" else nn.GELU()
                self.ln2 = nn.LayerNorm(D, eps=EPS)

            def forward(self, x):
                out1 = self.ln1(x + self.att(x, x, x, need_weights=False)[0])
                return self.ln2(out1 + self.ff2(self.act(self.ff1(out1))))
        self.module = Block()
        self.load(weights)

    def load(self, weights):
        import torch
        (qk, qb, kk, kb, vk, vb, ok, ob, g1, b1, w1, c1, w2, c2, g2, b2) = weights
        hk = HEADS * KEY_DIM
        m = self.module
        with torch.no_grad():
            m.att.in_proj_weight.copy_(torch.from_numpy(np.concatenate(
                [k.reshape(D, hk).T for k in (qk, kk, vk)])))
            m.att.in_proj_bias.copy_(torch.from_numpy(np.concatenate(
                [b.reshape(hk) for b in (qb, kb, vb)])))
            m.att.out_proj.weight.copy_(torch.from_numpy(ok.reshape(hk, D).T.copy()))
            m.att.out_proj.bias.copy_(torch.from_numpy(ob))
            for mod, params in ((m.ln1, (g1, b1)), (m.ff1, (w1.T.copy(), c1)),
                                (m.ff2, (w2.T.copy(), c2)), (m.ln2, (g2, b2))):
                mod.weight.copy_(torch.from_numpy(params[0]))
                mod.bias.copy_(torch.from_numpy(params[1]))


# -- the cases ----------------------------------------------------------------------------
def inference(model, tblock, session, args, x):
    import torch
    want = model.predict_on_batch(x)
    tx = torch.from_numpy(x)
    tblock.module.eval()
    with torch.no_grad():
        np.testing.assert_allclose(tblock.module(tx).numpy(), want, atol=2e-4)
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0], want,
                               atol=2e-4)

    def run_torch():
        with torch.no_grad():
            tblock.module(tx)
    feed = {session.get_inputs()[0].name: x}
    return {"graphnet": timed(lambda: model.predict_on_batch(x), args),
            "PyTorch": timed(run_torch, args),
            "ONNX Runtime": timed(lambda: session.run(None, feed), args)}


def training(model, tblock, args, x, y):
    import torch
    model.compile(optimizer=gn.optimizers.Adam(1e-3), loss="mse")
    m = tblock.module.train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = torch.nn.MSELoss()
    g_loss = float(np.asarray(model.train_on_batch(x, y)).ravel()[0])

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(m(tx), ty)
        loss.backward()
        opt.step()
        return loss
    t_loss = float(step().detach())
    if abs(g_loss - t_loss) > 1e-4 * max(1.0, abs(t_loss)):
        raise AssertionError(f"first training losses differ: graphnet {g_loss}, "
                             f"PyTorch {t_loss}")
    return {"graphnet": timed(lambda: model.train_on_batch(x, y), args),
            "PyTorch": timed(step, args)}


def print_row(case, row):
    g = row["graphnet"][0]
    cells = [f"{name} {med * 1e3:.2f} ms ({spread * 100:.0f}%)"
             for name, (med, spread) in row.items()]
    ratios = [f"graphnet/{name} {g / med:.2f}x" for name, (med, _) in row.items()
              if name != "graphnet"]
    print(f"{case}: " + ", ".join(cells) + "; " + ", ".join(ratios))


def main():
    args = parse_args()
    import tempfile
    import torch
    gn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(f"machine: {cpu_model()}; graphnet ISA {gn.isa()} from "
          f"{os.path.dirname(gn.__file__)}, torch {torch.__version__}, {args.threads} threads, "
          f"{args.repeats} samples of >= {args.min_sample} s; FFN {args.activation}")
    load_before = load_average()
    gn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SEQ, D), dtype=np.float32)
    y = rng.standard_normal((BATCH, SEQ, D), dtype=np.float32)
    model = graphnet_block(args.activation)
    tblock = TorchBlock(model.get_weights(), args.activation)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "block.onnx")
        gn.export.to_onnx(model, path)
        session = ort_session(path, args.threads)
    print_row("inference", inference(model, tblock, session, args, x))
    if args.profile:
        print(model.predict_function().profile(x).table(top=15))
    if not args.skip_train:
        print_row("training step (Adam)", training(model, tblock, args, x, y))
        if args.profile:
            print(model.profile_train_step(x, y).table(top=25))
    load_after = load_average()
    print(f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after")


if __name__ == "__main__":
    main()
