"""Every registered op through check_op: C vs NumPy reference, gradients by finite
differences (float64) and C gradient vs reference gradient (float32).

A new op without a case here fails test_every_op_is_covered."""
import math

import numpy as np
import pytest

import graphnet as gn
from graphnet.graph.node import Node
from graphnet.graph.tensor import SymbolicTensor
from graphnet.ops.collective import allreduce_sum
from graphnet.ops.recurrent import bias_shape
from graphnet.ops.recurrent_layout import GATES, MASK_CARRY, MASK_ZERO, WRT, record_layout
from op_check import check_op

ops = gn.ops
CASES = []


def case(op, fn, shapes, **kwargs):
    CASES.append(pytest.param(op, fn, shapes, kwargs, id=f"{op}-{len(CASES)}"))


def raw(op, *xs, **attrs):
    """An op applied directly (for primitives without a public function)."""
    return SymbolicTensor(Node(op, [ops.convert_to_tensor(x).node for x in xs], attrs))


def away(points, lo=-2.0, hi=2.0, gap=0.05):
    """Uniform in [lo, hi], nudged at least ``gap`` away from each kink in ``points``."""
    def draw(rng, shape):
        x = rng.uniform(lo, hi, size=shape)
        for p in points:
            near = np.abs(x - p) < gap
            x = np.where(near, p + np.where(x >= p, gap, -gap) * 2, x)
        return x
    return draw


def off_grid(rng, shape):
    """Values k + u, u in (0.1, 0.4) or (0.6, 0.9): away from integers and halves."""
    k = rng.integers(-3, 3, size=shape)
    u = rng.uniform(0.1, 0.4, size=shape) + 0.5 * (rng.random(shape) < 0.5)
    return k + u


def nonzero(lo=0.4, hi=2.0):
    def draw(rng, shape):
        return rng.uniform(lo, hi, size=shape) * np.where(rng.random(shape) < 0.5, -1, 1)
    return draw


def integers(lo=-2, hi=2):
    def draw(rng, shape):
        return rng.integers(lo, hi + 1, size=shape).astype(np.float64)
    return draw


# ---- unary maths and activations ---------------------------------------------------

UNARY_CASES = {
    "NEG": (ops.negative, {}), "ABS": (ops.abs, {"domain": nonzero(0.05)}),
    "SIGN": (ops.sign, {"domain": nonzero(0.05)}), "SQUARE": (ops.square, {}),
    "SQRT": (ops.sqrt, {"domain": (0.3, 3.0)}), "RSQRT": (ops.rsqrt, {"domain": (0.3, 3.0)}),
    "RECIPROCAL": (ops.reciprocal, {"domain": nonzero(0.4)}), "EXP": (ops.exp, {}),
    "EXPM1": (ops.expm1, {}), "LOG": (ops.log, {"domain": (0.3, 3.0)}),
    "LOG1P": (ops.log1p, {"domain": (-0.6, 3.0)}), "SIN": (ops.sin, {}),
    "COS": (ops.cos, {}), "TAN": (ops.tan, {"domain": (-1.2, 1.2)}),
    "ATAN": (ops.arctan, {}), "TANH": (ops.tanh, {}), "SIGMOID": (ops.sigmoid, {}),
    "RELU": (ops.relu, {"domain": away([0.0])}),
    "RELU6": (ops.relu6, {"domain": away([0.0, 6.0], -2.0, 8.0)}),
    "LEAKY_RELU": (lambda x: ops.leaky_relu(x, 0.3), {"domain": away([0.0])}),
    "ELU": (lambda x: ops.elu(x, 0.7), {"domain": away([0.0])}),
    "SELU": (ops.selu, {"domain": away([0.0])}), "SOFTPLUS": (ops.softplus, {}),
    "SOFTSIGN": (ops.softsign, {"domain": away([0.0])}),
    "HARD_SIGMOID": (ops.hard_sigmoid, {"domain": away([-3.0, 3.0], -5.0, 5.0)}),
    "HARD_SILU": (ops.hard_silu, {"domain": away([-3.0, 3.0], -5.0, 5.0)}),
    "GELU": (lambda x: ops.gelu(x, approximate=False), {"domain": (-4.0, 4.0)}),
    "GELU_TANH": (lambda x: ops.gelu(x, approximate=True), {"domain": (-4.0, 4.0)}),
    "SILU": (ops.silu, {"domain": (-4.0, 4.0)}), "MISH": (ops.mish, {"domain": (-4.0, 4.0)}),
    "LOG_SIGMOID": (ops.log_sigmoid, {"domain": (-4.0, 4.0)}), "ERF": (ops.erf, {}),
    "FLOOR": (ops.floor, {"domain": off_grid}), "CEIL": (ops.ceil, {"domain": off_grid}),
    "ROUND": (ops.round, {"domain": off_grid}),
    "CLIP": (lambda x: ops.clip(x, -0.5, 0.7), {"domain": away([-0.5, 0.7])}),
    "AFFINE": (lambda x: raw("AFFINE", x, alpha=-1.5, beta=0.25), {}),
    "POW_SCALAR": (lambda x: raw("POW_SCALAR", x, alpha=2.5), {"domain": (0.3, 2.0)}),
}

for _op, (_fn, _kw) in UNARY_CASES.items():
    for _shape in [(5, 17), (257,), (0, 3), (1,), (33, 2)]:
        case(_op, _fn, [_shape], **_kw)
case("POW_SCALAR", lambda x: raw("POW_SCALAR", x, alpha=3.0), [(4, 6)])
case("POW_SCALAR", lambda x: raw("POW_SCALAR", x, alpha=0.0), [(4, 6)])
case("POW_SCALAR", lambda x: raw("POW_SCALAR", x, alpha=-1.0), [(4, 6)], domain=nonzero())
case("TANH", ops.tanh, [(1,)])
case("EXP", ops.exp, [(33, 1)])
case("SIGMOID", ops.sigmoid, [(2, 3, 17)])
case("SOFTPLUS", ops.softplus, [(8,)], domain=(-30.0, 30.0))

_HALVES = np.array([[-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, -0.0]])
case("ROUND", ops.round, [(1, 8)], inputs=[_HALVES], grad=False)   # half to even
case("SIGN", ops.sign, [(1, 8)], inputs=[_HALVES], grad=False)
case("RELU", ops.relu, [(1, 8)], inputs=[_HALVES], grad=False)
case("EXP", ops.exp, [(4,)], inputs=[np.array([-200.0, 0.0, 80.0, 100.0])], grad=False)

# ---- binary, with broadcasting ------------------------------------------------------

BROADCASTS = [[(5, 1, 3), (4, 1)], [(6, 7), (7,)], [(33,), (33,)], [(), (5, 4)],
              [(0, 3), (3,)], [(1, 17), (3, 1)]]
BINARY_CASES = {
    "ADD": (ops.add, {}), "SUB": (ops.subtract, {}), "MUL": (ops.multiply, {}),
    "DIV": (ops.divide, {"domain": [(-2.0, 2.0), nonzero()]}),
    "POW": (ops.power, {"domain": [(0.5, 2.0), (-2.0, 2.0)]}),
    "MAXIMUM": (ops.maximum, {}), "MINIMUM": (ops.minimum, {}),
    "ATAN2": (ops.arctan2, {"domain": [nonzero(0.2), nonzero(0.2)]}),
}
for _op, (_fn, _kw) in BINARY_CASES.items():
    for _shapes in BROADCASTS:
        case(_op, _fn, _shapes, **_kw)


def _mod_inputs(shape_a, shape_b, seed=3):
    """a = b * (k + u), u in (0.2, 0.8): away from MOD's and FLOOR_DIV's jumps."""
    rng = np.random.default_rng(seed)
    b = rng.uniform(0.6, 1.5, size=shape_b) * np.where(rng.random(shape_b) < 0.5, -1, 1)
    k = rng.integers(-3, 3, size=np.broadcast_shapes(shape_a, shape_b))
    a = b * (k + rng.uniform(0.2, 0.8, size=k.shape))
    return [a, b]


for _op, _fn in [("MOD", ops.mod), ("FLOOR_DIV", ops.floor_divide)]:
    case(_op, _fn, [(5, 4), (4,)], inputs=_mod_inputs((5, 4), (4,)))
    case(_op, _fn, [(17,), (17,)], inputs=_mod_inputs((17,), (17,)))

for _op, _fn in [("EQUAL", ops.equal), ("NOT_EQUAL", ops.not_equal), ("LESS", ops.less),
                 ("LESS_EQUAL", ops.less_equal), ("GREATER", ops.greater),
                 ("GREATER_EQUAL", ops.greater_equal)]:
    case(_op, _fn, [(5, 4), (4,)], domain=integers())
    case(_op, _fn, [(0, 3), (1, 3)], domain=integers())
for _op, _fn in [("LOGICAL_AND", ops.logical_and), ("LOGICAL_OR", ops.logical_or),
                 ("LOGICAL_XOR", ops.logical_xor)]:
    case(_op, _fn, [(5, 4), (4,)], dtypes=["bool", "bool"])

case("WHERE", ops.where, [(5, 1), (5, 4), (4,)], dtypes=["bool", "float", "float"])
case("WHERE", ops.where, [(33,), (), (33,)], dtypes=["bool", "float", "float"])
case("WHERE", lambda x: ops.where(x > 0.5, x * x, 0.0), [(7, 3)], domain=away([0.5]))

# ---- CAST and FULL_LIKE -----------------------------------------------------------------

# one process: the sum over the processes is x (tests/test_distributed.py sums over 2)
case("ALLREDUCE_SUM", lambda x: allreduce_sum(x) * x, [(5, 3)])
case("ALLREDUCE_SUM", lambda x: allreduce_sum(x + 1.0, wait=False), [(257,)])
case("CAST", lambda x: ops.cast(ops.cast(x, "float64"), x.dtype) * 2.0, [(5, 3)])
case("CAST", lambda x: ops.cast(x, "float32") * 1.5, [(5, 3)], dtypes=["int32"])
case("CAST", lambda x: ops.cast(x, "int32"), [(5, 3)], domain=(-5.0, 5.0))
case("CAST", lambda x: ops.cast(x, "bool"), [(5, 3)], domain=integers(-1, 1))
case("CAST", lambda x: ops.cast(x, "float32") + 1.0, [(6,)], dtypes=["bool"])
case("FULL_LIKE", lambda x: ops.full_like(x, 3.0), [(4, 2)])
case("FULL_LIKE", lambda x: x * ops.full_like(x, -2.0), [(0, 2)])

# ---- reductions -----------------------------------------------------------------------------

REDUCTIONS = {"REDUCE_SUM": ops.sum, "REDUCE_MEAN": ops.mean, "REDUCE_MAX": ops.max,
              "REDUCE_MIN": ops.min, "REDUCE_PROD": ops.prod,
              "REDUCE_SUMSQ": lambda x, axis=None, keepdims=False: raw(
                  "REDUCE_SUMSQ", x, axes=None if axis is None else
                  tuple(axis) if isinstance(axis, tuple) else (axis,), keepdims=keepdims)}
for _op, _fn in REDUCTIONS.items():
    _dom = nonzero(0.5, 1.5) if _op == "REDUCE_PROD" else (-2.0, 2.0)
    for _shape, _axis, _keep in [((5, 4, 3), None, False), ((5, 4, 3), 1, False),
                                 ((5, 4, 3), (0, 2), True), ((5, 4, 3), -1, True),
                                 ((5, 4, 3), 0, False), ((257,), 0, False), ((1,), None, True),
                                 ((2, 33), (0, 1), False)]:
        case(_op, lambda x, f=_fn, a=_axis, k=_keep: f(x, axis=a, keepdims=k), [_shape],
             domain=_dom)
    if _op != "REDUCE_MEAN":
        case(_op, lambda x, f=_fn: f(x, axis=1), [(0, 4)], domain=_dom)
case("REDUCE_PROD", lambda x: ops.prod(x, axis=1),
     [(3, 4)], inputs=[np.array([[0.0, 2.0, 3.0, -1.0], [0.0, 1.5, 0.0, 2.0],
                                 [1.0, 2.0, 0.5, -3.0]])])
for _op, _fn in [("ARGMAX", ops.argmax), ("ARGMIN", ops.argmin)]:
    case(_op, lambda x, f=_fn: f(x, axis=1), [(5, 7)])
    case(_op, lambda x, f=_fn: f(x, axis=0, keepdims=True), [(257, 3)])
    case(_op, lambda x, f=_fn: f(x, axis=1), [(6, 5)], domain=integers(-1, 1))   # ties
case("REDUCE_MEAN", lambda x: ops.mean(x, axis=0), [(0, 4)], grad=False)   # NaN, as numpy
case("REDUCE_MAX", lambda x: ops.max(x, axis=0), [(0, 4)], grad=False)     # -inf
for _op, _fn in [("REDUCE_ANY", ops.any), ("REDUCE_ALL", ops.all)]:
    case(_op, lambda x, f=_fn: f(x, axis=1), [(5, 3)], dtypes=["bool"])
    case(_op, lambda x, f=_fn: f(x), [(0, 3)], dtypes=["bool"])

for _op, _fn in [("SOFTMAX", ops.softmax), ("LOG_SOFTMAX", ops.log_softmax)]:
    case(_op, lambda x, f=_fn: f(x, axis=-1), [(5, 4, 3)])
    case(_op, lambda x, f=_fn: f(x, axis=1), [(5, 4, 3)])
    case(_op, lambda x, f=_fn: f(x, axis=0), [(5, 4)])
    case(_op, lambda x, f=_fn: f(x, axis=-1), [(3, 257)], domain=(-6.0, 6.0))
    case(_op, lambda x, f=_fn: f(x, axis=-1), [(4, 1)])

# ---- contraction ---------------------------------------------------------------------------


def mm(ta=False, tb=False):
    return lambda a, b: raw("MATMUL", a, b, transpose_a=ta, transpose_b=tb)


def matmul_case(fn, shapes, **kwargs):
    """Rows of the first operand unknown by default (axis 0 of b is its K)."""
    kwargs.setdefault("none_axes", [(0,), ()])
    case("MATMUL", fn, shapes, **kwargs)


matmul_case(mm(), [(5, 3), (3, 4)])
matmul_case(mm(), [(17, 33), (33, 65)], grad_atol=3e-5)
matmul_case(mm(False, True), [(5, 3), (4, 3)])
matmul_case(mm(True, False), [(3, 5), (3, 4)], none_axes=())
matmul_case(mm(True, True), [(3, 5), (4, 3)], none_axes=())
matmul_case(mm(), [(2, 5, 3), (3, 4)])
matmul_case(mm(False, True), [(2, 5, 3), (4, 3)])
matmul_case(mm(), [(2, 5, 3), (2, 3, 4)], none_axes=[(0,), (0,)])
matmul_case(mm(True, True), [(2, 3, 5), (2, 4, 3)], none_axes=[(0,), (0,)])
matmul_case(mm(), [(1, 5, 3), (3, 3, 4)], none_axes=[(), (0,)])
matmul_case(mm(), [(5, 3), (2, 3, 4)], none_axes=[(), (0,)])
matmul_case(mm(True, False), [(2, 1, 3, 5), (3, 4)])
matmul_case(mm(), [(0, 3), (3, 4)])
matmul_case(mm(), [(1, 1), (1, 1)])
matmul_case(mm(), [(5, 0), (0, 4)])
matmul_case(mm(True, False), [(0, 5), (0, 4)], none_axes=())
matmul_case(lambda a, b: ops.matmul(a, b), [(7,), (7, 2)], none_axes=())

# ---- layout ---------------------------------------------------------------------------------

case("RESHAPE", lambda x: ops.reshape(x, (3, 8)), [(6, 4)], none_axes=())
case("RESHAPE", lambda x: ops.reshape(x, (None, -1)), [(5, 3, 4)])
case("RESHAPE", lambda x: ops.reshape(x, (-1,)), [(5, 3)])
case("RESHAPE", lambda x: ops.expand_dims(x, 1), [(5, 3)])
case("RESHAPE", lambda x: ops.squeeze(x, 1), [(5, 1, 3)])
case("RESHAPE", lambda x: ops.reshape(x, (0, 7)), [(0, 7)], none_axes=())
# two unknown dims merged: the gradient reshapes back like the input (RESHAPE_LIKE)
case("RESHAPE", lambda x: ops.reshape(x, (-1, 4)), [(2, 3, 4)], none_axes=[(0, 1)])
case("RESHAPE", lambda x: ops.reshape(x, (None, -1)), [(2, 3, 5, 2)], none_axes=[(0, 1, 2)])
case("RESHAPE_LIKE", lambda x, like: raw("RESHAPE_LIKE", x, like), [(6, 4), (2, 3, 4)],
     none_axes=())
case("RESHAPE_LIKE", lambda x, like: raw("RESHAPE_LIKE", x, like), [(6, 4), (6, 1, 4)],
     none_axes=[(0,), (0,)])
case("RESHAPE_LIKE", lambda x, like: raw("RESHAPE_LIKE", x, like), [(0, 3), (2, 0, 3)],
     none_axes=())
# like's leading dims, then x's from `skip` on (TimeDistributed's (b * t, ...) -> (b, t, ...))
case("RESHAPE_LIKE", lambda x, like: raw("RESHAPE_LIKE", x, like, lead=2, skip=1),
     [(6, 5, 2), (2, 3, 7)], none_axes=())
# the fused attention (its gradient is its composite's), with a broadcast mask and causal
case("ATTENTION", lambda q, k, v: ops.dot_product_attention(q, k, v), [(2, 3, 2, 4),
                                                                        (2, 5, 2, 4),
                                                                        (2, 5, 2, 3)])
case("ATTENTION", lambda q, k, v: ops.dot_product_attention(
    q, k, v, is_causal=True, mask=np.array([True, False, True, True])),
    [(1, 4, 2, 3), (1, 4, 2, 3), (1, 4, 2, 2)], none_axes=())
# the fused layer normalization over the last axis (its gradient is its composite's):
# gamma and beta, either alone, neither; a row of one
case("LAYER_NORM", lambda x, g, b: ops.layer_normalization(x, g, b, epsilon=1e-3),
     [(3, 4, 7), (7,), (7,)], none_axes=[(0,), (), ()])
case("LAYER_NORM", lambda x, g: ops.layer_normalization(x, g, None, epsilon=1e-2),
     [(5, 17), (17,)], none_axes=[(0,), ()])
case("LAYER_NORM", lambda x, b: ops.layer_normalization(x, None, b), [(2, 3), (3,)],
     none_axes=[(0,), ()])
case("LAYER_NORM", lambda x: ops.layer_normalization(x, epsilon=0.5), [(4, 1)])
# ATTENTION's gradient ops, as its grad rule builds them (their own gradients: their
# expansions'); the mask broadcasts over (B, N, T, S) and leaves one query out everywhere
_ATT_MASK = np.array([[True, False, True, True, False], [False] * 5, [True] * 5])


def _attention_grad_parts(q, k, v, dout, mask=None, causal=False):
    extra = [] if mask is None else [mask]
    attrs = {"scale": 0.6, "causal": causal}
    att = raw("ATTENTION", q, k, v, *extra, **attrs)
    return att, raw("ATTENTION_LSE", att, q, k, *extra, **attrs), extra, attrs


def _attention_lse(q, k, v, **kwargs):
    return _attention_grad_parts(q, k, v, None, **kwargs)[1]


def _attention_grad(wrt, **kwargs):
    def fn(q, k, v, dout):
        att, lse, extra, attrs = _attention_grad_parts(q, k, v, dout, **kwargs)
        return raw("ATTENTION_GRAD", q, k, v, att, dout, lse, *extra, wrt=wrt, **attrs)
    return fn


_ATT_SHAPES = [(2, 3, 2, 4), (2, 5, 2, 4), (2, 5, 2, 3)]
# (forward only: ATTENTION_GRAD reads the log-sum-exp as it is, nothing differentiates it)
case("ATTENTION_LSE", _attention_lse, _ATT_SHAPES, grad=False)
case("ATTENTION_LSE", lambda q, k, v: _attention_lse(q, k, v, mask=_ATT_MASK, causal=True),
     _ATT_SHAPES, none_axes=(), grad=False)
for _wrt in range(3):
    case("ATTENTION_GRAD", _attention_grad(_wrt), _ATT_SHAPES + [(2, 3, 2, 3)])
    case("ATTENTION_GRAD", _attention_grad(_wrt, mask=_ATT_MASK, causal=True),
         _ATT_SHAPES + [(2, 3, 2, 3)], none_axes=())
# its gradient with respect to x as one kernel, with and without gamma (its own gradient
# is its expansion's: the composite's gradient differentiated again)
case("LAYER_NORM_GRAD", lambda g, gamma, x: raw("LAYER_NORM_GRAD", g, gamma, x, epsilon=1e-2,
                                                scale=True), [(3, 6), (6,), (3, 6)],
     none_axes=[(0,), (), (0,)])
case("LAYER_NORM_GRAD", lambda g, x: raw("LAYER_NORM_GRAD", g, x, epsilon=0.1, scale=False),
     [(2, 2, 5), (2, 2, 5)], none_axes=())
# the forward only: finite differences see the identity the gradient stops
case("STOP_GRADIENT", lambda x: ops.exp(ops.stop_gradient(x)), [(4, 3)], grad=False)
case("TRANSPOSE", lambda x: ops.transpose(x), [(5, 3)])
case("TRANSPOSE", lambda x: ops.transpose(x, (2, 0, 1)), [(5, 4, 3)])
case("TRANSPOSE", lambda x: ops.transpose(x, (1, 0, 2)), [(0, 2, 3)])
case("CONCATENATE", lambda a, b: ops.concatenate([a, b], axis=0), [(2, 3), (5, 3)])
case("CONCATENATE", lambda a, b: ops.concatenate([a, b], axis=0), [(5, 3), (2, 3)])
case("CONCATENATE", lambda a, b, c: ops.concatenate([a, b, c], axis=-1),
     [(4, 2), (4, 0), (4, 17)])
case("CONCATENATE", lambda a, b: ops.stack([a, b], axis=1), [(5, 3), (5, 3)])
case("SLICE", lambda x: x[1:4, ::2], [(6, 5)], none_axes=())
case("SLICE", lambda x: x[:, -3:-1], [(6, 5)])
case("SLICE", lambda x: x[::-2], [(7, 3)], none_axes=())
# a whole axis reversed before whole axes: not a contiguous block (a view gave the input)
case("SLICE", lambda x: x[:, :, ::-1], [(2, 3, 4, 1)])
case("SLICE", lambda x: x[:, ::-1], [(2, 3, 4)])
case("SLICE", lambda x: x[:, 2], [(0, 3)])
case("SLICE", lambda x: x[..., 1:], [(2, 3, 33)])
case("CONCAT_PIECE", lambda g, a, b: raw("CONCAT_PIECE", g, a, b, axis=0, index=1),
     [(7, 3), (2, 3), (5, 3)], none_axes=())
case("CONCAT_PIECE", lambda g, a, b, c: raw("CONCAT_PIECE", g, a, b, c, axis=-1, index=0),
     [(4, 6), (4, 2), (4, 0), (4, 4)])
_SL = {"begin": (None, 1), "end": (None, 4), "step": (1, 2)}
case("SLICE_GRAD", lambda g, like: raw("SLICE_GRAD", g, like, **_SL), [(6, 2), (6, 5)])
case("SLICE_GRAD", lambda g, like: raw("SLICE_GRAD", g, like, begin=(3,), end=(None,),
                                       step=(-1,)), [(4,), (9,)], none_axes=())
case("BROADCAST_TO", lambda x: ops.broadcast_to(x, (4, 3)), [(1, 3)], none_axes=())
case("BROADCAST_TO", lambda x: ops.broadcast_to(x, (2, 4, 3)), [(3,)], none_axes=())
case("BROADCAST_TO", lambda x: ops.broadcast_to(x, (None, 5)), [(6, 1)])
case("BROADCAST_TO", lambda x: ops.repeat(x, 3, axis=1), [(5, 2)])
case("BROADCAST_TO", lambda x: ops.tile(x, (2, 3)), [(5, 2)])

# ---- convolution, pooling, padding (graphnet/ops/nn.py) ---------------------------------


def _kernel(shape, seed=11):
    """A fixed kernel of ``shape`` as a variable of x's dtype (so float64 builds work)."""
    value = np.random.default_rng(seed).standard_normal(shape) * 0.5

    def make(x):
        return gn.Variable(value, dtype=x.dtype, name="kernel")
    return make


def conv_case(kshape, **kwargs):
    make = _kernel(kshape)
    return lambda x: ops.conv(x, make(x), **kwargs)


case("CONV", conv_case((3, 2, 4)), [(2, 9, 2)])
case("CONV", conv_case((3, 3, 3, 5), strides=2, padding="same"), [(2, 7, 6, 3)])
case("CONV", conv_case((2, 2, 1, 4), dilation_rate=2), [(1, 6, 5, 2)])
case("CONV", conv_case((3, 2, 4), padding="causal"), [(3, 8, 2)])
case("CONV", lambda x, w: ops.conv(x, w, padding="same"), [(2, 5, 5, 3), (3, 3, 3, 4)],
     none_axes=[(0,), ()])
case("CONV", lambda x: ops.depthwise_conv(x, _kernel((3, 3, 2, 2))(x)), [(2, 6, 5, 2)])
case("CONV", conv_case((1, 1, 17, 33)), [(0, 3, 3, 17)])
case("CONV_TRANSPOSE", lambda x: ops.conv_transpose(x, _kernel((3, 4, 2))(x), strides=2),
     [(2, 5, 2)])
case("CONV_TRANSPOSE", lambda x: ops.conv_transpose(x, _kernel((3, 3, 2, 3))(x), strides=2,
                                                    padding="same"), [(2, 4, 3, 3)])
case("CONV_BACKWARD_FILTER", lambda x, dy: raw(
    "CONV_BACKWARD_FILTER", x, dy, strides=(1, 1), dilations=(1, 1), groups=1,
    padding="valid", kernel=(2, 3)), [(2, 5, 6, 3), (2, 4, 4, 4)])
case("CONV_BACKWARD_FILTER", lambda x, dy: raw(
    "CONV_BACKWARD_FILTER", x, dy, strides=(2,), dilations=(1,), groups=1,
    padding="same", kernel=(3,)), [(3, 9, 2), (3, 5, 5)])


def _distinct(rng, shape):
    """Well separated values (no ties for max pooling), shuffled."""
    n = int(np.prod(shape))
    return rng.permutation(np.linspace(-2, 2, n)).reshape(shape)


case("POOL", lambda x: ops.max_pool(x, 2), [(2, 6, 7, 3)], domain=_distinct)
case("POOL", lambda x: ops.max_pool(x, 3, strides=2, padding="same"), [(2, 7, 3)],
     domain=_distinct)
case("POOL", lambda x: ops.average_pool(x, (2, 3), strides=(1, 2)), [(2, 5, 7, 2)])
case("POOL", lambda x: ops.average_pool(x, 3, strides=2, padding="same"), [(1, 6, 5, 3)])
_POOL = {"window": (2, 2), "strides": (2, 2), "padding": "valid"}
case("POOL_GRAD", lambda x, dy: raw("POOL_GRAD", x, dy, mode="avg", **_POOL),
     [(2, 4, 5, 3), (2, 2, 2, 3)])
case("POOL_GRAD", lambda x, dy: raw("POOL_GRAD", x, dy, mode="max", **_POOL),
     [(2, 4, 5, 3), (2, 2, 2, 3)], domain=_distinct, grad=False)
case("PAD", lambda x: ops.pad(x, ((0, 0), (1, 2))), [(5, 3)])
case("PAD", lambda x: ops.pad(x, ((1, 0), (0, 0), (2, 3)), constant_values=0.5), [(3, 1, 4)],
     none_axes=())

# ---- sources, random, training phase -----------------------------------------------------


def _with_variable(x):
    rng = np.random.default_rng(7)
    v = gn.Variable(rng.standard_normal((3,)), dtype=x.dtype, name="w")
    return x * v + 1.0


case("INPUT", lambda x: x, [(5, 3)])
case("VARIABLE", _with_variable, [(5, 3)])
case("CONSTANT", lambda x: x * np.arange(3.0) - 2.0, [(5, 3)])
case("RANDOM", lambda x: x * ops.cast(ops.random_uniform_like(x, seed=3), x.dtype), [(5, 7)])
case("RANDOM", lambda x: ops.cast(ops.random_normal_like(x, seed=4), x.dtype) + x, [(257,)])


def _dropout_mask(x, rate, seed):
    """dropout(ones) as x's dtype: the RANDOM draws are float32."""
    ones = ops.ones_like(ops.cast(x, "float32"))
    return ops.cast(ops.dropout(ones, rate, seed=seed), x.dtype)


case("RANDOM", lambda x: x * _dropout_mask(x, 0.5, 5), [(6, 9)])
for _training in (True, False):
    case("IN_TRAIN_PHASE", lambda a, b: ops.in_train_phase(a * 2.0, ops.sin(b)),
         [(5, 4), (5, 4)], training=_training)
    case("IN_TRAIN_PHASE", lambda x: ops.in_train_phase(x * _dropout_mask(x, 0.25, 9), x),
         [(4, 6)], training=_training)


# ---- fused ops (made by the compiler's fusion pass) -----------------------------------

_PROGRAM = (("MUL", (0, 1), 0.0, 0.0), ("TANH", (3,), 0.0, 0.0), ("ADD", (4, 2), 0.0, 0.0),
            ("LEAKY_RELU", (5,), 0.1, 0.0), ("SQUARE", (6,), 0.0, 0.0))
case("FUSED_ELTWISE", lambda a, b, c: raw("FUSED_ELTWISE", a, b, c, program=_PROGRAM),
     [(5, 7), (7,), (1, 7)], domain=away([0.0]))
case("FUSED_ELTWISE", lambda a, b: raw("FUSED_ELTWISE", a, b,
                                       program=(("SUB", (0, 1), 0.0, 0.0),
                                                ("ELU", (2,), 0.7, 0.0))),
     [(3, 300), (3, 1)], domain=away([0.0]))
case("MATMUL_BIAS_ACT", lambda a, b, c: raw("MATMUL_BIAS_ACT", a, b, c, act="GELU_TANH",
                                            alpha=0.0, beta=0.0), [(4, 9), (9, 17), (17,)],
     none_axes=[(0,), (), ()])
case("MATMUL_BIAS_ACT", lambda a, b: raw("MATMUL_BIAS_ACT", a, b, act=None, transpose_b=True),
     [(2, 3, 5), (6, 5)], none_axes=[(0,), ()])
case("MATMUL_BIAS_ACT", lambda a, b, c, r: raw("MATMUL_BIAS_ACT", a, b, c, r, bias=True,
                                               residual=True, act="TANH"),
     [(4, 9), (9, 17), (1, 17), (4, 17)], none_axes=[(0,), (), (), (0,)])
case("MATMUL_BIAS_ACT", lambda a, b, r: raw("MATMUL_BIAS_ACT", a, b, r, bias=False,
                                            residual=True, act=None, transpose_b=True),
     [(2, 3, 5), (6, 5), (2, 3, 6)], none_axes=[(0,), (), (0,)])


def _multi_eltwise(a, s, b, t):
    """Two tensors (a (3, 5) with the single value s, b (7,) with t) through one program of
    two results (tanh(x * v) + x and x * v), every part read back."""
    program = (("MUL", (0, 1), 0.0, 0.0), ("TANH", (2,), 0.0, 0.0), ("ADD", (3, 0), 0.0, 0.0))
    multi = raw("FUSED_MULTI_ELTWISE", a, s, b, t, program=program, results=(4, 2),
                shapes=((3, 5), (7,)))
    parts = [raw("MULTI_PART", multi, offset=o, shape=sh)
             for o, sh in [(0, (3, 5)), (15, (3, 5)), (30, (7,)), (37, (7,))]]
    return ops.concatenate([ops.reshape(p, (-1,)) for p in parts], axis=0)


for _op in ("FUSED_MULTI_ELTWISE", "MULTI_PART"):
    case(_op, _multi_eltwise, [(3, 5), (1,), (7,), ()], none_axes=[(), (), (), ()])
_CONV2D = dict(strides=(1, 2), dilations=(1, 1), groups=1, padding="same")
case("CONV_BIAS_ACT", lambda x, w, b, r: raw("CONV_BIAS_ACT", x, w, b, r, bias=True,
                                             residual=True, act="TANH", **_CONV2D),
     [(2, 5, 6, 3), (3, 3, 3, 4), (4,), (2, 5, 3, 4)], none_axes=[(0,), (), (), (0,)])
case("CONV_BIAS_ACT", lambda x, w, b: raw("CONV_BIAS_ACT", x, w, b, bias=True, act="GELU",
                                          strides=(2,), dilations=(2,), groups=2,
                                          padding="valid"),
     [(2, 11, 4), (3, 2, 6), (1, 6)], none_axes=[(0,), (), ()])
case("CONV_BIAS_ACT", lambda x, w, r: raw("CONV_BIAS_ACT", x, w, r, residual=True, **_CONV2D),
     [(1, 4, 5, 1), (2, 3, 1, 3), (1, 4, 3, 3)], none_axes=[(), (), ()])
case("CONV_BIAS_ACT_POOL", lambda x, w, b: raw("CONV_BIAS_ACT_POOL", x, w, b, bias=True,
                                               act="SOFTPLUS", window=(2, 3), **_CONV2D),
     [(2, 5, 11, 3), (3, 3, 3, 4), (4,)], none_axes=[(0,), (), ()])

# TAKE's indices: negative ones, repeated ones (the scatter-add of the gradient), int64
case("TAKE", lambda x, i: ops.take(x, i, axis=0), [(7, 3), (5,)], dtypes=["float", "int32"],
     domain=[(-2.0, 2.0), (-7, 6)], none_axes=[(), (0,)])
case("TAKE", lambda x, i: ops.take(x, i, axis=1), [(2, 5, 3), (3, 4)],
     dtypes=["float", "int64"], domain=[(-2.0, 2.0), (0, 1)], none_axes=[(0,), ()])
case("TAKE", lambda x, i: ops.take(x, i), [(3, 4), (2,)], dtypes=["float", "int32"],
     domain=[(-2.0, 2.0), (-12, 11)], none_axes=())
case("TAKE_GRAD", lambda g, i, like: raw("TAKE_GRAD", g, i, like, axis=0),
     [(6, 3), (6,), (4, 3)], dtypes=["float", "int32", "float"],
     domain=[(-2.0, 2.0), (-4, 3), (-2.0, 2.0)], none_axes=[(0,), (0,), ()])


def transforms(channel_terms=False):
    """Affine transforms near the identity, shifted by up to 2 pixels (some taps outside),
    with c0 and c1 (Keras's channel terms) when asked."""
    def draw(rng, shape):
        t = rng.uniform(-0.3, 0.3, size=shape)
        t[:, [0, 4]] += 1.0
        t[:, [2, 5]] *= 7.0
        if not channel_terms:
            t[:, 6:] = 0.0
        return t
    return draw


def _affine(interpolation, fill_mode, data_format="channels_last", fill_value=0.5):
    return lambda x, t: ops.image.affine_transform(x, t, interpolation, fill_mode, fill_value,
                                                   data_format)


case("AFFINE_TRANSFORM", _affine("bilinear", "constant"), [(2, 5, 7, 3), (2, 8)],
     domain=[(-2.0, 2.0), transforms()], none_axes=())
case("AFFINE_TRANSFORM", _affine("bilinear", "wrap", "channels_first"), [(2, 3, 5, 4), (2, 8)],
     domain=[(-2.0, 2.0), transforms(True)], none_axes=())
case("AFFINE_TRANSFORM", _affine("bilinear", "mirror"), [(1, 4, 3, 2), (1, 8)],
     domain=[(-2.0, 2.0), transforms(True)], none_axes=())
case("AFFINE_TRANSFORM", _affine("bilinear", "reflect"), [(3, 1, 6, 1), (3, 8)],
     domain=[(-2.0, 2.0), transforms()], none_axes=())
case("AFFINE_TRANSFORM", _affine("nearest", "nearest"), [(2, 6, 5, 2), (2, 8)],
     domain=[(-2.0, 2.0), transforms(True)], none_axes=())
case("AFFINE_TRANSFORM", _affine("nearest", "reflect", "channels_first"),
     [(2, 2, 7, 3), (2, 8)], domain=[(-2.0, 2.0), transforms()], none_axes=())
for _wrt in (0, 1):
    case("AFFINE_TRANSFORM_GRAD", lambda t, g, x, wrt=_wrt: raw(
        "AFFINE_TRANSFORM_GRAD", *((t, g, x) if wrt else (t, g)), wrt=wrt,
        interpolation="bilinear", fill_mode="constant", fill_value=0.25,
        channels_first=False), [(2, 8), (2, 4, 5, 3), (2, 4, 5, 3)],
        domain=[transforms(True), (-2.0, 2.0), (-2.0, 2.0)], grad=False,
        none_axes=())

# ---- recurrent sequences (each cell and option in tests/test_recurrent.py) -------------------
# RNN_SEQUENCE's gradient is RNN_BPTT then RNN_PARAM_GRAD, checked by finite differences;
# the backward ops themselves (no gradient of their own) C against reference, on a record
# the forward op computed.


def _rnn(cell, mask_mode=0, **options):
    """(attrs, shapes, dtypes, none_axes) of RNN_SEQUENCE with a bias, h0 (and an LSTM's
    c0), a bool mask when mask_mode is not 0; batch and time steps unknown."""
    attrs = dict(dict(cell=cell, units=3, activation="tanh", recurrent_activation="sigmoid",
                      go_backwards=False, reset_after=False, mask_mode=mask_mode,
                      has_bias=True, has_h0=True, has_c0=cell == "lstm", rec_masked=False),
                 **options)
    g = GATES[cell] * 3
    shapes = [(2, 4, 5), (5, g), (3, g), bias_shape(attrs)] + [(2, 3)] * (1 + attrs["has_c0"])
    none_axes = [(0, 1), (), (), ()] + [(0,)] * (1 + attrs["has_c0"])
    dtypes = ["float"] * len(shapes)
    if mask_mode:
        shapes.append((2, 4))
        none_axes.append((0, 1))
        dtypes.append("bool")
    return attrs, shapes, dtypes, none_axes


def _rnn_record(attrs, tensors):
    return raw("RNN_SEQUENCE", *tensors, **attrs)


def _rnn_bptt(attrs):
    """RNN_BPTT(gY, Y, R, h0, [c0], [mask]) on the record Y of the sequence's inputs."""
    def fn(*tensors):
        *inputs, gy = tensors
        return raw("RNN_BPTT", gy, _rnn_record(attrs, inputs), inputs[2], *inputs[4:], **attrs)
    return fn


def _rnn_param_grad(attrs, wrt):
    """RNN_PARAM_GRAD {wrt} of the backward record of a random gradient of Y."""
    other = {"x": 1, "kernel": 0}

    def fn(*tensors):
        *inputs, gy = tensors
        z = _rnn_bptt(attrs)(*inputs, gy)
        extra = [inputs[other[wrt]]] if wrt in other else []
        return raw("RNN_PARAM_GRAD", z, *extra, **dict(attrs, wrt=wrt))
    return fn


_RNN_OPTIONS = [("lstm", {"mask_mode": MASK_CARRY, "go_backwards": True}),
                ("gru", {"reset_after": True, "mask_mode": MASK_ZERO}),
                ("gru", {"reset_after": False, "activation": "relu"}),
                ("simple_rnn", {"go_backwards": True})]
for _cell, _options in _RNN_OPTIONS:
    _attrs, _shapes, _dtypes, _none = _rnn(_cell, **_options)
    case("RNN_SEQUENCE", lambda *t, a=_attrs: _rnn_record(a, t), _shapes, dtypes=_dtypes,
         none_axes=_none, domain=(-1.0, 1.0))
    _width = record_layout(_cell, 3, _attrs["reset_after"], _attrs["mask_mode"] != 0)[1]
    _bptt = dict(dtypes=_dtypes + ["float"], none_axes=_none + [(0, 1)], domain=(-1.0, 1.0),
                 grad=False)
    case("RNN_BPTT", _rnn_bptt(_attrs), _shapes + [(2, 4, _width)], **_bptt)
    for _wrt in WRT[:5] + (("c0",) if _cell == "lstm" else ()):
        case("RNN_PARAM_GRAD", _rnn_param_grad(_attrs, _wrt), _shapes + [(2, 4, _width)],
             **_bptt)



class _ClosureCell(gn.layers.Layer):
    """A cell reading its weights from the enclosing graph: they become RNN_UNROLL inputs."""

    def __init__(self, w, u):
        super().__init__()
        self.w, self.u, self.state_size = w, u, u.shape[0]

    def call(self, inputs, states):
        h = ops.tanh(ops.matmul(inputs, self.w) + ops.matmul(states[0], self.u))
        return h * 0.5, [h]


def _unrolled_rnn(x, h0, w, u, mask=None, **options):
    layer = gn.layers.RNN(_ClosureCell(w, u), return_sequences=True, **options)
    return layer(x, initial_state=[h0], mask=mask)


# RNN_UNROLL: the time steps unknown until the plan is specialized, masks carried over
_RNN_SHAPES = [(2, 4, 3), (2, 3), (3, 3), (3, 3)]
case("RNN_UNROLL", lambda x, h0, w, u: _unrolled_rnn(x, h0, w, u, go_backwards=True),
     _RNN_SHAPES, none_axes=[(0, 1), (0,), (), ()], domain=(-1.0, 1.0))
case("RNN_UNROLL", lambda x, m, h0, w, u: _unrolled_rnn(x, h0, w, u, mask=m),
     _RNN_SHAPES[:1] + [(2, 4)] + _RNN_SHAPES[1:], dtypes=["float", "bool", "float", "float",
                                                           "float"],
     none_axes=[(0, 1), (0, 1), (0,), (), ()], domain=(-1.0, 1.0))
case("RNN_UNROLL_GRAD", lambda x, h0, w, u: gn.gradients(
    ops.sum(ops.square(_unrolled_rnn(x, h0, w, u, zero_output_for_mask=True))), [u])[0],
    _RNN_SHAPES, none_axes=[(0, 1), (0,), (), ()], domain=(-1.0, 1.0), grad=False)

@pytest.mark.parametrize("op, fn, shapes, kwargs", CASES)
def test_op(op, fn, shapes, kwargs):
    check_op(fn, shapes, op=op, **kwargs)


def test_every_op_is_covered():
    covered = {p.values[0] for p in CASES}
    missing = sorted(set(gn.ops.all_ops()) - covered)
    assert not missing, f"ops without a check_op case in tests/test_ops.py: {missing}"


def test_model_reshaping_two_unknown_dims_trains():
    """Reshape((-1, 3)) of (batch, None, None, 3): the gradient reshapes back through two
    dims unknown until a batch is fed (RESHAPE_LIKE); each SGD step matches NumPy."""
    layers = gn.layers
    model = gn.Sequential([gn.Input((None, None, 4)), layers.Dense(3), layers.Reshape((-1, 3)),
                           layers.GlobalAveragePooling1D()])
    lr = 0.1
    model.compile(optimizer=gn.optimizers.SGD(learning_rate=lr), loss="mse")
    rng = np.random.default_rng(5)
    for shape in [(2, 3, 5, 4), (3, 2, 1, 4)]:
        x = rng.standard_normal(shape).astype("f4")
        y = rng.standard_normal((shape[0], 3)).astype("f4")
        w, b = model.get_weights()
        cells = shape[1] * shape[2]
        pred = (x @ w + b).reshape(shape[0], cells, 3).mean(axis=1)
        dh = np.repeat(2 * (pred - y) / y.size / cells, cells, axis=0)  # rows as (b, t, s)
        loss = model.train_on_batch(x, y)
        np.testing.assert_allclose(loss, np.mean((pred - y) ** 2), rtol=1e-5)
        new_w, new_b = model.get_weights()
        np.testing.assert_allclose(new_w, w - lr * x.reshape(-1, 4).T @ dh, rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(new_b, b - lr * dh.sum(axis=0), rtol=1e-5, atol=1e-6)


def test_reshape_like_names_both_shapes():
    x, like = gn.Input(batch_shape=(6, 4)), gn.Input(batch_shape=(5, 4))
    with pytest.raises(ValueError, match=r"cannot reshape \(6, 4\) \(24 elements\) like "
                                         r"\(5, 4\) \(20 elements\)"):
        raw("RESHAPE_LIKE", x, like)


def test_gelu_constants():
    # the gradient rules use these; keep them tied to the forward definitions
    assert math.isclose(math.sqrt(2 / math.pi), 0.7978845608028654)
