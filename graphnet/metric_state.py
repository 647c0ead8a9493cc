"""The base of metrics whose state is several accumulated variables (confusion counts,
per-class sums): Keras 3's AUC, Precision, F1Score, R2Score, IoU, ...

Each batch adds an increment to every state variable; ``increments(y_true, y_pred,
sample_weight)`` builds those increments as ops, in ``variables``'s order. So:

- the built-in training / test step outputs them (``batch_statistics``) and the trackers
  add the arrays to the state (``accumulate``), as they add the running means' totals;
- in a traced custom step ``update_state`` assigns ``variable + increment`` and
  ``result()`` is the subclass's ops on the variables, compiled into the step;
- on arrays outside a step both run compiled (graphnet/metric_eager.py wraps them, as it
  wraps a user's Metric subclass): ``update_state`` once per argument signature,
  ``result`` once.

A subclass whose state shape depends on the data (AUC with ``multi_label``, F1Score,
R2Score) creates its variables in ``build(y_true_shape, y_pred_shape)`` on the first
batch, as Keras does.
"""
import numpy as np

from . import backend, ops
from .metrics import Metric


class StateMetric(Metric):
    """A metric accumulating ``increments`` into its state variables (see the module)."""

    direction = "up"

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.built = False

    # -- what a subclass writes ------------------------------------------------------------
    def build(self, y_true_shape, y_pred_shape):
        """Create the state variables that depend on the data's shape (none here)."""
        self.built = True

    def increments(self, y_true, y_pred, sample_weight):
        """One batch's increment of each state variable (ops), in ``variables``'s order."""
        raise NotImplementedError(f"{type(self).__name__} must implement increments")

    # -- the step's part -------------------------------------------------------------------
    def _has_batch_statistics(self):
        """True unless a subclass writes its own ``update_state`` (then fit traces it)."""
        return type(self).update_state is StateMetric.update_state

    def batch_statistics(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), backend.floatx())
        y_true = ops.cast(ops.convert_to_tensor(y_true), backend.floatx())
        if sample_weight is not None:
            sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), backend.floatx())
        if not self.built:
            self.build(tuple(y_true.shape), tuple(y_pred.shape))
        increments = list(self.increments(y_true, y_pred, sample_weight))
        variables = self.variables
        if len(increments) != len(variables):
            raise RuntimeError(f"Metric '{self.name}': increments gave {len(increments)} "
                               f"tensors for {len(variables)} state variables")
        return [ops.reshape(inc, var.shape) if tuple(inc.shape) != tuple(var.shape) else inc
                for inc, var in zip(increments, variables)]

    def accumulate(self, statistics):
        for var, value in zip(self.variables, statistics, strict=True):
            var.assign(var.value + np.asarray(value, var.dtype).reshape(var.shape))

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch to the state (symbolic in a step, compiled on arrays)."""
        increments = self.batch_statistics(y_true, y_pred, sample_weight)  # builds first
        for var, inc in zip(self.variables, increments, strict=True):
            var.assign_add(inc)

    def read(self, attribute):
        """The value of the state variable ``self.<attribute>`` as a tensor, for
        ``result``."""
        if not self.built:
            raise ValueError(f"Metric '{self.name}': result() before the first "
                             "update_state (its state's shape comes from the data)")
        return ops.convert_to_tensor(getattr(self, attribute))


def check_fraction(owner, argument, value):
    """``value`` must be a number in [0, 1]."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or \
            not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner}: `{argument}` must be a number in [0, 1], got {value!r}")
