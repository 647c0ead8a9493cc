"""compile(run_eagerly=, jit_compile=): the NumPy reference op by op, and plans with or
without the fusion phase, give the compiled path's numbers; bad values are refused.

(tests/test_training.py checks that compile keeps the inference plans unless
jit_compile changes their phases; tests/test_steps_per_execution.py the
steps_per_execution values.)
"""
import numpy as np
import pytest

import graphnet as gn
import graphnet.compiler
from graphnet.ops.registry import get_op
from graphnet.runtime import function as function_module

RNG = np.random.default_rng(21)
X = RNG.normal(size=(48, 7)).astype(np.float32)
Y = (np.arange(48) % 3).astype(np.int64)
X_TEST = RNG.normal(size=(10, 7)).astype(np.float32)
Y_TEST = np.arange(10) % 3

# the kernels only the fusion phase (compiler/fuse.py, fuse_multi.py) emits
FUSED_KERNELS = {"GN_K_FUSED_ELTWISE", "GN_K_MULTI_ELTWISE", "GN_K_GEMM_BIAS_ACT",
                 "GN_K_CONV_BIAS_ACT", "GN_K_CONV_BIAS_ACT_POOL"}


def mlp(dropout=0.0):
    """Dense + BatchNormalization + Dropout + Dense, the same weights on every build."""
    gn.utils.set_random_seed(8)
    inputs = gn.Input((7,))
    h = gn.layers.Dense(16, activation="relu")(inputs)
    h = gn.layers.BatchNormalization()(h)
    h = gn.layers.Dropout(dropout, seed=5)(h)
    outputs = gn.layers.Dense(3, activation="softmax")(h)
    return gn.Model(inputs, outputs)


OPTIMIZERS = {"sgd": lambda: gn.optimizers.SGD(learning_rate=0.1, momentum=0.9),
              "adam": lambda: gn.optimizers.Adam(learning_rate=0.01)}


def trained(optimizer, dropout=0.0, epochs=2, **compile_kwargs):
    """A model fitted (6 steps per epoch, unshuffled), its history, evaluate logs and
    predictions."""
    model = mlp(dropout)
    model.compile(OPTIMIZERS[optimizer](), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], **compile_kwargs)
    history = model.fit(X, Y, batch_size=8, epochs=epochs, shuffle=False, verbose=0).history
    logs = model.evaluate(X_TEST, Y_TEST, batch_size=4, verbose=0, return_dict=True)
    return model, history, logs, model.predict(X_TEST, batch_size=4, verbose=0)


def assert_same_training(a, b, atol=1e-5):
    (model_a, history_a, logs_a, pred_a), (model_b, history_b, logs_b, pred_b) = a, b
    assert [w.name.split("/")[-1] for w in model_a.weights] == \
        [w.name.split("/")[-1] for w in model_b.weights]
    for wa, wb in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=atol, rtol=atol)
    assert history_a.keys() == history_b.keys() and logs_a.keys() == logs_b.keys()
    for key in history_a:
        np.testing.assert_allclose(history_a[key], history_b[key], atol=atol, rtol=atol)
    for key in logs_a:
        np.testing.assert_allclose(logs_a[key], logs_b[key], atol=atol, rtol=atol)
    np.testing.assert_allclose(pred_a, pred_b, atol=atol, rtol=atol)


def step_functions(model):
    return list(model._step_fns.values())


def plan_kernels(fn):
    """The kernels of every plan ``fn`` has compiled."""
    return {kernel for shapes in fn.cached_signatures()
            for kernel in fn.executable(shapes).plan.kernels}


# -- run_eagerly ---------------------------------------------------------------------------

@pytest.fixture
def nothing_compiled(monkeypatch):
    """Fails a test that compiles a plan; counts the reference interpreter's runs."""
    def refuse(*args, **kwargs):
        raise AssertionError("a plan was compiled under run_eagerly=True")
    monkeypatch.setattr(graphnet.compiler, "compile_plan", refuse)
    runs = []
    evaluate = function_module.evaluate

    def counting(outputs, feed, training=False):
        runs.append(training)
        return evaluate(outputs, feed, training)
    monkeypatch.setattr(function_module, "evaluate", counting)
    return runs


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_run_eagerly_equals_the_compiled_path(optimizer):
    compiled = trained(optimizer)
    eager = trained(optimizer, run_eagerly=True)
    assert eager[0].run_eagerly is True and eager[0].jit_compile is False
    assert compiled[0].run_eagerly is False
    assert_same_training(compiled, eager)


def test_run_eagerly_equals_the_compiled_path_with_dropout_draws():
    # the reference draws the C generator's numbers from the same state
    assert_same_training(trained("adam", dropout=0.4), trained("adam", dropout=0.4,
                                                               run_eagerly=True))


def test_run_eagerly_runs_the_reference_interpreter(nothing_compiled):
    model, _, _, _ = trained("sgd", epochs=1, run_eagerly=True)
    # 6 training steps, 3 test steps, 3 predict batches: each one reference run
    assert nothing_compiled.count(True) == 6 and nothing_compiled.count(False) == 6
    assert all(fn.backend == "reference" for fn in step_functions(model))
    assert model.predict_function().backend == "reference"


def test_run_eagerly_lets_an_op_see_its_values(monkeypatch):
    """What run_eagerly is for: a print or breakpoint in an op's perform sees arrays."""
    matmul = get_op("MATMUL")
    seen = []
    perform = type(matmul).perform

    def watching(self, inputs, attrs):
        seen.append([np.array(x) for x in inputs])
        return perform(self, inputs, attrs)
    monkeypatch.setattr(type(matmul), "perform", watching)
    model = mlp()
    model.compile("sgd", "sparse_categorical_crossentropy", run_eagerly=True)
    model.predict(X[:5], verbose=0)
    first = seen[0]
    np.testing.assert_array_equal(first[0], X[:5])
    np.testing.assert_array_equal(first[1], model.get_weights()[0])


def test_run_eagerly_with_steps_per_execution():
    compiled = trained("adam", steps_per_execution=4)
    eager = trained("adam", steps_per_execution=4, run_eagerly=True)
    assert eager[0].steps_per_execution == 4
    assert_same_training(compiled, eager)


def test_run_eagerly_with_gn_random_in_a_layer():
    class Noisy(gn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = gn.random.SeedGenerator(3)

        def call(self, inputs):
            return inputs + gn.random.normal((inputs.shape[-1],), stddev=0.1,
                                             seed=self.seed_generator)

    def noisy_model(**compile_kwargs):
        gn.utils.set_random_seed(8)
        inputs = gn.Input((7,))
        model = gn.Model(inputs, gn.layers.Dense(3, activation="softmax")(Noisy()(inputs)))
        model.compile("adam", "sparse_categorical_crossentropy", **compile_kwargs)
        history = model.fit(X, Y, batch_size=8, shuffle=False, verbose=0).history
        return model, history

    (compiled, h_compiled), (eager, h_eager) = noisy_model(), noisy_model(run_eagerly=True)
    np.testing.assert_allclose(h_compiled["loss"], h_eager["loss"], rtol=1e-5)
    for wa, wb in zip(compiled.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-5)


# -- jit_compile ---------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_jit_compile_false_leaves_out_the_fusion_phase(optimizer):
    fused, unfused = trained(optimizer), trained(optimizer, jit_compile=False)
    assert fused[0].jit_compile is True and unfused[0].jit_compile is False
    assert_same_training(fused, unfused)
    functions = step_functions(unfused[0]) + [unfused[0].predict_function()]
    assert len(functions) == 3      # train step, test step, predict
    for fn in functions:
        assert "fuse" not in fn.phases
        assert not plan_kernels(fn) & FUSED_KERNELS, fn.name
        report = fn.explain(fn.cached_signatures()[0])
        assert "fuse" not in report.node_counts and "simplify" in report.node_counts
    # the same model compiled with jit_compile=True does fuse, so the check can fail
    for fn in step_functions(fused[0]) + [fused[0].predict_function()]:
        assert plan_kernels(fn) & FUSED_KERNELS, fn.name


def test_jit_compile_auto_is_true():
    auto, true = trained("adam"), trained("adam", jit_compile=True)
    assert auto[0].jit_compile is True
    for a, t in zip(step_functions(auto[0]) + [auto[0].predict_function()],
                    step_functions(true[0]) + [true[0].predict_function()]):
        assert a.phases == t.phases == tuple(graphnet.compiler.PHASES)
        assert plan_kernels(a) == plan_kernels(t)
    assert_same_training(auto, true, atol=0)   # the same plans: the same numbers


def test_jit_compile_with_run_eagerly():
    model = mlp()
    model.compile("sgd", "mse", run_eagerly=True, jit_compile="auto")
    assert model.run_eagerly is True and model.jit_compile is False
    model.compile("sgd", "mse", run_eagerly=True, jit_compile=False)
    assert model.run_eagerly is True
    with pytest.raises(ValueError, match=r"jit_compile=True cannot be honoured with "
                                         r"run_eagerly=True.*Pass jit_compile=False or 'auto'"):
        model.compile("sgd", "mse", run_eagerly=True, jit_compile=True)


# -- bad values ----------------------------------------------------------------------------

BAD_OPTIONS = [
    ({"run_eagerly": "yes"}, TypeError, r"compile: run_eagerly must be True or False, "
                                        r"got 'yes'"),
    ({"run_eagerly": 1}, TypeError, r"run_eagerly must be True or False, got 1"),
    ({"run_eagerly": None}, TypeError, r"run_eagerly must be True or False, got None"),
    ({"jit_compile": 3}, ValueError, r"compile: jit_compile must be True, False or 'auto', "
                                     r"got 3"),
    ({"jit_compile": 1}, ValueError, r"jit_compile must be True, False or 'auto', got 1"),
    ({"jit_compile": "yes"}, ValueError, r"jit_compile must be .* got 'yes'"),
    ({"jit_compile": None}, ValueError, r"jit_compile must be .* got None"),
]


@pytest.mark.parametrize("kwargs,error,message", BAD_OPTIONS,
                         ids=[repr(kwargs) for kwargs, _, _ in BAD_OPTIONS])
def test_bad_values_are_refused(kwargs, error, message):
    model = mlp()
    with pytest.raises(error, match=message):
        model.compile("sgd", "sparse_categorical_crossentropy", **kwargs)


def test_bad_values_through_the_properties_change_nothing():
    model = mlp()
    with pytest.raises(AttributeError, match="is not compiled: run_eagerly is set by "
                                             "compile"):
        model.run_eagerly
    with pytest.raises(AttributeError, match="is not compiled: pass jit_compile to compile"):
        model.jit_compile = False
    model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=False)
    before = model.predict(X_TEST, verbose=0)
    with pytest.raises(TypeError, match="run_eagerly must be True or False, got 'yes'"):
        model.run_eagerly = "yes"
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto', got 3"):
        model.jit_compile = 3
    assert model.run_eagerly is False and model.jit_compile is False
    assert "fuse" not in model.predict_function().phases
    np.testing.assert_array_equal(model.predict(X_TEST, verbose=0), before)


# -- switching -----------------------------------------------------------------------------

SWITCHES = [{}, {"run_eagerly": True}, {"jit_compile": False}, {"run_eagerly": True},
            {"jit_compile": True}]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("through", ["compile", "properties"])
def test_switching_between_modes_trains_as_one_mode(optimizer, through):
    """One epoch in each of SWITCHES, the optimizer (and its state) kept, equals the
    same epochs in one mode."""
    steady = mlp()
    steady.compile(OPTIMIZERS[optimizer](), "sparse_categorical_crossentropy",
                   metrics=["accuracy"])
    switching = mlp()
    opt = OPTIMIZERS[optimizer]()
    switching.compile(opt, "sparse_categorical_crossentropy", metrics=["accuracy"])
    for options in SWITCHES:
        if through == "compile":
            switching.compile(opt, "sparse_categorical_crossentropy", metrics=["accuracy"],
                              **options)
        else:
            switching.run_eagerly = options.get("run_eagerly", False)
            switching.jit_compile = options.get("jit_compile", "auto")
        assert switching.run_eagerly is options.get("run_eagerly", False)
        want = steady.fit(X, Y, batch_size=8, shuffle=False, verbose=0).history
        got = switching.fit(X, Y, batch_size=8, shuffle=False, verbose=0).history
        for key in want:
            np.testing.assert_allclose(got[key], want[key], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(switching.predict(X_TEST, verbose=0),
                                   steady.predict(X_TEST, verbose=0), atol=1e-5)
    for wa, wb in zip(steady.get_weights(), switching.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-5, rtol=1e-5)
