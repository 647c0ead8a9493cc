"""Compiled-model export (.gnx): model.export / gn.export.export_compiled, gn.load_compiled
in a process without the model-building code, the plan verifier, and bad files."""
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import graphnet as gn
from graphnet import layers as L
from graphnet.export import PlanError, load_compiled, verify_plan
from graphnet.export.compiled import read_compiled
from graphnet.export.verify import unverified_kernels
from graphnet.saving import FileFormatError
from gnx_files import edit_array, edit_manifest, rewrite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _mlp():
    inp = gn.Input((6,), name="x")
    h = L.Dense(16, activation="relu")(inp)
    return gn.Model(inp, L.Dense(3, activation="softmax")(h), name="mlp")


def _multi():
    a, b = gn.Input((4,), name="a"), gn.Input((3,), name="b")
    h = L.Concatenate()([L.Dense(5, activation="tanh")(a), b])
    return gn.Model([a, b], [L.Dense(2, name="p")(h), L.Dense(1, activation="sigmoid",
                                                              name="q")(h)])


def _cnn():
    if not hasattr(L, "Conv2D"):
        pytest.skip("no convolution layers yet")
    return gn.Sequential([gn.Input((8, 8, 2), name="img"),
                          L.Conv2D(4, 3, padding="same", activation="relu"),
                          L.MaxPooling2D(2), L.Conv2D(3, 2, strides=2), L.Flatten(),
                          L.Dense(5, activation="softmax")], name="cnn")


# -- round trips ----------------------------------------------------------------------------
def test_export_runs_in_a_process_without_the_model_building_code(tmp_path):
    model = _mlp()
    x = np.random.randn(4, 6).astype("f4")
    path = str(tmp_path / "mlp.gnx")
    model.export(path, batch_size=4)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "want.npy", model.predict(x))
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {ROOT!r})
        import numpy as np
        import graphnet as gn
        m = gn.load_compiled({path!r})
        got = m(np.load({str(tmp_path / 'x.npy')!r}))
        np.testing.assert_allclose(got, np.load({str(tmp_path / 'want.npy')!r}), atol=1e-6,
                                   rtol=0)
        bad = [k for k in sys.modules if k.startswith(("graphnet.engine", "graphnet.layers"))]
        assert not bad, bad
        print("ok", m.batch_size, m.output_names)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok 4")


def test_multi_input_multi_output_and_predict_in_batches(tmp_path):
    model = _multi()
    path = str(tmp_path / "multi.gnx")
    gn.export.export_model(model, path, batch_size=3)
    cm = gn.load_compiled(path)
    assert cm.input_names == ["a", "b"] and cm.output_names == ["p", "q"]
    xa, xb = np.random.randn(3, 4).astype("f4"), np.random.randn(3, 3).astype("f4")
    for want, got in zip(model.predict([xa, xb]), cm(xa, xb)):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    for want, got in zip(model.predict({"a": xa, "b": xb}), cm({"a": xa, "b": xb})):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    ya, yb = np.random.randn(8, 4), np.random.randn(8, 3)   # 8 = 3 + 3 + 2 (padded)
    for want, got in zip(model.predict([ya, yb]), cm.predict([ya, yb])):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"input 'a' expects shape \(3, 4\)"):
        cm(np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="expects dtype float32"):
        cm(np.zeros((3, 4), "U1"), xb)
    with pytest.raises(ValueError, match="expects 2 input"):
        cm(xa)
    assert "2 weights" not in cm.summary() and "input  a" in cm.summary()


def test_export_compiled_from_tensors(tmp_path):
    x = gn.Input((5,), name="x")
    y = gn.ops.softmax(gn.ops.tanh(x) * 2.0)
    path = str(tmp_path / "fn.gnx")
    gn.export.export_compiled(x, y, path, shapes=[(2, 5)])
    data = np.random.randn(2, 5).astype("f4")
    want = gn.function(x, y)(data)
    np.testing.assert_allclose(gn.load_compiled(path)(data), want, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="cannot compile it for"):
        gn.export.export_compiled(x, y, path, shapes=[(2, 6)])


def test_cnn_export(tmp_path):
    model = _cnn()
    path = str(tmp_path / "cnn.gnx")
    model.export(path, batch_size=2)
    x = np.random.randn(2, 8, 8, 2).astype("f4")
    np.testing.assert_allclose(gn.load_compiled(path)(x), model.predict(x), atol=1e-6, rtol=0)


def test_every_kernel_has_a_verified_argument_layout():
    assert unverified_kernels() == []


def test_compiled_plans_verify():
    for model, shapes in [(_mlp(), [(3, 6)]), (_multi(), [(2, 4), (2, 3)])]:
        plan = model.predict_function().executable(shapes).plan
        verify_plan(plan, plan.kernels)
    x = gn.Input((4, 5), name="x")
    ops = gn.ops
    outs = [ops.sum(ops.transpose(x, (0, 2, 1))[:, ::-2, 1:], axis=1),
            ops.argmax(x, axis=-1), ops.max(x, axis=(0, 2)),
            ops.cast(ops.where(ops.greater(x, 0.0), x, ops.exp(x)), "int32"),
            ops.concatenate([x, ops.broadcast_to(ops.mean(x, axis=1, keepdims=True),
                                                 (None, 1, 5))], axis=1),
            ops.matmul(x, ops.transpose(x, (0, 2, 1))), ops.log_softmax(x, axis=1)]
    fn = gn.function(x, outs)
    data = np.random.randn(3, 4, 5).astype("f4")
    got = fn(data)
    ref = gn.function(x, outs, backend="reference")(data)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, atol=1e-5, rtol=1e-5)
    plan = fn.executable([(3, 4, 5)]).plan
    assert verify_plan(plan, plan.kernels)


# -- bad files ----------------------------------------------------------------------------------
@pytest.fixture
def exported(tmp_path):
    path = str(tmp_path / "mlp.gnx")
    _mlp().export(path, batch_size=2)
    return path


def test_truncated_and_wrong_files(exported, tmp_path):
    data = open(exported, "rb").read()
    (tmp_path / "cut.gnx").write_bytes(data[:len(data) // 2])
    with pytest.raises(FileFormatError, match="not a valid zip"):
        load_compiled(str(tmp_path / "cut.gnx"))
    model_file = str(tmp_path / "m.graphnet")
    _mlp().save(model_file)
    with pytest.raises(FileFormatError, match="missing entry 'manifest.json'"):
        load_compiled(model_file)
    bad = rewrite(exported, str(tmp_path / "fmt.gnx"),
                   edit_manifest(lambda m: m.update(format="graphnet.model")))
    with pytest.raises(FileFormatError, match="load_model"):
        load_compiled(bad)


@pytest.mark.parametrize("edit, message", [
    # a GEMM told to compute more rows than its buffers hold
    (edit_array("plan/iargs.npy", lambda a: np.where(np.arange(a.size) == 2, 4096, a)),
     r"step 0 \(GN_K_GEMM_BIAS_ACT\): A accesses bytes"),
    # a slot pointing past the end of a weight
    (edit_array("plan/slots.npy", lambda a: a + np.array([0, 0, 1 << 20])),
     r"slot \d+ starts at byte"),
    (edit_array("plan/slots.npy", lambda a: a + np.array([0, 7, 0])), "slot 0 names"),
    (edit_array("plan/steps.npy", lambda a: a * np.array([1, 1, 1, 0])),
     "int arguments"),
    (edit_array("plan/steps.npy", lambda a: a + np.array([0, 1 << 40, 0, 0])),
     "do not fit"),
    (edit_array("plan/steps.npy", lambda a: a + np.array([100, 0, 0, 0])),
     "does not match its name"),
    (edit_manifest(lambda m: m["kernels"].__setitem__(0, "GN_K_SYSTEM")), "GN_K_SYSTEM"),
    (edit_manifest(lambda m: m.update(arena_bytes=0)), "arena 0"),
    (edit_manifest(lambda m: m["inputs"][0].update(shape=[1, 6])), "input 0"),
    (edit_manifest(lambda m: m["weights"][0].update(shape=[6, 17])),
     r"shape \(6, 16\), expected \(6, 17\)"),
    (edit_manifest(lambda m: m.update(format_version=7)), "format version 7"),
    (edit_manifest(lambda m: m["abi"].update(GN_U_RELU=99)), "C API numbers differ"),
    (edit_array("plan/iargs.npy", lambda a: a[:5]), "do not fit"),
])
def test_hand_edited_plans_are_refused_not_run(exported, tmp_path, edit, message):
    bad = rewrite(exported, str(tmp_path / "bad.gnx"), edit)
    with pytest.raises(ValueError, match=message):
        load_compiled(bad)


def test_verifier_checks_enums_and_strides(exported):
    plan, _, _ = read_compiled(exported)
    steps = plan.steps.copy()
    fused = [i for i, k in enumerate(plan.kernels) if k == "GN_K_GEMM_BIAS_ACT"]
    iargs = plan.iargs.copy()
    iargs[steps[fused[0], 1] + 12] = 1000            # unknown activation code
    plan.iargs = iargs
    with pytest.raises(PlanError, match="unknown activation code 1000"):
        verify_plan(plan)


def test_zip_bomb_in_a_compiled_file(exported, tmp_path):
    bomb = str(tmp_path / "bomb.gnx")
    with zipfile.ZipFile(exported) as zin, zipfile.ZipFile(bomb, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info.filename))
        zout.writestr("consts/99999.npy", b"\0" * (20 << 20), compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(FileFormatError, match="zip bomb"):
        load_compiled(bomb)
