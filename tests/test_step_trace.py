"""StepTrace: symbolic variable assignments are recorded, read back, and refused outside."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.graph.trace import StepTrace, current_trace
from graphnet.graph.tensor import placeholder
from graphnet.graph.variable import Variable
from graphnet.runtime.function import Function


def test_assign_in_trace_records_and_reads_back():
    total = Variable(np.float32(1.0), name="total")
    x = placeholder((), "float32", name="x")
    with StepTrace("t") as trace:
        assert current_trace() is trace
        total.assign_add(x)
        doubled = gn.ops.multiply(total, 2.0)   # reads the assigned value
        total.assign_sub(gn.ops.convert_to_tensor(0.5))
    assert current_trace() is None
    assert [v for v, _ in trace.updates] == [total]
    fn = Function([x], [doubled], updates=trace.updates)
    out = fn(np.float32(3.0))
    np.testing.assert_allclose(out[0], 8.0)          # (1 + 3) * 2
    np.testing.assert_allclose(total.numpy(), 3.5)  # 1 + 3 - 0.5


def test_symbolic_assign_outside_trace_is_refused():
    v = Variable(np.zeros(2, np.float32), name="v")
    with pytest.raises(TypeError, match="'v'.*outside a traced step"):
        v.assign(placeholder((2,), "float32"))
    np.testing.assert_array_equal(v.numpy(), [0, 0])


def test_shape_mismatch_in_trace_is_refused():
    v = Variable(np.zeros(2, np.float32), name="v2")
    with StepTrace("s"):
        with pytest.raises(ValueError, match="shape \\(3,\\).*'v2' of shape \\(2,\\)"):
            v.assign(placeholder((3,), "float32"))


def test_eager_assign_add_and_sub():
    v = Variable(np.ones(3, np.float32), name="w")
    v.assign_add(np.arange(3, dtype=np.float32))
    v.assign_sub(1.0)
    np.testing.assert_array_equal(v.numpy(), [0, 1, 2])
