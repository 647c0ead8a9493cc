"""``keras.ops.image.extract_patches`` (gn.ops.image's, see image.py), built from
primitives (its gradients and exports are the primitives').

``extract_patches`` is Keras 3's: each output position holds one patch flattened in
(row, column, channel) order, channels fastest, as Keras's convolution with an identity
kernel gives on every backend. Non-overlapping patches (strides equal to the size, no
dilation, "valid" padding) are a crop, a reshape and a transpose; any other patching is
that convolution, as Keras computes it.
"""
import numpy as np

from . import api

__all__ = ["extract_patches"]


def _patch_size(size):
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        return (int(size),) * 2
    if not isinstance(size, (tuple, list)):
        raise TypeError("extract_patches: size must be an int or a tuple of 2 (or 3) ints, "
                        f"got size={size!r} of type {type(size).__name__}")
    if len(size) not in (2, 3):
        raise ValueError("extract_patches: size must be a tuple of length 2 (patch height, "
                         f"width) or 3 (depth, height, width), got size={tuple(size)}")
    return tuple(int(s) for s in size)


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    """Patches of ``images`` (``keras.ops.image.extract_patches``).

    Args:
        images: ``(H, W, C)`` or ``(N, H, W, C)`` for 2-D patches (channels_last);
            ``(D, H, W, C)`` or ``(N, D, H, W, C)`` for 3-D ones.
        size: an int or ``(patch_height, patch_width)``; ``(depth, height, width)`` for
            3-D patches.
        strides: steps between patches (None or empty: ``size``, non-overlapping).
        dilation_rate: the step between a patch's samples in the input.
        padding: "valid" or "same".
        data_format: "channels_last" or "channels_first" (None:
            ``gn.config.image_data_format()``).

    Returns:
        ``(N, rows, cols, patch_height * patch_width * C)`` (no N for unbatched input),
        each patch in (row, column, channel) order; channels_first puts the patch axis
        second.
    """
    size = _patch_size(size)
    rank = len(size)
    x = api.convert_to_tensor(images)
    if x.ndim not in (rank + 1, rank + 2):
        raise ValueError(f"extract_patches: {rank}-D patches need images of rank {rank + 1} "
                         f"(unbatched) or {rank + 2} (batched), got shape {x.shape}")
    strides = size if not strides else api.standardize_tuple(strides, rank, "strides")
    dilations = api.standardize_tuple(dilation_rate, rank, "dilation_rate")
    padding = api._padding_mode(padding)
    if not isinstance(padding, str):
        raise ValueError(f"extract_patches: padding must be 'valid' or 'same', got {padding!r}")
    data_format = api.standardize_data_format(data_format)
    unbatched = x.ndim == rank + 1
    if unbatched:
        x = api.expand_dims(x, 0)
    x = api.to_channels_last(x, data_format)
    if strides == size and dilations == (1,) * rank and padding == "valid":
        patches = _tiled_patches(x, size)
    else:
        channels = x.shape[-1]
        depth = int(np.prod(size)) * channels
        kernel = np.eye(depth, dtype=x.dtype).reshape(size + (channels, depth))
        patches = api.conv(x, kernel, strides=strides, padding=padding,
                           dilation_rate=dilations)
    patches = api.from_channels_last(patches, data_format)
    return api.squeeze(patches, 0) if unbatched else patches


def _tiled_patches(x, size):
    """Non-overlapping "valid" patches of channels_last ``x`` (N, *spatial, C): the whole
    patches cropped, each spatial axis split into (patches, patch size), and the patch
    sizes moved beside the channels."""
    spatial = x.shape[1:-1]
    counts = tuple(n // s for n, s in zip(spatial, size))
    if any(c == 0 for c in counts):
        raise ValueError(f"extract_patches: patches of size {size} do not fit in images of "
                         f"spatial shape {tuple(spatial)} with 'valid' padding")
    if any(c * s != n for c, s, n in zip(counts, size, spatial)):
        x = x[(slice(None),) + tuple(slice(0, c * s) for c, s in zip(counts, size))]
    rank = len(size)
    split = [None] + [d for pair in zip(counts, size) for d in pair] + [x.shape[-1]]
    x = api.reshape(x, split)
    perm = (0,) + tuple(1 + 2 * i for i in range(rank)) + \
        tuple(2 + 2 * i for i in range(rank)) + (2 * rank + 1,)
    x = api.transpose(x, perm)
    return api.reshape(x, (None,) + counts + (-1,))

