"""gn_sgemm against a float64 NumPy reference.

Odd sizes (1, primes, one past the register and cache tiles), every transpose pair,
leading dimensions larger than needed, alpha/beta in {0, 1, other}, NaN in C with
beta == 0, each SIMD path the CPU has, one and two threads. Calls graphnet._gn_c
directly; speed is measured in bench/bench_gemm.py, not here.
"""
import numpy as np
import pytest

from graphnet._gn_c import ffi, lib


# (m, n, k): each of the unpacked, wide (1-2 rows, 65-256 columns), dot-product, packed
# and depth-split paths,
# across register tiles (4/6/12 rows, 16/32 columns) and cache blocks (KC 256/512,
# MC 128/144/240)
SHAPES = [
    (1, 1, 1), (1, 7, 3), (3, 5, 2), (5, 17, 13), (13, 33, 17), (7, 1, 31),
    (1, 513, 785), (2, 300, 20), (17, 31, 385), (33, 97, 29),
    (1, 65, 40), (1, 128, 300), (1, 241, 9), (2, 100, 33),  # one or two whole wide rows
    (97, 257, 129), (128, 10, 512), (257, 33, 385), (200, 1, 50),
    (37, 29, 1500), (130, 3, 2100),  # depth split over threads (k >= 8 x m, n)
    (337, 65, 530), (97, 600, 400), (145, 131, 257),
]
ALPHA_BETA = [(1.0, 0.0), (1.0, 1.0), (-0.75, 1.0), (0.0, 0.5), (1.5, -2.0)]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    old = lib.gn_get_num_threads()
    lib.gn_set_num_threads(request.param)
    yield request.param
    lib.gn_set_num_threads(old)


def fptr(arr):
    return ffi.cast("float *", arr.ctypes.data)


def padded(rng, rows, cols, pad, fill=np.nan):
    """A rows x cols float32 matrix inside a (rows, cols + pad) buffer whose padding
    holds `fill`: returns (buffer, view, leading dimension)."""
    buf = np.full((rows, cols + pad), fill, dtype=np.float32)
    buf[:, :cols] = rng.standard_normal((rows, cols), dtype=np.float32)
    return buf, buf[:, :cols], cols + pad


def gemm(ta, tb, m, n, k, alpha, beta, pad=0, c_fill=None, seed=0):
    """Run gn_sgemm; returns (C result, float64 reference, error scale)."""
    rng = np.random.default_rng(seed)
    abuf, a, lda = padded(rng, k if ta else m, m if ta else k, pad)
    bbuf, b, ldb = padded(rng, n if tb else k, k if tb else n, pad)
    cbuf, c, ldc = padded(rng, m, n, pad, fill=12345.0)
    if c_fill is not None:
        c[:] = c_fill
    c0 = c.astype(np.float64)
    opa = (a.T if ta else a).astype(np.float64)
    opb = (b.T if tb else b).astype(np.float64)
    lib.gn_sgemm(ta, tb, m, n, k, alpha, fptr(abuf), lda, fptr(bbuf), ldb, beta, fptr(cbuf), ldc)
    assert np.all(cbuf[:, n:] == 12345.0), "wrote past n columns"
    ref = alpha * (opa @ opb) + (beta * c0 if beta != 0.0 else 0.0)
    scale = abs(alpha) * (np.abs(opa) @ np.abs(opb)) + (abs(beta) * np.abs(c0) if beta else 0.0)
    return c.copy(), ref, scale


def check(got, ref, scale, k):
    """float32 rounding: about 1e-4 relative for k ~ 1000, scaled by k."""
    tol = 1e-7 * (k + 4) * scale + 1e-30
    assert not np.isnan(got).any()
    bad = np.abs(got.astype(np.float64) - ref) > tol
    assert not bad.any(), "max error %g at %s" % (
        np.max(np.abs(got - ref)), np.argwhere(bad)[0])


@pytest.mark.parametrize("m,n,k", SHAPES, ids=["%dx%dx%d" % s for s in SHAPES])
@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)], ids=["nn", "tn", "nt", "tt"])
def test_sgemm_matches_numpy(isa, threads, m, n, k, ta, tb):
    alpha, beta = ALPHA_BETA[(m + n + k + 2 * ta + tb) % len(ALPHA_BETA)]
    got, ref, scale = gemm(ta, tb, m, n, k, alpha, beta, pad=(m + ta + tb) % 3 * 2)
    check(got, ref, scale, k)


@pytest.mark.parametrize("alpha,beta", ALPHA_BETA)
def test_alpha_beta(isa, threads, alpha, beta):
    got, ref, scale = gemm(0, 0, 61, 45, 70, alpha, beta, pad=3)
    check(got, ref, scale, 70)


@pytest.mark.parametrize("m,n,k", [(1, 40, 7), (13, 33, 17), (100, 70, 300), (1, 600, 30),
                                   (40, 20, 64)])
@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)], ids=["nn", "tn", "nt", "tt"])
def test_beta_zero_ignores_nan_in_c(isa, threads, m, n, k, ta, tb):
    got, ref, scale = gemm(ta, tb, m, n, k, 1.0, 0.0, pad=1, c_fill=np.nan)
    check(got, ref, scale, k)
    got, _, _ = gemm(ta, tb, m, n, k, 0.0, 0.0, c_fill=np.nan)
    assert np.all(got == 0.0)


def test_empty_dimensions(isa):
    c = np.full((7, 5), 3.0, dtype=np.float32)
    a = np.ones((7, 1), dtype=np.float32)
    lib.gn_sgemm(0, 0, 7, 5, 0, 1.0, fptr(a), 1, fptr(a), 5, 2.0, fptr(c), 5)
    assert np.all(c == 6.0), "k == 0 scales C by beta"
    c[:] = np.nan
    lib.gn_sgemm(0, 0, 7, 5, 0, 1.0, fptr(a), 1, fptr(a), 5, 0.0, fptr(c), 5)
    assert np.all(c == 0.0), "k == 0 with beta == 0 zeroes C"
    c[:] = 1.0
    lib.gn_sgemm(0, 0, 0, 5, 3, 1.0, fptr(a), 3, fptr(a), 5, 0.0, fptr(c), 5)
    lib.gn_sgemm(0, 0, 7, 0, 3, 1.0, fptr(a), 3, fptr(a), 5, 0.0, fptr(c), 5)
    assert np.all(c == 1.0), "m or n == 0 touches nothing"


def test_fast_path_agrees_with_c_reference(isa):
    rng = np.random.default_rng(3)
    for m, n, k in [(37, 70, 300), (300, 41, 129)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((n, k), dtype=np.float32)
        c1 = rng.standard_normal((m, n), dtype=np.float32)
        c2 = c1.copy()
        lib.gn_sgemm(0, 1, m, n, k, 0.5, fptr(a), k, fptr(b), k, 2.0, fptr(c1), n)
        lib.gn_sgemm_ref(0, 1, m, n, k, 0.5, fptr(a), k, fptr(b), k, 2.0, fptr(c2), n)
        np.testing.assert_allclose(c1, c2, rtol=1e-4, atol=1e-4 * np.sqrt(k))


#: a small C over a long depth, few rows (a dense layer at batch 1 or 16), and products
#: whose depth split packs less than any grid of blocks (a dense layer at batch 128): all
#: split k
DEPTH_SPLIT = [(45, 38, 3001), (1, 513, 785), (16, 300, 200), (128, 512, 784),
               (200, 300, 1000)]


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 1)], ids=["nn", "tt"])
@pytest.mark.parametrize("m,n,k", DEPTH_SPLIT, ids=["%dx%dx%d" % s for s in DEPTH_SPLIT])
def test_depth_split_sums_every_slice_before_the_epilogue(threads, ta, tb, m, n, k):
    """These products split k over the threads; bias + relu must see the whole sum (a
    relu of a partial would differ), with the caller's leading dimension."""
    rng = np.random.default_rng(7)
    ldc = n + 3
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    c = np.full((m, ldc), 7.0, dtype=np.float32)
    lib.gn_gemm_bias_act(ta, tb, m, n, k, fptr(a), a.shape[1], fptr(b), b.shape[1],
                         fptr(bias), ffi.NULL, 0, lib.GN_U_RELU, 0.0, 0.0, fptr(c), ldc, ffi.NULL)
    opa = (a.T if ta else a).astype(np.float64)
    opb = (b.T if tb else b).astype(np.float64)
    want = np.maximum(opa @ opb + bias, 0.0)
    np.testing.assert_allclose(c[:, :n], want, rtol=1e-4, atol=1e-3)
    assert np.all(c[:, n:] == 7.0), "wrote past n columns"


#: few rows over more of B than an L2 holds: each thread sweeps its depth in chunks,
#: in the opposite order on alternate calls
SWEEPS = [(1, 128, 9216), (3, 70, 6000), (16, 40, 9000)]


@pytest.mark.parametrize("threads", [1, 2, 3], indirect=True)
@pytest.mark.parametrize("ta", [0, 1], ids=["n", "t"])
@pytest.mark.parametrize("m,n,k", SWEEPS, ids=["%dx%dx%d" % s for s in SWEEPS])
def test_chunked_sweeps_agree_whatever_their_direction(threads, ta, m, n, k):
    """Calls alternate the chunk order; the partials are summed in one order, so every
    call gives the same bits, and alpha and beta apply once."""
    rng = np.random.default_rng(11)
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c0 = rng.standard_normal((m, n), dtype=np.float32)
    c = np.empty_like(c0)
    ref = 1.5 * ((a.T if ta else a).astype(np.float64) @ b) - 2.0 * c0
    scale = 1.5 * (np.abs(a.T if ta else a).astype(np.float64) @ np.abs(b)) + 2.0 * np.abs(c0)
    results = []
    for _ in range(4):  # the same B each call, so the order alternates
        np.copyto(c, c0)
        lib.gn_sgemm(ta, 0, m, n, k, 1.5, fptr(a), a.shape[1], fptr(b), n, -2.0, fptr(c), n)
        check(c, ref, scale, k)
        results.append(c.copy())
    assert all(np.array_equal(results[0], r) for r in results[1:])


#: products that pack B, on a grid of blocks of C, or splitting a long depth (the last
#: two: thread slices then follow the prepacked blocks, so the bits may differ)
PREPACKED = [(45, 300, 800), (128, 512, 784), (97, 600, 1030), (128, 128, 9216),
             (45, 100, 3001)]


def prepack(tb, m, n, k, b):
    size = lib.gn_sgemm_prepack_size(0, tb, m, n, k)
    assert size > 0
    packed = np.full(size, np.nan, dtype=np.float32)
    lib.gn_sgemm_prepack(tb, k, n, fptr(b), b.shape[1], fptr(packed))
    return packed


@pytest.mark.parametrize("threads", [1, 2, 3], indirect=True)
@pytest.mark.parametrize("tb", [0, 1], ids=["n", "t"])
@pytest.mark.parametrize("m,n,k", PREPACKED, ids=["%dx%dx%d" % s for s in PREPACKED])
def test_prepacked_b_gives_the_product(isa, threads, tb, m, n, k):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    packed = prepack(tb, m, n, k, b)
    got, plain = (np.full((m, n), np.nan, dtype=np.float32) for _ in range(2))
    for c, bp in ((got, fptr(packed)), (plain, ffi.NULL)):
        lib.gn_gemm_bias_act(0, tb, m, n, k, fptr(a), k, fptr(b), b.shape[1], fptr(bias),
                             ffi.NULL, 0, lib.GN_U_RELU, 0.0, 0.0, fptr(c), n, bp)
    want = np.maximum(a.astype(np.float64) @ (b.T if tb else b) + bias, 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3)
    if k < 1024 or threads == 1:  # the same blocks as packing B in the call
        assert np.array_equal(got, plain)


def test_prepacked_b_is_ignored_when_it_does_not_match_the_product(isa):
    """Packed for another shape or transpose, or garbage: the product packs B itself."""
    rng = np.random.default_rng(6)
    m, n, k = 64, 400, 800  # n - 32 columns still pack on AMD (k * n over GN_SUP_MAX_KN)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    want = a.astype(np.float64) @ b
    others = [prepack(0, m, n, k - 1, b), prepack(1, m, n, k, np.ascontiguousarray(b.T)),
              prepack(0, m, n - 32, k, b[:, :n - 32].copy()),
              rng.standard_normal(lib.gn_sgemm_prepack_size(0, 0, m, n, k), dtype=np.float32)]
    for packed in others:
        c = np.full((m, n), np.nan, dtype=np.float32)
        lib.gn_gemm_bias_act(0, 0, m, n, k, fptr(a), k, fptr(b), n, ffi.NULL, ffi.NULL, 0,
                             lib.GN_U_COPY, 0.0, 0.0, fptr(c), n, fptr(packed))
        np.testing.assert_allclose(c, want, rtol=1e-4, atol=1e-3)


def test_prepack_size_is_zero_where_b_is_never_packed():
    assert lib.gn_sgemm_prepack_size(0, 0, 1, 512, 784) == 0       # few rows: unpacked
    assert lib.gn_sgemm_prepack_size(0, 0, 0, 512, 784) == 0       # empty
    assert lib.gn_sgemm_prepack_size(0, 0, 128, 512, 784) >= 512 * 784


def test_prepacked_b_from_another_isa_is_ignored():
    old = ffi.string(lib.gn_isa_name()).decode()
    others = [name for name in ("ref", "avx2", "avx512", "neon")
              if name != old and lib.gn_set_isa(name.encode())]
    lib.gn_set_isa(old.encode())
    if not others:
        pytest.skip("one ISA only")
    rng = np.random.default_rng(8)
    m, n, k = 64, 400, 800  # n - 32 columns still pack on AMD (k * n over GN_SUP_MAX_KN)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    try:
        for name in others:
            lib.gn_set_isa(name.encode())
            packed = prepack(0, m, n, k, b)
            lib.gn_set_isa(old.encode())
            c = np.full((m, n), np.nan, dtype=np.float32)
            lib.gn_gemm_bias_act(0, 0, m, n, k, fptr(a), k, fptr(b), n, ffi.NULL, ffi.NULL, 0,
                                 lib.GN_U_COPY, 0.0, 0.0, fptr(c), n, fptr(packed))
            np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
    finally:
        lib.gn_set_isa(old.encode())
