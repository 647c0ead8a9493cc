"""LayerCall: the record of one call of a layer on symbolic tensors (Keras's Node)."""
from ..graph.tensor import SymbolicTensor


class LayerCall:
    """``outputs = layer(inputs, **kwargs)``, as recorded at definition time.

    Models walk these records backwards from their outputs to find their layers.
    """

    __slots__ = ("layer", "inputs", "outputs", "kwargs", "list_input")

    def __init__(self, layer, inputs, outputs, kwargs, list_input):
        self.layer = layer
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.kwargs = dict(kwargs)
        self.list_input = list_input

    def __repr__(self):
        return f"<LayerCall {self.layer.name} x{len(self.inputs)} -> x{len(self.outputs)}>"


def flatten(structure):
    """Tensors (or arrays) of a single value, list, tuple or dict, in order; a dict's
    values in the order of its sorted keys, as Keras 3's ``tree.flatten``."""
    if isinstance(structure, (list, tuple)):
        out = []
        for s in structure:
            out += flatten(s)
        return out
    if isinstance(structure, dict):
        _check_keys(structure)
        out = []
        for key in sorted(structure):
            out += flatten(structure[key])
        return out
    return [structure]


def nested_leaves(value):
    """The leaves of nested lists, tuples and dicts (dict values in their own order, keys
    unchecked): what compile's loss and metric arguments hold."""
    if isinstance(value, dict):
        for v in value.values():
            yield from nested_leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from nested_leaves(v)
    else:
        yield value


def _check_keys(structure):
    bad = [k for k in structure if not isinstance(k, str)]
    if bad:
        raise TypeError(f"dict keys of inputs and outputs must be strings, got "
                        f"{[type(k).__name__ for k in bad]} keys {bad!r}")


def pack_like(structure, flat):
    """Put ``flat`` back into the nesting of ``structure`` (a dict takes its values in
    sorted-key order, as ``flatten`` gave them, and keeps its own key order)."""
    flat = list(flat)

    def take(s):
        if isinstance(s, dict):
            values = {key: take(s[key]) for key in sorted(s)}
            return {key: values[key] for key in s}
        if isinstance(s, (list, tuple)):
            return type(s)(take(x) for x in s) if isinstance(s, tuple) else [take(x) for x in s]
        return flat.pop(0)
    return take(structure)


def is_symbolic(x):
    return isinstance(x, SymbolicTensor)
