"""Attention (Luong's dot-product attention) and AdditiveAttention (Bahdanau's), Keras 3's
layers: a query sequence attends a value sequence with no projections, scores from the
query and the key (the value unless given), masks from the inputs, a causal mask and
dropout on the attention distribution."""
from .. import ops
from ..engine.base_layer import Layer
from ..ops.attention import causal_mask

#: what Keras subtracts from the scores of left-out keys (float32; 65504 for float16)
_PADDING_PENALTY = 1.0e9


class Attention(Layer):
    """Dot-product attention: ``softmax(scores) @ value`` with ``scores`` the products of
    the query and key vectors (``score_mode="dot"``) or the sum of ``tanh(query + key)``
    over the features (``"concat"``).

    Args:
        use_scale: a trainable scalar ``scale`` multiplies the scores (with "concat", the
            sum's terms: ``tanh(scale * (query + key))``).
        score_mode: "dot" or "concat" ("concat" adds the trainable scalar
            ``concat_score_weight`` multiplying the scores).
        dropout: fraction of the attention distribution dropped while training.
        seed: the dropout's seed.

    Call arguments:
        inputs: ``[query, value]`` or ``[query, value, key]``: ``(B, Tq, dim)``,
            ``(B, Tv, dim_v)`` and ``(B, Tv, dim)``.
        mask: ``[query_mask, value_mask]`` (the inputs' Keras masks unless given):
            ``(B, Tq)`` zeroes the outputs of left-out queries, ``(B, Tv)`` leaves values
            out of the distribution. The key's mask is not read (as in Keras).
        return_attention_scores: also return the distribution ``(B, Tq, Tv)`` (after
            dropout, as Keras returns it).
        training: whether dropout runs.
        use_causal_mask: query ``i`` attends no value after position ``i``.

    Output shape:
        ``(B, Tq, dim_v)``; the mask is the query's.

    Weights: ``scale`` ``()`` when ``use_scale``, then ``concat_score_weight`` ``()`` with
    "concat".
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"{self._label()}: score_mode must be one of 'dot', 'concat', "
                             f"got score_mode={score_mode!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{self._label()}: dropout must be in [0, 1), got "
                             f"dropout={dropout!r}")
        self.use_scale, self.score_mode = bool(use_scale), score_mode
        self.dropout, self.seed = float(dropout), seed
        self._scores_returned = False

    def __call__(self, inputs, *args, **kwargs):
        """Keras's ``mask=[query_mask, value_mask]`` also serves ``[query, value, key]``
        (the key's mask is not read): it is completed with None for the key."""
        mask = kwargs.get("mask")
        if isinstance(inputs, (list, tuple)) and len(inputs) == 3 and \
                isinstance(mask, (list, tuple)) and len(mask) == 2:
            kwargs["mask"] = list(mask) + [None]
        return super().__call__(inputs, *args, **kwargs)

    def _label(self):
        return f"{type(self).__name__} '{self.name}'"

    def _check_inputs(self, shapes):
        """Refuse anything but [query, value(, key)] shapes that fit one another; return
        (query, value, key) shapes."""
        if not isinstance(shapes, (list, tuple)) or not shapes or \
                not isinstance(shapes[0], (list, tuple)) or not 2 <= len(shapes) <= 3:
            raise ValueError(f"{self._label()}: must be called on a list of inputs, [query, "
                             f"value] or [query, value, key], got {shapes!r}")
        query, value = tuple(shapes[0]), tuple(shapes[1])
        key = tuple(shapes[2]) if len(shapes) == 3 else value
        if len(query) < 3 or len({len(query), len(value), len(key)}) != 1:
            raise ValueError(f"{self._label()}: query, value and key must have one rank, at "
                             f"least 3 (batch, length, features), got query {query}, value "
                             f"{value}, key {key}")
        if not _fits(key[-2], value[-2]):
            raise ValueError(f"{self._label()}: key and value must have the same length, got "
                             f"key {key} and value {value}")
        if not _fits(query[-1], key[-1]):
            raise ValueError(f"{self._label()}: query and key must have the same last "
                             f"dimension, got query {query} and key {key}")
        return query, value, key

    def build(self, input_shape):
        self._check_inputs(input_shape)
        self.scale = self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight(shape=(), name="scale", initializer="ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(shape=(), name="concat_score_weight",
                                                       initializer="ones")
        self.built = True

    def _calculate_scores(self, query, key):
        """(B, Tq, Tv) scores of every query against every key."""
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -2, -1))
            return scores if self.scale is None else ops.multiply(scores, self.scale)
        summed = ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3))
        if self.scale is not None:
            summed = ops.multiply(self.scale, summed)
        return ops.multiply(self.concat_score_weight, ops.sum(ops.tanh(summed), axis=-1))

    def call(self, inputs, mask=None, training=None, return_attention_scores=False,
             use_causal_mask=False):
        query, value, key = self._inputs(inputs)
        query_mask, value_mask = self._masks(mask, query, value)
        self._scores_returned = bool(return_attention_scores)
        scores = self._calculate_scores(query, key)
        scores_mask = value_mask
        if use_causal_mask:
            causal = causal_mask(scores.shape[-2], scores.shape[-1], what=self._label())[None]
            scores_mask = causal if value_mask is None else \
                ops.logical_and(ops.expand_dims(value_mask, -2), causal)
        if scores_mask is not None:
            padding = ops.logical_not(ops.convert_to_tensor(scores_mask))
            if padding.ndim == 2:
                padding = ops.expand_dims(padding, -2)
            scores = ops.where(padding, ops.subtract(scores, _PADDING_PENALTY), scores)
        weights = ops.softmax(scores, axis=-1)
        if self.dropout > 0.0 and training is not False:
            dropped = ops.dropout(weights, self.dropout, seed=self.seed)
            weights = ops.in_train_phase(dropped, weights, training=training)
        output = ops.matmul(weights, value)
        if query_mask is not None:
            output = ops.where(ops.expand_dims(query_mask, -1), output, 0.0)
        return (output, weights) if return_attention_scores else output

    def _inputs(self, inputs):
        self._check_inputs([tuple(t.shape) for t in inputs] if isinstance(inputs, (list, tuple))
                           else inputs)
        return inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else inputs[1]

    def _masks(self, mask, query, value):
        """(query mask, value mask) as booleans, each (B, length) of its input."""
        if mask is None:
            return None, None
        if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3:
            raise ValueError(f"{self._label()}: mask must be a list [query_mask, value_mask], "
                             f"got {mask!r}")
        out = []
        for what, m, x in (("query_mask", mask[0], query), ("value_mask", mask[1], value)):
            if m is not None:
                m = ops.convert_to_tensor(m)
                want = tuple(x.shape[:-1])
                if m.ndim != len(want) or not all(map(_fits, m.shape, want)):
                    raise ValueError(f"{self._label()}: {what} must have the shape {want} of "
                                     f"its input's leading axes, got {tuple(m.shape)}")
                m = m if m.dtype == "bool" else ops.cast(m, "bool")
            out.append(m)
        return out

    def compute_mask(self, inputs, mask=None):
        if not isinstance(mask, (list, tuple)) or mask[0] is None:
            return None
        return [mask[0], None] if self._scores_returned else mask[0]

    def get_config(self):
        config = super().get_config()
        config.update({"use_scale": self.use_scale, "score_mode": self.score_mode,
                       "dropout": self.dropout, "seed": self.seed})
        return config


class AdditiveAttention(Attention):
    """Additive attention: scores ``sum(scale * tanh(query + key))`` over the features,
    then Attention's masks, softmax, dropout and product with the value.

    Args:
        use_scale: a trainable ``scale`` vector ``(dim,)`` (glorot-uniform) weighs the
            features of the sum (default True).
        dropout: fraction of the attention distribution dropped while training.
        seed: the dropout's seed.

    Call arguments, output shape: as Attention's.

    Weights: ``scale`` ``(dim,)`` when ``use_scale``.
    """

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, seed=seed, **kwargs)

    def build(self, input_shape):
        query, _, _ = self._check_inputs(input_shape)
        if query[-1] is None:
            raise ValueError(f"{self._label()}: the query's last dimension must be known, got "
                             f"query shape {query}")
        self.scale = None
        if self.use_scale:
            self.scale = self.add_weight(shape=(query[-1],), name="scale",
                                         initializer="glorot_uniform")
        self.built = True

    def _calculate_scores(self, query, key):
        terms = ops.tanh(ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3)))
        if self.scale is not None:
            terms = ops.multiply(self.scale, terms)
        return ops.sum(terms, axis=-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config


def _fits(a, b):
    return a is None or b is None or a == b
