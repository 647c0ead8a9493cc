"""Per-class score metrics, Keras 3's: FBetaScore / F1Score, R2Score and the IoU family
(IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU).

Their state is per-class sums (or a confusion matrix) accumulated batch by batch in the
step's plan (graphnet/metric_state.py); ``result`` derives the score from them.
"""
import numpy as np

from . import backend, ops
from .losses import squeeze_or_expand_to_same_rank
from .metric_state import StateMetric


def _check_2d(owner, y_true_shape, y_pred_shape):
    if len(y_pred_shape) != 2 or len(y_true_shape) != 2 or y_pred_shape[-1] is None:
        raise ValueError(f"{owner} expects 2D inputs with shape (batch_size, output_dim), "
                         f"output_dim known. Received input shapes: y_pred.shape="
                         f"{y_pred_shape} and y_true.shape={y_true_shape}.")


class FBetaScore(StateMetric):
    """The F-beta score ``(1 + beta^2) * P * R / (beta^2 * P + R)`` per class.

    Args:
        average: None (one score per class), "micro" (counts pooled over classes),
            "macro" (the mean of the classes' scores) or "weighted" (their mean weighted
            by each class's number of true labels).
        beta: a positive Python float, the weight of recall.
        threshold: predictions above it count as positive; None: each sample's largest
            prediction does.

    Input shape: y_true and y_pred of shape (batch_size, num_classes).
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score",
                 dtype=None):
        owner = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{owner}: invalid `average` argument value. Expected one of: "
                             f"{{None, 'micro', 'macro', 'weighted'}}. Received: "
                             f"average={average!r}")
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError(f"{owner}: invalid `beta` argument value: it must be a Python "
                             f"float > 0. Received: beta={beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or
                                      not 0.0 < threshold <= 1.0):
            raise ValueError(f"{owner}: invalid `threshold` argument value: it must be a "
                             f"Python float with 0 < threshold <= 1. Received: "
                             f"threshold={threshold!r}")
        super().__init__(name=name, dtype=dtype)
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0

    def build(self, y_true_shape, y_pred_shape):
        _check_2d(type(self).__name__, y_true_shape, y_pred_shape)
        shape = () if self.average == "micro" else (int(y_pred_shape[-1]),)
        for name in ("true_positives", "false_positives", "false_negatives",
                     "intermediate_weights"):
            setattr(self, name, self.add_variable(shape, "zeros", name=name))
        super().build(y_true_shape, y_pred_shape)

    def increments(self, y_true, y_pred, sample_weight):
        if self.threshold is None:
            top = ops.max(y_pred, axis=-1, keepdims=True)
            predicted = ops.logical_and(ops.greater_equal(y_pred, top),
                                        ops.greater(ops.abs(y_pred), 1e-9))
        else:
            predicted = ops.greater(y_pred, self.threshold)
        predicted = ops.cast(predicted, y_pred.dtype)

        def weighted_sum(value):
            if sample_weight is not None:
                value = value * ops.expand_dims(sample_weight, 1)
            return ops.sum(value, axis=self.axis)
        return [weighted_sum(predicted * y_true), weighted_sum(predicted * (1.0 - y_true)),
                weighted_sum((1.0 - predicted) * y_true), weighted_sum(y_true)]

    def result(self):
        eps = backend.epsilon()
        tp = self.read("true_positives")
        precision = tp / (tp + self.read("false_positives") + eps)
        recall = tp / (tp + self.read("false_negatives") + eps)
        beta2 = self.beta ** 2
        score = precision * recall / (beta2 * precision + recall + eps) * (1.0 + beta2)
        if self.average == "weighted":
            weights = self.read("intermediate_weights")
            return ops.sum(score * (weights / (ops.sum(weights) + eps)))
        if self.average is not None:
            return ops.mean(score)
        return score

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score, FBetaScore with beta 1.0 (the other arguments are its)."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name,
                         dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class R2Score(StateMetric):
    """The coefficient of determination, per output column.

    Args:
        class_aggregation: "uniform_average" (the columns' mean), "variance_weighted_average"
            (weighted by each column's variance) or None (one score per column).
        num_regressors: the number of independent regressors (> 0: the adjusted R2,
            ``1 - (1 - R2) (n - 1) / (n - p - 1)`` over n entries, the plain R2 where
            ``n - 1 <= p``).

    Input shape: y_true and y_pred of shape (batch_size, output_dim).
    """

    direction = "up"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0,
                 name="r2_score", dtype=None):
        choices = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in choices:
            raise ValueError(f"R2Score: invalid value for argument `class_aggregation`. "
                             f"Expected one of {choices}. Received: "
                             f"class_aggregation={class_aggregation!r}")
        if not isinstance(num_regressors, int) or num_regressors < 0:
            raise ValueError("R2Score: invalid value for argument `num_regressors`. Expected "
                             f"an integer >= 0. Received: num_regressors={num_regressors!r}")
        super().__init__(name=name, dtype=dtype)
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.num_samples = self.add_variable((), "zeros", name="num_samples")

    def build(self, y_true_shape, y_pred_shape):
        _check_2d("R2Score", y_true_shape, y_pred_shape)
        shape = (int(y_pred_shape[-1]),)
        self.squared_sum = self.add_variable(shape, "zeros", name="squared_sum")
        self.sum = self.add_variable(shape, "zeros", name="sum")
        self.total_mse = self.add_variable(shape, "zeros", name="residual")
        self.count = self.add_variable(shape, "zeros", name="count")
        super().build(y_true_shape, y_pred_shape)

    def batch_statistics(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = squeeze_or_expand_to_same_rank(ops.convert_to_tensor(y_true),
                                                        ops.convert_to_tensor(y_pred))
        return super().batch_statistics(y_true, y_pred, sample_weight)

    def increments(self, y_true, y_pred, sample_weight):
        ones = ops.ones_like(y_true)
        if sample_weight is None:
            weight = ones
        else:
            if sample_weight.ndim == 1:
                sample_weight = ops.expand_dims(sample_weight, 1)
            weight = sample_weight * ones
        weighted = y_true * weight
        return [ops.sum(ones), ops.sum(y_true * weighted, axis=0), ops.sum(weighted, axis=0),
                ops.sum(ops.square(y_true - y_pred) * weight, axis=0),
                ops.sum(weight, axis=0)]

    def result(self):
        total_sum = self.read("sum")
        mean = total_sum / self.read("count")
        total = self.read("squared_sum") - total_sum * mean
        raw = 1.0 - self.read("total_mse") / total
        raw = ops.where(ops.equal(ops.abs(raw), np.float32(np.inf)), ops.zeros_like(raw), raw)
        if self.class_aggregation == "uniform_average":
            score = ops.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            score = ops.sum(total * raw) / ops.sum(total)
        else:
            score = raw
        if self.num_regressors:
            n = self.read("num_samples")
            p = float(self.num_regressors)
            adjusted = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
            score = ops.where(ops.greater(n - 1.0, p), adjusted, score)
        return score

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class IoU(StateMetric):
    """Intersection over union, ``TP / (TP + FP + FN)``, averaged over
    ``target_class_ids``, from a confusion matrix of ``num_classes`` classes.

    Args:
        num_classes: the number of classes (labels and predictions outside [0,
            num_classes) are left out).
        target_class_ids: the classes whose IoU is averaged.
        ignore_class: a label to leave out (None: none).
        sparse_y_true / sparse_y_pred: whether labels / predictions are class ids
            (else scores whose argmax over ``axis`` is taken).
        axis: the class axis of non-sparse inputs.
        dtype: the confusion matrix's dtype, int32 by default: sample weights are then
            truncated to integers, as in Keras.
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None,
                 ignore_class=None, sparse_y_true=True, sparse_y_pred=True, axis=-1):
        owner = type(self).__name__
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{owner}: `num_classes` must be a positive integer, got "
                             f"{num_classes!r}")
        target_class_ids = list(target_class_ids)
        if not target_class_ids or max(target_class_ids) >= num_classes or \
                min(target_class_ids) < 0:
            raise ValueError(f"{owner}: target class ids {target_class_ids} are out of "
                             f"range, which is [0, {num_classes}).")
        super().__init__(name=name, dtype=dtype or "int32")
        self.num_classes, self.target_class_ids = num_classes, target_class_ids
        self.ignore_class, self.axis = ignore_class, axis
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        self.total_cm = self.add_variable((num_classes, num_classes), "zeros",
                                          name="total_confusion_matrix")
        self.built = True

    def batch_statistics(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
        if not self.sparse_y_true:
            y_true = ops.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = ops.argmax(y_pred, axis=self.axis)
        return super().batch_statistics(y_true, y_pred, sample_weight)

    def _as_state_dtype(self, x):
        """Values as the confusion matrix's dtype holds them (integers truncated)."""
        if np.dtype(self.dtype).kind in "iu":
            return ops.cast(ops.cast(x, "int32"), backend.floatx())
        return x

    def increments(self, y_true, y_pred, sample_weight):
        y_true = self._as_state_dtype(ops.reshape(y_true, (-1,)))
        y_pred = self._as_state_dtype(ops.reshape(y_pred, (-1,)))
        weight = ops.ones_like(y_true)
        if sample_weight is not None:
            weight = self._as_state_dtype(ops.reshape(sample_weight, (-1,))) * weight
        n = float(self.num_classes)
        keep = ops.logical_and(
            ops.logical_and(ops.greater_equal(y_true, 0.0), ops.less(y_true, n)),
            ops.logical_and(ops.greater_equal(y_pred, 0.0), ops.less(y_pred, n)))
        if self.ignore_class is not None:
            keep = ops.logical_and(keep, ops.not_equal(y_true, float(self.ignore_class)))
        zero = ops.zeros_like(y_true)
        rows = ops.one_hot(ops.where(keep, y_true, zero), self.num_classes)
        columns = ops.one_hot(ops.where(keep, y_pred, zero), self.num_classes)
        weight = ops.where(keep, weight, zero)
        return [ops.matmul(ops.transpose(rows), columns * ops.expand_dims(weight, -1))]

    def result(self):
        cm = ops.cast(self.read("total_cm"), backend.floatx())
        true_positives = ops.sum(cm * np.eye(self.num_classes, dtype=np.float32), axis=0)
        denominator = ops.sum(cm, axis=0) + ops.sum(cm, axis=1) - true_positives
        pick = np.eye(self.num_classes, dtype=np.float32)[:, self.target_class_ids]
        true_positives = ops.matmul(ops.reshape(true_positives, (1, -1)), pick)
        denominator = ops.matmul(ops.reshape(denominator, (1, -1)), pick)
        valid = ops.greater(denominator, 1e-9)
        iou = ops.where(valid, true_positives / (denominator + backend.epsilon()),
                        ops.zeros_like(denominator))
        return ops.sum(iou) / (ops.sum(ops.cast(valid, backend.floatx())) +
                               backend.epsilon())

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class BinaryIoU(IoU):
    """IoU of binary labels, predictions ``>= threshold`` being class 1.

    Args:
        target_class_ids: the classes (0 and/or 1) averaged, (0, 1) by default.
        threshold: the prediction threshold (0.5).
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def batch_statistics(self, y_true, y_pred, sample_weight=None):
        predicted = ops.cast(ops.greater_equal(ops.convert_to_tensor(y_pred),
                                               float(self.threshold)), backend.floatx())
        return super().batch_statistics(y_true, predicted, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold,
                "name": self.name, "dtype": self.dtype}


class MeanIoU(IoU):
    """The IoU averaged over all ``num_classes`` classes (the other arguments are IoU's)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)) if isinstance(
            num_classes, int) else [], name=name, dtype=dtype, ignore_class=ignore_class,
            sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """IoU of one-hot labels (and, unless ``sparse_y_pred``, scores); IoU's arguments."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None,
                 ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """MeanIoU of one-hot labels (and, unless ``sparse_y_pred``, scores)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config
