"""Plan verification: prove every memory access of a plan stays inside its buffers.

A plan read from a file is executed by C code (``gn_plan_run``) that trusts its
integer arguments. Before a loaded plan runs, ``verify_plan`` decodes every step
with the argument layout of its kernel (documented in csrc/plan.c and
graphnet/export/FORMAT.md), checks each enum, size and stride, and computes the
byte range each step reads and writes in each slot; a range outside the slot's
buffer (the arena, an input, an output, a weight or a constant) is an error.
A hand-edited or corrupted plan is refused with ``PlanError`` naming the step,
never run. Uses only NumPy and the C extension's enum values.
"""
import numpy as np

from ..runtime.cext import lib

MAX_NDIM = 32      # kernels keep per-dimension arrays on the stack

# dtype code (enum gn_dtype) -> bytes per element
DTYPE_SIZE = {0: 4, 1: 8, 2: 4, 3: 8, 4: 1, 5: 1, 6: 1}
DTYPE_CODE = {"float32": 0, "float64": 1, "int32": 2, "int64": 3, "uint8": 4, "bool": 5,
              "int8": 6}
SLOT_KINDS = ("arena", "input", "output", "weight", "const")


class PlanError(ValueError):
    """A plan that could read or write outside its buffers, or is otherwise malformed."""


def _kernel_ids():
    return {name: getattr(lib, name) for name in dir(lib) if name.startswith("GN_K_")}


class _Checker:
    def __init__(self, sizes, nslots_by_kind, slots):
        self.sizes = sizes              # (kind, index) -> bytes
        self.slots = slots
        self.written = set()            # slot numbers a step writes
        self.step = None

    def fail(self, message):
        raise PlanError(f"step {self.step[0]} ({self.step[1]}): {message}")

    def nonneg(self, **values):
        for name, v in values.items():
            if v < 0:
                self.fail(f"{name} is negative ({v})")

    def slot_ok(self, slot, what):
        # gn_plan_run resolves a step's slot arguments whether or not it touches them
        if not 0 <= slot < len(self.slots):
            self.fail(f"{what} names slot {slot}, the plan has {len(self.slots)} slots")

    def access(self, slot, lo_elem, hi_elem, elem_size, write, what):
        """Elements [lo_elem, hi_elem) of ``elem_size`` bytes from slot ``slot``."""
        self.slot_ok(slot, what)
        if hi_elem <= lo_elem:
            return
        kind, index, offset = (int(v) for v in self.slots[slot])
        size = self.sizes[(kind, index)]
        lo, hi = offset + lo_elem * elem_size, offset + hi_elem * elem_size
        if lo < 0 or hi > size:
            self.fail(f"{what} accesses bytes [{lo}, {hi}) of {SLOT_KINDS[kind]} {index}, "
                      f"which has {size} bytes")
        if write:
            self.written.add(slot)

    def strided(self, slot, base, shape, strides, elem_size, write, what):
        self.slot_ok(slot, what)
        if any(d == 0 for d in shape):
            return
        lo = hi = base
        for d, s in zip(shape, strides):
            span = (d - 1) * s
            lo, hi = (lo + span, hi) if span < 0 else (lo, hi + span)
        self.access(slot, lo, hi + 1, elem_size, write, what)

    def matrix(self, slot, rows, cols, ld, base, write, what):
        self.slot_ok(slot, what)
        if rows == 0 or cols == 0:
            return
        if ld < cols:
            self.fail(f"{what}: leading dimension {ld} is smaller than its {cols} columns")
        self.access(slot, base, base + (rows - 1) * ld + cols, 4, write, what)


def _shape_args(c, a, start, nd, count):
    """``count`` arrays of ``nd`` ints from a[start:]."""
    out = []
    for i in range(count):
        out.append([int(v) for v in a[start + i * nd:start + (i + 1) * nd]])
    for d in out[0]:
        if d < 0:
            c.fail(f"negative dimension in shape {out[0]}")
    return out


def _ndim(c, nd):
    if not 0 <= nd <= MAX_NDIM:
        c.fail(f"ndim {nd} is outside [0, {MAX_NDIM}]")
    return nd


def _prod(dims):
    out = 1
    for d in dims:
        out *= d
    return out


# -- one checker per kernel: (fixed int args, floats, function) ------------------------------
def _gemm(c, a, batch=None):
    ta, tb, m, n, k, sa, lda, sb, ldb, sc, ldc = (int(v) for v in a[:11])
    c.nonneg(m=m, n=n, k=k)
    if ta not in (0, 1) or tb not in (0, 1):
        c.fail(f"transpose flags must be 0 or 1, got {ta}, {tb}")
    for slot, what in ((sa, "A"), (sb, "B"), (sc, "C")):
        c.slot_ok(slot, what)
    if m == 0 or n == 0:
        return
    offsets = [(0, 0, 0)]
    if batch is not None:
        shape, as_, bs, cs = batch
        for strides in (as_, bs, cs):
            if any(s < 0 for s in strides):
                c.fail("negative batch stride")
        span = [sum((d - 1) * s for d, s in zip(shape, st)) if _prod(shape) else 0
                for st in (as_, bs, cs)]
        if _prod(shape) == 0:
            return
        offsets = [(0, 0, 0), tuple(span)]
    arows, acols = (k, m) if ta else (m, k)
    brows, bcols = (n, k) if tb else (k, n)
    for ao, bo, co in offsets:
        if k:
            c.matrix(sa, arows, acols, lda, ao, False, "A")
            c.matrix(sb, brows, bcols, ldb, bo, False, "B")
        c.matrix(sc, m, n, ldc, co, True, "C")


def _batch_gemm(c, a):
    nb, nd = int(a[11]), _ndim(c, int(a[12]))
    shape, as_, bs, cs = _shape_args(c, a, 13, nd, 4)
    if nb != _prod(shape):
        c.fail(f"batch count {nb} differs from the batch shape {shape}")
    _gemm(c, a, (shape, as_, bs, cs))


def _unary(c, a):
    op, n, x, y = (int(v) for v in a[:4])
    if not 0 <= op < lib.GN_U_COUNT:
        c.fail(f"unknown unary op {op}")
    c.nonneg(n=n)
    c.access(x, 0, n, 4, False, "x")
    c.access(y, 0, n, 4, True, "y")


_ARITH = set(range(0, 10))
_COMPARE = set(range(16, 22))
_LOGICAL = set(range(24, 27))


def _binary(c, a):
    op, nd = int(a[0]), _ndim(c, int(a[1]))
    sa, sb, so = (int(v) for v in a[2:5])
    shape, as_, bs = _shape_args(c, a, 5, nd, 3)
    if op in _ARITH:
        in_size, out_size = 4, 4
    elif op in _COMPARE:
        in_size, out_size = 4, 1
    elif op in _LOGICAL:
        in_size, out_size = 1, 1
    else:
        c.fail(f"unknown binary op {op}")
    c.strided(sa, 0, shape, as_, in_size, False, "a")
    c.strided(sb, 0, shape, bs, in_size, False, "b")
    c.access(so, 0, _prod(shape), out_size, True, "out")


def _where(c, a):
    nd = _ndim(c, int(a[0]))
    sc, sa, sb, so = (int(v) for v in a[1:5])
    shape, cs, as_, bs = _shape_args(c, a, 5, nd, 4)
    c.strided(sc, 0, shape, cs, 1, False, "cond")
    c.strided(sa, 0, shape, as_, 4, False, "a")
    c.strided(sb, 0, shape, bs, 4, False, "b")
    c.access(so, 0, _prod(shape), 4, True, "out")


def _copy(c, a):
    nd, es = _ndim(c, int(a[0])), int(a[1])
    src, src_off, dst, dst_off = (int(v) for v in a[2:6])
    if es not in (1, 2, 4, 8):
        c.fail(f"element size {es} is not 1, 2, 4 or 8")
    shape, ss, ds = _shape_args(c, a, 6, nd, 3)
    c.strided(src, src_off, shape, ss, es, False, "source")
    c.strided(dst, dst_off, shape, ds, es, True, "destination")


def _cast(c, a):
    n, src, sdt, dst, ddt = (int(v) for v in a[:5])
    if sdt not in DTYPE_SIZE or ddt not in DTYPE_SIZE:
        c.fail(f"unknown dtype code {sdt} or {ddt}")
    c.nonneg(n=n)
    c.access(src, 0, n, DTYPE_SIZE[sdt], False, "source")
    c.access(dst, 0, n, DTYPE_SIZE[ddt], True, "destination")


def _reduce(c, a):
    op, outer, n, inner, x, y = (int(v) for v in a[:6])
    c.nonneg(outer=outer, n=n, inner=inner)
    if not 0 <= op <= 9:
        c.fail(f"unknown reduce op {op}")
    in_size = 1 if op in (lib.GN_R_ANY, lib.GN_R_ALL) else 4
    out_size = 8 if op in (lib.GN_R_ARGMAX, lib.GN_R_ARGMIN) else in_size
    c.access(x, 0, outer * n * inner, in_size, False, "x")
    c.access(y, 0, outer * inner, out_size, True, "y")


def _softmax(c, a):
    log, outer, n, inner, x, y = (int(v) for v in a[:6])
    c.nonneg(outer=outer, n=n, inner=inner)
    if log not in (0, 1):
        c.fail(f"log flag must be 0 or 1, got {log}")
    c.access(x, 0, outer * n * inner, 4, False, "x")
    c.access(y, 0, outer * n * inner, 4, True, "y")


def _fill(c, a):
    n, dst = int(a[0]), int(a[1])
    c.nonneg(n=n)
    c.access(dst, 0, n, 4, True, "destination")


def _random(c, a):
    dist, n, state, out = (int(v) for v in a[:4])
    if dist not in (0, 1, 2):
        c.fail(f"unknown distribution {dist}")
    c.nonneg(n=n)
    c.access(state, 0, 2, 8, True, "state")
    c.access(out, 0, n, 4, True, "out")


GEOM_LEN = 22   # enum gn_conv_geom: n, in[3], c, out[3], o, k[3], stride[3], dil[3], pad[3], groups


def _geometry(c, g):
    """Sizes (elements) of x, w and y of a convolution geometry, after checking it. The
    kernels test every tap against the input bounds, so any pads are safe."""
    g = [int(v) for v in g]
    n, ins, ch, outs, o = g[0], g[1:4], g[4], g[5:8], g[8]
    k, strides, dils, groups = g[9:12], g[12:15], g[15:18], g[21]
    c.nonneg(batch=n)
    if min(ins + outs + k + strides + dils + [ch, o, groups]) < 1:
        c.fail(f"geometry {g}: sizes, strides, dilations and groups must be >= 1")
    if ch % groups or o % groups:
        c.fail(f"geometry: groups {groups} must divide the channels {ch} and {o}")
    return n * _prod(ins) * ch, _prod(k) * (ch // groups) * o, n * _prod(outs) * o


def _conv(c, a):
    x, w, y, work, work_len = (int(v) for v in a[:5])
    c.nonneg(work_len=work_len)
    nx, nw, ny = _geometry(c, a[5:5 + GEOM_LEN])
    name = c.step[1]
    if name == "GN_K_CONV":                      # x, w -> y
        reads, write = ((x, nx, "x"), (w, nw, "w")), (y, ny, "y")
    elif name == "GN_K_CONV_BACKWARD_INPUT":     # dy (y-sized), w -> dx (x-sized)
        reads, write = ((x, ny, "dy"), (w, nw, "w")), (y, nx, "dx")
    else:                                        # x, dy -> dw
        reads, write = ((x, nx, "x"), (w, ny, "dy")), (y, nw, "dw")
    for slot, count, what in reads:
        c.access(slot, 0, count, 4, False, what)
    c.access(write[0], 0, write[1], 4, True, write[2])
    c.access(work, 0, work_len, 4, True, "work")


def _activation(c, act):
    """An epilogue's activation must be a known unary op code."""
    if not 0 <= act < lib.GN_U_COUNT:
        c.fail(f"unknown activation code {act}")


def _fused_conv_reads(c, g, x, w, bias):
    """A fused convolution's reads: x and w of geometry ``g``, the bias (O floats) when
    its slot is not -1. Returns the sizes of x, w and y."""
    nx, nw, ny = _geometry(c, g)
    c.access(x, 0, nx, 4, False, "x")
    c.access(w, 0, nw, 4, False, "w")
    if bias != -1:
        c.access(bias, 0, int(g[8]), 4, False, "bias")
    return nx, nw, ny


def _conv_bias_act(c, a):
    """x w y work work_len bias residual act geom: CONV's accesses, plus the bias (O floats)
    and the residual (y-sized) it reads when their slots are not -1."""
    x, w, y, work, work_len, bias, residual, act = (int(v) for v in a[:8])
    c.nonneg(work_len=work_len)
    _activation(c, act)
    g = a[8:8 + GEOM_LEN]
    _, _, ny = _fused_conv_reads(c, g, x, w, bias)
    if residual != -1:
        c.access(residual, 0, ny, 4, False, "residual")
    c.access(y, 0, ny, 4, True, "y")
    c.access(work, 0, work_len, 4, True, "work")


def _conv_bias_act_pool(c, a):
    """x w y work work_len bias act window[3] geom: the convolution's reads, the bias, and
    the pooled y (the output's sizes over the windows, rounded down)."""
    x, w, y, work, work_len, bias, act = (int(v) for v in a[:7])
    window = [int(v) for v in a[7:10]]
    c.nonneg(work_len=work_len)
    _activation(c, act)
    if min(window) < 1:
        c.fail(f"pooling window {window} must be >= 1")
    g = a[10:10 + GEOM_LEN]
    _fused_conv_reads(c, g, x, w, bias)
    pooled = int(g[0]) * _prod(int(g[5 + i]) // window[i] for i in range(3)) * int(g[8])
    c.access(y, 0, pooled, 4, True, "y")
    c.access(work, 0, work_len, 4, True, "work")


def _pool(c, a, backward=False):
    mode = int(a[0])
    if mode not in (0, 1):
        c.fail(f"unknown pooling mode {mode}")
    slots = [int(v) for v in a[1:4 if backward else 3]]
    nx, _, ny = _geometry(c, a[len(slots) + 1:len(slots) + 1 + GEOM_LEN])
    if backward:
        x, dy, dx = slots
        c.access(x, 0, nx, 4, False, "x")
        c.access(dy, 0, ny, 4, False, "dy")
        c.access(dx, 0, nx, 4, True, "dx")
    else:
        x, y = slots
        c.access(x, 0, nx, 4, False, "x")
        c.access(y, 0, ny, 4, True, "y")


def _gemm_bias_act_layout(c, a):
    """ta tb m n k A lda B ldb C ldc bias act, then (from 15 ints) residual ldr."""
    return (15 if len(a) > 13 else 13), 2


def _gemm_bias_act(c, a):
    _gemm(c, a[:11])
    bias, act, m, n = int(a[11]), int(a[12]), int(a[2]), int(a[3])
    _activation(c, act)
    if bias >= 0:
        c.access(bias, 0, n, 4, False, "bias")
    if len(a) > 13 and int(a[13]) >= 0:
        c.matrix(int(a[13]), m, n, int(a[14]), 0, False, "residual")


def _fused_layout(c, a):
    """(int count, float count) of a GN_K_FUSED_ELTWISE step, from its header."""
    nd, nin, ninstr = _ndim(c, int(a[0])), int(a[1]), int(a[2])
    if not 1 <= nin <= 16 or not 1 <= ninstr <= 48:
        c.fail(f"{nin} inputs and {ninstr} instructions (limits 16 and 48)")
    return 4 + nd + nin * (1 + nd) + 4 * ninstr, 2 * ninstr


def _fused_eltwise(c, a):
    nd, nin, ninstr, out = (int(v) for v in a[:4])
    shape = _shape_args(c, a, 4, nd, 1)[0]
    per = 4 + nd
    for j in range(nin):
        slot = int(a[per + j * (1 + nd)])
        strides = [int(v) for v in a[per + j * (1 + nd) + 1:per + (j + 1) * (1 + nd)]]
        c.strided(slot, 0, shape, strides, 4, False, f"input {j}")
    _program(c, a[per + nin * (1 + nd):], nin, ninstr)
    c.access(out, 0, _prod(shape), 4, True, "out")


def _program(c, prog, nin, ninstr):
    """Instructions (kind, code, register a, register b) of an elementwise program."""
    for s in range(ninstr):
        kind, code, ra, rb = (int(v) for v in prog[4 * s:4 * s + 4])
        ok = (kind == 1 and 0 <= code < lib.GN_U_COUNT) or (kind == 2 and code in _ARITH)
        if not ok or not 0 <= ra < nin + s or (kind == 2 and not 0 <= rb < nin + s):
            c.fail(f"instruction {s} ({kind}, {code}, {ra}, {rb}) is malformed")


def _multi_layout(c, a):
    """(int count, float count) of a GN_K_MULTI_ELTWISE step, from its header."""
    nt, nin, ninstr, nout = (int(v) for v in a[:4])
    if not (1 <= nt <= 64 and 1 <= nin <= 16 and 1 <= ninstr <= 48 and 1 <= nout <= 8):
        c.fail(f"{nt} tensors, {nin} inputs, {ninstr} instructions and {nout} outputs "
               "(limits 64, 16, 48 and 8)")
    return 4 + 4 * ninstr + nout + nt * (1 + 2 * nin + nout), 2 * ninstr


def _multi_eltwise(c, a):
    nt, nin, ninstr, nout = (int(v) for v in a[:4])
    _program(c, a[4:4 + 4 * ninstr], nin, ninstr)
    results = [int(v) for v in a[4 + 4 * ninstr:4 + 4 * ninstr + nout]]
    if any(not nin <= r < nin + ninstr for r in results):
        c.fail(f"result registers {results} must name instructions")
    per = 4 + 4 * ninstr + nout
    for t in range(nt):
        d = [int(v) for v in a[per:per + 1 + 2 * nin + nout]]
        per += 1 + 2 * nin + nout
        n = d[0]
        c.nonneg(size=n)
        for j in range(nin):
            slot, stride = d[1 + 2 * j], d[2 + 2 * j]
            if stride not in (0, 1):
                c.fail(f"tensor {t} input {j}: stride {stride} is not 0 or 1")
            c.access(slot, 0, (n if stride else 1) if n else 0, 4, False,
                     f"tensor {t} input {j}")
        for o in range(nout):
            c.access(d[1 + 2 * nin + o], 0, n, 4, True, f"tensor {t} output {o}")


# name: (ints before the variable part, index of ndim or None, arrays of ndim ints, floats, fn);
# a kernel whose layout depends on its header has a function instead of the int count,
# returning (int count, float count).
KERNELS = {
    "GN_K_GEMM_BIAS_ACT": (_gemm_bias_act_layout, None, 0, 2, _gemm_bias_act),
    "GN_K_FUSED_ELTWISE": (_fused_layout, None, 0, 0, _fused_eltwise),
    "GN_K_MULTI_ELTWISE": (_multi_layout, None, 0, 0, _multi_eltwise),
    "GN_K_GEMM": (11, None, 0, 2, _gemm),
    "GN_K_BATCH_GEMM": (13, 12, 4, 2, _batch_gemm),
    "GN_K_UNARY": (4, None, 0, 2, _unary),
    "GN_K_BINARY": (5, 1, 3, 0, _binary),
    "GN_K_WHERE": (5, 0, 4, 0, _where),
    "GN_K_COPY": (6, 0, 3, 0, _copy),
    "GN_K_CAST": (5, None, 0, 0, _cast),
    "GN_K_REDUCE": (6, None, 0, 0, _reduce),
    "GN_K_SOFTMAX": (6, None, 0, 0, _softmax),
    "GN_K_FILL": (2, None, 0, 1, _fill),
    "GN_K_RANDOM": (4, None, 0, 2, _random),
    "GN_K_CONV": (5 + GEOM_LEN, None, 0, 0, _conv),
    "GN_K_CONV_BIAS_ACT": (8 + GEOM_LEN, None, 0, 2, _conv_bias_act),
    "GN_K_CONV_BIAS_ACT_POOL": (10 + GEOM_LEN, None, 0, 2, _conv_bias_act_pool),
    "GN_K_CONV_BACKWARD_INPUT": (5 + GEOM_LEN, None, 0, 0, _conv),
    "GN_K_CONV_BACKWARD_FILTER": (5 + GEOM_LEN, None, 0, 0, _conv),
    "GN_K_POOL": (3 + GEOM_LEN, None, 0, 0, _pool),
    "GN_K_POOL_BACKWARD": (4 + GEOM_LEN, None, 0, 0, lambda c, a: _pool(c, a, True)),
}


def unverified_kernels():
    """Kernel names of the C API this verifier has no argument layout for."""
    return sorted(set(_kernel_ids()) - set(KERNELS))


def _buffer_sizes(arena_bytes, input_specs, output_specs, weight_specs, const_arrays):
    def nbytes(shape, dtype):
        return _prod(shape) * np.dtype(dtype).itemsize
    sizes = {(0, 0): int(arena_bytes)}
    for kind, specs in ((1, input_specs), (2, output_specs), (3, weight_specs)):
        for i, (shape, dtype) in enumerate(specs):
            sizes[(kind, i)] = nbytes(shape, dtype)
    for i, c in enumerate(const_arrays):
        sizes[(4, i)] = int(np.asarray(c).nbytes)
    return sizes


def verify_plan(plan, kernel_names=None):
    """Check ``plan`` (a ``graphnet.compiler.Plan`` or anything with its fields) and
    return the set of slot numbers its steps write. Raises ``PlanError``."""
    steps, iargs, fargs, slots = plan.steps, plan.iargs, plan.fargs, plan.slots
    for name, arr, dtype, ndim in (("steps", steps, np.int64, 2), ("iargs", iargs, np.int64, 1),
                                   ("fargs", fargs, np.float32, 1),
                                   ("slots", slots, np.int64, 2)):
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.ndim != ndim:
            raise PlanError(f"plan {name} must be a {ndim}-D {np.dtype(dtype)} array")
    if steps.shape[1] != 4 or slots.shape[1] != 3:
        raise PlanError("plan steps must have 4 columns and slots 3")
    if plan.arena_bytes < 0:
        raise PlanError(f"negative arena size {plan.arena_bytes}")
    specs = [[(s[1], s[2]) for s in plan.input_specs],
             [(s[0], s[1]) for s in plan.output_specs],
             [(s[1], s[2]) for s in plan.weight_specs]]
    sizes = _buffer_sizes(plan.arena_bytes, *specs, plan.consts)
    counts = {0: 1, 1: len(specs[0]), 2: len(specs[1]), 3: len(specs[2]), 4: len(plan.consts)}
    for s, (kind, index, offset) in enumerate(slots.tolist()):
        if kind not in counts:
            raise PlanError(f"slot {s} has unknown kind {kind}")
        if not 0 <= index < counts[kind] or (kind == 0 and index != 0):
            raise PlanError(f"slot {s} names {SLOT_KINDS[kind]} {index}, the plan has "
                            f"{counts[kind]}")
        if not 0 <= offset <= sizes[(kind, index)]:
            raise PlanError(f"slot {s} starts at byte {offset} of {SLOT_KINDS[kind]} {index}, "
                            f"which has {sizes[(kind, index)]} bytes")
    ids = {v: k for k, v in _kernel_ids().items()}
    checker = _Checker(sizes, counts, slots)
    for i, (kid, ioff, foff, nargs) in enumerate(steps.tolist()):
        name = ids.get(kid)
        checker.step = (i, name or f"kernel id {kid}")
        if name is None or name not in KERNELS:
            checker.fail("unknown kernel" if name is None else
                         "this graphnet cannot verify this kernel's arguments")
        if kernel_names is not None and kernel_names[i] != name:
            checker.fail(f"the kernel list names {kernel_names[i]!r} for this step")
        fixed, nd_at, arrays, nfloats, fn = KERNELS[name]
        if callable(fixed):
            if ioff < 0 or nargs < 4 or ioff + nargs > len(iargs):
                checker.fail(f"its {nargs} int arguments at offset {ioff} do not fit the "
                             f"{len(iargs)} of the plan")
            fixed, nfloats = fixed(checker, iargs[ioff:ioff + nargs])
        if ioff < 0 or nargs < fixed or ioff + nargs > len(iargs):
            checker.fail(f"its {nargs} int arguments at offset {ioff} do not fit the "
                         f"{len(iargs)} of the plan (at least {fixed} needed)")
        if foff < 0 or foff + nfloats > len(fargs):
            checker.fail(f"its {nfloats} float arguments at offset {foff} do not fit the "
                         f"{len(fargs)} of the plan")
        a = iargs[ioff:ioff + nargs]
        if nd_at is not None:
            expected = fixed + arrays * _ndim(checker, int(a[nd_at]))
            if nargs != expected:
                checker.fail(f"has {nargs} int arguments, its ndim implies {expected}")
        elif nargs != fixed:
            checker.fail(f"has {nargs} int arguments, expected {fixed}")
        fn(checker, a)
    return checker.written
