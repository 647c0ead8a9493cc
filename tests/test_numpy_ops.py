"""The keras.ops functions gn.ops composes from its primitives (graphnet/ops/creation_api.py,
math_api.py, shape_api.py, loss_api.py): eagerly on arrays against keras.ops on torch
(values within 1e-5 and dtypes), symbolically between layers of a Functional model,
gradients by finite differences, one training step against Keras, and bad arguments."""
import json

import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, train_alike
from op_check import check_op

RNG = np.random.default_rng(11)
A = RNG.normal(size=(3, 4)).astype("float32")
B = RNG.normal(size=(4,)).astype("float32")
C3 = RNG.normal(size=(2, 3, 4)).astype("float32")
UNIT = RNG.uniform(-0.9, 0.9, size=(3, 4)).astype("float32")
POS = RNG.uniform(0.1, 3.0, size=(3, 4)).astype("float32")
ABOVE1 = RNG.uniform(1.1, 5.0, size=(3, 4)).astype("float32")
INT = RNG.integers(-5, 6, size=(3, 4)).astype("int32")
BOOL = A > 0
SPECIAL = np.array([np.nan, np.inf, -np.inf, 1.5, -0.0, 0.0], "float32")
LABELS = np.array([0, 3, 1])
TIES = np.round(RNG.normal(size=(3, 5)) * 2).astype("float32")
WITH_NAN = RNG.normal(size=(3, 5)).astype("float32")
WITH_NAN[0, 1] = WITH_NAN[2, :] = np.nan
IDX = RNG.integers(-4, 4, size=(3, 2)).astype("int32")
SEQ = np.array([0.0, 1.0, 1.0, 3.0], "float32")
ROWS = RNG.normal(size=(6, 2)).astype("float32")
SEGMENTS = np.array([0, 2, 2, 1, 0, 5], "int32")
X4 = RNG.normal(size=(2, 4, 6, 8)).astype("float32")
V3, W3 = RNG.normal(size=(2, 5, 3)).astype("float32")

# (function, positional args, keyword args): gn.ops.<function> and keras.ops.<function>
# agree on them (shape, dtype, values within 1e-5; NaN where both are NaN)
EAGER = [
    ("zeros", ((2, 3),), {}), ("zeros", (3,), {"dtype": "int32"}), ("ones", ((2, 1),), {}),
    ("full", ((2, 3), 1.5), {}), ("full", ((2, 3), 7), {"dtype": "int32"}),
    ("full", ((2, 4), B), {}), ("eye", (3,), {}), ("eye", (3, 4, 1), {}),
    ("eye", (4, 3, -2), {"dtype": "int32"}), ("identity", (3,), {}), ("tri", (3, 4, 1), {}),
    ("tril", (A,), {}), ("triu", (C3, -1), {}), ("tril", (INT, 1), {}),
    ("linspace", (0.0, 1.0, 5), {}), ("linspace", (0, 10, 4), {"endpoint": False}),
    ("logspace", (0.0, 2.0, 5), {}),
    ("meshgrid", (B, B[:3]), {}), ("meshgrid", (B, B[:3]), {"indexing": "ij"}),
    ("log2", (POS,), {}), ("log10", (POS,), {}), ("log2", (INT + 6,), {}), ("exp2", (A,), {}),
    ("sinh", (A * 3,), {}), ("cosh", (A * 3,), {}), ("arcsin", (UNIT,), {}),
    ("arccos", (UNIT,), {}), ("arcsinh", (A * 10,), {}), ("arcsinh", (A * 1e4,), {}),
    ("arccosh", (ABOVE1,), {}), ("arccosh", (ABOVE1 * 1e4,), {}), ("arctanh", (UNIT,), {}),
    ("cbrt", (A,), {}), ("trunc", (A * 3,), {}), ("trunc", (INT,), {}),
    ("fmod", (A * 5, POS), {}), ("fmod", (INT, np.int32(3)), {}), ("fmod", (-A * 5, -POS), {}),
    ("hypot", (A, B), {}), ("hypot", (INT, INT), {}), ("logaddexp", (A, B), {}),
    ("logaddexp", (SPECIAL, SPECIAL), {}), ("logaddexp2", (A, B), {}),
    ("isnan", (SPECIAL,), {}), ("isinf", (SPECIAL,), {}), ("isfinite", (SPECIAL,), {}),
    ("isposinf", (SPECIAL,), {}), ("isneginf", (SPECIAL,), {}), ("isnan", (INT,), {}),
    ("isfinite", (INT,), {}), ("nan_to_num", (SPECIAL,), {}),
    ("nan_to_num", (SPECIAL,), {"nan": 1.0, "posinf": 9.0, "neginf": -9.0}),
    ("divide_no_nan", (A, np.array([0.0, 1.0, 2.0, 0.0], "float32")), {}),
    ("heaviside", (np.array([-1.0, 0.0, 2.0, 0.0], "float32"), B), {}),
    ("signbit", (SPECIAL,), {}), ("signbit", (INT,), {}), ("deg2rad", (A,), {}),
    ("rad2deg", (A,), {}), ("sinc", (np.array([0.0, 0.5, -1.3, 2.0], "float32"),), {}),
    ("fabs", (INT,), {}), ("fmax", (SPECIAL, SPECIAL[::-1].copy()), {}),
    ("fmin", (SPECIAL, SPECIAL[::-1].copy()), {}), ("isclose", (A, A + 1e-6), {}),
    ("allclose", (A, A + 1e-3), {}),
    ("celu", (A,), {}), ("celu", (A,), {"alpha": 0.5}), ("glu", (A,), {}),
    ("glu", (A.T.copy(), 0), {}), ("glu", (C3, -1), {}),
    ("hard_tanh", (A * 2,), {}), ("hard_shrink", (A,), {}), ("soft_shrink", (A, 0.3), {}),
    ("tanh_shrink", (A,), {}), ("squareplus", (A,), {}), ("squareplus", (A, 1), {}),
    ("sparse_plus", (A * 2,), {}), ("sparse_sigmoid", (A * 2,), {}),
    ("threshold", (A, 0.1, -3.0), {}),
    ("flip", (A,), {}), ("flip", (C3, (0, -1)), {}), ("fliplr", (A,), {}), ("flipud", (A,), {}),
    ("roll", (A, 2), {}), ("roll", (A, -1, 1), {}), ("roll", (C3, (1, 2), (0, -1)), {}),
    ("moveaxis", (C3, 0, -1), {}), ("moveaxis", (C3, (0, 1), (2, 0)), {}),
    ("swapaxes", (C3, 0, -1), {}), ("ravel", (C3,), {}), ("hstack", ([A, A],), {}),
    ("hstack", ([B, B],), {}), ("vstack", ([A, A],), {}), ("vstack", ([B, B],), {}),
    ("dstack", ([A, A],), {}), ("dstack", ([B, B],), {}),
    ("diagonal", (A,), {}), ("diagonal", (A, 1), {}), ("diagonal", (A, -1), {}),
    ("diagonal", (C3, 1, 2, 0), {}), ("diagonal", (C3, 0, -1, 1), {}),
    ("diag", (B,), {}), ("diag", (B, 1), {}), ("diag", (B, -2), {}), ("diag", (A, 1), {}),
    ("diagflat", (A,), {}), ("trace", (A,), {}), ("trace", (INT,), {}),
    ("trace", (C3, 0, 1, 2), {}), ("append", (A, B), {}), ("append", (A, A, 0), {}),
    ("select", ([A > 0, A < -0.5], [A, A * 2]), {}), ("select", ([BOOL], [A], -1.0), {}),
    ("rot90", (A,), {}), ("rot90", (A, 2), {}), ("rot90", (C3, 3, (2, 0)), {}),
    ("rot90", (A, -1), {}), ("diff", (A,), {}), ("diff", (C3, 2, 0), {}),
    ("outer", (B, A), {}), ("count_nonzero", (INT,), {}),
    ("count_nonzero", (INT, 1), {}), ("count_nonzero", (C3, (0, 2)), {}),
    ("average", (A,), {}), ("average", (A, 1, B), {}), ("average", (INT, 0), {}),
    ("ptp", (A,), {}), ("ptp", (C3, -1, True), {}), ("ptp", (INT, 0), {}),
    ("binary_crossentropy", (np.abs(UNIT), POS / 4), {}),
    ("binary_crossentropy", (np.abs(UNIT), A), {"from_logits": True}),
    ("categorical_crossentropy", (POS, POS), {}),
    ("categorical_crossentropy", (POS, A), {"from_logits": True}),
    ("categorical_crossentropy", (POS, A), {"from_logits": True, "axis": 0}),
    ("sparse_categorical_crossentropy", (LABELS, POS), {}),
    ("sparse_categorical_crossentropy", (LABELS[:, None], A), {"from_logits": True}),
    ("sparse_categorical_crossentropy", (LABELS, A.T.copy()),
     {"from_logits": True, "axis": 0}),
    ("normalize", (A,), {}), ("normalize", (A, 0, 1), {}), ("normalize", (A, -1, 3), {}),
    ("rms_normalization", (A,), {}), ("rms_normalization", (A, B), {}),
    ("rms_normalization", (C3, None, (1, 2)), {}),
    ("median", (A,), {}), ("median", (TIES, 1), {}), ("median", (C3, (0, 2)), {"keepdims": True}),
    ("median", (INT,), {}), ("median", (WITH_NAN, 1), {}), ("quantile", (A, 0.3), {}),
    ("quantile", (A, np.array([0.1, 0.5, 0.9]), 1), {}),
    ("quantile", (TIES, 0.4, 1), {"method": "lower"}),
    ("quantile", (TIES, 0.4, 1), {"method": "higher"}),
    ("quantile", (A, 0.5, 0), {"method": "nearest"}),
    ("quantile", (A, 0.3, 0), {"method": "midpoint"}),
    ("quantile", (C3, np.array([0.2, 0.7]), (1, 2)), {"keepdims": True}),
    ("percentile", (A, 30, -1), {}), ("nansum", (WITH_NAN,), {}), ("nansum", (INT, 0), {}),
    ("nanmean", (WITH_NAN, 1), {}), ("nanmean", (INT,), {}), ("nanmax", (WITH_NAN, 1), {}),
    ("nanmin", (WITH_NAN, 0), {}), ("nanmax", (INT, 0), {}), ("nanprod", (WITH_NAN, 1), {}),
    ("nanvar", (WITH_NAN, 1), {}), ("nanstd", (WITH_NAN,), {}),
    ("sort", (A,), {}), ("sort", (TIES, 0), {}), ("sort", (WITH_NAN, 1), {}),
    ("sort", (INT, -1), {}), ("argsort", (A, 0), {}), ("argsort", (TIES, 1), {}),
    ("argsort", (WITH_NAN, 1), {}), ("norm", (A,), {}), ("norm", (A, 1), {}),
    ("norm", (A, np.inf), {}), ("norm", (A, -np.inf), {}), ("norm", (A, "fro"), {}),
    ("norm", (B, 3), {}), ("norm", (B, 0), {}), ("norm", (A, None, 1), {}),
    ("norm", (A, 1, (0, 1)), {}), ("norm", (A, -1, (0, 1)), {}),
    ("norm", (C3, np.inf, (1, 2)), {"keepdims": True}), ("norm", (C3, 2, -1), {"keepdims": True}),
    ("norm", (C3, 1, (2, 0)), {}), ("norm", (INT,), {}),
    ("geomspace", (1.0, 1000.0, 4), {}), ("hamming", (7,), {}), ("hanning", (6,), {}),
    ("blackman", (5,), {}), ("bartlett", (5,), {}), ("kaiser", (6, 3.5), {}),
    ("vander", (B,), {}), ("vander", (B, 3, True), {}),
    ("erfc", (np.linspace(-4, 9, 40).astype("float32"),), {}), ("psnr", (A, A * 0.9, 1.0), {}),
    ("digitize", (A, np.array([-1.0, 0.0, 0.5, 1.0], "float32")), {}),
    ("isin", (INT, np.array([1, -2, 3])), {}), ("isin", (INT, np.array([1, -2, 3]), False, True), {}),
    ("copy", (A,), {}), ("array", (INT,), {"dtype": "float32"}),
    ("get_item", (A, (slice(1, 3), 2)), {}), ("saturate_cast", (A * 300, "uint8"), {}),
    ("saturate_cast", (A * 300, "int8"), {}),
    ("depth_to_space", (X4, 2), {}), ("space_to_depth", (X4, 2), {}),
    ("depth_to_space", (X4, 2, "channels_first"), {}),
    ("space_to_depth", (X4[:, :, :4, :4].copy(), 2, "channels_first"), {}),
    ("slice", (C3, (1, 0, 1), (1, 2, 3)), {}),
    ("slice_update", (C3, (0, 1, 1), np.ones((2, 2, 2), "float32")), {}),
    ("inner", (A, A), {}), ("inner", (B, C3), {}), ("vdot", (B, B), {}),
    ("kron", (A, A[:2, :3]), {}), ("kron", (B, A), {}), ("cross", (V3, W3), {}),
    ("cross", (V3.T.copy(), W3.T.copy()), {"axis": 0}), ("trapezoid", (A,), {}),
    ("trapezoid", (A, None, 0.5, 0), {}),
    ("trapezoid", (A, np.arange(4, dtype="float32") ** 2), {}),
    ("take_along_axis", (A, IDX, 1), {}), ("take_along_axis", (INT, IDX % 4, -1), {}),
    ("take_along_axis", (A, np.array([[0, 2, 1, 0]], "int32"), 0), {}),
    ("take_along_axis", (A, np.array([3, 0, 11, 5]), None), {}),
    ("multi_hot", (np.array([[0, 2], [1, 1], [3, 0]]), 4), {}), ("multi_hot", (LABELS, 5), {}),
    ("in_top_k", (LABELS, A, 2), {}), ("in_top_k", (LABELS, np.ones((3, 4), "float32"), 1), {}),
    ("searchsorted", (SEQ, np.array([-1.0, 1.0, 2.0, 5.0], "float32")), {}),
    ("searchsorted", (SEQ, np.array([-1.0, 1.0, 2.0, 5.0], "float32"), "right"), {}),
    ("unravel_index", (np.array([0, 5, 11, 7], "int32"), (3, 4)), {}),
    ("segment_sum", (ROWS, SEGMENTS, 4), {}), ("segment_max", (ROWS, SEGMENTS, 4), {}),
    ("segment_min", (ROWS, SEGMENTS, 4), {}), ("segment_prod", (ROWS, SEGMENTS, 4), {}),
    ("segment_sum", (ROWS[:, 0].copy(), SEGMENTS, 3), {}),
    ("scatter", (np.array([[0, 1], [2, 0], [0, 1]]), np.array([1.0, 2.0, 3.0], "float32"), (3, 2)),
     {}),
    ("scatter", (np.array([[1], [0]]), np.ones((2, 4), "float32"), (3, 4)), {}),
    ("scatter_update", (A, np.array([[0, 1], [2, 3]]), np.array([9.0, 8.0], "float32")), {}),
    ("scatter_update", (A, np.array([[1]]), np.ones((1, 4), "float32")), {}),
    *[("scatter_update", (A, np.array([[0, 1], [2, 3]]), np.array([9.0, -8.0], "float32")),
       {"reduction": r}) for r in ("add", "max", "min", "mul")],
    ("nanargmax", (WITH_NAN, 1), {}), ("nanargmin", (WITH_NAN, 0), {}), ("nanargmax", (A,), {}),
    ("histogram", (A[0].copy(),), {}), ("histogram", (A.ravel(), 4, (-1.0, 1.0)), {}),
    ("ldexp", (A, INT), {}), ("extract_sequences", (A, 2, 2), {}),
    ("extract_sequences", (C3, 3, 1), {}),
]


def _compare(got, want):
    got, want = np.asarray(got), keras.ops.convert_to_numpy(want)
    assert got.shape == want.shape
    assert str(got.dtype) == str(want.dtype)
    np.testing.assert_allclose(got.astype("float64"), want.astype("float64"), rtol=1e-5,
                               atol=1e-5, equal_nan=True)


def _numpy_reference(name, args, kwargs):
    """numpy's function of the same name on the same arguments, where numpy has one that
    takes them (values only: numpy's dtypes are its own)."""
    function = getattr(np, name, None)
    if function is None or name in NOT_NUMPY_ALIKE:
        return None
    try:
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)
    except TypeError:   # a keras.ops argument numpy does not take
        return None


# numpy functions of the same name with other semantics or arguments
NOT_NUMPY_ALIKE = {"full", "empty", "isin", "digitize", "size", "trapezoid", "sort", "argsort",
                   "take_along_axis", "histogram", "nanargmax", "nanargmin"}


@pytest.mark.parametrize("name, args, kwargs", EAGER,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(EAGER)])
def test_eager_matches_keras_ops(name, args, kwargs):
    got = getattr(gn.ops, name)(*args, **kwargs)
    got_list = list(got) if isinstance(got, (list, tuple)) else [got]
    assert all(isinstance(g, np.ndarray) for g in got_list)
    if compare_with(keras, f"keras.ops.{name} on the same arrays"):
        want = getattr(keras.ops, name)(*args, **kwargs)
        want_list = list(want) if isinstance(want, (list, tuple)) else [want]
        assert len(got_list) == len(want_list)
        for g, w in zip(got_list, want_list):
            _compare(g, w)
        return
    want = _numpy_reference(name, args, kwargs)
    if want is not None:
        want_list = list(want) if isinstance(want, (list, tuple)) else [want]
        for g, w in zip(got_list, want_list):
            np.testing.assert_allclose(g, np.asarray(w, dtype=g.dtype), rtol=1e-5, atol=1e-5,
                                       equal_nan=True)


@needs(keras)
def test_unstack_and_size_match_keras():
    parts = gn.ops.unstack(C3, axis=1)
    want = keras.ops.unstack(keras.ops.convert_to_tensor(C3), axis=1)
    assert len(parts) == 3
    for got, w in zip(parts, want):
        _compare(got, w)
    # Keras's symbolic rule types size int32 (its torch eager path gives int64)
    assert gn.ops.size(C3).dtype == np.int32 and int(gn.ops.size(C3)) == C3.size
    # torch's empty is uninitialized memory: only its shape and dtype can agree
    empty = gn.ops.empty((2, 3), dtype="int32")
    assert empty.shape == (2, 3) and empty.dtype == np.int32 and not empty.any()
    assert str(keras.ops.empty((2, 3), dtype="int32").dtype).endswith("int32")


@pytest.mark.parametrize("repeats, axis", [([1, 0, 2], 0), ([0, 0, 0], 0), ([2], 1),
                                           ([1, 2, 0, 3], -1), (np.arange(12) % 3, None)])
def test_repeat_with_one_count_per_element_matches_numpy(repeats, axis):
    # (Keras 3.15's torch repeat cannot take a list of counts: compared with numpy)
    np.testing.assert_array_equal(gn.ops.repeat(A, repeats, axis), np.repeat(A, repeats, axis))
    np.testing.assert_array_equal(gn.ops.tile(A, 2), np.tile(A, 2))


def test_is_tensor_and_dtype_answer_python_values_for_arrays_and_tensors():
    inputs = gn.Input((4,), dtype="int32")
    assert gn.ops.is_tensor(inputs) and not gn.ops.is_tensor(A)
    assert gn.ops.dtype(inputs) == "int32" and gn.ops.dtype(A) == "float32"
    assert gn.ops.dtype(3) == "int32" and gn.ops.dtype(True) == "bool"


def test_copysign_matches_numpy():
    got = gn.ops.copysign(A, SPECIAL[[3, 4, 5, 2]])
    np.testing.assert_array_equal(got, np.copysign(A, SPECIAL[[3, 4, 5, 2]]))


# (function of one symbolic tensor of shape (None, 3, 4)) for a Functional model
SYMBOLIC = {
    "log2": lambda t: gn.ops.log2(gn.ops.abs(t) + 0.5), "exp2": gn.ops.exp2,
    "sinh": gn.ops.sinh, "cosh": gn.ops.cosh, "arcsin": lambda t: gn.ops.arcsin(t * 0.3),
    "arccos": lambda t: gn.ops.arccos(t * 0.3), "arcsinh": gn.ops.arcsinh,
    "arccosh": lambda t: gn.ops.arccosh(gn.ops.abs(t) + 1.5), "arctanh":
    lambda t: gn.ops.arctanh(t * 0.3), "cbrt": gn.ops.cbrt, "trunc": gn.ops.trunc,
    "fmod": lambda t: gn.ops.fmod(t * 4, 1.5), "hypot": lambda t: gn.ops.hypot(t, 0.5),
    "logaddexp": lambda t: gn.ops.logaddexp(t, -t), "isfinite": gn.ops.isfinite,
    "signbit": gn.ops.signbit, "sinc": gn.ops.sinc, "celu": gn.ops.celu,
    "glu": gn.ops.glu, "hard_shrink": gn.ops.hard_shrink, "squareplus": gn.ops.squareplus,
    "sparse_plus": gn.ops.sparse_plus, "threshold": lambda t: gn.ops.threshold(t, 0.0, 2.0),
    "divide_no_nan": lambda t: gn.ops.divide_no_nan(t, gn.ops.relu(t)),
    "flip": lambda t: gn.ops.flip(t, -1), "roll": lambda t: gn.ops.roll(t, 1, -1),
    "moveaxis": lambda t: gn.ops.moveaxis(t, -1, 1), "ravel_rows":
    lambda t: gn.ops.reshape(t, (-1, 12)), "tril": gn.ops.tril, "triu":
    lambda t: gn.ops.triu(t, 1), "diagonal": lambda t: gn.ops.diagonal(t, 0, 1, 2),
    "trace": lambda t: gn.ops.trace(t, 1, 1, 2), "rot90": lambda t: gn.ops.rot90(t, 1, (1, 2)),
    "diff": gn.ops.diff, "select": lambda t: gn.ops.select([t > 0.5, t < -0.5], [t, -t]),
    "unstack": lambda t: gn.ops.unstack(t, axis=1), "dstack": lambda t: gn.ops.dstack([t, t]),
    "count_nonzero": lambda t: gn.ops.count_nonzero(gn.ops.relu(t), axis=-1),
    "average": lambda t: gn.ops.average(t, -1, np.arange(1.0, 5.0, dtype="float32")),
    "ptp": lambda t: gn.ops.ptp(t, axis=(1, 2)), "size": lambda t: gn.ops.add(gn.ops.size(t), t),
    "bce": lambda t: gn.ops.binary_crossentropy(gn.ops.sigmoid(t), t, from_logits=True),
    "cce": lambda t: gn.ops.categorical_crossentropy(gn.ops.softmax(t), t),
    "scce": lambda t: gn.ops.sparse_categorical_crossentropy(gn.ops.argmax(t, -1), t, True),
    "normalize": gn.ops.normalize, "rms": lambda t: gn.ops.rms_normalization(t, axis=(1, 2)),
    "median": lambda t: gn.ops.median(t, axis=-1),
    "quantile": lambda t: gn.ops.quantile(t, [0.25, 0.75], axis=(1, 2), keepdims=True),
    "nanmean": lambda t: gn.ops.nanmean(gn.ops.log(t), axis=1),
    "nanmax": lambda t: gn.ops.nanmax(gn.ops.sqrt(t), axis=-1),
    "repeat": lambda t: gn.ops.repeat(t, [2, 0, 1], axis=1),
    "sort": lambda t: gn.ops.sort(t, axis=1), "argsort": gn.ops.argsort,
    "norm": lambda t: gn.ops.norm(t, axis=(1, 2)), "erfc": gn.ops.erfc,
    "depth_to_space": lambda t: gn.ops.depth_to_space(gn.ops.reshape(t, (-1, 1, 3, 4)), 2),
    "slice_update": lambda t: gn.ops.slice_update(t[0], (1, 1), np.zeros((2, 2), "float32")),
    "cross": lambda t: gn.ops.cross(t[:, :, :3], t[:, :, 1:]),
    "trapezoid": lambda t: gn.ops.trapezoid(t, dx=0.5),
    "take_along_axis": lambda t: gn.ops.take_along_axis(t, np.array([[[2], [0], [3]]]), -1),
    "in_top_k": lambda t: gn.ops.in_top_k(np.array([1, 0, 2, 3, 1]), t[:, 0], 2),
    "segment_max": lambda t: gn.ops.segment_max(t[0], np.array([1, 0, 1]), 2),
    "scatter_update": lambda t: gn.ops.scatter_update(t[0], [[0, 1], [2, 2]], t[0, 0, :2]),
    "histogram": lambda t: gn.ops.histogram(gn.ops.reshape(t, (-1,)), 3),
    "extract_sequences": lambda t: gn.ops.extract_sequences(t, 2, 1),
    "full": lambda t: gn.ops.full((2, 4), t[0, 0]), "meshgrid":
    lambda t: gn.ops.meshgrid(t[0, 0], t[0, 1, :3]),
}
X3 = RNG.normal(size=(5, 3, 4)).astype("float32")


def _as_list(value):
    return [np.asarray(v) for v in value] if isinstance(value, (list, tuple)) \
        else [np.asarray(value)]


@pytest.mark.parametrize("name", sorted(SYMBOLIC))
def test_between_layers_in_a_functional_model_as_eagerly(name):
    """Recorded as op layers of a model (batch size known only for the functions that
    read the batch axis), predicting what the same function computes on the array."""
    batch = 5 if name in ("full", "meshgrid", "slice_update", "in_top_k", "segment_max",
                          "scatter_update", "histogram") else None
    inputs = gn.Input((3, 4), batch_size=batch)
    model = gn.Model(inputs, SYMBOLIC[name](inputs))
    got, want = _as_list(model.predict(X3, verbose=0)), _as_list(SYMBOLIC[name](X3))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6, equal_nan=True)


def test_creation_takes_sizes_from_gn_ops_shape_between_layers(tmp_path):
    """ops.zeros((ops.shape(x)[0], 4)), as Keras code builds initial states: the batch
    size comes from x when the model runs, also after saving and loading."""
    inputs = gn.Input((3, 4))
    batch, steps = gn.ops.shape(inputs)[0], gn.ops.shape(inputs)[1]
    out = gn.ops.zeros((batch, 4)) + gn.ops.full((batch, 1), 2.5) + \
        gn.ops.ones((steps, batch, 1), dtype="int32")[0]
    model = gn.Model(inputs, out)
    want = np.full((5, 4), 3.5, "float32")
    np.testing.assert_array_equal(model.predict(X3, verbose=0), want)
    path = str(tmp_path / "dims.keras")
    model.save(path)
    np.testing.assert_array_equal(gn.models.load_model(path).predict(X3[:2], verbose=0),
                                  want[:2])


def test_a_model_of_the_new_ops_saves_and_loads_as_json(tmp_path):
    inputs = gn.Input((3, 4))
    h = gn.layers.Dense(4)(inputs)
    out = gn.ops.sinh(gn.ops.roll(gn.ops.flip(h, -1), 1, 1)) + gn.ops.trace(h, 0, 1, 2)[:, None,
                                                                                       None]
    model = gn.Model(inputs, gn.ops.soft_shrink(out, threshold=0.2))
    path = str(tmp_path / "numpy_ops.keras")
    model.save(path)
    loaded = gn.models.load_model(path)
    config = json.dumps(loaded.get_config())
    assert '"roll"' in config and '"soft_shrink"' in config
    np.testing.assert_allclose(loaded.predict(X3, verbose=0), model.predict(X3, verbose=0),
                               rtol=1e-6, atol=1e-6)


# (function of placeholders, shapes, check_op keyword args): gradients by finite
# differences in float64 and the C path against the NumPy reference
GRADIENTS = {
    "sinh": (gn.ops.sinh, [(3, 5)], {"domain": (-3.0, 3.0)}),
    "cosh": (gn.ops.cosh, [(3, 5)], {}),
    "arcsin": (gn.ops.arcsin, [(3, 5)], {"domain": (-0.9, 0.9)}),
    "arccos": (gn.ops.arccos, [(3, 5)], {"domain": (-0.9, 0.9)}),
    "arcsinh": (gn.ops.arcsinh, [(3, 5)], {"domain": (-5.0, 5.0)}),
    "arccosh": (gn.ops.arccosh, [(3, 5)], {"domain": (1.2, 5.0)}),
    "odd_functions_at_0": (lambda t: gn.ops.arcsinh(t) + gn.ops.arctanh(t), [(5,)],
                           {"inputs": [np.array([0.0, -0.3, 0.0, 0.6, -0.8])]}),
    "arctanh": (gn.ops.arctanh, [(3, 5)], {"domain": (-0.9, 0.9)}),
    "log2": (gn.ops.log2, [(3, 5)], {"domain": (0.2, 3.0)}),
    "exp2": (gn.ops.exp2, [(3, 5)], {}),
    "cbrt": (gn.ops.cbrt, [(3, 5)], {"domain": (0.2, 3.0)}),
    "hypot": (gn.ops.hypot, [(3, 5), (5,)], {"domain": (0.2, 2.0)}),
    "logaddexp": (gn.ops.logaddexp, [(3, 5), (1, 5)], {}),
    "sinc": (gn.ops.sinc, [(3, 5)], {"domain": (0.1, 2.0)}),
    "divide_no_nan": (gn.ops.divide_no_nan, [(3, 5), (3, 5)], {"domain": (0.5, 2.0)}),
    "celu": (lambda t: gn.ops.celu(t, 0.7), [(3, 5)], {}),
    "glu": (gn.ops.glu, [(3, 6)], {}),
    "squareplus": (gn.ops.squareplus, [(3, 5)], {}),
    "tanh_shrink": (gn.ops.tanh_shrink, [(3, 5)], {}),
    "soft_shrink": (lambda t: gn.ops.soft_shrink(t, 0.3), [(3, 5)], {}),
    "sparse_plus": (gn.ops.sparse_plus, [(3, 5)], {"domain": (-3.0, 3.0)}),
    "flip_roll": (lambda t: gn.ops.roll(gn.ops.flip(t, 0), 2, -1), [(3, 5)], {}),
    "diagonal": (lambda t: gn.ops.diagonal(t, 1, 1, 2), [(2, 3, 5)], {"none_axes": ()}),
    "diag": (lambda t: gn.ops.diag(t, -1), [(4,)], {"none_axes": ()}),
    "rot90": (lambda t: gn.ops.rot90(t, 1, (1, 2)), [(2, 3, 5)], {}),
    "average": (lambda t, w: gn.ops.average(t, 1, w), [(3, 5), (5,)], {"domain": (0.5, 2.0)}),
    "categorical_crossentropy": (lambda t, o: gn.ops.categorical_crossentropy(t, o, True),
                                 [(3, 5), (3, 5)], {}),
    "binary_crossentropy": (lambda t, o: gn.ops.binary_crossentropy(t, o),
                            [(3, 5), (3, 5)], {"domain": (0.1, 0.9)}),
    "normalize": (gn.ops.normalize, [(3, 5)], {}),
    "median": (lambda t: gn.ops.median(t, axis=1), [(3, 5)], {"none_axes": ()}),
    "quantile": (lambda t: gn.ops.quantile(t, [0.3, 0.8], axis=0), [(4, 3)],
                 {"none_axes": ()}),
    "nanstd": (lambda t: gn.ops.nanstd(t, axis=1), [(3, 5)], {}),
    "sort": (lambda t: gn.ops.sort(t, axis=0), [(4, 3)], {"none_axes": ()}),
    "erfc": (gn.ops.erfc, [(3, 5)], {"domain": (-3.0, 3.0)}),
    "norm": (lambda t: gn.ops.norm(t, 3, axis=-1), [(3, 5)], {"domain": (0.5, 2.0)}),
    "depth_to_space": (lambda t: gn.ops.depth_to_space(t, 2), [(2, 2, 3, 8)], {}),
    "slice_update": (lambda t, u: gn.ops.slice_update(t, (1, 2), u), [(3, 5), (2, 3)],
                     {"none_axes": ()}),
    "cross": (lambda a, b: gn.ops.cross(a, b), [(4, 3), (4, 3)], {}),
    "trapezoid": (lambda y, x: gn.ops.trapezoid(y, x), [(3, 5), (5,)], {}),
    "take_along_axis": (lambda t: gn.ops.take_along_axis(t, np.array([[0, 4, 4], [1, 2, 0]]), 1),
                        [(2, 5)], {"none_axes": ()}),
    "segment_sum": (lambda t: gn.ops.segment_sum(t, np.array([1, 0, 1, 2]), 3), [(4, 3)],
                    {"none_axes": ()}),
    "segment_max": (lambda t: gn.ops.segment_max(t, np.array([1, 0, 1, 2]), 3), [(4, 3)],
                    {"none_axes": ()}),
    "scatter": (lambda v: gn.ops.scatter(np.array([[0, 1], [2, 2], [0, 1]]), v, (3, 4)),
                [(3,)], {"none_axes": ()}),
    "scatter_update": (lambda x, u: gn.ops.scatter_update(x, [[0, 1], [2, 2]], u),
                       [(3, 4), (2,)], {"none_axes": ()}),
    "extract_sequences": (lambda t: gn.ops.extract_sequences(t, 3, 2), [(2, 7)], {}),
    "rms_normalization": (lambda t: gn.ops.rms_normalization(t, axis=0), [(3, 5)],
                          {"none_axes": ()}),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_by_finite_differences(name):
    fn, shapes, kwargs = GRADIENTS[name]
    check_op(fn, shapes, **kwargs)


def _train_model(lib):
    """Dense -> the differentiable new ops side by side -> Dense, for graphnet or Keras."""
    inputs = lib.Input((4,))
    h = lib.layers.Dense(6, activation="tanh")(inputs)
    o = lib.ops
    parts = [o.sinh(h), o.cosh(h), o.arcsinh(h * 3), o.arctanh(h * 0.5), o.celu(h, 0.5),
             o.glu(h), o.squareplus(h), o.soft_shrink(h, 0.1), o.tanh_shrink(h),
             o.sparse_plus(h * 2), o.hard_tanh(h * 2), o.flip(h, 1), o.roll(h, 2, 1),
             o.logaddexp(h, -h), o.hypot(h, o.ones_like(h)), o.sinc(h + 2.0), o.log2(h + 2.0),
             o.exp2(h), o.normalize(h), o.rms_normalization(h),
             o.divide_no_nan(h, h + 3.0), o.arcsin(h * 0.5)]
    return lib.Model(inputs, lib.layers.Dense(2)(o.concatenate(parts, axis=-1)))


@needs(keras)
def test_training_through_the_new_ops_follows_keras():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    gm, km = _train_model(gn), _train_model(keras)
    km.set_weights(gm.get_weights())
    train_alike(gm, km, x, y, steps=3, atol=2e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: gn.ops.zeros((2, -1)), "zeros: shape must be an int or a sequence"),
    (lambda: gn.ops.full("ab", 1.0), "full: shape must be"),
    (lambda: gn.ops.linspace(0.0, 1.0, -2), "linspace: num must be non-negative"),
    (lambda: gn.ops.meshgrid(B, B, indexing="yx"), "indexing must be 'xy' or 'ij'"),
    (lambda: gn.ops.tril(B), r"tril: x needs at least 2 dimensions, got shape \(4,\)"),
    (lambda: gn.ops.triu(gn.Input((4,))), "last two dimensions of x must be known"),
    (lambda: gn.ops.glu(np.ones((2, 3), "float32")), "glu: axis 1 of x must have a known even"),
    (lambda: gn.ops.celu(A, 0.0), "celu: alpha must not be 0"),
    (lambda: gn.ops.squareplus(A, -1), "squareplus: b must be non-negative"),
    (lambda: gn.ops.flip(A, 2), r"flip: axis 2 is out of range for x of shape \(3, 4\)"),
    (lambda: gn.ops.roll(A, (1, 2), 0), "roll: shift .* and axis .* must have the same"),
    (lambda: gn.ops.roll(gn.Input((4,)), 1, 0), "roll: axis 0 of x must have a known size"),
    (lambda: gn.ops.moveaxis(C3, (0, 1), 2), "moveaxis: source .* and destination"),
    (lambda: gn.ops.swapaxes(A, 0, 5), "swapaxes: axis2 5 is out of range"),
    (lambda: gn.ops.unstack(A, num=4), "unstack: num 4 does not match axis 0 of size 3"),
    (lambda: gn.ops.diagonal(A, 0, 1, -1), "diagonal: axis1 and axis2 must differ"),
    (lambda: gn.ops.diag(C3), r"diag: x must be 1-D or 2-D, got shape \(2, 3, 4\)"),
    (lambda: gn.ops.select([BOOL], [A, A]), "select: condlist has 1 conditions but"),
    (lambda: gn.ops.rot90(B), "rot90: array needs at least 2 dimensions"),
    (lambda: gn.ops.rot90(A, 1, (1, 1)), "rot90: the two axes must differ"),
    (lambda: gn.ops.diff(A, -1), "diff: n must be non-negative"),
    (lambda: gn.ops.average(A, None, B), "average: 1-D weights need one int axis"),
    (lambda: gn.ops.average(A, 0, B), r"weights of shape \(4,\) do not match axis 0"),
    (lambda: gn.ops.binary_crossentropy(A, B), "target and output must have the same shape"),
    (lambda: gn.ops.categorical_crossentropy(A, A.T), "must have the same shape"),
    (lambda: gn.ops.sparse_categorical_crossentropy(LABELS[:2], A),
     "target must have output's shape without the class axis"),
    (lambda: gn.ops.normalize(A, order=0), "normalize: order must be an int >= 1"),
    (lambda: gn.ops.repeat(A, [1, 2], 0), "repeat: repeats must be non-negative counts"),
    (lambda: gn.ops.sort(gn.Input((4,)), axis=0), "sort: axis 0 of x must have a known size"),
    (lambda: gn.ops.norm(A, 2, (0, 1)), "norm: matrix ord 2 is not supported"),
    (lambda: gn.ops.norm(C3, 1), "norm: with axis None and ord 1, x must be 1-D or 2-D"),
    (lambda: gn.ops.norm(B, "fro", 0), "norm: ord 'fro' is a matrix norm"),
    (lambda: gn.ops.hamming(-1), "hamming: x .* must be a non-negative int"),
    (lambda: gn.ops.vander(A), "vander: x must be 1-D"),
    (lambda: gn.ops.depth_to_space(X4, 3), "depth_to_space: a dimension of size 8 is not"),
    (lambda: gn.ops.space_to_depth(A, 2), "space_to_depth: x must be 4-D"),
    (lambda: gn.ops.slice(C3, (0, 0), (1, 1, 1)), "slice: start_indices needs 3 entries"),
    (lambda: gn.ops.slice(C3, (1, 0, 0), (2, 1, 1)), "slice: the block from .* leaves inputs"),
    (lambda: gn.ops.slice_update(A, (2, 0), np.ones((2, 2), "float32")),
     "slice_update: updates of shape"),
    (lambda: gn.ops.cross(A, A), "cross: the vectors must have 3 components"),
    (lambda: gn.ops.psnr(A, B, 1.0), "psnr: x1 and x2 must have the same shape"),
    (lambda: gn.ops.take_along_axis(A, IDX[0], 1), "take_along_axis: indices of shape"),
    (lambda: gn.ops.multi_hot(LABELS), "multi_hot: num_classes must be given"),
    (lambda: gn.ops.multi_hot(LABELS, 4, axis=0), "multi_hot: only axis=-1"),
    (lambda: gn.ops.in_top_k(LABELS, B, 1), "in_top_k: predictions must be 2-D"),
    (lambda: gn.ops.searchsorted(A, B), "searchsorted: sorted_sequence must be 1-D"),
    (lambda: gn.ops.searchsorted(SEQ, B, "middle"), "searchsorted: side must be"),
    (lambda: gn.ops.unravel_index(LABELS, (3, 0)), "unravel_index: shape must have positive"),
    (lambda: gn.ops.segment_sum(ROWS, SEGMENTS), "segment_sum: num_segments must be given"),
    (lambda: gn.ops.scatter(np.zeros((2, 3), "int32"), B[:2], (3, 4)),
     "scatter: indices address 3 dims of a shape of rank 2"),
    (lambda: gn.ops.scatter_update(A, [[0, 0]], B[:1], "avg"), "reduction must be one of"),
    (lambda: gn.ops.histogram(A), "histogram: x must be 1-D"),
    (lambda: gn.ops.histogram(B, 0), "histogram: bins must be a positive int"),
    (lambda: gn.ops.ldexp(A, A), "ldexp: x2 must be integers"),
    (lambda: gn.ops.extract_sequences(A, 5, 1), "extract_sequences: sequence_length"),
    (lambda: gn.ops.where(BOOL), "where: x1 and x2 must both be given"),
    (lambda: gn.ops.quantile(A, 1.5), r"quantile: quantiles must be in \[0, 1\], got 1.5"),
    (lambda: gn.ops.quantile(A, 0.5, method="cubic"), "quantile: method must be one of"),
    (lambda: gn.ops.quantile(A, gn.ops.convert_to_tensor(0.5)), "q must be a number or an"),
    (lambda: gn.ops.median(gn.Input((4,)), axis=0), r"reduced axes \[0\] of x must have"),
    (lambda: gn.ops.median(A, axis=2), "median: axis 2 is out of range"),
    (lambda: gn.ops.percentile(A, 120), r"percentile: percentiles must be in \[0, 100\]"),
])
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
