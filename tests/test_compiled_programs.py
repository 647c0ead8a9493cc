"""The optimizers' update programs compiled ahead of time (tools/compiled_programs.py,
csrc/compiled_programs.h): checked in as generated, taken by the training steps, and the
same bits as the interpreted program, special values included."""
import numpy as np
import pytest

import graphnet as gn
from tools import compiled_programs as cp
from graphnet.runtime.cext import ffi, lib

SETTINGS = cp.optimizer_settings()
LABELS = [label for label, _ in SETTINGS]


@pytest.fixture
def interpreted():
    """gn_multi_eltwise interprets every program while the test runs."""
    was = lib.gn_set_compiled_programs(0)
    yield
    lib.gn_set_compiled_programs(was)


def _index(program):
    k, prog, results, _ = program
    code = np.array(prog, np.int64).ravel()
    res = np.array(results, np.int64)
    return lib.gn_compiled_program_index(k, len(prog), ffi.from_buffer("int64_t[]", code),
                                         len(results), ffi.from_buffer("int64_t[]", res))


def test_the_checked_in_header_is_what_the_optimizers_generate():
    with open(cp.HEADER) as f:
        assert f.read() == cp.header_text(), \
            "csrc/compiled_programs.h is stale: run python -m tools.compiled_programs"


@pytest.mark.parametrize("label", LABELS)
def test_every_setting_s_update_is_compiled(label):
    programs = cp.multi_programs(cp.train_step_plan(dict(SETTINGS)[label]()))
    assert programs
    for program in programs:
        assert _index(program) >= 0


def test_other_programs_are_interpreted():
    program = (2, ((2, lib.GN_B_ADD, 0, 1), (2, lib.GN_B_MUL, 2, 0)), (3,), 0b11)
    assert _index(program) == -1


def test_the_mnist_mlp_rmsprop_step_takes_the_compiled_loop():
    """The benchmark's update: the same program whatever the layer sizes."""
    model = gn.Sequential([gn.Input((20,)), gn.layers.Dense(16, activation="relu"),
                           gn.layers.Dropout(0.2), gn.layers.Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=gn.optimizers.RMSprop())
    x, y = np.zeros((8, 20), np.float32), np.zeros((8, 3), np.float32)
    fn, arrays = model._train_step_for(x, y)
    plan = fn.executable([a.shape for a in arrays]).plan
    programs = cp.multi_programs(plan)
    assert len(programs) == 1 and _index(programs[0]) >= 0
    assert programs[0][3] == cp.multi_programs(cp.train_step_plan(gn.optimizers.RMSprop()))[0][3]


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -3e38, 1e-7], np.float32)


def _run_multi(program, fprog, sizes, seed):
    """gn_multi_eltwise of ``program`` over tensors of ``sizes``: tile inputs normal values
    with SPECIAL among them, one-value inputs in (0, 1); returns the outputs."""
    k, prog, results, vec = program
    rng = np.random.default_rng(seed)
    inputs, strides, outputs = [], [], []
    for n in sizes:
        for j in range(k):
            if vec >> j & 1 or n == 1:
                a = rng.standard_normal(n).astype(np.float32)
                a[rng.integers(0, n, max(1, n // 16))] = rng.choice(SPECIAL, max(1, n // 16))
            else:
                a = rng.uniform(0.05, 0.95, 1).astype(np.float32)
            inputs.append(a)
            strides.append(1 if vec >> j & 1 or n == 1 else 0)
        outputs += [np.full(n, 7.0, np.float32) for _ in results]
    keep = [ffi.from_buffer("float[]", a) for a in inputs + outputs]
    ins = ffi.new("float *[]", keep[:len(inputs)])
    outs = ffi.new("float *[]", keep[len(inputs):])
    lib.gn_multi_eltwise(len(sizes), ffi.new("int64_t[]", list(sizes)), k, ins,
                         ffi.new("int64_t[]", strides), len(prog),
                         ffi.new("int64_t[]", [v for ins_ in prog for v in ins_]),
                         ffi.new("float[]", list(fprog)), len(results),
                         ffi.new("int64_t[]", list(results)), outs)
    return outputs


def _assert_same_bits(a, b):
    """Equal bits, zeros' signs included; NaN where the other has NaN (x86 gives a NaN
    the sign of whichever operand it came through, which IEEE leaves open)."""
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    np.testing.assert_array_equal(a[~nan].view(np.uint32), b[~nan].view(np.uint32))


def _fargs(plan):
    """The float arguments (alpha, beta per instruction) of each MULTI_ELTWISE step."""
    return [plan.fargs[step[2]:step[2] + 2 * plan.iargs[step[1] + 2]]
            for kernel, step in zip(plan.kernels, plan.steps) if kernel == "GN_K_MULTI_ELTWISE"]


@pytest.mark.parametrize("label", LABELS)
def test_the_compiled_loop_gives_the_interpreter_s_bits(label, isa, request):
    """Tensors of 1 (its one-value inputs then read at stride 1: interpreted), 255 and
    3001 elements (several tiles, ragged ends); NaN, infinities, zeros of both signs and
    subnormals among the values; each SIMD clone of the loops."""
    plan = cp.train_step_plan(dict(SETTINGS)[label]())
    for program, fprog in zip(cp.multi_programs(plan), _fargs(plan)):
        compiled = _run_multi(program, fprog, (1, 255, 3001), seed=3)
        request.getfixturevalue("interpreted")
        reference = _run_multi(program, fprog, (1, 255, 3001), seed=3)
        lib.gn_set_compiled_programs(1)
        for a, b in zip(compiled, reference):
            _assert_same_bits(a, b)


def _train_bits(optimizer, steps=3):
    gn.utils.set_random_seed(4)
    model = gn.Sequential([gn.Input((12,)), gn.layers.Dense(40, activation="relu"),
                           gn.layers.Dense(5, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=optimizer)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((32, 12)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 32)]
    for _ in range(steps):
        model.train_on_batch(x, y)
    return model.get_weights() + [np.array(v.value) for v in model.optimizer.variables]


@pytest.mark.parametrize("make", [gn.optimizers.RMSprop, gn.optimizers.Adam,
                                  lambda: gn.optimizers.SGD(0.1, momentum=0.9)],
                         ids=["rmsprop", "adam", "sgd_momentum"])
def test_training_steps_update_in_place_to_the_same_bits(make, request):
    compiled = _train_bits(make())
    request.getfixturevalue("interpreted")
    interpreted = _train_bits(make())
    assert len(compiled) == len(interpreted)
    for a, b in zip(compiled, interpreted):
        _assert_same_bits(np.asarray(a, np.float32).ravel(), np.asarray(b, np.float32).ravel())
