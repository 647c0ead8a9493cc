"""Bidirectional: a recurrent layer run forwards and a copy of it run backwards over the
same sequences, their outputs merged (Keras 3's ``keras.layers.Bidirectional``).

It is written against the recurrent layer interface only (``go_backwards``,
``return_sequences``, ``return_state``, ``get_config`` / ``from_config``, ``call`` with
``initial_state``, ``mask`` and ``training``), so it wraps SimpleRNN, LSTM, GRU and
``RNN(cell)`` alike; each direction is its own layer call (one sequence op each).
"""
import inspect

from .. import ops
from ..engine.base_layer import Layer, _is_shape_list
from ..engine.serialize import deserialize_layer, serialize_layer
from .rnn_state import inputs_with_initial_state

MERGE_MODES = ("sum", "mul", "concat", "ave", None)
_INTERFACE = ("go_backwards", "return_sequences", "return_state")


def _copy_from_config(layer, **changes):
    """A new layer of ``layer``'s class from its config with ``changes`` (fresh weights, no
    state carried over, as Keras 3 recreates the wrapped layer)."""
    return type(layer).from_config(dict(layer.get_config(), **changes))


def _direction_name(prefix, name):
    return f"{prefix}_{name[len(prefix) + 1:] if name.startswith(prefix + '_') else name}"


class Bidirectional(Layer):
    """Runs a recurrent layer over the sequences in both directions and merges the outputs.

    The forward layer is a copy of ``layer`` made from its config (``layer``'s own weights
    are not reused, as in Keras); the backward layer is ``backward_layer``, else another
    copy with ``go_backwards`` flipped. With ``return_sequences`` the backward outputs are
    reversed in time, so step t of both is input step t, and a masked step outputs zeros
    (both layers' ``zero_output_for_mask`` is set to ``return_sequences``, as Keras).

    Args:
        layer: a recurrent layer (SimpleRNN, LSTM, GRU, RNN) or any layer with
            ``go_backwards``, ``return_sequences`` and ``return_state`` attributes and a
            config.
        merge_mode: how the two outputs combine: "concat" (default, along the last axis),
            "sum", "mul", "ave", or None (a list of both).
        weights: initial weights, the forward layer's then the backward layer's (Keras's
            order), set when the layer is built.
        backward_layer: the layer for the backward direction, with the same
            ``return_sequences``, ``return_state`` and ``stateful`` as ``layer`` and the
            other ``go_backwards``.

    Call arguments:
        inputs: the sequences, ``(batch, timesteps, features)``.
        initial_state: the forward layer's states then the backward layer's.
        mask: ``(batch, timesteps)``, given to both layers.
        training: given to both layers.

    Input shape:
        That of the wrapped layer, ``(batch, timesteps, features)``.

    Output shape:
        The wrapped layer's, with the last axis doubled for "concat"; two outputs for
        None; with ``return_state`` followed by the forward then the backward states.
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        _check_recurrent(layer, "layer")
        if backward_layer is not None:
            _check_recurrent(backward_layer, "backward_layer")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Bidirectional: `merge_mode` must be one of {MERGE_MODES}, got "
                             f"merge_mode={merge_mode!r}")
        if weights is not None and not isinstance(weights, (list, tuple)):
            raise ValueError("Bidirectional: `weights` must be a list of arrays (the forward "
                             f"layer's then the backward layer's), got {type(weights).__name__}")
        super().__init__(**kwargs)
        self.forward_layer = _copy_from_config(
            layer, name=_direction_name("forward", layer.name))
        self.backward_layer = backward_layer if backward_layer is not None else \
            _copy_from_config(layer, name=_direction_name("backward", layer.name),
                              go_backwards=not layer.go_backwards)
        self._verify_directions()
        for direction in (self.forward_layer, self.backward_layer):
            if getattr(direction, "zero_output_for_mask", None) is not None:
                direction.zero_output_for_mask = direction.return_sequences
        self.merge_mode = merge_mode
        self._initial_weights = None if weights is None else list(weights)
        self.stateful = bool(getattr(layer, "stateful", False))
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self.input_spec = layer.input_spec

    def _verify_directions(self):
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(
                f"Bidirectional '{self.name}': the forward and backward layers must have "
                f"different `go_backwards`, got forward_layer.go_backwards="
                f"{forward.go_backwards} and backward_layer.go_backwards="
                f"{backward.go_backwards}")
        for attr in ("stateful", "return_sequences", "return_state"):
            ours, theirs = getattr(forward, attr, False), getattr(backward, attr, False)
            if ours != theirs:
                raise ValueError(
                    f"Bidirectional '{self.name}': the forward and backward layers must have "
                    f"the same `{attr}`, got {ours} for the forward layer "
                    f"('{forward.name}') and {theirs} for the backward layer "
                    f"('{backward.name}')")

    # -- building and calling -------------------------------------------------------
    def build(self, input_shape):
        shape = input_shape[0] if _is_shape_list(input_shape) else input_shape
        for direction in (self.forward_layer, self.backward_layer):
            if not direction.built:
                direction.build(tuple(shape))
                direction.built = True
        if self._initial_weights is not None:
            half = len(self._initial_weights) // 2
            self.forward_layer.set_weights(self._initial_weights[:half])
            self.backward_layer.set_weights(self._initial_weights[half:])
            self._initial_weights = None
        self.built = True

    def __call__(self, inputs, initial_state=None, **kwargs):
        """``initial_state``: the forward layer's states, then the backward layer's; they
        become inputs of the call so a model tracks them."""
        inputs, kwargs = inputs_with_initial_state(self, inputs, initial_state, kwargs)
        return super().__call__(inputs, **kwargs)

    def call(self, inputs, mask=None, training=None):
        if isinstance(inputs, (list, tuple)):
            sequences, states = inputs[0], list(inputs[1:])
            mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        else:
            sequences, states = inputs, []
        if len(states) % 2:
            raise ValueError(f"Bidirectional '{self.name}': initial_state must hold the "
                             "forward layer's states then the backward layer's (an even "
                             f"number of tensors), got {len(states)}")
        half = len(states) // 2
        y = self._run(self.forward_layer, sequences, states[:half], mask, training)
        y_rev = self._run(self.backward_layer, sequences, states[half:], mask, training)
        final_states = []
        if self.return_state:
            final_states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]   # the backward layer's steps in input order
        output = self._merge(y, y_rev)
        if not self.return_state:
            return output
        return (output if self.merge_mode is None else [output]) + final_states

    @staticmethod
    def _run(direction, sequences, states, mask, training):
        params = inspect.signature(direction.call).parameters
        kwargs = {"training": training} if "training" in params else {}
        if "mask" in params:
            kwargs["mask"] = mask
        return direction(sequences, initial_state=states or None, **kwargs)

    def _merge(self, y, y_rev):
        if self.merge_mode is None:
            return [y, y_rev]
        if self.merge_mode == "concat":
            return ops.concatenate([y, y_rev], axis=-1)
        if tuple(y.shape) != tuple(y_rev.shape):
            raise ValueError(f"Bidirectional '{self.name}': merge_mode={self.merge_mode!r} "
                             "needs forward and backward outputs of the same shape, got "
                             f"{tuple(y.shape)} and {tuple(y_rev.shape)}")
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "mul":
            return y * y_rev
        return (y + y_rev) / 2

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        output_masks = [output_mask] * (2 if self.merge_mode is None else 1)
        if not self.return_state:
            return output_masks if self.merge_mode is None else output_mask
        forward = self.forward_layer.compute_mask(inputs, mask)
        return output_masks + [None] * (2 * (len(forward) - 1))

    def compute_output_shape(self, input_shape):
        shape = input_shape[0] if _is_shape_list(input_shape) else input_shape
        forward = self.forward_layer.compute_output_shape(tuple(shape))
        state_shapes = []
        if self.return_state:
            forward, state_shapes = forward[0], list(forward[1:])
        output = tuple(forward)
        if self.merge_mode == "concat":
            output = output[:-1] + (None if output[-1] is None else 2 * output[-1],)
        outputs = [output] * (2 if self.merge_mode is None else 1)
        if not self.return_state:
            return outputs if self.merge_mode is None else output
        return outputs + state_shapes * 2

    # -- states ---------------------------------------------------------------------
    @property
    def states(self):
        """The forward layer's state Variables then the backward layer's (stateful)."""
        forward = getattr(self.forward_layer, "states", None)
        backward = getattr(self.backward_layer, "states", None)
        return list(forward) + list(backward) if forward and backward else None

    def reset_state(self):
        """Zero both layers' carried states (stateful only, as Keras 3)."""
        if not self.stateful:
            raise AttributeError(f"Bidirectional '{self.name}': reset_state needs a stateful "
                                 "layer (the wrapped layer's stateful=True)")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self):
        """Keras 3's alias of ``reset_state``."""
        self.reset_state()

    # -- config ---------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update({"merge_mode": self.merge_mode,
                       "layer": serialize_layer(self.forward_layer),
                       "backward_layer": serialize_layer(self.backward_layer)})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"], custom_objects)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize_layer(config["backward_layer"],
                                                         custom_objects)
        return super().from_config(config)


def _check_recurrent(layer, argument):
    if not isinstance(layer, Layer):
        raise ValueError(f"Bidirectional: `{argument}` must be a gn.layers.Layer instance "
                         f"(a recurrent layer such as LSTM or GRU), got "
                         f"{type(layer).__name__} {layer!r}")
    missing = [attr for attr in _INTERFACE if not hasattr(layer, attr)]
    if missing:
        raise ValueError(f"Bidirectional: `{argument}` must be a recurrent layer (SimpleRNN, "
                         f"LSTM, GRU, RNN, or a layer with {', '.join(_INTERFACE)}); "
                         f"{type(layer).__name__} '{layer.name}' has no "
                         f"{', '.join(missing)}")

