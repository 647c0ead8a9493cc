"""GATHER / SCATTER_ADD through gn.ops.take: the C kernels against NumPy for odd sizes and
dtypes, negative and repeated indices, out-of-range indices (an IndexError, nothing read
out of bounds), the verifier's entries and a .gnx round trip. tests/test_ops.py has the
check_op cases (reference and finite differences)."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.engine.input_layer import placeholder
from graphnet.export import PlanError, verify_plan
from graphnet.runtime.abi import DTYPE_CODE


def _take_fn(table, idx_shape, axis, idx_dtype="int32"):
    idx = placeholder(idx_shape, idx_dtype, name="idx")
    return gn.function([idx], gn.ops.take(gn.ops.convert_to_tensor(table), idx, axis=axis))


@pytest.mark.parametrize("shape, axis, idx_shape", [
    ((1, 1), 0, (1,)), ((13, 7), 0, (5, 3)), ((2, 11, 3), 1, (4,)), ((3, 2, 17), 2, (2, 2)),
    ((5,), 0, (0,)), ((4, 6), -1, (9,))])
@pytest.mark.parametrize("idx_dtype", ["int32", "int64"])
def test_take_matches_numpy(shape, axis, idx_shape, idx_dtype):
    rng = np.random.default_rng(len(shape) + len(idx_shape))
    table = rng.standard_normal(shape).astype("f4")
    n = shape[axis]
    idx = rng.integers(-n, n, size=idx_shape).astype(idx_dtype)
    fn = _take_fn(table, idx_shape, axis, idx_dtype)
    assert "GN_K_GATHER" in fn.executable([idx_shape]).plan.kernels
    np.testing.assert_array_equal(fn(idx), np.take(table, idx, axis=axis))


@pytest.mark.parametrize("dtype", ["int8", "bool", "int32", "int64", "float64"])
def test_take_copies_any_element_size(dtype):
    table = (np.arange(24).reshape(6, 4) % 3).astype(dtype)
    idx = np.array([5, -6, 2, 2], np.int64)
    np.testing.assert_array_equal(_take_fn(table, (4,), 0, "int64")(idx), table[idx])


def test_take_flattens_without_an_axis_and_accepts_lists():
    table = np.arange(12, dtype="f4").reshape(3, 4)
    out = gn.function([], gn.ops.take(gn.ops.convert_to_tensor(table), [11, 0, -1]))()
    np.testing.assert_array_equal(out, [11, 0, 11])
    np.testing.assert_array_equal(gn.ops.take(table, [11, 0, -1]), [11, 0, 11])  # eager


@pytest.mark.parametrize("bad", [5, -6, 1 << 40])
def test_an_index_out_of_range_raises(bad):
    table = np.ones((5, 3), "f4")
    fn = _take_fn(table, (3,), 0, "int64")
    with pytest.raises(IndexError, match=r"GN_K_GATHER.*outside \[-n, n\)"):
        fn(np.array([0, bad, 1], np.int64))
    np.testing.assert_array_equal(fn(np.array([4, -5, 1], np.int64)), np.ones((3, 3)))


def test_the_reference_interpreter_raises_too():
    idx = placeholder((2,), "int32")
    fn = gn.function([idx], gn.ops.take(np.ones((4, 2), "f4"), idx, axis=0),
                     backend="reference")
    with pytest.raises(IndexError):
        fn(np.array([0, 4], np.int32))


def _embedding_grad(table_shape, idx, axis=0, seed=0):
    """(C gradient, NumPy gradient) of sum(take(w, idx) * ct) with respect to w."""
    rng = np.random.default_rng(seed)
    w = gn.Variable(rng.standard_normal(table_shape).astype("f4"), name="w")
    ip = placeholder(idx.shape, str(idx.dtype))
    out = gn.ops.take(w, ip, axis=axis)
    ct = rng.standard_normal(out.shape).astype("f4")
    (g,) = gn.gradients(gn.ops.sum(out * ct), [w])
    fn = gn.function([ip], g)
    assert "GN_K_SCATTER_ADD" in fn.executable([idx.shape]).plan.kernels
    expect = np.zeros(table_shape, "f4")
    k = idx.ndim
    np.add.at(np.moveaxis(expect, axis, 0), idx,
              np.moveaxis(ct, list(range(axis, axis + k)), list(range(k))))
    return fn(idx), expect


@pytest.mark.parametrize("table_shape, idx, axis", [
    ((4, 3), np.array([0, 0, 2, 0, -4], np.int32), 0),            # repeated rows add up
    ((7, 1), np.array([[6, 6], [6, -1]], np.int64), 0),
    ((2, 9, 5), np.array([8, 0, 8, 3, 8], np.int32), 1),
    ((3, 1), np.zeros((0,), np.int32), 0)])                          # no index: all zeros
def test_scatter_add_matches_numpy_with_repeated_indices(table_shape, idx, axis):
    got, expect = _embedding_grad(table_shape, idx, axis)
    np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-6)


def test_scatter_add_out_of_range_raises():
    w = gn.Variable(np.ones((3, 2), "f4"), name="w")
    ip = placeholder((2,), "int32")
    (g,) = gn.gradients(gn.ops.sum(gn.ops.take(w, ip, axis=0)), [w])
    fn = gn.function([ip], g)
    assert fn.executable([(2,)]).plan.kernels == ["GN_K_SCATTER_ADD"]
    np.testing.assert_array_equal(fn(np.array([1, -2], np.int32)), [[0, 0], [2, 2], [0, 0]])
    with pytest.raises(IndexError, match="GN_K_SCATTER_ADD"):
        fn(np.array([1, 3], np.int32))


def _gather_plan():
    table = np.arange(20, dtype="f4").reshape(5, 4)
    plan = _take_fn(table, (3,), 0).executable([(3,)]).plan
    step = plan.steps[plan.kernels.index("GN_K_GATHER")]
    return plan, int(step[1])


@pytest.mark.parametrize("field, value, words", [
    (0, DTYPE_CODE["float32"], "unknown index dtype code 0"),
    (1, 3, "unknown element size"),
    (3, -1, "n is -1, negative"),
    (5, 10 ** 6, "indices accesses bytes"),
    (3, 10 ** 6, "x accesses bytes"),
    (8, 99, "y names slot 99")])
def test_the_verifier_bounds_gather_from_the_table(field, value, words):
    plan, off = _gather_plan()
    assert verify_plan(plan, plan.kernels)
    plan.iargs[off + field] = value
    with pytest.raises(PlanError, match=words):
        verify_plan(plan, plan.kernels)


def test_a_gather_model_round_trips_through_gnx(tmp_path):
    table = np.random.default_rng(3).standard_normal((10, 4)).astype("f4")
    inp = gn.Input((3,), dtype="int32")
    looked = gn.layers.Lambda(lambda i: gn.ops.take(table, i, axis=0))(inp)
    out = gn.layers.Dense(2)(gn.layers.Flatten()(looked))
    model = gn.Model(inp, out)
    x = np.array([[0, 9, -1], [3, 3, 3]], np.int32)
    path = str(tmp_path / "take.gnx")
    model.export(path, batch_size=2)
    loaded = gn.load_compiled(path)
    assert "GN_K_GATHER" in loaded.plan.kernels
    np.testing.assert_allclose(loaded(x), model.predict(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(IndexError):
        loaded(np.array([[0, 10, 0], [0, 0, 0]], np.int32))


def test_the_profiler_stops_at_a_failing_step_and_names_it():
    table = np.ones((5, 3), "f4")
    fn = _take_fn(table, (3,), 0, "int64")
    kernels = fn.executable([(3,)]).plan.kernels
    step = kernels.index("GN_K_GATHER")
    with pytest.raises(IndexError, match=rf"plan step {step} \(GN_K_GATHER\).*outside"):
        fn.profile(np.array([0, 7, 1], np.int64), repeats=2)
    assert fn.profile(np.array([0, 4, 1], np.int64), repeats=2).kernels == kernels



@pytest.mark.parametrize("axis", [0, 1])
def test_threaded_kernels_are_exact_for_any_thread_count(threads, axis):
    """Big enough to run on the team (conftest's ``threads``: 1, 2, 3): the gather splits
    the indices, the scatter-add the table's rows, each thread adding its rows' updates
    in index order, so every count gives np.add.at's float32 sums bit for bit, and an
    out-of-range index is still caught."""
    rng = np.random.default_rng(7)
    table_shape = (300, 64) if axis == 0 else (2, 300, 40)
    idx = rng.integers(-300, 300, size=(40, 50)).astype("int32")
    idx[0, :20] = 5                                     # one row updated many times
    got, expect = _embedding_grad(table_shape, idx, axis)
    np.testing.assert_array_equal(got, expect)
    table = np.arange(np.prod(table_shape), dtype="f4").reshape(table_shape)
    fn = _take_fn(table, idx.shape, axis)
    np.testing.assert_array_equal(fn(idx), np.take(table, idx, axis=axis))
    idx[-1, -1] = 300
    with pytest.raises(IndexError, match="GN_K_GATHER"):
        fn(idx)
