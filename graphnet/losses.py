"""Losses: Keras's loss functions and Loss classes, built as graphnet ops.

Each function ``fn(y_true, y_pred)`` returns the per-sample losses (the last axis
reduced); each ``Loss`` class reduces them with sample weights
(``reduction="sum_over_batch_size"``: ``sum(values * sample_weight) / values.size``).
Called on symbolic tensors they build ops (the training step uses them); called on
arrays they run at once on the C kernels and return arrays.

Formulas, defaults and names follow Keras 3; Keras 2.2.4 names are accepted as
aliases (``mse``, ``kld``, ``logcosh``, ``cosine``, ...). Cross-entropies are
computed stably: from logits with ``log_softmax`` / ``softplus`` (never the log of a
softmax); from probabilities clipped to ``[1e-7, 1 - 1e-7]`` as Keras does.

Softmax and sigmoid outputs are losses of their logits. When ``y_pred`` is the output
of a SOFTMAX over the loss's axis (a Dense layer with ``activation="softmax"``, a
Softmax layer) or of a SIGMOID, the cross-entropies read the logits ``z`` behind it, as
TF-Keras does through ``_keras_logits``: ``-sum(y * log_softmax(z))`` and
``softplus(z) - z * y``. Their gradients with respect to ``z`` are the fused
``softmax(z) * sum(y) - y`` and ``sigmoid(z) - y`` (times the reduction's scale), and
no clip, division or log of the probabilities is left in the training step. Against
Keras 3's clipped form only saturated probabilities (outside ``[1e-7, 1 - 1e-7]``)
differ: there the fused loss is exact (40 for a logit margin of 40, where clipping
gives ``-log(1e-7)`` = 16.1) and keeps the gradient clipping would zero. Inside that
range the two agree to rounding. A loss written out by hand on the probabilities keeps
the clipped form.
"""
import functools
import math

import numpy as np

from . import backend, ops
from .graph.tensor import SymbolicTensor, placeholder
from .serialization import Registry

_registry = Registry("loss")
REDUCTIONS = ("sum_over_batch_size", "sum", "none", None, "mean", "mean_with_sample_weight")


# ---- helpers -------------------------------------------------------------------

def is_symbolic(*values):
    return any(isinstance(v, SymbolicTensor) for v in values)


def run_eagerly(fn, *arrays):
    """Run ``fn`` (which builds ops) on arrays: compiled once for these shapes, on C."""
    from .runtime.function import function
    arrays = [None if a is None else _as_array(a) for a in arrays]
    holders = [None if a is None else placeholder(a.shape, str(a.dtype), name=f"arg{i}")
               for i, a in enumerate(arrays)]
    out = fn(*holders)
    fed = [h for h in holders if h is not None]
    result = function(fed, out)(*[a for a in arrays if a is not None])
    return result


def _as_array(a):
    a = np.asarray(a)
    if a.dtype.kind in "biu" or a.dtype == np.float64:
        a = a.astype(np.float32)
    return np.ascontiguousarray(a)


def eager_or_symbolic(fn):
    """Decorator: ``fn(y_true, y_pred, **kw)`` builds ops; on arrays it runs at once."""
    @functools.wraps(fn)
    def wrapper(y_true, y_pred, *args, **kwargs):
        if is_symbolic(y_true, y_pred):
            return fn(y_true, y_pred, *args, **kwargs)
        return run_eagerly(lambda t, p: fn(t, p, *args, **kwargs), y_true, y_pred)
    return wrapper


def _prepare(y_true, y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    return y_true, y_pred


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rule: squeeze or expand a trailing 1 when the ranks differ by one."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = ops.expand_dims(x2, -1)
        else:
            x1 = ops.squeeze(x1, -1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = ops.expand_dims(x1, -1)
        else:
            x2 = ops.squeeze(x2, -1)
    return x1, x2


def _eps():
    return backend.epsilon()


def l2_normalize(x, axis=-1):
    """x / max(||x||, eps) as ``x * min(rsqrt(sum(x^2)), 1/eps)`` (Keras's form)."""
    inv = ops.rsqrt(ops.sum(ops.square(x), axis=axis, keepdims=True))
    return ops.multiply(x, ops.minimum(inv, 1.0 / _eps()))


# ---- loss functions -------------------------------------------------------------

@eager_or_symbolic
def mean_squared_error(y_true, y_pred):
    """mean(square(y_true - y_pred), axis=-1)."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_prepare(y_true, y_pred))
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


@eager_or_symbolic
def mean_absolute_error(y_true, y_pred):
    """mean(abs(y_true - y_pred), axis=-1)."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_prepare(y_true, y_pred))
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


@eager_or_symbolic
def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean(abs((y_true - y_pred) / max(abs(y_true), eps)), axis=-1)."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_prepare(y_true, y_pred))
    diff = ops.abs((y_true - y_pred) / ops.maximum(ops.abs(y_true), _eps()))
    return ops.mean(diff, axis=-1) * 100.0


@eager_or_symbolic
def mean_squared_logarithmic_error(y_true, y_pred):
    """mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)), axis=-1)."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_prepare(y_true, y_pred))
    first = ops.log(ops.maximum(y_pred, _eps()) + 1.0)
    second = ops.log(ops.maximum(y_true, _eps()) + 1.0)
    return ops.mean(ops.square(first - second), axis=-1)


def _hinge_labels(y_true):
    """Binary {0, 1} labels become {-1, 1}; other labels are left as they are."""
    is_binary = ops.all(ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0)))
    return ops.where(is_binary, y_true * 2.0 - 1.0, y_true)


@eager_or_symbolic
def hinge(y_true, y_pred):
    """mean(maximum(1 - y_true * y_pred, 0), axis=-1); {0, 1} labels become {-1, 1}."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _hinge_labels(y_true)
    return ops.mean(ops.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


@eager_or_symbolic
def squared_hinge(y_true, y_pred):
    """mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _hinge_labels(y_true)
    return ops.mean(ops.square(ops.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


@eager_or_symbolic
def categorical_hinge(y_true, y_pred):
    """maximum(neg - pos + 1, 0), pos = sum(y_true * y_pred), neg = max((1 - y_true) * y_pred)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    pos = ops.sum(y_true * y_pred, axis=-1)
    neg = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return ops.maximum(neg - pos + 1.0, 0.0)


@eager_or_symbolic
def huber(y_true, y_pred, delta=1.0):
    """mean(0.5 x^2 where |x| <= delta else delta |x| - 0.5 delta^2, axis=-1), x = error."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_prepare(y_true, y_pred))
    delta = float(delta)
    error = y_pred - y_true
    abs_error = ops.abs(error)
    quadratic = ops.square(error) * 0.5
    linear = abs_error * delta - 0.5 * delta * delta
    return ops.mean(ops.where(ops.less_equal(abs_error, delta), quadratic, linear), axis=-1)


@eager_or_symbolic
def log_cosh(y_true, y_pred):
    """mean(log(cosh(y_pred - y_true)), axis=-1), as x + softplus(-2x) - log(2)."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_prepare(y_true, y_pred))
    x = y_pred - y_true
    return ops.mean(x + ops.softplus(x * -2.0) - math.log(2.0), axis=-1)


@eager_or_symbolic
def kl_divergence(y_true, y_pred):
    """sum(y_true * log(y_true / y_pred), axis=-1), both clipped to [eps, 1]."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = ops.clip(y_true, _eps(), 1.0)
    y_pred = ops.clip(y_pred, _eps(), 1.0)
    return ops.sum(y_true * ops.log(y_true / y_pred), axis=-1)


@eager_or_symbolic
def poisson(y_true, y_pred):
    """mean(y_pred - y_true * log(y_pred + eps), axis=-1)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return ops.mean(y_pred - y_true * ops.log(y_pred + _eps()), axis=-1)


@eager_or_symbolic
def cosine_similarity(y_true, y_pred, axis=-1):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis): -1 is most similar."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_prepare(y_true, y_pred))
    return ops.negative(ops.sum(l2_normalize(y_true, axis) * l2_normalize(y_pred, axis),
                                axis=axis))


def _check_axis(axis):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis!r}")
    return int(axis)


def _logits_of(y_pred, op_name, axis=None):
    """``z`` when ``y_pred`` is ``op_name(z)`` (SOFTMAX over ``axis``, or SIGMOID), else
    None: the loss then works on the logits, as TF-Keras does through ``_keras_logits``."""
    node = y_pred.node
    if node.op.name != op_name:
        return None
    if axis is not None and node.attrs.get("axis", -1) % node.ndim != axis % node.ndim:
        return None
    return SymbolicTensor(node.inputs[0])


def _log_probs(y_pred, from_logits, axis):
    """log of the class probabilities: log_softmax of logits (given, or the input of a
    softmax that made ``y_pred``), else of the clipped, renormalized probabilities
    (Keras's epsilon clipping)."""
    if not from_logits:
        logits = _logits_of(y_pred, "SOFTMAX", axis)
        if logits is not None:
            y_pred, from_logits = logits, True
    if from_logits:
        return ops.log_softmax(y_pred, axis=axis)
    output = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    return ops.log(ops.clip(output, _eps(), 1.0 - _eps()))


@eager_or_symbolic
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum(y_true * log(softmax or probabilities), axis), with optional label smoothing;
    a softmax output is taken as its logits (see the module docstring)."""
    axis = _check_axis(axis)
    y_true, y_pred = _prepare(y_true, y_pred)
    if not shapes_agree(y_true.shape, y_pred.shape):
        raise ValueError(f"categorical_crossentropy: y_true and y_pred must have the same "
                         f"shape, got {y_true.shape} and {y_pred.shape}")
    if label_smoothing:
        num_classes = y_pred.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    return ops.negative(ops.sum(y_true * _log_probs(y_pred, from_logits, axis), axis=axis))


def shapes_agree(a, b):
    """Whether shapes ``a`` and ``b`` agree where both are known."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _check_ignore_class(ignore_class):
    if ignore_class is not None and (isinstance(ignore_class, bool) or
                                     not isinstance(ignore_class, (int, np.integer))):
        raise ValueError(f"`ignore_class` must be an integer class id or None. Received: "
                         f"ignore_class={ignore_class!r}")


def _sparse_crossentropy_and_mask(y_true, y_pred, from_logits=False, ignore_class=None,
                                 axis=-1):
    """``(losses, mask)``: the sparse categorical cross-entropy, 0 where the label is
    ``ignore_class``, and the bool mask of the other entries (None without ignore_class),
    which Loss reductions apply as Keras 3 applies the mask it attaches to the losses."""
    axis = _check_axis(axis)
    _check_ignore_class(ignore_class)
    y_true, y_pred = _prepare(y_true, y_pred)
    axis = axis % y_pred.ndim
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = ops.squeeze(y_true, axis)
    num_classes = y_pred.shape[axis]
    if num_classes is None:
        raise ValueError("sparse_categorical_crossentropy: the class axis of y_pred must "
                         f"have a known size, got shape {y_pred.shape}")
    expected = y_pred.shape[:axis] + y_pred.shape[axis + 1:]
    if not shapes_agree(y_true.shape, expected):
        raise ValueError(f"sparse_categorical_crossentropy: y_true must have y_pred's shape "
                         f"{y_pred.shape} without the class axis {axis}: {expected} (or with "
                         f"a 1 there), got {y_true.shape}")
    onehot = ops.one_hot(y_true, num_classes, dtype=y_pred.dtype)
    if axis != y_pred.ndim - 1:
        onehot = ops.transpose(onehot, _move_last_to(axis, y_pred.ndim))
    values = ops.negative(ops.sum(onehot * _log_probs(y_pred, from_logits, axis), axis=axis))
    if ignore_class is None:
        return values, None
    valid = ops.not_equal(y_true, float(ignore_class))
    return ops.where(valid, values, 0.0), valid


@eager_or_symbolic
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """categorical_crossentropy with integer labels (shape y_pred.shape[:-1], or with a
    trailing 1). Entries labelled ``ignore_class`` have loss 0, and Loss reductions leave
    them out (Keras 3's loss mask)."""
    return _sparse_crossentropy_and_mask(y_true, y_pred, from_logits, ignore_class, axis)[0]


def _move_last_to(axis, rank):
    perm = list(range(rank - 1))
    perm.insert(axis, rank - 1)
    return perm


@eager_or_symbolic
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """mean over ``axis`` of -(y log p + (1 - y) log(1 - p)); from logits (given, or the
    input of the sigmoid that made ``y_pred``) as softplus(x) - x * y."""
    y_true, y_pred = _prepare(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if not from_logits:
        logits = _logits_of(y_pred, "SIGMOID")
        if logits is not None:
            y_pred, from_logits = logits, True
    if from_logits:
        values = ops.softplus(y_pred) - y_pred * y_true
    else:
        p = ops.clip(y_pred, _eps(), 1.0 - _eps())
        values = ops.negative(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    return ops.mean(values, axis=axis)


#: loss functions whose losses carry a mask (Keras 3 attaches it to the losses):
#: fn -> the function returning ``(losses, mask or None)``
_MASKED = {sparse_categorical_crossentropy: _sparse_crossentropy_and_mask}


def values_and_mask(fn, y_true, y_pred, **kwargs):
    """``(fn(y_true, y_pred, **kwargs), mask)``: the bool mask of the entries that count
    (sparse_categorical_crossentropy's ``ignore_class``), None when all count."""
    masked = _MASKED.get(fn)
    if masked is None:
        return fn(y_true, y_pred, **kwargs), None
    return masked(y_true, y_pred, **kwargs)


# Keras 2.2.4 / legacy names
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
cosine = cosine_proximity = cosine_similarity

FUNCTIONS = {
    "mean_squared_error": mean_squared_error, "mse": mse, "MSE": mse,
    "mean_absolute_error": mean_absolute_error, "mae": mae, "MAE": mae,
    "mean_absolute_percentage_error": mean_absolute_percentage_error, "mape": mape,
    "MAPE": mape,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error, "msle": msle,
    "MSLE": msle,
    "hinge": hinge, "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge,
    "huber": huber, "log_cosh": log_cosh, "logcosh": logcosh,
    "kl_divergence": kl_divergence, "kld": kld, "KLD": kld,
    "kullback_leibler_divergence": kullback_leibler_divergence,
    "poisson": poisson, "cosine_similarity": cosine_similarity, "cosine": cosine,
    "cosine_proximity": cosine,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
}
for _name, _fn in FUNCTIONS.items():
    _registry.alias(_name, _fn)


# ---- reduction -----------------------------------------------------------------

def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of "
                         f"{REDUCTIONS}. Received: reduction={reduction!r}")
    return reduction


def _expand_weight(values, sample_weight):
    """Sample weights of shape (batch,) (or any prefix of the values' shape) broadcast
    over the values' trailing axes."""
    sw = ops.cast(ops.convert_to_tensor(sample_weight), values.dtype)
    values, sw = squeeze_or_expand_to_same_rank(values, sw)
    while sw.ndim < values.ndim:
        sw = ops.expand_dims(sw, -1)
    return values, sw


def _divide_no_nan(a, b):
    """a / b, 0 where b is 0 (the gradient too: the division never sees the 0)."""
    zero = ops.equal(b, 0.0)
    return ops.where(zero, 0.0, a / ops.where(zero, 1.0, b))


def apply_mask(sample_weight, mask, dtype, reduction):
    """Keras's apply_mask: the mask (bool, the losses' shape) merged into the sample
    weights. For a mean ("sum_over_batch_size", "mean") valid entries weigh
    total / valid, so the mean over all entries is the mean over the valid ones (0 when
    none is valid)."""
    mask = ops.cast(mask, dtype)
    if reduction in ("sum_over_batch_size", "mean"):
        mask = mask * _divide_no_nan(ops.sum(ops.ones_like(mask)), ops.sum(mask))
    if sample_weight is None:
        return mask
    mask, sw = _expand_weight(mask, sample_weight)
    return mask * sw


def both_masks(first, second):
    """Keras's ``in_mask & out_mask``: the AND of two masks, either of which may be None
    (the mask a prediction carries, ``SymbolicTensor.mask``, and the losses' own)."""
    if first is None or second is None:
        return second if first is None else first
    return ops.logical_and(ops.cast(first, "bool"), ops.cast(second, "bool"))


def reduce_weighted_values(values, sample_weight=None, reduction="sum_over_batch_size",
                           mask=None):
    """Keras's reduction: mask and weight, then sum / (sum / number of values) / keep."""
    reduction = standardize_reduction(reduction)
    if mask is not None:
        sample_weight = apply_mask(sample_weight, mask, values.dtype, reduction)
    if sample_weight is not None:
        values, sw = _expand_weight(values, sample_weight)
        values = values * sw
    if reduction in (None, "none") or values.ndim == 0:
        return values
    if reduction == "sum":
        return ops.sum(values)
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return _divide_no_nan(ops.sum(values), ops.sum(sw))
    return ops.mean(values)


# ---- Loss classes ----------------------------------------------------------------

class Loss:
    """Base of the loss classes: ``loss(y_true, y_pred, sample_weight=None)``.

    Args:
        reduction: "sum_over_batch_size" (default), "sum", "none"/None, "mean",
            "mean_with_sample_weight".
        name: the loss's name (in logs and configs).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _registry.add(cls)

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or backend.snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = dtype or backend.floatx()

    def __call__(self, y_true, y_pred, sample_weight=None):
        if not is_symbolic(y_true, y_pred, sample_weight):
            return run_eagerly(lambda t, p, w: self(t, p, w), y_true, y_pred, sample_weight)
        values, mask = self.call_with_mask(y_true, y_pred)
        mask = both_masks(getattr(y_pred, "mask", None), mask)
        return reduce_weighted_values(values, sample_weight, self.reduction, mask)

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def call_with_mask(self, y_true, y_pred):
        """``(losses, mask)``: the mask (bool, the losses' shape) marks the entries the
        reduction averages over, as Keras 3's loss mask; None: all of them."""
        return self.call(y_true, y_pred), None

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """A loss function as a Loss: ``LossFunctionWrapper(fn, name=..., **fn_kwargs)``."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if isinstance(fn, str):
            fn = _registry.lookup(fn)
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction,
                         dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.call_with_mask(y_true, y_pred)[0]

    def call_with_mask(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(*_prepare(y_true, y_pred))
        return values_and_mask(self.fn, y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        if type(self) is LossFunctionWrapper:
            config["fn"] = serialize(self.fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if cls is LossFunctionWrapper:
            return cls(get(config.pop("fn")), **config)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__}({getattr(self.fn, '__name__', self.fn)}, " \
               f"kwargs={self._fn_kwargs})>"


def _wrapper_class(class_name, fn, default_name, doc, **defaults):
    """Define a LossFunctionWrapper subclass with Keras's signature for ``fn``."""
    params = list(defaults)

    def __init__(self, *args, reduction="sum_over_batch_size", name=default_name, dtype=None,
                 **kwargs):
        values = dict(defaults)
        for key, value in zip(params, args):
            values[key] = value
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{class_name}: unexpected keyword argument(s) "
                            f"{', '.join(sorted(unknown))}")
        values.update(kwargs)
        LossFunctionWrapper.__init__(self, fn, reduction=reduction, name=name, dtype=dtype,
                                     **values)

    cls = type(class_name, (LossFunctionWrapper,), {"__init__": __init__, "__doc__": doc,
                                                      "__module__": __name__})
    return cls


MeanSquaredError = _wrapper_class(
    "MeanSquaredError", mean_squared_error, "mean_squared_error",
    "mean(square(y_true - y_pred)).")
MeanAbsoluteError = _wrapper_class(
    "MeanAbsoluteError", mean_absolute_error, "mean_absolute_error",
    "mean(abs(y_true - y_pred)).")
MeanAbsolutePercentageError = _wrapper_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error,
    "mean_absolute_percentage_error", "100 * mean(abs((y_true - y_pred) / y_true)).")
MeanSquaredLogarithmicError = _wrapper_class(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error", "mean(square(log(y_true + 1) - log(y_pred + 1))).")
CosineSimilarity = _wrapper_class(
    "CosineSimilarity", cosine_similarity, "cosine_similarity",
    "-sum(l2_norm(y_true) * l2_norm(y_pred)) along ``axis`` (-1).", axis=-1)
Huber = _wrapper_class("Huber", huber, "huber_loss", "The Huber loss (``delta`` 1.0).",
                       delta=1.0)
LogCosh = _wrapper_class("LogCosh", log_cosh, "log_cosh", "log(cosh(y_pred - y_true)).")
Hinge = _wrapper_class("Hinge", hinge, "hinge", "maximum(1 - y_true * y_pred, 0).")
SquaredHinge = _wrapper_class("SquaredHinge", squared_hinge, "squared_hinge",
                              "square(maximum(1 - y_true * y_pred, 0)).")
CategoricalHinge = _wrapper_class("CategoricalHinge", categorical_hinge, "categorical_hinge",
                                  "maximum(neg - pos + 1, 0).")
KLDivergence = _wrapper_class("KLDivergence", kl_divergence, "kl_divergence",
                              "y_true * log(y_true / y_pred).")
Poisson = _wrapper_class("Poisson", poisson, "poisson", "y_pred - y_true * log(y_pred).")
BinaryCrossentropy = _wrapper_class(
    "BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
    "Binary cross-entropy (``from_logits``, ``label_smoothing``, ``axis``).",
    from_logits=False, label_smoothing=0.0, axis=-1)
CategoricalCrossentropy = _wrapper_class(
    "CategoricalCrossentropy", categorical_crossentropy, "categorical_crossentropy",
    "Cross-entropy with one-hot labels (``from_logits``, ``label_smoothing``, ``axis``).",
    from_logits=False, label_smoothing=0.0, axis=-1)
SparseCategoricalCrossentropy = _wrapper_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy",
    "Cross-entropy with integer labels (``from_logits``, ``ignore_class``, ``axis``); entries "
    "labelled ``ignore_class`` are left out of the reduction.",
    from_logits=False, ignore_class=None, axis=-1)

for _cls in (MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
             MeanSquaredLogarithmicError, CosineSimilarity, Huber, LogCosh, Hinge,
             SquaredHinge, CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy,
             CategoricalCrossentropy, SparseCategoricalCrossentropy):
    _registry.add(_cls)
_registry.alias("KLD", kld)


from .imbalance_losses import (BinaryFocalCrossentropy, CategoricalFocalCrossentropy,  # noqa
                               Dice, Tversky, binary_focal_crossentropy,
                               categorical_focal_crossentropy, dice, tversky)
from .imbalance_losses import FUNCTIONS as _IMBALANCE_FUNCTIONS  # noqa: E402
FUNCTIONS.update(_IMBALANCE_FUNCTIONS)
for _name, _fn in _IMBALANCE_FUNCTIONS.items():
    _registry.alias(_name, _fn)


# ---- lookup ---------------------------------------------------------------------

def get(identifier, custom_objects=None):
    """A loss from a name (function names give functions, class names instances), a
    config dict, a Loss or a callable; None stays None."""
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        try:
            return _registry.get(identifier, custom_objects)
        except ValueError:
            known = ", ".join(sorted(k for k in _registry.entries))
            raise ValueError(f"Unknown loss {identifier!r}. Known losses: {known}") from None
    return _registry.get(identifier, custom_objects)


def serialize(loss):
    if loss is None:
        return None
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    for name, fn in FUNCTIONS.items():
        if fn is loss:
            return getattr(fn, "__name__", name)
    return getattr(loss, "__name__", repr(loss))


def deserialize(config, custom_objects=None):
    return _registry.deserialize(config, custom_objects)


__all__ = sorted(set(FUNCTIONS) | {
    "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "CosineSimilarity", "Huber",
    "LogCosh", "Hinge", "SquaredHinge", "CategoricalHinge", "KLDivergence", "Poisson",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "Dice", "Tversky", "get",
    "serialize", "deserialize", "reduce_weighted_values"})
