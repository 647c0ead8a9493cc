"""``graphnet-bench`` / ``python -m graphnet.bench``: microbenchmarks (see __main__)."""
from .timing import measure  # noqa: F401
