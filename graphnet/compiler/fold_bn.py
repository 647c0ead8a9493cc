"""Folding BatchNormalization into the weights of the preceding contraction (phase "fold").

At inference BatchNormalization is ``y * a + b`` with per-channel vectors
``a = gamma * rsqrt(moving_variance + epsilon)`` and ``b = beta - moving_mean * a``
(``ops.batch_normalization``). When ``y`` is a convolution or a dense layer's matmul
(with or without its bias) and BN normalizes the output-channel axis, the rule is::

    (contract(x, W) [+ c]) * a + b  ->  contract(x, W * a) + ([c * a] + b)

CONV kernels are (*kernel, C / groups, O) and dense kernels (in, O): the output channel
is the kernel's last axis for every ``groups`` (grouped and depthwise convolutions
included: output channel ``o`` reads only ``W[..., o]``), so ``W * a`` broadcasts ``a``
along that axis. The fusion pass then makes ``matmul + bias [+ activation]`` one GEMM
with an epilogue. A convolution's bias and activation still take one elementwise pass
after it (as did BN's multiply-add, fused with them), so for CONV the fold pays off in
full once the fusion pass gives convolutions a bias-and-activation epilogue.

Where the weights live. The weights are VARIABLE nodes, and a compiled plan binds each
Variable's array by pointer once (``runtime.Executable``); ``set_weights``, ``assign``
and the training step's updates write into those same arrays, and nothing recompiles
a cached plan when they change. So ``W * a`` and the new bias must not be baked into
the plan at compile time: they stay graph ops over the VARIABLEs and are recomputed by
the plan on every run, so the folded plan always sees the current weights. (Constant
folding only bakes CONSTANT operands, which cannot change; when every operand is a
CONSTANT this pass folds the new nodes at once.) The per-run cost is one pass over the
kernel ``W`` instead of one over the layer's output, so the rule fires only where the
kernel has no more elements than the output; otherwise BN stays an elementwise pass.

Applies only where each swallowed value (the contraction, its bias add, the multiply)
has one reader and is not a graph output, and ``a``, ``b`` and ``c`` are computed from
weights alone (VARIABLE and CONSTANT sources): in a training graph BN's batch
statistics read the convolution's output, so nothing folds there. BN over another axis
(channels_first inputs, whose convolution output is transposed first), CONV_TRANSPOSE
and matmuls with transposed or batched kernels are left alone.
"""
from ..graph.graph import order_and_consumers, rebuild
from ..graph.node import Node
from ..ops.registry import RANDOM
from .fold import fold_constants
from .phases import graph_pass


def _is_contraction(node):
    """CONV, or MATMUL whose kernel is a plain 2-D (in, out) matrix."""
    if node.op.name == "CONV":
        return True
    return node.op.name == "MATMUL" and node.inputs[1].ndim == 2 and \
        not node.attrs.get("transpose_a", False) and not node.attrs.get("transpose_b", False)


def _is_channel_vector(v, y):
    """``v`` broadcasts against ``y`` along y's last (channel) axis only, without
    enlarging y: shape (), (C,), (1, C), ... or all ones."""
    shape = v.shape
    if len(shape) > y.ndim or any(d != 1 for d in shape[:-1]):
        return False
    return not shape or shape[-1] in (1, y.shape[-1])


class _Weights:
    """Which nodes are computed from weights alone (no INPUT, no random draw)."""

    def __init__(self):
        self.known = {}

    def __call__(self, node):
        key = id(node)
        if key not in self.known:
            if node.op.name == "INPUT" or node.op.group == RANDOM:
                self.known[key] = False
            else:
                self.known[key] = all(self(x) for x in node.inputs)
        return self.known[key]


def _other(node, one):
    """The operand of the binary ``node`` that is not ``one`` (None if both are)."""
    a, b = node.inputs
    if a is one and b is not one:
        return b
    if b is one and a is not one:
        return a
    return None


class _Match:
    """One foldable chain: contraction, optional bias ``c``, scale ``a``, optional
    shift ``b``, and the node the chain replaces (``root``)."""

    def __init__(self, contraction, bias, scale, shift, root):
        self.contraction, self.bias, self.scale, self.shift = contraction, bias, scale, shift
        self.root = root


def _match(mul, users, pinned, from_weights):
    """The chain around a MUL node ``(contract(x, W) [+ c]) * a [+ b]``, or None."""
    if mul.op.name != "MUL" or mul.dtype != "float32":
        return None

    def only_reader(node):
        readers = users[id(node)]
        return readers[0] if len(readers) == 1 and id(node) not in pinned else None

    def channel_operand(node, one, y):
        v = _other(node, one)
        ok = v is not None and node.shape == y.shape and v.dtype == y.dtype and \
            _is_channel_vector(v, y) and from_weights(v)
        return v if ok else None

    for core in mul.inputs:
        scale = channel_operand(mul, core, core)
        if scale is None or only_reader(core) is not mul:
            continue
        bias, contraction = None, core
        if core.op.name == "ADD":
            for y in core.inputs:
                if _is_contraction(y) and only_reader(y) is core:
                    bias = channel_operand(core, y, y)
                    contraction = y if bias is not None else core
                    break
        if not _is_contraction(contraction) or contraction.dtype != "float32":
            continue
        kernel = contraction.inputs[1]
        if kernel.size is None or contraction.size is None or kernel.size > contraction.size:
            continue
        shift, root = None, mul
        add = only_reader(mul)
        if add is not None and add.op.name == "ADD":
            shift = channel_operand(add, mul, mul)
            root = add if shift is not None else mul
        return _Match(contraction, bias, scale, shift, root)
    return None


def _folded(match, new, intern):
    """contract(x, W * a) + ([c * a] + b) over the rebuilt nodes ``new(old)``."""
    def build(op, inputs, attrs=None):
        node = Node(op, inputs, attrs)
        return intern(fold_constants(node) or node)

    def vector(v):
        v = new(v)
        return v if v.ndim <= 1 else build("RESHAPE", [v], {"shape": (v.shape[-1],)})

    contraction = match.contraction
    scale = vector(match.scale)
    x, kernel = (new(i) for i in contraction.inputs)
    out = build(contraction.op.name, [x, build("MUL", [kernel, scale])], contraction.attrs)
    bias = build("MUL", [vector(match.bias), scale]) if match.bias is not None else None
    if match.shift is not None:
        shift = vector(match.shift)
        bias = shift if bias is None else build("ADD", [bias, shift])
    return out if bias is None else build("ADD", [out, bias])


@graph_pass("fold")
def fold_batch_norm(outputs, report):
    """(conv(x, W) [+ c]) * a + b -> conv(x, W * a) + (c * a + b) for per-output-channel
    a, b, c computed from weights (BatchNormalization at inference); the same for
    matmul(x, W) with a 2-D kernel W."""
    order, users = order_and_consumers(outputs)
    pinned = {id(n) for n in outputs}
    from_weights = _Weights()
    roots = {}
    for node in order:
        match = _match(node, users, pinned, from_weights)
        if match is not None:
            roots[id(match.root)] = match
    if not roots:
        return outputs
    report.fired["fold_batch_norm"] += len(roots)
    canonical, new_of = {}, {}

    def intern(node):
        return canonical.setdefault(node, node)

    def replace(node, new_inputs):
        match = roots.get(id(node))
        if match is not None:
            new = _folded(match, lambda old: new_of[id(old)], intern)
        else:
            new = intern(node.with_inputs(new_inputs))
        new_of[id(node)] = new
        return new

    return rebuild(outputs, replace)
