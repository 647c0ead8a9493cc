"""ATTENTION's gradient as the fused backward kernel (csrc/attention_backward.c) computes it.

* ATTENTION_LSE(att, q, k[, mask]) {scale, causal}: the (B, N, T) log-sum-exp over the keys
  of each query's masked logits. Never a step of its own: the forward step of ``att`` (the
  ATTENTION it reads) writes it beside its output, as FUSED_MULTI_ELTWISE writes its
  MULTI_PARTs.
* ATTENTION_GRAD(q, k, v, out, dout, lse[, mask]) {scale, causal, wrt}: the gradient of
  ATTENTION's input ``wrt`` (0 q, 1 k, 2 v) given the gradient ``dout`` of its output
  ``out``. The three share one backward step: the first one lowered writes all three.

Both are fused ops: their expansion (the composite's logits and its softmax gradient, by
its einsums) is their reference and ONNX form and gives their own gradients; ``out`` and
``lse`` are what the kernel reads in place of recomputing them.
"""
import math

from . import api
from .attention import mask_args, masked_logits
from .contract import einsum
from .dtypes import require_float
from .elementwise import require_f32
from .fused import FusedOp
from .registry import NN, OpError, register

def _wrapped(inputs, mask_at):
    """The tensors of a node's inputs and its mask (None without one)."""
    tensors = [api._wrap(x) for x in inputs]
    return tensors, tensors[mask_at] if len(tensors) > mask_at else None


def place_lse(att, ctx):
    """The slot ATTENTION ``att``'s step writes its ATTENTION_LSE readers into (-1: none
    reads it, the step writes no log-sum-exp)."""
    readers = [r for r in ctx.readers(att) if r.op.name == "ATTENTION_LSE" and r.inputs[0] is att]
    if not readers:
        return -1
    slot = ctx.out(readers[0])
    for r in readers[1:]:   # equal ones the graph did not merge share its buffer
        ctx.view(r, readers[0])
    return slot


@register
class AttentionLse(FusedOp):
    name, group, arity = "ATTENTION_LSE", NN, None

    def expand(self, node, inputs):
        (_, q, k, *_), mask = _wrapped(inputs, 3)
        logits, _ = masked_logits(q, k, None, mask, node.attrs["scale"],
                                  node.attrs.get("causal", False), None)
        return api.logsumexp(logits, axis=-1).node

    def infer(self, shapes, dtypes, attrs):
        if len(shapes) not in (3, 4) or len(shapes[0]) != 4:
            raise OpError(f"ATTENTION_LSE takes the attention, q, k and an optional mask, got "
                          f"shapes {shapes}")
        q = shapes[1]
        return (q[0], q[2], q[1]), require_float(self.name, dtypes[:3])

    def lower(self, node, ctx):
        """Written by the forward step of the ATTENTION it reads (place_lse)."""
        if id(node) not in ctx.where:
            raise OpError("ATTENTION_LSE: its first input must be the ATTENTION whose step "
                          f"writes it, got {node.inputs[0].op.name}")


@register
class AttentionGrad(FusedOp):
    name, group, arity = "ATTENTION_GRAD", NN, None

    def expand(self, node, inputs):
        """dV = P^T dO; dS = P * (dP - rowsum(dP * P)), 0 where left out; dQ = scale dS K,
        dK = scale dS^T Q, over the composite's P = softmax(masked logits)."""
        (q, k, v, _, dout, _, *_), mask = _wrapped(inputs, 6)
        scale, wrt = node.attrs["scale"], node.attrs["wrt"]
        logits, keep = masked_logits(q, k, None, mask, scale, node.attrs.get("causal", False),
                                     None)
        probs = api.softmax(logits, axis=-1)
        if wrt == 2:
            return einsum("bnts,btnh->bsnh", probs, dout).node
        dp = einsum("btnh,bsnh->bnts", dout, v)
        ds = api.multiply(probs, api.subtract(dp, api.sum(api.multiply(dp, probs), axis=-1,
                                                          keepdims=True)))
        if keep is not None:
            ds = api.where(keep, ds, 0.0)
        grad = einsum("bnts,bsnh->btnh", ds, k) if wrt == 0 else \
            einsum("bnts,btnh->bsnh", ds, q)
        return api.multiply(grad, scale).node

    def infer(self, shapes, dtypes, attrs):
        wrt = attrs["wrt"]
        if wrt not in (0, 1, 2):
            raise OpError(f"ATTENTION_GRAD: wrt must be 0 (q), 1 (k) or 2 (v), got {wrt!r}")
        if len(shapes) not in (6, 7):
            raise OpError(f"ATTENTION_GRAD takes q, k, v, out, dout, lse and an optional "
                          f"mask, got {len(shapes)} inputs")
        q, k, v, out, dout, lse = (tuple(s) for s in shapes[:6])
        b, t, n = q[:3]
        if out != dout or out[:3] != (b, t, n) or len(lse) != 3:
            raise OpError(f"ATTENTION_GRAD: out {out}, dout {dout} and lse {lse} do not fit "
                          f"the queries {q}")
        return shapes[wrt], require_float(self.name, dtypes[:6])

    def lower(self, node, ctx):
        if id(node) in ctx.where:   # the backward step of a sibling wrote it
            return
        require_f32(node, ctx)
        q, k, v, out, dout, lse = node.inputs[:6]
        mask = node.inputs[6] if len(node.inputs) > 6 else None
        slots = {}
        for r in ctx.readers(dout):
            if r.op.name == self.name and len(r.inputs) == len(node.inputs) and \
                    all(x is y for x, y in zip(r.inputs, node.inputs)) and \
                    r.attrs["scale"] == node.attrs["scale"] and \
                    r.attrs.get("causal", False) == node.attrs.get("causal", False):
                wrt = r.attrs["wrt"]
                if wrt in slots:
                    ctx.view(r, slots[wrt][0])
                else:
                    slots[wrt] = (r, ctx.out(r))
        # a gradient no one reads still gets a buffer: the step writes all three
        outs = [slots[w][1] if w in slots else
                ctx.temp(4 * math.prod(x.shape)) for w, x in enumerate((q, k, v))]
        b, t, n, h = q.shape
        mask_slot, strides = mask_args(node, ctx, mask)
        ctx.emit("GN_K_ATTENTION_BACKWARD", b=b, t=t, s=k.shape[1], n=n, h=h, hv=v.shape[3],
                 q=ctx.inp(q), k=ctx.inp(k), v=ctx.inp(v), mask=mask_slot,
                 mask_strides=strides, causal=int(node.attrs.get("causal", False)),
                 out=ctx.inp(out), dout=ctx.inp(dout), lse=ctx.inp(lse), dq=outs[0],
                 dk=outs[1], dv=outs[2], scale=node.attrs["scale"])
