"""Elementwise ``gn.ops`` functions of keras.ops (numpy.py, math.py, nn.py) composed from
the elementwise primitives, so the fusion pass fuses them and each gradient is the
primitives' own: logarithms and exponentials in other bases, hyperbolic and inverse
trigonometric functions, rounding and remainders, tests for NaN and infinity, and the
activations celu, glu, hard_tanh, the shrinks, squareplus, sparse_plus, sparse_sigmoid and
threshold.

Compositions are written to keep float32's accuracy (sinh through expm1, arcsin through
atan2 over (1 - x)(1 + x), arcsinh through log1p, ...). Dtypes follow Keras: functions with
non-integer values give floatx for bool and integer inputs; trunc, fmod and copysign keep
the promoted input dtype; the predicates give bool.
"""
import math

import numpy as np

from ..graph.tensor import SymbolicTensor
from . import api
from .promotion import result_type
from .shape_api import checked_axis

__all__ = []

_LN2 = math.log(2.0)
_BIG = 4096.0   # past it, asinh(x) = log(2x) and acosh(x) = log(2x) within float32's ulp


def export(fn):
    __all__.append(fn.__name__)
    return fn


def _float(x):
    """x as a tensor in the float dtype Keras computes non-integer functions of it in."""
    x = api.convert_to_tensor(x)
    return api.cast(x, result_type(x.dtype, float))


def _is_float(x):
    return x.dtype in ("float32", "float64")


# ---- logarithms and exponentials ---------------------------------------------------------

@export
def log2(x):
    """Base-2 logarithm."""
    return api.multiply(api.log(_float(x)), 1.0 / _LN2)


@export
def log10(x):
    """Base-10 logarithm."""
    return api.multiply(api.log(_float(x)), 1.0 / math.log(10.0))


@export
def exp2(x):
    """2 ** x."""
    x = _float(x)
    return api.power(api.full_like(x, 2.0), x)


@export
def logaddexp(x1, x2):
    """log(exp(x1) + exp(x2)) without overflow: max + log1p(exp(-|x1 - x2|))."""
    a, b = _promoted_floats(x1, x2)
    high = api.maximum(a, b)
    # equal infinities would make the gap NaN: their sum is the infinity itself
    gap = api.where(api.equal(a, b), 0.0, api.negative(api.abs(api.subtract(a, b))))
    return api.add(high, api.log1p(api.exp(gap)))


@export
def logaddexp2(x1, x2):
    """log2(2 ** x1 + 2 ** x2) without overflow."""
    a, b = _promoted_floats(x1, x2)
    return api.multiply(logaddexp(api.multiply(a, _LN2), api.multiply(b, _LN2)), 1.0 / _LN2)


def _promoted_floats(x1, x2):
    dtype = result_type(api._input_dtype(x1), api._input_dtype(x2), float)
    return api.cast(x1, dtype), api.cast(x2, dtype)


# ---- hyperbolic and inverse trigonometric functions --------------------------------------

@export
def sinh(x):
    """Hyperbolic sine: (u + u / (u + 1)) / 2 with u = expm1(x) near 0, where
    (exp(x) - exp(-x)) / 2 cancels."""
    x = _float(x)
    u = api.expm1(x)
    near = api.multiply(api.add(u, api.divide(u, api.add(u, 1.0))), 0.5)
    far = api.multiply(api.subtract(api.exp(x), api.exp(api.negative(x))), 0.5)
    return api.where(api.less(api.abs(x), 1.0), near, far)


@export
def cosh(x):
    """Hyperbolic cosine."""
    x = _float(x)
    return api.multiply(api.add(api.exp(x), api.exp(api.negative(x))), 0.5)


def _one_minus_square_root(x):
    """sqrt((1 - x)(1 + x)): sqrt(1 - x * x) without its cancellation near |x| = 1."""
    return api.sqrt(api.multiply(api.subtract(1.0, x), api.add(x, 1.0)))


@export
def arcsin(x):
    """Inverse sine, in [-pi/2, pi/2] (NaN outside [-1, 1])."""
    x = _float(x)
    return api.arctan2(x, _one_minus_square_root(x))


@export
def arccos(x):
    """Inverse cosine, in [0, pi] (NaN outside [-1, 1])."""
    x = _float(x)
    return api.arctan2(_one_minus_square_root(x), x)


def _sign_and_magnitude(x):
    """(s, s * x) with s = -1 where x < 0 and 1 elsewhere: an odd function f(x) = s g(s x)
    then has the gradient g'(|x|) at 0 too (abs's and sign's are 0 there)."""
    sign = api.where(api.less(x, 0.0), -1.0, 1.0)
    return sign, api.multiply(x, sign)


@export
def arcsinh(x):
    """Inverse hyperbolic sine: sign(x) log1p(a + a^2 / (1 + sqrt(1 + a^2))), a = |x|
    (log(2a) past 4096)."""
    x = _float(x)
    sign, a = _sign_and_magnitude(x)
    a_safe = api.minimum(a, _BIG)
    square = api.square(a_safe)
    near = api.log1p(api.add(a_safe, api.divide(square, api.add(api.sqrt(api.add(square,
                                                                                   1.0)), 1.0))))
    far = api.add(api.log(api.maximum(a, _BIG)), _LN2)
    return api.multiply(sign, api.where(api.less(a, _BIG), near, far))


@export
def arccosh(x):
    """Inverse hyperbolic cosine (NaN below 1): log1p(t + sqrt(t (t + 2))), t = x - 1."""
    x = _float(x)
    t = api.subtract(api.minimum(x, _BIG), 1.0)
    near = api.log1p(api.add(t, api.sqrt(api.multiply(t, api.add(t, 2.0)))))
    far = api.add(api.log(api.maximum(x, _BIG)), _LN2)
    return api.where(api.less(x, _BIG), near, far)


@export
def arctanh(x):
    """Inverse hyperbolic tangent: sign(x) log1p(2a / (1 - a)) / 2 with a = |x|, so the
    log1p argument stays positive (no cancellation near -1); NaN outside [-1, 1]."""
    x = _float(x)
    sign, a = _sign_and_magnitude(x)
    half = api.multiply(api.log1p(api.divide(api.multiply(a, 2.0), api.subtract(1.0, a))),
                        0.5)
    return api.multiply(sign, half)


@export
def sinc(x):
    """sin(pi x) / (pi x), 1 at 0."""
    x = _float(x)
    zero = api.equal(x, 0.0)
    scaled = api.multiply(api.where(zero, 1.0, x), math.pi)
    return api.where(zero, 1.0, api.divide(api.sin(scaled), scaled))


@export
def deg2rad(x):
    """Degrees to radians."""
    return api.multiply(_float(x), math.pi / 180.0)


@export
def rad2deg(x):
    """Radians to degrees."""
    return api.multiply(_float(x), 180.0 / math.pi)


@export
def hypot(x1, x2):
    """sqrt(x1^2 + x2^2), scaled by the larger magnitude so that it does not overflow."""
    a, b = (api.abs(v) for v in _promoted_floats(x1, x2))
    high, low = api.maximum(a, b), api.minimum(a, b)
    safe = api.where(api.equal(high, 0.0), 1.0, high)
    ratio = api.divide(low, safe)
    return api.multiply(high, api.sqrt(api.add(api.square(ratio), 1.0)))


@export
def cbrt(x):
    """Cube root, negative for negative x."""
    x = _float(x)
    return api.multiply(api.sign(x), api.power(api.abs(x), 1.0 / 3.0))


# ---- rounding, remainders and signs ------------------------------------------------------

@export
def trunc(x):
    """Round toward zero; bool and integer inputs are returned as they are."""
    x = api.convert_to_tensor(x)
    if not _is_float(x):
        return x
    return api.where(api.less(x, 0.0), api.ceil(x), api.floor(x))


@export
def fmod(x1, x2):
    """The remainder of x1 / x2 with the sign of x1 (C's fmod; mod takes x2's sign)."""
    dtype = result_type(api._input_dtype(x1), api._input_dtype(x2))
    dtype = "int32" if dtype == "bool" else dtype
    a, b = api.cast(x1, dtype), api.cast(x2, dtype)
    floored = api.mod(a, b)
    crossed = api.logical_and(api.not_equal(floored, 0),
                              api.not_equal(api.less(floored, 0), api.less(a, 0)))
    return api.where(crossed, api.subtract(floored, b), floored)


@export
def signbit(x):
    """True where the sign bit is set: negative numbers and -0.0."""
    x = api.convert_to_tensor(x)
    if not _is_float(x):
        return _predicate(x, None) if x.dtype == "bool" else api.less(x, 0)
    negative = api.less(x, 0.0)
    negative_zero = api.logical_and(api.equal(x, 0.0), api.less(api.reciprocal(x), 0.0))
    return api.logical_or(negative, negative_zero)


@export
def copysign(x1, x2):
    """The magnitude of x1 with the sign of x2 (its sign bit: -0.0 counts as negative)."""
    a, b = _promoted_floats(x1, x2)
    magnitude = api.abs(a)
    return api.where(signbit(b), api.negative(magnitude), magnitude)


@export
def heaviside(x1, x2):
    """0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0."""
    a, b = _promoted_floats(x1, x2)
    return api.where(api.less(a, 0.0), 0.0, api.where(api.greater(a, 0.0), 1.0, b))


@export
def divide_no_nan(x1, x2):
    """x1 / x2, and 0 where x2 is 0 (the gradient is 0 there too)."""
    a, b = _promoted_floats(x1, x2)
    zero = api.equal(b, 0.0)
    return api.where(zero, 0.0, api.divide(a, api.where(zero, 1.0, b)))


@export
def fabs(x):
    """Absolute value, as a float."""
    return api.abs(_float(x))


@export
def fmax(x1, x2):
    """Elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    a, b = _promoted(x1, x2)
    return api.where(isnan(a), b, api.where(isnan(b), a, api.maximum(a, b)))


@export
def fmin(x1, x2):
    """Elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    a, b = _promoted(x1, x2)
    return api.where(isnan(a), b, api.where(isnan(b), a, api.minimum(a, b)))


def _promoted(x1, x2):
    dtype = result_type(api._input_dtype(x1), api._input_dtype(x2))
    return api.cast(x1, dtype), api.cast(x2, dtype)


# ---- NaN and infinity --------------------------------------------------------------------

def _predicate(x, test):
    """``test(x)`` for float x; all False for bool and integer x (they hold no NaN or inf)."""
    x = api.convert_to_tensor(x)
    if _is_float(x):
        return test(x)
    return api.not_equal(api.zeros_like(api.cast(x, "float32")), 0.0)


@export
def isnan(x):
    return _predicate(x, lambda v: api.not_equal(v, v))


@export
def isinf(x):
    return _predicate(x, lambda v: api.equal(api.abs(v), np.inf))


@export
def isposinf(x):
    return _predicate(x, lambda v: api.equal(v, np.inf))


@export
def isneginf(x):
    return _predicate(x, lambda v: api.equal(v, -np.inf))


@export
def isfinite(x):
    x = api.convert_to_tensor(x)
    if _is_float(x):
        return api.less(api.abs(x), np.inf)
    return api.logical_not(_predicate(x, None))


@export
def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|x1 - x2| <= atol + rtol |x2|, equal infinities close (NaN close to NaN with
    ``equal_nan``)."""
    a, b = _promoted_floats(x1, x2)
    close = api.less_equal(api.abs(api.subtract(a, b)),
                           api.add(api.multiply(api.abs(b), float(rtol)), float(atol)))
    close = api.logical_or(close, api.equal(a, b))
    if equal_nan:
        close = api.logical_or(close, api.logical_and(isnan(a), isnan(b)))
    return close


@export
def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every element of x1 is close to x2's (isclose)."""
    return api.all(isclose(x1, x2, rtol, atol, equal_nan))


@export
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (the largest and
    smallest finite values of x's dtype when None)."""
    x = api.convert_to_tensor(x)
    if not _is_float(x):
        return x
    info = np.finfo(x.dtype)
    high = float(info.max) if posinf is None else float(posinf)
    low = float(info.min) if neginf is None else float(neginf)
    out = api.where(api.equal(x, np.inf), high, x)
    out = api.where(api.equal(x, -np.inf), low, out)
    return api.where(isnan(x), float(nan), out)


# ---- activations (keras.ops.nn) ----------------------------------------------------------

@export
def celu(x, alpha=1.0):
    """max(x, 0) + min(alpha (exp(x / alpha) - 1), 0)."""
    alpha = float(alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    x = _float(x)
    return api.multiply(api.elu(api.divide(x, alpha), 1.0), alpha)


@export
def glu(x, axis=-1):
    """a * sigmoid(b) with a and b the two halves of x along ``axis``."""
    x = api.convert_to_tensor(x)
    axis = checked_axis(x, axis, "glu")
    size = x.shape[axis]
    if size is None or size % 2:
        raise ValueError(f"glu: axis {axis} of x must have a known even size, got shape "
                         f"{x.shape}")
    first = [slice(None)] * x.ndim
    second = list(first)
    first[axis], second[axis] = slice(0, size // 2), slice(size // 2, None)
    return api.multiply(api.getitem(x, tuple(first)),
                        api.sigmoid(api.getitem(x, tuple(second))))


@export
def hard_tanh(x):
    """x clipped to [-1, 1]."""
    return api.clip(_float(x), -1.0, 1.0)


@export
def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0."""
    x = _float(x)
    return api.where(api.greater(api.abs(x), float(threshold)), x, 0.0)


@export
def soft_shrink(x, threshold=0.5):
    """x - threshold above threshold, x + threshold below -threshold, 0 between."""
    x, t = _float(x), float(threshold)
    # x - clip(x, -t, t): float ops only, so the fusion pass makes it one kernel
    return api.subtract(x, api.clip(x, -t, t))


@export
def tanh_shrink(x):
    """x - tanh(x)."""
    x = _float(x)
    return api.subtract(x, api.tanh(x))


@export
def squareplus(x, b=4):
    """(x + sqrt(x^2 + b)) / 2."""
    if b < 0:
        raise ValueError(f"squareplus: b must be non-negative, got {b}")
    x = _float(x)
    return api.multiply(api.add(x, api.sqrt(api.add(api.square(x), float(b)))), 0.5)


@export
def sparse_plus(x):
    """0 for x <= -1, (x + 1)^2 / 4 between, x for x >= 1."""
    x = _float(x)
    # (clip(x, -1, 1) + 1)^2 / 4 + relu(x - 1): float ops only (one fused kernel)
    inner = api.multiply(api.square(api.add(api.clip(x, -1.0, 1.0), 1.0)), 0.25)
    return api.add(inner, api.relu(api.subtract(x, 1.0)))


@export
def sparse_sigmoid(x):
    """0 for x <= -1, (x + 1) / 2 between, 1 for x >= 1."""
    x = _float(x)
    return api.clip(api.multiply(api.add(x, 1.0), 0.5), 0.0, 1.0)


@export
def threshold(x, threshold, default_value):
    """x where x > threshold, else ``default_value``."""
    x = _float(x)
    return api.where(api.greater(x, float(threshold)), x, float(default_value))


@export
def erfc(x):
    """1 - erf(x) without its cancellation for large x: t exp(-x^2 + P(t)) with
    t = 1 / (1 + |x| / 2) (Numerical Recipes' erfcc, relative error below 1.2e-7), and
    2 - erfc(-x) for negative x."""
    x = _float(x)
    a = api.abs(x)
    t = api.reciprocal(api.add(api.multiply(a, 0.5), 1.0))
    poly = api.full_like(t, _ERFC_COEFFICIENTS[0])
    for c in _ERFC_COEFFICIENTS[1:]:
        poly = api.add(api.multiply(poly, t), c)
    tail = api.multiply(t, api.exp(api.subtract(poly, api.square(a))))
    return api.where(api.less(x, 0.0), api.subtract(2.0, tail), tail)


# Numerical Recipes' erfcc, highest power first
_ERFC_COEFFICIENTS = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
                      -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223)


@export
def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio: 20 log10(max_val) - 10 log10(mean((x1 - x2)^2))."""
    a, b = api.convert_to_tensor(x1), api.convert_to_tensor(x2)
    if a.shape != b.shape:
        raise ValueError(f"psnr: x1 and x2 must have the same shape, got {a.shape} and "
                         f"{b.shape}")
    mse = api.mean(api.square(api.subtract(a, b)))
    peak = api.multiply(log10(api.cast(max_val, mse.dtype)), 20.0)
    return api.subtract(peak, api.multiply(log10(mse), 10.0))


@export
def digitize(x, bins):
    """The index (int32) of the bin each x falls in: the number of bins <= x, for
    increasing ``bins`` (numpy.digitize)."""
    x = api.convert_to_tensor(x)
    edges = api.reshape(bins, (-1,))
    return api.sum(api.cast(api.less_equal(edges, api.expand_dims(x, -1)), "int32"), axis=-1)


@export
def isin(x1, x2, assume_unique=False, invert=False):
    """Whether each element of x1 is among x2's (or is not, with ``invert``);
    ``assume_unique`` changes nothing here."""
    a = api.convert_to_tensor(x1)
    pool = api.reshape(x2, (-1,))
    found = api.any(api.equal(api.expand_dims(a, -1), pool), axis=-1)
    return api.logical_not(found) if invert else found


@export
def copy(x):
    """A copy of x (graph values are never written in place: x itself)."""
    return api.convert_to_tensor(x)


@export
def array(x, dtype=None):
    """x as a tensor (of ``dtype`` when given)."""
    x = api.convert_to_tensor(x)
    return x if dtype is None else api.cast(x, dtype)


@export
def get_item(x, key):
    """x[key] (gn.ops.getitem)."""
    return api.getitem(x, key)


@export
def saturate_cast(x, dtype):
    """x cast to ``dtype`` with values clipped to its range first (no wrap-around). Integers
    compute through float32, so a float clipped to int32's range ends at the largest
    float32 inside it (2147483520, not 2147483647)."""
    x = api.convert_to_tensor(x)
    target = np.dtype(dtype)
    if target.kind in "iub" and x.dtype != "bool":
        info = np.iinfo(target) if target.kind != "b" else None
        if info is not None:
            low, high = _representable(info.min, x.dtype), _representable(info.max, x.dtype)
            x = api.minimum(api.maximum(x, low), high)
    return api.cast(x, target)


def _representable(bound, dtype):
    """The value of x's dtype nearest ``bound`` that does not pass it."""
    value = np.asarray(bound).astype(dtype)
    if np.dtype(dtype).kind == "f" and abs(float(value)) > abs(bound):
        value = np.nextafter(value, np.asarray(0, dtype))
    return value.item()


@export
def is_tensor(x):
    """Whether x is a graphnet tensor (symbolic; numpy arrays are not)."""
    return isinstance(x, SymbolicTensor)


@export
def dtype(x):
    """x's dtype name ("float32", ...): a tensor's, an array's or a Python number's
    default."""
    return result_type(api._input_dtype(x))


@export
def ldexp(x1, x2):
    """x1 * 2 ** x2 (x2 integers)."""
    a = _float(x1)
    b = api.convert_to_tensor(x2)
    if b.dtype in ("float32", "float64"):
        raise TypeError(f"ldexp: x2 must be integers, got {b.dtype}")
    return api.multiply(a, api.power(api.full_like(a, 2.0), api.cast(b, a.dtype)))
