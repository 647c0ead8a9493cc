"""Contractions: batched matrix product lowered to the GEMM kernel."""
import numpy as np

from . import builders as ad
from .dtypes import broadcast_shapes, contiguous_strides, require_float
from .elementwise import require_f32
from .registry import CONTRACTION, Op, OpError, register


def _mat_dims(shape, transposed):
    rows, cols = shape[-2], shape[-1]
    return (cols, rows) if transposed else (rows, cols)


@register
class MatMul(Op):
    """MATMUL {transpose_a, transpose_b}: (..., M, K) @ (..., K, N) with batch broadcasting."""
    name, group, arity = "MATMUL", CONTRACTION, 2

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        a, b = shapes
        if len(a) < 2 or len(b) < 2:
            raise OpError(f"MATMUL needs operands of rank >= 2, got shapes {a} and {b}")
        m, ka = _mat_dims(a, attrs.get("transpose_a", False))
        kb, n = _mat_dims(b, attrs.get("transpose_b", False))
        if ka is not None and kb is not None and ka != kb:
            raise OpError(f"MATMUL: inner dimensions differ: {a} @ {b} ({ka} != {kb})")
        batch = broadcast_shapes(self.name, a[:-2], b[:-2])
        return batch + (m, n), require_float(self.name, dtypes)

    def perform(self, inputs, attrs):
        a, b = inputs
        if attrs.get("transpose_a", False):
            a = np.swapaxes(a, -1, -2)
        if attrs.get("transpose_b", False):
            b = np.swapaxes(b, -1, -2)
        return np.matmul(a, b)

    def grad(self, node, grad_output):
        """C = op(A) @ op(B): each gradient is one MATMUL using transpose_a/transpose_b
        (no TRANSPOSE nodes), summed over the batch dims an operand was broadcast on."""
        a, b = node.inputs
        g = grad_output
        ta = bool(node.attrs.get("transpose_a", False))
        tb = bool(node.attrs.get("transpose_b", False))

        def mm(x, y, tx=False, ty=False):
            return ad.node("MATMUL", x, y, transpose_a=tx, transpose_b=ty)

        if not ta:
            da = mm(g, b, False, not tb)          # dC @ op(B)^T
        elif not tb:
            da = mm(b, g, False, True)            # (dC @ B^T)^T = B @ dC^T
        else:
            da = mm(b, g, True, True)             # (dC @ B)^T = B^T @ dC^T
        if b.ndim == 2 and a.ndim > 2 and not ta:
            # (..., M, K) @ (K, N): one 2-D product over all leading rows
            rows_a = ad.reshape(a, (-1, ("in", a.ndim - 1)))
            rows_g = ad.reshape(g, (-1, ("in", g.ndim - 1)))
            db = mm(rows_g, rows_a, True) if tb else mm(rows_a, rows_g, True)
            return [da, db]
        if not tb:
            db = mm(a, g, not ta, False)          # op(A)^T @ dC
        elif not ta:
            db = mm(g, a, True, False)            # (A^T @ dC)^T = dC^T @ A
        else:
            db = mm(g, a, True, True)             # (A @ dC)^T = dC^T @ A^T
        return [ad.unbroadcast(da, a.shape), ad.unbroadcast(db, b.shape)]

    def lower(self, node, ctx):
        require_f32(node, ctx)
        a, b = node.inputs
        ta = bool(node.attrs.get("transpose_a", False))
        tb = bool(node.attrs.get("transpose_b", False))
        m, n = node.shape[-2:]
        k = a.shape[-2] if ta else a.shape[-1]
        lda, ldb = a.shape[-1], b.shape[-1]
        out = ctx.out(node)
        if not node.size:
            return
        if b.ndim == 2 and not ta and all(d == o for d, o in zip(a.shape[:-2], node.shape[:-2])):
            # (..., M, K) @ (K, N): one GEMM over all leading rows
            rows = int(np.prod(node.shape[:-1], dtype=np.int64))
            ctx.emit("GN_K_GEMM", ta=0, tb=int(tb), m=rows, n=n, k=k, A=ctx.inp(a), lda=lda,
                     B=ctx.inp(b), ldb=ldb, C=out, ldc=n, alpha=1.0, beta=0.0)
            return
        batch = node.shape[:-2]
        strides = [_batch_strides(x.shape, batch) for x in (a, b, node)]
        nb = int(np.prod(batch, dtype=np.int64))
        ctx.emit("GN_K_BATCH_GEMM", ta=int(ta), tb=int(tb), m=m, n=n, k=k, A=ctx.inp(a),
                 lda=lda, B=ctx.inp(b), ldb=ldb, C=out, ldc=n, nb=nb, ndim=len(batch),
                 shape=batch, a_strides=strides[0], b_strides=strides[1],
                 c_strides=strides[2], alpha=1.0, beta=0.0)


def _batch_strides(shape, batch):
    """Element strides of each batch index into an operand (0 where it broadcasts)."""
    full = contiguous_strides(shape)
    pad = len(batch) - (len(shape) - 2)
    out = []
    for i, d in enumerate(batch):
        j = i - pad
        out.append(0 if j < 0 or shape[j] == 1 and d != 1 else full[j])
    return out
