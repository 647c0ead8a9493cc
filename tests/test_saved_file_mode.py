"""Saved and exported files get the permissions open() gives (0666 less the umask, or
those of the file they replace), and are still written atomically."""
import os
import stat

import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, onnx
from graphnet.saving.archive import ArchiveWriter

UMASKS = [0o022, 0o077, 0o002]


@pytest.fixture(params=UMASKS, ids=[f"umask{u:03o}" for u in UMASKS])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _model():
    model = gn.Sequential([gn.Input((4,)), gn.layers.Dense(3, activation="relu")])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _writers(model):
    return {"model.graphnet": lambda p: model.save(p),
            "model.weights.npz": lambda p: model.save_weights(p),
            "model.gnx": lambda p: model.export(p, batch_size=2)}


def test_saved_files_get_0666_less_the_umask(tmp_path, umask):
    model = _model()
    for name, write in _writers(model).items():
        write(str(tmp_path / name))
        assert _mode(tmp_path / name) == 0o666 & ~umask, name
    assert sorted(os.listdir(tmp_path)) == sorted(_writers(model))  # no temp left


def test_onnx_and_c_exports_get_0666_less_the_umask(tmp_path, umask):
    model = _model()
    gn.export.to_c(model, str(tmp_path / "c"), batch_size=1)
    written = [os.path.join(d, f) for d, _, files in os.walk(tmp_path / "c") for f in files]
    assert written and {_mode(p) for p in written} == {0o666 & ~umask}
    if compare_with(onnx, "the ONNX file's mode"):
        gn.export.to_onnx(model, str(tmp_path / "m.onnx"))
        assert _mode(tmp_path / "m.onnx") == 0o666 & ~umask


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "model.graphnet"
    model = _model()
    model.save(str(path))
    os.chmod(path, 0o640)
    model.layers[0].kernel.assign(np.ones((4, 3), "float32"))
    model.save(str(path))
    assert _mode(path) == 0o640
    np.testing.assert_array_equal(gn.models.load_model(str(path)).get_weights()[0], 1.0)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.graphnet"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="interrupted"):
        with ArchiveWriter(str(path)) as zf:
            zf.json("config.json", {"x": 1})
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.graphnet"]
