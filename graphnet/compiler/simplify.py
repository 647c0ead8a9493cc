"""Algebraic simplifications (phase "simplify"). Shapes are concrete here."""
import numpy as np

from ..graph.node import Node
from ..ops.elementwise import Binary
from ..ops.source import ConstantValue
from .phases import rewrite

#: sums of filled arrays with more results than this stay computed at run time
MAX_FOLDED_SUM_ELEMENTS = 1024


def _const_value(node):
    return node.attrs["value"].array if node.op.name == "CONSTANT" else None


def _is_constant_equal(node, value):
    """A CONSTANT or FULL_LIKE node all of whose elements equal ``value``."""
    if node.op.name == "FULL_LIKE":
        return float(node.attrs["value"]) == value and node.size != 0
    array = _const_value(node)
    return array is not None and array.size > 0 and bool(np.all(array == value))


def _constant(array, dtype):
    return Node("CONSTANT", (), {"value": ConstantValue(np.asarray(array, dtype=dtype))})


def _keeps_shape(node, x):
    return x.shape == node.shape and x.dtype == node.dtype


@rewrite("simplify", ops=("RESHAPE",))
def remove_identity_reshape(node):
    """reshape(x) -> x when the shape does not change."""
    if node.op.name == "RESHAPE" and _keeps_shape(node, node.inputs[0]):
        return node.inputs[0]
    return None


@rewrite("simplify", ops=("RESHAPE",))
def merge_reshapes(node):
    """reshape(reshape(x)) -> reshape(x)."""
    if node.op.name == "RESHAPE" and node.inputs[0].op.name == "RESHAPE":
        return Node("RESHAPE", node.inputs[0].inputs, {"shape": node.shape})
    return None


@rewrite("simplify", ops=("TRANSPOSE",))
def merge_transposes(node):
    """transpose(transpose(x, p), q) -> transpose(x, p[q]), or x when that is the identity."""
    if node.op.name != "TRANSPOSE" or node.inputs[0].op.name != "TRANSPOSE":
        return None
    inner = node.inputs[0]
    perm = tuple(inner.attrs["perm"][q] for q in node.attrs["perm"])
    if perm == tuple(range(len(perm))):
        return inner.inputs[0]
    return Node("TRANSPOSE", inner.inputs, {"perm": perm})


@rewrite("simplify", ops=("TRANSPOSE",))
def remove_identity_transpose(node):
    """transpose(x, identity) -> x."""
    if node.op.name == "TRANSPOSE" and node.attrs["perm"] == tuple(range(node.ndim)):
        return node.inputs[0]
    return None


@rewrite("simplify", ops=("MUL", "ADD", "SUB", "DIV"))
def remove_neutral_operand(node):
    """x * 1 -> x, 1 * x -> x, x + 0 -> x, 0 + x -> x, x - 0 -> x, x / 1 -> x, the neutral
    value a constant or a FULL_LIKE (gradients add zeros_like(x) to resolve a batch size
    unknown when they were built); only where it does not broadcast x to a larger shape."""
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


@rewrite("simplify", ops=("CAST",))
def remove_same_type_cast(node):
    """cast(x, dtype of x) -> x."""
    if node.op.name == "CAST" and node.inputs[0].dtype == node.dtype:
        return node.inputs[0]
    return None


@rewrite("simplify", ops=("FULL_LIKE",))
def fold_scalar_full_like(node):
    """full_like(x, v) -> constant v when x is a scalar (its value is never read)."""
    if node.op.name == "FULL_LIKE" and node.shape == ():
        return _constant(node.attrs["value"], node.dtype)
    return None


@rewrite("simplify", ops=("REDUCE_SUM",))
def fold_sum_of_full_like(node):
    """sum(full_like(x, v), axes) -> constant v * (number of summed elements) when the
    shapes are known (the element counts the gradients of means compute at run time)."""
    if node.op.name != "REDUCE_SUM" or node.inputs[0].op.name != "FULL_LIKE":
        return None
    full = node.inputs[0]
    if node.size is None or full.size is None or node.size > MAX_FOLDED_SUM_ELEMENTS:
        return None
    count = full.size // node.size if node.size else 0
    return _constant(np.full(node.shape, float(full.attrs["value"]) * count), node.dtype)


@rewrite("simplify")
def remove_broadcast_into_binary(node):
    """binary(broadcast_to(a), b) -> binary(a, b) (either side) when the other operand
    already gives the result its shape: elementwise ops broadcast by themselves."""
    if not isinstance(node.op, Binary):
        return None
    a, b = node.inputs
    if a.op.name == "BROADCAST_TO" and b.shape == node.shape:
        return Node(node.op, (a.inputs[0], b), node.attrs)
    if b.op.name == "BROADCAST_TO" and a.shape == node.shape:
        return Node(node.op, (a, b.inputs[0]), node.attrs)
    return None


@rewrite("simplify", ops=("ADD",))
def add_bias_before_split(node):
    """reshape(matmul(a, w)) + b -> reshape(matmul(a, w) + reshape(b)) when the reshape
    splits the product's last axis into the trailing axes b spans exactly (EinsumDense's
    (heads, key_dim) bias in MultiHeadAttention): the add then meets the product, whose
    GEMM epilogue takes a bias (graphnet/compiler/fuse.py)."""
    if node.op.name != "ADD":
        return None
    for split, bias in (node.inputs, node.inputs[::-1]):
        if split.op.name != "RESHAPE" or split.inputs[0].op.name != "MATMUL" or \
                split.shape != node.shape or not 0 < bias.ndim < split.ndim:
            continue
        product = split.inputs[0]
        lead = split.ndim - bias.ndim
        if split.shape[lead:] == bias.shape and split.shape[:lead] == product.shape[:-1] \
                and product.dtype == bias.dtype == node.dtype:
            flat = Node("RESHAPE", (bias,), {"shape": (product.shape[-1],)})
            return Node("RESHAPE", (Node("ADD", (product, flat), {}),),
                        {"shape": node.shape})
    return None
