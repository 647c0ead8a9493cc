"""The California Housing regression data set, as ``keras.datasets.california_housing``:
20,640 census block groups of 1990 with 8 features (MedInc, HouseAge, AveRooms,
AveBedrms, Population, AveOccup, Latitude, Longitude), targets the median house values
in dollars.

Keras's ``california_housing.npz`` is downloaded on the first call into
``$GRAPHNET_HOME/datasets/`` (``~/.graphnet/datasets/``) and checked against Keras's
SHA-256.
"""
from . import keras_files, word_sequences

DATA_FILE = "california_housing.npz"
SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"
VERSIONS = {"small": 600, "large": None}   # how many of the samples each version keeps


def load_data(version="large", path=DATA_FILE, test_split=0.2, seed=113, origin=None):
    """Loads the California Housing data set (Keras 3's arguments and results).

    Args:
        version: "large" (all 20,640 samples) or "small" (the first 600, a stand-in for
            ``boston_housing``).
        path, test_split, seed: as in ``gn.datasets.boston_housing.load_data``.
        origin: the base URL to download from (default: Keras's, or
            ``GRAPHNET_CALIFORNIA_HOUSING_ORIGIN``); a local directory works too.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: arrays of shapes ``(n, 8)`` and
        ``(n,)`` of the file's dtype.
    """
    keras_files.check_test_split(test_split)
    if version not in VERSIONS:
        raise ValueError(f"Argument `version` must be one of 'small', 'large', got "
                         f"version={version!r}")
    arrays = word_sequences.load_npz(keras_files.fetch(
        "california_housing", DATA_FILE, keras_files.KERAS_ORIGIN, SHA256, origin,
        fname=path, hash_algorithm="sha256"), ("x", "y"))
    keep = VERSIONS[version]
    return keras_files.shuffled_split(arrays["x"][:keep], arrays["y"][:keep], test_split,
                                      seed)
