"""``gn.utils.get_file``: Keras 3's download cache, on graphnet's dataset cache
(``graphnet.datasets.download``), with archives extracted only inside their target."""
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import warnings
import zipfile

from .datasets import download

HASH_ALGORITHMS = ("auto", "md5", "sha256")
ARCHIVE_FORMATS = ("tar", "zip")


class UnsafeArchiveError(ValueError):
    """An archive holds a member that would land outside the extraction directory."""


def resolve_hasher(algorithm, file_hash=None):
    """The hashlib object of ``algorithm``: "auto" is SHA-256 for a 64-digit
    ``file_hash``, else MD5 (Keras's rule)."""
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"get_file: hash_algorithm must be one of {HASH_ALGORITHMS}, got "
                         f"{algorithm!r}")
    if algorithm == "sha256" or algorithm == "auto" and file_hash is not None and \
            len(file_hash) == 64:
        return "sha256"
    return "md5"


def hash_file(fpath, algorithm="sha256", chunk_size=65535):
    """The hex digest of the file ``fpath`` ("sha256", "md5" or "auto": SHA-256)."""
    return download.file_digest(fpath, resolve_hasher(algorithm), chunk_size)


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535):
    """Whether the file ``fpath`` has the digest ``file_hash``."""
    return hash_file(fpath, resolve_hasher(algorithm, file_hash), chunk_size) == str(file_hash)


# -- extraction ----------------------------------------------------------------------------
def _inside(base, relative):
    """``base/relative`` resolved, or None when it lies outside ``base``."""
    path = os.path.realpath(os.path.join(base, relative))
    return path if os.path.commonpath([path, base]) == base else None


def _check_tar_member(member, base, archive):
    if _inside(base, member.name) is None:
        raise UnsafeArchiveError(f"archive {archive}: member {member.name!r} would be "
                                 f"extracted outside {base}; nothing was extracted")
    if member.issym() or member.islnk():
        # a hard link names a path from the archive's root; a symbolic link one from its
        # own directory
        start = base if member.islnk() else os.path.dirname(_inside(base, member.name))
        if _inside(base, os.path.join(start, member.linkname)) is None:
            kind = "hard" if member.islnk() else "symbolic"
            raise UnsafeArchiveError(f"archive {archive}: member {member.name!r} is a {kind} "
                                     f"link to {member.linkname!r}, outside {base}; nothing "
                                     "was extracted")
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"archive {archive}: member {member.name!r} is a device or "
                                 "FIFO, which is never extracted; nothing was extracted")


def _extract_tar(file_path, path):
    with tarfile.open(file_path) as archive:
        members = archive.getmembers()
        for member in members:
            _check_tar_member(member, path, file_path)
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: its checks as well as ours
            archive.extractall(path, members=members, filter="data")
        else:
            archive.extractall(path, members=members)


def _extract_zip(file_path, path):
    with zipfile.ZipFile(file_path) as archive:
        for name in archive.namelist():
            if _inside(path, name) is None:
                raise UnsafeArchiveError(f"archive {file_path}: member {name!r} would be "
                                         f"extracted outside {path}; nothing was extracted")
        archive.extractall(path)


_EXTRACTORS = {"tar": (tarfile.is_tarfile, _extract_tar),
               "zip": (zipfile.is_zipfile, _extract_zip)}


def extract_archive(file_path, path=".", archive_format="auto"):
    """Extract the tar (``.tar``, ``.tar.gz``, ``.tar.bz2``, ...) or zip archive
    ``file_path`` into ``path``; True when one of ``archive_format`` ("auto": tar then
    zip; "tar", "zip", a list of them, or None: none) matched.

    An archive with a member that would land outside ``path`` (an absolute name, ``..``,
    a link pointing out) raises ``UnsafeArchiveError`` before anything is written; a
    failed extraction removes ``path``."""
    formats = _archive_formats(archive_format)
    path = os.path.realpath(os.fspath(path))
    for name in formats:
        is_match, extract = _EXTRACTORS[name]
        if is_match(file_path):
            os.makedirs(path, exist_ok=True)
            try:
                extract(file_path, path)
            except (tarfile.TarError, zipfile.BadZipFile, UnsafeArchiveError, OSError):
                shutil.rmtree(path, ignore_errors=True)
                raise
            return True
    return False


def _archive_formats(archive_format):
    if archive_format is None:
        return []
    if archive_format == "auto":
        return list(ARCHIVE_FORMATS)
    formats = [archive_format] if isinstance(archive_format, str) else list(archive_format)
    for name in formats:
        if name not in ARCHIVE_FORMATS:
            raise ValueError(f"get_file: archive_format must be 'auto', None, or one or a "
                             f"list of {ARCHIVE_FORMATS}, got {archive_format!r}")
    return formats


# -- get_file ------------------------------------------------------------------------------
def _writable_base(cache_dir):
    base = os.path.expanduser(os.fspath(cache_dir))
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if os.access(base, os.W_OK):
        return base
    return os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(),
                        ".graphnet")


def _download_progress():
    """A ``fetch_url`` progress callback drawing a Progbar (bytes) once the size is known."""
    from .progbar import Progbar
    bars = []

    def progress(done, total):
        if not bars:
            bars.append(Progbar(total))
        bars[0].update(done)
    return progress


def _targets(fname, origin, datadir, extract):
    """(download target, extraction directory or None), named as Keras names them."""
    provided = fname is not None and fname != ""
    if not provided:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"get_file: cannot parse a file name from origin={origin!r}; "
                             "pass `fname`")
    elif os.sep in fname:
        raise ValueError(f"get_file: `fname` must be a file name, not a path (put the "
                         f"directory in `cache_dir`), got fname={fname!r}")
    if not extract:
        return os.path.join(datadir, fname), None
    if provided and "." in fname:
        stem = fname[:fname.find(".")]
        return os.path.join(datadir, fname), os.path.join(datadir, f"{stem}_extracted")
    return os.path.join(datadir, f"{fname}_archive"), os.path.join(datadir, fname)


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):
    """Downloads a file from a URL if it is not already in the cache (as
    ``keras.utils.get_file``).

    The file at ``origin`` goes to ``cache_dir/cache_subdir/fname``: by default
    ``$GRAPHNET_HOME/datasets/`` or ``~/.graphnet/datasets/`` (the cache graphnet's
    dataset loaders share; ``/tmp/.graphnet/datasets`` when that is not writable). A
    cached file is used as it is, or downloaded again when it fails ``file_hash``.

    Args:
        fname: the file's name in the cache (default: the last part of ``origin``); with
            ``extract``, a name without an extension is the extraction directory's.
        origin: the URL (``https://``, ``http://``, ``ftp://`` or ``file://``).
        untar: deprecated: ``extract=True`` with ``archive_format="tar"``.
        md5_hash: deprecated: ``file_hash`` with ``hash_algorithm="md5"``.
        file_hash: the expected MD5 or SHA-256 hex digest of the downloaded file.
        cache_subdir: the subdirectory of ``cache_dir`` (an absolute path is used as is).
        hash_algorithm: "md5", "sha256" or "auto" (by the length of ``file_hash``).
        extract: extract the downloaded tar or zip archive (members that would land
            outside the extraction directory are refused, see ``extract_archive``).
        archive_format: "auto" (tar, then zip), "tar", "zip", a list of them, or None.
        cache_dir: the cache's root (default ``$GRAPHNET_HOME`` or ``~/.graphnet``).
        force_download: download even when the file is cached.

    Returns:
        The path of the downloaded file, or of the extraction directory with ``extract``.
    """
    if origin is None:
        raise ValueError('get_file: specify the "origin" argument (the URL of the file to '
                         "download)")
    if "://" not in str(origin):
        raise ValueError(f"get_file: origin must be a URL (https://..., file://...), got "
                         f"origin={origin!r}; for a local file pass pathlib.Path(path)"
                         ".as_uri()")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    algorithm = resolve_hasher(hash_algorithm, file_hash)
    formats = _archive_formats("tar" if untar else archive_format)
    base = _writable_base(download.graphnet_home() if cache_dir is None else cache_dir)
    datadir = os.path.join(base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    fname = None if fname is None else os.fspath(fname)
    target, extraction_dir = _targets(fname, origin, datadir, extract or untar)
    needed = force_download or not os.path.exists(target)
    if not needed and file_hash is not None and not validate_file(target, file_hash,
                                                                  algorithm):
        print(f"A local file was found, but it seems to be incomplete or outdated because "
              f"the {algorithm} file hash does not match the original value of {file_hash} "
              "so we will re-download the data.")
        needed = True
    if needed:
        print(f"Downloading data from {origin}")
        try:
            download.fetch_url(origin, target, file_hash, algorithm, "get_file: download",
                               progress=_download_progress())
        except OSError as e:
            raise OSError(f"get_file: URL fetch failure on {origin}: {e}") from e
    if extraction_dir is None:
        return target
    if not extract_archive(target, extraction_dir, formats):
        warnings.warn(f"get_file: could not extract {target}: it is not a "
                      f"{' or '.join(formats) or 'supported'} archive", stacklevel=2)
    return extraction_dir


__all__ = ["get_file", "extract_archive", "hash_file", "validate_file", "UnsafeArchiveError"]
