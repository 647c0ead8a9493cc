"""Saving and loading models and weights: one safe zip format (see ``model_io``).

``gn.models.load_model(path)``, ``model.save(path)``, ``model.save_weights(path)`` and
``model.load_weights(path)`` are the public entry points; they delegate here.
Importing this package does not import the model-building code (graphnet.engine).
"""
from .archive import ArchiveReader, ArchiveWriter, FileFormatError, Limits  # noqa: F401
from .model_io import (check_config_safety, load_model, load_weights, save_model,  # noqa: F401
                       save_weights)

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "FileFormatError",
           "Limits"]
