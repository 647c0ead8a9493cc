"""gn.utils: registered custom objects, custom_object_scope, serialize/deserialize_keras_object,
split_dataset and normalize, against keras.utils where Keras gives a value."""
import numpy as np
import pytest
from extras import compare_with, keras

import graphnet as gn
from graphnet import object_registration


@pytest.fixture
def clean_registry():
    saved = (dict(object_registration.GLOBAL_CUSTOM_OBJECTS),
             dict(object_registration.GLOBAL_CUSTOM_NAMES))
    yield
    for live, old in zip((object_registration.GLOBAL_CUSTOM_OBJECTS,
                          object_registration.GLOBAL_CUSTOM_NAMES), saved):
        live.clear()
        live.update(old)


def _twice(x):
    return gn.ops.multiply(x, 2.0)


def test_registered_names_as_keras(clean_registry):
    registered = gn.utils.register_keras_serializable("my_pkg")(_twice)
    assert registered is _twice
    assert gn.utils.get_registered_name(_twice) == "my_pkg>_twice"
    assert gn.utils.get_registered_object("my_pkg>_twice") is _twice
    assert gn.utils.get_custom_objects()["my_pkg>_twice"] is _twice
    assert gn.utils.get_registered_name(np.mean) == "mean"
    assert gn.utils.get_registered_object("nothing>here") is None
    gn.utils.register_keras_serializable("p", name="Other")(_twice)
    assert gn.utils.get_registered_name(_twice) == "p>Other"
    if compare_with(keras, "keras.saving's registered names"):
        keras.saving.register_keras_serializable("my_pkg")(_twice)
        assert keras.saving.get_registered_name(_twice) == "my_pkg>_twice"
        keras.saving.get_custom_objects().pop("my_pkg>_twice")


def test_saving_has_the_same_names():
    for name in ("register_keras_serializable", "custom_object_scope", "CustomObjectScope",
                 "get_custom_objects", "get_registered_name", "get_registered_object",
                 "serialize_keras_object", "deserialize_keras_object"):
        assert getattr(gn.saving, name) is getattr(gn.utils, name)
        if compare_with(keras, f"keras.saving.{name} exists"):
            assert hasattr(keras.saving, name)


def test_register_refuses_classes_without_get_config_and_bad_packages():
    class NoConfig:
        pass
    with pytest.raises(ValueError, match="NoConfig, which has no get_config"):
        gn.utils.register_keras_serializable("p")(NoConfig)
    with pytest.raises(ValueError, match="package must be a string without '>'"):
        gn.utils.register_keras_serializable("a>b")
    with pytest.raises(TypeError, match="custom_objects must be a dict"):
        gn.utils.custom_object_scope(["not", "a", "dict"])


def test_registered_activation_deserializes_in_a_model(clean_registry):
    gn.utils.register_keras_serializable("my_pkg")(_twice)
    inputs = gn.Input((3,))
    model = gn.Model(inputs, gn.layers.Dense(2, activation=_twice)(inputs))
    config = model.to_json()
    rebuilt = gn.models.model_from_json(config)
    assert rebuilt.layers[1].activation is _twice
    object_registration.GLOBAL_CUSTOM_OBJECTS.clear()
    with pytest.raises(ValueError, match="unknown activation 'my_pkg>_twice'"):
        gn.models.model_from_json(config)


class Scaled(gn.layers.Layer):
    """Only serialized here, never called."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_custom_object_scope_is_innermost_and_thread_local():
    def first(x):
        return x

    def second(x):
        return x
    assert gn.utils.get_registered_object("act") is None
    with gn.utils.custom_object_scope({"act": first}) as scope:
        assert scope.custom_objects == {"act": first}
        assert gn.activations.get("act") is first
        with gn.utils.CustomObjectScope({"other": second}):
            assert gn.utils.get_registered_object("other") is second
            assert gn.utils.get_registered_object("act") is None   # Keras: hidden
        import threading
        seen = []
        thread = threading.Thread(target=lambda: seen.append(
            gn.utils.get_registered_object("act")))
        thread.start()
        thread.join()
        assert seen == [None]
    assert gn.utils.get_registered_object("act") is None
    with pytest.raises(ValueError, match="unknown activation 'act'"):
        gn.activations.get("act")


def test_serialize_round_trips(clean_registry):
    dense = gn.layers.Dense(3, activation="relu", name="d")
    config = gn.utils.serialize_keras_object(dense)
    assert config["module"] == "keras.layers" and config["class_name"] == "Dense"
    assert config["registered_name"] is None and config["config"]["units"] == 3
    again = gn.utils.deserialize_keras_object(config)
    assert isinstance(again, gn.layers.Dense) and again.get_config() == dense.get_config()
    opt = gn.utils.deserialize_keras_object(gn.utils.serialize_keras_object(
        gn.optimizers.Adam(0.25)))
    assert isinstance(opt, gn.optimizers.Adam) and opt.get_config()["learning_rate"] == 0.25
    relu = gn.utils.serialize_keras_object(gn.activations.relu)
    assert relu == {"module": "builtins", "class_name": "function", "config": "relu",
                    "registered_name": "function"}
    assert gn.utils.deserialize_keras_object(relu) is gn.activations.relu
    assert gn.utils.serialize_keras_object((1, "a", None)) == [1, "a", None]
    gn.utils.register_keras_serializable("pk")(Scaled)
    scaled = gn.utils.serialize_keras_object(Scaled(3.0, name="s"))
    assert scaled["registered_name"] == "pk>Scaled"
    assert gn.utils.deserialize_keras_object(scaled).factor == 3.0
    if compare_with(keras, "keras.saving.serialize_keras_object's keys"):
        theirs = keras.saving.serialize_keras_object(keras.layers.Dense(3, name="d"))
        assert sorted(theirs) == sorted(config)
        assert (theirs["module"], theirs["class_name"]) == ("keras.layers", "Dense")
        assert keras.saving.serialize_keras_object(keras.activations.relu) == relu
        from_keras = gn.utils.deserialize_keras_object(theirs)
        assert isinstance(from_keras, gn.layers.Dense) and from_keras.units == 3


def test_deserialize_errors():
    with pytest.raises(ValueError, match="custom class 'Mystery' .* not registered"):
        gn.utils.deserialize_keras_object({"module": "my.module", "class_name": "Mystery",
                                           "config": {}, "registered_name": "x>Mystery"})
    with pytest.raises(ValueError, match="unknown function 'nope'"):
        gn.utils.deserialize_keras_object({"class_name": "function", "config": "nope"})
    with pytest.raises(TypeError, match="cannot serialize .* of type object"):
        gn.utils.serialize_keras_object(object())
    with pytest.raises(TypeError, match="expected a dict, list or plain value"):
        gn.utils.deserialize_keras_object(object())


# -- split_dataset --------------------------------------------------------------------
SIZES = [(0.8, None), (None, 0.25), (7, None), (None, 3), (0.5, 0.5), (3, 7), (0.3, 0.7)]


@pytest.mark.parametrize("left,right", SIZES)
def test_split_sizes_as_keras(left, right):
    x = np.arange(10 * 2).reshape(10, 2).astype("float32")
    y = np.arange(10)
    a, b = gn.utils.split_dataset((x, y), left_size=left, right_size=right)
    assert isinstance(a, tuple) and len(a) == 2
    np.testing.assert_array_equal(a[1], y[:len(a[1])])
    np.testing.assert_array_equal(b[1], y[10 - len(b[1]):])
    if compare_with(keras, "keras.utils.split_dataset's sizes"):
        ka, kb = keras.utils.split_dataset((x, y), left_size=left, right_size=right)
        assert (len(a[0]), len(b[0])) == (len(ka), len(kb))


def test_split_structures_and_shuffle():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    left, right = gn.utils.split_dataset({"x": x, "y": [y, y * 2]}, left_size=6,
                                         shuffle=True, seed=3)
    assert set(left) == {"x", "y"} and isinstance(left["y"], list)
    taken = np.concatenate([left["y"][0], right["y"][0]])
    assert sorted(taken.tolist()) == list(range(10)) and taken.tolist() != list(range(10))
    np.testing.assert_array_equal(left["x"][:, 0] // 2, left["y"][0])
    np.testing.assert_array_equal(left["y"][1], left["y"][0] * 2)
    again, _ = gn.utils.split_dataset({"x": x, "y": [y, y * 2]}, left_size=6, shuffle=True,
                                      seed=3)
    np.testing.assert_array_equal(again["y"][0], left["y"][0])
    a, b = gn.utils.split_dataset(x, right_size=0.2)
    assert a.shape == (8, 2) and b.shape == (2, 2)
    lists = gn.utils.split_dataset([x, y], left_size=0.5)
    assert isinstance(lists[0], list) and lists[0][1].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kwargs,error,match", [
    ({}, ValueError, "at least one of left_size and right_size"),
    ({"left_size": "half"}, TypeError, "left_size must be an int, a float or None, got str"),
    ({"right_size": True}, TypeError, "right_size must be an int"),
    ({"left_size": 1.5}, ValueError, r"a float left_size must be in \(0, 1\), got left_size=1.5"),
    ({"left_size": 10}, ValueError, r"an int left_size must be in \(0, 10\)"),
    ({"right_size": 0}, ValueError, r"an int right_size must be in \(0, 10\)"),
    ({"left_size": 0.6, "right_size": 0.6}, ValueError, "at most 1"),
    ({"left_size": 6, "right_size": 6}, ValueError, "more than the dataset's 10"),
    ({"left_size": 0.01}, ValueError, "the left split would be empty"),
])
def test_split_bad_sizes(kwargs, error, match):
    with pytest.raises(error, match=match):
        gn.utils.split_dataset(np.zeros((10, 1)), **kwargs)


def test_split_bad_datasets():
    with pytest.raises(ValueError, match=r"dataset\[1\] has 3"):
        gn.utils.split_dataset((np.zeros(4), np.zeros(3)), left_size=0.5)
    with pytest.raises(TypeError, match=r"dataset\['a'\] must be a NumPy array.*got int"):
        gn.utils.split_dataset({"a": 3}, left_size=0.5)
    with pytest.raises(ValueError, match="empty tuple"):
        gn.utils.split_dataset((), left_size=0.5)


def test_normalize_as_keras():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]], dtype="float32")
    for axis, order in ((-1, 2), (0, 1), (1, 3)):
        ours = gn.utils.normalize(x, axis=axis, order=order)
        norm = np.linalg.norm(x, order, axis, keepdims=True)
        np.testing.assert_allclose(ours, x / np.where(norm == 0, 1, norm), rtol=1e-6)
        if axis != 0 and compare_with(keras, "keras.utils.normalize"):  # Keras: axis or -1
            np.testing.assert_allclose(ours, keras.utils.normalize(x, axis, order), rtol=1e-6)
    inputs = gn.Input((2,))
    model = gn.Model(inputs, gn.utils.normalize(inputs))
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), [[0.6, 0.8]], rtol=1e-6)
