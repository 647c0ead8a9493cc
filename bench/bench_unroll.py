"""What the unrolled path costs against the sequence kernel, on the imdb_lstm shape (an
LSTM of 128 units over 80 steps of 128 features, batch 32, then Dense(1, sigmoid)):
the same model with the LSTM layer (one RNN_SEQUENCE kernel), with ``unroll=True`` (one
kernel per step) and as ``RNN(cell)`` of a user's cell doing the same LSTM step in
primitive ops (the compiler's unrolled copies of its step graph). For each: the CPU
seconds of the first compile of the inference plan and of the training step, then
inference (``predict_on_batch``) and one Adam training step (``train_on_batch``), each
the median with the spread (min-max) of ``--repeats`` timed runs.

    python bench/bench_unroll.py [--threads 2] [--repeats 9] [--steps 80]
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(ROOT, "graphnet")):
    sys.path.insert(0, ROOT)  # run from a checkout without installing

import graphnet as gn  # noqa: E402
from graphnet.bench.timing import measure  # noqa: E402

BATCH, FEATURES, UNITS = 32, 128, 128


class PrimitiveLSTMCell(gn.layers.Layer):
    """Keras's LSTM step (gates i, f, c, o) written in gn.ops, as a user would."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]

    def build(self, input_shape):
        u = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * u), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(u, 4 * u), name="recurrent_kernel",
                                                initializer="orthogonal")
        self.bias = self.add_weight(shape=(4 * u,), name="bias", initializer="zeros")

    def call(self, inputs, states):
        h, c = states
        u = self.units
        z = gn.ops.matmul(inputs, self.kernel) + gn.ops.matmul(h, self.recurrent_kernel) + \
            self.bias
        i, f = gn.ops.sigmoid(z[:, :u]), gn.ops.sigmoid(z[:, u:2 * u])
        g, o = gn.ops.tanh(z[:, 2 * u:3 * u]), gn.ops.sigmoid(z[:, 3 * u:])
        c = f * c + i * g
        h = o * gn.ops.tanh(c)
        return h, [h, c]


def model(kind, steps):
    recurrent = {"sequence kernel": lambda: gn.layers.LSTM(UNITS),
                 "unroll=True": lambda: gn.layers.LSTM(UNITS, unroll=True),
                 "RNN(user cell)": lambda: gn.layers.RNN(PrimitiveLSTMCell(UNITS))}[kind]()
    m = gn.Sequential([gn.Input((steps, FEATURES)), recurrent,
                       gn.layers.Dense(1, activation="sigmoid")])
    m.compile(gn.optimizers.Adam(1e-3), "binary_crossentropy")
    return m


def cpu_seconds(fn):
    start = time.process_time()
    fn()
    return time.process_time() - start


def fmt(t):
    return f"{t['median'] * 1e3:8.2f} ms ({t['min'] * 1e3:.2f}-{t['max'] * 1e3:.2f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=80)
    args = parser.parse_args()
    gn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, args.steps, FEATURES)).astype("float32")
    y = (rng.random((BATCH, 1)) < 0.5).astype("float32")
    reference = None
    print(f"imdb_lstm shape: batch {BATCH}, {args.steps} steps, {FEATURES} features, "
          f"{UNITS} units; {args.threads} threads")
    for kind in ("sequence kernel", "unroll=True", "RNN(user cell)"):
        m = model(kind, args.steps)
        if reference is None:
            reference = m.get_weights()
        m.set_weights(reference)
        compile_infer = cpu_seconds(lambda: m.predict_on_batch(x))
        compile_train = cpu_seconds(lambda: m.train_on_batch(x, y))
        m.set_weights(reference)
        infer = measure(lambda: m.predict_on_batch(x), repeat=args.repeats, warmup=2,
                        min_repeat_time=0.2)
        train = measure(lambda: m.train_on_batch(x, y), repeat=args.repeats, warmup=2,
                        min_repeat_time=0.2)
        print(f"{kind:16s} first predict {compile_infer:6.2f} s, first train step "
              f"{compile_train:6.2f} s CPU | inference {fmt(infer)} | train step "
              f"{fmt(train)}")


if __name__ == "__main__":
    main()
