"""Cross-entropy of a softmax (sigmoid) output computed from its logits (graphnet/losses.py,
``_logits_of``): the training graph, the numbers and gradients against the clipped
probability form, finite differences, and training with the fused vs the unfused loss."""
import numpy as np
import pytest

import graphnet as gn
from graphnet import losses, ops
from graphnet.engine.input_layer import placeholder
from graphnet.graph import topological_order
from op_check import check_op

L = gn.layers
EPS = 1e-7


# ---- the unfused forms: Keras 3's probability formulas, written out ---------------------

def unfused_categorical(y, p, axis=-1):
    p = p / ops.sum(p, axis=axis, keepdims=True)
    return ops.negative(ops.sum(y * ops.log(ops.clip(p, EPS, 1.0 - EPS)), axis=axis))


def unfused_sparse(labels, p):
    return unfused_categorical(ops.one_hot(labels, p.shape[-1], dtype=p.dtype), p)


def unfused_binary(y, p):
    p = ops.clip(p, EPS, 1.0 - EPS)
    return ops.mean(ops.negative(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p)), axis=-1)


def _graph_ops(tensors):
    return [n.op.name for n in topological_order([t.node for t in tensors])]


def _probability_readers(tensors, prob_op):
    """Op names of the nodes reading a ``prob_op`` node (SOFTMAX, SIGMOID)."""
    order = topological_order([t.node for t in tensors])
    return sorted({n.op.name for n in order for x in n.inputs if x.op.name == prob_op})


RNG = np.random.default_rng(5)
N, C = 7, 5
LOGITS = (RNG.standard_normal((N, C)) * 2).astype("float32")
LABELS = RNG.integers(0, C, N)
ONEHOT = np.eye(C, dtype="float32")[LABELS]
SOFT = RNG.dirichlet(np.ones(C), size=N).astype("float32")  # soft labels: sum(y) = 1
HEAVY = SOFT * 2.5                                           # sum(y) != 1


# ---- the graph -------------------------------------------------------------------------

@pytest.mark.parametrize("loss, fn", [
    (losses.categorical_crossentropy, ops.softmax),
    (losses.sparse_categorical_crossentropy, ops.softmax),
    (losses.binary_crossentropy, ops.sigmoid),
])
def test_loss_of_a_probability_op_reads_the_logits(loss, fn):
    z = placeholder((None, C))
    y = placeholder((None,) if loss is losses.sparse_categorical_crossentropy else (None, C))
    value = loss(y, fn(z))
    names = _graph_ops([value])
    assert "CLIP" not in names and "LOG" not in names and "DIV" not in names, names
    assert ("LOG_SOFTMAX" in names) == (fn is ops.softmax)
    grad, = gn.gradients(ops.sum(value), [z])
    names = _graph_ops([grad])
    assert "CLIP" not in names and "LOG" not in names and "DIV" not in names, names


def test_softmax_over_another_axis_keeps_the_probability_form():
    z = placeholder((None, 3, C))
    value = losses.categorical_crossentropy(placeholder((None, 3, C)), ops.softmax(z, axis=1))
    assert "CLIP" in _graph_ops([value])


def test_training_step_has_no_clip_log_or_div_on_the_probabilities():
    model = _mlp()
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    x, y = _mnist_like(16)
    model.train_on_batch(x, y)
    step, = model._step_fns.values()
    tensors = [gn.SymbolicTensor(n) for n in step.output_nodes + [u for _, u in step.updates]]
    names = _graph_ops(tensors)
    assert "CLIP" not in names and "LOG" not in names
    assert _probability_readers(tensors, "SOFTMAX") in ([], ["ARGMAX"])  # accuracy only


# ---- numbers and gradients against the unfused form --------------------------------------

def _value_and_grad(loss_fn, labels, logits, fn):
    z = placeholder((None,) + logits.shape[1:])
    y = placeholder((None,) + labels.shape[1:], dtype=str(labels.dtype))
    value = loss_fn(y, fn(z))
    grad, = gn.gradients(ops.mean(value), [z])
    return gn.function([z, y], [value, grad])(logits, labels)


@pytest.mark.parametrize("labels", [ONEHOT, SOFT, HEAVY], ids=["onehot", "soft", "sum!=1"])
def test_categorical_matches_the_unfused_form(labels):
    fused = _value_and_grad(losses.categorical_crossentropy, labels, LOGITS, ops.softmax)
    plain = _value_and_grad(unfused_categorical, labels, LOGITS, ops.softmax)
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    p = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
    want = (p * labels.sum(-1, keepdims=True) - labels) / N   # the fused gradient, mean
    np.testing.assert_allclose(fused[1], want, rtol=1e-5, atol=1e-6)


def test_sparse_categorical_matches_the_unfused_form():
    labels = LABELS.astype("int64")
    fused = _value_and_grad(losses.sparse_categorical_crossentropy, labels, LOGITS, ops.softmax)
    plain = _value_and_grad(unfused_sparse, labels, LOGITS, ops.softmax)
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_binary_matches_the_unfused_form():
    labels = RNG.random((N, C)).astype("float32")
    fused = _value_and_grad(losses.binary_crossentropy, labels, LOGITS, ops.sigmoid)
    plain = _value_and_grad(unfused_binary, labels, LOGITS, ops.sigmoid)
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    s = 1 / (1 + np.exp(-LOGITS))
    np.testing.assert_allclose(fused[1], (s - labels) / (N * C), rtol=1e-5, atol=1e-6)


def test_loss_classes_and_sample_weights_take_the_fused_form():
    z, y, w = placeholder((None, C)), placeholder((None, C)), placeholder((None,))
    value = losses.CategoricalCrossentropy(reduction="sum")(y, ops.softmax(z), w)
    plain = ops.sum(unfused_categorical(y, ops.softmax(z)) * w)
    assert "CLIP" not in _graph_ops([value])
    weights = RNG.random(N).astype("float32")
    got, want = gn.function([z, y, w], [value, plain])(LOGITS, SOFT, weights)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_saturated_softmax_differs_from_the_clipped_form_as_documented():
    """Only saturated probabilities differ: the fused loss is the exact -log_softmax (and
    keeps its gradient), the clipped one stops at -log(1e-7) with a zero gradient."""
    logits = np.array([[40.0, 0.0, -5.0]], "float32")
    labels = np.array([[0.0, 1.0, 0.0]], "float32")
    fused = _value_and_grad(losses.categorical_crossentropy, labels, logits, ops.softmax)
    plain = _value_and_grad(unfused_categorical, labels, logits, ops.softmax)
    np.testing.assert_allclose(fused[0], [40.0], rtol=1e-5)
    np.testing.assert_allclose(plain[0], [-np.log(EPS)], rtol=1e-5)
    np.testing.assert_allclose(fused[1], [[1.0, -1.0, 0.0]], atol=1e-6)
    assert np.all(np.isfinite(plain[1]))


# ---- finite differences (float64) and C vs reference, through check_op -------------------

def test_categorical_gradient_by_finite_differences():
    check_op(lambda z, y: losses.categorical_crossentropy(y, ops.softmax(z)), [(6, 5), (6, 5)],
             domain=[(-3.0, 3.0), (0.0, 1.0)])


def test_sparse_categorical_gradient_by_finite_differences():
    check_op(lambda z, y: losses.sparse_categorical_crossentropy(y, ops.softmax(z)),
             [(6, 4), (6,)], dtypes=["float", "int64"], domain=[(-3.0, 3.0), (0, 3)],
             none_axes=[(0,), (0,)])


def test_binary_gradient_by_finite_differences():
    check_op(lambda z, y: losses.binary_crossentropy(y, ops.sigmoid(z)), [(6, 3), (6, 3)],
             domain=[(-4.0, 4.0), (0.0, 1.0)])


# ---- training: fused vs unfused ----------------------------------------------------------

def _mlp():
    return gn.Sequential([gn.Input((20,)), L.Dense(16, activation="relu"),
                          L.Dense(10, activation="softmax")])


def _mnist_like(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 20), dtype=np.float32), \
        gn.utils.to_categorical(rng.integers(0, 10, n), 10)


@pytest.mark.parametrize("fused_loss", ["categorical_crossentropy",
                                        "sparse_categorical_crossentropy"])
def test_training_with_fused_and_unfused_loss_gives_the_same_weights(fused_loss):
    """The unfused model learns from one-hot labels through the clipped probability form."""
    fused, plain = _mlp(), _mlp()
    plain.set_weights(fused.get_weights())
    fused.compile(loss=fused_loss, optimizer=gn.optimizers.SGD(0.5))
    plain.compile(loss=unfused_categorical, optimizer=gn.optimizers.SGD(0.5))
    for step in range(5):
        x, y = _mnist_like(32, seed=step)
        labels = y.argmax(-1).astype("int64") if fused_loss.startswith("sparse") else y
        a, b = fused.train_on_batch(x, labels), plain.train_on_batch(x, y)
        np.testing.assert_allclose(a, b, rtol=1e-5)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_fused_training_step_runs_fewer_kernels():
    x, y = _mnist_like(32)
    counts = []
    for loss in ("categorical_crossentropy", unfused_categorical):
        model = _mlp()
        model.compile(loss=loss, optimizer="rmsprop")
        model.train_on_batch(x, y)
        step, = model._step_fns.values()
        counts.append(step.executable([x.shape, y.shape, (32,)]).plan.kernel_count)
    assert counts[0] < counts[1], counts


# ---- simplifications the training step relies on (graphnet/compiler/simplify.py) --------

def _report(inputs, output, shapes):
    return gn.function(inputs, output).explain(shapes)


def test_adding_a_zeros_like_is_removed():
    x = placeholder((None, 3))
    y = ops.relu(ops.add(ops.zeros_like(x), ops.multiply(x, ops.ones_like(x))))
    report = _report([x], y, [(4, 3)])
    assert report.fired["remove_neutral_operand"] == 2
    assert "FULL_LIKE" not in report.graphs["fuse"]
    a = RNG.standard_normal((4, 3)).astype("float32")
    np.testing.assert_allclose(gn.function([x], y)(a), np.maximum(a, 0))


def test_a_sum_of_a_filled_array_becomes_a_constant_once_shapes_are_known():
    x = placeholder((None, 3))
    count = ops.sum(ops.ones_like(x))
    report = _report([x], ops.divide(x, count), [(4, 3)])
    assert report.fired["fold_sum_of_full_like"] == 1
    assert "REDUCE_SUM" not in report.graphs["fuse"] and "FULL_LIKE" not in report.graphs["fuse"]
    a = RNG.standard_normal((4, 3)).astype("float32")
    np.testing.assert_allclose(gn.function([x], ops.divide(x, count))(a), a / 12, rtol=1e-6)


def test_a_scalar_full_like_becomes_a_constant():
    x = placeholder(())
    report = _report([x], ops.add(x, ops.full_like(x, 2.5)), [()])
    assert report.fired["fold_scalar_full_like"] == 1
    assert "FULL_LIKE" not in report.graphs["fuse"]


def test_broadcast_into_an_elementwise_op_is_left_to_the_op():
    a, b = placeholder((None, 1)), placeholder((None, 3))
    y = ops.multiply(ops.broadcast_to(a, (4, 3)), b)
    report = _report([a, b], y, [(4, 1), (4, 3)])
    assert report.fired["remove_broadcast_into_binary"] == 1
    assert "BROADCAST_TO" not in report.graphs["fuse"]
    u, v = RNG.standard_normal((4, 1)).astype("float32"), RNG.standard_normal((4, 3))
    np.testing.assert_allclose(gn.function([a, b], y)(u, v.astype("float32")), u * v, rtol=1e-6)
