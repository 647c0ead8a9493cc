"""ONNX export: the compiled, optimized op graph mapped op by op to standard ONNX ops.

The graph is specialized and optimized exactly as for a plan (graphnet.compiler:
specialize, then the simplify/fold/fuse phases). For a dynamic batch it is done
twice, at two batch sizes: the two graphs must match node for node, and whatever
differs between them (a dimension, a reshape target) depends on the batch and is
written symbolically (dim_param "batch", -1 in a Reshape). Every op of
``graphnet.ops.all_ops()`` has an entry in ``MAPPINGS`` (sources are graph inputs and
initializers); an op without one raises ``ONNXExportError`` naming it.

``onnx`` is an optional dependency, imported only when exporting.
"""
import numpy as np

from ..compiler import CompileReport, run_phases, specialize
from ..compiler.unroll import unrolled
from ..graph.graph import topological_order
from .onnx_image import MAPPINGS as IMAGE_MAPPINGS
from ..ops.attention import attention_expansion
from .onnx_recurrent import MAPPINGS as RECURRENT_MAPPINGS
from .source import graph_of

MIN_OPSET, DEFAULT_OPSET = 13, 17
PROBE_BATCHES = (3, 5)
INT64_MAX, INT64_MIN = (1 << 63) - 1, -(1 << 63)


class ONNXExportError(ValueError):
    """The graph cannot be written as ONNX (names the op and why)."""


def _require_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise ImportError("graphnet.export.to_onnx needs the optional 'onnx' package: "
                          "pip install onnx (and onnxruntime to run the result)") from None
    return onnx, helper, numpy_helper


class Emitter:
    """Accumulates ONNX nodes and initializers with unique names."""

    def __init__(self, opset):
        self.onnx, self.helper, self.numpy_helper = _require_onnx()
        self.opset = opset
        self.nodes, self.initializers = [], []
        self._used, self._consts = set(), {}

    def fresh(self, prefix):
        prefix = "".join(c if c.isalnum() or c in "_./:" else "_" for c in prefix) or "v"
        name, k = prefix, 0
        while name in self._used:
            k += 1
            name = f"{prefix}_{k}"
        self._used.add(name)
        return name

    def initializer(self, array, prefix="const"):
        array = np.asarray(array, order="C")
        name = self.fresh(prefix)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def const(self, value, dtype="float32"):
        """A (cached) constant: a scalar or array of ``dtype``."""
        array = np.asarray(value, dtype=np.dtype(dtype))
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._consts:
            self._consts[key] = self.initializer(array, "c")
        return self._consts[key]

    def ints(self, values):
        return self.const(np.asarray(list(values), dtype=np.int64), "int64")

    def op(self, op_type, inputs, outputs=1, **attrs):
        names = [self.fresh(f"{op_type.lower()}_out") for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names,
                                                name=self.fresh(op_type), **attrs))
        return names[0] if outputs == 1 else names

    def reduce(self, op_type, x, axes, keepdims):
        """Reduce* with axes as an attribute (opset < 18; ReduceSum < 13) or an input."""
        axes_as_input = self.opset >= 18 or op_type == "ReduceSum"
        if axes_as_input:
            return self.op(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.op(op_type, [x], axes=list(axes), keepdims=int(keepdims))


# -- dtype ----------------------------------------------------------------------------------
def _onnx_dtype(helper, dtype):
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


# -- mapping of each op ----------------------------------------------------------------------
class Ctx:
    """What a mapping function sees: the emitter, the node (at the first probe batch), its
    twin at the second probe batch (or None), and the ONNX names of its inputs."""

    def __init__(self, e, node, twin, ins):
        self.e, self.node, self.twin, self.ins = e, node, twin, ins
        self.dtype = node.dtype

    def c(self, value, dtype=None):
        return self.e.const(value, dtype or self.dtype)

    def op(self, *args, **kwargs):
        return self.e.op(*args, **kwargs)

    def fail(self, why):
        raise ONNXExportError(f"op {self.node.op.name} cannot be exported to ONNX: {why}")

    def batch_dependent(self, a, b):
        """Positions where two shape-like tuples differ between the probe batches."""
        if self.twin is None:
            return []
        return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


def _simple(op_type):
    return lambda c: c.op(op_type, c.ins)


def _softplus(c, x):
    return c.op("Softplus", [x])


def _gelu(c):
    x = c.ins[0]
    erf = c.op("Erf", [c.op("Mul", [x, c.c(0.7071067811865476)])])
    return c.op("Mul", [c.op("Mul", [x, c.c(0.5)]), c.op("Add", [erf, c.c(1.0)])])


def _gelu_tanh(c):
    x = c.ins[0]
    cube = c.op("Mul", [c.op("Mul", [x, x]), x])
    inner = c.op("Mul", [c.op("Add", [x, c.op("Mul", [cube, c.c(0.044715)])]),
                         c.c(0.7978845608028654)])
    return c.op("Mul", [c.op("Mul", [x, c.c(0.5)]), c.op("Add", [c.op("Tanh", [inner]),
                                                                c.c(1.0)])])


def _attr(c, key, default=0.0):
    return float(c.node.attrs.get(key, default))


UNARY = {
    "NEG": _simple("Neg"), "ABS": _simple("Abs"), "SIGN": _simple("Sign"),
    "SQUARE": lambda c: c.op("Mul", [c.ins[0], c.ins[0]]),
    "SQRT": _simple("Sqrt"),
    "RSQRT": lambda c: c.op("Reciprocal", [c.op("Sqrt", c.ins)]),
    "RECIPROCAL": _simple("Reciprocal"), "EXP": _simple("Exp"),
    "EXPM1": lambda c: c.op("Sub", [c.op("Exp", c.ins), c.c(1.0)]),
    "LOG": _simple("Log"),
    "LOG1P": lambda c: c.op("Log", [c.op("Add", [c.ins[0], c.c(1.0)])]),
    "SIN": _simple("Sin"), "COS": _simple("Cos"), "TAN": _simple("Tan"),
    "ATAN": _simple("Atan"), "TANH": _simple("Tanh"), "SIGMOID": _simple("Sigmoid"),
    "RELU": _simple("Relu"),
    "RELU6": lambda c: c.op("Clip", [c.ins[0], c.c(0.0), c.c(6.0)]),
    "LEAKY_RELU": lambda c: c.op("LeakyRelu", c.ins, alpha=_attr(c, "alpha")),
    "ELU": lambda c: c.op("Elu", c.ins, alpha=_attr(c, "alpha")),
    "SELU": lambda c: c.op("Selu", c.ins, alpha=1.6732632423543772,
                           gamma=1.0507009873554805),
    "SOFTPLUS": lambda c: _softplus(c, c.ins[0]),
    "SOFTSIGN": _simple("Softsign"),
    "HARD_SIGMOID": lambda c: c.op("HardSigmoid", c.ins, alpha=1.0 / 6.0, beta=0.5),
    "HARD_SILU": _simple("HardSwish"),
    "GELU": _gelu, "GELU_TANH": _gelu_tanh,
    "SILU": lambda c: c.op("Mul", [c.ins[0], c.op("Sigmoid", c.ins)]),
    "MISH": lambda c: c.op("Mul", [c.ins[0], c.op("Tanh", [_softplus(c, c.ins[0])])]),
    "LOG_SIGMOID": lambda c: c.op("Neg", [_softplus(c, c.op("Neg", c.ins))]),
    "ERF": _simple("Erf"), "FLOOR": _simple("Floor"), "CEIL": _simple("Ceil"),
    "ROUND": _simple("Round"),
    "CLIP": lambda c: c.op("Clip", [c.ins[0], c.c(_attr(c, "alpha")), c.c(_attr(c, "beta"))]),
    "AFFINE": lambda c: c.op("Add", [c.op("Mul", [c.ins[0], c.c(_attr(c, "alpha"))]),
                                     c.c(_attr(c, "beta"))]),
    "POW_SCALAR": lambda c: c.op("Pow", [c.ins[0], c.c(_attr(c, "alpha"))]),
}


def _mod(c):
    """NumPy's floored modulo (sign of the divisor), as the C kernel computes it."""
    a, b = c.ins
    r = c.op("Mod", [a, b], fmod=1)
    zero = c.c(0.0)
    wrong_sign = c.op("And", [c.op("Not", [c.op("Equal", [r, zero])]),
                              c.op("Xor", [c.op("Less", [b, zero]), c.op("Less", [r, zero])])])
    return c.op("Where", [wrong_sign, c.op("Add", [r, b]), r])


def _floor_div(c):
    """(a - fmod(a, b)) / b, less one when the remainder's sign differs from b's, snapped
    to the nearest integer (the C kernel's algorithm, as NumPy's)."""
    a, b = c.ins
    zero = c.c(0.0)
    r = c.op("Mod", [a, b], fmod=1)
    div = c.op("Div", [c.op("Sub", [a, r]), b])
    wrong_sign = c.op("And", [c.op("Not", [c.op("Equal", [r, zero])]),
                              c.op("Xor", [c.op("Less", [b, zero]), c.op("Less", [r, zero])])])
    div = c.op("Sub", [div, c.op("Cast", [wrong_sign], to=_onnx_dtype(c.e.helper, c.dtype))])
    fd = c.op("Floor", [div])
    up = c.op("Greater", [c.op("Sub", [div, fd]), c.c(0.5)])
    return c.op("Where", [up, c.op("Add", [fd, c.c(1.0)]), fd])


def _atan2(c):
    y, x = c.ins
    zero, pi = c.c(0.0), c.c(np.pi)
    base = c.op("Atan", [c.op("Div", [y, x])])
    x_neg = c.op("Less", [x, zero])
    y_neg = c.op("Less", [y, zero])
    shifted = c.op("Where", [y_neg, c.op("Sub", [base, pi]), c.op("Add", [base, pi])])
    on_axis = c.op("Where", [c.op("Greater", [y, zero]), c.c(np.pi / 2),
                             c.op("Where", [y_neg, c.c(-np.pi / 2), zero])])
    off = c.op("Where", [x_neg, shifted, base])
    return c.op("Where", [c.op("Equal", [x, zero]), on_axis, off])


BINARY = {
    "ADD": "Add", "SUB": "Sub", "MUL": "Mul", "DIV": "Div", "POW": "Pow", "MAXIMUM": "Max",
    "MINIMUM": "Min", "EQUAL": "Equal", "LESS": "Less", "LESS_EQUAL": "LessOrEqual",
    "GREATER": "Greater", "GREATER_EQUAL": "GreaterOrEqual", "LOGICAL_AND": "And",
    "LOGICAL_OR": "Or", "LOGICAL_XOR": "Xor",
}


def _matmul(c):
    a, b = c.ins
    na, nb = c.node.inputs
    ta = bool(c.node.attrs.get("transpose_a", False))
    tb = bool(c.node.attrs.get("transpose_b", False))
    if na.ndim == 2 and nb.ndim == 2:
        return c.op("Gemm", [a, b], transA=int(ta), transB=int(tb))

    def swap(name, rank):
        perm = list(range(rank))
        perm[-1], perm[-2] = perm[-2], perm[-1]
        return c.op("Transpose", [name], perm=perm)
    return c.op("MatMul", [swap(a, na.ndim) if ta else a, swap(b, nb.ndim) if tb else b])


def _reshape(c):
    target = list(c.node.shape)
    if c.twin is not None:
        varying = c.batch_dependent(c.node.shape, c.twin.shape)
        if len(varying) > 1:
            c.fail(f"more than one dimension of the target {c.node.shape} depends on the "
                   "batch size; export with a fixed batch_size")
        for i in varying:
            target[i] = -1
    attrs = {}
    if 0 in target:
        if c.e.opset < 14:
            c.fail("a zero-sized target needs opset >= 14 (allowzero)")
        attrs["allowzero"] = 1
    return c.op("Reshape", [c.ins[0], c.e.ints(target)], **attrs)


def _reshape_like(c):
    """Reshape to like's run-time shape (Shape of like), so a dynamic batch carries over."""
    attrs = {}
    if 0 in c.node.shape:
        if c.e.opset < 14:
            c.fail("a zero-sized target needs opset >= 14 (allowzero)")
        attrs["allowzero"] = 1
    shape = c.op("Shape", [c.ins[1]])
    lead = c.node.attrs.get("lead")
    if lead is not None:  # like's leading dims, then x's from `skip` on
        shape = c.op("Concat", [_shape_slice(c, c.ins[1], 0, lead),
                                _shape_slice(c, c.ins[0], c.node.attrs.get("skip", 0),
                                             len(c.node.inputs[0].shape))], axis=0)
    return c.op("Reshape", [c.ins[0], shape], **attrs)


def _shape_slice(c, tensor, start, stop):
    """Dims [start, stop) of ``tensor``'s run-time shape, as an int64 vector."""
    return c.op("Slice", [c.op("Shape", [tensor]), c.e.ints([start]), c.e.ints([stop])])


def _broadcast_to(c):
    x = c.node.inputs[0]
    target = list(c.node.shape)
    pad = len(target) - x.ndim
    varying = c.batch_dependent(c.node.shape, c.twin.shape) if c.twin is not None else []
    for i in varying:
        j = i - pad
        if j < 0 or x.shape[j] != target[i]:
            c.fail(f"the target {c.node.shape} has a batch-dependent dimension the input "
                   f"{x.shape} does not carry; export with a fixed batch_size")
        target[i] = 1   # Expand broadcasts bidirectionally: 1 keeps the input's size
    return c.op("Expand", [c.ins[0], c.e.ints(target)])


def _slice(c):
    starts, ends, axes, steps = [], [], [], []
    for axis, (b, e, s) in enumerate(zip(c.node.attrs["begin"], c.node.attrs["end"],
                                         c.node.attrs["step"])):
        if b is None and e is None and s == 1:
            continue
        starts.append(b if b is not None else (0 if s > 0 else INT64_MAX))
        ends.append(e if e is not None else (INT64_MAX if s > 0 else INT64_MIN))
        axes.append(axis)
        steps.append(s)
    if not axes:
        return c.op("Identity", c.ins)
    return c.op("Slice", [c.ins[0], c.e.ints(starts), c.e.ints(ends), c.e.ints(axes),
                          c.e.ints(steps)])


def _concat_piece(c):
    from ..ops.layout import piece_index
    index = piece_index(c.node.inputs[1:], c.node.attrs)
    axis = c.node.attrs["axis"] % c.node.ndim
    return c.op("Slice", [c.ins[0], c.e.ints([index[axis].start]), c.e.ints([index[axis].stop]),
                          c.e.ints([axis]), c.e.ints([1])])


def _concat(c):
    return c.op("Concat", c.ins, axis=int(c.node.attrs["axis"]) % c.node.ndim)


def _reduction(op_type):
    def fn(c):
        x = c.node.inputs[0]
        axes = c.node.attrs.get("axes")
        axes = list(range(x.ndim)) if axes is None else sorted(a % max(x.ndim, 1) for a in axes)
        return c.e.reduce(op_type, c.ins[0], axes, c.node.attrs.get("keepdims", False))
    return fn


def _bool_reduction(all_):
    def fn(c):
        x = c.node.inputs[0]
        axes = c.node.attrs.get("axes")
        axes = list(range(x.ndim)) if axes is None else sorted(a % max(x.ndim, 1) for a in axes)
        src = c.op("Not", c.ins) if all_ else c.ins[0]
        count = c.e.reduce("ReduceSum", c.op("Cast", [src], to=c.e.onnx.TensorProto.INT64),
                           axes, c.node.attrs.get("keepdims", False))
        zero = c.e.const(0, "int64")
        return c.op("Equal", [count, zero]) if all_ else c.op("Greater", [count, zero])
    return fn


def _arg(op_type):
    def fn(c):
        axis = c.node.attrs["axes"][0] % c.node.inputs[0].ndim
        return c.op(op_type, c.ins, axis=axis, keepdims=int(c.node.attrs.get("keepdims", False)),
                    select_last_index=0)
    return fn


def _softmax(op_type):
    def fn(c):
        return c.op(op_type, c.ins, axis=int(c.node.attrs.get("axis", -1)) % c.node.ndim)
    return fn


def _full_like(c):
    value = np.asarray([c.node.attrs["value"]], dtype=c.dtype)
    return c.op("ConstantOfShape", [c.op("Shape", c.ins)],
                value=c.e.numpy_helper.from_array(value, "value"))


def _random(c):
    spec = c.node.attrs["shape"]
    like = c.node.inputs[1]
    if any(not isinstance(s, tuple) for s in spec) or \
            [s[1] for s in spec] != list(range(like.ndim)):
        c.fail("only random draws of the shape of their 'like' input map to ONNX")
    a, b = float(c.node.attrs["a"]), float(c.node.attrs["b"])
    like_name = c.ins[1]
    dist = c.node.attrs["dist"]
    if dist == "uniform":
        return c.op("RandomUniformLike", [like_name], low=a, high=b)
    if dist == "normal":
        return c.op("RandomNormalLike", [like_name], mean=a, scale=b)
    u = c.op("RandomUniformLike", [like_name], low=0.0, high=1.0)
    keep = c.op("Cast", [c.op("Less", [u, c.c(a)])], to=_onnx_dtype(c.e.helper, c.dtype))
    return c.op("Mul", [keep, c.c(b)])


# -- convolution and pooling (channels-last in graphnet, channels-first in ONNX) ----------
def _to_nchw(c, name, rank):
    return c.op("Transpose", [name], perm=[0, rank + 1] + list(range(1, rank + 1)))


def _to_nhwc(c, name, rank):
    return c.op("Transpose", [name], perm=[0] + list(range(2, rank + 2)) + [1])


def _kernel_to_oihw(c, name, rank):
    return c.op("Transpose", [name], perm=[rank + 1, rank] + list(range(rank)))


def _crop_negative(c, x_name, pads, rank, x_shape):
    """Crop where explicit pads are negative; returns (input, non-negative pads)."""
    starts, ends, axes, fixed = [], [], [], []
    for i, (lo, hi) in enumerate(pads):
        if lo < 0 or hi < 0:
            starts.append(max(-lo, 0))
            ends.append(x_shape[1 + i] - max(-hi, 0))
            axes.append(1 + i)
        fixed.append((max(lo, 0), max(hi, 0)))
    if axes:
        x_name = c.op("Slice", [x_name, c.e.ints(starts), c.e.ints(ends), c.e.ints(axes)])
    return x_name, fixed


def _onnx_pads(pads):
    return [lo for lo, _ in pads] + [hi for _, hi in pads]


def _conv(c):
    x, w = c.node.inputs
    rank = x.ndim - 2
    a = c.node.attrs
    pads = c.node.op.pads(c.node)
    xin, pads = _crop_negative(c, c.ins[0], pads, rank, x.shape)
    y = c.op("Conv", [_to_nchw(c, xin, rank), _kernel_to_oihw(c, c.ins[1], rank)],
             strides=list(a["strides"]), dilations=list(a["dilations"]),
             group=int(a["groups"]), pads=_onnx_pads(pads),
             kernel_shape=list(w.shape[:rank]))
    return _to_nhwc(c, y, rank)


def _conv_transpose(c):
    from ..ops.nn import effective_kernel
    x, w = c.node.inputs[:2]
    rank = x.ndim - 2
    a = c.node.attrs
    lows = c.node.op.pads_lo(c.node)
    pads, out_pad = [], []
    for i in range(rank):
        n, k, s, d = x.shape[1 + i], w.shape[i], a["strides"][i], a["dilations"][i]
        lo = lows[i]
        hi = s * (n - 1) + effective_kernel(k, d) - lo - c.node.shape[1 + i]
        if lo < 0:
            c.fail(f"negative leading padding {lo} (a cropping convolution)")
        out_pad.append(max(-hi, 0))
        pads.append((lo, max(hi, 0)))
    attrs = dict(strides=list(a["strides"]), dilations=list(a["dilations"]),
                 group=int(a["groups"]), pads=_onnx_pads(pads),
                 kernel_shape=list(w.shape[:rank]))
    if any(out_pad):
        attrs["output_padding"] = out_pad
    y = c.op("ConvTranspose", [_to_nchw(c, c.ins[0], rank), _kernel_to_oihw(c, c.ins[1], rank)],
             **attrs)
    return _to_nhwc(c, y, rank)


def _conv_backward_filter(c):
    """dw[k, c, o] = sum_n,p x[n, p*s + k*d - lo, c] dy[n, p, o]: a convolution of x (batch
    as channels) by dy, with stride and dilation swapped; one per group."""
    x, dy = c.node.inputs
    rank = x.ndim - 2
    a = c.node.attrs
    groups = int(a["groups"])
    kernel = list(a["kernel"])
    pads = c.node.op.pads(c.node)
    xin, pads = _crop_negative(c, c.ins[0], pads, rank, x.shape)
    perm = [rank + 1, 0] + list(range(1, rank + 1))       # (N, *S, C) -> (C, N, *S)
    cg, og = x.shape[-1] // groups, dy.shape[-1] // groups
    parts = []
    for g in range(groups):
        xs, ds = xin, c.ins[1]
        if groups > 1:
            last_x, last_d = x.ndim - 1, dy.ndim - 1
            xs = c.op("Slice", [xin, c.e.ints([g * cg]), c.e.ints([(g + 1) * cg]),
                                c.e.ints([last_x])])
            ds = c.op("Slice", [ds, c.e.ints([g * og]), c.e.ints([(g + 1) * og]),
                                c.e.ints([last_d])])
        out = c.op("Conv", [c.op("Transpose", [xs], perm=perm),
                            c.op("Transpose", [ds], perm=perm)],
                   strides=list(a["dilations"]), dilations=list(a["strides"]),
                   pads=_onnx_pads(pads), kernel_shape=list(dy.shape[1:-1]))
        out = c.op("Slice", [out, c.e.ints([0] * rank), c.e.ints(kernel),
                             c.e.ints(range(2, rank + 2))])
        parts.append(c.op("Transpose", [out], perm=list(range(2, rank + 2)) + [0, 1]))
    return parts[0] if groups == 1 else c.op("Concat", parts, axis=rank + 1)


def _pool_setup(c):
    from ..ops.nn import _pool_setup as setup
    return setup(c.node.op.name, c.node.inputs[0].shape, c.node.attrs)


def _pool(c):
    rank, window, pads = _pool_setup(c)
    a = c.node.attrs
    attrs = dict(kernel_shape=list(window), strides=list(a["strides"]), pads=_onnx_pads(pads))
    x = _to_nchw(c, c.ins[0], rank)
    if a["mode"] == "max":
        y = c.op("MaxPool", [x], **attrs)
    else:
        y = c.op("AveragePool", [x], count_include_pad=0, **attrs)
    return _to_nhwc(c, y, rank)


def _pool_grad(c):
    x_node, dy_node = c.node.inputs
    rank, window, pads = _pool_setup(c)
    a = c.node.attrs
    x = _to_nchw(c, c.ins[0], rank)
    dy = _to_nchw(c, c.ins[1], rank)
    if a["mode"] == "max":
        if c.e.opset < 16:
            c.fail("max-pool gradients need opset >= 16 (ScatterElements reduction)")
        _, idx = c.op("MaxPool", [x], outputs=2, kernel_shape=list(window),
                      strides=list(a["strides"]), pads=_onnx_pads(pads))
        shape = c.op("Shape", [x])
        flat = c.e.ints([-1])
        zero = c.e.numpy_helper.from_array(np.zeros(1, c.dtype), "value")
        zeros = c.op("Reshape", [c.op("ConstantOfShape", [shape], value=zero), flat])
        dx = c.op("ScatterElements", [zeros, c.op("Reshape", [idx, flat]),
                                      c.op("Reshape", [dy, flat])], axis=0, reduction="add")
        return _to_nhwc(c, c.op("Reshape", [dx, shape]), rank)
    # average: each output's gradient, divided by its in-bounds count, spread over its
    # window by a depthwise transposed convolution with a kernel of ones
    sizes, out_sizes = x_node.shape[1:-1], dy_node.shape[1:-1]
    inside = np.pad(np.ones(sizes), list(pads))
    counts = np.zeros(out_sizes)
    for k in np.ndindex(*window):
        counts += inside[tuple(slice(ki, ki + s * (n - 1) + 1, s)
                               for ki, s, n in zip(k, a["strides"], out_sizes))]
    share = c.op("Div", [dy, c.c(np.maximum(counts, 1)[None, None])])
    channels = x_node.shape[-1]
    out_pad, full_pads = [], []
    for i in range(rank):
        lo, hi = pads[i]
        extra = sizes[i] - (a["strides"][i] * (out_sizes[i] - 1) + window[i] - lo - hi)
        out_pad.append(max(extra, 0))
        full_pads.append((lo, hi - min(extra, 0)))
    attrs = dict(strides=list(a["strides"]), group=channels, kernel_shape=list(window),
                 pads=_onnx_pads(full_pads))
    if any(out_pad):
        attrs["output_padding"] = out_pad
    dx = c.op("ConvTranspose", [share, c.c(np.ones((channels, 1, *window)))], **attrs)
    return _to_nhwc(c, dx, rank)


def _take_grad(c):
    """TAKE_GRAD as ScatterND (reduction add) into zeros, with the axis moved first."""
    g_node, idx_node, like_node = c.node.inputs
    if c.e.opset < 16:
        c.fail("take gradients need opset >= 16 (ScatterND reduction)")
    axis, rank, k = c.node.attrs["axis"] % like_node.ndim, like_node.ndim, idx_node.ndim
    rest = [i for i in range(rank) if i != axis]
    perm = [axis] + rest
    zero = c.e.numpy_helper.from_array(np.zeros(1, c.dtype), "value")
    zeros = c.op("ConstantOfShape", [c.op("Shape", [c.op("Transpose", [c.ins[2]],
                                                          perm=perm)])], value=zero)
    g_perm = list(range(axis, axis + k)) + list(range(axis)) + \
        list(range(axis + k, g_node.ndim))
    n = c.e.const(like_node.shape[axis], idx_node.dtype)
    idx = c.ins[1]
    idx = c.op("Where", [c.op("Less", [idx, c.e.const(0, idx_node.dtype)]),
                         c.op("Add", [idx, n]), idx])
    dx = c.op("ScatterND", [zeros, c.op("Cast", [c.op("Unsqueeze", [idx, c.e.ints([-1])])],
                                        to=_onnx_dtype(c.e.helper, "int64")),
                            c.op("Transpose", [c.ins[0]], perm=g_perm)], reduction="add")
    return c.op("Transpose", [dx], perm=[perm.index(i) for i in range(rank)])


def _pad(c):
    pads = c.node.attrs["pads"]
    value = float(c.node.attrs.get("value", 0.0))
    return c.op("Pad", [c.ins[0], c.e.ints(_onnx_pads(pads)), c.c(value)], mode="constant")


def _slice_grad(c):
    """Zeros of like's shape with g written at the slice: per axis, reverse g for a
    negative step, interleave step - 1 zeros, then pad to the full size."""
    g_node, like = c.node.inputs
    g = c.ins[0]
    shape = list(g_node.shape)
    pads_lo, pads_hi = [], []
    for axis, (d, b, e, s) in enumerate(zip(like.shape, c.node.attrs["begin"],
                                            c.node.attrs["end"], c.node.attrs["step"])):
        positions = range(*slice(b, e, s).indices(d))
        m = len(positions)
        if m == 0:
            c.fail("an empty slice")
        first, step = (positions[0], s) if s > 0 else (positions[-1], -s)
        if s < 0:
            g = c.op("Slice", [g, c.e.ints([INT64_MAX]), c.e.ints([INT64_MIN]),
                               c.e.ints([axis]), c.e.ints([-1])])
        if step > 1 and m > 1:
            # (.., m, ..) -> (.., m, step, ..) zero-padded -> (.., m * step, ..) -> trim
            rank = len(shape)
            g = c.op("Unsqueeze", [g, c.e.ints([axis + 1])])
            pad = [0] * (2 * (rank + 1))
            pad[rank + 1 + axis + 1] = step - 1
            g = c.op("Pad", [g, c.e.ints(pad), c.c(0.0)], mode="constant")
            # 0 copies the (unchanged) leading dims, batch included
            target = [0] * axis + [-1] + [int(v) for v in shape[axis + 1:]]
            g = c.op("Reshape", [g, c.e.ints(target)])
            g = c.op("Slice", [g, c.e.ints([0]), c.e.ints([(m - 1) * step + 1]),
                               c.e.ints([axis])])
        span = (m - 1) * step + 1
        shape[axis] = span
        pads_lo.append(first)
        pads_hi.append(d - first - span)
    return c.op("Pad", [g, c.e.ints(pads_lo + pads_hi), c.c(0.0)], mode="constant")


def _cast(c):
    return c.op("Cast", c.ins, to=_onnx_dtype(c.e.helper, c.node.attrs["dtype"]))


def _own_expansion(node):
    return node.op.expand(node, list(node.inputs))


def _expanded(c, expand=_own_expansion):
    """A fused op as the primitive subgraph it stands for (ONNX runtimes fuse on their own);
    ``expand(node)`` builds that subgraph."""
    def primitives(node):
        if node is None:
            return None, None
        top = expand(node)
        outside = {id(n) for n in topological_order(list(node.inputs))}  # inputs, what they read
        inner = [n for n in topological_order([top]) if id(n) not in outside]
        return top, inner
    top, order = primitives(c.node)
    _, twin_order = primitives(c.twin)
    names = {id(x): nm for x, nm in zip(c.node.inputs, c.ins)}
    for k, n in enumerate(order):
        if n.op.name == "CONSTANT":   # a constant of the expansion (ATTENTION's masks)
            names[id(n)] = c.e.initializer(n.attrs["value"].array, "const")
            continue
        sub = Ctx(c.e, n, twin_order[k] if twin_order else None,
                  [names[id(x)] for x in n.inputs])
        names[id(n)] = MAPPINGS[n.op.name](sub)
    return names[id(top)]


def _layer_norm(c):
    """ONNX's LayerNormalization over the last axis (opset 17 on; before, the expansion)."""
    if c.e.opset < 17:
        return _expanded(c)
    attrs, rest = c.node.attrs, list(c.ins[1:])
    n = c.node.shape[-1]
    scale = rest.pop(0) if attrs["scale"] else c.c(np.ones(n))
    bias = [rest.pop(0)] if attrs["center"] else []
    return c.op("LayerNormalization", [c.ins[0], scale] + bias, axis=-1,
                epsilon=float(attrs["epsilon"]))


MAPPINGS = {"FUSED_ELTWISE": _expanded, "MATMUL_BIAS_ACT": _expanded,
            "FUSED_MULTI_ELTWISE": _expanded, "MULTI_PART": _expanded,
            "CONV_BIAS_ACT": _expanded, "CONV_BIAS_ACT_POOL": _expanded,
            # the compiler's simplify phase unrolls these before export already
            "RNN_UNROLL": lambda c: _expanded(c, unrolled),
            "RNN_UNROLL_GRAD": lambda c: _expanded(c, unrolled),
            "ATTENTION": lambda c: _expanded(c, attention_expansion),
            "ATTENTION_LSE": _expanded, "ATTENTION_GRAD": _expanded,
            "LAYER_NORM": _layer_norm, "LAYER_NORM_GRAD": _expanded}
MAPPINGS.update(UNARY)
MAPPINGS.update({k: (lambda t: lambda c: c.op(t, c.ins))(v) for k, v in BINARY.items()})
MAPPINGS.update({
    "NOT_EQUAL": lambda c: c.op("Not", [c.op("Equal", c.ins)]),
    "MOD": _mod, "FLOOR_DIV": _floor_div, "ATAN2": _atan2,
    "WHERE": _simple("Where"), "CAST": _cast, "FULL_LIKE": _full_like,
    "MATMUL": _matmul, "RESHAPE": _reshape, "RESHAPE_LIKE": _reshape_like,
    "TRANSPOSE":
        lambda c: c.op("Transpose", c.ins, perm=list(c.node.attrs["perm"])),
    "CONCATENATE": _concat, "SLICE": _slice, "BROADCAST_TO": _broadcast_to,
    "REDUCE_SUM": _reduction("ReduceSum"), "REDUCE_MEAN": _reduction("ReduceMean"),
    "REDUCE_MAX": _reduction("ReduceMax"), "REDUCE_MIN": _reduction("ReduceMin"),
    "REDUCE_PROD": _reduction("ReduceProd"), "REDUCE_SUMSQ": _reduction("ReduceSumSquare"),
    "REDUCE_ANY": _bool_reduction(False), "REDUCE_ALL": _bool_reduction(True),
    "ARGMAX": _arg("ArgMax"), "ARGMIN": _arg("ArgMin"),
    "SOFTMAX": _softmax("Softmax"), "LOG_SOFTMAX": _softmax("LogSoftmax"),
    "IN_TRAIN_PHASE": lambda c: c.op("Identity", [c.ins[1]]),
    # an exported model runs in one process: the sum over the processes is its own value
    "ALLREDUCE_SUM": lambda c: c.op("Identity", c.ins),
    "STOP_GRADIENT": lambda c: c.op("Identity", c.ins),
    "RANDOM": _random,
    "CONV": _conv, "CONV_TRANSPOSE": _conv_transpose,
    "CONV_BACKWARD_FILTER": _conv_backward_filter,
    "POOL": _pool, "POOL_GRAD": _pool_grad, "PAD": _pad, "SLICE_GRAD": _slice_grad,
    "CONCAT_PIECE": _concat_piece,
    "TAKE": lambda c: c.op("Gather", c.ins, axis=c.node.attrs["axis"]),
    "TAKE_GRAD": _take_grad,
})
MAPPINGS.update(RECURRENT_MAPPINGS)
MAPPINGS.update(IMAGE_MAPPINGS)
SOURCES = ("INPUT", "VARIABLE", "CONSTANT")


def unmapped_ops():
    """Registered ops (besides sources) with no ONNX mapping."""
    from ..ops import all_ops
    return sorted(set(all_ops()) - set(MAPPINGS) - set(SOURCES))


# -- the graph ---------------------------------------------------------------------------------
def _optimized(in_nodes, out_nodes, shapes):
    ins, outs = specialize(in_nodes, out_nodes, shapes)
    return ins, run_phases(outs, CompileReport(), phases=("simplify", "fold"))


def _value_info(helper, name, dtype, dims):
    return helper.make_tensor_value_info(name, _onnx_dtype(helper, dtype), dims)


def to_onnx(model, path=None, opset=DEFAULT_OPSET, batch_size=None):
    """Export ``model`` (a Model, a ``gn.function``, or ``(inputs, outputs)`` tensors) to
    ONNX; returns the ``onnx.ModelProto`` and writes it to ``path`` if given.

    Args:
        opset: ONNX opset version (13 or newer; default 17).
        batch_size: None for a dynamic batch dimension (named "batch"); an int fixes it.
    """
    onnx, helper, _ = _require_onnx()
    if not MIN_OPSET <= int(opset):
        raise ValueError(f"to_onnx: opset must be >= {MIN_OPSET}, got {opset}")
    if isinstance(model, tuple) and len(model) == 2:
        in_nodes, out_nodes, in_names, out_names, name = graph_of(*model)
    else:
        in_nodes, out_nodes, in_names, out_names, name = graph_of(model)
    dynamic = batch_size is None
    batches = PROBE_BATCHES if dynamic else (int(batch_size),)

    def shapes_for(batch):
        return [tuple(batch if d is None else d for d in n.shape) for n in in_nodes]
    graphs = [_optimized(in_nodes, out_nodes, shapes_for(b)) for b in batches]
    (ins_a, outs_a) = graphs[0]
    order_a = topological_order(outs_a)
    order_b = topological_order(graphs[1][1]) if dynamic else None
    if dynamic and (len(order_a) != len(order_b) or any(
            x.op is not y.op or len(x.inputs) != len(y.inputs) for x, y in zip(order_a,
                                                                               order_b))):
        raise ONNXExportError("the optimized graph differs between batch sizes, so it has no "
                              "single dynamic-batch form; export with a fixed batch_size")
    e = Emitter(int(opset))
    names = {}
    uid_name = {n.attrs["uid"]: nm for n, nm in zip(ins_a, in_names)}
    for nm in in_names:
        e._used.add(nm)
    for k, node in enumerate(order_a):
        twin = order_b[k] if dynamic else None
        op = node.op.name
        if op == "INPUT":
            names[id(node)] = uid_name[node.attrs["uid"]]
            continue
        if op == "VARIABLE":
            names[id(node)] = e.initializer(node.attrs["var"].value, node.attrs["var"].name)
            continue
        if op == "CONSTANT":
            if twin is not None and twin.attrs["value"] != node.attrs["value"]:
                raise ONNXExportError("a constant of the optimized graph depends on the batch "
                                      "size; export with a fixed batch_size")
            names[id(node)] = e.initializer(node.attrs["value"].array, "const")
            continue
        fn = MAPPINGS.get(op)
        if fn is None:
            raise ONNXExportError(f"op {op} has no ONNX mapping (graphnet.export.onnx_export."
                                  "MAPPINGS)")
        if twin is not None and op not in ("RESHAPE", "BROADCAST_TO") and \
                twin.attrs != node.attrs:
            raise ONNXExportError(f"op {op}: its attributes depend on the batch size; "
                                  "export with a fixed batch_size")
        ctx = Ctx(e, node, twin, [names[id(x)] for x in node.inputs])
        names[id(node)] = fn(ctx)

    out_infos = []
    outs_b = graphs[1][1] if dynamic else outs_a
    for node, twin, nm in zip(outs_a, outs_b, out_names):
        out = e.fresh(nm)
        e.nodes.append(helper.make_node("Identity", [names[id(node)]], [out],
                                        name=e.fresh("output")))
        dims = [d if d == t else ("batch" if (d, t) == PROBE_BATCHES else None)
                for d, t in zip(node.shape, twin.shape)]
        out_infos.append(_value_info(helper, out, node.dtype, dims))
    in_infos = [_value_info(helper, nm, n.dtype,
                            ["batch" if d is None and dynamic else
                             (int(batch_size) if d is None else d) for d in n.shape])
                for n, nm in zip(in_nodes, in_names)]
    graph = helper.make_graph(e.nodes, name or "graphnet", in_infos, out_infos,
                              initializer=e.initializers)
    opsets = [helper.make_opsetid("", int(opset))]
    # the oldest IR version that carries this opset: what most runtimes accept
    proto = helper.make_model(graph, producer_name="graphnet", opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(proto)
    if path is not None:
        onnx.save(proto, path)
    return proto
