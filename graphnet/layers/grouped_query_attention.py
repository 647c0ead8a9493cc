"""GroupedQueryAttention (``gn.layers.GroupQueryAttention``) as Keras 3 has it: query heads
share key and value heads in groups (Ainslie et al., 2023).

Its masks, scores, dropout and call are MultiHeadAttention's: only the projections differ
(Keras's equations ``bqm,muh->bquh`` for the query, ``bkm,mvh->bkvh`` for key and value,
``bquh,uhm->bqm`` for the output), and the key and value heads are repeated to the query's
count before the attention, as Keras does, so the fused attention kernel serves it."""
from .. import ops
from ..engine.base_layer import Layer
from .attention import MultiHeadAttention


class GroupedQueryAttention(MultiHeadAttention):
    """Grouped-query attention: ``num_query_heads`` query heads, ``num_key_value_heads`` key
    and value heads, query head ``u`` reading key / value head ``u // (num_query_heads /
    num_key_value_heads)``. One key / value head is multi-query attention; as many as the
    query's is multi-head attention.

    Args:
        head_dim: size of each attention head.
        num_query_heads: number of query heads.
        num_key_value_heads: number of key and value heads; must divide num_query_heads.
        dropout: dropout rate on the attention scores.
        use_bias: whether the projections have biases.
        sliding_window: when set, each query attends only keys within
            ``sliding_window - 1`` positions of its own.
        flash_attention: None or False (graphnet picks its fused kernel itself).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, bias_constraint: for every projection.
        use_gate: a sigmoid gate (its own projection of the query) on the heads' outputs.
        seed: the dropout's seed.

    Call arguments:
        query: ``(B, T, dim)``; value: ``(B, S, dim)``; key: ``(B, S, key_dim)`` (None:
        value). attention_mask, return_attention_scores, training, use_causal_mask and the
        inputs' Keras masks as MultiHeadAttention's.

    Output shape:
        ``(B, T, dim)``; the scores, when asked for, ``(B, num_query_heads, T, S)``.

    Weights (Keras's order): query kernel ``(dim, num_query_heads, head_dim)`` and bias
    ``(num_query_heads, head_dim)``, key and value kernels ``(dim, num_key_value_heads,
    head_dim)`` and biases, the output kernel ``(num_query_heads, head_dim, dim)`` and bias
    ``(dim,)``; the gate's (as the query's) after the key's when ``use_gate``.
    """

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0,
                 use_bias=True, sliding_window=None, flash_attention=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None,
                 **kwargs):
        what = "GroupedQueryAttention" + (f" '{kwargs['name']}'" if kwargs.get("name") else "")
        for arg, value in [("head_dim", head_dim), ("num_query_heads", num_query_heads),
                           ("num_key_value_heads", num_key_value_heads)]:
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{what}: {arg} must be a positive "
                                 f"integer, got {arg}={value!r}")
        # MultiHeadAttention's own arguments, which Keras's GroupQueryAttention lacks
        foreign = sorted(set(kwargs) & {"num_heads", "key_dim", "value_dim", "output_shape",
                                        "attention_axes"})
        if foreign:
            raise TypeError(f"{what}: unexpected keyword argument(s) {', '.join(foreign)}")
        if num_query_heads % num_key_value_heads:
            raise ValueError(f"{what}: num_query_heads must be "
                             f"divisible by num_key_value_heads, got num_query_heads="
                             f"{num_query_heads} and num_key_value_heads={num_key_value_heads}")
        super().__init__(num_query_heads, head_dim, dropout=dropout, use_bias=use_bias,
                         sliding_window=sliding_window, flash_attention=flash_attention,
                         kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         use_gate=use_gate, seed=seed, **kwargs)
        self.head_dim = head_dim
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.num_repeats = num_query_heads // num_key_value_heads

    def _shapes(self, query_shape, value_shape, key_shape):
        query_shape, value_shape, key_shape = super()._shapes(query_shape, value_shape,
                                                              key_shape)
        if len(query_shape) != 3 or len(key_shape) != 3:
            raise ValueError(f"GroupedQueryAttention '{self.name}': query, value and key "
                             f"must be 3-D (batch, length, features), got query_shape="
                             f"{query_shape}, value_shape={value_shape}, key_shape={key_shape}")
        if query_shape[-1] != value_shape[-1]:
            raise ValueError(f"GroupedQueryAttention '{self.name}': the last dimension of "
                             f"query_shape and value_shape must be equal, got "
                             f"{query_shape[-1]} and {value_shape[-1]}: query_shape="
                             f"{query_shape}, value_shape={value_shape}")
        return query_shape, value_shape, key_shape

    def build(self, query_shape, value_shape=None, key_shape=None):
        query_shape, value_shape, key_shape = self._shapes(query_shape, value_shape, key_shape)
        query_heads = (None, self.num_query_heads, self.head_dim)
        kv_heads = (None, self.num_key_value_heads, self.head_dim)
        self._query_dense = self._dense("bqm,muh->bquh", query_heads, "uh", "query")
        self._query_dense.build(query_shape)
        self._key_dense = self._dense("bkm,mvh->bkvh", kv_heads, "vh", "key")
        self._key_dense.build(key_shape)
        if self.use_gate:
            self._gate_dense = self._dense("bqm,muh->bquh", query_heads, "uh", "gate",
                                           "sigmoid")
            self._gate_dense.build(query_shape)
        self._value_dense = self._dense("bkm,mvh->bkvh", kv_heads, "vh", "value")
        self._value_dense.build(value_shape)
        self._build_attention(4)
        self._output_dense = self._dense("bquh,uhm->bqm", (None, query_shape[-1]),
                                         "m", "attention_output")
        self._output_dense.build((None, None, self.num_query_heads, self.head_dim))
        self.built = True

    def _compute_attention(self, query, key, value, attention_mask, training,
                           return_attention_scores):
        """MultiHeadAttention's attention over the key and value heads repeated to the
        query's (Keras's ``ops.repeat(..., num_repeats, axis=2)``)."""
        if self.num_repeats > 1:
            key = ops.repeat(key, self.num_repeats, axis=2)
            value = ops.repeat(value, self.num_repeats, axis=2)
        return super()._compute_attention(query, key, value, attention_mask, training,
                                          return_attention_scores)

    def get_config(self):
        config = Layer.get_config(self)
        config.update({
            "head_dim": self.head_dim, "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads, "use_bias": self.use_bias,
            "use_gate": self.use_gate, "sliding_window": self.sliding_window,
            "dropout": self.dropout, "seed": self.seed})
        mha = super().get_config()
        for key in ("kernel_initializer", "bias_initializer", "kernel_regularizer",
                    "bias_regularizer", "activity_regularizer", "kernel_constraint",
                    "bias_constraint"):
            config[key] = mha[key]
        return config


GroupQueryAttention = GroupedQueryAttention
