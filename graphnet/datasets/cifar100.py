"""CIFAR-100, as ``keras.datasets.cifar100``: 50,000 training and 10,000 test 32 x 32
colour images of 100 fine classes grouped into 20 coarse ones.

Keras's ``cifar-100-python.tar.gz`` is downloaded on the first call from the CIFAR site
into ``$GRAPHNET_HOME/datasets/`` (``~/.graphnet/datasets/``), checked against Keras's
SHA-256 and extracted into ``cifar-100-python-target/`` as Keras does.
"""
import os

from . import cifar

ARCHIVE = "cifar-100-python.tar.gz"
TARGET = "cifar-100-python-target"
SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
FOLDER = "cifar-100-python"
LABEL_MODES = ("fine", "coarse")


def load_data(label_mode="fine", origin=None):
    """Loads the CIFAR-100 data set (Keras 3's arguments and results, channels last).

    Args:
        label_mode: "fine" (100 classes) or "coarse" (the 20 superclasses).
        origin: the base URL to download the archive from (default: the CIFAR site, or
            ``GRAPHNET_CIFAR100_ORIGIN``); a local directory works too.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape
        ``(n, 32, 32, 3)`` and int64 labels of shape ``(n, 1)`` (Keras's dtype, though
        its docstring says uint8).
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(f'`label_mode` must be one of "fine", "coarse", got '
                         f"label_mode={label_mode!r}")
    directory = cifar.fetch("cifar100", ARCHIVE, TARGET, SHA256, origin)
    key = f"{label_mode}_labels"
    train = cifar.load_batch(os.path.join(directory, FOLDER, "train"), key)
    test = cifar.load_batch(os.path.join(directory, FOLDER, "test"), key)
    # Keras's labels are int64 here (its reshape of a list), uint8 for CIFAR-10
    return cifar.channels_last(*train, "int64"), cifar.channels_last(*test, "int64")
