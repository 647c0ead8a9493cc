"""The plan kernels' table: each kernel's argument layout, C call and extents, declared once.

See graphnet/runtime/kernel_layout.py for what an entry says and who reads it (lowering,
csrc/plan_kernels.h, the export verifier, FORMAT.md). Adding a kernel: its C file, its
entry here (then ``python -m graphnet.runtime.kernel_codegen``), its op and its test.
"""
from .abi import VALUES, enum_values
from .kernel_layout import (Arg, Kernel, Matrix, Span, Strided, count, dims, dtype, enum,
                            flag, geometry, integer, ints, ndim, real, reals, slot,
                            window)

_GEMM_INTS = [flag("ta"), flag("tb"), count("m"), count("n"), count("k"), slot("A"),
              integer("lda"), slot("B"), integer("ldb"), slot("C"), integer("ldc")]
_GEMM_READS = [Matrix("A", "k if ta else m", "m if ta else k", "lda"),
               Matrix("B", "n if tb else k", "k if tb else n", "ldb")]
_ALPHA_BETA = [real("alpha"), real("beta")]
_ELEM_SIZE = Arg("elem_size", "enum", "element size in bytes",
                 values=frozenset((1, 2, 4, 8)))
_INDEX_DTYPE = Arg("index_dtype", "enum", "index dtype code",
                   values=frozenset((VALUES["GN_I32"], VALUES["GN_I64"])), c_enum="gn_dtype")
_CONV_HEAD = [slot("x"), slot("w"), slot("y"), slot("work"), count("work_len")]
_WORK = Span("work", "work_len")
_TAP_LIMIT = "pooling window {} has more than GN_POOL_MAX_TAPS (2^20) taps"
# csrc/pool.c reads and writes C channels on both sides and keeps a table of a window's
# taps per thread (it refuses, GN_ERR_BAD_ARGS, what these refuse)
_POOL_CHECKS = [("geom[GN_CG_O] == geom[GN_CG_C]",
                 "pooling keeps the channels: O = {geom[8]} differs from C = {geom[4]}"),
                ("prod(geom[GN_CG_K:GN_CG_K + 3]) <= GN_POOL_MAX_TAPS",
                 _TAP_LIMIT.format("{geom[9]} x {geom[10]} x {geom[11]}"))]
# the fused convolution + pooling's unpooled image: in the work buffer, or allocated
_FUSED_POOL_CHECKS = [
    ("prod(window) <= GN_POOL_MAX_TAPS", _TAP_LIMIT.format("{window}")),
    ("work_len >= prod(geom[GN_CG_OUT:GN_CG_OUT + 3]) * geom[GN_CG_O] or "
     "4 * prod(geom[GN_CG_OUT:GN_CG_OUT + 3]) * geom[GN_CG_O] <= MAX_SCRATCH_BYTES",
     "one unpooled image fits neither the work buffer ({work_len} floats) nor the "
     "scratch limit MAX_SCRATCH_BYTES (2 GiB)")]


_AFFINE_HEAD = [enum("interpolation", "gn_affine_interpolation", "interpolation"),
                enum("fill_mode", "gn_fill_mode", "fill mode"), flag("channels_first"),
                count("n"), count("h"), count("w"), count("c")]
_RNN_CODES = [count("cell", 0, 2), count("act", 0, 4), count("ract", 0, 4),
              flag("go_backwards"), flag("reset_after"), count("mask_mode", 0, 2)]
_RNN_G = "U * (4 if cell == 1 else 3 if cell == 2 else 1)"   # gates * units
_RNN_TWO_BIAS = "(2 if cell == 2 and reset_after else 1)"
# the records' widths (graphnet/ops/recurrent_layout.py): Y's S (state, LSTM's carry, the
# output with a mask, the gates, GRU's rh) and Z's K (dP, GRU's dR, hr, dh, LSTM's dc)
_RNN_S = (f"U * (1 + (cell == 1) + (mask_mode != 0) + (cell == 2 and reset_after)) + "
          f"{_RNN_G}")
_RNN_K = ("{g} * (2 if cell == 2 and reset_after else 1) + ({g} if {rec_masked} else 2 * U "
          "if cell == 2 and not reset_after else U) + U * (2 if cell == 1 else 1)")
# csrc/recurrent.c refuses (GN_ERR_BAD_ARGS, nothing written) what these refuse
_RNN_CHECKS = [("mask_mode == 0 or mask != -1", "mask_mode {mask_mode} needs a mask slot"),
               ("cell == 1 or c0 == -1", "only an LSTM (cell 1) has a carry state c0, "
                                         "cell is {cell}"),
               (f"S == {_RNN_S}", "S = {S} is not the width of the forward record of cell "
                                  "{cell} with U = {U}")]
_RNN_FORWARD_CHECKS = _RNN_CHECKS + [
    (f"work_len >= B * ({_RNN_G} + 2 * U)", "work_len {work_len} is below B * (gates * U + "
                                            "2 * U) for B = {B}, U = {U}")]
_RNN_BPTT_CHECKS = _RNN_CHECKS + [
    (f"K == {_RNN_K.format(g=_RNN_G, rec_masked='rm != -1')}",
     "K = {K} is not the width of the backward record of cell {cell} with U = {U}"),
    ("work_len >= 5 * B * U", "work_len {work_len} is below 5 * B * U for B = {B}, U = {U}")]
_RNN_PARAM_GRAD_CHECKS = [
    (f"K == {_RNN_K.format(g=_RNN_G, rec_masked='rec_masked')}",
     "K = {K} is not the width of the backward record of cell {cell} with U = {U}"),
    ("wrt != 5 or cell == 1", "wrt 5 (c0) needs an LSTM (cell 1), cell is {cell}"),
    ("wrt > 1 or other != -1", "wrt {wrt} needs the other operand (W for x, x for kernel)")]


# the fused attention's problem (csrc/attention_internal.h), forward and backward
_ATTENTION_HEAD = [count("b"), count("t"), count("s", lo=1), count("n"), count("h"),
                   count("hv"), slot("q"), slot("k"), slot("v"), slot("mask", optional=True),
                   ints("mask_strides", 4, "element strides of the mask over (b, n, t, s)"),
                   flag("causal")]
_ATTENTION_READS = [Span("q", "b * t * n * h"), Span("k", "b * s * n * h"),
                    Span("v", "b * s * n * hv"),
                    Strided("mask", "[b, n, t, s]", "mask_strides", "1")]


def _fused_extents(c, v):
    """FUSED_ELTWISE's inputs: per input its slot then ndim strides over ``shape``."""
    nd, shape, rec = v["ndim"], v["shape"], v["inputs"]
    for j in range(v["nin"]):
        slot_, strides = rec[j * (1 + nd)], rec[j * (1 + nd) + 1:(j + 1) * (1 + nd)]
        c.strided(slot_, 0, shape, strides, 4, False, f"input {j}")
    check_program(c, v["prog"], v["nin"], v["ninstr"])


def check_program(c, prog, nin, ninstr):
    """Instructions (kind 1 unary / 2 binary, op code, register a, register b)."""
    unary = {v for k, v in enum_values("gn_unary_op").items() if k != "GN_U_COUNT"}
    arith = {v for v in enum_values("gn_binary_op").values() if v < VALUES["GN_B_EQUAL"]}
    for s in range(ninstr):
        kind, code, ra, rb = prog[4 * s:4 * s + 4]
        ok = (kind == 1 and code in unary) or (kind == 2 and code in arith)
        if not ok or not 0 <= ra < nin + s or (kind == 2 and not 0 <= rb < nin + s):
            c.fail(f"instruction {s} ({kind}, {code}, {ra}, {rb}) is malformed")


def _multi_extents(c, v):
    """MULTI_ELTWISE's tensors: per tensor ``size (slot stride)*nin slot*nout``; an input
    of stride 1 is read over size floats, of stride 0 one float."""
    nin, nout = v["nin"], v["nout"]
    check_program(c, v["prog"], nin, v["ninstr"])
    if any(not nin <= r < nin + v["ninstr"] for r in v["results"]):
        c.fail(f"result registers {v['results']} must name instructions")
    width = 1 + 2 * nin + nout
    for t in range(v["ntensors"]):
        d = v["tensors"][t * width:(t + 1) * width]
        n = d[0]
        if n < 0:
            c.fail(f"tensor {t}: size is negative ({n})")
        for j in range(nin):
            slot_, stride = d[1 + 2 * j], d[2 + 2 * j]
            if stride not in (0, 1):
                c.fail(f"tensor {t} input {j}: stride {stride} is not 0 or 1")
            c.access(slot_, 0, (n if stride else 1) if n else 0, 4, False,
                     f"tensor {t} input {j}")
        for o in range(nout):
            c.access(d[1 + 2 * nin + o], 0, n, 4, True, f"tensor {t} output {o}")


KERNEL_LIST = [
    Kernel("GN_K_GEMM", 1, "csrc/gemm/gemm.c", _GEMM_INTS + _ALPHA_BETA,
           "gn_sgemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)",
           reads=_GEMM_READS, writes=[Matrix("C", "m", "n", "ldc")],
           doc="C = alpha op(A) op(B) + beta C; C is read only when beta is not 0."),
    Kernel("GN_K_UNARY", 2, "csrc/eltwise.c",
           [enum("op", "gn_unary_op", "unary op"), count("n"), slot("x"), slot("y")] + _ALPHA_BETA,
           "gn_unary(op, n, x, y, alpha, beta)",
           reads=[Span("x", "n")], writes=[Span("y", "n")]),
    Kernel("GN_K_BINARY", 3, "csrc/eltwise.c",
           [enum("op", "gn_binary_op", "binary op"), ndim(), slot("a"), slot("b"), slot("out"),
            dims("shape"), ints("a_strides", "ndim"), ints("b_strides", "ndim")],
           "gn_binary(op, ndim, shape, a, a_strides, b, b_strides, out)",
           reads=[Strided(s, "shape", f"{s}_strides", "1 if op >= GN_B_LOGICAL_AND else 4")
                  for s in "ab"],
           writes=[Span("out", "prod(shape)", "4 if op < GN_B_EQUAL else 1")],
           doc="Comparisons read floats and write uint8; logical ops read and write uint8."),
    Kernel("GN_K_WHERE", 4, "csrc/eltwise.c",
           [ndim(), slot("cond"), slot("a"), slot("b"), slot("out"), dims("shape"),
            ints("cond_strides", "ndim"), ints("a_strides", "ndim"),
            ints("b_strides", "ndim")],
           "gn_where(ndim, shape, cond, cond_strides, a, a_strides, b, b_strides, out)",
           reads=[Strided("cond", "shape", "cond_strides", "1"),
                  Strided("a", "shape", "a_strides"), Strided("b", "shape", "b_strides")],
           writes=[Span("out", "prod(shape)")]),
    Kernel("GN_K_COPY", 5, "csrc/layout.c",
           [ndim(), _ELEM_SIZE, slot("src"), integer("src_offset"), slot("dst"),
            integer("dst_offset"), dims("shape"), ints("src_strides", "ndim"),
            ints("dst_strides", "ndim")],
           "gn_strided_copy(ndim, shape, (char *)src + src_offset * elem_size, src_strides, "
           "(char *)dst + dst_offset * elem_size, dst_strides, elem_size)",
           reads=[Strided("src", "shape", "src_strides", "elem_size", "src_offset")],
           writes=[Strided("dst", "shape", "dst_strides", "elem_size", "dst_offset")],
           doc="Offsets and strides are in elements."),
    Kernel("GN_K_CAST", 6, "csrc/layout.c",
           [count("n"), slot("src"), dtype("src_dtype"), slot("dst"), dtype("dst_dtype")],
           "gn_cast(n, src, src_dtype, dst, dst_dtype)",
           reads=[Span("src", "n", "dtype_size(src_dtype)")],
           writes=[Span("dst", "n", "dtype_size(dst_dtype)")]),
    Kernel("GN_K_REDUCE", 7, "csrc/reduce.c",
           [enum("op", "gn_reduce_op", "reduce op"), count("outer"), count("n"), count("inner"),
            slot("x"), slot("y")],
           "gn_reduce(op, outer, n, inner, x, y)",
           reads=[Span("x", "outer * n * inner", "1 if op in (GN_R_ANY, GN_R_ALL) else 4")],
           writes=[Span("y", "outer * inner", "8 if op in (GN_R_ARGMAX, GN_R_ARGMIN) else "
                        "1 if op in (GN_R_ANY, GN_R_ALL) else 4")],
           doc="Over the middle axis of an (outer, n, inner) view."),
    Kernel("GN_K_SOFTMAX", 8, "csrc/softmax.c",
           [flag("log"), count("outer"), count("n"), count("inner"), slot("x"), slot("y")],
           "gn_softmax(log, outer, n, inner, x, y)",
           reads=[Span("x", "outer * n * inner")], writes=[Span("y", "outer * n * inner")]),
    Kernel("GN_K_BATCH_GEMM", 9, "csrc/gemm/batch.c",
           _GEMM_INTS + [count("nb"), ndim(), dims("shape"), ints("a_strides", "ndim"),
                         ints("b_strides", "ndim"), ints("c_strides", "ndim")] + _ALPHA_BETA,
           "gn_sgemm_batch(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, nb, ndim, "
           "shape, a_strides, b_strides, c_strides)",
           reads=[Matrix(r.slot, r.rows.text, r.cols.text, r.ld.text,
                         ("shape", f"{r.slot.lower()}_strides")) for r in _GEMM_READS],
           writes=[Matrix("C", "m", "n", "ldc", ("shape", "c_strides"))],
           checks=[("nb == prod(shape)", "batch count {nb} differs from the batch shape "
                    "{shape}")],
           doc="GEMM's product for each index of the batch shape, each operand offset by "
               "its batch strides (elements, 0 broadcasts)."),
    Kernel("GN_K_FILL", 10, "csrc/plan.c", [count("n"), slot("dst"), real("value")],
           "fill_floats(n, dst, value)", writes=[Span("dst", "n")]),
    Kernel("GN_K_RANDOM", 11, "csrc/random.c",
           [enum("dist", "gn_random_dist", "distribution"), count("n"), slot("state"), slot("out"),
            real("a"), real("b")],
           "gn_random(dist, n, a, b, state, out)",
           writes=[Span("state", "2", "8"), Span("out", "n")],
           doc="state is {seed, counter} (uint64), advanced by each run."),
    Kernel("GN_K_ALLREDUCE_SUM", 70, "csrc/collective.c",
           [count("n"), slot("x"), slot("y"), flag("wait")], "gn_allreduce_sum(n, x, y, wait)",
           reads=[Span("x", "n")], writes=[Span("y", "n")],
           doc="y is the sum of x over the processes of a data-parallel run (the function "
               "gn_set_allreduce registered; x alone without one). wait 0: the sum is "
               "started, and complete once the host has waited for it after the run (y "
               "must then be a plan output no later step reads)."),
    Kernel("GN_K_GEMM_BIAS_ACT", 12, "csrc/fused.c",
           _GEMM_INTS + [slot("bias", optional=True), enum("act", "gn_unary_op", "activation code"),
                         slot("residual", optional=True), integer("ldr")] + _ALPHA_BETA,
           "gn_gemm_bias_act(ta, tb, m, n, k, A, lda, B, ldb, bias, residual, ldr, act, "
           "alpha, beta, C, ldc, p->packed_b ? p->packed_b[i] : NULL)",
           reads=_GEMM_READS + [Span("bias", "n"), Matrix("residual", "m", "n", "ldr")],
           writes=[Matrix("C", "m", "n", "ldc")], short_form=13,
           doc="C = act(op(A) op(B) + bias + residual), act's floats alpha beta. Files "
               "written before the residual existed have the 13-int form (no residual)."),
    Kernel("GN_K_FUSED_ELTWISE", 13, "csrc/fused.c",
           [ndim(), count("nin", 1, 16), count("ninstr", 1, 48), slot("out"),
            dims("shape"), ints("inputs", "nin * (1 + ndim)", "per input: slot, strides"),
            ints("prog", "4 * ninstr", "per instruction: kind, op, register a, b"),
            reals("fprog", "2 * ninstr")],
           "fused_eltwise(ndim, shape, nin, inputs, ninstr, prog, fprog, out, ptr)",
           writes=[Span("out", "prod(shape)")], extents=_fused_extents,
           doc="A chain of elementwise ops in one pass: each input is read at its strides "
               "over shape, instruction j writes register nin + j (kind 1 unary, 2 binary), "
               "the last register is written to out."),
    Kernel("GN_K_GATHER", 14, "csrc/gather.c",
           [_INDEX_DTYPE, _ELEM_SIZE, count("outer"), count("n"), count("inner"),
            count("m"), slot("indices"), slot("x"), slot("y")],
           "gn_gather(index_dtype, elem_size, outer, n, inner, m, indices, x, y)",
           reads=[Span("indices", "m", "dtype_size(index_dtype)"),
                  Span("x", "outer * n * inner", "elem_size")],
           writes=[Span("y", "outer * m * inner", "elem_size")], reports=True,
           doc="y[o, j, :] = x[o, indices[j], :] over (outer, n, inner) and (outer, m, "
               "inner) views; a negative index counts from the end. An index outside "
               "[-n, n) is never read: its row of y is zeros and the run stops with an "
               "error."),
    Kernel("GN_K_SCATTER_ADD", 15, "csrc/gather.c",
           [_INDEX_DTYPE, count("outer"), count("n"), count("inner"), count("m"),
            slot("indices"), slot("dy"), slot("dx")],
           "gn_scatter_add(index_dtype, outer, n, inner, m, indices, dy, dx)",
           reads=[Span("indices", "m", "dtype_size(index_dtype)"),
                  Span("dy", "outer * m * inner")],
           writes=[Span("dx", "outer * n * inner")], reports=True,
           doc="GATHER's gradient: dx = 0, then dx[o, indices[j], :] += dy[o, j, :] "
               "(repeated indices add up; floats). An index outside [-n, n) adds nothing "
               "and stops the run with an error."),
    Kernel("GN_K_RNN_FORWARD", 60, "csrc/recurrent.c",
           _RNN_CODES + [count("B"), count("T"), count("D"), count("U"), count("S"),
                         slot("x"), slot("W"), slot("R"), slot("b", optional=True),
                         slot("h0", optional=True), slot("c0", optional=True),
                         slot("mask", optional=True), slot("rm", optional=True), slot("Y"),
                         slot("work"), count("work_len")],
           "gn_rnn_forward(cell, act, ract, go_backwards, reset_after, mask_mode, B, T, D, U, "
           "S, x, W, R, b, h0, c0, mask, rm, Y, work, work_len)",
           reads=[Span("x", "B * T * D"), Span("W", f"D * {_RNN_G}"),
                  Span("R", f"U * {_RNN_G}"), Span("b", f"{_RNN_G} * {_RNN_TWO_BIAS}"),
                  Span("h0", "B * U"), Span("c0", "B * U"), Span("mask", "B * T", "1"),
                  Span("rm", f"B * {_RNN_G}")],
           writes=[Span("Y", "B * T * S"), Span("work", "work_len")],
           checks=_RNN_FORWARD_CHECKS, reports=True,
           doc="A SimpleRNN (cell 0), LSTM (1) or GRU (2) over every step of x: per step "
               "the input and recurrent products with the gates fused after them; Y is the record of graphnet/ops/recurrent_layout.py; rm: "
               "recurrent dropout, one (B, U) mask per gate on the previous state. "
               "Refuses (nothing written) an S or work_len the layout does not give."),
    Kernel("GN_K_RNN_BPTT", 61, "csrc/recurrent.c",
           _RNN_CODES + [count("B"), count("T"), count("U"), count("S"), count("K"),
                         slot("gY"), slot("Y"), slot("R"), slot("h0", optional=True),
                         slot("c0", optional=True), slot("mask", optional=True),
                         slot("rm", optional=True), slot("Z"), slot("work"),
                         count("work_len")],
           "gn_rnn_bptt(cell, act, ract, go_backwards, reset_after, mask_mode, B, T, U, S, K, "
           "gY, Y, R, h0, c0, mask, rm, Z, work, work_len)",
           reads=[Span("gY", "B * T * S"), Span("Y", "B * T * S"), Span("R", f"U * {_RNN_G}"),
                  Span("h0", "B * U"), Span("c0", "B * U"), Span("mask", "B * T", "1"),
                  Span("rm", f"B * {_RNN_G}")],
           writes=[Span("Z", "B * T * K"), Span("work", "work_len")],
           checks=_RNN_BPTT_CHECKS, reports=True,
           doc="Backward through time of GN_K_RNN_FORWARD from gY, the gradient of its "
               "record Y, into the backward record Z."),
    Kernel("GN_K_RNN_PARAM_GRAD", 62, "csrc/recurrent.c",
           [count("cell", 0, 2), count("wrt", 0, 5), flag("go_backwards"), flag("reset_after"),
            flag("rec_masked"), count("B"), count("T"), count("D"), count("U"), count("K"), slot("Z"),
            slot("other", optional=True), slot("out")],
           "gn_rnn_param_grad(cell, wrt, go_backwards, reset_after, rec_masked, B, T, D, U, K, "
           "Z, other, out)",
           reads=[Span("Z", "B * T * K"),
                  Span("other", f"D * {_RNN_G} if wrt == 0 else B * T * D")],
           writes=[Span("out", f"B * T * D if wrt == 0 else D * {_RNN_G} if wrt == 1 else "
                        f"U * {_RNN_G} if wrt == 2 else {_RNN_G} * {_RNN_TWO_BIAS} "
                        "if wrt == 3 else B * U")],
           checks=_RNN_PARAM_GRAD_CHECKS, reports=True,
           doc="The gradient of one GN_K_RNN_FORWARD input from Z: wrt 0 x (other: W), "
               "1 kernel (other: x), 2 recurrent kernel, 3 bias, 4 h0, 5 c0."),
    Kernel("GN_K_ATTENTION", 71, "csrc/attention.c",
           _ATTENTION_HEAD + [slot("out"), slot("lse", optional=True), real("scale")],
           "gn_attention(b, t, s, n, h, hv, q, k, v, mask, mask_strides, causal, scale, out, lse)",
           reads=_ATTENTION_READS,
           writes=[Span("out", "b * t * n * hv"), Span("lse", "b * n * t")], reports=True,
           short_form=13,
           doc="out (b, t, n, hv) = softmax(scale q k^T, masked) v over q (b, t, n, h), k "
               "(b, s, n, h), v (b, s, n, hv), tile by tile with a running maximum; mask "
               "bytes (nonzero attends), causal leaves out keys after the query's own; lse "
               "(b, n, t) gets each query's log-sum-exp of its logits. Files written before "
               "lse existed end at out."),
    Kernel("GN_K_AFFINE_TRANSFORM", 80, "csrc/affine.c",
           _AFFINE_HEAD + [slot("images"), slot("transforms"), slot("out"), real("fill_value")],
           "gn_affine_transform(interpolation, fill_mode, channels_first, n, h, w, c, images, "
           "transforms, fill_value, out)",
           reads=[Span("images", "n * h * w * c"), Span("transforms", "8 * n")],
           writes=[Span("out", "n * h * w * c")], reports=True,
           doc="out samples the (n, h, w, c) images (channels_first: (n, c, h, w)) at each "
               "image's transform [a0 a1 a2 b0 b1 b2 c0 c1], as "
               "keras.ops.image.affine_transform: pixel (y, x) of channel ch reads (y b1 + "
               "x b0 + ch c0 + b2, y a1 + x a0 + ch c1 + a2); fill_value outside in constant "
               "mode."),
    Kernel("GN_K_AFFINE_TRANSFORM_GRAD", 81, "csrc/affine.c",
           [count("wrt", 0, 1)] + _AFFINE_HEAD +
           [slot("images", optional=True), slot("transforms"), slot("dy"), slot("grad"),
            real("fill_value")],
           "gn_affine_transform_grad(wrt, interpolation, fill_mode, channels_first, n, h, w, "
           "c, images, transforms, dy, fill_value, grad)",
           reads=[Span("images", "n * h * w * c"), Span("transforms", "8 * n"),
                  Span("dy", "n * h * w * c")],
           writes=[Span("grad", "n * h * w * c if wrt == 0 else 8 * n")], reports=True,
           checks=[("wrt == 0 or images != -1", "wrt 1 (the transforms' gradient) needs "
                                                "the images")],
           doc="GN_K_AFFINE_TRANSFORM's gradient from dy: wrt 0 the images' (images unused), "
               "wrt 1 the transforms' (n * 8 floats)."),
    Kernel("GN_K_LAYER_NORM", 82, "csrc/layer_norm.c",
           [count("rows"), count("n"), slot("x"), slot("gamma", optional=True),
            slot("beta", optional=True), slot("y"), real("epsilon")],
           "gn_layer_norm(rows, n, x, gamma, beta, epsilon, y)",
           reads=[Span("x", "rows * n"), Span("gamma", "n"), Span("beta", "n")],
           writes=[Span("y", "rows * n")],
           doc="y = (x - mean) * rsqrt(var + epsilon) * gamma + beta over each row of n of "
               "x (rows, n), the variance centered; gamma and beta optional (1 and 0)."),
    Kernel("GN_K_ATTENTION_BACKWARD", 72, "csrc/attention_backward.c",
           _ATTENTION_HEAD + [slot("out"), slot("dout"), slot("lse"), slot("dq"), slot("dk"),
                              slot("dv"), real("scale")],
           "gn_attention_backward(b, t, s, n, h, hv, q, k, v, mask, mask_strides, causal, "
           "scale, out, dout, lse, dq, dk, dv)",
           reads=_ATTENTION_READS + [Span("out", "b * t * n * hv"),
                                     Span("dout", "b * t * n * hv"), Span("lse", "b * n * t")],
           writes=[Span("dq", "b * t * n * h"), Span("dk", "b * s * n * h"),
                   Span("dv", "b * s * n * hv")], reports=True,
           doc="GN_K_ATTENTION's gradients dq, dk, dv from its out and lse and the gradient "
               "dout of out, the scores recomputed tile by tile."),
    Kernel("GN_K_LAYER_NORM_GRAD", 83, "csrc/layer_norm.c",
           [count("rows"), count("n"), slot("dy"), slot("x"), slot("gamma", optional=True),
            slot("dx"), real("epsilon")],
           "gn_layer_norm_grad(rows, n, dy, x, gamma, epsilon, dx)",
           reads=[Span("dy", "rows * n"), Span("x", "rows * n"), Span("gamma", "n")],
           writes=[Span("dx", "rows * n")],
           doc="GN_K_LAYER_NORM's gradient with respect to x: dx = inv * (g - mean(g) - "
               "xhat * mean(g * xhat)) over each row, g = dy * gamma (gamma optional: 1)."),
    Kernel("GN_K_CONV", 40, "csrc/conv.c", _CONV_HEAD + [geometry()],
           "gn_conv_forward(geom, x, w, y, work, work_len)",
           reads=[Span("x", "conv_x(geom)"), Span("w", "conv_w(geom)")],
           writes=[Span("y", "conv_y(geom)"), _WORK],
           doc="Channels-last; geom is enum gn_conv_geom's 22 ints."),
    Kernel("GN_K_CONV_BACKWARD_INPUT", 41, "csrc/conv_backward.c",
           [slot("dy"), slot("w"), slot("dx"), slot("work"), count("work_len"), geometry()],
           "gn_conv_backward_input(geom, dy, w, dx, work, work_len)",
           reads=[Span("dy", "conv_y(geom)"), Span("w", "conv_w(geom)")],
           writes=[Span("dx", "conv_x(geom)"), _WORK]),
    Kernel("GN_K_CONV_BACKWARD_FILTER", 42, "csrc/conv_backward.c",
           [slot("x"), slot("dy"), slot("dw"), slot("work"), count("work_len"), geometry()],
           "gn_conv_backward_filter(geom, x, dy, dw, work, work_len)",
           reads=[Span("x", "conv_x(geom)"), Span("dy", "conv_y(geom)")],
           writes=[Span("dw", "conv_w(geom)"), _WORK]),
    Kernel("GN_K_POOL", 43, "csrc/pool.c",
           [enum("mode", "gn_pool_mode", "pooling mode"), slot("x"), slot("y"), geometry()],
           "gn_pool_forward(mode, geom, x, y)",
           reads=[Span("x", "conv_x(geom)")], writes=[Span("y", "conv_y(geom)")],
           checks=_POOL_CHECKS, reports=True, doc="The convolution geometry with O = C."),
    Kernel("GN_K_POOL_BACKWARD", 44, "csrc/pool.c",
           [enum("mode", "gn_pool_mode", "pooling mode"), slot("x"), slot("dy"), slot("dx"), geometry()],
           "gn_pool_backward(mode, geom, x, dy, dx)",
           reads=[Span("x", "conv_x(geom)"), Span("dy", "conv_y(geom)")],
           writes=[Span("dx", "conv_x(geom)")], checks=_POOL_CHECKS,
           reports=True),
    Kernel("GN_K_CONV_BIAS_ACT", 45, "csrc/conv.c",
           _CONV_HEAD + [slot("bias", optional=True), slot("residual", optional=True),
                         enum("act", "gn_unary_op", "activation code"), geometry()] + _ALPHA_BETA,
           "gn_conv_forward_fused(geom, x, w, bias, act, alpha, beta, residual, y, work, "
           "work_len)",
           reads=[Span("x", "conv_x(geom)"), Span("w", "conv_w(geom)"),
                  Span("bias", "geom[GN_CG_O]"), Span("residual", "conv_y(geom)")],
           writes=[Span("y", "conv_y(geom)"), _WORK],
           doc="y = act(conv(x, w) + bias + residual), act's floats alpha beta."),
    Kernel("GN_K_CONV_BIAS_ACT_POOL", 46, "csrc/conv.c",
           _CONV_HEAD + [slot("bias", optional=True), enum("act", "gn_unary_op", "activation code"),
                         window("window", "3"),
                         geometry()] + _ALPHA_BETA,
           "gn_conv_forward_fused_pool(geom, window, x, w, bias, act, alpha, beta, y, work, "
           "work_len)",
           reads=[Span("x", "conv_x(geom)"), Span("w", "conv_w(geom)"),
                  Span("bias", "geom[GN_CG_O]")],
           writes=[Span("y", "pooled(geom, window)"), _WORK], checks=_FUSED_POOL_CHECKS,
           doc="Max pooling fused: y is the pooled output over non-overlapping windows."),
    Kernel("GN_K_MULTI_ELTWISE", 50, "csrc/multi_eltwise.c",
           [count("ntensors", 1, 64), count("nin", 1, 16), count("ninstr", 1, 48),
            count("nout", 1, 8), ints("prog", "4 * ninstr", "as FUSED_ELTWISE's"),
            ints("results", "nout", "result registers"),
            ints("tensors", "ntensors * (1 + 2 * nin + nout)",
                 "per tensor: size, (slot, stride) per input, slot per output"),
            reals("fprog", "2 * ninstr")],
           "multi_eltwise(ntensors, nin, ninstr, prog, nout, results, tensors, fprog, ptr)",
           extents=_multi_extents,
           doc="One elementwise program over up to 64 tensors (a training step's optimizer "
               "updates); an input of stride 0 is one float, an output may be one of its "
               "tensor's inputs (updated in place)."),
]

KERNELS = {k.name: k for k in KERNEL_LIST}
KERNEL_IDS = {k.name: k.id for k in KERNEL_LIST}
KERNEL_BY_ID = {k.id: k for k in KERNEL_LIST}
if len(KERNEL_BY_ID) != len(KERNEL_LIST):
    raise ValueError("two kernels of the table share an id")
