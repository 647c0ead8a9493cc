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
