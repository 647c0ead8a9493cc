"""Dense / matmul + bias + residual + activation fused into one GEMM (MATMUL_BIAS_ACT,
GN_K_GEMM_BIAS_ACT): the rewrite (where it fires, where it must not), numbers against the
reference backend, training, the C kernel's residual, and export (.gnx, ONNX)."""
import numpy as np
import pytest

import graphnet as gn
from extras import needs, onnx
from extras import onnxruntime as ort
from graphnet import layers as L
from graphnet.engine.input_layer import placeholder
from graphnet.graph.node import Node
from graphnet.runtime.cext import ffi, lib
from test_conv_fusion import _compiled, assert_edits_refused
from train_check import assert_backends_train_alike

ops = gn.ops


def _check_numbers(inputs, outputs, arrays):
    got = gn.function(inputs, outputs)(*arrays)
    want = gn.function(inputs, outputs, backend="reference")(*arrays)
    for g, w in zip(*(x if isinstance(x, list) else [x] for x in (got, want))):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def _int_args(plan, kernel):
    return [int(plan.steps[i, 3]) for i, k in enumerate(plan.kernels) if k == kernel]


def _skip_model(use_bias=True, activation="relu", width=8):
    gn.utils.set_random_seed(4)
    inp = gn.Input((width,), name="x")
    h = L.Add()([L.Dense(width, use_bias=use_bias)(inp), inp])
    out = L.Activation(activation)(h) if activation else h
    return gn.Model(inp, out, name="skip")


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_dense_with_a_skip_connection_is_one_gemm(use_bias, activation):
    model = _skip_model(use_bias, activation)
    plan, report = _compiled(model.inputs, model.outputs, [(5, 8)])
    assert plan.kernels == ["GN_K_GEMM_BIAS_ACT"], plan.kernels
    assert report.fired["fuse_matmul_bias_act"] == 1
    (line,) = report.fused_groups()
    assert f"bias={use_bias}" in line and "residual=True" in line
    assert _int_args(plan, "GN_K_GEMM_BIAS_ACT") == [15]
    x = np.random.default_rng(0).standard_normal((5, 8)).astype("f4")
    _check_numbers(model.inputs, model.outputs[0], [x])
    want = gn.function(model.inputs, model.outputs[0], backend="reference")(x)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)


def test_without_a_residual_the_step_keeps_its_thirteen_arguments():
    x = placeholder((None, 6))
    w, b = np.ones((6, 5), "f4"), np.ones(5, "f4")
    plan, report = _compiled([x], [ops.relu(ops.add(ops.matmul(x, w), b))], [(3, 6)])
    assert plan.kernels == ["GN_K_GEMM_BIAS_ACT"]
    assert _int_args(plan, "GN_K_GEMM_BIAS_ACT") == [13]
    assert "residual=False" in report.fused_groups()[0]


@pytest.mark.parametrize("shape", [(4, 65), (2, 3, 65), (1, 65)])
def test_residual_from_another_input_and_batched_rows(shape):
    """act(x @ w + b + r) for 2-D and 3-D x (rows flattened), r a second input; with one
    row, r is (1, n) like a bias and the fusion still computes the same numbers."""
    x, r = placeholder((None,) + shape[1:-1] + (7,)), placeholder((None,) + shape[1:])
    rng = np.random.default_rng(1)
    w = rng.standard_normal((7, 65)).astype("f4") / 3
    y = ops.gelu(ops.add(r, ops.add(ops.matmul(x, w), rng.standard_normal(65).astype("f4"))))
    plan, _ = _compiled([x, r], [y], [shape[:-1] + (7,), shape])
    assert plan.kernels == ["GN_K_GEMM_BIAS_ACT"], plan.kernels
    _check_numbers([x, r], y, [rng.standard_normal(shape[:-1] + (7,)).astype("f4"),
                               rng.standard_normal(shape).astype("f4")])


def test_a_residual_with_other_readers_is_read_not_overwritten():
    """The residual h is read by the fused GEMM, by the matmul that computes it and by a
    later op (and is an output): its value must survive, and the fused step must never
    write its output over it (a GEMM stores a block before its epilogue reads it)."""
    x = placeholder((None, 16))
    rng = np.random.default_rng(2)
    w1, w2 = (rng.standard_normal((16, 16)).astype("f4") / 4 for _ in range(2))
    h = ops.tanh(ops.matmul(x, w1))
    y = ops.relu(ops.add(ops.matmul(h, w2), h))
    for outputs in ([y], [y, ops.exp(h)], [y, h]):
        plan, report = _compiled([x], outputs, [(9, 16)])
        assert report.fired["fuse_matmul_bias_act"] == 2
        assert any("residual=True" in line for line in report.fused_groups())
        _check_numbers([x], outputs, [rng.standard_normal((9, 16)).astype("f4")])


def test_a_chain_of_residual_blocks():
    """Each block's output is the next one's residual, and dies there."""
    x = placeholder((None, 32))
    rng = np.random.default_rng(3)
    h = x
    for _ in range(4):
        h = ops.relu(ops.add(ops.add(ops.matmul(h, rng.standard_normal((32, 32))
                                                .astype("f4") / 6),
                                     rng.standard_normal(32).astype("f4")), h))
    plan, report = _compiled([x], [h], [(6, 32)])
    assert plan.kernels == ["GN_K_GEMM_BIAS_ACT"] * 4
    _check_numbers([x], h, [rng.standard_normal((6, 32)).astype("f4")])


@pytest.mark.parametrize("rshape", [(4, 1), (3, 8)])
def test_a_broadcast_residual_is_not_fused(rshape):
    """A second operand that broadcasts (not the output's shape, not one value per column)
    is no residual: the GEMM takes the bias alone and the rest is an elementwise pass."""
    xshape = (4, 6) if len(rshape) == 2 and rshape[0] == 4 else (2, 3, 6)
    x, r = placeholder(xshape), placeholder(rshape)
    rng = np.random.default_rng(5)
    w, b = rng.standard_normal((6, 8)).astype("f4"), rng.standard_normal(8).astype("f4")
    y = ops.relu(ops.add(ops.add(ops.matmul(x, w), b), r))
    plan, report = _compiled([x, r], [y], [xshape, rshape])
    assert plan.kernels[0] == "GN_K_GEMM_BIAS_ACT" and len(plan.kernels) == 2
    assert _int_args(plan, "GN_K_GEMM_BIAS_ACT") == [13]
    assert "residual=True" not in "\n".join(report.fused_groups())
    _check_numbers([x, r], y, [rng.standard_normal(xshape).astype("f4"),
                               rng.standard_normal(rshape).astype("f4")])


def test_an_elementwise_group_of_exactly_the_epilogue_fuses():
    """matmul -> FUSED_ELTWISE{ADD bias, ADD residual, ELU} is one GEMM, as for CONV."""
    from graphnet.graph.tensor import SymbolicTensor
    x, r = placeholder((3, 5)), placeholder((3, 4))
    w = np.random.default_rng(6).standard_normal((5, 4)).astype("f4")
    b = ops.convert_to_tensor(np.arange(4, dtype="f4") / 4)
    mm = ops.matmul(x, w)
    group = SymbolicTensor(Node("FUSED_ELTWISE", [b.node, mm.node, r.node],
                                {"program": (("ADD", (1, 0), 0.0, 0.0),
                                             ("ADD", (3, 2), 0.0, 0.0),
                                             ("ELU", (4,), 0.5, 0.0))}))
    plan, report = _compiled([x, r], [group], [(3, 5), (3, 4)])
    assert plan.kernels == ["GN_K_GEMM_BIAS_ACT"]
    _check_numbers([x, r], group, [np.random.default_rng(7).standard_normal(s).astype("f4")
                                   for s in ((3, 5), (3, 4))])


def test_training_step_matches_the_reference_interpreter():
    """In training the activation stays apart (its gradient reads the pre-activation);
    bias and residual still fuse, and the updates match the reference's."""
    def build():
        gn.utils.set_random_seed(3)
        inp = gn.Input((8,))
        h = L.Dense(8, activation="tanh")(inp)
        h = L.Activation("relu")(L.Add()([L.Dense(8)(h), h]))
        h = L.Activation("elu")(L.Add()([L.Dense(8, use_bias=False)(h), inp]))
        return gn.Model(inp, L.Dense(3, activation="softmax")(h))
    x = np.random.RandomState(0).randn(32, 8).astype("f4")
    y = np.eye(3)[np.random.RandomState(1).randint(0, 3, 32)]
    assert_backends_train_alike(build, x, y, optimizer="adam")


@pytest.mark.parametrize("shapes, attrs, words", [
    ([(4, 5), (5, 3), (4, 3)], dict(bias=True), "one value per"),
    ([(4, 5), (5, 3), (4, 2)], dict(residual=True), "output's shape"),
    ([(4, 5), (5, 3), (3,)], dict(bias=True, residual=True), "takes"),
])
def test_shape_errors_name_the_op(shapes, attrs, words):
    from graphnet.ops.registry import OpError
    with pytest.raises(OpError, match=f"MATMUL_BIAS_ACT.*{words}"):
        Node("MATMUL_BIAS_ACT", [placeholder(s).node for s in shapes], attrs)


def test_the_kernel_adds_a_residual_with_its_row_stride():
    rng = np.random.default_rng(8)
    m, n, k, ldr, ldc = 37, 21, 50, 29, 23
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    res = rng.standard_normal((m, ldr), dtype=np.float32)
    c = np.full((m, ldc), 7.0, dtype=np.float32)
    fp = lambda v: ffi.cast("float *", v.ctypes.data)  # noqa: E731
    lib.gn_gemm_bias_act(0, 0, m, n, k, fp(a), k, fp(b), n, ffi.NULL, fp(res), ldr,
                         lib.GN_U_RELU, 0.0, 0.0, fp(c), ldc, ffi.NULL)
    want = np.maximum(a.astype(np.float64) @ b + res[:, :n], 0.0)
    np.testing.assert_allclose(c[:, :n], want, rtol=1e-4, atol=1e-4)
    assert np.all(c[:, n:] == 7.0)


# ---- export ---------------------------------------------------------------------------------

def test_compiled_export_and_verifier(tmp_path):
    from graphnet.export import PlanError, load_compiled, verify_plan
    model = _skip_model()
    x = np.random.default_rng(9).standard_normal((3, 8)).astype("f4")
    path = str(tmp_path / "skip.gnx")
    model.export(path, batch_size=3)
    loaded = load_compiled(path)
    assert loaded.plan.kernels == ["GN_K_GEMM_BIAS_ACT"]
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-5, atol=1e-5)
    plan = loaded.plan
    off = int(plan.steps[0, 1])
    assert_edits_refused(plan, [(off + 13, len(plan.slots), "residual names slot"),
                                (off + 14, 4, "leading dimension 4"),
                                (off + 14, 10 ** 6, "residual accesses bytes")])
    steps = plan.steps.copy()
    plan.steps[0, 3] = 14
    with pytest.raises(PlanError, match="int arguments"):
        verify_plan(plan)
    plan.steps = steps


@needs(onnx, ort)
def test_onnx_export_of_the_fused_gemm():
    model = _skip_model(activation="relu")
    proto = gn.export.to_onnx(model, batch_size=2)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(10).standard_normal((2, 8)).astype("f4")
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-4, atol=1e-5)


def test_reverse_mode_differentiates_a_fused_node_through_its_expansion():
    """gn.gradients of a MATMUL_BIAS_ACT node are those of the primitives it stands for
    (fused ops declare no grad rule: autodiff differentiates their expansion)."""
    from graphnet.graph.tensor import SymbolicTensor
    a, b, bias = placeholder((None, 5)), placeholder((5, 3)), placeholder((3,))
    fused = SymbolicTensor(Node("MATMUL_BIAS_ACT", [a.node, b.node, bias.node],
                                dict(bias=True, act="TANH")))
    plain = ops.tanh(ops.matmul(a, b) + bias)
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s).astype("f4") for s in ((4, 5), (5, 3), (3,))]
    got = gn.function([a, b, bias], gn.gradients(fused, [a, b, bias]))(*arrays)
    want = gn.function([a, b, bias], gn.gradients(plain, [a, b, bias]))(*arrays)
    assert len(got) == 3
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
