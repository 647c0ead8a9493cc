"""MNIST handwritten digits, read from the original IDX files.

``load_data()`` returns ``(x_train, y_train), (x_test, y_test)`` as Keras does:
uint8 images of shape ``(n, 28, 28)`` and uint8 labels of shape ``(n,)``.

The four LeCun files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each gzipped or not) are
looked for, in order, in:

1. the ``path`` argument (a directory);
2. the directory in the environment variable ``GRAPHNET_MNIST_DIR``;
3. ``../shared/data/mnist`` beside a source checkout (relative to the repository root);
4. the cache, ``$GRAPHNET_HOME/datasets/mnist`` or ``~/.graphnet/datasets/mnist``.

The first directory holding the test set is used. If none does, the files are
downloaded into the cache from ``origin`` (argument, else ``GRAPHNET_MNIST_ORIGIN``,
else Google's storage mirror of the LeCun files; ``file://`` URLs work too) and
checked against the official MD5 sums.

When a directory holds only the test files (as on the project's machines, where the
60,000-image training set is absent), ``load_data`` returns an empty ``(0, 28, 28)``
training set and the test set. ``load_split`` gives the project's standard split of the
10,000 test images instead: the first 8,000 to train on, the last 2,000 held out.
"""
import gzip
import os
import warnings

import numpy as np

from . import download as _cache

# Keras itself downloads one ``mnist.npz``; the IDX files live on the Google storage
# mirror of yann.lecun.com that TensorFlow's MNIST tutorials used.
DEFAULT_ORIGIN = "https://storage.googleapis.com/cvdf-datasets/mnist/"

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
TRAIN_FILES = (TRAIN_IMAGES, TRAIN_LABELS)
TEST_FILES = (TEST_IMAGES, TEST_LABELS)

# MD5 sums of the official gzipped files (yann.lecun.com/exdb/mnist).
MD5 = {
    TRAIN_IMAGES + ".gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    TRAIN_LABELS + ".gz": "d53e105ee54ea40749a09fcbcd1e9432",
    TEST_IMAGES + ".gz": "9fb629c4189551a2d022fa330f9573f3",
    TEST_LABELS + ".gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

IMAGE_SHAPE = (28, 28)
_IDX_UBYTE = 0x08


class MNISTFileError(_cache.DatasetFileError):
    """An MNIST file is truncated, corrupted or fails its checksum."""


# -- where to look -----------------------------------------------------------------
def _checkout_dir():
    """``../shared/data/mnist`` relative to the root of the checkout holding graphnet."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.dirname(package)
    return os.path.join(os.path.dirname(root), "shared", "data", "mnist")


def cache_dir():
    """Where downloads go: ``$GRAPHNET_HOME/datasets/mnist`` or ``~/.graphnet/...``."""
    return _cache.cache_dir("mnist")


def candidate_dirs(path=None):
    """The (description, directory) pairs searched, in order."""
    places = []
    if path is not None:
        places.append(("path argument", os.fspath(path)))
    env = os.environ.get("GRAPHNET_MNIST_DIR")
    if env:
        places.append(("GRAPHNET_MNIST_DIR", env))
    places.append(("source checkout", _checkout_dir()))
    places.append(("cache", cache_dir()))
    return places


def _find(directory, stem):
    """The path of ``stem`` or ``stem.gz`` in ``directory``, or None."""
    for name in (stem + ".gz", stem):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def _find_all(directory, stems):
    found = [_find(directory, s) for s in stems]
    return found if all(found) else None


# -- reading IDX files -----------------------------------------------------------------
def _read_bytes(filename):
    try:
        if filename.endswith(".gz"):
            with gzip.open(filename, "rb") as f:
                return f.read()
        with open(filename, "rb") as f:
            return f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise MNISTFileError(f"MNIST file {filename} cannot be read (truncated or "
                             f"corrupted gzip data?): {e}") from e


def read_idx(filename, expected_ndim):
    """The uint8 array in IDX file ``filename`` (gzipped if it ends in ``.gz``).

    Checks the magic number (unsigned bytes, ``expected_ndim`` dimensions) and that the
    data is exactly as long as the header says."""
    data = _read_bytes(filename)
    header = 4 + 4 * expected_ndim
    if len(data) < header:
        raise MNISTFileError(f"MNIST file {filename} is truncated: {len(data)} bytes, "
                             f"shorter than its {header}-byte IDX header")
    magic = data[:4]
    if magic[0] != 0 or magic[1] != 0 or magic[2] != _IDX_UBYTE or magic[3] != expected_ndim:
        raise MNISTFileError(
            f"MNIST file {filename} is not an IDX file of unsigned bytes with "
            f"{expected_ndim} dimension(s): magic number 0x{magic.hex()}, expected "
            f"0x0000{_IDX_UBYTE:02x}{expected_ndim:02x}")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(expected_ndim))
    size = int(np.prod(dims))
    if len(data) - header != size:
        what = "truncated" if len(data) - header < size else "longer than its header says"
        raise MNISTFileError(f"MNIST file {filename} is {what}: header shape {dims} needs "
                             f"{size} data bytes, found {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def load_pair(images_file, labels_file):
    """The (images, labels) of two IDX files (MNIST's layout: 28 x 28 images, digits)."""
    x = read_idx(images_file, 3)
    y = read_idx(labels_file, 1)
    if x.shape[1:] != IMAGE_SHAPE:
        raise MNISTFileError(f"MNIST file {images_file}: images are {x.shape[1:]}, "
                             f"expected {IMAGE_SHAPE}")
    if x.shape[0] != y.shape[0]:
        raise MNISTFileError(f"MNIST files {images_file} and {labels_file} disagree: "
                             f"{x.shape[0]} images but {y.shape[0]} labels")
    if y.size and y.max() > 9:
        raise MNISTFileError(f"MNIST file {labels_file}: label {int(y.max())} is not a "
                             "digit")
    return x, y


def _empty():
    return np.zeros((0,) + IMAGE_SHAPE, np.uint8), np.zeros((0,), np.uint8)


# -- downloading -----------------------------------------------------------------------
def md5sum(filename):
    return _cache.file_digest(filename, "md5")


def download(name, directory, origin=None):
    """Fetch ``name`` (one of the official ``.gz`` files) from ``origin`` into
    ``directory`` and verify its MD5 sum; returns the file's path.

    A mismatch deletes the file and raises ``MNISTFileError``; a failed transfer
    raises ``OSError`` (``urllib.error.URLError``)."""
    if name not in MD5:
        raise ValueError(f"unknown MNIST file {name!r}; expected one of {sorted(MD5)}")
    return _cache.fetch(name, origin or DEFAULT_ORIGIN, directory, MD5[name], "md5",
                        "MNIST download", MNISTFileError)


def _download_all(directory, origin):
    """Download the test files (required) and the training files (optional)."""
    for stem in TEST_FILES:
        download(stem + ".gz", directory, origin)
    try:
        for stem in TRAIN_FILES:
            download(stem + ".gz", directory, origin)
    except OSError as e:
        warnings.warn(f"MNIST training files could not be downloaded ({e}); "
                      "returning an empty training set", stacklevel=3)


# -- the API --------------------------------------------------------------------------
def load_data(path=None, origin=None, download=True):
    """Loads the MNIST dataset, as ``keras.datasets.mnist.load_data``.

    Args:
        path: directory holding the IDX files (gzipped or not); searched first.
        origin: base URL to download from when no directory has the files
            (default: ``GRAPHNET_MNIST_ORIGIN`` or ``DEFAULT_ORIGIN``).
        download: whether to download when the files are found nowhere.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes
        ``(n, 28, 28)`` and ``(n,)``. Where the training files are absent the
        training arrays are empty (``n = 0``); see ``load_split``.
    """
    places = candidate_dirs(path)
    for _, directory in places:
        test_files = _find_all(directory, TEST_FILES)
        if test_files:
            return _load_directory(directory, test_files)
    origin = origin or os.environ.get("GRAPHNET_MNIST_ORIGIN") or DEFAULT_ORIGIN
    looked = "\n".join(f"  - {desc}: {d}" for desc, d in places)
    wanted = ", ".join(f"{s}[.gz]" for s in TEST_FILES)
    if not download:
        raise FileNotFoundError(f"MNIST files ({wanted}) not found; looked in:\n{looked}\n"
                                "and downloading is off")
    try:
        _download_all(cache_dir(), origin)
    except OSError as e:
        raise FileNotFoundError(
            f"MNIST files ({wanted}) not found; looked in:\n{looked}\nand the download "
            f"from {origin} failed: {e}\nPut the files in one of these directories or set "
            "GRAPHNET_MNIST_DIR.") from e
    return _load_directory(cache_dir(), _find_all(cache_dir(), TEST_FILES))


def _load_directory(directory, test_files):
    test = load_pair(*test_files)
    train_files = _find_all(directory, TRAIN_FILES)
    train = load_pair(*train_files) if train_files else _empty()
    return train, test


def load_split(n_train=8000, path=None, origin=None, download=True):
    """The project's standard split of the 10,000 MNIST test images.

    The 60,000-image training set is not available on the project's machines, so
    examples and tests train on the first ``n_train`` test images and hold out the
    rest (by default 8,000 and 2,000). Returns ``(x_train, y_train), (x_held, y_held)``.
    """
    _, (x, y) = load_data(path, origin=origin, download=download)
    if not 0 <= n_train <= len(x):
        raise ValueError(f"load_split: n_train must be in [0, {len(x)}], got {n_train}")
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
