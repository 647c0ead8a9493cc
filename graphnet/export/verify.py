"""Plan verification: prove every memory access of a plan stays inside its buffers.

A plan read from a file is executed by C code (``gn_plan_run``) that trusts its
integer arguments. Before a loaded plan runs, ``verify_plan`` decodes every step
with the argument layout of its kernel (the table in graphnet/runtime/kernels.py, from
which csrc/plan_kernels.h, the C decoder, is generated), checks each enum, size and
stride, and computes the byte range each step reads and writes in each slot from the
table's extents; a range outside the slot's buffer (the arena, an input, an output, a
weight or a constant) is an error. A hand-edited or corrupted plan is refused with
``PlanError`` naming the step, never run. Uses only NumPy and the kernel table.
"""
import math

import numpy as np

from ..runtime.abi import DTYPE_CODE, DTYPE_SIZE, SLOT_KINDS  # noqa: F401  (re-exported)
from ..runtime.kernels import KERNEL_BY_ID, KERNELS


class PlanError(ValueError):
    """A plan that could read or write outside its buffers, or is otherwise malformed."""


class _Checker:
    def __init__(self, sizes, nslots_by_kind, slots):
        self.sizes = sizes              # (kind, index) -> bytes
        self.slots = slots
        self.written = set()            # slot numbers a step writes
        self.writes = {}                # (step, slot) -> (lo, hi), the hull it writes
        self.extents = {}               # slot -> (lo, hi), the bytes any step touches
        self.elem_size = {}             # slot -> widest element accessed through it
        self.step = None

    def fail(self, message):
        raise PlanError(f"step {self.step[0]} ({self.step[1]}): {message}")

    def slot_ok(self, slot, what):
        # gn_plan_run resolves a step's slot arguments whether or not it touches them
        if not 0 <= slot < len(self.slots):
            self.fail(f"{what} names slot {slot}, the plan has {len(self.slots)} slots")

    def access(self, slot, lo_elem, hi_elem, elem_size, write, what):
        """Elements [lo_elem, hi_elem) of ``elem_size`` bytes from slot ``slot``."""
        self.slot_ok(slot, what)
        if hi_elem <= lo_elem:
            return
        kind, index, offset = (int(v) for v in self.slots[slot])
        size = self.sizes[(kind, index)]
        lo, hi = offset + lo_elem * elem_size, offset + hi_elem * elem_size
        if lo < 0 or hi > size:
            self.fail(f"{what} accesses bytes [{lo}, {hi}) of {SLOT_KINDS[kind]} {index}, "
                      f"which has {size} bytes")
        self.elem_size[slot] = max(self.elem_size.get(slot, 1), elem_size)
        old = self.extents.get(slot, (lo, hi))
        self.extents[slot] = (min(old[0], lo), max(old[1], hi))
        if write:
            self.written.add(slot)
            key = (self.step[0], slot)
            old = self.writes.get(key, (lo, hi))
            self.writes[key] = (min(old[0], lo), max(old[1], hi))

    def strided(self, slot, base, shape, strides, elem_size, write, what):
        self.slot_ok(slot, what)
        if any(d == 0 for d in shape):
            return
        lo = hi = base
        for d, s in zip(shape, strides):
            span = (d - 1) * s
            lo, hi = (lo + span, hi) if span < 0 else (lo, hi + span)
        self.bounded_work(math.prod(shape), hi + 1 - lo, write, what)
        self.access(slot, lo, hi + 1, elem_size, write, what)

    def bounded_work(self, count, span, write, what):
        """A write of ``count`` elements must not exceed the ``span`` it lands in: strides
        that overlap (a stride of 0 over 2^40 elements) would make a step's work
        unbounded by any buffer."""
        if write and count > span:
            self.fail(f"{what} writes {count} elements into a span of {span}: its strides "
                      "overlap")

    def matrix(self, slot, rows, cols, ld, base, write, what):
        self.slot_ok(slot, what)
        if rows == 0 or cols == 0:
            return
        if ld < cols:
            self.fail(f"{what}: leading dimension {ld} is smaller than its {cols} columns")
        self.access(slot, base, base + (rows - 1) * ld + cols, 4, write, what)



def unverified_kernels():
    """Kernel names of the C API (this build's extension) the kernel table lacks."""
    from ..runtime.cext import lib
    return sorted({name for name in dir(lib) if name.startswith("GN_K_")} - set(KERNELS))


def _buffer_sizes(arena_bytes, input_specs, output_specs, weight_specs, const_arrays):
    def nbytes(shape, dtype):
        return math.prod(shape) * np.dtype(dtype).itemsize
    sizes = {(0, 0): int(arena_bytes)}
    for kind, specs in ((1, input_specs), (2, output_specs), (3, weight_specs)):
        for i, (shape, dtype) in enumerate(specs):
            sizes[(kind, i)] = nbytes(shape, dtype)
    for i, c in enumerate(const_arrays):
        sizes[(4, i)] = int(np.asarray(c).nbytes)
    return sizes


def verify_plan(plan, kernel_names=None, writable=None):
    """Check ``plan`` (a ``graphnet.compiler.Plan`` or anything with its fields) and
    return the set of slot numbers its steps write. Raises ``PlanError``.

    Besides every access in bounds: the plan has steps, its steps write every byte of
    every output (each step's writes to a slot counted as their hull), and each slot's
    offset is a multiple of the widest element a kernel accesses through it.
    ``writable``: the slot kinds (names from ``SLOT_KINDS``) a step may write, or None for
    any; a plan from a file may write only the arena and its outputs (``LOADED_WRITABLE``)."""
    return _verify(plan, kernel_names, writable).written


def plan_extents(plan):
    """{slot: (lo, hi)}: the bytes of its buffer each slot's accesses span, as
    ``verify_plan(plan)`` proved them (the plan fuzzer sizes buffers to exactly these)."""
    return _verify(plan, None, None).extents


def _verify(plan, kernel_names, writable):
    steps, iargs, fargs, slots = plan.steps, plan.iargs, plan.fargs, plan.slots
    if writable is not None and not set(writable) <= set(SLOT_KINDS):
        raise ValueError(f"writable must name slot kinds from {SLOT_KINDS}, got {writable!r}")
    for name, arr, dtype, ndim in (("steps", steps, np.int64, 2), ("iargs", iargs, np.int64, 1),
                                   ("fargs", fargs, np.float32, 1),
                                   ("slots", slots, np.int64, 2)):
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.ndim != ndim:
            raise PlanError(f"plan {name} must be a {ndim}-D {np.dtype(dtype)} array")
    if steps.shape[1] != 4 or slots.shape[1] != 3:
        raise PlanError("plan steps must have 4 columns and slots 3")
    if plan.arena_bytes < 0:
        raise PlanError(f"negative arena size {plan.arena_bytes}")
    specs = [[(s[1], s[2]) for s in plan.input_specs],
             [(s[0], s[1]) for s in plan.output_specs],
             [(s[1], s[2]) for s in plan.weight_specs]]
    sizes = _buffer_sizes(plan.arena_bytes, *specs, plan.consts)
    counts = {0: 1, 1: len(specs[0]), 2: len(specs[1]), 3: len(specs[2]), 4: len(plan.consts)}
    for s, (kind, index, offset) in enumerate(slots.tolist()):
        if kind not in counts:
            raise PlanError(f"slot {s} has unknown kind {kind}")
        if not 0 <= index < counts[kind] or (kind == 0 and index != 0):
            raise PlanError(f"slot {s} names {SLOT_KINDS[kind]} {index}, the plan has "
                            f"{counts[kind]}")
        if not 0 <= offset <= sizes[(kind, index)]:
            raise PlanError(f"slot {s} starts at byte {offset} of {SLOT_KINDS[kind]} {index}, "
                            f"which has {sizes[(kind, index)]} bytes")
    checker = _Checker(sizes, counts, slots)
    for i, (kid, ioff, foff, nargs) in enumerate(steps.tolist()):
        kernel = KERNEL_BY_ID.get(kid)
        checker.step = (i, kernel.name if kernel else f"kernel id {kid}")
        if kernel is None:
            checker.fail("unknown kernel")
        if kernel_names is not None and kernel_names[i] != kernel.name:
            checker.fail(f"the kernel list names {kernel_names[i]!r} for this step")
        if ioff < 0 or nargs < 0 or ioff + nargs > len(iargs):
            checker.fail(f"its {nargs} int arguments at offset {ioff} do not fit the "
                         f"{len(iargs)} of the plan")
        env, nfloats = kernel.decode(iargs[ioff:ioff + nargs], len(slots), checker.fail)
        if foff < 0 or foff + nfloats > len(fargs):
            checker.fail(f"its {nfloats} float arguments at offset {foff} do not fit the "
                         f"{len(fargs)} of the plan")
        kernel.check_extents(checker, env)
    if len(steps) == 0:
        raise PlanError("the plan has no steps (its outputs would never be written)")
    _check_slots(checker, sizes, writable)
    return checker


def _check_slots(checker, sizes, writable):
    """The plan-wide checks on the slots the steps touched: alignment, the kinds they may
    write, and every output written whole."""
    slots = checker.slots.tolist()
    for s, size in sorted(checker.elem_size.items()):
        kind, index, offset = slots[s]
        if offset % size:
            raise PlanError(f"slot {s} ({SLOT_KINDS[kind]} {index}) starts at byte {offset}, "
                            f"not a multiple of the {size}-byte elements its steps access")
    for s in sorted(checker.written):
        kind, index, _ = slots[s]
        if writable is not None and SLOT_KINDS[kind] not in writable:
            raise PlanError(f"slot {s} is {SLOT_KINDS[kind]} {index}, which a step writes; "
                            f"this plan may write only {', '.join(writable)}")
    covered = {}
    for (_, s), hull in checker.writes.items():
        kind, index, _ = slots[s]
        if SLOT_KINDS[kind] == "output":
            covered.setdefault(index, []).append(hull)
    for (kind, index), size in sorted(sizes.items()):
        if SLOT_KINDS[kind] != "output":
            continue
        end = 0
        for lo, hi in sorted(covered.get(index, [])):
            if lo > end:
                break
            end = max(end, hi)
        if end < size:
            raise PlanError(f"output {index} ({size} bytes) is not written whole: "
                            f"the steps write bytes [0, {end}) and no step writes byte {end}")
