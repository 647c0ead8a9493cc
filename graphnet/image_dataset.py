"""``gn.utils.image_dataset_from_directory``: Keras 3's image folders as a ``PyDataset`` of
float32 batches, the images decoded by Pillow and resized as ``keras.ops.image.resize``
resizes them on the torch backend (``graphnet.layers.interpolation``'s matrices)."""
import functools

import numpy as np

from .config import standardize_data_format
from .directory_datasets import index_and_split
from .image_utils import COLOR_MODES, convert_mode, pillow

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def _crop_box(height, width, target_height, target_width):
    """Keras's centred crop of the target's aspect ratio: (top, left, height, width)."""
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    return (int(float(height - crop_height) / 2), int(float(width - crop_width) / 2),
            crop_height, crop_width)


def _pad_widths(height, width, target_height, target_width):
    """Keras's zero padding to the target's aspect ratio: (rows, columns) on each side."""
    pad_height = max(height, int(float(width * target_height) / target_width))
    pad_width = max(width, int(float(height * target_width) / target_height))
    return int(float(pad_height - height) / 2), int(float(pad_width - width) / 2)


def resize_image(image, size, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False):
    """A (height, width, channels) float array resized to ``size`` = (height, width)."""
    from .layers.interpolation import resize_matrix   # late: layers import the whole API
    height, width = image.shape[:2]
    if crop_to_aspect_ratio:
        top, left, crop_height, crop_width = _crop_box(height, width, *size)
        image = image[top:top + crop_height, left:left + crop_width]
    elif pad_to_aspect_ratio:
        rows, columns = _pad_widths(height, width, *size)
        image = np.pad(image, ((rows, rows), (columns, columns), (0, 0)))
    rows = resize_matrix(image.shape[0], size[0], interpolation)
    columns = resize_matrix(image.shape[1], size[1], interpolation)
    return np.einsum("ih,hwc,jw->ijc", rows, image.astype("float32"), columns,
                     optimize=True).astype("float32")


def load_image(path, image_size, color_mode, interpolation, data_format,
               crop_to_aspect_ratio, pad_to_aspect_ratio):
    """One file as the dataset holds it: float32, resized, in ``data_format``."""
    image_module = pillow("image_dataset_from_directory")
    with image_module.open(path) as img:
        array = np.asarray(convert_mode(img, color_mode, "image_dataset_from_directory"),
                           dtype="float32")
    if array.ndim == 2:
        array = array[..., None]
    array = resize_image(array, image_size, interpolation, crop_to_aspect_ratio,
                         pad_to_aspect_ratio)
    return array.transpose(2, 0, 1) if data_format == "channels_first" else array


def _check_image_arguments(color_mode, image_size, interpolation, crop_to_aspect_ratio,
                           pad_to_aspect_ratio):
    from .layers.interpolation import INTERPOLATIONS
    what = "image_dataset_from_directory"
    if color_mode not in COLOR_MODES:
        raise ValueError(f'{what}: `color_mode` must be one of "rgb", "rgba", "grayscale", '
                         f"got color_mode={color_mode!r}")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if not isinstance(image_size, (list, tuple)) or len(image_size) != 2 or \
            not all(isinstance(d, int) and d > 0 for d in image_size):
        raise ValueError(f"{what}: `image_size` must be a tuple of 2 positive integers, got "
                         f"image_size={image_size!r}")
    if not isinstance(interpolation, str) or interpolation.lower() not in INTERPOLATIONS:
        raise ValueError(f"{what}: `interpolation` must be one of {INTERPOLATIONS} (Keras's "
                         "choices on the torch backend), got "
                         f"interpolation={interpolation!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(f"{what}: only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` "
                         "can be True")
    return tuple(image_size), interpolation.lower()


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, verbose=True):
    """A dataset of image batches from a directory (as
    ``keras.utils.image_dataset_from_directory``): ``directory/<class>/*.png`` gives the
    class of each image by its subdirectory.

    Args:
        directory: the images' directory (``.bmp``, ``.gif``, ``.jpeg``, ``.jpg``,
            ``.png`` files; a GIF gives its first frame).
        labels: "inferred" (from the subdirectories), None (images only), or a list of
            integer labels for the files in sorted order.
        label_mode: "int" (int32 labels), "categorical" (float32 one-hot), "binary"
            (float32 ``(n, 1)``, two classes) or None (images only).
        class_names: with "inferred", the subdirectories to use, in order.
        color_mode: "grayscale", "rgb" or "rgba" (1, 3 or 4 channels).
        batch_size: the batch size, or None for single images.
        image_size: ``(height, width)`` every image is resized to.
        shuffle: shuffle the files (by ``seed``) and the batches of every later epoch.
        seed: the seed of the shuffles.
        validation_split: the fraction of files held out for validation.
        subset: "training", "validation" or "both" (a list of the two datasets).
        interpolation: "bilinear", "nearest" or "bicubic".
        follow_links: follow symbolic links to subdirectories.
        crop_to_aspect_ratio: resize the largest centred crop of ``image_size``'s aspect
            ratio instead of stretching.
        pad_to_aspect_ratio: zero-pad to ``image_size``'s aspect ratio instead.
        data_format: "channels_last" or "channels_first" (default: the global setting).
        verbose: print how many files and classes were found.

    Returns:
        A ``DirectoryDataset`` (a ``gn.utils.PyDataset``) yielding ``(images, labels)``
        (or images alone) with ``class_names`` and ``file_paths``; a list of two with
        ``subset="both"``.
    """
    image_size, interpolation = _check_image_arguments(
        color_mode, image_size, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio)
    load = functools.partial(load_image, image_size=image_size, color_mode=color_mode,
                             interpolation=interpolation,
                             data_format=standardize_data_format(data_format),
                             crop_to_aspect_ratio=crop_to_aspect_ratio,
                             pad_to_aspect_ratio=pad_to_aspect_ratio)
    return index_and_split("image_dataset_from_directory", "images", directory, labels,
                           label_mode, class_names, batch_size, shuffle, seed,
                           validation_split, subset, follow_links, verbose, ALLOWLIST_FORMATS,
                           load)


__all__ = ["image_dataset_from_directory", "resize_image"]
