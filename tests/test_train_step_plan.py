"""The compiled training step of an MLP (bench/bench_mnist_mlp.py's model): what its plan
holds, and the per-step profiler (graphnet/runtime/profile.py)."""
import numpy as np

import graphnet as gn

L = gn.layers


def _mlp_step(batch=16):
    gn.utils.set_random_seed(0)
    model = gn.Sequential([gn.Input((784,)), L.Dense(512, activation="relu"), L.Dropout(0.2),
                           L.Dense(512, activation="relu"), L.Dropout(0.2),
                           L.Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=gn.optimizers.RMSprop())
    rng = np.random.default_rng(0)
    x = rng.random((batch, 784), dtype=np.float32)
    y = np.eye(10, dtype="f4")[rng.integers(0, 10, batch)]
    model.train_on_batch(x, y)
    step, = model._step_fns.values()
    arrays = (x, y, np.ones(batch, "f4"))
    return model, step, arrays


def _weight_kind(plan, slot):
    return plan.slots[slot][0] == 3     # GN_SLOT_WEIGHT


def test_every_update_is_one_call_written_in_place():
    model, step, arrays = _mlp_step()
    plan = step.executable([a.shape for a in arrays]).plan
    assert plan.kernels.count("GN_K_MULTI_ELTWISE") == 1
    float_copies = []
    for (_, ioff, _, _), name in zip(plan.steps, plan.kernels):
        args = plan.iargs[ioff:ioff + 6]
        if name == "GN_K_COPY" and _weight_kind(plan, args[4]) and args[1] == 4:
            float_copies.append(args)
    assert float_copies == []           # only the int64 iteration counter is copied
    assert plan.kernel_count <= 40      # 61 with one call (and a copy) per update


def test_profile_times_every_step_and_leaves_the_state_as_it_was():
    model, step, arrays = _mlp_step()
    before = model.get_weights() + model.optimizer.get_weights()
    profile = model.profile_train_step(arrays[0], arrays[1], repeats=3)
    plan = step.executable([a.shape for a in arrays]).plan
    assert profile.kernels == plan.kernels
    assert profile.seconds.shape == (plan.kernel_count,) and (profile.seconds >= 0).all()
    assert profile.total > 0
    counts = profile.by_kernel()
    assert sum(n for n, _ in counts.values()) == plan.kernel_count
    assert counts["GN_K_MULTI_ELTWISE"][0] == 1
    lines = profile.table(top=5).splitlines()
    assert len(lines) == 7 and "total" in lines[-1]
    for a, b in zip(before, model.get_weights() + model.optimizer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_each_weight_gradient_follows_its_layer_s_output_gradient():
    """Backpropagation's order: the last layer's weight gradient first, each right after
    the gradient of its layer's output (still in cache), then the input gradient below."""
    model, step, arrays = _mlp_step()
    plan = step.executable([a.shape for a in arrays]).plan
    products = []
    for (_, ioff, _, _), name in zip(plan.steps, plan.kernels):
        ta, tb, m, n = plan.iargs[ioff:ioff + 4]
        if name in ("GN_K_GEMM", "GN_K_BATCH_GEMM") and ta:
            products.append(("weight", int(m), int(n)))    # x^T dy: fan-in x fan-out
        elif name in ("GN_K_GEMM", "GN_K_BATCH_GEMM") and tb:
            products.append(("input", int(m), int(n)))     # dy w^T: batch x fan-in
    assert products == [("weight", 512, 10), ("input", 16, 512), ("weight", 512, 512),
                        ("input", 16, 512), ("weight", 784, 512)]
