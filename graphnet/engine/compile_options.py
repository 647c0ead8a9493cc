"""compile()'s execution arguments, checked, each with the meaning graphnet gives it.

- ``run_eagerly=True``: the train, test and predict steps run op by op on the NumPy
  reference interpreter (``runtime/reference.py``), the same graph with each op's
  ``perform``, for debugging (a breakpoint or print in an op's perform sees values).
- ``jit_compile``: True or "auto" lowers the steps with every compiler phase; False
  leaves out the fusion phase, so each op is its own kernel call (slower, and what a
  fusion bug would be checked against). With ``run_eagerly=True`` nothing is compiled:
  ``jit_compile=True`` is refused there, "auto" and False mean no compilation.
- ``steps_per_execution=N``: N steps per C call (``engine/multi_step.py``).
- ``auto_scale_loss``: Keras scales the loss only under the "mixed_float16" dtype
  policy; graphnet computes in float32 only, where Keras does not scale either, so
  True and False both train unscaled, as Keras does in float32.
- ``backend``: "c" or "reference" (the same as ``run_eagerly=True``).
"""
import numbers
from dataclasses import dataclass

from ..compiler import PHASES

JIT_VALUES = (True, False, "auto")


@dataclass(frozen=True)
class ExecutionOptions:
    backend: str
    run_eagerly: bool
    jit_compile: bool          # whether the fusion phase runs
    jit_request: object        # the jit_compile given, re-resolved when run_eagerly changes
    steps_per_execution: int
    phases: tuple


def _bool(value, what):
    if not isinstance(value, bool):
        raise TypeError(f"compile: {what} must be True or False, got {value!r}")
    return value


def positive_int(value, what):
    """``value`` as an int >= 1 (bools and non-integral numbers refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int >= 1, got {value!r}")
    value = int(value)
    if value < 1:
        raise ValueError(f"{what} must be an int >= 1, got {value}")
    return value


def execution_options(run_eagerly, steps_per_execution, jit_compile, auto_scale_loss,
                      sample_weight_mode, backend):
    """The checked options; raises naming the argument and the values it takes."""
    run_eagerly = _bool(run_eagerly, "run_eagerly")
    _bool(auto_scale_loss, "auto_scale_loss")
    if backend not in ("c", "reference"):
        raise ValueError(f"compile: backend must be 'c' or 'reference', got {backend!r}")
    if not any(jit_compile is v or (isinstance(v, str) and jit_compile == v)
               for v in JIT_VALUES):
        raise ValueError(f"compile: jit_compile must be True, False or 'auto', got "
                         f"{jit_compile!r}")
    if sample_weight_mode is not None:
        raise ValueError(f"compile: sample_weight_mode={sample_weight_mode!r}: the argument "
                         "was removed in Keras 3 and graphnet has no such mode; give fit "
                         "sample weights of shape (samples, timesteps) to weigh each "
                         "timestep, as Keras 3 does")
    eager = run_eagerly or backend == "reference"
    if eager and jit_compile is True:
        raise ValueError("compile: jit_compile=True cannot be honoured with run_eagerly=True "
                         "(or backend='reference'): eager steps are not compiled. Pass "
                         "jit_compile=False or 'auto'")
    jit = not eager and jit_compile is not False
    phases = tuple(PHASES) if jit else tuple(p for p in PHASES if p != "fuse")
    return ExecutionOptions(
        backend="reference" if eager else "c", run_eagerly=eager, jit_compile=jit,
        jit_request=jit_compile,
        steps_per_execution=positive_int(steps_per_execution,
                                         "compile: steps_per_execution"),
        phases=phases)
