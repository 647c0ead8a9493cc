"""Lion, Adafactor, Lamb, Ftrl and the CosineDecayRestarts schedule against Keras 3:
five training steps of a small model (tests/extras.train_alike), configs, the schedule
inside the compiled step, and bad arguments."""
import numpy as np
import pytest

import graphnet as gn
from extras import keras, needs, train_alike
from graphnet import optimizers
from graphnet.optimizers import schedules
from test_optimizers import _tiny_models as _models   # Dense(4, tanh) -> Dense(2) pairs

rng = np.random.default_rng(5)
X = rng.standard_normal((16, 5)).astype("float32")
Y = rng.standard_normal((16, 2)).astype("float32")


CONFIGS = [
    ("Lion", {"learning_rate": 0.01}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "weight_decay": 0.1}),
    ("Lamb", {"learning_rate": 0.05}),
    ("Lamb", {"learning_rate": 0.05, "beta_1": 0.8, "epsilon": 1e-5, "clipnorm": 0.5}),
    ("Adafactor", {"learning_rate": 0.05}),
    ("Adafactor", {"learning_rate": 0.5, "relative_step": False, "clip_threshold": 0.5,
                   "beta_2_decay": -0.6, "epsilon_2": 1e-2}),
    ("Ftrl", {"learning_rate": 0.1}),
    ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01,
              "l2_regularization_strength": 0.02, "l2_shrinkage_regularization_strength": 0.03,
              "beta": 0.1, "learning_rate_power": -0.7, "initial_accumulator_value": 0.3}),
]


@needs(keras)
@pytest.mark.parametrize("name,args", CONFIGS,
                         ids=[f"{n}-{len(a)}" for n, a in CONFIGS])
def test_five_steps_match_keras(name, args):
    model, kmodel = _models()
    train_alike(model, kmodel, X, Y, name, args)
    ours, theirs = model.optimizer.get_config(), kmodel.optimizer.get_config()
    assert ours.pop("name") == name.lower() and theirs.pop("name").startswith(name.lower())
    assert ours == theirs   # Keras numbers a second instance's name ("lion_1")
    restored = optimizers.deserialize(optimizers.serialize(model.optimizer))
    assert restored.get_config() == model.optimizer.get_config()
    assert type(optimizers.get(name.lower())) is type(model.optimizer)


RESTARTS = [{"initial_learning_rate": 0.1, "first_decay_steps": 3},
            {"initial_learning_rate": 0.1, "first_decay_steps": 4, "t_mul": 1.0,
             "m_mul": 0.5, "alpha": 0.1},
            {"initial_learning_rate": 0.2, "first_decay_steps": 3, "t_mul": 1.5,
             "m_mul": 0.8, "alpha": 0.05}]


@needs(keras)
@pytest.mark.parametrize("config", RESTARTS, ids=["default", "constant-period", "t-1.5"])
def test_cosine_decay_restarts_matches_keras(config):
    ours = schedules.CosineDecayRestarts(**config)
    theirs = keras.optimizers.schedules.CosineDecayRestarts(**config)
    np.testing.assert_allclose([ours(step) for step in range(40)],
                               [float(theirs(step)) for step in range(40)], atol=1e-6)
    assert ours.get_config() == theirs.get_config()
    assert schedules.deserialize(schedules.serialize(ours)).get_config() == ours.get_config()


@needs(keras)
@pytest.mark.parametrize("name", ["Lion", "Adafactor"])
def test_schedule_runs_inside_the_compiled_step_like_keras(name):
    """Adafactor with a schedule takes its rate as given (no relative step)."""
    config = {"initial_learning_rate": 0.05, "first_decay_steps": 2, "t_mul": 2.0}
    model, kmodel = _models()
    model.compile(getattr(optimizers, name)(schedules.CosineDecayRestarts(**config)), "mse")
    kmodel.compile(getattr(keras.optimizers, name)(
        keras.optimizers.schedules.CosineDecayRestarts(**config)), "mse")
    for _ in range(5):
        np.testing.assert_allclose(model.train_on_batch(X, Y), kmodel.train_on_batch(X, Y),
                                   atol=1e-5)
    for ours, theirs in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_reference_backend_trains_the_same():
    """The NumPy reference interpreter and the C plan take the same steps."""
    results = []
    for backend in ("c", "reference"):
        gn.utils.set_random_seed(2)
        model = gn.Sequential([gn.Input((5,)), gn.layers.Dense(3), gn.layers.Dense(2)])
        model.compile(optimizers.Adafactor(0.1), "mse", backend=backend)
        for _ in range(3):
            model.train_on_batch(X, Y)
        results.append(model.get_weights())
    for c_weights, reference_weights in zip(*results):
        np.testing.assert_allclose(c_weights, reference_weights, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make,message", [
    (lambda: optimizers.Lion(beta_1=0.0), "beta_1"),
    (lambda: optimizers.Ftrl(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (lambda: optimizers.Ftrl(learning_rate_power=0.5), "learning_rate_power"),
    (lambda: optimizers.Ftrl(l1_regularization_strength=-0.1), "l1_regularization_strength"),
    (lambda: optimizers.Ftrl(l2_shrinkage_regularization_strength=-1.0),
     "l2_shrinkage_regularization_strength"),
    (lambda: schedules.CosineDecayRestarts(0.1, 0), "first_decay_steps"),
])
def test_bad_arguments_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
    with pytest.raises(TypeError):
        optimizers.Lamb(beta_3=0.5)
