"""gn.applications' MobileNetV2, MobileNetV3 and EfficientNet against Keras 3's: the same
parameters, layer names and outputs on the same weights (set_weights, Keras's
.weights.h5 and the legacy .h5 layout of Keras's ImageNet files), "imagenet" weights
through the download cache (pre-filled, or file:// with a checked hash), pooling modes,
preprocessing, and bad arguments."""
import os

import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, h5py, keras, needs, onnx, onnxruntime
from graphnet.applications import efficientnet, imagenet_utils, mobilenet_v2, mobilenet_v3
from graphnet.datasets.download import DatasetFileError, file_digest

APPLICATIONS = {"MobileNetV2": mobilenet_v2.MobileNetV2,
                "MobileNetV3Small": mobilenet_v3.MobileNetV3Small,
                "MobileNetV3Large": mobilenet_v3.MobileNetV3Large,
                "EfficientNetB0": efficientnet.EfficientNetB0,
                "EfficientNetB1": efficientnet.EfficientNetB1}


def randomized(keras_model, seed=0):
    """Keras's model with random weights of sensible scale (BatchNormalization's moving
    statistics and scales included, so no layer is an identity)."""
    rng = np.random.RandomState(seed)
    values = []
    for v in keras_model.weights:
        shape, name = tuple(v.shape), v.path.split("/")[-1]
        if name in ("gamma", "moving_variance", "variance"):
            a = rng.uniform(0.5, 1.5, shape)
        elif name in ("beta", "moving_mean", "bias", "mean"):
            a = rng.normal(0, 0.1, shape)
        elif name == "count":
            a = np.zeros(shape)
        else:
            fan_in = np.prod(shape[:2]) if name == "depthwise_kernel" else np.prod(shape[:-1])
            a = rng.normal(0, 1.5 / np.sqrt(fan_in), shape)
        values.append(a.astype(v.dtype))
    keras_model.set_weights(values)
    return keras_model


def keras_application(application, **kwargs):
    """Keras's model, its automatic layer names counted afresh (as graphnet's are)."""
    keras.backend.clear_session()
    return getattr(keras.applications, application)(**kwargs)


def images(shape, batch=2, seed=0):
    return (np.random.RandomState(seed).rand(batch, *shape) * 255).astype("float32")


def assert_close(ours, theirs, rtol=1e-4):
    """Within ``rtol`` of the largest magnitude of Keras's output."""
    assert ours.shape == theirs.shape
    scale = np.abs(theirs).max()
    assert scale > 0
    np.testing.assert_allclose(ours, theirs, atol=rtol * scale, rtol=0)


def save_legacy_h5(keras_model, path):
    """Keras's model weights in the layout of its ImageNet files (Keras 2's .h5)."""
    with h5py.File(path, "w") as f:
        keras.src.legacy.saving.legacy_h5_format.save_weights_to_hdf5_group(f, keras_model)


SAME_AS_KERAS = [
    ("MobileNetV2", dict(input_shape=(32, 32, 3), classes=10, classifier_activation=None)),
    ("MobileNetV2", dict(input_shape=(64, 48, 3), alpha=0.35, include_top=False,
                         pooling="avg")),
    ("MobileNetV3Small", dict(input_shape=(32, 32, 3), classes=10)),
    ("MobileNetV3Small", dict(input_shape=(40, 33, 3), alpha=0.75, minimalistic=True,
                              include_top=False, pooling="max")),
    ("MobileNetV3Large", dict(input_shape=(32, 32, 3), include_top=False,
                              include_preprocessing=False)),
    ("EfficientNetB0", dict(input_shape=(35, 33, 3), classes=10)),
]


@needs(keras)
@pytest.mark.parametrize("application, kwargs", SAME_AS_KERAS,
                         ids=[f"{a}-{i}" for i, (a, _) in enumerate(SAME_AS_KERAS)])
def test_same_model_and_outputs_as_keras(application, kwargs):
    km = randomized(keras_application(application, weights=None, **kwargs))
    gm = APPLICATIONS[application](weights=None, **kwargs)
    assert gm.name == km.name
    assert gm.count_params() == km.count_params()
    assert [layer.name for layer in gm.layers] == [layer.name for layer in km.layers]
    assert [w.shape for w in gm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    gm.set_weights(km.get_weights())
    x = images(kwargs["input_shape"])
    if kwargs.get("include_preprocessing") is False:
        x = x / 127.5 - 1
    assert_close(gm.predict(x, verbose=0), km.predict(x, verbose=0))


@pytest.mark.parametrize("application, kwargs, params, layers", [   # Keras 3.15.1's
    ("MobileNetV2", dict(input_shape=(96, 96, 3), alpha=0.5), 1987224, 156),
    ("MobileNetV2", dict(input_shape=(128, 128, 3), alpha=1.3, include_top=False), 3766048,
     154),
    ("MobileNetV3Small", dict(input_shape=(48, 48, 3), alpha=1.25), 3660640, 164),
    ("MobileNetV3Large", dict(input_shape=(32, 32, 3), alpha=0.75, minimalistic=True),
     3069400, 146),
    ("EfficientNetB1", dict(input_shape=(64, 64, 3), include_top=False), 6575239, 339),
])
def test_parameter_counts_match_keras(application, kwargs, params, layers):
    gm = APPLICATIONS[application](weights=None, **kwargs)
    assert (gm.count_params(), len(gm.layers)) == (params, layers)
    if compare_with(keras, f"{application}'s parameter count against Keras's, live"):
        km = keras_application(application, weights=None, **kwargs)
        assert gm.count_params() == km.count_params()
        assert len(gm.layers) == len(km.layers)


@needs(keras)
def test_channels_first_same_as_keras():
    gn.config.set_image_data_format("channels_first")
    keras.config.set_image_data_format("channels_first")
    try:
        kwargs = dict(input_shape=(3, 32, 40), classes=10)
        km = randomized(keras_application("MobileNetV3Small", weights=None, **kwargs))
        gm = mobilenet_v3.MobileNetV3Small(weights=None, **kwargs)
        gm.set_weights(km.get_weights())
        x = images(kwargs["input_shape"])
        assert_close(gm.predict(x, verbose=0), km.predict(x, verbose=0))
    finally:
        gn.config.set_image_data_format("channels_last")
        keras.config.set_image_data_format("channels_last")


@needs(keras, h5py)
def test_keras_weight_files_load(tmp_path):
    """Keras's .weights.h5 through load_weights, and the legacy .h5 layout of its ImageNet
    files through the ``weights`` argument."""
    kwargs = dict(input_shape=(32, 32, 3), classes=5)
    km = randomized(keras_application("MobileNetV3Small", weights=None, **kwargs))
    x = images(kwargs["input_shape"])
    want = km.predict(x, verbose=0)
    km.save_weights(tmp_path / "small.weights.h5")
    gm = mobilenet_v3.MobileNetV3Small(weights=None, **kwargs)
    gm.load_weights(tmp_path / "small.weights.h5")
    assert_close(gm.predict(x, verbose=0), want)

    save_legacy_h5(km, tmp_path / "small.h5")
    gm = mobilenet_v3.MobileNetV3Small(weights=str(tmp_path / "small.h5"), **kwargs)
    assert_close(gm.predict(x, verbose=0), want)


@needs(keras, h5py)
def test_imagenet_weights_from_a_filled_cache(tmp_path, monkeypatch):
    """MobileNetV2's ImageNet files have no published hash: a cached file is used as it is
    (and no download is tried: the origin is unreachable)."""
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path))
    monkeypatch.setattr(mobilenet_v2, "BASE_WEIGHT_PATH", (tmp_path / "nowhere").as_uri() + "/")
    kwargs = dict(input_shape=(96, 96, 3), alpha=0.35, include_top=False)
    km = randomized(keras_application("MobileNetV2", weights=None, **kwargs))
    os.makedirs(tmp_path / "models")
    save_legacy_h5(km, tmp_path / "models" /
                   "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5")
    gm = mobilenet_v2.MobileNetV2(weights="imagenet", **kwargs)
    x = mobilenet_v2.preprocess_input(images(kwargs["input_shape"]))
    assert_close(gm.predict(x, verbose=0), km.predict(x, verbose=0))


@needs(keras, h5py)
def test_imagenet_weights_downloaded_and_verified(tmp_path, monkeypatch):
    """EfficientNetB0's ImageNet file from a file:// origin, checked against its MD5, the
    same model as Keras's on that file (with the extra ImageNet Rescaling); a file failing
    its hash is refused and leaves nothing in the cache."""
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path / "home"))
    kwargs = dict(input_shape=(32, 32, 3), include_top=False, pooling="avg")
    server = tmp_path / "server"
    os.makedirs(server)
    served = server / "efficientnetb0_notop.h5"
    save_legacy_h5(randomized(keras_application("EfficientNetB0", weights=None,
                                                **kwargs)), served)
    monkeypatch.setattr(efficientnet, "BASE_WEIGHTS_PATH", server.as_uri() + "/")
    monkeypatch.setitem(efficientnet.WEIGHTS_HASHES, "b0", ("unused", file_digest(served)))
    gm = efficientnet.EfficientNetB0(weights="imagenet", **kwargs)
    assert (tmp_path / "home" / "models" / "efficientnetb0_notop.h5").is_file()

    monkeypatch.setattr(keras.src.applications.efficientnet.file_utils, "get_file",
                        lambda *args, **kw: str(served))
    km = keras_application("EfficientNetB0", weights="imagenet", **kwargs)
    assert [layer.name for layer in gm.layers] == [layer.name for layer in km.layers]
    x = images(kwargs["input_shape"])
    assert_close(gm.predict(x, verbose=0), km.predict(x, verbose=0))

    os.remove(tmp_path / "home" / "models" / "efficientnetb0_notop.h5")
    monkeypatch.setitem(efficientnet.WEIGHTS_HASHES, "b0", ("unused", "0" * 32))
    with pytest.raises(DatasetFileError, match="efficientnetb0_notop.h5.*checksum"):
        efficientnet.EfficientNetB0(weights="imagenet", **kwargs)
    assert os.listdir(tmp_path / "home" / "models") == []


@pytest.mark.parametrize("application, kwargs", [
    ("MobileNetV2", dict(input_shape=(32, 40, 3), alpha=0.35)),
    ("MobileNetV3Small", dict(input_shape=(33, 32, 3), minimalistic=True)),
    ("EfficientNetB0", dict(input_shape=(32, 32, 3))),
])
def test_pooling_modes(application, kwargs):
    build = APPLICATIONS[application]
    x = images(kwargs["input_shape"])
    features = build(weights=None, include_top=False, **kwargs)
    weights = features.get_weights()
    maps = features.predict(x, verbose=0)
    assert maps.ndim == 4 and maps.shape[0] == 2
    for pooling, reduce in (("avg", np.mean), ("max", np.max)):
        pooled = build(weights=None, include_top=False, pooling=pooling, **kwargs)
        pooled.set_weights(weights)
        out = pooled.predict(x, verbose=0)
        assert out.shape == (2, maps.shape[-1])
        np.testing.assert_allclose(out, reduce(maps, axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_input_tensor_and_classifier_activation():
    """A model built on a layer's output takes that layer's source input; the top's
    activation is the one asked for."""
    inputs = gn.Input((32, 32, 3))
    scaled = gn.layers.Rescaling(2.0)(inputs)
    model = mobilenet_v3.MobileNetV3Small(weights=None, input_tensor=scaled, classes=3,
                                          classifier_activation=None)
    assert model.inputs[0] is inputs
    logits = model.predict(images((32, 32, 3)) / 2, verbose=0)
    assert logits.shape == (2, 3)
    softmax = mobilenet_v3.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classes=3)
    softmax.set_weights(model.get_weights())
    probs = softmax.predict(images((32, 32, 3)), verbose=0)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)


BAD_ARGUMENTS = [
    (mobilenet_v2.MobileNetV2, dict(weights="no/such/file.h5"), "`weights` argument"),
    (mobilenet_v2.MobileNetV2, dict(weights="imagenet", classes=10), "`classes` should be 1000"),
    (mobilenet_v2.MobileNetV2, dict(weights="imagenet", alpha=0.6), "alpha must be one of"),
    (mobilenet_v2.MobileNetV2, dict(weights=None, alpha=-1), "`alpha` must be a positive"),
    (mobilenet_v2.MobileNetV2, dict(weights=None, input_shape=(31, 64, 3),
                                    include_top=False), "at least 32x32"),
    (mobilenet_v2.MobileNetV2, dict(weights=None, input_shape=(None, None, 3)),
     "static `input_shape`"),
    (mobilenet_v2.MobileNetV2, dict(weights=None, include_top=False, pooling="sum"),
     r"`pooling` must be one of \(None, 'avg', 'max'\), got pooling='sum'"),
    (mobilenet_v2.MobileNetV2, dict(weights=None, classes=0), "`classes` must be a positive"),
    (mobilenet_v2.MobileNetV2, dict(weights=None, include_top="yes"), "`include_top` must"),
    (mobilenet_v2.MobileNetV2, dict(weights=None, input_tensor=np.zeros((1, 32, 32, 3))),
     "`input_tensor` must be a symbolic tensor"),
    (mobilenet_v2.MobileNetV2, lambda: dict(weights=None, input_shape=(32, 32, 3),
                                            input_tensor=gn.Input((32, 40, 3))),
     r"input_tensor.shape\[2\]"),
    (mobilenet_v3.MobileNetV3Small, dict(weights="imagenet", alpha=0.5), "alpha can be one"),
    (mobilenet_v3.MobileNetV3Small, dict(weights="imagenet", minimalistic=True, alpha=0.75),
     "alpha can be one"),
    (mobilenet_v3.MobileNetV3Small, dict(weights=None, input_shape=(32, 16, 3)),
     "at least 32x32"),
    (mobilenet_v3.MobileNetV3Small, dict(weights=None, dropout_rate=1.5),
     r"`dropout_rate` must be in \[0, 1\)"),
    (mobilenet_v3.MobileNetV3Large, dict(weights="imagenet", classifier_activation="relu"),
     "Only `None` and `softmax`"),
    (efficientnet.EfficientNetB0, dict(weights="imagenet", input_shape=(64, 64, 3)),
     r"`input_shape` should be \(224, 224, 3\)"),
    (efficientnet.EfficientNetB0, dict(weights=None, input_shape=(64, 64)),
     "tuple of three integers"),
    (efficientnet.EfficientNetB0, dict(weights=None, include_top=False,
                                       input_shape=(64, 64, 3), pooling="mean"),
     "`pooling` must be one of"),
]


@pytest.mark.parametrize("build, kwargs, match", BAD_ARGUMENTS,
                         ids=[f"{b.__name__}-{i}" for i, (b, _, _) in enumerate(BAD_ARGUMENTS)])
def test_bad_arguments(build, kwargs, match):
    """``kwargs``: the arguments, or a function making them (for symbolic tensors)."""
    with pytest.raises(ValueError, match=match):
        build(**(kwargs() if callable(kwargs) else kwargs))


def test_bad_efficientnet_rates():
    with pytest.raises(ValueError, match=r"efficientnetb0: `drop_connect_rate` must be in"):
        efficientnet.EfficientNet(1.0, 1.0, 224, drop_connect_rate=-0.1, name="efficientnetb0",
                                  weights=None)
    with pytest.raises(ValueError, match="`weights_name` must name"):
        efficientnet.EfficientNet(1.0, 1.0, 224, weights="imagenet", weights_name="b9")


def test_pooling_under_the_top_warns():
    with pytest.warns(UserWarning, match="applies only when include_top=False"):
        mobilenet_v3.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), pooling="avg")


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input(mode, data_format):
    """The NumPy and symbolic paths agree with each other and with Keras's."""
    shape = (4, 5, 3) if data_format == "channels_last" else (3, 4, 5)
    x = images(shape)
    got = imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
    if compare_with(keras, "preprocess_input against Keras's"):
        keras_utils = keras.src.applications.imagenet_utils
        np.testing.assert_allclose(got, keras_utils.preprocess_input(
            x.copy(), data_format=data_format, mode=mode), rtol=1e-6)
    inputs = gn.Input(shape)
    model = gn.Model(inputs, imagenet_utils.preprocess_input(inputs, data_format=data_format,
                                                             mode=mode))
    np.testing.assert_allclose(model.predict(x, verbose=0), got, rtol=1e-5, atol=1e-5)
    if mode == "tf":
        np.testing.assert_allclose(mobilenet_v2.preprocess_input(x.copy(), data_format), got)
    with pytest.raises(ValueError, match="Expected mode to be one of"):
        imagenet_utils.preprocess_input(x, mode="keras")
    with pytest.raises(ValueError, match="Expected data_format"):
        imagenet_utils.preprocess_input(x, data_format="nhwc")


def test_preprocessing_inside_the_model():
    x = images((8, 8, 3))
    for module in (mobilenet_v3, efficientnet):
        assert module.preprocess_input(x) is x
        with pytest.raises(ValueError, match="data_format"):
            module.preprocess_input(x, data_format="nhwc")


def test_decode_predictions(monkeypatch):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    monkeypatch.setattr(imagenet_utils, "_class_index", index)
    preds = np.random.RandomState(0).rand(2, 1000).astype("float32")
    decoded = mobilenet_v2.decode_predictions(preds, top=3)
    for row, out in zip(preds, decoded):
        best = np.argsort(row)[::-1][:3]
        assert [name for _, name, _ in out] == [f"class_{i}" for i in best]
        np.testing.assert_array_equal([score for _, _, score in out], row[best])
    if compare_with(keras, "decode_predictions against Keras's"):
        keras_utils = keras.src.applications.imagenet_utils
        monkeypatch.setattr(keras_utils, "CLASS_INDEX", index)
        assert decoded == keras_utils.decode_predictions(preds, top=3)
    with pytest.raises(ValueError, match=r"shape \(samples, 1000\).*\(2, 10\)"):
        efficientnet.decode_predictions(preds[:, :10])


def test_fetch_keras_file_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path / "home"))
    server = tmp_path / "server"
    os.makedirs(server)
    (server / "w.bin").write_bytes(b"weights")
    (server / "sha.bin").write_bytes(b"weights")
    digest = file_digest(server / "w.bin")
    origin = server.as_uri()
    cached = tmp_path / "home" / "models" / "w.bin"
    fetch = imagenet_utils.fetch_keras_file
    assert fetch("w.bin", origin, digest) == str(cached)
    assert cached.read_bytes() == b"weights"
    nowhere = (tmp_path / "nowhere").as_uri()
    assert fetch("w.bin", nowhere, digest) == str(cached)
    cached.write_bytes(b"truncated")          # a bad cached copy is fetched again
    assert fetch("w.bin", origin, digest) == str(cached)
    assert cached.read_bytes() == b"weights"
    cached.write_bytes(b"no hash published")  # without a hash the cached copy is used
    assert fetch("w.bin", nowhere, None) == str(cached)
    with pytest.raises(FileNotFoundError, match="other.bin has no verified copy in the cache .* failed"):
        fetch("other.bin", nowhere, None)
    sha = "1" * 64
    with pytest.raises(DatasetFileError, match="SHA256 .* expected 1111"):
        fetch("sha.bin", origin, sha)
    assert not (tmp_path / "home" / "models" / "sha.bin").exists()


@needs(keras)
def test_trains_like_keras():
    """Training steps (BatchNormalization on batch statistics, the SE blocks' gates and
    hard-swish's op nodes included) move the weights as Keras's do."""
    from extras import train_alike
    kwargs = dict(input_shape=(32, 32, 3), classes=4, dropout_rate=0.0,
                  classifier_activation=None)
    km = randomized(keras_application("MobileNetV3Small", weights=None, **kwargs))
    gm = mobilenet_v3.MobileNetV3Small(weights=None, **kwargs)
    gm.set_weights(km.get_weights())
    x = images(kwargs["input_shape"], batch=4)
    y = np.random.RandomState(1).rand(4, 4).astype("float32")
    # batch statistics over 4 images through 50-odd BatchNormalizations amplify float32
    # rounding: one weight in 7,200 once differed by 1.004e-4 (0.2%), so 3e-4
    train_alike(gm, km, x, y, optimizer_args={"learning_rate": 0.01}, steps=2, atol=3e-4)


@needs(onnx, onnxruntime)
def test_onnx_export_runs_alike():
    model = efficientnet.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=10)
    x = images((32, 32, 3))
    from graphnet.export.onnx_export import to_onnx
    proto = to_onnx(model, batch_size=2)
    session = onnxruntime.InferenceSession(proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert_close(got, model.predict(x, verbose=0))
