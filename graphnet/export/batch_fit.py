"""Batch-generic plans, fitted at export: one plan whose integers are affine in the batch size.

Plans are specialized to concrete shapes. ``fit_batch_plan`` lowers a model at a few batch
sizes and checks that the plans have the same steps, kernels, floats, constants and
weights, and that every integer argument and every slot's offset into its buffer is
``a + b*N`` exactly: fitted on ``FIT_BATCHES`` and checked on ``CHECK_BATCHES``, which the
fit never saw. What cannot be fitted, it lays out or chooses itself:

* the arena: the compiler's planner places buffers by size, so its offsets move with N in
  steps, not lines. The fitted buffers (``c + d*N`` bytes each) are laid out again, with
  the same planner and live ranges, in two regions: the buffers of constant size, then the
  batch-sized ones planned per sample (``d + max(c, 0)`` bytes, rounded up to 64) and
  scaled by N.
  Scaling a layout keeps overlapping live ranges apart, so the layout holds for every N;
  every offset and the arena size are ``a + b*N`` and 64-byte aligned.
* convolution workspaces: their length is a capacity the kernel splits its images over
  (``split_for`` in csrc/conv_internal.h: a shorter one means smaller blocks of images,
  a longer one is left unused), and it saturates with N in steps. The generic plan keeps
  the length compiled for the largest probe, ``max(CHECK_BATCHES)``, for every N.
* the tile phase is left out: its number of image chunks depends on N.
* batch 1 (other kernels and strides for single samples, e.g. broadcasting) is kept as a
  plan of its own, compiled as usual; the generic plan serves N >= ``MIN_BATCH``.

``graphnet/export/batch_plan.py`` instantiates the plan for a given N; the loader verifies
each instantiated plan (``verify_plan``) before its first run.
"""
import numpy as np

from .batch_plan import BatchCoefficients, instantiate
from .source import concrete_shapes
from .verify import verify_plan

MIN_BATCH = 2
FIT_BATCHES = (2, 3)
CHECK_BATCHES = (5, 16, 64)
#: conv kernels' (work slot, work length) argument positions (csrc/plan.c)
WORKSPACE_ARGS = {name: (3, 4) for name in (
    "GN_K_CONV", "GN_K_CONV_BIAS_ACT", "GN_K_CONV_BIAS_ACT_POOL", "GN_K_CONV_BACKWARD_INPUT",
    "GN_K_CONV_BACKWARD_FILTER")}


class NotBatchGeneric(ValueError):
    """The model's plans do not vary with the batch size in the way a generic plan needs."""


def _fail(what):
    raise NotBatchGeneric(f"export: {what}, so one plan cannot serve every batch size; "
                          "export with a fixed batch_size=")


def _affine(values, batches, what, name=str):
    """(a, b) arrays with values[i] == a + b * batches[i] exactly, for int arrays;
    ``name(index)`` says which value an index is in an error."""
    values = [np.asarray(v, dtype=np.int64) for v in values]
    n0, n1 = batches[0], batches[1]
    slope, rest = np.divmod(values[1] - values[0], n1 - n0)
    base = values[0] - slope * n0
    for v, n in zip(values, batches):
        bad = np.flatnonzero(base + slope * n != v)
        if rest.any() or bad.size:
            at = int(np.flatnonzero(rest)[0]) if rest.any() else int(bad[0])
            _fail(f"{what} {name(at)} is {[int(u.reshape(-1)[at]) for u in values]} at "
                  f"batch sizes {list(batches)}, not a + b*N")
    return base, slope


def _same(plans, batches, what, get):
    first = get(plans[0])
    for p, n in zip(plans[1:], batches[1:]):
        if get(p) != first:
            _fail(f"the {what} at batch {n} differ from batch {batches[0]}")


def _dim_specs(shapes_by_batch, batches, what):
    """Shapes whose dimensions are constant or N: the shape with None for N."""
    out = []
    for i, shapes in enumerate(zip(*shapes_by_batch)):
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            _fail(f"{what} {i} changes rank with the batch size")
        base, slope = _affine([list(s) for s in shapes], batches, f"{what} {i}'s shape")
        dims = []
        for a, b in zip(base.tolist(), slope.tolist()):
            if (a, b) not in ((a, 0), (0, 1)):
                _fail(f"{what} {i} has a dimension {a} + {b}*N")
            dims.append(None if b else a)
        out.append(tuple(dims))
    return out


def _arg_name(plan, at):
    """'<i> of step <s> (<kernel>)' for the int argument at index ``at`` of ``plan``."""
    for s, ((_, ioff, _, nargs), kernel) in enumerate(zip(plan.steps.tolist(), plan.kernels)):
        if ioff <= at < ioff + nargs:
            return f"{at - ioff} of step {s} ({kernel})"
    return f"[{at}]"


def _workspaces(plan):
    """{iarg index of a work length: its buffer number} of a plan's convolutions."""
    out = {}
    for (_, ioff, _, _), kernel in zip(plan.steps.tolist(), plan.kernels):
        if kernel in WORKSPACE_ARGS:
            slot_at, len_at = WORKSPACE_ARGS[kernel]
            out[ioff + len_at] = int(plan.slot_buffers[int(plan.iargs[ioff + slot_at])])
    return out


def _layout(buffers, base, slope):
    """Offsets (a, b) of the arena buffers of ``base + slope*N`` bytes each (live over
    ``buffers[:, :2]``), and the arena size (C, D), all ``a + b*N``."""
    from ..compiler.lower import ARENA, Buffer
    from ..compiler.memory import plan_arena
    if (slope < 0).any() or (base[slope == 0] < 0).any():
        _fail("an arena buffer shrinks as the batch grows")
    planned = []
    for (first, last), c, d in zip(buffers[:, :2].tolist(), base.tolist(), slope.tolist()):
        # per sample d + max(c, 0) bytes: N of them hold c + d*N for every N >= 1
        planned.append(Buffer(ARENA, None, d + max(c, 0) if d else c, first))
        planned[-1].last = last
    const_bytes, const_unplanned = plan_arena([b for b, d in zip(planned, slope) if not d])
    row_bytes, row_unplanned = plan_arena([b for b, d in zip(planned, slope) if d])
    offsets = np.array([(const_bytes, b.offset) if d else (b.offset, 0)
                        for b, d in zip(planned, slope.tolist())],
                       dtype=np.int64).reshape(-1, 2)
    return offsets, (const_bytes, row_bytes), (const_unplanned, row_unplanned)


def _per_slot(per_buffer, slot_buffers):
    """Each slot's value of ``per_buffer`` (0 for slots outside the arena)."""
    padded = np.append(np.asarray(per_buffer, dtype=np.int64), 0)
    return padded[np.where(slot_buffers >= 0, slot_buffers, len(padded) - 1)]


def _compile(in_nodes, out_nodes, batch, phases):
    from ..compiler import compile_plan
    plan, weights, _ = compile_plan(in_nodes, out_nodes, concrete_shapes(in_nodes, batch),
                                    phases=phases)
    return plan, weights


def _check_inputs(in_nodes):
    for node in in_nodes:
        shape = tuple(node.shape)
        if None in shape[1:]:
            _fail(f"input {node.attrs['name']!r} has shape {shape}: only its first "
                  "dimension may be unknown")


def fit_batch_plan(in_nodes, out_nodes):
    """``(plan, coefficients, weights, specialized)`` for a model from INPUT nodes to output
    nodes: the generic plan at N = 0 (``instantiate`` it for a batch size), its per-batch
    coefficients, the Variables it reads, and ``{batch size: (plan, weight indices)}`` of
    the batch sizes below ``MIN_BATCH``, compiled as usual. Raises ``NotBatchGeneric``."""
    from ..compiler import PHASES
    _check_inputs(in_nodes)
    batches = FIT_BATCHES + CHECK_BATCHES
    no_tile = [p for p in PHASES if p != "tile"]
    compiled = [_compile(in_nodes, out_nodes, n, no_tile) for n in batches]
    plans = [p for p, _ in compiled]
    weights = compiled[0][1]
    _same(compiled, batches, "weights", lambda pw: [id(v) for v in pw[1]])
    for what, get in (("kernels", lambda p: p.kernels),
                      ("steps", lambda p: p.steps.tolist()),
                      ("float arguments", lambda p: p.fargs.tobytes()),
                      ("constants", lambda p: [(c.shape, c.dtype.str, c.tobytes())
                                               for c in map(np.asarray, p.consts)]),
                      ("slots", lambda p: (p.slots[:, :2].tolist(), p.slot_buffers.tolist())),
                      ("buffer live ranges", lambda p: p.arena_buffers[:, :2].tolist())):
        _same(plans, batches, what, get)
    inputs = _dim_specs([[s for _, s, _ in p.input_specs] for p in plans], batches, "input")
    outputs = _dim_specs([[s for s, _ in p.output_specs] for p in plans], batches, "output")
    last = plans[-1]
    work = _workspaces(last)
    fitted = [p.iargs.copy() for p in plans]
    sizes = [p.arena_buffers[:, 2].copy() for p in plans]
    for at, buf in work.items():     # capacities: the largest probe's, for every N
        for f, s in zip(fitted, sizes):
            f[at], s[buf] = last.iargs[at], last.arena_buffers[buf, 2]
    iargs = _affine(fitted, batches, "int argument", lambda at: _arg_name(last, at))
    size_base, size_slope = _affine(sizes, batches, "arena buffer size")
    views = [p.slots[:, 2] - _per_slot(p.arena_buffers[:, 3], p.slot_buffers) for p in plans]
    view_base, view_slope = _affine(views, batches, "slot offset")
    offsets, arena, unplanned = _layout(last.arena_buffers, size_base, size_slope)
    slot_base = view_base + _per_slot(offsets[:, 0], last.slot_buffers)
    slot_slope = view_slope + _per_slot(offsets[:, 1], last.slot_buffers)
    template = _template(last, iargs[0], slot_base, arena[0], unplanned[0], inputs, outputs)
    coefficients = BatchCoefficients(iargs=iargs[1], slots=slot_slope, arena_bytes=arena[1],
                                     unplanned_bytes=unplanned[1], min_batch=MIN_BATCH)
    for n in sorted(set(range(MIN_BATCH, 10)) | set(batches) | {100, 1000, 4096}):
        verify_plan(instantiate(template, coefficients, n), template.kernels)
    return template, coefficients, weights, _specialized(in_nodes, out_nodes, weights)


def _template(plan, iargs, slot_offsets, arena_bytes, unplanned, inputs, outputs):
    """``plan`` with its values at N = 0 and None for the batch in its shapes."""
    from dataclasses import replace
    slots = plan.slots.copy()
    slots[:, 2] = slot_offsets
    return replace(plan, iargs=iargs, slots=slots, arena_bytes=int(arena_bytes),
                   unplanned_bytes=int(unplanned),
                   input_specs=[(n, shape, d) for (n, _, d), shape in
                                zip(plan.input_specs, inputs)],
                   output_specs=[(shape, d) for (_, d), shape in
                                 zip(plan.output_specs, outputs)],
                   arena_buffers=None, slot_buffers=None)


def _specialized(in_nodes, out_nodes, weights):
    """{batch: (plan, indices of its weights in ``weights``)} below MIN_BATCH."""
    from ..compiler import PHASES
    index = {id(v): i for i, v in enumerate(weights)}
    out = {}
    for n in range(1, MIN_BATCH):
        plan, own = _compile(in_nodes, out_nodes, n, PHASES)
        if any(id(v) not in index for v in own):
            _fail(f"the plan for batch {n} reads weights the others do not")
        verify_plan(plan, plan.kernels)
        out[n] = (plan, [index[id(v)] for v in own])
    return out
