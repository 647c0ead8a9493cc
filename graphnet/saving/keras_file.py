"""Keras 3's ``.keras`` model files, read and written: a zip of ``metadata.json``
(``keras_version``, ``date_saved``), ``config.json`` (the model's Keras 3 config with its
``compile_config``) and ``model.weights.h5`` (``keras_weights``' layout).

``model.save("m.keras")`` writes this format, so Keras's ``load_model`` opens graphnet's
files; what Keras cannot hold (a gn.ops call between layers) is a clear error naming the
layer, and ``.graphnet`` keeps graphnet's own format for those. The safety rules of
graphnet's own files hold: the zip is checked against ``Limits`` before anything is read,
nothing is imported, a Python lambda is refused unless ``safe_mode=False``, and the
weights are read and checked before any is written.
"""
import datetime
import io

from . import keras_config, keras_weights
from .archive import ArchiveWriter
from .hdf5 import H5Reader, H5Writer

#: the Keras version graphnet's files say they follow (the layout Keras 3 reads)
KERAS_FORMAT_VERSION = "3.15.1"
_COMPILE_MODULES = {"optimizer": "keras.optimizers", "loss": "keras.losses",
                    "metrics": "keras.metrics", "weighted_metrics": "keras.metrics"}


def is_keras_metadata(meta):
    return isinstance(meta, dict) and "keras_version" in meta and "format" not in meta


def keras_config_of(model, include_optimizer=True):
    """Keras 3's config.json of ``model`` (with compile_config when compiled)."""
    from ..engine.serialize import serialize_model
    from .model_io import _compile_state
    graphnet_config = serialize_model(model)
    graphnet_config.pop("graphnet_version", None)
    config = keras_config.to_keras(graphnet_config, specs=keras_config.tensor_specs(model))
    compile_config, _ = _compile_state(model) if include_optimizer else (None, [])
    if compile_config is not None:
        config["compile_config"] = {
            key: keras_config.to_keras(value, _COMPILE_MODULES.get(key, "keras"))
            for key, value in compile_config.items()}
    return config


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """``model.save("m.keras")``: a file Keras 3's ``keras.models.load_model`` opens."""
    config = keras_config_of(model, include_optimizer)
    buffer = io.BytesIO()
    with H5Writer(buffer, what="saving a .keras file") as writer:
        keras_weights.write_weights(writer, model, include_optimizer)
    from .model_io import _version
    metadata = {"keras_version": KERAS_FORMAT_VERSION, "graphnet_version": _version(),
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    with ArchiveWriter(filepath, overwrite=overwrite) as zf:
        zf.json("metadata.json", metadata)
        zf.json("config.json", config)
        zf.bytes("model.weights.h5", buffer.getvalue(), compress=False)


def load_from_archive(reader, custom_objects=None, compile=True, safe_mode=True):
    """The model of an open Keras 3 ``.keras`` archive (``reader``, an ArchiveReader)."""
    from .model_io import _build, _compile_from_config, check_config_safety
    config = reader.json("config.json")
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) or \
            not isinstance(config.get("config"), dict):
        raise reader.error("config.json must be an object with 'class_name' and 'config'",
                           "config.json")
    assets = [name for name in reader.names() if name.startswith("assets/")]
    if assets:
        raise reader.error(f"holds assets ({', '.join(assets[:4])}), the vocabulary files of "
                           "Keras's lookup layers, which graphnet does not read; adapt the "
                           "layers in graphnet or pass their vocabulary in the config")
    check_config_safety(reader, config, custom_objects, safe_mode)
    try:
        model_config = keras_config.from_keras(
            {k: v for k, v in config.items() if k != "compile_config"}, custom_objects)
        compile_config = keras_config.from_keras(config.get("compile_config"),
                                                 custom_objects)
    except ValueError as exc:
        raise reader.error(str(exc), "config.json") from None
    weights = reader.read("model.weights.h5")
    with H5Reader(io.BytesIO(weights), "Keras weights (model.weights.h5)",
                  reader.limits) as h5:
        h5.name = f"{reader.name}:model.weights.h5"
        model = _build(reader, model_config, custom_objects, safe_mode, len(weights))
        if compile and compile_config:
            _compile_from_config(model, compile_config, reader, custom_objects)
        keras_weights.read_weights(h5, model)
    return model
