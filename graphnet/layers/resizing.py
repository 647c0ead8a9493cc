"""Spatial resizing layers: ZeroPadding1D/2D/3D, Cropping1D/2D/3D, UpSampling1D/2D/3D.

Padding is the PAD op (FILL + one strided copy), cropping a SLICE, nearest upsampling
one BROADCAST_TO copy (each input element repeated), bilinear upsampling two MATMULs
with constant interpolation matrices (graphnet/layers/interpolation.py).
"""
import numpy as np

from .. import ops
from ..engine.base_layer import Layer
from ..ops.api import reshape_dims, standardize_data_format, standardize_tuple
from .interpolation import resize_images


def _pairs(value, rank, name, layer):
    """An int, ``rank`` ints (symmetric), or ``rank`` (lo, hi) pairs -> ``rank`` pairs."""
    what = f"{type(layer).__name__} '{layer.name}'"
    try:
        if isinstance(value, (int, np.integer)):
            out = ((int(value), int(value)),) * rank
        elif rank == 1 and len(value) == 2 and all(isinstance(v, (int, np.integer))
                                                  for v in value):
            out = ((int(value[0]), int(value[1])),)
        elif len(value) == rank and all(isinstance(v, (int, np.integer)) for v in value):
            out = tuple((int(v), int(v)) for v in value)
        elif len(value) == rank:
            out = tuple((int(lo), int(hi)) for lo, hi in value)
        else:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {name} must be an int, a tuple of {rank} ints or a tuple "
                         f"of {rank} (lo, hi) pairs, got {value!r}") from None
    if any(v < 0 for p in out for v in p):
        raise ValueError(f"{what}: {name} must be non-negative, got {value!r}")
    return out


def _spatial_axes(rank, data_format):
    first = 1 if data_format == "channels_last" else 2
    return list(range(first, first + rank))


def _check_rank(layer, inputs):
    if inputs.ndim != layer.rank + 2:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) expects inputs of "
                         f"rank {layer.rank + 2}, got input shape {tuple(inputs.shape)}")


def _tuple_pairs(config, key):
    """A copy of ``config`` with ``config[key]``, if a list (from JSON), as a tuple of
    ints or of (lo, hi) tuples."""
    config = dict(config)
    if isinstance(config.get(key), list):
        config[key] = tuple(tuple(p) if isinstance(p, list) else p for p in config[key])
    return config


class _ZeroPadding(Layer):
    rank = None

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, self.rank, "padding", self)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        _check_rank(self, inputs)
        pads = [(0, 0)] * inputs.ndim
        for axis, p in zip(_spatial_axes(self.rank, self.data_format), self.padding):
            pads[axis] = p
        return ops.pad(inputs, pads)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding[0] if self.rank == 1 else self.padding,
                       "data_format": self.data_format})
        return config

    @classmethod
    def from_config(cls, config):
        return super().from_config(_tuple_pairs(config, "padding"))


class ZeroPadding1D(_ZeroPadding):
    """Pads the steps axis with zeros.

    Args:
        padding: int (both sides), or (left, right).
        data_format: "channels_last" (default) or "channels_first".

    Input shape: ``(batch, steps, features)``. Output: ``(batch, padded steps, features)``.
    """
    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Pads rows and columns with zeros.

    Args:
        padding: int, (rows, cols) symmetric, or ((top, bottom), (left, right)).
        data_format: "channels_last" (default) or "channels_first".

    Input shape: ``(batch, rows, cols, channels)`` or channels_first. Output: padded.
    """
    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Pads the three spatial dims with zeros.

    Args:
        padding: int, 3 ints (symmetric), or 3 (lo, hi) pairs.
        data_format: "channels_last" (default) or "channels_first".
    """
    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(Layer):
    rank = None

    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, self.rank, "cropping", self)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        _check_rank(self, inputs)
        index = [slice(None)] * inputs.ndim
        for axis, (lo, hi) in zip(_spatial_axes(self.rank, self.data_format), self.cropping):
            size = inputs.shape[axis]
            if size is not None and lo + hi >= size:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): cropping "
                                 f"{self.cropping} leaves nothing of input shape "
                                 f"{tuple(inputs.shape)} (axis {axis} has {size})")
            index[axis] = slice(lo, -hi if hi else None)
        return inputs[tuple(index)]

    def get_config(self):
        config = super().get_config()
        config["cropping"] = self.cropping[0] if self.rank == 1 else self.cropping
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config

    @classmethod
    def from_config(cls, config):
        return super().from_config(_tuple_pairs(config, "cropping"))


class Cropping1D(_Cropping):
    """Crops the steps axis.

    Args:
        cropping: int (both sides) or (start, end).

    Input shape: ``(batch, steps, features)``. Output: ``(batch, cropped steps, features)``.
    """
    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, None, **kwargs)


class Cropping2D(_Cropping):
    """Crops rows and columns.

    Args:
        cropping: int, (rows, cols) symmetric, or ((top, bottom), (left, right)).
        data_format: "channels_last" (default) or "channels_first".
    """
    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Crops the three spatial dims.

    Args:
        cropping: int, 3 ints (symmetric), or 3 (lo, hi) pairs.
        data_format: "channels_last" (default) or "channels_first".
    """
    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


def upsample_nearest(x, axes, sizes):
    """Repeat each element ``sizes[i]`` times along ``axes[i]``: one copy when every other
    dim is known (a size-1 axis after each, broadcast, merged), else one repeat per axis."""
    pairs = [(a, s) for a, s in zip(axes, sizes) if s != 1]
    if not pairs:
        return x
    unknown = [i for i, d in enumerate(x.shape) if d is None]
    if len(unknown) > 1 or any(x.shape[a] is None for a, _ in pairs):
        for a, s in pairs:
            x = ops.repeat(x, s, axis=a)
        return x
    factor = dict(pairs)
    spread, target, merged = [], [], []
    for i, d in enumerate(x.shape):
        spread.append(("in", i))
        target.append(-1)
        if i in factor:
            spread.append(1)
            target.append(factor[i])
            merged.append(d * factor[i])
        else:
            merged.append(("in", i) if d is None else d)
    y = reshape_dims(x, spread)
    y = ops.broadcast_to(y, tuple(None if t == -1 else t for t in target))
    spec, j = [], 0
    for i, d in enumerate(x.shape):
        if i in factor:
            spec.append(merged[i])
            j += 2
        else:
            spec.append(("in", j) if d is None else d)
            j += 1
    return reshape_dims(y, spec)


class _UpSampling(Layer):
    rank = None

    def __init__(self, size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.size = standardize_tuple(size, self.rank, "size")
        if any(s < 1 for s in self.size):
            raise ValueError(f"{type(self).__name__} '{self.name}': size must be positive, "
                             f"got {self.size}")
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        _check_rank(self, inputs)
        return upsample_nearest(inputs, _spatial_axes(self.rank, self.data_format), self.size)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "data_format": self.data_format})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("size"), list):
            config["size"] = tuple(config["size"])
        return super().from_config(config)


class UpSampling1D(_UpSampling):
    """Repeats each step ``size`` times.

    Args:
        size: int, the upsampling factor (default 2).

    Input shape: ``(batch, steps, features)``. Output: ``(batch, steps * size, features)``.
    """
    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size, None, **kwargs)

    def get_config(self):
        config = Layer.get_config(self)
        config["size"] = self.size[0]
        return config


class UpSampling2D(_UpSampling):
    """Upsamples rows and columns by ``size``: nearest (each value repeated) or bilinear.

    Args:
        size: int or (rows, cols) factors (default (2, 2)).
        data_format: "channels_last" (default) or "channels_first".
        interpolation: "nearest" (default) or "bilinear" (half-pixel centers, as Keras).

    Input shape: ``(batch, rows, cols, channels)`` or channels_first.
    Output shape: ``(batch, rows * size[0], cols * size[1], channels)`` (or channels_first).
    """
    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size, data_format, **kwargs)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D '{self.name}': interpolation must be 'nearest' or "
                             f"'bilinear' (graphnet supports these), got {interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs):
        if self.interpolation == "nearest":
            return super().call(inputs)
        _check_rank(self, inputs)
        first = self.data_format == "channels_first"
        h, w = (inputs.shape[2:4] if first else inputs.shape[1:3])
        if h is None or w is None:
            raise ValueError(f"Layer '{self.name}' (UpSampling2D): bilinear upsampling needs "
                             f"known rows and cols, got input shape {tuple(inputs.shape)}")
        return resize_images(inputs, h * self.size[0], w * self.size[1], self.data_format)

    def get_config(self):
        config = super().get_config()
        config["interpolation"] = self.interpolation
        return config


class UpSampling3D(_UpSampling):
    """Repeats each voxel ``size`` times per spatial dim.

    Args:
        size: int or 3 ints (default (2, 2, 2)).
        data_format: "channels_last" (default) or "channels_first".
    """
    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)
