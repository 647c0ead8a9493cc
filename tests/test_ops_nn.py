"""Convolution, pooling, padding and normalization ops: the C kernels against the NumPy
references and the C reference loops, gradients by finite differences (check_op), odd
geometries (stride > kernel, dilation, 1x1 inputs, kernel as large as the input, groups,
negative pads, empty batch) and the shape errors."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.graph.node import Node
from graphnet.graph.tensor import SymbolicTensor
from graphnet.ops import nn
from graphnet.ops.registry import OpError
from graphnet.runtime.cext import ffi, lib
from op_check import check_op

ops = gn.ops
BATCH_ONLY = [(0,), ()]     # None batch on the input, a fully known kernel


def _ptr(a, kind="float *"):
    return ffi.cast(kind, a.ctypes.data)


# ---- the fast C paths against the C reference loops ---------------------------------------

GEOMETRIES = [
    # x shape (N, *spatial, C), kernel (*k, C / groups, O), strides, dilations, pads, groups
    ((2, 9, 3), (3, 3, 4), (1,), (1,), ((0, 0),), 1),
    ((2, 9, 6), (3, 2, 6), (2,), (2,), ((2, 1),), 3),
    ((3, 7, 6, 3), (3, 2, 3, 5), (2, 3), (1, 2), ((1, 1), (0, 2)), 1),
    ((2, 5, 5, 4), (1, 1, 4, 6), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),        # pointwise
    ((2, 5, 5, 4), (1, 1, 2, 6), (1, 1), (1, 1), ((0, 0), (0, 0)), 2),        # grouped 1x1
    ((2, 6, 5, 4), (3, 3, 1, 8), (1, 2), (1, 1), ((1, 1), (1, 1)), 4),        # depthwise x2
    ((2, 6, 5, 3), (3, 3, 1, 3), (2, 2), (2, 1), ((2, 1), (0, 1)), 3),        # depthwise
    ((1, 4, 5, 6, 2), (2, 3, 2, 2, 3), (1, 2, 1), (1, 1, 2), ((1, 0), (1, 1), (1, 1)), 1),
    ((3, 1, 1, 2), (1, 1, 2, 3), (4, 4), (1, 1), ((0, 0), (0, 0)), 1),        # 1x1 input
    ((2, 7, 7, 3), (2, 2, 3, 2), (3, 3), (1, 1), ((0, 0), (0, 0)), 1),        # stride > k
    ((2, 5, 4, 3), (5, 4, 3, 2), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),        # k == input
    ((2, 6, 3), (3, 3, 2), (1,), (1,), ((2, -1),), 1),                        # crop (hi < 0)
    ((2, 6, 3), (2, 3, 2), (2,), (1,), ((-1, 3),), 1),                        # crop (lo < 0)
    ((0, 5, 5, 2), (3, 3, 2, 2), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),       # empty batch
    ((5, 20, 20, 16), (3, 3, 16, 32), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),  # GEMMs thread
]


@pytest.mark.parametrize("xs,ws,strides,dil,pads,groups", GEOMETRIES)
@pytest.mark.parametrize("work", ["full", "one_image", "none"])
def test_conv_kernels_match_reference_loops(xs, ws, strides, dil, pads, groups, work,
                                             threads):
    """Fast paths (pointwise GEMM, depthwise loops, im2col split across threads, one image
    per block, no workspace: the reference) against the plain C loops."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    rank = len(xs) - 2
    out = nn.conv_output_sizes("CONV", xs[1:-1], ws[:rank], strides, dil, pads, [xs, ws])
    ys = (xs[0], *out, ws[-1])
    g = np.array(nn.geometry(xs[0], xs[1:-1], xs[-1], out, ws[-1], ws[:rank], strides, dil,
                             [p[0] for p in pads], groups), dtype=np.int64)
    gp = _ptr(g, "int64_t *")
    per_image = int(np.prod(out)) * int(np.prod(ws[:rank])) * ws[-2]
    dy = rng.standard_normal(ys).astype(np.float32)

    def run(kind, fn, shape, a, b, with_work=True):
        length = {"full": lib.gn_conv_work_len(kind, gp), "one_image": per_image,
                  "none": 0}[work]
        buf = np.zeros(max(length, 1), np.float32)
        dst = np.full(shape, np.nan, np.float32)
        args = (gp, _ptr(a), _ptr(b), _ptr(dst))
        fn(*(args + ((_ptr(buf), length) if with_work else ())))
        return dst

    for kind, fast, ref, shape, a, b in [
            (0, lib.gn_conv_forward, lib.gn_conv_forward_ref, ys, x, w),
            (1, lib.gn_conv_backward_input, lib.gn_conv_backward_input_ref, xs, dy, w),
            (2, lib.gn_conv_backward_filter, lib.gn_conv_backward_filter_ref, ws, x, dy)]:
        got, want = run(kind, fast, shape, a, b), run(kind, ref, shape, a, b, False)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # and the reference loops against the NumPy reference
    np.testing.assert_allclose(run(0, lib.gn_conv_forward_ref, ys, x, w, False),
                               nn.conv_reference(x, w, strides, dil, pads, groups),
                               rtol=1e-4, atol=1e-4)


DIRECT_GEOMETRIES = [
    # odd sizes for the direct forward (AVX-512): row tiles of 6 / 12 with a tail, column
    # tiles of 64 / 32 / 16 with a masked tail, W padding on both sides (scratch segments),
    # H padding, strides, dilations (per-tap segments), groups, 1-D and 3-D, pointwise
    ((1, 7, 9, 5), (3, 3, 5, 70), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),
    ((3, 11, 13, 3), (7, 7, 3, 20), (2, 2), (1, 1), ((3, 3), (3, 2)), 1),
    ((2, 9, 10, 7), (3, 5, 7, 5), (1, 2), (1, 1), ((2, 0), (2, 3)), 1),
    ((2, 8, 9, 6), (3, 3, 6, 33), (1, 1), (2, 2), ((2, 2), (1, 2)), 1),
    ((2, 8, 9, 6), (3, 3, 2, 9), (1, 1), (1, 1), ((1, 1), (1, 1)), 3),
    ((2, 13, 5), (4, 5, 17), (3,), (1,), ((2, 1),), 1),
    ((2, 3, 5, 6, 4), (2, 3, 3, 4, 65), (1, 1, 2), (1, 1, 1), ((1, 0), (1, 1), (1, 1)), 1),
    ((2, 5, 7, 19), (1, 1, 19, 67), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),       # pointwise
    ((3, 5, 5, 600), (3, 3, 600, 40), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),     # big: GEMM
]


@pytest.mark.parametrize("xs,ws,strides,dil,pads,groups", DIRECT_GEOMETRIES)
@pytest.mark.parametrize("isa", ["avx512", "avx2", "ref"])
def test_conv_forward_paths_match_reference(xs, ws, strides, dil, pads, groups, isa, threads):
    """The direct forward kernel (chosen on AVX-512) and the im2col / GEMM path (other
    ISAs, or weights too large for the direct path) against the reference loops."""
    before = ffi.string(lib.gn_isa_name()).decode()
    if not lib.gn_set_isa(isa.encode()):
        pytest.skip(f"{isa} not available")
    try:
        rng = np.random.default_rng(2)
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        rank = len(xs) - 2
        out = nn.conv_output_sizes("CONV", xs[1:-1], ws[:rank], strides, dil, pads, [xs, ws])
        g = np.array(nn.geometry(xs[0], xs[1:-1], xs[-1], out, ws[-1], ws[:rank], strides,
                                 dil, [p[0] for p in pads], groups), dtype=np.int64)
        gp = _ptr(g, "int64_t *")
        ys = (xs[0], *out, ws[-1])
        length = lib.gn_conv_work_len(0, gp)
        buf = np.zeros(max(length, 1), np.float32)
        got = np.full(ys, np.nan, np.float32)
        want = np.full(ys, np.nan, np.float32)
        lib.gn_conv_forward(gp, _ptr(x), _ptr(w), _ptr(got), _ptr(buf), length)
        lib.gn_conv_forward_ref(gp, _ptr(x), _ptr(w), _ptr(want))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    finally:
        lib.gn_set_isa(before.encode())


def test_conv_work_len_policy(threads):
    """No workspace for pointwise and depthwise convolutions; im2col blocks of about 2 MB per
    thread (at least one image), one block per thread at most, and a private filter
    gradient per extra thread."""
    def work(kind, xs, ws, groups=1):
        out = nn.conv_output_sizes("CONV", xs[1:-1], ws[:2], (1, 1), (1, 1),
                                   [(0, 0), (0, 0)], [xs, ws])
        g = np.array(nn.geometry(xs[0], xs[1:-1], xs[-1], out, ws[-1], ws[:2], (1, 1),
                                 (1, 1), [0, 0], groups), np.int64)
        return lib.gn_conv_work_len(kind, _ptr(g, "int64_t *"))
    assert work(0, (8, 5, 5, 4), (1, 1, 4, 6)) == 0
    assert work(2, (8, 5, 5, 4), (3, 3, 1, 4), groups=4) == 0
    per = 9 * 9 * 4                                   # 3x3 outputs x 3x3 taps x 4 channels
    teams = min(threads, 2)
    assert work(0, (2, 5, 5, 4), (3, 3, 4, 6)) == 2 * per
    assert work(2, (2, 5, 5, 4), (3, 3, 4, 6)) == 2 * per + (teams - 1) * 9 * 4 * 6
    big = 62 * 62 * 9 * 64
    assert work(0, (512, 64, 64, 64), (3, 3, 64, 64)) == threads * big   # one image each


# ---- ops: C vs NumPy reference and finite-difference gradients ------------------------------

@pytest.mark.parametrize("xs,ws,kwargs", [
    ((2, 7, 3), (3, 3, 4), dict()),
    ((2, 8, 4), (2, 2, 4), dict(strides=3, padding="same")),          # groups=2
    ((2, 8, 3), (3, 3, 2), dict(padding="causal", dilation_rate=2)),
    ((2, 6, 5, 3), (3, 2, 3, 4), dict(strides=2, padding="same")),
    ((2, 5, 6, 4), (2, 3, 2, 6), dict(dilation_rate=(2, 1))),                  # groups=2
    ((2, 4, 4, 3), (1, 1, 3, 5), dict()),                                      # pointwise
    ((3, 1, 1, 2), (3, 3, 2, 2), dict(padding="same")),                        # 1x1 input
    ((2, 7, 7, 2), (2, 2, 2, 3), dict(strides=3)),                             # stride > k
    ((2, 4, 5, 2), (4, 5, 2, 3), dict()),                                      # k == input
    ((1, 3, 4, 5, 2), (2, 2, 3, 2, 2), dict(strides=(1, 2, 1), padding="same")),
    ((2, 3, 6, 5), (3, 2, 3, 4), dict(data_format="channels_first", padding="same")),
])
def test_conv_op(xs, ws, kwargs):
    check_op(lambda x, w: ops.conv(x, w, **kwargs), [xs, ws], none_axes=BATCH_ONLY, op="CONV")


def test_conv_op_empty_batch():
    check_op(lambda x, w: ops.conv(x, w, padding="same"), [(0, 4, 4, 2), (3, 3, 2, 3)],
             none_axes=BATCH_ONLY, op="CONV", resize=False)


@pytest.mark.parametrize("xs,ws,kwargs", [
    ((2, 4, 3), (3, 2, 3), dict()),
    ((2, 4, 3), (3, 2, 3), dict(strides=2, padding="same")),
    ((2, 3, 4, 2), (3, 3, 3, 2), dict(strides=2, padding="same")),
    ((2, 3, 3, 2), (3, 2, 2, 2), dict(strides=(2, 3), output_padding=(1, 2))),
    ((2, 2, 2, 3), (1, 1, 2, 3), dict(strides=3)),                             # stride > k
    ((1, 3, 3, 2), (4, 4, 2, 2), dict(strides=2, padding="same", output_padding=1)),
    ((2, 3, 4, 2), (3, 3, 2, 3), dict(dilation_rate=2, padding="same",
                                      data_format="channels_first")),
    ((1, 2, 3, 2, 2), (2, 2, 2, 2, 2), dict(strides=2)),
])
def test_conv_transpose_op(xs, ws, kwargs):
    check_op(lambda x, w: ops.conv_transpose(x, w, **kwargs), [xs, ws], none_axes=BATCH_ONLY,
             op="CONV_TRANSPOSE")


@pytest.mark.parametrize("xs,ws,kwargs", [
    ((2, 5, 5, 3), (3, 3, 3, 1), dict()),
    ((2, 6, 5, 3), (3, 2, 3, 2), dict(strides=2, padding="same")),
    ((2, 7, 4), (3, 4, 3), dict(dilation_rate=2)),
])
def test_depthwise_conv_op(xs, ws, kwargs):
    check_op(lambda x, w: ops.depthwise_conv(x, w, **kwargs), [xs, ws], none_axes=BATCH_ONLY,
             op="CONV")


def test_separable_conv_op():
    check_op(lambda x, d, p: ops.separable_conv(x, d, p, padding="same"),
             [(2, 5, 4, 3), (3, 3, 3, 2), (1, 1, 6, 4)], none_axes=[(0,), (), ()], op="CONV")


def test_second_order_conv_ops():
    """CONV_BACKWARD_FILTER and CONV_TRANSPOSE with a shape input have gradients too."""
    attrs = dict(strides=(2, 1), dilations=(1, 1), groups=1, padding="same")
    check_op(lambda x, dy: SymbolicTensor(Node("CONV_BACKWARD_FILTER", (x.node, dy.node),
                                               dict(attrs, kernel=(3, 2)))),
             [(2, 5, 4, 3), (2, 3, 4, 2)], none_axes=[(0,), (0,)],
             op="CONV_BACKWARD_FILTER")
    like = np.zeros((2, 5, 4, 3))
    check_op(lambda dy, w, x: SymbolicTensor(Node("CONV_TRANSPOSE", (dy.node, w.node, x.node),
                                                  attrs)),
             [(2, 3, 4, 2), (3, 2, 3, 2), like.shape], none_axes=[(0,), (), (0,)],
             op="CONV_TRANSPOSE")


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("xs,kwargs", [
    ((2, 7, 3), dict(pool_size=2)),
    ((2, 6, 2), dict(pool_size=3, strides=1, padding="same")),
    ((2, 5, 7, 3), dict(pool_size=(3, 2), strides=(2, 1), padding="same")),
    ((2, 7, 8, 2), dict(pool_size=2, strides=3)),                              # stride > window
    ((2, 3, 4, 2), dict(pool_size=(3, 4))),                                    # window == input
    ((3, 1, 1, 2), dict(pool_size=2, padding="same")),                         # 1x1 input
    ((1, 4, 5, 4, 2), dict(pool_size=(2, 3, 2), strides=(1, 2, 2), padding="same")),
    ((2, 3, 5, 4), dict(pool_size=2, data_format="channels_first")),
])
def test_pool_op(mode, xs, kwargs):
    fn = ops.max_pool if mode == "max" else ops.average_pool
    # inputs spaced apart so that no max is tied (finite differences stay smooth)
    domain = (lambda rng, s: rng.permutation(np.prod(s)).reshape(s) * 0.1 - 1.0) \
        if mode == "max" else (-2.0, 2.0)
    check_op(lambda x: fn(x, **kwargs), [xs], op="POOL", domain=domain, fd_eps=1e-4)


def test_max_pool_grad_goes_to_first_maximum():
    x = np.zeros((1, 2, 2, 1), np.float32)   # every tap ties
    inp = gn.Input(batch_shape=(None, 2, 2, 1))
    y = ops.max_pool(inp, 2)
    g = gn.gradients(ops.sum(y), [inp])[0]
    for backend in ("c", "reference"):
        out = gn.function([inp], g, backend=backend)(x)
        np.testing.assert_array_equal(out[0, :, :, 0], [[1, 0], [0, 0]])


def test_avg_pool_grad_second_order():
    check_op(lambda x, dy: SymbolicTensor(Node("POOL_GRAD", (x.node, dy.node), dict(
        mode="avg", window=(2, 2), strides=(1, 1), padding="same"))),
        [(2, 3, 4, 2), (2, 3, 4, 2)], op="POOL_GRAD", none_axes=[(0,), (0,)])


def _pool_grad(x, dy, **attrs):
    return SymbolicTensor(Node("POOL_GRAD", (x.node, dy.node), attrs))


def _distinct(rng, shape):
    """Inputs free of ties: a permutation, so every window has one maximum."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1


@pytest.mark.parametrize("xs,dys,attrs", [
    ((2, 3, 4, 2), (2, 3, 4, 2), dict(window=(2, 2), strides=(1, 1), padding="same")),
    ((2, 7, 8, 2), (2, 2, 3, 2), dict(window=(2, 2), strides=(3, 3), padding="valid")),
    ((2, 5, 7, 3), (2, 3, 7, 3), dict(window=(3, 2), strides=(2, 1), padding="same")),
    ((2, 7, 3), (2, 3, 3), dict(window=(2,), strides=(2,), padding="valid")),
    ((2, 5, 3), (2, 3, 3), dict(window=(3,), strides=(2,), padding=((1, 2),))),
    ((1, 4, 5, 4, 2), (1, 4, 3, 2, 2), dict(window=(2, 3, 2), strides=(1, 2, 2),
                                            padding="same")),
])
def test_max_pool_grad_second_order(xs, dys, attrs):
    """d/d(dy) is the gather at each window's maximum; d/dx is zero (no ties here)."""
    result = check_op(lambda x, dy: _pool_grad(x, dy, mode="max", **attrs), [xs, dys],
                      op="POOL_GRAD", none_axes=[(0,), (0,)], domain=[_distinct, (-2.0, 2.0)])
    assert result["grads"][0] is None


@pytest.mark.parametrize("padding", ["valid", "same", ((1, 1), (0, 2))])
def test_max_pool_grad_second_order_is_the_adjoint_with_ties(padding):
    """<POOL_GRAD(x, dy), g> == <dy, d/d(dy)>: the gather reads g where POOL_GRAD wrote
    dy, at the first maximum of each window when taps tie (small integers tie often)."""
    rng = np.random.default_rng(3)
    attrs = dict(mode="max", window=(2, 3), strides=(1, 2), padding=padding)
    x_in = gn.Input(batch_shape=(None, 5, 6, 2))
    out_shape = ops.max_pool(x_in, (2, 3), strides=(1, 2), padding=padding).shape \
        if isinstance(padding, str) else (None, 6, 3, 2)
    dy_in = gn.Input(batch_shape=out_shape)
    g_in = gn.Input(batch_shape=(None, 5, 6, 2))
    dx = _pool_grad(x_in, dy_in, **attrs)
    gather = gn.gradients(ops.sum(dx * g_in), [dy_in])[0]
    x = rng.integers(0, 3, (3, 5, 6, 2)).astype(np.float32)
    dy = rng.standard_normal((3,) + out_shape[1:]).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    for backend in ("c", "reference"):
        dx_v, gather_v = gn.function([x_in, dy_in, g_in], [dx, gather], backend=backend)(
            x, dy, g)
        np.testing.assert_allclose(np.sum(gather_v * dy), np.sum(dx_v * g), rtol=1e-5)


def test_max_pool_grad_second_order_takes_the_first_maximum():
    x_in = gn.Input(batch_shape=(None, 2, 2, 1))
    dy_in = gn.Input(batch_shape=(None, 1, 1, 1))
    g_in = gn.Input(batch_shape=(None, 2, 2, 1))
    dx = _pool_grad(x_in, dy_in, mode="max", window=(2, 2), strides=(1, 1), padding="valid")
    gather = gn.gradients(ops.sum(dx * g_in), [dy_in])[0]
    x = np.zeros((1, 2, 2, 1), np.float32)   # every tap ties: the first one is read
    g = np.array([5.0, 6.0, 7.0, 8.0], np.float32).reshape(1, 2, 2, 1)
    for backend in ("c", "reference"):
        out = gn.function([x_in, dy_in, g_in], gather, backend=backend)(
            x, np.ones((1, 1, 1, 1), np.float32), g)
        np.testing.assert_array_equal(out.reshape(-1), [5.0])


def test_max_pool_grad_second_order_same_padding_needs_known_sizes():
    x_in = gn.Input(batch_shape=(None, None, 4, 2))
    dy_in = gn.Input(batch_shape=(None, None, 2, 2))
    dx = _pool_grad(x_in, dy_in, mode="max", window=(2, 2), strides=(2, 2), padding="same")
    with pytest.raises(OpError, match=r"padding='same' needs known spatial sizes.*"
                                      r"\(None, None, 4, 2\)"):
        gn.gradients(ops.sum(dx), [dy_in])


@pytest.mark.parametrize("xs,pads", [
    ((2, 5, 3), ((0, 0), (1, 2), (3, 0))),
    ((1, 1, 1, 1), ((0, 0), (2, 0), (0, 3), (0, 0))),
    ((2, 3), 1),
])
def test_pad_op(xs, pads):
    check_op(lambda x: ops.pad(x, pads, constant_values=0.5), [xs], op="PAD")


def test_global_pooling_and_upsampling_compose():
    """Layers built from existing ops: reductions and one broadcast copy."""
    check_op(lambda x: gn.layers.GlobalMaxPooling2D()(x), [(2, 3, 4, 2)],
             domain=lambda rng, s: rng.permutation(np.prod(s)).reshape(s) * 0.1)
    check_op(lambda x: gn.layers.UpSampling2D((2, 3))(x), [(2, 3, 2, 2)], op="BROADCAST_TO")
    check_op(lambda x: gn.layers.UpSampling2D(2, interpolation="bilinear")(x), [(2, 3, 2, 2)])


@pytest.mark.parametrize("xs,axis", [((4, 3), -1), ((3, 4, 5, 2), -1), ((3, 2, 4, 5), 1)])
def test_batch_normalization_composite(xs, axis):
    c = xs[axis]

    def fn(x, gamma, beta):
        axes = [a for a in range(x.ndim) if a != axis % x.ndim]
        mean, variance = ops.moments(x, axes)
        return ops.batch_normalization(x, mean, variance, axis, beta, gamma, 1e-3)
    result = check_op(fn, [xs, (c,), (c,)], none_axes=[(0,), (), ()])
    assert result["forward"].shape == xs


@pytest.mark.parametrize("rms", [False, True])
def test_layer_normalization_composite(rms):
    check_op(lambda x, g, b: ops.layer_normalization(x, g, b, axis=-1, rms_scaling=rms),
             [(3, 2, 5), (5,), (5,)], none_axes=[(0,), (), ()])


# ---- shape errors ------------------------------------------------------------------------------

def _node(op, shapes, attrs):
    from graphnet.engine.input_layer import placeholder
    return Node(op, [placeholder(s).node for s in shapes], attrs)


CONV = dict(strides=(1, 1), dilations=(1, 1), groups=1, padding="valid")


@pytest.mark.parametrize("op,shapes,attrs,words", [
    ("CONV", [(None, 4, 4, 3), (5, 5, 3, 2)], CONV, ["larger", "(None, 4, 4, 3)",
                                                    "(5, 5, 3, 2)"]),
    ("CONV", [(None, 4, 3), (3, 3, 3, 2)], CONV, ["rank", "(None, 4, 3)", "(3, 3, 3, 2)"]),
    ("CONV", [(None, 4, 4, 4), (3, 3, 3, 2)], CONV, ["4 channels", "(None, 4, 4, 4)",
                                                    "(3, 3, 3, 2)"]),
    ("CONV", [(None, 4, 4, 4), (3, 3, 2, 3)], dict(CONV, groups=2), ["groups=2"]),
    ("CONV", [(None, 4, 4, 3), (3, 3, 3, 2)], dict(CONV, strides=(0, 1)), ["strides"]),
    ("CONV", [(None, 4, 4, 3), (3, 3, 3, 2)], dict(CONV, padding="full"), ["padding"]),
    ("CONV_TRANSPOSE", [(None, 2, 2, 3), (3, 3, 2, 3)],
     dict(CONV, padding=((3, 3), (0, 0))), ["negative output size", "(None, 2, 2, 3)"]),
    ("CONV_TRANSPOSE", [(None, 2, 2, 4), (3, 3, 2, 3)], CONV, ["4 channels"]),
    ("POOL", [(None, 2, 2, 1)], dict(mode="max", window=(3, 3), strides=(1, 1),
                                     padding="valid"), ["window", "(None, 2, 2, 1)"]),
    ("POOL", [(None, 5, 1)], dict(mode="min", window=(2,), strides=(2,), padding="valid"),
     ["mode"]),
    ("PAD", [(None, 3)], dict(pads=((0, 0), (-1, 0)), value=0.0), ["non-negative"]),
])
def test_op_shape_errors(op, shapes, attrs, words):
    with pytest.raises(OpError) as info:
        _node(op, shapes, attrs)
    for word in words:
        assert word in str(info.value), str(info.value)
