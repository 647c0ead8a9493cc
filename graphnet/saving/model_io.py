"""Whole-model files (``model.save`` / ``gn.models.load_model``) and weight files
(``model.save_weights`` / ``model.load_weights``).

``.keras`` files are Keras 3's format (``keras_file``: Keras opens them), ``.h5`` files
Keras 2's (``legacy_h5``) and ``.weights.h5`` files Keras 3's weights (``keras_weights``);
a ``.keras`` file graphnet wrote before it wrote Keras's format still loads. A graphnet
model file (``.graphnet``) is a zip archive (``archive.py``):

    metadata.json        {"format": "graphnet.model", "format_version": 1, ...,
                          "weights": [{name, shape, dtype, entry}, ...],
                          "optimizer_variables": [{name, shape, dtype, entry}, ...]}
    config.json          model.to_json()'s object, plus "compile_config" when compiled
    weights/00000.npy    one .npy per weight, in Keras order (model.weights)
    optimizer/00000.npy  one .npy per optimizer variable (when compiled)

A weights file (``.weights.npz``) is an ``.npz`` archive (``numpy.load`` reads it):
``manifest.json`` plus ``weight_00000.npy``, ...

Loading is safe by default (CVE-2024-3660): nothing in the file is executed or
imported; layers resolve from graphnet's registry or ``custom_objects``; a Python
lambda (bytecode) is refused unless ``safe_mode=False``. Every array is read and
checked (shape, dtype) before the model is built, and every weight shape is
checked before any weight is written, so a bad file raises ``FileFormatError``
(a ``ValueError``) and never yields a half-loaded model.
"""
import contextlib
import datetime
import os
import warnings

import numpy as np

from . import keras_file, keras_weights, legacy_h5
from .hdf5 import H5Reader
from .archive import ARRAY_DTYPES, ArchiveReader, ArchiveWriter, FileFormatError  # noqa: F401

FORMAT = "graphnet.model"
WEIGHTS_FORMAT = "graphnet.weights"
FORMAT_VERSION = 1
MODEL_EXTENSIONS = (".graphnet", ".keras", ".h5")
WEIGHTS_EXTENSION = ".weights.npz"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _version():
    from .. import __version__
    return __version__


# -- small helpers -------------------------------------------------------------------
def _value(var):
    """The NumPy value of a graphnet Variable (or anything with .numpy() / .value)."""
    if hasattr(var, "numpy"):
        return np.asarray(var.numpy())
    return np.asarray(getattr(var, "value", var))


def _manifest(variables, prefix, pattern="{prefix}/{i:05d}.npy"):
    entries, arrays = [], []
    for i, var in enumerate(variables):
        array = np.array(_value(var), order="C")  # (ascontiguousarray makes 0-d 1-d)
        entries.append({"name": getattr(var, "name", f"variable_{i}"),
                        "shape": list(array.shape), "dtype": str(array.dtype),
                        "entry": pattern.format(prefix=prefix, i=i)})
        arrays.append(array)
    return entries, arrays


def _check_manifest(reader, entries, what):
    """Validate a manifest's structure (lists of {name, shape, dtype, entry})."""
    if not isinstance(entries, list):
        raise reader.error(f"'{what}' in the metadata must be a list, got "
                           f"{type(entries).__name__}")
    for i, e in enumerate(entries):
        ok = isinstance(e, dict) and isinstance(e.get("entry"), str) and \
            isinstance(e.get("shape"), list) and \
            all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in e["shape"]) \
            and e.get("dtype") in ARRAY_DTYPES
        if not ok:
            raise reader.error(f"'{what}' entry {i} is malformed (needs entry, a shape of "
                               f"non-negative ints and a dtype in {ARRAY_DTYPES}): {e!r}")
    return entries


def _read_arrays(reader, entries):
    return [reader.array(e["entry"], e["shape"], e["dtype"]) for e in entries]


def _check_assignable(reader, variables, arrays, entries, what, skip_mismatch=False):
    """Indices of the arrays to assign; raises before anything is written."""
    if len(arrays) != len(variables):
        raise reader.error(f"holds {len(arrays)} {what} but the model has "
                           f"{len(variables)}")
    keep = []
    for i, (var, array, entry) in enumerate(zip(variables, arrays, entries)):
        shape = tuple(_value(var).shape)
        if tuple(array.shape) != shape:
            message = (f"{what[:-1]} {i} ({entry.get('name')!r} in the file, "
                       f"{getattr(var, 'name', '?')!r} in the model) has shape "
                       f"{tuple(array.shape)} in the file but {shape} in the model")
            if skip_mismatch:
                warnings.warn(f"{reader.name}: skipping {message}", stacklevel=3)
                continue
            raise reader.error(message)
        keep.append(i)
    return keep


def _assign(variables, arrays, indices):
    for i in indices:
        variables[i].assign(arrays[i])


def _load_hdf5_weights(model, filepath, skip_mismatch, limits):
    """Keras 3's ``.weights.h5`` layout, or Keras 2's (``layer_names`` at the top, or in
    the ``model_weights`` group of a whole-model ``.h5``)."""
    with H5Reader(filepath, "Keras weights file", limits) as reader:
        if reader.attr("", "layer_names") is not None:
            legacy_h5.read_layer_weights(reader, model, "", skip_mismatch)
        elif reader.has("model_weights"):
            legacy_h5.read_layer_weights(reader, model, "model_weights", skip_mismatch)
        else:
            keras_weights.read_weights(reader, model, skip_mismatch)


def _is_hdf5(path):
    """True when ``path`` is an HDF5 file (its signature), whatever its name."""
    try:
        with open(path, "rb") as f:
            return f.read(8) == HDF5_SIGNATURE
    except (OSError, TypeError):
        return False


def _check_extension(path, extensions, what):
    name = os.fspath(path)
    if not name.endswith(extensions):
        raise ValueError(f"{what}: the file name must end in {' or '.join(extensions)}, "
                         f"got {name!r}")


# -- config safety -----------------------------------------------------------------------
def _looks_like_import_path(name):
    return any(c in name for c in ".:>/\\")


def check_config_safety(reader, config, custom_objects=None, safe_mode=True):
    """Refuse, before building anything, a config that would run code from the file
    (a lambda's bytecode, in safe mode) or that names an import path."""
    custom_objects = custom_objects or {}

    def walk(value, where, depth):
        if depth > 200:
            raise reader.error("config.json is nested too deeply", "config.json")
        if isinstance(value, list):
            for v in value:
                walk(v, where, depth + 1)
            return
        if not isinstance(value, dict):
            return
        where = value.get("name") if isinstance(value.get("name"), str) else where
        cfg = value.get("config")
        if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
            where = cfg["name"]
        cls = value.get("class_name")
        if cls == "__lambda__":
            if safe_mode:
                raise reader.error(
                    f"layer {where!r} holds a Python lambda (marshalled bytecode). Loading "
                    "it would execute code from the file, which is refused by default "
                    "(CVE-2024-3660). If you trust this file, load it with "
                    "safe_mode=False; better, use a named function and pass it in "
                    "custom_objects.", "config.json")
            return
        if isinstance(cls, str) and _looks_like_import_path(cls) and cls not in custom_objects:
            raise reader.error(
                f"layer {where!r} names the import path {cls!r}; graphnet never imports "
                "modules named in a file. Register the class and pass it in "
                "custom_objects under that name.", "config.json")
        for v in value.values():
            walk(v, where, depth + 1)

    walk(config, None, 0)


# -- saving --------------------------------------------------------------------------------
def _nested(value, fn):
    if isinstance(value, dict):
        return {k: _nested(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nested(v, fn) for v in value]
    return fn(value)


def _serialize_compile(model):
    """{optimizer, loss, loss_weights, metrics, weighted_metrics} of what ``model.compile``
    was given."""
    from .. import losses, metrics, optimizers
    compiled = getattr(model, "_compiled", None)

    def loss(x):
        return x if isinstance(x, str) or x is None else losses.serialize(x)

    def metric(m):
        return m if isinstance(m, str) or m is None else metrics.serialize(m)
    return {"optimizer": optimizers.serialize(model.optimizer),
            "loss": _nested(getattr(compiled, "loss", None), loss),
            "loss_weights": getattr(compiled, "loss_weights", None),
            "metrics": _nested(getattr(compiled, "metrics", None), metric),
            "weighted_metrics": _nested(getattr(compiled, "weighted_metrics", None), metric)}


def _compile_state(model):
    """(compile config or None, optimizer variables) of a compiled model.

    Uses ``model.get_compile_config()`` when the model has it (Keras 3), else what
    ``compile`` recorded; the optimizer state is ``model.optimizer.variables``
    (iterations, learning rate, then the slots)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None, []
    getter = getattr(model, "get_compile_config", None)
    config = getter() if callable(getter) else _serialize_compile(model)
    variables = getattr(optimizer, "variables", [])
    variables = list(variables() if callable(variables) else variables)
    return config, variables


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Save ``model`` (architecture, weights, and compile state + optimizer state when
    compiled) to one file, written atomically: ``.keras`` in Keras 3's format (Keras
    opens it; ``keras_file``), ``.h5`` in Keras 2's (``legacy_h5``), ``.graphnet`` in
    graphnet's own. Under a gn.distribution DataParallel only rank 0 writes (the others
    return at once)."""
    from ..distribution.fit import writes_files
    if not writes_files():
        return
    _check_extension(filepath, MODEL_EXTENSIONS, "save")
    if os.fspath(filepath).endswith(".keras"):
        return keras_file.save_model(model, filepath, overwrite, include_optimizer)
    if os.fspath(filepath).endswith(legacy_h5.MODEL_EXTENSION):
        return legacy_h5.save_model(model, filepath, overwrite, include_optimizer)
    from ..engine.serialize import serialize_model
    config = serialize_model(model)
    compile_config, opt_vars = _compile_state(model) if include_optimizer else (None, [])
    if compile_config is not None:
        config["compile_config"] = compile_config
    weights, weight_arrays = _manifest(model.weights, "weights")
    opt_entries, opt_arrays = _manifest(opt_vars, "optimizer")
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "graphnet_version": _version(),
                "date_saved": datetime.datetime.now().isoformat(timespec="seconds"),
                "weights": weights, "optimizer_variables": opt_entries}
    with ArchiveWriter(filepath, overwrite=overwrite) as zf:
        zf.json("metadata.json", metadata)
        zf.json("config.json", config)
        for entry, array in zip(weights + opt_entries, weight_arrays + opt_arrays):
            zf.array(entry["entry"], array)


def save_weights(model, filepath, overwrite=True):
    """Save the weight values (Keras order) to a ``.weights.npz`` file, or in Keras 3's
    layout to a ``.weights.h5`` file (h5py needed); on rank 0 only under a
    gn.distribution DataParallel, as save_model."""
    from ..distribution.fit import writes_files
    if not writes_files():
        return
    if os.fspath(filepath).endswith(keras_weights.WEIGHTS_EXTENSION):
        return keras_weights.save_weights(model, filepath, overwrite)
    _check_extension(filepath, (WEIGHTS_EXTENSION, keras_weights.WEIGHTS_EXTENSION),
                     "save_weights")
    weights, arrays = _manifest(model.weights, "weight", "{prefix}_{i:05d}.npy")
    manifest = {"format": WEIGHTS_FORMAT, "format_version": FORMAT_VERSION,
                "graphnet_version": _version(), "model": model.name, "weights": weights}
    with ArchiveWriter(filepath, overwrite=overwrite) as zf:
        zf.json("manifest.json", manifest)
        for entry, array in zip(weights, arrays):
            zf.array(entry["entry"], array)


# -- loading ---------------------------------------------------------------------------------
def _check_format(reader, meta, fmt, name):
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise reader.error(f"{name} says format {got!r}, expected {fmt!r}", name)
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise reader.error(f"bad format_version {version!r}", name)
    if version > FORMAT_VERSION:
        raise reader.error(f"format version {version} was written by a newer graphnet "
                           f"({meta.get('graphnet_version')}); this graphnet reads up to "
                           f"version {FORMAT_VERSION}", name)


def _build(reader, config, custom_objects, safe_mode, nbytes):
    """The model of ``config``, whose weights may not total more than ``nbytes`` (what
    the file holds, which they must match)."""
    from .. import layers  # noqa: F401  (fills the layer registry)
    from ..engine.base_layer import weight_budget
    from ..engine.serialize import model_from_config
    from ..layers.lambda_layer import unsafe_deserialization
    model_config = {k: v for k, v in config.items() if k != "compile_config"}
    budget = weight_budget(nbytes, "the file")
    try:
        with budget, (contextlib.nullcontext() if safe_mode else unsafe_deserialization()):
            return model_from_config(model_config, custom_objects)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
            OverflowError) as exc:
        raise reader.error(f"the model config cannot be rebuilt: {type(exc).__name__}: "
                           f"{exc}", "config.json") from None
    except MemoryError:
        raise reader.error("the model config asks for more memory than is available "
                           "(hand-edited layer sizes?)", "config.json") from None


def _compile_from_config(model, compile_config, reader, custom_objects=None):
    """Compile a loaded model as it was saved; names resolve from the registries or
    ``custom_objects`` (nothing is imported)."""
    if hasattr(model, "compile_from_config"):
        model.compile_from_config(compile_config)
        return True
    if not hasattr(model, "compile"):
        warnings.warn(f"{reader.name}: the model was saved compiled, but this graphnet's "
                      "models have no compile(); loaded uncompiled", stacklevel=3)
        return False
    from .. import losses, metrics, optimizers
    custom_objects = custom_objects or {}
    cfg = compile_config if isinstance(compile_config, dict) else {}

    def resolve(deserialize):
        def fn(value):
            if isinstance(value, str):
                return custom_objects.get(value, value)
            if isinstance(value, dict) and "class_name" in value:
                return deserialize(value, custom_objects)
            return value
        return fn

    def nested(value, fn):
        if isinstance(value, dict) and "class_name" not in value:
            return {k: nested(v, fn) for k, v in value.items()}
        if isinstance(value, list):
            return [nested(v, fn) for v in value]
        return fn(value)
    try:
        optimizer = cfg.get("optimizer", "rmsprop")
        if isinstance(optimizer, dict):
            optimizer = optimizers.deserialize(optimizer, custom_objects)
        model.compile(optimizer=optimizer,
                      loss=nested(cfg.get("loss"), resolve(losses.deserialize)),
                      loss_weights=cfg.get("loss_weights"),
                      metrics=nested(cfg.get("metrics"), resolve(metrics.deserialize)),
                      weighted_metrics=nested(cfg.get("weighted_metrics"),
                                              resolve(metrics.deserialize)))
    except (ValueError, TypeError, KeyError) as exc:
        raise reader.error(f"the compile config cannot be restored ({type(exc).__name__}: "
                           f"{exc}); load with compile=False to skip it",
                           "config.json") from None
    return True


def _restore_optimizer(model, reader, entries, arrays):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return
    variables = getattr(optimizer, "variables", [])
    variables = list(variables() if callable(variables) else variables)
    if len(variables) != len(arrays) and hasattr(optimizer, "build"):
        # slots are made lazily, for the float trainable weights (as training does)
        optimizer.build([v for v in model.trainable_weights
                         if np.dtype(v.dtype).kind == "f"])
        variables = getattr(optimizer, "variables", [])
        variables = list(variables() if callable(variables) else variables)
    keep = _check_assignable(reader, variables, arrays, entries, "optimizer variables")
    _assign(variables, arrays, keep)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True, limits=None):
    """Load a model saved by ``model.save`` (graphnet's or Keras 3's).

    Args:
        filepath: a ``.graphnet`` file, a ``.keras`` file written by graphnet or by
            Keras 3 (its classes mapped to graphnet's by name), or a Keras 2 ``.h5``.
        custom_objects: {name: class or function} for custom layers and functions.
        compile: compile the model as it was saved (and restore the optimizer state).
        safe_mode: refuse Python lambdas stored as bytecode (set False only for files
            you trust: loading them executes code from the file).
        limits: ``graphnet.saving.Limits`` bounding sizes (zip-bomb protection).

    Raises ``FileFormatError`` (a ``ValueError``) naming what is wrong with a bad file.
    """
    if _is_hdf5(filepath):
        return legacy_h5.load_model(filepath, custom_objects, compile, safe_mode, limits)
    with ArchiveReader(filepath, "graphnet model file", limits) as reader:
        meta = reader.json("metadata.json")
        if keras_file.is_keras_metadata(meta):
            reader.kind = "Keras model file"
            return keras_file.load_from_archive(reader, custom_objects, compile, safe_mode)
        _check_format(reader, meta, FORMAT, "metadata.json")
        config = reader.json("config.json")
        if not isinstance(config, dict) or "class_name" not in config or \
                not isinstance(config.get("config"), dict):
            raise reader.error("config.json must be an object with 'class_name' and "
                               "'config'", "config.json")
        entries = _check_manifest(reader, meta.get("weights", []), "weights")
        opt_entries = _check_manifest(reader, meta.get("optimizer_variables", []),
                                      "optimizer_variables")
        arrays = _read_arrays(reader, entries)
        opt_arrays = _read_arrays(reader, opt_entries)
        check_config_safety(reader, config, custom_objects, safe_mode)
        model = _build(reader, config, custom_objects, safe_mode,
                       sum(a.nbytes for a in arrays))
        keep = _check_assignable(reader, model.weights, arrays, entries, "weights")
        _assign(model.weights, arrays, keep)
        compile_config = config.get("compile_config")
        if compile and compile_config is not None:
            if _compile_from_config(model, compile_config, reader, custom_objects) and \
                    opt_arrays:
                _restore_optimizer(model, reader, opt_entries, opt_arrays)
    return model


def load_weights(model, filepath, skip_mismatch=False, limits=None):
    """Load weights saved by ``save_weights`` (or from a whole-model file) into ``model``.

    Every shape is checked before any weight is written; ``skip_mismatch=True`` skips
    (with a warning) the weights whose shapes differ instead of raising. An HDF5 file
    (Keras 3's ``.weights.h5``) is read by Keras's layout (``keras_weights``).
    """
    if _is_hdf5(filepath):
        return _load_hdf5_weights(model, filepath, skip_mismatch, limits)
    with ArchiveReader(filepath, "graphnet weights file", limits) as reader:
        if "manifest.json" in reader:
            meta = reader.json("manifest.json")
            _check_format(reader, meta, WEIGHTS_FORMAT, "manifest.json")
        elif "metadata.json" in reader:
            meta = reader.json("metadata.json")
            _check_format(reader, meta, FORMAT, "metadata.json")
        else:
            raise reader.error("has neither manifest.json nor metadata.json: not a graphnet "
                               "weights or model file")
        entries = _check_manifest(reader, meta.get("weights"), "weights")
        arrays = _read_arrays(reader, entries)
        variables = model.weights
        keep = _check_assignable(reader, variables, arrays, entries, "weights", skip_mismatch)
        _assign(variables, arrays, keep)


__all__ = ["save_model", "load_model", "save_weights", "load_weights", "FileFormatError",
           "check_config_safety"]
