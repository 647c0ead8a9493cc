"""Focal cross-entropies, Dice and Tversky against keras.losses: values (functions and
classes, with and without sample weights), names and configs, and training through them
(five steps, so their gradients too)."""
import numpy as np
import pytest

from extras import keras, needs, train_alike
import graphnet as gn
from graphnet import losses

rng = np.random.default_rng(11)
Y = rng.integers(0, 2, (8, 4)).astype("float32")
P = rng.random((8, 4)).astype("float32")
Z = rng.normal(size=(8, 4)).astype("float32")
W = rng.random(8).astype("float32")
ONEHOT = np.eye(4, dtype="float32")[rng.integers(0, 4, 8)]
SOFTMAX = np.exp(Z) / np.exp(Z).sum(-1, keepdims=True)
CASES = [
    ("BinaryFocalCrossentropy", {}, Y, P),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5,
                                 "label_smoothing": 0.1}, Y, P),
    ("BinaryFocalCrossentropy", {"from_logits": True}, Y, Z),
    ("CategoricalFocalCrossentropy", {}, ONEHOT, SOFTMAX),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.2,
                                      "gamma": 3.0, "alpha": 0.5}, ONEHOT, Z),
    ("Dice", {}, Y, P), ("Dice", {"axis": -1}, Y, P),
    ("Tversky", {}, Y, P), ("Tversky", {"alpha": 0.7, "beta": 0.3, "axis": -1}, Y, P),
]


@needs(keras)
@pytest.mark.parametrize("name,kwargs,y_true,y_pred", CASES,
                         ids=[f"{c[0]}-{'-'.join(map(str, c[1].values()))}" for c in CASES])
def test_classes_and_functions_match_keras(name, kwargs, y_true, y_pred):
    ours, theirs = getattr(losses, name)(**kwargs), getattr(keras.losses, name)(**kwargs)
    for sample_weight in (None, W):
        np.testing.assert_allclose(ours(y_true, y_pred, sample_weight),
                                   np.asarray(theirs(y_true, y_pred,
                                                     sample_weight=sample_weight)),
                                   rtol=1e-5, atol=1e-6)
    assert ours.get_config() == theirs.get_config()
    function = gn.backend.snake_case(name)
    np.testing.assert_allclose(getattr(losses, function)(y_true, y_pred, **kwargs),
                               np.asarray(getattr(keras.losses, function)(y_true, y_pred,
                                                                          **kwargs)),
                               rtol=1e-5, atol=1e-6)
    assert losses.get(function) is getattr(losses, function)
    assert type(losses.get(name)) is type(ours)
    restored = losses.deserialize(losses.serialize(ours))
    assert restored.get_config() == ours.get_config()


def _models(outputs, activation):
    gn.utils.set_random_seed(5)
    model = gn.Sequential([gn.Input((6,)), gn.layers.Dense(5, activation="tanh"),
                           gn.layers.Dense(outputs, activation=activation)])
    kmodel = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="tanh"),
                               keras.layers.Dense(outputs, activation=activation)])
    kmodel.set_weights(model.get_weights())
    return model, kmodel


X = rng.standard_normal((8, 6)).astype("float32")


@needs(keras)
@pytest.mark.parametrize("loss,labels,activation", [
    ("binary_focal_crossentropy", Y, "sigmoid"),
    ("categorical_focal_crossentropy", ONEHOT, "softmax"),
    ("dice", Y, "sigmoid"), ("tversky", Y, "sigmoid"),
])
def test_five_training_steps_match_keras(loss, labels, activation):
    model, kmodel = _models(4, activation)
    train_alike(model, kmodel, X, labels, "SGD", {"learning_rate": 0.5}, loss=loss)


def test_a_configured_loss_trains_and_rejects_a_bad_axis():
    gn.utils.set_random_seed(5)
    model = gn.Sequential([gn.Input((6,)), gn.layers.Dense(4, activation="sigmoid")])
    model.compile("sgd", losses.Tversky(alpha=0.8, beta=0.2, axis=-1))
    before = model.evaluate(X, Y, verbose=0)
    model.fit(X, Y, epochs=5, batch_size=8, verbose=0)
    assert model.evaluate(X, Y, verbose=0) < before
    with pytest.raises(ValueError, match="axis"):
        losses.categorical_focal_crossentropy(ONEHOT, SOFTMAX, axis=True)
    with pytest.raises(TypeError, match="Dice: unexpected keyword"):
        losses.Dice(alpha=0.3)
