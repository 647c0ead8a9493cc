"""gn.datasets.mnist: reading the real IDX files, search order, download, bad files."""
import gzip
import os
import shutil

import numpy as np
import pytest
from conftest import MNIST_DIR

from graphnet.datasets import mnist

needs_mnist = pytest.mark.skipif(
    not os.path.isfile(os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz")),
    reason=f"MNIST test set not found in {MNIST_DIR}")

TEST_GZ = [s + ".gz" for s in mnist.TEST_FILES]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No environment variables, an empty cache in tmp, and no source-checkout data."""
    monkeypatch.delenv("GRAPHNET_MNIST_DIR", raising=False)
    monkeypatch.delenv("GRAPHNET_MNIST_ORIGIN", raising=False)
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(mnist, "_checkout_dir", lambda: str(tmp_path / "no-checkout"))
    return tmp_path


def _copy_gz(dst):
    os.makedirs(dst, exist_ok=True)
    for name in TEST_GZ:
        shutil.copy(os.path.join(MNIST_DIR, name), dst)
    return dst


def _check_test_set(train, test):
    (x_train, y_train), (x_test, y_test) = train, test
    assert x_train.shape == (0, 28, 28) and y_train.shape == (0,)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert x_test.dtype == np.uint8 and y_test.dtype == np.uint8
    assert y_test.min() == 0 and y_test.max() == 9
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                            974, 1009]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


@needs_mnist
def test_real_shared_files_match_official_md5():
    with open(os.path.join(MNIST_DIR, "MD5SUMS")) as f:
        listed = dict(reversed(line.split()) for line in f if line.strip())
    for name in TEST_GZ:
        assert mnist.md5sum(os.path.join(MNIST_DIR, name)) == listed[name] == mnist.MD5[name]


@needs_mnist
def test_load_from_shared_dir():
    train, test = mnist.load_data(MNIST_DIR)
    _check_test_set(train, test)
    x = test[0]
    assert 0 < x.mean() < 255 and x.max() == 255


@needs_mnist
def test_default_search_finds_checkout(monkeypatch):
    monkeypatch.delenv("GRAPHNET_MNIST_DIR", raising=False)
    assert os.path.samefile(mnist._checkout_dir(), MNIST_DIR)
    _check_test_set(*mnist.load_data())


@needs_mnist
def test_load_split():
    (x_train, y_train), (x_held, y_held) = mnist.load_split(path=MNIST_DIR)
    _, (x, y) = mnist.load_data(MNIST_DIR)
    assert x_train.shape == (8000, 28, 28) and y_train.shape == (8000,)
    assert x_held.shape == (2000, 28, 28) and y_held.shape == (2000,)
    np.testing.assert_array_equal(x_held, x[8000:])
    np.testing.assert_array_equal(y_train, y[:8000])
    (a, _), (b, _) = mnist.load_split(100, path=MNIST_DIR)
    assert len(a) == 100 and len(b) == 9900
    with pytest.raises(ValueError, match="n_train"):
        mnist.load_split(10001, path=MNIST_DIR)


@needs_mnist
def test_uncompressed_dir_with_train_files(isolated):
    d = isolated / "raw"
    d.mkdir()
    for stem in mnist.TEST_FILES:
        with gzip.open(os.path.join(MNIST_DIR, stem + ".gz")) as f:
            data = f.read()
        (d / stem).write_bytes(data)
    # A small training set in the same directory is read too (here 300 test images).
    x_all = (d / mnist.TEST_IMAGES).read_bytes()
    y_all = (d / mnist.TEST_LABELS).read_bytes()
    n = 300
    (d / mnist.TRAIN_IMAGES).write_bytes(
        x_all[:4] + n.to_bytes(4, "big") + x_all[8:16] + x_all[16:16 + n * 784])
    (d / mnist.TRAIN_LABELS).write_bytes(y_all[:4] + n.to_bytes(4, "big") + y_all[8:8 + n])
    (x_train, y_train), (x_test, y_test) = mnist.load_data(str(d))
    assert x_test.shape == (10000, 28, 28) and x_train.shape == (n, 28, 28)
    np.testing.assert_array_equal(x_train, x_test[:n])
    np.testing.assert_array_equal(y_train, y_test[:n])


@needs_mnist
def test_env_var(isolated, monkeypatch):
    d = _copy_gz(str(isolated / "env"))
    monkeypatch.setenv("GRAPHNET_MNIST_DIR", d)
    assert mnist.candidate_dirs()[0] == ("GRAPHNET_MNIST_DIR", d)
    _check_test_set(*mnist.load_data())


@needs_mnist
def test_path_argument_comes_before_env(isolated, monkeypatch):
    monkeypatch.setenv("GRAPHNET_MNIST_DIR", str(isolated / "empty"))
    d = _copy_gz(str(isolated / "arg"))
    assert [desc for desc, _ in mnist.candidate_dirs(d)] == [
        "path argument", "GRAPHNET_MNIST_DIR", "source checkout", "cache"]
    _check_test_set(*mnist.load_data(d))


@needs_mnist
def test_download_from_file_origin(isolated):
    origin = _copy_gz(str(isolated / "mirror"))
    url = (isolated / "mirror").as_uri()
    with pytest.warns(UserWarning, match="training files"):
        train, test = mnist.load_data(origin=url)
    _check_test_set(train, test)
    cache = mnist.cache_dir()
    assert cache.startswith(str(isolated / "home"))
    assert sorted(os.listdir(cache)) == sorted(TEST_GZ)
    for name in TEST_GZ:
        assert mnist.md5sum(os.path.join(cache, name)) == mnist.MD5[name]
    # Now the cache has them: no download, even from a dead origin.
    shutil.rmtree(origin)
    _check_test_set(*mnist.load_data(origin=url))


@needs_mnist
def test_download_origin_from_env(isolated, monkeypatch):
    _copy_gz(str(isolated / "mirror"))
    monkeypatch.setenv("GRAPHNET_MNIST_ORIGIN", (isolated / "mirror").as_uri() + "/")
    with pytest.warns(UserWarning):
        _check_test_set(*mnist.load_data())


@needs_mnist
def test_download_refuses_corrupted_file(isolated):
    mirror = _copy_gz(str(isolated / "mirror"))
    labels = os.path.join(mirror, mnist.TEST_LABELS + ".gz")
    data = bytearray(open(labels, "rb").read())
    data[100] ^= 0xFF
    with open(labels, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(mnist.MNISTFileError, match="checksum") as info:
        mnist.load_data(origin=(isolated / "mirror").as_uri())
    assert mnist.TEST_LABELS + ".gz" in str(info.value)
    cache = mnist.cache_dir()
    left = os.listdir(cache)
    assert mnist.TEST_LABELS + ".gz" not in left
    assert not [n for n in left if n.endswith(".part")]


def test_error_lists_every_place(isolated, monkeypatch):
    env_dir = str(isolated / "env-dir")
    monkeypatch.setenv("GRAPHNET_MNIST_DIR", env_dir)
    arg_dir = str(isolated / "arg-dir")
    origin = (isolated / "no-mirror").as_uri()
    with pytest.raises(FileNotFoundError) as info:
        mnist.load_data(arg_dir, origin=origin)
    message = str(info.value)
    for place in (arg_dir, env_dir, mnist._checkout_dir(), mnist.cache_dir(), origin,
                  "t10k-images-idx3-ubyte"):
        assert place in message
    with pytest.raises(FileNotFoundError, match="downloading is off"):
        mnist.load_data(arg_dir, download=False)


@needs_mnist
def test_truncated_and_corrupted_files(isolated):
    d = isolated / "bad"
    _copy_gz(str(d))
    images = d / (mnist.TEST_IMAGES + ".gz")
    full = images.read_bytes()
    images.write_bytes(full[:len(full) // 2])          # truncated gzip stream
    with pytest.raises(mnist.MNISTFileError, match="t10k-images-idx3-ubyte.gz"):
        mnist.load_data(str(d))
    raw = gzip.decompress(full)
    images.unlink()
    raw_path = d / mnist.TEST_IMAGES
    raw_path.write_bytes(raw[:-784])                   # one image short
    with pytest.raises(mnist.MNISTFileError, match="truncated") as info:
        mnist.load_data(str(d))
    assert str(raw_path) in str(info.value)
    raw_path.write_bytes(raw[:10])                     # shorter than the header
    with pytest.raises(mnist.MNISTFileError, match="header"):
        mnist.load_data(str(d))
    raw_path.write_bytes(b"\x00\x00\x08\x01" + raw[4:])   # wrong magic (1-d)
    with pytest.raises(mnist.MNISTFileError, match="magic number 0x00000801"):
        mnist.load_data(str(d))


@needs_mnist
def test_images_labels_count_mismatch(isolated):
    d = isolated / "mismatch"
    _copy_gz(str(d))
    labels = gzip.decompress((d / (mnist.TEST_LABELS + ".gz")).read_bytes())
    (d / (mnist.TEST_LABELS + ".gz")).unlink()
    (d / mnist.TEST_LABELS).write_bytes(labels[:4] + (9999).to_bytes(4, "big") + labels[8:-1])
    with pytest.raises(mnist.MNISTFileError, match="10000 images but 9999 labels"):
        mnist.load_data(str(d))


def test_download_rejects_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="unknown MNIST file"):
        mnist.download("mnist.npz", str(tmp_path), origin=tmp_path.as_uri())


def test_md5_table_is_the_official_one():
    assert mnist.MD5["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert mnist.MD5["train-labels-idx1-ubyte.gz"] == "d53e105ee54ea40749a09fcbcd1e9432"
