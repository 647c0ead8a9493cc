"""Dtype names, their C enum codes, and the shape rules shared by op families."""
import numpy as np

from ..runtime.abi import DTYPE_CODE as C_DTYPE  # noqa: F401  (enum gn_dtype)
from .registry import OpError

FLOAT_TYPES = ("float32", "float64")


def canonical_dtype(dtype):
    name = str(np.dtype(dtype))
    if name not in C_DTYPE:
        raise TypeError(f"unsupported dtype {name!r}; graphnet supports {sorted(C_DTYPE)}")
    return name


def require_float(op_name, dtypes):
    for d in dtypes:
        if d not in FLOAT_TYPES:
            raise OpError(f"{op_name} needs floating inputs, got {d}; cast first (gn.ops.cast)")
    if len(set(dtypes)) > 1:
        raise OpError(f"{op_name} needs inputs of one dtype, got {' and '.join(dtypes)}")
    return dtypes[0]


def broadcast_shapes(op_name, *shapes):
    """NumPy broadcasting where ``None`` (unknown) matches any size."""
    if shapes and all(s == shapes[0] for s in shapes):
        return tuple(shapes[0])   # the common case: same shapes broadcast to themselves
    rank = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise OpError(f"{op_name}: shapes {' and '.join(map(str, shapes))} "
                          "cannot be broadcast together")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def normalize_axis(op_name, axis, rank):
    if not -rank <= axis < max(rank, 1):
        raise OpError(f"{op_name}: axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def contiguous_strides(shape):
    """Row-major strides in elements."""
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return tuple(reversed(strides))


def broadcast_strides(shape, out_shape):
    """Element strides that read a contiguous array of ``shape`` at ``out_shape`` positions."""
    pad = len(out_shape) - len(shape)
    base = contiguous_strides(shape)
    strides = []
    for i, d in enumerate(out_shape):
        j = i - pad
        strides.append(0 if j < 0 or shape[j] == 1 and d != 1 else base[j])
    return tuple(strides)


# ---- Keras 3's type promotion lattice (keras/src/backend/common/dtypes.py, after JAX) ----
# Python int and float are the weak types "int" and "float": they take the dtype of the
# tensors they meet, so ``int32_tensor + 1`` stays int32 and ``int32_tensor + 1.5`` is float.
WEAK_INT, WEAK_FLOAT = "int", "float"
_LATTICE = {
    "bool": ["int"], "int": ["uint8", "int8", "complex64"],
    "uint8": ["int16", "uint16"], "uint16": ["int32", "uint32"],
    "uint32": ["int64", "uint64"], "uint64": ["float"],
    "int8": ["int16"], "int16": ["int32"], "int32": ["int64"], "int64": ["float"],
    "float": ["bfloat16", "float16"], "bfloat16": ["float32"], "float16": ["float32"],
    "float32": ["float64", "complex64"], "float64": ["complex128"],
    "complex64": ["complex128"], "complex128": [],
}


def _upper_bounds():
    bounds = {}
    for node in _LATTICE:
        seen, todo = {node}, [node]
        while todo:
            for up in _LATTICE[todo.pop()]:
                if up not in seen:
                    seen.add(up)
                    todo.append(up)
        bounds[node] = seen
    return bounds


_UPPER = _upper_bounds()


def _least_upper_bound(nodes):
    common = set.intersection(*(_UPPER[n] for n in nodes))
    least = (common & set(nodes)) or {c for c in common if common <= _UPPER[c]}
    if len(least) != 1:
        raise TypeError(f"dtypes {sorted(nodes)} have no implicit promotion; cast first "
                        "(gn.ops.cast)")
    return least.pop()


def dtype_and_weakness(value):
    """``(dtype name, weak)`` of a dtype name, a numpy dtype, or a Python type (int and
    float are weak, bool is not)."""
    if value is int:
        return "int32", True
    if value is float:
        return "float32", True
    if value is bool or isinstance(value, str) and value in _LATTICE:
        name = "bool" if value is bool else value
    else:
        try:
            name = str(np.dtype(value))
        except TypeError:
            name = str(value)
    if name not in _LATTICE:
        raise TypeError(f"dtype {name!r} has no place in Keras's type promotion")
    return name, False


def promote_dtypes(*values, floatx="float32", keep_64bit=True):
    """Keras 3's ``result_type``: the least upper bound of ``values`` on the promotion
    lattice, weak Python types resolved at ``floatx``'s precision. Keras's torch and JAX
    backends then narrow 64-bit results to 32 bits (``keep_64bit=False``); graphnet's ops
    keep int64 and float64 as torch's own operators do."""
    if not values:
        return floatx
    pairs = [dtype_and_weakness(v) for v in values]
    names = {n for n, _ in pairs}
    if len(pairs) == 1 or (len(names) == 1 and not all(w for _, w in pairs)):
        out, weak = pairs[0][0], pairs[0][1] and len(pairs) == 1
    elif all(w for _, w in pairs):
        out, weak = _least_upper_bound(names), True
    else:
        out = _least_upper_bound({_weak_node(n) if w else n for n, w in pairs})
        weak = out in (WEAK_INT, WEAK_FLOAT)
    if weak and out != "bool":
        bits = floatx[-2:]
        out = {"i": f"int{bits}", "u": f"uint{bits}", "b": "bool"}.get(
            "f" if out == "bfloat16" else out[:1], f"float{bits}")
    if not keep_64bit:
        out = {"int64": "int32", "uint64": "uint32", "float64": "float32",
               "complex128": "complex64"}.get(out, out)
    return out


def _weak_node(name):
    if name == "bool":
        return name
    return WEAK_FLOAT if "float" in name else WEAK_INT
