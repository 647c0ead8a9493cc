"""Keras 3's ``.weights.h5`` layout: each layer's (and the optimizer's) own variables at
the path Keras's ``saving_lib`` walks to it, so Keras reads graphnet's files and graphnet
reads Keras's.

Keras addresses an object by where it is held, not by its (auto-generated) name:
``layers/<snake_case class>[_n]`` for the layers of a Functional or Sequential model,
``<attribute>`` for a layer held by an attribute (attributes in sorted order, private
ones last), ``<attribute>/<snake_case class>[_n]`` for one held in a list or dict, and
``optimizer`` for the model's optimizer. Each object's variables are the datasets
``<path>/vars/0``, ``1``, ... (its trainable variables, then the others), the group
carrying the object's name; an object reached twice is stored once, at its first path.
"""
import numpy as np

from .. import backend
from .hdf5 import H5Reader, H5Writer

WEIGHTS_EXTENSION = ".weights.h5"
#: attributes Keras's class also exposes as public properties, which its walk of
#: ``dir(obj)`` reaches first (so its file holds them there): per class, attribute -> property
PUBLIC_NAMES = {"MultiHeadAttention": {f"_{part}_dense": f"{part}_dense"
                                       for part in ("query", "key", "value", "output")}}


def _join(path, name):
    return f"{path}/{name}" if path else name


def _attribute_key(name):
    """Keras's order of attributes: sorted, private ones last."""
    return f"~{name}" if name.startswith("_") else name


def _children(obj, top):
    """(attribute, value) of the objects ``obj`` holds, in Keras's walk order."""
    from ..engine.functional import Functional
    from ..engine.tracking import _ENGINE_ATTRIBUTES
    from ..optimizers.base import Optimizer
    if not _is_layer(obj):
        return []
    model_like = isinstance(obj, Functional)
    graph_model = model_like and not getattr(obj, "_is_subclassed", False)
    out = [("layers", obj.layers)] if graph_model else []
    public = PUBLIC_NAMES.get(_keras_class(obj), {})
    attributes = {} if graph_model else {
        public.get(name, name): value for name, value in vars(obj).items()
        if name not in _ENGINE_ATTRIBUTES and _holds_saveable(value)}
    if model_like and not graph_model:
        attributes["layers"] = obj.layers
    optimizer = getattr(obj, "optimizer", None) if top else None
    if isinstance(optimizer, Optimizer):
        attributes["optimizer"] = optimizer
    out += sorted(attributes.items(), key=lambda item: _attribute_key(item[0]))
    return out


def _is_layer(obj):
    from ..engine.base_layer import Layer
    return isinstance(obj, Layer)


def _is_saveable(obj):
    """A layer or an optimizer: what Keras stores variables for."""
    from ..optimizers.base import Optimizer
    return _is_layer(obj) or isinstance(obj, Optimizer)


def _holds_saveable(value):
    if _is_layer(value):
        return True
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, (list, tuple)) and any(_holds_saveable(v) for v in value)


def _own_variables(obj):
    if _is_layer(obj):
        return obj._own_variables()
    variables = obj.variables
    return list(variables() if callable(variables) else variables)


def keras_paths(model, include_optimizer=True):
    """[(path, object, own variables)] for ``model`` and everything it holds, in Keras's
    walk order (the model itself at path ''; its optimizer unless include_optimizer is
    False)."""
    out, visited = [], set()

    def visit(obj, path):
        if id(obj) in visited:
            return
        visited.add(id(obj))
        out.append((path, obj, _own_variables(obj)))
        for attribute, child in _children(obj, include_optimizer and obj is model):
            walk(child, _join(path, attribute), set())

    def walk(value, path, containers):
        if not isinstance(value, (list, tuple, dict)):
            if _is_saveable(value):
                visit(value, path)
            return
        if id(value) in containers:
            return
        containers.add(id(value))
        used = {}
        for item in (list(value.values()) if isinstance(value, dict) else value):
            if _is_saveable(item):
                visit(item, _join(path, _unique(backend.snake_case(_keras_class(item)),
                                                used)))
            elif isinstance(item, (list, tuple, dict)):
                walk(item, _join(path, _unique("container", used)), containers)
    visit(model, "")
    return out


def _keras_class(obj):
    """The class name Keras's object would have ('Functional' for a gn.Model of layers)."""
    from ..engine.serialize import _class_name
    return _class_name(obj) if _is_layer(obj) else type(obj).__name__


def _unique(name, used):
    """Keras's _get_unique_name: the first 'dense', then 'dense_1', 'dense_2', ..."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _value(variable):
    return np.array(variable.numpy() if hasattr(variable, "numpy") else variable.value)


def write_weights(writer, model, include_optimizer=True):
    """Each object's variables into ``writer`` (an ``H5Writer``) at Keras's paths."""
    for path, obj, variables in keras_paths(model, include_optimizer):
        name = getattr(obj, "name", None)
        group = writer.group(_join(path, "vars"),
                             {"name": name} if isinstance(name, str) else None)
        for i, variable in enumerate(variables):
            group.create_dataset(str(i), data=_value(variable))


def save_weights(model, filepath, overwrite=True):
    """``model.save_weights("x.weights.h5")``: Keras 3's weights file."""
    with H5Writer(filepath, overwrite, "save_weights to a .weights.h5 file") as writer:
        write_weights(writer, model)


def _prepare_optimizer(model, reader, path):
    """Build the optimizer's slots when the file holds more state than it has yet."""
    optimizer = getattr(model, "optimizer", None)
    group = _join(path, "vars")
    if optimizer is None or not reader.has(group):
        return
    if len(reader.keys(group)) != len(_own_variables(optimizer)) and \
            hasattr(optimizer, "build"):
        optimizer.build([v for v in model.trainable_weights if np.dtype(v.dtype).kind == "f"])


def read_weights(reader, model, skip_mismatch=False):
    """Assign every variable of ``model`` from ``reader`` (an ``H5Reader``) at Keras's
    paths; all are read and checked (count, shape) before any is written."""
    import warnings
    if any(path == "optimizer" for path, _, _ in keras_paths(model)):
        _prepare_optimizer(model, reader, "optimizer")
    assignments = []
    for path, obj, variables in keras_paths(model):
        group = _join(path, "vars")
        what = f"{type(obj).__name__} {getattr(obj, 'name', '?')!r}"
        if not reader.has(group):
            if not variables:
                continue
            if path == "optimizer":
                warnings.warn(f"{reader.name}: no optimizer state in the file; the "
                              f"optimizer of {model.name!r} keeps its own", stacklevel=3)
                continue
            raise reader.error(f"{what} has {len(variables)} variables but the file holds "
                               "nothing for it (a weights file of another model?)", group)
        stored = sorted(reader.keys(group), key=lambda k: (len(k), k))
        if stored != [str(i) for i in range(len(stored))] or len(stored) != len(variables):
            message = (f"{what} has {len(variables)} variables but the file holds "
                       f"{len(stored)} ({stored[:8]})")
            if path == "optimizer":   # as Keras: the optimizer starts afresh
                warnings.warn(f"{reader.name}: skipping the optimizer state: {message}",
                              stacklevel=3)
                continue
            if skip_mismatch:
                warnings.warn(f"{reader.name}: skipping {message}", stacklevel=3)
                continue
            raise reader.error(message, group)
        arrays = [reader.array(f"{group}/{i}") for i in range(len(variables))]
        mismatched = [(v, a) for v, a in zip(variables, arrays)
                      if tuple(a.shape) != tuple(_value(v).shape)]
        if mismatched:
            variable, array = mismatched[0]
            message = (f"{what}: variable {variable.name!r} has shape "
                       f"{tuple(_value(variable).shape)} but the file holds "
                       f"{tuple(array.shape)}")
            if skip_mismatch:
                warnings.warn(f"{reader.name}: skipping {message}", stacklevel=3)
                continue
            raise reader.error(message, group)
        assignments += list(zip(variables, arrays))
    for variable, array in assignments:
        variable.assign(array.astype(_value(variable).dtype, copy=False))


def load_weights(model, filepath, skip_mismatch=False, limits=None):
    """``model.load_weights("x.weights.h5")``: a weights file Keras 3 (or graphnet) wrote."""
    with H5Reader(filepath, "Keras weights file", limits) as reader:
        read_weights(reader, model, skip_mismatch)
