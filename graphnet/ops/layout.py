"""Layout ops: move or copy elements without arithmetic.

RESHAPE and RESHAPE_LIKE are views (no kernel); the others lower to the strided-copy kernel.
"""
import math

import numpy as np

from . import builders as ad
from .dtypes import (broadcast_shapes, broadcast_strides, contiguous_strides, normalize_axis,
                     require_float)
from .registry import LAYOUT, Op, OpError, register



def _elem_size(dtype):
    return np.dtype(dtype).itemsize


def emit_copy(ctx, shape, src_slot, src_strides, dst_slot, dst_strides, dtype,
              src_offset=0, dst_offset=0):
    """One GN_K_COPY step (offsets and strides in elements)."""
    ctx.emit("GN_K_COPY", ndim=len(shape), elem_size=_elem_size(dtype), src=src_slot,
             src_offset=src_offset, dst=dst_slot, dst_offset=dst_offset, shape=shape,
             src_strides=src_strides, dst_strides=dst_strides)


@register
class Reshape(Op):
    """RESHAPE {shape}: entries are sizes, -1 (inferred) or ("in", i) (input dim i)."""
    name, group, arity = "RESHAPE", LAYOUT, 1

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        src = shapes[0]
        spec = attrs["shape"]
        out, used, infer_at = [], set(), None
        for i, s in enumerate(spec):
            if isinstance(s, tuple):
                used.add(s[1])
                out.append(src[s[1]])
            elif s == -1:
                if infer_at is not None:
                    raise OpError(f"RESHAPE: target {spec} has more than one -1")
                infer_at = i
                out.append(-1)
            else:
                out.append(int(s))
        rest_src = [d for j, d in enumerate(src) if j not in used]
        rest_out = [d for j, d in enumerate(out)
                    if j != infer_at and not isinstance(spec[j], tuple)]
        known = None not in rest_src
        if infer_at is not None:
            if not known:
                out[infer_at] = None
            else:
                denom = math.prod(rest_out)
                total = math.prod(rest_src)
                if denom == 0 or total % denom:
                    raise OpError(f"RESHAPE: cannot reshape {tuple(src)} into {_show(spec)}")
                out[infer_at] = total // denom
        elif known and math.prod(rest_src) != math.prod(rest_out):
            raise OpError(f"RESHAPE: cannot reshape {tuple(src)} ({math.prod(rest_src)} elements "
                          f"besides copied dims) into {_show(spec)}")
        return tuple(out), dtypes[0]

    def perform(self, inputs, attrs):
        x = inputs[0]
        return x.reshape(self.infer([x.shape], [str(x.dtype)], attrs)[0])

    def grad(self, node, grad_output):
        """Reshape back: dims the forward copied are copied back, known dims are given,
        and one unknown dim is inferred (-1); with more unknown dims, back to the input's
        shape as known once the graph is specialized (RESHAPE_LIKE)."""
        x = node.inputs[0]
        copied = {}
        for j, s in enumerate(node.attrs["shape"]):
            if isinstance(s, tuple):
                copied.setdefault(s[1], j)
        back = [("in", copied[i]) if i in copied else (-1 if d is None else d)
                for i, d in enumerate(x.shape)]
        if back.count(-1) > 1:
            return [ad.node("RESHAPE_LIKE", grad_output, x)]
        return [ad.reshape(grad_output, back)]

    def lower(self, node, ctx):
        ctx.view(node, node.inputs[0])


@register
class ReshapeLike(Op):
    """RESHAPE_LIKE(x, like) {lead, skip}: x's elements in like's shape, as known once the
    graph is specialized: the gradient of a RESHAPE whose input has several unknown dims.
    With ``lead`` (and ``skip``, default 0), the shape is like's first ``lead`` dims then
    x's dims from ``skip`` on: TimeDistributed's (batch * time, ...) back to (batch, time,
    ...) when neither is known. ``like`` only gives the shape (its values are never
    read)."""
    name, group, arity = "RESHAPE_LIKE", LAYOUT, 2

    @staticmethod
    def target(x, like, attrs):
        lead = attrs.get("lead")
        return tuple(like) if lead is None else \
            tuple(like[:lead]) + tuple(x[attrs.get("skip", 0):])

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        x, like = shapes
        out = self.target(x, like, attrs)
        if None not in x and None not in out and math.prod(x) != math.prod(out):
            target = tuple(like) if attrs.get("lead") is None else \
                f"{out} (like's first {attrs['lead']} dims of {tuple(like)})"
            raise OpError(f"RESHAPE_LIKE: cannot reshape {tuple(x)} ({math.prod(x)} elements) "
                          f"like {target} ({math.prod(out)} elements)")
        return out, dtypes[0]

    def perform(self, inputs, attrs):
        x, like = inputs
        return x.reshape(self.infer([x.shape, like.shape], [str(x.dtype)], attrs)[0])

    def grad(self, node, grad_output):
        return [ad.node("RESHAPE_LIKE", grad_output, node.inputs[0]), None]

    def lower(self, node, ctx):
        ctx.view(node, node.inputs[0])


def _show(spec):
    return "(" + ", ".join(f"in[{s[1]}]" if isinstance(s, tuple) else str(s) for s in spec) + ")"


@register
class Transpose(Op):
    """TRANSPOSE {perm}: out.shape[i] = x.shape[perm[i]]."""
    name, group, arity = "TRANSPOSE", LAYOUT, 1

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        perm = attrs["perm"]
        if sorted(perm) != list(range(len(shapes[0]))):
            raise OpError(f"TRANSPOSE: perm {perm} is not a permutation of the axes of "
                          f"shape {shapes[0]}")
        return tuple(shapes[0][p] for p in perm), dtypes[0]

    def perform(self, inputs, attrs):
        return np.ascontiguousarray(np.transpose(inputs[0], attrs["perm"]))

    def grad(self, node, grad_output):
        perm = node.attrs["perm"]
        inverse = tuple(sorted(range(len(perm)), key=lambda i: perm[i]))
        return [ad.node("TRANSPOSE", grad_output, perm=inverse)]

    def lower(self, node, ctx):
        x = node.inputs[0]
        src = contiguous_strides(x.shape)
        emit_copy(ctx, node.shape, ctx.inp(x), [src[p] for p in node.attrs["perm"]],
                  ctx.out(node), contiguous_strides(node.shape), node.dtype)


@register
class Concatenate(Op):
    """CONCATENATE {axis}: join inputs along an existing axis."""
    name, group, arity = "CONCATENATE", LAYOUT, None

    def infer(self, shapes, dtypes, attrs):
        if not shapes:
            raise OpError("CONCATENATE needs at least one input")
        rank = len(shapes[0])
        axis = normalize_axis(self.name, attrs["axis"], rank)
        for s in shapes:
            if len(s) != rank or any(a != b and None not in (a, b)
                                     for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis):
                raise OpError("CONCATENATE: inputs must match except on axis "
                              f"{attrs['axis']}, got shapes {', '.join(map(str, shapes))}")
        if len(set(dtypes)) > 1:
            raise OpError(f"CONCATENATE: inputs have different dtypes {dtypes}")
        out = list(broadcast_shapes(self.name, *[s[:axis] + (1,) + s[axis + 1:] for s in shapes]))
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out), dtypes[0]

    def perform(self, inputs, attrs):
        return np.concatenate(inputs, axis=attrs["axis"])

    def grad(self, node, grad_output):
        """Each input's piece of the gradient (located by the inputs' shapes, which may
        be known only once the graph is specialized)."""
        return [ad.node("CONCAT_PIECE", grad_output, *node.inputs, axis=node.attrs["axis"],
                        index=k) for k in range(len(node.inputs))]

    def lower(self, node, ctx):
        """Copy each input into its place, except inputs whose op wrote them there."""
        axis = attrs_axis(node)
        out_strides = contiguous_strides(node.shape)
        in_place = [ctx.concat_in_place(node, x) for x in node.inputs]
        out, offset = ctx.inp(node), 0
        for x, there in zip(node.inputs, in_place):
            if not there and x.size:
                emit_copy(ctx, x.shape, ctx.inp(x), contiguous_strides(x.shape), out,
                          out_strides, node.dtype, dst_offset=offset * out_strides[axis])
            offset += x.shape[axis]


@register
class ConcatPiece(Op):
    """CONCAT_PIECE {axis, index}: inputs (g, x_0 .. x_n-1): the piece of g (shaped like
    CONCATENATE(x_0 .. x_n-1)) where x_index sits: the gradient of CONCATENATE. The
    x's only give shapes (their values are never read)."""
    name, group, arity = "CONCAT_PIECE", LAYOUT, None

    def infer(self, shapes, dtypes, attrs):
        if len(shapes) < 2 or not 0 <= attrs["index"] < len(shapes) - 1:
            raise OpError(f"CONCAT_PIECE: needs the gradient and the concatenated inputs, "
                          f"with index in range; got {len(shapes)} inputs, index "
                          f"{attrs['index']}")
        joined, _ = Concatenate().infer(shapes[1:], dtypes[1:], attrs)
        g = shapes[0]
        if len(g) != len(joined) or any(a is not None and b is not None and a != b
                                        for a, b in zip(g, joined)):
            raise OpError(f"CONCAT_PIECE: gradient of shape {g} does not match the "
                          f"concatenation {joined}")
        return tuple(shapes[1 + attrs["index"]]), dtypes[0]

    def perform(self, inputs, attrs):
        return np.ascontiguousarray(inputs[0][piece_index(inputs[1:], attrs)])

    def grad(self, node, grad_output):
        """The piece back in place, zeros elsewhere."""
        index = node.attrs["index"]
        parts = [grad_output if k == index else ad.zeros_like(x)
                 for k, x in enumerate(node.inputs[1:])]
        return [ad.node("CONCATENATE", *parts, axis=node.attrs["axis"])] + \
            [None] * (len(node.inputs) - 1)

    def lower(self, node, ctx):
        g = node.inputs[0]
        Slice().lower(_slice_node(node, g), ctx, as_node=node)


def piece_index(pieces, attrs):
    """The numpy index of piece ``attrs['index']`` of the concatenation of ``pieces``
    (arrays or nodes: only their shapes are read)."""
    rank = len(pieces[0].shape)
    axis = attrs["axis"] % rank
    start = sum(p.shape[axis] for p in pieces[:attrs["index"]])
    stop = start + pieces[attrs["index"]].shape[axis]
    return tuple(slice(start, stop) if d == axis else slice(None) for d in range(rank))


def _slice_node(node, g):
    """The SLICE of ``g`` a CONCAT_PIECE node takes (shapes are concrete when lowering)."""
    index = piece_index(node.inputs[1:], node.attrs)
    from ..graph.node import Node
    return Node("SLICE", (g,), {"begin": tuple(s.start for s in index),
                                "end": tuple(s.stop for s in index),
                                "step": (1,) * len(index)})


def attrs_axis(node):
    return normalize_axis(node.op.name, node.attrs["axis"], len(node.shape))


@register
class Slice(Op):
    """SLICE {begin, end, step}: basic strided slicing, one entry per axis (numpy rules)."""
    name, group, arity = "SLICE", LAYOUT, 1

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        shape = shapes[0]
        begin, end, step = attrs["begin"], attrs["end"], attrs["step"]
        if not len(begin) == len(end) == len(step) == len(shape):
            raise OpError(f"SLICE: begin/end/step need {len(shape)} entries for shape {shape}")
        out = []
        for d, b, e, s in zip(shape, begin, end, step):
            if s == 0:
                raise OpError("SLICE: step cannot be 0")
            out.append(None if d is None else len(range(*slice(b, e, s).indices(d))))
        return tuple(out), dtypes[0]

    def perform(self, inputs, attrs):
        index = tuple(slice(b, e, s) for b, e, s in
                      zip(attrs["begin"], attrs["end"], attrs["step"]))
        return np.ascontiguousarray(inputs[0][index])

    def grad(self, node, grad_output):
        return [ad.node("SLICE_GRAD", grad_output, node.inputs[0], **node.attrs.as_dict())]

    def lower(self, node, ctx, as_node=None):
        """A view when the slice is one contiguous block of its input, else a copy.
        ``as_node``: the node whose value this slice is (an op lowering as a SLICE)."""
        x, target = node.inputs[0], as_node or node
        offset, strides = slice_offset_strides(x.shape, node.attrs)
        if node.size and _is_block(x.shape, node.shape, node.attrs["step"]):
            ctx.view(target, x, offset * _elem_size(node.dtype))
        elif node.size:
            emit_copy(ctx, node.shape, ctx.inp(x), strides, ctx.out(target),
                      contiguous_strides(node.shape), node.dtype, src_offset=offset)
        else:
            ctx.out(target)


def _is_block(in_shape, out_shape, step):
    """Whether a slice of a contiguous array is contiguous: extent 1 before some axis,
    any range (step 1) on it, whole axes in order (step 1) after it: a whole axis taken
    backwards (step -1) has the input's extent but not its order."""
    axis = 0
    while axis < len(out_shape) - 1 and out_shape[axis] == 1:
        axis += 1
    if any(n > 1 and s != 1 for n, s in zip(out_shape[axis:], step[axis:])):
        return False
    return tuple(out_shape[axis + 1:]) == tuple(in_shape[axis + 1:])


def slice_offset_strides(shape, attrs):
    """Element offset of a slice's first element and its strides, in a contiguous array."""
    base = contiguous_strides(shape)
    offset, strides = 0, []
    for d, st, b, e, s in zip(shape, base, attrs["begin"], attrs["end"], attrs["step"]):
        start = slice(b, e, s).indices(d)[0]
        offset += start * st
        strides.append(st * s)
    return offset, strides


@register
class SliceGrad(Op):
    """SLICE_GRAD(g, like) {begin, end, step}: zeros of like's shape with ``g`` written
    where SLICE(like) {begin, end, step} reads: the gradient of SLICE. ``like`` only
    gives the shape (its values are never read)."""
    name, group, arity = "SLICE_GRAD", LAYOUT, 2

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        g, like = shapes
        sliced, _ = Slice().infer([like], [dtypes[1]], attrs)
        if len(g) != len(sliced) or any(a is not None and b is not None and a != b
                                        for a, b in zip(g, sliced)):
            raise OpError(f"SLICE_GRAD: gradient of shape {g} does not match the slice "
                          f"{sliced} of {like}")
        return tuple(like), require_float(self.name, dtypes[:1])

    def perform(self, inputs, attrs):
        g, like = inputs
        index = tuple(slice(b, e, s) for b, e, s in
                      zip(attrs["begin"], attrs["end"], attrs["step"]))
        out = np.zeros(like.shape, dtype=g.dtype)
        out[index] = g
        return out

    def grad(self, node, grad_output):
        return [ad.node("SLICE", grad_output, **node.attrs.as_dict()), None]

    def lower(self, node, ctx):
        from .elementwise import require_f32
        require_f32(node, ctx)
        g = node.inputs[0]
        out = ctx.out(node)
        if node.size:
            ctx.emit("GN_K_FILL", n=ctx.numel(node), dst=out, value=0.0)
        if g.size:
            offset, strides = slice_offset_strides(node.shape, node.attrs)
            emit_copy(ctx, g.shape, ctx.inp(g), contiguous_strides(g.shape), out, strides,
                      node.dtype, dst_offset=offset)


@register
class BroadcastTo(Op):
    """BROADCAST_TO {shape}: materialize numpy broadcasting; -1 keeps the input's dim."""
    name, group, arity = "BROADCAST_TO", LAYOUT, 1

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        src = shapes[0]
        target = list(attrs["shape"])
        pad = len(target) - len(src)
        if pad < 0:
            raise OpError(f"BROADCAST_TO: cannot broadcast {src} to fewer dims {tuple(target)}")
        for i, t in enumerate(target):
            if t == -1:
                target[i] = src[i - pad] if i >= pad else 1
        out = broadcast_shapes(self.name, src, tuple(target))
        if tuple(out) != tuple(target) and None not in target:
            raise OpError(f"BROADCAST_TO: cannot broadcast {src} to {tuple(target)}")
        return tuple(target), dtypes[0]

    def perform(self, inputs, attrs):
        shape = self.infer([inputs[0].shape], [str(inputs[0].dtype)], attrs)[0]
        return np.ascontiguousarray(np.broadcast_to(inputs[0], shape))

    def grad(self, node, grad_output):
        return [ad.unbroadcast(grad_output, node.inputs[0].shape)]

    def lower(self, node, ctx):
        x = node.inputs[0]
        emit_copy(ctx, node.shape, ctx.inp(x), broadcast_strides(x.shape, node.shape),
                  ctx.out(node), contiguous_strides(node.shape), node.dtype)

