"""Training steps per second: a custom ``train_step`` (traced once, compiled) against the
built-in step, on mnist_mlp.

mnist_mlp (Dense 512 relu, Dense 512 relu, Dense 10 softmax, RMSprop, categorical
crossentropy) on random MNIST-shaped data; ``fit`` one epoch of ``--steps`` batches of
``--batch`` samples per timed round. The custom model's train_step is keras.io's
(GradientTape, compute_loss, optimizer.apply, a loss tracker), traced on the first batch
into one compiled plan; per batch it then runs like the built-in step, so the ratio
shows what the custom path's Python per batch costs. Rounds alternate between the two
(load on a shared machine hits each alike); each figure is the median over ``--rounds``.

    python bench/bench_custom_step.py [--batch 32] [--steps 128] [--rounds 7] [--threads 2]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(ROOT, "graphnet")):
    sys.path.insert(0, ROOT)  # run from a checkout without installing

import graphnet as gn  # noqa: E402


class CustomMLP(gn.Model):
    """keras.io's custom train_step on a Functional model."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = gn.metrics.Mean(name="loss")

    def train_step(self, data):
        x, y = data
        with gn.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


def mnist_mlp(model_class):
    inputs = gn.Input((784,))
    h = gn.layers.Dense(512, activation="relu")(inputs)
    h = gn.layers.Dense(512, activation="relu")(h)
    model = model_class(inputs, gn.layers.Dense(10, activation="softmax")(h))
    model.compile("rmsprop", "categorical_crossentropy")
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    gn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    x = rng.random((n, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    models = {"built-in step": mnist_mlp(gn.Model), "custom train_step": mnist_mlp(CustomMLP)}
    for model in models.values():   # compile the plans before timing
        model.fit(x[:args.batch * 2], y[:args.batch * 2], batch_size=args.batch, verbose=0)
    times = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(x, y, batch_size=args.batch, epochs=1, shuffle=False, verbose=0)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["built-in step"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:18s} {args.steps / median:8.1f} steps/s  "
              f"[{args.steps / max(values):.1f}-{args.steps / min(values):.1f}]  "
              f"{base / median:.2f}x the built-in step")


if __name__ == "__main__":
    main()
