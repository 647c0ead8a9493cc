"""Image preprocessing and augmentation layers: Resizing, CenterCrop, RandomCrop,
RandomFlip, RandomContrast, RandomBrightness.

They are graph layers like any other: compiled into the plan (resizing as two matrix
products, flips as reversed copies, crops as slices or gathers), with their random draws
made by the plan's generator (RANDOM) on each run. The random ones act only in training
(IN_TRAIN_PHASE: fit's step draws, predict's plan is the identity) and, called directly
on arrays, default to training=True as Keras 3's do. Images are rank 4 (a batch) or rank
3 (one image), channels_last unless data_format says otherwise.
"""
import numpy as np

from .. import ops
from ..engine.base_layer import Layer
from ..ops.api import _random, standardize_data_format
from .interpolation import INTERPOLATIONS, resize_images


class _ImageLayer(Layer):
    """Rank 3 or 4 images; the height and width axes of the data format."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)

    def _what(self):
        return f"{type(self).__name__} '{self.name}'"

    def _batched(self, inputs):
        """The images as a batch (rank 4), and whether they were one image."""
        if inputs.ndim not in (3, 4):
            raise ValueError(f"{self._what()}: expected images of rank 3 (one image) or 4 "
                             f"(a batch), got input shape {tuple(inputs.shape)}")
        if inputs.dtype != self.dtype:
            inputs = ops.cast(inputs, self.dtype)
        return (ops.expand_dims(inputs, 0), True) if inputs.ndim == 3 else (inputs, False)

    def _axes(self):
        """(height axis, width axis) of a batch."""
        return (2, 3) if self.data_format == "channels_first" else (1, 2)

    def _hw(self, images):
        h_axis, w_axis = self._axes()
        return images.shape[h_axis], images.shape[w_axis]

    def _crop(self, images, top, left, height, width):
        index = [slice(None)] * 4
        h_axis, w_axis = self._axes()
        index[h_axis] = slice(top, top + height)
        index[w_axis] = slice(left, left + width)
        return images[tuple(index)]

    def _known_hw(self, images):
        h, w = self._hw(images)
        if h is None or w is None:
            raise ValueError(f"{self._what()}: needs a known height and width, got input "
                             f"shape {tuple(images.shape)}")
        return h, w

    def _aspect_crop_and_resize(self, images, height, width, interpolation="bilinear"):
        """The centred crop of the target's aspect ratio, resized to (height, width)
        (Keras's crop_to_aspect_ratio / smart_resize)."""
        h, w = self._known_hw(images)
        crop_h = max(min(h, int(float(w * height) / width)), 1)
        crop_w = max(min(w, int(float(h * width) / height)), 1)
        images = self._crop(images, int(float(h - crop_h) / 2), int(float(w - crop_w) / 2),
                            crop_h, crop_w)
        return resize_images(images, height, width, self.data_format, interpolation)

    def _unbatched(self, outputs, single):
        return ops.squeeze(outputs, 0) if single else outputs

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


def _size(layer, name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `{name}` must be a "
                         f"positive integer, got {name}={value!r}")
    return value


class _TargetSize:
    """The output shape and config of a layer making (height, width) images."""

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        h_axis, w_axis = (-2, -1) if self.data_format == "channels_first" else (-3, -2)
        shape[h_axis], shape[w_axis] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width})
        return config


class Resizing(_TargetSize, _ImageLayer):
    """Resizes images to (height, width), as ``keras.ops.image.resize`` on the torch
    backend computes it (``torch.nn.functional.interpolate``, align_corners False).

    Args:
        height, width: the output size.
        interpolation: "bilinear" (default), "nearest", "bicubic" or "area".
        crop_to_aspect_ratio: first crop the centred box of the target's aspect ratio.
        pad_to_aspect_ratio: first pad (with ``fill_value``) to the target's aspect ratio.
        fill_mode: "constant" (the only one Keras's torch backend has).
        fill_value: the padding value.
        antialias: widen the filter when downsampling (bilinear and bicubic).
        data_format: "channels_last" or "channels_first".

    Integer images come back rounded and clipped to their dtype, as in Keras.
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height = _size(self, "height", height)
        self.width = _size(self, "width", width)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{self._what()}: interpolation must be one of {INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        if fill_mode != "constant":
            raise ValueError(f"{self._what()}: fill_mode must be 'constant', got "
                             f"{fill_mode!r}")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"{self._what()}: only one of crop_to_aspect_ratio and "
                             "pad_to_aspect_ratio can be True")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.antialias = bool(antialias)

    def _pad_to_aspect(self, images):
        h, w = self._known_hw(images)
        pad_h = max(h, int(float(w * self.height) / self.width))
        pad_w = max(w, int(float(h * self.width) / self.height))
        top, left = int(float(pad_h - h) / 2), int(float(pad_w - w) / 2)
        widths = [(0, 0)] * 4
        h_axis, w_axis = self._axes()
        widths[h_axis], widths[w_axis] = (top, top), (left, left)
        return ops.pad(images, widths, constant_values=self.fill_value)

    def call(self, inputs):
        dtype = inputs.dtype
        images, single = self._batched(inputs)
        if self.crop_to_aspect_ratio:
            out = self._aspect_crop_and_resize(images, self.height, self.width,
                                               self.interpolation)
        else:
            if self.pad_to_aspect_ratio:
                images = self._pad_to_aspect(images)
            self._known_hw(images)
            out = resize_images(images, self.height, self.width, self.data_format,
                                self.interpolation, self.antialias)
        if dtype not in ("float16", "float32", "float64"):
            info = _int_range(dtype)
            out = ops.cast(ops.clip(ops.round(out), *info), dtype)
        return self._unbatched(out, single)

    def get_config(self):
        config = super().get_config()
        config.update({"interpolation": self.interpolation,
                       "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                       "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
                       "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                       "antialias": self.antialias})
        return config


def _int_range(dtype):
    info = np.iinfo(np.dtype(dtype))
    return float(info.min), float(info.max)


class CenterCrop(_TargetSize, _ImageLayer):
    """Crops the centre (height, width) of each image; an image smaller than that is
    first cropped to the target's aspect ratio and resized (bilinear), as Keras does.

    Args:
        height, width: the output size.
        data_format: "channels_last" or "channels_first".
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height = _size(self, "height", height)
        self.width = _size(self, "width", width)

    def call(self, inputs):
        images, single = self._batched(inputs)
        h, w = self._known_hw(images)
        if h >= self.height and w >= self.width:
            out = self._crop(images, (h - self.height) // 2, (w - self.width) // 2,
                             self.height, self.width)
        else:
            out = self._aspect_crop_and_resize(images, self.height, self.width)
        return self._unbatched(out, single)



class _RandomImageLayer(_ImageLayer):
    """A random augmentation: its draws come from its own generator state (``seed``)."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"{self._what()}: seed must be an integer or None, got "
                             f"{seed!r}")
        self.seed = seed

    def _per_sample(self, images, low, high):
        """Uniform draws in [low, high), one per image, shaped to broadcast over it."""
        return _random("uniform", images, [("in", 0), 1, 1, 1], low, high, self.seed)

    def _call_eagerly(self, inputs, *args, **kwargs):
        kwargs.setdefault("training", True)   # Keras 3: augment when called directly
        return super()._call_eagerly(inputs, *args, **kwargs)

    def call(self, inputs, training=None):
        images, single = self._batched(inputs)
        out = ops.in_train_phase(self._augment(images), images, training)
        return self._unbatched(out, single)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class RandomFlip(_RandomImageLayer):
    """Flips each image with probability 1/2 while training: left-right ("horizontal"),
    upside down ("vertical") or, with "horizontal_and_vertical", both at once (one draw
    per image decides both, as Keras 3 does).

    Args:
        mode: "horizontal", "vertical" or "horizontal_and_vertical" (default).
        seed: an integer seed for the draws.
        data_format: "channels_last" or "channels_first".
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in _FLIP_MODES:
            raise ValueError(f"{self._what()}: mode must be one of {_FLIP_MODES}, got "
                             f"{mode!r}")
        self.mode = mode

    def _augment(self, images):
        flip = ops.less_equal(self._per_sample(images, 0.0, 1.0), 0.5)
        h_axis, w_axis = self._axes()
        out = images
        for axis, modes in ((w_axis, ("horizontal", "horizontal_and_vertical")),
                            (h_axis, ("vertical", "horizontal_and_vertical"))):
            if self.mode in modes:
                index = [slice(None)] * 4
                index[axis] = slice(None, None, -1)
                out = ops.where(flip, out[tuple(index)], out)
        return out

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config


def _factor_pair(layer, factor, bounds):
    """Keras 3's ``_set_factor``: a number f gives (max(-|f|, low), |f|), a pair is sorted;
    both within ``bounds``."""
    message = (f"{layer._what()}: factor must be a number or a pair of numbers in "
               f"[{bounds[0]}, {bounds[1]}], got factor={factor!r}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(message)
        return tuple(sorted(float(f) for f in factor))
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        if not bounds[0] <= factor <= bounds[1]:
            raise ValueError(message)
        return max(-abs(float(factor)), bounds[0]), abs(float(factor))
    raise ValueError(message)


def _value_range(layer, value_range):
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ValueError(f"{layer._what()}: value_range must be a (low, high) pair, got "
                         f"value_range={value_range!r}")
    return tuple(sorted(float(v) for v in value_range))


class RandomContrast(_RandomImageLayer):
    """Scales each image's deviation from its per-channel mean by a random factor while
    training, then clips to ``value_range``: ``(x - mean) * f + mean``, f uniform in
    [1 - lower, 1 + upper] for ``factor`` = (lower, upper) (a number f means (0, f), as
    Keras 3 reads it).

    Args:
        factor: a number or a (lower, upper) pair in [0, 1].
        value_range: the images' (low, high) range (default (0, 255)).
        seed: an integer seed.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_pair(self, factor, (0, 1))
        self.value_range = _value_range(self, value_range)

    def _augment(self, images):
        f = self._per_sample(images, 1.0 - self.factor[0], 1.0 + self.factor[1])
        mean = ops.mean(images, axis=self._axes(), keepdims=True)
        return ops.clip((images - mean) * f + mean, *self.value_range)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor, "value_range": self.value_range})
        return config


class RandomBrightness(_RandomImageLayer):
    """Adds a random offset to each image while training, then clips to
    ``value_range``: delta uniform in [lower, upper] times the range's width.

    Args:
        factor: a number f (the pair (-f, f)) or a (lower, upper) pair in [-1, 1].
        value_range: the images' (low, high) range (default (0, 255)).
        seed: an integer seed.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_pair(self, factor, (-1, 1))
        self.value_range = _value_range(self, value_range)

    def _augment(self, images):
        width = self.value_range[1] - self.value_range[0]
        delta = self._per_sample(images, self.factor[0] * width, self.factor[1] * width)
        return ops.clip(images + delta, *self.value_range)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor, "value_range": self.value_range})
        return config


class RandomCrop(_TargetSize, _RandomImageLayer):
    """Crops a random (height, width) window while training, one offset per batch as
    Keras 3 draws it; images not larger than that are cropped to the target's aspect
    ratio and resized instead. At inference the centred window of the target's aspect
    ratio, resized to (height, width) (Keras 3.15 returns the images uncropped there,
    which changes the output shape between training and inference; a compiled graph
    needs one shape, so graphnet takes Keras 2's centre crop).

    Args:
        height, width: the output size.
        seed: an integer seed.
        data_format: "channels_last" or "channels_first".
    """

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.height = _size(self, "height", height)
        self.width = _size(self, "width", width)

    def _window(self, images, span, size):
        """The indices of a ``size`` window from a random start in [0, span]."""
        u = _random("uniform", images, [1], 0.0, float(span + 1), self.seed)
        return ops.add(ops.cast(ops.floor(u), "int32"), np.arange(size, dtype="int32"))

    def _augment(self, images):
        h, w = self._known_hw(images)
        if h <= self.height or w <= self.width:
            return self._aspect_crop_and_resize(images, self.height, self.width)
        h_axis, w_axis = self._axes()
        rows = ops.take(images, self._window(images, h - self.height, self.height),
                        axis=h_axis)
        return ops.take(rows, self._window(images, w - self.width, self.width), axis=w_axis)

    def call(self, inputs, training=None):
        images, single = self._batched(inputs)
        infer = self._aspect_crop_and_resize(images, self.height, self.width)
        out = ops.in_train_phase(self._augment(images), infer, training)
        return self._unbatched(out, single)

