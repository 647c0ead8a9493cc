"""``gn.ops``: the public op functions layers and ``Lambda`` build graphs with.

Every function takes symbolic tensors (or arrays and numbers, made constants)
and returns a symbolic tensor; composites are built from primitives here so
each gradient is written once, beside its primitive.
"""
import builtins

import numpy as np

from ..graph.node import Node
from ..graph.tensor import SymbolicTensor
from ..graph.trace import current_trace
from ..graph.variable import Variable
from ..config import floatx
from ..config import standardize_data_format as _config_data_format
from .dims import Dim, shape_of
from .promotion import promote
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
        trace = current_trace()
        latest = None if trace is None else trace.read(x)
        return latest.node if latest is not None else Node("VARIABLE", (), {"var": x})
    array = np.asarray(x)
    if dtype is None:
        dtype = _default_dtype(x, array)
    return Node("CONSTANT", (), {"value": ConstantValue(array.astype(dtype))})


def _default_dtype(x, array):
    """As Keras's convert_to_tensor: numpy arrays keep their dtype (float64 becomes floatx,
    float32 unless set: the C kernels' dtype); Python bools are bool, ints int32, floats
    floatx."""
    if array.dtype == bool:
        return "bool"
    if array.dtype == np.float64:
        return floatx()
    if isinstance(x, (np.ndarray, np.generic)):
        return str(array.dtype)
    return "int32" if array.dtype.kind in "iu" else floatx()


def _wrap(node):
    return SymbolicTensor(node)


def _input_dtype(x):
    """The dtype promotion sees for one argument: a tensor's dtype, the Python types of
    Python numbers (int and float are weak, bool is not), the default dtype otherwise."""
    if isinstance(x, (SymbolicTensor, Node, Variable)):
        return x.dtype
    if type(x) in (bool, int, float):
        return type(x)
    return _default_dtype(x, np.asarray(x))


def _cast_node(node, dtype):
    return node if node.dtype == dtype else Node("CAST", (node,), {"dtype": dtype})


def _apply(op, *args, **attrs):
    """Build ``op`` over args with Keras's dtype promotion (graphnet/ops/promotion.py):
    inputs are cast to the dtype the kernel computes in, Python numbers become constants
    of it, and the output is cast to the dtype Keras gives the op."""
    compute, result = promote(op, [_input_dtype(a) for a in args])
    inputs = [_cast_node(as_node(a), d) if isinstance(a, (SymbolicTensor, Node, Variable))
              else as_node(a, d) for a, d in zip(args, compute)]
    node = Node(op, inputs, attrs)
    return _wrap(node if result is None else _cast_node(node, result))


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
def where(condition, x1=None, x2=None):
    """x1 where condition else x2 (broadcasting)."""
    if x1 is None or x2 is None:
        raise ValueError("where: x1 and x2 must both be given (where(condition) alone is "
                         "nonzero, whose size depends on the values; graphnet's graphs have "
                         "static shapes)")
    return _apply("WHERE", condition, x1, x2)


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
    if isinstance(newshape, (int, Dim)):
        newshape = (newshape,)
    spec = [("in", i) if d is None else _own_dim(x, d, newshape) if isinstance(d, Dim) else d
            for i, d in enumerate(newshape)]
    return reshape_dims(x, spec)


def _own_dim(x, dim, newshape):
    """A Dim in reshape's target: x's own size, or another tensor's, left to be inferred
    (-1) from x's size, which fixes it when the reshape is valid."""
    if dim.tensor.node is x.node:
        return ("in", dim.axis)
    if builtins.sum(isinstance(d, Dim) and d.tensor.node is not x.node or d == -1
           for d in newshape) > 1:
        raise ValueError(f"reshape: newshape {tuple(newshape)} has more than one size to "
                         "infer (-1 or a size of another tensor)")
    return -1


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
    return _apply("CONCATENATE", *xs, axis=int(axis))


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
    """Repeat each element ``repeats`` times (an int, or one count per element) along
    ``axis`` (flattened when None)."""
    x = convert_to_tensor(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = axis % x.ndim
    if np.ndim(repeats):  # one count per element along axis (ops/shape_api.py)
        from .shape_api import repeat_counts
        return repeat_counts(x, repeats, axis)
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
    repeats = [repeats] if isinstance(repeats, (int, np.integer)) else list(repeats)
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
def take(x, indices, axis=None):
    """Elements of ``x`` at ``indices`` along ``axis`` (``keras.ops.take``): the result has
    shape x.shape[:axis] + indices.shape + x.shape[axis + 1:]; with axis None, x is
    flattened first. A negative index counts from the end; one outside [-n, n) raises
    IndexError when run. Indices that are not int32 or int64 are cast to int32."""
    x = convert_to_tensor(x)
    if isinstance(indices, (SymbolicTensor, Node, Variable)):
        idx = convert_to_tensor(indices)
    else:
        array = np.asarray(indices)
        idx = convert_to_tensor(array if array.dtype.kind in "iu" else array.astype("int32"))
    if idx.dtype not in ("int32", "int64"):
        idx = cast(idx, "int32")
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    if x.ndim == 0:
        raise ValueError("take: x is a scalar; there is no axis to take along")
    if not -x.ndim <= int(axis) < x.ndim:
        raise ValueError(f"take: axis {axis} is out of range for x of rank {x.ndim}")
    return _apply("TAKE", x, idx, axis=int(axis) % x.ndim)


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
    """The shape as a tuple; a symbolic tensor's unknown sizes are Dims
    (graphnet/ops/dims.py), which shapes given to other ops accept."""
    return shape_of(x if isinstance(x, SymbolicTensor) else convert_to_tensor(x))


@export
def ndim(x):
    return convert_to_tensor(x).ndim


# ---- convolution, pooling, padding and normalization (ops in graphnet/ops/nn.py) ----------

def standardize_tuple(value, rank, name):
    """An int or a sequence of ``rank`` ints, as a tuple of ``rank`` ints."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank:
        raise ValueError(f"{name} must be an int or a tuple of {rank} ints, got {value}")
    return value


def standardize_data_format(data_format):
    """'channels_last' or 'channels_first'; None is gn.config.image_data_format()."""
    return _config_data_format(data_format)


def to_channels_last(x, data_format):
    """(N, C, *spatial) -> (N, *spatial, C) for channels_first; unchanged otherwise."""
    if data_format == "channels_first":
        return transpose(x, (0,) + tuple(range(2, x.ndim)) + (1,))
    return x


def from_channels_last(x, data_format):
    if data_format == "channels_first":
        return transpose(x, (0, x.ndim - 1) + tuple(range(1, x.ndim - 1)))
    return x


def _padding_mode(padding, allowed=("valid", "same")):
    if isinstance(padding, str):
        if padding.lower() not in allowed:
            raise ValueError(f"padding must be one of {allowed}, got {padding!r}")
        return padding.lower()
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def _spatial_rank(x, what):
    if not 3 <= x.ndim <= 5:
        raise ValueError(f"{what} needs inputs of rank 3, 4 or 5 (batch, spatial..., "
                         f"channels), got shape {x.shape}")
    return x.ndim - 2


@export
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-d convolution (1 to 3 spatial dims); kernel (*kernel_size, C / groups, filters).

    ``groups`` is C // kernel.shape[-2], as in Keras."""
    data_format = standardize_data_format(data_format)
    x = to_channels_last(convert_to_tensor(inputs), data_format)
    w = convert_to_tensor(kernel)
    rank = _spatial_rank(x, "conv")
    c, cg = x.shape[-1], w.shape[-2] if w.ndim >= 2 else None
    groups = c // cg if c is not None and cg and c >= cg else 1
    y = _apply("CONV", x, w, strides=standardize_tuple(strides, rank, "strides"),
               dilations=standardize_tuple(dilation_rate, rank, "dilation_rate"),
               groups=int(groups), padding=_padding_mode(padding, ("valid", "same", "causal")))
    return from_channels_last(y, data_format)


def conv_transpose_pads(kernel_size, stride, dilation, padding, output_padding=None):
    """(lo, hi) crops of the full transposed output ((n - 1) * s + dilated kernel), as
    Keras computes them (negative hi extends with zeros)."""
    keff = (kernel_size - 1) * dilation + 1
    if padding == "valid":
        op = builtins.max(keff, stride) - keff if output_padding is None else output_padding
        left, right = keff - 1, keff - 1 + op
    else:
        if output_padding is None:
            pad_len = stride + keff - 2
        else:
            pad_len = keff + keff % 2 - 2 + output_padding
        left = builtins.min(pad_len // 2 + pad_len % 2, keff - 1)
        right = pad_len - left
    return keff - 1 - left, keff - 1 - right


@export
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    """Transposed convolution; kernel (*kernel_size, filters, C) as Keras's."""
    data_format = standardize_data_format(data_format)
    x = to_channels_last(convert_to_tensor(inputs), data_format)
    w = convert_to_tensor(kernel)
    rank = _spatial_rank(x, "conv_transpose")
    strides = standardize_tuple(strides, rank, "strides")
    dilations = standardize_tuple(dilation_rate, rank, "dilation_rate")
    padding = _padding_mode(padding)
    if w.ndim != x.ndim:
        raise ValueError(f"conv_transpose: kernel shape {w.shape} does not match input shape "
                         f"{x.shape} (needs rank {x.ndim})")
    if isinstance(padding, str):
        ops_ = [None] * rank if output_padding is None else \
            standardize_tuple(output_padding, rank, "output_padding")
        pads = tuple(conv_transpose_pads(w.shape[i], strides[i], dilations[i], padding, ops_[i])
                     for i in range(rank))
    else:
        pads = padding
    y = _apply("CONV_TRANSPOSE", x, w, strides=strides, dilations=dilations, groups=1,
               padding=pads)
    return from_channels_last(y, data_format)


@export
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """Depthwise convolution; kernel (*kernel_size, C, depth_multiplier), output channel
    c * depth_multiplier + m."""
    data_format = standardize_data_format(data_format)
    x = to_channels_last(convert_to_tensor(inputs), data_format)
    w = convert_to_tensor(kernel)
    rank = _spatial_rank(x, "depthwise_conv")
    if w.ndim != x.ndim:
        raise ValueError(f"depthwise_conv: kernel shape {w.shape} does not match input shape "
                         f"{x.shape} (needs rank {x.ndim})")
    c = w.shape[-2]
    if x.shape[-1] is not None and x.shape[-1] != c:
        raise ValueError(f"depthwise_conv: the input has {x.shape[-1]} channels but the "
                         f"kernel of shape {w.shape} expects {c}: input shape {x.shape}")
    flat = reshape_dims(w, [("in", i) for i in range(rank)] + [1, -1])
    y = _apply("CONV", x, flat, strides=standardize_tuple(strides, rank, "strides"),
               dilations=standardize_tuple(dilation_rate, rank, "dilation_rate"),
               groups=int(c), padding=_padding_mode(padding, ("valid", "same", "causal")))
    return from_channels_last(y, data_format)


@export
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    """Depthwise convolution followed by a pointwise (1x1) convolution."""
    data_format = standardize_data_format(data_format)
    x = to_channels_last(convert_to_tensor(inputs), data_format)
    y = depthwise_conv(x, depthwise_kernel, strides, padding, "channels_last", dilation_rate)
    y = conv(y, pointwise_kernel, 1, "valid", "channels_last", 1)
    return from_channels_last(y, data_format)


def _pool(mode, inputs, pool_size, strides, padding, data_format):
    data_format = standardize_data_format(data_format)
    x = to_channels_last(convert_to_tensor(inputs), data_format)
    rank = _spatial_rank(x, f"{mode}_pool")
    window = standardize_tuple(pool_size, rank, "pool_size")
    strides = window if strides is None else standardize_tuple(strides, rank, "strides")
    y = _apply("POOL", x, mode=mode, window=window, strides=strides,
               padding=_padding_mode(padding))
    return from_channels_last(y, data_format)


@export
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling over 1 to 3 spatial dims (strides default to pool_size)."""
    return _pool("max", inputs, pool_size, strides, padding, data_format)


@export
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling; 'same' padding is not counted (TensorFlow's semantics)."""
    return _pool("avg", inputs, pool_size, strides, padding, data_format)


@export
def pad(x, pad_width, mode="constant", constant_values=None):
    """Constant padding: pad_width is an int, a (lo, hi) pair, or one pair per dim."""
    x = convert_to_tensor(x)
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    width = np.asarray(pad_width, dtype=np.int64)
    width = np.broadcast_to(width.reshape(-1, 2) if width.ndim else width, (x.ndim, 2))
    pads = tuple((int(lo), int(hi)) for lo, hi in width)
    if builtins.all(p == (0, 0) for p in pads):
        return x
    value = 0.0 if constant_values is None else float(constant_values)
    return _apply("PAD", x, pads=pads, value=value)


@export
def moments(x, axes, keepdims=False):
    """(mean, variance) over ``axes``; the variance is the centered (two-pass) one."""
    x = convert_to_tensor(x)
    m = mean(x, axis=axes, keepdims=True)  # noqa: F821
    v = mean(square(subtract(x, m)), axis=axes, keepdims=keepdims)  # noqa: F821
    if not keepdims:
        m = squeeze_axes(m, _reduced_axes(m, axes))
    return m, v


def _channel_vector(v, x, axis):
    """A per-channel vector shaped to broadcast against x along ``axis``."""
    v = convert_to_tensor(v)
    axis = axis % x.ndim
    if v.ndim == x.ndim or axis == x.ndim - 1:
        return v
    spec = [1] * x.ndim
    spec[axis] = -1
    return reshape_dims(v, spec)


@export
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, as x * a + b with per-channel
    a and b (mean, variance, offset and scale broadcast along ``axis``)."""
    x = convert_to_tensor(x)
    mean_ = _channel_vector(mean, x, axis)
    inv = rsqrt(add(_channel_vector(variance, x, axis), float(epsilon)))  # noqa: F821
    if scale is not None:
        inv = multiply(inv, _channel_vector(scale, x, axis))  # noqa: F821
    shift = negative(multiply(mean_, inv))  # noqa: F821
    if offset is not None:
        shift = add(shift, _channel_vector(offset, x, axis))  # noqa: F821
    return add(multiply(x, inv), shift)  # noqa: F821


@export
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, rms_scaling=False):
    """Normalize over ``axis`` (int or list) per sample; Keras 3's formulas."""
    x = convert_to_tensor(x)
    epsilon = 1e-3 if epsilon is None else float(epsilon)
    axes = sorted(a % x.ndim for a in ([axis] if isinstance(axis, int) else axis))
    from .layer_norm import fused_layer_norm   # (it builds on this module)
    fused = fused_layer_norm(x, gamma, beta, axes, epsilon, rms_scaling)
    return layer_norm_composite(x, gamma, beta, axes, epsilon, rms_scaling) if fused is None \
        else fused


def layer_norm_composite(x, gamma, beta, axes, epsilon, rms_scaling):
    """layer_normalization from moments and elementwise ops (LAYER_NORM's expansion)."""
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]

    def bcast(v):
        v = convert_to_tensor(v)
        if v.ndim != x.ndim and axes != [x.ndim - 1]:
            return reshape(v, shape)
        return v
    m, v = moments(x, axes, keepdims=True)
    inv = rsqrt(add(v, epsilon))  # noqa: F821
    if rms_scaling:  # Keras 3 scales by the variance without centering
        out = multiply(x, inv)  # noqa: F821
        return out if gamma is None else multiply(out, bcast(gamma))  # noqa: F821
    if gamma is not None:
        inv = multiply(inv, bcast(gamma))  # noqa: F821
    shift = negative(multiply(m, inv))  # noqa: F821
    if beta is not None:
        shift = add(shift, bcast(beta))  # noqa: F821
    return add(multiply(x, inv), shift)  # noqa: F821
