"""Eager ops: gn.ops functions on numpy arrays, numbers and Variables compute at once
through cached C plans; gn.ops.convert_to_numpy; gn.Variable's array protocol and
operators (Keras 3's Variable)."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.graph.scope import layer_call_scope
from graphnet.ops.eager import eager_plans

RNG = np.random.default_rng(7)
A = RNG.normal(size=(3, 5)).astype("float32")
B = RNG.normal(size=(5, 4)).astype("float32")
POSITIVE = RNG.uniform(0.5, 2.0, size=(4, 3)).astype("float32")


@pytest.mark.parametrize("name, args, want", [
    ("softmax", (A,), lambda: np.exp(A) / np.exp(A).sum(-1, keepdims=True)),
    ("matmul", (A, B), lambda: A @ B),
    ("add", (A, 2.0), lambda: A + 2),
    ("subtract", (1.0, A), lambda: 1 - A),
    ("exp", (A,), lambda: np.exp(A)),
    ("log", (POSITIVE,), lambda: np.log(POSITIVE)),
    ("sqrt", (POSITIVE,), lambda: np.sqrt(POSITIVE)),
    ("tanh", (A,), lambda: np.tanh(A)),
    ("relu", (A,), lambda: np.maximum(A, 0)),
    ("transpose", (A,), lambda: A.T),
    ("reshape", (A, (5, 3)), lambda: A.reshape(5, 3)),
    ("sum", (A,), lambda: A.sum()),
    ("mean", (A, 1, True), lambda: A.mean(1, keepdims=True)),
    ("max", (A, 0), lambda: A.max(0)),
    ("var", (A, -1), lambda: A.var(-1)),
    ("concatenate", ([A, A * 2], 1), lambda: np.concatenate([A, A * 2], 1)),
    ("stack", ([A, -A],), lambda: np.stack([A, -A])),
    ("getitem", (A, (slice(None), slice(1, 4))), lambda: A[:, 1:4]),
    ("clip", (A, -0.5, 0.5), lambda: np.clip(A, -0.5, 0.5)),
    ("where", (A > 0, A, 0.0), lambda: np.where(A > 0, A, 0)),
    ("pad", (A, ((1, 0), (0, 2))), lambda: np.pad(A, ((1, 0), (0, 2)))),
    ("tile", (A, (2, 1)), lambda: np.tile(A, (2, 1))),
    ("take", (A, np.array([2, 0]), 0), lambda: A[[2, 0]]),
    ("one_hot", (np.array([0, 2, 1]), 3), lambda: np.eye(3, dtype="float32")[[0, 2, 1]]),
])
def test_eager_results_match_numpy(name, args, want):
    got = getattr(gn.ops, name)(*args)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, want(), rtol=1e-5, atol=1e-6)


def test_a_function_with_several_results_returns_a_tuple_of_arrays():
    mean, variance = gn.ops.moments(A, axes=[0])
    np.testing.assert_allclose(mean, A.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(variance, A.var(0), rtol=1e-5, atol=1e-6)


def test_numbers_alone_and_float64_arrays_compute_in_float32():
    got = gn.ops.exp(1.0)
    assert got.shape == () and got.dtype == np.float32
    np.testing.assert_allclose(got, np.e, rtol=1e-6)
    doubles = np.array([0.25, 4.0])
    out = gn.ops.sqrt(doubles)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.5, 2.0])


def test_plans_are_cached_per_function_settings_and_input_signature():
    eager_plans.clear()
    gn.ops.add(A, 1.0)
    gn.ops.add(A + 1, 1.0)            # same function, setting, shape and dtype: a hit
    assert len(eager_plans) == 1
    gn.ops.add(A, 2.0)                # another setting
    gn.ops.add(A[:2], 1.0)            # another shape
    gn.ops.add(A, A)                  # another input signature (two arrays)
    assert len(eager_plans) == 4
    keys = eager_plans.keys()
    assert [key[0] for key in keys] == ["add"] * 4
    assert eager_plans.max_size == 128


def test_the_cache_is_bounded_least_recently_used_first():
    eager_plans.clear()
    eager_plans.max_size = 3
    try:
        for n in range(1, 6):
            np.testing.assert_allclose(gn.ops.square(np.full(n, 3.0, "float32")), [9.0] * n)
        assert len(eager_plans) == 3
        assert [key[2] for key in eager_plans.keys()] == [(((3,), "float32"),),
                                                         (((4,), "float32"),),
                                                         (((5,), "float32"),)]
    finally:
        eager_plans.max_size = 128


def test_inside_a_layer_call_the_same_functions_build_graph_nodes():
    with layer_call_scope():
        assert isinstance(gn.ops.add(A, 1.0), gn.SymbolicTensor)
    assert isinstance(gn.ops.add(gn.ops.convert_to_tensor(A), 1.0), gn.SymbolicTensor)


def test_convert_to_numpy():
    np.testing.assert_array_equal(gn.ops.convert_to_numpy([1, 2]), [1, 2])
    v = gn.Variable(np.arange(3, dtype="float32"))
    copy = gn.ops.convert_to_numpy(v)
    copy[0] = 5.0
    np.testing.assert_array_equal(v.numpy(), [0, 1, 2])
    constant = gn.ops.exp(gn.ops.convert_to_tensor(np.zeros(2, "float32")))
    np.testing.assert_array_equal(gn.ops.convert_to_numpy(constant), [1.0, 1.0])
    with pytest.raises(TypeError, match="depends on the input 'input.*', so it has no value"):
        gn.ops.convert_to_numpy(gn.Input((2,)) * 2)


def test_shape_and_ndim_of_arrays():
    assert gn.ops.shape(A) == (3, 5)
    assert gn.ops.ndim(A) == 2


# -- gn.Variable ------------------------------------------------------------------------

def test_variable_keras_3_constructor():
    v = gn.Variable("ones", shape=(2, 3), name="w")
    assert (v.shape, v.dtype, v.name, v.trainable) == ((2, 3), "float32", "w", True)
    np.testing.assert_array_equal(v.numpy(), np.ones((2, 3)))
    assert gn.Variable(1.5).dtype == "float32"          # Python floats: floatx
    assert gn.Variable(3).dtype == "int64"
    assert gn.Variable(np.zeros(2, "float64")).dtype == "float64"   # arrays keep theirs
    assert gn.Variable([1.0, 2.0], dtype="float64", trainable=False).trainable is False
    assert gn.Variable(gn.initializers.Constant(2.0), shape=(3,)).numpy().tolist() == [2.0] * 3
    with pytest.raises(ValueError, match="needs a shape"):
        gn.Variable("zeros")
    with pytest.raises(ValueError, match=r"shape \(3,\) does not match .*\(2,\)"):
        gn.Variable(np.zeros(2, "float32"), shape=(3,))


def test_variable_array_protocol():
    v = gn.Variable(np.array([1.5, -2.0, 3.0], "float32"), name="v")
    assert np.asarray(v).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(v), [1.5, -2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(v, dtype="int32"), [1, -2, 3])
    assert len(v) == 3 and v.value[2] == 3.0 and v.numpy()[0] == 1.5
    scalar = gn.Variable(np.float32(2.5))
    assert float(scalar) == 2.5 and int(scalar) == 2 and bool(scalar)
    with pytest.raises(TypeError, match="scalar: it has no length"):
        len(scalar)
    assert np.sum(v) == pytest.approx(2.5)
    assert {v: 1}[v] == 1 and v != gn.Variable(np.asarray(v))   # hashed by identity


def test_variable_operators_eager_give_numpy():
    a = np.array([1.0, 2.0, 4.0], "float32")
    v = gn.Variable(a.copy(), name="v")
    cases = [(v + 1, a + 1), (1 + v, 1 + a), (v - a, a - a), (2 - v, 2 - a), (v * v, a * a),
             (v / 2, a / 2), (8 / v, 8 / a), (v ** 2, a ** 2), (2 ** v, 2 ** a),
             (v // 3, a // 3), (v % 3, a % 3), (-v, -a), (abs(-v), a), (v[1:], a[1:]),
             (v @ a, a @ a), (v < 2, a < 2), (v >= 2, a >= 2), (v > a, a > a)]
    for got, want in cases:
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, want, rtol=1e-6)
    v.assign(a * 10)
    np.testing.assert_allclose(v + 0, a * 10)   # reads the current value


def test_variable_operators_with_a_symbolic_operand_are_symbolic():
    v = gn.Variable(np.array([1.0, 2.0, 3.0], "float32"), name="v")
    x = gn.graph.tensor.placeholder((None, 3))
    out = v * x + v
    assert isinstance(out, gn.SymbolicTensor)
    fn = gn.function([x], out)
    np.testing.assert_allclose(fn(np.ones((2, 3), "float32")), [[2, 4, 6]] * 2)
    v.assign([0.0, 0.0, 1.0])
    np.testing.assert_allclose(fn(np.ones((1, 3), "float32")), [[0, 0, 2]])   # not frozen


def test_variable_operators_inside_a_layer_call_read_the_weight():
    class Scale(gn.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * (self.scale * 2.0)

    layer = Scale()
    inputs = gn.Input((2,))
    model = gn.Model(inputs, layer(inputs))
    x = np.ones((1, 2), "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), [[2.0, 2.0]])
    layer.scale.assign([3.0, 0.5])
    np.testing.assert_allclose(model.predict(x, verbose=0), [[6.0, 1.0]])
