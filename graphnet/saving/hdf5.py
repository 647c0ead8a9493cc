"""Checked HDF5 access for Keras's files (``.weights.h5``, ``model.weights.h5`` inside a
``.keras`` zip, Keras 2's ``.h5`` models), through the optional extra h5py
(``pip install graphnet[h5]``).

Reading is bounded and refers to nothing outside the file: before any dataset is read,
the whole file is walked once and refused (``FileFormatError``) if it holds more objects
than ``Limits.max_entries``, a soft or external link, a dataset stored in an external
file or as a virtual dataset, a dtype graphnet files never hold, or declared sizes above
``Limits.max_entry_bytes`` / ``max_total_bytes`` (a compressed dataset's declared size is
what reading it would allocate). Writing is atomic, as for graphnet's zips.
"""
import json
import os

import numpy as np

from .archive import (ARRAY_DTYPES, ClosingContext, FileFormatError, Limits, _create_beside,
                      _display)


def require_h5py(what):
    """The h5py module, or an ImportError saying how to install it."""
    try:
        import h5py
    except ImportError as exc:
        raise ImportError(f"{what} needs h5py, an optional extra of graphnet: pip install "
                          f"'graphnet[h5]' (or pip install h5py); {exc}") from None
    return h5py


class H5Reader(ClosingContext):
    """A read-only, checked view of an HDF5 file: ``array(path)``, ``attr(path, name)``,
    ``keys(path)``; every problem is a ``FileFormatError`` naming the file and the path."""

    def __init__(self, source, kind, limits=None):
        h5py = require_h5py(f"reading a {kind}")
        self.name, self.kind = _display(source), kind
        self.limits = limits or Limits.default()
        if isinstance(source, (str, os.PathLike)) and not os.path.isfile(source):
            raise FileNotFoundError(f"{kind} not found: {self.name}")
        try:
            self._file = h5py.File(source, "r")
        except (OSError, ValueError) as exc:
            raise self.error(f"is not a valid HDF5 file ({exc}); it is truncated, corrupted "
                             "or of another format") from None
        try:
            self._check_objects(h5py)
        except Exception:
            self._file.close()
            raise

    def error(self, message, path=None):
        where = f" (at {path!r})" if path else ""
        return FileFormatError(f"{self.kind} {self.name}{where}: {message}")

    def _check_objects(self, h5py):
        lim, links = self.limits, []

        def collect(name, link):    # raising inside h5py's visit would be a SystemError
            links.append((name, link))
            return None if len(links) <= lim.max_entries else True
        try:
            self._file.visititems_links(collect)
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise self.error(f"cannot be walked ({exc}); the file is truncated or "
                             "corrupted") from None
        if len(links) > lim.max_entries:
            raise self.error(f"holds more than {lim.max_entries} objects")
        total = 0
        for name, link in links:
            if not isinstance(link, h5py.HardLink):
                raise self.error(f"holds a {type(link).__name__}; graphnet reads only what "
                                 "the file itself holds", name)
        for name, _ in links:
            try:
                obj = self._file[name]
            except (OSError, KeyError, ValueError, RuntimeError) as exc:
                raise self.error(f"cannot be read ({exc}); the file is truncated or "
                                 "corrupted", name) from None
            if isinstance(obj, h5py.Dataset):
                total += self._check_dataset(name, obj)
        if total > lim.max_total_bytes:
            raise self.error(f"declares {total} bytes of data in all, more than the limit "
                             f"{lim.max_total_bytes} (set GRAPHNET_MAX_FILE_BYTES to allow "
                             "larger files)")

    def _check_dataset(self, name, dataset):
        if dataset.external or dataset.is_virtual:
            raise self.error("is stored outside the file (external or virtual dataset)", name)
        dtype = dataset.dtype
        if str(dtype.newbyteorder("=")) not in ARRAY_DTYPES:
            raise self.error(f"holds dtype {dtype}, which Keras's weights never are (allowed: "
                             f"{', '.join(ARRAY_DTYPES)})", name)
        nbytes = int(np.prod(dataset.shape, dtype=object)) * dtype.itemsize
        if nbytes > self.limits.max_entry_bytes:
            raise self.error(f"declares {nbytes} bytes, more than the per-entry limit "
                             f"{self.limits.max_entry_bytes}", name)
        return nbytes

    def has(self, path):
        return path in self._file

    def keys(self, path):
        group = self._file[path] if path else self._file
        return list(group.keys())

    def is_dataset(self, path):
        return hasattr(self._file[path], "dtype")

    def array(self, path):
        if path not in self._file or not self.is_dataset(path):
            raise self.error("missing dataset; the file is incomplete or was written for "
                             "another model", path)
        try:
            return np.array(self._file[path][()])
        except (OSError, ValueError, RuntimeError) as exc:
            raise self.error(f"the dataset cannot be read ({exc}); the file is truncated or "
                             "corrupted", path) from None

    def attr(self, path, name, default=None):
        """An attribute as Python data: bytes decoded, arrays of strings as lists."""
        obj = self._file[path] if path else self._file
        if name not in obj.attrs:
            return default
        value = obj.attrs[name]
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if isinstance(value, np.ndarray):
            return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in
                    value.tolist()]
        return value

    def json_attr(self, path, name):
        text = self.attr(path, name)
        if text is None:
            return None
        if not isinstance(text, str) or len(text) > self.limits.max_json_bytes:
            raise self.error(f"attribute {name!r} is not a JSON string within "
                             f"{self.limits.max_json_bytes} bytes", path or "/")
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise self.error(f"attribute {name!r} is not valid JSON ({exc})",
                             path or "/") from None

    def close(self):
        self._file.close()


class H5Writer:
    """An HDF5 file written atomically (to a temporary file renamed over ``path``)."""

    def __init__(self, target, overwrite=True, what="saving"):
        h5py = require_h5py(what)
        self._tmp = None
        if isinstance(target, (str, os.PathLike)):
            self.path = os.fspath(target)
            if not overwrite and os.path.exists(self.path):
                raise FileExistsError(f"{self.path} exists; pass overwrite=True to replace it")
            directory = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(directory):
                raise FileNotFoundError(f"directory {directory} does not exist")
            self._tmp = _create_beside(self.path, directory)
            target = self._tmp
        self.file = h5py.File(target, "w")

    def group(self, path, attrs=None):
        group = self.file.require_group(path) if path else self.file
        for key, value in (attrs or {}).items():
            group.attrs[key] = value
        return group

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.file.close()
        if self._tmp is None:
            return
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            os.unlink(self._tmp)
