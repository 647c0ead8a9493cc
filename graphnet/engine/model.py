"""Model: a Functional network with the methods users run it with."""
import json

import numpy as np

from ..runtime.function import Function
from . import data_adapters
from .custom_step import CustomSteps, overrides_steps
from .dict_io import dict_inputs
from .functional import Functional, _layers_within
from .layer_call import flatten, pack_like
from .subclassed import SubclassedModel
from .summary import print_summary
from .training import Trainer


class Model(CustomSteps, SubclassedModel, Trainer, Functional):
    """``gn.Model(inputs, outputs, name=None)``: a model from its input and output tensors.

    Run it with ``predict`` / ``predict_on_batch`` (compiled to C kernels, one plan per
    input shape), train it with ``compile`` / ``fit`` / ``evaluate`` (see Trainer),
    inspect it with ``summary``, save its architecture with ``to_json``.
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if inputs is None and outputs is None and (type(self).call is not Functional.call or
                                                   overrides_steps(type(self))):
            self._init_subclassed(name=name, trainable=trainable, **kwargs)
            return
        if inputs is None or outputs is None:
            raise TypeError("Model needs `inputs` and `outputs`: gn.Model(inputs, outputs)")
        from .. import backend
        super().__init__(inputs, outputs, name=name or backend.unique_name("functional"),
                         trainable=trainable, **kwargs)
        self._predict_fn = None

    # -- inference ------------------------------------------------------------
    def _graph_changed(self):
        self._predict_fn = None

    def predict_function(self, backend=None):
        """The compiled inference function (``backend="reference"`` for the NumPy oracle;
        None: as compile chose, the reference under ``run_eagerly=True``, no fusion phase
        under ``jit_compile=False``)."""
        options = self._execution
        if backend is None:
            backend = "c" if options is None else options.backend
        if backend != "c":
            return Function(self.inputs, self.outputs, backend=backend, name=self.name,
                            updates=self.inference_state_updates)
        if self._predict_fn is None:   # the updates: a stateful RNN's carried states
            self._predict_fn = Function(self.inputs, self.outputs, name=self.name,
                                        phases=None if options is None else options.phases,
                                        updates=self.inference_state_updates)
        return self._predict_fn

    def _standardize_inputs(self, x):
        if self._is_subclassed:  # traced for these shapes on first use
            self._trace_arrays(x, False)
        if type(x) is np.ndarray and len(self.inputs) == 1:
            return [x]
        structure = getattr(self, "_input_structure", None)
        if isinstance(x, dict) and isinstance(structure, dict):
            x = dict_inputs(self.name, structure, x)
        elif isinstance(x, dict):
            missing = [n for n in self.input_names if n not in x]
            if missing:
                raise ValueError(f"Model '{self.name}': missing input(s) {missing} in the "
                                 f"dict; expected keys {self.input_names}")
            x = [x[n] for n in self.input_names]
        arrays = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(arrays) != len(self.inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self.inputs)} input array(s) "
                             f"({', '.join(self.input_names)}), got {len(arrays)}")
        arrays = [np.asarray(a) for a in arrays]
        sizes = {a.shape[0] if a.ndim else None for a in arrays}
        if len(sizes) > 1:
            raise ValueError(f"Model '{self.name}': input arrays have different numbers of "
                             f"samples: {[a.shape[0] for a in arrays]}")
        return arrays

    def _pack_outputs(self, outs):
        structure = getattr(self, "_output_structure", None)
        if isinstance(structure, dict):
            return pack_like(structure, outs)
        return outs[0] if len(outs) == 1 else outs

    def predict_on_batch(self, x, backend=None):
        """Outputs for one batch, computed in a single compiled call."""
        if self._overrides_predict_step():
            return self._predict_custom(x, None, None, backend)
        arrays = self._standardize_inputs(x)
        return self._pack_outputs(self.predict_function(backend)(*arrays))

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
                backend=None):
        """Outputs for every sample of ``x``, ``batch_size`` (32) samples at a time; ``x``
        may be a generator / iterable / PyDataset / DataLoader of batches (``x`` or
        ``(x, ...)``: any targets are ignored). verbose=1 shows Keras's progress bar."""
        from .. import callbacks as callbacks_module
        from ..progbar import resolve_verbose
        verbose = resolve_verbose(verbose, "predict")
        if self._overrides_predict_step():   # engine/custom_step.py (arrays only)
            return self._predict_custom(x, 32 if batch_size is None else batch_size, steps,
                                        backend, verbose, callbacks)
        compiled = []  # the inference function, once the first batch has traced/built it
        first_batch = 32 if batch_size is None else max(int(batch_size), 1)

        def prepare_arrays(x, y=None, sample_weight=None):
            arrays = self._standardize_inputs(x)
            if not compiled:
                compiled.append(self.predict_function(backend))
            # the first batch's shape: a fixed batch size (a stateful model) fits each batch
            compiled[0].check_inputs([a[:first_batch] if a.ndim else a for a in arrays])
            return arrays, [], []

        def prepare_batch(x, y, sample_weight, where):
            if hasattr(self, "_ensure_built") and not self.built:
                self._ensure_built(flatten(x)[0] if not isinstance(x, dict) else
                                   next(iter(x.values())))
            try:
                return prepare_arrays(x)
            except ValueError as exc:
                raise ValueError(f"predict: {where}: {exc}") from None
        from ..distribution.fit import rank_data  # late: imports engine
        x = rank_data(x, None, None, batch_size, "predict", False)[0]
        batches = data_adapters.batches_for(x, None, None, prepare_arrays, prepare_batch,
                                            batch_size, steps, what="predict")
        if isinstance(batches, data_adapters.ArrayBatches) and steps is not None:
            batches.stop_after(steps)  # predict's steps cut one pass short, never wrap
        cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=1,
                                            steps=batches.num_batches)
        cbs.on_predict_begin()
        pieces = []
        try:
            for step, (arrays, _, _) in batches.epoch():
                cbs.on_predict_batch_begin(step)
                pieces.append(compiled[0](*arrays))
                cbs.on_predict_batch_end(step, {"outputs": self._pack_outputs(pieces[-1])})
        finally:
            batches.close()
        cbs.on_predict_end()
        from ..distribution.fit import gathered_predictions  # late: imports engine
        pieces = gathered_predictions(pieces)
        if not pieces:
            raise ValueError("predict: the data gave no batch (an empty generator or "
                             "dataset)")
        merged = [np.concatenate([p[i] for p in pieces], axis=0) for i in range(len(self.outputs))]
        return self._pack_outputs(merged)

    def reset_states(self):
        """Zero the carried states of every stateful layer in the model (Keras 2's
        ``Model.reset_states``; Keras 3 models lack it and reset each layer's
        ``reset_state()``)."""
        for layer in _layers_within(self):
            if getattr(layer, "stateful", False):
                layer.reset_state()

    # -- description -------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print Keras's table of layers, output shapes and parameter counts."""
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      show_trainable=show_trainable)

    def to_json(self, **kwargs):
        """The architecture as JSON (``gn.models.model_from_json`` rebuilds it)."""
        from .serialize import serialize_model
        return json.dumps(serialize_model(self), **kwargs)

    # -- saving and export (graphnet.saving, graphnet.export) -----------------------------
    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Save architecture, weights and (when compiled) the optimizer state to one
        ``.graphnet`` / ``.keras`` file; ``gn.models.load_model`` reads it back."""
        from ..saving import save_model
        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """Save the weight values to a ``.weights.npz`` file, or to a ``.weights.h5`` file
        in Keras 3's layout (Keras's ``load_weights`` reads it)."""
        from ..saving import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Load weights from ``save_weights`` (or a ``save``d model file, or a Keras
        ``.weights.h5`` file); every shape is checked before any weight is written."""
        from ..saving import load_weights
        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def export(self, filepath, format="graphnet", batch_size=None, **kwargs):
        """Export the compiled inference graph: ``format="graphnet"`` (a ``.gnx`` file for
        ``gn.load_compiled``), ``"onnx"`` or ``"c"`` (a directory of C source). Each takes
        any batch size unless ``batch_size`` fixes one."""
        from .. import export
        if format == "graphnet":
            return export.export_model(self, filepath, batch_size=batch_size, **kwargs)
        if format == "onnx":
            return export.to_onnx(self, filepath, batch_size=batch_size, **kwargs)
        if format == "c":
            return export.to_c(self, filepath, batch_size=batch_size, **kwargs)
        raise ValueError(f"export: format must be 'graphnet', 'onnx' or 'c', got {format!r}")
