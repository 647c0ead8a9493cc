"""The IMDB movie-review sentiment data set, as ``keras.datasets.imdb``: 25,000 training
and 25,000 test reviews as sequences of word indexes (words indexed by frequency, 1 the
most frequent), labels 0 (negative) and 1 (positive).

Keras's files (``imdb.npz``, ``imdb_word_index.json``) are read from ``path`` when it is a
file, else from the cache, else downloaded from Keras's storage folder and checked against
Keras's checksums (see ``graphnet.datasets.word_sequences``).
"""
import numpy as np

from . import word_sequences as ws

DATA_FILE = "imdb.npz"
DATA_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_FILE = "imdb_word_index.json"
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"


def load_data(path=DATA_FILE, num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3, origin=None):
    """Loads the IMDB data set (Keras 3's arguments and results).

    Args:
        path: the ``.npz`` file (Keras's layout: ``x_train``, ``y_train``, ``x_test``,
            ``y_test``), or its name in the cache.
        num_words: keep the ``num_words`` most frequent words; the others become
            ``oov_char``.
        skip_top: the most frequent words to skip (they become ``oov_char``).
        maxlen: keep only the sequences shorter than this.
        seed: the seed of the shuffle of each set.
        start_char: the index that starts every sequence (None: none).
        oov_char: the index of the words cut out by ``num_words`` / ``skip_top`` (None:
            they are dropped).
        index_from: the amount added to every word index.
        origin: the base URL to download from (default: Keras's, or
            ``GRAPHNET_IMDB_ORIGIN``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of lists of word indexes,
        and the label arrays.
    """
    ws.check_arguments(num_words, skip_top, maxlen)
    arrays = ws.load_npz(ws.locate("imdb", path, DATA_FILE, DATA_SHA256, "sha256", origin),
                         ("x_train", "y_train", "x_test", "y_test"))
    rng = np.random.RandomState(seed)
    x_train, labels_train = ws.shuffled(rng, arrays["x_train"], arrays["y_train"])
    x_test, labels_test = ws.shuffled(rng, arrays["x_test"], arrays["y_test"])
    x_train = ws.offset_words(x_train, start_char, index_from)
    x_test = ws.offset_words(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = ws.remove_long(maxlen, x_train, labels_train)
        x_test, labels_test = ws.remove_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, "
                             "no sequence was kept. Increase maxlen.")
    xs = ws.limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(labels_train), np.asarray(labels_test)])
    split = len(x_train)
    return ((np.array(xs[:split], dtype="object"), labels[:split]),
            (np.array(xs[split:], dtype="object"), labels[split:]))


def get_word_index(path=WORD_INDEX_FILE, origin=None):
    """The dict mapping each word to its index in the sequences (before ``index_from``)."""
    return ws.load_word_index("imdb", path, WORD_INDEX_FILE, WORD_INDEX_MD5, origin)
