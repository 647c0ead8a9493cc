"""EinsumDense, MultiHeadAttention and dot_product_attention against Keras 3 (torch
backend): forward and five training steps within 1e-5, the inputs' masks, explicit and
causal masks, cross-attention of different query and key lengths, attention over two
axes, the scores, saving, ONNX export, gradients by finite differences, and the errors
for bad arguments and masks that do not broadcast."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, onnx, train_alike
from extras import onnxruntime as ort
from layer_check import assert_raises_naming, check_layer
from op_check import check_op

ATOL = 1e-5
RNG = np.random.default_rng(0)


def _data(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ---- EinsumDense ------------------------------------------------------------------------
# (output_shape gives every axis: where it says None, Keras's static shape keeps None and
# graphnet's, from the op rules, the input's size)

@pytest.mark.parametrize("kwargs, input_shape", [
    ({"equation": "ab,bc->ac", "output_shape": 5, "bias_axes": "c"}, (3, 4)),
    ({"equation": "abc,cd->abd", "output_shape": (7, 6), "bias_axes": "d",
      "activation": "relu"}, (3, 7, 4)),
    ({"equation": "...x,xy->...y", "output_shape": 5}, (2, 3, 4)),
    ({"equation": "abc,cde->abde", "output_shape": (5, 2, 3), "bias_axes": "de"},
     (2, 5, 4)),
    ({"equation": "abcd,cde->abe", "output_shape": (5, 6), "bias_axes": "e"}, (2, 5, 3, 4)),
    ({"equation": "ab...,bc->ac...", "output_shape": 5, "bias_axes": "c"}, (2, 3, 4, 2)),
])
def test_einsum_dense_as_keras(kwargs, input_shape):
    check_layer(gn.layers.EinsumDense, kwargs, input_shape=input_shape)


@needs(keras)
def test_einsum_dense_trains_as_keras():
    def model(lib):
        i = lib.Input((5, 4))
        h = lib.layers.EinsumDense("abc,cde->abde", (5, 2, 3), bias_axes="de",
                                   activation="tanh")(i)
        return lib.Model(i, lib.layers.EinsumDense("abde,de->ab", (5,), bias_axes="b")(h))
    keras.utils.set_random_seed(1)
    km, gm = model(keras), model(gn)
    gm.set_weights(km.get_weights())
    train_alike(gm, km, _data(6, 5, 4), _data(6, 5), "Adam", {"learning_rate": 0.01})


def test_einsum_dense_kernel_fans_over_its_input_and_output_axes():
    """Glorot over (d, heads, key_dim): fan_in d, fan_out heads * key_dim, as Keras."""
    layer = gn.layers.EinsumDense("abc,cde->abde", (None, 8, 16),
                                  kernel_initializer=gn.initializers.GlorotUniform(seed=3))
    layer.build((None, 5, 32))
    limit = np.sqrt(6.0 / (32 + 8 * 16))
    kernel = layer.get_weights()[0]
    assert kernel.shape == (32, 8, 16) and np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit


@pytest.mark.parametrize("kwargs, input_shape, words", [
    ({"equation": "ab,bc", "output_shape": 4}, (None, 3), ["invalid equation", "ab,bc"]),
    ({"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "z"}, (None, 3),
     ["bias dimension 'z'"]),
    ({"equation": "abc,cd->abd", "output_shape": (5, 4)}, (None, 3, 2),
     ["do not match at shared dimension 'b'"]),
    ({"equation": "ab,bc->ac", "output_shape": (4, 2)}, (None, 3), ["rank"]),
    ({"equation": "ab,bcd->ac", "output_shape": 4}, (None, 3), ["weight dimension 'd'"]),
])
def test_einsum_dense_bad_arguments_name_the_layer(kwargs, input_shape, words):
    def build():
        gn.layers.EinsumDense(name="proj", **kwargs).build(input_shape)
    assert_raises_naming(build, "EinsumDense 'proj'", *words)


# ---- MultiHeadAttention -----------------------------------------------------------------

def _mha_model(lib, layer_kwargs, query_shape, value_shape=None, call_kwargs=None,
               with_mask=False, pool=True):
    """query (and value) inputs -> MultiHeadAttention -> a Dense head."""
    q = lib.Input(query_shape)
    inputs, args = [q], {}
    if value_shape is not None:
        v = lib.Input(value_shape)
        inputs.append(v)
    if with_mask:
        m = lib.Input((query_shape[0], (value_shape or query_shape)[0]), dtype="bool")
        inputs.append(m)
        args["attention_mask"] = m
    layer = lib.layers.MultiHeadAttention(**layer_kwargs)
    h = layer(q, inputs[1] if value_shape is not None else q, **args, **(call_kwargs or {}))
    if pool:
        h = lib.layers.GlobalAveragePooling1D()(h) if h.ndim == 3 else lib.layers.Flatten()(h)
    return lib.Model(inputs if len(inputs) > 1 else q, lib.layers.Dense(3)(h))


CASES = {
    "self": ({"num_heads": 2, "key_dim": 4}, (5, 6), None, {}, False),
    "cross, other lengths and dims": ({"num_heads": 3, "key_dim": 4, "value_dim": 5},
                                      (5, 6), (7, 3), {}, False),
    "causal": ({"num_heads": 2, "key_dim": 3}, (6, 4), None, {"use_causal_mask": True},
               False),
    "attention_mask": ({"num_heads": 2, "key_dim": 4}, (5, 6), (7, 6), {}, True),
    "causal and attention_mask": ({"num_heads": 2, "key_dim": 4}, (5, 6), None,
                                  {"use_causal_mask": True}, True),
    "output_shape, no bias": ({"num_heads": 2, "key_dim": 4, "output_shape": 7,
                               "use_bias": False}, (5, 6), None, {}, False),
    "two attention axes": ({"num_heads": 2, "key_dim": 3, "attention_axes": (1, 2)},
                           (3, 4, 5), None, {}, False),
    "gate": ({"num_heads": 2, "key_dim": 4, "use_gate": True}, (5, 6), (7, 6), {}, False),
}


def _inputs_for(query_shape, value_shape, with_mask, batch=4):
    arrays = [_data(batch, *query_shape)]
    if value_shape is not None:
        arrays.append(_data(batch, *value_shape))
    if with_mask:
        mask = RNG.random((batch, query_shape[0], (value_shape or query_shape)[0])) > 0.4
        mask[:, :, 0] = True
        arrays.append(mask)
    return arrays if len(arrays) > 1 else arrays[0]


@needs(keras)
@pytest.mark.parametrize("case", list(CASES))
def test_multi_head_attention_trains_as_keras(case):
    layer_kwargs, qs, vs, call_kwargs, with_mask = CASES[case]
    keras.utils.set_random_seed(2)
    km = _mha_model(keras, layer_kwargs, qs, vs, call_kwargs, with_mask)
    gm = _mha_model(gn, layer_kwargs, qs, vs, call_kwargs, with_mask)
    assert [w.shape for w in gm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    gm.set_weights(km.get_weights())
    x = _inputs_for(qs, vs, with_mask)
    np.testing.assert_allclose(gm.predict(x, verbose=0), km.predict(x, verbose=0), atol=ATOL)
    # SGD: the key bias's gradient is zero but for rounding (softmax ignores a constant
    # added to every key's logit), which Adam would scale up to whole steps
    train_alike(gm, km, x, _data(4, 3), "SGD", {"learning_rate": 0.1})


@needs(keras)
def test_the_inputs_keras_masks_reach_the_attention():
    """Embedding(mask_zero) masks padded queries and keys, as Keras's layer does."""
    def model(lib):
        i = lib.Input((6,), dtype="int32")
        h = lib.layers.Embedding(10, 8, mask_zero=True)(i)
        h = lib.layers.MultiHeadAttention(2, 4)(h, h)
        return lib.Model(i, lib.layers.Dense(2)(lib.layers.GlobalAveragePooling1D()(h)))
    keras.utils.set_random_seed(4)
    km, gm = model(keras), model(gn)
    gm.set_weights(km.get_weights())
    ids = np.array([[3, 1, 4, 0, 0, 0], [9, 2, 6, 5, 3, 5], [5, 0, 0, 0, 0, 0]], np.int32)
    train_alike(gm, km, ids, _data(3, 2), "SGD", {"learning_rate": 0.1})


@needs(keras)
def test_return_attention_scores_as_keras():
    kl = keras.layers.MultiHeadAttention(2, 4)
    gl = gn.layers.MultiHeadAttention(2, 4)
    q, v = _data(3, 5, 6), _data(3, 7, 6)
    k_out, k_scores = kl(q, v, return_attention_scores=True)
    gl.build((None, 5, 6), (None, 7, 6))
    gl.set_weights(kl.get_weights())
    g_out, g_scores = gl(q, v, return_attention_scores=True)
    assert g_scores.shape == (3, 2, 5, 7)
    np.testing.assert_allclose(g_out, k_out.detach().numpy(), atol=ATOL)
    np.testing.assert_allclose(g_scores, k_scores.detach().numpy(), atol=ATOL)


def test_dropout_drops_scores_in_training_only():
    layer = gn.layers.MultiHeadAttention(2, 4, dropout=0.5, seed=1)
    q = gn.Input((5, 6))
    model = gn.Model(q, layer(q, q))
    x = _data(2, 5, 6)
    plain = gn.layers.MultiHeadAttention(2, 4)
    reference = gn.Model(q, plain(q, q))
    reference.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0),
                               atol=ATOL)
    step = gn.function([q], [layer(q, q, training=True)], training=True)
    assert np.abs(step(x)[0] - reference.predict(x, verbose=0)).max() > 1e-3


def test_saving_and_loading_keeps_outputs_and_config(tmp_path):
    gm = _mha_model(gn, {"num_heads": 2, "key_dim": 4, "value_dim": 3}, (5, 6), (7, 6),
                    {"use_causal_mask": True}, with_mask=True)
    x = _inputs_for((5, 6), (7, 6), True)
    want = gm.predict(x, verbose=0)
    gm.save(tmp_path / "mha.keras")
    again = gn.models.load_model(tmp_path / "mha.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), want, atol=1e-6)
    layer = next(l for l in again.layers if isinstance(l, gn.layers.MultiHeadAttention))
    config = layer.get_config()
    assert (config["num_heads"], config["key_dim"], config["value_dim"]) == (2, 4, 3)
    clone = gn.layers.MultiHeadAttention.from_config(config)
    assert clone.value_dim == 3 and clone.num_heads == 2


@needs(onnx, ort)
def test_multi_head_attention_exports_to_onnx():
    gm = _mha_model(gn, {"num_heads": 2, "key_dim": 4}, (5, 6), (7, 6),
                    {"use_causal_mask": True}, with_mask=False)
    proto = gn.export.to_onnx(gm)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = _inputs_for((5, 6), (7, 6), False, batch=batch)
        feed = {i.name: a for i, a in zip(sess.get_inputs(), x)}
        np.testing.assert_allclose(sess.run(None, feed)[0], gm.predict(x, verbose=0),
                                   rtol=1e-5, atol=ATOL)


def test_bad_arguments_and_inputs_name_the_layer():
    assert_raises_naming(lambda: gn.layers.MultiHeadAttention(0, 4, name="att"),
                         "MultiHeadAttention 'att'", "num_heads", "0")
    assert_raises_naming(lambda: gn.layers.MultiHeadAttention(2, 4.5, name="att"),
                         "key_dim", "4.5")
    assert_raises_naming(lambda: gn.layers.MultiHeadAttention(2, 4, dropout=1.5), "dropout")
    layer = gn.layers.MultiHeadAttention(2, 4, name="att")
    assert_raises_naming(lambda: layer.build((None, 5, 6), (None, 7, 6), (None, 8, 6)),
                         "MultiHeadAttention 'att'", "value_shape=(None, 7, 6)",
                         "key_shape=(None, 8, 6)")
    q, v = gn.Input((5, 6)), gn.Input((7, 6))
    bad_mask = gn.Input((4, 7), dtype="bool")
    assert_raises_naming(lambda: layer(q, v, attention_mask=bad_mask), "MultiHeadAttention",
                         "(None, 4, 7)", "does not broadcast")
    causal = gn.layers.MultiHeadAttention(2, 4)
    free = gn.Input((None, 6))
    assert_raises_naming(lambda: causal(free, free, use_causal_mask=True),
                         "causal mask needs known query and key lengths")
    loaded = gn.layers.MultiHeadAttention(3, 4)
    loaded.build((None, 5, 6), (None, 5, 6))
    wrong = [np.zeros((6, 2, 4), np.float32)] + loaded.get_weights()[1:]
    assert_raises_naming(lambda: loaded.set_weights(wrong), "(6, 3, 4)", "(6, 2, 4)")


# ---- dot_product_attention --------------------------------------------------------------

DPA_CASES = [
    ((2, 5, 7, 3, 3, 4), {}), ((2, 5, 7, 4, 2, 4), {}), ((2, 5, 5, 2, 1, 8), {"is_causal": True}),
    ((2, 5, 7, 2, 2, 4), {"scale": 0.3}), ((1, 1, 1, 1, 1, 3), {}),
    ((2, 6, 6, 2, 2, 4), {"mask": (2, 1, 6, 6)}), ((1, 6, 6, 2, 2, 4), {"mask": (6, 6),
                                                                        "is_causal": True}),
    ((2, 3, 4, 2, 2, 4), {"bias": (1, 2, 3, 4)}),
]


def _dpa_args(dims, kwargs):
    b, t, s, n, k, h = dims
    q, key, v = _data(b, t, n, h), _data(b, s, k, h), _data(b, s, k, h)
    kw = dict(kwargs)
    if "mask" in kw:
        kw["mask"] = RNG.random(kw["mask"]) > 0.3
        kw["mask"][..., 0] = True
    if "bias" in kw:
        kw["bias"] = _data(*kw["bias"])
    return q, key, v, kw


@pytest.mark.parametrize("dims, kwargs", DPA_CASES)
def test_dot_product_attention_as_keras_and_its_gradient(dims, kwargs):
    q, k, v, kw = _dpa_args(dims, kwargs)
    got = gn.ops.nn.dot_product_attention(q, k, v, **kw)
    assert got.shape == q.shape
    if compare_with(keras, "keras.ops.nn.dot_product_attention"):
        want = keras.ops.nn.dot_product_attention(q, k, v, **kw)
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(want), atol=ATOL)
    check_op(lambda a, b, c: gn.ops.dot_product_attention(a, b, c, **kw),
             [q.shape, k.shape, v.shape], none_axes=())


def test_dot_product_attention_bad_inputs():
    q, k, v = _data(1, 3, 2, 4), _data(1, 5, 2, 4), _data(1, 5, 2, 4)
    assert_raises_naming(lambda: gn.ops.dot_product_attention(q, _data(1, 5, 2, 3), v),
                         "head sizes differ")
    assert_raises_naming(lambda: gn.ops.dot_product_attention(_data(1, 3, 3, 4), k, v),
                         "3 heads are not a multiple of the key's 2")
    assert_raises_naming(lambda: gn.ops.dot_product_attention(
        q, k, v, mask=np.ones((1, 2, 3, 4), bool)), "mask of shape (1, 2, 3, 4)",
        "does not broadcast", "(1, 2, 3, 5)")
    assert_raises_naming(lambda: gn.ops.dot_product_attention(
        q, k, v, bias=np.ones((3, 5)), mask=np.ones((3, 5), bool)), "only one of")
    assert_raises_naming(lambda: gn.ops.dot_product_attention(q[0], k, v), "must be 4-D")


def test_multi_head_attention_exports_to_gnx_and_c(tmp_path):
    """The fused kernel in a .gnx file and in the standalone C export's self-test."""
    import os
    import subprocess
    gm = _mha_model(gn, {"num_heads": 2, "key_dim": 4}, (5, 6), None,
                    {"use_causal_mask": True})
    x = _inputs_for((5, 6), None, False, batch=2)
    gm.export(str(tmp_path / "mha.gnx"))
    np.testing.assert_allclose(gn.load_compiled(str(tmp_path / "mha.gnx"))(x),
                               gm.predict(x, verbose=0), atol=ATOL)
    out = str(tmp_path / "c")
    gn.export.to_c(gm, out, batch_size=2, name="mha")
    result = subprocess.run(["make", "-j2", "all", "test"], cwd=out, capture_output=True,
                            text=True, timeout=600, env=dict(os.environ, CFLAGS="-O1"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "mha: PASS" in result.stdout
