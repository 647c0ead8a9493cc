"""ONNX export: models and every registered op, run in ONNX Runtime and compared with
graphnet (dynamic batch: exported once, run at other batch sizes)."""
import numpy as np
import pytest

import graphnet as gn
from extras import needs, onnx
from extras import onnxruntime as ort
from graphnet import layers as L
from graphnet.export.onnx_export import MAPPINGS, SOURCES, ONNXExportError, unmapped_ops
from graphnet.graph.node import Node
from graphnet.graph.tensor import SymbolicTensor
from graphnet.ops import all_ops

RNG = np.random.default_rng(0)


def _session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _check_model(model, arrays_for_batch, batches=(1, 4), atol=1e-5, **kwargs):
    proto = gn.export.to_onnx(model, **kwargs)
    sess = _session(proto)
    for b in batches:
        arrays = arrays_for_batch(b)
        want = model.predict(arrays if len(arrays) > 1 else arrays[0])
        want = want if isinstance(want, list) else [want]
        feed = {i.name: a for i, a in zip(sess.get_inputs(), arrays)}
        for w, g in zip(want, sess.run(None, feed)):
            np.testing.assert_allclose(g, w, atol=atol, rtol=1e-5)
    return proto


@needs(onnx, ort)
def test_mlp_with_a_dynamic_batch(tmp_path):
    inp = gn.Input((12,), name="x")
    h = L.Dense(32, activation="relu")(inp)
    h = L.Dropout(0.5)(h)
    model = gn.Model(inp, L.Dense(10, activation="softmax")(h))
    path = str(tmp_path / "mlp.onnx")
    gn.export.to_onnx(model, path)
    loaded = onnx.load(path)
    dims = loaded.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 12
    assert {n.op_type for n in loaded.graph.node} >= {"Gemm", "Relu", "Softmax"}
    _check_model(model, lambda b: [RNG.standard_normal((b, 12)).astype("f4")],
                 batches=(1, 3, 5, 17))


@needs(onnx, ort)
def test_multi_input_multi_output_and_fixed_batch():
    a, b = gn.Input((4,), name="a"), gn.Input((2, 3), name="b")
    fb = L.Flatten()(b)
    h = L.Concatenate()([L.Dense(5, activation="tanh")(a), fb])
    model = gn.Model([a, b], [L.Dense(2, name="p")(h),
                              L.Dense(1, activation="sigmoid", name="q")(h), fb])

    def arrays(n):
        return [RNG.standard_normal((n, 4)).astype("f4"),
                RNG.standard_normal((n, 2, 3)).astype("f4")]
    proto = _check_model(model, arrays)
    assert [o.name for o in proto.graph.output][:2] == ["p", "q"]
    fixed = _check_model(model, arrays, batches=(3,), batch_size=3)
    assert fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 3
    _check_model(model, arrays, opset=18)


@needs(onnx, ort)
@pytest.mark.parametrize("name", sorted(gn.activations._registry.entries))
def test_every_activation(name):
    model = gn.Sequential([gn.Input((7,)), L.Dense(9), L.Activation(name)])
    _check_model(model, lambda b: [3 * RNG.standard_normal((b, 7)).astype("f4")],
                 batches=(2, 5))


@needs(onnx, ort)
def test_cnn():
    if not hasattr(L, "Conv2D"):
        pytest.skip("no convolution layers yet")
    model = gn.Sequential([gn.Input((9, 9, 3), name="img"),
                           L.Conv2D(4, 3, padding="same", activation="relu"),
                           L.MaxPooling2D(2), L.Conv2D(5, (2, 3), strides=2),
                           L.AveragePooling2D(2, padding="same"), L.Flatten(),
                           L.Dense(6, activation="softmax")])
    _check_model(model, lambda b: [RNG.standard_normal((b, 9, 9, 3)).astype("f4")])


# -- every op ----------------------------------------------------------------------------------
def _f(*shape, positive=False, scale=1.0):
    def make(b):
        x = RNG.standard_normal((b,) + shape) * scale
        return (np.abs(x) + 0.5 if positive else x).astype("f4")
    return make


def _index(n, *shape, dtype="int64"):
    """Indices in [-n, n), repeats likely (the scatter-add)."""
    return lambda b: RNG.integers(-n, n, size=(b,) + shape).astype(dtype)


def _bool(*shape):
    return lambda b: RNG.random((b,) + shape) < 0.5


def _transforms(b):
    """Affine transforms near the identity, shifted by up to 2 pixels, with channel terms."""
    t = RNG.uniform(-0.3, 0.3, size=(b, 8))
    t[:, [0, 4]] += 1.0
    t[:, [2, 5]] *= 7.0
    return t.astype("f4")


def _t(op, *inputs, **attrs):
    return SymbolicTensor(Node(op, [x.node for x in inputs], attrs))


POSITIVE = {"SQRT", "RSQRT", "LOG", "LOG1P", "RECIPROCAL", "POW_SCALAR"}
UNARY_ATTRS = {"LEAKY_RELU": dict(alpha=0.1), "ELU": dict(alpha=0.7),
               "CLIP": dict(alpha=-0.5, beta=0.7), "AFFINE": dict(alpha=2.0, beta=-1.0),
               "POW_SCALAR": dict(alpha=1.5)}
BINARY_GROUP = ["ADD", "SUB", "MUL", "DIV", "POW", "MAXIMUM", "MINIMUM", "MOD", "FLOOR_DIV",
                "ATAN2", "EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER",
                "GREATER_EQUAL"]


def _cases():
    """op name -> list of (builder(inputs) -> outputs, input makers, input dtypes)."""
    cases = {}
    from graphnet.ops.elementwise import UNARY
    for name in UNARY:
        def build(ins, name=name):
            return [_t(name, ins[0], **UNARY_ATTRS.get(name, {}))]
        scale = 0.5 if name == "TAN" else 2.0
        cases[name] = [(build, [_f(6, positive=name in POSITIVE, scale=scale)])]
    for name in BINARY_GROUP:
        def build(ins, name=name):
            return [_t(name, ins[0], ins[1])]
        rounded = name in ("EQUAL", "NOT_EQUAL", "LESS_EQUAL", "GREATER_EQUAL")
        if rounded:        # ties on purpose
            left = lambda b: np.round(RNG.standard_normal((b, 6)) * 2).astype("f4")  # noqa
            right = lambda b: np.round(RNG.standard_normal(6) * 2).astype("f4")  # noqa
        else:              # divisors away from 0; POW on positive bases
            left = _f(6, positive=name == "POW", scale=3)
            right = (lambda b, s=(name != "POW"): ((np.abs(RNG.standard_normal(6)) + 0.5) * (
                np.sign(RNG.standard_normal(6)) if s else 1)).astype("f4"))
        cases[name] = [(build, [left, right], None, [(None, 6), (6,)])]
    for name in ("LOGICAL_AND", "LOGICAL_OR", "LOGICAL_XOR"):
        cases[name] = [(lambda ins, name=name: [_t(name, ins[0], ins[1])],
                        [_bool(5), _bool(5)], ["bool", "bool"])]
    cases["WHERE"] = [(lambda ins: [_t("WHERE", ins[0], ins[1], ins[2])],
                       [_bool(5), _f(5), _f(5)], ["bool", "float32", "float32"])]
    cases["CAST"] = [(lambda ins: [_t("CAST", ins[0], dtype="int32"),
                                   _t("CAST", ins[0], dtype="bool"),
                                   _t("CAST", ins[1], dtype="float32")],
                      [_f(5, scale=3), _bool(5)], ["float32", "bool"])]
    cases["FULL_LIKE"] = [(lambda ins: [_t("FULL_LIKE", ins[0], value=3.5)], [_f(2, 3)])]
    cases["ALLREDUCE_SUM"] = [(lambda ins: [_t("ALLREDUCE_SUM", ins[0], wait=True) * 2.0,
                                            _t("ALLREDUCE_SUM", ins[0], wait=False)],
                               [_f(2, 3)])]
    cases["MATMUL"] = [
        (lambda ins: [_t("MATMUL", ins[0], ins[1]),
                      _t("MATMUL", ins[0], ins[1], transpose_a=True, transpose_b=True)],
         [_f(4, 4), _f(4, 4)]),
        (lambda ins: [gn.ops.matmul(ins[0], np.ones((4, 3), "f4")),
                      _t("MATMUL", ins[0], gn.ops.convert_to_tensor(RNG.standard_normal(
                          (3, 4)).astype("f4")), transpose_b=True)], [_f(4)])]
    cases["RESHAPE"] = [(lambda ins: [gn.ops.reshape(ins[0], (None, 3, 4)),
                                      gn.ops.reshape(ins[0], (-1,)),
                                      gn.ops.reshape(ins[0], (-1, 4))], [_f(2, 6)])]
    cases["RESHAPE_LIKE"] = [(lambda ins: [_t("RESHAPE_LIKE", ins[0], ins[1]),
                                           _t("RESHAPE_LIKE", ins[1], ins[0])],
                              [_f(2, 6), _f(3, 4)])]
    cases["ATTENTION"] = [(lambda ins: [gn.ops.dot_product_attention(
        ins[0], ins[1], ins[1], is_causal=True)], [_f(3, 2, 4), _f(3, 2, 4)])]
    images, transforms = _f(5, 6, 3), _transforms

    def affine(interpolation, fill_mode, data_format="channels_last"):
        return lambda ins: [gn.ops.image.affine_transform(ins[0], ins[1], interpolation,
                                                          fill_mode, 0.5, data_format)]
    cases["AFFINE_TRANSFORM"] = [(affine(i, m, f), [images, transforms]) for i, m, f in (
        ("bilinear", "constant", "channels_last"), ("bilinear", "wrap", "channels_first"),
        ("bilinear", "mirror", "channels_last"), ("nearest", "reflect", "channels_last"),
        ("nearest", "nearest", "channels_first"))]
    grad_attrs = dict(interpolation="bilinear", fill_mode="reflect", fill_value=0.5,
                      channels_first=False)
    cases["AFFINE_TRANSFORM_GRAD"] = [
        (lambda ins: [_t("AFFINE_TRANSFORM_GRAD", ins[1], ins[0], wrt=0, **grad_attrs),
                      _t("AFFINE_TRANSFORM_GRAD", ins[1], ins[0], ins[0], wrt=1,
                         **dict(grad_attrs, fill_mode="constant"))],
         [images, transforms])]
    gamma, beta = (RNG.standard_normal(5).astype("f4") for _ in "gb")
    cases["LAYER_NORM"] = [(lambda ins: [gn.ops.layer_normalization(ins[0], gamma, beta,
                                                                     epsilon=1e-6),
                                          gn.ops.layer_normalization(ins[0], None, beta)],
                            [_f(3, 5, scale=3.0)])]
    # ATTENTION's gradient as its grad rule builds it: the log-sum-exp and dq, dk, dv
    cases["ATTENTION_LSE"] = [(lambda ins: [_attention_grads(ins)[0]],
                               [_f(3, 2, 4), _f(5, 2, 4), _f(5, 2, 3), _f(3, 2, 3)])]
    cases["ATTENTION_GRAD"] = [(lambda ins: _attention_grads(ins)[1:],
                                [_f(3, 2, 4), _f(5, 2, 4), _f(5, 2, 3), _f(3, 2, 3)])]
    cases["LAYER_NORM_GRAD"] = [(lambda ins: [_t("LAYER_NORM_GRAD", ins[0],
                                                 gn.ops.convert_to_tensor(gamma), ins[1],
                                                 epsilon=1e-3, scale=True)],
                                 [_f(3, 5), _f(3, 5, scale=2.0)])]
    cases["STOP_GRADIENT"] = [(lambda ins: [gn.ops.stop_gradient(ins[0])], [_f(2, 3)])]
    cases["TRANSPOSE"] = [(lambda ins: [gn.ops.transpose(ins[0], (2, 0, 1))], [_f(2, 3)])]
    cases["CONCATENATE"] = [(lambda ins: [gn.ops.concatenate([ins[0], ins[1]], axis=-1),
                                          gn.ops.concatenate([ins[0], ins[0]], axis=0)],
                             [_f(2), _f(3)])]
    cases["SLICE"] = [(lambda ins: [ins[0][:, ::-2, 1:4], ins[0][1:, -1:0:-1, ::3],
                                    ins[0][:, 2]], [_f(5, 6)])]
    cases["BROADCAST_TO"] = [(lambda ins: [gn.ops.broadcast_to(ins[0], (None, 3, 4)),
                                           _t("BROADCAST_TO", ins[1], shape=(2, -1, 3))],
                              [_f(1, 4), _f(3)])]
    for name, fn in [("REDUCE_SUM", "sum"), ("REDUCE_MEAN", "mean"), ("REDUCE_MAX", "max"),
                     ("REDUCE_MIN", "min"), ("REDUCE_PROD", "prod")]:
        f = getattr(gn.ops, fn)
        cases[name] = [(lambda ins, f=f: [f(ins[0], axis=1), f(ins[0], axis=(0, 2),
                                                               keepdims=True), f(ins[0])],
                        [_f(3, 4)])]
    cases["REDUCE_SUMSQ"] = [(lambda ins: [_t("REDUCE_SUMSQ", ins[0], axes=(2,),
                                              keepdims=False)], [_f(3, 4)])]
    for name, fn in [("REDUCE_ANY", "any"), ("REDUCE_ALL", "all")]:
        f = getattr(gn.ops, fn)
        cases[name] = [(lambda ins, f=f: [f(ins[0], axis=1), f(ins[0], axis=0, keepdims=True)],
                        [_bool(3)], ["bool"])]
    for name, fn in [("ARGMAX", "argmax"), ("ARGMIN", "argmin")]:
        f = getattr(gn.ops, fn)
        cases[name] = [(lambda ins, f=f: [f(ins[0], axis=1), f(ins[0], axis=-1, keepdims=True)],
                        [_f(4, 5)])]
    cases["SOFTMAX"] = [(lambda ins: [gn.ops.softmax(ins[0], axis=1)], [_f(4, 3)])]
    cases["LOG_SOFTMAX"] = [(lambda ins: [gn.ops.log_softmax(ins[0], axis=-1)], [_f(4, 3)])]
    cases["IN_TRAIN_PHASE"] = [(lambda ins: [gn.ops.in_train_phase(gn.ops.exp(ins[0]),
                                                                   ins[0])], [_f(3)])]
    program = (("MUL", (0, 1), 0.0, 0.0), ("LEAKY_RELU", (2,), 0.1, 0.0),
               ("ADD", (3, 0), 0.0, 0.0))
    cases["FUSED_ELTWISE"] = [(lambda ins: [_t("FUSED_ELTWISE", ins[0], ins[1],
                                               program=program)], [_f(3, 4), _f(3, 4)])]
    kernel = gn.ops.convert_to_tensor(RNG.standard_normal((4, 5)).astype("f4"))
    bias = gn.ops.convert_to_tensor(RNG.standard_normal(5).astype("f4"))
    cases["MATMUL_BIAS_ACT"] = [(lambda ins: [
        _t("MATMUL_BIAS_ACT", ins[0], kernel, bias, act="ELU", alpha=0.5, beta=0.0),
        _t("MATMUL_BIAS_ACT", ins[0], kernel, act=None),
        _t("MATMUL_BIAS_ACT", ins[0], kernel, bias, ins[1], bias=True, residual=True,
           act="RELU")], [_f(3, 4), _f(3, 5)])]
    multi = (lambda ins: [_t("MULTI_PART", m, offset=o, shape=sh) for m in [_t(
        "FUSED_MULTI_ELTWISE", *ins, results=(3, 2), shapes=((5,), (2, 3)),
        program=(("MUL", (0, 1), 0.0, 0.0), ("SQRT", (2,), 0.0, 0.0)))]
        for o, sh in [(0, (5,)), (5, (5,)), (10, (2, 3)), (16, (2, 3))]],
        [_f(5, positive=True), _f(1, positive=True), _f(2, 3, positive=True), _f(1)], None,
        [(5,), (1,), (2, 3), (1,)])
    cases["FUSED_MULTI_ELTWISE"] = cases["MULTI_PART"] = [multi]
    if "CONV" in all_ops():
        cases.update(_conv_cases())
    cases.update(_unrolled_cases())
    cases.update(_recurrent_cases())
    return cases


# each: (cell, attrs, inputs after x, kernel, recurrent kernel: "bias", "h0", "c0", "mask",
# "rec_mask"); batch 2 or 4, 5 steps of 3 features, 4 units
_RECURRENT = [
    ("lstm", dict(mask_mode=1, go_backwards=True), ["bias", "h0", "c0", "mask"]),
    ("lstm", dict(recurrent_activation="hard_sigmoid"), ["bias", "rec_mask"]),
    ("gru", dict(reset_after=True, mask_mode=2), ["bias", "h0", "mask", "rec_mask"]),
    ("gru", dict(reset_after=False, go_backwards=True, activation="relu"), ["bias", "rec_mask"]),
    ("gru", dict(reset_after=False, mask_mode=1), ["h0", "mask"]),
    ("simple_rnn", dict(mask_mode=1, activation="sigmoid"), ["bias", "mask"]),
]


def _attention_grads(ins):
    """ATTENTION_LSE and the three ATTENTION_GRADs of q, k, v and a gradient of the output,
    causal, with a mask that broadcasts over the batch and heads."""
    q, k, v, dout = ins
    mask = gn.ops.convert_to_tensor(RNG.random((3, 5)) < 0.7)
    attrs = {"scale": 0.4, "causal": True}
    att = _t("ATTENTION", q, k, v, mask, **attrs)
    lse = _t("ATTENTION_LSE", att, q, k, mask, **attrs)
    return [lse] + [_t("ATTENTION_GRAD", q, k, v, att, dout, lse, mask, wrt=w, **attrs)
                    for w in range(3)]


def _recurrent_cases():
    """RNN_SEQUENCE's record, RNN_BPTT's of a random gradient of it, and RNN_PARAM_GRAD
    for every input, per cell and option."""
    from graphnet.ops.recurrent import bias_shape
    from graphnet.ops.recurrent_layout import GATES, WRT, record_layout
    cases = {"RNN_SEQUENCE": [], "RNN_BPTT": [], "RNN_PARAM_GRAD": []}
    for cell, options, names in _RECURRENT:
        attrs = dict(dict(cell=cell, units=4, activation="tanh",
                          recurrent_activation="sigmoid", go_backwards=False,
                          reset_after=False, mask_mode=0, has_bias="bias" in names,
                          has_h0="h0" in names, has_c0="c0" in names,
                          rec_masked="rec_mask" in names), **options)
        g = GATES[cell] * 4
        weights = [gn.ops.convert_to_tensor(0.6 * RNG.standard_normal(shape).astype("f4"))
                   for shape in [(3, g), (4, g)] + [bias_shape(attrs)] * ("bias" in names)]
        makers = {"h0": _f(4), "c0": _f(4), "mask": _bool(5),
                  "rec_mask": lambda b, g=g: (2.0 * (RNG.random((b, g)) < 0.7)).astype("f4")}
        width = record_layout(cell, 4, attrs["reset_after"], attrs["mask_mode"] != 0)[1]
        inputs = [_f(5, 3)] + [makers[n] for n in names if n != "bias"] + [_f(5, width)]
        dtypes = ["bool" if n == "mask" else "float32" for n in ["x"] + names
                  if n != "bias"] + ["float32"]

        def split(ins, weights=weights, names=names):
            """(the sequence's inputs, BPTT's optional inputs, gY)."""
            rest = dict(zip([n for n in names if n != "bias"], ins[1:-1]))
            seq = [ins[0], *weights[:2]] + [weights[2] if n == "bias" else rest[n]
                                            for n in names]
            return seq, [rest[n] for n in names if n != "bias"], ins[-1]

        def bptt(ins, attrs=attrs, split=split):
            seq, extra, gy = split(ins)
            return _t("RNN_BPTT", gy, _t("RNN_SEQUENCE", *seq, **attrs), seq[2], *extra,
                      **attrs), seq

        wrts = [w for w in WRT if w in ("x", "kernel", "recurrent_kernel") or w in names]
        cases["RNN_SEQUENCE"].append((lambda ins, a=attrs, sp=split: [
            _t("RNN_SEQUENCE", *sp(ins)[0], **a)], inputs, dtypes))
        cases["RNN_BPTT"].append((lambda ins, bp=bptt: [bp(ins)[0]], inputs, dtypes))
        cases["RNN_PARAM_GRAD"].append((lambda ins, a=attrs, bp=bptt, wrts=wrts: [
            _t("RNN_PARAM_GRAD", z, *({"x": [seq[1]], "kernel": [seq[0]]}.get(w, [])),
               **dict(a, wrt=w)) for z, seq in [bp(ins)] for w in wrts], inputs, dtypes))
    return cases


class _TanhCell(gn.layers.Layer):
    """h = tanh(x W + h U) with weights the graph holds as constants and a product of them
    (which the step graph captures as an input)."""

    def __init__(self):
        super().__init__()
        self.state_size = 3
        self.w = RNG.standard_normal((4, 3)).astype("f4")
        self.u = gn.ops.multiply(gn.ops.convert_to_tensor(
            RNG.standard_normal((3, 3)).astype("f4")), 0.5)

    def call(self, inputs, states):
        h = gn.ops.tanh(gn.ops.matmul(inputs, self.w) + gn.ops.matmul(states[0], self.u))
        return h, [h]


def _unrolled_cases():
    def rnn(x, **options):
        return gn.layers.RNN(_TanhCell(), return_sequences=True, **options)(x)
    return {"RNN_UNROLL": [(lambda ins: [rnn(ins[0]), rnn(ins[0], go_backwards=True)],
                            [_f(5, 4)])],
            "RNN_UNROLL_GRAD": [(lambda ins: gn.gradients(gn.ops.sum(rnn(ins[0])), [ins[0]]),
                                 [_f(5, 4)])]}


def _conv_cases():
    w = gn.ops.convert_to_tensor(RNG.standard_normal((3, 3, 2, 6)).astype("f4"))
    w1 = gn.ops.convert_to_tensor(RNG.standard_normal((3, 2, 6)).astype("f4"))
    b6 = gn.ops.convert_to_tensor(RNG.standard_normal(6).astype("f4"))
    conv = dict(strides=(1, 2), dilations=(2, 1), groups=2)
    return {
        "CONV": [(lambda ins: [_t("CONV", ins[0], w, padding="same", **conv),
                               _t("CONV", ins[0], w, padding=((1, -1), (2, 0)), **conv),
                               _t("CONV", ins[1], w1, padding="causal", strides=(2,),
                                  dilations=(1,), groups=1)],
                  [_f(7, 8, 4), _f(9, 2)])],
        "CONV_TRANSPOSE": [(lambda ins: [
            gn.ops.conv_transpose(ins[0], w, strides=2, padding="same"),
            gn.ops.conv_transpose(ins[0], w, strides=(2, 3), padding="valid"),
            _t("CONV_TRANSPOSE", ins[1], w, ins[2], strides=(1, 2),
               dilations=(2, 1), groups=2, padding="same")],
            [_f(4, 5, 6), _f(7, 4, 6), _f(7, 8, 4)])],
        "CONV_BACKWARD_FILTER": [(lambda ins: [
            _t("CONV_BACKWARD_FILTER", ins[0], ins[1], kernel=(3, 3), padding="same", **conv)],
            [_f(7, 8, 4), _f(7, 4, 6)])],
        "POOL": [(lambda ins: [_t("POOL", ins[0], mode=m, window=(3, 2), strides=(2, 2),
                                  padding=p) for m in ("max", "avg")
                               for p in ("same", "valid")], [_f(7, 6, 3)])],
        "POOL_GRAD": [(lambda ins: [_t("POOL_GRAD", ins[0], ins[1], mode=m, window=(3, 2),
                                       strides=(2, 2), padding="same")
                                    for m in ("max", "avg")], [_f(7, 6, 3), _f(4, 3, 3)])],
        "CONV_BIAS_ACT": [(lambda ins: [
            _t("CONV_BIAS_ACT", ins[0], w, b6, ins[1], bias=True, residual=True, act="ELU",
               alpha=0.5, padding="same", strides=(1, 1), dilations=(1, 1), groups=2),
            _t("CONV_BIAS_ACT", ins[0], w, padding="valid", **conv)],
            [_f(7, 8, 4), _f(7, 8, 6)])],
        "CONV_BIAS_ACT_POOL": [(lambda ins: [
            _t("CONV_BIAS_ACT_POOL", ins[0], w, b6, bias=True, act="RELU", window=(2, 2),
               padding="same", strides=(1, 1), dilations=(1, 1), groups=2)],
            [_f(7, 8, 4)])],
        "PAD": [(lambda ins: [gn.ops.pad(ins[0], ((0, 0), (1, 2), (0, 3)),
                                         constant_values=1.5)], [_f(3, 2)])],
        "CONCAT_PIECE": [(lambda ins: [_t("CONCAT_PIECE", ins[0], ins[1], ins[2], axis=2,
                                          index=1)], [_f(3, 7), _f(3, 2), _f(3, 5)])],
        "TAKE": [(lambda ins: [gn.ops.take(ins[0], ins[1], axis=1)], [_f(5, 3), _index(5, 2)],
                  ["float32", "int64"])],
        "TAKE_GRAD": [(lambda ins: [_t("TAKE_GRAD", ins[0], ins[1], ins[2], axis=1)],
                       [_f(6, 3), _index(5, 6, dtype="int32"), _f(5, 3)], ["float32", "int32", "float32"],
                       [(None, 6, 3), (6,), (None, 5, 3)])],
        "SLICE_GRAD": [(lambda ins: [
            _t("SLICE_GRAD", ins[0], ins[1], begin=(None, None, 1), end=(None, None, 6),
               step=(1, -2, 2))], [_f(3, 3), _f(5, 7)])],
    }


CASES = _cases()


def test_every_registered_op_has_a_mapping():
    assert unmapped_ops() == []
    ops = set(all_ops()) - set(SOURCES)
    assert ops <= set(MAPPINGS)
    untested = ops - set(CASES) - {"RANDOM"}
    assert not untested, f"ops without an ONNX test case: {sorted(untested)}"


@needs(onnx, ort)
@pytest.mark.parametrize("op", sorted(CASES))
def test_op(op):
    for case in CASES[op]:
        build, makers = case[0], case[1]
        dtypes = case[2] if len(case) > 2 and case[2] else ["float32"] * len(makers)
        shapes = case[3] if len(case) > 3 else None
        samples = [m(2) for m in makers]
        inputs = [gn.Input(batch_shape=shapes[i] if shapes else (None,) + s.shape[1:],
                           dtype=d, name=f"in{i}")
                  for i, (s, d) in enumerate(zip(samples, dtypes))]
        outputs = build(inputs)
        sess = _session(gn.export.to_onnx((inputs, outputs)))
        fn = gn.function(inputs, outputs)
        for batch in (2, 4):
            arrays = [m(batch) for m in makers]
            if shapes:
                arrays = [a if len(a.shape) == len(s) else a[0] for a, s in zip(arrays, shapes)]
            want = fn(*arrays)
            feed = {i.name: a for i, a in zip(sess.get_inputs(), arrays)}
            for k, (w, g) in enumerate(zip(want, sess.run(None, feed))):
                assert g.shape == w.shape, (op, k)
                if w.dtype.kind == "f":
                    np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5, err_msg=f"{op} {k}")
                else:
                    np.testing.assert_array_equal(g.astype(w.dtype), w, err_msg=f"{op} {k}")


@needs(onnx, ort)
def test_random_ops_export_as_onnx_random_ops():
    x = gn.Input((5,), name="x")
    y = gn.ops.random_uniform_like(x, 2.0, 3.0, seed=1)
    sess = _session(gn.export.to_onnx((x, gn.ops.add(y, x))))
    data = np.zeros((4, 5), "f4")
    out = sess.run(None, {"x": data})[0]
    assert out.shape == (4, 5) and out.min() >= 2.0 and out.max() <= 3.0


@needs(onnx)
def test_errors():
    inp = gn.Input((4,))
    model = gn.Model(inp, L.Dense(2)(inp))
    with pytest.raises(ValueError, match="opset must be >= 13"):
        gn.export.to_onnx(model, opset=11)
    from graphnet.export import onnx_export
    saved = onnx_export.MAPPINGS.pop("MATMUL")
    try:
        with pytest.raises(ONNXExportError, match="op MATMUL has no ONNX mapping"):
            gn.export.to_onnx(model)
    finally:
        onnx_export.MAPPINGS["MATMUL"] = saved


def test_missing_onnx_gives_a_clear_error(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("no onnx here")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    inp = gn.Input((4,))
    with pytest.raises(ImportError, match="pip install onnx"):
        gn.export.to_onnx(gn.Model(inp, L.Dense(2)(inp)))
