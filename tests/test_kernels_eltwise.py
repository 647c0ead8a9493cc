"""The non-GEMM C kernels (eltwise, layout, reduce, softmax) against NumPy.

Calls graphnet._gn_c directly. Every kernel runs on each SIMD path the CPU
has (the clones must agree with the portable one) and, for large inputs, on
two threads.
"""
import math
import platform
import warnings

import numpy as np
import pytest

from graphnet._gn_c import ffi, lib

RNG = np.random.default_rng(0)


def ptr(a, ctype="void"):
    return ffi.cast(ctype + " *", a.__array_interface__["data"][0])


def i64(values):
    arr = np.array(values, dtype=np.int64)
    return ffi.new("int64_t[]", [int(v) for v in arr]) if arr.size else ffi.NULL


def estrides(a):
    return [s // a.itemsize for s in a.strides]


def close(got, ref, rtol, atol=1e-37):
    """got vs a float64 reference rounded to float32 (so overflow matches)."""
    with np.errstate(all="ignore"):
        ref32 = np.asarray(ref, dtype=np.float64).astype(np.float32)
    np.testing.assert_allclose(got.astype(np.float64), ref32.astype(np.float64), rtol=rtol,
                               atol=atol, equal_nan=True)


# ---- unary -------------------------------------------------------------------

def _unary_inputs():
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 1e-7, -1e-7, 0.5, -0.5, 1.5,
               2.5, -2.5, 3.5, 88.0, 88.7, 89.0, -87.0, -103.0, -104.5, 100.0, -100.0, 1e4,
               -1e4, 1e30, -1e30, 8388609.0, 0.34, 0.36, -0.34, -0.36, 0.62, 0.63, 3.0, -3.0,
               6.0, 1.0, -1.0]
    parts = [special, np.linspace(-20, 20, 1001), RNG.normal(0, 3, 500),
             np.logspace(-8, -1, 60), -np.logspace(-8, -1, 60)]
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts]).astype(np.float32)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _erfc(x):
    return np.vectorize(math.erfc, otypes=[np.float64])(x)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _gelu_tanh(x):  # 0.5 (1 + tanh u) == sigmoid(2u), the stable way to evaluate it
    return x * _sigmoid(2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))


SELU_A, SELU_S = 1.67326324, 1.05070098
EXACT, TRANS = 1e-6, 1e-5
# name: (reference on float64, alpha, beta, rtol)
UNARY = {
    "COPY": (lambda x, a, b: x, 0, 0, 0),
    "NEG": (lambda x, a, b: -x, 0, 0, 0),
    "ABS": (lambda x, a, b: np.abs(x), 0, 0, 0),
    "SIGN": (lambda x, a, b: np.sign(x), 0, 0, 0),
    "SQUARE": (lambda x, a, b: x * x, 0, 0, EXACT),
    "SQRT": (lambda x, a, b: np.sqrt(x), 0, 0, EXACT),
    "RSQRT": (lambda x, a, b: 1 / np.sqrt(x), 0, 0, EXACT),
    "RECIPROCAL": (lambda x, a, b: 1 / x, 0, 0, EXACT),
    "EXP": (lambda x, a, b: np.exp(x), 0, 0, TRANS),
    "EXPM1": (lambda x, a, b: np.expm1(x), 0, 0, TRANS),
    "LOG": (lambda x, a, b: np.log(x), 0, 0, TRANS),
    "LOG1P": (lambda x, a, b: np.log1p(x), 0, 0, TRANS),
    "SIN": (lambda x, a, b: np.sin(x), 0, 0, TRANS),
    "COS": (lambda x, a, b: np.cos(x), 0, 0, TRANS),
    "TAN": (lambda x, a, b: np.tan(x), 0, 0, TRANS),
    "ATAN": (lambda x, a, b: np.arctan(x), 0, 0, TRANS),
    "TANH": (lambda x, a, b: np.tanh(x), 0, 0, TRANS),
    "SIGMOID": (lambda x, a, b: _sigmoid(x), 0, 0, TRANS),
    "SILU": (lambda x, a, b: x * _sigmoid(x), 0, 0, TRANS),
    "LOG_SIGMOID": (lambda x, a, b: -_softplus(-x), 0, 0, TRANS),
    "RELU": (lambda x, a, b: np.maximum(x, 0), 0, 0, 0),
    "RELU6": (lambda x, a, b: np.minimum(np.maximum(x, 0), 6), 0, 0, 0),
    "LEAKY_RELU": (lambda x, a, b: np.where(x < 0, a * x, x), 0.2, 0, EXACT),
    "ELU": (lambda x, a, b: np.where(x > 0, x, a * np.expm1(x)), 1.3, 0, TRANS),
    "SELU": (lambda x, a, b: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x)), 0, 0, TRANS),
    "SOFTPLUS": (lambda x, a, b: _softplus(x), 0, 0, TRANS),
    "SOFTSIGN": (lambda x, a, b: x / (1 + np.abs(x)), 0, 0, EXACT),
    "MISH": (lambda x, a, b: x * np.tanh(_softplus(x)), 0, 0, TRANS),
    "HARD_SIGMOID": (lambda x, a, b: np.clip(x + 3, 0, 6) / 6, 0, 0, EXACT),
    "HARD_SILU": (lambda x, a, b: x * np.clip(x + 3, 0, 6) / 6, 0, 0, EXACT),
    "GELU": (lambda x, a, b: 0.5 * x * (1 + _erf(x / math.sqrt(2))), 0, 0, TRANS),
    "GELU_TANH": (lambda x, a, b: _gelu_tanh(x), 0, 0, TRANS),
    "ERF": (lambda x, a, b: _erf(x), 0, 0, TRANS),
    "FLOOR": (lambda x, a, b: np.floor(x), 0, 0, 0),
    "CEIL": (lambda x, a, b: np.ceil(x), 0, 0, 0),
    "ROUND": (lambda x, a, b: np.round(x), 0, 0, 0),
    "CLIP": (lambda x, a, b: np.clip(x, a, b), -1.5, 2.0, 0),
    "AFFINE": (lambda x, a, b: a * x + b, 1.5, -0.25, EXACT),
    "POW_SCALAR": (lambda x, a, b: np.power(x, a), 3.0, 0, EXACT),
}


def _unary_ref(name, x, alpha, beta):
    fn = UNARY[name][0]
    with np.errstate(all="ignore"):
        ref = fn(x.astype(np.float64), np.float64(np.float32(alpha)), np.float64(np.float32(beta)))
    if name == "GELU":  # the erfc form of the same function: exact in the negative tail
        with np.errstate(all="ignore"):
            ref = 0.5 * x.astype(np.float64) * _erfc(-x.astype(np.float64) / math.sqrt(2))
    return ref


def run_unary(name, x, alpha=0.0, beta=0.0, out=None):
    y = np.empty_like(x) if out is None else out
    lib.gn_unary(getattr(lib, "GN_U_" + name), x.size, ptr(x, "float"), ptr(y, "float"),
                 alpha, beta)
    return y


def test_unary_table_covers_every_code():
    codes = {getattr(lib, "GN_U_" + name) for name in UNARY}
    assert codes == set(range(lib.GN_U_COUNT))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, isa):
    _, alpha, beta, rtol = UNARY[name]
    x = _unary_inputs()
    got = run_unary(name, x, alpha, beta)
    ref = _unary_ref(name, x, alpha, beta)
    if name == "AFFINE":  # a*x + b rounds twice in float: compare with NumPy's float32 math
        ref = np.float32(alpha) * x + np.float32(beta)
    close(got, ref, rtol)
    # in place gives the same bits
    y = x.copy()
    run_unary(name, y, alpha, beta, out=y)
    np.testing.assert_array_equal(y, got)


@pytest.mark.parametrize("alpha", [2.0, 0.5, -1.0, 1.0, 0.0, -2.5])
def test_pow_scalar_exponents(alpha):
    x = _unary_inputs()
    close(run_unary("POW_SCALAR", x, alpha), _unary_ref("POW_SCALAR", x, alpha, 0), EXACT)


def test_unary_nan_and_edges():
    nan = np.array([np.nan], np.float32)
    for name in UNARY:
        if name in ("SIGN",):
            continue
        _, a, b, _ = UNARY[name]
        assert np.isnan(run_unary(name, nan, a, b))[0] or name in ("POW_SCALAR",), name
    assert run_unary("POW_SCALAR", nan, 0.0)[0] == 1.0  # like np.power(nan, 0)
    assert np.isnan(run_unary("SIGN", nan))[0]
    x = np.array([-0.5, 0.5, 1.5, 2.5, -1.5, -2.5, 0.49999997], np.float32)
    np.testing.assert_array_equal(run_unary("ROUND", x), np.round(x))
    run_unary("EXP", np.empty(0, np.float32))  # n == 0 is a no-op


def test_unary_threads_match_serial(threads2):
    x = RNG.normal(0, 4, 300_001).astype(np.float32)
    for name in ("RELU", "EXP", "SIN", "GELU", "TANH"):
        got = run_unary(name, x)
        lib.gn_set_num_threads(1)
        ref = run_unary(name, x)
        lib.gn_set_num_threads(2)
        np.testing.assert_array_equal(got, ref)


# ---- binary ------------------------------------------------------------------

FLOAT_OPS = ["ADD", "SUB", "MUL", "DIV", "POW", "MAXIMUM", "MINIMUM", "MOD", "FLOOR_DIV",
             "ATAN2"]
CMP_OPS = ["EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL"]
LOGIC_OPS = ["LOGICAL_AND", "LOGICAL_OR", "LOGICAL_XOR"]
NP_BINARY = {
    "ADD": np.add, "SUB": np.subtract, "MUL": np.multiply, "DIV": np.divide, "POW": np.power,
    "MAXIMUM": np.maximum, "MINIMUM": np.minimum, "MOD": np.remainder,
    "FLOOR_DIV": np.floor_divide, "ATAN2": np.arctan2, "EQUAL": np.equal,
    "NOT_EQUAL": np.not_equal, "LESS": np.less, "LESS_EQUAL": np.less_equal,
    "GREATER": np.greater, "GREATER_EQUAL": np.greater_equal,
    "LOGICAL_AND": lambda a, b: np.logical_and(a != 0, b != 0),
    "LOGICAL_OR": lambda a, b: np.logical_or(a != 0, b != 0),
    "LOGICAL_XOR": lambda a, b: np.logical_xor(a != 0, b != 0),
}
SHAPES = [
    ((7,), ()),               # scalar
    ((), (257,)),             # scalar on the left
    ((257,), (1,)),
    ((1,), (1,)),
    ((), ()),
    ((5, 7), (7,)),           # row
    ((5, 7), (5, 1)),         # column
    ((5, 1), (1, 7)),         # outer
    ((3, 1, 4), (1, 5, 1)),
    ((2, 3, 4, 5), (3, 1, 5)),
    ((0, 7), (7,)),           # empty
    ((4, 0), (1,)),
    ((2, 1, 257), (2, 3, 257)),
]


def _float_values(shape):
    x = RNG.normal(0, 3, shape).astype(np.float32)
    flat = x.reshape(-1)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 2.0, -2.0, 0.5], np.float32)
    k = min(flat.size, specials.size)
    flat[:k] = RNG.permutation(specials)[:k]
    return x


def run_binary(op, a, b):
    shape = np.broadcast_shapes(a.shape, b.shape)
    av, bv = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    out_dtype = np.uint8 if op in CMP_OPS + LOGIC_OPS else np.float32
    out = np.full(shape, 77, out_dtype)
    lib.gn_binary(getattr(lib, "GN_B_" + op), len(shape), i64(shape), ptr(av), i64(estrides(av)),
                  ptr(bv), i64(estrides(bv)), ptr(out))
    return out


def check_binary(op, a, b):
    got = run_binary(op, a, b)
    with np.errstate(all="ignore"):
        ref = NP_BINARY[op](a, b)
        ref64 = NP_BINARY[op](a.astype(np.float64), b.astype(np.float64))
    if op in CMP_OPS + LOGIC_OPS:
        np.testing.assert_array_equal(got, ref.astype(np.uint8))
    elif op in ("POW", "ATAN2"):
        close(got, ref64, EXACT)
    else:  # NumPy's float32 loops do the same float operations: identical results
        np.testing.assert_array_equal(got, ref.astype(np.float32))


@pytest.mark.parametrize("op", FLOAT_OPS + CMP_OPS + LOGIC_OPS)
def test_binary_broadcast(op, isa):
    for sa, sb in SHAPES:
        if op in LOGIC_OPS:
            a = RNG.integers(0, 3, sa).astype(np.uint8)
            b = RNG.integers(0, 3, sb).astype(np.uint8)
        else:
            a, b = _float_values(sa), _float_values(sb)
        check_binary(op, a, b)
        check_binary(op, b, a)


def test_binary_strided_operands():
    base = _float_values((6, 9, 4))
    a = base.transpose(2, 0, 1)[:, ::-1, 1:8]          # negative and non-unit strides
    b = np.broadcast_to(_float_values((7,)), (4, 6, 7))
    for op in ("ADD", "MUL", "MAXIMUM", "LESS"):
        check_binary(op, a, b)
        check_binary(op, a, a)


def test_binary_mod_floor_div_numpy_rules():
    a = np.array([5, -5, 5, -5, 0, -0.0, 7.5, np.inf, 3, -3, 1, np.nan, 1e-30, 6],
                 np.float32)[:, None]
    b = np.array([3, -3, 0, -0.0, np.inf, -np.inf, 2.5, np.nan, 1e-30], np.float32)
    for op in ("MOD", "FLOOR_DIV"):
        check_binary(op, a, b)


def test_binary_large_threads(threads2):
    a = _float_values((300, 257))
    b = _float_values((257,))
    c = _float_values((300, 1))
    for op in ("ADD", "DIV", "MOD", "GREATER"):
        check_binary(op, a, b)
        check_binary(op, c, a)
    check_binary("SUB", _float_values((70000,)), np.float32(2.0).reshape(()))


# ---- where -------------------------------------------------------------------

def run_where(c, a, b):
    shape = np.broadcast_shapes(c.shape, a.shape, b.shape)
    cv, av, bv = (np.broadcast_to(t, shape) for t in (c, a, b))
    out = np.full(shape, 77, np.float32)
    lib.gn_where(len(shape), i64(shape), ptr(cv, "uint8_t"), i64(estrides(cv)), ptr(av, "float"),
                 i64(estrides(av)), ptr(bv, "float"), i64(estrides(bv)), ptr(out, "float"))
    return out


@pytest.mark.parametrize("shapes", [((7,), (7,), (7,)), ((5, 7), (5, 7), ()), ((5, 7), (), (7,)),
                                    ((5, 1), (1, 7), ()), ((), (3, 4), (3, 4)), ((0, 3), (3,), ()),
                                    ((2, 3, 257), (3, 1), (2, 1, 257)), ((), (), ())])
def test_where(shapes, isa):
    sc, sa, sb = shapes
    c = RNG.integers(0, 3, sc).astype(np.uint8)
    a, b = _float_values(sa), _float_values(sb)
    np.testing.assert_array_equal(run_where(c, a, b), np.where(c != 0, a, b))
    ct = RNG.integers(0, 2, (6, 5)).astype(np.uint8).T  # strided condition
    a2 = _float_values((5, 6))
    np.testing.assert_array_equal(run_where(ct, a2, b.reshape(-1)[:1].reshape(())),
                                  np.where(ct != 0, a2, b.reshape(-1)[:1]))


def test_where_large_threads(threads2):
    c = RNG.integers(0, 2, (400, 300)).astype(np.uint8)
    a, b = _float_values((400, 300)), np.float32(-np.inf).reshape(())
    np.testing.assert_array_equal(run_where(c, a, b), np.where(c != 0, a, b))


# ---- strided copy ------------------------------------------------------------

ELEM_DTYPES = [np.uint8, np.int16, np.float32, np.float64]


def run_copy(src, dst):
    assert src.shape == dst.shape
    lib.gn_strided_copy(src.ndim, i64(src.shape), ptr(src), i64(estrides(src)), ptr(dst),
                        i64(estrides(dst)), src.itemsize)


def _patterns(base3, base2, row):
    return [
        base2,                                  # contiguous
        base2.T,                                # transpose
        base3.transpose(0, 2, 1),
        base3.transpose(2, 0, 1),
        base3.transpose(1, 2, 0),
        base2[1:8:2, ::3],                      # slices
        base2[::-1, 2:],                        # negative stride
        base3[:, ::-1, ::2],
        np.broadcast_to(row, (5, row.size)),    # broadcast
        np.broadcast_to(base2[:, :1], base2.shape),
        base2[:0],                              # empty
        base3[1, 2, 3],                         # 0-d
        base3[:, :1, :],
    ]


@pytest.mark.parametrize("dtype", ELEM_DTYPES)
def test_strided_copy(dtype, isa):
    base3 = (RNG.integers(0, 120, (4, 7, 9))).astype(dtype)
    base2 = (RNG.integers(0, 120, (11, 13))).astype(dtype)
    row = (RNG.integers(0, 120, (13,))).astype(dtype)
    for src in _patterns(base3, base2, row):
        src = np.asarray(src)
        dst = np.zeros(src.shape, dtype)
        run_copy(src, dst)
        np.testing.assert_array_equal(dst, src)
        # into a strided destination: other elements are untouched
        big = np.full(src.shape[:-1] + (src.shape[-1] * 2 + 1,) if src.ndim else (3,), 99, dtype)
        view = big[..., 1::2] if src.ndim else big[1]
        if src.ndim:
            run_copy(src, view)
            np.testing.assert_array_equal(view, src)
            np.testing.assert_array_equal(big[..., 0::2], 99)
        # transposed destination
        if src.ndim >= 2:
            dt = np.zeros(src.shape[::-1], dtype).T
            run_copy(src, dt)
            np.testing.assert_array_equal(dt, src)


def test_strided_copy_large_transpose(threads2):
    for dtype in (np.float32, np.uint8, np.float64):
        a = RNG.integers(0, 250, (301, 517)).astype(dtype)
        for src in (a.T, a.reshape(7, 43, 517).transpose(2, 0, 1), a[::-1].T[:, 3:]):
            dst = np.empty(src.shape, dtype)
            run_copy(src, dst)
            np.testing.assert_array_equal(dst, src)
        dst = np.empty((301, 517), dtype)
        run_copy(a, dst)
        np.testing.assert_array_equal(dst, a)


# ---- cast --------------------------------------------------------------------

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
          "U8": np.uint8, "BOOL": np.bool_, "I8": np.int8}
INT_VALUES = {
    "I32": [0, 1, -1, 127, -128, 255, 256, 300, -129, 2**31 - 1, -2**31, 16777217],
    "I64": [0, 1, -1, 127, -128, 255, 256, 300, -129, 2**31 - 1, -2**31, 2**40 + 3, -2**63],
    "U8": [0, 1, 2, 127, 128, 200, 255],
    "I8": [0, 1, -1, 127, -128, 5, -7],
    "BOOL": [0, 1, 1, 0],
}


def cast_values(src, dst):
    """Source values whose cast NumPy defines; x86 NumPy's out-of-range ints on x86 only."""
    if src not in ("F32", "F64"):
        return INT_VALUES[src]
    values = [0.0, -0.0, 1.0, 2.7, 100.5, 127.9, 1e-30, 0.99999994]
    if dst != "U8":
        values += [-1.0, -2.7, -100.5, -128.9]
    special = [np.nan, np.inf, -np.inf, 1e10, -1e10, 3e38, 255.5, 300.7, -129.5, 16777217.0,
               2.1e9, -1.0, -2.7]
    if src == "F64":
        values += [-5e-324, 1e-300]
        special += [1e300, 2.0**40 + 0.5, -2.0**31 - 0.5]
    if dst in ("F32", "F64", "BOOL") or platform.machine() in ("x86_64", "AMD64"):
        values += special
    return values


@pytest.mark.parametrize("src", sorted(DTYPES))
@pytest.mark.parametrize("dst", sorted(DTYPES))
def test_cast(src, dst, isa):
    x = np.array(cast_values(src, dst) * 3, dtype=DTYPES[src])  # 3x: past any 16-wide tail
    y = np.zeros(x.size, DTYPES[dst])
    lib.gn_cast(x.size, ptr(x), getattr(lib, "GN_" + src), ptr(y), getattr(lib, "GN_" + dst))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "invalid value encountered in cast"
        ref = x.astype(DTYPES[dst])
    np.testing.assert_array_equal(y, ref)


def test_cast_large_threads(threads2):
    x = RNG.normal(0, 100, 200_003).astype(np.float32)
    y = np.empty(x.size, np.int32)
    lib.gn_cast(x.size, ptr(x), lib.GN_F32, ptr(y), lib.GN_I32)
    np.testing.assert_array_equal(y, x.astype(np.int32))
    z = np.empty(x.size, np.float64)
    lib.gn_cast(x.size, ptr(x), lib.GN_F32, ptr(z), lib.GN_F64)
    np.testing.assert_array_equal(z, x.astype(np.float64))


# ---- reduce ------------------------------------------------------------------

RED_SHAPES = [(1, 1, 1), (3, 7, 1), (2, 257, 1), (4, 5, 3), (2, 1, 300), (3, 0, 2), (1, 0, 1),
              (2, 3, 513), (5, 33, 17)]
RED_OPS = ["SUM", "MEAN", "MAX", "MIN", "PROD", "ARGMAX", "ARGMIN", "SUMSQ", "ANY", "ALL"]


def run_reduce(op, x):
    outer, n, inner = x.shape
    dtype = {"ARGMAX": np.int64, "ARGMIN": np.int64, "ANY": np.uint8, "ALL": np.uint8}
    y = np.full((outer, inner), 77, dtype.get(op, np.float32))
    lib.gn_reduce(getattr(lib, "GN_R_" + op), outer, n, inner, ptr(x), ptr(y))
    return y


def reduce_ref(op, x):
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if op == "SUM":
            return x64.sum(1)
        if op == "MEAN":
            return x64.sum(1) / x.shape[1] if x.shape[1] else np.full(x64.sum(1).shape, np.nan)
        if op == "SUMSQ":
            return (x64 * x64).sum(1)
        if op == "PROD":
            return x64.prod(1)
        if op == "MAX":
            return x64.max(1, initial=-np.inf)
        if op == "MIN":
            return x64.min(1, initial=np.inf)
        if op in ("ARGMAX", "ARGMIN"):
            if x.shape[1] == 0:
                return np.zeros((x.shape[0], x.shape[2]), np.int64)
            return (np.argmax if op == "ARGMAX" else np.argmin)(x, axis=1)
        if op == "ANY":
            return (x != 0).any(1).astype(np.uint8)
        return (x != 0).all(1).astype(np.uint8)


def reduce_input(op, shape):
    if op in ("ANY", "ALL"):
        x = RNG.integers(0, 3, shape).astype(np.uint8)
        if shape[1]:
            x[0, :, 0] = 0      # an all-false column
            x[-1, :, -1] = 1    # an all-true column
        return x
    if op == "PROD":
        return RNG.uniform(0.5, 1.5, shape).astype(np.float32)
    if op in ("ARGMAX", "ARGMIN"):
        return RNG.integers(-3, 4, shape).astype(np.float32)  # many ties
    return RNG.normal(0, 3, shape).astype(np.float32)


def check_reduce(op, x):
    got, ref = run_reduce(op, x), reduce_ref(op, x)
    if got.dtype == np.float32:
        mag = np.abs(x.astype(np.float64))
        mag[~np.isfinite(mag)] = 0
        atol = 1e-7 * mag.sum(1).max(initial=0) + 1e-37
        close(got, ref, EXACT, atol)
    else:
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("op", RED_OPS)
def test_reduce(op, isa):
    for shape in RED_SHAPES:
        check_reduce(op, reduce_input(op, shape))


@pytest.mark.parametrize("op", ["MAX", "MIN", "ARGMAX", "ARGMIN", "SUM"])
def test_reduce_nan(op):
    for shape in [(3, 7, 1), (2, 40, 1), (2, 9, 5), (3, 300, 1)]:
        x = reduce_input(op, shape)
        x[0, 2, 0] = np.nan
        x[0, 5, 0] = np.nan
        x[-1, -1, -1] = np.nan   # in the tail after the vector lanes
        x[1, shape[1] // 2, 0] = np.nan
        if shape[2] > 1:
            x[1, 0, 2] = np.nan
        check_reduce(op, x)
    for n in (5, 200):
        check_reduce(op, np.full((1, n, 1), -np.inf, np.float32))
        check_reduce(op, np.full((1, n, 1), np.inf, np.float32))


@pytest.mark.parametrize("op", RED_OPS)
def test_reduce_large_threads(op, threads2):
    # (1, 3000, 300): two column blocks, one per thread
    for shape in [(1, 200_001, 1), (1, 5000, 40), (2, 3000, 300), (1, 3000, 300), (40_000, 3, 1)]:
        check_reduce(op, reduce_input(op, shape))


# ---- softmax -----------------------------------------------------------------

def softmax_ref(x, log):
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = x64.max(1, keepdims=True)
        t = x64 - m
        s = np.exp(t).sum(1, keepdims=True)
        return t - np.log(s) if log else np.exp(t) / s


def run_softmax(log, x, out=None):
    y = np.full_like(x, 77) if out is None else out
    outer, n, inner = x.shape
    lib.gn_softmax(log, outer, n, inner, ptr(x, "float"), ptr(y, "float"))
    return y


@pytest.mark.parametrize("log", [0, 1])
def test_softmax(log, isa):
    for shape in [(3, 7, 1), (2, 1, 1), (4, 300, 1), (2, 5, 3), (2, 17, 300), (1, 1000, 1),
                  (3, 16, 1), (0, 4, 1), (2, 0, 3),
                  (300, 10, 1), (70, 63, 1)]:  # short rows over several blocks of values
        x = (RNG.normal(0, 5, shape) + RNG.choice([0.0, 1000.0, -1000.0])).astype(np.float32)
        if x.size and shape[1] > 2:
            x[0, 1, 0] = -np.inf               # masked entry
            x[-1, :, -1] = -np.inf             # fully masked column: NaN like scipy
        got = run_softmax(log, x)
        if x.size == 0:
            continue
        close(got, softmax_ref(x, log), 1e-5, 1e-6 if log else 1e-7)
        y = x.copy()
        run_softmax(log, y, out=y)
        np.testing.assert_array_equal(y, got)
    if not log:
        x = RNG.normal(0, 5, (4, 300, 1)).astype(np.float32)
        np.testing.assert_allclose(run_softmax(0, x).sum(1), 1.0, rtol=1e-6)


def test_softmax_nan_row():
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]], np.float32).reshape(2, 3, 1)
    for log in (0, 1):
        got = run_softmax(log, x)
        assert np.isnan(got[0]).all()
        close(got[1], softmax_ref(x, log)[1], 1e-6)


def test_softmax_large_threads(threads2):
    for shape in [(2000, 100, 1), (3, 300, 700)]:
        x = RNG.normal(0, 3, shape).astype(np.float32)
        for log in (0, 1):
            close(run_softmax(log, x), softmax_ref(x, log), 1e-5, 1e-7)


# ---- random -------------------------------------------------------------------

@pytest.mark.parametrize("dist", ["uniform", "bernoulli"])
def test_random_draws_the_reference_numbers_on_any_threads(dist, threads, isa):
    """Values 2j and 2j + 1 share hash j: thread chunks that start on an odd value, the
    lone last value and every SIMD clone give the reference's numbers."""
    from graphnet.ops.random import DISTS, draw
    for n in (1, 2, 3, 33, 16385 * 2 + 3, 65536):
        state = np.array([11, 5], np.int64)
        want = draw(dist, n, 0.75, 1.5, state.copy())
        got = np.full(n, -1.0, np.float32)
        lib.gn_random(getattr(lib, DISTS[dist]), n, 0.75, 1.5,
                      ffi.cast("uint64_t *", state.ctypes.data), ptr(got, "float"))
        np.testing.assert_array_equal(got, want)
        assert state[1] == 6
    if dist == "bernoulli":
        assert abs((got > 0).mean() - 0.75) < 0.01
