"""The affine augmentation layers: RandomRotation, RandomZoom, RandomTranslation.

Each draws its per-image parameters inside the plan (one RANDOM step from the layer's
generator state, as the other random layers), builds Keras 3's (N, 8) transforms from them
with graph ops, and samples the images with AFFINE_TRANSFORM (csrc/affine.c). They act
only in training (identity at inference, the images cast to the layer's dtype as Keras
does) and, called directly on arrays, default to training=True.
"""
import math

import numpy as np

from .. import ops
from ..ops.api import _random
from ..ops.affine import check_sampling
from .image_preprocessing import _RandomImageLayer, _factor_pair

#: what Keras 3's affine augmentation layers accept
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


class _AffineAugmentation(_RandomImageLayer):
    """An augmentation that samples the images at a random affine transform per image."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        check_sampling(self._what(), interpolation, fill_mode, INTERPOLATIONS, FILL_MODES)
        if isinstance(fill_value, bool) or not isinstance(fill_value, (int, float)):
            raise ValueError(f"{self._what()}: fill_value must be a number, got "
                             f"fill_value={fill_value!r}")
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    def _draws(self, images, ranges):
        """(N, 1) uniform draws, one column per (low, high) of ``ranges``, from one step."""
        u = _random("uniform", images, [("in", 0), len(ranges)], 0.0, 1.0, self.seed)
        low = np.array([r[0] for r in ranges], "float32")
        width = np.array([r[1] - r[0] for r in ranges], "float32")
        u = u * width + low
        return [u[:, k:k + 1] for k in range(len(ranges))]

    def _augment(self, images):
        h, w = self._known_hw(images)
        transforms = ops.concatenate(self._transform_columns(images, h, w), axis=1)
        return ops.image.affine_transform(images, transforms, self.interpolation,
                                          self.fill_mode, self.fill_value, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({"fill_mode": self.fill_mode, "interpolation": self.interpolation,
                       "fill_value": self.fill_value})
        return config


def _row(a0, a1, a2, b0, b1, b2):
    """The 8 columns of Keras's transform [a0 a1 a2 b0 b1 b2 0 0]; numbers are constants."""
    like = next(c for c in (a0, a1, a2, b0, b1, b2) if not isinstance(c, (int, float)))
    zeros = ops.zeros_like(like)
    return [c if not isinstance(c, (int, float)) else zeros + float(c)
            for c in (a0, a1, a2, b0, b1, b2)] + [zeros, zeros]


class RandomRotation(_AffineAugmentation):
    """Rotates each image by a random angle about its centre while training.

    Args:
        factor: a fraction of a full turn: a number f (angles in [-f, f] x 360 degrees)
            or a (lower, upper) pair, in [-1, 1]; positive turns counter-clockwise.
        fill_mode: "reflect" (default), "wrap", "constant" or "nearest": how points
            outside the image are read.
        interpolation: "bilinear" (default) or "nearest".
        seed: an integer seed.
        fill_value: what "constant" reads outside the image.
        data_format: "channels_last" or "channels_first".

    Input shape: ``(batch, height, width, channels)`` or one ``(height, width,
    channels)`` image (channels_first: channels before height). Output shape: the same.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = _factor_pair(self, factor, (-1, 1))

    def _transform_columns(self, images, h, w):
        """Keras's _compute_affine_matrix with scale 1, no shear and no translation."""
        (angle,) = self._draws(images, [(self.factor[0] * 360.0, self.factor[1] * 360.0)])
        angle = angle * (math.pi / 180.0)
        cos, sin = ops.cos(angle), ops.sin(angle)
        cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)
        a0, a1, b0, b1 = cos, -sin, sin, cos
        return _row(a0, a1, cx - a0 * cx - a1 * cy, b0, b1, cy - b0 * cx - b1 * cy)

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config


def _height_width_factor(layer, name, factor, lower_open):
    """Keras 3's RandomZoom / RandomTranslation ``_set_factor``: a number f gives (-|f|,
    |f|), a pair is sorted; each bound in [-1, 1] ((-1, 1] when ``lower_open``)."""
    bounds = "(-1, 1]" if lower_open else "[-1, 1]"
    message = (f"{layer._what()}: {name} must be a number or a pair of numbers in {bounds}, "
               f"got {name}={factor!r}")

    def check(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not (-1 < value <= 1 if lower_open else -1 <= value <= 1):
            raise ValueError(message)
        return float(value)
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(message)
        return tuple(sorted(check(f) for f in factor))
    return -abs(check(factor)), abs(check(factor))


class RandomZoom(_AffineAugmentation):
    """Zooms each image about its centre by a random factor while training: a zoom
    z = 1 + f for f drawn from the factor's range reads the input at z times the distance
    from the centre (f > 0 zooms out, f < 0 zooms in).

    Args:
        height_factor: a number f (the range [-f, f]) or a (lower, upper) pair, each in
            (-1, 1]: the vertical zoom's range.
        width_factor: the same for the horizontal zoom; None (default) zooms both axes by
            the vertical draw, keeping the aspect ratio.
        fill_mode, interpolation, seed, fill_value, data_format: as RandomRotation's.

    Input shape: ``(batch, height, width, channels)`` or one image. Output shape: the same.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = _height_width_factor(self, "height_factor", height_factor, True)
        self.width_factor = None if width_factor is None else \
            _height_width_factor(self, "width_factor", width_factor, True)

    def _transform_columns(self, images, h, w):
        """Keras's _get_zoom_matrix: [zx 0 (w-1)/2 (1-zx) 0 zy (h-1)/2 (1-zy) 0 0]."""
        ranges = [(1.0 + self.height_factor[0], 1.0 + self.height_factor[1])]
        if self.width_factor is not None:
            ranges.append((1.0 + self.width_factor[0], 1.0 + self.width_factor[1]))
        draws = self._draws(images, ranges)
        zy, zx = draws[0], draws[-1]
        return _row(zx, 0.0, (1.0 - zx) * ((w - 1.0) / 2.0), 0.0, zy,
                    (1.0 - zy) * ((h - 1.0) / 2.0))

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": self.height_factor, "width_factor": self.width_factor})
        return config


class RandomTranslation(_AffineAugmentation):
    """Shifts each image by a random fraction of its height and width while training.

    Args:
        height_factor: a number f (the range [-f, f]) or a (lower, upper) pair, each in
            [-1, 1]: the vertical shift as a fraction of the height (positive moves the
            image down).
        width_factor: the same for the horizontal shift (positive moves it right).
        fill_mode, interpolation, seed, fill_value, data_format: as RandomRotation's.

    Input shape: ``(batch, height, width, channels)`` or one image. Output shape: the same.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = _height_width_factor(self, "height_factor", height_factor, False)
        self.width_factor = _height_width_factor(self, "width_factor", width_factor, False)

    def _transform_columns(self, images, h, w):
        """Keras's _get_translation_matrix: [1 0 -dx 0 1 -dy 0 0]."""
        dy, dx = self._draws(images, [self.height_factor, self.width_factor])
        return _row(1.0, 0.0, -(dx * float(w)), 0.0, 1.0, -(dy * float(h)))

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": self.height_factor, "width_factor": self.width_factor})
        return config
