"""The stateful metrics (confusion counts, AUC, F-scores, R2, IoU) against keras.metrics:
standalone over several weighted batches, and compiled into fit / evaluate."""
import numpy as np
import pytest

from extras import keras, needs
import graphnet as gn
from graphnet import metrics

rng = np.random.default_rng(7)
N = 24
Y = rng.integers(0, 2, (N, 3)).astype("float32")
P = rng.random((N, 3)).astype("float32")
W = (rng.random(N) * 3).astype("float32")
LABELS = rng.integers(0, 4, N).astype("float32")
PRED_LABELS = rng.integers(0, 4, N).astype("float32")
SCORES = rng.random((N, 4)).astype("float32")
ONEHOT = np.eye(4, dtype="float32")[LABELS.astype(int)]
REG_Y, REG_P = rng.random((N, 3)).astype("float32"), rng.random((N, 3)).astype("float32")
BIN = (Y, P)
CASES = [
    ("AUC", {}, BIN), ("AUC", {"curve": "PR"}, BIN),
    ("AUC", {"curve": "PR", "summation_method": "majoring"}, BIN),
    ("AUC", {"summation_method": "minoring", "num_thresholds": 7}, BIN),
    ("AUC", {"multi_label": True}, BIN),
    ("AUC", {"multi_label": True, "num_labels": 3, "label_weights": [1, 2, 3]}, BIN),
    ("AUC", {"label_weights": [1, 2, 3]}, BIN), ("AUC", {"thresholds": [0.1, 0.5, 0.9]}, BIN),
    ("AUC", {"from_logits": True, "curve": "PRGAIN"}, BIN),
    ("Precision", {}, BIN), ("Precision", {"thresholds": [0.2, 0.7]}, BIN),
    ("Precision", {"top_k": 2}, BIN), ("Recall", {"class_id": 1}, BIN),
    ("Recall", {"top_k": 1, "class_id": 2}, BIN), ("TruePositives", {}, BIN),
    ("FalsePositives", {"thresholds": [0.0, 0.5, 1.0]}, BIN), ("TrueNegatives", {}, BIN),
    ("FalseNegatives", {"thresholds": 0.3}, BIN),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, BIN),
    ("SpecificityAtSensitivity", {"sensitivity": 0.4, "num_thresholds": 1}, BIN),
    ("PrecisionAtRecall", {"recall": 0.7}, BIN),
    ("RecallAtPrecision", {"precision": 0.6, "class_id": 0}, BIN),
    ("F1Score", {}, BIN), ("F1Score", {"average": "micro", "threshold": 0.4}, BIN),
    ("FBetaScore", {"beta": 2.0, "average": "macro"}, BIN),
    ("FBetaScore", {"average": "weighted", "beta": 0.5}, BIN),
    ("R2Score", {}, (REG_Y, REG_P)), ("R2Score", {"class_aggregation": None}, (REG_Y, REG_P)),
    ("R2Score", {"class_aggregation": "variance_weighted_average", "num_regressors": 2},
     (REG_Y, REG_P)),
    ("RootMeanSquaredError", {}, (REG_Y, REG_P)),
    ("IoU", {"num_classes": 4, "target_class_ids": [0, 2]}, (LABELS, PRED_LABELS)),
    ("MeanIoU", {"num_classes": 4}, (LABELS, PRED_LABELS)),
    ("MeanIoU", {"num_classes": 4, "ignore_class": 1, "dtype": "float32"},
     (LABELS, PRED_LABELS)),
    ("MeanIoU", {"num_classes": 4, "sparse_y_pred": False}, (LABELS, SCORES)),
    ("BinaryIoU", {}, (Y[:, 0], P[:, 0])),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, (Y[:, :1], P[:, :1])),
    ("OneHotIoU", {"num_classes": 4, "target_class_ids": [1, 3]}, (ONEHOT, SCORES)),
    ("OneHotMeanIoU", {"num_classes": 4}, (ONEHOT, SCORES)),
]


def _ids(case):
    return f"{case[0]}-{'-'.join(map(str, case[1].values()))}"


def _plain(value):
    """A config value comparable across libraries (Keras keeps label_weights a tensor)."""
    return np.asarray(value).tolist() if hasattr(value, "shape") else value


def _batches(data, weights=W, parts=3):
    size = N // parts
    for b in range(parts):
        rows = slice(b * size, (b + 1) * size)
        yield data[0][rows], data[1][rows], weights[rows]


@needs(keras)
@pytest.mark.filterwarnings("ignore:You are passing weight")
@pytest.mark.parametrize("name,kwargs,data", CASES, ids=[_ids(c) for c in CASES])
def test_standalone_matches_keras_over_weighted_batches(name, kwargs, data):
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    for y, p, w in _batches(data):
        ours.update_state(y, p, w)
        theirs.update_state(y, p, sample_weight=w)
    np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), atol=1e-5)
    config, keras_config = ours.get_config(), theirs.get_config()
    assert {k: _plain(v) for k, v in config.items() if k != "name"} == \
        {k: _plain(v) for k, v in keras_config.items() if k != "name"}
    assert config["name"] == keras_config["name"].rsplit("_", 1)[0] or \
        config["name"] == keras_config["name"]
    ours.reset_state()
    y, p, w = next(_batches(data))
    ours.update_state(y, p, w)
    fresh = getattr(metrics, name)(**kwargs)
    fresh.update_state(y, p, w)
    np.testing.assert_allclose(ours.result(), fresh.result(), atol=1e-6)


def _model(outputs, activation="sigmoid"):
    gn.initializers.set_random_seed(3)
    inputs = gn.Input((5,))
    return gn.Model(inputs, gn.layers.Dense(outputs, activation=activation)(inputs))


X = rng.random((N, 5)).astype("float32")


@needs(keras)
def test_compiled_into_fit_and_evaluate_like_keras():
    """By name and as objects, weighted and not: the epoch's values equal Keras's metrics
    fed the same predictions batch by batch."""
    model = _model(3)
    compiled = ["auc", "precision", gn.metrics.Recall(thresholds=[0.3, 0.6]),
                gn.metrics.F1Score(average="macro")]
    model.compile("sgd", "binary_crossentropy", metrics=compiled,
                  weighted_metrics=[gn.metrics.AUC(curve="PR", name="pr_auc")])
    logs = model.evaluate(X, Y, sample_weight=W, batch_size=8, verbose=0, return_dict=True)
    pred = model.predict(X, verbose=0)
    expected = {"auc": keras.metrics.AUC(), "precision": keras.metrics.Precision(),
                "recall": keras.metrics.Recall(thresholds=[0.3, 0.6]),
                "f1_score": keras.metrics.F1Score(average="macro"),
                "pr_auc": keras.metrics.AUC(curve="PR")}
    for start in range(0, N, 8):
        rows = slice(start, start + 8)
        for name, metric in expected.items():
            metric.update_state(Y[rows], pred[rows],
                                sample_weight=W[rows] if name == "pr_auc" else None)
    for name, metric in expected.items():
        np.testing.assert_allclose(logs[name], np.asarray(metric.result()), atol=1e-5)
    history = model.fit(X, Y, batch_size=8, epochs=2, verbose=0)
    assert {"auc", "precision", "recall", "f1_score"} <= set(history.history)
    assert np.shape(history.history["recall"][0]) == (2,)


def test_regression_and_iou_metrics_in_fit_match_standalone():
    """The built-in step's counts equal update_state on the same predictions."""
    model = _model(4, activation="softmax")
    model.compile("sgd", "sparse_categorical_crossentropy",
                  metrics=[gn.metrics.MeanIoU(4, sparse_y_pred=False)])
    onehot_model = _model(3, activation=None)
    onehot_model.compile("sgd", "mse", metrics=["r2_score", "root_mean_squared_error"])
    logs = model.evaluate(X, LABELS, batch_size=8, verbose=0, return_dict=True)
    standalone = gn.metrics.MeanIoU(4, sparse_y_pred=False)
    standalone.update_state(LABELS, model.predict(X, verbose=0))
    np.testing.assert_allclose(logs["mean_io_u"], standalone.result(), atol=1e-6)
    reg_logs = onehot_model.evaluate(X, REG_Y, batch_size=8, verbose=0, return_dict=True)
    pred = onehot_model.predict(X, verbose=0)
    r2, rmse = gn.metrics.R2Score(), gn.metrics.RootMeanSquaredError()
    for start in range(0, N, 8):
        r2.update_state(REG_Y[start:start + 8], pred[start:start + 8])
        rmse.update_state(REG_Y[start:start + 8], pred[start:start + 8])
    np.testing.assert_allclose(reg_logs["r2_score"], r2.result(), atol=1e-5)
    np.testing.assert_allclose(reg_logs["root_mean_squared_error"], rmse.result(), atol=1e-6)


@pytest.mark.parametrize("make,message", [
    (lambda: metrics.AUC(curve="XY"), "invalid curve"),
    (lambda: metrics.AUC(summation_method="mid"), "summation_method"),
    (lambda: metrics.AUC(num_thresholds=1), "num_thresholds"),
    (lambda: metrics.AUC(num_labels=3), "num_labels"),
    (lambda: metrics.Precision(thresholds=[0.5, 1.5]), "in \\[0, 1\\]"),
    (lambda: metrics.Recall(top_k=0), "top_k"),
    (lambda: metrics.PrecisionAtRecall(1.5), "recall"),
    (lambda: metrics.SensitivityAtSpecificity(0.5, num_thresholds=0), "num_thresholds"),
    (lambda: metrics.FBetaScore(beta=2), "beta"),
    (lambda: metrics.F1Score(average="mean"), "average"),
    (lambda: metrics.F1Score(threshold=1.5), "threshold"),
    (lambda: metrics.R2Score(class_aggregation="max"), "class_aggregation"),
    (lambda: metrics.R2Score(num_regressors=-1), "num_regressors"),
    (lambda: metrics.IoU(3, [0, 3]), "out of range"),
])
def test_bad_arguments_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_shape_errors_and_names():
    with pytest.raises(ValueError, match="F1Score expects 2D inputs"):
        metrics.F1Score().update_state(Y[:, 0], P[:, 0])
    with pytest.raises(ValueError, match="multi_label"):
        metrics.AUC(multi_label=True).update_state(Y[:, 0], P[:, 0])
    with pytest.raises(ValueError, match="before the first update_state"):
        metrics.R2Score().result()
    for name, cls in [("auc", metrics.AUC), ("precision", metrics.Precision),
                      ("recall", metrics.Recall), ("true_positives", metrics.TruePositives),
                      ("f1_score", metrics.F1Score), ("r2_score", metrics.R2Score),
                      ("root_mean_squared_error", metrics.RootMeanSquaredError),
                      ("AUC", metrics.AUC)]:
        assert type(metrics.get(name)) is cls
    config = metrics.serialize(metrics.AUC(curve="PR", num_thresholds=9))
    restored = metrics.deserialize(config)
    assert restored.get_config() == metrics.AUC(curve="PR", num_thresholds=9).get_config()


def test_grouped_steps_and_a_custom_test_step_give_the_built_in_values():
    """steps_per_execution runs the counts of several batches in one C call; a custom
    test_step compiles update_state / result (symbolic) into its traced step."""
    reference = _model(3)
    reference.compile("sgd", "binary_crossentropy", metrics=["auc", metrics.F1Score()])
    expected = reference.evaluate(X, Y, batch_size=8, verbose=0, return_dict=True)
    grouped = _model(3)
    grouped.compile("sgd", "binary_crossentropy", metrics=["auc", metrics.F1Score()],
                    steps_per_execution=3)
    logs = grouped.evaluate(X, Y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["auc"], expected["auc"], atol=1e-7)
    np.testing.assert_allclose(logs["f1_score"], expected["f1_score"], atol=1e-7)

    class WithAUC(gn.Model):
        def test_step(self, data):
            x, y = data
            self.area.update_state(y, self(x, training=False))
            return {"auc": self.area.result()}

    gn.initializers.set_random_seed(3)
    inputs = gn.Input((5,))
    custom = WithAUC(inputs, gn.layers.Dense(3, activation="sigmoid")(inputs))
    custom.area = metrics.AUC()
    custom.compile("sgd", "binary_crossentropy")
    traced = custom.evaluate(X, Y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(traced["auc"], expected["auc"], atol=1e-7)


def test_calling_a_metric_updates_and_returns_the_running_result():
    metric = metrics.Recall()
    first = metric(Y[:8], P[:8])
    assert metric(Y[8:], P[8:]) == pytest.approx(
        float(metrics.Recall()(Y, P)), abs=1e-7)
    assert first == pytest.approx(float(metrics.Recall()(Y[:8], P[:8])), abs=1e-7)


def test_a_subclass_with_its_own_update_state_is_traced_by_fit():
    """fit cannot compute an overridden update_state from batch statistics: it traces
    the subclass's method into the step instead (here: only class 0 counts)."""
    class FirstLabelAUC(metrics.AUC):
        def update_state(self, y_true, y_pred, sample_weight=None):
            super().update_state(y_true[:, :1], y_pred[:, :1], sample_weight)

    model = _model(3)
    model.compile("sgd", "binary_crossentropy", metrics=[FirstLabelAUC(name="first")])
    logs = model.evaluate(X, Y, batch_size=8, verbose=0, return_dict=True)
    expected = metrics.AUC()
    expected.update_state(Y[:, :1], model.predict(X, verbose=0)[:, :1])
    np.testing.assert_allclose(logs["first"], expected.result(), atol=1e-6)
    with pytest.raises(ValueError, match="one weight per label"):
        metrics.AUC(label_weights=[1.0, 2.0]).update_state(Y, P)
