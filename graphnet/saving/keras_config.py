"""Keras 3's config format (``serialization_lib``) to graphnet's, and back.

Keras 3 writes each object as ``{"module", "class_name", "config", "registered_name"}``
(layers also ``build_config`` and, in a Functional model, ``name`` and
``inbound_nodes`` as ``[{"args": [...], "kwargs": {...}}]`` of ``__keras_tensor__``
references), dtypes as ``DTypePolicy`` objects and tuples as ``__tuple__``. graphnet's
configs are Keras's without the modules, with inbound nodes as ``[[layer, node, index,
kwargs], ...]`` and a ``list_input`` flag per call. Classes resolve by their class name
from graphnet's registries (a Keras built-in) or from ``custom_objects`` (a class
registered as ``package>Name`` is looked up by that name, then by ``Name``); nothing a
file names is imported.
"""
#: Keras's module for the classes graphnet writes at the top of each kind of config
KERAS_MODULES = {"Functional": "keras.src.models.functional", "Sequential": "keras",
                 "Model": "keras"}
#: Keras's exported names of the classes whose Python name differs: Keras's files name the
#: exported one (its weights paths the class's own); graphnet's registry holds both
KERAS_EXPORT_NAMES = {"GroupedQueryAttention": "GroupQueryAttention"}
#: layers Keras calls with several tensor arguments (``layer(query, value, key=...,
#: attention_mask=...)``) and graphnet with one list of them: the arguments in the list's order
TENSOR_ARGUMENTS = {cls: ("query", "value", "key", "attention_mask")
                    for cls in ("MultiHeadAttention", "GroupedQueryAttention",
                                "GroupQueryAttention")}
#: Keras's own tuple, dtype policy and tensor-reference markers
_DTYPE_POLICIES = ("DTypePolicy", "FloatDTypePolicy")
_STRUCTURE_MARKERS = ("__tuple__", "__keras_tensor__", "__lambda__", "__numpy__",
                      "__bytes__", "__typespec__")


#: options Keras 3's layers write that graphnet's lack, with the value under which leaving
#: them out changes nothing (any other value is refused, naming the option)
KERAS_ONLY_OPTIONS = {"optional": False, "ragged": False, "quantization_config": None,
                      "lora_rank": None, "lora_alpha": None, "input_axes": None,
                      "output_axes": None}


#: options graphnet's configs hold that a Keras layer's constructor refuses, with the value
#: under which Keras leaves them out (Keras's SpatialDropout and Discretization take no
#: ``trainable``)
GRAPHNET_ONLY_OPTIONS = {f"SpatialDropout{n}D": {"trainable": True} for n in (1, 2, 3)}
GRAPHNET_ONLY_OPTIONS["Discretization"] = {"trainable": True}


def _drop_graphnet_only_options(cls, config):
    for key, neutral in GRAPHNET_ONLY_OPTIONS.get(cls, {}).items():
        if key in config:
            value = config.pop(key)
            if value != neutral:
                raise ValueError(f"layer {config.get('name')!r}: Keras's {cls} cannot hold "
                                 f"{key}={value!r}")


def _drop_keras_only_options(config, where):
    for key, neutral in KERAS_ONLY_OPTIONS.items():
        if key in config:
            value = config.pop(key)
            if value != neutral:
                raise ValueError(f"layer {where!r}: Keras's option {key}={value!r} is not "
                                 f"supported by graphnet (only {key}={neutral!r})")


class UnknownClassError(ValueError):
    """A Keras file names a class graphnet has no equivalent of and custom_objects lacks."""


def _is_keras_module(module):
    return module is None or module == "keras" or module.startswith("keras.")


def _check_known(value, custom_objects, where):
    """Refuse, naming it, a class that is neither graphnet's nor in custom_objects (or
    registered, or in a custom_object_scope)."""
    from .. import layers  # noqa: F401  (fills the layer registry)
    from ..engine.base_layer import layer_registry
    from ..object_registration import lookup_custom
    module, cls = value.get("module"), value["class_name"]
    registered = value.get("registered_name")
    for name in (registered, cls):
        if name and lookup_custom(name, custom_objects) is not None:
            return name
    if _is_keras_module(module):
        if module in ("keras.layers", "keras") and cls not in layer_registry.entries and \
                cls not in KERAS_MODULES:
            raise UnknownClassError(f"layer {where!r} is a Keras {cls}, which graphnet does "
                                    "not have")
        return cls
    raise UnknownClassError(
        f"layer {where!r} is the custom class {cls!r} (module {module!r}, registered as "
        f"{registered!r}), which is not registered: pass custom_objects="
        f"{{{(registered or cls)!r}: the class}} (graphnet never imports modules named in "
        "a file)")


def from_keras(value, custom_objects=None, where=None):
    """graphnet's config of a Keras 3 serialized object (recursively)."""
    if isinstance(value, list):
        return [from_keras(v, custom_objects, where) for v in value]
    if not isinstance(value, dict):
        return value
    cls = value.get("class_name")
    cfg = value.get("config")
    if cls in _DTYPE_POLICIES:
        name = cfg.get("name") if isinstance(cfg, dict) else None
        if name not in ("float32", "float64", "int32", "int64", "uint8", "bool"):
            raise ValueError(f"layer {where!r}: dtype policy {name!r} is not supported by "
                             "graphnet (float32 and float64 are)")
        return name
    if cls == "__tuple__":
        return list(from_keras(cfg.get("value", []), custom_objects, where))
    if cls in _STRUCTURE_MARKERS:
        return value
    if isinstance(cls, str) and "config" in value:
        if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
            where = cfg["name"]
        out = {"class_name": _check_known(value, custom_objects, where),
               "config": {k: from_keras(v, custom_objects, where)
                          for k, v in (cfg or {}).items()} if isinstance(cfg, dict) else cfg}
        if _is_keras_module(value.get("module")) and isinstance(out["config"], dict):
            _drop_keras_only_options(out["config"], where)
        if "build_config" in value and cls not in KERAS_MODULES:  # those build from layers
            out["build_config"] = value["build_config"]
        if "name" in value:
            out["name"] = value["name"]
        if "inbound_nodes" in value:
            out["inbound_nodes"], out["list_input"] = _nodes_from_keras(
                value["inbound_nodes"], where, TENSOR_ARGUMENTS.get(cls))
        if isinstance(out["config"], dict) and "input_layers" in out["config"]:
            _functional_io_from_keras(out["config"])
        return out
    return {k: from_keras(v, custom_objects, where) for k, v in value.items()
            if k != "shared_object_id"}


def _ref_of(tensor, where):
    if not (isinstance(tensor, dict) and tensor.get("class_name") == "__keras_tensor__"):
        raise ValueError(f"layer {where!r}: a call argument graphnet cannot rebuild: "
                         f"{tensor!r}")
    return list(tensor["config"]["keras_history"])


def _tensor_arguments_as_list(node, names):
    """A Keras call of several tensor arguments (``names``, positional or keywords) as one
    positional list of them, graphnet's: a missing key is the value, a missing last one
    (the attention mask) left out."""
    args, kwargs = list(node.get("args", [])), dict(node.get("kwargs", {}) or {})
    tensors = [args[i] if i < len(args) else kwargs.pop(name, None)
               for i, name in enumerate(names)]
    if tensors[names.index("key")] is None:
        tensors[names.index("key")] = tensors[names.index("value")]
    return {"args": [[t for t in tensors if t is not None]], "kwargs": kwargs}


def _nodes_from_keras(nodes, where, tensor_arguments=None):
    """Keras 3's [{"args", "kwargs"}] (or Keras 2's list form, kept) as graphnet's;
    ``tensor_arguments``: the names of the layer's tensor arguments (TENSOR_ARGUMENTS)."""
    out, flags = [], []
    for node in nodes:
        if not isinstance(node, dict):
            out.append(node)
            flags.append(len(node) > 1)
            continue
        if tensor_arguments:
            node = _tensor_arguments_as_list(node, tensor_arguments)
        args, kwargs = node.get("args", []), node.get("kwargs", {}) or {}
        if len(args) != 1:
            raise ValueError(f"layer {where!r} is called with {len(args)} positional "
                             "arguments; graphnet's layers take their inputs as one "
                             "argument (a tensor or a list)")
        listed = isinstance(args[0], list)
        refs = [_ref_of(t, where) for t in (args[0] if listed else [args[0]])]
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        out.append([refs[0] + [kwargs]] + refs[1:])
        flags.append(listed)
    return out, flags


def _is_leaf_ref(refs):
    return isinstance(refs, list) and len(refs) == 3 and isinstance(refs[0], str)


def _functional_io_from_keras(config):
    for key, flag in (("input_layers", "list_inputs"), ("output_layers", "list_outputs")):
        refs = config.get(key)
        if flag in config:
            continue
        if _is_leaf_ref(refs):
            config[key], config[flag] = [refs], False
        else:
            config[flag] = isinstance(refs, list)


# -- graphnet to Keras ------------------------------------------------------------------------
_KIND_MODULES = (("initializer", "keras.initializers"), ("regularizer", "keras.regularizers"),
                 ("constraint", "keras.constraints"))


def tensor_specs(model):
    """{model name: {(layer, node, index): (shape, dtype)}} of the tensors between the
    layers of ``model`` and of the Functional models nested in it: Keras 3 writes each
    reference to a tensor with its shape."""
    from ..engine.functional import Functional
    from ..engine.serialize import _model_calls
    specs = {}

    def collect(m):
        if not isinstance(m, Functional) or getattr(m, "_is_subclassed", False) or \
                m.name in specs:
            return
        calls_of = _model_calls(m)
        specs[m.name] = {(layer.name, k, i): (list(t.shape), t.dtype)
                         for layer in m._layers for k, call in enumerate(calls_of[id(layer)])
                         for i, t in enumerate(call.outputs)}
        for layer in m._layers:
            if layer is not m:
                collect(layer)
    collect(model)
    return specs


def to_keras(value, module="keras.layers", specs=None, tensors=None):
    """Keras 3's config of a graphnet serialized object (recursively); ``specs`` are
    ``tensor_specs(model)``, ``tensors`` those of the model being converted."""
    from ..engine.base_layer import layer_registry
    specs = specs or {}
    if isinstance(value, list):
        return [to_keras(v, module, specs, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    cls = value.get("class_name")
    if cls in _STRUCTURE_MARKERS:
        return value
    if not (isinstance(cls, str) and "config" in value):
        return {k: to_keras(v, _module_for_key(k, module), specs, tensors)
                for k, v in value.items()}
    cfg = value["config"]
    if cls == "OpLayer":
        raise ValueError(f"layer {cfg.get('name')!r} is a gn.ops call "
                         f"({cfg.get('function')!r}) between layers, which a Keras .keras "
                         "file cannot hold; save to a .graphnet file instead")
    registered = None
    if cls in KERAS_MODULES:
        module = KERAS_MODULES[cls]
    elif module == "keras.layers" and cls in layer_registry.entries:
        layer_cls = layer_registry.entries[cls]
        if not layer_cls.__module__.startswith("graphnet."):
            module, registered = layer_cls.__module__, cls
    inner = specs.get(cfg.get("name")) if isinstance(cfg, dict) and "input_layers" in cfg \
        else None
    out = {"module": module, "class_name": KERAS_EXPORT_NAMES.get(cls, cls),
           "config": {k: to_keras(v, _module_for_key(k, "keras.layers"), specs, inner)
                      for k, v in cfg.items()} if isinstance(cfg, dict) else cfg,
           "registered_name": registered}
    if isinstance(out["config"], dict):
        _drop_graphnet_only_options(cls, out["config"])
    if "build_config" in value:
        out["build_config"] = value["build_config"]
    if "name" in value:
        out["name"] = value["name"]
    if "inbound_nodes" in value:
        out["inbound_nodes"] = [_node_to_keras(node, flag, tensors or {},
                                               TENSOR_ARGUMENTS.get(cls))
                                for node, flag in zip(value["inbound_nodes"],
                                                      value.get("list_input", []))]
    if isinstance(out["config"], dict) and "input_layers" in out["config"]:
        _functional_io_to_keras(out["config"])
    return out


def _module_for_key(key, module):
    if key == "learning_rate":
        return "keras.optimizers.schedules"
    for suffix, kind_module in _KIND_MODULES:
        if key.endswith(suffix):
            return kind_module
    return module


def _keras_tensor(ref, tensors):
    shape, dtype = tensors[tuple(ref[:3])]
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": dtype, "keras_history": ref[:3]}}


def _node_to_keras(node, listed, tensors, tensor_arguments=None):
    """graphnet's node as Keras's {"args", "kwargs"}; a layer of several tensor arguments
    (``tensor_arguments``) gets the first two positional, the others as keywords (the key
    left out where it is the value)."""
    refs = [_keras_tensor(ref, tensors) for ref in node]
    kwargs = node[0][3] if node and len(node[0]) > 3 else {}
    if not tensor_arguments:
        return {"args": [refs if listed else refs[0]], "kwargs": kwargs}
    named = dict(zip(tensor_arguments[2:], refs[2:]))
    if len(node) > 2 and list(node[1][:3]) == list(node[2][:3]):
        named.pop("key")
    return {"args": refs[:2], "kwargs": dict(kwargs, **named)}


def _functional_io_to_keras(config):
    for key, flag in (("input_layers", "list_inputs"), ("output_layers", "list_outputs")):
        refs = config[key]
        if isinstance(refs, list) and len(refs) == 1 and not config.pop(flag, False):
            config[key] = refs[0]
        config.pop(flag, None)
