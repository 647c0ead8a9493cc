"""Model architecture configs: Functional and Sequential to and from plain dicts/JSON.

Layers resolve by class name from graphnet's layer registry or ``custom_objects``;
nothing named in a config is ever imported.
"""
import inspect
import json

from ..graph.tensor import SymbolicTensor
from .base_layer import layer_registry
from .dict_io import structure_refs
from .input_layer import InputLayer


def serialize_layer(layer):
    return {"class_name": _class_name(layer), "config": layer.get_config()}


def _class_name(layer):
    from .model import Model
    if type(layer) is Model and not layer._is_subclassed:
        return "Functional"     # a Functional subclass (a custom train_step) keeps its class
    return type(layer).__name__


def deserialize_layer(config, custom_objects=None):
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a serialized layer needs 'class_name' and 'config', got {config!r}")
    cls = layer_registry.lookup(config["class_name"], custom_objects)
    cfg = config.get("config") or {}
    if "custom_objects" in inspect.signature(cls.from_config).parameters:
        return cls.from_config(cfg, custom_objects=custom_objects)
    return cls.from_config(cfg)


def _model_calls(model):
    """For each layer, its calls that belong to ``model``, in order (Keras's node index)."""
    mine = {id(c) for c in model._calls_in_order}
    return {id(layer): [c for c in layer._calls if id(c) in mine] for layer in model._layers}


def _tensor_ref(tensor, calls_of):
    call, index = tensor.history
    return [call.layer.name, calls_of[id(call.layer)].index(call), index]


def _tensors_to_refs(value, calls_of):
    """A call argument with its symbolic tensors (an explicit ``mask=``) as Keras 3
    writes them: ``{"class_name": "__keras_tensor__", "config": {"shape", "dtype",
    "keras_history": [layer, node, index]}}``."""
    if isinstance(value, (list, tuple)):
        return [_tensors_to_refs(v, calls_of) for v in value]
    if isinstance(value, SymbolicTensor):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(value.shape), "dtype": value.dtype,
                           "keras_history": _tensor_ref(value, calls_of)}}
    return value


def _is_tensor_ref(value):
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _refs_in(value):
    """The ``[layer, node, index]`` references of the tensors in a call argument."""
    if isinstance(value, dict) and not _is_tensor_ref(value):
        return [ref for v in value.values() for ref in _refs_in(v)]
    if isinstance(value, list):
        return [ref for v in value for ref in _refs_in(v)]
    return [value["config"]["keras_history"]] if _is_tensor_ref(value) else []


def _node_kwargs(node):
    return node[0][3] if node and len(node[0]) > 3 else {}


def _node_refs(node):
    """The tensors a serialized call reads: its inputs, then those in its arguments."""
    return list(node) + _refs_in(_node_kwargs(node))


def _refs_to_tensors(value, made):
    if isinstance(value, dict) and not _is_tensor_ref(value):
        return {k: _refs_to_tensors(v, made) for k, v in value.items()}
    if isinstance(value, list):
        return [_refs_to_tensors(v, made) for v in value]
    if _is_tensor_ref(value):
        layer, node, index = value["config"]["keras_history"]
        return made[(layer, node)][index]
    return value


def functional_config(model):
    calls_of = _model_calls(model)
    layers = []
    for layer in model._layers:
        inbound = []
        for call in calls_of[id(layer)]:
            if isinstance(layer, InputLayer):
                continue
            kwargs = {k: _tensors_to_refs(v, calls_of) for k, v in call.kwargs.items()
                      if v is not None}
            inbound.append([_tensor_ref(t, calls_of) + [kwargs] for t in call.inputs])
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = inbound
        entry["list_input"] = [c.list_input for c in calls_of[id(layer)]]
        layers.append(entry)
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": structure_refs(model._input_structure,
                                           [_tensor_ref(t, calls_of) for t in model.inputs]),
            "output_layers": structure_refs(model._output_structure,
                                            [_tensor_ref(t, calls_of) for t in model.outputs]),
            "list_inputs": isinstance(model._input_structure, (list, tuple)),
            "list_outputs": isinstance(model._output_structure, (list, tuple))}


def functional_from_config(cls, config, custom_objects=None):
    layers, pending, made = {}, [], {}
    for entry in config["layers"]:
        layer = deserialize_layer(entry, custom_objects)
        layers[entry["name"]] = layer
        if isinstance(layer, InputLayer):
            made[(entry["name"], 0)] = [layer.output]
        flags = entry.get("list_input") or []
        for k, node in enumerate(entry.get("inbound_nodes", [])):
            pending.append((entry["name"], k, node, flags[k] if k < len(flags) else len(node) > 1))
    while pending:
        progress = False
        for item in list(pending):
            name, k, node, list_input = item
            if not all((ref[0], ref[1]) in made for ref in _node_refs(node)):
                continue
            inputs = [made[(ref[0], ref[1])][ref[2]] for ref in node]
            kwargs = _refs_to_tensors(_node_kwargs(node), made)
            out = layers[name](inputs if list_input else inputs[0], **kwargs)
            made[(name, k)] = list(out) if isinstance(out, (list, tuple)) else [out]
            pending.remove(item)
            progress = True
        if not progress:
            missing = sorted({ref[0] for _, _, node, _ in pending for ref in _node_refs(node)
                              if (ref[0], ref[1]) not in made})
            raise ValueError(f"model config is inconsistent: layer inputs never produced: "
                             f"{missing}")

    def resolve(refs, as_list):
        if isinstance(refs, dict):
            return {key: made[(r[0], r[1])][r[2]] for key, r in refs.items()}
        tensors = [made[(r[0], r[1])][r[2]] for r in refs]
        return tensors if as_list or len(tensors) > 1 else tensors[0]

    inputs = resolve(config["input_layers"], config.get("list_inputs", False))
    outputs = resolve(config["output_layers"], config.get("list_outputs", False))
    return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


def sequential_config(model):
    layers = []
    if model._input_layer is not None:
        layers.append(serialize_layer(model._input_layer))
    layers += [serialize_layer(layer) for layer in model._stack]
    return {"name": model.name, "trainable": model.trainable, "layers": layers}


def sequential_from_config(cls, config, custom_objects=None):
    model = cls(name=config.get("name"), trainable=config.get("trainable", True))
    for entry in config["layers"]:
        model.add(deserialize_layer(entry, custom_objects), rebuild=False)
    model._rebuild()
    return model


def serialize_model(model):
    from .subclassed import build_config
    out = {"class_name": _class_name(model), "config": model.get_config(),
           "graphnet_version": "0.1.0"}
    built = build_config(model) if hasattr(model, "_is_subclassed") else None
    if built is not None:
        out["build_config"] = built
    return out


def model_from_config(config, custom_objects=None, safe_mode=True):
    """Rebuild a model from its config. Python lambdas (bytecode) load only with
    ``safe_mode=False``: never for configs from an untrusted source."""
    from .subclassed import build_from_config
    if safe_mode is False:
        from ..layers.lambda_layer import unsafe_deserialization
        with unsafe_deserialization():
            model = deserialize_layer(config, custom_objects)
    else:
        model = deserialize_layer(config, custom_objects)
    build_from_config(model, config.get("build_config"))
    return model


def model_from_json(json_string, custom_objects=None, safe_mode=True):
    """Rebuild a model (fresh weights) from ``model.to_json()``."""
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as exc:
        raise ValueError(f"model_from_json: not valid JSON: {exc}") from None
    return model_from_config(config, custom_objects, safe_mode)
