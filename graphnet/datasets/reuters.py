"""The Reuters newswire topic-classification data set, as ``keras.datasets.reuters``:
11,228 newswires as sequences of word indexes, labelled with one of 46 topics.

Keras's files (``reuters.npz``, ``reuters_word_index.json``) are read from ``path`` when it
is a file, else from the cache, else downloaded from Keras's storage folder and checked
against Keras's checksums (see ``graphnet.datasets.word_sequences``).
"""
import numpy as np

from . import word_sequences as ws

DATA_FILE = "reuters.npz"
DATA_SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_FILE = "reuters_word_index.json"
WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"

LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead")


def load_data(path=DATA_FILE, num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3, origin=None):
    """Loads the Reuters newswire data set (Keras 3's arguments and results).

    Args:
        path: the ``.npz`` file (Keras's layout: ``x``, ``y``), or its name in the cache.
        num_words, skip_top, maxlen, seed, start_char, oov_char, index_from: as in
            ``gn.datasets.imdb.load_data``.
        test_split: the fraction of the (shuffled) newswires held out as the test set.
        origin: the base URL to download from (default: Keras's, or
            ``GRAPHNET_REUTERS_ORIGIN``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of lists of word indexes,
        and the topic arrays.
    """
    ws.check_arguments(num_words, skip_top, maxlen)
    if not 0 <= test_split <= 1:
        raise ValueError(f"`test_split` must be in [0, 1], got test_split={test_split!r}")
    arrays = ws.load_npz(ws.locate("reuters", path, DATA_FILE, DATA_SHA256, "sha256",
                                   origin), ("x", "y"))
    xs, labels = ws.shuffled(np.random.RandomState(seed), arrays["x"], arrays["y"])
    xs = ws.offset_words(xs, start_char, index_from)
    if maxlen:
        xs, labels = ws.remove_long(maxlen, xs, labels)
    xs = ws.limit_vocabulary(xs, num_words, skip_top, oov_char)
    split = int(len(xs) * (1 - test_split))
    return ((np.array(xs[:split], dtype="object"), np.array(labels[:split])),
            (np.array(xs[split:], dtype="object"), np.array(labels[split:])))


def get_word_index(path=WORD_INDEX_FILE, origin=None):
    """The dict mapping each word to its index in the sequences (before ``index_from``)."""
    return ws.load_word_index("reuters", path, WORD_INDEX_FILE, WORD_INDEX_MD5, origin)


def get_label_names():
    """The 46 topic names, indexed by label."""
    return LABEL_NAMES
