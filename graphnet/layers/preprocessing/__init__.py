"""Keras 3's text and categorical preprocessing layers, run on data in numpy (strings
cannot enter a compiled plan); CategoryEncoding also runs inside a model."""
from .category_encoding import CategoryEncoding  # noqa: F401
from .hashing import Hashing  # noqa: F401
from .index_lookup import IndexLookup  # noqa: F401
from .lookups import IntegerLookup, StringLookup  # noqa: F401
from .text_vectorization import TextVectorization  # noqa: F401
