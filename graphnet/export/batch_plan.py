"""Instantiating a batch-generic plan for one batch size (see batch_fit.py for the fit).

A generic plan is stored at N = 0 with per-batch coefficients: the value of every int
argument, slot offset and of the arena size for batch N is ``base + N * per_batch``.
Imports only NumPy: the loader uses it without the compiler.
"""
from dataclasses import dataclass, replace

import numpy as np

#: instantiated values stay below this, far from int64 overflow in the kernels' arithmetic
VALUE_LIMIT = 1 << 62


@dataclass
class BatchCoefficients:
    """Per-batch coefficients of a generic plan (``graphnet/export/FORMAT.md``)."""
    iargs: np.ndarray        # int64, one per int argument
    slots: np.ndarray        # int64, one per slot: of its byte offset
    arena_bytes: int
    unplanned_bytes: int
    min_batch: int           # smaller batch sizes have plans of their own


def max_batch(plan, coefficients):
    """The largest batch size whose values all stay below ``VALUE_LIMIT``."""
    bases = [plan.iargs, plan.slots[:, 2], np.array([plan.arena_bytes, plan.unplanned_bytes])]
    slopes = [coefficients.iargs, coefficients.slots,
              np.array([coefficients.arena_bytes, coefficients.unplanned_bytes])]
    limit = VALUE_LIMIT
    for base, slope in zip(bases, slopes):
        moving = slope != 0
        if moving.any():
            room = (VALUE_LIMIT - np.abs(base[moving])) // np.abs(slope[moving])
            limit = min(limit, int(room.min()))
    return limit


def batch_shape(shape, n):
    """``shape`` with its batch dimension (None) set to ``n``."""
    return tuple(n if d is None else d for d in shape)


def instantiate(plan, coefficients, n):
    """``plan`` (the generic plan at N = 0) for batch size ``n``: a copy with the same
    steps and every batch-dependent value computed. Not verified: the caller verifies it."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"batch size must be an integer, got {type(n).__name__}")
    n = int(n)
    if n < coefficients.min_batch:
        raise ValueError(f"batch size {n}: the generic plan serves batch sizes from "
                         f"{coefficients.min_batch}")
    top = max_batch(plan, coefficients)
    if n > top:
        raise ValueError(f"batch size {n} is larger than this plan allows ({top})")
    slots = plan.slots.copy()
    slots[:, 2] += n * coefficients.slots
    return replace(plan, iargs=plan.iargs + n * coefficients.iargs, slots=slots,
                   arena_bytes=plan.arena_bytes + n * coefficients.arena_bytes,
                   unplanned_bytes=plan.unplanned_bytes + n * coefficients.unplanned_bytes,
                   input_specs=[(name, batch_shape(shape, n), dtype)
                                for name, shape, dtype in plan.input_specs],
                   output_specs=[(batch_shape(shape, n), dtype)
                                 for shape, dtype in plan.output_specs])
