"""gn.random against Keras 3's keras.random: signatures, shapes and dtypes, distributions,
seeding, use inside a layer's call (compiled predict and fit), and bad input.

Moments are checked within five standard errors of the sample at hand (seeded, so each
check is deterministic; the bound says how far an honest generator could stray).
"""
import inspect

import numpy as np
import pytest
from extras import compare_with, keras, needs

import graphnet as gn
import graphnet.random

N = 200_000   # samples per distribution check


def mean_within(samples, mean, std):
    """The sample mean is ``mean`` within five standard errors."""
    samples = np.asarray(samples, np.float64).ravel()
    assert abs(samples.mean() - mean) < 5 * std / np.sqrt(samples.size), \
        (samples.mean(), mean)


def variance_within(samples, variance, fourth_central_moment):
    """The sample variance is ``variance`` within five of its standard errors,
    sqrt((mu4 - variance**2) / n)."""
    samples = np.asarray(samples, np.float64).ravel()
    error = np.sqrt((fourth_central_moment - variance ** 2) / samples.size)
    assert abs(samples.var() - variance) < 5 * error, (samples.var(), variance)


def frequencies_within(values, probabilities):
    """Each value k of ``values`` occurs with frequency ``probabilities[k]`` within five
    binomial standard errors."""
    values = np.asarray(values).ravel()
    counts = np.bincount(values, minlength=len(probabilities))
    assert len(counts) == len(probabilities), counts
    p = np.asarray(probabilities, np.float64)
    error = np.sqrt(p * (1 - p) / values.size)
    np.testing.assert_array_less(np.abs(counts / values.size - p), 5 * error + 1e-12)


# -- the API ------------------------------------------------------------------------------

FUNCTIONS = ["normal", "uniform", "truncated_normal", "randint", "categorical", "dropout",
             "binomial", "shuffle"]


def test_reachable_as_graphnet_random():
    assert gn.random is graphnet.random
    assert sorted(gn.random.__all__) == sorted(FUNCTIONS + ["SeedGenerator"])
    for name in gn.random.__all__:
        assert callable(getattr(gn.random, name))


def _parameters(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD]


@needs(keras)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_signature_is_keras(name):
    assert _parameters(getattr(gn.random, name)) == _parameters(getattr(keras.random, name))


@needs(keras)
def test_seed_generator_signature_is_keras():
    # Keras's **kwargs takes only its internal `backend=`
    assert _parameters(gn.random.SeedGenerator) == _parameters(keras.random.SeedGenerator)
    for method in ("next", "get_config"):
        assert _parameters(getattr(gn.random.SeedGenerator, method)) == \
            _parameters(getattr(keras.random.SeedGenerator, method))
    ours, theirs = gn.random.SeedGenerator(12), keras.random.SeedGenerator(12)
    for ordered in (True, False, False, True):
        np.testing.assert_array_equal(ours.next(ordered=ordered),
                                      keras.ops.convert_to_numpy(theirs.next(ordered=ordered)))
    np.testing.assert_array_equal(ours.state.numpy(),
                                  keras.ops.convert_to_numpy(theirs.state.value))


# -- shapes and dtypes --------------------------------------------------------------------

@pytest.mark.parametrize("draw", [
    lambda shape: gn.random.normal(shape, seed=1),
    lambda shape: gn.random.uniform(shape, seed=1),
    lambda shape: gn.random.truncated_normal(shape, seed=1),
    lambda shape: gn.random.binomial(shape, 3, 0.5, seed=1),
], ids=["normal", "uniform", "truncated_normal", "binomial"])
@pytest.mark.parametrize("shape,want", [((2, 3), (2, 3)), ([7], (7,)), (5, (5,)), ((), ()),
                                        ((0, 3), (0, 3)), ((1, 1, 13), (1, 1, 13))])
def test_float_draws_shape_and_dtype(draw, shape, want):
    out = draw(shape)
    assert isinstance(out, np.ndarray) and out.shape == want and out.dtype == np.float32


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64"])
def test_integer_draws_take_their_dtype(dtype):
    values = gn.random.randint((4, 5), 0, 100, dtype=dtype, seed=2)
    assert values.shape == (4, 5) and values.dtype == np.dtype(dtype)
    assert gn.random.randint((3,), 0, 2, seed=2).dtype == np.int32   # Keras's default
    samples = gn.random.categorical(np.zeros((3, 4)), 6, dtype=dtype, seed=2)
    assert samples.shape == (3, 6) and samples.dtype == np.dtype(dtype)
    assert gn.random.categorical(np.zeros((3, 4)), 6, seed=2).dtype == np.int32


@pytest.mark.parametrize("fn", ["normal", "uniform", "truncated_normal"])
def test_float_dtypes(fn):
    draw = getattr(gn.random, fn)
    assert draw((3,), dtype="float32", seed=1).dtype == np.float32
    assert draw((3,), dtype=None, seed=1).dtype == np.float32   # floatx()
    # Keras draws float64 too; graphnet's C generator and kernels are float32 only, and
    # the C path refuses float64 with a clear error (as every op does)
    with pytest.raises(ValueError, match=rf"gn.random.{fn}: dtype must be float32 .*"
                                         r"got 'float64'"):
        draw((3,), dtype="float64")
    with pytest.raises(ValueError, match=rf"gn.random.{fn}: dtype must be float32 .*"
                                         r"got 'int32'"):
        draw((3,), dtype="int32")


def test_dropout_and_shuffle_keep_the_input_shape():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert gn.random.dropout(x, 0.3, seed=1).shape == (2, 3, 4)
    assert gn.random.shuffle(x, axis=2, seed=1).shape == (2, 3, 4)


# -- distributions ------------------------------------------------------------------------

def test_normal_moments():
    values = gn.random.normal((N,), mean=2.0, stddev=3.0, seed=5)
    mean_within(values, 2.0, 3.0)
    variance_within(values, 9.0, 3 * 3.0 ** 4)
    assert np.all(np.isfinite(values))


def test_uniform_range_and_moments():
    values = gn.random.uniform((N,), minval=-1.5, maxval=2.5, seed=6)
    assert values.min() >= -1.5 and values.max() < 2.5
    width = 4.0
    mean_within(values, 0.5, width / np.sqrt(12))
    variance_within(values, width ** 2 / 12, width ** 4 / 80)


def test_uniform_never_reaches_maxval():
    # seed 311897 draws the generator's top value first: 2**24 - 0.5 rounded to 2**24, so
    # the unit draw was exactly 1.0 and uniform returned maxval
    top = gn.random.uniform((2,), seed=311897)
    assert 0.999999 < top[0] < 1.0
    assert gn.random.uniform((2,), 1.0, 2.0, seed=311897)[0] < 2.0
    assert gn.random.uniform((2,), -3.0, 5.0, seed=311897)[0] < 5.0
    like = gn.ops.random_uniform_like(np.zeros(2, np.float32), seed=311897)
    assert gn.ops.convert_to_numpy(like)[0] < 1.0


def test_truncated_normal_within_two_stddev():
    values = gn.random.truncated_normal((N * 5,), mean=1.0, stddev=0.5, seed=7)
    assert values.min() >= 1.0 - 2 * 0.5 and values.max() <= 1.0 + 2 * 0.5
    # the standard normal truncated to (-2, 2): variance 1 - 4 phi(2) / (2 Phi(2) - 1)
    phi2, mass = np.exp(-2.0) / np.sqrt(2 * np.pi), 0.9544997361036416
    variance = 1 - 4 * phi2 / mass
    mean_within(values, 1.0, 0.5 * np.sqrt(variance))
    assert abs(values.std() / 0.5 - np.sqrt(variance)) < 0.005


def test_randint_range_and_frequencies():
    values = gn.random.randint((N,), -3, 4, seed=8)
    assert values.min() == -3 and values.max() == 3
    frequencies_within(values + 3, [1 / 7] * 7)
    wide = gn.random.randint((N,), 0, 2 ** 24, dtype="int64", seed=8)
    assert wide.min() >= 0 and wide.max() < 2 ** 24
    mean_within(wide, (2 ** 24 - 1) / 2, 2 ** 24 / np.sqrt(12))
    top = gn.random.randint((N,), 2 ** 24 - 5, 2 ** 24, dtype="int64", seed=8)
    frequencies_within(top - (2 ** 24 - 5), [0.2] * 5)   # exact at the edge of float32


def test_categorical_frequencies_from_logits():
    p = np.array([[0.2, 0.5, 0.3], [0.7, 0.1, 0.2]])
    logits = np.log(p) + np.array([[4.0], [-9.0]])   # softmax ignores a shift per row
    samples = gn.random.categorical(logits, N // 2, seed=9)
    assert samples.shape == (2, N // 2)
    for row in range(2):
        frequencies_within(samples[row], p[row])
    never = gn.random.categorical(np.array([[0.0, -np.inf, 0.0]]), 1000, seed=9)
    assert not np.any(never == 1)


def test_binomial_mean_and_variance():
    values = gn.random.binomial((N // 4,), 12, 0.3, seed=10)
    assert values.min() >= 0 and values.max() <= 12 and np.all(values == np.round(values))
    n, p = 12, 0.3
    mean_within(values, n * p, np.sqrt(n * p * (1 - p)))
    variance = n * p * (1 - p)
    fourth = n * p * (1 - p) * (1 + (3 * n - 6) * p * (1 - p))
    variance_within(values, variance, fourth)
    # counts and probabilities broadcast to the shape, as Keras's
    mixed = gn.random.binomial((4, 3), np.array([0, 1, 5]), np.array([[0.0], [1.0], [1.0],
                                                                       [0.5]]), seed=10)
    np.testing.assert_array_equal(mixed[:3], [[0, 0, 0], [0, 1, 5], [0, 1, 5]])
    assert np.all(mixed[3] <= [0, 1, 5])


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_zero_share_and_scaling(rate):
    x = np.full((N // 10, 10), 3.0, np.float32)
    out = gn.random.dropout(x, rate, seed=11)
    dropped = out == 0
    mean_within(dropped, rate, np.sqrt(rate * (1 - rate)))
    np.testing.assert_allclose(out[~dropped], 3.0 / (1 - rate), rtol=1e-6)


def test_dropout_noise_shape_shares_the_mask():
    x = np.ones((500, 6), np.float32)
    out = gn.random.dropout(x, 0.5, noise_shape=(None, 1), seed=12)
    assert np.all(out == out[:, :1])            # one draw per row
    assert 0 < np.count_nonzero(out[:, 0]) < 500
    out = gn.random.dropout(x, 0.5, noise_shape=(1, 6), seed=12)
    assert np.all(out == out[:1])               # one draw per column


def test_dropout_rates_zero_and_one_as_keras():
    x = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    assert gn.random.dropout(x, 0.0) is x
    np.testing.assert_array_equal(gn.random.dropout(x, 1.0), np.zeros((2, 3)))
    if compare_with(keras, "dropout at rates 0 and 1 against keras.random.dropout"):
        for rate in (0.0, 1.0):
            tensor = keras.ops.convert_to_tensor(x)
            want = keras.ops.convert_to_numpy(keras.random.dropout(tensor, rate, seed=1))
            np.testing.assert_array_equal(gn.random.dropout(x, rate, seed=1), want)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_shuffle_permutes_along_axis(axis):
    x = np.arange(5 * 7, dtype=np.float32).reshape(5, 7)
    out = gn.random.shuffle(x, axis=axis, seed=13)
    order = np.argsort(np.take(out, 0, axis=1 - axis % 2), kind="stable")
    perm = np.argsort(order)   # out = take(x, perm, axis)
    np.testing.assert_array_equal(out, np.take(x, perm, axis=axis))
    assert sorted(perm) == list(range(x.shape[axis])) and list(perm) != sorted(perm)


# -- seeding ------------------------------------------------------------------------------

DRAWS = {
    "normal": lambda seed: gn.random.normal((50,), seed=seed),
    "uniform": lambda seed: gn.random.uniform((50,), seed=seed),
    "truncated_normal": lambda seed: gn.random.truncated_normal((50,), seed=seed),
    "randint": lambda seed: gn.random.randint((50,), 0, 1000, seed=seed),
    "categorical": lambda seed: gn.random.categorical(np.zeros((2, 50)), 25, seed=seed),
    "dropout": lambda seed: gn.random.dropout(np.ones(50), 0.5, seed=seed),
    "binomial": lambda seed: gn.random.binomial((50,), 20, 0.5, seed=seed),
    "shuffle": lambda seed: gn.random.shuffle(np.arange(50), seed=seed),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_seeds(name):
    draw = DRAWS[name]
    # an int seed draws the same values on every call (Keras's rule), two ints differ
    np.testing.assert_array_equal(draw(42), draw(42))
    assert not np.array_equal(draw(42), draw(43))
    # a generator advances; two generators of one seed give the same stream
    one, two = gn.random.SeedGenerator(7), gn.random.SeedGenerator(7)
    first, second = draw(one), draw(one)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(draw(two), first)
    np.testing.assert_array_equal(draw(two), second)
    # None draws from the session generator: new values each call, repeatable from
    # gn.utils.set_random_seed
    gn.utils.set_random_seed(3)
    a, b = draw(None), draw(None)
    assert not np.array_equal(a, b)
    gn.utils.set_random_seed(3)
    np.testing.assert_array_equal(draw(None), a)


def test_seed_generator_state_config_and_any_int():
    gen = gn.random.SeedGenerator(5, name="noise_seed")
    np.testing.assert_array_equal(gen.state.numpy(), [5, 0])
    np.testing.assert_array_equal(gen.next(), [5, 0])
    np.testing.assert_array_equal(gen.state.numpy(), [5, 1])
    np.testing.assert_array_equal(gen.next(ordered=False), [5, 1])
    np.testing.assert_array_equal(gen.state.numpy(), [6 * 5387 % 933199, 2 * 5387])
    assert gen.get_config() == {"seed": 5, "name": "noise_seed"}
    again = gn.random.SeedGenerator.from_config(gen.get_config())
    np.testing.assert_array_equal(gn.random.normal((4,), seed=again),
                                  gn.random.normal((4,), seed=gn.random.SeedGenerator(5)))
    assert gn.random.SeedGenerator().get_config()["seed"] is None
    # Python ints beyond int64, and negative ones, are seeds as in Keras
    for seed in (2 ** 70, -1):
        np.testing.assert_array_equal(gn.random.normal((3,), seed=seed),
                                      gn.random.normal((3,), seed=seed))
    assert not np.array_equal(gn.random.normal((3,), seed=-1),
                              gn.random.normal((3,), seed=1))


# -- inside a layer's call ----------------------------------------------------------------

class Noisy(gn.layers.Layer):
    """Adds N(0, 1) noise to its inputs, from a generator of its own, in training and
    inference alike."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = gn.random.SeedGenerator(1337)

    def call(self, inputs):
        return inputs + gn.random.normal((inputs.shape[-1],), seed=self.seed_generator)


class DropHalfNet(gn.Model):
    """A subclassed model dropping half its inputs while training (Keras's pattern: a
    SeedGenerator attribute, ``if training:`` in call)."""

    def __init__(self):
        super().__init__()
        self.seed_generator = gn.random.SeedGenerator(4)
        self.dense = gn.layers.Dense(1, kernel_initializer="ones", use_bias=False)

    def call(self, inputs, training=None):
        if training:
            inputs = gn.random.dropout(inputs, 0.5, seed=self.seed_generator)
        return self.dense(inputs)


def test_random_in_a_layer_call_draws_on_each_predict():
    inputs = gn.Input((6,))
    model = gn.Model(inputs, Noisy()(inputs))
    x = np.zeros((3, 6), np.float32)
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert first.shape == (3, 6) and first.dtype == np.float32
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, first[:1].repeat(3, 0))   # one draw per call
    # the same layer in another model starts from the same generator seed
    again = gn.Model(inputs, Noisy()(inputs))
    np.testing.assert_array_equal(again.predict(x, verbose=0), first)


def test_random_in_a_layer_call_draws_on_each_fit_step():
    inputs = gn.Input((4,))
    outputs = gn.layers.Dense(1, kernel_initializer="ones", use_bias=False)(Noisy()(inputs))
    model = gn.Model(inputs, outputs)
    model.compile(gn.optimizers.SGD(learning_rate=0.0), "mse")
    losses = []
    model.fit(np.zeros((40, 4), np.float32), np.zeros((40, 1), np.float32), batch_size=8,
              verbose=0, shuffle=False, callbacks=[gn.callbacks.LambdaCallback(
                  on_train_batch_end=lambda batch, logs: losses.append(logs["loss"]))])
    # with nothing learnt, equal draws would give equal running means
    assert len(losses) == 5 and len(set(losses)) == 5
    np.testing.assert_array_equal(model.get_weights()[0], np.ones((4, 1)))


def test_dropout_in_a_subclassed_call_follows_the_training_flag():
    model = DropHalfNet()
    model.compile(gn.optimizers.SGD(learning_rate=0.0), "mse")
    x, y = np.ones((4, 50), np.float32), np.zeros((4, 1), np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.full((4, 1), 50.0))
    # training: each kept input counts 2, so each row's output is 2 * (kept inputs),
    # an even number near 50 that differs between steps
    losses = [float(model.train_on_batch(x, y)) for _ in range(3)]
    assert len(set(losses)) == 3
    for loss in losses:
        assert 20.0 ** 2 < loss < 80.0 ** 2
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.full((4, 1), 50.0))


def test_symbolic_shuffle_is_refused():
    inputs = gn.Input((3,))
    with pytest.raises(TypeError, match="gn.random.shuffle: graphs have no sort op"):
        gn.random.shuffle(inputs)


# -- bad input ----------------------------------------------------------------------------

BAD = [
    (lambda: gn.random.dropout(np.ones(3), -0.1), r"gn.random.dropout: rate must be a number "
                                                  r"in \[0, 1\], got -0.1"),
    (lambda: gn.random.dropout(np.ones(3), 1.5), r"rate must be a number in \[0, 1\], got 1.5"),
    (lambda: gn.random.dropout(np.ones(3), "0.5"), r"rate must be a number.*got '0.5'"),
    (lambda: gn.random.dropout(np.ones((2, 3)), 0.5, noise_shape=(2, 2)),
     r"gn.random.dropout: noise_shape must have one entry per dimension.*\(2, 2\).*\(2, 3\)"),
    (lambda: gn.random.dropout(np.ones((2, 3)), 0.5, noise_shape=(1,)), r"noise_shape"),
    (lambda: gn.random.uniform((2,), 1.0, 1.0), r"gn.random.uniform: minval must be below "
                                                r"maxval, got 1.0 and 1.0"),
    (lambda: gn.random.randint((2,), 5, 2), r"gn.random.randint: minval must be below maxval, "
                                            r"got 5 and 2"),
    (lambda: gn.random.randint((2,), 0.5, 3), r"gn.random.randint: minval must be an integer, "
                                              r"got 0.5"),
    (lambda: gn.random.randint((2,), 0, 300, dtype="int8"),
     r"gn.random.randint: \[minval, maxval\) = \[0, 300\) does not fit dtype int8"),
    (lambda: gn.random.randint((2,), 0, 2 ** 25),
     r"gn.random.randint: minval and maxval must lie within \+-2\*\*24 .*got 0 and 33554432"),
    (lambda: gn.random.randint((2,), -2 ** 24, 2 ** 24), r"at most 2\*\*24 apart"),
    (lambda: gn.random.randint((2,), 10 ** 9, 10 ** 9 + 5), r"within \+-2\*\*24"),
    (lambda: gn.random.randint((2,), 0, 3, dtype="float32"),
     r"gn.random.randint: dtype must be one of int8, uint8, int32, int64, got 'float32'"),
    (lambda: gn.random.normal((2, -1)), r"gn.random.normal: shape must not be negative, "
                                        r"got \(2, -1\)"),
    (lambda: gn.random.normal((2.5,)), r"gn.random.normal: shape must be a tuple of ints, "
                                       r"got \(2.5,\)"),
    (lambda: gn.random.uniform("ab"), r"gn.random.uniform: shape must be a tuple of ints"),
    (lambda: gn.random.normal((None, 3)), r"shape must be a tuple of ints, got \(None, 3\).*"
                                          r"gn.ops.shape\(x\)\[axis\]"),
    (lambda: gn.random.normal((2,), seed="x"), r"gn.random.normal: seed must be None, an "
                                               r"integer or a gn.random.SeedGenerator"),
    (lambda: gn.random.uniform((2,), seed=1.5), r"gn.random.uniform: seed must be None"),
    (lambda: gn.random.SeedGenerator("x"), r"SeedGenerator: seed must be an integer"),
    (lambda: gn.random.categorical(np.ones(3), 2), r"gn.random.categorical: logits must have "
                                                   r"shape \(batch, classes\), got shape \(3,\)"),
    (lambda: gn.random.categorical(np.ones((2, 3)), 0), r"num_samples must be >= 1, got 0"),
    (lambda: gn.random.categorical(np.ones((2, 3)), 2, dtype="float32"),
     r"gn.random.categorical: dtype must be one of"),
    (lambda: gn.random.binomial((3,), -1, 0.5), r"gn.random.binomial: counts must be integers "
                                                r">= 0"),
    (lambda: gn.random.binomial((3,), 2.5, 0.5), r"counts must be integers >= 0"),
    (lambda: gn.random.binomial((3,), 2, 1.5), r"gn.random.binomial: probabilities must be in "
                                               r"\[0, 1\], got 1.5"),
    (lambda: gn.random.binomial((3,), 2, np.full(4, 0.5)),
     r"gn.random.binomial: probabilities of shape \(4,\) does not broadcast to shape \(3,\)"),
    (lambda: gn.random.binomial((3,), np.ones((2, 3), int), 0.5),
     r"counts of shape \(2, 3\) does not broadcast to shape \(3,\)"),
    (lambda: gn.random.shuffle(np.ones(3), axis=2), r"gn.random.shuffle: axis 2 is out of "
                                                    r"range for rank 1"),
    (lambda: gn.random.shuffle(np.float32(1)), r"gn.random.shuffle: x is a scalar"),
]


@pytest.mark.parametrize("call,message", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@needs(keras)
def test_keras_refuses_what_graphnet_refuses():
    # the dtype checks keras.random makes itself, on every backend
    with pytest.raises(ValueError):
        keras.random.uniform((2,), dtype="int32")
    with pytest.raises(ValueError):
        keras.random.randint((2,), 0, 3, dtype="float32")
    with pytest.raises(ValueError):
        keras.random.categorical(np.ones(3), 2)
    with pytest.raises(ValueError):
        keras.random.SeedGenerator("x")
