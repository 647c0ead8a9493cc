"""IndexLookup: the vocabulary table StringLookup, IntegerLookup and TextVectorization share,
in numpy, with Keras 3's rules (keras/src/layers/preprocessing/index_lookup.py): index 0 the
mask token (in "int" mode, when there is one), then the OOV indices, then the vocabulary by
descending frequency (ties by descending token); OOV inputs hashed (FarmHash64 / SipHash) or
taken modulo into the OOV indices; tf-idf weights ``log(1 + documents / (1 + df))``.

The vocabulary and the idf weights are the layer's config (plain lists): an adapted layer
saves and loads as data, with nothing else to restore.
"""
import collections
import itertools
import os

import numpy as np

from .category_encoding import encode_categorical, encode_rows
from .data_layer import DataLayer, as_array, check_choice, check_not_sparse
from .hashing import as_hash_strings, hash_buckets, salt_pair

LOOKUP_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def adapt_batches(data, steps, what):
    """The batches ``adapt`` reads: an array or list is one batch (a rank-1 one as a
    column, each element its own document); any other iterable gives its batches."""
    if isinstance(data, (list, tuple, np.ndarray, str, bytes)) or hasattr(data, "__array__") \
            or not hasattr(data, "__iter__"):
        array = as_array(data, what)
        return [array[:, None] if array.ndim == 1 else array]
    return list(data if steps is None else itertools.islice(data, steps))


class IndexLookup(DataLayer):
    """Maps tokens to indices (or back, ``invert``) through a vocabulary; the base of
    ``StringLookup`` and ``IntegerLookup`` (their docstrings give the arguments)."""

    encoding = "utf-8"  # of byte-string inputs (StringLookup's argument)

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary_dtype,
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 sparse=False, pad_to_max_tokens=False, oov_method="floormod", salt=None,
                 has_input_vocabulary=None, vocabulary_size=None, **kwargs):
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if kwargs.get("dtype") is not None and invert:
            raise ValueError(f"{type(self).__name__}: `dtype` cannot be set with "
                             f"invert=True (the outputs are the vocabulary's tokens); got "
                             f"dtype={kwargs['dtype']!r}")
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else "float32"
        super().__init__(**kwargs)
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(f"If set, `max_tokens` must be greater than 1. Received: "
                             f"max_tokens={max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"If pad_to_max_tokens is True, must set `max_tokens`. "
                             f"Received: max_tokens={max_tokens}")
        if not isinstance(num_oov_indices, (int, np.integer)) or num_oov_indices < 0:
            raise ValueError(f"`num_oov_indices` must be greater than or equal to 0. "
                             f"Received: num_oov_indices={num_oov_indices}")
        check_choice(self.name, "oov_method", oov_method, ("floormod", "farmhash"))
        if salt is not None and vocabulary_dtype == "int64" and oov_method != "farmhash":
            raise ValueError(f"`salt` can only be used when `oov_method='farmhash'`. "
                             f"Received: oov_method={oov_method}")
        check_choice(self.name, "output_mode", output_mode, LOOKUP_MODES)
        if invert and output_mode != "int":
            raise ValueError(f"`output_mode` must be `'int'` when `invert` is true. "
                             f"Received: output_mode={output_mode}")
        check_not_sparse(self.name, sparse)
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"`idf_weights` should only be set if `output_mode` is "
                             f"`'tf_idf'`. Received: idf_weights={idf_weights} and "
                             f"output_mode={output_mode}")
        self.invert = bool(invert)
        self.max_tokens = max_tokens
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.output_mode = output_mode
        self.sparse = False
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.vocabulary_dtype = vocabulary_dtype
        self.oov_method = oov_method
        self.salt = salt_pair(salt, "IndexLookup")
        self._frozen_vocab_size = vocabulary_size
        self._has_input_vocabulary = (vocabulary is not None if has_input_vocabulary is None
                                      else bool(has_input_vocabulary))
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = self._read_vocabulary_file(vocabulary)
        self.input_vocabulary = None if vocabulary is None else list(self._tokens_of(
            vocabulary))
        self.input_idf_weights = None if idf_weights is None else \
            np.asarray(idf_weights, "float64").tolist()
        self.idf_weights = None
        self._tokens = []
        self._index = {}
        if output_mode == "tf_idf" and self._has_input_vocabulary and idf_weights is None:
            raise ValueError("When specifying the `vocabulary` argument, in TF-IDF output "
                             "mode, the `idf_weights` argument must also be provided.")
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        self.reset_state()

    # -- the vocabulary ---------------------------------------------------------------
    def _oov_start_index(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self):
        return self._oov_start_index() + self.num_oov_indices

    def _tokens_of(self, values):
        """``values`` as a list of Python tokens of the vocabulary's type."""
        array = as_array(values, f"{type(self).__name__} '{self.name}' vocabulary")
        if array.size == 0:
            return []
        if self.vocabulary_dtype == "string":
            if array.dtype.kind != "U":
                raise TypeError(f"{type(self).__name__} '{self.name}': the vocabulary must "
                                f"be strings, got dtype {array.dtype}")
        elif array.dtype.kind not in "iu":
            raise TypeError(f"{type(self).__name__} '{self.name}': the vocabulary must be "
                            f"integers, got dtype {array.dtype}")
        return array.reshape(-1).tolist()

    def _read_vocabulary_file(self, path):
        if not os.path.isfile(path):
            raise ValueError(f"Vocabulary file {path} does not exist.")
        if self.output_mode == "tf_idf":
            raise ValueError("output_mode `'tf_idf'` does not support loading a vocabulary "
                             "from file.")
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        return lines if self.vocabulary_dtype == "string" else [int(v) for v in lines]

    def vocabulary_size(self):
        """The number of indices: the special ones and the vocabulary's tokens."""
        return len(self._tokens) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens by index (with the mask and OOV tokens first, unless excluded)."""
        special = [self.oov_token] * self._token_start_index()
        if self.mask_token is not None and self.output_mode == "int":
            special[0] = self.mask_token
        if not include_special_tokens:
            return list(self._tokens)
        return special + list(self._tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Replaces the vocabulary (a list/array of tokens, with or without the special
        tokens in front, or a text file of one token per line) and in "tf_idf" mode its
        idf weights (one per token given)."""
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"`idf_weights` should only be set if output_mode is "
                             f"`'tf_idf'`. Received: output_mode={self.output_mode} and "
                             f"idf_weights={idf_weights}")
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = self._read_vocabulary_file(vocabulary)
        vocabulary = self._tokens_of(vocabulary)
        if not vocabulary:
            raise ValueError(f"Cannot set an empty vocabulary. Received: "
                             f"vocabulary={vocabulary}")
        token_start = self._token_start_index()
        special = [self.mask_token] * self._oov_start_index() + \
            [self.oov_token] * self.num_oov_indices
        found_special = vocabulary[:token_start] == special
        tokens = vocabulary[token_start:] if found_special else vocabulary
        self._check_tokens(tokens, special)
        weights = None
        if idf_weights is not None:
            weights = self._padded_idf(np.asarray(idf_weights, "float64"), len(vocabulary),
                                       0 if found_special else token_start)
        self._tokens = tokens
        self._index = {t: token_start + i for i, t in enumerate(tokens)}
        self.idf_weights = weights
        self._record_vocabulary_size()

    def _check_tokens(self, tokens, special):
        repeated = [t for t, n in collections.Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError("The passed vocabulary has at least one repeated term. Please "
                             f"uniquify your dataset. The repeated terms are: {repeated}")
        for token, what in ((self.mask_token, "mask_token"),
                            (self.oov_token if self.invert else None, "oov_token")):
            if token is not None and token in tokens:
                raise ValueError(
                    f"Found reserved {'mask' if what == 'mask_token' else 'OOV'} token at "
                    "unexpected location in `vocabulary`. Note that passed `vocabulary` does "
                    "not need to include the OOV and mask tokens. Either remove all mask and "
                    "OOV tokens, or include them only at the start of the vocabulary in "
                    f"precisely this order: {special}. Received: {what}={token} at "
                    f"vocabulary index {tokens.index(token)}")
        size = self._token_start_index() + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(f"Attempted to set a vocabulary larger than the maximum vocab "
                             f"size. Received vocabulary size is {size}; `max_tokens` is "
                             f"{self.max_tokens}.")

    def _padded_idf(self, weights, vocabulary_length, front):
        """The idf weights of every index: ``front`` special indices get their mean, the
        indices past the vocabulary up to ``max_tokens`` (``pad_to_max_tokens``) zero."""
        if weights.ndim != 1:
            raise ValueError(f"TF-IDF data must be a 1-index array. Received: idf_weights of "
                             f"shape {weights.shape}")
        if len(weights) != vocabulary_length:
            raise ValueError(f"`idf_weights` must be the same length as vocabulary. "
                             f"len(idf_weights) is {len(weights)}; len(vocabulary) is "
                             f"{vocabulary_length}")
        back = self.max_tokens - front - len(weights) if self.pad_to_max_tokens else 0
        return np.pad(weights, (front, back), constant_values=(np.average(weights), 0)
                      ).astype("float32")

    def _record_vocabulary_size(self):
        size = self.vocabulary_size()
        if self.output_mode != "int" and not self.pad_to_max_tokens and \
                self._frozen_vocab_size is not None and size != self._frozen_vocab_size:
            raise RuntimeError(f"When using `output_mode={self.output_mode}` and "
                               "`pad_to_max_tokens=False`, the vocabulary size cannot be "
                               f"changed after the layer is called. Old vocab size is "
                               f"{self._frozen_vocab_size}, new vocab size is {size}")
        self._frozen_vocab_size = size

    # -- adapt --------------------------------------------------------------------------
    def reset_state(self):
        self._token_counts = collections.Counter()
        self._document_counts = collections.Counter()
        self._num_documents = 0

    def adapt(self, data, steps=None):
        """Learns the vocabulary (and idf weights) from ``data``: an array or list of
        tokens, or an iterable of batches (a generator, a PyDataset, ...), read for at
        most ``steps`` batches."""
        self.reset_state()
        seen = 0
        for batch in adapt_batches(data, steps, f"{type(self).__name__}.adapt data"):
            seen += self.update_state(batch)
        if not seen:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) cannot adapt on "
                             "an empty dataset: the data held no tokens")
        self.finalize_state()

    def update_state(self, data):
        """Counts the tokens of one batch; returns how many it held."""
        keys = self._keys(data)
        if keys.ndim < 2:  # a lone sample or sequence is one document
            keys = keys.reshape(1, -1)
        return self.count_rows(list(keys.reshape(len(keys), int(np.prod(keys.shape[1:])))))

    def count_rows(self, rows):
        """Counts the tokens of ``rows`` (documents: sequences of tokens)."""
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static "
                             "vocabulary via `vocabulary` argument or `set_vocabulary()` "
                             "method.")
        total = 0
        for row in rows:
            row = list(np.asarray(row).tolist())
            self._token_counts.update(row)
            total += len(row)
            if self.output_mode == "tf_idf":
                self._document_counts.update(set(row))
        if self.output_mode == "tf_idf":
            self._num_documents += len(rows)
        return total

    def finalize_state(self):
        """Builds the vocabulary from the counts: by descending count, ties broken by
        descending token, at most ``max_tokens`` indices in all."""
        if self._has_input_vocabulary or not self._token_counts:
            self._record_vocabulary_size()
            return
        for special in (self.mask_token, self.oov_token):
            self._token_counts.pop(special, None)
        tokens = list(self._token_counts)
        counts = np.array([self._token_counts[t] for t in tokens], dtype="int64")
        order = np.lexsort((np.array(tokens), counts))[::-1]
        if self.max_tokens:
            order = order[:self.max_tokens - self._token_start_index()]
        tokens = [tokens[i] for i in order]
        token_start = self._token_start_index()
        if self.output_mode == "tf_idf":
            df = np.array([self._document_counts[t] for t in tokens], dtype="float64")
            idf = np.log(1 + self._num_documents / (1 + df)).astype("float32")
            self.idf_weights = self._padded_idf(idf, len(idf), token_start)
        self._tokens = tokens
        self._index = {t: token_start + i for i, t in enumerate(tokens)}
        self.reset_state()
        self._record_vocabulary_size()

    # -- lookups --------------------------------------------------------------------------
    def _keys(self, data):
        """``data`` as an array of the vocabulary's type, or a TypeError naming it."""
        keys = as_array(data, f"{type(self).__name__} '{self.name}' inputs", self.encoding)
        want_strings = self.vocabulary_dtype == "string" and not self.invert
        if keys.size == 0:  # an empty list: no dtype to check
            keys = keys.astype(str if want_strings else "int64")
        if want_strings and keys.dtype.kind != "U":
            raise TypeError(f"{type(self).__name__} '{self.name}' expects string inputs, got "
                            f"dtype {keys.dtype}")
        if not want_strings and keys.dtype.kind not in "iu":
            raise TypeError(f"{type(self).__name__} '{self.name}' expects integer inputs, "
                            f"got dtype {keys.dtype}")
        return keys if want_strings else keys.astype("int64")

    def lookup(self, keys):
        """The indices of ``keys`` (an array of tokens); the mask token's is 0 in "int"
        mode and -1 (counted nowhere) in the others."""
        return self.lookup_tokens(keys.reshape(-1).tolist()).reshape(keys.shape)

    def lookup_tokens(self, tokens):
        """``lookup`` of a flat list of Python tokens, as a 1-D int64 array."""
        get = self._index.get
        ids = np.fromiter((get(t, -1) for t in tokens), dtype="int64", count=len(tokens))
        missing = np.flatnonzero(ids < 0)
        if not missing.size:
            return ids
        absent = [tokens[i] for i in missing]
        masked = np.array([t == self.mask_token for t in absent], dtype=bool) \
            if self.mask_token is not None else np.zeros(len(absent), dtype=bool)
        if not masked.all():
            ids[missing[~masked]] = self._oov_indices(
                np.array([t for t, m in zip(absent, masked) if not m]))
        ids[missing[masked]] = 0 if self.output_mode == "int" else -1
        return ids

    def _oov_indices(self, keys):
        if self.num_oov_indices == 0:
            raise ValueError("When `num_oov_indices=0` all inputs should be in vocabulary, "
                             f"found OOV values {np.unique(keys).tolist()}, consider setting "
                             "`num_oov_indices=1`.")
        start = self._oov_start_index()
        if self.num_oov_indices == 1:
            return start
        if keys.dtype.kind in "iu" and self.oov_method != "farmhash":
            return np.mod(keys, self.num_oov_indices) + start
        return hash_buckets(as_hash_strings(keys), self.num_oov_indices, self.salt) + start

    def inverse_lookup(self, ids):
        """The tokens at the indices ``ids``; unknown indices give the OOV token, 0 the
        mask token (when there is one)."""
        unique, inverse = np.unique(ids.reshape(-1), return_inverse=True)
        start = self._token_start_index()
        tokens = [self._tokens[i - start] if start <= i < start + len(self._tokens) else
                  (self.mask_token if i == 0 and self.mask_token is not None else
                   self.oov_token) for i in unique.tolist()]
        return np.array(tokens)[inverse].reshape(ids.shape)

    def depth(self):
        if self.pad_to_max_tokens:
            return self.max_tokens
        if self._frozen_vocab_size is None:
            raise RuntimeError(f"When using `output_mode={self.output_mode}` and "
                               "`pad_to_max_tokens=False`, you must set the layer's vocabulary "
                               "before calling it. Either pass a `vocabulary` argument to the "
                               "layer, or call `adapt` with some sample data.")
        return self._frozen_vocab_size

    def encode(self, ids, rows=None):
        """The output of the indices ``ids`` (an array), or of ``rows`` (one array of
        indices per document, any lengths) in the multi-hot / count / tf-idf modes."""
        if self.output_mode == "int":
            return ids.astype(self.dtype)
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        if rows is not None:
            out = encode_rows(rows, self.depth(), mode, self.dtype)
        else:
            out = encode_categorical(ids, mode, self.depth(), self.dtype)
        if self.output_mode == "tf_idf":
            if self.idf_weights is None:
                raise ValueError("When `output_mode` is `'tf_idf'`, `idf_weights` must be "
                                 "provided: pass `idf_weights` with the vocabulary, or adapt "
                                 "the layer.")
            out = (out * self.idf_weights).astype(self.dtype)
        return out

    def call_on_data(self, inputs):
        keys = self._keys(inputs)
        if self.invert:
            return self.inverse_lookup(keys)
        return self.encode(self.lookup(keys))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        if self.output_mode == "one_hot" and not (len(input_shape) > 1 and
                                                  input_shape[-1] == 1):
            return input_shape + (self.depth(),)
        return input_shape[:-1] + (self.depth(),)

    # -- config ------------------------------------------------------------------------
    def get_config(self):
        """Keras's config; an adapted vocabulary (and its idf weights) is saved in it too,
        as lists, with ``has_input_vocabulary`` False so the loaded layer may adapt again."""
        vocabulary, idf = self.input_vocabulary, self.input_idf_weights
        if vocabulary is None and self._tokens:
            vocabulary = self.get_vocabulary()
            if self.idf_weights is not None:
                idf = self.idf_weights[:self.vocabulary_size()].astype("float64").tolist()
        config = super().get_config()
        config.update(invert=self.invert, max_tokens=self.max_tokens,
                      num_oov_indices=self.num_oov_indices, oov_token=self.oov_token,
                      mask_token=self.mask_token, output_mode=self.output_mode,
                      sparse=self.sparse, pad_to_max_tokens=self.pad_to_max_tokens,
                      vocabulary_dtype=self.vocabulary_dtype, idf_weights=idf,
                      vocabulary=vocabulary, vocabulary_size=self._frozen_vocab_size,
                      oov_method=self.oov_method, salt=self.salt,
                      has_input_vocabulary=self._has_input_vocabulary)
        if self.invert:
            config.pop("dtype")
        return config
