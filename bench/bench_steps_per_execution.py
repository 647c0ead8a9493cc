"""Training steps per second of mnist_mlp under compile(steps_per_execution=N).

mnist_mlp (Dense 512 relu, Dropout 0.2, Dense 512 relu, Dropout 0.2, Dense 10 softmax,
RMSprop, categorical crossentropy, accuracy) on random MNIST-shaped data, ``fit`` one
epoch of ``--steps`` batches of ``--batch`` samples per timed round, for each N in
``--spe``. Rounds alternate between the settings (so load on a shared machine hits each
alike); each figure is the median over ``--rounds`` rounds, and the ratio is against
the first N given. The last line times the compiled step's C call alone (``--steps``
batches stacked, one ``run_steps`` call, no Python per step): the floor no N can go
under, so ``us/step at N=1 / floor`` bounds what grouping steps can gain.

    python bench/bench_steps_per_execution.py [--batch 32] [--steps 256] [--rounds 7]
                                              [--spe 1 16] [--threads 2]
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


def mnist_mlp(steps_per_execution):
    inputs = gn.Input((784,))
    h = gn.layers.Dense(512, activation="relu")(inputs)
    h = gn.layers.Dropout(0.2)(h)
    h = gn.layers.Dense(512, activation="relu")(h)
    h = gn.layers.Dropout(0.2)(h)
    outputs = gn.layers.Dense(10, activation="softmax")(h)
    model = gn.Model(inputs, outputs)
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    return model


def c_call_floor(model, x, y, batch, steps):
    """Seconds per step of the compiled training step's C call alone, ``steps`` batches
    in one ``run_steps`` call (what any steps_per_execution still pays)."""
    fn, sws = model._step_for_batch(True, [x[:batch]], [y[:batch]], [None])
    first = fn.check_inputs([x[:batch], y[:batch], sws[0]])
    exe = fn.executable([a.shape for a in first])
    feed = [x[:batch * steps].reshape(steps, batch, -1), y[:batch * steps].reshape(steps, batch, -1),
            first[2]]
    start = time.perf_counter()
    exe.run_steps(feed, steps)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=256, help="batches per timed epoch")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--spe", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    gn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    x = rng.random((n, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    models = {spe: mnist_mlp(spe) for spe in args.spe}
    for model in models.values():  # compile the plans outside the timing
        model.fit(x[:args.batch * max(args.spe)], y[:args.batch * max(args.spe)],
                  batch_size=args.batch, verbose=0)
    times = {spe: [] for spe in args.spe}
    floors = []
    for _ in range(args.rounds):
        for spe, model in models.items():
            start = time.perf_counter()
            model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=True)
            times[spe].append(time.perf_counter() - start)
        floors.append(c_call_floor(models[args.spe[0]], x, y, args.batch, args.steps))
    base = statistics.median(times[args.spe[0]])
    print(f"mnist_mlp fit, batch {args.batch}, {args.steps} steps per epoch, "
          f"{args.threads} threads, median of {args.rounds} rounds")
    for spe in args.spe:
        t = statistics.median(times[spe])
        print(f"steps_per_execution {spe:3d}: {args.steps / t:8.1f} steps/s "
              f"({1e6 * t / args.steps:7.1f} us/step)  x{base / t:.2f}  "
              f"[{1e6 * min(times[spe]) / args.steps:.1f}-"
              f"{1e6 * max(times[spe]) / args.steps:.1f} us/step]")
    floor = statistics.median(floors)
    print(f"C call alone:          {1 / floor:8.1f} steps/s ({1e6 * floor:7.1f} us/step)  "
          f"x{base / args.steps / floor:.2f}: the most any steps_per_execution can gain")


if __name__ == "__main__":
    main()
