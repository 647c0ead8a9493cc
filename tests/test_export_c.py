"""Standalone C export: generate, build with plain cc + make (no Python), run the generated
self-test, and call the built shared library on new inputs."""
import ctypes
import os
import shutil
import subprocess

import numpy as np
import pytest

import graphnet as gn
from graphnet import layers as L

pytestmark = pytest.mark.skipif(shutil.which("cc") is None or shutil.which("make") is None,
                                reason="needs cc and make")


def _model():
    """Two inputs (an image through convolutions when graphnet has them, and a vector),
    two outputs: most kernels in one build."""
    img, vec = gn.Input((6, 6, 2), name="img"), gn.Input((5,), name="vec")
    if hasattr(L, "Conv2D"):
        x = L.Conv2D(3, 3, padding="same", activation="relu")(img)
        x = L.Flatten()(L.MaxPooling2D(2)(x))
    else:
        x = L.Flatten()(img)
    v = L.Activation("relu")(L.Add()([L.Dense(5)(vec), vec]))   # a GEMM with a residual
    h = L.Concatenate()([x, L.Dense(4, activation="tanh")(v)])
    return gn.Model([img, vec], [L.Dense(3, activation="softmax", name="probs")(h),
                                 L.Dense(2, name="value")(h)], name="two-heads")


def _make(directory, *targets):
    env = dict(os.environ, CFLAGS="-O1")   # -O1: a quick build for the test
    return subprocess.run(["make", "-j2", *targets], cwd=directory, capture_output=True,
                          text=True, timeout=300, env=env)


def test_c_export_builds_and_passes_its_self_test(tmp_path):
    model = _model()
    out = str(tmp_path / "c")
    source = gn.export.to_c(model, out, batch_size=2)
    assert source.endswith("two_heads.c")
    files = set(os.listdir(out))
    assert {"two_heads.c", "two_heads.h", "two_heads_test.c", "Makefile", "graphnet"} <= files
    header = open(os.path.join(out, "two_heads.h")).read()
    assert "int two_heads_run(const float *const *inputs, float *const *outputs);" in header
    assert "#define TWO_HEADS_INPUT0_SIZE 144" in header
    result = _make(out, "all", "test")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "two_heads: PASS" in result.stdout
    assert "1 thread(s)" in result.stdout

    # the shared library on new inputs, as a C caller would use it
    lib = ctypes.CDLL(os.path.join(out, "libtwo_heads.so"))
    xi = np.random.randn(2, 6, 6, 2).astype("f4")
    xv = np.random.randn(2, 5).astype("f4")
    probs, value = np.zeros((2, 3), "f4"), np.zeros((2, 2), "f4")
    fp = ctypes.POINTER(ctypes.c_float)
    ins = (fp * 2)(*[a.ctypes.data_as(fp) for a in (xi, xv)])
    outs = (fp * 2)(*[a.ctypes.data_as(fp) for a in (probs, value)])
    assert lib.two_heads_run(ins, outs) == 0
    want = model.predict([xi, xv])
    np.testing.assert_allclose(probs, want[0], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(value, want[1], atol=1e-5, rtol=1e-5)
    lib.two_heads_arena_bytes.restype = ctypes.c_size_t
    assert lib.two_heads_arena_bytes() > 0
    lib.two_heads_input_name.restype = ctypes.c_char_p
    assert lib.two_heads_input_name(1) == b"vec" and lib.two_heads_input_name(2) is None

    # the self-test fails when the results are wrong (only the test program rebuilds)
    path = os.path.join(out, "two_heads_test.c")
    text = open(path).read()
    marker = "static const float want0_1[4] GN_ALIGNED = {\n    "
    assert marker in text
    open(path, "w").write(text.replace(marker, marker + "1.5f + "))
    result = _make(out, "test")
    assert result.returncode != 0 and "two_heads: FAIL" in result.stdout


def _run(lib, n, inputs, outputs, arena=None):
    fp = ctypes.POINTER(ctypes.c_float)
    ins = (fp * len(inputs))(*[a.ctypes.data_as(fp) for a in inputs])
    outs = (fp * len(outputs))(*[a.ctypes.data_as(fp) for a in outputs])
    if arena is None:
        return lib.two_heads_run(ctypes.c_int64(n), ins, outs)
    return lib.two_heads_run_with_arena(ctypes.c_int64(n), ins, outs,
                                        arena.ctypes.data_as(ctypes.c_void_p))


def test_c_export_takes_the_batch_size_at_run_time(tmp_path):
    model = _model()
    out = str(tmp_path / "c")
    gn.export.to_c(model, out, max_batch_size=300)
    header = open(os.path.join(out, "two_heads.h")).read()
    assert "int two_heads_run(int64_t n, const float *const *inputs, float *const *outputs);" \
        in header
    assert "#define TWO_HEADS_INPUT0_SIZE(n) ((int64_t)(n) * 72)" in header
    assert "#define TWO_HEADS_MAX_BATCH 300" in header
    result = _make(out, "all", "test")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for n in (1, 2, 3, 8):
        assert f"two_heads: batch {n}: 1 thread(s): max abs error" in result.stdout
    assert "two_heads: PASS" in result.stdout

    lib = ctypes.CDLL(os.path.join(out, "libtwo_heads.so"))
    lib.two_heads_arena_bytes.restype = ctypes.c_size_t
    lib.two_heads_arena_bytes.argtypes = [ctypes.c_int64]
    rng = np.random.default_rng(0)
    for n in (1, 5, 64, 300):
        xi = rng.standard_normal((n, 6, 6, 2)).astype("f4")
        xv = rng.standard_normal((n, 5)).astype("f4")
        probs, value = np.zeros((n, 3), "f4"), np.zeros((n, 2), "f4")
        assert _run(lib, n, [xi, xv], [probs, value]) == 0
        want = model.predict([xi, xv])
        np.testing.assert_allclose(probs, want[0], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(value, want[1], atol=1e-5, rtol=1e-5)
        arena = np.zeros(lib.two_heads_arena_bytes(n) + 64, np.uint8)
        again = np.zeros((n, 3), "f4")
        assert _run(lib, n, [xi, xv], [again, value], arena[-arena.ctypes.data % 64:]) == 0
        np.testing.assert_array_equal(again, probs)
    sizes = [lib.two_heads_arena_bytes(n) for n in (2, 3, 4)]
    assert sizes[1] - sizes[0] == sizes[2] - sizes[1] > 0      # a + b*n
    x = [np.zeros((301, 6, 6, 2), "f4"), np.zeros((301, 5), "f4")]
    y = [np.zeros((301, 3), "f4"), np.zeros((301, 2), "f4")]
    for bad in (0, -1, 301):
        assert lib.two_heads_arena_bytes(bad) == 0
        assert _run(lib, bad, x, y) == 1                         # TWO_HEADS_BAD_BATCH
    assert not y[0].any()


def test_c_export_checks_its_batch_arguments(tmp_path):
    with pytest.raises(ValueError, match="max_batch_size must be an integer >= 1, got 0"):
        gn.export.to_c(_model(), str(tmp_path / "c"), max_batch_size=0)
    with pytest.raises(ValueError, match="max_batch_size=8 is for an export of any batch size"):
        gn.export.to_c(_model(), str(tmp_path / "c"), batch_size=2, max_batch_size=8)
    with pytest.raises(ValueError, match=r"test input 'img' has shape \(3, 6, 6, 2\)"):
        gn.export.to_c(_model(), str(tmp_path / "c"), max_batch_size=8,
                       test_inputs=[np.zeros((3, 6, 6, 2)), np.zeros((3, 5))])


def test_c_values_are_exact():
    from graphnet.export.c_export import c_values
    values = np.array([0.1, -2.5e-30, 3.4e38, 0.0, -0.0, np.inf, -np.inf, np.nan], "f4")
    text = c_values(values)
    assert "INFINITY" in text and "NAN" in text and "0x1.99999ap-4f" in text
    assert c_values(np.array([-(1 << 63), 5], "int64")).split() == ["(-INT64_MAX", "-", "1),",
                                                                   "5"]
