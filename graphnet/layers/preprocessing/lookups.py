"""StringLookup and IntegerLookup: Keras 3's vocabulary layers over ``IndexLookup``."""
import numpy as np

from ... import ops
from .category_encoding import encode_symbolic
from .index_lookup import IndexLookup


class StringLookup(IndexLookup):
    """Maps strings to integer indices through a vocabulary (``keras.layers.StringLookup``).

    Args:
        max_tokens: the largest number of indices (special ones included), or None.
        num_oov_indices: how many indices out-of-vocabulary strings share (hashed into
            them when more than one).
        mask_token: a string mapped to index 0 in "int" mode (and counted nowhere in the
            others), or None.
        oov_token: the token an unknown index inverts to ("[UNK]").
        vocabulary: a list/array of strings or a text file of one per line; else ``adapt``.
        idf_weights: with ``output_mode="tf_idf"``, one weight per vocabulary token.
        invert: map indices back to strings.
        output_mode: "int", "one_hot", "multi_hot", "count" or "tf_idf".
        pad_to_max_tokens: encode into ``max_tokens`` slots whatever the vocabulary's size.
        sparse: must be False (sparse outputs need TensorFlow).
        encoding: the text encoding of byte-string inputs.
        salt: keys SipHash for the OOV hashing (an int or a pair), instead of FarmHash64.

    Input shape: strings of any shape (bytes decoded with ``encoding``).

    Output shape: indices (int64) of the input's shape, or encoded vectors (float32) as
    ``CategoryEncoding`` makes them with ``vocabulary_size()`` tokens.

    It runs on data only (strings cannot enter a compiled model).
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", name=None, salt=None,
                 **kwargs):
        self.encoding = encoding
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, name=name,
                         salt=salt, vocabulary_dtype="string", **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["vocabulary_dtype"]
        config["encoding"] = self.encoding
        return config


class IntegerLookup(IndexLookup):
    """Maps integers to contiguous indices through a vocabulary
    (``keras.layers.IntegerLookup``).

    Args:
        max_tokens, num_oov_indices, vocabulary, idf_weights, invert, output_mode,
            pad_to_max_tokens, sparse: as for ``StringLookup``.
        mask_token: an integer mapped to index 0 in "int" mode, or None.
        oov_token: the integer an unknown index inverts to (-1).
        vocabulary_dtype: "int64" (the only one Keras supports).
        oov_method: "floormod" (an OOV value ``v`` goes to OOV index ``v % num_oov_indices``)
            or "farmhash" (its decimal string hashed, keyed by ``salt`` if given).
        salt: with ``oov_method="farmhash"``, keys SipHash (an int or a pair).

    Input shape: integers of any shape (float inputs are refused).

    Output shape: indices (int64) of the input's shape (the vocabulary's integers with
    ``invert``), or encoded vectors (float32).

    It runs on data, and also inside a model on symbolic integer tensors (compiled through
    ``gn.ops``: each id compared with the vocabulary as it is when the layer is called)
    when it has a vocabulary, does not invert, and sends OOV ids to one index or by
    "floormod".
    """

    runs_in_graph = True

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False,
                 oov_method="floormod", salt=None, name=None, **kwargs):
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError("If `max_tokens` is set for `IntegerLookup`, it must be greater "
                             f"than 1. Received: max_tokens={max_tokens}")
        if vocabulary_dtype != "int64":
            raise ValueError("Only `vocabulary_dtype='int64'` is supported at this time. "
                             f"Received: vocabulary_dtype={vocabulary_dtype}")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         vocabulary_dtype=vocabulary_dtype, idf_weights=idf_weights,
                         invert=invert, output_mode=output_mode, sparse=sparse,
                         pad_to_max_tokens=pad_to_max_tokens, oov_method=oov_method,
                         salt=salt, name=name, **kwargs)

    def call(self, inputs):
        where = f"IntegerLookup '{self.name}'"
        if self.invert or not self._tokens or self.num_oov_indices == 0 or (
                self.num_oov_indices > 1 and self.oov_method == "farmhash"):
            raise ValueError(f"{where} runs inside a model only with a vocabulary, "
                             "invert=False, and num_oov_indices=1 or oov_method='floormod' "
                             f"(got {len(self._tokens)} tokens, invert={self.invert}, "
                             f"num_oov_indices={self.num_oov_indices}, oov_method="
                             f"{self.oov_method!r}); call it on the data instead")
        if not inputs.dtype.startswith(("int", "uint")):
            raise TypeError(f"{where} expects integer inputs, got dtype {inputs.dtype}")
        x = ops.cast(inputs, "int64")
        start = self._token_start_index()
        matches = ops.equal(ops.expand_dims(x, -1), np.array(self._tokens, "int64"))
        index = ops.sum(ops.multiply(ops.cast(matches, "int64"),
                                     np.arange(start, start + len(self._tokens))), axis=-1)
        oov = np.int64(self._oov_start_index())
        if self.num_oov_indices > 1:
            oov = ops.add(ops.mod(x, np.int64(self.num_oov_indices)), oov)
        ids = ops.where(ops.any(matches, axis=-1), index, oov)
        if self.mask_token is not None:
            ids = ops.where(ops.equal(x, np.int64(self.mask_token)),
                            np.int64(0 if self.output_mode == "int" else -1), ids)
        if self.output_mode == "int":
            return ops.cast(ids, self.dtype)
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        out = encode_symbolic(ids, mode, self.depth(), self.dtype, where)
        return ops.multiply(out, self.idf_weights) if self.output_mode == "tf_idf" else out
