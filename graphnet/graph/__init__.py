"""The symbolic graph: immutable nodes, symbolic tensors and placeholders, variables and
graph helpers."""
from .graph import format_graph, rebuild, to_dot, topological_order  # noqa: F401
from .node import Attrs, Node  # noqa: F401
from .tensor import SymbolicTensor, placeholder  # noqa: F401
from .variable import Variable  # noqa: F401
