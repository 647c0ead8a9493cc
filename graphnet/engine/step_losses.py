"""compile's loss and metrics as a custom step uses them (Keras 3's CompileLoss and
CompileMetrics): resolved per output from the first ``y`` / ``y_pred`` they see, the
same way the built-in step resolves them (engine/training.py), then applied to
symbolic tensors inside the traced step."""
import copy

from .. import metrics as metrics_module
from .. import ops
from .layer_call import flatten, nested_leaves
from .training import _log_names, _per_output, _resolve_loss, _resolve_metric


def output_names(model, y_pred):
    """Names of the outputs ``y_pred`` holds: a dict's sorted keys, a Functional model's
    output names, else ``output_<i>`` (``output`` for one)."""
    if isinstance(y_pred, dict):
        return sorted(y_pred)
    flat = flatten(y_pred)
    outputs = getattr(model, "outputs", None)
    if not getattr(model, "_is_subclassed", False) and outputs and len(outputs) == len(flat):
        return model._output_names_for_logs()
    return ["output"] if len(flat) == 1 else [f"output_{i}" for i in range(len(flat))]


def _per_output_values(value, names, what, model):
    """``value`` (y or sample_weight: one tensor, a list or a dict) as one per output."""
    if value is None:
        return [None] * len(names)
    if isinstance(value, dict):
        missing = [n for n in names if n not in value]
        if missing:
            raise ValueError(f"Model '{model.name}': {what} has no entry for output(s) "
                             f"{missing}; expected keys {names}")
        return [value[n] for n in names]
    flat = flatten(value)
    if len(flat) == 1:
        return flat * len(names)
    if len(flat) != len(names):
        raise ValueError(f"Model '{model.name}': {what} has {len(flat)} entries for "
                         f"{len(names)} outputs {names}")
    return flat


class CompiledLoss:
    """The compiled loss of a model's outputs, weighted per output and summed."""

    def __init__(self, model):
        self.model = model
        self.resolved = None

    def _resolve(self, ys, preds, names):
        if self.resolved is None:
            spec = self.model._compiled
            ids = _per_output(spec.loss, names, "loss")
            weights = [1.0] * len(names) if spec.loss_weights is None else \
                _per_output(spec.loss_weights, names, "loss_weights")
            losses = [_resolve_loss(lid, tuple(y.shape), tuple(p.shape))
                      for lid, y, p in zip(ids, ys, preds)]
            self.resolved = losses, [1.0 if w is None else float(w) for w in weights]
        return self.resolved

    def total(self, y, y_pred, sample_weight):
        if y is None or y_pred is None:
            raise ValueError(f"Model '{self.model.name}': compute_loss needs y and y_pred "
                             "for the loss given to compile()")
        names = output_names(self.model, y_pred)
        preds = flatten(y_pred)
        ys = _per_output_values(y, names, "y", self.model)
        sws = _per_output_values(sample_weight, names, "sample_weight", self.model)
        losses, weights = self._resolve(ys, preds, names)
        total = None
        for loss, weight, t, p, w in zip(losses, weights, ys, preds, sws):
            if loss is None:
                continue
            value = _scalar(loss(t, p, w))
            value = value * weight if weight != 1.0 else value
            total = value if total is None else total + value
        return total


class CompiledMetrics:
    """compile's metrics and weighted_metrics, one metric object per use and output;
    ``result()`` is a dict by log name (Keras's CompileMetrics)."""

    name = "compile_metrics"

    def __init__(self, model):
        self.model = model
        self.entries = []      # (output index, log name, Metric, weighted)
        self.resolved = False

    @staticmethod
    def has_own_metrics(spec):
        """Whether compile was given a Metric with its own update_state / result (not one
        the built-in step computes from each batch's statistics)."""
        for m in list(nested_leaves(spec.metrics)) + list(nested_leaves(spec.weighted_metrics)):
            if m is None:
                continue
            if isinstance(m, type) and issubclass(m, metrics_module.Metric):
                m = m()
            if isinstance(m, metrics_module.Metric) and not m._has_batch_statistics():
                return True
        return False

    def _resolve(self, ys, preds, names):
        if self.resolved:
            return
        model = self.model
        losses = [None] * len(names)
        if model._compiled.loss is not None:
            losses = model._compiled_loss()._resolve(ys, preds, names)[0]
        entries, used = [], set()
        for weighted, per_output in model._all_metric_identifiers(names):
            for i, ids in enumerate(per_output):
                for identifier in ids:
                    m = _resolve_metric(identifier, losses[i], tuple(ys[i].shape),
                                        tuple(preds[i].shape))
                    if id(m) in used:
                        m = copy.copy(m)   # each use keeps its own state
                    used.add(id(m))
                    entries.append((i, m, weighted))
        logs = _log_names([(names[i], m.name, w) for i, m, w in entries], len(names) > 1)
        self.entries = [(i, log, m, w) for (i, m, w), log in zip(entries, logs)]
        self.resolved = True

    def update_state(self, y, y_pred, sample_weight=None):
        names = output_names(self.model, y_pred)
        preds = flatten(y_pred)
        ys = _per_output_values(y, names, "y", self.model)
        sws = _per_output_values(sample_weight, names, "sample_weight", self.model)
        self._resolve(ys, preds, names)
        for i, _, metric, weighted in self.entries:
            metric.update_state(ys[i], preds[i], sws[i] if weighted else None)

    def result(self):
        return {log: metric.result() for _, log, metric, _ in self.entries}

    def reset_state(self):
        for _, _, metric, _ in self.entries:
            metric.reset_state()


def _scalar(t):
    t = ops.convert_to_tensor(t)
    return ops.reshape(t, ()) if t.ndim else t
