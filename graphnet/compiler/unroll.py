"""Unrolling the time loop of a recurrent cell (phase "simplify"): shapes are concrete
here, so the number of steps is known (graphnet/ops/unrolled.py)."""
from ..ops.unrolled import unrolled
from .phases import rewrite


@rewrite("simplify", ops=("RNN_UNROLL", "RNN_UNROLL_GRAD"))
def unroll_recurrence(node):
    """RNN_UNROLL(x, ...) -> T copies of the cell's step graph; RNN_UNROLL_GRAD -> reverse
    mode over those copies."""
    return unrolled(node)
