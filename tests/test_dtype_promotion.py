"""Keras 3's dtype promotion in gn.ops: a table of ops x input dtypes run through the C
path (and the NumPy reference), each result's dtype and values against keras.ops on the
torch backend; Python numbers weak-typed; float64 still refused by the C kernels."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.graph.graph import topological_order
from graphnet.ops.dtypes import promote_dtypes
from extras import compare_with, keras, needs

ops = gn.ops

VALUES = {
    "bool": np.array([[True, False, True, True, False]]),
    "uint8": np.array([[0, 1, 2, 9, 100]], "uint8"),
    "int8": np.array([[0, 1, -2, 7, -100]], "int8"),
    "int32": np.array([[0, 1, -2, 7, 1000]], "int32"),
    "int64": np.array([[3, 1, -2, 7, 1234]], "int64"),
    "float32": np.array([[0.5, 1.5, -2.0, 3.25, 7.0]], "float32"),
}
SECOND = {  # a second operand without zeros, so divisions are defined
    "bool": np.array([[True, True, False, True, False]]),
    "uint8": np.array([[3, 1, 2, 4, 5]], "uint8"),
    "int8": np.array([[3, -1, 2, 4, -5]], "int8"),
    "int32": np.array([[3, -1, 2, 4, 9]], "int32"),
    "int64": np.array([[3, 1, 5, 4, 2]], "int64"),
    "float32": np.array([[2.0, -0.5, 1.5, 4.0, 0.25]], "float32"),
}


def run(fn, *arrays, backend="c"):
    """fn over gn.Input tensors of the arrays' dtypes, compiled and run: (value, dtype)."""
    inputs = [gn.Input(a.shape[1:], dtype=str(a.dtype)) for a in arrays]
    out = fn(*inputs)
    value = gn.function(inputs, out, backend=backend)(*arrays)
    return np.asarray(value), out.dtype


def keras_eager(name, *arrays, **kwargs):
    """keras.ops.<name> on torch tensors: (value, dtype), or None where Keras raises."""
    tensors = [keras.ops.convert_to_tensor(a) for a in arrays]
    try:
        out = getattr(keras.ops, name)(*tensors, **kwargs)
    except (RuntimeError, TypeError, ValueError, NotImplementedError):
        return None
    return keras.ops.convert_to_numpy(out), keras.backend.standardize_dtype(out.dtype)


def assert_matches(got, want, what):
    (value, dtype), (kvalue, kdtype) = got, want
    assert dtype == kdtype, f"{what}: dtype {dtype}, Keras gives {kdtype}"
    assert value.dtype == np.dtype(kdtype), f"{what}: the run returned {value.dtype}"
    np.testing.assert_allclose(value.astype(np.float64), np.asarray(kvalue, np.float64),
                               rtol=2e-6, atol=1e-6, equal_nan=True, err_msg=what)


UNARY = ["abs", "negative", "square", "sign", "sqrt", "exp", "log1p", "tanh", "sigmoid",
         "floor", "ceil", "round", "relu", "reciprocal", "softsign", "erf", "logical_not",
         "sum", "prod", "mean", "max", "min", "argmax", "argmin", "any", "all", "var",
         "ones_like", "zeros_like"]
UNARY_DTYPES = ["bool", "uint8", "int8", "int32", "float32"]

# Keras 3's symbolic dtype where its torch kernels raise (torch has no such int or bool
# kernel); graphnet computes these in float32 and casts back, as jax does.
KERAS_SYMBOLIC = {("negative", "bool"): "bool", ("relu", "bool"): "bool",
                  ("round", "bool"): "bool"}


@pytest.mark.parametrize("name", UNARY)
@needs(keras)
def test_unary_and_reductions_as_keras(name):
    compared = 0
    for dtype in UNARY_DTYPES:
        x = VALUES[dtype]
        want = keras_eager(name, x)
        if want is None:   # Keras's torch kernel raises on this dtype
            if (name, dtype) not in KERAS_SYMBOLIC:
                continue
            want = x, KERAS_SYMBOLIC[(name, dtype)]   # -b, relu(b), round(b) are b
        got = run(getattr(ops, name), x)
        assert_matches(got, want, f"{name}({dtype})")
        ref = run(getattr(ops, name), x, backend="reference")
        assert ref[1] == got[1]
        np.testing.assert_allclose(ref[0].astype(float), got[0].astype(float), rtol=2e-6,
                                   atol=1e-30, equal_nan=True)
        compared += 1
    assert compared >= 4, f"{name}: only {compared} dtypes compared"


BINARY = ["add", "subtract", "multiply", "divide", "floor_divide", "mod", "power",
          "maximum", "minimum", "arctan2", "equal", "not_equal", "less", "greater_equal",
          "logical_and", "logical_or"]
PAIRS = [("bool", "bool"), ("bool", "int32"), ("int32", "int32"), ("int32", "float32"),
         ("uint8", "int8"), ("uint8", "uint8"), ("int8", "int32"), ("bool", "float32"),
         ("int64", "int32"), ("int64", "float32"), ("uint8", "float32")]


@pytest.mark.parametrize("name", BINARY)
@needs(keras)
def test_binary_as_keras(name):
    compared = 0
    for pair in PAIRS:
        a, b = VALUES[pair[0]], SECOND[pair[1]]
        if name == "power":   # small non-negative exponents: integer powers stay in range
            b = np.abs(b) % 3 if b.dtype != bool else b
        want = keras_eager(name, a, b)
        if want is None:   # torch has no kernel for this pair (bool - bool, ...)
            continue
        if pair == ("uint8", "int8"):   # Keras's int16: graphnet has no int16 and widens
            want = (want[0], "int32" if want[1] == "int16" else want[1])
        if want[1] == "int32" and promote_dtypes(*pair) == "int64":
            # Keras's torch backend keeps int64 in add, subtract, ... (torch's operators)
            # but narrows it to int32 in maximum, floor_divide, ... (its result_type);
            # graphnet keeps 64 bits throughout
            want = (want[0], "int64")
        assert_matches(run(getattr(ops, name), a, b), want, f"{name}{pair}")
        compared += 1
    assert compared >= 8, f"{name}: only {compared} dtype pairs compared"


SCALARS = [2, 2.5, True]


@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "divide", "equal"])
@needs(keras)
def test_python_numbers_are_weak(name):
    compared = 0
    for dtype in ("bool", "uint8", "int32", "float32"):
        x = VALUES[dtype]
        for scalar in SCALARS:
            want = keras_eager_scalar(name, x, scalar)
            if want is None:
                continue
            assert_matches(run(lambda t: getattr(ops, name)(t, scalar), x), want,
                           f"{name}({dtype}, {scalar!r})")
            assert_matches(run(lambda t: getattr(ops, name)(scalar, t), x),
                           keras_eager_scalar(name, scalar, x), f"{name}({scalar!r}, {dtype})")
            compared += 1
    assert compared >= 10, f"{name}: only {compared} cases compared"


def keras_eager_scalar(name, a, b):
    conv = [keras.ops.convert_to_tensor(v) if isinstance(v, np.ndarray) else v for v in (a, b)]
    try:
        out = getattr(keras.ops, name)(*conv)
    except (RuntimeError, TypeError, ValueError):
        return None
    return keras.ops.convert_to_numpy(out), keras.backend.standardize_dtype(out.dtype)


@pytest.mark.parametrize("dtypes", [("bool", "int32"), ("int32", "float32"),
                                    ("uint8", "uint8"), ("bool", "bool")], ids="-".join)
@needs(keras)
def test_where_concatenate_and_matmul_as_keras(dtypes):
    cond = VALUES["bool"]
    a, b = VALUES[dtypes[0]], SECOND[dtypes[1]]
    assert_matches(run(lambda c, x, y: ops.where(c, x, y), cond, a, b),
                   keras_eager("where", cond, a, b), f"where{dtypes}")
    assert_matches(run(lambda x, y: ops.concatenate([x, y], axis=1), a, b),
                   _keras_list("concatenate", [a, b], axis=1), f"concatenate{dtypes}")
    if "bool" not in dtypes:
        am, bm = a.reshape(5, 1)[:1], b.reshape(1, 5)[:, :1]
        assert_matches(run(ops.matmul, am, bm), keras_eager("matmul", am, bm),
                       f"matmul{dtypes}")


def _keras_list(name, arrays, **kwargs):
    out = getattr(keras.ops, name)([keras.ops.convert_to_tensor(a) for a in arrays], **kwargs)
    return keras.ops.convert_to_numpy(out), keras.backend.standardize_dtype(out.dtype)


@needs(keras)
def test_clip_and_full_like_keep_the_integer_dtype():
    x = VALUES["int32"]
    assert_matches(run(lambda t: ops.clip(t, 0, 5), x), keras_eager("clip", x, 0, 5), "clip")
    assert_matches(run(lambda t: ops.clip(t, 0, 5), VALUES["bool"]),
                   keras_eager("clip", VALUES["bool"], 0, 5), "clip(bool)")
    assert_matches(run(lambda t: ops.full_like(t, 2.5), x), keras_eager("full_like", x, 2.5),
                   "full_like")


def test_accuracy_of_a_comparison_is_float32():
    """The issue's example: mean(equal(a, b)) raised 'REDUCE_MEAN needs floating inputs'."""
    a = np.array([[1, 2, 3, 4]], "int32")
    b = np.array([[1, 0, 3, 0]], "int32")
    value, dtype = run(lambda x, y: ops.mean(ops.equal(x, y)), a, b)
    assert dtype == "float32" and value == pytest.approx(0.5)
    probs = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1]], "float32")
    labels = np.array([1, 2], "int32")
    inp, lab = gn.Input((3,)), gn.Input((), dtype="int32")
    acc = ops.mean(ops.equal(ops.argmax(inp, axis=-1), lab))
    assert ops.argmax(inp).dtype == "int32"
    assert gn.function([inp, lab], acc)(probs, labels) == pytest.approx(0.5)


def test_float32_graphs_gain_no_casts():
    """Promotion adds CAST nodes only where dtypes differ: float32 models are unchanged."""
    x = gn.Input((4,))
    y = ops.mean(ops.sigmoid(ops.add(ops.multiply(x, 2), 1.5)), axis=-1)
    y = ops.where(ops.greater(y, 0.5), y, 0)
    assert "CAST" not in {n.op.name for n in topological_order([y.node])}
    assert y.dtype == "float32"


def test_integer_results_are_exact_in_float32_range():
    big = np.array([[2 ** 24 - 1, -(2 ** 24 - 1)]], "int32")
    value, dtype = run(lambda t: ops.add(t, 1), big)
    assert dtype == "int32"
    np.testing.assert_array_equal(value, big + 1)


def test_float64_is_still_refused_by_the_c_path():
    x = gn.Input((3,), dtype="float64")
    y = ops.add(x, 1)
    assert y.dtype == "float64"   # a Python number takes the tensor's dtype
    with pytest.raises(gn.ops.OpError, match="float32, got float64"):
        gn.function([x], y)(np.ones((1, 3)))
    np.testing.assert_allclose(gn.function([x], y, backend="reference")(np.ones((1, 3))), 2.0)


def test_convert_to_tensor_defaults_as_keras():
    assert ops.convert_to_tensor(3).dtype == "int32"
    assert ops.convert_to_tensor(3.0).dtype == "float32"
    assert ops.convert_to_tensor(True).dtype == "bool"
    assert ops.convert_to_tensor([1, 2]).dtype == "int32"
    assert ops.convert_to_tensor(np.arange(3, dtype="int64")).dtype == "int64"
    assert ops.convert_to_tensor(np.ones(3)).dtype == "float32"   # float64 -> floatx
    assert ops.convert_to_tensor(3, dtype="float32").dtype == "float32"


def test_dtypes_outside_graphnet_are_clear_errors():
    with pytest.raises(TypeError, match="dtype 'string' has no place"):
        promote_dtypes("string", "int32")
    half = np.ones(2, "float16")
    assert ops.add(gn.Input((2,)), half).dtype == "float32"   # float16 promotes to float32
    with pytest.raises(TypeError, match="unsupported dtype 'float16'"):
        ops.add(half, half)   # graphnet holds no float16 result


LATTICE = ["bool", "uint8", "uint16", "uint32", "int8", "int16", "int32", "int64", "float16",
           "bfloat16", "float32", "float64", int, float, bool]


def test_promotion_lattice_as_keras_result_type():
    assert promote_dtypes("int64", "int32") == "int64"   # graphnet keeps 64 bits
    assert promote_dtypes("int64", "int32", keep_64bit=False) == "int32"
    assert promote_dtypes("uint8", "int8") == "int16" and promote_dtypes(int, float) == "float32"
    if compare_with(keras, "every pair of dtypes against keras.backend.result_type"):
        for a in LATTICE:
            for b in LATTICE:
                assert promote_dtypes(a, b, keep_64bit=False) == \
                    keras.backend.result_type(a, b), (a, b)
