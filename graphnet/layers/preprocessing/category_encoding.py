"""CategoryEncoding, and the numpy encoding of integer ids into one-hot / multi-hot / count
vectors that the lookup, hashing and text layers share (Keras's
``numerical_utils.encode_categorical_inputs``)."""
import numpy as np

from ... import ops
from .data_layer import DataLayer, as_array, check_choice, check_not_sparse

ENCODINGS = ("one_hot", "multi_hot", "count")


def encode_rows(rows, depth, output_mode, dtype, weights=None):
    """``(len(rows), depth)`` multi-hot or count vectors of ``rows`` (1-D integer arrays,
    of any lengths); ids outside ``[0, depth)`` (negative, or a lookup's mask) count for
    nothing. ``weights`` (rows alike) weigh each id's count."""
    out = np.zeros((len(rows), depth), dtype="float64")
    for i, row in enumerate(rows):
        row = np.asarray(row, dtype="int64").reshape(-1)
        keep = (row >= 0) & (row < depth)
        w = None if weights is None else np.asarray(weights[i], "float64").reshape(-1)[keep]
        out[i] = np.bincount(row[keep], weights=w, minlength=depth)[:depth]
    if output_mode == "multi_hot":
        out = np.minimum(out, 1)
    return out.astype(dtype)


def encode_categorical(ids, output_mode, depth, dtype, count_weights=None):
    """``ids`` (an integer array) encoded as Keras 3 does: "one_hot" adds an axis of size
    ``depth`` (replacing a last axis of 1); "multi_hot" and "count" turn the last axis
    into one of size ``depth`` (inputs of rank 0 to 2); "int" casts."""
    ids = np.asarray(ids)
    if output_mode == "int":
        return ids.astype(dtype)
    if ids.ndim == 0:
        ids = ids[None]
    if output_mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = ids[..., 0]
        flat = encode_rows(ids.reshape(-1, 1), depth, "count", dtype)
        return flat.reshape(ids.shape + (depth,))
    if ids.ndim > 2:
        raise ValueError(f"When output_mode is not `'int'`, maximum supported output rank is "
                         f"2. Received output_mode {output_mode} and input shape "
                         f"{ids.shape}, which would result in output rank {ids.ndim + 1}.")
    rows = ids if ids.ndim == 2 else ids[None]
    weights = None
    if count_weights is not None:
        weights = np.broadcast_to(np.asarray(count_weights), ids.shape).reshape(rows.shape)
    out = encode_rows(rows, depth, output_mode, dtype, weights)
    return out if ids.ndim == 2 else out[0]


def encode_symbolic(ids, output_mode, depth, dtype, where):
    """``encode_categorical`` on a symbolic integer tensor, through ``gn.ops`` (ids outside
    ``[0, depth)`` encode as zeros)."""
    if ids.ndim == 0:
        ids = ops.expand_dims(ids, -1)
    if output_mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = ops.squeeze(ids, -1)
        return ops.one_hot(ids, depth, dtype=dtype)
    if ids.ndim > 2:
        raise ValueError(f"{where}: output_mode {output_mode!r} takes inputs of rank 1 or 2, "
                         f"got shape {ids.shape}")
    reduce = ops.max if output_mode == "multi_hot" else ops.sum
    return reduce(ops.one_hot(ids, depth, dtype=dtype), axis=ids.ndim - 1)


class CategoryEncoding(DataLayer):
    """Encodes integer features as one-hot, multi-hot or count vectors
    (``keras.layers.CategoryEncoding``).

    Args:
        num_tokens: the number of ids; inputs must lie in ``[0, num_tokens)``.
        output_mode: "multi_hot" (default; "binary" is its old name), "one_hot" or
            "count".
        sparse: must be False (sparse outputs need TensorFlow).

    Call arguments:
        inputs: integer ids of rank 0 to 2 (any rank for "one_hot").
        count_weights: weights of each id in "count" mode, shaped like ``inputs`` (on
            data only).

    Input shape: ``(batch_size, ...)`` integers.

    Output shape: "one_hot": ``inputs.shape + (num_tokens,)`` (a last axis of 1 replaced);
    otherwise ``inputs.shape[:-1] + (num_tokens,)``.

    Called on data it runs in numpy and an id outside the range is an error; called on a
    symbolic integer tensor inside a model it runs compiled, through ``gn.ops`` (an id out
    of range, unseen until run time, then encodes as zeros).
    """

    runs_in_graph = True

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        self.output_mode = check_choice(self.name, "output_mode", output_mode, ENCODINGS)
        if num_tokens is None:
            raise ValueError("num_tokens must be set to use this layer. If the number of "
                             "tokens is not known beforehand, use the IntegerLookup layer "
                             "instead.")
        if not isinstance(num_tokens, (int, np.integer)) or num_tokens < 1:
            raise ValueError(f"`num_tokens` must be >= 1. Received: num_tokens={num_tokens!r}.")
        check_not_sparse(self.name, sparse)
        self.num_tokens = int(num_tokens)
        self.sparse = False

    def _check_weights(self, count_weights):
        if count_weights is not None and self.output_mode != "count":
            raise ValueError("`count_weights` is not used when `output_mode` is not "
                             f"`'count'`. Received `count_weights={count_weights}`.")

    def call_on_data(self, inputs, count_weights=None):
        self._check_weights(count_weights)
        ids = as_array(inputs, f"CategoryEncoding '{self.name}' inputs")
        if ids.dtype.kind not in "iub" and not (ids.dtype.kind == "f" and
                                                np.all(ids == np.round(ids))):
            raise TypeError(f"CategoryEncoding '{self.name}' expects integer ids, got dtype "
                            f"{ids.dtype}")
        if ids.size and ids.max() >= self.num_tokens:
            raise ValueError(f"CategoryEncoding '{self.name}': input values must be in the "
                             f"range 0 <= values < num_tokens with num_tokens="
                             f"{self.num_tokens}; got a value of {ids.max()}")
        return encode_categorical(ids.astype("int64"), self.output_mode, self.num_tokens,
                                  self.dtype, count_weights)

    def call(self, inputs, count_weights=None):
        if count_weights is not None:
            raise ValueError(f"CategoryEncoding '{self.name}': `count_weights` is supported "
                             "on data, not inside a model (a model's inputs are only those "
                             "its layers take as `inputs`)")
        return encode_symbolic(inputs, self.output_mode, self.num_tokens, self.dtype,
                               f"CategoryEncoding '{self.name}'")

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if not input_shape:
            return (self.num_tokens,)
        if self.output_mode == "one_hot" and (input_shape[-1] != 1 or len(input_shape) == 1):
            return input_shape + (self.num_tokens,)
        return input_shape[:-1] + (self.num_tokens,)

    def get_config(self):
        config = super().get_config()
        config.update(num_tokens=self.num_tokens, output_mode=self.output_mode,
                      sparse=self.sparse)
        return config
