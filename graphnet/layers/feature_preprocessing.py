"""Feature preprocessing layers: Rescaling and Normalization (with ``adapt``)."""
import itertools
import math

import numpy as np

from .. import ops
from ..config import epsilon, image_data_format
from ..engine.base_layer import Layer


class Rescaling(Layer):
    """``inputs * scale + offset``, in training and inference alike; integer inputs come
    out as floats.

    Args:
        scale: a number, or one per channel (a list or array; with channels_first images
            it is applied along axis 1, as Keras does).
        offset: a number, or one per channel.
    """

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("scale", scale), ("offset", offset)):
            try:
                np.asarray(value, dtype="float64")
            except (TypeError, ValueError):
                raise ValueError(f"Rescaling '{self.name}': `{name}` must be a number or an "
                                 f"array of numbers, got {name}={value!r}") from None
        self.scale, self.offset = scale, offset

    def _constant(self, value):
        array = np.asarray(value, dtype=self.dtype)
        if array.ndim and image_data_format() == "channels_first":
            array = array.reshape(array.shape + (1,) * (3 - array.ndim))
        return array

    def call(self, inputs):
        x = ops.cast(inputs, self.dtype) if inputs.dtype != self.dtype else inputs
        return x * self._constant(self.scale) + self._constant(self.offset)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": _plain(self.scale), "offset": _plain(self.offset)})
        return config


def _plain(value):
    """A number or nested list (JSON) for a scale or offset."""
    array = np.asarray(value)
    return array.tolist() if array.ndim else float(array)


class Normalization(Layer):
    """``(inputs - mean) / sqrt(variance)`` per position of the ``axis`` dims (or the
    inverse, ``mean + inputs * sqrt(variance)``, with ``invert=True``); the square root is
    at least ``gn.config.epsilon()``.

    ``mean`` and ``variance`` are given, or learned by ``adapt(data)`` from arrays, a
    PyDataset or an iterable of batches (Keras's running merge of batch moments). Adapted
    statistics are the layer's (non-trainable) weights ``mean``, ``variance`` and
    ``count``, as in Keras, so they save and load with the model (``count`` stays 0:
    Keras 3 creates it and never writes it, and the weights must load both ways).

    Args:
        axis: the axis or axes to keep (one statistic per position); None: one overall.
        mean, variance: the statistics, broadcastable to the kept axes.
        invert: undo a normalization instead.
    """

    supports_masking = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization '{self.name}': set both `mean` and `variance` "
                             f"or neither, got mean={mean} and variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(f"Normalization '{self.name}': `mean` and `variance` must "
                                 f"have one shape, got {np.shape(mean)} and "
                                 f"{np.shape(variance)}")
            if np.ndim(mean) > len(self.axis):
                raise ValueError(f"Normalization '{self.name}': the rank of `mean` must be at "
                                 f"most the number of axes ({len(self.axis)}), got mean of "
                                 f"shape {np.shape(mean)} for axis {self.axis}")
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        self._build_input_shape = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(f"Normalization '{self.name}': every axis must be in [-{ndim}, "
                             f"{ndim}), got axis={self.axis} for inputs of rank {ndim}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        for d in self._keep:
            if input_shape[d] is None:
                raise ValueError(f"Normalization '{self.name}': the kept axes must have a "
                                 f"known size, got axis={self.axis} and input shape "
                                 f"{tuple(input_shape)}")
        self._build_input_shape = tuple(input_shape)
        self._reduce = tuple(d for d in range(ndim) if d not in self._keep)
        self._broadcast = [input_shape[d] if d in self._keep else 1 for d in range(ndim)]
        stats_shape = tuple(input_shape[d] for d in self._keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(shape=stats_shape, name="mean",
                                              initializer="zeros", trainable=False)
            self.adapt_variance = self.add_weight(shape=stats_shape, name="variance",
                                                  initializer="ones", trainable=False)
            self.count = self.add_weight(shape=(), name="count", dtype="int64",
                                         initializer="zeros", trainable=False)
        self.built = True

    def _given(self, value):
        """A given mean or variance, broadcast to the kept axes (Keras's alignment of its
        trailing dims with the last kept axes)."""
        value = np.asarray(value, dtype=self.dtype)
        shape = [1] * len(self._broadcast)
        for i in range(1, value.ndim + 1):
            shape[self._keep[-i]] = value.shape[-i]
        return np.broadcast_to(value.reshape(shape), self._broadcast).copy()

    def _statistics(self):
        if self.input_mean is not None:
            return self._given(self.input_mean), self._given(self.input_variance)
        return (ops.reshape(self.adapt_mean, self._broadcast),
                ops.reshape(self.adapt_variance, self._broadcast))

    def call(self, inputs):
        x = ops.cast(inputs, self.dtype) if inputs.dtype != self.dtype else inputs
        mean, variance = self._statistics()
        std = ops.maximum(ops.sqrt(variance), epsilon())
        return mean + x * std if self.invert else (x - mean) / std

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    # -- adapt ---------------------------------------------------------------------------
    def adapt(self, data):
        """Learn ``mean`` and ``variance`` from ``data``: an array, a gn.utils.PyDataset, or
        an iterable of batches (arrays, or tuples whose first element is the inputs)."""
        batches = self._batches(data)
        first = next(batches, None)
        if first is None:
            raise ValueError(f"Normalization '{self.name}': adapt() got no data (an empty "
                             "iterable)")
        if not self.built:
            self.build(first.shape)
        elif self.input_mean is not None:
            raise ValueError(f"Normalization '{self.name}': adapt() cannot change a `mean` "
                             "and `variance` given to the constructor")
        mean = var = None
        for batch in itertools.chain([first], batches):
            self._check_batch(batch)
            count = math.prod(batch.shape[d] for d in self._reduce) if self._reduce else 1
            b_mean = batch.mean(axis=self._reduce, dtype="float64")
            b_var = batch.var(axis=self._reduce, dtype="float64")
            if mean is None:
                mean, var, total = b_mean, b_var, count
                continue
            total += count
            w = count / total
            new_mean = mean * (1 - w) + b_mean * w
            var = (var + (mean - new_mean) ** 2) * (1 - w) + (b_var + (b_mean - new_mean) ** 2) * w
            mean = new_mean
        self.adapt_mean.assign(mean.astype(self.dtype))
        self.adapt_variance.assign(var.astype(self.dtype))

    def _batches(self, data):
        return adapt_batches(f"Normalization '{self.name}'", data, self.dtype)

    def _check_batch(self, batch):
        expected = self._build_input_shape
        if batch.ndim != len(expected) or any(batch.shape[d] != expected[d]
                                              for d in self._keep):
            raise ValueError(f"Normalization '{self.name}': adapt() got a batch of shape "
                             f"{batch.shape}, not compatible with the layer's input shape "
                             f"{expected} on axis {self.axis}")

    def get_config(self):
        config = super().get_config()
        config.update({"axis": list(self.axis), "invert": self.invert,
                       "mean": None if self.input_mean is None else
                       np.asarray(self.input_mean).tolist(),
                       "variance": None if self.input_variance is None else
                       np.asarray(self.input_variance).tolist()})
        return config


def adapt_batches(what, data, dtype):
    """The batches ``adapt(data)`` reads, as arrays of ``dtype``: one array, the batches of
    a gn.utils.PyDataset, or those of an iterable (arrays, or tuples whose first element is
    the inputs)."""
    from ..engine.py_dataset import PyDataset
    if isinstance(data, np.ndarray) or np.isscalar(data):
        return iter([np.asarray(data, dtype=dtype)])
    if isinstance(data, PyDataset):
        dataset = data
        data = (dataset[i] for i in range(dataset.num_batches))
    elif not hasattr(data, "__iter__"):
        raise TypeError(f"{what}: adapt() takes an array, a PyDataset or an iterable of "
                        f"batches, got {type(data).__name__}")
    return (np.asarray(b[0] if isinstance(b, tuple) else b, dtype=dtype) for b in data)
