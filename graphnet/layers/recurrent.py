"""Recurrent layers: SimpleRNN, LSTM and GRU, with Keras 3's arguments, defaults and
weight layout (kernel (D, gates * units), recurrent_kernel (units, gates * units), bias;
gates i, f, c, o for LSTM and z, r, h for GRU).

Each call is one RNN_SEQUENCE op (graphnet/ops/recurrent.py), which the compiler lowers to
the C sequence kernels of csrc/recurrent.c; the layer reads its outputs and states out of
the op's record with slices.
"""
import numpy as np

from .. import activations, constraints, initializers, ops, regularizers
from ..engine.base_layer import Layer
from ..graph.node import Node
from ..graph.tensor import SymbolicTensor
from ..ops.recurrent_layout import (ACTIVATIONS, GATES, MASK_CARRY, MASK_NONE, MASK_ZERO,
                                    record_layout)
from .rnn_state import StatefulStates, inputs_with_initial_state


def _rate(layer, name, value):
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `{name}` must be in "
                         f"[0, 1), got {name}={value!r}")
    return value


def _fused_activation(layer, name, value):
    """The activation function and its name, one the C kernels fuse."""
    fn = activations.get(value)
    key = "linear" if fn is None else activations.serialize(fn)
    if key not in ACTIVATIONS:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `{name}` must be one of "
                         f"{ACTIVATIONS} (the activations the sequence kernels fuse), got "
                         f"{name}={value!r}")
    return fn, key


class _Recurrent(StatefulStates, Layer):
    """What SimpleRNN, LSTM and GRU share: weights, options, masks, states and the op
    call."""

    cell = None          # "simple_rnn", "lstm" or "gru"
    state_count = 1      # states returned with return_state
    reset_after = False  # GRU's option

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(activity_regularizer=regularizers.get(activity_regularizer),
                         **kwargs)
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"{type(self).__name__} '{self.name}': `units` must be a "
                             f"positive integer, got units={units!r}")
        self.units = int(units)
        self.activation, self._act = _fused_activation(self, "activation", activation)
        self.recurrent_activation, self._ract = _fused_activation(
            self, "recurrent_activation", recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _rate(self, "dropout", dropout)
        self.recurrent_dropout = _rate(self, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)   # the unrolled path (graphnet/layers/rnn.py)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self._rng = None

    # -- weights ------------------------------------------------------------------
    def _bias_shape(self):
        return (GATES[self.cell] * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def build(self, input_shape):
        if self.built:
            return
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        self._check_rank(shape)
        if shape[-1] is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': the last axis (features) "
                             f"of the input must be known, got shape {tuple(shape)}")
        g = GATES[self.cell] * self.units
        self.kernel = self.add_weight(shape=(int(shape[-1]), g), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(shape=(self.units, g), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(shape=self._bias_shape(), name="bias",
                                        initializer=self._bias_init(),
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self._build_states(shape)
        self.built = True

    def _check_rank(self, shape):
        if len(shape) != 3:
            raise ValueError(f"{type(self).__name__} '{self.name}': expected an input of rank "
                             f"3 (batch, timesteps, features), got shape {tuple(shape)}")

    # -- calling ------------------------------------------------------------------
    def __call__(self, inputs, initial_state=None, **kwargs):
        """``initial_state``: a list of ``state_count`` tensors of shape (batch, units);
        they become inputs of the call (as in Keras 2) so a model tracks them."""
        inputs, kwargs = inputs_with_initial_state(self, inputs, initial_state, kwargs)
        return super().__call__(inputs, **kwargs)

    def _split_inputs(self, inputs, mask):
        if isinstance(inputs, (list, tuple)):
            x, states = inputs[0], list(inputs[1:])
            mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        else:
            x, states = inputs, []
        if states and len(states) != self.state_count:
            raise ValueError(f"{type(self).__name__} '{self.name}': initial_state must hold "
                             f"{self.state_count} tensor(s) (the layer's states), got "
                             f"{len(states)}")
        self._check_rank(x.shape)
        for i, s in enumerate(states):
            want = (x.shape[0], self.units)
            if len(s.shape) != 2 or s.shape[1] != self.units or (
                    None not in (s.shape[0], x.shape[0]) and s.shape[0] != x.shape[0]):
                raise ValueError(f"{type(self).__name__} '{self.name}': initial state {i} "
                                 f"must have shape {want}, got {tuple(s.shape)}")
        return x, states, mask

    def call(self, inputs, mask=None, training=None):
        x, states, mask = self._split_inputs(inputs, mask)
        states = self._stateful_initial_states(x, states)
        if self.unroll:
            from .rnn import unrolled_sequence_call
            output, final_states = unrolled_sequence_call(self, x, states, mask, training)
            self._carry_states(final_states)
            return [output] + final_states if self.return_state else output
        x = self.dropped_input(x, training)
        mask_mode = MASK_NONE if mask is None else \
            MASK_ZERO if self.zero_output_for_mask else MASK_CARRY
        attrs = {"cell": self.cell, "units": self.units, "activation": self._act,
                 "recurrent_activation": self._ract, "go_backwards": self.go_backwards,
                 "reset_after": self.reset_after,
                 "mask_mode": mask_mode, "has_bias": self.use_bias,
                 "has_h0": bool(states), "has_c0": len(states) > 1, "rec_masked": False}
        args = [x, self.kernel, self.recurrent_kernel] + ([self.bias] if self.use_bias else [])
        args += states
        if mask is not None:
            mask = ops.convert_to_tensor(mask)
            if len(mask.shape) != 2 or any(a is not None and b is not None and a != b
                                           for a, b in zip(mask.shape, x.shape[:2])):
                raise ValueError(f"{type(self).__name__} '{self.name}': the mask must have "
                                 f"shape {tuple(x.shape[:2])} (batch, timesteps), got "
                                 f"{tuple(mask.shape)}")
            args.append(mask if mask.dtype == "bool" else ops.cast(mask, "bool"))
        dtype = x.dtype
        nodes = [ops.convert_to_tensor(a).node for a in args]
        nodes = [n if n.dtype == dtype or n.dtype == "bool" else Node("CAST", (n,),
                                                                        {"dtype": dtype})
                 for n in nodes]
        record = Node("RNN_SEQUENCE", nodes, attrs)
        if self.recurrent_dropout and training is not False:
            dropped = Node("RNN_SEQUENCE", nodes + [self._recurrent_masks(x).node],
                           dict(attrs, rec_masked=True))
            record = ops.in_train_phase(SymbolicTensor(dropped), SymbolicTensor(record),
                                        training=training).node
        output, final_states = self._outputs(record, mask_mode)
        self._carry_states(final_states)
        return [output] + final_states if self.return_state else output

    def dropped_input(self, x, training):
        """x with the input dropout: one mask per sequence, the same features at every
        step, while training."""
        if not self.dropout or training is False:
            return x
        keep = ops.dropout(x, self.dropout, noise_shape=(None, 1, x.shape[2]), seed=self.seed)
        return ops.in_train_phase(keep, x, training=training)

    def _recurrent_masks(self, x):
        """Keras's recurrent dropout masks, one (batch, units) per gate drawn once per
        batch, side by side: (batch, gates * units) of 0 and 1 / (1 - rate)."""
        ones = ops.add(ops.zeros_like(x[:, 0, :1]),
                       np.ones((1, GATES[self.cell] * self.units), x.dtype))
        return ops.dropout(ones, self.recurrent_dropout, seed=self.seed)

    def _outputs(self, record, mask_mode):
        """The output and the final states read out of the op's record Y (batch, T, S)."""
        at, _ = record_layout(self.cell, self.units, self.reset_after, mask_mode != MASK_NONE)
        u = self.units
        out_at = at["o"] if mask_mode != MASK_NONE else at["h"]
        last = 0 if self.go_backwards else -1

        def piece(offset, time):
            if time == "all":   # in the order the steps ran
                step = -1 if self.go_backwards else 1
                t = (None, None, step)
            else:
                t = (time, None if time == -1 else time + 1, 1)
            node = Node("SLICE", (record,), {"begin": (None, t[0], offset),
                                             "end": (None, t[1], offset + u),
                                             "step": (1, t[2], 1)})
            if time != "all":
                node = Node("RESHAPE", (node,), {"shape": (("in", 0), u)})
            return SymbolicTensor(node)

        output = piece(out_at, "all") if self.return_sequences else piece(out_at, last)
        states = [piece(at["h"], last)] + ([piece(at["c"], last)] if self.cell == "lstm"
                                           else [])
        return output, states

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self.state_count
        return output_mask

    def compute_output_shape(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        out = (shape[0], shape[1], self.units) if self.return_sequences else \
            (shape[0], self.units)
        if self.return_state:
            return [out] + [(shape[0], self.units)] * self.state_count
        return out

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units, "activation": self._act, "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed, "return_sequences": self.return_sequences,
            "return_state": self.return_state, "go_backwards": self.go_backwards,
            "stateful": self.stateful, "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask})
        if self.cell != "simple_rnn":
            config["recurrent_activation"] = self._ract
        return config


_DOC_COMMON = """
        use_bias: whether the layer has a bias vector.
        kernel_initializer, recurrent_initializer, bias_initializer: initializers
            ("glorot_uniform", "orthogonal", "zeros").
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer:
            regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: constraints.
        dropout: fraction of the input features dropped while training, one mask per
            sequence (the same features at every step), as Keras; one mask for all gates
            (Keras's implementation 2; Keras 3 draws one per gate when recurrent_dropout
            is set too).
        recurrent_dropout: fraction of the previous state dropped in the recurrent
            products while training: one mask per gate per sequence, as Keras 3.
        seed: the dropout's seed.
        return_sequences: return every step's output (batch, timesteps, units), else the
            last one (batch, units).
        return_state: also return the final state(s).
        go_backwards: run from the last step; the returned sequence is in that order.
        stateful: carry each batch's final states into the next batch (sample i of a
            batch continues sample i of the previous one) in fit, evaluate and predict;
            needs a fixed batch size (``gn.Input(batch_shape=...)``); ``reset_state()``
            (or ``reset_states()``) zeros the states.
        unroll: unroll the time loop: one kernel per step (over the step's weights)
            instead of the sequence kernel, the same values; recurrent_dropout needs
            unroll=False.
        zero_output_for_mask: a masked step outputs zeros (else the previous output).

    Call arguments:
        inputs: (batch, timesteps, features); timesteps may be None (``Input((None, d))``).
        mask: (batch, timesteps) bool; a masked step keeps the state (Keras's semantics).
        training: whether dropout applies.
        initial_state: a list of the initial state tensors, each (batch, units).
"""


class SimpleRNN(_Recurrent):
    """Fully-connected RNN whose output is fed back: ``h = act(x W + h R + b)``.

    Args:
        units: dimensionality of the output space.
        activation: "tanh" (default), "sigmoid", "relu", "hard_sigmoid" or "linear".
    """ + _DOC_COMMON

    cell = "simple_rnn"

    def __init__(self, units, activation="tanh", **kwargs):
        if "recurrent_activation" in kwargs:
            raise TypeError(f"SimpleRNN got an unexpected keyword argument "
                            f"'recurrent_activation'")
        super().__init__(units, activation=activation, **kwargs)


class LSTM(_Recurrent):
    """Long Short-Term Memory (Hochreiter 1997), Keras 3's LSTM.

    Args:
        units: dimensionality of the output space.
        activation: for the cell input and output (default "tanh").
        recurrent_activation: for the input, forget and output gates (default "sigmoid").
        unit_forget_bias: add 1 to the forget gate's bias at initialization (and force
            bias_initializer "zeros" for it), as Keras.
        use_cudnn: "auto", True or False, accepted for Keras compatibility (no GPU here).
    """ + _DOC_COMMON

    cell = "lstm"
    state_count = 2

    def __init__(self, units, unit_forget_bias=True, use_cudnn="auto", **kwargs):
        self.unit_forget_bias = bool(unit_forget_bias)
        _check_cudnn(use_cudnn)
        self.use_cudnn = use_cudnn
        super().__init__(units, **kwargs)

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, u = self.bias_initializer, self.units

        def forget_bias_ones(shape, dtype="float32"):
            return np.concatenate([base((u,), dtype), np.ones((u,), dtype),
                                   base((2 * u,), dtype)])
        return forget_bias_ones

    def get_config(self):
        config = super().get_config()
        config.update({"unit_forget_bias": self.unit_forget_bias, "use_cudnn": self.use_cudnn})
        return config


class GRU(_Recurrent):
    """Gated Recurrent Unit (Cho et al. 2014), Keras 3's GRU.

    Args:
        units: dimensionality of the output space.
        activation: for the candidate state (default "tanh").
        recurrent_activation: for the update and reset gates (default "sigmoid").
        reset_after: apply the reset gate after the recurrent product (default True, the
            CuDNN convention: the bias then has shape (2, 3 * units), input and recurrent
            biases); False applies it before.
        use_cudnn: "auto", True or False, accepted for Keras compatibility (no GPU here).
    """ + _DOC_COMMON

    cell = "gru"

    def __init__(self, units, reset_after=True, use_cudnn="auto", **kwargs):
        self.reset_after = bool(reset_after)
        _check_cudnn(use_cudnn)
        self.use_cudnn = use_cudnn
        super().__init__(units, **kwargs)

    def _bias_shape(self):
        g = 3 * self.units
        return (2, g) if self.reset_after else (g,)

    def get_config(self):
        config = super().get_config()
        config.update({"reset_after": self.reset_after, "use_cudnn": self.use_cudnn})
        return config


def _check_cudnn(value):
    if value not in ("auto", True, False):
        raise ValueError("Invalid valid received for argument `use_cudnn`. Expected one of "
                         f"{{'auto', True, False}}. Received: use_cudnn={value}")
