"""Test setup: import graphnet from this checkout; Keras (for conformance tests) on torch;
the optional extras' ``needs`` mark and summary (tests/extras.py)."""
import os
import sys

import numpy as np
import pytest

import extras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "torch")
MNIST_DIR = os.path.join(os.path.dirname(ROOT), "shared", "data", "mnist")


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(*extras): skipped unless these optional modules "
                                       "import (tests/extras.py)")


@pytest.hookimpl(tryfirst=True)    # before pytest's skip marks are read
def pytest_runtest_setup(item):
    extras.mark_skipped_unless_installed(item)


def pytest_terminal_summary(terminalreporter):
    extras.report_left_out(terminalreporter)


@pytest.fixture(autouse=True)
def _fresh_names():
    """Each test starts with fresh automatic layer names and a seeded generator."""
    import graphnet as gn
    gn.backend.clear_session(free_memory=False)   # a gc per test costs 0.2 s with torch loaded
    gn.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield


@pytest.fixture
def threads2():
    """The C kernels on two threads for the test, whatever the machine's default."""
    from graphnet._gn_c import lib
    old = lib.gn_get_num_threads()
    lib.gn_set_num_threads(2)
    yield
    lib.gn_set_num_threads(old)


def _supported_isas():
    """The SIMD paths of the C kernels this CPU runs (the others are not collected: a
    test of the NEON path is no test on x86, and skipping it would hide real skips)."""
    from graphnet._gn_c import ffi, lib
    old = ffi.string(lib.gn_isa_name()).decode()
    found = [name for name in ("ref", "avx2", "avx512", "neon") if lib.gn_set_isa(name.encode())]
    lib.gn_set_isa(old.encode())
    return found


@pytest.fixture(params=_supported_isas())
def isa(request):
    """Each SIMD path of the C kernels this CPU has, in turn."""
    from graphnet._gn_c import ffi, lib
    old = ffi.string(lib.gn_isa_name()).decode()
    assert lib.gn_set_isa(request.param.encode())
    yield request.param
    lib.gn_set_isa(old.encode())


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"{n}threads")
def threads(request):
    """The C kernels on one, two and three threads in turn (a file may narrow the set)."""
    from graphnet._gn_c import lib
    before = lib.gn_get_num_threads()
    lib.gn_set_num_threads(request.param)
    yield request.param
    lib.gn_set_num_threads(before)
