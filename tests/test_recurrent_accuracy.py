"""Accuracy of the recurrent layers on two tasks with known answers (issue 17, "Accuracy"):

* LSTM(128) reading each MNIST digit as 28 rows of 28 pixels, trained on the first 8,000
  images of the 10,000-image test set and scored on the last 2,000 (held out);
* Keras's addition_rnn: "123+45 " -> "168 " with an LSTM encoder, RepeatVector, an LSTM
  decoder and a TimeDistributed Dense softmax per answer character, on questions
  generated from a seed (validation on questions never trained on).

The same code trains Keras 3 for comparison (not part of the suite):

    python tests/test_recurrent_accuracy.py mnist|addition [--keras] [--seed N]
"""
import argparse
import os
import sys
import time

import numpy as np
import pytest

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("KERAS_BACKEND", "torch")

import graphnet as gn  # noqa: E402
from graphnet.datasets import mnist  # noqa: E402

MNIST_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "shared", "data", "mnist")
MNIST_EPOCHS, MNIST_BATCH, MNIST_LR = 14, 64, 3e-3
DIGITS, QUESTIONS, ADDITION_EPOCHS, ADDITION_BATCH, ADDITION_LR = 3, 20000, 22, 64, 5e-3
CHARS = "0123456789+ "


# ---- MNIST rows ------------------------------------------------------------------------

def mnist_rows():
    """((x_train, y_train), (x_held, y_held)): digits as (28 rows, 28 pixels) / 255."""
    (x_train, y_train), (x_held, y_held) = mnist.load_split(8000, path=MNIST_DIR,
                                                           download=False)
    return ((x_train.astype("float32") / 255, y_train.astype("int32")),
            (x_held.astype("float32") / 255, y_held.astype("int32")))


def _adam(lib, rate, epochs, samples, batch):
    """Adam with the rate decaying to 0 over the run (cosine), the same in both libraries."""
    steps = epochs * -(-samples // batch)
    return lib.optimizers.Adam(learning_rate=lib.optimizers.schedules.CosineDecay(rate, steps))


def mnist_lstm(lib):
    """LSTM(128) over the rows, then a softmax of the last state (lib: graphnet or keras)."""
    model = lib.Sequential([lib.Input((28, 28)), lib.layers.LSTM(128),
                            lib.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=_adam(lib, MNIST_LR, MNIST_EPOCHS, 8000, MNIST_BATCH),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# ---- addition_rnn ----------------------------------------------------------------------

def _encode(texts, width):
    """One-hot (n, width, len(CHARS)) of strings padded to ``width``."""
    index = {c: i for i, c in enumerate(CHARS)}
    out = np.zeros((len(texts), width, len(CHARS)), "float32")
    for row, text in enumerate(texts):
        for col, ch in enumerate(text.ljust(width)):
            out[row, col, index[ch]] = 1.0
    return out


def addition_data(seed, n=QUESTIONS):
    """Keras's generator: distinct questions "a+b" of up to DIGITS-digit numbers (a, b and
    b, a the same question), the query reversed as in the example, answers padded to
    DIGITS + 1; the last tenth held out for validation."""
    rng = np.random.default_rng(seed)
    seen, questions, answers = set(), [], []
    maxlen = 2 * DIGITS + 1
    while len(questions) < n:
        a, b = (int("".join(rng.choice(list("0123456789"), size=rng.integers(1, DIGITS + 1))))
                for _ in range(2))
        if (min(a, b), max(a, b)) in seen:
            continue
        seen.add((min(a, b), max(a, b)))
        questions.append(f"{a}+{b}".ljust(maxlen)[::-1])
        answers.append(str(a + b))
    x, y = _encode(questions, maxlen), _encode(answers, DIGITS + 1)
    split = n - n // 10
    return (x[:split], y[:split]), (x[split:], y[split:])


def addition_rnn(lib):
    """Keras's addition_rnn: LSTM(128) encoder, RepeatVector(DIGITS + 1), LSTM(128) decoder
    returning sequences, TimeDistributed(Dense(12, softmax))."""
    L = lib.layers
    model = lib.Sequential([lib.Input((2 * DIGITS + 1, len(CHARS))), L.LSTM(128),
                            L.RepeatVector(DIGITS + 1), L.LSTM(128, return_sequences=True),
                            L.TimeDistributed(L.Dense(len(CHARS), activation="softmax"))])
    model.compile(optimizer=_adam(lib, ADDITION_LR, ADDITION_EPOCHS, QUESTIONS - QUESTIONS // 10,
                                  ADDITION_BATCH),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


# ---- training ------------------------------------------------------------------------

def train(lib, task, seed, log=print):
    """Train ``task`` ("mnist" or "addition") with ``lib``; returns (per-epoch held-out
    accuracy, seconds)."""
    if task == "mnist":
        (x, y), (x_val, y_val) = mnist_rows()
        model, epochs, batch = mnist_lstm(lib), MNIST_EPOCHS, MNIST_BATCH
    else:
        (x, y), (x_val, y_val) = addition_data(seed)
        model, epochs, batch = addition_rnn(lib), ADDITION_EPOCHS, ADDITION_BATCH
    accuracies, start = [], time.perf_counter()
    for epoch in range(epochs):
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        accuracies.append(float(model.evaluate(x_val, y_val, batch_size=500, verbose=0)[1]))
        log(f"{task} epoch {epoch + 1}: held-out accuracy {accuracies[-1]:.4f} "
            f"({time.perf_counter() - start:.1f} s)")
    return accuracies, time.perf_counter() - start


needs_mnist = pytest.mark.skipif(
    not os.path.isfile(os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz")),
    reason=f"MNIST test set not found in {MNIST_DIR}")


@needs_mnist
def test_lstm_over_mnist_rows_reaches_97_5_percent():
    gn.utils.set_random_seed(1)
    accuracies, seconds = train(gn, "mnist", seed=1)
    print(f"\nmnist LSTM(128): held out {accuracies} in {seconds:.1f} s")
    assert accuracies[-1] >= 0.975


def test_addition_rnn_reaches_99_percent():
    gn.utils.set_random_seed(1)
    accuracies, seconds = train(gn, "addition", seed=1)
    print(f"\naddition_rnn: validation {accuracies} in {seconds:.1f} s")
    assert accuracies[-1] >= 0.99


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["mnist", "addition"])
    parser.add_argument("--keras", action="store_true", help="train Keras 3 instead")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.keras:
        from extras import keras as lib   # the stand-in: imported on first use
        lib.utils.set_random_seed(args.seed)
    else:
        lib = gn
        gn.utils.set_random_seed(args.seed)
    accuracies, seconds = train(lib, args.task, args.seed)
    print(f"{args.task} ({'keras' if args.keras else 'graphnet'}, seed {args.seed}): final "
          f"{accuracies[-1]:.4f}, best {max(accuracies):.4f} at epoch "
          f"{int(np.argmax(accuracies)) + 1}, {seconds:.1f} s")


if __name__ == "__main__":
    main()
