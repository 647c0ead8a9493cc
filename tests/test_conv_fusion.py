"""Convolution + bias + activation (+ residual, or + max pooling) fused into the
convolution kernel: the C entries gn_conv_forward_fused and gn_conv_forward_fused_pool on
every path (direct table / packed, pointwise GEMM, im2col GEMM, depthwise, reference)
against the reference loops, the fusion rewrite (structure, numbers against the reference
backend, where it must not fire), training, and export."""
import numpy as np
import pytest

import graphnet as gn
from extras import needs, onnx
from extras import onnxruntime as ort
from graphnet import layers as L
from graphnet.compiler import CompileReport, compile_plan
from graphnet.engine.input_layer import placeholder
from graphnet.graph.node import Node
from graphnet.graph.tensor import SymbolicTensor
from graphnet.ops import nn
from graphnet.ops.elementwise import UNARY
from graphnet.runtime.cext import ffi, lib
from train_check import assert_backends_train_alike

ops = gn.ops


def _ptr(a, kind="float *"):
    return ffi.cast(kind, a.ctypes.data) if a is not None else ffi.NULL


@pytest.fixture(params=[1, 2], ids=lambda n: f"{n}threads")
def threads(request):
    before = gn.get_num_threads()
    gn.set_num_threads(request.param)
    yield request.param
    gn.set_num_threads(before)


# ---- the C kernel against the reference loops --------------------------------------------

FUSED_GEOMETRIES = [
    # x shape (N, *spatial, C), kernel (*k, C / groups, O), strides, dilations, pads, groups
    ((1, 7, 9, 1), (3, 3, 1, 32), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),     # packed, valid
    ((3, 8, 7, 1), (3, 3, 1, 17), (2, 1), (1, 2), ((1, 1), (2, 2)), 1),     # packed, pads
    ((2, 5, 1), (4, 1, 65), (1,), (1,), ((2, 1),), 1),                       # packed 1-D
    ((2, 3, 4, 5, 1), (2, 2, 3, 1, 3), (1, 2, 1), (1, 1, 1), ((1, 0), (0, 1), (1, 1)), 1),
    ((2, 6, 7, 1), (3, 3, 1, 5), (1, 2), (1, 1), ((1, 1), (1, 1)), 1),      # C 1, W stride 2
    ((1, 7, 9, 3), (3, 3, 3, 33), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),
    ((2, 9, 8, 17), (3, 2, 17, 65), (2, 1), (1, 2), ((1, 0), (1, 2)), 1),
    ((2, 6, 5, 6), (3, 3, 2, 9), (1, 1), (1, 1), ((1, 1), (1, 1)), 3),      # groups
    ((2, 13, 5), (4, 5, 17), (3,), (1,), ((2, 1),), 1),                      # 1-D
    ((1, 3, 4, 5, 4), (2, 3, 3, 4, 3), (1, 1, 2), (1, 1, 1), ((1, 0), (1, 1), (1, 1)), 1),
    ((2, 5, 7, 19), (1, 1, 19, 67), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),   # pointwise
    ((2, 5, 5, 4), (1, 1, 2, 6), (1, 1), (1, 1), ((0, 0), (0, 0)), 2),      # grouped 1x1
    ((2, 6, 5, 4), (3, 3, 1, 8), (1, 2), (1, 1), ((1, 1), (1, 1)), 4),      # depthwise x2
    ((2, 4, 4, 600), (3, 3, 600, 40), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),  # im2col GEMM
    # Winograd F(2x2, 3x3): odd output sizes (partial 2x2 blocks), pads on either side,
    # channels off the vector width, several column tiles and weight blocks, 3-D with D 1
    ((1, 7, 9, 8), (3, 3, 8, 16), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),
    ((2, 9, 8, 17), (3, 3, 17, 33), (1, 1), (1, 1), ((1, 0), (2, 1)), 1),
    ((3, 6, 5, 33), (3, 3, 33, 65), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),
    ((1, 5, 6, 12), (3, 3, 12, 40), (1, 1), (1, 1), ((2, 2), (0, 2)), 1),
    ((1, 6, 6, 150), (3, 3, 150, 140), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),
    ((2, 3, 6, 7, 9), (1, 3, 3, 9, 20), (1, 1, 1), (1, 1, 1), ((0, 0), (1, 1), (0, 1)), 1),
]
ACTS = [("GN_U_COPY", 0.0, 0.0), ("GN_U_RELU", 0.0, 0.0), ("GN_U_LEAKY_RELU", 0.2, 0.0),
        ("GN_U_GELU", 0.0, 0.0), ("GN_U_SIGMOID", 0.0, 0.0), ("GN_U_TANH", 0.0, 0.0),
        ("GN_U_CLIP", -0.5, 0.7)]


def _geometry(xs, ws, strides, dil, pads, groups):
    rank = len(xs) - 2
    out = nn.conv_output_sizes("CONV", xs[1:-1], ws[:rank], strides, dil, pads, [xs, ws])
    g = np.array(nn.geometry(xs[0], xs[1:-1], xs[-1], out, ws[-1], ws[:rank], strides, dil,
                             [p[0] for p in pads], groups), dtype=np.int64)
    return g, (xs[0], *out, ws[-1])


@pytest.mark.parametrize("xs,ws,strides,dil,pads,groups", FUSED_GEOMETRIES)
def test_fused_kernel_matches_reference_loops(xs, ws, strides, dil, pads, groups, isa,
                                              threads):
    """Every path with every epilogue: act(conv + bias + residual) against the reference
    loops followed by the same epilogue in NumPy / gn_unary."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[:-1]))).astype(np.float32)  # O(1) out
    g, ys = _geometry(xs, ws, strides, dil, pads, groups)
    gp = _ptr(g, "int64_t *")
    conv = np.full(ys, np.nan, np.float32)
    lib.gn_conv_forward_ref(gp, _ptr(x), _ptr(w), _ptr(conv))
    bias = rng.standard_normal(ws[-1]).astype(np.float32)
    res = rng.standard_normal(ys).astype(np.float32)
    length = lib.gn_conv_work_len(0, gp)
    work = np.zeros(max(length, 1), np.float32)
    for k, (act, alpha, beta) in enumerate(ACTS):
        b, r = (bias if k % 2 == 0 else None), (res if k % 3 != 1 else None)
        want = conv + (b if b is not None else 0) + (r if r is not None else 0)
        want = np.ascontiguousarray(want, np.float32)
        lib.gn_unary(getattr(lib, act), want.size, _ptr(want), _ptr(want), alpha, beta)
        got = np.full(ys, np.nan, np.float32)
        lib.gn_conv_forward_fused(gp, _ptr(x), _ptr(w), _ptr(b), getattr(lib, act), alpha,
                                  beta, _ptr(r), _ptr(got), _ptr(work), length)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=act)


def test_fused_kernel_relu_keeps_nan():
    """relu in the tile's registers behaves as gn_unary's: relu(NaN) is NaN, infinities
    pass through or become 0."""
    g, ys = _geometry((1, 3, 3, 1), (1, 1, 1, 16), (1, 1), (1, 1), ((0, 0), (0, 0)), 1)
    x = np.array([np.nan, -0.0, -1.0, 2.0, 0.0, -3.0, 1.0, np.inf, -np.inf],
                 np.float32).reshape(1, 3, 3, 1)
    w = np.ones((1, 1, 1, 16), np.float32)
    got = np.zeros(ys, np.float32)
    lib.gn_conv_forward_fused(_ptr(g, "int64_t *"), _ptr(x), _ptr(w), ffi.NULL, lib.GN_U_RELU,
                              0.0, 0.0, ffi.NULL, _ptr(got), ffi.NULL, 0)
    want = np.repeat(np.where(x < 0, 0, x), 16, axis=-1)
    np.testing.assert_array_equal(got, want)


POOL_GEOMETRIES = [
    # x shape, kernel, strides, dilations, pads, groups, pooling window
    ((2, 9, 8, 5), (3, 3, 5, 64), (1, 1), (1, 1), ((1, 1), (1, 1)), 1, (2, 2)),
    ((2, 12, 12, 32), (3, 3, 32, 64), (1, 1), (1, 1), ((0, 0), (0, 0)), 1, (2, 2)),
    ((3, 11, 7), (3, 7, 17), (1,), (1,), ((1, 1),), 1, (3,)),             # 1-D, odd sizes
    ((1, 7, 9, 1), (3, 3, 1, 33), (1, 1), (1, 1), ((0, 0), (0, 0)), 1, (3, 2)),
    ((2, 4, 6, 6, 4), (2, 2, 2, 4, 5), (1, 1, 1), (1, 1, 1), ((0, 0), (1, 0), (0, 0)), 1,
     (1, 2, 2)),                                                              # 3-D
    ((2, 8, 8, 6), (3, 3, 2, 9), (1, 1), (1, 1), ((1, 1), (1, 1)), 3, (2, 2)),  # groups
    ((2, 9, 9, 4), (3, 3, 4, 20), (1, 1), (1, 1), ((1, 1), (1, 1)), 1, (3, 3)),  # 9 taps
    ((1, 6, 6, 3), (1, 1, 3, 65), (1, 1), (1, 1), ((0, 0), (0, 0)), 1, (2, 2)),  # 1x1
    # Winograd, each 2x2 block one window: odd outputs (the last row / column dropped)
    ((2, 9, 11, 17), (3, 3, 17, 33), (1, 1), (1, 1), ((0, 0), (0, 0)), 1, (2, 2)),
    ((1, 8, 8, 12), (3, 3, 12, 70), (1, 1), (1, 1), ((1, 1), (1, 0)), 1, (2, 2)),
    ((2, 2, 7, 6, 9), (1, 3, 3, 9, 16), (1, 1, 1), (1, 1, 1), ((0, 0), (0, 0), (1, 1)), 1,
     (1, 2, 2)),
]


@pytest.mark.parametrize("xs,ws,strides,dil,pads,groups,win", POOL_GEOMETRIES)
@pytest.mark.parametrize("work", ["full", "none"])
def test_fused_pool_kernel_matches_reference(xs, ws, strides, dil, pads, groups, win, work,
                                             isa, threads):
    """maxpool(act(conv + bias)) in one kernel (direct: windows taken in the tile's
    epilogue; otherwise image by image through the workspace, allocated when missing)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[:-1]))).astype(np.float32)
    g, ys = _geometry(xs, ws, strides, dil, pads, groups)
    gp = _ptr(g, "int64_t *")
    conv = np.zeros(ys, np.float32)
    lib.gn_conv_forward_ref(gp, _ptr(x), _ptr(w), _ptr(conv))
    bias = rng.standard_normal(ws[-1]).astype(np.float32)
    win3 = np.array((1,) * (3 - len(win)) + tuple(win), np.int64)
    wp = _ptr(win3, "int64_t *")
    length = lib.gn_conv_pool_work_len(gp) if work == "full" else 0
    buf = np.zeros(max(length, 1), np.float32)
    for act, alpha, beta in ACTS[:5]:
        v = np.ascontiguousarray(conv + bias)
        lib.gn_unary(getattr(lib, act), v.size, _ptr(v), _ptr(v), alpha, beta)
        want = nn.pool_reference(v, "max", win, win, [(0, 0)] * len(win))
        got = np.full(want.shape, np.nan, np.float32)
        lib.gn_conv_forward_fused_pool(gp, wp, _ptr(x), _ptr(w), _ptr(bias), getattr(lib, act),
                                       alpha, beta, _ptr(got), _ptr(buf), length)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=act)


# ---- the fusion rewrite -------------------------------------------------------------------

def _compiled(inputs, outputs, shapes):
    report = CompileReport(keep_graphs=True)
    plan, _, report = compile_plan([t.node for t in inputs], [t.node for t in outputs],
                                   shapes, report)
    return plan, report


def _check_numbers(inputs, output, arrays):
    """The compiled function against the NumPy reference backend (weights are scaled so
    outputs are O(1): the tolerance is then relative to the output's scale)."""
    got = gn.function(inputs, output)(*arrays)
    want = gn.function(inputs, output, backend="reference")(*arrays)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


ACTIVATIONS = [None, "relu", ("leaky_relu", 0.3), "gelu", "sigmoid", "tanh", "elu", "silu",
               "softplus", "hard_sigmoid", "relu6"]


def _activation(act):
    if act is None:
        return lambda y: y
    if isinstance(act, tuple):
        name, arg = act
        return lambda y: getattr(ops, name)(y, arg)
    return getattr(ops, act)


@pytest.mark.parametrize("act", ACTIVATIONS, ids=str)
@pytest.mark.parametrize("channels", [1, 3, 17, 65])
def test_conv_bias_act_fuses_into_one_kernel(act, channels):
    x = placeholder((None, 9, 8, channels))
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((3, 3, channels, 33)) / np.sqrt(9 * channels)).astype("f4")
    b = rng.standard_normal(33).astype("f4")
    y = _activation(act)(ops.add(ops.conv(x, w, padding="same"), b))
    plan, report = _compiled([x], [y], [(2, 9, 8, channels)])
    assert plan.kernels == ["GN_K_CONV_BIAS_ACT"]
    assert report.fired["fuse_conv_bias_act"] == 1
    (line,) = report.fused_groups()
    assert "CONV_BIAS_ACT" in line and "bias=True" in line
    for batch in (1, 2):
        _check_numbers([x], y, [rng.standard_normal((batch, 9, 8, channels)).astype("f4")])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("act", [None, "relu", "tanh"])
def test_residual_add_fuses(bias, act):
    """act(conv(x) + b + r) and act(conv(x) + r), with r a second input."""
    x, r = placeholder((None, 7, 6, 5)), placeholder((None, 4, 3, 65))
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((3, 2, 5, 65)) / np.sqrt(30)).astype("f4")
    y = ops.conv(x, w, strides=2, padding="same")
    if bias:
        y = ops.add(y, rng.standard_normal((1, 1, 65)).astype("f4"))
    y = _activation(act)(ops.add(r, y))
    plan, report = _compiled([x, r], [y], [(3, 7, 6, 5), (3, 4, 3, 65)])
    assert plan.kernels == ["GN_K_CONV_BIAS_ACT"], plan.kernels
    assert f"bias={bias}" in report.fused_groups()[0] and "residual=True" in \
        report.fused_groups()[0]
    _check_numbers([x, r], y, [rng.standard_normal((3, 7, 6, 5)).astype("f4"),
                               rng.standard_normal((3, 4, 3, 65)).astype("f4")])


@pytest.mark.parametrize("xs,ks,kwargs", [
    ((2, 11, 1), (3, 1, 4), dict(dilation_rate=2)),                        # 1-D, C 1
    ((1, 4, 5, 6, 3), (2, 3, 2, 3, 5), dict(strides=(1, 2, 1), padding="same")),  # 3-D
    ((2, 8, 8, 6), (3, 3, 2, 9), dict(padding="same")),                   # groups 3
    ((1, 6, 6, 8), (3, 3, 1, 8), dict(padding="same")),                   # depthwise
    ((1, 5, 5, 65), (1, 1, 65, 33), dict()),                              # pointwise
])
def test_geometries_fuse_and_agree(xs, ks, kwargs):
    x = placeholder((None,) + xs[1:])
    rng = np.random.default_rng(2)
    w = (rng.standard_normal(ks) / np.sqrt(np.prod(ks[:-1]))).astype("f4")
    y = ops.relu(ops.add(ops.conv(x, w, **kwargs), rng.standard_normal(ks[-1]).astype("f4")))
    plan, _ = _compiled([x], [y], [xs])
    assert plan.kernels == ["GN_K_CONV_BIAS_ACT"]
    _check_numbers([x], y, [rng.standard_normal(xs).astype("f4")])


@pytest.mark.parametrize("act", [None, "relu", "gelu"])
def test_max_pooling_joins_the_convolution(act):
    """conv -> bias -> act -> max pool over non-overlapping windows: one kernel that never
    stores the full-size output (mnist_cnn's second layer)."""
    x = placeholder((None, 13, 12, 3))
    rng = np.random.default_rng(8)
    w = (rng.standard_normal((3, 3, 3, 64)) / np.sqrt(27)).astype("f4")
    y = _activation(act)(ops.add(ops.conv(x, w), rng.standard_normal(64).astype("f4")))
    y = ops.max_pool(y, 2)
    plan, report = _compiled([x], [y], [(2, 13, 12, 3)])
    assert plan.kernels == ["GN_K_CONV_BIAS_ACT_POOL"]
    assert "window=(2, 2)" in report.fused_groups()[0]
    for batch in (1, 3):
        _check_numbers([x], y, [rng.standard_normal((batch, 13, 12, 3)).astype("f4")])


@pytest.mark.parametrize("pool", [
    lambda y: ops.max_pool(y, 2, strides=1),                 # overlapping windows
    lambda y: ops.max_pool(y, 4, padding="same"),            # padded windows (6 -> 2)
    lambda y: ops.average_pool(y, 2),                        # not a maximum
])
def test_other_pooling_stays_apart(pool):
    x = placeholder((1, 8, 8, 2))
    w = np.ones((3, 3, 2, 4), "f4")
    y = pool(ops.relu(ops.conv(x, w)))
    plan, _ = _compiled([x], [y], [(1, 8, 8, 2)])
    assert plan.kernels == ["GN_K_CONV_BIAS_ACT", "GN_K_POOL"]
    _check_numbers([x], y, [np.random.default_rng(9).standard_normal((1, 8, 8, 2))
                            .astype("f4")])


def test_an_elementwise_group_of_exactly_bias_and_activation_fuses():
    """conv -> FUSED_ELTWISE{ADD bias, ADD residual, ELU} becomes one CONV_BIAS_ACT; a group
    computing anything more stays as it is."""
    x, r = placeholder((2, 6, 6, 3)), placeholder((2, 4, 4, 4))
    w = np.random.default_rng(3).standard_normal((3, 3, 3, 4)).astype("f4")
    b = ops.convert_to_tensor(np.arange(4, dtype="f4") / 4)
    conv = ops.conv(x, w)

    def group(program, *inputs):
        return SymbolicTensor(Node("FUSED_ELTWISE", [t.node for t in inputs],
                                   {"program": program}))
    exact = group((("ADD", (1, 0), 0.0, 0.0), ("ADD", (3, 2), 0.0, 0.0),
                   ("ELU", (4,), 0.5, 0.0)), b, conv, r)
    plan, report = _compiled([x, r], [exact], [(2, 6, 6, 3), (2, 4, 4, 4)])
    assert plan.kernels == ["GN_K_CONV_BIAS_ACT"]
    arrays = [np.random.default_rng(4).standard_normal(s).astype("f4")
              for s in ((2, 6, 6, 3), (2, 4, 4, 4))]
    _check_numbers([x, r], exact, arrays)
    more = group((("ADD", (0, 1), 0.0, 0.0), ("MUL", (3, 2), 0.0, 0.0)), conv, b, r)
    plan, report = _compiled([x, r], [more], [(2, 6, 6, 3), (2, 4, 4, 4)])
    assert "GN_K_CONV_BIAS_ACT" not in plan.kernels and not report.fired["fuse_conv_bias_act"]


def test_values_read_elsewhere_stay_materialized():
    """A conv (or its biased value) that is also an output or read by another op keeps it:
    the fusion stops before that value."""
    x = placeholder((1, 6, 6, 2))
    w = np.ones((3, 3, 2, 4), "f4")
    conv = ops.conv(x, w)
    plan, report = _compiled([x], [ops.relu(conv), conv], [(1, 6, 6, 2)])
    assert "GN_K_CONV_BIAS_ACT" not in plan.kernels
    biased = ops.add(conv, np.ones(4, "f4"))
    out = [ops.relu(biased), ops.exp(biased)]
    plan, report = _compiled([x], out, [(1, 6, 6, 2)])
    assert plan.kernels[0] == "GN_K_CONV_BIAS_ACT" and "act=" not in report.fused_groups()[0]
    _check_numbers([x], out, [np.random.default_rng(5).standard_normal((1, 6, 6, 2))
                              .astype("f4")])


def test_training_step_matches_the_reference_interpreter():
    """In a training step the backward pass reads the pre-activations: conv + bias fuse, the
    activation stays apart, and the updates match the reference interpreter's."""
    def build():
        gn.utils.set_random_seed(3)
        return gn.Sequential([gn.Input((8, 8, 1)), L.Conv2D(5, 3, activation="relu"),
                              L.Conv2D(4, 3, padding="same", activation="tanh"),
                              L.Flatten(), L.Dense(3, activation="softmax")])
    x = np.random.RandomState(0).rand(16, 8, 8, 1).astype("f4")
    y = np.eye(3)[np.random.RandomState(1).randint(0, 3, 16)]
    assert_backends_train_alike(build, x, y, optimizer="adam")


@pytest.mark.parametrize("op, shapes, attrs, words", [
    ("CONV_BIAS_ACT", [(1, 5, 5, 2), (3, 3, 2, 4), (3,)], dict(bias=True), "one value per"),
    ("CONV_BIAS_ACT", [(1, 5, 5, 2), (3, 3, 2, 4), (2, 4)], dict(bias=True), "one value per"),
    ("CONV_BIAS_ACT", [(1, 5, 5, 2), (3, 3, 2, 4), (1, 3, 4, 4)], dict(residual=True),
     "output's shape"),
    ("CONV_BIAS_ACT", [(1, 5, 5, 2), (3, 3, 2, 4)], dict(bias=True), "takes"),
    ("CONV_BIAS_ACT_POOL", [(1, 5, 5, 2), (3, 3, 2, 4), (1, 3, 3, 4)],
     dict(residual=True, window=(2, 2)), "no residual"),
])
def test_shape_errors_name_the_op(op, shapes, attrs, words):
    from graphnet.ops.registry import OpError
    attrs = dict(dict(strides=(1, 1), dilations=(1, 1), groups=1, padding="valid"), **attrs)
    with pytest.raises(OpError, match=words):
        Node(op, [placeholder(s).node for s in shapes], attrs)


# ---- export ---------------------------------------------------------------------------------

def _resnet_block():
    """A residual block, then a pooled convolution: every fused kernel."""
    inp = gn.Input((8, 8, 3), name="img")
    h = L.Conv2D(6, 3, padding="same", activation="relu")(inp)
    skip = L.Conv2D(6, 1)(inp)
    out = L.Activation("relu")(L.Add()([L.Conv2D(6, 3, padding="same")(h), skip]))
    out = L.MaxPooling2D(2)(L.Conv2D(5, 3, activation="relu")(out))
    return gn.Model(inp, L.Dense(2)(L.Flatten()(out)), name="block")


def test_compiled_export_and_verifier(tmp_path):
    from graphnet.export import load_compiled
    model = _resnet_block()
    x = np.random.default_rng(6).standard_normal((2, 8, 8, 3)).astype("f4")
    path = str(tmp_path / "block.gnx")
    model.export(path, batch_size=2)
    loaded = load_compiled(path)
    assert loaded.plan.kernels.count("GN_K_CONV_BIAS_ACT") >= 2
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-5, atol=1e-5)
    plan = loaded.plan
    step = plan.kernels.index("GN_K_CONV_BIAS_ACT")
    ioff = int(plan.steps[step, 1])
    pool_step = plan.kernels.index("GN_K_CONV_BIAS_ACT_POOL")
    pool_off = int(plan.steps[pool_step, 1])
    assert_edits_refused(plan, [(ioff + 5, len(plan.slots), "bias names slot"),
                                (ioff + 7, lib.GN_U_COUNT, "unknown activation"),
                                (ioff + 8 + 8, 10 ** 6, "accesses bytes"),
                                (pool_off + 6, -1, "unknown activation"),
                                (pool_off + 8, 0, "window"),
                                (pool_off + 10 + 8, 10 ** 6, "accesses bytes")])


def assert_edits_refused(plan, edits):
    """Each (index in plan.iargs, value, words): the plan with that one int argument
    changed is refused with a PlanError matching words; unchanged, it verifies."""
    from graphnet.export import PlanError, verify_plan
    for at, value, words in edits:
        saved = plan.iargs[at]
        plan.iargs[at] = value
        with pytest.raises(PlanError, match=words):
            verify_plan(plan)
        plan.iargs[at] = saved
    verify_plan(plan)


@needs(onnx, ort)
def test_onnx_export_of_fused_convolutions():
    model = _resnet_block()
    proto = gn.export.to_onnx(model, batch_size=2)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(7).standard_normal((2, 8, 8, 3)).astype("f4")
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-4, atol=1e-5)


def test_every_fused_activation_has_a_c_code():
    for name in UNARY:
        assert 0 <= getattr(lib, UNARY[name][0]) < lib.GN_U_COUNT
