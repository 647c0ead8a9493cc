"""``keras.ops.image.affine_transform`` (gn.ops.image's, see image.py).

AFFINE_TRANSFORM(images, transforms) {interpolation, fill_mode, fill_value,
channels_first} samples each image at its transform (csrc/affine.c); its gradients, with
respect to the images and to the transforms, are AFFINE_TRANSFORM_GRAD {wrt 0 / 1}.
"""
import numpy as np

from ..graph.node import Node
from . import api
from .dtypes import require_float
from .elementwise import require_f32
from .registry import NN, Op, OpError, register

__all__ = ["affine_transform"]

INTERPOLATIONS = {"nearest": "GN_AFFINE_NEAREST", "bilinear": "GN_AFFINE_BILINEAR"}
FILL_MODES = {"constant": "GN_FILL_CONSTANT", "nearest": "GN_FILL_NEAREST",
              "wrap": "GN_FILL_WRAP", "mirror": "GN_FILL_MIRROR", "reflect": "GN_FILL_REFLECT"}
COORD_LIMIT = float(2 ** 24)   # as csrc/affine.c: coordinates are clamped to +-2^24


def check_sampling(what, interpolation, fill_mode, interpolations, fill_modes):
    """Refuse, naming ``what`` and the argument, an interpolation or fill mode not among
    those given."""
    for name, value, choices in (("interpolation", interpolation, interpolations),
                                 ("fill_mode", fill_mode, fill_modes)):
        if value not in choices:
            raise ValueError(f"{what}: {name} must be one of {tuple(choices)}, got "
                             f"{name}={value!r}")


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    """Applies one affine transform per image, as ``keras.ops.image.affine_transform``.

    Args:
        images: ``(N, H, W, C)`` or one ``(H, W, C)`` image (channels_first: ``(N, C, H,
            W)`` / ``(C, H, W)``).
        transform: ``(N, 8)`` or one ``(8,)`` transform ``[a0, a1, a2, b0, b1, b2, c0,
            c1]``: output pixel (y, x) of channel ch reads the input at ``(y * b1 + x * b0
            + ch * c0 + b2, y * a1 + x * a0 + ch * c1 + a2)`` (Keras puts c0 and c1 on the
            channel index; there is no projective division).
        interpolation: "bilinear" or "nearest" (rounding half to even).
        fill_mode: "constant", "nearest", "wrap", "mirror" or "reflect": how a point
            outside the image is read.
        fill_value: what "constant" reads outside the image.
        data_format: "channels_last" or "channels_first".

    Returns:
        The transformed images, of the shape and dtype of ``images``.
    """
    data_format = api.standardize_data_format(data_format)
    check_sampling("affine_transform", interpolation, fill_mode, INTERPOLATIONS, FILL_MODES)
    images, transform = api.convert_to_tensor(images), api.convert_to_tensor(transform)
    if images.ndim not in (3, 4):
        raise ValueError(f"affine_transform: images must be of rank 3 (one image) or 4 (a "
                         f"batch), got shape {tuple(images.shape)}")
    if transform.ndim not in (1, 2) or transform.shape[-1] != 8:
        raise ValueError(f"affine_transform: transform must be of shape (8,) or (N, 8), got "
                         f"shape {tuple(transform.shape)}")
    single = images.ndim == 3
    if single:
        images = api.expand_dims(images, 0)
    if transform.ndim == 1:
        transform = api.expand_dims(transform, 0)
    dtype = images.dtype
    compute = dtype if dtype in ("float32", "float64") else "float32"
    out = api._wrap(Node("AFFINE_TRANSFORM", (api.cast(images, compute).node,
                                              api.cast(transform, compute).node),
                         {"interpolation": interpolation, "fill_mode": fill_mode,
                          "fill_value": float(fill_value),
                          "channels_first": data_format == "channels_first"}))
    if compute != dtype:
        if dtype != "bool" and np.issubdtype(np.dtype(dtype), np.integer):
            out = api.round(out)   # Keras rounds integer images
        out = api.cast(out, dtype)
    return api.squeeze(out, 0) if single else out


# -- the NumPy reference ---------------------------------------------------------------------
def _mirror(i, size):
    s = size - 1
    return np.zeros_like(i) if s <= 0 else np.abs(np.mod(i + s, 2 * s) - s)


def _fix(fill_mode, i, size):
    if fill_mode == "wrap":
        return np.mod(i, size)
    if fill_mode == "mirror":
        return _mirror(i, size)
    if fill_mode == "reflect":
        return (_mirror(2 * i + 1, 2 * size + 1) - 1) // 2
    return np.clip(i, 0, size - 1)


def _taps(coord, size, attrs):
    """[(fixed index, valid, weight, slope)] of one axis; slope: d weight / d coord."""
    clamped = ~(np.abs(coord) <= COORD_LIMIT)
    coord = np.where(clamped, np.where(coord > 0, COORD_LIMIT, -COORD_LIMIT), coord)
    if attrs["interpolation"] == "nearest":
        nodes = [(np.rint(coord).astype(np.int64), np.ones_like(coord), 0.0)]
    else:
        lower = np.floor(coord)
        upper = coord - lower
        live = np.where(clamped, 0.0, 1.0)
        nodes = [(lower.astype(np.int64), 1 - upper, -live), (lower.astype(np.int64) + 1,
                                                               upper, live)]
    constant = attrs["fill_mode"] == "constant"
    return [(_fix(attrs["fill_mode"], i, size), ((i >= 0) & (i < size)) | (not constant),
             w, slope) for i, w, slope in nodes]


def _sample_grid(images, transforms, attrs):
    """Channels-last images and, per image, the taps of every (y, x, ch)."""
    if attrs["channels_first"]:
        images = np.moveaxis(images, 1, -1)
    _, h, w, c = images.shape
    y, x, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    dtype = transforms.dtype
    y, x, ch = (a.astype(dtype) for a in (y, x, ch))
    grids = []
    for m in transforms:
        yin = y * m[4] + x * m[3] + ch * m[6] + m[5]
        xin = y * m[1] + x * m[0] + ch * m[7] + m[2]
        grids.append((_taps(yin, h, attrs), _taps(xin, w, attrs)))
    return images, grids, (y, x, ch)


def _read(image, iy, ix, ch, valid, fill):
    return np.where(valid, image[iy, ix, ch], fill)


def _ch_index(c, shape):
    return np.broadcast_to(np.arange(c), shape)


def _channels_back(out, attrs):
    return np.moveaxis(out, -1, 1) if attrs["channels_first"] else out


def affine_reference(images, transforms, attrs):
    images, grids, _ = _sample_grid(images, transforms, attrs)
    out = np.zeros_like(images)
    fill = images.dtype.type(attrs["fill_value"])
    chs = _ch_index(images.shape[3], images.shape[1:])
    for b, (ty, tx) in enumerate(grids):
        for iy, vy, wy, _ in ty:
            for ix, vx, wx, _ in tx:
                out[b] += wy * wx * _read(images[b], iy, ix, chs, vy & vx, fill)
    return _channels_back(out, attrs)


def affine_grad_reference(wrt, images, transforms, dy, attrs):
    if attrs["channels_first"]:
        dy = np.moveaxis(dy, 1, -1)
    like = images if images is not None else np.zeros(
        _channels_back(dy, attrs).shape, dy.dtype)
    images, grids, (y, x, ch) = _sample_grid(like, transforms, attrs)
    chs = _ch_index(images.shape[3], images.shape[1:])
    if wrt == 0:
        dx = np.zeros_like(images)
        for b, (ty, tx) in enumerate(grids):
            for iy, vy, wy, _ in ty:
                for ix, vx, wx, _ in tx:
                    np.add.at(dx[b], (iy, ix, chs), np.where(vy & vx, wy * wx * dy[b], 0))
        return _channels_back(dx, attrs)
    fill = images.dtype.type(attrs["fill_value"])
    out = np.zeros(transforms.shape, transforms.dtype)
    for b, (ty, tx) in enumerate(grids):
        gy = sum(sy * wx * _read(images[b], iy, ix, chs, vy & vx, fill)
                 for iy, vy, _, sy in ty for ix, vx, wx, _ in tx) * dy[b]
        gx = sum(wy * sx * _read(images[b], iy, ix, chs, vy & vx, fill)
                 for iy, vy, wy, _ in ty for ix, vx, _, sx in tx) * dy[b]
        out[b] = [np.sum(gx * x), np.sum(gx * y), np.sum(gx), np.sum(gy * x),
                  np.sum(gy * y), np.sum(gy), np.sum(gy * ch), np.sum(gx * ch)]
    return out


# -- the ops ---------------------------------------------------------------------------------
def _check_attrs(name, attrs):
    if attrs["interpolation"] not in INTERPOLATIONS or attrs["fill_mode"] not in FILL_MODES:
        raise OpError(f"{name}: unknown interpolation {attrs['interpolation']!r} or fill mode "
                      f"{attrs['fill_mode']!r}")


def _check_shapes(name, images, transforms):
    if len(images) != 4 or len(transforms) != 2 or transforms[1] != 8:
        raise OpError(f"{name}: needs (N, H, W, C) images and (N, 8) transforms, got "
                      f"{images} and {transforms}")
    if None not in (images[0], transforms[0]) and images[0] != transforms[0]:
        raise OpError(f"{name}: {images[0]} images but {transforms[0]} transforms")


def _geometry(node, images_shape):
    n, a, b, c = images_shape
    h, w, c = (b, c, a) if node.attrs["channels_first"] else (a, b, c)
    return dict(interpolation=_enum(INTERPOLATIONS, node.attrs["interpolation"]),
                fill_mode=_enum(FILL_MODES, node.attrs["fill_mode"]),
                channels_first=int(node.attrs["channels_first"]), n=n, h=h, w=w, c=c)


def _enum(table, key):
    from ..runtime.abi import VALUES
    return VALUES[table[key]]


@register
class AffineTransform(Op):
    """AFFINE_TRANSFORM(images, transforms) {interpolation, fill_mode, fill_value,
    channels_first}: ``affine_transform`` of (N, H, W, C) images (or (N, C, H, W)) by
    (N, 8) transforms."""
    name, group, arity = "AFFINE_TRANSFORM", NN, 2

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        _check_attrs(self.name, attrs)
        _check_shapes(self.name, *shapes)
        return tuple(shapes[0]), require_float(self.name, dtypes)

    def perform(self, inputs, attrs):
        return affine_reference(*inputs, attrs)

    def grad(self, node, grad_output):
        images, transforms = node.inputs
        return [Node("AFFINE_TRANSFORM_GRAD", (transforms, grad_output),
                     dict(node.attrs, wrt=0)),
                Node("AFFINE_TRANSFORM_GRAD", (transforms, grad_output, images),
                     dict(node.attrs, wrt=1))]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        images, transforms = node.inputs
        out = ctx.out(node)
        ctx.emit("GN_K_AFFINE_TRANSFORM", **_geometry(node, images.shape),
                 images=ctx.inp(images), transforms=ctx.inp(transforms), out=out,
                 fill_value=node.attrs["fill_value"])


@register
class AffineTransformGrad(Op):
    """AFFINE_TRANSFORM_GRAD(transforms, dy[, images]) {wrt, AFFINE_TRANSFORM's attrs}:
    AFFINE_TRANSFORM's gradient from dy with respect to its images (wrt 0, the shape of
    dy) or its transforms (wrt 1, (N, 8), which needs the images)."""
    name, group, arity = "AFFINE_TRANSFORM_GRAD", NN, None

    def infer(self, shapes, dtypes, attrs):
        _check_attrs(self.name, attrs)
        wrt = attrs["wrt"]
        if wrt not in (0, 1) or len(shapes) != 2 + wrt:
            raise OpError(f"{self.name}: wrt 0 takes (transforms, dy), wrt 1 (transforms, "
                          f"dy, images); got wrt={wrt!r} and {len(shapes)} inputs")
        transforms, dy = shapes[:2]
        _check_shapes(self.name, dy, transforms)
        if wrt == 1 and len(shapes[2]) == 4 and any(
                a is not None and b is not None and a != b for a, b in zip(shapes[2], dy)):
            raise OpError(f"{self.name}: images {shapes[2]} and dy {dy} differ")
        dtype = require_float(self.name, dtypes)
        return (tuple(dy) if wrt == 0 else tuple(transforms)), dtype

    def perform(self, inputs, attrs):
        transforms, dy = inputs[:2]
        images = inputs[2] if attrs["wrt"] == 1 else None
        return affine_grad_reference(attrs["wrt"], images, transforms, dy, attrs)

    def lower(self, node, ctx):
        require_f32(node, ctx)
        transforms, dy = node.inputs[:2]
        images = ctx.inp(node.inputs[2]) if node.attrs["wrt"] == 1 else -1
        grad = ctx.out(node)
        ctx.emit("GN_K_AFFINE_TRANSFORM_GRAD", wrt=node.attrs["wrt"],
                 **_geometry(node, dy.shape), images=images, transforms=ctx.inp(transforms),
                 dy=ctx.inp(dy), grad=grad, fill_value=node.attrs["fill_value"])
