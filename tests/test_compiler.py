"""Compiler passes, lowering, memory planning and plan caching."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.compiler import CompileReport, compile_plan, run_phases, specialize
from graphnet.engine.input_layer import placeholder
from graphnet.graph import topological_order
from train_check import assert_backends_train_alike


def _compiled(inputs, outputs, shapes):
    report = CompileReport(keep_graphs=True)
    plan, weights, report = compile_plan([t.node for t in inputs], [t.node for t in outputs],
                                         shapes, report)
    return plan, report


def _ops_after(report, phase):
    return report.graphs[phase]


@pytest.mark.parametrize("build, fired, absent", [
    (lambda x: gn.ops.multiply(x, 1.0), "remove_neutral_operand", "MUL"),
    (lambda x: gn.ops.add(0.0, x), "remove_neutral_operand", "ADD"),
    (lambda x: gn.ops.transpose(gn.ops.transpose(x, (1, 0)), (1, 0)), "merge_transposes",
     "TRANSPOSE"),
    (lambda x: gn.ops.reshape(gn.ops.reshape(x, (6,)), (2, 3)), "remove_identity_reshape",
     "RESHAPE"),
    (lambda x: gn.ops.cast(gn.ops.cast(x, "float32"), "float32"), None, "CAST"),
])
def test_simplifications_remove_ops_and_keep_numbers(build, fired, absent):
    x = placeholder((2, 3))
    y = gn.ops.relu(build(x))
    plan, report = _compiled([x], [y], [(2, 3)])
    if fired:
        assert report.fired[fired] >= 1
    assert absent not in _ops_after(report, "fuse")
    a = np.random.randn(2, 3).astype("float32")
    np.testing.assert_allclose(gn.function([x], y)(a), np.maximum(a, 0))


def test_merge_reshapes_collapses_a_chain():
    x = placeholder((2, 6))
    y = gn.ops.relu(gn.ops.reshape(gn.ops.reshape(x, (3, 4)), (12,)))
    plan, report = _compiled([x], [y], [(2, 6)])
    assert report.fired["merge_reshapes"] == 1
    assert _ops_after(report, "fuse").count("RESHAPE") == 1


def test_constant_folding_computes_constant_subgraphs_once():
    x = placeholder((3,))
    c = gn.ops.exp(gn.ops.add(gn.ops.convert_to_tensor(np.ones(3, "float32")), 1.0))
    y = gn.ops.multiply(x, c)
    plan, report = _compiled([x], [y], [(3,)])
    assert report.fired["fold_constants"] == 2
    assert plan.kernels == ["GN_K_BINARY"]
    np.testing.assert_allclose(gn.function([x], y)(np.ones(3)), np.full(3, np.e ** 2), rtol=1e-6)


def test_common_subexpressions_are_computed_once():
    x = placeholder((4,))
    y = gn.ops.add(gn.ops.exp(x), gn.ops.exp(x))
    assert len(topological_order([y.node])) == 4
    plan, report = _compiled([x], [y], [(4,)])
    assert report.node_counts["fuse"] == 3
    assert plan.kernels.count("GN_K_UNARY") == 1


def test_dead_code_is_dropped_and_unused_weights_not_bound():
    x = placeholder((4,))
    unused = gn.ops.exp(x)  # noqa: F841  (never reaches an output)
    y = gn.ops.relu(x)
    plan, _ = _compiled([x], [y], [(4,)])
    assert plan.kernels == ["GN_K_UNARY"] and plan.weight_specs == []


def test_specialize_binds_the_batch_and_reinfers_shapes():
    x = placeholder((None, 3))
    y = gn.ops.sum(gn.ops.reshape(x, (-1,)), axis=0, keepdims=True)
    (xs,), (ys,) = specialize([x.node], [y.node], [(5, 3)])
    assert xs.shape == (5, 3) and ys.shape == (1,)


def test_memory_planning_reuses_dead_buffers():
    x = placeholder((64, 64))
    y = x
    for _ in range(6):
        y = gn.ops.tanh(gn.ops.add(y, 1.0))
    plan, report = _compiled([x], [y], [(64, 64)])
    assert report.arena_bytes <= report.unplanned_bytes / 3
    a = np.random.randn(64, 64).astype("float32")
    ref = a
    for _ in range(6):
        ref = np.tanh(ref + 1)
    np.testing.assert_allclose(gn.function([x], y)(a), ref, rtol=1e-5, atol=1e-6)


def test_plans_are_cached_per_input_signature():
    x = placeholder((None, 3))
    f = gn.function([x], gn.ops.relu(x))
    f(np.ones((2, 3)))
    first = f.executable([(2, 3)])
    f(np.ones((2, 3)))
    assert f.executable([(2, 3)]) is first
    f(np.ones((5, 3)))
    assert len(f._cache) == 2


def test_outputs_that_alias_inputs_or_each_other_are_copied():
    x = placeholder((2, 2))
    r = gn.ops.reshape(x, (4,))
    f = gn.function([x], [x, r, r])
    a = np.arange(4, dtype="float32").reshape(2, 2)
    out = f(a)
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[1], a.ravel())
    out[1][0] = 99
    assert out[2][0] == 0 and a[0, 0] == 0


def test_phases_report_node_counts_and_graph_text():
    x = placeholder((3,))
    y = gn.ops.multiply(gn.ops.relu(x), 1.0)
    report = CompileReport(keep_graphs=True)
    run_phases([y.node], report)
    assert set(report.graphs) == {"input", "simplify", "fold", "fuse", "tile"}
    assert "MUL" in report.graphs["input"] and "MUL" not in report.graphs["simplify"]
    assert "rewrites fired" in report.summary()


def test_the_report_times_every_pass_of_a_compile():
    x = placeholder((None, 3))
    y = gn.ops.relu(gn.ops.multiply(x, 2.0))
    report = CompileReport()
    compile_plan([x.node], [y.node], [(4, 3)], report)
    from graphnet.compiler.phases import _GRAPH_PASSES
    graph_passes = [fn.__name__ for phase in report.node_counts if phase in _GRAPH_PASSES
                    for fn in _GRAPH_PASSES[phase]]
    names = list(report.seconds)
    assert names[:2] == ["specialize", "simplify rules"]   # specialized in the rules' walk
    assert names[-2:] == ["lower steps", "lower arena and arrays"]
    expected = {"specialize", "record", "lower steps", "lower arena and arrays"} | \
        {f"{phase} rules" for phase in ("simplify", "fold", "fuse", "tile")} | \
        set(graph_passes)
    assert set(report.seconds) == expected
    assert all(seconds >= 0 for seconds in report.seconds.values())


def test_empty_batch_runs():
    x = placeholder((None, 5))
    w = np.ones((5, 2), "float32")
    y = gn.ops.softmax(gn.ops.matmul(x, w))
    out = gn.function([x], y)(np.zeros((0, 5), "float32"))
    assert out.shape == (0, 2)


def test_nan_and_inf_propagate_as_numbers():
    x = placeholder((4,))
    y = gn.ops.add(gn.ops.relu(x), 1.0)
    out = gn.function([x], y)(np.array([np.nan, np.inf, -np.inf, 1], "float32"))
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == 1 and out[3] == 2


def test_reference_backend_and_float64_refusal():
    x = placeholder((3,), dtype="float64")
    y = gn.ops.exp(x)
    np.testing.assert_allclose(gn.function([x], y, backend="reference")(np.zeros(3)), 1.0)
    with pytest.raises(Exception, match="float32"):
        gn.function([x], y)(np.zeros(3))


def test_threads_and_isa_settings():
    before = gn.get_num_threads()
    gn.set_num_threads(1)
    assert gn.get_num_threads() == 1
    gn.set_num_threads(before)
    assert gn.isa() in ("avx512", "avx2", "neon", "ref")
    with pytest.raises(ValueError, match="at least 1"):
        gn.set_num_threads(0)


def test_one_compiled_function_runs_from_several_threads_at_once():
    import threading
    x = placeholder((None, 64))
    w = np.random.randn(64, 64).astype("float32")
    f = gn.function([x], gn.ops.tanh(gn.ops.matmul(gn.ops.relu(x), w)))
    inputs = [np.random.randn(8, 64).astype("float32") for _ in range(4)]
    want = [np.tanh(np.maximum(a, 0) @ w) for a in inputs]
    errors = []

    def worker(k):
        for _ in range(200):
            if not np.allclose(f(inputs[k]), want[k], rtol=1e-4, atol=1e-5):
                errors.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_fast_path_and_checked_path_agree():
    x = placeholder((None, 3))
    f = gn.function([x], gn.ops.exp(x))
    a = np.arange(12, dtype="float32").reshape(4, 3) / 10
    first = f(a)                    # compiles, checked path
    np.testing.assert_allclose(f(a), first)                      # fast path
    np.testing.assert_allclose(f(a.astype("float64")), first)    # converted
    np.testing.assert_allclose(f(np.asfortranarray(a)), first)   # made contiguous
    np.testing.assert_allclose(f(a.T.copy().T), first)


def test_dense_layers_fuse_into_gemm_with_bias_and_activation_epilogue():
    x = placeholder((None, 6))
    w, b = np.random.randn(6, 5).astype("float32"), np.random.randn(5).astype("float32")
    y = gn.ops.relu(gn.ops.add(gn.ops.matmul(x, w), b))
    plan, report = _compiled([x], [y], [(3, 6)])
    assert plan.kernels == ["GN_K_GEMM_BIAS_ACT"] and report.fired["fuse_matmul_bias_act"] == 1
    a = np.random.randn(3, 6).astype("float32")
    np.testing.assert_allclose(gn.function([x], y)(a), np.maximum(a @ w + b, 0), rtol=1e-5,
                               atol=1e-6)


def test_a_matmul_read_twice_is_not_fused():
    x = placeholder((3, 6))
    w = np.random.randn(6, 5).astype("float32")
    mm = gn.ops.matmul(x, w)
    plan, report = _compiled([x], [gn.ops.relu(mm), mm], [(3, 6)])
    assert "GN_K_GEMM_BIAS_ACT" not in plan.kernels
    assert not report.fired["fuse_matmul_bias_act"]


def test_elementwise_chains_fuse_into_one_pass():
    x, y = placeholder((None, 40)), placeholder((None, 40))
    z = gn.ops.tanh(gn.ops.add(gn.ops.multiply(x, 2.0), gn.ops.exp(y)))
    out = gn.ops.subtract(z, gn.ops.sigmoid(x))
    plan, report = _compiled([x, y], [out], [(7, 40), (7, 40)])
    assert plan.kernels == ["GN_K_FUSED_ELTWISE"] and report.fired["fuse_elementwise"] == 1
    a, b = np.random.randn(7, 40).astype("f4"), np.random.randn(7, 40).astype("f4")
    want = np.tanh(a * 2 + np.exp(b)) - 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(gn.function([x, y], out)(a, b), want, rtol=1e-5, atol=1e-6)


def test_values_read_elsewhere_or_returned_stay_materialized():
    x = placeholder((4, 8))
    h = gn.ops.exp(gn.ops.multiply(x, 3.0))
    out = gn.ops.add(h, 1.0)
    plan, report = _compiled([x], [out, h], [(4, 8)])
    assert plan.kernels.count("GN_K_FUSED_ELTWISE") == 1
    a = np.random.randn(4, 8).astype("f4")
    got_out, got_h = gn.function([x], [out, h])(a)
    np.testing.assert_allclose(got_h, np.exp(3 * a), rtol=1e-5)
    np.testing.assert_allclose(got_out, np.exp(3 * a) + 1, rtol=1e-5)


def test_fused_training_step_matches_the_reference_interpreter():
    from graphnet import layers as L
    def build():
        gn.utils.set_random_seed(3)
        inp = gn.Input((8,))
        out = L.Dense(3, activation="softmax")(L.Dense(16, activation="tanh")(inp))
        model = gn.Model(inp, out)
        return model
    x = np.random.RandomState(0).randn(32, 8).astype("f4")
    y = np.eye(3)[np.random.RandomState(1).randint(0, 3, 32)]
    assert_backends_train_alike(build, x, y, optimizer="rmsprop")


def test_explain_shows_every_phase_as_text_and_dot():
    x = placeholder((None, 6))
    w = np.random.randn(6, 5).astype("float32")
    f = gn.function([x], gn.ops.relu(gn.ops.add(gn.ops.matmul(x, w), np.ones(5, "f4"))))
    report = f.explain([(2, 6)])
    assert set(report.graphs) == set(report.dots) == {"input", "simplify", "fold", "fuse", "tile"}
    assert "MATMUL(" in report.graphs["input"] and "MATMUL_BIAS_ACT" in report.graphs["fuse"]
    assert report.dots["fuse"].startswith('digraph "after fuse"')
    assert len(report.fused_groups()) == 1 and report.kernel_count == 1
