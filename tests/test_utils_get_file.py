"""gn.utils.get_file: the cache, checksums, extraction that stays inside its directory,
file:// origins; against keras.utils.get_file where Keras gives a value."""
import hashlib
import io
import os
import tarfile
import zipfile

import pytest
from extras import compare_with, keras

import graphnet as gn
from graphnet import file_utils


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path / "home"))
    for cache in ("gn", "k"):   # Keras falls back to /tmp/.keras for a missing cache_dir
        (tmp_path / cache).mkdir()
    return tmp_path


def _source(tmp_path, name="data.bin", payload=b"graphnet payload\n"):
    path = tmp_path / "origin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(payload)
    return path


def _tar_gz(path, members):
    """A .tar.gz at ``path`` of (TarInfo-like dict) members: name, data, type, linkname."""
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            info = tarfile.TarInfo(member["name"])
            info.type = member.get("type", tarfile.REGTYPE)
            info.linkname = member.get("linkname", "")
            data = member.get("data", b"")
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            archive.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return path


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def test_default_cache_is_graphnet_home_datasets(home):
    src = _source(home)
    path = gn.utils.get_file(origin=src.as_uri())
    assert path == str(home / "home" / "datasets" / "data.bin")
    assert open(path, "rb").read() == src.read_bytes()


def test_same_place_and_bytes_as_keras(home):
    src = _source(home)
    ours = gn.utils.get_file("renamed.bin", src.as_uri(), cache_dir=home / "gn",
                             cache_subdir="sub")
    assert ours == str(home / "gn" / "sub" / "renamed.bin")
    if compare_with(keras, "keras.utils.get_file on a file:// origin"):
        theirs = keras.utils.get_file("renamed.bin", src.as_uri(), cache_dir=home / "k",
                                      cache_subdir="sub")
        assert os.path.relpath(ours, home / "gn") == os.path.relpath(theirs, home / "k")
        assert open(ours, "rb").read() == open(theirs, "rb").read()


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_checksums_accepted_and_refused(home, algorithm):
    src = _source(home)
    good = hashlib.new(algorithm, src.read_bytes()).hexdigest()
    path = gn.utils.get_file(origin=src.as_uri(), file_hash=good)
    assert file_utils.validate_file(path, good)
    assert file_utils.hash_file(path, algorithm) == good
    os.remove(path)
    wrong = "0" * len(good)
    with pytest.raises(ValueError, match=f"failed its checksum: {algorithm.upper()}"):
        gn.utils.get_file(origin=src.as_uri(), file_hash=wrong, hash_algorithm=algorithm)
    assert not os.listdir(home / "home" / "datasets")   # nothing half-written left
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    assert os.path.isfile(gn.utils.get_file(origin=src.as_uri(), md5_hash=md5))


def test_cached_file_with_wrong_hash_is_downloaded_again(home):
    src = _source(home)
    path = gn.utils.get_file(origin=src.as_uri())
    with open(path, "wb") as f:
        f.write(b"stale")
    assert open(gn.utils.get_file(origin=src.as_uri()), "rb").read() == b"stale"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert open(gn.utils.get_file(origin=src.as_uri(), file_hash=digest), "rb").read() == \
        src.read_bytes()


def test_force_download_fetches_again(home):
    src = _source(home)
    gn.utils.get_file(origin=src.as_uri())
    src.write_bytes(b"new contents")
    assert open(gn.utils.get_file(origin=src.as_uri()), "rb").read() != b"new contents"
    path = gn.utils.get_file(origin=src.as_uri(), force_download=True)
    assert open(path, "rb").read() == b"new contents"


def test_extract_tar_and_zip_where_keras_does(home):
    tar = _tar_gz(home / "pack.tar.gz", [{"name": "pack/a.txt", "data": b"A"},
                                         {"name": "pack", "type": tarfile.DIRTYPE}])
    zipped = _zip(home / "bundle.zip", [("b/c.txt", b"C")])
    cases = [(None, tar, True, {}), ("pack.tar.gz", tar, True, {}), ("bundle", zipped, True,
             {"archive_format": "zip"}), (None, tar, False, {"untar": True})]
    for i, (fname, archive, extract, extra) in enumerate(cases):
        mine, keras_cache = home / "gn" / str(i), home / "k" / str(i)
        mine.mkdir()
        keras_cache.mkdir()
        ours = gn.utils.get_file(fname, archive.as_uri(), extract=extract, cache_dir=mine,
                                 **extra)
        member = "pack/a.txt" if archive is tar else "b/c.txt"
        assert os.path.isfile(os.path.join(ours, member)), (fname, ours)
        if compare_with(keras, "keras.utils.get_file's extraction directory"):
            theirs = keras.utils.get_file(fname, archive.as_uri(), extract=extract,
                                          cache_dir=keras_cache, **extra)
            assert os.path.relpath(ours, mine) == os.path.relpath(theirs, keras_cache)
            assert sorted(os.listdir(ours)) == sorted(os.listdir(theirs))


def test_not_an_archive_warns(home):
    src = _source(home, "plain.txt")
    with pytest.warns(UserWarning, match="could not extract .*plain.txt_archive"):
        path = gn.utils.get_file(origin=src.as_uri(), extract=True)
    assert path.endswith("plain.txt")


HOSTILE_TARS = {
    "parent": [{"name": "../evil.txt", "data": b"x"}],
    "absolute": [{"name": "/tmp/graphnet-evil-absolute.txt", "data": b"x"}],
    "symlink out": [{"name": "link", "type": tarfile.SYMTYPE, "linkname": "../../outside"}],
    "absolute symlink": [{"name": "link", "type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}],
    "hard link out": [{"name": "hard", "type": tarfile.LNKTYPE, "linkname": "../outside"}],
    "fifo": [{"name": "pipe", "type": tarfile.FIFOTYPE}],
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TARS))
def test_tar_members_outside_the_target_are_refused(home, case):
    archive = _tar_gz(home / "hostile.tar.gz",
                      [{"name": "fine.txt", "data": b"ok"}] + HOSTILE_TARS[case])
    with pytest.raises(file_utils.UnsafeArchiveError, match="nothing was extracted"):
        gn.utils.get_file("hostile", archive.as_uri(), extract=True)
    target = home / "home" / "datasets" / "hostile"
    assert not target.exists()
    assert not (home / "home" / "evil.txt").exists()
    assert not os.path.exists("/tmp/graphnet-evil-absolute.txt")


def test_links_inside_the_target_are_extracted(home):
    archive = _tar_gz(home / "links.tar.gz", [
        {"name": "d/real.txt", "data": b"R"},
        {"name": "d/soft", "type": tarfile.SYMTYPE, "linkname": "real.txt"},
        {"name": "d/hard", "type": tarfile.LNKTYPE, "linkname": "d/real.txt"}])
    path = gn.utils.get_file("links", archive.as_uri(), extract=True)
    assert open(os.path.join(path, "d", "soft"), "rb").read() == b"R"
    assert open(os.path.join(path, "d", "hard"), "rb").read() == b"R"


def test_zip_traversal_is_refused(home):
    archive = _zip(home / "hostile.zip", [("ok.txt", b"ok"), ("../../evil.txt", b"x")])
    with pytest.raises(file_utils.UnsafeArchiveError, match="'../../evil.txt'"):
        gn.utils.get_file("hostile", archive.as_uri(), extract=True)
    assert not (home / "evil.txt").exists()
    assert not (home / "home" / "datasets" / "hostile").exists()


def test_bad_arguments(home):
    src = _source(home)
    with pytest.raises(ValueError, match='specify the "origin"'):
        gn.utils.get_file("x")
    with pytest.raises(ValueError, match="origin must be a URL"):
        gn.utils.get_file(origin=str(src))
    with pytest.raises(ValueError, match="`fname` must be a file name, not a path"):
        gn.utils.get_file(os.path.join("a", "b"), src.as_uri())
    with pytest.raises(ValueError, match="hash_algorithm must be one of"):
        gn.utils.get_file(origin=src.as_uri(), hash_algorithm="sha1")
    with pytest.raises(ValueError, match="archive_format must be"):
        gn.utils.get_file(origin=src.as_uri(), extract=True, archive_format="rar")
    with pytest.raises(ValueError, match="cannot parse a file name"):
        gn.utils.get_file(origin="file:///")
    with pytest.raises(OSError, match="URL fetch failure on file://.*missing.bin"):
        gn.utils.get_file(origin=(home / "missing.bin").as_uri())
