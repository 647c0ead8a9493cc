"""Elementwise ops: unary maths and activations, binary arithmetic and comparisons
with broadcasting, WHERE and CAST. Each lowers to one kernel call."""
import math

import numpy as np

from . import builders as ad
from .dtypes import (C_DTYPE, FLOAT_TYPES, broadcast_shapes, broadcast_strides,
                     canonical_dtype, require_float)
from .registry import ELEMENTWISE, Op, OpError, register, register_instance

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def _softplus(x):
    with np.errstate(over="ignore"):
        return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def _hard_sigmoid(x):
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# name: (C enum, NumPy reference f(x, alpha, beta), default alpha, default beta)
UNARY = {
    "NEG": ("GN_U_NEG", lambda x, a, b: -x),
    "ABS": ("GN_U_ABS", lambda x, a, b: np.abs(x)),
    "SIGN": ("GN_U_SIGN", lambda x, a, b: np.sign(x)),
    "SQUARE": ("GN_U_SQUARE", lambda x, a, b: x * x),
    "SQRT": ("GN_U_SQRT", lambda x, a, b: np.sqrt(x)),
    "RSQRT": ("GN_U_RSQRT", lambda x, a, b: 1 / np.sqrt(x)),
    "RECIPROCAL": ("GN_U_RECIPROCAL", lambda x, a, b: 1 / x),
    "EXP": ("GN_U_EXP", lambda x, a, b: np.exp(x)),
    "EXPM1": ("GN_U_EXPM1", lambda x, a, b: np.expm1(x)),
    "LOG": ("GN_U_LOG", lambda x, a, b: np.log(x)),
    "LOG1P": ("GN_U_LOG1P", lambda x, a, b: np.log1p(x)),
    "SIN": ("GN_U_SIN", lambda x, a, b: np.sin(x)),
    "COS": ("GN_U_COS", lambda x, a, b: np.cos(x)),
    "TAN": ("GN_U_TAN", lambda x, a, b: np.tan(x)),
    "ATAN": ("GN_U_ATAN", lambda x, a, b: np.arctan(x)),
    "TANH": ("GN_U_TANH", lambda x, a, b: np.tanh(x)),
    "SIGMOID": ("GN_U_SIGMOID", lambda x, a, b: _sigmoid(x)),
    "RELU": ("GN_U_RELU", lambda x, a, b: np.maximum(x, 0)),
    "RELU6": ("GN_U_RELU6", lambda x, a, b: np.minimum(np.maximum(x, 0), 6)),
    "LEAKY_RELU": ("GN_U_LEAKY_RELU", lambda x, a, b: np.where(x >= 0, x, a * x)),
    "ELU": ("GN_U_ELU", lambda x, a, b: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))),
    "SELU": ("GN_U_SELU", lambda x, a, b: SELU_SCALE * np.where(
        x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))),
    "SOFTPLUS": ("GN_U_SOFTPLUS", lambda x, a, b: _softplus(x)),
    "SOFTSIGN": ("GN_U_SOFTSIGN", lambda x, a, b: x / (1 + np.abs(x))),
    "HARD_SIGMOID": ("GN_U_HARD_SIGMOID", lambda x, a, b: _hard_sigmoid(x)),
    "HARD_SILU": ("GN_U_HARD_SILU", lambda x, a, b: x * _hard_sigmoid(x)),
    "GELU": ("GN_U_GELU", lambda x, a, b: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    "GELU_TANH": ("GN_U_GELU_TANH", lambda x, a, b: _gelu_tanh(x)),
    "SILU": ("GN_U_SILU", lambda x, a, b: x * _sigmoid(x)),
    "MISH": ("GN_U_MISH", lambda x, a, b: x * np.tanh(_softplus(x))),
    "LOG_SIGMOID": ("GN_U_LOG_SIGMOID", lambda x, a, b: -_softplus(-x)),
    "ERF": ("GN_U_ERF", lambda x, a, b: _erf(x)),
    "FLOOR": ("GN_U_FLOOR", lambda x, a, b: np.floor(x)),
    "CEIL": ("GN_U_CEIL", lambda x, a, b: np.ceil(x)),
    "ROUND": ("GN_U_ROUND", lambda x, a, b: np.round(x)),
    "CLIP": ("GN_U_CLIP", lambda x, a, b: np.minimum(np.maximum(x, a), b)),
    "AFFINE": ("GN_U_AFFINE", lambda x, a, b: a * x + b),
    "POW_SCALAR": ("GN_U_POW_SCALAR", lambda x, a, b: np.power(x, a)),
}

# Gradient rules beside the table above: name -> f(ad, x, y, g, alpha, beta) -> dx, where
# y is the op's output, g the output gradient and ad the node builders (ops/builders.py).
# Kinks follow PyTorch: relu'(0) = 0, clip passes the gradient at its bounds, ...
_SQRT_2_PI = math.sqrt(2 / math.pi)
_GELU_K = 0.044715


def _gelu_tanh_grad(ad, x, g):
    x2 = ad.square(x)
    t = ad.unary("TANH", ad.affine(ad.mul(x, ad.affine(x2, _GELU_K, 1.0)), _SQRT_2_PI))
    sech2 = ad.affine(ad.square(t), -1.0, 1.0)
    slope = ad.affine(x2, 1.5 * _SQRT_2_PI * _GELU_K, 0.5 * _SQRT_2_PI)
    return ad.mul(g, ad.add(ad.affine(t, 0.5, 0.5), ad.mul(ad.mul(x, sech2), slope)))


def _gelu_grad(ad, x, g):
    cdf = ad.affine(ad.unary("ERF", ad.affine(x, 1 / math.sqrt(2))), 0.5, 0.5)
    pdf = ad.unary("EXP", ad.affine(ad.square(x), -0.5))
    return ad.mul(g, ad.add(cdf, ad.affine(ad.mul(x, pdf), 1 / math.sqrt(2 * math.pi))))


def _mish_grad(ad, x, g):
    t = ad.unary("TANH", ad.unary("SOFTPLUS", x))
    sech2 = ad.affine(ad.square(t), -1.0, 1.0)
    return ad.mul(g, ad.add(t, ad.mul(ad.mul(x, sech2), ad.unary("SIGMOID", x))))


def _silu_grad(ad, x, g):
    s = ad.unary("SIGMOID", x)   # s * (1 + x * (1 - s))
    return ad.mul(g, ad.mul(s, ad.sub(ad.affine(x, 1.0, 1.0), ad.mul(x, s))))


def _pow_scalar_grad(ad, x, g, a):
    if a == 0:
        return ad.zeros_like(x)
    if a == 1:
        return g
    return ad.mul(g, ad.affine(ad.unary("POW_SCALAR", x, alpha=a - 1.0), a))


def _gt(ad, x, v):
    return ad.binary("GREATER", x, v)


def _inside(ad, x, lo, hi, closed):
    """lo <= x <= hi (closed) or lo < x < hi."""
    lower, upper = ("GREATER_EQUAL", "LESS_EQUAL") if closed else ("GREATER", "LESS")
    return ad.binary("LOGICAL_AND", ad.binary(lower, x, lo), ad.binary(upper, x, hi))


UNARY_GRAD = {
    "NEG": lambda ad, x, y, g, a, b: ad.neg(g),
    "ABS": lambda ad, x, y, g, a, b: ad.mul(g, ad.unary("SIGN", x)),
    "SIGN": lambda ad, x, y, g, a, b: ad.zeros_like(x),
    "SQUARE": lambda ad, x, y, g, a, b: ad.mul(g, ad.affine(x, 2.0)),
    "SQRT": lambda ad, x, y, g, a, b: ad.div(g, ad.affine(y, 2.0)),
    "RSQRT": lambda ad, x, y, g, a, b: ad.mul(g, ad.affine(ad.mul(y, ad.square(y)), -0.5)),
    "RECIPROCAL": lambda ad, x, y, g, a, b: ad.mul(g, ad.neg(ad.square(y))),
    "EXP": lambda ad, x, y, g, a, b: ad.mul(g, y),
    "EXPM1": lambda ad, x, y, g, a, b: ad.mul(g, ad.affine(y, 1.0, 1.0)),
    "LOG": lambda ad, x, y, g, a, b: ad.div(g, x),
    "LOG1P": lambda ad, x, y, g, a, b: ad.div(g, ad.affine(x, 1.0, 1.0)),
    "SIN": lambda ad, x, y, g, a, b: ad.mul(g, ad.unary("COS", x)),
    "COS": lambda ad, x, y, g, a, b: ad.mul(g, ad.neg(ad.unary("SIN", x))),
    "TAN": lambda ad, x, y, g, a, b: ad.mul(g, ad.affine(ad.square(y), 1.0, 1.0)),
    "ATAN": lambda ad, x, y, g, a, b: ad.div(g, ad.affine(ad.square(x), 1.0, 1.0)),
    "TANH": lambda ad, x, y, g, a, b: ad.mul(g, ad.affine(ad.square(y), -1.0, 1.0)),
    "SIGMOID": lambda ad, x, y, g, a, b: ad.mul(g, ad.mul(y, ad.affine(y, -1.0, 1.0))),
    # y > 0 exactly where x > 0: reading the output leaves x to its one reader, the relu,
    # which then fuses into the producing GEMM's epilogue
    "RELU": lambda ad, x, y, g, a, b: ad.where(_gt(ad, y, 0.0), g, 0.0),
    "RELU6": lambda ad, x, y, g, a, b: ad.where(_inside(ad, x, 0.0, 6.0, False), g, 0.0),
    "LEAKY_RELU": lambda ad, x, y, g, a, b: ad.where(_gt(ad, x, 0.0), g, ad.affine(g, a)),
    "ELU": lambda ad, x, y, g, a, b: ad.where(_gt(ad, x, 0.0), g,
                                              ad.mul(g, ad.affine(y, 1.0, a))),
    "SELU": lambda ad, x, y, g, a, b: ad.where(
        _gt(ad, x, 0.0), ad.affine(g, SELU_SCALE),
        ad.mul(g, ad.affine(y, 1.0, SELU_SCALE * SELU_ALPHA))),
    "SOFTPLUS": lambda ad, x, y, g, a, b: ad.mul(g, ad.unary("SIGMOID", x)),
    "SOFTSIGN": lambda ad, x, y, g, a, b: ad.div(
        g, ad.square(ad.affine(ad.unary("ABS", x), 1.0, 1.0))),
    "HARD_SIGMOID": lambda ad, x, y, g, a, b: ad.where(
        _inside(ad, x, -3.0, 3.0, False), ad.affine(g, 1 / 6), 0.0),
    "HARD_SILU": lambda ad, x, y, g, a, b: ad.where(
        ad.binary("LESS_EQUAL", x, -3.0), 0.0,
        ad.where(ad.binary("LESS", x, 3.0), ad.mul(g, ad.affine(x, 1 / 3, 0.5)), g)),
    "GELU": lambda ad, x, y, g, a, b: _gelu_grad(ad, x, g),
    "GELU_TANH": lambda ad, x, y, g, a, b: _gelu_tanh_grad(ad, x, g),
    "SILU": lambda ad, x, y, g, a, b: _silu_grad(ad, x, g),
    "MISH": lambda ad, x, y, g, a, b: _mish_grad(ad, x, g),
    "LOG_SIGMOID": lambda ad, x, y, g, a, b: ad.mul(g, ad.unary("SIGMOID", ad.neg(x))),
    "ERF": lambda ad, x, y, g, a, b: ad.mul(g, ad.affine(
        ad.unary("EXP", ad.neg(ad.square(x))), 2 / math.sqrt(math.pi))),
    "FLOOR": lambda ad, x, y, g, a, b: ad.zeros_like(x),
    "CEIL": lambda ad, x, y, g, a, b: ad.zeros_like(x),
    "ROUND": lambda ad, x, y, g, a, b: ad.zeros_like(x),
    "CLIP": lambda ad, x, y, g, a, b: ad.where(_inside(ad, x, a, b, True), g, 0.0),
    "AFFINE": lambda ad, x, y, g, a, b: ad.affine(g, a),
    "POW_SCALAR": lambda ad, x, y, g, a, b: _pow_scalar_grad(ad, x, g, a),
}

# name: (C enum, NumPy reference, result kind) with kind "float", "bool" or "logical"
BINARY = {
    "ADD": ("GN_B_ADD", np.add, "float"),
    "SUB": ("GN_B_SUB", np.subtract, "float"),
    "MUL": ("GN_B_MUL", np.multiply, "float"),
    "DIV": ("GN_B_DIV", np.divide, "float"),
    "POW": ("GN_B_POW", np.power, "float"),
    "MAXIMUM": ("GN_B_MAXIMUM", np.maximum, "float"),
    "MINIMUM": ("GN_B_MINIMUM", np.minimum, "float"),
    "MOD": ("GN_B_MOD", np.mod, "float"),
    "FLOOR_DIV": ("GN_B_FLOOR_DIV", np.floor_divide, "float"),
    "ATAN2": ("GN_B_ATAN2", np.arctan2, "float"),
    "EQUAL": ("GN_B_EQUAL", np.equal, "bool"),
    "NOT_EQUAL": ("GN_B_NOT_EQUAL", np.not_equal, "bool"),
    "LESS": ("GN_B_LESS", np.less, "bool"),
    "LESS_EQUAL": ("GN_B_LESS_EQUAL", np.less_equal, "bool"),
    "GREATER": ("GN_B_GREATER", np.greater, "bool"),
    "GREATER_EQUAL": ("GN_B_GREATER_EQUAL", np.greater_equal, "bool"),
    "LOGICAL_AND": ("GN_B_LOGICAL_AND", np.logical_and, "logical"),
    "LOGICAL_OR": ("GN_B_LOGICAL_OR", np.logical_or, "logical"),
    "LOGICAL_XOR": ("GN_B_LOGICAL_XOR", np.logical_xor, "logical"),
}


def _max_grads(ad, a, b, g, first_wins):
    """MAXIMUM/MINIMUM: the winner takes g, ties split it 0.5/0.5 (as torch.maximum)."""
    half = ad.affine(g, 0.5)
    tie = ad.binary("EQUAL", a, b)
    return (ad.where(tie, half, ad.where(ad.binary(first_wins, a, b), g, 0.0)),
            ad.where(tie, half, ad.where(ad.binary(first_wins, b, a), g, 0.0)))


def _pow_grads(ad, a, b, y, g):
    """As torch.pow: d/da is 0 where b == 0; d/db is 0 where a == 0 and b >= 0."""
    da = ad.where(ad.binary("EQUAL", b, 0.0), 0.0,
                  ad.mul(g, ad.mul(b, ad.binary("POW", a, ad.affine(b, 1.0, -1.0)))))
    zero_base = ad.binary("LOGICAL_AND", ad.binary("EQUAL", a, 0.0),
                          ad.binary("GREATER_EQUAL", b, 0.0))
    db = ad.mul(g, ad.where(zero_base, 0.0, ad.mul(y, ad.unary("LOG", a))))
    return da, db


def _atan2_grads(ad, a, b, g):
    scale = ad.div(g, ad.add(ad.square(a), ad.square(b)))
    return ad.mul(scale, b), ad.neg(ad.mul(scale, a))


# Gradient rules of the float binaries: name -> f(ad, a, b, y, g) -> (da, db) at the
# broadcast output shape (Binary.grad sums them back to each input's shape).
BINARY_GRAD = {
    "ADD": lambda ad, a, b, y, g: (g, g),
    "SUB": lambda ad, a, b, y, g: (g, ad.neg(g)),
    "MUL": lambda ad, a, b, y, g: (ad.mul(g, b), ad.mul(g, a)),
    "DIV": lambda ad, a, b, y, g: (ad.div(g, b), ad.neg(ad.div(ad.mul(g, y), b))),
    "POW": _pow_grads,
    "MAXIMUM": lambda ad, a, b, y, g: _max_grads(ad, a, b, g, "GREATER"),
    "MINIMUM": lambda ad, a, b, y, g: _max_grads(ad, a, b, g, "LESS"),
    "MOD": lambda ad, a, b, y, g: (g, ad.neg(ad.mul(g, ad.binary("FLOOR_DIV", a, b)))),
    "FLOOR_DIV": lambda ad, a, b, y, g: (ad.zeros_like(a), ad.zeros_like(b)),
    "ATAN2": lambda ad, a, b, y, g: _atan2_grads(ad, a, b, g),
}


def require_f32(node, ctx):
    """The C kernels compute in float32; anything else is refused, never run in NumPy."""
    for x in (node,) + node.inputs:
        if x.dtype == "float64":
            raise OpError(f"{node.op.name}: the C kernels compute in float32, got float64 "
                          "(use backend='reference' for float64)")


class Unary(Op):
    group = ELEMENTWISE
    arity = 1

    def __init__(self, name, c_name, ref):
        self.name, self.c_name, self.ref = name, c_name, ref

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        return shapes[0], require_float(self.name, dtypes)

    def perform(self, inputs, attrs):
        x = inputs[0]
        with np.errstate(all="ignore"):
            out = self.ref(x, attrs.get("alpha", 0.0), attrs.get("beta", 0.0))
        return np.asarray(out, dtype=x.dtype)

    def grad(self, node, grad_output):
        return [UNARY_GRAD[self.name](ad, node.inputs[0], node, grad_output,
                                      attrs_float(node, "alpha"), attrs_float(node, "beta"))]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        ctx.emit("GN_K_UNARY", op=ctx.c(self.c_name), n=ctx.numel(node),
                 x=ctx.inp(node.inputs[0]), y=ctx.out(node, inplace=node.inputs),
                 alpha=attrs_float(node, "alpha"), beta=attrs_float(node, "beta"))


def attrs_float(node, key):
    return float(node.attrs.get(key, 0.0))


class Binary(Op):
    group = ELEMENTWISE
    arity = 2

    def __init__(self, name, c_name, ref, kind):
        self.name, self.c_name, self.ref, self.kind = name, c_name, ref, kind

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        shape = broadcast_shapes(self.name, *shapes)
        if self.kind == "logical":
            if any(d != "bool" for d in dtypes):
                raise OpError(f"{self.name} needs bool inputs, got {' and '.join(dtypes)}")
            return shape, "bool"
        dtype = require_float(self.name, dtypes)
        return shape, "bool" if self.kind == "bool" else dtype

    def perform(self, inputs, attrs):
        with np.errstate(all="ignore"):
            out = self.ref(*inputs)
        return np.asarray(out, dtype=np.dtype(self.infer_dtype(inputs)))

    def infer_dtype(self, inputs):
        return "bool" if self.kind != "float" else inputs[0].dtype

    def grad(self, node, grad_output):
        if self.kind != "float":
            return [None, None]
        a, b = node.inputs
        da, db = BINARY_GRAD[self.name](ad, a, b, node, grad_output)
        return [ad.unbroadcast(da, a.shape), ad.unbroadcast(db, b.shape)]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        a, b = node.inputs
        ctx.emit("GN_K_BINARY", op=ctx.c(self.c_name), ndim=len(node.shape), a=ctx.inp(a),
                 b=ctx.inp(b), out=ctx.out(node, inplace=node.inputs), shape=node.shape,
                 a_strides=broadcast_strides(a.shape, node.shape),
                 b_strides=broadcast_strides(b.shape, node.shape))


for _name, (_c, _ref) in UNARY.items():
    register_instance(Unary(_name, _c, _ref))
for _name, (_c, _ref, _kind) in BINARY.items():
    register_instance(Binary(_name, _c, _ref, _kind))


@register
class Where(Op):
    """WHERE(cond, a, b): a where cond else b, broadcasting all three."""
    name, group, arity = "WHERE", ELEMENTWISE, 3

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        if dtypes[0] != "bool":
            raise OpError(f"WHERE needs a bool condition, got {dtypes[0]}")
        return broadcast_shapes(self.name, *shapes), require_float(self.name, dtypes[1:])

    def perform(self, inputs, attrs):
        return np.where(*inputs).astype(inputs[1].dtype)

    def grad(self, node, grad_output):
        c, a, b = node.inputs
        return [None, ad.unbroadcast(ad.where(c, grad_output, 0.0), a.shape),
                ad.unbroadcast(ad.where(c, 0.0, grad_output), b.shape)]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        c, a, b = node.inputs
        ctx.emit("GN_K_WHERE", ndim=len(node.shape), cond=ctx.inp(c), a=ctx.inp(a),
                 b=ctx.inp(b), out=ctx.out(node), shape=node.shape,
                 cond_strides=broadcast_strides(c.shape, node.shape),
                 a_strides=broadcast_strides(a.shape, node.shape),
                 b_strides=broadcast_strides(b.shape, node.shape))


@register
class Cast(Op):
    """CAST(x) {dtype}: convert elements (float to int truncates toward zero)."""
    name, group, arity = "CAST", ELEMENTWISE, 1

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        return shapes[0], canonical_dtype(attrs["dtype"])

    def perform(self, inputs, attrs):
        x = inputs[0]
        if attrs["dtype"] == "bool":
            return x != 0
        with np.errstate(all="ignore"):
            return x.astype(attrs["dtype"])

    def grad(self, node, grad_output):
        """float -> float passes the gradient through; integer and bool ends get None."""
        x = node.inputs[0]
        if not (is_float(x.dtype) and is_float(node.dtype)):
            return [None]
        return [ad.cast(grad_output, x.dtype)]

    def lower(self, node, ctx):
        x = node.inputs[0]
        ctx.emit("GN_K_CAST", n=ctx.numel(node), src=ctx.inp(x), src_dtype=C_DTYPE[x.dtype],
                 dst=ctx.out(node), dst_dtype=C_DTYPE[node.dtype])


def is_float(dtype):
    return dtype in FLOAT_TYPES


@register
class FullLike(Op):
    """FULL_LIKE(x) {value}: an array of x's shape and dtype filled with ``value``."""
    name, group, arity = "FULL_LIKE", ELEMENTWISE, 1

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        return shapes[0], require_float(self.name, dtypes)

    def perform(self, inputs, attrs):
        return np.full(inputs[0].shape, attrs["value"], dtype=inputs[0].dtype)

    def grad(self, node, grad_output):
        return [None]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        ctx.emit("GN_K_FILL", n=ctx.numel(node), dst=ctx.out(node),
                 value=float(node.attrs["value"]))
