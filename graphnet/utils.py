"""``gn.utils``: helpers Keras users reach for."""
import numpy as np

from .engine.py_dataset import PyDataset  # noqa: F401
from .initializers import set_random_seed  # noqa: F401
from .progbar import Progbar  # noqa: F401

Sequence = PyDataset  # Keras's other name for it


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels (as keras.utils.to_categorical)."""
    y = np.asarray(y, dtype="int64")
    shape = y.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    y = y.reshape(-1)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {y.min()}")
    num_classes = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {y.max()} is out of range for "
                         f"{num_classes} classes")
    out = np.zeros((y.size, num_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out.reshape(shape + (num_classes,))


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch as fit passes it (Keras's rule): a tuple or
    list of 1 to 3 entries, anything else is x alone."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, or "
                     f"`(x, y, sample_weight)`, found a tuple of {len(data)} entries")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch structure fit passes to ``train_step`` (Keras's rule): x alone when
    there is no y (``(x,)`` when x is a tuple), else ``(x, y)`` or ``(x, y, sw)``."""
    if y is None:
        return (x,) if isinstance(x, tuple) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)
