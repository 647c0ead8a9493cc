"""Fused ops, made by the compiler's fusion pass (graphnet/compiler/fuse.py).

Each is defined by the primitive subgraph it replaces (``expand``): its NumPy
reference and its gradient run through that expansion, so they cannot drift
from the primitives' own rules.

* FUSED_ELTWISE(x0, ..., xk) {program}: a chain of float unary/binary ops, one
  pass over memory. ``program`` is a tuple of instructions
  ``(op name, argument registers, alpha, beta)``; registers 0..k are the inputs,
  instruction j writes register k+1+j, the last one is the result.
* MATMUL_BIAS_ACT(a, b[, bias]) {transpose_b, act, alpha, beta}: ``act(a @ b +
  bias)`` as one GEMM with an epilogue (act None: no activation).
"""
from ..graph.node import Node
from .dtypes import broadcast_strides
from .elementwise import BINARY, UNARY, require_f32
from .registry import CONTRACTION, ELEMENTWISE, Op, register

MAX_INPUTS = 16       # csrc/fused.c limits
MAX_INSTRUCTIONS = 48


def _grad_by_expansion(node, grad_output):
    from ..autodiff import backprop
    placeholders = list(node.inputs)
    expanded = node.op.expand(node, placeholders)
    grads = backprop(expanded, grad_output, lambda n: any(n is p for p in placeholders))
    return [grads.get(id(x)) for x in node.inputs]


def _perform_by_expansion(op, inputs, attrs):
    from ..runtime.reference import evaluate
    from ..ops.source import ConstantValue
    consts = [Node("CONSTANT", (), {"value": ConstantValue(x)}) for x in inputs]
    node = Node(op.name, consts, attrs)
    return evaluate([op.expand(node, consts)], {})[0]


class FusedOp(Op):
    """A fused op is its expansion: reference and gradient go through the primitives."""

    def expand(self, node, inputs):
        """The primitive subgraph over ``inputs`` this node stands for."""
        raise NotImplementedError(f"{self.name} declares no expansion")

    def perform(self, inputs, attrs):
        return _perform_by_expansion(self, inputs, attrs)

    def grad(self, node, grad_output):
        return _grad_by_expansion(node, grad_output)


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
        from .dtypes import broadcast_shapes, require_float
        return broadcast_shapes(self.name, *shapes), require_float(self.name, dtypes)

    def lower(self, node, ctx):
        require_f32(node, ctx)
        program = node.attrs["program"]
        ints = [len(node.shape), len(node.inputs), len(program), None]
        ints += list(node.shape)
        for x in node.inputs:
            ints += [ctx.inp(x)] + list(broadcast_strides(x.shape, node.shape))
        floats = []
        for op_name, args, alpha, beta in program:
            if op_name in UNARY:
                ints += [1, ctx.c(UNARY[op_name][0]), args[0], 0]
            else:
                ints += [2, ctx.c(BINARY[op_name][0]), args[0], args[1]]
            floats += [alpha, beta]
        ints[3] = ctx.out(node, inplace=node.inputs)
        ctx.emit("GN_K_FUSED_ELTWISE", ints, floats)


@register
class MatmulBiasAct(FusedOp):
    name, group, arity = "MATMUL_BIAS_ACT", CONTRACTION, None

    def expand(self, node, inputs):
        out = Node("MATMUL", inputs[:2], {"transpose_b": node.attrs.get("transpose_b", False)})
        if len(inputs) == 3:
            out = Node("ADD", [out, inputs[2]])
        act = node.attrs.get("act")
        if act is not None:
            alpha, beta = node.attrs.get("alpha", 0.0), node.attrs.get("beta", 0.0)
            out = Node(act, [out], {"alpha": alpha, "beta": beta} if alpha or beta else {})
        return out

    def infer(self, shapes, dtypes, attrs):
        from .dtypes import require_float
        from .registry import OpError
        if len(shapes) not in (2, 3) or len(shapes[1]) != 2:
            raise OpError("MATMUL_BIAS_ACT takes (a, b[, bias]) with a 2-D b")
        tb = attrs.get("transpose_b", False)
        k, n = (shapes[1][1], shapes[1][0]) if tb else shapes[1]
        if shapes[0][-1] is not None and k is not None and shapes[0][-1] != k:
            raise OpError(f"MATMUL_BIAS_ACT: inner dimensions differ: {shapes[0]} @ {shapes[1]}")
        if len(shapes) == 3 and tuple(shapes[2]) not in ((n,), (1, n)):
            raise OpError(f"MATMUL_BIAS_ACT: bias must have shape ({n},), got {shapes[2]}")
        return tuple(shapes[0][:-1]) + (n,), require_float(self.name, dtypes)

    def lower(self, node, ctx):
        require_f32(node, ctx)
        a, b = node.inputs[:2]
        tb = bool(node.attrs.get("transpose_b", False))
        n = node.shape[-1]
        k = a.shape[-1]
        rows = ctx.numel(node) // n if n else 0
        act = node.attrs.get("act")
        bias = ctx.inp(node.inputs[2]) if len(node.inputs) == 3 else -1
        out = ctx.out(node)
        if not ctx.numel(node):
            return
        ctx.emit("GN_K_GEMM_BIAS_ACT",
                 [0, int(tb), rows, n, k, ctx.inp(a), k, ctx.inp(b), b.shape[-1], out, n, bias,
                  ctx.c(UNARY[act][0]) if act else ctx.c("GN_U_COPY")],
                 [node.attrs.get("alpha", 0.0), node.attrs.get("beta", 0.0)])
