"""The NumPy reference interpreter: runs an op graph with each op's ``perform``.

Tests use it as the oracle for the compiled path (``backend="reference"``).
"""
from ..graph.graph import topological_order


def evaluate(outputs, feed, training=False):
    """Evaluate ``outputs`` given ``feed``: {INPUT node uid: array}; IN_TRAIN_PHASE
    nodes take their ``training`` branch, and the other branch is not evaluated."""
    def taken(node):
        # only the branch taken is run: the other's RANDOM ops would advance their state
        if node.op.name == "IN_TRAIN_PHASE":
            return node.inputs[:1] if training else node.inputs[1:2]
        return node.inputs

    values = {}
    for node in topological_order(outputs, taken):
        if node.op.name == "IN_TRAIN_PHASE":
            values[id(node)] = values[id(node.inputs[0 if training else 1])]
            continue
        if node.op.name == "INPUT":
            uid = node.attrs["uid"]
            if uid not in feed:
                raise ValueError(f"input {node.attrs['name']!r} was not fed")
            values[id(node)] = feed[uid]
        else:
            values[id(node)] = node.op.perform([values[id(x)] for x in node.inputs], node.attrs)
    return [values[id(n)] for n in outputs]
