"""The compiled C extension (cffi API mode) and runtime settings around it."""
try:
    from .._gn_c import ffi, lib
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "graphnet's C extension is not built: run `make install` (or "
        "`python setup.py build_ext --inplace`) in the source tree") from exc


def set_num_threads(n):
    """Threads the kernels use (default: GRAPHNET_NUM_THREADS, else every core)."""
    if int(n) < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    lib.gn_set_num_threads(int(n))


def get_num_threads():
    return lib.gn_get_num_threads()


def set_flush_denormals(on):
    """Whether compiled plans flush subnormal floats (below 1.2e-38) to zero: True (the
    default, as TensorFlow does on CPU) spares the ~100x slower subnormal arithmetic that
    decaying optimizer slots run into; False keeps IEEE gradual underflow. Only plan runs
    are affected: the calling thread's mode is restored when a run returns."""
    if not isinstance(on, (bool, int)):
        raise TypeError(f"set_flush_denormals: expected a bool, got {type(on).__name__}")
    lib.gn_set_flush_denormals(int(bool(on)))


def get_flush_denormals():
    return bool(lib.gn_get_flush_denormals())


def isa():
    """The SIMD path the kernels run on: 'avx512', 'avx2', 'neon' or 'ref'."""
    return ffi.string(lib.gn_isa_name()).decode()
