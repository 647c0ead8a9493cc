"""Normalization layers: BatchNormalization, LayerNormalization, RMSNormalization,
UnitNormalization and GroupNormalization.

All are composites of reductions and elementwise ops (their gradients come from
those primitives). BatchNormalization's moving statistics are updated inside the
compiled training step: each call records them with ``Layer.add_state_update``, and a
model's ``state_updates`` (graphnet/engine) gathers the ones that belong to it.
"""
from .. import backend, constraints, initializers, ops, regularizers
from ..engine.base_layer import Layer
from ..engine.input_spec import InputSpec
from ..ops.api import reshape_dims


class _GammaBeta:
    """The ``gamma`` / ``beta`` settings, weights and config the normalization layers
    share (Keras's names and order: gamma, then beta)."""

    def _gamma_beta_settings(self, center, scale, beta_initializer, gamma_initializer,
                             beta_regularizer, gamma_regularizer, beta_constraint,
                             gamma_constraint):
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def _add_gamma_beta(self, shape, with_gamma, with_beta):
        self.gamma = self.beta = None
        if with_gamma:
            self.gamma = self.add_weight(shape=shape, name="gamma",
                                         initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if with_beta:
            self.beta = self.add_weight(shape=shape, name="beta",
                                        initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)

    def _gamma_beta_config(self):
        return {
            "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint)}


class BatchNormalization(_GammaBeta, Layer):
    """Normalizes each channel by the batch's statistics while training and by moving
    statistics at inference: ``gamma * (x - mean) / sqrt(var + epsilon) + beta``.

    While training (``training=True``, or a step compiled for training) the layer uses
    the mean and (biased) variance of the batch over every axis but ``axis``, and the
    step assigns ``moving = moving * momentum + batch_stat * (1 - momentum)`` to
    ``moving_mean`` and ``moving_variance``. A non-trainable layer always runs in
    inference mode (Keras 3). With a mask (``(batch, steps)`` of ``(batch, steps,
    channels)`` inputs, e.g. from Masking) the batch statistics are those of the
    unmasked entries, as in Keras 3.

    Args:
        axis: the channel axis (default -1).
        momentum: momentum of the moving averages (0.99).
        epsilon: added to the variance (1e-3).
        center: add the offset ``beta``; scale: multiply by ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: initializers (zeros, ones, zeros, ones).
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint.
        synchronized: under a gn.distribution DataParallel run, the batch statistics are
            those of the global batch, every rank's samples (summed over the ranks inside
            the step), and every rank's moving statistics stay the same. Without it each
            rank normalizes by its own batch's statistics and keeps its own moving
            statistics (rank 0's are the ones saved). In one process it changes nothing.

    Input shape: arbitrary. Output shape: same as the input.

    Weights (Keras order): ``gamma``, ``beta`` (when enabled), ``moving_mean``,
    ``moving_variance`` (the last two non-trainable), each ``(channels,)``.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if renorm:
            raise ValueError(f"BatchNormalization '{self.name}': renorm is not supported")
        self.axis = int(axis)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self._gamma_beta_settings(center, scale, beta_initializer, gamma_initializer,
                                  beta_regularizer, gamma_regularizer, beta_constraint,
                                  gamma_constraint)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.synchronized = bool(synchronized)
        self.renorm_clipping, self.renorm_momentum = renorm_clipping, renorm_momentum

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"Layer '{self.name}' (BatchNormalization): axis {self.axis} is "
                             f"out of range for input shape {tuple(input_shape)}")
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(f"Layer '{self.name}' (BatchNormalization): axis {self.axis} of "
                             f"the input must be known, got input shape {tuple(input_shape)}")
        shape = (dim,)
        self._add_gamma_beta(shape, self.scale, self.center)
        self.moving_mean = self.add_weight(shape=shape, name="moving_mean",
                                           initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight(shape=shape, name="moving_variance",
                                               initializer=self.moving_variance_initializer,
                                               trainable=False)
        self.input_spec = InputSpec(ndim=rank, axes={self.axis: dim})
        self.built = True

    def call(self, inputs, training=None, mask=None):
        if mask is not None and mask.ndim != inputs.ndim - 1:
            raise ValueError(f"BatchNormalization '{self.name}': the mask provided should be "
                             "one dimension less than the inputs. Received: "
                             f"mask.shape={mask.shape}, inputs.shape={inputs.shape}")
        axis = self.axis % inputs.ndim
        infer = ops.batch_normalization(inputs, self.moving_mean, self.moving_variance, axis,
                                        self.beta, self.gamma, self.epsilon)
        if training is False or not self.trainable:
            return infer
        reduction = [a for a in range(inputs.ndim) if a != axis]
        if self.synchronized:
            mean, variance = _synchronized_moments(inputs, mask, reduction)
        else:
            mean, variance = ops.moments(inputs, reduction) if mask is None else \
                _masked_moments(inputs, mask, reduction)
        train = ops.batch_normalization(inputs, mean, variance, axis, self.beta, self.gamma,
                                        self.epsilon)
        m = self.momentum
        self.add_state_update(self.moving_mean, ops.add(
            ops.multiply(self.moving_mean, m), ops.multiply(mean, 1.0 - m)))
        self.add_state_update(self.moving_variance, ops.add(
            ops.multiply(self.moving_variance, m), ops.multiply(variance, 1.0 - m)))
        return ops.in_train_phase(train, infer, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({
            "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            **self._gamma_beta_config(),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer":
                initializers.serialize(self.moving_variance_initializer),
            "synchronized": self.synchronized, "renorm": False,
            "renorm_clipping": self.renorm_clipping, "renorm_momentum": self.renorm_momentum})
        return config


def _kept_entries(inputs, mask):
    """Where a mask (over every axis but the last) keeps the inputs' entries."""
    return ops.logical_and(ops.expand_dims(ops.cast(mask, "bool"), -1),
                           ops.not_equal(ops.ones_like(inputs), 0.0))


def _synchronized_moments(inputs, mask, reduction):
    """``synchronized=True``'s statistics over every process's batch of a data-parallel
    run (gn.distribution): the entries' sum and count summed over the processes (one
    ALLREDUCE_SUM), the mean from them, then the squared deviations from that mean summed
    likewise; with a mask, over the kept entries, the count plus epsilon as
    _masked_moments. In one process these are the batch's own moments."""
    from ..ops.collective import allreduce_sum
    weights = ops.ones_like(inputs) if mask is None else \
        ops.cast(_kept_entries(inputs, mask), inputs.dtype)
    totals = allreduce_sum(ops.stack([
        ops.sum(weights * inputs, axis=reduction, keepdims=True),
        ops.sum(weights, axis=reduction, keepdims=True)]))
    count = totals[1] + (0.0 if mask is None else backend.epsilon())
    mean = totals[0] / count
    variance = allreduce_sum(ops.sum(weights * ops.square(inputs - mean), axis=reduction,
                                     keepdims=True)) / count
    channels = (inputs.shape[[a for a in range(inputs.ndim) if a not in reduction][0]],)
    return ops.reshape(mean, channels), ops.reshape(variance, channels)


def _masked_moments(inputs, mask, reduction):
    """Keras 3's masked batch statistics: the mean and variance over the unmasked entries
    (``mask`` covers every axis but the last), each sum divided by the number of them
    plus epsilon."""
    kept = _kept_entries(inputs, mask)
    weights = ops.sum(ops.cast(kept, inputs.dtype), axis=reduction, keepdims=True) + \
        backend.epsilon()
    mean = ops.sum(ops.where(kept, inputs, 0.0), axis=reduction, keepdims=True) / weights
    variance = ops.sum(ops.square(ops.where(kept, inputs - mean, 0.0)), axis=reduction,
                       keepdims=True) / weights
    channels = (inputs.shape[[a for a in range(inputs.ndim) if a not in reduction][0]],)
    return ops.reshape(mean, channels), ops.reshape(variance, channels)


class LayerNormalization(_GammaBeta, Layer):
    """Normalizes each sample over ``axis``: ``gamma * (x - mean) / sqrt(var + epsilon)
    + beta``; with ``rms_scaling``, ``gamma * x / sqrt(var + epsilon)`` (Keras 3's
    formula, no centering, no beta).

    Args:
        axis: int or list of ints: the axes normalized over, and the shape of
            ``gamma``/``beta`` (default -1).
        epsilon: added to the variance (1e-3).
        center, scale: use ``beta`` / ``gamma``.
        rms_scaling: see above (gamma only, no beta).
        beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer,
        beta_constraint, gamma_constraint.

    Input shape: arbitrary. Output shape: same as the input.

    Weights: ``gamma``, then ``beta`` (when enabled).
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = float(epsilon)
        self.rms_scaling = bool(rms_scaling)
        self._gamma_beta_settings(center, scale, beta_initializer, gamma_initializer,
                                  beta_regularizer, gamma_regularizer, beta_constraint,
                                  gamma_constraint)

    def _axes(self, rank, input_shape):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(f"Layer '{self.name}' (LayerNormalization): axis {a} is out "
                                 f"of bounds for input shape {tuple(input_shape)}")
        return sorted(a % rank for a in axes)

    def build(self, input_shape):
        axes = self._axes(len(input_shape), input_shape)
        shape = tuple(input_shape[a] for a in axes)
        if None in shape:
            raise ValueError(f"Layer '{self.name}' (LayerNormalization): the normalized axes "
                             f"must be known, got input shape {tuple(input_shape)}")
        self._add_gamma_beta(shape, self.scale or self.rms_scaling,
                             self.center and not self.rms_scaling)
        self.built = True

    def call(self, inputs):
        axes = self._axes(inputs.ndim, inputs.shape)
        return ops.layer_normalization(inputs, self.gamma, self.beta, axes, self.epsilon,
                                       rms_scaling=self.rms_scaling)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon,
                       "rms_scaling": self.rms_scaling, **self._gamma_beta_config()})
        return config


def _normalized_axes(layer, axis, input_shape, batch_too=False):
    """``axis`` (an int or a list of ints) as sorted non-negative axes of ``input_shape``,
    refusing one out of range or (unless ``batch_too``) the batch axis, naming the
    layer."""
    rank = len(input_shape)
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    bad = [a for a in axes if not -rank <= a < rank or (a % rank == 0 and not batch_too)]
    if bad:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': axis {axis} is out of "
                         f"bounds{'' if batch_too else ' (or the batch axis)'} for input "
                         f"shape {tuple(input_shape)}")
    return sorted(a % rank for a in axes)


def _check_axis_type(layer, axis):
    if isinstance(axis, bool) or not (isinstance(axis, int) or (
            isinstance(axis, (list, tuple)) and axis and
            all(isinstance(a, int) and not isinstance(a, bool) for a in axis))):
        raise TypeError(f"{type(layer).__name__} '{layer.name}': axis must be an int or a "
                        f"list/tuple of ints, got axis={axis!r}")


def _broadcast_weight(weight, axes, rank):
    """A weight of the sizes of ``axes`` shaped to broadcast over a rank-``rank`` input."""
    if axes == list(range(rank - len(axes), rank)):
        return weight
    shape = [1] * rank
    for a, size in zip(axes, weight.shape):
        shape[a] = size
    return ops.reshape(weight, shape)


class RMSNormalization(Layer):
    """Root-mean-square normalization (Zhang and Sennrich, 2019):
    ``x * rsqrt(mean(square(x), axis) + epsilon) * scale``.

    Args:
        axis: int or list of ints: the axes the mean runs over, and the shape of
            ``scale`` (default -1).
        epsilon: added to the mean square (1e-6).

    Input shape: arbitrary. Output shape: same as the input.

    Weights: ``scale`` (ones), the sizes of ``axis``.
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        _check_axis_type(self, axis)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        axes = _normalized_axes(self, self.axis, input_shape)
        shape = tuple(input_shape[a] for a in axes)
        if None in shape:
            raise ValueError(f"RMSNormalization '{self.name}': the normalized axes must be "
                             f"known, got input shape {tuple(input_shape)}")
        # Keras's build leaves the axes as a sorted list (what get_config then says)
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        self.scale = self.add_weight(shape=shape, name="scale", initializer="ones")
        self.built = True

    def call(self, inputs):
        axes = _normalized_axes(self, self.axis, inputs.shape)
        return ops.rms_normalization(inputs, _broadcast_weight(self.scale, axes, inputs.ndim),
                                     axis=axes, epsilon=self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon})
        return config


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over ``axis``:
    ``x * min(rsqrt(sum(square(x), axis)), 1e12)``.

    Args:
        axis: int or list of ints: the axes the norm runs over (default -1).

    Input shape: arbitrary. Output shape: same as the input.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        _check_axis_type(self, axis)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.built = True

    def call(self, inputs):
        _normalized_axes(self, self.axis, inputs.shape, batch_too=True)
        return ops.normalize(inputs, axis=self.axis, order=2, epsilon=1e-12)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis})
        return config


class GroupNormalization(_GammaBeta, Layer):
    """Group normalization (Wu and He, 2018): the channels of ``axis`` split into
    ``groups``, each sample normalized per group over the group's channels and every other
    non-batch axis, then ``gamma * x_hat + beta`` per channel. One group is
    LayerNormalization over all features; ``groups=-1`` (a group per channel) instance
    normalization.

    Args:
        groups: number of groups; must divide the channels (-1: as many as the channels).
        axis: the channel axis (default -1).
        epsilon: added to the variance (1e-3).
        center, scale: use ``beta`` / ``gamma``.
        beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer,
        beta_constraint, gamma_constraint.

    Input shape: arbitrary, the channels known. Output shape: same as the input.

    Weights: ``gamma``, then ``beta`` (when enabled), each ``(channels,)``.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, int) or \
                (groups <= 0 and groups != -1):
            raise ValueError(f"GroupNormalization '{self.name}': groups must be a positive "
                             f"integer (or -1 for instance normalization), got "
                             f"groups={groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"GroupNormalization '{self.name}': axis must be an int, got "
                             f"axis={axis!r}")
        self.groups, self.axis, self.epsilon = groups, axis, float(epsilon)
        self._gamma_beta_settings(center, scale, beta_initializer, gamma_initializer,
                                  beta_regularizer, gamma_regularizer, beta_constraint,
                                  gamma_constraint)

    def build(self, input_shape):
        axis = _normalized_axes(self, self.axis, input_shape)[0]
        dim = input_shape[axis]
        if dim is None:
            raise ValueError(f"GroupNormalization '{self.name}': axis {self.axis} of the input "
                             f"must be known, got input shape {tuple(input_shape)}")
        if self.groups == -1:
            self.groups = dim   # as Keras, so get_config says the groups it made
        if dim % self.groups:
            raise ValueError(f"GroupNormalization '{self.name}': the {dim} channels (axis "
                             f"{self.axis} of input shape {tuple(input_shape)}) are not a "
                             f"multiple of groups={self.groups}")
        self._add_gamma_beta((dim,), self.scale, self.center)
        self.input_spec = InputSpec(ndim=len(input_shape), axes={self.axis: dim})
        self.built = True

    def call(self, inputs):
        """Keras's formula: (B, ..., groups, channels / groups, ...) statistics over all
        but the batch and group axes, ``x * inv + (beta - mean * inv)`` with ``inv =
        gamma * rsqrt(variance + epsilon)``."""
        rank, axis = inputs.ndim, self.axis % inputs.ndim
        dim = inputs.shape[axis]
        grouped_shape = [("in", i) for i in range(axis)] + [self.groups, dim // self.groups] \
            + [("in", i) for i in range(axis + 1, rank)]
        grouped = reshape_dims(inputs, grouped_shape)
        reduction = [a for a in range(1, rank + 1) if a != axis]
        mean, variance = ops.moments(grouped, reduction, keepdims=True)
        inv = ops.rsqrt(ops.add(variance, self.epsilon))
        weight_shape = [1] * (rank + 1)
        weight_shape[axis:axis + 2] = [self.groups, dim // self.groups]
        if self.gamma is not None:
            inv = ops.multiply(inv, ops.reshape(self.gamma, weight_shape))
        shift = ops.negative(ops.multiply(mean, inv))
        if self.beta is not None:
            shift = ops.add(shift, ops.reshape(self.beta, weight_shape))
        normalized = ops.add(ops.multiply(grouped, inv), shift)
        return reshape_dims(normalized, [("in", i) for i in range(axis)] + [dim] +
                                [("in", i + 1) for i in range(axis + 1, rank)])

    def get_config(self):
        config = super().get_config()
        config.update({"groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                       **self._gamma_beta_config()})
        return config
