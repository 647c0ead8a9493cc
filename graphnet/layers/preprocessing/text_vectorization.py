"""TextVectorization: strings to token indices or vectors, with Keras 3's arguments and
TensorFlow's text rules (ASCII lowercasing, its punctuation class, splitting on ASCII
whitespace or into Unicode characters, n-grams joined by spaces), computed in numpy."""
import re
import string

import numpy as np

from .data_layer import DataLayer, as_array, check_choice, check_not_sparse
from .index_lookup import LOOKUP_MODES, adapt_batches
from .lookups import StringLookup

STANDARDIZERS = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLITTERS = ("whitespace", "character")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


def _elementwise(fn, text):
    return np.array([fn(t) for t in text.reshape(-1).tolist()], dtype=str).reshape(text.shape)


def standardized(text, standardize):
    """``text`` (a numpy str array) lowercased (ASCII letters only, as tf.strings.lower)
    and/or stripped of punctuation, or passed to the callable ``standardize``."""
    if standardize is None:
        return text
    if callable(standardize):
        out = as_array(standardize(text), "the output of `standardize`")
        if out.dtype.kind != "U" or out.shape != text.shape:
            raise ValueError(f"`standardize` must return strings of the shape it was given, "
                             f"{text.shape}; it returned dtype {out.dtype} and shape "
                             f"{out.shape}")
        return out
    if standardize in ("lower", "lower_and_strip_punctuation"):
        text = _elementwise(lambda t: t.translate(_ASCII_LOWER), text)
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = _elementwise(lambda t: _PUNCTUATION.sub("", t), text)
    return text


def split_rows(text, split):
    """One list of tokens per string of the 1-D array ``text``."""
    if split == "whitespace":
        return [[t for t in _WHITESPACE.split(s) if t] for s in text.tolist()]
    if split == "character":
        return [list(s) for s in text.tolist()]
    rows = [list(as_array(r, "a row of `split`'s output").reshape(-1).tolist())
            for r in split(text)]
    if len(rows) != len(text):
        raise ValueError(f"`split` must return one sequence of tokens per string: given "
                         f"{len(text)} strings it returned {len(rows)} sequences")
    return rows


def ngram_rows(rows, widths):
    """Each row's n-grams of every width in ``widths``, width by width (tf.strings.ngrams
    with separator " ")."""
    return [[" ".join(row[i:i + n]) for n in widths for i in range(len(row) - n + 1)]
            for row in rows]


def _serialize_callable(fn):
    if fn is None or isinstance(fn, str):
        return fn
    name = getattr(fn, "__name__", type(fn).__name__)
    return {"class_name": "function", "config": name, "registered_name": name}


def _deserialize_callable(value, argument, custom_objects):
    if not isinstance(value, dict):
        return value
    name = value.get("registered_name") or value.get("config")
    if not custom_objects or name not in custom_objects:
        raise ValueError(f"TextVectorization: `{argument}` is the function {name!r}, which a "
                         "config cannot hold as data: pass it in custom_objects="
                         f"{{{name!r}: ...}}")
    return custom_objects[name]


class TextVectorization(DataLayer):
    """Turns strings into sequences of token indices or into token vectors
    (``keras.layers.TextVectorization``).

    Each string is standardized, split into tokens, grouped into n-grams, then looked up
    in a vocabulary (index 0 is padding, 1 the OOV token "[UNK]", then the tokens by
    descending frequency in the data ``adapt`` saw).

    Args:
        max_tokens: the vocabulary's largest size (padding and OOV included), or None.
        standardize: "lower_and_strip_punctuation" (default), "lower",
            "strip_punctuation", None, or a callable taking and returning a numpy array of
            strings.
        split: "whitespace" (default), "character", None (the input is already tokens along
            its last axis), or a callable taking a 1-D numpy array of strings and returning
            one sequence of tokens per string.
        ngrams: None, an int ``n`` (all n-grams up to ``n``) or a tuple of widths.
        output_mode: "int", "multi_hot", "count", "tf_idf" (or "one_hot").
        output_sequence_length: in "int" mode, pad or truncate every sequence to this
            length (else to the batch's longest).
        pad_to_max_tokens: in the vector modes, output ``max_tokens`` slots.
        vocabulary: a list of strings, or a text file of one per line.
        idf_weights: with "tf_idf" and ``vocabulary``, one weight per token.
        sparse, ragged: must be False (they need TensorFlow).
        encoding: the text encoding of byte-string inputs.

    Input shape: ``(batch_size,)`` or ``(batch_size, 1)`` strings (with a ``split``), or
    ``(batch_size, ...)`` tokens (``split=None``).

    Output shape: ``(batch_size, sequence_length)`` int64 indices, or
    ``(batch_size, vocabulary_size)`` float32 vectors.

    It runs on data (numpy, lists, torch tensors), before the model or in a
    ``gn.utils.PyDataset``; its vocabulary is saved in its config.
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int",
                 output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None,
                 has_input_vocabulary=None, vocabulary_size=None, **kwargs):
        kwargs.pop("dtype", None)  # the outputs' dtypes are the lookup's, as in Keras
        super().__init__(name=name, dtype="float32", **kwargs)
        check_not_sparse(self.name, sparse, ragged)
        if not (standardize is None or callable(standardize)):
            check_choice(self.name, "standardize", standardize, STANDARDIZERS)
        if not (split is None or callable(split)):
            check_choice(self.name, "split", split, SPLITTERS)
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        check_choice(self.name, "output_mode", output_mode, LOOKUP_MODES)
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (ngrams is None or (isinstance(ngrams, int) and ngrams > 0) or
                (isinstance(ngrams, tuple) and ngrams and
                 all(isinstance(n, int) and n > 0 for n in ngrams))):
            raise ValueError(f"`ngrams` must be None, an integer, or a tuple of integers. "
                             f"Received: ngrams={ngrams}")
        if output_mode == "int" and not (output_sequence_length is None or (
                isinstance(output_sequence_length, int) and output_sequence_length >= 0)):
            raise ValueError("`output_sequence_length` must be either None or an integer "
                             "when `output_mode` is 'int'. Received: "
                             f"output_sequence_length={output_sequence_length}")
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError("`output_sequence_length` must not be set if `output_mode` is "
                             "not 'int'. Received output_sequence_length="
                             f"{output_sequence_length}.")
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self._output_mode = output_mode
        self._output_sequence_length = output_sequence_length
        self._encoding = encoding
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
            encoding=encoding, has_input_vocabulary=has_input_vocabulary,
            vocabulary_size=vocabulary_size)

    # -- text to tokens ---------------------------------------------------------------
    def _rows(self, inputs):
        """``(lead_shape, rows)``: the token lists of the inputs and the shape they lie in."""
        text = as_array(inputs, f"TextVectorization '{self.name}' inputs", self._encoding)
        if text.size == 0:  # an empty list: no dtype to check
            text = text.astype(str)
        if text.dtype.kind != "U":
            raise TypeError(f"TextVectorization '{self.name}' expects strings, got dtype "
                            f"{text.dtype}")
        text = standardized(text, self._standardize)
        if self._split is not None:
            if text.ndim > 1:
                if text.shape[-1] != 1:
                    raise ValueError(
                        "When using `TextVectorization` to tokenize strings, the input rank "
                        "must be 1 or the last shape dimension must be 1. Received: "
                        f"inputs.shape={text.shape} with rank={text.ndim}")
                text = text[..., 0]
            lead, rows = text.shape, split_rows(text.reshape(-1), self._split)
        else:
            text = text.reshape(1) if text.ndim == 0 else text
            lead, rows = text.shape[:-1], text.reshape(-1, text.shape[-1]).tolist()
        if self._ngrams is not None:
            rows = ngram_rows(rows, self._ngrams)
        return lead, rows

    def call_on_data(self, inputs):
        lead, rows = self._rows(inputs)
        lengths = [len(r) for r in rows]
        flat = [t for r in rows for t in r]
        ids = np.split(self._lookup_layer.lookup_tokens(flat), np.cumsum(lengths)[:-1]) \
            if rows else []
        if self._output_mode != "int":
            out = self._lookup_layer.encode(None, rows=ids)
            return out.reshape(lead + out.shape[-1:])
        length = self._output_sequence_length
        if length is None:
            length = max(lengths, default=0)
        out = np.zeros((len(rows), length), dtype="int64")
        for i, row in enumerate(ids):
            kept = row[:length]
            out[i, :len(kept)] = kept
        return out.reshape(lead + (length,))

    # -- the vocabulary ---------------------------------------------------------------
    def adapt(self, data, batch_size=None, steps=None):
        """Learns the vocabulary (and idf weights) from ``data``: an array or list of
        strings (read ``batch_size`` at a time when given), or an iterable of batches
        (a generator, a PyDataset, ...), read for at most ``steps`` batches."""
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"`batch_size` must be None or a positive integer, got "
                             f"batch_size={batch_size!r}")
        lookup = self._lookup_layer
        lookup.reset_state()
        batches = adapt_batches(data, steps, f"TextVectorization '{self.name}' adapt data")
        if batch_size is not None and len(batches) == 1 and isinstance(batches[0], np.ndarray):
            batches = [batches[0][i:i + batch_size] for i in range(0, len(batches[0]),
                                                                   batch_size)]
        seen = 0
        for batch in batches:
            seen += lookup.count_rows(self._rows(batch)[1])
        if not seen:
            raise ValueError(f"Layer '{self.name}' (TextVectorization) cannot adapt on an "
                             "empty dataset: the data held no tokens")
        lookup.finalize_state()

    def update_state(self, data):
        return self._lookup_layer.count_rows(self._rows(data)[1])

    def finalize_state(self):
        self._lookup_layer.finalize_state()

    def reset_state(self):
        self._lookup_layer.reset_state()

    def get_vocabulary(self, include_special_tokens=True):
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    @property
    def idf_weights(self):
        return self._lookup_layer.idf_weights

    def compute_output_shape(self, input_shape):
        if self._output_mode == "int":
            return (input_shape[0], self._output_sequence_length)
        return (input_shape[0], self._lookup_layer.depth())

    def get_config(self):
        lookup = self._lookup_layer.get_config()
        config = super().get_config()
        config.pop("dtype")
        config.update(max_tokens=lookup["max_tokens"],
                      standardize=_serialize_callable(self._standardize),
                      split=_serialize_callable(self._split), ngrams=self._ngrams_arg,
                      output_mode=self._output_mode,
                      output_sequence_length=self._output_sequence_length,
                      pad_to_max_tokens=lookup["pad_to_max_tokens"], sparse=False,
                      ragged=False, vocabulary=lookup["vocabulary"],
                      idf_weights=lookup["idf_weights"], encoding=self._encoding,
                      vocabulary_size=lookup["vocabulary_size"],
                      has_input_vocabulary=lookup["has_input_vocabulary"])
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for argument in ("standardize", "split"):
            config[argument] = _deserialize_callable(config.get(argument), argument,
                                                     custom_objects)
        return cls(**config)
