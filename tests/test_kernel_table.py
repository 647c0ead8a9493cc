"""The kernel table (graphnet/runtime/kernels.py) and the enums (graphnet/runtime/abi.py):
the files generated from them are current, the built extension agrees with them, lowering
checks steps against them, and the compiler imports without the extension."""
import os
import subprocess
import sys

import numpy as np
import pytest

from graphnet.compiler.lower import Lowering
from graphnet.ops.registry import OpError
from graphnet.runtime import kernel_codegen
from graphnet.runtime.abi import DTYPE_CODE, DTYPE_SIZE, VALUES
from graphnet.runtime.kernels import KERNEL_IDS, KERNELS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("path", sorted(kernel_codegen.generated_files()))
def test_generated_files_are_current(path):
    with open(path) as f:
        assert f.read() == kernel_codegen.generated_files()[path], \
            f"{os.path.relpath(path, ROOT)} is stale: run python -m graphnet.runtime.kernel_codegen"


def test_the_extension_s_enums_are_the_tables():
    from graphnet.runtime.cext import lib
    built = {n: getattr(lib, n) for n in dir(lib)
             if n.startswith("GN_") and isinstance(getattr(lib, n), int)}
    assert built == {**VALUES, **KERNEL_IDS}


def test_dtype_codes_match_numpy_sizes():
    for name, code in DTYPE_CODE.items():
        assert DTYPE_SIZE[code] == np.dtype(name).itemsize


def test_every_kernel_s_c_case_reads_the_table_s_offsets():
    """One spot check per shape of layout: BINARY's arrays follow its ndim, the fused GEMM's
    tail is read only in the 15-int form."""
    text = kernel_codegen.plan_kernels_text()
    assert "gn_binary((int)a[0], (int)a[1], (a + 5), ptr[a[2]], (a + 5 + a[1])," in text
    assert "(st[3] <= 13 || a[13] < 0 ? NULL : ptr[a[13]])" in text
    for name in KERNELS:
        assert f"case {name}:" in text


def _lowering():
    return Lowering([])


@pytest.mark.parametrize("args, words", [
    ({"op": 16, "n": 4, "x": 0}, "argument 'y' is missing"),
    ({"op": 16, "n": 4, "x": 0, "y": 1, "alpha": 0.0, "beta": 0.0, "z": 2}, "unknown arguments"),
])
def test_emit_refuses_missing_and_unknown_arguments(args, words):
    with pytest.raises(OpError, match=words):
        _lowering().emit("GN_K_UNARY", **args)


def test_emit_refuses_an_array_of_the_wrong_length():
    with pytest.raises(OpError, match=r"a_strides has 1 values, its layout needs ndim = 2"):
        _lowering().emit("GN_K_BINARY", op=0, ndim=2, a=0, b=1, out=2, shape=[3, 4],
                         a_strides=[1], b_strides=[4, 1])


def test_emit_lays_out_arguments_in_table_order():
    ctx = _lowering()
    ctx.emit("GN_K_GATHER", y=9, x=8, indices=7, m=6, inner=5, n=4, outer=3, elem_size=4,
             index_dtype=DTYPE_CODE["int64"])
    assert ctx.iargs == [3, 4, 3, 4, 5, 6, 7, 8, 9]
    assert ctx.steps == [(KERNEL_IDS["GN_K_GATHER"], 0, 0, 9)]
    assert ctx.kernels == ["GN_K_GATHER"]


def test_the_fused_gemm_keeps_its_short_form():
    ctx = _lowering()
    gemm = dict(ta=0, tb=0, m=2, n=3, k=4, A=0, lda=4, B=1, ldb=3, C=2, ldc=3, bias=-1,
                act=VALUES["GN_U_RELU"], alpha=0.0, beta=0.0)
    ctx.emit("GN_K_GEMM_BIAS_ACT", **gemm)
    ctx.emit("GN_K_GEMM_BIAS_ACT", **gemm, residual=3, ldr=3)
    assert [s[3] for s in ctx.steps] == [13, 15]
    with pytest.raises(OpError, match="'ldr' is missing"):
        ctx.emit("GN_K_GEMM_BIAS_ACT", **gemm, residual=3)


def test_the_compiler_imports_and_lowers_without_the_extension():
    script = "\n".join([
        "import sys",
        "sys.modules['graphnet._gn_c'] = None  # hidden: importing it raises ImportError",
        "import numpy as np",
        "from graphnet.compiler import compile_plan",
        "from graphnet.graph.node import Node",
        "x = Node('INPUT', (), {'name': 'x', 'shape': (None, 3), 'dtype': 'float32',",
        "                       'uid': 1})",
        "table = Node('CONSTANT', (), {'value': __import__('graphnet.ops.source',",
        "    fromlist=['ConstantValue']).ConstantValue(np.ones((5, 3), np.float32))})",
        "idx = Node('CAST', (x,), {'dtype': 'int32'})",
        "y = Node('RELU', (Node('TAKE', (table, idx), {'axis': 0}),), {})",
        "plan, _, _ = compile_plan([x], [y], [(2, 3)])",
        "assert 'graphnet.runtime.cext' not in sys.modules",
        "print(' '.join(plan.kernels))",
    ])
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["GN_K_CAST", "GN_K_GATHER", "GN_K_UNARY"]


def test_emit_refuses_a_value_its_kind_does_not_allow():
    with pytest.raises(OpError, match=r"GN_K_REDUCE: op: unknown reduce op 42"):
        _lowering().emit("GN_K_REDUCE", op=42, outer=1, n=2, inner=1, x=0, y=1)
    with pytest.raises(OpError, match=r"n is -2, negative"):
        _lowering().emit("GN_K_FILL", n=-2, dst=0, value=1.0)
