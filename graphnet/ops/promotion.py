"""Keras 3's dtype rules for the public ops: the dtype each op returns for its inputs'
dtypes (keras/src/ops/numpy.py and nn.py), and the dtype its kernel computes in.

The C kernels compute in float32, so an op over bool or integer inputs runs on float32
copies (explicit CAST nodes in the graph) and casts its result back to the dtype Keras
gives it: ``int32 + int32`` is int32, exact while the values stay within 2**24 (float32's
integer range). float64 stays float64 end to end and is refused by the C path, as before.
graphnet has no int16: a result Keras types int16 (uint8 with int8) widens to int32.

A rule takes the inputs' dtypes (a dtype name, or the Python type int/float/bool of a
Python scalar, which Keras treats as weak) and returns ``(compute dtypes, result dtype)``:
one compute dtype per input, the dtype each input is cast to (a Python scalar becomes a
constant of it), and the dtype of the op's output after the cast back (None: whatever
the op gives).
"""
from ..config import floatx
from .dtypes import promote_dtypes

_WIDEN = {"int16": "int32", "uint16": "int32", "uint32": "int64"}


def result_type(*dtypes):
    """The promoted dtype of ``dtypes`` as graphnet holds it (64 bits kept, int16 widened)."""
    out = promote_dtypes(*dtypes, floatx=floatx())
    return _WIDEN.get(out, out)


def _dtype_of(d):
    """A strong dtype name for one input (a weak Python type at its default dtype)."""
    return result_type(d)


def compute_float(dtype):
    """The float dtype a kernel computes ``dtype`` values in."""
    return "float64" if dtype == "float64" else "float32"


def _arithmetic(dtypes, bool_to_int=False):
    out = result_type(*dtypes)
    if bool_to_int and out == "bool":
        out = "int32"
    return [compute_float(out)] * len(dtypes), out


def _matmul(dtypes):
    """As _arithmetic, but int8 @ int8 accumulates in int32 (Keras's rule)."""
    compute, out = _arithmetic(dtypes)
    return compute, "int32" if out == "int8" else out


def _comparison(dtypes):
    compute = compute_float(result_type(*dtypes))
    return [compute] * len(dtypes), "bool"


def _logical(dtypes):
    return ["bool"] * len(dtypes), "bool"


def _to_float(dtypes):
    """Functions with non-integer values (divide, exp, sigmoid, conv, ...): bool and int
    inputs become floatx."""
    out = result_type(*dtypes, float)
    return [out] * len(dtypes), out


def _keep(dtypes, bool_to_int=False):
    """Functions closed over integers (abs, relu, round, max, ...): the input's dtype."""
    out = _dtype_of(dtypes[0])
    if bool_to_int and out == "bool":
        out = "int32"
    return [compute_float(out)] * len(dtypes), out


def _sum(dtypes):
    """sum and prod: small integers and bool accumulate in int32 (as jax)."""
    out = _dtype_of(dtypes[0])
    if out in ("bool", "uint8", "int8"):
        out = "int32"
    return [compute_float(out)], out


def _arg_reduction(dtypes):
    return [compute_float(_dtype_of(dtypes[0]))], "int32"


def _select(dtypes):
    """where(condition, x1, x2): the condition is bool, x1 and x2 promote together."""
    out = result_type(*dtypes[1:])
    return ["bool"] + [compute_float(out)] * 2, out


def _common(dtypes):
    """Ops that copy elements of any dtype from several inputs (concatenate, the two
    branches of in_train_phase): every input in the promoted dtype."""
    out = result_type(*dtypes)
    return [out] * len(dtypes), out


def _as_given(dtypes):
    """Layout, gathers and cast: tensors keep their dtype and the op decides the result."""
    return [_dtype_of(d) for d in dtypes], None


_FLOAT_FUNCTIONS = (
    "SQRT RSQRT RECIPROCAL EXP EXPM1 LOG LOG1P SIN COS TAN ATAN TANH SIGMOID SELU SOFTPLUS "
    "SOFTSIGN HARD_SIGMOID HARD_SILU SILU MISH LOG_SIGMOID ERF GELU GELU_TANH LEAKY_RELU ELU "
    "FLOOR CEIL SOFTMAX LOG_SOFTMAX CONV CONV_TRANSPOSE POOL").split()

RULES = {
    **{op: _arithmetic for op in "ADD SUB MUL POW MAXIMUM MINIMUM FLOOR_DIV".split()},
    "MATMUL": _matmul,
    "MOD": lambda dtypes: _arithmetic(dtypes, bool_to_int=True),
    **{op: _to_float for op in ("DIV", "ATAN2")},
    **{op: _comparison for op in
       "EQUAL NOT_EQUAL LESS LESS_EQUAL GREATER GREATER_EQUAL".split()},
    **{op: _logical for op in
       "LOGICAL_AND LOGICAL_OR LOGICAL_XOR REDUCE_ANY REDUCE_ALL".split()},
    **{op: _to_float for op in _FLOAT_FUNCTIONS},
    **{op: _keep for op in
       "NEG ABS SIGN RELU RELU6 ROUND REDUCE_MAX REDUCE_MIN FULL_LIKE PAD".split()},
    **{op: lambda dtypes: _keep(dtypes, bool_to_int=True) for op in ("SQUARE", "CLIP")},
    "REDUCE_SUM": _sum, "REDUCE_PROD": _sum,
    "REDUCE_MEAN": _to_float,
    "ARGMAX": _arg_reduction, "ARGMIN": _arg_reduction,
    "WHERE": _select,
    "CONCATENATE": _common, "IN_TRAIN_PHASE": _common,
}


def promote(op_name, dtypes):
    """``(compute dtypes, result dtype)`` of ``op_name`` over inputs of ``dtypes``."""
    rule = RULES.get(op_name, _as_given)
    return rule(list(dtypes))
