"""What recurrent layers share beside their op: ``stateful=True`` (Keras 3's: the final
states of each batch are kept in non-trainable Variables and are the initial states of the
next batch) and ``initial_state`` given as call inputs.

As in Keras 3 the states are not weights (``get_weights``, ``set_weights`` and saved files
leave them out). Each call records their new values with ``add_state_update(...,
training_only=False)``, so the compiled training, evaluation and inference steps all write
them after computing every output, and the next batch's plan reads them in place.
"""
import numpy as np

from .. import ops
from ..graph.variable import Variable


class StatefulStates:
    """What a recurrent layer needs for ``stateful``: its state Variables (one per state,
    ``(batch, units)`` unless ``_state_shapes`` says otherwise), their creation at build,
    the carry after a call and the reset.

    The layer sets ``stateful`` and ``units`` and has ``state_count`` states (or
    overrides ``_state_shapes``)."""

    @property
    def states(self):
        """The state Variables (Keras 3's ``layer.states``), or None when not stateful or
        not built."""
        held = self.__dict__.get("_carried_states")
        return None if held is None else list(held)

    def _build_states(self, input_shape):
        """Create the zero states for the input's batch size, which must be fixed."""
        if not self.stateful:
            return
        batch = input_shape[0]
        if batch is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': stateful=True needs a fixed batch "
                "size (the states of one batch are carried into the next): give the input "
                "one, e.g. gn.Input(batch_shape=(batch, timesteps, features)) or "
                "batch_input_shape= / batch_size= on a Sequential's first layer; got input "
                f"shape {tuple(input_shape)}")
        if self.states is not None:
            self.reset_state()
            return
        self._carried_states = tuple(
            Variable(np.zeros((int(batch),) + tuple(shape), self.dtype), trainable=False,
                     name=f"{self.name}/rnn_state" + (f"_{i}" if i else ""))
            for i, shape in enumerate(self._state_shapes(input_shape)))

    def _state_shapes(self, input_shape):
        """Each state's shape after the batch axis, for inputs of ``input_shape``."""
        return [(self.units,)] * self.state_count

    def _stateful_initial_states(self, x, given):
        """The initial states of a call on ``x``: those ``given`` (as Keras, they replace
        the carried ones for this call), else the carried states."""
        if not self.stateful:
            return given
        expected = self.states[0].shape[0]
        if x.shape[0] is not None and x.shape[0] != expected:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': a stateful layer needs inputs of the "
                f"batch size of its states: expected batch size {expected}, got input shape "
                f"{tuple(x.shape)}")
        return given if given else self.states

    def _carry_states(self, final_states):
        """Record the call's final states as the states of the next batch (every mode);
        traced on inputs of unknown batch size (a custom step's), they take the states'
        (a plan running another batch size fails on the states' shape)."""
        if self.stateful:
            for var, value in zip(self.states, final_states):
                if tuple(value.shape) != var.shape:
                    value = ops.reshape(value, var.shape)
                self.add_state_update(var, value, training_only=False)

    def reset_state(self):
        """Set the carried states to zeros (the start of new, independent sequences); a
        layer without states has nothing to reset (as Keras 3)."""
        for var in self.states or ():
            var.assign(np.zeros(var.shape, var.dtype))

    def reset_states(self):
        """Keras 3's alias of ``reset_state``."""
        self.reset_state()


def inputs_with_initial_state(layer, inputs, initial_state, kwargs):
    """``(inputs, kwargs)`` of a recurrent layer's call given ``initial_state``: the states
    become inputs after the sequence (as in Keras 2) so a model tracks them, and a mask
    given for the sequence alone is given for it in the inputs list."""
    if initial_state is None:
        return inputs, kwargs
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
        else [initial_state]
    if isinstance(inputs, (list, tuple)):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': pass the initial states "
                         "either in the inputs list or as initial_state, not both")
    mask = kwargs.get("mask")
    if mask is not None and not isinstance(mask, (list, tuple)):
        kwargs = dict(kwargs, mask=[mask] + [None] * len(states))
    return [inputs] + states, kwargs
