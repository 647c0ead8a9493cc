"""gn.utils.text_dataset_from_directory: Keras's file order, labels and splits (against
Keras's own directory indexing), the texts as read and cut by max_length, bad arguments."""
import numpy as np
import pytest
from extras import compare_with, keras

import graphnet as gn

TEXTS = {"neg": ["awful film", "dull, slow and long", "never again"],
         "pos": ["loved it", "a delight — café scenes!"]}


@pytest.fixture
def tree(tmp_path):
    for label, texts in TEXTS.items():
        (tmp_path / "reviews" / label).mkdir(parents=True)
        for i, text in enumerate(texts):
            (tmp_path / "reviews" / label / f"{i}.txt").write_text(text, encoding="utf-8")
        (tmp_path / "reviews" / label / "cover.png").write_bytes(b"not text")
    return tmp_path / "reviews"


def test_texts_labels_and_order_as_keras(tree):
    dataset = gn.utils.text_dataset_from_directory(tree, batch_size=2, seed=4, verbose=False)
    assert dataset.class_names == ["neg", "pos"] and len(dataset) == 3
    texts = np.concatenate([dataset[i][0] for i in range(3)])
    labels = np.concatenate([dataset[i][1] for i in range(3)])
    assert sorted(texts.tolist()) == sorted(TEXTS["neg"] + TEXTS["pos"])
    for text, label in zip(texts, labels):
        assert text in TEXTS[dataset.class_names[label]]
    if compare_with(keras, "keras's index_directory of .txt files"):
        paths, kept, names = keras.src.utils.dataset_utils.index_directory(
            str(tree), "inferred", (".txt",), seed=4, verbose=False)
        assert dataset.file_paths == paths and names == dataset.class_names
        np.testing.assert_array_equal(labels, kept)


def test_max_length_binary_and_both(tree):
    train, val = gn.utils.text_dataset_from_directory(
        tree, label_mode="binary", max_length=5, validation_split=0.4, subset="both", seed=1,
        batch_size=None, verbose=False)
    assert len(train) == 3 and len(val) == 2
    text, label = val[0]
    assert len(text) <= 5 and label.shape == (1,) and label.dtype == np.float32
    assert any(full.startswith(text) for full in TEXTS["neg"] + TEXTS["pos"])
    only = gn.utils.text_dataset_from_directory(tree, labels=None, shuffle=False,
                                                verbose=False)
    assert only[0].tolist() == TEXTS["neg"] + TEXTS["pos"]


@pytest.mark.parametrize("kwargs,match", [
    ({"max_length": 0}, "`max_length` must be a positive integer or None"),
    ({"label_mode": "onehot"}, '`label_mode` must be one of "int"'),
    ({"validation_split": 0.5, "subset": "training"}, "pass a `seed`"),
    ({"class_names": ["neg", "meh"]}, "`class_names` passed do not match")])
def test_bad_arguments(tree, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gn.utils.text_dataset_from_directory(tree, verbose=False, **kwargs)


def test_no_text_files(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="no text files found in directory"):
        gn.utils.text_dataset_from_directory(tmp_path, verbose=False)
