"""The arena planner (graphnet/compiler/memory.py): placements checked by brute force, edge
cases, the mnist models' arenas against the planner graphnet had before, and a plan of
20,000 kernels."""
from types import SimpleNamespace

import numpy as np
import pytest

import graphnet as gn
from graphnet.compiler import memory
from graphnet.compiler.memory import ALIGN, plan_arena, reserved_bytes

L = gn.layers


def _buffers(ranges):
    return [SimpleNamespace(first=f, last=last, nbytes=b, offset=-1) for f, last, b in ranges]


def _peak_live(ranges):
    steps = range(max((last for _, last, _ in ranges), default=-1) + 1)
    return max((sum(reserved_bytes(b) for f, last, b in ranges if f <= t <= last)
                for t in steps), default=0)


def assert_valid_placement(ranges, offsets, arena):
    """No two buffers live at a common step share a byte, every offset is aligned, the
    arena holds every buffer and is no smaller than the peak of live bytes."""
    spans = [(o, o + reserved_bytes(b)) for o, (_, _, b) in zip(offsets, ranges)]
    for (f, last, _), (start, end) in zip(ranges, spans):
        assert start >= 0 and start % ALIGN == 0 and end <= arena
    for i, (fi, li, _) in enumerate(ranges):
        for j in range(i):
            fj, lj, _ = ranges[j]
            if fi <= lj and fj <= li:
                assert spans[i][1] <= spans[j][0] or spans[j][1] <= spans[i][0], \
                    f"buffers {j} {ranges[j]} and {i} {ranges[i]} overlap: {spans[j]} {spans[i]}"
    assert arena >= _peak_live(ranges)


def _plan(ranges):
    buffers = _buffers(ranges)
    arena, unplanned = plan_arena(buffers)
    assert unplanned == sum(reserved_bytes(b) for _, _, b in ranges)
    assert_valid_placement(ranges, [b.offset for b in buffers], arena)
    return arena, [b.offset for b in buffers]


def _random_ranges(rng, n):
    steps = int(rng.integers(1, 2 * n + 2))
    firsts = rng.integers(0, steps, n)
    long_lived = rng.random(n) < 0.2
    spans = np.where(long_lived, rng.integers(0, steps, n), rng.geometric(0.5, n) - 1)
    lasts = np.minimum(firsts + spans, steps - 1)
    nbytes = rng.choice([0, 1, 63, 64, 65, 200, 4096, 5000, 1 << 16], n)
    nbytes = np.where(rng.random(n) < 0.5, nbytes, rng.integers(0, 1 << 18, n))
    return [(int(f), int(last), int(b)) for f, last, b in zip(firsts, lasts, nbytes)]


@pytest.mark.parametrize("seed", range(60))
def test_random_plans_are_valid_for_every_placement(seed):
    rng = np.random.default_rng(seed)
    ranges = _random_ranges(rng, int(rng.integers(1, 80)))
    arena, _ = _plan(ranges)
    firsts, lasts, nbytes = (list(c) for c in zip(*ranges))
    sizes = [reserved_bytes(b) for b in nbytes]
    offsets, sweep_arena, peak = memory.best_fit_sweep(firsts, lasts, sizes)
    assert_valid_placement(ranges, offsets, sweep_arena)
    assert peak == _peak_live(ranges)
    order = sorted(range(len(ranges)), key=lambda i: (-nbytes[i], firsts[i]))
    offsets, greedy_arena = memory.greedy_by_size(firsts, lasts, sizes, order)
    assert_valid_placement(ranges, offsets, greedy_arena)
    assert peak <= arena <= min(sweep_arena, greedy_arena)


@pytest.mark.parametrize("seed", range(10))
def test_overlapping_pairs_match_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    ranges = _random_ranges(rng, int(rng.integers(1, 60)))
    firsts, lasts = [f for f, _, _ in ranges], [last for _, last, _ in ranges]
    expected = [sorted(j for j, (fj, lj, _) in enumerate(ranges) if j != i and fi <= lj and
                       fj <= li) for i, (fi, li, _) in enumerate(ranges)]
    assert [sorted(n) for n in memory.overlapping_pairs(firsts, lasts)] == expected
    assert memory.count_overlapping_pairs(firsts, lasts) == sum(map(len, expected)) // 2


def test_greedy_runs_only_within_its_pair_budget(monkeypatch):
    """Two 1 KiB buffers live together then a 2 KiB one: the sweep leaves the first hole
    too small (arena 4 KiB), the greedy placement puts the large one first (3 KiB)."""
    ranges = [(0, 0, 1024), (0, 1, 1024), (1, 1, 2048)]
    assert _plan(ranges)[0] == 3072
    monkeypatch.setattr(memory, "PAIRS_PER_BUFFER", 0)
    assert _plan(ranges)[0] == 4096


def test_empty_and_single_buffers():
    assert plan_arena([]) == (0, 0)
    assert _plan([(3, 7, 100)]) == (128, [0])
    assert _plan([(0, 0, 0)]) == (ALIGN, [0])


def test_zero_byte_buffers_live_together_get_their_own_bytes():
    arena, offsets = _plan([(0, 2, 0), (1, 3, 0), (2, 2, 0)])
    assert arena == 3 * ALIGN and sorted(offsets) == [0, ALIGN, 2 * ALIGN]


@pytest.mark.parametrize("ranges", [
    [(0, 9, b) for b in (100, 5000, 64, 0, 70000, 64)],          # all alive at once
    [(2, 5, 4096)] * 7,                                          # identical ranges
    [(i, 100, (i * 977) % 5000) for i in range(50)],              # nested, alive at the end
])
def test_buffers_all_live_together_are_packed_end_to_end(ranges):
    arena, _ = _plan(ranges)
    assert arena == sum(reserved_bytes(b) for _, _, b in ranges)


def test_buffers_never_live_together_share_the_bytes():
    ranges = [(i, i, 1000 + 10 * i) for i in range(20)]
    arena, offsets = _plan(ranges)
    assert arena == reserved_bytes(1190) and set(offsets) == {0}


@pytest.mark.parametrize("bad", [dict(first=3, last=2, nbytes=4), dict(first=-1, last=2,
                                 nbytes=4), dict(first=0, last=2, nbytes=-4)])
def test_bad_buffers_are_refused(bad):
    with pytest.raises(ValueError, match=f"first={bad['first']} last={bad['last']} "
                                         f"nbytes={bad['nbytes']}"):
        plan_arena([SimpleNamespace(offset=0, **bad)])


# -- the mnist models -----------------------------------------------------------------
def _mnist_mlp():
    return gn.Sequential([gn.Input((784,)), L.Dense(512, activation="relu"), L.Dropout(0.2),
                          L.Dense(512, activation="relu"), L.Dropout(0.2),
                          L.Dense(10, activation="softmax")])


def _mnist_cnn():
    return gn.Sequential([gn.Input((28, 28, 1)), L.Conv2D(32, (3, 3), activation="relu"),
                          L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
                          L.Dropout(0.25), L.Flatten(), L.Dense(128, activation="relu"),
                          L.Dropout(0.5), L.Dense(10, activation="softmax")])


# Arena bytes of the quadratic planner graphnet had before issue 15 (commit 594f393), as
# reported by each plan's arena_bytes: (model, batch) -> (predict, training step).
# Each of them was the peak of live bytes, the least any placement can reach.
ARENA_BEFORE = {
    ("mlp", 1): (4096, 2680896), ("mlp", 128): (524288, 2940992),
    ("cnn", 1): (934400, 6685120), ("cnn", 128): (7692800, 62985792),
}


@pytest.mark.parametrize("name,batch", list(ARENA_BEFORE))
def test_mnist_arenas_are_no_larger_than_before(name, batch):
    gn.utils.set_random_seed(0)
    model = {"mlp": _mnist_mlp, "cnn": _mnist_cnn}[name]()
    rng = np.random.default_rng(0)
    x = rng.random((batch,) + model.inputs[0].shape[1:], dtype=np.float32)
    y = np.eye(10, dtype="f4")[rng.integers(0, 10, batch)]
    model.predict_on_batch(x)
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    model.train_on_batch(x, y)
    predict_plan = model.predict_function().executable([x.shape]).plan
    step, = model._step_fns.values()
    step_plan = step.executable([x.shape, y.shape, (batch,)]).plan
    predict_before, step_before = ARENA_BEFORE[name, batch]
    assert 0 < predict_plan.arena_bytes <= predict_before
    assert 0 < step_plan.arena_bytes <= step_before


# -- a long plan ----------------------------------------------------------------------
def test_a_plan_of_20000_kernels_compiles_and_matches_the_reference():
    gn.utils.set_random_seed(0)
    x = inputs = gn.Input((4,))
    for _ in range(10000):     # each pair: one GEMM (Dense, tanh), one fused elementwise
        y = L.Dense(4, activation="tanh",
                    kernel_initializer=gn.initializers.RandomUniform(-0.3, 0.3),
                    bias_initializer=gn.initializers.Constant(0.5))(x)
        x = gn.ops.add(gn.ops.multiply(y, 0.5), gn.ops.multiply(x, 0.25))
    compiled, reference = gn.function(inputs, x), gn.function(inputs, x, backend="reference")
    data = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    got = compiled(data)
    assert compiled.last_report.kernel_count >= 20000
    np.testing.assert_allclose(got, reference(data), rtol=1e-4, atol=1e-5)
