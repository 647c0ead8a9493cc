"""Safe zip archives of JSON and ``.npy`` entries: the container of every graphnet file.

Reading never executes anything from the file (no pickle, no marshal, no import)
and is bounded: the entry count, each entry's declared size, the total declared
size and the compression ratio are checked against ``Limits`` before a byte is
decompressed, and each entry is read back to exactly its declared size (its
CRC is checked by ``zipfile``). Every problem surfaces as ``FileFormatError``
(a ``ValueError``) naming the file and the entry.

This module imports only the standard library and NumPy, so the runtime-only
loader (``graphnet.export.compiled``) can use it.
"""
import contextlib
import io
import json
import os
import secrets
import stat
import zipfile
from dataclasses import dataclass

import numpy as np


class FileFormatError(ValueError):
    """A graphnet file is truncated, corrupted, hand-edited or unsafe."""


@dataclass(frozen=True)
class Limits:
    """Bounds a file must respect before anything in it is decompressed or parsed.

    ``max_ratio`` applies to compressed entries larger than ``ratio_floor`` bytes
    (graphnet writes arrays uncompressed, so a high ratio only comes from a zip bomb).
    ``max_buffer_bytes`` bounds each buffer a compiled plan runs with that the file does
    not hold (its arena, each input and output), checked at load.
    """
    max_entries: int = 100_000
    max_entry_bytes: int = 8 << 30
    max_total_bytes: int = 16 << 30
    max_json_bytes: int = 64 << 20
    max_ratio: float = 200.0
    ratio_floor: int = 1 << 16
    max_buffer_bytes: int = 4 << 30

    @classmethod
    def default(cls):
        """The defaults, with ``GRAPHNET_MAX_FILE_BYTES`` raising the total size bound."""
        env = os.environ.get("GRAPHNET_MAX_FILE_BYTES")
        if env:
            total = int(env)
            return cls(max_total_bytes=total, max_entry_bytes=min(total, cls.max_entry_bytes))
        return cls()


#: dtypes an array entry may hold (never object or structured dtypes)
ARRAY_DTYPES = ("float32", "float64", "int8", "int32", "int64", "uint8", "uint64", "bool")


def _display(path):
    return os.fspath(path) if isinstance(path, (str, os.PathLike)) else "<file object>"


class ClosingContext:
    """``with reader:`` closes the reader (its ``close()``) on the way out."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ArchiveReader(ClosingContext):
    """Read-only, checked view of a graphnet zip archive.

    ``ArchiveReader(path, kind)`` opens and validates the directory (sizes,
    names, compression methods); ``json(name)`` and ``array(name)`` read entries.
    """

    def __init__(self, path, kind="graphnet file", limits=None):
        self.name = _display(path)
        self.kind = kind
        self.limits = limits or Limits.default()
        if isinstance(path, (str, os.PathLike)) and not os.path.isfile(path):
            raise FileNotFoundError(f"{kind} not found: {self.name}")
        try:
            self._zip = zipfile.ZipFile(path, "r")
        except NotImplementedError as exc:  # an entry needs a newer zip than Python reads
            raise self.error(f"{exc} is not supported (entries must be stored or deflated, "
                             "zip version 6.3 at most)", _entry_needing_newer_zip(path)) from None
        except zipfile.BadZipFile as exc:
            raise self.error(f"not a valid zip archive ({exc}); the file is truncated, "
                             "corrupted, or not a graphnet file") from None
        except (OSError, EOFError, ValueError) as exc:
            raise self.error(f"cannot be read as a zip archive: {exc}") from None
        try:
            self._infos = self._check_directory()
        except Exception:
            self._zip.close()
            raise

    def error(self, message, entry=None):
        where = f" (entry {entry!r})" if entry else ""
        return FileFormatError(f"{self.kind} {self.name}{where}: {message}")

    def _check_directory(self):
        lim = self.limits
        infos = self._zip.infolist()
        if len(infos) > lim.max_entries:
            raise self.error(f"has {len(infos)} entries, more than the limit {lim.max_entries}")
        by_name, total = {}, 0
        for info in infos:
            name = info.filename
            if name in by_name:
                raise self.error("the entry name appears twice", name)
            if name.startswith(("/", "\\")) or ".." in name.split("/") or "\\" in name:
                raise self.error("unsafe entry name", name)
            if info.flag_bits & 0x1:
                raise self.error("encrypted entries are not supported", name)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self.error(f"compression method {info.compress_type} is not allowed "
                                 "(only stored or deflated)", name)
            size, packed = info.file_size, info.compress_size
            if size > lim.max_entry_bytes:
                raise self.error(f"declares {size} bytes, more than the per-entry limit "
                                 f"{lim.max_entry_bytes}", name)
            if info.compress_type == zipfile.ZIP_STORED and size != packed:
                raise self.error(f"a stored entry declares {size} bytes but holds {packed}",
                                 name)
            if size > lim.ratio_floor and size > lim.max_ratio * max(packed, 1):
                raise self.error(f"compression ratio {size / max(packed, 1):.0f}:1 exceeds "
                                 f"{lim.max_ratio:.0f}:1 (zip bomb?)", name)
            total += size
            by_name[name] = info
        if total > lim.max_total_bytes:
            raise self.error(f"declares {total} bytes in all, more than the limit "
                             f"{lim.max_total_bytes} (set GRAPHNET_MAX_FILE_BYTES to allow "
                             "larger files)")
        return by_name

    # -- entries -------------------------------------------------------------
    def names(self):
        return list(self._infos)

    def __contains__(self, name):
        return name in self._infos

    def read(self, name, max_bytes=None):
        """The bytes of entry ``name``: exactly its declared size, CRC checked."""
        info = self._infos.get(name)
        if info is None:
            raise self.error(f"missing entry {name!r}; the file is incomplete or not a "
                             f"{self.kind}")
        if max_bytes is not None and info.file_size > max_bytes:
            raise self.error(f"declares {info.file_size} bytes, more than {max_bytes}", name)
        try:
            with self._zip.open(info) as f:
                data = f.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
            raise self.error(f"is corrupted ({exc})", name) from None
        except Exception as exc:  # zlib.error and friends
            raise self.error(f"is corrupted ({type(exc).__name__}: {exc})", name) from None
        if len(data) != info.file_size:
            raise self.error(f"holds {len(data)} bytes but declares {info.file_size} "
                             "(truncated or corrupted)", name)
        return data

    def json(self, name):
        data = self.read(name, self.limits.max_json_bytes)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise self.error(f"is not valid JSON ({exc})", name) from None

    def array(self, name, shape=None, dtype=None):
        """The array in ``.npy`` entry ``name``; checked against ``shape``/``dtype`` if given."""
        array = parse_npy(self.read(name), lambda msg: self.error(msg, name))
        if dtype is not None and str(array.dtype) != str(np.dtype(dtype)):
            raise self.error(f"holds dtype {array.dtype}, expected {np.dtype(dtype)}", name)
        if shape is not None and tuple(array.shape) != tuple(shape):
            raise self.error(f"holds shape {tuple(array.shape)}, expected {tuple(shape)}", name)
        return array

    def close(self):
        self._zip.close()


def _entry_needing_newer_zip(path):
    """The name of the first entry of zip ``path`` whose 'version needed to extract' is above
    what zipfile reads, from its central directory; None if that cannot be told."""
    try:
        with open(path, "rb") if isinstance(path, (str, os.PathLike)) else \
                contextlib.nullcontext(path) as f:
            end = zipfile._EndRecData(f)
            if not end:
                return None
            f.seek(end[zipfile._ECD_OFFSET])
            directory = f.read(end[zipfile._ECD_SIZE])
    except (OSError, ValueError, AttributeError):
        return None
    pos = 0
    while pos + 46 <= len(directory) and directory[pos:pos + 4] == b"PK\x01\x02":
        needed = int.from_bytes(directory[pos + 6:pos + 8], "little")
        name_len, extra_len, comment_len = (int.from_bytes(directory[pos + i:pos + i + 2],
                                                           "little") for i in (28, 30, 32))
        if needed > zipfile.MAX_EXTRACT_VERSION:
            return directory[pos + 46:pos + 46 + name_len].decode("utf-8", "replace")
        pos += 46 + name_len + extra_len + comment_len
    return None


def parse_npy(data, error):
    """An array from ``.npy`` bytes, without pickle; ``error(msg)`` builds the exception."""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as exc:  # numpy raises ValueError, EOFError, SyntaxError...
        raise error(f"is not a valid .npy array ({exc})") from None
    if dtype.hasobject or dtype.fields is not None or str(dtype.newbyteorder("=")) \
            not in ARRAY_DTYPES:
        raise error(f"holds dtype {dtype}, which graphnet files never contain (allowed: "
                    f"{', '.join(ARRAY_DTYPES)})")
    if any(int(d) < 0 for d in shape):
        raise error(f"has a negative dimension in shape {shape}")
    count = int(np.prod(shape, dtype=object))
    body = data[f.tell():]
    if len(body) != count * dtype.itemsize:
        raise error(f"declares shape {shape} {dtype} ({count * dtype.itemsize} bytes) but "
                    f"holds {len(body)} bytes of data (truncated or corrupted)")
    array = np.frombuffer(body, dtype=dtype, count=count)
    array = array.reshape(shape, order="F" if fortran else "C")
    return np.array(array, dtype=dtype.newbyteorder("="), order="C")


def npy_bytes(array):
    """``.npy`` bytes of a (non-object) array."""
    array = np.asarray(array)
    if str(array.dtype) not in ARRAY_DTYPES:
        raise TypeError(f"cannot store an array of dtype {array.dtype} (allowed: "
                        f"{', '.join(ARRAY_DTYPES)})")
    f = io.BytesIO()
    np.lib.format.write_array(f, np.asarray(array, order="C"), allow_pickle=False)
    return f.getvalue()


def _create_beside(path, directory):
    """A new empty file in ``directory`` to be renamed over ``path``, with the mode open()
    would give ``path``: that of the file it replaces, else 0666 less the umask (which
    the kernel applies, as it applies a default ACL). tempfile.mkstemp's files are 0600
    whatever the umask."""
    for _ in range(100):
        tmp = os.path.join(directory, f".graphnet-{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        try:
            replaced = os.stat(path)
        except FileNotFoundError:
            return tmp
        if stat.S_ISREG(replaced.st_mode):
            os.chmod(tmp, stat.S_IMODE(replaced.st_mode))
        return tmp
    raise FileExistsError(f"no free temporary file name in {directory} after 100 tries")


class ArchiveWriter:
    """Writes a zip archive atomically: to a temporary file renamed over ``path`` on
    success, so an interrupted save never leaves a half-written file behind."""

    def __init__(self, path, overwrite=True):
        self.path = os.fspath(path)
        if not overwrite and os.path.exists(self.path):
            raise FileExistsError(f"{self.path} exists; pass overwrite=True to replace it")
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"directory {directory} does not exist")
        self._tmp = _create_beside(self.path, directory)
        self._zip = zipfile.ZipFile(self._tmp, "w", allowZip64=True)

    def json(self, name, obj):
        text = json.dumps(obj, indent=1, sort_keys=False)
        self._zip.writestr(name, text.encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)

    def array(self, name, array):
        # stored, not deflated: a legitimate entry then never has a bomb-like ratio
        self._zip.writestr(name, npy_bytes(array), compress_type=zipfile.ZIP_STORED)

    def bytes(self, name, data, compress=True):
        self._zip.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if compress
                           else zipfile.ZIP_STORED)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self._zip.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            os.unlink(self._tmp)
