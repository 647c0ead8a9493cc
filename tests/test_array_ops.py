"""arange, split, cumsum, top_k and stop_gradient against numpy / Keras 3: values,
gradients by finite differences where they have one, and the errors for bad arguments."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras
from layer_check import assert_raises_naming
from graphnet.engine.input_layer import placeholder
from op_check import check_op

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("args, kwargs", [((5,), {}), ((2, 9, 3), {}), ((0.5, 2.0, 0.25), {}),
                                          ((4,), {"dtype": "float32"}), ((6, 1, -2), {})])
def test_arange_as_keras(args, kwargs):
    got = gn.ops.arange(*args, **kwargs)
    want = np.arange(*args)
    np.testing.assert_allclose(got, want)
    if compare_with(keras, "keras.ops.arange's dtype"):
        theirs = keras.ops.arange(*args, **kwargs)
        assert str(got.dtype) == keras.backend.standardize_dtype(theirs.dtype)
    assert_raises_naming(lambda: gn.ops.arange(0, 3, 0), "step must not be 0")


@pytest.mark.parametrize("sections, axis", [(3, 0), ([1, 4], 1), ([2, -1], 1), (1, 1),
                                            ([0, 2, 2], 0)])
def test_split_as_numpy_and_its_gradient(sections, axis):
    x = RNG.standard_normal((6, 5)).astype(np.float32)
    got = gn.ops.split(x, sections, axis=axis)
    want = np.split(x, sections, axis=axis)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    check_op(lambda t: gn.ops.concatenate([p * (i + 1.0) for i, p in
                                           enumerate(gn.ops.split(t, sections, axis=axis))
                                           if 0 not in p.shape], axis=axis),
             [x.shape], none_axes=())
    assert_raises_naming(lambda: gn.ops.split(x, 4, axis=0), "size 6", "4 equal parts")


@pytest.mark.parametrize("shape, axis", [((7,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -2),
                                         ((2, 3), None), ((1, 1), 1)])
def test_cumsum_as_numpy_and_its_gradient(shape, axis):
    x = RNG.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(gn.ops.cumsum(x, axis=axis), np.cumsum(x, axis=axis),
                               rtol=1e-5, atol=1e-5)
    check_op(lambda t: gn.ops.cumsum(t, axis=axis), [shape], none_axes=())
    assert_raises_naming(lambda: gn.ops.cumsum(np.ones(3, np.int32)), "cumsum", "int32")


@pytest.mark.parametrize("shape, k", [((7,), 3), ((4, 9), 1), ((2, 3, 5), 5), ((3, 11), 4)])
def test_top_k_as_keras_and_its_gradient(shape, k):
    x = RNG.permutation(np.prod(shape)).reshape(shape).astype(np.float32) * 0.1  # no ties
    values, indices = gn.ops.top_k(x, k)
    order = np.argsort(-x, axis=-1)[..., :k]
    np.testing.assert_array_equal(indices, order)
    assert indices.dtype == np.int32
    np.testing.assert_allclose(values, np.take_along_axis(x, order, -1))
    if compare_with(keras, "keras.ops.top_k"):
        kv, ki = keras.ops.top_k(x, k)
        np.testing.assert_array_equal(indices, keras.ops.convert_to_numpy(ki))
    check_op(lambda t: gn.ops.top_k(t, k)[0], [shape], inputs=[x.astype(np.float64)],
             none_axes=())
    assert_raises_naming(lambda: gn.ops.top_k(x, shape[-1] + 1), "top_k", "k must be")


def test_top_k_ties_go_to_the_lower_index():
    values, indices = gn.ops.top_k(np.array([[1.0, 3.0, 3.0, 2.0]], np.float32), 3)
    np.testing.assert_array_equal(indices, [[1, 2, 3]])
    np.testing.assert_array_equal(values, [[3.0, 3.0, 2.0]])


def test_stop_gradient_stops_only_its_branch():
    """d/dx sum(x * stop_gradient(x)) is x (one branch), where sum(x * x) gives 2x."""
    x = placeholder((2, 3), "float32")
    loss = gn.ops.sum(x * gn.ops.stop_gradient(x))
    grad, = gn.gradients(loss, [x])
    data = RNG.standard_normal((2, 3)).astype(np.float32)
    value, g = gn.function([x], [loss, grad])(data)
    np.testing.assert_allclose(value, np.sum(data * data), rtol=1e-6)
    np.testing.assert_allclose(g, data, rtol=1e-6)
