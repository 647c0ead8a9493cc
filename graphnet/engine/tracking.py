"""Attribute tracking: the layers and Variables a layer holds, as Keras 3 tracks them.

Keras 3 tracks every attribute of a layer that is a layer, a Variable, or a list, tuple
or dict of them (nested), in the order the attributes were first assigned; a layer's
weights are its own Variables (trainable first) followed by its sublayers' weights.
graphnet reads the attributes when asked instead of wrapping them at assignment, so a
list filled after it was assigned (``self.blocks = []; self.blocks.append(...)``) is
tracked too. Variables are also recorded when assigned (``track_assigned_variables``):
Keras orders a layer's own Variables by when they were first tracked, ``add_weight`` or
attribute assignment alike.
"""

# The engine's own bookkeeping: call records and state updates refer to Variables and
# layers that belong elsewhere (or are already counted), so they are never tracked.
_ENGINE_ATTRIBUTES = frozenset({"_weights", "_calls", "_state_updates"})


def _walk(value, kinds, found, seen):
    if isinstance(value, kinds):
        if id(value) not in seen:
            seen.add(id(value))
            found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, kinds, found, seen)
    elif isinstance(value, dict):
        for item in list(value.values()):   # a snapshot: another thread may add keys
            _walk(item, kinds, found, seen)


def track_assigned_variables(owner, name, value, variable_type):
    """``owner.name = value`` is being assigned: append the Variables ``value`` holds
    (alone or nested) to ``owner._weights``, after those already there."""
    weights = vars(owner).get("_weights")
    if weights is None or name in _ENGINE_ATTRIBUTES:
        return
    found = []
    _walk(value, variable_type, found, {id(w) for w in weights})
    weights.extend(found)


def tracked_attributes(owner, kinds):
    """Objects of type ``kinds`` held by ``owner``'s attributes, directly or inside nested
    lists, tuples and dicts, in attribute order, each once; ``owner`` itself is skipped
    (a layer holding a reference to itself does not own itself)."""
    found, seen = [], {id(owner)}
    for name, value in list(vars(owner).items()):   # a snapshot, as in _walk
        if name not in _ENGINE_ATTRIBUTES:
            _walk(value, kinds, found, seen)
    return found
