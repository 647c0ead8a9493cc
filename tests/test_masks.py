"""Masks as Keras 3 has them: supports_masking / compute_mask, propagation through layer
calls, Functional and Sequential models and merge layers, the Masking layer, Softmax's
mask, and masks in the compiled losses and metrics; compared with Keras 3 (torch)."""
import warnings

import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, onnx, onnxruntime, train_alike
from graphnet.runtime.function import Function

ATOL = 1e-5


def _padded_sequences(seed=0, batch=5, steps=6, features=3):
    """(batch, steps, features) with whole timesteps of zeros: trailing, leading, inner."""
    x = np.random.default_rng(seed).normal(size=(batch, steps, features)).astype("float32")
    x[0, 3:] = 0.0
    x[1, :2] = 0.0
    x[3, steps - 2] = 0.0
    return x


def _kept(x, mask_value=0.0):
    return np.any(x != mask_value, axis=-1)


def _run(inputs, tensors, *arrays):
    """The values of symbolic ``tensors`` (outputs or masks) for these input arrays."""
    return [np.asarray(v) for v in Function(list(inputs), list(tensors))(*arrays)]


def _keras_mask(tensor):
    mask = getattr(tensor, "_keras_mask", None)
    return None if mask is None else keras.ops.convert_to_numpy(mask)


# -- the Masking layer and propagation -----------------------------------------------------

def test_masking_sets_the_mask_of_timesteps_that_are_all_padding_and_zeroes_them():
    x = _padded_sequences()
    x[2, 1] = 7.0                       # a timestep of the mask value 7 (not 0)
    i = gn.Input((6, 3))
    out = gn.layers.Masking(mask_value=7.0)(i)
    values, mask = _run([i], [out, out.mask], x)
    assert out.mask.shape == (None, 6) and out.mask.dtype == "bool"
    np.testing.assert_array_equal(mask, _kept(x, 7.0))
    np.testing.assert_array_equal(values, np.where(_kept(x, 7.0)[..., None], x, 0.0))
    if compare_with(keras, "Keras 3's Masking outputs and mask"):
        k = keras.layers.Masking(mask_value=7.0)(x)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(k), values)
        np.testing.assert_array_equal(_keras_mask(k), mask)


def test_masking_rejects_a_mask_value_that_is_not_a_number():
    with pytest.raises(TypeError, match="mask_value must be a number, got str 'pad'"):
        gn.layers.Masking(mask_value="pad")


def test_the_mask_passes_through_dense_and_activations_on_3d_inputs():
    i = gn.Input((6, 3))
    masked = gn.layers.Masking()(i)
    h = gn.layers.Dense(4)(masked)
    h = gn.layers.ReLU()(h)
    h = gn.layers.LayerNormalization()(h)
    h = gn.layers.Dropout(0.5)(h)
    assert h.mask is not None
    x = _padded_sequences()
    np.testing.assert_array_equal(_run([i], [h.mask], x)[0], _kept(x))


def test_supports_masking_is_set_on_the_layers_keras_3_sets_it_on():
    masking = [("ReLU", {}), ("LeakyReLU", {}), ("PReLU", {}), ("ELU", {}), ("Softmax", {}),
               ("BatchNormalization", {}), ("LayerNormalization", {}),
               ("GaussianNoise", {"stddev": 0.1}), ("GaussianDropout", {"rate": 0.1}),
               ("AlphaDropout", {"rate": 0.1}), ("Dropout", {"rate": 0.1}),
               ("SpatialDropout1D", {"rate": 0.1}), ("Activation", {"activation": "relu"}),
               ("Dense", {"units": 2}), ("Masking", {}), ("Add", {}), ("Subtract", {}),
               ("Average", {}), ("Maximum", {}), ("Concatenate", {}), ("Multiply", {}),
               ("Dot", {"axes": 1}), ("GlobalAveragePooling1D", {})]
    not_masking = [("Flatten", {}), ("Reshape", {"target_shape": (2,)}),
                   ("Conv1D", {"filters": 2, "kernel_size": 1}), ("MaxPooling1D", {}),
                   ("GlobalMaxPooling1D", {}), ("GlobalAveragePooling2D", {}),
                   ("Lambda", {"function": lambda t: t})]
    for expected, cases in ((True, masking), (False, not_masking)):
        for name, kwargs in cases:
            ours = getattr(gn.layers, name)(**kwargs).supports_masking
            assert ours is expected, name
            if compare_with(keras, "Keras 3's supports_masking of the same layers"):
                assert getattr(keras.layers, name)(**kwargs).supports_masking is expected, name
    assert gn.layers.ThresholdedReLU().supports_masking  # as Keras 3's legacy layer
    assert gn.layers.Lambda(lambda t: t, mask=lambda t, m: m).supports_masking


def test_supports_masking_defaults_to_whether_compute_mask_is_overridden():
    class Plain(gn.layers.Layer):
        pass

    class Masks(gn.layers.Layer):
        def compute_mask(self, inputs, mask=None):
            return mask

    assert not Plain().supports_masking and Masks().supports_masking
    layer = Plain()
    layer.supports_masking = True
    assert layer.supports_masking


def test_a_layer_without_masking_drops_the_mask_with_keras_warning():
    i = gn.Input((6, 3))
    masked = gn.layers.Masking()(i)
    with pytest.warns(UserWarning, match="does not support masking and will therefore "
                                         "destroy the mask information"):
        flat = gn.layers.Flatten()(masked)
    assert flat.mask is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gn.layers.Flatten()(i).mask is None  # no mask: nothing to warn about


def test_call_gets_the_inputs_mask_and_compute_mask_sets_the_outputs():
    seen = {}

    class HalfSteps(gn.layers.Layer):
        """Keeps the mask of the first half of the timesteps only."""

        def call(self, inputs, mask=None):
            seen["mask"] = mask
            return inputs * 2.0

        def compute_mask(self, inputs, mask=None):
            half = np.arange(inputs.shape[1]) < inputs.shape[1] // 2
            return gn.ops.logical_and(mask, gn.ops.convert_to_tensor(half))

    i = gn.Input((6, 3))
    masked = gn.layers.Masking()(i)
    out = HalfSteps()(masked)
    assert seen["mask"] is masked.mask
    x = _padded_sequences()
    expected = _kept(x) & (np.arange(6) < 3)
    np.testing.assert_array_equal(_run([i], [out.mask], x)[0], expected)


class _ScaleMasked(gn.layers.Layer):
    """Doubles the unmasked entries; the mask passes through."""

    supports_masking = True

    def call(self, inputs, mask=None):
        return gn.ops.where(gn.ops.expand_dims(mask, -1), inputs * 2.0, inputs)


def test_an_explicit_mask_reaches_call_and_the_outputs():
    i = gn.Input((6, 3))
    given = gn.Input((6,), dtype="bool")
    out = _ScaleMasked()(i, mask=given)
    assert out.mask.node is given.node
    x, m = _padded_sequences(), np.random.default_rng(1).uniform(size=(5, 6)) > 0.5
    values, mask = _run([i, given], [out, out.mask], x, m)
    np.testing.assert_array_equal(mask, m)
    np.testing.assert_allclose(values, np.where(m[..., None], 2 * x, x))


# -- errors ---------------------------------------------------------------------------

def test_a_mask_of_the_wrong_shape_is_refused_naming_the_layer_and_shapes():
    i = gn.Input((6, 3))
    with pytest.raises(ValueError, match=r"Layer 'wrong' \(_ScaleMasked\): the mask has "
                                         r"shape \(None, 5\), which does not fit input "
                                         r"shape \(None, 6, 3\): expected the input's "
                                         r"leading axes \(None, 6\)"):
        _ScaleMasked(name="wrong")(i, mask=gn.Input((5,), dtype="bool"))


def test_a_layer_whose_call_takes_no_mask_refuses_one():
    i = gn.Input((6, 3))
    with pytest.raises(TypeError, match="unexpected keyword argument 'mask'"):
        gn.layers.Flatten()(i, mask=gn.Input((6,), dtype="bool"))
    if compare_with(keras, "Keras 3 refuses it the same way"):
        with pytest.raises(TypeError, match="unexpected keyword argument 'mask'"):
            keras.layers.Flatten()(keras.Input((6, 3)), mask=np.ones((1, 6), bool))


def test_softmax_refuses_a_propagated_mask_that_does_not_broadcast_as_keras_3():
    i = gn.Input((6, 4))
    with pytest.raises(ValueError, match=r"Softmax 'softmax_of_steps': the `mask` must "
                                         r"be broadcastable to `inputs`.*inputs.shape="
                                         r"\(None, 6, 4\), mask.shape=\(None, 6\)"):
        gn.layers.Softmax(name="softmax_of_steps")(gn.layers.Masking()(i))
    if compare_with(keras, "Keras 3 refuses it too (when the call runs)"):
        x = np.ones((2, 6, 4), "float32")
        with pytest.raises(ValueError, match="must be broadcastable"):
            keras.layers.Softmax()(keras.layers.Masking()(x))


# -- models and layers against Keras ------------------------------------------------------

def _same_model(build, x):
    """Build with gn and keras, share the weights, compare outputs and output masks."""
    gm = build(gn)
    xs = x if isinstance(x, list) else [x]
    values = _run(gm.inputs, gm.outputs, *xs)
    masks = [None if t.mask is None else _run(gm.inputs, [t.mask], *xs)[0]
             for t in gm.outputs]
    if compare_with(keras, "the same Keras 3 model's outputs and masks"):
        km = build(keras)
        gm.set_weights(km.get_weights())
        values = _run(gm.inputs, gm.outputs, *xs)
        k_out = km(xs if len(xs) > 1 else xs[0])
        k_out = k_out if isinstance(k_out, (list, tuple)) else [k_out]
        for ours, theirs, mask in zip(values, k_out, masks):
            np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), atol=ATOL)
            theirs_mask = _keras_mask(theirs)
            assert (mask is None) == (theirs_mask is None)
            if mask is not None:
                np.testing.assert_array_equal(mask, theirs_mask)
    return values, masks


def test_global_average_pooling_1d_averages_the_unmasked_steps():
    def build(lib):
        i = lib.Input((6, 3))
        h = lib.layers.Dense(4)(lib.layers.Masking()(i))
        return lib.Model(i, lib.layers.GlobalAveragePooling1D()(h))
    x = _padded_sequences()
    _, (mask,) = _same_model(build, x)
    assert mask is None
    gm = build(gn)
    dense = next(layer for layer in gm.layers if isinstance(layer, gn.layers.Dense))
    steps = _run(gm.inputs, [dense.output], x)[0]
    kept = _kept(x)[..., None]
    np.testing.assert_allclose(_run(gm.inputs, gm.outputs, x)[0],
                               (steps * kept).sum(1) / kept.sum(1), atol=ATOL)


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Average", "Maximum",
                                   "Minimum", "Concatenate"])
@pytest.mark.parametrize("masked", ["both", "first"])
def test_merge_layers_combine_masks_as_keras_3(merge, masked):
    """Two differently padded sequences; or the first masked and the second not."""
    def build(lib):
        a, b = lib.Input((6, 3)), lib.Input((6, 3))
        ha = lib.layers.Dense(3)(lib.layers.Masking()(a))
        hb = lib.layers.Dense(3)(lib.layers.Masking()(b) if masked == "both" else b)
        return lib.Model([a, b], getattr(lib.layers, merge)()([ha, hb]))
    x1, x2 = _padded_sequences(0), _padded_sequences(1)
    x2[4, :3] = 0.0
    _, (mask,) = _same_model(build, [x1, x2])
    if masked == "both":
        np.testing.assert_array_equal(mask, _kept(x1) | _kept(x2))
    elif merge == "Concatenate":
        np.testing.assert_array_equal(mask, np.ones((5, 6), bool))
    else:
        assert mask is None


def test_concatenate_along_the_time_axis_joins_the_masks():
    def build(lib):
        a, b = lib.Input((6, 3)), lib.Input((4, 3))
        return lib.Model([a, b], lib.layers.Concatenate(axis=1)(
            [lib.layers.Masking()(a), lib.layers.Masking()(b)]))
    x1, x2 = _padded_sequences(0), _padded_sequences(1, steps=4)
    _, (mask,) = _same_model(build, [x1, x2])
    np.testing.assert_array_equal(mask, np.concatenate([_kept(x1), _kept(x2)], axis=1))


def test_dot_gives_no_mask():
    a, b = gn.Input((6, 3)), gn.Input((6, 3))
    out = gn.layers.Dot(axes=2)([gn.layers.Masking()(a), gn.layers.Masking()(b)])
    assert out.mask is None


def test_softmax_with_an_explicit_mask_matches_keras_3():
    x = np.random.default_rng(2).normal(size=(3, 5)).astype("float32")
    m = np.random.default_rng(3).uniform(size=(3, 5)) > 0.4
    m[1], m[0, 0], m[2, 0] = False, True, True   # row 1 masked entirely gives zeros
    i, given = gn.Input((5,)), gn.Input((5,), dtype="bool")
    ours = _run([i, given], [gn.layers.Softmax()(i, mask=given)], x, m)[0]
    assert np.all(ours[1] == 0.0) and np.all(ours[~m] == 0.0)
    np.testing.assert_allclose(ours[[0, 2]].sum(-1), 1.0, atol=ATOL)
    if compare_with(keras, "Keras 3's Softmax(mask=...)"):
        theirs = keras.ops.convert_to_numpy(keras.layers.Softmax()(x, mask=m))
        np.testing.assert_allclose(ours, theirs, atol=ATOL)


def test_sequential_and_nested_models_propagate_masks():
    def build(lib):
        inner = lib.Sequential([lib.Input((6, 3)), lib.layers.Masking(),
                                lib.layers.Dense(4, activation="tanh")])
        i = lib.Input((6, 3))
        return lib.Model(i, lib.layers.GlobalAveragePooling1D()(inner(i)))
    x = _padded_sequences()
    gm = build(gn)
    inner = gm.layers[1]
    assert inner.outputs[0].mask is not None
    assert inner(gn.Input((6, 3))).mask is not None
    _same_model(build, x)
    h = _run(inner.inputs, inner.outputs, x)[0]
    kept = _kept(x)[..., None]
    np.testing.assert_allclose(_run(gm.inputs, gm.outputs, x)[0],
                               (h * kept).sum(1) / kept.sum(1), atol=ATOL)


def test_a_lambda_with_a_mask_function_sets_its_mask_and_one_without_drops_it():
    i = gn.Input((6, 3))
    masked = gn.layers.Masking()(i)
    shifted = gn.layers.Lambda(lambda t, mask=None: t * gn.ops.expand_dims(
        gn.ops.cast(mask, "float32"), -1), mask=lambda t, m: m)(masked)
    assert shifted.mask is not None
    x = _padded_sequences()
    values, mask = _run([i], [shifted, shifted.mask], x)
    np.testing.assert_array_equal(mask, _kept(x))
    np.testing.assert_allclose(values, x * _kept(x)[..., None])
    with pytest.warns(UserWarning, match="does not support masking"):
        assert gn.layers.Lambda(lambda t: t * 2.0)(masked).mask is None


# -- losses and metrics ----------------------------------------------------------------------

def _sequence_regressor(lib):
    i = lib.Input((6, 3))
    h = lib.layers.Dense(4, activation="tanh")(lib.layers.Masking()(i))
    return lib.Model(i, lib.layers.Dense(2)(h))


def test_the_loss_and_metrics_leave_out_masked_timesteps():
    x = _padded_sequences()
    y = np.random.default_rng(4).normal(size=(5, 6, 2)).astype("float32")
    gm = _sequence_regressor(gn)
    gm.compile("sgd", "mse", metrics=["mae"])
    loss, mae = gm.evaluate(x, y, verbose=0)
    pred = gm.predict(x, verbose=0)
    kept = _kept(x)
    per_step = ((pred - y) ** 2).mean(-1)
    np.testing.assert_allclose(loss, per_step[kept].mean(), rtol=1e-5)
    np.testing.assert_allclose(mae, np.abs(pred - y).mean(-1)[kept].mean(), rtol=1e-5)
    assert abs(loss - per_step.mean()) > 1e-3   # the mask changed the value


def _five_sgd_steps_alike(gm, km, x, y, metrics=()):
    """SGD(0.1) and mse: the same evaluate, 5 steps' losses (and metrics), then weights."""
    train_alike(gm, km, x, y, metrics=metrics, atol=ATOL)


@needs(keras)
def test_five_sgd_steps_with_a_masked_loss_match_keras_3():
    x = _padded_sequences()
    y = np.random.default_rng(4).normal(size=(5, 6, 2)).astype("float32")
    km, gm = _sequence_regressor(keras), _sequence_regressor(gn)
    gm.set_weights(km.get_weights())
    _five_sgd_steps_alike(gm, km, x, y, metrics=["mae"])


@needs(keras)
def test_sparse_crossentropy_and_accuracy_with_masks_and_sample_weights_match_keras_3():
    """Per-timestep sample weights (batch, steps) join the mask, as in Keras 3."""
    def build(lib):
        i = lib.Input((6, 3))
        o = lib.layers.Dense(3, activation="softmax")(lib.layers.Masking()(i))
        return lib.Model(i, o)
    x = _padded_sequences()
    y = np.random.default_rng(4).integers(0, 3, size=(5, 6)).astype("float32")
    sw = np.random.default_rng(5).uniform(size=(5, 6)).astype("float32")
    km, gm = build(keras), build(gn)
    gm.set_weights(km.get_weights())
    for model in (km, gm):
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"],
                      weighted_metrics=["accuracy"])
    for kwargs in ({}, {"sample_weight": sw}):
        ours = gm.evaluate(x, y, verbose=0, return_dict=True, **kwargs)
        theirs = km.evaluate(x, y, verbose=0, return_dict=True, **kwargs)
        assert set(ours) == set(theirs)
        for key in ours:
            np.testing.assert_allclose(ours[key], theirs[key], atol=ATOL, err_msg=key)


@needs(keras)
def test_batch_normalization_trains_on_the_statistics_of_the_unmasked_steps_as_keras_3():
    def build(lib):
        i = lib.Input((6, 3))
        h = lib.layers.BatchNormalization(momentum=0.5)(lib.layers.Masking()(i))
        return lib.Model(i, lib.layers.Dense(2)(h))
    x = _padded_sequences()
    y = np.random.default_rng(4).normal(size=(5, 6, 2)).astype("float32")
    km, gm = build(keras), build(gn)
    gm.set_weights(km.get_weights())
    _five_sgd_steps_alike(gm, km, x, y)


def test_batch_normalization_refuses_a_mask_of_the_wrong_rank():
    i = gn.Input((6, 3))
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn': the mask provided "
                                         r"should be one dimension less than the inputs"):
        gn.layers.BatchNormalization(name="bn")(i, mask=gn.Input((6, 3), dtype="bool"))


def test_a_model_given_an_explicit_mask_input_reaches_it_and_saves_and_loads():
    i, given = gn.Input((6,)), gn.Input((6,), dtype="bool")
    model = gn.Model([i, given], gn.layers.Softmax()(i, mask=given))
    assert len([layer for layer in model.layers if isinstance(layer, gn.layers.InputLayer)]) \
        == 2
    loaded = gn.models.model_from_json(model.to_json())
    x = np.random.default_rng(6).normal(size=(3, 6)).astype("float32")
    m = np.random.default_rng(7).uniform(size=(3, 6)) > 0.5
    m[:, 0] = True
    expected = np.where(m, np.exp(x), 0.0) / np.where(m, np.exp(x), 0.0).sum(-1,
                                                                             keepdims=True)
    np.testing.assert_allclose(model.predict([x, m], verbose=0), expected, atol=ATOL)
    np.testing.assert_allclose(loaded.predict([x, m], verbose=0), expected, atol=ATOL)


def test_a_masking_model_saves_and_loads_with_its_masks():
    i = gn.Input((6, 3))
    h = gn.layers.Dense(2)(gn.layers.Masking(mask_value=0.0)(i))
    model = gn.Model(i, h)
    loaded = gn.models.model_from_json(model.to_json())
    loaded.set_weights(model.get_weights())
    x = _padded_sequences()
    np.testing.assert_array_equal(_run(loaded.inputs, [loaded.outputs[0].mask], x)[0],
                                  _kept(x))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def _outer_masking_inner_pooling(lib):
    """Masking outside; Dense, BatchNormalization and the masked mean in a nested model."""
    inner = lib.Sequential([lib.Input((6, 3)), lib.layers.Dense(4, activation="tanh"),
                            lib.layers.BatchNormalization(momentum=0.5),
                            lib.layers.GlobalAveragePooling1D()])
    i = lib.Input((6, 3))
    return lib.Model(i, lib.layers.Dense(2)(inner(lib.layers.Masking()(i))))


def test_a_nested_model_uses_the_mask_of_its_input():
    x = _padded_sequences()
    model = _outer_masking_inner_pooling(gn)
    inner = next(layer for layer in model.layers if isinstance(layer, gn.Sequential))
    steps = _run(inner.inputs, [inner.layers[1].output], x)[0]   # inference: moving stats
    kept = _kept(x)[..., None]
    pooled = (steps * kept).sum(1) / kept.sum(1)
    dense = model.layers[-1]
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), pooled @ kernel + bias,
                               atol=ATOL)


@needs(keras)
def test_five_sgd_steps_of_a_nested_model_given_a_mask_match_keras_3():
    x = _padded_sequences()
    y = np.random.default_rng(4).normal(size=(5, 2)).astype("float32")
    km, gm = _outer_masking_inner_pooling(keras), _outer_masking_inner_pooling(gn)
    gm.set_weights(km.get_weights())
    np.testing.assert_allclose(gm.predict(x, verbose=0), km.predict(x, verbose=0),
                               atol=ATOL)
    _five_sgd_steps_alike(gm, km, x, y)


def test_a_loss_object_as_a_metric_leaves_out_masked_timesteps_too():
    x = _padded_sequences()
    y = np.random.default_rng(4).normal(size=(5, 6, 2)).astype("float32")
    gm = _sequence_regressor(gn)
    gm.compile("sgd", "mse", metrics=[gn.losses.MeanAbsoluteError(),
                                      gn.metrics.MeanAbsoluteError()])
    logs = gm.evaluate(x, y, verbose=0, return_dict=True)
    pred = gm.predict(x, verbose=0)
    expected = np.abs(pred - y).mean(-1)[_kept(x)].mean()
    np.testing.assert_allclose(logs["mean_absolute_error"], expected, rtol=1e-5)
    np.testing.assert_allclose(logs["mean_absolute_error_1"], expected, rtol=1e-5)


def _subclassed_regressor(lib):
    class MaskedRegressor(lib.Model):
        def __init__(self):
            super().__init__()
            self.masking = lib.layers.Masking()
            self.hidden = lib.layers.Dense(4, activation="tanh")
            self.head = lib.layers.Dense(2)

        def call(self, inputs, training=None, mask=None):
            return self.head(self.hidden(self.masking(inputs)))
    return MaskedRegressor()


def test_a_subclassed_model_trains_on_its_masked_output_as_keras_3():
    x = _padded_sequences()
    y = np.random.default_rng(4).normal(size=(5, 6, 2)).astype("float32")
    gm = _subclassed_regressor(gn)
    gm.build((None, 6, 3))
    assert gm.outputs[0].mask is not None
    if compare_with(keras, "5 SGD steps of the same subclassed Keras model"):
        km = _subclassed_regressor(keras)
        km(x)
        gm.set_weights(km.get_weights())
        _five_sgd_steps_alike(gm, km, x, y)


@needs(onnx, onnxruntime)
def test_a_masked_model_exports_to_onnx_with_its_masked_mean(tmp_path):
    from graphnet.export import to_onnx
    i = gn.Input((6, 3))
    h = gn.layers.Dense(4)(gn.layers.Masking()(i))
    model = gn.Model(i, gn.layers.GlobalAveragePooling1D()(h))
    to_onnx(model, str(tmp_path / "masked.onnx"))
    session = onnxruntime.InferenceSession(str(tmp_path / "masked.onnx"))
    x = _padded_sequences()
    ours = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(ours, model.predict(x, verbose=0), atol=ATOL)
