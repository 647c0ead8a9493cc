"""Hashing: strings or integers to bins by a stable hash, Keras 3's numbers exactly (FarmHash
``Fingerprint64``, or SipHash-2-4 with a salt, as TensorFlow computes them)."""
import numpy as np

from .category_encoding import encode_categorical
from .data_layer import DataLayer, as_array, check_choice, check_not_sparse
from .fingerprints import fingerprint64, siphash24

HASHING_MODES = ("int", "one_hot", "multi_hot", "count")


def salt_pair(salt, where):
    """Keras's salt: None, an int (used twice) or a pair of ints."""
    if salt is None:
        return None
    if isinstance(salt, (tuple, list)) and len(salt) == 2 and \
            all(isinstance(s, (int, np.integer)) for s in salt):
        return [int(s) for s in salt]
    if isinstance(salt, (int, np.integer)) and not isinstance(salt, bool):
        return [int(salt), int(salt)]
    raise ValueError(f"The `salt` argument for `{where}` can only be a tuple of size 2 "
                     f"integers, or a single integer. Received: salt={salt}.")


def as_hash_strings(values):
    """The strings TensorFlow hashes for ``values``: strings themselves, integers in
    decimal, floats truncated to integers first, booleans as "true"/"false"."""
    if values.dtype.kind == "U":
        return values
    if values.dtype.kind == "b":
        return np.where(values, "true", "false")
    if values.dtype.kind == "f":
        values = values.astype("int64")
    if values.dtype.kind not in "iu":
        raise TypeError(f"cannot hash values of dtype {values.dtype}")
    return values.astype(str)


def equals(values, value):
    """Where the array ``values`` holds ``value`` (never where one is a string and the
    other is not)."""
    if isinstance(value, (str, bytes)) != (values.dtype.kind == "U"):
        return np.zeros(values.shape, dtype=bool)
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return np.asarray(values == value)


def hash_buckets(strings, num_buckets, salt=None):
    """``hash(s) % num_buckets`` for each string of the array ``strings`` (Fingerprint64,
    or SipHash-2-4 keyed by ``salt``), as an int64 array of the same shape."""
    unique, inverse = np.unique(strings.reshape(-1), return_inverse=True)
    if salt is None:
        hashes = [fingerprint64(s.encode("utf-8")) for s in unique.tolist()]
    else:
        hashes = [siphash24(salt, s.encode("utf-8")) for s in unique.tolist()]
    buckets = np.array([h % num_buckets for h in hashes], dtype="int64")
    return buckets[inverse].reshape(strings.shape)


class Hashing(DataLayer):
    """Hashes and bins categorical features (``keras.layers.Hashing``).

    Args:
        num_bins: the number of bins, the ``mask_value`` bin included.
        mask_value: a value mapped to bin 0 (the others then hash into ``1..num_bins-1``).
        salt: None (FarmHash64), or an int or pair of ints keying SipHash-2-4.
        output_mode: "int" (bin indices), "one_hot", "multi_hot" or "count".
        sparse: must be False (sparse outputs need TensorFlow).

    Input shape: strings or integers (floats are truncated to integers), any shape.

    Output shape: as the input ("int", int64), or encoded as ``CategoryEncoding`` does
    with ``num_bins`` tokens (float32).

    It runs on data only: a hash of strings cannot be part of a compiled model.
    """

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else "float32"
        super().__init__(**kwargs)
        if num_bins is None or not isinstance(num_bins, (int, np.integer)) or num_bins <= 0:
            raise ValueError("The `num_bins` for `Hashing` cannot be `None` or non-positive "
                             f"values. Received: num_bins={num_bins}.")
        self.output_mode = check_choice(self.name, "output_mode", output_mode, HASHING_MODES)
        if output_mode == "int" and self.dtype not in ("int32", "int64"):
            raise ValueError("When `output_mode=\"int\"`, `dtype` should be an integer type, "
                             f"'int32' or 'int64'. Received: dtype={self.dtype}")
        if sparse and output_mode == "int":
            raise ValueError("`sparse` may only be true if `output_mode` is `\"one_hot\"`, "
                             f"`\"multi_hot\"`, or `\"count\"`. Received: sparse={sparse} and "
                             f"output_mode={output_mode}")
        check_not_sparse(self.name, sparse)
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.salt = salt_pair(salt, "Hashing")
        self.strong_hash = self.salt is not None
        self.sparse = False

    def call_on_data(self, inputs):
        values = as_array(inputs, f"Hashing '{self.name}' inputs")
        if self.output_mode == "one_hot" and values.ndim and values.shape[-1] == 1:
            values = values[..., 0]
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask = equals(values, self.mask_value)
        ids = hash_buckets(as_hash_strings(values), bins, self.salt)
        if mask is not None:
            ids = np.where(mask, 0, ids + 1)
        return encode_categorical(ids, self.output_mode, self.num_bins, self.dtype)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        if len(input_shape) == 0:
            return (self.num_bins,)
        return tuple(input_shape[:-1]) + (self.num_bins,)

    def get_config(self):
        config = super().get_config()
        config.update(num_bins=self.num_bins, salt=self.salt, mask_value=self.mask_value,
                      output_mode=self.output_mode, sparse=self.sparse)
        return config
