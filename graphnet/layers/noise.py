"""Noise layers, active only while training (the identity at inference, through
IN_TRAIN_PHASE): SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout, AlphaDropout.
Random numbers come from the C counter-based generator (RANDOM ops)."""
import math

from .. import ops
from ..engine.base_layer import Layer
from ..ops.api import _like_spec, _random, standardize_data_format
from .core import Dropout


def _check_rate(layer, rate):
    if not 0 <= rate < 1:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': rate must be in [0, 1), "
                         f"got {rate}")
    return float(rate)


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one draw per (sample, channel)."""

    rank = None

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs, training=None):
        if inputs.ndim != self.rank + 2:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects inputs of "
                             f"rank {self.rank + 2}, got input shape {tuple(inputs.shape)}")
        if self.data_format == "channels_last":
            self.noise_shape = (None,) + (1,) * self.rank + (None,)
        else:
            self.noise_shape = (None, None) + (1,) * self.rank
        return super().call(inputs, training=training)

    def get_config(self):
        config = super().get_config()
        config.pop("noise_shape", None)
        config["data_format"] = self.data_format
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drops entire 1D feature maps (channels) with probability ``rate``, scaling the kept
    ones by 1 / (1 - rate), while training.

    Args:
        rate: fraction of the channels to drop, in [0, 1).
        seed: random seed.

    Input shape: ``(batch, steps, channels)``. Output shape: same.
    """
    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        kwargs.pop("data_format", None)
        super().__init__(rate, seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("data_format", None)
        return config


class SpatialDropout2D(_SpatialDropout):
    """Drops entire 2D feature maps while training (see SpatialDropout1D).

    Args:
        rate: fraction of the channels to drop.
        data_format: "channels_last" (default) or "channels_first".
        seed: random seed.

    Input shape: ``(batch, rows, cols, channels)`` or channels_first. Output shape: same.
    """
    rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Drops entire 3D feature maps while training (see SpatialDropout2D).

    Input shape: ``(batch, dim1, dim2, dim3, channels)`` or channels_first.
    """
    rank = 3


class GaussianNoise(Layer):
    """Adds zero-centered Gaussian noise of standard deviation ``stddev`` while training.

    Args:
        stddev: standard deviation of the noise.
        seed: random seed.

    Input shape: arbitrary. Output shape: same.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if stddev < 0:
            raise ValueError(f"GaussianNoise '{self.name}': stddev must be >= 0, got {stddev}")
        self.stddev, self.seed = float(stddev), seed

    def call(self, inputs, training=None):
        if training is False or self.stddev == 0:
            return inputs
        noisy = ops.add(inputs, ops.random_normal_like(inputs, 0.0, self.stddev, self.seed))
        return ops.in_train_phase(noisy, inputs, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev, "seed": self.seed})
        return config


class GaussianDropout(Layer):
    """Multiplies by Gaussian noise of mean 1 and standard deviation
    ``sqrt(rate / (1 - rate))`` while training.

    Args:
        rate: drop probability of the equivalent dropout, in [0, 1).
        seed: random seed.

    Input shape: arbitrary. Output shape: same.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate(self, rate)
        self.seed = seed

    def call(self, inputs, training=None):
        if training is False or self.rate == 0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noisy = ops.multiply(inputs, ops.random_normal_like(inputs, 1.0, stddev, self.seed))
        return ops.in_train_phase(noisy, inputs, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


class AlphaDropout(Layer):
    """Dropout that keeps the mean and variance of its inputs (for SELU networks): dropped
    units are set to SELU's negative saturation, then an affine map restores the
    statistics. Keras 3's formula.

    Args:
        rate: drop probability, in [0, 1).
        noise_shape: shape of the binary mask (None entries follow the input).
        seed: random seed.

    Input shape: arbitrary. Output shape: same.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate(self, rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed

    def call(self, inputs, training=None):
        if training is False or self.rate == 0:
            return inputs
        alpha = 1.6732632423543772848170429916717
        scale = 1.0507009873554804934193349852946
        alpha_p = -alpha * scale
        kept = _random("bernoulli", inputs, _like_spec(inputs, self.noise_shape),
                       1.0 - self.rate, 1.0, self.seed)
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        # a * (x * kept + alpha_p * (1 - kept)) + b
        x = ops.add(ops.multiply(inputs, kept), ops.multiply(ops.subtract(1.0, kept), alpha_p))
        dropped = ops.add(ops.multiply(x, a), b)
        return ops.in_train_phase(dropped, inputs, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed,
                       "noise_shape": list(self.noise_shape) if self.noise_shape else None})
        return config
