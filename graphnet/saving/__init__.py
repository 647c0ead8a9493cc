"""Saving and loading models and weights: graphnet's safe zip format (see ``model_io``)
and Keras's files: Keras 3's ``.keras`` (``keras_file``) and ``.weights.h5``
(``keras_weights``), Keras 2's ``.h5`` (``legacy_h5``); HDF5 through the optional h5py.

``gn.models.load_model(path)``, ``model.save(path)``, ``model.save_weights(path)`` and
``model.load_weights(path)`` are the public entry points; they delegate here.
Importing this package does not import the model-building code (graphnet.engine).
Keras's ``keras.saving`` names for custom objects are here too, as in ``gn.utils``.
"""
from .archive import ArchiveReader, ArchiveWriter, FileFormatError, Limits  # noqa: F401
from .model_io import (check_config_safety, load_model, load_weights, save_model,  # noqa: F401
                       save_weights)
from ..object_registration import (CustomObjectScope, custom_object_scope,  # noqa: F401
                                   get_custom_objects, get_registered_name,
                                   get_registered_object, register_keras_serializable)
from ..object_serialization import (deserialize_keras_object,  # noqa: F401
                                    serialize_keras_object)

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "FileFormatError",
           "Limits"]
