"""Where the applications' pretrained weights (and the ImageNet class index) are cached:
Keras's ``get_file`` for the arguments the applications pass it, over the download cache
the dataset loaders share (``graphnet.datasets.download``).

Files live in ``$GRAPHNET_HOME/<cache_subdir>`` (``~/.graphnet/models`` by default). A
cached file is used as it is when it matches ``file_hash`` (or when no hash is published,
as for MobileNetV2's weights); otherwise it is downloaded again from ``origin`` (``file://``
URLs work too) and verified before it replaces the cached copy.
"""
import os

from ..datasets import download


def hash_algorithm_of(file_hash):
    """Keras's "auto" rule: a 64-digit hash is SHA-256, any other MD5."""
    return "sha256" if len(file_hash) == 64 else "md5"


def get_file(fname, origin, cache_subdir="models", file_hash=None):
    """The local path of ``fname``: the cached copy, else a verified download from the URL
    ``origin``."""
    directory = os.path.join(download.graphnet_home(), cache_subdir)
    target = os.path.join(directory, fname)
    algorithm = hash_algorithm_of(file_hash) if file_hash is not None else None
    if os.path.isfile(target) and (
            file_hash is None or download.file_digest(target, algorithm) == file_hash):
        return target
    base, _, url_name = origin.rpartition("/")
    if not base or not url_name:
        raise ValueError(f"get_file: `origin` must be a URL naming a file, got {origin!r}")
    try:
        fetched = download.fetch(url_name, base + "/", directory,
                                 file_hash, algorithm, f"the download of {fname}")
    except OSError as e:
        raise FileNotFoundError(f"{fname} is not in the cache {directory} and its download "
                                f"from {origin} failed: {e}") from e
    if fetched != target:
        os.replace(fetched, target)
    return target
