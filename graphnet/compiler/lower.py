"""Lowering: an optimized op graph with concrete shapes -> a Plan of kernel steps.

Each op's ``lower`` asks this context for buffers (``inp``, ``out``, ``temp``,
``view``) and emits steps. Buffers are logical until memory planning gives
arena buffers their offsets.
"""
import contextlib
import math

import numpy as np

from ..graph.graph import topological_order
from ..graph.node import Node
from ..ops.layout import emit_copy
from ..ops.registry import OpError
from ..runtime.abi import SLOT_KINDS, VALUES
from ..runtime.kernel_layout import KernelArgError
from ..runtime.kernels import KERNELS
from .memory import plan_arena
from .plan import Plan

ARENA, INPUT, OUTPUT, WEIGHT, CONST = SLOT_KINDS
SLOT_KIND = {kind: code for code, kind in enumerate(SLOT_KINDS)}
_ITEMSIZE = {}   # dtype name -> bytes per element


def _itemsize(dtype):
    size = _ITEMSIZE.get(dtype)
    if size is None:
        size = _ITEMSIZE[dtype] = np.dtype(dtype).itemsize
    return size


class Buffer:
    __slots__ = ("kind", "index", "nbytes", "first", "last", "offset")

    def __init__(self, kind, index, nbytes, first):
        self.kind, self.index, self.nbytes = kind, index, nbytes
        self.first = self.last = first
        self.offset = 0


class Lowering:
    """The context ops lower through."""

    def __init__(self, input_uids, order=(), pinned=(), updates=()):
        self.input_index = {uid: i for i, uid in enumerate(input_uids)}
        self.buffers, self.slots, self.slot_of = [], [], {}
        self.where = {}            # node id -> (buffer index, byte offset)
        self.holders = {}          # buffer index -> ids of the nodes living in it
        self.pending = {}          # node id -> reads not yet lowered
        self.reader_nodes = {}     # node id -> the nodes reading it
        self.variable_nodes = {}   # Variable id -> its VARIABLE nodes (its old value)
        for node in order:
            for x in node.inputs:
                self.pending[id(x)] = self.pending.get(id(x), 0) + 1
                self.reader_nodes.setdefault(id(x), []).append(node)
            if node.op.name == "VARIABLE":
                self.variable_nodes.setdefault(id(node.attrs["var"]), []).append(node)
        self.update_of = {}        # node id -> the Variable it is the new value of
        for var, node in updates:
            self.update_of.setdefault(id(node), var)
        self.pinned = {id(n) for n in pinned}
        self.concat_slot = self._concat_members(order)   # node id -> (concat, byte offset)
        self.concat_buffer = {}                          # concat id -> buffer index
        self.update_targets = []
        self.steps, self.iargs, self.fargs, self.kernels = [], [], [], []
        self.origins, self.origin = [], None   # per step; the layer of the node lowered
        self.weights, self.weight_index = [], {}
        self.consts = []

    # -- used by ops ---------------------------------------------------------
    @staticmethod
    def c(name):
        """A constant of the C API (enum value) by name."""
        return VALUES[name]

    @staticmethod
    def numel(node):
        return math.prod(node.shape)

    def inp(self, node):
        buf, offset = self.where[id(node)]
        self.buffers[buf].last = len(self.steps)
        return self._slot(buf, offset)

    def out(self, node, inplace=()):
        """A buffer for ``node``'s value. With ``inplace`` candidates (inputs of the node),
        reuse the buffer of one whose value no later step reads (elementwise kernels
        may write over their input)."""
        member = self.concat_slot.get(id(node))
        if member is not None:  # written straight into its concatenation's buffer
            concat, offset = member
            if id(concat) not in self.concat_buffer:
                nbytes = self.numel(concat) * np.dtype(concat.dtype).itemsize
                self.concat_buffer[id(concat)] = self._new_buffer(ARENA, None, nbytes)
            buf = self.concat_buffer[id(concat)]
            self.buffers[buf].last = len(self.steps)
            self._place(node, buf, offset)
            return self._slot(buf, offset)
        nbytes = self.numel(node) * _itemsize(node.dtype)
        for x in inplace:
            buf = self._reusable(node, x, nbytes)
            if buf is not None:
                self.buffers[buf].last = len(self.steps)
                self._place(node, buf, 0)
                return self._slot(buf, 0)
        buf = self._new_buffer(ARENA, None, nbytes)
        self._place(node, buf, 0)
        return self._slot(buf, 0)

    def readers(self, node):
        return list(self.reader_nodes.get(id(node), ()))

    def out_in_variable(self, node, inputs):
        """A slot in the Variable whose new value ``node`` is, for a step that computes it
        reading ``inputs`` at the same positions: the variable is updated in place, with no
        copy. None (use ``out``) when ``node`` is no update, or a later step (or another
        output) still reads the variable's old value."""
        var = self.update_of.get(id(node))
        if var is None or (tuple(var.shape), var.dtype) != (node.shape, node.dtype):
            return None
        olds = self.variable_nodes.get(id(var), [])
        own_reads = sum(1 for x in inputs for v in olds if x is v)
        if any(id(v) in self.pinned for v in olds) or \
                sum(self.pending.get(id(v), 0) for v in olds) != own_reads:
            return None
        target = Node("VARIABLE", (), {"var": var})
        self.update_targets.append(target)  # keep alive: `where` is keyed by id
        self.bind_source(target)
        buf, _ = self.where[id(target)]
        self._place(node, buf, 0)
        return self._slot(buf, 0)

    def _concat_members(self, order):
        """Inputs a CONCATENATE can have written straight into its buffer: read by it
        alone, once, not outputs, joined along the first axis that is not 1 (so each is
        one contiguous block of the result)."""
        members = {}
        for node in order:
            if node.op.name != "CONCATENATE" or not node.size:
                continue
            axis = node.attrs["axis"] % len(node.shape)
            if any(d != 1 for d in node.shape[:axis]):
                continue
            itemsize = np.dtype(node.dtype).itemsize
            per_index = self.numel(node) // node.shape[axis] * itemsize
            offset = 0
            for x in node.inputs:
                if self.pending.get(id(x)) == 1 and id(x) not in self.pinned and x.inputs:
                    members[id(x)] = (node, offset)
                offset += x.shape[axis] * per_index
        return members

    def concat_in_place(self, node, x):
        """Whether ``x`` already sits in its place in ``node``'s (a CONCATENATE) buffer;
        places ``node`` in that buffer (creating it if no input is there yet)."""
        member = self.concat_slot.get(id(x))
        if id(node) not in self.concat_buffer:
            nbytes = self.numel(node) * np.dtype(node.dtype).itemsize
            self.concat_buffer[id(node)] = self._new_buffer(ARENA, None, nbytes)
        buf = self.concat_buffer[id(node)]
        if id(node) not in self.where:
            self._place(node, buf, 0)
        self.buffers[buf].last = len(self.steps)
        return member is not None and member[0] is node and \
            self.where.get(id(x)) == (buf, member[1])

    def _reusable(self, node, x, nbytes):
        if x.shape != node.shape or x.dtype != node.dtype or id(x) not in self.where:
            return None
        buf, offset = self.where[id(x)]
        if offset or self.buffers[buf].kind != ARENA or self.buffers[buf].nbytes != nbytes:
            return None
        reads_here = {}
        for y in node.inputs:
            reads_here[id(y)] = reads_here.get(id(y), 0) + 1
        for holder in self.holders[buf]:
            if holder in self.pinned or self.pending.get(holder, 0) != reads_here.get(holder, 0):
                return None
        return buf

    def done(self, node):
        """Called after ``node`` is lowered: its reads are no longer pending."""
        for x in node.inputs:
            self.pending[id(x)] -= 1

    def _place(self, node, buf, offset):
        self.where[id(node)] = (buf, offset)
        holders = self.holders.get(buf)
        if holders is None:   # not setdefault(buf, set()): that makes a set on every call
            self.holders[buf] = {id(node)}
        else:
            holders.add(id(node))

    def temp(self, nbytes):
        return self._slot(self._new_buffer(ARENA, None, nbytes), 0)

    def view(self, node, src, byte_offset=0):
        buf, offset = self.where[id(src)]
        self._place(node, buf, offset + byte_offset)

    def emit(self, kernel, **args):
        """One step of ``kernel`` with its arguments by name, as its entry in
        graphnet/runtime/kernels.py lays them out (arrays as sequences)."""
        if kernel not in KERNELS:
            raise OpError(f"unknown kernel {kernel!r}")
        try:
            ints, floats = KERNELS[kernel].encode(args)
        except KernelArgError as exc:
            raise OpError(str(exc)) from None
        self.steps.append((KERNELS[kernel].id, len(self.iargs), len(self.fargs), len(ints)))
        self.kernels.append(kernel)
        self.origins.append(self.origin)
        self.iargs.extend(ints)
        self.fargs.extend(floats)

    def bind_source(self, node):
        name = node.op.name
        if name == "INPUT":
            index = self.input_index[node.attrs["uid"]]
            buf = self._new_buffer(INPUT, index, 0)
        elif name == "VARIABLE":
            var = node.attrs["var"]
            if var.dtype != node.dtype or var.shape != node.shape:
                raise OpError(f"variable {var.name} changed shape or dtype after the graph "
                              "was built")
            if id(var) not in self.weight_index:
                self.weight_index[id(var)] = len(self.weights)
                self.weights.append(var)
            buf = self._new_buffer(WEIGHT, self.weight_index[id(var)], 0)
        else:
            self.consts.append(node.attrs["value"].array)
            buf = self._new_buffer(CONST, len(self.consts) - 1, 0)
        self._place(node, buf, 0)

    # -- internals -----------------------------------------------------------
    def _new_buffer(self, kind, index, nbytes):
        self.buffers.append(Buffer(kind, index, nbytes, len(self.steps)))
        return len(self.buffers) - 1

    def _slot(self, buf, offset):
        key = (buf, offset)
        if key not in self.slot_of:
            self.slot_of[key] = len(self.slots)
            self.slots.append(key)
        return self.slot_of[key]

    def bind_outputs(self, outputs):
        """Make each output's buffer the caller's output array, copying only when needed."""
        claimed = set()
        for i, node in enumerate(outputs):
            buf, offset = self.where[id(node)]
            b = self.buffers[buf]
            owns = b.kind == ARENA and offset == 0 and buf not in claimed and \
                b.nbytes == self.numel(node) * np.dtype(node.dtype).itemsize
            if owns:
                b.kind, b.index = OUTPUT, i
                claimed.add(buf)
                continue
            dst = self._new_buffer(OUTPUT, i, 0)
            n = self.numel(node)
            if n:
                emit_copy(self, [n], self.inp(node), [1], self._slot(dst, 0), [1], node.dtype)

    def write_updates(self, updates):
        """Copy each new value into its variable's own buffer (weights stay in place),
        unless it was computed there."""
        for var, node in updates:
            if var.shape != node.shape or var.dtype != node.dtype:
                raise OpError(f"update of {var.name}: new value is {node.shape} {node.dtype}, "
                              f"the variable is {var.shape} {var.dtype}")
            buf, offset = self.where[id(node)]
            if self.buffers[buf].kind == WEIGHT and offset == 0 and \
                    self.buffers[buf].index == self.weight_index.get(id(var)):
                continue   # updated in place (out_in_variable), or left as it is
            target = Node("VARIABLE", (), {"var": var})
            self.update_targets.append(target)  # keep alive: `where` is keyed by id
            self.bind_source(target)
            n = self.numel(node)
            if n:
                emit_copy(self, [n], self.inp(node), [1], self.inp(target), [1], node.dtype)

    def finish(self, input_specs, outputs):
        arena = [b for b in self.buffers if b.kind == ARENA]
        arena_bytes, unplanned = plan_arena(arena)
        arena_number = {id(b): i for i, b in enumerate(arena)}
        slots, slot_buffers = [], []
        for buf, offset in self.slots:
            b = self.buffers[buf]
            index = 0 if b.kind == ARENA else b.index
            base = b.offset if b.kind == ARENA else 0
            slots.append((SLOT_KIND[b.kind], index, base + offset))
            slot_buffers.append(arena_number.get(id(b), -1))
        return Plan(
            steps=np.array(self.steps, dtype=np.int64).reshape(-1, 4),
            iargs=np.array(self.iargs, dtype=np.int64),
            fargs=np.array(self.fargs, dtype=np.float32),
            slots=np.array(slots, dtype=np.int64).reshape(-1, 3),
            consts=list(self.consts),
            arena_bytes=arena_bytes,
            unplanned_bytes=unplanned,
            input_specs=list(input_specs),
            output_specs=[(tuple(n.shape), n.dtype) for n in outputs],
            weight_specs=[(v.name, tuple(v.shape), v.dtype) for v in self.weights],
            kernels=list(self.kernels),
            origins=list(self.origins),
            arena_buffers=np.array([(b.first, b.last, b.nbytes, b.offset) for b in arena],
                                   dtype=np.int64).reshape(-1, 4),
            slot_buffers=np.array(slot_buffers, dtype=np.int64),
        )


def lower(inputs, outputs, updates=(), report=None):
    """Lower a specialized graph. ``inputs`` are its INPUT nodes in feed order;
    ``updates`` are (Variable, Node) pairs written into the variables after every
    output and new value has been computed (so all reads see the old values), or in
    place by the step computing them when nothing reads the old value after it.
    ``report``: a CompileReport that gets the CPU seconds of the steps and of the arena."""
    timed = report.timed if report is not None else _untimed
    news = [node for _, node in updates]
    with timed("lower steps"):
        order = topological_order(list(outputs) + news)
        ctx = Lowering([n.attrs["uid"] for n in inputs], order, pinned=list(outputs) + news,
                       updates=updates)
        for node in order:
            ctx.origin = node.origin
            node.op.lower(node, ctx)
            ctx.done(node)
        ctx.bind_outputs(outputs)
        ctx.write_updates(updates)
    with timed("lower arena and arrays"):
        specs = [(n.attrs["name"], tuple(n.shape), n.dtype) for n in inputs]
        plan = ctx.finish(specs, outputs)
    return plan, list(ctx.weights)


def _untimed(name):
    return contextlib.nullcontext()
