"""What ``image_dataset_from_directory`` and ``text_dataset_from_directory`` share, as
Keras 3's ``dataset_utils``: the files of a directory tree with the labels of their
subdirectories (Keras's order and seeded shuffle), the training / validation split, and
``DirectoryDataset``, the ``PyDataset`` of batches that graphnet's ``fit`` reads; and
``text_dataset_from_directory`` itself."""
import functools
import math
import os

import numpy as np

from .engine.py_dataset import PyDataset

LABEL_MODES = ("int", "categorical", "binary", None)
SUBSETS = ("training", "validation", "both", None)


def check_arguments(what, labels, label_mode, class_names, batch_size, validation_split,
                    subset, shuffle, seed):
    """Keras's checks of the arguments both loaders take, naming ``what``."""
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(f"{what}: `labels` must be 'inferred', None, or a list/tuple of "
                             "integer labels, one per file in the directory's sorted order; "
                             f"got labels={labels!r}")
        if class_names:
            raise ValueError(f"{what}: `class_names` can only be passed with "
                             f'labels="inferred", got labels={labels!r} and '
                             f"class_names={class_names!r}")
    if label_mode not in LABEL_MODES:
        raise ValueError(f'{what}: `label_mode` must be one of "int", "categorical", '
                         f'"binary", or None, got label_mode={label_mode!r}')
    if batch_size is not None and (isinstance(batch_size, bool) or
                                   not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"{what}: `batch_size` must be a positive integer or None, got "
                         f"batch_size={batch_size!r}")
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"{what}: `validation_split` must be between 0 and 1, got "
                         f"validation_split={validation_split!r}")
    if bool(validation_split) != bool(subset):
        raise ValueError(f"{what}: if `subset` is set, `validation_split` must be set, and "
                         f"inversely; got subset={subset!r}, "
                         f"validation_split={validation_split!r}")
    if subset not in SUBSETS:
        raise ValueError(f'{what}: `subset` must be "training", "validation" or "both", got '
                         f"subset={subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError(f"{what}: with `validation_split` and shuffling, pass a `seed` so "
                         "that the training and validation subsets do not overlap")


def _valid_files(directory, follow_links, formats):
    """(root, name) of the files under ``directory`` ending in ``formats``, sorted."""
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links),
                                 key=lambda entry: entry[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                yield root, name


def index_directory(what, directory, labels, formats, class_names=None, shuffle=True,
                    seed=None, follow_links=False, verbose=True):
    """``(file_paths, labels, class_names)`` as Keras indexes a directory: with
    ``labels="inferred"`` one class per subdirectory (sorted; ``class_names`` picks and
    orders them), its files (recursively, sorted) labelled by its index; otherwise every
    file under ``directory``. ``shuffle`` permutes paths and labels by
    ``RandomState(seed)``."""
    if not os.path.isdir(directory):
        raise ValueError(f"{what}: directory {directory!r} does not exist or is not a "
                         "directory")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ValueError(f"{what}: the `class_names` passed do not match the "
                                 f"subdirectories of the directory: expected {subdirs} (or "
                                 f"a subset), got class_names={list(class_names)}")
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            raise ValueError(f"{what}: `class_names` cannot be given with labels={labels!r}")
    file_names, inferred = [], []
    for index, subdir in enumerate(subdirs):
        base = os.path.join(directory, subdir)
        for root, name in _valid_files(base, follow_links, formats):
            file_names.append(os.path.join(os.path.basename(base),
                                           os.path.relpath(os.path.join(root, name), base)))
            inferred.append(index)
    if labels == "inferred":
        labels, names = np.array(inferred, dtype="int32"), subdirs
    elif labels is None:
        names = None
    else:
        if len(labels) != len(file_names):
            raise ValueError(f"{what}: `labels` has {len(labels)} entries but the directory "
                             f"{directory} holds {len(file_names)} files")
        labels, names = np.asarray(labels), [str(label) for label in sorted(set(labels))]
    if verbose:
        print(f"Found {len(file_names)} files." if labels is None else
              f"Found {len(file_names)} files belonging to {len(names)} classes.")
    paths = [os.path.join(directory, name) for name in file_names]
    if shuffle:
        seed = np.random.randint(1e6) if seed is None else seed
        np.random.RandomState(seed).shuffle(paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return paths, labels, names


def training_or_validation_split(paths, labels, validation_split, subset, verbose=True):
    """The last ``int(validation_split * n)`` files for "validation", the others for
    "training" (Keras's split of the shuffled files)."""
    if not validation_split:
        return paths, labels
    count = int(validation_split * len(paths))
    if subset == "training":
        if verbose:
            print(f"Using {len(paths) - count} files for training.")
        keep = slice(0, len(paths) - count)
    else:
        if verbose:
            print(f"Using {count} files for validation.")
        keep = slice(len(paths) - count, len(paths))
    return paths[keep], None if labels is None else labels[keep]


def encode_labels(labels, label_mode, num_classes):
    """Keras's label tensors: int32 indexes, float32 one-hot rows, or float32 (n, 1)."""
    if label_mode == "binary":
        return labels.astype("float32")[:, None]
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[labels]
    return labels.astype("int32")


class DirectoryDataset(PyDataset):
    """The batches ``(x, y)`` (``x`` alone without labels) of files read by ``load``.

    With ``shuffle`` the order is drawn again from the seed's generator at the end of every
    epoch (Keras reshuffles its tf.data pipeline each epoch); ``class_names`` and
    ``file_paths`` are Keras's attributes.
    """

    def __init__(self, file_paths, labels, class_names, batch_size, shuffle, seed, load):
        super().__init__()
        self.file_paths = list(file_paths)
        self.labels = labels
        self.class_names = class_names
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._load = load
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.file_paths))

    def __len__(self):
        if self.batch_size is None:
            return len(self.file_paths)
        return math.ceil(len(self.file_paths) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"{type(self).__name__}: batch {index} out of range for "
                             f"{len(self)} batches")
        if self.batch_size is None:   # one sample, not a batch
            chosen = self._order[index]
            x = self._load(self.file_paths[chosen])
            return x if self.labels is None else (x, self.labels[chosen])
        chosen = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        x = np.stack([self._load(self.file_paths[i]) for i in chosen])
        return x if self.labels is None else (x, self.labels[chosen])

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.file_paths))


def split_datasets(what, kind, directory, paths, labels, label_mode, names, batch_size,
                   shuffle, seed, validation_split, subset, load, verbose):
    """The ``DirectoryDataset`` of ``subset`` (a list of the training and the unshuffled
    validation dataset for "both") of the indexed files."""
    def dataset(part, shuffled):
        part_paths, part_labels = training_or_validation_split(paths, labels,
                                                               validation_split, part, verbose)
        if not part_paths:
            raise ValueError(f"{what}: no {part + ' ' if part else ''}{kind} found in "
                             f"directory {directory}")
        encoded = None if label_mode is None else \
            encode_labels(part_labels, label_mode, len(names))
        return DirectoryDataset(part_paths, encoded, names, batch_size, shuffled, seed, load)

    if subset == "both":
        return [dataset("training", shuffle), dataset("validation", False)]
    return dataset(subset, shuffle)


def index_and_split(what, kind, directory, labels, label_mode, class_names, batch_size,
                    shuffle, seed, validation_split, subset, follow_links, verbose, formats,
                    load):
    """The checks, indexing and split both loaders share; ``load(path)`` reads one file."""
    check_arguments(what, labels, label_mode, class_names, batch_size, validation_split,
                    subset, shuffle, seed)
    if labels is None or label_mode is None:
        labels = label_mode = None
    seed = np.random.randint(1e6) if seed is None else seed
    paths, found, names = index_directory(what, directory, labels, formats, class_names,
                                          shuffle, seed, follow_links, verbose)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f'{what}: label_mode="binary" needs exactly 2 classes, got '
                         f"class_names={names}")
    return split_datasets(what, kind, directory, paths, found, label_mode, names, batch_size,
                          shuffle, seed, validation_split, subset, load, verbose)


def read_text(path, max_length):
    """A file's text (UTF-8), cut to its first ``max_length`` characters."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return text if max_length is None else text[:max_length]


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None,
                                shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """A dataset of text batches from a directory (as
    ``keras.utils.text_dataset_from_directory``): ``directory/<class>/*.txt``.

    Args:
        max_length: keep at most this many characters of each text (None: all).
        The others: as in ``gn.utils.image_dataset_from_directory``.

    Returns:
        A ``DirectoryDataset`` yielding ``(texts, labels)`` (texts alone without labels),
        the texts a NumPy array of ``str``; a list of two with ``subset="both"``.
    """
    what = "text_dataset_from_directory"
    if max_length is not None and (isinstance(max_length, bool) or
                                   not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"{what}: `max_length` must be a positive integer or None, got "
                         f"max_length={max_length!r}")
    return index_and_split(what, "text files", directory, labels, label_mode, class_names,
                           batch_size, shuffle, seed, validation_split, subset, follow_links,
                           verbose, (".txt",),
                           functools.partial(read_text, max_length=max_length))


__all__ = ["DirectoryDataset", "index_directory", "training_or_validation_split",
           "index_and_split", "text_dataset_from_directory"]
