"""Compiled plans cannot corrupt memory: each hole a reviewer found, as a crafted kernel call,
plan or file that is refused with a clear error, and the caller's arrays unchanged."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from graphnet.export import verify_plan
from graphnet.export.compiled import LoadedPlan
from graphnet.runtime.cext import ffi, lib
from graphnet.runtime.executor import Executable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- pooling kernels check their geometry ------------------------------------------------------
def _floats(array):
    return ffi.cast("float *", ffi.from_buffer(array))


def _pool_geom(c, o, window=(1, 2, 2), size=(1, 4, 4)):
    out = [s // w for s, w in zip(size, window)]
    return [1, *size, c, *out, o, *window, *window, 1, 1, 1, 0, 0, 0, 1]


@pytest.mark.parametrize("fn", ["gn_pool_forward", "gn_pool_forward_ref"])
def test_pool_kernel_refuses_fewer_output_than_input_channels(fn):
    x = np.random.rand(1, 4, 4, 8).astype(np.float32)
    y = np.full((1, 2, 2, 8), 7.0, np.float32)
    x0 = x.copy()
    geom = ffi.new("int64_t[]", _pool_geom(8, 2))
    status = getattr(lib, fn)(lib.GN_POOL_MAX, geom, _floats(x), _floats(y))
    assert status == lib.GN_ERR_BAD_ARGS
    np.testing.assert_array_equal(x, x0)
    assert (y == 7.0).all()


def _huge_window_geom():
    geom = _pool_geom(1, 1, window=(1, 1, 1 << 40), size=(1, 1, 1))
    geom[lib.GN_CG_OUT:lib.GN_CG_OUT + 3] = [1, 1, 1]
    return geom


def test_pool_kernel_refuses_a_window_over_the_tap_limit():
    x = np.zeros((1, 1, 1, 1), np.float32)
    y = np.full((1, 1, 1, 1), 3.0, np.float32)
    dy = np.ones_like(y)
    g = ffi.new("int64_t[]", _huge_window_geom())
    px, py, pdy = (_floats(a) for a in (x, y, dy))
    assert lib.gn_pool_forward(lib.GN_POOL_MAX, g, px, py) == lib.GN_ERR_BAD_ARGS
    assert lib.gn_pool_backward(lib.GN_POOL_MAX, g, px, pdy, py) == lib.GN_ERR_BAD_ARGS
    assert lib.gn_pool_backward_ref(lib.GN_POOL_MAX, g, px, pdy, py) == lib.GN_ERR_BAD_ARGS
    assert (y == 3.0).all()


def test_pool_kernel_accepts_a_valid_geometry():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    y = np.zeros((1, 2, 2, 1), np.float32)
    g = ffi.new("int64_t[]", _pool_geom(1, 1))
    assert lib.gn_pool_forward(lib.GN_POOL_MAX, g, _floats(x), _floats(y)) == lib.GN_OK
    np.testing.assert_array_equal(y.ravel(), [5, 7, 13, 15])


# -- gn_plan_run's status names the step and why it failed ---------------------------------------
def _pool_plan(geom, x_shape, y_shape, kernel_id=None):
    """A one-step GN_K_POOL plan (input 0 -> output 0), not verified."""
    return LoadedPlan(
        steps=np.array([[lib.GN_K_POOL if kernel_id is None else kernel_id, 0, 0,
                         3 + lib.GN_CG_LEN]], dtype=np.int64),
        iargs=np.array([lib.GN_POOL_AVG, 0, 1, *geom], dtype=np.int64),
        fargs=np.zeros(0, np.float32), slots=np.array([[1, 0, 0], [2, 0, 0]], np.int64),
        consts=[], arena_bytes=0, unplanned_bytes=0,
        input_specs=[("x", x_shape, "float32")], output_specs=[(y_shape, "float32")],
        weight_specs=[], kernels=["GN_K_POOL"])


def test_a_kernel_refusing_its_arguments_raises_runtime_error_naming_the_step():
    exe = Executable(_pool_plan(_huge_window_geom(), (1, 1, 1, 1), (1, 1, 1, 1)), [])
    with pytest.raises(RuntimeError, match=r"plan step 0 \(GN_K_POOL\): its kernel refused"):
        exe.run([np.ones((1, 1, 1, 1), np.float32)])


def test_an_unknown_kernel_id_raises_runtime_error_naming_the_step():
    exe = Executable(_pool_plan(_pool_geom(1, 1), (1, 4, 4, 1), (1, 2, 2, 1), 9999), [])
    with pytest.raises(RuntimeError, match=r"plan step 0 \(GN_K_POOL\) has an unknown kernel"):
        exe.run([np.ones((1, 4, 4, 1), np.float32)])


@pytest.mark.parametrize("reason, error, words", [
    ("GN_ERR_INDEX", IndexError, "outside"), ("GN_ERR_NO_MEMORY", MemoryError, "allocate"),
    ("GN_ERR_BAD_ARGS", RuntimeError, "refused"),
    ("GN_ERR_UNKNOWN_KERNEL", RuntimeError, "unknown kernel")])
def test_each_status_reason_has_its_exception(reason, error, words):
    plan = _pool_plan(_pool_geom(1, 1), (1, 4, 4, 1), (1, 2, 2, 1))
    plan.kernels = ["GN_K_COPY", "GN_K_POOL"]
    exc = Executable(plan, []).run_error(lib.GN_ERR_COUNT * 1 + getattr(lib, reason))
    assert type(exc) is error
    assert "plan step 1 (GN_K_POOL)" in str(exc) and words in str(exc)


# -- allocation failures reach the caller ------------------------------------------------------
def test_a_failed_kernel_allocation_raises_memory_error():
    """A pooling window at the tap limit needs an 8 MB tap table; under an address-space
    limit that leaves no room for it, the run raises MemoryError and the input is intact."""
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("AddressSanitizer reserves the address space an rlimit would cut")
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path[:0] = [{ROOT!r}, {os.path.join(ROOT, "tests")!r}]
        from test_compiled_safety import pool_plan_at_the_tap_limit
        from graphnet.runtime.cext import lib
        lib.gn_set_num_threads(1)
        exe, x = pool_plan_at_the_tap_limit()
        x0 = x.copy()
        used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + (2 << 20), resource.RLIM_INFINITY))
        try:
            exe.run([x])
        except MemoryError as exc:
            print("MemoryError:", exc, "intact:", bool((x == x0).all()))
        else:
            print("no error")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert "MemoryError: plan step 0 (GN_K_POOL): a kernel could not allocate" in out.stdout, \
        out.stdout + out.stderr
    assert "intact: True" in out.stdout


def pool_plan_at_the_tap_limit():
    """(Executable, x): average pooling of x (1, 1, 1, 2^20, 1) over one window of
    GN_POOL_MAX_TAPS taps, the generic path (a tap table of 8 MB)."""
    taps = lib.GN_POOL_MAX_TAPS
    geom = [1, 1, 1, taps, 1, 1, 1, 1, 1, 1, 1, taps, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1]
    plan = _pool_plan(geom, (1, 1, taps, 1), (1, 1, 1, 1))
    verify_plan(plan, plan.kernels)
    return Executable(plan, []), np.random.rand(1, 1, taps, 1).astype(np.float32)


def test_the_tap_limit_plan_runs_when_memory_is_available():
    exe, x = pool_plan_at_the_tap_limit()
    (y,) = exe.run([x])
    np.testing.assert_allclose(y.ravel(), [x.mean(dtype=np.float64)], rtol=1e-4)


# -- gn_strided_copy over one buffer -----------------------------------------------------------
@pytest.mark.parametrize("shift", [1, -1])
def test_strided_copy_onto_an_overlapping_range_moves_the_data(shift):
    """A plan may name one buffer as a copy's source and destination: contiguous rows move
    as memmove does (memcpy over overlapping ranges is undefined)."""
    buf = np.arange(64, dtype=np.float32)
    expect = buf.copy()
    src, dst = 8, 8 + shift
    expect[dst:dst + 40] = buf[src:src + 40].copy()
    shape, strides = ffi.new("int64_t[]", [40]), ffi.new("int64_t[]", [1])
    base = ffi.cast("float *", ffi.from_buffer(buf))
    lib.gn_strided_copy(1, shape, base + src, strides, base + dst, strides, 4)
    np.testing.assert_array_equal(buf, expect)
