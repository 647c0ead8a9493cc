"""Reductions over axes, arg-reductions, and softmax / log-softmax.

All lower to kernels over an (outer, n, inner) view; reduced axes that are not
adjacent are first moved to the end by one strided copy.
"""
import math

import numpy as np

from . import builders as ad
from .dtypes import contiguous_strides, normalize_axis, require_float
from .elementwise import require_f32
from .layout import emit_copy
from .registry import NN, REDUCE, Op, OpError, register_instance



def normalize_axes(op_name, axes, rank):
    if axes is None:
        return tuple(range(rank))
    axes = sorted({normalize_axis(op_name, a, rank) for a in axes})
    return tuple(axes)


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def outer_n_inner(shape, axes):
    """(outer, n, inner) when ``axes`` are adjacent, else None."""
    if not axes:
        return math.prod(shape), 1, 1
    if list(axes) != list(range(axes[0], axes[-1] + 1)):
        return None
    return (math.prod(shape[:axes[0]]), math.prod(shape[axes[0]:axes[-1] + 1]),
            math.prod(shape[axes[-1] + 1:]))


class Reduce(Op):
    """REDUCE_* {axes, keepdims}: axes None reduces everything."""
    group = REDUCE
    arity = 1

    def __init__(self, name, c_name, ref, kind="float"):
        self.name, self.c_name, self.ref, self.kind = name, c_name, ref, kind

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        axes = normalize_axes(self.name, attrs.get("axes"), len(shapes[0]))
        if self.kind == "bool":
            if dtypes[0] != "bool":
                raise OpError(f"{self.name} needs a bool input, got {dtypes[0]}")
            dtype = "bool"
        else:
            dtype = require_float(self.name, dtypes)
            if self.kind == "index":
                if len(axes) != 1:
                    raise OpError(f"{self.name} reduces exactly one axis, got {attrs.get('axes')}")
                dtype = "int64"
        return reduced_shape(shapes[0], axes, attrs.get("keepdims", False)), dtype

    def perform(self, inputs, attrs):
        x = inputs[0]
        axes = normalize_axes(self.name, attrs.get("axes"), x.ndim)
        keep = attrs.get("keepdims", False)
        with np.errstate(all="ignore"):
            if self.kind == "index":
                out = self.ref(x, axis=axes[0])
                return np.expand_dims(out, axes[0]) if keep else out
            if x.size == 0 and self.name in ("REDUCE_MAX", "REDUCE_MIN", "REDUCE_MEAN"):
                fill = {"REDUCE_MAX": -np.inf, "REDUCE_MIN": np.inf}.get(self.name, np.nan)
                return np.full(reduced_shape(x.shape, axes, keep), fill, x.dtype)
            out = self.ref(x, axis=axes, keepdims=keep)
        return np.asarray(out, dtype=x.dtype)

    def grad(self, node, grad_output):
        if self.kind != "float":
            return [None]
        x = node.inputs[0]
        axes = normalize_axes(self.name, node.attrs.get("axes"), x.ndim)
        keep = node.attrs.get("keepdims", False)
        g = grad_output if keep else ad.keepdims_form(grad_output, x.ndim, axes)
        y = node if keep else ad.keepdims_form(node, x.ndim, axes)
        return [REDUCE_GRAD[self.name](ad, x, y, g, axes)]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        x = node.inputs[0]
        axes = normalize_axes(self.name, node.attrs.get("axes"), x.ndim)
        src, view = ctx.inp(x), outer_n_inner(x.shape, axes)
        if view is None:
            kept = [i for i in range(x.ndim) if i not in axes]
            perm = kept + list(axes)
            moved = tuple(x.shape[p] for p in perm)
            tmp = ctx.temp(x.size * np.dtype(x.dtype).itemsize)
            base = contiguous_strides(x.shape)
            emit_copy(ctx, moved, src, [base[p] for p in perm], tmp,
                      contiguous_strides(moved), x.dtype)
            src = tmp
            view = (math.prod(moved[:len(kept)]), math.prod(moved[len(kept):]), 1)
        outer, n, inner = view
        ctx.emit("GN_K_REDUCE", op=ctx.c(self.c_name), outer=outer, n=n, inner=inner, x=src,
                 y=ctx.out(node))


def _sumsq(x, axis, keepdims):
    return np.sum(x * x, axis=axis, keepdims=keepdims)


def _mean_grad(ad, x, g, axes):
    count = ad.count_of(x, axes)
    if isinstance(count, int):
        return ad.broadcast_like(ad.affine(g, 1.0 / count if count else 0.0), x)
    return ad.div(ad.broadcast_like(g, x), count)


def _extremum_grad(ad, x, y, g, axes):
    """Split g evenly among the tied extrema (as torch.amax / torch.amin)."""
    hit = ad.cast(ad.binary("EQUAL", x, y), x.dtype)
    ties = ad.reduce_sum(hit, axes, keepdims=True)
    return ad.mul(hit, ad.div(g, ties))


def _prod_grad(ad, x, y, g, axes):
    """prod of the other elements, exact with zeros: with no zero it is y / x; with one
    zero, the product of the non-zeros at that zero and 0 elsewhere; with more, 0."""
    is_zero = ad.binary("EQUAL", x, 0.0)
    nonzero = ad.where(is_zero, 1.0, x)
    p = ad.reduce("REDUCE_PROD", nonzero, axes, keepdims=True)
    zeros = ad.reduce_sum(ad.cast(is_zero, x.dtype), axes, keepdims=True)
    at_zero = ad.where(ad.binary("EQUAL", zeros, 1.0), p, 0.0)
    elsewhere = ad.where(ad.binary("EQUAL", zeros, 0.0), ad.div(p, nonzero), 0.0)
    return ad.mul(g, ad.where(is_zero, at_zero, elsewhere))


# Gradient rules: name -> f(ad, x, y, g, axes) with y and g in keepdims form.
REDUCE_GRAD = {
    "REDUCE_SUM": lambda ad, x, y, g, axes: ad.broadcast_like(g, x),
    "REDUCE_MEAN": lambda ad, x, y, g, axes: _mean_grad(ad, x, g, axes),
    "REDUCE_MAX": _extremum_grad,
    "REDUCE_MIN": _extremum_grad,
    "REDUCE_PROD": _prod_grad,
    "REDUCE_SUMSQ": lambda ad, x, y, g, axes: ad.mul(ad.affine(x, 2.0), g),
}


for _args in [("REDUCE_SUM", "GN_R_SUM", np.sum), ("REDUCE_MEAN", "GN_R_MEAN", np.mean),
              ("REDUCE_MAX", "GN_R_MAX", np.max), ("REDUCE_MIN", "GN_R_MIN", np.min),
              ("REDUCE_PROD", "GN_R_PROD", np.prod), ("REDUCE_SUMSQ", "GN_R_SUMSQ", _sumsq),
              ("ARGMAX", "GN_R_ARGMAX", np.argmax, "index"),
              ("ARGMIN", "GN_R_ARGMIN", np.argmin, "index"),
              ("REDUCE_ANY", "GN_R_ANY", np.any, "bool"),
              ("REDUCE_ALL", "GN_R_ALL", np.all, "bool")]:
    register_instance(Reduce(*_args))


class Softmax(Op):
    """SOFTMAX / LOG_SOFTMAX {axis}: stable (max subtracted) along one axis."""
    group = NN
    arity = 1

    def __init__(self, name, log):
        self.name, self.log = name, log

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        normalize_axis(self.name, attrs.get("axis", -1), len(shapes[0]))
        return shapes[0], require_float(self.name, dtypes)

    def perform(self, inputs, attrs):
        x = inputs[0]
        axis = attrs.get("axis", -1)
        if x.size == 0:  # np.max has no identity over an empty axis
            return np.empty_like(x)
        with np.errstate(all="ignore"):
            shifted = x - np.max(x, axis=axis, keepdims=True)
            if self.log:
                out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
            else:
                e = np.exp(shifted)
                out = e / np.sum(e, axis=axis, keepdims=True)
        return out.astype(x.dtype)

    def grad(self, node, grad_output):
        """softmax: y * (g - sum(g * y)); log_softmax: g - exp(y) * sum(g)."""
        x, g = node.inputs[0], grad_output
        axes = (normalize_axis(self.name, node.attrs.get("axis", -1), x.ndim),)
        if self.log:
            total = ad.reduce_sum(g, axes, keepdims=True)
            return [ad.sub(g, ad.mul(ad.unary("EXP", node), total))]
        gy = ad.mul(g, node)
        return [ad.sub(gy, ad.mul(node, ad.reduce_sum(gy, axes, keepdims=True)))]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        x = node.inputs[0]
        axis = normalize_axis(self.name, node.attrs.get("axis", -1), x.ndim)
        view = outer_n_inner(x.shape, (axis,))
        outer, n, inner = view
        ctx.emit("GN_K_SOFTMAX", log=int(self.log), outer=outer, n=n, inner=inner,
                 x=ctx.inp(x), y=ctx.out(node))


register_instance(Softmax("SOFTMAX", False))
register_instance(Softmax("LOG_SOFTMAX", True))
