"""Metrics: accuracy functions and running means against keras.metrics."""
import numpy as np
import pytest

from extras import compare_with, keras, needs
from graphnet import losses, metrics

rng = np.random.default_rng(3)
N, C = 40, 7
PRED = rng.random((N, C)).astype("float32")
LABELS = rng.integers(0, C, N)
ONEHOT = np.eye(C, dtype="float32")[LABELS]
BIN_Y = rng.integers(0, 2, (N, 1)).astype("float32")
BIN_P = rng.random((N, 1)).astype("float32")
SW = rng.random(N).astype("float32")
# class ids sorted by score, best first (the first 5 of each row's ranking)
IDS = np.argsort(-PRED, axis=1)[:, :5].astype("int32")


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a, "float64"), np.asarray(b, "float64"), rtol=tol,
                               atol=tol)


@needs(keras)
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
    ("sparse_top_k_categorical_accuracy", (LABELS[:, None], PRED), {"k": 3}),
    ("sparse_top_k_categorical_accuracy", (LABELS, IDS), {"from_sorted_ids": True}),
    ("sparse_top_k_categorical_accuracy", (LABELS, IDS), {"k": 2, "from_sorted_ids": True}),
    ("sparse_top_k_categorical_accuracy", (LABELS, IDS), {"k": 9, "from_sorted_ids": True}),
    ("sparse_top_k_categorical_accuracy", (LABELS[:, None], IDS.astype("float32")),
     {"k": 1, "from_sorted_ids": True}),
    ("sparse_categorical_crossentropy", (np.where(LABELS == 3, 0, LABELS), PRED),
     {"ignore_class": 0}),
])
def test_accuracy_functions_match_keras(name, args, kwargs):
    ours = getattr(metrics, name)(*args, **kwargs)
    theirs = np.asarray(getattr(keras.metrics, name)(*args, **kwargs))
    assert ours.shape == theirs.shape
    close(ours, theirs)


@needs(keras)
def test_top_k_counts_ties_like_keras():
    pred = np.array([[0.5, 0.5, 0.5, 0.1], [0.9, 0.2, 0.2, 0.2]], dtype="float32")
    labels = np.array([2, 3])
    close(metrics.sparse_top_k_categorical_accuracy(labels, pred, k=1),
          keras.metrics.sparse_top_k_categorical_accuracy(labels, pred, k=1))
    close(metrics.sparse_top_k_categorical_accuracy(labels, pred, k=2),
          keras.metrics.sparse_top_k_categorical_accuracy(labels, pred, k=2))


def test_sorted_ids_match_once_and_agree_with_scores():
    """A label listed twice among the first k counts once; ids ranked from scores give the
    scores' answer (no ties in PRED)."""
    ids = np.array([[3, 3, 1], [0, 2, 2], [4, 1, 0]], dtype="int32")
    labels = np.array([3, 2, 0])
    for k in (1, 2, 3):
        ours = metrics.sparse_top_k_categorical_accuracy(labels, ids, k=k, from_sorted_ids=True)
        np.testing.assert_array_equal(ours, [1.0, k >= 2, k >= 3])
        if compare_with(keras, f"repeated sorted ids against Keras at k={k}"):
            close(ours, keras.metrics.sparse_top_k_categorical_accuracy(labels, ids, k=k,
                                                                        from_sorted_ids=True))
    for k in (1, 4):
        close(metrics.sparse_top_k_categorical_accuracy(LABELS, IDS, k=k, from_sorted_ids=True),
              metrics.sparse_top_k_categorical_accuracy(LABELS, PRED, k=k))


def test_sorted_ids_of_an_integer_tensor_and_bad_shapes():
    from graphnet import function
    from graphnet.engine.input_layer import placeholder
    y = placeholder((None,), "int32", name="y")
    ids = placeholder((None, 5), "int32", name="ids")
    out = metrics.sparse_top_k_categorical_accuracy(y, ids, k=3, from_sorted_ids=True)
    got = function([y, ids], out)(LABELS.astype("int32"), IDS)
    close(got, metrics.sparse_top_k_categorical_accuracy(LABELS, PRED, k=3))
    if compare_with(keras, "the compiled sorted-ids accuracy against Keras"):
        close(got, keras.metrics.sparse_top_k_categorical_accuracy(LABELS, IDS, k=3,
                                                                   from_sorted_ids=True))
    with pytest.raises(ValueError, match=r"y_true must have shape \(40,\) \(y_pred's "
                                         r"\(40, 5\) without the last axis.*got \(39,\)"):
        metrics.sparse_top_k_categorical_accuracy(LABELS[1:], IDS, from_sorted_ids=True)


@needs(keras)
@pytest.mark.parametrize("cls,kwargs,y,p", [
    ("SparseTopKCategoricalAccuracy", {"k": 2, "from_sorted_ids": True}, LABELS, IDS),
    ("SparseCategoricalCrossentropy", {"ignore_class": 3}, LABELS, PRED),
])
def test_running_means_with_new_options_match_keras(cls, kwargs, y, p):
    """ignore_class: as Keras, the mask narrows given sample weights; without them the
    ignored entries count as 0."""
    ours, theirs = getattr(metrics, cls)(**kwargs), getattr(keras.metrics, cls)(**kwargs)
    for sl, sw in [(slice(0, 25), None), (slice(25, N), SW[25:])]:
        ours.update_state(y[sl], p[sl], sw)
        theirs.update_state(y[sl], p[sl], sw)
        close(ours.result(), float(theirs.result()), 1e-5)
    assert metrics.deserialize(metrics.serialize(ours)).get_config() == ours.get_config()


@needs(keras)
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
    ours, theirs = getattr(metrics, cls)(), getattr(keras.metrics, cls)()
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
    close(loss_metric.result(), np.mean(losses.huber(ONEHOT, PRED, 0.5)), 1e-5)
    if compare_with(keras, "the Huber metric against Keras's"):
        close(loss_metric.result(),
              float(keras.metrics.Mean()(keras.losses.huber(ONEHOT, PRED, 0.5))), 1e-5)
    assert metrics.get("accuracy").direction == "up"
    assert metrics.get("mae").direction == "down"
    config = metrics.serialize(metrics.TopKCategoricalAccuracy(k=3, name="top3"))
    back = metrics.deserialize(config)
    assert back.name == "top3" and back._fn_kwargs["k"] == 3
    with pytest.raises(ValueError, match="Unknown metric 'nope'"):
        metrics.get("nope")
