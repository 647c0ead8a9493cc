"""gn.utils.image_dataset_from_directory: Keras's file order, labels and splits (against
Keras's own directory indexing), its pixels (against keras.ops.image.resize on torch), a
dataset graphnet's fit trains on, and every bad argument."""
import os

import numpy as np
import pytest
from extras import compare_with, keras, needs, pillow

import graphnet as gn
from graphnet.image_dataset import ALLOWLIST_FORMATS, resize_image

CLASSES = {"cat": 3, "dog": 4, "emu": 2}


def _tree(root, rng, classes=CLASSES):
    """root/<class>/<i>.png of varied sizes, one in a nested folder, plus a non-image."""
    for name, count in classes.items():
        os.makedirs(root / name / "nested")
        for i in range(count):
            size = (int(rng.integers(5, 12)), int(rng.integers(5, 12)))
            where = root / name / ("nested" if i == 0 else "") / f"{i}.png"
            pillow.fromarray(rng.integers(0, 256, size + (3,), np.uint8), "RGB").save(where)
        (root / name / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


@pytest.fixture
def tree(tmp_path):
    return _tree(tmp_path / "images", np.random.default_rng(0))


def _all(dataset):
    batches = [dataset[i] for i in range(len(dataset))]
    if isinstance(batches[0], tuple):
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    return np.concatenate(batches), None


@needs(pillow)
def test_files_labels_and_classes_as_keras(tree):
    dataset = gn.utils.image_dataset_from_directory(tree, image_size=(6, 5), batch_size=4,
                                                    seed=7, verbose=False)
    assert dataset.class_names == ["cat", "dog", "emu"]
    assert len(dataset) == 3 and isinstance(dataset, gn.utils.PyDataset)
    x, y = _all(dataset)
    assert x.shape == (9, 6, 5, 3) and x.dtype == np.float32 and y.dtype == np.int32
    assert all(p.endswith(".png") for p in dataset.file_paths)
    assert [os.path.basename(os.path.dirname(p)) in ("cat", "dog", "emu", "nested")
            for p in dataset.file_paths] == [True] * 9
    if compare_with(keras, "keras's index_directory (order, labels, class names)"):
        paths, labels, names = keras.src.utils.dataset_utils.index_directory(
            str(tree), "inferred", ALLOWLIST_FORMATS, seed=7, verbose=False)
        assert dataset.file_paths == paths and names == dataset.class_names
        np.testing.assert_array_equal(y, labels)


@needs(pillow)
@pytest.mark.parametrize("split,subset", [(0.3, "training"), (0.3, "validation"),
                                          (0.5, "both")])
def test_validation_splits_as_keras(tree, split, subset):
    made = gn.utils.image_dataset_from_directory(tree, image_size=4, batch_size=2, seed=3,
                                                 validation_split=split, subset=subset,
                                                 verbose=False)
    parts = made if subset == "both" else [made]
    names = ["training", "validation"] if subset == "both" else [subset]
    if subset == "both":
        assert set(parts[0].file_paths).isdisjoint(parts[1].file_paths)
        assert len(parts[0].file_paths) + len(parts[1].file_paths) == 9
        assert parts[1].shuffle is False and parts[0].shuffle is True
    if compare_with(keras, "keras's training / validation split of the same files"):
        utils = keras.src.utils.dataset_utils
        paths, labels, _ = utils.index_directory(str(tree), "inferred", ALLOWLIST_FORMATS,
                                                 seed=3, verbose=False)
        for part, name in zip(parts, names):
            kept, kept_labels = utils.get_training_or_validation_split(paths, labels, split,
                                                                       name)
            assert part.file_paths == kept
            np.testing.assert_array_equal(_all(part)[1], kept_labels)


@needs(pillow)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("aspect", [{}, {"crop_to_aspect_ratio": True},
                                    {"pad_to_aspect_ratio": True}])
def test_pixels_as_keras_resize(tree, interpolation, aspect):
    dataset = gn.utils.image_dataset_from_directory(
        tree, image_size=(7, 4), batch_size=None, shuffle=False, interpolation=interpolation,
        verbose=False, **aspect)
    image, label = dataset[0]
    assert image.shape == (7, 4, 3) and label == 0
    original = np.asarray(pillow.open(dataset.file_paths[0]), dtype="float32")
    np.testing.assert_allclose(image, resize_image(original, (7, 4), interpolation,
                                                   **aspect), rtol=0, atol=0)
    if compare_with(keras, "keras.ops.image.resize (torch backend)"):
        theirs = keras.ops.convert_to_numpy(keras.ops.image.resize(
            original, (7, 4), interpolation=interpolation, **aspect))
        np.testing.assert_allclose(image, theirs, atol=2e-4)


@needs(pillow)
def test_label_modes_color_modes_and_formats(tree):
    common = {"image_size": (3, 3), "shuffle": False, "verbose": False}
    _, y = _all(gn.utils.image_dataset_from_directory(tree, label_mode="categorical",
                                                      **common))
    assert y.dtype == np.float32 and y.shape == (9, 3)
    np.testing.assert_array_equal(y.argmax(1), [0] * 3 + [1] * 4 + [2] * 2)
    binary = gn.utils.image_dataset_from_directory(tree, label_mode="binary",
                                                   class_names=["emu", "cat"], **common)
    x, y = _all(binary)
    assert binary.class_names == ["emu", "cat"] and y.shape == (5, 1)
    assert y[:, 0].tolist() == [0, 0, 1, 1, 1]
    gray, none = _all(gn.utils.image_dataset_from_directory(
        tree, labels=None, color_mode="grayscale", data_format="channels_first", **common))
    assert gray.shape == (9, 1, 3, 3) and none is None
    rgba, _ = _all(gn.utils.image_dataset_from_directory(tree, color_mode="rgba", **common))
    assert rgba.shape == (9, 3, 3, 4) and np.all(rgba[..., 3] == 255)
    listed = gn.utils.image_dataset_from_directory(tree, labels=list(range(9, 0, -1)),
                                                   **common)
    assert listed.class_names == [str(i) for i in range(1, 10)]
    assert _all(listed)[1].tolist() == list(range(9, 0, -1))


@needs(pillow)
def test_shuffle_is_seeded_and_reshuffles_each_epoch(tree):
    def made():
        return gn.utils.image_dataset_from_directory(tree, image_size=2, batch_size=9, seed=5,
                                                     verbose=False)
    first, second = made(), made()
    assert first.file_paths == second.file_paths
    np.testing.assert_array_equal(first[0][1], second[0][1])
    before = first[0][1].copy()
    orders = []
    for _ in range(4):
        first.on_epoch_end()
        orders.append(first[0][1].tolist())
    assert sorted(before.tolist()) == sorted(orders[0])
    assert any(order != before.tolist() for order in orders)


@needs(pillow)
def test_fit_trains_on_it(tree):
    dataset = gn.utils.image_dataset_from_directory(tree, image_size=(8, 8), batch_size=4,
                                                    label_mode="categorical", seed=1,
                                                    verbose=False)
    model = gn.Sequential([gn.Input((8, 8, 3)), gn.layers.Rescaling(1 / 255),
                           gn.layers.Flatten(), gn.layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    history = model.fit(dataset, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert model.predict(dataset, verbose=0).shape == (9, 3)


@needs(pillow)
def test_verbose_counts(tree, capsys):
    gn.utils.image_dataset_from_directory(tree, validation_split=0.25, subset="training",
                                          seed=0)
    assert capsys.readouterr().out.splitlines() == [
        "Found 9 files belonging to 3 classes.", "Using 7 files for training."]


BAD = [({"labels": "folders"}, "`labels` must be 'inferred', None, or a list"),
       ({"labels": [0] * 9, "class_names": ["a"]}, "`class_names` can only be passed"),
       ({"label_mode": "sparse"}, '`label_mode` must be one of "int"'),
       ({"color_mode": "cmyk"}, '`color_mode` must be one of "rgb", "rgba", "grayscale"'),
       ({"image_size": (3, 0)}, "`image_size` must be a tuple of 2 positive integers"),
       ({"interpolation": "lanczos3"}, "`interpolation` must be one of"),
       ({"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, "only one of"),
       ({"batch_size": 0}, "`batch_size` must be a positive integer or None"),
       ({"validation_split": 1.5, "subset": "training", "seed": 1},
        "`validation_split` must be between 0 and 1"),
       ({"validation_split": 0.2}, "if `subset` is set, `validation_split` must be set"),
       ({"validation_split": 0.2, "subset": "test", "seed": 1}, '`subset` must be "training"'),
       ({"validation_split": 0.2, "subset": "training"}, "pass a `seed`"),
       ({"class_names": ["cat", "cow"]}, "`class_names` passed do not match"),
       ({"labels": [1, 2]}, "`labels` has 2 entries but the directory .* holds 9 files"),
       ({"label_mode": "binary"}, r"needs exactly 2 classes, got class_names=\['cat'"),
       ({"labels": None, "class_names": ["cat"]}, "`class_names` cannot be given with labels=None"),
       ({"data_format": "nhwc"}, "data_format must be one of")]


@needs(pillow)
@pytest.mark.parametrize("kwargs,match", BAD)
def test_bad_arguments(tree, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gn.utils.image_dataset_from_directory(tree, verbose=False, **kwargs)


@needs(pillow)
def test_empty_and_missing_directories(tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images found in directory"):
        gn.utils.image_dataset_from_directory(tmp_path / "empty", verbose=False)
    with pytest.raises(ValueError, match="does not exist or is not a directory"):
        gn.utils.image_dataset_from_directory(tmp_path / "absent", verbose=False)
    dataset = gn.utils.image_dataset_from_directory(_tree(tmp_path / "t", np.random.default_rng(1)),
                                                    verbose=False, batch_size=5)
    with pytest.raises(IndexError, match="batch 2 out of range for 2 batches"):
        dataset[2]
