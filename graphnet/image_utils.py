"""``gn.utils.load_img`` / ``img_to_array`` / ``array_to_img`` / ``save_img``: Keras 3's
image file helpers, on Pillow (the optional extra ``graphnet[images]``)."""
import io
import pathlib
import warnings

import numpy as np

from .config import floatx, standardize_data_format

COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}
_GRAY_MODES = ("L", "I;16", "I")   # kept as they are by color_mode="grayscale"


def pillow(what):
    """``PIL.Image``, or an ImportError saying ``what`` needs Pillow."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(f"{what} needs Pillow: pip install pillow (or graphnet[images])") \
            from e
    return Image


def interpolation_methods(image_module):
    """Keras's names of Pillow's resampling filters."""
    filters = getattr(image_module, "Resampling", image_module)
    return {"nearest": filters.NEAREST, "bilinear": filters.BILINEAR,
            "bicubic": filters.BICUBIC, "hamming": filters.HAMMING, "box": filters.BOX,
            "lanczos": filters.LANCZOS}


def convert_mode(img, color_mode, what):
    """``img`` in ``color_mode`` ("grayscale" keeps 16- and 32-bit gray images)."""
    if color_mode not in COLOR_MODES:
        raise ValueError(f'{what}: color_mode must be "grayscale", "rgb", or "rgba", got '
                         f"{color_mode!r}")
    wanted = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}[color_mode]
    keep = _GRAY_MODES if color_mode == "grayscale" else (wanted,)
    return img if img.mode in keep else img.convert(wanted)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """Loads an image into a Pillow image (as ``keras.utils.load_img``).

    Args:
        path: a path (str, bytes or ``pathlib.Path``) or an ``io.BytesIO``.
        color_mode: "grayscale", "rgb" or "rgba".
        target_size: None (the file's size) or ``(height, width)``.
        interpolation: the resampling of a resize: "nearest", "bilinear", "bicubic",
            "hamming", "box" or "lanczos".
        keep_aspect_ratio: resize the largest centred crop of the target's aspect ratio
            instead of stretching the whole image.

    Returns:
        A ``PIL.Image.Image``.
    """
    image_module = pillow("load_img")
    if isinstance(path, io.BytesIO):
        img = image_module.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str)):
        with open(path, "rb") as f:
            img = image_module.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"load_img: path should be path-like or io.BytesIO, not "
                        f"{type(path).__name__}")
    img = convert_mode(img, color_mode, "load_img")
    if target_size is None:
        return img
    if len(target_size) != 2:
        raise ValueError(f"load_img: target_size must be (height, width), got {target_size!r}")
    width_height = (int(target_size[1]), int(target_size[0]))
    if img.size == width_height:
        return img
    methods = interpolation_methods(image_module)
    if interpolation not in methods:
        raise ValueError(f"load_img: invalid interpolation method {interpolation!r}; "
                         f"supported methods are {', '.join(methods)}")
    if not keep_aspect_ratio:
        return img.resize(width_height, methods[interpolation])
    width, height = img.size
    target_width, target_height = width_height
    crop_height = min(height, (width * target_height) // target_width)
    crop_width = min(width, (height * target_width) // target_height)
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return img.resize(width_height, methods[interpolation],
                      box=[left, top, left + crop_width, top + crop_height])


def img_to_array(img, data_format=None, dtype=None):
    """A Pillow image as a rank-3 NumPy array (``(height, width, channels)``, or
    channels first), of ``dtype`` (default ``gn.config.floatx()``)."""
    data_format = standardize_data_format(data_format)
    x = np.asarray(img, dtype=dtype or floatx())
    if x.ndim == 3:
        return x.transpose(2, 0, 1) if data_format == "channels_first" else x
    if x.ndim == 2:
        return x[None] if data_format == "channels_first" else x[..., None]
    raise ValueError(f"img_to_array: unsupported image shape {x.shape}, expected a rank-2 "
                     "or rank-3 image")


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A rank-3 array (1, 3 or 4 channels) as a Pillow image; ``scale`` maps its range
    onto 0-255 first (as ``keras.utils.array_to_img``)."""
    data_format = standardize_data_format(data_format)
    image_module = pillow("array_to_img")
    x = np.array(x, dtype=dtype or floatx())
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expected an image array of rank 3 (a single image), "
                         f"got an array of shape {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return image_module.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return image_module.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:   # a 32-bit gray image
            return image_module.fromarray(x[:, :, 0].astype("int32"), "I")
        return image_module.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img: unsupported channel number {channels}, expected 1, 3 "
                     "or 4")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Saves a rank-3 image array to ``path`` (a file name or file object); the format is
    ``file_format`` or the file name's extension; ``kwargs`` go to ``PIL.Image.save``."""
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("save_img: the JPEG format does not support RGBA images, converting "
                      "to RGB", stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format or None, **kwargs)


__all__ = ["load_img", "img_to_array", "array_to_img", "save_img"]
