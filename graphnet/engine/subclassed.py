"""Model subclassing: ``class Net(gn.Model)`` with ``__init__`` and ``call``.

Define-then-run stays: on first use with data, ``call`` is traced on ``gn.Input``
tensors of the data's shapes (batch dimension None) into the same static graph a
Functional model has, once per training mode on shared inputs, so ``if training:``
takes the branch of the step (predict traces ``training=False``, fit's step
``training=True``). The layers and weights are those its attributes track.
"""
import inspect
import os
import traceback

import numpy as np

from ..graph.scope import layer_call_scope
from ..graph.tensor import SymbolicTensor
from .added_losses import collecting_losses
from .base_layer import Layer
from .input_layer import Input
from .layer_call import flatten, pack_like

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TENSOR_FILE = os.path.join(_PACKAGE, "graph", "tensor.py")


class _Trace:
    """The graph of one input signature: its Input tensors (in ``structure``, the form
    ``call`` takes), and the outputs traced for each training mode."""

    def __init__(self, structure):
        self.structure = structure
        self.inputs = flatten(structure)
        self.outputs = {}
        self.predict_fn = None


def _input_structure(shapes, dtypes):
    """gn.Input tensors for a shape (or a list/tuple of them) with the batch left None."""
    if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple)):
        made = [Input(batch_shape=(None,) + tuple(s[1:]), dtype=d)
                for s, d in zip(shapes, dtypes)]
        return tuple(made) if isinstance(shapes, tuple) else made
    return Input(batch_shape=(None,) + tuple(shapes[1:]), dtype=dtypes[0])


def value_branch_error(model, exc):
    """A TypeError for truth-testing a symbolic tensor, naming the user's file and line;
    None when ``exc`` is another TypeError."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames or frames[-1].name != "__bool__" or \
            os.path.abspath(frames[-1].filename) != _TENSOR_FILE:
        return None
    user = [f for f in frames if not os.path.abspath(f.filename).startswith(_PACKAGE)]
    where = f"{user[-1].filename}:{user[-1].lineno} (`{user[-1].line}`)" if user else \
        "its call()"
    return TypeError(f"Model '{model.name}': {where} needs the value of a symbolic tensor, "
                     "which has none while call() is traced into a graph (graphnet is "
                     "define-then-run): branch on tensors with gn.ops.where, or only on "
                     "Python values such as `training`")


class SubclassedModel:
    """Model's behaviour when made without inputs and outputs (``class Net(gn.Model)``);
    every method defers to the Functional one otherwise."""

    _is_subclassed = False

    def _init_subclassed(self, **kwargs):
        Layer.__init__(self, **kwargs)
        self._is_subclassed = True
        self._traces = {}
        self._active = None
        self._predict_fn = None
        self.inputs, self.outputs = [], []

    # -- tracing -------------------------------------------------------------------------
    def _trace(self, shapes, dtypes, training):
        """The trace for inputs of these shapes and dtypes, with ``training``'s outputs."""
        key = (_shape_key(shapes), tuple(dtypes))
        trace = self._traces.get(key)
        if trace is None:
            trace = self._traces[key] = _Trace(_input_structure(shapes, dtypes))
        if not self.built:
            self.built = True
            if type(self).build is not SubclassedModel.build:
                try:
                    self.build(shapes)
                except BaseException:
                    self.built = False
                    raise
        if training not in trace.outputs:
            trace.outputs[training] = self._run_call(trace.structure, training)
        return trace

    def _run_call(self, structure, training):
        kwargs = {"training": training} if "training" in \
            inspect.signature(self.call).parameters else {}
        try:
            with layer_call_scope(), collecting_losses() as terms:   # ops: plain nodes
                outputs = self.call(structure, **kwargs)
        except TypeError as exc:
            located = value_branch_error(self, exc)
            if located is None:
                raise
            raise located from None
        for t in flatten(outputs):
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"Model '{self.name}': call() must return tensors computed "
                                f"from its inputs, got {type(t).__name__}")
        self.__dict__.setdefault("_traced_losses", {})[(id(structure), training)] = terms
        return outputs

    def _activate(self, trace):
        """Make ``trace`` the graph predict, evaluate and fit run (its inference outputs)."""
        if self._active is trace:
            return
        if self._active is not None:
            self._active.predict_fn = self._predict_fn
        self._active = trace
        self._predict_fn = trace.predict_fn
        self.inputs = list(trace.inputs)
        self._input_structure = trace.structure
        self._output_structure = trace.outputs[False]
        self.outputs = flatten(trace.outputs[False])

    def _trace_arrays(self, x, training):
        arrays = [np.asarray(a) for a in flatten(x)]
        dtypes = [self.dtype if a.dtype.kind == "f" else str(a.dtype) for a in arrays]
        shapes = [a.shape for a in arrays]
        structure = type(x)(shapes) if isinstance(x, (list, tuple)) else shapes[0]
        self._activate(self._trace(structure, dtypes, False))
        return self._trace(structure, dtypes, training)

    # -- Model's methods, for a subclassed model ---------------------------------------------
    def build(self, input_shape):
        if not self._is_subclassed:
            return super().build(input_shape)
        shapes = [input_shape] if not isinstance(input_shape[0], (list, tuple)) \
            else list(input_shape)
        self._activate(self._trace(input_shape, [self.dtype] * len(shapes), False))

    def _step_function(self, training, *args, **kwargs):
        if not self._is_subclassed:
            return super()._step_function(training, *args, **kwargs)
        inference = self.outputs
        self.outputs = flatten(self._outputs_for(training))
        self._losses_mode = training
        try:
            return super()._step_function(training, *args, **kwargs)
        finally:
            self.outputs = inference
            self._losses_mode = False

    def _own_losses(self):
        """A subclassed model's add_loss terms: those of its active trace's call in the
        mode being compiled (the training step's), else its latest call's."""
        if not self._is_subclassed:
            return super()._own_losses()
        if self._active is None:
            return Layer._own_losses(self)
        key = (id(self._active.structure), getattr(self, "_losses_mode", False))
        return list(self.__dict__.get("_traced_losses", {}).get(key, []))

    def _outputs_for(self, training):
        """The active trace's outputs in this training mode, traced on first use."""
        trace = self._active
        if training not in trace.outputs:
            trace.outputs[training] = self._run_call(trace.structure, training)
        return trace.outputs[training]

    def _call_eagerly(self, inputs, *args, **kwargs):
        if not self._is_subclassed:
            return super()._call_eagerly(inputs, *args, **kwargs)
        if args or set(kwargs) - {"training"}:
            raise TypeError(f"Model '{self.name}': called on arrays with arguments "
                            f"{list(args) + sorted(set(kwargs) - {'training'})}; only "
                            "`training` is accepted")
        training = bool(kwargs.get("training"))
        arrays = self._standardize_inputs(inputs)
        trace = self._active
        if not training:
            return self._pack_outputs(self.predict_function()(*arrays))
        from ..runtime.function import Function
        outputs = self._outputs_for(True)
        fn = Function(trace.inputs, flatten(outputs), updates=self.state_updates,
                      training=True, name=f"{self.name}_training_call")
        return pack_like(outputs, fn(*arrays))

    @property
    def output_names(self):
        if not self._is_subclassed:
            return super().output_names
        return [f"output_{i}" for i in range(len(self.outputs))]

    @property
    def layers(self):
        if not self._is_subclassed:
            return super().layers
        return Layer._tracked_layers(self)

    def _tracked_layers(self):
        if not self._is_subclassed:
            return super()._tracked_layers()
        return Layer._tracked_layers(self)

    def get_config(self):
        if not self._is_subclassed:
            return super().get_config()
        own = [p for p in inspect.signature(type(self).__init__).parameters.values()
               if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        if own and type(self).get_config is SubclassedModel.get_config:
            raise NotImplementedError(
                f"Model '{self.name}' ({type(self).__name__}) takes the arguments "
                f"{[p.name for p in own]} in __init__(), so it must define get_config() "
                "(and from_config() unless cls(**config) rebuilds it) to be saved")
        return Layer.get_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if cls.call is _functional_call():
            return super().from_config(config, custom_objects)
        return cls(**config)


def build_config(model):
    """{"input_shape": ...} of a built subclassed model (None for other models): what
    ``load_model`` builds the model from before loading its weights, as Keras does."""
    if not model._is_subclassed or model._active is None:
        return None
    shapes = [list(t.shape) for t in model._active.inputs]
    structure = model._active.structure
    return {"input_shape": shapes if isinstance(structure, (list, tuple)) else shapes[0]}


def build_from_config(model, config):
    if config is not None:
        shape = config["input_shape"]
        model.build([tuple(s) for s in shape] if shape and isinstance(shape[0], list)
                    else tuple(shape))


def _functional_call():
    from .functional import Functional
    return Functional.call


def _shape_key(shapes):
    if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple)):
        return tuple(tuple(s[1:]) for s in shapes)
    return tuple(shapes[1:])
