"""``gn.utils.split_dataset`` and ``gn.utils.normalize`` (as ``keras.utils``'s) for the
NumPy data graphnet's ``fit`` takes."""
import numbers

import numpy as np


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (as ``keras.utils.normalize``):
    a NumPy array gives a NumPy array (zero norms left as 1; unlike Keras's, any ``axis``,
    0 too, divides along that axis); a graphnet tensor gives
    ``gn.ops.normalize(x, axis, order)``."""
    if isinstance(x, np.ndarray):
        norm = np.atleast_1d(np.linalg.norm(x, order, axis))
        norm[norm == 0] = 1
        return x / np.expand_dims(norm, axis)
    from . import ops
    return ops.normalize(x, axis=axis, order=order)


def _leaves(structure, where="dataset"):
    """The arrays of a nested list / tuple / dict of arrays, in order."""
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in _leaves(structure[key], f"{where}[{key!r}]")]
    if isinstance(structure, (list, tuple)):
        if not structure:
            raise ValueError(f"split_dataset: {where} is an empty {type(structure).__name__}; "
                             "expected arrays of the same length")
        return [leaf for i, item in enumerate(structure)
                for leaf in _leaves(item, f"{where}[{i}]")]
    if isinstance(structure, np.ndarray):
        if structure.ndim == 0:
            raise ValueError(f"split_dataset: {where} is a scalar array; expected arrays "
                             "with a first (sample) axis")
        return [(where, structure)]
    raise TypeError(f"split_dataset: {where} must be a NumPy array, or a list, tuple or dict "
                    f"of them, got {type(structure).__name__}")


def _take(structure, indices):
    if isinstance(structure, dict):
        return {key: _take(value, indices) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(_take(item, indices) for item in structure)
    return structure[indices]


def _is_size(value):
    return value is None or isinstance(value, float) or \
        isinstance(value, numbers.Integral) and not isinstance(value, bool)


def split_sizes(left_size, right_size, total):
    """The (left, right) sample counts, by Keras's rules: a float is a fraction in (0, 1),
    an int a count in (0, total); None is the complement of the other."""
    for name, value in (("left_size", left_size), ("right_size", right_size)):
        if not _is_size(value):
            raise TypeError(f"split_dataset: {name} must be an int, a float or None, got "
                            f"{type(value).__name__}")
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: give at least one of left_size and right_size, "
                         "got both None")
    counts = []
    for name, value in (("left_size", left_size), ("right_size", right_size)):
        if isinstance(value, float):
            if not 0 < value < 1:
                raise ValueError(f"split_dataset: a float {name} must be in (0, 1), got "
                                 f"{name}={value}")
            value = round(value * total)
        elif value is not None and not 0 < value < total:
            raise ValueError(f"split_dataset: an int {name} must be in (0, {total}) for a "
                             f"dataset of {total} samples, got {name}={value}")
        counts.append(value)
    left, right = counts
    if isinstance(left_size, float) and isinstance(right_size, float) and \
            left_size + right_size > 1:
        raise ValueError(f"split_dataset: left_size + right_size must be at most 1, got "
                         f"{left_size} + {right_size}")
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"split_dataset: left_size + right_size is {left} + {right} "
                         f"samples, more than the dataset's {total}")
    for side, count in (("left", left), ("right", right)):
        if count <= 0:
            raise ValueError(f"split_dataset: with a dataset of {total} samples, "
                             f"left_size={left_size} and right_size={right_size}, the {side} "
                             "split would be empty")
    return int(left), int(right)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Splits a dataset into a left and a right part (as ``keras.utils.split_dataset``).

    Args:
        dataset: a NumPy array, or a list, tuple or dict (nested as ``fit`` takes them)
            of arrays with the same number of samples.
        left_size: the left part's fraction (a float in (0, 1)) or number of samples (an
            int); None: what ``right_size`` leaves.
        right_size: likewise for the right part.
        shuffle: shuffle the samples before splitting.
        seed: the seed of the shuffle (None: a fresh one each call).

    Returns:
        ``(left, right)``, each of ``dataset``'s structure: the first ``left_size`` and the
        last ``right_size`` samples (of the shuffled order with ``shuffle``).
    """
    leaves = _leaves(dataset)
    total = len(leaves[0][1])
    for where, array in leaves:
        if len(array) != total:
            raise ValueError(f"split_dataset: the arrays must have the same number of "
                             f"samples: {leaves[0][0]} has {total}, {where} has "
                             f"{len(array)}")
    left, right = split_sizes(left_size, right_size, total)
    order = np.random.default_rng(seed).permutation(total) if shuffle else np.arange(total)
    return _take(dataset, order[:left]), _take(dataset, order[total - right:])


__all__ = ["normalize", "split_dataset", "split_sizes"]
