"""Core layers (Dense, Activation, Dropout) and whole models against Keras 3."""
import numpy as np
import pytest

import graphnet as gn
from extras import keras, needs
from layer_check import assert_raises_naming, check_layer, make_data, to_numpy

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ---- Dense ------------------------------------------------------------------------

@pytest.mark.parametrize("units,input_shape", [
    (1, (2, 5)), (7, (3, 13)), (13, (1, 1)), (257, (2, 7)), (7, (1, 257)), (3, (2, 4, 7)),
    (5, (0, 3)),
])
def test_dense_shapes(units, input_shape):
    check_layer(gn.layers.Dense, {"units": units}, input_shape)


@pytest.mark.parametrize("kwargs", [
    {"units": 4, "use_bias": False},
    {"units": 4, "activation": "relu"},
    {"units": 6, "activation": "softmax"},
    {"units": 3, "activation": "tanh", "kernel_initializer": "he_normal",
     "bias_initializer": "ones"},
    {"units": 2, "kernel_regularizer": "l2", "bias_constraint": "non_neg"},
])
def test_dense_configs(kwargs):
    check_layer(gn.layers.Dense, kwargs, (3, 5))


def test_dense_errors():
    assert_raises_naming(lambda: gn.layers.Dense(0), "units")
    assert_raises_naming(lambda: gn.layers.Dense(-3), "units")
    dense = gn.layers.Dense(3, name="d")
    dense(gn.Input((5,)))
    assert_raises_naming(lambda: dense(gn.Input((4,))), "'d'", "(None, 4)", "5")
    assert_raises_naming(lambda: gn.layers.Dense(2)(gn.Input(batch_shape=(None,))), "ndim")


# ---- Activation ---------------------------------------------------------------------

ACTIVATIONS = sorted(gn.activations._registry.entries)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_layer(name):
    data = 3 * make_data([(3, 7)])[0]
    kwargs = {"activation": name}
    check_layer(gn.layers.Activation, kwargs, input_data=data,
                keras_cls=lambda k: k.layers.Activation if hasattr(k.activations, name) else None)


@needs(keras)
def test_activation_functions_vs_keras():
    """Every gn.activations function on a range of values against keras.activations."""
    x = np.linspace(-8, 8, 257, dtype="float32").reshape(1, 257)
    inp = gn.Input((257,))
    missing = []
    for name in ACTIVATIONS:
        if not hasattr(keras.activations, name):
            missing.append(name)
            continue
        fn = gn.function([inp], [gn.activations.get(name)(inp)])
        expected = to_numpy(getattr(keras.activations, name)(x))
        np.testing.assert_allclose(fn(x)[0], expected, rtol=1e-5, atol=1e-5, err_msg=name)
    assert not missing


def test_activation_errors():
    assert_raises_naming(lambda: gn.layers.Activation("no_such_fn"), "no_such_fn")


# ---- Dropout ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,input_shape", [
    ({"rate": 0.5}, (3, 7)), ({"rate": 0.0}, (1, 1)), ({"rate": 0.2, "seed": 3}, (2, 13, 3)),
    ({"rate": 0.3, "noise_shape": (None, 1, 5)}, (2, 3, 5)),
])
def test_dropout_is_identity_at_inference(kwargs, input_shape):
    result = check_layer(gn.layers.Dropout, kwargs, input_shape)
    np.testing.assert_array_equal(result.output, result.data)


def test_dropout_errors():
    assert_raises_naming(lambda: gn.layers.Dropout(1.5), "rate")
    assert_raises_naming(lambda: gn.layers.Dropout(-0.1), "rate")


# ---- whole models against Keras ---------------------------------------------------------

def _summary_counts(model):
    lines = []
    model.summary(print_fn=lines.append)
    counts = {}
    for line in lines:
        for key in ("Total", "Trainable", "Non-trainable"):
            if line.strip().startswith(f"{key} params:"):
                counts[key] = int(line.split(":")[1].split("(")[0].replace(",", ""))
    return counts


def _check_counts(model, k_model):
    counts = _summary_counts(model)
    k_trainable = int(sum(np.prod(w.shape) for w in k_model.trainable_weights))
    assert counts["Total"] == k_model.count_params()
    assert counts["Trainable"] == k_trainable
    assert counts["Non-trainable"] == k_model.count_params() - k_trainable


def _mnist_mlp(lib):
    L = lib.layers
    return lib.Sequential([
        lib.Input(shape=(784,)),
        L.Dense(512, activation="relu"), L.Dropout(0.2),
        L.Dense(512, activation="relu"), L.Dropout(0.2),
        L.Dense(10, activation="softmax")])


@needs(keras)
def test_mnist_mlp_matches_keras():
    k_model = _mnist_mlp(keras)
    model = _mnist_mlp(gn)
    assert [w.shape for w in k_model.get_weights()] == \
        [tuple(w.shape) for w in model.get_weights()]
    model.set_weights(k_model.get_weights())
    x = make_data([(13, 784)])[0]
    expected = to_numpy(k_model(x, training=False))
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(x, batch_size=5), expected, rtol=1e-5, atol=1e-5)
    _check_counts(model, k_model)
    assert model.count_params() == k_model.count_params() == 669706


def _multi_io(lib):
    L = lib.layers
    a = lib.Input(shape=(7,), name="a")
    b = lib.Input(shape=(13,), name="b")
    n_in = lib.Input(shape=(5,))
    hidden = L.Dense(4, activation="tanh", name="n_hidden")(n_in)
    nested = lib.Model(n_in, L.Dense(3, activation="relu", name="n_out")(hidden), name="nested")
    shared = L.Dense(5, activation="sigmoid", name="shared")
    ha = shared(L.Dense(5, name="proj_a")(a))
    hb = shared(L.Dense(5, name="proj_b")(b))
    merged = L.concatenate([ha, hb])
    out1 = L.Dense(2, activation="softmax", name="out1")(merged)
    out2 = nested(L.add([ha, hb]))
    out3 = L.Dot(axes=1, normalize=True)([ha, hb])
    return lib.Model([a, b], [out1, out2, out3], name="multi_io")


def _random_keras_weights(k_model, seed=5):
    rng = np.random.default_rng(seed)
    k_model.set_weights([rng.uniform(-1, 1, w.shape).astype("float32")
                         for w in k_model.get_weights()])


@needs(keras)
def test_multi_io_shared_nested_matches_keras():
    k_model = _multi_io(keras)
    model = _multi_io(gn)
    _random_keras_weights(k_model)
    # weights copied layer by layer (by name): see the weight-order test below
    for k_layer in k_model.layers:
        if k_layer.weights:
            model.get_layer(k_layer.name).set_weights(k_layer.get_weights())
    xa, xb = make_data([(7, 7), (7, 13)])
    expected = to_numpy(k_model([xa, xb], training=False))
    got = model.predict([xa, xb])
    assert len(got) == len(expected) == 3
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
    ref = model.predict([xa, xb], backend="reference")
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
    _check_counts(model, k_model)
    # the architecture survives JSON with the same outputs
    clone = gn.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    for g, c in zip(got, clone.predict([xa, xb])):
        np.testing.assert_allclose(c, g, rtol=1e-6, atol=1e-6)


@needs(keras)
def test_multi_io_weight_order_matches_keras():
    keras.backend.clear_session()  # same automatic names on both sides
    k_model = _multi_io(keras)
    model = _multi_io(gn)
    assert [layer.name for layer in model.layers] == [layer.name for layer in k_model.layers]
    assert [w.shape for w in k_model.get_weights()] == \
        [tuple(w.shape) for w in model.get_weights()]
    _random_keras_weights(k_model)
    model.set_weights(k_model.get_weights())
    xa, xb = make_data([(7, 7), (7, 13)])
    for g, e in zip(model.predict([xa, xb]), to_numpy(k_model([xa, xb], training=False))):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


# ---- Lambda ---------------------------------------------------------------------------

def _square_plus_one(x):
    return x * x + 1.0


def test_lambda_named_ops_function():
    result = check_layer(gn.layers.Lambda, {"function": gn.ops.relu}, (3, 7),
                         keras_kwargs=lambda k: {"function": k.ops.relu})
    assert result.layer.get_config()["function"] == {
        "module": "graphnet.ops", "class_name": "function", "config": "relu",
        "registered_name": "function"}
    config = gn.layers.Lambda(gn.activations.softmax).get_config()["function"]
    assert config["module"] == "graphnet.activations"
    layer = gn.layers.Lambda.from_config(
        {"function": {"class_name": "function", "config": "softmax", "module": "builtins"}})
    assert layer.function is gn.activations.softmax


def test_lambda_with_arguments_and_output_shape():
    check_layer(gn.layers.Lambda,
                {"function": gn.ops.leaky_relu, "arguments": {"negative_slope": 0.1}},
                (2, 13), keras_kwargs=lambda k: {"function": k.ops.leaky_relu,
                                                 "arguments": {"negative_slope": 0.1}})
    check_layer(gn.layers.Lambda, {"function": gn.ops.transpose, "arguments": {"axes": [0, 2, 1]},
                                   "output_shape": (5, 3)}, (2, 3, 5), keras_cls=None,
                expected_output_shape=(None, 5, 3))


def test_lambda_custom_function_by_name():
    kwargs = {"function": _square_plus_one}
    custom = {"_square_plus_one": _square_plus_one}
    result = check_layer(gn.layers.Lambda, kwargs, (1, 257), custom_objects=custom,
                         keras_cls=None)
    np.testing.assert_allclose(result.output, result.data ** 2 + 1, rtol=1e-6)
    config = result.layer.get_config()
    assert config["function"]["config"] == "_square_plus_one"
    assert_raises_naming(lambda: gn.layers.Lambda.from_config(config), "_square_plus_one",
                         "custom_objects")


def test_lambda_python_lambda_needs_unsafe_loading():
    scale = np.float32(3.0)
    kwargs = {"function": lambda x, shift=0.5: x * scale + shift}
    result = check_layer(gn.layers.Lambda, kwargs, (3, 7), unsafe=True,
                         keras_kwargs={"function": lambda x, shift=0.5: x * scale + shift})
    np.testing.assert_allclose(result.output, result.data * 3 + 0.5, rtol=1e-6)
    config = result.layer.get_config()
    assert config["function"]["class_name"] == "__lambda__"
    assert set(config["function"]["config"]) == {"code", "defaults", "closure"}
    assert_raises_naming(lambda: gn.layers.Lambda.from_config(config), "safe_mode")
    assert_raises_naming(lambda: gn.models.model_from_json(result.model.to_json()),
                         "safe_mode")
    clone = gn.layers.Lambda.from_config(config, safe_mode=False)
    out = gn.Model(x := gn.Input((7,)), clone(x)).predict(result.data)
    np.testing.assert_allclose(out, result.output, rtol=1e-6)


def test_lambda_never_runs_file_code_by_default(tmp_path):
    marker = tmp_path / "pwned"
    evil = gn.layers.Lambda(lambda x: open(str(marker), "w") and x).get_config()
    evil["function"]["config"]["closure"] = None
    for load in (lambda: gn.layers.Lambda.from_config(evil),
                 lambda: gn.layers.deserialize({"class_name": "Lambda", "config": evil}),
                 lambda: gn.layers.Lambda.from_config(dict(evil, function="relu",
                                                           output_shape=evil["function"]))):
        assert_raises_naming(load, "safe_mode")
    assert not marker.exists()


def test_lambda_multiple_inputs_and_training():
    check_layer(gn.layers.Lambda, {"function": lambda xs: xs[0] * xs[1] - xs[1]},
                [(2, 3), (2, 3)], unsafe=True, keras_cls=None)

    def noisy(x, training=None):
        return gn.ops.in_train_phase(x * 0.0, x, training=training)
    result = check_layer(gn.layers.Lambda, {"function": noisy}, (2, 5), keras_cls=None,
                         custom_objects={"noisy": noisy})
    np.testing.assert_array_equal(result.output, result.data)


def test_lambda_errors():
    assert_raises_naming(lambda: gn.layers.Lambda(3), "function", exc=TypeError)
    assert_raises_naming(lambda: gn.layers.Lambda(gn.ops.relu, arguments=[1]), "arguments",
                         exc=TypeError)
    assert_raises_naming(lambda: gn.layers.Lambda(gn.ops.relu, output_shape="ab"),
                         "output_shape")
    bad = gn.layers.Lambda(lambda x: gn.ops.reshape(x, (None, 5)), name="lm")
    assert_raises_naming(lambda: bad(gn.Input((3,))), "'lm'", "(None, 3)")
