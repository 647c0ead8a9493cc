"""Confusion-matrix metrics, Keras 3's: TruePositives / FalsePositives / TrueNegatives /
FalseNegatives, Precision, Recall, the "At" metrics (SensitivityAtSpecificity,
SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision) and AUC.

Their state is weighted counts per threshold: a prediction is positive at threshold
``t`` when ``y_pred > t`` and a label is positive when it is not 0. Each batch's counts
are one comparison of every prediction with every threshold, summed over the batch
(``confusion_counts``), so they run in the step's plan (graphnet/metric_state.py).
"""
import numpy as np

from . import backend, ops
from .losses import squeeze_or_expand_to_same_rank
from .metric_state import StateMetric, check_fraction
from .metrics import divide_no_nan

#: the threshold under every prediction (top_k's default: keep only the top k)
NEG_INF = -1e10
#: condition -> (whether the label is positive, whether the prediction is)
CONDITIONS = {"true_positives": (True, True), "false_positives": (False, True),
              "true_negatives": (False, False), "false_negatives": (True, False)}


def parse_thresholds(owner, thresholds, default):
    """Keras's thresholds: a number or a list of numbers in [0, 1]; ``default`` for None."""
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
    bad = [t for t in values if t is None or not 0.0 <= t <= 1.0]
    if bad or not values:
        raise ValueError(f"{owner}: threshold values must be in [0, 1], got "
                         f"thresholds={thresholds!r}")
    return [float(t) for t in values]


def evenly_distributed(thresholds):
    """Whether ``thresholds`` are ``i / (n - 1)`` for n >= 3 (Keras then clips the
    predictions into [0, 1] before counting)."""
    n = len(thresholds)
    if n < 3:
        return False
    return bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1),
                            atol=backend.epsilon()))


def filter_top_k(x, k):
    """``x`` with all but the ``k`` largest entries of the last axis set to NEG_INF; of
    equal entries the first ones count as larger (as top_k picks them)."""
    classes = x.shape[-1]
    if classes is None:
        raise ValueError(f"top_k needs a known last axis, got y_pred shape {x.shape}")
    earlier = np.tril(np.ones((classes, classes), np.float32), -1)   # [i, j]: j < i
    mine, others = ops.expand_dims(x, -1), ops.expand_dims(x, -2)
    above = ops.cast(ops.greater(others, mine), x.dtype) + \
        ops.cast(ops.equal(others, mine), x.dtype) * earlier
    keep = ops.cast(ops.less(ops.sum(above, axis=-1), float(k)), x.dtype)
    return x * keep + NEG_INF * (1.0 - keep)


def confusion_counts(conditions, y_true, y_pred, thresholds, top_k=None, class_id=None,
                     sample_weight=None, multi_label=False, label_weights=None,
                     clip=False):
    """Weighted counts of ``conditions`` (names from CONDITIONS) per threshold, Keras's
    ``update_confusion_matrix_variables``: shape ``(len(thresholds),)``, or
    ``(len(thresholds), labels)`` with ``multi_label``; ``label_weights`` weigh the
    labels when they are flattened (not with multi_label); ``clip``: predictions
    clipped into [0, 1] first."""
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        _, sample_weight = squeeze_or_expand_to_same_rank(
            y_true, ops.expand_dims(sample_weight, -1), expand_rank_1=False)
    if top_k is not None:
        y_pred = filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError("When class_id is provided, y_pred must be a 2D array with "
                             f"shape (num_samples, num_classes), found shape: {y_pred.shape}")
        y_true = y_true[..., class_id:class_id + 1]
        y_pred = y_pred[..., class_id:class_id + 1]
    if clip:
        y_pred = ops.clip(y_pred, 0.0, 1.0)
    ones = ops.ones_like(y_pred)
    positive = ops.cast(ops.not_equal(y_true, 0.0), y_pred.dtype) * ones
    weights = None if sample_weight is None else sample_weight * ones
    if label_weights is not None and not multi_label:
        label_weights = np.asarray(label_weights, np.float32) * ones
        weights = label_weights if weights is None else weights * label_weights
    if not multi_label:   # every entry one prediction: (entries, 1) against (thresholds,)
        y_pred, positive = ops.reshape(y_pred, (-1, 1)), ops.reshape(positive, (-1, 1))
        weights = None if weights is None else ops.reshape(weights, (-1, 1))
    else:                 # (samples, labels, 1) against (thresholds,)
        y_pred, positive = ops.expand_dims(y_pred, -1), ops.expand_dims(positive, -1)
        weights = None if weights is None else ops.expand_dims(weights, -1)
    predicted = ops.cast(ops.greater(y_pred, np.asarray(thresholds, np.float32)),
                         y_pred.dtype)
    counts = []
    for condition in conditions:
        label_positive, predicted_positive = CONDITIONS[condition]
        hits = (positive if label_positive else 1.0 - positive) * \
            (predicted if predicted_positive else 1.0 - predicted)
        if weights is not None:
            hits = hits * weights
        count = ops.sum(hits, axis=0)
        counts.append(ops.transpose(count) if multi_label else count)
    return counts


class _ConfusionMetric(StateMetric):
    """Counts of some CONDITIONS at ``self.thresholds``, one variable each."""

    conditions = ()
    top_k = class_id = None

    def _add_counts(self, shape):
        for condition in self.conditions:
            setattr(self, condition, self.add_variable(shape, "zeros", name=condition))

    def increments(self, y_true, y_pred, sample_weight):
        return confusion_counts(self.conditions, y_true, y_pred, self.thresholds,
                                top_k=self.top_k, class_id=self.class_id,
                                sample_weight=sample_weight,
                                clip=evenly_distributed(self.thresholds))

    def _per_threshold(self, value):
        return value[0] if len(self.thresholds) == 1 else value


def _condition_count(class_name, condition, doc):
    """TruePositives & co.: one count per threshold (a scalar for one threshold)."""

    def __init__(self, thresholds=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        self.thresholds = parse_thresholds(class_name, thresholds, 0.5)
        _ConfusionMetric.__init__(self, name=name, dtype=dtype)
        self.accumulator = self.add_variable((len(self.thresholds),), "zeros",
                                             name="accumulator")

    def increments(self, y_true, y_pred, sample_weight):
        return confusion_counts((condition,), y_true, y_pred, self.thresholds,
                                sample_weight=sample_weight,
                                clip=evenly_distributed(self.thresholds))

    def result(self):
        return self._per_threshold(self.read("accumulator"))

    def get_config(self):
        return {**_ConfusionMetric.get_config(self), "thresholds": self.init_thresholds}

    return type(class_name, (_ConfusionMetric,), {
        "__init__": __init__, "increments": increments, "result": result,
        "get_config": get_config, "__module__": __name__,
        "direction": "up" if condition.startswith("true") else "down",
        "__doc__": f"{doc}\n\n    Args:\n        thresholds: a float or list of floats in "
                   f"[0, 1] (default 0.5): one count per threshold.\n"})


TruePositives = _condition_count("TruePositives", "true_positives",
                                 "The weighted number of true positives.")
FalsePositives = _condition_count("FalsePositives", "false_positives",
                                  "The weighted number of false positives.")
TrueNegatives = _condition_count("TrueNegatives", "true_negatives",
                                 "The weighted number of true negatives.")
FalseNegatives = _condition_count("FalseNegatives", "false_negatives",
                                  "The weighted number of false negatives.")


class _PrecisionOrRecall(_ConfusionMetric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        owner = type(self).__name__
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"{owner}: `top_k` must be a positive integer, got {top_k!r}")
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = parse_thresholds(owner, thresholds,
                                           0.5 if top_k is None else NEG_INF)
        super().__init__(name=name, dtype=dtype)
        self._add_counts((len(self.thresholds),))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_PrecisionOrRecall):
    """TP / (TP + FP) at each threshold (a scalar for one threshold).

    Args:
        thresholds: a float or list of floats in [0, 1] (default 0.5; with ``top_k``,
            every prediction among the top k counts as positive).
        top_k: count only the k largest predictions of each sample as positive.
        class_id: the class (last-axis index) to measure alone.
    """

    conditions = ("true_positives", "false_positives")

    def result(self):
        tp = self.read("true_positives")
        return self._per_threshold(divide_no_nan(tp, tp + self.read("false_positives")))


class Recall(_PrecisionOrRecall):
    """TP / (TP + FN) at each threshold (a scalar for one threshold); the arguments are
    Precision's."""

    conditions = ("true_positives", "false_negatives")

    def result(self):
        tp = self.read("true_positives")
        return self._per_threshold(divide_no_nan(tp, tp + self.read("false_negatives")))


class _AtMetric(_ConfusionMetric):
    """The best ``dependent`` rate over the thresholds whose ``constrained`` rate is at
    least ``value`` (Keras's SensitivitySpecificityBase): ``num_thresholds`` evenly
    spaced from 0 to 1 (0.5 alone for 1)."""

    conditions = tuple(CONDITIONS)
    constraint = dependent = ""   # the rates' names: the argument's and the result's

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        owner = type(self).__name__
        check_fraction(owner, self.constraint, value)
        if not isinstance(num_thresholds, int) or num_thresholds <= 0:
            raise ValueError(f"{owner}: Argument `num_thresholds` must be an integer > 0. "
                             f"Received: num_thresholds={num_thresholds!r}")
        self.value, self.num_thresholds, self.class_id = value, num_thresholds, class_id
        setattr(self, self.constraint, value)
        self.thresholds = [0.5] if num_thresholds == 1 else \
            [0.0] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
        super().__init__(name=name, dtype=dtype)
        self._add_counts((len(self.thresholds),))

    def rates(self):
        tp, fp, tn, fn = (self.read(c) for c in CONDITIONS)
        return {"recall": divide_no_nan(tp, tp + fn), "precision": divide_no_nan(tp, tp + fp),
                "specificity": divide_no_nan(tn, tn + fp)}

    def result(self):
        rates = self.rates()
        rates["sensitivity"] = rates["recall"]
        feasible = ops.greater_equal(rates[self.constraint], float(self.value))
        dependent = rates[self.dependent]
        best = ops.max(ops.where(feasible, dependent, ops.zeros_like(dependent)))
        return ops.maximum(best, 0.0)

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self.constraint: self.value}


class SensitivityAtSpecificity(_AtMetric):
    """The best sensitivity (recall) over the thresholds where the specificity is at
    least ``specificity``.

    Args:
        specificity: a number in [0, 1].
        num_thresholds: how many thresholds (200), evenly spaced in [0, 1].
        class_id: the class (last-axis index) to measure alone.
    """

    constraint, dependent = "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None,
                 dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtMetric):
    """The best specificity over the thresholds where the sensitivity is at least
    ``sensitivity``; the other arguments are SensitivityAtSpecificity's."""

    constraint, dependent = "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None,
                 dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtMetric):
    """The best precision over the thresholds where the recall is at least ``recall``;
    the other arguments are SensitivityAtSpecificity's."""

    constraint, dependent = "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtMetric):
    """The best recall over the thresholds where the precision is at least
    ``precision``; the other arguments are SensitivityAtSpecificity's."""

    constraint, dependent = "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None,
                 dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


CURVES = ("ROC", "PR", "PRGAIN")
SUMMATION_METHODS = ("interpolation", "majoring", "minoring")


class AUC(StateMetric):
    """The area under the ROC or precision-recall curve, a Riemann sum over
    ``num_thresholds`` thresholds (Keras 3's AUC).

    Args:
        num_thresholds: how many thresholds (200, > 1): ``num_thresholds - 2`` evenly
            spaced inside (0, 1), plus one just below 0 and one just above 1.
        curve: "ROC" (default), "PR" or "PRGAIN".
        summation_method: "interpolation" (trapezoids; for PR, Davis & Goadrich's
            interpolation of the counts), "minoring" or "majoring".
        thresholds: the inner thresholds to use instead (then ``num_thresholds`` is
            their number plus 2).
        multi_label: one curve per label (y_pred of shape (batch, labels)), averaged;
            otherwise every entry is one prediction.
        num_labels: the number of labels with ``multi_label`` (else found from the
            first batch).
        label_weights: weights of the labels: of the entries when flattened, of the
            per-label areas with ``multi_label``.
        from_logits: whether y_pred holds logits (a sigmoid is applied first).
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        self.curve = {c.lower(): c for c in CURVES}.get(str(curve).lower())
        if self.curve is None:
            raise ValueError(f'AUC: invalid curve value "{curve}". Expected values are '
                             f'{list(CURVES)}')
        self.summation_method = str(summation_method).lower()
        if self.summation_method not in SUMMATION_METHODS:
            raise ValueError(f'AUC: invalid summation_method value "{summation_method}". '
                             f'Expected values are {list(SUMMATION_METHODS)}')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.num_thresholds = len(inner) + 2
            self._evenly = evenly_distributed([0.0] + inner + [1.0])
        else:
            if not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise ValueError("AUC: Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds!r}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self.thresholds = [0.0 - backend.epsilon()] + inner + [1.0 + backend.epsilon()]
        if num_labels is not None and not multi_label:
            raise ValueError("AUC: `num_labels` is needed only when `multi_label` is True.")
        super().__init__(name=name, dtype=dtype)
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.label_weights = None if label_weights is None else \
            np.asarray(label_weights, np.float32)
        self.from_logits = bool(from_logits)
        if not self.multi_label:
            self.build(None, None)
        elif num_labels:
            self.build(None, (None, num_labels))

    def build(self, y_true_shape, y_pred_shape):
        shape = (self.num_thresholds,)
        if self.multi_label:
            if len(y_pred_shape) != 2 or y_pred_shape[1] is None:
                raise ValueError("AUC: `y_pred` must have rank 2 and a known number of "
                                 "labels when `multi_label=True`. Full shape received for "
                                 f"`y_pred`: {y_pred_shape}")
            shape += (int(y_pred_shape[1]),)
            if self.label_weights is not None and self.label_weights.shape != shape[1:]:
                raise ValueError(f"AUC: label_weights must have one weight per label "
                                 f"({shape[1]}), got shape {self.label_weights.shape}")
        for condition in CONDITIONS:
            setattr(self, condition, self.add_variable(shape, "zeros", name=condition))
        super().build(y_true_shape, y_pred_shape)

    def increments(self, y_true, y_pred, sample_weight):
        if self.label_weights is not None and not self.multi_label and \
                self.label_weights.shape != tuple(y_pred.shape[-1:]):
            raise ValueError(f"AUC: label_weights must have one weight per label "
                             f"({y_pred.shape[-1]}), got shape {self.label_weights.shape}")
        if self.from_logits:
            y_pred = ops.sigmoid(y_pred)
        return confusion_counts(tuple(CONDITIONS), y_true, y_pred, self.thresholds,
                                sample_weight=sample_weight, multi_label=self.multi_label,
                                label_weights=None if self.multi_label else self.label_weights,
                                clip=self._evenly)

    def _average_over_labels(self, terms):
        if not self.multi_label:
            return ops.sum(terms)
        by_label = ops.sum(terms, axis=0)
        if self.label_weights is None:
            return ops.mean(by_label)
        return divide_no_nan(ops.sum(by_label * self.label_weights),
                             ops.convert_to_tensor(np.float32(self.label_weights.sum())))

    def _interpolated_pr_auc(self, tp, fp, fn):
        """Davis & Goadrich: TP and TP + FP linear between thresholds, precision integrated
        in closed form (Keras's interpolate_pr_auc)."""
        n = self.num_thresholds
        dtp = tp[:n - 1] - tp[1:]
        p = tp + fp
        dp = p[:n - 1] - p[1:]
        slope = divide_no_nan(dtp, ops.maximum(dp, 0.0))
        intercept = tp[1:] - slope * p[1:]
        both = ops.logical_and(ops.greater(p[:n - 1], 0.0), ops.greater(p[1:], 0.0))
        ratio = ops.where(both, divide_no_nan(p[:n - 1], ops.maximum(p[1:], 0.0)),
                          ops.ones_like(p[1:]))
        increments = divide_no_nan(slope * (dtp + intercept * ops.log(ratio)),
                                   ops.maximum(tp[1:] + fn[1:], 0.0))
        return self._average_over_labels(increments)

    def result(self):
        tp, fp, tn, fn = (self.read(c) for c in CONDITIONS)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr_auc(tp, fp, fn)
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:   # PRGAIN
            scale = divide_no_nan(tp + fn, tn + fp)
            no_tp = ops.equal(tp, 0.0)
            recall_gain = ops.where(no_tp, ops.zeros_like(tp),
                                    1.0 - scale * divide_no_nan(fn, tp))
            precision_gain = ops.where(no_tp, ops.ones_like(tp),
                                       1.0 - scale * divide_no_nan(fp, tp))
            x, y = ops.maximum(recall_gain, 0.0), precision_gain
        n = self.num_thresholds
        if self.summation_method == "interpolation":
            heights = (y[:n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = ops.minimum(y[:n - 1], y[1:])
        else:
            heights = ops.maximum(y[:n - 1], y[1:])
        return self._average_over_labels((x[:n - 1] - x[1:]) * heights)

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None
                  else self.label_weights.tolist(),
                  "from_logits": self.from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
