"""MultiHeadAttention as Keras 3 has it: EinsumDense projections with kernels
``(d, heads, key_dim)``, attention over any axes, masks from the inputs, an explicit
mask, a causal or sliding-window mask, dropout on the scores, and the output projection.

The scores are einsum products, a masked softmax and einsum again (unfused); with no
dropout, no scores asked for and 4-D projections, the attention is
``gn.ops.dot_product_attention``'s, as Keras routes it."""
import math
import string

import numpy as np

from .. import constraints, initializers, ops, regularizers
from ..engine.base_layer import Layer
from ..ops.attention import causal_mask, dot_product_attention
from .activations import Softmax
from .core import Dropout
from .einsum_dense import EinsumDense


def _letter(i):
    return string.ascii_lowercase[i]


def build_attention_equation(rank, attn_axes):
    """Keras's (dot-product equation, combine equation, scores rank) for projected
    tensors of ``rank``: (batch dims, attention dims, heads, channels)."""
    target = "".join(_letter(i) for i in range(rank))
    batch_dims = [i for i in range(rank) if i not in attn_axes and i != rank - 1]
    source, offset = "", rank
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += _letter(offset)
            offset += 1
    product = "".join([target[i] for i in batch_dims] + [target[i] for i in attn_axes] +
                      [source[i] for i in attn_axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def build_proj_equation(free_dims, bound_dims, output_dims):
    """Keras's projection equation, its bias axes and its output rank."""
    free = "".join(_letter(i) for i in range(free_dims))
    bound = "".join(_letter(free_dims + i) for i in range(bound_dims))
    out = "".join(_letter(free_dims + bound_dims + i) for i in range(output_dims))
    return f"{free}{bound},{bound}{out}->{free}{out}", out, len(free + out)


def _output_shape(rank, last_dims):
    return [None] * (rank - len(last_dims)) + list(last_dims)


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al.), Keras 3's layer.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value (None: key_dim).
        dropout: dropout rate on the attention scores.
        use_bias: whether the projections have biases.
        output_shape: the output's last dims (None: the query's last dim).
        attention_axes: axes attention runs over (None: every axis between the batch and
            the features).
        sliding_window: when set, each query attends only keys within
            ``sliding_window - 1`` positions of its own.
        flash_attention: None or False (graphnet has no fused kernel to ask for).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, bias_constraint: for every projection.
        use_gate: a sigmoid gate (its own projection of the query) on the heads' outputs.
        seed: the dropout's seed.

    Call arguments:
        query: ``(B, T, dim)``; value: ``(B, S, dim)``; key: ``(B, S, dim)`` (None: value).
        attention_mask: booleans ``(B, T, S)`` (broadcasting), False leaves a key out.
        return_attention_scores: also return the scores ``(B, heads, T, S)``.
        training: whether dropout runs.
        use_causal_mask: leave out every key after the query's own position.
        The inputs' Keras masks (query, value, key) are applied as Keras does.

    Output shape:
        ``(B, T, E)``, E the query's last dim unless ``output_shape`` says.

    Weights: query kernel ``(dim, heads, key_dim)`` and bias ``(heads, key_dim)``, the
    same for key and value, then the output kernel ``(heads, value_dim, dim)`` and bias.
    """

    supports_masking = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        for arg, value, none_ok in [("num_heads", num_heads, False), ("key_dim", key_dim, False),
                                    ("value_dim", value_dim, True),
                                    ("sliding_window", sliding_window, True)]:
            if not (value is None and none_ok) and (
                    not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise ValueError(f"{type(self).__name__} '{self.name}': {arg} must be a positive "
                                 f"integer{' or None' if none_ok else ''}, got {arg}={value!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{type(self).__name__} '{self.name}': dropout must be in [0, 1), "
                             f"got {dropout!r}")
        if flash_attention:
            raise ValueError(f"{type(self).__name__} '{self.name}': flash_attention=True is not "
                             "available in graphnet; pass None or False")
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes is not None and not isinstance(attention_axes, (list, tuple)):
            raise ValueError(f"{type(self).__name__} '{self.name}': attention_axes must be an "
                             f"int, list, or tuple, got {attention_axes!r}")
        if output_shape is not None:
            output_shape = (output_shape,) if isinstance(output_shape, int) \
                else tuple(output_shape)
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim or key_dim
        self.dropout, self.use_bias, self.use_gate = float(dropout), use_bias, use_gate
        self._output_shape = output_shape
        self.attention_axes = None if attention_axes is None else tuple(attention_axes)
        self.sliding_window, self.seed = sliding_window, seed
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.sublayer_activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._scores_returned = False

    # -- the (query, value, key) call as one list of inputs ---------------------------------
    def __call__(self, query, value=None, key=None, attention_mask=None, **kwargs):
        """``layer(query, value, key=None, attention_mask=None, ...)`` as Keras's; the
        tensors travel as one input list [query, value, key (value when None),
        attention_mask (when given)] so the model sees every one of them."""
        if value is None and isinstance(query, (list, tuple)):
            inputs = list(query)    # a saved call, read back
        else:
            if value is None:
                raise ValueError(f"{type(self).__name__} '{self.name}': needs a query and a value")
            inputs = [query, value, value if key is None else key]
            if attention_mask is not None:
                inputs.append(attention_mask)
        return super().__call__(inputs, **kwargs)

    def _shapes(self, query_shape, value_shape, key_shape):
        if value_shape is None and isinstance(query_shape, list) and \
                isinstance(query_shape[0], (list, tuple)):
            query_shape, value_shape, key_shape = (list(query_shape) + [None])[:3]
        key_shape = value_shape if key_shape is None else key_shape
        query_shape, value_shape, key_shape = (tuple(s) for s in (query_shape, value_shape,
                                                                   key_shape))
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(f"{type(self).__name__} '{self.name}': all dimensions of `value` and "
                             "`key`, except the last one, must be equal. Received: "
                             f"value_shape={value_shape} and key_shape={key_shape}")
        if len(query_shape) != len(value_shape):
            raise ValueError(f"{type(self).__name__} '{self.name}': query and value must have "
                             f"the same rank, got query_shape={query_shape} and "
                             f"value_shape={value_shape}")
        return query_shape, value_shape, key_shape

    def _dense(self, equation, output_shape, bias_axes, name, activation=None):
        return EinsumDense(
            equation, output_shape=output_shape, activation=activation,
            bias_axes=bias_axes if self.use_bias else None, name=name,
            kernel_initializer=type(self.kernel_initializer).from_config(
                self.kernel_initializer.get_config()),
            bias_initializer=type(self.bias_initializer).from_config(
                self.bias_initializer.get_config()),
            kernel_regularizer=self.kernel_regularizer, bias_regularizer=self.bias_regularizer,
            activity_regularizer=self.sublayer_activity_regularizer,
            kernel_constraint=self.kernel_constraint, bias_constraint=self.bias_constraint)

    def build(self, query_shape, value_shape=None, key_shape=None):
        query_shape, value_shape, key_shape = self._shapes(query_shape, value_shape, key_shape)
        rank = len(query_shape)
        eq, bias_axes, out_rank = build_proj_equation(rank - 1, 1, 2)
        heads_k = _output_shape(out_rank - 1, [self.num_heads, self.key_dim])
        heads_v = _output_shape(out_rank - 1, [self.num_heads, self.value_dim])
        self._query_dense = self._dense(eq, heads_k, bias_axes, "query")
        self._query_dense.build(query_shape)
        self._key_dense = self._dense(eq, heads_k, bias_axes, "key")
        self._key_dense.build(key_shape)
        if self.use_gate:
            self._gate_dense = self._dense(eq, heads_v, bias_axes, "gate", "sigmoid")
            self._gate_dense.build(query_shape)
        self._value_dense = self._dense(eq, heads_v, bias_axes, "value")
        self._value_dense.build(value_shape)
        self._build_attention(out_rank)
        out_shape = self._output_shape or (query_shape[-1],)
        eq, bias_axes, out_rank = build_proj_equation(rank - 1, 2, len(out_shape))
        self._output_dense = self._dense(eq, _output_shape(out_rank - 1, out_shape), bias_axes,
                                         "attention_output")
        projected = list(self._query_dense.compute_output_shape(query_shape))
        projected[-1] = self.value_dim
        self._output_dense.build(tuple(projected))
        self.built = True

    def _build_attention(self, rank):
        if self.attention_axes is None:
            axes = tuple(range(1, rank - 2))
        else:
            axes = tuple(a if a >= 0 else (rank - 1) + a for a in self.attention_axes)
        bad = [a for a in axes if not 1 <= a < rank - 2]
        if bad or not axes:
            raise ValueError(f"{type(self).__name__} '{self.name}': attention_axes "
                             f"{self.attention_axes} must be axes between the batch and the "
                             f"features of the rank-{rank - 1} inputs")
        self._attention_axes = axes
        self._dot_product_equation, self._combine_equation, scores_rank = \
            build_attention_equation(rank, axes)
        norm_axes = tuple(range(scores_rank - len(axes), scores_rank))
        self._softmax = Softmax(axis=list(norm_axes) if len(norm_axes) > 1 else norm_axes[0])
        self._dropout_layer = Dropout(rate=self.dropout, seed=self.seed)

    @property
    def query_dense(self):
        return self._query_dense

    @property
    def key_dense(self):
        return self._key_dense

    @property
    def value_dense(self):
        return self._value_dense

    @property
    def output_dense(self):
        return self._output_dense

    # -- calling ----------------------------------------------------------------------
    def call(self, inputs, mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False):
        query, value, key = inputs[:3]
        attention_mask = inputs[3] if len(inputs) > 3 else None
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
        query_mask, value_mask, key_mask = (masks + [None, None, None])[:3]
        self._scores_returned = bool(return_attention_scores)
        attention_mask = self._attention_mask(query, value, query_mask, value_mask, key_mask,
                                              attention_mask, use_causal_mask)
        gate = self._gate_dense(query) if self.use_gate else None
        query = self._query_dense(query)
        key = self._key_dense(key)
        value = self._value_dense(value)
        output, scores = self._compute_attention(query, key, value, attention_mask, training,
                                                 return_attention_scores)
        if gate is not None:
            output = ops.multiply(output, gate)
        output = self._output_dense(output)
        return (output, scores) if return_attention_scores else output

    def compute_mask(self, inputs, mask=None):
        query_mask = mask[0] if isinstance(mask, (list, tuple)) else None
        if query_mask is None:
            return None
        return [query_mask, None] if self._scores_returned else query_mask

    def _attention_mask(self, query, value, query_mask, value_mask, key_mask, attention_mask,
                        use_causal_mask):
        """Keras's merge of the inputs' masks, the causal / sliding-window mask and the
        explicit mask into one boolean (B, T, S) mask, or None."""
        parts = []
        if query_mask is not None:
            parts.append(ops.expand_dims(_as_bool(query_mask), -1))
        for m in (value_mask, key_mask):
            if m is not None:
                parts.append(ops.expand_dims(_as_bool(m), -2))
        lengths = (query.shape[1], value.shape[1])
        if use_causal_mask:
            parts.append(causal_mask(*lengths, what=f"{type(self).__name__} '{self.name}'")[None])
        if self.sliding_window is not None:
            parts.append(self._window_mask(*lengths))
        if attention_mask is not None:
            parts.insert(0, _as_bool(attention_mask))
        if not parts:
            return None
        merged = parts[0]
        for p in parts[1:]:
            merged = ops.logical_and(merged, p)
        return ops.convert_to_tensor(merged)

    def _window_mask(self, q_len, v_len):
        if q_len is None or v_len is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': sliding_window needs known "
                             f"query and value lengths, got {q_len} and {v_len}")
        rows, cols = np.arange(q_len)[:, None], np.arange(v_len)[None, :]
        return (np.abs(rows - cols) < self.sliding_window)[None]

    def _check_mask(self, mask, scores_shape):
        """Refuse a mask that does not broadcast to the scores' (B, ..., T, S) axes."""
        rank = len(scores_shape)
        shape = tuple(mask.shape)
        expanded = shape[:1] + (1,) * (rank - len(shape)) + shape[1:] \
            if len(shape) < rank else shape
        if len(shape) > rank or any(
                m is not None and s is not None and m not in (1, s)
                for m, s in zip(expanded, scores_shape)):
            raise ValueError(f"{type(self).__name__} '{self.name}': the attention mask of shape "
                             f"{shape} does not broadcast to the attention scores' shape "
                             f"{tuple(scores_shape)} (B, heads, T, S)")

    def _compute_attention(self, query, key, value, attention_mask, training,
                           return_attention_scores):
        n_axes = len(self._attention_axes)
        if self.dropout == 0.0 and not return_attention_scores and query.ndim == 4:
            if attention_mask is not None:
                target = (query.shape[0], self.num_heads, query.shape[1], key.shape[1])
                self._check_mask(attention_mask, target)
                for _ in range(4 - attention_mask.ndim):
                    attention_mask = ops.expand_dims(attention_mask, -n_axes * 2 - 1)
            out = dot_product_attention(query, key, value, mask=attention_mask,
                                        scale=1.0 / math.sqrt(float(self.key_dim)))
            return out, None
        query = ops.multiply(query, 1.0 / math.sqrt(float(self.key_dim)))
        scores = ops.einsum(self._dot_product_equation, key, query)
        if attention_mask is not None:
            self._check_mask(attention_mask, scores.shape)
            for _ in range(scores.ndim - attention_mask.ndim):
                attention_mask = ops.expand_dims(attention_mask, -n_axes * 2 - 1)
        scores = self._softmax(scores, mask=attention_mask)
        dropped = self._dropout_layer(scores, training=training) if self.dropout > 0.0 \
            else scores
        return ops.einsum(self._combine_equation, dropped, value), scores

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        query_shape, _, _ = self._shapes(query_shape, value_shape, key_shape)
        if self._output_shape:
            return query_shape[:-1] + self._output_shape
        return query_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads, "key_dim": self.key_dim, "value_dim": self.value_dim,
            "dropout": self.dropout, "use_bias": self.use_bias, "use_gate": self.use_gate,
            "output_shape": self._output_shape, "attention_axes": self.attention_axes,
            "sliding_window": self.sliding_window,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.sublayer_activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "seed": self.seed})
        return config


def _as_bool(mask):
    mask = ops.convert_to_tensor(mask)
    return mask if mask.dtype == "bool" else ops.cast(mask, "bool")
