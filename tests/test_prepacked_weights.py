"""Inference plans pack their GEMMs' weights once (runtime/prepack.py), and pack them again
whenever the weights change: through assign / set_weights, or a compiled training step."""
import copy
import gc
import threading
import weakref

import numpy as np
import pytest

import graphnet as gn
from graphnet.runtime import prepack


#: Wide enough that the two hidden layers' products pack B on every CPU (on AMD, products
#: whose A and B both fit in L2 take the unpacked path; see csrc/gemm/config.h)
FEATURES = 300


def mlp():
    model = gn.Sequential([gn.Input(shape=(FEATURES,)),
                           gn.layers.Dense(800, activation="relu"),
                           gn.layers.Dense(400, activation="tanh"),
                           gn.layers.Dense(5)])
    model.compile(optimizer=gn.optimizers.SGD(0.1), loss="mse")
    return model


def batch(rows, seed=0):
    return np.random.default_rng(seed).standard_normal((rows, FEATURES), dtype=np.float32)


def assert_new_predictions(model, x, before):
    """The model's predictions for x moved from ``before`` to the reference's for the
    current weights (a stale packed copy would give the old ones)."""
    after = model.predict_on_batch(x)
    assert not np.allclose(before, after)
    want = model.predict_on_batch(x, backend="reference")
    np.testing.assert_allclose(after, want, rtol=1e-5, atol=1e-5)


def test_variable_values_are_read_only_and_assign_counts_versions():
    var = gn.Variable(np.zeros((2, 3), np.float32), name="w")
    with pytest.raises(ValueError, match="read-only"):
        var.value[0, 0] = 1.0
    assert var.version == 0
    var.assign(np.ones((2, 3)))
    assert var.version == 1 and np.all(var.value == 1.0)
    with pytest.raises(ValueError, match="shape"):
        var.assign(np.ones(3))
    assert var.version == 1 and np.all(var.value == 1.0), "a refused assign changes nothing"
    twin = copy.deepcopy(var)
    twin.assign(np.full((2, 3), 2.0))
    assert np.all(twin.value == 2.0) and np.all(var.value == 1.0)


def test_inference_plan_prepacks_the_dense_kernels_it_reads():
    model = mlp()
    x = batch(64)
    exe = model.predict_function().executable([x.shape])
    packed = {var.name for _, var, _, _ in exe._prepackable}
    assert packed == {w.name for w in model.weights if w.name.endswith("kernel")
                      and w.shape[1] > 32}, "the 800- and 400-column kernels (5 columns: unpacked)"
    want = model.predict_on_batch(x, backend="reference")
    np.testing.assert_allclose(model.predict_on_batch(x), want, rtol=1e-5, atol=1e-5)


def test_batch_one_plans_pack_nothing():
    model = mlp()
    assert model.predict_function().executable([(1, FEATURES)])._prepackable == []


def test_set_weights_repacks_before_the_next_run():
    model = mlp()
    x = batch(64)
    first = model.predict_on_batch(x)
    model.set_weights([w * 0.5 + 0.01 for w in model.get_weights()])
    assert_new_predictions(model, x, first)


def test_training_steps_repack_the_inference_plan():
    model = mlp()
    x, y = batch(64, seed=1), batch(64, seed=2)[:, :5]
    before = model.predict_on_batch(x)
    kernel = model.layers[0].kernel
    version = kernel.version
    model.train_on_batch(x, y)
    assert kernel.version == version + 1, "the training step counts the weights it writes"
    assert_new_predictions(model, x, before)


def test_plans_for_several_batch_sizes_share_one_packed_copy():
    model = mlp()
    fn = model.predict_function()
    a, b = (fn.executable([(rows, FEATURES)]) for rows in (64, 100))
    pa, pb = (exe.packed_state()[1] for exe in (a, b))
    step = a._prepackable[0][0]
    assert pa.packed_b[step] == pb.packed_b[step]
    assert pa.packed_b[step] != gn.runtime.cext.ffi.NULL


def test_packed_copies_go_with_their_weights():
    model = mlp()
    model.predict_on_batch(batch(64))
    kernel = model.layers[0].kernel
    assert kernel in prepack._copies
    held = len(prepack._copies)
    gone = weakref.ref(kernel)
    del model, kernel
    gc.collect()
    assert gone() is None and len(prepack._copies) <= held - 2


def test_threads_predict_while_weights_change():
    """Each run sees the packed copy of the weights it started with: a thread that
    repacks does not pull the copy from under another thread's run."""
    model = mlp()
    x = batch(64)
    weights = model.get_weights()
    errors = []

    def predict():
        try:
            for _ in range(30):
                out = model.predict_on_batch(x)
                assert np.isfinite(out).all()
        except Exception as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    workers = [threading.Thread(target=predict) for _ in range(3)]
    for w in workers:
        w.start()
    for i in range(30):
        model.set_weights([w * (1.0 + 0.01 * (i % 3)) for w in weights])
    for w in workers:
        w.join()
    assert not errors
    want = model.predict_on_batch(x, backend="reference")
    np.testing.assert_allclose(model.predict_on_batch(x), want, rtol=1e-5, atol=1e-5)
