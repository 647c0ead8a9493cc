"""Fashion-MNIST, as ``keras.datasets.fashion_mnist``: 60,000 training and 10,000 test
28 x 28 grayscale images of 10 kinds of clothing (0 T-shirt/top, 1 Trouser, 2 Pullover,
3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot).

Keras's four gzipped IDX files are downloaded on the first call from Keras's storage
folder into ``$GRAPHNET_HOME/datasets/fashion-mnist/`` (``~/.graphnet/...``), Keras's
``~/.keras/datasets/fashion-mnist/``, and checked against Zalando's published MD5 sums
(which Keras does not check).
"""
from . import keras_files, mnist

TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"

# github.com/zalandoresearch/fashion-mnist, README
MD5 = {TRAIN_IMAGES: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
       TRAIN_LABELS: "25c81989df183df01b3e8a0aad5dffbe",
       TEST_IMAGES: "bef4ecab320f06d8554ea6380940ec79",
       TEST_LABELS: "bb300cfdad3c16e7a12a480ee83cd310"}

CACHE_SUBDIR = "datasets/fashion-mnist"

LABEL_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")


def _fetch(name, origin):
    return keras_files.fetch("fashion-mnist", name, keras_files.KERAS_ORIGIN, MD5[name],
                             origin, cache_subdir=CACHE_SUBDIR, hash_algorithm="md5")


def load_data(origin=None):
    """Loads the Fashion-MNIST data set (Keras 3's results).

    Args:
        origin: the base URL to download from (default: Keras's, or
            ``GRAPHNET_FASHION_MNIST_ORIGIN``); a local directory works too.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape ``(n, 28, 28)``
        and uint8 labels 0-9 of shape ``(n,)`` (n = 60,000 and 10,000).
    """
    train = mnist.load_pair(_fetch(TRAIN_IMAGES, origin), _fetch(TRAIN_LABELS, origin))
    test = mnist.load_pair(_fetch(TEST_IMAGES, origin), _fetch(TEST_LABELS, origin))
    return train, test
