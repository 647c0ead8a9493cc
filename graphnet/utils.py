"""``gn.utils``: helpers Keras users reach for."""
import numpy as np

from .dataset_split import normalize, split_dataset  # noqa: F401
from .directory_datasets import text_dataset_from_directory  # noqa: F401
from .engine.batch_structure import (pack_x_y_sample_weight,  # noqa: F401
                                     unpack_x_y_sample_weight)
from .engine.py_dataset import PyDataset  # noqa: F401
from .file_utils import get_file  # noqa: F401
from .image_dataset import image_dataset_from_directory  # noqa: F401
from .image_utils import array_to_img, img_to_array, load_img, save_img  # noqa: F401
from .initializers import set_random_seed  # noqa: F401
from .model_plot import model_to_dot, plot_model  # noqa: F401
from .object_registration import (CustomObjectScope, custom_object_scope,  # noqa: F401
                                  get_custom_objects, get_registered_name,
                                  get_registered_object, register_keras_serializable)
from .object_serialization import (deserialize_keras_object,  # noqa: F401
                                   serialize_keras_object)
from .progbar import Progbar  # noqa: F401
from .sequence_utils import pad_sequences, timeseries_dataset_from_array  # noqa: F401

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
