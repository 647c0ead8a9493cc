"""What an exporter compiles: the INPUT and output nodes of a model, a ``gn.function``
or lists of symbolic tensors, their names, and concrete shapes for a batch size."""
import numpy as np


def graph_of(model_or_inputs, outputs=None):
    """(input nodes, output nodes, input names, output names, name) of a model, a compiled
    ``gn.function`` or ``(inputs, outputs)`` symbolic tensors."""
    from ..graph.node import Node
    from ..graph.tensor import SymbolicTensor

    def node(t, what):
        if isinstance(t, SymbolicTensor):
            return t.node
        if isinstance(t, Node):
            return t
        raise TypeError(f"export: {what} must be symbolic tensors, got {type(t).__name__}")

    if outputs is not None:
        ins = [model_or_inputs] if not isinstance(model_or_inputs, (list, tuple)) \
            else list(model_or_inputs)
        outs = [outputs] if not isinstance(outputs, (list, tuple)) else list(outputs)
        in_nodes = [node(t, "inputs") for t in ins]
        out_nodes = [node(t, "outputs") for t in outs]
        return (in_nodes, out_nodes, [n.attrs["name"] for n in in_nodes],
                [f"output_{i}" for i in range(len(out_nodes))], "model")
    obj = model_or_inputs
    if hasattr(obj, "input_nodes") and hasattr(obj, "output_nodes"):   # gn.function
        return (list(obj.input_nodes), list(obj.output_nodes), list(obj.input_names),
                [f"output_{i}" for i in range(len(obj.output_nodes))],
                getattr(obj, "name", "function"))
    if hasattr(obj, "inputs") and hasattr(obj, "outputs"):
        if not getattr(obj, "built", True) or not obj.outputs:
            raise ValueError(f"export: model '{getattr(obj, 'name', '?')}' is not built; "
                             "call it on data or build(input_shape) first")
        _refuse_carried_states(obj)
        in_nodes = [node(t, "model inputs") for t in obj.inputs]
        out_nodes = [node(t, "model outputs") for t in obj.outputs]
        names = list(obj.output_names) if hasattr(obj, "output_names") else \
            [f"output_{i}" for i in range(len(out_nodes))]
        return (in_nodes, out_nodes, [n.attrs["name"] for n in in_nodes],
                unique_names(names), getattr(obj, "name", "model"))
    raise TypeError(f"export: expected a model, a gn.function or (inputs, outputs), got "
                    f"{type(obj).__name__}")


def _refuse_carried_states(model):
    """An exported plan computes outputs only: a model whose inference writes state (a
    stateful RNN's carried states) would lose that and read frozen states instead."""
    updates = getattr(model, "inference_state_updates", None) or []
    if updates:
        names = ", ".join(var.name for var, _ in updates)
        raise ValueError(f"export: model '{getattr(model, 'name', '?')}' carries states from "
                         f"one call to the next ({names}: a stateful layer), which an "
                         "exported plan cannot; export the same layers built with "
                         "stateful=False, their states given as initial_state inputs and "
                         "returned with return_state=True")


def unique_names(names):
    seen, out = {}, []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}_{k}")
    return out


def concrete_shapes(in_nodes, batch_size, shapes=None):
    """Shapes to compile for: ``shapes`` if given, else each input's shape with every
    unknown dimension (None) set to ``batch_size``."""
    if shapes is not None:
        shapes = [tuple(int(d) for d in s) for s in shapes]
        if len(shapes) != len(in_nodes):
            raise ValueError(f"export: {len(in_nodes)} inputs but {len(shapes)} shapes")
        for n, s in zip(in_nodes, shapes):
            want = n.shape
            if len(s) != len(want) or any(w is not None and w != d for w, d in zip(want, s)):
                raise ValueError(f"export: input {n.attrs['name']!r} has shape {want}, cannot "
                                 f"compile it for {s}")
        return shapes
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"export: batch_size must be >= 1, got {batch_size}")
    return [tuple(batch_size if d is None else int(d) for d in n.shape) for n in in_nodes]


def sample_inputs(in_nodes, shapes, seed=0):
    """Deterministic test inputs of the given shapes (normal floats, small ints, bools)."""
    rng = np.random.default_rng(seed)
    out = []
    for n, s in zip(in_nodes, shapes):
        dtype = np.dtype(n.dtype)
        if dtype.kind == "f":
            out.append(rng.standard_normal(s).astype(dtype))
        elif dtype.kind == "b":
            out.append(rng.random(s) < 0.5)
        else:
            out.append(rng.integers(0, 3, s).astype(dtype))
    return out
