"""Saving and loading: model.save / gn.models.load_model, save_weights / load_weights,
and every way a file can be bad (truncated, corrupted, hand-edited, unsafe, a zip bomb)."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

import graphnet as gn
from graphnet import layers as L
from graphnet.saving import FileFormatError, Limits
from extras import compare_with, h5py


def _mlp(name="mlp"):
    inp = gn.Input((6,), name="x")
    h = L.Dense(5, activation="relu", name="hidden")(inp)
    return gn.Model(inp, L.Dense(3, activation="softmax", name="out")(h), name=name)


def _multi():
    a, b = gn.Input((4,), name="a"), gn.Input((3,), name="b")
    h = L.Concatenate()([L.Dense(5, activation="tanh")(a), b])
    return gn.Model([a, b], [L.Dense(2, name="p")(h), L.Dense(1, activation="sigmoid",
                                                              name="q")(h)])


def _rewrite(src, dst, replace=None, drop=(), add=None, compress=None):
    """Copy zip ``src`` to ``dst`` with entries replaced, dropped or added."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = replace.get(info.filename, zin.read(info.filename))
            if callable(data):
                data = data(zin.read(info.filename))
            zout.writestr(info.filename, data,
                          compress_type=compress or info.compress_type)
        for name, data in add.items():
            zout.writestr(name, data, compress_type=compress or zipfile.ZIP_STORED)
    return dst


def _edit_json(key):
    def fn(edit):
        def apply(data):
            obj = json.loads(data)
            edit(obj)
            return json.dumps(obj)
        return {"replace": {key: apply}}
    return fn


edit_config = _edit_json("config.json")
edit_metadata = _edit_json("metadata.json")


@pytest.fixture
def saved(tmp_path):
    model = _mlp()
    path = str(tmp_path / "mlp.graphnet")
    model.save(path)
    return model, path


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".graphnet", ".keras"])
def test_functional_round_trip(tmp_path, ext):
    model = _multi()
    path = str(tmp_path / f"m{ext}")
    if ext == ".keras" and not compare_with(h5py, "a .keras round trip (h5py)"):
        with pytest.raises(ImportError, match=r"graphnet\[h5\]"):
            model.save(path)
        return
    model.save(path)
    loaded = gn.models.load_model(path)
    xa, xb = np.random.randn(7, 4).astype("f4"), np.random.randn(7, 3).astype("f4")
    for want, got in zip(model.predict([xa, xb]), loaded.predict([xa, xb])):
        np.testing.assert_array_equal(want, got)
    assert loaded.to_json() == model.to_json()
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]
    names = zipfile.ZipFile(path).namelist()
    assert {"metadata.json", "config.json"} <= set(names)
    metadata = json.loads(zipfile.ZipFile(path).read("metadata.json"))
    if ext == ".keras":   # Keras 3's format, which Keras opens (tests/test_keras_files.py)
        assert set(names) == {"metadata.json", "config.json", "model.weights.h5"}
        assert metadata["keras_version"].startswith("3.")
    else:
        assert metadata["format_version"] == 1


def test_sequential_round_trip_and_overwrite(tmp_path):
    model = gn.Sequential([gn.Input((5,)), L.Dense(4, activation="relu"), L.Dropout(0.3),
                           L.Dense(2)], name="seq")
    path = str(tmp_path / "seq.graphnet")
    model.save(path)
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False)
    loaded = gn.models.load_model(path)
    assert isinstance(loaded, gn.Sequential) and loaded.name == "seq"
    x = np.random.randn(3, 5).astype("f4")
    np.testing.assert_array_equal(model.predict(x), loaded.predict(x))


def test_save_requires_a_known_extension(tmp_path):
    with pytest.raises(ValueError, match=r"\.graphnet or \.keras or \.h5"):
        _mlp().save(str(tmp_path / "model.bin"))
    with pytest.raises(ValueError, match=r"\.weights\.npz"):
        _mlp().save_weights(str(tmp_path / "w.h5"))


def test_weights_round_trip_and_npz_compatibility(tmp_path):
    model, other = _mlp(), _mlp("other")
    path = str(tmp_path / "mlp.weights.npz")
    model.save_weights(path)
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    with np.load(path, allow_pickle=False) as npz:   # a plain .npz for numpy
        np.testing.assert_array_equal(npz["weight_00000"], model.get_weights()[0])


def test_load_weights_from_a_model_file(saved):
    model, path = saved
    other = _mlp("other")
    other.load_weights(path)
    np.testing.assert_array_equal(other.get_weights()[2], model.get_weights()[2])


def test_wrong_weight_shapes_are_refused_before_anything_is_written(tmp_path):
    model = _mlp()
    path = str(tmp_path / "w.weights.npz")
    model.save_weights(path)
    inp = gn.Input((6,))
    other = gn.Model(inp, L.Dense(3)(L.Dense(7)(inp)))    # second layer's shapes differ
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"shape \(6, 5\) in the file but \(6, 7\)"):
        other.load_weights(path)
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)                 # nothing was written
    with pytest.warns(UserWarning, match="skipping"):
        other.load_weights(path, skip_mismatch=True)
    with pytest.raises(ValueError, match="holds 4 weights but the model has 2"):
        gn.Model(inp, L.Dense(3)(inp)).load_weights(path)


def test_custom_layer_needs_custom_objects(tmp_path):
    class Scale(L.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return gn.ops.multiply(x, self.factor)

        def get_config(self):
            return dict(super().get_config(), factor=self.factor)

    inp = gn.Input((3,))
    model = gn.Model(inp, Scale(3.0)(L.Dense(3)(inp)))
    path = str(tmp_path / "custom.graphnet")
    model.save(path)
    # resolved by class name from graphnet's registry (subclasses register themselves) or
    # from custom_objects, which take precedence
    loaded = gn.models.load_model(path, custom_objects={"Scale": Scale})
    x = np.random.randn(2, 3).astype("f4")
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))
    _rewrite(path, str(tmp_path / "renamed.graphnet"), **edit_config(
        lambda c: c["config"]["layers"][2].update(class_name="MyScale")))
    with pytest.raises(ValueError, match="unknown layer 'MyScale'.*custom_objects"):
        gn.models.load_model(str(tmp_path / "renamed.graphnet"))
    loaded = gn.models.load_model(str(tmp_path / "renamed.graphnet"),
                                  custom_objects={"MyScale": Scale})
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))


# -- compiled models: the optimizer state resumes training exactly ---------------------------
def test_compiled_model_resumes_training_exactly(tmp_path):
    model = _mlp()
    if not hasattr(model, "compile") or not hasattr(model, "train_on_batch"):
        pytest.skip("this graphnet has no training API yet")
    model.compile(optimizer=gn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = np.random.randn(32, 6).astype("f4")
    y = np.random.randint(0, 3, 32)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    path = str(tmp_path / "trained.graphnet")
    model.save(path)
    meta = json.loads(zipfile.ZipFile(path).read("metadata.json"))
    assert len(meta["optimizer_variables"]) == len(model.optimizer.variables) > 2
    loaded = gn.models.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for _ in range(2):
        model.train_on_batch(x[:8], y[:8])
        loaded.train_on_batch(x[:8], y[:8])
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    uncompiled = gn.models.load_model(path, compile=False)
    assert getattr(uncompiled, "optimizer", None) is None
    model.save(str(tmp_path / "no_opt.graphnet"), include_optimizer=False)
    assert gn.models.load_model(str(tmp_path / "no_opt.graphnet")).optimizer is None


def test_weighted_metrics_are_saved_and_restored(tmp_path):
    model = _mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    x = np.random.randn(16, 6).astype("f4")
    y = np.random.randint(0, 3, 16)
    w = np.linspace(0.1, 2.0, 16).astype("f4")
    path = str(tmp_path / "weighted.graphnet")
    model.save(path)
    loaded = gn.models.load_model(path)
    want = model.evaluate(x, y, sample_weight=w, return_dict=True, verbose=0)
    got = loaded.evaluate(x, y, sample_weight=w, return_dict=True, verbose=0)
    assert set(got) == set(want) == {"loss", "accuracy", "weighted_accuracy"}
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6)


# -- bad files -------------------------------------------------------------------------------
def test_missing_truncated_and_non_zip_files(saved, tmp_path):
    _, path = saved
    with pytest.raises(FileNotFoundError):
        gn.models.load_model(str(tmp_path / "nope.graphnet"))
    data = open(path, "rb").read()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.graphnet"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="cut"):
            gn.models.load_model(str(bad))
    (tmp_path / "text.graphnet").write_text("hello")
    with pytest.raises(FileFormatError, match="not a valid zip"):
        gn.models.load_model(str(tmp_path / "text.graphnet"))


def test_corrupted_bytes_are_detected(saved, tmp_path):
    _, path = saved
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("weights/00000.npy")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.file_size - 3] ^= 0xFF            # flip a byte of stored weight data
    bad = tmp_path / "flipped.graphnet"
    bad.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match=r"weights/00000.npy.*corrupted"):
        gn.models.load_model(str(bad))


@pytest.mark.parametrize("npy, message", [
    (b"not an npy file at all", "not a valid .npy"),
    (lambda d: d[:-8], "truncated or corrupted"),
    (lambda d: d.replace(b"'<f4'", b"'|O' ", 1), "dtype object"),
])
def test_corrupted_npy_entries(saved, tmp_path, npy, message):
    _, path = saved
    bad = _rewrite(path, str(tmp_path / "bad.graphnet"), {"weights/00001.npy": npy})
    with pytest.raises(FileFormatError, match=message):
        gn.models.load_model(bad)


def test_pickled_object_array_is_never_unpickled(saved, tmp_path):
    _, path = saved
    f = io.BytesIO()
    np.save(f, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    bad = _rewrite(path, str(tmp_path / "pickle.graphnet"), {"weights/00000.npy": f.getvalue()})
    with pytest.raises(FileFormatError, match="dtype object"):
        gn.models.load_model(bad)


def test_hand_edited_configs(saved, tmp_path):
    _, path = saved
    cases = [
        (lambda c: c["config"]["layers"][1].update(class_name="Dense2"),
         "unknown layer 'Dense2'"),
        (lambda c: c["config"]["layers"][1].update(class_name="os.system"),
         "import path 'os.system'.*never imports"),
        (lambda c: c["config"]["layers"][1].update(class_name="builtins>eval"),
         "import path"),
        (lambda c: c["config"]["layers"][1]["config"].update(units="many"),
         "cannot be rebuilt"),
        (lambda c: c["config"]["layers"][1]["config"].update(activation="nope"),
         "cannot be rebuilt.*nope"),
        (lambda c: c["config"]["layers"][2].update(inbound_nodes=[[["ghost", 0, 0, {}]]]),
         "ghost"),
        (lambda c: c.pop("class_name"), "class_name"),
    ]
    for k, (edit, message) in enumerate(cases):
        bad = _rewrite(path, str(tmp_path / f"edit{k}.graphnet"), **edit_config(edit))
        with pytest.raises(ValueError, match=message):
            gn.models.load_model(bad)
    bad = _rewrite(path, str(tmp_path / "notjson.graphnet"), {"config.json": b"{nope"})
    with pytest.raises(FileFormatError, match="not valid JSON"):
        gn.models.load_model(bad)


def test_a_config_asking_for_larger_weights_than_the_file_holds_fails_before_allocating(
        saved, tmp_path):
    """A 4 KB file saying Dense(units=2**25) is refused at its first weight, not after
    allocating gigabytes: the model may not create more weight bytes than the file holds."""
    _, path = saved
    bad = _rewrite(path, str(tmp_path / "huge.graphnet"), **edit_config(
        lambda c: c["config"]["layers"][1]["config"].update(units=2 ** 25)))
    assert os.path.getsize(bad) < 8192
    with pytest.raises(FileFormatError, match=r"Layer 'hidden'.*kernel.*\(6, 33554432\).*"
                                              r"805306368 bytes.*the file"):
        gn.models.load_model(bad)
    # building is not limited outside loading
    assert gn.layers.Dense(2 ** 12)(gn.Input((6,))).shape == (None, 4096)


def test_hand_edited_metadata(saved, tmp_path):
    _, path = saved
    cases = [
        (lambda m: m.update(format_version=99), "newer graphnet"),
        (lambda m: m.update(format="something.else"), "expected 'graphnet.model'"),
        (lambda m: m["weights"][0].update(shape=[6, 6]), r"shape \(6, 5\), expected \(6, 6\)"),
        (lambda m: m["weights"][0].update(shape=[-1, 5]), "malformed"),
        (lambda m: m["weights"][0].update(dtype="object"), "malformed"),
        (lambda m: m["weights"][0].update(entry="weights/missing.npy"), "missing entry"),
        (lambda m: m["weights"].pop(),      # the model runs out of the file's weight bytes
         r"Layer 'out': weight 'bias' of shape \(3,\) needs 12 bytes, more than the 0"),
    ]
    for k, (edit, message) in enumerate(cases):
        bad = _rewrite(path, str(tmp_path / f"meta{k}.graphnet"), **edit_metadata(edit))
        with pytest.raises(ValueError, match=message):
            gn.models.load_model(bad)
    bad = _rewrite(path, str(tmp_path / "nometa.graphnet"), drop=("metadata.json",))
    with pytest.raises(FileFormatError, match="missing entry 'metadata.json'"):
        gn.models.load_model(bad)


def test_lambda_bytecode_is_refused_unless_safe_mode_is_off(tmp_path):
    marker = tmp_path / "pwned"
    inp = gn.Input((3,))
    model = gn.Model(inp, L.Lambda(lambda x: x * 2.0)(inp))
    path = str(tmp_path / "lambda.graphnet")
    model.save(path)
    with pytest.raises(ValueError, match="Python lambda.*safe_mode=False"):
        gn.models.load_model(path)
    loaded = gn.models.load_model(path, safe_mode=False)
    x = np.random.randn(2, 3).astype("f4")
    np.testing.assert_allclose(loaded.predict(x), 2 * x, rtol=1e-6)

    # a file whose lambda would run code when deserialized: never run in safe mode
    def evil(x, path=str(marker)):
        open(path, "w").write("ran")
        return x
    evil_model = gn.Model(inp, L.Lambda(lambda x: x)(inp))
    evil_path = str(tmp_path / "evil.graphnet")
    evil_model.save(evil_path)
    import base64
    import marshal
    code = base64.b64encode(marshal.dumps(evil.__code__)).decode()
    bad = _rewrite(evil_path, str(tmp_path / "evil2.graphnet"), **edit_config(
        lambda c: c["config"]["layers"][1]["config"]["function"]["config"].update(code=code)))
    with pytest.raises(ValueError, match="CVE-2024-3660"):
        gn.models.load_model(bad)
    assert not marker.exists()


def test_zip_bombs_and_limits(saved, tmp_path):
    _, path = saved
    bomb = _rewrite(path, str(tmp_path / "bomb.graphnet"),
                    add={"padding.bin": b"\0" * (50 << 20)}, compress=zipfile.ZIP_DEFLATED)
    assert os.path.getsize(bomb) < 1 << 20
    with pytest.raises(FileFormatError, match="compression ratio.*zip bomb"):
        gn.models.load_model(bomb)
    with pytest.raises(FileFormatError, match="declares .* bytes in all"):
        gn.models.load_model(path, limits=Limits(max_total_bytes=100))
    with pytest.raises(FileFormatError, match="entries, more than the limit 3"):
        gn.models.load_model(path, limits=Limits(max_entries=3))
    many = _rewrite(path, str(tmp_path / "dup.graphnet"), add={"../escape.json": b"{}"})
    with pytest.raises(FileFormatError, match="unsafe entry name"):
        gn.models.load_model(many)


def test_loading_a_weights_file_as_a_model_and_vice_versa(tmp_path, saved):
    model, path = saved
    wpath = str(tmp_path / "w.weights.npz")
    model.save_weights(wpath)
    with pytest.raises(FileFormatError, match="missing entry 'metadata.json'"):
        gn.models.load_model(wpath)
    np.savez(str(tmp_path / "plain.weights.npz"), a=np.zeros(3))
    with pytest.raises(FileFormatError, match="neither manifest.json nor metadata.json"):
        model.load_weights(str(tmp_path / "plain.weights.npz"))
