"""Discretization against Keras 3 (torch backend): the boundaries adapt learns (Keras's
own update_state / finalize_state, which its adapt runs; adapt itself needs TensorFlow),
every output mode on values at, between and beyond the boundaries, configs and files."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs

RNG = np.random.default_rng(29)
DATA = np.concatenate([RNG.standard_normal((300, 3)), RNG.exponential(size=(60, 3))])\
    .astype("float32")
BOUNDARIES = [-0.5, 0.0, 0.7, 2.0]
VALUES = np.array([[-1.0, -0.5, 0.0], [0.69, 0.7, 3.0], [2.0, -7.0, 0.1]], "float32")


def _keras_adapted(batches, **kwargs):
    layer = keras.layers.Discretization(**kwargs)
    layer.reset_state()
    for batch in batches:
        layer.update_state(batch)
    layer.finalize_state()
    return layer


@pytest.mark.parametrize("kwargs", [dict(num_bins=4), dict(num_bins=7, epsilon=0.05),
                                    dict(num_bins=3, epsilon=0.001), dict(num_bins=50)])
def test_adapt_learns_keras_s_boundaries_from_arrays_batches_and_datasets(kwargs):
    ours = gn.layers.Discretization(**kwargs)
    ours.adapt(DATA)
    assert len(ours.bin_boundaries) == min(kwargs["num_bins"] - 1, DATA.size - 1)
    assert ours.bin_boundaries == sorted(ours.bin_boundaries)
    batches = [DATA[:70], DATA[70:200], DATA[200:]]
    in_batches = gn.layers.Discretization(**kwargs)
    in_batches.adapt(iter(batches))

    class Batches(gn.utils.PyDataset):
        num_batches = 3

        def __getitem__(self, i):
            return batches[i], None

    from_dataset = gn.layers.Discretization(**kwargs)
    from_dataset.adapt(Batches())
    assert from_dataset.bin_boundaries == in_batches.bin_boundaries
    first_two = gn.layers.Discretization(**kwargs)
    first_two.adapt(batches, steps=2)
    if compare_with(keras, "Keras's adapted boundaries"):
        np.testing.assert_allclose(ours.bin_boundaries,
                                   _keras_adapted([DATA], **kwargs).bin_boundaries, atol=1e-6)
        np.testing.assert_allclose(in_batches.bin_boundaries,
                                   _keras_adapted(batches, **kwargs).bin_boundaries, atol=1e-6)
        np.testing.assert_allclose(first_two.bin_boundaries,
                                   _keras_adapted(batches[:2], **kwargs).bin_boundaries,
                                   atol=1e-6)


def test_adapted_bins_hold_about_equal_counts():
    layer = gn.layers.Discretization(num_bins=5, epsilon=0.001)
    layer.adapt(DATA)
    counts = np.bincount(layer(DATA).ravel(), minlength=5)
    assert counts.sum() == DATA.size
    assert np.all(np.abs(counts - DATA.size / 5) < 0.02 * DATA.size)


def _encoded(values, mode):
    """Keras's output for ``mode``, from np.digitize: one-hot rows (a trailing axis of 1
    replaced), or per-sample multi-hot / counts (a 1-D input is one sample)."""
    bins = np.digitize(values, np.float32(BOUNDARIES)).astype("int32")
    if mode == "int":
        return bins
    depth = len(BOUNDARIES) + 1
    if mode == "one_hot":
        if bins.ndim > 1 and bins.shape[-1] == 1:
            bins = bins[..., 0]
        return np.eye(depth, dtype="float32")[bins]
    counts = np.apply_along_axis(np.bincount, -1, bins, minlength=depth).astype("float32")
    return counts if mode == "count" else np.minimum(counts, 1.0)


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("values", [VALUES, VALUES[:, :1], VALUES[0]])
def test_output_modes_match_numpy_and_keras(mode, values):
    ours = gn.layers.Discretization(bin_boundaries=BOUNDARIES, output_mode=mode)
    got, want = ours(values), _encoded(values, mode)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert ours.compute_output_shape(values.shape) == want.shape
    if compare_with(keras, "Discretization's outputs against Keras's"):
        theirs = keras.layers.Discretization(bin_boundaries=BOUNDARIES, output_mode=mode)
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(theirs(values)), atol=1e-6)
        assert ours.compute_output_shape(values.shape) == tuple(theirs.compute_output_shape(
            values.shape))


def test_bins_follow_numpy_digitize_inside_a_compiled_model():
    i = gn.Input((3,))
    layer = gn.layers.Discretization(bin_boundaries=BOUNDARIES, output_mode="one_hot")
    model = gn.Model(i, gn.layers.Flatten()(layer(i)))
    out = model.predict(VALUES, verbose=0).reshape(3, 3, 5)
    np.testing.assert_array_equal(out.argmax(-1), np.digitize(VALUES, np.float32(BOUNDARIES)))
    np.testing.assert_array_equal(out.sum(-1), 1)


def test_config_round_trip_and_keras_files_both_ways(tmp_path):
    adapted = gn.layers.Discretization(num_bins=4, output_mode="count", name="bins")
    adapted.adapt(DATA)
    config = adapted.get_config()
    assert config["num_bins"] == 4 and len(config["bin_boundaries"]) == 3
    again = gn.layers.Discretization.from_config(config)
    assert again.get_config() == config
    given = gn.layers.Discretization(bin_boundaries=BOUNDARIES, epsilon=0.1)
    assert gn.layers.Discretization.from_config(given.get_config()).get_config() == \
        given.get_config()
    model = gn.Sequential([gn.Input((3,)), adapted, gn.layers.Dense(2)])
    path = str(tmp_path / "bins.keras")
    model.save(path)
    loaded = gn.models.load_model(path)
    assert loaded.layers[0].bin_boundaries == adapted.bin_boundaries
    np.testing.assert_array_equal(loaded.predict(DATA, verbose=0),
                                  model.predict(DATA, verbose=0))
    if not compare_with(keras, "Discretization in .keras files to and from Keras"):
        return
    theirs = keras.models.load_model(path)
    np.testing.assert_allclose(theirs.predict(DATA, verbose=0), model.predict(DATA, verbose=0),
                               atol=1e-5)
    back_path = str(tmp_path / "from_keras.keras")
    theirs.save(back_path)
    back = gn.models.load_model(back_path)
    np.testing.assert_allclose(back.predict(DATA, verbose=0), model.predict(DATA, verbose=0),
                               atol=1e-5)


def test_bad_arguments_and_misuse_are_refused_clearly():
    with pytest.raises(ValueError, match=r"`sparse=True` can only be used with the "
                                         r"TensorFlow backend"):
        gn.layers.Discretization(num_bins=3, output_mode="one_hot", sparse=True)
    with pytest.raises(ValueError, match=r"`output_mode` of Discretization .* Received: "
                                         r"output_mode='binary'"):
        gn.layers.Discretization(num_bins=3, output_mode="binary")
    with pytest.raises(ValueError, match=r"set only one of `num_bins` and `bin_boundaries`"):
        gn.layers.Discretization(bin_boundaries=[1.0], num_bins=3)
    with pytest.raises(ValueError, match=r"set either `num_bins` or `bin_boundaries`"):
        gn.layers.Discretization()
    with pytest.raises(ValueError, match=r"`num_bins` must be an integer >= 0, got "
                                         r"num_bins=-2"):
        gn.layers.Discretization(num_bins=-2)
    with pytest.raises(ValueError, match=r"`epsilon` must be a number in \(0, 1\], got "
                                         r"epsilon=0"):
        gn.layers.Discretization(num_bins=2, epsilon=0)
    with pytest.raises(ValueError, match=r"`bin_boundaries` must be a list of increasing "
                                         r"numbers, got bin_boundaries=\[1.0, 0.0\]"):
        gn.layers.Discretization(bin_boundaries=[1.0, 0.0])
    with pytest.raises(ValueError, match=r"cannot adapt a layer given `bin_boundaries`"):
        gn.layers.Discretization(bin_boundaries=[0.0]).adapt(DATA)
    with pytest.raises(ValueError, match=r"pass `bin_boundaries` or call adapt\(\) before"):
        gn.layers.Discretization(num_bins=3)(DATA)
    with pytest.raises(ValueError, match=r"adapt\(\) got no data"):
        gn.layers.Discretization(num_bins=3).adapt([])
    layer = gn.layers.Discretization(num_bins=3)
    layer.adapt(DATA)
    layer(DATA)                                            # on data: adapting again is fine
    layer.adapt(DATA[:100])
    gn.Model(i := gn.Input((3,)), layer(i))
    with pytest.raises(ValueError, match=r"adapt\(\) after the layer was called on a "
                                         r"model's tensors"):
        layer.adapt(DATA)
