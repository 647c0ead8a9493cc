"""graphnet's own thread pool (csrc/threadpool.c), through the kernels that use it.

A kernel started while the team is busy (another application thread's call) runs on its
caller alone; a forked child starts its own workers; workers that sleep (spin time 0)
wake for the next task; workers spin for the whole spin time before sleeping. Each case
checks the numbers against NumPy.
"""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from graphnet._gn_c import ffi, lib


def fptr(a):
    return ffi.cast("float *", a.ctypes.data)


def sgemm(a, b):
    m, k = a.shape
    n = b.shape[1]
    c = np.empty((m, n), np.float32)
    lib.gn_sgemm(0, 0, m, n, k, 1.0, fptr(a), k, fptr(b), n, 0.0, fptr(c), n)
    return c


def test_concurrent_application_threads_get_right_results(threads2):
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((300, 200), dtype=np.float32),
              rng.standard_normal((200, 250), dtype=np.float32)) for _ in range(6)]
    want = [a.astype(np.float64) @ b for a, b in pairs]
    errors = []

    def work(i):
        for _ in range(20):
            got = sgemm(*pairs[i])
            if not np.allclose(got, want[i], rtol=1e-4, atol=1e-3):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(pairs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


CHILD = textwrap.dedent("""
    import os, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_threadpool import sgemm, lib
    lib.gn_set_num_threads(2)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((256, 300), dtype=np.float32)
    b = rng.standard_normal((300, 256), dtype=np.float32)
    want = a.astype(np.float64) @ b
    assert np.allclose(sgemm(a, b), want, rtol=1e-4, atol=1e-3)   # workers started
    pid = os.fork()
    if pid == 0:   # the child has no workers until its first parallel kernel
        ok = all(np.allclose(sgemm(a, b), want, rtol=1e-4, atol=1e-3) for _ in range(5))
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert np.allclose(sgemm(a, b), want, rtol=1e-4, atol=1e-3)
    print("ok")
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("spin_us", ["0", "100"])
def test_fork_child_and_sleeping_workers(spin_us):
    env = dict(os.environ, GRAPHNET_SPIN_US=spin_us)
    code = CHILD.format(tests=os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


SPIN_CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_threadpool import sgemm, lib
    lib.gn_set_num_threads(2)
    a = np.ones((64, 64), np.float32)   # 64^3: a two-thread product
    sgemm(a, a)                         # workers started
    before = lib.gn_pool_sleeps()
    for _ in range(100):
        sgemm(a, a)
        end = time.perf_counter() + 300e-6   # a 300 us gap between tasks
        while time.perf_counter() < end:
            pass
    print(lib.gn_pool_sleeps() - before)
""")


@pytest.mark.parametrize("spin_us,asleep", [("5000000", False), ("0", True)])
def test_workers_spin_for_the_whole_spin_time(spin_us, asleep):
    """Workers keep spinning GRAPHNET_SPIN_US after a task before they sleep (a regression:
    they once slept after 64 pauses, so every task after a gap of a few microseconds paid
    a futex wake-up). With 5 s no worker sleeps across 300 us gaps; with 0 each gap does."""
    env = dict(os.environ, GRAPHNET_SPIN_US=spin_us)
    code = SPIN_CHILD.format(tests=os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    sleeps = int(out.stdout.strip())
    assert (sleeps >= 50) if asleep else (sleeps == 0), sleeps


@pytest.fixture
def avx2_or_ref():
    """The im2col convolution path (AVX-512 takes the direct kernel instead)."""
    old = ffi.string(lib.gn_isa_name()).decode()
    lib.gn_set_isa(b"avx2") or lib.gn_set_isa(b"ref")
    yield
    lib.gn_set_isa(old.encode())


def test_nested_kernels_inside_a_task_match_serial(threads2, avx2_or_ref):
    """The im2col convolution's team runs GEMMs inside its task (nested calls run alone),
    with a barrier before summing the filter-gradient partials: the results equal the
    one-thread run and the NumPy reference."""
    import graphnet as gn
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 20, 20, 8), dtype=np.float32)
    w = rng.standard_normal((5, 5, 8, 24), dtype=np.float32)
    xi, wi = gn.Input(batch_shape=x.shape), gn.Input(batch_shape=w.shape)
    y = gn.ops.conv(xi, wi, dilation_rate=2)
    outs = [y] + gn.gradients(gn.ops.sum(y * y), [xi, wi])
    two = gn.function([xi, wi], outs)(x, w)
    lib.gn_set_num_threads(1)
    one = gn.function([xi, wi], outs)(x, w)
    ref = gn.function([xi, wi], outs, backend="reference")(x, w)
    for a, b, r in zip(two, one, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-2 * np.abs(r).max())
