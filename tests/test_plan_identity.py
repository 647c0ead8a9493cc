"""Speeding up the compiler must not change a plan: the same steps, arguments, slots and
arena, byte for byte, with the compile-time shortcuts on and off."""
import contextlib

import numpy as np
import pytest

import graphnet as gn
import graphnet.compiler as compiler
from graphnet.compiler import CompileReport, compile_plan
from graphnet.graph import graph as graph_module
from graphnet.graph.graph import (consumers, memoized_orders, order_and_consumers,
                                  topological_order)
from graphnet.runtime.kernel_layout import KernelArgError
from graphnet.runtime.kernels import KERNELS

L = gn.layers
PLAN_ARRAYS = ("steps", "iargs", "fargs", "slots", "arena_buffers", "slot_buffers")


def _mlp():
    return gn.Sequential([gn.Input((20,)), L.Dense(16, activation="relu"), L.Dropout(0.2),
                          L.Dense(10, activation="softmax")])


def _cnn():
    return gn.Sequential([gn.Input((9, 9, 2)), L.Conv2D(4, (3, 3), activation="relu"),
                          L.MaxPooling2D((2, 2)), L.Flatten(),
                          L.Dense(10, activation="softmax")])


def _functions(model):
    """The model's predict function and its training step, each with the shapes to
    compile it for."""
    rng = np.random.default_rng(0)
    x = rng.random((5,) + model.inputs[0].shape[1:], dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 5)]
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    model.train_on_batch(x, y)
    step, = model._step_fns.values()
    return [(model.predict_function(), [x.shape]), (step, [x.shape, y.shape, (5,)])]


def _chain():
    x = inputs = gn.Input((4,))
    for _ in range(50):
        x = gn.ops.multiply(gn.ops.exp(L.Dense(4, activation="tanh")(x)), x)
    return gn.function(inputs, x)


def _plan(fn, shapes):
    plan, _, _ = compile_plan(fn.input_nodes, fn.output_nodes, shapes, training=fn.training,
                              updates=fn.updates)
    return plan


def _assert_same_plan(a, b):
    for name in PLAN_ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), name
    assert (a.arena_bytes, a.unplanned_bytes, a.kernels, a.input_specs, a.output_specs,
            a.weight_specs) == (b.arena_bytes, b.unplanned_bytes, b.kernels, b.input_specs,
                                b.output_specs, b.weight_specs)
    assert len(a.consts) == len(b.consts)
    assert all(c.tobytes() == d.tobytes() for c, d in zip(a.consts, b.consts))


@pytest.mark.parametrize("build", [_mlp, _cnn])
def test_model_plans_are_identical_with_and_without_memoized_orders(build, monkeypatch):
    gn.utils.set_random_seed(0)
    for fn, shapes in _functions(build()):
        fast = _plan(fn, shapes)
        with monkeypatch.context() as patch:
            patch.setattr(compiler, "memoized_orders", contextlib.nullcontext)
            slow = _plan(fn, shapes)
        assert fast.kernel_count >= 3
        _assert_same_plan(fast, slow)


def test_specializing_in_the_first_phases_walk_gives_the_separate_rebuilds_plan():
    """explain() (keep_graphs) specializes in a rebuild of its own, then runs the phases;
    a compile does both in one walk: the same plan, rewrites and node counts."""
    gn.utils.set_random_seed(0)
    functions = _functions(_mlp()) + _functions(_cnn())
    assert any(n.op.name == "IN_TRAIN_PHASE" for fn, _ in functions     # Dropout's
               for n in topological_order(fn.output_nodes))
    for fn, shapes in functions:
        one_walk, separate = CompileReport(), CompileReport(keep_graphs=True)
        plans = [compile_plan(fn.input_nodes, fn.output_nodes, shapes, report,
                              training=fn.training, updates=fn.updates)[0]
                 for report in (one_walk, separate)]
        _assert_same_plan(*plans)
        assert one_walk.fired == separate.fired and sum(one_walk.fired.values()) > 0
        assert one_walk.node_counts == separate.node_counts


def test_a_chain_plan_is_identical_with_and_without_memoized_orders(monkeypatch):
    fn = _chain()
    fast = _plan(fn, [(3, 4)])
    monkeypatch.setattr(compiler, "memoized_orders", contextlib.nullcontext)
    slow = _plan(fn, [(3, 4)])
    assert fast.kernel_count == 100
    _assert_same_plan(fast, slow)


def test_memoized_orders_answer_as_a_fresh_walk_and_end_with_the_context():
    fn = _chain()
    outputs = list(fn.output_nodes)
    fresh = topological_order(outputs)
    with memoized_orders():
        first = topological_order(outputs)
        first.clear()                    # a caller's list is its own
        second = topological_order(outputs)
        other = topological_order(outputs[0].inputs)
    assert [id(n) for n in second] == [id(n) for n in fresh]
    assert [id(n) for n in other] == [id(n) for n in topological_order(outputs[0].inputs)]
    assert len(other) == len(fresh) - 1
    assert getattr(graph_module._orders, "last", None) is None


def test_the_readers_map_is_computed_once_per_graph_while_orders_are_memoized():
    outputs = list(_chain().output_nodes)
    fresh = consumers(topological_order(outputs))
    with memoized_orders():
        order, first = order_and_consumers(outputs)
        _, second = order_and_consumers(outputs)
        _, other = order_and_consumers(outputs[0].inputs)
    assert second is first and other is not first
    assert {k: [id(n) for n in v] for k, v in first.items()} == \
        {k: [id(n) for n in v] for k, v in fresh.items()}
    assert [id(n) for n in order] == [id(n) for n in topological_order(outputs)]
    assert order_and_consumers(outputs)[1] is not order_and_consumers(outputs)[1]


FUSED_ARGS = dict(ndim=2, nin=1, ninstr=1, out=3, shape=(2, 8), inputs=[1, 8, 1],
                  prog=[1, 2, 0, 0], fprog=[0.0, 0.0])


def test_encode_lays_out_a_fused_step_and_checks_every_argument_as_the_table_says():
    kernel = KERNELS["GN_K_FUSED_ELTWISE"]
    ints, floats = kernel.encode(FUSED_ARGS)
    assert ints == [2, 1, 1, 3, 2, 8, 1, 8, 1, 1, 2, 0, 0] and floats == [0.0, 0.0]
    for change, words in [({"shape": (2, -8)}, r"negative dimension in shape \[2, -8\]"),
                          ({"nin": 17}, r"nin is 17, outside the limits \[1, 16\]"),
                          ({"nin": 2}, r"inputs has 3 values, its layout needs "
                                       r"nin \* \(1 \+ ndim\) = 6"),
                          ({"shape": (2,)}, r"shape has 1 values, its layout needs ndim = 2")]:
        with pytest.raises(KernelArgError, match=words):
            kernel.encode({**FUSED_ARGS, **change})


def test_rules_naming_their_ops_are_tried_only_on_those_ops():
    from graphnet.compiler.phases import _rules_for, rewrite
    on_reshape = [r.__name__ for r in _rules_for("simplify", "RESHAPE")]
    on_exp = [r.__name__ for r in _rules_for("simplify", "EXP")]
    on_cast = [r.__name__ for r in _rules_for("simplify", "CAST")]
    assert on_reshape[:2] == ["remove_identity_reshape", "merge_reshapes"]
    assert "remove_same_type_cast" in on_cast and "remove_same_type_cast" not in on_reshape
    assert "merge_reshapes" not in on_exp + on_cast
    assert "remove_broadcast_into_binary" in on_exp     # names no ops: tried on every node
    assert "fold_constants" in [r.__name__ for r in _rules_for("fold", "EXP")]
    with pytest.raises(ValueError, match="non-empty collection of op names, got 'RESHAPE'"):
        rewrite("simplify", ops="RESHAPE")
    with pytest.raises(KeyError, match="unknown op 'RESHAP'"):
        rewrite("simplify", ops=("RESHAP",))


def _listing(outputs):
    from graphnet.graph.graph import format_graph
    return format_graph(outputs)


def test_an_interned_rebuild_starts_at_the_first_rewrite_and_gives_the_full_rebuilds_graph():
    from graphnet.compiler.phases import CompileReport, _rebuild
    from graphnet.engine.input_layer import placeholder
    x = placeholder((3, 4))
    three = gn.ops.convert_to_tensor(np.full((4,), 3.0, np.float32))
    late = gn.ops.exp(gn.ops.multiply(three, three))           # folds, after x's nodes
    y = gn.ops.add(gn.ops.tanh(gn.ops.multiply(x, x)), late)
    simplified = _rebuild([y.node], "simplify", CompileReport(), interned=False)
    full, fast = CompileReport(), CompileReport()
    rebuilt = _rebuild(simplified, "fold", full, interned=False)
    started_late = _rebuild(simplified, "fold", fast, interned=True)
    assert full.fired["fold_constants"] == fast.fired["fold_constants"] == 2
    assert _listing(rebuilt) == _listing(started_late)
    assert "CONSTANT" in _listing(started_late) and "EXP" not in _listing(started_late)
    unchanged = _rebuild(started_late, "fold", CompileReport(), interned=True)
    assert unchanged is started_late                           # nothing fires: no rebuild


def _residual_mlp():
    x = gn.Input((6,))
    a = L.Dense(6, activation="relu")(x)
    b = L.Dense(6)(a)
    c = gn.ops.add(b, gn.ops.multiply(a, a))            # a residual computed elementwise
    d = L.Dense(6, activation="tanh")(gn.ops.exp(c))
    e = gn.ops.add(L.Dense(6)(d), L.Dense(6)(d))         # two matmuls meeting in one ADD
    return gn.Model(x, [gn.ops.sigmoid(gn.ops.subtract(e, d)), L.Dense(3)(e)])


def _graphs_entering_fusion():
    """(outputs, what) of graphs as the fuse phase gets them: chains, residual MLPs and
    training steps (their backward passes mix products and elementwise trees)."""
    from graphnet.compiler import run_phases, specialize
    gn.utils.set_random_seed(0)
    model = _residual_mlp()
    model.compile(loss="mse", optimizer="adam")
    model.train_on_batch(np.ones((4, 6), np.float32), [np.ones((4, 6), np.float32),
                                                       np.ones((4, 3), np.float32)])
    step, = model._step_fns.values()
    cases = [(_chain(), [(3, 4)]), (model.predict_function(), [(4, 6)]),
             (step, [(4, 6), (4, 6), (4, 3), (4,), (4,)][:len(step.input_nodes)])]
    cases += [(fn, shapes) for fn, shapes in _functions(_mlp())]
    for fn, shapes in cases:
        nodes = list(fn.output_nodes) + [n for _, n in fn.updates]
        _, nodes = specialize(fn.input_nodes, nodes, shapes, fn.training)
        yield run_phases(nodes, CompileReport(), ["simplify", "fold"]), fn.name


def test_fusing_matmuls_and_elementwise_trees_in_one_rebuild_gives_the_passes_in_turn():
    from graphnet.compiler import fuse
    from graphnet.compiler.fuse_multi import fuse_multi_tensor  # noqa: F401 (registered)
    seen = 0
    for outputs, what in _graphs_entering_fusion():
        assert not any(n.op.name == "CONV" for n in topological_order(outputs))
        in_turn = CompileReport()
        steps = [("fuse_matmul_bias_act", fuse.fuse_matmul_bias_act),
                 ("fuse_conv_bias_act", fuse.fuse_conv_bias_act),
                 ("fuse_elementwise", fuse.fuse_elementwise)]
        expected = outputs
        for name, decide in steps:
            expected = fuse._fused(expected, decide(*fuse._readers(expected)), name, in_turn)
        once = CompileReport()
        with memoized_orders():
            got = fuse.fuse_groups(outputs, once)
        assert _listing(got) == _listing(expected), what
        assert once.fired == in_turn.fired, what
        seen += in_turn.fired["fuse_matmul_bias_act"] > 0 and \
            in_turn.fired["fuse_elementwise"] > 0
    assert seen >= 3


@pytest.mark.parametrize("build, rewrites", [
    (lambda x: gn.ops.tanh(gn.ops.add(gn.ops.exp(x), gn.ops.multiply(x, x))), False),
    (lambda x: gn.ops.tanh(gn.ops.add(gn.ops.exp(x), gn.ops.multiply(x, 1.0))), True)])
def test_a_rebuild_that_rewrites_nothing_hands_its_order_to_the_new_graph(build, rewrites):
    from graphnet.compiler import _respecialize
    from graphnet.compiler.phases import _rebuild
    from graphnet.engine.input_layer import placeholder
    from graphnet.graph.graph import _depth_first
    x = placeholder((None, 4))
    y = build(x).node
    report = CompileReport()
    _, respecialize = _respecialize([x.node], [y], [(3, 4)], False, report)
    with memoized_orders():
        rebuilt = _rebuild([y], "simplify", report, False, respecialize)
        handed = graph_module._orders.last[0] == tuple(rebuilt)
        order = topological_order(rebuilt)
    assert rebuilt[0].shape == (3, 4) and handed is not rewrites
    assert report.fired["remove_neutral_operand"] == rewrites
    assert [id(n) for n in order] == [id(n) for n in _depth_first(rebuilt, None)]
