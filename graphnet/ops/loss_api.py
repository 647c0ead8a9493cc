"""keras.ops.nn's losses and normalizations as ``gn.ops`` functions: binary, categorical
and sparse categorical crossentropy per element (no reduction, as keras.ops gives them;
the reducing Loss classes live in graphnet/losses.py), normalize, rms_normalization and
the vector and matrix norms.

Probabilities are clipped to [epsilon, 1 - epsilon] (gn.config.epsilon()) before the
logarithm as Keras does; logits go through log_softmax or the stable softplus form.
"""
import numpy as np

from ..config import epsilon as configured_epsilon
from . import api
from .promotion import result_type
from .shape_api import checked_axis

__all__ = []


def export(fn):
    __all__.append(fn.__name__)
    return fn


def _same_shape(target, output, where):
    if len(target.shape) != len(output.shape) or any(
            a is not None and b is not None and a != b
            for a, b in zip(target.shape, output.shape)):
        raise ValueError(f"{where}: target and output must have the same shape, got "
                         f"target.shape={target.shape} and output.shape={output.shape}")


def _float_pair(target, output):
    output = api.convert_to_tensor(output)
    dtype = result_type(output.dtype, float)
    return api.cast(target, dtype), api.cast(output, dtype)


def _clipped(output):
    eps = configured_epsilon()
    return api.clip(output, eps, 1.0 - eps)


@export
def binary_crossentropy(target, output, from_logits=False):
    """-(t log(p) + (1 - t) log(1 - p)) per element; with ``from_logits`` p is
    sigmoid(output), computed as softplus(output) - t * output."""
    target, output = _float_pair(target, output)
    _same_shape(target, output, "binary_crossentropy")
    if from_logits:
        return api.subtract(api.softplus(output), api.multiply(target, output))
    p = _clipped(output)
    return api.negative(api.add(api.multiply(target, api.log(p)),
                                api.multiply(api.subtract(1.0, target),
                                             api.log(api.subtract(1.0, p)))))


def _log_probabilities(output, from_logits, axis):
    if from_logits:
        return api.log_softmax(output, axis=axis)
    total = api.sum(output, axis=axis, keepdims=True)
    return api.log(_clipped(api.divide(output, total)))


@export
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """-sum(target * log(p), axis) with p the output scaled to sum to 1 over ``axis``
    (log_softmax of it with ``from_logits``)."""
    target, output = _float_pair(target, output)
    _same_shape(target, output, "categorical_crossentropy")
    if output.ndim < 1:
        raise ValueError("categorical_crossentropy: target and output must be at least "
                         f"rank 1, got shape {output.shape}")
    log_p = _log_probabilities(output, from_logits, int(axis))
    return api.negative(api.sum(api.multiply(target, log_p), axis=int(axis)))


@export
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """categorical_crossentropy of the integer class labels ``target`` (output's shape
    without ``axis``; a trailing size-1 axis is dropped)."""
    output = api.convert_to_tensor(output)
    output = api.cast(output, result_type(output.dtype, float))
    target = api.convert_to_tensor(target)
    if output.ndim < 1:
        raise ValueError(f"sparse_categorical_crossentropy: output must be at least rank 1, "
                         f"got shape {output.shape}")
    axis = checked_axis(output, axis, "sparse_categorical_crossentropy")
    if target.ndim == output.ndim and target.shape[axis] == 1:
        target = api.squeeze(target, axis)
    classes = output.shape[axis]
    without_class = output.shape[:axis] + output.shape[axis + 1:]
    if classes is None or len(target.shape) != len(without_class) or any(
            a is not None and b is not None and a != b
            for a, b in zip(target.shape, without_class)):
        raise ValueError("sparse_categorical_crossentropy: target must have output's shape "
                         "without the class axis (of known size), got "
                         f"target.shape={target.shape} and output.shape={output.shape}")
    onehot = api.one_hot(target, classes, dtype=output.dtype)
    if axis != output.ndim - 1:
        order = list(range(output.ndim - 1))
        order.insert(axis, output.ndim - 1)
        onehot = api.transpose(onehot, order)
    log_p = _log_probabilities(output, from_logits, axis)
    return api.negative(api.sum(api.multiply(onehot, log_p), axis=axis))


@export
def normalize(x, axis=-1, order=2, epsilon=None):
    """x divided by its ``order``-norm over ``axis`` (at least ``epsilon``); for order 2,
    x * min(rsqrt(sum(x^2)), 1 / epsilon) as Keras."""
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"normalize: order must be an int >= 1, got {order!r}")
    x = api.convert_to_tensor(x)
    x = api.cast(x, result_type(x.dtype, float))
    if x.ndim == 0:
        x = api.expand_dims(x, 0)
    epsilon = configured_epsilon() if epsilon is None else float(epsilon)
    if order == 2:
        inv = api.rsqrt(api.sum(api.square(x), axis=axis, keepdims=True))
        return api.multiply(x, api.minimum(inv, 1.0 / epsilon))
    magnitude = api.abs(x)
    if order == 1:
        norm = api.sum(magnitude, axis=axis, keepdims=True)
    else:
        norm = api.power(api.sum(api.power(magnitude, float(order)), axis=axis, keepdims=True),
                         1.0 / order)
    return api.divide(x, api.maximum(norm, epsilon))


@export
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """x * rsqrt(mean(x^2, axis) + epsilon), times ``scale`` when given."""
    x = api.convert_to_tensor(x)
    original = x.dtype
    x = api.cast(x, result_type(x.dtype, "float32"))
    epsilon = configured_epsilon() if epsilon is None else float(epsilon)
    if x.ndim == 0:
        x = api.expand_dims(x, 0)
    axis = sorted(axis) if isinstance(axis, (tuple, list)) else axis
    inv = api.rsqrt(api.add(api.mean(api.square(x), axis=axis, keepdims=True), epsilon))
    out = api.multiply(x, inv)
    out = out if scale is None else api.multiply(out, api.cast(scale, x.dtype))
    return api.cast(out, original)


@export
def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norms over one axis (ord None/2, 1, p, inf, -inf, 0) and matrix norms over
    two (None/'fro', 1, -1, inf, -inf), as numpy.linalg.norm; the spectral and nuclear
    norms need singular values, which graphnet does not compute."""
    x = api.convert_to_tensor(x)
    x = api.cast(x, result_type(x.dtype, float))
    axes = list(range(x.ndim)) if axis is None else \
        list(axis) if isinstance(axis, (tuple, list)) else [axis]
    if axis is None and ord is not None and x.ndim not in (1, 2):
        raise ValueError(f"norm: with axis None and ord {ord!r}, x must be 1-D or 2-D, got "
                         f"shape {x.shape}")
    if axis is None and ord is None:
        return _frobenius(x, None, keepdims)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, tuple(a % x.ndim for a in axes), keepdims)
    raise ValueError(f"norm: axis must be None, an int or two ints, got {axis!r}")


def _frobenius(x, axes, keepdims):
    return api.sqrt(api.sum(api.square(x), axis=axes, keepdims=keepdims))


def _vector_norm(x, ord, axis, keepdims):
    magnitude = api.abs(x)
    if ord is None or ord == 2:
        return _frobenius(x, axis, keepdims)
    if ord == np.inf:
        return api.max(magnitude, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return api.min(magnitude, axis=axis, keepdims=keepdims)
    if ord == 0:
        return api.sum(api.cast(api.not_equal(x, 0.0), x.dtype), axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: ord {ord!r} is a matrix norm; a vector norm takes a number")
    if ord == 1:
        return api.sum(magnitude, axis=axis, keepdims=keepdims)
    total = api.sum(api.power(magnitude, float(ord)), axis=axis, keepdims=keepdims)
    return api.power(total, 1.0 / float(ord))


def _matrix_norm(x, ord, axes, keepdims):
    rows, cols = axes
    if rows == cols:
        raise ValueError(f"norm: the two axes must differ, got {axes}")
    if ord is None or ord == "fro":
        return _frobenius(x, axes, keepdims)
    if ord not in (1, -1, np.inf, -np.inf):
        raise ValueError(f"norm: matrix ord {ord!r} is not supported (None, 'fro', 1, -1, inf "
                         "and -inf are; 2, -2 and 'nuc' need singular values)")
    summed, other = (rows, cols) if ord in (1, -1) else (cols, rows)
    sums = api.sum(api.abs(x), axis=summed, keepdims=True)
    pick = api.max if ord > 0 else api.min
    out = pick(sums, axis=other, keepdims=True)
    return out if keepdims else api.squeeze(out, axis=list(axes))
