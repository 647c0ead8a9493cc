"""The Boston Housing regression data set, as ``keras.datasets.boston_housing``: 506
samples of 13 attributes of Boston suburbs in the 1970s, targets the median home values
in k$. (Keras warns of its ethical problem, a variable "B" built on an assumption about
race; prefer ``california_housing``.)

Keras's ``boston_housing.npz`` is downloaded on the first call into
``$GRAPHNET_HOME/datasets/`` (``~/.graphnet/datasets/``) and checked against Keras's
SHA-256.
"""
from . import keras_files, word_sequences

DATA_FILE = "boston_housing.npz"
SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path=DATA_FILE, test_split=0.2, seed=113, origin=None):
    """Loads the Boston Housing data set (Keras 3's arguments and results).

    Args:
        path: the file's name in the cache.
        test_split: the fraction of the (shuffled) samples held out, in [0, 1).
        seed: the seed of the shuffle before the split.
        origin: the base URL to download from (default: Keras's, or
            ``GRAPHNET_BOSTON_HOUSING_ORIGIN``); a local directory works too.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float64 arrays of shapes ``(n, 13)``
        and ``(n,)``.
    """
    keras_files.check_test_split(test_split)
    arrays = word_sequences.load_npz(keras_files.fetch(
        "boston_housing", DATA_FILE, keras_files.KERAS_ORIGIN, SHA256, origin, fname=path,
        hash_algorithm="sha256"), ("x", "y"))
    return keras_files.shuffled_split(arrays["x"], arrays["y"], test_split, seed)
