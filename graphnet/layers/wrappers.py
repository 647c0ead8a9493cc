"""Layer wrappers: Wrapper (a layer holding another) and TimeDistributed."""
import inspect

from ..engine.base_layer import Layer
from ..engine.serialize import deserialize_layer, serialize_layer
from ..graph.node import Node
from ..ops.api import _wrap, as_node, reshape_dims


class Wrapper(Layer):
    """A layer that wraps another: ``layer`` is tracked (its weights are the wrapper's)
    and serialized inside the wrapper's config."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"{type(self).__name__}: `layer` must be a gn.layers.Layer "
                             f"instance, got {type(layer).__name__} {layer!r}")
        super().__init__(**kwargs)
        self.layer = layer

    def get_config(self):
        config = super().get_config()
        config["layer"] = serialize_layer(self.layer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"], custom_objects)
        return super().from_config(config)


def _batch_statistics_layers(layer):
    """The BatchNormalization layers in ``layer`` (itself or nested)."""
    from .normalization import BatchNormalization
    found = [layer] if isinstance(layer, BatchNormalization) else []
    for sub in layer._tracked_layers():
        found += _batch_statistics_layers(sub)
    return found


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every temporal slice of the input (axis 1), with the same
    weights for every time step.

    The wrapped layer runs once over the ``batch * time`` slices (a Dense becomes one
    large product, not ``time`` small ones), which for any layer whose samples do not
    interact is what Keras's loop over the time steps computes. BatchNormalization is
    the exception (Keras normalizes each time step over its own batch): it is refused.

    Args:
        layer: a gn.layers.Layer instance.

    Call arguments:
        training: passed to the wrapped layer when its call takes it.
        mask: ``(batch, time, ...)``; passed on (as ``(batch * time, ...)``) when the
            wrapped layer's call takes a mask; the output keeps the input's mask.

    Input shape:
        ``(batch, time, ...)``, rank 3 or more; ``time`` may be unknown.

    Output shape:
        ``(batch, time) + layer's output shape without its batch axis``.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)
        self.supports_masking = True
        refused = _batch_statistics_layers(layer)
        if refused:
            raise ValueError(
                f"TimeDistributed '{self.name}': cannot wrap BatchNormalization "
                f"('{refused[0].name}'): Keras normalizes each time step over its own "
                "batch, and graphnet runs the wrapped layer over batch * time samples at "
                "once; apply BatchNormalization to the (batch, time, ...) tensor instead")

    def _child_input_shape(self, input_shape):
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ValueError(f"TimeDistributed '{self.name}': the input must have at least 3 "
                             f"dimensions (batch, time, ...), got input shape {input_shape}")
        return (None,) + tuple(input_shape[2:])

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(self._child_input_shape(tuple(input_shape)))
            self.layer.built = True
        self.built = True

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child_input_shape(tuple(input_shape)))
        return (input_shape[0], input_shape[1]) + tuple(child[1:])

    def call(self, inputs, training=None, mask=None):
        self._child_input_shape(tuple(inputs.shape))
        params = inspect.signature(self.layer.call).parameters
        kwargs = {"training": training} if "training" in params else {}
        if mask is not None and "mask" in params:
            kwargs["mask"] = _merge_batch_and_time(mask)
        outputs = self.layer(_merge_batch_and_time(inputs), **kwargs)
        return _wrap(Node("RESHAPE_LIKE", (as_node(outputs), as_node(inputs)),
                          {"lead": 2, "skip": 1}))

    def compute_mask(self, inputs, mask=None):
        return mask


def _merge_batch_and_time(x):
    """(batch, time, ...) as (batch * time, ...)."""
    return reshape_dims(x, [-1] + [("in", k) for k in range(2, x.ndim)])
