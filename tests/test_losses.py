"""Losses: every function, alias and class against keras.losses (torch backend)."""
import numpy as np
import pytest

import graphnet as gn
from graphnet import losses
from graphnet.engine.input_layer import placeholder

keras = pytest.importorskip("keras")
KL = keras.losses

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


# (graphnet name, keras function, y_true, y_pred)
CASES = [
    ("mean_squared_error", KL.mean_squared_error, REAL, POS),
    ("mse", KL.mean_squared_error, REAL, POS),
    ("MSE", KL.mean_squared_error, REAL, POS),
    ("mean_absolute_error", KL.mean_absolute_error, REAL, POS),
    ("mae", KL.mean_absolute_error, REAL, POS),
    ("mean_absolute_percentage_error", KL.mean_absolute_percentage_error, POS, REAL),
    ("mape", KL.mean_absolute_percentage_error, POS, REAL),
    ("mean_squared_logarithmic_error", KL.mean_squared_logarithmic_error, POS, REAL),
    ("msle", KL.mean_squared_logarithmic_error, POS, REAL),
    ("squared_hinge", KL.squared_hinge, SIGNS, REAL),
    ("squared_hinge", KL.squared_hinge, ONEHOT, REAL),
    ("hinge", KL.hinge, SIGNS, REAL),
    ("hinge", KL.hinge, ONEHOT, REAL),
    ("categorical_hinge", KL.categorical_hinge, ONEHOT, REAL),
    ("logcosh", KL.log_cosh, REAL, POS),
    ("log_cosh", KL.log_cosh, REAL, POS),
    ("huber", KL.huber, REAL, POS * 2),
    ("categorical_crossentropy", KL.categorical_crossentropy, ONEHOT, PROBS),
    ("binary_crossentropy", KL.binary_crossentropy, ONEHOT, PROBS),
    ("binary_crossentropy", KL.binary_crossentropy, BINARY, BIN_P),
    ("kullback_leibler_divergence", KL.kl_divergence, PROBS[::-1].copy(), PROBS),
    ("kld", KL.kl_divergence, PROBS[::-1].copy(), PROBS),
    ("kl_divergence", KL.kl_divergence, PROBS[::-1].copy(), PROBS),
    ("poisson", KL.poisson, POS, POS[::-1].copy()),
    ("cosine_similarity", KL.cosine_similarity, REAL, POS),
    ("cosine", KL.cosine_similarity, REAL, POS),
]


@pytest.mark.parametrize("name,kfn,y_true,y_pred", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_function_matches_keras(name, kfn, y_true, y_pred):
    fn = losses.get(name)
    ours = fn(y_true, y_pred)
    assert ours.shape == (N,)
    close(ours, kfn(y_true, y_pred))
    assert getattr(losses, name) is fn


def test_sparse_categorical_crossentropy_matches_keras():
    for y in (LABELS, LABELS[:, None]):
        close(losses.sparse_categorical_crossentropy(y, PROBS),
              KL.sparse_categorical_crossentropy(y, PROBS))
        close(losses.sparse_categorical_crossentropy(y, LOGITS, from_logits=True),
              KL.sparse_categorical_crossentropy(y, LOGITS, from_logits=True))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_crossentropies_from_logits_and_label_smoothing(smoothing):
    close(losses.categorical_crossentropy(ONEHOT, LOGITS, from_logits=True,
                                          label_smoothing=smoothing),
          KL.categorical_crossentropy(ONEHOT, LOGITS, from_logits=True,
                                      label_smoothing=smoothing))
    close(losses.binary_crossentropy(ONEHOT, LOGITS, from_logits=True,
                                     label_smoothing=smoothing),
          KL.binary_crossentropy(ONEHOT, LOGITS, from_logits=True, label_smoothing=smoothing))
    close(losses.categorical_crossentropy(ONEHOT, PROBS, label_smoothing=smoothing),
          KL.categorical_crossentropy(ONEHOT, PROBS, label_smoothing=smoothing))


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
    close(bce, KL.binary_crossentropy(onehot, big, from_logits=True), rtol=1e-6)


def test_probabilities_are_clipped_like_keras():
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype="float32")
    y = np.array([[0, 0, 1], [0, 1, 0]], dtype="float32")
    for ours, theirs in [(losses.categorical_crossentropy, KL.categorical_crossentropy),
                         (losses.binary_crossentropy, KL.binary_crossentropy),
                         (losses.kld, KL.kl_divergence)]:
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


@pytest.mark.parametrize("cls,kwargs,y_true,y_pred", CLASSES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CLASSES)])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_loss_class_matches_keras(cls, kwargs, y_true, y_pred, reduction):
    sw = rng.random(N).astype("float32")
    ours = getattr(losses, cls)(reduction=reduction, **kwargs)
    theirs = getattr(KL, cls)(reduction=reduction, **kwargs)
    close(ours(y_true, y_pred), theirs(y_true, y_pred), rtol=1e-5)
    close(ours(y_true, y_pred, sample_weight=sw), theirs(y_true, y_pred, sample_weight=sw),
          rtol=1e-5)
    assert ours.name == theirs.name
    config = ours.get_config()
    assert config["reduction"] == reduction
    for key, value in kwargs.items():
        assert config[key] == value


def test_rank_adjustment_and_mean_with_sample_weight():
    y = rng.random((N,)).astype("float32")
    p = rng.random((N, 1)).astype("float32")
    close(losses.MeanSquaredError()(y, p), KL.MeanSquaredError()(y, p))
    sw = rng.random(N).astype("float32")
    close(losses.MeanAbsoluteError(reduction="mean_with_sample_weight")(y, p, sw),
          KL.MeanAbsoluteError(reduction="mean_with_sample_weight")(y, p, sw))


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
