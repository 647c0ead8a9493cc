"""gn.utils load_img / img_to_array / array_to_img / save_img (Pillow) against Keras 3's on
the same files, and their bad-input errors."""
import io

import numpy as np
import pytest
from extras import compare_with, keras, needs, pillow

import graphnet as gn


def _png(path, array, mode):
    pillow.fromarray(array, mode).save(path)
    return path


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    return {"rgb": _png(tmp_path / "rgb.png", rng.integers(0, 256, (13, 21, 3), np.uint8),
                        "RGB"),
            "rgba": _png(tmp_path / "rgba.png", rng.integers(0, 256, (9, 7, 4), np.uint8),
                         "RGBA"),
            "gray": _png(tmp_path / "gray.png", rng.integers(0, 256, (11, 17), np.uint8),
                         "L")}


LOADS = [({}, "rgb"), ({"color_mode": "grayscale"}, "rgb"), ({"color_mode": "rgba"}, "gray"),
         ({"target_size": (8, 10)}, "rgb"),
         ({"target_size": (8, 10), "interpolation": "bilinear"}, "rgba"),
         ({"target_size": (30, 9), "interpolation": "bicubic", "keep_aspect_ratio": True},
          "rgb"),
         ({"target_size": (5, 5), "interpolation": "lanczos", "keep_aspect_ratio": True},
          "gray"),
         ({"target_size": (11, 17)}, "gray")]


@needs(pillow)
@pytest.mark.parametrize("kwargs,name", LOADS)
def test_load_img_and_img_to_array_as_keras(images, kwargs, name):
    img = gn.utils.load_img(images[name], **kwargs)
    array = gn.utils.img_to_array(img)
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[kwargs.get("color_mode", "rgb")]
    assert array.dtype == np.float32 and array.ndim == 3 and array.shape[2] == channels
    if "target_size" in kwargs:
        assert array.shape[:2] == kwargs["target_size"]
    first = gn.utils.img_to_array(img, data_format="channels_first", dtype="uint8")
    np.testing.assert_array_equal(first, array.transpose(2, 0, 1).astype("uint8"))
    from_bytes = gn.utils.img_to_array(gn.utils.load_img(
        io.BytesIO(images[name].read_bytes()), **kwargs))
    np.testing.assert_array_equal(from_bytes, array)
    if compare_with(keras, "keras.utils.load_img + img_to_array"):
        theirs = keras.utils.img_to_array(keras.utils.load_img(images[name], **kwargs))
        np.testing.assert_array_equal(array, theirs)


@needs(pillow)
def test_array_to_img_and_save_img_as_keras(tmp_path):
    rng = np.random.default_rng(1)
    cases = [rng.uniform(-3, 5, (6, 4, 3)), rng.uniform(0, 1, (5, 5, 4)),
             rng.uniform(0, 9, (3, 8, 1)), np.full((4, 4, 1), 1000.0)]
    for x in cases:
        for scale in (True, False):
            ours = gn.utils.array_to_img(x, scale=scale)
            assert ours.mode == {3: "RGB", 4: "RGBA", 1: "I" if x.max() > 255 and not scale
                                 else "L"}[x.shape[2]]
            if compare_with(keras, "keras.utils.array_to_img"):
                theirs = keras.utils.array_to_img(x, scale=scale)
                assert ours.mode == theirs.mode
                np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    first = gn.utils.array_to_img(cases[0].transpose(2, 0, 1), data_format="channels_first")
    np.testing.assert_array_equal(np.asarray(first), np.asarray(gn.utils.array_to_img(cases[0])))
    pixels = rng.integers(0, 256, (7, 5, 3)).astype("float32")
    gn.utils.save_img(tmp_path / "saved.png", pixels, scale=False)
    np.testing.assert_array_equal(gn.utils.img_to_array(gn.utils.load_img(
        tmp_path / "saved.png")), pixels)
    with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
        gn.utils.save_img(tmp_path / "saved.jpg", cases[1])
    assert gn.utils.load_img(tmp_path / "saved.jpg").size == (5, 5)
    buffer = io.BytesIO()
    gn.utils.save_img(buffer, pixels, file_format="png", scale=False)
    np.testing.assert_array_equal(gn.utils.img_to_array(gn.utils.load_img(
        io.BytesIO(buffer.getvalue()))), pixels)


@needs(pillow)
def test_image_errors(images):
    with pytest.raises(ValueError, match='color_mode must be "grayscale", "rgb", or "rgba", '
                       "got 'cmyk'"):
        gn.utils.load_img(images["rgb"], color_mode="cmyk")
    with pytest.raises(ValueError, match="invalid interpolation method 'cubic'"):
        gn.utils.load_img(images["rgb"], target_size=(3, 3), interpolation="cubic")
    with pytest.raises(ValueError, match=r"target_size must be \(height, width\)"):
        gn.utils.load_img(images["rgb"], target_size=(3,))
    with pytest.raises(TypeError, match="path should be path-like or io.BytesIO, not int"):
        gn.utils.load_img(3)
    with pytest.raises(ValueError, match=r"rank 3 \(a single image\).*\(2, 4, 4, 3\)"):
        gn.utils.array_to_img(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="unsupported channel number 2"):
        gn.utils.array_to_img(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match=r"unsupported image shape \(2, 2, 2, 2\)"):
        gn.utils.img_to_array(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="data_format must be one of"):
        gn.utils.img_to_array(np.zeros((2, 2)), data_format="channels_middle")


def test_missing_pillow_is_named(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "PIL", None)   # import PIL raises ImportError
    with pytest.raises(ImportError, match="load_img needs Pillow: pip install pillow"):
        gn.utils.load_img("any.png")
