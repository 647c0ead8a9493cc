"""BatchNormalization folded into the preceding convolution or dense kernel at inference
(graphnet/compiler/fold_bn.py): the structure after the "fold" phase, the numbers
against the reference interpreter, and folded plans following weight changes."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.compiler import CompileReport, run_phases, specialize
from graphnet.graph import topological_order

L = gn.layers
RULE = "fold_batch_norm"


def _randomize_bn(model, rng):
    """Non-trivial gamma, beta and moving statistics (the initial ones are 1, 0, 0, 1)."""
    for w in model.weights:
        name = w.name.split("/")[-1]
        if name in ("gamma", "moving_variance"):
            w.assign(rng.uniform(0.5, 2.0, w.shape))
        elif name in ("beta", "moving_mean", "bias"):
            w.assign(rng.normal(size=w.shape))


def _model(input_shape, *layers, seed=0):
    inp = gn.Input(input_shape)
    y = inp
    for layer in layers:
        y = layer(y)
    model = gn.Model(inp, y)
    _randomize_bn(model, np.random.default_rng(seed))
    return model


def _explain(model, batch):
    """The model's CompileReport for this batch size and its graph after the "fold"
    phase (nodes in topological order)."""
    shape = (batch,) + tuple(model.inputs[0].shape[1:])
    report = gn.function(model.inputs, model.outputs[0]).explain([shape])
    _, outputs = specialize([t.node for t in model.inputs], [model.outputs[0].node], [shape])
    folded = topological_order(run_phases(outputs, CompileReport(), ["simplify", "fold"]))
    return report, folded


def _ops_at(folded, shape):
    """Op names of the nodes of that shape in the folded graph, in graph order."""
    return [n.op.name for n in folded if n.shape == tuple(shape)]


def _assert_folded(report, folded, out_shape):
    """At the layer's output shape only the contraction, one bias ADD and what follows
    BN remain: the BN multiply and add (and the old bias add) are gone."""
    assert report.fired[RULE] == 1
    at_output = _ops_at(folded, out_shape)
    assert at_output[0] in ("CONV", "MATMUL"), at_output
    assert at_output[1:2] in ([], ["ADD"]) and "MUL" not in at_output, at_output
    assert at_output.count("ADD") <= 1, at_output


def _assert_same_numbers(model, x, atol=1e-5):
    compiled = gn.function(model.inputs, model.outputs[0])(x)
    reference = gn.function(model.inputs, model.outputs[0], backend="reference")(x)
    np.testing.assert_allclose(compiled, reference, rtol=1e-5, atol=atol)
    return compiled


def _images(shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_then_batch_norm_folds_into_the_kernel(use_bias):
    model = _model((9, 7, 3), L.Conv2D(8, 3, padding="same", use_bias=use_bias),
                   L.BatchNormalization())
    report, folded = _explain(model, 4)
    _assert_folded(report, folded, (4, 9, 7, 8))
    _assert_same_numbers(model, _images((4, 9, 7, 3)))


def test_conv2d_batch_norm_relu_ends_in_conv_and_one_bias_relu_pass():
    model = _model((8, 8, 3), L.Conv2D(5, 3), L.BatchNormalization(), L.ReLU())
    report, folded = _explain(model, 3)
    _assert_folded(report, folded, (3, 6, 6, 5))
    final = report.graphs["fuse"]
    assert "RSQRT" in final  # the scale is computed from the variables at run time ...
    assert final.count("(3, 6, 6, 5) float32") <= 2  # the conv, then bias + relu (or fused)
    out = _assert_same_numbers(model, _images((3, 8, 8, 3)))
    assert out.min() == 0.0


@pytest.mark.parametrize("input_shape, batch", [((6,), 16), ((5, 6), 4)])
def test_dense_then_batch_norm_folds_into_the_kernel_and_fuses(input_shape, batch):
    model = _model(input_shape, L.Dense(7), L.BatchNormalization(), L.Activation("relu"))
    report, folded = _explain(model, batch)
    _assert_folded(report, folded, (batch,) + input_shape[:-1] + (7,))
    if len(input_shape) == 1:
        assert "MATMUL_BIAS_ACT" in report.graphs["fuse"]
    _assert_same_numbers(model, _images((batch,) + input_shape))


def test_grouped_conv_folds_per_output_channel():
    model = _model((6, 6, 4), L.Conv2D(6, 3, groups=2), L.BatchNormalization())
    report, folded = _explain(model, 5)
    _assert_folded(report, folded, (5, 4, 4, 6))
    _assert_same_numbers(model, _images((5, 6, 6, 4)))


def test_depthwise_conv_with_a_channel_multiplier_folds_per_output_channel():
    model = _model((7, 7, 3), L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
                   L.BatchNormalization())
    report, folded = _explain(model, 2)
    _assert_folded(report, folded, (2, 7, 7, 6))
    _assert_same_numbers(model, _images((2, 7, 7, 3)))


def test_conv1d_and_separable_conv_fold():
    model = _model((11, 4), L.Conv1D(6, 3), L.BatchNormalization(),
                   L.SeparableConv1D(5, 3), L.BatchNormalization())
    report, _ = _explain(model, 3)
    assert report.fired[RULE] == 2
    _assert_same_numbers(model, _images((3, 11, 4)))


def test_batch_norm_over_a_spatial_axis_is_left_alone():
    model = _model((6, 5, 3), L.Conv2D(4, 1), L.BatchNormalization(axis=1))
    report, _ = _explain(model, 2)
    assert report.fired[RULE] == 0
    _assert_same_numbers(model, _images((2, 6, 5, 3)))


def test_channels_first_conv_is_left_alone():
    model = _model((3, 6, 6), L.Conv2D(4, 3, data_format="channels_first"),
                   L.BatchNormalization(axis=1))
    report, _ = _explain(model, 2)
    assert report.fired[RULE] == 0
    _assert_same_numbers(model, _images((2, 3, 6, 6)))


def test_no_fold_when_the_kernel_is_larger_than_the_output():
    """Folding recomputes W * scale every run: not worth it for one row through a big
    dense layer, where BN on the output touches fewer elements."""
    model = _model((64,), L.Dense(32), L.BatchNormalization())
    report, _ = _explain(model, 1)
    assert report.fired[RULE] == 0
    report, _ = _explain(model, 64)
    assert report.fired[RULE] == 1


def test_no_fold_when_the_convolution_output_is_also_read_elsewhere():
    inp = gn.Input((6, 6, 2))
    conv = L.Conv2D(3, 3)(inp)
    out = L.Add()([L.BatchNormalization()(conv), conv])
    model = gn.Model(inp, out)
    _randomize_bn(model, np.random.default_rng(2))
    report, _ = _explain(model, 2)
    assert report.fired[RULE] == 0
    _assert_same_numbers(model, _images((2, 6, 6, 2)))


def test_training_graph_keeps_batch_statistics():
    model = _model((6, 6, 2), L.Conv2D(3, 3), L.BatchNormalization())
    f = gn.function(model.inputs, model.outputs[0], training=True)
    report = f.explain([(4, 6, 6, 2)])
    assert report.fired[RULE] == 0
    x = _images((4, 6, 6, 2))
    ref = gn.function(model.inputs, model.outputs[0], training=True, backend="reference")(x)
    np.testing.assert_allclose(f(x), ref, rtol=1e-4, atol=1e-4)


def test_constant_weights_are_folded_at_compile_time():
    x = gn.Input((5,))
    kernel = np.random.default_rng(3).normal(size=(5, 4)).astype("float32")
    scale = np.array([1.0, 2.0, 0.5, -1.0], "float32")
    y = gn.ops.add(gn.ops.multiply(gn.ops.matmul(x, kernel), scale), np.ones(4, "float32"))
    f = gn.function(x, y)
    report = f.explain([(8, 5)])
    assert report.fired[RULE] == 1
    assert "= MUL(" not in report.graphs["fuse"] and "CONSTANT" in report.graphs["fuse"]
    a = _images((8, 5))
    np.testing.assert_allclose(f(a), (a @ kernel) * scale + 1.0, rtol=1e-5, atol=1e-5)


def test_folded_plan_follows_set_weights():
    model = _model((8, 8, 3), L.Conv2D(4, 3), L.BatchNormalization(), L.ReLU())
    x = _images((2, 8, 8, 3))
    before = model.predict_on_batch(x)
    _randomize_bn(model, np.random.default_rng(7))
    weights = model.get_weights()
    weights[0] = weights[0] * -1.5
    model.set_weights(weights)
    after = model.predict_on_batch(x)
    want = gn.function(model.inputs, model.outputs[0], backend="reference")(x)
    np.testing.assert_allclose(after, want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(before, after)


def test_folded_plan_follows_a_training_step():
    model = _model((6, 6, 2), L.Conv2D(4, 3), L.BatchNormalization(momentum=0.5),
                   L.Flatten(), L.Dense(3))
    model.compile(optimizer=gn.optimizers.SGD(0.1), loss="mse")
    x, y = _images((8, 6, 6, 2)), _images((8, 3), seed=4)
    before = model.predict_on_batch(x)
    bn = next(layer for layer in model.layers if isinstance(layer, L.BatchNormalization))
    moving_mean = bn.moving_mean.numpy()
    model.train_on_batch(x, y)
    assert not np.allclose(bn.moving_mean.numpy(), moving_mean)
    after = model.predict_on_batch(x)
    want = gn.function(model.inputs, model.outputs[0], backend="reference")(x)
    np.testing.assert_allclose(after, want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(before, after)
    assert model._predict_fn.last_report.fired[RULE] == 1  # the cached, folded plan


def test_graph_ops_after_fold_name_no_batch_norm_multiply():
    model = _model((5,), L.Dense(3), L.BatchNormalization())
    report, folded = _explain(model, 10)
    assert report.fired[RULE] == 1
    assert _ops_at(folded, (10, 3)) == ["MATMUL", "ADD"]
