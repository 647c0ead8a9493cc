"""The fused layer normalization (LAYER_NORM and LAYER_NORM_GRAD, csrc/layer_norm.c)
against its composite and Keras: odd row lengths, rows across threads (in a loop, for
races), which normalizations take it, training through it, and its ONNX forms. The
gradient kernel's finite differences are tests/test_ops.py's."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, onnx, train_alike
from extras import onnxruntime as ort
from graphnet.engine.input_layer import placeholder
from graphnet.graph.node import Node
from graphnet.graph.tensor import SymbolicTensor
from graphnet.ops.api import layer_norm_composite

RNG = np.random.default_rng(0)


def _both(shape, with_gamma, with_beta, epsilon):
    """(fused, composite) results over the same inputs, and the fused plan's kernels."""
    x = (RNG.standard_normal(shape) * 3 + 2).astype(np.float32)
    params = [RNG.standard_normal(shape[-1]).astype(np.float32) if use else None
              for use in (with_gamma, with_beta)]
    ph = placeholder(shape, "float32", name="x")
    fused = gn.function([ph], [gn.ops.layer_normalization(ph, *params, epsilon=epsilon)])
    composite = gn.function([ph], [layer_norm_composite(ph, *params, [len(shape) - 1],
                                                        epsilon, False)])
    kernels = fused.executable([shape]).plan.kernels
    return fused(x)[0], composite(x)[0], kernels, (x, params)


@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (2, 15), (7, 16), (5, 17), (33, 128),
                                   (4, 3, 129), (0, 8), (2, 1000)])
@pytest.mark.parametrize("with_gamma, with_beta", [(True, True), (True, False),
                                                   (False, True), (False, False)])
def test_fused_matches_float64_the_composite_and_keras(shape, with_gamma, with_beta):
    fused, composite, kernels, (x, params) = _both(shape, with_gamma, with_beta, 1e-5)
    assert kernels == ([] if 0 in shape else ["GN_K_LAYER_NORM"])
    x64 = x.astype(np.float64)
    centered = x64 - x64.mean(-1, keepdims=True)
    want = centered / np.sqrt((centered ** 2).mean(-1, keepdims=True) + 1e-5)
    want = want * (1.0 if params[0] is None else params[0]) + \
        (0.0 if params[1] is None else params[1])
    np.testing.assert_allclose(fused, want, rtol=1e-5, atol=2e-6)
    # the composite's x * inv - mean * inv cancels: rows of one lose ~|x| / sqrt(eps) ulps
    atol = 2e-6 if shape[-1] > 1 else 1e-4
    np.testing.assert_allclose(fused, composite, rtol=1e-5, atol=atol)
    if compare_with(keras, "keras.ops.layer_normalization"):
        theirs = keras.ops.layer_normalization(x, *params, epsilon=1e-5)
        np.testing.assert_allclose(fused, keras.ops.convert_to_numpy(theirs), rtol=1e-5,
                                   atol=atol)


def test_rows_split_across_threads_agree_every_time(threads2):
    """Many rows (the team splits them): 20 runs of the forward and the gradient kernels
    give the one-thread results bit for bit."""
    shape = (512, 96)
    x, dy = (RNG.standard_normal(shape).astype(np.float32) for _ in "xd")
    gamma, beta = (RNG.standard_normal(96).astype(np.float32) for _ in "gb")
    px, pd = placeholder(shape, "float32", name="x"), placeholder(shape, "float32", name="dy")
    grad = Node("LAYER_NORM_GRAD", [pd.node, gn.ops.convert_to_tensor(gamma).node, px.node],
                {"epsilon": 1e-3, "scale": True})
    fn = gn.function([px, pd], [gn.ops.layer_normalization(px, gamma, beta),
                                SymbolicTensor(grad)])
    assert fn.executable([shape, shape]).plan.kernels == ["GN_K_LAYER_NORM",
                                                          "GN_K_LAYER_NORM_GRAD"]
    gn.set_num_threads(1)
    want = fn(x, dy)
    gn.set_num_threads(2)
    for _ in range(20):
        for got, expected in zip(fn(x, dy), want):
            np.testing.assert_array_equal(got, expected)


def test_other_normalizations_keep_the_composite():
    x = placeholder((4, 6, 8), "float32", name="x")
    cases = {"two axes": gn.ops.layer_normalization(x, axis=[1, 2]),
             "a middle axis": gn.ops.layer_normalization(x, axis=1),
             "rms scaling": gn.ops.layer_normalization(x, np.ones(8, np.float32),
                                                       rms_scaling=True)}
    for what, out in cases.items():
        kernels = gn.function([x], [out]).executable([(4, 6, 8)]).plan.kernels
        assert "GN_K_LAYER_NORM" not in kernels, what


def _dense_norm(lib):
    inp = lib.Input((5, 12))
    return lib.Model(inp, lib.layers.LayerNormalization(epsilon=1e-3)(
        lib.layers.Dense(12)(inp)))


@needs(keras)
def test_training_through_the_fused_kernel_as_keras():
    """Five Adam steps of Dense -> LayerNormalization (the fused kernel in the forward, the
    composite's gradient) as Keras's, from Keras's weights."""
    x = RNG.standard_normal((16, 5, 12)).astype(np.float32)
    y = RNG.standard_normal((16, 5, 12)).astype(np.float32)
    theirs, ours = _dense_norm(keras), _dense_norm(gn)
    ours.set_weights(theirs.get_weights())
    train_alike(ours, theirs, x, y, optimizer="Adam", optimizer_args={"learning_rate": 0.01})
    ours.compile(optimizer="adam", loss="mse")
    kernels = ours.profile_train_step(x, y, repeats=1).kernels
    assert "GN_K_LAYER_NORM" in kernels and "GN_K_LAYER_NORM_GRAD" in kernels


@needs(onnx, ort)
@pytest.mark.parametrize("opset", [13, 17])
def test_onnx_forms(opset):
    """Opset 17 on: ONNX's LayerNormalization; before it, the composite's ops."""
    inp = gn.Input((6, 10))
    model = gn.Model(inp, gn.layers.LayerNormalization(epsilon=1e-6)(inp))
    model.layers[1].set_weights([RNG.standard_normal(10).astype(np.float32)
                                 for _ in "gb"])
    proto = gn.export.to_onnx(model, opset=opset)
    ops = {n.op_type for n in proto.graph.node}
    assert ("LayerNormalization" in ops) == (opset >= 17)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = (RNG.standard_normal((3, 6, 10)) * 2).astype(np.float32)
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0],
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
