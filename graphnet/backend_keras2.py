"""Keras 2's ``keras.backend`` functions (``K.int_shape``, ``K.mean``, ``K.concatenate``, ...)
on gn.ops, so Keras 2 programs' ``from graphnet import backend as K`` runs.

Each keeps Keras 2's signature and defaults where they differ from Keras 3's ops
(``K.concatenate`` joins along the last axis, ``K.expand_dims`` adds a last axis,
``K.hard_sigmoid`` is ``clip(0.2 x + 0.5)``, ``K.pool2d`` strides default to 1, ...).
Functions that name the same op with the same arguments are the gn.ops functions
themselves (``KERAS2_SAME_AS_OPS``). Keras 2 functions graphnet has no op for (cumsum,
rnn, ctc_*, map_fn, foldl, resize_images, random_* of a fixed shape, ...) are absent:
``K.cumsum`` raises AttributeError rather than computing something else.
"""
import builtins

import numpy as np

from . import config, ops
from .graph.tensor import SymbolicTensor
from .graph.variable import Variable

#: Keras 2 backend names whose gn.ops function takes the same arguments.
KERAS2_SAME_AS_OPS = (
    "abs", "all", "any", "argmax", "argmin", "cast", "cos", "elu", "equal", "exp",
    "greater", "greater_equal", "in_train_phase", "less", "less_equal", "log", "max",
    "maximum", "mean", "min", "minimum", "ndim", "not_equal", "one_hot", "prod", "reshape",
    "round", "sigmoid", "sign", "sin", "softmax", "softplus", "softsign", "sqrt", "square",
    "squeeze", "stack", "std", "sum", "tanh", "tile", "transpose", "var", "dropout", "shape")

__all__ = list(KERAS2_SAME_AS_OPS)
globals().update({name: getattr(ops, name) for name in KERAS2_SAME_AS_OPS})


def _export(fn):
    __all__.append(fn.__name__)
    return fn


# ---- shapes, dtypes and values -------------------------------------------------------

@_export
def int_shape(x):
    """The static shape as a tuple, None for unknown dimensions (the batch)."""
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


@_export
def dtype(x):
    return str(x.dtype)


@_export
def count_params(x):
    """The number of elements of a variable (or array)."""
    return int(np.prod(int_shape(x), dtype=np.int64))


@_export
def constant(value, dtype=None, shape=None):
    """A constant tensor of ``dtype`` (floatx by default), ``value`` broadcast to
    ``shape`` when given."""
    array = np.asarray(value, dtype=dtype or config.floatx())
    if shape is not None:
        array = np.broadcast_to(array, tuple(shape))
    return ops.convert_to_tensor(array)


@_export
def variable(value, dtype=None, name=None, constraint=None):
    return Variable(np.asarray(value, dtype=dtype or config.floatx()),
                    name=name or "variable", constraint=constraint)


@_export
def zeros(shape, dtype=None, name=None):
    """A variable of zeros (Keras 2 returns a variable)."""
    return variable(np.zeros(shape), dtype, name)


@_export
def ones(shape, dtype=None, name=None):
    return variable(np.ones(shape), dtype, name)


@_export
def eye(size, dtype=None, name=None):
    return variable(np.eye(size), dtype, name)


@_export
def arange(start, stop=None, step=1, dtype="int32"):
    return ops.convert_to_tensor(np.arange(start, stop, step, dtype=dtype))


@_export
def cast_to_floatx(x):
    """A NumPy array of floatx (tensors are cast)."""
    if isinstance(x, (SymbolicTensor, Variable)):
        return ops.cast(x, config.floatx())
    return np.asarray(x, dtype=config.floatx())


@_export
def get_value(x):
    """A variable's (or array's) value as a NumPy array."""
    if isinstance(x, Variable):
        return x.numpy()
    if isinstance(x, SymbolicTensor):
        raise TypeError("get_value: a symbolic tensor has no value until a model runs it "
                        "(use model.predict or gn.function)")
    return np.asarray(x)


@_export
def eval(x):
    return get_value(x)


@_export
def batch_get_value(tensors):
    return [get_value(x) for x in tensors]


@_export
def set_value(x, value):
    if not isinstance(x, Variable):
        raise TypeError(f"set_value: x must be a Variable, got {type(x).__name__}")
    x.assign(np.asarray(value, dtype=x.dtype))


@_export
def batch_set_value(tuples):
    for x, value in tuples:
        set_value(x, value)


@_export
def update(x, new_x):
    return x.assign(new_x)


@_export
def update_add(x, increment):
    return x.assign_add(increment)


@_export
def update_sub(x, decrement):
    return x.assign_sub(decrement)


@_export
def zeros_like(x, dtype=None):
    out = ops.zeros_like(x)
    return out if dtype is None else ops.cast(out, dtype)


@_export
def ones_like(x, dtype=None):
    out = ops.ones_like(x)
    return out if dtype is None else ops.cast(out, dtype)


@_export
def is_sparse(tensor):
    """False: graphnet has no sparse tensors."""
    return False


@_export
def to_dense(tensor):
    """The tensor itself: graphnet's tensors are dense."""
    return tensor


@_export
def gradients(loss, variables):
    from .autodiff import gradients as symbolic_gradients
    return symbolic_gradients(loss, variables)


# ---- maths with Keras 2's signatures ------------------------------------------------------

@_export
def pow(x, a):
    return ops.power(x, a)


@_export
def clip(x, min_value, max_value):
    """Keras 2's clip: None bounds are unbounded and max_value below min_value is raised."""
    if isinstance(min_value, (int, float)) and isinstance(max_value, (int, float)):
        max_value = builtins.max(min_value, max_value)
    lo = -np.inf if min_value is None else min_value
    hi = np.inf if max_value is None else max_value
    return ops.clip(x, lo, hi)


@_export
def switch(condition, then_expression, else_expression):
    return ops.where(condition, then_expression, else_expression)


@_export
def hard_sigmoid(x):
    """Keras 2's: clip(0.2 * x + 0.5, 0, 1) (Keras 3's gn.ops.hard_sigmoid is x / 6 + 0.5)."""
    return ops.clip(ops.add(ops.multiply(x, 0.2), 0.5), 0.0, 1.0)


@_export
def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """Keras 2's relu: leaky below ``threshold`` with slope ``alpha``, capped at
    ``max_value``."""
    if alpha != 0 and max_value is None and threshold == 0:
        return ops.leaky_relu(x, negative_slope=alpha)
    if alpha != 0:
        negative_part = ops.relu(ops.add(ops.negative(x), threshold))
    if threshold != 0:
        out = ops.multiply(x, ops.cast(ops.greater(x, threshold), config.floatx()))
    else:
        out = ops.relu(x)
    if max_value is not None:
        out = ops.clip(out, 0.0, max_value)
    if alpha != 0:
        out = ops.subtract(out, ops.multiply(negative_part, alpha))
    return out


@_export
def l2_normalize(x, axis=None):
    """x / sqrt(max(sum(x ** 2, axis), 1e-12)), as tf.linalg.l2_normalize."""
    sq = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return ops.multiply(x, ops.rsqrt(ops.maximum(sq, 1e-12)))


@_export
def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary cross-entropy (Keras 2's: not averaged over an axis)."""
    if from_logits:   # max(x, 0) - x * z + log(1 + exp(-|x|))
        return ops.add(ops.subtract(ops.relu(output), ops.multiply(output, target)),
                       ops.log1p(ops.exp(ops.negative(ops.abs(output)))))
    eps = config.epsilon()
    output = ops.clip(output, eps, 1.0 - eps)
    bce = ops.multiply(target, ops.log(ops.add(output, eps)))
    bce = ops.add(bce, ops.multiply(ops.subtract(1.0, target),
                                    ops.log(ops.add(ops.subtract(1.0, output), eps))))
    return ops.negative(bce)


@_export
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    from . import losses
    return losses.categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)


@_export
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    from . import losses
    return losses.sparse_categorical_crossentropy(target, output, from_logits=from_logits,
                                                  axis=axis)


@_export
def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    return ops.batch_normalization(x, mean, var, axis, offset=beta, scale=gamma,
                                   epsilon=epsilon)


@_export
def bias_add(x, bias, data_format=None):
    """x + bias along the channel axis of ``data_format``."""
    x = ops.convert_to_tensor(x)
    if config.standardize_data_format(data_format) == "channels_first" and x.ndim > 2:
        bias = ops.reshape(bias, (1, -1) + (1,) * (x.ndim - 2))
    return ops.add(x, bias)


# ---- layout with Keras 2's defaults ----------------------------------------------------------

@_export
def concatenate(tensors, axis=-1):
    return ops.concatenate(tensors, axis=axis)


@_export
def expand_dims(x, axis=-1):
    return ops.expand_dims(x, axis)


@_export
def flatten(x):
    return ops.reshape(x, (-1,))


@_export
def batch_flatten(x):
    """(batch, ...) -> (batch, prod(...))."""
    return ops.reshape(x, (None, -1))


@_export
def permute_dimensions(x, pattern):
    return ops.transpose(x, tuple(pattern))


@_export
def repeat_elements(x, rep, axis):
    return ops.repeat(x, rep, axis=axis)


@_export
def repeat(x, n):
    """(batch, features) -> (batch, n, features)."""
    x = ops.convert_to_tensor(x)
    if x.ndim != 2:
        raise ValueError(f"repeat: x must have rank 2 (batch, features), got shape {x.shape}")
    return ops.tile(ops.expand_dims(x, 1), (1, n, 1))


@_export
def gather(reference, indices):
    return ops.take(reference, indices, axis=0)


@_export
def dot(x, y):
    """Keras 2's dot: a matrix product over x's last and y's second-to-last axis, the
    remaining axes of x then of y in the result."""
    x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
    if x.ndim <= 2 and y.ndim <= 2:
        return ops.matmul(x, y)
    if y.ndim < 2:
        raise ValueError(f"dot: y of shape {y.shape} needs rank >= 2 when x has rank > 2")
    if None in y.shape:
        raise ValueError(f"dot: y's shape {y.shape} must be known when x or y has rank > 2")
    perm = [y.ndim - 2] + [i for i in range(y.ndim) if i != y.ndim - 2]
    xt = ops.reshape(x, (-1, x.shape[-1]))
    yt = ops.reshape(ops.transpose(y, perm), (y.shape[-2], -1))
    out_shape = [-1 if d is None else d for d in x.shape[:-1] + y.shape[:-2] + y.shape[-1:]]
    return ops.reshape(ops.matmul(xt, yt), out_shape)


@_export
def batch_dot(x, y, axes=None):
    """Per-sample dot products of batches of rank 2 or 3, contracting ``axes`` (x's last
    and y's second-to-last by default); a rank-1 result gains a last axis of 1."""
    x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
    if not (2 <= x.ndim <= 3 and 2 <= y.ndim <= 3):
        raise ValueError(f"batch_dot: x and y must have rank 2 or 3, got shapes {x.shape} "
                         f"and {y.shape}")
    if axes is None:
        axes = (x.ndim - 1, y.ndim - 2 if y.ndim == 3 else 1)
    axes = (axes, axes) if isinstance(axes, int) else tuple(axes)
    ax, ay = axes[0] % x.ndim, axes[1] % y.ndim
    if ax == 0 or ay == 0:
        raise ValueError(f"batch_dot: axes {axes} must not contract the batch axis 0")
    xm = ops.transpose(x, [0] + [i for i in range(1, x.ndim) if i != ax] + [ax])
    ym = ops.transpose(y, [0, ay] + [i for i in range(1, y.ndim) if i != ay])
    xm = xm if x.ndim == 3 else ops.expand_dims(xm, 1)
    ym = ym if y.ndim == 3 else ops.expand_dims(ym, -1)
    out = ops.matmul(xm, ym)
    squeeze = ([1] if x.ndim == 2 else []) + ([2] if y.ndim == 2 else [])
    out = ops.squeeze(out, axis=squeeze) if squeeze else out
    return ops.expand_dims(out, -1) if out.ndim == 1 else out


# ---- convolution, pooling and padding --------------------------------------------------------

@_export
def conv1d(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    return ops.conv(x, kernel, strides, padding, data_format, dilation_rate)


@_export
def conv2d(x, kernel, strides=(1, 1), padding="valid", data_format=None,
           dilation_rate=(1, 1)):
    return ops.conv(x, kernel, strides, padding, data_format, dilation_rate)


@_export
def conv3d(x, kernel, strides=(1, 1, 1), padding="valid", data_format=None,
           dilation_rate=(1, 1, 1)):
    return ops.conv(x, kernel, strides, padding, data_format, dilation_rate)


@_export
def depthwise_conv2d(x, depthwise_kernel, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1)):
    return ops.depthwise_conv(x, depthwise_kernel, strides, padding, data_format,
                              dilation_rate)


@_export
def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding="valid",
                     data_format=None, dilation_rate=(1, 1)):
    return ops.separable_conv(x, depthwise_kernel, pointwise_kernel, strides, padding,
                              data_format, dilation_rate)


def _pool(x, pool_size, strides, padding, data_format, pool_mode):
    if pool_mode not in ("max", "avg"):
        raise ValueError(f"pool_mode must be 'max' or 'avg', got {pool_mode!r}")
    pool = ops.max_pool if pool_mode == "max" else ops.average_pool
    return pool(x, pool_size, strides, padding, data_format)


@_export
def pool2d(x, pool_size, strides=(1, 1), padding="valid", data_format=None, pool_mode="max"):
    return _pool(x, pool_size, strides, padding, data_format, pool_mode)


@_export
def pool3d(x, pool_size, strides=(1, 1, 1), padding="valid", data_format=None,
           pool_mode="max"):
    return _pool(x, pool_size, strides, padding, data_format, pool_mode)


def _pad_spatial(x, padding, data_format):
    x = ops.convert_to_tensor(x)
    pads = [tuple(p) for p in padding]
    if config.standardize_data_format(data_format) == "channels_first":
        return ops.pad(x, [(0, 0), (0, 0)] + pads)
    return ops.pad(x, [(0, 0)] + pads + [(0, 0)])


@_export
def temporal_padding(x, padding=(1, 1)):
    """Zeros before and after the time axis of (batch, steps, features)."""
    return _pad_spatial(x, [padding], "channels_last")


@_export
def spatial_2d_padding(x, padding=((1, 1), (1, 1)), data_format=None):
    return _pad_spatial(x, padding, data_format)


@_export
def spatial_3d_padding(x, padding=((1, 1), (1, 1), (1, 1)), data_format=None):
    return _pad_spatial(x, padding, data_format)
