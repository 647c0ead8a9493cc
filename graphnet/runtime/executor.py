"""Running a Plan: bind weights once, then one C call per run."""
import threading

import numpy as np

from .cext import ffi, lib


def _ptr(array):
    return ffi.cast("void *", array.ctypes.data)


class Executable:
    """A Plan bound to its weights. Stateless between runs: each calling thread gets
    its own arena, so one Executable can run from several threads at once."""

    def __init__(self, plan, weights):
        self.plan = plan
        self.weights = list(weights)
        self._keep = [np.ascontiguousarray(a) for a in
                      (plan.steps, plan.iargs, plan.fargs, plan.slots)]
        self._consts = [np.ascontiguousarray(c) for c in plan.consts]
        steps, iargs, fargs, slots = self._keep
        self._const_ptrs = ffi.new("void *[]", [_ptr(c) for c in self._consts] or [ffi.NULL])
        self._struct = ffi.new("gn_plan *", {
            "nsteps": len(steps), "steps": ffi.cast("int64_t *", steps.ctypes.data),
            "iargs": ffi.cast("int64_t *", iargs.ctypes.data),
            "fargs": ffi.cast("float *", fargs.ctypes.data),
            "nslots": len(slots), "slots": ffi.cast("int64_t *", slots.ctypes.data),
            "consts": self._const_ptrs})
        self._local = threading.local()

    def _weight_ptrs(self):
        arrays = [v.value for v in self.weights]
        for var, (name, shape, dtype) in zip(self.weights, self.plan.weight_specs):
            if var.value.shape != shape or str(var.value.dtype) != dtype:
                raise ValueError(f"weight {name} is now {var.value.shape} {var.value.dtype}, "
                                 f"the plan was built for {shape} {dtype}")
        return ffi.new("void *[]", [_ptr(a) for a in arrays] or [ffi.NULL])

    def _arena(self):
        arena = getattr(self._local, "arena", None)
        if arena is None or arena.nbytes < self.plan.arena_bytes:
            arena = np.empty(max(self.plan.arena_bytes, 64), dtype=np.uint8)
            self._local.arena = arena
        return arena

    def run(self, inputs):
        """Run on contiguous arrays matching ``plan.input_specs``; returns new output arrays."""
        outputs = [np.empty(shape, dtype=dtype) for shape, dtype in self.plan.output_specs]
        in_ptrs = ffi.new("void *[]", [_ptr(a) for a in inputs] or [ffi.NULL])
        out_ptrs = ffi.new("void *[]", [_ptr(a) for a in outputs] or [ffi.NULL])
        status = lib.gn_plan_run(self._struct, in_ptrs, out_ptrs, self._weight_ptrs(),
                                 _ptr(self._arena()))
        if status != 0:
            raise RuntimeError(f"plan step {-status - 1} has an unknown kernel id")
        return outputs
