"""Sequential: a plain stack of layers, each with one input and one output."""
from .. import backend
from .data_adapters import source_kind
from .input_layer import Input, InputLayer
from .model import Model


class Sequential(Model):
    """``gn.Sequential([layer, ...])``: layers applied one after the other.

    The input shape comes from a leading ``gn.Input``/``InputLayer``, from the first
    layer's ``input_shape`` argument, or from ``build(input_shape)``; until then the
    model is not built.
    """

    def __init__(self, layers=None, name=None, trainable=True):
        # Functional's graph is made once the input shape is known (_rebuild).
        from .base_layer import Layer
        Layer.__init__(self, name=name or backend.unique_name("sequential"),
                       trainable=trainable)
        self._predict_fn = None
        self._stack = []
        self._input_layer = None
        self._layers = []
        self.inputs, self.outputs = [], []
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._rebuild()

    def add(self, layer, rebuild=True):
        """Append a layer (or a gn.Input tensor, which sets the input shape)."""
        from .base_layer import Layer
        if hasattr(layer, "history") and layer.history is not None and isinstance(
                layer.history[0].layer, InputLayer):
            layer = layer.history[0].layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a layer, got {type(layer).__name__}: "
                            f"{layer!r}")
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError(f"Sequential '{self.name}': an InputLayer can only be the "
                                 "first layer")
            self._input_layer = layer
        else:
            if any(existing is layer for existing in self._stack):
                raise ValueError(f"Sequential '{self.name}': layer '{layer.name}' is already "
                                 "in the model")
            self._stack.append(layer)
        if rebuild:
            self._rebuild()

    def pop(self, rebuild=True):
        """Remove the last layer."""
        if not self._stack:
            raise TypeError(f"Sequential '{self.name}': there are no layers to pop")
        layer = self._stack.pop()
        if rebuild:
            self._rebuild()
        return layer

    def _known_input_shape(self):
        if self._input_layer is not None:
            return self._input_layer
        if self._stack and self._stack[0]._batch_input_shape is not None:
            first = self._stack[0]
            self._input_layer = InputLayer(batch_shape=first._batch_input_shape,
                                           dtype=first.dtype)
            return self._input_layer
        return None

    def _rebuild(self):
        self._graph_changed()
        input_layer = self._known_input_shape()
        if input_layer is None or not self._stack:
            self.built = False
            self._layers = list(self._stack)
            self.inputs, self.outputs = ([input_layer.output] if input_layer else []), []
            return
        x = input_layer.output
        for layer in self._stack:
            try:
                x = layer(x)
            except TypeError as exc:
                raise ValueError(f"Sequential '{self.name}': layer '{layer.name}' must take "
                                 f"a single input and give a single output: {exc}") from None
            if isinstance(x, (list, tuple)):
                raise ValueError(f"Sequential '{self.name}': layer '{layer.name}' returned "
                                 f"{len(x)} outputs; Sequential layers have one output")
        self._init_graph(input_layer.output, x)

    def build(self, input_shape=None):
        """Fix the input shape (batch included) and create every layer's weights."""
        if input_shape is None:
            if self._known_input_shape() is None:
                raise ValueError(f"Sequential '{self.name}': build() needs an input_shape")
        else:
            self._input_layer = InputLayer(batch_shape=tuple(input_shape))
        self._rebuild()

    @property
    def layers(self):
        # Keras lists the layers without the InputLayer
        return list(self._stack)

    def _tracked_layers(self):
        return list(self._stack)

    def _ensure_built(self, x):
        if not self.built:
            import numpy as np
            shape = (None,) + tuple(np.shape(x)[1:])
            self._input_layer = InputLayer(batch_shape=shape, dtype="float32")
            self._rebuild()

    def predict(self, x, *args, **kwargs):
        if source_kind(x) is None:  # a data source builds the model from its first batch
            self._ensure_built(x)
        return super().predict(x, *args, **kwargs)

    def predict_on_batch(self, x, *args, **kwargs):
        self._ensure_built(x)
        return super().predict_on_batch(x, *args, **kwargs)

    def get_config(self):
        from .serialize import sequential_config
        return sequential_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .serialize import sequential_from_config
        return sequential_from_config(cls, config, custom_objects)


__all__ = ["Sequential", "Input"]
