"""Dict inputs and outputs of Functional models, against Keras 3 (torch backend)."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras

RNG = np.random.default_rng(7)
X = {"a": RNG.normal(size=(24, 4)).astype("float32"),
     "b": RNG.normal(size=(24, 3)).astype("float32")}
Y = {"out": RNG.normal(size=(24, 2)).astype("float32"),
     "aux": RNG.integers(0, 2, size=(24, 1)).astype("float32")}


def two_headed(lib):
    """Inputs given b first, outputs out first: the flat order is the sorted keys'."""
    ia, ib = lib.Input((4,), name="a"), lib.Input((3,), name="b")
    h = lib.layers.Concatenate()([ia, ib])
    h = lib.layers.Dense(5, activation="relu", name="hidden")(h)
    out = lib.layers.Dense(2, name="dense_out")(h)
    aux = lib.layers.Dense(1, activation="sigmoid", name="dense_aux")(h)
    return lib.Model(inputs={"b": ib, "a": ia}, outputs={"out": out, "aux": aux})


def compile_two_headed(model):
    model.compile(optimizer="sgd", loss={"out": "mse", "aux": "binary_crossentropy"},
                  loss_weights={"out": 1.0, "aux": 0.5},
                  metrics={"out": ["mae"], "aux": ["accuracy"]})


def test_flat_order_is_sorted_keys_and_predict_returns_a_dict():
    model = two_headed(gn)
    assert [t.node.attrs["name"] for t in model.inputs] == ["a", "b"]
    assert model.output_names == ["dense_aux", "dense_out"]
    assert isinstance(model.input, dict) and set(model.input) == {"a", "b"}
    pred = model.predict(X)
    assert isinstance(pred, dict) and list(pred) == ["out", "aux"]
    assert pred["out"].shape == (24, 2) and pred["aux"].shape == (24, 1)
    # a list in the flat (sorted-key) order gives the same outputs
    same = model.predict([X["a"], X["b"]])
    np.testing.assert_array_equal(same["out"], pred["out"])


def test_predict_and_fit_match_keras():
    model = two_headed(gn)
    compile_two_headed(model)
    if not compare_with(keras, "dict inputs/outputs: predict and fit against Keras 3"):
        history = model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        assert set(history.history) >= {"loss", "out_loss", "aux_loss", "out_mae",
                                        "aux_accuracy"}
        return
    reference = two_headed(keras)
    reference.set_weights(model.get_weights())
    compile_two_headed(reference)
    expected = reference.predict(X, verbose=0)
    got = model.predict(X)
    for key in ("out", "aux"):
        np.testing.assert_allclose(got[key], expected[key], atol=1e-5)
    ours = model.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    theirs = reference.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    assert set(ours) == set(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-5, err_msg=key)
    for mine, keras_weight in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(mine, keras_weight, atol=1e-5)
    ours = model.evaluate(X, Y, return_dict=True, verbose=0)
    theirs = reference.evaluate(X, Y, return_dict=True, verbose=0)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-5, err_msg=key)


def test_config_json_and_save_round_trip(tmp_path):
    model = two_headed(gn)
    config = model.get_config()
    assert config["input_layers"] == {"a": ["a", 0, 0], "b": ["b", 0, 0]}
    assert config["output_layers"] == {"aux": ["dense_aux", 0, 0], "out": ["dense_out", 0, 0]}
    rebuilt = gn.models.model_from_json(model.to_json())
    assert isinstance(rebuilt.output, dict) and set(rebuilt.output) == {"out", "aux"}
    rebuilt.set_weights(model.get_weights())
    expected = model.predict(X)
    for key, value in rebuilt.predict(X).items():
        np.testing.assert_array_equal(value, expected[key])
    compile_two_headed(model)
    model.fit(X, Y, epochs=1, verbose=0)
    path = str(tmp_path / "two_headed.graphnet")
    model.save(path)
    loaded = gn.models.load_model(path)
    trained = model.predict(X)
    for key, value in loaded.predict(X).items():
        np.testing.assert_array_equal(value, trained[key])


def test_summary_lists_every_layer():
    lines = []
    two_headed(gn).summary(print_fn=lines.append)
    text = "\n".join(lines)
    for name in ("a (InputLayer)", "b (InputLayer)", "hidden", "dense_out", "dense_aux"):
        assert name in text


def test_bad_dicts_name_the_keys():
    model = two_headed(gn)
    compile_two_headed(model)
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        model.predict({"a": X["a"]})
    with pytest.raises(ValueError, match=r"unknown \['c'\]"):
        model.predict(dict(X, c=X["a"]))
    with pytest.raises(ValueError, match="missing target.*aux"):
        model.fit(X, {"out": Y["out"]}, verbose=0)
    with pytest.raises(ValueError, match="Unknown entries in loss dictionary"):
        model.compile("sgd", loss={"outt": "mse"})
    with pytest.raises(TypeError, match="keys .* must be strings"):
        gn.Model(inputs={1: gn.Input((2,))}, outputs=gn.layers.Dense(1)(gn.Input((2,))))
