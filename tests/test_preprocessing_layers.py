"""Rescaling, Normalization, Resizing, CenterCrop and the random image layers (RandomFlip,
RandomContrast, RandomBrightness, RandomCrop) against Keras 3 (torch backend) where Keras
is deterministic, and by their defining properties where it draws random numbers."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, torch

ATOL = 1e-5
RNG = np.random.default_rng(11)
IMAGES = RNG.uniform(0, 255, size=(3, 9, 7, 2)).astype("float32")


def _close(ours, theirs, scale=1.0):
    np.testing.assert_allclose(ours, np.asarray(theirs), atol=ATOL * scale, rtol=1e-6)


# ---- Rescaling, Normalization ------------------------------------------------------------

def test_rescaling_matches_keras_for_ints_floats_and_per_channel_scales():
    pixels = IMAGES.astype("uint8")
    out = gn.layers.Rescaling(1 / 127.5, offset=-1)(pixels)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, pixels / 127.5 - 1, atol=1e-6)
    per_channel = gn.layers.Rescaling([0.5, 2.0], offset=[1.0, -1.0])(IMAGES)
    np.testing.assert_allclose(per_channel, IMAGES * [0.5, 2.0] + [1.0, -1.0], rtol=1e-6)
    if compare_with(keras, "keras.layers.Rescaling"):
        _close(out, keras.layers.Rescaling(1 / 127.5, offset=-1)(pixels))
    clone = gn.layers.Rescaling.from_config(gn.layers.Rescaling([0.5, 2.0]).get_config())
    assert clone.scale == [0.5, 2.0] and clone.offset == 0.0
    with pytest.raises(ValueError, match=r"`scale` must be a number.*got scale='x'"):
        gn.layers.Rescaling("x")


@pytest.mark.parametrize("axis", [-1, (1, 2), None, 1])
def test_normalization_adapt_matches_keras(axis):
    x = RNG.normal(3, 2, size=(40, 4, 3)).astype("float32")
    ours = gn.layers.Normalization(axis=axis)
    ours.adapt(x)
    out = ours(x)
    kept = () if axis is None else (axis,) if isinstance(axis, int) else axis
    reduce = tuple(d for d in range(3) if d not in [k % 3 for k in kept])
    np.testing.assert_allclose(out, (x - x.mean(reduce, keepdims=True)) /
                               x.std(reduce, keepdims=True), atol=1e-5)
    if compare_with(keras, "keras.layers.Normalization.adapt"):
        theirs = keras.layers.Normalization(axis=axis)
        theirs.adapt(x)
        _close(out, theirs(x))
        for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)


def test_normalization_adapts_from_batches_and_a_py_dataset_as_from_one_array():
    x = RNG.normal(-1, 3, size=(50, 3)).astype("float32")
    whole = gn.layers.Normalization()
    whole.adapt(x)

    class Batches(gn.utils.PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return x[i * 10:(i + 1) * 10], np.zeros(10)

    for data in ([x[:17], x[17:]], (b for b in (x[:30], x[30:])), Batches()):
        layer = gn.layers.Normalization()
        layer.adapt(data)
        for a, b in zip(layer.get_weights(), whole.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_normalization_given_statistics_invert_and_a_model_that_sees_a_new_adapt(tmp_path):
    x = RNG.normal(size=(6, 3)).astype("float32")
    given = gn.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0])
    back = gn.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0],
                                   invert=True)
    np.testing.assert_allclose(given(x), (x - [1, 2, 3]) / [1, 2, 3], rtol=1e-6)
    np.testing.assert_allclose(back(given(x)), x, atol=1e-6)
    if compare_with(keras, "keras Normalization with given statistics"):
        _close(back(x), keras.layers.Normalization(mean=[1.0, 2.0, 3.0],
                                                   variance=[1.0, 4.0, 9.0], invert=True)(x))
    i = gn.Input((3,))
    layer = gn.layers.Normalization()
    model = gn.Model(i, layer(i))
    np.testing.assert_allclose(model.predict(x, verbose=0), x, atol=1e-6)  # not adapted: identity
    layer.adapt(x * 2 + 5)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               (x - (x * 2 + 5).mean(0)) / (x * 2 + 5).std(0), atol=1e-5)
    model.save(str(tmp_path / "norm.graphnet"))
    loaded = gn.models.load_model(str(tmp_path / "norm.graphnet"))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_normalization_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"set both `mean` and `variance`"):
        gn.layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match=r"one shape, got \(2,\) and \(3,\)"):
        gn.layers.Normalization(mean=[0, 0], variance=[1, 1, 1])
    with pytest.raises(ValueError, match=r"adapt\(\) got no data"):
        gn.layers.Normalization().adapt([])
    layer = gn.layers.Normalization()
    layer.adapt(np.ones((4, 3), "float32"))
    with pytest.raises(ValueError, match=r"batch of shape \(4, 5\), not compatible"):
        layer.adapt(np.ones((4, 5), "float32"))
    with pytest.raises(ValueError, match=r"every axis must be in \[-2, 2\)"):
        gn.layers.Normalization(axis=3).adapt(np.ones((4, 3), "float32"))


# ---- Resizing, CenterCrop ------------------------------------------------------------------

@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("options", [{}, {"crop_to_aspect_ratio": True},
                                     {"pad_to_aspect_ratio": True, "fill_value": 3.0},
                                     {"antialias": True}])
@pytest.mark.parametrize("size", [(5, 6), (13, 4)])
def test_resizing_matches_keras(interpolation, options, size):
    ours = gn.layers.Resizing(*size, interpolation=interpolation, **options)(IMAGES)
    assert ours.shape == (3,) + size + (2,)
    if compare_with(keras, "keras.layers.Resizing"):
        theirs = keras.layers.Resizing(*size, interpolation=interpolation, **options)(IMAGES)
        _close(ours, theirs, scale=255)


@needs(torch)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("sizes", [(7, 3), (5, 11), (1, 4), (4, 1), (224, 299), (299, 224)])
def test_the_interpolation_matrices_equal_torch(interpolation, antialias, sizes):
    """Each axis's weights as torch.nn.functional.interpolate computes them."""
    from graphnet.layers.interpolation import resize_matrix
    n_in, n_out = sizes
    x = RNG.normal(size=(n_in,)).astype("float32")
    mode = "nearest-exact" if interpolation == "nearest" else interpolation
    kwargs = {} if interpolation == "nearest" else {"align_corners": False,
                                                   "antialias": antialias}
    grid = torch.tensor(np.repeat(x[:, None], 2, axis=1)[None, None])
    theirs = torch.nn.functional.interpolate(grid, size=(n_out, 2), mode=mode,
                                             **kwargs)[0, 0, :, 0].numpy()
    np.testing.assert_allclose(resize_matrix(n_in, n_out, interpolation, antialias) @ x,
                               theirs, atol=2e-5)   # torch sums the taps in float32


def test_resizing_integer_images_channels_first_and_one_image():
    pixels = IMAGES.astype("uint8")
    out = gn.layers.Resizing(4, 5)(pixels)
    assert out.dtype == np.uint8
    first = gn.layers.Resizing(4, 5, data_format="channels_first")(
        np.ascontiguousarray(IMAGES.transpose(0, 3, 1, 2)))
    last = gn.layers.Resizing(4, 5)(IMAGES)
    np.testing.assert_allclose(first.transpose(0, 2, 3, 1), last, atol=1e-3)
    np.testing.assert_allclose(gn.layers.Resizing(4, 5)(IMAGES[0]), last[0], atol=1e-3)
    if compare_with(keras, "keras Resizing of uint8 images"):
        theirs = np.asarray(keras.layers.Resizing(4, 5)(pixels))
        assert theirs.dtype == np.uint8 and np.abs(out.astype(int) - theirs).max() <= 1


@pytest.mark.parametrize("size", [(4, 4), (9, 3), (12, 12), (5, 10)])
def test_center_crop_matches_keras(size):
    ours = gn.layers.CenterCrop(*size)(IMAGES)
    assert ours.shape == (3,) + size + (2,)
    if size[0] <= 9 and size[1] <= 7:
        top, left = (9 - size[0]) // 2, (7 - size[1]) // 2
        np.testing.assert_array_equal(ours, IMAGES[:, top:top + size[0], left:left + size[1]])
    if compare_with(keras, "keras.layers.CenterCrop"):
        _close(ours, keras.layers.CenterCrop(*size)(IMAGES), scale=255)


def test_resizing_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"interpolation must be one of .* got 'cubic'"):
        gn.layers.Resizing(4, 4, interpolation="cubic")
    with pytest.raises(ValueError, match=r"only one of crop_to_aspect_ratio"):
        gn.layers.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match=r"`height` must be a positive integer, got "
                                         r"height=0"):
        gn.layers.CenterCrop(0, 4)
    with pytest.raises(ValueError, match=r"rank 3 \(one image\) or 4 .* got input shape "
                                         r"\(None, 5\)"):
        gn.layers.Resizing(2, 2)(gn.Input((5,)))
    with pytest.raises(ValueError, match=r"fill_mode must be 'constant'"):
        gn.layers.Resizing(4, 4, fill_mode="reflect")


# ---- random image layers -----------------------------------------------------------------

def _model(layer, shape=(9, 7, 2)):
    i = gn.Input(shape)
    return gn.Model(i, layer(i))


def _training_run(model, x):
    return gn.function(model.inputs, model.outputs, training=True)(x)[0]


@pytest.mark.parametrize("layer", [
    lambda: gn.layers.RandomFlip(seed=1), lambda: gn.layers.RandomContrast(0.5, seed=1),
    lambda: gn.layers.RandomBrightness(0.3, seed=1)])
def test_random_layers_are_the_identity_at_inference(layer):
    model = _model(layer())
    np.testing.assert_array_equal(model.predict(IMAGES, verbose=0), IMAGES)


@needs(keras)
def test_random_flip_predict_is_the_identity_as_in_keras():
    """Keras 3's predict runs RandomFlip with training=False (its images only cast to
    float32); graphnet's predict plan has no draw at all."""
    theirs = keras.Model(k := keras.Input((9, 7, 2)), keras.layers.RandomFlip(seed=1)(k))
    ours = _model(gn.layers.RandomFlip(seed=1))
    pixels = IMAGES.astype("uint8")
    for x in (IMAGES, pixels):
        want = theirs.predict(x, verbose=0)
        got = ours.predict(x, verbose=0)
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, x.astype("float32"))


@pytest.mark.parametrize("mode, flips", [
    ("horizontal", lambda x: x[:, ::-1]), ("vertical", lambda x: x[::-1]),
    ("horizontal_and_vertical", lambda x: x[::-1, ::-1])])
def test_random_flip_flips_each_image_or_leaves_it(mode, flips):
    x = RNG.uniform(size=(64, 5, 4, 1)).astype("float32")
    model = _model(gn.layers.RandomFlip(mode, seed=3), (5, 4, 1))
    runs = [_training_run(model, x) for _ in range(2)]
    for out in runs:
        flipped = [np.array_equal(o, flips(s)) for o, s in zip(out, x)]
        kept = [np.array_equal(o, s) for o, s in zip(out, x)]
        assert all(f != k for f, k in zip(flipped, kept))        # exactly one of the two
        assert 16 < sum(flipped) < 48                            # about half of 64
    assert not np.array_equal(runs[0], runs[1])                  # new draws every run
    eager = gn.layers.RandomFlip(mode, seed=3)(x)                # training by default
    assert not np.array_equal(eager, x)


def test_seeded_layers_repeat_their_draws():
    a = gn.layers.RandomContrast(0.4, seed=7)(IMAGES)
    b = gn.layers.RandomContrast(0.4, seed=7)(IMAGES)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, gn.layers.RandomContrast(0.4, seed=8)(IMAGES))


def test_random_contrast_scales_around_each_images_channel_means():
    factor = (0.2, 0.5)
    out = gn.layers.RandomContrast(factor, value_range=(-1e9, 1e9), seed=2)(IMAGES)
    mean = IMAGES.mean(axis=(1, 2), keepdims=True)
    ratio = (out - mean) / (IMAGES - mean)
    per_image = ratio.reshape(3, -1)
    np.testing.assert_allclose(per_image, np.broadcast_to(per_image[:, :1], per_image.shape),
                               rtol=1e-3)                                 # one factor each
    assert np.all(per_image >= 1 - factor[0] - 1e-4) and np.all(per_image <= 1 + factor[1])
    clipped = gn.layers.RandomContrast(0.9, value_range=(0, 255), seed=2)(IMAGES)
    assert clipped.min() >= 0 and clipped.max() <= 255
    assert gn.layers.RandomContrast(0.2).factor == (0, 0.2)   # Keras 3 reads 0.2 as (0, 0.2)
    if compare_with(keras, "Keras's reading of factor"):
        assert keras.layers.RandomContrast(0.2).factor == (0, 0.2)


def test_random_brightness_adds_one_offset_per_image_within_the_range():
    out = gn.layers.RandomBrightness((-0.1, 0.2), value_range=(-1e9, 1e9), seed=4)(IMAGES)
    delta = (out - IMAGES).reshape(3, -1)
    np.testing.assert_allclose(delta, np.broadcast_to(delta[:, :1], delta.shape), rtol=1e-5)
    width = 2e9
    assert np.all(delta[:, 0] >= -0.1 * width - 1) and np.all(delta[:, 0] <= 0.2 * width + 1)
    clipped = gn.layers.RandomBrightness(0.5, seed=4)(IMAGES)
    assert clipped.min() >= 0 and clipped.max() <= 255
    if compare_with(keras, "Keras's factor and value range"):
        theirs = keras.layers.RandomBrightness(0.5)
        ours = gn.layers.RandomBrightness(0.5)
        assert tuple(theirs.factor) == ours.factor
        assert tuple(theirs.value_range) == ours.value_range


def test_random_crop_windows_and_its_inference_centre():
    model = _model(gn.layers.RandomCrop(4, 5, seed=5))
    windows = set()
    for _ in range(12):
        out = _training_run(model, IMAGES)
        assert out.shape == (3, 4, 5, 2)
        hits = [(t, l) for t in range(6) for l in range(3)
                if np.array_equal(out, IMAGES[:, t:t + 4, l:l + 5])]
        assert len(hits) == 1                    # one window for the whole batch
        windows.add(hits[0])
    assert len(windows) > 1
    centre = model.predict(IMAGES, verbose=0)
    np.testing.assert_allclose(centre, gn.layers.Resizing(4, 5, crop_to_aspect_ratio=True)(
        IMAGES), atol=1e-4)
    small = gn.layers.RandomCrop(12, 12, seed=5)(IMAGES)   # larger than the images: resized
    assert small.shape == (3, 12, 12, 2)


def test_augmentation_runs_inside_the_compiled_training_step():
    i = gn.Input((9, 7, 2))
    h = gn.layers.RandomFlip("horizontal", seed=1)(gn.layers.Rescaling(1 / 255)(i))
    h = gn.layers.RandomContrast(0.2, value_range=(0, 1), seed=2)(h)
    out = gn.layers.Dense(2)(gn.layers.Flatten()(gn.layers.CenterCrop(6, 6)(h)))
    model = gn.Model(i, out)
    model.compile(gn.optimizers.SGD(0.01), "mse")
    history = model.fit(IMAGES, np.zeros((3, 2), "float32"), epochs=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    a = model.predict(IMAGES, verbose=0)
    np.testing.assert_array_equal(a, model.predict(IMAGES, verbose=0))  # no draws


def test_configs_round_trip():
    for layer in (gn.layers.RandomFlip("vertical", seed=3),
                  gn.layers.RandomContrast((0.1, 0.3), value_range=(0, 1), seed=1),
                  gn.layers.RandomBrightness(0.2), gn.layers.RandomCrop(3, 4, seed=2),
                  gn.layers.Resizing(3, 4, interpolation="bicubic", antialias=True),
                  gn.layers.CenterCrop(2, 3, data_format="channels_first")):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


def test_random_layer_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"mode must be one of .* got 'diagonal'"):
        gn.layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match=r"factor must be a number or a pair .*\[0, 1\].*"
                                         r"factor=1.5"):
        gn.layers.RandomContrast(1.5)
    with pytest.raises(ValueError, match=r"value_range must be a \(low, high\) pair"):
        gn.layers.RandomBrightness(0.1, value_range=255)
    with pytest.raises(ValueError, match=r"seed must be an integer or None, got 'a'"):
        gn.layers.RandomFlip(seed="a")
