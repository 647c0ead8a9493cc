"""gn.datasets fashion_mnist, cifar10, cifar100, boston_housing, california_housing: small
files in Keras's formats (gzipped IDX, pickled batches in a tar.gz, npz) served from a
file:// origin into a temporary cache; against Keras's loaders reading the same files."""
import gzip
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
from extras import compare_with, keras

import graphnet as gn
from graphnet.datasets import (boston_housing, california_housing, cifar10, cifar100,
                               fashion_mnist)
from graphnet.datasets.download import DatasetFileError


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path / "home"))
    for name in ("FASHION_MNIST", "CIFAR10", "CIFAR100", "BOSTON_HOUSING",
                 "CALIFORNIA_HOUSING"):
        monkeypatch.delenv(f"GRAPHNET_{name}_ORIGIN", raising=False)
    (tmp_path / "origin").mkdir()
    return tmp_path


def _digest(path, algorithm):
    return hashlib.new(algorithm, open(path, "rb").read()).hexdigest()


def _keras_reads(monkeypatch, module_name, path_of):
    """Keras's loader ``module_name`` with its get_file answering ``path_of(fname)``."""
    module = getattr(keras.src.datasets, module_name)
    monkeypatch.setattr(module, "get_file", lambda fname=None, *a, **k: path_of(fname))
    return module


# -- Fashion-MNIST ------------------------------------------------------------------------
def _idx_gz(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _fashion_files(origin, rng, n_train=5, n_test=3):
    arrays = {fashion_mnist.TRAIN_IMAGES: rng.integers(0, 256, (n_train, 28, 28)),
              fashion_mnist.TRAIN_LABELS: rng.integers(0, 10, n_train),
              fashion_mnist.TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28)),
              fashion_mnist.TEST_LABELS: rng.integers(0, 10, n_test)}
    for name, array in arrays.items():
        _idx_gz(origin / name, array)
    return arrays


def test_fashion_mnist_from_origin_into_the_cache(home, monkeypatch):
    arrays = _fashion_files(home / "origin", np.random.default_rng(0))
    monkeypatch.setattr(fashion_mnist, "MD5", {name: _digest(home / "origin" / name, "md5")
                                               for name in arrays})
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(origin=home / "origin")
    assert x_train.shape == (5, 28, 28) and y_train.shape == (5,)
    assert x_test.shape == (3, 28, 28) and y_test.shape == (3,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype("uint8")}
    np.testing.assert_array_equal(x_test, arrays[fashion_mnist.TEST_IMAGES])
    np.testing.assert_array_equal(y_train, arrays[fashion_mnist.TRAIN_LABELS])
    cache = home / "home" / "datasets" / "fashion-mnist"
    assert sorted(os.listdir(cache)) == sorted(arrays)
    again = fashion_mnist.load_data(origin=home / "nowhere")   # cached: no download
    np.testing.assert_array_equal(again[0][0], x_train)
    if compare_with(keras, "keras.datasets.fashion_mnist.load_data on the same files"):
        theirs = _keras_reads(monkeypatch, "fashion_mnist", lambda name: str(cache / name))
        for ours, kept in zip((x_train, y_train, x_test, y_test),
                              [a for pair in theirs.load_data() for a in pair]):
            assert ours.dtype == kept.dtype
            np.testing.assert_array_equal(ours, kept)


def test_fashion_mnist_checksum_error_deletes_the_download(home):
    _fashion_files(home / "origin", np.random.default_rng(1))
    with pytest.raises(DatasetFileError, match="failed its checksum: MD5 .* expected "
                       + fashion_mnist.MD5[fashion_mnist.TRAIN_IMAGES]):
        fashion_mnist.load_data(origin=(home / "origin").as_uri())
    assert os.listdir(home / "home" / "datasets" / "fashion-mnist") == []


# -- CIFAR --------------------------------------------------------------------------------
def _pickle_bytes(obj):
    return pickle.dumps({k.encode(): v for k, v in obj.items()})  # bytes keys, as Python 2 wrote


def _tar(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


def _cifar10_archive(origin, rng, per_batch=2):
    batches = {}
    for name in cifar10.TRAIN_BATCHES + ("test_batch",):
        batches[name] = {"data": rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8),
                         "labels": rng.integers(0, 10, per_batch).tolist(),
                         "batch_label": b"made by the test"}
    _tar(origin / cifar10.ARCHIVE, {f"{cifar10.FOLDER}/{name}": _pickle_bytes(batch)
                                    for name, batch in batches.items()})
    return batches


def test_cifar10_shapes_layout_and_labels(home, monkeypatch):
    batches = _cifar10_archive(home / "origin", np.random.default_rng(2))
    monkeypatch.setattr(cifar10, "SHA256", _digest(home / "origin" / cifar10.ARCHIVE,
                                                   "sha256"))
    (x_train, y_train), (x_test, y_test) = cifar10.load_data(origin=home / "origin")
    assert x_train.shape == (10, 32, 32, 3) and y_train.shape == (10, 1)
    assert x_test.shape == (2, 32, 32, 3) and y_test.shape == (2, 1)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype("uint8")}
    first = batches["data_batch_1"]["data"][1].reshape(3, 32, 32)
    np.testing.assert_array_equal(x_train[1], first.transpose(1, 2, 0))   # channels last
    assert y_train[:, 0].tolist() == [label for name in cifar10.TRAIN_BATCHES
                                      for label in batches[name]["labels"]]
    extracted = home / "home" / "datasets" / cifar10.TARGET
    assert (extracted / cifar10.FOLDER / "test_batch").is_file()
    assert (home / "home" / "datasets" / f"{cifar10.TARGET}_archive").is_file()
    if compare_with(keras, "keras's CIFAR batch reader on the same file"):
        batch = str(extracted / cifar10.FOLDER / "data_batch_3")
        data, labels = keras.src.datasets.cifar.load_batch(batch)
        ours = gn.datasets.cifar.load_batch(batch)
        np.testing.assert_array_equal(ours[0], data)
        assert list(ours[1]) == list(labels)


def _cifar100_archive(origin, rng, n_train=4, n_test=3):
    def batch(n):
        return {"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
                "fine_labels": rng.integers(0, 100, n).tolist(),
                "coarse_labels": rng.integers(0, 20, n).tolist()}
    batches = {"train": batch(n_train), "test": batch(n_test)}
    _tar(origin / cifar100.ARCHIVE, {f"{cifar100.FOLDER}/{name}": _pickle_bytes(b)
                                     for name, b in batches.items()})
    return batches


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_label_modes_as_keras(home, monkeypatch, label_mode):
    batches = _cifar100_archive(home / "origin", np.random.default_rng(3))
    monkeypatch.setattr(cifar100, "SHA256", _digest(home / "origin" / cifar100.ARCHIVE,
                                                    "sha256"))
    (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode,
                                                              origin=home / "origin")
    assert x_train.shape == (4, 32, 32, 3) and y_train.shape == (4, 1)
    assert x_test.shape == (3, 32, 32, 3) and y_test.shape == (3, 1)
    assert y_test[:, 0].tolist() == batches["test"][f"{label_mode}_labels"]
    if compare_with(keras, "keras.datasets.cifar100.load_data on the same archive"):
        extracted = str(home / "home" / "datasets" / cifar100.TARGET)
        theirs = _keras_reads(monkeypatch, "cifar100", lambda name: extracted)
        for ours, kept in zip((x_train, y_train, x_test, y_test),
                              [a for pair in theirs.load_data(label_mode) for a in pair]):
            assert (ours.shape, ours.dtype) == (kept.shape, kept.dtype)
            np.testing.assert_array_equal(ours, kept)


def test_cifar_checksum_and_hostile_pickles(home, monkeypatch):
    _cifar100_archive(home / "origin", np.random.default_rng(4))
    with pytest.raises(DatasetFileError, match=f"failed its checksum: SHA256 .*expected "
                       f"{cifar100.SHA256}"):
        cifar100.load_data(origin=home / "origin")
    assert not (home / "home" / "datasets" / f"{cifar100.TARGET}_archive").exists()

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    _tar(home / "origin" / cifar100.ARCHIVE,
         {f"{cifar100.FOLDER}/train": pickle.dumps({b"data": Boom()}),
          f"{cifar100.FOLDER}/test": b"\x80\x02truncated"})
    monkeypatch.setattr(cifar100, "SHA256", _digest(home / "origin" / cifar100.ARCHIVE,
                                                    "sha256"))
    with pytest.raises(DatasetFileError, match="Refusing to load `posix.system`"):
        cifar100.load_data(origin=home / "origin")
    with pytest.raises(ValueError, match='`label_mode` must be one of "fine", "coarse"'):
        cifar100.load_data("medium")


def test_cifar_batch_errors(tmp_path):
    path = tmp_path / "batch"
    path.write_bytes(_pickle_bytes({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}))
    with pytest.raises(DatasetFileError, match=r"data of shape \(2, 10\).*expected \(n, 3072\)"):
        gn.datasets.cifar.load_batch(str(path))
    path.write_bytes(_pickle_bytes({"data": np.zeros((2, 3072), np.uint8)}))
    with pytest.raises(DatasetFileError, match="has no 'labels'"):
        gn.datasets.cifar.load_batch(str(path))
    with pytest.raises(DatasetFileError, match="is missing"):
        gn.datasets.cifar.load_batch(str(tmp_path / "absent"))


# -- housing ------------------------------------------------------------------------------
HOUSING = [(boston_housing, "boston_housing", 40, 13), (california_housing,
                                                        "california_housing", 700, 8)]


def _npz(path, n, features, rng):
    x, y = rng.normal(size=(n, features)), rng.uniform(10, 50, n)
    np.savez(path, x=x, y=y)
    return x, y


@pytest.mark.parametrize("module,name,n,features", HOUSING)
def test_housing_splits_as_keras(home, monkeypatch, module, name, n, features):
    x, y = _npz(home / "origin" / module.DATA_FILE, n, features, np.random.default_rng(5))
    monkeypatch.setattr(module, "SHA256", _digest(home / "origin" / module.DATA_FILE,
                                                  "sha256"))
    for test_split, seed in ((0.2, 113), (0.0, 1), (0.5, 7)):
        (x_train, y_train), (x_test, y_test) = module.load_data(
            test_split=test_split, seed=seed, origin=home / "origin")
        assert x_train.shape == (int(n * (1 - test_split)), features)
        assert len(x_test) == n - len(x_train) and y_train.shape == (len(x_train),)
        assert x_train.dtype == np.float64
        rows = {tuple(r) for r in np.concatenate([x_train, x_test])}
        assert rows == {tuple(r) for r in x}
        if compare_with(keras, f"keras.datasets.{name}.load_data on the same file"):
            path = str(home / "home" / "datasets" / module.DATA_FILE)
            theirs = _keras_reads(monkeypatch, name, lambda fname: path)
            kept = theirs.load_data(test_split=test_split, seed=seed)
            for ours, k in zip((x_train, y_train, x_test, y_test),
                               [a for pair in kept for a in pair]):
                np.testing.assert_array_equal(ours, k)


def test_california_small_version_and_errors(home, monkeypatch):
    x, _ = _npz(home / "origin" / california_housing.DATA_FILE, 700, 8,
                np.random.default_rng(6))
    monkeypatch.setattr(california_housing, "SHA256", _digest(
        home / "origin" / california_housing.DATA_FILE, "sha256"))
    (x_train, _), (x_test, _) = california_housing.load_data("small", origin=home / "origin")
    assert len(x_train) == 480 and len(x_test) == 120
    assert {tuple(r) for r in np.concatenate([x_train, x_test])} == {tuple(r) for r in x[:600]}
    with pytest.raises(ValueError, match="`version` must be one of 'small', 'large'"):
        california_housing.load_data("medium")
    for module in (boston_housing, california_housing):
        for bad in (1, 1.5, -0.1, "0.2"):
            with pytest.raises(ValueError, match=r"`test_split` must be a number in \[0, 1\)"):
                module.load_data(test_split=bad)


def test_housing_checksum_error(home):
    _npz(home / "origin" / boston_housing.DATA_FILE, 10, 13, np.random.default_rng(7))
    with pytest.raises(DatasetFileError, match="failed its checksum: SHA256"):
        boston_housing.load_data(origin=home / "origin")
    assert not (home / "home" / "datasets" / boston_housing.DATA_FILE).exists()
