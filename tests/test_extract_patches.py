"""gn.ops.image.extract_patches: against keras.ops.image.extract_patches (torch backend)
and a NumPy loop, eager and between layers, gradients by finite differences, saving, ONNX,
and the errors for bad arguments."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, onnx
from extras import onnxruntime as ort
from layer_check import assert_raises_naming
from op_check import check_op

RNG = np.random.default_rng(0)

# (image shape, size, strides, dilation_rate, padding): odd sizes, both paddings,
# strides apart from the size, uncovered edges, one patch the whole image, 3-D patches
CASES = [
    ((2, 11, 13, 3), (3, 2), None, 1, "valid"),
    ((2, 11, 13, 3), (3, 2), None, 1, "same"),
    ((2, 11, 13, 3), (3, 2), (2, 3), 1, "same"),
    ((2, 11, 13, 3), (3, 3), (1, 2), 1, "valid"),
    ((1, 9, 7, 2), 4, (3, 3), 1, "valid"),
    ((1, 9, 7, 2), 4, (5, 2), 1, "same"),
    ((3, 10, 9, 1), (2, 3), (1, 1), 2, "valid"),
    ((3, 10, 9, 1), (2, 3), (1, 1), (2, 1), "same"),
    ((2, 28, 28, 1), 4, None, 1, "valid"),
    ((1, 5, 7, 2), (5, 7), None, 1, "valid"),
    ((11, 13, 3), (2, 2), (1, 1), 1, "valid"),
    ((11, 13, 3), 3, None, 1, "same"),
    ((2, 5, 6, 7, 2), (2, 3, 2), None, 1, "valid"),
    ((2, 5, 6, 7, 2), (2, 3, 2), (1, 2, 3), 1, "same"),
]


def _pads(n, k, s, d, padding):
    """Keras's (TensorFlow's) low padding and output length of one axis."""
    keff = (k - 1) * d + 1
    if padding == "valid":
        return 0, (n - keff) // s + 1
    out = -(-n // s)
    return max((out - 1) * s + keff - n, 0) // 2, out


def reference_patches(images, size, strides, dilation_rate, padding):
    """The patches by a loop over output positions (channels_last, batched)."""
    rank = images.ndim - 2
    size = (size,) * rank if isinstance(size, int) else tuple(size)
    strides = size if strides is None else strides
    dil = (dilation_rate,) * rank if isinstance(dilation_rate, int) else tuple(dilation_rate)
    geometry = [_pads(n, k, s, d, padding) for n, k, s, d in
                zip(images.shape[1:-1], size, strides, dil)]
    out = np.zeros((images.shape[0],) + tuple(o for _, o in geometry) +
                   (int(np.prod(size)) * images.shape[-1],), images.dtype)
    for pos in np.ndindex(*out.shape[1:-1]):
        pieces = []
        for tap in np.ndindex(*size):
            at = [p * s - lo + t * d for p, s, (lo, _), t, d in
                  zip(pos, strides, geometry, tap, dil)]
            inside = all(0 <= a < n for a, n in zip(at, images.shape[1:-1]))
            pieces.append(images[(slice(None),) + tuple(at)] if inside else
                          np.zeros((images.shape[0], images.shape[-1]), images.dtype))
        out[(slice(None),) + pos] = np.concatenate(pieces, axis=-1)
    return out


@pytest.mark.parametrize("shape, size, strides, dilation, padding", CASES)
def test_as_keras_and_a_loop(shape, size, strides, dilation, padding):
    x = RNG.standard_normal(shape).astype(np.float32)
    got = gn.ops.image.extract_patches(x, size, strides, dilation, padding)
    unbatched = len(shape) == (3 if isinstance(size, int) else len(size) + 1)
    want = reference_patches(x[None] if unbatched else x, size, strides, dilation, padding)
    np.testing.assert_array_equal(got, want[0] if unbatched else want)
    if compare_with(keras, "keras.ops.image.extract_patches"):
        theirs = keras.ops.convert_to_numpy(
            keras.ops.image.extract_patches(x, size, strides, dilation, padding))
        assert got.shape == theirs.shape
        np.testing.assert_allclose(got, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape, size, strides, dilation, padding",
                         [c for c in CASES if len(c[0]) == 4][::2])
def test_gradient_by_finite_differences(shape, size, strides, dilation, padding):
    small = (2,) + shape[1:]
    check_op(lambda t: gn.ops.image.extract_patches(t, size, strides, dilation, padding),
             [small], none_axes=())


def test_channels_first_is_channels_last_transposed():
    x = RNG.standard_normal((2, 3, 11, 10)).astype(np.float32)
    got = gn.ops.image.extract_patches(x, (3, 2), (2, 2), padding="same",
                                       data_format="channels_first")
    last = gn.ops.image.extract_patches(x.transpose(0, 2, 3, 1), (3, 2), (2, 2),
                                        padding="same", data_format="channels_last")
    np.testing.assert_array_equal(got, last.transpose(0, 3, 1, 2))
    if compare_with(keras, "keras's channels_first patches"):
        theirs = keras.ops.image.extract_patches(x, (3, 2), (2, 2), padding="same",
                                                 data_format="channels_first")
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(theirs), atol=1e-6)


def _patch_model():
    inp = gn.Input((12, 10, 2))
    patches = gn.ops.image.extract_patches(gn.layers.Conv2D(3, 1)(inp), 3, (2, 3),
                                           padding="same")
    return gn.Model(inp, gn.layers.Dense(4)(patches))


def test_between_layers_trains_and_saves(tmp_path):
    gn.utils.set_random_seed(1)
    model = _patch_model()
    assert model.output.shape == (None, 6, 4, 4)
    x = RNG.standard_normal((5, 12, 10, 2)).astype(np.float32)
    y = RNG.standard_normal((5, 6, 4, 4)).astype(np.float32)
    conv, dense = model.layers[1], model.layers[-1]
    want = reference_patches(x @ conv.kernel.numpy()[0, 0] + conv.bias.numpy(), 3, (2, 3), 1,
                             "same") @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    model.compile(optimizer="adam", loss="mse")
    losses = [model.train_on_batch(x, y) for _ in range(30)]
    assert float(np.ravel(losses[-1])[0]) < 0.9 * float(np.ravel(losses[0])[0])
    path = str(tmp_path / "patches.graphnet")
    model.save(path)
    loaded = gn.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)


@needs(onnx, ort)
@pytest.mark.parametrize("strides, padding", [(None, "valid"), ((1, 2), "same")])
def test_onnx_export_matches(strides, padding):
    inp = gn.Input((9, 8, 2))
    model = gn.Model(inp, gn.ops.image.extract_patches(inp, (3, 2), strides, padding=padding))
    session = ort.InferenceSession(gn.export.to_onnx(model).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = RNG.standard_normal((batch, 9, 8, 2)).astype(np.float32)
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_bad_arguments_are_named():
    x = np.zeros((1, 8, 8, 3), np.float32)
    extract = gn.ops.image.extract_patches
    assert_raises_naming(lambda: extract(x, "3"), "size", "str", exc=TypeError)
    assert_raises_naming(lambda: extract(x, (2, 2, 2, 2)), "size", "length 2")
    assert_raises_naming(lambda: extract(np.zeros((8, 8), np.float32), 2), "rank 3",
                         "(8, 8)")
    assert_raises_naming(lambda: extract(x, 2, padding="full"), "padding", "'full'")
    assert_raises_naming(lambda: extract(x, 2, strides=(1, 2, 3)), "strides", "2 ints")
    assert_raises_naming(lambda: extract(x, 9), "do not fit", "(8, 8)")
