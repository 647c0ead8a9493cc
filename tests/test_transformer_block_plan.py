"""The transformer block's compiled plan (bench/bench_transformer.py's block, smaller): every
projection one GEMM with its bias (and the residual) in the epilogue, the attention one
fused kernel, each LayerNormalization one kernel; the numbers as the reference backend's
and, trained, as Keras's."""
import numpy as np
import pytest

import graphnet as gn
from extras import keras, needs, train_alike
from graphnet.engine.input_layer import placeholder

RNG = np.random.default_rng(0)


def block(lib, activation="relu", d=24, heads=3, key_dim=8, ffn=40, seq=11):
    """keras-io's TransformerBlock (no dropout) as a functional model of ``lib``."""
    L = lib.layers
    inp = lib.Input((seq, d))
    attn = L.MultiHeadAttention(heads, key_dim)(inp, inp)
    out1 = L.LayerNormalization(epsilon=1e-6)(L.Add()([inp, attn]))
    ffn_out = L.Dense(d)(L.Dense(ffn, activation=activation)(out1))
    return lib.Model(inp, L.LayerNormalization(epsilon=1e-6)(L.Add()([out1, ffn_out])))


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_inference_plan_is_nine_kernels(activation):
    model = block(gn, activation)
    plan = model.predict_function().executable([(5, 11, 24)]).plan
    assert plan.kernels == ["GN_K_GEMM_BIAS_ACT"] * 3 + [
        "GN_K_ATTENTION", "GN_K_GEMM_BIAS_ACT", "GN_K_LAYER_NORM", "GN_K_GEMM_BIAS_ACT",
        "GN_K_GEMM_BIAS_ACT", "GN_K_LAYER_NORM"]
    x = RNG.standard_normal((5, 11, 24)).astype(np.float32)
    reference = gn.function(model.inputs, model.outputs, backend="reference")
    np.testing.assert_allclose(model.predict(x, verbose=0), reference(x)[0], rtol=1e-5,
                               atol=1e-5)


def test_split_bias_moves_only_onto_a_product_whose_axis_it_spans():
    """reshape(matmul) + b fuses when b spans the split axes; a bias over other axes, or
    the sum of a reshape of no product, stays an add after the reshape."""
    x = placeholder((None, 6, 8), "float32", name="x")
    w = RNG.standard_normal((8, 8)).astype(np.float32)
    split = gn.ops.reshape(gn.ops.matmul(x, w), (-1, 6, 2, 4))
    spans = RNG.standard_normal((2, 4)).astype(np.float32)
    other = RNG.standard_normal((6, 1, 1)).astype(np.float32)
    cases = {"spans": (split + spans, True), "other axes": (split + other, False),
             "no product": (gn.ops.reshape(x, (-1, 6, 2, 4)) + spans, False)}
    arrays = RNG.standard_normal((3, 6, 8)).astype(np.float32)
    for what, (out, fused) in cases.items():
        fn = gn.function([x], [out])
        kernels = fn.executable([(3, 6, 8)]).plan.kernels
        assert ("GN_K_BINARY" not in kernels) == fused, (what, kernels)
        want = gn.function([x], [out], backend="reference")(arrays)[0]
        np.testing.assert_allclose(fn(arrays)[0], want, rtol=1e-5, atol=1e-5)


@needs(keras)
def test_block_trains_as_keras():
    x = RNG.standard_normal((4, 11, 24)).astype(np.float32)
    y = RNG.standard_normal((4, 11, 24)).astype(np.float32)
    theirs, ours = block(keras, "gelu"), block(gn, "gelu")
    ours.set_weights(theirs.get_weights())
    train_alike(ours, theirs, x, y, optimizer="Adam", optimizer_args={"learning_rate": 1e-3})
