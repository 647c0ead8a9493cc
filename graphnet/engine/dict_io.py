"""Dict inputs and outputs of Functional models, as Keras 3 has them.

``gn.Model(inputs={"a": ia, "b": ib}, outputs={"out": o1, "aux": o2})``: the model's
flat inputs and outputs are the dicts' values in sorted-key order (Keras 3's
``tree.flatten``); data dicts are matched by key, ``predict`` returns a dict, and the
losses, metrics, loss weights, targets, sample weights and log names of the outputs go
by the output dict's keys.
"""
def dict_inputs(model_name, structure, x):
    """The arrays of data dict ``x`` in the order of the model's flat inputs (its input
    dict ``structure``'s sorted keys); every key must be there, and no other."""
    missing = [k for k in sorted(structure) if k not in x]
    unknown = [k for k in x if k not in structure]
    if missing or unknown:
        raise ValueError(f"Model '{model_name}': the input dict has keys {sorted(x)}, "
                         f"expected the model's input keys {sorted(structure)}"
                         + (f" (missing {missing})" if missing else "")
                         + (f" (unknown {unknown})" if unknown else ""))
    return [x[k] for k in sorted(structure)]


def structure_refs(structure, flat_refs):
    """A config's refs for a dict ``structure`` ({key: ref}, as Keras 3's config has
    them), else the flat list."""
    if isinstance(structure, dict):
        return {key: ref for key, ref in zip(sorted(structure), flat_refs)}
    return flat_refs
