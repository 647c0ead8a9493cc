"""What the IMDB and Reuters loaders share: Keras's files, found in the cache or downloaded
and checked, a safe reader of their ``.npz`` archives (sequences stored as pickled object
arrays), and Keras's word-index arithmetic (start and OOV characters, ``index_from``,
``num_words``, ``skip_top``, ``maxlen``).

A file is looked for at ``path`` itself (a file of the user's own, read unchecked), then
in the cache ``$GRAPHNET_HOME/datasets/<dataset>/`` (``~/.graphnet/...``); otherwise it is
downloaded there from ``origin`` (default: Keras's storage folder; ``GRAPHNET_<DATASET>_ORIGIN``
overrides it; ``file://`` URLs and local directories work) and verified against Keras's
checksum (SHA-256 for the arrays, MD5 for the word indexes, as Keras states them).
"""
import io
import json
import os
import pickle
import zipfile

import numpy as np

from . import download
from .keras_files import KERAS_ORIGIN

# The only globals a pickled numpy object array needs (numpy < 2 and >= 2 spellings);
# anything else in a file (os.system, eval, ...) is refused.
_ARRAY_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"),
                            ("numpy.core.multiarray", "_reconstruct"),
                            ("numpy._core.multiarray", "_reconstruct")})


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler of plain data and numpy arrays only (IMDB's, Reuters', CIFAR's)."""

    def find_class(self, module, name):
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"Refusing to load `{module}.{name}` from a dataset "
                                     "file: it may be corrupted or malicious")


def _read_member(stream, where):
    try:
        return np.lib.format.read_array(stream, allow_pickle=False)
    except ValueError:  # an object array: skip the header, unpickle numpy arrays only
        stream.seek(0)
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(stream)
        elif version[0] in (2, 3):  # 3.0 differs from 2.0 only in the header's encoding
            np.lib.format.read_array_header_2_0(stream)
        else:
            raise download.DatasetFileError(f"{where}: unsupported .npy version {version}")
        try:
            return ArrayUnpickler(stream).load()
        except (pickle.UnpicklingError, EOFError) as e:
            raise download.DatasetFileError(f"{where}: {e}") from e


def load_npz(path, names):
    """The arrays ``names`` of the ``.npz`` archive at ``path``, as a dict."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                key = member[:-len(".npy")]
                if member.endswith(".npy") and key in names:
                    with archive.open(member) as raw:
                        arrays[key] = _read_member(io.BytesIO(raw.read()), f"{path}[{key}]")
    except (zipfile.BadZipFile, OSError) as e:
        raise download.DatasetFileError(f"dataset file {path} cannot be read as an .npz "
                                        f"archive: {e}") from e
    missing = [n for n in names if n not in arrays]
    if missing:
        raise download.DatasetFileError(f"dataset file {path} lacks the arrays {missing}; "
                                        f"it holds {sorted(arrays)}")
    return arrays


def locate(dataset, path, name, checksum, algorithm, origin=None):
    """The local path of Keras's file ``name`` of ``dataset`` (see the module's docstring):
    ``path`` if it is a file, else the cached copy, else a verified download."""
    if os.path.isfile(path):
        return os.fspath(path)
    directory = download.cache_dir(dataset)
    cached = os.path.join(directory, os.path.basename(path))
    if os.path.isfile(cached):
        return cached
    origin = origin or os.environ.get(f"GRAPHNET_{dataset.upper()}_ORIGIN") or KERAS_ORIGIN
    try:
        fetched = download.fetch(name, origin, directory, checksum, algorithm,
                                 f"{dataset} download")
    except OSError as e:
        raise FileNotFoundError(f"{dataset}: {path} is not a file, the cache {directory} "
                                f"has no {os.path.basename(path)}, and the download of "
                                f"{name} from {origin} failed: {e}") from e
    if fetched != cached:
        os.replace(fetched, cached)
    return cached


def load_word_index(dataset, path, name, checksum, origin=None):
    """The word -> index dict of Keras's JSON file ``name``."""
    with open(locate(dataset, path, name, checksum, "md5", origin)) as f:
        return json.load(f)


def check_arguments(num_words, skip_top, maxlen):
    for arg, value, low in (("num_words", num_words, 1), ("maxlen", maxlen, 1)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < low):
            raise ValueError(f"`{arg}` must be None or a positive integer, got "
                             f"{arg}={value!r}")
    if not isinstance(skip_top, (int, np.integer)) or skip_top < 0:
        raise ValueError(f"`skip_top` must be a non-negative integer, got "
                         f"skip_top={skip_top!r}")


def shuffled(rng, xs, labels):
    indices = np.arange(len(xs))
    rng.shuffle(indices)
    return xs[indices], labels[indices]


def offset_words(xs, start_char, index_from):
    """Each sequence as a list, its words shifted by ``index_from`` and led by
    ``start_char`` (when not None), as Keras does."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in xs]
    return [[w + index_from for w in x] for x in xs]


def remove_long(maxlen, xs, labels):
    """Keep the sequences shorter than ``maxlen`` (Keras's ``remove_long_seq``)."""
    kept = [(x, y) for x, y in zip(xs, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def limit_vocabulary(xs, num_words, skip_top, oov_char):
    """Words outside ``[skip_top, num_words)`` become ``oov_char`` (dropped when it is
    None); ``num_words`` None means the largest word index (which Keras's bound then
    excludes too)."""
    if not num_words:
        num_words = max(max(x) for x in xs if len(x))
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]
