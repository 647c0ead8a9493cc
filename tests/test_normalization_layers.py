"""RMSNormalization, UnitNormalization, GroupNormalization and Identity against Keras 3
(torch backend): forward within 1e-5 (check_layer) and five training steps, masks passing
through (or not, as Keras), configs, .graphnet / .keras files both ways with Keras, ONNX
export, and the errors for bad arguments and shapes."""
import warnings

import numpy as np
import pytest

import graphnet as gn
from extras import h5py, keras, needs, onnx, train_alike
from extras import onnxruntime as ort
from layer_check import assert_raises_naming, check_layer
from model_files import assert_files_both_ways, assert_onnx_matches

ATOL = 1e-5
RNG = np.random.default_rng(0)


def _data(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("cls, kwargs, input_shape", [
    (gn.layers.RMSNormalization, {}, (2, 7)),
    (gn.layers.RMSNormalization, {"epsilon": 1e-3}, (3, 1, 5)),
    (gn.layers.RMSNormalization, {"axis": [-2, -1]}, (2, 3, 5)),
    (gn.layers.RMSNormalization, {}, (0, 4)),
    (gn.layers.UnitNormalization, {}, (2, 7)),
    (gn.layers.UnitNormalization, {"axis": [1, 2]}, (2, 3, 5)),
    (gn.layers.UnitNormalization, {"axis": 1}, (3, 4, 2)),
    (gn.layers.GroupNormalization, {"groups": 3}, (2, 9)),
    (gn.layers.GroupNormalization, {"groups": 1}, (2, 5, 7)),
    (gn.layers.GroupNormalization, {"groups": -1}, (2, 3, 6)),
    (gn.layers.GroupNormalization, {"groups": 2, "axis": 1}, (2, 4, 3, 5)),
    (gn.layers.GroupNormalization, {"groups": 2, "axis": -3, "center": False}, (2, 6, 3, 5)),
    (gn.layers.GroupNormalization, {"groups": 4, "scale": False, "epsilon": 0.1},
     (3, 5, 5, 8)),
    (gn.layers.GroupNormalization, {"groups": 13}, (1, 2, 13)),
    (gn.layers.Identity, {}, (2, 3, 5)),
])
def test_layer_as_keras(cls, kwargs, input_shape):
    check_layer(cls, kwargs, input_shape=input_shape)


def _stack(lib):
    """Dense -> GroupNormalization -> RMSNormalization -> Identity -> UnitNormalization
    -> a Dense head: every layer's weights trained."""
    x = lib.Input((5, 6))
    h = lib.layers.Dense(8)(x)
    h = lib.layers.GroupNormalization(groups=4, gamma_initializer="random_uniform")(h)
    h = lib.layers.RMSNormalization(axis=[-2, -1])(h)
    h = lib.layers.UnitNormalization(axis=-1)(lib.layers.Identity()(h))
    return lib.Model(x, lib.layers.Dense(3)(lib.layers.Flatten()(h)))


@needs(keras)
def test_normalization_layers_train_as_keras():
    keras.utils.set_random_seed(1)
    km, gm = _stack(keras), _stack(gn)
    rng = np.random.default_rng(2)
    weights = [rng.uniform(-1, 1, w.shape).astype(w.dtype) for w in km.get_weights()]
    km.set_weights(weights)
    gm.set_weights(weights)
    x = _data(4, 5, 6)
    np.testing.assert_allclose(gm.predict(x, verbose=0), km.predict(x, verbose=0), atol=ATOL)
    train_alike(gm, km, x, _data(4, 3), "Adam", {"learning_rate": 0.01})


def _masked(lib):
    ids = lib.Input((6,), dtype="int32")
    h = lib.layers.Embedding(10, 6, mask_zero=True)(ids)
    h = lib.layers.GroupNormalization(groups=3)(lib.layers.Identity()(h))
    h = lib.layers.UnitNormalization()(h)
    return lib.Model(ids, lib.layers.Dense(2)(lib.layers.GlobalAveragePooling1D()(h)))


def _ids():
    ids = RNG.integers(1, 10, (3, 6))
    ids[0, 3:], ids[2, 1:] = 0, 0
    return ids.astype(np.int32)


def test_masks_pass_identity_group_and_unit_normalization_but_not_rms():
    ids = gn.Input((6,), dtype="int32")
    h = gn.layers.Embedding(10, 6, mask_zero=True)(ids)
    for layer in (gn.layers.Identity(), gn.layers.GroupNormalization(groups=2),
                  gn.layers.UnitNormalization()):
        h = layer(h)
        assert h.mask is not None and tuple(h.mask.shape) == (None, 6), type(layer).__name__
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dropped = gn.layers.RMSNormalization()(h)
    assert dropped.mask is None     # Keras 3's RMSNormalization does not support masking
    assert any("does not support masking" in str(w.message) for w in caught)


@needs(keras)
def test_masked_normalization_trains_as_keras():
    keras.utils.set_random_seed(3)
    km, gm = _masked(keras), _masked(gn)
    gm.set_weights(km.get_weights())
    train_alike(gm, km, _ids(), _data(3, 2), "Adam", {"learning_rate": 0.01})


def test_rms_and_group_normalization_over_inner_axes_as_numpy():
    """Axes not the last: the weights broadcast along their own axes (numpy's formula)."""
    x = _data(2, 6, 3, 4)
    rms = gn.layers.RMSNormalization(axis=1)
    rms.build((None, 6, 3, 4))
    scale = RNG.uniform(0.5, 1.5, 6).astype(np.float32)
    rms.set_weights([scale])
    want = x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + 1e-6) * scale[:, None, None]
    np.testing.assert_allclose(rms(x), want, atol=ATOL)
    group = gn.layers.GroupNormalization(groups=3, axis=1)
    group.build((None, 6, 3, 4))
    gamma, beta = RNG.uniform(0.5, 1.5, 6).astype(np.float32), _data(6)
    group.set_weights([gamma, beta])
    grouped = x.reshape(2, 3, 2, 3, 4)
    mean = grouped.mean(axis=(2, 3, 4), keepdims=True)
    var = grouped.var(axis=(2, 3, 4), keepdims=True)
    normalized = ((grouped - mean) / np.sqrt(var + 1e-3)).reshape(x.shape)
    np.testing.assert_allclose(group(x), normalized * gamma[:, None, None] +
                               beta[:, None, None], atol=ATOL)


def test_identity_returns_a_list_of_inputs_as_they_are():
    a, b = gn.Input((3,)), gn.Input((4, 2))
    out = gn.layers.Identity()([a, b])
    assert [tuple(t.shape) for t in out] == [(None, 3), (None, 4, 2)]
    x = [_data(2, 3), _data(2, 4, 2)]
    got = gn.Model([a, b], out).predict(x, verbose=0)
    for g, w in zip(got, x, strict=True):
        np.testing.assert_array_equal(g, w)


def test_group_normalization_config_after_build_says_its_groups():
    layer = gn.layers.GroupNormalization(groups=-1, beta_regularizer="l2", name="g")
    layer.build((None, 5, 6))
    config = layer.get_config()
    assert config["groups"] == 6 and config["beta_regularizer"] is not None
    clone = gn.layers.GroupNormalization.from_config(config)
    assert clone.get_config() == config


@needs(keras, h5py)
@pytest.mark.parametrize("build", [_stack, _masked], ids=["stack", "masked"])
def test_normalization_layers_through_files_both_ways(tmp_path, build):
    masked = build is _masked
    assert_files_both_ways(tmp_path, build, _ids() if masked else _data(3, 5, 6),
                           keras_file_read=not masked)


@needs(onnx, ort)
def test_normalization_layers_export_to_onnx():
    assert_onnx_matches(_stack(gn), lambda b: [_data(b, 5, 6)])


def test_bad_arguments_and_inputs_name_the_layer():
    group = gn.layers.GroupNormalization(groups=4, name="g")
    assert_raises_naming(lambda: group.build((None, 5, 6)), "GroupNormalization 'g'",
                         "6 channels", "groups=4")
    assert_raises_naming(lambda: gn.layers.GroupNormalization(groups=8)(gn.Input((5, 6))),
                         "6 channels", "groups=8")
    assert_raises_naming(lambda: gn.layers.GroupNormalization(groups=0, name="g"),
                         "GroupNormalization 'g'", "groups=0")
    assert_raises_naming(lambda: gn.layers.GroupNormalization(axis=[1, 2], name="g"),
                         "axis=[1, 2]")
    assert_raises_naming(lambda: gn.layers.GroupNormalization(2, axis=3)(gn.Input((5, 6))),
                         "axis 3 is out of bounds", "(None, 5, 6)")
    assert_raises_naming(lambda: gn.layers.GroupNormalization(2)(gn.Input((5, None))),
                         "must be known", "(None, 5, None)")
    assert_raises_naming(lambda: gn.layers.RMSNormalization(axis=[1, 3], name="r")(
        gn.Input((5, 6))), "RMSNormalization 'r'", "axis [1, 3]", "(None, 5, 6)")
    assert_raises_naming(lambda: gn.layers.RMSNormalization(axis=0)(gn.Input((5, 6))),
                         "batch axis")
    assert_raises_naming(lambda: gn.layers.RMSNormalization(axis=1)(gn.Input((None, 6))),
                         "must be known", "(None, None, 6)")
    assert_raises_naming(lambda: gn.layers.UnitNormalization(axis="last", name="u"),
                         "UnitNormalization 'u'", "axis='last'", exc=TypeError)
    assert_raises_naming(lambda: gn.layers.UnitNormalization(axis=2, name="u")(
        gn.Input((5,))), "UnitNormalization 'u'", "axis 2 is out of bounds", "(None, 5)")
