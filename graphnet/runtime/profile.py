"""Where a compiled plan spends its time: each step timed on its own (opt-in).

``profile_plan(executable, inputs)`` (or ``Function.profile(*arrays)``) runs every step
of the plan as a one-step plan over the same arena, inputs and weights, ``repeats``
times in plan order, and reports each step's median time less the cost of an empty
call. The normal run path is untouched: profiling costs nothing when not used.

The steps run ``repeats`` times, so a training step's updates would be applied as
often: the weights (optimizer state and random state included) are restored afterwards.
Each step runs in the cache state its predecessor left, as in a whole run, but without
the thread pool's hand-over from the previous kernel, so small steps look a little
slower than they are inside a whole run. A model's training step on a batch:

    print(model.profile_train_step(x, y).table(top=10))
"""
import time
from dataclasses import dataclass

import numpy as np

from .cext import ffi, lib


@dataclass
class PlanProfile:
    kernels: list          # kernel name per step
    seconds: np.ndarray    # median seconds per step
    details: list          # the step's first int arguments (sizes, slots), for reading

    @property
    def total(self):
        return float(self.seconds.sum())

    def by_kernel(self):
        """{kernel name: (steps, seconds)} summed over the plan's steps."""
        out = {}
        for k, s in zip(self.kernels, self.seconds):
            n, t = out.get(k, (0, 0.0))
            out[k] = (n + 1, t + float(s))
        return out

    def table(self, top=None):
        """One line per step, slowest first: index, kernel, microseconds, share, arguments."""
        order = np.argsort(-self.seconds, kind="stable")[:top]
        total = self.total or 1.0
        lines = [f"{'step':>4} {'kernel':24} {'us':>9} {'share':>6}  args"]
        for i in order:
            lines.append(f"{i:4d} {self.kernels[i]:24} {self.seconds[i] * 1e6:9.1f} "
                         f"{self.seconds[i] / total:6.1%}  {self.details[i]}")
        lines.append(f"     {'total':24} {total * 1e6:9.1f}")
        return "\n".join(lines)


def profile_plan(executable, inputs, repeats=20):
    """A ``PlanProfile`` of ``executable`` (a ``runtime.Executable``) on ``inputs``
    (contiguous arrays matching its input specs)."""
    plan = executable.plan
    saved = [np.array(v.value, copy=True) for v in executable.weights]
    call, _, keep = executable.bind(inputs)
    steps = executable._keep[0]
    one = ffi.new("gn_plan *", {"nsteps": 0, "steps": ffi.cast("int64_t *", steps.ctypes.data),
                                "iargs": executable._struct.iargs,
                                "fargs": executable._struct.fargs,
                                "nslots": executable._struct.nslots,
                                "slots": executable._struct.slots,
                                "consts": executable._struct.consts})
    first = one.steps
    times = np.empty((repeats, len(steps)))
    empty = np.empty(repeats)
    try:
        for r in range(repeats):
            one.nsteps, one.steps = 0, first
            start = time.perf_counter_ns()
            call(one)
            empty[r] = time.perf_counter_ns() - start
            one.nsteps = 1
            for i in range(len(steps)):
                one.steps = first + 4 * i
                start = time.perf_counter_ns()
                status = call(one)
                times[r, i] = time.perf_counter_ns() - start
                if status != 0:          # the one-step plan reports step 0: name step i
                    raise executable.run_error(status + lib.GN_ERR_COUNT * i)
    finally:
        for var, value in zip(executable.weights, saved):
            var.assign(value)
    seconds = np.maximum(np.median(times, axis=0) - np.median(empty), 0.0) * 1e-9
    details = [plan.iargs[s[1]:s[1] + min(int(s[3]), 6)].tolist() for s in plan.steps]
    return PlanProfile(list(plan.kernels), seconds, details)
