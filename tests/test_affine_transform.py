"""gn.ops.image.affine_transform (csrc/affine.c) against keras.ops.image.affine_transform
(torch backend) on odd sizes, every interpolation, fill mode and data format, and its
gradients against torch's autograd through Keras's map_coordinates."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs, torch
from graphnet.autodiff import gradients
from graphnet.ops.affine import FILL_MODES, INTERPOLATIONS, affine_reference

RNG = np.random.default_rng(19)
IMAGES = RNG.standard_normal((3, 7, 9, 5)).astype("float32")


def rotation(angle, h, w, shift=(0.0, 0.0)):
    """The transform rotating about the image centre, then shifting by (dy, dx) pixels."""
    c, s = np.cos(angle), np.sin(angle)
    x0, y0 = (w - 1) / 2, (h - 1) / 2
    return [c, -s, x0 - c * x0 + s * y0 + shift[1], s, c, y0 - s * x0 - c * y0 + shift[0],
            0.0, 0.0]


TRANSFORMS = np.array([rotation(0.4, 7, 9), rotation(-1.1, 7, 9, (1.5, 2.5)),
                       [1.3, 0.2, -1.0, 0.1, 0.8, 0.5, 0.0, 0.0]], "float32")


def _keras(images, transforms, *args, **kwargs):
    out = keras.ops.image.affine_transform(images, transforms, *args, **kwargs)
    return keras.ops.convert_to_numpy(out)


@pytest.mark.parametrize("interpolation", sorted(INTERPOLATIONS))
@pytest.mark.parametrize("fill_mode", sorted(FILL_MODES))
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_matches_the_reference_and_keras(interpolation, fill_mode, data_format):
    images = IMAGES if data_format == "channels_last" else IMAGES.transpose(0, 3, 1, 2).copy()
    ours = gn.ops.image.affine_transform(images, TRANSFORMS, interpolation, fill_mode, 0.5,
                                         data_format)
    assert ours.shape == images.shape
    assert not np.allclose(ours, images, atol=0.1)      # the transforms did move pixels
    attrs = dict(interpolation=interpolation, fill_mode=fill_mode, fill_value=0.5,
                 channels_first=data_format == "channels_first")
    np.testing.assert_allclose(ours, affine_reference(images, TRANSFORMS, attrs), atol=1e-5,
                               rtol=0)
    if compare_with(keras, "affine_transform against keras.ops.image's"):
        theirs = _keras(images, TRANSFORMS, interpolation, fill_mode, 0.5, data_format)
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


@needs(keras)
def test_channel_terms_one_image_and_integer_images_match_keras():
    channel_terms = TRANSFORMS.copy()
    channel_terms[:, 6], channel_terms[:, 7] = 0.3, -0.2   # Keras: times the channel index
    np.testing.assert_allclose(
        gn.ops.image.affine_transform(IMAGES, channel_terms, fill_mode="reflect"),
        _keras(IMAGES, channel_terms, fill_mode="reflect"), atol=1e-5)
    one = gn.ops.image.affine_transform(IMAGES[0], TRANSFORMS[1], "nearest", "wrap")
    np.testing.assert_allclose(one, _keras(IMAGES[0], TRANSFORMS[1], "nearest", "wrap"),
                               atol=1e-5)
    assert one.shape == IMAGES[0].shape
    pixels = RNG.integers(0, 256, size=(3, 7, 9, 5)).astype("uint8")
    ours = gn.ops.image.affine_transform(pixels, TRANSFORMS, fill_value=3)
    assert ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, _keras(pixels, TRANSFORMS, fill_value=3))


def test_identity_and_integer_shifts_move_pixels_exactly():
    identity = np.tile(np.array([1, 0, 0, 0, 1, 0, 0, 0], "float32"), (3, 1))
    for interpolation in INTERPOLATIONS:
        np.testing.assert_array_equal(
            gn.ops.image.affine_transform(IMAGES, identity, interpolation), IMAGES)
    shift = identity.copy()
    shift[:, 2], shift[:, 5] = 2, -1     # out[y, x] = in[y - 1, x + 2]
    out = gn.ops.image.affine_transform(IMAGES, shift, fill_value=7.0)
    np.testing.assert_array_equal(out[:, 1:, :-2], IMAGES[:, :-1, 2:])
    assert np.all(out[:, 0] == 7.0) and np.all(out[:, :, -2:] == 7.0)
    wrapped = gn.ops.image.affine_transform(IMAGES, shift, fill_mode="wrap")
    np.testing.assert_array_equal(wrapped, np.roll(IMAGES, (1, -2), axis=(1, 2)))


def test_empty_batch_and_non_finite_transforms_stay_inside_the_images():
    empty = gn.ops.image.affine_transform(IMAGES[:0], TRANSFORMS[:0])
    assert empty.shape == (0, 7, 9, 5)
    wild = np.array([[np.nan, np.inf, 1e30, -np.inf, 1e20, np.nan, 0, 0]] * 3, "float32")
    for fill_mode in FILL_MODES:
        out = gn.ops.image.affine_transform(IMAGES, wild, "nearest", fill_mode, 2.0)
        assert out.shape == IMAGES.shape
        if fill_mode == "constant":
            assert np.all(out == 2.0)


@needs(keras, torch)
@pytest.mark.parametrize("interpolation, fill_mode, data_format", [
    ("bilinear", "constant", "channels_last"), ("bilinear", "reflect", "channels_first"),
    ("bilinear", "wrap", "channels_last"), ("nearest", "mirror", "channels_last")])
def test_gradients_match_torch_through_keras(interpolation, fill_mode, data_format):
    images = RNG.standard_normal((2, 6, 5, 3)).astype("float32")
    if data_format == "channels_first":
        images = images.transpose(0, 3, 1, 2).copy()
    transforms = np.array([[0.9, -0.3, 1.2, 0.35, 0.95, -0.4, 0.1, -0.2],
                           [1.1, 0.2, -0.6, -0.15, 0.85, 0.7, 0.0, 0.0]], "float32")
    dy = RNG.standard_normal(images.shape).astype("float32")
    ti = torch.tensor(images, requires_grad=True)
    tt = torch.tensor(transforms, requires_grad=True)
    out = keras.ops.image.affine_transform(ti, tt * 1, interpolation, fill_mode, 0.25,
                                           data_format)   # Keras writes into the transform
    (out * torch.tensor(dy)).sum().backward()
    x = gn.Input(images.shape[1:])
    t = gn.Input((8,))
    y = gn.ops.image.affine_transform(x, t, interpolation, fill_mode, 0.25, data_format)
    loss = gn.ops.sum(y * dy)
    gx, gt = gradients(loss, [x, t])
    gx, gt = gn.function([x, t], [gx, gt])(images, transforms)
    np.testing.assert_allclose(gx, ti.grad.numpy(), atol=1e-5)
    theirs = tt.grad.numpy() if tt.grad is not None else np.zeros_like(transforms)
    np.testing.assert_allclose(gt, theirs, atol=1e-4, rtol=1e-5)
    if interpolation == "bilinear":
        assert np.abs(gt).max() > 1e-2      # a gradient that could have been wrong


def test_threads_repeat_the_reference():
    """The forward pass splits rows and the gradients split images across the pool: the
    same numbers as the NumPy reference on every run."""
    from graphnet.ops.affine import affine_grad_reference
    images = RNG.standard_normal((4, 33, 31, 3)).astype("float32")
    transforms = np.tile(TRANSFORMS[1], (4, 1))
    attrs = dict(interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 channels_first=False)
    x, t = gn.Input((33, 31, 3)), gn.Input((8,))
    y = gn.ops.image.affine_transform(x, t, "bilinear", "reflect")
    gx, gt = gradients(gn.ops.sum(y * images), [x, t])
    run = gn.function([x, t], [y, gx, gt])
    want = [affine_reference(images, transforms, attrs),
            affine_grad_reference(0, None, transforms, images, attrs),
            affine_grad_reference(1, images, transforms, images, attrs)]
    for _ in range(20):
        for got, expected in zip(run(images, transforms), want):
            np.testing.assert_allclose(got, expected, atol=1e-3, rtol=1e-5)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match=r"interpolation must be one of .* got "
                                         r"interpolation='bicubic'"):
        gn.ops.image.affine_transform(IMAGES, TRANSFORMS, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"fill_mode must be one of .* got fill_mode='edge'"):
        gn.ops.image.affine_transform(IMAGES, TRANSFORMS, fill_mode="edge")
    with pytest.raises(ValueError, match=r"images must be of rank 3 .* got shape \(7, 9\)"):
        gn.ops.image.affine_transform(IMAGES[0, :, :, 0], TRANSFORMS[0])
    with pytest.raises(ValueError, match=r"transform must be of shape \(8,\) or \(N, 8\), got "
                                         r"shape \(3, 6\)"):
        gn.ops.image.affine_transform(IMAGES, TRANSFORMS[:, :6])
    with pytest.raises(ValueError, match=r"3 images but 2 transforms"):
        gn.ops.image.affine_transform(IMAGES, TRANSFORMS[:2])
