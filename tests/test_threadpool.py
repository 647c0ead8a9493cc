"""graphnet's own thread pool (csrc/threadpool.c), directly and through the kernels.

Any thread may run any part of a task (the caller takes the parts no worker has started):
every part runs once (tests/c/test_threadpool.c, also under ThreadSanitizer), products
after idle spells and back to back give the answers of the team awake, several Python
threads at once get the one-thread answers. A kernel started while the team is busy
runs on its caller alone; a forked child starts its own workers; workers that sleep
(spin time 0) wake for the next task; workers spin for the whole spin time before
sleeping. Each case checks the numbers against NumPy or a one-thread run.
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


def wrong_answers_from_threads(fn, args, want, rounds, rtol, atol):
    """Call fn(*args[i]) `rounds` times on thread i, all threads at once; the indices i
    of the calls whose answer was not close to want[i]."""
    errors = []

    def work(i):
        for _ in range(rounds):
            if not np.allclose(fn(*args[i]), want[i], rtol=rtol, atol=atol):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_application_threads_get_right_results(threads2):
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((300, 200), dtype=np.float32),
              rng.standard_normal((200, 250), dtype=np.float32)) for _ in range(6)]
    want = [a.astype(np.float64) @ b for a, b in pairs]
    assert wrong_answers_from_threads(sgemm, pairs, want, 20, 1e-4, 1e-3) == []


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
    a futex wake-up). With 5 s no worker sleeps across 300 us gaps; with 0 workers sleep
    after their tasks (not necessarily at every gap: the caller does not wait for a
    sleeping worker, so one the OS wakes late misses a task and sleeps once for both)."""
    env = dict(os.environ, GRAPHNET_SPIN_US=spin_us)
    code = SPIN_CHILD.format(tests=os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    sleeps = int(out.stdout.strip())
    assert (sleeps >= 5) if asleep else (sleeps == 0), sleeps


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


# -- the pool's parts under the new rules: any thread may run any part -------------------
C_TEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c", "test_threadpool.c")
CSRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "csrc")


@pytest.mark.parametrize("sanitizer", [None, "thread"])
def test_every_part_runs_once_whoever_runs_it(tmp_path, sanitizer):
    """tests/c/test_threadpool.c through gn_parallel itself: 400,000 tiny tasks back to
    back (the caller takes the parts no worker has started), tasks after idle spells that
    put the workers to sleep, four application threads at once, barriers, nested tasks;
    under ThreadSanitizer too, which must report no race."""
    import shutil
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "test_threadpool"
    flags = ["-O2"] if sanitizer is None else ["-O1", "-g", f"-fsanitize={sanitizer}"]
    sources = [C_TEST] + [os.path.join(CSRC, f) for f in ("threadpool.c", "runtime.c",
                                                          "fpmode.c")]
    build = subprocess.run([cc, *flags, "-std=c99", "-pthread", "-I", CSRC, "-o", str(exe),
                            *sources, "-lm"], capture_output=True, text=True)
    if sanitizer and build.returncode != 0:
        pytest.skip(f"{sanitizer} sanitizer unavailable: {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 exitcode=66")
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "all checks passed" in out.stdout
    assert "ThreadSanitizer" not in out.stderr


def sgemm_threads(a, b, threads):
    old = lib.gn_get_num_threads()
    lib.gn_set_num_threads(threads)
    try:
        return sgemm(a, b)
    finally:
        lib.gn_set_num_threads(old)


#: products that take a team on two threads: a grid of blocks of C, or depth slices
#: summed in a fixed order (equal run to run whichever thread ran a slice, close to the
#: one-thread product)
TEAM_SHAPES = [(128, 10, 512), (64, 64, 64), (200, 300, 100), (1, 784, 512), (3, 512, 784),
               (16, 100, 4096)]


def test_products_after_long_idle_spells_equal_those_with_the_team_awake(threads2):
    """Each round waits long enough for the workers to sleep (100 us spin), so its first
    product wakes them: every product equals, bit for bit, the same product run back to
    back with the team awake, and is close to the one-thread product."""
    import time
    rng = np.random.default_rng(3)
    pairs = [(rng.standard_normal((m, k), dtype=np.float32),
              rng.standard_normal((k, n), dtype=np.float32)) for m, n, k in TEAM_SHAPES]
    one = [sgemm_threads(a, b, 1) for a, b in pairs]
    awake = [sgemm(a, b) for a, b in pairs]
    for got, want in zip(awake, one):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    sleeps = lib.gn_pool_sleeps()
    for _ in range(8):
        time.sleep(0.05)
        for (a, b), want in zip(pairs, awake):
            np.testing.assert_array_equal(sgemm(a, b), want)
    assert lib.gn_pool_sleeps() > sleeps  # the workers did sleep between rounds


def test_many_small_products_in_a_row_give_one_answer(threads2):
    """Thousands of small products that take a team, back to back (the caller takes
    over whatever part its worker has not started, a different split of the work between
    threads call by call): each equals the first, and the first the one-thread product
    but for rounding."""
    rng = np.random.default_rng(4)
    for m, n, k in [(64, 64, 64), (128, 10, 512), (1, 784, 512)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        first = sgemm(a, b)
        np.testing.assert_allclose(first, sgemm_threads(a, b, 1), rtol=1e-4, atol=1e-4)
        mismatches = sum(not np.array_equal(sgemm(a, b), first) for _ in range(1500))
        assert mismatches == 0, (m, n, k)


def test_several_python_threads_predict_like_one_thread(threads2):
    """Four Python threads predict at batch 1 and 32 at once (one holds the team, the
    others run alone, and which one changes call by call): every answer equals the
    answer of a one-thread process."""
    import graphnet as gn
    model = gn.Sequential([gn.Input(shape=(784,)), gn.layers.Dense(512, activation="relu"),
                           gn.layers.Dense(512, activation="relu"),
                           gn.layers.Dense(10, activation="softmax")])
    rng = np.random.default_rng(5)
    inputs = [rng.random((batch, 784), dtype=np.float32) for batch in (1, 32, 1, 32)]
    lib.gn_set_num_threads(1)
    want = [model.predict_on_batch(x) for x in inputs]
    lib.gn_set_num_threads(2)
    args = [(x,) for x in inputs]
    assert wrong_answers_from_threads(model.predict_on_batch, args, want, 150, 1e-5,
                                      1e-6) == []
