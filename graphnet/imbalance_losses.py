"""Losses for imbalanced classes and segmentation, Keras 3's: the focal cross-entropies
(binary and categorical) and the overlap losses Dice and Tversky. graphnet.losses
exposes them with the others (functions, classes and names); it imports this module
once its own helpers exist.

The focal losses follow Keras 3's formulas on probabilities (a sigmoid / softmax first
when ``from_logits``, then probabilities clipped to [eps, 1 - eps] in the log), so their
values and gradients match Keras's.
"""
from . import ops
from .losses import _check_axis, _eps, _prepare, _wrapper_class, eager_or_symbolic


def _smooth_binary(y_true, label_smoothing):
    return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing if label_smoothing \
        else y_true


@eager_or_symbolic
def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    """mean over ``axis`` of ``(1 - p_t)^gamma * bce`` (times ``alpha`` for positives and
    ``1 - alpha`` for negatives with ``apply_class_balancing``), ``p_t`` the probability
    of the true class."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _smooth_binary(y_true, label_smoothing)
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    clipped = ops.clip(y_pred, _eps(), 1.0 - _eps())
    bce = ops.negative(y_true * ops.log(clipped) + (1.0 - y_true) * ops.log(1.0 - clipped))
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = ops.power(1.0 - p_t, float(gamma)) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return ops.mean(focal, axis=axis)


@eager_or_symbolic
def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """sum over ``axis`` of ``-alpha * (1 - p)^gamma * y_true * log(p)``, ``p`` the
    renormalized, clipped probabilities (a softmax of logits with ``from_logits``)."""
    axis = _check_axis(axis)
    y_true, y_pred = _prepare(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    output = ops.clip(y_pred / ops.sum(y_pred, axis=axis, keepdims=True), _eps(),
                      1.0 - _eps())
    cross_entropy = ops.negative(y_true) * ops.log(output)
    modulating = ops.power(1.0 - output, float(gamma)) * alpha
    return ops.sum(modulating * cross_entropy, axis=axis)


def _reduce_axis(axis):
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        return tuple(_check_axis(a) for a in axis)
    return _check_axis(axis)


@eager_or_symbolic
def dice(y_true, y_pred, axis=None):
    """``1 - 2 sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + eps)`` over ``axis``
    (None: every axis, one value for the batch)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    axis = _reduce_axis(axis)
    intersection = ops.sum(y_true * y_pred, axis=axis)
    total = ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis) + _eps()
    return 1.0 - 2.0 * intersection / total


@eager_or_symbolic
def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - TP / (TP + alpha * sum((1 - y_pred) y_true) + beta * sum(y_pred (1 - y_true))
    + eps)`` over ``axis`` (Keras's weighting: ``alpha`` weighs the missed labels)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    axis = _reduce_axis(axis)
    intersection = ops.sum(y_true * y_pred, axis=axis)
    missed = ops.sum((1.0 - y_pred) * y_true, axis=axis)
    spurious = ops.sum(y_pred * (1.0 - y_true), axis=axis)
    return 1.0 - intersection / (intersection + missed * alpha + spurious * beta + _eps())


FUNCTIONS = {"binary_focal_crossentropy": binary_focal_crossentropy,
             "categorical_focal_crossentropy": categorical_focal_crossentropy,
             "dice": dice, "tversky": tversky}


BinaryFocalCrossentropy = _wrapper_class(
    "BinaryFocalCrossentropy", binary_focal_crossentropy, "binary_focal_crossentropy",
    "Binary focal cross-entropy (``apply_class_balancing``, ``alpha``, ``gamma``, "
    "``from_logits``, ``label_smoothing``, ``axis``).",
    apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
    label_smoothing=0.0, axis=-1)
CategoricalFocalCrossentropy = _wrapper_class(
    "CategoricalFocalCrossentropy", categorical_focal_crossentropy,
    "categorical_focal_crossentropy",
    "Categorical focal cross-entropy (``alpha``, ``gamma``, ``from_logits``, "
    "``label_smoothing``, ``axis``).",
    alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1)
Dice = _wrapper_class("Dice", dice, "dice", "The Dice loss over ``axis`` (None: all axes).",
                      axis=None)
Tversky = _wrapper_class("Tversky", tversky, "tversky",
                         "The Tversky loss (``alpha``, ``beta``, ``axis``).",
                         alpha=0.5, beta=0.5, axis=None)
