"""CIFAR-10, as ``keras.datasets.cifar10``: 50,000 training and 10,000 test 32 x 32 colour
images of 10 classes (0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog,
7 horse, 8 ship, 9 truck).

Keras's ``cifar-10-python.tar.gz`` is downloaded on the first call from the CIFAR site
into ``$GRAPHNET_HOME/datasets/`` (``~/.graphnet/datasets/``), checked against Keras's
SHA-256 and extracted into ``cifar-10-batches-py-target/`` as Keras does.
"""
import os

import numpy as np

from . import cifar

ARCHIVE = "cifar-10-python.tar.gz"
TARGET = "cifar-10-batches-py-target"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck")


def load_data(origin=None):
    """Loads the CIFAR-10 data set (Keras 3's results, channels last).

    Args:
        origin: the base URL to download the archive from (default: the CIFAR site, or
            ``GRAPHNET_CIFAR10_ORIGIN``); a local directory works too.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape
        ``(n, 32, 32, 3)`` and uint8 labels 0-9 of shape ``(n, 1)``.
    """
    directory = cifar.fetch("cifar10", ARCHIVE, TARGET, SHA256, origin)
    batches = [cifar.load_batch(os.path.join(directory, FOLDER, name))
               for name in TRAIN_BATCHES]
    train = (np.concatenate([data for data, _ in batches]),
             [label for _, labels in batches for label in labels])
    test = cifar.load_batch(os.path.join(directory, FOLDER, "test_batch"))
    return cifar.channels_last(*train, "uint8"), cifar.channels_last(*test, "uint8")
