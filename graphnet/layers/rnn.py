"""RNN(cell): Keras 3's base recurrent layer over any cell, and the unrolled time loop.

A built-in cell (SimpleRNNCell, LSTMCell, GRUCell) runs as its layer: one RNN_SEQUENCE op
over the whole sequence, the C sequence kernels. Any other cell (a user's Layer with
``state_size`` and ``call(inputs, states)``, StackedRNNCells) is traced once on
placeholders for one step, and the step graph becomes one RNN_UNROLL op
(graphnet/ops/unrolled.py) that the compiler unrolls into T copies once the number of
steps is known; its gradients are reverse mode over those copies. ``unroll=True``
takes the unrolled path for the built-in cells and layers too: T one-step kernels
instead of one sequence kernel, the same numbers.
"""
import math

import numpy as np

from .. import ops
from ..engine.base_layer import Layer
from ..engine.serialize import deserialize_layer, serialize_layer
from ..graph.graph import rebuild, topological_order
from ..graph.node import Node
from ..graph.tensor import SymbolicTensor, placeholder
from ..ops.api import reshape_dims
from ..ops.phase import resolve_phase
from ..ops.recurrent_layout import MASK_CARRY, MASK_NONE, MASK_ZERO
from ..ops.unrolled import StepGraph
from .rnn_cells import (BUILT_IN_CELLS, StackedRNNCells, check_cell, flat_state_sizes,
                        flatten_states, pack_states, takes_training)
from .rnn_dropout import dropout_masks_for_call
from .rnn_state import StatefulStates


class RNN(StatefulStates, Layer):
    """Base class for recurrent layers (Keras 3's ``RNN``): runs ``cell`` over the time
    axis.

    Args:
        cell: an RNN cell: a Layer with ``call(inputs, states)`` returning
            ``(output, new_states)`` and a ``state_size`` (an int, or a list, one per
            state), optionally ``output_size``; or a list of cells (StackedRNNCells).
        return_sequences: return every step's output, else the last one.
        return_state: also return the final states, as Keras 3: one per state of the
            cell's ``state_size``, nested as it is (StackedRNNCells: one entry per cell,
            a list for a cell of several states).
        go_backwards: run from the last step; the returned sequence is in that order.
        stateful: carry each batch's final states into the next batch (needs a fixed
            batch size); ``reset_state()`` / ``reset_states()`` zeros them.
        unroll: unroll the time loop into one graph of every step (for the built-in
            cells: one kernel per step instead of the sequence kernel; the same values).
        zero_output_for_mask: a masked step outputs zeros (else the previous output).

    Call arguments:
        inputs: (batch, timesteps, ...); timesteps may be None (it is known when a plan
            is compiled for real inputs).
        mask: (batch, timesteps) bool; a masked step keeps the states.
        training: passed to the cell when its call takes it.
        initial_state: a list of the initial states, each (batch, size); zeros if absent.
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        super().__init__(**kwargs)
        check_cell(f"RNN '{self.name}'", cell)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self._sequence = None   # a built-in cell's layer, made at the first call

    @property
    def state_size(self):
        size = self.cell.state_size
        return [size] if isinstance(size, int) else list(size)

    def __call__(self, inputs, initial_state=None, **kwargs):
        """``initial_state``: the initial states (flat, in the cell's order); they become
        inputs of the call so a model tracks them."""
        if initial_state is not None:
            if isinstance(inputs, (list, tuple)):
                raise ValueError(f"RNN '{self.name}': pass the initial states either in the "
                                 "inputs list or as initial_state, not both")
            inputs = [inputs] + flatten_states(initial_state)
            if kwargs.get("mask") is not None and not isinstance(kwargs["mask"], list):
                kwargs["mask"] = [kwargs["mask"]] + [None] * (len(inputs) - 1)
        return super().__call__(inputs, **kwargs)

    def build(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape, list) and \
            isinstance(input_shape[0], (list, tuple)) else input_shape
        if len(shape) < 3:
            raise ValueError(f"RNN '{self.name}': expected an input of rank 3 or more "
                             f"(batch, timesteps, features), got shape {tuple(shape)}")
        if not self.cell.built:
            self.cell.build((shape[0],) + tuple(shape[2:]))
            self.cell.built = True
        self._build_states(shape)
        self.built = True

    def _state_shapes(self, input_shape):
        return [(s,) for s in flat_state_sizes(self.name, self.cell.state_size)]

    def call(self, inputs, mask=None, training=None):
        x, states = (inputs[0], list(inputs[1:])) if isinstance(inputs, (list, tuple)) \
            else (inputs, [])
        mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        states = self._stateful_initial_states(x, states)
        cell, size = self.cell, self.cell.state_size
        if isinstance(cell, BUILT_IN_CELLS):
            layer = self._sequence_layer()
            if self.unroll:
                output, final = unrolled_sequence_call(layer, x, states, mask, training)
            else:
                output, *final = layer.call([x] + states if states else x, mask=mask,
                                            training=training)
        else:
            pass_training = takes_training(cell)

            def step(x_t, flat, step_training):
                kwargs = {"training": step_training} if pass_training else {}
                output, new = cell(x_t, pack_states(size, flat), **kwargs)
                return output, flatten_states(new)
            with dropout_masks_for_call(cell, x):
                output, final = unrolled_outputs(self, step, flat_state_sizes(self.name, size),
                                                 x, states, mask, training)
        self._carry_states(final)
        return [output] + pack_states(size, final) if self.return_state else output

    def _sequence_layer(self):
        """The built-in cell's layer with this RNN's settings, over the cell's weights."""
        if self._sequence is None:
            self._sequence = twin_layer(self.cell.sequence_layer, name=self.name,
                                        return_sequences=self.return_sequences,
                                        return_state=True,
                                        go_backwards=self.go_backwards,
                                        zero_output_for_mask=self.zero_output_for_mask)
        return self._sequence

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(flat_state_sizes(self.name,
                                                                 self.cell.state_size))
        return output_mask

    def get_config(self):
        config = super().get_config()
        config.update({"cell": serialize_layer(self.cell),
                       "return_sequences": self.return_sequences,
                       "return_state": self.return_state, "go_backwards": self.go_backwards,
                       "stateful": self.stateful, "unroll": self.unroll,
                       "zero_output_for_mask": self.zero_output_for_mask})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["cell"] = deserialize_layer(config["cell"], custom_objects)
        return super().from_config(config)


def twin_layer(layer, **settings):
    """A SimpleRNN / LSTM / GRU like ``layer`` with ``settings`` changed, over its weights."""
    twin = type(layer).from_config(dict(layer.get_config(), **settings))
    twin.kernel, twin.recurrent_kernel, twin.bias = layer.kernel, layer.recurrent_kernel, \
        layer.bias
    twin.built = True
    return twin


def unrolled_sequence_call(layer, x, states, mask, training):
    """A SimpleRNN / LSTM / GRU layer's call on the unrolled path, ``(output,
    final_states)``: each step is the layer over that one step (its twin returning the
    states; the layer's own states are carried by the layer); the input dropout is drawn
    once per sequence, as the sequence kernel's."""
    if layer.recurrent_dropout:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': unroll=True does not "
                         f"support recurrent_dropout (got {layer.recurrent_dropout}); use "
                         "unroll=False")
    step_layer = twin_layer(layer, return_state=True, return_sequences=False,
                            go_backwards=False, unroll=False, dropout=0.0, stateful=False,
                            zero_output_for_mask=False)

    def step(x_t, flat, step_training):
        output, *new = step_layer.call([ops.expand_dims(x_t, 1)] + flat, training=False)
        return output, new
    layer._check_rank(x.shape)
    return unrolled_outputs(layer, step, [layer.units] * layer.state_count,
                            layer.dropped_input(x, training), states, mask, training)


def _owner(layer):
    return f"{type(layer).__name__} '{layer.name}'"


def _check_states(layer, x, states, shapes):
    if len(states) != len(shapes):
        raise ValueError(f"{_owner(layer)}: initial_state must hold {len(shapes)} tensor(s) "
                         f"(the cell's states, of shapes {[(None,) + s for s in shapes]}), "
                         f"got {len(states)}")
    for i, (s, shape) in enumerate(zip(states, shapes)):
        want = (x.shape[0],) + shape
        if tuple(s.shape[1:]) != shape or (
                None not in (s.shape[0], x.shape[0]) and s.shape[0] != x.shape[0]):
            raise ValueError(f"{_owner(layer)}: initial state {i} must have shape {want}, "
                             f"got {tuple(s.shape)}")


def _zero_states(x, shapes):
    first = x[(slice(None), 0) + (0,) * (len(x.shape) - 3) + (slice(0, 1),)]
    base = ops.zeros_like(first)   # (batch, 1)
    return [ops.add(reshape_dims(base, [("in", 0)] + [1] * len(shape)),
                    np.zeros((1,) + shape, x.dtype)) for shape in shapes]


def unrolled_outputs(layer, step, sizes, x, states, mask, training):
    """``layer``'s outputs from the unrolled loop of ``step(x_t, states, training) ->
    (output, new_states)`` (flat state lists; ``sizes``: each state's size, or its shape
    after the batch axis) over x (batch, T, ...), as Keras 3's RNN gives them: ``(output,
    final_states)``, the output the last step's or all of them."""
    shapes = [(s,) if isinstance(s, int) else tuple(s) for s in sizes]
    if len(x.shape) < 3:
        raise ValueError(f"{_owner(layer)}: expected an input of rank 3 or more (batch, "
                         f"timesteps, features), got shape {tuple(x.shape)}")
    states = [ops.convert_to_tensor(s) for s in states]
    if states:
        _check_states(layer, x, states, shapes)
    else:
        states = _zero_states(x, shapes)
    x_t = placeholder((x.shape[0],) + tuple(x.shape[2:]), x.dtype, name="step_input")
    held = [placeholder((x.shape[0],) + shape, x.dtype, name=f"state_{i}")
            for i, shape in enumerate(shapes)]
    output, new = step(x_t, held, training)
    results = _step_results(layer, x_t, held, output, new)
    inputs = [x.node]
    mode = MASK_NONE
    if mask is not None:
        mask = ops.convert_to_tensor(mask)
        if tuple(mask.shape) != tuple(x.shape[:2]) and (
                len(mask.shape) != 2 or any(a is not None and b is not None and a != b
                                            for a, b in zip(mask.shape, x.shape[:2]))):
            raise ValueError(f"{_owner(layer)}: the mask must have shape "
                             f"{tuple(x.shape[:2])} (batch, timesteps), got "
                             f"{tuple(mask.shape)}")
        inputs.append((mask if mask.dtype == "bool" else ops.cast(mask, "bool")).node)
        mode = MASK_ZERO if layer.zero_output_for_mask else MASK_CARRY
    inputs += [s.node for s in states]
    params = [x_t.node] + [h.node for h in held]
    attrs = {"go_backwards": layer.go_backwards, "mask_mode": mode}
    if any(n.op.name == "IN_TRAIN_PHASE" for n in topological_order(results)):
        records = [_unroll_node(params, _resolved(results, mode_), inputs, attrs)
                   for mode_ in (True, False)]
        record = ops.in_train_phase(*records, training=training).node
    else:
        record = _unroll_node(params, results, inputs, attrs).node
    return _outputs(layer, record, [r.shape[1:] for r in results])


def _step_results(layer, x_t, held, output, new):
    if len(new) != len(held):
        raise ValueError(f"{_owner(layer)}: the cell returned {len(new)} state(s), its "
                         f"state_size gives {len(held)}")
    for i, (s, h) in enumerate(zip(new, held)):
        if not isinstance(s, SymbolicTensor) or tuple(s.shape[1:]) != tuple(h.shape[1:]):
            raise ValueError(f"{_owner(layer)}: the cell's new state {i} must have shape "
                             f"{tuple(h.shape)}, got {getattr(s, 'shape', s)!r}")
    if not isinstance(output, SymbolicTensor) or len(output.shape) < 2 or \
            any(d is None for d in output.shape[1:]):
        raise ValueError(f"{_owner(layer)}: the cell's output must be a tensor (batch, ...) "
                         f"of known sizes after the batch axis, got {output!r}")
    results = [output] + list(new)
    if any(r.dtype != x_t.dtype for r in results):
        raise ValueError(f"{_owner(layer)}: the cell's output and states must be "
                         f"{x_t.dtype}, got {[r.dtype for r in results]}")
    return [r.node for r in results]


def _resolved(results, training):
    return rebuild(results, lambda n, ins: resolve_phase(n, ins, training))


def _unroll_node(params, results, inputs, attrs):
    """RNN_UNROLL of the step graph params -> results: the outer nodes the step reads
    (all but constants) become the op's inputs after the states."""
    at = {id(p) for p in params}
    dependent = set(at)
    order = topological_order(results)
    for n in order:
        if any(id(x) in dependent for x in n.inputs):
            dependent.add(id(n))
    captured, seen = [], set()
    for n in [x for n in order if id(n) in dependent for x in n.inputs] + list(results):
        if id(n) not in dependent and n.op.name != "CONSTANT" and id(n) not in seen:
            seen.add(id(n))
            captured.append(n)
    step = StepGraph(params + captured, results, len(params) - 1)
    return SymbolicTensor(Node("RNN_UNROLL", inputs + captured, dict(attrs, step=step)))


def _outputs(layer, record, shapes):
    """(the output (last step, or all), the final states), read out of the record."""
    widths = [math.prod(s) for s in shapes]
    starts = [sum(widths[:i]) for i in range(len(widths))]

    def piece(k, every_step):
        t = (None, None) if every_step else (-1, None)
        node = Node("SLICE", (record,), {"begin": (None, t[0], starts[k]),
                                         "end": (None, t[1], starts[k] + widths[k]),
                                         "step": (1, 1, 1)})
        lead = [("in", 0), ("in", 1)] if every_step else [("in", 0)]
        return reshape_dims(SymbolicTensor(node), lead + list(shapes[k]))
    return piece(0, layer.return_sequences), [piece(k, False) for k in range(1, len(shapes))]
