"""The Layer base class: Keras's contract over graphnet's symbolic graph.

``__init__`` stores settings; ``build(input_shape)`` creates weights with
``add_weight``; ``call(inputs, training=...)`` emits ops through ``gn.ops``;
``__call__`` records each call as a ``LayerCall`` on the output tensors.
"""
import contextlib
import contextvars
import inspect

import numpy as np

from .. import backend, initializers
from ..graph.scope import layer_call_scope
from ..graph.tensor import SymbolicTensor, placeholder
from ..graph.trace import trace_state_update
from ..graph.variable import Variable
from ..ops.registry import OpError
from ..serialization import Registry
from .added_losses import (add_activity_losses, collecting_losses, keep_call_loss_values,
                           latest_call_losses, layer_losses, record_loss,
                           symbolic_call_losses)
from .input_spec import InputSpec, check_input_spec
from .layer_call import LayerCall, flatten, pack_like
from .masking import output_masks, prepare_mask
from .training_mode import call_in_mode
from .tracking import track_assigned_variables, tracked_attributes

layer_registry = Registry("layer")

# bytes that add_weight may still allocate (None: no limit); see weight_budget
_weight_budget = contextvars.ContextVar("weight_budget", default=None)


@contextlib.contextmanager
def weight_budget(nbytes, what):
    """Within the block, ``add_weight`` refuses (ValueError) to allocate more than ``nbytes``
    in all, before allocating: loading a model file builds it from its config, and a config
    asking for larger weights than the file holds (``Dense(units=2**25)`` in a 4 KB file)
    must fail at once, not after gigabytes and seconds. ``what`` names the source."""
    token = _weight_budget.set([int(nbytes), what])
    try:
        yield
    finally:
        _weight_budget.reset(token)


class Layer:
    """Base class of every layer.

    Args:
        trainable: whether the layer's weights are updated by training.
        name: unique name (default: snake_case class name, numbered).
        dtype: dtype of the weights and computations (float32).
        input_shape / batch_input_shape / batch_size / input_dim: for the first layer
            of a ``Sequential``, the shape of its inputs (without / with the batch).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        layer_registry.add(cls)

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None,
                 batch_input_shape=None, batch_size=None, input_dim=None,
                 activity_regularizer=None, **kwargs):
        kwargs.pop("autocast", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = str(np.dtype(dtype or backend.floatx()))
        self.built = False
        self.input_spec = None
        self.activity_regularizer = activity_regularizer
        self._weights = []
        self._calls = []
        self._state_updates = []
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self._batch_input_shape = tuple(batch_input_shape) if batch_input_shape else None

    def __setattr__(self, name, value):
        track_assigned_variables(self, name, value, Variable)
        super().__setattr__(name, value)

    # -- weights -------------------------------------------------------------
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True,
                   regularizer=None, constraint=None, name=None, **kwargs):
        """Create a weight (Keras 3's signature; ``shape`` defaults to a scalar)."""
        shape = () if shape is None else tuple(int(d) for d in shape)
        self._charge_weight_budget(shape, dtype or self.dtype, name)
        if initializer is None:
            initializer = "glorot_uniform" if np.dtype(dtype or self.dtype).kind == "f" \
                else "zeros"
        init = initializers.get(initializer)
        value = init(shape, dtype=dtype or self.dtype)
        var = Variable(value, name=f"{self.name}/{name or 'variable'}", dtype=dtype or self.dtype,
                       trainable=trainable, constraint=constraint)
        var.regularizer = regularizer
        self._weights.append(var)
        return var

    def _charge_weight_budget(self, shape, dtype, name):
        budget = _weight_budget.get()
        if budget is None:
            return
        nbytes = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
        if nbytes > budget[0]:
            raise ValueError(f"Layer '{self.name}': weight {name or 'variable'!r} of shape "
                             f"{shape} needs {nbytes} bytes, more than the {budget[0]} "
                             f"bytes of weights {budget[1]} still holds")
        budget[0] -= nbytes

    def _tracked_layers(self):
        """The layers whose weights this one owns too: those its attributes hold (alone or
        in nested lists, tuples and dicts), in assignment order as Keras 3 tracks them
        (Functional and Sequential override it with their layers)."""
        return tracked_attributes(self, Layer)

    def _own_variables(self):
        """Its own Variables as Keras 3 orders them: the trainable ones, then the others,
        each in the order they were created or assigned (``add_weight`` or an attribute);
        Variables put into a tracked list after its assignment come last."""
        own = list(self._weights)
        own += [v for v in tracked_attributes(self, Variable) if all(v is not o for o in own)]
        return [v for v in own if v.trainable] + [v for v in own if not v.trainable]

    @property
    def weights(self):
        out = self._own_variables()
        for layer in self._tracked_layers():
            out += [w for w in layer.weights if all(w is not o for o in out)]
        return out

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        out = [w for w in self._own_variables() if w.trainable]
        for layer in self._tracked_layers():
            out += [w for w in layer.trainable_weights if all(w is not o for o in out)]
        return out

    @property
    def non_trainable_weights(self):
        trainable = self.trainable_weights
        return [w for w in self.weights if all(w is not t for t in trainable)]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    @property
    def variables(self):
        return self.weights

    def get_weights(self):
        """Copies of the weight values, in Keras order."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        """Load values (in Keras order) into the existing weights, checking every shape first."""
        params = self.weights
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"Layer '{self.name}' expects {len(params)} weight arrays, got "
                             f"{len(weights)}")
        for var, value in zip(params, weights):
            if np.shape(value) != var.shape:
                raise ValueError(f"Layer '{self.name}': weight {var.name} has shape "
                                 f"{var.shape}, got an array of shape {np.shape(value)}")
        for var, value in zip(params, weights):
            var.assign(value)

    def add_state_update(self, variable, value, training_only=True):
        """Record that a training step assigns ``value`` (a symbolic tensor this layer's
        call computed) to ``variable`` (one of its weights), e.g. BatchNormalization's
        moving statistics. A model's ``state_updates`` gathers those computed from its
        own inputs, and its training step applies them beside the optimizer's updates.
        ``training_only=False``: the inference and evaluation steps apply it too (a
        stateful RNN's final states, carried into the next batch by every step)."""
        if not isinstance(variable, Variable):
            raise TypeError(f"Layer '{self.name}': add_state_update's variable must be a "
                            f"graphnet Variable, got {type(variable).__name__}")
        if not isinstance(value, SymbolicTensor):
            raise TypeError(f"Layer '{self.name}': add_state_update's value must be a "
                            f"symbolic tensor, got {type(value).__name__}")
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"Layer '{self.name}': the state update of {variable.name} has "
                             f"shape {tuple(value.shape)}, the variable {variable.shape}")
        self._state_updates.append((variable, value, bool(training_only)))
        trace_state_update(variable, value, training_only)

    def add_loss(self, loss):
        """Add a loss term (Keras 3's ``add_loss``): a tensor computed in ``call`` (or an
        array or number, a constant term) that training adds, summed, to the compiled
        loss; ``losses`` lists them (graphnet/engine/added_losses.py)."""
        record_loss(self, loss)

    @property
    def losses(self):
        """The add_loss terms of the latest call and the weights' regularizer penalties."""
        return layer_losses(self)

    def _own_losses(self):
        return latest_call_losses(self)

    def count_params(self):
        if not self.built:
            raise ValueError(f"You tried to call count_params on layer '{self.name}', but the "
                             "layer isn't built. Build it first (call it on an input).")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # -- the contract subclasses fill ---------------------------------------
    def build(self, input_shape):
        self.built = True

    def call(self, inputs, **kwargs):
        return inputs

    @property
    def supports_masking(self):
        """Whether ``compute_mask`` gives this layer's outputs a mask (Keras 3: True when
        the class overrides ``compute_mask`` unless set otherwise)."""
        explicit = self.__dict__.get("_supports_masking")
        if explicit is not None:
            return explicit
        return type(self).compute_mask is not Layer.compute_mask

    @supports_masking.setter
    def supports_masking(self, value):
        self._supports_masking = bool(value)

    def compute_mask(self, inputs, mask=None):
        """The outputs' mask from the inputs and their mask: by default the input's mask
        passes through unchanged."""
        return mask

    def compute_output_shape(self, input_shape):
        """Shapes are inferred by the op rules: trace ``call`` on placeholder inputs."""
        structure = input_shape
        shapes = structure if _is_shape_list(structure) else [structure]
        placeholders = [placeholder(s, self.dtype) for s in shapes]
        inputs = placeholders if _is_shape_list(structure) else placeholders[0]
        if not self.built:
            self._build_from(inputs)
        with layer_call_scope():
            outputs = self.call(inputs, **self._call_defaults())
        flat = flatten(outputs)
        result = [tuple(t.shape) for t in flat]
        return result if isinstance(outputs, (list, tuple)) else result[0]

    # -- calling -------------------------------------------------------------
    def _call_defaults(self):
        params = inspect.signature(self.call).parameters
        return {"training": None} if "training" in params else {}

    def _build_from(self, inputs):
        flat = flatten(inputs)
        shapes = [tuple(t.shape) for t in flat]
        shape = shapes if isinstance(inputs, (list, tuple)) else shapes[0]
        self.build(shape)
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        flat = flatten(inputs)
        if not flat:
            raise ValueError(f"Layer '{self.name}' was called with no inputs")
        if not all(isinstance(t, SymbolicTensor) for t in flat):
            return self._call_eagerly(inputs, *args, **kwargs)
        try:
            check_input_spec(self, flat)
            if not self.built:
                self._build_from(inputs)
            params = inspect.signature(self.call).parameters
            if "training" not in params:
                kwargs.pop("training", None)
            with layer_call_scope(self.name), collecting_losses(self):   # plain nodes
                call_kwargs, previous_mask = prepare_mask(self, inputs, params, kwargs)
                outputs = call_in_mode(self, inputs, args, call_kwargs, params)
                flat_out = flatten(outputs)
                add_activity_losses(self, flat_out)
                masks = output_masks(self, inputs, flat_out, previous_mask)
        except OpError as exc:
            shapes = ", ".join(str(t.shape) for t in flat)
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) cannot be called "
                             f"on input shape(s) {shapes}: {exc}") from None
        call = LayerCall(self, flat, [], dict(kwargs, **({} if not args else {"args": args})),
                         isinstance(inputs, (list, tuple)))
        wrapped = [SymbolicTensor(t.node, history=(call, i), name=f"{self.name}_out{i}",
                                  mask=mask) for i, (t, mask) in enumerate(zip(flat_out, masks))]
        call.outputs.extend(wrapped)
        self._calls.append(call)
        return pack_like(outputs, wrapped)

    def _call_eagerly(self, inputs, *args, **kwargs):
        """Called on arrays: define on placeholders, then run compiled on the C kernels."""
        from ..runtime.function import function
        arrays = [np.asarray(a, dtype=self.dtype if np.asarray(a).dtype.kind == "f" else None)
                  for a in flatten(inputs)]
        holders = [placeholder(a.shape, str(a.dtype)) for a in arrays]
        symbolic = pack_like(inputs, holders)
        outputs = self(symbolic, *args, **kwargs)
        flat, terms = flatten(outputs), symbolic_call_losses(self)
        from .functional import state_updates_within   # a stateful RNN's carried states
        updates = state_updates_within(self, holders, training=False)
        result = function(holders, flat + terms, updates=updates, name=self.name)(*arrays)
        keep_call_loss_values(self, result[len(flat):])   # layer.losses: arrays, as Keras
        return pack_like(outputs, result[:len(flat)])

    # -- where the layer was called -----------------------------------------
    def _first_call(self, attr):
        if not self._calls:
            raise AttributeError(f"Layer '{self.name}' has never been called and thus has no "
                                 f"defined {attr}.")
        return self._calls[0]

    @property
    def input(self):
        call = self._first_call("input")
        return call.inputs if call.list_input else call.inputs[0]

    @property
    def output(self):
        call = self._first_call("output")
        return call.outputs if len(call.outputs) > 1 else call.outputs[0]

    @property
    def input_shape(self):
        inp = self.input
        return [t.shape for t in inp] if isinstance(inp, list) else inp.shape

    @property
    def output_shape(self):
        out = self.output
        return [t.shape for t in out] if isinstance(out, list) else out.shape

    # -- config --------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "batch_shape" in config and "batch_input_shape" not in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _is_shape_list(structure):
    return isinstance(structure, list) and all(isinstance(s, (list, tuple)) for s in structure)


__all__ = ["Layer", "InputSpec", "layer_registry"]
