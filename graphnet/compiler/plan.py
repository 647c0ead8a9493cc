"""The Plan: a flat, serializable list of kernel steps over one arena.

It holds arrays and plain values only (no Python objects): what the runtime
executes and what export writes. Weights are named by index; whoever runs the
plan binds them (``runtime.Executable``).
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Plan:
    steps: np.ndarray          # (nsteps, 4) int64: kernel, iarg offset, farg offset, n iargs
    iargs: np.ndarray          # int64 arguments, slot numbers included
    fargs: np.ndarray          # float32 arguments
    slots: np.ndarray          # (nslots, 3) int64: kind, index, byte offset
    consts: list               # constant arrays
    arena_bytes: int
    unplanned_bytes: int
    input_specs: list          # (name, shape, dtype) per fed input
    output_specs: list         # (shape, dtype) per output
    weight_specs: list         # (name, shape, dtype) per bound weight
    kernels: list = field(default_factory=list)   # kernel name per step
    origins: list = field(default_factory=list)   # per step, the layer it came from or None
    # the arena's buffers, for exporters that lay the arena out again: (nbuf, 4) int64 of
    # first step, last step, bytes, offset; and per slot, its buffer (-1 outside the arena)
    arena_buffers: np.ndarray = None
    slot_buffers: np.ndarray = None

    @property
    def kernel_count(self):
        return len(self.steps)
