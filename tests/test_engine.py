"""Models: Functional and Sequential structure, calling, predict, config and errors."""
import io
import json

import numpy as np
import pytest

import graphnet as gn
from graphnet import layers as L


def _mlp(n_in=6, hidden=5, n_out=3, name=None):
    inp = gn.Input((n_in,), name="x")
    h = L.Dense(hidden, activation="relu", name="hidden")(inp)
    return gn.Model(inp, L.Dense(n_out, name="out")(h), name=name)


def _numpy_mlp(model, x):
    k1, b1, k2, b2 = model.get_weights()
    return np.maximum(x @ k1 + b1, 0) @ k2 + b2


def test_functional_predict_matches_numpy_and_reference():
    model = _mlp()
    x = np.random.randn(37, 6).astype("float32")
    np.testing.assert_allclose(model.predict(x, batch_size=8), _numpy_mlp(model, x), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(model.predict(x), model.predict(x, backend="reference"),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), _numpy_mlp(model, x), rtol=1e-5,
                               atol=1e-6)


def test_multi_input_multi_output_with_a_shared_layer():
    a, b = gn.Input((4,), name="a"), gn.Input((4,), name="b")
    shared = L.Dense(3, name="shared")
    ha, hb = shared(a), shared(b)
    s = L.Add()([ha, hb]) if hasattr(L, "Add") else gn.layers.Activation("linear")(ha)
    model = gn.Model([a, b], [s, hb])
    assert len(shared._calls) == 2 and len(model.weights) == 2
    xa, xb = np.random.randn(5, 4), np.random.randn(5, 4)
    out_s, out_b = model.predict([xa, xb])
    k, bias = shared.get_weights()
    np.testing.assert_allclose(out_b, xb @ k + bias, rtol=1e-5, atol=1e-6)
    if hasattr(L, "Add"):
        np.testing.assert_allclose(out_s, xa @ k + xb @ k + 2 * bias, rtol=1e-5, atol=1e-5)
    by_name = model.predict({"a": xa, "b": xb})
    np.testing.assert_allclose(by_name[1], out_b)


def test_nested_model_used_as_a_layer_shares_weights():
    inner = _mlp(name="inner")
    inp = gn.Input((6,))
    outer = gn.Model(inp, L.Activation("tanh")(inner(inp)))
    x = np.random.randn(4, 6).astype("float32")
    np.testing.assert_allclose(outer.predict(x), np.tanh(inner.predict(x)), rtol=1e-5, atol=1e-6)
    assert outer.count_params() == inner.count_params()
    assert [layer.name for layer in outer.layers][1] == "inner"
    inner.layers[1].set_weights([np.zeros((6, 5)), np.zeros(5)])
    np.testing.assert_allclose(outer.predict(x), np.tanh(inner.predict(x)), atol=1e-6)


def test_sequential_add_pop_build_and_input_sources():
    model = gn.Sequential([L.Dense(4, input_shape=(3,)), L.Activation("relu")])
    assert model.built and model.output_shape == (None, 4)
    model.add(L.Dense(2))
    assert model.output_shape == (None, 2) and len(model.layers) == 3
    model.pop()
    assert model.output_shape == (None, 4)
    deferred = gn.Sequential([L.Dense(4), L.Dense(1)])
    assert not deferred.built
    with pytest.raises(ValueError, match="not yet been built"):
        deferred.summary()
    deferred.build((None, 7))
    assert deferred.count_params() == 7 * 4 + 4 + 5
    with_input = gn.Sequential([gn.Input((2,)), L.Dense(3)])
    assert with_input.predict(np.ones((1, 2))).shape == (1, 3)
    lazy = gn.Sequential([L.Dense(2)])
    assert lazy.predict(np.ones((3, 5))).shape == (3, 2)
    with pytest.raises(TypeError, match="no layers to pop"):
        gn.Sequential().pop()


def test_summary_prints_keras_table_and_counts():
    model = _mlp()
    buf = io.StringIO()
    model.summary(print_fn=lambda line: buf.write(line + "\n"))
    text = buf.getvalue()
    assert 'Model: "' in text and "hidden (Dense)" in text and "(None, 5)" in text
    assert "Total params: 53 (212.00 B)" in text
    assert "Trainable params: 53" in text and "Non-trainable params: 0 (0.00 B)" in text
    assert "x[0][0]" in text  # Connected to


def test_trainable_flag_moves_weights_to_non_trainable():
    model = _mlp()
    model.get_layer("hidden").trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    assert model.count_params() == 53


def test_json_round_trip_rebuilds_the_same_architecture():
    a, b = gn.Input((4,), name="a"), gn.Input((2,), name="b")
    shared = L.Dense(3, activation="tanh", name="shared")
    h = shared(a)
    h2 = shared(L.Dense(4, name="lift")(b))
    model = gn.Model([a, b], [h, h2], name="two")
    clone = gn.models.model_from_json(model.to_json())
    assert clone.name == "two" and [l.name for l in clone.layers] == [l.name for l in model.layers]
    clone.set_weights(model.get_weights())
    xa, xb = np.random.randn(3, 4), np.random.randn(3, 2)
    for got, want in zip(clone.predict([xa, xb]), model.predict([xa, xb])):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert json.loads(model.to_json())["class_name"] == "Functional"
    seq = gn.Sequential([gn.Input((3,)), L.Dense(2, kernel_initializer="ones")])
    seq2 = gn.models.model_from_json(seq.to_json())
    assert isinstance(seq2, gn.Sequential) and seq2.get_config() == seq.get_config()


def test_from_config_refuses_unknown_classes_by_name():
    bad = {"class_name": "os.system", "config": {}}
    with pytest.raises(ValueError, match="unknown layer 'os.system'"):
        gn.layers.deserialize(bad)
    with pytest.raises(ValueError, match="not valid JSON"):
        gn.models.model_from_json("{nope")


def test_layer_called_on_arrays_runs_eagerly():
    layer = L.Dense(2, kernel_initializer="ones", bias_initializer="ones")
    out = layer(np.ones((3, 4), "float32"))
    np.testing.assert_allclose(out, np.full((3, 2), 5.0))


def test_predict_errors_name_the_input_and_shapes():
    model = _mlp()
    with pytest.raises(ValueError, match=r"input 'x' expects shape \(None, 6\).*batch.*\(2, 5\)"):
        model.predict(np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"expects shape \(None, 6\).*got an array of shape "
                                         r"\(6,\)"):
        model.predict(np.ones(6))
    with pytest.raises(TypeError, match="dtype"):
        model.predict(np.array([["a"] * 6]))
    with pytest.raises(ValueError, match="expects 1 input"):
        model.predict([np.ones((1, 6)), np.ones((1, 6))])
    int_in = gn.Input((2,), dtype="int32")
    int_model = gn.Model(int_in, L.Activation("linear")(L.Lambda(
        lambda t: gn.ops.cast(t, "float32"))(int_in))) if hasattr(L, "Lambda") else None
    if int_model is not None:
        with pytest.raises(TypeError, match="expects dtype int32"):
            int_model.predict(np.ones((1, 2), "float32"))


def test_definition_errors_name_the_layer_and_shapes():
    x = gn.Input((5,))
    dense = L.Dense(3, name="d")
    dense(x)
    with pytest.raises(ValueError, match=r"layer 'd'.*value 5.*\(None, 4\)"):
        dense(gn.Input((4,)))
    with pytest.raises(ValueError, match="units must be a positive integer"):
        L.Dense(0)
    with pytest.raises(ValueError, match="min_ndim=2"):
        L.Dense(2)(gn.Input(batch_shape=(3,)))


def test_disconnected_and_unused_inputs_are_refused():
    a, b = gn.Input((3,), name="a"), gn.Input((3,), name="b")
    out = L.Dense(2)(a)
    with pytest.raises(ValueError, match="'b'.*not connected"):
        gn.Model([a, b], out)
    with pytest.raises(ValueError, match="graph disconnected.*'a'"):
        gn.Model(b, L.Dense(1)(a))
    with pytest.raises(ValueError, match="gn.Input"):
        gn.Model(out, L.Dense(1)(out))
    with pytest.raises(ValueError, match="not produced by a layer"):
        gn.Model(a, [out, gn.ops.convert_to_tensor(np.ones(3, "float32"))])


def test_set_weights_checks_every_shape_before_writing():
    model = _mlp()
    before = model.get_weights()
    bad = [w.copy() for w in before]
    bad[-1] = np.zeros(7)
    with pytest.raises(ValueError, match=r"shape \(3,\), got an array of shape \(7,\)"):
        model.set_weights(bad)
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    with pytest.raises(ValueError, match="expects 4 weight arrays, got 1"):
        model.set_weights(before[:1])


def test_gn_function_like_k_function():
    model = _mlp()
    hidden = model.get_layer("hidden").output
    f = gn.function(model.inputs, [hidden, model.outputs[0]])
    x = np.random.randn(2, 6).astype("float32")
    h, out = f(x)
    k1, b1, _, _ = model.get_weights()
    np.testing.assert_allclose(h, np.maximum(x @ k1 + b1, 0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not among the inputs"):
        gn.function([gn.Input((6,))], hidden)


def test_keras_namespace_is_present():
    for name in ["Input", "Model", "Sequential", "layers", "ops", "activations", "initializers",
                 "models", "backend", "utils"]:
        assert hasattr(gn, name), name
    assert gn.layers.Dense(3).get_config()["kernel_initializer"]["class_name"] == "GlorotUniform"


def test_initializers_are_seedable_and_keras_shaped():
    init = gn.initializers.GlorotUniform(seed=3)
    a, b = init((20, 30)), init((20, 30))
    np.testing.assert_array_equal(a, b)
    limit = np.sqrt(6 / 50)
    assert a.dtype == np.float32 and np.abs(a).max() <= limit
    he = gn.initializers.get("he_normal")((400, 300))
    assert abs(he.std() - np.sqrt(2 / 400)) < 0.01
    assert gn.initializers.get({"class_name": "Constant", "config": {"value": 2}})((2,)).tolist() \
        == [2, 2]
    with pytest.raises(ValueError, match="mode must be one of"):
        gn.initializers.VarianceScaling(mode="bad")


def test_model_from_json_loads_python_lambdas_only_outside_safe_mode():
    inp = gn.Input((3,))
    model = gn.Model(inp, L.Lambda(lambda t: t * 2.0)(inp))
    text = model.to_json()
    with pytest.raises(ValueError, match="safe_mode"):
        gn.models.model_from_json(text)
    clone = gn.models.model_from_json(text, safe_mode=False)
    np.testing.assert_allclose(clone.predict(np.ones((1, 3))), 2.0)


class BatchCounter(L.Layer):
    """Counts the training batches it sees: a state update of a layer of the user's own."""

    def build(self, input_shape):
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                    name="seen")

    def call(self, inputs, training=None):
        self.add_state_update(self.seen, gn.ops.add(self.seen, 1.0))
        return inputs


def test_any_layer_s_state_updates_run_in_the_training_step():
    model = gn.Sequential([gn.Input((3,)), L.Dense(2), BatchCounter()])
    counter = model.layers[1]
    assert [v for v, _ in model.state_updates] == [counter.seen]
    model.compile(loss="mse", optimizer="sgd")
    x, y = np.ones((10, 3), np.float32), np.zeros((10, 2), np.float32)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert counter.seen.numpy() == 6          # 3 batches per epoch
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert counter.seen.numpy() == 6          # inference and evaluation leave it


def test_add_state_update_refuses_what_is_not_a_variable_s_new_value():
    x = gn.Input((3,))
    layer = L.Dense(3)
    y = layer(x)
    with pytest.raises(TypeError, match=r"dense.*variable must be a graphnet Variable"):
        layer.add_state_update(np.zeros(3), y)
    with pytest.raises(TypeError, match="value must be a symbolic tensor, got ndarray"):
        layer.add_state_update(layer.bias, np.zeros(3))
    with pytest.raises(ValueError, match=r"has shape \(None, 3\), the variable \(3,\)"):
        layer.add_state_update(layer.bias, y)


def test_get_layer_by_index_is_layers_at_that_index_as_in_keras_3():
    seq = gn.Sequential([gn.Input((4,)), L.Dense(3, name="first"), L.Dense(2, name="last")])
    assert seq.get_layer(index=0) is seq.layers[0] and seq.layers[0].name == "first"
    assert seq.get_layer(index=-1).name == "last"
    model = _mlp()
    assert [model.get_layer(index=i) for i in range(3)] == model.layers
    assert model.get_layer("out") is model.layers[-1]
    with pytest.raises(ValueError, match="has 2 layers, asked for index 2"):
        seq.get_layer(index=2)
    with pytest.raises(ValueError, match="a layer name or a layer index, one of the two"):
        seq.get_layer()
    with pytest.raises(ValueError, match="name='first', index=0"):
        seq.get_layer("first", index=0)
    with pytest.raises(ValueError, match="No such layer: nope"):
        seq.get_layer("nope")
