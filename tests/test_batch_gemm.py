"""gn_sgemm_batch (GN_K_BATCH_GEMM) against a float64 NumPy reference.

Batches of odd products (1, primes, one past a register tile), broadcast batch axes
(stride 0), every transpose pair, alpha/beta, one to three threads, and the products
dispatched over the batch on the pool repeated to catch races between threads taking
products. Calls graphnet._gn_c directly; speed is bench/bench_batch_gemm.py's.
"""
import numpy as np
import pytest

import graphnet as gn
from graphnet._gn_c import ffi, lib


def _ints(values):
    return ffi.new("int64_t[]", [int(v) for v in values] or [0])


def _strides(shape, batch):
    """Element strides of each batch index into an operand of ``shape`` (0 broadcasts)."""
    full = np.cumprod((1,) + tuple(shape[::-1]))[::-1][1:]
    pad = len(batch) - (len(shape) - 2)
    return [0 if i < pad or shape[i - pad] == 1 and d != 1 else int(full[i - pad])
            for i, d in enumerate(batch)]


def batch_gemm(batch, a_batch, b_batch, m, n, k, ta=0, tb=0, alpha=1.0, beta=0.0, seed=0):
    """Run gn_sgemm_batch on random operands; returns (C, float64 reference)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(a_batch + ((k, m) if ta else (m, k)), dtype=np.float32)
    b = rng.standard_normal(b_batch + ((n, k) if tb else (k, n)), dtype=np.float32)
    c = rng.standard_normal(tuple(batch) + (m, n), dtype=np.float32)
    ref = alpha * np.matmul(np.swapaxes(a, -1, -2) if ta else a,
                            np.swapaxes(b, -1, -2) if tb else b).astype(np.float64)
    ref = ref + beta * c.astype(np.float64)
    nb = int(np.prod(batch, dtype=np.int64))
    lib.gn_sgemm_batch(ta, tb, m, n, k, alpha, ffi.cast("float *", a.ctypes.data),
                       a.shape[-1], ffi.cast("float *", b.ctypes.data), b.shape[-1], beta,
                       ffi.cast("float *", c.ctypes.data), n, nb, len(batch), _ints(batch),
                       _ints(_strides(a.shape, batch)), _ints(_strides(b.shape, batch)),
                       _ints(_strides(c.shape, batch)))
    return c, ref


# (batch, A's batch, B's batch, m, n, k): many small products (over the batch on the
# pool), few large ones (each threaded on its own), broadcast axes, primes, one past a tile
CASES = [
    ((1,), (1,), (1,), 1, 1, 1),
    ((3,), (3,), (3,), 5, 7, 3),
    ((7, 5), (7, 5), (7, 5), 13, 17, 33),
    ((32, 4), (32, 4), (32, 4), 33, 33, 32),
    ((4, 3), (4, 1), (3,), 13, 29, 7),
    ((6,), (), (6,), 17, 65, 13),
    ((5,), (5,), (1,), 97, 31, 129),
    ((2,), (2,), (2,), 257, 129, 97),
    ((3,), (3,), (3,), 145, 257, 67),
]


@pytest.mark.parametrize("batch, a_batch, b_batch, m, n, k", CASES)
@pytest.mark.parametrize("ta, tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_batch_gemm_matches_reference(threads, batch, a_batch, b_batch, m, n, k, ta, tb):
    c, ref = batch_gemm(batch, a_batch, b_batch, m, n, k, ta, tb)
    np.testing.assert_allclose(c, ref, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (-0.5, 2.0), (0.0, 0.5)])
def test_batch_gemm_alpha_beta(threads, alpha, beta):
    c, ref = batch_gemm((9, 2), (9, 2), (2,), 11, 19, 23, alpha=alpha, beta=beta)
    np.testing.assert_allclose(c, ref, rtol=1e-4, atol=1e-3)


def test_batch_gemm_empty_batch_writes_nothing(threads):
    c = np.full((2, 3), 7.0, dtype=np.float32)
    z = ffi.cast("float *", 0)
    lib.gn_sgemm_batch(0, 0, 2, 3, 4, 1.0, z, 4, z, 3, 0.0, ffi.cast("float *", c.ctypes.data),
                       3, 0, 1, _ints([0]), _ints([8]), _ints([12]), _ints([6]))
    assert (c == 7.0).all()


def test_batch_gemm_over_the_batch_repeated_has_no_race(threads2):
    """Two threads taking products of one batch: every product written once, each time."""
    for seed in range(40):
        c, ref = batch_gemm((32, 4), (32, 4), (32, 4), 31, 37, 32, tb=seed % 2, seed=seed)
        np.testing.assert_allclose(c, ref, rtol=1e-4, atol=1e-3)


def test_attention_shaped_matmul_compiles_to_one_batch_gemm(threads):
    """(batch, heads, q, d) @ (batch, heads, d, k) in a model: the compiled plan is right."""
    rng = np.random.default_rng(3)
    q = gn.Input((4, 37, 8))
    k = gn.Input((4, 8, 41))
    model = gn.Model([q, k], gn.ops.matmul(q, k))
    xq = rng.standard_normal((5, 4, 37, 8), dtype=np.float32)
    xk = rng.standard_normal((5, 4, 8, 41), dtype=np.float32)
    np.testing.assert_allclose(model.predict([xq, xk], verbose=0), np.matmul(xq, xk),
                               rtol=1e-5, atol=1e-5)
