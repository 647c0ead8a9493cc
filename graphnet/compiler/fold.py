"""Constant folding (phase "fold")."""
from ..graph.node import Node
from ..ops.registry import COLLECTIVE, RANDOM, SOURCE
from ..ops.source import ConstantValue
from .phases import rewrite

#: larger results stay computed at run time rather than baked into the plan
MAX_FOLDED_ELEMENTS = 1 << 20


@rewrite("fold")
def fold_constants(node):
    """op(constant, ...) -> constant, computed once by the op's NumPy reference (never a
    collective's: its sum waits for the other processes' runs, not their compiles)."""
    if node.op.group in (SOURCE, RANDOM, COLLECTIVE) or not node.inputs:
        return None
    for x in node.inputs:   # tried on every node of the graph: no generator per node
        if x.op.name != "CONSTANT":
            return None
    if node.size is None or node.size > MAX_FOLDED_ELEMENTS:
        return None
    value = node.op.perform([x.attrs["value"].array for x in node.inputs], node.attrs)
    return Node("CONSTANT", (), {"value": ConstantValue(value.astype(node.dtype))})
