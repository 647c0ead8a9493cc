"""ONNX mappings of AFFINE_TRANSFORM and its gradient (graphnet/ops/image.py), registered
into onnx_export.MAPPINGS.

ONNX's GridSample samples every channel at one grid and reflects continuous coordinates,
where Keras's map_coordinates puts c0 and c1 on the channel index and fixes integer tap
indices (mirror, reflect, wrap), so the op is written with standard ops as csrc/affine.c
computes it: the coordinates of every (y, x, ch) from the transforms, the taps' weights
and fixed indices, GatherElements over each image's flattened pixels, fill_value where a
constant-mode tap falls outside. The images' gradient is ScatterElements (reduction add,
opset >= 16) of the same taps; the transforms' is the taps' slopes times dy, summed.
"""
import numpy as np

from ..ops.affine import COORD_LIMIT


class _Taps:
    """The taps of AFFINE_TRANSFORM's output in ONNX, all broadcast to (N, H, W, C)."""

    def __init__(self, c, transforms, shape):
        self.c, self.a = c, c.node.attrs
        self.h, self.w, self.ch = shape
        h, w, ch = shape
        self.y = c.c(np.arange(h).reshape(h, 1, 1))
        self.x = c.c(np.arange(w).reshape(1, w, 1))
        self.chan = c.c(np.arange(ch).reshape(1, 1, ch))
        m = [c.op("Reshape", [c.op("Gather", [transforms, c.e.const(k, "int64")], axis=1),
                              c.e.ints([-1, 1, 1, 1])]) for k in range(8)]
        self.m = m
        self.yin = self._coordinate(m[4], m[3], m[6], m[5])
        self.xin = self._coordinate(m[1], m[0], m[7], m[2])
        self.ty, self.tx = self._axis(self.yin, h), self._axis(self.xin, w)

    def _coordinate(self, my, mx, mc, offset):
        op = self.c.op
        s = op("Add", [op("Mul", [self.y, my]), op("Mul", [self.x, mx])])
        return op("Add", [op("Add", [s, op("Mul", [self.chan, mc])]), offset])

    def _axis(self, coord, size):
        """[(fixed int64 index, valid bool or None, weight, slope)] of one axis."""
        c, op = self.c, self.c.op
        limit = c.c(COORD_LIMIT)
        live = op("LessOrEqual", [op("Abs", [coord]), limit])
        coord = op("Where", [op("IsNaN", [coord]), c.c(-COORD_LIMIT),
                             op("Clip", [coord, c.c(-COORD_LIMIT), limit])])
        if self.a["interpolation"] == "nearest":
            nodes = [(op("Round", [coord]), c.c(1.0), None)]
        else:
            lower = op("Floor", [coord])
            upper = op("Sub", [coord, lower])
            slope = op("Cast", [live], to=self._float_type())
            nodes = [(lower, op("Sub", [c.c(1.0), upper]), op("Neg", [slope])),
                     (op("Add", [lower, c.c(1.0)]), upper, slope)]
        return [(self._fix(op("Cast", [i], to=7), size), self._valid(i, size), wt, sl)
                for i, wt, sl in nodes]

    def _float_type(self):
        return self.c.e.helper.np_dtype_to_tensor_dtype(np.dtype(self.c.dtype))

    def _valid(self, index, size):
        if self.a["fill_mode"] != "constant":
            return None
        op = self.c.op
        return op("And", [op("GreaterOrEqual", [index, self.c.c(0.0)]),
                          op("Less", [index, self.c.c(float(size))])])

    def _mirror(self, i, size):
        op, k = self.c.op, self.c.e.ints
        s = size - 1
        if s <= 0:
            return op("Mul", [i, k([0])])
        return op("Abs", [op("Sub", [op("Mod", [op("Add", [i, k([s])]), k([2 * s])]), k([s])])])

    def _fix(self, i, size):
        op, k, mode = self.c.op, self.c.e.ints, self.a["fill_mode"]
        if mode == "wrap":
            return op("Mod", [i, k([size])])
        if mode == "mirror":
            return self._mirror(i, size)
        if mode == "reflect":
            twice = op("Add", [op("Mul", [i, k([2])]), k([1])])
            return op("Div", [op("Sub", [self._mirror(twice, 2 * size + 1), k([1])]), k([2])])
        return op("Clip", [i, self.c.e.const(0, "int64"), self.c.e.const(size - 1, "int64")])

    def flat_index(self, iy, ix):
        """(N, H * W * C) int64 positions in a flattened channels-last image."""
        op, k = self.c.op, self.c.e.ints
        chan = k(np.arange(self.ch).reshape(1, 1, self.ch))
        pos = op("Add", [op("Mul", [op("Add", [op("Mul", [iy, k([self.w])]), ix]),
                                    k([self.ch])]), chan])
        return op("Reshape", [op("Expand", [pos, op("Shape", [self.yin])]),
                              k([-1, self.h * self.w * self.ch])])

    def pairs(self):
        """(y tap, x tap, flat index, valid or None) in Keras's order."""
        for ty in self.ty:
            for tx in self.tx:
                valid = ty[1] if tx[1] is None else tx[1] if ty[1] is None else \
                    self.c.op("And", [ty[1], tx[1]])
                yield ty, tx, self.flat_index(ty[0], tx[0]), valid


def _channels_last(c, name, node):
    if not c.node.attrs["channels_first"]:
        return name, tuple(node.shape[1:])
    _, ch, h, w = node.shape
    return c.op("Transpose", [name], perm=[0, 2, 3, 1]), (h, w, ch)


def _channels_back(c, name):
    return c.op("Transpose", [name], perm=[0, 3, 1, 2]) if c.node.attrs["channels_first"] \
        else name


def _flat(c, name, shape):
    return c.op("Reshape", [name, c.e.ints([-1, int(np.prod(shape))])])


def _read(c, flat_images, taps, index, valid):
    value = c.op("Reshape", [c.op("GatherElements", [flat_images, index], axis=1),
                             c.op("Shape", [taps.yin])])
    if valid is None:
        return value
    return c.op("Where", [valid, value, c.c(c.node.attrs["fill_value"])])


def _affine_transform(c):
    images, shape = _channels_last(c, c.ins[0], c.node.inputs[0])
    taps = _Taps(c, c.ins[1], shape)
    flat = _flat(c, images, shape)
    out = None
    for ty, tx, index, valid in taps.pairs():
        term = c.op("Mul", [c.op("Mul", [ty[2], tx[2]]), _read(c, flat, taps, index, valid)])
        out = term if out is None else c.op("Add", [out, term])
    return _channels_back(c, out)


def _affine_transform_grad(c):
    wrt = c.node.attrs["wrt"]
    dy, shape = _channels_last(c, c.ins[1], c.node.inputs[1])
    taps = _Taps(c, c.ins[0], shape)
    if wrt == 0:
        if c.e.opset < 16:
            c.fail("the images' gradient needs opset >= 16 (ScatterElements reduction)")
        flat_dy = _flat(c, dy, shape)
        zero = c.e.numpy_helper.from_array(np.zeros(1, c.dtype), "value")
        dx = c.op("ConstantOfShape", [c.op("Shape", [flat_dy])], value=zero)
        for ty, tx, index, valid in taps.pairs():
            w = c.op("Mul", [c.op("Mul", [ty[2], tx[2]]), dy])
            if valid is not None:
                w = c.op("Where", [valid, w, c.c(0.0)])
            dx = c.op("ScatterElements", [dx, index, _flat(c, w, shape)], axis=1,
                      reduction="add")
        return _channels_back(c, c.op("Reshape", [dx, c.e.ints([-1, *shape])]))
    images, _ = _channels_last(c, c.ins[2], c.node.inputs[2])
    flat = _flat(c, images, shape)
    n = c.op("Gather", [c.op("Shape", [c.ins[0]]), c.e.const(0, "int64")])
    if c.node.attrs["interpolation"] == "nearest":   # rounding has slope 0
        zero = c.e.numpy_helper.from_array(np.zeros(1, c.dtype), "value")
        return c.op("ConstantOfShape", [c.op("Concat", [c.op("Unsqueeze", [n, c.e.ints([0])]),
                                                        c.e.ints([8])], axis=0)], value=zero)
    gy = gx = None
    for ty, tx, index, valid in taps.pairs():
        value = _read(c, flat, taps, index, valid)
        dyv = c.op("Mul", [c.op("Mul", [ty[3], tx[2]]), value])
        dxv = c.op("Mul", [c.op("Mul", [ty[2], tx[3]]), value])
        gy = dyv if gy is None else c.op("Add", [gy, dyv])
        gx = dxv if gx is None else c.op("Add", [gx, dxv])
    gy, gx = c.op("Mul", [gy, dy]), c.op("Mul", [gx, dy])
    axes = [1, 2, 3]
    columns = [(gx, taps.x), (gx, taps.y), (gx, None), (gy, taps.x), (gy, taps.y), (gy, None),
               (gy, taps.chan), (gx, taps.chan)]
    sums = [c.e.reduce("ReduceSum", g if by is None else c.op("Mul", [g, by]), axes, False)
            for g, by in columns]
    return c.op("Concat", [c.op("Unsqueeze", [s, c.e.ints([1])]) for s in sums], axis=1)


MAPPINGS = {"AFFINE_TRANSFORM": _affine_transform,
            "AFFINE_TRANSFORM_GRAD": _affine_transform_grad}
