"""Differential fuzzer of the plan verifier against the C kernels.

Each case is a random one-step plan for one kernel of the table (graphnet/runtime/
kernels.py): its arguments are drawn by name and kind from the kernel's entry (a few
kernels get hints that make valid values likely: leading dimensions, geometries, programs,
records of slots), encoded by the table (``Kernel.encode``), and then, in most cases, a few
of the ints are pushed to invalid values (off by one, zero, negative, doubled, huge). A
plan the verifier refuses is never run. For a plan it accepts, every slot gets its own
buffer sized exactly to the byte range the verifier computed for it (``plan_extents``),
the plan is verified again against those sizes, and run by ``gn_plan_run``: any access
the proof missed is then out of bounds. Under AddressSanitizer (``make sanitize``) that is
a crash; in a plain build each buffer sits between guard bytes of a known pattern,
checked after the run.

    python tests/plan_fuzz.py --cases 100000 --seed 1     # the long run (make sanitize)

``tests/test_plan_fuzz.py`` runs a short seeded run in every ``make test``.
"""
import argparse
import collections
import os
import sys
import threading
import time
from types import SimpleNamespace

import cffi
import numpy as np

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from graphnet.export.verify import PlanError, plan_extents, verify_plan  # noqa: E402
from graphnet.runtime.cext import ffi, lib  # noqa: E402
from graphnet.runtime.kernels import KERNELS  # noqa: E402
from graphnet.ops.recurrent_layout import CELLS, GATES, grad_layout, record_layout  # noqa: E402

GUARD = 64                  # guard bytes each side of a buffer (plain build)
GUARD_BYTE = 0xA5
MAX_CASE_BYTES = 4 << 20    # cases needing more buffer than this are skipped, not run
HUGE = 1 << 56              # buffer size while the extents are computed
MAX_DRAWN_COUNT = 40        # counts the table leaves unbounded are drawn up to this
MAX_DRAWN_NDIM = 4          # and numbers of dimensions up to this
# kernels whose status depends on the data in their buffers (an index out of range)
INDEX_KERNELS = {"GN_K_GATHER", "GN_K_SCATTER_ADD"}

_libc_ffi = cffi.FFI()
_libc_ffi.cdef("void *malloc(size_t); void free(void *);")
_libc = _libc_ffi.dlopen(None)


def under_asan():
    """Whether AddressSanitizer is loaded (then buffers are exact, without guards)."""
    return "libasan" in os.environ.get("LD_PRELOAD", "")


# -- drawing arguments from the table ------------------------------------------------------------
def _dim(r, hi=9, lo=0):
    return int(r.integers(lo, hi + 1))


def _strides(r, shape):
    out, acc = [], 1
    for d in reversed(shape):
        out.insert(0, 0 if r.random() < 0.2 else acc * (1 if r.random() < 0.8 else 2))
        acc *= d * (1 if r.random() < 0.8 else 2)
    return out


def _geometry(r, pool=False):
    """A convolution geometry (enum gn_conv_geom order) of rank 1 to 3; for pooling the
    output channels are mostly the input's (other counts must be refused)."""
    rank = _dim(r, 3, 1)
    n, c = _dim(r, 3), _dim(r, 6, 1)
    groups = 1 if pool else int(r.choice([g for g in (1, 2, 3) if c % g == 0]))
    o = groups * _dim(r, 4, 1)
    if pool and r.random() < 0.7:
        o = c
    ins, outs, ks, ss, ds, ps = [], [], [], [], [], []
    for i in range(3):
        if i < 3 - rank:
            size, out, k, s, d, p = 1, 1, 1, 1, 1, 0
        else:
            size, k, s, d, p = _dim(r, 9, 1), _dim(r, 4, 1), _dim(r, 3, 1), _dim(r, 2, 1), _dim(r, 2)
            out = max((size + 2 * p - d * (k - 1) - 1) // s + 1, 1)
        for values, v in ((ins, size), (outs, out), (ks, k), (ss, s), (ds, d), (ps, p)):
            values.append(v)
    return [n, *ins, c, *outs, o, *ks, *ss, *ds, *ps, groups]


def _draw(arg, values, r):
    """A value for ``arg`` of the table by its kind (slots are numbered by the caller)."""
    if arg.kind == "count":   # ndim small, so products of its sizes stay within int64
        most = MAX_DRAWN_NDIM if arg.name == "ndim" else MAX_DRAWN_COUNT
        hi = arg.hi if arg.hi is not None else arg.lo + most
        return _dim(r, min(hi, arg.lo + most), arg.lo)
    if arg.kind in ("enum", "dtype"):
        return int(r.choice(sorted(arg.values)))
    if arg.kind == "int":
        return _dim(r, 3)
    if arg.kind == "float":
        return float(r.standard_normal())
    length = arg.length(values)
    if arg.kind == "floats":
        return [float(v) for v in r.standard_normal(length)]
    if arg.name == "shape":
        return [_dim(r, 6) for _ in range(length)]
    if arg.name.endswith("_strides"):
        return _strides(r, values["shape"])
    if arg.doc == "convolution geometry":
        return _geometry(r)
    return [_dim(r, 3, 1) for _ in range(length)]


def draw(name, r):
    """(values by argument name, slot count) of one step of kernel ``name``: the hints of
    HINTS, then every other argument drawn from its kind; slots numbered in order, an
    optional one -1 three times in ten."""
    values = HINTS[name](r) if name in HINTS else {}
    nslots = values.pop("_nslots", 0)
    for arg in KERNELS[name].args:
        if arg.name in values:
            continue
        if arg.kind == "slot":
            if arg.optional and r.random() < 0.3:
                values[arg.name] = -1
            else:
                values[arg.name], nslots = nslots, nslots + 1
        else:
            values[arg.name] = _draw(arg, values, r)
    return values, nslots


# -- hints: values the table's kinds alone rarely make valid --------------------------------------
def _gemm(r):
    ta, tb = int(r.integers(2)), int(r.integers(2))
    m, n, k = _dim(r, 24), _dim(r, 24), _dim(r, 24)
    return {"ta": ta, "tb": tb, "m": m, "n": n, "k": k, "lda": (m if ta else k) + _dim(r, 2),
            "ldb": (k if tb else n) + _dim(r, 2), "ldc": n + _dim(r, 2)}


def _gemm_bias_act(r):
    v = _gemm(r)
    v["ldr"] = v["n"] + _dim(r, 2)
    return v


def _batch_gemm(r):
    v = _gemm(r)
    nd = _dim(r, 3)
    shape = [_dim(r, 3, 1) for _ in range(nd)]
    sizes = {"a": (v["k"] if v["ta"] else v["m"]) * v["lda"],
             "b": (v["n"] if v["tb"] else v["k"]) * v["ldb"], "c": v["m"] * v["ldc"]}
    for key, size in sizes.items():
        strides, acc = [], size
        for d in reversed(shape):
            strides.insert(0, acc if r.random() < 0.8 else 0)
            acc *= d
        v[f"{key}_strides"] = strides
    return dict(v, ndim=nd, shape=shape, nb=int(np.prod(shape)))


def _copy(r):
    nd = _dim(r, 4)
    shape = [_dim(r, 6) for _ in range(nd)]
    src_strides = _strides(r, shape)
    if nd and r.random() < 0.3:   # a reversed axis, from an offset that makes it fit
        src_strides[0] = -abs(src_strides[0])
    offset = sum(-s * (d - 1) for s, d in zip(src_strides, shape) if s < 0 and d > 0)
    return {"ndim": nd, "shape": shape, "src_strides": src_strides, "src_offset": offset}


def _conv(kind):
    def hint(r):
        geom = _geometry(r)
        return {"geom": geom, "work_len": int(lib.gn_conv_work_len(kind, ffi.new("int64_t[]", geom)))}
    return hint


def _conv_bias_act_pool(r):
    geom = _geometry(r)
    window = [_dim(r, 3, 1) if geom[lib.GN_CG_OUT + i] > 1 else 1 for i in range(3)]
    work = int(lib.gn_conv_pool_work_len(ffi.new("int64_t[]", geom)))
    return {"geom": geom, "window": window, "work_len": work}


def _pool(r):
    return {"geom": _geometry(r, pool=True)}


def _program(r, nin, ninstr):
    prog = []
    for s in range(ninstr):
        if r.random() < 0.5:
            prog += [1, int(r.integers(lib.GN_U_COUNT)), int(r.integers(nin + s)), 0]
        else:
            prog += [2, int(r.integers(10)), int(r.integers(nin + s)), int(r.integers(nin + s))]
    return prog


def _fused_eltwise(r):
    nd, nin, ninstr = _dim(r, 3), _dim(r, 4, 1), _dim(r, 5, 1)
    shape = [_dim(r, 6) for _ in range(nd)]
    inputs = [v for j in range(nin) for v in [j, *_strides(r, shape)]]
    return {"ndim": nd, "nin": nin, "ninstr": ninstr, "shape": shape, "inputs": inputs,
            "prog": _program(r, nin, ninstr), "_nslots": nin}


def _multi_eltwise(r):
    nt, nin, ninstr, nout = _dim(r, 3, 1), _dim(r, 3, 1), _dim(r, 4, 1), _dim(r, 2, 1)
    tensors, slot = [], 0
    for _ in range(nt):
        tensors.append(_dim(r, 200))
        for _ in range(nin):
            tensors += [slot, int(r.integers(2))]
            slot += 1
        tensors += list(range(slot, slot + nout))
        slot += nout
    return {"ntensors": nt, "nin": nin, "ninstr": ninstr, "nout": nout,
            "prog": _program(r, nin, ninstr),
            "results": [nin + int(r.integers(ninstr)) for _ in range(nout)],
            "tensors": tensors, "_nslots": slot}


def _rnn(kernel):
    """A recurrent step whose record widths (S, K) and work buffer are the ones its codes
    give (graphnet/ops/recurrent_layout.py; mutation makes them wrong). BPTT's K depends on
    whether the recurrent dropout mask rm is given and a mask_mode needs the mask, so the
    hint numbers those slots itself (from 0)."""
    def hint(r):
        cell, reset_after, mask_mode = _dim(r, 2), _dim(r, 1), _dim(r, 2)
        B, T, D, U = _dim(r, 5), _dim(r, 6), _dim(r, 7), _dim(r, 7)
        g = U * GATES[CELLS[cell]]
        v = {"cell": cell, "reset_after": reset_after, "B": B, "T": T, "D": D, "U": U,
             "act": _dim(r, 4), "ract": _dim(r, 4), "go_backwards": _dim(r, 1)}
        if kernel == "GN_K_RNN_PARAM_GRAD":
            rec_masked = _dim(r, 1)
            v.update(rec_masked=rec_masked, wrt=_dim(r, 5))
        else:
            rec_masked, masked = int(r.random() < 0.5), int(mask_mode != 0 or r.random() < 0.3)
            v.update(mask_mode=mask_mode, rm=masked if rec_masked else -1,
                     mask=0 if masked else -1, _nslots=masked + rec_masked,
                     S=record_layout(CELLS[cell], U, reset_after, mask_mode != 0)[1],
                     work_len=B * (g + 2 * U) if kernel == "GN_K_RNN_FORWARD" else 5 * B * U)
        if kernel != "GN_K_RNN_FORWARD":
            v["K"] = grad_layout(CELLS[cell], U, reset_after, rec_masked)[1]
        return {k: val for k, val in v.items() if any(a.name == k for a in KERNELS[kernel].args)
                or k == "_nslots"}
    return hint
def _attention(r):
    """Small (b, t, s, n) products (s >= 1: the table refuses a softmax over no keys, as the
    kernels do), the mask's strides over (b, n, t, s) broadcast at random; forward and
    backward alike."""
    v = {key: _dim(r, 4, 1) for key in ("b", "t", "n", "h", "hv")}
    v["s"] = _dim(r, 5, 1)
    v["mask_strides"] = _strides(r, [v["b"], v["n"], v["t"], v["s"]])
    return v


HINTS = {
    "GN_K_ATTENTION": _attention, "GN_K_ATTENTION_BACKWARD": _attention,
    "GN_K_GEMM": _gemm, "GN_K_GEMM_BIAS_ACT": _gemm_bias_act, "GN_K_BATCH_GEMM": _batch_gemm,
    "GN_K_COPY": _copy, "GN_K_CONV": _conv(0), "GN_K_CONV_BACKWARD_INPUT": _conv(1),
    "GN_K_CONV_BACKWARD_FILTER": _conv(2), "GN_K_CONV_BIAS_ACT": _conv(0),
    "GN_K_CONV_BIAS_ACT_POOL": _conv_bias_act_pool, "GN_K_POOL": _pool,
    "GN_K_POOL_BACKWARD": _pool, "GN_K_FUSED_ELTWISE": _fused_eltwise,
    "GN_K_MULTI_ELTWISE": _multi_eltwise, "GN_K_RNN_FORWARD": _rnn("GN_K_RNN_FORWARD"),
    "GN_K_RNN_BPTT": _rnn("GN_K_RNN_BPTT"), "GN_K_RNN_PARAM_GRAD": _rnn("GN_K_RNN_PARAM_GRAD"),
}


def _mutate(r, args, nslots):
    """Push 1 to 3 ints to nearby or out-of-range values (slot numbers included). A value
    that could be a slot number never becomes another one: the fuzzer checks bounds, and
    which arguments a kernel lets alias is the arena planner's contract, not drawn."""
    args = list(args)
    for _ in range(int(r.integers(1, 4))):
        i = int(r.integers(len(args)))
        v = args[i]
        choices = [c for c in (v + 1, v - 1, 0, -1, 2 * v + 1, v + 1000, 1 << 20, 1 << 40,
                               -(1 << 40), nslots, (1 << 63) - 1)
                   if not (0 <= v < nslots and 0 <= c < nslots)]
        args[i] = min(max(int(r.choice(choices)), -(1 << 63)), (1 << 63) - 1)
    return args


# -- one case -------------------------------------------------------------------------------------
def make_plan(name, args, fargs, sizes):
    """A one-step plan of kernel ``name`` whose slots are weights of ``sizes`` bytes."""
    return SimpleNamespace(
        steps=np.array([[KERNELS[name].id, 0, 0, len(args)]], dtype=np.int64),
        iargs=np.array(args, dtype=np.int64), fargs=np.asarray(fargs, dtype=np.float32),
        slots=np.array([[3, i, 0] for i in range(len(sizes))], dtype=np.int64).reshape(-1, 3),
        consts=[], arena_bytes=0, input_specs=[], output_specs=[],
        weight_specs=[(f"buffer{i}", (size,), "uint8") for i, size in enumerate(sizes)])


class Buffers:
    """One malloc'ed buffer per slot covering exactly bytes [lo, hi) of its extent; with
    guards, GUARD pattern bytes before and after it."""

    def __init__(self, extents, nslots, guards, rng):
        self.raw, self.spans = [], []
        self.ptrs = ffi.new("void *[]", max(nslots, 1))
        for s in range(nslots):
            lo, hi = extents.get(s, (0, 0))
            pad = GUARD if guards else 0
            raw = _libc.malloc(hi - lo + 2 * pad)
            if raw == _libc_ffi.NULL:
                self.free()
                raise MemoryError("fuzzer buffer")
            view = np.frombuffer(_libc_ffi.buffer(raw, hi - lo + 2 * pad), dtype=np.uint8)
            view[:] = GUARD_BYTE
            view[pad:pad + hi - lo] = rng.integers(0, 256, hi - lo, dtype=np.uint8)
            self.raw.append(raw)
            self.spans.append((view, pad, hi - lo))
            self.ptrs[s] = ffi.cast("void *", int(_libc_ffi.cast("uintptr_t", raw)) + pad - lo)

    def guards_intact(self):
        return all((view[:pad] == GUARD_BYTE).all() and (view[pad + size:] == GUARD_BYTE).all()
                   for view, pad, size in self.spans)

    def free(self):
        for raw in self.raw:
            _libc.free(raw)
        self.raw = []


def run_plan(plan, ptrs):
    """gn_plan_run on a one-slot-per-buffer plan whose buffers are the weights."""
    steps, iargs, fargs, slots = plan.steps, plan.iargs, plan.fargs, plan.slots
    nothing = ffi.new("void *[]", 1)
    struct = ffi.new("gn_plan *", {
        "nsteps": len(steps), "steps": ffi.cast("int64_t *", steps.ctypes.data),
        "iargs": ffi.cast("int64_t *", iargs.ctypes.data),
        "fargs": ffi.cast("float *", fargs.ctypes.data), "nslots": len(slots),
        "slots": ffi.cast("int64_t *", slots.ctypes.data), "consts": nothing})
    return lib.gn_plan_run(struct, nothing, nothing, ptrs, ffi.NULL)


def expected_status(name, status):
    """Whether a verified plan's status is the kernel's to give: 0, or an index out of
    range from a kernel whose indices are the (random) data of its buffer."""
    return status == lib.GN_OK or (name in INDEX_KERNELS and status == lib.GN_ERR_INDEX)


def fuzz_case(name, rng, guards):
    """One case of kernel ``name``: its outcome ('refused', 'too big', 'ran') and, when the
    kernel disagreed with the verifier, a description of how."""
    values, nslots = draw(name, rng)
    args, fargs = KERNELS[name].encode(values)
    if rng.random() < 0.7:
        args = _mutate(rng, args, nslots)
    try:
        extents = plan_extents(make_plan(name, args, fargs, [HUGE] * nslots))
    except PlanError:
        return "refused", None
    if sum(hi - lo for lo, hi in extents.values()) > MAX_CASE_BYTES:
        return "too big", None
    exact = make_plan(name, args, fargs, [extents.get(s, (0, 0))[1] for s in range(nslots)])
    try:
        verify_plan(exact)
    except PlanError as exc:
        return "ran", f"refused with the buffers its own extents gave: {exc}"
    buffers = Buffers(extents, nslots, guards, rng)
    try:
        status = run_plan(exact, buffers.ptrs)
        if not expected_status(name, status):
            return "ran", f"gn_plan_run returned {status} for a verified plan"
        if guards and not buffers.guards_intact():
            return "ran", "wrote outside the bytes the verifier proved"
    finally:
        buffers.free()
    return "ran", None


class Watchdog:
    """Ends the process when one case runs longer than ``seconds`` (a verified plan whose
    work no buffer bounds): the C call holds no GIL, so this thread can report it."""

    def __init__(self, seconds):
        self.seconds, self.case, self.started = seconds, None, time.monotonic()
        threading.Thread(target=self._watch, daemon=True).start()

    def start(self, case, name):
        self.case, self.started = (case, name), time.monotonic()

    def _watch(self):
        while True:
            time.sleep(1.0)
            if self.case and time.monotonic() - self.started > self.seconds:
                print(f"case {self.case[0]} ({self.case[1]}) has run for over {self.seconds} s",
                      flush=True)
                os._exit(2)


def fuzz(cases, seed, kernels=None, guards=None, log=None, watchdog=None):
    """Run ``cases`` cases (kernels of the table in turn, ISAs and thread counts drawn per
    case); returns (counts per kernel and outcome, findings [(kernel, seed, case,
    problem)]). ``watchdog``: a ``Watchdog`` told of each case."""
    kernels = sorted(kernels or KERNELS)
    unknown = sorted(set(kernels) - set(KERNELS))
    if unknown:
        raise ValueError(f"kernels {unknown} are not in the kernel table")
    guards = not under_asan() if guards is None else guards
    old_isa, old_threads = ffi.string(lib.gn_isa_name()), lib.gn_get_num_threads()
    isas = [isa for isa in ("ref", "avx2", "avx512") if lib.gn_set_isa(isa.encode())]
    counts, findings = collections.Counter(), []
    try:
        for case in range(cases):
            rng = np.random.default_rng([seed, case])
            name = kernels[case % len(kernels)]
            if watchdog:
                watchdog.start(case, name)
            lib.gn_set_isa(isas[int(rng.integers(len(isas)))].encode())
            lib.gn_set_num_threads(int(rng.integers(1, 3)))
            outcome, problem = fuzz_case(name, rng, guards)
            counts[(name, outcome)] += 1
            if problem:
                findings.append((name, seed, case, problem))
                if log:
                    log(f"case {case} ({name}): {problem}")
    finally:
        lib.gn_set_isa(old_isa)
        lib.gn_set_num_threads(old_threads)
    return counts, findings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kernel", action="append", help="only this kernel (repeatable)")
    parser.add_argument("--case-seconds", type=float, default=120.0,
                        help="a case running longer than this is a finding (exit 2)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    counts, findings = fuzz(args.cases, args.seed, args.kernel, log=print,
                            watchdog=Watchdog(args.case_seconds))
    for name in sorted({k for k, _ in counts}):
        row = {o: counts[(name, o)] for o in ("ran", "refused", "too big")}
        print(f"{name:28} ran {row['ran']:7d}  refused {row['refused']:7d}  "
              f"too big {row['too big']:5d}")
    mode = "AddressSanitizer" if under_asan() else "guard bytes"
    print(f"{args.cases} cases, seed {args.seed}, {mode}, {time.perf_counter() - start:.0f} s: "
          f"{len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
