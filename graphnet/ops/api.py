"""``gn.ops``: the public op functions layers and ``Lambda`` build graphs with.

Every function takes symbolic tensors (or arrays and numbers, made constants)
and returns a symbolic tensor; composites are built from primitives here so
each gradient is written once, beside its primitive.
"""
import builtins

import numpy as np

from ..graph.node import Node
from ..graph.tensor import SymbolicTensor
from ..graph.variable import Variable
from .source import ConstantValue

__all__ = []


def export(fn):
    __all__.append(fn.__name__)
    return fn


def as_node(x, dtype=None):
    """A graph node for ``x``: tensors pass through, numbers and arrays become constants."""
    if isinstance(x, SymbolicTensor):
        return x.node
    if isinstance(x, Node):
        return x
    if isinstance(x, Variable):
        return Node("VARIABLE", (), {"var": x})
    array = np.asarray(x)
    if dtype is None:
        dtype = _default_dtype(x, array)
    return Node("CONSTANT", (), {"value": ConstantValue(array.astype(dtype))})


def _default_dtype(x, array):
    """numpy arrays keep their dtype (float64 becomes float32); Python numbers are float32."""
    if array.dtype == bool:
        return "bool"
    if isinstance(x, (np.ndarray, np.generic)) and array.dtype != np.float64:
        return str(array.dtype)
    return "float32"


def _wrap(node):
    return SymbolicTensor(node)


def _apply(op, *args, **attrs):
    """Build ``op`` over args; plain numbers take the dtype of the first tensor argument."""
    like = next((a.dtype for a in args if isinstance(a, (SymbolicTensor, Node, Variable))), None)
    if like == "bool" and op not in _BOOL_OPS:
        like = None
    nodes = [as_node(a, like) for a in args]
    return _wrap(Node(op, nodes, attrs))


_BOOL_OPS = {"LOGICAL_AND", "LOGICAL_OR", "LOGICAL_XOR", "EQUAL", "NOT_EQUAL"}


@export
def convert_to_tensor(x, dtype=None):
    return _wrap(as_node(x, dtype))


# ---- unary maths and activations -------------------------------------------

def _unary(op_name, doc):
    def fn(x):
        return _apply(op_name, x)
    fn.__doc__ = doc
    return fn


for _fname, _op in [("negative", "NEG"), ("abs", "ABS"), ("absolute", "ABS"),
                    ("sign", "SIGN"), ("square", "SQUARE"), ("sqrt", "SQRT"),
                    ("rsqrt", "RSQRT"), ("reciprocal", "RECIPROCAL"), ("exp", "EXP"),
                    ("expm1", "EXPM1"), ("log", "LOG"), ("log1p", "LOG1P"), ("sin", "SIN"),
                    ("cos", "COS"), ("tan", "TAN"), ("arctan", "ATAN"), ("tanh", "TANH"),
                    ("sigmoid", "SIGMOID"), ("relu6", "RELU6"), ("selu", "SELU"),
                    ("softplus", "SOFTPLUS"), ("softsign", "SOFTSIGN"),
                    ("hard_sigmoid", "HARD_SIGMOID"), ("hard_silu", "HARD_SILU"),
                    ("hard_swish", "HARD_SILU"), ("silu", "SILU"), ("swish", "SILU"),
                    ("mish", "MISH"), ("log_sigmoid", "LOG_SIGMOID"), ("erf", "ERF"),
                    ("floor", "FLOOR"), ("ceil", "CEIL"), ("round", "ROUND")]:
    globals()[_fname] = _unary(_op, f"Elementwise {_op.lower()}.")
    __all__.append(_fname)


@export
def relu(x):
    """max(x, 0)."""
    return _apply("RELU", x)


@export
def leaky_relu(x, negative_slope=0.2):
    """x if x >= 0 else negative_slope * x."""
    return _apply("LEAKY_RELU", x, alpha=float(negative_slope))


@export
def elu(x, alpha=1.0):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _apply("ELU", x, alpha=float(alpha))


@export
def gelu(x, approximate=True):
    """Gaussian error linear unit; the tanh approximation when ``approximate``."""
    return _apply("GELU_TANH" if approximate else "GELU", x)


@export
def clip(x, x_min, x_max):
    """Limit values to [x_min, x_max]."""
    return _apply("CLIP", x, alpha=float(x_min), beta=float(x_max))


@export
def exponential(x):
    return exp(x)  # noqa: F821  (defined in the loop above)


@export
def linear(x):
    return x


@export
def logical_not(x):
    return logical_xor(x, True)


# ---- binary arithmetic and comparisons ---------------------------------------

def _binary(op_name, doc):
    def fn(x1, x2):
        return _apply(op_name, x1, x2)
    fn.__doc__ = doc
    return fn


for _fname, _op in [("add", "ADD"), ("subtract", "SUB"), ("multiply", "MUL"),
                    ("divide", "DIV"), ("true_divide", "DIV"), ("power", "POW"),
                    ("maximum", "MAXIMUM"), ("minimum", "MINIMUM"), ("mod", "MOD"),
                    ("floor_divide", "FLOOR_DIV"), ("arctan2", "ATAN2"), ("equal", "EQUAL"),
                    ("not_equal", "NOT_EQUAL"), ("less", "LESS"), ("less_equal", "LESS_EQUAL"),
                    ("greater", "GREATER"), ("greater_equal", "GREATER_EQUAL"),
                    ("logical_and", "LOGICAL_AND"), ("logical_or", "LOGICAL_OR"),
                    ("logical_xor", "LOGICAL_XOR")]:
    globals()[_fname] = _binary(_op, f"Elementwise {_op.lower()} with broadcasting.")
    __all__.append(_fname)


@export
def where(condition, x1, x2):
    """x1 where condition else x2 (broadcasting)."""
    like = next((a.dtype for a in (x1, x2) if isinstance(a, SymbolicTensor)), "float32")
    return _wrap(Node("WHERE", [as_node(condition, "bool"), as_node(x1, like),
                                as_node(x2, like)]))


@export
def cast(x, dtype):
    x = convert_to_tensor(x)
    if x.dtype == str(np.dtype(dtype)):
        return x
    return _apply("CAST", x, dtype=str(np.dtype(dtype)))


# ---- contraction ----------------------------------------------------------------

@export
def matmul(x1, x2):
    """Matrix product with numpy's rules: 1-D operands are promoted and squeezed."""
    a, b = convert_to_tensor(x1), convert_to_tensor(x2)
    squeeze = []
    if a.ndim == 1:
        a, squeeze = expand_dims(a, 0), squeeze + [-2]
    if b.ndim == 1:
        b, squeeze = expand_dims(b, -1), squeeze + [-1]
    out = _apply("MATMUL", a, b)
    return squeeze_axes(out, squeeze) if squeeze else out


def squeeze_axes(x, axes):
    axes = {a % x.ndim for a in axes}
    return reshape_dims(x, [("in", i) for i in range(x.ndim) if i not in axes])


@export
def dot(x1, x2):
    """numpy.dot for operands of rank <= 2 (matmul otherwise over the last/second-last axes)."""
    return matmul(x1, x2)


# ---- layout --------------------------------------------------------------------

def reshape_dims(x, spec):
    """RESHAPE with a raw spec: ints, -1, or ("in", i) copying input dim i."""
    spec = tuple(s if isinstance(s, tuple) else int(s) for s in spec)
    return _apply("RESHAPE", x, shape=spec)


@export
def reshape(x, newshape):
    """Reshape to ``newshape`` (one -1 entry is inferred; None keeps that input dim)."""
    x = convert_to_tensor(x)
    if isinstance(newshape, int):
        newshape = (newshape,)
    spec = [("in", i) if d is None else d for i, d in enumerate(newshape)]
    return reshape_dims(x, spec)


@export
def transpose(x, axes=None):
    x = convert_to_tensor(x)
    perm = tuple(reversed(range(x.ndim))) if axes is None else tuple(a % x.ndim for a in axes)
    if perm == tuple(range(x.ndim)):
        return x
    return _apply("TRANSPOSE", x, perm=perm)


@export
def concatenate(xs, axis=0):
    xs = [convert_to_tensor(x) for x in xs]
    if len(xs) == 1:
        return xs[0]
    return _wrap(Node("CONCATENATE", [x.node for x in xs], {"axis": int(axis)}))


@export
def stack(xs, axis=0):
    xs = [convert_to_tensor(x) for x in xs]
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis)


@export
def expand_dims(x, axis):
    x = convert_to_tensor(x)
    rank = x.ndim + 1
    axis = axis % rank
    spec = [("in", i) for i in range(x.ndim)]
    spec.insert(axis, 1)
    return reshape_dims(x, spec)


@export
def squeeze(x, axis=None):
    x = convert_to_tensor(x)
    if axis is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    else:
        axes = [a % x.ndim for a in (axis if isinstance(axis, (tuple, list)) else [axis])]
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {x.shape} is not 1")
    return squeeze_axes(x, axes)


@export
def broadcast_to(x, shape):
    x = convert_to_tensor(x)
    shape = tuple(-1 if d is None else int(d) for d in shape)
    return _apply("BROADCAST_TO", x, shape=shape)


@export
def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis`` (flattened when None)."""
    x = convert_to_tensor(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = axis % x.ndim
    spread = expand_dims(x, axis + 1)
    target = [-1] * spread.ndim
    target[axis + 1] = int(repeats)
    tiled = _apply("BROADCAST_TO", spread, shape=tuple(target))
    spec = [("in", i) for i in range(axis)] + [-1] + [("in", i) for i in range(axis + 2,
                                                                            spread.ndim)]
    return reshape_dims(tiled, spec)


@export
def tile(x, repeats):
    x = convert_to_tensor(x)
    repeats = list(repeats)
    if len(repeats) < x.ndim:
        repeats = [1] * (x.ndim - len(repeats)) + repeats
    while x.ndim < len(repeats):
        x = expand_dims(x, 0)
    out = x
    for axis, r in enumerate(repeats):
        if r != 1:
            spread = expand_dims(out, axis)
            target = [-1] * spread.ndim
            target[axis] = int(r)
            tiled = _apply("BROADCAST_TO", spread, shape=tuple(target))
            spec = ([("in", i) for i in range(axis)] + [-1]
                    + [("in", i) for i in range(axis + 2, spread.ndim)])
            out = reshape_dims(tiled, spec)
    return out


@export
def getitem(x, index):
    """Basic indexing: ints, slices, Ellipsis and None (newaxis)."""
    x = convert_to_tensor(x)
    if not isinstance(index, tuple):
        index = (index,)
    n_real = builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
    if n_real > x.ndim:
        raise IndexError(f"too many indices for a tensor of rank {x.ndim}")
    expanded = []
    for i in index:
        if i is Ellipsis:
            expanded += [slice(None)] * (x.ndim - n_real)
        else:
            expanded.append(i)
    while builtins.sum(1 for i in expanded if i is not None) < x.ndim:
        expanded.append(slice(None))
    begin, end, step, spec, axis = [], [], [], [], 0
    for i in expanded:
        if i is None:
            spec.append(1)
            continue
        dim = x.shape[axis]
        if isinstance(i, slice):
            begin.append(i.start)
            end.append(i.stop)
            step.append(1 if i.step is None else i.step)
            spec.append(("in", axis))
        elif isinstance(i, (int, np.integer)):
            i = int(i)
            if dim is not None and not -dim <= i < dim:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {dim}")
            if dim is None and i < 0:
                raise IndexError("negative indices need a known dimension")
            begin.append(i)
            end.append(i + 1 if i != -1 else None)
            step.append(1)
        else:
            raise TypeError(f"unsupported index {i!r}: use ints, slices, ... or None")
        axis += 1
    sliced = x
    if builtins.any(b not in (None, 0) or e is not None or s != 1 for b, e, s in zip(begin, end, step)):
        sliced = _apply("SLICE", x, begin=tuple(begin), end=tuple(end), step=tuple(step))
    if spec == [("in", a) for a in range(x.ndim)]:
        return sliced
    return reshape_dims(sliced, spec)


# ---- reductions and softmax -------------------------------------------------------

def _axes(axis):
    if axis is None:
        return None
    return tuple(axis) if isinstance(axis, (tuple, list)) else (int(axis),)


def _reduction(op_name, doc):
    def fn(x, axis=None, keepdims=False):
        return _apply(op_name, x, axes=_axes(axis), keepdims=bool(keepdims))
    fn.__doc__ = doc
    return fn


for _fname, _op in [("sum", "REDUCE_SUM"), ("mean", "REDUCE_MEAN"), ("max", "REDUCE_MAX"),
                    ("min", "REDUCE_MIN"), ("prod", "REDUCE_PROD"), ("any", "REDUCE_ANY"),
                    ("all", "REDUCE_ALL"), ("amax", "REDUCE_MAX"), ("amin", "REDUCE_MIN")]:
    globals()[_fname] = _reduction(_op, f"{_op.lower()} over ``axis`` (all axes when None).")
    __all__.append(_fname)


@export
def argmax(x, axis=-1, keepdims=False):
    return _apply("ARGMAX", x, axes=(int(axis),), keepdims=bool(keepdims))


@export
def argmin(x, axis=-1, keepdims=False):
    return _apply("ARGMIN", x, axes=(int(axis),), keepdims=bool(keepdims))


@export
def var(x, axis=None, keepdims=False):
    """Population variance (as numpy.var)."""
    centered = subtract(x, mean(x, axis=axis, keepdims=True))  # noqa: F821
    return mean(square(centered), axis=axis, keepdims=keepdims)  # noqa: F821


@export
def std(x, axis=None, keepdims=False):
    return sqrt(var(x, axis=axis, keepdims=keepdims))  # noqa: F821


@export
def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) computed stably."""
    m = max(x, axis=axis, keepdims=True)  # noqa: F821
    out = add(log(sum(exp(subtract(x, m)), axis=axis, keepdims=True)), m)  # noqa: F821
    return out if keepdims else squeeze_axes(out, _reduced_axes(out, axis))


def _reduced_axes(x, axis):
    if axis is None:
        return list(range(x.ndim))
    return [a % x.ndim for a in _axes(axis)]


@export
def softmax(x, axis=-1):
    return _apply("SOFTMAX", x, axis=int(axis))


@export
def log_softmax(x, axis=-1):
    return _apply("LOG_SOFTMAX", x, axis=int(axis))


@export
def one_hot(x, num_classes, dtype="float32"):
    """One-hot encode integer labels along a new last axis."""
    x = convert_to_tensor(x)
    labels = expand_dims(cast(x, "float32"), -1)
    classes = np.arange(num_classes, dtype="float32")
    return cast(equal(labels, classes), dtype)  # noqa: F821


@export
def full_like(x, fill_value):
    """An array of x's shape and (floating) dtype filled with ``fill_value``."""
    return _apply("FULL_LIKE", x, value=float(fill_value))


@export
def zeros_like(x):
    return full_like(x, 0.0)


@export
def ones_like(x):
    return full_like(x, 1.0)


@export
def in_train_phase(x_train, x_infer, training=None):
    """x_train when training, else x_infer; with training=None the compiled mode decides."""
    if training is not None:
        return convert_to_tensor(x_train if training else x_infer)
    return _apply("IN_TRAIN_PHASE", x_train, x_infer)


def rng_state(seed=None):
    """A fresh generator state variable {seed, counter} for random ops."""
    if seed is None:
        from ..initializers import session_rng
        seed = int(session_rng().integers(0, 2 ** 62))
    return Variable(np.array([int(seed), 0], dtype=np.int64), name="rng_state", trainable=False)


def _random(dist, like, shape_spec, a, b, seed):
    state = as_node(rng_state(seed))
    return _wrap(Node("RANDOM", [state, as_node(like)],
                      {"dist": dist, "shape": tuple(shape_spec), "a": float(a), "b": float(b)}))


def _like_spec(x, noise_shape=None):
    if noise_shape is None:
        return [("in", i) for i in range(x.ndim)]
    if len(noise_shape) != x.ndim:
        raise ValueError(f"noise_shape {tuple(noise_shape)} must have rank {x.ndim} like the "
                         f"input {x.shape}")
    return [("in", i) if d is None else int(d) for i, d in enumerate(noise_shape)]


@export
def dropout(x, rate, noise_shape=None, seed=None):
    """Zero each element with probability ``rate`` and scale the rest by 1 / (1 - rate)."""
    x = convert_to_tensor(x)
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    keep = 1.0 - rate
    mask = _random("bernoulli", x, _like_spec(x, noise_shape), keep, 1.0 / keep, seed)
    return multiply(x, mask)  # noqa: F821


@export
def random_normal_like(x, mean=0.0, stddev=1.0, seed=None):
    """Normal samples of x's shape (drawn anew on every run)."""
    x = convert_to_tensor(x)
    return _random("normal", x, _like_spec(x), mean, stddev, seed)


@export
def random_uniform_like(x, minval=0.0, maxval=1.0, seed=None):
    """Uniform samples in [minval, maxval) of x's shape (drawn anew on every run)."""
    x = convert_to_tensor(x)
    return _random("uniform", x, _like_spec(x), minval, maxval, seed)


@export
def shape(x):
    return convert_to_tensor(x).shape


@export
def ndim(x):
    return convert_to_tensor(x).ndim
