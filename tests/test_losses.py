"""Losses: every function, alias and class against keras.losses (torch backend)."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs
from graphnet import losses
from graphnet.engine.input_layer import placeholder

rng = np.random.default_rng(7)
N, C = 9, 5
PROBS = rng.dirichlet(np.ones(C), size=N).astype("float32")
LOGITS = (rng.standard_normal((N, C)) * 3).astype("float32")
LABELS = rng.integers(0, C, N)
ONEHOT = np.eye(C, dtype="float32")[LABELS]
POS = (rng.random((N, C)) + 0.1).astype("float32")
REAL = rng.standard_normal((N, C)).astype("float32")
SIGNS = rng.choice([-1.0, 1.0], size=(N, C)).astype("float32")
BINARY = rng.integers(0, 2, (N, 1)).astype("float32")
BIN_P = rng.random((N, 1)).astype("float32")


def close(a, b, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64"),
                               rtol=rtol, atol=atol)


# (graphnet name, keras.losses function name, y_true, y_pred)
CASES = [
    ("mean_squared_error", "mean_squared_error", REAL, POS),
    ("mse", "mean_squared_error", REAL, POS),
    ("MSE", "mean_squared_error", REAL, POS),
    ("mean_absolute_error", "mean_absolute_error", REAL, POS),
    ("mae", "mean_absolute_error", REAL, POS),
    ("mean_absolute_percentage_error", "mean_absolute_percentage_error", POS, REAL),
    ("mape", "mean_absolute_percentage_error", POS, REAL),
    ("mean_squared_logarithmic_error", "mean_squared_logarithmic_error", POS, REAL),
    ("msle", "mean_squared_logarithmic_error", POS, REAL),
    ("squared_hinge", "squared_hinge", SIGNS, REAL),
    ("squared_hinge", "squared_hinge", ONEHOT, REAL),
    ("hinge", "hinge", SIGNS, REAL),
    ("hinge", "hinge", ONEHOT, REAL),
    ("categorical_hinge", "categorical_hinge", ONEHOT, REAL),
    ("logcosh", "log_cosh", REAL, POS),
    ("log_cosh", "log_cosh", REAL, POS),
    ("huber", "huber", REAL, POS * 2),
    ("categorical_crossentropy", "categorical_crossentropy", ONEHOT, PROBS),
    ("binary_crossentropy", "binary_crossentropy", ONEHOT, PROBS),
    ("binary_crossentropy", "binary_crossentropy", BINARY, BIN_P),
    ("kullback_leibler_divergence", "kl_divergence", PROBS[::-1].copy(), PROBS),
    ("kld", "kl_divergence", PROBS[::-1].copy(), PROBS),
    ("kl_divergence", "kl_divergence", PROBS[::-1].copy(), PROBS),
    ("poisson", "poisson", POS, POS[::-1].copy()),
    ("cosine_similarity", "cosine_similarity", REAL, POS),
    ("cosine", "cosine_similarity", REAL, POS),
]


@needs(keras)
@pytest.mark.parametrize("name,kname,y_true,y_pred", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_function_matches_keras(name, kname, y_true, y_pred):
    fn = losses.get(name)
    ours = fn(y_true, y_pred)
    assert ours.shape == (N,)
    close(ours, getattr(keras.losses, kname)(y_true, y_pred))
    assert getattr(losses, name) is fn


@needs(keras)
def test_sparse_categorical_crossentropy_matches_keras():
    for y in (LABELS, LABELS[:, None]):
        close(losses.sparse_categorical_crossentropy(y, PROBS),
              keras.losses.sparse_categorical_crossentropy(y, PROBS))
        close(losses.sparse_categorical_crossentropy(y, LOGITS, from_logits=True),
              keras.losses.sparse_categorical_crossentropy(y, LOGITS, from_logits=True))


@needs(keras)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_crossentropies_from_logits_and_label_smoothing(smoothing):
    close(losses.categorical_crossentropy(ONEHOT, LOGITS, from_logits=True,
                                          label_smoothing=smoothing),
          keras.losses.categorical_crossentropy(ONEHOT, LOGITS, from_logits=True,
                                                label_smoothing=smoothing))
    close(losses.binary_crossentropy(ONEHOT, LOGITS, from_logits=True,
                                     label_smoothing=smoothing),
          keras.losses.binary_crossentropy(ONEHOT, LOGITS, from_logits=True,
                                           label_smoothing=smoothing))
    close(losses.categorical_crossentropy(ONEHOT, PROBS, label_smoothing=smoothing),
          keras.losses.categorical_crossentropy(ONEHOT, PROBS, label_smoothing=smoothing))


def test_extreme_logits_are_stable():
    big = np.array([[1e4, -1e4, 0.0], [-3e4, 3e4, 50.0]], dtype="float32")
    onehot = np.array([[1, 0, 0], [1, 0, 0]], dtype="float32")
    cce = losses.categorical_crossentropy(onehot, big, from_logits=True)
    assert np.all(np.isfinite(cce))
    close(cce, [0.0, 6e4], rtol=1e-6)
    scce = losses.sparse_categorical_crossentropy(np.array([0, 1]), big, from_logits=True)
    close(scce, [0.0, 0.0], atol=1e-6)
    bce = losses.binary_crossentropy(onehot, big, from_logits=True)
    assert np.all(np.isfinite(bce))
    # softplus(x) - x*y per element, averaged: row 0 = (0 + 0 + log 2) / 3
    close(bce, [np.log(2) / 3, (3e4 + 3e4 + 50) / 3], rtol=1e-6)
    if compare_with(keras, "binary_crossentropy of extreme logits against Keras"):
        close(bce, keras.losses.binary_crossentropy(onehot, big, from_logits=True), rtol=1e-6)


@needs(keras)
def test_probabilities_are_clipped_like_keras():
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype="float32")
    y = np.array([[0, 0, 1], [0, 1, 0]], dtype="float32")
    for ours, theirs in [(losses.categorical_crossentropy, keras.losses.categorical_crossentropy),
                         (losses.binary_crossentropy, keras.losses.binary_crossentropy),
                         (losses.kld, keras.losses.kl_divergence)]:
        value = ours(y, p)
        assert np.all(np.isfinite(value))
        close(value, theirs(y, p), rtol=1e-4)


CLASSES = [
    ("MeanSquaredError", {}, REAL, POS),
    ("MeanAbsoluteError", {}, REAL, POS),
    ("MeanAbsolutePercentageError", {}, POS, REAL),
    ("MeanSquaredLogarithmicError", {}, POS, REAL),
    ("Hinge", {}, SIGNS, REAL),
    ("SquaredHinge", {}, SIGNS, REAL),
    ("CategoricalHinge", {}, ONEHOT, REAL),
    ("LogCosh", {}, REAL, POS),
    ("Huber", {"delta": 0.5}, REAL, POS),
    ("KLDivergence", {}, PROBS[::-1].copy(), PROBS),
    ("Poisson", {}, POS, POS[::-1].copy()),
    ("CosineSimilarity", {"axis": -1}, REAL, POS),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, ONEHOT, LOGITS),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, ONEHOT, PROBS),
    ("CategoricalCrossentropy", {"from_logits": True}, ONEHOT, LOGITS),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, LABELS, LOGITS),
]


@needs(keras)
@pytest.mark.parametrize("cls,kwargs,y_true,y_pred", CLASSES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CLASSES)])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_loss_class_matches_keras(cls, kwargs, y_true, y_pred, reduction):
    sw = rng.random(N).astype("float32")
    ours = getattr(losses, cls)(reduction=reduction, **kwargs)
    theirs = getattr(keras.losses, cls)(reduction=reduction, **kwargs)
    close(ours(y_true, y_pred), theirs(y_true, y_pred), rtol=1e-5)
    close(ours(y_true, y_pred, sample_weight=sw), theirs(y_true, y_pred, sample_weight=sw),
          rtol=1e-5)
    assert ours.name == theirs.name
    config = ours.get_config()
    assert config["reduction"] == reduction
    for key, value in kwargs.items():
        assert config[key] == value


@needs(keras)
def test_rank_adjustment_and_mean_with_sample_weight():
    y = rng.random((N,)).astype("float32")
    p = rng.random((N, 1)).astype("float32")
    close(losses.MeanSquaredError()(y, p), keras.losses.MeanSquaredError()(y, p))
    sw = rng.random(N).astype("float32")
    close(losses.MeanAbsoluteError(reduction="mean_with_sample_weight")(y, p, sw),
          keras.losses.MeanAbsoluteError(reduction="mean_with_sample_weight")(y, p, sw))


def test_get_serialize_deserialize():
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("logcosh") is losses.log_cosh
    mse = losses.get("MeanSquaredError")
    assert isinstance(mse, losses.MeanSquaredError)
    bce = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2, name="bce")
    config = losses.serialize(bce)
    assert config["class_name"] == "BinaryCrossentropy"
    back = losses.deserialize(config)
    assert isinstance(back, losses.BinaryCrossentropy)
    assert back.get_config() == bce.get_config()
    assert losses.serialize(losses.mse) == "mean_squared_error"
    assert losses.deserialize("mean_squared_error") is losses.mean_squared_error
    wrapper = losses.LossFunctionWrapper(losses.hinge, name="h")
    again = losses.deserialize(losses.serialize(wrapper))
    assert again.fn is losses.hinge and again.name == "h"
    with pytest.raises(ValueError, match="Unknown loss 'not_a_loss'"):
        losses.get("not_a_loss")
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")


def test_symbolic_losses_compile_like_the_reference():
    y = placeholder((None, C), name="y")
    p = placeholder((None, C), name="p")
    w = placeholder((None,), name="w")
    outs = [losses.CategoricalCrossentropy(from_logits=True)(y, p, w),
            losses.categorical_hinge(y, p), losses.Huber()(y, p)]
    sw = rng.random(N).astype("float32")
    c = gn.function([y, p, w], outs)(ONEHOT, LOGITS, sw)
    r = gn.function([y, p, w], outs, backend="reference")(ONEHOT, LOGITS, sw)
    for a, b in zip(c, r):
        close(a, b, rtol=1e-6)


# ---- ignore_class ------------------------------------------------------------------------
IGNORED = LABELS.copy()
IGNORED[::3] = 2
VOID = np.where(np.arange(N) % 4 == 1, 255, LABELS)


@pytest.mark.parametrize("ignore_class,labels", [(2, IGNORED), (255, VOID), (-1, LABELS),
                                                 (2, np.full(N, 2))],
                         ids=["in-range", "void-255", "none-present", "all-ignored"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_crossentropy_ignore_class_matches_keras(ignore_class, labels, from_logits):
    y_pred = LOGITS if from_logits else PROBS
    for y in (labels, labels[:, None]):
        ours = losses.sparse_categorical_crossentropy(y, y_pred, from_logits=from_logits,
                                                      ignore_class=ignore_class)
        if compare_with(keras, f"sparse_categorical_crossentropy of labels {y.shape}"):
            close(ours, keras.losses.sparse_categorical_crossentropy(
                y, y_pred, from_logits=from_logits, ignore_class=ignore_class))
        assert np.all(ours[labels == ignore_class] == 0)


@needs(keras)
@pytest.mark.parametrize("labels", [IGNORED, np.full(N, 2)], ids=["some", "all"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none", "mean",
                                       "mean_with_sample_weight"])
def test_sparse_crossentropy_class_ignore_class_matches_keras(labels, reduction):
    """The mean reductions average over the entries not ignored (0 when all are), with
    and without sample weights, as Keras 3's loss mask."""
    sw = rng.random(N).astype("float32")
    for kwargs, y_pred in [({}, PROBS), ({"from_logits": True}, LOGITS)]:
        ours = losses.SparseCategoricalCrossentropy(ignore_class=2, reduction=reduction,
                                                    **kwargs)
        theirs = keras.losses.SparseCategoricalCrossentropy(ignore_class=2,
                                                            reduction=reduction, **kwargs)
        close(ours(labels, y_pred), theirs(labels, y_pred))
        close(ours(labels, y_pred, sample_weight=sw), theirs(labels, y_pred, sample_weight=sw))


@needs(keras)
def test_ignore_class_per_position_with_a_class_axis():
    """Segmentation-style labels (N, T) against y_pred (N, C, T) with axis=1: per-position
    weights as Keras; per-sample weights (N,) broadcast over T (Keras cannot)."""
    t = 6
    logits = rng.standard_normal((N, C, t)).astype("float32")
    labels = rng.integers(0, C, (N, t))
    labels[rng.random((N, t)) < 0.3] = 4
    sw = rng.random((N, t)).astype("float32")
    ours = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=4, axis=1)
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=4,
                                                        axis=1)
    close(ours(labels, logits), theirs(labels, logits))
    close(ours(labels, logits, sample_weight=sw), theirs(labels, logits, sample_weight=sw))
    per_sample = rng.random(N).astype("float32")
    values = np.asarray(keras.losses.sparse_categorical_crossentropy(
        labels, logits, from_logits=True, ignore_class=4, axis=1))
    close(ours(labels, logits, sample_weight=per_sample),
          (values * per_sample[:, None]).sum() / (labels != 4).sum())


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_ignore_class_on_a_softmax_output_reads_its_logits_and_masks_the_gradient():
    z = placeholder((None, C), name="z")
    y = placeholder((None,), name="y")
    loss = losses.SparseCategoricalCrossentropy(ignore_class=2)(y, gn.ops.softmax(z))
    (gz,) = gn.gradients(loss, [z])
    from graphnet.graph.graph import topological_order
    assert "SOFTMAX" not in {n.op.name for n in topological_order([loss.node])}
    f = gn.function([y, z], [loss, gz])
    for labels in (IGNORED, np.full(N, 2)):
        value, grad = f(labels.astype("float32"), LOGITS)
        if compare_with(keras, "the loss value against Keras's"):
            close(value, keras.losses.SparseCategoricalCrossentropy(ignore_class=2)(
                labels, _softmax(LOGITS)))
        valid = (labels != 2)[:, None]
        close(grad, (_softmax(LOGITS) - np.eye(C)[labels]) * valid / max(valid.sum(), 1))


def test_ignore_class_trains_a_model():
    """One SGD step of a softmax classifier: the loss is Keras's, the step NumPy's."""
    model = gn.Sequential([gn.Input((4,)), gn.layers.Dense(C, activation="softmax")])
    lr = 0.5
    model.compile(optimizer=gn.optimizers.SGD(learning_rate=lr),
                  loss=losses.SparseCategoricalCrossentropy(ignore_class=0))
    x = rng.standard_normal((N, 4)).astype("float32")
    labels = LABELS.copy()
    labels[:3] = 0
    w, b = model.get_weights()
    probs = _softmax(x @ w + b)
    loss = model.train_on_batch(x, labels)
    if compare_with(keras, "the loss against Keras's"):
        close(loss, keras.losses.SparseCategoricalCrossentropy(ignore_class=0)(labels, probs))
    valid = (labels != 0)[:, None]
    dz = (probs - np.eye(C)[labels]) * valid / valid.sum()
    new_w, new_b = model.get_weights()
    close(new_w, w - lr * x.T @ dz)
    close(new_b, b - lr * dz.sum(axis=0))


def test_ignore_class_bad_input_and_config():
    with pytest.raises(ValueError, match=r"`ignore_class` must be an integer class id or "
                                         r"None. Received: ignore_class='void'"):
        losses.sparse_categorical_crossentropy(LABELS, PROBS, ignore_class="void")
    with pytest.raises(ValueError, match=r"y_true must have y_pred's shape \(9, 5\) without "
                                         r"the class axis 1: \(9,\).*got \(4,\)"):
        losses.sparse_categorical_crossentropy(LABELS[:4], PROBS)
    scce = losses.SparseCategoricalCrossentropy(ignore_class=3, name="scce")
    assert scce.get_config()["ignore_class"] == 3
    back = losses.deserialize(losses.serialize(scce))
    assert back.get_config() == scce.get_config()
    if compare_with(keras, "the reloaded loss against Keras's"):
        close(back(IGNORED, PROBS),
              keras.losses.SparseCategoricalCrossentropy(ignore_class=3)(IGNORED, PROBS))
