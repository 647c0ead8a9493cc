"""Plan runs flush subnormal floats to zero by default (csrc/fpmode.c), on every thread
of the pool, and leave the caller's floating-point mode as it was."""
import numpy as np
import pytest

import graphnet as gn

TINY = np.float32(1e-20)        # its square, 1e-40, is subnormal
SUBNORMAL = np.float32(1e-40)


@pytest.fixture
def flush_mode():
    """Restores the default mode (on) after a test that changes it."""
    before = gn.get_flush_denormals()
    yield
    gn.set_flush_denormals(before)


def _product(n):
    """A compiled x * y over n values, the kernels' work split over the pool past 16384."""
    x, y = gn.Input(shape=(n,)), gn.Input(shape=(n,))
    fn = gn.function([x, y], [gn.ops.multiply(x, y)])
    return lambda a, b: fn(a, b)[0]


@pytest.mark.parametrize("n", [8, 100_000])
def test_default_flushes_results_and_inputs(n, threads, flush_mode):
    assert gn.get_flush_denormals() is True
    fn = _product(n)
    tiny = np.full((1, n), TINY, np.float32)
    assert np.all(fn(tiny, tiny) == 0.0)                              # result flushed
    sub = np.full((1, n), SUBNORMAL, np.float32)
    assert np.all(fn(sub, np.full((1, n), 1e10, np.float32)) == 0.0)  # input read as 0


@pytest.mark.parametrize("n", [8, 100_000])
def test_off_keeps_gradual_underflow(n, threads, flush_mode):
    gn.set_flush_denormals(False)
    assert gn.get_flush_denormals() is False
    fn = _product(n)
    tiny = np.full((1, n), TINY, np.float32)
    got = fn(tiny, tiny)
    np.testing.assert_array_equal(got, tiny * tiny)
    assert np.all(got > 0.0)
    sub = np.full((1, n), SUBNORMAL, np.float32)
    big = np.full((1, n), 1e10, np.float32)
    np.testing.assert_array_equal(fn(sub, big), sub * big)


def test_callers_mode_restored_after_a_run(flush_mode):
    fn = _product(100_000)
    tiny = np.full((1, 100_000), TINY, np.float32)
    fn(tiny, tiny)
    assert TINY * TINY > 0.0            # numpy on this thread still underflows gradually
    assert np.multiply(tiny, tiny).min() > 0.0


def test_bad_mode_is_rejected(flush_mode):
    with pytest.raises(TypeError, match="set_flush_denormals: expected a bool, got str"):
        gn.set_flush_denormals("yes")
    assert gn.get_flush_denormals() is True
