"""Keras's files both ways: ``.weights.h5`` (Keras 3's layout by layer path), ``.keras``
zips and Keras 2 ``.h5`` models, against Keras 3 on the torch backend; hostile files."""
import contextlib

import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, h5py, keras

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


def _trained_graphnet(name):
    model = MODELS[name][0](gn)
    x = _inputs(name)
    model.compile(gn.optimizers.Adam(0.01), "mse")
    model.fit(x, model.predict(x, verbose=0) + 1.0, epochs=2, verbose=0)
    return model, x


def _assert_same_optimizer_state(gm, km):
    for ours, theirs in zip(gm.optimizer.variables, km.optimizer.variables, strict=True):
        np.testing.assert_allclose(ours.numpy(), np.asarray(theirs.numpy()), atol=1e-6)


def _h5_files_or_clear_error(tmp_path):
    """True when h5py imports. Without it, saving a Keras HDF5 file must be an ImportError
    naming the extra to install (the test's other checks need h5py): False."""
    if compare_with(h5py, "Keras's HDF5-based files (h5py)"):
        return True
    with pytest.raises(ImportError, match=r"pip install 'graphnet\[h5\]'"):
        _mlp(gn).save_weights(str(tmp_path / "w.weights.h5"))
    return False


def _load_compiled(name, path):
    """A fresh graphnet model of ``name``, compiled with Adam, ``path``'s weights loaded."""
    model = MODELS[name][0](gn)
    model.compile(gn.optimizers.Adam(0.01), "mse")
    model.load_weights(path)
    return model


def test_weights_files_both_ways_with_the_optimizer_state(tmp_path):
    if not _h5_files_or_clear_error(tmp_path):
        return
    for name in sorted(MODELS):
        gm, x = _trained_graphnet(name)
        path = str(tmp_path / f"{name}.weights.h5")
        gm.save_weights(path)
        again = _load_compiled(name, path)
        np.testing.assert_array_equal(again.predict(x, verbose=0), gm.predict(x, verbose=0))
        _assert_same_optimizer_state(again, gm)
        if not compare_with(keras, f"{name}: .weights.h5 files to and from Keras"):
            continue
        km = MODELS[name][0](keras)
        km.compile(keras.optimizers.Adam(0.01), "mse")
        km.optimizer.build(km.trainable_variables)
        km.load_weights(path)
        np.testing.assert_allclose(km.predict(x, verbose=0), gm.predict(x, verbose=0),
                                   atol=1e-5)
        _assert_same_optimizer_state(gm, km)
        km, x = _trained_keras(name)
        km.save_weights(str(tmp_path / f"{name}.keras.weights.h5"))
        gm = _load_compiled(name, str(tmp_path / f"{name}.keras.weights.h5"))
        np.testing.assert_allclose(gm.predict(x, verbose=0), km.predict(x, verbose=0),
                                   atol=1e-5)
        _assert_same_optimizer_state(gm, km)


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


def test_weights_file_with_wrong_shapes_or_missing_datasets_is_refused_untouched(tmp_path):
    if not _h5_files_or_clear_error(tmp_path):
        return
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


def test_weights_file_refuses_links_outside_and_oversized_datasets(tmp_path):
    if not _h5_files_or_clear_error(tmp_path):
        return
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


# -- .keras model files ----------------------------------------------------------------------
def _saved_by_keras_loaded_by_graphnet(path, name):
    """A trained Keras model saved to ``path`` by Keras and loaded by graphnet: the same
    predictions and optimizer state."""
    km, x = _trained_keras(name)
    km.save(path)
    gm = gn.models.load_model(path)
    np.testing.assert_allclose(gm.predict(x, verbose=0), km.predict(x, verbose=0),
                               atol=1e-5)
    _assert_same_optimizer_state(gm, km)
    return gm


def _model_files_both_ways(tmp_path, extension):
    """Each model trained, saved by graphnet to a file of ``extension`` and loaded by
    graphnet and by Keras; and saved by Keras, loaded by graphnet: the same predictions and
    optimizer state."""
    for name in sorted(MODELS):
        gm, x = _trained_graphnet(name)
        path = str(tmp_path / f"{name}{extension}")
        gm.save(path)
        again = gn.models.load_model(path)
        np.testing.assert_array_equal(again.predict(x, verbose=0), gm.predict(x, verbose=0))
        _assert_same_optimizer_state(again, gm)
        if not compare_with(keras, f"{name}: {extension} files to and from Keras"):
            continue
        km = keras.models.load_model(path)
        np.testing.assert_allclose(km.predict(x, verbose=0), gm.predict(x, verbose=0),
                                   atol=1e-5)
        assert [layer.name for layer in km.layers] == [layer.name for layer in gm.layers]
        gm = _saved_by_keras_loaded_by_graphnet(str(tmp_path / f"k{name}{extension}"), name)
        assert type(gm.optimizer).__name__ == "Adam"
        np.testing.assert_allclose(float(gm.optimizer.learning_rate), 0.01, rtol=1e-6)


def test_keras_model_files_both_ways(tmp_path):
    if _h5_files_or_clear_error(tmp_path):
        _model_files_both_ways(tmp_path, ".keras")


def test_keras_file_round_trip_in_graphnet_and_op_layers_refused(tmp_path):
    if not _h5_files_or_clear_error(tmp_path):
        return
    model = _cnn(gn)
    x = _inputs("cnn")
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = gn.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    inp = gn.Input((4,))
    with_op = gn.Model(inp, gn.ops.multiply(gn.layers.Dense(3)(inp), 2.0))
    with pytest.raises(ValueError, match=r"layer 'multiply' is a gn.ops call.*save to a "
                                         r"\.graphnet file"):
        with_op.save(str(tmp_path / "op.keras"))
    assert not (tmp_path / "op.keras").exists()


def _rewrite_entry(path, entry, transform):
    """Copy of the zip at ``path`` with ``entry``'s bytes passed through ``transform``."""
    import zipfile
    target = path.replace(".keras", ".edited.keras")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            data = source.read(info.filename)
            out.writestr(info.filename, transform(data) if info.filename == entry else data)
    return target


def test_keras_file_naming_unknown_or_custom_classes_is_refused(tmp_path):
    if not _h5_files_or_clear_error(tmp_path):
        return
    import json
    path = str(tmp_path / "m.keras")
    _mlp(gn).save(path)

    def renamed(cls, module="keras.layers", registered=None):
        def transform(data):
            config = json.loads(data)
            config["config"]["layers"][1].update(class_name=cls, module=module,
                                                 registered_name=registered)
            return json.dumps(config).encode()
        return transform
    lacking = _rewrite_entry(path, "config.json", renamed("LSTMCellThatIsNot"))
    with pytest.raises(ValueError, match=r"layer 'dense.*' is a Keras LSTMCellThatIsNot, "
                                         r"which graphnet does not have"):
        gn.models.load_model(lacking)
    custom = _rewrite_entry(path, "config.json", renamed("MyDense", "my_pkg.layers",
                                                         "my_pkg>MyDense"))
    with pytest.raises(ValueError, match=r"custom class 'MyDense' \(module 'my_pkg.layers', "
                                         r"registered as 'my_pkg>MyDense'\).*custom_objects"):
        gn.models.load_model(custom)
    loaded = gn.models.load_model(custom, custom_objects={"my_pkg>MyDense": gn.layers.Dense})
    assert type(loaded.layers[0]) is gn.layers.Dense


def test_keras_file_with_a_lambda_is_refused_in_safe_mode(tmp_path):
    if not _h5_files_or_clear_error(tmp_path):
        return
    import json
    path = str(tmp_path / "m.keras")
    _mlp(gn).save(path)

    def with_lambda(data):
        config = json.loads(data)
        config["config"]["layers"][1] = {
            "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"name": "evil", "function": {"class_name": "__lambda__",
                                                    "config": {"code": "4wEAAAA="}}}}
        return json.dumps(config).encode()
    with pytest.raises(ValueError, match=r"layer 'evil' holds a Python lambda.*safe_mode"):
        gn.models.load_model(_rewrite_entry(path, "config.json", with_lambda))


def test_truncated_or_oversized_keras_files_are_refused(tmp_path):
    if not _h5_files_or_clear_error(tmp_path):
        return
    from graphnet.saving import Limits
    path = tmp_path / "m.keras"
    _cnn(gn).save(str(path))
    data = path.read_bytes()
    truncated = tmp_path / "t.keras"
    truncated.write_bytes(data[:len(data) - 200])
    with pytest.raises(ValueError, match=r"not a valid zip archive|truncated|corrupted"):
        gn.models.load_model(str(truncated))
    with pytest.raises(ValueError, match=r"m\.keras \(entry '.*'\): declares \d+ bytes, "
                                         r"more than the per-entry limit 1000"):
        gn.models.load_model(str(path), limits=Limits(max_entry_bytes=1000))
    broken = _rewrite_entry(str(path), "model.weights.h5", lambda d: d[:len(d) // 3])
    with pytest.raises(ValueError, match=r"model.weights.h5.*(not a valid HDF5|truncated)"):
        gn.models.load_model(broken)
    import zipfile
    with zipfile.ZipFile(broken, "w") as out, zipfile.ZipFile(str(path)) as source:
        for name in source.namelist():
            out.writestr(name, source.read(name))
        out.writestr("assets/string_lookup/vocabulary.txt", "a\nb\n")
    with pytest.raises(ValueError, match=r"holds assets \(assets/string_lookup/vocabulary.txt"
                                         r"\).*graphnet does not read"):
        gn.models.load_model(broken)


# -- Keras 2 .h5 model files ----------------------------------------------------------------
def test_h5_model_files_both_ways(tmp_path):
    if _h5_files_or_clear_error(tmp_path):
        _model_files_both_ways(tmp_path, ".h5")


# A Keras 2 (tf.keras 2.x) Functional model's config: list-form inbound nodes, a single
# input listed, batch_input_shape, plain dtype strings.
KERAS2_CONFIG = {"class_name": "Functional", "config": {
    "name": "model", "layers": [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False,
                    "ragged": False, "name": "input_1"}},
        {"class_name": "Dense", "name": "dense", "inbound_nodes": [[["input_1", 0, 0, {}]]],
         "config": {"name": "dense", "trainable": True, "dtype": "float32", "units": 3,
                    "activation": "relu", "use_bias": True,
                    "kernel_initializer": {"class_name": "GlorotUniform",
                                           "config": {"seed": None}},
                    "bias_initializer": {"class_name": "Zeros", "config": {}},
                    "kernel_regularizer": None, "bias_regularizer": None,
                    "activity_regularizer": None, "kernel_constraint": None,
                    "bias_constraint": None}}],
    "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]}}


def _keras2_file(path, kernel, bias, top_level_weights=False):
    """A Keras 2 .h5 written as Keras 2 writes it (weight names with ':0')."""
    import json
    with h5py.File(path, "w") as f:
        if not top_level_weights:
            f.attrs["model_config"] = json.dumps(KERAS2_CONFIG)
            f.attrs["keras_version"] = "2.12.0"
            f.attrs["training_config"] = json.dumps({
                "loss": "mse", "metrics": ["mae"], "weighted_metrics": None,
                "loss_weights": None,
                "optimizer_config": {"class_name": "SGD", "config": {
                    "name": "SGD", "learning_rate": 0.05, "momentum": 0.0,
                    "nesterov": False}}})
        group = f if top_level_weights else f.create_group("model_weights")
        group.attrs["layer_names"] = [b"input_1", b"dense"]
        group.create_group("input_1").attrs["weight_names"] = np.zeros((0,))
        dense = group.create_group("dense")
        dense.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        dense["dense/kernel:0"], dense["dense/bias:0"] = kernel, bias


def test_keras2_h5_model_and_weights_files_load(tmp_path):
    if not _h5_files_or_clear_error(tmp_path):
        return
    kernel = RNG.standard_normal((4, 3)).astype("float32")
    bias = RNG.standard_normal(3).astype("float32")
    path = str(tmp_path / "keras2.h5")
    _keras2_file(path, kernel, bias)
    model = gn.models.load_model(path)
    x = RNG.standard_normal((5, 4)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), np.maximum(x @ kernel + bias, 0),
                               rtol=1e-5, atol=1e-6)
    assert type(model.optimizer).__name__ == "SGD"
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 0.05, rtol=1e-6)
    weights_only = str(tmp_path / "keras2_weights.h5")
    _keras2_file(weights_only, kernel * 2, bias, top_level_weights=True)
    model.load_weights(weights_only)
    np.testing.assert_array_equal(model.get_weights()[0], kernel * 2)
    wrong = str(tmp_path / "wrong.h5")
    _keras2_file(wrong, kernel[:3], bias, top_level_weights=True)
    with _unchanged(model), pytest.raises(ValueError, match=r"layer 'dense' has weights of "
                                                            r"shapes \[\(4, 3\), \(3,\)\] "
                                                            r"but the file's layer 'dense' "
                                                            r"holds \[\(3, 3\), \(3,\)\]"):
        model.load_weights(wrong)
    with pytest.raises(ValueError, match=r"no model_config.*load_weights"):
        gn.models.load_model(weights_only)


# -- every layer, through .keras files both ways -----------------------------------------------
def _layer_cases(lib):
    """(layer, input shape) pairs: each of graphnet's layers that Keras 3 has, as a model
    input -> layer -> output."""
    L = lib.layers
    return [
        (L.Dense(3, activation="tanh"), (5,)), (L.Conv1D(3, 2, strides=2), (7, 2)),
        (L.Conv2D(3, 3, padding="same", dilation_rate=2), (6, 6, 2)),
        (L.Conv3D(2, 2), (4, 4, 4, 1)), (L.Conv1DTranspose(2, 3, strides=2), (5, 2)),
        (L.Conv2DTranspose(2, 3, strides=2), (4, 4, 2)), (L.DepthwiseConv2D(3), (5, 5, 2)),
        (L.SeparableConv2D(3, 3), (5, 5, 2)), (L.SeparableConv1D(3, 3), (6, 2)),
        (L.DepthwiseConv1D(2), (6, 3)),
        (L.BatchNormalization(center=False), (4, 3)), (L.LayerNormalization(), (4, 3)),
        (L.RMSNormalization(), (4, 3)), (L.UnitNormalization(axis=[1, 2]), (4, 3)),
        (L.GroupNormalization(groups=3, axis=1), (6, 2)), (L.Identity(), (3,)),
        (L.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0]), (2,)),
        (L.Rescaling(0.5, offset=1.0), (3,)), (L.MaxPooling2D(2), (4, 4, 1)),
        (L.AveragePooling1D(2), (6, 2)), (L.AveragePooling3D(2), (4, 4, 4, 1)),
        (L.GlobalMaxPooling2D(), (3, 3, 2)), (L.GlobalAveragePooling3D(), (2, 2, 2, 2)),
        (L.Flatten(), (2, 3)), (L.Reshape((3, 2)), (6,)), (L.Permute((2, 1)), (2, 3)),
        (L.RepeatVector(3), (2,)), (L.Dropout(0.5), (3,)), (L.Activation("softplus"), (3,)),
        (L.LeakyReLU(negative_slope=0.2), (3,)), (L.PReLU(), (3,)), (L.ELU(), (3,)),
        (L.ReLU(max_value=1.0), (3,)), (L.Softmax(), (3,)),
        (L.ZeroPadding2D(((1, 0), (0, 2))), (2, 2, 1)), (L.Cropping1D((1, 1)), (4, 2)),
        (L.UpSampling2D(2), (2, 2, 1)), (L.GaussianNoise(0.1), (3,)),
        (L.SpatialDropout1D(0.3), (3, 2)), (L.TimeDistributed(L.Dense(2)), (3, 4)),
        (L.CenterCrop(2, 2), (4, 4, 1)), (L.Resizing(3, 3), (2, 2, 1)),
        (L.Masking(0.0), (3, 2)),
    ]


def _single_layer_model(lib, layer, shape):
    inp = lib.Input(shape)
    return lib.Model(inp, layer(inp))


def test_every_layer_through_keras_files_both_ways(tmp_path):
    if not _h5_files_or_clear_error(tmp_path):
        return
    with_keras = compare_with(keras, "every layer's .keras file to and from Keras")
    keras_cases = _layer_cases(keras) if with_keras else None
    for i, (g_layer, shape) in enumerate(_layer_cases(gn)):
        what = type(g_layer).__name__
        x = RNG.standard_normal((2,) + shape).astype("float32")
        gm = _single_layer_model(gn, g_layer, shape)
        gm.save(str(tmp_path / f"g{i}.keras"))
        again = gn.models.load_model(str(tmp_path / f"g{i}.keras"))
        np.testing.assert_array_equal(again.predict(x, verbose=0), gm.predict(x, verbose=0),
                                      err_msg=f"{what}: graphnet's file in graphnet")
        if not with_keras:
            continue
        theirs = keras.models.load_model(str(tmp_path / f"g{i}.keras"))
        np.testing.assert_allclose(theirs.predict(x, verbose=0), gm.predict(x, verbose=0),
                                   atol=1e-5, err_msg=f"{what}: graphnet's file in Keras")
        km = _single_layer_model(keras, keras_cases[i][0], shape)
        km.save(str(tmp_path / f"k{i}.keras"))
        loaded = gn.models.load_model(str(tmp_path / f"k{i}.keras"))
        np.testing.assert_allclose(loaded.predict(x, verbose=0), km.predict(x, verbose=0),
                                   atol=1e-5, err_msg=f"{what}: Keras's file in graphnet")


def _two_inputs_nested(lib):
    """Two inputs merged (Concatenate, Add) and a Functional model nested in another."""
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    inner_in = lib.Input((8,))
    inner = lib.Model(inner_in, lib.layers.Dense(4, activation="relu")(inner_in),
                      name="inner")
    merged = inner(lib.layers.Concatenate()([a, b]))
    return lib.Model([a, b], [lib.layers.Add()([merged, a]), lib.layers.Dense(1)(merged)])


def _assert_all_close(got, want, exact=False):
    for ours, theirs in zip(got, want, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=0 if exact else 1e-5, rtol=0 if exact
                                   else 1e-7)


def test_multi_input_nested_functional_through_keras_files_both_ways(tmp_path):
    if not _h5_files_or_clear_error(tmp_path):
        return
    x = [RNG.standard_normal((3, 4)).astype("float32") for _ in range(2)]
    gm = _two_inputs_nested(gn)
    gm.save(str(tmp_path / "g.keras"))
    _assert_all_close(gn.models.load_model(str(tmp_path / "g.keras")).predict(x, verbose=0),
                      gm.predict(x, verbose=0), exact=True)
    if not compare_with(keras, "a two-input nested model's .keras files and Keras"):
        return
    _assert_all_close(keras.models.load_model(str(tmp_path / "g.keras")).predict(x, verbose=0),
                      gm.predict(x, verbose=0))
    km = _two_inputs_nested(keras)
    km.save(str(tmp_path / "k.keras"))
    _assert_all_close(gn.models.load_model(str(tmp_path / "k.keras")).predict(x, verbose=0),
                      km.predict(x, verbose=0))


def test_subclassed_model_weights_files_both_ways(tmp_path):
    if not _h5_files_or_clear_error(tmp_path):
        return
    x = RNG.standard_normal((3, 5)).astype("float32")
    gm, again = _Tower(), _Tower()
    gm(x), again(x)
    gm.save_weights(str(tmp_path / "g.weights.h5"))
    again.load_weights(str(tmp_path / "g.weights.h5"))
    np.testing.assert_array_equal(again.predict(x, verbose=0), gm.predict(x, verbose=0))
    if not compare_with(keras, "a subclassed model's .weights.h5 files and Keras"):
        return

    class KerasTower(keras.Model):
        def __init__(self):
            super().__init__()
            self.zeta = keras.layers.Dense(3)
            self.alpha = keras.layers.Dense(4)
            self.blocks = [keras.layers.Dense(4), keras.layers.Dense(4)]
            self._private = keras.layers.Dense(2)

        def call(self, x):
            x = self.alpha(x)
            for block in self.blocks:
                x = block(x)
            return self._private(self.zeta(x))
    km, fresh = KerasTower(), KerasTower()
    km(x), fresh(x)
    fresh.load_weights(str(tmp_path / "g.weights.h5"))
    np.testing.assert_allclose(fresh.predict(x, verbose=0), gm.predict(x, verbose=0),
                               atol=1e-5)
    km.save_weights(str(tmp_path / "k.weights.h5"))
    gm.load_weights(str(tmp_path / "k.weights.h5"))
    np.testing.assert_allclose(gm.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-5)
