"""Custom training steps, compiled: ``train_step`` / ``test_step`` / ``predict_step``.

A Model subclass (subclassed or Functional) that overrides ``train_step``,
``test_step``, ``predict_step``, ``compute_loss``, ``compute_metrics`` or ``metrics``,
or compiles a Metric subclass of its own (``update_state`` / ``result``), runs its
steps the Keras 3 way, written backend-neutrally:

    def train_step(self, data):
        x, y = data
        with gn.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

Define-then-run stays: on the first batch of each input signature the step is traced
once on placeholders shaped like the batch (batch dimension None) inside a StepTrace
(graph/trace.py), so every ``Variable.assign`` (the optimizers' updates, the metrics'
state, BatchNormalization's statistics) is recorded and read back by the rest of the
step; the returned logs and those updates compile into one Function (one plan per batch
shape), run per batch like the built-in step. ``fit`` / ``evaluate`` / ``train_on_batch``
/ ``test_on_batch`` / ``predict`` reach it through the Trainer's per-batch hooks
(``_prepare``, ``_step_for_batch``, ``_trackers``), so steps_per_execution groups run it
too. The metrics (``self.metrics``) are reset at each epoch, evaluation and
``*_on_batch`` call, as Keras does; the logs are those the last step returned.
"""
import numpy as np

from ..graph.scope import layer_call_scope
from ..graph.tensor import SymbolicTensor, placeholder
from ..graph.trace import StepTrace
from ..graph.variable import Variable
from ..metrics import Mean, Metric
from ..runtime.function import Function
from .added_losses import summed_loss_terms
from .batch_structure import pack_x_y_sample_weight, unpack_x_y_sample_weight
from .layer_call import flatten, pack_like
from .step_losses import CompiledLoss, CompiledMetrics
from .training import class_weight_to_sample_weights

_OVERRIDABLE = ("train_step", "test_step", "predict_step", "compute_loss", "compute_metrics",
                "metrics")
_STEPS = {True: "train_step", False: "test_step"}


def overrides_steps(cls):
    """Whether ``cls`` overrides a step method of CustomSteps (then it runs them)."""
    return any(getattr(cls, name) is not getattr(CustomSteps, name) for name in _OVERRIDABLE)


class StepFunction(Function):
    """A compiled custom step: its outputs are the values of the logs ``log_names``."""

    def __init__(self, inputs, outputs, log_names, **kwargs):
        super().__init__(inputs, outputs, **kwargs)
        self.log_names = log_names   # for predict_step: the outputs' structure


class _StepLogs:
    """The logs of the last custom step run (Keras 3 reports what the step returned)."""

    def __init__(self, model):
        self.model = model
        self.values = {}

    def update(self, outs, batch):
        names = self.model._custom_log_names
        self.values = {name: _pythonify(v) for name, v in zip(names, outs)}

    def logs(self):
        return dict(self.values)


class CustomSteps:
    """Model's Keras 3 step methods, and the compiled custom-step path of fit / evaluate /
    predict (taken when the class overrides one of them, see ``overrides_steps``)."""

    # -- the methods a subclass overrides (Keras 3's defaults) -------------------------------
    def train_step(self, data):
        """One training step on ``data``: forward pass, ``compute_loss``, gradients,
        ``optimizer.apply``; returns ``compute_metrics``'s logs."""
        from ..autodiff import gradients
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                 training=True)
        self._loss_tracker.update_state(loss, sample_weight=batch_size_of(x))
        variables = [v for v in self.trainable_weights if np.dtype(v.dtype).kind == "f"]
        if variables:
            grads = gradients(self.optimizer.scale_loss(loss), variables,
                              unconnected_gradients="none")
            self.optimizer.apply(grads, variables)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        """One evaluation step: forward pass (inference), loss and metrics."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                 training=False)
        self._loss_tracker.update_state(loss, sample_weight=batch_size_of(x))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def predict_step(self, data):
        """The outputs for one batch of inputs."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of ``y`` / ``y_pred`` (weighted per output) plus ``self.losses``,
        a scalar tensor. Keras 3's signature: ``x`` and ``training`` are there for
        subclasses that override it (the compiled loss reads neither, as in Keras)."""
        terms = []
        spec = self._compiled
        if spec is not None and spec.loss is not None:
            terms.append(self._compiled_loss().total(y, y_pred, sample_weight))
        terms += summed_loss_terms(self.losses)
        if not terms:
            raise ValueError(f"Model '{self.name}': no loss to compute. Provide a `loss` "
                             "argument in `compile()`.")
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with this batch; the results of ``self.metrics``."""
        if self._compiled is not None:
            self._compiled_metrics().update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self):
        """{name: result} of ``self.metrics`` (a metric's dict result merged in)."""
        logs = {}
        for metric in self.metrics:
            result = metric.result()
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[metric.name] = result
        return logs

    @property
    def metrics(self):
        """Keras 3's order: the loss tracker and the compiled metrics (once compiled), then
        the Metric objects the model's attributes hold. A model on the built-in step
        keeps its loss as running floats, not in a tracker: its list is the compiled
        metrics it resolved on its first batch."""
        if not self._uses_custom_steps():
            return [m for _, _, m, _ in self._resolved[1][2]] if self._resolved else []
        own = []
        if self._compiled is not None:
            own = [self._loss_tracker]
            compiled = self.__dict__.get("_compiled_metrics_state")
            if compiled is not None and compiled[1].entries:
                own.append(compiled[1])
        from .tracking import tracked_attributes
        return own + [m for m in tracked_attributes(self, Metric)
                      if all(m is not o for o in own)]

    def reset_metrics(self):
        for metric in self.metrics:
            metric.reset_state()

    # -- resolution of compile's arguments ---------------------------------------------------
    @property
    def _loss_tracker(self):
        tracker = self.__dict__.get("_loss_tracker_metric")
        if tracker is None or tracker[0] is not self._compiled:
            tracker = self.__dict__["_loss_tracker_metric"] = (self._compiled,
                                                               Mean(name="loss"))
        return tracker[1]

    def _compiled_loss(self):
        state = self.__dict__.get("_compiled_loss_state")
        if state is None or state[0] is not self._compiled:
            state = self.__dict__["_compiled_loss_state"] = (self._compiled,
                                                             CompiledLoss(self))
        return state[1]

    def _compiled_metrics(self):
        state = self.__dict__.get("_compiled_metrics_state")
        if state is None or state[0] is not self._compiled:
            state = self.__dict__["_compiled_metrics_state"] = (self._compiled,
                                                                CompiledMetrics(self))
        return state[1]

    def _uses_custom_steps(self):
        """Whether fit & co. run the traced steps: the class overrides one, or compile was
        given a Metric subclass of its own (answered once per compile)."""
        cached = self.__dict__.get("_custom_steps_for")
        if cached is None or cached[0] is not self._compiled:
            uses = overrides_steps(type(self)) or (
                self._compiled is not None and CompiledMetrics.has_own_metrics(self._compiled))
            cached = self.__dict__["_custom_steps_for"] = (self._compiled, uses)
        return cached[1]

    # -- the Trainer's per-batch hooks ---------------------------------------------------------
    def _prepare(self, x, y, sample_weight, class_weight=None, what="train_on_batch"):
        if not self._uses_custom_steps():
            return super()._prepare(x, y, sample_weight, class_weight, what)
        if class_weight is not None:   # as Keras: the step gets them as sample weights
            if sample_weight is not None:
                raise ValueError("You cannot `class_weight` and `sample_weight` at the same "
                                 "time.")
            if y is None or len(flatten(y)) != 1:
                raise ValueError(f"Model '{self.name}': `class_weight` needs one target "
                                 "array (it is only supported for a single output)")
            sample_weight = class_weight_to_sample_weights(flatten(y)[0], class_weight)
        data = (x,) if y is None and sample_weight is None else (x, y, sample_weight)
        flat = [_as_batch_array(a, what) for a in flatten(data) if a is not None]
        if not flat:
            raise ValueError(f"Model '{self.name}': {what} got no data")
        n = flat[0].shape[0] if flat[0].ndim else 1
        for a in flat:
            if not a.ndim or a.shape[0] != n:
                raise ValueError(f"Model '{self.name}': {what} got arrays with different "
                                 f"numbers of samples: {[np.shape(b) for b in flat]}")
        structure = _structure_of(x, y, sample_weight)
        self.__dict__.setdefault("_custom_structures", {})[_signature(flat)] = structure
        return flat, [], [], n

    def _step_for_batch(self, fn_training, xs, ys, sws):
        if not self._uses_custom_steps():
            return super()._step_for_batch(fn_training, xs, ys, sws)
        fn = self._custom_step_function(_STEPS[bool(fn_training)], list(xs) + list(ys) +
                                        list(sws))
        self._custom_log_names = fn.log_names
        return fn, sws

    def _trackers(self):
        if not self._uses_custom_steps():
            return super()._trackers()
        self.reset_metrics()
        return _StepLogs(self)

    def _remember_step(self, x, y, fn, arrays):
        if not self._uses_custom_steps():
            super()._remember_step(x, y, fn, arrays)

    def _overrides_predict_step(self):
        return type(self).predict_step is not CustomSteps.predict_step

    def _predict_custom(self, x, batch_size, steps, backend, verbose=0, callbacks=None):
        """The outputs of a custom ``predict_step`` for every batch of the arrays ``x``
        (all of them in one batch when ``batch_size`` is None), concatenated; the
        callbacks (and the progress bar unless ``verbose`` is 0) see each batch."""
        from .. import callbacks as callbacks_module
        chosen = "c" if self._execution is None else self._execution.backend
        if backend not in (None, chosen):
            raise ValueError(f"Model '{self.name}': a custom predict_step runs on the backend "
                             f"compile chose ({chosen!r}); backend must be None or "
                             f"{chosen!r}, got {backend!r}")
        flat = [_as_batch_array(a, "predict") for a in flatten(x)]
        n = flat[0].shape[0] if flat[0].ndim else 1
        batch_size = max(1, n) if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"predict: batch_size must be >= 1, got {batch_size}")
        self.__dict__.setdefault("_custom_structures", {})[_signature(flat)] = \
            _structure_of(x, None, None)
        fn = self._custom_step_function("predict_step", flat)
        starts = list(range(0, n, batch_size)) or [0]
        if steps is not None:
            starts = starts[:int(steps)]
        cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=1, steps=len(starts))
        cbs.on_predict_begin()
        pieces = []
        for step, start in enumerate(starts):
            cbs.on_predict_batch_begin(step)
            pieces.append(fn(*[a[start:start + batch_size] for a in flat]))
            cbs.on_predict_batch_end(step, {"outputs": pack_like(fn.log_names, pieces[-1])})
        cbs.on_predict_end()
        merged = [np.concatenate([p[i] for p in pieces], axis=0)
                  for i in range(len(fn.output_nodes))]
        return pack_like(fn.log_names, merged)

    # -- tracing and compiling a step ----------------------------------------------------------
    def _custom_step_function(self, kind, arrays):
        """The compiled ``kind`` step for batches like ``arrays`` (cached per signature)."""
        signature = _signature(arrays)
        key = ("custom", kind, signature)
        cache = self._step_fns if self._compiled is not None else \
            self.__dict__.setdefault("_uncompiled_steps", {})   # predict before compile
        fn = cache.get(key)
        if fn is not None:
            return fn
        x, y, sw = self.__dict__["_custom_structures"][signature]
        holders = [placeholder((None,) + a.shape[1:], str(a.dtype), name=f"data_{i}")
                   for i, a in enumerate(arrays)]
        data = _pack_data(x, y, sw, holders)
        with StepTrace(f"{self.name}.{kind}") as trace, layer_call_scope():
            result = getattr(self, kind)(data)
            if kind == "predict_step":
                names, tensors = result, flatten(result)
            else:
                names, tensors = _log_values(self, kind, result)
            # inside the trace: a Variable returned (a metric's result) reads its new value
            tensors = [_tensor_of(t, self, kind) for t in tensors]
        options = self._execution
        fn = StepFunction(holders, tensors, names, updates=trace.updates,
                          training=kind == "train_step",
                          backend="c" if options is None else options.backend,
                          phases=None if options is None else options.phases,
                          name=f"{self.name}_{kind}")
        cache[key] = fn
        return fn


def batch_size_of(x):
    """The number of samples of the batch ``x`` as a float scalar tensor."""
    from .. import ops
    first = next(t for t in flatten(x) if t is not None)
    if isinstance(first, SymbolicTensor) and first.ndim:
        column = first[(slice(None),) + (0,) * (first.ndim - 1)]
        return ops.sum(ops.ones_like(ops.cast(column, "float32")))
    return float(np.shape(first)[0]) if np.ndim(first) else 1.0


def _log_values(model, kind, logs):
    if not isinstance(logs, dict):
        raise TypeError(f"Model '{model.name}': {kind} must return a dict of logs "
                        f"({{'loss': ..., ...}}), got {type(logs).__name__}")
    names, values = [], []
    for name, value in logs.items():
        if isinstance(value, dict):   # a metric's dict result, merged as Keras does
            names += list(value)
            values += list(value.values())
        else:
            names.append(name)
            values.append(value)
    return names, values


def _tensor_of(value, model, kind):
    from .. import ops
    if isinstance(value, (SymbolicTensor, Variable)):
        return ops.convert_to_tensor(value)
    if isinstance(value, (int, float, np.ndarray, np.generic)):
        return ops.convert_to_tensor(np.asarray(value, dtype="float32"))
    raise TypeError(f"Model '{model.name}': {kind} returned a {type(value).__name__}; its "
                    "values must be tensors, Variables or numbers")


def _structure_of(x, y, sample_weight):
    """The nesting of the batch (arrays replaced by a marker, None kept)."""
    def shape(s):
        if s is None:
            return None
        if isinstance(s, dict):
            return {k: shape(v) for k, v in s.items()}
        if isinstance(s, (list, tuple)):
            return type(s)(shape(v) for v in s)
        return 0
    return shape(x), shape(y), shape(sample_weight)


def _pack_data(x, y, sw, holders):
    """The batch ``train_step`` receives: ``x`` alone, or ``(x, y)`` / ``(x, y, sw)``."""
    flat = iter(holders)
    xs = pack_like(x, [next(flat) for _ in flatten(x)])
    ys = None if y is None else pack_like(y, [next(flat) for _ in flatten(y)])
    sws = None if sw is None else pack_like(sw, [next(flat) for _ in flatten(sw)])
    return pack_x_y_sample_weight(xs, ys, sws)


def _signature(arrays):
    return tuple((a.shape[1:], str(a.dtype)) for a in arrays)


def _as_batch_array(value, what):
    array = np.asarray(value)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what}: data must be numeric arrays, got dtype {array.dtype}")
    return np.ascontiguousarray(array)


def _pythonify(value):
    array = np.asarray(value)
    return float(array) if array.ndim == 0 else array


__all__ = ["CustomSteps", "StepFunction", "batch_size_of", "overrides_steps"]
