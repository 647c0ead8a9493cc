"""gn.ops.einsum and tensordot: every equation form Keras accepts, against numpy/torch,
its gradient by finite differences (check_op), the products it lowers to (MATMUL with
transpose flags rather than TRANSPOSE nodes where the layout allows), bad equations,
and the ONNX export of a model using it, run in ONNX Runtime."""
import numpy as np
import pytest

import graphnet as gn
from extras import needs, onnx, torch
from extras import onnxruntime as ort
from graphnet.engine.input_layer import placeholder
from graphnet.graph.graph import topological_order
from op_check import check_op

# (equation, operand shapes): plain, transposed operands, batch axes, ellipses on either
# side, broadcasting (size 1 and ellipsis), diagonals, sums, outer products, three operands
EQUATIONS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,kj->ik", [(3, 4), (5, 4)]),
    ("ji,jk->ik", [(4, 3), (4, 5)]), ("ji,kj", [(4, 3), (5, 4)]),
    ("abc,cd->abd", [(2, 3, 4), (4, 5)]), ("abc,cde->abde", [(2, 3, 4), (4, 5, 6)]),
    ("abcd,cde->abe", [(2, 3, 4, 5), (4, 5, 6)]),
    ("aecd,abcd->acbe", [(2, 3, 4, 5), (2, 6, 4, 5)]),
    ("acbe,aecd->abcd", [(2, 4, 6, 3), (2, 3, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 5, 4), (2, 3, 7, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (3, 5, 6)]), ("...x,xy->...y", [(2, 3, 4), (4, 5)]),
    ("ab...,bc->ac...", [(2, 3, 4, 5), (3, 6)]), ("...ij->ij", [(4, 2, 3)]),
    ("ii->i", [(4, 4)]), ("ii", [(4, 4)]), ("iji->j", [(3, 2, 3)]), ("ij->", [(3, 4)]),
    ("ij->ji", [(3, 4)]), ("ij,ij->ij", [(1, 3), (2, 3)]), ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(5,), (5,)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ij,jk", [(2, 3), (1, 4)]), ("bij,bjk->bik", [(1, 3, 4), (5, 4, 2)]),
    ("abc,b->ac", [(2, 3, 4), (3,)]), ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)]),
    ("abcd,aecd->abe", [(2, 3, 4, 5), (2, 6, 4, 5)]), ("ab,ac->bc", [(7, 3), (7, 2)]),
]


def _reference(equation, arrays):
    if torch is not None:   # Keras's torch backend: torch.einsum's rules
        return torch.einsum(equation, *[torch.from_numpy(np.asarray(a)) for a in arrays]).numpy()
    return np.einsum(equation, *arrays)


@pytest.mark.parametrize("equation, shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
def test_einsum_matches_reference_and_its_gradient(equation, shapes):
    out = check_op(lambda *xs: gn.ops.einsum(equation, *xs), shapes, none_axes=())
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    got = gn.ops.einsum(equation, *arrays)
    want = _reference(equation, arrays)
    assert got.shape == want.shape == out["forward"].shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("equation, shapes", [
    ("abc,cd->abd", [(5, 3, 4), (4, 6)]), ("abc,cde->abde", [(5, 3, 4), (4, 2, 3)]),
    ("aecd,abcd->acbe", [(5, 3, 2, 4), (5, 7, 2, 4)]), ("ab,ac->bc", [(5, 3), (5, 2)]),
])
def test_einsum_with_an_unknown_batch_respecializes(equation, shapes):
    check_op(lambda *xs: gn.ops.einsum(equation, *xs), shapes,
             none_axes=[(0,)] * len(shapes) if equation[0] == equation.split(",")[1][0]
             else [(0,), ()])


def _ops_of(tensor):
    return [n.op.name for n in topological_order([tensor.node])]


def test_transposed_operands_fold_into_the_product_flags():
    """ij,kj (B transposed) and ji,jk (A transposed): one MATMUL, no TRANSPOSE; a dense
    over a sequence (abc,cd->abd): one MATMUL over every row."""
    x, y = placeholder((4, 3), "float32"), placeholder((5, 3), "float32")
    assert _ops_of(gn.ops.einsum("ij,kj->ik", x, y)).count("TRANSPOSE") == 0
    assert _ops_of(gn.ops.einsum("ji,jk->ik", x, placeholder((4, 2), "float32"))) \
        .count("TRANSPOSE") == 0
    seq = placeholder((None, 7, 3), "float32")
    names = _ops_of(gn.ops.einsum("abc,cd->abd", seq, placeholder((3, 2), "float32")))
    assert names.count("MATMUL") == 1 and "TRANSPOSE" not in names and "RESHAPE" not in names


def test_einsum_in_a_functional_model_trains_and_saves(tmp_path):
    x = gn.Input((3, 4))
    w = gn.layers.Dense(4, use_bias=False)(x)
    out = gn.ops.einsum("abc,abc->ab", x, w)
    model = gn.Model(x, out)
    data = np.random.default_rng(2).standard_normal((6, 3, 4)).astype(np.float32)
    want = np.einsum("abc,abc->ab", data, data @ model.get_weights()[0])
    np.testing.assert_allclose(model.predict(data, verbose=0), want, rtol=1e-5, atol=1e-5)
    model.save(tmp_path / "m.graphnet")
    again = gn.models.load_model(tmp_path / "m.graphnet")
    np.testing.assert_allclose(again.predict(data, verbose=0), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("equation, shapes, match", [
    ("ij,jk->ik", [(3, 4), (5, 6)], "label 'j'"),
    ("ij,jk->ik", [(3, 4)], "2 operand subscripts but 1"),
    ("ijk,jk->ik", [(3, 4), (4, 5)], "operand 0 has rank 2"),
    ("ij,jk->iz", [(3, 4), (4, 5)], "appear in no operand"),
    ("ij,jk->ii", [(3, 4), (4, 5)], "repeat"),
    ("i1,jk->ik", [(3, 4), (4, 5)], "bad subscripts"),
])
def test_bad_equations_name_what_is_wrong(equation, shapes, match):
    arrays = [np.ones(s, np.float32) for s in shapes]
    with pytest.raises(ValueError, match=match):
        gn.ops.einsum(equation, *arrays)


@pytest.mark.parametrize("axes, shapes", [
    (2, [(3, 4, 5), (4, 5, 6)]), (0, [(2, 3), (4,)]), (1, [(3, 4), (4, 2)]),
    (([1, 0], [0, 1]), [(3, 4, 5), (4, 3, 2)]), ((2, 0), [(3, 4, 5), (5, 2)]),
])
def test_tensordot_matches_numpy(axes, shapes):
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    np.testing.assert_allclose(gn.ops.tensordot(a, b, axes=axes), np.tensordot(a, b, axes),
                               rtol=1e-5, atol=1e-5)
    check_op(lambda x, y: gn.ops.tensordot(x, y, axes=axes), shapes, none_axes=())


def test_tensordot_bad_axes():
    with pytest.raises(ValueError, match="tensordot: 2 axes of x1 against 1"):
        gn.ops.tensordot(np.ones((2, 3)), np.ones((3, 2)), axes=([0, 1], [0]))
    with pytest.raises(ValueError, match="axes=3 does not fit"):
        gn.ops.tensordot(np.ones((2, 3)), np.ones((3, 2)), axes=3)


@needs(onnx, ort)
def test_einsum_model_exports_to_onnx():
    q, k = gn.Input((5, 2, 4)), gn.Input((7, 2, 4))
    scores = gn.ops.einsum("aecd,abcd->acbe", k, q)
    model = gn.Model([q, k], gn.ops.einsum("acbe,aecd->abcd", gn.ops.softmax(scores), k))
    proto = gn.export.to_onnx(model)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(4)
    for batch in (1, 3):
        xq = rng.standard_normal((batch, 5, 2, 4)).astype(np.float32)
        xk = rng.standard_normal((batch, 7, 2, 4)).astype(np.float32)
        want = model.predict([xq, xk], verbose=0)
        feed = {i.name: a for i, a in zip(sess.get_inputs(), [xq, xk])}
        np.testing.assert_allclose(sess.run(None, feed)[0], want, rtol=1e-5, atol=1e-5)
