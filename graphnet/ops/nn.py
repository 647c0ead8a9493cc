"""Convolution, pooling and padding ops over channels-last tensors (N, *spatial, C).

CONV(x, w) {strides, dilations, groups, padding}
    w is (*kernel, C / groups, O). ``padding`` is "valid", "same", "causal" or explicit
    ((lo, hi), ...) per spatial dim (negative values crop).
CONV_TRANSPOSE(x, w[, like]) {strides, dilations, groups, padding}
    The adjoint of CONV(., w): x has O channels, the output C = w.shape[-2] * groups.
    With ``like`` (the gradient of CONV) the output takes like's spatial size and
    ``padding`` is CONV's, resolved against it; without, ``padding`` is explicit and the
    output size is (n - 1) * s + dilated kernel - lo - hi (negative hi extends).
CONV_BACKWARD_FILTER(x, dy) {strides, dilations, groups, padding, kernel}
    Gradient of <CONV(x, w), dy> with respect to w.
POOL(x) {mode, window, strides, padding} and POOL_GRAD(x, dy) {same}
    Max or average pooling ("valid", "same" or explicit non-negative pads); padding is
    never read: average divides by the in-bounds count, as TensorFlow's 'same'.
PAD(x) {pads, value}: constant padding, pads ((lo, hi), ...) per dim, all >= 0.

Each lowers to one kernel of csrc/conv.c / csrc/pool.c, or FILL + COPY for PAD.
"""
import numpy as np

from ..graph.node import Node
from . import builders as ad
from .dtypes import contiguous_strides, require_float
from .elementwise import require_f32
from .layout import emit_copy
from .registry import CONTRACTION, LAYOUT, NN, Op, OpError, register

CONV_ATTRS = ("strides", "dilations", "groups", "padding")


def effective_kernel(k, d):
    return (k - 1) * d + 1


def same_pads(size, k, s, d=1):
    """TensorFlow's 'same' padding (the extra pixel at the end), as Keras computes it."""
    keff = effective_kernel(k, d)
    out = (size + s - 1) // s
    total = max(0, (out - 1) * s + keff - size)
    return total // 2, total - total // 2


def resolve_pads(padding, sizes, kernel, strides, dilations):
    """Explicit (lo, hi) per spatial dim; None where 'same' meets an unknown size."""
    if isinstance(padding, str):
        out = []
        for n, k, s, d in zip(sizes, kernel, strides, dilations):
            if padding == "valid":
                out.append((0, 0))
            elif padding == "causal":
                out.append((effective_kernel(k, d) - 1, 0))
            elif padding == "same":
                out.append(None if n is None else same_pads(n, k, s, d))
            else:
                raise OpError(f"unknown padding {padding!r}: use 'valid', 'same' or 'causal'")
        return out
    if len(padding) != len(sizes):
        raise OpError(f"padding {padding} needs one (lo, hi) pair per spatial dim "
                      f"({len(sizes)})")
    return [tuple(int(v) for v in p) for p in padding]


def conv_output_sizes(op_name, sizes, kernel, strides, dilations, pads, shapes):
    out = []
    for n, k, s, d, p in zip(sizes, kernel, strides, dilations, pads):
        if n is None or p is None:
            out.append(None)
            continue
        span = n + p[0] + p[1] - effective_kernel(k, d)
        if span < 0:
            what = "window" if op_name.startswith("POOL") else "kernel"
            raise OpError(f"{op_name}: the {what} (size {k}, dilation {d}) is larger than the "
                          f"padded input (size {n} + padding {p[0]}+{p[1]}): input shape "
                          f"{shapes[0]}, {what} shape {shapes[1]}")
        out.append(span // s + 1)
    return out


def _check_geometry(op_name, rank, attrs, kernel=None):
    for key in ("strides", "dilations"):
        vals = attrs.get(key)
        if vals is None or len(vals) != rank or any(int(v) < 1 for v in vals):
            raise OpError(f"{op_name}: {key} must be {rank} positive ints, got {vals}")
    if kernel is not None and any(k is None or k < 1 for k in kernel):
        raise OpError(f"{op_name}: kernel sizes must be positive, got {tuple(kernel)}")


def _check_conv_operands(op_name, x_shape, w_shape, groups):
    rank = len(x_shape) - 2
    if not 1 <= rank <= 3:
        raise OpError(f"{op_name} needs an input of rank 3, 4 or 5 (batch, spatial..., "
                      f"channels), got shape {x_shape}")
    if len(w_shape) != len(x_shape):
        raise OpError(f"{op_name}: input shape {x_shape} (rank {len(x_shape)}) and kernel "
                      f"shape {w_shape} (rank {len(w_shape)}) do not match: the kernel needs "
                      f"rank {len(x_shape)}")
    if groups < 1 or w_shape[-1] % groups:
        raise OpError(f"{op_name}: groups={groups} must divide the kernel's output channels "
                      f"(kernel shape {w_shape})")
    return rank


def _spatial3(vals, fill):
    vals = list(vals)
    return [fill] * (3 - len(vals)) + vals


def geometry(n, in_sizes, c, out_sizes, o, kernel, strides, dilations, pads_lo, groups):
    """The int64 geometry array of csrc/graphnet.h (enum gn_conv_geom)."""
    g = [int(n)] + _spatial3(in_sizes, 1) + [int(c)] + _spatial3(out_sizes, 1) + [int(o)]
    g += _spatial3(kernel, 1) + _spatial3(strides, 1) + _spatial3(dilations, 1)
    g += _spatial3(pads_lo, 0) + [int(groups)]
    return [int(v) for v in g]


# ---- NumPy references ---------------------------------------------------------------

def _pad_or_crop(x, pads, value=0.0):
    """Pad (positive) or crop (negative) the spatial axes 1..r of x."""
    crop = [slice(None)]
    widths = [(0, 0)]
    for lo, hi in pads:
        widths.append((max(lo, 0), max(hi, 0)))
    widths.append((0, 0))
    if any(w != (0, 0) for w in widths):
        x = np.pad(x, widths, constant_values=value)
    for (lo, hi), n in zip(pads, x.shape[1:-1]):
        crop.append(slice(max(-lo, 0), n - max(-hi, 0)))
    return x[tuple(crop)]


def _tap_slices(k, dilations, strides, out_sizes, offset=(0, 0, 0)):
    return (slice(None),) + tuple(
        slice(ki * d - o, ki * d - o + s * (n - 1) + 1, s)
        for ki, d, s, n, o in zip(k, dilations, strides, out_sizes, offset))


def conv_reference(x, w, strides, dilations, pads, groups):
    rank = x.ndim - 2
    kernel, cg, o = w.shape[:rank], w.shape[-2], w.shape[-1]
    og = o // groups
    xp = _pad_or_crop(x, pads)
    out_sizes = [(xp.shape[1 + i] - effective_kernel(kernel[i], dilations[i])) // strides[i] + 1
                 for i in range(rank)]
    n = x.shape[0]
    y = np.zeros((n, *out_sizes, groups, og), dtype=np.result_type(x, w))
    wg = w.reshape(*kernel, cg, groups, og)
    for k in np.ndindex(*kernel):
        patch = xp[_tap_slices(k, dilations, strides, out_sizes)]
        patch = patch.reshape(n, *out_sizes, groups, cg)
        y += np.einsum("...gc,cgo->...go", patch, wg[k])
    return y.reshape(n, *out_sizes, o)


def conv_transpose_reference(dy, w, strides, dilations, pads_lo, in_sizes, groups):
    """The adjoint of conv_reference: dx of shape (N, *in_sizes, groups * Cg)."""
    rank = dy.ndim - 2
    kernel, cg, o = w.shape[:rank], w.shape[-2], w.shape[-1]
    og = o // groups
    n_sizes = dy.shape[1:-1]
    base = [min(0, lo) for lo in pads_lo]
    full = [(n_sizes[i] - 1) * strides[i] + effective_kernel(kernel[i], dilations[i])
            for i in range(rank)]
    span = [max(full[i], pads_lo[i] + in_sizes[i]) - base[i] for i in range(rank)]
    n = dy.shape[0]
    buf = np.zeros((n, *span, groups, cg), dtype=np.result_type(dy, w))
    dyg = dy.reshape(n, *n_sizes, groups, og)
    wg = w.reshape(*kernel, cg, groups, og)
    for k in np.ndindex(*kernel):
        buf[_tap_slices(k, dilations, strides, n_sizes, base)] += np.einsum(
            "...go,cgo->...gc", dyg, wg[k])
    crop = (slice(None),) + tuple(slice(lo - b, lo - b + size)
                                  for lo, b, size in zip(pads_lo, base, in_sizes))
    return np.ascontiguousarray(buf[crop]).reshape(n, *in_sizes, groups * cg)


def conv_filter_reference(x, dy, kernel, strides, dilations, pads, groups):
    rank = x.ndim - 2
    c, o = x.shape[-1], dy.shape[-1]
    cg, og = c // groups, o // groups
    xp = _pad_or_crop(x, pads)
    out_sizes = dy.shape[1:-1]
    dyg = dy.reshape(-1, groups, og)
    dw = np.zeros((*kernel, cg, groups, og), dtype=np.result_type(x, dy))
    for k in np.ndindex(*kernel):
        patch = xp[_tap_slices(k, dilations, strides, out_sizes)].reshape(-1, groups, cg)
        dw[k] = np.einsum("rgc,rgo->cgo", patch, dyg)
    return dw.reshape(*kernel, cg, o)


# ---- convolution ops -------------------------------------------------------------------

def _conv_attrs(attrs):
    return {k: attrs[k] for k in CONV_ATTRS}


def _spatial(shape):
    return tuple(shape[1:-1])


@register
class Conv(Op):
    """CONV(x, w) {strides, dilations, groups, padding}: N-d grouped convolution."""
    name, group, arity = "CONV", CONTRACTION, 2

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        x, w = shapes
        groups = int(attrs["groups"])
        rank = _check_conv_operands(self.name, x, w, groups)
        kernel = w[:rank]
        _check_geometry(self.name, rank, attrs, kernel)
        if x[-1] is not None and w[-2] is not None and x[-1] != w[-2] * groups:
            raise OpError(f"{self.name}: the input has {x[-1]} channels but the kernel "
                          f"expects {w[-2] * groups} ({w[-2]} per group x {groups} groups): "
                          f"input shape {x}, kernel shape {w}")
        pads = resolve_pads(attrs["padding"], _spatial(x), kernel, attrs["strides"],
                            attrs["dilations"])
        out = conv_output_sizes(self.name, _spatial(x), kernel, attrs["strides"],
                                attrs["dilations"], pads, shapes)
        return (x[0], *out, w[-1]), require_float(self.name, dtypes)

    def pads(self, node):
        x, w = node.inputs
        return resolve_pads(node.attrs["padding"], _spatial(x.shape), w.shape[:x.ndim - 2],
                            node.attrs["strides"], node.attrs["dilations"])

    def perform(self, inputs, attrs):
        x, w = inputs
        pads = resolve_pads(attrs["padding"], x.shape[1:-1], w.shape[:x.ndim - 2],
                            attrs["strides"], attrs["dilations"])
        return conv_reference(x, w, attrs["strides"], attrs["dilations"], pads,
                              attrs["groups"]).astype(x.dtype)

    def grad(self, node, grad_output):
        x, w = node.inputs
        g = grad_output
        dx = Node("CONV_TRANSPOSE", (g, w, x), _conv_attrs(node.attrs))
        dw = Node("CONV_BACKWARD_FILTER", (x, g),
                  dict(_conv_attrs(node.attrs), kernel=tuple(w.shape[:x.ndim - 2])))
        return [dx, dw]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        x, w = node.inputs
        a = node.attrs
        geom = geometry(x.shape[0], _spatial(x.shape), x.shape[-1], _spatial(node.shape),
                        node.shape[-1], w.shape[:x.ndim - 2], a["strides"], a["dilations"],
                        [p[0] for p in self.pads(node)], a["groups"])
        _emit_conv(ctx, "GN_K_CONV", geom, ctx.inp(x), ctx.inp(w), node)


_WORK_KIND = {"GN_K_CONV": 0, "GN_K_CONV_BACKWARD_INPUT": 1, "GN_K_CONV_BACKWARD_FILTER": 2}


def _emit_conv(ctx, kernel, geom, a_slot, b_slot, node):
    """One convolution step with the workspace its C kernel asks for (sized for the thread
    count at compile time; with more threads at run time fewer of them share the work)."""
    from ..runtime.cext import ffi, lib
    work = int(lib.gn_conv_work_len(_WORK_KIND[kernel], ffi.new("int64_t[]", geom)))
    out = ctx.out(node)
    tmp = ctx.temp(max(work, 1) * 4)
    names = {"GN_K_CONV": ("x", "w", "y"), "GN_K_CONV_BACKWARD_INPUT": ("dy", "w", "dx"),
             "GN_K_CONV_BACKWARD_FILTER": ("x", "dy", "dw")}[kernel]
    ctx.emit(kernel, **dict(zip(names, (a_slot, b_slot, out))), work=tmp, work_len=work,
             geom=geom)


@register
class ConvTranspose(Op):
    """CONV_TRANSPOSE(x, w[, like]) {strides, dilations, groups, padding}: CONV's adjoint."""
    name, group, arity = "CONV_TRANSPOSE", CONTRACTION, None

    def infer(self, shapes, dtypes, attrs):
        if len(shapes) not in (2, 3):
            raise OpError(f"{self.name} takes 2 or 3 inputs, got {len(shapes)}")
        x, w = shapes[:2]
        groups = int(attrs["groups"])
        rank = _check_conv_operands(self.name, x, w, groups)
        kernel = w[:rank]
        _check_geometry(self.name, rank, attrs, kernel)
        if x[-1] is not None and x[-1] != w[-1]:
            raise OpError(f"{self.name}: the input has {x[-1]} channels but the kernel "
                          f"expects {w[-1]}: input shape {x}, kernel shape {w}")
        channels = w[-2] * groups
        if len(shapes) == 3:
            like = shapes[2]
            if len(like) != len(x):
                raise OpError(f"{self.name}: like shape {like} has not the rank of {x}")
            return (x[0], *like[1:-1], channels), require_float(self.name, dtypes[:2])
        pads = resolve_pads(attrs["padding"], _spatial(x), kernel, attrs["strides"],
                            attrs["dilations"])
        out = []
        for n, k, s, d, (lo, hi) in zip(_spatial(x), kernel, attrs["strides"],
                                        attrs["dilations"], pads):
            size = None if n is None else (n - 1) * s + effective_kernel(k, d) - lo - hi
            if size is not None and size < 1:
                raise OpError(f"{self.name}: negative output size {size} for input shape "
                              f"{x} and kernel shape {w} with padding {attrs['padding']}")
            out.append(size)
        return (x[0], *out, channels), require_float(self.name, dtypes[:2])

    def pads_lo(self, node):
        """Leading pads of the convolution this transposes, resolved on the output sizes."""
        x, w = node.inputs[:2]
        rank = x.ndim - 2
        pads = resolve_pads(node.attrs["padding"], _spatial(node.shape), w.shape[:rank],
                            node.attrs["strides"], node.attrs["dilations"])
        return [p[0] for p in pads]

    def perform(self, inputs, attrs):
        x, w = inputs[:2]
        rank = x.ndim - 2
        shape = self.infer([a.shape for a in inputs], [str(a.dtype) for a in inputs[:2]],
                           attrs)[0]
        pads = resolve_pads(attrs["padding"], shape[1:-1], w.shape[:rank], attrs["strides"],
                            attrs["dilations"])
        return conv_transpose_reference(x, w, attrs["strides"], attrs["dilations"],
                                        [p[0] for p in pads], shape[1:-1],
                                        attrs["groups"]).astype(x.dtype)

    def grad(self, node, grad_output):
        x, w = node.inputs[:2]
        g = grad_output
        dx = Node("CONV", (g, w), _conv_attrs(node.attrs))
        dw = Node("CONV_BACKWARD_FILTER", (g, x),
                  dict(_conv_attrs(node.attrs), kernel=tuple(w.shape[:x.ndim - 2])))
        return [dx, dw] + ([None] if len(node.inputs) == 3 else [])

    def lower(self, node, ctx):
        require_f32(node, ctx)
        x, w = node.inputs[:2]
        a = node.attrs
        geom = geometry(x.shape[0], _spatial(node.shape), node.shape[-1], _spatial(x.shape),
                        x.shape[-1], w.shape[:x.ndim - 2], a["strides"], a["dilations"],
                        self.pads_lo(node), a["groups"])
        _emit_conv(ctx, "GN_K_CONV_BACKWARD_INPUT", geom, ctx.inp(x), ctx.inp(w), node)


@register
class ConvBackwardFilter(Op):
    """CONV_BACKWARD_FILTER(x, dy) {strides, dilations, groups, padding, kernel}."""
    name, group, arity = "CONV_BACKWARD_FILTER", CONTRACTION, 2

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        x, dy = shapes
        groups = int(attrs["groups"])
        kernel = tuple(attrs["kernel"])
        rank = len(x) - 2
        if len(dy) != len(x) or len(kernel) != rank or not 1 <= rank <= 3:
            raise OpError(f"{self.name}: input {x}, output gradient {dy} and kernel "
                          f"{kernel} do not match")
        _check_geometry(self.name, rank, attrs, kernel)
        if x[-1] is None or dy[-1] is None or x[-1] % groups or dy[-1] % groups:
            raise OpError(f"{self.name}: channels of {x} and {dy} must be known and "
                          f"divisible by groups={groups}")
        return (*kernel, x[-1] // groups, dy[-1]), require_float(self.name, dtypes)

    def pads(self, node):
        x = node.inputs[0]
        return resolve_pads(node.attrs["padding"], _spatial(x.shape), node.attrs["kernel"],
                            node.attrs["strides"], node.attrs["dilations"])

    def perform(self, inputs, attrs):
        x, dy = inputs
        pads = resolve_pads(attrs["padding"], x.shape[1:-1], attrs["kernel"],
                            attrs["strides"], attrs["dilations"])
        return conv_filter_reference(x, dy, attrs["kernel"], attrs["strides"],
                                     attrs["dilations"], pads, attrs["groups"]).astype(x.dtype)

    def grad(self, node, grad_output):
        x, dy = node.inputs
        attrs = _conv_attrs(node.attrs)
        return [Node("CONV_TRANSPOSE", (dy, grad_output, x), attrs),
                Node("CONV", (x, grad_output), attrs)]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        x, dy = node.inputs
        a = node.attrs
        geom = geometry(x.shape[0], _spatial(x.shape), x.shape[-1], _spatial(dy.shape),
                        dy.shape[-1], a["kernel"], a["strides"], a["dilations"],
                        [p[0] for p in self.pads(node)], a["groups"])
        _emit_conv(ctx, "GN_K_CONV_BACKWARD_FILTER", geom, ctx.inp(x), ctx.inp(dy), node)


# ---- pooling ------------------------------------------------------------------------------

POOL_MODES = {"max": "GN_POOL_MAX", "avg": "GN_POOL_AVG"}


def _pool_setup(op_name, shape, attrs):
    rank = len(shape) - 2
    if not 1 <= rank <= 3:
        raise OpError(f"{op_name} needs an input of rank 3, 4 or 5 (batch, spatial..., "
                      f"channels), got shape {shape}")
    if attrs["mode"] not in POOL_MODES:
        raise OpError(f"{op_name}: mode must be 'max' or 'avg', got {attrs['mode']!r}")
    window = tuple(attrs["window"])
    if len(window) != rank or len(attrs["strides"]) != rank or \
            any(int(v) < 1 for v in window + tuple(attrs["strides"])):
        raise OpError(f"{op_name}: window {window} and strides {attrs['strides']} must be "
                      f"{rank} positive ints for input shape {shape}")
    ones = (1,) * rank
    pads = resolve_pads(attrs["padding"], shape[1:-1], window, attrs["strides"], ones)
    if any(p is not None and min(p) < 0 for p in pads):
        raise OpError(f"{op_name}: pooling pads must be >= 0, got {attrs['padding']}")
    return rank, window, pads


def pool_reference(x, mode, window, strides, pads):
    rank = x.ndim - 2
    out_sizes = [(x.shape[1 + i] + pads[i][0] + pads[i][1] - window[i]) // strides[i] + 1
                 for i in range(rank)]
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)], constant_values=fill)
    inside = np.pad(np.ones(x.shape[1:-1]), list(pads))[None, ..., None]
    acc, count = None, 0
    for k in np.ndindex(*window):
        sl = _tap_slices(k, (1,) * rank, strides, out_sizes)
        v = xp[sl]
        count = count + inside[sl]
        acc = v if acc is None else (np.maximum(acc, v) if mode == "max" else acc + v)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = acc if mode == "max" else acc / count
    return np.where(count > 0, out, 0).astype(x.dtype)


def pool_grad_reference(x, dy, mode, window, strides, pads):
    rank = x.ndim - 2
    out_sizes = dy.shape[1:-1]
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)], constant_values=fill)
    inside = np.pad(np.ones(x.shape[1:-1]), list(pads))[None, ..., None]
    dxp = np.zeros(xp.shape, dtype=dy.dtype)
    taps = [_tap_slices(k, (1,) * rank, strides, out_sizes) for k in np.ndindex(*window)]
    count = sum(inside[sl] for sl in taps)
    if mode == "avg":
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(count > 0, dy / np.maximum(count, 1), 0)
        for sl in taps:
            dxp[sl] += share * inside[sl]
    else:
        best = pool_reference(x, "max", window, strides, pads)
        taken = np.zeros(dy.shape, dtype=bool)
        for sl in taps:
            hit = (xp[sl] == best) & ~taken & (inside[sl] > 0)
            dxp[sl] += np.where(hit, dy, 0)
            taken |= hit
    crop = (slice(None),) + tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, x.shape[1:-1]))
    return np.ascontiguousarray(dxp[crop]).astype(x.dtype)


def _pool_geometry(x_shape, out_shape, window, strides, pads):
    rank = len(x_shape) - 2
    return geometry(x_shape[0], x_shape[1:-1], x_shape[-1], out_shape[1:-1], x_shape[-1],
                    window, strides, (1,) * rank, [p[0] for p in pads], 1)


@register
class Pool(Op):
    """POOL(x) {mode, window, strides, padding}: max or average pooling."""
    name, group, arity = "POOL", NN, 1

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        x = shapes[0]
        rank, window, pads = _pool_setup(self.name, x, attrs)
        out = conv_output_sizes(self.name, x[1:-1], window, attrs["strides"], (1,) * rank,
                                pads, [x, window])
        return (x[0], *out, x[-1]), require_float(self.name, dtypes)

    def perform(self, inputs, attrs):
        x = inputs[0]
        _, window, pads = _pool_setup(self.name, x.shape, attrs)
        return pool_reference(x, attrs["mode"], window, attrs["strides"], pads)

    def grad(self, node, grad_output):
        return [Node("POOL_GRAD", (node.inputs[0], grad_output), node.attrs)]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        x = node.inputs[0]
        _, window, pads = _pool_setup(self.name, x.shape, node.attrs)
        geom = _pool_geometry(x.shape, node.shape, window, node.attrs["strides"], pads)
        ctx.emit("GN_K_POOL", mode=ctx.c(POOL_MODES[node.attrs["mode"]]), x=ctx.inp(x),
                 y=ctx.out(node), geom=geom)


def _gather_at_window_max(node, g):
    """For each window of max POOL_GRAD(x, dy) ``node``: g (x's shape) at the window's
    first maximum of x in window order (POOL_GRAD's tie rule), as a tensor of dy's shape.

    Built from existing ops: x padded with NaN (padding never equals the maximum) and
    g with zeros, one strided SLICE per tap (start k, step stride, ending window-1-k
    before the padded end, so unknown sizes need no arithmetic), and WHERE(tap ==
    POOL(x), g_tap, ...) nested from the last tap to the first so the first tap wins."""
    x = node.inputs[0]
    _, window, pads = _pool_setup(node.op.name, x.shape, node.attrs)
    if any(p is None for p in pads):
        raise OpError(f"{node.op.name}: the second derivative of max pooling with "
                      f"padding={node.attrs['padding']!r} needs known spatial sizes, got "
                      f"input shape {x.shape}")
    strides = tuple(int(s) for s in node.attrs["strides"])
    best = Node("POOL", (x,), node.attrs)
    full = ((0, 0),) + tuple(tuple(int(v) for v in p) for p in pads) + ((0, 0),)
    padded = any(lo or hi for lo, hi in full)
    xp = ad.node("PAD", x, pads=full, value=float("nan")) if padded else x
    gp = ad.node("PAD", g, pads=full, value=0.0) if padded else g
    out = None
    for k in reversed(list(np.ndindex(*window))):
        begin = (0,) + k + (0,)
        end = (None,) + tuple(-(w - 1 - i) if w - 1 - i else None
                              for i, w in zip(k, window)) + (None,)
        attrs = dict(begin=begin, end=end, step=(1,) + strides + (1,))
        hit = ad.binary("EQUAL", ad.node("SLICE", xp, **attrs), best)
        out = ad.where(hit, ad.node("SLICE", gp, **attrs), 0.0 if out is None else out)
    return out


@register
class PoolGrad(Op):
    """POOL_GRAD(x, dy) {mode, window, strides, padding}: POOL's input gradient."""
    name, group, arity = "POOL_GRAD", NN, 2

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        _pool_setup(self.name, shapes[0], attrs)
        return shapes[0], require_float(self.name, dtypes)

    def perform(self, inputs, attrs):
        x, dy = inputs
        _, window, pads = _pool_setup(self.name, x.shape, attrs)
        return pool_grad_reference(x, dy, attrs["mode"], window, attrs["strides"], pads)

    def grad(self, node, grad_output):
        """POOL_GRAD is linear in dy; its adjoint is POOL for "avg" and, for "max", the
        gather of grad_output at each window's first maximum. With respect to x it is
        piecewise constant (zero almost everywhere), so x gets no gradient."""
        if node.attrs["mode"] == "avg":  # independent of x
            return [None, Node("POOL", (grad_output,), node.attrs)]
        return [None, _gather_at_window_max(node, grad_output)]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        x, dy = node.inputs
        _, window, pads = _pool_setup(self.name, x.shape, node.attrs)
        geom = _pool_geometry(x.shape, dy.shape, window, node.attrs["strides"], pads)
        ctx.emit("GN_K_POOL_BACKWARD", mode=ctx.c(POOL_MODES[node.attrs["mode"]]),
                 x=ctx.inp(x), dy=ctx.inp(dy), dx=ctx.out(node), geom=geom)


# ---- constant padding ------------------------------------------------------------------------

@register
class Pad(Op):
    """PAD(x) {pads, value}: pads ((lo, hi), ...) per dim, all >= 0."""
    name, group, arity = "PAD", LAYOUT, 1

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        x = shapes[0]
        pads = attrs["pads"]
        if len(pads) != len(x) or any(len(p) != 2 or min(p) < 0 for p in pads):
            raise OpError(f"PAD: pads {pads} need one non-negative (lo, hi) pair per dim of "
                          f"shape {x}")
        return tuple(None if d is None else d + lo + hi for d, (lo, hi) in zip(x, pads)), \
            dtypes[0]

    def perform(self, inputs, attrs):
        return np.pad(inputs[0], [tuple(p) for p in attrs["pads"]],
                      constant_values=attrs.get("value", 0.0))

    def grad(self, node, grad_output):
        x = node.inputs[0]
        pads = node.attrs["pads"]
        begin = tuple(lo for lo, _ in pads)
        end = tuple(lo + d if d is not None else (-hi if hi else None)
                    for d, (lo, hi) in zip(x.shape, pads))
        return [Node("SLICE", (grad_output,), {"begin": begin, "end": end,
                                               "step": (1,) * x.ndim})]

    def lower(self, node, ctx):
        x = node.inputs[0]
        pads = node.attrs["pads"]
        if any(lo or hi for lo, hi in pads) and node.dtype != "float32":
            raise OpError(f"PAD: the C kernels pad float32 only, got {node.dtype}")
        out = ctx.out(node)
        if node.size and any(lo or hi for lo, hi in pads):
            ctx.emit("GN_K_FILL", n=node.size, dst=out, value=float(node.attrs.get("value", 0.0)))
        if x.size:
            dst = contiguous_strides(node.shape)
            offset = sum(lo * s for (lo, _), s in zip(pads, dst))
            emit_copy(ctx, x.shape, ctx.inp(x), contiguous_strides(x.shape), out, dst,
                      x.dtype, dst_offset=offset)
