"""ConvLSTM1D, ConvLSTM2D and ConvLSTM3D: Keras 3's convolutional LSTM (its ConvLSTMCell
semantics, arguments, defaults and weight layout: kernel ``kernel_size + (channels,
4 * filters)``, recurrent_kernel ``kernel_size + (filters, 4 * filters)``, bias
``(4 * filters,)``, gates i, f, c, o).

The input convolution of every step is one convolution over the batch * time frames
(with the bias); the time loop is the unrolled path of gn.layers.RNN (graphnet/layers/
rnn.py): each step adds the recurrent convolution of the state (strides 1, "same"
padding, as Keras) and applies the gates, and the compiler unrolls the steps once their
number is known. Computed channels-last (channels_first inputs are transposed in and the
outputs back).
"""
import numpy as np

from .. import activations, constraints, initializers, ops, regularizers
from ..graph.node import Node
from ..ops.api import _wrap, as_node, reshape_dims
from .convolutional import _ConvBase
from .recurrent import _rate
from .rnn import unrolled_outputs
from .rnn_state import StatefulStates


class _ConvLSTM(StatefulStates, _ConvBase):
    """What ConvLSTM1D/2D/3D share (``rank`` spatial axes)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 zero_output_for_mask=False, **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         bias_constraint=bias_constraint, **kwargs)
        what = f"{type(self).__name__} '{self.name}'"
        if not isinstance(filters, (int, np.integer)) or isinstance(filters, bool) or \
                filters <= 0:
            raise ValueError(f"{what}: `filters` must be a positive integer, got "
                             f"filters={filters!r}")
        self.filters = int(filters)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.dropout = _rate(self, "dropout", dropout)
        self.recurrent_dropout = _rate(self, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)   # the loop is unrolled either way
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True

    # -- weights ------------------------------------------------------------------
    def build(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape, list) and \
            isinstance(input_shape[0], (list, tuple)) else tuple(input_shape)
        channels = self._step_channels(shape)
        f4 = 4 * self.filters
        self.kernel = self.add_weight(shape=self.kernel_size + (channels, f4), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            shape=self.kernel_size + (self.filters, f4), name="recurrent_kernel",
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(shape=(f4,), name="bias", initializer=self._bias_init(),
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self._build_states(shape)
        self.built = True

    def _state_shapes(self, input_shape):
        """h and c: a frame's output, (spatial..., filters) in the data format's order."""
        last = self.data_format == "channels_last"
        spatial = input_shape[2:-1] if last else input_shape[3:]
        out = []
        for n, k, st, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate):
            span = d * (k - 1) + 1
            out.append(-(-n // st) if self.padding == "same" else (n - span) // st + 1)
        shape = tuple(out) + (self.filters,) if last else (self.filters,) + tuple(out)
        return [shape, shape]

    def _bias_init(self):
        """bias_initializer, with the forget gate's slice 1 (unit_forget_bias, as Keras)."""
        base, f = self.bias_initializer, self.filters
        if not self.unit_forget_bias:
            return base

        def forget_bias_ones(shape, dtype="float32"):
            return np.concatenate([base((f,), dtype), np.ones((f,), dtype),
                                   base((2 * f,), dtype)])
        return forget_bias_ones

    def _step_channels(self, shape):
        """The channels of the frames of a (batch, time, ...) input, checking its rank and
        that the spatial sizes are known (Keras's requirement)."""
        if len(shape) != self.rank + 3:
            raise ValueError(f"{type(self).__name__} '{self.name}': expected an input of "
                             f"rank {self.rank + 3} (batch, time, {self.rank} spatial axes "
                             f"and channels), got shape {tuple(shape)}")
        frame = (shape[0],) + tuple(shape[2:])
        channels = self._input_channels(frame)
        spatial = frame[1:-1] if self.data_format == "channels_last" else frame[2:]
        if None in spatial:
            raise ValueError(f"{type(self).__name__} '{self.name}': the spatial sizes of "
                             f"the input must be known, got shape {tuple(shape)}")
        return channels

    # -- calling ------------------------------------------------------------------
    def __call__(self, inputs, initial_state=None, **kwargs):
        """``initial_state``: [h, c], each shaped as the output of one step."""
        if initial_state is not None:
            inputs = [inputs] + list(initial_state)
            if kwargs.get("mask") is not None and not isinstance(kwargs["mask"], list):
                kwargs["mask"] = [kwargs["mask"]] + [None] * (len(inputs) - 1)
        return super().__call__(inputs, **kwargs)

    def call(self, inputs, mask=None, training=None):
        x, states = (inputs[0], list(inputs[1:])) if isinstance(inputs, (list, tuple)) \
            else (inputs, [])
        mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        states = [ops.convert_to_tensor(s) for s in self._stateful_initial_states(x, states)]
        channels = self._step_channels(x.shape)
        if channels != self.kernel.shape[-2]:
            raise ValueError(f"{type(self).__name__} '{self.name}' was built for "
                             f"{self.kernel.shape[-2]} input channels (kernel shape "
                             f"{self.kernel.shape}), got input shape {tuple(x.shape)}")
        last = self.data_format == "channels_last"
        x = x if last else self._to_last(x)
        states = [s if last else self._to_last(s, time=False) for s in states]
        projected = self._input_projection(x, training)
        shape = tuple(projected.shape[2:-1]) + (self.filters,)
        rec_masks = None
        if self.recurrent_dropout and training is not False:
            rec_masks = self._gate_masks(projected[:, 0][..., :self.filters],
                                         self.recurrent_dropout)

        def step(z_x, states, step_training):
            """One step over the projected input: the recurrent convolution, the gates."""
            h, c = states
            z = self._recurrent(h, None)
            if rec_masks is not None:
                z = ops.in_train_phase(self._recurrent(h, rec_masks), z,
                                       training=step_training)
            f = self.filters
            i, fg, g, o = (ops.add(z_x, z)[..., q * f:(q + 1) * f] for q in range(4))
            i, fg, o = (self.recurrent_activation(v) for v in (i, fg, o))
            c = fg * c + i * self.activation(g)
            h = o * self.activation(c)
            return h, [h, c]
        output, final = unrolled_outputs(self, step, [shape, shape], projected, states, mask,
                                         training)
        if not last:
            output = self._to_first(output, time=self.return_sequences)
            final = [self._to_first(s, time=False) for s in final]
        self._carry_states(final)
        return [output] + final if self.return_state else output

    def _input_projection(self, x, training):
        """The input convolution (and bias) of every frame, (batch, time, ...) ->
        (batch, time, ..., 4 * filters): one convolution, or with dropout while training
        one per gate of the input times that gate's mask."""
        plain = self._project(x, None)
        if not self.dropout or training is False:
            return plain
        masks = self._gate_masks(x[:, 0], self.dropout)
        return ops.in_train_phase(self._project(x, masks), plain, training=training)

    def _gate_masks(self, like, rate):
        """Keras's dropout masks, one per gate, drawn once per sequence: (batch, ...,
        4 * channels of ``like``) of 0 and 1 / (1 - rate), gate q's in slice q."""
        ones = ops.add(ops.zeros_like(like[..., :1]),
                       np.ones((1,) * (like.ndim - 1) + (4 * like.shape[-1],), like.dtype))
        return ops.dropout(ones, rate, seed=self.seed)

    def _project(self, x, masks):
        if masks is None:
            y = self._input_conv(x, self.kernel)
        else:
            c, f = x.shape[-1], self.filters
            y = ops.concatenate([self._input_conv(
                x * ops.expand_dims(masks[..., q * c:(q + 1) * c], 1),
                self.kernel[..., q * f:(q + 1) * f]) for q in range(4)], axis=-1)
        if self.use_bias:
            y = ops.add(y, self.bias)
        return _wrap(Node("RESHAPE_LIKE", (as_node(y), as_node(x)), {"lead": 2, "skip": 1}))

    def _input_conv(self, x, kernel):
        """The convolution of every frame of x (batch, time, ...) as one, frames first."""
        frames = reshape_dims(x, [-1] + [("in", k) for k in range(2, x.ndim)])
        return ops.conv(frames, kernel, strides=self.strides, padding=self.padding,
                        data_format="channels_last", dilation_rate=self.dilation_rate)

    def _recurrent(self, h, masks):
        """The recurrent convolution of the state (strides 1, "same"), with recurrent
        dropout one per gate of h times that gate's mask."""
        def conv(value, kernel):
            return ops.conv(value, kernel, strides=1, padding="same",
                            data_format="channels_last")
        if masks is None:
            return conv(h, self.recurrent_kernel)
        f = self.filters
        return ops.concatenate([conv(h * masks[..., q * f:(q + 1) * f],
                                     self.recurrent_kernel[..., q * f:(q + 1) * f])
                                for q in range(4)], axis=-1)

    def _to_last(self, x, time=True):
        lead = 2 if time else 1
        return ops.transpose(x, tuple(range(lead)) + tuple(range(lead + 1, x.ndim)) + (lead,))

    def _to_first(self, x, time):
        lead = 2 if time else 1
        return ops.transpose(x, tuple(range(lead)) + (x.ndim - 1,) +
                             tuple(range(lead, x.ndim - 1)))

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        return [output_mask, None, None] if self.return_state else output_mask

    def get_config(self):
        config = self._base_config()
        config.update({
            "filters": self.filters,
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed, "return_sequences": self.return_sequences,
            "return_state": self.return_state, "go_backwards": self.go_backwards,
            "stateful": self.stateful, "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask})
        return config


_DOC = """

    Args:
        filters: the number of output filters (the state's channels).
        kernel_size, strides, padding ("valid" or "same"), data_format, dilation_rate: of
            the input convolution, as Conv{r}D's; the recurrent convolution has strides 1
            and "same" padding.
        activation: for the cell input and output (default "tanh").
        recurrent_activation: for the input, forget and output gates (default "sigmoid").
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
            unit_forget_bias, regularizers and constraints: as LSTM's.
        dropout: fraction of the input dropped while training, one mask per gate per
            sequence (the same at every step), as Keras.
        recurrent_dropout: likewise for the state in the recurrent convolution.
        seed: the dropouts' seed.
        return_sequences, return_state, go_backwards, zero_output_for_mask: as RNN's.
        stateful: carry each batch's final h and c into the next batch (needs a fixed
            batch size); ``reset_state()`` / ``reset_states()`` zeros them.
        unroll: accepted; the loop is unrolled by the compiler either way.

    Input shape:
        (batch, time, {spatial}, channels) (channels_last) or (batch, time, channels,
        {spatial}); the time may be unknown, the spatial sizes must be known.

    Output shape:
        (batch, [time,] {out}, filters) (channels_last) or (batch, [time,] filters, {out});
        with return_state also the final h and c, each (batch, {out}, filters).
"""


class ConvLSTM1D(_ConvLSTM):
    """1D convolutional LSTM: an LSTM whose input and recurrent transformations are
    convolutions over one spatial axis.""" + _DOC.format(r=1, spatial="steps",
                                                           out="new_steps")
    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """2D convolutional LSTM (Shi et al. 2015): an LSTM whose input and recurrent
    transformations are convolutions over two spatial axes.""" + _DOC.format(
        r=2, spatial="rows, cols", out="new_rows, new_cols")
    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """3D convolutional LSTM: an LSTM whose input and recurrent transformations are
    convolutions over three spatial axes.""" + _DOC.format(
        r=3, spatial="dim1, dim2, dim3", out="new_dim1, new_dim2, new_dim3")
    rank = 3
