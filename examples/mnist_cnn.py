"""Keras's mnist_cnn example, in graphnet, on real MNIST digits (offline).

The recipe line for line: Conv2D 32 3x3 relu, Conv2D 64 3x3 relu, MaxPooling2D 2x2,
Dropout 0.25, Flatten, Dense 128 relu, Dropout 0.5, Dense 10 softmax; trained with
categorical cross-entropy and Adadelta(learning_rate=1.0), batch 128, 12 epochs.

The 60,000-image MNIST training set is not available on the project's machines, so
this trains on the first 8,000 images of the official 10,000-image test set and
reports accuracy on the last 2,000 (held out; never trained on).

Data: ``--data DIR``, else ``GRAPHNET_MNIST_DIR``, else ``../shared/data/mnist`` beside
the checkout (see ``graphnet.datasets.mnist``).

    python examples/mnist_cnn.py [--epochs 12] [--batch-size 128] [--threads N] [--data DIR]
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
from graphnet.datasets import mnist  # noqa: E402

NUM_CLASSES = 10
N_TRAIN = 8000
IMG_ROWS, IMG_COLS = 28, 28


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12,
                        help="training epochs (0: skip training); default 12")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None,
                        help="kernel threads (default: GRAPHNET_NUM_THREADS or all cores)")
    parser.add_argument("--data", default=None, help="directory holding the MNIST IDX files")
    parser.add_argument("--seed", type=int, default=1337)
    return parser.parse_args(argv)


def build_model():
    """Keras's mnist_cnn, channels last."""
    L = gn.layers
    return gn.Sequential([
        gn.Input(shape=(IMG_ROWS, IMG_COLS, 1), name="image"),
        L.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        L.Conv2D(64, (3, 3), activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Dropout(0.25),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dropout(0.5),
        L.Dense(NUM_CLASSES, activation="softmax"),
    ], name="mnist_cnn")


def prepare(x, y):
    x = x.reshape(len(x), IMG_ROWS, IMG_COLS, 1).astype("float32") / 255.0
    return x, gn.utils.to_categorical(y, NUM_CLASSES)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        gn.set_num_threads(args.threads)
    gn.utils.set_random_seed(args.seed)

    (x_train, y_train), (x_held, y_held) = mnist.load_split(N_TRAIN, path=args.data)
    print(f"MNIST: training on the first {len(x_train)} of the 10,000 official test images, "
          f"holding out the last {len(x_held)} (the 60,000-image training set is not "
          "available here)")
    x_train, y_train_1h = prepare(x_train, y_train)
    x_held, y_held_1h = prepare(x_held, y_held)

    model = build_model()
    model.summary()
    model.compile(loss="categorical_crossentropy",
                  optimizer=gn.optimizers.Adadelta(learning_rate=1.0),
                  metrics=["accuracy"])

    seconds = 0.0
    if args.epochs > 0:
        start = time.perf_counter()
        model.fit(x_train, y_train_1h, batch_size=args.batch_size, epochs=args.epochs,
                  verbose=1, validation_data=(x_held, y_held_1h))
        seconds = time.perf_counter() - start
        print(f"trained {args.epochs} epoch(s) on {len(x_train)} images in {seconds:.1f} s "
              f"({seconds / args.epochs:.1f} s/epoch, validation included)")
    else:
        print("--epochs 0: training skipped, evaluating the untrained model")

    start = time.perf_counter()
    loss, accuracy = model.evaluate(x_held, y_held_1h, batch_size=args.batch_size, verbose=0)
    eval_seconds = time.perf_counter() - start
    probs = model.predict(x_held, batch_size=args.batch_size)
    argmax_acc = float(np.mean(np.argmax(probs, axis=1) == y_held))
    print(f"\nheld-out loss: {loss:.4f}")
    print(f"held-out accuracy ({len(x_held)} images, "
          f"{'trained' if args.epochs > 0 else 'UNTRAINED'} model): {argmax_acc:.4f} "
          f"(evaluate: {accuracy:.4f}, {eval_seconds:.2f} s)")
    print(f"training time: {seconds:.1f} s; SIMD ISA: {gn.isa()}; "
          f"threads: {gn.get_num_threads()}")
    return argmax_acc


if __name__ == "__main__":
    main()
