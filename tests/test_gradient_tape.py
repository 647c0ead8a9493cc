"""``gn.GradientTape`` and ``Optimizer.apply`` on symbolic gradients inside a StepTrace:
the tape-shaped way to write a custom step's gradients."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.graph.tensor import placeholder
from graphnet.graph.trace import StepTrace
from graphnet.runtime.function import Function


def _setup():
    w = gn.Variable(np.array([1.0, -2.0, 0.5], "float32"), name="w")
    unused = gn.Variable(np.ones(2, "float32"), name="unused")
    x = placeholder((None, 3), "float32", name="x")
    return w, unused, x


def test_gradients_of_a_traced_loss_and_the_unconnected_modes():
    w, unused, x = _setup()
    with StepTrace("t"):
        with gn.GradientTape(persistent=True) as tape:
            loss = gn.ops.sum(gn.ops.square(x * w))
        grad_w = tape.gradient(loss, w)
        none, zeros = (tape.gradient(loss, [w, unused], unconnected_gradients=mode)[1]
                       for mode in ("none", "zero"))
        with pytest.raises(ValueError, match=r"does not depend on \['unused'\]"):
            tape.gradient(loss, [w, unused])
    assert none is None
    data = np.arange(6, dtype="float32").reshape(2, 3)
    got, zero = Function([x], [grad_w, zeros])(data)
    np.testing.assert_allclose(got, 2 * w.numpy() * np.sum(data ** 2, axis=0), rtol=1e-6)
    np.testing.assert_array_equal(zero, [0, 0])


def test_a_gradient_at_a_variable_assigned_earlier_in_the_step():
    w, _, x = _setup()
    with StepTrace("t") as trace:
        w.assign(w * 3.0)                        # the forward pass reads 3w from here on
        with gn.GradientTape() as tape:
            loss = gn.ops.sum(x * w)
        grad = tape.gradient(loss, w)
    data = np.ones((4, 3), "float32")
    [got] = Function([x], [grad], updates=trace.updates)(data)
    np.testing.assert_allclose(got, [4, 4, 4])
    np.testing.assert_allclose(w.numpy(), [3.0, -6.0, 1.5])


def test_the_tape_refuses_bad_arguments():
    w, _, x = _setup()
    with pytest.raises(ValueError, match="watch_accessed_variables must be True"):
        gn.GradientTape(watch_accessed_variables=False)
    tape = gn.GradientTape()
    with pytest.raises(ValueError, match="unconnected_gradients must be one of"):
        tape.gradient(gn.ops.sum(x * w), w, unconnected_gradients="ignore")
    with pytest.raises(TypeError, match="the target must be a symbolic tensor.*got float32"):
        gn.GradientTape().gradient(np.float32(1.0), w)
    with pytest.raises(TypeError, match=r"sources\[0\] must be a Variable.*str"):
        gn.GradientTape().gradient(gn.ops.sum(x * w), ["w"])
    once = gn.GradientTape()
    once.gradient(gn.ops.sum(x * w), w)
    with pytest.raises(RuntimeError, match="only be called once.*persistent=True"):
        once.gradient(gn.ops.sum(x * w), w)


def test_optimizer_apply_in_a_trace_assigns_and_outside_refuses():
    w, _, x = _setup()
    opt = gn.optimizers.SGD(0.5)
    with StepTrace("t") as trace:
        with gn.GradientTape() as tape:
            loss = gn.ops.sum(x * w)
        opt.apply_gradients(zip([tape.gradient(loss, w)], [w]))
    assert {v.name for v, _ in trace.updates} == {opt.iterations.name, "w"}
    Function([x], [loss], updates=trace.updates)(np.ones((2, 3), "float32"))
    np.testing.assert_allclose(w.numpy(), [0.0, -3.0, -0.5])
    assert int(opt.iterations.numpy()) == 1
    with pytest.raises(TypeError, match="only be applied inside a traced step"):
        opt.apply([gn.ops.sum(x * w) * gn.ops.ones_like(gn.ops.convert_to_tensor(w))], [w])


def test_no_gradient_flows_back_through_an_earlier_update_of_the_same_step():
    """``a`` is updated from a loss of ``b``, read, then assigned again: the gradient of
    the read's loss with respect to ``b`` takes the read value as a plain value (eagerly
    the variable just holds it), not as a function of ``b``."""
    a = gn.Variable(np.array([1.0, 2.0, 3.0], "float32"), name="a")
    b = gn.Variable(np.array([0.5, -1.0, 2.0], "float32"), name="b")
    x = placeholder((3,), "float32", name="x")
    opt = gn.optimizers.SGD(0.1)
    with StepTrace("t") as trace:
        with gn.GradientTape() as tape:
            first = gn.ops.sum(a * b * x)
        opt.apply([tape.gradient(first, a)], [a])     # a1 = a - 0.1 * b * x
        with gn.GradientTape() as tape:
            second = gn.ops.sum(a * b)                # reads a1
        a.assign(a * 2.0)                             # a2: a1 is no longer a's value
        grad_b = tape.gradient(second, b)
    data = np.array([1.0, 2.0, 0.5], "float32")
    [got] = Function([x], [grad_b], updates=trace.updates)(data)
    a1 = np.array([1.0, 2.0, 3.0]) - 0.1 * np.array([0.5, -1.0, 2.0]) * data
    np.testing.assert_allclose(got, a1, rtol=1e-6)
    np.testing.assert_allclose(a.numpy(), 2 * a1, rtol=1e-6)
