"""One elementwise program over several tensors at once (made by graphnet/compiler/fuse_multi.py).

* FUSED_MULTI_ELTWISE(x...) {program, results, shapes}: tensor t (of shape
  ``shapes[t]``) runs ``program`` over its inputs ``x[t*k:(t+1)*k]`` (k inputs per
  tensor, each of the tensor's size or a single value); registers as FUSED_ELTWISE's
  (0..k-1 the inputs, k+j instruction j). Its value is the flat concatenation, tensor by
  tensor, of each tensor's ``results`` registers: several outputs per tensor (an
  optimizer's new slot values and new weight) for several tensors (every weight).
* MULTI_PART(multi) {offset, shape}: one of those outputs, ``multi[offset:offset+size]``
  in ``shape``. Lowering gives each part its own buffer (the variable it updates, when
  that is safe), never the concatenation.

Both are defined by their expansion into primitives (reference and gradient).
"""
import numpy as np

from ..graph.node import Node
from .elementwise import UNARY, require_f32
from .fused import FusedOp, encode_program
from .registry import LAYOUT, NN, OpError, register

MAX_TENSORS = 64      # csrc/multi_eltwise.c limits
MAX_OUTPUTS = 8


def _size(shape):
    return int(np.prod(shape, dtype=np.int64))


def part_offsets(node):
    """(offset, shape) of each output of a FUSED_MULTI_ELTWISE, tensor by tensor."""
    out, offset = [], 0
    for shape in node.attrs["shapes"]:
        for _ in node.attrs["results"]:
            out.append((offset, shape))
            offset += _size(shape)
    return out


@register
class FusedMultiEltwise(FusedOp):
    name, group, arity = "FUSED_MULTI_ELTWISE", NN, None

    def expand(self, node, inputs):
        k = len(inputs) // len(node.attrs["shapes"])
        flat = []
        for t, shape in enumerate(node.attrs["shapes"]):
            regs = list(inputs[t * k:(t + 1) * k])
            for op_name, args, alpha, beta in node.attrs["program"]:
                attrs = {"alpha": alpha, "beta": beta} if op_name in UNARY and (alpha or beta) \
                    else {}
                regs.append(Node(op_name, [regs[r] for r in args], attrs))
            flat += [Node("RESHAPE", [regs[r]], {"shape": (_size(shape),)})
                     for r in node.attrs["results"]]
        return Node("CONCATENATE", flat, {"axis": 0})

    def infer(self, shapes, dtypes, attrs):
        from .dtypes import require_float
        sizes = [_size(s) for s in attrs["shapes"]]
        count, results = len(sizes), attrs["results"]
        if not count or len(shapes) % count or not 1 <= len(results) <= MAX_OUTPUTS:
            raise OpError(f"{self.name}: {len(shapes)} inputs for {count} tensors and "
                          f"{len(results)} results")
        k = len(shapes) // count
        if any(not k <= r < k + len(attrs["program"]) for r in results):
            raise OpError(f"{self.name}: results {results} must name instructions")
        for t, n in enumerate(sizes):
            for s in shapes[t * k:(t + 1) * k]:
                if _size(s) not in (1, n):
                    raise OpError(f"{self.name}: tensor {t} of {n} elements has an input of "
                                  f"shape {s}")
        return (sum(sizes) * len(results),), require_float(self.name, dtypes)

    def lower(self, node, ctx):
        require_f32(node, ctx)
        if id(node) in ctx.pinned:
            raise OpError(f"{self.name} is never materialized as one array: read its outputs "
                          "through MULTI_PART")
        program, results, shapes = (node.attrs[k] for k in ("program", "results", "shapes"))
        k = len(node.inputs) // len(shapes)
        prog, fprog = encode_program(program, ctx)
        tensors = []
        parts = {p.attrs["offset"]: p for p in ctx.readers(node) if p.op.name == "MULTI_PART"}
        offsets = iter(part_offsets(node))
        for t, shape in enumerate(shapes):
            n, xs = _size(shape), node.inputs[t * k:(t + 1) * k]
            tensors.append(n)
            for x in xs:
                tensors += [ctx.inp(x), int(x.size == n)]
            for _ in results:
                part = parts.get(next(offsets)[0])
                slot = None if part is None else ctx.out_in_variable(part, xs)
                if slot is None:
                    slot = ctx.out(part) if part is not None else ctx.temp(4 * n)
                tensors.append(slot)
        ctx.emit("GN_K_MULTI_ELTWISE", ntensors=len(shapes), nin=k, ninstr=len(program),
                 nout=len(results), prog=prog, results=results, tensors=tensors, fprog=fprog)


@register
class MultiPart(FusedOp):
    name, group, arity = "MULTI_PART", LAYOUT, 1

    def expand(self, node, inputs):
        offset, shape = node.attrs["offset"], node.attrs["shape"]
        piece = Node("SLICE", inputs, {"begin": (offset,), "end": (offset + _size(shape),),
                                       "step": (1,)})
        return Node("RESHAPE", [piece], {"shape": tuple(shape)})

    def infer(self, shapes, dtypes, attrs):
        offset, shape = attrs["offset"], tuple(attrs["shape"])
        if len(shapes[0]) != 1 or not 0 <= offset <= offset + _size(shape) <= shapes[0][0]:
            raise OpError(f"MULTI_PART: {shape} at {offset} is outside {shapes[0]}")
        return shape, dtypes[0]

    def lower(self, node, ctx):
        """Placed by its FUSED_MULTI_ELTWISE's lowering."""
        if id(node) not in ctx.where:
            raise OpError("MULTI_PART: read from something else than FUSED_MULTI_ELTWISE")
