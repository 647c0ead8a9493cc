"""Compiled plans cannot corrupt memory: each hole a reviewer found, as a crafted kernel call,
plan or file that is refused with a clear error, and the caller's arrays unchanged."""

import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import graphnet as gn
from graphnet import layers as L
from graphnet.export import PlanError, load_compiled, verify_plan
from graphnet.export.compiled import LOADED_WRITABLE, LoadedPlan, read_compiled
from graphnet.runtime.cext import ffi, lib
from graphnet.runtime.executor import Executable
from graphnet.runtime.kernel_layout import MAX_GEOM_STEP
from graphnet.runtime.kernels import KERNELS
from graphnet.saving import FileFormatError
from graphnet.saving.archive import Limits
from gnx_files import edit_array, edit_manifest, rewrite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- pooling kernels check their geometry ------------------------------------------------------
def _floats(array):
    return ffi.cast("float *", ffi.from_buffer(array))


def _pool_geom(c, o, window=(1, 2, 2), size=(1, 4, 4)):
    out = [s // w for s, w in zip(size, window)]
    return [1, *size, c, *out, o, *window, *window, 1, 1, 1, 0, 0, 0, 1]


@pytest.mark.parametrize("fn", ["gn_pool_forward", "gn_pool_forward_ref"])
def test_pool_kernel_refuses_fewer_output_than_input_channels(fn):
    x = np.random.rand(1, 4, 4, 8).astype(np.float32)
    y = np.full((1, 2, 2, 8), 7.0, np.float32)
    x0 = x.copy()
    geom = ffi.new("int64_t[]", _pool_geom(8, 2))
    status = getattr(lib, fn)(lib.GN_POOL_MAX, geom, _floats(x), _floats(y))
    assert status == lib.GN_ERR_BAD_ARGS
    np.testing.assert_array_equal(x, x0)
    assert (y == 7.0).all()


def _huge_window_geom():
    geom = _pool_geom(1, 1, window=(1, 1, 1 << 40), size=(1, 1, 1))
    geom[lib.GN_CG_OUT:lib.GN_CG_OUT + 3] = [1, 1, 1]
    return geom


def test_pool_kernel_refuses_a_window_over_the_tap_limit():
    x = np.zeros((1, 1, 1, 1), np.float32)
    y = np.full((1, 1, 1, 1), 3.0, np.float32)
    dy = np.ones_like(y)
    g = ffi.new("int64_t[]", _huge_window_geom())
    px, py, pdy = (_floats(a) for a in (x, y, dy))
    assert lib.gn_pool_forward(lib.GN_POOL_MAX, g, px, py) == lib.GN_ERR_BAD_ARGS
    assert lib.gn_pool_backward(lib.GN_POOL_MAX, g, px, pdy, py) == lib.GN_ERR_BAD_ARGS
    assert lib.gn_pool_backward_ref(lib.GN_POOL_MAX, g, px, pdy, py) == lib.GN_ERR_BAD_ARGS
    assert (y == 3.0).all()


def test_pool_kernel_accepts_a_valid_geometry():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    y = np.zeros((1, 2, 2, 1), np.float32)
    g = ffi.new("int64_t[]", _pool_geom(1, 1))
    assert lib.gn_pool_forward(lib.GN_POOL_MAX, g, _floats(x), _floats(y)) == lib.GN_OK
    np.testing.assert_array_equal(y.ravel(), [5, 7, 13, 15])


# -- gn_plan_run's status names the step and why it failed ---------------------------------------
def _pool_plan(geom, x_shape, y_shape, kernel_id=None):
    """A one-step GN_K_POOL plan (input 0 -> output 0), not verified."""
    return LoadedPlan(
        steps=np.array([[lib.GN_K_POOL if kernel_id is None else kernel_id, 0, 0,
                         3 + lib.GN_CG_LEN]], dtype=np.int64),
        iargs=np.array([lib.GN_POOL_AVG, 0, 1, *geom], dtype=np.int64),
        fargs=np.zeros(0, np.float32), slots=np.array([[1, 0, 0], [2, 0, 0]], np.int64),
        consts=[], arena_bytes=0, unplanned_bytes=0,
        input_specs=[("x", x_shape, "float32")], output_specs=[(y_shape, "float32")],
        weight_specs=[], kernels=["GN_K_POOL"])


def test_a_kernel_refusing_its_arguments_raises_runtime_error_naming_the_step():
    exe = Executable(_pool_plan(_huge_window_geom(), (1, 1, 1, 1), (1, 1, 1, 1)), [])
    with pytest.raises(RuntimeError, match=r"plan step 0 \(GN_K_POOL\): its kernel refused"):
        exe.run([np.ones((1, 1, 1, 1), np.float32)])


def test_an_unknown_kernel_id_raises_runtime_error_naming_the_step():
    exe = Executable(_pool_plan(_pool_geom(1, 1), (1, 4, 4, 1), (1, 2, 2, 1), 9999), [])
    with pytest.raises(RuntimeError, match=r"plan step 0 \(GN_K_POOL\) has an unknown kernel"):
        exe.run([np.ones((1, 4, 4, 1), np.float32)])


@pytest.mark.parametrize("reason, error, words", [
    ("GN_ERR_INDEX", IndexError, "outside"), ("GN_ERR_NO_MEMORY", MemoryError, "allocate"),
    ("GN_ERR_BAD_ARGS", RuntimeError, "refused"),
    ("GN_ERR_UNKNOWN_KERNEL", RuntimeError, "unknown kernel")])
def test_each_status_reason_has_its_exception(reason, error, words):
    plan = _pool_plan(_pool_geom(1, 1), (1, 4, 4, 1), (1, 2, 2, 1))
    plan.kernels = ["GN_K_COPY", "GN_K_POOL"]
    exc = Executable(plan, []).run_error(lib.GN_ERR_COUNT * 1 + getattr(lib, reason))
    assert type(exc) is error
    assert "plan step 1 (GN_K_POOL)" in str(exc) and words in str(exc)


# -- allocation failures reach the caller ------------------------------------------------------
def test_a_failed_kernel_allocation_raises_memory_error():
    """A pooling window at the tap limit needs an 8 MB tap table; under an address-space
    limit that leaves no room for it, the run raises MemoryError and the input is intact."""
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("AddressSanitizer reserves the address space an rlimit would cut")
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path[:0] = [{ROOT!r}, {os.path.join(ROOT, "tests")!r}]
        from test_compiled_safety import pool_plan_at_the_tap_limit
        from graphnet.runtime.cext import lib
        lib.gn_set_num_threads(1)
        exe, x = pool_plan_at_the_tap_limit()
        x0 = x.copy()
        used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + (2 << 20), resource.RLIM_INFINITY))
        try:
            exe.run([x])
        except MemoryError as exc:
            print("MemoryError:", exc, "intact:", bool((x == x0).all()))
        else:
            print("no error")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert "MemoryError: plan step 0 (GN_K_POOL): a kernel could not allocate" in out.stdout, \
        out.stdout + out.stderr
    assert "intact: True" in out.stdout


def pool_plan_at_the_tap_limit():
    """(Executable, x): average pooling of x (1, 1, 1, 2^20, 1) over one window of
    GN_POOL_MAX_TAPS taps, the generic path (a tap table of 8 MB)."""
    taps = lib.GN_POOL_MAX_TAPS
    geom = [1, 1, 1, taps, 1, 1, 1, 1, 1, 1, 1, taps, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1]
    plan = _pool_plan(geom, (1, 1, taps, 1), (1, 1, 1, 1))
    verify_plan(plan, plan.kernels)
    return Executable(plan, []), np.random.rand(1, 1, taps, 1).astype(np.float32)


def test_the_tap_limit_plan_runs_when_memory_is_available():
    exe, x = pool_plan_at_the_tap_limit()
    (y,) = exe.run([x])
    np.testing.assert_allclose(y.ravel(), [x.mean(dtype=np.float64)], rtol=1e-4)


# -- gn_strided_copy over one buffer -----------------------------------------------------------
@pytest.mark.parametrize("shift", [1, -1])
def test_strided_copy_onto_an_overlapping_range_moves_the_data(shift):
    """A plan may name one buffer as a copy's source and destination: contiguous rows move
    as memmove does (memcpy over overlapping ranges is undefined)."""
    buf = np.arange(64, dtype=np.float32)
    expect = buf.copy()
    src, dst = 8, 8 + shift
    expect[dst:dst + 40] = buf[src:src + 40].copy()
    shape, strides = ffi.new("int64_t[]", [40]), ffi.new("int64_t[]", [1])
    base = ffi.cast("float *", ffi.from_buffer(buf))
    lib.gn_strided_copy(1, shape, base + src, strides, base + dst, strides, 4)
    np.testing.assert_array_equal(buf, expect)


# -- files whose plans the verifier refuses ----------------------------------------------------
@pytest.fixture
def mlp_file(tmp_path):
    """x (2, 6) -> Dense(6) -> Dense(3): the first product's output is the input's size."""
    inp = gn.Input((6,), name="x")
    model = gn.Model(inp, L.Dense(3)(L.Dense(6, activation="relu")(inp)))
    path = str(tmp_path / "mlp.gnx")
    model.export(path, batch_size=2)
    return path


@pytest.fixture
def pool_file(tmp_path):
    """x (1, 4, 4, 3) -> AveragePooling2D(2) -> Flatten: one GN_K_POOL step."""
    inp = gn.Input((4, 4, 3), name="img")
    model = gn.Model(inp, L.Flatten()(L.AveragePooling2D(2)(inp)))
    path = str(tmp_path / "pool.gnx")
    model.export(path, batch_size=1)
    return path


def _edited(path, tmp_path, *edits):
    """``path`` rewritten with the entry edits (``edit_array`` / ``edit_manifest``)."""
    return rewrite(path, str(tmp_path / "bad.gnx"), {k: v for e in edits for k, v in e.items()})


def _arg_at(plan, step, name):
    """Where in ``plan.iargs`` the int argument ``name`` of ``step`` is (from the table)."""
    at, env = int(plan.steps[step, 1]), {}
    for arg in KERNELS[plan.kernels[step]].int_args:
        if arg.name == name:
            return at
        width = arg.length(env) if arg.is_array else 1
        values = [int(v) for v in plan.iargs[at:at + width]]
        env[arg.name] = values if arg.is_array else values[0]
        at += width
    raise KeyError(name)


def _step_of(path, kernel):
    plan, _, _ = read_compiled(path)
    return plan, plan.kernels.index(kernel)


def test_pooling_file_with_fewer_output_channels_is_refused(pool_file, tmp_path):
    plan, step = _step_of(pool_file, "GN_K_POOL")
    o_at = _arg_at(plan, step, "geom") + lib.GN_CG_O

    def fewer_channels(iargs):
        iargs[o_at] = 1
        return iargs
    bad = _edited(pool_file, tmp_path, edit_array("plan/iargs.npy", fewer_channels))
    with pytest.raises(FileFormatError, match=rf"step {step} \(GN_K_POOL\): pooling keeps the "
                                              r"channels: O = 1 differs from C = 3"):
        load_compiled(bad)


def test_pooling_file_with_a_huge_window_is_refused(pool_file, tmp_path):
    plan, step = _step_of(pool_file, "GN_K_POOL")
    k_at = _arg_at(plan, step, "geom") + lib.GN_CG_K + 2

    def huge_window(iargs):
        iargs[k_at] = 1 << 28
        return iargs
    bad = _edited(pool_file, tmp_path, edit_array("plan/iargs.npy", huge_window))
    with pytest.raises(FileFormatError, match=rf"step {step} \(GN_K_POOL\): pooling window "
                                              r"1 x 2 x 268435456 has more than GN_POOL_MAX_TAPS"):
        load_compiled(bad)


def test_loaded_pooling_model_still_runs(pool_file):
    x = np.random.rand(1, 4, 4, 3).astype(np.float32)
    x0 = x.copy()
    got = load_compiled(pool_file)(x)
    want = x.reshape(1, 2, 2, 2, 2, 3).mean(axis=(2, 4)).reshape(1, -1)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_array_equal(x, x0)


def _one_step_plan(kernel, args, nfloats, sizes):
    """One step over weight slots of ``sizes`` bytes (no outputs to write)."""
    return LoadedPlan(
        steps=np.array([[getattr(lib, kernel), 0, 0, len(args)]], dtype=np.int64),
        iargs=np.array(args, dtype=np.int64), fargs=np.zeros(nfloats, np.float32),
        slots=np.array([[3, i, 0] for i in range(len(sizes))], dtype=np.int64),
        consts=[], arena_bytes=0, unplanned_bytes=0, input_specs=[], output_specs=[],
        weight_specs=[(f"w{i}", (n,), "uint8") for i, n in enumerate(sizes)],
        kernels=[kernel])


def test_fused_pool_scratch_is_bounded():
    """A 2^15 x 2^15 convolution output pooled to 32 x 32: one unpooled image (4 GiB) fits
    neither the step's work buffer (none) nor the scratch limit, so it is never allocated."""
    side = 1 << 15
    geom = [1, 1, 1, 1, 1, 1, side, side, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1]
    args = [0, 1, 2, 3, 0, -1, 0, 1, 1 << 10, 1 << 10, *geom]
    plan = _one_step_plan("GN_K_CONV_BIAS_ACT_POOL", args, 2, [1 << 40] * 4)
    with pytest.raises(PlanError, match="nor the scratch limit MAX_SCRATCH_BYTES"):
        verify_plan(plan)


def test_geometry_steps_that_overflow_the_index_arithmetic_are_refused():
    """The ASan fuzzer's heap-buffer-overflow in depthwise_forward_rows: a stride of
    2^63 - 1 wrapped the kernel's positions around int64 and its writes left y."""
    big = (1 << 63) - 1
    geom = [2, 1, 5, 5, 3, 1, 1, 9, 3, 1, 4, 1, big, 3, big, 1, 2, 2, 1, 0, 2, 3]
    plan = _one_step_plan("GN_K_CONV_BIAS_ACT", [0, 1, 2, 3, 0, 4, 5, 2, *geom], 2,
                          [1 << 20] * 6)
    with pytest.raises(PlanError, match=f"strides, dilations and pads must be at most "
                                        f"{MAX_GEOM_STEP}"):
        verify_plan(plan)


def test_a_strided_write_holding_more_elements_than_its_span_is_refused():
    """A destination stride of 0 over 2^40 elements lands in 4 bytes and never ends."""
    args, _ = KERNELS["GN_K_COPY"].encode({
        "ndim": 1, "elem_size": 4, "src": 0, "src_offset": 0, "dst": 1, "dst_offset": 0,
        "shape": [1 << 40], "src_strides": [0], "dst_strides": [0]})
    plan = _one_step_plan("GN_K_COPY", args, 0, [64, 64])
    with pytest.raises(PlanError, match=r"writes 1099511627776 elements into a span of 1"):
        verify_plan(plan)


# -- what a plan from a file may write ----------------------------------------------------------
def _written_slot(plan, step):
    """The slot a GEMM_BIAS_ACT step writes (its C)."""
    return int(plan.iargs[_arg_at(plan, step, "C")])


@pytest.mark.parametrize("kind, index, name", [(1, 0, "input 0"), (3, 0, "weight 0")])
def test_plans_writing_inputs_or_weights_are_refused(mlp_file, tmp_path, kind, index, name):
    plan, _, _ = read_compiled(mlp_file)
    assert plan.kernels[0] == "GN_K_GEMM_BIAS_ACT"
    slot = _written_slot(plan, 0)

    def aim(slots):
        slots[slot] = [kind, index, 0]
        return slots
    bad = _edited(mlp_file, tmp_path, edit_array("plan/slots.npy", aim))
    with pytest.raises(FileFormatError, match=rf"slot {slot} is {name}, which a step writes; "
                                              "this plan may write only arena, output"):
        load_compiled(bad)


def test_plans_writing_constants_are_refused():
    plan = _one_step_plan("GN_K_FILL", [4, 0], 1, [16])
    plan.consts = [np.zeros(4, np.float32)]
    plan.slots = np.array([[4, 0, 0]], dtype=np.int64)
    assert verify_plan(plan) == {0}                     # in bounds: any kind, by default
    with pytest.raises(PlanError, match="slot 0 is const 0, which a step writes"):
        verify_plan(plan, writable=LOADED_WRITABLE)
    with pytest.raises(ValueError, match="writable must name slot kinds"):
        verify_plan(plan, writable=("weights",))


def test_plans_leaving_an_output_unwritten_are_refused(mlp_file, tmp_path):
    plan, _, _ = read_compiled(mlp_file)
    last = len(plan.steps) - 1
    bad = _edited(mlp_file, tmp_path,
                  edit_array("plan/steps.npy", lambda steps: steps[:last]),
                  edit_manifest(lambda m: m["kernels"].pop()))
    with pytest.raises(FileFormatError, match=r"output 0 \(24 bytes\) is not written whole"):
        load_compiled(bad)


def test_plans_without_steps_are_refused(mlp_file, tmp_path):
    bad = _edited(mlp_file, tmp_path,
                  edit_array("plan/steps.npy", lambda steps: steps[:0]),
                  edit_manifest(lambda m: m.update(kernels=[])))
    with pytest.raises(FileFormatError, match="the plan has no steps"):
        load_compiled(bad)


def test_misaligned_slot_offsets_are_refused(mlp_file, tmp_path):
    plan, _, _ = read_compiled(mlp_file)
    slot = _written_slot(plan, 0)
    assert plan.slots[slot, 0] == 0                     # the arena

    def misalign(slots):
        slots[slot, 2] += 2
        return slots
    bad = _edited(mlp_file, tmp_path, edit_array("plan/slots.npy", misalign),
                  edit_manifest(lambda m: m.update(arena_bytes=m["arena_bytes"] + 64)))
    with pytest.raises(FileFormatError, match=rf"slot {slot} \(arena 0\) starts at byte \d+, "
                                              "not a multiple of the 4-byte elements"):
        load_compiled(bad)


# -- limits at load ------------------------------------------------------------------------------
def test_huge_arena_is_refused_at_load(mlp_file, tmp_path):
    bad = _edited(mlp_file, tmp_path, edit_manifest(lambda m: m.update(arena_bytes=1 << 50)))
    with pytest.raises(FileFormatError, match=r"the arena \('arena_bytes'\) needs "
                                              rf"{1 << 50} bytes, more than the limit"):
        load_compiled(bad)


def test_buffer_limit_is_settable(mlp_file, tmp_path):
    plan, _, _ = read_compiled(mlp_file)
    limit = max(plan.arena_bytes, 48)
    assert load_compiled(mlp_file, Limits(max_buffer_bytes=limit)).run(
        np.zeros((2, 6), np.float32))[0].shape == (2, 3)
    with pytest.raises(FileFormatError, match=rf"arena \('arena_bytes'\) needs "
                                              rf"{plan.arena_bytes} bytes, more than the limit"):
        load_compiled(mlp_file, Limits(max_buffer_bytes=plan.arena_bytes - 1))
    bad = _edited(mlp_file, tmp_path, edit_manifest(
        lambda m: m["inputs"][0].update(shape=[2, 1 << 40])))
    with pytest.raises(FileFormatError, match=rf"input 'x' needs {8 << 40} bytes, more than "
                                              "the limit"):
        load_compiled(bad)


def test_batch_plans_instantiated_at_run_time_are_bounded_too(tmp_path):
    inp = gn.Input((6,), name="x")
    model = gn.Model(inp, L.Dense(3)(inp))
    path = str(tmp_path / "generic.gnx")
    model.export(path, batch_size=None)
    compiled = load_compiled(path, Limits(max_buffer_bytes=4 * 6 * 64))
    assert compiled.run(np.zeros((64, 6), np.float32))[0].shape == (64, 3)
    with pytest.raises(PlanError, match=r"the plan for batch 65 is invalid and was not run: "
                                        r"input 'x' needs 1560 bytes, more than the limit 1536"):
        compiled.run(np.zeros((65, 6), np.float32))


def test_zip_entry_needing_a_newer_zip_names_the_entry(mlp_file, tmp_path):
    bad = str(tmp_path / "v84.gnx")
    with zipfile.ZipFile(mlp_file) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            if info.filename == "plan/fargs.npy":
                info.extract_version = 84
            zout.writestr(info, zin.read(info.filename))
    with pytest.raises(FileFormatError, match=r"\(entry 'plan/fargs.npy'\): zip file "
                                              r"version 8.4 is not supported"):
        load_compiled(bad)


# -- work no buffer bounds ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["GN_K_GATHER", "GN_K_SCATTER_ADD"])
def test_index_kernels_with_empty_rows_do_not_loop_over_outer(name):
    """The plan fuzzer's case 56453 (seed 1): a GATHER of outer 2^63 - 1 over empty rows
    (inner 0) is in bounds (it touches no byte of x or y) but looped over outer for ever;
    now only its indices are checked, and one out of range is still reported."""
    values = {"index_dtype": lib.GN_I64, "elem_size": 4, "outer": (1 << 63) - 1, "n": 3,
              "inner": 0, "m": 2, "indices": 0, "x": 1, "y": 2, "dy": 1, "dx": 2}
    kernel = KERNELS[name]
    args, _ = kernel.encode({a.name: values[a.name] for a in kernel.args})
    for indices, status in (([0, 2], lib.GN_OK), ([0, 3], lib.GN_ERR_INDEX)):
        plan = _one_step_plan(name, args, 0, [16, 0, 0])
        weights = [np.array(indices, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.uint8)]
        verify_plan(plan)
        exe = Executable(plan, [])
        ptrs = ffi.new("void *[]", [ffi.cast("void *", w.ctypes.data) for w in weights])
        nothing = ffi.new("void *[]", 1)
        assert lib.gn_plan_run(exe.packed_state()[1], nothing, nothing, ptrs, ffi.NULL) == status
