"""Every kernel is correct when the pool gives it fewer threads than it planned for.

A kernel plans its split for gn_get_num_threads() threads, but while another application
thread's kernel holds the team, its task runs on the calling thread alone (nt = 1). With the
pool held (gn_pool_hold) every task runs that way: the results must match the reference,
and under AddressSanitizer (make sanitize) nothing may be touched outside its buffers. A
depth-split GEMM once sized its sweep partials for its planned slice and overflowed them
when it ran the whole depth alone.
"""
import numpy as np
import pytest

import graphnet as gn
from graphnet._gn_c import ffi, lib

#: each GEMM path: unpacked, wide rows, dot products, packed grid, depth split with and
#: without chunked sweeps (16 x 400 x 800 sweeps in chunks only when one thread takes all k)
GEMMS = [(5, 17, 13), (1, 513, 785), (2, 300, 20), (97, 257, 129), (128, 10, 512),
         (37, 29, 1500), (130, 3, 2100), (16, 400, 800), (1, 128, 9216), (3, 70, 6000),
         (128, 512, 784), (97, 600, 1030), (128, 128, 9216)]


@pytest.fixture
def held():
    before = lib.gn_get_num_threads()
    lib.gn_set_num_threads(2)
    lib.gn_pool_hold(1)
    yield
    lib.gn_pool_hold(0)
    lib.gn_set_num_threads(before)


def fptr(arr):
    return ffi.cast("float *", arr.ctypes.data)


@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1)], ids=["nn", "tn", "nt"])
@pytest.mark.parametrize("m,n,k", GEMMS, ids=["%dx%dx%d" % s for s in GEMMS])
def test_gemm_with_the_pool_held(held, m, n, k, ta, tb):
    rng = np.random.default_rng(m * 7 + n)
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    c = np.full((m, n + 3), 7.0, dtype=np.float32)   # the 3 columns past n stay untouched
    lib.gn_sgemm(ta, tb, m, n, k, 1.0, fptr(a), a.shape[1], fptr(b), b.shape[1], 0.0,
                 fptr(c), n + 3)
    want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b)
    scale = np.abs(a.T if ta else a).astype(np.float64) @ np.abs(b.T if tb else b)
    assert np.all(np.abs(c[:, :n] - want) <= 1e-5 * k * scale + 1e-6)
    assert np.all(c[:, n:] == 7.0)


def cnn():
    """Convolutions of each kind (3x3, strided 5x5, pointwise, depthwise), pooling,
    normalization and dense layers, so the training step runs every kernel family."""
    model = gn.Sequential([
        gn.Input(shape=(14, 14, 3)),
        gn.layers.Conv2D(8, 3, activation="relu", padding="same"),
        gn.layers.Conv2D(6, 5, strides=2),
        gn.layers.DepthwiseConv2D(3, padding="same"),
        gn.layers.Conv2D(12, 1, activation="relu"),
        gn.layers.BatchNormalization(),
        gn.layers.MaxPooling2D(2),
        gn.layers.Flatten(),
        gn.layers.Dense(32, activation="tanh"),
        gn.layers.Dropout(0.25),
        gn.layers.Dense(5, activation="softmax"),
    ])
    model.compile(optimizer=gn.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    return model


def test_training_and_predict_with_the_pool_held(held):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((33, 14, 14, 3), dtype=np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 33)]
    gn.utils.set_random_seed(5)
    model = cnn()
    np.testing.assert_allclose(model.predict_on_batch(x),
                               model.predict_on_batch(x, backend="reference"),
                               rtol=1e-4, atol=1e-5)
    losses = [model.train_on_batch(x, y) for _ in range(3)]
    lib.gn_pool_hold(0)                         # the same steps with the whole team
    gn.utils.set_random_seed(5)
    twin = cnn()                                # the same weights and dropout seeds
    twin_losses = [twin.train_on_batch(x, y) for _ in range(3)]
    lib.gn_pool_hold(1)
    np.testing.assert_allclose(losses, twin_losses, rtol=1e-4)
    for mine, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-5)
