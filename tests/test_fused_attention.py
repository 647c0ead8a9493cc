"""The fused attention kernels (ATTENTION, csrc/attention.c, and its backward,
csrc/attention_backward.c) against the unfused einsum / softmax composite and a NumPy
reference on odd sizes: sequence 1, primes, one past the query and key blocks (32 and 96
with AVX-512), on each SIMD path, masks broadcast over any axes, causal with and without a
mask, rows masked everywhere; gradients by finite differences (check_op); threads in a
loop; training memory; MultiHeadAttention through the backward; .gnx export."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.graph.graph import topological_order
from graphnet.ops.attention import MASKED_LOGIT
from op_check import check_op

RNG = np.random.default_rng(0)


def reference(q, k, v, mask=None, scale=None, causal=False):
    """float64 softmax(scale q k^T, masked) v over (B, T, N, H) arrays."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    logits = np.einsum("btnh,bsnh->bnts", q, k) * scale
    keep = np.ones(logits.shape, bool)
    if mask is not None:
        keep &= np.broadcast_to(mask, logits.shape)
    if causal:
        keep &= np.tril(np.ones(logits.shape[-2:], bool))
    logits = np.where(keep, logits, MASKED_LOGIT)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bnts,bsnh->btnh", p, v)


def _qkv(b, t, s, n, h, hv):
    return (RNG.standard_normal((b, t, n, h)).astype(np.float32),
            RNG.standard_normal((b, s, n, h)).astype(np.float32),
            RNG.standard_normal((b, s, n, hv)).astype(np.float32))


SIZES = [(1, 1, 1, 1, 1, 1), (2, 1, 7, 3, 4, 4), (1, 7, 1, 2, 5, 3), (2, 13, 17, 3, 8, 5),
         (1, 65, 129, 2, 16, 16), (1, 64, 128, 1, 32, 32), (3, 129, 257, 2, 8, 12),
         (1, 200, 131, 1, 4, 4)]


@pytest.mark.parametrize("size", SIZES, ids=[str(s) for s in SIZES])
@pytest.mark.parametrize("causal", [False, True])
def test_fused_kernel_matches_the_reference(threads, isa, size, causal):
    q, k, v = _qkv(*size)
    got = gn.ops.dot_product_attention(q, k, v, is_causal=causal)
    np.testing.assert_allclose(got, reference(q, k, v, causal=causal), rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("mask_shape", [(2, 3, 70, 131), (1, 1, 70, 131), (2, 1, 1, 131),
                                        (70, 131), (131,), (2, 3, 70, 1)])
@pytest.mark.parametrize("causal", [False, True])
def test_fused_kernel_masks_broadcast(threads, isa, mask_shape, causal):
    q, k, v = _qkv(2, 70, 131, 3, 8, 6)
    mask = RNG.random(mask_shape) > 0.3
    got = gn.ops.dot_product_attention(q, k, v, mask=mask, is_causal=causal)
    np.testing.assert_allclose(got, reference(q, k, v, mask, causal=causal), rtol=1e-5,
                               atol=2e-5)


def test_a_row_masked_everywhere_averages_every_value_as_the_composite_does():
    q, k, v = _qkv(1, 3, 150, 1, 4, 4)
    mask = np.ones((1, 1, 3, 150), bool)
    mask[..., 1, :] = False
    got = gn.ops.dot_product_attention(q, k, v, mask=mask)
    np.testing.assert_allclose(got[0, 1, 0], v[0, :, 0].mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, reference(q, k, v, mask), rtol=1e-5, atol=2e-5)


def test_the_fused_op_is_used_only_where_it_applies():
    from graphnet.engine.input_layer import placeholder
    q, k = placeholder((2, 5, 4, 8), "float32"), placeholder((2, 7, 4, 8), "float32")

    def ops_of(t):
        return {n.op.name for n in topological_order([t.node])}
    assert "ATTENTION" in ops_of(gn.ops.dot_product_attention(q, k, k, is_causal=False))
    grouped = placeholder((2, 7, 2, 8), "float32")
    assert "ATTENTION" not in ops_of(gn.ops.dot_product_attention(q, grouped, grouped))
    bias = np.zeros((1, 4, 5, 7), np.float32)
    assert "ATTENTION" not in ops_of(gn.ops.dot_product_attention(q, k, k, bias=bias))


@pytest.mark.parametrize("shapes, kwargs", [
    ([(2, 3, 2, 4), (2, 5, 2, 4), (2, 5, 2, 3)], {}),
    ([(1, 4, 1, 3), (1, 4, 1, 3), (1, 4, 1, 2)], {"is_causal": True}),
])
def test_fused_attention_gradient_by_finite_differences(shapes, kwargs):
    check_op(lambda a, b, c: gn.ops.dot_product_attention(a, b, c, **kwargs), shapes,
             op="ATTENTION", none_axes=())


def test_fused_kernel_repeated_on_two_threads_has_no_race(threads2):
    q, k, v = _qkv(4, 70, 130, 4, 8, 8)
    want = reference(q, k, v, causal=True)
    for _ in range(20):
        np.testing.assert_allclose(gn.ops.dot_product_attention(q, k, v, is_causal=True),
                                   want, rtol=1e-5, atol=2e-5)


# ---- the backward kernel (GN_K_ATTENTION_BACKWARD) ------------------------------------------
def _gradients(build, arrays, g):
    """dq, dk, dv of sum(build(q, k, v) * g) compiled, and the plan's kernels."""
    from graphnet.engine.input_layer import placeholder
    ph = [placeholder(a.shape, "float32") for a in arrays]
    fn = gn.function(ph, gn.gradients(gn.ops.sum(build(*ph) * g), ph))
    return fn(*arrays), fn.executable([a.shape for a in arrays]).plan


def _fused_and_composite_gradients(size, mask=None, causal=False):
    from graphnet.ops.attention import _composite
    q, k, v = _qkv(*size)
    g = RNG.standard_normal(q.shape[:3] + v.shape[3:]).astype(np.float32)
    scale = 1.0 / np.sqrt(q.shape[-1])
    fused, plan = _gradients(lambda *t: gn.ops.dot_product_attention(
        *t, mask=mask, is_causal=causal), (q, k, v), g)
    want, _ = _gradients(lambda *t: _composite(*t, None, mask, scale, causal, None), (q, k, v), g)
    return fused, want, plan


def _assert_gradients_close(fused, want):
    for name, got, ref in zip("qkv", fused, want):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(ref).max()),
                                   err_msg=f"d{name}")


# sequence 1, primes, one past the 32-query block and the 96-key block, T != S either way
GRAD_SIZES = [(1, 1, 1, 1, 1, 1), (2, 13, 17, 3, 8, 5), (1, 33, 97, 2, 32, 32),
              (1, 97, 33, 1, 16, 16), (2, 70, 131, 3, 8, 6), (1, 5, 3, 2, 40, 33)]


@pytest.mark.parametrize("size", GRAD_SIZES, ids=[str(s) for s in GRAD_SIZES])
@pytest.mark.parametrize("causal", [False, True])
def test_backward_kernel_matches_the_composites_gradients(threads, isa, size, causal):
    fused, want, plan = _fused_and_composite_gradients(size, causal=causal)
    assert plan.kernels.count("GN_K_ATTENTION_BACKWARD") == 1, plan.kernels
    assert "GN_K_SOFTMAX" not in plan.kernels
    _assert_gradients_close(fused, want)


@pytest.mark.parametrize("mask_shape", [(2, 3, 70, 131), (70, 131), (2, 1, 1, 131),
                                        (2, 3, 70, 1)])
@pytest.mark.parametrize("causal", [False, True])
def test_backward_kernel_masks_broadcast(isa, mask_shape, causal):
    mask = RNG.random(mask_shape) > 0.3
    fused, want, _ = _fused_and_composite_gradients((2, 70, 131, 3, 8, 6), mask, causal)
    _assert_gradients_close(fused, want)


def test_a_query_masked_everywhere_gets_the_composites_gradient(isa):
    """Its output averages every value: dv gets 1/S of its gradient from each key, and no
    gradient reaches q or k through its constant logits."""
    mask = np.ones((1, 1, 4, 150), bool)
    mask[..., 2, :] = False
    fused, want, _ = _fused_and_composite_gradients((1, 4, 150, 1, 4, 4), mask)
    _assert_gradients_close(fused, want)
    assert np.all(fused[0][0, 2] == 0.0)


def test_backward_kernel_repeated_on_two_threads_has_no_race(threads2):
    q, k, v = _qkv(3, 70, 130, 4, 8, 8)
    g = RNG.standard_normal(q.shape).astype(np.float32)
    from graphnet.engine.input_layer import placeholder
    ph = [placeholder(a.shape, "float32") for a in (q, k, v)]
    out = gn.ops.dot_product_attention(*ph, is_causal=True)
    fn = gn.function(ph, gn.gradients(gn.ops.sum(out * g), ph))
    want = fn(q, k, v)
    for _ in range(20):
        for got, ref in zip(fn(q, k, v), want):
            np.testing.assert_array_equal(got, ref)


def test_training_memory_grows_linearly_in_the_sequence():
    """The training plan's arena at sequence 1,024 holds no score matrix (4 MB a head)."""
    arena = {}
    for length in (256, 1024):
        q, k, v = _qkv(1, length, length, 4, 32, 32)
        _, plan = _gradients(gn.ops.dot_product_attention, (q, k, v),
                             np.ones(q.shape, np.float32))
        arena[length] = plan.arena_bytes
    assert arena[1024] < 1024 * 1024 * 4
    assert arena[1024] <= 4 * arena[256] + 4096


def test_multi_head_attention_trains_through_the_backward_kernel():
    """No dropout, no scores asked for: its weights' gradients come from the fused backward,
    and equal those of the same layer's unfused path (attention scores returned)."""
    from graphnet.engine.input_layer import placeholder
    layer = gn.layers.MultiHeadAttention(num_heads=2, key_dim=8)
    x = placeholder((3, 12, 16), "float32")
    xs = RNG.standard_normal((3, 12, 16)).astype(np.float32)
    fused = layer(x, x, use_causal_mask=True)
    unfused, _ = layer(x, x, use_causal_mask=True, return_attention_scores=True)
    results = []
    for out in (fused, unfused):
        fn = gn.function([x], gn.gradients(gn.ops.sum(out * out), layer.trainable_weights))
        results.append((fn(xs), fn.executable([xs.shape]).plan.kernels))
    (got, kernels), (want, unfused_kernels) = results
    assert "GN_K_ATTENTION_BACKWARD" in kernels and "GN_K_SOFTMAX" not in kernels
    assert "GN_K_ATTENTION_BACKWARD" not in unfused_kernels
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(w).max()))


def test_a_gradient_plan_exports_to_gnx_for_any_batch(tmp_path):
    """The backward step's arguments are affine in the batch: the batch-generic .gnx file
    gives the compiled gradients at batch sizes it was not fitted on."""
    from graphnet.graph.tensor import placeholder
    ph = [placeholder((None, 9, 2, 8), "float32", name=name) for name in "qkv"]
    out = gn.ops.dot_product_attention(*ph, is_causal=True)
    grads = gn.gradients(gn.ops.sum(out * out), ph)
    fn = gn.function(ph, grads)
    path = gn.export.export_compiled(ph, grads, str(tmp_path / "grads.gnx"))
    loaded = gn.load_compiled(path)
    for batch in (1, 5):
        arrays = [RNG.standard_normal((batch, 9, 2, 8)).astype(np.float32) for _ in "qkv"]
        for got, want in zip(loaded(*arrays), fn(*arrays)):
            np.testing.assert_array_equal(got, want)
