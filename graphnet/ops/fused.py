"""Fused ops, made by the compiler's fusion pass (graphnet/compiler/fuse.py).

Each is defined by the primitive subgraph it replaces (``expand``): its NumPy
reference runs that expansion and reverse mode differentiates it, so neither can
drift from the primitives' own rules.

* FUSED_ELTWISE(x0, ..., xk) {program}: a chain of float unary/binary ops, one
  pass over memory. ``program`` is a tuple of instructions
  ``(op name, argument registers, alpha, beta)``; registers 0..k are the inputs,
  instruction j writes register k+1+j, the last one is the result.
* MATMUL_BIAS_ACT(a, b[, bias][, residual]) {transpose_b, bias, residual, act, alpha,
  beta}: ``act(a @ b + bias + residual)`` as one GEMM with an epilogue (act None: no
  activation); the flags say which optional inputs are present, as for CONV_BIAS_ACT
  (without them, the older form: a third input is the bias).
* CONV_BIAS_ACT(x, w[, bias][, residual]) {strides, dilations, groups, padding, bias,
  residual, act, alpha, beta}: ``act(conv(x, w) + bias + residual)`` as one convolution
  whose epilogue is applied to each tile of the output as it is computed; the flags
  ``bias`` and ``residual`` say which optional inputs are present.
* CONV_BIAS_ACT_POOL(x, w[, bias]) {CONV_BIAS_ACT's attrs, window}: max pooling of that
  over non-overlapping windows (strides = window, no padding), each window's maximum
  taken in the convolution's epilogue so the full-size output is never stored.
"""
from ..graph.node import Node
from .dtypes import broadcast_shapes, broadcast_strides, require_float
from .elementwise import BINARY, UNARY, require_f32
from .registry import CONTRACTION, ELEMENTWISE, Op, OpError, get_op, register

MAX_INPUTS = 16       # csrc/fused.c limits
MAX_INSTRUCTIONS = 48


def perform_by_expansion(op, inputs, attrs, expand=None):
    """``op`` on arrays ``inputs`` as its expansion evaluates (``expand(node, inputs)``,
    the op's own ``expand`` by default)."""
    from ..runtime.reference import evaluate
    from ..ops.source import ConstantValue
    consts = [Node("CONSTANT", (), {"value": ConstantValue(x)}) for x in inputs]
    node = Node(op.name, consts, attrs)
    return evaluate([(expand or op.expand)(node, consts)], {})[0]


class FusedOp(Op):
    """A fused op is its expansion: its reference runs the primitives, and reverse mode
    (graphnet/autodiff.py) differentiates them, so it declares no grad rule of its own."""

    def expand(self, node, inputs):
        """The primitive subgraph over ``inputs`` this node stands for."""
        raise NotImplementedError(f"{self.name} declares no expansion")

    def perform(self, inputs, attrs):
        return perform_by_expansion(self, inputs, attrs)


def encode_program(program, ctx):
    """An elementwise program as a kernel's ``prog`` (per instruction: kind, C op code,
    register operands) and ``fprog`` (per instruction: alpha, beta)."""
    prog, floats = [], []
    for op_name, args, alpha, beta in program:
        if op_name in UNARY:
            prog += [1, ctx.c(UNARY[op_name][0]), args[0], 0]
        else:
            prog += [2, ctx.c(BINARY[op_name][0]), args[0], args[1]]
        floats += [alpha, beta]
    return prog, floats


@register
class FusedEltwise(FusedOp):
    name, group, arity = "FUSED_ELTWISE", ELEMENTWISE, None

    def expand(self, node, inputs):
        regs = list(inputs)
        for op_name, args, alpha, beta in node.attrs["program"]:
            attrs = {"alpha": alpha, "beta": beta} if op_name in UNARY and (alpha or beta) \
                else {}
            regs.append(Node(op_name, [regs[r] for r in args], attrs))
        return regs[-1]

    def infer(self, shapes, dtypes, attrs):
        return broadcast_shapes(self.name, *shapes), require_float(self.name, dtypes)

    def lower(self, node, ctx):
        require_f32(node, ctx)
        program = node.attrs["program"]
        inputs = []
        for x in node.inputs:
            inputs += [ctx.inp(x)] + list(broadcast_strides(x.shape, node.shape))
        prog, fprog = encode_program(program, ctx)
        ctx.emit("GN_K_FUSED_ELTWISE", ndim=len(node.shape), nin=len(node.inputs),
                 ninstr=len(program), out=ctx.out(node, inplace=node.inputs), shape=node.shape,
                 inputs=inputs, prog=prog, fprog=fprog)


@register
class MatmulBiasAct(FusedOp):
    """MATMUL_BIAS_ACT(a, b[, bias][, residual]): act(a @ b + bias + residual)."""
    name, group, arity = "MATMUL_BIAS_ACT", CONTRACTION, None

    @staticmethod
    def flags(attrs, count):
        """(bias, residual) present, for a node with ``count`` inputs (the older form
        without flags: a third input is the bias)."""
        residual = bool(attrs.get("residual", False))
        return bool(attrs.get("bias", count == 3 + residual)), residual

    def expand(self, node, inputs):
        out = Node("MATMUL", inputs[:2], {"transpose_b": node.attrs.get("transpose_b", False)})
        return _epilogue_nodes(out, node.attrs, self.flags(node.attrs, len(inputs)),
                               inputs[2:])

    def infer(self, shapes, dtypes, attrs):
        if len(shapes) < 2 or len(shapes[1]) != 2:
            raise OpError("MATMUL_BIAS_ACT takes (a, b[, bias][, residual]) with a 2-D b")
        tb = attrs.get("transpose_b", False)
        k, n = (shapes[1][1], shapes[1][0]) if tb else shapes[1]
        if shapes[0][-1] is not None and k is not None and shapes[0][-1] != k:
            raise OpError(f"MATMUL_BIAS_ACT: inner dimensions differ: {shapes[0]} @ {shapes[1]}")
        out = tuple(shapes[0][:-1]) + (n,)
        _check_epilogue(self.name, shapes, self.flags(attrs, len(shapes)), out)
        return out, require_float(self.name, dtypes)

    def lower(self, node, ctx):
        require_f32(node, ctx)
        a, b = node.inputs[:2]
        tb = bool(node.attrs.get("transpose_b", False))
        has_bias, has_residual = self.flags(node.attrs, len(node.inputs))
        n = node.shape[-1]
        k = a.shape[-1]
        rows = ctx.numel(node) // n if n else 0
        act = node.attrs.get("act")
        bias = ctx.inp(node.inputs[2]) if has_bias else -1
        # read at the step that writes the output, the residual never shares its buffer
        # (the GEMM stores a block before its epilogue reads the residual there)
        residual = {"residual": ctx.inp(node.inputs[-1]), "ldr": n} if has_residual else {}
        out = ctx.out(node)
        if not ctx.numel(node):
            return
        ctx.emit("GN_K_GEMM_BIAS_ACT", ta=0, tb=int(tb), m=rows, n=n, k=k, A=ctx.inp(a), lda=k,
                 B=ctx.inp(b), ldb=b.shape[-1], C=out, ldc=n, bias=bias,
                 act=_act_code(ctx, act), **residual, alpha=node.attrs.get("alpha", 0.0),
                 beta=node.attrs.get("beta", 0.0))


def _act_code(ctx, act):
    """The unary op code of an epilogue's activation (GN_U_COPY: none)."""
    return ctx.c(UNARY[act][0]) if act else ctx.c("GN_U_COPY")


def _check_epilogue(name, shapes, flags, out):
    """Raise OpError unless the inputs after the first two are the epilogue's: a bias with
    one value per output channel, then a residual of the output's shape, as ``flags``
    (bias, residual) say."""
    bias, residual = flags
    if len(shapes) != 2 + bias + residual:
        raise OpError(f"{name} takes (x, w{', bias' if bias else ''}"
                      f"{', residual' if residual else ''}), got {len(shapes)} inputs")
    o = out[-1]
    if bias:
        b = tuple(shapes[2])
        if not b or b[-1] not in (o, None) or any(d not in (1, None) for d in b[:-1]) or \
                len(b) > len(out):
            raise OpError(f"{name}: the bias must hold one value per output "
                          f"channel ({o},), got shape {b}")
    if residual:
        r = tuple(shapes[-1])
        if len(r) != len(out) or any(p is not None and q is not None and p != q
                                     for p, q in zip(r, out)):
            raise OpError(f"{name}: the residual must have the output's shape "
                          f"{out}, got {r}")


def _epilogue_nodes(out, a, flags, extra):
    """act(out + bias + residual) in primitives: ``extra`` holds the inputs ``flags``
    (bias, residual) say are present; ``a`` the attrs (act, alpha, beta)."""
    extra = list(extra)
    for present in flags:
        if present:
            out = Node("ADD", [out, extra.pop(0)])
    act = a.get("act")
    if act is not None:
        alpha, beta = a.get("alpha", 0.0), a.get("beta", 0.0)
        out = Node(act, [out], {"alpha": alpha, "beta": beta} if alpha or beta else {})
    return out


@register
class ConvBiasAct(FusedOp):
    """CONV_BIAS_ACT(x, w[, bias][, residual]): act(conv(x, w) + bias + residual)."""
    name, group, arity = "CONV_BIAS_ACT", CONTRACTION, None

    def expand(self, node, inputs):
        return _conv_bias_act(node.attrs, inputs)

    def infer(self, shapes, dtypes, attrs):
        from .nn import CONV_ATTRS
        flags = bool(attrs.get("bias", False)), bool(attrs.get("residual", False))
        out, _ = get_op("CONV").infer(shapes[:2], dtypes[:2], {k: attrs[k] for k in CONV_ATTRS})
        _check_epilogue(self.name, shapes, flags, out)
        return out, require_float(self.name, dtypes)

    def lower(self, node, ctx):
        from ..runtime.cext import ffi, lib
        require_f32(node, ctx)
        a = node.attrs
        x, w = node.inputs[:2]
        geom = _conv_geometry(node, node.shape[1:-1])
        bias = ctx.inp(node.inputs[2]) if a.get("bias", False) else -1
        residual = ctx.inp(node.inputs[-1]) if a.get("residual", False) else -1
        act = a.get("act")
        work = int(lib.gn_conv_work_len(0, ffi.new("int64_t[]", geom)))
        slots = [ctx.inp(x), ctx.inp(w)]
        out = ctx.out(node)
        tmp = ctx.temp(max(work, 1) * 4)
        ctx.emit("GN_K_CONV_BIAS_ACT", x=slots[0], w=slots[1], y=out, work=tmp,
                 work_len=work, bias=bias, residual=residual, act=_act_code(ctx, act),
                 geom=geom, alpha=a.get("alpha", 0.0), beta=a.get("beta", 0.0))


def _conv_bias_act(a, inputs):
    """act(conv(x, w) + bias + residual) in primitives, for CONV_BIAS_ACT's attrs ``a``."""
    from .nn import CONV_ATTRS
    out = Node("CONV", inputs[:2], {k: a[k] for k in CONV_ATTRS})
    return _epilogue_nodes(out, a, (a.get("bias", False), a.get("residual", False)),
                           inputs[2:])


def _conv_geometry(node, out_sizes):
    """The C geometry of a fused node's convolution, whose output sizes are ``out_sizes``."""
    from .nn import geometry, resolve_pads
    a = node.attrs
    x, w = node.inputs[:2]
    rank = x.ndim - 2
    pads = resolve_pads(a["padding"], x.shape[1:-1], w.shape[:rank], a["strides"],
                        a["dilations"])
    return geometry(x.shape[0], x.shape[1:-1], x.shape[-1], out_sizes, w.shape[-1],
                    w.shape[:rank], a["strides"], a["dilations"], [p[0] for p in pads],
                    a["groups"])


def _pool_attrs(window):
    return {"mode": "max", "window": tuple(window), "strides": tuple(window),
            "padding": "valid"}


@register
class ConvBiasActPool(ConvBiasAct):
    """CONV_BIAS_ACT_POOL(x, w[, bias]): max pooling of CONV_BIAS_ACT over the windows."""
    name = "CONV_BIAS_ACT_POOL"

    def _conv(self, attrs):
        attrs = attrs.as_dict() if hasattr(attrs, "as_dict") else dict(attrs)
        return {k: v for k, v in attrs.items() if k != "window"}

    def expand(self, node, inputs):
        return Node("POOL", [_conv_bias_act(node.attrs, inputs)],
                    _pool_attrs(node.attrs["window"]))

    def infer(self, shapes, dtypes, attrs):
        if attrs.get("residual", False):
            raise OpError("CONV_BIAS_ACT_POOL takes no residual")
        out, dtype = super().infer(shapes, dtypes, self._conv(attrs))
        return get_op("POOL").infer([out], [dtype], _pool_attrs(attrs["window"]))

    def lower(self, node, ctx):
        from ..runtime.cext import ffi, lib
        require_f32(node, ctx)
        a = node.attrs
        x, w = node.inputs[:2]
        window = tuple(a["window"])
        conv_out = super().infer([x.shape, w.shape] + [b.shape for b in node.inputs[2:]],
                                 [n.dtype for n in node.inputs], self._conv(a))[0]
        geom = _conv_geometry(node, conv_out[1:-1])
        win3 = (1,) * (3 - len(window)) + window
        work = int(lib.gn_conv_pool_work_len(ffi.new("int64_t[]", geom)))
        bias = ctx.inp(node.inputs[2]) if a.get("bias", False) else -1
        slots = [ctx.inp(x), ctx.inp(w)]
        out = ctx.out(node)
        tmp = ctx.temp(max(work, 1) * 4)
        act = a.get("act")
        ctx.emit("GN_K_CONV_BIAS_ACT_POOL", x=slots[0], w=slots[1], y=out, work=tmp,
                 work_len=work, bias=bias, act=_act_code(ctx, act), window=win3, geom=geom,
                 alpha=a.get("alpha", 0.0), beta=a.get("beta", 0.0))
