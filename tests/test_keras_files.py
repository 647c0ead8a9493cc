"""Keras's files both ways: ``.weights.h5`` (Keras 3's layout by layer path), ``.keras``
zips and Keras 2 ``.h5`` models, against Keras 3 on the torch backend; hostile files."""
import contextlib

import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, h5py, keras, needs

RNG = np.random.default_rng(0)


def _cnn(lib):
    """A CNN with BatchNormalization and a nested Sequential, in Keras or graphnet."""
    inp = lib.Input((8, 8, 3))
    x = lib.layers.Conv2D(4, 3, activation="relu")(inp)
    x = lib.layers.BatchNormalization()(x)
    x = lib.layers.MaxPooling2D()(x)
    x = lib.layers.Flatten()(x)
    head = lib.Sequential([lib.layers.Dense(5, activation="tanh"), lib.layers.Dense(3)],
                          name="head")
    return lib.Model(inp, head(x))


def _text(lib):
    """Embedding + Conv1D + pooling."""
    inp = lib.Input((12,), dtype="int32")
    x = lib.layers.Embedding(20, 6)(inp)
    x = lib.layers.Conv1D(5, 3, padding="same")(x)
    x = lib.layers.GlobalAveragePooling1D()(x)
    return lib.Model(inp, lib.layers.Dense(2, activation="softmax")(x))


def _mlp(lib):
    return lib.Sequential([lib.Input((6,)), lib.layers.Dense(8, activation="relu"),
                           lib.layers.Dropout(0.1), lib.layers.Dense(4)])


MODELS = {"cnn": (_cnn, (3, 8, 8, 3), "float32"), "text": (_text, (3, 12), "int32"),
          "mlp": (_mlp, (3, 6), "float32")}


@contextlib.contextmanager
def _unchanged(model):
    """The block leaves ``model``'s weights as they were."""
    before = model.get_weights()
    yield
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def _inputs(name):
    _, shape, dtype = MODELS[name]
    if dtype == "int32":
        return RNG.integers(0, 20, size=shape).astype("int32")
    return RNG.standard_normal(shape).astype("float32")


def _trained_keras(name):
    """A Keras model after two Adam steps (BatchNormalization's moving statistics moved)."""
    model = MODELS[name][0](keras)
    x = _inputs(name)
    y = model.predict(x, verbose=0)
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(x, y + 1.0, epochs=2, verbose=0)
    return model, x


@needs(h5py, keras)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_weights_file_loads_into_graphnet_with_the_optimizer_state(tmp_path, name):
    km, x = _trained_keras(name)
    path = str(tmp_path / "k.weights.h5")
    km.save_weights(path)
    gm = MODELS[name][0](gn)
    gm.compile(gn.optimizers.Adam(0.01), "mse")
    gm.load_weights(path)
    np.testing.assert_allclose(gm.predict(x, verbose=0), km.predict(x, verbose=0),
                               atol=1e-5)
    for ours, theirs in zip(gm.optimizer.variables, km.optimizer.variables, strict=True):
        np.testing.assert_allclose(ours.numpy(), np.asarray(theirs.numpy()), atol=1e-6)


@needs(h5py, keras)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_graphnet_weights_file_loads_into_keras(tmp_path, name):
    gm = MODELS[name][0](gn)
    x = _inputs(name)
    gm.compile(gn.optimizers.Adam(0.01), "mse")
    gm.fit(x, gm.predict(x, verbose=0) + 1.0, epochs=2, verbose=0)
    path = str(tmp_path / "g.weights.h5")
    gm.save_weights(path)
    km = MODELS[name][0](keras)
    km.compile(keras.optimizers.Adam(0.01), "mse")
    km.optimizer.build(km.trainable_variables)
    km.load_weights(path)
    np.testing.assert_allclose(km.predict(x, verbose=0), gm.predict(x, verbose=0),
                               atol=1e-5)
    for ours, theirs in zip(gm.optimizer.variables, km.optimizer.variables, strict=True):
        np.testing.assert_allclose(np.asarray(theirs.numpy()), ours.numpy(), atol=1e-6)


class _Tower(gn.Model):
    """A subclassed model: attributes, a list of blocks and a private layer, whose Keras
    paths are 'alpha', 'blocks/dense', 'layers/dense' (zeta comes after 'layers')..."""

    def __init__(self, lib=gn):
        super().__init__()
        self.zeta = lib.layers.Dense(3)
        self.alpha = lib.layers.Dense(4)
        self.blocks = [lib.layers.Dense(4), lib.layers.Dense(4)]
        self._private = lib.layers.Dense(2)

    def call(self, x):
        x = self.alpha(x)
        for block in self.blocks:
            x = block(x)
        return self._private(self.zeta(x))


def test_keras_paths_of_a_subclassed_model_follow_keras():
    from graphnet.saving.keras_weights import keras_paths
    model = _Tower()
    model(np.zeros((1, 5), "float32"))
    paths = {path: [tuple(v.shape) for v in variables]
             for path, _, variables in keras_paths(model)}
    assert paths == {"": [], "alpha": [(5, 4), (4,)], "blocks/dense": [(4, 4), (4,)],
                     "blocks/dense_1": [(4, 4), (4,)], "layers/dense": [(4, 3), (3,)],
                     "layers/dense_4": [(3, 2), (2,)]}


@needs(h5py)
def test_weights_file_with_wrong_shapes_or_missing_datasets_is_refused_untouched(tmp_path):
    model = _mlp(gn)
    path = str(tmp_path / "w.weights.h5")
    model.save_weights(path)
    other = gn.Sequential([gn.Input((6,)), gn.layers.Dense(9), gn.layers.Dropout(0.1),
                           gn.layers.Dense(4)])
    with _unchanged(other), pytest.raises(ValueError, match=r"'dense.*' has shape \(6, 9\) "
                                                           r"but the file holds \(6, 8\)"):
        other.load_weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/dense_1/vars/1"]
    fresh = _mlp(gn)
    with _unchanged(fresh), pytest.raises(ValueError, match=r"layers/dense_1/vars.*has 2 "
                                                           r"variables but the file holds 1"):
        fresh.load_weights(path)


@needs(h5py)
def test_weights_file_refuses_links_outside_and_oversized_datasets(tmp_path):
    from graphnet.saving import Limits
    model = _mlp(gn)
    path = str(tmp_path / "w.weights.h5")
    model.save_weights(path)
    with pytest.raises(ValueError, match=r"declares 192 bytes, more than the per-entry "
                                         r"limit 100"):
        gn.saving.keras_weights.load_weights(model, path, limits=Limits(max_entry_bytes=100))
    with h5py.File(path, "a") as f:
        f["layers/dense/vars/extra"] = h5py.ExternalLink("/etc/passwd", "/")
    with pytest.raises(ValueError, match=r"ExternalLink"):
        model.load_weights(path)
    with open(path, "rb") as f:
        data = f.read()
    truncated = tmp_path / "t.weights.h5"
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"not a valid HDF5 file|truncated"):
        model.load_weights(str(truncated))
