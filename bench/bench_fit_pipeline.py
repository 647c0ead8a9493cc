"""fit's steps per second on mnist_mlp (784-512-512-10, RMSprop) at batch 32 for each
kind of input: arrays (the fast path), a Python generator, a gn.utils.PyDataset (1 and
2 threads) and, where torch is installed, a torch DataLoader. A source's batches are
read and converted in a background thread while the compiled step runs.

    python bench/bench_fit_pipeline.py [--steps 400] [--repeats 5] [--arrays-only]
                                       [--root CHECKOUT]

``--root`` runs another checkout's graphnet (its C extension built in place) with this
same script, e.g. main's, to compare the array path before and after a change.
``--loop-only`` replaces the step by a no-op: what is left is the Python of fit's loop
(slicing the batch, callbacks), the part a change to the iteration can slow.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np


def _import_graphnet(root):
    sys.path.insert(0, root)
    import graphnet
    if not graphnet.__file__.startswith(os.path.abspath(root)):
        raise SystemExit(f"graphnet imported from {graphnet.__file__}, not {root}")
    return graphnet


def _model(gn):
    gn.utils.set_random_seed(0)
    inputs = gn.Input((784,))
    hidden = gn.layers.Dense(512, activation="relu")(inputs)
    hidden = gn.layers.Dense(512, activation="relu")(hidden)
    model = gn.Model(inputs, gn.layers.Dense(10, activation="softmax")(hidden))
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    return model


def _sources(gn, x, y, batch):
    starts = range(0, len(x), batch)

    def generator():
        while True:
            for i in starts:
                yield x[i:i + batch], y[i:i + batch]

    class Batches(gn.utils.PyDataset):
        def __len__(self):
            return len(starts)

        def __getitem__(self, index):
            i = index * batch
            return x[i:i + batch], y[i:i + batch]

    kinds = {"generator": generator, "PyDataset": lambda: Batches(),
             "PyDataset, 2 threads": lambda: Batches(workers=2)}
    try:
        import torch
    except ImportError:
        return kinds
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    kinds["torch DataLoader"] = lambda: torch.utils.data.DataLoader(dataset, batch_size=batch)
    return kinds


def _steps_per_second(fit, steps, repeats):
    fit(steps)  # compile the plans, warm the caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit(steps)
        times.append(time.perf_counter() - start)
    return steps / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--arrays-only", action="store_true")
    parser.add_argument("--loop-only", action="store_true")
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    args = parser.parse_args()
    gn = _import_graphnet(args.root)
    rng = np.random.RandomState(0)
    n = args.steps * args.batch
    x = rng.rand(n, 784).astype("float32")
    y = np.eye(10, dtype="float32")[rng.randint(0, 10, n)]
    model = _model(gn)
    if args.loop_only:
        model.fit(x[:args.batch], y[:args.batch], verbose=0)  # resolve losses and metrics
        model._run_batch = lambda training, xs, ys, sws, trackers: {}
    print(f"graphnet from {os.path.dirname(gn.__file__)}; mnist_mlp, batch {args.batch}, "
          f"{args.steps} steps an epoch, median of {args.repeats}"
          + (", the step replaced by a no-op" if args.loop_only else ""))
    rate = _steps_per_second(lambda steps: model.fit(
        x, y, batch_size=args.batch, epochs=1, shuffle=False, verbose=0), args.steps,
        args.repeats)
    print(f"  {'arrays':22s} {rate:8.0f} steps/s  {1e6 / rate:7.1f} us/step")
    if args.arrays_only:
        return
    for kind, make in _sources(gn, x, y, args.batch).items():
        steps = {"steps_per_epoch": args.steps} if kind == "generator" else {}
        rate = _steps_per_second(lambda s: model.fit(
            make(), epochs=1, shuffle=False, verbose=0, **steps), args.steps, args.repeats)
        print(f"  {kind:22s} {rate:8.0f} steps/s  {1e6 / rate:7.1f} us/step")


if __name__ == "__main__":
    main()
