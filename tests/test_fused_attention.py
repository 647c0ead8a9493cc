"""The fused attention kernel (ATTENTION, csrc/attention.c) against the unfused einsum /
softmax composite and a NumPy reference on odd sizes: sequence 1, primes, one past the
64-row and 128-key tiles, masks broadcast over any axes, causal with and without a mask,
rows masked everywhere; gradients by finite differences (check_op); threads in a loop."""
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
def test_fused_kernel_matches_the_reference(threads, size, causal):
    q, k, v = _qkv(*size)
    got = gn.ops.dot_product_attention(q, k, v, is_causal=causal)
    np.testing.assert_allclose(got, reference(q, k, v, causal=causal), rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("mask_shape", [(2, 3, 70, 131), (1, 1, 70, 131), (2, 1, 1, 131),
                                        (70, 131), (131,), (2, 3, 70, 1)])
@pytest.mark.parametrize("causal", [False, True])
def test_fused_kernel_masks_broadcast(threads, mask_shape, causal):
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
