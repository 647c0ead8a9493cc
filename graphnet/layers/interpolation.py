"""Image resizing as two products with constant interpolation matrices.

Every interpolation ``keras.ops.image.resize`` offers on the torch backend (bilinear,
nearest, bicubic) is separable:
the output row i is a weighted sum of input rows, the same weights for every column and
channel. ``resize_matrix(n_in, n_out, interpolation, antialias)`` gives those weights as
an (n_out, n_in) matrix, computed as ``torch.nn.functional.interpolate`` computes them
(align_corners=False), and ``resize_images`` applies one matrix per spatial axis.
"""
import numpy as np

from .. import ops
from ..ops.api import reshape_dims

INTERPOLATIONS = ("bilinear", "nearest", "bicubic")


def _cubic(x, a):
    x = abs(x)
    if x <= 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def _antialiased(n_in, n_out, interpolation):
    """torch's separable antialiased weights (PIL's): the filter widened by the scale."""
    scale = np.float32(n_in / n_out)
    size, filt = (2, lambda x: max(0.0, 1.0 - abs(x))) if interpolation == "bilinear" else \
        (4, lambda x: _cubic(x, -0.5))
    support = size / 2 * scale if scale >= 1 else size / 2
    invscale = 1 / scale if scale >= 1 else 1.0
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = scale * np.float32(i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        w = np.array([filt((j - center + 0.5) * invscale) for j in range(lo, hi)])
        m[i, lo:hi] = w / w.sum() if w.sum() else w
    return m


def resize_matrix(n_in, n_out, interpolation="bilinear", antialias=False):
    """(n_out, n_in) float32 weights resizing one axis from n_in to n_out samples."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got "
                         f"{interpolation!r}")
    scale = np.float32(n_in / n_out)   # torch computes source coordinates in float32
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out, dtype=np.float32)
    if antialias and interpolation in ("bilinear", "bicubic"):
        m = _antialiased(n_in, n_out, interpolation)
    elif interpolation == "nearest":   # torch's "nearest-exact", as Keras asks for
        src = np.floor((rows + np.float32(0.5)) * scale).astype(np.int64)
        m[rows.astype(np.int64), np.minimum(src, n_in - 1)] = 1.0
    elif interpolation == "bilinear":
        rows = rows.astype(np.int64)
        src = np.maximum((rows.astype(np.float32) + np.float32(0.5)) * scale - np.float32(0.5),
                         np.float32(0.0))
        lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        frac = src - lo
        np.add.at(m, (rows, lo), 1 - frac)
        np.add.at(m, (rows, hi), frac)
    else:   # bicubic, a = -0.75, border indices clamped
        src = (rows + np.float32(0.5)) * scale - np.float32(0.5)
        rows = rows.astype(np.int64)
        base = np.floor(src).astype(np.int64)
        t = src - base
        for k in range(-1, 3):
            w = np.array([_cubic(k - f, -0.75) for f in t])
            np.add.at(m, (rows, np.clip(base + k, 0, n_in - 1)), w)
    return m.astype(np.float32)


def resize_images(images, height, width, data_format, interpolation="bilinear",
                  antialias=False):
    """Batched images (rank 4) resized to (height, width) by two matrix products."""
    first = data_format == "channels_first"
    h, w = images.shape[2:4] if first else images.shape[1:3]
    if h is None or w is None:
        raise ValueError(f"resizing needs known heights and widths, got images of shape "
                         f"{tuple(images.shape)}")
    if (h, w) == (height, width) and not antialias:
        return images
    mh = ops.convert_to_tensor(resize_matrix(h, height, interpolation, antialias))
    mw = resize_matrix(w, width, interpolation, antialias)
    if first:   # (N, C, H, W) @ mw^T, then mh @ (N, C, H, W')
        return ops.matmul(mh, ops.matmul(images, ops.convert_to_tensor(mw.T)))
    c = images.shape[3]
    rows = ops.matmul(mh, reshape_dims(images, [("in", 0), h, -1]))          # (N, H', W * C)
    cols = ops.matmul(ops.convert_to_tensor(mw), reshape_dims(rows, [-1, w, c]))
    return reshape_dims(cols, [-1, height, width, c])
