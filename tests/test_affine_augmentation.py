"""RandomRotation, RandomZoom and RandomTranslation: Keras 3's outputs (torch backend) for
fixed factors, the statistics of their draws for random ones (read back from images whose
pixels hold their own coordinates), training vs inference, seeds, fit, configs and files."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs

RNG = np.random.default_rng(23)
IMAGES = RNG.uniform(0, 255, size=(3, 9, 11, 2)).astype("float32")

FIXED = [("RandomRotation", dict(factor=(0.1, 0.1))),
         ("RandomRotation", dict(factor=(-0.3, -0.3), fill_mode="constant", fill_value=3.0)),
         ("RandomRotation", dict(factor=(0.05, 0.05), fill_mode="wrap",
                                 interpolation="nearest")),
         ("RandomZoom", dict(height_factor=(0.2, 0.2))),
         ("RandomZoom", dict(height_factor=(-0.3, -0.3), width_factor=(0.4, 0.4),
                             fill_mode="wrap")),
         ("RandomZoom", dict(height_factor=(0.5, 0.5), fill_mode="nearest")),
         ("RandomTranslation", dict(height_factor=(0.2, 0.2), width_factor=(-0.3, -0.3))),
         ("RandomTranslation", dict(height_factor=(0.1, 0.1), width_factor=(0.25, 0.25),
                                    interpolation="nearest", fill_mode="nearest")),
         ("RandomTranslation", dict(height_factor=(-0.4, -0.4), width_factor=(0.0, 0.0),
                                    fill_mode="constant", fill_value=-1.0))]


@needs(keras)
@pytest.mark.parametrize("name, kwargs", FIXED)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_fixed_factors_give_keras_s_output(name, kwargs, data_format):
    x = IMAGES if data_format == "channels_last" else IMAGES.transpose(0, 3, 1, 2).copy()
    theirs = getattr(keras.layers, name)(**kwargs, data_format=data_format)(x, training=True)
    ours = getattr(gn.layers, name)(**kwargs, data_format=data_format)(x)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), atol=1e-5 * 255)
    assert not np.allclose(ours, x)
    one = getattr(gn.layers, name)(**kwargs, data_format=data_format)(x[0])   # one image
    np.testing.assert_allclose(one, ours[0], atol=1e-3)


def _coordinate_images(n, h, w):
    """n images whose channels are each pixel's own row and column (bilinear sampling of
    a linear function is exact, so the output holds the source coordinates)."""
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.broadcast_to(np.stack([y, x], -1), (n, h, w, 2)).astype("float32")


def _recovered_transforms(out, h, w):
    """Per image the least-squares [a0 a1 a2 b0 b1 b2] mapping output pixels to the source
    coordinates they hold, over pixels whose source lies well inside the image."""
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    basis = np.stack([x.ravel(), y.ravel(), np.ones(h * w)], 1)
    found = []
    for image in out:
        src_y, src_x = image[..., 0].ravel(), image[..., 1].ravel()
        inside = (src_y > 0.5) & (src_y < h - 1.5) & (src_x > 0.5) & (src_x < w - 1.5)
        assert inside.sum() > 20
        a = np.linalg.lstsq(basis[inside], src_x[inside], rcond=None)[0]
        b = np.linalg.lstsq(basis[inside], src_y[inside], rcond=None)[0]
        found.append(np.concatenate([a, b]))
    return np.array(found)


def _draws(layer, n=400, h=21, w=25):
    model = gn.Model(i := gn.Input((h, w, 2)), layer(i))
    run = gn.function(model.inputs, model.outputs, training=True)
    return _recovered_transforms(run(_coordinate_images(n, h, w))[0], h, w)


def _spread_over(values, low, high):
    """Uniform over [low, high]: inside it, mean near the middle, both ends reached."""
    span = high - low
    assert values.min() >= low - 1e-3 * span and values.max() <= high + 1e-3 * span
    assert abs(values.mean() - (low + high) / 2) < 0.06 * span
    assert values.min() < low + 0.05 * span and values.max() > high - 0.05 * span


def test_random_rotation_angles_are_uniform_over_the_factor_s_range():
    t = _draws(gn.layers.RandomRotation((-0.1, 0.05), fill_mode="nearest", seed=1))
    np.testing.assert_allclose(t[:, 0], t[:, 4], atol=1e-4)      # a0 = b1 = cos
    np.testing.assert_allclose(t[:, 1], -t[:, 3], atol=1e-4)     # a1 = -b0 = -sin
    angles = np.arctan2(t[:, 3], t[:, 0]) / (2 * np.pi)
    _spread_over(angles, -0.1, 0.05)


def test_random_zoom_draws_each_axis_or_both_alike():
    t = _draws(gn.layers.RandomZoom((-0.2, 0.3), (0.1, 0.4), fill_mode="nearest", seed=2))
    _spread_over(t[:, 4], 0.8, 1.3)               # zy = 1 + height draw
    _spread_over(t[:, 0], 1.1, 1.4)               # zx = 1 + width draw
    assert abs(np.corrcoef(t[:, 0], t[:, 4])[0, 1]) < 0.2     # drawn independently
    np.testing.assert_allclose(t[:, [1, 3]], 0, atol=1e-4)
    both = _draws(gn.layers.RandomZoom(0.25, fill_mode="nearest", seed=3))
    np.testing.assert_allclose(both[:, 0], both[:, 4], atol=1e-4)   # width_factor None
    _spread_over(both[:, 0], 0.75, 1.25)


def test_random_translation_shifts_by_fractions_of_the_size():
    h, w = 21, 25
    t = _draws(gn.layers.RandomTranslation((-0.2, 0.1), 0.3, fill_mode="nearest", seed=4),
               h=h, w=w)
    np.testing.assert_allclose(t[:, [0, 4]], 1, atol=1e-4)
    _spread_over(-t[:, 5] / h, -0.2, 0.1)         # b2 = -dy
    _spread_over(-t[:, 2] / w, -0.3, 0.3)         # a2 = -dx
    assert abs(np.corrcoef(t[:, 2], t[:, 5])[0, 1]) < 0.2


@pytest.mark.parametrize("layer", [
    lambda: gn.layers.RandomRotation(0.2, seed=1), lambda: gn.layers.RandomZoom(0.3, seed=1),
    lambda: gn.layers.RandomTranslation(0.2, 0.2, seed=1)])
def test_identity_at_inference_new_draws_each_training_run_and_seeds(layer):
    model = gn.Model(i := gn.Input((9, 11, 2)), layer()(i))
    np.testing.assert_array_equal(model.predict(IMAGES, verbose=0), IMAGES)
    ints = IMAGES.astype("uint8")
    predicted = model.predict(ints, verbose=0)
    assert predicted.dtype == np.float32
    np.testing.assert_array_equal(predicted, ints.astype("float32"))
    run = gn.function(model.inputs, model.outputs, training=True)
    first, second = run(IMAGES)[0], run(IMAGES)[0]
    assert not np.allclose(first, IMAGES) and not np.allclose(first, second)
    np.testing.assert_array_equal(layer()(IMAGES), layer()(IMAGES))     # the same seed
    assert not np.allclose(layer()(IMAGES), type(layer())(
        **dict(layer().get_config(), seed=2))(IMAGES))


def test_augmentation_inside_a_model_trained_with_fit():
    i = gn.Input((9, 11, 2))
    h = gn.layers.RandomRotation(0.1, seed=1)(gn.layers.Rescaling(1 / 255)(i))
    h = gn.layers.RandomZoom(0.2, seed=2)(h)
    h = gn.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=3)(h)
    dense = gn.layers.Dense(2)
    model = gn.Model(i, dense(gn.layers.Flatten()(h)))
    model.compile(gn.optimizers.SGD(0.01), "mse")
    history = model.fit(IMAGES, np.ones((3, 2), "float32"), epochs=4, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    kernel, bias = dense.get_weights()
    want = (IMAGES / 255).reshape(3, -1) @ kernel + bias    # no augmentation at inference
    np.testing.assert_allclose(model.predict(IMAGES, verbose=0), want, atol=1e-4)


def test_configs_round_trip_and_keras_files_both_ways(tmp_path):
    layers = [gn.layers.RandomRotation((-0.2, 0.1), fill_mode="constant", fill_value=2.0,
                                       interpolation="nearest", seed=4),
              gn.layers.RandomZoom(0.3, (-0.1, 0.2), seed=5),
              gn.layers.RandomTranslation(0.1, (0.0, 0.2), fill_mode="wrap")]
    for layer in layers:
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
    model = gn.Sequential([gn.Input((9, 11, 2))] + layers + [gn.layers.Flatten(),
                                                             gn.layers.Dense(3)])
    path = str(tmp_path / "augment.keras")
    model.save(path)
    loaded = gn.models.load_model(path)
    assert [type(m).__name__ for m in loaded.layers[:3]] == \
        ["RandomRotation", "RandomZoom", "RandomTranslation"]
    assert loaded.layers[1].get_config()["width_factor"] == (-0.1, 0.2)
    np.testing.assert_allclose(loaded.predict(IMAGES, verbose=0),
                               model.predict(IMAGES, verbose=0), atol=1e-6)
    if not compare_with(keras, "the augmentation layers in .keras files to and from Keras"):
        return
    theirs = keras.models.load_model(path)
    assert tuple(theirs.layers[0].factor) == (-0.2, 0.1)
    assert theirs.layers[2].fill_mode == "wrap"
    np.testing.assert_allclose(theirs.predict(IMAGES, verbose=0),
                               model.predict(IMAGES, verbose=0), atol=1e-4)
    again = str(tmp_path / "from_keras.keras")
    theirs.save(again)
    back = gn.models.load_model(again)
    assert back.layers[0].get_config()["fill_value"] == 2.0
    np.testing.assert_allclose(back.predict(IMAGES, verbose=0),
                               model.predict(IMAGES, verbose=0), atol=1e-4)


def test_bad_arguments_name_the_layer_and_argument():
    with pytest.raises(ValueError, match=r"RandomRotation '.*': factor must be a number or "
                                         r"a pair .*factor=1.5"):
        gn.layers.RandomRotation(1.5)
    with pytest.raises(ValueError, match=r"RandomZoom '.*': height_factor must be .*\(-1, 1\]"
                                         r".*height_factor=-1"):
        gn.layers.RandomZoom(-1)
    with pytest.raises(ValueError, match=r"RandomTranslation '.*': width_factor must be .*"
                                         r"width_factor=\(0.1, 0.2, 0.3\)"):
        gn.layers.RandomTranslation(0.1, (0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match=r"fill_mode must be one of \('reflect', 'wrap', "
                                         r"'constant', 'nearest'\), got fill_mode='mirror'"):
        gn.layers.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match=r"interpolation must be one of .* got "
                                         r"interpolation='bicubic'"):
        gn.layers.RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"fill_value must be a number, got fill_value='x'"):
        gn.layers.RandomTranslation(0.1, 0.1, fill_value="x")
    with pytest.raises(ValueError, match=r"RandomRotation '.*': expected images of rank 3 .* "
                                         r"got input shape \(9, 11\)"):
        gn.layers.RandomRotation(0.1)(IMAGES[0, :, :, 0])
