"""gn.applications against keras.applications: parameter counts, layer names, outputs on
the same weights (copied, or through Keras-written files), pooling and top, Keras's
argument errors, the ImageNet files through the download cache, preprocess_input and
decode_predictions. Small inputs (32x32, 64x64) keep it quick."""
import json
import os

import numpy as np
import pytest
from extras import compare_with, h5py, keras, needs, onnxruntime

import graphnet as gn
from graphnet.applications import imagenet_utils
from graphnet.datasets import download

# (name, keyword arguments): one shape of each model, built once per module for both
CASES = {
    "ResNet50": dict(include_top=False, input_shape=(64, 64, 3)),
    "ResNet50V2": dict(include_top=True, classes=10, input_shape=(32, 32, 3)),
    "VGG16": dict(include_top=False, input_shape=(32, 32, 3), pooling="max"),
    "DenseNet121": dict(include_top=True, classes=7, input_shape=(32, 32, 3)),
}


def _keras_model(name, **kwargs):
    keras.utils.set_random_seed(1)
    model = getattr(keras.applications, name)(weights=None, **kwargs)
    rng = np.random.default_rng(2)
    for layer in model.layers:   # statistics other than (0, 1), so they matter
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, .1, beta.shape),
                               rng.normal(0, .1, mean.shape), rng.uniform(.5, 1.5, var.shape)])
    return model


@pytest.fixture(scope="module")
def keras_models():
    return {name: _keras_model(name, **kwargs) for name, kwargs in CASES.items()}


def _images(shape, batch=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (batch,) + tuple(shape)).astype("float32")


def _assert_close(got, want):
    """Within 1e-4 relative to the output's scale."""
    scale = float(np.max(np.abs(want)))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)


@needs(keras)
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_outputs_as_keras_with_copied_weights(name, keras_models):
    kmodel = keras_models[name]
    model = getattr(gn.applications, name)(weights=None, **CASES[name])
    assert model.count_params() == kmodel.count_params()
    named = [layer.name for layer in kmodel.layers if layer.weights]
    assert [layer.name for layer in model.layers if layer.weights] == named
    assert model.output_shape == kmodel.output_shape
    model.set_weights(kmodel.get_weights())
    x = _images(CASES[name]["input_shape"])
    _assert_close(model.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0)))


@pytest.mark.parametrize("name, kwargs, params, layers, output_shape", [  # Keras 3.15.1's
    ("ResNet50", dict(), 25636712, 177, (None, 1000)),
    ("ResNet50V2", dict(include_top=False, input_shape=(96, 80, 3), pooling="avg"), 23564800,
     191, (None, 2048)),
    ("VGG16", dict(include_top=True, input_shape=(64, 64, 3), classes=5), 39909189, 23,
     (None, 5)),
])
def test_parameter_counts_equal_keras(name, kwargs, params, layers, output_shape):
    ours = getattr(gn.applications, name)(weights=None, **kwargs)
    assert (ours.count_params(), len(ours.layers), ours.output_shape) == \
        (params, layers, output_shape)
    if compare_with(keras, f"{name}'s parameter count against Keras's, live"):
        theirs = getattr(keras.applications, name)(weights=None, **kwargs)
        assert ours.count_params() == theirs.count_params()
        assert len(ours.layers) == len(theirs.layers)
        assert ours.output_shape == theirs.output_shape


@needs(keras, h5py)
def test_keras_weights_files_load_by_keras_layout(keras_models, tmp_path):
    """Keras 3's .weights.h5 and Keras's application .h5 layout (layer_names at the top, as
    Keras's downloadable files) give the Keras model's outputs."""
    kmodel = keras_models["ResNet50"]
    x = _images(CASES["ResNet50"]["input_shape"])
    want = np.asarray(kmodel.predict(x, verbose=0))
    weights_file = str(tmp_path / "resnet50.weights.h5")
    kmodel.save_weights(weights_file)
    application_file = str(tmp_path / "resnet50_notop.h5")
    with h5py.File(application_file, "w") as f:
        keras.src.legacy.saving.legacy_h5_format.save_weights_to_hdf5_group(f, kmodel)
    for path in (weights_file, application_file):
        model = gn.applications.ResNet50(weights=path, **CASES["ResNet50"])
        _assert_close(model.predict(x, verbose=0), want)


@needs(h5py)
def test_imagenet_weights_come_through_the_cache(tmp_path, monkeypatch):
    """weights="imagenet" fetches Keras's file name (from the origin override, with its
    MD5 checked), then reuses the verified cached copy; a wrong checksum is refused."""
    shape = dict(include_top=False, input_shape=(32, 32, 3))
    source = gn.applications.ResNet50V2(weights=None, **shape)
    origin = tmp_path / "origin"
    origin.mkdir()
    file_name = "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    source.save_weights(str(origin / "source.weights.h5"))
    os.replace(origin / "source.weights.h5", origin / file_name)
    md5 = download.file_digest(str(origin / file_name))
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(imagenet_utils.ORIGIN_VARIABLE, str(origin))
    hashes = dict(gn.applications.resnet.WEIGHTS_HASHES)

    hashes["resnet50v2"] = (hashes["resnet50v2"][0], "0" * 32)
    monkeypatch.setattr(gn.applications.resnet, "WEIGHTS_HASHES", hashes)
    with pytest.raises(download.DatasetFileError, match="failed its checksum"):
        gn.applications.ResNet50V2(weights="imagenet", **shape)
    assert not os.listdir(tmp_path / "home" / "models")

    hashes["resnet50v2"] = (hashes["resnet50v2"][0], md5)
    x = _images(shape["input_shape"])
    model = gn.applications.ResNet50V2(weights="imagenet", **shape)
    np.testing.assert_array_equal(model.predict(x, verbose=0), source.predict(x, verbose=0))
    assert os.path.isfile(tmp_path / "home" / "models" / file_name)
    monkeypatch.setenv(imagenet_utils.ORIGIN_VARIABLE, str(tmp_path / "nowhere"))
    again = gn.applications.ResNet50V2(weights="imagenet", **shape)   # from the cache
    np.testing.assert_array_equal(again.predict(x, verbose=0), source.predict(x, verbose=0))


def test_imagenet_download_failure_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path))
    monkeypatch.setenv(imagenet_utils.ORIGIN_VARIABLE, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="vgg16_weights_tf_dim_ordering_tf_kernels_"
                                                "notop.h5 has no verified copy in the cache"):
        gn.applications.VGG16(weights="imagenet", include_top=False)


@pytest.mark.parametrize("pooling, shape", [(None, (None, 2, 2, 2048)), ("avg", (None, 2048)),
                                            ("max", (None, 2048))])
def test_pooling_modes(pooling, shape):
    model = gn.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3),
                                     pooling=pooling)
    assert model.output_shape == shape
    features = model.predict(_images((64, 64, 3)), verbose=0)
    assert features.shape == (2,) + shape[1:]
    if pooling == "max":
        assert model.layers[-1].name == "max_pool"
        base = gn.Model(model.input, model.layers[-2].output)
        np.testing.assert_allclose(features, base.predict(_images((64, 64, 3)), verbose=0)
                                   .max(axis=(1, 2)), rtol=1e-6)


def test_include_top_with_classes_and_logits():
    model = gn.applications.DenseNet121(weights=None, input_shape=(32, 32, 3), classes=4)
    probs = model.predict(_images((32, 32, 3)), verbose=0)
    assert probs.shape == (2, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    logits = gn.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=3,
                                   classifier_activation=None)
    assert logits.layers[-1].name == "predictions"
    assert logits.predict(_images((32, 32, 3)), verbose=0).min() < 0


def test_input_tensor_keeps_its_source_input():
    image = gn.Input(shape=(32, 32, 3), name="raw_image")
    scaled = gn.layers.Rescaling(1 / 255.0)(image)
    model = gn.applications.ResNet50(weights=None, include_top=False, input_tensor=scaled)
    assert model.inputs[0] is image
    assert model.output_shape == (None, 1, 1, 2048)
    with pytest.raises(ValueError, match="`input_tensor` must be a symbolic tensor"):
        gn.applications.ResNet50(weights=None, include_top=False,
                                 input_tensor=np.zeros((1, 32, 32, 3)))


def test_input_tensor_of_two_inputs_gives_both_in_keras_order():
    """Keras's get_source_inputs: every gn.Input the tensor comes from, depth first."""
    first, second = gn.Input(shape=(32, 32, 3), name="first"), gn.Input(shape=(32, 32, 3),
                                                                         name="second")
    mixed = gn.layers.Add()([first, gn.layers.Rescaling(0.5)(second)])
    model = gn.applications.DenseNet121(weights=None, include_top=False, input_tensor=mixed)
    assert model.inputs == [first, second]
    x = _images((32, 32, 3))
    single = gn.applications.DenseNet121(weights=None, include_top=False,
                                         input_shape=(32, 32, 3))
    single.set_weights(model.get_weights())   # x + 0.5 * (2 x): the single model on 2 x
    np.testing.assert_allclose(model.predict([x, 2 * x], verbose=0),
                               single.predict(2 * x, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights="no/such/file.h5"), "The `weights` argument should be either"),
    (dict(weights="imagenet", classes=10), "`classes` should be 1000"),
    (dict(weights="imagenet", input_shape=(64, 64, 3)), r"`input_shape` should be \(224, "),
    (dict(weights=None, include_top=False, input_shape=(31, 64, 3)), "at least 32x32"),
    (dict(weights=None, include_top=False, input_shape=(64, 64)), "tuple of three integers"),
    (dict(weights="imagenet", include_top=False, input_shape=(64, 64, 1)),
     "must have 3 channels"),
    (dict(weights=None, input_shape=(None, None, 3)), "specify a static `input_shape`"),
    (dict(weights=None, include_top=False, pooling="average"), "`pooling` must be one of"),
    (dict(weights=None, classes=0), "`classes` must be a positive integer"),
    (dict(weights=None, include_top=1), "`include_top` must be True or False"),
])
@pytest.mark.parametrize("name", ["ResNet50", "VGG16", "DenseNet121"])
def test_bad_arguments_raise_keras_errors(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(gn.applications, name)(**kwargs)


def test_pretrained_weights_take_softmax_or_no_activation_only():
    with pytest.raises(ValueError, match="Only `None` and `softmax` activations are allowed"):
        gn.applications.ResNet50(weights="imagenet", classifier_activation="relu")


def test_pooling_with_the_top_warns_it_is_not_used():
    with pytest.warns(UserWarning, match="applies only when include_top=False"):
        gn.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=2, pooling="max")


def test_densenet_refuses_channels_first(monkeypatch):
    monkeypatch.setattr(gn.backend, "image_data_format", lambda: "channels_first")
    with pytest.raises(ValueError, match="DenseNet does not support the `channels_first`"):
        gn.applications.DenseNet121(weights=None)


@needs(keras)
@pytest.mark.parametrize("module, shape, data_format", [
    ("resnet", (2, 5, 4, 3), "channels_last"), ("resnet", (3, 4, 5), "channels_first"),
    ("vgg16", (2, 3, 4, 5), "channels_first"), ("resnet_v2", (4, 5, 3), "channels_last"),
    ("densenet", (2, 4, 4, 3), "channels_last"), ("densenet", (2, 3, 4, 4), "channels_first"),
])
def test_preprocess_input_as_keras(module, shape, data_format):
    pixels = np.random.default_rng(3).integers(0, 256, shape)
    ours = getattr(gn.applications, module).preprocess_input
    theirs = getattr(keras.applications, module).preprocess_input
    want = theirs(pixels.astype("float32"), data_format=data_format)
    np.testing.assert_allclose(ours(pixels, data_format=data_format), want, rtol=1e-6,
                               atol=1e-5)
    ours_in_place, theirs_in_place = pixels.astype("float32"), pixels.astype("float32")
    ours(ours_in_place, data_format=data_format)   # float input is written over, as Keras's
    theirs(theirs_in_place, data_format=data_format)
    np.testing.assert_allclose(ours_in_place, theirs_in_place, rtol=1e-6, atol=1e-5)
    assert not np.array_equal(ours_in_place, pixels)
    if len(shape) == 4:   # the symbolic path: compiled into a model
        image = gn.Input(shape=shape[1:])
        model = gn.Model(image, ours(image, data_format=data_format))
        np.testing.assert_allclose(model.predict(pixels.astype("float32"), verbose=0), want,
                                   rtol=1e-5, atol=1e-4)
        image = gn.Input(shape=shape[1:], dtype="uint8")   # integer pixels become float32
        model = gn.Model(image, ours(image, data_format=data_format))
        np.testing.assert_allclose(model.predict(pixels.astype("uint8"), verbose=0), want,
                                   rtol=1e-5, atol=1e-4)


def test_preprocess_input_errors():
    with pytest.raises(ValueError, match="Expected mode to be one of"):
        imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), mode="keras")
    with pytest.raises(ValueError, match="Expected data_format to be one of"):
        imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), data_format="nhwc")


def test_decode_predictions_reads_the_class_index_through_the_cache(tmp_path, monkeypatch):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    models = tmp_path / "models"
    models.mkdir()
    path = models / imagenet_utils.CLASS_INDEX_FILE
    path.write_text(json.dumps(index))
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path))
    monkeypatch.setenv(imagenet_utils.ORIGIN_VARIABLE, str(tmp_path / "nowhere"))
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_MD5", download.file_digest(str(path)))
    monkeypatch.setattr(imagenet_utils, "_class_index", None)
    preds = np.zeros((2, 1000), "float32")
    preds[0, [7, 3, 900]] = [0.5, 0.3, 0.2]
    preds[1, 42] = 1.0
    decoded = gn.applications.resnet.decode_predictions(preds, top=3)
    assert [entry[:2] for entry in decoded[0]] == [("n00000007", "class_7"),
                                                   ("n00000003", "class_3"),
                                                   ("n00000900", "class_900")]
    assert decoded[1][0] == ("n00000042", "class_42", 1.0)
    with pytest.raises(ValueError, match=r"shape \(samples, 1000\)"):
        imagenet_utils.decode_predictions(np.zeros((2, 10)))


@needs(onnxruntime)
def test_resnet50_onnx_export_runs_in_onnx_runtime(tmp_path):
    model = gn.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=6,
                                     classifier_activation=None)
    path = str(tmp_path / "resnet50.onnx")
    gn.export.to_onnx(model, path, batch_size=2)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = _images((32, 32, 3))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    _assert_close(got, model.predict(x, verbose=0))
