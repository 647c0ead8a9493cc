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
    marker = "static const float want1[4] GN_ALIGNED = {\n    "
    assert marker in text
    open(path, "w").write(text.replace(marker, marker + "1.5f + "))
    result = _make(out, "test")
    assert result.returncode != 0 and "two_heads: FAIL" in result.stdout


def test_c_values_are_exact():
    from graphnet.export.c_export import c_values
    values = np.array([0.1, -2.5e-30, 3.4e38, 0.0, -0.0, np.inf, -np.inf, np.nan], "f4")
    text = c_values(values)
    assert "INFINITY" in text and "NAN" in text and "0x1.99999ap-4f" in text
    assert c_values(np.array([-(1 << 63), 5], "int64")).split() == ["(-INT64_MAX", "-", "1),",
                                                                   "5"]
