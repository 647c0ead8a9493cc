"""GroupQueryAttention, Attention and AdditiveAttention against Keras 3 (torch backend):
forward within 1e-5 and five training steps, the inputs' masks (Embedding mask_zero),
explicit and causal masks, cross-attention of different query and key lengths, the
scores, dropout, configs, .graphnet / .keras files both ways with Keras, ONNX export, and
the errors for bad arguments, shapes and masks."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, h5py, keras, needs, onnx, train_alike
from extras import onnxruntime as ort
from layer_check import assert_raises_naming, check_layer
from model_files import assert_files_both_ways, assert_onnx_matches

ATOL = 1e-5
RNG = np.random.default_rng(0)


def _data(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _padded_ids(batch=3):
    """Token ids of (batch, 6) queries and (batch, 7) values, zero-padded (a short and a
    long padding)."""
    q, v = RNG.integers(1, 10, (batch, 6)), RNG.integers(1, 10, (batch, 7))
    q[:, 4:], v[:, 5:], v[0, 2:] = 0, 0, 0
    return [q.astype(np.int32), v.astype(np.int32)]


# ---- GroupQueryAttention ----------------------------------------------------------------

def _gqa_model(lib, layer_kwargs, query_shape, value_shape=None, key_shape=None,
               call_kwargs=None, with_mask=False):
    """query (value, key, attention mask) inputs -> GroupQueryAttention -> a Dense head."""
    q = lib.Input(query_shape)
    inputs, args = [q], {}
    v = q
    if value_shape is not None:
        v = lib.Input(value_shape)
        inputs.append(v)
    if key_shape is not None:
        args["key"] = lib.Input(key_shape)
        inputs.append(args["key"])
    if with_mask:
        args["attention_mask"] = lib.Input((query_shape[0], (value_shape or query_shape)[0]),
                                           dtype="bool")
        inputs.append(args["attention_mask"])
    h = lib.layers.GroupQueryAttention(**layer_kwargs)(q, v, **args, **(call_kwargs or {}))
    h = lib.layers.GlobalAveragePooling1D()(h)
    return lib.Model(inputs if len(inputs) > 1 else q, lib.layers.Dense(3)(h))


GQA = {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2}
GQA_CASES = {
    "grouped cross-attention, other lengths": (GQA, (5, 8), (7, 8), None, {}, False),
    "multi-query": (dict(GQA, num_key_value_heads=1), (5, 8), None, None, {}, False),
    "as many key heads as query heads": (dict(GQA, num_key_value_heads=4), (5, 8), (3, 8),
                                         None, {}, False),
    "key of its own size": (GQA, (5, 8), (7, 8), (7, 5), {}, False),
    "causal": (GQA, (6, 8), None, None, {"use_causal_mask": True}, False),
    "attention_mask": (GQA, (5, 8), (7, 8), None, {}, True),
    "causal and attention_mask": (GQA, (5, 8), None, None, {"use_causal_mask": True}, True),
    "causal sliding window": (dict(GQA, sliding_window=2), (6, 8), None, None,
                              {"use_causal_mask": True}, False),
    "gate, no bias": (dict(GQA, use_gate=True, use_bias=False), (5, 8), (7, 8), None, {},
                      False),
}


def _attention_mask(batch, query_length, key_length):
    """(batch, T, S) booleans, the first key always kept."""
    mask = RNG.random((batch, query_length, key_length)) > 0.4
    mask[:, :, 0] = True
    return mask


def _gqa_inputs(query_shape, value_shape, key_shape, with_mask, batch=4):
    shapes = [s for s in (query_shape, value_shape, key_shape) if s is not None]
    arrays = [_data(batch, *s) for s in shapes]
    if with_mask:
        arrays.append(_attention_mask(batch, query_shape[0], (value_shape or query_shape)[0]))
    return arrays if len(arrays) > 1 else arrays[0]


@needs(keras)
@pytest.mark.parametrize("case", list(GQA_CASES))
def test_group_query_attention_trains_as_keras(case):
    layer_kwargs, qs, vs, ks, call_kwargs, with_mask = GQA_CASES[case]
    keras.utils.set_random_seed(2)
    km = _gqa_model(keras, layer_kwargs, qs, vs, ks, call_kwargs, with_mask)
    gm = _gqa_model(gn, layer_kwargs, qs, vs, ks, call_kwargs, with_mask)
    assert [w.shape for w in gm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    gm.set_weights(km.get_weights())
    x = _gqa_inputs(qs, vs, ks, with_mask)
    np.testing.assert_allclose(gm.predict(x, verbose=0), km.predict(x, verbose=0), atol=ATOL)
    # SGD, as for MultiHeadAttention: the key bias's gradient is zero but for rounding
    train_alike(gm, km, x, _data(4, 3), "SGD", {"learning_rate": 0.1})


@needs(keras)
def test_group_query_attention_reads_the_inputs_keras_masks():
    """Cross-attention of two Embedding(mask_zero) sequences: the padded queries and the
    padded keys are masked, as Keras's layer does."""
    def model(lib):
        q_ids, v_ids = lib.Input((6,), dtype="int32"), lib.Input((7,), dtype="int32")
        embed = lib.layers.Embedding(10, 8, mask_zero=True)
        h = lib.layers.GroupQueryAttention(4, 4, 2)(embed(q_ids), embed(v_ids))
        return lib.Model([q_ids, v_ids],
                         lib.layers.Dense(2)(lib.layers.GlobalAveragePooling1D()(h)))
    keras.utils.set_random_seed(4)
    km, gm = model(keras), model(gn)
    gm.set_weights(km.get_weights())
    train_alike(gm, km, _padded_ids(), _data(3, 2), "SGD", {"learning_rate": 0.1})


@needs(keras)
@pytest.mark.parametrize("causal", [False, True])
def test_group_query_attention_scores_as_keras(causal):
    kl = keras.layers.GroupQueryAttention(3, 4, 2)
    gl = gn.layers.GroupQueryAttention(3, 4, 2)
    q = _data(3, 5, 8)
    v = q if causal else _data(3, 7, 8)
    k_out, k_scores = kl(q, v, return_attention_scores=True, use_causal_mask=causal)
    gl.build((None,) + q.shape[1:], (None,) + v.shape[1:])
    gl.set_weights(kl.get_weights())
    g_out, g_scores = gl(q, v, return_attention_scores=True, use_causal_mask=causal)
    assert g_scores.shape == (3, 4, 5, v.shape[1])
    np.testing.assert_allclose(g_out, _numpy(k_out), atol=ATOL)
    np.testing.assert_allclose(g_scores, _numpy(k_scores), atol=ATOL)
    if causal:
        assert np.all(g_scores[:, :, 0, 1:] == 0)


def test_group_query_attention_dropout_in_training_only():
    q = gn.Input((5, 8))
    layer = gn.layers.GroupQueryAttention(3, 4, 2, dropout=0.5, seed=1)
    plain = gn.layers.GroupQueryAttention(3, 4, 2)
    model, reference = gn.Model(q, layer(q, q)), gn.Model(q, plain(q, q))
    reference.set_weights(model.get_weights())
    x = _data(2, 5, 8)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0),
                               atol=ATOL)
    step = gn.function([q], [layer(q, q, training=True)], training=True)
    assert np.abs(step(x)[0] - reference.predict(x, verbose=0)).max() > 1e-3


def test_group_query_attention_config_round_trip():
    layer = gn.layers.GroupQueryAttention(3, 4, 2, dropout=0.25, use_gate=True,
                                          sliding_window=3, kernel_regularizer="l2",
                                          seed=5, name="gqa")
    config = layer.get_config()
    clone = gn.layers.GroupQueryAttention.from_config(config)
    assert clone.get_config() == config
    assert (clone.head_dim, clone.num_query_heads, clone.num_key_value_heads) == (3, 4, 2)
    if compare_with(keras, "Keras's GroupQueryAttention config keys"):
        theirs = keras.layers.GroupQueryAttention(3, 4, 2).get_config()
        assert set(theirs) <= set(config), set(theirs) - set(config)
        assert keras.layers.GroupQueryAttention.from_config(config).num_repeats == 2


@needs(keras, h5py)
def test_group_query_attention_through_files_both_ways(tmp_path):
    case = (GQA, (5, 8), None, None, {"use_causal_mask": True}, True)
    layer_kwargs, qs, vs, ks, call_kwargs, with_mask = case
    assert_files_both_ways(tmp_path, lambda lib: _gqa_model(lib, layer_kwargs, qs, vs, ks,
                                                            call_kwargs, with_mask),
                           _gqa_inputs(qs, vs, ks, with_mask, batch=3))


@needs(keras, h5py)
def test_multi_head_attention_with_key_and_mask_through_files_both_ways(tmp_path):
    """The .keras mapping of layers called with several tensors serves MultiHeadAttention
    too: query and value positional, key and attention_mask as keywords."""
    def model(lib):
        q, v, k = lib.Input((5, 6)), lib.Input((7, 6)), lib.Input((7, 3))
        m = lib.Input((5, 7), dtype="bool")
        h = lib.layers.MultiHeadAttention(2, 4)(q, v, key=k, attention_mask=m)
        return lib.Model([q, v, k, m], lib.layers.Dense(2)(h))
    assert_files_both_ways(tmp_path, model, [_data(3, 5, 6), _data(3, 7, 6), _data(3, 7, 3),
                                             _attention_mask(3, 5, 7)])


@needs(onnx, ort)
def test_group_query_attention_exports_to_onnx():
    gm = _gqa_model(gn, GQA, (5, 8), (7, 8), None, {}, with_mask=True)
    assert_onnx_matches(gm, lambda b: _gqa_inputs((5, 8), (7, 8), None, True, batch=b))


def test_group_query_attention_bad_arguments_and_inputs_name_the_layer():
    assert_raises_naming(lambda: gn.layers.GroupQueryAttention(4, 3, 2, name="g"),
                         "GroupedQueryAttention 'g'", "num_query_heads", "divisible",
                         "num_query_heads=3", "num_key_value_heads=2")
    assert_raises_naming(lambda: gn.layers.GroupQueryAttention(0, 4, 2), "head_dim=0")
    assert_raises_naming(lambda: gn.layers.GroupQueryAttention(4, 4, 2, value_dim=3),
                         "GroupedQueryAttention", "unexpected keyword", "value_dim",
                         exc=TypeError)
    assert_raises_naming(lambda: gn.layers.GroupQueryAttention(4, 4, 2, flash_attention=True),
                         "flash_attention")
    layer = gn.layers.GroupQueryAttention(4, 4, 2, name="g")
    assert_raises_naming(lambda: layer.build((None, 5, 8), (None, 7, 6)),
                         "GroupedQueryAttention 'g'", "last dimension", "8", "6")
    assert_raises_naming(lambda: layer.build((None, 5, 8), (None, 7, 8), (None, 6, 8)),
                         "GroupedQueryAttention 'g'", "value_shape=(None, 7, 8)",
                         "key_shape=(None, 6, 8)")
    assert_raises_naming(lambda: layer.build((None, 2, 5, 8), (None, 2, 7, 8)), "3-D")
    q, v = gn.Input((5, 8)), gn.Input((7, 8))
    bad_mask = gn.Input((4, 7), dtype="bool")
    assert_raises_naming(lambda: layer(q, v, attention_mask=bad_mask),
                         "GroupedQueryAttention 'g'", "(None, 4, 7)", "does not broadcast")
    free = gn.Input((None, 8))
    assert_raises_naming(lambda: gn.layers.GroupQueryAttention(4, 4, 2)(
        free, free, use_causal_mask=True), "causal mask needs known query and key lengths")


# ---- Attention and AdditiveAttention ----------------------------------------------------

SCORE_CASES = [
    (gn.layers.Attention, {}), (gn.layers.Attention, {"use_scale": True}),
    (gn.layers.Attention, {"score_mode": "concat"}),
    (gn.layers.Attention, {"score_mode": "concat", "use_scale": True}),
    (gn.layers.AdditiveAttention, {}), (gn.layers.AdditiveAttention, {"use_scale": False}),
]
SCORE_IDS = [f"{cls.__name__}-{kwargs}" for cls, kwargs in SCORE_CASES]


@pytest.mark.parametrize("cls, kwargs", SCORE_CASES, ids=SCORE_IDS)
@pytest.mark.parametrize("input_shape", [[(2, 5, 4), (2, 7, 4)],
                                         [(3, 1, 4), (3, 6, 2), (3, 6, 4)]],
                         ids=["query, value", "query, value, key"])
def test_score_attention_as_keras(cls, kwargs, input_shape):
    check_layer(cls, kwargs, input_shape=input_shape)


def _masked_text_model(lib, cls, kwargs, causal):
    """Two Embedding(mask_zero) sequences -> (Additive)Attention -> pooling -> Dense: the
    query's and the value's masks reach the layer, and its output carries the query's."""
    q_ids, v_ids = lib.Input((6,), dtype="int32"), lib.Input((7,), dtype="int32")
    embed = lib.layers.Embedding(10, 4, mask_zero=True)
    h = getattr(lib.layers, cls)(**kwargs)([embed(q_ids), embed(v_ids)],
                                          use_causal_mask=causal)
    return lib.Model([q_ids, v_ids],
                     lib.layers.Dense(2)(lib.layers.GlobalAveragePooling1D()(h)))


@needs(keras)
@pytest.mark.parametrize("cls, kwargs", [("Attention", {"use_scale": True}),
                                         ("Attention", {"score_mode": "concat"}),
                                         ("AdditiveAttention", {})])
@pytest.mark.parametrize("causal", [False, True], ids=["masks", "masks and causal"])
def test_score_attention_trains_as_keras_with_masks(cls, kwargs, causal):
    keras.utils.set_random_seed(5)
    km = _masked_text_model(keras, cls, kwargs, causal)
    gm = _masked_text_model(gn, cls, kwargs, causal)
    rng = np.random.default_rng(1)
    weights = [rng.uniform(-1, 1, w.shape).astype(w.dtype) for w in km.get_weights()]
    km.set_weights(weights)
    gm.set_weights(weights)
    ids = _padded_ids()
    np.testing.assert_allclose(gm.predict(ids, verbose=0), km.predict(ids, verbose=0),
                               atol=ATOL)
    train_alike(gm, km, ids, _data(3, 2), "Adam", {"learning_rate": 0.01})


@needs(keras)
@pytest.mark.parametrize("cls", ["Attention", "AdditiveAttention"])
@pytest.mark.parametrize("causal", [False, True])
def test_score_attention_explicit_masks_and_scores_as_keras(cls, causal):
    q, v, k = _data(2, 5, 4), _data(2, 5, 3), _data(2, 5, 4)
    q_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    v_mask = np.array([[1, 1, 0, 0, 0], [1, 0, 1, 1, 0]], bool)
    kl, gl = getattr(keras.layers, cls)(), getattr(gn.layers, cls)()
    k_out, k_scores = kl([q, v, k], mask=[q_mask, v_mask], return_attention_scores=True,
                         use_causal_mask=causal)
    gl.build([(None, 5, 4), (None, 5, 3), (None, 5, 4)])
    gl.set_weights(kl.get_weights())
    g_out, g_scores = gl([q, v, k], mask=[q_mask, v_mask], return_attention_scores=True,
                         use_causal_mask=causal)
    assert g_out.shape == (2, 5, 3) and g_scores.shape == (2, 5, 5)
    np.testing.assert_allclose(g_out, _numpy(k_out), atol=ATOL)
    np.testing.assert_allclose(g_scores, _numpy(k_scores), atol=ATOL)
    assert np.all(g_out[0, 3:] == 0) and np.all(g_scores[1, :, 1] == 0)


def test_score_attention_masks_and_scores_in_a_model():
    """The output carries the query's mask, the scores none; the scores are a
    distribution over the kept values."""
    q_ids, v_ids = gn.Input((6,), dtype="int32"), gn.Input((7,), dtype="int32")
    embed = gn.layers.Embedding(10, 4, mask_zero=True)
    out, scores = gn.layers.Attention()([embed(q_ids), embed(v_ids)],
                                        return_attention_scores=True)
    assert out.mask is not None and tuple(out.mask.shape) == (None, 6)
    assert scores.mask is None
    ids = _padded_ids()
    got = gn.Model([q_ids, v_ids], scores).predict(ids, verbose=0)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-6)
    assert np.all(got[ids[1][:, None, :].repeat(6, 1) == 0] == 0)


def test_score_attention_dropout_in_training_only():
    q, v = gn.Input((5, 4)), gn.Input((6, 4))
    layer = gn.layers.Attention(dropout=0.5, seed=2)
    model = gn.Model([q, v], layer([q, v]))
    x = [_data(2, 5, 4), _data(2, 6, 4)]
    plain = gn.Model([q, v], gn.layers.Attention()([q, v])).predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), plain, atol=ATOL)
    step = gn.function([q, v], [layer([q, v], training=True)], training=True)
    assert np.abs(step(*x)[0] - plain).max() > 1e-3


@needs(keras, h5py)
@pytest.mark.parametrize("cls, kwargs", [("Attention", {"score_mode": "concat",
                                                        "use_scale": True}),
                                         ("AdditiveAttention", {"dropout": 0.1})])
def test_score_attention_through_files_both_ways(tmp_path, cls, kwargs):
    """Float inputs: Keras's own file of an Embedding-masked model holds the mask's ops
    as nodes (model_files)."""
    def model(lib):
        q, v, k = lib.Input((5, 4)), lib.Input((6, 3)), lib.Input((6, 4))
        h = getattr(lib.layers, cls)(**kwargs)([q, v, k], use_causal_mask=True)
        return lib.Model([q, v, k], lib.layers.Dense(2)(h))
    assert_files_both_ways(tmp_path, model, [_data(3, 5, 4), _data(3, 6, 3), _data(3, 6, 4)])


@needs(onnx, ort)
@pytest.mark.parametrize("cls, kwargs", [("Attention", {"use_scale": True}),
                                         ("AdditiveAttention", {})])
def test_score_attention_exports_to_onnx(cls, kwargs):
    gm = _masked_text_model(gn, cls, kwargs, causal=True)
    assert_onnx_matches(gm, lambda b: _padded_ids(b))


def test_score_attention_bad_arguments_and_inputs_name_the_layer():
    assert_raises_naming(lambda: gn.layers.Attention(score_mode="sum", name="a"),
                         "Attention 'a'", "score_mode='sum'", "'dot', 'concat'")
    assert_raises_naming(lambda: gn.layers.AdditiveAttention(dropout=1.5, name="b"),
                         "AdditiveAttention 'b'", "dropout=1.5")
    layer = gn.layers.Attention(name="a")
    q, v = gn.Input((5, 4)), gn.Input((6, 4))
    assert_raises_naming(lambda: layer(q), "Attention 'a'", "list of inputs")
    assert_raises_naming(lambda: layer([q, v, v, v]), "Attention 'a'", "list of inputs")
    assert_raises_naming(lambda: layer([q, v, gn.Input((7, 4))]), "Attention 'a'",
                         "same length", "(None, 7, 4)", "(None, 6, 4)")
    assert_raises_naming(lambda: layer([q, gn.Input((6, 3))]), "Attention 'a'",
                         "same last dimension", "(None, 5, 4)", "(None, 6, 3)")
    assert_raises_naming(lambda: layer([q, gn.Input((6,))]), "Attention 'a'", "one rank")
    x = [_data(2, 5, 4), _data(2, 6, 4)]
    assert_raises_naming(lambda: gn.layers.Attention(name="m")(
        x, mask=[None, np.ones((2, 5, 4), bool)]), "'m' (Attention)", "(2, 5, 4)", "(2, 6)")
    assert_raises_naming(lambda: gn.layers.Attention(name="m")(
        x, mask=[None, np.ones((1, 6, 4), bool)]), "Attention 'm'", "value_mask",
        "(2, 6)", "(1, 6, 4)")
    free = gn.Input((None, 4))
    assert_raises_naming(lambda: gn.layers.Attention()([free, free], use_causal_mask=True),
                         "causal mask needs known query and key lengths")
