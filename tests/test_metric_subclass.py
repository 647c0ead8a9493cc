"""Keras-style Metric subclasses (add_variable / update_state / result / reset_state):
compiled into the built-in step through compile(metrics=[...]) and into custom steps,
their state carried between batches in their Variables and reset at each epoch, and
used eagerly on arrays, against Keras 3 on torch."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras


def _metric_classes(lib):
    ops = lib.ops

    class BinaryTruePositives(lib.metrics.Metric):
        """keras.io's example: the count of true positives (threshold 0.5)."""

        def __init__(self, name="binary_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), initializer="zeros",
                                                    name="true_positives")

        def update_state(self, y_true, y_pred, sample_weight=None):
            hit = ops.logical_and(ops.greater(y_true, 0.5), ops.greater(y_pred, 0.5))
            values = ops.cast(hit, "float32")
            if sample_weight is not None:
                values = values * ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
            self.true_positives.assign(self.true_positives + ops.sum(values))

        def result(self):
            return self.true_positives

    class RootMeanSquaredError(lib.metrics.Metric):
        """Two state variables, a result computed from both."""

        def __init__(self, name="my_rmse", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")
            self.count = self.add_variable(shape=(), initializer="zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            error = ops.square(ops.subtract(y_true, y_pred))
            self.total.assign_add(ops.sum(error))
            self.count.assign_add(ops.sum(ops.ones_like(error)))

        def result(self):
            return ops.sqrt(ops.divide(self.total, self.count))

    return BinaryTruePositives, RootMeanSquaredError


def _model(lib, metrics):
    inputs = lib.Input((4,))
    outputs = lib.layers.Dense(1, activation="sigmoid")(lib.layers.Dense(5, activation="relu")(
        inputs))
    model = lib.Model(inputs, outputs)
    model.compile(optimizer=lib.optimizers.SGD(0.2), loss="binary_crossentropy",
                  metrics=metrics)
    return model


def _data(n=20):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, :1] + 0.3 * x[:, 1:2] > 0).astype("float32")
    return x, y


def test_compiled_metric_subclasses_match_keras_and_reset_each_epoch():
    x, y = _data()
    tp, rmse = _metric_classes(gn)
    model = _model(gn, [tp(), rmse(), "accuracy"])
    start = model.get_weights()
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    logs = history.history
    assert list(logs) == ["loss", "binary_true_positives", "my_rmse", "accuracy"]
    # a count over one epoch's 20 samples at most: reset between the epochs
    assert all(0 <= v <= y.sum() for v in logs["binary_true_positives"])
    evaluated = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    assert evaluated["binary_true_positives"] == float(np.sum((y > 0.5) & (pred > 0.5)))
    np.testing.assert_allclose(evaluated["my_rmse"], np.sqrt(np.mean((y - pred) ** 2)),
                               rtol=1e-5)
    if compare_with(keras, "Keras 3 fit with the same Metric subclasses"):
        ktp, krmse = _metric_classes(keras)
        kmodel = _model(keras, [ktp(), krmse(), "accuracy"])
        kmodel.set_weights(start)
        khistory = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        for name in khistory.history:
            np.testing.assert_allclose(logs[name], khistory.history[name], rtol=1e-5,
                                       atol=1e-6)
        kevaluated = kmodel.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
        for name in kevaluated:
            np.testing.assert_allclose(evaluated[name], kevaluated[name], rtol=1e-5)


def test_a_metric_subclass_state_is_carried_between_batches():
    x, y = _data(12)
    tp, _ = _metric_classes(gn)
    metric = tp()
    model = _model(gn, [metric])
    model.compile(optimizer=gn.optimizers.SGD(0.0), loss="binary_crossentropy",
                  metrics=[metric])
    pred = model.predict(x, verbose=0)
    per_batch = [float(np.sum((y[i:i + 4] > 0.5) & (pred[i:i + 4] > 0.5)))
                 for i in range(0, 12, 4)]
    seen = []

    class Record(gn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(logs["binary_true_positives"])
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[Record()])
    np.testing.assert_allclose(seen, np.cumsum(per_batch))
    assert float(metric.true_positives.numpy()) == sum(per_batch)


def test_a_metric_subclass_in_a_custom_train_step():
    tp, rmse = _metric_classes(gn)

    class Tracked(gn.Model):
        def __init__(self):
            super().__init__()
            self.dense = gn.layers.Dense(1, activation="sigmoid")
            self.tp = tp()
            self.rmse = rmse()

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            with gn.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred)
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply(grads, self.trainable_weights)
            self.tp.update_state(y, y_pred)
            self.rmse.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    x, y = _data(16)
    model = Tracked()
    model.compile(optimizer=gn.optimizers.SGD(0.0), loss="binary_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert [m.name for m in model.metrics] == ["loss", "binary_true_positives", "my_rmse"]
    pred = model.predict(x, verbose=0)
    assert history.history["binary_true_positives"] == [float(np.sum((y > .5) & (pred > .5)))]
    np.testing.assert_allclose(history.history["my_rmse"], [np.sqrt(np.mean((y - pred) ** 2))],
                               rtol=1e-5)


def test_eager_update_state_and_result_on_arrays():
    tp, rmse = _metric_classes(gn)
    metric = rmse()
    y = np.array([[1.0], [0.0], [2.0]], "float32")
    p = np.array([[0.5], [0.5], [1.0]], "float32")
    metric.update_state(y, p)
    metric.update_state(y[:1], p[:1])
    want = np.sqrt((0.25 + 0.25 + 1.0 + 0.25) / 4)
    np.testing.assert_allclose(metric.result(), want, rtol=1e-6)
    assert [v.name for v in metric.variables] == ["my_rmse/total", "my_rmse/count"]
    metric.reset_state()
    assert float(metric.count.numpy()) == 0.0
    counter = tp()
    counter.update_state(y, p)
    assert counter.result() == 1.0     # 0.5 is not above the threshold
    if compare_with(keras, "the same Metric subclass in Keras on arrays"):
        _, krmse = _metric_classes(keras)
        kmetric = krmse()
        kmetric.update_state(y, p)
        kmetric.update_state(y[:1], p[:1])
        np.testing.assert_allclose(float(kmetric.result()), want, rtol=1e-6)


def test_a_metric_without_update_state_names_what_to_implement():
    class Empty(gn.metrics.Metric):
        pass

    with pytest.raises(NotImplementedError, match="Empty must implement update_state"):
        Empty().update_state(np.zeros((2, 1)), np.zeros((2, 1)))


def test_a_built_in_step_model_lists_its_compiled_metrics():
    x, y = _data(8)
    model = _model(gn, ["accuracy", "mse"])
    assert model.metrics == []               # resolved on the first batch
    model.fit(x, y, batch_size=8, verbose=0)
    assert [m.name for m in model.metrics] == ["accuracy", "mse"]
    evaluated = model.evaluate(x, y, verbose=0, return_dict=True)   # state of this pass
    assert [m.result() for m in model.metrics] == [evaluated["accuracy"], evaluated["mse"]]


_BUILT_INS = [("CategoricalAccuracy", {}), ("TopKCategoricalAccuracy", {"k": 2}),
              ("MeanSquaredError", {}), ("CategoricalCrossentropy", {}), ("KLDivergence", {}),
              ("CosineSimilarity", {}), ("CategoricalHinge", {})]


@pytest.mark.parametrize("name,kwargs", _BUILT_INS)
def test_built_in_metrics_updated_in_a_traced_step_match_keras(name, kwargs):
    class Scored(gn.Model):
        def __init__(self):
            super().__init__()
            self.dense = gn.layers.Dense(3, activation="softmax")
            self.score = getattr(gn.metrics, name)(**kwargs)
            self.score_weighted = getattr(gn.metrics, name)(name="weighted", **kwargs)

        def call(self, x):
            return self.dense(x)

        def test_step(self, data):
            x, y, sample_weight = data
            y_pred = self(x)
            self.score.update_state(y, y_pred)
            self.score_weighted.update_state(y, y_pred, sample_weight=sample_weight)
            return {"score": self.score.result(), "weighted": self.score_weighted.result()}

    rng = np.random.default_rng(6)
    x = rng.normal(size=(10, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 10)]
    weights = rng.uniform(0.2, 2.0, size=10).astype("float32")
    model = Scored()
    model.compile()
    logs = model.evaluate(x, y, sample_weight=weights, batch_size=4, verbose=0,
                          return_dict=True)
    pred = model.predict(x, verbose=0)
    eager = getattr(gn.metrics, name)(**kwargs)
    for i in range(0, 10, 4):
        eager.update_state(y[i:i + 4], pred[i:i + 4])
    np.testing.assert_allclose(logs["score"], eager.result(), rtol=1e-5)
    if compare_with(keras, f"keras.metrics.{name} over the same batches"):
        kmetric, kweighted = (getattr(keras.metrics, name)(**kwargs) for _ in range(2))
        for i in range(0, 10, 4):
            kmetric.update_state(y[i:i + 4], pred[i:i + 4])
            kweighted.update_state(y[i:i + 4], pred[i:i + 4], sample_weight=weights[i:i + 4])
        np.testing.assert_allclose(logs["score"], float(kmetric.result()), rtol=1e-5)
        np.testing.assert_allclose(logs["weighted"], float(kweighted.result()), rtol=1e-5)
