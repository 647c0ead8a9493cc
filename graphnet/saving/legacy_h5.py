"""Keras 2's whole-model ``.h5`` files (``model.save("model.h5")`` in Keras 2's example
programs; Keras 3 still reads and writes them as its legacy format), read and written.

The file holds the attributes ``model_config`` (the architecture as JSON),
``training_config`` (the compile arguments with ``optimizer_config``), ``keras_version``
and ``backend``; the group ``model_weights`` with a group per layer (its ``weight_names``:
the layer's trainable then non-trainable weights, as Keras 2 ordered them), listed by
the group's ``layer_names``; and, when compiled, ``optimizer_weights``. Weights match the
model's layers that have weights, in order (Keras 2's rule). A Keras 2 weights-only
``.h5`` (``model_weights``' layout at the top) loads through ``load_weights``.
"""
import json
import warnings

import numpy as np

from . import keras_config
from .hdf5 import H5Reader, H5Writer

MODEL_EXTENSION = ".h5"


def _legacy_weights(layer):
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _weight_path(layer, variable):
    name = variable.name
    return name if name.startswith(f"{layer.name}/") else f"{layer.name}/{name}"


def _write_weight_group(group, layer_names_and_weights, h5_strings):
    for layer_name, paths, values in layer_names_and_weights:
        layer_group = group.require_group(layer_name)
        layer_group.attrs["weight_names"] = h5_strings(paths)
        for path, value in zip(paths, values):
            layer_group.create_dataset(path, data=value)


def _full_loss_name(loss):
    """'mean_squared_error' for 'mse': Keras 3's legacy loader cannot resolve a loss alias
    (its own .h5 files with loss='mse' fail to load)."""
    from .. import losses
    if not isinstance(loss, str):
        return loss
    name = losses.serialize(losses.get(loss))
    return name if isinstance(name, str) else loss


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """``model.save("model.h5")``: the file Keras 2 (and Keras 3's legacy loader) reads."""
    from .keras_file import KERAS_FORMAT_VERSION, keras_config_of
    config = keras_config_of(model, include_optimizer)
    compile_config = config.pop("compile_config", None)
    with H5Writer(filepath, overwrite, "saving a Keras .h5 model") as writer:
        import h5py

        def h5_strings(names):
            return np.array([n.encode("utf-8") for n in names], dtype=h5py.string_dtype()) \
                if names else np.zeros((0,), "float64")
        root = writer.file
        root.attrs["keras_version"] = KERAS_FORMAT_VERSION
        root.attrs["backend"] = "graphnet"
        root.attrs["model_config"] = json.dumps(config)
        group = writer.group("model_weights", {"keras_version": KERAS_FORMAT_VERSION,
                                               "backend": "graphnet"})
        layers = model.layers
        group.attrs["layer_names"] = h5_strings([layer.name for layer in layers])
        entries = []
        for layer in layers:
            weights = _legacy_weights(layer)
            entries.append((layer.name, [_weight_path(layer, w) for w in weights],
                            [np.array(w.numpy()) for w in weights]))
        _write_weight_group(group, entries, h5_strings)
        if compile_config is not None:
            from .model_io import _nested
            compile_config["loss"] = _nested(compile_config.get("loss"), _full_loss_name)
            optimizer = compile_config.pop("optimizer")
            compile_config["optimizer_config"] = {"class_name": optimizer["class_name"],
                                                  "config": optimizer["config"]}
            root.attrs["training_config"] = json.dumps(compile_config)
            variables = list(model.optimizer.variables)
            opt_group = writer.group("optimizer_weights")
            paths = [f"{model.optimizer.name}/{v.name}" for v in variables]
            opt_group.attrs["weight_names"] = h5_strings(paths)
            for path, variable in zip(paths, variables):
                opt_group.create_dataset(path, data=np.array(variable.numpy()))


def _layer_weight_values(reader, group):
    """[(layer name, [arrays])] of the layers in ``group`` that hold weights."""
    names = reader.attr(group, "layer_names")
    if not isinstance(names, list):
        raise reader.error("has no 'layer_names' attribute: not a Keras .h5 weights group",
                           group or "/")
    out = []
    for name in names:
        path = f"{group}/{name}" if group else name
        if not reader.has(path):
            raise reader.error(f"lists layer {name!r}, whose group is missing", group or "/")
        weight_names = reader.attr(path, "weight_names") or []
        if weight_names:
            out.append((name, [reader.array(f"{path}/{w}") for w in weight_names]))
    return out


def read_layer_weights(reader, model, group, skip_mismatch=False, stored=None):
    """Assign the weights of Keras 2's layout (layers with weights, in order; ``stored``:
    ``_layer_weight_values`` when already read); all are checked before any is written."""
    stored = _layer_weight_values(reader, group) if stored is None else stored
    layers = [layer for layer in model.layers if _legacy_weights(layer)]
    if len(stored) != len(layers):
        raise reader.error(f"holds weights for {len(stored)} layers "
                           f"({[name for name, _ in stored]}) but model {model.name!r} has "
                           f"{len(layers)} layers with weights "
                           f"({[layer.name for layer in layers]})", group or "/")
    assignments = []
    for layer, (name, arrays) in zip(layers, stored):
        variables = _legacy_weights(layer)
        shapes = [tuple(v.shape) for v in variables]
        found = [tuple(a.shape) for a in arrays]
        if shapes != found:
            message = (f"layer {layer.name!r} has weights of shapes {shapes} but the file's "
                       f"layer {name!r} holds {found}")
            if skip_mismatch:
                warnings.warn(f"{reader.name}: skipping {message}", stacklevel=3)
                continue
            raise reader.error(message, f"{group}/{name}" if group else name)
        assignments += list(zip(variables, arrays))
    for variable, array in assignments:
        variable.assign(array.astype(np.dtype(variable.dtype), copy=False))


def _restore_optimizer(reader, model):
    names = reader.attr("optimizer_weights", "weight_names") or []
    optimizer = model.optimizer
    optimizer.build([v for v in model.trainable_weights if np.dtype(v.dtype).kind == "f"])
    variables = list(optimizer.variables)
    arrays = [reader.array(f"optimizer_weights/{n}") for n in names]
    if [tuple(a.shape) for a in arrays] != [tuple(v.shape) for v in variables]:
        warnings.warn(f"{reader.name}: the optimizer state ({len(arrays)} arrays) does not "
                      f"match {type(optimizer).__name__}'s {len(variables)} variables (a "
                      "Keras 2 optimizer's layout?); the optimizer starts afresh",
                      stacklevel=3)
        return
    for variable, array in zip(variables, arrays):
        variable.assign(array.astype(np.dtype(variable.dtype), copy=False))


def _single_refs_unwrapped(config):
    """Keras 2 lists even a single input or output ([[name, 0, 0]]): as one tensor."""
    inner = config.get("config", {})
    for key in ("input_layers", "output_layers"):
        refs = inner.get(key)
        if isinstance(refs, list) and len(refs) == 1 and isinstance(refs[0], list):
            inner[key] = refs[0]
    return config


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True, limits=None):
    """The model of a Keras 2 (or Keras 3 legacy) ``.h5`` model file."""
    from .model_io import _build, _compile_from_config, check_config_safety
    with H5Reader(filepath, "Keras .h5 model file", limits) as reader:
        config = reader.json_attr("", "model_config")
        if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
            raise reader.error("has no model_config attribute holding a model (a weights-only "
                               ".h5 file? load it with model.load_weights)")
        check_config_safety(reader, config, custom_objects, safe_mode)
        try:
            model_config = keras_config.from_keras(_single_refs_unwrapped(config),
                                                   custom_objects)
        except ValueError as exc:
            raise reader.error(str(exc), "model_config") from None
        stored = _layer_weight_values(reader, "model_weights")
        nbytes = sum(a.nbytes for _, arrays in stored for a in arrays)
        model = _build(reader, model_config, custom_objects, safe_mode, nbytes)
        read_layer_weights(reader, model, "model_weights", stored=stored)
        training = reader.json_attr("", "training_config")
        if compile and isinstance(training, dict):
            training = keras_config.from_keras(training, custom_objects)
            training["optimizer"] = training.pop("optimizer_config", "rmsprop")
            if _compile_from_config(model, training, reader, custom_objects) and \
                    reader.has("optimizer_weights"):
                _restore_optimizer(reader, model)
    return model
