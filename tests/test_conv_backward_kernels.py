"""The convolution gradient, depthwise and pooling kernels against the C reference loops,
on every SIMD path and thread count: the stride-1 input gradient run as a forward
convolution of dy with the flipped filter, the direct filter gradient (AVX-512), the
vectorized depthwise loops, and the pooling loops with their 2x2 stride-2 fast path.
Odd channel counts (1, 3, 17, 33, 65), strides, pads (leading, trailing, cropping),
dilations, groups, batch 1 and more, 1-D to 3-D; workspaces full, short and absent."""
import numpy as np
import pytest

from graphnet.ops import nn
from graphnet.runtime.cext import ffi, lib


def _ptr(a, kind="float *"):
    return ffi.cast(kind, a.ctypes.data)


def _geometry(xs, ws, strides, dil, pads, groups, pool=False):
    rank = len(xs) - 2
    out = nn.conv_output_sizes("CONV", xs[1:-1], ws[:rank], strides, dil, pads, [xs, ws])
    o = xs[-1] if pool else ws[-1]
    g = np.array(nn.geometry(xs[0], xs[1:-1], xs[-1], out, o, ws[:rank], strides, dil,
                             [p[0] for p in pads], groups), dtype=np.int64)
    return g, (xs[0], *out, o)


def _conv_case(xs, ws, strides, dil, pads, groups, work, kinds=(1, 2)):
    """Each gradient kernel (kind 1: input, 2: filter) against its reference loops, with
    the workspace gn_conv_work_len asks for, or a short or no one (then slower paths)."""
    rng = np.random.default_rng(3)
    g, ys = _geometry(xs, ws, strides, dil, pads, groups)
    gp = _ptr(g, "int64_t *")
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    dy = rng.standard_normal(ys).astype(np.float32)
    cases = {0: (lib.gn_conv_forward, lib.gn_conv_forward_ref, ys, x, w),
             1: (lib.gn_conv_backward_input, lib.gn_conv_backward_input_ref, xs, dy, w),
             2: (lib.gn_conv_backward_filter, lib.gn_conv_backward_filter_ref, ws, x, dy)}
    for kind in kinds:
        fast, ref, shape, a, b = cases[kind]
        full = lib.gn_conv_work_len(kind, gp)
        length = {"full": full, "short": full // 3, "none": 0}[work]
        buf = np.full(max(length, 1), np.nan, np.float32)
        got = np.full(shape, np.nan, np.float32)
        want = np.full(shape, np.nan, np.float32)
        fast(gp, _ptr(a), _ptr(b), _ptr(got), _ptr(buf), length)
        ref(gp, _ptr(a), _ptr(b), _ptr(want))
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale,
                                   err_msg=f"kind {kind}, work {work}")


CONV_GEOMETRIES = [
    # x shape, kernel (*k, C / groups, O), strides, dilations, pads, groups
    ((2, 9, 8, 17), (3, 3, 17, 33), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),      # flip, same
    ((1, 7, 9, 16), (3, 3, 16, 5), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),       # valid, O tail
    ((2, 8, 9, 33), (3, 2, 33, 65), (1, 1), (2, 2), ((2, 1), (1, 2)), 1),      # dilation
    ((2, 6, 7, 20), (3, 3, 20, 16), (1, 1), (1, 1), ((2, -1), (-1, 2)), 1),    # crop pads
    ((3, 13, 19), (5, 19, 17), (1,), (1,), ((3, 1),), 1),                       # 1-D
    ((2, 3, 5, 6, 17), (2, 3, 3, 17, 18), (1, 1, 1), (1, 1, 1), ((1, 0), (1, 1), (1, 1)), 1),
    ((2, 9, 10, 3), (3, 3, 3, 17), (2, 2), (1, 1), ((1, 1), (1, 1)), 1),       # stride 2
    ((2, 8, 9, 6), (3, 3, 2, 9), (1, 1), (1, 1), ((1, 1), (1, 1)), 3),         # groups
    ((2, 8, 9, 1), (3, 3, 1, 32), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),        # one channel
    ((1, 11, 5, 65), (3, 3, 65, 1), (1, 2), (1, 1), ((0, 1), (2, 0)), 1),      # O == 1
    ((3, 12, 14, 32), (3, 3, 32, 64), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),    # mnist-like
]


@pytest.mark.parametrize("xs,ws,strides,dil,pads,groups", CONV_GEOMETRIES)
@pytest.mark.parametrize("work", ["full", "short", "none"])
def test_conv_gradients_match_reference(xs, ws, strides, dil, pads, groups, work, isa,
                                        threads):
    _conv_case(xs, ws, strides, dil, pads, groups, work)


def test_flipped_input_gradient_workspace_contract(isa):
    """With stride 1 on AVX-512 the plan's workspace for the input gradient holds the
    flipped filter and what the forward over dy asks for; otherwise only the col2im
    path's (which is the forward's im2col size for the same geometry)."""
    def work(kind, xs, ws, strides, pads):
        g, _ = _geometry(xs, ws, strides, (1, 1), pads, 1)
        return lib.gn_conv_work_len(kind, _ptr(g, "int64_t *"))
    same = ((1, 1), (1, 1))
    col = work(2, (2, 10, 10, 32), (3, 3, 32, 64), (1, 1), same) - 9 * 32 * 64 * (
        min(lib.gn_get_num_threads(), 2) - 1)
    flip = 9 * 32 * 64 + work(0, (2, 10, 10, 64), (3, 3, 64, 32), (1, 1), same)
    want = max(col, flip) if isa == "avx512" else col
    assert work(1, (2, 10, 10, 32), (3, 3, 32, 64), (1, 1), same) == want
    col2 = work(2, (2, 10, 10, 32), (3, 3, 32, 64), (2, 2), same) - 9 * 32 * 64 * (
        min(lib.gn_get_num_threads(), 2) - 1)
    assert work(1, (2, 10, 10, 32), (3, 3, 32, 64), (2, 2), same) == col2


DEPTHWISE_GEOMETRIES = [
    # x shape, kernel (*k, 1, C * m), strides, dilations, pads
    ((2, 9, 11, 17), (3, 3, 1, 17), (1, 1), (1, 1), ((1, 1), (1, 1))),
    ((1, 12, 13, 33), (3, 3, 1, 33), (2, 2), (1, 1), ((1, 0), (0, 1))),
    ((2, 10, 40, 65), (3, 5, 1, 65), (1, 1), (2, 1), ((2, 2), (2, 2))),   # a long run, tail
    ((2, 7, 9, 3), (3, 3, 1, 6), (1, 2), (1, 1), ((1, 1), (1, 1))),      # multiplier 2
    ((1, 8, 9, 17), (2, 3, 1, 51), (1, 1), (1, 2), ((0, 1), (2, 2))),    # multiplier 3
    ((2, 8, 9, 32), (3, 3, 1, 32), (1, 1), (1, 1), ((2, -1), (-1, 2))),  # crop pads
    ((3, 21, 64), (5, 1, 64), (1,), (1,), ((2, 2),)),                     # 1-D
    ((2, 4, 5, 6, 16), (2, 3, 3, 1, 16), (1, 2, 1), (1, 1, 2), ((1, 0), (1, 1), (2, 2))),
    ((1, 5, 5, 2), (5, 5, 1, 2), (1, 1), (1, 1), ((0, 0), (0, 0))),      # kernel == input
    ((2, 10, 23, 17), (3, 3, 1, 34), (1, 1), (1, 1), ((1, 1), (1, 1))),  # m 2, threaded
    ((3, 9, 30, 5), (3, 3, 1, 20), (2, 1), (1, 2), ((1, 1), (2, 2))),    # m 4, threaded
    ((1, 7, 5, 3), (3, 3, 1, 15), (1, 1), (1, 1), ((2, 0), (0, 2))),     # m 5
    ((2, 3, 6, 7, 9), (2, 3, 3, 1, 27), (1, 1, 1), (1, 1, 1), ((1, 0), (1, 1), (1, 1))),
]


@pytest.mark.parametrize("xs,ws,strides,dil,pads", DEPTHWISE_GEOMETRIES)
def test_depthwise_kernels_match_reference(xs, ws, strides, dil, pads, isa, threads):
    _conv_case(xs, ws, strides, dil, pads, xs[-1], "none", kinds=(0, 1, 2))


POOL_GEOMETRIES = [
    # x shape, window, strides, pads
    ((2, 8, 10, 17), (2, 2), (2, 2), ((0, 0), (0, 0))),     # 2x2 fast path, tiled
    ((3, 9, 7, 33), (2, 2), (2, 2), ((0, 0), (0, 0))),      # 2x2, odd sizes (not tiled)
    ((2, 9, 9, 4), (2, 2), (2, 2), ((0, 1), (0, 1))),       # 'same': a trailing pad
    ((2, 11, 12, 65), (3, 3), (2, 2), ((1, 1), (1, 0))),    # overlapping, padded
    ((1, 6, 6, 1), (3, 2), (1, 3), ((0, 2), (1, 0))),       # one channel
    ((2, 13, 3), (4,), (3,), ((1, 2),)),                     # 1-D
    ((2, 4, 6, 6, 17), (1, 2, 2), (1, 2, 2), ((0, 0), (0, 0), (0, 0))),   # 3-D, fast path
    ((1, 5, 6, 7, 5), (2, 3, 2), (2, 2, 1), ((1, 0), (1, 1), (0, 1))),    # 3-D
]


@pytest.mark.parametrize("xs,window,strides,pads", POOL_GEOMETRIES)
@pytest.mark.parametrize("mode", [0, 1], ids=["max", "avg"])
def test_pool_kernels_match_reference(xs, window, strides, pads, mode, isa, threads):
    rng = np.random.default_rng(4)
    g, ys = _geometry(xs, (*window, xs[-1], xs[-1]), strides, (1,) * len(window), pads, 1,
                      pool=True)
    gp = _ptr(g, "int64_t *")
    x = rng.standard_normal(xs).astype(np.float32)
    x.reshape(-1)[::7] = x.reshape(-1)[3]          # ties: the first maximum takes dy
    dy = rng.standard_normal(ys).astype(np.float32)
    got, want = np.full(ys, np.nan, np.float32), np.full(ys, np.nan, np.float32)
    lib.gn_pool_forward(mode, gp, _ptr(x), _ptr(got))
    lib.gn_pool_forward_ref(mode, gp, _ptr(x), _ptr(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(want, nn.pool_reference(x, ["max", "avg"][mode], window,
                                                       strides, pads), rtol=1e-5, atol=1e-6)
    got, want = np.full(xs, np.nan, np.float32), np.full(xs, np.nan, np.float32)
    lib.gn_pool_backward(mode, gp, _ptr(x), _ptr(dy), _ptr(got))
    lib.gn_pool_backward_ref(mode, gp, _ptr(x), _ptr(dy), _ptr(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("xs,window", [((1, 4, 4, 20), (2, 2)), ((1, 5, 5, 20), (3, 3))])
def test_max_pool_nan_first_in_window_propagates(xs, window, isa):
    """A NaN first in its window is the max (and takes no gradient); a later one is not."""
    g, ys = _geometry(xs, (*window, xs[-1], xs[-1]), (2, 2), (1, 1), ((0, 0), (0, 0)), 1,
                      pool=True)
    gp = _ptr(g, "int64_t *")
    x = np.zeros(xs, np.float32)
    x[0, 0, 0, :10] = np.nan                        # first tap of window (0, 0)
    x[0, 1, 1, 10:] = np.nan                        # a later tap of the same window
    dy = np.ones(ys, np.float32)
    for fn in (lib.gn_pool_forward, lib.gn_pool_forward_ref):
        y = np.empty(ys, np.float32)
        fn(0, gp, _ptr(x), _ptr(y))
        assert np.isnan(y[0, 0, 0, :10]).all() and not np.isnan(y[0, 0, 0, 10:]).any()
    got, want = np.empty(xs, np.float32), np.empty(xs, np.float32)
    lib.gn_pool_backward(0, gp, _ptr(x), _ptr(dy), _ptr(got))
    lib.gn_pool_backward_ref(0, gp, _ptr(x), _ptr(dy), _ptr(want))
    np.testing.assert_array_equal(got, want)
