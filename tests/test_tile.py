"""Batch tiling (phase "tile") and the copy-free lowering it relies on: leading-axis
SLICEs as views, CONCATENATE inputs written in place."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.compiler import CompileReport, compile_plan, tile
from graphnet.engine.input_layer import placeholder


def _compile(inputs, outputs, shapes):
    report = CompileReport(keep_graphs=True)
    plan, _, report = compile_plan([t.node for t in inputs], [t.node for t in outputs],
                                   shapes, report)
    return plan, report


def _conv_stack(batch):
    L = gn.layers
    return gn.Sequential([gn.Input(shape=(12, 12, 3)), L.Conv2D(8, 3, activation="relu"),
                          L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                          L.Dense(4, activation="softmax")])


@pytest.fixture
def small_chains(monkeypatch):
    """Tile chains of any size, in chunks of a few images of this stack."""
    monkeypatch.setattr(tile, "MIN_CHAIN_BYTES", 1)
    monkeypatch.setattr(tile, "CHUNK_BYTES", 3 * 2 * (10 * 10 * 8 + 8 * 8 * 16 + 4 * 4 * 16) * 4)


def test_conv_chain_is_tiled_without_copies_and_same_numbers(small_chains):
    model = _conv_stack(10)
    x = np.random.default_rng(0).random((10, 12, 12, 3), dtype=np.float32)
    f = model.predict_function()
    report = f.explain([x.shape])
    assert report.fired["tile_batch"] == 1
    final = report.graphs["tile"]
    chunks = final.count("= SLICE(")
    assert 2 <= chunks <= 5 and final.count("= CONCATENATE(") == 1
    # (the max pooling may have joined the second convolution: CONV_BIAS_ACT_POOL)
    assert final.count("= CONV") == 2 * chunks and final.count("POOL(") == chunks
    plan, _ = _compile(model.inputs, model.outputs, [x.shape])
    assert "GN_K_COPY" not in plan.kernels   # slices are views, chunks written in place
    np.testing.assert_allclose(model.predict_on_batch(x),
                               model.predict_on_batch(x, backend="reference"),
                               rtol=1e-5, atol=1e-6)


def test_tiling_shrinks_the_arena(small_chains, monkeypatch):
    model = _conv_stack(32)
    shapes = [(32, 12, 12, 3)]
    tiled, _ = _compile(model.inputs, model.outputs, shapes)
    monkeypatch.setattr(tile, "MIN_CHAIN_BYTES", 1 << 40)
    whole, report = _compile(model.inputs, model.outputs, shapes)
    assert "tile_batch" not in report.fired
    assert tiled.arena_bytes < whole.arena_bytes / 2


def test_batch_one_and_training_steps_are_not_tiled(small_chains):
    model = _conv_stack(1)
    report = model.predict_function().explain([(1, 12, 12, 3)])
    assert "tile_batch" not in report.fired
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.random.default_rng(1).random((8, 12, 12, 3), dtype=np.float32)
    y = np.eye(4, dtype=np.float32)[np.arange(8) % 4]
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)   # intermediates feed the gradients: nothing to tile
    step = model._step_function(True, [y.shape[1:]], [(1,)])
    assert "tile_batch" not in step.explain([x.shape, y.shape, (8, 1)]).fired
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_leading_axis_slice_is_a_view_other_slices_copy():
    x = placeholder((None, 4, 5))
    data = np.arange(6 * 4 * 5, dtype=np.float32).reshape(6, 4, 5)
    block = gn.ops.relu(x[2:5])
    plan, _ = _compile([x], [block], [data.shape])
    assert plan.kernels.count("GN_K_COPY") == 0
    np.testing.assert_array_equal(gn.function([x], block)(data), data[2:5])
    strided = gn.ops.relu(x[:, 1:3])
    plan, _ = _compile([x], [strided], [data.shape])
    assert plan.kernels.count("GN_K_COPY") == 1
    np.testing.assert_array_equal(gn.function([x], strided)(data), data[:, 1:3])


def test_concatenate_inputs_written_in_place_unless_read_elsewhere():
    a, b = placeholder((None, 3)), placeholder((None, 3))
    da = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    db = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    ra, rb = gn.ops.relu(a), gn.ops.exp(b)
    joined = gn.ops.concatenate([ra, rb], axis=0)
    plan, _ = _compile([a, b], [joined], [da.shape, db.shape])
    assert "GN_K_COPY" not in plan.kernels
    want = np.concatenate([np.maximum(da, 0), np.exp(db)])
    np.testing.assert_allclose(gn.function([a, b], joined)(da, db), want, rtol=1e-6)
    # ra is also an output: it keeps its own buffer and is copied into the result
    plan, _ = _compile([a, b], [joined, ra], [da.shape, db.shape])
    assert plan.kernels.count("GN_K_COPY") == 1
    got, got_ra = gn.function([a, b], [joined, ra])(da, db)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got_ra, np.maximum(da, 0))
    # along a later axis the pieces interleave in memory: copies
    side = gn.ops.concatenate([gn.ops.relu(a), gn.ops.exp(a)], axis=1)
    plan, _ = _compile([a], [side], [da.shape])
    assert plan.kernels.count("GN_K_COPY") == 2
    np.testing.assert_allclose(gn.function([a], side)(da),
                               np.concatenate([np.maximum(da, 0), np.exp(da)], 1), rtol=1e-6)
