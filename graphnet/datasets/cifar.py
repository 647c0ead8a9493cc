"""What the CIFAR-10 and CIFAR-100 loaders share: Keras's archive fetched and extracted
through ``gn.utils.get_file`` (Keras's names and SHA-256 sums, cached under
``$GRAPHNET_HOME/datasets/``), and the reader of its pickled batches, which unpickles
plain data and numpy arrays only."""
import pickle

import numpy as np

from . import keras_files
from .download import DatasetFileError
from .word_sequences import ArrayUnpickler

ORIGIN = "https://www.cs.toronto.edu/~kriz/"
IMAGE_SHAPE = (3, 32, 32)   # as the batches store each image: channels first


def fetch(dataset, archive, target, sha256, origin):
    """The extraction directory of Keras's ``archive`` (``<cache>/datasets/<target>``)."""
    return keras_files.fetch(dataset, archive, ORIGIN, sha256, origin, fname=target,
                             extract=True, hash_algorithm="sha256")


def load_batch(fpath, label_key="labels"):
    """The ``(data, labels)`` of one pickled CIFAR batch: uint8 images of shape
    ``(n, 3, 32, 32)`` and the list of labels under ``label_key``."""
    try:
        with open(fpath, "rb") as f:
            batch = ArrayUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DatasetFileError(f"CIFAR batch {fpath} is missing from the extracted "
                               "archive") from None
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise DatasetFileError(f"CIFAR batch {fpath} cannot be read: {e}") from e
    if not isinstance(batch, dict):
        raise DatasetFileError(f"CIFAR batch {fpath} holds a {type(batch).__name__}, "
                               "expected a dict")
    batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", label_key):
        if key not in batch:
            raise DatasetFileError(f"CIFAR batch {fpath} has no {key!r}; it holds "
                                   f"{sorted(batch)}")
    data, labels = np.asarray(batch["data"]), batch[label_key]
    if data.ndim != 2 or data.shape[1] != int(np.prod(IMAGE_SHAPE)) or \
            len(labels) != len(data):
        raise DatasetFileError(f"CIFAR batch {fpath}: data of shape {data.shape} and "
                               f"{len(labels)} labels, expected (n, 3072) and n labels")
    return data.astype("uint8").reshape((len(data),) + IMAGE_SHAPE), labels


def channels_last(data, labels, label_dtype):
    """Keras's results: images ``(n, 32, 32, 3)`` and labels ``(n, 1)``."""
    return data.transpose(0, 2, 3, 1), np.asarray(labels, dtype=label_dtype).reshape(-1, 1)

