"""gn.backend: Keras 3's keras.backend functions, the settings honoured where Keras reads
them (epsilon in losses and constraints, floatx as the layers' dtype, image_data_format as
the conv/pool layers' data format), and Keras 2's backend functions on gn.ops."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras

K = gn.backend
KERAS3_BACKEND = ("backend", "clear_session", "epsilon", "floatx", "get_uid",
                  "image_data_format", "is_float_dtype", "is_int_dtype", "is_keras_tensor",
                  "result_type", "set_epsilon", "set_floatx", "set_image_data_format",
                  "standardize_dtype")


@pytest.fixture(autouse=True)
def restore_settings():
    saved = (gn.config.floatx(), gn.config.epsilon(), gn.config.image_data_format())
    yield
    gn.config.set_floatx(saved[0])
    gn.config.set_epsilon(saved[1])
    gn.config.set_image_data_format(saved[2])


def run(fn, *arrays, backend="c"):
    inputs = [gn.Input(a.shape[1:], dtype=str(a.dtype)) for a in arrays]
    return gn.function(inputs, fn(*inputs), backend=backend)(*arrays)


def test_every_keras3_backend_function_is_there():
    for name in KERAS3_BACKEND:
        assert callable(getattr(K, name)), name
    if compare_with(keras, "the list against keras.backend's public names"):
        public = {n for n in dir(keras.backend) if not n.startswith("_")}
        assert public <= set(KERAS3_BACKEND), public - set(KERAS3_BACKEND)


def test_settings_defaults_setters_and_bad_values():
    assert (K.floatx(), K.epsilon(), K.image_data_format()) == \
        ("float32", 1e-7, "channels_last")
    assert K.backend() == "graphnet"
    K.set_epsilon(1e-5)
    assert K.epsilon() == 1e-5 == gn.config.epsilon()
    K.set_image_data_format("Channels_First")
    assert K.image_data_format() == "channels_first"
    K.set_floatx("float64")
    assert K.floatx() == "float64"
    with pytest.raises(ValueError, match=r"set_floatx: value must be one of .*'float16'"):
        K.set_floatx("float16")
    with pytest.raises(ValueError, match="set_image_data_format: data_format must be one of"):
        K.set_image_data_format("nhwc")
    with pytest.raises(ValueError, match="set_epsilon: value must be a real number"):
        K.set_epsilon("small")
    assert K.floatx() == "float64" and K.image_data_format() == "channels_first"


def test_standardize_dtype_and_kind_predicates_as_keras():
    cases = [None, "float32", "int8", "bool", int, float, bool, np.float32, np.dtype("int64"),
             "bfloat16", "uint16", "complex64"]
    expected = ["float32", "float32", "int8", "bool", "int32", "float32", "bool", "float32",
                "int64", "bfloat16", "uint16", "complex64"]
    assert [K.standardize_dtype(c) for c in cases] == expected
    assert [K.is_float_dtype(c) for c in ("float64", "bfloat16", "int32", "bool")] == \
        [True, True, False, False]
    assert [K.is_int_dtype(c) for c in ("uint8", "int64", "float32", "bool")] == \
        [True, True, False, False]
    with pytest.raises(ValueError, match="Invalid dtype: 'float'"):
        K.standardize_dtype("float")
    if compare_with(keras, "standardize_dtype, is_float_dtype and is_int_dtype"):
        for c in cases:
            assert K.standardize_dtype(c) == keras.backend.standardize_dtype(c), c
            assert K.is_float_dtype(c) == keras.backend.is_float_dtype(c), c
            assert K.is_int_dtype(c) == keras.backend.is_int_dtype(c), c


def test_result_type_as_keras():
    assert K.result_type("int32", "float32") == "float32"
    assert K.result_type("int32", int) == "int32" and K.result_type("uint8", float) == "float32"
    assert K.result_type("int64", "int32") == "int32"   # torch and jax narrow 64 bits
    assert K.result_type() == "float32"
    K.set_floatx("float64")
    assert K.result_type(float) == "float32"   # 64-bit narrowed, as Keras on torch
    assert K.result_type("int8", float) == "float32"
    if compare_with(keras, "result_type over pairs of dtypes"):
        names = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32",
                 "float64", int, float]
        K.set_floatx("float32")
        for a in names:
            for b in names:
                assert K.result_type(a, b) == keras.backend.result_type(a, b), (a, b)


def test_get_uid_and_clear_session_reset_names():
    K.clear_session()
    assert [gn.layers.Dense(1).name for _ in range(3)] == ["dense", "dense_1", "dense_2"]
    assert K.get_uid("dense") == 4   # one counter per prefix, shared with layer names
    assert (K.get_uid("other"), K.get_uid("other")) == (1, 2)
    K.clear_session(free_memory=False)
    assert gn.layers.Dense(1).name == "dense"
    assert K.get_uid("other") == 1


def test_is_keras_tensor():
    x = gn.Input((3,))
    assert K.is_keras_tensor(x) and K.is_keras_tensor(gn.layers.Dense(2)(x))
    assert not K.is_keras_tensor(np.ones(3))
    assert not K.is_keras_tensor(gn.Variable(np.ones(3, "float32")))


def test_set_epsilon_reaches_the_losses_and_constraints():
    y_true, y_pred = np.array([[1.0]], "float32"), np.array([[0.0]], "float32")
    loss = run(gn.losses.binary_crossentropy, y_true, y_pred)
    np.testing.assert_allclose(loss, -np.log(1e-7), rtol=1e-5)
    K.set_epsilon(1e-3)
    loss = run(gn.losses.binary_crossentropy, y_true, y_pred)
    np.testing.assert_allclose(loss, -np.log(1e-3), rtol=1e-5)
    w = np.zeros((2, 2), "float32")
    w[0, 0] = 1e-3
    unit = run(gn.constraints.UnitNorm(axis=0), w)
    np.testing.assert_allclose(unit[0, 0], 1e-3 / (1e-3 + 1e-3), rtol=1e-5)


def test_set_floatx_is_the_default_dtype_of_layers_and_python_floats():
    K.set_floatx("float64")
    x = gn.Input((4,))
    dense = gn.layers.Dense(3)
    y = dense(x)
    assert (x.dtype, dense.dtype, dense.kernel.dtype, y.dtype) == ("float64",) * 4
    assert gn.ops.convert_to_tensor(1.5).dtype == "float64"
    assert gn.ops.add(gn.ops.convert_to_tensor(np.int32(1)), 0.5).dtype == "float64"
    with pytest.raises(gn.ops.OpError, match="float32, got float64"):
        gn.Model(x, y).predict(np.ones((2, 4)), verbose=0)
    out = gn.function([x], y, backend="reference")(np.ones((2, 4)))
    assert out.dtype == np.float64


@pytest.mark.parametrize("make", [lambda: gn.layers.Conv2D(2, 3),
                                  lambda: gn.layers.MaxPooling2D(),
                                  lambda: gn.layers.AveragePooling1D(2),
                                  lambda: gn.layers.GlobalAveragePooling2D(),
                                  lambda: gn.layers.UpSampling2D(),
                                  lambda: gn.layers.ZeroPadding2D(),
                                  lambda: gn.layers.Flatten()])
def test_image_data_format_is_the_layers_default(make):
    assert make().data_format == "channels_last"
    K.set_image_data_format("channels_first")
    layer = make()
    assert layer.data_format == "channels_first"
    assert layer.get_config()["data_format"] == "channels_first"


def test_channels_first_default_runs_like_explicit_channels_first():
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype("float32")
    explicit = gn.layers.Conv2D(4, 3, data_format="channels_first")
    inp = gn.Input((3, 6, 6))
    want = gn.Model(inp, explicit(inp)).predict(x, verbose=0)
    K.set_image_data_format("channels_first")
    implicit = gn.layers.Conv2D(4, 3)
    inp = gn.Input((3, 6, 6))
    model = gn.Model(inp, implicit(inp))
    implicit.set_weights(explicit.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    assert gn.ops.max_pool(inp, 2).shape == (None, 3, 3, 3)   # ops default too


# ---- Keras 2's backend functions ---------------------------------------------------------

RNG = np.random.default_rng(1)
A = RNG.normal(size=(2, 3, 4)).astype("float32")
B = RNG.normal(size=(2, 4, 5)).astype("float32")


def test_keras2_functions_that_are_the_ops_themselves():
    for name in gn.backend_keras2.KERAS2_SAME_AS_OPS:
        assert getattr(K, name) is getattr(gn.ops, name), name
    x = gn.Input((3, 4))
    assert K.int_shape(x) == (None, 3, 4) == K.shape(x)
    assert K.int_shape(np.ones((2, 5))) == (2, 5) and K.ndim(x) == 3 and K.dtype(x) == "float32"
    np.testing.assert_allclose(run(lambda t: K.mean(t, axis=1, keepdims=True), A),
                               A.mean(axis=1, keepdims=True), rtol=1e-5)
    assert run(lambda t: K.cast(K.argmax(t), "float32"), A).dtype == np.float32


def test_keras2_defaults_that_differ_from_keras3():
    np.testing.assert_allclose(run(lambda a: K.concatenate([a, a]), A),
                               np.concatenate([A, A], axis=-1))
    assert K.expand_dims(gn.Input((3,))).shape == (None, 3, 1)
    np.testing.assert_allclose(run(K.hard_sigmoid, A), np.clip(0.2 * A + 0.5, 0, 1), rtol=1e-6)
    np.testing.assert_allclose(run(lambda t: K.clip(t, 0.5, 0.0), A), np.full_like(A, 0.5))
    np.testing.assert_allclose(run(lambda t: K.clip(t, None, 0.1), A), np.minimum(A, 0.1))
    pooled = run(lambda t: K.pool2d(t, (2, 2)), A[..., None])   # strides (1, 1)
    assert pooled.shape == (2, 2, 3, 1)
    avg = run(lambda t: K.pool2d(t, (2, 2), strides=(2, 2), pool_mode="avg"), A[..., None])
    np.testing.assert_allclose(avg[..., 0], A[:, :2].reshape(2, 1, 2, 2, 2).mean(axis=(2, 4)),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="pool_mode must be 'max' or 'avg'"):
        K.pool2d(gn.Input((4, 4, 1)), (2, 2), pool_mode="min")


@pytest.mark.parametrize("kwargs", [{}, {"alpha": 0.1}, {"max_value": 1.0},
                                    {"threshold": 0.5}, {"alpha": 0.2, "max_value": 6.0},
                                    {"alpha": 0.1, "threshold": 0.3, "max_value": 1.2}])
def test_keras2_relu(kwargs):
    alpha, cap, th = kwargs.get("alpha", 0.0), kwargs.get("max_value"), kwargs.get("threshold", 0)
    want = np.where(A > th, A, 0.0) if th else np.maximum(A, 0)
    if cap is not None:
        want = np.minimum(want, cap)
    want = want - alpha * np.maximum(th - A, 0)
    np.testing.assert_allclose(run(lambda t: K.relu(t, **kwargs), A), want, rtol=1e-6,
                               atol=1e-7)


def test_keras2_products():
    np.testing.assert_allclose(run(lambda a: K.dot(a, B), A), np.einsum("bik,jkl->bijl", A, B),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="dot: y's shape .* must be known"):
        K.dot(gn.Input((3, 4)), gn.Input((4, 5)))
    np.testing.assert_allclose(run(K.batch_dot, A, B), A @ B, rtol=1e-5, atol=1e-6)
    x, y = A[:, 0], A[:, 1]
    np.testing.assert_allclose(run(lambda a, b: K.batch_dot(a, b, axes=1), x, y),
                               (x * y).sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(run(lambda a, b: K.batch_dot(a, b, axes=(2, 1)), A, B[:, :, 0]),
                               np.einsum("bik,bk->bi", A, B[:, :, 0]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="must not contract the batch axis"):
        K.batch_dot(gn.Input((3,)), gn.Input((3,)), axes=0)
    with pytest.raises(ValueError, match="rank 2 or 3"):
        K.batch_dot(gn.Input((3, 4, 5)), gn.Input((5, 2)))


def test_keras2_layout():
    np.testing.assert_allclose(run(K.batch_flatten, A), A.reshape(2, -1))
    np.testing.assert_allclose(run(K.flatten, A), A.reshape(-1))
    np.testing.assert_allclose(run(lambda t: K.permute_dimensions(t, (0, 2, 1)), A),
                               A.transpose(0, 2, 1))
    np.testing.assert_allclose(run(lambda t: K.repeat_elements(t, 2, axis=1), A),
                               np.repeat(A, 2, axis=1))
    np.testing.assert_allclose(run(lambda t: K.repeat(t, 3), A[:, 0]),
                               np.repeat(A[:, None, 0], 3, axis=1))
    with pytest.raises(ValueError, match="repeat: x must have rank 2"):
        K.repeat(gn.Input((3, 4)), 2)
    np.testing.assert_allclose(run(lambda t: K.gather(t, np.array([2, 0])), A[0]), A[0][[2, 0]])
    np.testing.assert_allclose(run(lambda t: K.spatial_2d_padding(t), A[..., None])[..., 0],
                               np.pad(A, ((0, 0), (1, 1), (1, 1))))
    np.testing.assert_allclose(run(lambda t: K.temporal_padding(t, (0, 2)), A),
                               np.pad(A, ((0, 0), (0, 2), (0, 0))))
    np.testing.assert_allclose(run(lambda t: K.switch(K.greater(t, 0), t, -t), A), np.abs(A))


def test_keras2_normalization_losses_and_bias():
    np.testing.assert_allclose(run(lambda t: K.l2_normalize(t, axis=-1), A),
                               A / np.linalg.norm(A, axis=-1, keepdims=True), rtol=1e-5)
    p = 1 / (1 + np.exp(-A))
    t = (A > 0).astype("float32")
    bce = -(t * np.log(p + 1e-7) + (1 - t) * np.log(1 - p + 1e-7))
    np.testing.assert_allclose(run(K.binary_crossentropy, t, p.astype("float32")), bce,
                               rtol=1e-4)
    np.testing.assert_allclose(run(lambda a, b: K.binary_crossentropy(a, b, from_logits=True),
                                   t, A), bce, rtol=1e-4, atol=1e-5)
    bias = np.array([1.0, 2.0, 3.0], "float32")
    np.testing.assert_allclose(run(lambda x: K.bias_add(x, bias, "channels_first"), A),
                               A + bias[None, :, None])
    np.testing.assert_allclose(run(lambda x: K.bias_add(x, bias[:1].repeat(4)), A),
                               A + bias[0])


def test_keras2_variables_and_constants():
    v = K.variable([[1, 2], [3, 4]], name="w")
    assert (v.dtype, v.name, K.count_params(v)) == ("float32", "w", 4)
    K.set_value(v, np.zeros((2, 2)))
    np.testing.assert_array_equal(K.get_value(v), 0)
    K.batch_set_value([(v, np.ones((2, 2)))])
    np.testing.assert_array_equal(K.batch_get_value([v])[0], 1)
    np.testing.assert_array_equal(K.eval(K.eye(3)), np.eye(3))
    assert K.zeros((2, 3), dtype="int32").dtype == "int32" and K.ones(4).numpy().sum() == 4
    assert K.constant(2, shape=(2, 2)).shape == (2, 2)
    assert K.constant(2).dtype == "float32" and K.arange(5).dtype == "int32"
    assert K.cast_to_floatx([1, 2]).dtype == np.float32
    assert K.zeros_like(gn.Input((2,)), dtype="int32").dtype == "int32"
    assert not K.is_sparse(v) and K.to_dense(v) is v
    with pytest.raises(TypeError, match="a symbolic tensor has no value"):
        K.get_value(gn.Input((2,)))
    with pytest.raises(TypeError, match="set_value: x must be a Variable"):
        K.set_value(np.ones(2), 0)
    with pytest.raises(AttributeError, match="cumsum"):
        K.cumsum   # noqa: B018  (no op: absent, never approximated)


def test_keras2_gradients():
    w = K.variable(np.array([1.0, -2.0, 3.0]))
    x = gn.Input((3,))
    (g,) = K.gradients(K.sum(K.square(gn.ops.multiply(x, w))), [w])
    grad = gn.function([x], g)(np.ones((1, 3), "float32"))
    np.testing.assert_allclose(grad, 2 * np.array([1.0, -2.0, 3.0]), rtol=1e-6)
