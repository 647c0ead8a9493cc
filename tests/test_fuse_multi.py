"""Multi-tensor fusion (graphnet/compiler/fuse_multi.py): every weight's optimizer update in
one GN_K_MULTI_ELTWISE call, written in place, with the numbers of the per-weight plan."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.compiler import fuse_multi, phases
from graphnet.engine.input_layer import placeholder
from graphnet.export import verify_plan
from graphnet.export.verify import PlanError
from train_check import assert_backends_train_alike

#: sizes on purpose: a scalar, 1, odd, one past a tile, primes, and enough elements in
#: all for the kernel to split the work over threads
SHAPES = [(), (1,), (3,), (257,), (7, 13), (301, 233)]
OPTIMIZERS = {
    "sgd": lambda: gn.optimizers.SGD(0.05),
    "sgd_momentum": lambda: gn.optimizers.SGD(0.05, momentum=0.9),
    "nesterov": lambda: gn.optimizers.SGD(0.05, momentum=0.8, nesterov=True),
    "rmsprop": lambda: gn.optimizers.RMSprop(0.01),
    "adam": lambda: gn.optimizers.Adam(0.01),
    "adam_amsgrad_weight_decay": lambda: gn.optimizers.AdamW(0.01, amsgrad=True),
}


@pytest.fixture
def without_multi_fusion(monkeypatch):
    """The compiler as it was: one kernel per weight update."""
    passes = [p for p in phases._GRAPH_PASSES["fuse"] if p is not fuse_multi.fuse_multi_tensor]
    monkeypatch.setitem(phases._GRAPH_PASSES, "fuse", passes)


def _update_function(make_optimizer, seed=0):
    """The variables of SHAPES and a compiled function applying one optimizer step from
    gradients fed as inputs."""
    rng = np.random.default_rng(seed)
    variables = [gn.Variable(rng.standard_normal(s).astype("f4"), name=f"w{i}")
                 for i, s in enumerate(SHAPES)]
    grads = [placeholder(s, name=f"g{i}") for i, s in enumerate(SHAPES)]
    opt = make_optimizer()
    updates = opt.build_updates(variables, grads)
    return variables, opt, gn.function(grads, [], updates=updates)


def _train(make_optimizer, steps=6):
    variables, opt, fn = _update_function(make_optimizer)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        fn(*[rng.standard_normal(s).astype("f4") for s in SHAPES])
    plan = fn.executable([s for s in SHAPES]).plan
    return [v.numpy() for v in variables] + opt.get_weights(), plan


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_all_updates_run_as_one_call_with_the_numbers_of_the_per_weight_plan(name, request):
    fused, plan = _train(OPTIMIZERS[name])
    assert plan.kernels.count("GN_K_MULTI_ELTWISE") == 1
    copies = [k for k in plan.kernels if k == "GN_K_COPY"]
    assert len(copies) <= 1     # the int64 iteration counter: float updates are in place
    request.getfixturevalue("without_multi_fusion")
    unfused, plan_before = _train(OPTIMIZERS[name])
    assert "GN_K_MULTI_ELTWISE" not in plan_before.kernels
    assert plan.kernel_count < plan_before.kernel_count
    for a, b in zip(fused, unfused):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_one_thread_and_several_give_the_same_numbers(threads):
    """Each thread starts on its own part of every tensor, then helps with the others'."""
    results = [_train(OPTIMIZERS["adam"])[0]]
    gn.set_num_threads(1)
    results.append(_train(OPTIMIZERS["adam"])[0])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_the_report_shows_one_fused_group_for_all_weights():
    _, _, fn = _update_function(OPTIMIZERS["rmsprop"])
    report = fn.explain([s for s in SHAPES])
    groups = [g for g in report.fused_groups() if "FUSED_MULTI_ELTWISE" in g]
    assert len(groups) == 1 and report.fired["fuse_multi_tensor"] == 1
    assert report.kernel_count == len(fn.executable([s for s in SHAPES]).plan.kernels)


def test_a_training_step_matches_the_reference_interpreter():
    def build():
        gn.utils.set_random_seed(2)
        inp = gn.Input((9,))
        h = gn.layers.Dense(17, activation="relu")(inp)
        return gn.Model(inp, gn.layers.Dense(4, activation="softmax")(h))
    x = np.random.default_rng(0).standard_normal((16, 9)).astype("f4")
    y = np.eye(4)[np.random.default_rng(1).integers(0, 4, 16)]
    assert_backends_train_alike(build, x, y, optimizer=lambda: gn.optimizers.Adam(0.01),
                                batch_size=16, epochs=4)


def test_updates_read_the_old_values_of_each_other():
    """w0 -= lr * w1 and w1 -= lr * w0 at once: the same program over two tensors, each
    reading the other's old value, so neither may be written in place before both ran."""
    a0, a1 = np.arange(5, dtype="f4"), np.ones(5, "f4")
    w0, w1 = gn.Variable(a0.copy()), gn.Variable(a1.copy())
    x = placeholder((5,))
    lr = 0.5
    r0, r1 = gn.ops.convert_to_tensor(w0), gn.ops.convert_to_tensor(w1)  # graph reads
    updates = [(w0, gn.ops.subtract(r0, gn.ops.multiply(r1, lr) + x)),
               (w1, gn.ops.subtract(r1, gn.ops.multiply(r0, lr) + x))]
    fn = gn.function([x], [gn.ops.exp(r0)], updates=updates)
    out, = fn(np.zeros(5, "f4"))
    assert fn.executable([(5,)]).plan.kernels.count("GN_K_MULTI_ELTWISE") == 1
    np.testing.assert_allclose(out, np.exp(a0), rtol=1e-6)  # the old value, read as output
    np.testing.assert_array_equal(w0.numpy(), a0 - a1 * lr)
    np.testing.assert_array_equal(w1.numpy(), a1 - a0 * lr)


def test_values_read_by_other_nodes_are_not_merged():
    x = placeholder((4, 3))
    a, b = gn.ops.exp(x) * 2.0, gn.ops.tanh(x) * 2.0
    outs = [a, b, gn.ops.sum(a)]    # `a` is also read by the sum
    plan = gn.function([x], outs).executable([(4, 3)]).plan
    assert "GN_K_MULTI_ELTWISE" not in plan.kernels


def test_plans_with_the_multi_kernel_verify_and_bad_arguments_are_refused():
    _, _, fn = _update_function(OPTIMIZERS["rmsprop"])
    plan = fn.executable([s for s in SHAPES]).plan
    assert verify_plan(plan, plan.kernels)
    step = plan.steps[plan.kernels.index("GN_K_MULTI_ELTWISE")]
    nt, nin, ninstr, nout = plan.iargs[step[1]:step[1] + 4]
    last = step[1] + step[3] - (1 + 2 * nin + nout)    # the last tensor's size
    for index, value, message in [(last, 10 ** 7, "accesses bytes"),
                                  (last + 2, 2, "stride 2 is not 0 or 1"),
                                  (step[1] + 4 + 4 * ninstr, 0, "result registers"),
                                  (step[1], 65, "limits")]:
        iargs = plan.iargs.copy()
        iargs[index] = value
        bad = type(plan)(**{**plan.__dict__, "iargs": iargs})
        with pytest.raises(PlanError, match=message):
            verify_plan(bad, bad.kernels)
