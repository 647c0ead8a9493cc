"""The dataset cache every loader shares: where downloads go, and fetching a file from an
origin URL with its checksum verified before it takes its place in the cache."""
import hashlib
import os
import pathlib
import urllib.parse
import urllib.request

DOWNLOAD_TIMEOUT = 60


class DatasetFileError(ValueError):
    """A dataset file is truncated, corrupted or fails its checksum."""


def graphnet_home():
    """``$GRAPHNET_HOME``, else ``~/.graphnet``: where graphnet's download caches live."""
    return os.environ.get("GRAPHNET_HOME") or os.path.join(os.path.expanduser("~"),
                                                           ".graphnet")


def datasets_home():
    """``$GRAPHNET_HOME/datasets``, else ``~/.graphnet/datasets``."""
    return os.path.join(graphnet_home(), "datasets")


def cache_dir(dataset):
    """Where the files of ``dataset`` ("mnist", "imdb", ...) are downloaded to."""
    return os.path.join(datasets_home(), dataset)


def file_digest(filename, algorithm="md5", chunk=1 << 20):
    """The hex digest of ``filename`` by ``algorithm`` ("md5" or "sha256")."""
    digest = hashlib.new(algorithm)
    with open(filename, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def origin_url(origin):
    """A base URL ending in '/'; a local directory (no scheme) becomes a file:// URL."""
    if "://" not in origin:
        origin = pathlib.Path(origin).resolve().as_uri()
    return origin if origin.endswith("/") else origin + "/"


def fetch(name, origin, directory, checksum, algorithm, what, error=DatasetFileError):
    """Download ``name`` from the base URL ``origin`` into ``directory`` and check its
    ``algorithm`` digest against ``checksum`` (None where the publisher gives none, as
    Keras gives none for some application weights); returns the file's path.

    The file is written beside its final name and moved there only once verified: a
    mismatch deletes it and raises ``error`` naming ``what`` (the download, as the
    message should call it); a failed transfer raises ``OSError``."""
    url = urllib.parse.urljoin(origin_url(origin), name)
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, name)
    partial = target + ".part"
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, \
                open(partial, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
        got = None if checksum is None else file_digest(partial, algorithm)
        if got != checksum:
            raise error(f"{what} {url} failed its checksum: {algorithm.upper()} {got}, "
                        f"expected {checksum}; the file was deleted")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target
