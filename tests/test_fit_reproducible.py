"""gn.utils.set_random_seed makes fit reproducible: initial weights, dropout masks and the
shuffling all come from graphnet's seeded generator, never numpy's global one."""
import numpy as np
import pytest

import graphnet as gn

L = gn.layers


def _data(n=50):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, 5)).astype("float32")
    return x, (x @ rng.standard_normal((5, 3)) > 0).astype("float32")


def _trained_weights(seed, numpy_seed, **fit_args):
    """Weights after set_random_seed(seed), a fresh model and fit, with numpy's global
    generator seeded to ``numpy_seed`` just before fit (which must not matter)."""
    gn.utils.set_random_seed(seed)
    model = gn.Sequential([gn.Input((5,)), L.Dense(8, activation="relu"), L.Dropout(0.3),
                           L.Dense(3, activation="sigmoid")])
    model.compile(optimizer=gn.optimizers.SGD(0.1), loss="binary_crossentropy")
    np.random.seed(numpy_seed)
    model.fit(*_data(), batch_size=8, verbose=0, **fit_args)
    return model.get_weights()


@pytest.mark.parametrize("fit_args", [{"epochs": 3}, {"epochs": 2, "steps_per_epoch": 9}],
                         ids=["epochs", "steps_per_epoch"])
def test_same_seed_same_weights_whatever_numpy_global_state(fit_args):
    first = _trained_weights(5, numpy_seed=1, **fit_args)
    second = _trained_weights(5, numpy_seed=2, **fit_args)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_shuffle_order_follows_the_seed():
    """Dropout off and fixed initial weights: only the shuffling can differ."""
    def weights(seed):
        model = gn.Sequential([gn.Input((5,)), L.Dense(3, kernel_initializer="ones")])
        model.compile(optimizer=gn.optimizers.SGD(0.1), loss="mse")
        gn.utils.set_random_seed(seed)
        model.fit(*_data(), batch_size=4, epochs=1, verbose=0)
        return model.get_weights()[0]

    np.testing.assert_array_equal(weights(3), weights(3))
    assert not np.array_equal(weights(3), weights(4))


def test_different_seeds_give_different_weights():
    first = _trained_weights(5, numpy_seed=1, epochs=2)
    other = _trained_weights(6, numpy_seed=1, epochs=2)
    assert not np.array_equal(first[0], other[0])
