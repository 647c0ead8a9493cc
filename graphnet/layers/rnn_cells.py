"""Recurrent cells: SimpleRNNCell, LSTMCell and GRUCell (Keras 3's arguments, defaults and
weight layout) and StackedRNNCells.

A built-in cell is one step of its recurrent layer: it holds a SimpleRNN / LSTM / GRU
(``sequence_layer``, returning its states) whose weights are the cell's, and a call
``cell(x_t, states)`` runs that layer over one step, so a cell computes exactly what the
layer computes (one RNN_SEQUENCE op; ``gn.layers.RNN`` runs a built-in cell as the
layer over the whole sequence).
"""
import inspect

from .. import ops
from ..engine.base_layer import Layer
from ..engine.serialize import deserialize_layer, serialize_layer
from .recurrent import GRU, LSTM, SimpleRNN

#: the layer settings a cell does not take (it is one step; RNN(cell) takes them)
_LAYER_ONLY = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
               "zero_output_for_mask", "activity_regularizer", "use_cudnn")


class _SequenceCell(Layer):
    """What the built-in cells share: the layer they are one step of."""

    layer_class = None

    def __init__(self, units, name=None, trainable=True, dtype=None, **kwargs):
        for key in _LAYER_ONLY:
            if key in kwargs:
                raise TypeError(f"{type(self).__name__}: unexpected keyword argument '{key}' "
                                f"(a setting of the layer, gn.layers.RNN, not of its cell)")
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        self.sequence_layer = self.layer_class(units, return_state=True, name=self.name,
                                               dtype=dtype, **kwargs)
        self.supports_masking = False

    @property
    def units(self):
        return self.sequence_layer.units

    @property
    def state_size(self):
        return [self.units] * self.sequence_layer.state_count if \
            self.sequence_layer.state_count > 1 else self.units

    @property
    def output_size(self):
        return self.units

    def build(self, input_shape):
        if isinstance(input_shape, list) and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]   # [step input, states...]
        if len(input_shape) != 2:
            raise ValueError(f"{type(self).__name__} '{self.name}': expected a step input "
                             f"of rank 2 (batch, features), got shape {tuple(input_shape)}")
        self.sequence_layer.build((input_shape[0], None, input_shape[1]))
        self.built = True

    def __call__(self, inputs, states=None, **kwargs):
        """One step: ``(output, new_states)``; ``states`` a list (or, for a cell of one
        state, the tensor: the new state is then one too). The states are inputs of the
        layer call, so a model built on one step takes them as its inputs; without
        ``states``, ``inputs`` is that list ``[x_t, *states]`` and so is the result."""
        if states is None:
            return super().__call__(inputs, **kwargs)
        listed = isinstance(states, (list, tuple))
        output, *new = super().__call__([inputs] + (list(states) if listed else [states]),
                                        **kwargs)
        return output, new if listed or len(new) > 1 else new[0]

    def call(self, inputs, training=None):
        """``inputs``: [the step input (batch, features), then each state]."""
        x, *states = inputs
        if len(x.shape) != 2:
            raise ValueError(f"{type(self).__name__} '{self.name}': expected a step input "
                             f"of rank 2 (batch, features), got shape {tuple(x.shape)}")
        return self.sequence_layer.call([ops.expand_dims(x, 1)] + states, training=training)

    def get_config(self):
        config = {k: v for k, v in self.sequence_layer.get_config().items()
                  if k not in _LAYER_ONLY}
        config.update(super().get_config())
        return config


def _delegated(name):
    return property(lambda self: getattr(self.sequence_layer, name),
                    doc=f"The sequence layer's ``{name}``.")


for _name in ("kernel", "recurrent_kernel", "bias", "activation", "recurrent_activation",
              "use_bias", "dropout", "recurrent_dropout", "seed"):
    setattr(_SequenceCell, _name, _delegated(_name))


class SimpleRNNCell(_SequenceCell):
    """Cell class for SimpleRNN: one step ``h = act(x W + h R + b)``.

    Args: as SimpleRNN's (units, activation, use_bias, initializers, regularizers,
        constraints, dropout, recurrent_dropout, seed).

    Call arguments:
        inputs: (batch, features); states: a list of one (batch, units) tensor (or the
        tensor); training: whether dropout applies.
    """

    layer_class = SimpleRNN


class LSTMCell(_SequenceCell):
    """Cell class for LSTM (gates i, f, c, o; states ``[h, c]``).

    Args: as LSTM's (units, activation, recurrent_activation, use_bias, initializers,
        unit_forget_bias, regularizers, constraints, dropout, recurrent_dropout, seed).
    """

    layer_class = LSTM
    unit_forget_bias = _delegated("unit_forget_bias")


class GRUCell(_SequenceCell):
    """Cell class for GRU (gates z, r, h; ``reset_after`` both ways).

    Args: as GRU's (units, activation, recurrent_activation, use_bias, initializers,
        regularizers, constraints, dropout, recurrent_dropout, seed, reset_after).
    """

    layer_class = GRU
    reset_after = _delegated("reset_after")


BUILT_IN_CELLS = (SimpleRNNCell, LSTMCell, GRUCell)


def check_cell(owner, cell):
    """A cell as Keras 3 takes it: a Layer with ``call`` and ``state_size`` (an int or a
    list of them, nested for StackedRNNCells)."""
    if not isinstance(cell, Layer):
        raise ValueError(f"{owner}: a cell must be a gn.layers.Layer with call(inputs, "
                         f"states) and state_size, got {type(cell).__name__} {cell!r}")
    size = getattr(cell, "state_size", None)
    if size is None:
        raise ValueError(f"{owner}: the cell '{cell.name}' must have a `state_size` "
                         "(an integer, or a list of integers, one per state)")
    flat_state_sizes(owner, size)


def flat_state_sizes(owner, size):
    """The state sizes of a (nested) state_size, in order."""
    if isinstance(size, bool) or not isinstance(size, (int, list, tuple)):
        raise ValueError(f"{owner}: state_size must be a positive integer or a list of "
                         f"them, got {size!r}")
    if isinstance(size, int):
        if size <= 0:
            raise ValueError(f"{owner}: state sizes must be positive, got {size}")
        return [size]
    return [s for part in size for s in flat_state_sizes(owner, part)]


def pack_states(size, flat):
    """``flat`` states in the nesting of ``size`` (as a cell's call takes them)."""
    flat = list(flat)
    packed = [_take(part, flat) for part in size] if isinstance(size, (list, tuple)) \
        else [_take(size, flat)]
    return packed


def _take(part, flat):
    if isinstance(part, int):
        return flat.pop(0)
    return [_take(p, flat) for p in part]


def flatten_states(states):
    if isinstance(states, (list, tuple)):
        return [s for part in states for s in flatten_states(part)]
    return [states]


class StackedRNNCells(Layer):
    """Wrapper allowing a stack of RNN cells to behave as a single cell (Keras 3's): each
    cell's output is the next one's input; the states are the cells' states in order,
    ``state_size`` the list of the cells' state sizes.

    Args:
        cells: a list of cells (each a Layer with ``call(inputs, states)`` and
            ``state_size``).
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"StackedRNNCells '{self.name}': `cells` must be a non-empty "
                             f"list of cells, got {cells!r}")
        for cell in cells:
            check_cell(f"StackedRNNCells '{self.name}'", cell)
        self.cells = list(cells)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        if getattr(last, "output_size", None) is not None:
            return last.output_size
        return flat_state_sizes(self.name, last.state_size)[0]

    def build(self, input_shape):
        for cell in self.cells:
            if not cell.built:
                cell.build(tuple(input_shape))
                cell.built = True
            size = getattr(cell, "output_size", None) or \
                flat_state_sizes(self.name, cell.state_size)[0]
            input_shape = (input_shape[0], size)
        self.built = True

    def call(self, inputs, states, training=None):
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            listed = isinstance(cell_states, (list, tuple))
            kwargs = {"training": training} if takes_training(cell) else {}
            inputs, cell_states = cell(inputs, list(cell_states) if listed else [cell_states],
                                       **kwargs)
            if not isinstance(cell_states, (list, tuple)):
                cell_states = [cell_states]
            new_states.append(list(cell_states) if listed else cell_states[0])
        return inputs, new_states

    def get_config(self):
        config = super().get_config()
        config["cells"] = [serialize_layer(c) for c in self.cells]
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cells = [deserialize_layer(c, custom_objects) for c in config.pop("cells")]
        return cls(cells, **config)


def takes_training(cell):
    return "training" in inspect.signature(cell.call).parameters
