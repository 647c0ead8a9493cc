"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot and
the functional helpers (against Keras 3 and NumPy)."""
import functools

import numpy as np
import pytest

import graphnet as gn
from layer_check import assert_raises_naming, check_layer, make_data

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
L = gn.layers

NUMPY = {"Add": np.add, "Subtract": np.subtract, "Multiply": np.multiply,
         "Maximum": np.maximum, "Minimum": np.minimum}
ELEMENTWISE = ["Add", "Multiply", "Average", "Maximum", "Minimum"]
SHAPES = [
    [(2, 3), (2, 3)],
    [(3, 7), (3, 7), (3, 7)],
    [(1, 257), (1, 257)],
    [(2, 1, 5), (2, 4, 5)],        # size-1 axis broadcasts
    [(2, 5), (2, 3, 5)],           # lower rank: axes inserted after the batch
    [(2, 13, 1), (2, 1, 7), (2, 7)],
    [(0, 4), (0, 4)],
    [(2, 3)],
]


def _keras_merge(shapes, arrays):
    """The output Keras's rules give: expand lower ranks at axis 1, then broadcast."""
    rank = max(len(s) for s in shapes)
    return [a.reshape(a.shape[:1] + (1,) * (rank - a.ndim) + a.shape[1:]) for a in arrays]


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_elementwise_merge(name, shapes):
    result = check_layer(getattr(L, name), {}, list(shapes))
    arrays = _keras_merge(shapes, result.data)
    if name == "Average":
        expected = functools.reduce(np.add, arrays) / len(arrays)
    else:
        expected = functools.reduce(NUMPY[name], arrays)
    np.testing.assert_allclose(result.output, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shapes", [[(2, 3), (2, 3)], [(3, 13, 7), (3, 1, 7)],
                                    [(1, 257), (1, 3, 257)], [(0, 2), (0, 2)]], ids=str)
def test_subtract(shapes):
    result = check_layer(L.Subtract, {}, list(shapes))
    a, b = _keras_merge(shapes, result.data)
    np.testing.assert_allclose(result.output, a - b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("axis,shapes", [
    (-1, [(2, 3), (2, 7), (2, 1)]),
    (1, [(2, 3, 4), (2, 5, 4)]),
    (2, [(3, 13, 1), (3, 13, 7)]),
    (-2, [(1, 257, 2), (1, 1, 2)]),
    (-1, [(2, 5)]),
    (1, [(0, 3), (0, 4)]),
], ids=str)
def test_concatenate(axis, shapes):
    result = check_layer(L.Concatenate, {"axis": axis}, list(shapes))
    np.testing.assert_array_equal(result.output, np.concatenate(result.data, axis=axis))


def _numpy_batch_dot(x, y, axes):
    a0, a1 = (a % n for a, n in zip(axes, (x.ndim, y.ndim)))
    out = np.stack([np.tensordot(xi, yi, axes=(a0 - 1, a1 - 1)) for xi, yi in zip(x, y)])
    return out.reshape(len(x), 1) if out.ndim == 1 else out


@pytest.mark.parametrize("kwargs,shapes,expected", [
    ({"axes": 1}, [(2, 5), (2, 5)], (None, 1)),
    ({"axes": -1}, [(3, 7), (3, 7)], (None, 1)),
    ({"axes": (2, 1)}, [(2, 3, 4), (2, 4, 5)], (None, 3, 5)),
    ({"axes": (1, 2)}, [(2, 7), (2, 13, 7)], (None, 13)),
    ({"axes": (1, 1)}, [(2, 3, 4), (2, 3)], (None, 4)),
    ({"axes": [1, 2]}, [(2, 3, 5), (2, 7, 3)], (None, 5, 7)),
    ({"axes": (3, 1)}, [(2, 3, 4, 5), (2, 5, 6)], (None, 3, 4, 6)),
    ({"axes": (1, 3)}, [(2, 3, 4), (2, 5, 6, 3)], (None, 4, 5, 6)),
    ({"axes": (-1, -2)}, [(1, 1, 257), (1, 257, 1)], (None, 1, 1)),
    ({"axes": 1, "normalize": True}, [(2, 5), (2, 5)], (None, 1)),
    ({"axes": (2, 1), "normalize": True}, [(2, 3, 4), (2, 4, 5)], (None, 3, 5)),
    ({"axes": 1}, [(0, 3), (0, 3)], (None, 1)),
], ids=str)
def test_dot(kwargs, shapes, expected):
    result = check_layer(L.Dot, kwargs, list(shapes), expected_output_shape=expected)
    x, y = result.data
    if not len(x):
        return
    axes = kwargs["axes"]
    axes = (axes, axes) if isinstance(axes, int) else tuple(axes)
    if kwargs.get("normalize"):
        x = x / np.linalg.norm(x, axis=axes[0], keepdims=True)
        y = y / np.linalg.norm(y, axis=axes[1], keepdims=True)
    np.testing.assert_allclose(result.output, _numpy_batch_dot(x, y, axes), rtol=1e-5,
                               atol=1e-5)


def test_functional_helpers():
    a, b = gn.Input((3, 4)), gn.Input((3, 4))
    outs = [L.add([a, b]), L.subtract([a, b]), L.multiply([a, b]), L.average([a, b]),
            L.maximum([a, b]), L.minimum([a, b]), L.concatenate([a, b], axis=1),
            L.dot([a, b], axes=2), L.add([a, b], name="named_add")]
    model = gn.Model([a, b], outs)
    x, y = make_data([(2, 3, 4), (2, 3, 4)])
    got = model.predict([x, y])
    expected = [x + y, x - y, x * y, (x + y) / 2, np.maximum(x, y), np.minimum(x, y),
                np.concatenate([x, y], axis=1), np.einsum("bik,bjk->bij", x, y), x + y]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
    assert model.get_layer("named_add").name == "named_add"


@pytest.mark.parametrize("name", ELEMENTWISE + ["Subtract"])
def test_merge_shape_errors(name):
    cls = getattr(L, name)
    assert_raises_naming(lambda: cls(name="m")([gn.Input((3,)), gn.Input((4,))]),
                         "'m'", name, "(None, 3)", "(None, 4)")
    assert_raises_naming(lambda: cls(name="m2")([gn.Input((2, 3)), gn.Input((5, 3))]),
                         "'m2'", "(None, 2, 3)", "(None, 5, 3)")
    assert_raises_naming(lambda: cls(name="m3")(gn.Input((3,))), "'m3'", "list")
    assert_raises_naming(
        lambda: cls(name="m4")([gn.Input(batch_shape=(2, 3)), gn.Input(batch_shape=(5, 3))]),
        "'m4'", "batch", "(2, 3)", "(5, 3)")


def test_subtract_needs_two_inputs():
    inputs = [gn.Input((3,)) for _ in range(3)]
    assert_raises_naming(lambda: L.Subtract(name="s")(inputs), "'s'", "exactly 2")
    assert_raises_naming(lambda: L.Subtract(name="s1")(inputs[:1]), "'s1'", "exactly 2")


def test_concatenate_errors():
    c = L.Concatenate(axis=1, name="c")
    assert_raises_naming(lambda: c([gn.Input((3, 4)), gn.Input((5, 6))]),
                         "'c'", "(None, 3, 4)", "(None, 5, 6)")
    assert_raises_naming(lambda: L.Concatenate(name="c2")([gn.Input((3, 4)), gn.Input((3,))]),
                         "'c2'", "rank", "(None, 3, 4)", "(None, 3)")
    assert_raises_naming(lambda: L.Concatenate(axis=3, name="c3")([gn.Input((3,)),
                                                                    gn.Input((3,))]),
                         "'c3'", "axis", "(None, 3)")
    assert_raises_naming(lambda: L.Concatenate(axis=0)([gn.Input((3,)), gn.Input((3,))]),
                         "batch axis")
    assert_raises_naming(lambda: L.Concatenate(axis="x"), "axis", exc=TypeError)


def test_dot_errors():
    assert_raises_naming(lambda: L.Dot(axes=1, name="d")([gn.Input((3,)), gn.Input((4,))]),
                         "'d'", "(None, 3)", "(None, 4)")
    assert_raises_naming(lambda: L.Dot(axes=(2, 1), name="d1")([gn.Input((3, 4)),
                                                                 gn.Input((5, 6))]),
                         "'d1'", "(None, 3, 4)", "(None, 5, 6)")
    assert_raises_naming(lambda: L.Dot(axes=0)([gn.Input((3,)), gn.Input((3,))]), "axis 0")
    assert_raises_naming(lambda: L.Dot(axes=1, name="d2")([gn.Input((3,))] * 3), "'d2'",
                         "exactly 2")
    assert_raises_naming(lambda: L.Dot(axes=(1, 2, 3)), "axes")
    assert_raises_naming(lambda: L.Dot(axes="1"), "axes", exc=TypeError)
    assert_raises_naming(lambda: L.Dot(axes=5, name="d3")([gn.Input((3,)), gn.Input((3,))]),
                         "'d3'", "axes")
