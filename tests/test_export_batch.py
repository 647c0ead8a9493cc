""".gnx files for any batch size: the batch-generic plan (export/batch_fit.py), loading it in
a process without the model-building code, the per-batch plan cache, bad batch sizes and
tampered coefficients."""
import json
import os
import subprocess
import sys
import textwrap
import threading
import zipfile

import numpy as np
import pytest

import graphnet as gn
from graphnet import layers as L
from graphnet.export import PlanError, load_compiled
from graphnet.export.batch_fit import CHECK_BATCHES, FIT_BATCHES, NotBatchGeneric
from graphnet.saving import FileFormatError
from gnx_files import edit_array, edit_manifest, rewrite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mnist_mlp():
    return gn.Sequential([gn.Input((784,), name="pixels"), L.Dense(64, activation="relu"),
                          L.Dropout(0.2), L.Dense(10, activation="softmax")], name="mlp")


def mnist_cnn():
    """Convolutions with pooling fused and one without (its workspace is sized by the
    batch), as mnist_cnn."""
    return gn.Sequential([gn.Input((28, 28, 1), name="image"),
                          L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(2),
                          L.Conv2D(16, 3, activation="relu"), L.Conv2D(8, 3, strides=2),
                          L.Flatten(), L.Dense(10, activation="softmax")], name="cnn")


@pytest.fixture(scope="module")
def mlp_file(tmp_path_factory):
    model = mnist_mlp()
    path = str(tmp_path_factory.mktemp("mlp") / "mlp.gnx")
    model.export(path)
    return model, path


# -- a fresh process ----------------------------------------------------------------------------
@pytest.mark.parametrize("build", [mnist_mlp, mnist_cnn])
def test_any_batch_size_in_a_process_without_the_model_building_code(tmp_path, build):
    model = build()
    path = str(tmp_path / "model.gnx")
    model.export(path)
    rng = np.random.default_rng(0)
    shape = tuple(model.inputs[0].shape[1:])
    for n in (1, 10, 1000):
        x = rng.standard_normal((n,) + shape).astype("f4")
        np.save(tmp_path / f"x{n}.npy", x)
        np.save(tmp_path / f"want{n}.npy", model.predict(x, batch_size=n))
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {ROOT!r})
        import numpy as np
        import graphnet as gn
        m = gn.load_compiled({path!r})
        assert m.batch_size is None, m.batch_size
        for n in (1, 10, 1000):
            x = np.load({str(tmp_path)!r} + f"/x{{n}}.npy")
            want = np.load({str(tmp_path)!r} + f"/want{{n}}.npy")
            got = m(x)
            assert got.shape == want.shape, (got.shape, want.shape)
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
            np.testing.assert_allclose(m.predict(x), want, atol=1e-5, rtol=1e-5)
        bad = [k for k in sys.modules
               if k.startswith(("graphnet.engine", "graphnet.layers", "graphnet.compiler"))]
        assert not bad, bad
        print("ok", m.cached_batch_sizes())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    # batch 1 has its own plan; predict ran 1000 as 31 batches of 32 and one of 8
    assert result.stdout.split("\n")[0] == "ok [10, 1000, 32, 8]"


def test_manifest_names_the_batch_and_the_format_version(mlp_file):
    _, path = mlp_file
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        names = set(z.namelist())
    assert manifest["format_version"] == 2
    assert manifest["inputs"][0]["shape"] == [None, 784]
    assert manifest["outputs"][0]["shape"] == [None, 10]
    batch = manifest["batch"]
    assert batch["min_batch"] == 2 and [p["batch_size"] for p in batch["plans"]] == [1]
    assert batch["arena_bytes_per_batch"] > 0
    assert {batch["per_batch"]["iargs"], batch["per_batch"]["slots"],
            batch["plans"][0]["plan"]["iargs"]} <= names


def test_instantiated_plans_scale_with_the_batch(mlp_file):
    _, path = mlp_file
    cm = load_compiled(path)
    plans = {n: cm.executable(n).plan for n in (2, 3, 50)}
    per = cm._batch.coefficients.arena_bytes
    assert plans[50].arena_bytes - plans[3].arena_bytes == 47 * per
    gemm = plans[50].kernels.index("GN_K_GEMM_BIAS_ACT")
    rows = {n: int(p.iargs[p.steps[gemm, 1] + 2]) for n, p in plans.items()}
    assert rows == {2: 2, 3: 3, 50: 50}
    assert all(p.slots[:, 2].min() >= 0 and not (p.slots[p.slots[:, 0] == 0, 2] % 64).any()
               for p in plans.values())   # arena slots stay 64-byte aligned


def test_fit_and_check_sizes_differ():
    assert not set(FIT_BATCHES) & set(CHECK_BATCHES) and len(CHECK_BATCHES) >= 2


# -- the plan cache and predict -------------------------------------------------------------------
def test_plan_cache_is_bounded_least_recently_used_and_clearable(mlp_file):
    model, path = mlp_file
    cm = load_compiled(path, max_cached_plans=2)
    x = np.random.default_rng(1).standard_normal((9, 784)).astype("f4")
    for n in (4, 5, 4, 6):
        cm(x[:n])
    assert cm.cached_batch_sizes() == [4, 6]
    first = cm.executable(4)
    assert cm.executable(4) is first and cm.cached_batch_sizes() == [6, 4]
    cm.clear_cache()
    assert cm.cached_batch_sizes() == []
    np.testing.assert_allclose(cm(x), model.predict(x), atol=1e-5, rtol=1e-5)
    uncached = load_compiled(path, max_cached_plans=0)
    uncached(x)
    assert uncached.cached_batch_sizes() == []
    with pytest.raises(ValueError, match=r"max_cached_plans must be an integer >= 0 \(0: cache none\), got -1"):
        load_compiled(path, max_cached_plans=-1)


def test_predict_runs_batches_of_the_requested_size(mlp_file):
    model, path = mlp_file
    cm = load_compiled(path)
    x = np.random.default_rng(2).standard_normal((75, 784)).astype("f4")
    want = model.predict(x)
    np.testing.assert_allclose(cm.predict(x), want, atol=1e-5, rtol=1e-5)
    assert cm.cached_batch_sizes() == [32, 11]          # 32 + 32 + 11, none padded
    np.testing.assert_allclose(cm.predict(x, batch_size=75), want, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(cm.predict(x, batch_size=1), want, atol=1e-5, rtol=1e-5)
    assert cm.cached_batch_sizes() == [32, 11, 75]      # batch 1 has a plan of its own


def test_threads_predicting_different_batch_sizes(mlp_file):
    model, path = mlp_file
    cm = load_compiled(path, max_cached_plans=3)
    x = np.random.default_rng(3).standard_normal((12, 784)).astype("f4")
    want = model.predict(x)
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(60):
            n = int(rng.integers(1, 13))
            got = cm(x[:n])
            if not np.allclose(got, want[:n], atol=1e-5, rtol=1e-5):
                errors.append(n)
    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(cm.cached_batch_sizes()) <= 3


# -- bad batch sizes ------------------------------------------------------------------------------
def test_bad_batch_sizes_give_clear_errors(mlp_file, tmp_path):
    model, path = mlp_file
    cm = load_compiled(path)
    with pytest.raises(ValueError, match="batch size must be >= 1, got 0 samples"):
        cm(np.zeros((0, 784), "f4"))
    with pytest.raises(ValueError, match=r"expects shape \(N, 784\), got \(3, 783\)"):
        cm(np.zeros((3, 783), "f4"))
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match=f"batch_size must be an integer >= 1, got {bad}"):
            cm.predict(np.zeros((3, 784), "f4"), batch_size=bad)
    with pytest.raises(ValueError, match="at least 1 sample, got 0"):
        cm.predict(np.zeros((0, 784), "f4"))
    with pytest.raises(ValueError, match=r"batch size 2305843009213693952 is larger than "
                                         r"this plan allows \(\d+\)"):
        cm.executable(1 << 61)      # its int arguments would near int64's range
    for bad in (0, -3):
        with pytest.raises(ValueError, match=f"batch size must be an integer >= 1, got {bad}"):
            cm.executable(bad)
    fixed = str(tmp_path / "fixed.gnx")
    with pytest.raises(ValueError, match=r"give batch_size \(4\) or shapes"):
        model.export(fixed, batch_size=4, shapes=[(4, 784)])
    model.export(fixed, batch_size=4)
    cf = load_compiled(fixed)
    assert cf.batch_size == 4
    with pytest.raises(ValueError, match=r"expects shape \(4, 784\) \(fixed at export; export "
                                         r"with batch_size=None for any batch size\), got "
                                         r"\(10, 784\)"):
        cf(np.zeros((10, 784), "f4"))
    with pytest.raises(ValueError, match="the batch size is fixed at 4"):
        cf.executable(5)
    with pytest.raises(ValueError, match="runs batches of the exported size 4, got "
                                         "batch_size=3"):
        cf.predict(np.zeros((10, 784), "f4"), batch_size=3)
    x = np.random.default_rng(4).standard_normal((10, 784)).astype("f4")
    np.testing.assert_allclose(cf.predict(x), model.predict(x), atol=1e-5, rtol=1e-5)


def test_outputs_may_have_several_batch_dimensions(tmp_path):
    x = gn.Input((3,), name="x")
    gram = gn.ops.matmul(x, gn.ops.transpose(x, (1, 0)))     # (N, N): m and n are N
    cm = load_compiled(gn.export.export_compiled(x, gram, str(tmp_path / "gram.gnx")))
    assert cm.output_specs[0]["shape"] == (None, None)
    data = np.random.default_rng(5).standard_normal((7, 3)).astype("f4")
    np.testing.assert_allclose(cm(data), data @ data.T, atol=1e-5, rtol=1e-5)


def test_a_model_whose_plan_is_not_affine_in_the_batch_asks_for_a_fixed_size(tmp_path):
    x = gn.Input((3,), name="x")
    total = gn.ops.sum(gn.ops.matmul(x, gn.ops.transpose(x, (1, 0))))   # sums N*N values
    with pytest.raises(NotBatchGeneric, match=r"int argument \d+ of step \d+ \(GN_K_REDUCE\) "
                                              r"is \[4, 9, 25, .*export with a fixed batch_size="):
        gn.export.export_compiled(x, total, str(tmp_path / "total.gnx"))
    path = gn.export.export_compiled(x, total, str(tmp_path / "total.gnx"), shapes=[(4, 3)])
    data = np.random.default_rng(5).standard_normal((4, 3)).astype("f4")
    np.testing.assert_allclose(load_compiled(path)(data), np.sum(data @ data.T), rtol=1e-5)


# -- files: old versions and tampering ------------------------------------------------------------
def test_version_1_files_still_load(mlp_file, tmp_path):
    model, _ = mlp_file
    fixed = str(tmp_path / "fixed.gnx")
    model.export(fixed, batch_size=3)

    def as_version_1(m):
        m["format_version"] = 1
        del m["batch"]
    old = rewrite(fixed, str(tmp_path / "v1.gnx"), edit_manifest(as_version_1))
    cm = load_compiled(old)
    assert cm.metadata["format_version"] == 1 and cm.batch_size == 3
    x = np.random.default_rng(6).standard_normal((3, 784)).astype("f4")
    np.testing.assert_allclose(cm(x), model.predict(x), atol=1e-5, rtol=1e-5)
    # a version 1 reader's shapes never had a batch placeholder
    bad = rewrite(old, str(tmp_path / "v1null.gnx"), edit_manifest(
        lambda m: m["inputs"][0].update(shape=[None, 784])))
    with pytest.raises(FileFormatError, match="malformed shape"):
        load_compiled(bad)


def _set_arena(coefficient, base):
    def edit(m):
        m["batch"]["arena_bytes_per_batch"] = coefficient
        m["arena_bytes"] = base
    return edit_manifest(edit)


def test_a_tampered_coefficient_is_refused_for_the_batch_that_would_overflow(mlp_file,
                                                                            tmp_path):
    model, path = mlp_file
    cm = load_compiled(path)
    need = cm.executable(2).plan.arena_bytes
    # the arena stops growing with the batch: just enough for batch 2, too small after
    bad = rewrite(path, str(tmp_path / "arena.gnx"), _set_arena(0, need))
    loaded = load_compiled(bad)
    x = np.random.default_rng(7).standard_normal((40, 784)).astype("f4")
    np.testing.assert_allclose(loaded(x[:2]), model.predict(x[:2]), atol=1e-5, rtol=1e-5)
    with pytest.raises(PlanError, match=r"the plan for batch 40 is invalid and was not run: "
                                        r".* of arena 0, which has \d+ bytes"):
        loaded(x)
    assert 40 not in loaded.cached_batch_sizes()
    # the first GEMM told to grow its rows twice as fast as its input: refused at load
    with zipfile.ZipFile(path) as z:
        entry = json.loads(z.read("manifest.json"))["batch"]["per_batch"]["iargs"]
    bad = rewrite(path, str(tmp_path / "rows.gnx"),
                  edit_array(entry, lambda per: np.where(np.arange(per.size) == 2, 2, per)))
    with pytest.raises(FileFormatError, match=r"the plan for batch 2 is invalid and was not "
                                              r"run: step 0 \(GN_K_GEMM_BIAS_ACT\)"):
        load_compiled(bad)


@pytest.mark.parametrize("edit, message", [
    (edit_manifest(lambda m: m["batch"].update(min_batch=0)), "'min_batch' must be an integer"),
    (edit_manifest(lambda m: m["batch"].update(plans=[])), r"no plan for batch size\(s\) \[1\]"),
    (edit_manifest(lambda m: m["batch"]["plans"][0].update(weights=[99])),
     "indices of the file's weights"),
    (edit_manifest(lambda m: m["batch"]["plans"][0].update(batch_size=2)),
     "new batch size below 2"),
    (edit_manifest(lambda m: m["batch"]["per_batch"].pop("slots")),
     "no per-batch 'slots' entry"),
    (edit_manifest(lambda m: m.update(batch=[])), "'batch' must be null or an object"),
])
def test_malformed_batch_fields_are_refused(mlp_file, tmp_path, edit, message):
    _, path = mlp_file
    with pytest.raises(FileFormatError, match=message):
        load_compiled(rewrite(path, str(tmp_path / "bad.gnx"), edit))


def test_several_inputs_and_outputs(tmp_path):
    a, b = gn.Input((4,), name="a"), gn.Input((3,), name="b")
    h = L.Concatenate()([L.Dense(5, activation="tanh")(a), b])
    model = gn.Model([a, b], [L.Dense(2, name="p")(h),
                              L.Dense(1, activation="sigmoid", name="q")(h)])
    path = str(tmp_path / "multi.gnx")
    model.export(path)
    cm = load_compiled(path)
    rng = np.random.default_rng(8)
    for n in (1, 6, 40):
        xa, xb = rng.standard_normal((n, 4)).astype("f4"), rng.standard_normal((n, 3))
        want = model.predict([xa, xb])
        for got_all in (cm(xa, xb), cm({"a": xa, "b": xb}), cm.predict([xa, xb], batch_size=7)):
            for w, g in zip(want, got_all):
                np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"different numbers of samples: \{'a': 3, 'b': 2\}"):
        cm(np.zeros((3, 4), "f4"), np.zeros((2, 3), "f4"))
