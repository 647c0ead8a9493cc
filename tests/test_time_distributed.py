"""TimeDistributed against Keras 3 (torch backend): Dense, Conv2D over frames, pooling,
Flatten and Embedding inside it, unknown and changing sequence lengths, masks passed on
and kept, training steps, the training flag, saving, ONNX, and the errors."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, onnx, onnxruntime, train_alike

ATOL = 1e-5
RNG = np.random.default_rng(5)
SEQ = RNG.normal(size=(3, 5, 4)).astype("float32")
VIDEO = RNG.normal(size=(2, 3, 6, 6, 2)).astype("float32")


def _pair(make_layer, shape, dtype="float32"):
    """graphnet's and (with Keras) Keras's model Input(shape) -> TimeDistributed(layer),
    with Keras's weights."""
    i = gn.Input(shape, dtype=dtype)
    gm = gn.Model(i, gn.layers.TimeDistributed(make_layer(gn))(i))
    km = None
    if compare_with(keras, "the same Keras model"):
        ki = keras.Input(shape, dtype=dtype)
        km = keras.Model(ki, keras.layers.TimeDistributed(make_layer(keras))(ki))
        gm.set_weights(km.get_weights())
    return gm, km


@pytest.mark.parametrize("name, make_layer, shape, data", [
    ("dense", lambda lib: lib.layers.Dense(3, activation="tanh"), (None, 4), SEQ),
    ("conv2d", lambda lib: lib.layers.Conv2D(4, 3, padding="same"), (3, 6, 6, 2), VIDEO),
    ("pooling", lambda lib: lib.layers.MaxPooling2D(2), (3, 6, 6, 2), VIDEO),
    ("flatten", lambda lib: lib.layers.Flatten(), (3, 6, 6, 2), VIDEO),
    ("embedding", lambda lib: lib.layers.Embedding(7, 3), (None, 4),
     RNG.integers(0, 7, size=(3, 5, 4)).astype("int32")),
])
def test_forward_matches_keras(name, make_layer, shape, data):
    gm, km = _pair(make_layer, shape, dtype=str(data.dtype))
    got = gm.predict(data, verbose=0)
    assert got.shape[:2] == data.shape[:2]
    assert gm.output_shape == (None,) + tuple(shape[:1]) + got.shape[2:]
    if km is not None:
        np.testing.assert_allclose(got, km.predict(data, verbose=0), atol=ATOL)


def test_every_time_step_uses_the_same_weights_for_any_length():
    gm, _ = _pair(lambda lib: lib.layers.Dense(3), (None, 4))
    kernel, bias = gm.get_weights()
    for steps in (1, 5, 8):
        x = RNG.normal(size=(2, steps, 4)).astype("float32")
        np.testing.assert_allclose(gm.predict(x, verbose=0), x @ kernel + bias, atol=ATOL)


@needs(keras)
def test_training_steps_match_keras():
    def make(lib):
        i = lib.Input((5, 4))
        h = lib.layers.TimeDistributed(lib.layers.Dense(6, activation="relu"))(i)
        return lib.Model(i, lib.layers.TimeDistributed(
            lib.layers.Dense(3, activation="softmax"))(h))
    km, gm = make(keras), make(gn)
    gm.set_weights(km.get_weights())
    y = np.eye(3, dtype="float32")[RNG.integers(0, 3, size=(3, 5))]
    train_alike(gm, km, SEQ, y, "Adam", {"learning_rate": 0.01},
                loss="categorical_crossentropy", metrics=["accuracy"], atol=ATOL)


def test_the_training_flag_reaches_the_wrapped_layer():
    i = gn.Input((5, 4))
    model = gn.Model(i, gn.layers.TimeDistributed(gn.layers.Dropout(0.5, seed=1))(i))
    np.testing.assert_array_equal(model.predict(SEQ, verbose=0), SEQ)   # inference: identity
    zeros = gn.function([i], model.outputs, training=True)(SEQ)[0]  # training: some dropped
    assert 0 < np.count_nonzero(zeros == 0) < SEQ.size
    np.testing.assert_allclose(zeros[zeros != 0], 2 * SEQ[zeros != 0], rtol=1e-6)


def test_masks_pass_through_and_reach_a_wrapped_layer_that_takes_one():
    padded = SEQ.copy()
    padded[0, 3:] = 0.0
    i = gn.Input((5, 4))
    out = gn.layers.TimeDistributed(gn.layers.Dense(2))(gn.layers.Masking()(i))
    assert out.mask is not None
    mask_fn = gn.function([i], out.mask)
    np.testing.assert_array_equal(mask_fn(padded), np.any(padded != 0, axis=-1))

    seen = []

    class MaskAware(gn.layers.Layer):
        def call(self, inputs, mask=None):
            seen.append(None if mask is None else tuple(mask.shape))
            return inputs * 2.0

    gn.layers.TimeDistributed(MaskAware())(gn.layers.Masking()(i))
    assert seen == [(None,)]        # the (batch, time) mask as (batch * time,)


def test_saving_round_trips(tmp_path):
    i = gn.Input((None, 4))
    model = gn.Model(i, gn.layers.TimeDistributed(gn.layers.Dense(3), name="per_step")(i))
    model.save(str(tmp_path / "td.graphnet"))
    loaded = gn.models.load_model(str(tmp_path / "td.graphnet"))
    assert loaded.layers[1].name == "per_step"
    assert isinstance(loaded.layers[1].layer, gn.layers.Dense)
    np.testing.assert_array_equal(loaded.predict(SEQ, verbose=0), model.predict(SEQ, verbose=0))
    config = model.layers[1].get_config()
    assert config["layer"]["class_name"] == "Dense"
    assert config["layer"]["config"]["units"] == 3


def test_in_a_sequential_model():
    seq = gn.Sequential([gn.Input((5, 4)), gn.layers.TimeDistributed(gn.layers.Dense(2)),
                         gn.layers.Flatten()])
    assert seq.predict(SEQ, verbose=0).shape == (3, 10)
    assert seq.count_params() == 10


@needs(onnx, onnxruntime)
def test_exports_to_onnx_with_an_unknown_length(tmp_path):
    from graphnet.export import to_onnx
    gm, _ = _pair(lambda lib: lib.layers.Dense(3), (None, 4))
    to_onnx(gm, str(tmp_path / "td.onnx"))
    session = onnxruntime.InferenceSession(str(tmp_path / "td.onnx"))
    for steps in (5, 2):
        x = RNG.normal(size=(3, steps, 4)).astype("float32")
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, gm.predict(x, verbose=0), atol=ATOL)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"`layer` must be a gn.layers.Layer instance, got int"):
        gn.layers.TimeDistributed(3)
    with pytest.raises(ValueError, match=r"cannot wrap BatchNormalization \('bn'\)"):
        gn.layers.TimeDistributed(gn.layers.BatchNormalization(name="bn"))
    with pytest.raises(ValueError, match=r"at least 3 dimensions .* got input shape "
                                         r"\(None, 4\)"):
        gn.layers.TimeDistributed(gn.layers.Dense(2))(gn.Input((4,)))
    i, m = gn.Input((5, 4)), gn.Input((6,), dtype="bool")
    with pytest.raises(ValueError, match=r"TimeDistributed.*mask has shape \(None, 6\).*"
                                         r"expected the input's leading axes \(None, 5\)"):
        gn.layers.TimeDistributed(gn.layers.Dense(2))(i, mask=m)
