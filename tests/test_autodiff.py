"""gn.gradients: reverse mode over the op graph, C against the NumPy reference and both
against torch.autograd."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, needs, torch
from graphnet.engine.input_layer import placeholder
from graphnet.graph.graph import topological_order

ops = gn.ops


def run(inputs, outputs, *arrays, backend="c", training=False):
    return gn.function(inputs, outputs, backend=backend, training=training)(*arrays)


def torch_grads(fn, *arrays):
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    fn(*ts).sum().backward()
    return [t.grad.numpy() for t in ts]


def both_backends(inputs, outputs, *arrays, training=False):
    """C and reference results, asserted close; returns the C ones."""
    c = run(inputs, outputs, *arrays, training=training)
    ref = run(inputs, outputs, *arrays, backend="reference", training=training)
    for a, b in zip(c, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    return c


def test_shared_nodes_accumulate():
    x = placeholder((None, 4))
    h = ops.tanh(x)
    loss = ops.sum(h * h + h * x + ops.sin(x))      # h and x each feed several consumers
    (gx,) = gn.gradients(loss, [x])
    a = np.random.default_rng(0).uniform(-2, 2, (3, 4)).astype(np.float32)
    (got,) = both_backends([x], [gx], a)
    if compare_with(torch, "the gradient against torch.autograd"):
        (want,) = torch_grads(lambda t: (torch.tanh(t) ** 2 + torch.tanh(t) * t + torch.sin(t)),
                              a)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_variable_read_through_several_nodes():
    w = gn.Variable(np.array([1.0, -2.0, 0.5], np.float32))
    x = placeholder((None, 3))
    # each use of w as an operand builds its own VARIABLE node
    loss = ops.sum(ops.multiply(x, w) + ops.square(ops.convert_to_tensor(w)))
    (gw,) = gn.gradients(loss, [w])
    a = np.ones((5, 3), np.float32)
    (got,) = both_backends([x], [gw], a)
    # square(w) is broadcast over the batch of 5 too
    np.testing.assert_allclose(got, 5.0 + 5 * 2 * w.value, rtol=1e-6)


def test_unconnected_none_and_zero():
    w = gn.Variable(np.ones((3, 2), np.float32))
    unused = gn.Variable(np.ones((4,), np.float32))
    x = placeholder((None, 3))
    other = placeholder((None, 5))
    loss = ops.sum(ops.matmul(x, w))
    gw, gu, go = gn.gradients(loss, [w, unused, other])
    assert gw is not None and gu is None and go is None
    gw, gu, go = gn.gradients(loss, [w, unused, other], unconnected_gradients="zero")
    assert gu.shape == (4,) and go.shape == (None, 5)
    outs = both_backends([x, other], [gw, gu, go], np.ones((2, 3), np.float32),
                         np.ones((2, 5), np.float32))
    np.testing.assert_array_equal(outs[1], np.zeros(4, np.float32))
    np.testing.assert_array_equal(outs[2], np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="unconnected_gradients"):
        gn.gradients(loss, [w], unconnected_gradients="zeros!")


def test_non_differentiable_paths_give_none():
    x = placeholder((None, 4))
    i = placeholder((None, 4), dtype="int32")
    # x reaches the loss only through ARGMAX and a comparison; i through CAST from int
    loss = ops.sum(ops.cast(ops.argmax(x, axis=1), "float32")) + \
        ops.sum(ops.cast(x > 0.0, "float32")) + ops.sum(ops.cast(i, "float32") * 2.0)
    gx, gi = gn.gradients(loss, [x, i])
    assert gx is None and gi is None
    gx, gi = gn.gradients(loss, [x, i], unconnected_gradients="zero")
    assert gi.dtype == "int32"
    outs = run([x, i], [gx, gi], np.ones((2, 4), np.float32), np.ones((2, 4), np.int32))
    assert not outs[0].any() and outs[1].dtype == np.int32 and not outs[1].any()


def test_where_condition_and_int_cast_get_no_gradient():
    x = placeholder((None, 3))
    y = ops.where(x > 0.0, x * 3.0, ops.square(x))
    (gx,) = gn.gradients(y, [x])
    a = np.array([[-1.0, 0.5, 2.0]], np.float32)
    (got,) = both_backends([x], [gx], a)
    np.testing.assert_allclose(got, [[-2.0, 3.0, 3.0]])


def test_non_scalar_loss_is_summed():
    x = placeholder((None, 3))
    y = ops.exp(x) * 2.0
    (g1,) = gn.gradients(y, [x])
    (g2,) = gn.gradients(ops.sum(y), [x])
    a = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    r1, r2 = both_backends([x], [g1, g2], a)
    np.testing.assert_allclose(r1, r2)
    np.testing.assert_allclose(r1, 2 * np.exp(a), rtol=1e-6)


def test_gradient_of_loss_wrt_itself_and_intermediate():
    x = placeholder((None, 3))
    h = ops.sin(x)
    loss = ops.sum(ops.square(h))
    gl, gh = gn.gradients(loss, [loss, h])
    a = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    out_l, out_h = both_backends([x], [gl, gh], a)
    assert out_l == 1.0
    np.testing.assert_allclose(out_h, 2 * np.sin(a), rtol=1e-6)


KINKS = np.array([-3.0, -1.0, -0.5, 0.0, 0.7, 3.0, 6.0, 2.0], np.float32)


@pytest.mark.parametrize("name, ours, theirs", [
    ("relu", ops.relu, lambda t: torch.relu(t)),
    ("relu6", ops.relu6, lambda t: torch.nn.functional.relu6(t)),
    ("leaky_relu", lambda x: ops.leaky_relu(x, 0.1),
     lambda t: torch.nn.functional.leaky_relu(t, 0.1)),
    ("elu", lambda x: ops.elu(x, 0.7), lambda t: torch.nn.functional.elu(t, 0.7)),
    ("selu", ops.selu, lambda t: torch.selu(t)),
    ("abs", ops.abs, lambda t: torch.abs(t)),
    ("sign", ops.sign, lambda t: torch.sign(t)),
    ("clip", lambda x: ops.clip(x, -0.5, 0.7), lambda t: torch.clamp(t, -0.5, 0.7)),
    ("hard_sigmoid", ops.hard_sigmoid, lambda t: torch.nn.functional.hardsigmoid(t)),
    ("hard_silu", ops.hard_silu, lambda t: torch.nn.functional.hardswish(t)),
    ("round", ops.round, lambda t: torch.round(t)),
    ("floor", ops.floor, lambda t: torch.floor(t)),
    ("sqrt_at_kinks", lambda x: ops.sqrt(ops.abs(x) + 1.0), lambda t: torch.sqrt(t.abs() + 1)),
])
def test_kink_conventions_match_torch(name, ours, theirs):
    x = placeholder((None,))
    (gx,) = gn.gradients(ours(x), [x])
    (got,) = both_backends([x], [gx], KINKS)
    if compare_with(torch, f"{name}'s gradient at its kinks against torch.autograd"):
        (want,) = torch_grads(theirs, KINKS)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("extremum, axis, keepdims", [
    ("max", None, False),
    ("max", 1, False),
    ("min", 0, True),
    ("max", (0, 1), True),
])
def test_reduce_extremum_ties_split_evenly(extremum, axis, keepdims):
    a = np.array([[1.0, 3.0, 3.0, 2.0], [0.0, 0.0, -1.0, 0.0], [3.0, 3.0, 3.0, 3.0]],
                 np.float32)
    x = placeholder((None, 4))
    y = getattr(ops, extremum)(x, axis=axis, keepdims=keepdims)
    ct = placeholder(y.shape)
    (gx,) = gn.gradients(ops.sum(y * ct), [x])
    shape = getattr(np, extremum)(a, axis=axis, keepdims=keepdims).shape
    cotangent = np.arange(1, np.prod(shape) + 1, dtype=np.float32).reshape(shape)
    (got,) = both_backends([x, ct], [gx], a, cotangent)
    if compare_with(torch, f"the gradient of {extremum} against torch.autograd"):
        t = torch.tensor(a, requires_grad=True)
        dims = tuple(range(2)) if axis is None else axis
        ty = getattr(torch, "a" + extremum)(t, dim=dims, keepdim=keepdims)
        (ty * torch.tensor(cotangent)).sum().backward()
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-6)


def test_maximum_minimum_ties_split_half():
    a = np.array([1.0, 2.0, 3.0, -1.0], np.float32)
    b = np.array([1.0, 5.0, 3.0, -2.0], np.float32)
    x, y = placeholder((None,)), placeholder((None,))
    grads = gn.gradients(ops.maximum(x, y) * 2.0 + ops.minimum(x, y) * 3.0, [x, y])
    got = both_backends([x, y], grads, a, b)
    if compare_with(torch, "the gradients against torch.autograd"):
        want = torch_grads(lambda s, t: torch.maximum(s, t) * 2 + torch.minimum(s, t) * 3,
                           a, b)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w)


def test_pow_conventions_match_torch():
    a = np.array([0.0, 0.0, 2.0, 1.5, 0.0], np.float32)
    b = np.array([2.0, 0.0, 0.0, 3.0, 1.0], np.float32)
    x, y = placeholder((None,)), placeholder((None,))
    grads = gn.gradients(ops.power(x, y), [x, y])
    got = both_backends([x, y], grads, a, b)
    if compare_with(torch, "the gradients against torch.autograd"):
        want = torch_grads(torch.pow, a, b)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-6)


def test_prod_with_zeros_matches_torch():
    a = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 2.0], [1.0, 2.0, 4.0]], np.float32)
    x = placeholder((None, 3))
    (gx,) = gn.gradients(ops.prod(x, axis=1), [x])
    (got,) = both_backends([x], [gx], a)
    if compare_with(torch, "the gradient against torch.autograd"):
        (want,) = torch_grads(lambda t: torch.prod(t, dim=1), a)
        np.testing.assert_allclose(got, want)


@needs(torch)
def test_softmax_cross_entropy_mlp_matches_torch():
    """A Dense-like MLP (shared weights, batch unknown) against torch, at two batch sizes."""
    rng = np.random.default_rng(3)
    w1 = gn.Variable(rng.standard_normal((13, 17)).astype(np.float32) * 0.3)
    b1 = gn.Variable(rng.standard_normal(17).astype(np.float32) * 0.1)
    w2 = gn.Variable(rng.standard_normal((17, 5)).astype(np.float32) * 0.3)
    b2 = gn.Variable(np.zeros(5, np.float32))
    x, labels = placeholder((None, 13)), placeholder((None, 5))
    h = ops.gelu(ops.matmul(x, w1) + b1, approximate=False)
    logits = ops.matmul(h, w2) + b2
    loss = -ops.mean(ops.sum(labels * ops.log_softmax(logits), axis=-1))
    variables = [w1, b1, w2, b2]
    grads = gn.gradients(loss, variables)
    f = gn.function([x, labels], [loss] + grads)

    def torch_step(a, y):
        tw = [torch.tensor(v.value, requires_grad=True) for v in variables]
        th = torch.nn.functional.gelu(torch.tensor(a) @ tw[0] + tw[1])
        tl = -(torch.tensor(y) * torch.log_softmax(th @ tw[2] + tw[3], -1)).sum(-1).mean()
        tl.backward()
        return [tl.detach().numpy()] + [t.grad.numpy() for t in tw]

    for batch in (8, 3, 1):
        a = rng.standard_normal((batch, 13)).astype(np.float32)
        y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, batch)]
        for got, want in zip(f(a, y), torch_step(a, y)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_dense_layer_gradients_match_torch():
    layer = gn.layers.Dense(7, activation="tanh")
    x = gn.Input(shape=(6,))
    y = layer(x)
    kernel, bias = layer.weights
    gk, gb, gx = gn.gradients(ops.sum(ops.square(y)), [kernel, bias, x])
    a = np.random.default_rng(4).standard_normal((9, 6)).astype(np.float32)
    got = both_backends([x], [gk, gb, gx], a)
    if compare_with(torch, "the gradients against torch.autograd"):
        ta = torch.tensor(a, requires_grad=True)
        tk = torch.tensor(kernel.value, requires_grad=True)
        tb = torch.tensor(bias.value, requires_grad=True)
        (torch.tanh(ta @ tk + tb) ** 2).sum().backward()
        for g, t in zip(got, (tk, tb, ta)):
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_matmul_gradient_uses_transpose_attrs_not_transpose_nodes():
    a, b = placeholder((None, 5, 3)), placeholder((3, 4))
    grads = gn.gradients(ops.matmul(a, b), [a, b])
    names = [n.op.name for n in topological_order([g.node for g in grads])]
    assert "TRANSPOSE" not in names
    arrays = [np.random.default_rng(5).standard_normal(s).astype(np.float32)
              for s in [(2, 5, 3), (3, 4)]]
    got = both_backends([a, b], grads, *arrays)
    if compare_with(torch, "the gradients against torch.autograd"):
        want = torch_grads(torch.matmul, *[x.astype(np.float64) for x in arrays])
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_gradient_graph_respecializes_for_any_batch():
    x = placeholder((None, 4))
    w = gn.Variable(np.arange(4, dtype=np.float32))
    loss = ops.mean(ops.softmax(x * w, axis=0) * x) + ops.mean(ops.max(x, axis=0))
    gx, gw = gn.gradients(loss, [x, w])
    f = gn.function([x], [gx, gw])
    ref = gn.function([x], [gx, gw], backend="reference")
    for batch in (1, 2, 7, 33, 0):
        a = np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)
        for g, r in zip(f(a), ref(a)):
            assert g.shape == r.shape
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


def test_second_order():
    x = placeholder((None,))
    (g,) = gn.gradients(ops.sum(x * x * x + ops.sin(x)), [x])
    (gg,) = gn.gradients(g, [x])
    a = np.array([-1.5, 0.0, 0.5, 2.0], np.float32)
    first, second = both_backends([x], [g, gg], a)
    np.testing.assert_allclose(first, 3 * a * a + np.cos(a), rtol=1e-6)
    np.testing.assert_allclose(second, 6 * a - np.sin(a), rtol=1e-5, atol=1e-6)


def test_in_train_phase_routes_gradient_by_mode():
    x = placeholder((None, 3))
    y = ops.in_train_phase(x * 2.0, x * 5.0)
    (gx,) = gn.gradients(y, [x])
    a = np.ones((2, 3), np.float32)
    assert run([x], [gx], a, training=True)[0].max() == 2.0
    assert run([x], [gx], a, training=False)[0].max() == 5.0
    assert run([x], [gx], a, backend="reference", training=True)[0].max() == 2.0


def test_dropout_gradient_is_the_mask_of_the_same_run():
    x = placeholder((None, 50))
    y = gn.layers.Dropout(0.5, seed=3)(x, training=True)
    (gx,) = gn.gradients(y, [x])
    f = gn.function([x], [y, gx], training=True)
    a = np.full((4, 50), 3.0, np.float32)
    for _ in range(2):
        out, g = f(a)
        np.testing.assert_allclose(g, out / 3.0)
        assert 0 < (g == 0).sum() < g.size


def test_bad_arguments():
    x = placeholder((None, 3))
    with pytest.raises(TypeError, match="floating"):
        gn.gradients(x > 0.0, [x])
    with pytest.raises(TypeError, match="Variables or symbolic tensors"):
        gn.gradients(ops.sum(x), [np.ones(3)])


def test_concatenate_along_an_unknown_batch_axis_has_gradients():
    """The pieces are located by the inputs' run-time shapes (CONCAT_PIECE)."""
    a, b = placeholder((None, 3)), placeholder((None, 3))
    joined = gn.ops.concatenate([a * 2.0, b], axis=0)
    ga, gb = gn.gradients(gn.ops.sum(joined * joined * np.arange(1, 4, dtype="f4")), [a, b])
    da = np.random.default_rng(0).standard_normal((4, 3)).astype("f4")
    db = np.random.default_rng(1).standard_normal((2, 3)).astype("f4")
    got_a, got_b = gn.function([a, b], [ga, gb])(da, db)
    scale = np.arange(1, 4, dtype="f4")
    np.testing.assert_allclose(got_a, 8.0 * da * scale, rtol=1e-6)
    np.testing.assert_allclose(got_b, 2.0 * db * scale, rtol=1e-6)
