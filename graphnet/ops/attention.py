"""``dot_product_attention`` as ``keras.ops.nn.dot_product_attention`` computes it on the
torch backend (torch's scaled_dot_product_attention), composed of einsum products,
masks and a softmax, so its gradient and exports come from those primitives."""
import math

import numpy as np

from . import api
from .contract import einsum

__all__ = ["dot_product_attention"]

#: what Keras's torch backend adds to masked-out logits (0.7 x float32's largest)
MASKED_LOGIT = -0.7 * 3.38953e38


def _check_broadcast(name, shape, target):
    """Refuse ``shape`` unless it broadcasts (numpy's rules) to ``target``."""
    if len(shape) > len(target) or any(
            s is not None and t is not None and s not in (1, t)
            for s, t in zip(reversed(shape), reversed(target))):
        raise ValueError(f"dot_product_attention: {name} of shape {tuple(shape)} does not "
                         f"broadcast to the logits' shape (B, N, T, S) = {tuple(target)}")


def causal_mask(query_length, key_length, what="dot_product_attention"):
    """(T, S) booleans, True where query i may attend key j (j <= i)."""
    if query_length is None or key_length is None:
        raise ValueError(f"{what}: a causal mask needs known query and key lengths, got "
                         f"{query_length} and {key_length}")
    return np.tril(np.ones((query_length, key_length), dtype=bool))


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """softmax(scale * Q K^T + bias, masked) V over (B, T, N, H) queries and (B, S, K, H)
    keys and values; K may divide N (grouped-query attention: query head n reads key and
    value head n // (N / K)).

    Args:
        query: ``(B, T, N, H)``.
        key: ``(B, S, K, H)``.
        value: ``(B, S, K, Hv)``.
        bias: added to the logits; broadcasts to ``(B, N, T, S)``. Not with ``mask``.
        mask: booleans broadcasting to ``(B, N, T, S)``; False leaves a position out.
        scale: the logits' scale; None is ``1 / sqrt(H)``.
        is_causal: also leave out every key after the query's own position.
        flash_attention: None or False (graphnet has no fused kernel to ask for).
        attn_logits_soft_cap: when set, logits become ``cap * tanh(logits / cap)``.

    Returns:
        ``(B, T, N, Hv)``.
    """
    q, k, v = (api.convert_to_tensor(t) for t in (query, key, value))
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"dot_product_attention: query, key and value must be 4-D (B, T, N, "
                         f"H), got shapes {q.shape}, {k.shape} and {v.shape}")
    if bias is not None and mask is not None:
        raise ValueError("dot_product_attention: only one of `bias` and `mask` can be given")
    if flash_attention:
        raise ValueError("dot_product_attention: flash_attention=True is not available in "
                         "graphnet; pass None or False")
    heads, kv_heads = q.shape[2], k.shape[2]
    if k.shape[3] != q.shape[3]:
        raise ValueError(f"dot_product_attention: query and key head sizes differ: query "
                         f"{q.shape}, key {k.shape}")
    if k.shape[1] != v.shape[1] or k.shape[2] != v.shape[2]:
        raise ValueError(f"dot_product_attention: key {k.shape} and value {v.shape} differ "
                         "in length or heads")
    if heads % kv_heads:
        raise ValueError(f"dot_product_attention: the query's {heads} heads are not a "
                         f"multiple of the key's {kv_heads}")
    groups = heads // kv_heads
    scale = 1.0 / math.sqrt(q.shape[3]) if scale is None else float(scale)
    logits_shape = (q.shape[0], heads, q.shape[1], k.shape[1])
    if groups == 1:
        logits = einsum("btnh,bsnh->bnts", q, k)
    else:   # (B, T, K, G, H): query head k * G + g reads key head k
        grouped = api.reshape_dims(q, [("in", 0), ("in", 1), kv_heads, groups, ("in", 3)])
        logits = einsum("btkgh,bskh->bkgts", grouped, k)
        logits = api.reshape_dims(logits, [("in", 0), heads, ("in", 3), ("in", 4)])
    logits = api.multiply(logits, scale)
    if attn_logits_soft_cap is not None:
        cap = float(attn_logits_soft_cap)
        logits = api.multiply(api.tanh(api.divide(logits, cap)), cap)
    if bias is not None:
        bias = api.convert_to_tensor(bias)
        _check_broadcast("bias", bias.shape, logits_shape)
        logits = api.add(logits, bias)
    if is_causal:
        causal = causal_mask(q.shape[1], k.shape[1])
        mask = causal if mask is None else api.logical_and(_bool(mask), causal)
    if mask is not None:
        mask = _bool(mask)
        _check_broadcast("mask", mask.shape, logits_shape)
        logits = api.where(mask, logits, MASKED_LOGIT)
    probs = api.softmax(logits, axis=-1)
    if groups == 1:
        return einsum("bnts,bsnh->btnh", probs, v)
    probs = api.reshape_dims(probs, [("in", 0), kv_heads, groups, ("in", 2), ("in", 3)])
    out = einsum("bkgts,bskh->btkgh", probs, v)
    return api.reshape_dims(out, [("in", 0), ("in", 1), heads, ("in", 4)])


def _bool(mask):
    mask = api.convert_to_tensor(mask)
    return mask if mask.dtype == "bool" else api.cast(mask, "bool")
