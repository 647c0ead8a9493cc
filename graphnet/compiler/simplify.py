"""Algebraic simplifications (phase "simplify"). Shapes are concrete here."""
import numpy as np

from ..graph.node import Node
from .phases import rewrite


def _const_value(node):
    return node.attrs["value"].array if node.op.name == "CONSTANT" else None


def _is_constant_equal(node, value):
    array = _const_value(node)
    return array is not None and array.size > 0 and bool(np.all(array == value))


def _keeps_shape(node, x):
    return x.shape == node.shape and x.dtype == node.dtype


@rewrite("simplify")
def remove_identity_reshape(node):
    """reshape(x) -> x when the shape does not change."""
    if node.op.name == "RESHAPE" and _keeps_shape(node, node.inputs[0]):
        return node.inputs[0]
    return None


@rewrite("simplify")
def merge_reshapes(node):
    """reshape(reshape(x)) -> reshape(x)."""
    if node.op.name == "RESHAPE" and node.inputs[0].op.name == "RESHAPE":
        return Node("RESHAPE", node.inputs[0].inputs, {"shape": node.shape})
    return None


@rewrite("simplify")
def merge_transposes(node):
    """transpose(transpose(x, p), q) -> transpose(x, p[q]), or x when that is the identity."""
    if node.op.name != "TRANSPOSE" or node.inputs[0].op.name != "TRANSPOSE":
        return None
    inner = node.inputs[0]
    perm = tuple(inner.attrs["perm"][q] for q in node.attrs["perm"])
    if perm == tuple(range(len(perm))):
        return inner.inputs[0]
    return Node("TRANSPOSE", inner.inputs, {"perm": perm})


@rewrite("simplify")
def remove_identity_transpose(node):
    """transpose(x, identity) -> x."""
    if node.op.name == "TRANSPOSE" and node.attrs["perm"] == tuple(range(node.ndim)):
        return node.inputs[0]
    return None


@rewrite("simplify")
def remove_neutral_operand(node):
    """x * 1 -> x, 1 * x -> x, x + 0 -> x, 0 + x -> x, x - 0 -> x, x / 1 -> x
    (only where the neutral constant does not broadcast x to a larger shape)."""
    name = node.op.name
    if name not in ("MUL", "ADD", "SUB", "DIV"):
        return None
    a, b = node.inputs
    neutral = 1 if name in ("MUL", "DIV") else 0
    if _is_constant_equal(b, neutral) and _keeps_shape(node, a):
        return a
    if name in ("MUL", "ADD") and _is_constant_equal(a, neutral) and _keeps_shape(node, b):
        return b
    return None


@rewrite("simplify")
def remove_same_type_cast(node):
    """cast(x, dtype of x) -> x."""
    if node.op.name == "CAST" and node.inputs[0].dtype == node.dtype:
        return node.inputs[0]
    return None
