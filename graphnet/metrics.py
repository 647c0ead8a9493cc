"""Metrics: Keras's accuracy functions and metric classes, built as graphnet ops.

A metric function ``fn(y_true, y_pred)`` returns per-sample values. A ``Metric``
object keeps a running (weighted) mean of them over an epoch: the compiled training
step emits, per batch, ``total = sum(values * sample_weight)`` and
``count = sum(sample_weight)`` (``weighted_totals``), and the metric accumulates
them in NumPy (``update_totals``), so ``result()`` is the epoch's mean as in Keras.
On arrays, ``update_state(y_true, y_pred, sample_weight)`` does the same eagerly.

Every loss can be used as a metric (``"mse"``, ``"categorical_crossentropy"``, ...).

The metrics whose state is more than a mean (AUC, Precision, Recall, the confusion
counts and "At" metrics, F1Score / FBetaScore, R2Score, the IoU family) live in
graphnet/confusion_metrics.py and graphnet/score_metrics.py on the base of
graphnet/metric_state.py. The built-in step computes any metric from
``batch_statistics`` (one batch's contribution to each state variable, here the
``(total, count)`` pair) and the trackers ``accumulate`` the arrays.
"""
import numpy as np

from . import backend, losses, ops
from .graph.trace import current_trace
from .initializers import get as get_initializer
from .metric_eager import wrap_user_methods
from .graph.variable import Variable
from .losses import (eager_or_symbolic, is_symbolic, run_eagerly, shapes_agree,
                     squeeze_or_expand_to_same_rank)
from .serialization import Registry

_registry = Registry("metric")


# ---- accuracy functions -------------------------------------------------------------

def _float(x):
    return ops.cast(x, backend.floatx())


@eager_or_symbolic
def accuracy(y_true, y_pred):
    """1.0 where y_pred equals y_true exactly, else 0.0."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return _float(ops.equal(y_true, y_pred))


@eager_or_symbolic
def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where (y_pred > threshold) equals y_true, elementwise."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    predicted = _float(ops.greater(y_pred, float(threshold)))
    return _float(ops.equal(y_true, predicted))


def _argmax_f(x):
    return _float(ops.argmax(x, axis=-1))


@eager_or_symbolic
def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) equals argmax(y_true) (one-hot labels)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    return _float(ops.equal(_argmax_f(y_true), _argmax_f(y_pred)))


def _sparse_labels(y_true, y_pred):
    """Integer labels as float32 of shape y_pred.shape[:-1] (a trailing 1 squeezed)."""
    y_true = ops.cast(ops.convert_to_tensor(y_true), backend.floatx())
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    return y_true


@eager_or_symbolic
def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) equals the integer label."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = _sparse_labels(y_true, y_pred)
    return _float(ops.equal(y_true, _argmax_f(y_pred)))


def _in_top_k(labels, y_pred, k):
    """Whether the label's score is among the k largest (ties count, as Keras's in_top_k):
    fewer than k scores are strictly greater than the label's."""
    num_classes = y_pred.shape[-1]
    if num_classes is None:
        raise ValueError(f"top-k accuracy needs a known number of classes, got y_pred shape "
                         f"{y_pred.shape}")
    onehot = ops.one_hot(labels, num_classes, dtype=y_pred.dtype)
    target = ops.sum(onehot * y_pred, axis=-1, keepdims=True)
    above = ops.sum(_float(ops.greater(y_pred, target)), axis=-1)
    return _float(ops.less(above, float(k)))


@eager_or_symbolic
def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the one-hot label's class is among the k top-scored classes."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    return _in_top_k(_argmax_f(y_true), y_pred, k)


@eager_or_symbolic
def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer label is among the k top-scored classes; with
    ``from_sorted_ids``, y_pred holds class ids sorted by score (best first) and the label
    is looked for among the first k (ids compare as float32: exact below 2**24). The
    result has y_true's shape (as in Keras)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    labels = _sparse_labels(y_true, y_pred)
    if not shapes_agree(labels.shape, y_pred.shape[:-1]):
        raise ValueError(f"sparse_top_k_categorical_accuracy: y_true must have shape "
                         f"{y_pred.shape[:-1]} (y_pred's {y_pred.shape} without the last "
                         f"axis, or with a trailing 1), got {y_true.shape}")
    if from_sorted_ids:   # a label listed twice counts once
        top = _float(y_pred[..., :k])
        matches = _float(ops.any(ops.equal(ops.expand_dims(labels, -1), top), axis=-1))
    else:
        matches = _in_top_k(labels, y_pred, k)
    return matches if labels.ndim == y_true.ndim else ops.expand_dims(matches, -1)



@eager_or_symbolic
def cosine_similarity(y_true, y_pred, axis=-1):
    """sum(l2_normalize(y_true) * l2_normalize(y_pred), axis) (the metric is positive)."""
    return ops.negative(losses.cosine_similarity(y_true, y_pred, axis=axis))


# ---- running means ------------------------------------------------------------------

def weighted_totals(values, sample_weight=None):
    """``(sum of weighted per-sample values, sum of weights)`` as Keras's Mean metric:
    values are averaged over the axes the weights do not have."""
    values = _float(ops.convert_to_tensor(values))
    sw = None
    if sample_weight is not None:
        sw = _float(ops.convert_to_tensor(sample_weight))
        values, sw = squeeze_or_expand_to_same_rank(values, sw)
        if values.ndim > sw.ndim:
            values = ops.mean(values, axis=tuple(range(sw.ndim, values.ndim)))
        sw = sw * ops.ones_like(values)
        values = values * sw
        if sw.ndim > 1:
            sw = ops.mean(sw, axis=tuple(range(1, sw.ndim)))
    if values.ndim > 1:
        values = ops.mean(values, axis=tuple(range(1, values.ndim)))
    total = ops.sum(values)
    if sw is not None:
        count = ops.sum(sw)
    elif values.ndim >= 1:
        count = ops.sum(ops.ones_like(values))
    else:
        count = ops.ones_like(values)
    return total, count


class Metric:
    """Base of the metric classes, Keras 3's contract: state in Variables made by
    ``add_variable``, ``update_state(...)`` accumulating into them, ``result()`` reading
    them, ``reset_state()`` (zeros by default).

    Inside a traced step (a custom ``train_step`` or the built-in one, see
    graph/trace.py) ``update_state`` assigns the variables symbolically and ``result()``
    is a symbolic tensor, so the metric is compiled into the step's plan; called on
    arrays outside a step they run at once (a subclass's methods compiled once per
    shape, graphnet/metric_eager.py).

    The built-in metrics are running weighted means: ``values(y_true, y_pred)`` gives
    per-sample values, ``totals`` their ``(total, count)`` for one batch, kept in the
    variables ``total`` and ``count``.

    Args:
        name: the metric's name (the key in logs and History).
        dtype: float32.
    """

    #: "up" when larger is better (accuracies), "down" for errors
    direction = "down"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _registry.add(cls)
        if cls.__module__ != __name__:
            wrap_user_methods(cls)

    def __init__(self, name=None, dtype=None):
        self.name = name or backend.snake_case(type(self).__name__)
        self.dtype = dtype or backend.floatx()
        self._variables = []
        if self._is_running_mean():
            self.total = self.add_variable((), "zeros", name="total")
            self.count = self.add_variable((), "zeros", name="count")

    def _is_running_mean(self):
        return type(self).values is not Metric.values

    # -- state ----------------------------------------------------------------------------
    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """A non-trainable Variable of the metric's state (Keras 3's signature)."""
        if aggregation not in ("none", "mean", "sum", "only_first_replica"):
            raise ValueError(f"Metric '{self.name}': add_variable's aggregation must be one "
                             f"of 'none', 'mean', 'sum', 'only_first_replica', got "
                             f"{aggregation!r}")
        shape = tuple(int(d) for d in shape)
        dtype = dtype or self.dtype
        value = get_initializer(initializer)(shape, dtype=dtype)
        var = Variable(value, name=f"{self.name}/{name or 'variable'}", dtype=dtype,
                       trainable=False)
        var.aggregation = aggregation
        self._variables.append(var)
        return var

    @property
    def variables(self):
        return list(self._variables)

    def reset_state(self):
        """Every state variable back to zeros (Keras's default)."""
        for var in self._variables:
            var.assign(np.zeros(var.shape, var.dtype))

    def __copy__(self):
        """A copy with its own state variables (``copy.copy``: a metric used twice)."""
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.__dict__.pop("_eager_functions", None)   # compiled on the original's state
        twin._variables = []
        for attr, value in list(self.__dict__.items()):
            if isinstance(value, Variable) and any(value is v for v in self._variables):
                fresh = Variable(value.numpy(), name=value.name, dtype=value.dtype,
                                 trainable=False)
                fresh.aggregation = value.aggregation
                setattr(twin, attr, fresh)
                twin._variables.append(fresh)
        return twin

    # -- the graph part ----------------------------------------------------------------
    def values(self, y_true, y_pred):
        """Per-sample values (ops) of a running-mean metric."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_state and "
                                  "result (or values, for a running mean)")

    def totals(self, y_true, y_pred=None, sample_weight=None):
        """``(total, count)`` ops for one batch."""
        return weighted_totals(self.values(y_true, y_pred), sample_weight)

    # -- the built-in step's part: one batch's statistics out of the plan ----------------
    def _has_batch_statistics(self):
        """Whether the built-in step can compute this metric (``batch_statistics`` /
        ``accumulate``); a subclass with its own ``update_state`` runs in a traced step."""
        return self._is_running_mean()

    def batch_statistics(self, y_true, y_pred, sample_weight=None):
        """Ops of one batch's contribution to each state variable (in ``variables``'s
        order), which the built-in step outputs: here ``(total, count)``."""
        return [_as_scalar(t) for t in self.totals(y_true, y_pred, sample_weight)]

    def accumulate(self, statistics):
        """Add the arrays ``batch_statistics`` gave for one batch to the state."""
        total, count = (float(np.asarray(a).reshape(-1)[0]) for a in statistics)
        self.update_totals(total, count)

    # -- the running state ---------------------------------------------------------------
    def update_totals(self, total, count):
        """Add one batch's ``(total, count)`` arrays (the built-in step's outputs)."""
        self.total.assign(self.total.value + np.float32(total))
        self.count.assign(self.count.value + np.float32(count))

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulate one batch: symbolic inside a traced step, else run on the C kernels."""
        if current_trace() is not None:
            total, count = self.totals(y_true, y_pred, sample_weight)
            self.total.assign_add(_as_scalar(total))
            self.count.assign_add(_as_scalar(count))
            return
        def fn(t, p, w):
            return list(self.totals(t, p, w))
        total, count = run_eagerly(fn, y_true, y_pred, sample_weight)
        self.update_totals(total, count)

    def result(self):
        """The running mean: a symbolic scalar inside a traced step, else a float."""
        if current_trace() is not None:
            return divide_no_nan(ops.convert_to_tensor(self.total),
                                 ops.convert_to_tensor(self.count))
        count = float(self.count.value)
        return float(self.total.value) / count if count else 0.0

    def __call__(self, *args, **kwargs):
        """Update with one batch and return the running result (Keras's stateful call);
        on symbolic tensors outside a step, the batch's own result."""
        if current_trace() is None and self._is_running_mean() and is_symbolic(*args):
            total, count = self.totals(*args, **kwargs)
            return total / count
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def divide_no_nan(a, b):
    """``a / b``, and 0 where ``b`` is 0 (Keras's ops.divide_no_nan)."""
    zero = ops.equal(b, 0.0)
    return ops.where(zero, ops.zeros_like(a), a / ops.where(zero, ops.ones_like(b), b))


def _as_scalar(t):
    return ops.reshape(t, ()) if t.ndim else t


class Mean(Metric):
    """The weighted mean of the values given to ``update_state(values, sample_weight)``."""

    def values(self, y_true, y_pred):
        return y_true

    def update_state(self, values, sample_weight=None):
        super().update_state(values, None, sample_weight)


def _with_prediction_mask(y_pred, sample_weight):
    """The sample weights with the mask ``y_pred`` carries (``SymbolicTensor.mask``)
    merged in, as Keras's MeanMetricWrapper: masked entries weigh 0 (the mask is the
    weights when there are none)."""
    mask = getattr(y_pred, "mask", None)
    if mask is None:
        return sample_weight
    return losses.apply_mask(sample_weight, mask, backend.floatx(), "sum")


class MeanMetricWrapper(Metric):
    """A metric function as a Metric: ``MeanMetricWrapper(fn, name=None, **fn_kwargs)``."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def values(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def totals(self, y_true, y_pred, sample_weight=None):
        """As Keras's MeanMetricWrapper: the mask the prediction carries
        (``y_pred.mask``, e.g. from a Masking layer) becomes part of the sample weights
        (it is them when there are none), so masked entries are left out of the mean.
        Then the mask of the values (sparse cross-entropy's ``ignore_class``) narrows
        the sample weights when there are any; without them every value counts (ignored
        entries as 0). So in ``fit``, as in Keras, compile's ``metrics`` (given no
        weights) count ignored entries as 0, and its ``weighted_metrics`` leave them out
        when sample weights are given."""
        values, mask = losses.values_and_mask(self.fn, y_true, y_pred, **self._fn_kwargs)
        sample_weight = _with_prediction_mask(y_pred, sample_weight)
        if mask is not None and sample_weight is not None:
            sample_weight = losses.apply_mask(sample_weight, mask, backend.floatx(), "sum")
        return weighted_totals(values, sample_weight)

    def get_config(self):
        config = super().get_config()
        if type(self) is MeanMetricWrapper:
            config["fn"] = getattr(self.fn, "__name__", repr(self.fn))
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if cls is MeanMetricWrapper:
            return cls(get_function(config.pop("fn")), **config)
        return cls(**config)


def _metric_class(class_name, fn, default_name, direction, doc, **defaults):
    """A MeanMetricWrapper subclass with Keras's signature for ``fn``."""
    params = list(defaults)

    def __init__(self, *args, name=default_name, dtype=None, **kwargs):
        values = dict(defaults)
        values.update(zip(params, args))
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{class_name}: unexpected keyword argument(s) "
                            f"{', '.join(sorted(unknown))}")
        values.update(kwargs)
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **values)

    return type(class_name, (MeanMetricWrapper,), {
        "__init__": __init__, "__doc__": doc, "direction": direction, "__module__": __name__})


Accuracy = _metric_class("Accuracy", accuracy, "accuracy", "up",
                         "How often predictions equal labels exactly.")
BinaryAccuracy = _metric_class("BinaryAccuracy", binary_accuracy, "binary_accuracy", "up",
                               "How often (y_pred > threshold) matches binary labels.",
                               threshold=0.5)
CategoricalAccuracy = _metric_class("CategoricalAccuracy", categorical_accuracy,
                                    "categorical_accuracy", "up",
                                    "How often argmax(y_pred) matches one-hot labels.")
SparseCategoricalAccuracy = _metric_class(
    "SparseCategoricalAccuracy", sparse_categorical_accuracy, "sparse_categorical_accuracy",
    "up", "How often argmax(y_pred) matches integer labels.")
TopKCategoricalAccuracy = _metric_class(
    "TopKCategoricalAccuracy", top_k_categorical_accuracy, "top_k_categorical_accuracy", "up",
    "How often the one-hot label is in the top ``k`` (5) predictions.", k=5)
SparseTopKCategoricalAccuracy = _metric_class(
    "SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy", "up",
    "How often the integer label is in the top ``k`` (5) predictions (``from_sorted_ids``: "
    "y_pred holds class ids sorted by score).", k=5, from_sorted_ids=False)
CosineSimilarity = _metric_class("CosineSimilarity", cosine_similarity, "cosine_similarity",
                                 "up", "Cosine similarity between labels and predictions.",
                                 axis=-1)

# losses as metrics
MeanSquaredError = _metric_class("MeanSquaredError", losses.mean_squared_error,
                                 "mean_squared_error", "down", "Mean squared error.")
MeanAbsoluteError = _metric_class("MeanAbsoluteError", losses.mean_absolute_error,
                                  "mean_absolute_error", "down", "Mean absolute error.")
MeanAbsolutePercentageError = _metric_class(
    "MeanAbsolutePercentageError", losses.mean_absolute_percentage_error,
    "mean_absolute_percentage_error", "down", "Mean absolute percentage error.")
MeanSquaredLogarithmicError = _metric_class(
    "MeanSquaredLogarithmicError", losses.mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error", "down", "Mean squared logarithmic error.")
LogCoshError = _metric_class("LogCoshError", losses.log_cosh, "logcosh", "down",
                             "Logarithm of the hyperbolic cosine of the error.")
Hinge = _metric_class("Hinge", losses.hinge, "hinge", "down", "Hinge loss.")
SquaredHinge = _metric_class("SquaredHinge", losses.squared_hinge, "squared_hinge", "down",
                             "Squared hinge loss.")
CategoricalHinge = _metric_class("CategoricalHinge", losses.categorical_hinge,
                                 "categorical_hinge", "down", "Categorical hinge loss.")
KLDivergence = _metric_class("KLDivergence", losses.kl_divergence, "kl_divergence", "down",
                             "Kullback-Leibler divergence.")
Poisson = _metric_class("Poisson", losses.poisson, "poisson", "down", "Poisson loss.")
BinaryCrossentropy = _metric_class(
    "BinaryCrossentropy", losses.binary_crossentropy, "binary_crossentropy", "down",
    "Binary cross-entropy.", from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _metric_class(
    "CategoricalCrossentropy", losses.categorical_crossentropy, "categorical_crossentropy",
    "down", "Categorical cross-entropy.", from_logits=False, label_smoothing=0.0, axis=-1)
SparseCategoricalCrossentropy = _metric_class(
    "SparseCategoricalCrossentropy", losses.sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy", "down", "Sparse categorical cross-entropy.",
    from_logits=False, ignore_class=None, axis=-1)

class RootMeanSquaredError(Metric):
    """The square root of the (weighted) mean squared error over all entries."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def values(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return ops.square(y_pred - y_true)

    def result(self):
        mean = super().result()
        return ops.sqrt(mean) if current_trace() is not None else float(np.sqrt(mean))


# names (functions and Keras 2.2.4 aliases) -> metric class
_BY_NAME = {
    "accuracy": Accuracy, "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "cosine_similarity": CosineSimilarity, "cosine_proximity": CosineSimilarity,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
    "logcosh": LogCoshError, "log_cosh": LogCoshError, "hinge": Hinge,
    "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence, "poisson": Poisson,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
for _name, _cls in _BY_NAME.items():
    _registry.alias(_name, _cls)

FUNCTIONS = {
    "accuracy": accuracy, "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "cosine_similarity": cosine_similarity,
}

# Keras 2.2.4 module-level names
mse = MSE = losses.mean_squared_error
mae = MAE = losses.mean_absolute_error
mape = MAPE = losses.mean_absolute_percentage_error
msle = MSLE = losses.mean_squared_logarithmic_error
mean_squared_error = losses.mean_squared_error
mean_absolute_error = losses.mean_absolute_error
mean_absolute_percentage_error = losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = losses.mean_squared_logarithmic_error
hinge, squared_hinge, categorical_hinge = losses.hinge, losses.squared_hinge, \
    losses.categorical_hinge
kld = KLD = kullback_leibler_divergence = kl_divergence = losses.kl_divergence
logcosh = log_cosh = losses.log_cosh
poisson = losses.poisson
binary_crossentropy = losses.binary_crossentropy
categorical_crossentropy = losses.categorical_crossentropy
sparse_categorical_crossentropy = losses.sparse_categorical_crossentropy


def get_function(name):
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    if name in losses.FUNCTIONS:
        return losses.FUNCTIONS[name]
    raise ValueError(f"Unknown metric function {name!r}")


def get(identifier, custom_objects=None):
    """A Metric from a name, a config dict, a Metric, a Loss or a function; names of
    functions and losses give the matching Metric class (``"mse"`` -> MeanSquaredError)."""
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if custom_objects and identifier in custom_objects:
            return get(custom_objects[identifier])
        if identifier in ("acc",):
            raise ValueError("The metric 'acc' is resolved by Model.compile from the loss "
                             "and output shape; use 'accuracy' or a specific accuracy")
        try:
            obj = _registry.lookup(identifier)
        except ValueError:
            known = ", ".join(sorted(_registry.entries))
            raise ValueError(f"Unknown metric {identifier!r}. Known metrics: {known}") \
                from None
        return obj() if isinstance(obj, type) else MeanMetricWrapper(obj, name=identifier)
    if isinstance(identifier, dict):
        return _registry.deserialize(identifier, custom_objects)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, losses.Loss):
        return _LossMetric(identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier {identifier!r}")


class _LossMetric(Metric):
    """A Loss object used as a metric: its unreduced values, averaged."""

    def __init__(self, loss, name=None, dtype=None):
        self.loss = loss
        super().__init__(name=name or loss.name, dtype=dtype)

    def values(self, y_true, y_pred):
        return self.loss.call(y_true, y_pred)

    def totals(self, y_true, y_pred, sample_weight=None):
        """The mean of the loss's values over the entries the prediction's mask keeps
        (Keras 3 fails on a masked prediction here; this is MeanMetricWrapper's rule)."""
        return weighted_totals(self.values(y_true, y_pred),
                               _with_prediction_mask(y_pred, sample_weight))


def serialize(metric):
    if metric is None:
        return None
    if isinstance(metric, Metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    return getattr(metric, "__name__", repr(metric))


def deserialize(config, custom_objects=None):
    return _registry.deserialize(config, custom_objects)


# the stateful metrics (their modules build on Metric above)
from .confusion_metrics import (AUC, FalseNegatives, FalsePositives, Precision,  # noqa: E402
                                PrecisionAtRecall, Recall, RecallAtPrecision,
                                SensitivityAtSpecificity, SpecificityAtSensitivity,
                                TrueNegatives, TruePositives)
from .score_metrics import (BinaryIoU, F1Score, FBetaScore, IoU, MeanIoU,  # noqa: E402
                            OneHotIoU, OneHotMeanIoU, R2Score)

for _cls in (AUC, FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall,
             RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity,
             TrueNegatives, TruePositives, BinaryIoU, F1Score, FBetaScore, IoU, MeanIoU,
             OneHotIoU, OneHotMeanIoU, R2Score, RootMeanSquaredError):
    _registry.alias(backend.snake_case(_cls.__name__), _cls)   # Keras's "auc", "recall"...
