"""Embedding against Keras 3 (torch backend): lookups of any integer dtype and rank, the
float inputs Keras casts, mask_zero's mask through pooling, training steps with SGD and
Adam (repeated indices, a regularizer and a constraint), config and saving round trips,
exports, and the errors for bad arguments and out-of-range indices."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, onnx, onnxruntime, train_alike

ATOL = 1e-5
IDS = np.array([[3, 1, 4, 1, 5, 0], [9, 2, 6, 0, 0, 0], [5, 3, 5, 8, 9, 7]], np.int32)


def _layer_pair(**kwargs):
    """A built graphnet Embedding(10, 4) and, with Keras, Keras's with the same table."""
    ours = gn.layers.Embedding(10, 4, **kwargs)
    ours.build()
    theirs = None
    if compare_with(keras, "the same Keras Embedding"):
        theirs = keras.layers.Embedding(10, 4, **kwargs)
        theirs.build()
        ours.set_weights(theirs.get_weights())
    return ours, theirs


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "float32"])
def test_lookup_of_any_index_dtype_equals_the_table_rows(dtype):
    layer, theirs = _layer_pair()
    i = gn.Input((None,), dtype=dtype)
    model = gn.Model(i, layer(i))
    got = model.predict(IDS.astype(dtype), verbose=0)
    np.testing.assert_array_equal(got, layer.embeddings.numpy()[IDS])
    if theirs is not None:
        np.testing.assert_allclose(got, theirs(IDS.astype(dtype)).detach().numpy(), atol=ATOL)


def test_indices_of_any_rank_and_negative_ones_count_from_the_end():
    layer, _ = _layer_pair()
    i = gn.Input((2, 3), dtype="int64")
    model = gn.Model(i, layer(i))
    ids = np.array([[[1, -1, 2], [0, -10, 9]]], np.int64)
    assert model.output_shape == (None, 2, 3, 4)
    np.testing.assert_array_equal(model.predict(ids, verbose=0),
                                  layer.embeddings.numpy()[ids])


def test_an_index_out_of_range_stops_the_run_with_an_index_error():
    layer, _ = _layer_pair()
    i = gn.Input((6,), dtype="int32")
    model = gn.Model(i, layer(i))
    for bad in (10, -11, 1 << 30):
        ids = IDS.copy()
        ids[1, 2] = bad
        with pytest.raises(IndexError, match=rf"GN_K_GATHER of layer '{layer.name}'\): "
                                             r"an index is outside \[-n, n\)"):
            model.predict(ids, verbose=0)
    np.testing.assert_array_equal(model.predict(IDS, verbose=0),
                                  layer.embeddings.numpy()[IDS])  # nothing corrupted


def test_mask_zero_masks_the_padding_as_keras():
    layer, theirs = _layer_pair(mask_zero=True)
    i = gn.Input((6,), dtype="int32")
    out = layer(i)
    assert layer.supports_masking and out.mask is not None
    model = gn.Model(i, [out, gn.layers.GlobalAveragePooling1D()(out)])
    _, pooled = model.predict(IDS, verbose=0)
    kept = (IDS != 0)[..., None]
    rows = layer.embeddings.numpy()[IDS]
    np.testing.assert_allclose(pooled, (rows * kept).sum(1) / kept.sum(1), atol=ATOL)
    mask_fn = gn.function([i], out.mask)
    np.testing.assert_array_equal(mask_fn(IDS), IDS != 0)
    if theirs is not None:
        np.testing.assert_array_equal(
            theirs.compute_mask(IDS).detach().numpy(), IDS != 0)
        ki = keras.Input((6,), dtype="int32")
        km = keras.Model(ki, keras.layers.GlobalAveragePooling1D()(theirs(ki)))
        np.testing.assert_allclose(pooled, km.predict(IDS, verbose=0), atol=ATOL)
    plain, _ = _layer_pair()
    assert not plain.supports_masking and plain(i).mask is None


def _classifier(lib, **embedding_kwargs):
    i = lib.Input((6,), dtype="int32")
    h = lib.layers.Embedding(10, 4, **embedding_kwargs)(i)
    h = lib.layers.GlobalAveragePooling1D()(h)
    return lib.Model(i, lib.layers.Dense(3, activation="softmax")(h))


@needs(keras)
@pytest.mark.parametrize("optimizer, kwargs", [
    ("SGD", {"mask_zero": True}),
    ("Adam", {}),
    ("SGD", {"embeddings_regularizer": "l2",
             "embeddings_constraint": {"class_name": "MaxNorm",
                                       "config": {"max_value": 0.06, "axis": 1}}}),
])
def test_training_steps_match_keras(optimizer, kwargs):
    keras.utils.set_random_seed(3)   # the same starting weights every run (Adam's steps
    km, gm = _classifier(keras, **kwargs), _classifier(gn, **kwargs)   # from some drift)
    gm.set_weights(km.get_weights())
    y = np.array([0, 2, 1])
    args = {"learning_rate": 0.5} if optimizer == "SGD" else {"learning_rate": 0.05}
    train_alike(gm, km, IDS, y, optimizer, args, loss="sparse_categorical_crossentropy",
                metrics=["accuracy"], atol=ATOL)


def test_only_the_looked_up_rows_train_and_repeats_add_up():
    i = gn.Input((6,), dtype="int32")
    layer = gn.layers.Embedding(10, 4)
    model = gn.Model(i, gn.layers.Flatten()(layer(i)))
    model.compile(gn.optimizers.SGD(1.0), "mse")
    before = layer.embeddings.numpy()
    ids = IDS.copy()
    ids[ids == 7] = 3                                    # row 7 unused, row 3 used 3 times
    model.train_on_batch(ids, np.zeros((3, 24), "float32"))
    after = layer.embeddings.numpy()
    counts = np.bincount(ids.ravel(), minlength=10)
    assert counts[7] == 0 and counts[3] == 3
    np.testing.assert_array_equal(after[7], before[7])
    # mse over 72 outputs: d/dw = 2 * w / 72 per use; SGD(1) subtracts it per use
    np.testing.assert_allclose(after, before * (1 - 2 * counts[:, None] / 72), atol=1e-6)


def test_config_saving_and_initial_weights_round_trip(tmp_path):
    table = np.arange(40, dtype="float32").reshape(10, 4)
    layer = gn.layers.Embedding(10, 4, mask_zero=True, weights=table,
                                embeddings_regularizer="l2")
    np.testing.assert_array_equal(layer.get_weights()[0], table)
    config = layer.get_config()
    assert config["input_dim"] == 10 and config["mask_zero"] is True
    assert config["embeddings_initializer"]["class_name"] == "RandomUniform"
    clone = gn.layers.Embedding.from_config(config)
    assert clone.mask_zero and clone.output_dim == 4
    i = gn.Input((6,), dtype="int32")
    model = gn.Model(i, gn.layers.GlobalAveragePooling1D()(layer(i)))
    model.save(str(tmp_path / "emb.graphnet"))
    loaded = gn.models.load_model(str(tmp_path / "emb.graphnet"))
    np.testing.assert_array_equal(loaded.predict(IDS, verbose=0), model.predict(IDS, verbose=0))
    if compare_with(keras, "Keras builds its Embedding from our config"):
        theirs = keras.layers.Embedding.from_config(
            {k: v for k, v in config.items() if k != "dtype"})
        assert theirs.mask_zero and theirs.input_dim == 10


def test_a_sequential_builds_on_its_first_batch():
    seq = gn.Sequential([gn.layers.Embedding(1000, 8), gn.layers.Flatten(),
                         gn.layers.Dense(1)])
    ids = np.random.default_rng(0).integers(0, 1000, size=(5, 7))
    assert seq.predict(ids, verbose=0).shape == (5, 1)
    assert seq.layers[0].embeddings.shape == (1000, 8)


@pytest.mark.parametrize("kwargs, match", [
    ({"input_dim": 0, "output_dim": 4}, r"`input_dim` must be a positive integer.*got "
                                        r"input_dim=0"),
    ({"input_dim": 10, "output_dim": 2.5}, r"`output_dim` must be a positive integer"),
    ({"input_dim": True, "output_dim": 4}, r"input_dim=True \(of type bool\)"),
    ({"input_dim": 10, "output_dim": 4, "lora_rank": 2}, r"lora_rank is not supported"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gn.layers.Embedding(**kwargs)


def test_bad_weights_and_the_deprecated_input_length():
    with pytest.raises(ValueError, match=r"shape \(10, 4\), got an array of shape \(4, 10\)"):
        gn.layers.Embedding(10, 4, weights=np.zeros((4, 10), "float32"))
    with pytest.warns(UserWarning, match="input_length"):
        gn.layers.Embedding(10, 4, input_length=6)


def _text_model():
    i = gn.Input((6,), dtype="int32")
    h = gn.layers.GlobalAveragePooling1D()(gn.layers.Embedding(10, 4)(i))
    return gn.Model(i, gn.layers.Dense(2)(h))


def test_exports_to_gnx(tmp_path):
    model = _text_model()
    model.export(str(tmp_path / "emb.gnx"))
    fast = gn.load_compiled(str(tmp_path / "emb.gnx"))
    np.testing.assert_allclose(fast(IDS), model.predict(IDS, verbose=0), atol=ATOL)


@needs(onnx, onnxruntime)
def test_exports_to_onnx(tmp_path):
    from graphnet.export import to_onnx
    model = _text_model()
    to_onnx(model, str(tmp_path / "emb.onnx"))
    session = onnxruntime.InferenceSession(str(tmp_path / "emb.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: IDS})[0]
    np.testing.assert_allclose(got, model.predict(IDS, verbose=0), atol=ATOL)
