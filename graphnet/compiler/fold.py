"""Constant folding (phase "fold")."""
from ..graph.node import Node
from ..ops.registry import RANDOM, SOURCE
from ..ops.source import ConstantValue
from .phases import rewrite

#: larger results stay computed at run time rather than baked into the plan
MAX_FOLDED_ELEMENTS = 1 << 20


@rewrite("fold")
def fold_constants(node):
    """op(constant, ...) -> constant, computed once by the op's NumPy reference."""
    if node.op.group in (SOURCE, RANDOM) or not node.inputs:
        return None
    for x in node.inputs:   # tried on every node of the graph: no generator per node
        if x.op.name != "CONSTANT":
            return None
    if node.size is None or node.size > MAX_FOLDED_ELEMENTS:
        return None
    value = node.op.perform([x.attrs["value"].array for x in node.inputs], node.attrs)
    return Node("CONSTANT", (), {"value": ConstantValue(value.astype(node.dtype))})
