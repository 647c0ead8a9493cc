"""The op graph: immutable nodes, shape rules at construction, order, printing."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.engine.input_layer import placeholder
from graphnet.graph import Node, format_graph, to_dot, topological_order
from graphnet.ops import OpError


def test_nodes_are_immutable_and_hash_by_structure():
    x = placeholder((None, 3))
    a = Node("RELU", [x.node])
    b = Node("RELU", [x.node])
    assert a == b and hash(a) == hash(b) and a is not b
    assert Node("RELU", [a]) != Node("RELU", [b])  # inputs compare by identity
    with pytest.raises(AttributeError):
        a.op = None


def test_shape_rules_run_when_a_node_is_built():
    x = placeholder((None, 3))
    y = placeholder((None, 4))
    with pytest.raises(OpError, match=r"\(None, 3\) and \(None, 4\)"):
        Node("ADD", [x.node, y.node])
    assert gn.ops.add(x, np.ones((1, 3), "float32")).shape == (None, 3)
    assert gn.ops.matmul(x, np.ones((3, 5), "float32")).shape == (None, 5)


def test_topological_order_puts_inputs_first_and_visits_shared_nodes_once():
    x = placeholder((2, 2))
    h = gn.ops.relu(x)
    out = gn.ops.add(h, gn.ops.exp(h))
    order = topological_order([out.node])
    assert order[0] is x.node and order[-1] is out.node
    assert len(order) == 4
    assert all(order.index(i) < order.index(n) for n in order for i in n.inputs)


def test_deep_graphs_do_not_hit_the_recursion_limit():
    x = placeholder((1,))
    y = x
    for _ in range(5000):
        y = gn.ops.add(y, 1.0)
    assert len(topological_order([y.node])) == 10001


def test_printing_and_dot():
    x = placeholder((None, 3), name="x")
    y = gn.ops.softmax(gn.ops.relu(x))
    text = format_graph([y.node])
    assert "RELU(%0)" in text and "SOFTMAX(%1)" in text and text.endswith("return %2")
    dot = to_dot([y.node])
    assert dot.startswith('digraph "graph"') and "n0 -> n1" in dot and "out0" in dot


def test_ops_accept_numbers_arrays_and_keep_integer_arrays():
    x = placeholder((2,), dtype="int32")
    assert gn.ops.convert_to_tensor(np.arange(3)).dtype == "int64"
    assert gn.ops.convert_to_tensor(1.5).dtype == "float32"
    assert gn.ops.add(x, x).dtype == "int32"   # Keras's promotion (test_dtype_promotion.py)
    assert gn.ops.cast(x, "float32").dtype == "float32"


def test_getitem_and_reshape_keep_unknown_batch():
    x = placeholder((None, 4, 6))
    assert x[:, 1].shape == (None, 6)
    assert x[..., ::2].shape == (None, 4, 3)
    assert x[:, None, -1, 1:3].shape == (None, 1, 2)
    assert gn.ops.reshape(x, (-1, 24)).shape == (None, 24)
    assert gn.ops.reshape(x, (None, 2, 12)).shape == (None, 2, 12)
    with pytest.raises(OpError, match="cannot reshape"):
        gn.ops.reshape(x, (None, 5))
    with pytest.raises(IndexError, match="out of bounds"):
        x[:, 4]
