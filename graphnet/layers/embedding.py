"""The Embedding layer: rows of a trainable table by integer index."""
import warnings

import numpy as np

from .. import constraints, initializers, ops, regularizers
from ..engine.base_layer import Layer


def _positive_int(layer, name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"Embedding '{layer}': `{name}` must be a positive integer, got "
                         f"{name}={value!r} (of type {type(value).__name__})")
    return int(value)


class Embedding(Layer):
    """Turns non-negative integer indices into dense vectors: ``embeddings[inputs]``.

    Args:
        input_dim: the vocabulary's size (largest index + 1).
        output_dim: the size of each vector.
        embeddings_initializer: the table's initializer ("uniform": RandomUniform in
            [-0.05, 0.05]).
        embeddings_regularizer, activity_regularizer: regularizers.
        embeddings_constraint: constraint applied after updates.
        mask_zero: index 0 is padding: the layer's output mask is ``inputs != 0`` (index 0
            then cannot be a word: ``input_dim`` is the vocabulary's size + 1).
        weights: the initial table, of shape ``(input_dim, output_dim)``.

    Input shape:
        ``(batch_size, ...)`` integer indices (other dtypes are cast to int32, as Keras
        does); an index outside ``[-input_dim, input_dim)`` stops the run with an
        IndexError (a negative one counts from the end, as Keras's ``take``).

    Output shape:
        ``input_shape + (output_dim,)``.

    Weights: ``embeddings`` of shape ``(input_dim, output_dim)``. The lookup and its
    gradient (a deterministic scatter-add, each thread owning rows of the table) are C
    kernels (csrc/gather.c).
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, lora_alpha=None, quantization_config=None,
                 **kwargs):
        if kwargs.pop("input_length", None) is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.",
                          stacklevel=2)
        activity_regularizer = regularizers.get(kwargs.pop("activity_regularizer", None))
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.input_dim = _positive_int(self.name, "input_dim", input_dim)
        self.output_dim = _positive_int(self.name, "output_dim", output_dim)
        for option, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha),
                              ("quantization_config", quantization_config)):
            if value is not None:
                raise ValueError(f"Embedding '{self.name}': {option} is not supported, got "
                                 f"{option}={value!r}")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        if weights is not None:
            self.build()
            self.set_weights(weights if isinstance(weights, list) and len(weights) == 1
                             else [weights])

    def build(self, input_shape=None):
        if self.built:
            return
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim),
                                          name="embeddings",
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def call(self, inputs):
        if inputs.dtype not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        return ops.take(self.embeddings, inputs, axis=0)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim, "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero})
        return config
