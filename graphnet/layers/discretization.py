"""Discretization: numbers into bins, given by their boundaries or learned by ``adapt`` from
the data's approximate quantiles (Keras 3's summary of weighted values, merged batch by
batch and compressed to an ``epsilon`` precision)."""
import itertools

import numpy as np

from .. import ops
from ..engine.base_layer import Layer
from .feature_preprocessing import adapt_batches
from .preprocessing.category_encoding import encode_symbolic
from .preprocessing.data_layer import check_choice, check_not_sparse

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


def summarize(values, epsilon):
    """A batch as a summary: its sorted values taken every ``len / (1 / epsilon)`` (at
    least every one), each weighing that stride; row 0 values, row 1 weights."""
    values = np.sort(np.reshape(values, -1))
    step = max(values.size * epsilon, 1)
    taken = values[int(step - 1)::int(step)]
    return np.stack([taken, np.ones_like(taken) * step])


def compress_summary(summary, epsilon):
    """The summary at the ``epsilon`` quantiles of its cumulative weights (unchanged when
    it has fewer than 1 / epsilon values)."""
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_percents = cum_weights / cum_weights[-1]
    values = np.interp(percents, cum_percents, summary[0])
    cum_weights = np.interp(percents, cum_percents, cum_weights)
    weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((values, weights)).astype("float32")


def merge_summaries(first, second, epsilon):
    merged = np.concatenate((first, second), axis=1)
    return compress_summary(np.take(merged, np.argsort(merged[0]), axis=1), epsilon)


class Discretization(Layer):
    """Buckets numbers by bin boundaries: bin i holds ``boundaries[i - 1] <= x <
    boundaries[i]`` (``keras.layers.Discretization``).

    Args:
        bin_boundaries: the increasing boundaries (n boundaries make n + 1 bins); or None
            with ``num_bins``, to learn them with ``adapt``.
        num_bins: the number of bins ``adapt`` makes (its num_bins - 1 quantiles).
        epsilon: the precision of adapt's quantiles (its summaries keep about
            1 / epsilon values).
        output_mode: "int" (the bin index, int32), "one_hot", "multi_hot" or "count" (over
            the bins, float).
        sparse: must be False (sparse outputs need TensorFlow).

    Input shape: any numbers (rank 1 or 2 for "multi_hot" and "count").

    Output shape: "int": the input's; "one_hot": ``input.shape + (bins,)`` (a last axis of
    1 replaced); "multi_hot" / "count": ``input.shape[:-1] + (bins,)``.

    The boundaries are constants of the graph the layer is called in, so adapt it before
    calling it on a model's inputs.
    """

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
                 sparse=False, **kwargs):
        super().__init__(**kwargs)
        what = f"Discretization '{self.name}'"
        check_not_sparse(what, sparse)
        self.output_mode = check_choice(what, "output_mode", output_mode, OUTPUT_MODES)
        if num_bins is not None and (isinstance(num_bins, bool) or
                                     not isinstance(num_bins, (int, np.integer)) or
                                     num_bins < 0):
            raise ValueError(f"{what}: `num_bins` must be an integer >= 0, got "
                             f"num_bins={num_bins!r}")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(f"{what}: set only one of `num_bins` and `bin_boundaries`, got "
                             f"num_bins={num_bins} and bin_boundaries={bin_boundaries}")
        if num_bins is None and bin_boundaries is None:
            raise ValueError(f"{what}: set either `num_bins` or `bin_boundaries`")
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or \
                not 0 < epsilon <= 1:
            raise ValueError(f"{what}: `epsilon` must be a number in (0, 1], got "
                             f"epsilon={epsilon!r}")
        self.bin_boundaries = None if bin_boundaries is None else \
            self._checked_boundaries(bin_boundaries)
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon = float(epsilon)
        self.sparse = False
        self._reset_summary()

    def _what(self):
        return f"Discretization '{self.name}'"

    def _checked_boundaries(self, boundaries):
        array = np.asarray(boundaries, dtype="float64")
        if array.ndim != 1 or np.any(np.diff(array) < 0):
            raise ValueError(f"{self._what()}: `bin_boundaries` must be a list of increasing "
                             f"numbers, got bin_boundaries={boundaries!r}")
        return [float(b) for b in array]

    # -- adapt ---------------------------------------------------------------------------
    def _reset_summary(self):
        self.summary = np.array([[], []], dtype="float32")

    def adapt(self, data, steps=None):
        """Learn ``num_bins`` bins of about equal counts from ``data`` (an array, a
        gn.utils.PyDataset or an iterable of batches; ``steps``: at most that many)."""
        if self.num_bins is None:
            raise ValueError(f"{self._what()}: cannot adapt a layer given `bin_boundaries`; "
                             "construct it with `num_bins` instead")
        if any(t.history is not None for call in self._calls for t in call.inputs):
            raise ValueError(f"{self._what()}: adapt() after the layer was called on a "
                             "model's tensors: that model holds the bin boundaries it was "
                             "built with; adapt the layer before building the model")
        batches = adapt_batches(self._what(), data, "float32")
        if steps is not None:
            batches = itertools.islice(batches, steps)
        self._reset_summary()
        for batch in batches:
            self.update_state(batch)
        self.finalize_state()

    def update_state(self, data):
        summary = summarize(np.asarray(data, dtype="float32"), self.epsilon)
        self.summary = merge_summaries(summary, self.summary, self.epsilon)

    def finalize_state(self):
        if self.summary.shape[1] == 0:
            raise ValueError(f"{self._what()}: adapt() got no data")
        self.bin_boundaries = compress_summary(self.summary, 1.0 / self.num_bins)[0, :-1] \
            .tolist()

    # -- the layer -------------------------------------------------------------------------
    def _depth(self):
        return len(self.bin_boundaries) + 1 if self.bin_boundaries is not None \
            else self.num_bins

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(f"{self._what()}: pass `bin_boundaries` or call adapt() before "
                             "using the layer")
        x = ops.cast(inputs, "float32") if inputs.dtype != "float32" else inputs
        ids = ops.digitize(x, np.asarray(self.bin_boundaries, "float32"))
        if self.output_mode == "int":
            return ids
        return encode_symbolic(ids, self.output_mode, self._depth(), self.dtype, self._what())

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        depth = self._depth()
        if self.output_mode == "one_hot":
            if len(input_shape) > 1 and input_shape[-1] == 1:
                return input_shape[:-1] + (depth,)
            return input_shape + (depth,)
        return input_shape[:-1] + (depth,) if len(input_shape) >= 2 else (depth,)

    def get_config(self):
        config = super().get_config()
        config.update({"bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                       "epsilon": self.epsilon, "output_mode": self.output_mode,
                       "sparse": self.sparse})
        return config

    @classmethod
    def from_config(cls, config):
        """An adapted layer's config holds both its num_bins and its boundaries."""
        config = dict(config)
        boundaries = config.pop("bin_boundaries", None)
        if config.get("num_bins") is None:
            return cls(bin_boundaries=boundaries, **config)
        layer = cls(**config)
        if boundaries is not None:
            layer.bin_boundaries = layer._checked_boundaries(boundaries)
        return layer
