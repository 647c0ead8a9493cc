"""gn.ops calls, operators and slicing between layers of a Functional model: recorded as
op layers (Keras 3's Operations), shown in summary, saved as name + JSON arguments,
loaded back and trained; against Keras 3 on torch."""
import json
import re

import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras

SCALE = np.array([1.0, -2.0, 0.5, 3.0, 1.5, -1.0], "float32")


def _build(lib):
    """The same model for graphnet (``lib=gn``) or Keras: arithmetic with numbers and an
    array, slicing, concatenate of a list, a reduction, stack and an op on two branches."""
    inputs = lib.Input((5,))
    h = lib.layers.Dense(4, activation="tanh")(inputs * 2.0 + 1.0)
    joined = lib.ops.concatenate([h[:, :2], h], axis=-1)          # (None, 6)
    scaled = joined * SCALE - lib.ops.sum(joined, axis=-1, keepdims=True) / 6.0
    pair = lib.ops.stack([scaled[:, 0], scaled[:, 3]], axis=1)    # (None, 2)
    out = lib.layers.Dense(3)(lib.ops.relu(scaled)) + lib.ops.mean(pair, axis=-1,
                                                                    keepdims=True)
    return lib.Model(inputs, out)


def _data(n=16):
    rng = np.random.default_rng(3)
    return rng.normal(size=(n, 5)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")


def _keras_twin(model):
    kmodel = _build(keras)
    kmodel.set_weights(model.get_weights())
    return kmodel


def test_ops_between_layers_predict_like_keras_with_the_same_weights():
    x, _ = _data()
    model = _build(gn)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Dense", "Dense"]
    W1, b1, W2, b2 = model.get_weights()
    h = np.tanh((x * 2 + 1) @ W1 + b1)
    joined = np.concatenate([h[:, :2], h], axis=-1)
    scaled = joined * SCALE - joined.sum(-1, keepdims=True) / 6
    want = np.maximum(scaled, 0) @ W2 + b2 + (scaled[:, 0:1] + scaled[:, 3:4]) / 2
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    if compare_with(keras, "outputs of the same Keras model"):
        kmodel = _keras_twin(model)
        np.testing.assert_allclose(model.predict(x, verbose=0),
                                   kmodel.predict(x, verbose=0), atol=1e-5)


def test_fit_trains_through_op_layers_like_keras_sgd():
    x, y = _data()
    model = _build(gn)
    start = model.get_weights()
    model.compile(optimizer=gn.optimizers.SGD(0.1), loss="mse")
    losses = [float(model.train_on_batch(x, y)) for _ in range(5)]
    assert losses[-1] < losses[0]
    assert not np.allclose(model.get_weights()[0], start[0])
    if compare_with(keras, "5 SGD steps of the same Keras model"):
        kmodel = _build(keras)
        kmodel.set_weights(start)
        kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        for _ in range(5):
            kmodel.train_on_batch(x, y)
        for got, want in zip(model.get_weights(), kmodel.get_weights()):
            np.testing.assert_allclose(got, want, atol=1e-5)


def _summary_text(model):
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    return "\n".join(lines)


def test_summary_shows_ops_as_keras_3_does():
    model = _build(gn)
    text = _summary_text(model)
    kinds = re.findall(r"\(([A-Z][A-Za-z]*)\)", text.replace("(None)", ""))
    assert kinds == ["InputLayer", "Multiply", "Add", "Dense", "GetItem", "Concatenate",
                     "Sum", "Multiply", "TrueDivide", "Subtract", "GetItem", "GetItem", "Relu",
                     "Stack", "Dense", "Mean", "Add"]
    assert re.search(r"get_item(_\d+)? \(GetItem\)\s+│ \(None, 2\)\s+│\s+0 │ dense", text)
    if compare_with(keras, "the op rows of Keras's summary"):
        ktext = _summary_text(_keras_twin(model))
        assert re.findall(r"\(([A-Z][A-Za-z]*)\)", ktext.replace("(None)", "")) == kinds
        assert ktext.count("(None)") == text.count("(None)") == 2
        assert re.findall(r"Total params: .*", ktext) == re.findall(r"Total params: .*", text)


def test_config_records_function_names_and_json_arguments():
    model = _build(gn)
    config = json.loads(model.to_json())["config"]
    ops = [entry["config"] for entry in config["layers"] if entry["class_name"] == "OpLayer"]
    assert [op["function"] for op in ops][:6] == ["multiply", "add", "getitem", "concatenate",
                                                   "sum", "multiply"]
    assert ops[0]["arguments"] == {"args": [{"__tensor__": 0}, 2.0], "kwargs": {}}
    getitem = ops[2]["arguments"]["args"][1]
    assert getitem == {"__tuple__": [{"__slice__": [None, None, None]},
                                     {"__slice__": [None, 2, None]}]}
    scale = ops[5]["arguments"]["args"][1]["__numpy__"]
    assert scale == {"value": SCALE.tolist(), "dtype": "float32", "shape": [6]}
    assert ops[3]["arguments"] == {"args": [[{"__tensor__": 0}, {"__tensor__": 1}]],
                                   "kwargs": {"axis": -1}}


def test_save_and_load_round_trip_predicts_identically(tmp_path):
    x, y = _data()
    model = _build(gn)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    want = model.predict(x, verbose=0)
    path = str(tmp_path / "ops.graphnet")  # gn.ops between layers: graphnet's format
    model.save(path)
    loaded = gn.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), want)
    assert _summary_text(loaded) == _summary_text(model)
    rebuilt = gn.models.model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), want)


def _config_with_function(model, function, arguments=None):
    config = json.loads(model.to_json())
    for entry in config["config"]["layers"]:
        if entry["class_name"] == "OpLayer":
            entry["config"]["function"] = function
            if arguments is not None:
                entry["config"]["arguments"] = arguments
            break
    return json.dumps(config)


@pytest.mark.parametrize("function", ["system", "os.system", "__import__", "eval",
                                      "convert_to_numpy", "shape"])
def test_a_file_naming_a_function_outside_gn_ops_is_refused(function):
    model = _build(gn)
    with pytest.raises(ValueError, match=re.escape(repr(function)) +
                       " is not a gn.ops function"):
        gn.models.model_from_json(_config_with_function(model, function))


def test_a_file_with_unreadable_arguments_is_refused():
    model = _build(gn)
    hostile = {"args": [{"__tensor__": 0}, {"__lambda__": "Y29kZQ=="}], "kwargs": {}}
    with pytest.raises(ValueError, match="cannot read the recorded argument"):
        gn.models.model_from_json(_config_with_function(model, "multiply", hostile))
    out_of_range = {"args": [{"__tensor__": 3}, 2.0], "kwargs": {}}
    with pytest.raises(ValueError, match="an index below 1"):
        gn.models.model_from_json(_config_with_function(model, "multiply", out_of_range))


def test_ops_inside_a_layer_call_stay_plain_nodes():
    class Scaled(gn.layers.Layer):
        def call(self, x):
            return gn.ops.relu(x * 3.0)[:, :2]

    inputs = gn.Input((4,))
    model = gn.Model(inputs, Scaled()(inputs))
    assert [type(layer).__name__ for layer in model._layers] == ["InputLayer", "Scaled"]
    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.maximum(x * 3, 0)[:, :2])


def test_an_op_with_several_outputs_and_a_list_of_outputs():
    inputs = gn.Input((6,))
    mean, variance = gn.ops.moments(inputs, axes=[1], keepdims=True)
    model = gn.Model(inputs, [mean, variance])
    x = np.arange(12, dtype="float32").reshape(2, 6)
    got_mean, got_var = model.predict(x, verbose=0)
    np.testing.assert_allclose(got_mean, x.mean(1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(got_var, x.var(1, keepdims=True), rtol=1e-5)
    loaded = gn.models.model_from_json(model.to_json())
    np.testing.assert_allclose(loaded.predict(x, verbose=0)[1], got_var)


def test_an_op_on_two_inputs_and_a_reflected_operator():
    a, b = gn.Input((3,), name="a"), gn.Input((3,), name="b")
    out = 1.0 - gn.ops.maximum(a, b) ** 2 / (abs(-b) + 1.0)
    model = gn.Model([a, b], out)
    xa = np.array([[1.0, -2.0, 0.5]], "float32")
    xb = np.array([[0.5, 1.0, -3.0]], "float32")
    want = 1.0 - np.maximum(xa, xb) ** 2 / (np.abs(xb) + 1.0)
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), want, rtol=1e-6)
    functions = [layer.function for layer in model._layers if hasattr(layer, "function")]
    assert sorted(functions) == ["abs", "add", "maximum", "negative", "power", "subtract",
                                 "true_divide"]


def test_an_op_on_a_variable_outside_layers_is_plain_and_a_model_of_it_a_clear_error():
    inputs = gn.Input((3,))
    scale = gn.Variable(np.full(3, 2.0, "float32"), name="scale")
    scaled = gn.ops.multiply(inputs, scale)
    assert scaled.history is None   # a plain node: gn.function runs it
    np.testing.assert_allclose(gn.function([inputs], scaled)(np.ones((1, 3), "float32")),
                               [[2.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match="an op on a gn.Variable outside any layer"):
        gn.Model(inputs, scaled)


def test_an_unrecordable_argument_is_a_clear_error():
    inputs = gn.Input((3,))
    with pytest.raises(TypeError, match="cannot record an argument of type object"):
        gn.ops.add(inputs, object())


def test_a_numpy_array_on_the_left_builds_a_graph_node():
    """numpy defers to the tensor's reflected operators (no object array of nodes)."""
    i = gn.Input((3,))
    offset = np.array([1.0, 2.0, 3.0], "float32")
    outputs = [offset + i, offset * i, offset - i, offset / (i + 1)]
    assert all(isinstance(t, gn.SymbolicTensor) for t in outputs)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    got = gn.function([i], outputs)(x)
    for ours, theirs in zip(got, [offset + x, offset * x, offset - x, offset / (x + 1)]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
