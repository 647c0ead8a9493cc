"""Weights packed once for the GEMM kernels (what ONNX Runtime calls prepacking).

A GEMM that packs B into its micro-kernel's panels does so on every call: about 8% of
a 128 x 512 x 784 product on two threads. When B is a weight the plan only reads, the
plan can use a copy packed once instead (``gn_sgemm_prepack``). Each copy belongs to a
version of its weight (``Variable.version``: ``assign`` and compiled training steps
count it up) and is packed again once the version has moved on. Copies are kept with
the weight, so every plan that reads it the same way (a Function's plans for several
batch sizes) shares one.
"""
import weakref

import numpy as np

from .cext import ffi, lib

GEMM_BIAS_ACT = "GN_K_GEMM_BIAS_ACT"

# Variable -> {(ISA, (transb, k, n, byte offset, ldb)): (version, packed array)}
_copies = weakref.WeakKeyDictionary()


def prepackable_steps(plan, weights, written):
    """[(step, weight, (transb, k, n, offset, ldb), floats)] for the plan's fused GEMMs whose
    B is one of ``weights`` that the plan does not write and whose product packs B."""
    written = {id(v) for v in written}
    found = []
    gemms = [i for i, kernel in enumerate(plan.kernels) if kernel == GEMM_BIAS_ACT]
    if not gemms:
        return found
    offsets = plan.steps[:, 1].tolist()     # Python ints: indexing the arrays per step
    iargs, slots = plan.iargs.tolist(), plan.slots.tolist()   # made numpy scalars
    for i in gemms:
        off = offsets[i]
        transa, transb, m, n, k, _, _, bslot, ldb = iargs[off:off + 9]
        kind, index, offset = slots[bslot]
        if kind != lib.GN_SLOT_WEIGHT or id(weights[index]) in written:
            continue
        floats = lib.gn_sgemm_prepack_size(transa, transb, m, n, k)
        if floats:
            found.append((i, weights[index], (transb, k, n, offset, ldb), floats))
    return found


def packed_copy(var, layout, floats):
    """The packed copy of ``var`` for ``layout`` under the current ISA (the layout is the
    ISA's), packed now if it is missing or stale."""
    copies = _copies.setdefault(var, {})
    version, key = var.version, (ffi.string(lib.gn_isa_name()), layout)
    held = copies.get(key)
    if held is not None and held[0] == version:
        return held[1]
    transb, k, n, offset, ldb = layout
    out = np.empty(floats, dtype=np.float32)
    source = ffi.cast("float *", ffi.from_buffer(var.value)) + offset // 4
    lib.gn_sgemm_prepack(transb, k, n, source, ldb, ffi.cast("float *", out.ctypes.data))
    copies[key] = (version, out)
    return out
