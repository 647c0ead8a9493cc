"""The imdb_lstm shape in graphnet vs PyTorch eager and ONNX Runtime, in one process: an LSTM (or GRU) of
128 units over 80 steps of 128 features, batch 32, then Dense(1, sigmoid).

Times one Adam training step (binary cross-entropy; graphnet ``train_on_batch``, PyTorch
forward + loss + backward + ``optimizer.step()``) and inference (graphnet
``predict_on_batch``, PyTorch under ``torch.no_grad()``, ONNX Runtime on PyTorch's
export with its own LSTM / GRU op). Both run the same weights
(graphnet's, Keras layout, copied into ``torch.nn.LSTM`` / ``torch.nn.GRU`` with the gate
order converted), checked to agree. Each library runs in its own block after a pause;
each block is ``--repeats`` timed runs of a calibrated number of calls, reported as the
median with the spread (min-max) over the runs.

    python bench/bench_recurrent.py [--cell lstm|gru|both] [--threads 2] [--repeats 15]
                                    [--min-repeat-time 0.2] [--pause 1.0]
"""
import argparse
import io
import os
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(ROOT, "graphnet")):
    sys.path.insert(0, ROOT)  # run from a checkout without installing

import graphnet as gn  # noqa: E402
from graphnet.bench.timing import measure  # noqa: E402

try:
    import torch
except ImportError:
    torch = None
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mnist_mlp import ort, ort_session  # noqa: E402  (one ONNX Runtime set-up)

BATCH, STEPS, FEATURES, UNITS = 32, 80, 128, 128


def graphnet_model(cell):
    layer = gn.layers.LSTM(UNITS) if cell == "lstm" else gn.layers.GRU(UNITS)
    return gn.Sequential([gn.Input((STEPS, FEATURES)), layer,
                          gn.layers.Dense(1, activation="sigmoid")])


class TorchModel(torch.nn.Module if torch is not None else object):
    """torch.nn.LSTM / GRU (batch first) and a Linear + sigmoid, with graphnet's weights."""

    def __init__(self, cell, weights):
        super().__init__()
        rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
        self.rnn = rnn_cls(FEATURES, UNITS, batch_first=True)
        self.head = torch.nn.Linear(UNITS, 1)
        kernel, recurrent, bias, dense_w, dense_b = weights
        u = UNITS
        if cell == "lstm":   # Keras i, f, c, o is torch's i, f, g, o
            b_ih, b_hh = bias, np.zeros_like(bias)
            order = np.arange(4 * u)
        else:                # Keras z, r, h (reset after) is torch's r, z, n
            b_ih, b_hh = bias[0], bias[1]
            order = np.r_[np.arange(u, 2 * u), np.arange(u), np.arange(2 * u, 3 * u)]
        with torch.no_grad():
            self.rnn.weight_ih_l0.copy_(torch.from_numpy(kernel[:, order].T.copy()))
            self.rnn.weight_hh_l0.copy_(torch.from_numpy(recurrent[:, order].T.copy()))
            self.rnn.bias_ih_l0.copy_(torch.from_numpy(b_ih[order].copy()))
            self.rnn.bias_hh_l0.copy_(torch.from_numpy(b_hh[order].copy()))
            self.head.weight.copy_(torch.from_numpy(dense_w.T.copy()))
            self.head.bias.copy_(torch.from_numpy(dense_b.copy()))

    def forward(self, x):
        out, _ = self.rnn(x)
        return torch.sigmoid(self.head(out[:, -1]))


def onnx_session(tmodel, tx, threads):
    """ONNX Runtime on PyTorch's export of the same model (its native LSTM / GRU op), or
    None without onnxruntime."""
    if ort is None:
        return None
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the TorchScript exporter's deprecation notes
        torch.onnx.export(tmodel, (tx,), buffer, dynamo=False, input_names=["x"],
                          output_names=["y"])
    return ort_session(buffer.getvalue(), threads)


def bench_cell(cell, args, x, y):
    model = graphnet_model(cell)
    model.compile(optimizer=gn.optimizers.Adam(1e-3), loss="binary_crossentropy")
    weights = model.get_weights()
    rows = []
    ours = model.predict_on_batch(x)
    theirs = None
    if torch is not None:
        tmodel = TorchModel(cell, weights)
        with torch.no_grad():
            theirs = tmodel(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    results = {}
    blocks = [("graphnet", "inference", lambda: model.predict_on_batch(x)),
              ("graphnet", "train step", lambda: model.train_on_batch(x, y))]
    if torch is not None:
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        opt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
        loss_fn = torch.nn.BCELoss()

        def torch_infer():
            with torch.no_grad():
                tmodel(tx)

        def torch_train():
            opt.zero_grad()
            loss = loss_fn(tmodel(tx), ty)
            loss.backward()
            opt.step()
        blocks += [("torch eager", "inference", torch_infer),
                   ("torch eager", "train step", torch_train)]
        session = onnx_session(tmodel, tx, args.threads)
        if session is not None:
            np.testing.assert_allclose(session.run(None, {"x": x})[0], theirs, atol=1e-5)
            blocks.append(("onnxruntime", "inference", lambda: session.run(None, {"x": x})))
    for lib, what, fn in blocks:
        time.sleep(args.pause)
        m = measure(fn, repeat=args.repeats, warmup=3, min_repeat_time=args.min_repeat_time)
        results[(lib, what)] = m["median"], m["min"], m["max"]
    for what in ("train step", "inference"):
        med, lo, hi = results[("graphnet", what)]
        line = f"{cell.upper():4s} {what:10s} graphnet {med * 1e3:7.2f} ms [{lo * 1e3:.2f}-" \
               f"{hi * 1e3:.2f}]"
        for peer in ("torch eager", "onnxruntime"):
            if (peer, what) in results:
                tmed, tlo, thi = results[(peer, what)]
                line += f"   {peer} {tmed * 1e3:7.2f} ms [{tlo * 1e3:.2f}-{thi * 1e3:.2f}]" \
                        f"   graphnet/{peer.split()[0]} {med / tmed:.2f}"
        rows.append(line)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=("lstm", "gru", "both"), default="both")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--min-repeat-time", type=float, default=0.2)
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds of sleep before each block")
    args = parser.parse_args()
    gn.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype("float32")
    y = (rng.random((BATCH, 1)) < 0.5).astype("float32")
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), "unknown CPU")
    print(f"machine: {cpu}; threads {args.threads}; graphnet ISA {gn.isa()}; "
          f"torch {torch.__version__ if torch is not None else 'not installed'}; "
          f"batch {BATCH}, {STEPS} steps of {FEATURES} features, {UNITS} units")
    for cell in (("lstm", "gru") if args.cell == "both" else (args.cell,)):
        for row in bench_cell(cell, args, x, y):
            print(row, flush=True)


if __name__ == "__main__":
    main()
