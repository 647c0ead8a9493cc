"""Optimizers: update ops against a NumPy re-implementation of Keras 3's formulas and
against keras itself (torch backend), on raw gradients and on a small model."""
import math

import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs
from graphnet import optimizers
from graphnet.optimizers import schedules

BACKENDS = ["c", "reference"]


# ---- NumPy re-implementation of keras/src/optimizers/*.py ----------------------------

class NumpyOptimizer:
    """Keras 3's update rules in float64 NumPy, one variable list at a time."""

    def __init__(self, name, lr=None, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, **hp):
        defaults = {"SGD": 0.01}
        self.name, self.hp = name, hp
        self.lr = defaults.get(name, 0.001) if lr is None else lr
        self.wd = 0.004 if name == "AdamW" and weight_decay is None else weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, \
            global_clipnorm
        self.t = 0
        self.state = {}
        self.u_product = 1.0

    def slot(self, i, key, shape, init=0.0):
        return self.state.setdefault((i, key), np.full(shape, init))

    def lr_at(self, t):
        return self.lr(t) if callable(self.lr) else self.lr

    def step(self, weights, grads):
        grads = [np.asarray(g, "float64") for g in grads]
        if self.clipnorm:
            grads = [g * self.clipnorm / max(np.sqrt((g ** 2).sum()), self.clipnorm)
                     for g in grads]
        elif self.global_clipnorm:
            norm = math.sqrt(sum((g ** 2).sum() for g in grads))
            grads = [g * min(1.0, self.global_clipnorm / norm) for g in grads]
        elif self.clipvalue:
            grads = [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        lr, t = self.lr_at(self.t), self.t + 1
        hp = self.hp
        if self.name == "Nadam":
            b1 = hp.get("beta_1", 0.9)
            self.u_product *= b1 * (1 - 0.5 * 0.96 ** t)
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            w = np.asarray(w, "float64")
            if self.wd:
                w = w - w * self.wd * lr
            out.append(getattr(self, "_" + self.name.lower())(i, w, g, lr, t, hp))
        self.t += 1
        return out

    def _sgd(self, i, w, g, lr, t, hp):
        mom = hp.get("momentum", 0.0)
        if not mom:
            return w - lr * g
        m = self.slot(i, "m", w.shape)
        m[...] = m * mom - g * lr
        return w + (m * mom - g * lr if hp.get("nesterov") else m)

    def _rmsprop(self, i, w, g, lr, t, hp):
        rho, mom, eps = hp.get("rho", 0.9), hp.get("momentum", 0.0), 1e-7
        v = self.slot(i, "v", w.shape)
        v[...] = rho * v + (1 - rho) * g * g
        if hp.get("centered"):
            a = self.slot(i, "a", w.shape)
            a[...] = rho * a + (1 - rho) * g
            inc = lr * g / np.sqrt(v - a * a + eps)
        else:
            inc = lr * g / np.sqrt(v + eps)
        if mom > 0:
            m = self.slot(i, "m", w.shape)
            m[...] = mom * m + inc
            return w - m
        return w - inc

    def _adagrad(self, i, w, g, lr, t, hp):
        acc = self.slot(i, "acc", w.shape, 0.1)
        acc += g * g
        return w - lr * g / np.sqrt(acc + 1e-7)

    def _adadelta(self, i, w, g, lr, t, hp):
        rho, eps = hp.get("rho", 0.95), 1e-7
        ag, ad = self.slot(i, "ag", w.shape), self.slot(i, "ad", w.shape)
        ag[...] = rho * ag + (1 - rho) * g * g
        delta = -np.sqrt(ad + eps) * g / np.sqrt(ag + eps)
        ad[...] = rho * ad + (1 - rho) * delta * delta
        return w + lr * delta

    def _adam(self, i, w, g, lr, t, hp):
        b1, b2 = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999)
        m, v = self.slot(i, "m", w.shape), self.slot(i, "v", w.shape)
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        if hp.get("amsgrad"):
            vh = self.slot(i, "vh", w.shape)
            vh[...] = np.maximum(vh, v)
            v = vh
        return w - m * alpha / (np.sqrt(v) + 1e-7)

    _adamw = _adam

    def _adamax(self, i, w, g, lr, t, hp):
        b1, b2 = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999)
        m, u = self.slot(i, "m", w.shape), self.slot(i, "u", w.shape)
        m += (g - m) * (1 - b1)
        u[...] = np.maximum(b2 * u, np.abs(g))
        return w - lr * m / ((1 - b1 ** t) * (u + 1e-7))

    def _nadam(self, i, w, g, lr, t, hp):
        b1, b2 = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999)
        u_t = b1 * (1 - 0.5 * 0.96 ** t)
        u_t1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        up, up1 = self.u_product, self.u_product * u_t1
        m, v = self.slot(i, "m", w.shape), self.slot(i, "v", w.shape)
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        m_hat = u_t1 * m / (1 - up1) + (1 - u_t) * g / (1 - up)
        v_hat = v / (1 - b2 ** t)
        return w - m_hat * lr / (np.sqrt(v_hat) + 1e-7)


CONFIGS = [
    ("SGD", {}), ("SGD", {"momentum": 0.9}), ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("RMSprop", {}), ("RMSprop", {"momentum": 0.5, "centered": True}),
    ("Adagrad", {}), ("Adadelta", {"learning_rate": 1.0}),
    ("Adam", {}), ("Adam", {"amsgrad": True}), ("AdamW", {}), ("AdamW", {"weight_decay": 0.1}),
    ("Adamax", {}), ("Nadam", {}),
    ("Adam", {"clipnorm": 0.5}), ("SGD", {"global_clipnorm": 0.5, "momentum": 0.5}),
    ("RMSprop", {"clipvalue": 0.05}), ("SGD", {"weight_decay": 0.1}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in c.items())}" for n, c in CONFIGS]


def _problem(seed=0, steps=4):
    rng = np.random.default_rng(seed)
    w0 = [rng.standard_normal((3, 4)).astype("float32"),
          rng.standard_normal((4,)).astype("float32")]
    grads = [[rng.standard_normal(w.shape).astype("float32") for w in w0]
             for _ in range(steps)]
    return w0, grads


def _numpy_reference(name, config, w0, grads):
    cfg = dict(config)
    ref = NumpyOptimizer(name, lr=cfg.pop("learning_rate", None),
                         weight_decay=cfg.pop("weight_decay", None),
                         clipnorm=cfg.pop("clipnorm", None), clipvalue=cfg.pop("clipvalue", None),
                         global_clipnorm=cfg.pop("global_clipnorm", None), **cfg)
    ws = [w.astype("float64") for w in w0]
    for g in grads:
        ws = ref.step(ws, g)
    return ws


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,config", CONFIGS, ids=IDS)
def test_updates_match_numpy_and_keras(name, config, backend):
    w0, grads = _problem()
    variables = [gn.Variable(w.copy(), name=f"w{i}") for i, w in enumerate(w0)]
    opt = getattr(optimizers, name)(**config)
    for g in grads:
        opt.apply(g, variables, backend=backend)
    expected = _numpy_reference(name, config, w0, grads)
    for var, exp in zip(variables, expected):
        np.testing.assert_allclose(var.value, exp, rtol=2e-5, atol=2e-6)
    assert int(opt.iterations.value) == len(grads)
    if not compare_with(keras, "the weights and state against Keras's optimizer"):
        return
    kvars = [keras.Variable(w.copy()) for w in w0]
    kopt = getattr(keras.optimizers, name)(**config)
    for g in grads:
        kopt.apply([keras.ops.convert_to_tensor(x) for x in g], kvars)
    for var, kv in zip(variables, kvars):
        np.testing.assert_allclose(var.value, np.asarray(kv.numpy()), rtol=2e-5, atol=2e-6)
    # the same state, in Keras's order
    assert len(opt.variables) == len(kopt.variables)
    for ours, theirs in zip(opt.variables, kopt.variables):
        np.testing.assert_allclose(ours.value, np.asarray(theirs.numpy()), rtol=2e-5,
                                   atol=2e-6)


# each builds the same schedule from graphnet's schedules module or from Keras's
SCHEDULES = [
    lambda module: module.ExponentialDecay(0.1, 3, 0.5),
    lambda module: module.ExponentialDecay(0.1, 3, 0.5, staircase=True),
    lambda module: module.PiecewiseConstantDecay([2, 5], [0.1, 0.05, 0.01]),
    lambda module: module.CosineDecay(0.1, 6, alpha=0.1),
    lambda module: module.CosineDecay(0.0, 6, warmup_target=0.1, warmup_steps=3),
    lambda module: module.InverseTimeDecay(0.1, 2, 0.5),
    lambda module: module.PolynomialDecay(0.1, 4, cycle=True),
]


@pytest.mark.parametrize("make", SCHEDULES, ids=[
    "exponential", "exponential-staircase", "piecewise", "cosine", "cosine-warmup",
    "inverse-time", "polynomial-cycle"])
def test_schedules_match_keras(make):
    schedule = make(schedules)
    back = schedules.deserialize(schedules.serialize(schedule))
    assert back.get_config() == schedule.get_config()
    if compare_with(keras, f"{type(schedule).__name__} against Keras's"):
        kschedule = make(keras.optimizers.schedules)
        for step in range(0, 12):
            assert schedule(step) == pytest.approx(float(kschedule(step)), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_schedule_runs_inside_the_step(backend):
    w0, grads = _problem(1, steps=6)
    sched = schedules.PiecewiseConstantDecay([2, 4], [0.1, 0.01, 0.001])
    variables = [gn.Variable(w.copy(), name=f"w{i}") for i, w in enumerate(w0)]
    opt = optimizers.SGD(learning_rate=sched, momentum=0.5)
    for g in grads:
        opt.apply(g, variables, backend=backend)
    expected = NumpyOptimizer("SGD", lr=sched, momentum=0.5)
    ws = [w.astype("float64") for w in w0]
    for g in grads:
        ws = expected.step(ws, g)
    for var, exp in zip(variables, ws):
        np.testing.assert_allclose(var.value, exp, rtol=1e-5, atol=1e-6)
    assert opt.learning_rate == pytest.approx(0.001)
    assert len(opt._apply_cache) == 1
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_learning_rate_variable_changes_without_recompiling(backend):
    w = gn.Variable(np.ones(3, "float32"), name="w")
    opt = optimizers.SGD(0.1)
    opt.apply([np.ones(3, "float32")], [w], backend=backend)
    np.testing.assert_allclose(w.value, 0.9, rtol=1e-6)
    opt.learning_rate = 0.5
    assert opt.learning_rate_variable.value == np.float32(0.5)
    opt.apply([np.ones(3, "float32")], [w], backend=backend)
    np.testing.assert_allclose(w.value, 0.4, rtol=1e-6)
    fn = next(iter(opt._apply_cache.values()))
    assert len(opt._apply_cache) == 1
    if backend == "c":
        assert len(fn._cache) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_constraints_are_applied_to_new_values(backend):
    w = gn.Variable(np.array([0.5, -0.5, 2.0], "float32"), name="w",
                    constraint=gn.constraints.NonNeg())
    opt = optimizers.SGD(1.0)
    opt.apply([np.array([1.0, 0.0, -1.0], "float32")], [w], backend=backend)
    np.testing.assert_allclose(w.value, [0.0, 0.0, 3.0])


def test_state_save_restore_reproduces_the_trajectory():
    w0, grads = _problem(2, steps=6)
    a = [gn.Variable(w.copy(), name=f"a{i}") for i, w in enumerate(w0)]
    opt = optimizers.Adam(0.01)
    for g in grads[:3]:
        opt.apply(g, a)
    saved_state = opt.get_weights()
    saved_weights = [v.numpy() for v in a]
    store = {}
    opt.save_own_variables(store)
    for g in grads[3:]:
        opt.apply(g, a)
    b = [gn.Variable(w, name=f"b{i}") for i, w in enumerate(saved_weights)]
    opt2 = optimizers.deserialize(optimizers.serialize(opt))
    opt2.build(b)
    opt2.load_own_variables(store)
    assert [s.shape for s in saved_state] == [v.shape for v in opt2.variables]
    for g in grads[3:]:
        opt2.apply(g, b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.value, y.value, rtol=1e-6)
    with pytest.raises(ValueError, match="state variables"):
        opt2.set_weights(saved_state[:2])


def test_get_config_lookup_and_errors():
    opt = optimizers.get("rmsprop")
    assert isinstance(opt, optimizers.RMSprop)
    config = opt.get_config()
    if compare_with(keras, "configs and lookups against Keras's"):
        kconfig = keras.optimizers.RMSprop().get_config()
        for key in ("learning_rate", "rho", "momentum", "epsilon", "centered", "weight_decay",
                    "clipnorm", "clipvalue", "global_clipnorm"):
            assert config[key] == pytest.approx(kconfig[key]) if isinstance(
                kconfig[key], float) else config[key] == kconfig[key], key
        for name in ("sgd", "adagrad", "adadelta", "adam", "adamw", "adamax", "nadam"):
            ours, theirs = optimizers.get(name), keras.optimizers.get(name)
            assert type(ours).__name__ == type(theirs).__name__
            assert ours.learning_rate == pytest.approx(float(theirs.learning_rate))
    sched = optimizers.Adam(schedules.ExponentialDecay(0.1, 10, 0.9))
    again = optimizers.Adam.from_config(sched.get_config())
    assert isinstance(again._schedule, schedules.ExponentialDecay)
    assert optimizers.SGD(lr=0.3).learning_rate == pytest.approx(0.3)
    with pytest.raises(ValueError, match="Unknown optimizer 'adamz'"):
        optimizers.get("adamz")
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    w = gn.Variable(np.ones(2, "float32"), name="w")
    other = gn.Variable(np.ones(2, "float32"), name="other")
    opt = optimizers.SGD()
    opt.build([w])
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply([np.ones(2, "float32")], [other])


# ---- a small model trained step by step, against keras ------------------------------------

MODEL_CONFIGS = [("SGD", {"momentum": 0.9, "nesterov": True}), ("RMSprop", {}),
                 ("Adagrad", {"learning_rate": 0.05}), ("Adadelta", {"learning_rate": 1.0}),
                 ("Adam", {"amsgrad": True}), ("AdamW", {"weight_decay": 0.05}),
                 ("Adamax", {}), ("Nadam", {})]


def _tiny_models():
    """Dense(4, tanh) -> Dense(2) in graphnet and in Keras, with the same weights."""
    model = gn.Sequential([gn.Input((5,)), gn.layers.Dense(4, activation="tanh"),
                           gn.layers.Dense(2)])
    kmodel = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"),
                               keras.layers.Dense(2)])
    kmodel.set_weights(model.get_weights())
    return model, kmodel


@needs(keras)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,config", MODEL_CONFIGS, ids=[c[0] for c in MODEL_CONFIGS])
def test_small_model_training_matches_keras(name, config, backend):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 5)).astype("float32")
    y = rng.standard_normal((16, 2)).astype("float32")
    model, kmodel = _tiny_models()
    model.compile(getattr(optimizers, name)(**config), "mse", backend=backend)
    kmodel.compile(getattr(keras.optimizers, name)(**config), "mse")
    for step in range(3):
        sl = slice(step * 5, step * 5 + 8)
        ours = model.train_on_batch(x[sl], y[sl])
        theirs = kmodel.train_on_batch(x[sl], y[sl])
        assert ours == pytest.approx(float(theirs), rel=1e-5)
    for a, b in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# ---- Keras 3's extras: use_ema, gradient_accumulation_steps, loss_scale_factor ----------

def _exp_decay(module):
    return module.schedules.ExponentialDecay(0.05, 2, 0.5)


# (name, config, a factory of the learning rate given the optimizers module, or None)
EXTRA_CONFIGS = [
    ("Adam", {"use_ema": True, "ema_momentum": 0.9}, None),
    ("Adam", {"use_ema": True, "ema_momentum": 0.8, "ema_overwrite_frequency": 3}, None),
    ("Nadam", {"gradient_accumulation_steps": 3}, None),
    ("SGD", {"momentum": 0.9, "gradient_accumulation_steps": 2, "use_ema": True,
             "ema_overwrite_frequency": 2, "clipnorm": 0.5}, None),
    ("AdamW", {"weight_decay": 0.1, "gradient_accumulation_steps": 3}, _exp_decay),
    ("RMSprop", {"loss_scale_factor": 8.0, "momentum": 0.5}, None),
    ("SGD", {"loss_scale_factor": 0.25, "gradient_accumulation_steps": 3, "momentum": 0.5},
     None),
    ("SGD", {"loss_scale_factor": 4.0, "use_ema": True, "ema_overwrite_frequency": 4}, None),
    ("Adamax", {"loss_scale_factor": 0.25, "gradient_accumulation_steps": 2,
                "use_ema": True, "ema_momentum": 0.5, "global_clipnorm": 0.3}, None),
]
EXTRA_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in c.items())}" + ("-sched" if s else "")
             for n, c, s in EXTRA_CONFIGS]


def _pair(name, config, schedule, learning_rate=0.1):
    """The graphnet optimizer and the Keras one, from the same arguments."""
    ours_lr = schedule(optimizers) if schedule else learning_rate
    theirs_lr = schedule(keras.optimizers) if schedule else learning_rate
    return (getattr(optimizers, name)(learning_rate=ours_lr, **config),
            getattr(keras.optimizers, name)(learning_rate=theirs_lr, **config))


def _assert_state_matches_keras(opt, kopt, rtol=1e-5, atol=1e-6):
    """The same state variables as Keras, in Keras's order, with Keras's values."""
    assert [tuple(v.shape) for v in opt.variables] == [tuple(v.shape) for v in kopt.variables]
    for ours, theirs in zip(opt.variables, kopt.variables):
        np.testing.assert_allclose(ours.value, np.asarray(theirs.numpy()), rtol=rtol,
                                   atol=atol, err_msg=ours.name)


@needs(keras)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,config,schedule", EXTRA_CONFIGS, ids=EXTRA_IDS)
def test_extras_match_keras_on_raw_gradients(name, config, schedule, backend):
    w0, grads = _problem(3, steps=7)
    variables = [gn.Variable(w.copy(), name=f"w{i}") for i, w in enumerate(w0)]
    kvars = [keras.Variable(w.copy()) for w in w0]
    opt, kopt = _pair(name, config, schedule)
    for g in grads:
        opt.apply(g, variables, backend=backend)
        kopt.apply([keras.ops.convert_to_tensor(x) for x in g], kvars)
        for var, kv in zip(variables, kvars):
            np.testing.assert_allclose(var.value, np.asarray(kv.numpy()), rtol=1e-5,
                                       atol=1e-6)
    # iterations counts every step, also between accumulated updates
    assert int(opt.iterations.value) == len(grads)
    _assert_state_matches_keras(opt, kopt)
    # one compiled step for all of it: the conditions are masks inside the plan
    assert len(opt._apply_cache) == 1
    if backend == "c":
        assert len(next(iter(opt._apply_cache.values()))._cache) == 1
    if config.get("use_ema"):
        opt.finalize_variable_values(variables)
        kopt.finalize_variable_values(kvars)
        for var, kv, average in zip(variables, kvars, opt._averages):
            np.testing.assert_array_equal(var.value, average.value)
            np.testing.assert_allclose(var.value, np.asarray(kv.numpy()), rtol=1e-5,
                                       atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_accumulation_updates_every_nth_step_with_the_mean(backend):
    w = gn.Variable(np.zeros(3, "float32"), name="w")
    opt = optimizers.SGD(1.0, gradient_accumulation_steps=3)
    steps = [np.array([1.0, 2.0, 3.0], "float32"), np.array([2.0, 2.0, 0.0], "float32"),
             np.array([0.0, 5.0, -3.0], "float32"), np.array([3.0, 3.0, 3.0], "float32")]
    opt.apply([steps[0]], [w], backend=backend)
    accumulator = opt._accumulators[0]
    np.testing.assert_array_equal(w.value, 0.0)
    np.testing.assert_array_equal(accumulator.value, steps[0])
    opt.apply([steps[1]], [w], backend=backend)
    np.testing.assert_array_equal(w.value, 0.0)
    opt.apply([steps[2]], [w], backend=backend)
    np.testing.assert_allclose(w.value, -(steps[0] + steps[1] + steps[2]) / 3, rtol=1e-6)
    np.testing.assert_array_equal(accumulator.value, 0.0)
    opt.apply([steps[3]], [w], backend=backend)
    np.testing.assert_array_equal(accumulator.value, steps[3])
    assert int(opt.iterations.value) == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_ema_overwrite_then_constraint(backend):
    # Keras: EMA of the unconstrained update, overwrite, then the constraint
    w = gn.Variable(np.array([1.0, -1.0], "float32"), name="w",
                    constraint=gn.constraints.NonNeg())
    opt = optimizers.SGD(1.0, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)
    g = np.array([2.0, -4.0], "float32")
    opt.apply([g], [w], backend=backend)      # step 0: average = the updated value
    np.testing.assert_array_equal(opt._averages[0].value, [-1.0, 3.0])
    np.testing.assert_array_equal(w.value, [0.0, 3.0])
    opt.apply([g], [w], backend=backend)      # step 1: average, overwrite, constrain
    np.testing.assert_array_equal(opt._averages[0].value, [-1.5, 5.0])
    np.testing.assert_array_equal(w.value, [0.0, 5.0])


MODEL_EXTRAS = [
    ("Adam", {"use_ema": True, "ema_momentum": 0.7, "ema_overwrite_frequency": 2}),
    ("SGD", {"momentum": 0.9, "gradient_accumulation_steps": 2}),
    ("SGD", {"loss_scale_factor": 128.0}),
    ("RMSprop", {"loss_scale_factor": 0.5, "gradient_accumulation_steps": 2}),
    ("Nadam", {"gradient_accumulation_steps": 3, "use_ema": True,
               "ema_overwrite_frequency": 1, "loss_scale_factor": 4.0}),
]
MODEL_EXTRA_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in c.items())}"
                   for n, c in MODEL_EXTRAS]


@needs(keras)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,config", MODEL_EXTRAS, ids=MODEL_EXTRA_IDS)
def test_small_model_with_extras_matches_keras(name, config, backend):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((24, 5)).astype("float32")
    y = rng.standard_normal((24, 2)).astype("float32")
    model, kmodel = _tiny_models()
    opt, kopt = _pair(name, config, None, learning_rate=0.05)
    model.compile(opt, "mse", backend=backend)
    kmodel.compile(kopt, "mse")
    for step in range(7):
        sl = slice(step * 2, step * 2 + 8)
        ours = model.train_on_batch(x[sl], y[sl])
        theirs = kmodel.train_on_batch(x[sl], y[sl])
        # the reported loss is the unscaled one
        assert ours == pytest.approx(float(theirs), rel=1e-5)
        for a, b in zip(model.get_weights(), kmodel.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    _assert_state_matches_keras(model.optimizer, kmodel.optimizer)


@needs(keras)
def test_fit_finalizes_the_moving_averages_like_keras():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((24, 5)).astype("float32")
    y = rng.standard_normal((24, 2)).astype("float32")
    model, kmodel = _tiny_models()
    config = {"use_ema": True, "ema_momentum": 0.6, "gradient_accumulation_steps": 2}
    opt, kopt = _pair("Adam", config, None, learning_rate=0.05)
    model.compile(opt, "mse")
    kmodel.compile(kopt, "mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    kmodel.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert int(opt.iterations.value) == 6
    for a, b, average in zip(model.get_weights(), kmodel.get_weights(), opt._averages):
        np.testing.assert_array_equal(a, average.value)  # the weights are the averages
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    _assert_state_matches_keras(opt, kopt)


@pytest.mark.parametrize("config", [
    {"use_ema": True, "ema_momentum": 0.8, "ema_overwrite_frequency": 3},
    {"gradient_accumulation_steps": 3, "clipvalue": 0.05},
    {"loss_scale_factor": 1024.0},
    {"use_ema": True, "gradient_accumulation_steps": 2, "loss_scale_factor": 0.5},
], ids=["ema", "accumulation", "loss-scale", "all"])
def test_extras_train_alike_on_both_backends(config):
    from train_check import assert_backends_train_alike
    rng = np.random.default_rng(9)
    x = rng.standard_normal((20, 6)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]

    def build():
        gn.utils.set_random_seed(11)
        return gn.Sequential([gn.Input((6,)), gn.layers.Dense(5, activation="relu"),
                              gn.layers.Dense(3, activation="softmax")])

    assert_backends_train_alike(build, x, y, optimizer=lambda: optimizers.Adam(0.01, **config),
                                batch_size=6, epochs=3, rtol=1e-5, atol=1e-6)


def test_extras_config_round_trip_and_state_restore():
    config = {"use_ema": True, "ema_momentum": 0.75, "ema_overwrite_frequency": 4,
              "loss_scale_factor": 16.0, "gradient_accumulation_steps": 3}
    opt = optimizers.Adam(0.01, **config)
    got = opt.get_config()
    for key, value in config.items():
        assert got[key] == value, key
    if compare_with(keras, "the config against Keras's"):
        kgot = keras.optimizers.Adam(0.01, **config).get_config()
        for key, value in config.items():
            assert kgot[key] == value, key
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is optimizers.Adam and again.get_config() == got
    assert optimizers.Adam.from_config(got).get_config() == got
    # a run stopped between two accumulated updates resumes on the same trajectory
    w0, grads = _problem(4, steps=8)
    a = [gn.Variable(w.copy(), name=f"a{i}") for i, w in enumerate(w0)]
    for g in grads[:4]:
        opt.apply(g, a)
    store = {}
    opt.save_own_variables(store)
    saved = [v.numpy() for v in a]
    assert len(store) == 2 + 4 * len(w0)  # iterations, lr, averages, accumulators, m, v
    for g in grads[4:]:
        opt.apply(g, a)
    b = [gn.Variable(w, name=f"b{i}") for i, w in enumerate(saved)]
    again.build(b)
    again.load_own_variables(store)
    for g in grads[4:]:
        again.apply(g, b)
    for x, y in zip(a + opt.variables, b + again.variables):
        np.testing.assert_allclose(x.value, y.value, rtol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"gradient_accumulation_steps": 0}, r"gradient_accumulation_steps=0\b"),
    ({"gradient_accumulation_steps": 1}, r"gradient_accumulation_steps=1\b"),
    ({"gradient_accumulation_steps": 1.5}, r"gradient_accumulation_steps=1\.5"),
    ({"gradient_accumulation_steps": -2}, r"gradient_accumulation_steps=-2"),
    ({"gradient_accumulation_steps": "2"}, r"gradient_accumulation_steps='2'"),
    ({"use_ema": True, "ema_momentum": 1.5}, r"ema_momentum=1\.5"),
    ({"use_ema": True, "ema_momentum": -0.1}, r"ema_momentum=-0\.1"),
    ({"use_ema": True, "ema_momentum": float("nan")}, r"ema_momentum=nan"),
    ({"use_ema": True, "ema_overwrite_frequency": 0}, r"ema_overwrite_frequency=0\b"),
    ({"use_ema": True, "ema_overwrite_frequency": 2.5}, r"ema_overwrite_frequency=2\.5"),
    ({"loss_scale_factor": 0.0}, r"loss_scale_factor=0\.0"),
    ({"loss_scale_factor": -4.0}, r"loss_scale_factor=-4\.0"),
    ({"loss_scale_factor": float("inf")}, r"loss_scale_factor=inf"),
    ({"use_ema": "yes"}, r"use_ema='yes'"),
])
def test_extras_reject_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.Adam(**kwargs)


def test_finalize_variable_values_checks_its_variables():
    w = gn.Variable(np.ones(2, "float32"), name="w")
    plain = optimizers.SGD(0.1)
    plain.apply([np.ones(2, "float32")], [w])
    plain.finalize_variable_values([w])  # without use_ema: nothing to do
    np.testing.assert_allclose(w.value, 0.9, rtol=1e-6)
    opt = optimizers.SGD(0.1, use_ema=True)
    opt.apply([np.ones(2, "float32")], [w])
    with pytest.raises(ValueError, match=r"length of model variables \(2\)"):
        opt.finalize_variable_values([w, w])
