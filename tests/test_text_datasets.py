"""gn.datasets.imdb and reuters on small files in Keras's layout that the tests write:
the same arrays as Keras 3's loaders read from the same files, the cache and a checked
download from a local mirror (nothing is fetched from the network), and bad files."""
import inspect
import json
import os
import pickle
import sys

import numpy as np
import pytest
from extras import compare_with, keras

from graphnet.datasets import download, imdb, reuters, word_sequences


def _sequences(rng, count, vocabulary=30):
    seqs = [list(map(int, rng.integers(1, vocabulary, size=rng.integers(1, 12))))
            for _ in range(count)]
    out = np.empty(count, dtype=object)
    out[:] = seqs
    return out


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty cache under tmp and no origin override."""
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path / "home"))
    for name in ("GRAPHNET_IMDB_ORIGIN", "GRAPHNET_REUTERS_ORIGIN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def imdb_file(tmp_path):
    rng = np.random.default_rng(0)
    path = str(tmp_path / "imdb.npz")
    np.savez(path, x_train=_sequences(rng, 40), y_train=rng.integers(0, 2, 40).astype("int64"),
             x_test=_sequences(rng, 30), y_test=rng.integers(0, 2, 30).astype("int64"))
    return path


@pytest.fixture
def reuters_file(tmp_path):
    rng = np.random.default_rng(1)
    path = str(tmp_path / "reuters.npz")
    np.savez(path, x=_sequences(rng, 50), y=rng.integers(0, 46, 50).astype("int64"))
    return path


def _keras_loader(monkeypatch, module_name, path):
    """Keras's load_data of ``module_name`` reading ``path`` (its get_file bypassed)."""
    load_data = getattr(keras.datasets, module_name).load_data
    monkeypatch.setattr(sys.modules[load_data.__module__], "get_file",
                        lambda *args, **kwargs: path)
    return load_data


def _assert_same(ours, theirs):
    for (x1, y1), (x2, y2) in zip(ours, theirs, strict=True):
        assert x1.dtype == x2.dtype == object and x1.shape == x2.shape
        assert [list(s) for s in x1] == [list(s) for s in x2]
        np.testing.assert_array_equal(y1, y2)
        assert y1.dtype == y2.dtype


IMDB_CASES = [dict(), dict(num_words=10), dict(skip_top=3, num_words=15), dict(maxlen=8),
              dict(oov_char=None, num_words=12), dict(start_char=None, index_from=0),
              dict(seed=7, index_from=5, start_char=4, oov_char=1)]


@pytest.mark.parametrize("kwargs", IMDB_CASES, ids=str)
def test_imdb_matches_keras(imdb_file, monkeypatch, kwargs):
    ours = imdb.load_data(imdb_file, **kwargs)
    (x_train, y_train), (x_test, y_test) = ours
    assert len(x_train) == len(y_train) and len(x_test) == len(y_test)
    start = kwargs.get("start_char", 1)
    if start is not None and not kwargs.get("skip_top"):
        assert all(s[0] == start for s in x_train)
    if "maxlen" in kwargs:
        assert all(len(s) < kwargs["maxlen"] for s in x_train)
    if compare_with(keras, "keras.datasets.imdb.load_data on the same file"):
        _assert_same(ours, _keras_loader(monkeypatch, "imdb", imdb_file)(**kwargs))


def test_imdb_word_arithmetic_by_hand(tmp_path):
    path = str(tmp_path / "tiny.npz")
    x = np.empty(2, dtype=object)
    x[:] = [[1, 2, 9], [4, 5]]
    np.savez(path, x_train=x, y_train=np.array([0, 1]), x_test=x, y_test=np.array([1, 0]))
    (x_train, y_train), _ = imdb.load_data(path, num_words=8, skip_top=5, seed=0)
    by_label = dict(zip(y_train.tolist(), [list(s) for s in x_train]))
    # +3 (index_from), 1 in front; kept only 5 <= w < 8, the rest the OOV 2
    assert by_label == {0: [2, 2, 5, 2], 1: [2, 7, 2]}


REUTERS_CASES = [dict(), dict(test_split=0.5, num_words=20), dict(maxlen=6, skip_top=2),
                 dict(oov_char=None, num_words=9, start_char=None)]


@pytest.mark.parametrize("kwargs", REUTERS_CASES, ids=str)
def test_reuters_matches_keras(reuters_file, monkeypatch, kwargs):
    ours = reuters.load_data(reuters_file, **kwargs)
    (x_train, _), (x_test, _) = ours
    if "maxlen" not in kwargs:
        assert len(x_train) == int(50 * (1 - kwargs.get("test_split", 0.2)))
        assert len(x_train) + len(x_test) == 50
    if compare_with(keras, "keras.datasets.reuters.load_data on the same file"):
        _assert_same(ours, _keras_loader(monkeypatch, "reuters", reuters_file)(**kwargs))


def test_label_names_are_keras():
    names = reuters.get_label_names()
    assert len(names) == 46 and names[3] == "earn" and names[-1] == "lead"
    if compare_with(keras, "keras.datasets.reuters.get_label_names"):
        assert names == keras.datasets.reuters.get_label_names()


def test_keras_file_names_origins_and_checksums():
    assert (imdb.DATA_FILE, reuters.DATA_FILE) == ("imdb.npz", "reuters.npz")
    assert word_sequences.KERAS_ORIGIN.endswith("/tf-keras-datasets/")
    if compare_with(keras, "the checksums in Keras's loaders"):
        for ours, theirs in ((imdb, keras.datasets.imdb), (reuters, keras.datasets.reuters)):
            source = inspect.getsource(sys.modules[theirs.load_data.__module__])
            for value in (ours.DATA_SHA256, ours.WORD_INDEX_MD5, ours.WORD_INDEX_FILE,
                          word_sequences.KERAS_ORIGIN):
                assert value in source


def _mirror(directory, files, monkeypatch, module):
    """Files placed in a local mirror directory, and ``module``'s checksums made theirs."""
    os.makedirs(directory, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
    monkeypatch.setattr(module, "DATA_SHA256", download.file_digest(
        os.path.join(directory, module.DATA_FILE), "sha256"))
    monkeypatch.setattr(module, "WORD_INDEX_MD5", download.file_digest(
        os.path.join(directory, module.WORD_INDEX_FILE), "md5"))
    return directory


def test_download_into_cache_then_read_offline(isolated, imdb_file, monkeypatch):
    words = json.dumps({"the": 1, "film": 2}).encode()
    mirror = _mirror(str(isolated / "mirror"), {"imdb.npz": open(imdb_file, "rb").read(),
                                                "imdb_word_index.json": words},
                     monkeypatch, imdb)
    first = imdb.load_data(origin=mirror)
    assert imdb.get_word_index(origin=mirror) == {"the": 1, "film": 2}
    cache = download.cache_dir("imdb")
    assert cache.startswith(str(isolated / "home"))
    assert sorted(os.listdir(cache)) == ["imdb.npz", "imdb_word_index.json"]
    os.remove(os.path.join(mirror, "imdb.npz"))  # the cache serves it now
    _assert_same(imdb.load_data(), first)


def test_origin_from_environment(isolated, reuters_file, monkeypatch):
    mirror = _mirror(str(isolated / "mirror"), {"reuters.npz": open(reuters_file, "rb").read(),
                                                "reuters_word_index.json": b'{"a": 1}'},
                     monkeypatch, reuters)
    monkeypatch.setenv("GRAPHNET_REUTERS_ORIGIN", (isolated / "mirror").as_uri())
    (x_train, _), _ = reuters.load_data()
    assert len(x_train) == 40
    assert reuters.get_word_index() == {"a": 1}
    assert os.path.isdir(mirror)


def test_download_refuses_a_corrupted_file(isolated, imdb_file, monkeypatch):
    mirror = _mirror(str(isolated / "mirror"), {"imdb.npz": open(imdb_file, "rb").read(),
                                                "imdb_word_index.json": b"{}"},
                     monkeypatch, imdb)
    with open(os.path.join(mirror, "imdb.npz"), "ab") as f:
        f.write(b"tampered")
    with pytest.raises(download.DatasetFileError, match="failed its checksum: SHA256"):
        imdb.load_data(origin=mirror)
    assert not os.listdir(download.cache_dir("imdb"))


def test_missing_everywhere_says_where_it_looked(isolated):
    with pytest.raises(FileNotFoundError, match="cache .*has no imdb.npz.*download") as info:
        imdb.load_data(origin=str(isolated / "no-mirror"))
    assert "imdb.npz" in str(info.value)


def test_a_pickled_payload_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo owned",))
    path = str(tmp_path / "evil.npz")
    x = np.empty(1, dtype=object)
    x[0] = Payload()
    np.savez(path, x=x, y=np.array([0]))
    with pytest.raises(download.DatasetFileError, match="Refusing to load `(posix|os).system`"):
        reuters.load_data(path)


def test_bad_files_and_arguments(tmp_path, reuters_file):
    not_zip = tmp_path / "bad.npz"
    not_zip.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(download.DatasetFileError, match="cannot be read as an .npz"):
        reuters.load_data(str(not_zip))
    with pytest.raises(download.DatasetFileError, match=r"lacks the arrays \['x_train'"):
        imdb.load_data(reuters_file)
    with pytest.raises(ValueError, match="`num_words` must be None or a positive integer"):
        reuters.load_data(reuters_file, num_words=0)
    with pytest.raises(ValueError, match="`skip_top` must be a non-negative integer"):
        reuters.load_data(reuters_file, skip_top=-1)
    with pytest.raises(ValueError, match="`test_split` must be in"):
        reuters.load_data(reuters_file, test_split=1.5)


def test_imdb_maxlen_keeping_nothing(imdb_file):
    with pytest.raises(ValueError, match="no sequence was kept. Increase maxlen"):
        imdb.load_data(imdb_file, maxlen=1)
