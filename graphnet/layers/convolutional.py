"""Convolution layers: Conv1D/2D/3D, Conv1D/2D/3DTranspose, SeparableConv1D/2D,
DepthwiseConv1D/2D.

All compute in channels-last order (the CONV ops' layout); ``channels_first`` inputs
are transposed in and out around the op. Weights follow Keras 3: a convolution's
``kernel`` is ``(*kernel_size, channels // groups, filters)``, then ``bias``.
"""
from .. import activations, constraints, initializers, ops, regularizers
from ..engine.base_layer import Layer
from ..ops.api import (from_channels_last, standardize_data_format, standardize_tuple,
                       to_channels_last)


def _channel_axis(data_format):
    return -1 if data_format == "channels_last" else 1


def _padding(padding, allowed, name):
    value = str(padding).lower()
    if value not in allowed:
        raise ValueError(f"{name}: padding must be one of {allowed}, got {padding!r}")
    return value


class _ConvBase(Layer):
    """Shared settings, checks and config of the convolution layers."""

    rank = None
    paddings = ("valid", "same")

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, bias_initializer="zeros",
                 bias_regularizer=None, activity_regularizer=None, bias_constraint=None,
                 **kwargs):
        super().__init__(activity_regularizer=regularizers.get(activity_regularizer), **kwargs)
        what = f"{type(self).__name__} '{self.name}'"
        self.kernel_size = standardize_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = standardize_tuple(strides, self.rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, self.rank, "dilation_rate")
        for key in ("kernel_size", "strides", "dilation_rate"):
            if any(v < 1 for v in getattr(self, key)):
                raise ValueError(f"{what}: {key} must be positive, got {getattr(self, key)}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{what}: strides > 1 not supported in conjunction with "
                             f"dilation_rate > 1. Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        self.padding = _padding(padding, self.paddings, what)
        self.data_format = standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)

    # -- checks with messages naming the layer and both shapes --------------------
    def _input_channels(self, input_shape, expected=None):
        input_shape = tuple(input_shape)
        rank = self.rank + 2
        if len(input_shape) != rank:
            layout = "(batch, " + ", ".join(["spatial"] * self.rank) + ", channels)" \
                if self.data_format == "channels_last" else \
                "(batch, channels, " + ", ".join(["spatial"] * self.rank) + ")"
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects inputs of "
                             f"rank {rank} {layout}, got input shape {input_shape} "
                             f"(kernel shape {expected or self.kernel_size + ('?', '?')})")
        channels = input_shape[_channel_axis(self.data_format)]
        if channels is None:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): the channel "
                             f"dimension of the inputs must be known, got input shape "
                             f"{input_shape}")
        return channels

    def _check_call(self, inputs, kernel_shape, channels):
        got = self._input_channels(inputs.shape, kernel_shape)
        if got != channels:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) was built for "
                             f"{channels} input channels (kernel shape {kernel_shape}), got "
                             f"input shape {tuple(inputs.shape)} with {got} channels")

    def _finish(self, x):
        """Bias (channels-last), back to the data format, then the activation."""
        if self.use_bias:
            x = ops.add(x, self.bias)
        x = from_channels_last(x, self.data_format)
        return self.activation(x)

    def _add_bias(self, size):
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(shape=(size,), name="bias",
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def _base_config(self):
        config = super().get_config()
        config.update({
            "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "bias_constraint": constraints.serialize(self.bias_constraint)})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("kernel_size", "strides", "dilation_rate", "output_padding"):
            if isinstance(config.get(key), list):
                config[key] = tuple(config[key])
        return super().from_config(config)


class _Conv(_ConvBase):
    """N-d convolution: ``activation(conv(inputs, kernel) + bias)``."""

    paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, activity_regularizer,
                         bias_constraint, **kwargs)
        what = f"{type(self).__name__} '{self.name}'"
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"{what}: filters must be a positive integer, got {filters!r}")
        if not isinstance(groups, int) or groups < 1 or filters % groups:
            raise ValueError(f"{what}: the number of filters must be evenly divisible by the "
                             f"number of groups. Received: groups={groups}, filters={filters}")
        self.filters, self.groups = filters, groups
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): the number of "
                             f"input channels must be evenly divisible by groups="
                             f"{self.groups}, got input shape {tuple(input_shape)}")
        self.input_channels = channels
        self.kernel = self.add_weight(
            shape=self.kernel_size + (channels // self.groups, self.filters), name="kernel",
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        self._check_call(inputs, self.kernel.shape, self.input_channels)
        y = to_channels_last(self.convolution_op(inputs, self.kernel), self.data_format)
        return self._finish(y)

    def convolution_op(self, inputs, kernel):
        """The layer's convolution of ``inputs`` (in the layer's data_format) with ``kernel``,
        without bias or activation: what a subclass overriding ``call`` builds on (Keras 3)."""
        return ops.conv(inputs, kernel, self.strides, self.padding, self.data_format,
                        self.dilation_rate)

    def get_config(self):
        config = self._base_config()
        config.update({
            "filters": self.filters, "groups": self.groups,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint)})
        return config


_CONV_DOC = """{rank}D convolution layer{extra}.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of {rank} ints.
        strides: int or tuple of {rank} ints (default 1).
        padding: {paddings}.
        data_format: "channels_last" (default) or "channels_first".
        dilation_rate: int or tuple of {rank} ints (default 1).
        groups: the input channels are split into this many groups, each convolved
            with filters / groups of the filters.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint:
            as for Dense.

    Input shape:
        {rank2}D tensor ``(batch, {spatial}, channels)`` (channels_last) or
        ``(batch, channels, {spatial})``.

    Output shape:
        {rank2}D tensor with ``filters`` channels and the convolved spatial sizes.

    Weights: ``kernel`` ``({kernel}, channels // groups, filters)``, then ``bias``.
    """


class Conv1D(_Conv):
    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(_Conv):
    rank = 2


class Conv3D(_Conv):
    rank = 3


for _cls, _extra, _spatial, _kernel in [
        (Conv1D, " (temporal convolution)", "steps", "k"),
        (Conv2D, " (spatial convolution over images)", "rows, cols", "kh, kw"),
        (Conv3D, " (convolution over volumes)", "depth, rows, cols", "kd, kh, kw")]:
    _cls.__doc__ = _CONV_DOC.format(
        rank=_cls.rank, rank2=_cls.rank + 2, extra=_extra, spatial=_spatial, kernel=_kernel,
        paddings="'valid', 'same' or 'causal' (causal: left padding, for sequences)"
        if _cls is Conv1D else "'valid' or 'same'")


class _ConvTranspose(_ConvBase):
    """Transposed convolution (the gradient of a convolution with respect to its input)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, activity_regularizer,
                         bias_constraint, **kwargs)
        what = f"{type(self).__name__} '{self.name}'"
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"{what}: filters must be a positive integer, got {filters!r}")
        self.filters = filters
        self.output_padding = None if output_padding is None else \
            standardize_tuple(output_padding, self.rank, "output_padding")
        if self.output_padding is not None:
            for p, s in zip(self.output_padding, self.strides):
                if p >= s or p < 0:
                    raise ValueError(f"{what}: output_padding {self.output_padding} must be "
                                     f"non-negative and smaller than strides {self.strides}")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.input_channels = channels
        self.kernel = self.add_weight(
            shape=self.kernel_size + (self.filters, channels), name="kernel",
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        self._check_call(inputs, self.kernel.shape, self.input_channels)
        x = to_channels_last(inputs, self.data_format)
        y = ops.conv_transpose(x, self.kernel, self.strides, self.padding, self.output_padding,
                               "channels_last", self.dilation_rate)
        return self._finish(y)

    def get_config(self):
        config = self._base_config()
        config.update({
            "filters": self.filters, "output_padding": self.output_padding,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint)})
        return config


_TRANSPOSE_DOC = """{rank}D transposed convolution layer ("deconvolution").

    Args:
        filters: number of output channels.
        kernel_size, strides, dilation_rate: int or tuple of {rank} ints.
        padding: 'valid' or 'same' (output size ``input * strides``).
        output_padding: int or tuple of {rank} ints (< strides) added to the output size
            on the trailing side; None lets the padding decide (Keras's rule).
        data_format, activation, use_bias, initializers, regularizers, constraints:
            as for Conv{rank}D.

    Input shape:
        {rank2}D tensor ``(batch, {spatial}, channels)`` or channels_first.

    Output shape:
        {rank2}D tensor with ``filters`` channels.

    Weights: ``kernel`` ``(*kernel_size, filters, channels)``, then ``bias``.
    """


class Conv1DTranspose(_ConvTranspose):
    rank = 1


class Conv2DTranspose(_ConvTranspose):
    rank = 2


class Conv3DTranspose(_ConvTranspose):
    rank = 3


for _cls, _spatial in [(Conv1DTranspose, "steps"), (Conv2DTranspose, "rows, cols"),
                       (Conv3DTranspose, "depth, rows, cols")]:
    _cls.__doc__ = _TRANSPOSE_DOC.format(rank=_cls.rank, rank2=_cls.rank + 2, spatial=_spatial)


class _DepthwiseConv(_ConvBase):
    """Depthwise convolution: each input channel convolved with its own
    ``depth_multiplier`` filters (output channel ``c * depth_multiplier + m``)."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, activity_regularizer,
                         bias_constraint, **kwargs)
        if not isinstance(depth_multiplier, int) or depth_multiplier < 1:
            raise ValueError(f"{type(self).__name__} '{self.name}': depth_multiplier must be "
                             f"a positive integer, got {depth_multiplier!r}")
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.input_channels = channels
        self.depthwise_kernel = self.add_weight(
            shape=self.kernel_size + (channels, self.depth_multiplier), name="kernel",
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.kernel = self.depthwise_kernel
        self._add_bias(channels * self.depth_multiplier)
        self.built = True

    def call(self, inputs):
        self._check_call(inputs, self.depthwise_kernel.shape, self.input_channels)
        x = to_channels_last(inputs, self.data_format)
        y = ops.depthwise_conv(x, self.depthwise_kernel, self.strides, self.padding,
                               "channels_last", self.dilation_rate)
        return self._finish(y)

    def get_config(self):
        config = self._base_config()
        config.update({
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint)})
        return config


class DepthwiseConv1D(_DepthwiseConv):
    """1D depthwise convolution; weights ``kernel`` ``(k, channels, depth_multiplier)``,
    then ``bias`` ``(channels * depth_multiplier,)``. Arguments as DepthwiseConv2D."""
    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """2D depthwise convolution.

    Args:
        kernel_size, strides, dilation_rate: int or tuple of 2 ints.
        padding: 'valid' or 'same'.
        depth_multiplier: output channels per input channel.
        data_format, activation, use_bias, depthwise_initializer, bias_initializer,
        depthwise_regularizer, bias_regularizer, activity_regularizer,
        depthwise_constraint, bias_constraint: as for Conv2D.

    Input shape: ``(batch, rows, cols, channels)`` or channels_first.
    Output shape: ``channels * depth_multiplier`` channels.

    Weights: ``kernel`` ``(kh, kw, channels, depth_multiplier)``, then ``bias``.
    """
    rank = 2


class _SeparableConv(_ConvBase):
    """Depthwise convolution then a pointwise (1x1) convolution to ``filters`` channels."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, activity_regularizer,
                         bias_constraint, **kwargs)
        what = f"{type(self).__name__} '{self.name}'"
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"{what}: filters must be a positive integer, got {filters!r}")
        if not isinstance(depth_multiplier, int) or depth_multiplier < 1:
            raise ValueError(f"{what}: depth_multiplier must be a positive integer, got "
                             f"{depth_multiplier!r}")
        self.filters, self.depth_multiplier = filters, depth_multiplier
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.input_channels = channels
        self.depthwise_kernel = self.add_weight(
            shape=self.kernel_size + (channels, self.depth_multiplier),
            name="depthwise_kernel", initializer=self.depthwise_initializer,
            regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            shape=(1,) * self.rank + (channels * self.depth_multiplier, self.filters),
            name="pointwise_kernel", initializer=self.pointwise_initializer,
            regularizer=self.pointwise_regularizer, constraint=self.pointwise_constraint)
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        self._check_call(inputs, self.depthwise_kernel.shape, self.input_channels)
        x = to_channels_last(inputs, self.data_format)
        y = ops.separable_conv(x, self.depthwise_kernel, self.pointwise_kernel, self.strides,
                               self.padding, "channels_last", self.dilation_rate)
        return self._finish(y)

    def get_config(self):
        config = self._base_config()
        config.update({
            "filters": self.filters, "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
            "pointwise_constraint": constraints.serialize(self.pointwise_constraint)})
        return config


class SeparableConv1D(_SeparableConv):
    """1D separable convolution; arguments and weights as SeparableConv2D with 1-D sizes."""
    rank = 1


class SeparableConv2D(_SeparableConv):
    """2D separable convolution: a depthwise convolution, then a 1x1 convolution.

    Args:
        filters: output channels of the pointwise convolution.
        kernel_size, strides, dilation_rate: int or tuple of 2 ints (depthwise step).
        padding: 'valid' or 'same'.
        depth_multiplier: depthwise output channels per input channel.
        data_format, activation, use_bias, depthwise/pointwise/bias initializers,
        regularizers and constraints: as for Conv2D.

    Input shape: ``(batch, rows, cols, channels)`` or channels_first.
    Output shape: ``filters`` channels.

    Weights: ``depthwise_kernel`` ``(kh, kw, channels, depth_multiplier)``,
    ``pointwise_kernel`` ``(1, 1, channels * depth_multiplier, filters)``, then ``bias``.
    """
    rank = 2


Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution2DTranspose, Convolution3DTranspose = Conv2DTranspose, Conv3DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
