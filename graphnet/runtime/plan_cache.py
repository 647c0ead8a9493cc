"""A bounded cache of compiled plans (Executables), least recently used dropped first.

Plans are specialized per input shape, so a caller feeding many batch sizes would
otherwise keep one plan (and its arenas) per size for the life of the process.
"""
import threading
from collections import OrderedDict

DEFAULT_MAX_PLANS = 32


def check_max_plans(value, what="max_cached_plans"):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be an integer >= 0 (0: cache none), got {value!r}")
    return value


class PlanCache:
    """Executables by key; at most ``max_size`` are kept (0: none). Safe to use from
    several threads: a hit only reorders, under the GIL; inserts take a lock."""

    def __init__(self, max_size=DEFAULT_MAX_PLANS):
        self._max = check_max_plans(max_size)
        self._items = OrderedDict()
        self._lock = threading.Lock()

    @property
    def max_size(self):
        return self._max

    @max_size.setter
    def max_size(self, value):
        self._max = check_max_plans(value)
        with self._lock:
            self._shrink()

    def get(self, key):
        item = self._items.get(key)
        if item is not None:
            try:
                self._items.move_to_end(key)
            except KeyError:      # dropped by another thread meanwhile: still usable
                pass
        return item

    def put(self, key, item):
        with self._lock:
            if self._max:
                self._items[key] = item
                self._items.move_to_end(key)
                self._shrink()
        return item

    def _shrink(self):
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def clear(self):
        with self._lock:
            self._items.clear()

    def keys(self):
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._items)

    def __contains__(self, key):
        return key in self._items


class CachesPlans:
    """``max_cached_plans`` (settable) and ``clear_cache()`` of a class whose ``_cache`` is
    a PlanCache."""

    @property
    def max_cached_plans(self):
        return self._cache.max_size

    @max_cached_plans.setter
    def max_cached_plans(self, value):
        self._cache.max_size = value

    def clear_cache(self):
        """Drop every cached plan (each is made again on its next use)."""
        self._cache.clear()
