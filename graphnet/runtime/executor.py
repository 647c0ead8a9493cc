"""Running a Plan: bind weights once, then one C call per run."""
import threading

import numpy as np

from .cext import ffi, lib
from .prepack import packed_copy, prepackable_steps


def _ptr(array):
    return ffi.cast("void *", array.ctypes.data)


class Executable:
    """A Plan bound to its weights. Stateless between runs: each calling thread gets
    its own arena, so one Executable can run from several threads at once.

    ``written``: the weights the plan's runs write (a training step's updates); each run
    counts their ``version`` up. The GEMMs' B weights that the plan only reads are
    packed once (runtime/prepack.py) and packed again after their version moves."""

    def __init__(self, plan, weights, written=()):
        self.plan = plan
        self.weights = list(weights)
        self._written = list(written)
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
        self._output_specs = [(tuple(shape), np.dtype(dtype)) for shape, dtype in
                              plan.output_specs]
        self._local = threading.local()
        self._weight_ptrs = self._bind_weights()
        self._prepackable = prepackable_steps(plan, self.weights, self._written)
        self._packed = (None, self._struct, None)  # (versions, gn_plan, what it points at)

    def _bind_weights(self):
        """Weight pointers, taken once: a Variable keeps its array for life (assign copies)."""
        self._weight_arrays = [v.value for v in self.weights]   # each .value is a new view
        for value, (name, shape, dtype) in zip(self._weight_arrays, self.plan.weight_specs):
            if value.shape != shape or value.dtype != dtype:   # str(dtype) costs 5 us
                raise ValueError(f"weight {name} is now {value.shape} {value.dtype}, "
                                 f"the plan was built for {shape} {dtype}")
        return ffi.new("void *[]", [ffi.from_buffer(a) for a in self._weight_arrays]
                       or [ffi.NULL])

    def _thread_state(self):
        """This thread's arena and pointer tables (so threads never share scratch)."""
        state = getattr(self._local, "state", None)
        if state is None:
            arena = np.empty(max(self.plan.arena_bytes, 64), dtype=np.uint8)
            state = (arena, ffi.from_buffer(arena),
                     ffi.new("void *[]", max(len(self.plan.input_specs), 1)),
                     ffi.new("void *[]", max(len(self.plan.output_specs), 1)))
            self._local.state = state
        return state

    def _point(self, inputs):
        """This thread's (arena, input and output pointer tables) aimed at ``inputs`` and
        new output arrays; returns them with the outputs and the cdata views, which must
        outlive the calls."""
        state = getattr(self._local, "state", None) or self._thread_state()
        _, arena, in_ptrs, out_ptrs = state
        outputs = [np.empty(shape, dtype=dtype) for shape, dtype in self._output_specs]
        keep = [ffi.from_buffer(a) for a in inputs]
        in_ptrs[0:len(keep)] = keep
        views = [ffi.from_buffer(a) for a in outputs]
        out_ptrs[0:len(views)] = views
        return arena, in_ptrs, out_ptrs, outputs, (keep, views)

    def bind(self, inputs):
        """``(call, outputs, keep)``: ``call(plan_struct)`` runs a ``gn_plan`` over this
        thread's arena, ``inputs`` and the new ``outputs``; ``keep`` must outlive the calls."""
        arena, in_ptrs, out_ptrs, outputs, keep = self._point(inputs)

        def call(plan_struct):
            return lib.gn_plan_run(plan_struct, in_ptrs, out_ptrs, self._weight_ptrs, arena)
        return call, outputs, keep

    def packed_state(self):
        """``(versions, gn_plan, owners)``: the gn_plan to run, pointing at the packed copies
        of the current weight versions, with what it points at. A caller holds the whole
        tuple until its C call returns: another thread may repack (replacing
        ``self._packed``) while the call runs without the GIL, and the table and copies
        the struct points at must not be freed under it."""
        packed = self._packed
        if not self._prepackable:
            return packed
        versions = tuple(var.version for _, var, _, _ in self._prepackable)
        if packed[0] != versions:
            copies = [packed_copy(var, layout, floats)
                      for _, var, layout, floats in self._prepackable]
            table = ffi.new("float *[]", len(self.plan.steps))
            for (step, _, _, _), copy in zip(self._prepackable, copies):
                table[step] = ffi.cast("float *", copy.ctypes.data)
            struct = ffi.new("gn_plan *", self._struct[0])
            struct.packed_b = table
            packed = self._packed = (versions, struct, (table, copies))
        return packed

    def run(self, inputs):
        """Run on contiguous arrays matching ``plan.input_specs``; returns new output arrays."""
        arena, in_ptrs, out_ptrs, outputs, keep = self._point(inputs)  # keep: alive till done
        packed = self.packed_state()                                    # likewise
        status = lib.gn_plan_run(packed[1], in_ptrs, out_ptrs, self._weight_ptrs, arena)
        for var in self._written:
            var.version += 1
        if status != 0:
            raise self.run_error(status)
        return outputs

    def run_steps(self, inputs, runs):
        """Run the plan ``runs`` times in one C call (``steps_per_execution``). Each input is
        an array of its spec's shape, read by every run, or of ``(runs,) + shape``, run r
        reading ``[r]``; returns per output an array of ``(runs,) + shape`` holding each
        run's output. The written weights carry over from run to run, as separate runs."""
        runs = int(runs)
        if runs < 1:
            raise ValueError(f"run_steps: runs must be >= 1, got {runs}")
        specs = self.plan.input_specs
        if len(inputs) != len(specs):
            raise ValueError(f"run_steps: the plan takes {len(specs)} input(s), got "
                             f"{len(inputs)}")
        strides = []
        for i, (a, (_, shape, dtype)) in enumerate(zip(inputs, specs)):
            shape = tuple(shape)
            if type(a) is not np.ndarray or a.dtype != np.dtype(dtype) or \
                    not a.flags.c_contiguous or a.shape not in (shape, (runs,) + shape):
                raise ValueError(f"run_steps: input {i} must be a C-contiguous {dtype} array "
                                 f"of shape {shape} or {(runs,) + shape}, got "
                                 f"{type(a).__name__} {getattr(a, 'shape', '')} "
                                 f"{getattr(a, 'dtype', '')}")
            strides.append(0 if a.shape == shape else a.nbytes // runs)
        state = getattr(self._local, "state", None) or self._thread_state()
        outputs = [np.empty((runs,) + shape, dtype=dtype) for shape, dtype in
                   self._output_specs]
        keep = [ffi.from_buffer(a) for a in list(inputs) + outputs]  # alive till done
        in_ptrs = ffi.new("void *[]", keep[:len(inputs)] or [ffi.NULL])
        out_ptrs = ffi.new("void *[]", keep[len(inputs):] or [ffi.NULL])
        in_strides = ffi.new("int64_t[]", strides or [0])
        out_strides = ffi.new("int64_t[]", [a.nbytes // runs for a in outputs] or [0])
        done = ffi.new("int64_t *")
        packed = self.packed_state()                                    # likewise
        status = lib.gn_plan_run_steps(packed[1], runs, len(inputs), in_ptrs, in_strides,
                                       len(outputs), out_ptrs, out_strides,
                                       self._weight_ptrs, state[1], done)
        for var in self._written:
            var.version += 1
        if status != 0:
            error = self.run_error(status)
            raise type(error)(f"run {done[0]} of {runs}: {error}")
        return outputs

    def run_error(self, status):
        """The exception for a nonzero gn_plan_run status (``GN_ERR_COUNT * step + reason``):
        IndexError for an index out of range, MemoryError when a kernel could not allocate
        its scratch memory, RuntimeError for arguments its kernel refused or an unknown
        kernel id; each names the step and its kernel."""
        step, reason = divmod(status, lib.GN_ERR_COUNT)
        kernels, origins = self.plan.kernels or [], self.plan.origins
        where = f"plan step {step} ({kernels[step] if step < len(kernels) else 'its kernel'}"
        if step < len(origins) and origins[step] is not None:
            where += f" of layer '{origins[step]}'"
        where += ")"
        if reason == lib.GN_ERR_INDEX:
            return IndexError(f"{where}: an index is outside [-n, n) for an axis of size n; "
                              "the run stopped")
        if reason == lib.GN_ERR_NO_MEMORY:
            return MemoryError(f"{where}: a kernel could not allocate its scratch memory; "
                               "the run stopped and its outputs are not valid")
        if reason == lib.GN_ERR_BAD_ARGS:
            return RuntimeError(f"{where}: its kernel refused the arguments (out of the range "
                                "it supports); the run stopped, the step wrote nothing")
        if reason == lib.GN_ERR_UNKNOWN_KERNEL:
            return RuntimeError(f"{where} has an unknown kernel id")
        return RuntimeError(f"{where} failed with status {status} (reason {reason} is no "
                            "enum gn_status)")
