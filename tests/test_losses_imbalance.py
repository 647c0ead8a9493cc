"""Focal cross-entropies, Dice and Tversky against keras.losses: values (functions and
classes, with and without sample weights), names and configs, and training through them
(five steps, so their gradients too)."""
import numpy as np
import pytest

from extras import compare_with, keras, needs, train_alike
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


# Keras 3.15.1's values (torch backend) on these inputs: the class without and with the
# sample weights, then the function's per-sample values
KERAS_VALUES = {
    ('BinaryFocalCrossentropy', ()):
        (0.48964465, 0.18913388, [0.23354554, 0.31916493, 0.09781996, 0.06148183, 0.93901479,
                 0.71752858, 0.40484807, 1.14375365]),
    ('BinaryFocalCrossentropy', (('alpha', 0.4), ('apply_class_balancing', True), ('gamma',
             1.5), ('label_smoothing', 0.1))):
        (0.23257099, 0.09960294, [0.17166111, 0.15661311, 0.08254554, 0.04283223, 0.37400079,
                 0.37220293, 0.19142506, 0.46928707]),
    ('BinaryFocalCrossentropy', (('from_logits', True),)):
        (0.29379457, 0.10317463, [0.25359869, 0.04237698, 0.24242356, 0.3301307, 0.24117488,
                 0.23932935, 0.40470469, 0.59661794]),
    ('CategoricalFocalCrossentropy', ()):
        (0.19210871, 0.08021197, [0.05186552, 0.20629044, 0.17544705, 0.30586153, 0.13941006,
                 0.18364666, 0.33530927, 0.1390392]),
    ('CategoricalFocalCrossentropy', (('alpha', 0.5), ('from_logits', True), ('gamma', 3.0),
             ('label_smoothing', 0.2))):
        (0.32862267, 0.14000094, [0.14002465, 0.35061678, 0.3101536, 0.48433357, 0.23413441,
                 0.29881024, 0.5502373, 0.26067096]),
    ('Dice', ()):
        (0.46281344, 0.2235548, [0.46281344]),
    ('Dice', (('axis', -1),)):
        (0.4739058, 0.2172621, [0.53967935, 0.33401215, 0.4620375, 0.28647292, 0.43970311,
                 0.55409342, 0.64145195, 0.53379643]),
    ('Tversky', ()):
        (0.46281344, 0.2235548, [0.46281344]),
    ('Tversky', (('alpha', 0.7), ('axis', -1), ('beta', 0.3))):
        (0.47433949, 0.21086556, [0.44233567, 0.37142819, 0.38040084, 0.30575347, 0.52350891,
                 0.55435419, 0.68124765, 0.53568697]),
}


@pytest.mark.parametrize("name,kwargs,y_true,y_pred", CASES,
                         ids=[f"{c[0]}-{'-'.join(map(str, c[1].values()))}" for c in CASES])
def test_classes_and_functions_match_keras(name, kwargs, y_true, y_pred):
    ours = getattr(losses, name)(**kwargs)
    function = gn.backend.snake_case(name)
    unweighted, weighted, per_sample = KERAS_VALUES[(name, tuple(sorted(kwargs.items())))]
    np.testing.assert_allclose(ours(y_true, y_pred), unweighted, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours(y_true, y_pred, W), weighted, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.ravel(getattr(losses, function)(y_true, y_pred, **kwargs)),
                               per_sample, rtol=1e-5, atol=1e-6)
    if compare_with(keras, f"{name}'s values and config against Keras's, live"):
        theirs = getattr(keras.losses, name)(**kwargs)
        for sample_weight in (None, W):
            np.testing.assert_allclose(ours(y_true, y_pred, sample_weight),
                                       np.asarray(theirs(y_true, y_pred,
                                                         sample_weight=sample_weight)),
                                       rtol=1e-5, atol=1e-6)
        assert ours.get_config() == theirs.get_config()
        np.testing.assert_allclose(getattr(losses, function)(y_true, y_pred, **kwargs),
                                   np.asarray(getattr(keras.losses, function)(
                                       y_true, y_pred, **kwargs)), rtol=1e-5, atol=1e-6)
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
