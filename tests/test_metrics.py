"""Metrics: accuracy functions and running means against keras.metrics."""
import numpy as np
import pytest

from graphnet import losses, metrics

keras = pytest.importorskip("keras")
KM = keras.metrics

rng = np.random.default_rng(3)
N, C = 40, 7
PRED = rng.random((N, C)).astype("float32")
LABELS = rng.integers(0, C, N)
ONEHOT = np.eye(C, dtype="float32")[LABELS]
BIN_Y = rng.integers(0, 2, (N, 1)).astype("float32")
BIN_P = rng.random((N, 1)).astype("float32")
SW = rng.random(N).astype("float32")


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a, "float64"), np.asarray(b, "float64"), rtol=tol,
                               atol=tol)


@pytest.mark.parametrize("name,args,kwargs", [
    ("binary_accuracy", (BIN_Y, BIN_P), {}),
    ("binary_accuracy", (BIN_Y, BIN_P), {"threshold": 0.7}),
    ("binary_accuracy", (BIN_Y[:, 0], BIN_P), {}),
    ("categorical_accuracy", (ONEHOT, PRED), {}),
    ("sparse_categorical_accuracy", (LABELS, PRED), {}),
    ("sparse_categorical_accuracy", (LABELS[:, None], PRED), {}),
    ("top_k_categorical_accuracy", (ONEHOT, PRED), {}),
    ("top_k_categorical_accuracy", (ONEHOT, PRED), {"k": 2}),
    ("sparse_top_k_categorical_accuracy", (LABELS, PRED), {}),
    ("sparse_top_k_categorical_accuracy", (LABELS, PRED), {"k": 1}),
])
def test_accuracy_functions_match_keras(name, args, kwargs):
    ours = getattr(metrics, name)(*args, **kwargs)
    theirs = np.asarray(getattr(KM, name)(*args, **kwargs))
    assert ours.shape == theirs.shape
    close(ours, theirs)


def test_top_k_counts_ties_like_keras():
    pred = np.array([[0.5, 0.5, 0.5, 0.1], [0.9, 0.2, 0.2, 0.2]], dtype="float32")
    labels = np.array([2, 3])
    close(metrics.sparse_top_k_categorical_accuracy(labels, pred, k=1),
          KM.sparse_top_k_categorical_accuracy(labels, pred, k=1))
    close(metrics.sparse_top_k_categorical_accuracy(labels, pred, k=2),
          KM.sparse_top_k_categorical_accuracy(labels, pred, k=2))


@pytest.mark.parametrize("cls,y,p", [
    ("SparseCategoricalAccuracy", LABELS, PRED),
    ("CategoricalAccuracy", ONEHOT, PRED),
    ("BinaryAccuracy", BIN_Y, BIN_P),
    ("TopKCategoricalAccuracy", ONEHOT, PRED),
    ("MeanSquaredError", ONEHOT, PRED),
    ("MeanAbsoluteError", ONEHOT, PRED),
    ("CategoricalCrossentropy", ONEHOT, PRED),
    ("KLDivergence", ONEHOT, PRED),
    ("CosineSimilarity", ONEHOT, PRED),
])
def test_running_weighted_mean_matches_keras(cls, y, p):
    ours, theirs = getattr(metrics, cls)(), getattr(KM, cls)()
    for sl, sw in [(slice(0, 25), SW[:25]), (slice(25, N), None)]:
        ours.update_state(y[sl], p[sl], sw)
        theirs.update_state(y[sl], p[sl], sw)
    close(ours.result(), float(theirs.result()), 1e-5)
    assert ours.name == theirs.name
    ours.reset_state()
    assert ours.result() == 0.0


def test_mean_and_stateful_call():
    m = metrics.Mean()
    m.update_state(np.array([1.0, 2.0, 3.0]))
    m.update_state(np.array([10.0]), sample_weight=np.array([3.0]))
    assert m.result() == pytest.approx((6 + 30) / 6)
    acc = metrics.BinaryAccuracy()
    assert acc(np.array([1, 0]), np.array([0.9, 0.8])) == pytest.approx(0.5)
    assert acc(np.array([1, 1]), np.array([0.9, 0.8])) == pytest.approx(0.75)


def test_get_names_and_losses_as_metrics():
    assert isinstance(metrics.get("mse"), metrics.MeanSquaredError)
    assert isinstance(metrics.get("categorical_crossentropy"),
                      metrics.CategoricalCrossentropy)
    assert isinstance(metrics.get("top_k_categorical_accuracy"),
                      metrics.TopKCategoricalAccuracy)
    wrapped = metrics.get(losses.squared_hinge)
    assert wrapped.name == "squared_hinge"
    loss_metric = metrics.get(losses.Huber(delta=0.5))
    loss_metric.update_state(ONEHOT, PRED)
    close(loss_metric.result(), float(KM.Mean()(keras.losses.huber(ONEHOT, PRED, 0.5))), 1e-5)
    assert metrics.get("accuracy").direction == "up"
    assert metrics.get("mae").direction == "down"
    config = metrics.serialize(metrics.TopKCategoricalAccuracy(k=3, name="top3"))
    back = metrics.deserialize(config)
    assert back.name == "top3" and back._fn_kwargs["k"] == 3
    with pytest.raises(ValueError, match="Unknown metric 'nope'"):
        metrics.get("nope")
