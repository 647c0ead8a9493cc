"""A short seeded run of the plan fuzzer (tests/plan_fuzz.py): random one-step plans of
every kernel of the table, run with buffers sized exactly to the verifier's proof. The
long run is ``make sanitize``'s, under AddressSanitizer."""
import numpy as np
import pytest

from graphnet.export.verify import PlanError, plan_extents
from graphnet.runtime.cext import lib
from graphnet.runtime.kernels import KERNELS
from plan_fuzz import Buffers, draw, fuzz, fuzz_case, make_plan, run_plan, under_asan


def test_seeded_run_finds_nothing():
    counts, findings = fuzz(cases=1500, seed=15)
    assert findings == []
    for name in KERNELS:   # every kernel of the table both ran and was refused
        assert counts[(name, "ran")] > 0, name
        assert counts[(name, "refused")] > 0, name


def test_every_drawn_step_has_its_kernel_s_layout():
    """The draw covers every argument of the table's entry, so ``encode`` accepts it."""
    for name, kernel in KERNELS.items():
        values, nslots = draw(name, np.random.default_rng(1))
        assert set(values) == {a.name for a in kernel.args}, name
        ints, _ = kernel.encode(values)
        decoded, _ = kernel.decode(ints, nslots, pytest.fail)
        assert all(decoded[a.name] == values[a.name] for a in kernel.int_args), name


@pytest.mark.skipif(under_asan(), reason="the overrun is real: AddressSanitizer stops at it")
def test_guard_bytes_catch_an_overrun():
    """The plain build's detector: a buffer one float short of a FILL's range has its
    guard overwritten (the verifier would refuse this plan; it is run here on purpose)."""
    rng = np.random.default_rng(0)
    plan = make_plan("GN_K_FILL", [5, 0], [1.0], [20])
    buffers = Buffers({0: (0, 16)}, 1, guards=True, rng=rng)
    try:
        assert buffers.guards_intact()
        assert run_plan(plan, buffers.ptrs) == lib.GN_OK
        assert not buffers.guards_intact()
    finally:
        buffers.free()


def test_refused_cases_are_not_run(monkeypatch):
    ran = []
    monkeypatch.setattr("plan_fuzz.run_plan", lambda *a: ran.append(a) or 0)
    outcomes = [fuzz_case("GN_K_POOL", np.random.default_rng([3, i]), True)[0]
                for i in range(60)]
    assert outcomes.count("refused") > 0
    assert len(ran) == outcomes.count("ran")


@pytest.mark.parametrize("name", ["GN_K_POOL", "GN_K_POOL_BACKWARD"])
def test_pooling_geometries_with_other_channel_counts_are_drawn(name):
    """The hole the reviewer's fuzzer found at its 56th case must stay reachable."""
    geoms = [draw(name, np.random.default_rng(i))[0]["geom"] for i in range(40)]
    assert any(g[lib.GN_CG_C] != g[lib.GN_CG_O] for g in geoms)


@pytest.mark.parametrize("name", ["GN_K_GATHER", "GN_K_SCATTER_ADD"])
def test_index_kernels_run_with_indices_in_and_out_of_range(name):
    """GATHER and SCATTER_ADD read their indices from the (random) buffer: both a clean
    run and an index out of range (GN_ERR_INDEX, not a finding) are reached."""
    statuses = set()
    for i in range(400):
        rng = np.random.default_rng([5, i])
        values, nslots = draw(name, rng)
        ints, floats = KERNELS[name].encode(values)
        try:
            extents = plan_extents(make_plan(name, ints, floats, [1 << 20] * nslots))
        except PlanError:   # a drawn size too large for the 1 MB buffers
            continue
        plan = make_plan(name, ints, floats, [extents.get(s, (0, 0))[1] for s in range(nslots)])
        buffers = Buffers(extents, nslots, guards=True, rng=rng)
        try:
            statuses.add(run_plan(plan, buffers.ptrs) % lib.GN_ERR_COUNT)
            assert buffers.guards_intact()
        finally:
            buffers.free()
    assert statuses == {lib.GN_OK, lib.GN_ERR_INDEX}
