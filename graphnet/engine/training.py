"""Training: ``compile``, ``fit``, ``evaluate``, ``train_on_batch``, ``test_on_batch``.

``Trainer`` is a mixin of ``Model``. The training step is one compiled function:
forward pass (training=True: dropout on), the compiled losses (weighted per output)
plus the weights' regularization penalties and the layers' activity regularizers,
their gradients (``graphnet.autodiff``) and the optimizer's updates, all in one plan
run by one C call that writes the new weights and optimizer state in place. Plans are
cached per batch shape (the last, smaller batch of an epoch gets its own).

Per batch the step returns the loss (and each output's loss for multi-output models)
and, per metric, a weighted total and count; fit keeps running means over the epoch
(weighted by batch size, as Keras does) and passes them to callbacks as the logs
``loss``, ``accuracy``, ``val_loss``, ``<output>_loss``, ``<output>_<metric>``, ...

As in Keras, ``metrics`` ignore the sample weights; ``weighted_metrics`` use the
``sample_weight`` (or ``class_weight``) given to fit / evaluate / *_on_batch, and none
when none is given. A weighted metric whose log name an unweighted one already has is
logged as ``weighted_<name>`` (``<output>_weighted_<name>``); repeated names get
``_1``, ``_2``, ... (Keras's CompileMetrics.result).
"""
import copy

import numpy as np

from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import ops
from .. import optimizers as optimizers_module
from ..compiler import PHASES
from ..progbar import resolve_verbose
from ..runtime.function import Function, describe_shape
from . import data_adapters
from .added_losses import summed_loss_terms
from .compile_options import execution_options
from .input_layer import placeholder
from .layer_call import flatten, nested_leaves
from .multi_step import run_in_groups

_SPARSE_LOSSES = (losses_module.sparse_categorical_crossentropy,)
_SPARSE_METRICS = (metrics_module.SparseCategoricalAccuracy,
                   metrics_module.SparseTopKCategoricalAccuracy,
                   metrics_module.SparseCategoricalCrossentropy)


class _Compiled:
    """What ``compile`` was given, resolved per output once the outputs are known."""

    def __init__(self, loss, loss_weights, metrics, weighted_metrics=None):
        self.loss, self.loss_weights, self.metrics = loss, loss_weights, metrics
        self.weighted_metrics = weighted_metrics


def _per_output(value, names, what):
    """A dict keyed by output name, a list (one per output) or one value for all."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"Unknown entries in {what} dictionary: {unknown}. Only expected "
                             f"following keys: {names}. Received: {what}={value!r}")
        return [value.get(n) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"When passing a list as {what}, it should have one entry per "
                             f"model output. The model has {len(names)} output(s) {names}, "
                             f"but you passed {what}={value!r}")
        return list(value)
    return [value] * len(names)


def _check_names(loss, metrics, argument="metrics"):
    """Unknown loss or metric names fail at compile time, not at the first fit; an
    unknown metric's error names the compile ``argument`` and its value."""
    def names(value):
        return (leaf for leaf in nested_leaves(value) if isinstance(leaf, str))
    for name in names(loss):
        if name.lower() not in ("crossentropy", "ce"):
            losses_module.get(name)
    for name in names(metrics):
        if name.lower() not in ("accuracy", "acc"):
            try:
                metrics_module.get(name)
            except ValueError as exc:
                raise ValueError(f"compile: {argument}={metrics!r}: {exc}") from None


def _is_sparse_loss(loss):
    return isinstance(loss, losses_module.LossFunctionWrapper) and loss.fn in _SPARSE_LOSSES


def _ignored_class(loss):
    """The label a sparse loss leaves out (its ``ignore_class``), or None."""
    return loss._fn_kwargs.get("ignore_class") if _is_sparse_loss(loss) else None


def _resolve_loss(identifier, y_shape, out_shape):
    """A Loss object for ``identifier``; "crossentropy"/"ce" picked from the shapes."""
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        binary, sparse = _binary_or_sparse(y_shape, out_shape)
        fn = (losses_module.binary_crossentropy if binary else
              losses_module.sparse_categorical_crossentropy if sparse else
              losses_module.categorical_crossentropy)
        return losses_module.LossFunctionWrapper(fn, name=identifier)
    loss = losses_module.get(identifier)
    if isinstance(loss, losses_module.Loss):
        return loss
    if not callable(loss):
        raise ValueError(f"Could not interpret loss identifier: {identifier!r}")
    name = identifier if isinstance(identifier, str) else getattr(loss, "__name__", "loss")
    return losses_module.LossFunctionWrapper(loss, name=name)


def _binary_or_sparse(y_shape, out_shape):
    """Keras's rule: binary when the output has one unit; sparse when the labels have
    one axis fewer, or a last axis of 1 against several classes."""
    binary = out_shape[-1] == 1
    sparse = len(y_shape) < len(out_shape) or (y_shape[-1] == 1 and (out_shape[-1] or 2) > 1)
    return binary, sparse


def _resolve_metric(identifier, loss, y_shape, out_shape):
    """A Metric for ``identifier``; 'accuracy'/'acc' picked from the loss and shapes
    (binary / sparse categorical / categorical)."""
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        fn = getattr(loss, "fn", None)
        binary, sparse = _binary_or_sparse(y_shape, out_shape)
        if fn is losses_module.binary_crossentropy or isinstance(
                loss, losses_module.BinaryCrossentropy):
            binary, sparse = True, False
        elif _is_sparse_loss(loss):
            binary, sparse = False, True
        cls = (metrics_module.BinaryAccuracy if binary else
               metrics_module.SparseCategoricalAccuracy if sparse else
               metrics_module.CategoricalAccuracy)
        return cls(name=identifier)
    metric = metrics_module.get(identifier)
    if isinstance(identifier, str):
        metric.name = identifier
    return metric


def _metric_name(identifier):
    if isinstance(identifier, str):
        return identifier
    if isinstance(identifier, (metrics_module.Metric, losses_module.Loss)):
        return identifier.name
    if isinstance(identifier, type) and issubclass(identifier, metrics_module.Metric):
        return identifier().name
    return getattr(identifier, "__name__", "metric")


def _log_names(entries, multi_output):
    """Log names of ``entries`` [(output name, metric name, weighted)], unweighted ones
    first, as Keras's CompileMetrics.result: ``<output>_`` prefixed for multi-output
    models, a repeated unweighted name suffixed ``_1``, ``_2``, ...; a weighted metric
    whose name is taken becomes ``weighted_<name>`` (then suffixed if taken too)."""
    def full(output, name):
        return f"{output}_{name}" if multi_output else name
    counters, names = {}, []
    for output, name, weighted in entries:
        log = full(output, name)
        if weighted and log in counters:
            log = full(output, f"weighted_{name}")
        if log in counters:
            counters[log] += 1
            log = f"{log}_{counters[log] - 1}"
        else:
            counters[log] = 1
        names.append(log)
    return names


def _scalar(x):
    return float(np.asarray(x).reshape(-1)[0])


def _as_scalar_tensor(t):
    """Scalar constants may carry a (1,) shape into scalar arithmetic: reshape to ()."""
    return ops.reshape(t, ()) if t.ndim else t


def class_weight_to_sample_weights(y, class_weight):
    """Per-sample weights from ``{class: weight}`` (labels: argmax of one-hot rows,
    else the rounded value), 1.0 for classes not in the dict."""
    y = np.asarray(y)
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
    y = np.round(y).astype("int64").reshape(len(y), -1)[:, 0]
    return np.array([class_weight.get(int(c), 1.0) for c in y], dtype="float32")


class Trainer:
    """The training API of ``Model`` (Keras's compile/fit/evaluate)."""

    _compiled = None
    _execution = None
    optimizer = None
    stop_training = False
    history = None

    # -- compile -------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True, sample_weight_mode=None, backend="c",
                **kwargs):
        """Configure training.

        Args:
            optimizer: name ("rmsprop", "adam", ...) or optimizer instance.
            loss: name, function or Loss; a list (one per output) or a dict by output name
                for multi-output models (None for an output without a loss).
            loss_weights: list or dict of per-output loss weights (1.0 each).
            metrics: list of metric names, functions or Metric objects ("accuracy"
                resolved from the loss and output shape); a list of lists or a dict by
                output name to give each output its own. They ignore sample weights.
            weighted_metrics: the same forms; these are weighted by the ``sample_weight``
                (or ``class_weight``) given to fit, evaluate, train_on_batch and
                test_on_batch.
        """
        if kwargs:
            raise TypeError(f"compile: unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        options = execution_options(run_eagerly, steps_per_execution, jit_compile,
                                    auto_scale_loss, sample_weight_mode, backend)
        _check_names(loss, metrics, "metrics")
        _check_names(None, weighted_metrics, "weighted_metrics")
        spec = _Compiled(loss, loss_weights, metrics, weighted_metrics)
        if getattr(self, "outputs", None):  # output names known: check the forms now
            names = self._output_names_for_logs()
            self._metric_identifiers(names, metrics, "metrics")
            self._metric_identifiers(names, weighted_metrics, "weighted_metrics")
            for value, what in ((loss, "loss"), (loss_weights, "loss_weights")):
                _per_output(value, names, what)
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = loss
        self._compiled = spec
        self._set_execution_options(options)
        self._step_fns = {}
        self._repeat_steps = {}
        self._resolved = None
        self.stop_training = False

    def _set_execution_options(self, options):
        """Use ``options`` (compile_options.ExecutionOptions) for the steps from now on."""
        before = getattr(self, "_execution", None)
        self._execution = options
        self._backend = options.backend
        self._steps_per_execution = options.steps_per_execution
        self._step_fns = {}
        if (before.phases if before else tuple(PHASES)) != options.phases:
            self._graph_changed()    # the inference plans were lowered with other phases

    def _execution_option(self, name):
        options = getattr(self, "_execution", None)
        if options is None:
            raise AttributeError(f"Model '{self.name}' is not compiled: {name} is set by "
                                 "compile()")
        return getattr(options, name)

    def _replace_execution_option(self, **changes):
        """Re-check the options with ``changes`` (as compile would) and use them."""
        old = self._execution
        if old is None:
            raise AttributeError(f"Model '{self.name}' is not compiled: pass "
                                 f"{', '.join(changes)} to compile()")
        values = {"run_eagerly": old.run_eagerly, "jit_compile": old.jit_request,
                  "steps_per_execution": old.steps_per_execution, **changes}
        self._set_execution_options(execution_options(
            values["run_eagerly"], values["steps_per_execution"], values["jit_compile"],
            True, None, "c"))

    run_eagerly = property(lambda self: self._execution_option("run_eagerly"),
                           lambda self, v: self._replace_execution_option(run_eagerly=v),
                           doc="Whether the steps run op by op on the NumPy reference.")
    jit_compile = property(lambda self: self._execution_option("jit_compile"),
                           lambda self, v: self._replace_execution_option(jit_compile=v),
                           doc="Whether the steps are lowered with the fusion phase.")
    steps_per_execution = property(
        lambda self: self._execution_option("steps_per_execution"),
        lambda self, v: self._replace_execution_option(steps_per_execution=v),
        doc="How many steps one C call runs.")

    def _assert_compiled(self, what):
        if self._compiled is None:
            raise RuntimeError(f"You must call `compile()` before using the model: "
                               f"model '{self.name}' was not compiled before {what}().")

    # -- per-output resolution -----------------------------------------------------------------
    def _output_names_for_logs(self):
        structure = getattr(self, "_output_structure", None)
        if isinstance(structure, dict):  # Keras 3 names a dict's outputs by their keys
            return sorted(structure)
        return list(self.output_names)

    def _resolve(self, y_shapes):
        """Loss objects, weights and metrics per output, for labels of ``y_shapes``."""
        key = (tuple(y_shapes), tuple(t.node for t in self.outputs))
        if self._resolved is not None and self._resolved[0] == key:
            return self._resolved[1]
        spec = self._compiled
        names = self._output_names_for_logs()
        if spec.loss is None:
            raise ValueError(f"Model '{self.name}': no loss to compute. Provide a `loss` "
                             "argument in `compile()`.")
        loss_ids = _per_output(spec.loss, names, "loss")
        weights = [1.0] * len(names) if spec.loss_weights is None else \
            _per_output(spec.loss_weights, names, "loss_weights")
        weights = [1.0 if w is None else float(w) for w in weights]
        out_shapes = [tuple(t.shape) for t in self.outputs]
        y_full = [(None,) + tuple(s) for s in y_shapes]
        losses = [_resolve_loss(lid, ys, os) for lid, ys, os in zip(loss_ids, y_full,
                                                                      out_shapes)]
        if all(loss is None for loss in losses):
            raise ValueError(f"Model '{self.name}': no loss to compute: every output's loss "
                             "is None")
        entries, used = [], set()
        for weighted, ids_per_output in self._all_metric_identifiers(names):
            for i, ids in enumerate(ids_per_output):
                for identifier in ids:
                    m = _resolve_metric(identifier, losses[i], y_full[i], out_shapes[i])
                    if id(m) in used:
                        m = copy.copy(m)  # each use keeps its own running state
                    used.add(id(m))
                    entries.append((i, m, weighted))
        log_names = _log_names([(names[i], m.name, w) for i, m, w in entries],
                               len(names) > 1)
        metrics = [(i, log, m, w) for (i, m, w), log in zip(entries, log_names)]
        resolved = (losses, weights, metrics)
        self._resolved = (key, resolved)
        return resolved

    def _all_metric_identifiers(self, names):
        """[(False, metrics per output), (True, weighted metrics per output)]."""
        return [(False, self._metric_identifiers(names, self._compiled.metrics, "metrics")),
                (True, self._metric_identifiers(names, self._compiled.weighted_metrics,
                                                "weighted_metrics"))]

    @staticmethod
    def _metric_identifiers(names, spec, what):
        """The metric identifiers of each output from compile's ``what`` argument."""
        if spec is None:
            return [[] for _ in names]
        if isinstance(spec, dict):
            per = _per_output(spec, names, what)
        elif isinstance(spec, (list, tuple)) and len(names) > 1 and spec and \
                all(isinstance(m, (list, tuple)) or m is None for m in spec):
            per = _per_output(list(spec), names, what)
        elif isinstance(spec, (list, tuple)):
            per = [list(spec)] * len(names)
        else:
            per = [[spec]] * len(names)
        return [[] if p is None else (list(p) if isinstance(p, (list, tuple)) else [p])
                for p in per]

    @property
    def metrics_names(self):
        """Names of the values ``evaluate`` returns: "loss", each output's loss
        (multi-output models), then the metrics."""
        if self._compiled is None:
            return []
        names = self._output_names_for_logs() if self.outputs else ["output"]
        out = ["loss"]
        if len(names) > 1:
            loss_ids = _per_output(self._compiled.loss, names, "loss")
            out += [f"{n}_loss" for n, lid in zip(names, loss_ids) if lid is not None]
        entries = [(n, _metric_name(identifier), weighted)
                   for weighted, per in self._all_metric_identifiers(names)
                   for n, ids in zip(names, per) for identifier in ids]
        return out + _log_names(entries, len(names) > 1)

    def metric_directions(self):
        """{metric log name: "up" | "down"} for the compiled metrics (used by callbacks)."""
        if self._resolved is None:
            return {}
        return {name: m.direction for _, name, m, _ in self._resolved[1][2]}

    # -- the step functions ---------------------------------------------------------------
    def _regularization_terms(self):
        """``self.losses`` (add_loss terms, the layers' activity regularizers divided by
        the batch size, the weights' regularizer penalties) as scalars, as Keras 3 adds
        them to the loss (graphnet/engine/added_losses.py)."""
        return summed_loss_terms(self.losses)

    def _step_function(self, training, y_shapes, sw_shapes, sw_given=None):
        """The step for these label and sample-weight shapes; ``sw_given``: per output,
        whether sample weights were given (weighted metrics get None where not; all
        given when None)."""
        if sw_given is None:
            sw_given = [True] * len(sw_shapes)
        key = (training, tuple(y_shapes), tuple(sw_shapes), tuple(sw_given),
               tuple(t.node for t in self.outputs))
        fn = self._step_fns.get(key)
        if fn is not None:
            return fn
        losses, weights, metrics = self._resolve(y_shapes)
        names = self._output_names_for_logs()
        ys = [placeholder((None,) + tuple(s), "float32", name=f"{n}_target")
              for n, s in zip(names, y_shapes)]
        sws = [placeholder((None,) + tuple(s), "float32", name=f"{n}_sample_weight")
               for n, s in zip(names, sw_shapes)]
        total, per_output = None, []
        for i, loss in enumerate(losses):
            if loss is None:
                continue
            value = _as_scalar_tensor(loss(ys[i], self.outputs[i], sws[i]))
            per_output.append(value)
            weighted = value * weights[i] if weights[i] != 1.0 else value
            total = weighted if total is None else total + weighted
        for term in self._regularization_terms():
            total = total + term
        total = _as_scalar_tensor(total)
        outputs = [total] + (per_output if len(names) > 1 else [])
        for i, _, metric, weighted in metrics:
            sw = sws[i] if weighted and sw_given[i] else None
            outputs += metric.batch_statistics(ys[i], self.outputs[i], sw)
        updates = []
        if training:
            updates = self._training_updates(total)
        fn = Function(list(self.inputs) + ys + sws, outputs, updates=updates,
                      training=training, backend=self._backend, phases=self._execution.phases,
                      name=f"{self.name}_{'train' if training else 'test'}_step")
        self._step_fns[key] = fn
        return fn

    def _training_updates(self, total):
        try:
            from ..autodiff import gradients
        except ImportError:
            raise RuntimeError("Training needs graphnet.autodiff (gn.gradients), which is "
                               "not available in this build") from None
        variables = [v for v in self.trainable_weights if np.dtype(v.dtype).kind == "f"]
        self.optimizer.build(variables)
        grads = gradients(self.optimizer.scale_loss(total), variables,
                          unconnected_gradients="none")
        return self.optimizer.build_updates(variables, grads) + self.state_updates

    # -- data ------------------------------------------------------------------------------
    def _standardize_targets(self, y, what="y"):
        names = self._output_names_for_logs()
        if y is None:
            raise ValueError(f"Model '{self.name}': {what} (the targets) must be given")
        if isinstance(y, dict):
            missing = [n for n in names if n not in y]
            if missing:
                raise ValueError(f"Model '{self.name}': missing target(s) for output(s) "
                                 f"{missing} in the {what} dict; expected keys {names}")
            y = [y[n] for n in names]
        elif len(names) == 1:
            if isinstance(y, (list, tuple)) and len(y) == 1 and np.ndim(y[0]) >= 1:
                y = y[0]
            y = [y]
        y = list(y) if isinstance(y, (list, tuple)) else [y]
        if len(y) != len(names):
            raise ValueError(f"Model '{self.name}' has {len(names)} output(s) {names}, got "
                             f"{len(y)} target array(s)")
        return [np.asarray(a) for a in y]

    def _standardize_weights(self, sample_weight, n):
        names = self._output_names_for_logs()
        if sample_weight is None:
            return [None] * len(names)
        if isinstance(sample_weight, dict):
            sw = [sample_weight.get(k) for k in names]
        elif isinstance(sample_weight, (list, tuple)) and len(names) > 1:
            if len(sample_weight) != len(names):
                raise ValueError(f"Model '{self.name}': sample_weight has {len(sample_weight)} "
                                 f"entries for {len(names)} outputs")
            sw = list(sample_weight)
        else:
            sw = [sample_weight] * len(names)
        out = []
        for name, w in zip(names, sw):
            if w is None:
                out.append(None)
                continue
            w = np.asarray(w, dtype="float32")
            if w.ndim == 0 or w.shape[0] != n:
                raise ValueError(f"Model '{self.name}': sample_weight for output '{name}' has "
                                 f"shape {w.shape}, expected ({n},) (one weight per sample)")
            out.append(w)
        return out

    @staticmethod
    def _sparse_targets(losses, metrics):
        """Per output, whether its targets are sparse labels (checked value by value)."""
        sparse_metric = {i for i, _, m, _ in metrics if isinstance(m, _SPARSE_METRICS)}
        return [_is_sparse_loss(loss) or i in sparse_metric for i, loss in enumerate(losses)]

    def _check_targets(self, ys, losses, metrics):
        """Shapes of the targets against the outputs, and sparse labels' range."""
        names = self._output_names_for_logs()
        for i, (y, out, loss, sparse) in enumerate(zip(ys, self.outputs, losses,
                                                       self._sparse_targets(losses, metrics))):
            out_shape = tuple(out.shape)
            if not _target_fits(y.shape, out_shape, sparse):
                kind = "sparse labels for" if sparse else "target for"
                raise ValueError(
                    f"Model '{self.name}': the {kind} output '{names[i]}' has shape "
                    f"{describe_shape(y.shape)}, incompatible with the output's shape "
                    f"{describe_shape(out_shape)}"
                    + (f" (loss {loss.name})" if loss is not None else ""))
            if sparse and y.size:
                classes = out_shape[-1]
                flat = y.reshape(-1)
                bad = ~np.isfinite(flat) | (flat < 0) | (flat != np.round(flat))
                if classes is not None:
                    bad |= flat >= classes
                ignored = _ignored_class(loss)
                if ignored is not None:
                    bad &= flat != ignored  # the loss leaves these entries out
                if bad.any():
                    value = flat[np.argmax(bad)]
                    value = int(value) if np.isfinite(value) and value == int(value) else value
                    raise ValueError(
                        f"Model '{self.name}': output '{names[i]}' has {classes} classes, so "
                        f"its sparse labels must be integers in [0, {classes}); got {value} "
                        f"(sample {int(np.argmax(bad)) // max(1, flat.size // len(y))})")

    def _prepare(self, x, y, sample_weight, class_weight=None, what="train_on_batch"):
        """Arrays for the step: inputs, float32 targets, float32 sample weights (None
        for an output without; ``_run_batch`` gives the loss ones there). ``what`` (the
        method) names the data in errors; data of no samples is one, as in Keras."""
        if hasattr(self, "_ensure_built") and not self.built:
            self._ensure_built(flatten(x)[0] if not isinstance(x, dict) else
                               next(iter(x.values())))
        xs = self._standardize_inputs(x)
        n = xs[0].shape[0] if xs[0].ndim else 1
        if n == 0:
            raise ValueError(f"Model '{self.name}': {what} got data of 0 samples (inputs of "
                             f"shape {xs[0].shape}); expected at least one sample")
        ys = self._standardize_targets(y)
        for name, a in zip(self._output_names_for_logs(), ys):
            if a.ndim == 0 or a.shape[0] != n:
                raise ValueError(f"Model '{self.name}': the inputs have {n} samples but the "
                                 f"target for output '{name}' has shape {a.shape}")
        sws = self._standardize_weights(sample_weight, n)
        if class_weight is not None:
            if len(ys) != 1:
                raise ValueError("`class_weight` is only supported for Models with a single "
                                 "output.")
            if sample_weight is not None:
                raise ValueError("You cannot `class_weight` and `sample_weight` at the same "
                                 "time.")
            sws = [class_weight_to_sample_weights(ys[0], class_weight)]
        losses, _, metrics = self._resolve([a.shape[1:] for a in ys])
        self._check_targets(ys, losses, metrics)
        ys = [np.ascontiguousarray(a, dtype="float32") for a in ys]
        sws = [None if w is None else np.ascontiguousarray(w, "float32") for w in sws]
        return xs, ys, sws, n

    # -- running steps ------------------------------------------------------------------
    def _run_batch(self, fn_training, xs, ys, sws, trackers):
        """Run one step on these arrays; update the running ``trackers``."""
        fn, sws = self._step_for_batch(fn_training, xs, ys, sws)
        return self._run_step(lambda arrays: fn(*arrays), list(xs) + list(ys) + list(sws),
                              trackers)

    @staticmethod
    def _run_step(run, arrays, trackers):
        """``run(arrays)``: the step's outputs; update ``trackers`` with them."""
        trackers.update(run(arrays), arrays[0].shape[0] if arrays[0].ndim else 1)
        return trackers.logs()

    def _repeat_step(self, x, y):
        """(run, arrays) for a batch shaped like one ``train_on_batch`` already checked:
        x and y C-contiguous arrays of the same shapes and dtypes as the step's inputs,
        one input and one output, no sample or class weights, no sparse labels (those are
        checked value by value); ``run`` is the compiled step's Executable.run. Else None.
        A training loop's step then skips the checks' Python (15 us, which slowed the mlp
        step by 48-62: the kernels after it found less of their code and data cached)."""
        if type(x) is not np.ndarray or type(y) is not np.ndarray or \
                not (x.flags.c_contiguous and y.flags.c_contiguous):
            return None
        entry = self._repeat_steps.get((x.shape, x.dtype, y.shape, y.dtype))
        return None if entry is None else (entry[0], (x, y, entry[1]))

    def _remember_step(self, x, y, fn, arrays):
        """Keep the compiled step ``fn`` runs on ``arrays`` for batches shaped like (x, y),
        when _repeat_step may take them: the arrays are x, y and the sample weights as
        given (one input, one output, nothing converted)."""
        if type(x) is not np.ndarray or type(y) is not np.ndarray or len(arrays) != 3 or \
                arrays[0] is not x or arrays[1] is not y:
            return
        exe = fn.executable_for(arrays)
        losses, _, metrics = self._resolve([y.shape[1:]])
        if exe is not None and not any(self._sparse_targets(losses, metrics)):
            self._repeat_steps[(x.shape, x.dtype, y.shape, y.dtype)] = (exe.run, arrays[2])

    def _train_step_for(self, x, y, sample_weight=None, class_weight=None):
        """The training step function for this batch, checked, and the arrays it takes."""
        xs, ys, sws, _ = self._prepare(x, y, sample_weight, class_weight)
        fn, sws = self._step_for_batch(True, xs, ys, sws)
        return fn, list(xs) + list(ys) + list(sws)

    def _step_for_batch(self, fn_training, xs, ys, sws):
        """The step function for this batch and its sample weights (ones where none)."""
        n = xs[0].shape[0] if xs[0].ndim else 1
        given = [w is not None for w in sws]
        sws = [np.ones((n,), "float32") if w is None else w for w in sws]
        fn = self._step_function(fn_training, [a.shape[1:] for a in ys],
                                 [a.shape[1:] for a in sws], given)
        return fn, sws

    def _trackers(self):
        losses, _, metrics = self._resolved[1]
        names = self._output_names_for_logs()
        loss_names = ["loss"] + ([f"{n}_loss" for n, loss in zip(names, losses)
                                  if loss is not None] if len(names) > 1 else [])
        return _Trackers(loss_names, metrics)

    def _run_epoch(self, fn_training, batches, callbacks, hook_prefix):
        """Run the step on each of ``batches``' batches of one epoch,
        ``steps_per_execution`` at a time; the epoch's logs."""
        return run_in_groups(self, fn_training, (batch for _, batch in batches.epoch()),
                             self._trackers, callbacks, hook_prefix)

    def _batches(self, x, y, sample_weight, class_weight, batch_size, steps, what,
                 shuffle=False, continuing=False):
        """The batches of ``x`` (arrays or a data source) for fit or evaluate."""
        def prepare_arrays(x, y, sample_weight):
            return self._prepare(x, y, sample_weight, class_weight, what=what)[:3]

        def prepare_batch(x, y, sample_weight, where):
            if y is None and not self._uses_custom_steps():  # a custom step may not
                raise ValueError(f"{what}: {where} has inputs only; {what} needs targets: "
                                 "yield (x, y) or (x, y, sample_weight) batches")
            try:
                return self._prepare(x, y, sample_weight, class_weight, what=what)[:3]
            except ValueError as exc:
                raise ValueError(f"{what}: {where}: {exc}") from None
        return data_adapters.batches_for(x, y, sample_weight, prepare_arrays, prepare_batch,
                                         batch_size, steps, shuffle, continuing, what)

    # -- public API ------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs of ``batch_size`` (32) samples; returns History.

        ``x`` is arrays (with ``y``), or a generator / iterable / ``gn.utils.PyDataset`` /
        torch DataLoader of ``(x, y)`` or ``(x, y, sample_weight)`` batches (see
        ``graphnet.engine.data_adapters``). ``validation_split`` holds out the last
        fraction of the samples (before shuffling); ``validation_data`` is ``(x_val,
        y_val)``, ``(x_val, y_val, sample_weight_val)`` or a data source.
        verbose: 0 silent, 1 progress bar, 2 one line per epoch, "auto" 1 on a terminal
        else 2."""
        self._assert_compiled("fit")
        verbose = resolve_verbose(verbose, "fit")
        if validation_data is None and validation_split:
            if data_adapters.source_kind(x) is not None:
                raise ValueError("validation_split is only supported for arrays, got a "
                                 f"{data_adapters.source_kind(x)}: pass validation_data")
            x, y, sample_weight, validation_data = data_adapters.split_validation(
                x, y, sample_weight, validation_split)
        train = self._batches(x, y, sample_weight, class_weight, batch_size, steps_per_epoch,
                              "fit", shuffle, continuing=True)
        val = None
        if validation_data is not None:
            vx, vy, vsw = data_adapters.unpack_validation(validation_data)
            val_batch_size = validation_batch_size or (
                batch_size if data_adapters.source_kind(vx) is None else None)
            val = self._batches(vx, vy, vsw, None, val_batch_size, validation_steps,
                                "fit (validation data)")
        validate = data_adapters.validation_epochs(validation_freq)
        cbs = callbacks_module.CallbackList(callbacks, add_history=True,
                                            add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=epochs,
                                            steps=train.num_batches)
        self.stop_training = False
        cbs.on_train_begin()
        # a callback restoring a backup (BackupAndRestore) says where to resume
        initial_epoch = self.__dict__.pop("_initial_epoch", None) or initial_epoch
        epoch_logs = {}
        try:
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch)
                epoch_logs = dict(self._run_epoch(True, train, cbs, "train"))
                if train.exhausted:  # no batch at all this epoch: the source is used up
                    break
                if val is not None and validate(epoch):
                    val_logs = self._run_epoch(False, val, None, "test")
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
        finally:
            for batches in (train, val):
                if batches is not None:
                    batches.close()
        if epochs > 0:  # as Keras: the EMA weights replace the trained ones (use_ema)
            self.optimizer.finalize_variable_values(
                [v for v in self.trainable_weights if np.dtype(v.dtype).kind == "f"])
        cbs.on_train_end(epoch_logs)
        return cbs.history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss and metrics over ``x``/``y`` (inference mode): a scalar when there is
        only the loss, else a list in ``metrics_names`` order (or a dict)."""
        self._assert_compiled("evaluate")
        verbose = resolve_verbose(verbose, "evaluate")
        batches = self._batches(x, y, sample_weight, None, batch_size, steps, "evaluate")
        cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=1,
                                            steps=batches.num_batches)
        cbs.on_test_begin()
        try:
            logs = self._run_epoch(False, batches, cbs, "test")
        finally:
            batches.close()
        cbs.on_test_end(logs)
        return self._format_result(logs, return_dict)

    def _format_result(self, logs, return_dict):
        if return_dict:
            return dict(logs)
        values = [logs[k] for k in logs]
        return values[0] if len(values) == 1 else values

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One training step on one batch; returns that batch's loss (and metrics)."""
        self._assert_compiled("train_on_batch")
        plain = sample_weight is None and class_weight is None
        step = self._repeat_step(x, y) if plain else None
        if step is not None:
            return self._format_result(self._run_step(*step, self._trackers()), return_dict)
        fn, arrays = self._train_step_for(x, y, sample_weight, class_weight)
        logs = self._run_step(lambda a: fn(*a), arrays, self._trackers())
        if plain:
            self._remember_step(x, y, fn, arrays)
        return self._format_result(logs, return_dict)

    def profile_train_step(self, x, y, sample_weight=None, repeats=20):
        """Time each kernel call of the compiled training step on this batch: a
        ``graphnet.runtime.profile.PlanProfile`` (``.table()``, ``.by_kernel()``). The
        weights and the optimizer state are left as they were."""
        self._assert_compiled("profile_train_step")
        fn, arrays = self._train_step_for(x, y, sample_weight)
        return fn.profile(*arrays, repeats=repeats)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) of one batch in inference mode, without updating."""
        self._assert_compiled("test_on_batch")
        xs, ys, sws, _ = self._prepare(x, y, sample_weight, what="test_on_batch")
        logs = self._run_batch(False, xs, ys, sws, self._trackers())
        return self._format_result(logs, return_dict)


def _target_fits(y_shape, out_shape, sparse):
    """Whether labels of ``y_shape`` suit an output of ``out_shape`` (batch excluded;
    None matches anything; a trailing axis of 1 may be added or dropped as Keras does)."""
    def same(a, b):
        return len(a) == len(b) and all(p is None or q is None or p == q for p, q in zip(a, b))
    y, out = tuple(y_shape[1:]), tuple(out_shape[1:])
    if sparse:
        return same(y, out[:-1]) or same(y, out[:-1] + (1,))
    return same(y, out) or (out and out[-1] == 1 and same(y, out[:-1])) or \
        (y and y[-1] == 1 and same(y[:-1], out))


class _Trackers:
    """Running means over an epoch: the losses weighted by batch size, the metrics by
    the statistics of each batch they accumulate (weighted totals and counts for the
    running means)."""

    def __init__(self, loss_names, metrics):
        self.loss_names = loss_names
        self.metrics = metrics
        self.loss_totals = [0.0] * len(loss_names)
        self.seen = 0
        for _, _, m, _ in metrics:
            m.reset_state()

    def update(self, outs, batch):
        k = len(self.loss_names)
        for i in range(k):
            self.loss_totals[i] += _scalar(outs[i]) * batch
        self.seen += batch
        for _, _, m, _ in self.metrics:
            n = len(m.variables)
            m.accumulate(outs[k:k + n])
            k += n

    def logs(self):
        logs = {name: total / max(self.seen, 1)
                for name, total in zip(self.loss_names, self.loss_totals)}
        for _, name, m, _ in self.metrics:
            logs[name] = m.result()
        return logs


__all__ = ["Trainer", "class_weight_to_sample_weights"]
