"""``dot_product_attention`` as ``keras.ops.nn.dot_product_attention`` computes it on the
torch backend (torch's scaled_dot_product_attention): one fused op, ATTENTION, where its
kernels apply (forward csrc/attention.c, backward csrc/attention_backward.c), else
composed of einsum products, masks and a softmax. ATTENTION's reference and exports are
that composite."""
import math

import numpy as np

from . import api
from .contract import einsum
from .contraction import _batch_strides
from .dtypes import require_float
from .elementwise import require_f32
from ..graph.node import Node
from .fused import perform_by_expansion
from .registry import NN, Op, OpError, register

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
    if groups == 1 and bias is None and attn_logits_soft_cap is None and \
            all(t.dtype == "float32" for t in (q, k, v)):
        inputs = [q, k, v]
        if mask is not None:
            mask = _bool(mask)
            _check_broadcast("mask", mask.shape, (q.shape[0], heads, q.shape[1], k.shape[1]))
            inputs.append(mask)
        return api._apply("ATTENTION", *inputs, scale=scale, causal=bool(is_causal))
    return _composite(q, k, v, bias, mask, scale, is_causal, attn_logits_soft_cap)


def _composite(q, k, v, bias, mask, scale, is_causal, attn_logits_soft_cap):
    """The attention as einsum products, a masked softmax and einsum again."""
    heads, kv_heads = q.shape[2], k.shape[2]
    groups = heads // kv_heads
    logits, _ = masked_logits(q, k, bias, mask, scale, is_causal, attn_logits_soft_cap)
    probs = api.softmax(logits, axis=-1)
    if groups == 1:
        return einsum("bnts,bsnh->btnh", probs, v)
    probs = api.reshape_dims(probs, [("in", 0), kv_heads, groups, ("in", 2), ("in", 3)])
    out = einsum("bkgts,bskh->btkgh", probs, v)
    return api.reshape_dims(out, [("in", 0), ("in", 1), heads, ("in", 4)])


def masked_logits(q, k, bias, mask, scale, is_causal, attn_logits_soft_cap):
    """The (B, N, T, S) logits with MASKED_LOGIT where left out, and the (broadcasting)
    bool mask of the positions kept (None: all are)."""
    heads, kv_heads = q.shape[2], k.shape[2]
    groups = heads // kv_heads
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
    return logits, mask


def _bool(mask):
    mask = api.convert_to_tensor(mask)
    return mask if mask.dtype == "bool" else api.cast(mask, "bool")


def attention_expansion(node, inputs=None):
    """ATTENTION ``node`` as the einsum / softmax composite over ``inputs`` (its own by
    default): its reference, and its ONNX form."""
    inputs = node.inputs if inputs is None else inputs
    q, k, v = (api._wrap(x) for x in inputs[:3])
    mask = api._wrap(inputs[3]) if len(inputs) > 3 else None
    return _composite(q, k, v, None, mask, node.attrs["scale"], node.attrs.get("causal", False),
                      None).node


def mask_args(node, ctx, mask):
    """The fused kernels' mask slot and its (b, n, t, s) strides (0 broadcasts) for a
    node over (q, k, ...); (-1, zeros) without a mask."""
    if mask is None:
        return -1, [0, 0, 0, 0]
    q, k = node.inputs[:2]
    b, t, n = q.shape[:3]
    # _batch_strides over all 4 dims of the (broadcast) mask
    return ctx.inp(mask), _batch_strides(tuple(mask.shape) + (1, 1), (b, n, t, k.shape[1]))


@register
class Attention(Op):
    """ATTENTION(q, k, v[, mask]) {scale, causal}: dot_product_attention's softmax(scale
    q k^T, masked) v in one kernel (csrc/attention.c) for (B, T, N, H) queries and
    (B, S, N, H) keys and values of one head count. Its reference is the einsum / softmax
    composite it stands for; its gradient the fused backward (graphnet/ops/attention_grad.py:
    ATTENTION_LSE, the log-sum-exp its forward step also writes, and ATTENTION_GRAD), whose
    references are that composite's gradients."""
    name, group, arity = "ATTENTION", NN, None

    def perform(self, inputs, attrs):
        return perform_by_expansion(self, inputs, attrs, attention_expansion)

    def grad(self, node, grad_output):
        q, k, v = node.inputs[:3]
        mask = list(node.inputs[3:])
        attrs = {"scale": node.attrs["scale"], "causal": bool(node.attrs.get("causal", False))}
        lse = Node("ATTENTION_LSE", [node, q, k] + mask, attrs)
        inputs = [q, k, v, node, grad_output, lse] + mask
        return [Node("ATTENTION_GRAD", inputs, dict(attrs, wrt=wrt)) for wrt in range(3)] + \
            [None] * len(mask)

    def infer(self, shapes, dtypes, attrs):
        if len(shapes) not in (3, 4):
            raise OpError(f"ATTENTION takes q, k, v and an optional mask, got {len(shapes)} "
                          "inputs")
        q, k, v = shapes[:3]
        if len(q) != 4 or len(k) != 4 or len(v) != 4:
            raise OpError(f"ATTENTION: q, k, v must be 4-D, got {q}, {k}, {v}")

        def differ(x, y):
            return x is not None and y is not None and x != y
        if differ(q[0], k[0]) or differ(k[0], v[0]) or differ(q[2], k[2]) or \
                differ(k[2], v[2]) or differ(q[3], k[3]) or differ(k[1], v[1]):
            raise OpError(f"ATTENTION: q {q}, k {k}, v {v} do not fit (B, T, N, H), "
                          "(B, S, N, H), (B, S, N, Hv)")
        if len(shapes) == 4:
            if dtypes[3] != "bool":
                raise OpError(f"ATTENTION: the mask must be bool, got {dtypes[3]}")
            target = (q[0], q[2], q[1], k[1])
            m = shapes[3]
            if len(m) > 4 or any(differ(a, b) and a != 1
                                 for a, b in zip(reversed(m), reversed(target))):
                raise OpError(f"ATTENTION: mask {m} does not broadcast to (B, N, T, S) "
                              f"{target}")
        return (q[0], q[1], q[2], v[3]), require_float(self.name, dtypes[:3])

    def lower(self, node, ctx):
        require_f32(node, ctx)
        q, k, v = node.inputs[:3]
        b, t, n, h = q.shape
        s, hv = k.shape[1], v.shape[3]
        mask, strides = mask_args(node, ctx, node.inputs[3] if len(node.inputs) > 3 else None)
        out = ctx.out(node)
        lse = place_lse(node, ctx)
        if not ctx.numel(node) and lse == -1:
            return
        ctx.emit("GN_K_ATTENTION", b=b, t=t, s=s, n=n, h=h, hv=hv, q=ctx.inp(q), k=ctx.inp(k),
                 v=ctx.inp(v), mask=mask, mask_strides=strides,
                 causal=int(node.attrs.get("causal", False)), out=out, lse=lse,
                 scale=node.attrs["scale"])


from .attention_grad import place_lse  # noqa: E402  (registers the backward ops)
