"""Trained LSTM and GRU models (a mask from Embedding(mask_zero=True), go_backwards)
through each export: the .gnx file (saved, loaded back, run), ONNX (in onnxruntime) and
the standalone C source (built with cc and make, its self-test run, its shared library
called on new inputs), every one against the model's own predictions."""
import ctypes
import os
import shutil
import subprocess

import numpy as np
import pytest

import graphnet as gn
from extras import needs, onnx
from extras import onnxruntime as ort
from graphnet import layers as L

VOCAB, STEPS = 12, 7
RNG = np.random.default_rng(23)


def _tokens(n, rng=RNG):
    """(n, STEPS) int32 token ids, each sequence padded with zeros (pre or post) to a
    random length from 1 to STEPS."""
    x = rng.integers(1, VOCAB, size=(n, STEPS)).astype("int32")
    for row, length in zip(x, rng.integers(1, STEPS + 1, size=n)):
        if rng.random() < 0.5:
            row[length:] = 0
        else:
            row[:STEPS - length] = 0
    return x


def _trained(kind):
    """A small classifier, trained three epochs on a task with an answer (is the first
    token of the sequence above the middle of the vocabulary)."""
    tokens = gn.Input((STEPS,), dtype="int32", name="tokens")
    h = L.Embedding(VOCAB, 6, mask_zero=True)(tokens)
    if kind == "lstm":
        h = L.LSTM(5, go_backwards=True)(h)
    else:
        h = L.GRU(5, go_backwards=True, return_sequences=True)(h)
        h = L.GRU(4, reset_after=False)(h)
    model = gn.Model(tokens, L.Dense(2, activation="softmax", name="probs")(h),
                     name=f"{kind}_classifier")
    model.compile(optimizer=gn.optimizers.Adam(learning_rate=0.02),
                  loss="sparse_categorical_crossentropy")
    x = _tokens(96)
    first = x[np.arange(len(x)), (x != 0).argmax(axis=1)]
    y = (first > VOCAB // 2).astype("int32")
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
    return model


@pytest.fixture(scope="module", params=["lstm", "gru"])
def trained(request):
    return _trained(request.param)


def test_gnx_round_trip(trained, tmp_path):
    path = str(tmp_path / "model.gnx")
    trained.export(path)
    loaded = gn.load_compiled(path)
    for n in (1, 5, 16):
        x = _tokens(n)
        np.testing.assert_allclose(loaded(x), trained.predict(x, verbose=0), atol=1e-6,
                                   rtol=0)


@needs(onnx, ort)
def test_onnx_in_onnxruntime(trained, tmp_path):
    path = str(tmp_path / "model.onnx")
    trained.export(path, format="onnx")
    proto = onnx.load(path)
    assert "Scan" in {n.op_type for n in proto.graph.node}
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for n in (1, 3, 16):
        x = _tokens(n)
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, trained.predict(x, verbose=0), atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("make") is None,
                    reason="needs cc and make")
def test_standalone_c(trained, tmp_path):
    out = str(tmp_path / "c")
    name = trained.name
    gn.export.to_c(trained, out, max_batch_size=32, test_inputs=[_tokens(8)])
    env = dict(os.environ, CFLAGS="-O1")
    result = subprocess.run(["make", "-j2", "all", "test"], cwd=out, capture_output=True,
                            text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"{name}: PASS" in result.stdout

    lib = ctypes.CDLL(os.path.join(out, f"lib{name}.so"))
    run = getattr(lib, f"{name}_run")
    for n in (1, 7, 32):
        x = _tokens(n)
        probs = np.zeros((n, 2), "f4")
        ins = (ctypes.c_void_p * 1)(x.ctypes.data)
        outs = (ctypes.c_void_p * 1)(probs.ctypes.data)
        assert run(ctypes.c_int64(n), ins, outs) == 0
        np.testing.assert_allclose(probs, trained.predict(x, verbose=0), atol=1e-5, rtol=1e-5)
