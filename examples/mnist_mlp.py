"""Keras's mnist_mlp example, in graphnet, on real MNIST digits (offline).

The 60,000-image MNIST training set is not available on the project's machines, so
this trains on the first 8,000 images of the official 10,000-image test set and
reports accuracy on the last 2,000 (held out; never trained on).

Data: ``--data DIR``, else ``GRAPHNET_MNIST_DIR``, else ``../shared/data/mnist`` beside
the checkout (see ``graphnet.datasets.mnist``).

    python examples/mnist_mlp.py [--epochs 10] [--threads N] [--data DIR]

Epochs can also be set with ``GRAPHNET_DEMO_EPOCHS`` (0 skips training). If this graphnet has no
``Model.fit`` yet, the untrained model is evaluated and the script says so.
"""
import argparse
import inspect
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(ROOT, "graphnet")):
    sys.path.insert(0, ROOT)  # run from a checkout without installing

import graphnet as gn  # noqa: E402
from graphnet.datasets import mnist  # noqa: E402

NUM_CLASSES = 10
N_TRAIN = 8000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int,
                        default=int(os.environ.get("GRAPHNET_DEMO_EPOCHS", 10)),
                        help="training epochs (0: skip training); default 10")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None,
                        help="kernel threads (default: GRAPHNET_NUM_THREADS or all cores)")
    parser.add_argument("--data", default=None, help="directory holding the MNIST IDX files")
    return parser.parse_args(argv)


def build_model():
    """Keras's mnist_mlp: 784 -> 512 relu -> 512 relu -> 10 softmax, dropout 0.2."""
    return gn.Sequential([
        gn.Input(shape=(784,), name="pixels"),
        gn.layers.Dense(512, activation="relu"),
        gn.layers.Dropout(0.2),
        gn.layers.Dense(512, activation="relu"),
        gn.layers.Dropout(0.2),
        gn.layers.Dense(NUM_CLASSES, activation="softmax"),
    ], name="mnist_mlp")


def prepare(x, y):
    x = x.reshape(len(x), 784).astype("float32") / 255.0
    return x, gn.utils.to_categorical(y, NUM_CLASSES)


def train(model, x, y, x_val, y_val, epochs, batch_size):
    """compile + fit, as Keras's example does; returns the seconds spent in fit."""
    model.compile(loss="categorical_crossentropy", optimizer=gn.optimizers.RMSprop(),
                  metrics=["accuracy"])
    kwargs = {"batch_size": batch_size, "epochs": epochs, "verbose": 1}
    if "validation_data" in inspect.signature(model.fit).parameters:
        kwargs["validation_data"] = (x_val, y_val)
    start = time.perf_counter()
    model.fit(x, y, **kwargs)
    return time.perf_counter() - start


def throughput(model, x, batch_size, repeats):
    """Images per second of ``model.predict`` over ``x`` (median of ``repeats`` runs)."""
    model.predict(x[:batch_size], batch_size=batch_size)      # compile this shape first
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(x, batch_size=batch_size)
        times.append(time.perf_counter() - start)
    return len(x) / statistics.median(times)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        gn.set_num_threads(args.threads)
    gn.utils.set_random_seed(1337)

    (x_train, y_train), (x_held, y_held) = mnist.load_split(N_TRAIN, path=args.data)
    print(f"MNIST: training on the first {len(x_train)} of the 10,000 official test images, "
          f"holding out the last {len(x_held)} (the 60,000-image training set is not "
          "available here)")
    x_train, y_train_1h = prepare(x_train, y_train)
    x_held, y_held_1h = prepare(x_held, y_held)

    model = build_model()
    model.summary()

    if args.epochs <= 0:
        print("--epochs 0: training skipped, evaluating the untrained model")
        trained = False
    elif hasattr(model, "fit"):
        seconds = train(model, x_train, y_train_1h, x_held, y_held_1h, args.epochs,
                        args.batch_size)
        print(f"trained {args.epochs} epoch(s) on {len(x_train)} images in {seconds:.1f} s")
        trained = True
    else:
        print("training is not available in this graphnet yet (Model.fit is missing): "
              "evaluating the untrained model")
        trained = False

    # The compile report of the batch-128 plan (compiled on this first call).
    fn = model.predict_function()
    model.predict_on_batch(x_held[:128])
    report = fn.last_report

    probs = model.predict(x_held, batch_size=128)
    accuracy = float(np.mean(np.argmax(probs, axis=1) == y_held))
    reference = model.predict(x_held, batch_size=128, backend="reference")
    print(f"\nheld-out accuracy ({len(x_held)} images, "
          f"{'trained' if trained else 'UNTRAINED'} model): {accuracy:.4f}")
    print(f"compiled C vs NumPy reference: max |difference| "
          f"{float(np.max(np.abs(probs - reference))):.2e}")

    print(f"\npredict throughput ({gn.isa()} kernels, {gn.get_num_threads()} thread(s)):")
    for batch_size, repeats in ((1, 3), (128, 9)):
        rate = throughput(model, x_held, batch_size, repeats)
        print(f"  batch {batch_size:3d}: {rate:12,.0f} images/s")

    print("\ncompile report (predict plan, batch 128):")
    print("  " + report.summary().replace("\n", "\n  "))
    exe = fn.executable([(128, 784)])
    print("  plan: " + " -> ".join(exe.plan.kernels))
    print(f"\nSIMD ISA: {gn.isa()}; threads: {gn.get_num_threads()}")
    return accuracy


if __name__ == "__main__":
    main()
