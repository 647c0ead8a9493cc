"""Keras's dataset files fetched through ``gn.utils.get_file`` into graphnet's cache
(``$GRAPHNET_HOME/datasets`` or ``~/.graphnet/datasets``), where Keras's loaders keep them
under ``~/.keras/datasets``: the same names, origins and checksums."""
import os
import urllib.parse

import numpy as np

from . import download

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def fetch(dataset, name, default_origin, file_hash=None, origin=None, **get_file_args):
    """``get_file(fname=..., origin=<base>/name, ...)`` for Keras's file ``name`` of
    ``dataset``: the base URL is ``origin``, else ``GRAPHNET_<DATASET>_ORIGIN``, else
    ``default_origin`` (Keras's); a local directory is taken as a ``file://`` URL."""
    from ..file_utils import get_file
    variable = f"GRAPHNET_{dataset.upper().replace('-', '_')}_ORIGIN"
    base = download.origin_url(origin or os.environ.get(variable) or default_origin)
    get_file_args.setdefault("fname", name)
    return get_file(origin=urllib.parse.urljoin(base, name), file_hash=file_hash,
                    **get_file_args)


def check_test_split(test_split):
    """Keras's bound for the housing loaders: 0 <= test_split < 1."""
    if isinstance(test_split, bool) or not isinstance(test_split, (int, float)) or \
            not 0 <= test_split < 1:
        raise ValueError(f"`test_split` must be a number in [0, 1), got "
                         f"test_split={test_split!r}")


def shuffled_split(x, y, test_split, seed):
    """Keras's shuffle (``RandomState(seed)``) then the first ``1 - test_split`` to train."""
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))
