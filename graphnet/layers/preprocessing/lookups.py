"""StringLookup and IntegerLookup: Keras 3's vocabulary layers over ``IndexLookup``."""
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

    It runs on data only.
    """

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
